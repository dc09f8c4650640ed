/* fuzz_lmw.c: lumi's own .lmw files; what loads must run a forward pass on
 * the reference path (the header's sizes are only trusted once the tensor
 * records are checked against the file). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(fuzz_memfile(data, size), &m, &e) != 0) return 0;
    fuzz_run_model(&m);
    lumi_model_free(&m);
    return 0;
}
