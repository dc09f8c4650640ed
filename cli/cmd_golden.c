/* cmd_golden.c: `lumi golden record|verify CONFIG`. */
#include <stdio.h>
#include <string.h>

#include "../experiments/golden.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi golden record CONFIG   store the reference logits + tokens of every prompt\n"
    "       lumi golden verify CONFIG   recompute and compare: exit 1 on drift, 2 on damaged goldens\n"
    "  CONFIG is an equivalence config; goldens live in its `goldens:` folder (default goldens/<name>)\n";

int cmd_golden(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(USAGE, stdout);
        return LUMI_EXIT_OK;
    }
    if (argc != 3 || (strcmp(argv[1], "record") != 0 && strcmp(argv[1], "verify") != 0)) {
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    LumiYamlDoc doc;
    LumiErr e;
    if (lumi_yaml_load(argv[2], &doc, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    int rc = !strcmp(argv[1], "record") ? lumi_golden_record(&doc) : lumi_golden_verify(&doc);
    lumi_yaml_free(&doc);
    return rc;
}
