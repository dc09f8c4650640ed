/* lmw.c: lumi's own .lmw format (the seed project's). All integers are
 * little-endian; every field starts on a 4-byte boundary:
 *
 *   u32 magic 0x696D756C, i32 version 1
 *   u32 name length, name bytes, zero pad to 4
 *   i32 dim, n_layers, n_heads, n_kv_heads, multiple_of, vocab_size, max_seq_len
 *   f32 rope_theta, norm_eps
 *   u32 tokenizer length, tokenizer blob, zero pad to 4
 *   tensor records up to the end of the file, each:
 *     u32 name length, name bytes, zero pad to 4
 *     i32 ndim (1 or 2), i32 dims[ndim] (the logical [out, in] shape)
 *     i32 transposed (1: the data is the [in, out] transpose)
 *     i32 dtype (132 fp32, 117 bf16)
 *     data, zero pad to 4
 *
 * Tensors carry Meta's names (tok_embeddings.weight, norm.weight,
 * output.weight, layers.N.attention_norm.weight, layers.N.attention.wq.weight
 * .. wo, layers.N.ffn_norm.weight, layers.N.feed_forward.w1.weight .. w3),
 * and Meta's interleaved RoPE rows. lumi adds layers.N.attention.wq.bias ..
 * wv.bias and layers.N.attention.q_norm.weight / k_norm.weight when a model
 * has them. 2-D weights other than tok_embeddings are stored transposed.
 * The hidden size comes from feed_forward.w1's dims (multiple_of is kept
 * for the seed's tools; lumi writes 256). A missing output.weight means
 * the classifier is the token embedding. */
#include "lmw.h"
#include "weights.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"

#define DT_F32 132
#define DT_BF16 117
#define MAX_NAME 4096

typedef struct {
    const char *name; /* not NUL-terminated: name_len bytes in the mapping */
    int name_len;
    int ndim, dims[2], transposed;
    LumiDType type;
    const unsigned char *data;
    size_t count;     /* elements */
} Rec;

typedef struct {
    const unsigned char *p;
    size_t off, size;
} Cur;

static int get_u32(Cur *c, uint32_t *v) {
    if (c->size - c->off < 4) return -1;
    memcpy(v, c->p + c->off, 4);
    c->off += 4;
    return 0;
}

/* length-prefixed bytes, padded to 4 */
static int get_blob(Cur *c, size_t max, const unsigned char **p, size_t *len) {
    uint32_t n;
    if (get_u32(c, &n) != 0 || n > max || n > c->size - c->off) return -1;
    *p = c->p + c->off;
    *len = n;
    c->off += ((size_t)n + 3) / 4 * 4;
    if (c->off > c->size) c->off = c->size; /* a short final pad is tolerated */
    return 0;
}

static int get_rec(Cur *c, Rec *r, const char *path, LumiErr *e) {
    const unsigned char *nm;
    size_t nl;
    size_t at = c->off;
    if (get_blob(c, 256, &nm, &nl) != 0) return lumi_err(e, "%s: tensor record at byte %zu: bad name", path, at);
    r->name = (const char *)nm;
    r->name_len = (int)nl;
    uint32_t ndim, t, dt;
    if (get_u32(c, &ndim) != 0 || ndim < 1 || ndim > 2)
        return lumi_err(e, "%s: tensor '%.*s': ndim must be 1 or 2", path, r->name_len, r->name);
    r->ndim = (int)ndim;
    r->dims[1] = 1; /* a vector is one column: "transposed" leaves it as it is */
    r->count = 1;
    for (int i = 0; i < r->ndim; i++) {
        uint32_t d;
        if (get_u32(c, &d) != 0 || d == 0 || d >= (1u << 31))
            return lumi_err(e, "%s: tensor '%.*s': bad dims", path, r->name_len, r->name);
        r->dims[i] = (int)d;
        r->count *= d; /* two dims < 2^31: no overflow in 64 bits */
    }
    if (get_u32(c, &t) != 0 || t > 1 || get_u32(c, &dt) != 0)
        return lumi_err(e, "%s: tensor '%.*s': bad transposed flag", path, r->name_len, r->name);
    r->transposed = (int)t;
    if (dt == DT_F32) r->type = LUMI_F32;
    else if (dt == DT_BF16) r->type = LUMI_BF16;
    else return lumi_err(e, "%s: tensor '%.*s': dtype %u (fp32=132, bf16=117)", path, r->name_len, r->name, dt);
    size_t bytes = r->count * (r->type == LUMI_F32 ? 4 : 2);
    if (bytes > c->size - c->off)
        return lumi_err(e, "%s: tensor '%.*s': %zu bytes of data past the end of the file", path, r->name_len, r->name,
                        bytes);
    r->data = c->p + c->off;
    c->off += (bytes + 3) / 4 * 4;
    if (c->off > c->size) c->off = c->size;
    return 0;
}

