/* cpu_kernels_scalar.c: the portable kernel table (any CPU, and forced by
 * LUMI_FORCE_SCALAR=1). It spells out the shared reduction of cpu_kernels.h
 * with 16 explicit lanes and fmaf(), so it is the plain-C definition the
 * SIMD tables must match bitwise, and a fallback that is still batch
 * invariant. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../engine/dtype.h"
#include "cpu_kernels.h"

enum { L = LUMI_CPU_LANES };

static float hsum(const float *a) {
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; i++) s8[i] = a[i] + a[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; i++) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

static float dot(const float *a, const float *b, int n) {
    float acc[L] = {0};
    for (int k = 0; k < n; k += L)
        for (int l = 0; l < L; l++) {
            int i = k + l;
            acc[l] = fmaf(i < n ? a[i] : 0.0f, i < n ? b[i] : 0.0f, acc[l]);
        }
    return hsum(acc);
}

static void matmul(float *out, int os, const float *x, const float *W, const float *bias, int cols, int t0, int t1,
                   int r0, int r1) {
    for (int t = t0; t < t1; t++)
        for (int r = r0; r < r1; r++) {
            float s = dot(W + (size_t)r * cols, x + (size_t)t * cols, cols);
            if (bias) s += bias[r];
            out[(size_t)t * os + r] = s;
        }
}

/* w[l] = element k + l of a bf16/f16 row, widened exactly; zeros past cols. */
static void widen16(LumiDType t, const unsigned char *row, int k, int cols, float *w) {
    int n = cols - k < L ? cols - k : L;
    lumi_widen(t, row + lumi_row_bytes(t, k), (size_t)n, w);
    for (int l = n; l < L; l++) w[l] = 0.0f;
}

static float wdot(LumiDType t, const unsigned char *row, const float *x, int n) {
    float acc[L] = {0}, w[L];
    for (int k = 0; k < n; k += L) {
        widen16(t, row, k, n, w);
        for (int l = 0; l < L; l++) acc[l] = fmaf(w[l], k + l < n ? x[k + l] : 0.0f, acc[l]);
    }
    return hsum(acc);
}

static void matmul_dt(LumiDType t, float *out, int os, const float *x, const void *W, const float *bias, int cols,
                      int t0, int t1, int r0, int r1, float *scratch) {
    (void)scratch; /* widens 16 weights at a time, on the fly */
    if (t == LUMI_F32) {
        matmul(out, os, x, W, bias, cols, t0, t1, r0, r1);
        return;
    }
    size_t rb = lumi_row_bytes(t, cols);
    for (int tt = t0; tt < t1; tt++)
        for (int r = r0; r < r1; r++) {
            float s = wdot(t, (const unsigned char *)W + (size_t)r * rb, x + (size_t)tt * cols, cols);
            if (bias) s += bias[r];
            out[(size_t)tt * os + r] = s;
        }
}

/* q8dot (cpu_kernels_q8.h) in C: 8 lanes of exact integer block sums,
 * even blocks into acc[0..8), odd blocks into acc[8..16). */
static float q8_dot(const unsigned char *row, const int8_t *xq, const float *xd, int nb) {
    float acc[16] = {0};
    for (int b = 0; b < nb; b++) {
        const unsigned char *blk = row + (size_t)b * LUMI_Q8_BLOCK_BYTES;
        uint16_t h;
        memcpy(&h, blk, 2);
        float s = lumi_f16_to_f32(h) * xd[b];
        for (int j = 0; j < 8; j++) {
            int32_t isum = 0;
            for (int i = 4 * j; i < 4 * j + 4; i++) isum += (int32_t)(int8_t)blk[2 + i] * xq[b * LUMI_Q8_BLOCK + i];
            acc[8 * (b & 1) + j] = fmaf((float)isum, s, acc[8 * (b & 1) + j]);
        }
    }
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; i++) s8[i] = acc[i] + acc[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; i++) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

static void matmul_q8(float *out, int os, const int8_t *xq, const float *xd, const void *W, const float *bias,
                      int cols, int t0, int t1, int r0, int r1) {
    int nb = cols / LUMI_Q8_BLOCK;
    size_t rb = (size_t)nb * LUMI_Q8_BLOCK_BYTES;
    for (int r = r0; r < r1; r++)
        for (int t = t0; t < t1; t++) {
            float s = q8_dot((const unsigned char *)W + (size_t)r * rb, xq + (size_t)t * cols, xd + (size_t)t * nb, nb);
            out[(size_t)t * os + r] = bias ? s + bias[r] : s;
        }
}

static void axpy(float *o, float p, const float *v, int n) {
    for (int i = 0; i < n; i++) o[i] = fmaf(p, v[i], o[i]);
}

static void dots(float *out, const float *q, const float *k, size_t stride, int n, int len) {
    for (int s = 0; s < n; s++) out[s] = dot(q, k + (size_t)s * stride, len);
}

static void axpys(float *o, const float *p, const float *v, size_t stride, int n, int len) {
    for (int s = 0; s < n; s++) axpy(o, p[s], v + (size_t)s * stride, len);
}

static double read_sum(const float *p, size_t n) {
    float a[4] = {0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) a[j] += p[i + j];
    double s = (double)a[0] + a[1] + a[2] + a[3];
    for (; i < n; i++) s += p[i];
    return s;
}

static double fma_burn(long iters, double *flops) {
    float a[8];
    for (int j = 0; j < 8; j++) a[j] = 1.0f + (float)j * 1e-3f;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 8; j++) a[j] = a[j] * 0.999999f + 1e-7f;
    *flops = (double)iters * 8 * 2;
    return (double)a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

static const LumiCpuKernels K = {"scalar", matmul, dot, matmul_dt, matmul_q8, axpy, dots, axpys, read_sum, fma_burn, lumi_quantize_q8_act, NULL};
const LumiCpuKernels *lumi_cpu_kernels_scalar(void) { return &K; }
