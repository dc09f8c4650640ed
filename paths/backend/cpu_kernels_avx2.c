/* cpu_kernels_avx2.c: the AVX2+FMA kernel table. Built alone with -mavx2
 * -mfma (see the Makefile) and used only when CPUID reports both. The 16
 * lanes of dot16 are two ymm registers (lanes 0-7 and 8-15), so results are
 * bitwise those of the AVX-512 and C tables (cpu_kernels.h). */
#include "cpu_kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../../engine/dtype.h"
#include "cpu_kernels_q8.h"

#define INLINE static inline __attribute__((always_inline))

/* lo = lanes 0-7, hi = lanes 8-15; tree (i, i+8), (i, i+4), (i, i+2), (0, 1) */
INLINE float hsum(__m256 lo, __m256 hi) {
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

static const int32_t MASKS[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
/* lanes [0, c) on, c in 0..8 */
INLINE __m256i mask8(int c) { return _mm256_loadu_si256((const __m256i *)(MASKS + 8 - c)); }

/* Loads 8 lanes at p of which the first `valid` (0..8) are real, zeros after. */
INLINE __m256 load8(const float *p, int valid) {
    if (valid >= 8) return _mm256_loadu_ps(p);
    return _mm256_maskload_ps(p, mask8(valid > 0 ? valid : 0));
}

/* R rows x T tokens of dot16 accumulators, two ymm each (12 + 2 + 1 of 16
 * registers at 2x3). */
INLINE void tile(const int R, const int T, float *out, int os, const float *x, const float *W, const float *bias,
                 int cols) {
    __m256 acc[2][3][2];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    for (int k = 0; k < cols; k += 16) {
        int rem = cols - k; /* >= 16 except in the last, partial chunk */
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            int valid = rem - 8 * h;
            __m256 w[2];
#pragma GCC unroll 2
            for (int r = 0; r < R; r++) w[r] = load8(W + (size_t)r * cols + k + 8 * h, valid);
#pragma GCC unroll 3
            for (int t = 0; t < T; t++) {
                __m256 xv = load8(x + (size_t)t * cols + k + 8 * h, valid);
#pragma GCC unroll 2
                for (int r = 0; r < R; r++) acc[r][t][h] = _mm256_fmadd_ps(w[r], xv, acc[r][t][h]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            float s = hsum(acc[r][t][0], acc[r][t][1]);
            if (bias) s += bias[r];
            out[(size_t)t * os + r] = s;
        }
}

typedef void (*TileFn)(float *, int, const float *, const float *, const float *, int);
#define TILE(R, T)                                                                                         \
    static void tile_##R##_##T(float *o, int os, const float *x, const float *W, const float *b, int cols) { \
        tile(R, T, o, os, x, W, b, cols);                                                                  \
    }
TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(1, 1) TILE(1, 2) TILE(1, 3)
static const TileFn TILES2[4] = {NULL, tile_2_1, tile_2_2, tile_2_3};
static const TileFn TILES1[4] = {NULL, tile_1_1, tile_1_2, tile_1_3};

enum { TB = 48 };

static void matmul(float *out, int os, const float *x, const float *W, const float *bias, int cols, int t0, int t1,
                   int r0, int r1) {
    for (int tb = t0; tb < t1; tb += TB) {
        int te = tb + TB < t1 ? tb + TB : t1;
        int r = r0;
        for (; r < r1; r += 2) {
            const TileFn *tiles = r + 2 <= r1 ? TILES2 : TILES1;
            for (int t = tb; t < te; t += 3) {
                int T = te - t < 3 ? te - t : 3;
                tiles[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, W + (size_t)r * cols,
                         bias ? bias + r : NULL, cols);
            }
        }
    }
}

/* ---- weights in bf16, f16, q8_0, widened exactly (cpu_kernels.h) ---- */

/* 8 weights of a row from element k, the first `valid` real, zeros after.
 * f16 needs F16C (checked with AVX2 at selection). AVX2 has no 16-bit
 * masked load, so a partial chunk goes through a zeroed copy. */
INLINE __m256 wload8(const int DT, const unsigned char *row, int k, int valid) {
    __m128i h;
    if (valid >= 8) {
        h = _mm_loadu_si128((const __m128i *)(const void *)(row + 2 * (size_t)k));
    } else {
        uint16_t tmp[8] = {0};
        if (valid > 0) memcpy(tmp, row + 2 * (size_t)k, (size_t)valid * 2);
        h = _mm_loadu_si128((const __m128i *)(const void *)tmp);
    }
    if (DT == LUMI_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE void wtile(const int DT, const int R, const int T, float *out, int os, const float *x, const unsigned char *W,
                  size_t rb, const float *bias, int cols) {
    __m256 acc[2][3][2];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    for (int k = 0; k < cols; k += 16) {
        int rem = cols - k;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            int valid = rem - 8 * h;
            __m256 w[2];
#pragma GCC unroll 2
            for (int r = 0; r < R; r++) w[r] = wload8(DT, W + (size_t)r * rb, k + 8 * h, valid);
#pragma GCC unroll 3
            for (int t = 0; t < T; t++) {
                __m256 xv = load8(x + (size_t)t * cols + k + 8 * h, valid);
#pragma GCC unroll 2
                for (int r = 0; r < R; r++) acc[r][t][h] = _mm256_fmadd_ps(w[r], xv, acc[r][t][h]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            float s = hsum(acc[r][t][0], acc[r][t][1]);
            if (bias) s += bias[r];
            out[(size_t)t * os + r] = s;
        }
}

#define WTILE(D, R, T)                                                                                    \
    static void wtile_##D##_##R##_##T(float *o, int os, const float *x, const unsigned char *W, size_t rb, \
                                      const float *b, int cols) {                                        \
        wtile(LUMI_##D, R, T, o, os, x, W, rb, b, cols);                                                \
    }
typedef void (*WTileFn)(float *, int, const float *, const unsigned char *, size_t, const float *, int);
#define WTILES(D)                                                                                          \
    WTILE(D, 2, 1) WTILE(D, 2, 2) WTILE(D, 2, 3) WTILE(D, 1, 1) WTILE(D, 1, 2) WTILE(D, 1, 3)             \
    static const WTileFn WT2_##D[4] = {NULL, wtile_##D##_2_1, wtile_##D##_2_2, wtile_##D##_2_3};           \
    static const WTileFn WT1_##D[4] = {NULL, wtile_##D##_1_1, wtile_##D##_1_2, wtile_##D##_1_3};
WTILES(BF16)
WTILES(F16)

/* Rows [0, n) of W widened exactly into dst (rows cols floats apart). */
static void widen_rows(LumiDType dt, const unsigned char *W, size_t rb, int n, int cols, float *dst) {
    for (int r = 0; r < n; r++) {
        const unsigned char *row = W + (size_t)r * rb;
        float *d = dst + (size_t)r * cols;
        for (int k = 0; k < cols; k += 8) {
            int valid = cols - k;
            __m256 w = dt == LUMI_BF16 ? wload8(LUMI_BF16, row, k, valid) : wload8(LUMI_F16, row, k, valid);
            if (valid >= 8) _mm256_storeu_ps(d + k, w);
            else _mm256_maskstore_ps(d + k, mask8(valid), w);
        }
    }
}

static void matmul_dt(LumiDType dt, float *out, int os, const float *x, const void *Wv, const float *bias, int cols,
                      int t0, int t1, int r0, int r1, float *scratch) {
    if (dt == LUMI_F32) {
        matmul(out, os, x, Wv, bias, cols, t0, t1, r0, r1);
        return;
    }
    if (scratch && t1 - t0 > 1) { /* prefill: widen a slab once, then the f32 kernel over it */
        size_t rb = lumi_row_bytes(dt, cols);
        for (int s0 = r0; s0 < r1; s0 += LUMI_CPU_SLAB) {
            int s1 = s0 + LUMI_CPU_SLAB < r1 ? s0 + LUMI_CPU_SLAB : r1;
            widen_rows(dt, (const unsigned char *)Wv + (size_t)s0 * rb, rb, s1 - s0, cols, scratch);
            /* rows s0.. of the slab are rows 0.. of scratch: shift out and bias to match */
            matmul(out + s0, os, x, scratch, bias ? bias + s0 : NULL, cols, t0, t1, 0, s1 - s0);
        }
        return;
    }
    const WTileFn *t2 = dt == LUMI_BF16 ? WT2_BF16 : WT2_F16;
    const WTileFn *t1s = dt == LUMI_BF16 ? WT1_BF16 : WT1_F16;
    const unsigned char *W = Wv;
    size_t rb = lumi_row_bytes(dt, cols);
    for (int tb = t0; tb < t1; tb += TB) {
        int te = tb + TB < t1 ? tb + TB : t1;
        for (int r = r0; r < r1; r += 2) {
            const WTileFn *tiles = r + 2 <= r1 ? t2 : t1s;
            for (int t = tb; t < te; t += 3) {
                int T = te - t < 3 ? te - t : 3;
                tiles[T](out + (size_t)t * os + r, os, x + (size_t)t * cols, W + (size_t)r * rb, rb,
                         bias ? bias + r : NULL, cols);
            }
        }
    }
}

static float dot(const float *a, const float *b, int n) {
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    for (int k = 0; k < n; k += 16) {
        int rem = n - k;
        lo = _mm256_fmadd_ps(load8(a + k, rem), load8(b + k, rem), lo);
        hi = _mm256_fmadd_ps(load8(a + k + 8, rem - 8), load8(b + k + 8, rem - 8), hi);
    }
    return hsum(lo, hi);
}

static void axpy(float *o, float p, const float *v, int n) {
    __m256 pv = _mm256_set1_ps(p);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(o + i)));
    if (i < n) {
        __m256i m = mask8(n - i);
        __m256 r = _mm256_fmadd_ps(pv, _mm256_maskload_ps(v + i, m), _mm256_maskload_ps(o + i, m));
        _mm256_maskstore_ps(o + i, m, r);
    }
}

/* Attention helpers: the single-key kernels in a loop (AVX2 machines are
 * not this backend's speed target; the order is what matters). */
static void dots(float *out, const float *q, const float *k, size_t stride, int n, int len) {
    for (int s = 0; s < n; s++) out[s] = dot(q, k + (size_t)s * stride, len);
}

static void axpys(float *o, const float *p, const float *v, size_t stride, int n, int len) {
    for (int s = 0; s < n; s++) axpy(o, p[s], v + (size_t)s * stride, len);
}

static double read_sum(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    double s = hsum(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    for (; i < n; i++) s += p[i];
    return s;
}

static double fma_burn(long iters, double *flops) {
    __m256 a[12];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++) a[j] = _mm256_set1_ps(1.0f + (float)j * 1e-3f);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++) a[j] = _mm256_fmadd_ps(a[j], m, c);
    }
    __m256 s = a[0];
    for (int j = 1; j < 12; j++) s = _mm256_add_ps(s, a[j]);
    *flops = (double)iters * 12 * 8 * 2;
    return hsum(s, _mm256_setzero_ps());
}

static const LumiCpuKernels K = {"avx2", matmul, dot, matmul_dt, q8_matmul, axpy, dots, axpys, read_sum, fma_burn, lumi_quantize_q8_act, NULL};
const LumiCpuKernels *lumi_cpu_kernels_avx2(void) { return &K; }
#else
const LumiCpuKernels *lumi_cpu_kernels_avx2(void) { return NULL; }
#endif
