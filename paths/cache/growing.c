/* growing.c: a cache that starts at 16 positions and doubles by reallocation
 * (allocate, copy, release) when a forward call needs more. Doubling keeps
 * the copies amortized O(1) per token. */
#include "cache.h"

static int growing_init(LumiCache *c, LumiErr *e) {
    return lumi_cache_resize(c, c->max_positions < 16 ? c->max_positions : 16, 0, e);
}

static int growing_reserve(LumiCache *c, int n, LumiErr *e) {
    if (n > c->max_positions)
        return lumi_err(e, "cache growing: %d positions exceed the context %d", n, c->max_positions);
    if (n <= c->capacity) return 0;
    int cap = c->capacity;
    while (cap < n) cap *= 2;
    if (cap > c->max_positions) cap = c->max_positions;
    return lumi_cache_resize(c, cap, c->capacity, e);
}

const LumiCacheOps lumi_cache_growing = {
    .name = "growing",
    .doc = "starts at 16 positions, doubles by reallocate-and-copy",
    .persistent = 1,
    .init = growing_init,
    .reserve = growing_reserve,
    .free = lumi_cache_release,
};
