/* test_cpu.c: the fast cpu backend.
 *  - every kernel table this CPU can run (AVX-512, AVX2, C) against plain-C
 *    twins written here, on awkward sizes: bitwise for the shared dot16
 *    order, and close to a double-precision sum;
 *  - the backend's ops against the ref backend's (odd heads, GQA);
 *  - batch invariance through the harness: all 9 cache x prefill paths
 *    bitwise equal, threads=1 equal to threads=2, SIMD equal to the forced
 *    scalar fallback, and within 1e-4 of ref;
 *  - perturbations proving those bitwise checks can fail;
 *  - the thread pool's placement of its workers. */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dtype.h"
#include "../engine/weights.h"
#include "../paths/session.h"
#include "../paths/backend/cpu_kernels.h"
#include "../paths/backend/cpu_threads.h"
#include "helpers.h"

extern const LumiBackendOps lumi_backend_cpu, lumi_backend_ref;

/* ---- plain-C twins ---- */

/* dot16 as cpu_kernels.h defines it, written independently. */
static float twin_dot16(const float *a, const float *b, int n) {
    float lane[16];
    for (int l = 0; l < 16; l++) lane[l] = 0.0f;
    int chunks = (n + 15) / 16;
    for (int c = 0; c < chunks; c++)
        for (int l = 0; l < 16; l++) {
            int k = c * 16 + l;
            lane[l] = fmaf(k < n ? a[k] : 0.0f, k < n ? b[k] : 0.0f, lane[l]);
        }
    float h8[8], h4[4];
    for (int i = 0; i < 8; i++) h8[i] = lane[i] + lane[i + 8];
    for (int i = 0; i < 4; i++) h4[i] = h8[i] + h8[i + 4];
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/* A different, equally reasonable order: one running sum, left to right. */
static float seq_dot(const float *a, const float *b, int n) {
    float s = 0;
    for (int k = 0; k < n; k++) s = fmaf(a[k], b[k], s);
    return s;
}

static void fill(float *v, size_t n, LumiRng *r) {
    for (size_t i = 0; i < n; i++) v[i] = 2.0f * lumi_rng_f32(r) - 1.0f;
}

static const LumiCpuKernels *tables[4];
static int n_tables(void) {
    int n = 0;
    const char *names[] = {"avx512vnni", "avx512", "avx2", "scalar"};
    for (int i = 0; i < 4; i++)
        if ((tables[n] = lumi_cpu_kernels(names[i]))) n++;
        else printf("NOTE test_cpu: kernel table %s not runnable here, not tested\n", names[i]);
    return n;
}

START_TEST(kernels_dot_axpy_match_twins) {
    int nt = n_tables();
    ck_assert(nt >= 1);
    LumiRng r;
    lumi_rng_seed(&r, 42);
    float a[300], b[300], o1[300], o2[300];
    int sizes[] = {1, 2, 7, 15, 16, 17, 31, 33, 48, 63, 100, 129, 300};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        fill(a, 300, &r), fill(b, 300, &r);
        double exact = 0, mag = 0;
        for (int k = 0; k < n; k++) exact += (double)a[k] * b[k], mag += fabs((double)a[k] * b[k]);
        float want = twin_dot16(a, b, n);
        ck_assert_msg(fabs(want - exact) <= 1e-6 * mag + 1e-30, "twin dot16 n=%d off: %g vs %g", n, want, exact);
        for (int t = 0; t < nt; t++) {
            float got = tables[t]->dot(a, b, n);
            ck_assert_msg(memcmp(&got, &want, 4) == 0, "%s dot n=%d: %a != %a", tables[t]->name, n, got, want);
            float p = a[n - 1];
            memcpy(o1, b, sizeof o1), memcpy(o2, b, sizeof o2);
            tables[t]->axpy(o1, p, a, n);
            for (int k = 0; k < n; k++) o2[k] = fmaf(p, a[k], o2[k]);
            ck_assert_msg(memcmp(o1, o2, sizeof o1) == 0, "%s axpy n=%d differs (or wrote past n)", tables[t]->name, n);
        }
    }
}
END_TEST

/* The attention helpers: several keys per call, rows `stride` apart. */
START_TEST(kernels_attention_helpers_match_twins) {
    int nt = n_tables();
    LumiRng r;
    lumi_rng_seed(&r, 11);
    enum { MAXK = 9, STRIDE = 140 };
    float q[STRIDE], kv[MAXK * STRIDE], p[MAXK], got[STRIDE], want[STRIDE];
    int lens[] = {1, 4, 12, 16, 17, 48, 64, 100, 128, 130};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int n = 1; n <= MAXK; n += 2) {
            int len = lens[li];
            fill(q, STRIDE, &r), fill(kv, MAXK * STRIDE, &r), fill(p, MAXK, &r), fill(want, STRIDE, &r);
            float sc_want[MAXK], sc_got[MAXK];
            for (int s = 0; s < n; s++) sc_want[s] = twin_dot16(q, kv + s * STRIDE, len);
            float o_want[STRIDE];
            memcpy(o_want, want, sizeof o_want);
            for (int s = 0; s < n; s++)
                for (int i = 0; i < len; i++) o_want[i] = fmaf(p[s], kv[s * STRIDE + i], o_want[i]);
            for (int t = 0; t < nt; t++) {
                tables[t]->dots(sc_got, q, kv, STRIDE, n, len);
                ck_assert_msg(memcmp(sc_got, sc_want, (size_t)n * 4) == 0, "%s dots n=%d len=%d", tables[t]->name, n, len);
                memcpy(got, want, sizeof got);
                tables[t]->axpys(got, p, kv, STRIDE, n, len);
                ck_assert_msg(memcmp(got, o_want, sizeof got) == 0, "%s axpys n=%d len=%d (or wrote past len)",
                              tables[t]->name, n, len);
            }
        }
}
END_TEST

