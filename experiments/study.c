/* study.c: the `study` experiment kind (config: study.h). For every sampler,
 * prompt and seed it generates on one path, then scores the produced text
 * with a teacher-forced forward pass (logits of every position of prompt +
 * generated tokens), and writes, under <output>/<name>/<run id>/:
 *   samples.jsonl       one line per sample, written as each completes
 *   history.jsonl       (history: true) one line per step
 *   summary.csv         one row per sampler: mean, 95% CI low, high per metric
 *   entropy_per_step.csv  mean entropy of the sampled-from distribution
 *   *.gp + *.png        plots via gnuplot, when installed
 * Entropy and surprisal are of the distribution the token was drawn from,
 * i.e. after the chain's penalties, truncation and temperature (greedy: a
 * point mass, 0); model_entropy and perplexity are of the model's own
 * softmax (temperature 1, no truncation). All logs are natural. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../engine/json.h"
#include "../paths/session.h"
#include "../engine/tokenizer.h"
#include "inputs.h"
#include "plot.h"
#include "results.h"
#include "study.h"
#include "study_metrics.h"
#include "trace.h"

enum { M_LENGTH, M_EOS, M_D1, M_D2, M_D3, M_REP, M_LONGEST, M_ENT, M_SURP, M_MENT, M_PPL, N_MET };
static const char *const MET[N_MET] = {"length",  "eos_rate",       "distinct_1", "distinct_2",
                                       "distinct_3", "repeat_rate_3", "longest_repeat", "entropy",
                                       "surprisal", "model_entropy", "perplexity"};

/* Everything one run holds; allocated once before the first sample. */
typedef struct {
    const LumiStudyCfg *c;
    const LumiYamlDoc *doc;
    LumiExpInputs in;   /* model, tokenizer, prompt ids (inputs.h) */
    LumiSession sess;
    LumiSampler *smp;   /* [n_samplers] */
    int *seq;           /* [seq_len] prompt + generated */
    double *ent, *surp, *ment, *gen_lp; /* [steps] per-step values of one sample */
    float *tf;          /* [seq_len, vocab] teacher-forced logits */
    double *metrics;    /* [n_samplers][n_prompts * n_seeds][N_MET] */
    double *step_ent;   /* [n_samplers][steps] sums, and counts */
    int *step_cnt;
    char *text;
    size_t text_cap;
    char dir[4096];
    FILE *samples, *history;
    int done, total;
    double t0;
    int have_inputs, have_sess;
    const LumiRunOpts *o;
    LumiRunDir run;     /* the run folder; run.cases is samples.jsonl */
    LumiShardPlan shard;
    char *had;          /* [n_samplers * n_prompts * n_seeds] in samples.jsonl before this process (resume) */
} Study;

static void progress(Study *st) {
    if (!isatty(2)) return;
    double el = lumi_now() - st->t0, eta = st->done ? el * (st->total - st->done) / st->done : 0;
    int w = 30, fill = st->total ? w * st->done / st->total : w;
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '-';
    bar[w] = 0;
    fprintf(stderr, "\rstudy [%s] %d/%d samples, ETA %dm%02ds ", bar, st->done, st->total, (int)eta / 60,
            (int)eta % 60);
    if (st->done == st->total) fputc('\n', stderr);
    fflush(stderr);
}

static FILE *open_out(Study *st, const char *name, LumiErr *e) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", st->dir, name);
    FILE *f = fopen(p, "a"); /* a resumed run appends */
    if (!f) lumi_err(e, "%s: cannot write: %s", p, strerror(errno));
    return f;
}

