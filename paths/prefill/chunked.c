/* chunked.c: N tokens per forward call, each chunk attending to the cache
 * the earlier chunks filled (the mechanism chat turns reuse). */
#include "prefill.h"

static int chunked_chunk(int arg, int remaining) { return remaining < arg ? remaining : arg; }

const LumiPrefillOps lumi_prefill_chunked = {"chunked", "N tokens per forward call (chunked:N)", 1, chunked_chunk};
