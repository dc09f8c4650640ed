/* llama2c.c: karpathy/llama2.c checkpoints.
 *
 * v0 (legacy): 7 int32 header (dim, hidden_dim, n_layers, n_heads,
 *   n_kv_heads, vocab_size, seq_len), then fp32: tok_emb, rms_att[L], wq[L],
 *   wk[L], wv[L], wo[L], rms_ffn[L], w1[L], w2[L], w3[L], rms_final,
 *   freq_cis cos and sin [seq_len, head_size/2] (ignored: we compute our own),
 *   and, when vocab_size < 0, the separate classifier [vocab, dim].
 * v1: 256-byte header: uint32 magic "ak42", int32 version 1, the 7 ints,
 *   uint8 shared_classifier, zero padding; then fp32 rms_att[L], rms_ffn[L],
 *   rms_final, tok_emb, wq[L], wk[L], wv[L], wo[L], w1[L], w2[L], w3[L] and
 *   the classifier unless shared. No freq_cis.
 * v2 (export.py --version 2, read by runq.c): the same 256-byte header
 *   with int32 group_size GS after shared_classifier (byte 37); fp32
 *   rms_att[L], rms_ffn[L], rms_final; then each quantized tensor as its
 *   int8 values followed by its f32 scales (one per GS consecutive
 *   elements): tok_emb, wq[L], wk[L], wv[L], wo[L], w1[L], w2[L], w3[L],
 *   and the classifier unless shared.
 *   A group of GS int8 with an f32 scale is not a Q8_0 block (32 int8 with
 *   an f16 scale): turning one into the other rounds the scale. So lumi
 *   widens v2 weights at load to the f32 values runq.c dequantizes to,
 *   q * s, rounded once in f32 (file_dtype stays q8_0 for reporting), and
 *   weights=q8_0 requantizes them like any f32 weight. Activations stay
 *   f32, where runq.c quantizes them too: its logits are not lumi's.
 * The file size must match the header exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define LLAMA2C_MAGIC 0x616b3432u

static int load_v2(const char *path, LumiModel *m, LumiErr *e);

/* A bounds-checked cursor over the mapped file. */
typedef struct {
    const char *base;
    size_t off, size;
    int overflow;
} Cursor;

static const float *take(Cursor *c, size_t n_floats) {
    size_t bytes, end;
    if (lumi_mul_size(n_floats, 4, &bytes) || lumi_add_size(c->off, bytes, &end) || end > c->size) {
        c->overflow = 1;
        return NULL;
    }
    const float *p = (const float *)(const void *)(c->base + c->off);
    c->off = end;
    return p;
}

static LumiMat mat(Cursor *c, int rows, int cols) {
    LumiMat m = {take(c, (size_t)rows * (size_t)cols), LUMI_F32, rows, cols};
    return m;
}

/* Bytes of weights implied by the header, computed with overflow checks. */
static int expected_size(const LumiConfig *c, int v1, size_t *out) {
    size_t d = (size_t)c->dim, h = (size_t)c->hidden_dim, kv = (size_t)c->kv_dim;
    size_t L = (size_t)c->n_layers, V = (size_t)c->vocab_size;
    size_t terms[][3] = {
        {V, d, 1},  {L, d, 2},  {L, d, d},  {L, d, kv}, {L, d, kv}, {L, d, d},
        {L, h, d},  {L, h, d},  {L, h, d},  {d, 1, 1},
        {v1 ? 0 : (size_t)c->seq_len, (size_t)c->head_size, 1}, /* cos+sin: 2 * seq * hs/2 */
        {c->shared_classifier ? 0 : V, d, 1},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        size_t t;
        if (lumi_mul_size(terms[i][0], terms[i][1], &t) || lumi_mul_size(t, terms[i][2], &t) ||
            lumi_add_size(total, t, &total))
            return -1;
    }
    if (lumi_mul_size(total, 4, &total) || lumi_add_size(total, v1 ? 256 : 28, &total)) return -1;
    *out = total;
    return 0;
}

static void layer_mats(Cursor *cur, LumiModel *m, size_t field_offset, int rows, int cols) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        LumiMat *dst = (LumiMat *)(void *)((char *)&m->w.layers[l] + field_offset);
        *dst = mat(cur, rows, cols);
    }
}

static void layer_vecs(Cursor *cur, LumiModel *m, size_t field_offset, int n) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        LumiMat *dst = (LumiMat *)(void *)((char *)&m->w.layers[l] + field_offset);
        *dst = lumi_vec(take(cur, (size_t)n), n);
    }
}

