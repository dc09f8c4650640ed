/* cuda.c: backends `cuda` and `cublas`, the model on an NVIDIA GPU.
 * Weights are uploaded once (f32, bf16 or f16 as the model holds them;
 * cublas: f32), activations and the KV cache are device
 * buffers (a LumiBuf holds a device pointer; a LumiRef's offset becomes
 * pointer arithmetic here, never on the host's side of forward.c), every op
 * is a kernel from cuda_kernels.cu on the default stream, and to_host() is
 * the one read back. cuda's kernels are batch invariant (same orders as the
 * opencl backend), so all its cache x prefill paths agree bitwise; cublas
 * replaces the matmul by cublasSgemm (TF32 off: CUBLAS_DEFAULT_MATH with
 * fp32 compute), fast and NOT batch invariant, the GPU twin of blas.
 *
 * Kernel launches return nothing, so the first error is kept in the
 * context and reported by the next to_host().
 *
 * Device: `--path backend=cuda,device=N` or LUMI_CUDA_DEVICE=N (0 else);
 * the CUDA runtime's current device is per process, so one process runs
 * one device. Built only when the Makefile finds nvcc; otherwise both
 * backends are listed and say how to get them. */
#include <stdlib.h>
#include <string.h>

#include "../../engine/backend.h"

/* cuda: matmul and embedding weights in f32, bf16 or f16, widened exactly
 * in the kernels; cublas: f32 (sgemm), the embedding in any of the three. */
static int cuda_supports(LumiOp op, LumiDType t) {
    (void)op;
    return t == LUMI_F32 || t == LUMI_BF16 || t == LUMI_F16;
}

static int cublas_supports(LumiOp op, LumiDType t) { return op == LUMI_OP_EMBED ? cuda_supports(op, t) : t == LUMI_F32; }

#define DOC_CUDA "NVIDIA GPU: batch-invariant CUDA kernels (as opencl), f32/bf16/f16; device=N or LUMI_CUDA_DEVICE"
#define DOC_CUBLAS "NVIDIA GPU with cuBLAS sgemm matmuls (TF32 off): fast, not batch invariant"

#ifndef LUMI_HAVE_CUDA

#define NO_CUDA \
    "this lumi was built without CUDA (put nvcc on PATH or install the CUDA toolkit in /usr/local/cuda, and rebuild)"

static int cuda_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
    (void)ctx, (void)m, (void)w, (void)o;
    return lumi_err(e, "backends cuda and cublas: %s", NO_CUDA);
}

const LumiBackendOps lumi_backend_cuda = {
    .name = "cuda", .doc = DOC_CUDA, .init = cuda_init, .supports = cuda_supports, .unavailable = NO_CUDA};
const LumiBackendOps lumi_backend_cublas = {
    .name = "cublas", .doc = DOC_CUBLAS, .init = cuda_init, .supports = cublas_supports, .unavailable = NO_CUDA};

#else

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

/* cuda_kernels.cu */
void lumi_cuda_rmsnorm(float *out, const float *x, const float *w, int n, int dim, float eps);
void lumi_cuda_embed(float *x, const void *emb, int dtype, const int *tokens, int n, int cols);
void lumi_cuda_matmul(float *out, int os, const float *x, const void *W, int dtype, const float *bias, int rows, int cols,
                      int n);
void lumi_cuda_bias(float *out, int os, const float *bias, int rows, int n);
void lumi_cuda_rope(float *x, int stride, int n, int pos0, int n_heads, int head_size, int half_style, const float *cs,
                    const float *sn);
void lumi_cuda_attention(float *out, const float *q, const float *kc, const float *vc, float *scratch, int t_base, int rows,
                         int pos0, int dim, int kv_dim, int n_heads, int n_kv_heads, int head_size, int seq_len);
void lumi_cuda_swiglu(float *a, const float *b, size_t len);
void lumi_cuda_add(float *a, const float *b, size_t len);
void lumi_cuda_peak_read(const float *buf, size_t n_floats, float *out, size_t threads);
void lumi_cuda_peak_fma(int iters, float *out, size_t threads);

struct LumiBuf {
    float *dev;
    size_t bytes;
};

/* cuBLAS, loaded when a cublas session starts: linked in, its 500 MB
 * libcublasLt would be mapped and relocated by every lumi command. */
typedef struct {
    void *lib;
    cublasHandle_t h;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
    cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
                            const float *, int, const float *, int, const float *, float *, int);
} Blas;

