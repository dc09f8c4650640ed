/* cmd_inspect.c: `lumi inspect MODEL`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_inspect(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            puts("usage: lumi inspect MODEL");
            return LUMI_EXIT_OK;
        }
        cli_error("usage: lumi inspect MODEL");
        return LUMI_EXIT_BAD;
    }
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(argv[1], &m, &e) != 0) {
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
    printf("norm_eps:          %g\n", c->norm_eps);
    printf("qkv_bias:          %s\n", c->qkv_bias ? "yes" : "no");
    printf("qk_norm:           %s\n", c->qk_norm ? "yes (per-head RMSNorm of q and k)" : "no");
    printf("weights dtype:     %s in memory, %s in the file\n", lumi_dtype_name(m.w.layers[0].wq.type), lumi_dtype_name(m.file_dtype));
    printf("parameters:        %zu (%.2f M)\n", params, params / 1e6);
    printf("weight bytes/token:%zu (%.2f MB read per decoded token)\n", lumi_weight_bytes_per_token(&m),
           lumi_weight_bytes_per_token(&m) / 1e6);
    printf("kv cache (full):   %zu bytes (%.2f MB fp32)\n", kv_bytes, kv_bytes / 1e6);
    lumi_model_free(&m);
    return LUMI_EXIT_OK;
}
