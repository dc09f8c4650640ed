/* safetensors.c: Hugging Face Llama checkpoints (config.json +
 * model.safetensors). A safetensors file is a u64 little-endian header
 * length, a JSON header mapping tensor names to {dtype, shape,
 * data_offsets [begin, end)} relative to the data that follows it.
 *
 * Hugging Face stores q_proj/k_proj rows permuted for rotate-half RoPE, so
 * these models run with LUMI_ROPE_HALF and need no un-permuting. F32 tensors
 * are used in place from the mapping; BF16 and F16 are widened to f32 once
 * at load (exactly: every bf16/f16 value is representable in f32) until the
 * backends grow native kernels for them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"
#include "jsonparse.h"
#include "model.h"

typedef struct {
    const char *path;      /* the .safetensors file, for messages */
    const LumiJson *hdr;
    const unsigned char *data; /* start of the data section */
    size_t data_size;
    LumiDType dtype;       /* of the first matrix seen; all must agree */
    float *owned;          /* arena for widened tensors */
    size_t owned_used, owned_cap;
    LumiErr *e;
} St;

static int dtype_of(const char *s, LumiDType *t, size_t *elem) {
    if (!strcmp(s, "F32")) *t = LUMI_F32, *elem = 4;
    else if (!strcmp(s, "BF16")) *t = LUMI_BF16, *elem = 2;
    else if (!strcmp(s, "F16")) *t = LUMI_F16, *elem = 2;
    else return -1;
    return 0;
}

/* Finds tensor `name` with the given shape (cols 0 for a vector) and
 * returns f32 data, or NULL with an error (optional: NULL, no error). */
static const float *tensor(St *st, const char *name, int rows, int cols, int optional) {
    const LumiJson *t = lumi_json_get(st->hdr, name);
    if (!t) {
        if (!optional) lumi_err(st->e, "%s: missing tensor '%s'", st->path, name);
        return NULL;
    }
    const LumiJson *dt = lumi_json_get(t, "dtype"), *shape = lumi_json_get(t, "shape"),
                   *off = lumi_json_get(t, "data_offsets");
    LumiDType type;
    size_t elem;
    if (!dt || dt->type != LJ_STR || dtype_of(dt->str, &type, &elem) != 0) {
        lumi_err(st->e, "%s: tensor '%s': unsupported dtype '%s' (F32, BF16, F16)", st->path, name,
                 dt && dt->type == LJ_STR ? dt->str : "?");
        return NULL;
    }
    int want_dims = cols ? 2 : 1;
    if (!shape || shape->type != LJ_ARR || shape->n != want_dims || shape->items[0]->type != LJ_NUM ||
        shape->items[0]->num != rows || (cols && (shape->items[1]->type != LJ_NUM || shape->items[1]->num != cols))) {
        if (cols) lumi_err(st->e, "%s: tensor '%s': expected shape [%d, %d] from config.json", st->path, name, rows, cols);
        else lumi_err(st->e, "%s: tensor '%s': expected shape [%d] from config.json", st->path, name, rows);
        return NULL;
    }
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    if (!off || off->type != LJ_ARR || off->n != 2 || off->items[0]->type != LJ_NUM || off->items[1]->type != LJ_NUM ||
        off->items[0]->num < 0 || off->items[1]->num < off->items[0]->num ||
        off->items[1]->num > (double)st->data_size || off->items[1]->num - off->items[0]->num != (double)(n * elem)) {
        lumi_err(st->e, "%s: tensor '%s': data_offsets out of the file or not %zu bytes", st->path, name, n * elem);
        return NULL;
    }
    const unsigned char *src = st->data + (size_t)off->items[0]->num;
    if (cols) {
        if (st->dtype == (LumiDType)-1) st->dtype = type;
        else if (st->dtype != type) {
            lumi_err(st->e, "%s: tensor '%s' is %s but others are %s (mixed dtypes)", st->path, name, lumi_dtype_name(type),
                     lumi_dtype_name(st->dtype));
            return NULL;
        }
    }
    if (type == LUMI_F32 && ((uintptr_t)src % 4) == 0) return (const float *)(const void *)src;
    if (st->owned_used + n > st->owned_cap) {
        lumi_err(st->e, "%s: internal: widening arena too small", st->path);
        return NULL;
    }
    float *dst = st->owned + st->owned_used;
    st->owned_used += n;
    lumi_widen(type, src, n, dst);
    return dst;
}

