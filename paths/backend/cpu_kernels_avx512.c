/* cpu_kernels_avx512.c: the AVX-512 kernel table. This file alone is built
 * with -mavx512f/bw/dq/vl -mfma (see the Makefile); nothing here runs unless
 * CPUID reported AVX-512 (lumi_cpu_kernels). The 16 lanes of dot16 are one
 * zmm register; see cpu_kernels.h for the reduction every table shares. */
#include "cpu_kernels.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../../engine/dtype.h"
#define Q8_R 2
#include "cpu_kernels_q8.h"

#define INLINE static inline __attribute__((always_inline))

/* The fixed tree: (i, i+8), (i, i+4), (i, i+2), (0, 1). */
INLINE float hsum(__m512 a) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

INLINE __mmask16 tail_mask(int rem) { return (__mmask16)((1u << rem) - 1u); }

/* One register tile: R weight rows x T tokens, R*T zmm accumulators, each a
 * dot16 in the shared order. R, T are constants at every call site, so the
 * loops unroll and the accumulators live in registers (24 of 32 at 4x6). */
INLINE void tile(const int R, const int T, float *out, int os, const float *x, const float *W, const float *bias,
                 int cols) {
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= cols; k += 16) {
        __m512 w[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) w[r] = _mm512_loadu_ps(W + (size_t)r * cols + k);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_loadu_ps(x + (size_t)t * cols + k);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    if (k < cols) { /* the partial chunk: zeros past cols, same lanes */
        __mmask16 m = tail_mask(cols - k);
        __m512 w[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) w[r] = _mm512_maskz_loadu_ps(m, W + (size_t)r * cols + k);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)t * cols + k);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            float s = hsum(acc[r][t]);
            if (bias) s += bias[r];
            out[(size_t)t * os + r] = s;
        }
}

typedef void (*TileFn)(float *, int, const float *, const float *, const float *, int);
#define TILE(R, T)                                                                                         \
    static void tile_##R##_##T(float *o, int os, const float *x, const float *W, const float *b, int cols) { \
        tile(R, T, o, os, x, W, b, cols);                                                                  \
    }
TILE(4, 1) TILE(4, 2) TILE(4, 3) TILE(4, 4) TILE(4, 5) TILE(4, 6)
TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4) TILE(1, 5) TILE(1, 6)
static const TileFn TILES4[7] = {NULL, tile_4_1, tile_4_2, tile_4_3, tile_4_4, tile_4_5, tile_4_6};
static const TileFn TILES1[7] = {NULL, tile_1_1, tile_1_2, tile_1_3, tile_1_4, tile_1_5, tile_1_6};

static float dot(const float *a, const float *b, int n) {
    __m512 acc = _mm512_setzero_ps();
    int k = 0;
    /* unrolled (same single chain, same order): fewer loop uops, so the
     * out-of-order window holds more loads of a streamed weight row */
#pragma GCC unroll 4
    for (; k + 16 <= n; k += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), acc);
    if (k < n) {
        __mmask16 m = tail_mask(n - k);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k), acc);
    }
    return hsum(acc);
}

/* Tokens are taken in blocks of TB so the block's activations stay in L2
 * while every 4-row slab of weights (L1) is swept across them. */
enum { TB = 48 };

static void matmul(float *out, int os, const float *x, const float *W, const float *bias, int cols, int t0, int t1,
                   int r0, int r1) {
    if (t1 - t0 == 1) {
        /* Decode is a matvec bound by memory: one row at a time reads the
         * weights as one sequential stream (measured: ~25% faster than 4
         * adjacent rows in flight, with or without software prefetch); the
         * cpu backend adds a second, far-away stream through decode2. */
        for (int r = r0; r < r1; r++) {
            float s = dot(W + (size_t)r * cols, x + (size_t)t0 * cols, cols);
            out[(size_t)t0 * os + r] = bias ? s + bias[r] : s;
        }
        return;
    }
    for (int tb = t0; tb < t1; tb += TB) {
        int te = tb + TB < t1 ? tb + TB : t1;
        int r = r0;
        for (; r + 4 <= r1; r += 4)
            for (int t = tb; t < te; t += 6) {
                int T = te - t < 6 ? te - t : 6;
                TILES4[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, W + (size_t)r * cols,
                          bias ? bias + r : NULL, cols);
            }
        for (; r < r1; r++)
            for (int t = tb; t < te; t += 6) {
                int T = te - t < 6 ? te - t : 6;
                TILES1[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, W + (size_t)r * cols,
                          bias ? bias + r : NULL, cols);
            }
    }
}

/* ---- weights in bf16, f16: widened exactly in registers ---- */

/* 16 weights of a row from element k (a multiple of 16), zeros where m is
 * off: bf16 is the high half of an f32, f16 converts exactly (vcvtph2ps). */
