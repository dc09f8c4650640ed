/* gguf_model.c: Llama-family models from GGUF. llama.cpp's converter
 * stores q/k rows of "llama" models in Meta's interleaved RoPE order, and
 * "qwen2" models in Hugging Face's rotate-half order with q/k/v biases.
 * ggml shapes list the contiguous dimension first: a [rows, cols] matrix
 * has ne = {cols, rows}. Matrices (F32, F16, BF16, Q8_0) are used in place
 * from the mapping in their own dtype, so a 7 GB Q8_0 file costs 7 GB;
 * engine/weights.c converts or realigns them per path (weights=). Norm
 * weights and biases are widened to f32 here: backends take them as f32.
 * Q8_0 scales are checked once at load: a NaN or infinite scale would
 * poison every logit, so it is refused naming the tensor. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "gguf.h"
#include "model.h"

typedef struct {
    GgufFile *g;
    float *arena;
    size_t used, cap;
    LumiDType dtype; /* of the matrices, for reporting */
    LumiErr *e;
} Ld;

static LumiDType lumi_type(uint32_t t) {
    return t == GGML_F16 ? LUMI_F16 : t == GGML_BF16 ? LUMI_BF16 : t == GGML_Q8_0 ? LUMI_Q8_0 : LUMI_F32;
}

/* Refuses a Q8_0 tensor whose rows are not whole blocks or whose block
 * scales are not finite. */
static int check_q8_0(Ld *ld, const GgufTensor *t, const char *name, int rows, int cols) {
    if (cols % 32 != 0)
        return lumi_err(ld->e, "%s: tensor '%s' is Q8_0 with %d columns, not a multiple of 32", ld->g->path, name, cols);
    size_t blocks = (size_t)rows * (size_t)(cols / 32);
    for (size_t b = 0; b < blocks; b++) {
        uint16_t h;
        memcpy(&h, t->data + 34 * b, 2);
        if ((h & 0x7c00u) == 0x7c00u)
            return lumi_err(ld->e, "%s: tensor '%s' block %zu (row %zu) has a %s scale", ld->g->path, name, b,
                            b / (size_t)(cols / 32), (h & 0x3ffu) ? "NaN" : "infinite");
    }
    return 0;
}

/* Matrix `name` [rows, cols], in place in its own dtype. */
static const void *get_mat(Ld *ld, const char *name, int rows, int cols, LumiDType *type) {
    const GgufTensor *t = lumi_gguf_tensor(ld->g, name);
    if (!t) {
        lumi_err(ld->e, "%s: missing tensor '%s'", ld->g->path, name);
        return NULL;
    }
    if (!(t->n_dims == 2 && t->ne[0] == (uint64_t)cols && t->ne[1] == (uint64_t)rows)) {
        lumi_err(ld->e, "%s: tensor '%s' has shape [%llu, %llu], expected %d x %d from the metadata", ld->g->path, name,
                 (unsigned long long)t->ne[0], (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 1), cols, rows);
        return NULL;
    }
    *type = ld->dtype = lumi_type(t->type);
    if (*type == LUMI_Q8_0 && check_q8_0(ld, t, name, rows, cols) != 0) return NULL;
    return t->data;
}

/* f32 data of tensor `name` shaped [rows, cols] (cols 0: vector [rows]). */
static const float *get(Ld *ld, const char *name, int rows, int cols, int optional) {
    const GgufTensor *t = lumi_gguf_tensor(ld->g, name);
    if (!t) {
        if (!optional) lumi_err(ld->e, "%s: missing tensor '%s'", ld->g->path, name);
        return NULL;
    }
    int ok = cols ? (t->n_dims == 2 && t->ne[0] == (uint64_t)cols && t->ne[1] == (uint64_t)rows)
                  : (t->n_dims == 1 && t->ne[0] == (uint64_t)rows);
    if (!ok) {
        lumi_err(ld->e, "%s: tensor '%s' has shape [%llu, %llu], expected %d x %d from the metadata", ld->g->path, name,
                 (unsigned long long)t->ne[0], (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 1), cols ? cols : rows,
                 cols ? rows : 1);
        return NULL;
    }
    if (cols) ld->dtype = lumi_type(t->type);
    if (t->type == GGML_F32 && (uintptr_t)t->data % 4 == 0) return (const float *)(const void *)t->data;
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    if (ld->used + n > ld->cap) {
        lumi_err(ld->e, "%s: internal: widening arena too small", ld->g->path);
        return NULL;
    }
    float *dst = ld->arena + ld->used;
    ld->used += n;
    lumi_widen(lumi_type(t->type), t->data, n, dst);
    return dst;
}

