/* test_precision.c: the weights= path axis.
 *  - conversions: bf16/f16 round to nearest even (ties, subnormals, the f16
 *    range), every 16-bit value round-trips, Q8_0 blocks as GGUF's
 *    reference quantizer makes them (amax/127, ties away from zero);
 *  - tables: built once per model and dtype and shared, 64-byte aligned,
 *    in place when the file already holds the dtype;
 *  - batch invariance per dtype on cpu: 9 cache x prefill paths, 1/2/3
 *    threads and every kernel table bitwise equal, and a perturbed matmul
 *    that must break it; cpu within tolerance of ref for each dtype;
 *  - refusals naming file, tensor and reason. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dtype.h"
#include "../engine/gguf_write.h"
#include "../engine/synth_gguf.h"
#include "../engine/tokenizer.h"
#include "../engine/weights.h"
#include "../experiments/metrics.h"
#include "../paths/backend/cpu_kernels.h"
#include "../paths/session.h"
#include "helpers.h"

extern const LumiBackendOps lumi_backend_cpu;

static float f_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

START_TEST(bf16_f16_round_to_nearest_even) {
    /* bf16 keeps the top 16 bits; the dropped half decides */
    ck_assert_uint_eq(lumi_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(lumi_f32_to_bf16(f_of(0x3f808000u)), 0x3f80); /* tie, even stays */
    ck_assert_uint_eq(lumi_f32_to_bf16(f_of(0x3f818000u)), 0x3f82); /* tie, odd rounds up */
    ck_assert_uint_eq(lumi_f32_to_bf16(f_of(0x3f808001u)), 0x3f81); /* above the tie */
    ck_assert_uint_eq(lumi_f32_to_bf16(f_of(0xbf807fffu)), 0xbf80); /* below the tie, negative */
    ck_assert(isnan(lumi_bf16_to_f32(lumi_f32_to_bf16(NAN))));
    /* f16 */
    ck_assert_uint_eq(lumi_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(lumi_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);     /* tie to even */
    ck_assert_uint_eq(lumi_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02); /* tie, odd up */
    ck_assert_uint_eq(lumi_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(lumi_f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(lumi_f32_to_f16(65520.0f), 0x7c00); /* ties to the even "65536": inf */
    ck_assert_uint_eq(lumi_f32_to_f16(-1e6f), 0xfc00);
    ck_assert_uint_eq(lumi_f32_to_f16(ldexpf(1, -24)), 0x0001);     /* smallest subnormal */
    ck_assert_uint_eq(lumi_f32_to_f16(ldexpf(1, -25)), 0x0000);     /* tie to even zero */
    ck_assert_uint_eq(lumi_f32_to_f16(3 * ldexpf(1, -25)), 0x0002); /* 1.5 ulp: tie to even 2 */
    ck_assert_uint_eq(lumi_f32_to_f16(ldexpf(1, -14)), 0x0400);     /* smallest normal */
    ck_assert_uint_eq(lumi_f32_to_f16(ldexpf(1023, -24) + ldexpf(1, -25)), 0x0400); /* carries into normal */
    /* every finite 16-bit value survives widen -> narrow */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00u) != 0x7c00u) ck_assert_uint_eq(lumi_f32_to_f16(lumi_f16_to_f32((uint16_t)h)), h);
        if ((h & 0x7f80u) != 0x7f80u) ck_assert_uint_eq(lumi_f32_to_bf16(lumi_bf16_to_f32((uint16_t)h)), h);
    }
}
END_TEST