INLINE __m512 wload(const int DT, const unsigned char *row, int k, __mmask16 m) {
    if (DT == LUMI_BF16) {
        __m256i h = _mm256_maskz_loadu_epi16(m, row + 2 * (size_t)k);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * (size_t)k));
}

/* As tile(), weights of dtype DT, rows rb bytes apart. */
INLINE void wtile(const int DT, const int R, const int T, float *out, int os, const float *x, const unsigned char *W,
                  size_t rb, const float *bias, int cols) {
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int k = 0; k < cols; k += 16) {
        __mmask16 m = cols - k >= 16 ? (__mmask16)0xFFFF : tail_mask(cols - k);
        __m512 w[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) w[r] = wload(DT, W + (size_t)r * rb, k, m);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)t * cols + k);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            float s = hsum(acc[r][t]);
            if (bias) s += bias[r];
            out[(size_t)t * os + r] = s;
        }
}

/* Decode: one row at a time, one chain (see matmul). */
INLINE float wdot(const int DT, const unsigned char *row, const float *x, int cols) {
    __m512 acc = _mm512_setzero_ps();
    int k = 0;
#pragma GCC unroll 4
    for (; k + 16 <= cols; k += 16) acc = _mm512_fmadd_ps(wload(DT, row, k, 0xFFFF), _mm512_loadu_ps(x + k), acc);
    if (k < cols) {
        __mmask16 m = tail_mask(cols - k);
        acc = _mm512_fmadd_ps(wload(DT, row, k, m), _mm512_maskz_loadu_ps(m, x + k), acc);
    }
    return hsum(acc);
}

/* 16 weights of dtype DT (f32 too) from element k, zeros where m is off */
INLINE __m512 anyload(const int DT, const unsigned char *row, int k, __mmask16 m) {
    if (DT == LUMI_F32) return _mm512_maskz_loadu_ps(m, (const float *)(const void *)row + k);
    return wload(DT, row, k, m);
}

/* Two rows' dot16 chains at once (decode2), each in the shared order */
INLINE void wdot2(const int DT, const unsigned char *ra, const unsigned char *rb, const float *x, int cols, float *sa,
                  float *sb) {
    __m512 a = _mm512_setzero_ps(), b = a;
    int k = 0;
#pragma GCC unroll 2
    for (; k + 16 <= cols; k += 16) {
        __m512 xv = _mm512_loadu_ps(x + k);
        a = _mm512_fmadd_ps(anyload(DT, ra, k, 0xFFFF), xv, a);
        b = _mm512_fmadd_ps(anyload(DT, rb, k, 0xFFFF), xv, b);
    }
    if (k < cols) {
        __mmask16 m = tail_mask(cols - k);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
        a = _mm512_fmadd_ps(anyload(DT, ra, k, m), xv, a);
        b = _mm512_fmadd_ps(anyload(DT, rb, k, m), xv, b);
    }
    *sa = hsum(a), *sb = hsum(b);
}

/* decode2's loop: rows a.r0 + i and b.r0 + i together by pair(), then the
 * longer set's rest alone by one(); both compute a row the same way. */
typedef struct {
    const float *x; /* f32/bf16/f16 */
    int cols;
    const int8_t *xq; /* q8_0: the token quantized, and its prepared pairs */
    const __m512i *ncx;
    const __m512 *dxp;
} Tok;
typedef void (*PairFn)(const Tok *t, const unsigned char *ra, const unsigned char *rb, float *sa, float *sb);
typedef float (*OneFn)(const Tok *t, const unsigned char *row);

INLINE void decode_sets(const Tok *t, size_t rb, const LumiRowSet *a, const LumiRowSet *b, PairFn pair, OneFn one) {
    int na = a->r1 - a->r0, nb = b->r1 - b->r0, n = na < nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ra = a->r0 + i, rbi = b->r0 + i;
        float sa, sb;
        pair(t, (const unsigned char *)a->W + (size_t)ra * rb, (const unsigned char *)b->W + (size_t)rbi * rb, &sa, &sb);
        a->out[ra] = a->bias ? sa + a->bias[ra] : sa;
        b->out[rbi] = b->bias ? sb + b->bias[rbi] : sb;
    }
    const LumiRowSet *l = na > n ? a : b;
    for (int r = l->r0 + n; r < l->r1; r++) {
        float s1 = one(t, (const unsigned char *)l->W + (size_t)r * rb);
        l->out[r] = l->bias ? s1 + l->bias[r] : s1;
    }
}

#define PAIR_ONE(D)                                                                                          \
    INLINE void pair_##D(const Tok *t, const unsigned char *ra, const unsigned char *rb, float *sa, float *sb) { \
        wdot2(LUMI_##D, ra, rb, t->x, t->cols, sa, sb);                                                    \
    }
PAIR_ONE(F32) PAIR_ONE(BF16) PAIR_ONE(F16)
INLINE float one_F32(const Tok *t, const unsigned char *row) { return dot((const float *)(const void *)row, t->x, t->cols); }

