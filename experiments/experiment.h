/* experiment.h: experiment kinds. A YAML experiment names its `kind`; each
 * kind (generate, equivalence, study, bench) is one entry in the registry in
 * experiments/kinds.c and one run function in its own file. */
#ifndef LUMI_EXPERIMENT_H
#define LUMI_EXPERIMENT_H
#include "yaml.h"

typedef struct {
    const char *config_path;  /* the YAML file */
    const char *resume_dir;   /* lumi run --resume DIR, else NULL */
    int check;                /* lumi check: violations exit 1 */
} LumiRunOpts;

typedef struct {
    const char *name;
    const char *doc;
    /* Runs the experiment described by doc; returns the process exit code
     * (0 ok, 1 a check failed, 2 bad input) with messages already printed. */
    int (*run)(const LumiYamlDoc *doc, const LumiRunOpts *o);
} LumiExperimentKind;

const LumiExperimentKind *lumi_experiment_find(const char *kind);
void lumi_experiment_names(char *buf, size_t n);

#endif
