/* backend.h: a backend is a table of kernels plus the memory they run on
 * (ggml-backend style). engine/forward.c drives the model through this table
 * and never knows which backend it runs. Buffers are float pointers obtained
 * from alloc(); on a GPU backend they are device pointers, so the forward
 * pass only offsets them and never dereferences them itself.
 *
 * Batch invariance contract: every kernel computes each output element with
 * a reduction order that does not depend on n (how many tokens are in the
 * call) or on which positions came from the cache. That is what lets the
 * cache and prefill strategies of one backend agree bitwise. */
#ifndef LUMI_BACKEND_H
#define LUMI_BACKEND_H
#include <stddef.h>
#include "../../engine/model.h"

typedef struct {
    int threads;   /* 0: all cores */
    int force_scalar; /* SIMD backends: use the portable fallback */
} LumiBackendOpts;

typedef struct LumiBackendOps {
    const char *name;
    const char *doc;
    int (*init)(void **ctx, const LumiModel *m, const LumiBackendOpts *o, LumiErr *e);
    void (*free)(void *ctx);
    /* The weights as this backend holds them (device copies, repacked, ...). */
    const LumiWeights *(*weights)(void *ctx);

    float *(*alloc)(void *ctx, size_t n_floats);
    void (*release)(void *ctx, float *p);
    void (*to_host)(void *ctx, float *dst, const float *src, size_t n);
    void (*copy)(void *ctx, float *dst, const float *src, size_t n);

    /* x[t, :] = emb[tokens[t], :] */
    void (*embed)(void *ctx, float *x, const LumiMat *emb, const int *tokens, int n);
    /* out[t] = x[t] / rms(x[t]) * w, rms over dim, eps inside the sqrt */
    void (*rmsnorm)(void *ctx, float *out, const float *x, const float *w, int n, int dim, float eps);
    /* out[t, r] = sum_c W[r, c] x[t, c] (+ bias[r]); out row stride out_stride */
    void (*matmul)(void *ctx, float *out, int out_stride, const float *x, const LumiMat *w, const float *bias, int n);
    /* rotate n rows of n_heads heads in place; row t is at position pos0 + t */
    void (*rope)(void *ctx, float *x, int stride, int n, int pos0, int n_heads, int head_size);
    /* causal attention of n queries at positions pos0.. over keys 0..pos0+t.
     * q [n, dim]; kc, vc [>= pos0+n, kv_dim]; out [n, dim] */
    void (*attention)(void *ctx, float *out, const float *q, const float *kc, const float *vc, int n, int pos0);
    /* h1 = silu(h1) * h3, elementwise over len */
    void (*swiglu)(void *ctx, float *h1, const float *h3, size_t len);
    /* x += y */
    void (*add)(void *ctx, float *x, const float *y, size_t len);

    /* NULL when usable; otherwise why this build cannot run it and how to get
     * it (`lumi paths` marks the backend with it; init fails with it). */
    const char *unavailable;
} LumiBackendOps;

/* The registry of backends (paths/registry.c). */
const LumiBackendOps *lumi_backend_find(const char *name);

#endif
