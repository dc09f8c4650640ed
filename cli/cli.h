/* cli.h: the lumi subcommands. Each returns the process exit code:
 * 0 success, 1 a check failed, 2 bad input or usage. */
#ifndef LUMI_CLI_H
#define LUMI_CLI_H
#include "../engine/model.h"
#include "../engine/tokenizer.h"
#include "../paths/path.h"

#define LUMI_EXIT_OK 0
#define LUMI_EXIT_CHECK 1
#define LUMI_EXIT_BAD 2

int cmd_generate(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_paths(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_golden(int argc, char **argv);
int cmd_study(int argc, char **argv);
int cmd_bench_sampler(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Options shared by the commands that run a model on a prompt. */
typedef struct {
    const char *model, *tokenizer, *prompt, *ids, *out;
    int no_bos;
    LumiPathSpec path;
} LumiPromptOpts;

/* Consumes a shared option at argv[*i] (advancing *i past its value).
 * Returns 1 if consumed, 0 if not ours, -1 on error (message printed). */
int cli_prompt_opt(LumiPromptOpts *o, int argc, char **argv, int *i);
/* The value of a flag at argv[*i], or NULL with a message if missing. */
const char *cli_value(int argc, char **argv, int *i);
/* Loads model (and tokenizer if named) and builds the prompt ids.
 * Prints the error and returns -1 on failure. */
int cli_load(const LumiPromptOpts *o, LumiModel *m, LumiTokenizer *t, int *have_tok, int **ids, int *n);
void cli_error(const char *fmt, ...) LUMI_PRINTF(1, 2);
/* Loads an experiment config and runs its kind (cli/cmd_run.c); want_kind
 * non-NULL refuses other kinds. Returns the exit code. */
int cli_run_config(const char *config, const char *resume, int check, const char *want_kind);

#endif