START_TEST(q8_0_quantizes_like_gguf) {
    /* amax 127: d = 1, so x * (1/d) = x and the ties are visible */
    float x[32] = {127.0f, 0.5f, -2.5f, 1.5f, -0.5f, 0.49f, -126.6f};
    unsigned char blk[34];
    lumi_narrow(LUMI_Q8_0, x, 32, blk);
    uint16_t d;
    memcpy(&d, blk, 2);
    ck_assert_uint_eq(d, 0x3c00); /* f16(1.0) */
    const int8_t want[7] = {127, 1, -3, 2, -1, 0, -127}; /* round half away from zero */
    for (int i = 0; i < 7; i++) ck_assert_int_eq((int8_t)blk[2 + i], want[i]);
    for (int i = 7; i < 32; i++) ck_assert_int_eq((int8_t)blk[2 + i], 0);
    /* a general block: the scale is f16(amax / 127), q from the unrounded scale */
    float y[32];
    for (int i = 0; i < 32; i++) y[i] = (float)(i - 16) * 0.01f;
    lumi_narrow(LUMI_Q8_0, y, 32, blk);
    memcpy(&d, blk, 2);
    ck_assert_uint_eq(d, lumi_f32_to_f16(0.16f / 127.0f));
    ck_assert_int_eq((int8_t)blk[2], -127);           /* -0.16, the amax */
    ck_assert_int_eq((int8_t)blk[2 + 17], 8);         /* 0.01 * 127/0.16 = 7.94 */
    ck_assert_int_eq((int8_t)blk[2 + 31], 119);       /* 0.15 * 127/0.16 = 119.06 */
    float z[32] = {0};
    lumi_narrow(LUMI_Q8_0, z, 32, blk); /* all zero: d = 0, q = 0, no NaN */
    float back[32];
    lumi_widen(LUMI_Q8_0, blk, 32, back);
    for (int i = 0; i < 32; i++) ck_assert(back[i] == 0.0f);
}
END_TEST

/* ---- tables ---- */

static void load(const char *path, LumiModel *m) {
    LumiErr e;
    ck_assert_msg(lumi_model_load(path, m, &e) == 0, "%s", e.msg);
}

START_TEST(tables_cached_aligned_in_place) {
    LumiModel m;
    load(th_synth("p_tab.bin", 64, 96, 2, 4, 2, 97, 32, 1, 3), &m); /* v0: 28-byte header */
    LumiErr e;
    const LumiWeights *a, *b, *f;
    LumiWeightsInfo ia, ib, iff;
    ck_assert_msg(lumi_weights_get(&m, LUMI_BF16, &a, &ia, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_weights_get(&m, LUMI_BF16, &b, &ib, &e) == 0, "%s", e.msg);
    ck_assert_ptr_eq(a, b); /* built once */
    ck_assert(ia.copied_bytes > 0 && ia.bytes == ib.bytes);
    ck_assert_int_eq(a->layers[1].w2.type, LUMI_BF16);
    ck_assert(a->layers[1].rms_att.data == m.w.layers[1].rms_att.data); /* norms stay f32, shared */
    /* the file's own dtype: the misaligned v0 rows are copied to 64-byte alignment */
    ck_assert((uintptr_t)m.w.layers[0].wq.data % 64 != 0);
    ck_assert_msg(lumi_weights_get(&m, LUMI_WEIGHTS_FILE, &f, &iff, &e) == 0, "%s", e.msg);
    ck_assert((uintptr_t)f->layers[0].wq.data % 64 == 0 && (uintptr_t)f->tok_emb.data % 64 == 0);
    ck_assert(memcmp(f->layers[0].wq.data, m.w.layers[0].wq.data, 64 * 64 * 4) == 0);
    /* a table already in its dtype and aligned is used in place: no new memory */
    const LumiWeights *g;
    LumiModel m2 = m; /* same tensors, but pretend the aligned f32 table is the file */
    m2.w = *f;
    m2.wcache = lumi_weight_cache_new();
    LumiWeightsInfo ig;
    ck_assert(lumi_weights_get(&m2, LUMI_F32, &g, &ig, &e) == 0);
    ck_assert_uint_eq(ig.copied_bytes, 0);
    ck_assert(g->layers[1].w3.data == f->layers[1].w3.data);
    lumi_weight_cache_free(m2.wcache);
    /* two sessions on one model share the table */
    LumiPathSpec p;
    LumiSession s1, s2;
    lumi_path_default(&p);
    ck_assert(lumi_path_parse("backend=cpu,weights=q8_0", &p, &e) == 0);
    ck_assert_msg(lumi_session_open(&s1, &m, &p, &e) == 0, "%s", e.msg);
    ck_assert(lumi_path_parse("backend=ref", &p, &e) == 0);
    ck_assert_msg(lumi_session_open(&s2, &m, &p, &e) == 0, "%s", e.msg);
    ck_assert_ptr_eq(s1.be->weights(s1.bectx), s2.be->weights(s2.bectx));
    char buf[128];
    lumi_path_format(&p, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "weights=q8_0"), "%s", buf);
    lumi_session_close(&s1), lumi_session_close(&s2);
    lumi_model_free(&m);
}
END_TEST

/* ---- logits through the harness ---- */

#define PATHS TH_PATHS
#define N_PATHS TH_N_PATHS
#define tokens th_tokens