typedef struct {
    const LumiModel *m;
    int dev_index;
    char dev_name[256];
    Blas blas;           /* cublas only */
    LumiWeights w;       /* data: LumiBuf * */
    LumiLayer *layers;
    LumiBuf **wbufs;
    int n_wbufs;
    LumiBuf *cos, *sin, *scratch;
    int rope_rows; /* positions uploaded (the host table grows with the run) */
    int att_rows;
    cudaError_t err; /* first failure since the last to_host */
    char err_what[64];
} Cu;

static double mib(size_t b) { return (double)b / (1 << 20); }

static void ck(Cu *c, cudaError_t rc, const char *what) {
    if (rc == cudaSuccess || c->err != cudaSuccess) return;
    c->err = rc;
    snprintf(c->err_what, sizeof c->err_what, "%s", what);
}

static void launched(Cu *c, const char *what) { ck(c, cudaGetLastError(), what); }

static LumiBuf *buf_new(Cu *c, size_t bytes, const void *init, LumiErr *e) {
    if (bytes == 0) bytes = sizeof(float);
    void *p = NULL;
    cudaError_t rc = cudaMalloc(&p, bytes);
    if (rc != cudaSuccess) {
        cudaGetLastError(); /* clear it */
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        lumi_err(e, "backend cuda: out of device memory: %.1f MiB needed, %.1f of %.1f MiB free on device %d (%s)",
                 mib(bytes), mib(fr), mib(tot), c->dev_index, c->dev_name);
        return NULL;
    }
    if (init && (rc = cudaMemcpy(p, init, bytes, cudaMemcpyHostToDevice)) != cudaSuccess) {
        cudaFree(p);
        lumi_err(e, "backend cuda: uploading %.1f MiB failed: %s", mib(bytes), cudaGetErrorString(rc));
        return NULL;
    }
    LumiBuf *b = lumi_xmalloc(sizeof *b);
    *b = (LumiBuf){p, bytes};
    return b;
}

static void buf_free(LumiBuf *b) {
    if (!b) return;
    cudaFree(b->dev);
    free(b);
}

static LumiBuf *cu_alloc(void *ctx, size_t n, LumiErr *e) {
    size_t bytes;
    if (lumi_mul_size(n, sizeof(float), &bytes) != 0) {
        lumi_err(e, "backend cuda: %zu floats do not fit in memory", n);
        return NULL;
    }
    return buf_new(ctx, bytes, NULL, e);
}

static void cu_release(void *ctx, LumiBuf *b) {
    (void)ctx;
    buf_free(b);
}

static float *at(LumiRef r) { return r.buf->dev + r.off; }
/* A weight's device memory (f32, or bf16/f16 bits for matmul and embedding weights). */
static const float *mat(const LumiMat *m) { return m->data ? ((const LumiBuf *)m->data)->dev : NULL; }

static size_t mat_bytes(const LumiMat *m) {
    size_t el = m->type == LUMI_BF16 || m->type == LUMI_F16 ? 2 : 4;
    return m->data ? (size_t)m->rows * (size_t)m->cols * el : 0;
}

/* The kernels' dtype argument (load_w in cuda_kernels.cu). */
static int dtype_arg(LumiDType t) { return t == LUMI_BF16 ? 1 : t == LUMI_F16 ? 2 : 0; }

static int upload(Cu *c, LumiMat *m, LumiErr *e) {
    if (!m->data) return 0;
    if (!cuda_supports(LUMI_OP_MATMUL, m->type))
        return lumi_err(e, "backend cuda: cannot hold a %s weight (f32, bf16, f16 only)", lumi_dtype_name(m->type));
    LumiBuf *b = buf_new(c, mat_bytes(m), m->data, e);
    if (!b) return -1;
    c->wbufs[c->n_wbufs++] = b;
    m->data = b;
    return 0;
}

