/* cmd_chat.c: `lumi chat`. From a pipe: one user turn per input line, one
 * reply per output line (--json: one object per turn). On a terminal: a
 * prompt with line editing and history (libedit, when built with it),
 * streamed replies, /reset, /stats, and Ctrl-C stops the current reply.
 * Bad input (an empty turn, invalid UTF-8, a turn that cannot fit) is exit 2
 * from a pipe and a message and a new prompt on a terminal; the
 * conversation so far is kept either way. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef LUMI_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "../engine/json.h"
#include "../experiments/chat_run.h"
#include "../experiments/inputs.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi chat -m MODEL [-z TOKENIZER] [--template auto|llama2|llama3|chatml|none] [--system TEXT]\n"
    "                 [--path backend=..,cache=..,prefill=..,turns=keep|rebuild] [-n MAX_NEW] [sampler flags] "
    "[--json]\n"
    "  --template T  how turns become tokens (default auto: picked from the vocabulary's marker tokens)\n"
    "  --system TEXT the system prompt, kept when old turns are dropped to fit the context\n"
    "  turns=keep    prefill only each new turn on top of the KV cache (default); rebuild: the whole conversation\n"
    "  -n MAX_NEW    reply tokens at most (default 128); a reply ends at the template's end-of-turn token\n"
    "  --json        one object per turn: turn, new_tokens, cached_tokens, ids, text, ttft_s, decode_tok_s, stop\n"
    "sampler flags: as lumi generate --help (-t, --seed, --top-k, ...; default greedy)\n"
    "from a pipe: one user turn per line; on a terminal: /reset, /stats, /quit; Ctrl-C stops a reply\n";

/* Set by SIGINT while a reply streams; the token callback stops on it. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    const LumiTokenizer *tok;
    const LumiChat *chat;
    int stream, told;
    int first_prev; /* the token before the reply (decoding its first piece needs it) */
} Show;

/* Old turns dropped to fit: said before the reply streams (never silently). */
static void tell_dropped(Show *sh) {
    sh->told = 1;
    if (sh->chat->dropped)
        fprintf(stderr,
                "lumi: the conversation no longer fit the context of %d: dropped the oldest %d turn(s), kept "
                "the system prompt, and rebuilt the cache\n",
                sh->chat->s->model->cfg.seq_len, sh->chat->dropped);
}

/* Streams a piece; control bytes from byte tokens are not shown. */
static int on_token(void *ctx, int step, int token, const LumiSession *s, const LumiSampler *smp) {
    (void)step, (void)smp;
    Show *sh = ctx;
    if (step == 0) sh->first_prev = s->history[s->n_past - 1];
    if (!sh->told) tell_dropped(sh);
    if (sh->stream) {
        int len;
        const char *p = lumi_decode_piece(sh->tok, s->history[s->n_past - 1], token, &len);
        if (!(len == 1 && (unsigned char)p[0] < 0x20 && p[0] != '\n' && p[0] != '\t'))
            fwrite(p, 1, (size_t)len, stdout);
        fflush(stdout);
    }
    return interrupted;
}

typedef struct {
    LumiChat chat;
    const LumiTokenizer *tok;
    int json, interactive;
    uint64_t seed;
    double *ttft; /* per turn, for /stats */
    int n_ttft, cap_ttft;
} Chat;

static void print_json(const Chat *c, const LumiTurnResult *r, int prev) {
    size_t len;
    char *text = lumi_detok(c->tok, prev, r->ids, r->n_ids, &len);
    printf("{\"turn\":%d,\"new_tokens\":%d,\"cached_tokens\":%d,\"ids\":", r->turn, r->new_tokens, r->cached_tokens);
    lumi_json_ints(stdout, r->ids, r->n_ids);
    printf(",\"text\":");
    lumi_json_str(stdout, text, len);
    int decoded = r->n_ids > 1 ? r->n_ids - 1 : 0;
    printf(",\"ttft_s\":");
    lumi_json_num(stdout, r->ttft_s);
    printf(",\"decode_tok_s\":");
    lumi_json_num(stdout, r->decode_s > 0 ? decoded / r->decode_s : 0);
    printf(",\"stop\":\"%s\",\"dropped_turns\":%d}\n", lumi_gen_stop_name(r->stop), r->dropped);
    fflush(stdout);
    free(text);
}

/* One user line: 0 done, -1 refused (why in *e). */
static int turn(Chat *c, const char *line, LumiErr *e) {
    LumiTurnResult r;
    Show sh = {c->tok, &c->chat, !c->json, 0, 0};
    interrupted = 0;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    int rc = lumi_chat_turn(&c->chat, line, NULL, 0, on_token, &sh, NULL, NULL, &r, e);
    sigaction(SIGINT, &old, NULL);
    if (rc != 0) return -1;
    if (!sh.told) tell_dropped(&sh);
    if (c->json) {
        print_json(c, &r, sh.first_prev);
    } else {
        if (r.stop == LUMI_GEN_CALLER) printf(" [stopped]");
        printf("\n");
        fflush(stdout);
    }
    if (c->n_ttft == c->cap_ttft)
        c->ttft = lumi_xrealloc(c->ttft, sizeof(double) * (size_t)(c->cap_ttft = c->cap_ttft ? 2 * c->cap_ttft : 16));
    c->ttft[c->n_ttft++] = r.ttft_s;
    return 0;
}

