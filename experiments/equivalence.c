/* equivalence.c: see equivalence.h. Every completed case is appended to
 * cases.jsonl before the next starts; the table is always rebuilt from that
 * file, so a fresh run and a resumed one report the same way. */
#include "equivalence.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/json.h"
#include "config.h"
#include "inputs.h"
#include "metrics.h"
#include "results.h"
#include "trace.h"

void lumi_canary_apply(float *row, int n, double epsilon) {
    int k = 0;
    for (int i = 1; i < n; i++)
        if (fabsf(row[i]) < fabsf(row[k])) k = i;
    float old = row[k], v = (float)((double)old + epsilon);
    if (v == old) v = nextafterf(old, epsilon > 0 ? INFINITY : -INFINITY);
    row[k] = v;
}

/* Everything one run needs, passed around instead of globals. */
typedef struct {
    const LumiYamlDoc *doc;
    const LumiRunOpts *opts;
    LumiEquivConfig cfg;
    LumiExpInputs in;
    LumiRunDir run;
    LumiCaseLog done;   /* cases completed before this process (resume) */
    int n_errors;
    char *timings;      /* JSON object for run.json, built with the table */
    int stop_after;     /* test hook: LUMI_STOP_AFTER_CASES, 0 = off */
    int n_appended;
    LumiShardPlan shard; /* which prompt x path cases this run does (--shard) */
} Ctx;

/* The last record of a case in log, or NULL. Error records count only when
 * `errors` is set: a resumed run retries the cases that failed to run. */
static const LumiYamlNode *log_find(const LumiCaseLog *log, const char *prompt, const char *label, const char *role,
                                    int errors) {
    for (int i = log->n - 1; i >= 0; i--) {
        const LumiYamlNode *r = log->lines[i].root;
        if (!strcmp(lumi_case_str(r, "prompt", ""), prompt) && !strcmp(lumi_case_str(r, "path", ""), label) &&
            !strcmp(lumi_case_str(r, "role", ""), role) &&
            (errors || strcmp(lumi_case_str(r, "verdict", ""), "error") != 0))
            return r;
    }
    return NULL;
}

static const LumiYamlNode *find_case(const Ctx *x, const char *prompt, const char *label, const char *role) {
    return log_find(&x->done, prompt, label, role, 0);
}

static void json_text(FILE *f, const Ctx *x, int prev, const int *ids, int n) {
    if (!x->in.have_tok) {
        fprintf(f, "null");
        return;
    }
    size_t len;
    char *s = lumi_detok(&x->in.tok, prev, ids, n, &len);
    lumi_json_str(f, s, len);
    free(s);
}

static int append(Ctx *x, LumiStrBuf *sb, LumiErr *e) {
    lumi_sb_close(sb);
    int rc = lumi_rundir_append(&x->run, sb->buf, sb->len, e);
    free(sb->buf);
    if (rc == 0 && x->stop_after > 0 && ++x->n_appended >= x->stop_after) {
        /* simulate a kill: leave without any of the end-of-run writes */
        fprintf(stderr, "lumi: LUMI_STOP_AFTER_CASES=%d reached, stopping\n", x->stop_after);
        exit(3);
    }
    return rc;
}

static void case_head(FILE *f, const Ctx *x, int p, const char *label, const char *role) {
    fprintf(f, "{\"prompt\":");
    lumi_json_cstr(f, x->cfg.common.prompts[p].name);
    fprintf(f, ",\"path\":");
    lumi_json_cstr(f, label);
    fprintf(f, ",\"role\":\"%s\",\"prompt_ids\":", role);
    lumi_json_ints(f, x->in.ids[p], x->in.n_ids[p]);
}

static int append_reference(Ctx *x, int p, const LumiTrace *t, LumiErr *e) {
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    case_head(sb.f, x, p, x->cfg.reference.label, "reference");
    fprintf(sb.f, ",\"tokens\":");
    lumi_json_ints(sb.f, t->tokens, t->n_tokens);
    fprintf(sb.f, ",\"text\":");
    json_text(sb.f, x, x->in.ids[p][x->in.n_ids[p] - 1], t->tokens, t->n_tokens);
    fprintf(sb.f, ",\"n_positions\":%d,\"stop\":\"%s\",\"seconds\":", t->n_pos, t->stop_eos ? "eos" : "steps");
    lumi_json_num(sb.f, t->prefill_s + t->decode_s);
    fprintf(sb.f, "}");
    return append(x, &sb, e);
}

