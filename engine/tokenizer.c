/* tokenizer.c: see tokenizer.h. */
#include "tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int cmp_index(const void *a, const void *b) {
    return strcmp(((const LumiTokenIndex *)a)->str, ((const LumiTokenIndex *)b)->str);
}

void lumi_tokenizer_free(LumiTokenizer *t) {
    if (t->vocab)
        for (int i = 0; i < t->vocab_size; i++) free(t->vocab[i]);
    free(t->vocab);
    free(t->len);
    free(t->scores);
    free(t->sorted);
    free(t->path);
    memset(t, 0, sizeof *t);
}

int lumi_tokenizer_load(const char *path, LumiTokenizer *t, LumiErr *e) {
    memset(t, 0, sizeof *t);
    LumiMap m;
    if (lumi_map_file(path, &m, e) != 0) return -1;
    const unsigned char *p = m.data, *end = p + m.size;
    int32_t maxlen;
    if (m.size < 4) {
        lumi_unmap(&m);
        return lumi_err(e, "%s: truncated tokenizer header", path);
    }
    memcpy(&maxlen, p, 4);
    p += 4;
    if (maxlen <= 0 || maxlen > 4096) {
        lumi_unmap(&m);
        return lumi_err(e, "%s: max_token_length %d out of range", path, maxlen);
    }
    /* First pass counts tokens, so the file alone decides vocab_size. */
    int n = 0;
    for (const unsigned char *q = p; q < end;) {
        int32_t len;
        if (end - q < 8) goto truncated;
        memcpy(&len, q + 4, 4);
        if (len < 0 || len > maxlen) {
            lumi_unmap(&m);
            return lumi_err(e, "%s: token %d has length %d (max_token_length %d)", path, n, len, maxlen);
        }
        if (end - q - 8 < len) goto truncated;
        q += 8 + len;
        n++;
    }
    if (n < 3) {
        lumi_unmap(&m);
        return lumi_err(e, "%s: only %d tokens", path, n);
    }
    t->vocab_size = n;
    t->max_token_length = maxlen;
    t->vocab = lumi_xcalloc((size_t)n, sizeof(char *));
    t->len = lumi_xmalloc((size_t)n * sizeof(int));
    t->scores = lumi_xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        int32_t len;
        memcpy(&t->scores[i], p, 4);
        memcpy(&len, p + 4, 4);
        t->vocab[i] = lumi_xmalloc((size_t)len + 1);
        memcpy(t->vocab[i], p + 8, (size_t)len);
        t->vocab[i][len] = 0;
        t->len[i] = len;
        p += 8 + len;
    }
    lumi_unmap(&m);
    t->sorted = lumi_xmalloc((size_t)n * sizeof(LumiTokenIndex));
    for (int i = 0; i < n; i++) t->sorted[i] = (LumiTokenIndex){t->vocab[i], i};
    qsort(t->sorted, (size_t)n, sizeof(LumiTokenIndex), cmp_index);
    for (int i = 0; i < 256; i++) {
        t->byte_pieces[i][0] = (char)i;
        t->byte_pieces[i][1] = 0;
    }
    t->bos_id = 1;
    t->eos_id = 2;
    t->path = lumi_xstrdup(path);
    return 0;
truncated:
    lumi_unmap(&m);
    return lumi_err(e, "%s: truncated at token %d", path, n);
}

int lumi_token_lookup(const LumiTokenizer *t, const char *s) {
    LumiTokenIndex key = {(char *)s, 0};
    const LumiTokenIndex *r = bsearch(&key, t->sorted, (size_t)t->vocab_size, sizeof key, cmp_index);
    return r ? r->id : -1;
}

/* Byte fallback ids exist only when the vocabulary has them (<0x00> at 3). */
static void push_bytes(const LumiTokenizer *t, const unsigned char *b, int n, int *ids, int *k) {
    for (int i = 0; i < n; i++) {
        int id = b[i] + 3;
        ids[(*k)++] = id < t->vocab_size ? id : 0; /* unk if no byte tokens */
    }
}

void lumi_encode(const LumiTokenizer *t, const char *text, int bos, int eos, int **out, int *n_out) {
    size_t tl = strlen(text);
    /* worst case: bos + prefix + one token per byte + eos */
    int *ids = lumi_xmalloc((tl + 3) * sizeof(int));
    char *buf = lumi_xmalloc((size_t)t->max_token_length * 2 + 3);
    int k = 0;
    if (bos) ids[k++] = t->bos_id;
    if (tl > 0) {
        int sp = lumi_token_lookup(t, " ");
        if (sp >= 0) ids[k++] = sp;
    }
    /* Split into code points: a lead byte starts one, continuation bytes
     * (10xxxxxx) extend it, at most 4 bytes. */
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < tl) {
        size_t j = i + 1;
        while (j < tl && (s[j] & 0xC0) == 0x80 && j - i < 4) j++;
        memcpy(buf, s + i, j - i);
        buf[j - i] = 0;
        int id = lumi_token_lookup(t, buf);
        if (id >= 0) ids[k++] = id;
        else push_bytes(t, s + i, (int)(j - i), ids, &k);
        i = j;
    }
    /* Merge the best-scoring adjacent pair until none merges. O(n^2) like
     * sentencepiece's reference; prompts are short. */
    for (;;) {
        float best = -1e30f;
        int best_id = -1, best_i = -1;
        for (int a = 0; a + 1 < k; a++) {
            int la = t->len[ids[a]], lb = t->len[ids[a + 1]];
            if (la + lb > t->max_token_length * 2) continue;
            memcpy(buf, t->vocab[ids[a]], (size_t)la);
            memcpy(buf + la, t->vocab[ids[a + 1]], (size_t)lb);
            buf[la + lb] = 0;
            if ((int)strlen(buf) != la + lb) continue; /* embedded NUL byte piece */
            int id = lumi_token_lookup(t, buf);
            if (id >= 0 && t->scores[id] > best) {
                best = t->scores[id];
                best_id = id;
                best_i = a;
            }
        }
        if (best_i < 0) break;
        ids[best_i] = best_id;
        memmove(ids + best_i + 1, ids + best_i + 2, (size_t)(k - best_i - 2) * sizeof(int));
        k--;
    }
    if (eos) ids[k++] = t->eos_id;
    free(buf);
    *out = ids;
    *n_out = k;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

const char *lumi_decode_piece(const LumiTokenizer *t, int prev, int id, int *len) {
    if (id < 0 || id >= t->vocab_size) {
        *len = 0;
        return "";
    }
    const char *p = t->vocab[id];
    int n = t->len[id];
    if (prev == t->bos_id && n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    /* <0xAB> byte tokens decode to the raw byte */
    if (n == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>') {
        int hi = hexval(p[3]), lo = hexval(p[4]);
        if (hi >= 0 && lo >= 0) {
            *len = 1;
            return t->byte_pieces[hi * 16 + lo];
        }
    }
    *len = n;
    return p;
}
