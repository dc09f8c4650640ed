/* topk.c: keep the k highest logits (ties: lower id first). Quickselect
 * plus a sort of the k kept, O(V + k log k), never a sort of the vocabulary.
 * k >= the candidates left is a no-op. */
#include "stage.h"

static int active(const LumiSamplerCfg *c) { return c->top_k > 0; }

static void apply(LumiSampler *s) {
    int k = s->cfg.top_k;
    if (k >= s->n) return;
    lumi_cand_sort_prefix(s, k);
    lumi_cand_truncate(s, k);
}

const LumiSamplerStage lumi_stage_top_k = {"top_k", active, apply};
