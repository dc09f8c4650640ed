/* lmw.h: lumi's own weight format, .lmw (engine/lmw.c has the layout). */
#ifndef LUMI_LMW_H
#define LUMI_LMW_H
#include <stddef.h>
#include "model.h"

#define LUMI_LMW_MAGIC 0x696D756Cu /* "lumi" read as a little-endian u32 */

/* Reads a .lmw file (lumi_model_load calls it for files with the magic). */
int lumi_lmw_load(const char *path, LumiModel *m, LumiErr *e);

typedef struct {
    const char *name;            /* model name stored in the header; NULL: "" */
    const void *tokenizer;       /* embedded tokenizer blob, or NULL */
    size_t tokenizer_len;
    LumiDType dtype;             /* LUMI_F32 or LUMI_BF16 (round to nearest even) */
} LumiLmwWriteOpts;

/* Writes any model held in f32 (rotate-half models are permuted back to
 * Meta's interleaved q/k rows). Rope scaling cannot be stored: refused. */
int lumi_lmw_write(const LumiModel *m, const char *path, const LumiLmwWriteOpts *o, LumiErr *e);

#endif
