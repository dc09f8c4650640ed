/* cmd_perplexity.c: `lumi perplexity`, the perplexity of a text file on one
 * path, and with --kl-base the distance of this path's next-token
 * distributions from another path's over every scored position (what
 * llama-perplexity --kl-divergence reports for a quantized model).
 *
 * The text is tokenized once (with the model's tokenizer) and cut into
 * consecutive windows of --ctx tokens, each starting a fresh sequence with
 * BOS in place of its first token, as llama-perplexity does. In each window
 * the tokens of its second half are scored (every one sees at least ctx/2
 * tokens of context); a text shorter than one window is one window. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/json.h"
#include "../experiments/metrics.h"
#include "../experiments/study_metrics.h"
#include "../paths/sampler/sampler.h"
#include "../paths/session.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi perplexity -m MODEL -f TEXT [-z TOKENIZER] [--path SPEC] [--ctx N] [--kl-base SPEC]\n"
    "                       [--threads N] [--json]\n"
    "  -f TEXT         the text file to score\n"
    "  -z TOKENIZER    default: the model's own (GGUF) tokenizer\n"
    "  --ctx N         window length in tokens (default min(512, the model's context)); the second\n"
    "                  half of each window is scored\n"
    "  --kl-base SPEC  also run this path and report KL(base || path) mean, p99 and max and the\n"
    "                  top-1 agreement over every scored position, and the base's perplexity\n"
    "  --json          one JSON object on stdout (no progress bar)\n"
    "  a progress bar goes to stderr when it is a terminal\n";

typedef struct {
    double nll;          /* sum of -log p(next token) */
    double *kl;          /* per scored position, with --kl-base */
    int n, n_top1;
} Score;

