/* tok_internal.h: what the tokenizer family files share (not for callers
 * outside engine/tok*.c: they use tokenizer.h). */
#ifndef LUMI_TOK_INTERNAL_H
#define LUMI_TOK_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Most tokens any loader accepts: bounds what a file can make us allocate
 * before its contents are checked (Qwen has 151669, Gemma 262144). */
#define LUMI_TOK_MAX_VOCAB (1 << 21)

/* --- vocabulary arrays (tok_hash.c) --- */
void lumi_tok_alloc(LumiTokenizer *t, int n);
/* Sets piece i to a copy of s[0..n), type NORMAL, score 0. */
void lumi_tok_set(LumiTokenizer *t, int i, const char *s, size_t n);
/* Builds the piece index; *dup = first id whose bytes repeat an earlier
 * piece (the earlier id keeps the lookup), or -1. */
void lumi_tok_index(LumiTokenizer *t, int *dup);
int lumi_tok_find(const LumiTokenizer *t, const char *s, size_t n);
void lumi_tok_hash_free(struct LumiTokHash *h);
/* Registers an added/special token matched in text. */
void lumi_tok_add(LumiTokenizer *t, const char *text, size_t len, int id, int special);
void lumi_tok_add_stop(LumiTokenizer *t, int id);

/* (left, right) -> (rank, merged id): BPE merges. */
struct LumiTokPairs *lumi_tok_pairs_new(size_t expected);
/* 0 ok, 1 when the pair is already there (kept: the first rank wins). */
int lumi_tok_pairs_put(struct LumiTokPairs *p, int a, int b, int rank, int merged);
int lumi_tok_pairs_get(const struct LumiTokPairs *p, int a, int b, int *rank, int *merged);
void lumi_tok_pairs_free(struct LumiTokPairs *p);

/* --- merging (tok_merge.c) --- */
/* Whether (a, b) merges, into which id, at what priority (lower first;
 * ties go to the leftmost pair). */
typedef int (*LumiTokPairFn)(const LumiTokenizer *t, int a, int b, int *merged, double *prio);
/* Merges ids[0..n) in place until no pair merges; returns the new count. */
int lumi_tok_merge(const LumiTokenizer *t, int *ids, int n, LumiTokPairFn fn);

/* --- families --- */
/* prefix: add the dummy-prefix space (when the tokenizer uses one) */
void lumi_tok_spm_encode(const LumiTokenizer *t, const char *s, size_t n, int prefix, int *ids, int *k);
void lumi_tok_spm_infer_types(LumiTokenizer *t);
void lumi_tok_spm_finish(LumiTokenizer *t);
void lumi_tok_bpe_encode(const LumiTokenizer *t, const char *s, size_t n, int *ids, int *k);

/* Pre-tokenizer regex (PCRE2, UTF + UCP, invalid UTF-8 allowed). */
struct LumiTokRegex *lumi_tok_regex_new(const char *pattern, size_t len, const char *path, LumiErr *e);
void lumi_tok_regex_free(struct LumiTokRegex *r);
/* The two patterns lumi knows by name (GGUF tokenizer.ggml.pre). */
extern const char LUMI_PAT_LLAMA3[], LUMI_PAT_QWEN2[], LUMI_PAT_GPT2[];

/* GPT-2's byte <-> printable code point mapping (Hugging Face ByteLevel):
 * decodes a vocab string to raw bytes; -1 if a code point is not a byte's. */
int lumi_tok_bytelevel_decode(const char *s, size_t n, char *out, size_t *out_len);
/* Pair table from the vocabulary alone (tiktoken: a pair merges when its
 * concatenation is a token, at that token's rank). */
void lumi_tok_pairs_from_vocab(LumiTokenizer *t);
/* BPE tokenizers need all 256 single-byte tokens: encoding any bytes, and
 * decode(encode(x)) == x, depend on it. */
int lumi_tok_bpe_finish(LumiTokenizer *t, const char *path, LumiErr *e);

/* NFC of s[0..n) (tok_nfc.c): returns the new length and sets *out to a
 * malloc'd copy, or *out = NULL when the text is already NFC (ASCII).
 * Bytes that are not valid UTF-8 are kept as they are. */
size_t lumi_tok_nfc(const char *s, size_t n, char **out);

/* --- loaders: fill t (arrays, ids, added tokens), return 0 / -1 --- */
int lumi_tok_load_llama2c(const char *path, const unsigned char *p, size_t size, LumiTokenizer *t, LumiErr *e);
int lumi_tok_load_spm_model(const char *path, const unsigned char *p, size_t size, LumiTokenizer *t, LumiErr *e);
int lumi_tok_load_tiktoken(const char *path, const unsigned char *p, size_t size, LumiTokenizer *t, LumiErr *e);
int lumi_tok_load_hfjson(const char *path, const char *text, size_t size, LumiTokenizer *t, LumiErr *e);
int lumi_tok_load_gguf(const char *path, LumiTokenizer *t, LumiErr *e);
/* Reads tokenizer_config.json, generation_config.json and config.json in
 * dir for BOS and end tokens (missing files are fine; bad ones are not). */
int lumi_tok_read_meta(LumiTokenizer *t, const char *dir, LumiErr *e);

#endif
