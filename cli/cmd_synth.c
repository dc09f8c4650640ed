/* cmd_synth.c: `lumi synth`, random-weight llama2.c v0 checkpoints. */
#include <stdio.h>
#include <string.h>

#include "../engine/dtype.h"
#include "../engine/synth.h"
#include "../engine/synth_gguf.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi synth --dim D --hidden H --layers L --heads N --kv-heads K --vocab V --seq S\n"
    "                  [--seed X] [--unshared] -o OUT.bin\n"
    "       lumi synth ... --dtype f32|f16|bf16|q8_0 -o OUT.gguf\n"
    "  OUT.gguf is written straight in --dtype (same values as OUT.bin converted), so large\n"
    "  shapes never need their f32 form on disk\n";

int cmd_synth(int argc, char **argv) {
    LumiSynthSpec s = {0};
    const char *out = NULL;
    int dtype = -1;
    struct { const char *flag; int *dst; } ints[] = {
        {"--dim", &s.dim},           {"--hidden", &s.hidden_dim}, {"--layers", &s.n_layers}, {"--heads", &s.n_heads},
        {"--kv-heads", &s.n_kv_heads}, {"--vocab", &s.vocab_size}, {"--seq", &s.seq_len},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int done = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !done; k++) {
            if (strcmp(a, ints[k].flag)) continue;
            long n;
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_int(v, 1, 1 << 22, &n)) return cli_error("%s: '%s' is not a positive integer", a, v), LUMI_EXIT_BAD;
            *ints[k].dst = (int)n;
            done = 1;
        }
        if (done) continue;
        if (!strcmp(a, "--unshared")) s.unshared = 1;
        else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if ((dtype = lumi_dtype_parse(v)) < 0) return cli_error("--dtype: '%s' is not f32, f16, bf16 or q8_0", v), LUMI_EXIT_BAD;
        }
        else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_u64(v, &s.seed)) return cli_error("--seed: '%s' is not an unsigned integer", v), LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (!(out = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        } else {
            cli_error("synth: unknown option '%s'", a);
            fputs(USAGE, stderr);
            return LUMI_EXIT_BAD;
        }
    }
    if (!out) {
        cli_error("synth: missing -o OUT.bin");
        return LUMI_EXIT_BAD;
    }
    if (s.n_kv_heads == 0) s.n_kv_heads = s.n_heads;
    LumiErr e;
    size_t len = strlen(out);
    int gguf = len >= 5 && !strcmp(out + len - 5, ".gguf");
    if (dtype >= 0 && !gguf) {
        cli_error("synth: --dtype writes GGUF: name the output OUT.gguf");
        return LUMI_EXIT_BAD;
    }
    if (gguf ? lumi_synth_write_gguf(&s, dtype < 0 ? LUMI_F32 : (LumiDType)dtype, out, &e) != 0
             : lumi_synth_write(&s, out, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    fprintf(stderr, "wrote %s\n", out);
    return LUMI_EXIT_OK;
}
