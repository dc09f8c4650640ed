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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/json.h"
#include "bench.h"
#include "config.h"
#include "inputs.h"
#include "results.h"

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

/* ---- the kind: run folder, cases, shards, merge ---- */

/* run.json beside bench.{csv,json}, with the provenance every kind records. */
static int provenance(const LumiBenchPlan *p, const LumiRunDir *r, const char *status, const LumiRunOpts *o,
                      int n_cases, LumiErr *e) {
    int rc = 0;
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    FILE *f = sb.f;
    fprintf(f, "{\"name\":\"bench\",\"kind\":\"bench\",\"run_id\":");
    lumi_json_cstr(f, r->run_id);
    fprintf(f, ",\"models\":[");
    for (int i = 0; i < p->n_models && rc == 0; i++) {
        uint32_t crc = 0;
        size_t bytes = 0;
        if (lumi_file_crc32(p->models[i].file, &crc, &bytes, e) != 0) rc = -1;
        fprintf(f, "%s{\"name\":", i ? "," : "");
        lumi_json_cstr(f, p->models[i].name);
        fprintf(f, ",\"path\":");
        lumi_json_cstr(f, p->models[i].file);
        fprintf(f, ",\"crc32\":\"%08x\",\"bytes\":%zu}", (unsigned)crc, bytes);
    }
    /* "model": the first model, whose CRC lumi merge compares across shards */
    uint32_t crc = 0;
    size_t bytes = 0;
    if (rc == 0 && lumi_file_crc32(p->models[0].file, &crc, &bytes, e) != 0) rc = -1;
    fprintf(f, "],\"model\":{\"path\":");
    lumi_json_cstr(f, p->models[0].file);
    fprintf(f, ",\"crc32\":\"%08x\",\"bytes\":%zu},\"paths\":[", (unsigned)crc, bytes);
    for (int i = 0; i < p->n_paths; i++) {
        char buf[160];
        lumi_path_format(&p->paths[i], buf, sizeof buf);
        if (i) fputc(',', f);
        lumi_json_cstr(f, buf);
    }
    fprintf(f, "],\"n_prompt\":%d,\"n_gen\":%d,\"reps\":%d,\"threads\":%d,\"status\":\"%s\",", p->n_prompt,
            p->n_gen, p->reps, p->threads, status);
    lumi_runinfo_json(f);
    lumi_run_json_scope(f, o, n_cases);
    fprintf(f, "}\n");
    lumi_sb_close(&sb);
    if (rc == 0) rc = lumi_rundir_write(r, "run.json", sb.buf, sb.len, e);
    free(sb.buf);
    return rc;
}

/* The cases: model x path, each costing its model's bytes per token over
 * the tokens it runs (cache=none: quadratic). Keys use the path as the
 * results name it (threads: override applied). */
static void list_cases(const LumiBenchPlan *p, LumiCaseList *out) {
    for (int mi = 0; mi < p->n_models; mi++) {
        size_t bytes = 1;
        struct stat st;
        if (stat(p->models[mi].file, &st) == 0) bytes = (size_t)st.st_size;
        for (int pi = 0; pi < p->n_paths; pi++) {
            LumiPathSpec spec = p->paths[pi];
            if (p->threads >= 0) spec.threads = p->threads;
            char path[160];
            lumi_path_format(&spec, path, sizeof path);
            double tokens = lumi_case_cost(p->n_prompt, spec.cache) + lumi_case_cost(p->n_gen, spec.cache);
            lumi_cases_add(out, (double)bytes * tokens * p->reps, "model=%s path=%s", p->models[mi].name, path);
        }
    }
}

static int cases(const LumiYamlDoc *doc, LumiCaseList *out, LumiErr *e) {
    LumiBenchPlan p;
    if (lumi_bench_from_yaml(doc, &p, e) != 0) return -1;
    list_cases(&p, out);
    return 0;
}

static int case_key(const LumiYamlNode *rec, char *buf, size_t n) {
    snprintf(buf, n, "model=%s path=%s", lumi_case_str(rec, "model", "?"), lumi_case_str(rec, "path", "?"));
    return 1;
}

