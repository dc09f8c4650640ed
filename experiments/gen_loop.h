/* gen_loop.h: the one generation loop. Every caller that turns a prompt into
 * new tokens (lumi generate, the harness's traces, studies, bench's decode
 * timing, chat) runs it, so they sample, stop and feed the same way:
 *
 *   accept the prompt into the penalty history, prefill it, then repeat:
 *   sample from the last logits; stop if the token is in the stop set (it is
 *   not kept and not fed); keep it and accept it; tell the callback; stop at
 *   max_new or when the next feed would pass the context; feed it back.
 *
 * The last kept token is not fed back (nothing would read its logits)
 * unless feed_last asks for it (traces want the logits of every position,
 * bench times n feeds). */
#ifndef LUMI_GEN_LOOP_H
#define LUMI_GEN_LOOP_H
#include "../paths/session.h"
#include "../engine/tokenizer.h"
#include "../paths/sampler/sampler.h"

enum { LUMI_MAX_STOPS = 16 };

/* The token ids that end a generation. */
typedef struct {
    int ids[LUMI_MAX_STOPS];
    int n;
} LumiStopSet;

/* The stop set a model/tokenizer pair gets by default; t may be NULL (ids
 * prompts, no tokenizer). The one place that decides which ids end a
 * document: callers never name ids themselves. */
void lumi_default_stops(const LumiTokenizer *t, LumiStopSet *s);
/* The id a document starts with (bench's synthetic prompts); t may be NULL. */
int lumi_default_bos(const LumiTokenizer *t);
int lumi_stops_has(const LumiStopSet *s, int tok);
/* Adds id unless present or full; returns 0, or -1 when full. */
int lumi_stops_add(LumiStopSet *s, int id);

typedef enum { LUMI_GEN_STEPS, LUMI_GEN_STOP_TOKEN, LUMI_GEN_CONTEXT, LUMI_GEN_CALLER } LumiGenStop;
/* "steps", "eos", "context", "interrupted": the words results already use. */
const char *lumi_gen_stop_name(LumiGenStop stop);

/* Called for every kept token, after it is accepted and before it is fed:
 * s->last still holds the logits it was drawn from and smp->info what the
 * sampler did. step counts from 0. Nonzero stops the loop (LUMI_GEN_CALLER)
 * with the token kept but not fed. */
typedef int (*LumiTokenFn)(void *ctx, int step, int token, const LumiSession *s, const LumiSampler *smp);

typedef struct {
    const LumiStopSet *stops; /* NULL: stop only at max_new or the context */
    int max_new;              /* tokens to keep at most; tokens[] has room for them */
    int feed_last;            /* also feed the token that reaches max_new */
    int no_accept_prompt;     /* the caller keeps the penalty history itself */
    float *logits;            /* optional [n_prompt + max_new, vocab]: every fed position */
    LumiTokenFn on_token;
    void *ctx;
} LumiGenOpts;

typedef struct {
    int n_tokens; /* kept tokens, in tokens[] */
    int n_fed;    /* kept tokens fed back */
    LumiGenStop stop;
    int stop_token;   /* the stop-set token drawn, or -1 */
    double prefill_s; /* feeding the prompt */
    double ttft_s;    /* start to the first token drawn (prefill + one sample) */
    double decode_s;  /* after the prefill to the end */
} LumiGenResult;

/* Generates on top of whatever s holds: the prompt (n_prompt may be 0 when s
 * already holds a sequence; then the first token is drawn from s->last) is
 * fed at the next positions. Errors only from feeding (context, ids). */
int lumi_generate(LumiSession *s, const int *prompt, int n_prompt, LumiSampler *smp, const LumiGenOpts *o, int *tokens,
                  LumiGenResult *r, LumiErr *e);

#endif
