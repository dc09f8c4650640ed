/* test_shard.c: sharding and merging (experiments/shard.c, merge.c) and the
 * Slurm scripts (cli/cmd_slurm.c), through ./lumi on the shipped model:
 * the merged tables of every shardable kind are byte-identical to an
 * unsharded run's, merges of perturbed, missing or duplicated shards are
 * refused, a killed shard is completed by --resume, every kind records the
 * same provenance, and the generated job scripts run (with the Slurm
 * variables set by hand) to the same result. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../experiments/inputs.h"
#include "../experiments/shard.h"
#include "helpers.h"

#define LUMI "./lumi"

static int same_file(const char *a, const char *b) {
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return th_run(cmd, NULL) == 0;
}

/* Runs a shell command line (2>&1 appended); the exit code, output in *out if given. */
static int sh(char **out, const char *fmt, ...) LUMI_PRINTF(2, 3);
static int sh(char **out, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    char *o = NULL;
    int rc = th_run(cmd, &o);
    if (out) *out = o;
    else free(o);
    return rc;
}

static const char *EQUIV =
    "name: %s\nkind: equivalence\nmodel: models/kjv1M.bin\ntokenizer: models/kjv512.bin\noutput: %s\n"
    "prompts:\n  - {name: bos, ids: [1]}\n  - \"And God said\"\n  - \"In the beginning God\"\nsteps: 5\n"
    "paths:\n  backend: [ref]\n  cache: [none, fixed]\n  prefill: [token, \"chunked:2\"]\n"
    "reference: {backend: ref, cache: fixed, prefill: token}\n";

static const char *STUDY =
    "kind: study\nname: %s\nmodel: models/kjv1M.bin\ntokenizer: models/kjv512.bin\noutput: %s\n"
    "prompts: [\"In the beginning\", \"And the LORD said\"]\nsteps: 10\n"
    "path: {backend: ref, cache: fixed, prefill: batched}\nseeds: 3\nhistory: true\nsamplers:\n"
    "  - {name: greedy, temperature: 0}\n  - {name: t1.0, temperature: 1.0}\n  - {name: top_k5, temperature: 1.0, top_k: 5}\n";

static const char *GENERATE =
    "name: %s\nkind: generate\nmodel: models/kjv1M.bin\ntokenizer: models/kjv512.bin\noutput: %s\n"
    "prompts: [\"And God said\", \"In the beginning\"]\nsteps: 6\npaths:\n  cache: [none, fixed]\n";

static const char *CHAT =
    "name: %s\nkind: chat\nmodel: models/kjv1M.bin\ntokenizer: models/kjv512.bin\noutput: %s\ntemplate: llama2\n"
    "prompts: [\"Who made the heaven?\", \"What was upon the deep?\", \"And the light?\"]\n"
    "replies: [null, \"Darkness.\"]\nsteps: 6\npaths:\n  backend: [ref, cpu]\n  cache: [fixed]\n  prefill: [batched]\n"
    "  extra:\n    - {backend: cpu, cache: growing, prefill: \"chunked:2\"}\nturns: [keep, rebuild]\n";

/* Writes a config from one of the templates above into the temp folder. */
static const char *config(const char *tmpl, const char *name) {
    char text[2048], file[128];
    snprintf(text, sizeof text, tmpl, name, th_path("results"));
    snprintf(file, sizeof file, "%s.yaml", name);
    static char p[4][512]; /* th_path's buffers rotate: keep the config's own */
    static int k;
    char *b = p[k++ % 4];
    snprintf(b, 512, "%s", th_path(file));
    th_write_text(b, text);
    return b;
}

/* th_path(name) (a run folder), in a buffer of its own. */
static const char *dir(const char *name) {
    static char b[16][512];
    static int k;
    char *s = b[k++ % 16];
    snprintf(s, 512, "%s", th_path(name));
    return s;
}

/* Runs cfg whole into full (unless NULL) and as n shards into <prefix>1..n. */
static void run_whole_and_shards(const char *cfg, const char *full, const char *prefix, int n) {
    char *out;
    if (full) {
        ck_assert_msg(sh(&out, LUMI " run %s --dir %s", cfg, dir(full)) == 0, "%s", out);
        free(out);
    }
    for (int i = 1; i <= n; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s%d", prefix, i);
        ck_assert_msg(sh(&out, LUMI " run %s --shard %d/%d --dir %s", cfg, i, n, dir(s)) == 0, "%s", out);
        free(out);
    }
}

static int file_eq(const char *a, const char *b, const char *name) {
    char x[600], y[600];
    snprintf(x, sizeof x, "%s/%s", a, name);
    snprintf(y, sizeof y, "%s/%s", b, name);
    return same_file(x, y);
}

