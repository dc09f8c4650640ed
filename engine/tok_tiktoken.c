/* tok_tiktoken.c: tiktoken's BPE file (Meta's Llama 3 tokenizer.model):
 * one line per token, base64 of its bytes, a space, its rank. The rank is
 * the id and the merge priority: a pair merges when its concatenation is a
 * token. Special tokens are not in the file; Llama 3's 256 are added when
 * the file is recognised as Meta's (by content hash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* FNV-1a 64 of Meta's Llama 3 tokenizer.model (2183982 bytes, sha256
 * 82e9d319...; Llama 3.1 and 3.2 ship the same file). */
#define LLAMA3_FNV 0x66bd6fe609b12bb5ull
#define LLAMA3_N 128000

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes n base64 characters (n % 4 == 0, '=' padding only at the end). */
static int b64decode(const unsigned char *s, size_t n, char *out, size_t *out_len) {
    if (n == 0 || n % 4) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64val(s[i + j])) < 0) return -1;
        }
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        out[k++] = (char)(w >> 16);
        if (pad < 2) out[k++] = (char)(w >> 8);
        if (pad < 1) out[k++] = (char)w;
    }
    *out_len = k;
    return 0;
}

static void add_llama3_specials(LumiTokenizer *t) {
    char name[64];
    for (int i = 0; i < 256; i++) {
        int id = LLAMA3_N + i;
        switch (id) {
        case 128000: snprintf(name, sizeof name, "<|begin_of_text|>"); break;
        case 128001: snprintf(name, sizeof name, "<|end_of_text|>"); break;
        case 128006: snprintf(name, sizeof name, "<|start_header_id|>"); break;
        case 128007: snprintf(name, sizeof name, "<|end_header_id|>"); break;
        case 128008: snprintf(name, sizeof name, "<|reserved_special_token_4|>"); break;
        case 128009: snprintf(name, sizeof name, "<|eot_id|>"); break;
        default: snprintf(name, sizeof name, "<|reserved_special_token_%d|>", id < 128006 ? id - 128002 : id - 128005);
        }
        lumi_tok_set(t, id, name, strlen(name));
        t->type[id] = LUMI_PIECE_CONTROL;
        lumi_tok_add(t, name, strlen(name), id, 1);
    }
    t->bos_id = 128000;
    t->eos_id = 128001;
    t->add_bos = 1;
    lumi_tok_add_stop(t, 128001);
    lumi_tok_add_stop(t, 128009);
}

int lumi_tok_load_tiktoken(const char *path, const unsigned char *p, size_t size, LumiTokenizer *t, LumiErr *e) {
    /* Count lines first: the file alone sizes the arrays. */
    size_t lines = 0;
    for (size_t i = 0; i < size; i++) lines += p[i] == '\n';
    if (size && p[size - 1] != '\n') lines++;
    if (lines < 256 || lines > LUMI_TOK_MAX_VOCAB)
        return lumi_err(e, "%s: %zu tokens (tiktoken file needs 256..%d)", path, lines, LUMI_TOK_MAX_VOCAB);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++) h = (h ^ p[i]) * 1099511628211ull;
    int llama3 = h == LLAMA3_FNV && lines == LLAMA3_N;
    lumi_tok_alloc(t, (int)lines + (llama3 ? 256 : 0));
    char buf[1024];
    size_t pos = 0;
    for (size_t line = 1; pos < size; line++) {
        const unsigned char *s = p + pos, *nl = memchr(s, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - s) : size - pos;
        pos += n + 1;
        if (n && s[n - 1] == '\r') n--;
        const unsigned char *sp = memchr(s, ' ', n);
        size_t blen;
        if (!sp) return lumi_err(e, "%s: line %zu: not \"base64 rank\"", path, line);
        if ((size_t)(sp - s) > sizeof buf / 4 * 3 || b64decode(s, (size_t)(sp - s), buf, &blen) != 0)
            return lumi_err(e, "%s: line %zu: token: bad base64", path, line);
        long rank;
        char num[16];
        size_t nl2 = n - (size_t)(sp + 1 - s);
        if (nl2 == 0 || nl2 >= sizeof num) return lumi_err(e, "%s: line %zu: rank: not a number", path, line);
        memcpy(num, sp + 1, nl2);
        num[nl2] = 0;
        if (lumi_parse_int(num, 0, (long)lines - 1, &rank) != 0)
            return lumi_err(e, "%s: line %zu: rank '%s' is not in [0, %zu)", path, line, num, lines);
        if (t->vocab[rank]) return lumi_err(e, "%s: line %zu: rank %ld: duplicate rank", path, line, rank);
        lumi_tok_set(t, (int)rank, buf, blen);
    }
    int dup;
    if (llama3) add_llama3_specials(t);
    lumi_tok_index(t, &dup);
    if (dup >= 0) return lumi_err(e, "%s: rank %d: token bytes repeat an earlier token", path, dup);
    t->format = "tiktoken";
    t->ignore_merges = 1; /* tiktoken: a pre-token in the vocabulary is one token */
    if (lumi_tok_bpe_finish(t, path, e) != 0) return -1;
    lumi_tok_pairs_from_vocab(t);
    /* Meta's tiktoken loader uses Llama 3's pattern; other tiktoken files
     * (cl100k) share its shape. */
    t->regex = lumi_tok_regex_new(LUMI_PAT_LLAMA3, strlen(LUMI_PAT_LLAMA3), path, e);
    return t->regex ? 0 : -1;
}