/* spec plus weights= (see th_path_run) */
static float *run(const LumiModel *m, const char *spec, const char *weights, int threads, const int *tok, int T,
                  const LumiBackendOps *swap) {
    char full[200];
    snprintf(full, sizeof full, "%s,weights=%s", spec, weights);
    return th_path_run(m, full, threads, tok, T, swap);
}

/* First cpu path (with `swap`) whose logits differ bitwise from `base`, or -1. */
static int first_mismatch(const LumiModel *m, const char *w, const float *base, const int *tok, int T, int threads,
                          const LumiBackendOps *swap) {
    size_t N = (size_t)T * m->cfg.vocab_size;
    for (size_t i = 0; i < N_PATHS; i++) {
        char spec[96];
        snprintf(spec, sizeof spec, "backend=cpu,%s", PATHS[i]);
        float *got = run(m, spec, w, threads, tok, T, swap);
        int same = memcmp(base, got, N * sizeof(float)) == 0;
        free(got);
        if (!same) return (int)i;
    }
    return -1;
}

static const char *DTYPES[] = {"bf16", "f16", "q8_0"};

/* For each dtype: 9 paths x threads 1, 2, 3 x every kernel table give the
 * same bits; cpu is within 1e-4 of ref on the same dtype; and the dtype
 * really changes the logits (it is not f32 in disguise). */
START_TEST(invariance_per_dtype) {
    LumiModel m;
    load(th_synth("p_inv.bin", 64, 96, 2, 4, 2, 97, 32, 1, 5), &m); /* GQA 4/2, unshared */
    int T = 17, *tok = tokens(&m, T);
    size_t N = (size_t)T * m.cfg.vocab_size;
    float *f32 = run(&m, "backend=cpu", "f32", 2, tok, T, NULL);
    for (int d = 0; d < 3; d++) {
        const char *w = DTYPES[d];
        float *base = run(&m, "backend=cpu", w, 2, tok, T, NULL);
        for (int threads = 1; threads <= 3; threads++) {
            int bad = first_mismatch(&m, w, base, tok, T, threads, NULL);
            ck_assert_msg(bad < 0, "weights=%s threads=%d: %s differs bitwise", w, threads, bad < 0 ? "" : PATHS[bad]);
        }
        const char *isas[] = {"avx512vnni", "avx512", "avx2", "scalar"};
        for (int i = 0; i < 4; i++) {
            if (!lumi_cpu_kernels(isas[i])) {
                printf("NOTE %s: kernel table %s not runnable here, not compared\n", __func__, isas[i]);
                continue;
            }
            setenv("LUMI_CPU_ISA", isas[i], 1);
            int bad = first_mismatch(&m, w, base, tok, T, 2, NULL);
            unsetenv("LUMI_CPU_ISA");
            ck_assert_msg(bad < 0, "weights=%s LUMI_CPU_ISA=%s: %s differs bitwise", w, isas[i], bad < 0 ? "" : PATHS[bad]);
        }
        float *ref = run(&m, "backend=ref", w, 0, tok, T, NULL);
        double err = th_max_abs(base, ref, N), moved = th_max_abs(base, f32, N);
        ck_assert_msg(err <= 1e-4, "weights=%s: max |cpu - ref| = %g", w, err);
        ck_assert_msg(moved > 1e-4, "weights=%s: logits equal f32's within %g: the axis did nothing", w, moved);
        free(base), free(ref);
    }
    free(f32), free(tok);
    lumi_model_free(&m);
}
END_TEST

/* A matmul whose order depends on how many tokens share the call (as an
 * n-dependent GEMM blocking would) must break the check, for each dtype. */
static void order_by_n_matmul(void *ctx, LumiRef outr, int os, LumiRef xr, const LumiMat *w, const LumiMat *b, int n) {
    if (n == 1) {
        lumi_backend_cpu.matmul(ctx, outr, os, xr, w, b, n);
        return;
    }
    float *out = lumi_host(outr), *row = malloc((size_t)w->cols * sizeof(float));
    const float *x = lumi_host(xr), *bias = b ? b->data : NULL;
    size_t rb = lumi_row_bytes(w->type, w->cols);
    for (int r = 0; r < w->rows; r++) {
        lumi_widen(w->type, (const char *)w->data + (size_t)r * rb, (size_t)w->cols, row);
        for (int t = 0; t < n; t++) {
            float s = 0;
            for (int c = 0; c < w->cols; c++) s = fmaf(row[c], x[(size_t)t * w->cols + c], s);
            out[(size_t)t * os + r] = s + (bias ? bias[r] : 0);
        }
    }
    free(row);
}

