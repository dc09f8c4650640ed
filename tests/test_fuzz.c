/* test_fuzz.c: the committed fuzz inputs (fuzz/corpus/NAME/) through the
 * real loaders in the normal build: each loads, or is refused with an
 * error, never a crash or an allocation the file does not justify. Files
 * named regress-* are inputs `make fuzz-run` found crashing: each must be
 * refused, with the message it was fixed to give. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/tokenizer.h"
#include "helpers.h"

typedef int (*Loader)(const char *path, LumiErr *e);

static int load_model(const char *path, LumiErr *e) {
    LumiModel m;
    if (lumi_model_load(path, &m, e) != 0) return -1;
    lumi_model_free(&m);
    return 0;
}

static int load_tokenizer(const char *path, LumiErr *e) {
    LumiTokenizer t;
    if (lumi_tokenizer_load(path, &t, e) != 0) return -1;
    lumi_tokenizer_free(&t);
    return 0;
}

/* fuzz_safetensors' layout: 2-byte length n, config.json, .safetensors */
static int load_hf(const char *path, LumiErr *e) {
    FILE *f = fopen(path, "rb");
    ck_assert(f != NULL);
    static unsigned char buf[1 << 16];
    size_t size = fread(buf, 1, sizeof buf, f), n = size < 2 ? 0 : (size_t)buf[0] | (size_t)buf[1] << 8;
    fclose(f);
    if (n > size - 2) n = size - 2;
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s", th_path("fuzz_hf"));
    snprintf(p, sizeof p, "mkdir -p %s", dir);
    ck_assert_int_eq(th_run(p, NULL), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    ck_assert((f = fopen(p, "wb")) && fwrite(buf + 2, 1, n, f) == n && fclose(f) == 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert((f = fopen(p, "wb")) && fwrite(buf + 2 + n, 1, size - 2 - n, f) == size - 2 - n && fclose(f) == 0);
    return load_model(dir, e);
}

/* What each regression input must now be refused with. */
static const struct {
    const char *file, *says;
} REGRESS[] = {
    {"regress-weights-exceed-file.gguf", "weights but the file has only 4342 bytes"},
};

/* regress: whether the regress-* files crashed this loader (then they must be refused) */
static void replay(const char *corpus, Loader load, int regress) {
    char dir[256];
    snprintf(dir, sizeof dir, "fuzz/corpus/%s", corpus);
    DIR *d = opendir(dir);
    if (!d) TH_SKIP(dir, "%s not found", dir);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        LumiErr e = {{0}};
        int rc = load(path, &e);
        if (regress && !strncmp(de->d_name, "regress-", 8)) {
            ck_assert_msg(rc != 0, "%s: a crash input loads", path);
            const char *says = NULL;
            for (size_t i = 0; i < sizeof REGRESS / sizeof REGRESS[0]; i++)
                if (!strcmp(REGRESS[i].file, de->d_name)) says = REGRESS[i].says;
            ck_assert_msg(says != NULL, "%s: add what it must say to REGRESS", path);
            ck_assert_msg(strstr(e.msg, says), "%s: %s", path, e.msg);
        } else if (rc != 0) {
            ck_assert_msg(e.msg[0], "%s: refused without a message", path);
        }
        n++;
    }
    closedir(d);
    ck_assert_msg(n > 0, "%s is empty", dir);
}

START_TEST(llama2c_inputs) { replay("llama2c", load_model, 1); }
END_TEST
START_TEST(gguf_inputs) {
    replay("gguf", load_model, 1);
    replay("gguf", load_tokenizer, 0); /* the vocabulary in those is fine */
}
END_TEST
START_TEST(tokenizer_bin_inputs) { replay("tokenizer_bin", load_tokenizer, 1); }
END_TEST
START_TEST(safetensors_inputs) { replay("safetensors", load_hf, 1); }
END_TEST
START_TEST(tokenizers_inputs) { replay("tokenizers", load_tokenizer, 1); }
END_TEST
START_TEST(lmw_inputs) { replay("lmw", load_model, 1); }
END_TEST

Suite *suite_fuzz(void) {
    Suite *s = suite_create("fuzz");
    TCase *t = tcase_create("fuzz");
    tcase_add_test(t, llama2c_inputs);
    tcase_add_test(t, gguf_inputs);
    tcase_add_test(t, tokenizer_bin_inputs);
    tcase_add_test(t, safetensors_inputs);
    tcase_add_test(t, tokenizers_inputs);
    tcase_add_test(t, lmw_inputs);
    suite_add_tcase(s, t);
    return s;
}
