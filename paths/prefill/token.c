/* token.c: one token per forward call, as llama2.c feeds its prompt. */
#include "prefill.h"

static int token_chunk(int arg, int remaining) {
    (void)arg;
    (void)remaining;
    return 1;
}

const LumiPrefillOps lumi_prefill_token = {"token", "one token per forward call", 0, token_chunk};
