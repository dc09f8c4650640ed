/* topp.c: nucleus sampling. Keeps the smallest prefix of the candidates, by
 * probability descending (ties: lower id), whose cumulative probability
 * reaches top_p (>=, as llama.cpp), at least one token. Probabilities are
 * the softmax of the current candidates' logits (kept unnormalized: the
 * running weight is compared with top_p times their sum).
 * Why not sort: the nucleus is usually a small part of the vocabulary, so
 * the sorted prefix grows geometrically (64, 128, 256, ...) by partial
 * selection until the mass is reached: O(V) per step in the usual case. */
#include <math.h>

#include "stage.h"

static int active(const LumiSamplerCfg *c) { return c->top_p < 1.0f; }

static void apply(LumiSampler *s) {
    /* unnormalized weights against p * Z: one pass over the vocabulary fewer */
    float mx = lumi_cand_max(s);
    if (mx == -INFINITY) return;
    double z = 0;
    for (int i = 0; i < s->n; i++) z += s->cand[i].p = expf(s->cand[i].logit - mx);
    double target = s->cfg.top_p * z, cum = 0;
    int i = 0;
    for (int m = 64;; m *= 2) {
        lumi_cand_sort_prefix(s, m);
        for (; i < s->sorted; i++) {
            cum += s->cand[i].p;
            if (cum >= target) {
                lumi_cand_truncate(s, i + 1);
                return;
            }
        }
        if (s->sorted == s->n) return; /* rounding kept cum just below p: keep all */
    }
}

const LumiSamplerStage lumi_stage_top_p = {"top_p", active, apply};
