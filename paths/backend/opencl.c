/* opencl.c: backend `opencl`, the model on an OpenCL device. Weights are
 * uploaded once (f32, bf16 or f16, as the model holds them: the kernels
 * widen them exactly), activations and the KV cache are device buffers
 * (a LumiBuf wraps a cl_mem; a LumiRef's offset travels as a kernel
 * argument, never as a sub-buffer), every op is a kernel from
 * opencl_kernels.cl on one in-order queue, and to_host() is the only read
 * back. The kernels are batch invariant (see opencl_kernels.cl), so all
 * cache x prefill paths of this backend agree bitwise.
 *
 * Ops return nothing, so the first failure of an enqueue is kept in the
 * context and reported by the next to_host(), the interface's sync point.
 *
 * Device: `--path backend=opencl,device=N` or LUMI_OPENCL_DEVICE=N, N
 * counting the devices of every platform in order (0 otherwise).
 * LUMI_OPENCL_KERNELS=FILE compiles FILE instead of the built-in kernels
 * (kernel development, and the tests' perturbations); LUMI_OPENCL_MEM_MB
 * caps the device memory lumi will use (to rehearse a smaller device);
 * LUMI_OPENCL_ATT_ROWS caps the queries per attention launch (the slices a
 * long prefill is cut into when the scratch cannot hold them all).
 * Built only when pkg-config finds OpenCL (ocl-icd-opencl-dev); otherwise
 * the backend is listed and says how to get it. */
#include <stdlib.h>
#include <string.h>

#include "../../engine/backend.h"

#define DOC "OpenCL device (PoCL on the CPU here): batch-invariant kernels, f32/bf16/f16; device=N or LUMI_OPENCL_DEVICE"

/* Matmul and embedding weights in f32, bf16 or f16, widened exactly in the
 * kernels (norm weights and biases are always f32). */
static int ocl_supports(LumiOp op, LumiDType t) {
    (void)op;
    return t == LUMI_F32 || t == LUMI_BF16 || t == LUMI_F16;
}

#ifndef LUMI_HAVE_OPENCL

#define NO_OPENCL                                                                                      \
    "this lumi was built without OpenCL (install ocl-icd-opencl-dev and opencl-headers, plus a driver " \
    "such as pocl-opencl-icd, and rebuild)"

static int ocl_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
    (void)ctx, (void)m, (void)w, (void)o;
    return lumi_err(e, "backend opencl: %s", NO_OPENCL);
}

const LumiBackendOps lumi_backend_opencl = {
    .name = "opencl", .doc = DOC, .init = ocl_init, .supports = ocl_supports, .unavailable = NO_OPENCL};

#else

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#define LANES 64 /* as in opencl_kernels.cl */
#define TT 8
/* Weight rows per matmul work-group: a CPU device (PoCL) pays per
 * work-group, a GPU wants many of them. The bits do not depend on it. */
#define RB_GPU 4
#define RB_CPU 16

static const char KERNELS[] =
#include "opencl_kernels.inc"
    ;

struct LumiBuf {
    cl_mem mem;
    size_t bytes;
};

enum { K_EMBED, K_RMSNORM, K_MATMUL, K_ROPE, K_ATTENTION, K_SWIGLU, K_ADD, K_PEAK_READ, K_PEAK_FMA, N_KERNELS };
static const char *const KERNEL_NAMES[N_KERNELS] = {"embed", "rmsnorm", "matmul",    "rope",    "attention",
                                                    "swiglu", "add",    "peak_read", "peak_fma"};

typedef struct {
    const LumiModel *m;
    cl_context cx;
    cl_command_queue q;
    cl_program prog;
    cl_kernel k[N_KERNELS];
    char dev_name[128];
    int dev_index;
    int rb; /* matmul rows per work-group */
    size_t mem_limit, mem_used, max_alloc; /* bytes */
    LumiWeights w;       /* data: LumiBuf * */
    LumiLayer *layers;
    LumiBuf **wbufs;     /* uploaded weights, for release */
    int n_wbufs;
    LumiBuf *cos, *sin;  /* rope tables */
    int rope_rows;       /* positions uploaded (the host table grows with the run) */
    LumiBuf *scratch;    /* attention probabilities, [att_rows, n_heads, seq_len] */
    int att_rows;        /* queries per attention launch */
    cl_int err;          /* first failure since the last to_host */
    char err_what[96];
} Ocl;

