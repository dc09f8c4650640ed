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

Suite *suite_cli(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_models_exit_2);
    tcase_add_test(tc, prompt_longer_than_context);
    tcase_add_test(tc, greedy_reproducible_json);
    tcase_add_test(tc, logits_npy_well_formed);
    tcase_add_test(tc, tokenize_cli);
    suite_add_tcase(s, tc);
    return s;
}
