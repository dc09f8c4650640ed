/* cmd_bench_sampler.c: `lumi bench-sampler`, ns per sampled token for each
 * stage on its own and for llama.cpp-like chains, on synthetic logits shaped
 * like a language model's (a Zipf head over shuffled ids plus noise), so
 * that "sampling must not dominate decode" has a number. A full-sort
 * baseline (what the sampler did before it used partial selection) runs for
 * comparison. Prints a Markdown table; times are not asserted anywhere. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../paths/sampler/sampler.h"
#include "cli.h"

enum { ROWS = 16 };

static void make_logits(float *l, int V, uint64_t seed) {
    LumiRng r;
    lumi_rng_seed(&r, seed);
    for (int i = 0; i < V; i++) l[i] = (float)(-1.2 * log(i + 1.0) + 0.5 * (lumi_rng_f64(&r) - 0.5));
    for (int i = V - 1; i > 0; i--) { /* shuffle: the head lands on random ids */
        int j = (int)(lumi_rng_u64(&r) % (uint64_t)(i + 1));
        float t = l[i];
        l[i] = l[j];
        l[j] = t;
    }
    for (int i = 0; i < V; i++) l[i] *= 6.0f; /* a peaked distribution, like a trained model */
}

/* the old sampler: softmax, qsort of the whole vocabulary, nucleus, draw */
typedef struct { float p; int id; } Cand;
static int cmp_desc(const void *a, const void *b) {
    const Cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}
static int full_sort_top_p(Cand *c, const float *l, int V, float top_p, LumiRng *r) {
    float mx = l[lumi_argmax(l, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += (c[i] = (Cand){expf(l[i] - mx), i}).p;
    qsort(c, (size_t)V, sizeof *c, cmp_desc);
    double cum = 0;
    int n = 0;
    while (n < V && cum < top_p * sum) cum += c[n++].p;
    double x = lumi_rng_f64(r) * cum, acc = 0;
    for (int i = 0; i < n; i++)
        if (x < (acc += c[i].p)) return c[i].id;
    return c[n - 1].id;
}

static const char *USAGE = "usage: lumi bench-sampler [-V VOCAB (32000)] [-n ITERATIONS (2000)]\n";

int cmd_bench_sampler(int argc, char **argv) {
    long V = 32000, iters = 2000;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        }
        if (!strcmp(argv[i], "-V") && (v = cli_value(argc, argv, &i)) && !lumi_parse_int(v, 2, 1 << 24, &V)) continue;
        if (!strcmp(argv[i], "-n") && (v = cli_value(argc, argv, &i)) && !lumi_parse_int(v, 1, 1 << 24, &iters)) continue;
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    float *rows = lumi_xmalloc((size_t)ROWS * (size_t)V * sizeof(float));
    for (int r = 0; r < ROWS; r++) make_logits(rows + (size_t)r * V, (int)V, (uint64_t)r);
    static const char *const CASES[][2] = {
        {"greedy", "temperature=0"},
        {"temperature 1 (full softmax)", "temperature=1"},
        {"top-k 40", "temperature=1,top_k=40"},
        {"top-p 0.9", "temperature=1,top_p=0.9"},
        {"top-p 0.99", "temperature=1,top_p=0.99"},
        {"min-p 0.05", "temperature=1,min_p=0.05"},
        {"typical 0.9", "temperature=1,typical=0.9"},
        {"penalties (1.1, last 64)", "temperature=1,repeat_penalty=1.1,presence_penalty=0.1"},
        {"mirostat v2", "temperature=1,mirostat=2"},
        {"llama.cpp-like chain", "temperature=0.8,repeat_penalty=1.1,top_k=40,top_p=0.95,min_p=0.05"},
    };
    printf("vocab %ld, %ld draws per case, %d logit rows cycled\n\n| sampler | ns/token |\n|---|---|\n", V, iters,
           ROWS);
    int sink = 0;
    for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
        LumiSamplerCfg c;
        lumi_sampler_cfg_default(&c);
        char spec[256];
        snprintf(spec, sizeof spec, "%s", CASES[ci][1]);
        LumiErr e;
        for (char *kv = strtok(spec, ","); kv; kv = strtok(NULL, ",")) {
            char *eq = strchr(kv, '=');
            *eq = 0;
            if (lumi_sampler_set(&c, kv, eq + 1, &e)) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
        }
        LumiSampler s;
        if (lumi_sampler_init(&s, &c, (int)V, &e)) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
        double t0 = lumi_now();
        for (long i = 0; i < iters; i++) {
            int id = lumi_sample(&s, rows + (size_t)(i % ROWS) * V);
            lumi_sampler_accept(&s, id);
            sink += id;
        }
        printf("| %s | %.0f |\n", CASES[ci][0], 1e9 * (lumi_now() - t0) / iters);
        lumi_sampler_free(&s);
    }
    Cand *cand = lumi_xmalloc((size_t)V * sizeof *cand);
    LumiRng r;
    lumi_rng_seed(&r, 1);
    double t0 = lumi_now();
    for (long i = 0; i < iters; i++) sink += full_sort_top_p(cand, rows + (size_t)(i % ROWS) * V, (int)V, 0.9f, &r);
    printf("| top-p 0.9 by full qsort (the old way, baseline) | %.0f |\n", 1e9 * (lumi_now() - t0) / iters);
    fprintf(stderr, "(checksum %d)\n", sink);
    free(cand);
    free(rows);
    return LUMI_EXIT_OK;
}
