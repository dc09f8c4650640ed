/* none.c: no KV cache. Nothing survives a forward call; the session feeds
 * the whole sequence again each time, so the cost of a token grows with the
 * context. The buffer here is only the scratch one pass needs. */
#include "cache.h"

static int none_init(LumiCache *c, LumiErr *e) {
    (void)e;
    c->capacity = 0;
    return 0;
}

static int none_reserve(LumiCache *c, int n, LumiErr *e) {
    if (n > c->max_positions) return lumi_err(e, "cache none: %d positions exceed the context %d", n, c->max_positions);
    if (n > c->capacity) { /* contents are dead: keep nothing; double so replays rarely allocate */
        int cap = c->capacity ? 2 * c->capacity : 16;
        if (cap < n) cap = n;
        if (cap > c->max_positions) cap = c->max_positions;
        return lumi_cache_resize(c, cap, 0, e);
    }
    return 0;
}

const LumiCacheOps lumi_cache_none = {
    .name = "none",
    .doc = "no cache: recompute the whole sequence for every new token",
    .persistent = 0,
    .init = none_init,
    .reserve = none_reserve,
    .free = lumi_cache_release,
};
