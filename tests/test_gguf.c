/* test_gguf.c: GGUF models and embedded tokenizers. A test-side writer
 * stores a synthesized llama2.c model as GGUF (f32 or f16); logits must
 * match the original (f32) or the f16-rounded weights exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dtype.h"
#include "../paths/session.h"
#include "../engine/tokenizer.h"
#include "helpers.h"

#define TINY_GGUF SHARED_MODELS "/llama-2-tiny-random.gguf"
#define LLAMA2_TOK SHARED_MODELS "/tokenizer.bin"

static void wstr(FILE *f, const char *s) {
    uint64_t n = strlen(s);
    fwrite(&n, 8, 1, f);
    fwrite(s, 1, n, f);
}

static void kv_u32(FILE *f, const char *k, uint32_t v) {
    uint32_t t = 4;
    wstr(f, k), fwrite(&t, 4, 1, f), fwrite(&v, 4, 1, f);
}

static void kv_f32(FILE *f, const char *k, float v) {
    uint32_t t = 6;
    wstr(f, k), fwrite(&t, 4, 1, f), fwrite(&v, 4, 1, f);
}

static uint16_t to_f16(float x) { /* round to nearest, normal range only (test weights are small) */
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp < 113) return (uint16_t)sign; /* flush tiny values to zero */
    uint32_t h = sign | ((exp - 112) << 10) | (man >> 13);
    if ((man & 0x1fff) > 0x1000 || ((man & 0x1fff) == 0x1000 && (h & 1))) h++;
    return (uint16_t)h;
}

typedef struct { char name[64]; const float *d; int rows, cols; } T;

/* The model's tensors as GGUF architecture `arch` (keys "<arch>.*"), with
 * q/k/v biases and q/k norms when the model has them, as llama.cpp names
 * them. rf (n_rf floats), when given, becomes the 1-D f32 tensor
 * rope_freqs.weight, as llama.cpp's converter writes Llama 3.1; key_len > 0
 * writes attention.key_length. */
