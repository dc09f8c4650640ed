/* golden.c: see golden.h. Damaged goldens (missing, not gzip, truncated,
 * wrong shape, checksum mismatch) are bad input: exit 2 with the file
 * named, checked for every prompt before any model runs. */
#include "golden.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../engine/json.h"
#include "../engine/npy.h"
#include "config.h"
#include "golden_merge.h"
#include "inputs.h"
#include "metrics.h"
#include "results.h"
#include "trace.h"

int lumi_npy_gz_write(const char *path, const float *data, size_t rows, size_t cols, uint32_t *crc, LumiErr *e) {
    char hdr[128];
    size_t hl = lumi_npy_header(hdr, rows, cols), bytes;
    if (lumi_mul_size(rows * cols, sizeof(float), &bytes) != 0) return lumi_err(e, "%s: too large", path);
    unsigned char *raw = lumi_xmalloc(hl + bytes);
    memcpy(raw, hdr, hl);
    memcpy(raw + hl, data, bytes);
    *crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), raw, (uInt)(hl + bytes));
    /* deflate into memory with a gzip wrapper (windowBits 15 + 16), so the
     * file can be written atomically like every other result */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(raw);
        return lumi_err(e, "%s: zlib deflateInit2 failed", path);
    }
    uLong cap = deflateBound(&z, (uLong)(hl + bytes));
    unsigned char *gz = lumi_xmalloc(cap);
    z.next_in = raw;
    z.avail_in = (uInt)(hl + bytes);
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    size_t out = z.total_out;
    deflateEnd(&z);
    free(raw);
    if (zr != Z_STREAM_END) {
        free(gz);
        return lumi_err(e, "%s: zlib deflate failed (%d)", path, zr);
    }
    int rc = lumi_write_atomic(path, gz, out, e);
    free(gz);
    return rc;
}

/* gzread exactly n bytes or explain why not. */
static int gz_exact(gzFile g, const char *path, void *buf, size_t n, const char *what, LumiErr *e) {
    size_t got = 0;
    while (got < n) {
        unsigned k = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(g, (char *)buf + got, k);
        if (r < 0) {
            int errnum;
            const char *msg = gzerror(g, &errnum);
            return lumi_err(e, "%s: corrupt gzip data in the %s: %s", path, what, msg);
        }
        if (r == 0) return lumi_err(e, "%s: truncated: only %zu of %zu bytes of the %s", path, got, n, what);
        got += (size_t)r;
    }
    return 0;
}

int lumi_npy_gz_read(const char *path, size_t rows, size_t cols, uint32_t crc, float **data, LumiErr *e) {
    *data = NULL;
    FILE *probe = fopen(path, "rb");
    if (!probe) return lumi_err(e, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[2] = {0, 0};
    size_t nm = fread(magic, 1, 2, probe);
    fclose(probe);
    if (nm != 2 || magic[0] != 0x1f || magic[1] != 0x8b) return lumi_err(e, "%s: not a gzip file", path);
    gzFile g = gzopen(path, "rb");
    if (!g) return lumi_err(e, "%s: cannot open: %s", path, strerror(errno));
    unsigned char pre[10], *buf = NULL;
    int rc = -1;
    if (gz_exact(g, path, pre, 10, ".npy header", e) != 0) goto out;
    size_t hl = 10 + ((size_t)pre[8] | ((size_t)pre[9] << 8)), r = 0, c = 0, bytes;
    if (memcmp(pre, "\x93NUMPY\x01\x00", 8) != 0 || hl > 4096) {
        lumi_err(e, "%s: not a NumPy v1.0 .npy inside the gzip", path);
        goto out;
    }
    if (lumi_mul_size(rows * cols, sizeof(float), &bytes) != 0) {
        lumi_err(e, "%s: manifest shape too large", path);
        goto out;
    }
    buf = lumi_xmalloc(hl + bytes);
    memcpy(buf, pre, 10);
    if (gz_exact(g, path, buf + 10, hl - 10, ".npy header", e) != 0) goto out;
    if (lumi_npy_parse(buf, hl, &r, &c) != hl) {
        lumi_err(e, "%s: bad .npy header (want little-endian float32, C order, 2-D)", path);
        goto out;
    }
    if (r != rows || c != cols) {
        lumi_err(e, "%s: shape (%zu, %zu) but the manifest says (%zu, %zu)", path, r, c, rows, cols);
        goto out;
    }
    if (gz_exact(g, path, buf + hl, bytes, "logits", e) != 0) goto out;
    char extra;
    int x = gzread(g, &extra, 1);
    if (x != 0) {
        lumi_err(e, "%s: %s after the logits", path, x > 0 ? "unexpected data" : "corrupt gzip data");
        goto out;
    }
    int errnum;
    gzerror(g, &errnum);
    if (errnum != Z_OK && errnum != Z_BUF_ERROR) {
        lumi_err(e, "%s: corrupt gzip stream", path);
        goto out;
    }
    uint32_t got = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(hl + bytes));
    if (got != crc) {
        lumi_err(e, "%s: CRC-32 %08x does not match the manifest's %08x", path, (unsigned)got, (unsigned)crc);
        goto out;
    }
    *data = lumi_xmalloc(bytes);
    memcpy(*data, buf + hl, bytes);
    rc = 0;
out:
    free(buf);
    int cr = gzclose_r(g);
    if (rc == 0 && cr != Z_OK) {
        free(*data);
        *data = NULL;
        return lumi_err(e, "%s: truncated or corrupt gzip stream (zlib %d)", path, cr);
    }
    return rc;
}

