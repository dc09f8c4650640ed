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
    /* <s> and </s> in text: plain text, or BOS/EOS with LUMI_ENC_SPECIAL */
    const char *s = "<s>x</s>";
    lumi_encode_n(&t, s, strlen(s), 0, &ids, &n);
    for (int i = 0; i < n; i++) ck_assert_msg(ids[i] != 1 && ids[i] != 2, "special id %d from plain text", ids[i]);
    free(ids);
    lumi_encode_n(&t, s, strlen(s), LUMI_ENC_SPECIAL, &ids, &n);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[n - 1], 2);
    const char *piece = lumi_decode_piece(&t, 0, ids[1], &len);
    ck_assert_msg(len >= 1 && piece[0] == ' ', "no dummy prefix after <s>"); /* as llama.cpp */
    free(ids);
    ck_assert_int_eq(lumi_token_special(&t, "</s>"), 2);
    ck_assert_int_eq(lumi_token_special(&t, "<|eot_id|>"), -1);
    int stop[4];
    ck_assert_int_eq(lumi_tokenizer_stop_ids(&t, stop, 4), 1);
    ck_assert_int_eq(stop[0], 2);
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


/* The quadratic reference: merge the best-scoring (then leftmost) pair,
 * rescanning everything after each merge, as sentencepiece describes it.
 * The heap merger must give exactly its ids. */
static int ref_encode(const LumiTokenizer *t, const char *text, int *ids) {
    int k = 0;
    size_t n = strlen(text);
    if (n) ids[k++] = lumi_token_lookup(t, " ");
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && (text[j] & 0xC0) == 0x80 && j - i < 4) j++;
        char cp[8] = {0};
        memcpy(cp, text + i, j - i);
        int id = lumi_token_lookup(t, cp);
        if (id >= 0 && t->type[id] == LUMI_PIECE_NORMAL) ids[k++] = id;
        else
            for (size_t b = i; b < j; b++) ids[k++] = t->byte_id[(unsigned char)text[b]];
        i = j;
    }
    for (;;) {
        float best = -1e30f;
        int bi = -1, bid = -1;
        char buf[256];
        for (int a = 0; a + 1 < k; a++) {
            int la = t->len[ids[a]], lb = t->len[ids[a + 1]];
            if (la + lb >= (int)sizeof buf || t->type[ids[a]] != LUMI_PIECE_NORMAL || t->type[ids[a + 1]] != LUMI_PIECE_NORMAL)
                continue; /* byte-fallback symbols never merge */
            memcpy(buf, t->vocab[ids[a]], (size_t)la);
            memcpy(buf + la, t->vocab[ids[a + 1]], (size_t)lb);
            buf[la + lb] = 0;
            int id = lumi_token_lookup(t, buf);
            if (id >= 0 && t->type[id] == LUMI_PIECE_NORMAL && t->scores[id] > best) best = t->scores[id], bi = a, bid = id;
        }
        if (bi < 0) return k;
        ids[bi] = bid;
        memmove(ids + bi + 1, ids + bi + 2, (size_t)(k - bi - 2) * sizeof(int));
        k--;
    }
}

static const char *varied[] = {
    "In the beginning God created the heaven and the earth.",
    "  leading spaces and   runs of    spaces  ",
    "line one\nline two\r\nline three\r\n\r\n\n\ttab",
    "digits 1 12 123 1234 12345 3.14159 1,000,000",
    "contractions: I'm you're he's don't CAN'T",
    "caf\xc3\xa9 na\xc3\xafve \xd1\x80\xd1\x83\xd1\x81 \xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    "emoji \xf0\x9f\x98\x80 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb \xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
    "look-alikes: <s> </s> <unk> <0x41> <|eot_id|> \xe2\x96\x81x",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "",
};

static void same_ids(const LumiTokenizer *a, const LumiTokenizer *b, const char *text) {
    int *ia, na, *ib, nb;
    lumi_encode(a, text, 1, 0, &ia, &na);
    lumi_encode(b, text, 1, 0, &ib, &nb);
    ck_assert_msg(na == nb, "'%s': %s gives %d ids, %s %d", text, a->path, na, b->path, nb);
    for (int i = 0; i < na; i++) ck_assert_msg(ia[i] == ib[i], "'%s': id[%d] %d vs %d", text, i, ia[i], ib[i]);
    free(ia);
    free(ib);
}