static int setup(Study *st, LumiErr *e) {
    const LumiStudyCfg *c = st->c;
    if (lumi_inputs_load(st->doc, &c->common, &st->in, e)) return -1;
    st->have_inputs = 1;
    int V = st->in.model.cfg.vocab_size, T = st->in.model.cfg.seq_len;
    st->smp = lumi_xcalloc((size_t)c->n_samplers, sizeof *st->smp);
    for (int i = 0; i < c->n_samplers; i++) {
        LumiErr se;
        if (lumi_sampler_init(&st->smp[i], &c->samplers[i].cfg, V, &se))
            return lumi_err(e, "sampler '%s': %s", c->samplers[i].name, se.msg);
    }
    for (int i = 0; i < c->n_prompts; i++)
        if (st->in.n_ids[i] >= T)
            return lumi_err(e, "prompt %s is %d tokens: no room to generate in a context of %d",
                            c->common.prompts[i].name, st->in.n_ids[i], T);
    if (lumi_session_open(&st->sess, &st->in.model, &c->path, e)) return -1;
    st->have_sess = 1;
    st->seq = lumi_xmalloc((size_t)T * sizeof *st->seq);
    st->ent = lumi_xmalloc((size_t)c->steps * sizeof(double));
    st->surp = lumi_xmalloc((size_t)c->steps * sizeof(double));
    st->ment = lumi_xmalloc((size_t)c->steps * sizeof(double));
    st->gen_lp = lumi_xmalloc((size_t)c->steps * sizeof(double));
    st->tf = lumi_xmalloc((size_t)T * (size_t)V * sizeof(float));
    st->total = c->n_samplers * c->n_prompts * c->n_seeds;
    st->metrics = lumi_xcalloc((size_t)st->total * N_MET, sizeof(double));
    st->step_ent = lumi_xcalloc((size_t)c->n_samplers * (size_t)c->steps, sizeof(double));
    st->step_cnt = lumi_xcalloc((size_t)c->n_samplers * (size_t)c->steps, sizeof(int));
    st->text_cap = 1024;
    st->text = lumi_xmalloc(st->text_cap);
    if (lumi_rundir_open(st->o, c->output, c->name, "samples.jsonl", &st->run, e)) return -1;
    snprintf(st->dir, sizeof st->dir, "%s", st->run.dir);
    st->samples = st->run.cases;
    if (c->history && !(st->history = open_out(st, "history.jsonl", e))) return -1;
    return 0;
}

static size_t decode_text(Study *st, const int *ids, int n, int prev) {
    size_t len = 0;
    if (!st->in.have_tok) return 0; /* ids-only prompts: no text */
    for (int i = 0; i < n; i++) {
        int l;
        const char *p = lumi_decode_piece(&st->in.tok, prev, ids[i], &l);
        if (len + (size_t)l + 1 > st->text_cap) st->text = lumi_xrealloc(st->text, st->text_cap = 2 * (len + (size_t)l + 1));
        memcpy(st->text + len, p, (size_t)l);
        len += (size_t)l;
        prev = ids[i];
    }
    return len;
}