/* ---- errors ---- */

static void ck(Ocl *o, cl_int rc, const char *what) {
    if (rc == CL_SUCCESS || o->err != CL_SUCCESS) return;
    o->err = rc;
    snprintf(o->err_what, sizeof o->err_what, "%s", what);
}

static int take_err(Ocl *o, LumiErr *e) {
    if (o->err == CL_SUCCESS) return 0;
    cl_int rc = o->err;
    o->err = CL_SUCCESS;
    if (rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES)
        return lumi_err(e, "backend opencl: %s failed: out of device memory on device %d (%s) (OpenCL error %d)",
                        o->err_what, o->dev_index, o->dev_name, (int)rc);
    return lumi_err(e, "backend opencl: %s failed with OpenCL error %d on device %d (%s)", o->err_what, (int)rc,
                    o->dev_index, o->dev_name);
}

/* ---- device memory ---- */

static double mib(size_t bytes) { return (double)bytes / (1 << 20); }

static LumiBuf *buf_new(Ocl *o, size_t bytes, const void *init, LumiErr *e) {
    if (bytes == 0) bytes = sizeof(float);
    if (bytes > o->max_alloc || bytes > o->mem_limit - o->mem_used) {
        lumi_err(e, "backend opencl: out of device memory: a buffer of %.1f MiB needed, %.1f of %.1f MiB in use "
                    "on device %d (%s, largest buffer %.1f MiB)",
                 mib(bytes), mib(o->mem_used), mib(o->mem_limit), o->dev_index, o->dev_name, mib(o->max_alloc));
        return NULL;
    }
    cl_int rc;
    cl_mem_flags fl = init ? CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR : CL_MEM_READ_WRITE;
    cl_mem mem = clCreateBuffer(o->cx, fl, bytes, (void *)init, &rc);
    if (rc != CL_SUCCESS) {
        lumi_err(e, "backend opencl: allocating %.1f MiB on device %d (%s) failed (OpenCL error %d)", mib(bytes),
                 o->dev_index, o->dev_name, (int)rc);
        return NULL;
    }
    LumiBuf *b = lumi_xmalloc(sizeof *b);
    *b = (LumiBuf){mem, bytes};
    o->mem_used += bytes;
    return b;
}

static void buf_free(Ocl *o, LumiBuf *b) {
    if (!b) return;
    clReleaseMemObject(b->mem);
    o->mem_used -= b->bytes;
    free(b);
}

static LumiBuf *ocl_alloc(void *ctx, size_t n, LumiErr *e) {
    size_t bytes;
    if (lumi_mul_size(n, sizeof(float), &bytes) != 0) {
        lumi_err(e, "backend opencl: %zu floats do not fit in memory", n);
        return NULL;
    }
    return buf_new(ctx, bytes, NULL, e);
}

static void ocl_release(void *ctx, LumiBuf *b) { buf_free(ctx, b); }

static cl_mem mem_of(const LumiMat *m) { return ((const LumiBuf *)m->data)->mem; }

/* ---- device, program, weights ---- */

/* Device `want` counting every platform's devices in order; -1 with a message listing them. */
static int pick_device(int want, cl_device_id *out, Ocl *o, LumiErr *e) {
    cl_platform_id plats[16];
    cl_uint np = 0;
    cl_int rc = clGetPlatformIDs(16, plats, &np);
    if (rc != CL_SUCCESS || np == 0)
        return lumi_err(e, "backend opencl: no OpenCL platform found (install a driver, e.g. Debian's pocl-opencl-icd)");
    char list[512] = "";
    int idx = 0;
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd && d < 16; d++, idx++) {
            char name[128] = "?";
            clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof name, name, NULL);
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%d = %s", idx ? ", " : "", idx, name);
            if (idx == want) {
                *out = devs[d];
                snprintf(o->dev_name, sizeof o->dev_name, "%s", name);
                o->dev_index = idx;
                return 0;
            }
        }
    }
    if (idx == 0) return lumi_err(e, "backend opencl: no OpenCL device found on %u platform(s)", np);
    return lumi_err(e, "backend opencl: no device %d (devices: %s)", want, list);
}

static int device_index(const LumiBackendOpts *opt, int *out, LumiErr *e) {
    const char *env = getenv("LUMI_OPENCL_DEVICE");
    long n = 0;
    if (opt->device >= 0) n = opt->device;
    else if (env && *env && lumi_parse_int(env, 0, 1 << 20, &n) != 0)
        return lumi_err(e, "LUMI_OPENCL_DEVICE='%s': expected a device number >= 0", env);
    *out = (int)n;
    return 0;
}

