/* helpers.c: see helpers.h. */
#include "helpers.h"

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

int th_run(const char *cmd, char **out) {
    FILE *f = popen(cmd, "r");
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