START_TEST(plan_is_a_balanced_partition) {
    LumiCaseList l = {0};
    for (int i = 0; i < 37; i++) lumi_cases_add(&l, lumi_case_cost(1 + (i * 7) % 23, i % 3 ? "fixed" : "none"), "c%d", i);
    ck_assert_double_eq(lumi_case_cost(10, "none"), 55);
    ck_assert_double_eq(lumi_case_cost(10, "fixed"), 10);
    double maxc = 0;
    for (int i = 0; i < l.n; i++)
        if (l.v[i].cost > maxc) maxc = l.v[i].cost;
    for (int n = 1; n <= 8; n++) {
        LumiShardPlan p[8], again;
        double load[8] = {0};
        for (int s = 0; s < n; s++) lumi_shard_plan(&p[s], &l, s + 1, n);
        lumi_shard_plan(&again, &l, 1, n);
        for (int i = 0; i < l.n; i++) {
            int owners = 0;
            for (int s = 0; s < n; s++)
                if (lumi_shard_take(&p[s], i)) owners++, load[s] += l.v[i].cost;
            ck_assert_msg(owners == 1, "case %d has %d shards of %d", i, owners, n);
            ck_assert_int_eq(again.owner[i], p[0].owner[i]); /* the same plan every time */
        }
        double lo = load[0], hi = load[0];
        for (int s = 1; s < n; s++) lo = load[s] < lo ? load[s] : lo, hi = load[s] > hi ? load[s] : hi;
        ck_assert_msg(hi - lo <= maxc, "%d shards: loads %g..%g, largest case %g", n, lo, hi, maxc);
        for (int s = 0; s < n; s++) lumi_shard_free(&p[s]);
        lumi_shard_free(&again);
    }
    /* the most shards --shard allows, more than there are cases: one case each, the rest empty */
    LumiShardPlan many;
    lumi_shard_plan(&many, &l, 100000, 100000);
    for (int i = 0; i < l.n; i++) ck_assert(many.owner[i] >= 1 && many.owner[i] <= l.n);
    ck_assert_int_eq(lumi_shard_size(&many), 0);
    lumi_shard_free(&many);
    LumiShardPlan whole;
    lumi_shard_plan(&whole, &l, 0, 0);
    ck_assert_int_eq(lumi_shard_size(&whole), l.n);
    lumi_shard_free(&whole);
    lumi_cases_free(&l);
    int i, n;
    LumiErr e;
    ck_assert_int_eq(lumi_shard_parse("3/8", &i, &n, &e), 0);
    ck_assert(i == 3 && n == 8);
    const char *bad[] = {"0/3", "4/3", "3", "a/b", "1/", "/2", "1/2x", "-1/2", "1/200000"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        ck_assert_msg(lumi_shard_parse(bad[k], &i, &n, &e) != 0, "accepted %s", bad[k]);
}
END_TEST

START_TEST(equivalence_merge_is_byte_identical) {
    const char *cfg = config(EQUIV, "sh_eq");
    run_whole_and_shards(cfg, "eq_full", "eq_s", 3);
    char *out;
    ck_assert_msg(sh(&out, LUMI " merge %s %s '%s'", dir("eq_merged"), dir("eq_s1"), th_path("eq_s[23]")) == 0, "%s", out);
    free(out);
    ck_assert(file_eq(dir("eq_full"), dir("eq_merged"), "equivalence.csv"));
    ck_assert(file_eq(dir("eq_full"), dir("eq_merged"), "equivalence.txt"));
    char p[700];
    snprintf(p, sizeof p, "%s/run.json", dir("eq_s2"));
    char *run = th_slurp(p);
    ck_assert_msg(strstr(run, "\"shard\":{\"index\":2,\"count\":3,"), "%s", run);
    free(run);
    snprintf(p, sizeof p, "%s/run.json", dir("eq_merged"));
    run = th_slurp(p);
    ck_assert_msg(strstr(run, "\"merged_from\":[") && strstr(run, "\"status\":\"complete\""), "%s", run);
    free(run);
    /* the comparison can fail: a shard whose logits differed gives another table */
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && sed -i '0,/\"max_abs\":0,/s//\"max_abs\":0.001,/' %s/cases.jsonl",
                        dir("eq_s1"), dir("eq_s1x"), dir("eq_s1x")), 0);
    ck_assert_msg(sh(&out, LUMI " merge %s %s %s %s", dir("eq_bad"), dir("eq_s1x"), dir("eq_s2"), dir("eq_s3")) == 0,
                  "%s", out);
    free(out);
    ck_assert(!file_eq(dir("eq_full"), dir("eq_bad"), "equivalence.csv"));
}
END_TEST

