/* kinds.c: the registry of experiment kinds (const: the only global state). */
#include <string.h>

#include "bench.h"
#include "experiment.h"

extern const LumiExperimentKind lumi_kind_generate, lumi_kind_equivalence, lumi_kind_study;
extern const LumiExperimentKind lumi_kind_chat;

static const LumiExperimentKind *const KINDS[] = {
    &lumi_kind_generate,
    &lumi_kind_equivalence,
    &lumi_kind_study,
    &lumi_kind_bench,
    &lumi_kind_chat,
};

const LumiExperimentKind *lumi_experiment_find(const char *kind) {
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (KINDS[i] && !strcmp(KINDS[i]->name, kind)) return KINDS[i];
    return NULL;
}

void lumi_experiment_names(char *buf, size_t n) {
    buf[0] = 0;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++) {
        if (!KINDS[i]) continue;
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", l ? ", " : "", KINDS[i]->name);
    }
}
