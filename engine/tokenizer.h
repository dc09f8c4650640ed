/* tokenizer.h: one interface over every tokenizer family lumi reads.
 *
 * Families (one file each):
 *   tok_spm.c       sentencepiece-style BPE over scored pieces: llama2.c
 *                   tokenizer.bin, sentencepiece tokenizer.model (protobuf,
 *                   tok_spm_model.c), GGUF tokenizer.ggml.model "llama".
 *   tok_bpe.c       byte-level BPE over ranked merges (GPT-2 / tiktoken
 *                   style): Meta's Llama 3 tiktoken tokenizer.model
 *                   (tok_tiktoken.c), Hugging Face tokenizer.json
 *                   (tok_hfjson.c), GGUF tokenizer.ggml.model "gpt2".
 * Both merge with a heap of candidate pairs over a linked list of symbols,
 * so encoding is O(n log n) in the text (tok_merge.c).
 *
 * Special tokens (BOS, <|eot_id|>, <|im_end|>, ...) in text are plain text
 * unless the caller asks for them with LUMI_ENC_SPECIAL; non-special added
 * tokens of a tokenizer.json (Qwen's <think>) always match, as in Hugging
 * Face tokenizers and llama.cpp's user-defined tokens. */
#ifndef LUMI_TOKENIZER_H
#define LUMI_TOKENIZER_H
#include <stddef.h>

#include "util.h"

typedef enum { LUMI_TOK_SPM = 0, LUMI_TOK_BPE = 1 } LumiTokKind;

/* Piece types, numbered as sentencepiece's ModelProto.SentencePiece.Type. */
enum {
    LUMI_PIECE_NORMAL = 1, LUMI_PIECE_UNKNOWN = 2, LUMI_PIECE_CONTROL = 3,
    LUMI_PIECE_USER = 4, LUMI_PIECE_UNUSED = 5, LUMI_PIECE_BYTE = 6,
};

struct LumiTokHash;
struct LumiTokPairs;
struct LumiTokRegex;

/* An added/special token as text matches it (may differ from its vocab
 * entry: llama2.c files store BOS as "\n<s>\n"). */
typedef struct {
    char *text;
    int len, id;
    int special; /* 1: only with LUMI_ENC_SPECIAL; 0: always matched */
} LumiTokAdded;

typedef struct {
    LumiTokKind kind;
    const char *format;   /* "llama2.c", "sentencepiece", "tiktoken", "tokenizer.json", "gguf" */
    char **vocab;         /* [vocab_size] NUL-terminated pieces (raw bytes for BPE) */
    int *len;             /* [vocab_size] piece byte lengths */
    float *scores;        /* [vocab_size] SPM merge priorities (higher first) */
    unsigned char *type;  /* [vocab_size] LUMI_PIECE_* */
    int vocab_size;
    int max_token_length;
    int bos_id, eos_id;   /* -1: none */
    int unk_id;           /* -1: none */
    int add_bos;          /* the tokenizer's own default for a leading BOS */
    int add_dummy_prefix; /* SPM: a space before the text */
    int byte_id[256];     /* SPM byte fallback / BPE single-byte tokens; -1 none */
    int stop[16];         /* end tokens from the tokenizer's metadata */
    int n_stop;
    LumiTokAdded *added;  /* matched in text before pre-tokenization */
    int n_added;
    int ignore_merges;    /* BPE: a whole pre-token in the vocab is one token */
    int nfc;              /* normalise text to Unicode NFC first (Qwen's normalizer) */
    struct LumiTokHash *index;   /* piece bytes -> id */
    struct LumiTokPairs *pairs;  /* BPE: (left, right) -> rank, merged id */
    struct LumiTokRegex *regex;  /* BPE: pre-tokenizer */
    char byte_pieces[256][2];
    char *oov;            /* scratch for "<id N>" (see lumi_decode_piece) */
    char *path;
} LumiTokenizer;

/* Loads any supported file, recognised by its content: llama2.c .bin,
 * sentencepiece .model, tiktoken .model, tokenizer.json, GGUF. Metadata
 * beside it (tokenizer_config.json, generation_config.json, config.json)
 * adds BOS and end tokens. */
int lumi_tokenizer_load(const char *path, LumiTokenizer *t, LumiErr *e);
void lumi_tokenizer_free(LumiTokenizer *t);

/* The tokenizer of a model: `override` (-z) when given, else the model file
 * itself when it embeds one (GGUF), else tokenizer.json / tokenizer.model
 * beside its config.json (model_path a directory or a file in one).
 * Returns 0, or -1 with e set; *found = 0 (and 0 returned) when there is
 * none to find and no override. */
int lumi_tokenizer_for_model(const char *model_path, const char *override, LumiTokenizer *t, int *found, LumiErr *e);

enum { LUMI_ENC_BOS = 1, LUMI_ENC_EOS = 2, LUMI_ENC_SPECIAL = 4 };
/* Encodes len bytes (any bytes, NUL included); *ids is malloc'd. Never
 * fails. BOS/EOS are added only when the tokenizer has them. */
void lumi_encode_n(const LumiTokenizer *t, const char *text, size_t len, int flags, int **ids, int *n);
/* Encodes NUL-terminated text, special tokens as plain text. */
void lumi_encode(const LumiTokenizer *t, const char *text, int bos, int eos, int **ids, int *n);

/* The bytes token `id` stands for, given the previous token (a leading
 * space after BOS is dropped, as sentencepiece decoding does). *len bytes,
 * not NUL-terminated for byte tokens of value 0. An id outside the
 * vocabulary decodes as "<id N>" (valid until the next such call on t). */
const char *lumi_decode_piece(const LumiTokenizer *t, int prev, int id, int *len);
/* Piece lookup (exact bytes of a vocabulary entry): id or -1. */
int lumi_token_lookup(const LumiTokenizer *t, const char *s);

/* The text as the tokenizer's normalizer leaves it (NFC for Qwen's
 * tokenizer.json): decode(encode(x)) gives this. Returns the length; *out
 * is a malloc'd copy, or NULL when the text is unchanged. */
size_t lumi_tokenizer_normalize(const LumiTokenizer *t, const char *s, size_t n, char **out);

/* BOS id, or -1 when the model has none (Qwen). */
int lumi_tokenizer_bos(const LumiTokenizer *t);
/* The end tokens generation stops at (EOS, EOT, <|eot_id|>, <|im_end|>,
 * eos_token_id lists, ...): writes up to max ids, returns the count. */
int lumi_tokenizer_stop_ids(const LumiTokenizer *t, int *ids, int max);
/* The id of a special/added token written as text ("<|eot_id|>", "<s>"),
 * or -1. */
int lumi_token_special(const LumiTokenizer *t, const char *text);

#endif
