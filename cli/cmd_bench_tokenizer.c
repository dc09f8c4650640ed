/* cmd_bench_tokenizer.c: `lumi bench-tokenizer`: encoding speed of each
 * tokenizer on the same English text (README.md repeated to --bytes,
 * 1 MB by default, or --text FILE), with load time and a decode check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define USAGE "usage: lumi bench-tokenizer [-z TOKENIZER]... [--text FILE] [--bytes N] [--json]"

static const char *defaults[] = {
    "models/kjv512.bin",
    "../shared/models/tokenizer.bin",
    "../shared/models/tokenizer.model",
    "../shared/models/llama-2-tiny-random.gguf",
    "../shared/models/llama3-tokenizer/tokenizer.model",
    "../shared/models/llama3-tokenizer/tokenizer.json",
    "../shared/models/qwen3-tokenizer/tokenizer.json",
};

/* The text repeated up to *n bytes, not ending inside a UTF-8 character
 * (*n is updated; the text may hold any bytes, NUL included). */
static char *fill(const char *src, size_t len, size_t *n) {
    char *s = lumi_xmalloc(*n + 1);
    for (size_t i = 0; i < *n; i++) s[i] = src[i % len];
    while (*n > 0 && ((unsigned char)src[*n % len] & 0xC0) == 0x80) --*n; /* the next byte continues one */
    s[*n] = 0;
    return s;
}

static int bench_one(const char *path, const char *text, size_t n, int json, int first) {
    LumiTokenizer t;
    LumiErr e;
    double t0 = lumi_now();
    if (lumi_tokenizer_load(path, &t, &e) != 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    double t1 = lumi_now();
    int *ids, k;
    lumi_encode_n(&t, text, n, 0, &ids, &k);
    double t2 = lumi_now();
    /* decode check: byte-level BPE gives the bytes back exactly (after the
     * tokenizer's normalizer); SPM after its dummy-prefix space */
    char *norm;
    size_t off = 0, nn = lumi_tokenizer_normalize(&t, text, n, &norm);
    const char *want = norm ? norm : text;
    int ok = 1;
    for (int i = 0; i < k && ok; i++) {
        int len;
        const char *p = lumi_decode_piece(&t, i ? ids[i - 1] : -1, ids[i], &len);
        if (i == 0 && t.kind == LUMI_TOK_SPM && t.add_dummy_prefix && len > 0 && p[0] == ' ') p++, len--;
        ok = off + (size_t)len <= nn && !memcmp(want + off, p, (size_t)len);
        off += (size_t)len;
    }
    ok = ok && off == nn;
    free(norm);
    double enc = t2 - t1;
    if (json)
        printf("%s{\"tokenizer\": \"%s\", \"format\": \"%s\", \"vocab\": %d, \"bytes\": %zu, \"tokens\": %d, "
               "\"load_s\": %.4f, \"encode_s\": %.4f, \"mb_per_s\": %.2f, \"roundtrip\": %s}",
               first ? "" : ",\n ", path, t.format, t.vocab_size, n, k, t1 - t0, enc, n / 1e6 / enc, ok ? "true" : "false");
    else
        printf("%-52s %-14s %7d %9d %8.3f %8.3f %8.2f %s\n", path, t.format, t.vocab_size, k, t1 - t0, enc, n / 1e6 / enc,
               ok ? "ok" : "DIFFERS");
    free(ids);
    lumi_tokenizer_free(&t);
    return ok ? 0 : 1;
}

int cmd_bench_tokenizer(int argc, char **argv) {
    const char *toks[32], *text_path = "README.md";
    int n_toks = 0, json = 0;
    long bytes = 1000000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-z") || !strcmp(a, "--tokenizer")) {
            if (n_toks == 32 || !(toks[n_toks++] = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--text")) {
            if (!(text_path = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--bytes")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v || lumi_parse_int(v, 1, 1L << 30, &bytes) != 0) {
                cli_error("--bytes: needs a count in [1, 2^30]");
                return LUMI_EXIT_BAD;
            }
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(USAGE);
            puts("  without -z: the shipped tokenizer and those in ../shared/models that exist");
            return LUMI_EXIT_OK;
        } else {
            cli_error("bench-tokenizer: unknown option '%s'", a);
            return LUMI_EXIT_BAD;
        }
    }
    if (n_toks == 0)
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
            FILE *f = fopen(defaults[i], "rb");
            if (f) fclose(f), toks[n_toks++] = defaults[i];
        }
    char *src;
    size_t len;
    LumiErr e;
    if (lumi_read_file(text_path, &src, &len, &e) != 0 || len == 0) {
        cli_error("%s", len == 0 ? "--text: the file is empty" : e.msg);
        return LUMI_EXIT_BAD;
    }
    size_t n = (size_t)bytes;
    char *text = fill(src, len, &n);
    free(src);
    if (json) printf("[");
    else
        printf("%zu bytes of %s\n%-52s %-14s %7s %9s %8s %8s %8s %s\n", n, text_path, "tokenizer", "format", "vocab", "tokens",
               "load_s", "encode_s", "MB/s", "decode");
    int rc = 0;
    for (int i = 0; i < n_toks; i++) {
        int r = bench_one(toks[i], text, n, json, i == 0);
        if (r < 0) rc = LUMI_EXIT_BAD;
        else if (r > 0 && rc == 0) rc = LUMI_EXIT_CHECK;
    }
    if (json) printf("]\n");
    free(text);
    return rc;
}
