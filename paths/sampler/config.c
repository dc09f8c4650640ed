/* config.c: sampler settings by key, their ranges, and the stage order.
 * One table of keys serves the command line (--top-k = top_k) and YAML, so
 * the two cannot drift apart. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stage.h"

void lumi_sampler_cfg_default(LumiSamplerCfg *c) {
    memset(c, 0, sizeof *c);
    c->temperature = 0.0f;
    c->top_k = 0;
    c->top_p = 1.0f;
    c->seed = 0;
    c->min_p = 0.0f;
    c->typical_p = 1.0f;
    c->repeat_penalty = 1.0f;
    c->presence_penalty = 0.0f;
    c->frequency_penalty = 0.0f;
    c->penalty_last_n = 64;
    c->mirostat = 0;
    c->mirostat_tau = 5.0f;
    c->mirostat_eta = 0.1f;
    c->order[0] = 0;
}

const char *lumi_sampler_keys(void) {
    return "temperature, top_k, top_p, min_p, typical, repeat_penalty, repeat_last_n, presence_penalty, "
           "frequency_penalty, mirostat, mirostat_tau, mirostat_eta, seed, order";
}

/* "a,b,c" of stage names -> indices; unknown or repeated names fail. */
int lumi_sampler_order_parse(const char *order, int *idx, int *n, LumiErr *e) {
    *n = 0;
    const char *p = order;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[32];
        if (len == 0 || len >= sizeof name) return lumi_err(e, "order '%s': empty or overlong stage name", order);
        memcpy(name, p, len);
        name[len] = 0;
        int i = lumi_stage_find(name);
        if (i < 0)
            return lumi_err(e, "order '%s': unknown stage '%s' (valid: penalties, top_k, typical, top_p, min_p, temperature)",
                            order, name);
        for (int j = 0; j < *n; j++)
            if (idx[j] == i) return lumi_err(e, "order '%s': stage '%s' listed twice", order, name);
        idx[(*n)++] = i;
        p += len + (end != NULL);
    }
    return 0;
}

static int finite_in(float v, double lo, double hi) { return isfinite(v) && v >= lo && v <= hi; }

int lumi_sampler_cfg_check(const LumiSamplerCfg *c, LumiErr *e) {
    if (!finite_in(c->temperature, 0, 1e6)) return lumi_err(e, "temperature must be >= 0 (got %g)", c->temperature);
    if (c->top_k < 0) return lumi_err(e, "top_k must be >= 0 (got %d)", c->top_k);
    if (!(finite_in(c->top_p, 0, 1) && c->top_p > 0)) return lumi_err(e, "top_p must be in (0, 1] (got %g)", c->top_p);
    if (!finite_in(c->min_p, 0, 1)) return lumi_err(e, "min_p must be in [0, 1] (got %g)", c->min_p);
    if (!(finite_in(c->typical_p, 0, 1) && c->typical_p > 0))
        return lumi_err(e, "typical must be in (0, 1] (got %g)", c->typical_p);
    if (!(finite_in(c->repeat_penalty, 0, 1e6) && c->repeat_penalty > 0))
        return lumi_err(e, "repeat_penalty must be > 0 (got %g)", c->repeat_penalty);
    if (!finite_in(c->presence_penalty, -1e6, 1e6)) return lumi_err(e, "presence_penalty must be finite");
    if (!finite_in(c->frequency_penalty, -1e6, 1e6)) return lumi_err(e, "frequency_penalty must be finite");
    if (c->penalty_last_n < 0 || c->penalty_last_n > (1 << 20))
        return lumi_err(e, "repeat_last_n must be in [0, 1048576] (got %d)", c->penalty_last_n);
    if (c->mirostat == 1) return lumi_err(e, "mirostat 1 (v1) is not implemented: use 2 (v2) or 0 (off)");
    if (c->mirostat != 0 && c->mirostat != 2) return lumi_err(e, "mirostat must be 0 or 2 (got %d)", c->mirostat);
    if (!finite_in(c->mirostat_tau, 0, 1e3)) return lumi_err(e, "mirostat_tau must be >= 0 (got %g)", c->mirostat_tau);
    if (!finite_in(c->mirostat_eta, 0, 1e3)) return lumi_err(e, "mirostat_eta must be >= 0 (got %g)", c->mirostat_eta);
    if (memchr(c->order, 0, sizeof c->order) == NULL) return lumi_err(e, "order is too long");
    int idx[LUMI_STAGE_MAX], n;
    return lumi_sampler_order_parse(c->order, idx, &n, e);
}