static double mean_of(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

/* Per-step values of one sample, while it is generated (gen_loop.h callback):
 * s->last is the distribution the token was drawn from. */
typedef struct {
    Study *st;
    int si, pi;
    uint64_t seed;
} StepCtx;

static int on_step(void *ctx, int ng, int next, const LumiSession *s, const LumiSampler *smp) {
    StepCtx *x = ctx;
    Study *st = x->st;
    const LumiStudyCfg *c = st->c;
    LumiDistStats ds;
    lumi_dist_stats(s->last, st->in.model.cfg.vocab_size, next, &ds);
    st->ent[ng] = smp->info.entropy;
    st->surp[ng] = -log(smp->info.p);
    st->ment[ng] = ds.entropy;
    st->gen_lp[ng] = log(ds.chosen_p);
    st->step_ent[x->si * c->steps + ng] += smp->info.entropy;
    st->step_cnt[x->si * c->steps + ng]++;
    if (st->history) {
        fprintf(st->history, "{\"sampler\":");
        lumi_json_cstr(st->history, c->samplers[x->si].name);
        fprintf(st->history, ",\"prompt\":%d,\"seed\":%llu,\"step\":%d,\"top1_id\":%d,\"top1_p\":", x->pi,
                (unsigned long long)x->seed, ng, ds.top1);
        lumi_json_num(st->history, ds.top1_p);
        fprintf(st->history, ",\"chosen_id\":%d,\"chosen_p\":", next);
        lumi_json_num(st->history, ds.chosen_p);
        fprintf(st->history, ",\"sampled_p\":");
        lumi_json_num(st->history, smp->info.p);
        fprintf(st->history, ",\"entropy\":");
        lumi_json_num(st->history, smp->info.entropy);
        fprintf(st->history, ",\"kept\":%d}\n", smp->info.kept);
    }
    return 0;
}

/* One sample: generate, score, record. */
static int run_sample(Study *st, int si, int pi, int ki, LumiErr *e) {
    const LumiStudyCfg *c = st->c;
    LumiSampler *smp = &st->smp[si];
    LumiSession *s = &st->sess;
    int V = st->in.model.cfg.vocab_size;
    int np = st->in.n_ids[pi], *gen = st->seq + np, ng = 0;
    uint64_t seed = c->seeds[ki];
    memcpy(st->seq, st->in.ids[pi], (size_t)np * sizeof(int));
    lumi_session_reset(s);
    lumi_sampler_reset(smp, seed);
    LumiStopSet stops_buf;
    StepCtx sx = {st, si, pi, seed};
    LumiGenOpts go = {.stops = lumi_trace_stops(c->common.stop_at_eos, &st->in, &stops_buf), .max_new = c->steps,
                      .on_token = on_step, .ctx = &sx};
    LumiGenResult gr;
    if (lumi_generate(s, st->seq, np, smp, &go, gen, &gr, e)) return -1;
    ng = gr.n_tokens;
    const char *stop = lumi_gen_stop_name(gr.stop);
    /* the model's perplexity of its text: one teacher-forced pass, logits of every position */
    double nll = 0, gap = 0;
    if (ng > 0) {
        lumi_session_reset(s);
        if (lumi_session_feed(s, st->seq, np + ng, st->tf, e)) return -1;
        for (int k = 0; k < ng; k++) {
            double l = lumi_nll(st->tf + (size_t)(np - 1 + k) * (size_t)V, V, gen[k]);
            nll += l;
            if (fabs(-l - st->gen_lp[k]) > gap) gap = fabs(-l - st->gen_lp[k]);
        }
    }
    double *m = st->metrics + (size_t)st->done * N_MET;
    m[M_LENGTH] = ng;
    m[M_EOS] = !strcmp(stop, "eos");
    m[M_D1] = lumi_distinct_n(gen, ng, 1);
    m[M_D2] = lumi_distinct_n(gen, ng, 2);
    m[M_D3] = lumi_distinct_n(gen, ng, 3);
    m[M_REP] = lumi_repeat_rate(gen, ng, 3);
    m[M_LONGEST] = lumi_longest_repeat(gen, ng);
    m[M_ENT] = ng ? mean_of(st->ent, ng) : NAN;
    m[M_SURP] = ng ? mean_of(st->surp, ng) : NAN;
    m[M_MENT] = ng ? mean_of(st->ment, ng) : NAN;
    m[M_PPL] = ng ? exp(nll / ng) : NAN;
    FILE *f = st->samples;
    fprintf(f, "{\"sampler\":");
    lumi_json_cstr(f, c->samplers[si].name);
    fprintf(f, ",\"prompt\":%d,\"seed\":%llu,\"stop\":\"%s\",\"ids\":", pi, (unsigned long long)seed, stop);
    lumi_json_ints(f, gen, ng);
    fprintf(f, ",\"text\":");
    lumi_json_str(f, st->text, decode_text(st, gen, ng, st->seq[np - 1]));
    for (int i = 0; i < N_MET; i++) {
        if (i == M_EOS) continue;
        fprintf(f, ",\"%s\":", MET[i]);
        lumi_json_num(f, m[i]);
    }
    /* generation-time and teacher-forced log-probs agree on a consistent path */
    fprintf(f, ",\"score_gap\":");
    lumi_json_num(f, gap);
    fprintf(f, ",\"step_entropy\":["); /* the tables are rebuilt from this file (resume, merge) */
    for (int k = 0; k < ng; k++) {
        if (k) fputc(',', f);
        lumi_json_num(f, st->ent[k]);
    }
    fprintf(f, "]}\n");
    fflush(f); /* a completed sample survives a later crash */
    if (st->history) fflush(st->history);
    return 0;
}

static void csv_num(char **buf, size_t *len, size_t *cap, double v) {
    char t[48];
    int k = isfinite(v) ? snprintf(t, sizeof t, ",%.6g", v) : snprintf(t, sizeof t, ",NaN");
    if (*len + (size_t)k + 1 > *cap) *buf = lumi_xrealloc(*buf, *cap = 2 * (*len + (size_t)k + 1));
    memcpy(*buf + *len, t, (size_t)k + 1);
    *len += (size_t)k;
}

static void csv_str(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t k = strlen(s);
    if (*len + k + 1 > *cap) *buf = lumi_xrealloc(*buf, *cap = 2 * (*len + k + 1));
    memcpy(*buf + *len, s, k + 1);
    *len += k;
}

static int write_file(const Study *st, const char *name, const char *data, size_t len, LumiErr *e) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", st->dir, name);
    return lumi_write_atomic(p, data, len, e);
}