static LumiMat mat(St *st, const char *name, int rows, int cols, int *ok) {
    LumiMat m = {tensor(st, name, rows, cols, 0), LUMI_F32, rows, cols};
    if (!m.data) *ok = 0;
    return m;
}

static int read_config(const char *cfg_path, LumiConfig *c, LumiErr *e) {
    char *text;
    size_t len;
    LumiJson *j;
    if (lumi_read_file(cfg_path, &text, &len, e) != 0) return -1;
    int rc = lumi_json_parse(text, len, cfg_path, &j, e);
    free(text);
    if (rc != 0) return -1;
    struct { const char *key; int *dst; int required; } ints[] = {
        {"hidden_size", &c->dim, 1},          {"intermediate_size", &c->hidden_dim, 1},
        {"num_hidden_layers", &c->n_layers, 1}, {"num_attention_heads", &c->n_heads, 1},
        {"num_key_value_heads", &c->n_kv_heads, 0}, {"vocab_size", &c->vocab_size, 1},
        {"max_position_embeddings", &c->seq_len, 1},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == 0; i++) {
        long v;
        int r = lumi_json_int(j, ints[i].key, -(1L << 30), 1L << 30, &v);
        if (r < 0 || (r > 0 && ints[i].required)) rc = lumi_err(e, "%s: '%s' is %s", cfg_path, ints[i].key, r < 0 ? "not an integer" : "missing");
        else if (r == 0) *ints[i].dst = (int)v;
    }
    if (rc == 0 && c->n_kv_heads == 0) c->n_kv_heads = c->n_heads;
    double d;
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-6f; /* Hugging Face's LlamaConfig default */
    if (rc == 0 && lumi_json_num_get(j, "rope_theta", &d) == 0) c->rope_theta = (float)d;
    if (rc == 0 && lumi_json_num_get(j, "rms_norm_eps", &d) == 0) c->norm_eps = (float)d;
    const LumiJson *tie = lumi_json_get(j, "tie_word_embeddings");
    c->shared_classifier = tie && tie->type == LJ_BOOL ? (int)tie->num : 0;
    const LumiJson *scaling = lumi_json_get(j, "rope_scaling");
    if (rc == 0 && scaling && scaling->type != LJ_NULL)
        rc = lumi_err(e, "%s: rope_scaling is not supported yet", cfg_path);
    long hd;
    if (rc == 0 && lumi_json_int(j, "head_dim", 1, 1 << 20, &hd) == 0 && c->n_heads > 0 && hd * c->n_heads != c->dim)
        rc = lumi_err(e, "%s: head_dim %ld != hidden_size / num_attention_heads (unsupported)", cfg_path, hd);
    const LumiJson *act = lumi_json_get(j, "hidden_act");
    if (rc == 0 && act && act->type == LJ_STR && strcmp(act->str, "silu"))
        rc = lumi_err(e, "%s: hidden_act '%s' is not supported (silu only)", cfg_path, act->str);
    c->rope_style = LUMI_ROPE_HALF;
    lumi_json_free(j);
    return rc;
}

/* Resolve folder or file into the two paths. */
static void locate(const char *path, char **st_path, char **cfg_path) {
    struct stat s;
    size_t n = strlen(path) + 32;
    *st_path = lumi_xmalloc(n);
    *cfg_path = lumi_xmalloc(n);
    if (stat(path, &s) == 0 && S_ISDIR(s.st_mode)) {
        snprintf(*st_path, n, "%s/model.safetensors", path);
        snprintf(*cfg_path, n, "%s/config.json", path);
    } else {
        snprintf(*st_path, n, "%s", path);
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(*cfg_path, n, "%.*s/config.json", (int)(slash - path), path);
        else snprintf(*cfg_path, n, "config.json");
    }
}