static int num(const char *key, const char *v, float *out, LumiErr *e) {
    double d;
    if (lumi_parse_float(v, &d)) return lumi_err(e, "%s: '%s' is not a number", key, v);
    *out = (float)d;
    return 0;
}

static int count(const char *key, const char *v, int *out, LumiErr *e) {
    long k;
    if (lumi_parse_int(v, -(1L << 30), 1L << 30, &k)) return lumi_err(e, "%s: '%s' is not an integer", key, v);
    *out = (int)k;
    return 0;
}

int lumi_sampler_set(LumiSamplerCfg *c, const char *key, const char *value, LumiErr *e) {
    LumiSamplerCfg t = *c;
    int rc;
    if (!strcmp(key, "temperature")) rc = num(key, value, &t.temperature, e);
    else if (!strcmp(key, "top_k")) rc = count(key, value, &t.top_k, e);
    else if (!strcmp(key, "top_p")) rc = num(key, value, &t.top_p, e);
    else if (!strcmp(key, "min_p")) rc = num(key, value, &t.min_p, e);
    else if (!strcmp(key, "typical")) rc = num(key, value, &t.typical_p, e);
    else if (!strcmp(key, "repeat_penalty")) rc = num(key, value, &t.repeat_penalty, e);
    else if (!strcmp(key, "repeat_last_n")) rc = count(key, value, &t.penalty_last_n, e);
    else if (!strcmp(key, "presence_penalty")) rc = num(key, value, &t.presence_penalty, e);
    else if (!strcmp(key, "frequency_penalty")) rc = num(key, value, &t.frequency_penalty, e);
    else if (!strcmp(key, "mirostat")) rc = count(key, value, &t.mirostat, e);
    else if (!strcmp(key, "mirostat_tau")) rc = num(key, value, &t.mirostat_tau, e);
    else if (!strcmp(key, "mirostat_eta")) rc = num(key, value, &t.mirostat_eta, e);
    else if (!strcmp(key, "seed")) rc = lumi_parse_u64(value, &t.seed) ? lumi_err(e, "seed: '%s' is not an unsigned integer", value) : 0;
    else if (!strcmp(key, "order")) {
        if (strlen(value) >= sizeof t.order) return lumi_err(e, "order: '%s' is too long", value);
        strcpy(t.order, value);
        rc = 0;
    } else
        return lumi_err(e, "unknown sampler setting '%s' (valid: %s)", key, lumi_sampler_keys());
    if (rc || lumi_sampler_cfg_check(&t, e)) return -1;
    *c = t;
    return 0;
}

void lumi_sampler_describe(const LumiSamplerCfg *c, char *buf, size_t n) {
    size_t l = 0;
#define ADD(...)                                                           \
    do {                                                                   \
        if (l < n) l += (size_t)snprintf(buf + l, n - l, __VA_ARGS__);     \
    } while (0)
    buf[0] = 0;
    if (c->temperature == 0) ADD("greedy");
    else ADD("t=%g", c->temperature);
    if (c->mirostat) ADD(" mirostat=2 tau=%g eta=%g", c->mirostat_tau, c->mirostat_eta);
    if (c->top_k) ADD(" top_k=%d", c->top_k);
    if (c->typical_p < 1) ADD(" typical=%g", c->typical_p);
    if (c->top_p < 1) ADD(" top_p=%g", c->top_p);
    if (c->min_p > 0) ADD(" min_p=%g", c->min_p);
    if (c->penalty_last_n > 0 && c->repeat_penalty != 1) ADD(" repeat=%g/%d", c->repeat_penalty, c->penalty_last_n);
    if (c->penalty_last_n > 0 && c->presence_penalty != 0) ADD(" presence=%g", c->presence_penalty);
    if (c->penalty_last_n > 0 && c->frequency_penalty != 0) ADD(" frequency=%g", c->frequency_penalty);
    if (c->order[0]) ADD(" order=%s", c->order);
#undef ADD
}