START_TEST(perturbed_matmul_breaks_invariance_per_dtype) {
    LumiModel m;
    load(th_synth("p_pert.bin", 64, 96, 2, 4, 2, 97, 32, 1, 6), &m);
    int T = 12, *tok = tokens(&m, T);
    LumiBackendOps bad = lumi_backend_cpu;
    bad.matmul = order_by_n_matmul;
    bad.matmuls = NULL; /* every matmul through the perturbed one */
    for (int d = 0; d < 3; d++) {
        float *base = run(&m, "backend=cpu", DTYPES[d], 2, tok, T, NULL);
        ck_assert_msg(first_mismatch(&m, DTYPES[d], base, tok, T, 2, &bad) >= 0,
                      "weights=%s: an n-dependent matmul order went unnoticed", DTYPES[d]);
        free(base);
    }
    free(tok);
    lumi_model_free(&m);
}
END_TEST

/* ---- refusals ---- */

static void poke_float(const char *path, long offset, float v) {
    FILE *f = fopen(path, "r+b");
    ck_assert(f != NULL);
    ck_assert(fseek(f, offset, SEEK_SET) == 0 && fwrite(&v, 4, 1, f) == 1);
    fclose(f);
}

START_TEST(refusals_name_file_tensor_reason) {
    LumiErr e;
    LumiPathSpec p;
    LumiSession s;
    LumiModel m;
    const char *path = th_synth("p_bad.bin", 64, 96, 1, 4, 4, 97, 32, 0, 7);
    load(path, &m);
    lumi_path_default(&p);
    ck_assert(lumi_path_parse("backend=blas,weights=bf16", &p, &e) == 0);
    ck_assert_int_eq(lumi_session_open(&s, &m, &p, &e), -1);
    ck_assert_msg(strstr(e.msg, "blas") && strstr(e.msg, "tok_embeddings") && strstr(e.msg, "bf16"), "%s", e.msg);
    ck_assert_int_eq(lumi_path_parse("weights=q4_0", &p, &e), -1);
    ck_assert_msg(strstr(e.msg, "q4_0") && strstr(e.msg, "q8_0"), "%s", e.msg);
    lumi_model_free(&m);
    /* token 3's embedding, element 5: 28-byte header, then tok_emb [97, 64] */
    poke_float(path, 28 + (3 * 64 + 5) * 4, 1e6f);
    load(path, &m);
    const LumiWeights *w;
    ck_assert_int_eq(lumi_weights_get(&m, LUMI_F16, &w, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "tok_embeddings") && strstr(e.msg, "[3, 5]") &&
                      strstr(e.msg, "f16's range"),
                  "%s", e.msg);
    ck_assert_msg(lumi_weights_get(&m, LUMI_BF16, &w, NULL, &e) == 0, "%s", e.msg); /* bf16 has f32's range */
    lumi_model_free(&m);
    poke_float(path, 28 + (3 * 64 + 5) * 4, NAN);
    load(path, &m);
    ck_assert_int_eq(lumi_weights_get(&m, LUMI_Q8_0, &w, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "tok_embeddings") && strstr(e.msg, "non-finite"), "%s", e.msg);
    lumi_model_free(&m);
    /* on the command line: exit 2, one line */
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "./lumi generate -m %s --ids 1,2 -n 1 --path weights=q8_0 2>&1", path);
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "non-finite"), "%s", out);
    free(out);
}
END_TEST

/* ---- llama2.c int8 export (version 2) ---- */

static int8_t gen_q(int tensor, size_t i) { return (int8_t)((int)((i * 37 + (size_t)tensor * 11) % 255) - 127); }
static float gen_s(int tensor, size_t g) { return 0.001f * (float)(1 + (g + (size_t)tensor) % 7); }

/* Writes a v2 file: dim 64, hidden 96, 2 layers, 4 heads, 2 kv heads,
 * vocab 40, seq 16, shared classifier, group size gs; tensor k's values
 * are gen_q(k, i) * gen_s(k, i / gs). */
