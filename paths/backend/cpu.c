/* cpu.c: the fast CPU backend. Kernels come from a per-ISA table
 * (cpu_kernels.h: AVX-512, AVX2+FMA or portable C, picked from CPUID) and
 * run on a persistent thread pool (cpu_threads.h) over output rows.
 *
 * Batch invariance: every matmul output and attention score is one dot16
 * (cpu_kernels.h) whose order depends on nothing but the row length, and
 * every thread computes whole output elements, so results are bitwise the
 * same for any number of tokens per call, any cache strategy and any thread
 * count. Elementwise steps (norm scaling, RoPE, SiLU, softmax exponentials)
 * are plain C shared by all tables, so the tables agree bitwise too.
 *
 * Environment: LUMI_FORCE_SCALAR=1 selects the portable table (as does
 * LumiBackendOpts.force_scalar); LUMI_CPU_ISA=avx512|avx2|scalar picks one
 * explicitly (an error if this CPU cannot run it). */
#include <math.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/dtype.h"
#include "host.h"
#include "cpu_kernels.h"
#include "cpu_threads.h"

/* A thread's matmul work range (see mat_part), alone in its cache line: the
 * threads take from their own ranges all through a matmul, and ranges
 * sharing a line made every take move that line between the cores. */
typedef struct {
    _Alignas(64) _Atomic uint64_t v;
} MatRange;

typedef struct {
    const LumiModel *m;
    const LumiWeights *w;
    const LumiCpuKernels *k;
    LumiPool *pool;
    float *scores; /* [threads][scores_per_thread] attention scratch */
    size_t scores_per_thread; /* att_group rows of seq_len scores */
    int att_group;           /* heads per attention unit (at most 64) */
    MatRange *range;         /* [2 x threads] matmul work ranges (see mat_part) */
    float *wscratch;         /* [threads][LUMI_CPU_SLAB * max_cols]: widened weight rows (matmul_dt) */
    size_t wscratch_floats;  /* per thread */
    int8_t *xq;              /* q8_0 matmuls: the activations quantized, [rows, cols] */
    float *xd;               /* and their block scales, [rows, cols / 32] */
    size_t xq_cap;           /* elements xq holds (grows geometrically) */
} Cpu;

#if defined(__x86_64__) && defined(__GNUC__)
/* CPUID.1:ECX bit 29 (clang 14's __builtin_cpu_supports has no "f16c") */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

const LumiCpuKernels *lumi_cpu_kernels(const char *isa) {
    int any = !isa || !*isa;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    /* f16c: the f16 and q8_0 weights are widened with vcvtph2ps */
    int f16c = has_f16c();
    int has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("fma") && f16c;
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    int vnni = has512 && __builtin_cpu_supports("avx512vnni"); /* vpdpbusd for q8_0 */
#else
    int has512 = 0, has2 = 0, vnni = 0;
#endif
    if ((any || !strcmp(isa, "avx512vnni")) && vnni && lumi_cpu_kernels_avx512vnni()) return lumi_cpu_kernels_avx512vnni();
    if ((any || !strcmp(isa, "avx512")) && has512 && lumi_cpu_kernels_avx512()) return lumi_cpu_kernels_avx512();
    if ((any || !strcmp(isa, "avx2")) && has2 && lumi_cpu_kernels_avx2()) return lumi_cpu_kernels_avx2();
    if (any || !strcmp(isa, "scalar")) return lumi_cpu_kernels_scalar();
    return NULL;
}

const LumiCpuKernels *lumi_cpu_select(int force_scalar, const char **isa_out) {
    const char *isa = getenv("LUMI_CPU_ISA");
    const char *fs = getenv("LUMI_FORCE_SCALAR");
    if (force_scalar || (fs && *fs && strcmp(fs, "0"))) isa = "scalar";
    if (isa_out) *isa_out = isa;
    return lumi_cpu_kernels(isa);
}

