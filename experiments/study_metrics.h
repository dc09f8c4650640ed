/* study_metrics.h: what a sampler study measures about one generated text
 * (token ids) and one distribution, and how samples aggregate into a mean
 * with a 95% confidence interval. Undefined values (a distinct-n of a text
 * shorter than n) are NaN and are left out of aggregates. */
#ifndef LUMI_STUDY_METRICS_H
#define LUMI_STUDY_METRICS_H

/* distinct n-grams / n-grams in ids[0..n) (n-grams of `order` tokens). */
double lumi_distinct_n(const int *ids, int n, int order);
/* Fraction of n-gram positions whose n-gram already occurred earlier. */
double lumi_repeat_rate(const int *ids, int n, int order);
/* Length of the longest token span that occurs at least twice (the two
 * occurrences may overlap: 5 5 5 has 5 5 twice). 0 when nothing repeats. */
int lumi_longest_repeat(const int *ids, int n);

/* Statistics of softmax(logits) in one pass: entropy in nats, the top-1 id
 * (ties: lowest) and its probability, and the probability of `chosen`. */
typedef struct {
    double entropy, top1_p, chosen_p;
    int top1;
} LumiDistStats;
void lumi_dist_stats(const float *logits, int n, int chosen, LumiDistStats *out);
/* -log softmax(logits)[id], natural log. */
double lumi_nll(const float *logits, int n, int id);

/* Mean and 95% CI (Student t) of the finite values among x[0..n). */
typedef struct {
    double mean, lo, hi;
    int n; /* finite values used */
} LumiStat;
void lumi_stat(const double *x, int n, LumiStat *out);
/* The 0.975 quantile of Student's t with df degrees of freedom. */
double lumi_t975(int df);

#endif
