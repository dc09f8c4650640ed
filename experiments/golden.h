/* golden.h: regression goldens. `record` stores, per prompt of an
 * equivalence config, the reference path's logits of every position as a
 * gzip'd NumPy file (<goldens>/<prompt>.npy.gz: numpy.load(gzip.open(f))
 * reads it, float32 [n_positions, vocab]) and its tokens in
 * <goldens>/manifest.json, with the CRC-32 of each uncompressed .npy.
 * `verify` recomputes and compares under the config's tolerance. */
#ifndef LUMI_GOLDEN_H
#define LUMI_GOLDEN_H
#include <stddef.h>
#include <stdint.h>

#include "yaml.h"

/* Where and what a record writes: shard I/N (count 0: every prompt) into
 * dir (NULL: the config's goldens folder), or, for `lumi golden merge`,
 * the prompts read back from the shard folders merged_from[0..n_merged). */
typedef struct {
    int shard_index, shard_count;
    const char *dir;
    char *const *merged_from;
    int n_merged;
} LumiGoldenOpts;

/* Exit codes: 0 ok, 1 drift (verify), 2 bad input or damaged goldens. */
/* record refuses to replace existing goldens unless force is set; o may be NULL. */
int lumi_golden_record(const LumiYamlDoc *doc, int force, const LumiGoldenOpts *o);
int lumi_golden_verify(const LumiYamlDoc *doc);

/* gzip'd .npy of float32 [rows, cols], written atomically; *crc is the
 * CRC-32 of the uncompressed .npy bytes. */
int lumi_npy_gz_write(const char *path, const float *data, size_t rows, size_t cols, uint32_t *crc, LumiErr *e);
/* Reads it back, checking gzip integrity, the header, the shape
 * (rows x cols) and the CRC-32; *data is malloc'd. */
int lumi_npy_gz_read(const char *path, size_t rows, size_t cols, uint32_t crc, float **data, LumiErr *e);

#endif
