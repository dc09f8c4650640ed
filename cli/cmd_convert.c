/* cmd_convert.c: `lumi convert IN OUT`, any loadable model written in
 * another format, chosen by OUT: a .gguf or .lmw file, or with --hf a
 * Hugging Face folder. Writers take the model as loaded, so every reader
 * composes with every writer. To add a format, add its extension to
 * WRITERS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dtype.h"
#include "../engine/gguf_write.h"
#include "../engine/hf_write.h"
#include "../engine/lmw.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi convert IN OUT.gguf [--dtype f32|f16|bf16|q8_0] [--tokenizer FILE]\n"
    "       lumi convert IN OUT.lmw [--dtype f32|bf16] [--name NAME] [--tokenizer FILE]\n"
    "       lumi convert IN OUT_DIR --hf [--dtype f32|bf16] [--shards N]\n"
    "  IN is any model lumi loads (llama2.c .bin, GGUF, Hugging Face folder or index, .lmw).\n"
    "  .gguf: the matrices and the token embedding in --dtype (default f32), converted as\n"
    "  `--path weights=DTYPE` would hold them, norms f32; the tokenizer embedded is --tokenizer FILE,\n"
    "  else IN's own (embedded, or beside its config.json).\n"
    "  .lmw embeds the tokenizer file given with --tokenizer (none otherwise).\n";

typedef struct {
    LumiDType dtype;
    const char *name, *tokenizer;
    int shards;
} Opts;

/* .lmw and Hugging Face folders store f32 or bf16 tensors */
static int f32_or_bf16(const Opts *o, const char *what, LumiErr *e) {
    if (o->dtype == LUMI_F32 || o->dtype == LUMI_BF16) return 0;
    return lumi_err(e, "--dtype: %s holds f32 or bf16 tensors, not %s", what, lumi_dtype_name(o->dtype));
}

static int write_gguf(const LumiModel *m, const char *out, const Opts *o, LumiErr *e) {
    LumiTokenizer t;
    int have_tok = 0;
    LumiErr ignored; /* IN without a tokenizer of its own: write none */
    if (lumi_tokenizer_for_model(m->path, o->tokenizer, &t, &have_tok, o->tokenizer ? e : &ignored) != 0) {
        if (o->tokenizer) return -1;
        have_tok = 0;
    }
    int rc = lumi_gguf_write_model(out, m, have_tok ? &t : NULL, o->dtype, e);
    if (have_tok) lumi_tokenizer_free(&t);
    return rc;
}

static int write_lmw(const LumiModel *m, const char *out, const Opts *o, LumiErr *e) {
    if (f32_or_bf16(o, ".lmw", e) != 0) return -1;
    char *blob = NULL;
    size_t len = 0;
    if (o->tokenizer && lumi_read_file(o->tokenizer, &blob, &len, e) != 0) return -1;
    LumiLmwWriteOpts w = {o->name, blob, len, o->dtype};
    int rc = lumi_lmw_write(m, out, &w, e);
    free(blob);
    return rc;
}

static int write_hf(const LumiModel *m, const char *out, const Opts *o, LumiErr *e) {
    if (f32_or_bf16(o, "a Hugging Face folder", e) != 0) return -1;
    LumiHfWriteOpts w = {LUMI_HF_LLAMA, o->dtype, o->shards};
    return lumi_hf_write(m, out, &w, e);
}

static const struct {
    const char *ext; /* NULL: --hf */
    int (*write)(const LumiModel *, const char *, const Opts *, LumiErr *);
} WRITERS[] = {{".gguf", write_gguf}, {".lmw", write_lmw}, {NULL, write_hf}};

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int cmd_convert(int argc, char **argv) {
    Opts o = {LUMI_F32, NULL, NULL, 1};
    const char *pos[2] = {NULL, NULL};
    int npos = 0, hf = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!strcmp(a, "--hf")) {
            hf = 1;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            int t = lumi_dtype_parse(v);
            if (t < 0) return cli_error("--dtype: '%s' is not f32, f16, bf16 or q8_0", v), LUMI_EXIT_BAD;
            o.dtype = (LumiDType)t;
        } else if (!strcmp(a, "--name")) {
            if (!(o.name = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--tokenizer") || !strcmp(a, "-z")) {
            if (!(o.tokenizer = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--shards")) {
            long n;
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_int(v, 1, 4096, &n)) return cli_error("--shards: '%s' is not in [1, 4096]", v), LUMI_EXIT_BAD;
            o.shards = (int)n;
        } else if (a[0] == '-' || npos == 2) {
            cli_error("convert: unexpected argument '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        } else {
            pos[npos++] = a;
        }
    }
    if (npos != 2) {
        cli_error("convert: need IN and OUT");
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    int w = -1;
    for (size_t k = 0; k < sizeof WRITERS / sizeof WRITERS[0] && w < 0; k++)
        if (WRITERS[k].ext ? ends_with(pos[1], WRITERS[k].ext) : hf) w = (int)k;
    if (w < 0) {
        cli_error("convert: %s: unknown output format (OUT.gguf, OUT.lmw, or a folder with --hf)", pos[1]);
        return LUMI_EXIT_BAD;
    }
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(pos[0], &m, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    int rc = WRITERS[w].write(&m, pos[1], &o, &e);
    lumi_model_free(&m);
    if (rc != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    fprintf(stderr, "wrote %s\n", pos[1]);
    return LUMI_EXIT_OK;
}
