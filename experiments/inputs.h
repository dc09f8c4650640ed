/* inputs.h: what a config's common keys name, loaded: the model (a file, or
 * a synth: shape materialized once under .cache/synth/<hash>.bin), the
 * tokenizer, and every prompt as token ids. Load errors name the config
 * file and the key's position. */
#ifndef LUMI_INPUTS_H
#define LUMI_INPUTS_H
#include <stdint.h>

#include "../engine/model.h"
#include "../engine/tokenizer.h"
#include "config.h"

typedef struct {
    LumiModel model;
    LumiTokenizer tok;
    int have_tok;
    char model_path[512]; /* the file actually loaded */
    uint32_t model_crc;   /* zlib crc32 of the model file */
    size_t model_bytes;
    int n_prompts;
    int **ids;            /* [n_prompts] prompt token ids */
    int *n_ids;
    int *n_gen;           /* tokens to generate: min(steps, seq_len - n_ids) */
} LumiExpInputs;

int lumi_inputs_load(const LumiYamlDoc *doc, const LumiExpCommon *c, LumiExpInputs *in, LumiErr *e);
void lumi_inputs_free(LumiExpInputs *in);

/* Writes the synth model once (atomically) into dir (NULL: .cache/synth),
 * named by a hash of the shape and seed, and returns its path in buf. */
int lumi_synth_materialize(const LumiSynthSpec *s, const char *dir, char *buf, size_t n, LumiErr *e);
/* zlib crc32 of a whole file. */
int lumi_file_crc32(const char *path, uint32_t *crc, size_t *bytes, LumiErr *e);
/* Decoded text of ids (after prev), malloc'd, NUL-terminated; *len bytes. */
char *lumi_detok(const LumiTokenizer *t, int prev, const int *ids, int n, size_t *len);

#endif

/* run.json members shared by every kind (no braces): name, kind, run id,
 * model (path, CRC-32, bytes, synth shape), tokenizer, prompts, steps,
 * sampler, and the build/machine description. */
void lumi_run_json_common(FILE *f, const LumiExpCommon *c, const LumiExpInputs *in, const char *run_id);
