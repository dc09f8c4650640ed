/* cmd_bench.c: `lumi bench`, llama-bench style throughput per path
 * (experiments/bench.h), from flags or from a `kind: bench` YAML config. */
#include <stdio.h>
#include <string.h>

#include "../experiments/bench.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi bench -m MODEL [--path SPEC]... [-p N_PROMPT] [-n N_GEN] [-r REPS] [--threads N]\n"
    "                  [-o OUT_ROOT] [--no-machine] [--allow-swap]\n"
    "       lumi bench --config configs/bench.yaml   (same as lumi run configs/bench.yaml)\n"
    "  -m MODEL      model file (repeatable: every model x every path)\n"
    "  --path SPEC   backend=..,cache=..,prefill=..,threads=N (repeatable; backend defaults to cpu)\n"
    "  -p N          prompt tokens for the prefill test ppN (default 512, or the context if smaller)\n"
    "  -n N          generated tokens for the decode test tgN (default 128, or what fits)\n"
    "  -r N          repetitions, reported as median and min-max (default 3)\n"
    "  --threads N   threads for every path (default: each path's own, 0 = all cores)\n"
    "  -o DIR        results go to DIR/<run id>/ (default results/bench)\n"
    "  --no-machine  skip the read-bandwidth and FMA-peak micro-benchmarks (and the decode run\n"
    "                timed token by token between bandwidth samples, which host paths get)\n"
    "  --allow-swap  run weights= tables larger than this machine's memory (refused otherwise)\n"
    "  a path's weights= dtype sets the bytes each token reads (MB/token) and so its bandwidth fraction\n";

static int int_flag(int argc, char **argv, int *i, long lo, long hi, int *dst) {
    const char *v = cli_value(argc, argv, i);
    long n;
    if (!v) return -1;
    if (lumi_parse_int(v, lo, hi, &n) != 0) {
        cli_error("%s: '%s' is not an integer in %ld..%ld", argv[*i - 1], v, lo, hi);
        return -1;
    }
    *dst = (int)n;
    return 0;
}

int cmd_bench(int argc, char **argv) {
    LumiBenchPlan p;
    lumi_bench_plan_default(&p);
    const char *config = NULL;
    int prompt_set = 0, gen_set = 0;
    int allow_swap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (p.n_models == (int)(sizeof p.models / sizeof p.models[0])) return cli_error("too many -m"), LUMI_EXIT_BAD;
            LumiBenchModel *m = &p.models[p.n_models++];
            snprintf(m->file, sizeof m->file, "%s", v);
            const char *base = strrchr(v, '/');
            snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : v);
        } else if (!strcmp(a, "--path")) {
            LumiErr e;
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (p.n_paths == (int)(sizeof p.paths / sizeof p.paths[0])) return cli_error("too many --path"), LUMI_EXIT_BAD;
            LumiPathSpec *s = &p.paths[p.n_paths++];
            lumi_path_default(s);
            snprintf(s->backend, sizeof s->backend, "cpu");
            if (lumi_path_parse(v, s, &e) != 0) return cli_error("--path: %s", e.msg), LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
            if (int_flag(argc, argv, &i, 1, 1 << 20, &p.n_prompt)) return LUMI_EXIT_BAD;
            prompt_set = 1;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            if (int_flag(argc, argv, &i, 1, 1 << 20, &p.n_gen)) return LUMI_EXIT_BAD;
            gen_set = 1;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) {
            if (int_flag(argc, argv, &i, 1, 64, &p.reps)) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--threads")) {
            if (int_flag(argc, argv, &i, 0, 1024, &p.threads)) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            snprintf(p.out_root, sizeof p.out_root, "%s", v);
        } else if (!strcmp(a, "--no-machine")) {
            p.skip_machine = 1;
        } else if (!strcmp(a, "--allow-swap")) {
            allow_swap = 1;
        } else if (!strcmp(a, "--config")) {
            if (!(config = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else {
            cli_error("bench: unknown option '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        }
    }
    if (config) {
        if (p.n_models || p.n_paths) return cli_error("bench: --config takes no -m or --path"), LUMI_EXIT_BAD;
        return cli_run_config(config, NULL, 0, "bench");
    }
    if (!p.n_models) {
        cli_error("bench: missing -m MODEL");
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    if (!p.n_paths) {
        lumi_path_default(&p.paths[0]);
        snprintf(p.paths[0].backend, sizeof p.paths[0].backend, "cpu");
        p.n_paths = 1;
    }
    LumiErr e;
    if (lumi_bench_fit_defaults(&p, prompt_set, gen_set, &e) != 0) return cli_error("bench: -m: %s", e.msg), LUMI_EXIT_BAD;
    for (int k = 0; k < p.n_paths; k++) p.paths[k].allow_swap = allow_swap;
    return lumi_bench_run(&p);
}
