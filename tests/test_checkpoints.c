/* test_checkpoints.c: the checkpoint shapes users run, synthesized (never
 * downloaded) and written by lumi's own writers: sharded Hugging Face
 * folders, Llama 3 rope scaling, Qwen 2/3 (q/k/v bias, q/k norm) and the
 * Qwen 1.0 layout. Each is run on every path and compared with the same
 * weights in another layout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../engine/hf_write.h"
#include "../engine/lmw.h"
#include "../paths/session.h"
#include "helpers.h"

static const char *const PATHS[] = {
    "cache=fixed,prefill=batched",   "cache=fixed,prefill=token",   "cache=fixed,prefill=chunked:3",
    "cache=growing,prefill=batched", "cache=growing,prefill=token", "cache=growing,prefill=chunked:5",
    "cache=none,prefill=batched",    "cache=none,prefill=token",    "cache=none,prefill=chunked:4",
};
#define N_PATHS (int)(sizeof PATHS / sizeof PATHS[0])

/* Logits of every position on backend + PATHS[k], the prompt fed in two
 * parts so every path also runs with a non-empty cache. */
static float *path_logits(const LumiModel *m, const char *backend, int k, const int *tok, int T) {
    char spec[128];
    snprintf(spec, sizeof spec, "backend=%s,%s", backend, PATHS[k]);
    LumiPathSpec p;
    LumiSession s;
    LumiErr e;
    lumi_path_default(&p);
    ck_assert_msg(lumi_path_parse(spec, &p, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_session_open(&s, m, &p, &e) == 0, "%s", e.msg);
    size_t V = (size_t)m->cfg.vocab_size;
    float *out = malloc((size_t)T * V * sizeof(float));
    ck_assert_msg(lumi_session_feed(&s, tok, T / 2, out, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_session_feed(&s, tok + T / 2, T - T / 2, out + (size_t)(T / 2) * V, &e) == 0, "%s", e.msg);
    lumi_session_close(&s);
    return out;
}

static void load(const char *path, LumiModel *m) {
    LumiErr e;
    ck_assert_msg(lumi_model_load(path, m, &e) == 0, "%s", e.msg);
}

static void synth(const char *name, const LumiSynthSpec *s, const LumiSynthExtra *x, LumiModel *m) {
    LumiErr e;
    ck_assert_msg(lumi_synth_model(s, x, th_path(name), m, &e) == 0, "%s", e.msg);
}

static const char *write_hf(const LumiModel *m, const char *name, LumiHfLayout layout, int shards) {
    const char *dir = th_path(name);
    LumiHfWriteOpts o = {layout, LUMI_F32, shards};
    LumiErr e;
    ck_assert_msg(lumi_hf_write(m, dir, &o, &e) == 0, "%s", e.msg);
    return dir;
}

/* Every path of ref and cpu on `a` equals the same path on `b` bitwise
 * (b holds the same f32 weights in another layout), and is within tol of
 * `src`, the same model held with interleaved RoPE (another summation
 * order inside each head). */
static void same_everywhere(const LumiModel *a, const LumiModel *b, const LumiModel *src, const int *tok, int T,
                            double tol) {
    size_t n = (size_t)T * (size_t)a->cfg.vocab_size;
    float *base = path_logits(src, "ref", 0, tok, T);
    const char *backends[] = {"ref", "cpu"};
    for (int bi = 0; bi < 2; bi++)
        for (int k = 0; k < N_PATHS; k++) {
            float *x = path_logits(a, backends[bi], k, tok, T), *y = path_logits(b, backends[bi], k, tok, T);
            ck_assert_msg(memcmp(x, y, n * sizeof(float)) == 0, "%s %s: layouts differ by %g", backends[bi], PATHS[k],
                          th_max_abs(x, y, n));
            ck_assert_msg(th_max_abs(x, base, n) < tol, "%s %s vs interleaved ref: %g", backends[bi], PATHS[k],
                          th_max_abs(x, base, n));
            free(x), free(y);
        }
    free(base);
}

/* ---- sharded Hugging Face folders ---- */

START_TEST(sharded_equals_single_file) {
    LumiSynthSpec s = {32, 48, 2, 4, 2, 61, 24, 1, 31};
    LumiModel src, one, three;
    synth("sh_src.bin", &s, NULL, &src);
    load(write_hf(&src, "sh_one", LUMI_HF_LLAMA, 1), &one);
    load(write_hf(&src, "sh_three", LUMI_HF_LLAMA, 3), &three);
    ck_assert_str_eq(three.format, "safetensors-sharded");
    ck_assert_int_eq(three.n_shards, 3);
    ck_assert(th_exists(th_path("sh_three/model-00003-of-00003.safetensors")));
    int tok[10] = {1, 7, 3, 60, 22, 22, 9, 40, 5, 0};
    same_everywhere(&three, &one, &src, tok, 10, 1e-4);
    /* the comparison can fail: a slightly different model is caught */
    one.cfg.norm_eps *= 2;
    float *x = path_logits(&three, "ref", 0, tok, 10), *y = path_logits(&one, "ref", 0, tok, 10);
    ck_assert(memcmp(x, y, 10 * 61 * sizeof(float)) != 0);
    free(x), free(y);
    lumi_model_free(&src), lumi_model_free(&one), lumi_model_free(&three);
}
END_TEST

static void expect_exit2(const char *path, const char *needle) {
    char cmd[1200], *out;
    snprintf(cmd, sizeof cmd, "./lumi inspect %s 2>&1", path);
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 2 && strstr(out, needle), "exit %d, wanted '%s': %s", rc, needle, out);
    free(out);
}

/* Runs a shell command made from fmt and one path argument. */
static void sh(const char *fmt, const char *arg) {
    char cmd[2400];
    snprintf(cmd, sizeof cmd, fmt, arg);
    ck_assert_msg(th_run(cmd, NULL) == 0, "%s", cmd);
}

/* A copy of folder `good` named `name`. */
static const char *copy_of(const char *good, const char *name) {
    const char *d = th_path(name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", good, d);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    return d;
}

START_TEST(hostile_shard_sets) {
    LumiSynthSpec s = {16, 24, 2, 2, 1, 40, 8, 0, 32};
    LumiModel src;
    synth("hs_src.bin", &s, NULL, &src);
    const char *good = write_hf(&src, "hs_good", LUMI_HF_LLAMA, 3);
    lumi_model_free(&src);
    /* an index naming a shard that is not there */
    const char *d = copy_of(good, "hs_missing");
    sh("rm %s/model-00002-of-00003.safetensors", d);
    expect_exit2(d, "model-00002-of-00003.safetensors: cannot open");
    /* a tensor in two shards: shard 3 replaced by a copy of shard 2 */
    d = copy_of(good, "hs_twice");
    sh("cd %s && cp model-00002-of-00003.safetensors model-00003-of-00003.safetensors", d);
    expect_exit2(d, "is in both");
    /* offsets past a shard's end */
    d = copy_of(good, "hs_short");
    sh("truncate -s -4 %s/model-00001-of-00003.safetensors", d);
    expect_exit2(d, "data_offsets out of the file");
    /* a shard name that leaves the folder */
    d = copy_of(good, "hs_escape");
    sh("sed -i 's#\"model-00001-of-00003#\"../x/model-00001-of-00003#' %s/model.safetensors.index.json", d);
    expect_exit2(d, "not a file name in this folder");
    /* a tensor the index does not list */
    d = copy_of(good, "hs_unlisted");
    sh("sed -i '/model.layers.0.mlp.up_proj.weight/d' %s/model.safetensors.index.json", d);
    expect_exit2(d, "is not in weight_map");
    /* the untouched set loads, also through its index file */
    char idx[700];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", good);
    LumiModel m;
    load(idx, &m);
    lumi_model_free(&m);
}
END_TEST

/* ---- rope scaling ---- */

/* Meta's llama3 scaling (Llama 3.1 apply_scaling), written out here apart
 * from engine/model.c: wavelength 2 pi / f; below orig/high keep f, above
 * orig/low use f / factor, between blend by s = (orig/wavelength - low) /
 * (high - low): (1 - s) f / factor + s f. */
static double llama3_by_hand(double theta, int hs, int i, double factor, double lo, double hi, double orig) {
    double f = 1.0 / pow(theta, (2.0 * i) / hs), wl = 2.0 * 3.14159265358979323846 / f;
    if (wl < orig / hi) return f;
    if (wl > orig / lo) return f / factor;
    double sm = (orig / wl - lo) / (hi - lo);
    return (1.0 - sm) * (f / factor) + sm * f;
}

static void check_freq(double got, double want, int i) {
    ck_assert_msg(fabs(got - want) <= 1e-12 * want, "pair %d: %.17g != %.17g", i, got, want);
}

START_TEST(rope_llama3_frequencies) {
    /* Llama 3.1 8B's head size and settings, through config.json */
    LumiSynthSpec s = {128, 32, 1, 1, 1, 16, 16, 0, 33};
    LumiSynthExtra x = {.rope_theta = 500000.0f, .rope_scaling = LUMI_ROPE_SCALING_LLAMA3, .rope_factor = 8.0f,
                        .rope_low_freq_factor = 1.0f, .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 8192};
    LumiModel src, m;
    synth("rs_src.bin", &s, &x, &src);
    load(write_hf(&src, "rs_llama3", LUMI_HF_LLAMA, 1), &m);
    ck_assert_int_eq(m.cfg.rope_scaling, LUMI_ROPE_SCALING_LLAMA3);
    ck_assert_int_eq(m.rope.half, 64);
    for (int i = 0; i < 64; i++) check_freq(m.rope.freq[i], llama3_by_hand(500000.0, 128, i, 8, 1, 4, 8192), i);
    /* anchors computed separately (Python, same published formula), one per regime */
    check_freq(m.rope.freq[0], 1.0, 0);                      /* kept */
    check_freq(m.rope.freq[20], 0.016560440080994446, 20);   /* kept: wavelength 379 < 2048 */
    check_freq(m.rope.freq[30], 0.0013718935677611381, 30);  /* blended: wavelength 2948 */
    check_freq(m.rope.freq[34], 0.0001785078127679964, 34);  /* blended: wavelength 6695 */
    check_freq(m.rope.freq[40], 3.428102195952591e-05, 40);  /* divided: wavelength 22911 > 8192 */
    check_freq(m.rope.freq[63], 3.068925988914511e-07, 63);
    /* the table holds cos/sin of position * frequency */
    LumiErr e;
    ck_assert(lumi_model_rope_reserve(&m, 16, &e) == 0);
    ck_assert(m.rope.cos[5 * 64 + 30] == (float)cos(5 * 0.0013718935677611381));
    lumi_model_free(&m);
    lumi_model_free(&src);
}
END_TEST

START_TEST(rope_linear_and_refused) {
    LumiSynthSpec s = {32, 32, 1, 2, 2, 16, 16, 0, 34};
    LumiSynthExtra x = {.rope_scaling = LUMI_ROPE_SCALING_LINEAR, .rope_factor = 4.0f};
    LumiModel src, m;
    synth("rl_src.bin", &s, &x, &src);
    const char *dir = write_hf(&src, "rl_linear", LUMI_HF_LLAMA, 1);
    load(dir, &m);
    for (int i = 0; i < 8; i++) check_freq(m.rope.freq[i], 1.0 / pow(10000.0, i / 8.0) / 4.0, i);
    lumi_model_free(&m);
    lumi_model_free(&src);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    sh("sed -i 's/\"linear\"/\"yarn\"/' %s", p);
    expect_exit2(dir, "rope_scaling type 'yarn' is not supported");
    /* families whose arithmetic differs are refused by name, not loaded wrong */
    sh("sed -i 's/\"yarn\"/\"linear\"/; s/\"model_type\": \"llama\"/\"model_type\": \"gemma\"/' %s", p);
    expect_exit2(dir, "model_type 'gemma' is not supported");
    sh("sed -i 's/\"model_type\": \"gemma\"/\"model_type\": \"mistral\", \"sliding_window\": 4096/' %s", p);
    expect_exit2(dir, "sliding_window attention is not supported");
}
END_TEST

/* ---- Llama 3 shape: vocab 128256, GQA, theta 500000, llama3 scaling, 3 shards ---- */

START_TEST(llama3_shape) {
    LumiSynthSpec s = {32, 64, 2, 4, 2, 128256, 32, 1, 35};
    LumiSynthExtra x = {.rope_theta = 500000.0f, .rope_scaling = LUMI_ROPE_SCALING_LLAMA3, .rope_factor = 8.0f,
                        .rope_low_freq_factor = 1.0f, .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 16};
    LumiModel src, m, one;
    synth("l3_src.bin", &s, &x, &src);
    load(write_hf(&src, "l3_sharded", LUMI_HF_LLAMA, 3), &m);
    load(write_hf(&src, "l3_one", LUMI_HF_LLAMA, 1), &one);
    ck_assert_int_eq(m.cfg.vocab_size, 128256);
    ck_assert(m.cfg.rope_theta == 500000.0f && m.cfg.n_kv_heads == 2);
    /* scaling is on for some pairs at this head size and original context */
    ck_assert(m.rope.freq[3] != pow(500000.0, -6.0 / 8));
    int tok[6] = {128000, 5, 128255, 77, 9000, 1};
    same_everywhere(&m, &one, &src, tok, 6, 1e-4);
    lumi_model_free(&src), lumi_model_free(&m), lumi_model_free(&one);
}
END_TEST

/* ---- Qwen 2/3: q/k/v bias and per-head q/k RMSNorm ---- */

START_TEST(qwen3_qk_norm) {
    LumiSynthSpec s = {32, 48, 2, 4, 2, 61, 24, 0, 36};
    LumiSynthExtra x = {.qkv_bias = 1, .qk_norm = 1, .rope_theta = 1000000.0f};
    LumiModel src, m, one;
    synth("q3_src.bin", &s, &x, &src);
    load(write_hf(&src, "q3_sharded", LUMI_HF_LLAMA, 3), &m);
    load(write_hf(&src, "q3_one", LUMI_HF_LLAMA, 1), &one);
    ck_assert(m.cfg.qk_norm && m.cfg.qkv_bias && m.w.layers[1].k_norm.data);
    int tok[10] = {1, 7, 3, 60, 22, 22, 9, 40, 5, 0};
    same_everywhere(&m, &one, &src, tok, 10, 1e-4);
    /* the norms are applied: without them the model is another model (a
     * fresh load: a model's weights tables are built at first use) */
    LumiModel bare;
    load(write_hf(&src, "q3_bare", LUMI_HF_LLAMA, 1), &bare);
    for (int l = 0; l < 2; l++) bare.w.layers[l].q_norm.data = bare.w.layers[l].k_norm.data = NULL;
    float *a = path_logits(&m, "ref", 0, tok, 10), *b = path_logits(&bare, "ref", 0, tok, 10);
    ck_assert(th_max_abs(a, b, 10 * 61) > 1e-3);
    free(a), free(b);
    lumi_model_free(&src), lumi_model_free(&m), lumi_model_free(&one), lumi_model_free(&bare);
}
END_TEST

/* ---- Qwen 1.0 layout: fused c_attn, w2 the gate ---- */

START_TEST(qwen1_layout) {
    LumiSynthSpec s = {32, 48, 2, 4, 4, 61, 24, 1, 37};
    LumiSynthExtra x = {.qkv_bias = 1};
    LumiModel src, q1, q2;
    synth("q1_src.bin", &s, &x, &src);
    const char *dir = write_hf(&src, "q1", LUMI_HF_QWEN1, 2);
    load(dir, &q1);
    load(write_hf(&src, "q1_as_q2", LUMI_HF_LLAMA, 1), &q2);
    ck_assert_str_eq(q1.format, "safetensors-qwen1");
    ck_assert(q1.cfg.qkv_bias && q1.cfg.hidden_dim == 48 && q1.cfg.rope_style == LUMI_ROPE_HALF);
    int tok[10] = {1, 7, 3, 60, 22, 22, 9, 40, 5, 0};
    same_everywhere(&q1, &q2, &src, tok, 10, 1e-4);
    /* swapping gate and up (w1 <-> w2) gives another model (a fresh load:
     * a model's weights tables are built at first use) */
    LumiModel sw;
    load(dir, &sw);
    LumiMat t = sw.w.layers[0].w1;
    sw.w.layers[0].w1 = sw.w.layers[0].w3, sw.w.layers[0].w3 = t;
    float *a = path_logits(&sw, "ref", 0, tok, 10), *b = path_logits(&q2, "ref", 0, tok, 10);
    ck_assert(th_max_abs(a, b, 10 * 61) > 1e-3);
    free(a), free(b);
    lumi_model_free(&src), lumi_model_free(&q1), lumi_model_free(&q2), lumi_model_free(&sw);
}
END_TEST

/* ---- lumi's .lmw ---- */

static const char *write_lmw(const LumiModel *m, const char *name, LumiDType dt) {
    const char *p = th_path(name);
    LumiLmwWriteOpts o = {"test", "tok", 3, dt};
    LumiErr e;
    ck_assert_msg(lumi_lmw_write(m, p, &o, &e) == 0, "%s", e.msg);
    return p;
}

/* llama2.c -> .lmw: same weights, same interleaved RoPE: bitwise on every path */
START_TEST(lmw_from_llama2c) {
    const char *bin = th_synth("lmw_src.bin", 32, 48, 2, 4, 2, 61, 24, 1, 38);
    LumiModel src, l;
    load(bin, &src);
    load(write_lmw(&src, "lmw_a.lmw", LUMI_F32), &l);
    ck_assert_str_eq(l.format, "lmw");
    ck_assert(!l.cfg.shared_classifier && l.cfg.hidden_dim == 48);
    int tok[10] = {1, 7, 3, 60, 22, 22, 9, 40, 5, 0};
    same_everywhere(&l, &src, &src, tok, 10, 1e-4);
    /* and the comparison can fail */
    l.cfg.norm_eps *= 2;
    float *x = path_logits(&l, "ref", 0, tok, 10), *y = path_logits(&src, "ref", 0, tok, 10);
    ck_assert(memcmp(x, y, 10 * 61 * sizeof(float)) != 0);
    free(x), free(y);
    lumi_model_free(&src), lumi_model_free(&l);
}
END_TEST

/* A Qwen-3-shaped Hugging Face folder (rotate-half, biases, q/k norms,
 * GQA, 3 shards) -> .lmw (Meta's interleaved rows): bitwise equal to the
 * same weights held interleaved; .lmw -> .lmw is a fixed point. */
START_TEST(lmw_round_trip) {
    LumiSynthSpec s = {32, 48, 2, 4, 2, 61, 24, 0, 39};
    LumiSynthExtra x = {.qkv_bias = 1, .qk_norm = 1, .rope_theta = 1000000.0f};
    LumiModel src, hf, l1, l2;
    synth("lr_src.bin", &s, &x, &src);
    load(write_hf(&src, "lr_hf", LUMI_HF_LLAMA, 3), &hf);
    const char *p1 = write_lmw(&hf, "lr_1.lmw", LUMI_F32);
    load(p1, &l1);
    ck_assert(l1.cfg.qk_norm && l1.cfg.qkv_bias && l1.cfg.rope_theta == 1000000.0f);
    int tok[10] = {1, 7, 3, 60, 22, 22, 9, 40, 5, 0};
    same_everywhere(&l1, &src, &src, tok, 10, 1e-4);
    const char *p2 = write_lmw(&l1, "lr_2.lmw", LUMI_F32);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", p1, p2);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    /* bf16: each weight rounded to nearest even, read back exactly */
    load(write_lmw(&l1, "lr_bf16.lmw", LUMI_BF16), &l2);
    ck_assert_int_eq(l2.file_dtype, LUMI_BF16);
    float a = ((const float *)l1.w.layers[1].w2.data)[5], b = ((const float *)l2.w.layers[1].w2.data)[5];
    ck_assert(a != b && fabsf(a - b) <= fabsf(a) / 256);
    lumi_model_free(&src), lumi_model_free(&hf), lumi_model_free(&l1), lumi_model_free(&l2);
}
END_TEST

START_TEST(lmw_hostile) {
    const char *bin = th_synth("lh_src.bin", 16, 24, 1, 2, 1, 40, 8, 0, 40);
    LumiModel src;
    load(bin, &src);
    const char *good = write_lmw(&src, "lh.lmw", LUMI_F32);
    lumi_model_free(&src);
    char p[600];
    snprintf(p, sizeof p, "%s", th_path("lh_short.lmw"));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "head -c -6 %s > %s", good, p);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    expect_exit2(p, "past the end of the file");
    /* a record appended twice */
    snprintf(p, sizeof p, "%s", th_path("lh_twice.lmw"));
    snprintf(cmd, sizeof cmd, "cp %s %s && tail -c 96 %s >> %s", good, p, good, p);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    expect_exit2(p, "appears twice");
    /* the header claims more layers than the records hold */
    snprintf(p, sizeof p, "%s", th_path("lh_layers.lmw"));
    snprintf(cmd, sizeof cmd, "cp %s %s && printf '\\003' | dd of=%s bs=1 seek=20 conv=notrunc 2>/dev/null", good, p, p);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    expect_exit2(p, "missing tensor 'layers.1.attention_norm.weight'");
    /* a vector flagged transposed (byte 2712: the flag of the record after
     * tok_embeddings) is the same vector */
    snprintf(p, sizeof p, "%s", th_path("lh_vec_t.lmw"));
    snprintf(cmd, sizeof cmd, "cp %s %s && printf '\\001' | dd of=%s bs=1 seek=2712 conv=notrunc 2>/dev/null", good, p, p);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    LumiModel a, b;
    load(good, &a);
    load(p, &b);
    ck_assert(memcmp(a.w.layers[0].rms_att.data, b.w.layers[0].rms_att.data, 16 * sizeof(float)) == 0);
    lumi_model_free(&a), lumi_model_free(&b);
    /* a header and no records (found by fuzzing: qsort of an empty table) */
    snprintf(p, sizeof p, "%s", th_path("lh_empty.lmw"));
    snprintf(cmd, sizeof cmd, "head -c 60 %s > %s", good, p);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    expect_exit2(p, "missing tensor 'layers.0.feed_forward.w1.weight'");
}
END_TEST

/* ---- the command line: synth, convert, inspect and logits on every format ---- */

static char *run_ok(const char *cmd) {
    char *out;
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 0, "exit %d: %s\n%s", rc, cmd, out);
    return out;
}

