/* test_harness.c: the equivalence harness end to end through ./lumi:
 * every path pair on the shipped model and on a synthesized GQA model with
 * an unshared classifier, canary detection, positioned config errors,
 * results and resume, goldens and their damage, and a long prompt through
 * chunked prefill on a non-empty cache. Models and prompts are small so
 * the suite stays fast. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../engine/npy.h"
#include "../paths/session.h"
#include "../experiments/golden.h"
#include "../experiments/trace.h"
#include "../engine/backend.h"
#include "helpers.h"

#define LUMI "./lumi"

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Runs "./lumi ARGS CONFIG 2>&1"; returns the exit code, output in *out. */
static int lumi(const char *args, const char *config, char **out) {
    char cmd[2200];
    snprintf(cmd, sizeof cmd, LUMI " %s %s 2>&1", args, config);
    return th_run(cmd, out);
}

/* The only run folder under out/name (tests give every config its own output). */
static const char *run_dir(const char *out, const char *name) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    char parent[300];
    snprintf(parent, sizeof parent, "%s/%s", out, name);
    DIR *d = opendir(parent);
    ck_assert_msg(d != NULL, "no results folder %s", parent);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            snprintf(b, 1024, "%s/%s", parent, de->d_name);
            n++;
        }
    closedir(d);
    ck_assert_int_eq(n, 1);
    return b;
}

/* A config on the shipped model (or any model: line), output in the temp dir. */
static const char *config(const char *file, const char *name, const char *model, const char *body) {
    const char *path = th_path(file);
    char text[4096];
    /* kjv512's 512 tokens do not fit a 64-row model (exit 2): those take ids */
    const char *tok = strstr(model, "vocab: 64,") ? "" : "tokenizer: models/kjv512.bin\n";
    snprintf(text, sizeof text, "name: %s\nkind: equivalence\nmodel: %s\n%soutput: %s\ngoldens: %s\n%s", name, model, tok,
             th_path("results"), th_path(name), body);
    th_write_text(path, text);
    return path;
}

static const char *MATRIX = "paths:\n  cache: [none, growing, fixed]\n  prefill: [token, batched, \"chunked:2\"]\n";

START_TEST(every_path_default_model) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    char body[1024];
    th_write_text(th_path("h_prompt.txt"), "And God said\n");
    snprintf(body, sizeof body,
             "prompts: [\"In the beginning\", {name: ids, ids: [1, 400, 30]}, {name: f, file: %s}]\nsteps: 5\n%s",
             th_path("h_prompt.txt"), MATRIX);
    const char *cfg = config("h_default.yaml", "h_default", DEFAULT_MODEL, body);
    char *out;
    ck_assert_int_eq(lumi("check", cfg, &out), 0);
    ck_assert_msg(count(out, " PASS") == 9 && !strstr(out, "FAIL"), "%s", out);
    const char *dir = run_dir(th_path("results"), "h_default");
    char p[700];
    const char *files[] = {"config.yaml", "run.json", "cases.jsonl", "equivalence.csv", "equivalence.txt"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        ck_assert_msg(th_exists(p), "missing %s", p);
    }
    snprintf(p, sizeof p, "%s/cases.jsonl", dir);
    char *cases = th_slurp(p);
    ck_assert_int_eq(count(cases, "\n"), 3 * (1 + 9)); /* per prompt: the reference + 9 paths */
    ck_assert_int_eq(count(cases, "\"verdict\":\"pass\""), 27);
    /* the file prompt is its text without the final newline: BOS + "And God said" */
    ck_assert_msg(strstr(cases, "\"prompt\":\"f\",\"path\":\"backend=ref,cache=fixed,prefill=token\",\"role\":"
                                "\"reference\",\"prompt_ids\":[1,"),
                  "%s", cases);
    snprintf(p, sizeof p, "%s/run.json", dir);
    char *run = th_slurp(p);
    ck_assert_msg(strstr(run, "\"crc32\":\"") && strstr(run, "\"status\":\"complete\"") && strstr(run, "\"machine\""),
                  "%s", run);
    free(run);
    free(cases);
    free(out);
}
END_TEST

