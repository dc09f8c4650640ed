/* yaml.c: libyaml events -> LumiYamlNode tree. Anchors and aliases are
 * rejected (configs are small; an alias would make ownership a graph). */
#include "yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static LumiYamlNode *node_new(LumiYamlType t, const yaml_mark_t *m) {
    LumiYamlNode *n = lumi_xcalloc(1, sizeof *n);
    n->type = t;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static void node_free(LumiYamlNode *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys) free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_line);
    free(n->key_col);
    free(n->scalar);
    free(n);
}

static void push(LumiYamlNode *parent, LumiYamlNode *child) {
    parent->items = lumi_xrealloc(parent->items, sizeof(LumiYamlNode *) * (size_t)(parent->n + 1));
    parent->items[parent->n++] = child;
}

int lumi_yaml_err(const LumiYamlDoc *d, const LumiYamlNode *n, LumiErr *e, const char *fmt, ...) {
    if (!e) return -1;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n) snprintf(e->msg, sizeof e->msg, "%s:%d:%d: %s", d->path, n->line, n->col, msg);
    else snprintf(e->msg, sizeof e->msg, "%s: %s", d->path, msg);
    return -1;
}

typedef struct {
    yaml_parser_t p;
    LumiYamlDoc *d;
    LumiErr *e;
    int depth;
} Parser;

static int parse_node(Parser *ps, yaml_event_t *ev, LumiYamlNode **out);

static int next(Parser *ps, yaml_event_t *ev) {
    if (!yaml_parser_parse(&ps->p, ev)) {
        LumiYamlNode at = {.line = (int)ps->p.problem_mark.line + 1, .col = (int)ps->p.problem_mark.column + 1};
        return lumi_yaml_err(ps->d, &at, ps->e, "YAML syntax error: %s%s%s", ps->p.problem ? ps->p.problem : "?",
                             ps->p.context ? " " : "", ps->p.context ? ps->p.context : "");
    }
    return 0;
}

static int parse_children(Parser *ps, LumiYamlNode *n, yaml_event_type_t end) {
    for (;;) {
        yaml_event_t ev;
        if (next(ps, &ev) != 0) return -1;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (n->type == LUMI_Y_MAP) {
            if (ev.type != YAML_SCALAR_EVENT) {
                LumiYamlNode at = {.line = (int)ev.start_mark.line + 1, .col = (int)ev.start_mark.column + 1};
                yaml_event_delete(&ev);
                return lumi_yaml_err(ps->d, &at, ps->e, "mapping keys must be plain scalars");
            }
            char *key = lumi_xstrdup((const char *)ev.data.scalar.value);
            int kl = (int)ev.start_mark.line + 1, kc = (int)ev.start_mark.column + 1;
            yaml_event_delete(&ev);
            for (int i = 0; i < n->n; i++)
                if (!strcmp(n->keys[i], key)) {
                    LumiYamlNode at = {.line = kl, .col = kc};
                    lumi_yaml_err(ps->d, &at, ps->e, "duplicate key '%s'", key);
                    free(key);
                    return -1;
                }
            yaml_event_t vev;
            LumiYamlNode *val = NULL;
            if (next(ps, &vev) != 0 || parse_node(ps, &vev, &val) != 0) {
                free(key);
                return -1;
            }
            n->keys = lumi_xrealloc(n->keys, sizeof(char *) * (size_t)(n->n + 1));
            n->key_line = lumi_xrealloc(n->key_line, sizeof(int) * (size_t)(n->n + 1));
            n->key_col = lumi_xrealloc(n->key_col, sizeof(int) * (size_t)(n->n + 1));
            n->keys[n->n] = key;
            n->key_line[n->n] = kl;
            n->key_col[n->n] = kc;
            push(n, val);
        } else {
            LumiYamlNode *item = NULL;
            if (parse_node(ps, &ev, &item) != 0) return -1;
            push(n, item);
        }
    }
}

