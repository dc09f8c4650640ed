/* test_cli.c: the lumi command line: exit codes, --json, .npy output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/npy.h"
#include "../paths/session.h"
#include "../engine/tokenizer.h"
#include "helpers.h"

#define LUMI "./lumi"

static int run_fmt(char **out, const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return th_run(cmd, out);
}

START_TEST(bad_models_exit_2) {
    const char *ok = th_synth("cli_ok.bin", 16, 24, 1, 2, 1, 30, 8, 0, 5);
    char *out;
    ck_assert_int_eq(run_fmt(&out, LUMI " inspect %s%s 2>&1", ok, ""), 0);
    ck_assert_msg(strstr(out, "parameters:"), "%s", out);
    free(out);
    /* truncate by one float */
    char cmd[1024];
    const char *bad = th_path("cli_trunc.bin");
    snprintf(cmd, sizeof cmd, "head -c -4 %s > %s", ok, bad);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    ck_assert_int_eq(run_fmt(&out, LUMI " inspect %s%s 2>&1", bad, ""), 2);
    ck_assert_msg(strstr(out, "truncated") && strstr(out, bad), "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " inspect %s%s 2>&1", th_path("nope.bin"), ""), 2);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " generate -m %s --ids 1,2 -n 2 --path backend=gpu9%s 2>&1", ok, ""), 2);
    ck_assert_msg(strstr(out, "unknown backend 'gpu9'") && strstr(out, "valid: ref"), "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " generate -m %s --ids 1,2 --path colour=red%s 2>&1", ok, ""), 2);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " frobnicate%s%s 2>&1", "", ""), 2);
    free(out);
}
END_TEST

START_TEST(prompt_longer_than_context) {
    const char *ok = th_synth("cli_ctx.bin", 16, 24, 1, 2, 1, 30, 8, 0, 5);
    char *out;
    ck_assert_int_eq(run_fmt(&out, LUMI " generate -m %s --ids 1,2,3,4,5,6,7,8,9%s 2>&1", ok, ""), 2);
    ck_assert_msg(strstr(out, "9 tokens") && strstr(out, "context length"), "%s", out);
    free(out);
    /* exactly the context: one token comes from prefill, then it stops */
    ck_assert_int_eq(run_fmt(&out, LUMI " generate -m %s --ids 1,2,3,4,5,6,7,8 -n 5 --json%s 2>/dev/null", ok, ""), 0);
    ck_assert_msg(strstr(out, "\"stop\":\"context\"") || strstr(out, "\"stop\":\"eos\""), "%s", out);
    free(out);
}
END_TEST

START_TEST(greedy_reproducible_json) {
    char *a, *b;
    const char *cmd = LUMI " generate -m %s -z %s -p 'In the beginning' -n 24 -t 0 --json 2>/dev/null";
    ck_assert_int_eq(run_fmt(&a, cmd, DEFAULT_MODEL, DEFAULT_TOKENIZER), 0);
    ck_assert_int_eq(run_fmt(&b, cmd, DEFAULT_MODEL, DEFAULT_TOKENIZER), 0);
    ck_assert_msg(strstr(a, "\"prompt_ids\":[1,") && strstr(a, "\"text\":\"") && strstr(a, "\"prefill_tok_s\":") &&
                      strstr(a, "\"decode_tok_s\":"),
                  "%s", a);
    /* everything up to the timings is identical */
    char *ta = strstr(a, ",\"prefill_tok_s\""), *tb = strstr(b, ",\"prefill_tok_s\"");
    ck_assert(ta && tb);
    *ta = *tb = 0;
    ck_assert_str_eq(a, b);
    ck_assert_msg(strstr(a, "\"ids\":[") && strlen(strstr(a, "\"ids\":[")) > 20, "%s", a);
    free(a);
    free(b);
    /* seeded sampling is reproducible too, and differs between seeds */
    const char *cmd2 = LUMI " generate -m %s -z %s -p 'And' -n 32 -t 1 --seed 42 --json 2>/dev/null | sed 's/,\"prefill.*//'";
    char *c, *d;
    ck_assert_int_eq(run_fmt(&c, cmd2, DEFAULT_MODEL, DEFAULT_TOKENIZER), 0);
    ck_assert_int_eq(run_fmt(&d, cmd2, DEFAULT_MODEL, DEFAULT_TOKENIZER), 0);
    ck_assert_str_eq(c, d);
    free(d);
    const char *cmd3 = LUMI " generate -m %s -z %s -p 'And' -n 32 -t 1 --seed 43 --json 2>/dev/null | sed 's/,\"prefill.*//'";
    ck_assert_int_eq(run_fmt(&d, cmd3, DEFAULT_MODEL, DEFAULT_TOKENIZER), 0);
    ck_assert_str_ne(c, d);
    free(c);
    free(d);
}
END_TEST

START_TEST(logits_npy_well_formed) {
    const char *npy = th_path("l.npy");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, LUMI " logits -m %s -z %s -p 'In the beginning God' -o %s 2>/dev/null", DEFAULT_MODEL,
             DEFAULT_TOKENIZER, npy);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    char *data;
    size_t len, rows, cols;
    LumiErr e;
    ck_assert(lumi_read_file(npy, &data, &len, &e) == 0);
    size_t off = lumi_npy_parse(data, len, &rows, &cols);
    ck_assert_msg(off > 0, "bad npy header");
    ck_assert_uint_eq(off % 64, 0);
    ck_assert_int_eq(data[off - 1], '\n');
    ck_assert_uint_eq(cols, 512);
    ck_assert_uint_eq(len, off + rows * cols * 4);
    /* same numbers as the library computes */
    LumiModel m;
    LumiTokenizer t;
    LumiSession s;
    LumiPathSpec p;
    ck_assert(lumi_model_load(DEFAULT_MODEL, &m, &e) == 0);
    ck_assert(lumi_tokenizer_load(DEFAULT_TOKENIZER, &t, &e) == 0);
    int *ids, n;
    lumi_encode(&t, "In the beginning God", 1, 0, &ids, &n);
    ck_assert_uint_eq(rows, (size_t)n);
    lumi_path_default(&p);
    ck_assert(lumi_session_open(&s, &m, &p, &e) == 0);
    float *want = malloc(rows * cols * 4);
    ck_assert(lumi_session_feed(&s, ids, n, want, &e) == 0);
    ck_assert(memcmp(want, data + off, rows * cols * 4) == 0);
    free(want);
    free(ids);
    free(data);
    lumi_session_close(&s);
    lumi_tokenizer_free(&t);
    lumi_model_free(&m);
}
END_TEST

