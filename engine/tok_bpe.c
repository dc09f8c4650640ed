/* tok_bpe.c: byte-level BPE (GPT-2, tiktoken, Llama 3, Qwen). Text is cut
 * into pre-tokens by the tokenizer's regex (PCRE2 in UTF + UCP mode, so
 * \p{L}, \p{N} and \s are Unicode classes, not hand-rolled ones); each
 * pre-token starts as one symbol per byte and merges by rank, lowest
 * first (tok_merge.c). Bytes the regex does not match (invalid UTF-8) are
 * pre-tokens of their own, so any byte string encodes and decodes back. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* Llama 3's split pattern (tokenizer.json, tiktoken's cl100k-like one). */
const char LUMI_PAT_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
/* Qwen 2 / 2.5 / 3: the same with single digits. */
const char LUMI_PAT_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
/* GPT-2's (Hugging Face ByteLevel with use_regex). */
const char LUMI_PAT_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct LumiTokRegex {
    pcre2_code *code;
};

struct LumiTokRegex *lumi_tok_regex_new(const char *pattern, size_t len, const char *path, LumiErr *e) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off,
                                  NULL);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        lumi_err(e, "%s: pre-tokenizer regex: %s at offset %zu", path, (char *)msg, (size_t)off);
        return NULL;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    struct LumiTokRegex *r = lumi_xmalloc(sizeof *r);
    r->code = c;
    return r;
}

void lumi_tok_regex_free(struct LumiTokRegex *r) {
    if (!r) return;
    pcre2_code_free(r->code);
    free(r);
}

static int bpe_pair(const LumiTokenizer *t, int a, int b, int *merged, double *prio) {
    int rank;
    if (!lumi_tok_pairs_get(t->pairs, a, b, &rank, merged)) return 0;
    *prio = rank;
    return 1;
}

static void encode_word(const LumiTokenizer *t, const char *s, size_t n, int *ids, int *k) {
    if (n == 0) return;
    if (t->ignore_merges) {
        int id = lumi_tok_find(t, s, n);
        if (id >= 0 && t->type[id] == LUMI_PIECE_NORMAL) {
            ids[(*k)++] = id;
            return;
        }
    }
    int start = *k;
    for (size_t i = 0; i < n; i++) ids[(*k)++] = t->byte_id[(unsigned char)s[i]];
    *k = start + lumi_tok_merge(t, ids + start, *k - start, bpe_pair);
}

void lumi_tok_bpe_encode(const LumiTokenizer *t, const char *s, size_t n, int *ids, int *k) {
    if (n == 0) return;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->regex->code, NULL);
    size_t pos = 0, from = 0; /* pos: start of bytes not yet encoded */
    while (from < n) {
        int rc = pcre2_match(t->regex->code, (PCRE2_SPTR)s, n, from, 0, md, NULL);
        if (rc < 0) break; /* no match to the end: the rest is one piece */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b == a) { /* an empty match (a pattern that allows one): skip it */
            from = a + 1;
            continue;
        }
        if (a > pos) encode_word(t, s + pos, a - pos, ids, k); /* unmatched bytes */
        encode_word(t, s + a, b - a, ids, k);
        pos = from = b;
    }
    if (pos < n) encode_word(t, s + pos, n - pos, ids, k);
    pcre2_match_data_free(md);
}

/* GPT-2's bytes_to_unicode, inverted: printable Latin-1 bytes stand for
 * themselves; the 68 others (0x00-0x20, 0x7F-0xA0, 0xAD) are U+0100.. in
 * byte order. */
static int unicode_to_byte(unsigned cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp < 256 || cp >= 256 + 68) return -1;
    unsigned n = cp - 256;
    return n < 33 ? (int)n : n < 67 ? (int)(0x7F + n - 33) : 0xAD;
}

int lumi_tok_bytelevel_decode(const char *s, size_t n, char *out, size_t *out_len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        if (p[i] < 0x80) cp = p[i++];
        else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
            cp = ((p[i] & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
            i += 2;
        } else return -1;
        int b = unicode_to_byte(cp);
        if (b < 0) return -1;
        out[k++] = (char)b;
    }
    *out_len = k;
    return 0;
}

void lumi_tok_pairs_from_vocab(LumiTokenizer *t) {
    t->pairs = lumi_tok_pairs_new((size_t)t->vocab_size * 2);
    for (int id = 0; id < t->vocab_size; id++) {
        if (!t->vocab[id] || t->type[id] != LUMI_PIECE_NORMAL) continue;
        for (int cut = 1; cut < t->len[id]; cut++) {
            int a = lumi_tok_find(t, t->vocab[id], (size_t)cut);
            int b = a >= 0 ? lumi_tok_find(t, t->vocab[id] + cut, (size_t)(t->len[id] - cut)) : -1;
            if (b >= 0) lumi_tok_pairs_put(t->pairs, a, b, id, id);
        }
    }
}

int lumi_tok_bpe_finish(LumiTokenizer *t, const char *path, LumiErr *e) {
    t->kind = LUMI_TOK_BPE;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = lumi_tok_find(t, &c, 1);
        if (t->byte_id[b] < 0) return lumi_err(e, "%s: vocab: no token for byte 0x%02X (byte-level BPE needs all 256)", path, b);
    }
    return 0;
}
