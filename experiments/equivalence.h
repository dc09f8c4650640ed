/* equivalence.h: the `equivalence` experiment kind. For each prompt the
 * reference path generates; every path is then teacher-forced on the
 * reference's tokens and its logits are compared position by position
 * (experiments/metrics.h) under the config's tolerances. */
#ifndef LUMI_EQUIVALENCE_H
#define LUMI_EQUIVALENCE_H
#include "experiment.h"

extern const LumiExperimentKind lumi_kind_equivalence;

/* The canary: moves the logit of smallest magnitude in row (so that even a
 * tiny epsilon is representable) by epsilon, or by one ulp in epsilon's
 * direction when epsilon is below that element's float resolution. */
void lumi_canary_apply(float *row, int n, double epsilon);

#endif