START_TEST(tokenize_cli) {
    char *out;
    ck_assert_int_eq(run_fmt(&out, LUMI " tokenize -z %s -p 'In the beginning'%s", DEFAULT_TOKENIZER, ""), 0);
    ck_assert_msg(strncmp(out, "1 ", 2) == 0, "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " tokenize -z %s -p 'In' --no-bos%s", DEFAULT_TOKENIZER, ""), 0);
    ck_assert_msg(strncmp(out, "1 ", 2) != 0, "%s", out);
    free(out);
}
END_TEST

/* Issue 13: hostile or mistaken input found by trying lumi as a new user. */

START_TEST(ids_list_is_strict) {
    const char *ok = th_synth("cli_ids.bin", 16, 24, 1, 2, 1, 30, 8, 0, 5);
    static const char *const BAD[] = {"1,2,", "1,,2", ",1", "+1,2", "1, ", ""};
    char *out;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        ck_assert_msg(run_fmt(&out, LUMI " generate -m %s -n 1 --ids '%s' 2>&1", ok, BAD[i]) == 2, "--ids '%s': %s",
                      BAD[i], out);
        ck_assert_msg(strstr(out, "--ids"), "--ids '%s': %s", BAD[i], out);
        free(out);
    }
    ck_assert_int_eq(run_fmt(&out, LUMI " generate -m %s -n 1 --ids '1, 2,3' %s2>&1", ok, ""), 0);
    free(out);
}
END_TEST

/* A prompt that cannot fit is refused before it is read or tokenized: a
 * file larger than 64 bytes per context position (exit 2, naming it), on
 * the command line and in a config. 64 x 8 + 1 bytes on a context of 8. */