START_TEST(cli_every_format) {
    char cmd[8192], bin[600], hf[600], q1[600], lmw[600], lmw2[600], npy[8][600];
    snprintf(bin, sizeof bin, "%s", th_path("cli_src.bin"));
    snprintf(hf, sizeof hf, "%s", th_path("cli_hf"));
    snprintf(q1, sizeof q1, "%s", th_path("cli_q1"));
    snprintf(lmw, sizeof lmw, "%s", th_path("cli.lmw"));
    snprintf(lmw2, sizeof lmw2, "%s", th_path("cli_from_hf.lmw"));
    const char *shape = "--dim 32 --hidden 48 --layers 2 --heads 4 --vocab 64 --seq 32 --seed 41";
    snprintf(cmd, sizeof cmd, "./lumi synth %s -o %s 2>&1 && ./lumi convert %s %s 2>&1 && ./lumi convert %s %s --hf --shards 3 2>&1"
             " && ./lumi convert %s %s 2>&1 && ./lumi synth %s --hf --qwen1 --qkv-bias -o %s 2>&1",
             shape, bin, bin, lmw, bin, hf, hf, lmw2, shape, q1);
    free(run_ok(cmd));
    const char *models[] = {bin, lmw, hf, lmw2, q1};
    const char *formats[] = {"llama2c-v0", "lmw", "safetensors-sharded", "lmw", "safetensors-qwen1"};
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd, "./lumi inspect %s", models[i]);
        char *out = run_ok(cmd);
        ck_assert_msg(strstr(out, formats[i]), "%s", out);
        free(out);
        snprintf(npy[i], sizeof npy[i], "%s/cli_%d.npy", th_tmpdir(), i);
        snprintf(cmd, sizeof cmd, "./lumi logits -m %s --ids 1,5,9,33,2 --no-bos -o %s 2>&1", models[i], npy[i]);
        free(run_ok(cmd));
    }
    /* llama2.c and .lmw, and .lmw made back from the Hugging Face folder: the same bytes */
    snprintf(cmd, sizeof cmd, "cmp %s %s && cmp %s %s", npy[0], npy[1], npy[0], npy[3]);
    free(run_ok(cmd));
    snprintf(cmd, sizeof cmd, "./lumi convert %s %s/x.xyz 2>&1", bin, th_tmpdir());
    char *out;
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "unknown output format"), "%s", out);
    free(out);
}
END_TEST