/* Every weight dtype: bf16/f16 rows are widened exactly in registers and
 * enter the same dot16 as f32; q8_0 runs the q8_0 x q8_0 dot on quantized
 * activations (cpu_kernels.h). Each order depends on nothing but the row
 * length, so each dtype is batch invariant and all tables agree. */
static int cpu_supports(LumiOp op, LumiDType t) {
    (void)op;
    return t == LUMI_F32 || t == LUMI_BF16 || t == LUMI_F16 || t == LUMI_Q8_0;
}

static int cpu_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
    const char *isa;
    const LumiCpuKernels *k = lumi_cpu_select(o->force_scalar, &isa);
    if (!k)
        return lumi_err(e, "LUMI_CPU_ISA=%s: this CPU or build cannot run it (valid: avx512vnni, avx512, avx2, scalar)",
                        isa);
    Cpu *c = lumi_xcalloc(1, sizeof *c);
    c->m = m;
    c->w = w;
    c->k = k;
    c->pool = lumi_pool_new(o->threads);
    int nt = lumi_pool_size(c->pool), g = (m->cfg.n_heads + nt - 1) / nt;
    c->att_group = g < 64 ? g : 64;
    c->scores_per_thread = ((size_t)c->att_group * (size_t)m->cfg.seq_len + 15) / 16 * 16;
    c->scores = lumi_aligned_alloc((size_t)nt * c->scores_per_thread * sizeof(float));
    c->range = lumi_aligned_alloc(2 * (size_t)lumi_pool_size(c->pool) * sizeof *c->range);
    const LumiConfig *cf = &m->cfg;
    size_t max_cols = (size_t)(cf->hidden_dim > cf->dim ? cf->hidden_dim : cf->dim);
    c->wscratch_floats = (LUMI_CPU_SLAB * max_cols + 15) / 16 * 16; /* keeps every thread's share 64-byte aligned */
    c->wscratch = lumi_aligned_alloc((size_t)lumi_pool_size(c->pool) * c->wscratch_floats * sizeof(float));
    *ctx = c;
    return 0;
}

static void cpu_free(void *ctx) {
    Cpu *c = ctx;
    if (!c) return;
    lumi_pool_free(c->pool);
    free(c->scores);
    free((void *)c->range);
    free(c->wscratch);
    free(c->xq);
    free(c->xd);
    free(c);
}

static const LumiWeights *cpu_weights(void *ctx) { return ((Cpu *)ctx)->w; }

/* ---- elementwise work, split in contiguous ranges (order-free) ---- */

typedef void (*RangeFn)(void *arg, size_t lo, size_t hi);
typedef struct {
    RangeFn fn;
    void *arg;
    size_t n;
} ForJob;

static void for_part(void *arg, int tid, int nt) {
    const ForJob *j = arg;
    size_t lo = j->n * (size_t)tid / (size_t)nt, hi = j->n * (size_t)(tid + 1) / (size_t)nt;
    if (lo < hi) j->fn(j->arg, lo, hi);
}

/* Below this many elements of work a range runs on the calling thread:
 * waking the pool costs more than it saves (decode-sized vectors). */
#define MIN_PARALLEL_ELEMS (1 << 14)

/* fn over [0, n) items of `work_per_item` elements each. */
static void par_for(Cpu *c, size_t n, size_t work_per_item, RangeFn fn, void *arg) {
    ForJob j = {fn, arg, n};
    if (n * work_per_item < MIN_PARALLEL_ELEMS || n < 2) fn(arg, 0, n);
    else lumi_pool_run(c->pool, for_part, &j);
}

static void cpu_embed(void *ctx, LumiRef xr, const LumiMat *emb, const int *tokens, int n) {
    (void)ctx;
    float *x = lumi_host(xr);
    size_t rb = lumi_row_bytes(emb->type, emb->cols);
    for (int t = 0; t < n; t++) /* exact widening: the same row for every table */
        lumi_widen(emb->type, (const char *)emb->data + (size_t)tokens[t] * rb, (size_t)emb->cols,
                   x + (size_t)t * emb->cols);
}

