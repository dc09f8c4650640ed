/* study_metrics.c: see study_metrics.h. Quadratic algorithms on purpose:
 * texts are at most a context long (hundreds of tokens), and the simple
 * versions are easy to check by hand. */
#include "study_metrics.h"

#include <math.h>
#include <string.h>

static int same(const int *a, const int *b, int order) { return memcmp(a, b, (size_t)order * sizeof *a) == 0; }

/* 1 when the n-gram at i equals one at an earlier position */
static int seen_before(const int *ids, int i, int order) {
    for (int j = 0; j < i; j++)
        if (same(ids + j, ids + i, order)) return 1;
    return 0;
}

double lumi_distinct_n(const int *ids, int n, int order) {
    int total = n - order + 1;
    if (order < 1 || total < 1) return NAN;
    int distinct = 0;
    for (int i = 0; i < total; i++) distinct += !seen_before(ids, i, order);
    return (double)distinct / total;
}

double lumi_repeat_rate(const int *ids, int n, int order) {
    double d = lumi_distinct_n(ids, n, order);
    return isnan(d) ? NAN : 1.0 - d; /* every n-gram position is either first or repeated */
}

int lumi_longest_repeat(const int *ids, int n) {
    /* run[j] = length of the common suffix of ids[..i] and ids[..j], j < i:
     * the classic longest-repeated-substring DP, one row at a time. */
    int best = 0;
    for (int shift = 1; shift < n; shift++) { /* compare ids[k] with ids[k - shift] */
        int run = 0;
        for (int k = shift; k < n; k++) {
            run = ids[k] == ids[k - shift] ? run + 1 : 0;
            if (run > best) best = run;
        }
    }
    return best;
}

void lumi_dist_stats(const float *logits, int n, int chosen, LumiDistStats *out) {
    int top = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[top]) top = i;
    double mx = logits[top], z = 0, zl = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)logits[i] - mx, w = exp(d);
        z += w;
        if (w > 0) zl += w * d;
    }
    out->entropy = log(z) - zl / z;
    out->top1 = top;
    out->top1_p = 1.0 / z;
    out->chosen_p = chosen >= 0 && chosen < n ? exp((double)logits[chosen] - mx) / z : NAN;
}

double lumi_nll(const float *logits, int n, int id) {
    LumiDistStats st;
    lumi_dist_stats(logits, n, id, &st);
    return -log(st.chosen_p);
}

double lumi_t975(int df) {
    static const double T[] = {0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201,  2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                               2.074,  2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (df < 1) return NAN;
    if (df <= 30) return T[df];
    /* Cornish-Fisher expansion around the normal quantile: < 1e-4 off for df > 30 */
    double z = 1.959964, d = df;
    return z + (z * z * z + z) / (4 * d) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

void lumi_stat(const double *x, int n, LumiStat *out) {
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) sum += x[i], k++;
    out->n = k;
    if (k == 0) {
        out->mean = out->lo = out->hi = NAN;
        return;
    }
    double mean = sum / k, ss = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) ss += (x[i] - mean) * (x[i] - mean);
    out->mean = mean;
    if (k < 2) {
        out->lo = out->hi = NAN; /* one sample has no spread to speak of */
        return;
    }
    double half = lumi_t975(k - 1) * sqrt(ss / (k - 1)) / sqrt((double)k);
    out->lo = mean - half;
    out->hi = mean + half;
}