/* A resumed run must regenerate exactly what the interrupted one did. */
static int check_reference(const Ctx *x, int p, const LumiYamlNode *rec, const LumiTrace *t, LumiErr *e) {
    const LumiYamlNode *tok = lumi_yaml_get(rec, "tokens");
    int same = tok && tok->type == LUMI_Y_SEQ && tok->n == t->n_tokens;
    for (int i = 0; same && i < t->n_tokens; i++) same = atoi(tok->items[i]->scalar) == t->tokens[i];
    if (!same)
        return lumi_err(e, "--resume %s: the reference tokens of prompt '%s' differ from the interrupted run's "
                           "(different build or model?)",
                        x->run.dir, x->cfg.common.prompts[p].name);
    return 0;
}

static void json_positions(FILE *f, const double *v, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', f);
        lumi_json_num(f, v[i]);
    }
    fputc(']', f);
}

static void json_flags(FILE *f, const char *s) {
    fputc('"', f);
    fputs(s, f);
    fputc('"', f);
}

static int append_error(Ctx *x, int p, const LumiPathEntry *pe, const char *msg, LumiErr *e) {
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    case_head(sb.f, x, p, pe->label, "path");
    fprintf(sb.f, ",\"verdict\":\"error\",\"error\":");
    lumi_json_cstr(sb.f, msg);
    fprintf(sb.f, "}");
    fprintf(stderr, "lumi: %s on prompt '%s': %s\n", pe->label, x->cfg.common.prompts[p].name, msg);
    x->n_errors++;
    return append(x, &sb, e);
}

/* A device backend that cannot run here (no device, no driver, or a build
 * without its toolkit) says so in words these match; its paths are then
 * skipped with that reason instead of failed, unless `require: true`. */
static int device_absent(const Ctx *x, const char *msg) {
    static const char *const marks[] = {"no CUDA device", "no OpenCL platform", "no OpenCL device", "built without"};
    for (size_t i = 0; !x->cfg.require && i < sizeof marks / sizeof marks[0]; i++)
        if (strstr(msg, marks[i])) return 1;
    return 0;
}

static int append_skip(Ctx *x, int p, const LumiPathEntry *pe, const char *msg, LumiErr *e) {
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    case_head(sb.f, x, p, pe->label, "path");
    fprintf(sb.f, ",\"verdict\":\"skip\",\"error\":");
    lumi_json_cstr(sb.f, msg);
    fprintf(sb.f, "}");
    fprintf(stderr, "lumi: %s on prompt '%s': skipped: %s\n", pe->label, x->cfg.common.prompts[p].name, msg);
    return append(x, &sb, e);
}

/* A path that could not run: skipped when its device is absent, else an error. */
static int append_failed(Ctx *x, int p, const LumiPathEntry *pe, const char *msg, LumiErr *e) {
    return device_absent(x, msg) ? append_skip(x, p, pe, msg, e) : append_error(x, p, pe, msg, e);
}

static void json_violation(FILE *f, const LumiCaseMetrics *cm, const char *against) {
    fprintf(f, ",\"violation\":{\"position\":%d,\"metric\":\"%s\",\"against\":\"%s\",\"value\":", cm->first_bad,
            cm->bad.metric, against);
    lumi_json_num(f, cm->bad.value);
    fprintf(f, ",\"limit\":");
    lumi_json_num(f, cm->bad.limit);
    fprintf(f, "}");
}

static void json_maxima(FILE *f, const LumiCaseMetrics *cm) {
    const char *names[4] = {"max_abs", "max_rel", "nmse", "kl"};
    double agg[4] = {cm->max_abs, cm->max_rel, cm->nmse, cm->kl};
    for (int k = 0; k < 4; k++) {
        fprintf(f, ",\"%s\":", names[k]);
        lumi_json_num(f, agg[k]);
    }
    fprintf(f, ",\"top1\":%d,\"bitwise\":%d", cm->n_top1, cm->n_bitwise);
}

/* The case's KL distribution (informational: tolerances on it are checked
 * over all positions of the path, in the table). */
static void json_kl_stats(FILE *f, const double *kl, int n, int n_top1) {
    double *tmp = lumi_xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    memcpy(tmp, kl, sizeof(double) * (size_t)n);
    LumiKlStats st;
    lumi_kl_stats(tmp, n, n_top1, &st);
    free(tmp);
    fprintf(f, ",\"kl_mean\":");
    lumi_json_num(f, st.kl_mean);
    fprintf(f, ",\"kl_p99\":");
    lumi_json_num(f, st.kl_p99);
    fprintf(f, ",\"top1_rate\":");
    lumi_json_num(f, st.top1_rate);
}

/* Compares two traces' logits position by position; per-position values
 * go to pv/bits/top when given. */