/* summary.csv, and the table on stdout (the README shows one). */
static int write_summary(Study *st, LumiErr *e) {
    const LumiStudyCfg *c = st->c;
    int per = c->n_prompts * c->n_seeds;
    size_t len = 0, cap = 4096;
    char *b = lumi_xmalloc(cap);
    b[0] = 0;
    csv_str(&b, &len, &cap, "sampler,temperature,samples");
    for (int i = 0; i < N_MET; i++) {
        char h[96];
        snprintf(h, sizeof h, ",%s_mean,%s_lo,%s_hi", MET[i], MET[i], MET[i]);
        csv_str(&b, &len, &cap, h);
    }
    csv_str(&b, &len, &cap, "\n");
    printf("| sampler | settings | distinct-2 | repeat-3 rate | entropy | surprisal | perplexity | eos rate |\n"
           "|---|---|---|---|---|---|---|---|\n");
    double *col = lumi_xmalloc((size_t)per * sizeof(double));
    for (int si = 0; si < c->n_samplers; si++) {
        csv_str(&b, &len, &cap, c->samplers[si].name);
        csv_num(&b, &len, &cap, c->samplers[si].cfg.temperature);
        csv_num(&b, &len, &cap, per);
        LumiStat stat[N_MET];
        for (int i = 0; i < N_MET; i++) {
            for (int k = 0; k < per; k++) col[k] = st->metrics[((size_t)si * per + k) * N_MET + i];
            lumi_stat(col, per, &stat[i]);
            csv_num(&b, &len, &cap, stat[i].mean);
            csv_num(&b, &len, &cap, stat[i].lo);
            csv_num(&b, &len, &cap, stat[i].hi);
        }
        csv_str(&b, &len, &cap, "\n");
        char desc[256];
        lumi_sampler_describe(&c->samplers[si].cfg, desc, sizeof desc);
        printf("| %s | %s |", c->samplers[si].name, desc);
        static const int SHOW[] = {M_D2, M_REP, M_ENT, M_SURP, M_PPL, M_EOS};
        for (int j = 0; j < 6; j++) {
            const LumiStat *x = &stat[SHOW[j]];
            if (isfinite(x->lo)) printf(" %.3g ± %.2g |", x->mean, x->hi - x->mean);
            else printf(" %.3g |", x->mean);
        }
        printf("\n");
    }
    free(col);
    int rc = write_file(st, "summary.csv", b, len, e);
    free(b);
    return rc;
}

static int write_steps(Study *st, LumiErr *e) {
    const LumiStudyCfg *c = st->c;
    size_t len = 0, cap = 4096;
    char *b = lumi_xmalloc(cap);
    b[0] = 0;
    csv_str(&b, &len, &cap, "step");
    for (int si = 0; si < c->n_samplers; si++) {
        csv_str(&b, &len, &cap, ",");
        csv_str(&b, &len, &cap, c->samplers[si].name);
    }
    csv_str(&b, &len, &cap, "\n");
    for (int t = 0; t < c->steps; t++) {
        char n[16];
        snprintf(n, sizeof n, "%d", t);
        csv_str(&b, &len, &cap, n);
        for (int si = 0; si < c->n_samplers; si++) {
            int k = st->step_cnt[si * c->steps + t];
            csv_num(&b, &len, &cap, k ? st->step_ent[si * c->steps + t] / k : NAN);
        }
        csv_str(&b, &len, &cap, "\n");
    }
    int rc = write_file(st, "entropy_per_step.csv", b, len, e);
    free(b);
    return rc;
}

