/* gguf_write.c: see gguf_write.h. Layout (GGUF v3, little endian): magic,
 * version, tensor count, key/value count; the key/values; one descriptor
 * per tensor (name, dims, ggml type, offset); zero padding to the
 * alignment; the tensors' data, each at a multiple of the alignment. */
#include "gguf_write.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "gguf.h"
#include "weights.h"

#define ALIGN 64

typedef struct {
    FILE *f;
    int ok;
} W;

static void put(W *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n) w->ok = 0;
}
static void u32(W *w, uint32_t v) { put(w, &v, 4); }
static void u64(W *w, uint64_t v) { put(w, &v, 8); }
static void str(W *w, const char *s, size_t n) { u64(w, n), put(w, s, n); }
static void key(W *w, const char *k, uint32_t type) { str(w, k, strlen(k)), u32(w, type); }
static void kv_u32(W *w, const char *k, uint32_t v) { key(w, k, GGUF_U32), u32(w, v); }
static void kv_f32(W *w, const char *k, float v) { key(w, k, GGUF_F32), put(w, &v, 4); }
static void kv_str(W *w, const char *k, const char *v) { key(w, k, GGUF_STRING), str(w, v, strlen(v)); }

static uint32_t ggml_type(LumiDType t) {
    switch (t) {
    case LUMI_F32: return GGML_F32;
    case LUMI_F16: return GGML_F16;
    case LUMI_BF16: return GGML_BF16;
    case LUMI_Q8_0: return GGML_Q8_0;
    }
    return GGML_F32;
}

/* llama.cpp's general.file_type (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_BF16) */
static uint32_t file_type(LumiDType t) { return t == LUMI_F16 ? 1 : t == LUMI_Q8_0 ? 7 : t == LUMI_BF16 ? 32 : 0; }

static size_t tensor_bytes(const LumiGgufTensor *t) {
    return lumi_row_bytes(t->type, t->cols) * (size_t)(t->rows ? t->rows : 1);
}

static size_t pad(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static void zeros(W *w, size_t n) {
    static const char z[ALIGN];
    put(w, z, n);
}

/* Sentencepiece pieces spell a space as U+2581; token types as llama.cpp:
 * 1 normal, 2 unknown, 3 control, 6 byte. */
static void tokenizer_kvs(W *w, const LumiTokenizer *t) {
    kv_str(w, "tokenizer.ggml.model", "llama");
    key(w, "tokenizer.ggml.tokens", GGUF_ARRAY), u32(w, GGUF_STRING), u64(w, (uint64_t)t->vocab_size);
    for (int i = 0; i < t->vocab_size; i++) {
        size_t n = 0;
        for (const char *p = t->vocab[i]; *p; p++) n += *p == ' ' ? 3 : 1;
        u64(w, n);
        for (const char *p = t->vocab[i]; *p; p++)
            if (*p == ' ') put(w, "\xE2\x96\x81", 3);
            else put(w, p, 1);
    }
    key(w, "tokenizer.ggml.scores", GGUF_ARRAY), u32(w, GGUF_F32), u64(w, (uint64_t)t->vocab_size);
    put(w, t->scores, sizeof(float) * (size_t)t->vocab_size);
    key(w, "tokenizer.ggml.token_type", GGUF_ARRAY), u32(w, GGUF_I32), u64(w, (uint64_t)t->vocab_size);
    for (int i = 0; i < t->vocab_size; i++) {
        const char *v = t->vocab[i];
        int32_t ty = i == 0 ? 2 : (i == t->bos_id || i == t->eos_id) ? 3
                   : (strlen(v) == 6 && !strncmp(v, "<0x", 3) && v[5] == '>') ? 6 : 1;
        put(w, &ty, 4);
    }
    kv_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos_id);
    kv_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos_id);
    kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
}

static void header(W *w, const LumiGgufSpec *s) {
    const LumiConfig *c = s->cfg;
    put(w, "GGUF", 4);
    u32(w, 3);
    u64(w, (uint64_t)s->n_tensors);
    u64(w, 15 + (s->tok ? 7 : 0));
    kv_str(w, "general.architecture", "llama");
    kv_str(w, "general.name", s->name ? s->name : "lumi");
    kv_u32(w, "general.alignment", ALIGN);
    kv_u32(w, "general.file_type", file_type(s->dtype));
    kv_u32(w, "general.quantization_version", 2);
    kv_u32(w, "llama.context_length", (uint32_t)c->seq_len);
    kv_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    kv_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    kv_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    kv_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_size);
    kv_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    kv_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    kv_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    kv_f32(w, "llama.rope.freq_base", c->rope_theta);
    kv_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size);
    if (s->tok) tokenizer_kvs(w, s->tok);
    size_t off = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        const LumiGgufTensor *t = &s->tensors[i];
        str(w, t->name, strlen(t->name));
        if (t->rows) u32(w, 2), u64(w, (uint64_t)t->cols), u64(w, (uint64_t)t->rows);
        else u32(w, 1), u64(w, (uint64_t)t->cols);
        u32(w, ggml_type(t->type));
        u64(w, off);
        off += pad(tensor_bytes(t));
    }
}