static void compare(const LumiTrace *base, const LumiTrace *t, int V, const LumiTolerance *tol, LumiCaseMetrics *cm,
                    double **pv, char *bits, char *top) {
    lumi_case_init(cm);
    for (int i = 0; i < t->n_pos; i++) {
        LumiPosMetrics pm;
        lumi_metrics_row(base->logits + (size_t)i * V, t->logits + (size_t)i * V, V, &pm);
        lumi_case_add(cm, i, &pm, tol);
        if (!pv) continue;
        pv[0][i] = pm.max_abs, pv[1][i] = pm.max_rel, pv[2][i] = pm.nmse, pv[3][i] = pm.kl;
        bits[i] = pm.bitwise ? '1' : '0';
        top[i] = pm.top1 ? '1' : '0';
    }
    if (bits) bits[t->n_pos] = top[t->n_pos] = 0;
}

/* One prompt on path k: its teacher-forced trace t against the reference's
 * (and against its backend's anchor trace when it has one). */
static int run_case(Ctx *x, int p, int k, const LumiTrace *ref, LumiTrace *t, const LumiTrace *anchor, LumiErr *e) {
    const LumiPathEntry *pe = &x->cfg.paths[k];
    int V = x->in.model.cfg.vocab_size, np = x->in.n_ids[p], n = t->n_pos;
    if (t->n_pos != ref->n_pos) return append_error(x, p, pe, "computed a different number of positions than the reference", e);
    if (pe->has_canary && pe->canary.position < n)
        lumi_canary_apply(t->logits + (size_t)pe->canary.position * V, V, pe->canary.epsilon);
    const LumiTolerance *tol = lumi_equiv_tolerance(&x->cfg, pe);
    LumiCaseMetrics cm, am;
    double *pv[4];
    for (int q = 0; q < 4; q++) pv[q] = lumi_xmalloc(sizeof(double) * (size_t)n);
    char *bits = lumi_xmalloc((size_t)n + 1), *top = lumi_xmalloc((size_t)n + 1);
    compare(ref, t, V, tol, &cm, pv, bits, top);
    int same_tokens = t->n_tokens == ref->n_tokens && !memcmp(t->tokens, ref->tokens, sizeof(int) * (size_t)t->n_tokens);
    if (tol->tokens && !same_tokens && cm.first_bad < 0) {
        cm.first_bad = np + (t->diverged_at >= 0 ? t->diverged_at : 0);
        cm.bad = (LumiViolation){"tokens", 0, 0};
    }
    const LumiTolerance *atol = lumi_equiv_same_tolerance(&x->cfg, pe->spec.backend);
    if (anchor) compare(anchor, t, V, atol, &am, NULL, NULL, NULL);
    char tolstr[128];
    lumi_tolerance_format(tol, tolstr, sizeof tolstr);
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    FILE *f = sb.f;
    case_head(f, x, p, pe->label, "path");
    fprintf(f, ",\"tokens\":");
    lumi_json_ints(f, t->tokens, t->n_tokens);
    fprintf(f, ",\"text\":");
    json_text(f, x, x->in.ids[p][np - 1], t->tokens, t->n_tokens);
    fprintf(f, ",\"same_tokens\":%s,\"diverged_at\":%d,\"n_positions\":%d,\"tolerance\":", same_tokens ? "true" : "false",
            t->diverged_at, n);
    lumi_json_cstr(f, tolstr);
    if (pe->has_canary) {
        fprintf(f, ",\"canary\":{\"position\":%d,\"epsilon\":", pe->canary.position);
        lumi_json_num(f, pe->canary.epsilon);
        fprintf(f, "}");
    }
    int bad_anchor = anchor && am.first_bad >= 0;
    fprintf(f, ",\"verdict\":\"%s\"", cm.first_bad < 0 && !bad_anchor ? "pass" : "fail");
    if (cm.first_bad >= 0) json_violation(f, &cm, "reference");
    else if (bad_anchor) json_violation(f, &am, "anchor");
    json_maxima(f, &cm);
    json_kl_stats(f, pv[3], n, cm.n_top1);
    fprintf(f, ",\"seconds\":");
    lumi_json_num(f, t->prefill_s + t->decode_s);
    if (anchor) {
        lumi_tolerance_format(atol, tolstr, sizeof tolstr);
        fprintf(f, ",\"anchor\":");
        lumi_json_cstr(f, x->cfg.paths[x->cfg.anchor[k]].label);
        fprintf(f, ",\"vs_anchor\":{\"tolerance\":");
        lumi_json_cstr(f, tolstr);
        fprintf(f, ",\"verdict\":\"%s\"", bad_anchor ? "fail" : "pass");
        if (bad_anchor) json_violation(f, &am, "anchor");
        json_maxima(f, &am);
        fprintf(f, "}");
    }
    const char *names[4] = {"max_abs", "max_rel", "nmse", "kl"};
    fprintf(f, ",\"positions\":{");
    for (int q = 0; q < 4; q++) {
        fprintf(f, "%s\"%s\":", q ? "," : "", names[q]);
        json_positions(f, pv[q], n);
    }
    fprintf(f, ",\"top1\":");
    json_flags(f, top);
    fprintf(f, ",\"bitwise\":");
    json_flags(f, bits);
    fprintf(f, "}}");
    for (int q = 0; q < 4; q++) free(pv[q]);
    free(bits);
    free(top);
    return append(x, &sb, e);
}

