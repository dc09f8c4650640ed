/* device_check.c: see device_check.h. */
#include "device_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *PATHS[] = {
    "cache=fixed,prefill=batched",   "cache=fixed,prefill=token",   "cache=fixed,prefill=chunked:3",
    "cache=growing,prefill=batched", "cache=growing,prefill=token", "cache=growing,prefill=chunked:5",
    "cache=none,prefill=batched",    "cache=none,prefill=token",    "cache=none,prefill=chunked:4",
};
#define N_PATHS (sizeof PATHS / sizeof PATHS[0])

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
    printf("SKIP %s: %s\n", test, e.msg);
    return 1;
}

/* Logits of every position, fed in two parts so every path also runs
 * against a non-empty cache. */
static float *run(const LumiModel *m, const char *backend, const char *spec, const int *tok, int T) {
    char full[128];
    snprintf(full, sizeof full, "backend=%s,%s", backend, spec);
    LumiSession s;
    LumiErr e;
    ck_assert_msg(th_open_path(&s, m, full, &e) == 0, "%s", e.msg);
    size_t V = (size_t)m->cfg.vocab_size;
    float *out = malloc((size_t)T * V * sizeof(float));
    int first = T / 2;
    ck_assert_msg(lumi_session_feed(&s, tok, first, out, &e) == 0, "%s: %s", full, e.msg);
    ck_assert_msg(lumi_session_feed(&s, tok + first, T - first, out + (size_t)first * V, &e) == 0, "%s: %s", full,
                  e.msg);
    lumi_session_close(&s);
    return out;
}

int *th_tokens(const LumiModel *m, int T) {
    int *tok = malloc((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) tok[t] = (t * 7919 + 1) % m->cfg.vocab_size;
    return tok;
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
