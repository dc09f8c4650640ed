/* config.c: see config.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const LUMI_COMMON_KEYS[] = {"name", "kind", "model", "tokenizer", "prompts", "steps", "bos",
                                        "stop_at_eos", "sampler", "output", NULL};

/* Names become folder and file names: keep them portable. */
static int valid_name(const char *s) {
    if (!*s || strlen(s) > 63 || s[0] == '.') return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

static int get_name(const LumiYamlDoc *d, const LumiYamlNode *map, const char *key, int required, const char **out,
                    LumiErr *e) {
    if (lumi_yaml_str(d, map, key, required, out, e) != 0) return -1;
    if (*out && !valid_name(*out))
        return lumi_yaml_err(d, lumi_yaml_get(map, key), e,
                             "'%s' must be 1-63 characters of [A-Za-z0-9_.-] (it names files), got '%s'", key, *out);
    return 0;
}

int lumi_config_synth(const LumiYamlDoc *d, const LumiYamlNode *n, LumiSynthSpec *s, LumiErr *e) {
    static const char *const keys[] = {"dim", "hidden", "layers", "heads", "kv_heads", "vocab", "seq",
                                       "unshared", "seed", NULL};
    if (lumi_yaml_expect(d, n, LUMI_Y_MAP, "model.synth", e) != 0 || lumi_yaml_check_keys(d, n, keys, e) != 0)
        return -1;
    long v[7] = {0};
    for (int i = 0; i < 7; i++) /* kv_heads is optional: it defaults to heads */
        if (lumi_yaml_int(d, n, keys[i], i != 4, 1, 1 << 20, &v[i], e) != 0) return -1;
    if (!v[4]) v[4] = v[3];
    int unshared = 0;
    if (lumi_yaml_bool(d, n, "unshared", 0, &unshared, e) != 0) return -1;
    uint64_t seed = 0;
    const LumiYamlNode *sn = lumi_yaml_get(n, "seed");
    if (sn && (sn->type != LUMI_Y_SCALAR || lumi_parse_u64(sn->scalar, &seed) != 0))
        return lumi_yaml_err(d, sn, e, "'seed' must be an unsigned integer");
    *s = (LumiSynthSpec){(int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5], (int)v[6], unshared, seed};
    LumiConfig c = {.dim = s->dim, .hidden_dim = s->hidden_dim, .n_layers = s->n_layers, .n_heads = s->n_heads,
                    .n_kv_heads = s->n_kv_heads, .vocab_size = s->vocab_size, .seq_len = s->seq_len,
                    .rope_theta = 10000.0f, .norm_eps = 1e-5f, .shared_classifier = !unshared};
    LumiErr ce;
    if (lumi_config_validate(&c, "synth", &ce) != 0) return lumi_yaml_err(d, n, e, "model.synth: %s", ce.msg);
    lumi_config_derive(&c);
    size_t params = lumi_param_count(&c);
    if (params > (1u << 28)) /* a typo should not fill the disk */
        return lumi_yaml_err(d, n, e, "model.synth: %zu parameters; at most %u (1 GiB) are synthesized", params,
                             1u << 28);
    return 0;
}

static int parse_model(const LumiYamlDoc *d, const LumiYamlNode *root, LumiModelSrc *m, LumiErr *e) {
    const LumiYamlNode *n = lumi_yaml_get(root, "model");
    if (!n) return lumi_yaml_err(d, root, e, "missing required key 'model' (a file or {synth: {...}})");
    m->node = n;
    if (n->type == LUMI_Y_SCALAR) {
        m->path = n->scalar;
        return 0;
    }
    static const char *const keys[] = {"synth", NULL};
    if (n->type != LUMI_Y_MAP) return lumi_yaml_err(d, n, e, "'model' must be a file name or {synth: {...}}");
    if (lumi_yaml_check_keys(d, n, keys, e) != 0) return -1;
    const LumiYamlNode *s = lumi_yaml_get(n, "synth");
    if (!s) return lumi_yaml_err(d, n, e, "'model' mapping needs 'synth'");
    m->is_synth = 1;
    return lumi_config_synth(d, s, &m->synth, e);
}

static int parse_prompt(const LumiYamlDoc *d, const LumiYamlNode *n, int i, LumiPromptSrc *p, LumiErr *e) {
    memset(p, 0, sizeof *p);
    p->node = n;
    p->steps = -1;
    snprintf(p->name, sizeof p->name, "p%d", i);
    if (n->type == LUMI_Y_SCALAR) {
        p->text = n->scalar;
        return 0;
    }
    if (n->type != LUMI_Y_MAP)
        return lumi_yaml_err(d, n, e, "prompts[%d] must be a string, {file: F}, {ids: [..]} or {text: T}", i);
    static const char *const keys[] = {"text", "file", "ids", "name", "steps", NULL};
    if (lumi_yaml_check_keys(d, n, keys, e) != 0) return -1;
    const char *name = NULL;
    if (get_name(d, n, "name", 0, &name, e) != 0) return -1;
    if (name) snprintf(p->name, sizeof p->name, "%s", name);
    if (lumi_yaml_int(d, n, "steps", 0, 0, 1 << 20, &p->steps, e) != 0) return -1;
    if (lumi_yaml_str(d, n, "text", 0, &p->text, e) != 0 || lumi_yaml_str(d, n, "file", 0, &p->file, e) != 0)
        return -1;
    const LumiYamlNode *ids = lumi_yaml_get(n, "ids");
    if ((p->text != NULL) + (p->file != NULL) + (ids != NULL) != 1)
        return lumi_yaml_err(d, n, e, "prompts[%d] needs exactly one of text, file, ids", i);
    if (ids) {
        if (lumi_yaml_expect(d, ids, LUMI_Y_SEQ, "ids", e) != 0) return -1;
        if (ids->n == 0) return lumi_yaml_err(d, ids, e, "prompts[%d].ids is empty", i);
        p->ids = lumi_xmalloc(sizeof(int) * (size_t)ids->n);
        p->n_ids = ids->n;
        for (int k = 0; k < ids->n; k++) {
            long v;
            if (lumi_yaml_node_int(d, ids->items[k], "ids", 0, 1L << 30, &v, e) != 0) return -1;
            p->ids[k] = (int)v;
        }
    }
    return 0;
}

static int parse_prompts(const LumiYamlDoc *d, const LumiYamlNode *root, LumiExpCommon *c, LumiErr *e) {
    const LumiYamlNode *n = lumi_yaml_get(root, "prompts");
    if (!n) return lumi_yaml_err(d, root, e, "missing required key 'prompts'");
    if (lumi_yaml_expect(d, n, LUMI_Y_SEQ, "prompts", e) != 0) return -1;
    if (n->n == 0) return lumi_yaml_err(d, n, e, "'prompts' is empty");
    c->prompts = lumi_xcalloc((size_t)n->n, sizeof *c->prompts);
    for (int i = 0; i < n->n; i++) {
        c->n_prompts = i + 1; /* so free() releases what was parsed */
        if (parse_prompt(d, n->items[i], i, &c->prompts[i], e) != 0) return -1;
        for (int j = 0; j < i; j++)
            if (!strcmp(c->prompts[j].name, c->prompts[i].name))
                return lumi_yaml_err(d, n->items[i], e, "prompt name '%s' is used twice", c->prompts[i].name);
    }
    return 0;
}

/* sampler: a mapping of stage settings, the same keys as a study's samplers
 * and generate's flags (lumi_sampler_set validates names and values). */
static int parse_sampler(const LumiYamlDoc *d, const LumiYamlNode *root, LumiSamplerCfg *s, LumiErr *e) {
    lumi_sampler_cfg_default(s);
    const LumiYamlNode *n = lumi_yaml_get(root, "sampler");
    if (!n) return 0;
    if (lumi_yaml_expect(d, n, LUMI_Y_MAP, "sampler", e) != 0) return -1;
    for (int i = 0; i < n->n; i++) {
        const LumiYamlNode *v = n->items[i];
        LumiErr se;
        if (v->type != LUMI_Y_SCALAR) return lumi_yaml_err(d, v, e, "sampler: '%s' must be a scalar", n->keys[i]);
        if (lumi_sampler_set(s, n->keys[i], v->scalar, &se) != 0)
            return lumi_yaml_err(d, v, e, "sampler: %s", se.msg);
    }
    return 0;
}

int lumi_config_check_keys(const LumiYamlDoc *doc, const char *const *extra, LumiErr *e) {
    const char *all[64];
    int n = 0;
    for (const char *const *k = LUMI_COMMON_KEYS; *k; k++) all[n++] = *k;
    for (const char *const *k = extra; k && *k && n < 63; k++) all[n++] = *k;
    all[n] = NULL;
    return lumi_yaml_check_keys(doc, doc->root, all, e);
}

static int common(const LumiYamlDoc *d, LumiExpCommon *c, int eos_default, LumiErr *e) {
    const LumiYamlNode *r = d->root;
    c->bos = 1;
    c->stop_at_eos = eos_default;
    c->steps = 16;
    c->output = "results";
    lumi_sampler_cfg_default(&c->sampler);
    if (get_name(d, r, "name", 1, &c->name, e) != 0 || lumi_yaml_str(d, r, "kind", 1, &c->kind, e) != 0) return -1;
    if (parse_model(d, r, &c->model, e) != 0) return -1;
    if (lumi_yaml_str(d, r, "tokenizer", 0, &c->tokenizer, e) != 0) return -1;
    c->tokenizer_node = lumi_yaml_get(r, "tokenizer");
    /* text prompts without `tokenizer:` need the model's own: checked when
     * the model is loaded (inputs.c) */
    if (parse_prompts(d, r, c, e) != 0) return -1;
    if (lumi_yaml_int(d, r, "steps", 0, 0, 1 << 20, &c->steps, e) != 0) return -1;
    if (lumi_yaml_bool(d, r, "bos", 0, &c->bos, e) != 0) return -1;
    if (lumi_yaml_bool(d, r, "stop_at_eos", 0, &c->stop_at_eos, e) != 0) return -1;
    if (parse_sampler(d, r, &c->sampler, e) != 0) return -1;
    if (lumi_yaml_str(d, r, "output", 0, &c->output, e) != 0) return -1;
    return 0;
}

int lumi_config_common(const LumiYamlDoc *d, LumiExpCommon *c, int eos_default, LumiErr *e) {
    memset(c, 0, sizeof *c);
    if (common(d, c, eos_default, e) == 0) return 0;
    lumi_config_common_free(c);
    return -1;
}

void lumi_config_common_free(LumiExpCommon *c) {
    for (int i = 0; i < c->n_prompts; i++) free(c->prompts[i].ids);
    free(c->prompts);
    c->prompts = NULL;
    c->n_prompts = 0;
}

/* ---- tolerances ---- */

void lumi_tolerance_bitwise(LumiTolerance *t) {
    *t = (LumiTolerance){.bitwise = 1, .max_abs = -1, .max_rel = -1, .nmse = -1, .kl = -1,
                         .kl_mean = -1, .kl_p99 = -1, .top1_rate = -1};
}

void lumi_tolerance_max_abs(LumiTolerance *t, double max_abs) {
    *t = (LumiTolerance){.max_abs = max_abs, .max_rel = -1, .nmse = -1, .kl = -1,
                         .kl_mean = -1, .kl_p99 = -1, .top1_rate = -1};
}

void lumi_tolerance_format(const LumiTolerance *t, char *buf, size_t n) {
    buf[0] = 0;
    size_t l = 0;
#define ADD(...) l += (size_t)snprintf(buf + l, l < n ? n - l : 0, __VA_ARGS__)
    if (t->bitwise) ADD("bitwise");
    if (t->max_abs >= 0) ADD("%smax_abs<=%g", l ? "," : "", t->max_abs);
    if (t->max_rel >= 0) ADD("%smax_rel<=%g", l ? "," : "", t->max_rel);
    if (t->nmse >= 0) ADD("%snmse<=%g", l ? "," : "", t->nmse);
    if (t->kl >= 0) ADD("%skl<=%g", l ? "," : "", t->kl);
    if (t->top1) ADD("%stop1", l ? "," : "");
    if (t->tokens) ADD("%stokens", l ? "," : "");
    if (t->kl_mean >= 0) ADD("%skl_mean<=%g", l ? "," : "", t->kl_mean);
    if (t->kl_p99 >= 0) ADD("%skl_p99<=%g", l ? "," : "", t->kl_p99);
    if (t->top1_rate >= 0) ADD("%stop1_rate>=%g", l ? "," : "", t->top1_rate);
    if (l == 0) ADD("any");
#undef ADD
}

int lumi_config_tolerance(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, LumiTolerance *t,
                          LumiErr *e) {
    if (n->type == LUMI_Y_SCALAR) {
        if (strcmp(n->scalar, "bitwise") != 0)
            return lumi_yaml_err(d, n, e, "'%s' must be 'bitwise' or a mapping of limits, got '%s'", what, n->scalar);
        lumi_tolerance_bitwise(t);
        return 0;
    }
    static const char *const keys[] = {"bitwise", "max_abs", "max_rel", "nmse",   "kl",        "top1",
                                       "tokens",  "kl_mean", "kl_p99",  "top1_rate", NULL};
    if (lumi_yaml_expect(d, n, LUMI_Y_MAP, what, e) != 0 || lumi_yaml_check_keys(d, n, keys, e) != 0) return -1;
    if (n->n == 0) return lumi_yaml_err(d, n, e, "'%s' is empty", what);
    lumi_tolerance_max_abs(t, -1);
    if (lumi_yaml_bool(d, n, "bitwise", 0, &t->bitwise, e) != 0 ||
        lumi_yaml_float(d, n, "max_abs", 0, 0, INFINITY, &t->max_abs, e) != 0 ||
        lumi_yaml_float(d, n, "max_rel", 0, 0, INFINITY, &t->max_rel, e) != 0 ||
        lumi_yaml_float(d, n, "nmse", 0, 0, INFINITY, &t->nmse, e) != 0 ||
        lumi_yaml_float(d, n, "kl", 0, 0, INFINITY, &t->kl, e) != 0 || lumi_yaml_bool(d, n, "top1", 0, &t->top1, e) != 0 ||
        lumi_yaml_bool(d, n, "tokens", 0, &t->tokens, e) != 0 ||
        lumi_yaml_float(d, n, "kl_mean", 0, 0, INFINITY, &t->kl_mean, e) != 0 ||
        lumi_yaml_float(d, n, "kl_p99", 0, 0, INFINITY, &t->kl_p99, e) != 0 ||
        lumi_yaml_float(d, n, "top1_rate", 0, 0, 1, &t->top1_rate, e) != 0)
        return -1;
    return 0;
}

/* ---- paths ---- */

static void make_label(LumiPathEntry *p) {
    lumi_path_format(&p->spec, p->label, sizeof p->label);
    if (p->has_canary) {
        size_t l = strlen(p->label);
        snprintf(p->label + l, sizeof p->label - l, " canary@%d", p->canary.position);
    }
}

/* A scalar axis value as text ("chunked:4", "ref", 2). */
static int axis_value(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, const char **out, LumiErr *e) {
    if (n->type != LUMI_Y_SCALAR) return lumi_yaml_err(d, n, e, "'%s' values must be scalars", what);
    *out = n->scalar;
    return 0;
}

static int set_axis(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, LumiPathSpec *s, const char *axis,
                    LumiErr *e) {
    const char *v = NULL;
    LumiErr pe;
    if (axis_value(d, n, what, &v, e) != 0) return -1;
    if (lumi_path_set(s, axis, v, &pe) != 0) return lumi_yaml_err(d, n, e, "%s: %s", what, pe.msg);
    return 0;
}

static const char *const AXES[] = {"backend", "cache", "prefill", "threads", "weights", NULL};
#define N_AXES 5

int lumi_config_path(const LumiYamlDoc *d, const LumiYamlNode *n, const char *what, int explicit_entry,
                     LumiPathEntry *out, LumiErr *e) {
    static const char *const ekeys[] = {"backend", "cache",  "prefill", "threads", "weights",
                                        "canary",  "tolerance", "device", NULL};
    memset(out, 0, sizeof *out);
    lumi_path_default(&out->spec);
    if (lumi_yaml_expect(d, n, LUMI_Y_MAP, what, e) != 0) return -1;
    if (lumi_yaml_check_keys(d, n, explicit_entry ? ekeys : AXES, e) != 0) return -1;
    for (int i = 0; AXES[i]; i++) {
        const LumiYamlNode *v = lumi_yaml_get(n, AXES[i]);
        char w[96];
        snprintf(w, sizeof w, "%s.%s", what, AXES[i]);
        if (v && set_axis(d, v, w, &out->spec, AXES[i], e) != 0) return -1;
    }
    const LumiYamlNode *dv = explicit_entry ? lumi_yaml_get(n, "device") : NULL; /* device backends */
    if (dv && set_axis(d, dv, "device", &out->spec, "device", e) != 0) return -1;
    const LumiYamlNode *c = lumi_yaml_get(n, "canary");
    if (c) {
        static const char *const ckeys[] = {"position", "epsilon", NULL};
        long pos;
        if (lumi_yaml_expect(d, c, LUMI_Y_MAP, "canary", e) != 0 || lumi_yaml_check_keys(d, c, ckeys, e) != 0 ||
            lumi_yaml_int(d, c, "position", 1, 0, 1 << 20, &pos, e) != 0 ||
            lumi_yaml_float(d, c, "epsilon", 1, -1e30, 1e30, &out->canary.epsilon, e) != 0)
            return -1;
        if (out->canary.epsilon == 0) return lumi_yaml_err(d, c, e, "canary.epsilon must not be 0");
        out->canary.position = (int)pos;
        out->has_canary = 1;
    }
    const LumiYamlNode *t = lumi_yaml_get(n, "tolerance");
    if (t) {
        if (lumi_config_tolerance(d, t, "tolerance", &out->tol, e) != 0) return -1;
        out->has_tolerance = 1;
    }
    make_label(out);
    return 0;
}

/* The values of one axis of the matrix: a scalar or a list of scalars. */
static int axis_list(const LumiYamlDoc *d, const LumiYamlNode *m, const char *axis, const LumiYamlNode ***vals, int *n,
                     LumiErr *e) {
    const LumiYamlNode *v = lumi_yaml_get(m, axis);
    *vals = NULL;
    *n = 0;
    if (!v) return 0;
    if (v->type == LUMI_Y_MAP) return lumi_yaml_err(d, v, e, "'paths.%s' must be a value or a list of values", axis);
    if (v->type == LUMI_Y_SCALAR) {
        *vals = lumi_xmalloc(sizeof **vals);
        (*vals)[0] = v;
        *n = 1;
        return 0;
    }
    if (v->n == 0) return lumi_yaml_err(d, v, e, "'paths.%s' is empty", axis);
    *vals = lumi_xmalloc(sizeof **vals * (size_t)v->n);
    for (int i = 0; i < v->n; i++) (*vals)[i] = v->items[i];
    *n = v->n;
    return 0;
}

/* An exclude entry matches a path when every axis it names has that value. */
static int parse_excludes(const LumiYamlDoc *d, const LumiYamlNode *x, LumiPathSpec **specs, int ***given,
                          int *n, LumiErr *e) {
    *specs = NULL;
    *given = NULL;
    *n = 0;
    if (!x) return 0;
    if (lumi_yaml_expect(d, x, LUMI_Y_SEQ, "paths.exclude", e) != 0) return -1;
    *specs = lumi_xcalloc((size_t)x->n + 1, sizeof **specs);
    *given = lumi_xcalloc((size_t)x->n + 1, sizeof **given);
    for (int i = 0; i < x->n; i++) {
        const LumiYamlNode *m = x->items[i];
        (*given)[i] = lumi_xcalloc(N_AXES, sizeof(int));
        *n = i + 1;
        if (lumi_yaml_expect(d, m, LUMI_Y_MAP, "paths.exclude[]", e) != 0 || lumi_yaml_check_keys(d, m, AXES, e) != 0)
            return -1;
        lumi_path_default(&(*specs)[i]);
        for (int a = 0; AXES[a]; a++) {
            const LumiYamlNode *v = lumi_yaml_get(m, AXES[a]);
            if (!v) continue;
            if (set_axis(d, v, "paths.exclude", &(*specs)[i], AXES[a], e) != 0) return -1;
            (*given)[i][a] = 1;
        }
    }
    return 0;
}

static int excluded(const LumiPathSpec *p, const LumiPathSpec *x, const int *given) {
    if (given[0] && strcmp(p->backend, x->backend)) return 0;
    if (given[1] && strcmp(p->cache, x->cache)) return 0;
    if (given[2] && (strcmp(p->prefill, x->prefill) || p->chunk != x->chunk)) return 0;
    if (given[3] && p->threads != x->threads) return 0;
    if (given[4] && strcmp(p->weights, x->weights)) return 0;
    return 1;
}

static int add_entry(const LumiYamlDoc *d, const LumiYamlNode *at, LumiPathEntry **out, int *n, int *cap,
                     const LumiPathEntry *p, LumiErr *e) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*out)[i].label, p->label)) return lumi_yaml_err(d, at, e, "path %s is listed twice", p->label);
    if (*n == *cap) *out = lumi_xrealloc(*out, sizeof **out * (size_t)(*cap = *cap ? 2 * *cap : 16));
    (*out)[(*n)++] = *p;
    return 0;
}

