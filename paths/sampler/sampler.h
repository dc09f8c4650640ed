/* sampler.h: turning a row of logits into the next token.
 *
 * A sampler is a chain of stages over a candidate list (every token id with
 * its logit), applied in a configured order; the default is llama.cpp's:
 *
 *   penalties -> top_k -> typical -> top_p -> min_p -> temperature -> draw
 *
 * Every stage is off at its neutral value (top_k 0, top_p 1, min_p 0,
 * typical 1, repeat_penalty 1, presence/frequency 0), so the default config
 * with temperature 1 draws from the model's full softmax.
 *
 * Greedy: temperature 0. Penalties still apply, then the highest logit wins
 * and ties go to the lowest id; truncation stages are skipped (top-k/p and
 * min-p always keep the argmax; typical would not, but greedy means greedy).
 * Greedy consumes no random numbers.
 *
 * Mirostat v2 (mirostat = 2) replaces the truncation stages, as in
 * llama.cpp: penalties -> temperature -> mirostat, which keeps the tokens
 * whose surprise -log2(p) is at most mu, draws among them, and moves mu by
 * -eta * (surprise of the drawn token, renormalized - tau). mu starts at 2*tau.
 *
 * Randomness: the sampler owns a LumiRng (xorshift64*, state seeded through
 * splitmix64 of `seed`, engine/util.h). Each non-greedy draw consumes exactly
 * one 64-bit output u: r = (u >> 11) * 2^-53 * Z, where Z is the sum of the
 * kept weights exp(l - max) (in double), and the drawn token is the first
 * candidate, in the chain's final order, whose running weight sum exceeds r.
 * Every step is integer or IEEE arithmetic in a fixed order with a total
 * order on candidates (logit descending, id ascending), so the same seed,
 * logits and config give the same tokens on every run and machine (with
 * the same libm exp/log: glibc's are correctly rounded in practice).
 *
 * Penalty history: lumi_sampler_accept() records a token; lumi_sample()
 * does NOT record the token it returns. Callers accept the prompt tokens and
 * every generated token, as llama.cpp's `main` does (cli/cmd_generate.c,
 * experiments/study.c). */
#ifndef LUMI_SAMPLER_H
#define LUMI_SAMPLER_H
#include <stdint.h>
#include "../../engine/util.h"

typedef struct {
    float temperature;       /* 0: greedy */
    int top_k;               /* keep the k most likely; 0: off */
    float top_p;             /* nucleus: smallest set with mass >= p; 1: off */
    uint64_t seed;
    float min_p;             /* keep p >= min_p * p_max; 0: off */
    float typical_p;         /* locally typical sampling mass; 1: off */
    float repeat_penalty;    /* logit/penalty if > 0 else logit*penalty; 1: off */
    float presence_penalty;  /* logit -= presence if seen; 0: off */
    float frequency_penalty; /* logit -= frequency * count; 0: off */
    int penalty_last_n;      /* the history window of penalties; 0: off */
    int mirostat;            /* 0 off, 2 mirostat v2 */
    float mirostat_tau, mirostat_eta;
    char order[96];          /* "penalties,top_k,..." ; "" = the default */
} LumiSamplerCfg;

/* greedy, every stage neutral, penalty_last_n 64, tau 5, eta 0.1, seed 0 */
void lumi_sampler_cfg_default(LumiSamplerCfg *c);
/* Set one setting by its key (the YAML key; CLI flags are the same with
 * dashes): temperature top_k top_p min_p typical repeat_penalty
 * repeat_last_n presence_penalty frequency_penalty mirostat mirostat_tau
 * mirostat_eta seed order. Range errors name the key. */
int lumi_sampler_set(LumiSamplerCfg *c, const char *key, const char *value, LumiErr *e);
/* The valid keys, comma-separated, for messages. */
const char *lumi_sampler_keys(void);
/* "t=0.8 top_k=40 ..." : the non-neutral settings, for labels. */
void lumi_sampler_describe(const LumiSamplerCfg *c, char *buf, size_t n);

/* One candidate: a token id with its current logit; p and aux are stage
 * scratch (probability, typical score). */
typedef struct LumiCand {
    float logit, p, aux;
    int id;
} LumiCand;

enum { LUMI_STAGE_MAX = 8 };

/* What the last lumi_sample() drew from (for studies and histories). */
typedef struct {
    int id;          /* the token drawn */
    double p;        /* its probability in the distribution drawn from */
    double entropy;  /* entropy (nats) of that distribution, after the chain */
    int kept;        /* candidates left after truncation */
} LumiSampleInfo;

typedef struct {
    LumiSamplerCfg cfg;
    LumiRng rng;
    int vocab;
    LumiCand *cand;  /* [vocab] scratch: the candidate list */
    int n;           /* candidates alive in cand[0..n) */
    int sorted;      /* cand[0..sorted) are the best `sorted`, in order */
    int stages[LUMI_STAGE_MAX], n_stages; /* the chain, resolved at init */
    int *ring, ring_len, ring_pos; /* the last penalty_last_n accepted tokens */
    int *counts;     /* [vocab] occurrences within the ring */
    float mu;        /* mirostat v2 state */
    LumiSampleInfo info;
} LumiSampler;

int lumi_sampler_init(LumiSampler *s, const LumiSamplerCfg *c, int vocab, LumiErr *e);
void lumi_sampler_free(LumiSampler *s);
/* Back to the state right after init, with a new seed (history, mu, rng). */
void lumi_sampler_reset(LumiSampler *s, uint64_t seed);
/* Record a token in the penalty history. */
void lumi_sampler_accept(LumiSampler *s, int token);
/* Run the chain without drawing: afterwards s->cand[0..s->n) holds the
 * surviving candidates with their final logits (for tests and tools). */
void lumi_sampler_apply(LumiSampler *s, const float *logits);
/* Apply the chain and draw one token. No allocation. */
int lumi_sample(LumiSampler *s, const float *logits);
int lumi_argmax(const float *x, int n);

#endif