/* Config, inputs and the folder both verbs need. */
typedef struct {
    LumiEquivConfig cfg;
    LumiExpInputs in;
    int have_cfg, have_in;
    char manifest[600];
    const char *config_path;
} Golden;

static int open_golden(const LumiYamlDoc *doc, Golden *g, LumiErr *e) {
    memset(g, 0, sizeof *g);
    g->config_path = doc->path;
    if (strcmp(lumi_case_str(doc->root, "kind", ""), "equivalence") != 0)
        return lumi_err(e, "%s: goldens need an equivalence config (kind: equivalence)", doc->path);
    if (lumi_config_equivalence(doc, &g->cfg, e) != 0) return -1;
    g->have_cfg = 1;
    if (lumi_inputs_load(doc, &g->cfg.common, &g->in, e) != 0) return -1;
    g->have_in = 1;
    snprintf(g->manifest, sizeof g->manifest, "%s/manifest.json", g->cfg.goldens);
    return 0;
}

static void close_golden(Golden *g) {
    if (g->have_in) lumi_inputs_free(&g->in);
    if (g->have_cfg) lumi_config_equivalence_free(&g->cfg);
}

static int trace_ref(const Golden *g, int p, LumiTrace *t, LumiErr *e) {
    return lumi_trace_run(&g->in.model, &g->cfg.reference.spec, g->in.ids[p], g->in.n_ids[p], NULL, 0, g->in.n_gen[p],
                          &g->cfg.common.sampler,
                          lumi_trace_stops(g->cfg.common.stop_at_eos, &g->in, &(LumiStopSet){0}), 1, t, e);
}

/* config.yaml and run.json beside the goldens: the provenance every kind's
 * run folder records (written after the manifest, so a failed record
 * leaves the previous ones). */
static int record_provenance(const LumiYamlDoc *doc, const Golden *g, const char *dir, const LumiRunOpts *scope,
                             int n_cases, LumiErr *e) {
    char path[800], stamp[32], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    if (lumi_read_file(doc->path, &text, &len, e) != 0) return -1;
    int rc = lumi_write_atomic(path, text, len, e);
    free(text);
    if (rc != 0) return -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    fputc('{', sb.f);
    lumi_run_json_common(sb.f, &g->cfg.common, &g->in, stamp);
    fprintf(sb.f, ",\"status\":\"complete\",\"made_by\":\"lumi golden record\",\"reference\":");
    lumi_json_cstr(sb.f, g->cfg.reference.label);
    lumi_run_json_scope(sb.f, scope, n_cases);
    fprintf(sb.f, "}\n");
    lumi_sb_close(&sb);
    snprintf(path, sizeof path, "%s/run.json", dir);
    rc = lumi_write_atomic(path, sb.buf, sb.len, e);
    free(sb.buf);
    return rc;
}

/* The prompts, for --shard: each costs its positions on the reference path. */
static void plan_prompts(const Golden *g, const LumiGoldenOpts *o, LumiShardPlan *plan) {
    LumiCaseList cases = {0};
    for (int p = 0; p < g->cfg.common.n_prompts; p++)
        lumi_cases_add(&cases, lumi_case_cost(g->in.n_ids[p] + g->in.n_gen[p], g->cfg.reference.spec.cache), "%s",
                       g->cfg.common.prompts[p].name);
    lumi_shard_plan(plan, &cases, o ? o->shard_index : 0, o ? o->shard_count : 0);
    lumi_cases_free(&cases);
}

