/* fuzz_gguf.c: GGUF files, as a model (metadata, tensor table, f32/f16/
 * bf16/q8_0 data) and as a tokenizer (the embedded vocabulary). */
#include "../engine/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4 || memcmp(data, "GGUF", 4) != 0) return 0; /* other bytes belong to other loaders */
    const char *path = fuzz_memfile(data, size);
    LumiModel m;
    LumiErr e;
    if (lumi_model_load(path, &m, &e) == 0) {
        fuzz_run_model(&m);
        lumi_model_free(&m);
    }
    LumiTokenizer t;
    if (lumi_tokenizer_load(path, &t, &e) == 0) {
        int *ids = NULL, n = 0, len;
        lumi_encode(&t, "ab ba c\n\xc3\xa9", 1, 0, &ids, &n);
        for (int i = 0; i < n; i++) lumi_decode_piece(&t, i ? ids[i - 1] : 1, ids[i], &len);
        free(ids);
        lumi_tokenizer_free(&t);
    }
    return 0;
}
