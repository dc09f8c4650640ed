/* cli.h: the lumi subcommands. Each returns the process exit code:
 * 0 success, 1 a check failed, 2 bad input or usage. */
#ifndef LUMI_CLI_H
#define LUMI_CLI_H
#include "../engine/model.h"
#include "../engine/tokenizer.h"
#include "../experiments/experiment.h"
#include "../paths/path.h"
#include "../paths/sampler/sampler.h"

#define LUMI_EXIT_OK 0
#define LUMI_EXIT_CHECK 1
#define LUMI_EXIT_BAD 2

int cmd_generate(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_paths(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_golden(int argc, char **argv);
int cmd_study(int argc, char **argv);
int cmd_bench_sampler(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
int cmd_bench_tokenizer(int argc, char **argv);
/* Checks a tokenizer against a model's vocabulary: a smaller model vocabulary
 * is an error (-1, printed), a larger one (padded, as Qwen's) a one-line note. */
int cli_check_vocab(const LumiTokenizer *t, const char *model_path, int model_vocab);
int cmd_chat(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);

/* Options shared by the commands that run a model on a prompt. */
typedef struct {
    const char *model, *tokenizer, *prompt, *ids, *out;
    int no_bos;
    int special; /* --special: <|eot_id|> etc. in -p text are special tokens */
    LumiPathSpec path;
} LumiPromptOpts;

/* Consumes a shared option at argv[*i] (advancing *i past its value).
 * Returns 1 if consumed, 0 if not ours, -1 on error (message printed). */
int cli_prompt_opt(LumiPromptOpts *o, int argc, char **argv, int *i);
/* The value of a flag at argv[*i], or NULL with a message if missing. */
const char *cli_value(int argc, char **argv, int *i);
/* Loads model (and its tokenizer: -z, embedded, or beside config.json) and
 * builds the prompt ids.
 * Prints the error and returns -1 on failure. */
int cli_load(const LumiPromptOpts *o, LumiModel *m, LumiTokenizer *t, int *have_tok, int **ids, int *n);
/* Consumes a sampler flag (-t, --seed, --top-k, ... as generate --help
 * lists them) at argv[*i]: 1 consumed, 0 not one, -1 error (printed). */
int cli_sampler_opt(LumiSamplerCfg *sc, int argc, char **argv, int *i);
void cli_error(const char *fmt, ...) LUMI_PRINTF(1, 2);
/* Loads an experiment config and runs its kind (cli/cmd_run.c); want_kind
 * non-NULL refuses other kinds. Returns the exit code. */
int cli_run_config(const char *config, const char *resume, int check, const char *want_kind);
/* The same with every run option (--shard, --dir, merge); opts->config_path is set from config. */
int cli_run_opts(const char *config, const LumiRunOpts *opts, const char *want_kind);

#endif
