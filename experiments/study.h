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
 * The shared keys (name, model incl. synth:, tokenizer, prompts as text,
 * {file:} or {ids:}, steps, bos, stop_at_eos, output) are read by
 * lumi_config_common exactly as for the other kinds; `sampler:` is refused
 * in favour of the `samplers:` list. */
#ifndef LUMI_STUDY_H
#define LUMI_STUDY_H
#include "../paths/path.h"
#include "../paths/sampler/sampler.h"
#include "config.h"
#include "experiment.h"

typedef struct {
    char name[64];
    LumiSamplerCfg cfg;
} LumiStudySampler;

typedef struct {
    LumiExpCommon common;   /* name, model, tokenizer, prompts, steps, output */
    const char *name, *output; /* = common.name, common.output */
    int n_prompts, steps;      /* = common.n_prompts, common.steps */
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
