/* cmd_merge.c: `lumi merge OUT_DIR SHARD_DIR...` (experiments/merge.h). A
 * quoted pattern (results/x/shard-*) is expanded here, for job scripts
 * that pass one argument. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../experiments/merge.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi merge OUT_DIR SHARD_DIR...   (or a quoted pattern: 'results/x/shard-*')\n"
    "  joins the run folders of lumi run CONFIG --shard I/N (I = 1..N) into OUT_DIR, a new folder:\n"
    "  the tables, plots and run.json one unsharded run would have written. Refused (exit 2, naming\n"
    "  each missing or duplicate case) unless the shards ran the same config, model and lumi commit,\n"
    "  each completed, and together hold every case exactly once.\n";

int cmd_merge(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else if (argv[i][0] == '-') {
            cli_error("merge: unexpected option '%s'", argv[i]);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        }
    if (argc < 3) {
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    glob_t g;
    memset(&g, 0, sizeof g);
    int flags = 0;
    for (int i = 2; i < argc; i++) {
        int r = glob(argv[i], flags | GLOB_NOCHECK, NULL, &g);
        if (r != 0) {
            cli_error("merge: %s: cannot expand", argv[i]);
            globfree(&g);
            return LUMI_EXIT_BAD;
        }
        flags = GLOB_APPEND;
    }
    int rc = lumi_merge(argv[1], g.gl_pathv, (int)g.gl_pathc);
    globfree(&g);
    return rc;
}