static void stats(const Chat *c) {
    char path[160];
    lumi_path_format(&c->chat.s->spec, path, sizeof path);
    printf("path %s, template %s; %d turn(s), %d of %d context positions in the cache\n", path, c->chat.tpl->name,
           c->chat.conv.n_turns - c->chat.conv.first, c->chat.s->n_past, c->chat.s->model->cfg.seq_len);
    printf("time to first token per turn (s):");
    for (int i = 0; i < c->n_ttft; i++) printf(" %.4f", c->ttft[i]);
    printf("\n");
}

#ifndef LUMI_HAVE_LIBEDIT
/* Without libedit: a plain prompt, no editing or history. */
static char *readline(const char *prompt) {
    fputs(prompt, stdout);
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
    return line;
}
static void add_history(const char *line) { (void)line; }
#endif

static int interactive(Chat *c) {
    printf("lumi chat: template %s, %s. /reset forgets the conversation, /stats shows the cache, Ctrl-D leaves.\n",
           c->chat.tpl->name, c->chat.turns->name);
    for (char *line; (line = readline("> ")) != NULL; free(line)) {
        if (*line) add_history(line);
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) {
            free(line);
            break;
        } else if (!strcmp(line, "/reset")) {
            lumi_chat_reset(&c->chat, c->seed);
            c->n_ttft = 0;
            printf("(conversation forgotten)\n");
        } else if (!strcmp(line, "/stats")) {
            stats(c);
        } else {
            LumiErr e;
            if (turn(c, line, &e) != 0) cli_error("%s (the conversation so far is kept)", e.msg);
        }
    }
    printf("\n");
    return LUMI_EXIT_OK;
}

/* One turn per line; the first bad line ends the run with exit 2. */
static int piped(Chat *c) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = LUMI_EXIT_OK, lineno = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
        if (n > 0 && line[n - 1] == '\r') line[--n] = 0;
        if ((size_t)n != strlen(line)) {
            cli_error("stdin line %d: a NUL byte in the turn", lineno);
            rc = LUMI_EXIT_BAD;
            break;
        }
        LumiErr e;
        if (turn(c, line, &e) != 0) {
            cli_error("stdin line %d: %s", lineno, e.msg);
            rc = LUMI_EXIT_BAD;
            break;
        }
    }
    free(line);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    LumiPromptOpts o = {0};
    lumi_path_default(&o.path);
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    const char *tpl_name = "auto", *system = NULL;
    long max_new = 128;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_prompt_opt(&o, argc, argv, &i);
        if (r < 0) return LUMI_EXIT_BAD;
        if (r > 0) continue;
        const char *a = argv[i], *v;
        if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!strcmp(a, "-n")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_int(v, 1, 1 << 20, &max_new))
                return cli_error("-n: '%s' is not a count >= 1", v), LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--template")) {
            if (!(tpl_name = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--system")) {
            if (!(system = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if ((r = cli_sampler_opt(&sc, argc, argv, &i)) != 0) {
            if (r < 0) return LUMI_EXIT_BAD;
        } else {
            cli_error("chat: unknown option '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        }
    }
    if (!o.model) return cli_error("chat: needs -m MODEL"), LUMI_EXIT_BAD;
    if (o.prompt || o.ids || o.out || o.no_bos)
        return cli_error("chat: -p, --ids, -o and --no-bos do not apply (turns come from stdin)"), LUMI_EXIT_BAD;
    LumiErr e;
    if (system && lumi_chat_check_text(system, "--system", &e) != 0) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
    if (!o.path.turns[0]) strcpy(o.path.turns, "keep");
    LumiModel m;
    LumiTokenizer t;
    if (lumi_model_load(o.model, &m, &e) != 0) return cli_error("-m: %s", e.msg), LUMI_EXIT_BAD;
    int rc = LUMI_EXIT_BAD, have_tok = 0;
    /* -z, else the model's own (embedded, or beside its config.json) */
    if (lumi_tokenizer_for_model(o.model, o.tokenizer, &t, &have_tok, &e) != 0) {
        cli_error("%s%s", o.tokenizer ? "-z: " : "", e.msg);
        goto out_model;
    }
    if (!have_tok) {
        cli_error("chat: needs a tokenizer: -z TOKENIZER (none embedded in or beside %s)", o.model);
        goto out_model;
    }
    if (cli_check_vocab(&t, o.model, m.cfg.vocab_size) != 0) goto out_tok;
    LumiChatTemplate tpl;
    char why[160];
    if (lumi_template_open(tpl_name, &t, &tpl, why, sizeof why, &e) != 0) {
        cli_error("%s", e.msg);
        goto out_tok;
    }
    if (why[0]) fprintf(stderr, "lumi: template auto: picked %s (%s)\n", tpl.name, why);
    LumiSession s;
    LumiSampler smp;
    if (lumi_sampler_init(&smp, &sc, m.cfg.vocab_size, &e) != 0) {
        cli_error("%s", e.msg);
        goto out_tok;
    }
    if (lumi_session_open(&s, &m, &o.path, &e) != 0) {
        cli_error("%s", e.msg);
        goto out_sampler;
    }
    Chat c = {.tok = &t, .json = json, .seed = sc.seed};
    lumi_chat_init(&c.chat, &s, &smp, &tpl, lumi_turns_of(&o.path), system, (int)max_new);
    if (lumi_chat_check_system(&c.chat, &e) != 0)
        cli_error("%s", e.msg);
    else
        rc = isatty(0) && isatty(1) && !json ? interactive(&c) : piped(&c);
    lumi_chat_free(&c.chat);
    free(c.ttft);
    lumi_session_close(&s);
out_sampler:
    lumi_sampler_free(&smp);
out_tok:
    lumi_tokenizer_free(&t);
out_model:
    lumi_model_free(&m);
    return rc;
}
