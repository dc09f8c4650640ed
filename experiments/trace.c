/* trace.c: see trace.h. */
#include "trace.h"

#include <stdlib.h>
#include <string.h>

/* Finish a diverged free generation: replay the schedule up to step j,
 * then continue sampling with smp (already past step j). */
static int finish_free(const LumiModel *m, const LumiPathSpec *spec, const int *prompt, int n_prompt, int n_gen,
                       LumiSampler *smp, int stop_at_eos, LumiTrace *t, LumiErr *e) {
    LumiSession s;
    if (lumi_session_open(&s, m, spec, e) != 0) return -1;
    int rc = lumi_session_feed(&s, prompt, n_prompt, NULL, e);
    int j = t->n_tokens - 1; /* tokens[0..j] known; tokens[j] is the divergent one */
    for (int k = 0; k < j && rc == 0; k++) rc = lumi_session_feed(&s, &t->tokens[k], 1, NULL, e);
    while (rc == 0 && t->n_tokens < n_gen) {
        rc = lumi_session_feed(&s, &t->tokens[t->n_tokens - 1], 1, NULL, e);
        if (rc != 0) break;
        int tok = lumi_sample(smp, s.last);
        if (stop_at_eos && lumi_is_eos(tok)) {
            t->stop_eos = 1;
            break;
        }
        lumi_sampler_accept(smp, tok);
        t->tokens[t->n_tokens++] = tok;
    }
    lumi_session_close(&s);
    return rc;
}

int lumi_trace_run(const LumiModel *m, const LumiPathSpec *spec, const int *prompt, int n_prompt, const int *forced,
                   int n_forced, int n_gen, const LumiSamplerCfg *sc, int stop_at_eos, int want_logits, LumiTrace *t,
                   LumiErr *e) {
    memset(t, 0, sizeof *t);
    t->diverged_at = -1;
    size_t V = (size_t)m->cfg.vocab_size;
    int max_pos = n_prompt + n_gen;
    if (forced && n_forced > n_gen) return lumi_err(e, "trace: %d forced tokens but only %d steps", n_forced, n_gen);
    LumiSampler smp;
    LumiSession s;
    if (lumi_sampler_init(&smp, sc, m->cfg.vocab_size, e) != 0) return -1;
    if (lumi_session_open(&s, m, spec, e) != 0) {
        lumi_sampler_free(&smp);
        return -1;
    }
    t->tokens = lumi_xmalloc(sizeof(int) * (size_t)(n_gen + 1));
    if (want_logits) t->logits = lumi_xmalloc(sizeof(float) * V * (size_t)max_pos);
    int rc = -1, in_sync = 1;
    double t0 = lumi_now();
    if (lumi_session_feed(&s, prompt, n_prompt, t->logits, e) != 0) goto out;
    /* penalty history: the prompt, then every token this run samples, as generate does */
    for (int i = 0; i < n_prompt; i++) lumi_sampler_accept(&smp, prompt[i]);
    t->n_pos = n_prompt;
    double t1 = lumi_now();
    t->prefill_s = t1 - t0;
    int steps = forced ? n_forced : n_gen;
    for (int j = 0; j <= steps; j++) {
        /* own next token while the own run is still this run */
        if (in_sync && t->n_tokens < n_gen) {
            int own = lumi_sample(&smp, s.last);
            int stop = stop_at_eos && lumi_is_eos(own);
            if (stop) t->stop_eos = 1;
            if (forced && (j == n_forced || own != forced[j])) {
                in_sync = 0;
                if (!stop) {
                    t->diverged_at = j;
                    lumi_sampler_accept(&smp, own);
                    t->tokens[t->n_tokens++] = own;
                } else if (j < n_forced) {
                    t->diverged_at = j;
                }
            } else if (stop) {
                in_sync = 0;
            } else {
                lumi_sampler_accept(&smp, own);
                t->tokens[t->n_tokens++] = own;
            }
            if (!forced && !in_sync) break; /* the free run ended at EOS */
        }
        if (j == steps) break;
        int next = forced ? forced[j] : t->tokens[j];
        if (lumi_session_feed(&s, &next, 1, t->logits ? t->logits + V * (size_t)t->n_pos : NULL, e) != 0) goto out;
        t->n_pos++;
    }
    rc = 0;
    if (forced && t->diverged_at >= 0 && !t->stop_eos && t->n_tokens < n_gen)
        rc = finish_free(m, spec, prompt, n_prompt, n_gen, &smp, stop_at_eos, t, e);
    t->decode_s = lumi_now() - t1;
out:
    lumi_session_close(&s);
    lumi_sampler_free(&smp);
    if (rc != 0) lumi_trace_free(t);
    return rc;
}

void lumi_trace_free(LumiTrace *t) {
    free(t->logits);
    free(t->tokens);
    t->logits = NULL;
    t->tokens = NULL;
}