typedef void (*WTileFn)(float *, int, const float *, const unsigned char *, size_t, const float *, int);
#define WTILE(D, R, T)                                                                                          \
    static void wtile_##D##_##R##_##T(float *o, int os, const float *x, const unsigned char *W, size_t rb,       \
                                      const float *b, int cols) {                                              \
        wtile(LUMI_##D, R, T, o, os, x, W, rb, b, cols);                                                      \
    }
#define WTILES(D)                                                                                               \
    WTILE(D, 4, 1) WTILE(D, 4, 2) WTILE(D, 4, 3) WTILE(D, 4, 4) WTILE(D, 4, 5) WTILE(D, 4, 6)                  \
    WTILE(D, 1, 1) WTILE(D, 1, 2) WTILE(D, 1, 3) WTILE(D, 1, 4) WTILE(D, 1, 5) WTILE(D, 1, 6)                  \
    static const WTileFn WT4_##D[7] = {NULL, wtile_##D##_4_1, wtile_##D##_4_2, wtile_##D##_4_3,                \
                                       wtile_##D##_4_4, wtile_##D##_4_5, wtile_##D##_4_6};                     \
    static const WTileFn WT1_##D[7] = {NULL, wtile_##D##_1_1, wtile_##D##_1_2, wtile_##D##_1_3,                \
                                       wtile_##D##_1_4, wtile_##D##_1_5, wtile_##D##_1_6};                     \
    static float wdot_##D(const unsigned char *row, const float *x, int cols) { return wdot(LUMI_##D, row, x, cols); }
WTILES(BF16)
WTILES(F16)

INLINE float one_BF16(const Tok *t, const unsigned char *row) { return wdot_BF16(row, t->x, t->cols); }
INLINE float one_F16(const Tok *t, const unsigned char *row) { return wdot_F16(row, t->x, t->cols); }

/* decode2 of the AVX-512 table; q8_0 (256-bit integer dot here) takes each set alone */
static void decode2(LumiDType dt, const float *x, const int8_t *xq, const float *xd, int cols, const LumiRowSet *a,
                    const LumiRowSet *b) {
    Tok t = {x, cols, NULL, NULL, NULL};
    switch (dt) {
    case LUMI_F32: decode_sets(&t, (size_t)cols * 4, a, b, pair_F32, one_F32); return;
    case LUMI_BF16: decode_sets(&t, lumi_row_bytes(dt, cols), a, b, pair_BF16, one_BF16); return;
    case LUMI_F16: decode_sets(&t, lumi_row_bytes(dt, cols), a, b, pair_F16, one_F16); return;
    default:
        q8_matmul(a->out, 0, xq, xd, a->W, a->bias, cols, 0, 1, a->r0, a->r1);
        q8_matmul(b->out, 0, xq, xd, b->W, b->bias, cols, 0, 1, b->r0, b->r1);
    }
}

/* Rows [0, n) of W widened exactly into dst (rows cols floats apart). */
static void widen_rows(LumiDType dt, const unsigned char *W, size_t rb, int n, int cols, float *dst) {
    for (int r = 0; r < n; r++) {
        const unsigned char *row = W + (size_t)r * rb;
        float *d = dst + (size_t)r * cols;
        for (int k = 0; k < cols; k += 16) {
            __mmask16 m = cols - k >= 16 ? (__mmask16)0xFFFF : tail_mask(cols - k);
            __m512 w = dt == LUMI_BF16 ? wload(LUMI_BF16, row, k, m) : wload(LUMI_F16, row, k, m);
            _mm512_mask_storeu_ps(d + k, m, w);
        }
    }
}

static void matmul_dt(LumiDType dt, float *out, int os, const float *x, const void *Wv, const float *bias, int cols,
                      int t0, int t1, int r0, int r1, float *scratch) {
    if (dt == LUMI_F32) {
        matmul(out, os, x, Wv, bias, cols, t0, t1, r0, r1);
        return;
    }
    if (scratch && t1 - t0 > 1) {
        /* prefill: for each block of TB tokens (kept in L2, as the f32
         * matmul does), widen a slab of rows once and sweep the f32 tiles
         * over it; a row is widened once per TB tokens */
        size_t rb = lumi_row_bytes(dt, cols);
        for (int tb = t0; tb < t1; tb += TB) {
            int te = tb + TB < t1 ? tb + TB : t1;
            for (int s0 = r0; s0 < r1; s0 += LUMI_CPU_SLAB) {
                int s1 = s0 + LUMI_CPU_SLAB < r1 ? s0 + LUMI_CPU_SLAB : r1, r = s0;
                widen_rows(dt, (const unsigned char *)Wv + (size_t)s0 * rb, rb, s1 - s0, cols, scratch);
                for (; r + 4 <= s1; r += 4)
                    for (int t = tb; t < te; t += 6) {
                        int T = te - t < 6 ? te - t : 6;
                        TILES4[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, scratch + (size_t)(r - s0) * cols,
                                  bias ? bias + r : NULL, cols);
                    }
                for (; r < s1; r++)
                    for (int t = tb; t < te; t += 6) {
                        int T = te - t < 6 ? te - t : 6;
                        TILES1[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, scratch + (size_t)(r - s0) * cols,
                                  bias ? bias + r : NULL, cols);
                    }
            }
        }
        return;
    }
    const WTileFn *t4 = dt == LUMI_BF16 ? WT4_BF16 : WT4_F16;
    const WTileFn *t1s = dt == LUMI_BF16 ? WT1_BF16 : WT1_F16;
    float (*dotf)(const unsigned char *, const float *, int) =
        dt == LUMI_BF16 ? wdot_BF16 : wdot_F16;
    const unsigned char *W = Wv;
    size_t rb = lumi_row_bytes(dt, cols);
    if (t1 - t0 == 1) {
        /* Decode: one row at a time, as for f32 (measured: four adjacent
         * rows in flight were 1.5-2x slower per core; decode2 pairs rows
         * far apart instead) */
        for (int r = r0; r < r1; r++) {
            float s = dotf(W + (size_t)r * rb, x + (size_t)t0 * cols, cols);
            out[(size_t)t0 * os + r] = bias ? s + bias[r] : s;
        }
        return;
    }
    for (int tb = t0; tb < t1; tb += TB) {
        int te = tb + TB < t1 ? tb + TB : t1;
        int r = r0;
        for (; r + 4 <= r1; r += 4)
            for (int t = tb; t < te; t += 6) {
                int T = te - t < 6 ? te - t : 6;
                t4[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, W + (size_t)r * rb, rb,
                      bias ? bias + r : NULL, cols);
            }
        for (; r < r1; r++)
            for (int t = tb; t < te; t += 6) {
                int T = te - t < 6 ? te - t : 6;
                t1s[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, W + (size_t)r * rb, rb,
                       bias ? bias + r : NULL, cols);
            }
    }
}

static void axpy(float *o, float p, const float *v, int n) {
    __m512 pv = _mm512_set1_ps(p);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(o + i, _mm512_fmadd_ps(pv, _mm512_loadu_ps(v + i), _mm512_loadu_ps(o + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 r = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m, v + i), _mm512_maskz_loadu_ps(m, o + i));
        _mm512_mask_storeu_ps(o + i, m, r);
    }
}

/* Four keys at a time: four independent dot16 chains hide the FMA latency
 * that one short (head_size) chain per call would expose. */
static void dots(float *out, const float *q, const float *k, size_t stride, int n, int len) {
    int s = 0;
    for (; s + 4 <= n; s += 4) {
        const float *k0 = k + (size_t)s * stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 16 <= len; i += 16) {
            __m512 qv = _mm512_loadu_ps(q + i);
            a0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + i), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + stride + i), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + 2 * stride + i), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + 3 * stride + i), a3);
        }
        if (i < len) {
            __mmask16 m = tail_mask(len - i);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k0 + i), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k0 + stride + i), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k0 + 2 * stride + i), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k0 + 3 * stride + i), a3);
        }
        out[s] = hsum(a0), out[s + 1] = hsum(a1), out[s + 2] = hsum(a2), out[s + 3] = hsum(a3);
    }
    for (; s < n; s++) out[s] = dot(q, k + (size_t)s * stride, len);
}

