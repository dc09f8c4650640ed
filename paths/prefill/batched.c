/* batched.c: the whole prompt as one [n_tokens, dim] matrix through every
 * layer, with a causal mask inside attention. */
#include "prefill.h"

static int batched_chunk(int arg, int remaining) {
    (void)arg;
    return remaining;
}

const LumiPrefillOps lumi_prefill_batched = {"batched", "whole prompt in one forward call", 0, batched_chunk};