/* matmul on a sub-block [t0,t1) x [r0,r1): twin values inside, untouched
 * (sentinel) outside, for shapes that are not multiples of any tile. */
START_TEST(kernels_matmul_match_twin) {
    int nt = n_tables();
    LumiRng r;
    lumi_rng_seed(&r, 7);
    struct { int rows, cols, n; } shapes[] = {{1, 1, 1},  {5, 17, 3},  {7, 33, 7},   {13, 100, 13},
                                              {4, 16, 6}, {9, 47, 50}, {64, 128, 1}, {3, 5, 97}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int R = shapes[si].rows, C = shapes[si].cols, N = shapes[si].n, os = R + 3;
        float *W = malloc((size_t)R * C * 4), *x = malloc((size_t)N * C * 4), *bias = malloc((size_t)R * 4);
        float *got = malloc((size_t)N * os * 4), *want = malloc((size_t)N * os * 4);
        fill(W, (size_t)R * C, &r), fill(x, (size_t)N * C, &r), fill(bias, (size_t)R, &r);
        int t0 = N > 2 ? 1 : 0, t1 = N, r0 = R > 2 ? 1 : 0, r1 = R > 3 ? R - 1 : R;
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            for (size_t i = 0; i < (size_t)N * os; i++) want[i] = -12345.0f;
            for (int t = t0; t < t1; t++)
                for (int o = r0; o < r1; o++) {
                    float s = twin_dot16(W + (size_t)o * C, x + (size_t)t * C, C);
                    if (with_bias) s += bias[o];
                    want[(size_t)t * os + o] = s;
                }
            for (int k = 0; k < nt; k++) {
                for (size_t i = 0; i < (size_t)N * os; i++) got[i] = -12345.0f;
                tables[k]->matmul(got, os, x, W, with_bias ? bias : NULL, C, t0, t1, r0, r1);
                ck_assert_msg(memcmp(got, want, (size_t)N * os * 4) == 0, "%s matmul %dx%d n=%d bias=%d differs",
                              tables[k]->name, R, C, N, with_bias);
            }
        }
        free(W), free(x), free(bias), free(got), free(want);
    }
}
END_TEST

/* matmul_dt for bf16 and f16: each table equals the twin dot16 over the
 * weights widened by lumi_widen (exact), bitwise, on shapes that are not
 * multiples of the tiles (rows not a multiple of 4, n = 1..7 and 50, cols
 * not a multiple of 16/64); sentinels outside the sub-block catch stray
 * writes. */
START_TEST(kernels_matmul_dtypes_match_twin) {
    int nt = n_tables();
    LumiRng r;
    lumi_rng_seed(&r, 77);
    const LumiDType types[] = {LUMI_BF16, LUMI_F16};
    const int cols_any[] = {1, 7, 16, 17, 33, 47, 100, 129};
    const int rows[] = {1, 3, 5, 7, 13, 4, 37, 2}, ns[] = {1, 2, 3, 4, 5, 6, 7, 50};
    for (int ti = 0; ti < 2; ti++)
        for (int si = 0; si < 8; si++) {
            LumiDType ty = types[ti];
            int R = rows[si], C = cols_any[si], N = ns[si], os = R + 2;
            size_t rb = lumi_row_bytes(ty, C);
            float *src = malloc((size_t)R * C * 4), *Wf = malloc((size_t)R * C * 4), *x = malloc((size_t)N * C * 4);
            float *bias = malloc((size_t)R * 4), *got = malloc((size_t)N * os * 4), *want = malloc((size_t)N * os * 4);
            unsigned char *W = malloc(rb * R);
            float *scratch = lumi_aligned_alloc((size_t)LUMI_CPU_SLAB * C * 4);
            fill(src, (size_t)R * C, &r), fill(x, (size_t)N * C, &r), fill(bias, (size_t)R, &r);
            for (int i = 0; i < R; i++) lumi_narrow(ty, src + (size_t)i * C, (size_t)C, W + rb * i);
            for (int i = 0; i < R; i++) lumi_widen(ty, W + rb * i, (size_t)C, Wf + (size_t)i * C);
            int t0 = N > 2 ? 1 : 0, r0 = R > 2 ? 1 : 0, r1 = R > 3 ? R - 1 : R;
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                for (size_t i = 0; i < (size_t)N * os; i++) want[i] = -12345.0f;
                for (int t = t0; t < N; t++)
                    for (int o = r0; o < r1; o++) {
                        float v = twin_dot16(Wf + (size_t)o * C, x + (size_t)t * C, C);
                        want[(size_t)t * os + o] = with_bias ? v + bias[o] : v;
                        double exact = 0, mag = 0;
                        for (int k = 0; k < C; k++)
                            exact += (double)Wf[(size_t)o * C + k] * x[(size_t)t * C + k],
                                mag += fabs((double)Wf[(size_t)o * C + k] * x[(size_t)t * C + k]);
                        ck_assert(fabs(v - exact) <= 1e-6 * mag + 1e-30);
                    }
                for (int k = 0; k < nt; k++)
                    for (int sc = 0; sc < 2; sc++) { /* widening on the fly, and through the scratch slab */
                        for (size_t i = 0; i < (size_t)N * os; i++) got[i] = -12345.0f;
                        tables[k]->matmul_dt(ty, got, os, x, W, with_bias ? bias : NULL, C, t0, N, r0, r1,
                                             sc ? scratch : NULL);
                        ck_assert_msg(memcmp(got, want, (size_t)N * os * 4) == 0,
                                      "%s matmul_dt %s %dx%d n=%d bias=%d scratch=%d differs", tables[k]->name,
                                      lumi_dtype_name(ty), R, C, N, with_bias, sc);
                    }
            }
            free(src), free(Wf), free(x), free(bias), free(got), free(want), free(W), free(scratch);
        }
}
END_TEST

