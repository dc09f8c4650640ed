/* prefill.h: how a run of known tokens (the prompt, a chat turn) is split
 * into forward calls. chunk() returns the size of the next call given how
 * many tokens remain; the session loops until none remain. */
#ifndef LUMI_PREFILL_H
#define LUMI_PREFILL_H

typedef struct LumiPrefillOps {
    const char *name;
    const char *doc;
    int takes_arg; /* "chunked:N" */
    int (*chunk)(int arg, int remaining);
} LumiPrefillOps;

const LumiPrefillOps *lumi_prefill_find(const char *name);

#endif
