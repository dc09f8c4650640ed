/* chat_run.c: see chat_run.h. */
#include "chat_run.h"

#include <stdlib.h>
#include <string.h>

void lumi_chat_init(LumiChat *c, LumiSession *s, LumiSampler *smp, const LumiChatTemplate *tpl,
                    const LumiTurnsOps *turns, const char *system, int max_new) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->smp = smp;
    c->tpl = tpl;
    c->turns = turns;
    c->max_new = max_new;
    c->reply = lumi_xmalloc(sizeof(int) * (size_t)(max_new > 0 ? max_new : 1));
    lumi_conv_init(&c->conv, system);
}

void lumi_chat_free(LumiChat *c) {
    lumi_conv_free(&c->conv);
    free(c->reply);
    c->reply = NULL;
}

void lumi_chat_reset(LumiChat *c, uint64_t seed) {
    char *sys = c->conv.system ? lumi_xstrdup(c->conv.system) : NULL;
    lumi_conv_free(&c->conv);
    lumi_conv_init(&c->conv, sys);
    free(sys);
    lumi_session_reset(c->s);
    lumi_sampler_reset(c->smp, seed);
}

int lumi_chat_check_text(const char *s, const char *what, LumiErr *e) {
    const unsigned char *p = (const unsigned char *)s;
    int blank = 1;
    for (size_t i = 0; p[i];) {
        unsigned c = p[i];
        int k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (k < 0 || (k == 1 && c < 0xC2) || (k == 3 && c > 0xF4))
            return lumi_err(e, "%s: invalid UTF-8 at byte %zu", what, i);
        unsigned cp = k ? c & (0x3F >> k) : c;
        for (int j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return lumi_err(e, "%s: invalid UTF-8 at byte %zu", what, i);
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        /* overlong forms and surrogates are not UTF-8 either */
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return lumi_err(e, "%s: invalid UTF-8 at byte %zu", what, i);
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') blank = 0;
        i += (size_t)k + 1;
    }
    if (blank) return lumi_err(e, "%s is empty", what);
    return 0;
}

/* A token covers at most max_token_length bytes, so longer text cannot fit
 * the context: refused before the encoder spends time on it. */
static int too_long(const LumiChat *c, const char *text, const char *what, LumiErr *e) {
    size_t len = strlen(text), most = (size_t)c->tpl->tok->max_token_length * (size_t)c->s->model->cfg.seq_len;
    if (len > most)
        return lumi_err(e, "%s is %zu bytes: more than the context of %d tokens can hold", what, len,
                        c->s->model->cfg.seq_len);
    return 0;
}

int lumi_chat_check_system(const LumiChat *c, LumiErr *e) {
    if (c->conv.system && too_long(c, c->conv.system, "the system prompt", e) != 0) return -1;
    int *ids, n, ctx = c->s->model->cfg.seq_len;
    lumi_template_render_system(c->tpl, c->conv.system, &ids, &n);
    free(ids);
    if (n + 8 > ctx) /* a turn needs its markers, some text and one reply token */
        return lumi_err(e,
                        "the system prompt is %d tokens with the %s template: no room for a turn in the context of %d",
                        n, c->tpl->name, ctx);
    return 0;
}

/* Renders with room for the reply: drops the oldest whole turns while the
 * rendering leaves less than `want` positions, as long as a turn is left. */
static int render_fit(LumiChat *c, int **ids, int *n, int *dropped, LumiErr *e) {
    int ctx = c->s->model->cfg.seq_len, want = c->max_new < ctx / 2 ? c->max_new : ctx / 2;
    int first0 = c->conv.first;
    *dropped = 0;
    for (;;) {
        lumi_template_render(c->tpl, &c->conv, ids, n);
        if (*n + (want > 0 ? want : 1) <= ctx || (*n < ctx && c->conv.first == c->conv.n_turns - 1)) return 0;
        if (c->conv.first == c->conv.n_turns - 1) {
            free(*ids);
            c->conv.first = first0;
            return lumi_err(
                e, "the turn is %d tokens with the conversation's system prompt: more than the context of %d", *n, ctx);
        }
        free(*ids);
        c->conv.first++;
        (*dropped)++;
    }
}

int lumi_chat_turn(LumiChat *c, const char *user, const int *forced, int n_forced, LumiTokenFn cb, void *ctx,
                   float *logits, int *pos0, LumiTurnResult *r, LumiErr *e) {
    memset(r, 0, sizeof *r);
    if (lumi_chat_check_text(user, "the turn", e) != 0 || too_long(c, user, "the turn", e) != 0) return -1;
    if (forced && n_forced > c->max_new)
        return lumi_err(e, "a fixed reply of %d tokens exceeds max %d", n_forced, c->max_new);
    lumi_conv_user(&c->conv, user);
    int *ids = NULL, n, *prev, n_prev;
    c->dropped = 0;
    if (render_fit(c, &ids, &n, &r->dropped, e) != 0) {
        lumi_conv_pop(&c->conv);
        return -1;
    }
    c->dropped = r->dropped;
    /* the new turn's tokens enter the penalty history once */
    c->conv.n_turns--;
    lumi_template_render(c->tpl, &c->conv, &prev, &n_prev);
    c->conv.n_turns++;
    free(prev);
    for (int i = n_prev < n ? n_prev : n; i < n; i++) lumi_sampler_accept(c->smp, ids[i]);
    double t0 = lumi_now();
    int fed = 0, rc = c->turns->prefill(c->s, ids, n, logits, &fed, e);
    r->prefill_s = lumi_now() - t0;
    if (pos0) *pos0 = n - fed;
    free(ids);
    if (rc != 0) {
        lumi_conv_pop(&c->conv);
        return -1;
    }
    r->turn = c->conv.n_turns;
    r->new_tokens = fed;
    r->cached_tokens = n - fed;
    size_t V = (size_t)c->s->model->cfg.vocab_size;
    float *rows = logits ? logits + (size_t)fed * V : NULL;
    if (forced) {
        /* replay: the first token is drawn as generation would (so time to first
         * token means the same), then the known tokens are fed */
        double t1 = lumi_now();
        (void)lumi_sample(c->smp, c->s->last);
        r->ttft_s = r->prefill_s + (lumi_now() - t1);
        for (int k = 0; k < n_forced && rc == 0; k++) {
            lumi_sampler_accept(c->smp, forced[k]);
            c->reply[k] = forced[k];
            rc = lumi_session_feed(c->s, &forced[k], 1, rows ? rows + (size_t)k * V : NULL, e);
        }
        r->decode_s = lumi_now() - t1;
        r->n_ids = n_forced;
        r->stop = LUMI_GEN_STOP_TOKEN;
    } else {
        LumiGenOpts go = {.stops = &c->tpl->stops,
                          .max_new = c->max_new,
                          .no_accept_prompt = 1,
                          .on_token = cb,
                          .ctx = ctx,
                          .logits = rows};
        LumiGenResult gr;
        rc = lumi_generate(c->s, NULL, 0, c->smp, &go, c->reply, &gr, e);
        r->ttft_s = r->prefill_s + gr.ttft_s;
        r->decode_s = gr.decode_s;
        r->n_ids = gr.n_tokens;
        r->stop = gr.stop;
    }
    if (rc != 0) {
        lumi_conv_pop(&c->conv);
        lumi_session_reset(c->s); /* the cache may hold part of the turn: the next turn rebuilds */
        return -1;
    }
    lumi_conv_reply(&c->conv, c->reply, r->n_ids);
    r->ids = c->reply;
    return 0;
}