static int path_trace(const Ctx *x, int p, int k, const LumiTrace *ref, LumiTrace *t, LumiErr *e) {
    return lumi_trace_run(&x->in.model, &x->cfg.paths[k].spec, x->in.ids[p], x->in.n_ids[p], ref->tokens, ref->n_tokens,
                          x->in.n_gen[p], &x->cfg.common.sampler,
                          lumi_trace_stops(x->cfg.common.stop_at_eos, &x->in, &(LumiStopSet){0}), 1, t, e);
}

/* Anchors' traces are kept for the prompt (computed once, even when the
 * anchor's own case was completed before a resume). */
static int run_paths(Ctx *x, int p, const LumiTrace *ref, LumiErr *e) {
    int n = x->cfg.n_paths, rc = 0;
    const char *pname = x->cfg.common.prompts[p].name;
    LumiTrace *kept = lumi_xcalloc((size_t)n, sizeof *kept);
    int *is_anchor = lumi_xcalloc((size_t)n, sizeof(int));
    for (int k = 0; k < n; k++)
        if (x->cfg.anchor[k] >= 0) is_anchor[x->cfg.anchor[k]] = 1;
    for (int k = 0; k < n && rc == 0; k++) {
        const LumiPathEntry *pe = &x->cfg.paths[k];
        if (!lumi_shard_take(&x->shard, p * n + k) || find_case(x, pname, pe->label, "path")) continue;
        LumiErr ce;
        int a = x->cfg.anchor[k];
        if (a >= 0 && !kept[a].logits && path_trace(x, p, a, ref, &kept[a], &ce) != 0) {
            char msg[1100];
            snprintf(msg, sizeof msg, "anchor %s: %.800s", x->cfg.paths[a].label, ce.msg);
            rc = append_failed(x, p, pe, msg, e);
            continue;
        }
        LumiTrace own, *t = &own;
        if (is_anchor[k] && kept[k].logits) t = &kept[k];
        else if (path_trace(x, p, k, ref, is_anchor[k] ? &kept[k] : &own, &ce) != 0) {
            rc = append_failed(x, p, pe, ce.msg, e);
            continue;
        } else if (is_anchor[k]) t = &kept[k];
        rc = run_case(x, p, k, ref, t, a >= 0 ? &kept[a] : NULL, e);
        if (t == &own) lumi_trace_free(&own);
    }
    for (int k = 0; k < n; k++) lumi_trace_free(&kept[k]);
    free(kept);
    free(is_anchor);
    return rc;
}

static int run_prompt(Ctx *x, int p, LumiErr *e) {
    const char *pname = x->cfg.common.prompts[p].name;
    int todo = 0;
    for (int k = 0; k < x->cfg.n_paths; k++)
        todo += lumi_shard_take(&x->shard, p * x->cfg.n_paths + k) && !find_case(x, pname, x->cfg.paths[k].label, "path");
    if (!todo) return 0;
    fprintf(stderr, "lumi: prompt %s: %d tokens + %d steps, %d paths\n", pname, x->in.n_ids[p], x->in.n_gen[p], todo);
    LumiTrace ref;
    if (lumi_trace_run(&x->in.model, &x->cfg.reference.spec, x->in.ids[p], x->in.n_ids[p], NULL, 0, x->in.n_gen[p],
                       &x->cfg.common.sampler, lumi_trace_stops(x->cfg.common.stop_at_eos, &x->in, &(LumiStopSet){0}),
                       1, &ref, e) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", e->msg);
        return lumi_err(e, "reference %s on prompt '%s': %s", x->cfg.reference.label, pname, msg);
    }
    const LumiYamlNode *rec = find_case(x, pname, x->cfg.reference.label, "reference");
    int rc = rec ? check_reference(x, p, rec, &ref, e) : append_reference(x, p, &ref, e);
    if (rc == 0) rc = run_paths(x, p, &ref, e);
    lumi_trace_free(&ref);
    return rc;
}

/* ---- the table, rebuilt from cases.jsonl ---- */

typedef struct {
    LumiCaseMetrics m;
    double seconds;
    int n_cases, n_errors, n_skipped, tokens_same;
    int has_anchor, an_positions, an_bitwise; /* vs the backend's anchor */
    char bad_prompt[64];
    char bad_metric[16];
    char bad_against[16];                      /* "reference" or "anchor" */
    const char *error; /* first error message (points into the log) */
    double *kls;       /* per-position KL of every case, for the distribution */
    int n_kls;
    LumiKlStats dist;
    int dist_bad;      /* the distribution violates kl_mean / kl_p99 / top1_rate */
    LumiViolation dist_v;
} Row;