typedef struct {
    const LumiCpuKernels *k;
    float *out;
    const float *x, *w;
    int dim;
    float eps;
} NormJob;

static void norm_rows(void *arg, size_t lo, size_t hi) {
    const NormJob *j = arg;
    for (size_t t = lo; t < hi; t++) {
        const float *xt = j->x + t * j->dim;
        float *ot = j->out + t * j->dim;
        float inv = 1.0f / sqrtf(j->k->dot(xt, xt, j->dim) / (float)j->dim + j->eps);
        for (int i = 0; i < j->dim; i++) ot[i] = xt[i] * inv * j->w[i];
    }
}

static void cpu_rmsnorm(void *ctx, LumiRef out, LumiRef x, const LumiMat *w, int n, int dim, float eps) {
    Cpu *c = ctx;
    NormJob j = {c->k, lumi_host(out), lumi_host(x), w->data, dim, eps};
    par_for(c, (size_t)n, (size_t)dim, norm_rows, &j);
}

/* ---- matmul: each thread streams its own share of rows, and steals ----
 * The output rows, in groups of 4 (the register tile), are split into one
 * contiguous range per thread, or for decode with the table's decode2 into
 * two, the halves of the thread's share. A thread takes slabs from the
 * front of its own range(s), so its weights are one (two) sequential
 * streams that the hardware prefetchers follow from slab to slab: two far
 * apart keep more reads in flight than one (~10% at the host's higher
 * bandwidth), two adjacent rows confuse the prefetchers. A thread that runs
 * dry takes slabs from the back of another's range: on a shared machine
 * one thread is often slowed for a while, and a static split would make the
 * other wait. A range is one 64-bit atomic (front, back), so every group is
 * computed exactly once; which thread computes a row, and which row is in
 * flight beside it, never changes its bits. */

/* One matrix of a job: its output rows, in groups [g0, g1) of the job's */
typedef struct {
    float *out;
    int os;
    const void *W;
    const float *bias;
    int rows;
    uint32_t g0, g1;
} MatPart;

#define MAX_PARTS 4 /* q, k, v (and gate, up) against one x */

typedef struct {
    const LumiCpuKernels *k;
    const float *x;
    LumiDType type;
    int cols, n;
    int parts;
    MatPart part[MAX_PARTS]; /* their groups one after the other */
    int slab;                /* groups per slab */
    int two;                 /* decode2: two ranges per thread, read together */
    MatRange *range;         /* [threads, or 2 x threads]: front | back << 32, in groups */
    float *scratch;          /* [threads][scratch_floats] */
    size_t scratch_floats;
    const int8_t *xq;        /* q8_0: quantized activations and scales */
    const float *xd;
} MatJob;

static uint64_t pack(uint32_t front, uint32_t back) { return (uint64_t)front | (uint64_t)back << 32; }

/* Takes up to `slab` groups from the front (own range) or back (stealing);
 * returns 0 when the range is empty. */
static int take(_Atomic uint64_t *r, int slab, int from_back, uint32_t *g0, uint32_t *g1) {
    uint64_t v = atomic_load(r);
    for (;;) {
        uint32_t f = (uint32_t)v, b = (uint32_t)(v >> 32);
        if (f >= b) return 0;
        /* an eighth of what is left, at most a slab: slabs shrink towards
         * the end, so the threads finish within a few rows of each other */
        uint32_t n = (b - f) / 8 < (uint32_t)slab ? (b - f) / 8 : (uint32_t)slab;
        if (n == 0) n = 1;
        uint64_t nv = from_back ? pack(f, b - n) : pack(f + n, b);
        if (atomic_compare_exchange_weak(r, &v, nv)) {
            *g0 = from_back ? b - n : f;
            *g1 = from_back ? b : f + n;
            return 1;
        }
    }
}

