// cuda_kernels.cu: the kernels of backends cuda and cublas, the same
// algorithms in the same reduction orders as opencl_kernels.cl (read that
// file's comment first): every reduction is done by one block of LANES
// threads, lane l summing elements l, l + LANES, ... with fmaf, the LANES
// partials combined by a fixed tree in shared memory. No atomics; nothing
// depends on how many tokens are in the call, so every cache x prefill
// path gives the same bits. Built with --fmad=false so the compiler fuses
// nothing the source does not. Launchers are extern "C" for cuda.c; they
// queue on the default stream and leave error checks to the caller.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stddef.h>

#define LANES 64
#define TT 8
#define RB 4 // weight rows per block (opencl: 4 on GPUs too)

__device__ static float tree_sum(float *buf, int lid, float v) {
    buf[lid] = v;
    __syncthreads();
    for (int s = LANES / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = buf[lid] + buf[lid + s];
        __syncthreads();
    }
    float r = buf[0];
    __syncthreads();
    return r;
}

__device__ static float tree_max(float *buf, int lid, float v) {
    buf[lid] = v;
    __syncthreads();
    for (int s = LANES / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = fmaxf(buf[lid], buf[lid + s]);
        __syncthreads();
    }
    float r = buf[0];
    __syncthreads();
    return r;
}

// Weight element i of a matrix held as dtype 0 = f32, 1 = bf16, 2 = f16;
// widening is exact (as load_w in opencl_kernels.cl).
__device__ static float load_w(const void *W, int dtype, size_t i) {
    if (dtype == 1) return __uint_as_float((unsigned)((const unsigned short *)W)[i] << 16);
    if (dtype == 2) return __half2float(((const __half *)W)[i]);
    return ((const float *)W)[i];
}

// x = emb[tok] widened: one launch per token, the ids stay on the host
__global__ static void k_embed(float *x, const void *emb, int dtype, size_t tok, int cols) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < cols) x[i] = load_w(emb, dtype, tok * cols + i);
}

__global__ static void k_rmsnorm(float *out, const float *x, const float *w, int dim, float eps) {
    __shared__ float buf[LANES];
    int lid = threadIdx.x;
    size_t t = blockIdx.x;
    const float *xt = x + t * (size_t)dim;
    float *ot = out + t * (size_t)dim;
    float ss = 0.0f;
    for (int i = lid; i < dim; i += LANES) ss = fmaf(xt[i], xt[i], ss);
    ss = tree_sum(buf, lid, ss);
    float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int i = lid; i < dim; i += LANES) ot[i] = xt[i] * inv * w[i];
}

// Block (g, tile): rows g*RB.. for tokens tile*TT.., one tree per (row, token).
__global__ static void k_matmul(float *out, int os, const float *x, const void *W, int dtype, const float *bias, int rows,
                                int cols, int n) {
    __shared__ float buf[RB * TT * LANES];
    int lid = threadIdx.x, r0 = blockIdx.x * RB, t0 = blockIdx.y * TT;
    float acc[RB * TT];
    for (int i = 0; i < RB * TT; i++) acc[i] = 0.0f;
    for (int c = lid; c < cols; c += LANES) {
        float xc[TT];
        for (int k = 0; k < TT; k++) xc[k] = t0 + k < n ? x[(size_t)(t0 + k) * cols + c] : 0.0f;
        for (int j = 0; j < RB && r0 + j < rows; j++) {
            float wc = load_w(W, dtype, (size_t)(r0 + j) * cols + c);
            for (int k = 0; k < TT; k++) acc[j * TT + k] = fmaf(wc, xc[k], acc[j * TT + k]);
        }
    }
    for (int i = 0; i < RB * TT; i++) buf[i * LANES + lid] = acc[i];
    __syncthreads();
    for (int s = LANES / 2; s > 0; s >>= 1) {
        if (lid < s)
            for (int i = 0; i < RB * TT; i++) buf[i * LANES + lid] = buf[i * LANES + lid] + buf[i * LANES + lid + s];
        __syncthreads();
    }
    for (int i = lid; i < RB * TT; i += LANES) {
        int r = r0 + i / TT, t = t0 + i % TT;
        if (r >= rows || t >= n) continue;
        float s = buf[i * LANES];
        if (bias) s = s + bias[r];
        out[(size_t)t * os + r] = s;
    }
}

// out[t * os + r] += bias[r] (cublas: after the GEMM)
__global__ static void k_bias(float *out, int os, const float *bias, int rows, int n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)rows * n) return;
    int t = (int)(i / rows), r = (int)(i % rows);
    out[(size_t)t * os + r] += bias[r];
}

__global__ static void k_rope(float *x, int stride, int pos0, int n_heads, int head_size, int half_style, const float *cs,
                              const float *sn, int n) {
    int hh = head_size / 2;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * n_heads * hh) return;
    int p = (int)(i % hh), h = (int)(i / hh % n_heads), t = (int)(i / hh / n_heads);
    float *v = x + (size_t)t * stride + (size_t)h * head_size;
    size_t at = (size_t)(pos0 + t) * hh + p;
    int a = half_style ? p : 2 * p, b = half_style ? p + hh : 2 * p + 1;
    float x0 = v[a], x1 = v[b], c = cs[at], s = sn[at];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}

