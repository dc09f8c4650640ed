/* jsonparse.h: a small strict JSON reader (RFC 8259) producing a tree, for
 * the metadata of weight files (safetensors headers, config.json). Input is
 * untrusted: depth, sizes and escapes are all checked. */
#ifndef LUMI_JSONPARSE_H
#define LUMI_JSONPARSE_H
#include <stddef.h>
#include "util.h"

typedef enum { LJ_NULL, LJ_BOOL, LJ_NUM, LJ_STR, LJ_ARR, LJ_OBJ } LumiJsonType;

typedef struct LumiJson {
    LumiJsonType type;
    double num;          /* LJ_NUM, LJ_BOOL (0/1) */
    char *str;           /* LJ_STR (NUL-terminated; embedded NULs rejected) */
    int n;               /* LJ_ARR / LJ_OBJ */
    struct LumiJson **items;
    char **keys;         /* LJ_OBJ */
} LumiJson;

/* Parses text[0..len); `what` names the source in errors. */
int lumi_json_parse(const char *text, size_t len, const char *what, LumiJson **out, LumiErr *e);
void lumi_json_free(LumiJson *j);
const LumiJson *lumi_json_get(const LumiJson *obj, const char *key);
/* Integer member in [lo, hi]: 0 ok, 1 absent, -1 present but invalid. */
int lumi_json_int(const LumiJson *obj, const char *key, long lo, long hi, long *out);
int lumi_json_num_get(const LumiJson *obj, const char *key, double *out);

#endif
