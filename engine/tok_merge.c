/* tok_merge.c: BPE merging in O(n log n). The symbols form a linked list
 * over an array (a merged symbol keeps its left node's slot, so slot order
 * is text order); every adjacent pair that can merge sits in a min-heap
 * keyed by (priority, left slot). A popped candidate whose nodes changed
 * since it was pushed is stale and skipped. This gives exactly the result
 * of repeatedly merging the best (then leftmost) adjacent pair, which is
 * both sentencepiece's BPE (highest score) and GPT-2/tiktoken's (lowest
 * rank), without rescanning the whole sequence after every merge. */
#include <stdlib.h>

#include "tok_internal.h"

typedef struct {
    double prio;
    int left, a, b, merged;
} Cand;

typedef struct {
    Cand *c;
    size_t n, cap;
} Heap;

static int before(const Cand *x, const Cand *y) {
    return x->prio < y->prio || (x->prio == y->prio && x->left < y->left);
}

static void heap_push(Heap *h, Cand c) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->c = lumi_xrealloc(h->c, h->cap * sizeof(Cand));
    }
    size_t i = h->n++;
    while (i > 0 && before(&c, &h->c[(i - 1) / 2])) {
        h->c[i] = h->c[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->c[i] = c;
}

static Cand heap_pop(Heap *h) {
    Cand top = h->c[0], last = h->c[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const Cand *best = &last;
        if (l < h->n && before(&h->c[l], best)) m = l, best = &h->c[l];
        if (l + 1 < h->n && before(&h->c[l + 1], best)) m = l + 1;
        if (m == i) break;
        h->c[i] = h->c[m];
        i = m;
    }
    if (h->n) h->c[i] = last;
    return top;
}

static void try_pair(const LumiTokenizer *t, LumiTokPairFn fn, Heap *h, const int *id, int left, int right) {
    if (left < 0 || right < 0) return;
    Cand c = {0, left, id[left], id[right], -1};
    if (fn(t, c.a, c.b, &c.merged, &c.prio)) heap_push(h, c);
}

int lumi_tok_merge(const LumiTokenizer *t, int *ids, int n, LumiTokPairFn fn) {
    if (n < 2) return n;
    int *id = lumi_xmalloc((size_t)n * 3 * sizeof(int));
    int *prev = id + n, *next = id + 2 * n;
    for (int i = 0; i < n; i++) {
        id[i] = ids[i];
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    Heap h = {0};
    for (int i = 0; i + 1 < n; i++) try_pair(t, fn, &h, id, i, i + 1);
    while (h.n) {
        Cand c = heap_pop(&h);
        int r = next[c.left];
        if (id[c.left] != c.a || r < 0 || id[r] != c.b) continue; /* stale */
        id[c.left] = c.merged;
        id[r] = -1;
        next[c.left] = next[r];
        if (next[r] >= 0) prev[next[r]] = c.left;
        try_pair(t, fn, &h, id, prev[c.left], c.left);
        try_pair(t, fn, &h, id, c.left, next[c.left]);
    }
    int k = 0;
    for (int i = 0; i >= 0; i = next[i]) ids[k++] = id[i];
    free(h.c);
    free(id);
    return k;
}