static void write_gguf_arch(const char *path, const LumiModel *m, int f16, const float *rf, int n_rf, const char *arch,
                            int key_len) {
    const LumiConfig *c = &m->cfg;
    T t[128];
    int n = 0;
#define ADD(nm, dd, r, cc) (snprintf(t[n].name, 64, "%s", nm), t[n].d = dd, t[n].rows = r, t[n].cols = cc, n++)
    char nm[64];
    ADD("token_embd.weight", m->w.tok_emb.data, c->vocab_size, c->dim);
    for (int l = 0; l < c->n_layers; l++) {
        const LumiLayer *L = &m->w.layers[l];
        snprintf(nm, 64, "blk.%d.attn_norm.weight", l), ADD(nm, L->rms_att.data, c->dim, 0);
        snprintf(nm, 64, "blk.%d.ffn_norm.weight", l), ADD(nm, L->rms_ffn.data, c->dim, 0);
        snprintf(nm, 64, "blk.%d.attn_q.weight", l), ADD(nm, L->wq.data, c->dim, c->dim);
        snprintf(nm, 64, "blk.%d.attn_k.weight", l), ADD(nm, L->wk.data, c->kv_dim, c->dim);
        snprintf(nm, 64, "blk.%d.attn_v.weight", l), ADD(nm, L->wv.data, c->kv_dim, c->dim);
        snprintf(nm, 64, "blk.%d.attn_output.weight", l), ADD(nm, L->wo.data, c->dim, c->dim);
        snprintf(nm, 64, "blk.%d.ffn_gate.weight", l), ADD(nm, L->w1.data, c->hidden_dim, c->dim);
        snprintf(nm, 64, "blk.%d.ffn_down.weight", l), ADD(nm, L->w2.data, c->dim, c->hidden_dim);
        snprintf(nm, 64, "blk.%d.ffn_up.weight", l), ADD(nm, L->w3.data, c->hidden_dim, c->dim);
        if (c->qkv_bias) {
            snprintf(nm, 64, "blk.%d.attn_q.bias", l), ADD(nm, L->bq.data, c->dim, 0);
            snprintf(nm, 64, "blk.%d.attn_k.bias", l), ADD(nm, L->bk.data, c->kv_dim, 0);
            snprintf(nm, 64, "blk.%d.attn_v.bias", l), ADD(nm, L->bv.data, c->kv_dim, 0);
        }
        if (c->qk_norm) {
            snprintf(nm, 64, "blk.%d.attn_q_norm.weight", l), ADD(nm, L->q_norm.data, c->head_size, 0);
            snprintf(nm, 64, "blk.%d.attn_k_norm.weight", l), ADD(nm, L->k_norm.data, c->head_size, 0);
        }
    }
    ADD("output_norm.weight", m->w.rms_final.data, c->dim, 0);
    if (!c->shared_classifier) ADD("output.weight", m->w.cls.data, c->vocab_size, c->dim);
    if (rf) ADD("rope_freqs.weight", rf, n_rf, 0);
#undef ADD
    FILE *f = fopen(path, "wb");
    uint32_t ver = 3;
    uint64_t nt = (uint64_t)n, nkv = 10 + (key_len > 0);
    fwrite("GGUF", 1, 4, f), fwrite(&ver, 4, 1, f), fwrite(&nt, 8, 1, f), fwrite(&nkv, 8, 1, f);
    uint32_t st = 8;
    wstr(f, "general.architecture"), fwrite(&st, 4, 1, f), wstr(f, arch);
    char k[96];
#define KV(key, v) (snprintf(k, sizeof k, "%s.%s", arch, key), kv_u32(f, k, (uint32_t)(v)))
    KV("embedding_length", c->dim);
    KV("feed_forward_length", c->hidden_dim);
    KV("block_count", c->n_layers);
    KV("attention.head_count", c->n_heads);
    KV("attention.head_count_kv", c->n_kv_heads);
    KV("context_length", c->seq_len);
    KV("rope.dimension_count", c->head_size);
    if (key_len > 0) KV("attention.key_length", key_len);
#undef KV
    snprintf(k, sizeof k, "%s.rope.freq_base", arch), kv_f32(f, k, c->rope_theta);
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch), kv_f32(f, k, c->norm_eps);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint32_t nd = t[i].cols ? 2 : 1, type = t[i].cols && f16 ? 1 : 0;
        uint64_t ne[2] = {(uint64_t)(t[i].cols ? t[i].cols : t[i].rows), (uint64_t)t[i].rows};
        wstr(f, t[i].name), fwrite(&nd, 4, 1, f), fwrite(ne, 8, nd, f), fwrite(&type, 4, 1, f), fwrite(&off, 8, 1, f);
        size_t bytes = (size_t)t[i].rows * (t[i].cols ? t[i].cols : 1) * (type ? 2 : 4);
        off += (bytes + 31) / 32 * 32;
    }
    long pos = ftell(f);
    while (pos % 32) fputc(0, f), pos++;
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)t[i].rows * (t[i].cols ? t[i].cols : 1), bytes = 0;
        for (size_t k = 0; k < cnt; k++) {
            if (t[i].cols && f16) {
                uint16_t h = to_f16(t[i].d[k]);
                fwrite(&h, 2, 1, f), bytes += 2;
            } else fwrite(&t[i].d[k], 4, 1, f), bytes += 4;
        }
        while (bytes % 32) fputc(0, f), bytes++;
    }
    fclose(f);
}

static void write_gguf(const char *path, const LumiModel *m, int f16) { write_gguf_arch(path, m, f16, NULL, 0, "llama", 0); }
static void write_gguf_rope(const char *path, const LumiModel *m, const float *rf, int n_rf) {
    write_gguf_arch(path, m, 0, rf, n_rf, "llama", 0);
}