/* Every way the shards can fail to be one run is refused with exit 2. */
START_TEST(merge_refuses_bad_shards) {
    const char *cfg = config(EQUIV, "sh_ref");
    run_whole_and_shards(cfg, NULL, "rf_s", 3);
    char s1[512], s2[512], s3[512]; /* dir()'s buffers rotate */
    snprintf(s1, sizeof s1, "%s", dir("rf_s1"));
    snprintf(s2, sizeof s2, "%s", dir("rf_s2"));
    snprintf(s3, sizeof s3, "%s", dir("rf_s3"));
    char *out;
    /* a shard missing */
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s", dir("rf_m1"), s1, s2), 2);
    ck_assert_msg(strstr(out, "shard 3/3 is missing") && strstr(out, "missing case 'prompt="), "%s", out);
    free(out);
    /* a shard twice */
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s %s %s", dir("rf_m2"), s1, s2, s3, s3), 2);
    ck_assert_msg(strstr(out, "duplicate case 'prompt="), "%s", out);
    free(out);
    /* a case lost from a shard's log */
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && grep -n '\"role\":\"path\"' %s/cases.jsonl | head -1 | cut -d: -f1 | "
                              "xargs -I{} sed -i '{}d' %s/cases.jsonl",
                        s2, dir("rf_lost"), dir("rf_lost"), dir("rf_lost")),
                     0);
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s %s", dir("rf_m3"), s1, dir("rf_lost"), s3), 2);
    ck_assert_msg(strstr(out, "missing case 'prompt="), "%s", out);
    free(out);
    /* another config, another commit, another model, an unfinished shard */
    const char *edits[][2] = {{"config.yaml", "$a # edited"},
                              {"run.json", "s/\"commit\":\"[^\"]*\"/\"commit\":\"0123456789ab\"/"},
                              {"run.json", "s/\"crc32\":\"[0-9a-f]*\"/\"crc32\":\"deadbeef\"/"},
                              {"run.json", "s/\"status\":\"complete\"/\"status\":\"running\"/"}};
    const char *why[] = {"config.yaml differs", "lumi commit", "model CRC-32", "did not complete"};
    for (int k = 0; k < 4; k++) {
        char name[32], m[32];
        snprintf(name, sizeof name, "rf_p%d", k);
        snprintf(m, sizeof m, "rf_pm%d", k);
        ck_assert_int_eq(sh(NULL, "cp -r %s %s && sed -i '%s' %s/%s", s3, dir(name), edits[k][1], dir(name), edits[k][0]), 0);
        ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s %s", dir(m), s1, s2, dir(name)), 2);
        ck_assert_msg(strstr(out, why[k]), "%s: %s", why[k], out);
        free(out);
        ck_assert(!th_exists(dir(m)));
    }
    /* a case that failed in its shard (resume retries it; merge does not) */
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && sed -i '0,/\"verdict\":\"pass\"/s//\"verdict\":\"error\"/' %s/cases.jsonl",
                        s2, dir("rf_err"), dir("rf_err")), 0);
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s %s", dir("rf_m7"), s1, dir("rf_err"), s3), 2);
    ck_assert_msg(strstr(out, "failed in"), "%s", out);
    free(out);
    /* not a shard at all; and an output folder that is in use */
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && sed -i 's/,\"shard\":{[^}]*}//' %s/run.json", s1, dir("rf_whole"),
                        dir("rf_whole")), 0);
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s", dir("rf_m5"), dir("rf_whole")), 2);
    ck_assert_msg(strstr(out, "not a shard"), "%s", out);
    free(out);
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s %s", s1, s1, s2, s3), 2);
    ck_assert_msg(strstr(out, "not empty"), "%s", out);
    free(out);
    ck_assert_int_eq(sh(NULL, LUMI " merge %s", dir("rf_m6")), 2);
    ck_assert_int_eq(sh(NULL, LUMI " merge --help"), 0);
}
END_TEST

/* chat: path x turns strategy; time to first token is the only timing
 * (ttft_ms in chat.csv, every column but the turn in ttft.csv), the rest
 * of chat.csv, run.json's paths and the printed verdict table (which has
 * the same-backend anchor column) must be the same. */
static char *chat_part(const char *cmd_fmt, const char *d) {
    char *o;
    ck_assert_int_eq(sh(&o, cmd_fmt, d), 0);
    return o;
}

static void chat_same(const char *a, const char *b, int want_same) {
    static const char *parts[] = {"cut -d, -f1-6 %s/chat.csv", "cut -d, -f1 %s/ttft.csv",
                                  "grep -o '\"paths\":\\[[^]]*\\]' %s/run.json", "cat %s/table.txt"};
    int same = 1;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        char *x = chat_part(parts[i], a), *y = chat_part(parts[i], b);
        ck_assert_msg(strlen(x) > 10, "%s: %s", parts[i], x);
        if (strcmp(x, y) != 0) same = 0;
        if (want_same) ck_assert_msg(!strcmp(x, y), "%s:\n%s\nvs\n%s", parts[i], x, y);
        free(x);
        free(y);
    }
    ck_assert_int_eq(same, want_same);
}

/* lumi run/merge with the verdict table (stdout up to the timings) kept in DIR/table.txt. */
static int chat_run(const char *args, const char *d) {
    char *out;
    int rc = sh(&out, LUMI " %s > %s.out 2>/dev/null; rc=$?; sed '/^time to first/,$d' %s.out > %s/table.txt; exit $rc",
                args, d, d, d);
    free(out);
    return rc;
}