/* o stays in NV registers across all n keys (len <= 128). */
INLINE void axpys_n(const int NV, float *o, const float *p, const float *v, size_t stride, int n, __mmask16 last) {
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[j] = _mm512_maskz_loadu_ps(j == NV - 1 ? last : 0xFFFF, o + 16 * j);
    for (int s = 0; s < n; s++) {
        __m512 pv = _mm512_set1_ps(p[s]);
        const float *vs = v + (size_t)s * stride;
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++)
            acc[j] = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(j == NV - 1 ? last : 0xFFFF, vs + 16 * j), acc[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) _mm512_mask_storeu_ps(o + 16 * j, j == NV - 1 ? last : 0xFFFF, acc[j]);
}

static void axpys(float *o, const float *p, const float *v, size_t stride, int n, int len) {
    __mmask16 last = len % 16 ? tail_mask(len % 16) : (__mmask16)0xFFFF;
    switch ((len + 15) / 16) {
    case 1: axpys_n(1, o, p, v, stride, n, last); return;
    case 2: axpys_n(2, o, p, v, stride, n, last); return;
    case 3: axpys_n(3, o, p, v, stride, n, last); return;
    case 4: axpys_n(4, o, p, v, stride, n, last); return;
    case 5: axpys_n(5, o, p, v, stride, n, last); return;
    case 6: axpys_n(6, o, p, v, stride, n, last); return;
    case 7: axpys_n(7, o, p, v, stride, n, last); return;
    case 8: axpys_n(8, o, p, v, stride, n, last); return;
    default:
        for (int s = 0; s < n; s++) axpy(o, p[s], v + (size_t)s * stride, len);
    }
}

