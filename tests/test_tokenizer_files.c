/* test_tokenizer_files.c: hostile tokenizer files exit 2 with one line that
 * names the file and the field, and `lumi tokenize` / `inspect` work from
 * the command line (--special, a tokenizer found beside a model, a model
 * vocabulary smaller or larger than its tokenizer's). */
#include <stdlib.h>
#include <string.h>

#include "../engine/tokenizer.h"
#include "helpers.h"

#define LUMI "./lumi"

/* test_tokenizer_gguf.c */
const char *json_to_gguf(const char *json_path, const char *name, const char *pre, int bos, int eos, int eot,
                         int add_bos);

/* GPT-2's byte -> code point mapping, written as UTF-8 (for test files). */
static int byte_char(int b, char *out) {
    int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF), cp = b;
    if (!printable) {
        int n = 0;
        for (int c = 0; c < b; c++) n += !((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF));
        cp = 256 + n;
    }
    if (cp < 0x80) {
        if (cp == '"' || cp == '\\') return sprintf(out, "\\%c", cp);
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* A minimal byte-level tokenizer.json: 256 byte tokens, then `extra`
 * (JSON text inserted into model.vocab), `merges`, and `added`. */
static const char *write_json(const char *name, const char *extra, const char *merges, const char *added) {
    const char *p = th_path(name);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"added_tokens\": [%s], \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", "
               "\"add_prefix_space\": false, \"use_regex\": true}, \"model\": {\"type\": \"BPE\", \"vocab\": {",
            added);
    for (int b = 0; b < 256; b++) {
        char c[8];
        int n = byte_char(b, c);
        fprintf(f, "%s\"%.*s\": %d", b ? ", " : "", n, c, b);
    }
    fprintf(f, "%s%s}, \"merges\": [%s]}}\n", *extra ? ", " : "", extra, merges);
    fclose(f);
    return p;
}

/* 256 tiktoken lines, one per byte, then `tail`. */
static const char *write_tiktoken(const char *name, const char *tail) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = th_path(name);
    FILE *f = fopen(p, "w");
    for (int b = 0; b < 256; b++) fprintf(f, "%c%c== %d\n", b64[b >> 2], b64[(b & 3) << 4], b);
    fputs(tail, f);
    fclose(f);
    return p;
}

/* lumi tokenize on the file: exit 2, one line naming the file and field. */
static void refused(const char *path, const char *field) {
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, LUMI " tokenize -z '%s' -p 'hello' 2>&1", path);
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 2, "%s: exit %d: %s", path, rc, out);
    ck_assert_msg(strstr(out, path) && strstr(out, field), "%s: want '%s' in: %s", path, field, out);
    if (getenv("SHOW")) printf("%s", out);
    char *nl = strchr(out, '\n');
    ck_assert_msg(nl && nl[1] == 0, "more than one line: %s", out);
    free(out);
}

