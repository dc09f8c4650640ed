/* hf_model.c: Hugging Face checkpoints (config.json + model.safetensors, or
 * model.safetensors.index.json + shards) into a LumiModel.
 *
 * Hugging Face stores q_proj/k_proj rows permuted for rotate-half RoPE (and
 * Qwen trains that way), so these models run with LUMI_ROPE_HALF and need no
 * un-permuting. Loading is three passes, so that nothing is allocated from
 * what config.json claims until every tensor it implies has been found in
 * the files with the right shape and dtype:
 *   plan:   each weight the layout needs is looked up and checked;
 *   size:   the widening arena is the sum of the tensors that need it;
 *   bind:   matrices are used in place from the mapping in their own
 *           dtype (F32, BF16, F16: the weights= axis converts later, once,
 *           if a path asks for another); norm weights and biases, which
 *           every backend reads as f32, and misaligned tensors are widened
 *           once into the arena (exactly: every bf16/f16 value is an f32). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"
#include "hf.h"

/* One weight to fill: *dst = the tensor's data + off elements; mat (the
 * LumiMat dst belongs to, NULL for a vector) may keep the file's dtype. */
typedef struct {
    const LumiStTensor *t;
    const void **dst;
    size_t off;
    LumiMat *mat;
} Bind;

typedef struct {
    const char *path;      /* for messages: the file or index */
    const LumiStSet *set;
    Bind *b;
    int n, cap;
    LumiDType dtype;       /* of the first matrix; all must agree */
    int have_dtype;
    LumiErr *e;
    int rc;
} Plan;

static size_t elem_size(const LumiStTensor *t) { return t->type == LUMI_F32 ? 4 : 2; }

/* Used in place: an aligned matrix in any dtype, an aligned f32 vector. */
static int needs_copy(const Bind *b) {
    const LumiStTensor *t = b->t;
    if ((uintptr_t)t->data % elem_size(t) != 0) return 1;
    return !b->mat && t->type != LUMI_F32;
}

/* Finds `name` with shape [rows] (cols 0) or [rows, cols]; NULL and an
 * error unless it is there (optional: NULL, no error, when absent). */
static const LumiStTensor *need(Plan *p, const char *name, int rows, int cols, int optional) {
    if (p->rc != 0) return NULL;
    const LumiStTensor *t = lumi_st_find(p->set, name);
    if (!t) {
        if (!optional) p->rc = lumi_err(p->e, "%s: missing tensor '%s'", p->path, name);
        return NULL;
    }
    const char *file = p->set->files[t->shard];
    if (!t->known) {
        p->rc = lumi_err(p->e, "%s: tensor '%s': unsupported dtype '%s' (F32, BF16, F16)", file, name, t->dtype);
        return NULL;
    }
    if (t->ndim != (cols ? 2 : 1) || t->shape[0] != rows || (cols && t->shape[1] != cols)) {
        if (cols) p->rc = lumi_err(p->e, "%s: tensor '%s': expected shape [%d, %d] from config.json", file, name, rows, cols);
        else p->rc = lumi_err(p->e, "%s: tensor '%s': expected shape [%d] from config.json", file, name, rows);
        return NULL;
    }
    if (cols) {
        if (!p->have_dtype) p->dtype = t->type, p->have_dtype = 1;
        else if (p->dtype != t->type) {
            p->rc = lumi_err(p->e, "%s: tensor '%s' is %s but others are %s (mixed dtypes)", file, name,
                             lumi_dtype_name(t->type), lumi_dtype_name(p->dtype));
            return NULL;
        }
    }
    return t;
}

static void bind(Plan *p, const LumiStTensor *t, const void **dst, size_t off, LumiMat *mat) {
    if (!t) return;
    if (p->n == p->cap) p->b = lumi_xrealloc(p->b, (size_t)(p->cap = p->cap ? 2 * p->cap : 64) * sizeof *p->b);
    p->b[p->n++] = (Bind){t, dst, off, mat};
}

static void vec(Plan *p, const char *name, int n, LumiMat *m) {
    *m = lumi_vec(NULL, n);
    bind(p, need(p, name, n, 0, 0), &m->data, 0, NULL);
}

static void mat(Plan *p, const char *name, int rows, int cols, LumiMat *m) {
    *m = (LumiMat){NULL, LUMI_F32, rows, cols};
    bind(p, need(p, name, rows, cols, 0), &m->data, 0, m);
}

/* Rows [r0, r0 + rows) of a fused matrix t with `cols` columns. */
static void slice(Plan *p, const LumiStTensor *t, int r0, int rows, int cols, LumiMat *m) {
    *m = (LumiMat){NULL, LUMI_F32, rows, cols};
    bind(p, t, &m->data, (size_t)r0 * (size_t)cols, m);
}