START_TEST(chat_merge_is_byte_identical) {
    const char *cfg = config(CHAT, "sh_chat");
    char a[1600];
    snprintf(a, sizeof a, "run %s --dir %s", cfg, dir("ch_full"));
    ck_assert_int_eq(chat_run(a, dir("ch_full")), 0);
    for (int i = 1; i <= 4; i++) {
        char s[32];
        snprintf(s, sizeof s, "ch_s%d", i);
        snprintf(a, sizeof a, "run %s --shard %d/4 --dir %s", cfg, i, dir(s));
        ck_assert_int_eq(chat_run(a, dir(s)), 0);
    }
    snprintf(a, sizeof a, "merge %s '%s'", dir("ch_m"), th_path("ch_s[1-4]"));
    ck_assert_int_eq(chat_run(a, dir("ch_m")), 0);
    chat_same(dir("ch_full"), dir("ch_m"), 1);
    ck_assert_int_eq(sh(NULL, "test $(grep -c '\"role\":\"path\"' %s/cases.jsonl) = 6", dir("ch_m")), 0);
    char x[4][512];
    for (int i = 0; i < 4; i++) {
        char s[32];
        snprintf(s, sizeof s, "ch_s%d", i + 1);
        snprintf(x[i], sizeof x[i], "%s", dir(s));
    }
    /* find the shard holding a path held to an anchor, and perturb that record */
    int found = 0;
    for (int i = 0; i < 4 && !found; i++) {
        if (sh(NULL, "grep -q '\"own_positions\":[1-9]' %s/cases.jsonl", x[i]) != 0) continue;
        found = 1;
        ck_assert_int_eq(sh(NULL, "rm -rf %s && cp -r %s %s && sed -i '0,/\"own_bitwise\":[1-9][0-9]*/s//\"own_bitwise\":1/' "
                                  "%s/cases.jsonl", dir("ch_x"), x[i], dir("ch_x"), dir("ch_x")), 0);
        char list[2200] = "";
        for (int j = 0; j < 4; j++) {
            strcat(list, " ");
            strcat(list, j == i ? dir("ch_x") : x[j]);
        }
        snprintf(a, sizeof a, "merge %s%s", dir("ch_bad"), list);
        ck_assert_int_eq(chat_run(a, dir("ch_bad")), 0);
        chat_same(dir("ch_full"), dir("ch_bad"), 0);
    }
    ck_assert_msg(found, "no shard holds a path checked against its anchor");
    /* a shard that lost a path is refused, naming it */
    char *out;
    ck_assert_int_eq(sh(NULL, "rm -rf %s && cp -r %s %s && sed -i '/\"role\":\"path\"/d' %s/cases.jsonl", dir("ch_l"),
                        x[0], dir("ch_l"), dir("ch_l")), 0);
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s %s %s", dir("ch_lm"), dir("ch_l"), x[1], x[2], x[3]), 2);
    ck_assert_msg(strstr(out, "missing case 'path=backend="), "%s", out);
    free(out);
    /* a run that lost its last path resumes it (its anchor computed again, not logged) */
    ck_assert_int_eq(sh(NULL, "rm -rf %s && cp -r %s %s && cd %s && rm chat.csv && head -n -4 cases.jsonl > c && mv c cases.jsonl",
                        dir("ch_r"), dir("ch_full"), dir("ch_r"), dir("ch_r")), 0);
    snprintf(a, sizeof a, "run --resume %s", dir("ch_r"));
    ck_assert_int_eq(chat_run(a, dir("ch_r")), 0);
    chat_same(dir("ch_full"), dir("ch_r"), 1);
}
END_TEST

START_TEST(study_merge_is_byte_identical) {
    const char *cfg = config(STUDY, "sh_st");
    run_whole_and_shards(cfg, "st_full", "st_s", 4);
    char p[700];
    snprintf(p, sizeof p, "%s/summary.csv", dir("st_s1"));
    ck_assert_msg(!th_exists(p), "a shard writes no tables");
    char *out;
    ck_assert_msg(sh(&out, LUMI " merge %s '%s'", dir("st_merged"), th_path("st_s*")) == 0, "%s", out);
    free(out);
    ck_assert(file_eq(dir("st_full"), dir("st_merged"), "summary.csv"));
    ck_assert(file_eq(dir("st_full"), dir("st_merged"), "entropy_per_step.csv"));
    /* and the comparison can fail: one sample's perplexity changed in a shard */
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && sed -i '1s/\"perplexity\":[0-9.e+-]*/\"perplexity\":1e6/' %s/samples.jsonl",
                        dir("st_s2"), dir("st_x2"), dir("st_x2")),
                     0);
    ck_assert_msg(sh(&out, LUMI " merge %s %s %s %s %s", dir("st_bad"), dir("st_s1"), dir("st_x2"), dir("st_s3"),
                     dir("st_s4")) == 0, "%s", out);
    free(out);
    ck_assert(!file_eq(dir("st_full"), dir("st_bad"), "summary.csv"));
    /* a study resumes: samples lost (and a torn last line) are run again, the tables are the same */
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && cd %s && rm summary.csv && sed -i '2d;5d;9d' samples.jsonl && "
                              "printf '{\"sampler\":\"gre' >> samples.jsonl", dir("st_full"), dir("st_res"), dir("st_res")),
                     0);
    ck_assert_msg(sh(&out, LUMI " run --resume %s", dir("st_res")) == 0, "%s", out);
    free(out);
    ck_assert_int_eq(sh(NULL, "test $(wc -l < %s/samples.jsonl) = 18", dir("st_res")), 0);
    ck_assert(file_eq(dir("st_full"), dir("st_res"), "summary.csv"));
    ck_assert(file_eq(dir("st_full"), dir("st_res"), "entropy_per_step.csv"));
}
END_TEST