static double read_sum(const float *p, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    double s = hsum(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    for (; i < n; i++) s += p[i];
    return s;
}

/* 12 independent chains cover the FMA latency x throughput of current cores. */
static double fma_burn(long iters, double *flops) {
    __m512 a[12];
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++) a[j] = _mm512_set1_ps(1.0f + (float)j * 1e-3f);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], m, c);
    }
    __m512 s = a[0];
    for (int j = 1; j < 12; j++) s = _mm512_add_ps(s, a[j]);
    *flops = (double)iters * 12 * 16 * 2;
    return hsum(s);
}

/* lumi_quantize_q8_act, the same f32 operations 16 lanes at a time: amax
 * by max (exact, so the order is free; max_ps returns its second operand
 * where |x| is NaN, keeping the running max as fmaxf does), the scalar
 * d = amax / 127 and 1 / d, then x * id rounded in the current mode (to
 * nearest even, as nearbyintf) and truncated to int8 as the C cast does. */
static void quantize_q8(const float *x, int cols, int8_t *q, float *dx) {
    const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int b = 0; b < cols / LUMI_Q8_BLOCK; b++) {
        const float *xb = x + (size_t)LUMI_Q8_BLOCK * b;
        __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        __m512 m = _mm512_max_ps(_mm512_and_ps(v0, absm), _mm512_setzero_ps());
        m = _mm512_max_ps(_mm512_and_ps(v1, absm), m);
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        dx[b] = d;
        __m512 s = _mm512_set1_ps(id);
        int8_t *qb = q + (size_t)LUMI_Q8_BLOCK * b;
        _mm_storeu_si128((__m128i *)(void *)qb, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, s))));
        _mm_storeu_si128((__m128i *)(void *)(qb + 16), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, s))));
    }
}

/* ---- q8_0 with AVX512_VNNI: a pair of blocks per 512-bit register ----
 * The same q8dot as cpu_kernels_q8.h: lanes 0-7 hold the even block of a
 * pair, 8-15 the odd one, and vpdpbusd's four-product lane sums are the
 * same exact integers as vpmaddubsw + vpmaddwd's. A missing odd block (an
 * odd number of blocks) contributes 0 * 0 to its lanes, which leaves them
 * as they are (an accumulator is never -0). */
/* Only these functions may use AVX512_VNNI (the file is compiled without
 * -mavx512vnni, so the plain avx512 table never contains a VNNI
 * instruction and runs on AVX-512 CPUs that lack it). */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 8)
#define LUMI_HAVE_VNNI_TARGET 1
#define VNNI __attribute__((target("avx512vnni")))
INLINE VNNI __m512i q8v_w(const unsigned char *row, int b, int nb) {
    __m256i hi = b + 1 < nb ? q8_load_w(row, b + 1) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(q8_load_w(row, b)), hi, 1);
}

INLINE VNNI __m512i q8v_x(const int8_t *xq, int b, int nb) {
    const int8_t *p = xq + (size_t)b * LUMI_Q8_BLOCK;
    return b + 1 < nb ? _mm512_loadu_si512(p) : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

INLINE VNNI __m512 q8v_pair(float a, float b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

/* |w| . (x negated where w < 0): the products qw * qx, 4 per lane (decode) */
INLINE VNNI __m512i q8v_isum(__m512i wa, __mmask64 neg, __m512i x) {
    __m512i xs = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), wa, xs);
}

/* Decode (one token) takes the sign fix-up to the activation side: the
 * weights are made unsigned (qw + 128, an xor) and the activations stay
 * signed, so (qw + 128) . qx - 128 * (sum of the four qx) = qw . qx, the
 * same exact integers. The subtrahend and the pair of block scales depend
 * on the token alone: q8d_prep computes them once per call, and a block
 * pair of a row costs an xor, one vpdpbusd (starting from the prepared
 * correction), the conversion, one multiply of the scales and the fma
 * (measured: +30% over q8v_dot on weights in cache). Rows of up to
 * Q8D_PAIRS pairs; longer ones take q8v_dot. */
#define Q8D_PAIRS 256

/* f16 scales of blocks b (at q) and b+1 (34 bytes on) as [d_b x8, d_b+1 x8] */
INLINE VNNI __m512 q8d_dw(const unsigned char *q) {
    uint16_t h0, h1;
    memcpy(&h0, q, 2);
    memcpy(&h1, q + LUMI_Q8_BLOCK_BYTES, 2);
    __m128 f = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(h0), h1, 1));
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(f));
}

