/* model.c: validation, rotary tables and the format dispatch. */
#include "model.h"
#include "weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *lumi_dtype_name(LumiDType t) {
    switch (t) {
    case LUMI_F32: return "f32";
    case LUMI_BF16: return "bf16";
    case LUMI_F16: return "f16";
    case LUMI_Q8_0: return "q8_0";
    }
    return "?";
}

void lumi_config_derive(LumiConfig *c) {
    c->head_size = c->n_heads > 0 ? c->dim / c->n_heads : 0;
    c->kv_dim = c->n_kv_heads * c->head_size;
}

/* Limits keep every derived product far from int overflow: the largest
 * single matrix is vocab*dim < 2^31 elements. */
int lumi_config_validate(const LumiConfig *c, const char *what, LumiErr *e) {
    struct { const char *name; int v; int max; } f[] = {
        {"dim", c->dim, 1 << 16},          {"hidden_dim", c->hidden_dim, 1 << 18},
        {"n_layers", c->n_layers, 1024},   {"n_heads", c->n_heads, 1024},
        {"n_kv_heads", c->n_kv_heads, 1024}, {"vocab_size", c->vocab_size, 1 << 22},
        {"seq_len", c->seq_len, 1 << 20},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (f[i].v <= 0) return lumi_err(e, "%s: %s must be positive, got %d", what, f[i].name, f[i].v);
        if (f[i].v > f[i].max) return lumi_err(e, "%s: %s = %d exceeds the limit %d", what, f[i].name, f[i].v, f[i].max);
    }
    if (c->dim % c->n_heads != 0)
        return lumi_err(e, "%s: dim %d is not divisible by n_heads %d", what, c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads != 0)
        return lumi_err(e, "%s: n_heads %d is not divisible by n_kv_heads %d", what, c->n_heads, c->n_kv_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return lumi_err(e, "%s: head size %d is odd (RoPE rotates pairs)", what, c->dim / c->n_heads);
    if ((size_t)c->vocab_size * (size_t)c->dim >= ((size_t)1 << 31))
        return lumi_err(e, "%s: vocab_size*dim too large", what);
    if ((size_t)c->hidden_dim * (size_t)c->dim >= ((size_t)1 << 31))
        return lumi_err(e, "%s: hidden_dim*dim too large", what);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return lumi_err(e, "%s: rope_theta must be positive", what);
    if (!(c->norm_eps > 0) || !isfinite(c->norm_eps))
        return lumi_err(e, "%s: norm_eps must be positive", what);
    return 0;
}

size_t lumi_param_count(const LumiConfig *c) {
    size_t d = (size_t)c->dim, h = (size_t)c->hidden_dim, kv = (size_t)c->kv_dim;
    size_t per_layer = 2 * d + d * d * 2 + d * kv * 2 + 3 * d * h;
    if (c->qkv_bias) per_layer += d + 2 * kv;
    size_t n = (size_t)c->vocab_size * d + (size_t)c->n_layers * per_layer + d;
    if (!c->shared_classifier) n += (size_t)c->vocab_size * d;
    return n;
}

static size_t mat_bytes(const LumiMat *m) {
    size_t n = (size_t)m->rows * (size_t)m->cols;
    switch (m->type) {
    case LUMI_F32: return n * 4;
    case LUMI_BF16:
    case LUMI_F16: return n * 2;
    case LUMI_Q8_0: return n / 32 * 34;
    }
    return n * 4;
}

size_t lumi_weight_bytes_per_token(const LumiModel *m) {
    const LumiConfig *c = &m->cfg;
    size_t b = mat_bytes(&m->w.cls) + (size_t)c->dim * 4 * (1 + 2 * (size_t)c->n_layers);
    for (int l = 0; l < c->n_layers; l++) {
        const LumiLayer *L = &m->w.layers[l];
        b += mat_bytes(&L->wq) + mat_bytes(&L->wk) + mat_bytes(&L->wv) + mat_bytes(&L->wo);
        b += mat_bytes(&L->w1) + mat_bytes(&L->w2) + mat_bytes(&L->w3);
    }
    return b;
}

int lumi_rope_init(LumiRope *r, const LumiConfig *c) {
    int half = c->head_size / 2;
    size_t n = (size_t)c->seq_len * (size_t)half;
    r->cos = lumi_xmalloc(n * sizeof(float));
    r->sin = lumi_xmalloc(n * sizeof(float));
    r->seq_len = c->seq_len;
    r->half = half;
    r->style = c->rope_style;
    for (int i = 0; i < half; i++) {
        /* frequency of pair i: theta^(-2i/head_size) */
        double freq = pow((double)c->rope_theta, -2.0 * i / (double)c->head_size);
        for (int p = 0; p < c->seq_len; p++) {
            double a = (double)p * freq;
            r->cos[(size_t)p * half + i] = (float)cos(a);
            r->sin[(size_t)p * half + i] = (float)sin(a);
        }
    }
    return 0;
}

void lumi_rope_free(LumiRope *r) {
    free(r->cos);
    free(r->sin);
    r->cos = r->sin = NULL;
}

static int is_safetensors(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    return n >= 12 && !strcmp(path + n - 12, ".safetensors");
}

static int is_gguf(const char *path) {
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    return got == 4 && !memcmp(magic, "GGUF", 4);
}

int lumi_model_load(const char *path, LumiModel *m, LumiErr *e) {
    memset(m, 0, sizeof *m);
    m->file_dtype = LUMI_F32;
    int rc;
    if (is_safetensors(path)) rc = lumi_safetensors_load(path, m, e);
    else if (is_gguf(path)) rc = lumi_gguf_load(path, m, e);
    else rc = lumi_llama2c_load(path, m, e);
    if (rc != 0) {
        lumi_model_free(m);
        return -1;
    }
    m->path = lumi_xstrdup(path);
    lumi_rope_init(&m->rope, &m->cfg);
    m->wcache = lumi_weight_cache_new();
    return 0;
}

void lumi_model_free(LumiModel *m) {
    lumi_weight_cache_free(m->wcache);
    free(m->w.layers);
    lumi_rope_free(&m->rope);
    lumi_unmap(&m->map);
    free(m->owned);
    free(m->path);
    memset(m, 0, sizeof *m);
}
