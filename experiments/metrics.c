/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../paths/sampler/sampler.h"

/* running maximum that lets NaN win as +inf */
static void upd_max(double *m, double v) {
    if (isnan(v)) v = INFINITY;
    if (v > *m) *m = v;
}

static double lse(const float *x, int n) {
    double mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

double lumi_kl_logits(const float *a, const float *b, int n) {
    double la = lse(a, n), lb = lse(b, n);
    if (!isfinite(la) || !isfinite(lb)) return INFINITY;
    double kl = 0;
    for (int i = 0; i < n; i++) {
        double lpa = (double)a[i] - la, lpb = (double)b[i] - lb;
        kl += exp(lpa) * (lpa - lpb);
    }
    if (isnan(kl)) return INFINITY;
    return kl > 0 ? kl : 0; /* rounding can leave -1e-17 for equal distributions */
}

void lumi_metrics_row(const float *a, const float *b, int n, LumiPosMetrics *m) {
    memset(m, 0, sizeof *m);
    m->bitwise = memcmp(a, b, sizeof(float) * (size_t)n) == 0;
    m->top1 = lumi_argmax(a, n) == lumi_argmax(b, n);
    if (m->bitwise) return; /* every distance is exactly 0 */
    double sd = 0, sa = 0;
    for (int i = 0; i < n; i++) {
        double x = a[i], y = b[i], d = fabs(x - y), big = fmax(fabs(x), fabs(y));
        upd_max(&m->max_abs, d);
        upd_max(&m->max_rel, big > 0 ? d / big : (d == 0 ? 0 : INFINITY));
        sd += (x - y) * (x - y);
        sa += x * x;
    }
    if (isnan(sd) || isnan(sa)) m->nmse = INFINITY;
    else m->nmse = sd == 0 ? 0 : (sa > 0 ? sd / sa : INFINITY);
    m->kl = lumi_kl_logits(a, b, n);
}

static int over(double v, double limit) { return limit >= 0 && !(v <= limit); }

int lumi_tolerance_check(const LumiTolerance *t, const LumiPosMetrics *m, LumiViolation *v) {
    if (t->bitwise && !m->bitwise) *v = (LumiViolation){"bitwise", m->max_abs, 0};
    else if (over(m->max_abs, t->max_abs)) *v = (LumiViolation){"max_abs", m->max_abs, t->max_abs};
    else if (over(m->max_rel, t->max_rel)) *v = (LumiViolation){"max_rel", m->max_rel, t->max_rel};
    else if (over(m->nmse, t->nmse)) *v = (LumiViolation){"nmse", m->nmse, t->nmse};
    else if (over(m->kl, t->kl)) *v = (LumiViolation){"kl", m->kl, t->kl};
    else if (t->top1 && !m->top1) *v = (LumiViolation){"top1", 0, 1};
    else return 0;
    return -1;
}

void lumi_violation_format(const LumiViolation *v, char *buf, size_t n) {
    if (!strcmp(v->metric, "bitwise")) snprintf(buf, n, "not bitwise identical (max-abs %.3g)", v->value);
    else if (!strcmp(v->metric, "top1")) snprintf(buf, n, "argmax differs from the reference's");
    else if (!strcmp(v->metric, "tokens")) snprintf(buf, n, "generated token differs from the reference's");
    else if (!strcmp(v->metric, "top1_rate")) snprintf(buf, n, "top1_rate %.4g < %g", v->value, v->limit);
    else snprintf(buf, n, "%s %.3g > %g", v->metric, v->value, v->limit);
}

void lumi_case_init(LumiCaseMetrics *c) {
    memset(c, 0, sizeof *c);
    c->first_bad = -1;
}

void lumi_case_add(LumiCaseMetrics *c, int pos, const LumiPosMetrics *m, const LumiTolerance *t) {
    c->n_positions++;
    c->n_bitwise += m->bitwise;
    c->n_top1 += m->top1;
    upd_max(&c->max_abs, m->max_abs);
    upd_max(&c->max_rel, m->max_rel);
    upd_max(&c->nmse, m->nmse);
    upd_max(&c->kl, m->kl);
    LumiViolation v;
    if (c->first_bad < 0 && lumi_tolerance_check(t, m, &v) != 0) {
        c->first_bad = pos;
        c->bad = v;
    }
}

void lumi_case_merge(LumiCaseMetrics *a, const LumiCaseMetrics *b) {
    a->n_positions += b->n_positions;
    a->n_bitwise += b->n_bitwise;
    a->n_top1 += b->n_top1;
    upd_max(&a->max_abs, b->max_abs);
    upd_max(&a->max_rel, b->max_rel);
    upd_max(&a->nmse, b->nmse);
    upd_max(&a->kl, b->kl);
    if (a->first_bad < 0 && b->first_bad >= 0) {
        a->first_bad = b->first_bad;
        a->bad = b->bad;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void lumi_kl_stats(double *kl, int n, int n_top1, LumiKlStats *s) {
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n <= 0) return;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(kl[i])) kl[i] = INFINITY;
        sum += kl[i];
    }
    qsort(kl, (size_t)n, sizeof *kl, cmp_double);
    int rank = (int)ceil(0.99 * n); /* 1-based nearest rank */
    s->kl_mean = sum / n;
    s->kl_p99 = kl[(rank < 1 ? 1 : rank) - 1];
    s->kl_max = kl[n - 1];
    s->top1_rate = (double)n_top1 / n;
}

int lumi_tolerance_check_dist(const LumiTolerance *t, const LumiKlStats *s, LumiViolation *v) {
    if (over(s->kl_mean, t->kl_mean)) *v = (LumiViolation){"kl_mean", s->kl_mean, t->kl_mean};
    else if (over(s->kl_p99, t->kl_p99)) *v = (LumiViolation){"kl_p99", s->kl_p99, t->kl_p99};
    else if (t->top1_rate >= 0 && !(s->top1_rate >= t->top1_rate))
        *v = (LumiViolation){"top1_rate", s->top1_rate, t->top1_rate};
    else return 0;
    return -1;
}
