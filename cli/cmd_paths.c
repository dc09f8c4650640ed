/* cmd_paths.c: `lumi paths`, the registry of strategies per axis. */
#include <stdio.h>

#include "cli.h"

int cmd_paths(int argc, char **argv) {
    (void)argc;
    (void)argv;
    lumi_registry_print(stdout);
    return LUMI_EXIT_OK;
}
