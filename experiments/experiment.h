/* experiment.h: experiment kinds. A YAML experiment names its `kind`; each
 * kind (generate, equivalence, study, bench) is one entry in the registry in
 * experiments/kinds.c and one run function in its own file. */
#ifndef LUMI_EXPERIMENT_H
#define LUMI_EXPERIMENT_H
#include "shard.h"
#include "yaml.h"

typedef struct {
    const char *config_path;  /* the YAML file */
    const char *resume_dir;   /* lumi run --resume DIR, else NULL */
    int check;                /* lumi check: violations exit 1 */
    int shard_index, shard_count; /* --shard I/N; 0/0: the whole run */
    const char *run_dir;      /* --dir DIR: this exact (new) run folder */
    char *const *merged_from; /* lumi merge: the shard folders, recorded in run.json */
    int n_merged;
} LumiRunOpts;

typedef struct {
    const char *name;
    const char *doc;
    /* Runs the experiment described by doc; returns the process exit code
     * (0 ok, 1 a check failed, 2 bad input) with messages already printed. */
    int (*run)(const LumiYamlDoc *doc, const LumiRunOpts *o);
    /* Kinds that can be sharded and merged (NULL otherwise): the case list
     * in run order (loads the inputs it needs), the key of one record of
     * the kind's log (0 if the record is not a case, e.g. a reference run),
     * and the log's file name in the run folder. */
    int (*cases)(const LumiYamlDoc *doc, LumiCaseList *out, LumiErr *e);
    int (*case_key)(const LumiYamlNode *rec, char *buf, size_t n);
    const char *log_name;
} LumiExperimentKind;

const LumiExperimentKind *lumi_experiment_find(const char *kind);
void lumi_experiment_names(char *buf, size_t n);

#endif
