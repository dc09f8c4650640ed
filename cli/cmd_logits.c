/* cmd_logits.c: `lumi logits`, the fp32 logits of every prompt position as
 * a [n_tokens, vocab] .npy file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/npy.h"
#include "../paths/session.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi logits -m MODEL [-z TOKENIZER] (-p TEXT | --ids 1,2,3) -o OUT.npy\n"
    "                   [--path backend=..,cache=..,prefill=..] [--no-bos]\n";

int cmd_logits(int argc, char **argv) {
    LumiPromptOpts o = {0};
    lumi_path_default(&o.path);
    for (int i = 1; i < argc; i++) {
        int r = cli_prompt_opt(&o, argc, argv, &i);
        if (r < 0) return LUMI_EXIT_BAD;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        }
        cli_error("logits: unknown option '%s'", argv[i]);
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    if (!o.out) {
        cli_error("logits: missing -o OUT.npy");
        return LUMI_EXIT_BAD;
    }
    LumiModel m;
    LumiTokenizer t;
    int have_tok, *ids, n;
    if (cli_load(&o, &m, &t, &have_tok, &ids, &n) != 0) return LUMI_EXIT_BAD;
    int rc = LUMI_EXIT_BAD;
    LumiErr e;
    LumiSession s;
    float *logits = lumi_xmalloc((size_t)n * (size_t)m.cfg.vocab_size * sizeof(float));
    if (lumi_session_open_for(&s, &m, &o.path, n, &e) != 0) { /* sized by the prompt, not the claimed context */
        cli_error("%s", e.msg);
        goto out;
    }
    if (lumi_session_feed(&s, ids, n, logits, &e) != 0 ||
        lumi_npy_write(o.out, logits, (size_t)n, (size_t)m.cfg.vocab_size, &e) != 0)
        cli_error("%s", e.msg);
    else {
        fprintf(stderr, "wrote %s: [%d, %d] float32\n", o.out, n, m.cfg.vocab_size);
        rc = LUMI_EXIT_OK;
    }
    lumi_session_close(&s);
out:
    free(logits);
    free(ids);
    if (have_tok) lumi_tokenizer_free(&t);
    lumi_model_free(&m);
    return rc;
}