static int parse_matrix(const LumiYamlDoc *d, const LumiYamlNode *m, LumiPathEntry **out, int *n, int *cap,
                        LumiErr *e) {
    static const char *const keys[] = {"backend", "cache", "prefill", "threads", "weights", "exclude", "extra", NULL};
    if (lumi_yaml_check_keys(d, m, keys, e) != 0) return -1;
    const LumiYamlNode **vals[N_AXES] = {0};
    int nv[N_AXES] = {0}, rc = -1, n_ex = 0;
    LumiPathSpec *ex = NULL;
    int **given = NULL;
    for (int a = 0; a < N_AXES; a++)
        if (axis_list(d, m, AXES[a], &vals[a], &nv[a], e) != 0) goto out;
    if (parse_excludes(d, lumi_yaml_get(m, "exclude"), &ex, &given, &n_ex, e) != 0) goto out;
    /* odometer over the axes; an absent axis contributes its default */
    int idx[N_AXES] = {0};
    for (;;) {
        LumiPathEntry p;
        memset(&p, 0, sizeof p);
        lumi_path_default(&p.spec);
        for (int a = 0; a < N_AXES; a++) {
            if (!nv[a]) continue;
            char w[32];
            snprintf(w, sizeof w, "paths.%s", AXES[a]);
            if (set_axis(d, vals[a][idx[a]], w, &p.spec, AXES[a], e) != 0) goto out;
        }
        int skip = 0;
        for (int x = 0; x < n_ex && !skip; x++) skip = excluded(&p.spec, &ex[x], given[x]);
        make_label(&p);
        if (!skip && add_entry(d, m, out, n, cap, &p, e) != 0) goto out;
        int a = N_AXES - 1;
        while (a >= 0) {
            if (nv[a] && ++idx[a] < nv[a]) break;
            idx[a] = 0;
            a--;
        }
        if (a < 0) break;
    }
    const LumiYamlNode *extra = lumi_yaml_get(m, "extra");
    if (extra) {
        if (lumi_yaml_expect(d, extra, LUMI_Y_SEQ, "paths.extra", e) != 0) goto out;
        for (int i = 0; i < extra->n; i++) {
            LumiPathEntry p;
            if (lumi_config_path(d, extra->items[i], "paths.extra[]", 1, &p, e) != 0 ||
                add_entry(d, extra->items[i], out, n, cap, &p, e) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    for (int a = 0; a < N_AXES; a++) free(vals[a]);
    for (int x = 0; x < n_ex; x++) free(given[x]);
    free(given);
    free(ex);
    return rc;
}

int lumi_config_paths(const LumiYamlDoc *d, const LumiYamlNode *n, LumiPathEntry **out, int *n_out, LumiErr *e) {
    *out = NULL;
    *n_out = 0;
    int cap = 0, rc = 0;
    if (!n) {
        LumiPathEntry p = {0};
        lumi_path_default(&p.spec);
        make_label(&p);
        return add_entry(d, n, out, n_out, &cap, &p, e);
    }
    if (n->type == LUMI_Y_MAP) {
        rc = parse_matrix(d, n, out, n_out, &cap, e);
    } else if (n->type == LUMI_Y_SEQ) {
        for (int i = 0; i < n->n && rc == 0; i++) {
            LumiPathEntry p;
            rc = lumi_config_path(d, n->items[i], "paths[]", 1, &p, e);
            if (rc == 0) rc = add_entry(d, n->items[i], out, n_out, &cap, &p, e);
        }
    } else {
        rc = lumi_yaml_err(d, n, e, "'paths' must be a matrix mapping or a list of path mappings");
    }
    if (rc == 0 && *n_out == 0) rc = lumi_yaml_err(d, n, e, "'paths' selects no path (everything excluded?)");
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n_out = 0;
    }
    return rc;
}

/* ---- the equivalence kind ---- */

static const char *const EQUIV_KEYS[] = {"paths", "reference", "tolerance", "goldens", "require", NULL};

int lumi_config_equivalence(const LumiYamlDoc *d, LumiEquivConfig *c, LumiErr *e) {
    memset(c, 0, sizeof *c);
    if (lumi_config_check_keys(d, EQUIV_KEYS, e) != 0) return -1;
    if (lumi_config_common(d, &c->common, 0, e) != 0) goto fail;
    if (lumi_config_paths(d, lumi_yaml_get(d->root, "paths"), &c->paths, &c->n_paths, e) != 0) goto fail;
    if (lumi_yaml_bool(d, d->root, "require", 0, &c->require, e) != 0) goto fail;
    const LumiYamlNode *r = lumi_yaml_get(d->root, "reference");
    if (r) {
        if (lumi_config_path(d, r, "reference", 0, &c->reference, e) != 0) goto fail;
    } else {
        lumi_path_default(&c->reference.spec);
        strcpy(c->reference.spec.cache, "fixed");
        strcpy(c->reference.spec.prefill, "token");
        make_label(&c->reference);
    }
    lumi_tolerance_bitwise(&c->same_backend);
    lumi_tolerance_max_abs(&c->cross_backend, 1e-4);
    const LumiYamlNode *t = lumi_yaml_get(d->root, "tolerance");
    if (t) {
        static const char *const keys[] = {"same_backend", "cross_backend", "golden", "per_backend", NULL};
        if (lumi_yaml_expect(d, t, LUMI_Y_MAP, "tolerance", e) != 0 || lumi_yaml_check_keys(d, t, keys, e) != 0)
            goto fail;
        const LumiYamlNode *s = lumi_yaml_get(t, "same_backend"), *x = lumi_yaml_get(t, "cross_backend");
        if (s && lumi_config_tolerance(d, s, "tolerance.same_backend", &c->same_backend, e) != 0) goto fail;
        if (x && lumi_config_tolerance(d, x, "tolerance.cross_backend", &c->cross_backend, e) != 0) goto fail;
        const LumiYamlNode *g = lumi_yaml_get(t, "golden");
        if (g && lumi_config_tolerance(d, g, "tolerance.golden", &c->golden, e) != 0) goto fail;
        c->has_golden_tol = g != NULL;
        const LumiYamlNode *pb = lumi_yaml_get(t, "per_backend");
        if (pb && lumi_yaml_expect(d, pb, LUMI_Y_MAP, "tolerance.per_backend", e) != 0) goto fail;
        for (int i = 0; pb && i < pb->n; i++) {
            LumiPathSpec probe;
            lumi_path_default(&probe);
            LumiErr be;
            LumiYamlNode at = {.line = pb->key_line[i], .col = pb->key_col[i]};
            if (i >= 8) {
                lumi_yaml_err(d, &at, e, "tolerance.per_backend: at most 8 backends");
                goto fail;
            }
            if (lumi_path_set(&probe, "backend", pb->keys[i], &be) != 0) {
                lumi_yaml_err(d, &at, e, "tolerance.per_backend: %s", be.msg);
                goto fail;
            }
            snprintf(c->per_backend[i].backend, sizeof c->per_backend[i].backend, "%s", pb->keys[i]);
            if (lumi_config_tolerance(d, pb->items[i], "tolerance.per_backend", &c->per_backend[i].tol, e) != 0)
                goto fail;
            c->n_per_backend = i + 1;
        }
    }
    const char *g = NULL;
    if (lumi_yaml_str(d, d->root, "goldens", 0, &g, e) != 0) goto fail;
    if (!g) {
        snprintf(c->goldens_buf, sizeof c->goldens_buf, "goldens/%s", c->common.name);
        g = c->goldens_buf;
    }
    c->goldens = g;
    lumi_equiv_set_anchors(c);
    return 0;
fail:
    lumi_config_equivalence_free(c);
    return -1;
}

void lumi_config_equivalence_free(LumiEquivConfig *c) {
    lumi_config_common_free(&c->common);
    free(c->paths);
    free(c->anchor);
    c->paths = NULL;
    c->anchor = NULL;
    c->n_paths = 0;
}

const LumiTolerance *lumi_equiv_same_tolerance(const LumiEquivConfig *c, const char *backend) {
    for (int i = 0; i < c->n_per_backend; i++)
        if (!strcmp(c->per_backend[i].backend, backend)) return &c->per_backend[i].tol;
    return &c->same_backend;
}

const LumiTolerance *lumi_equiv_tolerance(const LumiEquivConfig *c, const LumiPathEntry *p) {
    if (p->has_tolerance) return &p->tol;
    if (!strcmp(p->spec.backend, c->reference.spec.backend)) return lumi_equiv_same_tolerance(c, p->spec.backend);
    return &c->cross_backend;
}

int lumi_equiv_anchor(const LumiEquivConfig *c, int k) { return c->anchor[k]; }

void lumi_equiv_set_anchors(LumiEquivConfig *c) {
    free(c->anchor);
    c->anchor = lumi_xmalloc(sizeof(int) * (size_t)(c->n_paths ? c->n_paths : 1));
    for (int k = 0; k < c->n_paths; k++) {
        c->anchor[k] = -1;
        if (!strcmp(c->paths[k].spec.backend, c->reference.spec.backend)) continue;
        for (int j = 0; j < c->n_paths; j++)
            /* one anchor per backend and weights= dtype: other dtypes are other numbers */
            if (!strcmp(c->paths[j].spec.backend, c->paths[k].spec.backend) &&
                !strcmp(c->paths[j].spec.weights, c->paths[k].spec.weights) && !c->paths[j].has_canary) {
                c->anchor[k] = j == k ? -1 : j;
                break;
            }
    }
}
