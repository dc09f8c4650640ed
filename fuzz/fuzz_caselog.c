/* fuzz_caselog.c: the cases.jsonl reader `lumi run --resume` trusts (torn
 * last line, one JSON object per line), and the lookups made on each line. */
#include "../experiments/results.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_put("cases.jsonl", data, size);
    LumiCaseLog log;
    LumiErr e;
    if (lumi_caselog_read(fuzz_dir(), &log, &e) != 0) return 0;
    static const char *const KEYS[] = {"prompt", "path", "role", "verdict", "seconds", "stop", "prefill_tok_s",
                                       "decode_tok_s", "max_abs", "tokens", NULL};
    for (int i = 0; i < log.n; i++)
        for (const char *const *k = KEYS; *k; k++) {
            lumi_case_str(log.lines[i].root, *k, "");
            lumi_case_num(log.lines[i].root, *k, 0);
        }
    lumi_caselog_free(&log);
    return 0;
}