static int rec_cmp(const void *a, const void *b) {
    const Rec *x = a, *y = b;
    int n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, (size_t)n);
    return c ? c : x->name_len - y->name_len;
}

typedef struct {
    const char *path;
    Rec *r;
    int n;
    /* bindings, as in hf_model.c: nothing is allocated before all are checked */
    struct { const Rec *r; const void **dst; } *b;
    int nb, cap;
    LumiErr *e;
    int rc;
} Lmw;

static const Rec *find(const Lmw *l, const char *name) {
    Rec key = {.name = name, .name_len = (int)strlen(name)};
    return l->n ? bsearch(&key, l->r, (size_t)l->n, sizeof key, rec_cmp) : NULL;
}

static const Rec *need(Lmw *l, const char *name, int rows, int cols) {
    if (l->rc != 0) return NULL;
    const Rec *r = find(l, name);
    if (!r) {
        l->rc = lumi_err(l->e, "%s: missing tensor '%s'", l->path, name);
        return NULL;
    }
    if (r->ndim != (cols ? 2 : 1) || r->dims[0] != rows || (cols && r->dims[1] != cols)) {
        if (cols) l->rc = lumi_err(l->e, "%s: tensor '%s': expected dims [%d, %d] from the header", l->path, name, rows, cols);
        else l->rc = lumi_err(l->e, "%s: tensor '%s': expected dims [%d] from the header", l->path, name, rows);
        return NULL;
    }
    return r;
}

static void bind(Lmw *l, const char *name, int rows, int cols, const void **dst) {
    const Rec *r = need(l, name, rows, cols);
    if (!r) return;
    if (l->nb == l->cap) l->b = lumi_xrealloc(l->b, (size_t)(l->cap = l->cap ? 2 * l->cap : 64) * sizeof *l->b);
    l->b[l->nb].r = r;
    l->b[l->nb++].dst = dst;
}

static void vec(Lmw *l, const char *name, int n, LumiMat *m) {
    *m = lumi_vec(NULL, n);
    bind(l, name, n, 0, &m->data);
}

static void mat(Lmw *l, const char *name, int rows, int cols, LumiMat *m) {
    *m = (LumiMat){NULL, LUMI_F32, rows, cols};
    bind(l, name, rows, cols, &m->data);
}

static int in_place(const Rec *r) { return r->type == LUMI_F32 && !r->transposed && (uintptr_t)r->data % 4 == 0; }

/* Widens (bf16) and un-transposes into dst. */
static void materialize(const Rec *r, float *dst) {
    if (!r->transposed) {
        lumi_widen(r->type, r->data, r->count, dst);
        return;
    }
    int rows = r->dims[0], cols = r->dims[1];
    float *tmp = lumi_xmalloc((size_t)rows * sizeof(float));
    for (int c = 0; c < cols; c++) { /* stored row c is column c of the weight */
        const unsigned char *src = r->data + (size_t)c * (size_t)rows * (r->type == LUMI_F32 ? 4 : 2);
        lumi_widen(r->type, src, (size_t)rows, tmp);
        for (int k = 0; k < rows; k++) dst[(size_t)k * cols + c] = tmp[k];
    }
    free(tmp);
}

#define NAME(fmt, ...) (snprintf(nm, sizeof nm, fmt, __VA_ARGS__), nm)

