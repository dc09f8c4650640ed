/* cmd_run.c: `lumi run CONFIG [--resume DIR]` runs any experiment kind;
 * `lumi check CONFIG` runs an equivalence experiment and exits 1 on any
 * violation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../experiments/experiment.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi run CONFIG [--shard I/N] [--dir DIR]\n"
    "       lumi run --resume DIR          (runs DIR/config.yaml, the copy made at the start)\n"
    "       lumi check CONFIG              (equivalence and chat experiments: exit 1 on any violation)\n"
    "  results go to <output>/<name>/<run id>/ (output defaults to results), or to DIR with --dir\n"
    "  --shard I/N   run only shard I of N (a cost-balanced split of the cases; lumi merge joins them;\n"
    "                a resumed shard keeps the shard recorded in its run.json)\n";

/* A resumed run must use the config it started with. */
static int same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    LumiErr e;
    if (lumi_read_file(a, &x, &nx, &e) != 0) return 0;
    if (lumi_read_file(b, &y, &ny, &e) != 0) {
        free(x);
        return 0;
    }
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

int cli_run_config(const char *config, const char *resume, int check, const char *want_kind) {
    LumiRunOpts o = {.resume_dir = resume, .check = check};
    return cli_run_opts(config, &o, want_kind);
}

int cli_run_opts(const char *config, const LumiRunOpts *opts, const char *want_kind) {
    const char *resume = opts->resume_dir;
    char copy[600];
    if (resume) {
        snprintf(copy, sizeof copy, "%s/config.yaml", resume);
        if (!config) config = copy;
        else if (!same_file(config, copy)) {
            cli_error("--resume %s: %s differs from the config that run started with (%s)", resume, config, copy);
            return LUMI_EXIT_BAD;
        }
    }
    LumiYamlDoc doc;
    LumiErr e;
    if (lumi_yaml_load(config, &doc, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    const char *kind = NULL;
    if (lumi_yaml_expect(&doc, doc.root, LUMI_Y_MAP, "the config", &e) != 0 ||
        lumi_yaml_str(&doc, doc.root, "kind", 1, &kind, &e) != 0) {
        cli_error("%s", e.msg);
        lumi_yaml_free(&doc);
        return LUMI_EXIT_BAD;
    }
    const LumiExperimentKind *k = lumi_experiment_find(kind);
    int rc = LUMI_EXIT_BAD;
    if (!k) {
        char names[256];
        lumi_experiment_names(names, sizeof names);
        const LumiYamlNode *n = lumi_yaml_get(doc.root, "kind");
        cli_error("%s:%d:%d: unknown kind '%s' (valid: %s)", config, n->line, n->col, kind, names);
    } else if ((opts->shard_count || opts->run_dir) && !k->cases) {
        cli_error("%s: kind %s cannot be sharded (--shard, --dir)", config, kind);
    } else if (want_kind && strcmp(kind, want_kind) != 0 && !(opts->check && !strcmp(kind, "chat"))) {
        cli_error("%s: this command needs kind: %s, got '%s'", config, want_kind, kind);
    } else {
        LumiRunOpts o = *opts;
        o.config_path = config;
        rc = k->run(&doc, &o);
    }
    lumi_yaml_free(&doc);
    return rc;
}

/* A resumed shard stays the shard it was: run.json says which. */
static int resume_shard(LumiRunOpts *o) {
    int i, n;
    LumiErr e;
    if (lumi_shard_of_run(o->resume_dir, &i, &n, &e) != 0) {
        cli_error("--resume %s: %s", o->resume_dir, e.msg);
        return -1;
    }
    if (!n) return 0; /* killed before its run.json: the --shard given (the job script passes it) */
    if (o->shard_count && (o->shard_index != i || o->shard_count != n)) {
        cli_error("--resume %s: that run is shard %d/%d, not %d/%d", o->resume_dir, i, n, o->shard_index,
                  o->shard_count);
        return -1;
    }
    o->shard_index = i, o->shard_count = n;
    return 0;
}

static int parse(int argc, char **argv, int check) {
    const char *config = NULL, *resume = NULL, *v;
    LumiRunOpts o = {.check = check};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!check && !strcmp(a, "--resume")) {
            if (!(resume = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!check && !strcmp(a, "--shard")) {
            LumiErr e;
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_shard_parse(v, &o.shard_index, &o.shard_count, &e) != 0) {
                cli_error("%s", e.msg);
                return LUMI_EXIT_BAD;
            }
        } else if (!check && !strcmp(a, "--dir")) {
            if (!(o.run_dir = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (a[0] == '-' || config) {
            cli_error("%s: unexpected argument '%s'", argv[0], a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        } else {
            config = a;
        }
    }
    if (!config && !resume) {
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    if (resume && o.run_dir) {
        cli_error("--dir and --resume: the resumed run stays in its own folder");
        return LUMI_EXIT_BAD;
    }
    o.resume_dir = resume;
    if (resume && resume_shard(&o) != 0) return LUMI_EXIT_BAD;
    return cli_run_opts(config, &o, check ? "equivalence" : NULL);
}

int cmd_run(int argc, char **argv) { return parse(argc, argv, 0); }
int cmd_check(int argc, char **argv) { return parse(argc, argv, 1); }
