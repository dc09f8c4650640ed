/* metrics.h: how far a path's logits are from the reference's. Pure
 * functions over float rows, computed in double, so the harness, goldens and
 * tests agree on every number. Non-finite values count as the worst case:
 * a metric that would be NaN is +inf (and so fails any limit). */
#ifndef LUMI_METRICS_H
#define LUMI_METRICS_H
#include "config.h"

/* One position: reference row a against path row b, both [n]. */
typedef struct {
    int bitwise;    /* every element has the same bits (memcmp) */
    double max_abs; /* max |a - b| */
    double max_rel; /* max |a - b| / max(|a|, |b|)  (0 where both are 0): in [0, 2] */
    double nmse;    /* sum (a - b)^2 / sum a^2  (0 when both sums are 0, inf when only sum a^2 is) */
    double kl;      /* KL(softmax(a) || softmax(b)) in nats, >= 0 */
    int top1;       /* argmax(a) == argmax(b), ties to the lowest id */
} LumiPosMetrics;

void lumi_metrics_row(const float *a, const float *b, int n, LumiPosMetrics *m);
/* KL(softmax(a) || softmax(b)) with log-sum-exp in double. */
double lumi_kl_logits(const float *a, const float *b, int n);

typedef struct {
    const char *metric; /* "bitwise", "max_abs", "max_rel", "nmse", "kl", "top1", "tokens",
                         * "kl_mean", "kl_p99", "top1_rate" */
    double value, limit;
} LumiViolation;

/* "not bitwise identical (max-abs 1e-06)", "max_abs 0.002 > 0.0001", ... */
void lumi_violation_format(const LumiViolation *v, char *buf, size_t n);

/* 0 when m is within t, else -1 with the first metric that is not. */
int lumi_tolerance_check(const LumiTolerance *t, const LumiPosMetrics *m, LumiViolation *v);

/* A case (one prompt on one path): maxima over positions and the first
 * position that violates the tolerance. */
typedef struct {
    int n_positions, n_bitwise, n_top1;
    double max_abs, max_rel, nmse, kl;
    int first_bad;      /* position of the first violation, -1 if none */
    LumiViolation bad;
} LumiCaseMetrics;

/* What a quantization study reports (llama.cpp's --kl-divergence): over
 * all positions of a path, the mean, 99th percentile and max of the
 * per-position KL, and the rate at which the argmax agrees. The
 * percentile is the nearest rank: the smallest KL with at least 99% of
 * the positions at or below it. */
typedef struct {
    int n;
    double kl_mean, kl_p99, kl_max, top1_rate;
} LumiKlStats;

/* kl[0..n) (sorted in place; NaN counts as +inf); n_top1 of n agree. */
void lumi_kl_stats(double *kl, int n, int n_top1, LumiKlStats *s);
/* 0 when s is within t's kl_mean / kl_p99 / top1_rate, else -1 with the
 * first one that is not. */
int lumi_tolerance_check_dist(const LumiTolerance *t, const LumiKlStats *s, LumiViolation *v);

void lumi_case_init(LumiCaseMetrics *c);
void lumi_case_add(LumiCaseMetrics *c, int pos, const LumiPosMetrics *m, const LumiTolerance *t);
/* Folds case b into the running summary a (maxima, counts, first violation). */
void lumi_case_merge(LumiCaseMetrics *a, const LumiCaseMetrics *b);

#endif
