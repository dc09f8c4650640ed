/* test_chat.c: the generation loop's stops, chat templates as ids, the
 * turns axis (keep == rebuild bitwise on ref and cpu, and a stale cache is
 * caught), context overflow, bad input, and the chat kind's canary. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../experiments/chat_run.h"
#include "../experiments/gen_loop.h"
#include "helpers.h"

typedef struct {
    LumiModel m;
    LumiTokenizer t;
    LumiChatTemplate tpl;
} Fixture;

static void load(Fixture *f, const char *tpl) {
    LumiErr e;
    ck_assert_msg(lumi_model_load(DEFAULT_MODEL, &f->m, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_tokenizer_load(DEFAULT_TOKENIZER, &f->t, &e) == 0, "%s", e.msg);
    char why[160];
    ck_assert_msg(lumi_template_open(tpl, &f->t, &f->tpl, why, sizeof why, &e) == 0, "%s", e.msg);
}

static void unload(Fixture *f) {
    lumi_tokenizer_free(&f->t);
    lumi_model_free(&f->m);
}

START_TEST(default_stops_are_the_tokenizers) {
    Fixture f;
    load(&f, "llama2");
    LumiStopSet s;
    lumi_default_stops(&f.t, &s);
    ck_assert(lumi_stops_has(&s, f.t.eos_id) && lumi_stops_has(&s, f.t.bos_id));
    /* a tokenizer whose metadata names other ids gets those, not llama2.c's */
    LumiTokenizer other = f.t;
    other.n_stop = 1;
    other.stop[0] = 300;
    other.bos_id = 301;
    lumi_default_stops(&other, &s);
    ck_assert_int_eq(s.n, 2);
    ck_assert(lumi_stops_has(&s, 300) && lumi_stops_has(&s, 301) && !lumi_stops_has(&s, f.t.eos_id));
    unload(&f);
}
END_TEST

/* The loop stops before a stop-set token, keeps nothing of it, and the
 * same run without that stop continues with it. */
START_TEST(generate_stops_at_the_stop_set) {
    Fixture f;
    load(&f, "llama2");
    LumiErr e;
    LumiPathSpec p;
    lumi_path_default(&p);
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    int *prompt, n;
    lumi_encode(&f.t, "In the beginning", 1, 0, &prompt, &n);
    int free_toks[8], stopped[8];
    LumiGenResult r1, r2;
    for (int pass = 0; pass < 2; pass++) {
        LumiSession s;
        LumiSampler smp;
        ck_assert(lumi_sampler_init(&smp, &sc, f.m.cfg.vocab_size, &e) == 0);
        ck_assert(lumi_session_open(&s, &f.m, &p, &e) == 0);
        LumiStopSet stops = {.n = 0};
        if (pass) lumi_stops_add(&stops, free_toks[3]); /* the 4th greedy token ends the run */
        LumiGenOpts go = {.stops = &stops, .max_new = 8};
        ck_assert_msg(lumi_generate(&s, prompt, n, &smp, &go, pass ? stopped : free_toks, pass ? &r2 : &r1, &e) == 0,
                      "%s", e.msg);
        lumi_session_close(&s);
        lumi_sampler_free(&smp);
    }
    ck_assert_int_eq(r1.n_tokens, 8);
    ck_assert_int_eq(r1.stop, LUMI_GEN_STEPS);
    ck_assert_int_eq(r1.n_fed, 7); /* the last kept token is not fed back */
    int first = 0;
    while (free_toks[first] != free_toks[3]) first++; /* it may occur earlier */
    ck_assert_int_eq(r2.n_tokens, first);
    ck_assert_int_eq(r2.stop, LUMI_GEN_STOP_TOKEN);
    ck_assert_int_eq(r2.stop_token, free_toks[3]);
    ck_assert(!memcmp(stopped, free_toks, sizeof(int) * (size_t)first));
    free(prompt);
    unload(&f);
}
END_TEST

/* Near the end of the context the loop stops with "context" before a feed
 * would overflow; feed_last feeds the token that reaches max_new. */
