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

struct LumiBwProbe {
    LumiPool *pool;
    MachJob j;
};

LumiBwProbe *lumi_bw_probe_new(int threads, size_t bytes) {
    LumiBwProbe *p = lumi_xcalloc(1, sizeof *p);
    p->pool = lumi_pool_new(threads);
    p->j.k = lumi_cpu_kernels(NULL);
    p->j.n = bytes / sizeof(float) / 64 * 64;
    /* on huge pages, as the weights are where the kernel allows it: the
     * bandwidth a path is judged against is what the same pages give */
    p->j.buf = lumi_huge_alloc(p->j.n * sizeof(float));
    if (!p->j.buf) p->j.buf = lumi_aligned_alloc(p->j.n * sizeof(float)); /* exits when out of memory */
    lumi_pool_run(p->pool, touch_part, &p->j); /* fault the pages in on their readers */
    return p;
}

double lumi_bw_probe(LumiBwProbe *p, int tries) {
    double best = 0;
    for (int rep = 0; rep < tries; rep++) {
        double t0 = lumi_now();
        lumi_pool_run(p->pool, read_part, &p->j);
        double gbs = (double)(p->j.n * sizeof(float)) / (lumi_now() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    return best;
}

int lumi_bw_probe_threads(const LumiBwProbe *p) { return lumi_pool_size(p->pool); }

void lumi_bw_probe_free(LumiBwProbe *p) {
    if (!p) return;
    free(p->j.buf);
    lumi_pool_free(p->pool);
    free(p);
}

void lumi_bench_machine(LumiMachine *m, int threads) {
    memset(m, 0, sizeof *m);
    LumiBwProbe *bw = lumi_bw_probe_new(threads, BUF_BYTES);
    MachJob j = {.k = bw->j.k};
    m->threads = lumi_bw_probe_threads(bw);
    snprintf(m->isa, sizeof m->isa, "%s", j.k->name);
    m->buffer_bytes = BUF_BYTES;
    m->read_gbs = lumi_bw_probe(bw, 5);
    j.iters = 2000000;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = lumi_now();
        lumi_pool_run(bw->pool, fma_part, &j);
        double dt = lumi_now() - t0, total = 0;
        for (int i = 0; i < m->threads && i < 64; i++) total += j.flops[i];
        if (total / dt / 1e9 > m->fma_gflops) m->fma_gflops = total / dt / 1e9;
    }
    m->read_gbs_min = m->read_gbs;
    m->fma_gflops_min = m->fma_gflops;
    m->samples = 1;
    lumi_bw_probe_free(bw);
}