int lumi_golden_record(const LumiYamlDoc *doc, int force, const LumiGoldenOpts *o) {
    Golden g;
    LumiErr e;
    int rc = 2, have_shards = 0;
    LumiStrBuf sb = {0};
    LumiShardPlan plan = {0};
    LumiGoldenShards shards;
    char sampler[256];
    if (open_golden(doc, &g, &e) != 0) goto out;
    const char *dir = o && o->dir ? o->dir : g.cfg.goldens;
    snprintf(g.manifest, sizeof g.manifest, "%s/manifest.json", dir);
    /* goldens are what later runs are judged by: replacing them is a choice */
    if (!force && access(g.manifest, F_OK) == 0) {
        lumi_err(&e, "%s exists: goldens are not overwritten without --force (lumi golden %s --force %s)", g.manifest,
                 o && o->n_merged ? "merge" : "record", doc->path);
        goto out;
    }
    if (o && o->n_merged) {
        if (lumi_golden_shards_load(doc->path, &g.cfg, &g.in, o->merged_from, o->n_merged, &shards, &e) != 0) {
            lumi_golden_shards_free(&shards);
            goto out;
        }
        have_shards = 1;
    }
    plan_prompts(&g, have_shards ? NULL : o, &plan);
    if (lumi_mkdirs(dir, &e) != 0) goto out;
    lumi_sampler_describe(&g.cfg.common.sampler, sampler, sizeof sampler);
    lumi_sb_open(&sb);
    FILE *f = sb.f;
    fprintf(f, "{\n  \"format\": \"lumi-golden-v1\",\n  \"name\": ");
    lumi_json_cstr(f, g.cfg.common.name);
    fprintf(f, ",\n  \"model\": {\"path\": ");
    lumi_json_cstr(f, g.in.model_path);
    fprintf(f, ", \"crc32\": \"%08x\", \"bytes\": %zu},\n  \"reference\": ", (unsigned)g.in.model_crc,
            g.in.model_bytes);
    lumi_json_cstr(f, g.cfg.reference.label);
    fprintf(f, ",\n  \"backend\": ");
    lumi_json_cstr(f, g.cfg.reference.spec.backend);
    /* what decides the recorded tokens besides the prompt, so verify can tell
     * a changed config from drift */
    fprintf(f, ",\n  \"sampler\": ");
    lumi_json_cstr(f, sampler);
    fprintf(f, ",\n  \"stop_at_eos\": %s", g.cfg.common.stop_at_eos ? "true" : "false");
    fprintf(f, ",\n  \"prompts\": [");
    for (int p = 0, first = 1; p < g.cfg.common.n_prompts; p++) {
        LumiTrace t;
        const char *name = g.cfg.common.prompts[p].name;
        if (!lumi_shard_take(&plan, p)) continue;
        /* a merge writes what its shard recorded through the same writer */
        if ((have_shards ? lumi_golden_shard_trace(&shards, p, g.in.model.cfg.vocab_size, g.in.model.cfg.seq_len, &t, &e)
                         : trace_ref(&g, p, &t, &e)) != 0)
            goto out;
        char file[128], path[800];
        snprintf(file, sizeof file, "%s.npy.gz", name);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        uint32_t crc;
        int wr = lumi_npy_gz_write(path, t.logits, (size_t)t.n_pos, (size_t)g.in.model.cfg.vocab_size, &crc, &e);
        if (wr == 0) {
            fprintf(f, "%s\n    {\"name\": ", first ? "" : ",");
            first = 0;
            lumi_json_cstr(f, name);
            fprintf(f, ", \"file\": ");
            lumi_json_cstr(f, file);
            fprintf(f, ", \"rows\": %d, \"cols\": %d, \"steps\": %d, \"crc32\": \"%08x\",\n     \"prompt_ids\": ",
                    t.n_pos, g.in.model.cfg.vocab_size, g.in.n_gen[p], (unsigned)crc);
            lumi_json_ints(f, g.in.ids[p], g.in.n_ids[p]);
            fprintf(f, ",\n     \"tokens\": ");
            lumi_json_ints(f, t.tokens, t.n_tokens);
            fprintf(f, "}");
            printf("recorded %s: %d positions x %d logits, %d tokens\n", path, t.n_pos, g.in.model.cfg.vocab_size,
                   t.n_tokens);
        }
        lumi_trace_free(&t);
        if (wr != 0) goto out;
    }
    fprintf(f, "\n  ]\n}\n");
    lumi_sb_close(&sb);
    /* the manifest goes last: a record killed half-way leaves the old one */
    if (lumi_write_atomic(g.manifest, sb.buf, sb.len, &e) != 0) goto out;
    printf("wrote %s\n", g.manifest);
    LumiRunOpts scope = {.shard_index = plan.index, .shard_count = plan.count};
    if (o) scope.merged_from = o->merged_from, scope.n_merged = o->n_merged;
    if (record_provenance(doc, &g, dir, &scope, lumi_shard_size(&plan), &e) != 0) goto out;
    if (plan.count)
        fprintf(stderr, "lumi: golden shard %d/%d: %d prompts in %s (lumi golden merge joins the shards)\n", plan.index,
                plan.count, lumi_shard_size(&plan), dir);
    rc = 0;
out:
    if (have_shards) lumi_golden_shards_free(&shards);
    lumi_shard_free(&plan);
    if (sb.f) lumi_sb_close(&sb);
    free(sb.buf);
    if (rc) fprintf(stderr, "lumi: %s\n", e.msg);
    close_golden(&g);
    return rc;
}