/* The build log on one line: newlines become " | ", cut to fit a message. */
static void flat_log(cl_program prog, cl_device_id dev, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) != CL_SUCCESS || len == 0) return;
    char *log = lumi_xmalloc(len + 1);
    clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, len, log, NULL);
    log[len] = 0;
    size_t k = 0;
    for (char *s = log; *s && k + 4 < n; s++) {
        if (*s == '\n') {
            if (k > 0 && s[1]) k += (size_t)snprintf(out + k, n - k, " | ");
        } else {
            out[k++] = *s;
        }
    }
    out[k] = 0;
    free(log);
}

static int build(Ocl *o, cl_device_id dev, LumiErr *e) {
    const char *file = getenv("LUMI_OPENCL_KERNELS");
    char *src = NULL;
    if (file && *file && lumi_read_file(file, &src, NULL, e) != 0) return -1;
    const char *text = src ? src : KERNELS;
    cl_int rc;
    o->prog = clCreateProgramWithSource(o->cx, 1, &text, NULL, &rc);
    free(src);
    if (rc != CL_SUCCESS) return lumi_err(e, "backend opencl: clCreateProgramWithSource failed (%d)", (int)rc);
    cl_device_type type = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    o->rb = type & CL_DEVICE_TYPE_CPU ? RB_CPU : RB_GPU;
    char opts[64];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DRB=%d", o->rb);
    rc = clBuildProgram(o->prog, 1, &dev, opts, NULL, NULL);
    if (rc != CL_SUCCESS) {
        char log[700];
        flat_log(o->prog, dev, log, sizeof log);
        return lumi_err(e, "backend opencl: kernels%s%s failed to compile on %s: %s", file && *file ? " from " : "",
                        file && *file ? file : "", o->dev_name, log[0] ? log : "(no build log)");
    }
    for (int i = 0; i < N_KERNELS; i++) {
        o->k[i] = clCreateKernel(o->prog, KERNEL_NAMES[i], &rc);
        if (rc != CL_SUCCESS) return lumi_err(e, "backend opencl: kernel %s missing from the program (%d)", KERNEL_NAMES[i], (int)rc);
    }
    return 0;
}

static size_t elem_size(LumiDType t) { return t == LUMI_BF16 || t == LUMI_F16 ? 2 : 4; }

static size_t mat_bytes(const LumiMat *m) {
    return m->data ? (size_t)m->rows * (size_t)m->cols * elem_size(m->type) : 0;
}

/* The kernels' dtype argument (load_w in opencl_kernels.cl). */
static cl_int dtype_arg(LumiDType t) { return t == LUMI_BF16 ? 1 : t == LUMI_F16 ? 2 : 0; }

/* Uploads one weight (once: the classifier may alias the embedding). */
static int upload(Ocl *o, LumiMat *m, LumiErr *e) {
    if (!m->data) return 0;
    if (!ocl_supports(LUMI_OP_MATMUL, m->type))
        return lumi_err(e, "backend opencl: cannot hold a %s weight (f32, bf16, f16 only)", lumi_dtype_name(m->type));
    LumiBuf *b = buf_new(o, mat_bytes(m), m->data, e);
    if (!b) return -1;
    o->wbufs[o->n_wbufs++] = b;
    m->data = b;
    return 0;
}

