/* cmd_slurm.c: placeholder until the generator lands */
#include "cli.h"
int cmd_slurm(int argc, char **argv) { (void)argc, (void)argv; return LUMI_EXIT_BAD; }