/* Groups [g0, g1) of the job, matrix by matrix. */
static void mat_rows(const MatJob *j, int tid, uint32_t g0, uint32_t g1) {
    for (int i = 0; i < j->parts; i++) {
        const MatPart *p = &j->part[i];
        uint32_t a = g0 > p->g0 ? g0 : p->g0, b = g1 < p->g1 ? g1 : p->g1;
        if (a >= b) continue;
        int r0 = (int)(a - p->g0) * 4, r1 = (int)(b - p->g0) * 4 < p->rows ? (int)(b - p->g0) * 4 : p->rows;
        if (j->type == LUMI_Q8_0)
            j->k->matmul_q8(p->out, p->os, j->xq, j->xd, p->W, p->bias, j->cols, 0, j->n, r0, r1);
        else
            j->k->matmul_dt(j->type, p->out, p->os, j->x, p->W, p->bias, j->cols, 0, j->n, r0, r1,
                            j->scratch + (size_t)tid * j->scratch_floats);
    }
}

/* The part holding all of groups [g0, g1), or NULL */
static const MatPart *part_of(const MatJob *j, uint32_t g0, uint32_t g1) {
    for (int i = 0; i < j->parts; i++)
        if (j->part[i].g0 <= g0 && g1 <= j->part[i].g1) return &j->part[i];
    return NULL;
}

/* Decode of groups [g0, g1) and [h0, h1) together (two weight streams) */
static void mat_rows2(const MatJob *j, int tid, uint32_t g0, uint32_t g1, uint32_t h0, uint32_t h1) {
    const MatPart *p = part_of(j, g0, g1), *q = part_of(j, h0, h1);
    if (!p || !q) { /* a chunk across two matrices: each alone */
        mat_rows(j, tid, g0, g1), mat_rows(j, tid, h0, h1);
        return;
    }
    int pr = (int)(g1 - p->g0) * 4, qr = (int)(h1 - q->g0) * 4;
    LumiRowSet a = {p->out, p->W, p->bias, (int)(g0 - p->g0) * 4, pr < p->rows ? pr : p->rows};
    LumiRowSet b = {q->out, q->W, q->bias, (int)(h0 - q->g0) * 4, qr < q->rows ? qr : q->rows};
    j->k->decode2(j->type, j->x, j->xq, j->xd, j->cols, &a, &b);
}

static void mat_part(void *arg, int tid, int nt) {
    MatJob *j = arg;
    uint32_t g0 = 0, g1 = 0, h0 = 0, h1 = 0;
    if (j->two) { /* own ranges 2 tid and 2 tid + 1, a chunk of each at a time */
        int nr = 2 * nt;
        for (;;) {
            int a = take(&j->range[2 * tid].v, j->slab, 0, &g0, &g1);
            int b = take(&j->range[2 * tid + 1].v, j->slab, 0, &h0, &h1);
            if (a && b) mat_rows2(j, tid, g0, g1, h0, h1);
            else if (a) mat_rows(j, tid, g0, g1);
            else if (b) mat_rows(j, tid, h0, h1);
            else break;
        }
        for (int v = 2; v < nr; v++)
            while (take(&j->range[(2 * tid + v) % nr].v, j->slab, 1, &g0, &g1)) mat_rows(j, tid, g0, g1);
        return;
    }
    while (take(&j->range[tid].v, j->slab, 0, &g0, &g1)) mat_rows(j, tid, g0, g1);
    for (int v = 1; v < nt; v++)
        while (take(&j->range[(tid + v) % nt].v, j->slab, 1, &g0, &g1)) mat_rows(j, tid, g0, g1);
}

/* Below this many multiply-adds a job is cheaper than waking the pool. */
#define MIN_PARALLEL_MACS (1 << 15)

typedef struct {
    const LumiCpuKernels *k;
    const float *x;
    int8_t *q;
    float *d;
    int cols;
} QuantJob;

