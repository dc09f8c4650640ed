/* main.c: `lumi COMMAND ...` dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} Command;

static const Command COMMANDS[] = {
    {"generate", cmd_generate, "generate text from a prompt on one path"},
    {"logits", cmd_logits, "write the logits of every prompt position as .npy"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"inspect", cmd_inspect, "print a model's header, parameter count and sizes"},
    {"convert", cmd_convert, "write a loadable model as .lmw, GGUF (f32/f16/bf16/q8_0) or a Hugging Face folder (--hf)"},
    {"synth", cmd_synth, "write a random-weight model of any shape (llama2.c, or Hugging Face with --hf)"},
    {"paths", cmd_paths, "list the strategies of every path axis"},
    {"run", cmd_run, "run an experiment config (YAML); --resume DIR completes an interrupted run"},
    {"check", cmd_check, "run an equivalence config; exit 1 if any path violates its tolerance"},
    {"golden", cmd_golden, "record (or shard and merge), or verify the reference logits of a config (goldens/)"},
    {"study", cmd_study, "run a sampler study config (kind: study; lumi run does the same)"},
    {"bench-sampler", cmd_bench_sampler, "time each sampler stage on a 32000-token vocabulary"},
    {"bench-tokenizer", cmd_bench_tokenizer, "encoding speed of each tokenizer on 1 MB of English text"},
    {"bench", cmd_bench, "prefill/decode tok/s per path vs measured bandwidth and FMA peak"},
    {"merge", cmd_merge, "join the run folders of lumi run --shard I/N into the whole run's"},
    {"slurm", cmd_slurm, "write (and --submit) a Slurm job array running a config in N shards, then a merge"},
    {"chat", cmd_chat, "chat with a model; the KV cache is kept across turns (turns=keep) or rebuilt"},
    {"perplexity", cmd_perplexity, "perplexity of a text file; --kl-base: KL statistics against another path"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: lumi COMMAND [options]   (lumi COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-16s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(f, "\nexit status: 0 ok, 1 a check failed, 2 bad input\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return LUMI_EXIT_BAD;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return LUMI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lumi: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return LUMI_EXIT_BAD;
}
