/* hf_write.c: writes any loaded model as a Hugging Face folder
 * (config.json + model.safetensors, or N shards + an index), in the Llama
 * layout or Qwen 1.0's. Used by `lumi synth` to make test models of the
 * shapes users run, never to fetch them.
 *
 * A model held with interleaved RoPE (llama2.c, GGUF llama) gets its q/k
 * rows (and q/k biases and norms) permuted to rotate-half order, as Hugging
 * Face's conversion script does; a rotate-half model is written as is. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "hf.h"
#include "hf_write.h"
#include "weights.h"

/* A tensor is up to three row blocks stacked (Qwen 1.0's fused c_attn). */
typedef struct {
    const float *data;
    int rows;
    int heads; /* >0: permute rows to rotate-half order within each of `heads` heads */
} Part;

typedef struct {
    char name[96];
    int cols;  /* 0: a vector */
    Part part[3];
    int n_parts;
    int shard;
} Tensor;

typedef struct {
    Tensor *t;
    int n;
    int permute; /* source is interleaved */
} List;

static Tensor *add(List *l, const char *name, int cols) {
    l->t = lumi_xrealloc(l->t, ((size_t)l->n + 1) * sizeof *l->t);
    Tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->cols = cols;
    return t;
}

static void part(List *l, Tensor *t, const void *data, int rows, int heads) {
    t->part[t->n_parts++] = (Part){data, rows, l->permute ? heads : 0};
}

static void one(List *l, const char *name, const void *data, int rows, int cols, int heads) {
    part(l, add(l, name, cols), data, rows, heads);
}

static size_t rows_of(const Tensor *t) {
    size_t r = 0;
    for (int i = 0; i < t->n_parts; i++) r += (size_t)t->part[i].rows;
    return r;
}

/* Row r of the rotate-half matrix is row src(r) of the interleaved one:
 * within a head, the first half takes the even rows, the second the odd. */
static int src_row(int r, int heads, int rows) {
    int hs = rows / heads, h = r / hs, k = r % hs, half = hs / 2;
    return h * hs + 2 * (k % half) + k / half;
}

#define NAME(fmt, ...) (snprintf(nm, sizeof nm, fmt, __VA_ARGS__), nm)

static void list_llama(List *l, const LumiModel *m) {
    const LumiConfig *c = &m->cfg;
    int d = c->dim, kv = c->kv_dim, hd = c->hidden_dim, hs = c->head_size;
    char nm[96];
    one(l, "model.embed_tokens.weight", m->w.tok_emb.data, c->vocab_size, d, 0);
    for (int i = 0; i < c->n_layers; i++) {
        const LumiLayer *L = &m->w.layers[i];
        one(l, NAME("model.layers.%d.input_layernorm.weight", i), L->rms_att.data, d, 0, 0);
        one(l, NAME("model.layers.%d.post_attention_layernorm.weight", i), L->rms_ffn.data, d, 0, 0);
        one(l, NAME("model.layers.%d.self_attn.q_proj.weight", i), L->wq.data, d, d, c->n_heads);
        one(l, NAME("model.layers.%d.self_attn.k_proj.weight", i), L->wk.data, kv, d, c->n_kv_heads);
        one(l, NAME("model.layers.%d.self_attn.v_proj.weight", i), L->wv.data, kv, d, 0);
        one(l, NAME("model.layers.%d.self_attn.o_proj.weight", i), L->wo.data, d, d, 0);
        one(l, NAME("model.layers.%d.mlp.gate_proj.weight", i), L->w1.data, hd, d, 0);
        one(l, NAME("model.layers.%d.mlp.down_proj.weight", i), L->w2.data, d, hd, 0);
        one(l, NAME("model.layers.%d.mlp.up_proj.weight", i), L->w3.data, hd, d, 0);
        if (c->qkv_bias) {
            one(l, NAME("model.layers.%d.self_attn.q_proj.bias", i), L->bq.data, d, 0, c->n_heads);
            one(l, NAME("model.layers.%d.self_attn.k_proj.bias", i), L->bk.data, kv, 0, c->n_kv_heads);
            one(l, NAME("model.layers.%d.self_attn.v_proj.bias", i), L->bv.data, kv, 0, 0);
        }
        if (c->qk_norm) {
            one(l, NAME("model.layers.%d.self_attn.q_norm.weight", i), L->q_norm.data, hs, 0, 1);
            one(l, NAME("model.layers.%d.self_attn.k_norm.weight", i), L->k_norm.data, hs, 0, 1);
        }
    }
    one(l, "model.norm.weight", m->w.rms_final.data, d, 0, 0);
    if (!c->shared_classifier) one(l, "lm_head.weight", m->w.cls.data, c->vocab_size, d, 0);
}

