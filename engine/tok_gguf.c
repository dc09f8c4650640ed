/* tok_gguf.c: vocabularies embedded in GGUF files. tokenizer.ggml.model
 * "llama": sentencepiece pieces (U+2581 for spaces) with scores and types;
 * "gpt2": byte-level BPE, tokens in GPT-2's byte-to-unicode spelling plus
 * "a b" merges, pre-tokenizer named by tokenizer.ggml.pre (llama-bpe =
 * Llama 3, qwen2 = Qwen). BOS/EOS/EOT ids and add_bos_token from the
 * metadata. The GGUF reader bounds-checked every value already. */
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tok_internal.h"

static int str_eq(const char *s, size_t n, const char *lit) { return n == strlen(lit) && !memcmp(s, lit, n); }

/* Token text: U+2581 -> ' ' for sentencepiece, byte-level decoding for
 * gpt2 (control/user tokens, e.g. <|eot_id|>, are spelled as themselves). */
static int token_bytes(const char *path, int gpt2, int type, int i, const char *s, size_t n, char *out, size_t *k,
                       LumiErr *e) {
    if (gpt2 && (type == LUMI_PIECE_NORMAL || type == 0)) {
        if (lumi_tok_bytelevel_decode(s, n, out, k) != 0)
            return lumi_err(e, "%s: tokenizer.ggml.tokens[%d]: not a byte-level token", path, i);
        return 0;
    }
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        if (!gpt2 && j + 2 < n && (unsigned char)s[j] == 0xE2 && (unsigned char)s[j + 1] == 0x96 &&
            (unsigned char)s[j + 2] == 0x81) {
            out[m++] = ' ';
            j += 2;
        } else out[m++] = s[j];
    }
    *k = m;
    return 0;
}

static int read_tokens(const char *path, const GgufFile *g, const GgufKV *toks, int gpt2, LumiTokenizer *t, LumiErr *e) {
    const GgufKV *scores = lumi_gguf_find(g, "tokenizer.ggml.scores");
    const GgufKV *types = lumi_gguf_find(g, "tokenizer.ggml.token_type");
    if (scores && (scores->type != GGUF_ARRAY || scores->arr_type != GGUF_F32 || scores->arr_n != toks->arr_n))
        return lumi_err(e, "%s: tokenizer.ggml.scores: not %llu floats", path, (unsigned long long)toks->arr_n);
    if (types && (types->type != GGUF_ARRAY || types->arr_type != GGUF_I32 || types->arr_n != toks->arr_n))
        return lumi_err(e, "%s: tokenizer.ggml.token_type: not %llu int32s", path, (unsigned long long)toks->arr_n);
    lumi_tok_alloc(t, (int)toks->arr_n);
    size_t pos = 0;
    char buf[4096];
    for (int i = 0; i < t->vocab_size; i++) {
        const char *s;
        uint64_t len;
        size_t k;
        int32_t type = LUMI_PIECE_NORMAL;
        lumi_gguf_next_str(g, toks, &pos, &s, &len);
        if (types) memcpy(&type, types->val + 12 + 4 * (size_t)i, 4);
        if (type < 1 || type > 6) return lumi_err(e, "%s: tokenizer.ggml.token_type[%d]: %d is not a type", path, i, type);
        if (len > sizeof buf) return lumi_err(e, "%s: tokenizer.ggml.tokens[%d]: %llu bytes (at most 4096)", path, i, (unsigned long long)len);
        if (token_bytes(path, gpt2, type, i, s, (size_t)len, buf, &k, e) != 0) return -1;
        lumi_tok_set(t, i, buf, k);
        t->type[i] = (unsigned char)type;
        if (scores) memcpy(&t->scores[i], scores->val + 12 + 4 * (size_t)i, 4);
    }
    return 0;
}

static int read_merges(const char *path, const GgufFile *g, LumiTokenizer *t, LumiErr *e) {
    const GgufKV *m = lumi_gguf_find(g, "tokenizer.ggml.merges");
    if (!m || m->type != GGUF_ARRAY || m->arr_type != GGUF_STRING)
        return lumi_err(e, "%s: tokenizer.ggml.merges: missing (a gpt2 vocabulary needs them)", path);
    t->pairs = lumi_tok_pairs_new((size_t)m->arr_n);
    size_t pos = 0;
    char a[2048], cat[4096];
    for (uint64_t i = 0; i < m->arr_n; i++) {
        const char *s;
        uint64_t len;
        lumi_gguf_next_str(g, m, &pos, &s, &len);
        const char *sp = memchr(s, ' ', (size_t)len);
        size_t la, lb;
        if (!sp || memchr(sp + 1, ' ', (size_t)len - (size_t)(sp + 1 - s)) || len > sizeof a ||
            lumi_tok_bytelevel_decode(s, (size_t)(sp - s), a, &la) != 0 ||
            lumi_tok_bytelevel_decode(sp + 1, (size_t)len - (size_t)(sp + 1 - s), a + la, &lb) != 0)
            return lumi_err(e, "%s: tokenizer.ggml.merges[%llu]: not \"left right\" byte-level tokens", path, (unsigned long long)i);
        int ia = lumi_tok_find(t, a, la), ib = lumi_tok_find(t, a + la, lb);
        memcpy(cat, a, la + lb);
        int merged = lumi_tok_find(t, cat, la + lb);
        if (ia < 0 || ib < 0 || merged < 0)
            return lumi_err(e, "%s: tokenizer.ggml.merges[%llu]: names a token that is not in tokenizer.ggml.tokens", path,
                            (unsigned long long)i);
        lumi_tok_pairs_put(t->pairs, ia, ib, (int)i, merged);
    }
    return 0;
}

