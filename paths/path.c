/* path.c: parsing and printing path specs. */
#include "path.h"

#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/weights.h"
#include "cache/cache.h"
#include "prefill/prefill.h"
#include "turns/turns.h"

void lumi_path_default(LumiPathSpec *p) {
    memset(p, 0, sizeof *p);
    strcpy(p->backend, "ref");
    strcpy(p->cache, "fixed");
    strcpy(p->prefill, "batched");
}

static int bad_value(const char *axis, const char *value, LumiErr *e) {
    char names[256];
    lumi_registry_names(axis, names, sizeof names);
    return lumi_err(e, "unknown %s '%s' (valid: %s)", axis, value, names);
}

int lumi_path_set(LumiPathSpec *p, const char *axis, const char *value, LumiErr *e) {
    if (strcmp(axis, "backend") == 0) {
        if (!lumi_backend_find(value) || strlen(value) >= sizeof p->backend) return bad_value(axis, value, e);
        strcpy(p->backend, value);
    } else if (strcmp(axis, "cache") == 0) {
        if (!lumi_cache_find(value) || strlen(value) >= sizeof p->cache) return bad_value(axis, value, e);
        strcpy(p->cache, value);
    } else if (strcmp(axis, "prefill") == 0) {
        char name[32];
        const char *colon = strchr(value, ':');
        size_t len = colon ? (size_t)(colon - value) : strlen(value);
        if (len >= sizeof name) return bad_value(axis, value, e);
        memcpy(name, value, len);
        name[len] = 0;
        const LumiPrefillOps *op = lumi_prefill_find(name);
        if (!op) return bad_value(axis, value, e);
        long n = 0;
        if (op->takes_arg) {
            if (!colon || lumi_parse_int(colon + 1, 1, 1 << 20, &n) != 0)
                return lumi_err(e, "prefill '%s': expected %s:N with N >= 1", value, name);
        } else if (colon) {
            return lumi_err(e, "prefill '%s' takes no argument", name);
        }
        strcpy(p->prefill, name);
        p->chunk = (int)n;
    } else if (strcmp(axis, "threads") == 0) {
        long n;
        if (lumi_parse_int(value, 0, 1024, &n) != 0) return lumi_err(e, "threads '%s': expected 0..1024", value);
        p->threads = (int)n;
    } else if (strcmp(axis, "turns") == 0) {
        if (!lumi_turns_find(value) || strlen(value) >= sizeof p->turns) return bad_value(axis, value, e);
        strcpy(p->turns, value);
    } else if (strcmp(axis, "device") == 0) {
        long n;
        if (lumi_parse_int(value, 0, 1024, &n) != 0) return lumi_err(e, "device '%s': expected 0..1024", value);
        p->device = (int)n;
        p->has_device = 1;
    } else if (strcmp(axis, "weights") == 0) {
        if (lumi_weights_parse(value) == -2)
            return lumi_err(e, "unknown weights '%s' (valid: file, f32, bf16, f16, q8_0)", value);
        snprintf(p->weights, sizeof p->weights, "%s", strcmp(value, "file") ? value : "");
    } else {
        return lumi_err(e, "unknown path axis '%s' (valid: backend, cache, prefill, threads, weights, turns, device)",
                        axis);
    }
    return 0;
}

int lumi_path_parse(const char *s, LumiPathSpec *p, LumiErr *e) {
    char *copy = lumi_xstrdup(s), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            rc = lumi_err(e, "path '%s': expected axis=value, got '%s'", s, item);
            break;
        }
        *eq = 0;
        rc = lumi_path_set(p, item, eq + 1, e);
    }
    free(copy);
    return rc;
}

void lumi_path_format(const LumiPathSpec *p, char *buf, size_t n) {
    char pre[48];
    if (p->chunk > 0) snprintf(pre, sizeof pre, "%s:%d", p->prefill, p->chunk);
    else snprintf(pre, sizeof pre, "%s", p->prefill);
    int k = snprintf(buf, n, "backend=%s,cache=%s,prefill=%s", p->backend, p->cache, pre);
    if (p->threads > 0 && k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, ",threads=%d", p->threads);
    /* optional axes, each only when set, so the labels of older runs stay the same */
    size_t l = strlen(buf);
    if (p->weights[0]) l += (size_t)snprintf(buf + l, l < n ? n - l : 0, ",weights=%s", p->weights);
    if (p->turns[0] && l < n) l += (size_t)snprintf(buf + l, n - l, ",turns=%s", p->turns);
    if (p->has_device && l < n) snprintf(buf + l, n - l, ",device=%d", p->device);
}
