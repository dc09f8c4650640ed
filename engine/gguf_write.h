/* gguf_write.h: writing GGUF v3 files that llama.cpp and lumi read:
 * architecture "llama", the general.* and llama.* keys, the tokenizer when
 * one is given (tokenizer.ggml.*, sentencepiece "llama"), tensors named as
 * llama.cpp's converter names them, data aligned to 64 bytes.
 *
 * The writer streams: tensor data comes from a callback, row range by row
 * range, in the order the tensors are listed (which is also their order in
 * the file), so a 7B-shape model is written without holding it in memory.
 * Output goes to PATH.tmp and is renamed into place when complete. */
#ifndef LUMI_GGUF_WRITE_H
#define LUMI_GGUF_WRITE_H
#include "model.h"
#include "tokenizer.h"

typedef struct {
    char name[64];
    LumiDType type;
    int rows, cols; /* a vector (1-D tensor) has rows == 0 and cols elements */
} LumiGgufTensor;

typedef struct {
    const LumiConfig *cfg;
    const char *name;              /* general.name */
    const LumiTokenizer *tok;      /* embedded when non-NULL */
    LumiDType dtype;               /* of the matrices: general.file_type */
    const LumiGgufTensor *tensors; /* in file order */
    int n_tensors;
    /* Rows [r0, r1) of tensor i in its type into dst (a vector: r0 = 0, r1 = 1). */
    int (*fill)(void *arg, int i, int r0, int r1, void *dst, LumiErr *e);
    void *arg;
} LumiGgufSpec;

int lumi_gguf_write(const char *path, const LumiGgufSpec *s, LumiErr *e);

/* The model with its matrices in dtype t (as weights=t holds them: the
 * same bytes, so the file loads back to bitwise the same logits); norms
 * f32. Refuses (naming the tensor and why) a model whose layout GGUF
 * "llama" cannot carry (q/k/v biases, rotate-half RoPE) or a matrix that
 * t cannot represent (q8_0 rows not whole 32-blocks, f16 overflow). */
int lumi_gguf_write_model(const char *path, const LumiModel *m, const LumiTokenizer *tok, LumiDType t, LumiErr *e);

#endif
