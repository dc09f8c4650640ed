/* test_bench.c: `lumi bench` from flags and from YAML, on a tiny model and
 * without the machine micro-benchmarks (they take seconds): exit codes,
 * the table, the CSV/JSON files and the synthesis cache. Throughput values
 * are not checked (no timed assertions), only that they are consistent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/util.h"
#include "../experiments/bench.h"
#include "helpers.h"

/* The one run folder under root (each test uses a fresh root). */
static const char *run_dir(const char *root) {
    static char dir[1024];
    char cmd[1100], *out;
    snprintf(cmd, sizeof cmd, "ls %s", root);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    out[strcspn(out, "\n")] = 0;
    ck_assert_msg(out[0], "no run folder under %s", root);
    snprintf(dir, sizeof dir, "%s/%s", root, out);
    free(out);
    return dir;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

START_TEST(bench_flags_write_table_csv_json) {
    const char *model = th_synth("bench_tiny.bin", 32, 48, 2, 4, 2, 64, 32, 0, 3);
    const char *root = th_path("bench_out1");
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd,
             "./lumi bench -m %s --path backend=cpu --path cache=none,prefill=token,threads=1 -p 6 -n 4 -r 2 "
             "--no-machine -o %s 2>&1",
             model, root);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "| pp6 ") && strstr(out, "| tg4 ") && strstr(out, "cache=none,prefill=token,threads=1"),
                  "%s", out);
    free(out);
    const char *dir = run_dir(root);
    char path[1200];
    snprintf(path, sizeof path, "%s/bench.csv", dir);
    char *csv = th_slurp(path);
    ck_assert_int_eq(count_lines(csv), 1 + 2 * 2); /* header + pp,tg per path */
    ck_assert_msg(strstr(csv, "\"backend=cpu,cache=fixed,prefill=batched\",pp,6,2,"), "%s", csv);
    free(csv);
    snprintf(path, sizeof path, "%s/bench.json", dir);
    char *json = th_slurp(path);
    ck_assert_msg(strstr(json, "\"machine\": null") && strstr(json, "\"n_prompt\": 6"), "%s", json);
    ck_assert_msg(strstr(json, "\"huge_page_mb\": "), "%s", json);
    /* median within min-max, per test and path */
    int seen = 0;
    for (const char *p = json; (p = strstr(p, "\"median\": ")); p++, seen++) {
        double med, lo, hi;
        ck_assert(sscanf(p, "\"median\": %lf, \"min\": %lf, \"max\": %lf", &med, &lo, &hi) == 3);
        ck_assert_msg(lo > 0 && lo <= med && med <= hi, "median %g outside [%g, %g]", med, lo, hi);
    }
    ck_assert_int_eq(seen, 4);
    free(json);
}
END_TEST

/* A `kind: bench` config on a tiny synthesized model (cached in `cache`),
 * writing under `root`; `keys` adds top-level lines. Returns its path. */
static const char *tiny_bench_yaml(const char *name, const char *cache, const char *root, const char *keys,
                                   const char *path) {
    const char *cfg = th_path(name);
    char text[2048];
    snprintf(text, sizeof text,
             "kind: bench\nreps: 1\n%sout: %s\ncache_dir: %s\n"
             "models:\n  - name: tiny\n    synth: {dim: 24, hidden: 40, layers: 1, heads: 3, kv_heads: 1, vocab: 50, seq: 16}\n"
             "paths:\n  - %s\n",
             keys, root, cache, path);
    LumiErr e;
    ck_assert(lumi_write_atomic(cfg, text, strlen(text), &e) == 0);
    return cfg;
}

START_TEST(bench_yaml_synthesizes_once) {
    const char *cache = th_path("bench_cache"), *root = th_path("bench_out2");
    const char *cfg = tiny_bench_yaml("bench.yaml", cache, root, "n_prompt: 5\nn_gen: 3\nmachine: false\n",
                                      "{cache: growing, prefill: chunked:2}");
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "./lumi bench --config %s 2>&1", cfg);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "synthesizing") && strstr(out, "backend=cpu,cache=growing,prefill=chunked:2"), "%s", out);
    free(out);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(!strstr(out, "synthesizing"), "second run synthesized again: %s", out);
    free(out);
    /* one model file in the cache folder (named by a hash of shape and seed) */
    snprintf(cmd, sizeof cmd, "ls %s/*.bin | wc -l", cache);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(atoi(out) == 1, "cache %s holds %s model files", cache, out);
    free(out);
}
END_TEST

/* The paired decode's summary on made-up samples: two levels are found
 * and each token is judged against the better sample next to it. */
