/* fuzz_yaml_config.c: experiment configs: the YAML loader and every
 * config reader that does not touch the file system (the shared keys, the
 * equivalence and study kinds; bench configs synthesize models, so they are
 * left to the tests). */
#include "../experiments/config.h"
#include "../experiments/study.h"
#include "../experiments/yaml.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    LumiYamlDoc d;
    LumiErr e;
    if (lumi_yaml_parse((const char *)data, size, "fuzz.yaml", &d, &e) != 0) return 0;
    LumiExpCommon c;
    if (lumi_config_common(&d, &c, 0, &e) == 0) lumi_config_common_free(&c);
    LumiEquivConfig q;
    if (lumi_config_equivalence(&d, &q, &e) == 0) lumi_config_equivalence_free(&q);
    LumiStudyCfg s;
    lumi_study_cfg_read(&d, &s, &e);
    lumi_study_cfg_free(&s); /* its contract: freed after a failure too (study.c) */
    lumi_yaml_free(&d);
    return 0;
}
