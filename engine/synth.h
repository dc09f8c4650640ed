/* synth.h: seeded random-weight models of any shape, written as llama2.c v0
 * checkpoints, for tests and benchmarks. Weights are uniform with the
 * standard deviation of a trained model's init (1/sqrt(fan_in)) and norm
 * gains near 1, so activations stay O(1) and the logits are neither flat nor
 * one-hot. */
#ifndef LUMI_SYNTH_H
#define LUMI_SYNTH_H
#include <stdint.h>
#include "model.h"

typedef struct {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int unshared;  /* separate classifier */
    uint64_t seed;
} LumiSynthSpec;

/* Features a llama2.c file cannot hold (lumi_synth_model only). */
typedef struct {
    int qkv_bias, qk_norm;        /* random q/k/v biases; q/k norm gains near 1 */
    float rope_theta;             /* 0: 10000 */
    LumiRopeScaling rope_scaling;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_orig_ctx;
} LumiSynthExtra;

/* The llama2.c v0 checkpoint of s's shape. */
int lumi_synth_write(const LumiSynthSpec *s, const char *path, LumiErr *e);
/* The model of s in memory, x's features applied (x may be NULL): the llama2.c weights of
 * lumi_synth_write (written to tmp_path, which is removed again) plus the
 * extra tensors, drawn from a second stream of the same seed. Write it in
 * any layout with lumi_hf_write (engine/hf_write.h) or lumi_lmw_write. */
int lumi_synth_model(const LumiSynthSpec *s, const LumiSynthExtra *x, const char *tmp_path, LumiModel *m, LumiErr *e);

#endif
