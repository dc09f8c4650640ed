/* yaml.h: a YAML document as a small tree (via libyaml) that remembers where
 * every node came from, so config errors read "file:line:col: message".
 * Config readers walk the tree with the typed getters below; each getter
 * fails with a positioned one-line message naming the key. */
#ifndef LUMI_YAML_H
#define LUMI_YAML_H
#include "../engine/util.h"

typedef enum { LUMI_Y_SCALAR, LUMI_Y_SEQ, LUMI_Y_MAP } LumiYamlType;

typedef struct LumiYamlNode {
    LumiYamlType type;
    int line, col;             /* 1-based position in the file */
    char *scalar;              /* SCALAR: the text */
    int quoted;                /* SCALAR: was quoted (so "123" stays a string) */
    int n;                     /* SEQ/MAP: number of items */
    struct LumiYamlNode **items; /* SEQ items, or MAP values */
    char **keys;               /* MAP keys (unique: duplicates are an error) */
    int *key_line, *key_col;   /* MAP key positions */
} LumiYamlNode;

typedef struct {
    char *path;  /* used in messages */
    LumiYamlNode *root;
} LumiYamlDoc;

int lumi_yaml_load(const char *path, LumiYamlDoc *d, LumiErr *e);
int lumi_yaml_parse(const char *text, size_t len, const char *name, LumiYamlDoc *d, LumiErr *e);
void lumi_yaml_free(LumiYamlDoc *d);

/* "path:line:col: ..." for node n (or the file alone when n is NULL). */
int lumi_yaml_err(const LumiYamlDoc *d, const LumiYamlNode *n, LumiErr *e, const char *fmt, ...) LUMI_PRINTF(4, 5);

/* Map lookup: the value node or NULL. */
const LumiYamlNode *lumi_yaml_get(const LumiYamlNode *map, const char *key);
/* Fails naming the first key of `map` not in the NULL-terminated `allowed`. */
int lumi_yaml_check_keys(const LumiYamlDoc *d, const LumiYamlNode *map, const char *const *allowed, LumiErr *e);
/* Fails unless n is a mapping (or a sequence); `what` names it in the message. */
int lumi_yaml_expect(const LumiYamlDoc *d, const LumiYamlNode *n, LumiYamlType t, const char *what, LumiErr *e);

/* Typed reads of map[key]. A missing key leaves *out untouched and returns 0
 * unless `required`; a present key of the wrong type or range fails. */
int lumi_yaml_str(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, const char **out,
                  LumiErr *e);
int lumi_yaml_int(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, long lo, long hi,
                  long *out, LumiErr *e);
int lumi_yaml_float(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, double lo,
                    double hi, double *out, LumiErr *e);
int lumi_yaml_bool(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, int *out, LumiErr *e);
/* A scalar node's value as number/int/bool, with positioned errors. */
int lumi_yaml_node_float(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, double *out, LumiErr *e);
int lumi_yaml_node_int(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, long lo, long hi, long *out,
                       LumiErr *e);

#endif