static int upload_weights(Cu *c, const LumiModel *mdl, const LumiWeights *w, LumiErr *e) {
    int L = mdl->cfg.n_layers, shared = w->cls.data == w->tok_emb.data;
    c->w = *w;
    c->layers = lumi_xmalloc((size_t)L * sizeof *c->layers);
    memcpy(c->layers, w->layers, (size_t)L * sizeof *c->layers);
    c->w.layers = c->layers;
    c->wbufs = lumi_xcalloc((size_t)(12 * L + 3), sizeof *c->wbufs);
    size_t need = mat_bytes(&w->tok_emb) + mat_bytes(&w->rms_final) + (shared ? 0 : mat_bytes(&w->cls)), fr = 0, tot = 0;
    for (int l = 0; l < L; l++) {
        const LumiLayer *y = &w->layers[l];
        const LumiMat *ms[] = {&y->rms_att, &y->rms_ffn, &y->wq, &y->wk, &y->wv, &y->wo, &y->w1, &y->w2, &y->w3, &y->bq, &y->bk, &y->bv};
        for (int i = 0; i < 12; i++) need += mat_bytes(ms[i]);
    }
    if (cudaMemGetInfo(&fr, &tot) == cudaSuccess && need > fr)
        return lumi_err(e, "backend cuda: out of device memory: the weights need %.1f MiB, device %d (%s) has %.1f MiB free",
                        mib(need), c->dev_index, c->dev_name, mib(fr));
    if (upload(c, &c->w.tok_emb, e) != 0 || upload(c, &c->w.rms_final, e) != 0) return -1;
    if (shared) c->w.cls.data = c->w.tok_emb.data;
    else if (upload(c, &c->w.cls, e) != 0) return -1;
    for (int l = 0; l < L; l++) {
        LumiLayer *y = &c->layers[l];
        LumiMat *ms[] = {&y->rms_att, &y->rms_ffn, &y->wq, &y->wk, &y->wv, &y->wo, &y->w1, &y->w2, &y->w3, &y->bq, &y->bk, &y->bv};
        for (int i = 0; i < 12; i++)
            if (upload(c, ms[i], e) != 0) return -1;
    }
    return 0;
}

static void cu_free(void *ctx) {
    Cu *c = ctx;
    if (!c) return;
    cudaDeviceSynchronize();
    for (int i = 0; i < c->n_wbufs; i++) buf_free(c->wbufs[i]);
    buf_free(c->cos), buf_free(c->sin), buf_free(c->scratch);
    if (c->blas.h) c->blas.destroy(c->blas.h);
    if (c->blas.lib) dlclose(c->blas.lib);
    free(c->wbufs), free(c->layers), free(c);
}

static int device_index(const LumiBackendOpts *o, int *out, LumiErr *e) {
    const char *env = getenv("LUMI_CUDA_DEVICE");
    long n = 0;
    if (o->device >= 0) n = o->device;
    else if (env && *env && lumi_parse_int(env, 0, 1 << 20, &n) != 0)
        return lumi_err(e, "LUMI_CUDA_DEVICE='%s': expected a device number >= 0", env);
    *out = (int)n;
    return 0;
}

#ifndef LUMI_CUDA_LIBDIR
#define LUMI_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif

static int blas_open(Blas *b, int dev, LumiErr *e) {
    const char *names[] = {LUMI_CUDA_LIBDIR "/libcublas.so.13", "libcublas.so.13", "libcublas.so"};
    for (int i = 0; i < 3 && !b->lib; i++) b->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!b->lib) return lumi_err(e, "backend cublas: cannot load libcublas: %s", dlerror());
    *(void **)&b->create = dlsym(b->lib, "cublasCreate_v2");
    *(void **)&b->destroy = dlsym(b->lib, "cublasDestroy_v2");
    *(void **)&b->set_math_mode = dlsym(b->lib, "cublasSetMathMode");
    *(void **)&b->sgemm = dlsym(b->lib, "cublasSgemm_v2");
    if (!b->create || !b->destroy || !b->set_math_mode || !b->sgemm)
        return lumi_err(e, "backend cublas: libcublas lacks cublasCreate_v2, cublasSgemm_v2 or cublasSetMathMode");
    if (b->create(&b->h) != CUBLAS_STATUS_SUCCESS) {
        b->h = NULL;
        return lumi_err(e, "backend cublas: cublasCreate failed on device %d", dev);
    }
    b->set_math_mode(b->h, CUBLAS_DEFAULT_MATH); /* no TF32 tensor ops */
    return 0;
}

static int init_common(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, int cublas,
                       LumiErr *e) {
    int want = 0, count = 0;
    if (device_index(o, &want, e) != 0) return -1;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess || count == 0)
        return lumi_err(e, "backend %s: no CUDA device (%s)", cublas ? "cublas" : "cuda",
                        rc != cudaSuccess ? cudaGetErrorString(rc) : "the driver lists none");
    if (want >= count) return lumi_err(e, "backend %s: no device %d (%d CUDA devices)", cublas ? "cublas" : "cuda", want, count);
    Cu *c = lumi_xcalloc(1, sizeof *c);
    c->m = m;
    c->dev_index = want;
    struct cudaDeviceProp prop;
    if ((rc = cudaSetDevice(want)) != cudaSuccess || (rc = cudaGetDeviceProperties(&prop, want)) != cudaSuccess)
        return cu_free(c), lumi_err(e, "backend cuda: cannot open device %d: %s", want, cudaGetErrorString(rc));
    snprintf(c->dev_name, sizeof c->dev_name, "%s", prop.name);
    if (cublas && blas_open(&c->blas, want, e) != 0) return cu_free(c), -1;
    size_t per_query = (size_t)m->cfg.n_heads * (size_t)m->cfg.seq_len, rows = ((size_t)16 << 20) / per_query;
    c->att_rows = rows < 1 ? 1 : rows > (size_t)m->cfg.seq_len ? m->cfg.seq_len : (int)rows;
    if (upload_weights(c, m, w, e) != 0 ||
        !(c->scratch = buf_new(c, (size_t)c->att_rows * per_query * sizeof(float), NULL, e)))
        return cu_free(c), -1;
    *ctx = c;
    return 0;
}

