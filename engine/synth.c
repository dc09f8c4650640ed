/* synth.c: see synth.h. Streams the file so large shapes need no big buffer. */
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *f;
    LumiRng rng;
    float buf[4096];
    int ok;
} Writer;

/* n uniform floats with mean `mean` and standard deviation `sd` */
static void put_random(Writer *w, size_t n, float mean, float sd) {
    float half = sd * 1.7320508f; /* uniform on [-a, a] has sd a/sqrt(3) */
    while (n > 0) {
        size_t k = n < 4096 ? n : 4096;
        for (size_t i = 0; i < k; i++) w->buf[i] = mean + half * (2.0f * lumi_rng_f32(&w->rng) - 1.0f);
        if (fwrite(w->buf, sizeof(float), k, w->f) != k) w->ok = 0;
        n -= k;
    }
}

static void put_floats(Writer *w, const float *x, size_t n) {
    if (fwrite(x, sizeof(float), n, w->f) != n) w->ok = 0;
}

int lumi_synth_write(const LumiSynthSpec *s, const char *path, LumiErr *e) {
    LumiConfig c = {.dim = s->dim, .hidden_dim = s->hidden_dim, .n_layers = s->n_layers, .n_heads = s->n_heads,
                    .n_kv_heads = s->n_kv_heads, .vocab_size = s->vocab_size, .seq_len = s->seq_len,
                    .rope_theta = 10000.0f, .norm_eps = 1e-5f, .shared_classifier = !s->unshared};
    if (lumi_config_validate(&c, "synth", e) != 0) return -1;
    lumi_config_derive(&c);
    Writer w = {.ok = 1};
    lumi_rng_seed(&w.rng, s->seed);
    w.f = fopen(path, "wb");
    if (!w.f) return lumi_err(e, "%s: cannot write: %s", path, strerror(errno));
    int32_t hdr[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                      s->unshared ? -c.vocab_size : c.vocab_size, c.seq_len};
    if (fwrite(hdr, sizeof hdr, 1, w.f) != 1) w.ok = 0;
    size_t d = (size_t)c.dim, h = (size_t)c.hidden_dim, kv = (size_t)c.kv_dim, L = (size_t)c.n_layers;
    float sd_d = 1.0f / sqrtf((float)c.dim), sd_h = 1.0f / sqrtf((float)c.hidden_dim);
    /* embedding rows have norm ~1: after RMSNorm the logits x.e have sd ~1-3 */
    put_random(&w, (size_t)c.vocab_size * d, 0.0f, 2.0f * sd_d);
    put_random(&w, L * d, 1.0f, 0.1f);        /* rms_att */
    put_random(&w, L * d * d, 0.0f, sd_d);    /* wq */
    put_random(&w, L * kv * d, 0.0f, sd_d);   /* wk */
    put_random(&w, L * kv * d, 0.0f, sd_d);   /* wv */
    put_random(&w, L * d * d, 0.0f, sd_d);    /* wo */
    put_random(&w, L * d, 1.0f, 0.1f);        /* rms_ffn */
    put_random(&w, L * h * d, 0.0f, sd_d);    /* w1 */
    put_random(&w, L * d * h, 0.0f, sd_h);    /* w2 */
    put_random(&w, L * h * d, 0.0f, sd_d);    /* w3 */
    put_random(&w, d, 1.0f, 0.1f);            /* rms_final */
    /* legacy freq_cis tables, as llama2.c writes them (unused by lumi) */
    LumiRope rope;
    lumi_rope_init(&rope, &c);
    lumi_rope_reserve(&rope, c.seq_len, NULL); /* cannot fail: seq_len is the context */
    put_floats(&w, rope.cos, (size_t)c.seq_len * rope.half);
    put_floats(&w, rope.sin, (size_t)c.seq_len * rope.half);
    lumi_rope_free(&rope);
    if (s->unshared) put_random(&w, (size_t)c.vocab_size * d, 0.0f, 2.0f * sd_d);
    if (w.ok) lumi_drop_file_cache(w.f); /* the next load gets 2 MiB pages */
    if (fclose(w.f) != 0) w.ok = 0;
    if (!w.ok) return lumi_err(e, "%s: write failed", path);
    return 0;
}

static float *random_vec(LumiRng *r, float *dst, size_t n, float mean, float sd) {
    float half = sd * 1.7320508f;
    for (size_t i = 0; i < n; i++) dst[i] = mean + half * (2.0f * lumi_rng_f32(r) - 1.0f);
    return dst;
}

int lumi_synth_model(const LumiSynthSpec *s, const LumiSynthExtra *xs, const char *tmp_path, LumiModel *m,
                     LumiErr *e) {
    LumiSynthExtra none = {0};
    const LumiSynthExtra *ex = xs ? xs : &none;
    int rc = lumi_synth_write(s, tmp_path, e);
    if (rc == 0) rc = lumi_model_load(tmp_path, m, e);
    remove(tmp_path); /* the mapping stays valid */
    if (rc != 0) return -1;
    LumiConfig *c = &m->cfg;
    c->qkv_bias = ex->qkv_bias;
    c->qk_norm = ex->qk_norm;
    if (ex->rope_theta > 0) c->rope_theta = ex->rope_theta;
    c->rope_scaling = ex->rope_scaling;
    c->rope_factor = ex->rope_factor;
    c->rope_low_freq_factor = ex->rope_low_freq_factor;
    c->rope_high_freq_factor = ex->rope_high_freq_factor;
    c->rope_orig_ctx = ex->rope_orig_ctx;
    m->format = "synth";
    lumi_rope_free(&m->rope);
    lumi_rope_init(&m->rope, c);
    size_t per = (size_t)(ex->qkv_bias ? c->dim + 2 * c->kv_dim : 0) + (size_t)(ex->qk_norm ? 2 * c->head_size : 0);
    if (per == 0) return 0;
    LumiRng r;
    lumi_rng_seed(&r, s->seed ^ 0x9e3779b97f4a7c15ull);
    float *x = m->owned = lumi_xmalloc(per * (size_t)c->n_layers * sizeof(float));
    for (int l = 0; l < c->n_layers; l++) {
        LumiLayer *L = &m->w.layers[l];
        if (ex->qkv_bias) {
            L->bq = lumi_vec(random_vec(&r, x, (size_t)c->dim, 0.0f, 0.1f), c->dim), x += c->dim;
            L->bk = lumi_vec(random_vec(&r, x, (size_t)c->kv_dim, 0.0f, 0.1f), c->kv_dim), x += c->kv_dim;
            L->bv = lumi_vec(random_vec(&r, x, (size_t)c->kv_dim, 0.0f, 0.1f), c->kv_dim), x += c->kv_dim;
        }
        if (ex->qk_norm) {
            L->q_norm = lumi_vec(random_vec(&r, x, (size_t)c->head_size, 1.0f, 0.1f), c->head_size), x += c->head_size;
            L->k_norm = lumi_vec(random_vec(&r, x, (size_t)c->head_size, 1.0f, 0.1f), c->head_size), x += c->head_size;
        }
    }
    return 0;
}