static int upload_weights(Ocl *o, const LumiModel *mdl, const LumiWeights *w, LumiErr *e) {
    int L = mdl->cfg.n_layers, shared = w->cls.data == w->tok_emb.data;
    o->w = *w;
    o->layers = lumi_xmalloc((size_t)L * sizeof *o->layers);
    memcpy(o->layers, w->layers, (size_t)L * sizeof *o->layers);
    o->w.layers = o->layers;
    o->wbufs = lumi_xcalloc((size_t)(12 * L + 3), sizeof *o->wbufs);
    LumiMat *top[] = {&o->w.tok_emb, &o->w.rms_final, &o->w.cls};
    size_t need = 0;
    for (int i = 0; i < 3; i++) need += (i == 2 && shared) ? 0 : mat_bytes(top[i]);
    for (int l = 0; l < L; l++) {
        LumiLayer *y = &o->layers[l];
        LumiMat *ms[] = {&y->rms_att, &y->rms_ffn, &y->wq, &y->wk, &y->wv, &y->wo, &y->w1, &y->w2, &y->w3, &y->bq, &y->bk, &y->bv};
        for (int i = 0; i < 12; i++) need += mat_bytes(ms[i]);
    }
    if (need > o->mem_limit)
        return lumi_err(e, "backend opencl: out of device memory: the weights need %.1f MiB, device %d (%s) has %.1f MiB",
                        mib(need), o->dev_index, o->dev_name, mib(o->mem_limit));
    for (int i = 0; i < 2; i++)
        if (upload(o, top[i], e) != 0) return -1;
    if (shared) o->w.cls.data = o->w.tok_emb.data;
    else if (upload(o, &o->w.cls, e) != 0) return -1;
    for (int l = 0; l < L; l++) {
        LumiLayer *y = &o->layers[l];
        LumiMat *ms[] = {&y->rms_att, &y->rms_ffn, &y->wq, &y->wk, &y->wv, &y->wo, &y->w1, &y->w2, &y->w3, &y->bq, &y->bk, &y->bv};
        for (int i = 0; i < 12; i++)
            if (upload(o, ms[i], e) != 0) return -1;
    }
    return 0;
}

static void ocl_free(void *ctx) {
    Ocl *o = ctx;
    if (!o) return;
    if (o->q) clFinish(o->q);
    for (int i = 0; i < o->n_wbufs; i++) buf_free(o, o->wbufs[i]);
    buf_free(o, o->cos), buf_free(o, o->sin), buf_free(o, o->scratch);
    for (int i = 0; i < N_KERNELS; i++)
        if (o->k[i]) clReleaseKernel(o->k[i]);
    if (o->prog) clReleaseProgram(o->prog);
    if (o->q) clReleaseCommandQueue(o->q);
    if (o->cx) clReleaseContext(o->cx);
    free(o->wbufs), free(o->layers), free(o);
}

/* Attention scratch holds the probabilities of att_rows queries: at most
 * 64 MiB, so a long prefill is launched in slices of queries. */
static int scratch_init(Ocl *o, LumiErr *e) {
    const LumiConfig *c = &o->m->cfg;
    size_t per_query = (size_t)c->n_heads * (size_t)c->seq_len;
    size_t rows = ((size_t)16 << 20) / per_query;
    const char *env = getenv("LUMI_OPENCL_ATT_ROWS");
    long want;
    if (env && *env) {
        if (lumi_parse_int(env, 1, 1 << 20, &want) != 0)
            return lumi_err(e, "LUMI_OPENCL_ATT_ROWS='%s': expected a number of queries >= 1", env);
        if ((size_t)want < rows) rows = (size_t)want;
    }
    o->att_rows = rows < 1 ? 1 : rows > (size_t)c->seq_len ? c->seq_len : (int)rows;
    o->scratch = buf_new(o, (size_t)o->att_rows * per_query * sizeof(float), NULL, e);
    return o->scratch ? 0 : -1;
}

static int ocl_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *opt, LumiErr *e) {
    int want = 0;
    if (device_index(opt, &want, e) != 0) return -1;
    Ocl *o = lumi_xcalloc(1, sizeof *o);
    o->m = m;
    cl_device_id dev;
    if (pick_device(want, &dev, o, e) != 0) return ocl_free(o), -1;
    cl_ulong gmem = 0, maxalloc = 0;
    size_t wg = 0;
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    o->mem_limit = (size_t)gmem, o->max_alloc = (size_t)maxalloc;
    const char *cap = getenv("LUMI_OPENCL_MEM_MB");
    long capmb;
    if (cap && *cap) {
        if (lumi_parse_int(cap, 1, 1L << 30, &capmb) != 0)
            return ocl_free(o), lumi_err(e, "LUMI_OPENCL_MEM_MB='%s': expected a number of MiB >= 1", cap);
        if ((size_t)capmb << 20 < o->mem_limit) o->mem_limit = (size_t)capmb << 20;
    }
    if (wg < LANES)
        return ocl_free(o), lumi_err(e, "backend opencl: device %d (%s) runs work-groups of %zu, the kernels need %d",
                                     want, o->dev_name, wg, LANES);
    cl_int rc;
    o->cx = clCreateContext(NULL, 1, &dev, NULL, NULL, &rc);
    if (rc == CL_SUCCESS) o->q = clCreateCommandQueue(o->cx, dev, 0, &rc);
    if (rc != CL_SUCCESS)
        return ocl_free(o), lumi_err(e, "backend opencl: cannot open device %d (%s): OpenCL error %d", want, o->dev_name,
                                     (int)rc);
    if (build(o, dev, e) != 0 || upload_weights(o, m, w, e) != 0 || scratch_init(o, e) != 0)
        return ocl_free(o), -1;
    *ctx = o;
    return 0;
}

