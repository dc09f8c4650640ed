/* synth_gguf.c: see synth_gguf.h. GGUF lets tensor data lie in any order,
 * so the tensors are laid out in the order synth.c draws them (llama2.c v0
 * order: the embedding, every layer's attention norm, every wq, ...) and
 * each is generated row by row as the writer asks for it: one pass of the
 * random stream, memory for a few rows only. */
#include "synth_gguf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "gguf_write.h"

typedef struct {
    LumiRng rng;
    const LumiGgufTensor *ts;
    float *mean, *sd; /* per tensor */
    float *row;       /* [max cols] */
} Gen;

/* Rows [r0, r1) of tensor i, drawn as synth.c's put_random draws them. */
static int fill(void *arg, int i, int r0, int r1, void *dst, LumiErr *e) {
    (void)e;
    Gen *g = arg;
    const LumiGgufTensor *t = &g->ts[i];
    float half = g->sd[i] * 1.7320508f, mean = g->mean[i];
    size_t rb = lumi_row_bytes(t->type, t->cols);
    for (int r = r0; r < r1; r++) {
        for (int c = 0; c < t->cols; c++) g->row[c] = mean + half * (2.0f * lumi_rng_f32(&g->rng) - 1.0f);
        lumi_narrow(t->type, g->row, (size_t)t->cols, (char *)dst + (size_t)(r - r0) * rb);
    }
    return 0;
}

int lumi_synth_write_gguf(const LumiSynthSpec *s, LumiDType t, const char *path, LumiErr *e) {
    LumiConfig c = {.dim = s->dim, .hidden_dim = s->hidden_dim, .n_layers = s->n_layers, .n_heads = s->n_heads,
                    .n_kv_heads = s->n_kv_heads, .vocab_size = s->vocab_size, .seq_len = s->seq_len,
                    .rope_theta = 10000.0f, .norm_eps = 1e-5f, .shared_classifier = !s->unshared};
    if (lumi_config_validate(&c, "synth", e) != 0) return -1;
    lumi_config_derive(&c);
    if (t == LUMI_Q8_0 && (c.dim % 32 || c.hidden_dim % 32))
        return lumi_err(e, "synth: q8_0 needs dim and hidden divisible by 32 (rows of whole blocks), got %d and %d",
                        c.dim, c.hidden_dim);
    int L = c.n_layers, n = 0, cap = 3 + 9 * L;
    LumiGgufTensor *ts = lumi_xcalloc((size_t)cap, sizeof *ts);
    Gen g = {.ts = ts};
    g.mean = lumi_xcalloc((size_t)cap, sizeof(float));
    g.sd = lumi_xcalloc((size_t)cap, sizeof(float));
    float sd_d = 1.0f / sqrtf((float)c.dim), sd_h = 1.0f / sqrtf((float)c.hidden_dim);
    /* in synth.c's order: name, rows (0: a vector), cols, mean, sd, per layer */
    struct { const char *name; int rows, cols; float mean, sd; int per_layer; } order[] = {
        {"token_embd.weight", c.vocab_size, c.dim, 0, 2.0f * sd_d, 0},
        {"blk.%d.attn_norm.weight", 0, c.dim, 1, 0.1f, 1},
        {"blk.%d.attn_q.weight", c.dim, c.dim, 0, sd_d, 1},
        {"blk.%d.attn_k.weight", c.kv_dim, c.dim, 0, sd_d, 1},
        {"blk.%d.attn_v.weight", c.kv_dim, c.dim, 0, sd_d, 1},
        {"blk.%d.attn_output.weight", c.dim, c.dim, 0, sd_d, 1},
        {"blk.%d.ffn_norm.weight", 0, c.dim, 1, 0.1f, 1},
        {"blk.%d.ffn_gate.weight", c.hidden_dim, c.dim, 0, sd_d, 1},
        {"blk.%d.ffn_down.weight", c.dim, c.hidden_dim, 0, sd_h, 1},
        {"blk.%d.ffn_up.weight", c.hidden_dim, c.dim, 0, sd_d, 1},
        {"output_norm.weight", 0, c.dim, 1, 0.1f, 0},
        {"output.weight", c.vocab_size, c.dim, 0, 2.0f * sd_d, 0},
    };
    int n_order = s->unshared ? 12 : 11;
    for (int k = 0; k < n_order; k++)
        for (int l = 0; l < (order[k].per_layer ? L : 1); l++) {
            snprintf(ts[n].name, sizeof ts[n].name, order[k].name, l);
            ts[n].rows = order[k].rows, ts[n].cols = order[k].cols;
            ts[n].type = order[k].rows ? t : LUMI_F32;
            g.mean[n] = order[k].mean, g.sd[n] = order[k].sd;
            n++;
        }
    lumi_rng_seed(&g.rng, s->seed);
    g.row = lumi_xmalloc(sizeof(float) * (size_t)(c.dim > c.hidden_dim ? c.dim : c.hidden_dim));
    LumiGgufSpec spec = {&c, "lumi-synth", NULL, t, ts, n, fill, &g};
    int rc = lumi_gguf_write(path, &spec, e);
    free(g.row), free(g.mean), free(g.sd), free(ts);
    return rc;
}
