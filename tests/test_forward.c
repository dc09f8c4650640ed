/* test_forward.c: the reference forward pass against an independent,
 * deliberately naive recomputation written here: its own v0 file parser,
 * double precision everywhere, the whole sequence at once, angles from pow.
 * Every cache x prefill path of the ref backend must match it and each
 * other bitwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../paths/session.h"
#include "helpers.h"

typedef struct {
    int dim, hidden, layers, heads, kv_heads, vocab, seq, shared, hs, kvd;
    float *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *cls;
    float *blob;
} Naive;

static void naive_load(const char *path, Naive *n) {
    FILE *f = fopen(path, "rb");
    ck_assert(f);
    int32_t h[7];
    ck_assert(fread(h, 4, 7, f) == 7);
    n->dim = h[0], n->hidden = h[1], n->layers = h[2], n->heads = h[3], n->kv_heads = h[4];
    n->shared = h[5] > 0;
    n->vocab = abs(h[5]);
    n->seq = h[6];
    n->hs = n->dim / n->heads;
    n->kvd = n->kv_heads * n->hs;
    fseek(f, 0, SEEK_END);
    long size = ftell(f) - 28;
    fseek(f, 28, SEEK_SET);
    n->blob = malloc((size_t)size);
    ck_assert(fread(n->blob, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    size_t D = (size_t)n->dim, L = (size_t)n->layers, H = (size_t)n->hidden, K = (size_t)n->kvd;
    float *p = n->blob;
    n->emb = p, p += (size_t)n->vocab * D;
    n->rms_att = p, p += L * D;
    n->wq = p, p += L * D * D;
    n->wk = p, p += L * K * D;
    n->wv = p, p += L * K * D;
    n->wo = p, p += L * D * D;
    n->rms_ffn = p, p += L * D;
    n->w1 = p, p += L * H * D;
    n->w2 = p, p += L * D * H;
    n->w3 = p, p += L * H * D;
    n->rms_final = p, p += D;
    p += (size_t)n->seq * n->hs; /* freq_cis */
    n->cls = n->shared ? n->emb : p;
}

static void mv(double *y, const float *W, const double *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++) s += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void norm(double *y, const double *x, const float *w, int d) {
    double ss = 0;
    for (int i = 0; i < d; i++) ss += x[i] * x[i];
    double inv = 1.0 / sqrt(ss / d + 1e-5);
    for (int i = 0; i < d; i++) y[i] = x[i] * inv * w[i];
}

static void rope(double *v, int pos, int hs) {
    for (int i = 0; i < hs; i += 2) {
        double a = pos * pow(10000.0, -(double)i / hs), c = cos(a), s = sin(a);
        double x0 = v[i], x1 = v[i + 1];
        v[i] = x0 * c - x1 * s;
        v[i + 1] = x0 * s + x1 * c;
    }
}

