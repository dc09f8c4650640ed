/* test_tokenizer_gguf.c: GGUF "gpt2" vocabularies. The test writes a
 * tokenizer-only GGUF from a tokenizer.json's own strings (tokens, "a b"
 * merges, token types, tokenizer.ggml.pre), as llama.cpp's converter does,
 * and checks it encodes exactly like the tokenizer.json on the peer texts
 * and names the same BOS and end tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/gguf.h"
#include "../engine/tok_internal.h"
#include "../engine/tokenizer.h"
#include "helpers.h"

#define VECTORS "tests/data/tok_vectors.tsv"

static void wstr(FILE *f, const char *s, uint64_t n) {
    fwrite(&n, 8, 1, f);
    fwrite(s, 1, n, f);
}

static void wkey(FILE *f, const char *k, uint32_t type) {
    wstr(f, k, strlen(k));
    fwrite(&type, 4, 1, f);
}

static void kv_str(FILE *f, const char *k, const char *v) {
    wkey(f, k, GGUF_STRING);
    wstr(f, v, strlen(v));
}

static void kv_u32(FILE *f, const char *k, uint32_t v) {
    wkey(f, k, GGUF_U32);
    fwrite(&v, 4, 1, f);
}

static void kv_bool(FILE *f, const char *k, int v) {
    wkey(f, k, GGUF_BOOL);
    unsigned char b = (unsigned char)v;
    fwrite(&b, 1, 1, f);
}

static void arr_head(FILE *f, const char *k, uint32_t elem, uint64_t n) {
    wkey(f, k, GGUF_ARRAY);
    fwrite(&elem, 4, 1, f);
    fwrite(&n, 8, 1, f);
}

/* Writes a tokenizer.json's vocabulary as a GGUF; returns the path (also
 * used by test_tokenizer_files.c). */