/* Plots; a missing gnuplot is reported once and is not an error. */
static int plot_all(Study *st, LumiErr *e) {
    const char *d = st->dir;
    const char *names[256];
    int rows = st->c->n_samplers < 256 ? st->c->n_samplers : 256;
    for (int i = 0; i < rows; i++) names[i] = st->c->samplers[i].name;
#define COL(m, k) (4 + 3 * (m) + (k))
    if (lumi_plot_points(d, "distinct2_vs_temperature", "distinct-2 (mean, 95% CI) vs temperature", "temperature",
                         "distinct-2", "summary.csv", 2, names, rows, COL(M_D2, 0), COL(M_D2, 1), COL(M_D2, 2), e) ||
        lumi_plot_bars(d, "repetition_per_sampler", "repeated 3-gram rate per sampler (mean, 95% CI)",
                       "repeated 3-gram rate", "summary.csv", 1, COL(M_REP, 0), COL(M_REP, 1), COL(M_REP, 2), e) ||
        lumi_plot_bars(d, "perplexity_per_sampler", "model perplexity of the generated text (mean, 95% CI)",
                       "perplexity", "summary.csv", 1, COL(M_PPL, 0), COL(M_PPL, 1), COL(M_PPL, 2), e) ||
        lumi_plot_lines(d, "entropy_per_step", "entropy of the sampled-from distribution per step (mean)", "step",
                        "entropy (nats)", "entropy_per_step.csv", 1 + st->c->n_samplers, e))
        return -1;
#undef COL
    static const char *const PLOTS[] = {"distinct2_vs_temperature", "repetition_per_sampler", "perplexity_per_sampler",
                                        "entropy_per_step"};
    for (int i = 0; i < 4; i++) {
        int r = lumi_plot_render(d, PLOTS[i], e);
        if (r < 0) return -1;
        if (r == 1) {
            fprintf(stderr, "lumi: gnuplot not found (Debian: apt-get install gnuplot-nox): wrote %s/*.gp and the "
                            "CSV, no PNG plots\n", d);
            return 0;
        }
    }
    return 0;
}

static void teardown(Study *st) {
    if (st->samples) fclose(st->samples);
    if (st->history) fclose(st->history);
    if (st->smp)
        for (int i = 0; i < st->c->n_samplers; i++) lumi_sampler_free(&st->smp[i]);
    free(st->smp);
    if (st->have_sess) lumi_session_close(&st->sess);
    free(st->seq);
    free(st->ent);
    free(st->surp);
    free(st->ment);
    free(st->gen_lp);
    free(st->tf);
    free(st->metrics);
    free(st->step_ent);
    free(st->step_cnt);
    free(st->text);
    if (st->have_inputs) lumi_inputs_free(&st->in);
    lumi_shard_free(&st->shard);
    free(st->had);
}

/* ---- the log: cases, resume, merge ---- */

/* A sample's place in loop order (sampler, prompt, seed), or -1. */
static int sample_index(const LumiStudyCfg *c, const LumiYamlNode *rec) {
    const char *name = lumi_case_str(rec, "sampler", "");
    double p = lumi_case_num(rec, "prompt", -1), seed = lumi_case_num(rec, "seed", -1);
    int si = -1, ki = -1;
    for (int i = 0; i < c->n_samplers && si < 0; i++)
        if (!strcmp(c->samplers[i].name, name)) si = i;
    if (seed >= 0 && seed < c->n_seeds && (double)c->seeds[(int)seed] == seed) ki = (int)seed; /* seeds: N */
    for (int i = 0; i < c->n_seeds && ki < 0; i++)
        if ((double)c->seeds[i] == seed) ki = i;
    if (si < 0 || ki < 0 || p < 0 || p >= c->n_prompts || p != (int)p) return -1;
    return (si * c->n_prompts + (int)p) * c->n_seeds + ki;
}

/* Numbers as written by lumi_json_num: null (not finite) reads as NaN. */
static double scalar_num(const LumiYamlNode *n) {
    double v;
    if (!n || n->type != LUMI_Y_SCALAR || lumi_parse_float(n->scalar, &v) != 0) return NAN;
    return v;
}

static double rec_num(const LumiYamlNode *rec, const char *key) { return scalar_num(lumi_yaml_get(rec, key)); }