static void list_qwen1(List *l, const LumiModel *m, const float *zeros) {
    const LumiConfig *c = &m->cfg;
    int d = c->dim, hd = c->hidden_dim, H = c->n_heads;
    char nm[96];
    one(l, "transformer.wte.weight", m->w.tok_emb.data, c->vocab_size, d, 0);
    for (int i = 0; i < c->n_layers; i++) {
        const LumiLayer *L = &m->w.layers[i];
        one(l, NAME("transformer.h.%d.ln_1.weight", i), L->rms_att.data, d, 0, 0);
        one(l, NAME("transformer.h.%d.ln_2.weight", i), L->rms_ffn.data, d, 0, 0);
        Tensor *t = add(l, NAME("transformer.h.%d.attn.c_attn.weight", i), d);
        part(l, t, L->wq.data, d, H), part(l, t, L->wk.data, d, H), part(l, t, L->wv.data, d, 0);
        t = add(l, NAME("transformer.h.%d.attn.c_attn.bias", i), 0);
        part(l, t, L->bq.data ? L->bq.data : zeros, d, H), part(l, t, L->bk.data ? L->bk.data : zeros, d, H);
        part(l, t, L->bv.data ? L->bv.data : zeros, d, 0);
        one(l, NAME("transformer.h.%d.attn.c_proj.weight", i), L->wo.data, d, d, 0);
        one(l, NAME("transformer.h.%d.mlp.w1.weight", i), L->w3.data, hd, d, 0); /* up */
        one(l, NAME("transformer.h.%d.mlp.w2.weight", i), L->w1.data, hd, d, 0); /* gate */
        one(l, NAME("transformer.h.%d.mlp.c_proj.weight", i), L->w2.data, d, hd, 0);
    }
    one(l, "transformer.ln_f.weight", m->w.rms_final.data, d, 0, 0);
    if (!c->shared_classifier) one(l, "lm_head.weight", m->w.cls.data, c->vocab_size, d, 0);
}

#undef NAME

static size_t elem_size(LumiDType t) { return t == LUMI_F32 ? 4 : 2; }

static size_t tensor_bytes(const Tensor *t, LumiDType dt) {
    return rows_of(t) * (size_t)(t->cols ? t->cols : 1) * elem_size(dt);
}

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static int put_tensor(FILE *f, const Tensor *t, LumiDType dt) {
    int cols = t->cols ? t->cols : 1;
    for (int p = 0; p < t->n_parts; p++) {
        const Part *pt = &t->part[p];
        for (int r = 0; r < pt->rows; r++) {
            const float *row = pt->data + (size_t)(pt->heads ? src_row(r, pt->heads, pt->rows) : r) * cols;
            if (dt == LUMI_F32) {
                if (fwrite(row, 4, (size_t)cols, f) != (size_t)cols) return -1;
                continue;
            }
            for (int k = 0; k < cols; k++) {
                uint16_t b = to_bf16(row[k]);
                if (fwrite(&b, 2, 1, f) != 1) return -1;
            }
        }
    }
    return 0;
}

static const char *dtype_str(LumiDType t) { return t == LUMI_F32 ? "F32" : "BF16"; }

static int write_shard(const List *l, int shard, const char *path, LumiDType dt, LumiErr *e) {
    json_t *h = json_object();
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    size_t off = 0;
    for (int i = 0; i < l->n; i++) {
        const Tensor *t = &l->t[i];
        if (t->shard != shard) continue;
        json_t *shape = t->cols ? json_pack("[I,I]", (json_int_t)rows_of(t), (json_int_t)t->cols)
                                : json_pack("[I]", (json_int_t)rows_of(t));
        size_t n = tensor_bytes(t, dt);
        json_object_set_new(h, t->name, json_pack("{s:s,s:o,s:[I,I]}", "dtype", dtype_str(dt), "shape", shape,
                                                  "data_offsets", (json_int_t)off, (json_int_t)(off + n)));
        off += n;
    }
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(text);
        return lumi_err(e, "%s: cannot write: %s", path, strerror(errno));
    }
    uint64_t h64 = padded;
    int ok = fwrite(&h64, 8, 1, f) == 1 && fwrite(text, 1, hl, f) == hl;
    for (size_t i = hl; i < padded; i++) ok = ok && fputc(' ', f) != EOF;
    free(text);
    for (int i = 0; i < l->n && ok; i++)
        if (l->t[i].shard == shard) ok = put_tensor(f, &l->t[i], dt) == 0;
    if (ok) lumi_drop_file_cache(f); /* the next load gets 2 MiB pages */
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : lumi_err(e, "%s: write failed", path);
}

static int write_json(const char *path, json_t *j, LumiErr *e) {
    int rc = json_dump_file(j, path, JSON_INDENT(2)) == 0 ? 0 : lumi_err(e, "%s: cannot write", path);
    json_decref(j);
    return rc;
}

