/* hf.h: the pieces of a Hugging Face checkpoint folder, for the loaders and
 * writers inside engine/: safetensors containers (one file, or shards
 * listed by model.safetensors.index.json) and config.json. */
#ifndef LUMI_HF_H
#define LUMI_HF_H
#include <stddef.h>
#include "model.h"

/* One tensor of a safetensors file, validated against the file it lies in:
 * its bytes are inside the mapping and, for a known dtype, exactly
 * prod(shape) elements long. */
typedef struct {
    char *name;
    char dtype[16];          /* as written: "F32", "BF16", "I64", ... */
    int known;               /* type is set: F32, BF16 or F16 */
    LumiDType type;
    int ndim;
    long long shape[8];
    const unsigned char *data;
    size_t nbytes;
    int shard;               /* index into files/maps */
} LumiStTensor;

typedef struct {
    LumiMap *maps;
    char **files;
    int n_files;
    LumiStTensor *t;         /* sorted by name, names unique */
    int n;
} LumiStSet;

/* Opens a .safetensors file, or the shards named by a
 * model.safetensors.index.json (each shard mapped and every tensor in the
 * index found in exactly the shard it names). */
int lumi_st_open(const char *path, LumiStSet *s, LumiErr *e);
const LumiStTensor *lumi_st_find(const LumiStSet *s, const char *name);
/* Moves the mappings into the model (it unmaps them when freed). */
void lumi_st_give_maps(LumiStSet *s, LumiModel *m);
void lumi_st_close(LumiStSet *s);

/* Tensor naming schemes that share one config.json reader. */
typedef enum { LUMI_HF_LLAMA = 0, LUMI_HF_QWEN1 } LumiHfLayout;

/* Reads config.json into c (validated and derived) and the layout. */
int lumi_hf_config_read(const char *path, LumiConfig *c, LumiHfLayout *layout, LumiErr *e);

#endif
