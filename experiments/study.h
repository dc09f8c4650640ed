/* study.h: the `study` experiment: prompts x samplers x seeds on one path.
 *
 *   kind: study
 *   name: sampler-study          # results/<name>/<run id>/
 *   model: models/kjv1M.bin
 *   tokenizer: models/kjv512.bin
 *   prompts: ["In the beginning", "And the LORD said"]
 *   steps: 48                    # new tokens per sample at most
 *   path: {backend: ref, cache: fixed, prefill: batched}   # optional
 *   seeds: 10                    # seeds 0..9, or a list [1, 7, 42]
 *   output: results              # optional, the default
 *   history: false               # optional: history.jsonl, one line per step
 *   samplers:                    # each: a name and sampler settings by key (not seed)
 *     - {name: greedy, temperature: 0}
 *     - {name: nucleus, temperature: 1, top_p: 0.9}
 *
 * Self-contained config reading (study_config.c); the shared keys (model,
 * tokenizer, prompts, steps, output) mean the same as in other kinds. */
#ifndef LUMI_STUDY_H
#define LUMI_STUDY_H
#include "../paths/path.h"
#include "../paths/sampler/sampler.h"
#include "experiment.h"

typedef struct {
    char name[64];
    LumiSamplerCfg cfg;
} LumiStudySampler;

typedef struct {
    const char *name, *model, *tokenizer, *output; /* point into the YAML doc */
    const char **prompts;
    int n_prompts;
    int steps;
    LumiPathSpec path;
    LumiStudySampler *samplers;
    int n_samplers;
    uint64_t *seeds;
    int n_seeds;
    int history;
} LumiStudyCfg;

int lumi_study_cfg_read(const LumiYamlDoc *d, LumiStudyCfg *c, LumiErr *e);
void lumi_study_cfg_free(LumiStudyCfg *c);

extern const LumiExperimentKind lumi_kind_study;

#endif
