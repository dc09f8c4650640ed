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

int lumi_synth_write(const LumiSynthSpec *s, const char *path, LumiErr *e);

#endif
