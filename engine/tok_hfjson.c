/* tok_hfjson.c: Hugging Face tokenizer.json with a byte-level BPE model
 * (Llama 3, Qwen 2/2.5/3, GPT-2 style): model.vocab, model.merges (either
 * "a b" strings or [a, b] lists; rank = position), model.ignore_merges,
 * added_tokens, and the pre-tokenizer's Split regex (or ByteLevel's own
 * GPT-2 regex). Parsed with jansson. What lumi cannot do exactly (another
 * model type, an unknown pre-tokenizer step) is refused, not approximated. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct {
    const char *path;
    const char *pattern; /* borrowed from the JSON tree */
    int bytelevel;
} PreTok;

static int pre_step(PreTok *pt, json_t *step, LumiErr *e) {
    const char *type = json_string_value(json_object_get(step, "type"));
    if (!type) return lumi_err(e, "%s: pre_tokenizer: step without a type", pt->path);
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(step, "pretokenizers");
        size_t i;
        json_t *s;
        if (!json_is_array(list)) return lumi_err(e, "%s: pre_tokenizer.pretokenizers: not a list", pt->path);
        json_array_foreach(list, i, s) if (pre_step(pt, s, e) != 0) return -1;
        return 0;
    }
    if (!strcmp(type, "Split")) {
        const char *re = json_string_value(json_object_get(json_object_get(step, "pattern"), "Regex"));
        const char *beh = json_string_value(json_object_get(step, "behavior"));
        if (!re || pt->pattern || json_is_true(json_object_get(step, "invert")) || !beh || strcmp(beh, "Isolated"))
            return lumi_err(e, "%s: pre_tokenizer.Split: only one Isolated, non-inverted Regex split is supported", pt->path);
        pt->pattern = re;
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        if (json_is_true(json_object_get(step, "add_prefix_space")))
            return lumi_err(e, "%s: pre_tokenizer.ByteLevel.add_prefix_space: true is not supported", pt->path);
        pt->bytelevel = 1;
        json_t *ur = json_object_get(step, "use_regex");
        if (!ur || json_is_true(ur)) {
            /* ByteLevel's own GPT-2 split; after a Split it would split again */
            if (pt->pattern) return lumi_err(e, "%s: pre_tokenizer: a Split followed by ByteLevel.use_regex is not supported", pt->path);
            pt->pattern = LUMI_PAT_GPT2;
        }
        return 0;
    }
    return lumi_err(e, "%s: pre_tokenizer type '%s' is not supported", pt->path, type);
}

static int load_vocab(const char *path, json_t *vocab, int n_total, LumiTokenizer *t, LumiErr *e) {
    const char *key;
    json_t *v;
    char buf[4096];
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_integer_value(v);
        size_t n;
        if (!json_is_integer(v) || id < 0 || id >= n_total)
            return lumi_err(e, "%s: model.vocab['%.40s']: id must be an integer in [0, %d)", path, key, n_total);
        if (strlen(key) > sizeof buf || lumi_tok_bytelevel_decode(key, strlen(key), buf, &n) != 0)
            return lumi_err(e, "%s: model.vocab['%.40s']: not a byte-level token", path, key);
        if (t->vocab[id]) return lumi_err(e, "%s: model.vocab['%.40s']: id %d given twice", path, key, (int)id);
        lumi_tok_set(t, (int)id, buf, n);
    }
    return 0;
}

static int merge_side(const char *path, json_t *vocab, size_t i, const char *s, size_t n, int *id, LumiErr *e) {
    char key[1024];
    if (n >= sizeof key) return lumi_err(e, "%s: merges[%zu]: token too long", path, i);
    memcpy(key, s, n);
    key[n] = 0;
    json_t *v = json_object_get(vocab, key);
    if (!v) return lumi_err(e, "%s: merges[%zu]: '%.40s' is not in model.vocab", path, i, key);
    *id = (int)json_integer_value(v);
    return 0;
}

static int load_merges(const char *path, json_t *merges, json_t *vocab, LumiTokenizer *t, LumiErr *e) {
    size_t i;
    json_t *m;
    t->pairs = lumi_tok_pairs_new(json_array_size(merges));
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(m)) {
            a = json_string_value(m);
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) return lumi_err(e, "%s: merges[%zu]: not \"left right\"", path, i);
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            la = strlen(a);
            lb = strlen(b);
        } else return lumi_err(e, "%s: merges[%zu]: neither \"a b\" nor [a, b]", path, i);
        int ia = -1, ib = -1;
        if (merge_side(path, vocab, i, a, la, &ia, e) || merge_side(path, vocab, i, b, lb, &ib, e)) return -1;
        char cat[2048];
        if (t->len[ia] + t->len[ib] > (int)sizeof cat) return lumi_err(e, "%s: merges[%zu]: token too long", path, i);
        memcpy(cat, t->vocab[ia], (size_t)t->len[ia]);
        memcpy(cat + t->len[ia], t->vocab[ib], (size_t)t->len[ib]);
        int merged = lumi_tok_find(t, cat, (size_t)(t->len[ia] + t->len[ib]));
        if (merged < 0) return lumi_err(e, "%s: merges[%zu]: the merged token is not in model.vocab", path, i);
        lumi_tok_pairs_put(t->pairs, ia, ib, (int)i, merged); /* a repeated pair keeps its first rank */
    }
    return 0;
}

