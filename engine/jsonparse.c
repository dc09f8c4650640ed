/* jsonparse.c: see jsonparse.h. Recursive descent with a depth limit. */
#include "jsonparse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *base, *s, *end;
    const char *what;
    LumiErr *e;
    int depth;
} P;

static int fail(P *p, const char *msg) {
    return lumi_err(p->e, "%s: invalid JSON at byte %ld: %s", p->what, (long)(p->s - p->base), msg);
}

static void ws(P *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static void put_utf8(char *out, size_t *k, unsigned c) {
    if (c < 0x80) out[(*k)++] = (char)c;
    else if (c < 0x800) {
        out[(*k)++] = (char)(0xC0 | (c >> 6));
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out[(*k)++] = (char)(0xE0 | (c >> 12));
        out[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*k)++] = (char)(0xF0 | (c >> 18));
        out[(*k)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    }
}

static int hex4(const char *s, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

static int string(P *p, char **out) {
    p->s++; /* opening quote */
    const char *start = p->s;
    while (p->s < p->end && *p->s != '"') p->s += *p->s == '\\' ? 2 : 1;
    if (p->s >= p->end) return fail(p, "unterminated string");
    /* decoded length never exceeds the escaped length */
    char *buf = lumi_xmalloc((size_t)(p->s - start) + 1);
    size_t k = 0;
    for (const char *q = start; q < p->s; q++) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20) { free(buf); return fail(p, "control character in string"); }
        if (c != '\\') { buf[k++] = (char)c; continue; }
        q++;
        switch (*q) {
        case '"': buf[k++] = '"'; break;
        case '\\': buf[k++] = '\\'; break;
        case '/': buf[k++] = '/'; break;
        case 'b': buf[k++] = '\b'; break;
        case 'f': buf[k++] = '\f'; break;
        case 'n': buf[k++] = '\n'; break;
        case 'r': buf[k++] = '\r'; break;
        case 't': buf[k++] = '\t'; break;
        case 'u': {
            unsigned v;
            if (p->s - q < 5 || hex4(q + 1, &v) != 0 || v == 0) { free(buf); return fail(p, "bad \\u escape"); }
            q += 4;
            if (v >= 0xD800 && v < 0xDC00 && p->s - q >= 7 && q[1] == '\\' && q[2] == 'u') {
                unsigned lo;
                if (hex4(q + 3, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    q += 6;
                }
            }
            put_utf8(buf, &k, v); /* a \uXXXX escape is 6 bytes, its UTF-8 at most 4 */
            break;
        }
        default: free(buf); return fail(p, "bad escape");
        }
    }
    buf[k] = 0;
    p->s++; /* closing quote */
    *out = buf;
    return 0;
}

static int value(P *p, LumiJson **out);

static int container(P *p, LumiJson *j, char close) {
    p->s++;
    ws(p);
    if (p->s < p->end && *p->s == close) { p->s++; return 0; }
    for (;;) {
        ws(p);
        char *key = NULL;
        if (j->type == LJ_OBJ) {
            if (p->s >= p->end || *p->s != '"') return fail(p, "expected a string key");
            if (string(p, &key) != 0) return -1;
            ws(p);
            if (p->s >= p->end || *p->s != ':') { free(key); return fail(p, "expected ':'"); }
            p->s++;
        }
        LumiJson *v = NULL;
        if (value(p, &v) != 0) {
            free(key);
            lumi_json_free(v); /* partial child, not yet attached */
            return -1;
        }
        j->items = lumi_xrealloc(j->items, sizeof(LumiJson *) * (size_t)(j->n + 1));
        if (j->type == LJ_OBJ) {
            j->keys = lumi_xrealloc(j->keys, sizeof(char *) * (size_t)(j->n + 1));
            j->keys[j->n] = key;
        }
        j->items[j->n++] = v;
        ws(p);
        if (p->s < p->end && *p->s == ',') { p->s++; continue; }
        if (p->s < p->end && *p->s == close) { p->s++; return 0; }
        return fail(p, "expected ',' or a closing bracket");
    }
}

static int value(P *p, LumiJson **out) {
    ws(p);
    if (p->s >= p->end) return fail(p, "unexpected end");
    if (++p->depth > 64) return fail(p, "nesting too deep");
    LumiJson *j = lumi_xcalloc(1, sizeof *j);
    *out = j;
    int rc = 0;
    char c = *p->s;
    if (c == '{' || c == '[') {
        j->type = c == '{' ? LJ_OBJ : LJ_ARR;
        rc = container(p, j, c == '{' ? '}' : ']');
    } else if (c == '"') {
        j->type = LJ_STR;
        rc = string(p, &j->str);
    } else if (p->end - p->s >= 4 && !memcmp(p->s, "true", 4)) {
        j->type = LJ_BOOL, j->num = 1, p->s += 4;
    } else if (p->end - p->s >= 5 && !memcmp(p->s, "false", 5)) {
        j->type = LJ_BOOL, p->s += 5;
    } else if (p->end - p->s >= 4 && !memcmp(p->s, "null", 4)) {
        j->type = LJ_NULL, p->s += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t k = 0;
        while (p->s < p->end && k < sizeof buf - 1 && strchr("+-0123456789.eE", *p->s)) buf[k++] = *p->s++;
        buf[k] = 0;
        char *endp;
        j->type = LJ_NUM;
        j->num = strtod(buf, &endp);
        if (*endp || !isfinite(j->num)) rc = fail(p, "bad number");
    } else {
        rc = fail(p, "unexpected character");
    }
    p->depth--;
    return rc;
}

int lumi_json_parse(const char *text, size_t len, const char *what, LumiJson **out, LumiErr *e) {
    P p = {text, text, text + len, what, e, 0};
    LumiJson *j = NULL;
    int rc = value(&p, &j);
    if (rc == 0) {
        ws(&p);
        /* trailing NUL padding is allowed (safetensors pads headers with spaces) */
        while (p.s < p.end && *p.s == 0) p.s++;
        if (p.s != p.end) rc = fail(&p, "trailing characters");
    }
    if (rc != 0) {
        lumi_json_free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void lumi_json_free(LumiJson *j) {
    if (!j) return;
    for (int i = 0; i < j->n; i++) {
        lumi_json_free(j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

const LumiJson *lumi_json_get(const LumiJson *obj, const char *key) {
    if (!obj || obj->type != LJ_OBJ) return NULL;
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return obj->items[i];
    return NULL;
}

int lumi_json_int(const LumiJson *obj, const char *key, long lo, long hi, long *out) {
    const LumiJson *v = lumi_json_get(obj, key);
    if (!v || v->type == LJ_NULL) return 1;
    if (v->type != LJ_NUM || v->num != floor(v->num) || v->num < (double)lo || v->num > (double)hi) return -1;
    *out = (long)v->num;
    return 0;
}

int lumi_json_num_get(const LumiJson *obj, const char *key, double *out) {
    const LumiJson *v = lumi_json_get(obj, key);
    if (!v || v->type == LJ_NULL) return 1;
    if (v->type != LJ_NUM) return -1;
    *out = v->num;
    return 0;
}