START_TEST(generate_merge_has_the_same_tokens) {
    const char *cfg = config(GENERATE, "sh_gen");
    run_whole_and_shards(cfg, "gen_full", "gen_s", 2);
    char *out, *a, *b;
    ck_assert_msg(sh(&out, LUMI " merge %s %s %s", dir("gen_merged"), dir("gen_s2"), dir("gen_s1")) == 0, "%s", out);
    free(out);
    /* speeds differ from run to run; prompt, path, tokens and stop may not */
    ck_assert_int_eq(sh(&a, "cut -d, -f1-5 %s/generate.csv", dir("gen_full")), 0);
    ck_assert_int_eq(sh(&b, "cut -d, -f1-5 %s/generate.csv", dir("gen_merged")), 0);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(sh(NULL, "test $(wc -l < %s/generate.csv) = 5", dir("gen_merged")), 0);
    free(a);
    free(b);
}
END_TEST

START_TEST(resume_completes_a_killed_shard) {
    const char *cfg = config(EQUIV, "sh_res");
    char *out;
    ck_assert_int_eq(sh(&out, LUMI " run %s --dir %s", cfg, dir("res_full")), 0);
    free(out);
    ck_assert_int_eq(sh(&out, "LUMI_STOP_AFTER_CASES=2 " LUMI " run %s --shard 1/2 --dir %s", cfg, dir("res_s1")), 3);
    free(out);
    ck_assert_int_eq(sh(&out, LUMI " run %s --shard 2/2 --dir %s", cfg, dir("res_s2")), 0);
    free(out);
    /* killed: the merge says so */
    ck_assert_int_eq(sh(&out, LUMI " merge %s %s %s", dir("res_m0"), dir("res_s1"), dir("res_s2")), 2);
    ck_assert_msg(strstr(out, "did not complete"), "%s", out);
    free(out);
    /* a shard resumed as another shard is refused; as itself (from run.json) it completes */
    ck_assert_int_eq(sh(&out, LUMI " run --resume %s --shard 2/2", dir("res_s1")), 2);
    free(out);
    ck_assert_msg(sh(&out, LUMI " run --resume %s", dir("res_s1")) == 0, "%s", out);
    ck_assert_msg(strstr(out, "shard 1/2"), "%s", out);
    free(out);
    ck_assert_msg(sh(&out, LUMI " merge %s %s %s", dir("res_m"), dir("res_s1"), dir("res_s2")) == 0, "%s", out);
    free(out);
    ck_assert(file_eq(dir("res_full"), dir("res_m"), "equivalence.csv"));
}
END_TEST

/* Every kind's run folder: the config as run, and run.json with the same
 * provenance members. */
START_TEST(every_kind_records_provenance) {
    const char *tmpl[] = {EQUIV, STUDY, GENERATE};
    const char *names[] = {"pv_eq", "pv_st", "pv_gen"};
    for (int k = 0; k < 3; k++) {
        const char *cfg = config(tmpl[k], names[k]);
        char run_dir[64], p[700];
        snprintf(run_dir, sizeof run_dir, "%s_run", names[k]);
        char *out;
        ck_assert_msg(sh(&out, LUMI " run %s --dir %s", cfg, dir(run_dir)) == 0, "%s", out);
        free(out);
        snprintf(p, sizeof p, "%s/config.yaml", dir(run_dir));
        ck_assert_msg(same_file(cfg, p), "%s: config.yaml is not the config", names[k]);
        snprintf(p, sizeof p, "%s/run.json", dir(run_dir));
        char *run = th_slurp(p);
        const char *members[] = {"\"name\":", "\"kind\":", "\"run_id\":", "\"crc32\":\"", "\"commit\":",
                                 "\"lumi_version\":", "\"machine\":", "\"prompts\":[", "\"status\":\"complete\""};
        for (size_t m = 0; m < sizeof members / sizeof *members; m++)
            ck_assert_msg(strstr(run, members[m]), "%s: run.json lacks %s: %s", names[k], members[m], run);
        free(run);
    }
}
END_TEST

/* golden record keeps the same provenance beside the goldens */
START_TEST(golden_record_records_provenance) {
    char text[2048], cfg[512], *out;
    snprintf(text, sizeof text, EQUIV, "pv_golden", th_path("results"));
    snprintf(text + strlen(text), sizeof text - strlen(text), "goldens: %s\n", th_path("pv_goldens"));
    snprintf(cfg, sizeof cfg, "%s", th_path("pv_golden.yaml"));
    th_write_text(cfg, text);
    ck_assert_msg(sh(&out, LUMI " golden record %s", cfg) == 0, "%s", out);
    free(out);
    ck_assert_int_eq(sh(NULL, "cmp %s %s/config.yaml", cfg, th_path("pv_goldens")), 0);
    ck_assert_int_eq(sh(&out, "cat %s/run.json", th_path("pv_goldens")), 0);
    const char *members[] = {"\"name\":\"pv_golden\"", "\"crc32\":\"", "\"commit\":", "\"machine\":",
                             "\"prompts\":[", "\"status\":\"complete\"", "\"made_by\":\"lumi golden record\""};
    for (size_t m = 0; m < sizeof members / sizeof *members; m++)
        ck_assert_msg(strstr(out, members[m]), "golden run.json lacks %s: %s", members[m], out);
    free(out);
    ck_assert_int_eq(sh(&out, LUMI " golden verify %s", cfg), 0);
    free(out);
}
END_TEST

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* bench: model x path; timings differ from run to run, so the merged rows
 * are compared by name with an unsharded run's, and the tables a merge
 * rebuilds from the log are compared byte for byte with those the run
 * itself wrote (a one-shard merge). No prompts, but the same provenance. */
