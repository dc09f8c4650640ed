/* model.c: validation, rotary tables and the format dispatch. */
#include "model.h"
#include "lmw.h"
#include "weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

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
    if (c->qk_norm) per_layer += 2 * (size_t)c->head_size;
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

/* theta^(-2i/head_size), then the scaling. LLAMA3 follows Meta's
 * apply_scaling (Llama 3.1): wavelengths shorter than orig/high_freq_factor
 * keep their frequency, longer than orig/low_freq_factor are divided by
 * factor, and the band between blends the two linearly in orig/wavelength. */
double lumi_rope_freq(const LumiConfig *c, int i) {
    double f = pow((double)c->rope_theta, -2.0 * i / (double)c->head_size);
    if (c->rope_scaling == LUMI_ROPE_SCALING_LINEAR) return f / c->rope_factor;
    if (c->rope_scaling != LUMI_ROPE_SCALING_LLAMA3) return f;
    double orig = c->rope_orig_ctx, lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
    double wavelen = 2.0 * M_PI / f;
    if (wavelen < orig / hi) return f;
    if (wavelen > orig / lo) return f / c->rope_factor;
    double smooth = (orig / wavelen - lo) / (hi - lo);
    return (1.0 - smooth) * f / c->rope_factor + smooth * f;
}

int lumi_rope_init(LumiRope *r, const LumiConfig *c) {
    memset(r, 0, sizeof *r);
    r->half = c->head_size / 2;
    r->style = c->rope_style;
    r->max_positions = c->seq_len;
    r->freq = lumi_xmalloc((size_t)r->half * sizeof(double));
    for (int i = 0; i < r->half; i++) r->freq[i] = lumi_rope_freq(c, i);
    return 0;
}

/* Grows geometrically (capped at the context), so a generation that
 * advances one position at a time recomputes O(log n) times. */
int lumi_rope_reserve(LumiRope *r, int positions, LumiErr *e) {
    if (positions <= r->seq_len) return 0;
    if (positions > r->max_positions)
        return lumi_err(e, "position %d is past the context length %d", positions - 1, r->max_positions);
    int cap = r->seq_len > 32 ? r->seq_len : 32;
    while (cap < positions) cap = cap > r->max_positions / 2 ? r->max_positions : cap * 2;
    if (cap > r->max_positions) cap = r->max_positions;
    size_t n = (size_t)cap * (size_t)r->half;
    r->cos = lumi_xrealloc(r->cos, n * sizeof(float));
    r->sin = lumi_xrealloc(r->sin, n * sizeof(float));
    for (int p = r->seq_len; p < cap; p++)
        for (int i = 0; i < r->half; i++) {
            double a = (double)p * r->freq[i];
            r->cos[(size_t)p * r->half + i] = (float)cos(a);
            r->sin[(size_t)p * r->half + i] = (float)sin(a);
        }
    r->seq_len = cap;
    return 0;
}

int lumi_model_rope_reserve(const LumiModel *m, int positions, LumiErr *e) {
    /* The model object is never defined const; sessions only hold it so. */
    return lumi_rope_reserve((LumiRope *)&m->rope, positions, e);
}

void lumi_rope_free(LumiRope *r) {
    free(r->cos);
    free(r->sin);
    free(r->freq);
    r->cos = r->sin = NULL;
    r->freq = NULL;
    r->seq_len = 0;
}

static uLong crc_bytes(uLong c, const unsigned char *p, size_t n) {
    for (size_t off = 0; off < n;) { /* zlib takes 32-bit lengths */
        size_t k = n - off > (1u << 30) ? (1u << 30) : n - off;
        c = crc32(c, p + off, (uInt)k);
        off += k;
    }
    return c;
}

int lumi_model_crc32(const LumiModel *m, uint32_t *crc, size_t *bytes, LumiErr *e) {
    uLong c = crc32(0L, Z_NULL, 0);
    size_t total = 0;
    if (m->n_shards > 0) { /* Hugging Face: the config changes the model too */
        char *cfg = lumi_hf_config_path(m->path), *text;
        size_t len;
        int rc = lumi_read_file(cfg, &text, &len, e);
        free(cfg);
        if (rc != 0) return -1;
        c = crc_bytes(c, (const unsigned char *)text, len);
        total += len;
        free(text);
    }
    if (m->map.data) c = crc_bytes(c, m->map.data, m->map.size), total += m->map.size;
    for (int i = 0; i < m->n_shards; i++) c = crc_bytes(c, m->shards[i].data, m->shards[i].size), total += m->shards[i].size;
    *crc = (uint32_t)c;
    if (bytes) *bytes = total;
    return 0;
}

static int is_safetensors(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    return (n >= 12 && !strcmp(path + n - 12, ".safetensors")) ||
           (n >= 23 && !strcmp(path + n - 23, ".safetensors.index.json"));
}

/* Through a mapping, not read(): a read() at offset 0 would cache the
 * file's start in small folios, and the weights' mapping could not put
 * its first 2 MiB on one huge page (see map_huge in util.c). */
static int has_magic(const char *path, const char *magic) {
    LumiMap map;
    LumiErr e;
    if (lumi_map_file(path, &map, &e) != 0) return 0;
    int ok = map.size >= 4 && !memcmp(map.data, magic, 4);
    lumi_unmap(&map);
    return ok;
}

int lumi_model_load(const char *path, LumiModel *m, LumiErr *e) {
    memset(m, 0, sizeof *m);
    m->file_dtype = LUMI_F32;
    int rc;
    if (is_safetensors(path)) rc = lumi_safetensors_load(path, m, e);
    else if (has_magic(path, "GGUF")) rc = lumi_gguf_load(path, m, e);
    else if (has_magic(path, "lumi")) rc = lumi_lmw_load(path, m, e); /* .lmw: u32 0x696D756C */
    else rc = lumi_llama2c_load(path, m, e);
    if (rc != 0) {
        lumi_model_free(m);
        return -1;
    }
    m->path = lumi_xstrdup(path);
    lumi_rope_init(&m->rope, &m->cfg);
    if (m->rope_factors) /* as llama.cpp applies rope_freqs: theta_i = p * base^(-2i/d) / factor_i */
        for (int i = 0; i < m->rope.half; i++) m->rope.freq[i] /= m->rope_factors[i];
    m->wcache = lumi_weight_cache_new();
    return 0;
}

void lumi_model_free(LumiModel *m) {
    lumi_weight_cache_free(m->wcache);
    free(m->w.layers);
    lumi_rope_free(&m->rope);
    lumi_unmap(&m->map);
    free(m->owned);
    for (int i = 0; i < m->n_shards; i++) lumi_unmap(&m->shards[i]);
    free(m->shards);
    free(m->path);
    memset(m, 0, sizeof *m);
}