static const LumiWeights *ocl_weights(void *ctx) { return &((Ocl *)ctx)->w; }

/* ---- queue helpers ---- */

#define ARG(o, k, i, v) ck(o, clSetKernelArg(k, i, sizeof(v), &(v)), "clSetKernelArg")

static void launch(Ocl *o, int which, cl_uint dims, const size_t *global, const size_t *local) {
    for (cl_uint d = 0; d < dims; d++)
        if (global[d] == 0) return;
    ck(o, clEnqueueNDRangeKernel(o->q, o->k[which], dims, NULL, global, local, 0, NULL, NULL), KERNEL_NAMES[which]);
}

static int ocl_to_host(void *ctx, float *dst, LumiRef src, size_t n, LumiErr *e) {
    Ocl *o = ctx;
    if (n > 0)
        ck(o, clEnqueueReadBuffer(o->q, src.buf->mem, CL_TRUE, src.off * sizeof(float), n * sizeof(float), dst, 0, NULL,
                                  NULL),
           "reading results back");
    else
        ck(o, clFinish(o->q), "clFinish");
    return take_err(o, e);
}

static void ocl_copy(void *ctx, LumiRef dst, LumiRef src, size_t n) {
    Ocl *o = ctx;
    if (n == 0) return;
    ck(o, clEnqueueCopyBuffer(o->q, src.buf->mem, dst.buf->mem, src.off * sizeof(float), dst.off * sizeof(float),
                              n * sizeof(float), 0, NULL, NULL),
       "copy");
}

/* ---- ops ---- */

/* One launch per token: the ids never need to reach the device. */
static void ocl_embed(void *ctx, LumiRef x, const LumiMat *emb, const int *tokens, int n) {
    Ocl *o = ctx;
    cl_kernel k = o->k[K_EMBED];
    cl_mem xm = x.buf->mem, em = mem_of(emb);
    cl_int dt = dtype_arg(emb->type), cols = emb->cols;
    ARG(o, k, 2, em), ARG(o, k, 3, dt), ARG(o, k, 5, cols), ARG(o, k, 0, xm);
    size_t g = (size_t)cols;
    for (int t = 0; t < n; t++) {
        cl_ulong xo = x.off + (size_t)t * cols, tok = (cl_ulong)tokens[t];
        ARG(o, k, 1, xo), ARG(o, k, 4, tok);
        launch(o, K_EMBED, 1, &g, NULL);
    }
}

static void ocl_rmsnorm(void *ctx, LumiRef out, LumiRef x, const LumiMat *w, int n, int dim, float eps) {
    Ocl *o = ctx;
    cl_kernel k = o->k[K_RMSNORM];
    cl_mem om = out.buf->mem, xm = x.buf->mem, wm = mem_of(w);
    cl_ulong oo = out.off, xo = x.off;
    cl_int d = dim;
    cl_float ep = eps;
    ARG(o, k, 0, om), ARG(o, k, 1, oo), ARG(o, k, 2, xm), ARG(o, k, 3, xo), ARG(o, k, 4, wm), ARG(o, k, 5, d);
    ARG(o, k, 6, ep);
    size_t g = (size_t)n * LANES, l = LANES;
    launch(o, K_RMSNORM, 1, &g, &l);
}

static void ocl_matmul(void *ctx, LumiRef out, int os, LumiRef x, const LumiMat *w, const LumiMat *b, int n) {
    Ocl *o = ctx;
    cl_kernel k = o->k[K_MATMUL];
    cl_mem om = out.buf->mem, xm = x.buf->mem, wm = mem_of(w), bm = b && b->data ? mem_of(b) : wm;
    cl_ulong oo = out.off, xo = x.off;
    cl_int ost = os, dt = dtype_arg(w->type), hb = b && b->data, rows = w->rows, cols = w->cols, nn = n;
    ARG(o, k, 0, om), ARG(o, k, 1, oo), ARG(o, k, 2, ost), ARG(o, k, 3, xm), ARG(o, k, 4, xo), ARG(o, k, 5, wm);
    ARG(o, k, 6, dt), ARG(o, k, 7, bm), ARG(o, k, 8, hb), ARG(o, k, 9, rows), ARG(o, k, 10, cols), ARG(o, k, 11, nn);
    size_t g[2] = {(size_t)(rows + o->rb - 1) / o->rb * LANES, (size_t)(n + TT - 1) / TT}, l[2] = {LANES, 1};
    launch(o, K_MATMUL, 2, g, l);
}

