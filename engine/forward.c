/* forward.c: the Llama forward pass, top to bottom, on any backend.
 * n tokens at positions pos0.. go through every layer as an [n, dim]
 * matrix; their keys and values are written into the cache rows pos0..
 * and attention reads rows 0..pos for each query. */
#include "forward.h"

/* o[i].out = o[i].w x: in one call where the backend takes several */
static void matmuls(const LumiForward *f, LumiRef x, int n, const LumiMatmulOut *o, int count) {
    if (f->be->matmuls) f->be->matmuls(f->ctx, x, n, o, count);
    else
        for (int i = 0; i < count; i++) f->be->matmul(f->ctx, o[i].out, o[i].out_stride, x, o[i].w, o[i].bias, n);
}

void lumi_forward(const LumiForward *f, const int *tokens, int n, int pos0, int logits_from) {
    const LumiConfig *c = f->cfg;
    const LumiBackendOps *be = f->be;
    void *ctx = f->ctx;
    const LumiWeights *w = f->w;
    int dim = c->dim, kv = c->kv_dim, hid = c->hidden_dim;
    float eps = c->norm_eps;

    be->embed(ctx, f->x, &w->tok_emb, tokens, n);
    for (int l = 0; l < c->n_layers; l++) {
        const LumiLayer *L = &w->layers[l];
        LumiRef k = lumi_at(f->k[l], (size_t)pos0 * kv), v = lumi_at(f->v[l], (size_t)pos0 * kv);

        /* attention: x += Wo attn(rope(Wq xn), rope(Wk xn), Wv xn) */
        be->rmsnorm(ctx, f->xb, f->x, &L->rms_att, n, dim, eps);
        LumiMatmulOut qkv[] = {{f->q, dim, &L->wq, &L->bq}, {k, kv, &L->wk, &L->bk}, {v, kv, &L->wv, &L->bv}};
        matmuls(f, f->xb, n, qkv, 3);
        if (L->q_norm.data) { /* Qwen 3: RMSNorm of each head's q and k (in place), before RoPE */
            be->rmsnorm(ctx, f->q, f->q, &L->q_norm, n * c->n_heads, c->head_size, eps);
            be->rmsnorm(ctx, k, k, &L->k_norm, n * c->n_kv_heads, c->head_size, eps);
        }
        be->rope(ctx, f->q, dim, n, pos0, c->n_heads, c->head_size);
        be->rope(ctx, k, kv, n, pos0, c->n_kv_heads, c->head_size);
        be->attention(ctx, f->xb2, f->q, f->k[l], f->v[l], n, pos0);
        be->matmul(ctx, f->xb, dim, f->xb2, &L->wo, NULL, n);
        be->add(ctx, f->x, f->xb, (size_t)n * dim);

        /* feed-forward: x += W2 (silu(W1 xn) * W3 xn) */
        be->rmsnorm(ctx, f->xb, f->x, &L->rms_ffn, n, dim, eps);
        LumiMatmulOut gate_up[] = {{f->hb, hid, &L->w1, NULL}, {f->hb2, hid, &L->w3, NULL}};
        matmuls(f, f->xb, n, gate_up, 2);
        be->swiglu(ctx, f->hb, f->hb2, (size_t)n * hid);
        be->matmul(ctx, f->xb, dim, f->hb, &L->w2, NULL, n);
        be->add(ctx, f->x, f->xb, (size_t)n * dim);
    }
    /* final norm and classifier, only for the rows the caller wants */
    int rows = n - logits_from;
    if (rows > 0) {
        be->rmsnorm(ctx, f->xb, lumi_at(f->x, (size_t)logits_from * dim), &w->rms_final, rows, dim, eps);
        be->matmul(ctx, f->logits, c->vocab_size, f->xb, &w->cls, NULL, rows);
    }
}