START_TEST(valid_small_files_load) {
    /* the base files of the hostile variants below are themselves fine */
    LumiTokenizer t;
    LumiErr e;
    const char *j = write_json("ok.json", "\"ab\": 256", "\"a b\"", "{\"id\": 257, \"content\": \"<|end|>\", \"special\": true}");
    ck_assert_msg(lumi_tokenizer_load(j, &t, &e) == 0, "%s", e.msg);
    int *ids, n;
    lumi_encode(&t, "abab", 0, 0, &ids, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 256);
    free(ids);
    ck_assert_int_eq(lumi_token_special(&t, "<|end|>"), 257);
    lumi_tokenizer_free(&t);
    const char *k = write_tiktoken("ok.tiktoken", "YWI= 256\n");
    ck_assert_msg(lumi_tokenizer_load(k, &t, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(t.format, "tiktoken");
    lumi_encode(&t, "abab", 0, 0, &ids, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[1], 256);
    free(ids);
    lumi_tokenizer_free(&t);
}
END_TEST

START_TEST(hostile_files_exit_2) {
    refused(write_tiktoken("b64.tiktoken", "YW*= 256\n"), "bad base64");
    refused(write_tiktoken("dup.tiktoken", "YWI= 255\n"), "duplicate rank");
    refused(write_tiktoken("bigrank.tiktoken", "YWI= 99999999\n"), "rank");
    refused(write_tiktoken("norank.tiktoken", "YWI=\n"), "line 257: not");
    refused(write_json("merge_unknown.json", "", "\"a zz\"", ""), "merges[0]");
    refused(write_json("merge_shape.json", "", "[\"a\"]", ""), "merges[0]");
    refused(write_json("merge_nomerged.json", "", "\"a b\"", ""), "merges[0]");
    refused(write_json("dup_id.json", "\"ab\": 5", "", ""), "model.vocab");
    refused(write_json("huge_id.json", "\"ab\": 4000000000", "", ""), "model.vocab");
    refused(write_json("added_id.json", "", "", "{\"id\": 99999999, \"content\": \"<x>\"}"), "added_tokens[0]");
    const char *bad = th_path("bad.json");
    FILE *f = fopen(bad, "w");
    fputs("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", f);
    fclose(f);
    refused(bad, "model.type");
    f = fopen(bad, "w");
    fputs("{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [", f); /* truncated JSON */
    fclose(f);
    refused(bad, "line");
    /* protobuf: a pieces field claiming more bytes than the file has, and a
     * real model cut short */
    const char *pb = th_path("trunc.model");
    f = fopen(pb, "wb");
    fwrite("\x0a\x7f\x0a\x01" "a", 1, 5, f);
    fclose(f);
    refused(pb, "protobuf");
    const char *real = SHARED_MODELS "/kjv512.model";
    if (th_exists(real)) {
        LumiMap m;
        LumiErr e;
        ck_assert(lumi_map_file(real, &m, &e) == 0);
        const char *cut = th_path("cut.model");
        f = fopen(cut, "wb");
        fwrite(m.data, 1, m.size / 2, f);
        fclose(f);
        lumi_unmap(&m);
        refused(cut, "protobuf");
    }
    /* GGUF claiming 2^40 tokens in a 100-byte file */
    const char *g = th_path("huge.gguf");
    f = fopen(g, "wb");
    uint32_t v3 = 3, tstr = 8, tarr = 9;
    uint64_t zero = 0, one = 1, klen = 21, huge = 1ull << 40;
    fwrite("GGUF", 1, 4, f);
    fwrite(&v3, 4, 1, f);
    fwrite(&zero, 8, 1, f);
    fwrite(&one, 8, 1, f);
    fwrite(&klen, 8, 1, f);
    fwrite("tokenizer.ggml.tokens", 1, 21, f);
    fwrite(&tarr, 4, 1, f);
    fwrite(&tstr, 4, 1, f);
    fwrite(&huge, 8, 1, f);
    fwrite("\x01\0\0\0\0\0\0\0a", 1, 9, f);
    fclose(f);
    refused(g, g);
}
END_TEST

START_TEST(tokenize_cli_special_and_found) {
    char *out;
    const char *l3 = SHARED_MODELS "/llama3-tokenizer/tokenizer.model";
    SKIP_UNLESS_FILE(l3);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, LUMI " tokenize -z %s -p 'hi<|eot_id|>' --no-bos", l3);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(!strstr(out, "128009"), "plain text gave the special id: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, LUMI " tokenize -z %s -p 'hi<|eot_id|>' --no-bos --special --json", l3);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "\"ids\": [6151, 128009]") && strstr(out, "\"<|eot_id|>\""), "%s", out);
    free(out);
    /* found beside the model: a folder with config.json and tokenizer.model */
    const char *hf = SHARED_MODELS "/kjv1M-hf";
    if (th_exists(SHARED_MODELS "/kjv1M-hf/tokenizer.model")) {
        snprintf(cmd, sizeof cmd, LUMI " tokenize -m %s -p 'In the beginning'", hf);
        char *want;
        ck_assert_int_eq(th_run(cmd, &out), 0);
        ck_assert_int_eq(th_run(LUMI " tokenize -z models/kjv512.bin -p 'In the beginning'", &want), 0);
        ck_assert_str_eq(out, want);
        free(out);
        free(want);
        /* a llama2.c checkpoint beside an unrelated tokenizer.model (no
         * config.json there) does not pick it up */
        if (th_exists(SHARED_MODELS "/kjv1M.bin") && th_exists(SHARED_MODELS "/tokenizer.model")) {
            ck_assert_int_eq(th_run(LUMI " inspect " SHARED_MODELS "/kjv1M.bin", &out), 0);
            ck_assert_msg(strstr(out, "tokenizer:         none"), "%s", out);
            free(out);
        }
        snprintf(cmd, sizeof cmd, LUMI " inspect %s", hf);
        ck_assert_int_eq(th_run(cmd, &out), 0);
        ck_assert_msg(strstr(out, "bos:               1 '<s>'") && strstr(out, "stop (eos/eot):    2 '</s>'"), "%s", out);
        free(out);
    }
}
END_TEST

