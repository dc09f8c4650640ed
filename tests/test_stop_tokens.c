/* test_stop_tokens.c: a synthesized model with the Llama 3 and one with the
 * Qwen vocabulary, each in a Hugging Face folder with the real tokenizer
 * files beside it, generate through `lumi generate` (which finds the
 * tokenizer by itself) and stop at the model's own end token.
 *
 * The weights are built so that greedy decoding picks one chosen token:
 * every embedding row is all ones and the blocks add nothing (wo = w2 = 0),
 * so the final normed state is all ones, and only the chosen token's
 * classifier row is non-zero. Choosing an end token must stop at once with
 * "stop":"eos"; choosing an ordinary token must run all steps, so the
 * check can fail. The same folders run as experiment configs without a
 * `tokenizer:` key, which find it as the CLI does. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/hf_write.h"
#include "../engine/synth.h"
#include "../engine/util.h"
#include "helpers.h"

/* Writes the model that always picks `winner` to th_path(name) with the
 * tokenizer files of tok_dir beside it; returns the folder. */
static const char *picker(const char *name, int vocab, int winner, const char *tok_dir) {
    LumiSynthSpec s = {16, 32, 1, 2, 2, vocab, 64, 1, 7};
    LumiModel m;
    LumiErr e;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.bin", name);
    ck_assert_msg(lumi_synth_model(&s, NULL, th_path(tmp), &m, &e) == 0, "%s", e.msg);
    size_t d = (size_t)m.cfg.dim, V = (size_t)vocab;
    float *ones = malloc(V * d * sizeof(float)), *cls = calloc(V * d, sizeof(float));
    float *zero = calloc((size_t)m.cfg.hidden_dim * d, sizeof(float));
    for (size_t i = 0; i < V * d; i++) ones[i] = 1.0f;
    for (size_t i = 0; i < d; i++) cls[(size_t)winner * d + i] = 1.0f;
    m.w.tok_emb.data = ones;
    m.w.rms_final.data = ones;
    m.w.cls.data = cls;
    for (int l = 0; l < m.cfg.n_layers; l++) m.w.layers[l].wo.data = zero, m.w.layers[l].w2.data = zero;
    const char *dir = th_path(name);
    LumiHfWriteOpts o = {LUMI_HF_LLAMA, LUMI_F32, 1};
    ck_assert_msg(lumi_hf_write(&m, dir, &o, &e) == 0, "%s", e.msg);
    lumi_model_free(&m);
    free(ones), free(cls), free(zero);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s/tokenizer.json %s/tokenizer_config.json %s/", tok_dir, tok_dir, dir);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    return dir;
}

/* lumi generate's JSON for 6 greedy steps after "Hello". */
static char *generate(const char *dir) {
    char cmd[1200], *out;
    snprintf(cmd, sizeof cmd, "./lumi generate -m %s -p Hello -n 6 -t 0 --json 2>/dev/null", dir);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    return out;
}

static void stops_at(const char *tok_dir, int vocab, const int *ends, int n_ends, int ordinary, const char *test) {
    char need[300];
    snprintf(need, sizeof need, "%s/tokenizer.json", tok_dir);
    if (!th_exists(need)) {
        th_skip(test, need, "%s not found", need);
        return;
    }
    for (int i = 0; i < n_ends; i++) {
        char *out = generate(picker("stop_end", vocab, ends[i], tok_dir));
        ck_assert_msg(strstr(out, "\"ids\":[]") && strstr(out, "\"stop\":\"eos\""), "end token %d: %s", ends[i], out);
        free(out);
    }
    char *out = generate(picker("stop_plain", vocab, ordinary, tok_dir)), want[64];
    snprintf(want, sizeof want, "\"ids\":[%d,%d,%d,%d,%d,%d]", ordinary, ordinary, ordinary, ordinary, ordinary, ordinary);
    ck_assert_msg(strstr(out, want) && strstr(out, "\"stop\":\"steps\""), "ordinary token %d: %s", ordinary, out);
    free(out);
}

START_TEST(llama3_vocabulary_stops_at_its_end_tokens) {
    int ends[] = {128009 /* <|eot_id|> */, 128001 /* <|end_of_text|> */};
    stops_at(SHARED_MODELS "/llama3-tokenizer", 128256, ends, 2, 9906, __func__);
}
END_TEST

START_TEST(qwen_vocabulary_stops_at_its_end_tokens) {
    /* Qwen pads its 151669 tokens to 151936 classifier rows */
    int ends[] = {151645 /* <|im_end|> */, 151643 /* <|endoftext|> */};
    stops_at(SHARED_MODELS "/qwen3-tokenizer", 151936, ends, 2, 9707, __func__);
}
END_TEST

/* A generate config on `model` (tokenizer_line "" or "tokenizer: F\n"),
 * prompt "Hello", 6 greedy steps; returns lumi run's exit status, its
 * output in *out and, on success, cases.jsonl in *cases. */
static int run_config(const char *name, const char *model, const char *tokenizer_line, char **out, char **cases) {
    char cfg[300], cmd[1200];
    snprintf(cfg, sizeof cfg, "%s", th_path(name));
    FILE *f = fopen(cfg, "w");
    ck_assert(f != NULL);
    fprintf(f, "name: cfgtok\nkind: generate\nmodel: %s\n%sprompts: [\"Hello\"]\nsteps: 6\n"
               "paths: {backend: ref}\noutput: %s\n",
            model, tokenizer_line, th_path("cfg_results"));
    fclose(f);
    snprintf(cmd, sizeof cmd, "./lumi run %s 2>&1", cfg);
    int rc = th_run(cmd, out);
    *cases = NULL;
    const char *dir = strstr(*out, "results in ");
    if (rc == 0 && dir) {
        char p[700];
        dir += 11;
        snprintf(p, sizeof p, "%.*s/cases.jsonl", (int)strcspn(dir, "\n"), dir);
        LumiErr e;
        ck_assert_msg(lumi_read_file(p, cases, NULL, &e) == 0, "%s", e.msg);
    }
    return rc;
}

