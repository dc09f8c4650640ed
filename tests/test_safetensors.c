/* test_safetensors.c: Hugging Face layout loading. A test-side writer turns
 * a synthesized llama2.c model into config.json + model.safetensors (q/k rows
 * permuted for rotate-half, as Hugging Face's conversion does); the two must
 * give the same logits, which exercises the rotate-half RoPE path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../paths/session.h"
#include "../engine/weights.h"
#include "helpers.h"

typedef struct {
    char name[96];
    const float *data;
    int rows, cols; /* cols 0: vector */
    int permute_heads; /* >0: rotate-half permutation with this many heads */
} Tensor;

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

/* Row r of the permuted matrix comes from row src_row(r) of the original. */
static int src_row(int r, int heads, int rows) {
    int hs = rows / heads, h = r / hs, k = r % hs, half = hs / 2;
    return h * hs + 2 * (k % half) + k / half;
}

/* bias: NULL, or per layer q/k/v biases laid out [layer][dim + 2 * kv_dim] */
static void write_st_bias(const char *dir, const LumiModel *m, int bf16, int tie, const char *extra_cfg,
                          const float *bias) {
    const LumiConfig *c = &m->cfg;
    Tensor t[256];
    int n = 0;
#define ADD(nm, d, r, cc, ph) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].data = d, t[n].rows = r, t[n].cols = cc, t[n].permute_heads = ph, n++)
    ADD("model.embed_tokens.weight", m->w.tok_emb.data, c->vocab_size, c->dim, 0);
    char nm[96];
    for (int l = 0; l < c->n_layers; l++) {
        const LumiLayer *L = &m->w.layers[l];
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l), ADD(nm, L->rms_att.data, c->dim, 0, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l), ADD(nm, L->rms_ffn.data, c->dim, 0, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.q_proj.weight", l), ADD(nm, L->wq.data, c->dim, c->dim, c->n_heads);
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.k_proj.weight", l), ADD(nm, L->wk.data, c->kv_dim, c->dim, c->n_kv_heads);
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.v_proj.weight", l), ADD(nm, L->wv.data, c->kv_dim, c->dim, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.o_proj.weight", l), ADD(nm, L->wo.data, c->dim, c->dim, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.gate_proj.weight", l), ADD(nm, L->w1.data, c->hidden_dim, c->dim, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.down_proj.weight", l), ADD(nm, L->w2.data, c->dim, c->hidden_dim, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.up_proj.weight", l), ADD(nm, L->w3.data, c->hidden_dim, c->dim, 0);
        if (bias) {
            const float *b = bias + (size_t)l * (c->dim + 2 * c->kv_dim);
            /* q/k biases are permuted with their rows, like the weights */
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.q_proj.bias", l), ADD(nm, b, c->dim, 0, c->n_heads);
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.k_proj.bias", l), ADD(nm, b + c->dim, c->kv_dim, 0, c->n_kv_heads);
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.v_proj.bias", l), ADD(nm, b + c->dim + c->kv_dim, c->kv_dim, 0, 0);
        }
    }
    ADD("model.norm.weight", m->w.rms_final.data, c->dim, 0, 0);
    if (!tie) ADD("lm_head.weight", m->w.cls.data, c->vocab_size, c->dim, 0);
#undef ADD
    size_t esz = bf16 ? 2 : 4, cap = 1 << 16, hl = 0, off = 0;
    char *hdr = malloc(cap);
    hl += (size_t)snprintf(hdr + hl, cap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)t[i].rows * (t[i].cols ? (size_t)t[i].cols : 1);
        char shape[48];
        if (t[i].cols) snprintf(shape, sizeof shape, "[%d,%d]", t[i].rows, t[i].cols);
        else snprintf(shape, sizeof shape, "[%d]", t[i].rows);
        hl += (size_t)snprintf(hdr + hl, cap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                               t[i].name, bf16 ? "BF16" : "F32", shape, off, off + cnt * esz);
        off += cnt * esz;
    }
    hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    mkdir(dir, 0777);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "wb");
    uint64_t h64 = hl;
    fwrite(&h64, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    for (int i = 0; i < n; i++) {
        int cols = t[i].cols ? t[i].cols : 1;
        for (int r = 0; r < t[i].rows; r++) {
            int sr = t[i].permute_heads ? src_row(r, t[i].permute_heads, t[i].rows) : r;
            const float *row = t[i].data + (size_t)sr * cols;
            for (int k = 0; k < cols; k++) {
                if (bf16) {
                    uint16_t b = to_bf16(row[k]);
                    fwrite(&b, 2, 1, f);
                } else fwrite(&row[k], 4, 1, f);
            }
        }
    }
    fclose(f);
    free(hdr);
    snprintf(p, sizeof p, "%s/config.json", dir);
    f = fopen(p, "w");
    fprintf(f,
            "{\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
            "\"num_key_value_heads\": %d, \"vocab_size\": %d, \"max_position_embeddings\": %d, \"rms_norm_eps\": 1e-05, "
            "\"rope_theta\": 10000.0, \"tie_word_embeddings\": %s, \"hidden_act\": \"silu\"%s}\n",
            c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len,
            tie ? "true" : "false", extra_cfg);
    fclose(f);
}

