/* fuzz_generate.c: generation from a fuzzed prompt, as `lumi generate -p`
 * runs it: tokenize (BOS, byte fallback, any bytes), refuse what does not
 * fit, generate on the cpu path with a fuzzed sampler chain, detokenize.
 * The tokenizer is the shipped models/kjv512.bin (run from the repository
 * root); the model a small synthesized one with its 512-token vocabulary, so
 * an input costs milliseconds. Input: byte 0 picks sampler stages, byte 1
 * the seed and step count, the rest is the prompt text. */
#include "../engine/synth.h"
#include "../engine/tokenizer.h"
#include "../experiments/inputs.h"
#include "../experiments/trace.h"
#include "../experiments/gen_loop.h"
#include "fuzz.h"

static LumiModel model;
static LumiTokenizer tok;

static void setup(void) {
    LumiErr e;
    LumiSynthSpec s = {16, 32, 1, 2, 1, 512, 256, 0, 7};
    char path[128];
    snprintf(path, sizeof path, "%s/gen.bin", fuzz_dir());
    if (lumi_synth_write(&s, path, &e) != 0 || lumi_model_load(path, &model, &e) != 0 ||
        lumi_tokenizer_load("models/kjv512.bin", &tok, &e) != 0) {
        fprintf(stderr, "fuzz_generate: %s (run from the repository root)\n", e.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model.path) setup();
    if (size < 2) return 0;
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    uint8_t pick = data[0];
    if (pick & 1) sc.temperature = 0.8f;
    if (pick & 2) sc.top_k = 5;
    if (pick & 4) sc.top_p = 0.9f;
    if (pick & 8) sc.min_p = 0.05f;
    if (pick & 16) sc.typical_p = 0.9f;
    if (pick & 32) sc.repeat_penalty = 1.3f;
    if (pick & 64) { /* mirostat replaces the truncation stages (the CLI refuses both) */
        sc.mirostat = 2;
        sc.top_k = 0, sc.top_p = 1, sc.min_p = 0, sc.typical_p = 1;
    }
    if (pick & 128) sc.presence_penalty = 0.5f, sc.frequency_penalty = 0.3f;
    sc.seed = data[1];
    int steps = 1 + data[1] % 16;
    size_t len = size - 2;
    if (len > (size_t)LUMI_PROMPT_BYTES_PER_POS * (size_t)model.cfg.seq_len) return 0; /* the CLI refuses these */
    char *text = malloc(len + 1);
    memcpy(text, data + 2, len);
    text[len] = 0; /* a NUL inside ends the prompt, as it does on a command line */
    int *ids = NULL, n = 0;
    lumi_encode(&tok, text, 1, 0, &ids, &n);
    free(text);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= model.cfg.vocab_size) abort(); /* the tokenizer made an id it does not have */
    if (n >= 1 && n < model.cfg.seq_len) {
        LumiPathSpec p;
        LumiErr e;
        LumiTrace t;
        lumi_path_default(&p);
        if (lumi_path_parse("backend=cpu,threads=1", &p, &e) != 0) abort();
        int room = model.cfg.seq_len - n;
        LumiStopSet stops;
        lumi_default_stops(&tok, &stops);
        if (lumi_trace_run(&model, &p, ids, n, NULL, 0, steps < room ? steps : room, &sc, &stops, 0, &t, &e) != 0) {
            fprintf(stderr, "fuzz_generate: %s\n", e.msg);
            abort(); /* a prompt that fits must generate */
        }
        size_t out_len;
        free(lumi_detok(&tok, ids[n - 1], t.tokens, t.n_tokens, &out_len));
        lumi_trace_free(&t);
    }
    free(ids);
    return 0;
}