/* Appends a case's per-position KL values (positions.kl) to the row. */
static void row_add_kls(Row *r, const LumiYamlNode *c) {
    const LumiYamlNode *pos = lumi_yaml_get(c, "positions");
    const LumiYamlNode *kl = pos ? lumi_yaml_get(pos, "kl") : NULL;
    if (!kl || kl->type != LUMI_Y_SEQ) return;
    r->kls = lumi_xrealloc(r->kls, sizeof(double) * (size_t)(r->n_kls + kl->n + 1));
    for (int i = 0; i < kl->n; i++) {
        const LumiYamlNode *v = kl->items[i];
        double x = INFINITY; /* null: non-finite */
        if (v->type == LUMI_Y_SCALAR && strcmp(v->scalar, "null") != 0 && lumi_parse_float(v->scalar, &x) != 0)
            x = INFINITY;
        r->kls[r->n_kls++] = x;
    }
}

static void row_add(Row *r, const LumiYamlNode *c) {
    r->n_cases++;
    r->seconds += lumi_case_num(c, "seconds", 0);
    if (!strcmp(lumi_case_str(c, "verdict", ""), "skip")) {
        r->n_skipped++;
        if (!r->error) r->error = lumi_case_str(c, "error", "?");
        return;
    }
    if (!strcmp(lumi_case_str(c, "verdict", ""), "error")) {
        r->n_errors++;
        if (!r->error) r->error = lumi_case_str(c, "error", "?");
        return;
    }
    LumiCaseMetrics m;
    lumi_case_init(&m);
    m.n_positions = (int)lumi_case_num(c, "n_positions", 0);
    m.n_bitwise = (int)lumi_case_num(c, "bitwise", 0);
    m.n_top1 = (int)lumi_case_num(c, "top1", 0);
    m.max_abs = lumi_case_num(c, "max_abs", INFINITY);
    m.max_rel = lumi_case_num(c, "max_rel", INFINITY);
    m.nmse = lumi_case_num(c, "nmse", INFINITY);
    m.kl = lumi_case_num(c, "kl", INFINITY);
    const LumiYamlNode *v = lumi_yaml_get(c, "violation");
    if (v && r->m.first_bad < 0) {
        snprintf(r->bad_prompt, sizeof r->bad_prompt, "%s", lumi_case_str(c, "prompt", "?"));
        snprintf(r->bad_metric, sizeof r->bad_metric, "%s", lumi_case_str(v, "metric", "?"));
        snprintf(r->bad_against, sizeof r->bad_against, "%s", lumi_case_str(v, "against", "reference"));
        m.first_bad = (int)lumi_case_num(v, "position", 0);
        m.bad = (LumiViolation){r->bad_metric, lumi_case_num(v, "value", INFINITY), lumi_case_num(v, "limit", 0)};
    }
    if (!lumi_case_num(c, "same_tokens", 0)) r->tokens_same = 0;
    const LumiYamlNode *an = lumi_yaml_get(c, "vs_anchor");
    if (an) {
        r->has_anchor = 1;
        r->an_positions += m.n_positions;
        r->an_bitwise += (int)lumi_case_num(an, "bitwise", 0);
    }
    lumi_case_merge(&r->m, &m);
    if (r->m.first_bad >= 0) r->m.bad.metric = r->bad_metric;
    row_add_kls(r, c);
}

static const char *verdict(const Row *r, int n_prompts) {
    if (r->n_errors) return "ERROR";
    if (r->n_skipped) return "SKIP";
    if (r->n_cases < n_prompts) return "INCOMPLETE";
    return r->m.first_bad >= 0 || r->dist_bad ? "FAIL" : "PASS";
}

static void fmt_num(char *b, size_t n, double v) {
    if (v == 0) snprintf(b, n, "0");
    else snprintf(b, n, "%.3g", v);
}