START_TEST(bench_shards_and_provenance) {
    char text[1024], *out;
    snprintf(text, sizeof text,
             "kind: bench\nn_prompt: 8\nn_gen: 4\nreps: 1\nout: %s\nmachine: false\n"
             "models:\n  - {name: kjv1M, file: models/kjv1M.bin}\n"
             "paths:\n  - backend=ref\n  - backend=cpu,cache=none,threads=1\n  - backend=cpu,prefill=token,threads=1\n",
             th_path("pv_bench"));
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s", th_path("pv_bench.yaml"));
    th_write_text(cfg, text);
    ck_assert_msg(sh(&out, LUMI " run %s", cfg) == 0, "%s", out);
    free(out);
    ck_assert_int_eq(sh(NULL, "cmp %s %s/*/config.yaml", cfg, th_path("pv_bench")), 0);
    ck_assert_int_eq(sh(&out, "cat %s/*/run.json", th_path("pv_bench")), 0);
    uint32_t crc;
    size_t bytes;
    LumiErr e;
    ck_assert_int_eq(lumi_file_crc32("models/kjv1M.bin", &crc, &bytes, &e), 0);
    char crc_member[64];
    snprintf(crc_member, sizeof crc_member, "\"crc32\":\"%08x\"", (unsigned)crc);
    const char *members[] = {"\"kind\":\"bench\"", "\"run_id\":", crc_member, "\"commit\":",
                             "\"lumi_version\":", "\"machine\":", "\"status\":\"complete\""};
    for (size_t m = 0; m < sizeof members / sizeof *members; m++)
        ck_assert_msg(strstr(out, members[m]), "bench run.json lacks %s: %s", members[m], out);
    free(out);
    run_whole_and_shards(cfg, "bn_full", "bn_s", 2);
    ck_assert_msg(sh(&out, LUMI " merge %s %s %s", dir("bn_m"), dir("bn_s1"), dir("bn_s2")) == 0, "%s", out);
    free(out);
    char *a, *b;
    ck_assert_int_eq(sh(&a, "cut -d, -f1-5 %s/bench.csv", dir("bn_full")), 0);
    ck_assert_int_eq(sh(&b, "cut -d, -f1-5 %s/bench.csv", dir("bn_m")), 0);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(count(a, "\n"), 1 + 3 * 2);
    free(a);
    free(b);
    /* the merged run draws the plot of every row, and its machine is the shards' (none here: machine: false) */
    ck_assert_int_eq(sh(NULL, "test $(grep -c '^\"kjv1M backend=' %s/bench.dat) = 3", dir("bn_m")), 0);
    ck_assert_int_eq(sh(NULL, "! command -v gnuplot || test -s %s/bench.png", dir("bn_m")), 0);
    ck_assert_int_eq(sh(NULL, "grep -q '\"machine\": null,' %s/bench.json", dir("bn_m")), 0);
    /* shards that measured their machines: the envelope (best, worst, samples added, isa mixed) */
    const char *mach = "{\"read_gbs\": %s, \"read_gbs_min\": %s, \"fma_gflops\": %s, \"fma_gflops_min\": %s, "
                       "\"samples\": %s, \"threads\": 2, \"isa\": \"%s\", \"buffer_bytes\": 1000, \"loadavg_at_start\": %s}";
    char m1[400], m2[400];
    snprintf(m1, sizeof m1, mach, "10", "8", "100", "90", "2", "avx2", "1.5");
    snprintf(m2, sizeof m2, mach, "12", "7", "95", "91", "3", "avx512", "0.5");
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && cp -r %s %s && sed -i 's/\"machine\": null/\"machine\": %s/' %s/bench.json && "
                              "sed -i 's/\"machine\": null/\"machine\": %s/' %s/bench.json",
                        dir("bn_s1"), dir("bn_k1"), dir("bn_s2"), dir("bn_k2"), m1, dir("bn_k1"), m2, dir("bn_k2")), 0);
    ck_assert_msg(sh(&out, LUMI " merge %s %s %s", dir("bn_km"), dir("bn_k1"), dir("bn_k2")) == 0, "%s", out);
    free(out);
    ck_assert_int_eq(sh(&out, "cat %s/bench.json", dir("bn_km")), 0);
    ck_assert_msg(strstr(out, "\"machine\": {\"read_gbs\": 12.000, \"read_gbs_min\": 7.000, \"fma_gflops\": 100.000, "
                              "\"fma_gflops_min\": 90.000, \"samples\": 5, \"threads\": 2, \"isa\": \"mixed\", "
                              "\"buffer_bytes\": 1000, \"loadavg_at_start\": 1.50},"), "%s", out);
    free(out);
    run_whole_and_shards(cfg, NULL, "bn_one", 1);
    ck_assert_msg(sh(&out, LUMI " merge %s %s", dir("bn_one_m"), dir("bn_one1")) == 0, "%s", out);
    free(out);
    ck_assert(file_eq(dir("bn_one1"), dir("bn_one_m"), "bench.csv"));
    ck_assert_int_eq(sh(NULL, "sed -i 's/\"median\": [0-9.]*/\"median\": 1.500/' %s/cases.jsonl && rm -r %s && "
                              LUMI " merge %s %s", dir("bn_one1"), dir("bn_one_m"), dir("bn_one_m"), dir("bn_one1")), 0);
    ck_assert(!file_eq(dir("bn_one1"), dir("bn_one_m"), "bench.csv"));
}
END_TEST