static void write_v2(const char *path, int gs, int truncate) {
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    unsigned char hdr[256] = {0};
    uint32_t magic = 0x616b3432u;
    int32_t v[9] = {2, 64, 96, 2, 4, 2, 40, 16, 0};
    memcpy(hdr, &magic, 4), memcpy(hdr + 4, v, 32);
    hdr[36] = 1;
    memcpy(hdr + 37, &gs, 4);
    fwrite(hdr, 256, 1, f);
    for (int i = 0; i < 2 * 2 * 64 + 64; i++) {
        float one = 1.0f + 0.01f * (float)(i % 5);
        fwrite(&one, 4, 1, f);
    }
    size_t sizes[1 + 7 * 2];
    int n = 0;
    sizes[n++] = 40 * 64;
    size_t per[7] = {64 * 64, 32 * 64, 32 * 64, 64 * 64, 96 * 64, 64 * 96, 96 * 64};
    for (int k = 0; k < 7; k++)
        for (int l = 0; l < 2; l++) sizes[n++] = per[k];
    for (int k = 0; k < n - truncate; k++) {
        for (size_t i = 0; i < sizes[k]; i++) {
            int8_t q = gen_q(k, i);
            fwrite(&q, 1, 1, f);
        }
        for (size_t g = 0; g < sizes[k] / (size_t)gs; g++) {
            float sc = gen_s(k, g);
            fwrite(&sc, 4, 1, f);
        }
    }
    fclose(f);
}

START_TEST(llama2c_int8_export) {
    const char *path = th_path("p_v2.bin");
    write_v2(path, 32, 0);
    LumiModel m;
    load(path, &m);
    ck_assert_str_eq(m.format, "llama2c-v2-q8");
    ck_assert_int_eq(m.file_dtype, LUMI_Q8_0);
    ck_assert_int_eq(m.cfg.n_kv_heads, 2);
    /* tensor 0 is the embedding, then wq of layers 0 and 1 (k = 1, 2), ...;
     * w2 of layer 1 is k = 1 + 5 * 2 + 1 = 12 */
    const float *emb = m.w.tok_emb.data, *w2 = m.w.layers[1].w2.data;
    for (size_t i = 0; i < 40 * 64; i++) ck_assert(emb[i] == (float)gen_q(0, i) * gen_s(0, i / 32));
    for (size_t i = 0; i < 64 * 96; i++) ck_assert(w2[i] == (float)gen_q(12, i) * gen_s(12, i / 32));
    ck_assert(m.w.cls.data == m.w.tok_emb.data);
    /* the widened matrices live in the loader's heap: used in place, not realigned again */
    const LumiWeights *fw;
    LumiWeightsInfo fi;
    LumiErr e0;
    ck_assert_msg(lumi_weights_get(&m, LUMI_WEIGHTS_FILE, &fw, &fi, &e0) == 0, "%s", e0.msg);
    ck_assert_uint_eq(fi.copied_bytes, 0);
    ck_assert(fw->layers[1].w2.data == m.w.layers[1].w2.data);
    int tok[5] = {1, 2, 3, 39, 0};
    float *a = run(&m, "backend=cpu", "file", 1, tok, 5, NULL), *b = run(&m, "backend=ref", "q8_0", 0, tok, 5, NULL);
    ck_assert(isfinite(a[0]) && isfinite(b[5 * 40 - 1]));
    free(a), free(b);
    lumi_model_free(&m);
    LumiErr e;
    write_v2(path, 32, 1);
    ck_assert_int_eq(lumi_model_load(path, &m, &e), -1);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "truncated"), "%s", e.msg);
    write_v2(path, 48, 0); /* 48 does not divide 64 */
    ck_assert_int_eq(lumi_model_load(path, &m, &e), -1);
    ck_assert_msg(strstr(e.msg, "group_size 48"), "%s", e.msg);
}
END_TEST

/* ---- distribution statistics and the shipped configs ---- */

START_TEST(kl_stats_nearest_rank) {
    double kl[200];
    for (int i = 0; i < 200; i++) kl[i] = (double)(199 - i); /* 0..199, shuffled order */
    LumiKlStats st;
    lumi_kl_stats(kl, 200, 150, &st);
    ck_assert_int_eq(st.n, 200);
    ck_assert(st.kl_mean == 99.5);
    ck_assert(st.kl_p99 == 197.0); /* rank ceil(0.99 * 200) = 198, value 197 */
    ck_assert(st.kl_max == 199.0 && st.top1_rate == 0.75);
    double one[1] = {NAN};
    lumi_kl_stats(one, 1, 1, &st);
    ck_assert(isinf(st.kl_mean) && isinf(st.kl_p99));
    LumiTolerance t = {.max_abs = -1, .max_rel = -1, .nmse = -1, .kl = -1, .kl_mean = -1, .kl_p99 = -1, .top1_rate = -1};
    LumiKlStats s = {100, 1e-4, 5e-4, 1e-3, 0.96};
    LumiViolation v;
    ck_assert_int_eq(lumi_tolerance_check_dist(&t, &s, &v), 0);
    t.kl_p99 = 4e-4;
    ck_assert_int_eq(lumi_tolerance_check_dist(&t, &s, &v), -1);
    ck_assert_str_eq(v.metric, "kl_p99");
    t.kl_p99 = -1, t.top1_rate = 0.97;
    ck_assert_int_eq(lumi_tolerance_check_dist(&t, &s, &v), -1);
    char buf[128];
    lumi_violation_format(&v, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "top1_rate 0.96 < 0.97"), "%s", buf);
}
END_TEST