#define LAYER_FIELD(f) offsetof(LumiLayer, f)

int lumi_llama2c_load(const char *path, LumiModel *m, LumiErr *e) {
    if (lumi_map_file(path, &m->map, e) != 0) return -1;
    const char *base = m->map.data;
    size_t size = m->map.size;
    if (size < 28) return lumi_err(e, "%s: truncated header (%zu bytes, need 28)", path, size);

    int32_t h[9];
    uint32_t magic;
    memcpy(&magic, base, 4);
    int v1 = magic == LLAMA2C_MAGIC;
    if (v1) {
        if (size < 256) return lumi_err(e, "%s: truncated v1 header (%zu bytes, need 256)", path, size);
        memcpy(h, base + 4, 8 * 4);
        if (h[0] == 2) return load_v2(path, m, e);
        if (h[0] != 1) return lumi_err(e, "%s: unsupported llama2.c version %d (0, 1: fp32; 2: int8)", path, h[0]);
        memmove(h, h + 1, 7 * 4);
    } else {
        memcpy(h, base, 7 * 4);
    }
    LumiConfig *c = &m->cfg;
    memset(c, 0, sizeof *c);
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->vocab_size = h[5];
    c->seq_len = h[6];
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    c->rope_style = LUMI_ROPE_INTERLEAVED;
    if (v1) {
        c->shared_classifier = (unsigned char)base[4 + 4 + 7 * 4] != 0;
    } else {
        /* negative vocab_size flags a separate classifier */
        c->shared_classifier = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN) c->vocab_size = -c->vocab_size;
    }
    m->format = v1 ? "llama2c-v1" : "llama2c-v0";
    if (lumi_config_validate(c, path, e) != 0) return -1;
    lumi_config_derive(c);

    size_t want;
    if (expected_size(c, v1, &want) != 0) return lumi_err(e, "%s: header sizes overflow", path);
    if (size < want)
        return lumi_err(e, "%s: truncated: header implies %zu bytes, file has %zu", path, want, size);
    if (size > want)
        return lumi_err(e, "%s: size mismatch: header implies %zu bytes, file has %zu (%zu extra)", path, want,
                        size, size - want);

    int d = c->dim, hd = c->hidden_dim, kv = c->kv_dim, V = c->vocab_size;
    Cursor cur = {base, v1 ? 256 : 28, size, 0};
    m->w.layers = lumi_xcalloc((size_t)c->n_layers, sizeof(LumiLayer));
    if (v1) {
        layer_vecs(&cur, m, LAYER_FIELD(rms_att), d);
        layer_vecs(&cur, m, LAYER_FIELD(rms_ffn), d);
        m->w.rms_final = lumi_vec(take(&cur, (size_t)d), d);
        m->w.tok_emb = mat(&cur, V, d);
    } else {
        m->w.tok_emb = mat(&cur, V, d);
        layer_vecs(&cur, m, LAYER_FIELD(rms_att), d);
    }
    layer_mats(&cur, m, LAYER_FIELD(wq), d, d);
    layer_mats(&cur, m, LAYER_FIELD(wk), kv, d);
    layer_mats(&cur, m, LAYER_FIELD(wv), kv, d);
    layer_mats(&cur, m, LAYER_FIELD(wo), d, d);
    if (!v1) layer_vecs(&cur, m, LAYER_FIELD(rms_ffn), d);
    layer_mats(&cur, m, LAYER_FIELD(w1), hd, d);
    layer_mats(&cur, m, LAYER_FIELD(w2), d, hd);
    layer_mats(&cur, m, LAYER_FIELD(w3), hd, d);
    if (!v1) {
        m->w.rms_final = lumi_vec(take(&cur, (size_t)d), d);
        take(&cur, (size_t)c->seq_len * (size_t)c->head_size); /* freq_cis cos + sin */
    }
    m->w.cls = c->shared_classifier ? m->w.tok_emb : mat(&cur, V, d);
    if (cur.overflow || cur.off != size) return lumi_err(e, "%s: internal layout mismatch", path);
    return 0;
}

/* ---- v2: int8 groups with f32 scales, widened at load ---- */

typedef struct {
    Cursor cur;
    int gs;
    float *arena;
    size_t used;
} Q8Reader;

