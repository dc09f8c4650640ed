/* model.h: the model description (hyperparameters + architecture variants)
 * and its weights. Everything a backend needs to know about a model lives
 * here, so new formats (safetensors, GGUF) only have to fill these structs. */
#ifndef LUMI_MODEL_H
#define LUMI_MODEL_H
#include <stddef.h>
#include "util.h"

typedef enum { LUMI_F32 = 0, LUMI_BF16, LUMI_F16, LUMI_Q8_0 } LumiDType;
const char *lumi_dtype_name(LumiDType t);

/* RoPE pairing. INTERLEAVED rotates (x[2i], x[2i+1]) as Meta's original
 * code and llama2.c do; HALF rotates (x[i], x[i + head_size/2]) as Hugging
 * Face's rotate_half does (its q/k rows are permuted to match). */
typedef enum { LUMI_ROPE_INTERLEAVED = 0, LUMI_ROPE_HALF } LumiRopeStyle;

typedef struct {
    int dim;          /* residual width */
    int hidden_dim;   /* SwiGLU inner width */
    int n_layers;
    int n_heads;      /* query heads */
    int n_kv_heads;   /* key/value heads (GQA when < n_heads) */
    int vocab_size;
    int seq_len;      /* context length */
    int head_size;    /* dim / n_heads */
    int kv_dim;       /* n_kv_heads * head_size */
    float rope_theta;
    float norm_eps;
    LumiRopeStyle rope_style;
    int shared_classifier; /* classifier is the token embedding */
    int qkv_bias;          /* q/k/v projections carry a bias (Qwen) */
} LumiConfig;

/* A weight tensor, row-major [rows, cols]: y = W x has `rows` outputs; a
 * vector (norm weight, bias) is one row. In a model, data points into the
 * file mapping or the model's own memory; in a backend's weights() table it
 * is whatever that backend made of it (a device handle on a GPU). data is
 * NULL for an absent optional tensor (biases). */
typedef struct {
    const void *data;
    LumiDType type;
    int rows, cols;
} LumiMat;

/* A host f32 vector as a one-row LumiMat (NULL stays absent). */
static inline LumiMat lumi_vec(const float *p, int n) { return (LumiMat){p, LUMI_F32, 1, n}; }

typedef struct {
    LumiMat rms_att, rms_ffn;       /* [dim] f32 */
    LumiMat wq, wk, wv, wo;         /* [dim,dim] [kv_dim,dim] [kv_dim,dim] [dim,dim] */
    LumiMat w1, w2, w3;             /* gate [hidden,dim], down [dim,hidden], up [hidden,dim] */
    LumiMat bq, bk, bv;             /* f32; data NULL unless qkv_bias */
} LumiLayer;

typedef struct {
    LumiMat tok_emb;                /* [vocab, dim] */
    LumiLayer *layers;              /* [n_layers] */
    LumiMat rms_final;              /* [dim] f32 */
    LumiMat cls;                    /* [vocab, dim]; aliases tok_emb when shared */
} LumiWeights;

/* Precomputed rotary tables, [seq_len, head_size/2] each. Computed in double
 * and rounded once, so every backend starts from the same angles. */
typedef struct {
    float *cos, *sin;
    int seq_len, half;
    LumiRopeStyle style;
} LumiRope;

typedef struct {
    char *path;
    const char *format;  /* "llama2c-v0", "llama2c-v1", ... */
    LumiConfig cfg;
    LumiWeights w;
    LumiRope rope;
    LumiMap map;         /* read-only mapping the weights point into */
    LumiDType file_dtype;/* as stored in the file (weights may be widened) */
    void *owned;         /* heap copy of widened (bf16/f16 -> f32) or misaligned tensors */
    struct LumiWeightCache *wcache; /* the weights= tables built from w (engine/weights.h) */
} LumiModel;

/* Checks the hyperparameters; names `what` (usually the file) in the error. */
int lumi_config_validate(const LumiConfig *c, const char *what, LumiErr *e);
/* Fills head_size and kv_dim from the others. */
void lumi_config_derive(LumiConfig *c);

/* Load by sniffing the format. The model keeps its own copy of path. */
int lumi_model_load(const char *path, LumiModel *m, LumiErr *e);
void lumi_model_free(LumiModel *m);

/* Parameter count and bytes of weights a forward pass reads per token. */
size_t lumi_param_count(const LumiConfig *c);
size_t lumi_weight_bytes_per_token(const LumiModel *m);

int lumi_rope_init(LumiRope *r, const LumiConfig *c);
void lumi_rope_free(LumiRope *r);

/* Format loaders (engine/llama2c.c). */
int lumi_llama2c_load(const char *path, LumiModel *m, LumiErr *e);
/* Hugging Face layout: a folder with config.json + model.safetensors, or the
 * .safetensors file with config.json beside it (engine/safetensors.c). */
int lumi_safetensors_load(const char *path, LumiModel *m, LumiErr *e);
/* GGUF, architectures llama and qwen2 (engine/gguf_model.c). */
int lumi_gguf_load(const char *path, LumiModel *m, LumiErr *e);

#endif
