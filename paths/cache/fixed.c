/* fixed.c: one allocation of the full context at start, written in place. */
#include "cache.h"

static int fixed_init(LumiCache *c, LumiErr *e) {
    return lumi_cache_resize(c, c->max_positions, 0, e);
}

static int fixed_reserve(LumiCache *c, int n, LumiErr *e) {
    if (n > c->capacity) return lumi_err(e, "cache fixed: %d positions exceed the context %d", n, c->capacity);
    return 0;
}

const LumiCacheOps lumi_cache_fixed = {
    .name = "fixed",
    .doc = "preallocated for the whole context, written in place",
    .persistent = 1,
    .init = fixed_init,
    .reserve = fixed_reserve,
    .free = lumi_cache_release,
};
