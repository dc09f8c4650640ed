/* test_tokenizer.c: Llama 2 tokenizer ids from SOURCES.md, round trips on
 * the shipped tokenizer, byte fallback and decoding. */
#include <stdlib.h>
#include <string.h>

#include "../engine/tokenizer.h"
#include "helpers.h"

#define LLAMA2_TOK SHARED_MODELS "/tokenizer.bin"

static void expect_ids(const LumiTokenizer *t, const char *text, const int *want, int n_want) {
    int *ids, n;
    lumi_encode(t, text, 1, 0, &ids, &n);
    ck_assert_msg(n == n_want, "'%s': %d ids, want %d", text, n, n_want);
    for (int i = 0; i < n; i++) ck_assert_msg(ids[i] == want[i], "'%s': id[%d] = %d, want %d", text, i, ids[i], want[i]);
    free(ids);
}

START_TEST(llama2_ids) {
    SKIP_UNLESS_FILE(LLAMA2_TOK);
    LumiTokenizer t;
    LumiErr e;
    ck_assert_msg(lumi_tokenizer_load(LLAMA2_TOK, &t, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(t.vocab_size, 32000);
    static const int a[] = {1};
    static const int b[] = {1, 306, 4658, 278, 6593, 310, 2834, 338};
    static const int c[] = {1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871};
    static const int d[] = {1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13,
                            4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871};
    static const int f[] = {1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449, 276,
                            316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318, 13, 4706,
                            715, 1878, 330, 3055, 1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149};
    expect_ids(&t, "", a, 1);
    expect_ids(&t, "I believe the meaning of life is", b, 8);
    expect_ids(&t, "Simply put, the theory of relativity states that ", c, 13);
    expect_ids(&t, "A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ", d,
               26);
    expect_ids(&t,
               "Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe "
               "poivrée\n        plush girafe => girafe peluche\n        cheese =>",
               f, 50);
    lumi_tokenizer_free(&t);
}
END_TEST

/* Decoding the encoding gives the text back (after the dummy prefix). */
static void roundtrip(const LumiTokenizer *t, const char *text) {
    int *ids, n;
    lumi_encode(t, text, 1, 0, &ids, &n);
    char out[1024];
    size_t k = 0;
    for (int i = 1; i < n; i++) {
        int len;
        const char *p = lumi_decode_piece(t, ids[i - 1], ids[i], &len);
        ck_assert(k + (size_t)len < sizeof out);
        memcpy(out + k, p, (size_t)len);
        k += (size_t)len;
    }
    out[k] = 0;
    ck_assert_msg(strcmp(out, text) == 0, "round trip: '%s' -> '%s'", text, out);
    free(ids);
}

START_TEST(shipped_roundtrip) {
    LumiTokenizer t;
    LumiErr e;
    ck_assert_msg(lumi_tokenizer_load(DEFAULT_TOKENIZER, &t, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(t.vocab_size, 512);
    roundtrip(&t, "In the beginning God created the heaven and the earth.");
    roundtrip(&t, "And the LORD said unto Moses,\n\tWhy?");
    roundtrip(&t, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x99\x82 end"); /* byte fallback for é, ✓, 🙂 */
    lumi_tokenizer_free(&t);
}
END_TEST

START_TEST(byte_fallback_ids) {
    LumiTokenizer t;
    LumiErr e;
    ck_assert(lumi_tokenizer_load(DEFAULT_TOKENIZER, &t, &e) == 0);
    int *ids, n;
    lumi_encode(&t, "\xe2\x9c\x93", 0, 0, &ids, &n); /* U+2713 is not in a 512-token vocab */
    /* dummy prefix, then three byte tokens 3 + byte */
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ids[1], 3 + 0xe2);
    ck_assert_int_eq(ids[2], 3 + 0x9c);
    ck_assert_int_eq(ids[3], 3 + 0x93);
    int len;
    const char *p = lumi_decode_piece(&t, ids[1], ids[2], &len);
    ck_assert_int_eq(len, 1);
    ck_assert_int_eq((unsigned char)p[0], 0x9c);
    free(ids);
    lumi_encode(&t, "x", 1, 1, &ids, &n);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[n - 1], 2);
    free(ids);
    lumi_tokenizer_free(&t);
}
END_TEST

START_TEST(rejects_bad_files) {
    LumiTokenizer t;
    LumiErr e;
    const char *p = th_path("tok_trunc.bin");
    FILE *f = fopen(p, "wb");
    int32_t maxlen = 8, len = 5;
    float score = 0;
    fwrite(&maxlen, 4, 1, f);
    fwrite(&score, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite("ab", 1, 2, f); /* claims 5 bytes, has 2 */
    fclose(f);
    ck_assert_int_eq(lumi_tokenizer_load(p, &t, &e), -1);
    ck_assert_msg(strstr(e.msg, "truncated") && strstr(e.msg, p), "%s", e.msg);
    ck_assert_int_eq(lumi_tokenizer_load(th_path("missing.bin"), &t, &e), -1);
}
END_TEST

Suite *suite_tokenizer(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("encode");
    tcase_add_test(tc, llama2_ids);
    tcase_add_test(tc, shipped_roundtrip);
    tcase_add_test(tc, byte_fallback_ids);
    tcase_add_test(tc, rejects_bad_files);
    suite_add_tcase(s, tc);
    return s;
}
