/* tokenizer.h: sentencepiece-style BPE over a llama2.c tokenizer.bin.
 * Encoding follows sentencepiece for Llama 2: optional BOS, a dummy-prefix
 * space, one token per UTF-8 code point (byte fallback <0xXX> = id 3 + byte
 * when the code point is not in the vocabulary), then greedy merges of the
 * adjacent pair whose merged piece has the highest score. */
#ifndef LUMI_TOKENIZER_H
#define LUMI_TOKENIZER_H
#include "util.h"

typedef struct {
    char *str;
    int id;
} LumiTokenIndex;

typedef struct {
    char **vocab;     /* [vocab_size] NUL-terminated pieces */
    int *len;         /* [vocab_size] piece byte lengths */
    float *scores;    /* [vocab_size] merge priorities */
    int vocab_size;
    int max_token_length;
    LumiTokenIndex *sorted; /* vocab sorted by bytes, for lookup */
    int bos_id, eos_id;
    char byte_pieces[256][2];
    char *path;
} LumiTokenizer;

int lumi_tokenizer_load(const char *path, LumiTokenizer *t, LumiErr *e);
void lumi_tokenizer_free(LumiTokenizer *t);

/* Encodes text; *ids is malloc'd. Never fails on any byte string. */
void lumi_encode(const LumiTokenizer *t, const char *text, int bos, int eos, int **ids, int *n);
/* The bytes token `id` stands for, given the previous token (a leading
 * space after BOS is dropped, as sentencepiece decoding does). *len bytes,
 * not NUL-terminated for byte tokens of value 0. */
const char *lumi_decode_piece(const LumiTokenizer *t, int prev, int id, int *len);
/* Piece lookup: id or -1. */
int lumi_token_lookup(const LumiTokenizer *t, const char *s);

#endif