static void plan(Lmw *l, LumiModel *m) {
    LumiConfig *c = &m->cfg;
    int d = c->dim, hd = c->hidden_dim, kv = c->kv_dim, hs = c->head_size;
    char nm[96];
    mat(l, "tok_embeddings.weight", c->vocab_size, d, &m->w.tok_emb);
    for (int i = 0; i < c->n_layers && l->rc == 0; i++) {
        LumiLayer *L = &m->w.layers[i];
        vec(l, NAME("layers.%d.attention_norm.weight", i), d, &L->rms_att);
        vec(l, NAME("layers.%d.ffn_norm.weight", i), d, &L->rms_ffn);
        mat(l, NAME("layers.%d.attention.wq.weight", i), d, d, &L->wq);
        mat(l, NAME("layers.%d.attention.wk.weight", i), kv, d, &L->wk);
        mat(l, NAME("layers.%d.attention.wv.weight", i), kv, d, &L->wv);
        mat(l, NAME("layers.%d.attention.wo.weight", i), d, d, &L->wo);
        mat(l, NAME("layers.%d.feed_forward.w1.weight", i), hd, d, &L->w1);
        mat(l, NAME("layers.%d.feed_forward.w2.weight", i), d, hd, &L->w2);
        mat(l, NAME("layers.%d.feed_forward.w3.weight", i), hd, d, &L->w3);
        if (c->qkv_bias) {
            vec(l, NAME("layers.%d.attention.wq.bias", i), d, &L->bq);
            vec(l, NAME("layers.%d.attention.wk.bias", i), kv, &L->bk);
            vec(l, NAME("layers.%d.attention.wv.bias", i), kv, &L->bv);
        }
        if (c->qk_norm) {
            vec(l, NAME("layers.%d.attention.q_norm.weight", i), hs, &L->q_norm);
            vec(l, NAME("layers.%d.attention.k_norm.weight", i), hs, &L->k_norm);
        }
    }
    vec(l, "norm.weight", d, &m->w.rms_final);
    if (!c->shared_classifier) mat(l, "output.weight", c->vocab_size, d, &m->w.cls);
}

#undef NAME

static int read_header(Cur *cur, LumiModel *m, const char *path, LumiErr *e) {
    uint32_t magic, version = 0;
    const unsigned char *p;
    size_t len;
    int32_t h[7];
    float f[2];
    if (get_u32(cur, &magic) != 0 || magic != LUMI_LMW_MAGIC) return lumi_err(e, "%s: not an .lmw file", path);
    if (get_u32(cur, &version) != 0 || version != 1) return lumi_err(e, "%s: unsupported .lmw version %u", path, version);
    if (get_blob(cur, MAX_NAME, &p, &len) != 0) return lumi_err(e, "%s: bad model name", path);
    if (cur->size - cur->off < sizeof h + sizeof f) return lumi_err(e, "%s: truncated header", path);
    memcpy(h, cur->p + cur->off, sizeof h);
    memcpy(f, cur->p + cur->off + sizeof h, sizeof f);
    cur->off += sizeof h + sizeof f;
    if (get_blob(cur, SIZE_MAX, &p, &len) != 0) return lumi_err(e, "%s: tokenizer blob runs past the file", path);
    LumiConfig *c = &m->cfg;
    *c = (LumiConfig){.dim = h[0], .n_layers = h[1], .n_heads = h[2], .n_kv_heads = h[3], .vocab_size = h[5],
                      .seq_len = h[6], .rope_theta = f[0], .norm_eps = f[1], .rope_style = LUMI_ROPE_INTERLEAVED};
    if (h[4] <= 0) return lumi_err(e, "%s: multiple_of must be positive, got %d", path, h[4]);
    return 0;
}

