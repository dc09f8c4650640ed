/* cpu_kernels.h: the inner loops of the cpu backend, one table per
 * instruction set (AVX-512, AVX2+FMA, portable C), chosen at run time.
 *
 * Every reduction is defined once, independent of the instruction set and of
 * how many tokens or rows a call covers, so all three tables give bitwise the
 * same results (batch invariance, and a testable scalar fallback):
 *
 *   dot16(a, b, n): 16 lanes, lane l accumulates a[k] * b[k] for k = l, l+16,
 *     l+32, ... in increasing k with a fused multiply-add; the last partial
 *     chunk reads zeros past n. The 16 lanes are then summed by the fixed
 *     tree lanes (i, i+8), then (i, i+4), then (i, i+2), then (0, 1).
 *
 * AVX-512 holds the 16 lanes in one register, AVX2 in two, the C fallback in
 * an array with fmaf(). Matmul tiles (several rows x several tokens) only
 * change which dot16 products are in flight together, never their order.
 *
 * Weights in bf16 and f16 (matmul_dt): each weight is first widened to the
 * f32 value it stores, exactly (both are subsets of f32), and then enters
 * the same dot16 as an f32 weight would. So a table's result is bitwise its
 * f32 result on the widened weight, in every table, and the activations
 * stay f32. Why not AVX512_BF16 vdpbf16ps: it needs the activations in bf16
 * too and rounds its pair sums its own way, which would move the logits
 * further from f32 and make the C table emulate that rounding; widening
 * costs a shift per 16 weights, which decode (bound by memory) hides.
 *
 * Weights in q8_0 (matmul_q8) run llama.cpp's q8_0 x q8_0 dot: the
 * activations are quantized per block of 32 too (lumi_quantize_q8_act, the
 * same f32 operations everywhere), block products are exact integer sums
 * (vpmaddubsw + vpmaddwd, or AVX512_VNNI vpdpbusd in the avx512vnni table),
 * and only the per-block scaling is floating point, in the fixed order
 * q8dot of cpu_kernels_q8.h. Widening each q8_0
 * weight to f32 instead (exact too) was measured compute-bound at ~16 GB/s
 * of weights per core: eight conversions per block on the FMA ports. */
#ifndef LUMI_CPU_KERNELS_H
#define LUMI_CPU_KERNELS_H
#include <stddef.h>
#include <stdint.h>

#include "../../engine/model.h"

#define LUMI_CPU_LANES 16
#define LUMI_CPU_SLAB 16 /* weight rows widened at a time (matmul_dt scratch) */

/* Rows [r0, r1) of one matrix for decode: out[r] = dot(W[r], x) (+ bias[r]). */
typedef struct {
    float *out;
    const void *W;
    const float *bias;
    int r0, r1;
} LumiRowSet;

typedef struct {
    const char *name; /* "avx512", "avx2", "scalar" */
    /* out[t*os + r] = dot16(W[r, :], x[t, :], cols) (+ bias[r]) for
     * t in [t0, t1), r in [r0, r1); W row-major [*, cols], x rows of cols. */
    void (*matmul)(float *out, int os, const float *x, const float *W, const float *bias, int cols, int t0, int t1,
                   int r0, int r1);
    float (*dot)(const float *a, const float *b, int n); /* dot16 */
    /* matmul with W rows of dtype t (f32, bf16, f16), row r at
     * W + r * lumi_row_bytes(t, cols): dot16(widen(W[r, :]), x[t, :], cols).
     * scratch (LUMI_CPU_SLAB * cols floats, 64-byte aligned, or NULL): with
     * several tokens, LUMI_CPU_SLAB rows at a time are widened into it once
     * and the f32 tiles sweep all tokens over them, so prefill pays the
     * widening once per row, not once per row and token tile. */
    void (*matmul_dt)(LumiDType t, float *out, int os, const float *x, const void *W, const float *bias, int cols,
                      int t0, int t1, int r0, int r1, float *scratch);
    /* q8_0 weights x q8_0 activations (weights=q8_0): xq [tokens, cols]
     * int8 and xd [tokens, cols/32] from lumi_quantize_q8_act; out[t*os+r]
     * = q8dot(W[r], xq[t]) (+ bias[r]), q8dot as cpu_kernels_q8.h defines. */
    void (*matmul_q8)(float *out, int os, const int8_t *xq, const float *xd, const void *W, const float *bias,
                      int cols, int t0, int t1, int r0, int r1);
    /* o[i] = fma(p, v[i], o[i]) for i < n (elementwise, so order-free) */
    void (*axpy)(float *o, float p, const float *v, int n);
    /* Attention: out[s] = dot16(q, k + s*stride, len) for s < n (several
     * keys in flight, each in the dot16 order), and for s = 0..n-1 in that
     * order o[i] = fma(p[s], v[s*stride + i], o[i]) (o kept in registers). */
    void (*dots)(float *out, const float *q, const float *k, size_t stride, int n, int len);
    void (*axpys)(float *o, const float *p, const float *v, size_t stride, int n, int len);
    /* Machine micro-benchmarks for `lumi bench`: a sum over n floats
     * (streaming loads), and `iters` rounds of independent FMA chains;
     * both return a value only so the work cannot be optimised away. */
    double (*read_sum)(const float *p, size_t n);
    double (*fma_burn)(long iters, double *flops);
    /* lumi_quantize_q8_act of one row, bitwise the same in every table (the
     * AVX-512 tables vectorize it: the C loop's nearbyintf calls took ~4 ns
     * an element, a quarter of a q8_0 prefill matmul's time) */
    void (*quantize_q8)(const float *x, int cols, int8_t *q, float *dx);
    /* Optional (NULL: each set alone, through matmul_dt / matmul_q8): decode
     * of one token against the rows of a and of b (dtype t, cols wide; x for
     * f32/bf16/f16, xq and xd for q8_0), a.r0 + i in flight with b.r0 + i,
     * so that a thread reads two weight streams at once. The cpu backend
     * gives it sets half a thread's share apart: two adjacent rows in flight
     * streamed slower than one (the prefetchers), two far apart faster.
     * Results are bitwise those of the one-row loops. */
    void (*decode2)(LumiDType t, const float *x, const int8_t *xq, const float *xd, int cols, const LumiRowSet *a,
                    const LumiRowSet *b);
} LumiCpuKernels;

const LumiCpuKernels *lumi_cpu_kernels_scalar(void);
const LumiCpuKernels *lumi_cpu_kernels_avx2(void);   /* NULL if not compiled in */
const LumiCpuKernels *lumi_cpu_kernels_avx512(void); /* NULL if not compiled in */
/* AVX-512 with AVX512_VNNI's vpdpbusd for q8_0 (the same results) */
const LumiCpuKernels *lumi_cpu_kernels_avx512vnni(void);

/* The table for `isa` ("avx512vnni", "avx512", "avx2", "scalar", or NULL/"" for the best
 * this CPU supports); NULL if the CPU cannot run it. */
const LumiCpuKernels *lumi_cpu_kernels(const char *isa);
/* The table the cpu backend runs: LUMI_FORCE_SCALAR=1 (or force_scalar) gives
 * "scalar", else LUMI_CPU_ISA if set, else the best. NULL if LUMI_CPU_ISA
 * names a table this CPU cannot run; *isa (if non-NULL) gets the name asked. */
const LumiCpuKernels *lumi_cpu_select(int force_scalar, const char **isa);

#endif
