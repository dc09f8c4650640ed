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
    } else if (!strcmp(a, "--special")) {
        o->special = 1;
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

int cli_check_vocab(const LumiTokenizer *t, const char *model_path, int model_vocab) {
    if (t->vocab_size > model_vocab) {
        cli_error("tokenizer %s has %d tokens but model %s only %d: they do not belong together", t->path, t->vocab_size,
                  model_path, model_vocab);
        return -1;
    }
    if (t->vocab_size < model_vocab)
        fprintf(stderr, "lumi: note: model %s has %d embedding rows, tokenizer %s %d tokens; ids past it print as <id N>\n",
                model_path, model_vocab, t->path, t->vocab_size);
    return 0;
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
    if (lumi_model_load(o->model, m, &e) != 0) {
        cli_error("-m: %s", e.msg);
        return -1;
    }
    if (lumi_tokenizer_for_model(o->model, o->tokenizer, t, have_tok, &e) != 0) {
        cli_error("%s%s", o->tokenizer ? "-z: " : "", e.msg);
        lumi_model_free(m);
        return -1;
    }
    if (o->prompt && !*have_tok) {
        cli_error("-p needs a tokenizer: -z TOKENIZER (none embedded in or beside %s)", o->model);
        lumi_model_free(m);
        return -1;
    }
    if (*have_tok && cli_check_vocab(t, o->model, m->cfg.vocab_size) != 0) goto fail;
    /* bounded before tokenizing: no token is anywhere near this long, so a
     * longer text cannot fit the context, and must not cost the time to
     * find that out */
    if (o->prompt && strlen(o->prompt) > (size_t)LUMI_PROMPT_BYTES_PER_POS * (size_t)m->cfg.seq_len) {
        cli_error("-p: the prompt is %zu bytes, more than %d per position of the context length %d of %s",
                  strlen(o->prompt), LUMI_PROMPT_BYTES_PER_POS, m->cfg.seq_len, o->model);
        goto fail;
    }
    if (o->prompt) {
        lumi_encode_n(t, o->prompt, strlen(o->prompt), (o->no_bos ? 0 : LUMI_ENC_BOS) | (o->special ? LUMI_ENC_SPECIAL : 0),
                      ids, n);
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
