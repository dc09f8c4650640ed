/* chat.h: the `chat` experiment kind. A scripted conversation (system
 * prompt, user turns as `prompts`, optional fixed `replies`) is first run on
 * the reference path (turns=rebuild), generating the replies that are not
 * fixed; then every path of the matrix, crossed with the `turns` strategies,
 * replays that conversation turn by turn (replies fed token by token, as
 * generation feeds them) and the logits of every position it computes in
 * every turn are compared with the reference's logits of that position in
 * that turn. keep and rebuild must be bitwise equal on one backend.
 *
 * Config keys besides the common ones: template (default llama2), system,
 * replies (a list by turn: text or null = generate), turns (default [keep,
 * rebuild]), paths, reference, tolerance {same_backend, cross_backend}.
 * Results: cases.jsonl (one line per path and turn), chat.csv, ttft.csv,
 * ttft_per_turn.png, run.json. */
#ifndef LUMI_CHAT_H
#define LUMI_CHAT_H
#include "experiment.h"

extern const LumiExperimentKind lumi_kind_chat;

#endif
