/* gguf.c: see gguf.h. */
#include "gguf.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *base;
    size_t off, size;
    int bad;
} Rd;

static const unsigned char *need(Rd *r, uint64_t n) {
    if (r->bad || n > r->size - r->off) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->base + r->off;
    r->off += (size_t)n;
    return p;
}

static uint32_t u32(Rd *r) {
    const unsigned char *p = need(r, 4);
    uint32_t v = 0;
    if (p) memcpy(&v, p, 4);
    return v;
}

static uint64_t u64(Rd *r) {
    const unsigned char *p = need(r, 8);
    uint64_t v = 0;
    if (p) memcpy(&v, p, 8);
    return v;
}

static const char *str(Rd *r, size_t *len) {
    uint64_t n = u64(r);
    const char *s = (const char *)need(r, n);
    *len = s ? (size_t)n : 0;
    return s;
}

static size_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    }
    return 0;
}

/* Skips one value of type t (arrays of arrays are rejected). */
static void skip_value(Rd *r, uint32_t t, uint32_t *arr_type, uint64_t *arr_n) {
    if (t == GGUF_STRING) {
        size_t len;
        str(r, &len);
    } else if (t == GGUF_ARRAY) {
        uint32_t at = u32(r);
        uint64_t n = u64(r);
        *arr_type = at;
        *arr_n = n;
        if (at == GGUF_STRING) {
            for (uint64_t i = 0; i < n && !r->bad; i++) {
                size_t len;
                str(r, &len);
            }
        } else {
            size_t es = scalar_size(at);
            if (!es || n > (r->size - r->off) / es) r->bad = 1;
            else need(r, n * es);
        }
    } else {
        size_t es = scalar_size(t);
        if (!es) r->bad = 1;
        else need(r, es);
    }
}

/* Bytes of a tensor of n elements, or 0 for an unknown type. */
static size_t type_bytes(uint32_t type, uint64_t n, int *ok) {
    *ok = 1;
    switch (type) {
    case GGML_F32: return (size_t)n * 4;
    case GGML_F16: case GGML_BF16: return (size_t)n * 2;
    case GGML_Q8_0:
        if (n % 32) *ok = 0;
        return (size_t)(n / 32) * 34;
    }
    *ok = 0;
    return 0;
}

int lumi_gguf_open(const char *path, GgufFile *g, LumiErr *e) {
    memset(g, 0, sizeof *g);
    g->path = path;
    if (lumi_map_file(path, &g->map, e) != 0) return -1;
    Rd r = {g->map.data, 0, g->map.size, 0};
    const unsigned char *magic = need(&r, 4);
    if (!magic || memcmp(magic, "GGUF", 4)) goto bad_header;
    g->version = u32(&r);
    if (!r.bad && g->version != 2 && g->version != 3) {
        lumi_err(e, "%s: GGUF version %u is not supported (2, 3)", path, g->version);
        goto fail;
    }
    g->n_tensors = u64(&r);
    g->n_kv = u64(&r);
    if (r.bad) goto bad_header;
    /* each entry takes at least 8 bytes (its key length): bounds the counts */
    if (g->n_kv > g->map.size / 8 || g->n_tensors > g->map.size / 8) {
        lumi_err(e, "%s: GGUF header claims %llu keys and %llu tensors, more than the file holds", path,
                 (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
        goto fail;
    }
    g->kv = lumi_xcalloc((size_t)g->n_kv, sizeof *g->kv);
    for (uint64_t i = 0; i < g->n_kv && !r.bad; i++) {
        GgufKV *kv = &g->kv[i];
        kv->key = str(&r, &kv->key_len);
        kv->type = u32(&r);
        kv->val = r.base + r.off;
        skip_value(&r, kv->type, &kv->arr_type, &kv->arr_n);
    }
    if (r.bad) {
        lumi_err(e, "%s: truncated or malformed GGUF metadata", path);
        goto fail;
    }
    int64_t align = 32;
    if (lumi_gguf_get_int(g, "general.alignment", &align) < 0 || align <= 0 || align > 4096 || (align & (align - 1))) {
        lumi_err(e, "%s: general.alignment is not a power of two", path);
        goto fail;
    }
    g->tensors = lumi_xcalloc((size_t)g->n_tensors, sizeof *g->tensors);
    uint64_t *offs = lumi_xcalloc((size_t)g->n_tensors + 1, sizeof *offs);
    for (uint64_t i = 0; i < g->n_tensors && !r.bad; i++) {
        GgufTensor *t = &g->tensors[i];
        t->name = str(&r, &t->name_len);
        t->n_dims = u32(&r);
        if (t->n_dims == 0 || t->n_dims > 4) r.bad = 1;
        for (uint32_t d = 0; d < t->n_dims && !r.bad; d++) t->ne[d] = u64(&r);
        t->type = u32(&r);
        offs[i] = u64(&r);
    }
    if (r.bad) {
        free(offs);
        lumi_err(e, "%s: truncated or malformed GGUF tensor table", path);
        goto fail;
    }
    size_t data_start = (r.off + (size_t)align - 1) / (size_t)align * (size_t)align;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        GgufTensor *t = &g->tensors[i];
        uint64_t n = 1;
        int ok = 1;
        for (uint32_t d = 0; d < t->n_dims && ok; d++) {
            if (t->ne[d] == 0 || t->ne[d] > (1ull << 40) || n > (1ull << 40) / t->ne[d]) ok = 0;
            else n *= t->ne[d];
        }
        size_t bytes = ok ? type_bytes(t->type, n, &ok) : 0;
        if (!ok) {
            free(offs);
            lumi_err(e, "%s: tensor '%.*s': unsupported type %u or bad shape", path, (int)t->name_len, t->name, t->type);
            goto fail;
        }
        if (data_start > g->map.size || offs[i] > g->map.size - data_start ||
            bytes > g->map.size - data_start - (size_t)offs[i]) {
            free(offs);
            lumi_err(e, "%s: tensor '%.*s' lies outside the file (truncated?)", path, (int)t->name_len, t->name);
            goto fail;
        }
        t->data = r.base + data_start + offs[i];
        t->bytes = bytes;
    }
    free(offs);
    return 0;
bad_header:
    lumi_err(e, "%s: not a GGUF file or truncated header", path);
fail:
    lumi_gguf_close(g, 0);
    return -1;
}

void lumi_gguf_close(GgufFile *g, int keep_map) {
    free(g->kv);
    free(g->tensors);
    if (!keep_map) lumi_unmap(&g->map);
    g->kv = NULL;
    g->tensors = NULL;
}

const GgufKV *lumi_gguf_find(const GgufFile *g, const char *key) {
    size_t n = strlen(key);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key_len == n && !memcmp(g->kv[i].key, key, n)) return &g->kv[i];
    return NULL;
}