START_TEST(bench_paired_splits_levels) {
    /* samples before tokens 0..8: four tokens at 60 GB/s, then 30 GB/s */
    double gbs[9] = {60, 61, 59, 60, 30, 31, 29, 30, 30}, sec[8];
    double frac[8] = {0.9, 0.9, 0.9, 0.9, 0.95, 0.95, 0.95, 0.95};
    for (int i = 0; i < 8; i++) {
        double bw = gbs[i] > gbs[i + 1] ? gbs[i] : gbs[i + 1];
        sec[i] = 1e9 / (frac[i] * bw * 1e9);
    }
    LumiPaired q;
    lumi_bench_paired(gbs, sec, 8, 1e9, &q);
    ck_assert_int_eq(q.tokens, 8);
    ck_assert_int_eq(q.n[0], 4);
    ck_assert_int_eq(q.n[1], 4);
    ck_assert_double_eq_tol(q.frac, 0.925, 1e-9);
    ck_assert_double_eq_tol(q.frac_of[0], 0.9, 1e-9);
    ck_assert_double_eq_tol(q.frac_of[1], 0.95, 1e-9);
    ck_assert_double_eq_tol(q.gbs[0], 60.5, 1e-9); /* token 3 is judged against 60, token 2 against 60 */
    ck_assert_double_eq_tol(q.gbs[1], 30.5, 1e-9);
    /* one level: samples within 25% of each other stay together */
    for (int i = 0; i < 9; i++) gbs[i] = 50 + i;
    for (int i = 0; i < 8; i++) sec[i] = 1e9 / (0.8 * gbs[i + 1] * 1e9);
    lumi_bench_paired(gbs, sec, 8, 1e9, &q);
    ck_assert_int_eq(q.n[0], 8);
    ck_assert_int_eq(q.n[1], 0);
    ck_assert_double_eq_tol(q.frac, 0.8, 1e-9);
}
END_TEST

/* With the machine measured, decode is also timed token by token between
 * bandwidth samples: n_gen - 1 tokens, a fraction in the table and JSON. */
START_TEST(bench_machine_pairs_decode_tokens) {
    const char *model = th_synth("bench_tiny.bin", 32, 48, 2, 4, 2, 64, 32, 0, 3);
    const char *root = th_path("bench_out3");
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "./lumi bench -m %s --path backend=cpu -p 4 -n 6 -r 1 -o %s 2>&1", model, root);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "sampled just before and after each token") && strstr(out, "over 5 tokens"), "%s", out);
    free(out);
    char path[1200];
    snprintf(path, sizeof path, "%s/bench.json", run_dir(root));
    char *json = th_slurp(path);
    const char *q = strstr(json, "\"paired\": {\"tokens\": 5, \"fraction_of_read_bandwidth\": ");
    ck_assert_msg(q, "%s", json);
    double f = atof(q + strlen("\"paired\": {\"tokens\": 5, \"fraction_of_read_bandwidth\": "));
    ck_assert_msg(f > 0 && strstr(q, "\"levels\": [{\"read_gbs\": "), "%s", json);
    free(json);
    snprintf(path, sizeof path, "%s/bench.csv", run_dir(root));
    char *csv = th_slurp(path);
    ck_assert_msg(strstr(csv, ",tg,6,1,") && strstr(csv, ",read_bandwidth_per_token,"), "%s", csv);
    free(csv);
}
END_TEST

/* The kind's tables rebuilt from cases.jsonl (a resume) keep the paired
 * fraction in bench.csv, as the run that measured it wrote it. */
START_TEST(bench_resume_keeps_paired_fraction) {
    const char *root = th_path("bench_out4");
    const char *cfg = tiny_bench_yaml("bench_pair.yaml", th_path("bench_cache_pair"), root, "n_prompt: 4\nn_gen: 4\n",
                                      "backend=cpu");
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "./lumi run %s 2>&1", cfg);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    free(out);
    const char *dir = run_dir(root);
    char path[1200];
    snprintf(path, sizeof path, "%s/bench.csv", dir);
    char *before = th_slurp(path);
    ck_assert_msg(strstr(before, ",read_bandwidth_per_token,"), "%s", before);
    snprintf(cmd, sizeof cmd, "./lumi run --resume %s 2>&1", dir);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    free(out);
    char *after = th_slurp(path);
    ck_assert_msg(strstr(after, ",read_bandwidth_per_token,"), "rebuilt bench.csv lost the paired fraction:\n%s", after);
    /* the same tg fraction, digit for digit */
    const char *a = strstr(before, ",tg,"), *b = strstr(after, ",tg,");
    ck_assert(a && b);
    ck_assert_msg(strncmp(a, b, strcspn(a, "\n")) == 0, "before: %s\nafter: %s", before, after);
    free(before), free(after);
}
END_TEST

START_TEST(bench_bad_input_exit_2) {
    const char *cfg = th_path("bench_bad.yaml");
    const char *text = "kind: bench\nmodels:\n  - name: x\n    file: models/kjv1M.bin\n    colour: red\n";
    char cmd[2048], *out;
    LumiErr e;
    ck_assert(lumi_write_atomic(cfg, text, strlen(text), &e) == 0);
    snprintf(cmd, sizeof cmd, "./lumi bench --config %s 2>&1", cfg);
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "bench_bad.yaml:5:") && strstr(out, "colour"), "%s", out);
    free(out);
    ck_assert_int_eq(th_run("./lumi bench -m " DEFAULT_MODEL " -p 300 --no-machine 2>&1", &out), 2);
    ck_assert_msg(strstr(out, "context length 256"), "%s", out);
    free(out);
    ck_assert_int_eq(th_run("./lumi bench -m " DEFAULT_MODEL " --path backend=nope --no-machine 2>&1", &out), 2);
    free(out);
    ck_assert_int_eq(th_run("./lumi bench --no-machine 2>&1", &out), 2);
    ck_assert_msg(strstr(out, "missing -m"), "%s", out);
    free(out);
}
END_TEST

Suite *suite_bench(void) {
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bench_flags_write_table_csv_json);
    tcase_add_test(tc, bench_yaml_synthesizes_once);
    tcase_add_test(tc, bench_bad_input_exit_2);
    tcase_add_test(tc, bench_paired_splits_levels);
    tcase_add_test(tc, bench_machine_pairs_decode_tokens);
    tcase_add_test(tc, bench_resume_keeps_paired_fraction);
    suite_add_tcase(s, tc);
    return s;
}
