/* cpu_threads.h: a persistent pool of worker threads for one backend
 * context. lumi_pool_run(p, fn, arg) calls fn(arg, i, n) on every thread
 * i in [0, n) (the caller is thread 0) and returns when all are done. The
 * split of work is the callee's business; the cpu backend gives each thread
 * whole output elements, so results do not depend on n. */
#ifndef LUMI_CPU_THREADS_H
#define LUMI_CPU_THREADS_H

typedef void (*LumiPoolFn)(void *arg, int tid, int nthreads);
typedef struct LumiPool LumiPool;

/* n <= 0: one thread per online CPU this process may run on. */
LumiPool *lumi_pool_new(int n);
void lumi_pool_free(LumiPool *p);
int lumi_pool_size(const LumiPool *p);
void lumi_pool_run(LumiPool *p, LumiPoolFn fn, void *arg);
/* The CPU worker i (1..n-1) was first seen on, -1 before it ran. A pool
 * that uses every CPU the process may run on starts each worker on its own
 * CPU other than the creating thread's (see cpu_threads.c). */
int lumi_pool_started_on(const LumiPool *p, int i);
/* CPUs this process may run on. */
int lumi_cpu_count(void);

#endif
