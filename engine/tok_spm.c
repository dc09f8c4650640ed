/* tok_spm.c: sentencepiece-style BPE (Llama 2, TinyLlama, the shipped
 * kjv512) and its llama2.c tokenizer.bin reader. Encoding: an optional
 * dummy-prefix space, one symbol per UTF-8 code point that is a piece (else
 * its bytes as <0xXX> byte-fallback pieces, else unk), then merge the
 * adjacent pair whose concatenation is the highest-scoring piece, leftmost
 * first, until none merges. Only normal and user-defined pieces are ever
 * produced from text or merged: control pieces (<s>), <unk> and byte pieces
 * are reserved, as in sentencepiece's bpe_model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static int from_text(const LumiTokenizer *t, int id) {
    return id >= 0 && (t->type[id] == LUMI_PIECE_NORMAL || t->type[id] == LUMI_PIECE_USER);
}

/* Longest piece an SPM merge can build; bounds the scratch buffer. */
#define SPM_MAX_PIECE 4096

static int spm_pair(const LumiTokenizer *t, int a, int b, int *merged, double *prio) {
    char buf[2 * SPM_MAX_PIECE];
    int la = t->len[a], lb = t->len[b];
    if (!from_text(t, a) || !from_text(t, b) || la + lb > t->max_token_length || la + lb > (int)sizeof buf) return 0;
    memcpy(buf, t->vocab[a], (size_t)la);
    memcpy(buf + la, t->vocab[b], (size_t)lb);
    int id = lumi_tok_find(t, buf, (size_t)(la + lb));
    if (!from_text(t, id)) return 0;
    *merged = id;
    *prio = -(double)t->scores[id];
    return 1;
}

void lumi_tok_spm_encode(const LumiTokenizer *t, const char *text, size_t n, int prefix, int *ids, int *k) {
    if (n == 0) return;
    int start = *k;
    if (prefix && t->add_dummy_prefix) {
        int sp = lumi_tok_find(t, " ", 1);
        if (from_text(t, sp)) ids[(*k)++] = sp;
    }
    /* A code point is a lead byte and up to 3 continuation bytes. */
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && (s[j] & 0xC0) == 0x80 && j - i < 4) j++;
        int id = lumi_tok_find(t, text + i, j - i);
        if (from_text(t, id)) ids[(*k)++] = id;
        else
            for (size_t b = i; b < j; b++) {
                int bid = t->byte_id[s[b]];
                ids[(*k)++] = bid >= 0 ? bid : (t->unk_id >= 0 ? t->unk_id : 0);
            }
        i = j;
    }
    /* Byte-fallback and unk symbols never merge (sentencepiece turns
     * unknown characters into bytes after merging), so they cut the text
     * into runs merged on their own: same ids, smaller heaps. */
    int out = start;
    for (int i = start; i < *k;) {
        int j = i;
        while (j < *k && from_text(t, ids[j])) j++;
        int m = lumi_tok_merge(t, ids + i, j - i, spm_pair);
        memmove(ids + out, ids + i, (size_t)m * sizeof(int));
        out += m;
        if (j < *k) ids[out++] = ids[j++];
        i = j;
    }
    *k = out;
}

/* Byte pieces are spelled <0xXX>; they give byte fallback its ids. */
static int byte_piece(const char *p, int n) {
    unsigned v;
    char end;
    if (n != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
    if (sscanf(p + 3, "%2X%c", &v, &end) != 2 || end != '>') return -1;
    return (int)v;
}

/* Pieces whose types the file does not record (llama2.c .bin, GGUF without
 * token_type): <unk> at 0, BOS/EOS control, <0xXX> byte pieces. */
void lumi_tok_spm_infer_types(LumiTokenizer *t) {
    for (int i = 0; i < t->vocab_size; i++) {
        if (i == t->bos_id || i == t->eos_id) t->type[i] = LUMI_PIECE_CONTROL;
        else if (i == t->unk_id) t->type[i] = LUMI_PIECE_UNKNOWN;
        else if (byte_piece(t->vocab[i], t->len[i]) >= 0) t->type[i] = LUMI_PIECE_BYTE;
    }
}

/* After the types are known: byte fallback ids and the special tokens. */
void lumi_tok_spm_finish(LumiTokenizer *t) {
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    for (int i = 0; i < t->vocab_size; i++) {
        int b = t->type[i] == LUMI_PIECE_BYTE ? byte_piece(t->vocab[i], t->len[i]) : -1;
        if (b >= 0 && t->byte_id[b] < 0) t->byte_id[b] = i;
        if (t->type[i] == LUMI_PIECE_USER) lumi_tok_add(t, t->vocab[i], (size_t)t->len[i], i, 0);
    }
    /* BOS/EOS match as "<s>" / "</s>" with --special, whatever the file
     * spells them as (llama2.c writes "\n<s>\n"). */
    if (t->bos_id >= 0) lumi_tok_add(t, "<s>", 3, t->bos_id, 1);
    if (t->eos_id >= 0) lumi_tok_add(t, "</s>", 4, t->eos_id, 1);
    lumi_tok_add_stop(t, t->eos_id);
    if (t->max_token_length > SPM_MAX_PIECE) t->max_token_length = SPM_MAX_PIECE;
}

/* llama2.c tokenizer.bin: int32 max_token_length, then per token float32
 * score, int32 length, bytes. */
int lumi_tok_load_llama2c(const char *path, const unsigned char *p, size_t size, LumiTokenizer *t, LumiErr *e) {
    const unsigned char *end = p + size;
    int32_t maxlen;
    if (size < 4) return lumi_err(e, "%s: truncated tokenizer header", path);
    memcpy(&maxlen, p, 4);
    p += 4;
    if (maxlen <= 0 || maxlen > SPM_MAX_PIECE) return lumi_err(e, "%s: max_token_length %d out of range", path, maxlen);
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
    lumi_tok_alloc(t, n);
    for (int i = 0; i < n; i++) {
        int32_t len;
        memcpy(&len, p + 4, 4);
        lumi_tok_set(t, i, (const char *)p + 8, (size_t)len);
        memcpy(&t->scores[i], p, 4);
        p += 8 + len;
    }
    t->max_token_length = maxlen;
    t->kind = LUMI_TOK_SPM;
    t->format = "llama2.c";
    t->bos_id = 1;
    t->eos_id = 2;
    t->unk_id = 0;
    t->add_bos = 1;
    t->add_dummy_prefix = 1;
    lumi_tok_spm_infer_types(t);
    lumi_tok_spm_finish(t);
    return 0;
}