static int meta_int(GgufFile *g, const char *arch, const char *key, int required, int *out, LumiErr *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int64_t v;
    int r = lumi_gguf_get_int(g, k, &v);
    if (r > 0 && !required) return 0;
    if (r != 0 || v <= 0 || v > (1 << 30))
        return lumi_err(e, "%s: metadata '%s' is %s", g->path, k, r > 0 ? "missing" : "not a positive integer");
    *out = (int)v;
    return 0;
}

/* rope_freqs.weight (Llama 3.1/3.2 GGUFs): one f32 divisor per rotary
 * pair, each finite and positive; the model then uses FACTORS scaling.
 * Ignoring it would run Llama 3.1 with Llama 3's angles: wrong logits at
 * every position past the first, silently. */
static int rope_factors(const GgufFile *g, const char *path, LumiConfig *c, const float **out, LumiErr *e) {
    const GgufTensor *t = lumi_gguf_tensor(g, "rope_freqs.weight");
    *out = NULL;
    if (!t) return 0;
    int half = c->head_size / 2;
    if (t->type != GGML_F32 || t->n_dims != 1 || t->ne[0] != (uint64_t)half || (uintptr_t)t->data % 4 != 0)
        return lumi_err(e, "%s: tensor rope_freqs.weight must be f32 [%d] (head size %d / 2)", path, half, c->head_size);
    const float *f = (const float *)(const void *)t->data;
    for (int i = 0; i < half; i++)
        if (!(f[i] > 0) || !isfinite(f[i]))
            return lumi_err(e, "%s: tensor rope_freqs.weight[%d] is %g: a frequency divisor must be finite and > 0", path,
                            i, (double)f[i]);
    c->rope_scaling = LUMI_ROPE_SCALING_FACTORS;
    *out = f;
    return 0;
}

int lumi_gguf_load(const char *path, LumiModel *m, LumiErr *e) {
    GgufFile g;
    if (lumi_gguf_open(path, &g, e) != 0) return -1;
    m->map = g.map; /* the model owns the mapping from here on */
    int rc = -1;
    const char *arch_s;
    size_t arch_len;
    char arch[32];
    if (lumi_gguf_get_str(&g, "general.architecture", &arch_s, &arch_len) != 0 || arch_len >= sizeof arch) {
        lumi_err(e, "%s: missing general.architecture", path);
        goto out;
    }
    memcpy(arch, arch_s, arch_len);
    arch[arch_len] = 0;
    int qwen3 = !strcmp(arch, "qwen3"), qwen = qwen3 || !strcmp(arch, "qwen2");
    if (strcmp(arch, "llama") && !qwen) {
        lumi_err(e, "%s: architecture '%s' is not supported (llama, qwen2, qwen3)", path, arch);
        goto out;
    }
    LumiConfig *c = &m->cfg;
    memset(c, 0, sizeof *c);
    if (meta_int(&g, arch, "embedding_length", 1, &c->dim, e) || meta_int(&g, arch, "feed_forward_length", 1, &c->hidden_dim, e) ||
        meta_int(&g, arch, "block_count", 1, &c->n_layers, e) || meta_int(&g, arch, "attention.head_count", 1, &c->n_heads, e) ||
        meta_int(&g, arch, "context_length", 1, &c->seq_len, e))
        goto out;
    c->n_kv_heads = c->n_heads;
    if (meta_int(&g, arch, "attention.head_count_kv", 0, &c->n_kv_heads, e)) goto out;
    const GgufTensor *emb = lumi_gguf_tensor(&g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] > (1u << 22)) {
        lumi_err(e, "%s: missing or malformed token_embd.weight", path);
        goto out;
    }
    c->vocab_size = (int)emb->ne[1];
    double f;
    char k[128];
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    if (lumi_gguf_get_float(&g, k, &f) == 0) c->rope_theta = (float)f;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    if (lumi_gguf_get_float(&g, k, &f) == 0) c->norm_eps = (float)f;
    c->rope_style = qwen ? LUMI_ROPE_HALF : LUMI_ROPE_INTERLEAVED;
    c->shared_classifier = lumi_gguf_tensor(&g, "output.weight") == NULL;
    c->qkv_bias = lumi_gguf_tensor(&g, "blk.0.attn_q.bias") != NULL;
    c->qk_norm = qwen3; /* Qwen 3: RMSNorm of each head's q and k before RoPE */
    /* scaling schemes would change the angles: refuse rather than be wrong */
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    if (lumi_gguf_find(&g, k)) {
        lumi_err(e, "%s: RoPE scaling is not supported yet", path);
        goto out;
    }
    if (lumi_config_validate(c, path, e) != 0) goto out;
    lumi_config_derive(c);
    int rot = c->head_size; /* absent: the whole head rotates */
    if (meta_int(&g, arch, "rope.dimension_count", 0, &rot, e) != 0) goto out;
    if (rot != c->head_size) {
        lumi_err(e, "%s: partial rotary (rope.dimension_count %d < head size %d) is not supported", path, rot, c->head_size);
        goto out;
    }
    if (rope_factors(&g, path, c, &m->rope_factors, e) != 0) goto out;
    int key_len = c->head_size; /* Qwen3-0.6B/4B: head_dim is not dim / heads */
    if (meta_int(&g, arch, "attention.key_length", 0, &key_len, e) != 0) goto out;
    if (key_len != c->head_size) {
        lumi_err(e, "%s: attention.key_length %d differs from embedding_length / head_count = %d: not supported", path,
                 key_len, c->head_size);
        goto out;
    }

    /* the widening arena is sized by the metadata: bound it by the file
     * first (every supported type takes at least a byte per weight), so a
     * small file cannot claim gigabytes (found by fuzz/fuzz_gguf.c) */
    if (lumi_param_count(c) > g.map.size) {
        lumi_err(e, "%s: the metadata implies %zu weights but the file has only %zu bytes", path, lumi_param_count(c),
                 g.map.size);
        goto out;
    }
    /* the arena holds the widened vectors only: norms and biases */
    size_t vec_floats =
        (size_t)c->n_layers * (3 * (size_t)c->dim + 2 * (size_t)c->kv_dim + 2 * (size_t)c->head_size) + (size_t)c->dim;
    Ld ld = {&g, NULL, 0, vec_floats, LUMI_F32, e};
    ld.arena = m->owned = lumi_xmalloc(ld.cap * sizeof(float));
    int d = c->dim, hd = c->hidden_dim, kv = c->kv_dim, V = c->vocab_size, ok = 1;
    char name[96];
