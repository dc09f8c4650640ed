/* session.c: see session.h. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "../engine/weights.h"

static void free_buf(LumiSession *s, LumiBuf **p) {
    if (*p) s->be->release(s->bectx, *p);
    *p = NULL;
}

static int grow(LumiSession *s, LumiBuf **p, size_t n, LumiErr *e) {
    free_buf(s, p);
    *p = s->be->alloc(s->bectx, n, e);
    return *p ? 0 : -1;
}

static int cap_for(int have, int want, int limit) {
    int cap = have ? have : 1;
    while (cap < want) cap *= 2;
    return cap > limit ? limit : cap;
}

/* Activation buffers grow geometrically, so a decode loop (one row) never
 * allocates once the prompt has been through, and the recompute path
 * (cache none) reallocates O(log n) times over a whole generation. */
static int ensure_rows(LumiSession *s, int rows, int logit_rows, LumiErr *e) {
    const LumiConfig *c = &s->model->cfg;
    if (rows > s->cap_rows) {
        size_t cap = (size_t)cap_for(s->cap_rows, rows, s->max_positions);
        LumiBuf **dim_bufs[] = {&s->x, &s->xb, &s->xb2, &s->q}, **hid_bufs[] = {&s->hb, &s->hb2};
        s->cap_rows = 0; /* until every buffer has its new size */
        for (int i = 0; i < 4; i++)
            if (grow(s, dim_bufs[i], cap * (size_t)c->dim, e) != 0) return -1;
        for (int i = 0; i < 2; i++)
            if (grow(s, hid_bufs[i], cap * (size_t)c->hidden_dim, e) != 0) return -1;
        s->cap_rows = (int)cap;
    }
    if (logit_rows > s->cap_logit_rows) {
        size_t cap = (size_t)cap_for(s->cap_logit_rows, logit_rows, s->max_positions);
        s->cap_logit_rows = 0;
        if (grow(s, &s->logits, cap * (size_t)c->vocab_size, e) != 0) return -1;
        s->cap_logit_rows = (int)cap;
    }
    return 0;
}

static int check_mat(const LumiBackendOps *be, LumiOp op, const LumiMat *w, const char *path, const char *tensor,
                     int layer, LumiErr *e) {
    if (be->supports(op, w->type)) return 0;
    char name[64];
    if (layer >= 0) snprintf(name, sizeof name, "layers.%d.%s", layer, tensor);
    else snprintf(name, sizeof name, "%s", tensor);
    return lumi_err(e, "%s: backend %s cannot run tensor %s in %s (%s)", path, be->name, name, lumi_dtype_name(w->type),
                    op == LUMI_OP_EMBED ? "embedding lookup" : "matmul");
}

int lumi_backend_check_weights(const LumiBackendOps *be, const LumiModel *m, const LumiWeights *w, LumiErr *e) {
    if (check_mat(be, LUMI_OP_EMBED, &w->tok_emb, m->path, "tok_embeddings", -1, e) != 0) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LumiLayer *L = &w->layers[l];
        const LumiMat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
        const char *names[] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
        for (int i = 0; i < 7; i++)
            if (check_mat(be, LUMI_OP_MATMUL, mats[i], m->path, names[i], l, e) != 0) return -1;
    }
    return check_mat(be, LUMI_OP_MATMUL, &w->cls, m->path, "output", -1, e);
}

int lumi_session_open(LumiSession *s, const LumiModel *m, const LumiPathSpec *p, LumiErr *e) {
    return lumi_session_open_for(s, m, p, 0, e);
}

