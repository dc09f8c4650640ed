/* forward.h: one forward pass of the Llama model on any backend. The
 * caller (paths/session.c) owns the buffers and the cache; forward.c only
 * says what to compute, in backend buffers it never dereferences. */
#ifndef LUMI_FORWARD_H
#define LUMI_FORWARD_H
#include "backend.h"
#include "model.h"

typedef struct {
    const LumiConfig *cfg;
    const LumiBackendOps *be;
    void *ctx;
    const LumiWeights *w; /* be->weights(ctx) */
    /* activations, room for the rows of one call */
    LumiRef x, xb, xb2, q;   /* [rows, dim] */
    LumiRef hb, hb2;         /* [rows, hidden_dim] */
    LumiRef logits;          /* [logit rows, vocab] */
    const LumiRef *k, *v;    /* [n_layers] cache rows [>= pos0 + n, kv_dim] */
} LumiForward;

/* n tokens at positions pos0..pos0+n-1; logits of rows [logits_from, n)
 * into f->logits. The cache must hold pos0 + n positions. */
void lumi_forward(const LumiForward *f, const int *tokens, int n, int pos0, int logits_from);

#endif