/* The tables come from samples.jsonl, not from memory, so that a fresh
 * run, a resumed one and a merge of shards add the same numbers in the
 * same (loop) order and write the same bytes. */
static int tabulate_log(Study *st, LumiErr *e) {
    const LumiStudyCfg *c = st->c;
    int total = c->n_samplers * c->n_prompts * c->n_seeds;
    LumiCaseLog log;
    if (lumi_jsonl_read(st->dir, "samples.jsonl", &log, e)) return -1;
    const LumiYamlNode **rec = lumi_xcalloc((size_t)total, sizeof *rec);
    for (int r = 0; r < log.n; r++) {
        int i = sample_index(c, log.lines[r].root);
        if (i >= 0) rec[i] = log.lines[r].root;
    }
    memset(st->step_ent, 0, sizeof(double) * (size_t)c->n_samplers * (size_t)c->steps);
    memset(st->step_cnt, 0, sizeof(int) * (size_t)c->n_samplers * (size_t)c->steps);
    for (int i = 0; i < total; i++) {
        double *m = st->metrics + (size_t)i * N_MET;
        for (int k = 0; k < N_MET; k++) m[k] = NAN;
        if (!rec[i]) continue;
        for (int k = 0; k < N_MET; k++)
            if (k != M_EOS) m[k] = rec_num(rec[i], MET[k]);
        m[M_EOS] = !strcmp(lumi_case_str(rec[i], "stop", ""), "eos");
        const LumiYamlNode *se = lumi_yaml_get(rec[i], "step_entropy");
        int si = i / (c->n_prompts * c->n_seeds);
        for (int t = 0; se && se->type == LUMI_Y_SEQ && t < se->n && t < c->steps; t++) {
            st->step_ent[si * c->steps + t] += scalar_num(se->items[t]);
            st->step_cnt[si * c->steps + t]++;
        }
    }
    free(rec);
    lumi_caselog_free(&log);
    return 0;
}

static int write_run_json(Study *st, const char *status, LumiErr *e) {
    const LumiStudyCfg *c = st->c;
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    FILE *f = sb.f;
    char path[128];
    lumi_path_format(&c->path, path, sizeof path);
    fputc('{', f);
    lumi_run_json_common(f, &c->common, &st->in, st->run.run_id);
    fprintf(f, ",\"status\":\"%s\",\"path\":", status);
    lumi_json_cstr(f, path);
    fprintf(f, ",\"samplers\":[");
    for (int i = 0; i < c->n_samplers; i++) {
        if (i) fputc(',', f);
        lumi_json_cstr(f, c->samplers[i].name);
    }
    fprintf(f, "],\"n_seeds\":%d,\"resumed\":%s,\"seconds\":", c->n_seeds, st->o->resume_dir ? "true" : "false");
    lumi_json_num(f, lumi_now() - st->run.t0);
    lumi_run_json_scope(f, st->o, lumi_shard_size(&st->shard));
    fprintf(f, "}\n");
    lumi_sb_close(&sb);
    int rc = lumi_rundir_write(&st->run, "run.json", sb.buf, sb.len, e);
    free(sb.buf);
    return rc;
}

/* The cases: sampler x prompt x seed in loop order; a sample costs its
 * generation and its teacher-forced scoring pass. */
static void list_cases(const LumiStudyCfg *c, const LumiExpInputs *in, LumiCaseList *out) {
    for (int si = 0; si < c->n_samplers; si++)
        for (int pi = 0; pi < c->n_prompts; pi++)
            for (int ki = 0; ki < c->n_seeds; ki++)
                lumi_cases_add(out, 2 * lumi_case_cost(in->n_ids[pi] + c->steps, c->path.cache),
                               "sampler=%s prompt=%d seed=%llu", c->samplers[si].name, pi,
                               (unsigned long long)c->seeds[ki]);
}

static int cases(const LumiYamlDoc *doc, LumiCaseList *out, LumiErr *e) {
    LumiStudyCfg c;
    LumiExpInputs in;
    int rc = -1;
    if (lumi_study_cfg_read(doc, &c, e) == 0 && lumi_inputs_load(doc, &c.common, &in, e) == 0) {
        list_cases(&c, &in, out);
        lumi_inputs_free(&in);
        rc = 0;
    }
    lumi_study_cfg_free(&c);
    return rc;
}

