/* cmd_tokenize.c: `lumi tokenize`, ids of a text, space-separated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    const char *tok = NULL, *text = NULL;
    int bos = 1, pieces = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-z") || !strcmp(a, "--tokenizer")) {
            if (!(tok = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(text = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--no-bos")) bos = 0;
        else if (!strcmp(a, "--pieces")) pieces = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lumi tokenize -z TOKENIZER -p TEXT [--no-bos] [--pieces]");
            return LUMI_EXIT_OK;
        } else {
            cli_error("tokenize: unknown option '%s'", a);
            return LUMI_EXIT_BAD;
        }
    }
    if (!tok || !text) {
        cli_error("usage: lumi tokenize -z TOKENIZER -p TEXT [--no-bos] [--pieces]");
        return LUMI_EXIT_BAD;
    }
    LumiTokenizer t;
    LumiErr e;
    if (lumi_tokenizer_load(tok, &t, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    int *ids, n;
    lumi_encode(&t, text, bos, 0, &ids, &n);
    for (int i = 0; i < n; i++) {
        if (pieces) printf("%s%d:'%s'", i ? " " : "", ids[i], t.vocab[ids[i]]);
        else printf("%s%d", i ? " " : "", ids[i]);
    }
    printf("\n");
    free(ids);
    lumi_tokenizer_free(&t);
    return LUMI_EXIT_OK;
}