/* A config on a Hugging Face folder names no tokenizer: tokenizer.json
 * beside config.json encodes the text prompt (BOS 128000, "Hello" 9906)
 * and its <|eot_id|> ends generation; an ordinary token runs all steps;
 * an explicit `tokenizer:` still wins (kjv512.bin: BOS 1, a vocabulary note). */
START_TEST(config_finds_the_tokenizer_beside_the_model) {
    const char *l3 = SHARED_MODELS "/llama3-tokenizer";
    SKIP_UNLESS_FILE(SHARED_MODELS "/llama3-tokenizer/tokenizer.json");
    char *out, *cases;
    ck_assert_int_eq(run_config("end.yaml", picker("cfg_end", 128256, 128009, l3), "", &out, &cases), 0);
    ck_assert_msg(cases && strstr(cases, "\"prompt_ids\":[128000,9906],\"tokens\":[]") &&
                      strstr(cases, "\"stop\":\"eos\""),
                  "%s", cases ? cases : out);
    free(out), free(cases);
    const char *plain = picker("cfg_plain", 128256, 9906, l3);
    ck_assert_int_eq(run_config("plain.yaml", plain, "", &out, &cases), 0);
    ck_assert_msg(cases && strstr(cases, "\"tokens\":[9906,9906,9906,9906,9906,9906]") &&
                      strstr(cases, "\"stop\":\"steps\""),
                  "%s", cases ? cases : out);
    free(out), free(cases);
    ck_assert_int_eq(run_config("explicit.yaml", plain, "tokenizer: " DEFAULT_TOKENIZER "\n", &out, &cases), 0);
    ck_assert_msg(cases && strstr(cases, "\"prompt_ids\":[1,"), "%s", cases ? cases : out);
    ck_assert_msg(strstr(out, "note: model") && strstr(out, "128256 embedding rows"), "%s", out);
    free(out), free(cases);
    /* the tokenizer found beside a 1000-row model does not belong to it */
    char cmd[1200], small[300];
    snprintf(small, sizeof small, "%s", th_path("cfg_small"));
    snprintf(cmd, sizeof cmd,
             "./lumi synth --dim 16 --hidden 32 --layers 1 --heads 2 --vocab 1000 --seq 32 --hf -o %s >/dev/null 2>&1 && "
             "cp %s/tokenizer.json %s/",
             small, l3, small);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    ck_assert_int_eq(run_config("small.yaml", small, "", &out, &cases), 2);
    ck_assert_msg(strstr(out, "small.yaml:3:8: model: its tokenizer") && strstr(out, "has 128256 tokens but model"),
                  "%s", out);
    free(out);
}
END_TEST

/* A GGUF model's embedded vocabulary encodes a config's text prompt:
 * Llama 2's ids for "Hello" (BOS 1, "▁Hello" 15043). */
START_TEST(config_finds_the_tokenizer_in_a_gguf) {
    const char *gguf = SHARED_MODELS "/llama-2-tiny-random.gguf";
    SKIP_UNLESS_FILE(SHARED_MODELS "/llama-2-tiny-random.gguf");
    char *out, *cases;
    ck_assert_int_eq(run_config("gguf.yaml", gguf, "", &out, &cases), 0);
    ck_assert_msg(cases && strstr(cases, "\"prompt_ids\":[1,15043],"), "%s", cases ? cases : out);
    free(out), free(cases);
}
END_TEST

/* Without a tokenizer of its own a text prompt is refused naming the key;
 * a tokenizer larger than the model's vocabulary is refused: exit 2. */
START_TEST(config_tokenizer_refusals) {
    char *out, *cases;
    const char *bare = th_synth("bare.bin", 16, 32, 1, 2, 2, 256, 32, 0, 3);
    ck_assert_int_eq(run_config("none.yaml", bare, "", &out, &cases), 2);
    ck_assert_msg(strstr(out, "none.yaml:") && strstr(out, "prompt 'p0' is text: the config needs 'tokenizer'") &&
                      strstr(out, bare),
                  "%s", out);
    free(out);
    ck_assert_int_eq(run_config("big.yaml", bare, "tokenizer: " DEFAULT_TOKENIZER "\n", &out, &cases), 2);
    ck_assert_msg(strstr(out, "big.yaml:4:") && strstr(out, "tokenizer: " DEFAULT_TOKENIZER " has 512 tokens but model") &&
                      strstr(out, "do not belong together"),
                  "%s", out);
    free(out);
}
END_TEST

Suite *suite_stop_tokens(void) {
    Suite *s = suite_create("stop_tokens");
    TCase *tc = tcase_create("generate");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, llama3_vocabulary_stops_at_its_end_tokens);
    tcase_add_test(tc, qwen_vocabulary_stops_at_its_end_tokens);
    tcase_add_test(tc, config_finds_the_tokenizer_beside_the_model);
    tcase_add_test(tc, config_finds_the_tokenizer_in_a_gguf);
    tcase_add_test(tc, config_tokenizer_refusals);
    suite_add_tcase(s, tc);
    return s;
}