static void progress(int done, int total) {
    int w = 30, k = total ? done * w / total : w;
    fprintf(stderr, "\r[%.*s%*s] %d/%d windows", k, "==============================", w - k, "", done, total);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* Feeds one window on s; logits of every position into out [n, V]. */
static int feed(LumiSession *s, const int *win, int n, float *out, LumiErr *e) {
    lumi_session_reset(s);
    return lumi_session_feed(s, win, n, out, e);
}

static int open_path(LumiSession *s, const LumiModel *m, const LumiPathSpec *p) {
    LumiErr e;
    if (lumi_session_open(s, m, p, &e) != 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    return 0;
}

int cmd_perplexity(int argc, char **argv) {
    LumiPromptOpts o = {0};
    lumi_path_default(&o.path);
    LumiPathSpec base;
    const char *text_path = NULL;
    int json = 0, has_base = 0;
    long ctx = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_prompt_opt(&o, argc, argv, &i);
        if (r < 0) return LUMI_EXIT_BAD;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(text_path = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--ctx")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_int(v, 2, 1 << 20, &ctx) != 0) return cli_error("--ctx: '%s' is not an integer >= 2", v), LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--kl-base")) {
            LumiErr e;
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            lumi_path_default(&base);
            if (lumi_path_parse(v, &base, &e) != 0) return cli_error("--kl-base: %s", e.msg), LUMI_EXIT_BAD;
            has_base = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            cli_error("perplexity: unknown option '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        }
    }
    if (!o.model || !text_path) {
        cli_error("perplexity: needs -m MODEL and -f TEXT");
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    LumiErr e;
    LumiModel m;
    LumiTokenizer t;
    char *text;
    size_t len;
    if (lumi_read_file(text_path, &text, &len, &e) != 0) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
    if (lumi_model_load(o.model, &m, &e) != 0) {
        free(text);
        return cli_error("%s", e.msg), LUMI_EXIT_BAD;
    }
    const char *tok_path = o.tokenizer ? o.tokenizer : o.model;
    if (lumi_tokenizer_load(tok_path, &t, &e) != 0) {
        cli_error("%s%s", e.msg, o.tokenizer ? "" : " (give one with -z TOKENIZER)");
        free(text);
        lumi_model_free(&m);
        return LUMI_EXIT_BAD;
    }
    int rc = LUMI_EXIT_BAD, *ids = NULL, n_ids = 0;
    LumiSession s, sb;
    int open_s = 0, open_b = 0;
    float *out = NULL, *bout = NULL;
    Score sc = {0}, bs = {0};
    lumi_encode(&t, text, 0, 0, &ids, &n_ids);
    for (int i = 0; i < n_ids; i++)
        if (ids[i] >= m.cfg.vocab_size) {
            cli_error("%s: token id %d is outside the vocabulary of %s [0, %d)", text_path, ids[i], o.model, m.cfg.vocab_size);
            goto out;
        }
    int N = ctx ? (int)ctx : (m.cfg.seq_len < 512 ? m.cfg.seq_len : 512);
    if (N > m.cfg.seq_len) {
        cli_error("--ctx %d exceeds the context length %d of %s", N, m.cfg.seq_len, o.model);
        goto out;
    }
    if (n_ids < 2) {
        cli_error("%s: %d tokens: nothing to score", text_path, n_ids);
        goto out;
    }
    if (n_ids < N) N = n_ids;
    int windows = n_ids / N, first = N / 2;
    if (open_path(&s, &m, &o.path) != 0) goto out;
    open_s = 1;
    if (has_base) {
        base.threads = base.threads ? base.threads : o.path.threads;
        if (open_path(&sb, &m, &base) != 0) goto out;
        open_b = 1;
    }
    size_t V = (size_t)m.cfg.vocab_size;
    out = lumi_xmalloc((size_t)N * V * sizeof(float));
    if (has_base) {
        bout = lumi_xmalloc((size_t)N * V * sizeof(float));
        sc.kl = lumi_xmalloc(sizeof(double) * (size_t)windows * (size_t)N);
    }
    int bar = !json && isatty(2), *win = lumi_xmalloc(sizeof(int) * (size_t)N);
    for (int w = 0; w < windows; w++) {
        memcpy(win, ids + (size_t)w * N, sizeof(int) * (size_t)N);
        win[0] = t.bos_id >= 0 && t.bos_id < m.cfg.vocab_size ? t.bos_id : win[0];
        if (feed(&s, win, N, out, &e) != 0 || (has_base && feed(&sb, win, N, bout, &e) != 0)) {
            free(win);
            cli_error("%s", e.msg);
            goto out;
        }
        for (int i = first; i < N - 1; i++) { /* logits at i predict token i + 1 */
            const float *row = out + (size_t)i * V;
            sc.nll += lumi_nll(row, (int)V, win[i + 1]);
            if (has_base) {
                const float *brow = bout + (size_t)i * V;
                bs.nll += lumi_nll(brow, (int)V, win[i + 1]);
                sc.kl[sc.n] = lumi_kl_logits(brow, row, (int)V);
                sc.n_top1 += lumi_argmax(brow, (int)V) == lumi_argmax(row, (int)V);
            }
            sc.n++;
        }
        if (bar) progress(w + 1, windows);
    }
    free(win);
    char spec[160], bspec[160] = "";
    lumi_path_format(&o.path, spec, sizeof spec);
    if (has_base) lumi_path_format(&base, bspec, sizeof bspec);
    double ppl = exp(sc.nll / sc.n);
    LumiKlStats st = {0};
    if (has_base) lumi_kl_stats(sc.kl, sc.n, sc.n_top1, &st);
    if (json) {
        printf("{\"model\":");
        lumi_json_cstr(stdout, o.model);
        printf(",\"text\":");
        lumi_json_cstr(stdout, text_path);
        printf(",\"path\":");
        lumi_json_cstr(stdout, spec);
        printf(",\"ctx\":%d,\"windows\":%d,\"tokens\":%d,\"scored\":%d,\"nll_mean\":", N, windows, n_ids, sc.n);
        lumi_json_num(stdout, sc.nll / sc.n);
        printf(",\"ppl\":");
        lumi_json_num(stdout, ppl);
        if (has_base) {
            printf(",\"kl_base\":{\"path\":");
            lumi_json_cstr(stdout, bspec);
            printf(",\"ppl\":");
            lumi_json_num(stdout, exp(bs.nll / sc.n));
            double v[4] = {st.kl_mean, st.kl_p99, st.kl_max, st.top1_rate};
            const char *k[4] = {"kl_mean", "kl_p99", "kl_max", "top1_rate"};
            for (int i = 0; i < 4; i++) printf(",\"%s\":", k[i]), lumi_json_num(stdout, v[i]);
            printf("}");
        }
        printf("}\n");
    } else {
        printf("%s on %s: %d tokens, %d windows of %d, %d scored\n", spec, text_path, n_ids, windows, N, sc.n);
        printf("perplexity %.4f (mean NLL %.5f nats)\n", ppl, sc.nll / sc.n);
        if (has_base) {
            printf("base %s: perplexity %.4f\n", bspec, exp(bs.nll / sc.n));
            printf("KL(base || path): mean %.6g  p99 %.6g  max %.6g   top-1 agreement %.4f (%d/%d)\n", st.kl_mean,
                   st.kl_p99, st.kl_max, st.top1_rate, sc.n_top1, sc.n);
        }
    }
    rc = LUMI_EXIT_OK;
out:
    if (open_s) lumi_session_close(&s);
    if (open_b) lumi_session_close(&sb);
    free(out), free(bout), free(sc.kl), free(ids), free(text);
    lumi_tokenizer_free(&t);
    lumi_model_free(&m);
    return rc;
}
