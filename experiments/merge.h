/* merge.h: `lumi merge OUT SHARD...`: joins the run folders of
 * `lumi run CONFIG --shard I/N` into the run folder one machine would have
 * written. It checks that the shards ran the same config (config.yaml
 * byte for byte), model (CRC-32) and lumi commit, that each completed, and
 * that together they hold every case of the config exactly once; then it
 * concatenates their logs (*.jsonl, in shard order) into OUT and lets the
 * kind complete OUT as a resumed run, which finds nothing left to compute
 * and writes the tables, plots and run.json (with "merged_from"). */
#ifndef LUMI_MERGE_H
#define LUMI_MERGE_H

/* Returns the exit code: 0 merged, 2 refused (messages printed); the
 * kind's own code otherwise (1: lumi check semantics do not apply). */
int lumi_merge(const char *out, char *const *shards, int n_shards);

#endif