static void quant_rows(void *arg, size_t lo, size_t hi) {
    const QuantJob *j = arg;
    for (size_t t = lo; t < hi; t++)
        j->k->quantize_q8(j->x + t * j->cols, j->cols, j->q + t * j->cols, j->d + t * (size_t)(j->cols / 32));
}

/* A q8_0 matmul quantizes its n activation rows first (q8_0 x q8_0, as
 * llama.cpp; every table and ref quantize with the same f32 operations). */
static void quantize_x(Cpu *c, const float *x, int n, int cols) {
    size_t need = (size_t)n * (size_t)cols;
    if (need > c->xq_cap) {
        c->xq_cap = need > 2 * c->xq_cap ? need : 2 * c->xq_cap;
        free(c->xq), free(c->xd);
        c->xq = lumi_xmalloc(c->xq_cap);
        c->xd = lumi_xmalloc(c->xq_cap / 32 * sizeof(float) + sizeof(float));
    }
    QuantJob j = {c->k, x, c->xq, c->xd, cols};
    par_for(c, (size_t)n, (size_t)cols * 4, quant_rows, &j);
}

/* The matrices of o as one job: their rows split between the threads as
 * one range, so that q, k and v (or gate and up) cost one dispatch and one
 * stream per thread rather than three (measured: 42 us for the three of a
 * 110M q8_0 layer, 3 x 18 us apart). Each row's dot is the same. */
static void run_matmuls(Cpu *c, LumiRef x, int n, const LumiMatmulOut *o, int count) {
    int nt = lumi_pool_size(c->pool);
    const LumiMat *w0 = o[0].w;
    MatJob j = {c->k, lumi_host(x), w0->type, w0->cols, n, count, {{0}}, 1, n == 1 && c->k->decode2, c->range,
                c->wscratch, c->wscratch_floats, NULL, NULL};
    uint32_t groups = 0;
    size_t macs = 0;
    for (int i = 0; i < count; i++) {
        const LumiMat *w = o[i].w, *b = o[i].bias;
        j.part[i] = (MatPart){lumi_host(o[i].out), o[i].out_stride, w->data, b ? b->data : NULL, w->rows, groups,
                              groups + (uint32_t)(w->rows + 3) / 4};
        groups = j.part[i].g1;
        macs += (size_t)w->rows * (size_t)w->cols * (size_t)n;
    }
    if (j.type == LUMI_Q8_0) {
        quantize_x(c, j.x, n, j.cols);
        j.xq = c->xq, j.xd = c->xd;
    }
    int alone = macs < MIN_PARALLEL_MACS || nt == 1;
    if (alone) nt = 1;
    /* one range per thread, or two (decode2): a thread's share in halves */
    int nr = j.two ? 2 * nt : nt;
    for (int r = 0; r < nr; r++)
        atomic_store(&c->range[r].v, pack((uint32_t)((long)groups * r / nr), (uint32_t)((long)groups * (r + 1) / nr)));
    /* ~16 slabs per share: small enough that a thief finds work to take,
     * large enough that taking them costs nothing */
    j.slab = (int)groups / (nt * 16) > 1 ? (int)groups / (nt * 16) : 1;
    if (alone) mat_part(&j, 0, 1);
    else lumi_pool_run(c->pool, mat_part, &j);
}

static void cpu_matmul(void *ctx, LumiRef out, int out_stride, LumiRef x, const LumiMat *w, const LumiMat *bias, int n) {
    LumiMatmulOut o = {out, out_stride, w, bias};
    run_matmuls(ctx, x, n, &o, 1);
}

/* One job when the matrices can share one: the same dtype and width (a
 * file may hold its q, k, v in different dtypes), and few enough. */
