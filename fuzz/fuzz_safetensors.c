/* fuzz_safetensors.c: a Hugging Face folder, config.json + model.safetensors
 * (header and tensors). Input: a 2-byte little-endian length n, n bytes of
 * config.json, then the .safetensors file. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    if (n > size - 2) n = size - 2;
    fuzz_put("config.json", data + 2, n);
    fuzz_put("model.safetensors", data + 2 + n, size - 2 - n);
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(fuzz_dir(), &m, &e) != 0) return 0;
    fuzz_run_model(&m);
    lumi_model_free(&m);
    return 0;
}
