/* sampler.c: see sampler.h. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>

void lumi_sampler_cfg_default(LumiSamplerCfg *c) {
    c->temperature = 0.0f;
    c->top_k = 0;
    c->top_p = 1.0f;
    c->seed = 0;
}

int lumi_sampler_init(LumiSampler *s, const LumiSamplerCfg *c, int vocab, LumiErr *e) {
    if (!(c->temperature >= 0) || !isfinite(c->temperature)) return lumi_err(e, "temperature must be >= 0");
    if (c->top_k < 0) return lumi_err(e, "top-k must be >= 0");
    if (!(c->top_p > 0 && c->top_p <= 1)) return lumi_err(e, "top-p must be in (0, 1]");
    s->cfg = *c;
    s->vocab = vocab;
    lumi_rng_seed(&s->rng, c->seed);
    s->probs = lumi_xmalloc((size_t)vocab * sizeof(float));
    s->cand = lumi_xmalloc((size_t)vocab * sizeof *s->cand);
    return 0;
}

void lumi_sampler_free(LumiSampler *s) {
    free(s->probs);
    free(s->cand);
    s->probs = NULL;
    s->cand = NULL;
}

int lumi_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i; /* strict: ties keep the lowest id */
    return best;
}

/* descending probability, ascending id on ties: a total order, so the
 * result never depends on qsort's stability */
static int cmp_desc(const void *a, const void *b) {
    const struct LumiCand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

int lumi_sample(LumiSampler *s, const float *logits) {
    int V = s->vocab;
    if (s->cfg.temperature == 0.0f) return lumi_argmax(logits, V);
    float mx = logits[lumi_argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        float p = expf((logits[i] - mx) / s->cfg.temperature);
        s->cand[i] = (struct LumiCand){p, i};
        sum += p;
    }
    int n = V;
    if ((s->cfg.top_k > 0 && s->cfg.top_k < V) || s->cfg.top_p < 1.0f) {
        qsort(s->cand, (size_t)V, sizeof *s->cand, cmp_desc);
        if (s->cfg.top_k > 0 && s->cfg.top_k < n) n = s->cfg.top_k;
        if (s->cfg.top_p < 1.0f) {
            double cum = 0;
            int k = 0;
            while (k < n) {
                cum += s->cand[k++].p / sum;
                if (cum >= s->cfg.top_p) break;
            }
            n = k;
        }
        sum = 0;
        for (int i = 0; i < n; i++) sum += s->cand[i].p;
    }
    double r = lumi_rng_f64(&s->rng) * sum, cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->cand[i].p;
        if (r < cum) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}