int lumi_safetensors_load(const char *path, LumiModel *m, LumiErr *e) {
    char *st_path, *cfg_path;
    locate(path, &st_path, &cfg_path);
    LumiJson *hdr = NULL;
    int rc = -1;
    LumiConfig *c = &m->cfg;
    memset(c, 0, sizeof *c);
    if (read_config(cfg_path, c, e) != 0 || lumi_config_validate(c, cfg_path, e) != 0) goto out;
    lumi_config_derive(c);
    if (lumi_map_file(st_path, &m->map, e) != 0) goto out;
    const unsigned char *base = m->map.data;
    uint64_t hl;
    if (m->map.size < 8) { lumi_err(e, "%s: truncated header", st_path); goto out; }
    memcpy(&hl, base, 8);
    if (hl > m->map.size - 8 || hl > (100u << 20)) {
        lumi_err(e, "%s: header length %llu exceeds the file", st_path, (unsigned long long)hl);
        goto out;
    }
    if (lumi_json_parse((const char *)base + 8, (size_t)hl, st_path, &hdr, e) != 0) goto out;
    if (hdr->type != LJ_OBJ) { lumi_err(e, "%s: header is not a JSON object", st_path); goto out; }

    /* Arena for widened tensors: at most every parameter once. */
    size_t cap = lumi_param_count(c);
    St st = {st_path, hdr, base + 8 + hl, m->map.size - 8 - (size_t)hl, (LumiDType)-1, NULL, 0, cap, e};
    st.owned = m->owned = lumi_xmalloc(cap * sizeof(float));

    int d = c->dim, hd = c->hidden_dim, kv = c->kv_dim, V = c->vocab_size, ok = 1;
    char name[128];
    m->w.tok_emb = mat(&st, "model.embed_tokens.weight", V, d, &ok);
    m->w.layers = lumi_xcalloc((size_t)c->n_layers, sizeof(LumiLayer));
    for (int l = 0; l < c->n_layers && ok; l++) {
        LumiLayer *L = &m->w.layers[l];
#define NAME(fmt) (snprintf(name, sizeof name, "model.layers.%d." fmt, l), name)
        L->rms_att = lumi_vec(tensor(&st, NAME("input_layernorm.weight"), d, 0, 0), d);
        L->rms_ffn = lumi_vec(tensor(&st, NAME("post_attention_layernorm.weight"), d, 0, 0), d);
        if (!L->rms_att.data || !L->rms_ffn.data) ok = 0;
        L->wq = mat(&st, NAME("self_attn.q_proj.weight"), d, d, &ok);
        L->wk = mat(&st, NAME("self_attn.k_proj.weight"), kv, d, &ok);
        L->wv = mat(&st, NAME("self_attn.v_proj.weight"), kv, d, &ok);
        L->wo = mat(&st, NAME("self_attn.o_proj.weight"), d, d, &ok);
        L->w1 = mat(&st, NAME("mlp.gate_proj.weight"), hd, d, &ok);
        L->w2 = mat(&st, NAME("mlp.down_proj.weight"), d, hd, &ok);
        L->w3 = mat(&st, NAME("mlp.up_proj.weight"), hd, d, &ok);
        /* Qwen-style attention biases: all three or none */
        if (ok && lumi_json_get(hdr, NAME("self_attn.q_proj.bias"))) {
            c->qkv_bias = 1;
            L->bq = lumi_vec(tensor(&st, NAME("self_attn.q_proj.bias"), d, 0, 0), d);
            L->bk = lumi_vec(tensor(&st, NAME("self_attn.k_proj.bias"), kv, 0, 0), kv);
            L->bv = lumi_vec(tensor(&st, NAME("self_attn.v_proj.bias"), kv, 0, 0), kv);
            if (!L->bq.data || !L->bk.data || !L->bv.data) ok = 0;
        }
#undef NAME
    }
    if (ok) {
        m->w.rms_final = lumi_vec(tensor(&st, "model.norm.weight", d, 0, 0), d);
        if (!m->w.rms_final.data) ok = 0;
    }
    if (ok) {
        /* tie_word_embeddings, or no lm_head at all, means a shared classifier */
        const float *head = c->shared_classifier ? NULL : tensor(&st, "lm_head.weight", V, d, 1);
        if (!head && !c->shared_classifier && lumi_json_get(hdr, "lm_head.weight")) ok = 0;
        c->shared_classifier = head == NULL;
        m->w.cls = head ? (LumiMat){head, LUMI_F32, V, d} : m->w.tok_emb;
    }
    if (!ok) goto out;
    m->file_dtype = st.dtype == (LumiDType)-1 ? LUMI_F32 : st.dtype;
    m->format = "safetensors";
    rc = 0;
out:
    lumi_json_free(hdr);
    free(st_path);
    free(cfg_path);
    return rc;
}