static void write_st(const char *dir, const LumiModel *m, int bf16, int tie, const char *extra_cfg) {
    write_st_bias(dir, m, bf16, tie, extra_cfg, NULL);
}

static float *logits_of(const char *path, const int *tok, int T) {
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(path, &m, &e) == 0, "%s", e.msg);
    float *out = th_logits(&m, tok, T);
    lumi_model_free(&m);
    return out;
}

START_TEST(rotate_half_matches_interleaved) {
    const char *v0 = th_synth("st_src.bin", 32, 48, 2, 4, 2, 61, 20, 1, 21);
    LumiModel m;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &m, &e) == 0);
    const char *dir = th_path("st_f32");
    write_st(dir, &m, 0, 0, "");
    int tok[12];
    for (int i = 0; i < 12; i++) tok[i] = (i * 17 + 3) % 61;
    float *a = logits_of(v0, tok, 12), *b = logits_of(dir, tok, 12);
    ck_assert_msg(th_max_abs(a, b, 12 * 61) < 1e-5, "safetensors vs llama2.c: %g", th_max_abs(a, b, 12 * 61));
    /* without the permutation the rotate-half model is a different model:
     * proves the comparison above can fail */
    LumiModel h;
    ck_assert(lumi_model_load(dir, &h, &e) == 0);
    ck_assert_int_eq(h.cfg.rope_style, LUMI_ROPE_HALF);
    ck_assert(!h.cfg.shared_classifier);
    h.cfg.rope_style = LUMI_ROPE_INTERLEAVED;
    h.rope.style = LUMI_ROPE_INTERLEAVED;
    float *c = th_logits(&h, tok, 12);
    ck_assert(th_max_abs(a, c, 12 * 61) > 1e-3);
    lumi_model_free(&h);
    free(a), free(b), free(c);
    lumi_model_free(&m);
}
END_TEST

/* BF16 matrices are held in place as bf16 (the default weights=file), and
 * the f32 table widens them exactly. */
START_TEST(bf16_kept_and_widened_exactly) {
    const char *v0 = th_synth("st_src2.bin", 16, 24, 1, 2, 1, 40, 8, 0, 22);
    LumiModel m, b;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &m, &e) == 0);
    const char *dir = th_path("st_bf16");
    write_st(dir, &m, 1, 1, "");
    ck_assert_msg(lumi_model_load(dir, &b, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(b.file_dtype, LUMI_BF16);
    ck_assert(b.cfg.shared_classifier);
    ck_assert_int_eq(b.w.layers[0].w2.type, LUMI_BF16);
    const LumiWeights *w32;
    ck_assert_msg(lumi_weights_get(&b, LUMI_F32, &w32, NULL, &e) == 0, "%s", e.msg);
    const float *src = m.w.layers[0].w2.data, *got = w32->layers[0].w2.data;
    for (int i = 0; i < 16 * 24; i++) {
        uint32_t u = (uint32_t)to_bf16(src[i]) << 16;
        float want;
        memcpy(&want, &u, 4);
        ck_assert_msg(got[i] == want, "w2[%d]: %g != %g", i, got[i], want);
    }
    lumi_model_free(&b);
    lumi_model_free(&m);
}
END_TEST

static void expect_fail(const char *path, const char *needle) {
    LumiModel m;
    LumiErr e;
    ck_assert_int_eq(lumi_model_load(path, &m, &e), -1);
    ck_assert_msg(strstr(e.msg, needle), "'%s' lacks '%s'", e.msg, needle);
}

START_TEST(hostile_files) {
    const char *v0 = th_synth("st_src3.bin", 16, 24, 1, 2, 1, 40, 8, 0, 23);
    LumiModel m;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &m, &e) == 0);
    const char *dir = th_path("st_bad");
    write_st(dir, &m, 0, 1, "");
    char p[600], cmd[2600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    /* truncate the data: offsets now point past the end */
    snprintf(cmd, sizeof cmd, "cp %s %s.orig && head -c -8 %s.orig > %s", p, p, p, p);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    expect_fail(dir, "data_offsets");
    /* header length larger than the file */
    FILE *f = fopen(p, "r+b");
    uint64_t big = 1ull << 40;
    fwrite(&big, 8, 1, f);
    fclose(f);
    expect_fail(dir, "header length");
    /* garbage JSON */
    f = fopen(p, "wb");
    uint64_t hl = 8;
    fwrite(&hl, 8, 1, f);
    fwrite("{\"a\":[1,", 1, 8, f);
    fclose(f);
    expect_fail(dir, "invalid JSON");
    /* config and tensors disagree on the shape */
    const char *dir2 = th_path("st_shape");
    write_st(dir2, &m, 0, 1, "");
    snprintf(p, sizeof p, "%s/config.json", dir2);
    f = fopen(p, "w");
    fprintf(f, "{\"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
               " \"num_key_value_heads\": 1, \"vocab_size\": 40, \"max_position_embeddings\": 8, \"tie_word_embeddings\": true}");
    fclose(f);
    expect_fail(dir2, "expected shape [32, 16]");
    /* missing config.json */
    snprintf(cmd, sizeof cmd, "rm %s", p);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    expect_fail(dir2, "config.json");
    lumi_model_free(&m);
}
END_TEST