/* The host RoPE table grows with the positions a run reaches (the session
 * reserves it before each forward call); upload it again when it outgrew
 * the device copy. A failure is reported at the next to_host. */
static int rope_sync(Ocl *o, int positions) {
    const LumiRope *r = &o->m->rope;
    if (positions <= o->rope_rows) return 0;
    buf_free(o, o->cos), buf_free(o, o->sin);
    o->cos = o->sin = NULL;
    o->rope_rows = 0;
    size_t bytes = (size_t)r->seq_len * (size_t)r->half * sizeof(float);
    LumiErr e;
    if (!(o->cos = buf_new(o, bytes, r->cos, &e)) || !(o->sin = buf_new(o, bytes, r->sin, &e))) {
        ck(o, CL_MEM_OBJECT_ALLOCATION_FAILURE, "rope table upload");
        return -1;
    }
    o->rope_rows = r->seq_len;
    return 0;
}

static void ocl_rope(void *ctx, LumiRef x, int stride, int n, int pos0, int n_heads, int head_size) {
    Ocl *o = ctx;
    if (rope_sync(o, pos0 + n) != 0) return;
    cl_kernel k = o->k[K_ROPE];
    cl_mem xm = x.buf->mem, cm = o->cos->mem, sm = o->sin->mem;
    cl_ulong xo = x.off;
    cl_int st = stride, p0 = pos0, nh = n_heads, hs = head_size, half = o->m->rope.style == LUMI_ROPE_HALF;
    ARG(o, k, 0, xm), ARG(o, k, 1, xo), ARG(o, k, 2, st), ARG(o, k, 3, p0), ARG(o, k, 4, nh), ARG(o, k, 5, hs);
    ARG(o, k, 6, half), ARG(o, k, 7, cm), ARG(o, k, 8, sm);
    size_t g[3] = {(size_t)head_size / 2, (size_t)n_heads, (size_t)n};
    launch(o, K_ROPE, 3, g, NULL);
}

static void ocl_attention(void *ctx, LumiRef out, LumiRef q, LumiRef kc, LumiRef vc, int n, int pos0) {
    Ocl *o = ctx;
    const LumiConfig *c = &o->m->cfg;
    cl_kernel k = o->k[K_ATTENTION];
    cl_mem om = out.buf->mem, qm = q.buf->mem, km = kc.buf->mem, vm = vc.buf->mem, sm = o->scratch->mem;
    cl_ulong oo = out.off, qo = q.off, ko = kc.off, vo = vc.off;
    cl_int p0 = pos0, dim = c->dim, kvd = c->kv_dim, nh = c->n_heads, nkv = c->n_kv_heads, hs = c->head_size,
           sl = c->seq_len;
    ARG(o, k, 0, om), ARG(o, k, 1, oo), ARG(o, k, 2, qm), ARG(o, k, 3, qo), ARG(o, k, 4, km), ARG(o, k, 5, ko);
    ARG(o, k, 6, vm), ARG(o, k, 7, vo), ARG(o, k, 8, sm), ARG(o, k, 10, p0), ARG(o, k, 11, dim), ARG(o, k, 12, kvd);
    ARG(o, k, 13, nh), ARG(o, k, 14, nkv), ARG(o, k, 15, hs), ARG(o, k, 16, sl);
    /* slices of att_rows queries share the scratch; the queue runs them in order */
    for (int t0 = 0; t0 < n; t0 += o->att_rows) {
        cl_int tb = t0;
        ARG(o, k, 9, tb);
        int rows = n - t0 < o->att_rows ? n - t0 : o->att_rows;
        size_t g[2] = {(size_t)rows * LANES, (size_t)c->n_heads}, l[2] = {LANES, 1};
        launch(o, K_ATTENTION, 2, g, l);
    }
}