static int pre_pattern(const char *path, const GgufFile *g, const char **pat, LumiErr *e) {
    const char *s;
    size_t n;
    int r = lumi_gguf_get_str(g, "tokenizer.ggml.pre", &s, &n);
    if (r == 1 || (r == 0 && (str_eq(s, n, "default") || str_eq(s, n, "gpt-2")))) *pat = LUMI_PAT_GPT2;
    else if (r == 0 && (str_eq(s, n, "llama-bpe") || str_eq(s, n, "llama3"))) *pat = LUMI_PAT_LLAMA3;
    else if (r == 0 && str_eq(s, n, "qwen2")) *pat = LUMI_PAT_QWEN2;
    else if (r == 0) return lumi_err(e, "%s: tokenizer.ggml.pre '%.*s' is not supported (llama-bpe, qwen2, default)", path, (int)n, s);
    else return lumi_err(e, "%s: tokenizer.ggml.pre: not a string", path);
    return 0;
}

static int meta_id(const GgufFile *g, const char *key, int n) {
    int64_t id;
    return lumi_gguf_get_int(g, key, &id) == 0 && id >= 0 && id < n ? (int)id : -1;
}

static int read_ids(const GgufFile *g, int gpt2, LumiTokenizer *t) {
    t->bos_id = meta_id(g, "tokenizer.ggml.bos_token_id", t->vocab_size);
    t->eos_id = meta_id(g, "tokenizer.ggml.eos_token_id", t->vocab_size);
    t->unk_id = meta_id(g, "tokenizer.ggml.unknown_token_id", t->vocab_size);
    if (!gpt2) {
        if (t->bos_id < 0 && !lumi_gguf_find(g, "tokenizer.ggml.bos_token_id")) t->bos_id = 1;
        if (t->eos_id < 0 && !lumi_gguf_find(g, "tokenizer.ggml.eos_token_id")) t->eos_id = 2;
        if (t->unk_id < 0 && !lumi_gguf_find(g, "tokenizer.ggml.unknown_token_id")) t->unk_id = 0;
    }
    const GgufKV *ab = lumi_gguf_find(g, "tokenizer.ggml.add_bos_token");
    t->add_bos = ab && ab->type == GGUF_BOOL ? ab->val[0] != 0 : !gpt2;
    lumi_tok_add_stop(t, t->eos_id);
    lumi_tok_add_stop(t, meta_id(g, "tokenizer.ggml.eot_token_id", t->vocab_size));
    lumi_tok_add_stop(t, meta_id(g, "tokenizer.ggml.eom_token_id", t->vocab_size));
    return 0;
}

static int load(const char *path, const GgufFile *g, LumiTokenizer *t, LumiErr *e) {
    const char *model;
    size_t mlen;
    const GgufKV *toks = lumi_gguf_find(g, "tokenizer.ggml.tokens");
    if (lumi_gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen) != 0 || !toks)
        return lumi_err(e, "%s: no embedded tokenizer (tokenizer.ggml.model / tokens)", path);
    int gpt2 = str_eq(model, mlen, "gpt2");
    if (!gpt2 && !str_eq(model, mlen, "llama"))
        return lumi_err(e, "%s: tokenizer.ggml.model '%.*s' is not supported (llama, gpt2)", path, (int)mlen, model);
    if (toks->type != GGUF_ARRAY || toks->arr_type != GGUF_STRING || toks->arr_n < 3 || toks->arr_n > LUMI_TOK_MAX_VOCAB)
        return lumi_err(e, "%s: tokenizer.ggml.tokens: needs 3..%d strings", path, LUMI_TOK_MAX_VOCAB);
    if (read_tokens(path, g, toks, gpt2, t, e) != 0) return -1;
    int dup;
    lumi_tok_index(t, &dup);
    read_ids(g, gpt2, t);
    t->format = "gguf";
    if (!gpt2) {
        t->kind = LUMI_TOK_SPM;
        t->add_dummy_prefix = 1;
        if (!lumi_gguf_find(g, "tokenizer.ggml.token_type")) lumi_tok_spm_infer_types(t);
        lumi_tok_spm_finish(t);
        return 0;
    }
    /* control and user-defined tokens are matched in text as llama.cpp
     * does: control ones only when asked */
    for (int i = 0; i < t->vocab_size; i++)
        if (t->type[i] == LUMI_PIECE_CONTROL || t->type[i] == LUMI_PIECE_USER)
            lumi_tok_add(t, t->vocab[i], (size_t)t->len[i], i, t->type[i] == LUMI_PIECE_CONTROL);
    const char *pat;
    if (lumi_tok_bpe_finish(t, path, e) != 0 || read_merges(path, g, t, e) != 0 || pre_pattern(path, g, &pat, e) != 0)
        return -1;
    t->ignore_merges = pat == LUMI_PAT_LLAMA3; /* as Llama 3's tokenizer.json says */
    t->regex = lumi_tok_regex_new(pat, strlen(pat), path, e);
    return t->regex ? 0 : -1;
}

int lumi_tok_load_gguf(const char *path, LumiTokenizer *t, LumiErr *e) {
    GgufFile g;
    if (lumi_gguf_open(path, &g, e) != 0) return -1;
    int rc = load(path, &g, t, e);
    lumi_gguf_close(&g, 0);
    return rc;
}