/* ---- verify ---- */

typedef struct {
    const LumiYamlNode *entry;
    float *logits;
    int rows;
    int *tokens, n_tokens;
} Expected;

static int manifest_u32(const LumiYamlDoc *m, const LumiYamlNode *n, const char *key, uint32_t *out, LumiErr *e) {
    const char *s = NULL;
    if (lumi_yaml_str(m, n, key, 1, &s, e) != 0) return -1;
    char *end;
    unsigned long v = strtoul(s, &end, 16);
    if (*end || !*s) return lumi_yaml_err(m, n, e, "'%s' must be 8 hex digits", key);
    *out = (uint32_t)v;
    return 0;
}

static int ints_of(const LumiYamlDoc *m, const LumiYamlNode *n, const char *key, int **v, int *cnt, LumiErr *e) {
    const LumiYamlNode *s = lumi_yaml_get(n, key);
    if (lumi_yaml_expect(m, s, LUMI_Y_SEQ, key, e) != 0) return -1;
    *v = lumi_xmalloc(sizeof(int) * (size_t)(s->n + 1));
    *cnt = s->n;
    for (int i = 0; i < s->n; i++) {
        long x;
        if (lumi_yaml_node_int(m, s->items[i], key, 0, 1L << 30, &x, e) != 0) return -1;
        (*v)[i] = (int)x;
    }
    return 0;
}

/* The manifest entry of prompt p into x->entry. */
static int find_entry(const Golden *g, const LumiYamlDoc *m, int p, Expected *x, LumiErr *e) {
    const char *name = g->cfg.common.prompts[p].name;
    const LumiYamlNode *list = lumi_yaml_get(m->root, "prompts");
    if (lumi_yaml_expect(m, list, LUMI_Y_SEQ, "prompts", e) != 0) return -1;
    for (int i = 0; i < list->n && !x->entry; i++)
        if (list->items[i]->type == LUMI_Y_MAP && !strcmp(lumi_case_str(list->items[i], "name", ""), name))
            x->entry = list->items[i];
    if (!x->entry)
        return lumi_err(e, "%s: no golden for prompt '%s' (record them: lumi golden record %s)", m->path, name,
                        g->cfg.common.name);
    return 0;
}

/* Compares what the config asks of prompt p with what the goldens were
 * recorded with: a changed prompt, step count, sampler or EOS rule makes
 * the recomputation differ without any drift, and is said as such (exit 2).
 * Manifests from before "steps" was recorded: the step count is inferred
 * from the tokens when no early stop can explain a difference. */
