/* device_check.c: see device_check.h. */
#include "device_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dtype.h"
#include "helpers.h"

#define PATHS TH_PATHS
#define N_PATHS TH_N_PATHS

void th_load(const char *path, LumiModel *m) {
    LumiErr e;
    ck_assert_msg(lumi_model_load(path, m, &e) == 0, "%s", e.msg);
}

/* Opens a session on `spec`; 0, or -1 with the message in e. */
int th_open_path(LumiSession *s, const LumiModel *m, const char *spec, LumiErr *e) {
    LumiPathSpec p;
    lumi_path_default(&p);
    ck_assert_msg(lumi_path_parse(spec, &p, e) == 0, "%s", e->msg);
    return lumi_session_open(s, m, &p, e);
}

int th_no_device(const LumiModel *m, const char *backend, const char *test) {
    LumiSession s;
    LumiErr e;
    char spec[64];
    snprintf(spec, sizeof spec, "backend=%s", backend);
    if (th_open_path(&s, m, spec, &e) == 0) {
        lumi_session_close(&s);
        return 0;
    }
    ck_assert_msg(strstr(e.msg, "built without") || strstr(e.msg, "no OpenCL") || strstr(e.msg, "no CUDA device"),
                  "unexpected: %s", e.msg);
    th_skip(test, "a device", "%s", e.msg);
    return 1;
}

/* backend plus one of the paths, default threads (see th_path_run) */
static float *run(const LumiModel *m, const char *backend, const char *spec, const int *tok, int T) {
    char full[128];
    snprintf(full, sizeof full, "backend=%s,%s", backend, spec);
    return th_path_run(m, full, -1, tok, T, NULL);
}


int th_first_mismatch(const LumiModel *m, const char *backend, const int *tok, int T, float **base_out) {
    size_t N = (size_t)T * m->cfg.vocab_size;
    float *base = run(m, backend, PATHS[0], tok, T);
    int bad = -1;
    for (size_t i = 1; i < N_PATHS && bad < 0; i++) {
        float *got = run(m, backend, PATHS[i], tok, T);
        if (memcmp(base, got, N * sizeof(float)) != 0) bad = (int)i;
        free(got);
    }
    if (base_out) *base_out = base;
    else free(base);
    return bad;
}

void th_device_check(const LumiModel *m, const char *backend, const char *what, int T, int bitwise) {
    int *tok = th_tokens(m, T);
    size_t N = (size_t)T * m->cfg.vocab_size;
    float *ref = run(m, "ref", PATHS[0], tok, T), *first = NULL;
    double worst = 0;
    int differ = 0;
    for (size_t i = 0; i < N_PATHS; i++) {
        float *got = run(m, backend, PATHS[i], tok, T);
        double err = th_max_abs(got, ref, N);
        ck_assert_msg(err <= 1e-4, "%s: max |%s %s - ref| = %g > 1e-4", what, backend, PATHS[i], err);
        if (err > worst) worst = err;
        if (!first) {
            ck_assert_msg(memcmp(got, ref, N * 4) != 0, "%s: %s equals ref bitwise; the bitwise check proves nothing",
                          what, backend);
            first = got;
            continue;
        }
        int same = memcmp(got, first, N * 4) == 0;
        ck_assert_msg(same || !bitwise, "%s: %s %s differs bitwise from %s", what, backend, PATHS[i], PATHS[0]);
        differ += !same;
        free(got);
    }
    printf("NOTE %s: %s within %.2g of ref on 9 paths, %d of them differ bitwise from the first\n", what, backend,
           worst, differ);
    free(first), free(ref), free(tok);
}

/* ---- weights held in bf16 / f16 ---- */

static uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static float widen_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Replaces the embedding and every matmul weight of m by a copy in dtype t
 * (bf16 or f16) or, with `widened`, by the f32 values that copy holds.
 * The copies are appended to keep[] (freed by the caller). */