/* A GGUF's rope_freqs (Llama 3.1/3.2 from llama.cpp's converter) divides
 * each pair's frequency, as llama.cpp applies it; logits then differ from
 * the same weights without it past position 0 (where every angle is 0).
 * convert keeps it in GGUF and refuses formats that cannot hold it; a
 * malformed one is refused by name. */
START_TEST(gguf_rope_freqs_divide_frequencies) {
    const char *src = th_synth("rf_src.bin", 64, 96, 2, 4, 2, 80, 32, 0, 11); /* head size 16: 8 pairs */
    LumiModel a, b, plain;
    LumiErr e;
    ck_assert(lumi_model_load(src, &a, &e) == 0);
    const float rf[8] = {1, 1, 1.5f, 2, 4, 8, 8, 8};
    const char *g = th_path("rf.gguf"), *gp = th_path("rf_plain.gguf");
    write_gguf_rope(g, &a, rf, 8);
    write_gguf(gp, &a, 0);
    ck_assert_msg(lumi_model_load(g, &b, &e) == 0, "%s", e.msg);
    ck_assert(lumi_model_load(gp, &plain, &e) == 0);
    ck_assert_int_eq(b.cfg.rope_scaling, LUMI_ROPE_SCALING_FACTORS);
    ck_assert_int_eq(plain.cfg.rope_scaling, LUMI_ROPE_SCALING_NONE);
    for (int i = 0; i < 8; i++) {
        double base = pow(10000.0, -2.0 * i / 16.0);
        ck_assert_msg(fabs(b.rope.freq[i] / (base / rf[i]) - 1) < 1e-12, "pair %d: %.17g", i, b.rope.freq[i]);
        ck_assert(fabs(plain.rope.freq[i] / base - 1) < 1e-12);
    }
    int tok[6] = {1, 5, 9, 13, 40, 63};
    float *x = th_logits(&b, tok, 6), *y = th_logits(&plain, tok, 6);
    ck_assert_msg(memcmp(x, y, 80 * sizeof(float)) == 0, "position 0 rotates by 0 either way");
    ck_assert_msg(th_max_abs(x + 80, y + 80, 5 * 80) > 1e-4, "the divisors changed nothing");
    /* convert: GGUF keeps the divisors (same logits); .lmw and config.json cannot hold them */
    char cmd[2400], *out;
    const char *g2 = th_path("rf_back.gguf");
    snprintf(cmd, sizeof cmd, "./lumi convert %s %s --dtype f32 2>&1", g, g2);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    free(out);
    LumiModel c2;
    ck_assert_msg(lumi_model_load(g2, &c2, &e) == 0, "%s", e.msg);
    ck_assert(c2.rope_factors && memcmp(c2.rope_factors, rf, sizeof rf) == 0);
    float *z = th_logits(&c2, tok, 6);
    ck_assert(memcmp(x, z, 6 * 80 * sizeof(float)) == 0);
    free(z);
    lumi_model_free(&c2);
    snprintf(cmd, sizeof cmd, "./lumi convert %s %s 2>&1", g, th_path("rf.lmw"));
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "rope"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "./lumi convert %s %s --hf 2>&1", g, th_path("rf_hf"));
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "rope_freqs"), "%s", out);
    free(out);
    free(x), free(y);
    lumi_model_free(&b), lumi_model_free(&plain);
    /* malformed: a zero, a NaN, the wrong length */
    float bad[9] = {1, 1, 1, 0, 1, 1, 1, 1, 1};
    const char *gb = th_path("rf_bad.gguf");
    write_gguf_rope(gb, &a, bad, 8);
    ck_assert_int_eq(lumi_model_load(gb, &b, &e), -1);
    ck_assert_msg(strstr(e.msg, "rope_freqs.weight[3]") && strstr(e.msg, gb), "%s", e.msg);
    bad[3] = NAN;
    write_gguf_rope(gb, &a, bad, 8);
    ck_assert_int_eq(lumi_model_load(gb, &b, &e), -1);
    ck_assert_msg(strstr(e.msg, "rope_freqs.weight[3]"), "%s", e.msg);
    bad[3] = 1;
    write_gguf_rope(gb, &a, bad, 9);
    ck_assert_int_eq(lumi_model_load(gb, &b, &e), -1);
    ck_assert_msg(strstr(e.msg, "rope_freqs.weight must be f32 [8]"), "%s", e.msg);
    lumi_model_free(&a);
}
END_TEST

