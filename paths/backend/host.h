/* host.h: memory of the backends that run on the host (ref, cpu, blas): a
 * LumiBuf is a 64-byte aligned float array, so lumi_host() is the pointer. */
#ifndef LUMI_HOST_H
#define LUMI_HOST_H
#include "../../engine/backend.h"

LumiBuf *lumi_host_alloc(void *ctx, size_t n_floats, LumiErr *e);
void lumi_host_release(void *ctx, LumiBuf *b);
int lumi_host_to_host(void *ctx, float *dst, LumiRef src, size_t n, LumiErr *e);
void lumi_host_copy(void *ctx, LumiRef dst, LumiRef src, size_t n);

#endif