/* -128 * (sum of each lane's four qx) and [dx_b x8, dx_b+1 x8] per pair; an
 * odd last block gets zeros in the missing half (as q8v_dot's pair) */
static VNNI void q8d_prep(const int8_t *xq, const float *xd, int nb, __m512i *ncx, __m512 *dxp) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < nb; b += 2) {
        __m512i x = q8v_x(xq, b, nb);
        ncx[b / 2] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, x));
        dxp[b / 2] = q8v_pair(xd[b], b + 1 < nb ? xd[b + 1] : 0.0f);
    }
}

/* The 64 weights of block pair p of a row made unsigned (both blocks exist) */
INLINE VNNI __m512i q8d_w(const unsigned char *q) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)(q + 2));
    __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(q + LUMI_Q8_BLOCK_BYTES + 2));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8((char)0x80));
}

/* acc += block pair p of row q (its byte 0) against the token, in q8dot's order */
INLINE VNNI __m512 q8d_step(__m512 acc, const unsigned char *q, __m512i x, __m512i ncx, __m512 dxp) {
    __m512i s = _mm512_dpbusd_epi32(ncx, q8d_w(q), x);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(q8d_dw(q), dxp), acc);
}

/* An odd last block alone: zero weights and activations in the odd half */
INLINE VNNI __m512 q8d_last(__m512 acc, const unsigned char *row, const int8_t *xq, __m512i ncx, __m512 dxp, int nb) {
    __m512i w = _mm512_xor_si512(q8v_w(row, nb - 1, nb), _mm512_set1_epi8((char)0x80));
    __m512i s = _mm512_dpbusd_epi32(ncx, w, q8v_x(xq, nb - 1, nb));
    __m512 dw = q8v_pair(q8_dw(row, nb - 1), 0.0f);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, dxp), acc);
}

INLINE VNNI float q8d_sum(__m512 acc) {
    return q8_hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
}

INLINE VNNI float q8d_dot(const unsigned char *row, const int8_t *xq, const __m512i *ncx, const __m512 *dxp, int nb) {
    __m512 acc = _mm512_setzero_ps();
    int np = nb / 2;
    for (int p = 0; p < np; p++)
        acc = q8d_step(acc, row + (size_t)p * 2 * LUMI_Q8_BLOCK_BYTES, _mm512_loadu_si512(xq + (size_t)p * 2 * LUMI_Q8_BLOCK),
                       ncx[p], dxp[p]);
    if (nb & 1) acc = q8d_last(acc, row, xq, ncx[np], dxp[np], nb);
    return q8d_sum(acc);
}

/* Two rows at once (two weight streams), each in q8d_dot's order */
INLINE VNNI void q8d_dot2(const unsigned char *ra, const unsigned char *rb, const int8_t *xq, const __m512i *ncx,
                          const __m512 *dxp, int nb, float *sa, float *sb) {
    __m512 a = _mm512_setzero_ps(), b = a;
    int np = nb / 2;
    for (int p = 0; p < np; p++) {
        __m512i x = _mm512_loadu_si512(xq + (size_t)p * 2 * LUMI_Q8_BLOCK);
        size_t o = (size_t)p * 2 * LUMI_Q8_BLOCK_BYTES;
        a = q8d_step(a, ra + o, x, ncx[p], dxp[p]);
        b = q8d_step(b, rb + o, x, ncx[p], dxp[p]);
    }
    if (nb & 1) a = q8d_last(a, ra, xq, ncx[np], dxp[np], nb), b = q8d_last(b, rb, xq, ncx[np], dxp[np], nb);
    *sa = q8d_sum(a), *sb = q8d_sum(b);
}

INLINE VNNI float q8v_dot(const unsigned char *row, const int8_t *xq, const float *xd, int nb) {
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < nb; b += 2) {
        __m512i w = q8v_w(row, b, nb);
        int odd = b + 1 < nb;
        __m512 sc = _mm512_mul_ps(q8v_pair(q8_dw(row, b), odd ? q8_dw(row, b + 1) : 0.0f),
                                  q8v_pair(xd[b], odd ? xd[b + 1] : 0.0f));
        __m512i p = q8v_isum(_mm512_abs_epi8(w), _mm512_movepi8_mask(w), q8v_x(xq, b, nb));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc);
    }
    return q8_hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
}
INLINE VNNI void pair_q8(const Tok *t, const unsigned char *ra, const unsigned char *rb, float *sa, float *sb) {
    q8d_dot2(ra, rb, t->xq, t->ncx, t->dxp, t->cols / LUMI_Q8_BLOCK, sa, sb);
}
INLINE VNNI float one_q8(const Tok *t, const unsigned char *row) {
    return q8d_dot(row, t->xq, t->ncx, t->dxp, t->cols / LUMI_Q8_BLOCK);
}