START_TEST(huge_prompt_refused_up_front) {
    const char *m = th_synth("cli_huge.bin", 16, 24, 1, 2, 1, 512, 8, 0, 5);
    const char *txt = th_path("huge.txt"), *cfg = th_path("huge.yaml");
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "head -c 513 /dev/zero | tr '\\0' a > %s", txt);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, LUMI " generate -m %s -z %s -p \"$(cat %s)\" 2>&1", m, DEFAULT_TOKENIZER, txt);
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "-p: the prompt is 513 bytes"), "%s", out);
    free(out);
    FILE *f = fopen(cfg, "w");
    ck_assert(f != NULL);
    fprintf(f, "name: huge\nkind: generate\nmodel: %s\ntokenizer: %s\noutput: %s\nprompts: [{name: big, file: %s}]\n",
            m, DEFAULT_TOKENIZER, th_path("huge-results"), txt);
    fclose(f);
    ck_assert_int_eq(run_fmt(&out, LUMI " run %s%s 2>&1", cfg, ""), 2);
    ck_assert_msg(strstr(out, "huge.txt is 513 bytes, more than 64 per position"), "%s", out);
    free(out);
    /* at the limit it is read and tokenized (and then too long in tokens) */
    snprintf(cmd, sizeof cmd, "head -c 512 /dev/zero | tr '\\0' a > %s", txt);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    ck_assert_int_eq(run_fmt(&out, LUMI " run %s%s 2>&1", cfg, ""), 2);
    ck_assert_msg(strstr(out, "tokens but the context length"), "%s", out);
    free(out);
    /* a prompt "file" that is not a regular file would never end */
    f = fopen(cfg, "w");
    ck_assert(f != NULL);
    fprintf(f, "name: huge\nkind: generate\nmodel: %s\ntokenizer: %s\noutput: %s\nprompts: [{name: z, file: /dev/zero}]\n",
            m, DEFAULT_TOKENIZER, th_path("huge-results"));
    fclose(f);
    ck_assert_int_eq(run_fmt(&out, LUMI " run %s%s 2>&1", cfg, ""), 2);
    ck_assert_msg(strstr(out, "/dev/zero is not a regular file"), "%s", out);
    free(out);
}
END_TEST

/* `lumi bench -m MODEL` with the defaults (pp512) on a model of context 256
 * fits the sizes to the model and says so; sizes the user gave are kept and
 * refused when they do not fit. Times are not looked at. */
START_TEST(bench_defaults_fit_the_context) {
    SKIP_UNLESS_FILE(DEFAULT_MODEL);
    char *out;
    ck_assert_int_eq(run_fmt(&out, LUMI " bench -m %s -r 1 --no-machine -o %s 2>&1", DEFAULT_MODEL,
                             th_path("bench-defaults")),
                     0);
    ck_assert_msg(strstr(out, "prompt size defaults to 256, the context length of " DEFAULT_MODEL), "%s", out);
    ck_assert_msg(strstr(out, "pp256") && strstr(out, "tg128"), "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " bench -m %s -p 512 -r 1 --no-machine -o %s 2>&1", DEFAULT_MODEL,
                             th_path("bench-defaults")),
                     2);
    ck_assert_msg(strstr(out, "must fit its context length 256"), "%s", out);
    free(out);
}
END_TEST

static const char *gold_config(const char *file, int steps) {
    const char *cfg = th_path(file);
    FILE *f = fopen(cfg, "w");
    ck_assert(f != NULL);
    fprintf(f,
            "name: cli_gold\nkind: equivalence\ngoldens: %s\noutput: %s\n"
            "model: {synth: {dim: 16, hidden: 32, layers: 1, heads: 2, kv_heads: 1, vocab: 40, seq: 32, seed: 3}}\n"
            "prompts: [{name: a, ids: [1, 4, 9]}]\nsteps: %d\n",
            th_path("cli_gold"), th_path("cli_gold_results"), steps);
    fclose(f);
    return cfg;
}

/* Goldens are replaced only with --force; verify against a config whose
 * steps changed says the config differs (exit 2), not "drift". */
START_TEST(golden_record_force_and_config_change) {
    const char *cfg = gold_config("gold24.yaml", 24);
    char *out;
    ck_assert_int_eq(run_fmt(&out, LUMI " golden record %s%s 2>&1", cfg, ""), 0);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " golden record %s%s 2>&1", cfg, ""), 2);
    ck_assert_msg(strstr(out, "manifest.json exists") && strstr(out, "--force"), "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " golden record --force %s%s 2>&1", cfg, ""), 0);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " golden verify %s%s 2>&1", cfg, ""), 0);
    free(out);
    const char *cfg25 = gold_config("gold25.yaml", 25);
    ck_assert_int_eq(run_fmt(&out, LUMI " golden verify %s%s 2>&1", cfg25, ""), 2);
    ck_assert_msg(strstr(out, "config differs") && strstr(out, "generates 25 steps, recorded 24"), "%s", out);
    ck_assert_msg(!strstr(out, "drift:"), "%s", out);
    free(out);
    /* a manifest from before steps were recorded: inferred from the tokens */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "sed -i 's/ \"steps\": [0-9]*,//' %s/manifest.json", th_path("cli_gold"));
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    ck_assert_int_eq(run_fmt(&out, LUMI " golden verify %s%s 2>&1", cfg25, ""), 2);
    ck_assert_msg(strstr(out, "config differs") && strstr(out, "the goldens hold 24 tokens"), "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " golden verify %s%s 2>&1", cfg, ""), 0);
    free(out);
}
END_TEST

/* `lumi paths` marks a backend this build cannot run, and only such: the
 * mark agrees with whether a session on it opens. */
