/* fuzz_tokenizer_bin.c: llama2.c tokenizer.bin files; what loads must
 * encode a text touching merges, byte fallback and UTF-8, and decode every
 * id it produced and every id of its vocabulary. */
#include "../engine/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    LumiTokenizer t;
    LumiErr e;
    if (lumi_tokenizer_load(fuzz_memfile(data, size), &t, &e) != 0) return 0;
    int *ids = NULL, n = 0, len;
    lumi_encode(&t, "In the beginning \xc3\xa9t\xc3\xa9 \xe2\x82\xac\x01 a", 1, 1, &ids, &n);
    for (int i = 0; i < n; i++) lumi_decode_piece(&t, i ? ids[i - 1] : 1, ids[i], &len);
    for (int i = 0; i < t.vocab_size; i++) lumi_decode_piece(&t, 1, i, &len);
    free(ids);
    lumi_tokenizer_free(&t);
    return 0;
}