/* GGUF `qwen2` (q/k/v biases) and `qwen3` (q/k norms) hold the same
 * tensors as the Hugging Face layout, rotate-half rows included: loaded
 * from either, a synthesized model gives bitwise the same logits. A
 * key_length other than dim / heads (Qwen3-0.6B/4B) is refused. */
START_TEST(gguf_qwen_matches_hf_layout) {
    const char *kinds[2][3] = {{"qwen2", "--qkv-bias", "q2"}, {"qwen3", "--qk-norm", "q3"}};
    int tok[6] = {1, 5, 9, 13, 40, 63};
    for (int q = 0; q < 2; q++) {
        char dir[600], cmd[1400], gname[64], *out;
        snprintf(dir, sizeof dir, "%s", th_path(kinds[q][2]));
        snprintf(cmd, sizeof cmd,
                 "./lumi synth --dim 64 --hidden 96 --layers 2 --heads 4 --kv-heads 2 --vocab 80 --seq 32 --hf %s "
                 "--rope-theta 1000000 -o %s 2>&1",
                 kinds[q][1], dir);
        ck_assert_msg(th_run(cmd, &out) == 0, "%s", out);
        free(out);
        LumiModel hf, gg;
        LumiErr e;
        ck_assert_msg(lumi_model_load(dir, &hf, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(hf.cfg.qk_norm, q == 1);
        ck_assert_int_eq(hf.cfg.qkv_bias, q == 0);
        snprintf(gname, sizeof gname, "%s.gguf", kinds[q][2]);
        const char *g = th_path(gname);
        write_gguf_arch(g, &hf, 0, NULL, 0, kinds[q][0], q == 1 ? hf.cfg.head_size : 0);
        ck_assert_msg(lumi_model_load(g, &gg, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(gg.cfg.qk_norm, q == 1);
        ck_assert_int_eq(gg.cfg.qkv_bias, q == 0);
        ck_assert_int_eq(gg.cfg.rope_style, LUMI_ROPE_HALF);
        float *x = th_logits(&hf, tok, 6), *y = th_logits(&gg, tok, 6);
        ck_assert_msg(memcmp(x, y, 6 * 80 * sizeof(float)) == 0, "%s: max |diff| %g", kinds[q][0],
                      th_max_abs(x, y, 6 * 80));
        free(x), free(y);
        lumi_model_free(&gg);
        if (q == 1) { /* head_dim 32 on 4 heads of a 64-wide model */
            write_gguf_arch(g, &hf, 0, NULL, 0, "qwen3", 32);
            ck_assert_int_eq(lumi_model_load(g, &gg, &e), -1);
            ck_assert_msg(strstr(e.msg, "key_length 32") && strstr(e.msg, g), "%s", e.msg);
        }
        lumi_model_free(&hf);
    }
}
END_TEST

START_TEST(gguf_f32_matches_llama2c) {
    const char *v0 = th_synth("g_src.bin", 32, 48, 2, 4, 2, 64, 16, 1, 31);
    LumiModel a, b;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &a, &e) == 0);
    const char *g = th_path("g32.gguf");
    write_gguf(g, &a, 0);
    ck_assert_msg(lumi_model_load(g, &b, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(b.format, "gguf");
    ck_assert(!b.cfg.shared_classifier);
    ck_assert_int_eq(b.cfg.n_kv_heads, 2);
    int tok[10] = {1, 5, 9, 13, 40, 63, 2, 0, 7, 7};
    float *x = th_logits(&a, tok, 10), *y = th_logits(&b, tok, 10);
    ck_assert(memcmp(x, y, 10 * 64 * sizeof(float)) == 0);
    free(x), free(y);
    lumi_model_free(&b);
    /* f16: the loaded weights are exactly the f16-rounded originals */
    const char *g16 = th_path("g16.gguf");
    write_gguf(g16, &a, 1);
    ck_assert_msg(lumi_model_load(g16, &b, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(b.file_dtype, LUMI_F16);
    ck_assert_int_eq(b.w.layers[1].w3.type, LUMI_F16); /* kept in place, in its dtype */
    float got[48 * 32];
    lumi_widen(LUMI_F16, b.w.layers[1].w3.data, 48 * 32, got);
    const float *src = a.w.layers[1].w3.data;
    for (int i = 0; i < 48 * 32; i++) ck_assert(got[i] == lumi_f16_to_f32(to_f16(src[i])));
    lumi_model_free(&b);
    /* truncated: the last tensor now lies outside the file */
    char cmd[1200];
    const char *tr = th_path("gtrunc.gguf");
    snprintf(cmd, sizeof cmd, "head -c -40 %s > %s", g, tr);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    ck_assert_int_eq(lumi_model_load(tr, &b, &e), -1);
    ck_assert_msg(strstr(e.msg, "outside the file") && strstr(e.msg, tr), "%s", e.msg);
    snprintf(cmd, sizeof cmd, "head -c 100 %s > %s", g, tr);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    ck_assert_int_eq(lumi_model_load(tr, &b, &e), -1);
    ck_assert_msg(strstr(e.msg, "malformed") || strstr(e.msg, "truncated") || strstr(e.msg, "more than the file"), "%s", e.msg);
    lumi_model_free(&a);
}
END_TEST

START_TEST(q8_0_widening) {
    unsigned char blk[34];
    uint16_t scale = to_f16(0.5f);
    memcpy(blk, &scale, 2);
    for (int i = 0; i < 32; i++) blk[2 + i] = (unsigned char)(int8_t)(i - 16);
    float out[32];
    lumi_widen(LUMI_Q8_0, blk, 32, out);
    for (int i = 0; i < 32; i++) ck_assert(out[i] == 0.5f * (float)(i - 16));
}
END_TEST

START_TEST(shared_tiny_gguf) {
    SKIP_UNLESS_FILE(TINY_GGUF);
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(TINY_GGUF, &m, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(m.cfg.dim, 8);
    ck_assert_int_eq(m.cfg.vocab_size, 32000);
    ck_assert_int_eq(m.cfg.seq_len, 4096);
    ck_assert_int_eq(m.file_dtype, LUMI_F16);
    ck_assert(!m.cfg.shared_classifier);
    int tok[4] = {1, 306, 4658, 278};
    float *x = th_logits(&m, tok, 4);
    for (int i = 0; i < 4 * 32000; i++) ck_assert(x[i] == x[i]); /* finite, no NaN */
    free(x);
    lumi_model_free(&m);
    /* its embedded tokenizer is Llama 2's: same ids as tokenizer.bin */
    LumiTokenizer t;
    ck_assert_msg(lumi_tokenizer_load(TINY_GGUF, &t, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(t.vocab_size, 32000);
    int *ids, n;
    lumi_encode(&t, "I believe the meaning of life is", 1, 0, &ids, &n);
    static const int want[] = {1, 306, 4658, 278, 6593, 310, 2834, 338};
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(ids[i], want[i]);
    free(ids);
    lumi_tokenizer_free(&t);
}
END_TEST

Suite *suite_gguf(void) {
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gguf_f32_matches_llama2c);
    tcase_add_test(tc, gguf_rope_freqs_divide_frequencies);
    tcase_add_test(tc, gguf_qwen_matches_hf_layout);
    tcase_add_test(tc, q8_0_widening);
    tcase_add_test(tc, shared_tiny_gguf);
    suite_add_tcase(s, tc);
    return s;
}
