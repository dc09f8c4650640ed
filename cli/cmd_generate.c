/* cmd_generate.c: `lumi generate`, prompt -> prefill -> sample/decode loop.
 * Text streams to stdout, timings to stderr; --json prints one object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/json.h"
#include "../experiments/gen_loop.h"
#include "../paths/session.h"
#include "../paths/sampler/sampler.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi generate -m MODEL -z TOKENIZER (-p TEXT | --ids 1,2,3) [-n STEPS] [-t TEMP] [--seed S]\n"
    "                     [sampler flags] [--path backend=..,cache=..,prefill=..] [--threads N] [--no-bos] [--json]\n"
    "  -n STEPS   new tokens at most (default 64); stops earlier at EOS, BOS or the context end\n"
    "  -t TEMP    temperature, 0 = greedy (default 0); -t 1 alone samples the full distribution\n"
    "sampler flags (each stage is off at its neutral value, shown):\n"
    "  --top-k K (0)  --top-p P (1)  --min-p P (0)  --typical P (1)\n"
    "  --repeat-penalty X (1)  --repeat-last-n N (64)  --presence-penalty X (0)  --frequency-penalty X (0)\n"
    "  --mirostat 2 (0 = off)  --mirostat-tau T (5)  --mirostat-eta E (0.1)\n"
    "  --sampler-order penalties,top_k,typical,top_p,min_p,temperature (the default)\n"
    "  The prompt tokens and every generated token enter the penalty history.\n";

/* Print a piece the way a terminal can show it: raw bytes of the text,
 * except stray control bytes from byte tokens. */
static void emit(const char *p, int len) {
    if (len == 1) {
        unsigned char c = (unsigned char)p[0];
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return;
    }
    fwrite(p, 1, (size_t)len, stdout);
    fflush(stdout);
}

/* What the per-token callback needs: the text so far and how to show it. */
typedef struct {
    const LumiTokenizer *t; /* NULL: ids only */
    int json, prev;
    char *text;
    size_t len, cap;
} Out;

static int on_token(void *ctx, int step, int next, const LumiSession *s, const LumiSampler *smp) {
    (void)s, (void)smp;
    Out *o = ctx;
    if (o->t) {
        int len;
        const char *piece = lumi_decode_piece(o->t, o->prev, next, &len);
        if (o->len + (size_t)len + 1 > o->cap) o->text = lumi_xrealloc(o->text, o->cap = 2 * (o->len + (size_t)len + 1));
        memcpy(o->text + o->len, piece, (size_t)len);
        o->len += (size_t)len;
        if (!o->json) emit(piece, len);
    } else if (!o->json) {
        printf("%s%d", step > 0 ? " " : "", next);
        fflush(stdout);
    }
    o->prev = next;
    return 0;
}

int cmd_generate(int argc, char **argv) {
    LumiPromptOpts o = {0};
    lumi_path_default(&o.path);
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    long steps = 64;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_prompt_opt(&o, argc, argv, &i);
        if (r < 0) return LUMI_EXIT_BAD;
        if (r > 0) continue;
        const char *a = argv[i], *v;
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--steps")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_int(v, 0, 1 << 30, &steps)) return cli_error("-n: '%s' is not a count >= 0", v), LUMI_EXIT_BAD;
        } else if ((r = cli_sampler_opt(&sc, argc, argv, &i)) != 0) {
            if (r < 0) return LUMI_EXIT_BAD;
        } else {
            cli_error("generate: unknown option '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        }
    }
    if (o.path.turns[0]) return cli_error("--path: turns=%s applies to lumi chat, not generate", o.path.turns), LUMI_EXIT_BAD;
    LumiModel m;
    LumiTokenizer t;
    int have_tok, *prompt, n_prompt;
    if (cli_load(&o, &m, &t, &have_tok, &prompt, &n_prompt) != 0) return LUMI_EXIT_BAD;

    LumiErr e;
    LumiSession s;
    LumiSampler smp;
    int rc = LUMI_EXIT_BAD;
    if (lumi_sampler_init(&smp, &sc, m.cfg.vocab_size, &e) != 0) {
        cli_error("%s", e.msg);
        goto out_model;
    }
    /* sized by this run (prompt + steps), not by the context a file claims */
    long want_pos = (long)n_prompt + steps;
    if (lumi_session_open_for(&s, &m, &o.path, want_pos < m.cfg.seq_len ? (int)want_pos : 0, &e) != 0) {
        cli_error("%s", e.msg);
        goto out_sampler;
    }
    int room = m.cfg.seq_len - n_prompt; /* positions left after the prompt */
    /* Everything the loop writes is sized up front: no allocation per token.
     * At most max(room, 1) tokens fit (the last one is never fed back). */
    size_t max_gen = (size_t)(steps < (room > 1 ? room : 1) ? steps : (room > 1 ? room : 1));
    int *gen = lumi_xmalloc((max_gen + 1) * sizeof(int));
    size_t text_cap = (max_gen + 1) * (size_t)(have_tok ? t.max_token_length + 1 : 1) + 1;
    Out out = {have_tok ? &t : NULL, json, prompt[n_prompt - 1], lumi_xmalloc(text_cap), 0, text_cap};
    LumiStopSet stops;
    lumi_default_stops(have_tok ? &t : NULL, &stops);
    LumiGenOpts go = {.stops = &stops, .max_new = (int)steps, .on_token = on_token, .ctx = &out};
    LumiGenResult gr;
    if (lumi_generate(&s, prompt, n_prompt, &smp, &go, gen, &gr, &e) != 0) {
        cli_error("%s", e.msg);
        goto out_session;
    }
    int n_gen = gr.n_tokens;
    const char *stop = lumi_gen_stop_name(gr.stop);
    char *text = out.text;
    size_t text_len = out.len;
    double pre_tps = n_prompt / (gr.prefill_s > 0 ? gr.prefill_s : 1e-9);
    int decoded = n_gen > 1 ? n_gen - 1 : 0; /* the first token came from prefill */
    double dec_tps = decoded / (gr.decode_s > 0 ? gr.decode_s : 1e-9);
    if (json) {
        char path[128];
        lumi_path_format(&o.path, path, sizeof path);
        printf("{\"prompt_ids\":");
        lumi_json_ints(stdout, prompt, n_prompt);
        printf(",\"ids\":");
        lumi_json_ints(stdout, gen, n_gen);
        printf(",\"text\":");
        lumi_json_str(stdout, text, text_len);
        printf(",\"prefill_tok_s\":");
        lumi_json_num(stdout, pre_tps);
        printf(",\"decode_tok_s\":");
        lumi_json_num(stdout, dec_tps);
        printf(",\"stop\":\"%s\",\"path\":\"%s\"}\n", stop, path);
    } else {
        printf("\n");
    }
    fprintf(stderr, "prefill: %d tokens, %.1f tok/s; decode: %d tokens, %.1f tok/s; stop: %s\n", n_prompt, pre_tps,
            decoded, dec_tps, stop);
    rc = LUMI_EXIT_OK;
out_session:
    free(gen);
    free(out.text);
    lumi_session_close(&s);
out_sampler:
    lumi_sampler_free(&smp);
out_model:
    free(prompt);
    if (have_tok) lumi_tokenizer_free(&t);
    lumi_model_free(&m);
    return rc;
}