__global__ static void k_attention(float *out, const float *q, const float *kc, const float *vc, float *scratch, int t_base,
                                   int pos0, int dim, int kv_dim, int n_heads, int n_kv_heads, int head_size, int seq_len) {
    __shared__ float buf[LANES];
    int lid = threadIdx.x, t = t_base + blockIdx.x, h = blockIdx.y;
    int pos = pos0 + t, kvh = h / (n_heads / n_kv_heads);
    const float *qh = q + (size_t)t * dim + (size_t)h * head_size;
    float *sc = scratch + ((size_t)blockIdx.x * n_heads + h) * seq_len;
    float scale = 1.0f / sqrtf((float)head_size);
    float mx = -INFINITY;
    for (int s = lid; s <= pos; s += LANES) {
        const float *k = kc + (size_t)s * kv_dim + (size_t)kvh * head_size;
        float d = 0.0f;
        for (int i = 0; i < head_size; i++) d = fmaf(qh[i], k[i], d);
        d = d * scale;
        sc[s] = d;
        mx = fmaxf(mx, d);
    }
    mx = tree_max(buf, lid, mx);
    float sum = 0.0f;
    for (int s = lid; s <= pos; s += LANES) {
        float p = expf(sc[s] - mx);
        sc[s] = p;
        sum = sum + p;
    }
    sum = tree_sum(buf, lid, sum); // its barriers also publish sc to the block
    float *o = out + (size_t)t * dim + (size_t)h * head_size;
    for (int i = lid; i < head_size; i += LANES) {
        const float *v = vc + (size_t)kvh * head_size + i;
        float acc = 0.0f;
        for (int s = 0; s <= pos; s++) acc = fmaf(sc[s], v[(size_t)s * kv_dim], acc);
        o[i] = acc / sum;
    }
}

__global__ static void k_swiglu(float *a, const float *b, size_t len) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    float g = a[i];
    a[i] = g / (1.0f + expf(-g)) * b[i];
}

__global__ static void k_add(float *a, const float *b, size_t len) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    a[i] = a[i] + b[i];
}

// lumi bench's device figures (not used by the model): streaming read
// bandwidth (neighbouring threads read neighbouring float4s) and the FMA
// peak of 16 independent chains per thread.
__global__ static void k_peak_read(const float4 *buf, size_t n4, float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, nw = (size_t)gridDim.x * blockDim.x;
    float4 s = make_float4(0, 0, 0, 0);
    for (size_t k = i; k < n4; k += nw) {
        float4 v = buf[k];
        s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w;
    }
    out[i] = s.x + s.y + s.z + s.w;
}

__global__ static void k_peak_fma(int iters, float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    float a[16], m = 0.999999f, c = 1e-7f;
    for (int j = 0; j < 16; j++) a[j] = i * 1e-9f + j;
    for (int k = 0; k < iters; k++)
#pragma unroll
        for (int j = 0; j < 16; j++) a[j] = fmaf(a[j], m, c);
    float t = 0;
    for (int j = 0; j < 16; j++) t += a[j];
    out[i] = t;
}

static unsigned blocks(size_t n, unsigned per) { return (unsigned)((n + per - 1) / per); }

extern "C" {

void lumi_cuda_rmsnorm(float *out, const float *x, const float *w, int n, int dim, float eps) {
    if (n > 0) k_rmsnorm<<<n, LANES>>>(out, x, w, dim, eps);
}

void lumi_cuda_embed(float *x, const void *emb, int dtype, const int *tokens, int n, int cols) {
    for (int t = 0; t < n; t++) k_embed<<<blocks(cols, 256), 256>>>(x + (size_t)t * cols, emb, dtype, tokens[t], cols);
}

void lumi_cuda_matmul(float *out, int os, const float *x, const void *W, int dtype, const float *bias, int rows, int cols,
                      int n) {
    if (n > 0 && rows > 0)
        k_matmul<<<dim3(blocks(rows, RB), blocks(n, TT)), LANES>>>(out, os, x, W, dtype, bias, rows, cols, n);
}

void lumi_cuda_bias(float *out, int os, const float *bias, int rows, int n) {
    size_t len = (size_t)rows * n;
    if (len > 0) k_bias<<<blocks(len, 256), 256>>>(out, os, bias, rows, n);
}

void lumi_cuda_rope(float *x, int stride, int n, int pos0, int n_heads, int head_size, int half_style, const float *cs,
                    const float *sn) {
    size_t len = (size_t)n * n_heads * (head_size / 2);
    if (len > 0) k_rope<<<blocks(len, 256), 256>>>(x, stride, pos0, n_heads, head_size, half_style, cs, sn, n);
}

void lumi_cuda_attention(float *out, const float *q, const float *kc, const float *vc, float *scratch, int t_base, int rows,
                         int pos0, int dim, int kv_dim, int n_heads, int n_kv_heads, int head_size, int seq_len) {
    if (rows > 0)
        k_attention<<<dim3(rows, n_heads), LANES>>>(out, q, kc, vc, scratch, t_base, pos0, dim, kv_dim, n_heads,
                                                    n_kv_heads, head_size, seq_len);
}

void lumi_cuda_swiglu(float *a, const float *b, size_t len) {
    if (len > 0) k_swiglu<<<blocks(len, 256), 256>>>(a, b, len);
}

void lumi_cuda_add(float *a, const float *b, size_t len) {
    if (len > 0) k_add<<<blocks(len, 256), 256>>>(a, b, len);
}

// `threads` threads in blocks of 256; out has `threads` floats
void lumi_cuda_peak_read(const float *buf, size_t n_floats, float *out, size_t threads) {
    k_peak_read<<<blocks(threads, 256), 256>>>((const float4 *)buf, n_floats / 4, out);
}

void lumi_cuda_peak_fma(int iters, float *out, size_t threads) { k_peak_fma<<<blocks(threads, 256), 256>>>(iters, out); }

} // extern "C"
