/* backend.h: a backend is a table of kernels plus the memory they run on
 * (ggml-backend style). engine/forward.c drives the model through this table
 * and never knows which backend runs it; the implementations live in
 * paths/backend/ and are chosen by name in paths/registry.c.
 *
 * Memory: activations and the KV cache live in backend buffers (LumiBuf,
 * opaque) and are passed to kernels as a LumiRef, a buffer plus an element
 * offset. Nothing above a backend dereferences a buffer: on a GPU backend it
 * is device memory (an OpenCL cl_mem cannot even be offset as a pointer), so
 * forward.c only computes offsets and to_host() is the one way back.
 * Weights are LumiMats whose `data` the backend itself produced (weights()):
 * host pointers on cpu backends, device handles elsewhere.
 *
 * Dtypes: matmul and embed read their weight in its own dtype. A backend
 * says which it can run (supports()); the session refuses a path whose
 * weights a backend cannot run, naming backend, tensor and dtype, before
 * anything is allocated. Norm weights and biases are always f32.
 *
 * Batch invariance contract: every kernel computes each output element with
 * a reduction order that does not depend on n (how many tokens are in the
 * call) or on which positions came from the cache. That is what lets the
 * cache and prefill strategies of one backend agree bitwise. */
#ifndef LUMI_BACKEND_H
#define LUMI_BACKEND_H
#include <stddef.h>
#include "model.h"

typedef struct LumiBuf LumiBuf; /* backend memory; defined by each backend */

/* f32 elements of a buffer, from element `off` on. */
typedef struct {
    LumiBuf *buf;
    size_t off;
} LumiRef;

static inline LumiRef lumi_ref(LumiBuf *b) { return (LumiRef){b, 0}; }
static inline LumiRef lumi_at(LumiRef r, size_t off) { return (LumiRef){r.buf, r.off + off}; }
/* Host backends: a LumiBuf is the float array itself. */
static inline float *lumi_host(LumiRef r) { return (float *)(void *)r.buf + r.off; }

/* The ops whose weight operand can be of several dtypes. */
typedef enum { LUMI_OP_EMBED = 0, LUMI_OP_MATMUL } LumiOp;

typedef struct {
    int threads;      /* 0: all cores */
    int force_scalar; /* SIMD backends: use the portable fallback */
    int device;       /* device backends: index; -1: LUMI_<BACKEND>_DEVICE or the first */
} LumiBackendOpts;

/* One output of a matmul: out (row stride out_stride) = w x (+ bias when
 * bias && bias->data). */
typedef struct {
    LumiRef out;
    int out_stride;
    const LumiMat *w, *bias;
} LumiMatmulOut;

typedef struct LumiBackendOps {
    const char *name;
    const char *doc;
    /* Runs model `m` with weights `w` (m->w, or a copy in another dtype that
     * outlives the context). Fails with a message, e.g. no device. */
    int (*init)(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e);
    void (*free)(void *ctx);
    /* The weights as this backend holds them (device copies, repacked, ...). */
    const LumiWeights *(*weights)(void *ctx);
    /* 1 if op can read a weight of dtype t. Static: no context needed. */
    int (*supports)(LumiOp op, LumiDType t);

    /* n_floats of backend memory; NULL with a message (how much) on failure. */
    LumiBuf *(*alloc)(void *ctx, size_t n_floats, LumiErr *e);
    void (*release)(void *ctx, LumiBuf *b);
    /* The one way back to the host; reports errors of the work queued so far. */
    int (*to_host)(void *ctx, float *dst, LumiRef src, size_t n, LumiErr *e);
    void (*copy)(void *ctx, LumiRef dst, LumiRef src, size_t n);

    /* x[t, :] = emb[tokens[t], :] (tokens in host memory) */
    void (*embed)(void *ctx, LumiRef x, const LumiMat *emb, const int *tokens, int n);
    /* out[t] = x[t] / rms(x[t]) * w, rms over dim, eps inside the sqrt; out == x allowed */
    void (*rmsnorm)(void *ctx, LumiRef out, LumiRef x, const LumiMat *w, int n, int dim, float eps);
    /* out[t, r] = sum_c W[r, c] x[t, c] (+ bias[r] when bias->data); out row stride out_stride */
    void (*matmul)(void *ctx, LumiRef out, int out_stride, LumiRef x, const LumiMat *w, const LumiMat *bias, int n);
    /* Optional (NULL: one matmul each): o[i].out = o[i].w x for i < count,
     * the same results as count matmuls; the matrices share x, so a backend
     * may run them as one piece of work (q, k and v; gate and up). */
    void (*matmuls)(void *ctx, LumiRef x, int n, const LumiMatmulOut *o, int count);
    /* rotate n rows of n_heads heads in place; row t is at position pos0 + t */
    void (*rope)(void *ctx, LumiRef x, int stride, int n, int pos0, int n_heads, int head_size);
    /* causal attention of n queries at positions pos0.. over keys 0..pos0+t.
     * q [n, dim]; kc, vc [>= pos0+n, kv_dim]; out [n, dim] */
    void (*attention)(void *ctx, LumiRef out, LumiRef q, LumiRef kc, LumiRef vc, int n, int pos0);
    /* h1 = silu(h1) * h3, elementwise over len */
    void (*swiglu)(void *ctx, LumiRef h1, LumiRef h3, size_t len);
    /* x += y */
    void (*add)(void *ctx, LumiRef x, LumiRef y, size_t len);

    /* Optional (device backends; NULL elsewhere): the device's streaming
     * read bandwidth (GB/s) and f32 FMA peak (GFLOP/s), measured now, so
     * lumi bench takes a device path's fractions against the device. */
    int (*peak)(void *ctx, double *read_gbs, double *fma_gflops, LumiErr *e);

    /* NULL when usable; otherwise why this build cannot run it and how to get
     * it (`lumi paths` marks the backend with it; init fails with it). */
    const char *unavailable;
} LumiBackendOps;

#endif