static int cu_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
    return init_common(ctx, m, w, o, 0, e);
}

static int cublas_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
    return init_common(ctx, m, w, o, 1, e);
}

static const LumiWeights *cu_weights(void *ctx) { return &((Cu *)ctx)->w; }

static int cu_to_host(void *ctx, float *dst, LumiRef src, size_t n, LumiErr *e) {
    Cu *c = ctx;
    ck(c, n ? cudaMemcpy(dst, at(src), n * sizeof(float), cudaMemcpyDeviceToHost) : cudaDeviceSynchronize(),
       "reading results back");
    if (c->err == cudaSuccess) return 0;
    cudaError_t rc = c->err;
    c->err = cudaSuccess;
    return lumi_err(e, "backend cuda: %s failed on device %d (%s): %s", c->err_what, c->dev_index, c->dev_name,
                    cudaGetErrorString(rc));
}

static void cu_copy(void *ctx, LumiRef dst, LumiRef src, size_t n) {
    if (n) ck(ctx, cudaMemcpyAsync(at(dst), at(src), n * sizeof(float), cudaMemcpyDeviceToDevice, 0), "copy");
}

static void cu_embed(void *ctx, LumiRef x, const LumiMat *emb, const int *tokens, int n) {
    lumi_cuda_embed(at(x), mat(emb), dtype_arg(emb->type), tokens, n, emb->cols);
    launched(ctx, "embed");
}

static void cu_rmsnorm(void *ctx, LumiRef out, LumiRef x, const LumiMat *w, int n, int dim, float eps) {
    lumi_cuda_rmsnorm(at(out), at(x), mat(w), n, dim, eps);
    launched(ctx, "rmsnorm");
}

static void cu_matmul(void *ctx, LumiRef out, int os, LumiRef x, const LumiMat *w, const LumiMat *b, int n) {
    lumi_cuda_matmul(at(out), os, at(x), mat(w), dtype_arg(w->type), b ? mat(b) : NULL, w->rows, w->cols, n);
    launched(ctx, "matmul");
}

/* out[n, rows] (row stride os) = x[n, cols] W^T: in cuBLAS's column-major
 * terms C[rows, n] = (W as [cols, rows])^T X[cols, n]. */
static void cublas_matmul(void *ctx, LumiRef out, int os, LumiRef x, const LumiMat *w, const LumiMat *b, int n) {
    Cu *c = ctx;
    const float one = 1.0f, zero = 0.0f;
    if (n <= 0) return;
    if (c->blas.sgemm(c->blas.h, CUBLAS_OP_T, CUBLAS_OP_N, w->rows, n, w->cols, &one, mat(w), w->cols, at(x), w->cols, &zero,
                    at(out), os) != CUBLAS_STATUS_SUCCESS)
        ck(c, cudaErrorUnknown, "cublasSgemm");
    if (b && b->data) lumi_cuda_bias(at(out), os, mat(b), w->rows, n);
    launched(c, "matmul");
}

/* The host RoPE table grows with the positions a run reaches (the session
 * reserves it before each forward call); upload it again when it outgrew
 * the device copy. A failure is reported at the next to_host. */
static int rope_sync(Cu *c, int positions) {
    const LumiRope *r = &c->m->rope;
    if (positions <= c->rope_rows) return 0;
    buf_free(c->cos), buf_free(c->sin);
    c->cos = c->sin = NULL;
    c->rope_rows = 0;
    size_t bytes = (size_t)r->seq_len * (size_t)r->half * sizeof(float);
    LumiErr e;
    if (!(c->cos = buf_new(c, bytes, r->cos, &e)) || !(c->sin = buf_new(c, bytes, r->sin, &e))) {
        ck(c, cudaErrorMemoryAllocation, "rope table upload");
        return -1;
    }
    c->rope_rows = r->seq_len;
    return 0;
}

