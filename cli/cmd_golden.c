/* cmd_golden.c: `lumi golden record|verify CONFIG`. */
#include <stdio.h>
#include <string.h>

#include "../experiments/golden.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi golden record [--force] CONFIG   store the reference logits + tokens of every prompt\n"
    "       lumi golden verify CONFIG             recompute and compare: exit 1 on drift, 2 on damaged\n"
    "                                             goldens or a config that differs from the recorded one\n"
    "  CONFIG is an equivalence config; goldens live in its `goldens:` folder (default goldens/<name>)\n"
    "  --force  replace existing goldens (record refuses to otherwise)\n";

int cmd_golden(int argc, char **argv) {
    const char *verb = NULL, *config = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (a[0] == '-') {
            cli_error("golden: unknown option '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        } else if (!verb) {
            verb = a;
        } else if (!config) {
            config = a;
        } else {
            verb = NULL; /* too many arguments */
            break;
        }
    }
    if (!verb || !config || (strcmp(verb, "record") != 0 && strcmp(verb, "verify") != 0) ||
        (force && strcmp(verb, "record") != 0)) {
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    LumiYamlDoc doc;
    LumiErr e;
    if (lumi_yaml_load(config, &doc, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    int rc = !strcmp(verb, "record") ? lumi_golden_record(&doc, force) : lumi_golden_verify(&doc);
    lumi_yaml_free(&doc);
    return rc;
}