/* lumi check (the equivalence harness) on a sharded folder and a .lmw; the
 * model fingerprint it records covers config.json and every shard. */
START_TEST(check_on_every_format) {
    LumiSynthSpec s = {32, 48, 2, 4, 2, 61, 24, 1, 42};
    LumiModel src, m;
    synth("ck_src.bin", &s, NULL, &src);
    const char *dir = write_hf(&src, "ck_hf", LUMI_HF_LLAMA, 3);
    const char *lmw = write_lmw(&src, "ck.lmw", LUMI_F32);
    lumi_model_free(&src);
    const char *models[] = {dir, lmw};
    char cfg[600], cmd[2400];
    for (int i = 0; i < 2; i++) {
        snprintf(cfg, sizeof cfg, "%s/ck%d.yaml", th_tmpdir(), i);
        FILE *f = fopen(cfg, "w");
        fprintf(f, "name: ck\nkind: equivalence\nmodel: %s\noutput: %s/ckres\nprompts:\n  - {name: a, ids: [1, 7, 30]}\n"
                   "steps: 4\npaths:\n  backend: [ref, cpu]\n  cache: [none, fixed]\n  prefill: [token, batched]\n"
                   "reference: {backend: ref, cache: fixed, prefill: token}\n"
                   "tolerance:\n  same_backend: bitwise\n  cross_backend: {max_abs: 1e-4}\n",
                models[i], th_tmpdir());
        fclose(f);
        snprintf(cmd, sizeof cmd, "./lumi check %s 2>&1", cfg);
        free(run_ok(cmd));
    }
    uint32_t c1, c2, cf;
    size_t b1, b2, bf;
    LumiErr e;
    load(dir, &m);
    ck_assert(lumi_model_crc32(&m, &c1, &b1, &e) == 0);
    lumi_model_free(&m);
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", dir);
    sh("sed -i 's/\"rms_norm_eps\": [0-9.e-]*/\"rms_norm_eps\": 2e-05/' %s", p);
    load(dir, &m);
    ck_assert(lumi_model_crc32(&m, &c2, &b2, &e) == 0);
    ck_assert_msg(c1 != c2, "config.json is not part of the fingerprint");
    lumi_model_free(&m);
    /* a single file's fingerprint is the file's CRC-32, as goldens recorded it */
    load(DEFAULT_MODEL, &m);
    ck_assert(lumi_model_crc32(&m, &cf, &bf, &e) == 0);
    ck_assert_uint_eq(bf, 3909148);
    lumi_model_free(&m);
    char *raw;
    size_t len;
    ck_assert(lumi_read_file(DEFAULT_MODEL, &raw, &len, &e) == 0);
    ck_assert_uint_eq(cf, (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)raw, (uInt)len));
    free(raw);
}
END_TEST

