/* sampler.h: turning a row of logits into the next token.
 * Greedy when temperature is 0 (ties go to the lowest id); otherwise the
 * logits are divided by the temperature, optionally truncated to the top-k
 * and the top-p nucleus, and one token is drawn with the run's seeded RNG. */
#ifndef LUMI_SAMPLER_H
#define LUMI_SAMPLER_H
#include <stdint.h>
#include "../../engine/util.h"

typedef struct {
    float temperature; /* 0: greedy */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off */
    uint64_t seed;
} LumiSamplerCfg;

void lumi_sampler_cfg_default(LumiSamplerCfg *c); /* greedy, no truncation, seed 0 */

typedef struct {
    LumiSamplerCfg cfg;
    LumiRng rng;
    int vocab;
    float *probs;  /* [vocab] scratch */
    struct LumiCand { float p; int id; } *cand; /* [vocab] scratch */
} LumiSampler;

int lumi_sampler_init(LumiSampler *s, const LumiSamplerCfg *c, int vocab, LumiErr *e);
void lumi_sampler_free(LumiSampler *s);
int lumi_sample(LumiSampler *s, const float *logits);
int lumi_argmax(const float *x, int n);

#endif
