/* opencl_kernels.cl: the opencl backend's kernels (OpenCL C 1.2), embedded
 * into lumi at build time and compiled when a session starts.
 *
 * Batch invariance: every reduction is done by one work-group of LANES
 * work-items in a fixed order that depends only on the reduction length:
 * lane l sums elements l, l + LANES, l + 2 LANES, ... with fma, then the
 * LANES partial sums are combined by a fixed binary tree in local memory.
 * No atomics, no order that depends on how many tokens are in the call or
 * on which rows came from the cache, so every cache x prefill path of this
 * backend gives the same bits. Contraction is off so the compiler cannot
 * fuse differently in different kernels. paths/backend/cuda_kernels.cu
 * computes the same things in the same orders.
 *
 * Buffers are passed as (pointer, element offset) pairs: a LumiRef. */
#pragma OPENCL FP_CONTRACT OFF

#define LANES 64 /* work-group size of every reduction kernel */
#define TT 8     /* tokens per matmul work-group: a weight row is read once per TT tokens */
#ifndef RB
#define RB 4     /* weight rows per matmul work-group (the host may set it: -DRB=N) */
#endif

/* Combines the LANES partial sums in buf by a fixed tree; every work-item
 * gets the total. */
static float tree_sum(__local float *buf, int lid, float v) {
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LANES / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = buf[lid] + buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* buf is reused by the caller */
    return r;
}