/* q8dot written independently: per block, 8 exact integer lane sums of 4
 * products, fma'd with the f32 scale dw * dx in block order into the even
 * or the odd block's 8 lanes, then (j, j+8), (j, j+4), (j, j+2), (0, 1). `flat` instead sums the whole block first and
 * runs one chain: the same math, another order. */
static float twin_q8dot(const unsigned char *row, const int8_t *xq, const float *xd, int nb, int flat) {
    float even[8] = {0}, odd[8] = {0}, one = 0;
    for (int b = 0; b < nb; b++) {
        const unsigned char *blk = row + 34 * (size_t)b;
        uint16_t h;
        memcpy(&h, blk, 2);
        float sc = lumi_f16_to_f32(h) * xd[b];
        int total = 0;
        for (int j = 0; j < 8; j++) {
            int part = 0;
            for (int i = 0; i < 4; i++) part += (int8_t)blk[2 + 4 * j + i] * xq[32 * b + 4 * j + i];
            float *lane = b % 2 ? odd : even;
            lane[j] = fmaf((float)part, sc, lane[j]);
            total += part;
        }
        one = fmaf((float)total, sc, one);
    }
    if (flat) return one;
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = even[j] + odd[j];
    float a = lane[0] + lane[4], bb = lane[1] + lane[5], c = lane[2] + lane[6], d = lane[3] + lane[7];
    return (a + c) + (bb + d);
}

/* matmul_q8 of every table against the twin, bitwise, with weights of -128
 * (which llama.cpp's files may hold) and sentinels around the sub-block. */
START_TEST(kernels_matmul_q8_match_twin) {
    int nt = n_tables();
    LumiRng r;
    lumi_rng_seed(&r, 88);
    /* 4192: rows past the VNNI kernel's prepared width (64 pairs); then
     * one-token cases (the decode loop), odd and even block counts, up to
     * rows of 65600 columns */
    const int cols[] = {32, 64, 96, 160, 288, 32, 64, 96, 4192, 96, 160, 256, 4192, 65600};
    const int rows[] = {1, 3, 5, 7, 13, 4, 37, 2, 6, 6, 7, 5, 4, 3};
    const int ns[] = {1, 2, 3, 4, 5, 6, 7, 50, 9, 1, 1, 1, 1, 1};
    int differ = 0;
    for (int si = 0; si < (int)(sizeof cols / sizeof cols[0]); si++) {
        int R = rows[si], C = cols[si], N = ns[si], os = R + 2, nb = C / 32;
        float *src = malloc((size_t)R * C * 4), *x = malloc((size_t)N * C * 4), *bias = malloc((size_t)R * 4);
        float *got = malloc((size_t)N * os * 4), *want = malloc((size_t)N * os * 4), *xd = malloc((size_t)N * nb * 4);
        unsigned char *W = malloc((size_t)R * nb * 34);
        int8_t *xq = malloc((size_t)N * C);
        fill(src, (size_t)R * C, &r), fill(x, (size_t)N * C, &r), fill(bias, (size_t)R, &r);
        for (int i = 0; i < R; i++) lumi_narrow(LUMI_Q8_0, src + (size_t)i * C, (size_t)C, W + (size_t)i * nb * 34);
        W[2 + 5] = 0x80; /* -128 */
        for (int t = 0; t < N; t++) lumi_quantize_q8_act(x + (size_t)t * C, C, xq + (size_t)t * C, xd + (size_t)t * nb);
        int t0 = N > 2 ? 1 : 0, r0 = R > 2 ? 1 : 0, r1 = R > 3 ? R - 1 : R;
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            for (size_t i = 0; i < (size_t)N * os; i++) want[i] = -12345.0f;
            for (int t = t0; t < N; t++)
                for (int o = r0; o < r1; o++) {
                    const unsigned char *row = W + (size_t)o * nb * 34;
                    float v = twin_q8dot(row, xq + (size_t)t * C, xd + (size_t)t * nb, nb, 0);
                    differ += v != twin_q8dot(row, xq + (size_t)t * C, xd + (size_t)t * nb, nb, 1);
                    want[(size_t)t * os + o] = with_bias ? v + bias[o] : v;
                }
            for (int k = 0; k < nt; k++) {
                for (size_t i = 0; i < (size_t)N * os; i++) got[i] = -12345.0f;
                tables[k]->matmul_q8(got, os, xq, xd, W, with_bias ? bias : NULL, C, t0, N, r0, r1);
                ck_assert_msg(memcmp(got, want, (size_t)N * os * 4) == 0, "%s matmul_q8 %dx%d n=%d bias=%d differs",
                              tables[k]->name, R, C, N, with_bias);
            }
        }
        free(src), free(x), free(bias), free(got), free(want), free(xd), free(W), free(xq);
    }
    ck_assert_msg(differ > 0, "another order never differed: the bitwise comparison proves nothing");
}
END_TEST

/* decode2 (two row sets of one token in flight) gives bitwise what the
 * table's one-row decode gives each set, for every dtype: sets of unequal
 * length in different matrices, with and without bias, odd and even block
 * counts, rows past the prepared q8_0 width. Sentinels catch stray rows. */
