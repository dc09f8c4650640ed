/* temperature.c: logits divided by the temperature (> 0; 0 means greedy
 * and is handled by the chain, which never runs this stage then). Division
 * by a positive number keeps the order, so a sorted prefix stays sorted. */
#include "stage.h"

static int active(const LumiSamplerCfg *c) { return c->temperature > 0.0f && c->temperature != 1.0f; }

static void apply(LumiSampler *s) {
    float t = s->cfg.temperature;
    for (int i = 0; i < s->n; i++) s->cand[i].logit /= t;
}

const LumiSamplerStage lumi_stage_temperature = {"temperature", active, apply};
