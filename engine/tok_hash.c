/* tok_hash.c: the vocabulary arrays, the piece -> id index and the BPE
 * pair table. Open addressing with power-of-two tables at most half full:
 * lookups are O(1), which is what keeps encoding O(n log n). */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct LumiTokHash {
    int32_t *slot; /* id, or -1 empty */
    uint32_t *tag; /* high hash bits of the slot's piece: most misses skip the memcmp */
    size_t mask;
};

struct LumiTokPairs {
    uint64_t *key; /* (a << 32) | b, or UINT64_MAX empty */
    int32_t *rank, *merged;
    size_t mask, n;
};

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static size_t table_size(size_t n) {
    size_t c = 16;
    while (c < 2 * n) c <<= 1;
    return c;
}

void lumi_tok_alloc(LumiTokenizer *t, int n) {
    t->vocab_size = n;
    t->vocab = lumi_xcalloc((size_t)n, sizeof(char *));
    t->len = lumi_xcalloc((size_t)n, sizeof(int));
    t->scores = lumi_xcalloc((size_t)n, sizeof(float));
    t->type = lumi_xcalloc((size_t)n, 1);
}

void lumi_tok_set(LumiTokenizer *t, int i, const char *s, size_t n) {
    free(t->vocab[i]);
    t->vocab[i] = lumi_xmalloc(n + 1);
    memcpy(t->vocab[i], s, n);
    t->vocab[i][n] = 0;
    t->len[i] = (int)n;
    t->type[i] = LUMI_PIECE_NORMAL;
    if ((int)n > t->max_token_length) t->max_token_length = (int)n;
}

void lumi_tok_index(LumiTokenizer *t, int *dup) {
    struct LumiTokHash *h = lumi_xmalloc(sizeof *h);
    size_t cap = table_size(2 * (size_t)t->vocab_size); /* at most a quarter full */
    h->slot = lumi_xmalloc(cap * sizeof(int32_t));
    h->tag = lumi_xmalloc(cap * sizeof(uint32_t));
    memset(h->slot, 0xff, cap * sizeof(int32_t));
    h->mask = cap - 1;
    *dup = -1;
    for (int i = 0; i < t->vocab_size; i++) {
        if (!t->vocab[i]) continue; /* a gap in a tokenizer.json's ids */
        uint64_t hv = fnv1a(t->vocab[i], (size_t)t->len[i]);
        for (size_t s = hv & h->mask;; s = (s + 1) & h->mask) {
            int j = h->slot[s];
            if (j < 0) {
                h->slot[s] = i;
                h->tag[s] = (uint32_t)(hv >> 32);
                break;
            }
            if (t->len[j] == t->len[i] && !memcmp(t->vocab[j], t->vocab[i], (size_t)t->len[i])) {
                if (*dup < 0) *dup = i;
                break;
            }
        }
    }
    t->index = h;
}

int lumi_tok_find(const LumiTokenizer *t, const char *s, size_t n) {
    const struct LumiTokHash *h = t->index;
    if (!h) return -1;
    uint64_t hv = fnv1a(s, n);
    uint32_t tag = (uint32_t)(hv >> 32);
    for (size_t i = hv & h->mask;; i = (i + 1) & h->mask) {
        int j = h->slot[i];
        if (j < 0) return -1;
        if (h->tag[i] == tag && (size_t)t->len[j] == n && !memcmp(t->vocab[j], s, n)) return j;
    }
}

void lumi_tok_hash_free(struct LumiTokHash *h) {
    if (!h) return;
    free(h->slot);
    free(h->tag);
    free(h);
}

void lumi_tok_add(LumiTokenizer *t, const char *text, size_t len, int id, int special) {
    if (len == 0) return;
    t->added = lumi_xrealloc(t->added, (size_t)(t->n_added + 1) * sizeof *t->added);
    LumiTokAdded *a = &t->added[t->n_added++];
    a->text = lumi_xmalloc(len + 1);
    memcpy(a->text, text, len);
    a->text[len] = 0;
    a->len = (int)len;
    a->id = id;
    a->special = special;
}

void lumi_tok_add_stop(LumiTokenizer *t, int id) {
    if (id < 0 || id >= t->vocab_size) return;
    for (int i = 0; i < t->n_stop; i++)
        if (t->stop[i] == id) return;
    if (t->n_stop < (int)(sizeof t->stop / sizeof t->stop[0])) t->stop[t->n_stop++] = id;
}

static uint64_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

struct LumiTokPairs *lumi_tok_pairs_new(size_t expected) {
    struct LumiTokPairs *p = lumi_xcalloc(1, sizeof *p);
    size_t cap = table_size(expected);
    p->key = lumi_xmalloc(cap * sizeof(uint64_t));
    memset(p->key, 0xff, cap * sizeof(uint64_t));
    p->rank = lumi_xmalloc(cap * sizeof(int32_t));
    p->merged = lumi_xmalloc(cap * sizeof(int32_t));
    p->mask = cap - 1;
    return p;
}

static void pairs_grow(struct LumiTokPairs *p) {
    struct LumiTokPairs old = *p;
    size_t cap = (old.mask + 1) * 2;
    p->key = lumi_xmalloc(cap * sizeof(uint64_t));
    memset(p->key, 0xff, cap * sizeof(uint64_t));
    p->rank = lumi_xmalloc(cap * sizeof(int32_t));
    p->merged = lumi_xmalloc(cap * sizeof(int32_t));
    p->mask = cap - 1;
    p->n = 0;
    for (size_t i = 0; i <= old.mask; i++)
        if (old.key[i] != UINT64_MAX)
            lumi_tok_pairs_put(p, (int)(old.key[i] >> 32), (int)(old.key[i] & 0xffffffffu), old.rank[i], old.merged[i]);
    free(old.key);
    free(old.rank);
    free(old.merged);
}

int lumi_tok_pairs_put(struct LumiTokPairs *p, int a, int b, int rank, int merged) {
    if (2 * (p->n + 1) > p->mask + 1) pairs_grow(p);
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = pair_hash(k) & p->mask;; i = (i + 1) & p->mask) {
        if (p->key[i] == k) return 1;
        if (p->key[i] == UINT64_MAX) {
            p->key[i] = k;
            p->rank[i] = rank;
            p->merged[i] = merged;
            p->n++;
            return 0;
        }
    }
}

int lumi_tok_pairs_get(const struct LumiTokPairs *p, int a, int b, int *rank, int *merged) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = pair_hash(k) & p->mask;; i = (i + 1) & p->mask) {
        if (p->key[i] == k) {
            *rank = p->rank[i];
            *merged = p->merged[i];
            return 1;
        }
        if (p->key[i] == UINT64_MAX) return 0;
    }
}

void lumi_tok_pairs_free(struct LumiTokPairs *p) {
    if (!p) return;
    free(p->key);
    free(p->rank);
    free(p->merged);
    free(p);
}
