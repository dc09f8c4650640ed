/* bench_config.c: the `bench` experiment kind. A config names the models
 * (a file, or a shape to synthesize into cache_dir once and reuse), the
 * paths and the sizes:
 *
 *   kind: bench
 *   n_prompt: 256        # pp N
 *   n_gen: 128           # tg N
 *   reps: 3
 *   threads: 2           # optional: overrides every path's threads
 *   out: results/bench   # runs go to OUT/<run id>/
 *   cache_dir: .cache/synth
 *   machine: true        # false skips the bandwidth/FMA micro-benchmarks
 *   models:
 *     - {name: 15M, synth: {dim: 288, hidden: 768, layers: 6, heads: 6, vocab: 32000, seq: 256}}
 *     - {name: kjv1M, file: models/kjv1M.bin}
 *   paths:
 *     - backend=cpu,cache=fixed,prefill=batched
 *     - {backend: cpu, threads: 1}
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "config.h"
#include "inputs.h"

/* Paths start from the defaults with backend=cpu: that is what bench is for. */
static int read_path(const LumiYamlDoc *d, const LumiYamlNode *n, LumiPathSpec *p, LumiErr *e) {
    lumi_path_default(p);
    snprintf(p->backend, sizeof p->backend, "cpu");
    LumiErr pe;
    if (n->type == LUMI_Y_SCALAR) {
        if (lumi_path_parse(n->scalar, p, &pe) != 0) return lumi_yaml_err(d, n, e, "paths: %s", pe.msg);
        return 0;
    }
    if (lumi_yaml_expect(d, n, LUMI_Y_MAP, "a path (string or mapping)", e) != 0) return -1;
    for (int i = 0; i < n->n; i++) {
        const LumiYamlNode *v = n->items[i];
        if (v->type != LUMI_Y_SCALAR) return lumi_yaml_err(d, v, e, "paths: %s: expected a scalar", n->keys[i]);
        if (lumi_path_set(p, n->keys[i], v->scalar, &pe) != 0) return lumi_yaml_err(d, v, e, "paths: %s", pe.msg);
    }
    return 0;
}

/* The shape is read and synthesized (once, then reused) exactly as a
 * `model: {synth: ...}` of any other kind; only the folder differs. */
static int read_synth(const LumiYamlDoc *d, const LumiYamlNode *n, const char *cache, LumiBenchModel *m, LumiErr *e) {
    LumiSynthSpec s;
    LumiErr se;
    if (lumi_config_synth(d, n, &s, e) != 0) return -1;
    if (lumi_synth_materialize(&s, cache, m->file, sizeof m->file, &se) != 0) return lumi_yaml_err(d, n, e, "synth: %s", se.msg);
    return 0;
}

static int read_model(const LumiYamlDoc *d, const LumiYamlNode *n, const char *cache, LumiBenchModel *m, LumiErr *e) {
    static const char *const KEYS[] = {"name", "file", "synth", NULL};
    if (lumi_yaml_expect(d, n, LUMI_Y_MAP, "a model", e) != 0 || lumi_yaml_check_keys(d, n, KEYS, e) != 0) return -1;
    const char *name = NULL, *file = NULL;
    if (lumi_yaml_str(d, n, "name", 1, &name, e) != 0 || lumi_yaml_str(d, n, "file", 0, &file, e) != 0) return -1;
    const LumiYamlNode *syn = lumi_yaml_get(n, "synth");
    if (!file == !syn) return lumi_yaml_err(d, n, e, "model %s: give exactly one of file or synth", name);
    snprintf(m->name, sizeof m->name, "%s", name);
    if (file) {
        snprintf(m->file, sizeof m->file, "%s", file);
        if (access(file, R_OK) != 0) return lumi_yaml_err(d, n, e, "model %s: cannot read file %s", name, file);
        return 0;
    }
    return read_synth(d, syn, cache, m, e);
}

int lumi_bench_fit_defaults(LumiBenchPlan *p, int prompt_set, int gen_set, LumiErr *e) {
    int seq = 0, at = 0;
    for (int i = 0; i < p->n_models; i++) {
        LumiModel m;
        if (lumi_model_load(p->models[i].file, &m, e) != 0) return -1;
        if (!seq || m.cfg.seq_len < seq) seq = m.cfg.seq_len, at = i;
        lumi_model_free(&m);
    }
    if (!seq) return 0;
    const char *f = p->models[at].file;
    if (!prompt_set && p->n_prompt > seq) {
        fprintf(stderr, "lumi: bench: prompt size defaults to %d, the context length of %s (not %d)\n", seq, f,
                p->n_prompt);
        p->n_prompt = seq;
    }
    if (!gen_set && p->n_gen + 1 > seq) { /* decode starts after a BOS */
        fprintf(stderr, "lumi: bench: generated tokens default to %d, the context length of %s less the BOS (not %d)\n",
                seq - 1, f, p->n_gen);
        p->n_gen = seq - 1;
    }
    return 0;
}

