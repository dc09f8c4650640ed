/* forward.c: the Llama forward pass, top to bottom, on any backend.
 * n tokens at positions pos0.. go through every layer as an [n, dim]
 * matrix; their keys and values are written into the cache rows pos0..
 * and attention reads rows 0..pos for each query. */
#include "session.h"

int lumi_forward(LumiSession *s, const int *tokens, int n, int pos0, int logits_from, LumiErr *e) {
    const LumiConfig *c = &s->model->cfg;
    const LumiBackendOps *be = s->be;
    void *ctx = s->bectx;
    const LumiWeights *w = be->weights(ctx);
    int dim = c->dim, kv = c->kv_dim, hid = c->hidden_dim;
    float eps = c->norm_eps;
    if (s->cache.ops->reserve(&s->cache, pos0 + n, e) != 0) return -1;
    if (lumi_model_rope_reserve(s->model, pos0 + n, e) != 0) return -1;

    be->embed(ctx, s->x, &w->tok_emb, tokens, n);
    for (int l = 0; l < c->n_layers; l++) {
        const LumiLayer *L = &w->layers[l];
        float *k = s->cache.k[l] + (size_t)pos0 * kv, *v = s->cache.v[l] + (size_t)pos0 * kv;

        /* attention: x += Wo attn(rope(Wq xn), rope(Wk xn), Wv xn) */
        be->rmsnorm(ctx, s->xb, s->x, L->rms_att, n, dim, eps);
        be->matmul(ctx, s->q, dim, s->xb, &L->wq, L->bq, n);
        be->matmul(ctx, k, kv, s->xb, &L->wk, L->bk, n);
        be->matmul(ctx, v, kv, s->xb, &L->wv, L->bv, n);
        if (L->q_norm) { /* Qwen 3: RMSNorm of each head's q and k (in place), before RoPE */
            be->rmsnorm(ctx, s->q, s->q, L->q_norm, n * c->n_heads, c->head_size, eps);
            be->rmsnorm(ctx, k, k, L->k_norm, n * c->n_kv_heads, c->head_size, eps);
        }
        be->rope(ctx, s->q, dim, n, pos0, c->n_heads, c->head_size);
        be->rope(ctx, k, kv, n, pos0, c->n_kv_heads, c->head_size);
        be->attention(ctx, s->xb2, s->q, s->cache.k[l], s->cache.v[l], n, pos0);
        be->matmul(ctx, s->xb, dim, s->xb2, &L->wo, NULL, n);
        be->add(ctx, s->x, s->xb, (size_t)n * dim);

        /* feed-forward: x += W2 (silu(W1 xn) * W3 xn) */
        be->rmsnorm(ctx, s->xb, s->x, L->rms_ffn, n, dim, eps);
        be->matmul(ctx, s->hb, hid, s->xb, &L->w1, NULL, n);
        be->matmul(ctx, s->hb2, hid, s->xb, &L->w3, NULL, n);
        be->swiglu(ctx, s->hb, s->hb2, (size_t)n * hid);
        be->matmul(ctx, s->xb, dim, s->hb, &L->w2, NULL, n);
        be->add(ctx, s->x, s->xb, (size_t)n * dim);
    }
    /* final norm and classifier, only for the rows the caller wants */
    int rows = n - logits_from;
    if (rows > 0) {
        be->rmsnorm(ctx, s->xb, s->x + (size_t)logits_from * dim, w->rms_final, rows, dim, eps);
        be->matmul(ctx, s->logits, c->vocab_size, s->xb, &w->cls, NULL, rows);
    }
    s->forward_calls++;
    return 0;
}
