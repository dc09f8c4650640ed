/* cmd_study.c: `lumi study CONFIG.yaml` runs an experiment YAML through the
 * kind registry (experiments/kinds.c). It predates `lumi run`, which will
 * dispatch the same way; kept as the short way to run a sampler study. */
#include <stdio.h>
#include <string.h>

#include "../experiments/experiment.h"
#include "cli.h"

int cmd_study(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs("usage: lumi study CONFIG.yaml   (an experiment with kind: study; see configs/sampler-study.yaml)\n",
              argc == 2 ? stdout : stderr);
        return argc == 2 ? LUMI_EXIT_OK : LUMI_EXIT_BAD;
    }
    LumiYamlDoc d;
    LumiErr e;
    if (lumi_yaml_load(argv[1], &d, &e)) {
        cli_error("%s", e.msg);
        return LUMI_EXIT_BAD;
    }
    const char *kind = NULL;
    int rc = LUMI_EXIT_BAD;
    if (lumi_yaml_expect(&d, d.root, LUMI_Y_MAP, "the document", &e) ||
        lumi_yaml_str(&d, d.root, "kind", 1, &kind, &e)) {
        cli_error("%s", e.msg);
    } else {
        const LumiExperimentKind *k = lumi_experiment_find(kind);
        if (!k) {
            char names[256];
            lumi_experiment_names(names, sizeof names);
            LumiYamlNode *at = (LumiYamlNode *)lumi_yaml_get(d.root, "kind");
            lumi_yaml_err(&d, at, &e, "unknown kind '%s' (valid: %s)", kind, names);
            cli_error("%s", e.msg);
        } else {
            LumiRunOpts o = {.config_path = argv[1]};
            rc = k->run(&d, &o);
        }
    }
    lumi_yaml_free(&d);
    return rc;
}
