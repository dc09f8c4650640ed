/* cand.c: the candidate list: partial selection, softmax, truncation.
 * Why partial selection: a 32000-token vocabulary sorted every step costs
 * more than the whole sampler otherwise does; top-k needs only the best k
 * and top-p usually only a few hundred. Quickselect (median of three, Hoare
 * partition) puts the best m first in O(n), then only those m are sorted.
 * For m much smaller than n a bounded heap replaces the quickselect.
 * The comparison is a total order (ties broken by id), so the result is the
 * same whatever the algorithm: no sort's instability can leak in. */
#include <math.h>

#include "stage.h"

static inline int better_logit(const LumiCand *a, const LumiCand *b) { return lumi_cand_better(a, b); }
static inline int better_aux(const LumiCand *a, const LumiCand *b) {
    return a->aux < b->aux || (a->aux == b->aux && a->id < b->id);
}

static void swap(LumiCand *a, LumiCand *b) {
    LumiCand t = *a;
    *a = *b;
    *b = t;
}

/* Rearrange c[0..n) so that c[0..m) are the best m (in any order).
 * Generated twice so the comparison inlines (a call per comparison
 * doubled the cost on a 32000-token vocabulary). */
#define DEFINE_SELECT(fn, better)                                          \
    static void fn(LumiCand *c, int n, int m) {                            \
        if (m <= 0 || m >= n) return;                                      \
        int k = m - 1, lo = 0, hi = n - 1;                                 \
        while (lo < hi) {                                                  \
            int mid = lo + (hi - lo) / 2;                                  \
            if (better(&c[mid], &c[lo])) swap(&c[mid], &c[lo]);            \
            if (better(&c[hi], &c[lo])) swap(&c[hi], &c[lo]);              \
            if (better(&c[hi], &c[mid])) swap(&c[hi], &c[mid]);            \
            LumiCand pivot = c[mid];                                       \
            int i = lo, j = hi;                                            \
            while (i <= j) {                                               \
                while (better(&c[i], &pivot)) i++;                         \
                while (better(&pivot, &c[j])) j--;                         \
                if (i <= j) swap(&c[i++], &c[j--]);                        \
            }                                                              \
            if (k <= j) hi = j;                                            \
            else if (k >= i) lo = i;                                       \
            else break;                                                    \
        }                                                                  \
    }
DEFINE_SELECT(quickselect_logit, better_logit)
DEFINE_SELECT(quickselect_aux, better_aux)

/* For a small m, a heap of the m best seen so far (root = the worst of
 * them) is faster still: most candidates lose one well-predicted comparison
 * with the root and are never moved. */
#define DEFINE_HEAPSELECT(fn, better)                                      \
    static void fn##_sift(LumiCand *h, int m, int i) {                     \
        for (;;) {                                                         \
            int w = i, l = 2 * i + 1, r = l + 1;                           \
            if (l < m && better(&h[w], &h[l])) w = l;                      \
            if (r < m && better(&h[w], &h[r])) w = r;                      \
            if (w == i) return;                                            \
            swap(&h[i], &h[w]);                                            \
            i = w;                                                         \
        }                                                                  \
    }                                                                      \
    static void fn(LumiCand *c, int n, int m) {                            \
        if (m <= 0 || m >= n) return;                                      \
        for (int i = m / 2 - 1; i >= 0; i--) fn##_sift(c, m, i);           \
        for (int j = m; j < n; j++)                                        \
            if (better(&c[j], &c[0])) {                                    \
                swap(&c[j], &c[0]);                                        \
                fn##_sift(c, m, 0);                                        \
            }                                                              \
    }                                                                      \
    /* heapsort, best first: no allocation (glibc 2.36's qsort mallocs    \
     * above 1 KiB, and the sampler must not allocate per step) */         \
    static void fn##_sort(LumiCand *c, int m) {                            \
        for (int i = m / 2 - 1; i >= 0; i--) fn##_sift(c, m, i);           \
        for (int end = m - 1; end > 0; end--) {                            \
            swap(&c[0], &c[end]); /* the worst left goes last */           \
            fn##_sift(c, end, 0);                                          \
        }                                                                  \
    }
DEFINE_HEAPSELECT(heapselect_logit, better_logit)
DEFINE_HEAPSELECT(heapselect_aux, better_aux)

static void select_best_logit(LumiCand *c, int n, int m) {
    if (m * 16 < n) heapselect_logit(c, n, m);
    else quickselect_logit(c, n, m);
}

static void select_best_aux(LumiCand *c, int n, int m) {
    if (m * 16 < n) heapselect_aux(c, n, m);
    else quickselect_aux(c, n, m);
}

void lumi_cand_sort_prefix(LumiSampler *s, int m) {
    if (m > s->n) m = s->n;
    if (m <= s->sorted) return;
    LumiCand *tail = s->cand + s->sorted;
    select_best_logit(tail, s->n - s->sorted, m - s->sorted);
    heapselect_logit_sort(tail, m - s->sorted);
    s->sorted = m;
}

void lumi_cand_sort_prefix_aux(LumiCand *c, int n, int m) {
    if (m > n) m = n;
    select_best_aux(c, n, m);
    heapselect_aux_sort(c, m);
}

float lumi_cand_max(const LumiSampler *s) {
    if (s->sorted > 0) return s->cand[0].logit;
    float mx = -INFINITY;
    for (int i = 0; i < s->n; i++)
        if (s->cand[i].logit > mx) mx = s->cand[i].logit;
    return mx;
}

double lumi_cand_softmax(LumiSampler *s) {
    float mx = lumi_cand_max(s);
    double z = 0;
    if (mx == -INFINITY) { /* nothing possible: uniform, so callers stay finite */
        for (int i = 0; i < s->n; i++) s->cand[i].p = 1.0f / (float)s->n;
        return log((double)s->n);
    }
    for (int i = 0; i < s->n; i++) {
        float w = expf(s->cand[i].logit - mx);
        s->cand[i].p = w;
        z += w;
    }
    for (int i = 0; i < s->n; i++) s->cand[i].p = (float)(s->cand[i].p / z);
    return log(z);
}

void lumi_cand_truncate(LumiSampler *s, int k) {
    if (k < 1) k = 1; /* a stage never empties the list */
    if (k < s->n) s->n = k;
    if (s->sorted > s->n) s->sorted = s->n;
}