START_TEST(kernels_decode2_match_one_row) {
    LumiRng r;
    lumi_rng_seed(&r, 31);
    const LumiDType types[] = {LUMI_F32, LUMI_BF16, LUMI_F16, LUMI_Q8_0};
    const int cols_f[] = {17, 100, 129, 768}, cols_q[] = {96, 256, 768, 65600};
    int tried = 0;
    for (int k = 0; k < n_tables(); k++) {
        if (!tables[k]->decode2) continue;
        for (int ti = 0; ti < 4; ti++)
            for (int ci = 0; ci < 4; ci++) {
                LumiDType ty = types[ti];
                int C = ty == LUMI_Q8_0 ? cols_q[ci] : cols_f[ci], RA = 9, RB = 6, nb = C / 32;
                size_t rb = lumi_row_bytes(ty, C);
                float *src = malloc((size_t)(RA + RB) * C * 4), *x = malloc((size_t)C * 4), *bias = malloc(9 * 4);
                unsigned char *W = malloc(rb * (RA + RB));
                int8_t *xq = malloc((size_t)C);
                float *xd = malloc((size_t)(nb + 1) * 4), got[15], want[15];
                fill(src, (size_t)(RA + RB) * C, &r), fill(x, (size_t)C, &r), fill(bias, 9, &r);
                for (int i = 0; i < RA + RB; i++) lumi_narrow(ty, src + (size_t)i * C, (size_t)C, W + rb * i);
                if (ty == LUMI_Q8_0) lumi_quantize_q8_act(x, C, xq, xd);
                const unsigned char *A = W, *B = W + rb * RA;
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    const float *ba = with_bias ? bias : NULL;
                    for (int i = 0; i < 15; i++) got[i] = want[i] = -12345.0f;
                    /* the one-row loops: rows 1..7 of A into want[0..9), rows 0..4 of B into want[9..15) */
                    if (ty == LUMI_Q8_0) {
                        tables[k]->matmul_q8(want, 0, xq, xd, A, ba, C, 0, 1, 1, 8);
                        tables[k]->matmul_q8(want + 9, 0, xq, xd, B, NULL, C, 0, 1, 0, 5);
                    } else {
                        tables[k]->matmul_dt(ty, want, 0, x, A, ba, C, 0, 1, 1, 8, NULL);
                        tables[k]->matmul_dt(ty, want + 9, 0, x, B, NULL, C, 0, 1, 0, 5, NULL);
                    }
                    LumiRowSet a = {got, A, ba, 1, 8}, b = {got + 9, B, NULL, 0, 5};
                    tables[k]->decode2(ty, x, xq, xd, C, (ci & 1) ? &b : &a, (ci & 1) ? &a : &b);
                    ck_assert_msg(memcmp(got, want, sizeof got) == 0, "%s decode2 %s cols=%d bias=%d differs",
                                  tables[k]->name, lumi_dtype_name(ty), C, with_bias);
                    tried++;
                }
                free(src), free(x), free(bias), free(W), free(xq), free(xd);
            }
    }
    if (!tried) TH_SKIP("a kernel table with decode2", "this CPU runs no AVX-512 table");
}
END_TEST

/* Every table's quantize_q8 is lumi_quantize_q8_act bitwise (the AVX-512
 * tables vectorize it): random blocks of many magnitudes, ties at .5, a zero
 * block, -0, a lone large element. Rounding by truncation instead must
 * differ on the same data, so the comparison is sharp. */
START_TEST(kernels_quantize_q8_match_c) {
    int nt = n_tables();
    LumiRng r;
    lumi_rng_seed(&r, 808);
    enum { C = 32 * 13 };
    float x[C];
    int8_t want[C], got[C];
    float wd[C / 32], gd[C / 32];
    int differ = 0;
    for (int round = 0; round < 40; round++) {
        fill(x, C, &r);
        for (int i = 0; i < C; i++) x[i] *= (float)(1 << (i / 32 % 8)) * (round % 2 ? 1e-3f : 10.0f);
        for (int i = 0; i < 32; i++) x[32 + i] = 0.0f; /* block 1: all zero (d = 0) */
        x[64] = -0.0f;
        x[96] = 127.0f, x[97] = 2.5f, x[98] = -3.5f, x[99] = 0.5f, x[100] = -0.5f; /* block 3: ties, d = 1 */
        for (int i = 101; i < 128; i++) x[i] = 0.25f * (float)(i % 7 - 3);
        x[160] = 1e30f; /* block 5: one huge element */
        lumi_quantize_q8_act(x, C, want, wd);
        for (int b = 0; b < C / 32; b++) {
            float id = wd[b] != 0.0f ? 1.0f / wd[b] : 0.0f;
            for (int i = 0; i < 32; i++) differ += (int8_t)truncf(x[32 * b + i] * id) != want[32 * b + i];
        }
        for (int k = 0; k < nt; k++) {
            memset(got, 0x55, sizeof got), memset(gd, 0x55, sizeof gd);
            tables[k]->quantize_q8(x, C, got, gd);
            ck_assert_msg(memcmp(got, want, sizeof want) == 0 && memcmp(gd, wd, sizeof wd) == 0,
                          "%s quantize_q8 differs (round %d)", tables[k]->name, round);
        }
    }
    ck_assert_msg(differ > 0, "truncation never differed: the bitwise comparison proves nothing");
}
END_TEST

/* The activation quantizer: amax -> +-127, ties to even, all-zero blocks. */
START_TEST(q8_activation_quantizer) {
    float x[64] = {127.0f, 2.5f, -3.5f, 0.5f, -0.5f, 1.5f, -126.4f};
    int8_t q[64];
    float d[2];
    lumi_quantize_q8_act(x, 64, q, d);
    ck_assert(d[0] == 1.0f && d[1] == 0.0f);
    const int8_t want[7] = {127, 2, -4, 0, 0, 2, -126};
    for (int i = 0; i < 7; i++) ck_assert_int_eq(q[i], want[i]);
    for (int i = 32; i < 64; i++) ck_assert_int_eq(q[i], 0);
}
END_TEST

