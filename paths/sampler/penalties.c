/* penalties.c: repetition, presence and frequency penalties over the last
 * penalty_last_n accepted tokens, exactly llama.cpp's formula: for a token
 * seen `count` > 0 times,
 *   logit = logit <= 0 ? logit * repeat : logit / repeat
 *   logit -= count * frequency + presence
 * Tokens never seen keep their logit bit for bit. Counts are kept
 * incrementally by lumi_sampler_accept, so this stage is one pass. */
#include "stage.h"

static int active(const LumiSamplerCfg *c) {
    return c->penalty_last_n > 0 &&
           (c->repeat_penalty != 1.0f || c->presence_penalty != 0.0f || c->frequency_penalty != 0.0f);
}

static void apply(LumiSampler *s) {
    const LumiSamplerCfg *c = &s->cfg;
    int changed = 0;
    for (int i = 0; i < s->n; i++) {
        int k = s->counts[s->cand[i].id];
        if (k == 0) continue;
        float l = s->cand[i].logit;
        if (c->repeat_penalty != 1.0f) l = l <= 0 ? l * c->repeat_penalty : l / c->repeat_penalty;
        l -= (float)k * c->frequency_penalty + c->presence_penalty;
        s->cand[i].logit = l;
        changed = 1;
    }
    if (changed) s->sorted = 0; /* the order may have changed */
}

const LumiSamplerStage lumi_stage_penalties = {"penalties", active, apply};
