/* turns.h: how a conversation's next turn reaches the KV cache. A chat
 * holds the whole conversation as token ids; before each reply the session
 * must hold exactly those ids. The strategies differ only in what they
 * recompute, so their logits must be bitwise equal (experiments/chat.c
 * checks it):
 *   keep     prefill only the tokens the session does not hold yet, on top
 *            of its cache (positions pos0 > 0); if the session holds
 *            something else (older turns were dropped), start over once.
 *   rebuild  forget the cache and prefill the whole conversation, every
 *            turn (llama2.c's chat, and what a stateless server does). */
#ifndef LUMI_TURNS_H
#define LUMI_TURNS_H
#include "../session.h"

typedef struct LumiTurnsOps {
    const char *name;
    const char *doc;
    /* Make s hold conv[0..n). *fed = the tokens prefilled now (the rest came
     * from the cache); out, if not NULL, receives their logits [*fed, vocab]. */
    int (*prefill)(LumiSession *s, const int *conv, int n, float *out, int *fed, LumiErr *e);
} LumiTurnsOps;

const LumiTurnsOps *lumi_turns_find(const char *name);
/* "" (not chosen) means keep. */
const LumiTurnsOps *lumi_turns_of(const LumiPathSpec *p);

#endif
