/* chat_template.c: see chat_template.h. */
#include "chat_template.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int *v;
    int n, cap;
} Ids;

static void push(Ids *b, int id) {
    if (b->n == b->cap) b->v = lumi_xrealloc(b->v, sizeof(int) * (size_t)(b->cap = b->cap ? 2 * b->cap : 256));
    b->v[b->n++] = id;
}

/* Text through the encoder: never a marker by id, whatever it contains. */
static void text(Ids *b, const LumiTokenizer *t, const char *s) {
    int *ids, n;
    lumi_encode(t, s, 0, 0, &ids, &n);
    for (int i = 0; i < n; i++) push(b, ids[i]);
    free(ids);
}

/* A marker: a special token of the tokenizer, else a vocabulary piece of
 * exactly that text (a llama2.c vocabulary extended by hand). */
static int marker(const LumiTokenizer *t, const char *piece) {
    int id = lumi_token_special(t, piece);
    return id >= 0 ? id : lumi_token_lookup(t, piece);
}

static int need(const LumiTokenizer *t, const char *tpl, const char *piece, int *id, LumiErr *e) {
    *id = marker(t, piece);
    if (*id < 0)
        return lumi_err(e, "template %s: the tokenizer %s has no %s token", tpl, t->path ? t->path : "", piece);
    return 0;
}

int lumi_template_open(const char *name, const LumiTokenizer *t, LumiChatTemplate *c, char *why, size_t why_n,
                       LumiErr *e) {
    memset(c, 0, sizeof *c);
    c->tok = t;
    c->bos = lumi_tokenizer_bos(t);
    c->eos = t->eos_id;
    c->begin = c->start = c->end = -1;
    if (why_n) why[0] = 0;
    if (!strcmp(name, "auto")) {
        if (marker(t, "<|start_header_id|>") >= 0 && marker(t, "<|eot_id|>") >= 0) {
            name = "llama3";
            snprintf(why, why_n, "the vocabulary has <|start_header_id|> and <|eot_id|>");
        } else if (marker(t, "<|im_start|>") >= 0 && marker(t, "<|im_end|>") >= 0) {
            name = "chatml";
            snprintf(why, why_n, "the vocabulary has <|im_start|> and <|im_end|>");
        } else {
            name = "llama2";
            snprintf(why, why_n, "no llama3 or chatml markers in the vocabulary; [INST] is text");
        }
    }
    if (!strcmp(name, "llama2")) {
        c->kind = LUMI_TPL_LLAMA2;
        c->name = "llama2";
        c->eot = c->eos;
    } else if (!strcmp(name, "llama3")) {
        c->kind = LUMI_TPL_LLAMA3;
        c->name = "llama3";
        if (need(t, name, "<|begin_of_text|>", &c->begin, e) || need(t, name, "<|start_header_id|>", &c->start, e) ||
            need(t, name, "<|end_header_id|>", &c->end, e) || need(t, name, "<|eot_id|>", &c->eot, e))
            return -1;
    } else if (!strcmp(name, "chatml")) {
        c->kind = LUMI_TPL_CHATML;
        c->name = "chatml";
        if (need(t, name, "<|im_start|>", &c->start, e) || need(t, name, "<|im_end|>", &c->end, e)) return -1;
        c->eot = c->end;
    } else if (!strcmp(name, "none")) {
        c->kind = LUMI_TPL_NONE;
        c->name = "none";
        c->eot = -1;
    } else {
        return lumi_err(e, "unknown template '%s' (valid: auto, llama2, llama3, chatml, none)", name);
    }
    if (c->eot >= 0) lumi_stops_add(&c->stops, c->eot);
    LumiStopSet d;
    lumi_default_stops(t, &d);
    for (int i = 0; i < d.n; i++) lumi_stops_add(&c->stops, d.ids[i]);
    return 0;
}

/* <|start_header_id|>role<|end_header_id|>\n\n  or  <|im_start|>role\n */
static void header(Ids *b, const LumiChatTemplate *t, const char *role) {
    push(b, t->start);
    text(b, t->tok, role);
    if (t->kind == LUMI_TPL_LLAMA3) {
        push(b, t->end);
        text(b, t->tok, "\n\n");
    } else {
        text(b, t->tok, "\n");
    }
}