/* Runs a shipped config with its output in the test folder; returns the
 * exit status and the output. */
static int check_config(const char *cfg, char **out) {
    char *text;
    size_t len;
    LumiErr e;
    ck_assert_msg(lumi_read_file(cfg, &text, &len, &e) == 0, "%s", e.msg);
    const char *copy = th_path(strrchr(cfg, '/') + 1);
    FILE *f = fopen(copy, "w");
    ck_assert(f != NULL);
    fprintf(f, "%s\noutput: %s\n", text, th_tmpdir());
    fclose(f);
    free(text);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "./lumi check %s 2>&1", copy);
    return th_run(cmd, out);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* Every dtype passes its distribution limits; the canary fails them. */
START_TEST(shipped_precision_configs) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    char *out;
    ck_assert_int_eq(check_config("configs/precision.yaml", &out), 1);
    ck_assert_int_eq(count(out, " PASS"), 5);
    ck_assert_msg(strstr(out, "FAIL backend=ref,cache=fixed,prefill=batched,weights=bf16 canary@6: over all 180 "
                              "positions: kl_p99"),
                  "%s", out);
    free(out);
    ck_assert_int_eq(check_config("configs/precision-gqa.yaml", &out), 1);
    ck_assert_int_eq(count(out, " PASS"), 4);
    ck_assert_msg(strstr(out, "FAIL backend=ref,cache=fixed,prefill=batched,weights=q8_0 canary@6: over all"), "%s", out);
    free(out);
}
END_TEST

/* lumi perplexity: the same path as its own base is at KL 0 with full
 * top-1 agreement and equal perplexity; another dtype is not at KL 0. */
