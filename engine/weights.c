/* weights.c: see weights.h. */
#include "weights.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dtype.h"

#define N_ENTRIES (LUMI_Q8_0 + 2) /* file, f32, bf16, f16, q8_0 */
#define ALIGN 64

typedef struct {
    int ready;
    LumiWeights w;
    void *arena;
    LumiWeightsInfo info;
} Entry;

struct LumiWeightCache {
    pthread_mutex_t lock;
    Entry e[N_ENTRIES];
};

struct LumiWeightCache *lumi_weight_cache_new(void) {
    struct LumiWeightCache *c = lumi_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void lumi_weight_cache_free(struct LumiWeightCache *c) {
    if (!c) return;
    for (int i = 0; i < N_ENTRIES; i++) {
        free(c->e[i].w.layers);
        free(c->e[i].arena);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int lumi_weights_parse(const char *s) {
    if (!strcmp(s, "file")) return LUMI_WEIGHTS_FILE;
    int t = lumi_dtype_parse(s);
    return t < 0 ? -2 : t;
}

const char *lumi_weights_name(int dtype) {
    return dtype == LUMI_WEIGHTS_FILE ? "file" : lumi_dtype_name((LumiDType)dtype);
}

/* ---- the matrices of a table, with their names ---- */

#define MAX_NAME 48

/* Pointers to every matrix of w (cls only when it is not the embedding)
 * and their names; returns the count, at most 2 + 7 * n_layers. */
static int list_mats(LumiWeights *w, int n_layers, LumiMat **mats, char (*names)[MAX_NAME]) {
    int n = 0;
    mats[n] = &w->tok_emb, snprintf(names[n++], MAX_NAME, "tok_embeddings");
    static const char *const LN[7] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
    for (int l = 0; l < n_layers; l++) {
        LumiLayer *L = &w->layers[l];
        LumiMat *lm[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
        for (int i = 0; i < 7; i++) mats[n] = lm[i], snprintf(names[n++], MAX_NAME, "layers.%d.%s", l, LN[i]);
    }
    if (w->cls.data != w->tok_emb.data) mats[n] = &w->cls, snprintf(names[n++], MAX_NAME, "output");
    return n;
}

/* The dtype a matrix gets. q8_0 needs rows of whole 32-blocks; a matrix
 * whose rows are not (the shipped model's hidden_dim is 344) stays f32, as
 * llama.cpp's quantizer falls back to a wider type for such tensors. */
static LumiDType target(const LumiMat *src, int dtype) {
    if (dtype == LUMI_WEIGHTS_FILE) return src->type;
    if (dtype == LUMI_Q8_0 && src->cols % LUMI_Q8_BLOCK != 0) return src->type == LUMI_Q8_0 ? LUMI_Q8_0 : LUMI_F32;
    return (LumiDType)dtype;
}

static size_t mat_bytes(LumiDType t, const LumiMat *m) { return lumi_row_bytes(t, m->cols) * (size_t)m->rows; }

static int in_map(const LumiModel *m, const LumiMat *src) {
    const char *base = m->map.data, *p = src->data;
    return base && p >= base && p < base + m->map.size;
}

/* In the wanted dtype and 64-byte aligned, or in the loader's own heap
 * memory (a widened copy: copying it again to realign would only double
 * it); realignment is for streams from the file mapping. */
static int in_place(const LumiModel *m, const LumiMat *src, LumiDType t) {
    return src->type == t && ((uintptr_t)src->data % ALIGN == 0 || !in_map(m, src));
}

static size_t pad(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

void lumi_weights_plan(const LumiModel *m, int dtype, size_t *total, size_t *copied) {
    LumiWeights w = m->w; /* shallow: list_mats only takes addresses */
    int L = m->cfg.n_layers;
    LumiMat **mats = lumi_xmalloc((size_t)(2 + 7 * L) * sizeof *mats);
    char(*names)[MAX_NAME] = lumi_xmalloc((size_t)(2 + 7 * L) * MAX_NAME);
    int n = list_mats(&w, L, mats, names);
    *total = *copied = 0;
    for (int i = 0; i < n; i++) {
        LumiDType t = target(mats[i], dtype);
        size_t b = mat_bytes(t, mats[i]);
        *total += b;
        if (!in_place(m, mats[i], t)) *copied += pad(b);
    }
    free(mats);
    free(names);
}

/* ---- conversion of one matrix ---- */

static int convert(const LumiMat *src, LumiDType t, void *dst, const char *path, const char *name, float *row,
                   LumiErr *e) {
    size_t in_rb = lumi_row_bytes(src->type, src->cols), out_rb = lumi_row_bytes(t, src->cols);
    for (int r = 0; r < src->rows; r++) {
        const unsigned char *s = (const unsigned char *)src->data + (size_t)r * in_rb;
        unsigned char *d = (unsigned char *)dst + (size_t)r * out_rb;
        if (src->type == t) { /* realignment only */
            memcpy(d, s, out_rb);
            continue;
        }
        lumi_widen(src->type, s, (size_t)src->cols, row);
        if (t == LUMI_F32) {
            memcpy(d, row, out_rb);
            continue;
        }
        for (int c = 0; c < src->cols; c++) {
            if (!isfinite(row[c]))
                return lumi_err(e, "%s: tensor %s holds a non-finite value at [%d, %d]: cannot convert it to %s", path,
                                name, r, c, lumi_dtype_name(t));
            if (t == LUMI_F16 && fabsf(row[c]) >= 65520.0f)
                return lumi_err(e, "%s: tensor %s value %g at [%d, %d] is outside f16's range (|x| <= 65504)", path,
                                name, (double)row[c], r, c);
        }
        lumi_narrow(t, row, (size_t)src->cols, d);
    }
    return 0;
}

/* After a tensor has been converted out of the file mapping, its pages are
 * dropped from this process (they are clean, read-only file pages: a later
 * read faults them back in), so a converted or realigned model does not
 * hold both copies resident: RSS stays near the table's size. Never
 * applied to heap memory (a loader's widened arena), which it would zero. */
static void release_source(const LumiModel *m, const LumiMat *src) {
    if (!in_map(m, src)) return;
    const char *p = src->data;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)p + lumi_row_bytes(src->type, src->cols) * (size_t)src->rows) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int build(const LumiModel *m, int dtype, Entry *en, LumiErr *e) {
    double t0 = now();
    int L = m->cfg.n_layers, cap = 2 + 7 * L;
    LumiWeights w = m->w;
    w.layers = lumi_xmalloc((size_t)L * sizeof(LumiLayer));
    memcpy(w.layers, m->w.layers, (size_t)L * sizeof(LumiLayer));
    LumiMat **mats = lumi_xmalloc((size_t)cap * sizeof *mats);
    char(*names)[MAX_NAME] = lumi_xmalloc((size_t)cap * MAX_NAME);
    int n = list_mats(&w, L, mats, names), rc = 0;
    size_t total = 0, copied = 0, max_cols = 0;
    int fallback = 0;
    for (int i = 0; i < n; i++) {
        LumiDType t = target(mats[i], dtype);
        if (t != (LumiDType)dtype && dtype != LUMI_WEIGHTS_FILE) fallback++;
        total += mat_bytes(t, mats[i]);
        if (!in_place(m, mats[i], t)) copied += pad(mat_bytes(t, mats[i]));
        if ((size_t)mats[i]->cols > max_cols) max_cols = (size_t)mats[i]->cols;
    }
    /* on transparent huge pages: decode streams it with fewer TLB misses,
     * as it does the file mapping */
    void *arena = copied ? lumi_huge_alloc(copied) : NULL;
    if (copied && !arena) {
        rc = lumi_err(e, "%s: cannot allocate %.2f GB for weights=%s", m->path, copied / 1e9, lumi_weights_name(dtype));
        goto out;
    }
    float *row = lumi_xmalloc(max_cols * sizeof(float));
    unsigned char *cur = arena;
    for (int i = 0; i < n && rc == 0; i++) {
        LumiDType t = target(mats[i], dtype);
        if (in_place(m, mats[i], t)) continue;
        rc = convert(mats[i], t, cur, m->path, names[i], row, e);
        if (rc == 0) release_source(m, mats[i]);
        mats[i]->data = cur;
        mats[i]->type = t;
        cur += pad(mat_bytes(t, mats[i]));
    }
    free(row);
    if (rc != 0) {
        free(arena);
        goto out;
    }
    if (m->w.cls.data == m->w.tok_emb.data) w.cls = w.tok_emb;
    en->w = w;
    en->arena = arena;
    en->info = (LumiWeightsInfo){total, copied, copied ? now() - t0 : 0, fallback};
    en->ready = 1;
    w.layers = NULL; /* owned by the entry now */
out:
    free(w.layers);
    free(mats);
    free(names);
    return rc;
}

int lumi_weights_get(const LumiModel *m, int dtype, const LumiWeights **out, LumiWeightsInfo *info, LumiErr *e) {
    if (dtype < LUMI_WEIGHTS_FILE || dtype > LUMI_Q8_0) return lumi_err(e, "weights: invalid dtype %d", dtype);
    if (!m->wcache) return lumi_err(e, "%s: internal: model has no weight cache", m->path ? m->path : "model");
    struct LumiWeightCache *c = m->wcache;
    Entry *en = &c->e[dtype + 1];
    pthread_mutex_lock(&c->lock);
    int rc = en->ready ? 0 : build(m, dtype, en, e);
    pthread_mutex_unlock(&c->lock);
    if (rc != 0) return -1;
    *out = &en->w;
    if (info) *info = en->info;
    return 0;
}

/* MemTotal and MemAvailable from /proc/meminfo, in bytes (0 if unknown). */
static void meminfo(size_t *total, size_t *avail) {
    *total = *avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return;
    char line[128];
    unsigned long long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) *total = (size_t)kb * 1024;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) *avail = (size_t)kb * 1024;
    }
    fclose(f);
}

static int fits(size_t total, size_t copied, size_t mem_total, size_t mem_avail) {
    return !(mem_total && total > mem_total) && !(mem_avail && copied > mem_avail);
}

int lumi_weights_check_fit(const LumiModel *m, int dtype, LumiErr *e) {
    size_t total, copied, mt, ma;
    meminfo(&mt, &ma);
    lumi_weights_plan(m, dtype, &total, &copied);
    if (fits(total, copied, mt, ma)) return 0;
    char alt[128] = "";
    size_t k = 0;
    for (int t = LUMI_F32; t <= LUMI_Q8_0; t++) {
        size_t tt, tc;
        lumi_weights_plan(m, t, &tt, &tc);
        if (t != dtype && fits(tt, tc, mt, ma) && k < sizeof alt)
            k += (size_t)snprintf(alt + k, sizeof alt - k, "%s%s (%.1f GB)", k ? ", " : "", lumi_dtype_name(t), tt / 1e9);
    }
    return lumi_err(e, "%s: weights=%s needs %.1f GB (%.1f GB of it new memory) but this machine has %.1f GB, %.1f GB "
                       "available; %s%s; --allow-swap to run it anyway",
                    m->path, lumi_weights_name(dtype), total / 1e9, copied / 1e9, mt / 1e9, ma / 1e9,
                    k ? "would fit: weights=" : "no weights= dtype fits", alt);
}

size_t lumi_weights_bytes_per_token(const LumiWeights *w, const LumiConfig *c) {
    size_t b = mat_bytes(w->cls.type, &w->cls) + lumi_row_bytes(w->tok_emb.type, w->tok_emb.cols);
    b += (size_t)c->dim * 4 * (1 + 2 * (size_t)c->n_layers);
    for (int l = 0; l < c->n_layers; l++) {
        const LumiLayer *L = &w->layers[l];
        const LumiMat *m[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
        for (int i = 0; i < 7; i++) b += mat_bytes(m[i]->type, m[i]);
    }
    return b;
}
