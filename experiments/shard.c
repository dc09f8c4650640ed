/* shard.c: see shard.h. */
#include "shard.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "results.h"

void lumi_cases_add(LumiCaseList *l, double cost, const char *fmt, ...) {
    l->v = lumi_xrealloc(l->v, sizeof *l->v * (size_t)(l->n + 1));
    LumiCase *c = &l->v[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->key, sizeof c->key, fmt, ap);
    va_end(ap);
    c->cost = cost;
}

void lumi_cases_free(LumiCaseList *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

double lumi_case_cost(int positions, const char *cache) {
    double n = positions > 0 ? positions : 1;
    return cache && !strcmp(cache, "none") ? n * (n + 1) / 2 : n;
}

int lumi_shard_parse(const char *s, int *index, int *count, LumiErr *e) {
    char *end;
    long i = strtol(s, &end, 10);
    if (end == s || *end != '/') return lumi_err(e, "--shard %s: expected I/N, e.g. 3/8", s);
    const char *t = end + 1;
    long n = strtol(t, &end, 10);
    if (end == t || *end) return lumi_err(e, "--shard %s: expected I/N, e.g. 3/8", s);
    if (n < 1 || n > 100000 || i < 1 || i > n) return lumi_err(e, "--shard %s: need 1 <= I <= N <= 100000", s);
    *index = (int)i;
    *count = (int)n;
    return 0;
}

typedef struct {
    double cost;
    int i;
} Ranked;

static int by_cost(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* The shards as a binary min-heap on (load, index): the least loaded
 * shard, ties to the lowest index, in O(log N) per case. */
typedef struct {
    double load;
    int shard;
} Bin;

static int bin_less(const Bin *a, const Bin *b) { return a->load < b->load || (a->load == b->load && a->shard < b->shard); }

static void sift_down(Bin *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && bin_less(&h[l], &h[m])) m = l;
        if (r < n && bin_less(&h[r], &h[m])) m = r;
        if (m == i) return;
        Bin t = h[i];
        h[i] = h[m], h[m] = t;
        i = m;
    }
}

void lumi_shard_plan(LumiShardPlan *p, const LumiCaseList *cases, int index, int count) {
    memset(p, 0, sizeof *p);
    p->index = index;
    p->count = count;
    p->n = cases->n;
    if (count <= 0) return;
    p->owner = lumi_xcalloc((size_t)(cases->n ? cases->n : 1), sizeof(int));
    Ranked *order = lumi_xmalloc(sizeof *order * (size_t)(cases->n ? cases->n : 1));
    Bin *heap = lumi_xmalloc(sizeof *heap * (size_t)count);
    for (int i = 0; i < cases->n; i++) order[i] = (Ranked){cases->v[i].cost, i};
    qsort(order, (size_t)cases->n, sizeof *order, by_cost);
    for (int s = 0; s < count; s++) heap[s] = (Bin){0, s}; /* all zero, in index order: a valid heap */
    for (int j = 0; j < cases->n; j++) {
        p->owner[order[j].i] = heap[0].shard + 1;
        heap[0].load += order[j].cost;
        sift_down(heap, count, 0);
    }
    free(order);
    free(heap);
}

int lumi_shard_take(const LumiShardPlan *p, int i) {
    if (p->count <= 0) return 1;
    return i >= 0 && i < p->n && p->owner[i] == p->index;
}

int lumi_shard_size(const LumiShardPlan *p) {
    int k = 0;
    for (int i = 0; i < p->n; i++) k += lumi_shard_take(p, i);
    return k;
}

void lumi_shard_free(LumiShardPlan *p) {
    free(p->owner);
    memset(p, 0, sizeof *p);
}

int lumi_shard_of_run(const char *dir, int *index, int *count, LumiErr *e) {
    *index = *count = 0;
    char path[600];
    snprintf(path, sizeof path, "%s/run.json", dir);
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* killed before its first write: not known to be a shard */
    LumiYamlDoc d;
    if (lumi_yaml_load(path, &d, e) != 0) return -1;
    const LumiYamlNode *s = d.root ? lumi_yaml_get(d.root, "shard") : NULL;
    int rc = 0;
    if (s && s->type == LUMI_Y_MAP) {
        double i = lumi_case_num(s, "index", 0), n = lumi_case_num(s, "count", 0);
        if (!(n >= 1 && n <= 100000 && i >= 1 && i <= n)) rc = lumi_err(e, "%s: shard: index/count out of range", path);
        else *index = (int)i, *count = (int)n;
    }
    lumi_yaml_free(&d);
    return rc;
}