static int logged(const LumiCaseLog *log, const char *key) {
    char k[256];
    for (int i = 0; i < log->n; i++)
        if (case_key(log->lines[i].root, k, sizeof k) && !strcmp(k, key)) return 1;
    return 0;
}

/* bench.csv's lines for one logged result, as lumi_bench_run writes them. */
static void csv_rows(FILE *f, const LumiYamlNode *r) {
    const char *model = lumi_case_str(r, "model", "?"), *path = lumi_case_str(r, "path", "?");
    const char *err = lumi_case_str(r, "error", NULL);
    if (err) {
        fprintf(f, "%s,\"%s\",,,,,,,,,,\"%s\"\n", model, path, err);
        return;
    }
    static const char *const TEST[2] = {"pp", "tg"}, *const FRAC[2] = {"fraction_of_fma_peak", "fraction_of_read_bandwidth"},
                             *const OF[2] = {"fma_peak", "read_bandwidth"};
    for (int t = 0; t < 2; t++) {
        const LumiYamlNode *x = lumi_yaml_get(r, TEST[t]), *reps = x ? lumi_yaml_get(x, "reps") : NULL;
        if (!x) continue;
        /* a decode timed between bandwidth samples reports that fraction (as bench.c's table) */
        const LumiYamlNode *paired = t == 1 ? lumi_yaml_get(x, "paired") : NULL;
        fprintf(f, "%s,\"%s\",%s,%d,%d,%.3f,%.3f,%.3f,%.4f,%s,%.1f,\n", model, path, TEST[t],
                (int)lumi_case_num(x, "tokens", 0), reps && reps->type == LUMI_Y_SEQ ? reps->n : 0,
                lumi_case_num(x, "median", 0), lumi_case_num(x, "min", 0), lumi_case_num(x, "max", 0),
                lumi_case_num(paired ? paired : x, FRAC[t], 0), paired ? "read_bandwidth_per_token" : OF[t],
                lumi_case_num(r, "peak_rss_mb", 0));
    }
}

/* Folds one process's bench.json "machine" into m; 0 when it had none. */
static int add_machine(LumiMachine *m, int first, const LumiYamlNode *x) {
    if (!x || x->type != LUMI_Y_MAP) return 0;
    double best[2] = {lumi_case_num(x, "read_gbs", 0), lumi_case_num(x, "fma_gflops", 0)};
    double worst[2] = {lumi_case_num(x, "read_gbs_min", 0), lumi_case_num(x, "fma_gflops_min", 0)};
    int threads = (int)lumi_case_num(x, "threads", 0);
    const char *isa = lumi_case_str(x, "isa", "?");
    double load = lumi_case_num(x, "loadavg_at_start", -1);
    if (first) {
        m->read_gbs = best[0], m->fma_gflops = best[1], m->read_gbs_min = worst[0], m->fma_gflops_min = worst[1];
        m->threads = threads, m->loadavg = load;
        m->buffer_bytes = (size_t)lumi_case_num(x, "buffer_bytes", 0);
        snprintf(m->isa, sizeof m->isa, "%s", isa);
    } else {
        m->read_gbs = best[0] > m->read_gbs ? best[0] : m->read_gbs;
        m->fma_gflops = best[1] > m->fma_gflops ? best[1] : m->fma_gflops;
        m->read_gbs_min = worst[0] < m->read_gbs_min ? worst[0] : m->read_gbs_min;
        m->fma_gflops_min = worst[1] < m->fma_gflops_min ? worst[1] : m->fma_gflops_min;
        m->loadavg = load > m->loadavg ? load : m->loadavg;
        if (threads != m->threads) m->threads = -1;
        if (strcmp(isa, m->isa) != 0) snprintf(m->isa, sizeof m->isa, "mixed");
    }
    m->samples += (int)lumi_case_num(x, "samples", 0);
    return 1;
}