static void print_row(FILE *f, const char *label, const Row *r, int n_prompts, int width) {
    char a[32], s[32], k[32];
    fmt_num(a, sizeof a, r->m.max_abs);
    fmt_num(s, sizeof s, r->m.nmse);
    fmt_num(k, sizeof k, r->m.kl);
    char km[32], kp[32], t1[32], bw[32], an[32] = "-";
    fmt_num(km, sizeof km, r->dist.kl_mean);
    fmt_num(kp, sizeof kp, r->dist.kl_p99);
    snprintf(t1, sizeof t1, "%.4g", r->dist.top1_rate);
    snprintf(bw, sizeof bw, "%d/%d", r->m.n_bitwise, r->m.n_positions);
    if (r->has_anchor) snprintf(an, sizeof an, "%d/%d", r->an_bitwise, r->an_positions);
    if (r->n_skipped && !r->m.n_positions) /* nothing ran: no figures */
        strcpy(a, "-"), strcpy(s, "-"), strcpy(k, "-"), strcpy(km, "-"), strcpy(kp, "-"), strcpy(t1, "-"), strcpy(bw, "-");
    fprintf(f, "%-*s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-6s %s", width, label, a, s, k, km, kp, t1, bw, an,
            r->tokens_same ? "same" : "differ", verdict(r, n_prompts));
    if (r->n_errors || r->n_skipped) fprintf(f, "  %s", r->error);
    else if (r->m.first_bad < 0 && r->dist_bad) {
        char why[128];
        lumi_violation_format(&r->dist_v, why, sizeof why);
        fprintf(f, "  over all %d positions: %s", r->dist.n, why);
    }
    else if (r->m.first_bad >= 0) {
        char why[128];
        lumi_violation_format(&r->m.bad, why, sizeof why);
        fprintf(f, "  prompt %s position %d%s: %s", r->bad_prompt, r->m.first_bad,
                !strcmp(r->bad_against, "anchor") ? " vs its backend's anchor" : "", why);
    }
    fputc('\n', f);
}

static void csv_row(FILE *f, const LumiEquivConfig *c, const LumiPathEntry *pe, const Row *r) {
    char tol[128], pre[48];
    lumi_tolerance_format(lumi_equiv_tolerance(c, pe), tol, sizeof tol);
    if (pe->spec.chunk) snprintf(pre, sizeof pre, "%s:%d", pe->spec.prefill, pe->spec.chunk);
    else snprintf(pre, sizeof pre, "%s", pe->spec.prefill);
    fprintf(f, "\"%s\",%s,%s,%s,%s,", pe->label, pe->spec.backend, pe->spec.cache, pre,
            pe->spec.weights[0] ? pe->spec.weights : "file");
    if (pe->has_canary) fprintf(f, "%d:%g", pe->canary.position, pe->canary.epsilon);
    fprintf(f, ",\"%s\",%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%d,%.9g,%d,", tol, r->n_cases, r->m.n_positions,
            r->m.max_abs, r->m.max_rel, r->m.nmse, r->m.kl, r->dist.kl_mean, r->dist.kl_p99, r->m.n_top1,
            r->dist.top1_rate, r->m.n_bitwise);
    if (r->has_anchor) fprintf(f, "%d", r->an_bitwise);
    fprintf(f, ",%d,%s,", r->tokens_same, verdict(r, c->common.n_prompts));
    if (r->m.first_bad >= 0)
        fprintf(f, "%s,%d,%s,%s,%.9g,%.9g", r->bad_prompt, r->m.first_bad, r->bad_against, r->m.bad.metric,
                r->m.bad.value, r->m.bad.limit);
    else if (r->dist_bad)
        fprintf(f, ",,reference,%s,%.9g,%.9g", r->dist_v.metric, r->dist_v.value, r->dist_v.limit);
    else fprintf(f, ",,,,,");
    fputc('\n', f);
}

