/* weights.h: the weights a path multiplies, in the dtype it asks for.
 *
 * A model's own tensors (m->w) stay as the loader left them: in the file
 * mapping where the layout allows, in the file's dtype. A path's `weights=`
 * axis asks for one dtype for every matrix (token embedding, the seven
 * projections of each layer, the classifier); norms and biases are always
 * f32. lumi_weights_get() builds that table once per model and dtype:
 *  - a tensor already in the wanted dtype whose data is 64-byte aligned is
 *    used in place (no copy, no extra memory), and so is one in the
 *    loader's heap memory (a widened copy) at any alignment;
 *  - otherwise it is converted (or, same dtype but misaligned, e.g. a
 *    llama2.c v0 file behind its 28-byte header, copied) into a 64-byte
 *    aligned arena: f16/bf16/q8_0 -> f32 widens exactly, f32 -> bf16/f16
 *    rounds to nearest even, anything -> q8_0 quantizes as GGUF's Q8_0;
 *  - a matrix whose rows are not whole 32-blocks cannot be q8_0: with
 *    weights=q8_0 it stays f32 (counted in LumiWeightsInfo.fallback).
 *
 * A tensor converted or copied out of the file mapping has its source
 * pages dropped afterwards (madvise), so RSS stays near the table's size.
 *
 * Ownership: the tables and their arenas belong to the model (m->wcache)
 * and live until lumi_model_free(); every session and path on the model
 * that asks for the same dtype gets the same table, so nothing is
 * converted twice. Building is serialised by a mutex, so sessions may be
 * opened from several threads. */
#ifndef LUMI_WEIGHTS_H
#define LUMI_WEIGHTS_H
#include "model.h"

/* The `weights=` value that keeps each tensor in the file's dtype. */
#define LUMI_WEIGHTS_FILE (-1)

/* What a table cost to build, for `lumi bench`. */
typedef struct {
    size_t bytes;        /* weight bytes of the matrices in this table */
    size_t copied_bytes; /* of which converted or copied into the arena */
    double seconds;      /* building it (0 when all in place) */
    int fallback;        /* matrices kept f32: q8_0 asked, cols % 32 != 0 */
} LumiWeightsInfo;

/* The table for dtype (a LumiDType or LUMI_WEIGHTS_FILE), built on first
 * use. Fails with one line naming file, tensor and reason when a tensor
 * cannot be represented (f16 overflow, non-finite values), or when the
 * arena cannot be allocated. */
int lumi_weights_get(const LumiModel *m, int dtype, const LumiWeights **out, LumiWeightsInfo *info, LumiErr *e);

/* Bytes the table for dtype would hold, and how many of them must be
 * copied into new memory (the rest is used in place). No allocation. */
void lumi_weights_plan(const LumiModel *m, int dtype, size_t *total, size_t *copied);

/* Refuses, with the memory needed and the weights= values that would fit,
 * a table larger than this machine's memory (MemTotal) or whose copies
 * exceed what is available (MemAvailable). */
int lumi_weights_check_fit(const LumiModel *m, int dtype, LumiErr *e);

/* Bytes a decoded token reads from table w: every matrix but the token
 * embedding (one row of it), and the norm weights. */
size_t lumi_weights_bytes_per_token(const LumiWeights *w, const LumiConfig *c);

/* "file" (LUMI_WEIGHTS_FILE) or a dtype name; -2 if unknown. */
int lumi_weights_parse(const char *s);
const char *lumi_weights_name(int dtype);

/* Model side (engine/model.c): create and free the cache. */
struct LumiWeightCache *lumi_weight_cache_new(void);
void lumi_weight_cache_free(struct LumiWeightCache *c);

#endif