const char *json_to_gguf(const char *json_path, const char *name, const char *pre, int bos, int eos, int eot,
                                int add_bos) {
    json_error_t je;
    json_t *root = json_load_file(json_path, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s", json_path, je.text);
    json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
    json_t *merges = json_object_get(json_object_get(root, "model"), "merges");
    json_t *added = json_object_get(root, "added_tokens");
    size_t n = json_object_size(vocab) + json_array_size(added);
    const char **tok = calloc(n, sizeof *tok);
    int32_t *type = calloc(n, sizeof *type);
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        tok[json_integer_value(v)] = key;
        type[json_integer_value(v)] = 1;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        tok[id] = json_string_value(json_object_get(v, "content"));
        type[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
    }
    const char *path = th_path(name);
    FILE *f = fopen(path, "wb");
    uint32_t version = 3;
    uint64_t n_tensors = 0, n_kv = 9 + (eot >= 0);
    fwrite("GGUF", 1, 4, f);
    fwrite(&version, 4, 1, f);
    fwrite(&n_tensors, 8, 1, f);
    fwrite(&n_kv, 8, 1, f);
    kv_str(f, "general.architecture", "llama");
    kv_str(f, "tokenizer.ggml.model", "gpt2");
    kv_str(f, "tokenizer.ggml.pre", pre);
    arr_head(f, "tokenizer.ggml.tokens", GGUF_STRING, n);
    for (size_t k = 0; k < n; k++) wstr(f, tok[k], strlen(tok[k]));
    arr_head(f, "tokenizer.ggml.token_type", GGUF_I32, n);
    fwrite(type, 4, n, f);
    arr_head(f, "tokenizer.ggml.merges", GGUF_STRING, json_array_size(merges));
    json_array_foreach(merges, i, v) {
        if (json_is_string(v)) wstr(f, json_string_value(v), strlen(json_string_value(v)));
        else {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s %s", json_string_value(json_array_get(v, 0)), json_string_value(json_array_get(v, 1)));
            wstr(f, buf, strlen(buf));
        }
    }
    kv_u32(f, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    kv_u32(f, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (eot >= 0) kv_u32(f, "tokenizer.ggml.eot_token_id", (uint32_t)eot);
    kv_bool(f, "tokenizer.ggml.add_bos_token", add_bos);
    fclose(f);
    free(tok);
    free(type);
    json_decref(root);
    return path;
}

static void same_as_json(const char *json_path, const char *gguf_path, const char *name) {
    LumiTokenizer a, b;
    LumiErr e;
    ck_assert_msg(lumi_tokenizer_load(json_path, &a, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_tokenizer_load(gguf_path, &b, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(b.format, "gguf");
    ck_assert_int_eq(a.vocab_size, b.vocab_size);
    FILE *f = fopen(VECTORS, "r");
    ck_assert(f != NULL);
    char line[8192], text[4096];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        char *tn = strtok(line, "\t"), *hex = strtok(NULL, "\t");
        if (strcmp(tn, name)) continue;
        size_t n = 0;
        for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
            unsigned x;
            sscanf(hex + i, "%2x", &x);
            text[n++] = (char)x;
        }
        /* GGUF records no normalizer: like llama.cpp, lumi does not apply
         * Qwen's NFC there, so text that is not NFC is compared elsewhere */
        char *nfc;
        size_t nn = lumi_tok_nfc(text, n, &nfc);
        int changed = nfc && (nn != n || memcmp(nfc, text, n));
        free(nfc);
        if (changed && a.nfc) continue;
        for (int flags = 0; flags <= LUMI_ENC_SPECIAL; flags += LUMI_ENC_SPECIAL) {
            int *ia, na, *ib, nb;
            lumi_encode_n(&a, text, n, flags | LUMI_ENC_BOS, &ia, &na);
            lumi_encode_n(&b, text, n, flags | LUMI_ENC_BOS, &ib, &nb);
            ck_assert_msg(na == nb, "%s '%.*s': %d vs %d ids", name, (int)n, text, na, nb);
            ck_assert_msg(!memcmp(ia, ib, (size_t)na * sizeof(int)), "%s '%.*s': ids differ", name, (int)n, text);
            free(ia);
            free(ib);
        }
        cases++;
    }
    fclose(f);
    ck_assert_int_gt(cases, 20);
    ck_assert_int_eq(lumi_tokenizer_bos(&a), lumi_tokenizer_bos(&b));
    int sa[16], sb[16], na = lumi_tokenizer_stop_ids(&a, sa, 16), nb = lumi_tokenizer_stop_ids(&b, sb, 16);
    for (int i = 0; i < nb; i++) {
        int in = 0;
        for (int j = 0; j < na; j++) in |= sa[j] == sb[i];
        ck_assert_msg(in, "gguf stop id %d is not one of the tokenizer.json's", sb[i]);
    }
    lumi_tokenizer_free(&a);
    lumi_tokenizer_free(&b);
}

START_TEST(gguf_gpt2_llama3) {
    const char *j = SHARED_MODELS "/llama3-tokenizer/tokenizer.json";
    SKIP_UNLESS_FILE(j);
    const char *g = json_to_gguf(j, "l3tok.gguf", "llama-bpe", 128000, 128001, 128009, 1);
    same_as_json(j, g, "llama3");
}
END_TEST

START_TEST(gguf_gpt2_qwen2) {
    const char *j = SHARED_MODELS "/qwen3-tokenizer/tokenizer.json";
    SKIP_UNLESS_FILE(j);
    /* Qwen's GGUFs name <|endoftext|> as BOS but do not add it */
    const char *g = json_to_gguf(j, "qwtok.gguf", "qwen2", 151643, 151645, -1, 0);
    same_as_json(j, g, "qwen3");
    /* the pre-tokenizer name decides the split: another one, other ids */
    LumiTokenizer a, b;
    LumiErr e;
    const char *g2 = json_to_gguf(j, "qwtok_gpt2pre.gguf", "default", 151643, 151645, -1, 0);
    ck_assert(lumi_tokenizer_load(g, &a, &e) == 0);
    ck_assert(lumi_tokenizer_load(g2, &b, &e) == 0);
    int *ia, na, *ib, nb;
    lumi_encode(&a, "CAN'T It'S 12345", 0, 0, &ia, &na);
    lumi_encode(&b, "CAN'T It'S 12345", 0, 0, &ib, &nb);
    ck_assert(na != nb || memcmp(ia, ib, (size_t)na * sizeof(int)));
    free(ia);
    free(ib);
    lumi_tokenizer_free(&a);
    lumi_tokenizer_free(&b);
    /* an unknown pre-tokenizer is refused, naming the field */
    const char *g3 = json_to_gguf(j, "qwtok_bad.gguf", "mystery", 151643, 151645, -1, 0);
    ck_assert_int_eq(lumi_tokenizer_load(g3, &a, &e), -1);
    ck_assert_msg(strstr(e.msg, "tokenizer.ggml.pre") && strstr(e.msg, g3), "%s", e.msg);
}
END_TEST

Suite *suite_tokenizer_gguf(void) {
    Suite *s = suite_create("tokenizer_gguf");
    TCase *tc = tcase_create("gpt2");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gguf_gpt2_llama3);
    tcase_add_test(tc, gguf_gpt2_qwen2);
    suite_add_tcase(s, tc);
    return s;
}
