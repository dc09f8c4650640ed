/* rebuild.c: turns=rebuild, see turns.h. */
#include "turns.h"

static int rebuild_prefill(LumiSession *s, const int *conv, int n, float *out, int *fed, LumiErr *e) {
    lumi_session_reset(s);
    *fed = n;
    return lumi_session_feed(s, conv, n, out, e);
}

const LumiTurnsOps lumi_turns_rebuild = {"rebuild", "re-prefill the whole conversation from an empty cache every turn",
                                         rebuild_prefill};
