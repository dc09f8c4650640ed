/* session.h: a model running on one path. The session composes the path's
 * strategies (backend, cache, prefill, found by name in the registry) and
 * owns the backend context, the KV cache, the token history and the
 * activation buffers; it splits fed tokens into forward calls as the prefill
 * strategy says. */
#ifndef LUMI_SESSION_H
#define LUMI_SESSION_H
#include "../engine/backend.h"
#include "../engine/forward.h"
#include "../engine/model.h"
#include "cache/cache.h"
#include "path.h"
#include "prefill/prefill.h"

typedef struct {
    const LumiModel *model;
    LumiPathSpec spec;
    const LumiBackendOps *be;
    void *bectx;
    const LumiPrefillOps *prefill;
    LumiCache cache;
    int max_positions; /* the most positions this session may hold (<= seq_len) */
    int *history;  /* [max_positions] tokens fed so far */
    int n_past;
    /* activations in backend memory, room for cap_rows tokens */
    int cap_rows, cap_logit_rows;
    LumiBuf *x, *xb, *xb2, *q, *hb, *hb2, *logits;
    float *last;   /* host [vocab]: logits of the last fed position */
    int forward_calls; /* how many forward passes ran (for tests and reports) */
} LumiSession;

int lumi_session_open(LumiSession *s, const LumiModel *m, const LumiPathSpec *p, LumiErr *e);
/* The same for a run that reaches at most max_positions positions (0: the
 * model's context): what the session allocates (a fixed cache, history,
 * activations) is sized by that, not by a context the file may claim. */
int lumi_session_open_for(LumiSession *s, const LumiModel *m, const LumiPathSpec *p, int max_positions, LumiErr *e);
void lumi_session_close(LumiSession *s);
/* Forget the sequence; keeps allocations. */
void lumi_session_reset(LumiSession *s);
/* Feed n tokens at the next positions. If out != NULL it receives the logits
 * of every fed position, [n, vocab] row-major; the last row is always in
 * s->last. Fails (with nothing fed) if the context would overflow or an id
 * is out of range. */
int lumi_session_feed(LumiSession *s, const int *tokens, int n, float *out, LumiErr *e);

/* Refuses weights a backend cannot run: names backend, tensor and dtype. */
int lumi_backend_check_weights(const LumiBackendOps *be, const LumiModel *m, const LumiWeights *w, LumiErr *e);

#endif