/* The dtype kernels are sharp too: rounding the activations to bf16 (what
 * vdpbf16ps would do) changes the result, so the comparison above would
 * catch a table that did. */
START_TEST(perturbed_bf16_activations_differ) {
    LumiRng r;
    lumi_rng_seed(&r, 8);
    enum { C = 96 };
    float w[C], x[C], xr[C];
    uint16_t wb[C], xb[C];
    int differ = 0;
    for (int trial = 0; trial < 20; trial++) {
        fill(w, C, &r), fill(x, C, &r);
        lumi_narrow(LUMI_BF16, w, C, wb);
        lumi_narrow(LUMI_BF16, x, C, xb), lumi_widen(LUMI_BF16, xb, C, xr);
        float a, b;
        lumi_cpu_kernels(NULL)->matmul_dt(LUMI_BF16, &a, 1, x, wb, NULL, C, 0, 1, 0, 1, NULL);
        lumi_cpu_kernels(NULL)->matmul_dt(LUMI_BF16, &b, 1, xr, wb, NULL, C, 0, 1, 0, 1, NULL);
        differ += memcmp(&a, &b, 4) != 0;
    }
    ck_assert_msg(differ > 0, "bf16-rounded activations never changed a result: the bitwise checks prove nothing");
}
END_TEST

/* The twin and the kernels agree, but a different order does not: the
 * bitwise comparisons above can fail. */
START_TEST(perturbed_order_differs) {
    LumiRng r;
    lumi_rng_seed(&r, 3);
    float a[100], b[100];
    int differ = 0;
    for (int trial = 0; trial < 20; trial++) {
        fill(a, 100, &r), fill(b, 100, &r);
        float x = lumi_cpu_kernels(NULL)->dot(a, b, 100), y = seq_dot(a, b, 100);
        differ += memcmp(&x, &y, 4) != 0;
        ck_assert(fabsf(x - y) < 1e-4f);
    }
    ck_assert_msg(differ > 0, "a sequential sum never differed from dot16: the bitwise checks prove nothing");
}
END_TEST

/* ---- backend ops against ref ---- */

static void load(const char *path, LumiModel *m) {
    LumiErr e;
    ck_assert_msg(lumi_model_load(path, m, &e) == 0, "%s", e.msg);
}

/* Host backends: a host float array is a buffer. */
#define R(p) lumi_ref((LumiBuf *)(void *)(p))