/* A model vocabulary smaller than the tokenizer's is refused; a larger one
 * (padded) runs with a one-line note. */
START_TEST(vocab_mismatch) {
    char *out, cmd[1024];
    const char *small = th_synth("tok_small.bin", 16, 24, 1, 2, 1, 300, 16, 0, 3);
    snprintf(cmd, sizeof cmd, LUMI " generate -m %s -z %s -p 'In' -n 2 -t 0 2>&1", small, DEFAULT_TOKENIZER);
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "512 tokens") && strstr(out, "300"), "%s", out);
    free(out);
    const char *big = th_synth("tok_big.bin", 16, 24, 1, 2, 1, 600, 16, 0, 3);
    snprintf(cmd, sizeof cmd, LUMI " logits -m %s -z %s -p 'In' -o %s 2>&1", big, DEFAULT_TOKENIZER, th_path("l.npy"));
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "note:") && strstr(out, "600"), "%s", out);
    free(out);
}
END_TEST

START_TEST(bench_tokenizer_runs) {
    char *out;
    ck_assert_int_eq(th_run(LUMI " bench-tokenizer -z " DEFAULT_TOKENIZER " --bytes 20000 --json", &out), 0);
    ck_assert_msg(strstr(out, "\"roundtrip\": true") && strstr(out, "\"bytes\": 20000"), "%s", out);
    free(out);
    ck_assert_int_eq(th_run(LUMI " bench-tokenizer --help", NULL), 0);
}
END_TEST


/* Deterministic mutations (bit flips, byte overwrites, truncation) of small
 * valid files of every format: each either loads and then encodes and
 * decodes text, or fails with a message naming the file. Run under
 * AddressSanitizer (issue 13's sanitizer build) this is a short fuzz run;
 * LUMI_TOK_MUTATIONS raises the count by hand. */