/* Decode of one token (xq, xd: its row) against the rows of a and of b, in
 * pairs (decode_sets). Rows of up to Q8D_PAIRS block pairs get the token
 * prepared on the stack; longer ones take q8v_dot, each set alone. */
static VNNI void q8v_decode(const int8_t *xq, const float *xd, int cols, const LumiRowSet *a, const LumiRowSet *b) {
    int nb = cols / LUMI_Q8_BLOCK;
    size_t rb = (size_t)nb * LUMI_Q8_BLOCK_BYTES;
    if ((nb + 1) / 2 > Q8D_PAIRS) {
        const LumiRowSet *sets[2] = {a, b};
        for (int i = 0; i < 2; i++)
            for (int r = sets[i]->r0; r < sets[i]->r1; r++) {
                float s = q8v_dot((const unsigned char *)sets[i]->W + (size_t)r * rb, xq, xd, nb);
                sets[i]->out[r] = sets[i]->bias ? s + sets[i]->bias[r] : s;
            }
        return;
    }
    __m512i ncx[Q8D_PAIRS];
    __m512 dxp[Q8D_PAIRS];
    q8d_prep(xq, xd, nb, ncx, dxp);
    Tok t = {NULL, cols, xq, ncx, dxp};
    decode_sets(&t, rb, a, b, pair_q8, one_q8);
}


/* Prefill tile: R rows x T tokens, one zmm accumulator per pair. The sign
 * fix-up leaves the inner loop: each token's block is made unsigned once
 * (xu = qx + 128, an xor), and qw . qx = qw . xu - 128 * (sum of the four
 * qw), so the row's correction, computed once per block pair, is the
 * starting value of vpdpbusd: one integer instruction per row and token,
 * and the same exact integer sums as before (every int8 works, -128 too). */
/* -128 * (sum of each lane's four qw): vpdpbusd's starting value */
INLINE VNNI __m512i q8v_nc(__m512i w) {
    return _mm512_sub_epi32(_mm512_setzero_si512(),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), w));
}

/* Rows of up to Q8V_PAIRS pairs of blocks (4096 columns) get their scale
 * vectors and corrections prepared on the stack (32 KB) once per block of
 * tokens rather than once per tile: measured +8% on 768x768 here */
#define Q8V_PAIRS 64
#ifndef Q8V_R
#define Q8V_R 4
#endif
#ifndef Q8V_T
#define Q8V_T 6
#endif
INLINE VNNI void q8v_tile(const int R, const int T, float *out, int os, const int8_t *xq, const float *xd,
                          const unsigned char *W, size_t rb, const float *bias, int cols, const __m512 *pdw,
                          const __m512i *pnc) {
    int nb = cols / LUMI_Q8_BLOCK;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[Q8V_R][8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b += 2) {
        int odd = b + 1 < nb;
        __m512i w[Q8V_R], nc[Q8V_R];
        __m512 dw[Q8V_R];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const unsigned char *row = W + (size_t)r * rb;
            w[r] = q8v_w(row, b, nb);
            if (pdw) { /* prepared once per token block (q8v_prep) */
                nc[r] = pnc[(size_t)r * Q8V_PAIRS + (size_t)b / 2];
                dw[r] = pdw[(size_t)r * Q8V_PAIRS + (size_t)b / 2];
            } else {
                nc[r] = q8v_nc(w[r]);
                dw[r] = q8v_pair(q8_dw(row, b), odd ? q8_dw(row, b + 1) : 0.0f);
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            /* a missing odd block: w is 0 there, so its lanes sum to 0 */
            __m512i xu = _mm512_xor_si512(q8v_x(xq + (size_t)t * cols, b, nb), flip);
            const float *d = xd + (size_t)t * nb;
            __m512 dx = q8v_pair(d[b], odd ? d[b + 1] : 0.0f);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(nc[r], xu, w[r])),
                                            _mm512_mul_ps(dw[r], dx), acc[r][t]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            __m512 a = acc[r][t];
            float s = q8_hsum8(_mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1)));
            out[(size_t)t * os + r] = bias ? s + bias[r] : s;
        }
}

#define Q8VTILE(R, T)                                                                                             \
    static VNNI void q8v_tile_##R##_##T(float *o, int os, const int8_t *xq, const float *xd, const unsigned char *W,   \
                                   size_t rb, const float *b, int cols, const __m512 *pdw, const __m512i *pnc) {   \
        q8v_tile(R, T, o, os, xq, xd, W, rb, b, cols, pdw, pnc);                                                  \
    }
