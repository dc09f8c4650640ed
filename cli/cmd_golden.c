/* cmd_golden.c: `lumi golden record|verify|merge CONFIG`. A quoted shard
 * pattern given to merge is expanded here, as lumi merge does. */
#include <glob.h>
#include <stdio.h>
#include <string.h>

#include "../experiments/golden.h"
#include "../experiments/shard.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi golden record [--force] CONFIG   store the reference logits + tokens of every prompt\n"
    "       lumi golden record [--force] CONFIG --shard I/N --dir DIR\n"
    "                                             only shard I of N of the prompts, into DIR\n"
    "       lumi golden merge [--force] CONFIG SHARD_DIR...\n"
    "                                             join the shards (DIRs, or a quoted pattern) into the\n"
    "                                             goldens folder: the files an unsharded record writes\n"
    "       lumi golden verify CONFIG             recompute and compare: exit 1 on drift, 2 on damaged\n"
    "                                             goldens or a config that differs from the recorded one\n"
    "  CONFIG is an equivalence config; goldens live in its `goldens:` folder (default goldens/<name>)\n"
    "  --force  replace existing goldens (record and merge refuse to otherwise)\n";

static int merge(const LumiYamlDoc *doc, int force, char **pats, int n) {
    glob_t g;
    memset(&g, 0, sizeof g);
    for (int i = 0; i < n; i++)
        if (glob(pats[i], (i ? GLOB_APPEND : 0) | GLOB_NOCHECK, NULL, &g) != 0) {
            cli_error("golden merge: %s: cannot expand", pats[i]);
            globfree(&g);
            return LUMI_EXIT_BAD;
        }
    LumiGoldenOpts o = {.merged_from = g.gl_pathv, .n_merged = (int)g.gl_pathc};
    int rc = lumi_golden_record(doc, force, &o);
    globfree(&g);
    return rc;
}

int cmd_golden(int argc, char **argv) {
    const char *verb = NULL, *config = NULL, *v;
    int force = 0, bad = 0, n_rest = 0;
    char **rest = NULL;
    LumiGoldenOpts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--shard")) {
            LumiErr e;
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_shard_parse(v, &o.shard_index, &o.shard_count, &e) != 0) {
                cli_error("%s", e.msg);
                return LUMI_EXIT_BAD;
            }
        } else if (!strcmp(a, "--dir")) {
            if (!(o.dir = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (a[0] == '-') {
            cli_error("golden: unknown option '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        } else if (!verb) {
            verb = a;
        } else if (!config) {
            config = a;
        } else {
            if (!rest) rest = &argv[i];
            if (rest + n_rest != &argv[i]) bad = 1; /* shard folders are the last arguments */
            n_rest++;
        }
    }
    int record = verb && !strcmp(verb, "record"), merging = verb && !strcmp(verb, "merge");
    if (!verb || !config || (!record && !merging && strcmp(verb, "verify") != 0) || (force && !record && !merging) ||
        bad || (n_rest && !merging) || (merging && !n_rest) || ((o.shard_count || o.dir) && !record)) {
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    if (!o.shard_count != !o.dir) {
        cli_error("golden record: --shard and --dir go together (a shard's goldens go to their own folder)");
        return LUMI_EXIT_BAD;
    }
    LumiYamlDoc doc;
    LumiErr e;
    if (lumi_yaml_load(config, &doc, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    int rc = record ? lumi_golden_record(&doc, force, &o) : merging ? merge(&doc, force, rest, n_rest) : lumi_golden_verify(&doc);
    lumi_yaml_free(&doc);
    return rc;
}
