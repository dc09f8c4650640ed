/* minp.c: keep the tokens whose probability is at least min_p times the
 * most likely one's. In logit space: logit >= max + log(min_p), so no
 * softmax and no sort: one stable compaction pass. */
#include <math.h>

#include "stage.h"

static int active(const LumiSamplerCfg *c) { return c->min_p > 0.0f; }

static void apply(LumiSampler *s) {
    float mx = lumi_cand_max(s);
    if (mx == -INFINITY) return;
    float thr = mx + logf(s->cfg.min_p);
    int k = 0, kept_sorted = 0;
    for (int i = 0; i < s->n; i++) {
        if (!(s->cand[i].logit >= thr)) continue;
        if (i < s->sorted) kept_sorted++; /* the kept set is a top set: a sorted prefix stays one */
        s->cand[k++] = s->cand[i];
    }
    s->n = k; /* never 0: the max itself passes */
    s->sorted = kept_sorted;
}

const LumiSamplerStage lumi_stage_min_p = {"min_p", active, apply};