static int config_diff(const Golden *g, const LumiYamlDoc *m, int p, const Expected *x, LumiErr *e) {
    const char *name = g->cfg.common.prompts[p].name;
    char what[300] = "";
    int *ids = NULL, n_ids = 0, *tok = NULL, n_tok = 0, gen = g->in.n_gen[p];
    if (ints_of(m, x->entry, "prompt_ids", &ids, &n_ids, e) != 0 || ints_of(m, x->entry, "tokens", &tok, &n_tok, e) != 0) {
        free(ids);
        free(tok);
        return -1;
    }
    long steps = -1;
    if (lumi_yaml_get(x->entry, "steps") && lumi_yaml_int(m, x->entry, "steps", 1, 0, 1 << 24, &steps, e) != 0) {
        free(ids);
        free(tok);
        return -1;
    }
    char sampler[256];
    lumi_sampler_describe(&g->cfg.common.sampler, sampler, sizeof sampler);
    const char *rec_sampler = lumi_case_str(m->root, "sampler", NULL);
    const char *rec_eos = lumi_case_str(m->root, "stop_at_eos", NULL);
    int early_stop = n_tok > 0 && (tok[n_tok - 1] == 1 || tok[n_tok - 1] == 2);
    if (n_ids != g->in.n_ids[p] || memcmp(ids, g->in.ids[p], sizeof(int) * (size_t)n_ids) != 0)
        snprintf(what, sizeof what, "prompt '%s' is %d tokens [%d, ...], recorded %d tokens [%d, ...]", name,
                 g->in.n_ids[p], g->in.ids[p][0], n_ids, n_ids ? ids[0] : -1);
    else if (steps >= 0 && steps != gen)
        snprintf(what, sizeof what, "prompt '%s' generates %d steps, recorded %ld", name, gen, steps);
    else if (steps < 0 && (n_tok > gen || (n_tok < gen && !early_stop)))
        snprintf(what, sizeof what, "prompt '%s' generates %d steps, the goldens hold %d tokens", name, gen, n_tok);
    else if (rec_sampler && strcmp(rec_sampler, sampler) != 0)
        snprintf(what, sizeof what, "sampler '%s', recorded '%s'", sampler, rec_sampler);
    else if (rec_eos && strcmp(rec_eos, g->cfg.common.stop_at_eos ? "true" : "false") != 0)
        snprintf(what, sizeof what, "stop_at_eos %s, recorded %s", g->cfg.common.stop_at_eos ? "true" : "false", rec_eos);
    free(ids);
    free(tok);
    if (!what[0]) return 0;
    return lumi_err(e, "%s: the config differs from the goldens' (%s): %s; not a drift (re-record: lumi golden record "
                    "--force %s)",
                    g->cfg.goldens, m->path, what, g->config_path);
}

/* Loads and checks the golden of prompt p (exit-2 problems only). */
static int load_expected(const Golden *g, const LumiYamlDoc *m, int p, Expected *x, LumiErr *e) {
    const char *name = g->cfg.common.prompts[p].name;
    const char *file = NULL;
    long rows = 0, cols = 0;
    uint32_t crc = 0;
    int *pids = NULL, npids = 0;
    if (lumi_yaml_str(m, x->entry, "file", 1, &file, e) != 0 ||
        lumi_yaml_int(m, x->entry, "rows", 1, 0, 1 << 24, &rows, e) != 0 ||
        lumi_yaml_int(m, x->entry, "cols", 1, 1, 1 << 24, &cols, e) != 0 || manifest_u32(m, x->entry, "crc32", &crc, e) != 0 ||
        ints_of(m, x->entry, "tokens", &x->tokens, &x->n_tokens, e) != 0 ||
        ints_of(m, x->entry, "prompt_ids", &pids, &npids, e) != 0) {
        free(pids);
        return -1;
    }
    free(pids);
    if (strchr(file, '/') || file[0] == '.') return lumi_yaml_err(m, x->entry, e, "'file' must be a plain file name");
    if (cols != g->in.model.cfg.vocab_size)
        return lumi_err(e, "%s: prompt '%s' has %ld logits per position but the model's vocabulary is %d", m->path,
                        name, cols, g->in.model.cfg.vocab_size);
    char path[800];
    snprintf(path, sizeof path, "%s/%s", g->cfg.goldens, file);
    x->rows = (int)rows;
    return lumi_npy_gz_read(path, (size_t)rows, (size_t)cols, crc, &x->logits, e);
}

