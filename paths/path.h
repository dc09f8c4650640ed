/* path.h: a path is one choice per axis (backend, cache, prefill, weights), written
 * "backend=ref,cache=fixed,prefill=chunked:8" on the command line and as a
 * mapping in YAML (chat adds a turns axis: ",turns=keep"). Unknown axes and values are errors that list the valid
 * choices. */
#ifndef LUMI_PATH_H
#define LUMI_PATH_H
#include <stddef.h>
#include "../engine/util.h"

typedef struct {
    char backend[32];
    char cache[32];
    char prefill[32]; /* strategy name without its argument */
    int chunk;        /* chunked:N */
    int threads;      /* backend threads, 0 = all cores */
    char turns[16];   /* chat: keep | rebuild (paths/turns); "" = not chosen, printed only when set */
    int has_device;   /* device=N given (device backends: opencl, cuda, cublas) */
    int device;
    char weights[8];  /* dtype of the matrices: "" (= "file", each tensor as
                       * stored), "f32", "bf16", "f16", "q8_0" (engine/weights.h) */
    int allow_swap;   /* not an axis: run weights larger than memory anyway */
} LumiPathSpec;

void lumi_path_default(LumiPathSpec *p); /* backend=ref,cache=fixed,prefill=batched */
/* Parse a comma-separated axis=value list on top of the defaults in *p. */
int lumi_path_parse(const char *s, LumiPathSpec *p, LumiErr *e);
/* Set one axis; value is checked against the registry. */
int lumi_path_set(LumiPathSpec *p, const char *axis, const char *value, LumiErr *e);
/* Canonical string, e.g. "backend=ref,cache=fixed,prefill=chunked:8". */
void lumi_path_format(const LumiPathSpec *p, char *buf, size_t n);

/* Registry lookups (paths/registry.c): NULL if no strategy has that name. */
struct LumiBackendOps;
const struct LumiBackendOps *lumi_backend_find(const char *name);

/* Registry listing, for error messages and `lumi paths`. */
void lumi_registry_names(const char *axis, char *buf, size_t n);
void lumi_registry_print(FILE *f);

#endif
