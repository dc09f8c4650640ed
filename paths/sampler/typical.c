/* typical.c: locally typical sampling (Meister et al. 2022), as llama.cpp:
 * with H the entropy of the softmax of the candidates, rank tokens by
 * |-log p - H| ascending (ties: lower id) and keep the shortest prefix whose
 * mass exceeds typical_p (>, as llama.cpp), at least one token. The list
 * then stands in that typicality order, not by logit.
 * The ranking grows geometrically by partial selection, as top_p does. */
#include <math.h>

#include "stage.h"

static int active(const LumiSamplerCfg *c) { return c->typical_p < 1.0f; }

static void apply(LumiSampler *s) {
    lumi_cand_softmax(s);
    double h = 0;
    for (int i = 0; i < s->n; i++) { /* aux = surprise -ln p, one log per token */
        float p = s->cand[i].p;
        s->cand[i].aux = p > 0 ? -logf(p) : INFINITY;
        if (p > 0) h += (double)p * s->cand[i].aux;
    }
    for (int i = 0; i < s->n; i++) s->cand[i].aux = fabsf(s->cand[i].aux - (float)h);
    s->sorted = 0;
    double cum = 0;
    int i = 0, done = 0;
    for (int m = 64;; m *= 2) {
        if (m > s->n) m = s->n;
        lumi_cand_sort_prefix_aux(s->cand + done, s->n - done, m - done);
        done = m;
        for (; i < done; i++) {
            cum += s->cand[i].p;
            if (cum > s->cfg.typical_p) {
                lumi_cand_truncate(s, i + 1);
                return;
            }
        }
        if (done == s->n) return;
    }
}

const LumiSamplerStage lumi_stage_typical = {"typical", active, apply};