/* The generated scripts, read and then run as Slurm would (one process per
 * array task, SLURM_ARRAY_TASK_ID set), without Slurm. */
/* golden record: prompts; lumi golden merge writes the config's goldens
 * folder byte for byte as an unsharded record does. */
START_TEST(golden_merge_is_byte_identical) {
    char text[2048], cfg[512], g[512], w[512], *out;
    snprintf(text, sizeof text, EQUIV, "gm_golden", th_path("results"));
    snprintf(g, sizeof g, "%s", th_path("gm_goldens"));
    snprintf(w, sizeof w, "%s", th_path("gm_whole"));
    snprintf(text + strlen(text), sizeof text - strlen(text), "goldens: %s\n", g);
    snprintf(cfg, sizeof cfg, "%s", th_path("gm_golden.yaml"));
    th_write_text(cfg, text);
    ck_assert_msg(sh(&out, LUMI " golden record %s && mv %s %s", cfg, g, w) == 0, "%s", out);
    free(out);
    for (int i = 1; i <= 3; i++) {
        char s[32];
        snprintf(s, sizeof s, "gm_s%d", i);
        ck_assert_msg(sh(&out, LUMI " golden record %s --shard %d/3 --dir %s", cfg, i, dir(s)) == 0, "%s", out);
        free(out);
    }
    ck_assert_int_eq(sh(&out, "grep -o '\"shard\":{\"index\":2,\"count\":3,' %s/run.json", dir("gm_s2")), 0);
    free(out);
    ck_assert_msg(sh(&out, LUMI " golden merge %s '%s'", cfg, th_path("gm_s[1-3]")) == 0, "%s", out);
    free(out);
    const char *same = "cd %s && ls *.npy.gz manifest.json > /dev/null && for f in *.npy.gz manifest.json; do cmp $f %s/$f || exit 1; done";
    ck_assert_int_eq(sh(&out, same, w, g), 0);
    free(out);
    ck_assert_int_eq(sh(NULL, "test $(ls %s/*.npy.gz | wc -l) = 3", g), 0);
    ck_assert_int_eq(sh(NULL, LUMI " golden verify %s", cfg), 0);
    /* goldens are not replaced without --force */
    ck_assert_int_eq(sh(&out, LUMI " golden merge %s '%s'", cfg, th_path("gm_s[1-3]")), 2);
    ck_assert_msg(strstr(out, "--force"), "%s", out);
    free(out);
    /* a shard missing, or a damaged one, is refused; a changed one changes the goldens */
    ck_assert_int_eq(sh(&out, LUMI " golden merge --force %s %s %s", cfg, dir("gm_s1"), dir("gm_s3")), 2);
    ck_assert_msg(strstr(out, "shard 2/3 is missing") && strstr(out, "missing prompt '"), "%s", out);
    free(out);
    char x[512];
    snprintf(x, sizeof x, "%s", dir("gm_x2"));
    ck_assert_int_eq(sh(NULL, "cp -r %s %s && f=$(ls %s/*.npy.gz | head -1) && gzip -dc $f | head -c 300 | gzip > $f.t && mv $f.t $f",
                        dir("gm_s2"), x, x), 0);
    ck_assert_int_eq(sh(&out, LUMI " golden merge --force %s %s %s %s", cfg, dir("gm_s1"), x, dir("gm_s3")), 2);
    ck_assert_msg(strstr(out, "gm_x2/"), "%s", out);
    free(out);
    ck_assert_int_eq(sh(NULL, "rm -r %s && cp -r %s %s && sed -i '0,/\"tokens\": \\[[0-9]*/s//\"tokens\": [7/' %s/manifest.json",
                        x, dir("gm_s2"), x, x), 0);
    ck_assert_msg(sh(&out, LUMI " golden merge --force %s %s %s %s", cfg, dir("gm_s1"), x, dir("gm_s3")) == 0, "%s", out);
    free(out);
    ck_assert_int_ne(sh(NULL, same, w, g), 0);
}
END_TEST

