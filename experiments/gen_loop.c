/* gen_loop.c: see gen_loop.h. */
#include "gen_loop.h"

#include <string.h>

/* llama2.c's tokenizer.bin has no header for them: its models open every
 * document with BOS = 1 and close it with EOS = 2. */
enum { LLAMA2C_BOS = 1, LLAMA2C_EOS = 2 };

void lumi_default_stops(const LumiTokenizer *t, LumiStopSet *s) {
    memset(s, 0, sizeof *s);
    if (!t) { /* ids alone: llama2.c's convention */
        lumi_stops_add(s, LLAMA2C_EOS);
        lumi_stops_add(s, LLAMA2C_BOS);
        return;
    }
    /* the end tokens the model's own metadata names (EOS, EOT, <|eot_id|>,
     * <|im_end|>, eos_token_id lists) */
    int ids[LUMI_MAX_STOPS];
    int n = lumi_tokenizer_stop_ids(t, ids, LUMI_MAX_STOPS);
    for (int i = 0; i < n; i++) lumi_stops_add(s, ids[i]);
    /* llama2.c-trained models open each document with BOS, so a sampled BOS
     * ends the current one as surely as EOS does. */
    int bos = lumi_tokenizer_bos(t);
    if (bos >= 0) lumi_stops_add(s, bos);
}

int lumi_default_bos(const LumiTokenizer *t) { return t ? lumi_tokenizer_bos(t) : LLAMA2C_BOS; }

int lumi_stops_has(const LumiStopSet *s, int tok) {
    for (int i = 0; s && i < s->n; i++)
        if (s->ids[i] == tok) return 1;
    return 0;
}

int lumi_stops_add(LumiStopSet *s, int id) {
    if (lumi_stops_has(s, id)) return 0;
    if (s->n >= LUMI_MAX_STOPS) return -1;
    s->ids[s->n++] = id;
    return 0;
}

const char *lumi_gen_stop_name(LumiGenStop stop) {
    switch (stop) {
    case LUMI_GEN_STOP_TOKEN:
        return "eos";
    case LUMI_GEN_CONTEXT:
        return "context";
    case LUMI_GEN_CALLER:
        return "interrupted";
    default:
        return "steps";
    }
}

int lumi_generate(LumiSession *s, const int *prompt, int n_prompt, LumiSampler *smp, const LumiGenOpts *o, int *tokens,
                  LumiGenResult *r, LumiErr *e) {
    size_t V = (size_t)s->model->cfg.vocab_size;
    memset(r, 0, sizeof *r);
    r->stop = LUMI_GEN_STEPS;
    r->stop_token = -1;
    if (n_prompt <= 0 && s->n_past == 0) return lumi_err(e, "generate: nothing to continue from");
    /* the prompt enters the penalty history, as in llama.cpp's main */
    if (!o->no_accept_prompt)
        for (int i = 0; i < n_prompt; i++) lumi_sampler_accept(smp, prompt[i]);
    double t0 = lumi_now();
    if (n_prompt > 0 && lumi_session_feed(s, prompt, n_prompt, o->logits, e) != 0) return -1;
    double t1 = lumi_now();
    r->prefill_s = t1 - t0;
    int room = s->max_positions - s->n_past; /* decode feeds that still fit */
    int rc = 0;
    while (r->n_tokens < o->max_new) {
        int next = lumi_sample(smp, s->last);
        if (r->n_tokens == 0) r->ttft_s = lumi_now() - t0;
        if (lumi_stops_has(o->stops, next)) {
            r->stop = LUMI_GEN_STOP_TOKEN;
            r->stop_token = next;
            break;
        }
        int n = r->n_tokens;
        tokens[r->n_tokens++] = next;
        lumi_sampler_accept(smp, next);
        if (o->on_token && o->on_token(o->ctx, n, next, s, smp)) {
            r->stop = LUMI_GEN_CALLER;
            break;
        }
        if (r->n_tokens == o->max_new && !(o->feed_last && r->n_tokens <= room)) break;
        if (r->n_tokens < o->max_new && r->n_tokens >= room) { /* the next feed would pass the context */
            r->stop = LUMI_GEN_CONTEXT;
            break;
        }
        float *row = o->logits ? o->logits + V * (size_t)(n_prompt + r->n_fed) : NULL;
        if ((rc = lumi_session_feed(s, &next, 1, row, e)) != 0) break;
        r->n_fed++;
    }
    r->decode_s = lumi_now() - t1;
    return rc;
}