#define NAME(fmt, ...) (snprintf(nm, sizeof nm, fmt, __VA_ARGS__), nm)

static void plan_llama(Plan *p, LumiModel *m) {
    LumiConfig *c = &m->cfg;
    int d = c->dim, hd = c->hidden_dim, kv = c->kv_dim, hs = c->head_size;
    char nm[160];
    mat(p, "model.embed_tokens.weight", c->vocab_size, d, &m->w.tok_emb);
    /* optional parts are all-or-none: layer 0 decides */
    c->qkv_bias = lumi_st_find(p->set, "model.layers.0.self_attn.q_proj.bias") != NULL;
    c->qk_norm = lumi_st_find(p->set, "model.layers.0.self_attn.q_norm.weight") != NULL;
    for (int l = 0; l < c->n_layers && p->rc == 0; l++) {
        LumiLayer *L = &m->w.layers[l];
        vec(p, NAME("model.layers.%d.input_layernorm.weight", l), d, &L->rms_att);
        vec(p, NAME("model.layers.%d.post_attention_layernorm.weight", l), d, &L->rms_ffn);
        mat(p, NAME("model.layers.%d.self_attn.q_proj.weight", l), d, d, &L->wq);
        mat(p, NAME("model.layers.%d.self_attn.k_proj.weight", l), kv, d, &L->wk);
        mat(p, NAME("model.layers.%d.self_attn.v_proj.weight", l), kv, d, &L->wv);
        mat(p, NAME("model.layers.%d.self_attn.o_proj.weight", l), d, d, &L->wo);
        mat(p, NAME("model.layers.%d.mlp.gate_proj.weight", l), hd, d, &L->w1);
        mat(p, NAME("model.layers.%d.mlp.down_proj.weight", l), d, hd, &L->w2);
        mat(p, NAME("model.layers.%d.mlp.up_proj.weight", l), hd, d, &L->w3);
        if (c->qkv_bias) {
            vec(p, NAME("model.layers.%d.self_attn.q_proj.bias", l), d, &L->bq);
            vec(p, NAME("model.layers.%d.self_attn.k_proj.bias", l), kv, &L->bk);
            vec(p, NAME("model.layers.%d.self_attn.v_proj.bias", l), kv, &L->bv);
        }
        if (c->qk_norm) {
            vec(p, NAME("model.layers.%d.self_attn.q_norm.weight", l), hs, &L->q_norm);
            vec(p, NAME("model.layers.%d.self_attn.k_norm.weight", l), hs, &L->k_norm);
        }
    }
    vec(p, "model.norm.weight", d, &m->w.rms_final);
    /* tie_word_embeddings, or no lm_head at all, means a shared classifier */
    const LumiStTensor *head = c->shared_classifier ? NULL : need(p, "lm_head.weight", c->vocab_size, d, 1);
    c->shared_classifier = head == NULL;
    if (head) mat(p, "lm_head.weight", c->vocab_size, d, &m->w.cls);
}

/* Qwen 1.0 (modeling_qwen.py): c_attn is q, k and v stacked by rows, with
 * one bias [3 * dim]; the MLP computes c_proj(w1(x) * silu(w2(x))), so w2
 * is the gate and w1 the up projection. */
static void plan_qwen1(Plan *p, LumiModel *m) {
    LumiConfig *c = &m->cfg;
    int d = c->dim, hd = c->hidden_dim;
    char nm[160];
    mat(p, "transformer.wte.weight", c->vocab_size, d, &m->w.tok_emb);
    for (int l = 0; l < c->n_layers && p->rc == 0; l++) {
        LumiLayer *L = &m->w.layers[l];
        vec(p, NAME("transformer.h.%d.ln_1.weight", l), d, &L->rms_att);
        vec(p, NAME("transformer.h.%d.ln_2.weight", l), d, &L->rms_ffn);
        const LumiStTensor *qkv = need(p, NAME("transformer.h.%d.attn.c_attn.weight", l), 3 * d, d, 0);
        slice(p, qkv, 0, d, d, &L->wq);
        slice(p, qkv, d, d, d, &L->wk);
        slice(p, qkv, 2 * d, d, d, &L->wv);
        const LumiStTensor *b = need(p, NAME("transformer.h.%d.attn.c_attn.bias", l), 3 * d, 0, 0);
        L->bq = L->bk = L->bv = lumi_vec(NULL, d);
        bind(p, b, &L->bq.data, 0, NULL);
        bind(p, b, &L->bk.data, (size_t)d, NULL);
        bind(p, b, &L->bv.data, 2 * (size_t)d, NULL);
        mat(p, NAME("transformer.h.%d.attn.c_proj.weight", l), d, d, &L->wo);
        mat(p, NAME("transformer.h.%d.mlp.w2.weight", l), hd, d, &L->w1);
        mat(p, NAME("transformer.h.%d.mlp.w1.weight", l), hd, d, &L->w3);
        mat(p, NAME("transformer.h.%d.mlp.c_proj.weight", l), d, hd, &L->w2);
    }
    vec(p, "transformer.ln_f.weight", d, &m->w.rms_final);
    const LumiStTensor *head = c->shared_classifier ? NULL : need(p, "lm_head.weight", c->vocab_size, d, 1);
    c->shared_classifier = head == NULL;
    if (head) mat(p, "lm_head.weight", c->vocab_size, d, &m->w.cls);
}

