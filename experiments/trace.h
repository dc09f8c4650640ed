/* trace.h: one prompt through one path, the way the harness compares paths.
 *
 * Free run (forced == NULL): prefill the prompt, then sample up to n_gen
 * tokens, feeding each one, so logits exist for every position of
 * prompt + generated (the reference run).
 *
 * Teacher-forced run (forced != NULL): prefill the prompt, then feed the
 * reference's tokens one at a time, recording the logits of every position;
 * so every path is compared at the same positions even where an argmax tie
 * would make its own generation diverge. The path's own free generation is
 * recorded too: while its sampled token equals the forced one the two runs
 * are the same computation; if it diverges at step j, a second session
 * replays the same schedule (prompt, then forced[0..j) one at a time) and
 * continues freely with the same sampler state. Generation stops at a token
 * of `stops` (NULL: never); both free runs are lumi_generate (gen_loop.h). */
#ifndef LUMI_TRACE_H
#define LUMI_TRACE_H
#include "../paths/session.h"
#include "../paths/sampler/sampler.h"
#include "gen_loop.h"
#include "inputs.h"

typedef struct {
    int n_pos;        /* positions with logits: n_prompt + tokens fed */
    float *logits;    /* [n_pos, vocab] (NULL unless want_logits) */
    int *tokens;      /* the path's own generated tokens [n_tokens] */
    int n_tokens;
    int diverged_at;  /* first step where own != forced, -1 if never */
    int stop_eos;     /* own generation stopped at EOS/BOS */
    double prefill_s, decode_s;
} LumiTrace;

int lumi_trace_run(const LumiModel *m, const LumiPathSpec *spec, const int *prompt, int n_prompt, const int *forced,
                   int n_forced, int n_gen, const LumiSamplerCfg *sc, const LumiStopSet *stops, int want_logits, LumiTrace *t,
                   LumiErr *e);
void lumi_trace_free(LumiTrace *t);

/* What a config's stop_at_eos means for its inputs: the default stop set of
 * its tokenizer (gen_loop.h) written into *buf, or NULL (never stop). */
const LumiStopSet *lumi_trace_stops(int stop_at_eos, const LumiExpInputs *in, LumiStopSet *buf);

#endif