/* The machine of a run whose rows came from other processes (the shards'
 * bench.json, or this folder's from before a resume): the envelope of what
 * they measured, as one run's is of its samples (best and worst of each
 * figure, samples added, the highest starting load; threads -1 and isa
 * "mixed" where they disagree). NULL when none measured one. */
static const LumiMachine *machine_of(const LumiRunOpts *o, const char *dir, LumiMachine *m) {
    char *const self[1] = {(char *)dir};
    char *const *src = o->n_merged ? o->merged_from : self;
    int n = o->n_merged ? o->n_merged : 1, got = 0;
    memset(m, 0, sizeof *m);
    for (int i = 0; i < n; i++) {
        char path[700];
        LumiYamlDoc d;
        LumiErr e;
        snprintf(path, sizeof path, "%s/bench.json", src[i]);
        if (access(path, F_OK) != 0) continue; /* a shard with no cases measured nothing */
        if (lumi_yaml_load(path, &d, &e) != 0) return NULL;
        int had = d.root && d.root->type == LUMI_Y_MAP && add_machine(m, !got, lumi_yaml_get(d.root, "machine"));
        lumi_yaml_free(&d);
        if (!had) return NULL; /* machine: false */
        got++;
    }
    return got ? m : NULL;
}

/* A resumed or merged run: bench.csv, bench.json and the plot from
 * cases.jsonl, in model x path order (each shard's figures are its own
 * machine's). */
static int tabulate(const LumiBenchPlan *p, const LumiRunDir *r, const LumiCaseList *cl, const LumiRunOpts *o,
                    LumiErr *e) {
    LumiMachine mc;
    const LumiMachine *mcp = machine_of(o, r->dir, &mc);
    char path[700], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/cases.jsonl", r->dir);
    if (lumi_read_file(path, &text, &len, e) != 0) return -1;
    LumiCaseLog log;
    if (lumi_caselog_read(r->dir, &log, e) != 0) {
        free(text);
        return -1;
    }
    const char **line = lumi_xcalloc((size_t)(log.n + 1), sizeof *line);
    for (int i = 0, off = 0; i < log.n && (size_t)off < len; i++) { /* the text of each parsed line */
        while ((size_t)off < len && text[off] == '\n') off++;
        line[i] = text + off;
        char *nl = memchr(text + off, '\n', len - (size_t)off);
        if (!nl) break;
        *nl = 0;
        off = (int)(nl - text) + 1;
    }
    LumiStrBuf csv, js;
    lumi_sb_open(&csv);
    lumi_sb_open(&js);
    fprintf(csv.f, "model,path,test,tokens,reps,tps_median,tps_min,tps_max,fraction,fraction_of,peak_rss_mb,error\n");
    fprintf(js.f, "{\n  \"run_id\": \"%s\",\n  \"n_prompt\": %d,\n  \"n_gen\": %d,\n  \"reps\": %d,\n"
                  "  \"machine\": ", r->run_id, p->n_prompt, p->n_gen, p->reps);
    lumi_bench_machine_json(js.f, mcp);
    fprintf(js.f, ",\n  \"results\": [\n");
    int first = 1, n_plot = 0;
    char **labels = lumi_xcalloc((size_t)(cl->n + 1), sizeof *labels);
    double *pp = lumi_xcalloc((size_t)(cl->n + 1), sizeof *pp), *tg = lumi_xcalloc((size_t)(cl->n + 1), sizeof *tg);
    for (int c = 0; c < cl->n; c++)
        for (int i = log.n - 1; i >= 0; i--) {
            char k[256];
            const LumiYamlNode *rec = log.lines[i].root, *x, *y;
            if (!case_key(rec, k, sizeof k) || strcmp(k, cl->v[c].key) != 0) continue;
            csv_rows(csv.f, rec);
            if (!lumi_case_str(rec, "error", NULL) && (x = lumi_yaml_get(rec, "pp")) && (y = lumi_yaml_get(rec, "tg"))) {
                size_t l = strlen(lumi_case_str(rec, "model", "?")) + strlen(lumi_case_str(rec, "path", "?")) + 2;
                labels[n_plot] = lumi_xmalloc(l);
                snprintf(labels[n_plot], l, "%s %s", lumi_case_str(rec, "model", "?"), lumi_case_str(rec, "path", "?"));
                pp[n_plot] = lumi_case_num(x, "median", 0), tg[n_plot++] = lumi_case_num(y, "median", 0);
            }
            fprintf(js.f, "%s    %s", first ? "" : ",\n", line[i] ? line[i] : "null");
            first = 0;
            break;
        }
    fprintf(js.f, "\n  ]\n}\n");
    lumi_sb_close(&csv);
    lumi_sb_close(&js);
    int rc = lumi_rundir_write(r, "bench.csv", csv.buf, csv.len, e);
    if (rc == 0) rc = lumi_rundir_write(r, "bench.json", js.buf, js.len, e);
    LumiErr pe;
    if (rc == 0 && lumi_bench_plot(r->dir, p, labels, pp, tg, n_plot, &pe) < 0)
        fprintf(stderr, "lumi: bench: %s (csv and json are written)\n", pe.msg);
    for (int i = 0; i < n_plot; i++) free(labels[i]);
    free(labels);
    free(pp);
    free(tg);
    free(csv.buf);
    free(js.buf);
    free(line);
    free(text);
    lumi_caselog_free(&log);
    return rc;
}

