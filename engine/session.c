/* session.c: see session.h. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

static void free_buf(LumiSession *s, float **p) {
    if (*p) s->be->release(s->bectx, *p);
    *p = NULL;
}

/* Activation buffers grow geometrically, so a decode loop (one row) never
 * allocates once the prompt has been through, and the recompute path
 * (cache none) reallocates O(log n) times over a whole generation. */
static void ensure_rows(LumiSession *s, int rows, int logit_rows) {
    const LumiConfig *c = &s->model->cfg;
    if (rows > s->cap_rows) {
        int cap = s->cap_rows ? s->cap_rows : 1;
        while (cap < rows) cap *= 2;
        if (cap > c->seq_len) cap = c->seq_len;
        float **dim_bufs[] = {&s->x, &s->xb, &s->xb2, &s->q};
        for (int i = 0; i < 4; i++) {
            free_buf(s, dim_bufs[i]);
            *dim_bufs[i] = s->be->alloc(s->bectx, (size_t)cap * c->dim);
        }
        free_buf(s, &s->hb);
        free_buf(s, &s->hb2);
        s->hb = s->be->alloc(s->bectx, (size_t)cap * c->hidden_dim);
        s->hb2 = s->be->alloc(s->bectx, (size_t)cap * c->hidden_dim);
        s->cap_rows = cap;
    }
    if (logit_rows > s->cap_logit_rows) {
        int cap = s->cap_logit_rows ? s->cap_logit_rows : 1;
        while (cap < logit_rows) cap *= 2;
        if (cap > c->seq_len) cap = c->seq_len;
        free_buf(s, &s->logits);
        s->logits = s->be->alloc(s->bectx, (size_t)cap * c->vocab_size);
        s->cap_logit_rows = cap;
    }
}

int lumi_session_open(LumiSession *s, const LumiModel *m, const LumiPathSpec *p, LumiErr *e) {
    memset(s, 0, sizeof *s);
    s->model = m;
    s->spec = *p;
    s->be = lumi_backend_find(p->backend);
    s->prefill = lumi_prefill_find(p->prefill);
    const LumiCacheOps *cops = lumi_cache_find(p->cache);
    if (!s->be || !s->prefill || !cops) return lumi_err(e, "invalid path (backend=%s cache=%s prefill=%s)", p->backend, p->cache, p->prefill);
    LumiBackendOpts bo = {p->threads, 0};
    if (s->be->init(&s->bectx, m, &bo, e) != 0) return -1;
    s->cache = (LumiCache){.ops = cops, .be = s->be, .bectx = s->bectx, .n_layers = m->cfg.n_layers,
                           .kv_dim = m->cfg.kv_dim, .max_positions = m->cfg.seq_len};
    if (cops->init(&s->cache, e) != 0) {
        s->be->free(s->bectx);
        return -1;
    }
    s->history = lumi_xmalloc((size_t)m->cfg.seq_len * sizeof(int));
    s->last = lumi_xcalloc((size_t)m->cfg.vocab_size, sizeof(float));
    ensure_rows(s, 1, 1);
    return 0;
}

void lumi_session_close(LumiSession *s) {
    if (!s->be) return;
    float **bufs[] = {&s->x, &s->xb, &s->xb2, &s->q, &s->hb, &s->hb2, &s->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_buf(s, bufs[i]);
    s->cache.ops->free(&s->cache);
    s->be->free(s->bectx);
    free(s->history);
    free(s->last);
    memset(s, 0, sizeof *s);
}

void lumi_session_reset(LumiSession *s) { s->n_past = 0; }

int lumi_session_feed(LumiSession *s, const int *tokens, int n, float *out, LumiErr *e) {
    const LumiConfig *c = &s->model->cfg;
    if (n <= 0) return lumi_err(e, "nothing to feed");
    if (n > c->seq_len - s->n_past)
        return lumi_err(e, "%d tokens after %d exceed the context length %d of %s", n, s->n_past, c->seq_len,
                        s->model->path);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return lumi_err(e, "token id %d at index %d is outside the vocabulary [0, %d)", tokens[i], i, c->vocab_size);
    size_t V = (size_t)c->vocab_size;
    for (int done = 0; done < n;) {
        int k = s->prefill->chunk(s->spec.chunk, n - done);
        int last_chunk = done + k == n;
        int rows = out ? k : (last_chunk ? 1 : 0); /* logits rows wanted */
        memcpy(s->history + s->n_past, tokens + done, (size_t)k * sizeof(int));
        int rc;
        if (s->cache.ops->persistent) {
            ensure_rows(s, k, rows);
            rc = lumi_forward(s, tokens + done, k, s->n_past, k - rows, e);
        } else {
            /* no cache: replay everything seen so far */
            int total = s->n_past + k;
            ensure_rows(s, total, rows);
            rc = lumi_forward(s, s->history, total, 0, total - rows, e);
        }
        if (rc != 0) return -1;
        if (out) s->be->to_host(s->bectx, out + (size_t)done * V, s->logits, (size_t)k * V);
        if (last_chunk) s->be->to_host(s->bectx, s->last, s->logits + (size_t)(rows - 1) * V, V);
        s->n_past += k;
        done += k;
    }
    return 0;
}