START_TEST(generate_stops_at_the_context) {
    Fixture f;
    load(&f, "llama2");
    LumiErr e;
    LumiPathSpec p;
    lumi_path_default(&p);
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    int T = f.m.cfg.seq_len, *prompt = malloc(sizeof(int) * (size_t)T), toks[16];
    for (int i = 0; i < T; i++) prompt[i] = i == 0 ? f.t.bos_id : 300 + i % 50;
    LumiSession s;
    LumiSampler smp;
    ck_assert(lumi_sampler_init(&smp, &sc, f.m.cfg.vocab_size, &e) == 0);
    ck_assert(lumi_session_open(&s, &f.m, &p, &e) == 0);
    LumiGenOpts go = {.max_new = 10};
    LumiGenResult r;
    ck_assert_msg(lumi_generate(&s, prompt, T - 3, &smp, &go, toks, &r, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(r.stop, LUMI_GEN_CONTEXT);
    ck_assert_int_eq(r.n_tokens, 3);
    ck_assert_int_le(s.n_past, T);
    lumi_session_reset(&s);
    LumiGenOpts last = {.max_new = 3, .feed_last = 1};
    ck_assert_msg(lumi_generate(&s, prompt, T - 3, &smp, &last, toks, &r, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(r.stop, LUMI_GEN_STEPS);
    ck_assert_int_eq(r.n_fed, 3);
    ck_assert_int_eq(s.n_past, T);
    lumi_session_close(&s);
    lumi_sampler_free(&smp);
    free(prompt);
    unload(&f);
}
END_TEST

static void expect_ids(const int *got, int n_got, const int *want, int n_want, const char *what) {
    ck_assert_msg(n_got == n_want, "%s: %d ids, want %d", what, n_got, n_want);
    ck_assert_msg(!memcmp(got, want, sizeof(int) * (size_t)n_want), "%s: ids differ", what);
}

/* llama2: <s> + the [INST] text encoded in one piece (system inside the first
 * turn), the reply, </s>; the second turn starts again with <s>[INST]. */
START_TEST(llama2_template_as_ids) {
    Fixture f;
    load(&f, "llama2");
    LumiConversation c;
    lumi_conv_init(&c, "Be brief.");
    lumi_conv_user(&c, "Who made <s> the earth?");
    int *ids, n, *txt, nt;
    lumi_template_render(&f.tpl, &c, &ids, &n);
    lumi_encode(&f.t, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWho made <s> the earth? [/INST]", 1, 0, &txt, &nt);
    ck_assert_int_eq(txt[0], f.t.bos_id);
    expect_ids(ids, n, txt, nt, "first turn");
    /* "<s>" typed by the user is text: BOS occurs once */
    int bos = 0;
    for (int i = 0; i < n; i++) bos += ids[i] == f.t.bos_id;
    ck_assert_int_eq(bos, 1);
    free(ids);
    int reply[] = {300, 301};
    lumi_conv_reply(&c, reply, 2);
    lumi_conv_user(&c, "And then?");
    lumi_template_render(&f.tpl, &c, &ids, &n);
    int *t2, n2;
    lumi_encode(&f.t, "[INST] And then? [/INST]", 1, 0, &t2, &n2);
    ck_assert_int_eq(n, nt + 3 + n2);
    ck_assert(!memcmp(ids, txt, sizeof(int) * (size_t)nt));
    ck_assert_int_eq(ids[nt], 300);
    ck_assert_int_eq(ids[nt + 1], 301);
    ck_assert_int_eq(ids[nt + 2], f.t.eos_id);
    expect_ids(ids + nt + 3, n2, t2, n2, "second turn");
    free(ids);
    free(txt);
    free(t2);
    /* dropping the first turn moves the system prompt into the next one */
    c.first = 1;
    lumi_template_render(&f.tpl, &c, &ids, &n);
    lumi_encode(&f.t, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nAnd then? [/INST]", 1, 0, &txt, &nt);
    expect_ids(ids, n, txt, nt, "after a drop");
    free(ids);
    free(txt);
    lumi_conv_free(&c);
    unload(&f);
}
END_TEST

START_TEST(templates_refuse_what_the_vocabulary_lacks) {
    Fixture f;
    load(&f, "llama2");
    LumiChatTemplate t;
    LumiErr e;
    char why[160];
    ck_assert(lumi_template_open("llama3", &f.t, &t, why, sizeof why, &e) != 0);
    ck_assert_msg(strstr(e.msg, "llama3") && strstr(e.msg, "<|begin_of_text|>"), "%s", e.msg);
    ck_assert(lumi_template_open("chatml", &f.t, &t, why, sizeof why, &e) != 0);
    ck_assert_msg(strstr(e.msg, "<|im_start|>"), "%s", e.msg);
    ck_assert(lumi_template_open("vicuna", &f.t, &t, why, sizeof why, &e) != 0);
    ck_assert_msg(strstr(e.msg, "unknown template 'vicuna'"), "%s", e.msg);
    ck_assert(lumi_template_open("auto", &f.t, &t, why, sizeof why, &e) == 0);
    ck_assert_str_eq(t.name, "llama2");
    ck_assert(why[0]);
    ck_assert(lumi_stops_has(&t.stops, f.t.eos_id));
    unload(&f);
}
END_TEST

/* kjv512.bin plus marker pieces at ids 512.. (a llama2.c tokenizer.bin):
 * a vocabulary with Llama 3 and/or ChatML special tokens to render with. */
static const char *marker_tokenizer(const char *name, int llama3, int chatml) {
    static const char *const L3[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    static const char *const CM[] = {"<|im_start|>", "<|im_end|>"};
    char *data;
    size_t len;
    LumiErr e;
    ck_assert(lumi_read_file(DEFAULT_TOKENIZER, &data, &len, &e) == 0);
    const char *path = th_path(name);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    int32_t maxlen;
    memcpy(&maxlen, data, 4);
    if (maxlen < 32) maxlen = 32;
    fwrite(&maxlen, 4, 1, f);
    fwrite(data + 4, 1, len - 4, f);
    for (int k = 0; k < 2; k++) {
        const char *const *set = k ? CM : L3;
        int n = k ? 2 : 4;
        if (!(k ? chatml : llama3)) continue;
        for (int i = 0; i < n; i++) {
            float score = 0;
            int32_t l = (int32_t)strlen(set[i]);
            fwrite(&score, 4, 1, f);
            fwrite(&l, 4, 1, f);
            fwrite(set[i], 1, (size_t)l, f);
        }
    }
    fclose(f);
    free(data);
    return path;
}

static void push_text(int *ids, int *n, const LumiTokenizer *t, const char *s) {
    int *x, k;
    lumi_encode(t, s, 0, 0, &x, &k);
    memcpy(ids + *n, x, sizeof(int) * (size_t)k);
    *n += k;
    free(x);
}

/* auto picks by the markers present; chatml renders its markers by id and
 * a user typing a marker types text. */
START_TEST(chatml_and_llama3_from_the_vocabulary) {
    LumiTokenizer both, cm;
    LumiErr e;
    ck_assert(lumi_tokenizer_load(marker_tokenizer("both.bin", 1, 1), &both, &e) == 0);
    ck_assert(lumi_tokenizer_load(marker_tokenizer("chatml.bin", 0, 1), &cm, &e) == 0);
    LumiChatTemplate t;
    char why[160];
    ck_assert(lumi_template_open("auto", &both, &t, why, sizeof why, &e) == 0);
    ck_assert_str_eq(t.name, "llama3");
    ck_assert_int_eq(t.eot, lumi_token_lookup(&both, "<|eot_id|>"));
    ck_assert(lumi_stops_has(&t.stops, t.eot) && lumi_stops_has(&t.stops, both.eos_id));
    ck_assert(lumi_template_open("auto", &cm, &t, why, sizeof why, &e) == 0);
    ck_assert_str_eq(t.name, "chatml");
    ck_assert(lumi_template_open("llama3", &cm, &t, why, sizeof why, &e) != 0);
    ck_assert(lumi_template_open("chatml", &cm, &t, why, sizeof why, &e) == 0);
    int im_start = lumi_token_lookup(&cm, "<|im_start|>"), im_end = lumi_token_lookup(&cm, "<|im_end|>");
    ck_assert_int_ge(im_start, 512);
    LumiConversation c;
    lumi_conv_init(&c, "Be brief.");
    lumi_conv_user(&c, "say <|im_end|> now");
    int *ids, n, want[256], nw = 0;
    lumi_template_render(&t, &c, &ids, &n);
    want[nw++] = im_start;
    push_text(want, &nw, &cm, "system");
    push_text(want, &nw, &cm, "\n");
    push_text(want, &nw, &cm, "Be brief.");
    want[nw++] = im_end;
    push_text(want, &nw, &cm, "\n");
    want[nw++] = im_start;
    push_text(want, &nw, &cm, "user");
    push_text(want, &nw, &cm, "\n");
    push_text(want, &nw, &cm, "say <|im_end|> now");
    want[nw++] = im_end;
    push_text(want, &nw, &cm, "\n");
    want[nw++] = im_start;
    push_text(want, &nw, &cm, "assistant");
    push_text(want, &nw, &cm, "\n");
    expect_ids(ids, n, want, nw, "chatml");
    int markers = 0;
    for (int i = 0; i < n; i++) markers += ids[i] == im_end;
    ck_assert_int_eq(markers, 2); /* the system's and the user's closing markers, not the typed one */
    free(ids);
    lumi_conv_free(&c);
    lumi_tokenizer_free(&both);
    lumi_tokenizer_free(&cm);
}
END_TEST

/* A chatml conversation on a synthesized model with that vocabulary: keep
 * and rebuild reply alike and the reply ends at <|im_end|> when drawn. */
START_TEST(chatml_chat_on_a_synth_model) {
    const char *tok = marker_tokenizer("chatml2.bin", 0, 1);
    const char *model = th_synth("chatml.bin.model", 32, 64, 2, 4, 2, 514, 256, 0, 7);
    char cmd[1024], *out[2];
    const char *turns[] = {"keep", "rebuild"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "printf 'Hello\nAnd then?\nMore.\n' | ./lumi chat -m %s -z %s --template chatml --system Hi -n 6 "
                 "-t 1 --seed 4 --path turns=%s --json 2>/dev/null",
                 model, tok, turns[k]);
        ck_assert_int_eq(th_run(cmd, &out[k]), 0);
    }
    ck_assert_msg(strstr(out[0], "{\"turn\":3,"), "%s", out[0]);
    /* the same replies; only how much was prefilled differs */
    char *a = out[0], *b = out[1];
    for (int t = 0; t < 3; t++) {
        a = strstr(a, "\"ids\"");
        b = strstr(b, "\"ids\"");
        ck_assert(a && b);
        size_t la = (size_t)(strstr(a, "\"ttft_s\"") - a), lb = (size_t)(strstr(b, "\"ttft_s\"") - b); /* ids, text */
        ck_assert_msg(la == lb && !memcmp(a, b, la), "turn %d: %.*s vs %.*s", t + 1, (int)la, a, (int)lb, b);
        a += la;
        b += lb;
    }
    free(out[0]);
    free(out[1]);
}
END_TEST

START_TEST(turn_text_is_checked) {
    LumiErr e;
    ck_assert(lumi_chat_check_text("héllo ✓ 😀", "t", &e) == 0);
    const char *bad[] = {"", "  \t", "\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(lumi_chat_check_text(bad[i], "t", &e) != 0, "accepted bad text %zu", i);
}
END_TEST

/* A conversation on one path; rows[t] = logits of positions [pos0[t], pos0[t] + nrows[t]). */
typedef struct {
    float *rows[4];
    int pos0[4], nrows[4], n_ids[4], ids[4][16], new_tokens[4];
} Conv;

static const char *const TURNS[] = {"Who made the heaven?", "What was upon the deep?", "What did God say?"};

/* stale != 0: after turn 1, the cache is rebuilt with one token changed
 * while the history says it holds the conversation (a keep bug). */
static void converse(const Fixture *f, const char *path, int stale, Conv *cv) {
    LumiErr e;
    LumiPathSpec p;
    lumi_path_default(&p);
    ck_assert_msg(lumi_path_parse(path, &p, &e) == 0, "%s", e.msg);
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    LumiSession s;
    LumiSampler smp;
    ck_assert(lumi_sampler_init(&smp, &sc, f->m.cfg.vocab_size, &e) == 0);
    ck_assert(lumi_session_open(&s, &f->m, &p, &e) == 0);
    LumiChat c;
    lumi_chat_init(&c, &s, &smp, &f->tpl, lumi_turns_of(&p), "Be brief.", 12);
    size_t V = (size_t)f->m.cfg.vocab_size;
    for (int t = 0; t < 3; t++) {
        LumiTurnResult r;
        cv->rows[t] = malloc(sizeof(float) * V * (size_t)f->m.cfg.seq_len);
        ck_assert_msg(lumi_chat_turn(&c, TURNS[t], NULL, 0, NULL, NULL, cv->rows[t], &cv->pos0[t], &r, &e) == 0, "%s",
                      e.msg);
        ck_assert_int_eq(r.dropped, 0);
        cv->nrows[t] = r.new_tokens + (r.stop == LUMI_GEN_STOP_TOKEN ? r.n_ids : r.n_ids - 1);
        cv->n_ids[t] = r.n_ids;
        cv->new_tokens[t] = r.new_tokens;
        memcpy(cv->ids[t], r.ids, sizeof(int) * (size_t)r.n_ids);
        if (stale && t == 0) {
            int held = s.n_past, *h = malloc(sizeof(int) * (size_t)held);
            memcpy(h, s.history, sizeof(int) * (size_t)held);
            int k = held / 2, orig = h[k];
            h[k] = (orig + 1) % (int)V;
            lumi_session_reset(&s);
            ck_assert(lumi_session_feed(&s, h, held, NULL, &e) == 0);
            s.history[k] = orig; /* the cache holds another token than the history says */
            free(h);
        }
    }
    lumi_chat_free(&c);
    lumi_session_close(&s);
    lumi_sampler_free(&smp);
}

static void conv_free(Conv *cv) {
    for (int t = 0; t < 3; t++) free(cv->rows[t]);
}

/* Positions both computed in each turn: 1 if all bitwise equal. *n counts them. */
static int same_rows(const Conv *a, const Conv *b, int V, int *n) {
    int equal = 1;
    *n = 0;
    for (int t = 0; t < 3; t++) {
        int lo = a->pos0[t] > b->pos0[t] ? a->pos0[t] : b->pos0[t];
        int hi_a = a->pos0[t] + a->nrows[t], hi_b = b->pos0[t] + b->nrows[t], hi = hi_a < hi_b ? hi_a : hi_b;
        for (int p = lo; p < hi; p++, (*n)++)
            if (memcmp(a->rows[t] + (size_t)(p - a->pos0[t]) * V, b->rows[t] + (size_t)(p - b->pos0[t]) * V,
                       sizeof(float) * (size_t)V))
                equal = 0;
    }
    return equal;
}

START_TEST(keep_equals_rebuild_bitwise) {
    Fixture f;
    load(&f, "llama2");
    const char *backends[] = {"ref", "cpu"};
    for (int b = 0; b < 2; b++) {
        char pk[96], pr[96];
        snprintf(pk, sizeof pk, "backend=%s,cache=fixed,prefill=chunked:3,turns=keep", backends[b]);
        snprintf(pr, sizeof pr, "backend=%s,cache=fixed,prefill=batched,turns=rebuild", backends[b]);
        Conv keep, rebuild;
        converse(&f, pk, 0, &keep);
        converse(&f, pr, 0, &rebuild);
        int n;
        ck_assert_msg(same_rows(&keep, &rebuild, f.m.cfg.vocab_size, &n), "%s: keep != rebuild", backends[b]);
        /* every position of turns 2 and 3 that keep computed was compared, and keep prefilled less */
        ck_assert_int_gt(n, keep.nrows[1] + keep.nrows[2]);
        ck_assert_int_eq(rebuild.pos0[2], 0);
        ck_assert_int_gt(keep.pos0[2], 0);
        ck_assert_int_lt(keep.new_tokens[2], rebuild.new_tokens[2]);
        for (int t = 0; t < 3; t++) {
            ck_assert_int_eq(keep.n_ids[t], rebuild.n_ids[t]);
            ck_assert(!memcmp(keep.ids[t], rebuild.ids[t], sizeof(int) * (size_t)keep.n_ids[t]));
        }
        conv_free(&keep);
        conv_free(&rebuild);
    }
    unload(&f);
}
END_TEST

/* The same comparison catches a keep whose cache went stale. */
START_TEST(stale_cache_is_caught) {
    Fixture f;
    load(&f, "llama2");
    Conv keep, rebuild;
    converse(&f, "backend=ref,cache=fixed,prefill=batched,turns=keep", 1, &keep);
    converse(&f, "backend=ref,cache=fixed,prefill=batched,turns=rebuild", 0, &rebuild);
    int n;
    ck_assert_msg(!same_rows(&keep, &rebuild, f.m.cfg.vocab_size, &n), "a stale cache went unnoticed");
    conv_free(&keep);
    conv_free(&rebuild);
    unload(&f);
}
END_TEST

/* A full context drops the oldest turns (never the system prompt) and keep
 * rebuilds once; the turn after that matches rebuild again. */
START_TEST(overflow_drops_whole_turns) {
    Fixture f;
    load(&f, "llama2");
    LumiErr e;
    const char *paths[] = {"turns=keep", "turns=rebuild"};
    int ids[2][8][24], n_ids[2][8], dropped[2] = {0, 0}, turns = 8;
    for (int k = 0; k < 2; k++) {
        LumiPathSpec p;
        lumi_path_default(&p);
        ck_assert(lumi_path_parse(paths[k], &p, &e) == 0);
        LumiSamplerCfg sc;
        lumi_sampler_cfg_default(&sc);
        LumiSession s;
        LumiSampler smp;
        ck_assert(lumi_sampler_init(&smp, &sc, f.m.cfg.vocab_size, &e) == 0);
        ck_assert(lumi_session_open(&s, &f.m, &p, &e) == 0);
        LumiChat c;
        lumi_chat_init(&c, &s, &smp, &f.tpl, lumi_turns_of(&p), "Be brief.", 24);
        for (int t = 0; t < turns; t++) {
            LumiTurnResult r;
            ck_assert_msg(lumi_chat_turn(&c, "And what did the LORD say unto Moses?", NULL, 0, NULL, NULL, NULL, NULL,
                                         &r, &e) == 0,
                          "%s", e.msg);
            dropped[k] += r.dropped;
            if (r.dropped && k == 0) ck_assert_int_eq(r.cached_tokens, 0); /* keep rebuilt once */
            n_ids[k][t] = r.n_ids;
            memcpy(ids[k][t], r.ids, sizeof(int) * (size_t)r.n_ids);
            ck_assert_int_le(s.n_past, f.m.cfg.seq_len);
        }
        ck_assert(c.conv.system != NULL);
        lumi_chat_free(&c);
        lumi_session_close(&s);
        lumi_sampler_free(&smp);
    }
    ck_assert_int_gt(dropped[0], 0);
    ck_assert_int_eq(dropped[0], dropped[1]);
    for (int t = 0; t < turns; t++) {
        ck_assert_int_eq(n_ids[0][t], n_ids[1][t]);
        ck_assert(!memcmp(ids[0][t], ids[1][t], sizeof(int) * (size_t)n_ids[0][t]));
    }
    unload(&f);
}
END_TEST

/* A refused turn (longer than the context) leaves the conversation as it was. */
START_TEST(refused_turn_keeps_the_conversation) {
    Fixture f;
    load(&f, "llama2");
    LumiErr e;
    LumiPathSpec p;
    lumi_path_default(&p);
    LumiSamplerCfg sc;
    lumi_sampler_cfg_default(&sc);
    LumiSession s;
    LumiSampler smp;
    ck_assert(lumi_sampler_init(&smp, &sc, f.m.cfg.vocab_size, &e) == 0);
    ck_assert(lumi_session_open(&s, &f.m, &p, &e) == 0);
    LumiChat c;
    lumi_chat_init(&c, &s, &smp, &f.tpl, lumi_turns_of(&p), NULL, 8);
    LumiTurnResult r;
    ck_assert(lumi_chat_turn(&c, "Hello", NULL, 0, NULL, NULL, NULL, NULL, &r, &e) == 0);
    char big[4000];
    for (int i = 0; i < 3999; i++) big[i] = "abc "[i % 4];
    big[3999] = 0;
    ck_assert(lumi_chat_turn(&c, big, NULL, 0, NULL, NULL, NULL, NULL, &r, &e) != 0);
    ck_assert_msg(strstr(e.msg, "context"), "%s", e.msg);
    ck_assert(lumi_chat_turn(&c, "", NULL, 0, NULL, NULL, NULL, NULL, &r, &e) != 0);
    ck_assert_int_eq(c.conv.n_turns, 1);
    ck_assert_int_eq(c.conv.first, 0);
    ck_assert(lumi_chat_turn(&c, "Again", NULL, 0, NULL, NULL, NULL, NULL, &r, &e) == 0);
    ck_assert_int_eq(r.turn, 2);
    ck_assert_int_gt(r.cached_tokens, 0);
    lumi_chat_free(&c);
    lumi_session_close(&s);
    lumi_sampler_free(&smp);
    unload(&f);
}
END_TEST

static const char *write_config(const char *name, const char *body) {
    const char *path = th_path(name);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fprintf(f, "%soutput: %s\n", body, th_tmpdir());
    fclose(f);
    return path;
}

#define CHAT_HEAD                                                                                                      \
    "kind: chat\nmodel: " DEFAULT_MODEL "\ntokenizer: " DEFAULT_TOKENIZER                                              \
    "\ntemplate: llama2\nsystem: \"Be brief.\"\nprompts: [\"Who made the heaven?\", \"What did God say?\"]\n"          \
    "replies: [\"In the beginning.\"]\nsteps: 6\nreference: {backend: ref, cache: fixed, prefill: token}\n"

/* lumi check on a chat config: keep and rebuild pass on ref and cpu; a
 * canary moved by 1e-6 in turn 2 fails naming the turn. */
START_TEST(chat_check_passes_and_canary_fails) {
    char cmd[1024], *out = NULL;
    const char *ok = write_config("chat_ok.yaml", "name: chat_ok\n" CHAT_HEAD
                                                  "paths: {backend: [ref, cpu], cache: [fixed], prefill: [batched]}\n"
                                                  "turns: [keep, rebuild]\n");
    snprintf(cmd, sizeof cmd, "./lumi check %s 2>&1", ok);
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "turns=keep") && strstr(out, "turns=rebuild") && !strstr(out, "FAIL"), "%s", out);
    free(out);
    const char *bad = write_config("chat_canary.yaml",
                                   "name: chat_canary\n" CHAT_HEAD "paths:\n  - {cache: fixed, prefill: batched}\n"
                                   "  - {cache: fixed, prefill: batched, canary: {position: 62, epsilon: 1e-6}}\n"
                                   "turns: [keep]\n");
    snprintf(cmd, sizeof cmd, "./lumi check %s 2>&1", bad);
    rc = th_run(cmd, &out);
    ck_assert_msg(rc == 1, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "canary@62") && strstr(out, "FAIL  turn 2 position 62"), "%s", out);
    free(out);
}
END_TEST

/* configs/chat-llama3.yaml, copied with its output in the test folder;
 * with `paths` non-NULL, everything from its `paths:` on is replaced by
 * paths and it is renamed (a variant). Returns lumi check's exit status. */
static int check_llama3_config(const char *paths, char **out) {
    char *text;
    size_t len;
    LumiErr e;
    ck_assert_msg(lumi_read_file("configs/chat-llama3.yaml", &text, &len, &e) == 0, "%s", e.msg);
    const char *copy = th_path(paths ? "chat-llama3-canary.yaml" : "chat-llama3.yaml");
    FILE *f = fopen(copy, "w");
    ck_assert(f != NULL);
    if (paths) {
        char *cut = strstr(text, "\npaths:"), *name = strstr(text, "name: chat-llama3\n");
        ck_assert(cut && name);
        cut[1] = 0;
        name[17] = 0; /* the text before and after "name: chat-llama3" */
        fprintf(f, "%s-canary\n%s%s", text, name + 18, paths);
    } else {
        fputs(text, f);
    }
    fprintf(f, "\noutput: %s\n", th_tmpdir());
    fclose(f);
    free(text);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "./lumi check %s 2>&1", copy);
    return th_run(cmd, out);
}

/* The shipped Llama 3 chat: the real special tokens, keep == rebuild bitwise
 * on ref and cpu; the same conversation with a logit of turn 2 moved by
 * 1e-6 on one path fails naming that path, turn and position. */
START_TEST(chat_llama3_config) {
    SKIP_UNLESS_FILE(SHARED_MODELS "/llama3-tokenizer/tokenizer.json");
    char *out;
    int rc = check_llama3_config(NULL, &out);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "template llama3") && strstr(out, "backend=cpu,cache=fixed,prefill=batched,turns=keep") &&
                      strstr(out, "backend=ref,cache=fixed,prefill=batched,turns=rebuild") && !strstr(out, "FAIL"),
                  "%s", out);
    free(out);
    rc = check_llama3_config("paths:\n  - {backend: ref, cache: fixed, prefill: batched}\n"
                             "  - {backend: ref, cache: fixed, prefill: batched, canary: {position: 50, epsilon: 1e-6}}\n"
                             "turns: [keep]\nreference: {backend: ref, cache: fixed, prefill: token}\n",
                             &out);
    ck_assert_msg(rc == 1, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "canary@50") && strstr(out, "FAIL  turn 2 position 50") && strstr(out, "1 of 2 paths"),
                  "%s", out);
    free(out);
}
END_TEST

