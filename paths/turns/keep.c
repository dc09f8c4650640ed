/* keep.c: turns=keep, see turns.h. */
#include <string.h>

#include "turns.h"

/* The session's history is the conversation so far when nothing was dropped:
 * then only the tail is new. */
static int keep_prefill(LumiSession *s, const int *conv, int n, float *out, int *fed, LumiErr *e) {
    int held = s->n_past;
    if (held > n || memcmp(s->history, conv, (size_t)held * sizeof(int)) != 0) {
        lumi_session_reset(s); /* the conversation changed under the cache: start over */
        held = 0;
    }
    *fed = n - held;
    if (*fed == 0) return 0; /* s->last is already the last position's */
    return lumi_session_feed(s, conv + held, n - held, out, e);
}

const LumiTurnsOps lumi_turns_keep = {"keep", "prefill only the new turn on top of the cached conversation",
                                      keep_prefill};
