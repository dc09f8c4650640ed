/* host.c: see host.h. */
#include "host.h"

#include <stdlib.h>
#include <string.h>

LumiBuf *lumi_host_alloc(void *ctx, size_t n, LumiErr *e) {
    (void)ctx;
    size_t bytes;
    void *p = NULL;
    if (lumi_mul_size(n ? n : 1, sizeof(float), &bytes) != 0 || posix_memalign(&p, 64, bytes) != 0) {
        lumi_err(e, "out of memory allocating %zu floats (%.1f MiB)", n, (double)n * 4 / (1 << 20));
        return NULL;
    }
    return p;
}

void lumi_host_release(void *ctx, LumiBuf *b) {
    (void)ctx;
    free(b);
}

int lumi_host_to_host(void *ctx, float *dst, LumiRef src, size_t n, LumiErr *e) {
    (void)ctx, (void)e;
    memcpy(dst, lumi_host(src), n * sizeof(float));
    return 0;
}

void lumi_host_copy(void *ctx, LumiRef dst, LumiRef src, size_t n) {
    (void)ctx;
    memcpy(lumi_host(dst), lumi_host(src), n * sizeof(float));
}