#define Q8VTILES(R) Q8VTILE(R, 1) Q8VTILE(R, 2) Q8VTILE(R, 3) Q8VTILE(R, 4) Q8VTILE(R, 5) Q8VTILE(R, 6) Q8VTILE(R, 7) Q8VTILE(R, 8)
#define Q8VTABLE(R)                                                                                          \
    {NULL, q8v_tile_##R##_1, q8v_tile_##R##_2, q8v_tile_##R##_3, q8v_tile_##R##_4, q8v_tile_##R##_5,       \
     q8v_tile_##R##_6, q8v_tile_##R##_7, q8v_tile_##R##_8}
#define Q8VTILES_R(R) Q8VTILES(R)
#define Q8VTABLE_R(R) Q8VTABLE(R)
Q8VTILES_R(Q8V_R) Q8VTILES(1)
typedef void (*Q8VTileFn)(float *, int, const int8_t *, const float *, const unsigned char *, size_t, const float *,
                          int, const __m512 *, const __m512i *);
static const Q8VTileFn Q8VR[9] = Q8VTABLE_R(Q8V_R);
static const Q8VTileFn Q8V1[9] = Q8VTABLE(1);

/* The per-pair scale vectors and corrections of rows [0, R) */
static VNNI void q8v_prep(const unsigned char *W, size_t rb, int R, int nb, __m512 *pdw, __m512i *pnc) {
    for (int r = 0; r < R; r++)
        for (int b = 0; b < nb; b += 2) {
            const unsigned char *row = W + (size_t)r * rb;
            int odd = b + 1 < nb;
            pnc[(size_t)r * Q8V_PAIRS + (size_t)b / 2] = q8v_nc(q8v_w(row, b, nb));
            pdw[(size_t)r * Q8V_PAIRS + (size_t)b / 2] = q8v_pair(q8_dw(row, b), odd ? q8_dw(row, b + 1) : 0.0f);
        }
}

static VNNI void q8v_matmul(float *out, int os, const int8_t *xq, const float *xd, const void *Wv, const float *bias,
                       int cols, int t0, int t1, int r0, int r1) {
    int nb = cols / LUMI_Q8_BLOCK;
    size_t rb = (size_t)nb * LUMI_Q8_BLOCK_BYTES;
    const unsigned char *W = Wv;
    if (t1 - t0 == 1) { /* decode: the rows as one set, none beside them */
        LumiRowSet a = {out + (size_t)t0 * os, W, bias, r0, r1}, none = {NULL, NULL, NULL, 0, 0};
        q8v_decode(xq + (size_t)t0 * cols, xd + (size_t)t0 * nb, cols, &a, &none);
        return;
    }
    /* rows of up to Q8V_PAIRS pairs: each group's scales and corrections
     * are prepared once per block of 64 tokens (kept in L2), not per tile */
    int prep = (nb + 1) / 2 <= Q8V_PAIRS;
    __m512 pdw[Q8V_R * Q8V_PAIRS];
    __m512i pnc[Q8V_R * Q8V_PAIRS];
    for (int tb = t0; tb < t1; tb += 64) {
        int te = tb + 64 < t1 ? tb + 64 : t1;
        for (int r = r0; r < r1;) {
            int R = r + Q8V_R <= r1 ? Q8V_R : 1;
            if (prep) q8v_prep(W + (size_t)r * rb, rb, R, nb, pdw, pnc);
            for (int t = tb; t < te; t += Q8V_T) {
                int T = te - t < Q8V_T ? te - t : Q8V_T;
                (R == Q8V_R ? Q8VR : Q8V1)[T](out + (size_t)t * os + r, os, xq + (size_t)t * cols, xd + (size_t)t * nb,
                                          W + (size_t)r * rb, rb, bias ? bias + r : NULL, cols, prep ? pdw : NULL,
                                          prep ? pnc : NULL);
            }
            r += R;
        }
    }
}

/* decode2 with AVX512_VNNI: q8_0 rows in pairs too */
static VNNI void decode2_vnni(LumiDType dt, const float *x, const int8_t *xq, const float *xd, int cols,
                              const LumiRowSet *a, const LumiRowSet *b) {
    if (dt == LUMI_Q8_0) q8v_decode(xq, xd, cols, a, b);
    else decode2(dt, x, xq, xd, cols, a, b);
}

static const LumiCpuKernels KV = {"avx512vnni", matmul, dot, matmul_dt, q8v_matmul, axpy, dots, axpys, read_sum,
                                  fma_burn, quantize_q8, decode2_vnni};
const LumiCpuKernels *lumi_cpu_kernels_avx512vnni(void) { return &KV; }
#else
const LumiCpuKernels *lumi_cpu_kernels_avx512vnni(void) { return NULL; }
#endif

static const LumiCpuKernels K = {"avx512", matmul, dot, matmul_dt, q8_matmul, axpy, dots, axpys, read_sum, fma_burn,
                                 quantize_q8, decode2};
const LumiCpuKernels *lumi_cpu_kernels_avx512(void) { return &K; }
#else
const LumiCpuKernels *lumi_cpu_kernels_avx512(void) { return NULL; }
const LumiCpuKernels *lumi_cpu_kernels_avx512vnni(void) { return NULL; }
#endif
