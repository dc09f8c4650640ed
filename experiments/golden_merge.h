/* golden_merge.h: the shards of a sharded `lumi golden record` (each a
 * goldens folder holding its prompts only, with config.yaml and a run.json
 * naming its shard), checked to be one record and read back prompt by
 * prompt, so that `lumi golden merge` writes the config's goldens folder
 * through the same writer as an unsharded record (byte-identical files). */
#ifndef LUMI_GOLDEN_MERGE_H
#define LUMI_GOLDEN_MERGE_H
#include "config.h"
#include "inputs.h"
#include "trace.h"
#include "yaml.h"

typedef struct {
    int n;                        /* shard folders */
    char *const *dirs;            /* [n] */
    LumiYamlDoc *manifests;       /* [n] */
    int *have;                    /* [n] manifest loaded */
    int *owner;                   /* [n_prompts] slot in dirs of the prompt's shard */
    const LumiYamlNode **entry;   /* [n_prompts] its manifest entry */
    int n_prompts;
} LumiGoldenShards;

/* Checks that dirs are shards 1..N of one record of config_path (same
 * config bytes, model CRC-32 and lumi commit, each complete) holding every
 * prompt of c exactly once; every problem is printed, then -1. */
int lumi_golden_shards_load(const char *config_path, const LumiEquivConfig *c, const LumiExpInputs *in,
                            char *const *dirs, int n, LumiGoldenShards *s, LumiErr *e);
/* Prompt p as its shard recorded it: logits (the .npy.gz, checked against
 * the manifest's shape and CRC-32; at most max_rows positions) and tokens, as a trace. */
int lumi_golden_shard_trace(const LumiGoldenShards *s, int p, int vocab, int max_rows, LumiTrace *t, LumiErr *e);
void lumi_golden_shards_free(LumiGoldenShards *s);

#endif
