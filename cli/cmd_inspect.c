/* cmd_inspect.c: `lumi inspect MODEL`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* "128009 '<|eot_id|>'" */
static void put_token(const LumiTokenizer *t, int id) {
    int len;
    const char *p = lumi_decode_piece(t, -1, id, &len);
    printf(" %d '", id);
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\'');
}

/* The tokenizer the model would use (-z, embedded, or beside it): its
 * file, family, size, and the BOS / end tokens with their text. */
static int inspect_tokenizer(const char *model, const char *tok, int model_vocab) {
    LumiTokenizer t;
    LumiErr e;
    int found;
    if (lumi_tokenizer_for_model(model, tok, &t, &found, &e) != 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    if (!found) {
        printf("tokenizer:         none embedded or beside the model (give -z)\n");
        return 0;
    }
    printf("tokenizer:         %s (%s, %s, %d tokens)\n", t.path, t.format,
           t.kind == LUMI_TOK_SPM ? "sentencepiece BPE" : "byte-level BPE", t.vocab_size);
    if (t.vocab_size != model_vocab)
        printf("vocab note:        model %d rows, tokenizer %d tokens%s\n", model_vocab, t.vocab_size,
               t.vocab_size > model_vocab ? " (mismatch: generate refuses)" : " (padded model vocabulary)");
    int bos = lumi_tokenizer_bos(&t);
    printf("bos:              ");
    if (bos >= 0) put_token(&t, bos);
    else printf(" none");
    printf("\neos:              ");
    if (t.eos_id >= 0) put_token(&t, t.eos_id);
    else printf(" none");
    int stop[16], n = lumi_tokenizer_stop_ids(&t, stop, 16);
    printf("\nstop (eos/eot):   ");
    for (int i = 0; i < n; i++) put_token(&t, stop[i]);
    printf("%s\n", n ? "" : " none");
    lumi_tokenizer_free(&t);
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL, *tok = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: lumi inspect MODEL [-z TOKENIZER]");
            return LUMI_EXIT_OK;
        } else if (!strcmp(argv[i], "-z") || !strcmp(argv[i], "--tokenizer")) {
            if (!(tok = cli_value(argc, argv, &i))) return LUMI_EXIT_BAD;
        } else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            cli_error("usage: lumi inspect MODEL [-z TOKENIZER]");
            return LUMI_EXIT_BAD;
        }
    }
    if (!path) {
        cli_error("usage: lumi inspect MODEL [-z TOKENIZER]");
        return LUMI_EXIT_BAD;
    }
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(path, &m, &e) != 0) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    const LumiConfig *c = &m.cfg;
    size_t params = lumi_param_count(c);
    size_t kv_bytes = 2 * (size_t)c->n_layers * (size_t)c->seq_len * (size_t)c->kv_dim * sizeof(float);
    size_t file_bytes = m.map.size; /* sharded checkpoints: every shard */
    for (int i = 0; i < m.n_shards; i++) file_bytes += m.shards[i].size;
    printf("file:              %s (%zu bytes%s)\n", m.path, file_bytes, m.n_shards > 1 ? ", all shards" : "");
    printf("format:            %s\n", m.format);
    printf("dim:               %d\n", c->dim);
    printf("hidden_dim:        %d\n", c->hidden_dim);
    printf("n_layers:          %d\n", c->n_layers);
    printf("n_heads:           %d\n", c->n_heads);
    printf("n_kv_heads:        %d%s\n", c->n_kv_heads, c->n_kv_heads < c->n_heads ? " (grouped-query attention)" : "");
    printf("head_size:         %d\n", c->head_size);
    printf("vocab_size:        %d\n", c->vocab_size);
    printf("seq_len:           %d\n", c->seq_len);
    printf("classifier:        %s\n", c->shared_classifier ? "shared with token embedding" : "separate");
    printf("rope:              %s pairs, theta %g\n", c->rope_style == LUMI_ROPE_HALF ? "rotate-half" : "interleaved", c->rope_theta);
    if (c->rope_scaling == LUMI_ROPE_SCALING_LINEAR) printf("rope scaling:      linear, factor %g\n", c->rope_factor);
    if (c->rope_scaling == LUMI_ROPE_SCALING_LLAMA3)
        printf("rope scaling:      llama3, factor %g, low_freq_factor %g, high_freq_factor %g, original context %d\n",
               c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor, c->rope_orig_ctx);
    if (c->rope_scaling == LUMI_ROPE_SCALING_FACTORS)
        printf("rope scaling:      per-pair frequency divisors from the file (rope_freqs), %g .. %g\n",
               (double)m.rope_factors[0], (double)m.rope_factors[c->head_size / 2 - 1]);
    printf("norm_eps:          %g\n", c->norm_eps);
    printf("qkv_bias:          %s\n", c->qkv_bias ? "yes" : "no");
    printf("qk_norm:           %s\n", c->qk_norm ? "yes (per-head RMSNorm of q and k)" : "no");
    printf("weights dtype:     %s in memory, %s in the file\n", lumi_dtype_name(m.w.layers[0].wq.type), lumi_dtype_name(m.file_dtype));
    printf("parameters:        %zu (%.2f M)\n", params, params / 1e6);
    printf("weight bytes/token:%zu (%.2f MB read per decoded token)\n", lumi_weight_bytes_per_token(&m),
           lumi_weight_bytes_per_token(&m) / 1e6);
    printf("kv cache (full):   %zu bytes (%.2f MB fp32)\n", kv_bytes, kv_bytes / 1e6);
    int rc = inspect_tokenizer(m.path, tok, c->vocab_size);
    lumi_model_free(&m);
    return rc == 0 ? LUMI_EXIT_OK : LUMI_EXIT_BAD;
}
