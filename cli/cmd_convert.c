/* cmd_convert.c: `lumi convert IN OUT.gguf`, any loadable model written as
 * GGUF v3 (engine/gguf_write.h) with its matrices in one dtype. Minimal on
 * purpose: another branch adds .lmw and Hugging Face writers to this
 * command; the GGUF writer is write_gguf() below, one row of its table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dtype.h"
#include "../engine/gguf_write.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi convert IN OUT.gguf [--dtype f32|f16|bf16|q8_0] [--tokenizer FILE]\n"
    "  IN is any model lumi loads. The matrices and the token embedding are written in --dtype\n"
    "  (default f32), converted as `--path weights=DTYPE` would hold them; norms stay f32.\n"
    "  The tokenizer embedded is --tokenizer FILE, else IN's own when IN is a GGUF that has one.\n";

typedef struct {
    LumiDType dtype;
    const char *tokenizer;
} Opts;

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int write_gguf(const LumiModel *m, const char *out, const Opts *o, LumiErr *e) {
    LumiTokenizer t;
    int have_tok = 0;
    if (o->tokenizer) {
        if (lumi_tokenizer_load(o->tokenizer, &t, e) != 0) return -1;
        have_tok = 1;
    } else {
        LumiErr ignored; /* IN without an embedded tokenizer: write none */
        have_tok = lumi_tokenizer_load(m->path, &t, &ignored) == 0;
    }
    int rc = lumi_gguf_write_model(out, m, have_tok ? &t : NULL, o->dtype, e);
    if (have_tok) lumi_tokenizer_free(&t);
    return rc;
}

int cmd_convert(int argc, char **argv) {
    Opts o = {LUMI_F32, NULL};
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            int t = lumi_dtype_parse(v);
            if (t < 0) return cli_error("--dtype: '%s' is not f32, f16, bf16 or q8_0", v), LUMI_EXIT_BAD;
            o.dtype = (LumiDType)t;
        } else if (!strcmp(a, "--tokenizer") || !strcmp(a, "-z")) {
            if (!(o.tokenizer = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (a[0] == '-' || npos == 2) {
            cli_error("convert: unexpected argument '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        } else {
            pos[npos++] = a;
        }
    }
    if (npos != 2) {
        cli_error("convert: needs IN and OUT");
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    if (!ends_with(pos[1], ".gguf")) {
        cli_error("convert: %s: the output format is chosen by its extension (.gguf)", pos[1]);
        return LUMI_EXIT_BAD;
    }
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(pos[0], &m, &e) != 0) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
    int rc = write_gguf(&m, pos[1], &o, &e);
    lumi_model_free(&m);
    if (rc != 0) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
    fprintf(stderr, "wrote %s (%s)\n", pos[1], lumi_dtype_name(o.dtype));
    return LUMI_EXIT_OK;
}
