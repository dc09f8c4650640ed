/* common.c: allocation shared by the cache strategies. */
#include <stdlib.h>

#include "cache.h"

void lumi_cache_resize(LumiCache *c, int cap, int keep) {
    if (!c->k) {
        c->k = lumi_xcalloc((size_t)c->n_layers, sizeof(float *));
        c->v = lumi_xcalloc((size_t)c->n_layers, sizeof(float *));
    }
    size_t n = (size_t)cap * (size_t)c->kv_dim;
    for (int l = 0; l < c->n_layers; l++) {
        float *k = c->be->alloc(c->bectx, n), *v = c->be->alloc(c->bectx, n);
        if (c->k[l] && keep > 0) {
            c->be->copy(c->bectx, k, c->k[l], (size_t)keep * c->kv_dim);
            c->be->copy(c->bectx, v, c->v[l], (size_t)keep * c->kv_dim);
        }
        if (c->k[l]) c->be->release(c->bectx, c->k[l]);
        if (c->v[l]) c->be->release(c->bectx, c->v[l]);
        c->k[l] = k;
        c->v[l] = v;
    }
    c->capacity = cap;
    c->bytes = 2 * n * sizeof(float) * (size_t)c->n_layers;
}

void lumi_cache_release(LumiCache *c) {
    if (c->k)
        for (int l = 0; l < c->n_layers; l++) {
            if (c->k[l]) c->be->release(c->bectx, c->k[l]);
            if (c->v[l]) c->be->release(c->bectx, c->v[l]);
        }
    free(c->k);
    free(c->v);
    c->k = c->v = NULL;
    c->capacity = 0;
    c->bytes = 0;
}
