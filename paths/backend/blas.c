/* blas.c: backend `blas`, the cpu backend with its matmul replaced by
 * OpenBLAS sgemm, for comparison. sgemm picks its kernel and its blocking
 * over k from the matrix sizes, so a token's logits can change in the last
 * bits with how many tokens share the call: fast, but NOT batch invariant
 * (the harness shows its paths agree within tolerance, not bitwise). Built
 * only when pkg-config finds openblas (Debian libopenblas-dev); otherwise
 * selecting it is an error that says so. */
#include <stddef.h>

#include "host.h"
#include "cpu_threads.h"

#ifdef LUMI_HAVE_OPENBLAS
#include <cblas.h>
#endif

extern const LumiBackendOps lumi_backend_cpu, lumi_backend_blas;
#define CPU lumi_backend_cpu

static int blas_supports(LumiOp op, LumiDType t) {
    (void)op;
    return t == LUMI_F32; /* sgemm: f32 only; other weights= are refused by name */
}

static int blas_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
#ifndef LUMI_HAVE_OPENBLAS
    (void)ctx, (void)m, (void)w, (void)o;
    return lumi_err(e, "backend blas: %s", lumi_backend_blas.unavailable);
#else
    if (CPU.init(ctx, m, w, o, e) != 0) return -1;
    /* OpenBLAS keeps one process-wide thread count; the last session wins */
    openblas_set_num_threads(o->threads > 0 ? o->threads : lumi_cpu_count());
    return 0;
#endif
}

/* out[n, rows] = x[n, cols] W^T, W row-major [rows, cols] */
static void blas_matmul(void *ctx, LumiRef outr, int os, LumiRef xr, const LumiMat *w, const LumiMat *b, int n) {
    (void)ctx;
    float *out = lumi_host(outr);
    const float *x = lumi_host(xr), *bias = b ? b->data : NULL;
#ifdef LUMI_HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, w->rows, w->cols, 1.0f, x, w->cols, w->data, w->cols, 0.0f,
                out, os);
#else
    (void)out, (void)os, (void)x, (void)w, (void)n; /* unreachable: init fails */
#endif
    if (bias)
        for (int t = 0; t < n; t++)
            for (int r = 0; r < w->rows; r++) out[(size_t)t * os + r] += bias[r];
}

/* Everything else is the cpu backend's, on the cpu backend's context. */
static void blas_free(void *c) { CPU.free(c); }
static const LumiWeights *blas_weights(void *c) { return CPU.weights(c); }
static void blas_embed(void *c, LumiRef x, const LumiMat *emb, const int *tok, int n) { CPU.embed(c, x, emb, tok, n); }
static void blas_rmsnorm(void *c, LumiRef o, LumiRef x, const LumiMat *w, int n, int dim, float eps) {
    CPU.rmsnorm(c, o, x, w, n, dim, eps);
}
static void blas_rope(void *c, LumiRef x, int stride, int n, int pos0, int heads, int hs) {
    CPU.rope(c, x, stride, n, pos0, heads, hs);
}
static void blas_attention(void *c, LumiRef o, LumiRef q, LumiRef k, LumiRef v, int n, int pos0) {
    CPU.attention(c, o, q, k, v, n, pos0);
}
static void blas_swiglu(void *c, LumiRef h1, LumiRef h3, size_t len) { CPU.swiglu(c, h1, h3, len); }
static void blas_add(void *c, LumiRef x, LumiRef y, size_t len) { CPU.add(c, x, y, len); }

const LumiBackendOps lumi_backend_blas = {
    .name = "blas",
    .doc = "cpu backend with OpenBLAS sgemm matmuls: fast, not batch invariant (for comparison)",
    .init = blas_init,
    .free = blas_free,
    .weights = blas_weights,
    .supports = blas_supports,
    .alloc = lumi_host_alloc,
    .release = lumi_host_release,
    .to_host = lumi_host_to_host,
    .copy = lumi_host_copy,
    .embed = blas_embed,
    .rmsnorm = blas_rmsnorm,
    .matmul = blas_matmul,
#ifndef LUMI_HAVE_OPENBLAS
    .unavailable = "this lumi was built without OpenBLAS (install libopenblas-dev and rebuild)",
#endif
    .rope = blas_rope,
    .attention = blas_attention,
    .swiglu = blas_swiglu,
    .add = blas_add,
};
