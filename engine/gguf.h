/* gguf.h: reading GGUF files (llama.cpp's format, versions 2 and 3):
 * a typed key/value metadata section, tensor descriptors, then aligned
 * tensor data. Values are referenced in place in the read-only mapping;
 * every length and offset is checked against the file before use. */
#ifndef LUMI_GGUF_H
#define LUMI_GGUF_H
#include <stdint.h>
#include "util.h"

enum {
    GGUF_U8 = 0, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL,
    GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64,
};

/* ggml tensor types lumi reads */
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q8_0 = 8, GGML_BF16 = 30 };

typedef struct {
    const char *key; size_t key_len;
    uint32_t type;
    const unsigned char *val;  /* the value's bytes in the mapping */
    uint32_t arr_type;         /* GGUF_ARRAY: element type */
    uint64_t arr_n;            /* GGUF_ARRAY: element count */
} GgufKV;

typedef struct {
    const char *name; size_t name_len;
    uint32_t n_dims;
    uint64_t ne[4];            /* ne[0] is the contiguous (column) dimension */
    uint32_t type;
    const unsigned char *data; /* checked to lie inside the file */
    size_t bytes;
} GgufTensor;

typedef struct {
    LumiMap map;
    const char *path;
    uint32_t version;
    GgufKV *kv; uint64_t n_kv;
    GgufTensor *tensors; uint64_t n_tensors;
} GgufFile;

int lumi_gguf_open(const char *path, GgufFile *g, LumiErr *e);
/* Releases the tables; keep_map leaves the mapping to a caller that took it. */
void lumi_gguf_close(GgufFile *g, int keep_map);

const GgufKV *lumi_gguf_find(const GgufFile *g, const char *key);
/* Integer/float scalars of any integer width: 0 ok, 1 absent, -1 wrong type. */
int lumi_gguf_get_int(const GgufFile *g, const char *key, int64_t *out);
int lumi_gguf_get_float(const GgufFile *g, const char *key, double *out);
/* A string value: pointer into the mapping and length (not NUL-terminated). */
int lumi_gguf_get_str(const GgufFile *g, const char *key, const char **s, size_t *len);
const GgufTensor *lumi_gguf_tensor(const GgufFile *g, const char *name);
/* Iterate the strings of a string array: *pos starts at 0. */
int lumi_gguf_next_str(const GgufFile *g, const GgufKV *kv, size_t *pos, const char **s, uint64_t *len);

#endif