#define T(rows, cols, fmt, ...) (snprintf(name, sizeof name, fmt, __VA_ARGS__), get(&ld, name, rows, cols, 0))
#define M(dst, rows, cols, fmt, ...)                                                                      \
    (snprintf(name, sizeof name, fmt, __VA_ARGS__), (dst) = (LumiMat){NULL, LUMI_F32, rows, cols},           \
     (dst).data = get_mat(&ld, name, rows, cols, &(dst).type), ok = ok && (dst).data)
    M(m->w.tok_emb, V, d, "%s", "token_embd.weight");
    m->w.layers = lumi_xcalloc((size_t)c->n_layers, sizeof(LumiLayer));
    for (int l = 0; l < c->n_layers && ok; l++) {
        LumiLayer *L = &m->w.layers[l];
        L->rms_att = lumi_vec(T(d, 0, "blk.%d.attn_norm.weight", l), d);
        L->rms_ffn = lumi_vec(T(d, 0, "blk.%d.ffn_norm.weight", l), d);
        ok = L->rms_att.data && L->rms_ffn.data;
        M(L->wq, d, d, "blk.%d.attn_q.weight", l);
        M(L->wk, kv, d, "blk.%d.attn_k.weight", l);
        M(L->wv, kv, d, "blk.%d.attn_v.weight", l);
        M(L->wo, d, d, "blk.%d.attn_output.weight", l);
        M(L->w1, hd, d, "blk.%d.ffn_gate.weight", l);
        M(L->w2, d, hd, "blk.%d.ffn_down.weight", l);
        M(L->w3, hd, d, "blk.%d.ffn_up.weight", l);
        if (ok && c->qkv_bias) {
            L->bq = lumi_vec(T(d, 0, "blk.%d.attn_q.bias", l), d);
            L->bk = lumi_vec(T(kv, 0, "blk.%d.attn_k.bias", l), kv);
            L->bv = lumi_vec(T(kv, 0, "blk.%d.attn_v.bias", l), kv);
            ok = L->bq.data && L->bk.data && L->bv.data;
        }
        if (ok && c->qk_norm) {
            L->q_norm = lumi_vec(T(c->head_size, 0, "blk.%d.attn_q_norm.weight", l), c->head_size);
            L->k_norm = lumi_vec(T(c->head_size, 0, "blk.%d.attn_k_norm.weight", l), c->head_size);
            ok = L->q_norm.data && L->k_norm.data;
        }
    }
    if (ok) ok = (m->w.rms_final = lumi_vec(T(d, 0, "%s", "output_norm.weight"), d)).data != NULL;
    if (ok && !c->shared_classifier) M(m->w.cls, V, d, "%s", "output.weight");
    else m->w.cls = m->w.tok_emb;
#undef M
#undef T
    if (!ok) goto out;
    m->file_dtype = ld.dtype;
    m->format = "gguf";
    rc = 0;
out:
    lumi_gguf_close(&g, 1);
    return rc;
}
