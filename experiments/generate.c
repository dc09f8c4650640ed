/* generate.c: the `generate` experiment kind: every prompt on every path of
 * the matrix, free generation with the config's sampler; one case per
 * prompt x path (tokens, text, prefill and decode speed) in cases.jsonl
 * and a table in generate.csv. Resumable like every kind. */
#include <stdlib.h>
#include <string.h>

#include "../engine/json.h"
#include "config.h"
#include "experiment.h"
#include "inputs.h"
#include "results.h"
#include "trace.h"

static const char *const GENERATE_KEYS[] = {"paths", NULL};

static const LumiYamlNode *find_case(const LumiCaseLog *log, const char *prompt, const char *path) {
    for (int i = log->n - 1; i >= 0; i--)
        if (!strcmp(lumi_case_str(log->lines[i].root, "prompt", ""), prompt) &&
            !strcmp(lumi_case_str(log->lines[i].root, "path", ""), path))
            return log->lines[i].root;
    return NULL;
}

static int has_case(const LumiCaseLog *log, const char *prompt, const char *path) { return find_case(log, prompt, path) != NULL; }

static int run_case(const LumiExpCommon *c, const LumiExpInputs *in, int p, const LumiPathEntry *pe, LumiRunDir *r,
                    LumiErr *e) {
    LumiTrace t;
    if (lumi_trace_run(&in->model, &pe->spec, in->ids[p], in->n_ids[p], NULL, 0, in->n_gen[p], &c->sampler,
                       lumi_trace_stops(c->stop_at_eos, in, &(LumiStopSet){0}), 0, &t, e) != 0)
        return -1;
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    FILE *f = sb.f;
    fprintf(f, "{\"prompt\":");
    lumi_json_cstr(f, c->prompts[p].name);
    fprintf(f, ",\"path\":");
    lumi_json_cstr(f, pe->label);
    fprintf(f, ",\"role\":\"generate\",\"prompt_ids\":");
    lumi_json_ints(f, in->ids[p], in->n_ids[p]);
    fprintf(f, ",\"tokens\":");
    lumi_json_ints(f, t.tokens, t.n_tokens);
    fprintf(f, ",\"text\":");
    char *text = NULL;
    size_t len = 0;
    if (in->have_tok) {
        text = lumi_detok(&in->tok, in->ids[p][in->n_ids[p] - 1], t.tokens, t.n_tokens, &len);
        lumi_json_str(f, text, len);
    } else {
        fprintf(f, "null");
    }
    double pre = t.prefill_s > 0 ? in->n_ids[p] / t.prefill_s : 0, dec = t.decode_s > 0 ? t.n_tokens / t.decode_s : 0;
    fprintf(f, ",\"stop\":\"%s\",\"prefill_tok_s\":", t.stop_eos ? "eos" : "steps");
    lumi_json_num(f, pre);
    fprintf(f, ",\"decode_tok_s\":");
    lumi_json_num(f, dec);
    fprintf(f, "}");
    lumi_sb_close(&sb);
    printf("== %s on %s (%d tokens)\n%s\n", c->prompts[p].name, pe->label, t.n_tokens, text ? text : "");
    fflush(stdout);
    free(text);
    lumi_trace_free(&t);
    int rc = lumi_rundir_append(r, sb.buf, sb.len, e);
    free(sb.buf);
    return rc;
}

static int write_outputs(const LumiExpCommon *c, const LumiExpInputs *in, const LumiPathEntry *paths, int n_paths,
                         LumiRunDir *r, const char *status, const LumiRunOpts *o, int n_cases, LumiErr *e) {
    LumiCaseLog log;
    if (lumi_caselog_read(r->dir, &log, e) != 0) return -1;
    LumiStrBuf csv, js;
    lumi_sb_open(&csv);
    fprintf(csv.f, "prompt,path,tokens,stop,prefill_tok_s,decode_tok_s\n");
    /* config order, whatever order the cases ran in (resume, merge of shards) */
    for (int i = 0; i < c->n_prompts * n_paths; i++) {
        const LumiYamlNode *n = find_case(&log, c->prompts[i / n_paths].name, paths[i % n_paths].label);
        if (!n) continue;
        const LumiYamlNode *tok = lumi_yaml_get(n, "tokens");
        fprintf(csv.f, "%s,\"%s\",%d,%s,%.6g,%.6g\n", lumi_case_str(n, "prompt", "?"), lumi_case_str(n, "path", "?"),
                tok && tok->type == LUMI_Y_SEQ ? tok->n : 0, lumi_case_str(n, "stop", "?"),
                lumi_case_num(n, "prefill_tok_s", 0), lumi_case_num(n, "decode_tok_s", 0));
    }
    lumi_sb_close(&csv);
    lumi_sb_open(&js);
    fputc('{', js.f);
    lumi_run_json_common(js.f, c, in, r->run_id);
    fprintf(js.f, ",\"status\":\"%s\",\"paths\":[", status);
    for (int k = 0; k < n_paths; k++) {
        if (k) fputc(',', js.f);
        lumi_json_cstr(js.f, paths[k].label);
    }
    fprintf(js.f, "],\"seconds\":");
    lumi_json_num(js.f, lumi_now() - r->t0);
    lumi_run_json_scope(js.f, o, n_cases);
    fprintf(js.f, "}\n");
    lumi_sb_close(&js);
    int rc = lumi_rundir_write(r, "generate.csv", csv.buf, csv.len, e);
    if (rc == 0) rc = lumi_rundir_write(r, "run.json", js.buf, js.len, e);
    free(csv.buf);
    free(js.buf);
    lumi_caselog_free(&log);
    return rc;
}