#undef NAME

/* Sizes the arena by the tensors that need a copy, then fills every weight. */
static void bind_all(Plan *p, LumiModel *m) {
    const LumiStTensor *base = p->set->t;
    size_t *at = lumi_xmalloc((size_t)p->set->n * sizeof *at), total = 0;
    for (int i = 0; i < p->set->n; i++) at[i] = SIZE_MAX;
    for (int i = 0; i < p->n; i++) {
        const LumiStTensor *t = p->b[i].t;
        size_t k = (size_t)(t - base);
        if (needs_copy(&p->b[i]) && at[k] == SIZE_MAX) at[k] = total, total += t->nbytes / elem_size(t);
    }
    float *arena = total ? lumi_xmalloc(total * sizeof(float)) : NULL;
    unsigned char *widened = lumi_xcalloc((size_t)p->set->n, 1);
    m->owned = arena;
    for (int i = 0; i < p->n; i++) {
        const Bind *b = &p->b[i];
        const LumiStTensor *t = b->t;
        size_t k = (size_t)(t - base);
        if (needs_copy(b)) {
            if (!widened[k]) lumi_widen(t->type, t->data, t->nbytes / elem_size(t), arena + at[k]), widened[k] = 1;
            *b->dst = arena + at[k] + b->off;
        } else {
            *b->dst = (const unsigned char *)t->data + b->off * elem_size(t);
            if (b->mat) b->mat->type = t->type;
        }
    }
    free(widened);
    free(at);
}

/* Folder, .safetensors file or index -> tensors path and config.json path. */
static void locate(const char *path, char **st_path, char **cfg_path) {
    struct stat s;
    size_t n = strlen(path) + 40;
    *st_path = lumi_xmalloc(n);
    *cfg_path = lumi_xmalloc(n);
    if (stat(path, &s) == 0 && S_ISDIR(s.st_mode)) {
        snprintf(*st_path, n, "%s/model.safetensors", path);
        if (stat(*st_path, &s) != 0) snprintf(*st_path, n, "%s/model.safetensors.index.json", path);
        snprintf(*cfg_path, n, "%s/config.json", path);
    } else {
        snprintf(*st_path, n, "%s", path);
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(*cfg_path, n, "%.*s/config.json", (int)(slash - path), path);
        else snprintf(*cfg_path, n, "config.json");
    }
}

char *lumi_hf_config_path(const char *path) {
    char *st, *cfg;
    locate(path, &st, &cfg);
    free(st);
    return cfg;
}

int lumi_safetensors_load(const char *path, LumiModel *m, LumiErr *e) {
    char *st_path, *cfg_path;
    locate(path, &st_path, &cfg_path);
    LumiStSet set = {0};
    LumiHfLayout layout;
    Plan p = {.path = st_path, .set = &set, .e = e};
    int rc = -1;
    if (lumi_hf_config_read(cfg_path, &m->cfg, &layout, e) != 0 || lumi_st_open(st_path, &set, e) != 0) goto out;
    m->w.layers = lumi_xcalloc((size_t)m->cfg.n_layers, sizeof(LumiLayer));
    if (layout == LUMI_HF_QWEN1) plan_qwen1(&p, m);
    else plan_llama(&p, m);
    if (p.rc != 0) goto out;
    bind_all(&p, m);
    if (m->cfg.shared_classifier) m->w.cls = m->w.tok_emb;
    m->file_dtype = p.have_dtype ? p.dtype : LUMI_F32;
    m->format = layout == LUMI_HF_QWEN1 ? "safetensors-qwen1" : set.n_files > 1 ? "safetensors-sharded" : "safetensors";
    lumi_st_give_maps(&set, m);
    rc = 0;
out:
    lumi_st_close(&set);
    free(p.b);
    free(st_path);
    free(cfg_path);
    return rc;
}