START_TEST(paths_marks_unavailable) {
    char *out;
    ck_assert_int_eq(th_run(LUMI " paths", &out), 0);
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(th_synth("cli_paths.bin", 16, 24, 1, 2, 1, 30, 8, 0, 5), &m, &e) == 0, "%s", e.msg);
    char *sec = strstr(out, "backend:\n"), *end = strstr(out, "\ncache:");
    ck_assert(sec && end);
    int n = 0;
    for (char *l = sec + 9; l < end; l = strchr(l, '\n') + 1) {
        char name[32];
        if (sscanf(l, "  %31s", name) != 1 || !strcmp(name, "UNAVAILABLE:")) continue;
        char *next = strchr(l, '\n');
        int marked = next && next < end && !strncmp(next + 1, "             UNAVAILABLE: ", 25);
        LumiPathSpec p;
        LumiSession s;
        lumi_path_default(&p);
        snprintf(p.backend, sizeof p.backend, "%s", name);
        int opens = lumi_session_open(&s, &m, &p, &e) == 0;
        if (opens) lumi_session_close(&s);
        /* a device backend that is built but finds no device here is a
         * property of this machine, not of the build: not marked */
        if (!opens && !marked && (strstr(e.msg, "no CUDA device") || strstr(e.msg, "no OpenCL"))) {
            n++;
            continue;
        }
        ck_assert_msg(opens == !marked, "backend %s: session %s but listed %s", name, opens ? "opens" : "fails",
                      marked ? "UNAVAILABLE" : "as usable");
        n++;
    }
    ck_assert_int_ge(n, 2);
    lumi_model_free(&m);
    free(out);
}
END_TEST

/* Load errors name the flag or config key the path came from; output
 * errors name the user's path, never the temporary file. */
START_TEST(errors_name_flag_and_user_path) {
    const char *ok = th_synth("cli_names.bin", 16, 24, 1, 2, 1, 30, 8, 0, 5);
    char *out;
    ck_assert_int_eq(run_fmt(&out, LUMI " generate -m %s --ids 1%s 2>&1", th_tmpdir(), ""), 2);
    ck_assert_msg(strstr(out, "lumi: -m: ") && strstr(out, "config.json"), "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " generate -m %s -z %s -p hi 2>&1", ok, th_path("no-tok.bin")), 2);
    ck_assert_msg(strstr(out, "lumi: -z: ") && strstr(out, "no-tok.bin"), "%s", out);
    free(out);
    ck_assert_int_eq(run_fmt(&out, LUMI " bench -m %s%s --no-machine 2>&1", th_path("no-model.bin"), ""), 2);
    ck_assert_msg(strstr(out, "-m: ") && strstr(out, "no-model.bin"), "%s", out);
    free(out);
    const char *npy = th_path("no-such-dir/out.npy");
    ck_assert_int_eq(run_fmt(&out, LUMI " logits -m %s --ids 1,2 -o %s 2>&1", ok, npy), 2);
    ck_assert_msg(strstr(out, npy) && !strstr(out, ".tmp."), "%s", out);
    free(out);
}
END_TEST

/* Every command answers --help with exit 0. */
START_TEST(every_command_help_exits_0) {
    char *list;
    ck_assert_int_eq(th_run(LUMI " --help", &list), 0);
    char *c = strstr(list, "commands:\n");
    ck_assert(c != NULL);
    int n = 0;
    for (char *l = c + 10; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        char name[32], *out;
        if (*l == '\n') break; /* the end of the command list */
        if (sscanf(l, "  %31s", name) != 1) continue;
        ck_assert_msg(run_fmt(&out, LUMI " %s --help%s >/dev/null 2>&1", name, "") == 0, "lumi %s --help", name);
        free(out);
        n++;
    }
    ck_assert_int_ge(n, 10);
    free(list);
}
END_TEST

Suite *suite_cli(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_models_exit_2);
    tcase_add_test(tc, prompt_longer_than_context);
    tcase_add_test(tc, greedy_reproducible_json);
    tcase_add_test(tc, logits_npy_well_formed);
    tcase_add_test(tc, tokenize_cli);
    tcase_add_test(tc, ids_list_is_strict);
    tcase_add_test(tc, huge_prompt_refused_up_front);
    tcase_add_test(tc, bench_defaults_fit_the_context);
    tcase_add_test(tc, golden_record_force_and_config_change);
    tcase_add_test(tc, paths_marks_unavailable);
    tcase_add_test(tc, errors_name_flag_and_user_path);
    tcase_add_test(tc, every_command_help_exits_0);
    suite_add_tcase(s, tc);
    return s;
}
