/* common.c: allocation shared by the cache strategies. */
#include <stdlib.h>

#include "cache.h"

int lumi_cache_resize(LumiCache *c, int cap, int keep, LumiErr *e) {
    if (!c->k) {
        c->k = lumi_xcalloc((size_t)c->n_layers, sizeof *c->k);
        c->v = lumi_xcalloc((size_t)c->n_layers, sizeof *c->v);
    }
    size_t n = (size_t)cap * (size_t)c->kv_dim;
    for (int l = 0; l < c->n_layers; l++) {
        LumiBuf *k = c->be->alloc(c->bectx, n, e), *v = k ? c->be->alloc(c->bectx, n, e) : NULL;
        if (!v) {
            if (k) c->be->release(c->bectx, k);
            lumi_cache_release(c);
            return -1;
        }
        if (c->k[l].buf && keep > 0) {
            c->be->copy(c->bectx, lumi_ref(k), c->k[l], (size_t)keep * c->kv_dim);
            c->be->copy(c->bectx, lumi_ref(v), c->v[l], (size_t)keep * c->kv_dim);
        }
        if (c->k[l].buf) c->be->release(c->bectx, c->k[l].buf);
        if (c->v[l].buf) c->be->release(c->bectx, c->v[l].buf);
        c->k[l] = lumi_ref(k);
        c->v[l] = lumi_ref(v);
    }
    c->capacity = cap;
    c->bytes = 2 * n * sizeof(float) * (size_t)c->n_layers;
    return 0;
}

void lumi_cache_release(LumiCache *c) {
    if (c->k)
        for (int l = 0; l < c->n_layers; l++) {
            if (c->k[l].buf) c->be->release(c->bectx, c->k[l].buf);
            if (c->v[l].buf) c->be->release(c->bectx, c->v[l].buf);
        }
    free(c->k);
    free(c->v);
    c->k = c->v = NULL;
    c->capacity = 0;
    c->bytes = 0;
}