/* Consumes ev (and, for collections, everything up to the matching end). */
static int parse_node(Parser *ps, yaml_event_t *ev, LumiYamlNode **out) {
    LumiYamlNode *n = NULL;
    int rc = 0;
    if (++ps->depth > 64) {
        LumiYamlNode at = {.line = (int)ev->start_mark.line + 1, .col = (int)ev->start_mark.column + 1};
        yaml_event_delete(ev);
        return lumi_yaml_err(ps->d, &at, ps->e, "nesting deeper than 64 levels");
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(LUMI_Y_SCALAR, &ev->start_mark);
        n->scalar = lumi_xstrdup((const char *)ev->data.scalar.value);
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
        yaml_event_delete(ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
        n = node_new(LUMI_Y_SEQ, &ev->start_mark);
        yaml_event_delete(ev);
        rc = parse_children(ps, n, YAML_SEQUENCE_END_EVENT);
        break;
    case YAML_MAPPING_START_EVENT:
        n = node_new(LUMI_Y_MAP, &ev->start_mark);
        yaml_event_delete(ev);
        rc = parse_children(ps, n, YAML_MAPPING_END_EVENT);
        break;
    default: {
        LumiYamlNode at = {.line = (int)ev->start_mark.line + 1, .col = (int)ev->start_mark.column + 1};
        int alias = ev->type == YAML_ALIAS_EVENT;
        yaml_event_delete(ev);
        ps->depth--;
        return lumi_yaml_err(ps->d, &at, ps->e, alias ? "aliases are not supported" : "unexpected YAML event");
    }
    }
    ps->depth--;
    if (rc != 0) {
        node_free(n);
        return -1;
    }
    *out = n;
    return 0;
}

int lumi_yaml_parse(const char *text, size_t len, const char *name, LumiYamlDoc *d, LumiErr *e) {
    memset(d, 0, sizeof *d);
    d->path = lumi_xstrdup(name);
    Parser ps = {.d = d, .e = e};
    if (!yaml_parser_initialize(&ps.p)) return lumi_err(e, "%s: cannot initialize libyaml", name);
    yaml_parser_set_input_string(&ps.p, (const unsigned char *)text, len);
    yaml_event_t ev;
    int rc = 0;
    /* stream start, document start, root node, document end, stream end */
    while (rc == 0) {
        if ((rc = next(&ps, &ev)) != 0) break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT || t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (d->root) {
            yaml_event_delete(&ev);
            rc = lumi_yaml_err(d, NULL, e, "more than one YAML document");
            break;
        }
        rc = parse_node(&ps, &ev, &d->root);
    }
    yaml_parser_delete(&ps.p);
    if (rc == 0 && !d->root) rc = lumi_yaml_err(d, NULL, e, "empty YAML document");
    if (rc == 0 && d->root->type != LUMI_Y_MAP) rc = lumi_yaml_err(d, d->root, e, "the top level must be a mapping");
    if (rc != 0) {
        lumi_yaml_free(d);
        return -1;
    }
    return 0;
}

int lumi_yaml_load(const char *path, LumiYamlDoc *d, LumiErr *e) {
    char *text;
    size_t len;
    if (lumi_read_file(path, &text, &len, e) != 0) return -1;
    int rc = lumi_yaml_parse(text, len, path, d, e);
    free(text);
    return rc;
}

void lumi_yaml_free(LumiYamlDoc *d) {
    node_free(d->root);
    free(d->path);
    memset(d, 0, sizeof *d);
}

const LumiYamlNode *lumi_yaml_get(const LumiYamlNode *map, const char *key) {
    if (!map || map->type != LUMI_Y_MAP) return NULL;
    for (int i = 0; i < map->n; i++)
        if (!strcmp(map->keys[i], key)) return map->items[i];
    return NULL;
}

int lumi_yaml_check_keys(const LumiYamlDoc *d, const LumiYamlNode *map, const char *const *allowed, LumiErr *e) {
    for (int i = 0; i < map->n; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, map->keys[i]);
        if (ok) continue;
        char list[512] = "";
        for (const char *const *a = allowed; *a; a++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", *a);
        }
        LumiYamlNode at = {.line = map->key_line[i], .col = map->key_col[i]};
        return lumi_yaml_err(d, &at, e, "unknown key '%s' (valid: %s)", map->keys[i], list);
    }
    return 0;
}