/* A message that is complete: header, text, closing marker. */
static void message(Ids *b, const LumiChatTemplate *t, const char *role, const char *s) {
    header(b, t, role);
    text(b, t->tok, s);
    push(b, t->eot);
    if (t->kind == LUMI_TPL_CHATML) text(b, t->tok, "\n");
}

static void user_part(Ids *b, const LumiChatTemplate *t, const char *system, const char *user) {
    if (t->kind == LUMI_TPL_LLAMA2) {
        /* the system prompt lives inside the first [INST] */
        size_t n = strlen(user) + (system ? strlen(system) : 0) + 64;
        char *s = lumi_xmalloc(n);
        if (system)
            snprintf(s, n, "[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]", system, user);
        else
            snprintf(s, n, "[INST] %s [/INST]", user);
        push(b, t->bos);
        text(b, t->tok, s);
        free(s);
    } else if (t->kind == LUMI_TPL_NONE) {
        text(b, t->tok, user);
    } else {
        message(b, t, "user", user);
        header(b, t, "assistant");
    }
}

static void opening(Ids *b, const LumiChatTemplate *t, const char *system) {
    if (t->kind == LUMI_TPL_LLAMA3) push(b, t->begin);
    if (t->kind == LUMI_TPL_NONE) push(b, t->bos);
    if (system && (t->kind == LUMI_TPL_LLAMA3 || t->kind == LUMI_TPL_CHATML)) message(b, t, "system", system);
    if (system && t->kind == LUMI_TPL_NONE) text(b, t->tok, system);
}

void lumi_template_render(const LumiChatTemplate *t, const LumiConversation *c, int **ids, int *n) {
    Ids b = {0};
    opening(&b, t, c->system);
    for (int i = c->first; i < c->n_turns; i++) {
        const LumiChatTurn *u = &c->turns[i];
        user_part(&b, t, i == c->first && t->kind == LUMI_TPL_LLAMA2 ? c->system : NULL, u->user);
        for (int k = 0; k < u->n_reply; k++) push(&b, u->reply[k]);
        if (u->replied && t->eot >= 0) push(&b, t->eot);
        if (u->replied && t->kind == LUMI_TPL_CHATML) text(&b, t->tok, "\n");
    }
    *ids = b.v;
    *n = b.n;
}

void lumi_template_render_system(const LumiChatTemplate *t, const char *system, int **ids, int *n) {
    Ids b = {0};
    opening(&b, t, system);
    if (t->kind == LUMI_TPL_LLAMA2 && system) user_part(&b, t, system, "");
    if (!b.v) b.v = lumi_xmalloc(sizeof(int)); /* malloc'd even when empty */
    *ids = b.v;
    *n = b.n;
}

void lumi_conv_init(LumiConversation *c, const char *system) {
    memset(c, 0, sizeof *c);
    if (system && *system) c->system = lumi_xstrdup(system);
}

void lumi_conv_free(LumiConversation *c) {
    for (int i = 0; i < c->n_turns; i++) {
        free(c->turns[i].user);
        free(c->turns[i].reply);
    }
    free(c->turns);
    free(c->system);
    memset(c, 0, sizeof *c);
}

void lumi_conv_user(LumiConversation *c, const char *text) {
    if (c->n_turns == c->cap)
        c->turns = lumi_xrealloc(c->turns, sizeof *c->turns * (size_t)(c->cap = c->cap ? 2 * c->cap : 8));
    LumiChatTurn *u = &c->turns[c->n_turns++];
    memset(u, 0, sizeof *u);
    u->user = lumi_xstrdup(text);
}

void lumi_conv_reply(LumiConversation *c, const int *ids, int n) {
    LumiChatTurn *u = &c->turns[c->n_turns - 1];
    u->reply = lumi_xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    memcpy(u->reply, ids, sizeof(int) * (size_t)n);
    u->n_reply = n;
    u->replied = 1;
}

void lumi_conv_pop(LumiConversation *c) {
    if (c->n_turns <= c->first) return;
    LumiChatTurn *u = &c->turns[--c->n_turns];
    free(u->user);
    free(u->reply);
}