/* Odd head count, GQA (3 query heads per kv head), head_size 12. */
START_TEST(ops_match_ref_odd_heads_gqa) {
    LumiModel m;
    load(th_synth("cpu_ops.bin", 36, 52, 1, 3, 1, 41, 16, 1, 21), &m);
    const LumiConfig *c = &m.cfg;
    const LumiBackendOps *be[2] = {&lumi_backend_cpu, &lumi_backend_ref};
    void *ctx[2];
    LumiBackendOpts o = {2, 0, -1};
    LumiErr e;
    for (int i = 0; i < 2; i++) ck_assert_msg(be[i]->init(&ctx[i], &m, &m.w, &o, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_model_rope_reserve(&m, 8, &e) == 0, "%s", e.msg); /* forward does this per call */
    LumiRng r;
    lumi_rng_seed(&r, 5);
    int n = 5, pos0 = 3, T = pos0 + n;
    size_t D = (size_t)c->dim, KV = (size_t)c->kv_dim, H = (size_t)c->hidden_dim;
    float *x = malloc(T * D * 4), *w = malloc(D * 4), *kc = malloc(T * KV * 4), *vc = malloc(T * KV * 4);
    float *q = malloc(n * D * 4), *h1 = malloc(n * H * 4), *h3 = malloc(n * H * 4);
    float *out[2], *tmp[2];
    fill(x, T * D, &r), fill(w, D, &r), fill(kc, T * KV, &r), fill(vc, T * KV, &r), fill(q, n * D, &r);
    fill(h1, n * H, &r), fill(h3, n * H, &r);
    LumiMat wv = lumi_vec(w, c->dim);
    for (int i = 0; i < 2; i++) out[i] = malloc(n * H * 4), tmp[i] = malloc(n * H * 4);

    for (int i = 0; i < 2; i++) be[i]->rmsnorm(ctx[i], R(out[i]), R(x), &wv, n, c->dim, 1e-5f);
    ck_assert_msg(th_max_abs(out[0], out[1], n * D) < 1e-5, "rmsnorm");
    for (int i = 0; i < 2; i++) memcpy(out[i], q, n * D * 4), be[i]->rope(ctx[i], R(out[i]), c->dim, n, pos0, c->n_heads, c->head_size);
    ck_assert_msg(th_max_abs(out[0], out[1], n * D) < 1e-6, "rope");
    for (int i = 0; i < 2; i++) be[i]->attention(ctx[i], R(out[i]), R(q), R(kc), R(vc), n, pos0);
    ck_assert_msg(th_max_abs(out[0], out[1], n * D) < 1e-5, "attention: %g", th_max_abs(out[0], out[1], n * D));
    /* batch invariance of attention itself: query by query gives the same bits */
    for (int t = 0; t < n; t++) be[0]->attention(ctx[0], R(tmp[0] + t * D), R(q + t * D), R(kc), R(vc), 1, pos0 + t);
    ck_assert_msg(memcmp(tmp[0], out[0], n * D * 4) == 0, "attention depends on how many queries are in the call");
    for (int i = 0; i < 2; i++) memcpy(out[i], h1, n * H * 4), be[i]->swiglu(ctx[i], R(out[i]), R(h3), n * H);
    ck_assert_msg(th_max_abs(out[0], out[1], n * H) < 1e-6, "swiglu");
    for (int i = 0; i < 2; i++) memcpy(out[i], h1, n * H * 4), be[i]->add(ctx[i], R(out[i]), R(h3), n * H);
    ck_assert(memcmp(out[0], out[1], n * H * 4) == 0);
    const LumiMat *wq = &m.w.layers[0].wq;
    for (int i = 0; i < 2; i++) be[i]->matmul(ctx[i], R(out[i]), c->dim, R(x), wq, NULL, n);
    ck_assert_msg(th_max_abs(out[0], out[1], n * D) < 1e-5, "matmul");
    for (int i = 0; i < 2; i++) be[i]->embed(ctx[i], R(out[i]), &m.w.tok_emb, (int[]){3, 0, 40}, 3);
    ck_assert(memcmp(out[0], out[1], 3 * D * 4) == 0);

    for (int i = 0; i < 2; i++) be[i]->free(ctx[i]), free(out[i]), free(tmp[i]);
    free(x), free(w), free(kc), free(vc), free(q), free(h1), free(h3);
    lumi_model_free(&m);
}
END_TEST

/* matmuls (q, k, v as one job split between the threads) gives bitwise what
 * one matmul per matrix gives, in each weights= dtype, with the parts'
 * boundaries inside the threads' ranges (GQA: k and v shorter than q), and
 * when the dtypes differ (then one job each). */
START_TEST(matmuls_equal_one_matmul_each) {
    LumiModel m;
    load(th_synth("cpu_mms.bin", 256, 512, 1, 8, 2, 300, 16, 1, 23), &m);
    const LumiConfig *c = &m.cfg;
    const LumiWeights *ws[3];
    const int dts[3] = {LUMI_F32, LUMI_BF16, LUMI_Q8_0};
    LumiErr e;
    for (int d = 0; d < 3; d++) ck_assert_msg(lumi_weights_get(&m, dts[d], &ws[d], NULL, &e) == 0, "%s", e.msg);
    size_t D = (size_t)c->dim, KV = (size_t)c->kv_dim, all = 3 * (D + 2 * KV);
    float *x = malloc(3 * D * 4), *a = malloc(all * 4), *b = malloc(all * 4);
    LumiRng r;
    lumi_rng_seed(&r, 9);
    fill(x, 3 * D, &r);
    LumiBackendOpts o = {2, 0, -1};
    for (int n = 3; n >= 1; n -= 2) /* n = 1: decode, two weight streams per thread (decode2) */
    for (int d = 0; d <= 3; d++) { /* 3: q in f32, k in bf16, v in q8_0 */
        const LumiLayer *L = &ws[d < 3 ? d : 0]->layers[0];
        const LumiMat *w[3] = {&L->wq, d < 3 ? &L->wk : &ws[1]->layers[0].wk, d < 3 ? &L->wv : &ws[2]->layers[0].wv};
        void *ctx;
        ck_assert_msg(lumi_backend_cpu.init(&ctx, &m, ws[d < 3 ? d : 0], &o, &e) == 0, "%s", e.msg);
        size_t off[3] = {0, n * D, n * (D + KV)};
        int stride[3] = {c->dim, c->kv_dim, c->kv_dim};
        LumiMatmulOut mo[3];
        for (int i = 0; i < 3; i++) mo[i] = (LumiMatmulOut){R(a + off[i]), stride[i], w[i], NULL};
        for (size_t i = 0; i < all; i++) a[i] = b[i] = -12345.0f;
        lumi_backend_cpu.matmuls(ctx, R(x), n, mo, 3);
        for (int i = 0; i < 3; i++) lumi_backend_cpu.matmul(ctx, R(b + off[i]), stride[i], R(x), w[i], NULL, n);
        ck_assert_msg(memcmp(a, b, all * 4) == 0, "weights case %d, n=%d: matmuls differs from one matmul each", d, n);
        lumi_backend_cpu.free(ctx);
    }
    free(x), free(a), free(b);
    lumi_model_free(&m);
}
END_TEST

/* ---- through the harness ---- */

#define PATHS TH_PATHS
#define N_PATHS TH_N_PATHS
#define tokens th_tokens

/* backend plus one of the paths (see th_path_run) */
static float *run(const LumiModel *m, const char *backend, const char *spec, int threads, const int *tok, int T,
                  const LumiBackendOps *swap) {
    char full[160];
    snprintf(full, sizeof full, "backend=%s,%s", backend, spec);
    return th_path_run(m, full, threads, tok, T, swap);
}

/* Returns the index of the first path whose logits differ bitwise from the
 * first path's, or -1 when all 9 agree. */
static int first_mismatch(const LumiModel *m, const int *tok, int T, int threads, const LumiBackendOps *swap,
                          float **base_out) {
    size_t N = (size_t)T * m->cfg.vocab_size;
    float *base = run(m, "cpu", PATHS[0], threads, tok, T, swap);
    int bad = -1;
    for (size_t i = 1; i < N_PATHS && bad < 0; i++) {
        float *got = run(m, "cpu", PATHS[i], threads, tok, T, swap);
        if (memcmp(base, got, N * sizeof(float)) != 0) bad = (int)i;
        free(got);
    }
    if (base_out) *base_out = base;
    else free(base);
    return bad;
}

static void check_invariance(const char *path, int T) {
    LumiModel m;
    load(path, &m);
    int *tok = tokens(&m, T);
    size_t N = (size_t)T * m.cfg.vocab_size;
    float *two, *one;
    int bad = first_mismatch(&m, tok, T, 2, NULL, &two);
    ck_assert_msg(bad < 0, "%s: cpu %s differs bitwise from %s", path, bad < 0 ? "" : PATHS[bad], PATHS[0]);
    one = run(&m, "cpu", PATHS[0], 1, tok, T, NULL);
    ck_assert_msg(memcmp(one, two, N * 4) == 0, "%s: threads=1 differs bitwise from threads=2", path);
    free(one);
    one = run(&m, "cpu", PATHS[0], 3, tok, T, NULL); /* uneven shares, work stealing */
    ck_assert_msg(memcmp(one, two, N * 4) == 0, "%s: threads=3 differs bitwise from threads=2", path);
    float *ref = run(&m, "ref", PATHS[0], 0, tok, T, NULL);
    double err = th_max_abs(two, ref, N);
    ck_assert_msg(err <= 1e-4, "%s: max |cpu - ref| = %g > 1e-4", path, err);
    /* the bitwise comparison is sharp: ref, a different order, is not equal */
    ck_assert_msg(memcmp(two, ref, N * 4) != 0, "%s: cpu equals ref bitwise; the bitwise checks prove nothing", path);
    free(one), free(two), free(ref), free(tok);
    lumi_model_free(&m);
}

START_TEST(invariance_default_model) { check_invariance(DEFAULT_MODEL, 20); }
END_TEST

START_TEST(invariance_synth_gqa_unshared) {
    check_invariance(th_synth("cpu_gqa.bin", 40, 72, 2, 5, 1, 97, 32, 1, 13), 23);
}
END_TEST

/* Every kernel table this CPU runs gives the same bits end to end (they
 * share one reduction order), the forced scalar fallback included, and the
 * fallback is itself invariant across paths. */
START_TEST(isa_tables_agree_and_scalar_invariant) {
    LumiModel m;
    load(th_synth("cpu_isa.bin", 40, 72, 2, 5, 1, 97, 32, 1, 14), &m);
    int T = 19, *tok = tokens(&m, T);
    size_t N = (size_t)T * m.cfg.vocab_size;
    float *best = run(&m, "cpu", PATHS[0], 2, tok, T, NULL);
    const char *isas[] = {"avx2", "avx512", "avx512vnni"};
    for (int i = 0; i < 3; i++) {
        if (!lumi_cpu_kernels(isas[i])) continue;
        setenv("LUMI_CPU_ISA", isas[i], 1);
        float *got = run(&m, "cpu", PATHS[0], 2, tok, T, NULL);
        ck_assert_msg(memcmp(got, best, N * 4) == 0, "LUMI_CPU_ISA=%s differs bitwise", isas[i]);
        free(got);
    }
    unsetenv("LUMI_CPU_ISA");
    setenv("LUMI_FORCE_SCALAR", "1", 1);
    float *scalar;
    int bad = first_mismatch(&m, tok, T, 2, NULL, &scalar);
    ck_assert_msg(bad < 0, "scalar fallback: %s differs bitwise from %s", bad < 0 ? "" : PATHS[bad], PATHS[0]);
    ck_assert_msg(memcmp(scalar, best, N * 4) == 0, "scalar fallback differs bitwise from the SIMD table");
    unsetenv("LUMI_FORCE_SCALAR");
    setenv("LUMI_CPU_ISA", "vax", 1);
    LumiPathSpec p;
    LumiErr e;
    LumiSession s;
    lumi_path_default(&p);
    ck_assert(lumi_path_parse("backend=cpu", &p, &e) == 0);
    ck_assert_int_eq(lumi_session_open(&s, &m, &p, &e), -1);
    ck_assert_msg(strstr(e.msg, "LUMI_CPU_ISA=vax"), "%s", e.msg);
    unsetenv("LUMI_CPU_ISA");
    free(best), free(scalar), free(tok);
    lumi_model_free(&m);
}
END_TEST

/* A backend whose matmul sums in a different order when a call holds more
 * than one token (what an n-dependent GEMM blocking would do) must fail
 * the 9-path check. */
static void order_by_n_matmul(void *ctx, LumiRef outr, int os, LumiRef xr, const LumiMat *w, const LumiMat *b, int n) {
    if (n == 1) {
        lumi_backend_cpu.matmul(ctx, outr, os, xr, w, b, n);
        return;
    }
    float *out = lumi_host(outr);
    const float *x = lumi_host(xr), *W = w->data, *bias = b ? b->data : NULL;
    for (int t = 0; t < n; t++)
        for (int r = 0; r < w->rows; r++)
            out[(size_t)t * os + r] = seq_dot(W + (size_t)r * w->cols, x + (size_t)t * w->cols, w->cols) + (bias ? bias[r] : 0);
}

START_TEST(perturbed_backend_breaks_invariance) {
    LumiModel m;
    load(th_synth("cpu_perturb.bin", 40, 72, 2, 5, 1, 97, 32, 1, 15), &m);
    int T = 12, *tok = tokens(&m, T);
    LumiBackendOps bad = lumi_backend_cpu;
    bad.matmul = order_by_n_matmul;
    bad.matmuls = NULL; /* every matmul through the perturbed one */
    ck_assert_msg(first_mismatch(&m, tok, T, 2, &bad, NULL) >= 0, "an n-dependent matmul order went unnoticed");
    ck_assert_int_eq(first_mismatch(&m, tok, T, 2, NULL, NULL), -1);
    free(tok);
    lumi_model_free(&m);
}
END_TEST

/* blas: every path within 1e-4 of ref; bitwise agreement between its paths
 * is not promised (sgemm blocks by size), so it is reported, not asserted. */
START_TEST(blas_within_tolerance) {
    LumiModel m;
    load(DEFAULT_MODEL, &m);
    LumiPathSpec p;
    LumiErr e;
    LumiSession s;
    lumi_path_default(&p);
    ck_assert(lumi_path_parse("backend=blas", &p, &e) == 0);
    if (lumi_session_open(&s, &m, &p, &e) != 0) {
        ck_assert_msg(strstr(e.msg, "without OpenBLAS"), "%s", e.msg);
        lumi_model_free(&m);
        TH_SKIP("libopenblas-dev", "%s", e.msg);
    }
    lumi_session_close(&s);
    int T = 20, *tok = tokens(&m, T), differ = 0;
    size_t N = (size_t)T * m.cfg.vocab_size;
    float *ref = run(&m, "ref", PATHS[0], 0, tok, T, NULL), *first = NULL;
    for (size_t i = 0; i < N_PATHS; i++) {
        float *got = run(&m, "blas", PATHS[i], 2, tok, T, NULL);
        double err = th_max_abs(got, ref, N);
        ck_assert_msg(err <= 1e-4, "blas %s: max |blas - ref| = %g > 1e-4", PATHS[i], err);
        if (!first) first = got;
        else differ += memcmp(first, got, N * 4) != 0, free(got);
    }
    printf("NOTE %s: %d of %d blas paths differ bitwise from %s (not batch invariant, as expected)\n", __func__, differ,
           (int)N_PATHS - 1, PATHS[0]);
    free(first), free(ref), free(tok);
    lumi_model_free(&m);
}
END_TEST

/* What each pool thread may run on: cpus[tid] = its only CPU, or -1 when
 * it may run on several. */
static void report_affinity(void *arg, int tid, int nt) {
    (void)nt;
    int *cpus = arg;
    cpu_set_t set;
    cpus[tid] = -2;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    cpus[tid] = -1;
    if (CPU_COUNT(&set) == 1)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) cpus[tid] = c;
}