static int case_key(const LumiYamlNode *rec, char *buf, size_t n) {
    snprintf(buf, n, "sampler=%s prompt=%s seed=%s", lumi_case_str(rec, "sampler", "?"),
             lumi_case_str(rec, "prompt", "?"), lumi_case_str(rec, "seed", "?"));
    return 1;
}

/* Which samples this process runs: this shard's, less those a resumed run
 * already has. Returns how many. */
static int plan_samples(Study *st, LumiErr *e) {
    const LumiStudyCfg *c = st->c;
    int total = c->n_samplers * c->n_prompts * c->n_seeds, todo = 0;
    LumiCaseList cl = {0};
    list_cases(c, &st->in, &cl);
    lumi_shard_plan(&st->shard, &cl, st->o->shard_index, st->o->shard_count);
    lumi_cases_free(&cl);
    st->had = lumi_xcalloc((size_t)total, 1);
    if (st->o->resume_dir) {
        LumiCaseLog log;
        if (lumi_jsonl_read(st->dir, "samples.jsonl", &log, e)) return -1;
        for (int r = 0; r < log.n; r++) {
            int i = sample_index(c, log.lines[r].root);
            if (i >= 0) st->had[i] = 1;
        }
        lumi_caselog_free(&log);
    }
    for (int i = 0; i < total; i++) todo += lumi_shard_take(&st->shard, i) && !st->had[i];
    return todo;
}

static int study_run(const LumiYamlDoc *doc, const LumiRunOpts *o) {
    LumiStudyCfg c;
    LumiErr e;
    if (lumi_study_cfg_read(doc, &c, &e)) {
        fprintf(stderr, "lumi: %s\n", e.msg);
        lumi_study_cfg_free(&c);
        return 2;
    }
    Study st;
    memset(&st, 0, sizeof st);
    st.c = &c;
    st.doc = doc;
    st.o = o;
    int rc = 2;
    if (setup(&st, &e) || (st.total = plan_samples(&st, &e)) < 0 || write_run_json(&st, "running", &e)) {
        fprintf(stderr, "lumi: %s: %s\n", doc->path, e.msg);
        goto out;
    }
    char path[128];
    lumi_path_format(&c.path, path, sizeof path);
    fprintf(stderr, "study %s: %d samplers x %d prompts x %d seeds on %s -> %s\n", c.name, c.n_samplers,
            c.n_prompts, c.n_seeds, path, st.dir);
    st.t0 = lumi_now();
    progress(&st);
    for (int si = 0; si < c.n_samplers; si++)
        for (int pi = 0; pi < c.n_prompts; pi++)
            for (int ki = 0; ki < c.n_seeds; ki++) {
                int idx = (si * c.n_prompts + pi) * c.n_seeds + ki;
                if (!lumi_shard_take(&st.shard, idx) || st.had[idx]) continue;
                if (run_sample(&st, si, pi, ki, &e)) {
                    fprintf(stderr, "\nlumi: %s: %s\n", doc->path, e.msg);
                    goto out;
                }
                st.done++;
                progress(&st);
            }
    if (o->shard_count > 0) { /* a shard's samples are a part: lumi merge writes the tables */
        if (write_run_json(&st, "complete", &e)) {
            fprintf(stderr, "lumi: %s\n", e.msg);
            goto out;
        }
        printf("results: %s (shard %d/%d: lumi merge writes the tables)\n", st.dir, o->shard_index, o->shard_count);
        rc = 0;
        goto out;
    }
    if (tabulate_log(&st, &e) || write_summary(&st, &e) || write_steps(&st, &e) || plot_all(&st, &e) ||
        write_run_json(&st, "complete", &e)) {
        fprintf(stderr, "lumi: %s\n", e.msg);
        goto out;
    }
    printf("results: %s\n", st.dir);
    rc = 0;
out:
    teardown(&st);
    lumi_study_cfg_free(&c);
    return rc;
}

const LumiExperimentKind lumi_kind_study = {
    "study", "prompts x samplers x seeds on one path: text metrics, perplexity, plots", study_run,
    cases, case_key, "samples.jsonl"};
