/* cpu_threads.c: see cpu_threads.h. A decode step dispatches ~10 jobs per
 * layer, tens of microseconds each, so waking workers through a condition
 * variable every time would cost a visible share of the token. Workers spin
 * on a generation counter for a short while after each job and only then
 * sleep; the caller works as thread 0 and spins for the others to finish. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "cpu_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../engine/util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before sleeping: long enough to bridge the
 * gap between the kernels of one forward pass, short enough not to burn a
 * shared machine's cores between requests. */
#define SPIN_SECONDS 2e-4
/* Spins between sched_yield() calls (a power of two minus one). */
#define YIELD_EVERY 255

struct LumiPool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;     /* bumped once per job */
    atomic_int pending;  /* workers still running the current job */
    atomic_int quit;
    atomic_int sleepers; /* workers blocked on cv: only then is a wake-up needed */
    cpu_set_t own;           /* the CPUs this process may run on, at creation */
    atomic_int *started_on;  /* [n]: the CPU each worker started on (lumi_pool_started_on) */
    LumiPoolFn fn;
    void *arg;
};

typedef struct {
    LumiPool *p;
    int id;
    int widen; /* started on a chosen CPU: open the process's mask again */
} Worker;

int lumi_cpu_count(void) {
    /* A Slurm task may see every core of its node: it owns only the CPUs it asked for. */
    const char *slurm = getenv("SLURM_CPUS_PER_TASK");
    int own = slurm ? atoi(slurm) : 0;
    if (own > 0 && own <= 4096) return own;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static unsigned wait_job(LumiPool *p, unsigned seen) {
    double t0 = 0;
    for (unsigned spins = 0;; spins++) {
        unsigned g = atomic_load(&p->gen);
        if (g != seen) return g;
        CPU_RELAX();
        /* Yield now and then: when the machine has fewer free cores than we
         * have threads, the thread we wait for may need this core. */
        if ((spins & YIELD_EVERY) == YIELD_EVERY) sched_yield();
        if ((spins & 1023) == 1023) {
            double now = lumi_now();
            if (t0 == 0) t0 = now;
            else if (now - t0 > SPIN_SECONDS) break;
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    while (atomic_load(&p->gen) == seen) pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    unsigned g = atomic_load(&p->gen);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    LumiPool *p = w->p;
    int id = w->id;
    atomic_store(&p->started_on[id], sched_getcpu());
    if (w->widen) pthread_setaffinity_np(pthread_self(), sizeof p->own, &p->own);
    free(w);
    unsigned seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load(&p->quit)) return NULL;
        p->fn(p->arg, id, p->n);
        atomic_fetch_sub(&p->pending, 1);
    }
}

/* The CPU worker i (1..) starts on when the pool uses every CPU this
 * process may run on: the i-th of them other than the caller's; -1 to let
 * the scheduler choose. A new thread may start on its creator's CPU, and
 * the scheduler keeps two spinning threads there (each counts as cache-hot)
 * for ~100 ms: measured, one run in two began with the worker on the
 * caller's CPU, each job of that time waiting 10-20 us for it. The worker
 * then widens its mask again (worker_main): only its start is placed, so
 * pools that live side by side (a probe beside a session) are not bound to
 * share one CPU. */
static int start_cpu(const cpu_set_t *own, int n, int here, int i) {
    if (n < 2 || CPU_COUNT(own) != n || here < 0 || !CPU_ISSET(here, own)) return -1;
    for (int c = 0, k = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, own) && c != here && ++k == i) return c;
    return -1;
}

LumiPool *lumi_pool_new(int n) {
    if (n <= 0) n = lumi_cpu_count();
    LumiPool *p = lumi_xcalloc(1, sizeof *p);
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->th = lumi_xcalloc((size_t)n, sizeof(pthread_t));
    p->started_on = lumi_xcalloc((size_t)n, sizeof *p->started_on);
    int own_ok = sched_getaffinity(0, sizeof p->own, &p->own) == 0, here = sched_getcpu();
    for (int i = 1; i < n; i++) {
        Worker *w = lumi_xmalloc(sizeof *w);
        *w = (Worker){p, i, 0};
        atomic_store(&p->started_on[i], -1);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        int c = own_ok ? start_cpu(&p->own, n, here, i) : -1;
        if (c >= 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            pthread_attr_setaffinity_np(&attr, sizeof one, &one);
        }
        w->widen = c >= 0;
        int rc = pthread_create(&p->th[i], &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (rc != 0 && c >= 0) { /* the placement is a hint: refused, the worker starts anywhere */
            w->widen = 0;
            rc = pthread_create(&p->th[i], NULL, worker_main, w);
        }
        if (rc != 0) {
            /* run with the threads we got: the work split adapts to n */
            free(w);
            p->n = i;
            break;
        }
    }
    return p;
}

int lumi_pool_started_on(const LumiPool *p, int i) { return i > 0 && i < p->n ? atomic_load(&p->started_on[i]) : -1; }

/* A worker increments sleepers under the mutex before it re-checks gen and
 * waits, so either it sees the new gen, or we see it sleeping (both are
 * sequentially consistent atomics) and wake it under the mutex. */
static void publish(LumiPool *p) {
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) == 0) return;
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void lumi_pool_run(LumiPool *p, LumiPoolFn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    publish(p);
    fn(arg, 0, p->n);
    for (unsigned spins = 0; atomic_load(&p->pending) > 0; spins++) {
        CPU_RELAX();
        if ((spins & YIELD_EVERY) == YIELD_EVERY) sched_yield(); /* a worker may have been descheduled */
    }
}

int lumi_pool_size(const LumiPool *p) { return p->n; }

void lumi_pool_free(LumiPool *p) {
    if (!p) return;
    atomic_store(&p->quit, 1);
    publish(p);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->started_on);
    free(p->th);
    free(p);
}