static void cu_rope(void *ctx, LumiRef x, int stride, int n, int pos0, int n_heads, int head_size) {
    Cu *c = ctx;
    if (rope_sync(c, pos0 + n) != 0) return;
    lumi_cuda_rope(at(x), stride, n, pos0, n_heads, head_size, c->m->rope.style == LUMI_ROPE_HALF, c->cos->dev,
                   c->sin->dev);
    launched(c, "rope");
}

static void cu_attention(void *ctx, LumiRef out, LumiRef q, LumiRef kc, LumiRef vc, int n, int pos0) {
    Cu *c = ctx;
    const LumiConfig *f = &c->m->cfg;
    /* slices of att_rows queries share the scratch; the stream runs them in order */
    for (int t0 = 0; t0 < n; t0 += c->att_rows) {
        int rows = n - t0 < c->att_rows ? n - t0 : c->att_rows;
        lumi_cuda_attention(at(out), at(q), at(kc), at(vc), c->scratch->dev, t0, rows, pos0, f->dim, f->kv_dim,
                            f->n_heads, f->n_kv_heads, f->head_size, f->seq_len);
    }
    launched(c, "attention");
}

static void cu_swiglu(void *ctx, LumiRef h1, LumiRef h3, size_t len) {
    lumi_cuda_swiglu(at(h1), at(h3), len);
    launched(ctx, "swiglu");
}

static void cu_add(void *ctx, LumiRef x, LumiRef y, size_t len) {
    lumi_cuda_add(at(x), at(y), len);
    launched(ctx, "add");
}

/* ---- lumi bench's device figures ---- */

#define PEAK_THREADS ((size_t)1 << 18)

/* Seconds since t0 once the device has drained; -1 on error. */
static double drained(double t0) {
    if (cudaDeviceSynchronize() != cudaSuccess || cudaGetLastError() != cudaSuccess) return -1;
    return lumi_now() - t0;
}

static int cu_peak(void *ctx, double *read_gbs, double *fma_gflops, LumiErr *e) {
    Cu *c = ctx;
    size_t fr = 0, tot = 0, bytes = (size_t)1 << 30;
    if (cudaMemGetInfo(&fr, &tot) == cudaSuccess && bytes > fr / 2) bytes = fr / 2 & ~(size_t)4095;
    LumiBuf *buf = buf_new(c, bytes, NULL, e), *out = buf ? buf_new(c, PEAK_THREADS * sizeof(float), NULL, e) : NULL;
    if (!out) return buf_free(buf), -1;
    ck(c, cudaMemset(buf->dev, 0, bytes), "peak: fill");
    *read_gbs = *fma_gflops = 0;
    for (int rep = 0; rep < 5; rep++) {
        cudaDeviceSynchronize();
        double t0 = lumi_now();
        lumi_cuda_peak_read(buf->dev, bytes / sizeof(float), out->dev, PEAK_THREADS);
        double s = drained(t0);
        if (s > 0 && bytes / s / 1e9 > *read_gbs) *read_gbs = bytes / s / 1e9;
    }
    lumi_cuda_peak_fma(1, out->dev, PEAK_THREADS); /* warm-up */
    for (int iters = 256; iters <= (1 << 24); iters *= 4) {
        cudaDeviceSynchronize();
        double t0 = lumi_now();
        lumi_cuda_peak_fma(iters, out->dev, PEAK_THREADS);
        double s = drained(t0);
        if (s < 0) break;
        double g = 32.0 * iters * (double)PEAK_THREADS / s / 1e9; /* 16 chains x 2 flops */
        if (g > *fma_gflops) *fma_gflops = g;
        if (s > 0.05) break;
    }
    buf_free(buf), buf_free(out);
    ck(c, cudaGetLastError(), "peak");
    return cu_to_host(c, NULL, (LumiRef){0}, 0, e);
}

#define CUDA_OPS                                                                                                     \
    .free = cu_free, .weights = cu_weights, .alloc = cu_alloc, .release = cu_release,                                 \
    .to_host = cu_to_host, .copy = cu_copy, .embed = cu_embed, .rmsnorm = cu_rmsnorm, .rope = cu_rope,                \
    .attention = cu_attention, .swiglu = cu_swiglu, .add = cu_add, .peak = cu_peak

const LumiBackendOps lumi_backend_cuda = {
    .name = "cuda", .doc = DOC_CUDA, .init = cu_init, .supports = cuda_supports, .matmul = cu_matmul, CUDA_OPS};
const LumiBackendOps lumi_backend_cublas = {
    .name = "cublas", .doc = DOC_CUBLAS, .init = cublas_init, .supports = cublas_supports, .matmul = cublas_matmul, CUDA_OPS};

#endif