int lumi_session_open_for(LumiSession *s, const LumiModel *m, const LumiPathSpec *p, int max_positions, LumiErr *e) {
    memset(s, 0, sizeof *s);
    s->model = m;
    s->max_positions = max_positions > 0 && max_positions < m->cfg.seq_len ? max_positions : m->cfg.seq_len;
    s->spec = *p;
    s->be = lumi_backend_find(p->backend);
    s->prefill = lumi_prefill_find(p->prefill);
    const LumiCacheOps *cops = lumi_cache_find(p->cache);
    if (!s->be || !s->prefill || !cops) {
        lumi_err(e, "invalid path (backend=%s cache=%s prefill=%s)", p->backend, p->cache, p->prefill);
        s->be = NULL;
        return -1;
    }
    /* the weights= table: built once per model and dtype, owned by the model */
    int dtype = p->weights[0] ? lumi_weights_parse(p->weights) : LUMI_WEIGHTS_FILE;
    const LumiWeights *w;
    if (dtype == -2) {
        lumi_err(e, "invalid path: unknown weights '%s'", p->weights);
        s->be = NULL;
        return -1;
    }
    if ((!p->allow_swap && lumi_weights_check_fit(m, dtype, e) != 0) || lumi_weights_get(m, dtype, &w, NULL, e) != 0 ||
        lumi_backend_check_weights(s->be, m, w, e) != 0) {
        s->be = NULL;
        return -1;
    }
    LumiBackendOpts bo = {p->threads, 0, p->has_device ? p->device : -1};
    if (s->be->init(&s->bectx, m, w, &bo, e) != 0) {
        s->be = NULL;
        return -1;
    }
    s->cache = (LumiCache){.ops = cops, .be = s->be, .bectx = s->bectx, .n_layers = m->cfg.n_layers,
                           .kv_dim = m->cfg.kv_dim, .max_positions = s->max_positions};
    s->history = lumi_xmalloc((size_t)s->max_positions * sizeof(int));
    s->last = lumi_xcalloc((size_t)m->cfg.vocab_size, sizeof(float));
    if (cops->init(&s->cache, e) != 0 || ensure_rows(s, 1, 1, e) != 0) {
        lumi_session_close(s);
        return -1;
    }
    return 0;
}

void lumi_session_close(LumiSession *s) {
    if (!s->be) return;
    LumiBuf **bufs[] = {&s->x, &s->xb, &s->xb2, &s->q, &s->hb, &s->hb2, &s->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_buf(s, bufs[i]);
    if (s->cache.ops) s->cache.ops->free(&s->cache);
    s->be->free(s->bectx);
    free(s->history);
    free(s->last);
    memset(s, 0, sizeof *s);
}

void lumi_session_reset(LumiSession *s) { s->n_past = 0; }

/* One forward call of n tokens at pos0 (buffers and cache already sized). */
static void forward(LumiSession *s, const int *tokens, int n, int pos0, int logits_from) {
    LumiForward f = {&s->model->cfg, s->be, s->bectx, s->be->weights(s->bectx),
                     lumi_ref(s->x), lumi_ref(s->xb), lumi_ref(s->xb2), lumi_ref(s->q),
                     lumi_ref(s->hb), lumi_ref(s->hb2), lumi_ref(s->logits), s->cache.k, s->cache.v};
    lumi_forward(&f, tokens, n, pos0, logits_from);
    s->forward_calls++;
}

int lumi_session_feed(LumiSession *s, const int *tokens, int n, float *out, LumiErr *e) {
    const LumiConfig *c = &s->model->cfg;
    if (n <= 0) return lumi_err(e, "nothing to feed");
    if (n > s->max_positions - s->n_past) {
        if (s->max_positions < c->seq_len)
            return lumi_err(e, "%d tokens after %d exceed the %d positions this run was opened for (context %d of %s)",
                            n, s->n_past, s->max_positions, c->seq_len, s->model->path);
        return lumi_err(e, "%d tokens after %d exceed the context length %d of %s", n, s->n_past, c->seq_len,
                        s->model->path);
    }
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return lumi_err(e, "token id %d at index %d is outside the vocabulary [0, %d)", tokens[i], i, c->vocab_size);
    size_t V = (size_t)c->vocab_size;
    for (int done = 0; done < n;) {
        int k = s->prefill->chunk(s->spec.chunk, n - done);
        int last_chunk = done + k == n;
        int rows = out ? k : (last_chunk ? 1 : 0); /* logits rows wanted */
        memcpy(s->history + s->n_past, tokens + done, (size_t)k * sizeof(int));
        /* with no cache, replay everything seen so far */
        int persistent = s->cache.ops->persistent, pos0 = persistent ? s->n_past : 0;
        int total = persistent ? k : s->n_past + k;
        if (ensure_rows(s, total, rows, e) != 0 || s->cache.ops->reserve(&s->cache, pos0 + total, e) != 0 ||
            lumi_model_rope_reserve(s->model, pos0 + total, e) != 0)
            return -1;
        forward(s, persistent ? tokens + done : s->history, total, pos0, total - rows);
        LumiRef logits = lumi_ref(s->logits);
        if (out && s->be->to_host(s->bectx, out + (size_t)done * V, logits, (size_t)k * V, e) != 0) return -1;
        if (last_chunk && s->be->to_host(s->bectx, s->last, lumi_at(logits, (size_t)(rows - 1) * V), V, e) != 0)
            return -1;
        s->n_past += k;
        done += k;
    }
    return 0;
}