static int fit_defaults(const LumiYamlDoc *d, LumiBenchPlan *p, LumiErr *e) {
    LumiErr fe;
    if (lumi_bench_fit_defaults(p, lumi_yaml_get(d->root, "n_prompt") != NULL, lumi_yaml_get(d->root, "n_gen") != NULL,
                                &fe) != 0)
        return lumi_yaml_err(d, lumi_yaml_get(d->root, "models"), e, "models: %s", fe.msg);
    return 0;
}

int lumi_bench_from_yaml(const LumiYamlDoc *d, LumiBenchPlan *p, LumiErr *e) {
    static const char *const KEYS[] = {"kind", "n_prompt", "n_gen", "reps", "threads", "out", "cache_dir", "machine",
                                       "models", "paths", NULL};
    const LumiYamlNode *root = d->root;
    lumi_bench_plan_default(p);
    if (lumi_yaml_expect(d, root, LUMI_Y_MAP, "the config", e) != 0 || lumi_yaml_check_keys(d, root, KEYS, e) != 0)
        return -1;
    long v;
    const char *s = NULL, *cache = ".cache/synth";
    if (lumi_yaml_int(d, root, "n_prompt", 0, 1, 1 << 20, &v, e) != 0) return -1;
    if (lumi_yaml_get(root, "n_prompt")) p->n_prompt = (int)v;
    if (lumi_yaml_int(d, root, "n_gen", 0, 1, 1 << 20, &v, e) != 0) return -1;
    if (lumi_yaml_get(root, "n_gen")) p->n_gen = (int)v;
    if (lumi_yaml_int(d, root, "reps", 0, 1, 64, &v, e) != 0) return -1;
    if (lumi_yaml_get(root, "reps")) p->reps = (int)v;
    if (lumi_yaml_int(d, root, "threads", 0, 0, 1024, &v, e) != 0) return -1;
    if (lumi_yaml_get(root, "threads")) p->threads = (int)v;
    if (lumi_yaml_str(d, root, "out", 0, &s, e) != 0) return -1;
    if (s) snprintf(p->out_root, sizeof p->out_root, "%s", s);
    if (lumi_yaml_str(d, root, "cache_dir", 0, &cache, e) != 0) return -1;
    int machine = 1;
    if (lumi_yaml_bool(d, root, "machine", 0, &machine, e) != 0) return -1;
    p->skip_machine = !machine;
    const LumiYamlNode *models = lumi_yaml_get(root, "models"), *paths = lumi_yaml_get(root, "paths");
    if (!models) return lumi_yaml_err(d, root, e, "missing key 'models'");
    if (lumi_yaml_expect(d, models, LUMI_Y_SEQ, "models", e) != 0) return -1;
    if (models->n < 1 || models->n > (int)(sizeof p->models / sizeof p->models[0]))
        return lumi_yaml_err(d, models, e, "models: expected 1..%d entries", (int)(sizeof p->models / sizeof p->models[0]));
    for (int i = 0; i < models->n; i++)
        if (read_model(d, models->items[i], cache, &p->models[p->n_models++], e) != 0) return -1;
    if (!paths) {
        lumi_path_default(&p->paths[0]);
        snprintf(p->paths[0].backend, sizeof p->paths[0].backend, "cpu");
        p->n_paths = 1;
        return fit_defaults(d, p, e);
    }
    if (lumi_yaml_expect(d, paths, LUMI_Y_SEQ, "paths", e) != 0) return -1;
    if (paths->n < 1 || paths->n > (int)(sizeof p->paths / sizeof p->paths[0]))
        return lumi_yaml_err(d, paths, e, "paths: expected 1..%d entries", (int)(sizeof p->paths / sizeof p->paths[0]));
    for (int i = 0; i < paths->n; i++)
        if (read_path(d, paths->items[i], &p->paths[p->n_paths++], e) != 0) return -1;
    return fit_defaults(d, p, e);
}

static int bench_kind_run(const LumiYamlDoc *d, const LumiRunOpts *o) {
    LumiBenchPlan p;
    LumiErr e;
    if (o && o->resume_dir) { /* refuse rather than silently start over */
        fprintf(stderr, "lumi: %s: a bench run cannot resume; run it again\n", d->path);
        return 2;
    }
    if (lumi_bench_from_yaml(d, &p, &e) != 0) {
        fprintf(stderr, "lumi: %s\n", e.msg);
        return 2;
    }
    return lumi_bench_run(&p);
}

const LumiExperimentKind lumi_kind_bench = {
    "bench", "prefill/decode tok/s per model x path, against measured bandwidth and FMA peak", bench_kind_run};