START_TEST(perplexity_cli) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    char *out;
    ck_assert_int_eq(th_run("./lumi perplexity --help", &out), 0);
    ck_assert(strstr(out, "--kl-base") != NULL);
    free(out);
    const char *base = "./lumi perplexity -m " DEFAULT_MODEL " -z " DEFAULT_TOKENIZER " -f configs/prompts/genesis1.txt";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --ctx 64 --path backend=cpu --kl-base backend=cpu --json", base);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "\"windows\":2,") && strstr(out, "\"scored\":62,") && strstr(out, "\"kl_mean\":0,") &&
                      strstr(out, "\"top1_rate\":1}"),
                  "%s", out);
    double p1, p2;
    char *a = strstr(out, "\"ppl\":"), *b = a ? strstr(a + 1, "\"ppl\":") : NULL;
    ck_assert(a && b && sscanf(a + 6, "%lf", &p1) == 1 && sscanf(b + 6, "%lf", &p2) == 1);
    ck_assert(p1 == p2 && p1 > 1 && p1 < 512);
    free(out);
    snprintf(cmd, sizeof cmd, "%s --ctx 64 --path backend=cpu,weights=bf16 --kl-base backend=cpu --json", base);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(!strstr(out, "\"kl_mean\":0,") && strstr(out, "\"kl_mean\":"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s --ctx 1 2>&1", base);
    ck_assert_int_eq(th_run(cmd, &out), 2);
    free(out);
    ck_assert_int_eq(th_run("./lumi perplexity -m " DEFAULT_MODEL " -z " DEFAULT_TOKENIZER " -f /nonexistent 2>&1", &out),
                     2);
    ck_assert_msg(strstr(out, "/nonexistent"), "%s", out);
    free(out);
}
END_TEST

/* ---- writing GGUF ---- */

/* A file lumi writes loads back bitwise: each dtype's GGUF gives exactly
 * the logits of the source on weights=that dtype, holds those bytes, and
 * carries the tokenizer. */
START_TEST(gguf_written_loads_back_bitwise) {
    LumiModel src, back;
    LumiErr e;
    LumiTokenizer tok, tok2;
    load(th_synth("p_w.bin", 64, 96, 2, 4, 2, 512, 32, 1, 9), &src);
    ck_assert_msg(lumi_tokenizer_load(DEFAULT_TOKENIZER, &tok, &e) == 0, "%s", e.msg);
    int T = 9, *tk = tokens(&src, T);
    size_t N = (size_t)T * src.cfg.vocab_size;
    for (int d = LUMI_F32; d <= LUMI_Q8_0; d++) {
        const char *out = th_path("p_w.gguf");
        ck_assert_msg(lumi_gguf_write_model(out, &src, &tok, (LumiDType)d, &e) == 0, "%s", e.msg);
        load(out, &back);
        ck_assert_str_eq(back.format, "gguf");
        ck_assert_int_eq(back.file_dtype, d);
        ck_assert_int_eq(back.cfg.n_kv_heads, 2);
        ck_assert(!back.cfg.shared_classifier);
        const LumiWeights *w;
        ck_assert(lumi_weights_get(&src, d, &w, NULL, &e) == 0);
        const LumiMat *a = &w->layers[1].w2, *b = &back.w.layers[1].w2;
        ck_assert_int_eq(b->type, d);
        ck_assert(memcmp(a->data, b->data, lumi_row_bytes(a->type, a->cols) * (size_t)a->rows) == 0);
        ck_assert_msg((uintptr_t)b->data % 64 == 0, "tensor data not 64-byte aligned in the file");
        float *x = run(&src, "backend=cpu", lumi_dtype_name((LumiDType)d), 2, tk, T, NULL);
        float *y = run(&back, "backend=cpu", "file", 2, tk, T, NULL);
        ck_assert_msg(memcmp(x, y, N * 4) == 0, "%s: the written file's logits differ", lumi_dtype_name((LumiDType)d));
        free(x), free(y);
        ck_assert_msg(lumi_tokenizer_load(out, &tok2, &e) == 0, "%s", e.msg);
        int *i1, *i2, n1, n2;
        lumi_encode(&tok, "In the beginning God created", 1, 0, &i1, &n1);
        lumi_encode(&tok2, "In the beginning God created", 1, 0, &i2, &n2);
        ck_assert(n1 == n2 && memcmp(i1, i2, (size_t)n1 * sizeof(int)) == 0);
        free(i1), free(i2);
        lumi_tokenizer_free(&tok2);
        lumi_model_free(&back);
    }
    free(tk);
    lumi_tokenizer_free(&tok);
    lumi_model_free(&src);
}
END_TEST

/* synth straight to GGUF draws the same values as synth + convert. */
START_TEST(synth_gguf_equals_convert) {
    LumiSynthSpec sp = {64, 96, 2, 4, 2, 97, 32, 1, 11};
    LumiErr e;
    const char *bin = th_path("p_s.bin"), *a = th_path("p_sa.gguf"), *b = th_path("p_sb.gguf");
    ck_assert(lumi_synth_write(&sp, bin, &e) == 0);
    LumiModel m, ma, mb;
    load(bin, &m);
    int T = 7, *tk = tokens(&m, T);
    for (int d = LUMI_F32; d <= LUMI_Q8_0; d++) {
        ck_assert_msg(lumi_gguf_write_model(a, &m, NULL, (LumiDType)d, &e) == 0, "%s", e.msg);
        ck_assert_msg(lumi_synth_write_gguf(&sp, (LumiDType)d, b, &e) == 0, "%s", e.msg);
        load(a, &ma), load(b, &mb);
        const LumiMat *x[3] = {&ma.w.tok_emb, &ma.w.layers[1].w2, &ma.w.cls}, *y[3] = {&mb.w.tok_emb, &mb.w.layers[1].w2, &mb.w.cls};
        for (int i = 0; i < 3; i++)
            ck_assert_msg(memcmp(x[i]->data, y[i]->data, lumi_row_bytes(x[i]->type, x[i]->cols) * (size_t)x[i]->rows) == 0,
                          "%s tensor %d differs", lumi_dtype_name((LumiDType)d), i);
        ck_assert(memcmp(ma.w.layers[1].rms_ffn.data, mb.w.layers[1].rms_ffn.data, 64 * 4) == 0);
        float *la = run(&ma, "backend=cpu", "file", 1, tk, T, NULL), *lb = run(&mb, "backend=cpu", "file", 1, tk, T, NULL);
        ck_assert(memcmp(la, lb, (size_t)T * 97 * 4) == 0);
        free(la), free(lb);
        lumi_model_free(&ma), lumi_model_free(&mb);
    }
    sp.hidden_dim = 100;
    ck_assert_int_eq(lumi_synth_write_gguf(&sp, LUMI_Q8_0, b, &e), -1);
    ck_assert_msg(strstr(e.msg, "100"), "%s", e.msg);
    free(tk);
    lumi_model_free(&m);
}
END_TEST

/* A Q8_0 GGUF with a NaN or infinite block scale, or truncated inside a
 * block, is refused naming file and tensor. */
START_TEST(gguf_q8_0_bad_scales_and_truncation) {
    LumiModel src, m;
    LumiErr e;
    load(th_synth("p_q.bin", 64, 96, 1, 4, 4, 97, 32, 1, 12), &src);
    const char *g = th_path("p_q.gguf");
    ck_assert_msg(lumi_gguf_write_model(g, &src, NULL, LUMI_Q8_0, &e) == 0, "%s", e.msg);
    lumi_model_free(&src);
    load(g, &m);
    long off = (long)((const char *)m.w.layers[0].wk.data - (const char *)m.map.data) + 3 * 34; /* block 3 */
    long size = (long)m.map.size;
    lumi_model_free(&m);
    const uint16_t bad[2] = {0x7e00, 0xfc00}; /* NaN, -inf */
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(g, "r+b");
        ck_assert(f && fseek(f, off, SEEK_SET) == 0 && fwrite(&bad[i], 2, 1, f) == 1);
        fclose(f);
        ck_assert_int_eq(lumi_model_load(g, &m, &e), -1);
        ck_assert_msg(strstr(e.msg, g) && strstr(e.msg, "blk.0.attn_k.weight") && strstr(e.msg, "block 3") &&
                          strstr(e.msg, i == 0 ? "NaN" : "infinite"),
                      "%s", e.msg);
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "truncate -s %ld %s", size - 100, g); /* past the 64-byte padding, into the last blocks */
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    ck_assert_int_eq(lumi_model_load(g, &m, &e), -1);
    ck_assert_msg(strstr(e.msg, g) && strstr(e.msg, "outside the file"), "%s", e.msg);
}
END_TEST

