/* bench.c: see bench.h. Each model x path is measured in a forked child, so
 * its peak RSS is its own and a crash in one path cannot lose the others;
 * the child sends its figures back through a pipe. */
#include "bench.h"

#include "../engine/weights.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../engine/json.h"
#include "../paths/session.h"
#include "../paths/backend/cpu_kernels.h"
#include "../paths/backend/cpu_threads.h"
#include "gen_loop.h"

#define MAX_REPS 64
/* The paired decode's bandwidth probe: 4x the 32 MiB L3 of the machine this
 * was written on, ~2-4 ms a pass. */
#define PROBE_BYTES ((size_t)128 << 20)

typedef struct {
    int ok;
    char err[1024];
    int reps;
    double pp[MAX_REPS], tg[MAX_REPS]; /* tok/s per repetition */
    double rss_mb;
    double weight_bytes;   /* read per decoded token, in the path's weights= dtype */
    double weights_s;      /* building the weights= table (conversion, realignment) */
    double weights_copied; /* bytes of it copied or converted at load (0: all in place) */
    double prefill_flops;  /* for the whole n_prompt prompt */
    char isa[16];
    int threads;
    double dev_gbs, dev_gflops; /* a device backend's own figures (peak()); 0: none */
    double huge_mb;             /* of this process's memory, on 2 MiB pages (file or anonymous) */
    LumiPaired paired;
} Result;

typedef struct {
    double med, lo, hi;
} Stat;

void lumi_bench_plan_default(LumiBenchPlan *p) {
    memset(p, 0, sizeof *p);
    p->n_prompt = 512;
    p->n_gen = 128;
    p->reps = 3;
    p->threads = -1;
    snprintf(p->out_root, sizeof p->out_root, "results/bench");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static Stat stat_of(const double *v, int n) {
    double s[MAX_REPS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    Stat st = {n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]};
    return st;
}

/* FLOPs of an n-token prompt: 2 per weight per token in the layers, the
 * causal attention (q.k and p.v over pos+1 keys), and the classifier for
 * the last position only (that is all a prefill computes). */
static double prefill_flops(const LumiConfig *c, int n) {
    double d = c->dim, h = c->hidden_dim, kv = c->kv_dim;
    double layer = 2 * (2 * d * d + 2 * d * kv + 3 * d * h);
    double att = 0;
    for (int p = 0; p < n; p++) att += 4.0 * d * (p + 1);
    return c->n_layers * (n * layer + att) + 2.0 * d * c->vocab_size;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct {
    LumiBwProbe *bw;
    double t_leave; /* when the last sample ended, i.e. the next token's feed began */
    double *gbs;    /* [max_new]: the sample taken before token i was fed */
    double *sec;    /* [max_new]: feeding token i and drawing token i+1 */
    int timed;
} PairRun;

/* Between tokens: the time since the last sample is one token's feed and
 * draw, then a new sample (best of two passes: the first also absorbs the
 * path's workers spinning down). */
static int pair_token(void *ctx, int step, int token, const LumiSession *s, const LumiSampler *smp) {
    (void)token, (void)s, (void)smp;
    PairRun *pr = ctx;
    double t = lumi_now();
    if (step > 0) pr->sec[step - 1] = t - pr->t_leave, pr->timed = step;
    pr->gbs[step] = lumi_bw_probe(pr->bw, 2);
    pr->t_leave = lumi_now();
    return 0;
}

/* See bench.h. The better neighbouring sample is the conservative choice:
 * a token that straddles a change of level is judged against the higher. */
void lumi_bench_paired(const double *gbs, const double *sec, int n, double bytes, LumiPaired *out) {
    double *bw = lumi_xmalloc((size_t)n * sizeof *bw), *fr = lumi_xmalloc((size_t)n * sizeof *fr);
    double *sb = lumi_xmalloc((size_t)n * sizeof *sb), *lv = lumi_xmalloc((size_t)n * sizeof *lv);
    for (int i = 0; i < n; i++) {
        bw[i] = gbs[i] > gbs[i + 1] ? gbs[i] : gbs[i + 1];
        fr[i] = bytes / sec[i] / (bw[i] * 1e9);
        sb[i] = bw[i];
    }
    memset(out, 0, sizeof *out);
    out->tokens = n;
    memcpy(lv, fr, (size_t)n * sizeof *lv);
    out->frac = median(lv, n);
    qsort(sb, (size_t)n, sizeof *sb, cmp_double);
    double lo = sb[n / 10], hi = sb[n - 1 - n / 10];
    double cut = hi >= 1.25 * lo ? sqrt(lo * hi) : 0;
    for (int l = 0; l < 2; l++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if ((bw[i] >= cut) == (l == 0)) lv[k] = fr[i], sb[k++] = bw[i];
        out->n[l] = k;
        if (k) out->frac_of[l] = median(lv, k), out->gbs[l] = median(sb, k);
    }
    free(bw), free(fr), free(sb), free(lv);
}

/* MB of this process mapped with 2 MiB page-table entries: file pages
 * (FilePmdMapped) and transparent huge pages (AnonHugePages); the weights
 * are nearly all of it. 0 where /proc/self/smaps_rollup is missing. */
static double huge_page_mb(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "FilePmdMapped: %lf kB", &v) == 1 || sscanf(line, "AnonHugePages: %lf kB", &v) == 1) kb += v;
    fclose(f);
    return kb / 1024;
}