int lumi_gguf_write(const char *path, const LumiGgufSpec *s, LumiErr *e) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    W w = {fopen(tmp, "wb"), 1};
    if (!w.f) return lumi_err(e, "%s: cannot write: %s", tmp, strerror(errno));
    header(&w, s);
    long at = ftell(w.f);
    zeros(&w, pad((size_t)at) - (size_t)at);
    enum { CHUNK = 1 << 22 }; /* bytes of rows per fill call */
    unsigned char *buf = lumi_xmalloc(CHUNK);
    int rc = 0;
    for (int i = 0; i < s->n_tensors && rc == 0 && w.ok; i++) {
        const LumiGgufTensor *t = &s->tensors[i];
        size_t rb = lumi_row_bytes(t->type, t->cols), rows = t->rows ? (size_t)t->rows : 1;
        size_t step = rb >= CHUNK ? 1 : CHUNK / rb;
        if (rb > CHUNK) buf = lumi_xrealloc(buf, rb);
        for (size_t r = 0; r < rows && rc == 0; r += step) {
            size_t r1 = r + step < rows ? r + step : rows;
            rc = s->fill(s->arg, i, (int)r, (int)r1, buf, e);
            if (rc == 0) put(&w, buf, (r1 - r) * rb);
        }
        zeros(&w, pad(tensor_bytes(t)) - tensor_bytes(t));
    }
    free(buf);
    if (w.ok) lumi_drop_file_cache(w.f); /* the next load gets 2 MiB pages */
    if (fclose(w.f) != 0) w.ok = 0;
    if (rc == 0 && !w.ok) rc = lumi_err(e, "%s: write failed (disk full?)", tmp);
    if (rc == 0 && rename(tmp, path) != 0) rc = lumi_err(e, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc != 0) remove(tmp);
    return rc;
}

/* ---- a loaded model ---- */

typedef struct {
    const LumiMat **mats; /* per tensor: the matrix or vector it comes from */
} ModelSrc;

static int fill_model(void *arg, int i, int r0, int r1, void *dst, LumiErr *e) {
    (void)e;
    const LumiMat *m = ((ModelSrc *)arg)->mats[i];
    size_t rb = lumi_row_bytes(m->type, m->cols);
    memcpy(dst, (const char *)m->data + (size_t)r0 * rb, (size_t)(r1 - r0) * rb);
    return 0;
}

int lumi_gguf_write_model(const char *path, const LumiModel *m, const LumiTokenizer *tok, LumiDType t, LumiErr *e) {
    const LumiConfig *c = &m->cfg;
    if (c->qkv_bias || c->rope_style != LUMI_ROPE_INTERLEAVED)
        return lumi_err(e, "%s: %s cannot be written as GGUF 'llama' (q/k/v biases or rotate-half RoPE, as qwen2)",
                        path, m->path);
    if (c->rope_scaling == LUMI_ROPE_SCALING_LINEAR || c->rope_scaling == LUMI_ROPE_SCALING_LLAMA3)
        return lumi_err(e, "%s: %s has rope scaling, which this writer does not store (only a GGUF's own rope_freqs)",
                        path, m->path);
    const LumiWeights *w;
    LumiWeightsInfo info;
    if (lumi_weights_get(m, t, &w, &info, e) != 0) return -1;
    if (info.fallback) {
        for (int l = 0; l < c->n_layers; l++) /* name the first matrix q8_0 cannot hold */
            if (w->layers[l].w2.type != t)
                return lumi_err(e, "%s: tensor layers.%d.w2 has %d columns, not a multiple of 32: q8_0 cannot represent it",
                                m->path, l, w->layers[l].w2.cols);
        return lumi_err(e, "%s: a matrix's rows are not whole 32-blocks: q8_0 cannot represent it", m->path);
    }
    int cap = 4 + 9 * c->n_layers, n = 0;
    LumiGgufTensor *ts = lumi_xcalloc((size_t)cap, sizeof *ts);
    const LumiMat **mats = lumi_xcalloc((size_t)cap, sizeof *mats);
#define ADD(mat, fmt, ...)                                                                           \
    do {                                                                                             \
        snprintf(ts[n].name, sizeof ts[n].name, fmt, __VA_ARGS__);                                   \
        ts[n].type = (mat)->type, ts[n].cols = (mat)->cols, ts[n].rows = (mat)->rows;                 \
        mats[n++] = (mat);                                                                           \
    } while (0)
    ADD(&w->tok_emb, "%s", "token_embd.weight");
    for (int l = 0; l < c->n_layers; l++) {
        const LumiLayer *L = &w->layers[l];
        ADD(&L->rms_att, "blk.%d.attn_norm.weight", l);
        ADD(&L->wq, "blk.%d.attn_q.weight", l);
        ADD(&L->wk, "blk.%d.attn_k.weight", l);
        ADD(&L->wv, "blk.%d.attn_v.weight", l);
        ADD(&L->wo, "blk.%d.attn_output.weight", l);
        ADD(&L->rms_ffn, "blk.%d.ffn_norm.weight", l);
        ADD(&L->w1, "blk.%d.ffn_gate.weight", l);
        ADD(&L->w2, "blk.%d.ffn_down.weight", l);
        ADD(&L->w3, "blk.%d.ffn_up.weight", l);
    }
    ADD(&w->rms_final, "%s", "output_norm.weight");
    if (!c->shared_classifier) ADD(&w->cls, "%s", "output.weight");
    LumiMat rf = lumi_vec(m->rope_factors, c->head_size / 2);
    if (c->rope_scaling == LUMI_ROPE_SCALING_FACTORS) ADD(&rf, "%s", "rope_freqs.weight"); /* as read */
#undef ADD
    /* norm vectors and the rope divisors are 1-D tensors */
    for (int i = 0; i < n; i++)
        if (strstr(ts[i].name, "norm") || !strcmp(ts[i].name, "rope_freqs.weight")) ts[i].rows = 0;
    ModelSrc src = {mats};
    const char *base = strrchr(m->path, '/');
    LumiGgufSpec s = {c, base ? base + 1 : m->path, tok, t, ts, n, fill_model, &src};
    int rc = lumi_gguf_write(path, &s, e);
    free(ts);
    free(mats);
    return rc;
}