START_TEST(convert_refusals) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    char cmd[512], *out;
    ck_assert_int_eq(th_run("./lumi convert --help", &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "./lumi convert " DEFAULT_MODEL " %s --dtype q8_0 2>&1", th_path("p_c.gguf"));
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, DEFAULT_MODEL) && strstr(out, "layers.0.w2") && strstr(out, "344 columns"), "%s", out);
    free(out);
    ck_assert(!th_exists(th_path("p_c.gguf")));
    snprintf(cmd, sizeof cmd, "./lumi convert " DEFAULT_MODEL " %s --dtype q4_0 2>&1", th_path("p_c.gguf"));
    ck_assert_int_eq(th_run(cmd, &out), 2);
    free(out);
    snprintf(cmd, sizeof cmd, "./lumi convert " DEFAULT_MODEL " %s --dtype f16 2>&1 && ./lumi inspect %s",
             th_path("p_c.gguf"), th_path("p_c.gguf"));
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "f16"), "%s", out);
    free(out);
}
END_TEST

Suite *suite_precision(void) {
    Suite *s = suite_create("precision");
    TCase *c = tcase_create("convert");
    tcase_add_test(c, bf16_f16_round_to_nearest_even);
    tcase_add_test(c, q8_0_quantizes_like_gguf);
    tcase_add_test(c, tables_cached_aligned_in_place);
    tcase_add_test(c, refusals_name_file_tensor_reason);
    tcase_add_test(c, llama2c_int8_export);
    tcase_add_test(c, kl_stats_nearest_rank);
    suite_add_tcase(s, c);
    TCase *h = tcase_create("harness");
    tcase_set_timeout(h, 120);
    tcase_add_test(h, invariance_per_dtype);
    tcase_add_test(h, perturbed_matmul_breaks_invariance_per_dtype);
    tcase_add_test(h, shipped_precision_configs);
    tcase_add_test(h, perplexity_cli);
    tcase_add_test(h, gguf_written_loads_back_bitwise);
    tcase_add_test(h, convert_refusals);
    tcase_add_test(h, gguf_q8_0_bad_scales_and_truncation);
    tcase_add_test(h, synth_gguf_equals_convert);
    suite_add_tcase(s, h);
    return s;
}