/* logits [T, vocab] for tokens[0..T) */
static float *naive_forward(const Naive *n, const int *tok, int T) {
    int D = n->dim, H = n->hidden, K = n->kvd, hs = n->hs;
    double *x = calloc((size_t)T * D, 8), *xb = malloc((size_t)D * 8), *q = malloc((size_t)T * D * 8);
    double *k = malloc((size_t)T * K * 8), *v = malloc((size_t)T * K * 8), *att = malloc((size_t)T * 8);
    double *o = malloc((size_t)D * 8), *tmp = malloc((size_t)D * 8), *h1 = malloc((size_t)H * 8),
           *h3 = malloc((size_t)H * 8);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++) x[(size_t)t * D + i] = n->emb[(size_t)tok[t] * D + i];
    for (int l = 0; l < n->layers; l++) {
        const float *wq = n->wq + (size_t)l * D * D, *wk = n->wk + (size_t)l * K * D, *wv = n->wv + (size_t)l * K * D;
        const float *wo = n->wo + (size_t)l * D * D, *w1 = n->w1 + (size_t)l * H * D, *w2 = n->w2 + (size_t)l * D * H;
        const float *w3 = n->w3 + (size_t)l * H * D;
        for (int t = 0; t < T; t++) {
            norm(xb, x + (size_t)t * D, n->rms_att + (size_t)l * D, D);
            mv(q + (size_t)t * D, wq, xb, D, D);
            mv(k + (size_t)t * K, wk, xb, K, D);
            mv(v + (size_t)t * K, wv, xb, K, D);
            for (int h = 0; h < n->heads; h++) rope(q + (size_t)t * D + h * hs, t, hs);
            for (int h = 0; h < n->kv_heads; h++) rope(k + (size_t)t * K + h * hs, t, hs);
        }
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < n->heads; h++) {
                int kh = h / (n->heads / n->kv_heads);
                double mx = -1e300, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double d = 0;
                    for (int i = 0; i < hs; i++) d += q[(size_t)t * D + h * hs + i] * k[(size_t)s * K + kh * hs + i];
                    att[s] = d / sqrt((double)hs);
                    if (att[s] > mx) mx = att[s];
                }
                for (int s = 0; s <= t; s++) sum += att[s] = exp(att[s] - mx);
                for (int i = 0; i < hs; i++) {
                    double a = 0;
                    for (int s = 0; s <= t; s++) a += att[s] / sum * v[(size_t)s * K + kh * hs + i];
                    o[h * hs + i] = a;
                }
            }
            mv(tmp, wo, o, D, D);
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += tmp[i];
            norm(xb, x + (size_t)t * D, n->rms_ffn + (size_t)l * D, D);
            mv(h1, w1, xb, H, D);
            mv(h3, w3, xb, H, D);
            for (int i = 0; i < H; i++) h1[i] = h1[i] / (1 + exp(-h1[i])) * h3[i];
            double *y = malloc((size_t)D * 8);
            mv(y, w2, h1, D, H);
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += y[i];
            free(y);
        }
    }
    float *logits = malloc((size_t)T * n->vocab * sizeof(float));
    double *lg = malloc((size_t)n->vocab * 8);
    for (int t = 0; t < T; t++) {
        norm(xb, x + (size_t)t * D, n->rms_final, D);
        mv(lg, n->cls, xb, n->vocab, D);
        for (int i = 0; i < n->vocab; i++) logits[(size_t)t * n->vocab + i] = (float)lg[i];
    }
    free(x), free(xb), free(q), free(k), free(v), free(att), free(o), free(tmp), free(h1), free(h3), free(lg);
    return logits;
}

