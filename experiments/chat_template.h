/* chat_template.h: a conversation (system prompt, user turns, reply ids)
 * rendered as token ids by a chat template. Marker tokens (<s>, </s>,
 * <|eot_id|>, <|im_start|>, ...) are inserted by id, found once in the
 * vocabulary; text (system prompt, user turns) only ever goes through the
 * tokenizer's encoder, so a user typing "<|im_end|>" types text.
 *
 *   llama2  <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]{reply}</s>
 *           (no system: <s>[INST] {user} [/INST]); the text between markers
 *           is encoded in one piece, as Meta's chat code does
 *   llama3  <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n
 *           {system}<|eot_id|> ... user ... <|start_header_id|>assistant
 *           <|end_header_id|>\n\n{reply}<|eot_id|>
 *   chatml  <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}
 *           <|im_end|>\n<|im_start|>assistant\n{reply}<|im_end|>\n  (Qwen)
 *   none    BOS, then each turn's text and reply as they are
 *
 * The rendering of a conversation is a pure function of its turns, so a
 * conversation with its oldest turns dropped renders to different ids and
 * the turns=keep strategy sees that its cache no longer matches. */
#ifndef LUMI_CHAT_TEMPLATE_H
#define LUMI_CHAT_TEMPLATE_H
#include "../engine/tokenizer.h"
#include "gen_loop.h"

typedef enum { LUMI_TPL_NONE, LUMI_TPL_LLAMA2, LUMI_TPL_LLAMA3, LUMI_TPL_CHATML } LumiTplKind;

typedef struct {
    LumiTplKind kind;
    const char *name;
    const LumiTokenizer *tok;
    int bos, eos;      /* the tokenizer's (llama2, none) */
    int begin;         /* llama3 <|begin_of_text|> */
    int start, end;    /* llama3 <|start_header_id|> <|end_header_id|>; chatml <|im_start|> <|im_end|> */
    int eot;           /* the token that closes a reply */
    LumiStopSet stops; /* where a reply ends: eot and the tokenizer's default stops */
} LumiChatTemplate;

/* name: auto | llama2 | llama3 | chatml | none. auto picks by the marker
 * tokens the vocabulary has (llama3, then chatml, else llama2) and says why
 * in *why. Unknown names and templates whose markers the vocabulary lacks
 * are errors naming them. */
int lumi_template_open(const char *name, const LumiTokenizer *t, LumiChatTemplate *c, char *why, size_t why_n,
                       LumiErr *e);

typedef struct {
    char *user; /* the turn's text */
    int *reply; /* reply ids, without the closing token */
    int n_reply;
    int replied; /* the reply is complete (closed by the template's eot) */
} LumiChatTurn;

typedef struct {
    char *system; /* NULL: none */
    LumiChatTurn *turns;
    int n_turns, cap;
    int first; /* turns[0..first) were dropped to fit the context */
} LumiConversation;

void lumi_conv_init(LumiConversation *c, const char *system);
void lumi_conv_free(LumiConversation *c);
/* Appends an open user turn (text copied). */
void lumi_conv_user(LumiConversation *c, const char *text);
/* Completes the last turn with its reply. */
void lumi_conv_reply(LumiConversation *c, const int *ids, int n);
/* Removes the last turn (a turn that could not run: nothing else changes). */
void lumi_conv_pop(LumiConversation *c);

/* Renders turns[first..n_turns) (system prompt first); the last turn, if not
 * replied, ends with the assistant's header so generation continues there.
 * *ids is malloc'd. */
void lumi_template_render(const LumiChatTemplate *t, const LumiConversation *c, int **ids, int *n);
/* The ids of the system prompt alone (to check that it fits the context). */
void lumi_template_render_system(const LumiChatTemplate *t, const char *system, int **ids, int *n);

#endif