/* GQA (4 query heads on 2 kv heads), unshared classifier, sampled tokens */
START_TEST(every_path_synth_gqa_unshared) {
    char body[1024];
    snprintf(body, sizeof body,
             "prompts: [{ids: [1, 5, 9, 20, 33, 2, 7]}, \"And God\"]\nsteps: 10\n"
             "sampler: {temperature: 0.9, top_k: 20, seed: 3}\n%s",
             MATRIX);
    const char *cfg = config("h_gqa.yaml", "h_gqa",
                             "{synth: {dim: 32, hidden: 48, layers: 2, heads: 4, kv_heads: 2, vocab: 512, seq: 40, "
                             "unshared: true, seed: 11}}",
                             body);
    char *out;
    ck_assert_int_eq(lumi("check", cfg, &out), 0);
    ck_assert_msg(count(out, " PASS") == 9 && !strstr(out, "FAIL"), "%s", out);
    free(out);
}
END_TEST

START_TEST(canary_is_caught) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    /* positions 3 (prompt, computed by batched prefill) and 9 (decode) */
    const char *cfg = config("h_canary.yaml", "h_canary", DEFAULT_MODEL,
                             "prompts: [\"In the beginning\"]\nsteps: 4\n"
                             "paths:\n  - {cache: growing, prefill: batched}\n"
                             "  - {cache: growing, prefill: batched, canary: {position: 3, epsilon: 1e-6}}\n"
                             "  - {cache: none, prefill: \"chunked:3\", canary: {position: 9, epsilon: -1e-6}}\n");
    char *out;
    ck_assert_int_eq(lumi("check", cfg, &out), 1);
    ck_assert_msg(strstr(out, "FAIL backend=ref,cache=growing,prefill=batched canary@3: prompt p0 position 3:"), "%s",
                  out);
    ck_assert_msg(strstr(out, "FAIL backend=ref,cache=none,prefill=chunked:3 canary@9: prompt p0 position 9:"), "%s",
                  out);
    ck_assert_int_eq(count(out, " PASS"), 1);
    free(out);
    /* lumi run reports the same table but exits 0: only check enforces */
    ck_assert_int_eq(lumi("run", cfg, &out), 0);
    ck_assert_int_eq(count(out, "lumi: FAIL "), 2);
    free(out);
    /* a tolerance that allows the canary's 1e-6 passes; one that does not fails */
    cfg = config("h_canary_tol.yaml", "h_canary_tol", DEFAULT_MODEL,
                 "prompts: [\"In the beginning\"]\nsteps: 2\n"
                 "paths:\n  - {cache: fixed, canary: {position: 2, epsilon: 1e-6}, tolerance: {max_abs: 2e-6}}\n"
                 "  - {cache: growing, canary: {position: 2, epsilon: 1e-4}, tolerance: {max_abs: 2e-6}}\n");
    ck_assert_int_eq(lumi("check", cfg, &out), 1);
    ck_assert_msg(count(out, " PASS") == 1 && strstr(out, "canary@2: prompt p0 position 2: max_abs"), "%s", out);
    free(out);
}
END_TEST

/* Another backend: compared with the reference under the cross-backend
 * tolerance and, bitwise, with its own anchor path, so a 1e-6 canary that
 * max-abs 1e-4 would let through is still caught. Runs once a cpu backend
 * is registered (issue 4). */
START_TEST(cross_backend_anchor) {
    if (!lumi_backend_find("cpu")) {
        TH_SKIP("backend cpu", "no 'cpu' backend registered in this build");
    }
    const char *cfg = config("h_cross.yaml", "h_cross",
                             "{synth: {dim: 32, hidden: 48, layers: 2, heads: 4, kv_heads: 2, vocab: 64, seq: 32, "
                             "unshared: true, seed: 4}}",
                             "prompts: [{ids: [1, 5, 9, 20, 33]}]\nsteps: 6\n"
                             "paths:\n  backend: [ref, cpu]\n  cache: [none, fixed]\n  prefill: [token, batched]\n"
                             "  extra: [{backend: cpu, cache: growing, prefill: \"chunked:2\", "
                             "canary: {position: 4, epsilon: 1e-6}}]\n");
    char *out;
    ck_assert_int_eq(lumi("check", cfg, &out), 1);
    ck_assert_msg(count(out, " PASS") == 8, "%s", out);
    ck_assert_msg(strstr(out, "canary@4: prompt p0 position 4 vs backend=cpu,cache=none,prefill=token: not bitwise"),
                  "%s", out);
    free(out);
}
END_TEST