/* The cases: prompt x path in run order. */
static void list_cases(const LumiExpCommon *c, const LumiExpInputs *in, const LumiPathEntry *paths, int n_paths,
                       LumiCaseList *out) {
    for (int p = 0; p < c->n_prompts; p++)
        for (int k = 0; k < n_paths; k++)
            lumi_cases_add(out, lumi_case_cost(in->n_ids[p] + in->n_gen[p], paths[k].spec.cache), "prompt=%s path=%s",
                           c->prompts[p].name, paths[k].label);
}

static int cases(const LumiYamlDoc *doc, LumiCaseList *out, LumiErr *e) {
    LumiExpCommon c;
    LumiExpInputs in;
    LumiPathEntry *paths = NULL;
    int n_paths = 0, rc = -1;
    if (lumi_config_common(doc, &c, 1, e) != 0) return -1;
    if (lumi_config_paths(doc, lumi_yaml_get(doc->root, "paths"), &paths, &n_paths, e) == 0 &&
        lumi_inputs_load(doc, &c, &in, e) == 0) {
        list_cases(&c, &in, paths, n_paths, out);
        lumi_inputs_free(&in);
        rc = 0;
    }
    free(paths);
    lumi_config_common_free(&c);
    return rc;
}

static int case_key(const LumiYamlNode *rec, char *buf, size_t n) {
    snprintf(buf, n, "prompt=%s path=%s", lumi_case_str(rec, "prompt", "?"), lumi_case_str(rec, "path", "?"));
    return 1;
}

static int run(const LumiYamlDoc *doc, const LumiRunOpts *o) {
    LumiExpCommon c;
    LumiExpInputs in;
    LumiRunDir r;
    LumiCaseLog done = {0};
    LumiPathEntry *paths = NULL;
    LumiCaseList cases = {0};
    LumiShardPlan plan = {0};
    int n_paths = 0, rc = 2, stage = 0;
    LumiErr e;
    if (lumi_config_check_keys(doc, GENERATE_KEYS, &e) != 0 || lumi_config_common(doc, &c, 1, &e) != 0) goto out;
    stage = 1;
    if (lumi_config_paths(doc, lumi_yaml_get(doc->root, "paths"), &paths, &n_paths, &e) != 0) goto out;
    for (int k = 0; k < n_paths; k++)
        if (paths[k].has_canary || paths[k].has_tolerance) {
            lumi_yaml_err(doc, lumi_yaml_get(doc->root, "paths"), &e,
                          "canary and tolerance belong to equivalence experiments, not generate");
            goto out;
        }
    if (lumi_inputs_load(doc, &c, &in, &e) != 0) goto out;
    stage = 2;
    list_cases(&c, &in, paths, n_paths, &cases);
    lumi_shard_plan(&plan, &cases, o->shard_index, o->shard_count);
    if (lumi_rundir_open(o, c.output, c.name, "cases.jsonl", &r, &e) != 0 ||
        (o->resume_dir && lumi_caselog_read(r.dir, &done, &e) != 0))
        goto out;
    stage = 3;
    if (write_outputs(&c, &in, paths, n_paths, &r, "running", o, lumi_shard_size(&plan), &e) != 0) goto out;
    const char *stop = getenv("LUMI_STOP_AFTER_CASES"); /* test hook: simulate a kill */
    int stop_after = stop ? atoi(stop) : 0, n_run = 0;
    for (int p = 0; p < c.n_prompts; p++)
        for (int k = 0; k < n_paths; k++) {
            if (!lumi_shard_take(&plan, p * n_paths + k) || has_case(&done, c.prompts[p].name, paths[k].label)) continue;
            if (run_case(&c, &in, p, &paths[k], &r, &e) != 0) goto out;
            if (stop_after > 0 && ++n_run >= stop_after) {
                fprintf(stderr, "lumi: LUMI_STOP_AFTER_CASES=%d reached, stopping\n", stop_after);
                exit(3);
            }
        }
    if (write_outputs(&c, &in, paths, n_paths, &r, "complete", o, lumi_shard_size(&plan), &e) != 0) goto out;
    fprintf(stderr, "lumi: results in %s\n", r.dir);
    rc = 0;
out:
    if (rc) fprintf(stderr, "lumi: %s\n", e.msg);
    if (stage >= 3) lumi_rundir_close(&r);
    lumi_caselog_free(&done);
    lumi_cases_free(&cases);
    lumi_shard_free(&plan);
    if (stage >= 2) lumi_inputs_free(&in);
    if (stage >= 1) lumi_config_common_free(&c);
    free(paths);
    return rc;
}

const LumiExperimentKind lumi_kind_generate = {"generate", "free generation of every prompt on every path", run,
                                               cases, case_key, "cases.jsonl"};
