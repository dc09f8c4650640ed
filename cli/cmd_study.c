/* cmd_study.c: `lumi study CONFIG.yaml`, the short way to run a sampler
 * study: `lumi run` restricted to kind: study. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_study(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs("usage: lumi study CONFIG.yaml   (an experiment with kind: study; see configs/sampler-study.yaml)\n",
              argc == 2 ? stdout : stderr);
        return argc == 2 ? LUMI_EXIT_OK : LUMI_EXIT_BAD;
    }
    return cli_run_config(argv[1], NULL, 0, "study");
}