/* sentencepiece's protobuf and llama2.c's export of the same tokenizer give
 * the same ids; the heap merger gives the quadratic reference's ids. */
START_TEST(spm_model_matches_bin) {
    static const char *pairs[][2] = {{SHARED_MODELS "/tokenizer.model", SHARED_MODELS "/tokenizer.bin"},
                                     {SHARED_MODELS "/kjv512.model", SHARED_MODELS "/kjv512.bin"}};
    for (int p = 0; p < 2; p++) {
        SKIP_UNLESS_FILE(pairs[p][0]);
        SKIP_UNLESS_FILE(pairs[p][1]);
        LumiTokenizer a, b;
        LumiErr e;
        ck_assert_msg(lumi_tokenizer_load(pairs[p][0], &a, &e) == 0, "%s", e.msg);
        ck_assert_msg(lumi_tokenizer_load(pairs[p][1], &b, &e) == 0, "%s", e.msg);
        ck_assert_str_eq(a.format, "sentencepiece");
        ck_assert_int_eq(a.vocab_size, b.vocab_size);
        ck_assert_int_eq(lumi_tokenizer_bos(&a), 1);
        ck_assert_int_eq(a.eos_id, 2);
        ck_assert_int_eq(a.unk_id, 0);
        for (size_t i = 0; i < sizeof varied / sizeof varied[0]; i++) {
            same_ids(&a, &b, varied[i]);
            int *ids, n, ref[512];
            lumi_encode(&a, varied[i], 0, 0, &ids, &n);
            int nr = ref_encode(&a, varied[i], ref);
            ck_assert_msg(n == nr, "'%s': %d ids, reference %d", varied[i], n, nr);
            for (int j = 0; j < n; j++) ck_assert_int_eq(ids[j], ref[j]);
            free(ids);
        }
        /* random printable and UTF-8 text */
        LumiRng r;
        lumi_rng_seed(&r, 7);
        static const char *alpha[] = {"a", "e", "t", "h", " ", " ", "\n", "I", "'", "1", "\xc3\xa9", "\xe4\xbd\xa0", "\xf0\x9f\x98\x80", "<", "s", ">"};
        for (int it = 0; it < 40; it++) {
            char text[400] = {0};
            size_t k = 0;
            int len = (int)(lumi_rng_u64(&r) % 80);
            for (int i = 0; i < len; i++) {
                const char *c = alpha[lumi_rng_u64(&r) % 16];
                memcpy(text + k, c, strlen(c));
                k += strlen(c);
            }
            same_ids(&a, &b, text);
            int *ids, n, ref[512];
            lumi_encode(&b, text, 0, 0, &ids, &n);
            int nr = ref_encode(&b, text, ref);
            ck_assert_int_eq(n, nr);
            for (int j = 0; j < n; j++) ck_assert_int_eq(ids[j], ref[j]);
            free(ids);
        }
        lumi_tokenizer_free(&a);
        lumi_tokenizer_free(&b);
    }
}
END_TEST

/* A large input encodes (no timing here: lumi bench-tokenizer measures). */
START_TEST(large_input) {
    LumiTokenizer t;
    LumiErr e;
    ck_assert(lumi_tokenizer_load(DEFAULT_TOKENIZER, &t, &e) == 0);
    size_t n = 300000;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = "And God said, Let there be light: and there was light. "[i % 55];
    s[n] = 0;
    int *ids, k;
    lumi_encode(&t, s, 1, 0, &ids, &k);
    ck_assert_int_gt(k, 1000);
    ck_assert_int_lt(k, (int)n / 2);
    free(ids);
    free(s);
    lumi_tokenizer_free(&t);
}
END_TEST

Suite *suite_tokenizer(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("encode");
    tcase_add_test(tc, llama2_ids);
    tcase_add_test(tc, shipped_roundtrip);
    tcase_add_test(tc, byte_fallback_ids);
    tcase_add_test(tc, rejects_bad_files);
    tcase_add_test(tc, spm_model_matches_bin);
    tcase_add_test(tc, large_input);
    suite_add_tcase(s, tc);
    return s;
}
