/* mirostat.c: mirostat v2 (Basu et al. 2021), as llama.cpp implements it.
 * Keeps the candidates whose surprise -log2 p is at most mu (p >= 2^-mu;
 * the most likely token if none is), draws among them in proportion to
 * their renormalized probability, then moves mu toward the target surprise:
 *   mu -= eta * (-log2 p_drawn_renormalized - tau)
 * mu starts at 2 * tau (lumi_sampler_reset). The list is not sorted: the
 * threshold is a filter, so this stage is O(V). */
#include <math.h>

#include "stage.h"

int lumi_mirostat_draw(LumiSampler *s) {
    lumi_cand_softmax(s);
    double thr = exp2(-(double)s->mu);
    int k = 0, best = 0;
    for (int i = 0; i < s->n; i++) {
        if (lumi_cand_better(&s->cand[i], &s->cand[best])) best = i;
        if ((double)s->cand[i].p >= thr) s->cand[k++] = s->cand[i];
    }
    if (k == 0) {
        s->cand[0] = s->cand[best]; /* best is still intact: nothing was written */
        k = 1;
    }
    s->n = k;
    s->sorted = 0;
    int id = lumi_draw(s);
    double surprise = -log2(s->info.p);
    s->mu -= s->cfg.mirostat_eta * (float)(surprise - s->cfg.mirostat_tau);
    return id;
}