int lumi_gguf_get_int(const GgufFile *g, const char *key, int64_t *out) {
    const GgufKV *kv = lumi_gguf_find(g, key);
    if (!kv) return 1;
    const unsigned char *p = kv->val;
    switch (kv->type) {
    case GGUF_U8: *out = *p; return 0;
    case GGUF_I8: *out = (int8_t)*p; return 0;
    case GGUF_U16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case GGUF_I16: { int16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case GGUF_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 0; }
    case GGUF_I32: { int32_t v; memcpy(&v, p, 4); *out = v; return 0; }
    case GGUF_U64: { uint64_t v; memcpy(&v, p, 8); if (v > INT64_MAX) return -1; *out = (int64_t)v; return 0; }
    case GGUF_I64: { int64_t v; memcpy(&v, p, 8); *out = v; return 0; }
    }
    return -1;
}

int lumi_gguf_get_float(const GgufFile *g, const char *key, double *out) {
    const GgufKV *kv = lumi_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type == GGUF_F32) {
        float f;
        memcpy(&f, kv->val, 4);
        *out = f;
        return 0;
    }
    if (kv->type == GGUF_F64) {
        memcpy(out, kv->val, 8);
        return 0;
    }
    int64_t i;
    if (lumi_gguf_get_int(g, key, &i) == 0) {
        *out = (double)i;
        return 0;
    }
    return -1;
}

int lumi_gguf_get_str(const GgufFile *g, const char *key, const char **s, size_t *len) {
    const GgufKV *kv = lumi_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type != GGUF_STRING) return -1;
    uint64_t n;
    memcpy(&n, kv->val, 8);
    *s = (const char *)kv->val + 8;
    *len = (size_t)n;
    return 0;
}

const GgufTensor *lumi_gguf_tensor(const GgufFile *g, const char *name) {
    size_t n = strlen(name);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name_len == n && !memcmp(g->tensors[i].name, name, n)) return &g->tensors[i];
    return NULL;
}

int lumi_gguf_next_str(const GgufFile *g, const GgufKV *kv, size_t *pos, const char **s, uint64_t *len) {
    (void)g;
    /* values were bounds-checked when the metadata was read */
    const unsigned char *p = kv->val + 12 + *pos; /* after elem type u32 and count u64 */
    memcpy(len, p, 8);
    *s = (const char *)p + 8;
    *pos += 8 + (size_t)*len;
    return 0;
}