START_TEST(slurm_scripts) {
    const char *cfg = config(EQUIV, "sh_slurm");
    char d[512];
    snprintf(d, sizeof d, "%s", dir("slurm"));
    char *out;
    ck_assert_msg(sh(&out, LUMI " slurm %s --shards 3 --partition short --time 00:20:00 --mem 1G --cpus 2 --output %s",
                     cfg, d) == 0, "%s", out);
    free(out);
    char p[700];
    snprintf(p, sizeof p, "%s/array.sh", d);
    char *array = th_slurp(p);
    const char *want[] = {"#!/bin/bash\n", "#SBATCH --array=1-3\n", "#SBATCH --partition=short\n",
                          "#SBATCH --time=00:20:00\n", "#SBATCH --mem=1G\n", "#SBATCH --cpus-per-task=2\n",
                          "/logs/shard-%a.out\n", "i=$SLURM_ARRAY_TASK_ID\n", " --shard \"$i/3\" --dir \"$d\"\n",
                          " run --resume \"$d\" --shard \"$i/3\"\n", "/config.yaml' --shard"};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) ck_assert_msg(strstr(array, want[k]), "no %s in\n%s", want[k], array);
    /* sbatch reads #SBATCH lines only before the first command */
    ck_assert_msg(strstr(array, "#SBATCH --array") < strstr(array, "set -eu"), "%s", array);
    ck_assert_int_eq(count(array, "#SBATCH"), 9);
    snprintf(p, sizeof p, "%s/merge.sh", d);
    char *merge = th_slurp(p);
    char line[1200];
    snprintf(line, sizeof line, " merge '%s/merged' '%s/shard-*'\n", d, d);
    ck_assert_msg(strstr(merge, line) && !strstr(merge, "--array"), "%s", merge);
    snprintf(p, sizeof p, "%s/submit.sh", d);
    char *submit = th_slurp(p);
    ck_assert_msg(strstr(submit, "sbatch --parsable --dependency=afterok:$array '") && strstr(submit, "/merge.sh'"),
                  "%s", submit);
    free(array);
    free(merge);
    free(submit);
    /* run as Slurm would; the merge equals an unsharded run */
    for (int i = 1; i <= 3; i++) {
        ck_assert_msg(sh(&out, "SLURM_ARRAY_TASK_ID=%d SLURM_CPUS_PER_TASK=2 bash %s/array.sh", i, d) == 0, "%s", out);
        free(out);
    }
    ck_assert_msg(sh(&out, "bash %s/merge.sh", d) == 0, "%s", out);
    free(out);
    ck_assert_msg(sh(&out, LUMI " run %s --dir %s", cfg, dir("slurm_full")) == 0, "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/merged", d);
    ck_assert(file_eq(dir("slurm_full"), p, "equivalence.csv"));
    /* a task run again (requeued) completes its folder instead of failing on it */
    ck_assert_int_eq(sh(NULL, "SLURM_ARRAY_TASK_ID=2 bash %s/array.sh", d), 0);
    /* bad input */
    const char *bad[] = {"--shards 0", "--shards 2 --time '1;rm'", "--shards 2 --mem x", "--shards 2 --cpus 0",
                         "--shards 2 --partition 'a b'", "", "--shards 2 --output \"/tmp/it's\"", "--shards 2 --bogus"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        ck_assert_msg(sh(NULL, LUMI " slurm %s %s --output %s", cfg, bad[k], dir("slurm_bad")) == 2, "accepted %s", bad[k]);
    th_write_text(th_path("slurm_nokind.yaml"), "name: x\nkind: nosuch\n");
    ck_assert_int_eq(sh(NULL, LUMI " slurm %s --shards 2 --output %s", th_path("slurm_nokind.yaml"), dir("slurm_bad")), 2);
    ck_assert_int_eq(sh(NULL, LUMI " slurm --help"), 0);
    ck_assert_int_eq(sh(&out, LUMI " slurm %s --shards 2 --output %s --json", cfg, dir("slurm_json")), 0);
    snprintf(line, sizeof line, "{\"dir\":\"%s\",\"shards\":2,\"array_job\":null,\"merge_job\":null,\"merged\":\"%s/merged\"}\n",
             dir("slurm_json"), dir("slurm_json"));
    ck_assert_str_eq(out, line);
    free(out);
    ck_assert_int_eq(sh(NULL, LUMI " run %s --shard 4/3", cfg), 2);
}
END_TEST

Suite *suite_shard(void) {
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("shard");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, plan_is_a_balanced_partition);
    tcase_add_test(tc, equivalence_merge_is_byte_identical);
    tcase_add_test(tc, merge_refuses_bad_shards);
    tcase_add_test(tc, study_merge_is_byte_identical);
    tcase_add_test(tc, chat_merge_is_byte_identical);
    tcase_add_test(tc, generate_merge_has_the_same_tokens);
    tcase_add_test(tc, resume_completes_a_killed_shard);
    tcase_add_test(tc, every_kind_records_provenance);
    tcase_add_test(tc, bench_shards_and_provenance);
    tcase_add_test(tc, golden_record_records_provenance);
    tcase_add_test(tc, golden_merge_is_byte_identical);
    tcase_add_test(tc, slurm_scripts);
    suite_add_tcase(s, tc);
    return s;
}
