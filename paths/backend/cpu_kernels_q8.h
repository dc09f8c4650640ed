/* cpu_kernels_q8.h: the q8_0 x q8_0 dot with AVX2 integer instructions,
 * included by the AVX2 and the AVX-512 kernel files (compiled with at
 * least -mavx2 -mfma -mf16c). The order it computes is cpu_kernels.h's
 * q8dot, which cpu_kernels_scalar.c spells out in C:
 *   per block b, 8 lanes: isum_j = the four products qw * qx of elements
 *   4j..4j+3 (vpmaddubsw on |qw| and sign(qx, qw), then vpmaddwd with
 *   ones: exact, no pair exceeds 128 * 127 * 2 < 2^15). 16 accumulators:
 *   lane j of an even block goes to acc_j, of an odd block to acc_{8+j},
 *   acc = fma((float)isum_j, dw_b * dx_b, acc), blocks in order (so one
 *   512-bit register holds a pair of blocks, as AVX512_VNNI's vpdpbusd
 *   computes them); then (i, i+8), (i, i+4), (i, i+2), (0, 1). */
#ifndef LUMI_CPU_KERNELS_Q8_H
#define LUMI_CPU_KERNELS_Q8_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../../engine/dtype.h"

/* Register tile of the prefill kernel: Q8_R rows x 4 tokens, two ymm
 * accumulators each (the AVX-512 file has 32 ymm registers and takes 2
 * rows; AVX2 has 16 and takes 1). */
#ifndef Q8_R
#define Q8_R 1
#endif

static inline __attribute__((always_inline)) float q8_hsum8(__m256 a) {
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* The products of one block as 8 int32 lanes (exact). */
static inline __attribute__((always_inline)) __m256i q8_isum(__m256i w, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

static inline __attribute__((always_inline)) __m256i q8_load_w(const unsigned char *row, int b) {
    return _mm256_loadu_si256((const __m256i *)(const void *)(row + (size_t)b * LUMI_Q8_BLOCK_BYTES + 2));
}

static inline __attribute__((always_inline)) float q8_dw(const unsigned char *row, int b) {
    uint16_t h;
    memcpy(&h, row + (size_t)b * LUMI_Q8_BLOCK_BYTES, 2);
    return _cvtsh_ss(h);
}

/* One weight row (q8_0 blocks) against one quantized activation row:
 * accumulators e (even blocks, lanes 0-7) and o (odd blocks, lanes 8-15). */
static inline __attribute__((always_inline)) float q8_dot(const unsigned char *row, const int8_t *xq,
                                                          const float *xd, int nb) {
    __m256 e = _mm256_setzero_ps(), o = e;
    for (int b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(xq + (size_t)b * LUMI_Q8_BLOCK));
        __m256 p = _mm256_cvtepi32_ps(q8_isum(q8_load_w(row, b), x)), sc = _mm256_set1_ps(q8_dw(row, b) * xd[b]);
        if (b & 1) o = _mm256_fmadd_ps(p, sc, o);
        else e = _mm256_fmadd_ps(p, sc, e);
    }
    return q8_hsum8(_mm256_add_ps(e, o));
}

/* R weight rows x T tokens of q8dot in registers (2 ymm accumulators per
 * pair): each block of a row is loaded and made unsigned once for T
 * tokens, each block of a token once for R rows. Only which dots are in
 * flight changes, never the order of one. */
static inline __attribute__((always_inline)) void q8_tile(const int R, const int T, float *out, int os,
                                                          const int8_t *xq, const float *xd, const unsigned char *W,
                                                          size_t rb, const float *bias, int cols) {
    int nb = cols / LUMI_Q8_BLOCK;
    __m256 acc[Q8_R][4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i w[Q8_R], wa[Q8_R];
        __m256 dw[Q8_R];
        int par = b & 1;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            dw[r] = _mm256_set1_ps(q8_dw(W + (size_t)r * rb, b));
            w[r] = q8_load_w(W + (size_t)r * rb, b);
            wa[r] = _mm256_sign_epi8(w[r], w[r]);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(xq + (size_t)t * cols + (size_t)b * LUMI_Q8_BLOCK));
            __m256 dx = _mm256_set1_ps(xd[(size_t)t * nb + b]);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) { /* the scale dw * dx is the same f32 product as q8_dot's */
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[r], _mm256_sign_epi8(x, w[r])), _mm256_set1_epi16(1));
                acc[r][t][par] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw[r], dx), acc[r][t][par]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            float s = q8_hsum8(_mm256_add_ps(acc[r][t][0], acc[r][t][1]));
            out[(size_t)t * os + r] = bias ? s + bias[r] : s;
        }
}

typedef void (*Q8TileFn)(float *, int, const int8_t *, const float *, const unsigned char *, size_t, const float *, int);
#define Q8TILE(R, T)                                                                                              \
    static void q8_tile_##R##_##T(float *o, int os, const int8_t *xq, const float *xd, const unsigned char *W,    \
                                  size_t rb, const float *b, int cols) {                                           \
        q8_tile(R, T, o, os, xq, xd, W, rb, b, cols);                                                             \
    }
#define Q8TILES(R) Q8TILE(R, 1) Q8TILE(R, 2) Q8TILE(R, 3) Q8TILE(R, 4)
#define Q8TABLE(R) {NULL, q8_tile_##R##_1, q8_tile_##R##_2, q8_tile_##R##_3, q8_tile_##R##_4}
#define Q8TILES_R(R) Q8TILES(R)
#define Q8TABLE_R(R) Q8TABLE(R)
Q8TILES_R(Q8_R)
static const Q8TileFn Q8TR[5] = Q8TABLE_R(Q8_R);
#if Q8_R > 1
Q8TILES(1)
static const Q8TileFn Q8T1[5] = Q8TABLE(1);
#else
#define Q8T1 Q8TR
#endif

/* out[t*os + r] = q8dot(W[r], xq[t]) (+ bias[r]). Decode streams one row at
 * a time; several tokens go through Q8_R x 4 register tiles, tokens in blocks
 * of 64 so their quantized rows stay in L2. */
static void q8_matmul(float *out, int os, const int8_t *xq, const float *xd, const void *W, const float *bias,
                      int cols, int t0, int t1, int r0, int r1) {
    int nb = cols / LUMI_Q8_BLOCK;
    size_t rb = (size_t)nb * LUMI_Q8_BLOCK_BYTES;
    const unsigned char *Wb = W;
    if (t1 - t0 == 1) {
        for (int r = r0; r < r1; r++) {
            float s = q8_dot(Wb + (size_t)r * rb, xq + (size_t)t0 * cols, xd + (size_t)t0 * nb, nb);
            out[(size_t)t0 * os + r] = bias ? s + bias[r] : s;
        }
        return;
    }
    for (int tb = t0; tb < t1; tb += 64) {
        int te = tb + 64 < t1 ? tb + 64 : t1;
        for (int r = r0; r < r1;) {
            int R = r + Q8_R <= r1 ? Q8_R : 1;
            const Q8TileFn *tiles = R == Q8_R ? Q8TR : Q8T1;
            for (int t = tb; t < te; t += 4) {
                int T = te - t < 4 ? te - t : 4;
                tiles[T](out + (size_t)t * os + r, os, xq + (size_t)t * cols, xd + (size_t)t * nb, Wb + (size_t)r * rb,
                         rb, bias ? bias + r : NULL, cols);
            }
            r += R;
        }
    }
}

#endif
