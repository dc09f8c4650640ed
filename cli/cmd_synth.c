/* cmd_synth.c: `lumi synth`, random-weight models of any shape, written as
 * a llama2.c v0 file, a GGUF file in any weight dtype, or a Hugging Face
 * folder (Llama or Qwen 1.0 layout, optionally sharded), so tests never
 * download a checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dtype.h"
#include "../engine/hf_write.h"
#include "../engine/synth.h"
#include "../engine/synth_gguf.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi synth --dim D --hidden H --layers L --heads N --kv-heads K --vocab V --seq S\n"
    "                  [--seed X] [--unshared] -o OUT.bin\n"
    "       lumi synth ... --hf [--qwen1] [--shards N] [--dtype f32|bf16] [--qkv-bias] [--qk-norm]\n"
    "                  [--rope-theta T] [--rope-scaling linear:F | llama3:F,LOW,HIGH,ORIG] -o DIR\n"
    "  --hf writes DIR/config.json and DIR/model.safetensors (or N shards and an index);\n"
    "  --qwen1 uses Qwen 1.0's tensor names (no GQA, q/k norm or rope scaling);\n"
    "  biases, q/k norms and rope settings need --hf (a llama2.c file cannot hold them).\n"
    "       lumi synth ... [--dtype f32|f16|bf16|q8_0] -o OUT.gguf\n"
    "  OUT.gguf is written straight in --dtype (the same values as OUT.bin converted), so large\n"
    "  shapes never need their f32 form on disk.\n";

/* "linear:F" or "llama3:F,LOW,HIGH,ORIG" */
static int parse_scaling(const char *v, LumiSynthExtra *x) {
    char tail;
    if (!strncmp(v, "linear:", 7)) {
        x->rope_scaling = LUMI_ROPE_SCALING_LINEAR;
        return sscanf(v + 7, "%f%c", &x->rope_factor, &tail) == 1 && x->rope_factor > 0 ? 0 : -1;
    }
    if (!strncmp(v, "llama3:", 7)) {
        x->rope_scaling = LUMI_ROPE_SCALING_LLAMA3;
        return sscanf(v + 7, "%f,%f,%f,%d%c", &x->rope_factor, &x->rope_low_freq_factor, &x->rope_high_freq_factor,
                      &x->rope_orig_ctx, &tail) == 4 && x->rope_factor > 0 && x->rope_low_freq_factor > 0 &&
                       x->rope_high_freq_factor > x->rope_low_freq_factor && x->rope_orig_ctx > 0
                   ? 0
                   : -1;
    }
    return -1;
}

static int write_hf(const LumiSynthSpec *s, const LumiSynthExtra *x, const LumiHfWriteOpts *o, const char *out) {
    LumiErr e;
    LumiModel m;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.synth-tmp.bin", out);
    if (lumi_synth_model(s, x, tmp, &m, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    int rc = lumi_hf_write(&m, out, o, &e);
    lumi_model_free(&m);
    if (rc != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    return LUMI_EXIT_OK;
}

int cmd_synth(int argc, char **argv) {
    LumiSynthSpec s = {0};
    LumiSynthExtra x = {0};
    LumiHfWriteOpts o = {LUMI_HF_LLAMA, LUMI_F32, 1};
    int hf = 0, dtype = -1;
    const char *out = NULL;
    struct { const char *flag; int *dst; } ints[] = {
        {"--dim", &s.dim},           {"--hidden", &s.hidden_dim}, {"--layers", &s.n_layers}, {"--heads", &s.n_heads},
        {"--kv-heads", &s.n_kv_heads}, {"--vocab", &s.vocab_size}, {"--seq", &s.seq_len},     {"--shards", &o.shards},
    };
    struct { const char *flag; int *dst; } flags[] = {
        {"--unshared", &s.unshared}, {"--hf", &hf}, {"--qkv-bias", &x.qkv_bias}, {"--qk-norm", &x.qk_norm},
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
        for (size_t k = 0; k < sizeof flags / sizeof flags[0] && !done; k++)
            if (!strcmp(a, flags[k].flag)) *flags[k].dst = 1, done = 1;
        if (done) continue;
        if (!strcmp(a, "--qwen1")) hf = 1, o.layout = LUMI_HF_QWEN1;
        else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_u64(v, &s.seed)) return cli_error("--seed: '%s' is not an unsigned integer", v), LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if ((dtype = lumi_dtype_parse(v)) < 0) return cli_error("--dtype: '%s' is not f32, f16, bf16 or q8_0", v), LUMI_EXIT_BAD;
        } else if (!strcmp(a, "--rope-theta")) {
            double t;
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (lumi_parse_float(v, &t) || !(t > 0) || t > 1e12) return cli_error("--rope-theta: '%s' is not a positive number", v), LUMI_EXIT_BAD;
            x.rope_theta = (float)t;
        } else if (!strcmp(a, "--rope-scaling")) {
            if (!(v = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
            if (parse_scaling(v, &x)) return cli_error("--rope-scaling: '%s' is not linear:F or llama3:F,LOW,HIGH,ORIG", v), LUMI_EXIT_BAD;
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
        cli_error("synth: missing -o OUT");
        return LUMI_EXIT_BAD;
    }
    if (s.n_kv_heads == 0) s.n_kv_heads = s.n_heads;
    size_t len = strlen(out);
    int gguf = !hf && len >= 5 && !strcmp(out + len - 5, ".gguf");
    if (!hf && (x.qkv_bias || x.qk_norm || x.rope_theta > 0 || x.rope_scaling || o.shards > 1)) {
        cli_error("synth: biases, q/k norms, rope settings and shards need --hf (a llama2.c or GGUF file from synth "
                  "cannot hold them)");
        return LUMI_EXIT_BAD;
    }
    if (hf && dtype >= 0) {
        if (dtype != LUMI_F32 && dtype != LUMI_BF16) return cli_error("--dtype: --hf writes f32 or bf16"), LUMI_EXIT_BAD;
        o.dtype = (LumiDType)dtype;
    }
    if (!hf && !gguf && dtype >= 0 && dtype != LUMI_F32) {
        cli_error("synth: --dtype %s needs OUT.gguf or --hf (a llama2.c file is f32)", lumi_dtype_name((LumiDType)dtype));
        return LUMI_EXIT_BAD;
    }
    LumiErr e;
    if (hf) {
        int rc = write_hf(&s, &x, &o, out);
        if (rc != LUMI_EXIT_OK) return rc;
    } else if (gguf ? lumi_synth_write_gguf(&s, dtype < 0 ? LUMI_F32 : (LumiDType)dtype, out, &e) != 0
                    : lumi_synth_write(&s, out, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    fprintf(stderr, "wrote %s\n", out);
    return LUMI_EXIT_OK;
}