/* Recomputes prompt p and reports the first drift; 0 ok, 1 drift, -1 error. */
static int verify_prompt(const Golden *g, int p, const Expected *x, const LumiTolerance *tol, LumiErr *e) {
    const char *name = g->cfg.common.prompts[p].name;
    int V = g->in.model.cfg.vocab_size, np = g->in.n_ids[p];
    LumiTrace t;
    if (trace_ref(g, p, &t, e) != 0) return -1;
    LumiCaseMetrics cm;
    lumi_case_init(&cm);
    int n = t.n_pos < x->rows ? t.n_pos : x->rows;
    for (int i = 0; i < n; i++) {
        LumiPosMetrics pm;
        lumi_metrics_row(x->logits + (size_t)i * V, t.logits + (size_t)i * V, V, &pm);
        lumi_case_add(&cm, i, &pm, tol);
    }
    int tok_pos = -1;
    for (int i = 0; i < t.n_tokens && i < x->n_tokens && tok_pos < 0; i++)
        if (t.tokens[i] != x->tokens[i]) tok_pos = np + i;
    if (tok_pos < 0 && t.n_tokens != x->n_tokens) tok_pos = np + (t.n_tokens < x->n_tokens ? t.n_tokens : x->n_tokens);
    int drift = 1;
    char why[128];
    if (cm.first_bad >= 0) lumi_violation_format(&cm.bad, why, sizeof why);
    if (cm.first_bad >= 0)
        fprintf(stderr, "lumi: drift: prompt '%s' position %d: %s\n", name, cm.first_bad, why);
    else if (tok_pos >= 0)
        fprintf(stderr, "lumi: drift: prompt '%s' position %d: generated token differs from the golden\n", name,
                tok_pos);
    else if (t.n_pos != x->rows)
        fprintf(stderr, "lumi: drift: prompt '%s': %d positions, the golden has %d\n", name, t.n_pos, x->rows);
    else drift = 0;
    if (!drift)
        printf("ok %s: %d positions, max-abs %.3g, %d/%d bitwise\n", name, n, cm.max_abs, cm.n_bitwise, n);
    lumi_trace_free(&t);
    return drift;
}

int lumi_golden_verify(const LumiYamlDoc *doc) {
    Golden g;
    LumiErr e;
    LumiYamlDoc m = {0};
    int rc = 2, have_m = 0, np = 0;
    Expected *x = NULL;
    if (open_golden(doc, &g, &e) != 0) goto out;
    if (lumi_yaml_load(g.manifest, &m, &e) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", e.msg);
        lumi_err(&e, "%s (record goldens with: lumi golden record %s)", msg, doc->path);
        goto out;
    }
    have_m = 1;
    const char *fmt = lumi_case_str(m.root, "format", "");
    if (strcmp(fmt, "lumi-golden-v1") != 0) {
        lumi_err(&e, "%s: unknown golden format '%s'", g.manifest, fmt);
        goto out;
    }
    np = g.cfg.common.n_prompts;
    x = lumi_xcalloc((size_t)np, sizeof *x);
    for (int p = 0; p < np; p++)
        if (find_entry(&g, &m, p, &x[p], &e) != 0 || config_diff(&g, &m, p, &x[p], &e) != 0 ||
            load_expected(&g, &m, p, &x[p], &e) != 0)
            goto out;
    /* same backend as recorded: the same-backend tolerance (bitwise by default) */
    const char *rec_backend = lumi_case_str(m.root, "backend", "");
    const LumiTolerance *tol = &g.cfg.cross_backend;
    if (g.cfg.has_golden_tol) tol = &g.cfg.golden;
    else if (!strcmp(rec_backend, g.cfg.reference.spec.backend)) tol = lumi_equiv_same_tolerance(&g.cfg, rec_backend);
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", (unsigned)g.in.model_crc);
    const LumiYamlNode *mm = lumi_yaml_get(m.root, "model");
    if (mm && strcmp(lumi_case_str(mm, "crc32", crc), crc) != 0)
        fprintf(stderr, "lumi: note: the model's CRC-32 is %s, the goldens were recorded from %s\n", crc,
                lumi_case_str(mm, "crc32", "?"));
    int drifts = 0;
    for (int p = 0; p < np; p++) {
        int r = verify_prompt(&g, p, &x[p], tol, &e);
        if (r < 0) goto out;
        drifts += r;
    }
    if (drifts) fprintf(stderr, "lumi: %d of %d prompts drifted from %s\n", drifts, np, g.cfg.goldens);
    else printf("goldens %s: all %d prompts match\n", g.cfg.goldens, np);
    rc = drifts ? 1 : 0;
out:
    if (rc == 2) fprintf(stderr, "lumi: %s\n", e.msg);
    for (int p = 0; p < np && x; p++) {
        free(x[p].logits);
        free(x[p].tokens);
    }
    free(x);
    if (have_m) lumi_yaml_free(&m);
    close_golden(&g);
    return rc;
}
