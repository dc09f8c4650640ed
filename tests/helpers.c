/* helpers.c: see helpers.h. */
#include "helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../paths/session.h"
#include "../engine/util.h"

int th_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

const char *th_tmpdir(void) {
    static char dir[64];
    if (!dir[0]) {
        strcpy(dir, "/tmp/lumi-test-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

const char *th_path(const char *name) {
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", th_tmpdir(), name);
    return b;
}

const char *th_synth(const char *name, int dim, int hidden, int layers, int heads, int kv_heads, int vocab, int seq,
                     int unshared, uint64_t seed) {
    const char *p = th_path(name);
    LumiSynthSpec s = {dim, hidden, layers, heads, kv_heads, vocab, seq, unshared, seed};
    LumiErr e;
    ck_assert_msg(lumi_synth_write(&s, p, &e) == 0, "synth: %s", e.msg);
    return p;
}

/* cmd with every "./lumi " at a word start replaced by bin + " ", malloc'd. */
static char *with_bin(const char *cmd, const char *bin) {
    static const char KEY[] = "./lumi ";
    size_t klen = sizeof KEY - 1, n = 0, cap = strlen(cmd) + 1;
    for (const char *p = cmd; (p = strstr(p, KEY)); p += klen) cap += strlen(bin) + 1;
    char *r = lumi_xmalloc(cap);
    for (const char *p = cmd; *p;) {
        if (!strncmp(p, KEY, klen) && (p == cmd || p[-1] == ' ' || p[-1] == '(' || p[-1] == ';')) {
            n += (size_t)sprintf(r + n, "%s ", bin);
            p += klen;
        } else {
            r[n++] = *p++;
        }
    }
    r[n] = 0;
    return r;
}

int th_run(const char *cmd, char **out) {
    const char *bin = getenv("LUMI_BIN");
    char *full = with_bin(cmd, bin && *bin ? bin : "./lumi");
    FILE *f = popen(full, "r");
    free(full);
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    char *buf = lumi_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 >= cap) buf = lumi_xrealloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(f);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

double th_max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
        if (d > m || d != d) m = d != d ? 1e30 : d;
    }
    return m;
}

float *th_logits(const LumiModel *m, const int *tok, int T) {
    LumiSession s;
    LumiPathSpec p;
    LumiErr e;
    lumi_path_default(&p);
    ck_assert_msg(lumi_session_open(&s, m, &p, &e) == 0, "%s", e.msg);
    float *out = lumi_xmalloc((size_t)T * m->cfg.vocab_size * sizeof(float));
    ck_assert_msg(lumi_session_feed(&s, tok, T, out, &e) == 0, "%s", e.msg);
    lumi_session_close(&s);
    return out;
}

#if defined(__SANITIZE_ADDRESS__)
#define TH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TH_ASAN 1
#endif
#endif

const char *th_ulimit_1g(void) {
#ifdef TH_ASAN
    return "";
#else
    return "ulimit -v 1000000; ";
#endif
}

/* Skips are recorded one line each ("test\tneeds\treason") in a file the
 * runner names before Check forks the tests, so children can append. */
static char skip_log[64];

void th_skip_log_open(void) {
    strcpy(skip_log, "/tmp/lumi-skips-XXXXXX");
    int fd = mkstemp(skip_log);
    if (fd < 0) abort();
    close(fd);
}

void th_skip(const char *test, const char *needs, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    size_t tl = strlen(test); /* Check names the test function name_fn */
    if (tl > 3 && !strcmp(test + tl - 3, "_fn")) tl -= 3;
    printf("SKIP %.*s: %s\n", (int)tl, test, why);
    fflush(stdout);
    FILE *f = skip_log[0] ? fopen(skip_log, "a") : NULL;
    if (!f) return;
    fprintf(f, "%.*s\t%s\t%s\n", (int)tl, test, needs, why);
    fclose(f);
}

static int is_shared(const char *needs) { return !strncmp(needs, SHARED_MODELS "/", strlen(SHARED_MODELS) + 1); }

int th_skip_summary(int n_tests) {
    FILE *f = skip_log[0] ? fopen(skip_log, "r") : NULL;
    if (!f) return 0;
    const char *ci = getenv("CI");
    int strict = ci && !strcmp(ci, "true") && th_exists(SHARED_MODELS);
    int n = 0, fatal = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) n++;
    if (n) printf("Skipped: %d (in %d tests run; a skip is not a pass):\n", n, n_tests);
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        char *needs = strchr(line, '\t'), *why = needs ? strchr(needs + 1, '\t') : NULL;
        if (!why) continue;
        *needs++ = 0, *why++ = 0;
        int bad = strict && is_shared(needs);
        fatal |= bad;
        printf("  %s: %s", line, why);
        if (bad) printf("  ^ FAIL: CI=true and %s is present, so shared-model tests must run\n", SHARED_MODELS);
    }
    fclose(f);
    remove(skip_log);
    return fatal;
}

const char *const TH_PATHS[TH_N_PATHS] = {
    "cache=fixed,prefill=batched",   "cache=fixed,prefill=token",   "cache=fixed,prefill=chunked:3",
    "cache=growing,prefill=batched", "cache=growing,prefill=token", "cache=growing,prefill=chunked:5",
    "cache=none,prefill=batched",    "cache=none,prefill=token",    "cache=none,prefill=chunked:4",
};

float *th_path_run(const LumiModel *m, const char *spec, int threads, const int *tok, int T,
                   const LumiBackendOps *swap) {
    LumiPathSpec p;
    LumiErr e;
    LumiSession s;
    lumi_path_default(&p);
    ck_assert_msg(lumi_path_parse(spec, &p, &e) == 0, "%s: %s", spec, e.msg);
    if (threads >= 0) p.threads = threads;
    ck_assert_msg(lumi_session_open(&s, m, &p, &e) == 0, "%s: %s", spec, e.msg);
    if (swap) s.be = s.cache.be = swap;
    size_t V = (size_t)m->cfg.vocab_size;
    float *out = malloc((size_t)T * V * sizeof(float));
    int first = T / 2;
    ck_assert_msg(lumi_session_feed(&s, tok, first, out, &e) == 0, "%s: %s", spec, e.msg);
    ck_assert_msg(lumi_session_feed(&s, tok + first, T - first, out + (size_t)first * V, &e) == 0, "%s: %s", spec,
                  e.msg);
    lumi_session_close(&s);
    return out;
}

int *th_tokens(const LumiModel *m, int T) {
    int *tok = malloc((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) tok[t] = (t * 7919 + 1) % m->cfg.vocab_size;
    return tok;
}

void th_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    ck_assert_msg(fclose(f) == 0, "writing %s failed", path);
}

char *th_slurp(const char *path) {
    char *s;
    LumiErr e;
    ck_assert_msg(lumi_read_file(path, &s, NULL, &e) == 0, "%s", e.msg);
    return s;
}