/* Builds rows for every configured path from the log; returns how many fail. */
static int build_table(Ctx *x, const LumiCaseLog *log, LumiErr *e) {
    int n = x->cfg.n_paths, fails = 0, width = 40;
    Row *rows = lumi_xcalloc((size_t)n, sizeof *rows);
    double ref_s = 0;
    for (int i = 0; i < log->n; i++)
        if (!strcmp(lumi_case_str(log->lines[i].root, "role", ""), "reference"))
            ref_s += lumi_case_num(log->lines[i].root, "seconds", 0);
    for (int k = 0; k < n; k++) {
        lumi_case_init(&rows[k].m);
        rows[k].tokens_same = 1;
        int l = (int)strlen(x->cfg.paths[k].label);
        if (l > width) width = l;
        for (int p = 0; p < x->cfg.common.n_prompts; p++) {
            const LumiYamlNode *c = log_find(log, x->cfg.common.prompts[p].name, x->cfg.paths[k].label, "path", 1);
            if (c) row_add(&rows[k], c);
        }
        /* the distribution over all positions of the path */
        lumi_kl_stats(rows[k].kls, rows[k].n_kls, rows[k].m.n_top1, &rows[k].dist);
        if (rows[k].dist.n > 0 && rows[k].n_errors == 0)
            rows[k].dist_bad =
                lumi_tolerance_check_dist(lumi_equiv_tolerance(&x->cfg, &x->cfg.paths[k]), &rows[k].dist,
                                          &rows[k].dist_v) != 0;
        free(rows[k].kls);
        rows[k].kls = NULL;
    }
    LumiStrBuf txt, csv;
    lumi_sb_open(&txt);
    lumi_sb_open(&csv);
    fprintf(txt.f, "%s: %d prompts, reference %s\n", x->cfg.common.name, x->cfg.common.n_prompts,
            x->cfg.reference.label);
    fprintf(txt.f, "%-*s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-6s %s\n", width, "path", "max-abs", "NMSE", "KL-max",
            "KL-mean", "KL-p99", "top-1", "bitwise", "same-be", "tokens", "verdict");
    fprintf(csv.f, "path,backend,cache,prefill,weights,canary,tolerance,prompts,positions,max_abs,max_rel,nmse,kl,"
                   "kl_mean,kl_p99,top1_agree,top1_rate,"
                   "bitwise_equal,anchor_bitwise_equal,tokens_same,verdict,violation_prompt,violation_position,"
                   "violation_against,violation_metric,violation_value,violation_limit\n");
    for (int k = 0; k < n; k++) {
        print_row(txt.f, x->cfg.paths[k].label, &rows[k], x->cfg.common.n_prompts, width);
        csv_row(csv.f, &x->cfg, &x->cfg.paths[k], &rows[k]);
        if (strcmp(verdict(&rows[k], x->cfg.common.n_prompts), "PASS") != 0 && !rows[k].n_skipped) fails++;
    }
    lumi_sb_close(&txt);
    lumi_sb_close(&csv);
    LumiStrBuf tj;
    lumi_sb_open(&tj);
    fprintf(tj.f, "{\"reference_s\":");
    lumi_json_num(tj.f, ref_s);
    fprintf(tj.f, ",\"paths_s\":{");
    for (int k = 0; k < n; k++) {
        if (k) fputc(',', tj.f);
        lumi_json_cstr(tj.f, x->cfg.paths[k].label);
        fputc(':', tj.f);
        lumi_json_num(tj.f, rows[k].seconds);
    }
    fprintf(tj.f, "}}");
    lumi_sb_close(&tj);
    free(x->timings);
    x->timings = tj.buf;
    fwrite(txt.buf, 1, txt.len, stdout);
    fflush(stdout);
    for (int k = 0; k < n; k++)
        if (rows[k].m.first_bad < 0 && rows[k].dist_bad && !rows[k].n_errors) {
            char why[128];
            lumi_violation_format(&rows[k].dist_v, why, sizeof why);
            fprintf(stderr, "lumi: FAIL %s: over all %d positions: %s\n", x->cfg.paths[k].label, rows[k].dist.n, why);
        } else if (rows[k].m.first_bad >= 0 && !rows[k].n_errors) {
            char why[128];
            lumi_violation_format(&rows[k].m.bad, why, sizeof why);
            int vs_anchor = !strcmp(rows[k].bad_against, "anchor");
            fprintf(stderr, "lumi: FAIL %s: prompt %s position %d%s%s: %s\n", x->cfg.paths[k].label,
                    rows[k].bad_prompt, rows[k].m.first_bad, vs_anchor ? " vs " : "",
                    vs_anchor ? x->cfg.paths[x->cfg.anchor[k]].label : "", why);
        }
    int rc = lumi_rundir_write(&x->run, "equivalence.txt", txt.buf, txt.len, e);
    if (rc == 0) rc = lumi_rundir_write(&x->run, "equivalence.csv", csv.buf, csv.len, e);
    free(txt.buf);
    free(csv.buf);
    free(rows);
    return rc != 0 ? -1 : fails;
}

static int write_run_json(Ctx *x, const char *status, double seconds, LumiErr *e) {
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    FILE *f = sb.f;
    fputc('{', f);
    lumi_run_json_common(f, &x->cfg.common, &x->in, x->run.run_id);
    fprintf(f, ",\"status\":\"%s\",\"reference\":", status);
    lumi_json_cstr(f, x->cfg.reference.label);
    fprintf(f, ",\"paths\":[");
    for (int k = 0; k < x->cfg.n_paths; k++) {
        if (k) fputc(',', f);
        lumi_json_cstr(f, x->cfg.paths[k].label);
    }
    char s[128], c[128];
    lumi_tolerance_format(&x->cfg.same_backend, s, sizeof s);
    lumi_tolerance_format(&x->cfg.cross_backend, c, sizeof c);
    fprintf(f, "],\"tolerance\":{\"same_backend\":");
    lumi_json_cstr(f, s);
    fprintf(f, ",\"cross_backend\":");
    lumi_json_cstr(f, c);
    fprintf(f, "},\"resumed\":%s,\"seconds\":", x->opts->resume_dir ? "true" : "false");
    lumi_json_num(f, seconds);
    fprintf(f, ",\"timings\":%s", x->timings ? x->timings : "null");
    lumi_run_json_scope(f, x->opts, lumi_shard_size(&x->shard));
    fprintf(f, "}\n");
    lumi_sb_close(&sb);
    int rc = lumi_rundir_write(&x->run, "run.json", sb.buf, sb.len, e);
    free(sb.buf);
    return rc;
}

