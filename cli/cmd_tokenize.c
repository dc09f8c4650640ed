/* cmd_tokenize.c: `lumi tokenize`, ids of a text, space-separated (or as
 * JSON with their pieces). The tokenizer is -z, or the one a model -m
 * carries or has beside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define USAGE "usage: lumi tokenize (-z TOKENIZER | -m MODEL) (-p TEXT | -f FILE) [--no-bos] [--special] [--pieces] [--json]"

/* Length of the valid UTF-8 sequence at p[0..n), or 0. */
static int utf8_len(const unsigned char *p, int n) {
    int k = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (k == 0 || k > n || (k == 2 && p[0] < 0xC2)) return 0;
    for (int i = 1; i < k; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return k;
}

/* A piece as a JSON string body (or a quoted text one): control bytes are
 * escaped, so any token prints on one line; a byte that is not part of
 * valid UTF-8 (half a character, split across tokens) prints as U+FFFD. */
static void put_escaped(const char *p, int n) {
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int k = c >= 0x80 ? utf8_len((const unsigned char *)p + i, n - i) : 1;
        if (k == 0) printf("\xef\xbf\xbd");
        else if (k > 1) {
            fwrite(p + i, 1, (size_t)k, stdout);
            i += k - 1;
        } else if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c == '\t') printf("\\t");
        else if (c == '\r') printf("\\r");
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
}

static int load_text(const char *text, const char *file, char **buf, size_t *len) {
    LumiErr e;
    if (text) {
        *len = strlen(text);
        *buf = lumi_xstrdup(text);
        return 0;
    }
    if (lumi_read_file(file, buf, len, &e) != 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *tok = NULL, *model = NULL, *text = NULL, *file = NULL;
    int bos = 1, pieces = 0, special = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-z") || !strcmp(a, "--tokenizer")) {
            if (!(tok = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(text = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--no-bos")) bos = 0;
        else if (!strcmp(a, "--special")) special = 1;
        else if (!strcmp(a, "--pieces")) pieces = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(USAGE);
            puts("  --special  <|eot_id|>, <s>, ... in the text are special tokens (default: plain text)");
            puts("  --pieces   print id:'piece' pairs; --json prints {\"ids\": [...], \"pieces\": [...]}");
            return LUMI_EXIT_OK;
        } else {
            cli_error("tokenize: unknown option '%s'", a);
            return LUMI_EXIT_BAD;
        }
    }
    if ((!tok && !model) || !text == !file) {
        cli_error(USAGE);
        return LUMI_EXIT_BAD;
    }
    LumiTokenizer t;
    LumiErr e;
    int found;
    if (lumi_tokenizer_for_model(model, tok, &t, &found, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    if (!found) {
        cli_error("no tokenizer embedded in or beside %s: give -z TOKENIZER", model);
        return LUMI_EXIT_BAD;
    }
    char *buf;
    size_t len;
    if (load_text(text, file, &buf, &len) != 0) {
        lumi_tokenizer_free(&t);
        return LUMI_EXIT_BAD;
    }
    int *ids, n;
    lumi_encode_n(&t, buf, len, (bos ? LUMI_ENC_BOS : 0) | (special ? LUMI_ENC_SPECIAL : 0), &ids, &n);
    if (json) printf("{\"tokenizer\": \"%s\", \"n\": %d, \"ids\": [", t.format, n);
    for (int i = 0; i < n && (json || !pieces); i++) printf("%s%d", i ? (json ? ", " : " ") : "", ids[i]);
    if (json) printf("], \"pieces\": [");
    for (int i = 0; (json || pieces) && i < n; i++) {
        int l;
        const char *p = lumi_decode_piece(&t, -1, ids[i], &l);
        if (json) printf("%s\"", i ? ", " : "");
        else printf("%s%d:'", i ? " " : "", ids[i]);
        put_escaped(p, l);
        putchar(json ? '"' : '\'');
    }
    printf(json ? "]}\n" : "\n");
    free(ids);
    free(buf);
    lumi_tokenizer_free(&t);
    return LUMI_EXIT_OK;
}
