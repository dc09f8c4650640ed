/* sampler.c: the chain and the draw; see sampler.h for the contract. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"

/* The stages in llama.cpp's default order. */
static const LumiSamplerStage *const STAGES[] = {
    &lumi_stage_penalties, &lumi_stage_top_k, &lumi_stage_typical,
    &lumi_stage_top_p,     &lumi_stage_min_p, &lumi_stage_temperature,
};
#define N_STAGES ((int)(sizeof STAGES / sizeof STAGES[0]))

const LumiSamplerStage *lumi_stage_get(int i) { return STAGES[i]; }
int lumi_stage_count(void) { return N_STAGES; }
int lumi_stage_find(const char *name) {
    for (int i = 0; i < N_STAGES; i++)
        if (!strcmp(STAGES[i]->name, name)) return i;
    return -1;
}

/* Resolve the configured order into the stages that will run. A stage that
 * is configured on but missing from an explicit order is an error: silently
 * skipping it would make a study measure something else than it says. */
static int build_chain(LumiSampler *s, LumiErr *e) {
    int order[LUMI_STAGE_MAX], n = 0;
    if (s->cfg.order[0]) {
        if (lumi_sampler_order_parse(s->cfg.order, order, &n, e)) return -1;
    } else {
        for (int i = 0; i < N_STAGES; i++) order[n++] = i;
    }
    if (s->cfg.mirostat) {
        /* mirostat replaces truncation, as in llama.cpp */
        static const char *const trunc[] = {"top_k", "typical", "top_p", "min_p"};
        for (int i = 0; i < 4; i++)
            if (STAGES[lumi_stage_find(trunc[i])]->active(&s->cfg))
                return lumi_err(e, "mirostat replaces %s: set it to its neutral value", trunc[i]);
    }
    s->n_stages = 0;
    for (int i = 0; i < N_STAGES; i++) {
        int listed = 0;
        for (int j = 0; j < n; j++) listed |= order[j] == i;
        if (!listed && STAGES[i]->active(&s->cfg))
            return lumi_err(e, "order '%s' lacks '%s', which is configured on", s->cfg.order, STAGES[i]->name);
    }
    for (int j = 0; j < n; j++)
        if (STAGES[order[j]]->active(&s->cfg)) s->stages[s->n_stages++] = order[j];
    return 0;
}

int lumi_sampler_init(LumiSampler *s, const LumiSamplerCfg *c, int vocab, LumiErr *e) {
    memset(s, 0, sizeof *s);
    if (lumi_sampler_cfg_check(c, e)) return -1;
    if (vocab < 1) return lumi_err(e, "sampler: vocabulary size %d", vocab);
    s->cfg = *c;
    s->vocab = vocab;
    if (build_chain(s, e)) return -1;
    s->cand = lumi_xmalloc((size_t)vocab * sizeof *s->cand);
    s->counts = lumi_xcalloc((size_t)vocab, sizeof *s->counts);
    s->ring_len = c->penalty_last_n;
    s->ring = lumi_xmalloc((size_t)(s->ring_len ? s->ring_len : 1) * sizeof *s->ring);
    lumi_sampler_reset(s, c->seed);
    return 0;
}

void lumi_sampler_free(LumiSampler *s) {
    free(s->cand);
    free(s->counts);
    free(s->ring);
    s->cand = NULL;
    s->counts = s->ring = NULL;
}

void lumi_sampler_reset(LumiSampler *s, uint64_t seed) {
    s->cfg.seed = seed;
    lumi_rng_seed(&s->rng, seed);
    s->mu = 2.0f * s->cfg.mirostat_tau;
    for (int i = 0; i < s->ring_len; i++) s->ring[i] = -1;
    s->ring_pos = 0;
    memset(s->counts, 0, (size_t)s->vocab * sizeof *s->counts);
    memset(&s->info, 0, sizeof s->info);
}

void lumi_sampler_accept(LumiSampler *s, int token) {
    if (s->ring_len == 0 || token < 0 || token >= s->vocab) return;
    int old = s->ring[s->ring_pos];
    if (old >= 0) s->counts[old]--;
    s->ring[s->ring_pos] = token;
    s->counts[token]++;
    s->ring_pos = (s->ring_pos + 1) % s->ring_len;
}

int lumi_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i; /* strict: ties keep the lowest id */
    return best;
}

static int greedy(const LumiSampler *s) {
    return s->cfg.temperature == 0.0f;
}

void lumi_sampler_apply(LumiSampler *s, const float *logits) {
    for (int i = 0; i < s->vocab; i++) {
        float l = logits[i];
        s->cand[i] = (LumiCand){isnan(l) ? -INFINITY : l, 0.0f, 0.0f, i};
    }
    s->n = s->vocab;
    s->sorted = 0;
    for (int j = 0; j < s->n_stages; j++) {
        const LumiSamplerStage *st = STAGES[s->stages[j]];
        /* greedy runs the penalties only; mirostat never reaches truncation
         * (build_chain refused it) */
        if (greedy(s) && st != &lumi_stage_penalties) continue;
        st->apply(s);
    }
}

static int pick_best(const LumiSampler *s) {
    int best = 0;
    for (int i = 1; i < s->n; i++)
        if (lumi_cand_better(&s->cand[i], &s->cand[best])) best = i;
    return best;
}

/* Draw from softmax(logits) over cand[0..n), in list order, one RNG output.
 * Fills s->info. */
int lumi_draw(LumiSampler *s) {
    float mx = lumi_cand_max(s);
    if (mx == -INFINITY) { /* no finite logit: the lowest id, deterministically */
        int b = pick_best(s);
        s->info = (LumiSampleInfo){s->cand[b].id, 1.0, 0.0, s->n};
        return s->cand[b].id;
    }
    double z = 0, zl = 0;
    for (int i = 0; i < s->n; i++) {
        float d = s->cand[i].logit - mx;
        float w = expf(d);
        s->cand[i].p = w;
        z += w;
        if (w > 0) zl += (double)w * d;
    }
    double r = lumi_rng_f64(&s->rng) * z, cum = 0;
    int pick = -1;
    for (int i = 0; i < s->n; i++) {
        if (s->cand[i].p == 0) continue;
        pick = i; /* the last possible one, should rounding leave r >= cum */
        cum += s->cand[i].p;
        if (r < cum) break;
    }
    s->info.id = s->cand[pick].id;
    s->info.p = s->cand[pick].p / z;
    s->info.entropy = log(z) - zl / z;
    s->info.kept = s->n;
    return s->info.id;
}

int lumi_sample(LumiSampler *s, const float *logits) {
    if (greedy(s) && s->n_stages == 0) { /* plain argmax: skip building the list */
        int b = 0;
        float best = -INFINITY;
        for (int i = 0; i < s->vocab; i++)
            if (logits[i] > best) best = logits[i], b = i; /* NaN never wins, ties keep the lowest id */
        s->info = (LumiSampleInfo){b, 1.0, 0.0, 1};
        return b;
    }
    lumi_sampler_apply(s, logits);
    if (greedy(s)) {
        int b = pick_best(s);
        s->info = (LumiSampleInfo){s->cand[b].id, 1.0, 0.0, 1};
        return s->cand[b].id;
    }
    if (s->cfg.mirostat) return lumi_mirostat_draw(s);
    return lumi_draw(s);
}