/* Real files: the shipped model's Hugging Face folder (rotate-half rows)
 * and a GGUF, each written as .lmw, give the logits of the original
 * llama2.c / GGUF bytes exactly (the un-permuted rows are Meta's again). */
START_TEST(shared_files_to_lmw) {
    SKIP_UNLESS_FILE(SHARED_MODELS "/kjv1M-hf/model.safetensors");
    SKIP_UNLESS_FILE(SHARED_MODELS "/llama-2-tiny-random.gguf");
    LumiModel bin, hf, l;
    load(DEFAULT_MODEL, &bin);
    load(SHARED_MODELS "/kjv1M-hf", &hf);
    load(write_lmw(&hf, "kjv_from_hf.lmw", LUMI_F32), &l);
    ck_assert(memcmp(bin.w.layers[3].wk.data, l.w.layers[3].wk.data, 64 * 128 * sizeof(float)) == 0);
    int tok[8] = {1, 100, 200, 300, 400, 500, 7, 9};
    float *a = path_logits(&bin, "cpu", 0, tok, 8), *b = path_logits(&l, "cpu", 0, tok, 8);
    ck_assert(memcmp(a, b, 8 * 512 * sizeof(float)) == 0);
    free(a), free(b);
    lumi_model_free(&bin), lumi_model_free(&hf), lumi_model_free(&l);
    LumiModel g, gl;
    load(SHARED_MODELS "/llama-2-tiny-random.gguf", &g);
    load(write_lmw(&g, "tiny_gguf.lmw", LUMI_F32), &gl);
    int t2[4] = {1, 5, 900, 31999};
    a = path_logits(&g, "ref", 0, t2, 4), b = path_logits(&gl, "ref", 0, t2, 4);
    ck_assert(memcmp(a, b, 4 * 32000 * sizeof(float)) == 0);
    free(a), free(b);
    lumi_model_free(&g), lumi_model_free(&gl);
}
END_TEST

Suite *suite_checkpoints(void) {
    Suite *s = suite_create("checkpoints");
    TCase *tc = tcase_create("hf");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sharded_equals_single_file);
    tcase_add_test(tc, hostile_shard_sets);
    tcase_add_test(tc, rope_llama3_frequencies);
    tcase_add_test(tc, rope_linear_and_refused);
    tcase_add_test(tc, llama3_shape);
    tcase_add_test(tc, qwen3_qk_norm);
    tcase_add_test(tc, qwen1_layout);
    tcase_add_test(tc, lmw_from_llama2c);
    tcase_add_test(tc, lmw_round_trip);
    tcase_add_test(tc, lmw_hostile);
    tcase_add_test(tc, cli_every_format);
    tcase_add_test(tc, shared_files_to_lmw);
    tcase_add_test(tc, check_on_every_format);
    suite_add_tcase(s, tc);
    return s;
}