START_TEST(chat_cli_pipe) {
    char *out = NULL;
    int rc = th_run("printf 'Who made the heaven?\\nAnd the earth?\\n' | ./lumi chat -m " DEFAULT_MODEL
                    " -z " DEFAULT_TOKENIZER " -n 5 --json 2>/dev/null",
                    &out);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "{\"turn\":1,") && strstr(out, "{\"turn\":2,") && strstr(out, "\"cached_tokens\":0,"),
                  "%s", out);
    free(out);
    const char *bad[] = {"printf 'hi\\n\\n'", "printf 'hi\\n\\377\\n'"};
    for (int i = 0; i < 2; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s | ./lumi chat -m " DEFAULT_MODEL " -z " DEFAULT_TOKENIZER " -n 3 2>&1", bad[i]);
        rc = th_run(cmd, &out);
        ck_assert_msg(rc == 2 && strstr(out, "stdin line 2"), "rc %d: %s", rc, out);
        free(out);
    }
    rc = th_run("./lumi chat -m " DEFAULT_MODEL " -z " DEFAULT_TOKENIZER " --template llama3 </dev/null 2>&1", &out);
    ck_assert_msg(rc == 2 && strstr(out, "llama3"), "rc %d: %s", rc, out);
    free(out);
    ck_assert_int_eq(th_run("./lumi chat --help >/dev/null", NULL), 0);
}
END_TEST

Suite *suite_chat(void) {
    Suite *s = suite_create("chat");
    TCase *tc = tcase_create("chat");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, default_stops_are_the_tokenizers);
    tcase_add_test(tc, generate_stops_at_the_stop_set);
    tcase_add_test(tc, generate_stops_at_the_context);
    tcase_add_test(tc, llama2_template_as_ids);
    tcase_add_test(tc, templates_refuse_what_the_vocabulary_lacks);
    tcase_add_test(tc, chatml_and_llama3_from_the_vocabulary);
    tcase_add_test(tc, chatml_chat_on_a_synth_model);
    tcase_add_test(tc, turn_text_is_checked);
    tcase_add_test(tc, keep_equals_rebuild_bitwise);
    tcase_add_test(tc, stale_cache_is_caught);
    tcase_add_test(tc, overflow_drops_whole_turns);
    tcase_add_test(tc, refused_turn_keeps_the_conversation);
    tcase_add_test(tc, chat_check_passes_and_canary_fails);
    tcase_add_test(tc, chat_llama3_config);
    tcase_add_test(tc, chat_cli_pipe);
    suite_add_tcase(s, tc);
    return s;
}
