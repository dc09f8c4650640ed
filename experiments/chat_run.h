/* chat_run.h: one conversation on one session, turn by turn: the loop
 * behind `lumi chat` and the chat experiment's replies.
 *
 * A turn: add the user's text, render the whole conversation with the
 * template, let the turns strategy bring the session to it (keep: only the
 * new tokens; rebuild: everything), then generate the reply with the one
 * generation loop until the template's end-of-turn token. The end token is
 * part of the conversation, so the next turn continues the same sequence.
 *
 * Penalty history: the sampler sees each turn's new tokens once and every
 * generated token, whatever the strategy, so keep and rebuild draw the same
 * replies from the same logits.
 *
 * When a turn does not fit the context, the oldest whole turns are dropped
 * (the system prompt stays) and the caller is told (dropped > 0); keep then
 * finds its cache no longer matches and rebuilds once. A turn that cannot
 * fit even alone is refused and the conversation is left as it was. */
#ifndef LUMI_CHAT_RUN_H
#define LUMI_CHAT_RUN_H
#include "../paths/turns/turns.h"
#include "chat_template.h"
#include "gen_loop.h"

typedef struct {
    LumiSession *s;
    LumiSampler *smp;
    const LumiChatTemplate *tpl;
    const LumiTurnsOps *turns;
    LumiConversation conv;
    int max_new;
    int *reply;  /* [max_new] scratch */
    int dropped; /* oldest turns dropped by the turn running now (set before its reply) */
} LumiChat;

typedef struct {
    int turn;          /* 1-based */
    int new_tokens;    /* prefilled this turn */
    int cached_tokens; /* reused from the cache */
    int dropped;       /* oldest turns dropped to fit (0: none) */
    const int *ids;    /* the reply (valid until the next turn) */
    int n_ids;
    LumiGenStop stop;
    double prefill_s, ttft_s, decode_s;
} LumiTurnResult;

void lumi_chat_init(LumiChat *c, LumiSession *s, LumiSampler *smp, const LumiChatTemplate *tpl,
                    const LumiTurnsOps *turns, const char *system, int max_new);
void lumi_chat_free(LumiChat *c);
/* Forget the conversation (keeps the system prompt); the sampler restarts with seed. */
void lumi_chat_reset(LumiChat *c, uint64_t seed);
/* Text a user may send: non-empty and valid UTF-8; errors say which. */
int lumi_chat_check_text(const char *text, const char *what, LumiErr *e);
/* The system prompt must leave room in the context for a turn. */
int lumi_chat_check_system(const LumiChat *c, LumiErr *e);
/* One turn. forced != NULL replays a known reply (fed token by token, as
 * generation feeds) instead of generating. logits != NULL receives the rows
 * of every position fed this turn, from *pos0 on. A refused turn returns -1
 * and leaves the conversation unchanged. */
int lumi_chat_turn(LumiChat *c, const char *user, const int *forced, int n_forced, LumiTokenFn cb, void *ctx,
                   float *logits, int *pos0, LumiTurnResult *r, LumiErr *e);

#endif
