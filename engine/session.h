/* session.h: a model running on one path. The session owns the backend
 * context, the KV cache, the token history and the activation buffers, and
 * splits fed tokens into forward calls as the prefill strategy says. */
#ifndef LUMI_SESSION_H
#define LUMI_SESSION_H
#include "../paths/backend/backend.h"
#include "../paths/cache/cache.h"
#include "../paths/path.h"
#include "../paths/prefill/prefill.h"
#include "model.h"

typedef struct {
    const LumiModel *model;
    LumiPathSpec spec;
    const LumiBackendOps *be;
    void *bectx;
    const LumiPrefillOps *prefill;
    LumiCache cache;
    int *history;  /* [seq_len] tokens fed so far */
    int n_past;
    /* activations in backend memory, room for cap_rows tokens */
    int cap_rows, cap_logit_rows;
    float *x, *xb, *xb2, *q, *hb, *hb2, *logits;
    float *last;   /* host [vocab]: logits of the last fed position */
    int forward_calls; /* how many forward passes ran (for tests and reports) */
} LumiSession;

int lumi_session_open(LumiSession *s, const LumiModel *m, const LumiPathSpec *p, LumiErr *e);
void lumi_session_close(LumiSession *s);
/* Forget the sequence; keeps allocations. */
void lumi_session_reset(LumiSession *s);
/* Feed n tokens at the next positions. If out != NULL it receives the logits
 * of every fed position, [n, vocab] row-major; the last row is always in
 * s->last. Fails (with nothing fed) if the context would overflow or an id
 * is out of range. */
int lumi_session_feed(LumiSession *s, const int *tokens, int n, float *out, LumiErr *e);

/* One forward pass of n tokens at positions pos0..pos0+n-1 (engine/forward.c);
 * computes logits rows [logits_from, n) into s->logits. */
int lumi_forward(LumiSession *s, const int *tokens, int n, int pos0, int logits_from, LumiErr *e);

#endif