/* A pool that uses every CPU starts each worker on its own CPU, none on the
 * caller's (where a new thread may otherwise stay for ~100 ms, the two
 * spinning on one core), and leaves every thread free to move afterwards
 * (pools side by side are not bound to one CPU). A pool with fewer threads
 * places nothing. */
START_TEST(pool_starts_workers_off_the_callers_cpu) {
    int n = lumi_cpu_count();
    cpu_set_t own;
    ck_assert(sched_getaffinity(0, sizeof own, &own) == 0);
    if (n < 2 || CPU_COUNT(&own) != n)
        TH_SKIP("two or more CPUs", "this process may run on %d CPU(s) (%d counted)", CPU_COUNT(&own), n);
    int cpus[1024];
    ck_assert_int_le(n, 1024);
    /* several pools: a worker left to the scheduler would land on the
     * expected CPU by chance now and then, never every time */
    for (int round = 0, placed = 0; round < 8; round += placed) {
        int me = sched_getcpu();
        LumiPool *p = lumi_pool_new(n);
        placed = sched_getcpu() == me; /* else the caller moved while the pool started: again */
        lumi_pool_run(p, report_affinity, cpus); /* every worker has run */
        for (int i = 0; i < lumi_pool_size(p); i++) ck_assert_msg(cpus[i] == -1, "thread %d left pinned to CPU %d", i, cpus[i]);
        for (int i = 1, c = -1; placed && i < lumi_pool_size(p); i++) {
            do c++;
            while (!CPU_ISSET(c, &own) || c == me); /* the i-th allowed CPU other than the caller's */
            ck_assert_msg(lumi_pool_started_on(p, i) == c, "worker %d started on CPU %d, not %d (the caller on %d)", i,
                          lumi_pool_started_on(p, i), c, me);
        }
        lumi_pool_free(p);
    }
    LumiPool *p = lumi_pool_new(n - 1);
    lumi_pool_run(p, report_affinity, cpus);
    for (int i = 0; i < lumi_pool_size(p); i++) ck_assert_msg(cpus[i] == -1, "thread %d of a smaller pool pinned", i);
    lumi_pool_free(p);
}
END_TEST