static void cpu_matmuls(void *ctx, LumiRef x, int n, const LumiMatmulOut *o, int count) {
    int same = count <= MAX_PARTS;
    for (int i = 1; i < count && same; i++) same = o[i].w->type == o[0].w->type && o[i].w->cols == o[0].w->cols;
    if (same) {
        run_matmuls(ctx, x, n, o, count);
        return;
    }
    for (int i = 0; i < count; i++) run_matmuls(ctx, x, n, &o[i], 1);
}

typedef struct {
    const LumiRope *rp;
    float *x;
    int stride, pos0, n_heads, head_size;
} RopeJob;

static void rope_rows(void *arg, size_t lo, size_t hi) {
    const RopeJob *j = arg;
    const LumiRope *rp = j->rp;
    int half = j->head_size / 2;
    for (size_t t = lo; t < hi; t++) {
        const float *cs = rp->cos + (size_t)(j->pos0 + (int)t) * rp->half;
        const float *sn = rp->sin + (size_t)(j->pos0 + (int)t) * rp->half;
        for (int h = 0; h < j->n_heads; h++) {
            float *v = j->x + t * j->stride + (size_t)h * j->head_size;
            for (int i = 0; i < half; i++) {
                /* interleaved pairs (2i, 2i+1) or halves (i, i + half) */
                int a = rp->style == LUMI_ROPE_HALF ? i : 2 * i;
                int b = rp->style == LUMI_ROPE_HALF ? i + half : 2 * i + 1;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * cs[i] - x1 * sn[i];
                v[b] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

static void cpu_rope(void *ctx, LumiRef x, int stride, int n, int pos0, int n_heads, int head_size) {
    Cpu *c = ctx;
    RopeJob j = {&c->m->rope, lumi_host(x), stride, pos0, n_heads, head_size};
    par_for(c, (size_t)n, (size_t)n_heads * (size_t)head_size, rope_rows, &j);
}

/* ---- attention: threads split (query, group of heads) units ----
 * Each head's math is fixed: scores by dot16, a max-shifted softmax summed
 * left to right, values accumulated by fma in key order. What the split
 * chooses is only the order of memory reads: a thread walks the keys in
 * blocks of ATT_BLOCK positions and reads, per block, its heads' slices of
 * each key row, which lie side by side; one head at a time read each row at
 * a 256-byte slice per kv_dim floats, a stride the prefetchers followed
 * badly (decode attention took 16 us per layer of the 110M shape). */

typedef struct {
    Cpu *c;
    float *out;
    const float *q, *kc, *vc;
    int n, pos0;
    int group; /* heads per unit */
} AttJob;

#define ATT_BLOCK 32

/* sc[s] *= scale, then exp(sc[s] - max) in place; returns their sum, left to right */
static float softmax_row(float *sc, int n, float scale) {
    float mx = -INFINITY, sum = 0;
    for (int s = 0; s < n; s++) {
        sc[s] *= scale;
        if (sc[s] > mx) mx = sc[s];
    }
    for (int s = 0; s < n; s++) sum += (sc[s] = expf(sc[s] - mx));
    return sum;
}

/* Query t, heads [h0, h1), over keys 0..pos; sc holds (h1 - h0) rows of pos + 1 scores. */
static void att_heads(const AttJob *j, float *sc, int t, int h0, int h1) {
    const LumiConfig *cf = &j->c->m->cfg;
    const LumiCpuKernels *k = j->c->k;
    int hs = cf->head_size, per_kv = cf->n_heads / cf->n_kv_heads, pos = j->pos0 + t, nk = pos + 1;
    size_t kv = (size_t)cf->kv_dim;
    for (int s0 = 0; s0 < nk; s0 += ATT_BLOCK) {
        int nb = nk - s0 < ATT_BLOCK ? nk - s0 : ATT_BLOCK;
        for (int h = h0; h < h1; h++)
            k->dots(sc + (size_t)(h - h0) * nk + s0, j->q + (size_t)t * cf->dim + (size_t)h * hs,
                    j->kc + (size_t)s0 * kv + (size_t)(h / per_kv) * hs, kv, nb, hs);
    }
    float inv[64];
    for (int h = h0; h < h1; h++) {
        inv[h - h0] = 1.0f / softmax_row(sc + (size_t)(h - h0) * nk, nk, 1.0f / sqrtf((float)hs));
        memset(j->out + (size_t)t * cf->dim + (size_t)h * hs, 0, (size_t)hs * sizeof(float));
    }
    for (int s0 = 0; s0 < nk; s0 += ATT_BLOCK) { /* each o[i] still takes the keys in order */
        int nb = nk - s0 < ATT_BLOCK ? nk - s0 : ATT_BLOCK;
        for (int h = h0; h < h1; h++)
            k->axpys(j->out + (size_t)t * cf->dim + (size_t)h * hs, sc + (size_t)(h - h0) * nk + s0,
                     j->vc + (size_t)s0 * kv + (size_t)(h / per_kv) * hs, kv, nb, hs);
    }
    for (int h = h0; h < h1; h++) {
        float *o = j->out + (size_t)t * cf->dim + (size_t)h * hs;
        for (int i = 0; i < hs; i++) o[i] *= inv[h - h0];
    }
}

/* Unit i = (query t, heads g*group.. of it) goes to thread i mod nt: later
 * queries attend to more keys, so contiguous ranges would leave the first
 * thread idle; in decode each thread takes one run of adjacent heads. */
static void att_part(void *arg, int tid, int nt) {
    const AttJob *j = arg;
    int heads = j->c->m->cfg.n_heads, per_query = (heads + j->group - 1) / j->group;
    long units = (long)j->n * per_query;
    float *sc = j->c->scores + (size_t)tid * j->c->scores_per_thread;
    for (long i = tid; i < units; i += nt) {
        int t = (int)(i / per_query), h0 = (int)(i % per_query) * j->group;
        att_heads(j, sc, t, h0, h0 + j->group < heads ? h0 + j->group : heads);
    }
}

static void cpu_attention(void *ctx, LumiRef out, LumiRef q, LumiRef kc, LumiRef vc, int n, int pos0) {
    Cpu *c = ctx;
    AttJob j = {c, lumi_host(out), lumi_host(q), lumi_host(kc), lumi_host(vc), n, pos0, c->att_group};
    lumi_pool_run(c->pool, att_part, &j);
}

typedef struct {
    float *a;
    const float *b;
} Pair;

static void swiglu_range(void *arg, size_t lo, size_t hi) {
    const Pair *p = arg;
    for (size_t i = lo; i < hi; i++) {
        float g = p->a[i];
        p->a[i] = g / (1.0f + expf(-g)) * p->b[i];
    }
}

static void cpu_swiglu(void *ctx, LumiRef h1, LumiRef h3, size_t len) {
    Pair p = {lumi_host(h1), lumi_host(h3)};
    par_for(ctx, len, 16, swiglu_range, &p); /* an expf weighs ~16 adds: split even decode-sized rows */
}

static void add_range(void *arg, size_t lo, size_t hi) {
    const Pair *p = arg;
    for (size_t i = lo; i < hi; i++) p->a[i] += p->b[i];
}

static void cpu_add(void *ctx, LumiRef x, LumiRef y, size_t len) {
    Pair p = {lumi_host(x), lumi_host(y)};
    par_for(ctx, len, 1, add_range, &p);
}

const LumiBackendOps lumi_backend_cpu = {
    .name = "cpu",
    .doc = "SIMD (AVX-512/AVX2/C, from CPUID) + threads, batch invariant; LUMI_FORCE_SCALAR=1 for plain C",
    .init = cpu_init,
    .free = cpu_free,
    .weights = cpu_weights,
    .supports = cpu_supports,
    .alloc = lumi_host_alloc,
    .release = lumi_host_release,
    .to_host = lumi_host_to_host,
    .copy = lumi_host_copy,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .matmuls = cpu_matmuls,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
};
