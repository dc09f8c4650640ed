/* model.h: the model description (hyperparameters + architecture variants)
 * and its weights. Everything a backend needs to know about a model lives
 * here, so new formats (safetensors, GGUF) only have to fill these structs. */
#ifndef LUMI_MODEL_H
#define LUMI_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "util.h"

typedef enum { LUMI_F32 = 0, LUMI_BF16, LUMI_F16, LUMI_Q8_0 } LumiDType;
const char *lumi_dtype_name(LumiDType t);

/* RoPE pairing. INTERLEAVED rotates (x[2i], x[2i+1]) as Meta's original
 * code and llama2.c do; HALF rotates (x[i], x[i + head_size/2]) as Hugging
 * Face's rotate_half does (its q/k rows are permuted to match). */
typedef enum { LUMI_ROPE_INTERLEAVED = 0, LUMI_ROPE_HALF } LumiRopeStyle;

/* Rotary frequency scaling for contexts longer than the training one.
 * LINEAR divides every frequency by `factor`; LLAMA3 (Llama 3.1/3.2) divides
 * only the low frequencies and blends the band between (engine/model.c);
 * FACTORS divides each pair's frequency by its own factor, read from the
 * file (a GGUF's rope_freqs tensor: how llama.cpp's converter stores Llama
 * 3.1/3.2's scaling; LumiModel.rope_factors). */
typedef enum {
    LUMI_ROPE_SCALING_NONE = 0,
    LUMI_ROPE_SCALING_LINEAR,
    LUMI_ROPE_SCALING_LLAMA3,
    LUMI_ROPE_SCALING_FACTORS
} LumiRopeScaling;

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
    int qk_norm;           /* per-head RMSNorm of q and k before RoPE (Qwen 3) */
    LumiRopeScaling rope_scaling;
    float rope_factor;            /* LINEAR and LLAMA3 */
    float rope_low_freq_factor;   /* LLAMA3 */
    float rope_high_freq_factor;  /* LLAMA3 */
    int rope_orig_ctx;            /* LLAMA3: original_max_position_embeddings */
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
    LumiMat q_norm, k_norm;         /* [head_size] f32; data NULL unless qk_norm */
} LumiLayer;

typedef struct {
    LumiMat tok_emb;                /* [vocab, dim] */
    LumiLayer *layers;              /* [n_layers] */
    LumiMat rms_final;              /* [dim] f32 */
    LumiMat cls;                    /* [vocab, dim]; aliases tok_emb when shared */
} LumiWeights;

/* Rotary tables, [seq_len, head_size/2] each, for positions 0..seq_len-1
 * only: they grow with the positions a run reaches (lumi_model_rope_reserve),
 * so a header claiming a huge context costs nothing until it is used.
 * Angles are computed in double from freq[] and rounded once, so every
 * backend starts from the same values. */
typedef struct {
    float *cos, *sin;
    int seq_len, half;   /* seq_len: rows computed so far */
    LumiRopeStyle style;
    double *freq;        /* [half] per-pair frequency, rope scaling applied */
    int max_positions;   /* the model's context length */
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
    LumiMap *shards;     /* further mappings (sharded checkpoints), n_shards of them */
    int n_shards;
    struct LumiWeightCache *wcache; /* the weights= tables built from w (engine/weights.h) */
    const float *rope_factors; /* LUMI_ROPE_SCALING_FACTORS: [head_size/2] divisors, in the mapping */
} LumiModel;

/* Checks the hyperparameters; names `what` (usually the file) in the error. */
int lumi_config_validate(const LumiConfig *c, const char *what, LumiErr *e);
/* Fills head_size and kv_dim from the others. */
void lumi_config_derive(LumiConfig *c);

/* Load by sniffing the format. The model keeps its own copy of path. */
int lumi_model_load(const char *path, LumiModel *m, LumiErr *e);
void lumi_model_free(LumiModel *m);

/* CRC-32 (zlib) and size of the bytes the model was read from: the file,
 * or for a Hugging Face folder its config.json then every tensor file in
 * order. For a single file it equals the file's CRC-32. */
int lumi_model_crc32(const LumiModel *m, uint32_t *crc, size_t *bytes, LumiErr *e);
/* config.json beside (or in) a Hugging Face path, malloc'd (engine/hf_model.c). */
char *lumi_hf_config_path(const char *path);

/* Parameter count and bytes of weights a forward pass reads per token. */
size_t lumi_param_count(const LumiConfig *c);
size_t lumi_weight_bytes_per_token(const LumiModel *m);

/* Computes the frequencies; the table starts empty. */
int lumi_rope_init(LumiRope *r, const LumiConfig *c);
/* Frequency of pair i (of head_size/2) with c's rope scaling applied. */
double lumi_rope_freq(const LumiConfig *c, int i);
/* Grows r's table to cover positions [0, positions). */
int lumi_rope_reserve(LumiRope *r, int positions, LumiErr *e);
/* The same for a loaded model: the table is the one part of a model that a
 * run fills in. Call it before kernels run (forward does, per call); it is
 * not safe against another thread running the same model. */
int lumi_model_rope_reserve(const LumiModel *m, int positions, LumiErr *e);
void lumi_rope_free(LumiRope *r);

/* Format loaders (engine/llama2c.c). */
int lumi_llama2c_load(const char *path, LumiModel *m, LumiErr *e);
/* Hugging Face layout: a folder with config.json + model.safetensors, or the
 * .safetensors file with config.json beside it (engine/safetensors.c). */
int lumi_safetensors_load(const char *path, LumiModel *m, LumiErr *e);
/* GGUF, architectures llama and qwen2 (engine/gguf_model.c). */
int lumi_gguf_load(const char *path, LumiModel *m, LumiErr *e);

#endif