static void mutate_file(const char *src, const char *name, LumiRng *r) {
    LumiMap m;
    LumiErr e;
    ck_assert(lumi_map_file(src, &m, &e) == 0);
    unsigned char *buf = malloc(m.size);
    memcpy(buf, m.data, m.size);
    size_t n = m.size;
    lumi_unmap(&m);
    int kind = (int)(lumi_rng_u64(r) % 4);
    for (int k = 0; k < 1 + (int)(lumi_rng_u64(r) % 4); k++) {
        size_t at = lumi_rng_u64(r) % n;
        if (kind == 0) buf[at] ^= (unsigned char)(1u << (lumi_rng_u64(r) % 8));
        else if (kind == 1) buf[at] = (unsigned char)lumi_rng_u64(r);
        else if (kind == 2) buf[at] = "\0\xff{}[]\",: 0123456789=\n"[lumi_rng_u64(r) % 22];
        else n = at + 1;
    }
    const char *p = th_path(name);
    FILE *f = fopen(p, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
    LumiTokenizer t;
    if (lumi_tokenizer_load(p, &t, &e) != 0) {
        ck_assert_msg(strstr(e.msg, p) != NULL, "message does not name the file: %s", e.msg);
        return;
    }
    const char *text = "Hello <|end|> w\xc3\xb6rld 123 \xff\xfe \xf0\x9f\x98\x80!";
    int *ids, k;
    lumi_encode_n(&t, text, strlen(text), LUMI_ENC_BOS | LUMI_ENC_SPECIAL, &ids, &k);
    for (int i = 0; i < k; i++) {
        int len;
        lumi_decode_piece(&t, i ? ids[i - 1] : -1, ids[i], &len);
        ck_assert_int_ge(len, 0);
    }
    free(ids);
    lumi_tokenizer_free(&t);
}

START_TEST(mutated_files) {
    const char *j = write_json("m.json", "\"ab\": 256", "\"a b\"", "{\"id\": 257, \"content\": \"<|end|>\", \"special\": true}");
    const char *k = write_tiktoken("m.tiktoken", "YWI= 256\n");
    const char *g = json_to_gguf(j, "m.gguf", "llama-bpe", 257, 257, 257, 1);
    const char *srcs[] = {j, k, g, DEFAULT_TOKENIZER, SHARED_MODELS "/kjv512.model"};
    const char *env = getenv("LUMI_TOK_MUTATIONS");
    int iters = env ? atoi(env) : 150;
    LumiRng r;
    lumi_rng_seed(&r, 13);
    for (size_t s = 0; s < sizeof srcs / sizeof srcs[0]; s++) {
        if (!th_exists(srcs[s])) {
            th_skip(__func__, srcs[s], "%s not found", srcs[s]);
            continue;
        }
        for (int i = 0; i < iters; i++) mutate_file(srcs[s], "mut.bin", &r);
    }
}
END_TEST


static int has_stop(const LumiTokenizer *t, int id) {
    int ids[16], n = lumi_tokenizer_stop_ids(t, ids, 16);
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* BOS and end tokens from the metadata files beside a tokenizer: eos ids as
 * an int and as a list, bos_token as a string or an object, add_bos_token. */
START_TEST(metadata_files) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", th_path("meta"));
    LumiErr e;
    ck_assert(lumi_mkdirs(dir, &e) == 0);
    const char *src = write_json("meta_src.json", "\"ab\": 256", "\"a b\"",
                                 "{\"id\": 257, \"content\": \"<|end|>\", \"special\": true}, "
                                 "{\"id\": 258, \"content\": \"<|start|>\", \"special\": true}");
    char *json;
    size_t len;
    ck_assert(lumi_read_file(src, &json, &len, &e) == 0);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    th_write_text(path, json);
    free(json);
    char tok[600];
    snprintf(tok, sizeof tok, "%s", path);
    LumiTokenizer t;
    /* no metadata: no BOS, no end tokens */
    ck_assert_msg(lumi_tokenizer_load(tok, &t, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(lumi_tokenizer_bos(&t), -1);
    ck_assert_int_eq(lumi_tokenizer_stop_ids(&t, (int[4]){0}, 4), 0);
    lumi_tokenizer_free(&t);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    th_write_text(path, "{\"bos_token\": {\"content\": \"<|start|>\"}, \"eos_token\": \"<|end|>\", \"model_max_length\": 1e30}");
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    th_write_text(path, "{\"eos_token_id\": [257, 5]}");
    snprintf(path, sizeof path, "%s/config.json", dir);
    th_write_text(path, "{\"eos_token_id\": 6, \"vocab_size\": 259}");
    ck_assert_msg(lumi_tokenizer_load(tok, &t, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(lumi_tokenizer_bos(&t), 258);
    ck_assert(has_stop(&t, 257) && has_stop(&t, 5) && has_stop(&t, 6));
    ck_assert(!has_stop(&t, 258));
    lumi_tokenizer_free(&t);
    /* add_bos_token false: the model has a BOS token but does not add it */
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    th_write_text(path, "{\"bos_token\": \"<|start|>\", \"add_bos_token\": false}");
    ck_assert(lumi_tokenizer_load(tok, &t, &e) == 0);
    ck_assert_int_eq(lumi_tokenizer_bos(&t), -1);
    lumi_tokenizer_free(&t);
    /* an end id outside the vocabulary is refused, naming file and field */
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    th_write_text(path, "{\"eos_token_id\": [257, 99999]}");
    ck_assert_int_eq(lumi_tokenizer_load(tok, &t, &e), -1);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "eos_token_id"), "%s", e.msg);
}
END_TEST

Suite *suite_tokenizer_files(void) {
    Suite *s = suite_create("tokenizer_files");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, valid_small_files_load);
    tcase_add_test(tc, hostile_files_exit_2);
    tcase_add_test(tc, tokenize_cli_special_and_found);
    tcase_add_test(tc, vocab_mismatch);
    tcase_add_test(tc, bench_tokenizer_runs);
    tcase_add_test(tc, mutated_files);
    tcase_add_test(tc, metadata_files);
    suite_add_tcase(s, tc);
    return s;
}
