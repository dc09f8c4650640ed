/* cache.h: the KV-cache strategy interface. A cache holds, per layer, the
 * keys and values of positions [0, capacity) as rows of kv_dim floats in
 * backend buffers. The session asks reserve(n) before a forward pass writes
 * positions up to n; the strategy decides how memory is obtained:
 *   none    - keeps nothing between calls: the session replays the whole
 *             history through the model every call (persistent = 0)
 *   growing - starts small and doubles by reallocation as tokens arrive
 *   fixed   - allocates seq_len positions once, written in place */
#ifndef LUMI_CACHE_H
#define LUMI_CACHE_H
#include "../../engine/backend.h"

typedef struct LumiCache LumiCache;

typedef struct LumiCacheOps {
    const char *name;
    const char *doc;
    int persistent; /* 0: contents are not kept between forward calls */
    int (*init)(LumiCache *c, LumiErr *e);
    int (*reserve)(LumiCache *c, int n_positions, LumiErr *e);
    void (*free)(LumiCache *c);
} LumiCacheOps;

struct LumiCache {
    const LumiCacheOps *ops;
    const LumiBackendOps *be;
    void *bectx;
    int n_layers, kv_dim, max_positions;
    int capacity;  /* positions currently allocated */
    LumiRef *k, *v; /* [n_layers] -> [capacity, kv_dim], each a whole buffer */
    size_t bytes;  /* current footprint, for reports */
};

/* Shared helpers for strategies: (re)allocate every layer to `cap`
 * positions, keeping the first `keep` positions. On failure the cache is
 * left empty (capacity 0) with the message in e. */
int lumi_cache_resize(LumiCache *c, int cap, int keep, LumiErr *e);
void lumi_cache_release(LumiCache *c);

const LumiCacheOps *lumi_cache_find(const char *name);

#endif