/* Next quantized tensor of rows x cols, widened into the arena. */
static LumiMat q8_mat(Q8Reader *r, int rows, int cols) {
    size_t n = (size_t)rows * (size_t)cols, end;
    const int8_t *q = NULL;
    if (lumi_add_size(r->cur.off, n, &end) || end > r->cur.size) r->cur.overflow = 1;
    else q = (const int8_t *)(const void *)(r->cur.base + r->cur.off), r->cur.off = end;
    const char *sp = r->cur.overflow ? NULL : (const char *)take(&r->cur, n / (size_t)r->gs);
    if (!q || !sp) return (LumiMat){NULL, LUMI_F32, rows, cols};
    float *dst = r->arena + r->used;
    r->used += n;
    for (size_t g = 0; g < n / (size_t)r->gs; g++) {
        float s;
        memcpy(&s, sp + 4 * g, 4); /* unaligned: behind the int8 values */
        for (int i = 0; i < r->gs; i++) dst[g * (size_t)r->gs + (size_t)i] = (float)q[g * (size_t)r->gs + (size_t)i] * s;
    }
    return (LumiMat){dst, LUMI_F32, rows, cols};
}

static int load_v2(const char *path, LumiModel *m, LumiErr *e) {
    const char *base = m->map.data;
    size_t size = m->map.size;
    int32_t h[7], gs;
    memcpy(h, base + 8, 7 * 4);
    memcpy(&gs, base + 37, 4);
    LumiConfig *c = &m->cfg;
    memset(c, 0, sizeof *c);
    c->dim = h[0], c->hidden_dim = h[1], c->n_layers = h[2], c->n_heads = h[3], c->n_kv_heads = h[4];
    c->vocab_size = h[5], c->seq_len = h[6];
    c->rope_theta = 10000.0f, c->norm_eps = 1e-5f, c->rope_style = LUMI_ROPE_INTERLEAVED;
    c->shared_classifier = (unsigned char)base[36] != 0;
    m->format = "llama2c-v2-q8";
    m->file_dtype = LUMI_Q8_0;
    if (lumi_config_validate(c, path, e) != 0) return -1;
    lumi_config_derive(c);
    if (gs <= 0 || c->dim % gs != 0 || c->kv_dim % gs != 0 || c->hidden_dim % gs != 0)
        return lumi_err(e, "%s: group_size %d must be positive and divide dim, kv_dim and hidden_dim", path, gs);
    /* expected size: norms, then per element 1 byte + 4/gs bytes of scale */
    size_t d = (size_t)c->dim, hd = (size_t)c->hidden_dim, kv = (size_t)c->kv_dim, L = (size_t)c->n_layers;
    size_t V = (size_t)c->vocab_size;
    size_t q = V * d * (c->shared_classifier ? 1 : 2) + L * (2 * d * d + 2 * d * kv + 3 * d * hd);
    size_t want = 256 + 4 * (2 * L * d + d) + q + q / (size_t)gs * 4;
    if (size != want)
        return lumi_err(e, "%s: %s: header implies %zu bytes, file has %zu", path, size < want ? "truncated" : "size mismatch",
                        want, size);
    Q8Reader r = {{base, 256, size, 0}, gs, NULL, 0};
    r.arena = m->owned = lumi_xmalloc(q * sizeof(float));
    m->w.layers = lumi_xcalloc((size_t)c->n_layers, sizeof(LumiLayer));
    int dd = c->dim, hh = c->hidden_dim, kk = c->kv_dim, VV = c->vocab_size;
    layer_vecs(&r.cur, m, LAYER_FIELD(rms_att), dd);
    layer_vecs(&r.cur, m, LAYER_FIELD(rms_ffn), dd);
    m->w.rms_final = lumi_vec(take(&r.cur, d), dd);
    m->w.tok_emb = q8_mat(&r, VV, dd);
    struct { size_t off; int rows, cols; } mats[7] = {
        {LAYER_FIELD(wq), dd, dd}, {LAYER_FIELD(wk), kk, dd}, {LAYER_FIELD(wv), kk, dd}, {LAYER_FIELD(wo), dd, dd},
        {LAYER_FIELD(w1), hh, dd}, {LAYER_FIELD(w2), dd, hh}, {LAYER_FIELD(w3), hh, dd},
    };
    for (int i = 0; i < 7; i++)
        for (int l = 0; l < c->n_layers; l++)
            *(LumiMat *)(void *)((char *)&m->w.layers[l] + mats[i].off) = q8_mat(&r, mats[i].rows, mats[i].cols);
    m->w.cls = c->shared_classifier ? m->w.tok_emb : q8_mat(&r, VV, dd);
    if (r.cur.overflow || r.cur.off != size) return lumi_err(e, "%s: internal layout mismatch", path);
    return 0;
}
