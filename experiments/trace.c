/* trace.c: see trace.h. */
#include "trace.h"

#include <stdlib.h>
#include <string.h>

/* Finish a diverged free generation: replay the schedule up to step j (the
 * prompt, then tokens[0..j] one at a time), then continue generating with
 * smp (already past step j). */
static int finish_free(const LumiModel *m, const LumiPathSpec *spec, const int *prompt, int n_prompt, int n_gen,
                       LumiSampler *smp, const LumiStopSet *stops, LumiTrace *t, LumiErr *e) {
    LumiSession s;
    if (lumi_session_open(&s, m, spec, e) != 0) return -1;
    int rc = lumi_session_feed(&s, prompt, n_prompt, NULL, e);
    for (int k = 0; k < t->n_tokens && rc == 0; k++) rc = lumi_session_feed(&s, &t->tokens[k], 1, NULL, e);
    if (rc == 0) {
        LumiGenOpts go = {.stops = stops, .max_new = n_gen - t->n_tokens};
        LumiGenResult gr;
        rc = lumi_generate(&s, NULL, 0, smp, &go, t->tokens + t->n_tokens, &gr, e);
        if (rc == 0) {
            t->n_tokens += gr.n_tokens;
            t->stop_eos = gr.stop == LUMI_GEN_STOP_TOKEN;
        }
    }
    lumi_session_close(&s);
    return rc;
}

/* The reference's own run: prefill, then generate, feeding every kept token
 * so every position of prompt + generated has logits. */
static int free_run(LumiSession *s, const int *prompt, int n_prompt, int n_gen, LumiSampler *smp,
                    const LumiStopSet *stops, LumiTrace *t, LumiErr *e) {
    LumiGenOpts go = {.stops = stops, .max_new = n_gen, .feed_last = 1, .logits = t->logits};
    LumiGenResult gr;
    if (lumi_generate(s, prompt, n_prompt, smp, &go, t->tokens, &gr, e) != 0) return -1;
    t->n_tokens = gr.n_tokens;
    t->n_pos = n_prompt + gr.n_fed;
    t->stop_eos = gr.stop == LUMI_GEN_STOP_TOKEN;
    t->prefill_s = gr.prefill_s;
    t->decode_s = gr.decode_s;
    return 0;
}

int lumi_trace_run(const LumiModel *m, const LumiPathSpec *spec, const int *prompt, int n_prompt, const int *forced,
                   int n_forced, int n_gen, const LumiSamplerCfg *sc, const LumiStopSet *stops, int want_logits, LumiTrace *t,
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
    if (!forced) {
        rc = free_run(&s, prompt, n_prompt, n_gen, &smp, stops, t, e);
        goto out;
    }
    double t0 = lumi_now();
    if (lumi_session_feed(&s, prompt, n_prompt, t->logits, e) != 0) goto out;
    /* penalty history: the prompt, then every token this run samples, as generate does */
    for (int i = 0; i < n_prompt; i++) lumi_sampler_accept(&smp, prompt[i]);
    t->n_pos = n_prompt;
    double t1 = lumi_now();
    t->prefill_s = t1 - t0;
    /* teacher forcing: feed forced[j] whatever this path samples */
    for (int j = 0; j <= n_forced; j++) {
        /* own next token while the own run is still this run */
        if (in_sync && t->n_tokens < n_gen) {
            int own = lumi_sample(&smp, s.last);
            int stop = lumi_stops_has(stops, own);
            if (stop) t->stop_eos = 1;
            if (j == n_forced || own != forced[j]) {
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
        }
        if (j == n_forced) break;
        if (lumi_session_feed(&s, &forced[j], 1, t->logits ? t->logits + V * (size_t)t->n_pos : NULL, e) != 0) goto out;
        t->n_pos++;
    }
    rc = 0;
    if (t->diverged_at >= 0 && !t->stop_eos && t->n_tokens < n_gen)
        rc = finish_free(m, spec, prompt, n_prompt, n_gen, &smp, stops, t, e);
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

const LumiStopSet *lumi_trace_stops(int stop_at_eos, const LumiExpInputs *in, LumiStopSet *buf) {
    if (!stop_at_eos) return NULL;
    lumi_default_stops(in->have_tok ? &in->tok : NULL, buf);
    return buf;
}
