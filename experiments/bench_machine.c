/* bench_machine.c: what the hardware allows, measured the way the cpu
 * backend uses it: every thread streams its slice of a buffer far larger
 * than the last-level cache (read bandwidth), or runs independent FMA chains
 * in registers (compute peak). Best of a few tries, as noise only slows. */
#include <stdlib.h>
#include <string.h>

#include "../paths/backend/cpu_kernels.h"
#include "../paths/backend/cpu_threads.h"
#include "bench.h"

/* 512 MiB: 16x the 32 MiB L3 of the machine this was written on. */
#define BUF_BYTES ((size_t)512 << 20)

typedef struct {
    const LumiCpuKernels *k;
    float *buf;
    size_t n;
    long iters;
    double sink[64];
    double flops[64];
} MachJob;

static void touch_part(void *arg, int tid, int nt) {
    MachJob *j = arg;
    size_t a = j->n * tid / nt, b = j->n * (tid + 1) / nt;
    for (size_t i = a; i < b; i++) j->buf[i] = (float)(i & 7);
}

static void read_part(void *arg, int tid, int nt) {
    MachJob *j = arg;
    size_t a = (j->n * tid / nt) & ~(size_t)63, b = tid + 1 == nt ? j->n : (j->n * (tid + 1) / nt) & ~(size_t)63;
    j->sink[tid % 64] += j->k->read_sum(j->buf + a, b - a);
}

static void fma_part(void *arg, int tid, int nt) {
    (void)nt;
    MachJob *j = arg;
    double f;
    j->sink[tid % 64] += j->k->fma_burn(j->iters, &f);
    j->flops[tid % 64] = f;
}

void lumi_bench_machine(LumiMachine *m, int threads) {
    memset(m, 0, sizeof *m);
    LumiPool *pool = lumi_pool_new(threads);
    int nt = lumi_pool_size(pool);
    MachJob j = {.k = lumi_cpu_kernels(NULL)};
    m->threads = nt;
    snprintf(m->isa, sizeof m->isa, "%s", j.k->name);
    m->buffer_bytes = BUF_BYTES;
    j.buf = lumi_aligned_alloc(BUF_BYTES);
    j.n = BUF_BYTES / sizeof(float);
    lumi_pool_run(pool, touch_part, &j); /* fault the pages in on their readers */
    for (int rep = 0; rep < 5; rep++) {
        double t0 = lumi_now();
        lumi_pool_run(pool, read_part, &j);
        double gbs = (double)BUF_BYTES / (lumi_now() - t0) / 1e9;
        if (gbs > m->read_gbs) m->read_gbs = gbs;
    }
    free(j.buf);
    j.iters = 2000000;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = lumi_now();
        lumi_pool_run(pool, fma_part, &j);
        double dt = lumi_now() - t0, total = 0;
        for (int i = 0; i < nt && i < 64; i++) total += j.flops[i];
        if (total / dt / 1e9 > m->fma_gflops) m->fma_gflops = total / dt / 1e9;
    }
    m->read_gbs_min = m->read_gbs;
    m->fma_gflops_min = m->fma_gflops;
    m->samples = 1;
    lumi_pool_free(pool);
}