static int load_added(const char *path, json_t *added, LumiTokenizer *t, LumiErr *e) {
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *jid = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        json_int_t id = json_integer_value(jid);
        if (!json_is_integer(jid) || id < 0 || id >= t->vocab_size || !content || !*content)
            return lumi_err(e, "%s: added_tokens[%zu]: needs an id in [0, %d) and a content", path, i, t->vocab_size);
        int special = json_is_true(json_object_get(a, "special"));
        if (!t->vocab[id]) {
            lumi_tok_set(t, (int)id, content, strlen(content));
            t->type[id] = special ? LUMI_PIECE_CONTROL : LUMI_PIECE_USER;
        }
        lumi_tok_add(t, content, strlen(content), (int)id, special);
    }
    return 0;
}

/* post_processor TemplateProcessing "single": [SpecialToken X, Sequence A]
 * means X is prepended: the BOS. */
static void template_bos(json_t *post, LumiTokenizer *t) {
    json_t *single = json_object_get(post, "single");
    const char *name = json_string_value(json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"));
    if (!name) return;
    int id = -1;
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].text, name)) id = t->added[i].id;
    if (id >= 0) {
        t->bos_id = id;
        t->add_bos = 1;
    }
}

static int load_tree(const char *path, json_t *root, LumiTokenizer *t, LumiErr *e) {
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges"), *added = json_object_get(root, "added_tokens");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model)) return lumi_err(e, "%s: model: missing", path);
    if (type && strcmp(type, "BPE")) return lumi_err(e, "%s: model.type '%s' is not supported (BPE only)", path, type);
    if (!json_is_object(vocab) || !json_is_array(merges))
        return lumi_err(e, "%s: model.vocab / model.merges: missing (a BPE model needs both)", path);
    if (added && !json_is_array(added)) return lumi_err(e, "%s: added_tokens: not a list", path);
    json_t *norm = json_object_get(root, "normalizer");
    const char *ntype = json_string_value(json_object_get(norm, "type"));
    /* NFC (Qwen) is applied with libunistring (tok_nfc.c) */
    t->nfc = ntype && !strcmp(ntype, "NFC");
    if (norm && !json_is_null(norm) && (!ntype || strcmp(ntype, "NFC")))
        return lumi_err(e, "%s: normalizer type '%s' is not supported", path, ntype ? ntype : "?");
    PreTok pt = {path, NULL, 0};
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(pre) || pre_step(&pt, pre, e) != 0) {
        if (!json_is_object(pre)) lumi_err(e, "%s: pre_tokenizer: missing (byte-level BPE needs one)", path);
        return -1;
    }
    if (!pt.bytelevel || !pt.pattern) return lumi_err(e, "%s: pre_tokenizer: needs ByteLevel and a split regex", path);
    size_t n_vocab = json_object_size(vocab), n_added = json_array_size(added);
    if (n_vocab < 256 || n_vocab + n_added > LUMI_TOK_MAX_VOCAB)
        return lumi_err(e, "%s: model.vocab: %zu tokens (needs 256..%d)", path, n_vocab, LUMI_TOK_MAX_VOCAB);
    /* ids are dense: the vocabulary and the added tokens size the arrays */
    lumi_tok_alloc(t, (int)(n_vocab + n_added));
    if (load_vocab(path, vocab, t->vocab_size, t, e) != 0) return -1;
    int dup;
    lumi_tok_index(t, &dup);
    if (dup >= 0) return lumi_err(e, "%s: model.vocab: token %d repeats another token's bytes", path, dup);
    if (load_merges(path, merges, vocab, t, e) != 0 || (added && load_added(path, added, t, e) != 0)) return -1;
    /* the index again, now with the added tokens */
    lumi_tok_hash_free(t->index);
    lumi_tok_index(t, &dup);
    /* trim ids past the last one used (added tokens that reuse vocab ids) */
    while (t->vocab_size > 0 && !t->vocab[t->vocab_size - 1]) t->vocab_size--;
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    template_bos(json_object_get(root, "post_processor"), t);
    if (lumi_tok_bpe_finish(t, path, e) != 0) return -1;
    t->regex = lumi_tok_regex_new(pt.pattern, strlen(pt.pattern), path, e);
    return t->regex ? 0 : -1;
}

int lumi_tok_load_hfjson(const char *path, const char *text, size_t size, LumiTokenizer *t, LumiErr *e) {
    json_error_t je;
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
    if (!root) return lumi_err(e, "%s: line %d: %s", path, je.line, je.text);
    t->format = "tokenizer.json";
    int rc = load_tree(path, root, t, e);
    json_decref(root);
    return rc;
}