int lumi_lmw_load(const char *path, LumiModel *m, LumiErr *e) {
    if (lumi_map_file(path, &m->map, e) != 0) return -1;
    Cur cur = {m->map.data, 0, m->map.size};
    if (read_header(&cur, m, path, e) != 0) return -1;
    Lmw l = {.path = path, .e = e};
    while (cur.off < cur.size && l.rc == 0) {
        if ((l.n & (l.n - 1)) == 0) /* capacity doubles at each power of two */
            l.r = lumi_xrealloc(l.r, ((size_t)l.n * 2 + 1) * sizeof *l.r);
        l.rc = get_rec(&cur, &l.r[l.n], path, e);
        if (l.rc == 0) l.n++;
    }
    if (l.rc == 0 && l.n > 0) qsort(l.r, (size_t)l.n, sizeof *l.r, rec_cmp);
    for (int i = 1; i < l.n && l.rc == 0; i++)
        if (rec_cmp(&l.r[i - 1], &l.r[i]) == 0)
            l.rc = lumi_err(e, "%s: tensor '%.*s' appears twice", path, l.r[i].name_len, l.r[i].name);
    LumiConfig *c = &m->cfg;
    const Rec *w1 = l.rc == 0 ? find(&l, "layers.0.feed_forward.w1.weight") : NULL;
    if (l.rc == 0 && (!w1 || w1->ndim != 2)) l.rc = lumi_err(e, "%s: missing tensor 'layers.0.feed_forward.w1.weight'", path);
    if (l.rc == 0) {
        c->hidden_dim = w1->dims[0];
        c->shared_classifier = find(&l, "output.weight") == NULL;
        c->qkv_bias = find(&l, "layers.0.attention.wq.bias") != NULL;
        c->qk_norm = find(&l, "layers.0.attention.q_norm.weight") != NULL;
        if (lumi_config_validate(c, path, e) != 0) l.rc = -1;
    }
    if (l.rc == 0) {
        lumi_config_derive(c);
        m->w.layers = lumi_xcalloc((size_t)c->n_layers, sizeof(LumiLayer));
        plan(&l, m);
    }
    if (l.rc == 0) {
        size_t total = 0;
        for (int i = 0; i < l.nb; i++)
            if (!in_place(l.b[i].r)) total += l.b[i].r->count;
        float *arena = m->owned = total ? lumi_xmalloc(total * sizeof(float)) : NULL;
        for (int i = 0; i < l.nb; i++) {
            const Rec *r = l.b[i].r;
            if (in_place(r)) *l.b[i].dst = r->data;
            else materialize(r, arena), *l.b[i].dst = arena, arena += r->count;
        }
        if (c->shared_classifier) m->w.cls = m->w.tok_emb;
        m->file_dtype = find(&l, "layers.0.attention.wq.weight")->type;
        m->format = "lmw";
    }
    free(l.r);
    free(l.b);
    return l.rc;
}

/* ---- writer ---- */

typedef struct {
    FILE *f;
    LumiDType dt;
    int ok;
} W;

static void put(W *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n) w->ok = 0;
}

static void put_i32(W *w, int32_t v) { put(w, &v, 4); }

static void pad(W *w, size_t n) {
    static const char zero[4];
    put(w, zero, (4 - n % 4) % 4);
}

static void put_blob(W *w, const void *p, size_t n) {
    put_i32(w, (int32_t)n);
    put(w, p, n);
    pad(w, n);
}

static uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static void put_floats(W *w, const float *x, size_t n) {
    if (w->dt == LUMI_F32) {
        put(w, x, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t b = bf16_round(x[i]);
        put(w, &b, 2);
    }
}

/* Row j of Meta's interleaved layout is row unperm(j) of a rotate-half one. */
static int unperm(int j, int hs) {
    int h = j / hs, k = j % hs;
    return h * hs + (k % 2) * (hs / 2) + k / 2;
}

/* heads > 0 and a rotate-half source: rows are put back in interleaved order. */
static void put_tensor(W *w, const char *name, const float *x, int rows, int cols, int transposed, int hs) {
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    put_blob(w, name, strlen(name));
    put_i32(w, cols ? 2 : 1);
    put_i32(w, rows);
    if (cols) put_i32(w, cols);
    put_i32(w, transposed);
    put_i32(w, w->dt == LUMI_F32 ? DT_F32 : DT_BF16);
    int ncol = cols ? cols : 1;
    float *buf = lumi_xmalloc((size_t)(rows > ncol ? rows : ncol) * sizeof(float));
    if (transposed) {
        for (int c = 0; c < cols; c++) {
            for (int r = 0; r < rows; r++) buf[r] = x[(size_t)(hs ? unperm(r, hs) : r) * cols + c];
            put_floats(w, buf, (size_t)rows);
        }
    } else {
        for (int r = 0; r < rows; r++) put_floats(w, x + (size_t)(hs ? unperm(r, hs) : r) * ncol, (size_t)ncol);
    }
    free(buf);
    pad(w, n * (w->dt == LUMI_F32 ? 4 : 2));
}

int lumi_lmw_write(const LumiModel *m, const char *path, const LumiLmwWriteOpts *o, LumiErr *e) {
    const LumiConfig *c = &m->cfg;
    if (c->rope_scaling != LUMI_ROPE_SCALING_NONE)
        return lumi_err(e, "%s: .lmw cannot store rope scaling (the model has it)", path);
    if (o->dtype != LUMI_F32 && o->dtype != LUMI_BF16) return lumi_err(e, "%s: .lmw dtype must be f32 or bf16", path);
    /* the writer reads f32: the model's f32 table (its own tensors when
     * they are f32 already, else widened once; see engine/weights.h) */
    const LumiWeights *w32;
    if (lumi_weights_get(m, LUMI_F32, &w32, NULL, e) != 0) return -1;
    LumiModel f32 = *m;
    f32.w = *w32;
    m = &f32;
    W w = {fopen(path, "wb"), o->dtype, 1};
    if (!w.f) return lumi_err(e, "%s: cannot write: %s", path, strerror(errno));
    int hs = c->rope_style == LUMI_ROPE_HALF ? c->head_size : 0; /* un-permute q/k rows */
    int d = c->dim, kv = c->kv_dim, hd = c->hidden_dim;
    put_i32(&w, (int32_t)LUMI_LMW_MAGIC);
    put_i32(&w, 1);
    put_blob(&w, o->name ? o->name : "", o->name ? strlen(o->name) : 0);
    int32_t h[7] = {d, c->n_layers, c->n_heads, c->n_kv_heads, 256, c->vocab_size, c->seq_len};
    put(&w, h, sizeof h);
    put(&w, &c->rope_theta, 4);
    put(&w, &c->norm_eps, 4);
    put_blob(&w, o->tokenizer, o->tokenizer ? o->tokenizer_len : 0);
    char nm[96];
#define NAME(fmt, ...) (snprintf(nm, sizeof nm, fmt, __VA_ARGS__), nm)
    put_tensor(&w, "tok_embeddings.weight", m->w.tok_emb.data, c->vocab_size, d, 0, 0);
    for (int i = 0; i < c->n_layers; i++) {
        const LumiLayer *L = &m->w.layers[i];
        put_tensor(&w, NAME("layers.%d.attention_norm.weight", i), L->rms_att.data, d, 0, 0, 0);
        put_tensor(&w, NAME("layers.%d.attention.wq.weight", i), L->wq.data, d, d, 1, hs);
        put_tensor(&w, NAME("layers.%d.attention.wk.weight", i), L->wk.data, kv, d, 1, hs);
        put_tensor(&w, NAME("layers.%d.attention.wv.weight", i), L->wv.data, kv, d, 1, 0);
        put_tensor(&w, NAME("layers.%d.attention.wo.weight", i), L->wo.data, d, d, 1, 0);
        if (c->qkv_bias) {
            put_tensor(&w, NAME("layers.%d.attention.wq.bias", i), L->bq.data, d, 0, 0, hs);
            put_tensor(&w, NAME("layers.%d.attention.wk.bias", i), L->bk.data, kv, 0, 0, hs);
            put_tensor(&w, NAME("layers.%d.attention.wv.bias", i), L->bv.data, kv, 0, 0, 0);
        }
        if (c->qk_norm) {
            put_tensor(&w, NAME("layers.%d.attention.q_norm.weight", i), L->q_norm.data, c->head_size, 0, 0, hs);
            put_tensor(&w, NAME("layers.%d.attention.k_norm.weight", i), L->k_norm.data, c->head_size, 0, 0, hs);
        }
        put_tensor(&w, NAME("layers.%d.ffn_norm.weight", i), L->rms_ffn.data, d, 0, 0, 0);
        put_tensor(&w, NAME("layers.%d.feed_forward.w1.weight", i), L->w1.data, hd, d, 1, 0);
        put_tensor(&w, NAME("layers.%d.feed_forward.w2.weight", i), L->w2.data, d, hd, 1, 0);
        put_tensor(&w, NAME("layers.%d.feed_forward.w3.weight", i), L->w3.data, hd, d, 1, 0);
    }
#undef NAME
    put_tensor(&w, "norm.weight", m->w.rms_final.data, d, 0, 0, 0);
    if (!c->shared_classifier) put_tensor(&w, "output.weight", m->w.cls.data, c->vocab_size, d, 1, 0);
    if (w.ok) lumi_drop_file_cache(w.f); /* the next load gets 2 MiB pages */
    if (fclose(w.f) != 0) w.ok = 0;
    if (!w.ok) {
        remove(path);
        return lumi_err(e, "%s: write failed", path);
    }
    return 0;
}
