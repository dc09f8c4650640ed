/* cmd_paths.c: `lumi paths`, the registry of strategies per axis. A
 * strategy this build cannot run (a backend whose library was absent at
 * build time) is listed with UNAVAILABLE and the reason. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_paths(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs("usage: lumi paths   list every strategy of every path axis (and what this build cannot run)\n", stdout);
        return LUMI_EXIT_OK;
    }
    if (argc > 1) {
        cli_error("paths: takes no arguments");
        return LUMI_EXIT_BAD;
    }
    lumi_registry_print(stdout);
    return LUMI_EXIT_OK;
}
