/* common.c: option handling shared by the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lumi: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_error("%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_prompt_opt(LumiPromptOpts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char **slot = NULL;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) slot = &o->model;
    else if (!strcmp(a, "-z") || !strcmp(a, "--tokenizer")) slot = &o->tokenizer;
    else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) slot = &o->prompt;
    else if (!strcmp(a, "--ids")) slot = &o->ids;
    else if (!strcmp(a, "-o") || !strcmp(a, "--out")) slot = &o->out;
    else if (!strcmp(a, "--no-bos")) {
        o->no_bos = 1;
        return 1;
    } else if (!strcmp(a, "--allow-swap")) { /* weights larger than memory: run anyway */
        o->path.allow_swap = 1;
        return 1;
    } else if (!strcmp(a, "--path")) {
        const char *v = cli_value(argc, argv, i);
        LumiErr e;
        if (!v) return -1;
        if (lumi_path_parse(v, &o->path, &e) != 0) {
            cli_error("--path: %s", e.msg);
            return -1;
        }
        return 1;
    } else if (!strcmp(a, "--threads")) {
        const char *v = cli_value(argc, argv, i);
        LumiErr e;
        if (!v) return -1;
        if (lumi_path_set(&o->path, "threads", v, &e) != 0) {
            cli_error("--threads: %s", e.msg);
            return -1;
        }
        return 1;
    }
    if (!slot) return 0;
    *slot = cli_value(argc, argv, i);
    return *slot ? 1 : -1;
}

int cli_load(const LumiPromptOpts *o, LumiModel *m, LumiTokenizer *t, int *have_tok, int **ids, int *n) {
    LumiErr e;
    *have_tok = 0;
    if (!o->model) {
        cli_error("missing -m MODEL");
        return -1;
    }
    if (!o->prompt == !o->ids) {
        cli_error("give exactly one of -p TEXT or --ids 1,2,3");
        return -1;
    }
    if (o->prompt && !o->tokenizer) {
        cli_error("-p needs a tokenizer: -z TOKENIZER");
        return -1;
    }
    if (lumi_model_load(o->model, m, &e) != 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    if (o->tokenizer) {
        if (lumi_tokenizer_load(o->tokenizer, t, &e) != 0) {
            cli_error("%s", e.msg);
            lumi_model_free(m);
            return -1;
        }
        *have_tok = 1;
        if (t->vocab_size > m->cfg.vocab_size)
            fprintf(stderr, "lumi: warning: tokenizer %s has %d tokens, model %s only %d\n", o->tokenizer,
                    t->vocab_size, o->model, m->cfg.vocab_size);
    }
    if (o->prompt) {
        lumi_encode(t, o->prompt, !o->no_bos, 0, ids, n);
    } else if (lumi_parse_ids(o->ids, ids, n, &e) != 0) {
        cli_error("%s", e.msg);
        goto fail;
    }
    for (int i = 0; i < *n; i++)
        if ((*ids)[i] >= m->cfg.vocab_size) {
            cli_error("prompt token id %d at index %d is outside the vocabulary of %s [0, %d)", (*ids)[i], i, o->model,
                      m->cfg.vocab_size);
            free(*ids);
            goto fail;
        }
    if (*n > m->cfg.seq_len) {
        cli_error("the prompt has %d tokens but the context length of %s is %d", *n, o->model, m->cfg.seq_len);
        free(*ids);
        goto fail;
    }
    if (*n == 0) {
        cli_error("the prompt is empty (no BOS either): nothing to run");
        free(*ids);
        goto fail;
    }
    return 0;
fail:
    if (*have_tok) lumi_tokenizer_free(t);
    lumi_model_free(m);
    return -1;
}