static float tree_max(__local float *buf, int lid, float v) {
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LANES / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = fmax(buf[lid], buf[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Weight element i of a matrix held as dtype 0 = f32, 1 = bf16, 2 = f16
 * (the host's LumiDType order); widening is exact, so a bf16 or f16 path
 * computes on exactly the values an f32 copy of those weights would hold.
 * dtype is the same for a whole launch: the branch costs nothing. */
static float load_w(__global const void *W, int dtype, size_t i) {
    if (dtype == 1) return as_float((uint)((__global const ushort *)W)[i] << 16);
    if (dtype == 2) return vload_half(i, (__global const half *)W);
    return ((__global const float *)W)[i];
}

/* x[row] = emb[tok] widened to f32, one launch per token (ids stay on the host) */
__kernel void embed(__global float *x, ulong xo, __global const void *emb, int dtype, ulong tok, int cols) {
    size_t i = get_global_id(0);
    if (i < (size_t)cols) x[xo + i] = load_w(emb, dtype, tok * cols + i);
}

/* One work-group per row t: out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w */
__kernel void rmsnorm(__global float *out, ulong oo, __global const float *x, ulong xo, __global const float *w,
                      int dim, float eps) {
    __local float buf[LANES];
    int lid = get_local_id(0);
    size_t t = get_group_id(0);
    __global const float *xt = x + xo + t * (size_t)dim;
    __global float *ot = out + oo + t * (size_t)dim;
    float ss = 0.0f;
    for (int i = lid; i < dim; i += LANES) ss = fma(xt[i], xt[i], ss);
    ss = tree_sum(buf, lid, ss);
    float inv = 1.0f / sqrt(ss / (float)dim + eps);
    /* every lane read all of x[t] before the tree's barriers: out == x is safe */
    for (int i = lid; i < dim; i += LANES) ot[i] = xt[i] * inv * w[i];
}

/* Work-group (g, tile): output rows g*RB .. g*RB+RB-1 for tokens
 * tile*TT .. tile*TT+TT-1. out[t * os + r] = sum_c W[r, c] x[t, c]
 * (+ bias[r]); has_bias 0 or 1; W in `dtype` (see load_w). Every (row, token) pair has its own lane
 * partials and its own tree (the same pairing as tree_sum); the RB*TT trees
 * run side by side, under one set of barriers. */
__kernel void matmul(__global float *out, ulong oo, int os, __global const float *x, ulong xo,
                     __global const void *W, int dtype, __global const float *bias, int has_bias, int rows, int cols,
                     int n) {
    __local float buf[RB * TT * LANES];
    int lid = get_local_id(0);
    int r0 = get_group_id(0) * RB;
    int t0 = get_group_id(1) * TT;
    float acc[RB * TT];
    for (int i = 0; i < RB * TT; i++) acc[i] = 0.0f;
    for (int c = lid; c < cols; c += LANES) {
        float xc[TT];
        for (int k = 0; k < TT; k++) xc[k] = t0 + k < n ? x[xo + (size_t)(t0 + k) * cols + c] : 0.0f;
        for (int j = 0; j < RB && r0 + j < rows; j++) {
            float wc = load_w(W, dtype, (size_t)(r0 + j) * cols + c);
            for (int k = 0; k < TT; k++) acc[j * TT + k] = fma(wc, xc[k], acc[j * TT + k]);
        }
    }
    for (int i = 0; i < RB * TT; i++) buf[i * LANES + lid] = acc[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LANES / 2; s > 0; s >>= 1) {
        if (lid < s)
            for (int i = 0; i < RB * TT; i++) buf[i * LANES + lid] = buf[i * LANES + lid] + buf[i * LANES + lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = lid; i < RB * TT; i += LANES) {
        int r = r0 + i / TT, t = t0 + i % TT;
        if (r >= rows || t >= n) continue;
        float s = buf[i * LANES];
        if (has_bias) s = s + bias[r];
        out[oo + (size_t)t * os + r] = s;
    }
}

/* One work-item per (t, head, pair i): rotate in place. cs, sn are the
 * model's [seq_len, half] tables. */
__kernel void rope(__global float *x, ulong xo, int stride, int pos0, int n_heads, int head_size, int half_style,
                   __global const float *cs, __global const float *sn) {
    int i = get_global_id(0), h = get_global_id(1), t = get_global_id(2);
    int hh = head_size / 2; /* (`half` is a type in OpenCL C) */
    if (i >= hh) return;
    __global float *v = x + xo + (size_t)t * stride + (size_t)h * head_size;
    size_t p = (size_t)(pos0 + t) * hh + i;
    /* interleaved pairs (2i, 2i+1) or halves (i, i + half) */
    int a = half_style ? i : 2 * i, b = half_style ? i + hh : 2 * i + 1;
    float x0 = v[a], x1 = v[b], c = cs[p], s = sn[p];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}

/* Work-group (t, h): causal attention of query t (position pos0 + t), head
 * h, over keys 0..pos. Scores go through `sc` (this query's row of a
 * scratch buffer): each score is one sequential dot over head_size; the max
 * (exact in any order) and the sum of exponentials are lane-strided then
 * tree-combined; each output element sums p_s v[s] over s in key order. */
__kernel void attention(__global float *out, ulong oo, __global const float *q, ulong qo, __global const float *kc,
                        ulong ko, __global const float *vc, ulong vo, __global float *scratch, int t_base, int pos0,
                        int dim, int kv_dim, int n_heads, int n_kv_heads, int head_size, int seq_len) {
    __local float buf[LANES];
    int lid = get_local_id(0);
    int t = t_base + get_group_id(0), h = get_group_id(1);
    int pos = pos0 + t, kvh = h / (n_heads / n_kv_heads);
    __global const float *qh = q + qo + (size_t)t * dim + (size_t)h * head_size;
    __global float *sc = scratch + ((size_t)get_group_id(0) * n_heads + h) * seq_len;
    float scale = 1.0f / sqrt((float)head_size);
    float mx = -INFINITY;
    for (int s = lid; s <= pos; s += LANES) {
        __global const float *k = kc + ko + (size_t)s * kv_dim + (size_t)kvh * head_size;
        float d = 0.0f;
        for (int i = 0; i < head_size; i++) d = fma(qh[i], k[i], d);
        d = d * scale;
        sc[s] = d;
        mx = fmax(mx, d);
    }
    mx = tree_max(buf, lid, mx);
    float sum = 0.0f;
    for (int s = lid; s <= pos; s += LANES) {
        float p = exp(sc[s] - mx);
        sc[s] = p;
        sum = sum + p;
    }
    sum = tree_sum(buf, lid, sum);
    barrier(CLK_GLOBAL_MEM_FENCE); /* every lane's probabilities are written */
    __global float *o = out + oo + (size_t)t * dim + (size_t)h * head_size;
    for (int i = lid; i < head_size; i += LANES) {
        __global const float *v = vc + vo + (size_t)kvh * head_size + i;
        float acc = 0.0f;
        for (int s = 0; s <= pos; s++) acc = fma(sc[s], v[(size_t)s * kv_dim], acc);
        o[i] = acc / sum;
    }
}

/* h1 = silu(h1) * h3 */
__kernel void swiglu(__global float *a, ulong ao, __global const float *b, ulong bo, ulong len) {
    size_t i = get_global_id(0);
    if (i >= len) return;
    float g = a[ao + i];
    a[ao + i] = g / (1.0f + exp(-g)) * b[bo + i];
}

/* x += y */
__kernel void add(__global float *a, ulong ao, __global const float *b, ulong bo, ulong len) {
    size_t i = get_global_id(0);
    if (i >= len) return;
    a[ao + i] = a[ao + i] + b[bo + i];
}

/* lumi bench's device figures (not used by the model): streaming read
 * bandwidth over a buffer far larger than any cache, and the FMA peak of
 * 4 independent 16-wide chains per work-item (explicit vectors, so a CPU
 * device's compiler need not vectorize across work-items). With `chunked`
 * each work-item reads one contiguous slice (what a CPU prefetches well);
 * otherwise neighbouring work-items read neighbouring vectors (what a GPU
 * coalesces). */
__kernel void peak_read(__global const float16 *buf, ulong n16, __global float *out, int chunked) {
    size_t i = get_global_id(0), nw = get_global_size(0);
    size_t lo = chunked ? n16 * i / nw : i, hi = chunked ? n16 * (i + 1) / nw : n16, step = chunked ? 1 : nw;
    float16 s = (float16)(0.0f);
    for (size_t k = lo; k < hi; k += step) s += buf[k];
    float8 h = s.lo + s.hi;
    float4 q = h.lo + h.hi;
    out[i] = q.x + q.y + q.z + q.w;
}

__kernel void peak_fma(int iters, __global float *out) {
    float16 m = (float16)(0.999999f), c = (float16)(1e-7f), a0 = (float16)(get_global_id(0) * 1e-9f);
    float16 a1 = a0 + 1.0f, a2 = a0 + 2.0f, a3 = a0 + 3.0f;
    for (int k = 0; k < iters; k++) {
        a0 = fma(a0, m, c), a1 = fma(a1, m, c), a2 = fma(a2, m, c), a3 = fma(a3, m, c);
    }
    float16 t = a0 + a1 + a2 + a3;
    out[get_global_id(0)] = t.s0 + t.s1 + t.s2 + t.s3 + t.s4 + t.s5 + t.s6 + t.s7 + t.s8 + t.s9 + t.sa + t.sb + t.sc +
                            t.sd + t.se + t.sf;
}