/* The decode once more through the one generation loop, with a bandwidth
 * sample between every two tokens (see LumiPaired). */
static int paired_decode(LumiSession *s, LumiSampler *smp, const LumiGenOpts *go, int *gen, int threads, double bytes,
                         LumiPaired *out, LumiErr *e) {
    PairRun pr = {.bw = lumi_bw_probe_new(threads > 0 ? threads : 0, PROBE_BYTES)};
    pr.gbs = lumi_xcalloc((size_t)go->max_new + 1, sizeof *pr.gbs);
    pr.sec = lumi_xcalloc((size_t)go->max_new + 1, sizeof *pr.sec);
    LumiGenOpts o = *go;
    o.on_token = pair_token, o.ctx = &pr;
    LumiGenResult gr;
    int bos = lumi_default_bos(NULL), rc = lumi_generate(s, &bos, 1, smp, &o, gen, &gr, e);
    if (rc == 0 && pr.timed > 0) lumi_bench_paired(pr.gbs, pr.sec, pr.timed, bytes, out);
    free(pr.gbs), free(pr.sec);
    lumi_bw_probe_free(pr.bw);
    return rc;
}

static void measure(const LumiBenchPlan *p, const LumiBenchModel *bm, const LumiPathSpec *spec, Result *r) {
    LumiModel m;
    LumiErr e;
    LumiSession s;
    memset(r, 0, sizeof *r);
    if (lumi_model_load(bm->file, &m, &e) != 0) {
        snprintf(r->err, sizeof r->err, "%s", e.msg);
        return;
    }
    const LumiConfig *c = &m.cfg;
    if (p->n_prompt > c->seq_len || p->n_gen + 1 > c->seq_len) {
        snprintf(r->err, sizeof r->err, "%.400s: pp %d / tg %d do not fit its context length %d", bm->file, p->n_prompt,
                 p->n_gen, c->seq_len);
        lumi_model_free(&m);
        return;
    }
    if (lumi_session_open(&s, &m, spec, &e) != 0) {
        snprintf(r->err, sizeof r->err, "%s", e.msg);
        lumi_model_free(&m);
        return;
    }
    int *ids = lumi_xmalloc((size_t)p->n_prompt * sizeof(int));
    int *gen = lumi_xmalloc((size_t)p->n_gen * sizeof(int));
    LumiSampler smp;
    int have_smp = 0;
    for (int i = 0; i < p->n_prompt; i++) ids[i] = i == 0 ? lumi_default_bos(NULL) : (int)((i * 7919L + 13) % c->vocab_size);
    /* warm-up: faults the weights in and sizes every buffer */
    if (lumi_session_feed(&s, ids, p->n_prompt, NULL, &e) != 0) goto fail;
    for (int rep = 0; rep < p->reps; rep++) {
        lumi_session_reset(&s);
        double t0 = lumi_now();
        if (lumi_session_feed(&s, ids, p->n_prompt, NULL, &e) != 0) goto fail;
        r->pp[rep] = p->n_prompt / (lumi_now() - t0);
    }
    /* decode: greedy from BOS through the one generation loop, every token
     * fed (n_gen feeds timed), no stop tokens: a random model's EOS must not
     * shorten the run */
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    if (lumi_sampler_init(&smp, &sc, c->vocab_size, &e) != 0) goto fail;
    have_smp = 1;
    int bos = lumi_default_bos(NULL);
    LumiGenOpts go = {.max_new = p->n_gen, .feed_last = 1};
    for (int rep = 0; rep < p->reps; rep++) {
        lumi_session_reset(&s);
        lumi_sampler_reset(&smp, 0);
        LumiGenResult gr;
        if (lumi_generate(&s, &bos, 1, &smp, &go, gen, &gr, &e) != 0) goto fail;
        r->tg[rep] = gr.n_fed / gr.decode_s;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->rss_mb = ru.ru_maxrss / 1024.0;
    r->weight_bytes = (double)lumi_weights_bytes_per_token(s.be->weights(s.bectx), c);
    r->huge_mb = huge_page_mb();
    /* after the RSS reading: the probe's buffer is not the path's memory */
    if (!p->skip_machine && !s.be->peak && p->n_gen >= 2) {
        lumi_session_reset(&s);
        lumi_sampler_reset(&smp, 0);
        if (paired_decode(&s, &smp, &go, gen, spec->threads, r->weight_bytes, &r->paired, &e) != 0) goto fail;
    }
    LumiWeightsInfo wi;
    const LumiWeights *wt;
    int wd = spec->weights[0] ? lumi_weights_parse(spec->weights) : LUMI_WEIGHTS_FILE;
    if (lumi_weights_get(&m, wd, &wt, &wi, &e) == 0) r->weights_s = wi.seconds, r->weights_copied = (double)wi.copied_bytes;
    r->prefill_flops = prefill_flops(c, p->n_prompt);
    r->reps = p->reps;
    r->threads = spec->threads > 0 ? spec->threads : lumi_cpu_count();
    const LumiCpuKernels *k = lumi_cpu_select(0, NULL);
    snprintf(r->isa, sizeof r->isa, "%s", strcmp(spec->backend, "cpu") ? "-" : k ? k->name : "?");
    /* a device path is judged against its device, not the host */
    if (s.be->peak && s.be->peak(s.bectx, &r->dev_gbs, &r->dev_gflops, &e) != 0) goto fail;
    r->ok = 1;
    goto done;
fail:
    snprintf(r->err, sizeof r->err, "%s", e.msg);
done:
    if (have_smp) lumi_sampler_free(&smp);
    free(gen);
    free(ids);
    lumi_session_close(&s);
    lumi_model_free(&m);
}

/* Runs measure() in a child; a crash there becomes an error row. */
static void measure_isolated(const LumiBenchPlan *p, const LumiBenchModel *bm, const LumiPathSpec *spec, Result *r) {
    int fd[2];
    memset(r, 0, sizeof *r);
    fflush(NULL);
    if (pipe(fd) != 0) {
        snprintf(r->err, sizeof r->err, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->err, sizeof r->err, "fork: %s", strerror(errno));
        close(fd[0]), close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        Result mine;
        measure(p, bm, spec, &mine);
        size_t off = 0;
        while (off < sizeof mine) {
            ssize_t w = write(fd[1], (char *)&mine + off, sizeof mine - off);
            if (w <= 0) _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fd[1]);
    size_t off = 0;
    ssize_t got;
    while (off < sizeof *r && (got = read(fd[0], (char *)r + off, sizeof *r - off)) > 0) off += (size_t)got;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (off != sizeof *r) {
        memset(r, 0, sizeof *r);
        snprintf(r->err, sizeof r->err, "the measuring process died (status %d)", st);
    }
}

/* ---- output ---- */

typedef struct {
    const LumiBenchModel *model;
    char path[160];
    Result r;
    Stat pp, tg;
    double pp_frac, tg_frac; /* of FMA peak / of read bandwidth; 0 if unknown */
    double local_gbs, local_gflops; /* the machine around this path (see sample_machine) */
} Row;

static void run_id(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y%m%dT%H%M%SZ", &tm);
}

/* A decode's fraction of read bandwidth: per token against the samples
 * around it when the paired decode ran, else the repetitions' median
 * against the samples around the path. */
static double tg_fraction(const Row *w) { return w->r.paired.tokens ? w->r.paired.frac : w->tg_frac; }

static int write_csv(const char *dir, const LumiBenchPlan *p, const Row *rows, int n, LumiErr *e) {
    char path[1300];
    snprintf(path, sizeof path, "%.1200s/bench.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return lumi_err(e, "%s: %s", path, strerror(errno));
    fprintf(f, "model,path,test,tokens,reps,tps_median,tps_min,tps_max,fraction,fraction_of,peak_rss_mb,error\n");
    for (int i = 0; i < n; i++) {
        const Row *w = &rows[i];
        if (!w->r.ok) {
            fprintf(f, "%s,\"%s\",,,,,,,,,,\"%s\"\n", w->model->name, w->path, w->r.err);
            continue;
        }
        fprintf(f, "%s,\"%s\",pp,%d,%d,%.3f,%.3f,%.3f,%.4f,fma_peak,%.1f,\n", w->model->name, w->path, p->n_prompt,
                p->reps, w->pp.med, w->pp.lo, w->pp.hi, w->pp_frac, w->r.rss_mb);
        fprintf(f, "%s,\"%s\",tg,%d,%d,%.3f,%.3f,%.3f,%.4f,%s,%.1f,\n", w->model->name, w->path, p->n_gen,
                p->reps, w->tg.med, w->tg.lo, w->tg.hi, tg_fraction(w),
                w->r.paired.tokens ? "read_bandwidth_per_token" : "read_bandwidth", w->r.rss_mb);
    }
    if (fclose(f) != 0) return lumi_err(e, "%s: write failed", path);
    return 0;
}

/* One result as a JSON object (no newline): bench.json's rows, and the
 * lines of the kind's cases.jsonl that merges rebuild the tables from. */
static void json_row(FILE *f, const LumiBenchPlan *p, const LumiMachine *mc, const Row *w) {
    fprintf(f, "{\"model\": ");
    lumi_json_cstr(f, w->model->name);
    fprintf(f, ", \"file\": ");
    lumi_json_cstr(f, w->model->file);
    fprintf(f, ", \"path\": ");
    lumi_json_cstr(f, w->path);
    if (!w->r.ok) {
        fprintf(f, ", \"error\": ");
        lumi_json_cstr(f, w->r.err);
    } else {
        fprintf(f, ", \"isa\": \"%s\", \"peak_rss_mb\": %.1f, \"weight_bytes_per_token\": %.0f", w->r.isa,
                w->r.rss_mb, w->r.weight_bytes);
        fprintf(f, ", \"weights_load_s\": %.4f, \"weights_copied_bytes\": %.0f, \"huge_page_mb\": %.1f", w->r.weights_s,
                w->r.weights_copied, w->r.huge_mb);
        if (mc)
            fprintf(f, ", \"read_gbs_around\": %.3f, \"fma_gflops_around\": %.3f", w->local_gbs, w->local_gflops);
        if (w->r.dev_gbs > 0)
            fprintf(f, ", \"device_read_gbs\": %.3f, \"device_fma_gflops\": %.3f", w->r.dev_gbs, w->r.dev_gflops);
        fprintf(f, ", \"pp\": {\"tokens\": %d, \"median\": %.3f, \"min\": %.3f, \"max\": %.3f, \"flops\": %.0f, "
                   "\"fraction_of_fma_peak\": %.4f, \"reps\": [",
                p->n_prompt, w->pp.med, w->pp.lo, w->pp.hi, w->r.prefill_flops, w->pp_frac);
        for (int k = 0; k < w->r.reps; k++) fprintf(f, "%s%.3f", k ? ", " : "", w->r.pp[k]);
        fprintf(f, "]}, \"tg\": {\"tokens\": %d, \"median\": %.3f, \"min\": %.3f, \"max\": %.3f, "
                   "\"fraction_of_read_bandwidth\": %.4f, \"reps\": [",
                p->n_gen, w->tg.med, w->tg.lo, w->tg.hi, w->tg_frac);
        for (int k = 0; k < w->r.reps; k++) fprintf(f, "%s%.3f", k ? ", " : "", w->r.tg[k]);
        fprintf(f, "]");
        const LumiPaired *q = &w->r.paired;
        if (q->tokens) {
            fprintf(f, ", \"paired\": {\"tokens\": %d, \"fraction_of_read_bandwidth\": %.4f, \"levels\": [", q->tokens,
                    q->frac);
            for (int l = 0; l < 2; l++)
                if (q->n[l])
                    fprintf(f, "%s{\"read_gbs\": %.3f, \"tokens\": %d, \"fraction_of_read_bandwidth\": %.4f}",
                            l ? ", " : "", q->gbs[l], q->n[l], q->frac_of[l]);
            fprintf(f, "]}");
        }
        fprintf(f, "}");
    }
    fprintf(f, "}");
}

void lumi_bench_machine_json(FILE *f, const LumiMachine *mc) {
    if (!mc) {
        fprintf(f, "null");
        return;
    }
    fprintf(f,
            "{\"read_gbs\": %.3f, \"read_gbs_min\": %.3f, \"fma_gflops\": %.3f, "
            "\"fma_gflops_min\": %.3f, \"samples\": %d, \"threads\": %d, \"isa\": \"%s\", "
            "\"buffer_bytes\": %zu, \"loadavg_at_start\": %.2f}",
            mc->read_gbs, mc->read_gbs_min, mc->fma_gflops, mc->fma_gflops_min, mc->samples, mc->threads, mc->isa,
            mc->buffer_bytes, mc->loadavg);
}

static int write_json(const char *dir, const char *id, const LumiBenchPlan *p, const LumiMachine *mc, const Row *rows,
                      int n, LumiErr *e) {
    char path[1300];
    snprintf(path, sizeof path, "%.1200s/bench.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return lumi_err(e, "%s: %s", path, strerror(errno));
    fprintf(f, "{\n  \"run_id\": \"%s\",\n  \"n_prompt\": %d,\n  \"n_gen\": %d,\n  \"reps\": %d,\n", id, p->n_prompt,
            p->n_gen, p->reps);
    fprintf(f, "  \"machine\": ");
    lumi_bench_machine_json(f, mc);
    fprintf(f, ",\n");
    fprintf(f, "  \"results\": [\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "    ");
        json_row(f, p, mc, &rows[i]);
        fprintf(f, "%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) return lumi_err(e, "%s: write failed", path);
    return 0;
}

static int have_gnuplot(void) { return system("command -v gnuplot >/dev/null 2>&1") == 0; }

int lumi_bench_plot(const char *dir, const LumiBenchPlan *p, char *const *labels, const double *pp, const double *tg,
                    int n, LumiErr *e) {
    if (!have_gnuplot()) return 1;
    char path[1300];
    snprintf(path, sizeof path, "%.1200s/bench.dat", dir);
    FILE *f = fopen(path, "w");
    if (!f) return lumi_err(e, "%s: %s", path, strerror(errno));
    fprintf(f, "# label\tpp\ttg\n");
    for (int i = 0; i < n; i++) fprintf(f, "\"%s\"\t%.3f\t%.3f\n", labels[i], pp[i], tg[i]);
    fclose(f);
    snprintf(path, sizeof path, "%.1200s/bench.gp", dir);
    f = fopen(path, "w");
    if (!f) return lumi_err(e, "%s: %s", path, strerror(errno));
    fprintf(f,
            "# gnuplot bench.gp (run in this folder) redraws bench.png from bench.dat\n"
            "set terminal pngcairo size 1400,700 font ',9'\n"
            "set output 'bench.png'\n"
            "set title 'lumi bench: tokens/s per model and path (median of %d)'\n"
            "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
            "set logscale y\nset ylabel 'tokens/s'\nset grid ytics\nset key top right\n"
            "set xtics rotate by 30 right noenhanced font ',8'\nset bmargin 16\nset lmargin 24\n"
            "plot 'bench.dat' using 2:xtic(1) title 'pp%d', '' using 3 title 'tg%d'\n",
            p->reps, p->n_prompt, p->n_gen);
    fclose(f);
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot bench.gp", dir);
    if (system(cmd) != 0) return lumi_err(e, "%s: gnuplot failed", path);
    return 0;
}

/* The measured rows, as lumi_bench_plot draws them. */
static int write_plot(const char *dir, const LumiBenchPlan *p, const Row *rows, int n, LumiErr *e) {
    char **labels = lumi_xcalloc((size_t)(n + 1), sizeof *labels);
    double *pp = lumi_xcalloc((size_t)(n + 1), sizeof *pp), *tg = lumi_xcalloc((size_t)(n + 1), sizeof *tg);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!rows[i].r.ok) continue;
        size_t l = strlen(rows[i].model->name) + strlen(rows[i].path) + 2;
        labels[k] = lumi_xmalloc(l);
        snprintf(labels[k], l, "%s %s", rows[i].model->name, rows[i].path);
        pp[k] = rows[i].pp.med, tg[k++] = rows[i].tg.med;
    }
    int rc = lumi_bench_plot(dir, p, labels, pp, tg, k, e);
    for (int i = 0; i < k; i++) free(labels[i]);
    free(labels);
    free(pp);
    free(tg);
    return rc;
}

static void print_table(const LumiBenchPlan *p, const LumiMachine *mc, const Row *rows, int n) {
    if (mc)
        printf("machine: %d threads, %s; read bandwidth %.1f GB/s (worst %.1f), FMA peak %.1f GFLOP/s (worst %.1f) over\n"
               "%d samples before, between and after the paths ('of peak': against the better sample next to each\n"
               "path, in bench.json); load average at start %.2f\n\n",
               mc->threads, mc->isa, mc->read_gbs, mc->read_gbs_min, mc->fma_gflops, mc->fma_gflops_min, mc->samples,
               mc->loadavg);
    if (mc && mc->loadavg > 0.5)
        printf("warning: the load average was %.2f when the run started: other work shared the machine, so the\n"
               "figures are noisy; compare ratios within one run.\n\n",
               mc->loadavg);
    printf("| %-8s | %-44s | %-6s | %9s | %-19s | %8s | %8s | %9s |\n", "model", "path", "test", "t/s", "min-max",
           mc ? "of peak" : "", "RSS MB", "MB/token");
    printf("|----------|----------------------------------------------|--------|-----------|---------------------|---"
           "-------|----------|-----------|\n");
    for (int i = 0; i < n; i++) {
        const Row *w = &rows[i];
        if (!w->r.ok) {
            printf("| %-8s | %-44s | error: %s\n", w->model->name, w->path, w->r.err);
            continue;
        }
        char mm[64], fr[16] = "";
        snprintf(mm, sizeof mm, "%.2f-%.2f", w->pp.lo, w->pp.hi);
        if (mc) snprintf(fr, sizeof fr, "%.0f%% fma", 100 * w->pp_frac);
        printf("| %-8s | %-44s | pp%-4d | %9.2f | %-19s | %8s | %8.0f | %9s |\n", w->model->name, w->path,
               p->n_prompt, w->pp.med, mm, fr, w->r.rss_mb, "");
        snprintf(mm, sizeof mm, "%.2f-%.2f", w->tg.lo, w->tg.hi);
        if (mc) snprintf(fr, sizeof fr, "%.0f%% bw", 100 * tg_fraction(w));
        printf("| %-8s | %-44s | tg%-4d | %9.2f | %-19s | %8s | %8.0f | %9.1f |\n", w->model->name, w->path,
               p->n_gen, w->tg.med, mm, fr, w->r.rss_mb, w->r.weight_bytes / 1e6);
    }
    int said = 0;
    for (int i = 0; i < n; i++) {
        const LumiPaired *q = &rows[i].r.paired;
        if (!rows[i].r.ok || !q->tokens) continue;
        if (!said++)
            printf("decode against the read bandwidth sampled just before and after each token (median per token; "
                   "by level when the host showed two):\n");
        printf("  %s %s: %.0f%% over %d tokens", rows[i].model->name, rows[i].path, 100 * q->frac, q->tokens);
        for (int l = 0; l < 2; l++)
            if (q->n[l] && q->n[1]) printf("%s %.0f%% at %.1f GB/s (%d)", l ? "," : ";", 100 * q->frac_of[l], q->gbs[l], q->n[l]);
            else if (q->n[l]) printf(", all at %.1f GB/s", q->gbs[l]);
        printf("\n");
    }
    for (int i = 0; i < n; i++) {
        if (rows[i].r.ok && rows[i].r.dev_gbs > 0)
            printf("device of %s: read bandwidth %.1f GB/s, FMA peak %.1f GFLOP/s (its 'of peak' is against these)\n",
                   rows[i].path, rows[i].r.dev_gbs, rows[i].r.dev_gflops);
        if (rows[i].r.ok && !rows[i].r.dev_gbs)
            printf("%s %s: %.0f MB on 2 MiB pages (a token reads %.0f MB)\n", rows[i].model->name, rows[i].path,
                   rows[i].r.huge_mb, rows[i].r.weight_bytes / 1e6);
        if (rows[i].r.ok && rows[i].r.weights_copied > 0)
            printf("%s %s: weights= table built at load in %.2f s (%.0f MB converted or realigned)\n",
                   rows[i].model->name, rows[i].path, rows[i].r.weights_s, rows[i].r.weights_copied / 1e6);
    }
}

/* On a shared machine (a VM, other jobs) either figure can change by half
 * from one second to the next, so the machine is sampled before, between
 * and after the paths. Each path's fractions are taken against the better
 * of the samples just before and just after it (what the hardware gave at
 * that time); the run's best and worst samples are reported too. Each
 * sample allocates and frees its buffer, so no measured child inherits it
 * in its RSS. Returns the sample. */
static LumiMachine sample_machine(const LumiBenchPlan *p, LumiMachine *mc, int first) {
    LumiMachine s = {0};
    if (p->skip_machine) return s;
    if (first) fprintf(stderr, "measuring the machine (read bandwidth, FMA peak)...\n");
    lumi_bench_machine(&s, p->threads > 0 ? p->threads : 0);
    if (first) {
        *mc = s;
        return s;
    }
    if (s.read_gbs > mc->read_gbs) mc->read_gbs = s.read_gbs;
    if (s.read_gbs < mc->read_gbs_min) mc->read_gbs_min = s.read_gbs;
    if (s.fma_gflops > mc->fma_gflops) mc->fma_gflops = s.fma_gflops;
    if (s.fma_gflops < mc->fma_gflops_min) mc->fma_gflops_min = s.fma_gflops;
    mc->samples++;
    return s;
}

int lumi_bench_run(const LumiBenchPlan *p) { return lumi_bench_run_dir(p, NULL, 0); }

int lumi_bench_run_dir(const LumiBenchPlan *p, char *dir_out, size_t dir_n) {
    if (p->n_models == 0 || p->n_paths == 0) return fprintf(stderr, "lumi: bench: no models or no paths\n"), 2;
    if (p->reps < 1 || p->reps > MAX_REPS)
        return fprintf(stderr, "lumi: bench: reps %d outside 1..%d\n", p->reps, MAX_REPS), 2;
    /* Sizes that cannot fit a model are bad input: say so before measuring. */
    for (int mi = 0; mi < p->n_models; mi++) {
        LumiModel m;
        LumiErr e;
        if (lumi_model_load(p->models[mi].file, &m, &e) != 0) return fprintf(stderr, "lumi: bench: %s\n", e.msg), 2;
        int seq = m.cfg.seq_len;
        lumi_model_free(&m);
        if (p->n_prompt > seq || p->n_gen + 1 > seq)
            return fprintf(stderr, "lumi: bench: %s: pp %d and tg %d (+1 BOS) must fit its context length %d\n",
                           p->models[mi].file, p->n_prompt, p->n_gen, seq),
                   2;
    }
    LumiMachine mc;
    double load[1] = {-1};
    if (getloadavg(load, 1) < 1) load[0] = -1;
    LumiMachine prev = sample_machine(p, &mc, 1);
    int n = p->n_models * p->n_paths, failed = 0, measured = 0;
    Row *rows = lumi_xcalloc((size_t)n, sizeof *rows);
    for (int mi = 0; mi < p->n_models; mi++)
        for (int pi = 0; pi < p->n_paths; pi++) {
            if (p->take && !p->take[mi * p->n_paths + pi]) continue;
            Row *w = &rows[measured++];
            LumiPathSpec spec = p->paths[pi];
            if (p->threads >= 0) spec.threads = p->threads;
            w->model = &p->models[mi];
            lumi_path_format(&spec, w->path, sizeof w->path);
            fprintf(stderr, "%s %s ...\n", w->model->name, w->path);
            measure_isolated(p, w->model, &spec, &w->r);
            LumiMachine next = sample_machine(p, &mc, 0);
            w->local_gbs = prev.read_gbs > next.read_gbs ? prev.read_gbs : next.read_gbs;
            w->local_gflops = prev.fma_gflops > next.fma_gflops ? prev.fma_gflops : next.fma_gflops;
            prev = next;
            if (!w->r.ok) {
                failed++;
                fprintf(stderr, "lumi: bench: %s %s: %s\n", w->model->name, w->path, w->r.err);
                continue;
            }
            w->pp = stat_of(w->r.pp, w->r.reps);
            w->tg = stat_of(w->r.tg, w->r.reps);
        }
    n = measured;
    if (!p->skip_machine)
        for (int i = 0; i < n; i++) {
            Row *w = &rows[i];
            if (!w->r.ok) continue;
            double gbs = w->r.dev_gbs > 0 ? w->r.dev_gbs : w->local_gbs;
            double gflops = w->r.dev_gflops > 0 ? w->r.dev_gflops : w->local_gflops;
            w->tg_frac = w->r.weight_bytes * w->tg.med / (gbs * 1e9);
            w->pp_frac = w->r.prefill_flops / p->n_prompt * w->pp.med / (gflops * 1e9);
        }
    mc.loadavg = load[0];
    const LumiMachine *mcp = p->skip_machine ? NULL : &mc;
    print_table(p, mcp, rows, n);
    char id[64], dir[1200];
    run_id(id, sizeof id);
    snprintf(dir, sizeof dir, "%s/%s", p->out_root, id);
    for (int k = 2; access(dir, F_OK) == 0; k++) snprintf(dir, sizeof dir, "%s/%s-%d", p->out_root, id, k);
    if (p->run_dir) {
        const char *slash = strrchr(p->run_dir, '/');
        snprintf(dir, sizeof dir, "%s", p->run_dir);
        snprintf(id, sizeof id, "%s", slash ? slash + 1 : p->run_dir);
    }
    for (int i = 0; p->log && i < n; i++) {
        json_row(p->log, p, mcp, &rows[i]);
        fputc('\n', p->log);
    }
    if (p->log && fflush(p->log) != 0) fprintf(stderr, "lumi: bench: writing the case log failed\n");
    LumiErr e;
    int rc = failed ? 1 : 0;
    if (lumi_mkdirs(dir, &e) != 0 || write_csv(dir, p, rows, n, &e) != 0 || write_json(dir, id, p, mcp, rows, n, &e) != 0) {
        fprintf(stderr, "lumi: bench: %s\n", e.msg);
        rc = 2;
    } else {
        int pr = write_plot(dir, p, rows, n, &e);
        if (pr == 1) printf("\nwrote %s/bench.{csv,json} (gnuplot not found: no plot)\n", dir);
        else if (pr != 0) fprintf(stderr, "lumi: bench: %s (csv and json are written)\n", e.msg);
        if (pr != 0) printf("\nwrote %s/bench.{csv,json}\n", dir);
        else printf("\nwrote %s/bench.{csv,json,png,gp}\n", dir);
    }
    free(rows);
    if (dir_out && rc != 2) snprintf(dir_out, dir_n, "%s", dir);
    return rc;
}
