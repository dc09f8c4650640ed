/* test_tokenizer_bpe.c: byte-level BPE (Llama 3, Qwen). Expected ids come
 * from two independent sources: tests/data/tok_vectors.tsv, written by an
 * independent implementation (transformers.js, tests/data/tok_peer.mjs, run
 * by hand) on the same tokenizer.json files; and Llama 3's tiktoken file,
 * loaded by a different code path (ranks, no merges list), which must give
 * the ids of its tokenizer.json on every text and on random bytes. */
#include <stdlib.h>
#include <string.h>

#include "../engine/tokenizer.h"
#include "helpers.h"

#define L3_DIR SHARED_MODELS "/llama3-tokenizer"
#define L3_TIK L3_DIR "/tokenizer.model"
#define L3_JSON L3_DIR "/tokenizer.json"
#define QW_JSON SHARED_MODELS "/qwen3-tokenizer/tokenizer.json"
#define VECTORS "tests/data/tok_vectors.tsv"

/* Loaded once for the whole case: the JSON files take ~0.4 s each. */
static LumiTokenizer l3tik, l3json, qwen;
static int have_l3, have_qw;

static void load_all(void) {
    LumiErr e;
    have_l3 = th_exists(L3_TIK) && th_exists(L3_JSON);
    have_qw = th_exists(QW_JSON);
    if (have_l3 && (lumi_tokenizer_load(L3_TIK, &l3tik, &e) != 0 || lumi_tokenizer_load(L3_JSON, &l3json, &e) != 0)) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    if (have_qw && lumi_tokenizer_load(QW_JSON, &qwen, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
}

static void free_all(void) {
    if (have_l3) {
        lumi_tokenizer_free(&l3tik);
        lumi_tokenizer_free(&l3json);
    }
    if (have_qw) lumi_tokenizer_free(&qwen);
}

static size_t unhex(const char *h, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        sscanf(h + i, "%2x", &v);
        out[k++] = (char)v;
    }
    return k;
}

/* Decodes ids[0..n) into a malloc'd buffer. */
static char *decode_all(const LumiTokenizer *t, const int *ids, int n, size_t *len) {
    size_t cap = 16, k = 0;
    char *out = malloc(cap);
    for (int i = 0; i < n; i++) {
        int l;
        const char *p = lumi_decode_piece(t, i ? ids[i - 1] : -1, ids[i], &l);
        while (k + (size_t)l + 1 > cap) out = realloc(out, cap *= 2);
        memcpy(out + k, p, (size_t)l);
        k += (size_t)l;
    }
    *len = k;
    return out;
}


/* tok_peer.mjs's mixText: random code points from many scripts and ASCII
 * snippets, from a 31-bit LCG; returns the UTF-8 length. */
static size_t mix_text(unsigned seed, int items, char *out) {
    static const char *snip[] = {" ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "123", "4567", " \n"};
    static const unsigned ranges[][2] = {{0x20, 0x7e},     {0xa0, 0x24f},   {0x370, 0x3ff},   {0x400, 0x4ff},
                                         {0x590, 0x5ff},   {0x600, 0x6ff},   {0x900, 0x97f},   {0xe00, 0xe7f},
                                         {0x3040, 0x30ff}, {0x4e00, 0x4fff}, {0xac00, 0xacff}, {0x1f300, 0x1f64f},
                                         {0x2000, 0x206f}, {0x300, 0x36f},   {0xff00, 0xffef}};
    uint64_t x = seed;
#define NEXT() (x = (x * 1103515245u + 12345u) & 0x7fffffffu)
    size_t k = 0;
    for (int i = 0; i < items; i++) {
        if (NEXT() % 100 < 15) {
            const char *p = snip[NEXT() % 10];
            memcpy(out + k, p, strlen(p));
            k += strlen(p);
            continue;
        }
        const unsigned *r = ranges[NEXT() % 15];
        unsigned cp = r[0] + (unsigned)(NEXT() % (r[1] - r[0] + 1));
        if (cp < 0x80) out[k++] = (char)cp;
        else if (cp < 0x800) {
            out[k++] = (char)(0xC0 | cp >> 6);
            out[k++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[k++] = (char)(0xE0 | cp >> 12);
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[k++] = (char)(0xF0 | cp >> 18);
            out[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
#undef NEXT
    return k;
}

/* A "<name>-mix" line: seed, items, id count and FNV-1a 64 of the ids. */
static void check_mix(const LumiTokenizer *t, const char *name, char *fields) {
    unsigned seed;
    int items, want_n;
    unsigned long long want_h;
    ck_assert(sscanf(fields, "%u %d %d %llx", &seed, &items, &want_n, &want_h) == 4);
    char *text = malloc((size_t)items * 4 + 1);
    size_t n = mix_text(seed, items, text);
    int *ids, k;
    lumi_encode_n(t, text, n, LUMI_ENC_SPECIAL, &ids, &k);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < k; i++)
        for (int b = 0; b < 4; b++) h = (h ^ (((uint32_t)ids[i] >> (8 * b)) & 0xff)) * 1099511628211ull;
    ck_assert_msg(k == want_n && h == want_h, "%s/%s: mix text seed %u: %d ids hash %016llx, peer %d ids %016llx", name,
                  t->format, seed, k, (unsigned long long)h, want_n, want_h);
    free(ids);
    free(text);
}

START_TEST(peer_vectors) {
    if (!have_l3 || !have_qw) {
        th_skip(__func__, SHARED_MODELS "/", "shared tokenizers not found");
        return;
    }
    FILE *f = fopen(VECTORS, "r");
    ck_assert_msg(f != NULL, "%s missing", VECTORS);
    char line[8192], text[4096];
    int cases = 0, want[1024];
    while (fgets(line, sizeof line, f)) {
        char *name = strtok(line, "\t"), *hex = strtok(NULL, "\t\n"), *ids = strtok(NULL, "\n");
        ck_assert(name && hex);
        if (strstr(name, "-mix")) {
            if (!strncmp(name, "qwen3", 5)) check_mix(&qwen, name, hex);
            else {
                check_mix(&l3json, name, hex);
                check_mix(&l3tik, name, hex);
            }
            continue;
        }
        size_t n = unhex(hex, strlen(hex), text);
        int nw = 0;
        for (char *s = ids ? strtok(ids, " ") : NULL; s; s = strtok(NULL, " ")) want[nw++] = atoi(s);
        const LumiTokenizer *ts[2] = {&l3json, &l3tik};
        int nt = 2;
        if (!strcmp(name, "qwen3")) ts[0] = &qwen, nt = 1;
        for (int j = 0; j < nt; j++) {
            int *got, ng;
            lumi_encode_n(ts[j], text, n, LUMI_ENC_SPECIAL, &got, &ng);
            int same = ng == nw;
            for (int i = 0; same && i < ng; i++) same = got[i] == want[i];
            if (!same) {
                fprintf(stderr, "%s (%s) '%.*s':\n got", name, ts[j]->format, (int)n, text);
                for (int i = 0; i < ng; i++) fprintf(stderr, " %d", got[i]);
                fprintf(stderr, "\nwant");
                for (int i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
                fprintf(stderr, "\n");
            }
            ck_assert_msg(same, "%s/%s: ids differ from the peer's on '%.*s'", name, ts[j]->format, (int)n, text);
            free(got);
        }
        cases++;
    }
    fclose(f);
    ck_assert_int_ge(cases, 40);
}
END_TEST

/* The tiktoken file's specials are Llama 3's, as tokenizer.json lists them. */
START_TEST(llama3_specials_agree) {
    if (!have_l3) {
        th_skip(__func__, L3_DIR, "%s not found", L3_DIR);
        return;
    }
    ck_assert_int_eq(l3tik.vocab_size, 128256);
    ck_assert_int_eq(l3json.vocab_size, 128256);
    for (int id = 0; id < 128256; id++) {
        ck_assert_int_eq(l3tik.len[id], l3json.len[id]);
        ck_assert_msg(!memcmp(l3tik.vocab[id], l3json.vocab[id], (size_t)l3tik.len[id]), "token %d differs", id);
    }
    ck_assert_int_eq(lumi_tokenizer_bos(&l3tik), 128000);
    ck_assert_int_eq(lumi_tokenizer_bos(&l3json), 128000);
    ck_assert_int_eq(lumi_token_special(&l3tik, "<|eot_id|>"), 128009);
    ck_assert_int_eq(lumi_token_special(&l3json, "<|start_header_id|>"), 128006);
    for (int k = 0; k < 2; k++) {
        int ids[16], n = lumi_tokenizer_stop_ids(k ? &l3json : &l3tik, ids, 16), eot = 0, eotext = 0;
        for (int i = 0; i < n; i++) {
            eot |= ids[i] == 128009;
            eotext |= ids[i] == 128001;
            ck_assert_msg(ids[i] >= 128000, "stop id %d is an ordinary token", ids[i]);
        }
        ck_assert(eot && eotext);
    }
}
END_TEST

/* Random bytes (invalid UTF-8 included): the two Llama 3 loaders agree, and
 * decoding gives the bytes back for both vocabularies. */
START_TEST(random_bytes_roundtrip) {
    if (!have_l3 || !have_qw) {
        th_skip(__func__, SHARED_MODELS "/", "shared tokenizers not found");
        return;
    }
    LumiRng r;
    lumi_rng_seed(&r, 9);
    char buf[600];
    for (int iter = 0; iter < 200; iter++) {
        size_t n = lumi_rng_u64(&r) % sizeof buf;
        int mode = iter % 3; /* raw bytes, ASCII-ish text, UTF-8 pieces */
        for (size_t i = 0; i < n; i++) {
            uint64_t v = lumi_rng_u64(&r);
            buf[i] = mode == 0 ? (char)v : mode == 1 ? " \n\r\tab1'<|>"[v % 12] : (char)(0x80 + v % 64);
            if (mode == 2 && v % 5 == 0) buf[i] = (char)(0xE0 + v % 16);
        }
        const LumiTokenizer *ts[3] = {&l3tik, &l3json, &qwen};
        int *first = NULL, nfirst = 0;
        for (int j = 0; j < 3; j++) {
            int *ids, k;
            lumi_encode_n(ts[j], buf, n, 0, &ids, &k);
            size_t len;
            char *back = decode_all(ts[j], ids, k, &len), *nfc = NULL;
            /* Qwen's normalizer is NFC: its round trip gives NFC(x) */
            size_t nn = lumi_tokenizer_normalize(ts[j], buf, n, &nfc);
            const char *want = nfc ? nfc : buf;
            ck_assert_msg(len == nn && !memcmp(back, want, nn), "%s: decode(encode(x)) != x (iteration %d)", ts[j]->path, iter);
            free(back);
            free(nfc);
            if (j == 0) first = ids, nfirst = k;
            else {
                if (j == 1) {
                    ck_assert_int_eq(k, nfirst);
                    ck_assert(!memcmp(ids, first, (size_t)k * sizeof(int)));
                }
                free(ids);
            }
        }
        free(first);
    }
}
END_TEST

/* Special tokens are text unless asked for. */
START_TEST(specials_only_when_asked) {
    if (!have_l3 || !have_qw) {
        th_skip(__func__, SHARED_MODELS "/", "shared tokenizers not found");
        return;
    }
    const char *s = "a<|eot_id|>b<|im_end|>";
    const LumiTokenizer *ts[2] = {&l3tik, &qwen};
    for (int j = 0; j < 2; j++) {
        int *ids, n;
        lumi_encode_n(ts[j], s, strlen(s), 0, &ids, &n);
        for (int i = 0; i < n; i++) ck_assert_msg(ids[i] != 128009 && ids[i] != 151645, "special id from plain text");
        free(ids);
        lumi_encode_n(ts[j], s, strlen(s), LUMI_ENC_SPECIAL, &ids, &n);
        int found = 0;
        for (int i = 0; i < n; i++) found |= ids[i] == (j ? 151645 : 128009);
        ck_assert(found);
        free(ids);
    }
    /* Qwen: no BOS, ends at <|im_end|> and <|endoftext|> */
    ck_assert_int_eq(lumi_tokenizer_bos(&qwen), -1);
    int ids[16], n = lumi_tokenizer_stop_ids(&qwen, ids, 16), im_end = 0, eot = 0;
    for (int i = 0; i < n; i++) {
        im_end |= ids[i] == 151645;
        eot |= ids[i] == 151643;
    }
    ck_assert(im_end && eot);
    int *bos, nb;
    lumi_encode(&qwen, "hi", 1, 0, &bos, &nb);
    ck_assert_int_eq(nb, 1); /* asking for BOS adds none where there is none */
    free(bos);
    /* an id past the vocabulary is visible */
    int len;
    const char *p = lumi_decode_piece(&qwen, -1, 151900, &len);
    ck_assert_int_eq(len, (int)strlen("<id 151900>"));
    ck_assert(!memcmp(p, "<id 151900>", (size_t)len));
}
END_TEST

Suite *suite_tokenizer_bpe(void) {
    Suite *s = suite_create("tokenizer_bpe");
    TCase *tc = tcase_create("bpe");
    tcase_add_unchecked_fixture(tc, load_all, free_all);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, peer_vectors);
    tcase_add_test(tc, llama3_specials_agree);
    tcase_add_test(tc, random_bytes_roundtrip);
    tcase_add_test(tc, specials_only_when_asked);
    suite_add_tcase(s, tc);
    return s;
}