static void elementwise(Ocl *o, int which, LumiRef a, LumiRef b, size_t len) {
    cl_kernel k = o->k[which];
    cl_mem am = a.buf->mem, bm = b.buf->mem;
    cl_ulong ao = a.off, bo = b.off, n = len;
    ARG(o, k, 0, am), ARG(o, k, 1, ao), ARG(o, k, 2, bm), ARG(o, k, 3, bo), ARG(o, k, 4, n);
    launch(o, which, 1, &len, NULL);
}

static void ocl_swiglu(void *ctx, LumiRef h1, LumiRef h3, size_t len) { elementwise(ctx, K_SWIGLU, h1, h3, len); }
static void ocl_add(void *ctx, LumiRef x, LumiRef y, size_t len) { elementwise(ctx, K_ADD, x, y, len); }

/* ---- lumi bench's device figures ---- */

#define PEAK_ITEMS ((size_t)1 << 18) /* work-items of the GPU-shaped peak kernels */

/* Seconds of one launch (queue drained before and after); -1 on error. */
static double timed(Ocl *o, int which, const size_t *global) {
    if (clFinish(o->q) != CL_SUCCESS) return -1;
    double t0 = lumi_now();
    launch(o, which, 1, global, NULL);
    if (clFinish(o->q) != CL_SUCCESS || o->err != CL_SUCCESS) return -1;
    return lumi_now() - t0;
}

static int ocl_peak(void *ctx, double *read_gbs, double *fma_gflops, LumiErr *e) {
    Ocl *o = ctx;
    /* a CPU device runs one work-item per core-ish slice; a GPU needs many */
    cl_int chunked = o->rb == RB_CPU;
    size_t bytes = (size_t)256 << 20, global = chunked ? 64 : PEAK_ITEMS;
    if (bytes > (o->mem_limit - o->mem_used) / 2) bytes = (o->mem_limit - o->mem_used) / 2 & ~(size_t)4095;
    LumiBuf *buf = buf_new(o, bytes, NULL, e), *out = buf ? buf_new(o, PEAK_ITEMS * sizeof(float), NULL, e) : NULL;
    if (!out) return buf_free(o, buf), -1;
    float zero = 0;
    ck(o, clEnqueueFillBuffer(o->q, buf->mem, &zero, sizeof zero, 0, bytes, 0, NULL, NULL), "peak: fill");
    cl_kernel k = o->k[K_PEAK_READ];
    cl_ulong n16 = bytes / 64;
    ARG(o, k, 0, buf->mem), ARG(o, k, 1, n16), ARG(o, k, 2, out->mem), ARG(o, k, 3, chunked);
    *read_gbs = *fma_gflops = 0;
    for (int rep = 0; rep < 3; rep++) {
        double s = timed(o, K_PEAK_READ, &global);
        if (s > 0 && bytes / s / 1e9 > *read_gbs) *read_gbs = bytes / s / 1e9;
    }
    /* FMA: grow the loop until a launch takes 50 ms, so timer noise is small */
    k = o->k[K_PEAK_FMA];
    ARG(o, k, 1, out->mem);
    cl_int one = 1;
    ARG(o, k, 0, one);
    timed(o, K_PEAK_FMA, &global); /* the first launch may compile (PoCL): untimed */
    for (cl_int iters = 256; iters <= (1 << 24); iters *= 4) {
        ARG(o, k, 0, iters);
        double s = timed(o, K_PEAK_FMA, &global);
        if (s < 0) break;
        double g = 128.0 * iters * (double)global / s / 1e9; /* 4 chains x 16 lanes x 2 flops */
        if (g > *fma_gflops) *fma_gflops = g;
        if (s > 0.05) break;
    }
    buf_free(o, buf), buf_free(o, out);
    return take_err(o, e);
}

const LumiBackendOps lumi_backend_opencl = {
    .name = "opencl",
    .doc = DOC,
    .init = ocl_init,
    .free = ocl_free,
    .weights = ocl_weights,
    .supports = ocl_supports,
    .alloc = ocl_alloc,
    .release = ocl_release,
    .to_host = ocl_to_host,
    .copy = ocl_copy,
    .embed = ocl_embed,
    .rmsnorm = ocl_rmsnorm,
    .matmul = ocl_matmul,
    .rope = ocl_rope,
    .attention = ocl_attention,
    .swiglu = ocl_swiglu,
    .add = ocl_add,
    .peak = ocl_peak,
};

#endif