static const char *type_name(LumiYamlType t) {
    return t == LUMI_Y_MAP ? "a mapping" : t == LUMI_Y_SEQ ? "a list" : "a scalar";
}

int lumi_yaml_expect(const LumiYamlDoc *d, const LumiYamlNode *n, LumiYamlType t, const char *what, LumiErr *e) {
    if (!n) return lumi_yaml_err(d, NULL, e, "missing '%s'", what);
    if (n->type != t) return lumi_yaml_err(d, n, e, "'%s' must be %s, got %s", what, type_name(t), type_name(n->type));
    return 0;
}

static int lookup(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required,
                  const LumiYamlNode **out, LumiErr *e) {
    *out = lumi_yaml_get(map, key);
    if (!*out) return required ? lumi_yaml_err(d, map, e, "missing required key '%s'", key) : 1;
    if ((*out)->type != LUMI_Y_SCALAR)
        return lumi_yaml_err(d, *out, e, "'%s' must be a scalar, got %s", key, type_name((*out)->type));
    return 0;
}

int lumi_yaml_str(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, const char **out,
                  LumiErr *e) {
    const LumiYamlNode *n;
    int rc = lookup(d, map, key, required, &n, e);
    if (rc) return rc < 0 ? -1 : 0;
    *out = n->scalar;
    return 0;
}

int lumi_yaml_node_float(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, double *out, LumiErr *e) {
    if (n->type != LUMI_Y_SCALAR || n->quoted || lumi_parse_float(n->scalar, out) != 0)
        return lumi_yaml_err(d, n, e, "'%s' must be a number, got '%s'", what,
                             n->type == LUMI_Y_SCALAR ? n->scalar : type_name(n->type));
    return 0;
}

int lumi_yaml_node_int(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, long lo, long hi, long *out,
                       LumiErr *e) {
    if (n->type != LUMI_Y_SCALAR || n->quoted || lumi_parse_int(n->scalar, lo, hi, out) != 0)
        return lumi_yaml_err(d, n, e, "'%s' must be an integer in [%ld, %ld], got '%s'", what, lo, hi,
                             n->type == LUMI_Y_SCALAR ? n->scalar : type_name(n->type));
    return 0;
}

int lumi_yaml_int(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, long lo, long hi,
                  long *out, LumiErr *e) {
    const LumiYamlNode *n;
    int rc = lookup(d, map, key, required, &n, e);
    if (rc) return rc < 0 ? -1 : 0;
    return lumi_yaml_node_int(d, n, key, lo, hi, out, e);
}

int lumi_yaml_float(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, double lo,
                    double hi, double *out, LumiErr *e) {
    const LumiYamlNode *n;
    int rc = lookup(d, map, key, required, &n, e);
    if (rc) return rc < 0 ? -1 : 0;
    double v;
    if (lumi_yaml_node_float(d, n, key, &v, e) != 0) return -1;
    if (v < lo || v > hi) return lumi_yaml_err(d, n, e, "'%s' = %g is outside [%g, %g]", key, v, lo, hi);
    *out = v;
    return 0;
}

int lumi_yaml_bool(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, int *out, LumiErr *e) {
    const LumiYamlNode *n;
    int rc = lookup(d, map, key, required, &n, e);
    if (rc) return rc < 0 ? -1 : 0;
    const char *s = n->scalar;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) *out = 1;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off")) *out = 0;
    else return lumi_yaml_err(d, n, e, "'%s' must be true or false, got '%s'", key, s);
    return 0;
}
