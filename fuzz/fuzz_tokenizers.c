/* fuzz_tokenizers.c: every tokenizer format lumi reads besides llama2.c's
 * tokenizer.bin (fuzz_tokenizer_bin.c): Hugging Face tokenizer.json (both
 * merge forms), tiktoken tokenizer.model and sentencepiece's protobuf
 * tokenizer.model. The loader recognises the format by its content, so one
 * target with a seed of each format reaches every parser; what loads must
 * encode text touching merges, byte fallback, special-token look-alikes and
 * bad UTF-8 (plain and with special tokens parsed), and decode every id. */
#include "../engine/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    LumiTokenizer t;
    LumiErr e;
    if (lumi_tokenizer_load(fuzz_memfile(data, size), &t, &e) != 0) return 0;
    static const char text[] = "In the beginning \xc3\xa9t\xc3\xa9 <|eot_id|> <s> 2026 \xe2\x82\xac\xff\x01  a\r\n";
    for (int flags = 0; flags < 2; flags++) {
        int *ids = NULL, n = 0, len;
        lumi_encode_n(&t, text, sizeof text - 1, LUMI_ENC_BOS | (flags ? LUMI_ENC_SPECIAL : 0), &ids, &n);
        for (int i = 0; i < n; i++) lumi_decode_piece(&t, i ? ids[i - 1] : -1, ids[i], &len);
        free(ids);
    }
    int len;
    for (int i = 0; i < t.vocab_size + 2; i++) lumi_decode_piece(&t, -1, i, &len);
    lumi_tokenizer_free(&t);
    return 0;
}