static float *run_path(const LumiModel *m, const char *spec, const int *tok, int T) {
    LumiPathSpec p;
    LumiErr e;
    LumiSession s;
    lumi_path_default(&p);
    ck_assert_msg(lumi_path_parse(spec, &p, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_session_open(&s, m, &p, &e) == 0, "%s", e.msg);
    float *out = malloc((size_t)T * m->cfg.vocab_size * sizeof(float));
    /* feed the prompt in two parts, so every path also runs with a non-empty cache */
    int first = T / 2;
    ck_assert_msg(lumi_session_feed(&s, tok, first, out, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_session_feed(&s, tok + first, T - first, out + (size_t)first * m->cfg.vocab_size, &e) == 0,
                  "%s", e.msg);
    ck_assert(memcmp(s.last, out + (size_t)(T - 1) * m->cfg.vocab_size, m->cfg.vocab_size * sizeof(float)) == 0);
    lumi_session_close(&s);
    return out;
}

static const char *PATHS[] = {
    "cache=fixed,prefill=batched",  "cache=fixed,prefill=token",   "cache=fixed,prefill=chunked:3",
    "cache=growing,prefill=batched", "cache=growing,prefill=token", "cache=growing,prefill=chunked:5",
    "cache=none,prefill=batched",   "cache=none,prefill=token",    "cache=none,prefill=chunked:4",
};

static void check_model(const char *path, int T, double tol) {
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(path, &m, &e) == 0, "%s", e.msg);
    Naive n;
    naive_load(path, &n);
    int *tok = malloc((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) tok[t] = (t * 7919 + 1) % m.cfg.vocab_size;
    float *want = naive_forward(&n, tok, T);
    size_t N = (size_t)T * m.cfg.vocab_size;
    float *first = NULL;
    for (size_t i = 0; i < sizeof PATHS / sizeof PATHS[0]; i++) {
        float *got = run_path(&m, PATHS[i], tok, T);
        double err = th_max_abs(got, want, N);
        ck_assert_msg(err <= tol, "%s %s: max |ref - naive| = %g > %g", path, PATHS[i], err, tol);
        if (!first) first = got;
        else {
            ck_assert_msg(memcmp(first, got, N * sizeof(float)) == 0, "%s: %s differs bitwise from %s", path, PATHS[i],
                          PATHS[0]);
            free(got);
        }
    }
    free(first);
    free(want);
    free(tok);
    free(n.blob);
    lumi_model_free(&m);
}

START_TEST(synth_gqa_unshared) {
    check_model(th_synth("gqa_unshared.bin", 32, 48, 2, 4, 2, 97, 24, 1, 11), 24, 1e-5);
}
END_TEST

START_TEST(synth_mha_shared) { check_model(th_synth("mha_shared.bin", 24, 40, 3, 3, 3, 50, 16, 0, 12), 13, 1e-5); }
END_TEST

START_TEST(default_model) { check_model(DEFAULT_MODEL, 20, 1e-4); }
END_TEST

/* The naive oracle itself must notice a wrong model: perturb one weight of
 * the last layer's wo by 1e-3 and the logits must move by more than the
 * tolerance used above. */
START_TEST(naive_detects_perturbation) {
    const char *path = th_synth("perturb.bin", 32, 48, 2, 4, 2, 97, 24, 1, 11);
    Naive n;
    naive_load(path, &n);
    int tok[6] = {1, 5, 9, 33, 2, 60};
    float *a = naive_forward(&n, tok, 6);
    n.wo[(size_t)1 * 32 * 32 + 17] += 1e-3f;
    float *b = naive_forward(&n, tok, 6);
    ck_assert(th_max_abs(a, b, 6 * 97) > 1e-5);
    free(a), free(b), free(n.blob);
}
END_TEST

START_TEST(context_overflow_rejected) {
    const char *path = th_synth("ctx.bin", 16, 24, 1, 2, 1, 30, 8, 0, 5);
    LumiModel m;
    LumiErr e;
    LumiPathSpec p;
    LumiSession s;
    ck_assert(lumi_model_load(path, &m, &e) == 0);
    lumi_path_default(&p);
    ck_assert(lumi_session_open(&s, &m, &p, &e) == 0);
    int tok[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ck_assert_int_eq(lumi_session_feed(&s, tok, 9, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "context length 8"), "%s", e.msg);
    ck_assert_int_eq(lumi_session_feed(&s, tok, 8, NULL, &e), 0);
    ck_assert_int_eq(lumi_session_feed(&s, tok, 1, NULL, &e), -1);
    int bad = 30;
    lumi_session_reset(&s);
    ck_assert_int_eq(lumi_session_feed(&s, &bad, 1, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "outside the vocabulary"), "%s", e.msg);
    lumi_session_close(&s);
    lumi_model_free(&m);
}
END_TEST

Suite *suite_forward(void) {
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("naive");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, synth_gqa_unshared);
    tcase_add_test(tc, synth_mha_shared);
    tcase_add_test(tc, default_model);
    tcase_add_test(tc, naive_detects_perturbation);
    tcase_add_test(tc, context_overflow_rejected);
    suite_add_tcase(s, tc);
    return s;
}