/* <out_root>/<run id> as every kind's <output>/<name>/<run id>. */
static void split_root(const char *root, char *output, size_t on, char *name, size_t nn) {
    const char *slash = strrchr(root, '/');
    if (!slash) snprintf(output, on, "."), snprintf(name, nn, "%s", root);
    else snprintf(output, on, "%.*s", (int)(slash - root), root), snprintf(name, nn, "%s", slash + 1);
}

static int bench_kind_run(const LumiYamlDoc *d, const LumiRunOpts *o) {
    LumiBenchPlan p;
    LumiErr e = {{0}};
    if (lumi_bench_from_yaml(d, &p, &e) != 0) {
        fprintf(stderr, "lumi: %s\n", e.msg);
        return 2;
    }
    LumiCaseList cl = {0};
    LumiShardPlan sp;
    LumiRunDir r;
    LumiCaseLog done = {0};
    list_cases(&p, &cl);
    lumi_shard_plan(&sp, &cl, o->shard_index, o->shard_count);
    unsigned char *take = lumi_xcalloc((size_t)(cl.n ? cl.n : 1), 1);
    char output[1024], name[1024];
    split_root(p.out_root, output, sizeof output, name, sizeof name);
    int rc = 2, todo = 0;
    if (lumi_rundir_open(o, output, name, "cases.jsonl", &r, &e) != 0) goto out;
    if ((o->resume_dir && lumi_caselog_read(r.dir, &done, &e) != 0) ||
        provenance(&p, &r, "running", o, lumi_shard_size(&sp), &e) != 0)
        goto close;
    for (int i = 0; i < cl.n; i++) todo += take[i] = lumi_shard_take(&sp, i) && !logged(&done, cl.v[i].key);
    rc = 0;
    if (todo) {
        p.take = take, p.run_dir = r.dir, p.log = r.cases;
        rc = lumi_bench_run(&p);
    }
    /* a resumed or merged run has results from other processes: the tables come from the log */
    if (rc != 2 && o->resume_dir && tabulate(&p, &r, &cl, o, &e) != 0) rc = 2;
    if (rc != 2 || !e.msg[0])
        if (provenance(&p, &r, rc == 2 ? "failed" : "complete", o, lumi_shard_size(&sp), &e) != 0) rc = 2;
close:
    lumi_rundir_close(&r);
out:
    if (rc == 2 && e.msg[0]) fprintf(stderr, "lumi: %s\n", e.msg);
    free(take);
    lumi_caselog_free(&done);
    lumi_shard_free(&sp);
    lumi_cases_free(&cl);
    return rc;
}

const LumiExperimentKind lumi_kind_bench = {
    "bench", "prefill/decode tok/s per model x path, against measured bandwidth and FMA peak", bench_kind_run,
    cases, case_key, "cases.jsonl"};
