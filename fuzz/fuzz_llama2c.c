/* fuzz_llama2c.c: llama2.c checkpoints (v0 and v1 headers, weights), as
 * `lumi_model_load` sees them, and one forward step of what it accepts. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(fuzz_memfile(data, size), &m, &e) != 0) return 0;
    fuzz_run_model(&m);
    lumi_model_free(&m);
    return 0;
}