/* Qwen-style q/k/v biases: read from the file, applied by every backend.
 * ref and cpu implement the bias independently; both must agree, and
 * zeroing the biases must change the logits (so they are really used). */
START_TEST(qkv_bias) {
    const char *v0 = th_synth("st_src4.bin", 32, 48, 2, 4, 2, 61, 20, 0, 24);
    LumiModel m, h;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &m, &e) == 0);
    int per = 32 + 2 * 16;
    float *bias = malloc(sizeof(float) * 2 * (size_t)per);
    LumiRng r;
    lumi_rng_seed(&r, 5);
    for (int i = 0; i < 2 * per; i++) bias[i] = lumi_rng_f32(&r) - 0.5f;
    const char *dir = th_path("st_bias");
    write_st_bias(dir, &m, 0, 1, "", bias);
    ck_assert_msg(lumi_model_load(dir, &h, &e) == 0, "%s", e.msg);
    ck_assert(h.cfg.qkv_bias);
    ck_assert(((const float *)h.w.layers[1].bv.data)[3] == bias[per + 32 + 16 + 3]);
    int tok[9] = {1, 7, 3, 60, 22, 22, 9, 40, 5};
    float *a = th_logits(&h, tok, 9), *z = th_logits(&m, tok, 9);
    ck_assert_msg(th_max_abs(a, z, 9 * 61) > 1e-3, "biases had no effect");
    LumiPathSpec p;
    LumiSession s;
    lumi_path_default(&p);
    ck_assert(lumi_path_parse("backend=cpu,prefill=token", &p, &e) == 0);
    ck_assert_msg(lumi_session_open(&s, &h, &p, &e) == 0, "%s", e.msg);
    float *c = malloc(sizeof(float) * 9 * 61);
    ck_assert(lumi_session_feed(&s, tok, 9, c, &e) == 0);
    ck_assert_msg(th_max_abs(a, c, 9 * 61) < 1e-4, "cpu vs ref with biases: %g", th_max_abs(a, c, 9 * 61));
    lumi_session_close(&s);
    free(a), free(z), free(c), free(bias);
    lumi_model_free(&h);
    lumi_model_free(&m);
}
END_TEST

/* Issue 13 bug 1: a BF16 checkpoint with q/k/v biases was refused
 * ("widening arena too small": the arena was sized before the biases were
 * known). Every bias loads, widened exactly. */