/* The cases: prompt x path in run order. A shard also runs the reference of
 * every prompt it has a case of (not counted: it is shared work). */
static void list_cases(const LumiEquivConfig *c, const LumiExpInputs *in, LumiCaseList *out) {
    for (int p = 0; p < c->common.n_prompts; p++)
        for (int k = 0; k < c->n_paths; k++)
            lumi_cases_add(out, lumi_case_cost(in->n_ids[p] + in->n_gen[p], c->paths[k].spec.cache), "prompt=%s path=%s",
                           c->common.prompts[p].name, c->paths[k].label);
}

static int cases(const LumiYamlDoc *doc, LumiCaseList *out, LumiErr *e) {
    LumiEquivConfig c;
    LumiExpInputs in;
    if (lumi_config_equivalence(doc, &c, e) != 0) return -1;
    int rc = lumi_inputs_load(doc, &c.common, &in, e);
    if (rc == 0) {
        list_cases(&c, &in, out);
        lumi_inputs_free(&in);
    }
    lumi_config_equivalence_free(&c);
    return rc;
}

static int case_key(const LumiYamlNode *rec, char *buf, size_t n) {
    if (strcmp(lumi_case_str(rec, "role", ""), "path") != 0) return 0;
    snprintf(buf, n, "prompt=%s path=%s", lumi_case_str(rec, "prompt", "?"), lumi_case_str(rec, "path", "?"));
    return 1;
}

static int run(const LumiYamlDoc *doc, const LumiRunOpts *o) {
    Ctx *x = lumi_xcalloc(1, sizeof *x);
    x->doc = doc;
    x->opts = o;
    const char *stop = getenv("LUMI_STOP_AFTER_CASES");
    if (stop) x->stop_after = atoi(stop);
    LumiErr e;
    int rc = 2, ok = 0, have_cfg = 0, have_in = 0, have_run = 0;
    if (lumi_config_equivalence(doc, &x->cfg, &e) != 0) goto out;
    have_cfg = 1;
    if (lumi_inputs_load(doc, &x->cfg.common, &x->in, &e) != 0) goto out;
    have_in = 1;
    LumiCaseList cases = {0};
    list_cases(&x->cfg, &x->in, &cases);
    lumi_shard_plan(&x->shard, &cases, o->shard_index, o->shard_count);
    lumi_cases_free(&cases);
    if (lumi_rundir_open(o, x->cfg.common.output, x->cfg.common.name, "cases.jsonl", &x->run, &e) != 0 ||
        (o->resume_dir && lumi_caselog_read(x->run.dir, &x->done, &e) != 0))
        goto out;
    have_run = 1;
    fprintf(stderr, "lumi: %s: %d prompts x %d paths -> %s\n", x->cfg.common.name, x->cfg.common.n_prompts,
            x->cfg.n_paths, x->run.dir);
    if (write_run_json(x, "running", 0, &e) != 0) goto out;
    int hard = 0;
    for (int p = 0; p < x->cfg.common.n_prompts; p++)
        if (run_prompt(x, p, &e) != 0) {
            /* go on with the other prompts, tabulate what completed, and say the run failed */
            fprintf(stderr, "lumi: %s\n", e.msg);
            hard = 1;
        }
    LumiCaseLog all;
    if (lumi_caselog_read(x->run.dir, &all, &e) != 0) goto out;
    int fails = build_table(x, &all, &e);
    lumi_caselog_free(&all);
    if (fails < 0 || write_run_json(x, hard ? "failed" : "complete", lumi_now() - x->run.t0, &e) != 0) goto out;
    fprintf(stderr, "lumi: results in %s%s\n", x->run.dir, hard ? " (incomplete: lumi run --resume DIR)" : "");
    ok = 1;
    rc = hard || x->n_errors ? 2 : (o->check && fails > 0) ? 1 : 0;
    if (o->shard_count > 0) fprintf(stderr, "lumi: shard %d/%d: %d cases (lumi merge joins the shards)\n", o->shard_index,
                                    o->shard_count, lumi_shard_size(&x->shard));
    else if (fails > 0 && !hard) fprintf(stderr, "lumi: %d of %d paths %s\n", fails, x->cfg.n_paths, o->check ? "failed" : "differ");
out:
    if (!ok) fprintf(stderr, "lumi: %s\n", e.msg);
    if (have_run) {
        lumi_rundir_close(&x->run);
        lumi_caselog_free(&x->done);
    }
    if (have_in) lumi_inputs_free(&x->in);
    if (have_cfg) lumi_config_equivalence_free(&x->cfg);
    lumi_shard_free(&x->shard);
    free(x->timings);
    free(x);
    return rc;
}

const LumiExperimentKind lumi_kind_equivalence = {
    "equivalence", "teacher-force every path on the reference's tokens and compare logits per position", run,
    cases, case_key, "cases.jsonl"};