/* Each bad config exits 2 with "file:line:col:" and what is wrong. */
START_TEST(config_errors_are_positioned) {
    struct {
        const char *body, *want1, *want2;
    } cases[] = {
        {"name: x\nkind: equivalence\nmodel: m\nprompts: [{ids: [1]}]\ncolour: red\n", ":5:1: unknown key 'colour'",
         "valid: name"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [{ids: [1]}]\nsteps: many\n", ":5:8:",
         "'steps' must be an integer"},
        {"name: x\nkind: equivalence\nprompts: [{ids: [1]}]\n", ":1:1:", "missing required key 'model'"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [{ids: [1]}]\npaths: {prefill: [token, "
         "chunky]}\n",
         ":5:26:", "unknown prefill 'chunky' (valid: token, batched, chunked:N)"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [{ids: [1]}]\npaths: {cache: [fixed, "
         "lru]}\n",
         ":5:24:", "unknown cache 'lru'"},
        {"name: x\nkind: equivalence\nmodel: models/nope.bin\nprompts: [{ids: [1]}]\n", ":3:8: model:",
         "models/nope.bin"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [{ids: [1]}]\nreference: {backend: gpu}\n",
         ":5:22:", "unknown backend 'gpu'"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [{ids: [1]}]\ntolerance: {same_backend: "
         "loose}\n",
         ":5:27:", "'bitwise' or a mapping"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [\"hi\"]\n", ":4:11:", "needs 'tokenizer'"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [{ids: [1, 999]}]\n", ":4:11:",
         "outside the vocabulary"},
        {"name: x\nkind: study9\nmodel: m\n", ":2:7:", "unknown kind 'study9'"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\ntokenizer: models/kjv512.bin\n"
         "prompts: [{file: /nonexistent/p.txt}]\n",
         ":5:11: prompt 'p0':", "/nonexistent/p.txt: cannot open"},
        {"name: x\nkind: equivalence\nmodel: {synth: {dim: 30, hidden: 8, layers: 1, heads: 4, kv_heads: 4, vocab: "
         "8, seq: 8}}\nprompts: [{ids: [1]}]\n",
         ":3:16: model.synth:", "dim"},
        {"name: x\nkind: equivalence\nmodel: models/kjv1M.bin\nprompts: [{ids: [1]}]\npaths: [{cache: fixed, "
         "canary: {position: 1}}]\n",
         ":5:", "missing required key 'epsilon'"},
    };
    const char *cfg = th_path("h_bad.yaml");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        th_write_text(cfg, cases[i].body);
        char *out;
        ck_assert_int_eq(lumi("run", cfg, &out), 2);
        ck_assert_msg(strstr(out, "h_bad.yaml") && strstr(out, cases[i].want1) && strstr(out, cases[i].want2),
                      "case %zu: %s", i, out);
        ck_assert_msg(count(out, "\n") == 1, "case %zu: one line expected: %s", i, out);
        free(out);
    }
}
END_TEST

/* cases.jsonl without the timing fields, which differ run to run */
static char *cases_without_seconds(const char *dir) {
    char p[700];
    snprintf(p, sizeof p, "%s/cases.jsonl", dir);
    char *s = th_slurp(p), *w = s;
    for (const char *r = s; *r;) {
        if (!strncmp(r, ",\"seconds\":", 11)) {
            r += 11;
            while (*r && *r != ',' && *r != '}') r++;
            continue;
        }
        *w++ = *r++;
    }
    *w = 0;
    return s;
}

START_TEST(resume_completes_an_interrupted_run) {
    const char *body = "prompts: [{name: a, ids: [1, 4, 9]}, {name: b, ids: [1, 30]}]\nsteps: 6\n"
                       "paths: {cache: [none, fixed], prefill: [token, \"chunked:2\"]}\n";
    const char *model = "{synth: {dim: 16, hidden: 24, layers: 1, heads: 2, kv_heads: 1, vocab: 64, seq: 16, seed: 5}}";
    const char *full = config("h_full.yaml", "h_full", model, body);
    const char *part = config("h_part.yaml", "h_part", model, body);
    char *out;
    ck_assert_int_eq(lumi("run", full, &out), 0);
    free(out);
    /* killed after 3 cases: the reference and two paths of prompt a */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "LUMI_STOP_AFTER_CASES=3 " LUMI " run %s 2>&1", part);
    ck_assert_int_eq(th_run(cmd, &out), 3);
    free(out);
    const char *dir = run_dir(th_path("results"), "h_part");
    char p[700];
    snprintf(p, sizeof p, "%s/equivalence.csv", dir);
    ck_assert(!th_exists(p));
    char *before = cases_without_seconds(dir);
    ck_assert_int_eq(count(before, "\n"), 3);
    /* and a torn half-written line, as a kill mid-write leaves */
    snprintf(p, sizeof p, "%s/cases.jsonl", dir);
    FILE *f = fopen(p, "a");
    fputs("{\"prompt\":\"b\",\"path\":\"backend=re", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "--resume %s", dir);
    ck_assert_int_eq(lumi("run", cmd, &out), 0);
    free(out);
    char *after = cases_without_seconds(dir), *ref = cases_without_seconds(run_dir(th_path("results"), "h_full"));
    ck_assert_msg(!strncmp(after, before, strlen(before)), "completed cases were rewritten");
    ck_assert_str_eq(after, ref);
    char p2[700];
    snprintf(p, sizeof p, "%s/equivalence.csv", dir);
    snprintf(p2, sizeof p2, "%s/equivalence.csv", run_dir(th_path("results"), "h_full"));
    char *c1 = th_slurp(p), *c2 = th_slurp(p2);
    ck_assert_str_eq(c1, c2);
    /* a case recorded as an error (a path that failed to run) is retried */
    snprintf(p, sizeof p, "%s/cases.jsonl", dir);
    char *all = th_slurp(p), *last = all + strlen(all) - 1;
    while (last > all && last[-1] != '\n') last--;
    char *path_at = strstr(last, "\"path\":\"");
    ck_assert(path_at != NULL);
    char *path_end = strchr(path_at + 8, '"');
    snprintf(cmd, sizeof cmd, "{\"prompt\":\"b\",%.*s,\"role\":\"path\",\"verdict\":\"error\",\"error\":\"x\"}\n",
             (int)(path_end + 1 - path_at), path_at);
    *last = 0;
    f = fopen(p, "w");
    fputs(all, f);
    fputs(cmd, f);
    fclose(f);
    free(all);
    snprintf(cmd, sizeof cmd, "--resume %s", dir);
    ck_assert_int_eq(lumi("run", cmd, &out), 0);
    ck_assert_msg(strstr(out, "prompt b:") && strstr(out, "1 paths"), "%s", out);
    free(out);
    free(c1);
    snprintf(p, sizeof p, "%s/equivalence.csv", dir);
    c1 = th_slurp(p);
    ck_assert_str_eq(c1, c2);
    /* resuming with a different config is refused */
    snprintf(cmd, sizeof cmd, "%s --resume %s", full, dir);
    ck_assert_int_eq(lumi("run", cmd, &out), 2);
    ck_assert_msg(strstr(out, "differs"), "%s", out);
    free(out);
    free(c1);
    free(c2);
    free(before);
    free(after);
    free(ref);
}
END_TEST

/* Rewrites golden `file` with logit [pos, col] moved by delta and the
 * manifest's CRC updated: a consistent golden that no longer matches. */
static void shift_golden_logit(const char *dir, const char *file, int pos, int col, float delta) {
    char path[700], man[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(man, sizeof man, "%s/manifest.json", dir);
    gzFile g = gzopen(path, "rb");
    ck_assert(g != NULL);
    size_t cap = 1 << 22, n = 0;
    unsigned char *raw = malloc(cap);
    int r;
    while ((r = gzread(g, raw + n, (unsigned)(cap - n))) > 0) n += (size_t)r;
    gzclose(g);
    size_t hl = 10 + (raw[8] | (raw[9] << 8)), rows, cols;
    ck_assert(lumi_npy_parse(raw, n, &rows, &cols) == (size_t)hl);
    uint32_t old = (uint32_t)crc32(0, raw, (uInt)n);
    float *data = (float *)(raw + hl);
    data[(size_t)pos * cols + (size_t)col] += delta;
    uint32_t crc;
    LumiErr e;
    ck_assert(lumi_npy_gz_write(path, data, rows, cols, &crc, &e) == 0);
    char *m = th_slurp(man), oldhex[16], newhex[16];
    snprintf(oldhex, sizeof oldhex, "%08x", (unsigned)old);
    snprintf(newhex, sizeof newhex, "%08x", (unsigned)crc);
    char *at = strstr(m, oldhex);
    ck_assert(at != NULL);
    memcpy(at, newhex, 8);
    th_write_text(man, m);
    free(m);
    free(raw);
}

START_TEST(goldens_round_trip_and_damage) {
    const char *cfg = config("h_gold.yaml", "h_gold",
                             "{synth: {dim: 16, hidden: 32, layers: 2, heads: 4, kv_heads: 2, vocab: 64, seq: 24, "
                             "unshared: true, seed: 9}}",
                             "prompts: [{name: a, ids: [1, 4, 9, 16]}, {name: b, ids: [1]}]\nsteps: 6\n");
    const char *gd = th_path("h_gold");
    char *out, cmd[1024], p[700];
    ck_assert_int_eq(lumi("golden record", cfg, &out), 0);
    free(out);
    ck_assert_int_eq(lumi("golden verify", cfg, &out), 0);
    ck_assert_msg(strstr(out, "all 2 prompts match"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "cp -r %s %s.bak", gd, gd);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
#define RESTORE()                                                        \
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s.bak %s", gd, gd, gd); \
    ck_assert_int_eq(th_run(cmd, NULL), 0)
    /* one logit moved by 1e-5 at position 7 of prompt a: drift, exit 1 */
    shift_golden_logit(gd, "a.npy.gz", 7, 3, 1e-5f);
    ck_assert_int_eq(lumi("golden verify", cfg, &out), 1);
    ck_assert_msg(strstr(out, "drift: prompt 'a' position 7:"), "%s", out);
    ck_assert_msg(strstr(out, "ok b:"), "%s", out);
    free(out);
    RESTORE();
    /* damaged files: exit 2 with the file named, never a crash */
    struct {
        const char *shell, *want;
    } dmg[] = {
        {"head -c 300 %s/a.npy.gz > %s/t && mv %s/t %s/a.npy.gz", "truncated"},
        {"echo garbage > %s/a.npy.gz", "not a gzip file"},
        {"rm %s/b.npy.gz", "cannot open"},
        {"gzip -dc %s/a.npy.gz | head -c 1000 | gzip > %s/t && mv %s/t %s/a.npy.gz", "truncated"},
        {"sed -i 's/\"rows\": 10/\"rows\": 9/' %s/manifest.json", "manifest says"},
        {"sed -i 's/\"crc32\": \"[0-9a-f]*\", *$/\"crc32\": \"00000000\",/' %s/manifest.json", "CRC-32"},
        {"echo '{' > %s/manifest.json", "manifest.json"},
        {"rm %s/manifest.json", "golden record"},
    };
    for (size_t i = 0; i < sizeof dmg / sizeof dmg[0]; i++) {
        char sh[900];
        snprintf(sh, sizeof sh, dmg[i].shell, gd, gd, gd, gd, gd);
        ck_assert_int_eq(th_run(sh, NULL), 0);
        ck_assert_int_eq(lumi("golden verify", cfg, &out), 2);
        ck_assert_msg(strstr(out, dmg[i].want), "damage %zu: %s", i, out);
        free(out);
        RESTORE();
    }
    snprintf(p, sizeof p, "%s/manifest.json", gd);
    ck_assert(th_exists(p));
    ck_assert_int_eq(lumi("golden verify", cfg, &out), 0);
    free(out);
#undef RESTORE
}
END_TEST

/* A long prompt arriving in chunks after earlier tokens (a chat turn): each
 * chunk attends over a non-empty cache. Every cache strategy must produce
 * the token-at-a-time logits bitwise. */
START_TEST(long_prompt_chunked_on_nonempty_cache) {
    const char *mp = th_synth("h_chunk.bin", 32, 48, 2, 4, 2, 64, 160, 1, 21);
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(mp, &m, &e) == 0, "%s", e.msg);
    int first[5] = {1, 7, 8, 9, 10}, n = 130, V = m.cfg.vocab_size;
    int *longp = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) longp[i] = (i * 37 + 11) % V;
    LumiPathSpec ref;
    lumi_path_default(&ref);
    ck_assert(lumi_path_parse("cache=fixed,prefill=token", &ref, &e) == 0);
    float *want = malloc(sizeof(float) * (size_t)n * V), *got = malloc(sizeof(float) * (size_t)n * V);
    LumiSession s;
    ck_assert(lumi_session_open(&s, &m, &ref, &e) == 0);
    ck_assert(lumi_session_feed(&s, first, 5, NULL, &e) == 0);
    ck_assert(lumi_session_feed(&s, longp, n, want, &e) == 0);
    lumi_session_close(&s);
    const char *paths[] = {"cache=fixed,prefill=chunked:7", "cache=growing,prefill=chunked:7",
                           "cache=none,prefill=chunked:32", "cache=growing,prefill=batched"};
    for (int k = 0; k < 4; k++) {
        LumiPathSpec p;
        lumi_path_default(&p);
        ck_assert(lumi_path_parse(paths[k], &p, &e) == 0);
        ck_assert(lumi_session_open(&s, &m, &p, &e) == 0);
        ck_assert(lumi_session_feed(&s, first, 5, NULL, &e) == 0);
        ck_assert(lumi_session_feed(&s, longp, n, got, &e) == 0);
        ck_assert_msg(memcmp(want, got, sizeof(float) * (size_t)n * V) == 0, "%s differs (max-abs %g)", paths[k],
                      th_max_abs(want, got, (size_t)n * V));
        lumi_session_close(&s);
    }
    free(want);
    free(got);
    free(longp);
    lumi_model_free(&m);
}
END_TEST

/* the committed goldens of configs/quickstart.yaml match this build */
START_TEST(committed_goldens_verify) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    char *out;
    ck_assert_int_eq(lumi("golden verify", "configs/quickstart.yaml", &out), 0);
    ck_assert_msg(strstr(out, "all 2 prompts match"), "%s", out);
    free(out);
}
END_TEST

/* Teacher forcing on tokens the path would not choose after step 5: the
 * logits are those of prompt + forced tokens, and the path's own generation
 * (diverging at step 5) still equals a free run with the same sampler, seed
 * included. */
START_TEST(trace_forced_and_diverged) {
    const char *mp = th_synth("h_trace.bin", 32, 48, 2, 4, 2, 64, 40, 1, 8);
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(mp, &m, &e) == 0, "%s", e.msg);
    int prompt[4] = {1, 9, 17, 3}, V = m.cfg.vocab_size, n_gen = 12;
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    const char *specs[] = {"cache=fixed,prefill=token", "cache=none,prefill=chunked:3"};
    for (int temp = 0; temp < 2; temp++) {
        sc.temperature = temp ? 0.9f : 0.0f;
        sc.seed = 77;
        for (int k = 0; k < 2; k++) {
            LumiPathSpec p;
            lumi_path_default(&p);
            ck_assert(lumi_path_parse(specs[k], &p, &e) == 0);
            LumiTrace free_run, forced;
            ck_assert(lumi_trace_run(&m, &p, prompt, 4, NULL, 0, n_gen, &sc, 0, 1, &free_run, &e) == 0);
            ck_assert_int_eq(free_run.n_tokens, n_gen);
            ck_assert_int_eq(free_run.n_pos, 4 + n_gen);
            int alt[12];
            /* the run's own tokens for 5 steps, then never the run's token */
            for (int i = 0; i < n_gen; i++) alt[i] = i < 5 ? free_run.tokens[i] : (free_run.tokens[i] + 1 + i) % V;
            ck_assert(lumi_trace_run(&m, &p, prompt, 4, alt, n_gen, n_gen, &sc, 0, 1, &forced, &e) == 0);
            ck_assert_int_eq(forced.diverged_at, 5);
            ck_assert_int_eq(forced.n_tokens, n_gen);
            ck_assert_msg(!memcmp(forced.tokens, free_run.tokens, sizeof(int) * (size_t)n_gen), "%s own tokens",
                          specs[k]);
            /* the forced logits are those of prompt + alt fed in one go on the reference */
            int seq[16];
            memcpy(seq, prompt, sizeof prompt);
            memcpy(seq + 4, alt, sizeof(int) * (size_t)n_gen);
            float *want = malloc(sizeof(float) * 16 * (size_t)V);
            LumiSession s;
            LumiPathSpec r;
            lumi_path_default(&r);
            ck_assert(lumi_session_open(&s, &m, &r, &e) == 0);
            ck_assert(lumi_session_feed(&s, seq, 16, want, &e) == 0);
            lumi_session_close(&s);
            ck_assert_int_eq(forced.n_pos, 16);
            ck_assert_msg(!memcmp(want, forced.logits, sizeof(float) * 16 * (size_t)V), "%s forced logits", specs[k]);
            free(want);
            lumi_trace_free(&free_run);
            lumi_trace_free(&forced);
        }
    }
    lumi_model_free(&m);
}
END_TEST

START_TEST(generate_kind) {
    const char *cfg = th_path("h_gen.yaml");
    char text[1024];
    snprintf(text, sizeof text,
             "name: h_gen\nkind: generate\nmodel: %s\ntokenizer: models/kjv512.bin\noutput: %s\n"
             "prompts: [\"In the beginning\"]\nsteps: 6\npaths: {cache: [fixed, none]}\n",
             DEFAULT_MODEL, th_path("results"));
    th_write_text(cfg, text);
    char *out;
    ck_assert_int_eq(lumi("run", cfg, &out), 0);
    ck_assert_int_eq(count(out, "== p0 on "), 2);
    free(out);
    char p[700];
    snprintf(p, sizeof p, "%s/generate.csv", run_dir(th_path("results"), "h_gen"));
    char *csv = th_slurp(p);
    ck_assert_int_eq(count(csv, "\n"), 3);
    free(csv);
}
END_TEST

/* The harness's reference run applies the sampler exactly as `lumi generate`
 * does, penalty history included (prompt + generated tokens): same seed,
 * same tokens. Fails if either side forgets lumi_sampler_accept. */
START_TEST(sampler_matches_generate) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    const char *body = "prompts: [\"And it came to pass, and the LORD said unto Moses, and\"]\nsteps: 40\n"
                       "sampler: {temperature: 0.9, top_k: 40, repeat_penalty: 1.5, repeat_last_n: 16, seed: 7}\n"
                       "paths: {cache: [fixed, none], prefill: [batched, token]}\n";
    const char *cfg = config("h_sampler.yaml", "h_sampler", DEFAULT_MODEL, body);
    char *out;
    ck_assert_int_eq(lumi("check", cfg, &out), 0);
    free(out);
    char p[700];
    snprintf(p, sizeof p, "%s/cases.jsonl", run_dir(th_path("results"), "h_sampler"));
    char *cases = th_slurp(p);
    char *gen;
    ck_assert_int_eq(th_run(LUMI " generate -m " DEFAULT_MODEL " -z models/kjv512.bin -p 'And it came to pass, and the LORD said unto Moses, and' -n 40 "
                            "-t 0.9 --top-k 40 --repeat-penalty 1.5 --repeat-last-n 16 --seed 7 --json 2>/dev/null",
                            &gen),
                     0);
    char *ids = strstr(gen, "\"ids\":[");
    ck_assert(ids);
    *strchr(ids, ']') = 0;
    char want[4096];
    snprintf(want, sizeof want, "\"tokens\":[%s]", ids + 7);
    ck_assert_msg(strstr(cases, want), "generate gave %.300s; harness reference: %.400s", want, strstr(cases, "\"tokens\""));
    free(gen);
    free(cases);
}
END_TEST

Suite *suite_harness(void) {
    Suite *s = suite_create("harness");
    TCase *tc = tcase_create("harness");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_path_default_model);
    tcase_add_test(tc, every_path_synth_gqa_unshared);
    tcase_add_test(tc, canary_is_caught);
    tcase_add_test(tc, cross_backend_anchor);
    tcase_add_test(tc, config_errors_are_positioned);
    tcase_add_test(tc, resume_completes_an_interrupted_run);
    tcase_add_test(tc, goldens_round_trip_and_damage);
    tcase_add_test(tc, long_prompt_chunked_on_nonempty_cache);
    tcase_add_test(tc, committed_goldens_verify);
    tcase_add_test(tc, trace_forced_and_diverged);
    tcase_add_test(tc, generate_kind);
    tcase_add_test(tc, sampler_matches_generate);
    suite_add_tcase(s, tc);
    return s;
}
