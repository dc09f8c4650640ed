/* stage.h: the sampler's stages (one file each) and the candidate-list
 * helpers they share. Internal to paths/sampler/. */
#ifndef LUMI_SAMPLER_STAGE_H
#define LUMI_SAMPLER_STAGE_H
#include "sampler.h"

typedef struct {
    const char *name; /* the key in `order` */
    /* 1 when the config turns this stage on (non-neutral values) */
    int (*active)(const LumiSamplerCfg *c);
    void (*apply)(LumiSampler *s);
} LumiSamplerStage;

extern const LumiSamplerStage lumi_stage_penalties, lumi_stage_top_k, lumi_stage_typical, lumi_stage_top_p,
    lumi_stage_min_p, lumi_stage_temperature;

/* The stage table in default order (sampler.c). */
const LumiSamplerStage *lumi_stage_get(int i);
int lumi_stage_count(void);
int lumi_stage_find(const char *name);

/* Mirostat v2: truncates by surprise, draws, updates mu (mirostat.c). */
int lumi_mirostat_draw(LumiSampler *s);
/* Draws from the softmax of cand[0..n), one RNG output; fills s->info (sampler.c). */
int lumi_draw(LumiSampler *s);
/* Range checks of every setting; "a,b" stage order -> indices (config.c). */
int lumi_sampler_cfg_check(const LumiSamplerCfg *c, LumiErr *e);
int lumi_sampler_order_parse(const char *order, int *idx, int *n, LumiErr *e);

/* The total order on candidates: higher logit first, then lower id. */
static inline int lumi_cand_better(const LumiCand *a, const LumiCand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Make cand[0..m) the best m candidates in order (m clamped to n), by
 * quickselect of the unsorted tail plus a sort of only the selected part;
 * grows s->sorted. Never a full sort unless m = n. */
void lumi_cand_sort_prefix(LumiSampler *s, int m);
/* Partial selection by aux ascending (ties: lower id) of the best m of
 * cand[0..n), sorted; for stages that rank by something other than logit. */
void lumi_cand_sort_prefix_aux(LumiCand *c, int n, int m);
/* Max logit among the candidates (cand[0] when sorted). */
float lumi_cand_max(const LumiSampler *s);
/* p = exp(logit - max) / Z for every candidate; returns log Z (natural)
 * relative to max. Sums in double, in list order. */
double lumi_cand_softmax(LumiSampler *s);
/* Keep cand[0..k) (the caller arranged them first). */
void lumi_cand_truncate(LumiSampler *s, int k);

#endif
