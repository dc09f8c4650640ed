/* registry.c: the one place that knows every strategy. Adding a strategy is
 * one file plus one line in the table of its axis. Tables are const: the
 * registry is the only global state and it is immutable. */
#include <string.h>

#include "../engine/backend.h"
#include "cache/cache.h"
#include "path.h"
#include "prefill/prefill.h"
#include "sampler/sampler.h"
#include "turns/turns.h"

extern const LumiBackendOps lumi_backend_ref;
extern const LumiBackendOps lumi_backend_cpu;
extern const LumiBackendOps lumi_backend_blas;
extern const LumiBackendOps lumi_backend_opencl;
extern const LumiBackendOps lumi_backend_cuda, lumi_backend_cublas;
extern const LumiCacheOps lumi_cache_none, lumi_cache_growing, lumi_cache_fixed;
extern const LumiPrefillOps lumi_prefill_token, lumi_prefill_batched, lumi_prefill_chunked;

static const LumiBackendOps *const BACKENDS[] = {&lumi_backend_ref, &lumi_backend_cpu, &lumi_backend_blas,
                                                    &lumi_backend_opencl, &lumi_backend_cuda, &lumi_backend_cublas};
static const LumiCacheOps *const CACHES[] = {&lumi_cache_none, &lumi_cache_growing, &lumi_cache_fixed};
static const LumiPrefillOps *const PREFILLS[] = {&lumi_prefill_token, &lumi_prefill_batched, &lumi_prefill_chunked};
extern const LumiTurnsOps lumi_turns_keep, lumi_turns_rebuild;
static const LumiTurnsOps *const TURNS[] = {&lumi_turns_keep, &lumi_turns_rebuild};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const LumiBackendOps *lumi_backend_find(const char *name) {
    for (size_t i = 0; i < COUNT(BACKENDS); i++)
        if (strcmp(BACKENDS[i]->name, name) == 0) return BACKENDS[i];
    return NULL;
}

const LumiCacheOps *lumi_cache_find(const char *name) {
    for (size_t i = 0; i < COUNT(CACHES); i++)
        if (strcmp(CACHES[i]->name, name) == 0) return CACHES[i];
    return NULL;
}

const LumiPrefillOps *lumi_prefill_find(const char *name) {
    for (size_t i = 0; i < COUNT(PREFILLS); i++)
        if (strcmp(PREFILLS[i]->name, name) == 0) return PREFILLS[i];
    return NULL;
}

const LumiTurnsOps *lumi_turns_find(const char *name) {
    for (size_t i = 0; i < COUNT(TURNS); i++)
        if (strcmp(TURNS[i]->name, name) == 0) return TURNS[i];
    return NULL;
}

const LumiTurnsOps *lumi_turns_of(const LumiPathSpec *p) { return lumi_turns_find(p->turns[0] ? p->turns : "keep"); }

static void join(char *buf, size_t n, const char *s) {
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%s%s", l ? ", " : "", s);
}

void lumi_registry_names(const char *axis, char *buf, size_t n) {
    buf[0] = 0;
    if (strcmp(axis, "backend") == 0)
        for (size_t i = 0; i < COUNT(BACKENDS); i++) join(buf, n, BACKENDS[i]->name);
    else if (strcmp(axis, "cache") == 0)
        for (size_t i = 0; i < COUNT(CACHES); i++) join(buf, n, CACHES[i]->name);
    else if (strcmp(axis, "prefill") == 0)
        for (size_t i = 0; i < COUNT(PREFILLS); i++) join(buf, n, PREFILLS[i]->takes_arg ? "chunked:N" : PREFILLS[i]->name);
    else if (strcmp(axis, "turns") == 0)
        for (size_t i = 0; i < COUNT(TURNS); i++) join(buf, n, TURNS[i]->name);
    else if (strcmp(axis, "weights") == 0)
        snprintf(buf, n, "file, f32, bf16, f16, q8_0");
    else
        snprintf(buf, n, "backend, cache, prefill, threads, weights, turns, device");
}

void lumi_registry_print(FILE *f) {
    fprintf(f, "backend:\n");
    for (size_t i = 0; i < COUNT(BACKENDS); i++) {
        fprintf(f, "  %-10s %s\n", BACKENDS[i]->name, BACKENDS[i]->doc);
        if (BACKENDS[i]->unavailable) fprintf(f, "  %-10s UNAVAILABLE: %s\n", "", BACKENDS[i]->unavailable);
    }
    fprintf(f, "cache:\n");
    for (size_t i = 0; i < COUNT(CACHES); i++) fprintf(f, "  %-10s %s\n", CACHES[i]->name, CACHES[i]->doc);
    fprintf(f, "prefill:\n");
    for (size_t i = 0; i < COUNT(PREFILLS); i++)
        fprintf(f, "  %-10s %s\n", PREFILLS[i]->takes_arg ? "chunked:N" : PREFILLS[i]->name, PREFILLS[i]->doc);
    fprintf(f, "turns (lumi chat, kind: chat):\n");
    for (size_t i = 0; i < COUNT(TURNS); i++) fprintf(f, "  %-10s %s\n", TURNS[i]->name, TURNS[i]->doc);
    fprintf(f, "weights (dtype the matrices and the token embedding are held and multiplied in;\n"
               "         norms, RoPE, attention, activations and the KV cache stay f32):\n");
    fprintf(f, "  %-10s %s\n", "file", "each tensor as the file stores it (default)");
    fprintf(f, "  %-10s %s\n", "f32", "float32 (f16/bf16/q8_0 widen exactly)");
    fprintf(f, "  %-10s %s\n", "bf16", "bfloat16, f32 rounded to nearest even");
    fprintf(f, "  %-10s %s\n", "f16", "IEEE half, f32 rounded to nearest even (refused past 65504)");
    fprintf(f, "  %-10s %s\n", "q8_0",
            "GGUF Q8_0: blocks of 32 int8 + one f16 scale; matmuls quantize the activations per block too");
    fprintf(f, "sampler (a chain; see lumi generate --help and the README):\n");
    fprintf(f, "  default order penalties, top_k, typical, top_p, min_p, temperature, draw (or mirostat)\n");
    fprintf(f, "  settings     %s\n", lumi_sampler_keys());
}