Suite *suite_cpu(void) {
    Suite *s = suite_create("cpu");
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, kernels_dot_axpy_match_twins);
    tcase_add_test(k, kernels_matmul_match_twin);
    tcase_add_test(k, kernels_attention_helpers_match_twins);
    tcase_add_test(k, perturbed_order_differs);
    tcase_add_test(k, kernels_matmul_dtypes_match_twin);
    tcase_add_test(k, perturbed_bf16_activations_differ);
    tcase_add_test(k, kernels_matmul_q8_match_twin);
    tcase_add_test(k, kernels_decode2_match_one_row);
    tcase_add_test(k, kernels_quantize_q8_match_c);
    tcase_add_test(k, q8_activation_quantizer);
    tcase_add_test(k, ops_match_ref_odd_heads_gqa);
    tcase_add_test(k, matmuls_equal_one_matmul_each);
    tcase_add_test(k, pool_starts_workers_off_the_callers_cpu);
    suite_add_tcase(s, k);
    TCase *h = tcase_create("harness");
    tcase_set_timeout(h, 120);
    tcase_add_test(h, invariance_default_model);
    tcase_add_test(h, invariance_synth_gqa_unshared);
    tcase_add_test(h, isa_tables_agree_and_scalar_invariant);
    tcase_add_test(h, perturbed_backend_breaks_invariance);
    tcase_add_test(h, blas_within_tolerance);
    suite_add_tcase(s, h);
    return s;
}