static json_t *config_json(const LumiModel *m, LumiHfLayout layout, LumiDType dt) {
    const LumiConfig *c = &m->cfg;
    json_t *j;
    if (layout == LUMI_HF_QWEN1) {
        j = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:b,s:b}", "architectures",
                      "QWenLMHeadModel", "model_type", "qwen", "hidden_size", c->dim, "intermediate_size",
                      2 * c->hidden_dim, "num_hidden_layers", c->n_layers, "num_attention_heads", c->n_heads,
                      "kv_channels", c->head_size, "vocab_size", c->vocab_size, "seq_length", c->seq_len,
                      "max_position_embeddings", c->seq_len, "rotary_emb_base", (double)c->rope_theta,
                      "layer_norm_epsilon", (double)c->norm_eps, "rotary_pct", 1.0, "no_bias", 1,
                      "tie_word_embeddings", c->shared_classifier);
    } else {
        const char *type = c->qk_norm ? "qwen3" : c->qkv_bias ? "qwen2" : "llama";
        j = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:b,s:s}", "model_type", type, "hidden_size", c->dim,
                      "intermediate_size", c->hidden_dim, "num_hidden_layers", c->n_layers, "num_attention_heads",
                      c->n_heads, "num_key_value_heads", c->n_kv_heads, "vocab_size", c->vocab_size,
                      "max_position_embeddings", c->seq_len, "rope_theta", (double)c->rope_theta, "rms_norm_eps",
                      (double)c->norm_eps, "tie_word_embeddings", c->shared_classifier, "hidden_act", "silu");
        json_object_set_new(j, "head_dim", json_integer(c->head_size));
        if (c->rope_scaling == LUMI_ROPE_SCALING_LINEAR)
            json_object_set_new(j, "rope_scaling", json_pack("{s:s,s:f}", "rope_type", "linear", "factor",
                                                             (double)c->rope_factor));
        else if (c->rope_scaling == LUMI_ROPE_SCALING_LLAMA3)
            json_object_set_new(j, "rope_scaling",
                                json_pack("{s:s,s:f,s:f,s:f,s:i}", "rope_type", "llama3", "factor",
                                          (double)c->rope_factor, "low_freq_factor", (double)c->rope_low_freq_factor,
                                          "high_freq_factor", (double)c->rope_high_freq_factor,
                                          "original_max_position_embeddings", c->rope_orig_ctx));
    }
    json_object_set_new(j, "torch_dtype", json_string(dt == LUMI_F32 ? "float32" : "bfloat16"));
    return j;
}

int lumi_hf_write(const LumiModel *m, const char *dir, const LumiHfWriteOpts *o, LumiErr *e) {
    const LumiConfig *c = &m->cfg;
    if (o->dtype != LUMI_F32 && o->dtype != LUMI_BF16) return lumi_err(e, "%s: hf output dtype must be f32 or bf16", dir);
    if (c->rope_scaling == LUMI_ROPE_SCALING_FACTORS) /* no config.json form: the divisors are not its parameters */
        return lumi_err(e, "%s: %s has per-pair RoPE divisors (GGUF rope_freqs), which config.json cannot express", dir,
                        m->path);
    if (o->layout == LUMI_HF_QWEN1 && (c->n_kv_heads != c->n_heads || c->qk_norm || c->rope_scaling))
        return lumi_err(e, "%s: the Qwen 1.0 layout has no GQA, q/k norm or rope scaling", dir);
    /* the writer reads f32: the model's f32 table (its own tensors when
     * they are f32 already, else widened once; see engine/weights.h) */
    const LumiWeights *w32;
    if (lumi_weights_get(m, LUMI_F32, &w32, NULL, e) != 0) return -1;
    LumiModel f32 = *m;
    f32.w = *w32;
    m = &f32;
    if (lumi_mkdirs(dir, e) != 0) return -1;
    List l = {.permute = c->rope_style == LUMI_ROPE_INTERLEAVED};
    float *zeros = lumi_xcalloc((size_t)c->dim, sizeof(float));
    if (o->layout == LUMI_HF_QWEN1) list_qwen1(&l, m, zeros);
    else list_llama(&l, m);
    int shards = o->shards < 1 ? 1 : o->shards > l.n ? l.n : o->shards;
    /* contiguous runs of tensors of about equal bytes, none empty */
    size_t total = 0, acc = 0;
    for (int i = 0; i < l.n; i++) total += tensor_bytes(&l.t[i], o->dtype);
    for (int i = 0, s = 0; i < l.n; i++) {
        if (s < shards - 1 && acc > 0 && (acc >= total / (size_t)shards * (size_t)(s + 1) || l.n - i <= shards - 1 - s)) s++;
        l.t[i].shard = s;
        acc += tensor_bytes(&l.t[i], o->dtype);
    }
    char path[4200];
    int rc = 0;
    json_t *map = json_object();
    for (int s = 0; s < shards && rc == 0; s++) {
        char file[64];
        if (shards == 1) snprintf(file, sizeof file, "model.safetensors");
        else snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        rc = write_shard(&l, s, path, o->dtype, e);
        for (int i = 0; i < l.n; i++)
            if (l.t[i].shard == s) json_object_set_new(map, l.t[i].name, json_string(file));
    }
    if (rc == 0 && shards > 1) {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        rc = write_json(path, json_pack("{s:{s:I},s:O}", "metadata", "total_size", (json_int_t)total, "weight_map", map), e);
    }
    json_decref(map);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        rc = write_json(path, config_json(m, o->layout, o->dtype), e);
    }
    free(l.t);
    free(zeros);
    return rc;
}
