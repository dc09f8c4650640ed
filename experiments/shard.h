/* shard.h: splitting an experiment into shards, and the case lists that
 * sharding and merging share.
 *
 * Every kind that can be sharded lists its cases in run order (a key that
 * names the case, and an estimated cost). `lumi run --shard I/N` runs the
 * cases that lumi_shard_plan gives shard I; `lumi merge` checks that the
 * shards' logs hold every key of the list exactly once. The plan depends
 * only on the list, so every task of a job array computes the same one. */
#ifndef LUMI_SHARD_H
#define LUMI_SHARD_H
#include <stddef.h>

#include "../engine/util.h"

typedef struct {
    char key[256]; /* e.g. "prompt=bos path=backend=ref,..." */
    double cost;   /* estimated work, in token-forwards */
} LumiCase;

typedef struct {
    LumiCase *v;
    int n;
} LumiCaseList;

void lumi_cases_add(LumiCaseList *l, double cost, const char *fmt, ...) LUMI_PRINTF(3, 4);
void lumi_cases_free(LumiCaseList *l);
/* A run over `positions` positions: one forward row each, except that
 * cache=none recomputes the whole prefix at every step (quadratic). */
double lumi_case_cost(int positions, const char *cache);

typedef struct {
    int index, count; /* 1-based index of count; count 0: the whole run */
    int *owner;       /* [n] 1-based shard of each case */
    int n;
} LumiShardPlan;

/* "I/N" with 1 <= I <= N <= 100000. */
int lumi_shard_parse(const char *s, int *index, int *count, LumiErr *e);
/* Balances by cost: cases in decreasing cost (ties: list order) each go to
 * the least loaded shard (ties: the lowest index). count 0 takes all. */
void lumi_shard_plan(LumiShardPlan *p, const LumiCaseList *cases, int index, int count);
/* Whether case i (of the list) belongs to this shard. */
int lumi_shard_take(const LumiShardPlan *p, int i);
int lumi_shard_size(const LumiShardPlan *p);
void lumi_shard_free(LumiShardPlan *p);

/* The shard a run folder was started as (run.json's "shard"), or 0/0. */
int lumi_shard_of_run(const char *dir, int *index, int *count, LumiErr *e);

#endif