START_TEST(bf16_with_biases) {
    const char *v0 = th_synth("st_src5.bin", 32, 48, 2, 4, 2, 61, 20, 0, 25);
    LumiModel m, h;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &m, &e) == 0);
    int per = 32 + 2 * 16;
    float *bias = malloc(sizeof(float) * 2 * (size_t)per);
    LumiRng r;
    lumi_rng_seed(&r, 6);
    for (int i = 0; i < 2 * per; i++) bias[i] = lumi_rng_f32(&r) - 0.5f;
    const char *dir = th_path("st_bias_bf16");
    write_st_bias(dir, &m, 1, 1, "", bias);
    ck_assert_msg(lumi_model_load(dir, &h, &e) == 0, "%s", e.msg);
    ck_assert(h.cfg.qkv_bias);
    ck_assert_int_eq(h.file_dtype, LUMI_BF16);
    uint32_t u = (uint32_t)to_bf16(bias[per + 32 + 16 + 3]) << 16;
    float want;
    memcpy(&want, &u, 4);
    ck_assert(((const float *)h.w.layers[1].bv.data)[3] == want);
    lumi_model_free(&h);
    lumi_model_free(&m);
    free(bias);
}
END_TEST

/* Issue 13 bug 3: config.json claims a huge model next to a tiny file. It
 * is refused naming the file and a tensor, before anything is allocated
 * from the claim: lumi runs in 1 GB of address space here, where the old
 * loader's arena (every parameter in f32: tens of GB) cannot exist. */
START_TEST(huge_config_tiny_file) {
    const char *v0 = th_synth("st_src6.bin", 16, 24, 1, 2, 1, 40, 8, 0, 26);
    LumiModel m;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &m, &e) == 0);
    const char *dir = th_path("st_huge_cfg");
    write_st(dir, &m, 0, 1, "");
    lumi_model_free(&m);
    char p[600], cmd[1400], *out;
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"hidden_size\": 16384, \"intermediate_size\": 65536, \"num_hidden_layers\": 1024,"
               " \"num_attention_heads\": 128, \"vocab_size\": 32000, \"max_position_embeddings\": 1048576}");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s./lumi inspect %s 2>&1", th_ulimit_1g(), dir);
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 2, "exit %d: %s", rc, out);
    ck_assert_msg(strstr(out, "model.safetensors") && strstr(out, "model.embed_tokens.weight") &&
                      strstr(out, "expected shape [32000, 16384]"),
                  "%s", out);
    ck_assert_msg(!strchr(out, '\n') || strchr(out, '\n') == out + strlen(out) - 1, "not one line: %s", out);
    free(out);
}
END_TEST

#define HF SHARED_MODELS "/kjv1M-hf"
#define HF16 SHARED_MODELS "/kjv1M-hf-bf16"

START_TEST(shared_hf_checkpoints) {
    SKIP_UNLESS_FILE(HF "/model.safetensors");
    SKIP_UNLESS_FILE(HF16 "/model.safetensors");
    int tok[40];
    for (int i = 0; i < 40; i++) tok[i] = i == 0 ? 1 : (i * 37 + 11) % 512;
    float *a = logits_of(DEFAULT_MODEL, tok, 40), *b = logits_of(HF, tok, 40), *c = logits_of(HF16, tok, 40);
    ck_assert_msg(th_max_abs(a, b, 40 * 512) < 1e-5, "hf f32: %g", th_max_abs(a, b, 40 * 512));
    /* bf16 weights move logits by up to ~0.1 (SOURCES.md); the distributions stay close */
    double worst_kl = 0;
    for (int t = 0; t < 40; t++) {
        const float *p = a + t * 512, *q = c + t * 512;
        double mp = -1e30, mq = -1e30, sp = 0, sq = 0, kl = 0;
        for (int i = 0; i < 512; i++) mp = fmax(mp, p[i]), mq = fmax(mq, q[i]);
        for (int i = 0; i < 512; i++) sp += exp(p[i] - mp), sq += exp(q[i] - mq);
        for (int i = 0; i < 512; i++) {
            double lp = p[i] - mp - log(sp), lq = q[i] - mq - log(sq);
            kl += exp(lp) * (lp - lq);
        }
        worst_kl = fmax(worst_kl, kl);
    }
    ck_assert_msg(worst_kl < 5e-3, "bf16 KL %g", worst_kl);
    ck_assert(th_max_abs(a, c, 40 * 512) > 1e-4); /* it really is a different (rounded) model */
    free(a), free(b), free(c);
}
END_TEST

Suite *suite_safetensors(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rotate_half_matches_interleaved);
    tcase_add_test(tc, bf16_kept_and_widened_exactly);
    tcase_add_test(tc, hostile_files);
    tcase_add_test(tc, qkv_bias);
    tcase_add_test(tc, shared_hf_checkpoints);
    tcase_add_test(tc, bf16_with_biases);
    tcase_add_test(tc, huge_config_tiny_file);
    suite_add_tcase(s, tc);
    return s;
}