static void retype(LumiModel *m, LumiDType t, int widened, void **keep, int *n_keep) {
    int L = m->cfg.n_layers, shared = m->w.cls.data == m->w.tok_emb.data;
    LumiMat *mats[7 * 64 + 2];
    int n = 0;
    mats[n++] = &m->w.tok_emb;
    if (!shared) mats[n++] = &m->w.cls;
    for (int l = 0; l < L && l < 64; l++) {
        LumiLayer *y = &m->w.layers[l];
        LumiMat *ms[] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w1, &y->w2, &y->w3};
        for (int i = 0; i < 7; i++) mats[n++] = ms[i];
    }
    for (int i = 0; i < n; i++) {
        size_t len = (size_t)mats[i]->rows * mats[i]->cols;
        const float *src = mats[i]->data;
        uint16_t *h = malloc(len * 2);
        float *f = widened ? malloc(len * 4) : NULL;
        for (size_t k = 0; k < len; k++) {
#ifdef __FLT16_MAX__
            _Float16 x16 = (_Float16)src[k];
            uint16_t hb;
            memcpy(&hb, &x16, 2);
            h[k] = t == LUMI_F16 ? hb : bf16_of(src[k]);
            if (f) f[k] = t == LUMI_F16 ? (float)x16 : widen_bf16(h[k]);
#else /* no _Float16 (clang 14): the engine's rounding, checked in test_precision.c */
            h[k] = t == LUMI_F16 ? lumi_f32_to_f16(src[k]) : bf16_of(src[k]);
            if (f) f[k] = t == LUMI_F16 ? lumi_f16_to_f32(h[k]) : widen_bf16(h[k]);
#endif
        }
        if (f) free(h);
        keep[(*n_keep)++] = f ? (void *)f : (void *)h;
        mats[i]->data = keep[*n_keep - 1];
        mats[i]->type = f ? LUMI_F32 : t;
    }
    if (shared) m->w.cls = m->w.tok_emb;
}

/* A model held in bf16 (f16) runs on exactly the values an f32 copy of its
 * weights holds, so it must give that copy's logits bitwise, on all 9 paths
 * alike; and it is not the f32 model's (the rounding is real). */
void th_check_half(const char *backend, LumiDType t, const char *test) {
    const char *path = th_synth("ocl_half.bin", 40, 72, 2, 5, 1, 97, 32, 1, 19);
    LumiModel f32, half, wide;
    th_load(path, &f32), th_load(path, &half), th_load(path, &wide);
    if (th_no_device(&f32, backend, test)) {
        lumi_model_free(&f32), lumi_model_free(&half), lumi_model_free(&wide);
        return;
    }
    void *keep[2 * (7 * 64 + 2)];
    int nk = 0, T = 13, *tok = th_tokens(&f32, T);
    retype(&half, t, 0, keep, &nk);
    retype(&wide, t, 1, keep, &nk);
    size_t N = (size_t)T * f32.cfg.vocab_size;
    float *h, *w, *f;
    ck_assert_int_eq(th_first_mismatch(&half, backend, tok, T, &h), -1);
    th_first_mismatch(&wide, backend, tok, T, &w);
    th_first_mismatch(&f32, backend, tok, T, &f);
    ck_assert_msg(memcmp(h, w, N * 4) == 0, "%s weights differ from their exact f32 widening", lumi_dtype_name(t));
    ck_assert_msg(memcmp(h, f, N * 4) != 0, "%s rounding had no effect", lumi_dtype_name(t));
    printf("NOTE %s: %s weights: 9 paths bitwise equal and equal to their f32 widening; max |%s - f32| = %.2g\n", test,
           lumi_dtype_name(t), lumi_dtype_name(t), th_max_abs(h, f, N));
    free(h), free(w), free(f), free(tok);
    for (int i = 0; i < nk; i++) free(keep[i]);
    lumi_model_free(&f32), lumi_model_free(&half), lumi_model_free(&wide);
}


float *th_qwen_style(LumiModel *m) {
    LumiConfig *c = &m->cfg;
    int per = c->dim + 2 * c->kv_dim;
    float *bias = malloc(sizeof(float) * (size_t)per * c->n_layers);
    LumiRng r;
    lumi_rng_seed(&r, 99);
    for (int i = 0; i < per * c->n_layers; i++) bias[i] = lumi_rng_f32(&r) - 0.5f;
    for (int l = 0; l < c->n_layers; l++) {
        LumiLayer *L = &m->w.layers[l];
        float *b = bias + (size_t)l * per;
        L->bq = lumi_vec(b, c->dim), L->bk = lumi_vec(b + c->dim, c->kv_dim);
        L->bv = lumi_vec(b + c->dim + c->kv_dim, c->kv_dim);
    }
    c->qkv_bias = 1;
    c->rope_style = LUMI_ROPE_HALF;
    lumi_rope_free(&m->rope);
    ck_assert(lumi_rope_init(&m->rope, c) == 0);
    return bias;
}

void th_unqwen(LumiModel *m, float *bias) {
    for (int l = 0; l < m->cfg.n_layers; l++) m->w.layers[l].bq = m->w.layers[l].bk = m->w.layers[l].bv = (LumiMat){0};
    free(bias);
}
