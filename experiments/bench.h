/* bench.h: `lumi bench` and the `bench` experiment kind. For every model x
 * path it measures prefill (pp N: an N-token prompt in the path's prefill
 * strategy) and decode (tg N: N greedy tokens one at a time after a BOS)
 * throughput over repetitions, like llama-bench, plus peak RSS; and once per
 * run the machine's streaming read bandwidth and FMA peak, so each figure is
 * also reported as a fraction of what the hardware allows. Results go to
 * OUT/<run id>/bench.{csv,json} and, when gnuplot is installed, bench.png
 * (with its bench.gp beside it). */
#ifndef LUMI_BENCH_H
#define LUMI_BENCH_H
#include <stdio.h>

#include "../paths/path.h"
#include "experiment.h"

typedef struct {
    char name[64];    /* label in the table */
    char file[1024];  /* the model file */
} LumiBenchModel;

typedef struct {
    LumiBenchModel models[16];
    int n_models;
    LumiPathSpec paths[32];
    int n_paths;
    int n_prompt, n_gen, reps;
    int threads;          /* >= 0: overrides every path's threads; -1 keeps them */
    char out_root[1024];  /* default results/bench */
    int skip_machine;     /* skip the bandwidth/FMA micro-benchmarks (tests) */
    const unsigned char *take; /* [n_models * n_paths]: measure only these (a shard); NULL: all */
    const char *run_dir;  /* write here instead of out_root/<run id> */
    FILE *log;            /* when set, each result is appended as one JSON line (the kind's cases.jsonl) */
} LumiBenchPlan;

void lumi_bench_plan_default(LumiBenchPlan *p);
/* Runs the plan, prints the table; returns the process exit code. */
int lumi_bench_run(const LumiBenchPlan *p);
/* The same; the run folder it wrote goes to dir_out (left as is on exit 2). */
int lumi_bench_run_dir(const LumiBenchPlan *p, char *dir_out, size_t dir_n);
/* Reads a `kind: bench` YAML document into a plan, synthesizing the models
 * it describes into its cache folder on first use. */
int lumi_bench_from_yaml(const LumiYamlDoc *d, LumiBenchPlan *p, LumiErr *e);
/* Loads every model of the plan (an error names the file). The default
 * sizes (pp512, tg128) are for real models: those the user did not set
 * (prompt_set/gen_set 0) shrink to fit the smallest context among the
 * models, saying so on stderr. Sizes the user set stay, and lumi_bench_run
 * refuses them when they do not fit. */
int lumi_bench_fit_defaults(LumiBenchPlan *p, int prompt_set, int gen_set, LumiErr *e);

/* Machine micro-benchmarks (experiments/bench_machine.c), on `threads`
 * threads (0: all cores), with the best SIMD kernels this CPU has. */
typedef struct {
    double read_gbs;      /* streaming read bandwidth, GB/s (1e9 bytes) */
    double fma_gflops;    /* FMA throughput peak, GFLOP/s */
    int threads;
    char isa[16];
    size_t buffer_bytes;
    /* lumi_bench_run samples the machine before, between and after the
     * paths; read_gbs/fma_gflops are the best sample, these the worst. */
    double read_gbs_min, fma_gflops_min;
    int samples;
    double loadavg;       /* 1-minute load average when the run started */
} LumiMachine;
/* One sample (best of a few tries of each micro-benchmark). */
void lumi_bench_machine(LumiMachine *m, int threads);
/* A read-bandwidth probe that keeps its buffer and threads between samples,
 * so that a sample can be taken next to each decoded token (the host's
 * bandwidth changes by half within seconds; a fraction is only meaningful
 * against a sample taken at the same time). bytes should be several times
 * the last-level cache. lumi_bw_probe: the best of `tries` passes, GB/s. */
typedef struct LumiBwProbe LumiBwProbe;
LumiBwProbe *lumi_bw_probe_new(int threads, size_t bytes);
double lumi_bw_probe(LumiBwProbe *p, int tries);
int lumi_bw_probe_threads(const LumiBwProbe *p);
void lumi_bw_probe_free(LumiBwProbe *p);
/* Decode timed token by token with a read-bandwidth sample between every
 * two tokens (`lumi bench` does this for host backends when it measures the
 * machine). Each token's fraction is the bytes it read over its time,
 * against the better of the samples just before and after it. The tokens
 * are split into the host's two bandwidth levels at the geometric mean of
 * the 10th and 90th percentile samples when those differ by 25% or more;
 * [0] is the higher level, and n[1] == 0 when there was one level. */
typedef struct {
    int tokens;                /* tokens timed; 0: not measured */
    double frac;               /* median fraction over all of them */
    int n[2];                  /* tokens per level */
    double gbs[2], frac_of[2]; /* median sample and median fraction per level */
} LumiPaired;
/* From gbs[0..n] (sample i taken before token i) and sec[0..n-1] (token i's
 * time), for tokens of `bytes` each. */
void lumi_bench_paired(const double *gbs, const double *sec, int n, double bytes, LumiPaired *out);
/* bench.json's "machine" object (no trailing comma). */
void lumi_bench_machine_json(FILE *f, const LumiMachine *mc);
/* bench.dat, bench.gp and bench.png in dir: pp and tg tok/s of each
 * labelled row; 1 (nothing drawn) when gnuplot is not installed. */
int lumi_bench_plot(const char *dir, const LumiBenchPlan *p, char *const *labels, const double *pp, const double *tg,
                    int n, LumiErr *e);

extern const LumiExperimentKind lumi_kind_bench;

#endif
