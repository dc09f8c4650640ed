/* study_config.c: reading a study's YAML (see study.h). Every error names
 * the file, line and column of the offending key or value. */
#include <stdlib.h>
#include <string.h>

#include "study.h"

static int read_path(const LumiYamlDoc *d, LumiStudyCfg *c, LumiErr *e) {
    lumi_path_default(&c->path);
    const LumiYamlNode *n = lumi_yaml_get(d->root, "path");
    if (!n) return 0;
    LumiPathEntry p;
    if (lumi_config_path(d, n, "path", 0, &p, e)) return -1;
    c->path = p.spec;
    return 0;
}

static int read_seeds(const LumiYamlDoc *d, LumiStudyCfg *c, LumiErr *e) {
    const LumiYamlNode *n = lumi_yaml_get(d->root, "seeds");
    if (!n) return lumi_yaml_err(d, d->root, e, "missing required key 'seeds' (a count or a list)");
    if (n->type == LUMI_Y_SCALAR) {
        long k;
        if (lumi_yaml_node_int(d, n, "seeds", 1, 1000000, &k, e)) return -1;
        c->seeds = lumi_xmalloc((size_t)k * sizeof *c->seeds);
        for (long i = 0; i < k; i++) c->seeds[i] = (uint64_t)i;
        c->n_seeds = (int)k;
        return 0;
    }
    if (lumi_yaml_expect(d, n, LUMI_Y_SEQ, "seeds", e)) return -1;
    if (n->n == 0) return lumi_yaml_err(d, n, e, "'seeds' is empty");
    c->seeds = lumi_xmalloc((size_t)n->n * sizeof *c->seeds);
    for (int i = 0; i < n->n; i++) {
        const LumiYamlNode *s = n->items[i];
        if (s->type != LUMI_Y_SCALAR || lumi_parse_u64(s->scalar, &c->seeds[i]))
            return lumi_yaml_err(d, s, e, "a seed must be an unsigned integer");
    }
    c->n_seeds = n->n;
    return 0;
}

static int read_sampler(const LumiYamlDoc *d, const LumiYamlNode *n, LumiStudySampler *s, LumiErr *e) {
    if (lumi_yaml_expect(d, n, LUMI_Y_MAP, "samplers[]", e)) return -1;
    const char *name = NULL;
    if (lumi_yaml_str(d, n, "name", 1, &name, e)) return -1;
    if (!*name || strlen(name) >= sizeof s->name || strpbrk(name, ",\"\n"))
        return lumi_yaml_err(d, lumi_yaml_get(n, "name"), e, "sampler name '%s': 1-63 characters, no comma or quote", name);
    strcpy(s->name, name);
    lumi_sampler_cfg_default(&s->cfg);
    for (int i = 0; i < n->n; i++) {
        if (!strcmp(n->keys[i], "name")) continue;
        LumiYamlNode at = {.line = n->key_line[i], .col = n->key_col[i]};
        if (!strcmp(n->keys[i], "seed")) /* the study's seeds override it: refuse rather than ignore */
            return lumi_yaml_err(d, &at, e, "sampler '%s': 'seed' is set by the study's top-level 'seeds'", name);
        if (n->items[i]->type != LUMI_Y_SCALAR)
            return lumi_yaml_err(d, n->items[i], e, "sampler '%s': '%s' must be a scalar", name, n->keys[i]);
        LumiErr se;
        if (lumi_sampler_set(&s->cfg, n->keys[i], n->items[i]->scalar, &se))
            return lumi_yaml_err(d, strstr(se.msg, "unknown") == se.msg ? &at : n->items[i], e, "sampler '%s': %s",
                                 name, se.msg);
    }
    return 0;
}

static int read_samplers(const LumiYamlDoc *d, LumiStudyCfg *c, LumiErr *e) {
    const LumiYamlNode *n = lumi_yaml_get(d->root, "samplers");
    if (lumi_yaml_expect(d, n, LUMI_Y_SEQ, "samplers", e)) return -1;
    if (n->n == 0) return lumi_yaml_err(d, n, e, "'samplers' is empty");
    c->samplers = lumi_xcalloc((size_t)n->n, sizeof *c->samplers);
    for (int i = 0; i < n->n; i++) {
        if (read_sampler(d, n->items[i], &c->samplers[i], e)) return -1;
        for (int j = 0; j < i; j++)
            if (!strcmp(c->samplers[j].name, c->samplers[i].name))
                return lumi_yaml_err(d, n->items[i], e, "sampler name '%s' is used twice", c->samplers[i].name);
        c->n_samplers++;
    }
    return 0;
}

int lumi_study_cfg_read(const LumiYamlDoc *d, LumiStudyCfg *c, LumiErr *e) {
    static const char *const KEYS[] = {"description", "path", "samplers", "seeds", "history", NULL};
    memset(c, 0, sizeof *c);
    if (lumi_config_common(d, &c->common, 1, e) || lumi_config_check_keys(d, KEYS, e)) return -1;
    const LumiYamlNode *one = lumi_yaml_get(d->root, "sampler");
    if (one) return lumi_yaml_err(d, one, e, "a study takes 'samplers' (a list of named samplers), not 'sampler'");
    c->name = c->common.name;
    c->output = c->common.output;
    c->n_prompts = c->common.n_prompts;
    c->steps = (int)c->common.steps;
    if (lumi_yaml_bool(d, d->root, "history", 0, &c->history, e)) return -1;
    if (read_path(d, c, e) || read_seeds(d, c, e) || read_samplers(d, c, e)) return -1;
    return 0;
}

void lumi_study_cfg_free(LumiStudyCfg *c) {
    lumi_config_common_free(&c->common);
    free(c->samplers);
    free(c->seeds);
    memset(c, 0, sizeof *c);
}
