/* tokenizer.c: see tokenizer.h. */
#include "tokenizer.h"

#include "gguf.h"

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

/* Takes the arrays (vocab strings malloc'd, owned from here on) and builds
 * the lookup index. Shared by every tokenizer file format. */
static void finish(LumiTokenizer *t, const char *path) {
    t->sorted = lumi_xmalloc((size_t)t->vocab_size * sizeof(LumiTokenIndex));
    for (int i = 0; i < t->vocab_size; i++) t->sorted[i] = (LumiTokenIndex){t->vocab[i], i};
    qsort(t->sorted, (size_t)t->vocab_size, sizeof(LumiTokenIndex), cmp_index);
    for (int i = 0; i < 256; i++) {
        t->byte_pieces[i][0] = (char)i;
        t->byte_pieces[i][1] = 0;
    }
    t->path = lumi_xstrdup(path);
}

static void alloc_arrays(LumiTokenizer *t, int n) {
    t->vocab_size = n;
    t->vocab = lumi_xcalloc((size_t)n, sizeof(char *));
    t->len = lumi_xmalloc((size_t)n * sizeof(int));
    t->scores = lumi_xmalloc((size_t)n * sizeof(float));
}

/* llama2.c tokenizer.bin: int32 max_token_length, then per token float32
 * score, int32 length, bytes. */
static int load_llama2c(const char *path, const LumiMap *m, LumiTokenizer *t, LumiErr *e) {
    const unsigned char *p = m->data, *end = p + m->size;
    int32_t maxlen;
    if (m->size < 4) return lumi_err(e, "%s: truncated tokenizer header", path);
    memcpy(&maxlen, p, 4);
    p += 4;
    if (maxlen <= 0 || maxlen > 4096) return lumi_err(e, "%s: max_token_length %d out of range", path, maxlen);
    /* First pass counts tokens, so the file alone decides vocab_size. */
    int n = 0;
    for (const unsigned char *q = p; q < end; n++) {
        int32_t len;
        if (end - q < 8) return lumi_err(e, "%s: truncated at token %d", path, n);
        memcpy(&len, q + 4, 4);
        if (len < 0 || len > maxlen)
            return lumi_err(e, "%s: token %d has length %d (max_token_length %d)", path, n, len, maxlen);
        if (end - q - 8 < len) return lumi_err(e, "%s: truncated at token %d", path, n);
        q += 8 + len;
    }
    if (n < 3) return lumi_err(e, "%s: only %d tokens", path, n);
    alloc_arrays(t, n);
    t->max_token_length = maxlen;
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
    t->bos_id = 1;
    t->eos_id = 2;
    return 0;
}

/* GGUF with an embedded sentencepiece vocabulary (tokenizer.ggml.model
 * "llama"): pieces spell spaces as U+2581, which llama2.c files (and this
 * tokenizer) write as ' '. */
static int load_gguf(const char *path, LumiTokenizer *t, LumiErr *e) {
    GgufFile g;
    if (lumi_gguf_open(path, &g, e) != 0) return -1;
    int rc = -1;
    const char *model;
    size_t mlen;
    const GgufKV *toks = lumi_gguf_find(&g, "tokenizer.ggml.tokens");
    const GgufKV *scores = lumi_gguf_find(&g, "tokenizer.ggml.scores");
    if (lumi_gguf_get_str(&g, "tokenizer.ggml.model", &model, &mlen) != 0 || !toks) {
        lumi_err(e, "%s: no embedded tokenizer (tokenizer.ggml.model / tokens)", path);
        goto out;
    }
    if (mlen != 5 || memcmp(model, "llama", 5)) {
        lumi_err(e, "%s: tokenizer model '%.*s' is not supported (llama sentencepiece only)", path, (int)mlen, model);
        goto out;
    }
    if (toks->type != GGUF_ARRAY || toks->arr_type != GGUF_STRING || toks->arr_n < 3 || toks->arr_n > (1u << 22) ||
        (scores && (scores->type != GGUF_ARRAY || scores->arr_type != GGUF_F32 || scores->arr_n != toks->arr_n))) {
        lumi_err(e, "%s: tokenizer.ggml.tokens/scores are malformed", path);
        goto out;
    }
    alloc_arrays(t, (int)toks->arr_n);
    size_t pos = 0;
    for (int i = 0; i < t->vocab_size; i++) {
        const char *s;
        uint64_t len;
        lumi_gguf_next_str(&g, toks, &pos, &s, &len);
        char *v = lumi_xmalloc((size_t)len + 1);
        size_t k = 0;
        for (uint64_t j = 0; j < len; j++) {
            if (j + 2 < len && (unsigned char)s[j] == 0xE2 && (unsigned char)s[j + 1] == 0x96 &&
                (unsigned char)s[j + 2] == 0x81) {
                v[k++] = ' ';
                j += 2;
            } else v[k++] = s[j];
        }
        v[k] = 0;
        t->vocab[i] = v;
        t->len[i] = (int)strlen(v); /* an embedded NUL ends the piece */
        if (t->len[i] > t->max_token_length) t->max_token_length = t->len[i];
        t->scores[i] = 0;
        if (scores) memcpy(&t->scores[i], scores->val + 12 + 4 * (size_t)i, 4);
    }
    int64_t id;
    t->bos_id = lumi_gguf_get_int(&g, "tokenizer.ggml.bos_token_id", &id) == 0 && id >= 0 && id < t->vocab_size ? (int)id : 1;
    t->eos_id = lumi_gguf_get_int(&g, "tokenizer.ggml.eos_token_id", &id) == 0 && id >= 0 && id < t->vocab_size ? (int)id : 2;
    if (t->max_token_length == 0) t->max_token_length = 1;
    rc = 0;
out:
    lumi_gguf_close(&g, 0);
    return rc;
}

int lumi_tokenizer_load(const char *path, LumiTokenizer *t, LumiErr *e) {
    memset(t, 0, sizeof *t);
    LumiMap m;
    if (lumi_map_file(path, &m, e) != 0) return -1;
    int gguf = m.size >= 4 && !memcmp(m.data, "GGUF", 4);
    int rc = gguf ? 0 : load_llama2c(path, &m, t, e);
    lumi_unmap(&m);
    if (gguf) rc = load_gguf(path, t, e);
    if (rc != 0) {
        lumi_tokenizer_free(t);
        return -1;
    }
    finish(t, path);
    return 0;
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
