/* tok_meta.c: BOS and end tokens from the metadata beside a tokenizer or
 * model: tokenizer_config.json (bos_token, eos_token, add_bos_token),
 * generation_config.json and config.json (bos_token_id, eos_token_id as an
 * int or a list), and the end-of-turn tokens of the families lumi knows
 * (Llama 3 <|eot_id|> / <|eom_id|>, Qwen <|im_end|>, <|endoftext|>).
 * Nothing here is hard-coded by id: every id comes from a file. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tok_internal.h"

/* "<s>" or {"content": "<s>", ...} -> id of that token, or -1 */
static int token_of(const LumiTokenizer *t, json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    const char *s = json_string_value(v);
    if (!s) return -1;
    int id = lumi_token_special(t, s);
    return id >= 0 ? id : lumi_token_lookup(t, s);
}

static int open_json(const char *dir, const char *name, json_t **out, char *path, size_t cap, LumiErr *e) {
    struct stat st;
    snprintf(path, cap, "%s/%s", dir, name);
    *out = NULL;
    if (stat(path, &st) != 0) return 0;
    if (st.st_size > (64 << 20)) return lumi_err(e, "%s: larger than 64 MiB", path);
    json_error_t je;
    /* ints as doubles: tokenizer_config.json's model_max_length is 1e30 */
    *out = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je);
    if (!*out) return lumi_err(e, "%s: line %d: %s", path, je.line, je.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        return lumi_err(e, "%s: not a JSON object", path);
    }
    return 0;
}

static int id_field(const char *path, const char *key, json_t *v, LumiTokenizer *t, int *first, LumiErr *e) {
    size_t i;
    json_t *x;
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) {
        double d = json_number_value(v);
        int id = d >= 0 && d < t->vocab_size && d == (int)d ? (int)d : -1;
        if (id < 0) return lumi_err(e, "%s: %s: %g is not an id in the vocabulary [0, %d)", path, key, d, t->vocab_size);
        if (*first < 0) *first = (int)id;
        if (!strcmp(key, "eos_token_id")) lumi_tok_add_stop(t, (int)id);
        return 0;
    }
    if (!json_is_array(v) || !strcmp(key, "bos_token_id")) return lumi_err(e, "%s: %s: not an id%s", path, key, strcmp(key, "bos_token_id") ? " or a list of ids" : "");
    json_array_foreach(v, i, x) if (id_field(path, key, x, t, first, e) != 0) return -1;
    return 0;
}

static int tokenizer_config(LumiTokenizer *t, const char *dir, LumiErr *e) {
    char path[4096];
    json_t *j;
    if (open_json(dir, "tokenizer_config.json", &j, path, sizeof path, e) != 0) return -1;
    if (!j) return 0;
    json_t *bos = json_object_get(j, "bos_token"), *eos = json_object_get(j, "eos_token");
    json_t *add = json_object_get(j, "add_bos_token");
    int b = token_of(t, bos), s = token_of(t, eos);
    if (b >= 0) t->bos_id = b;
    if (s >= 0) {
        if (t->eos_id < 0) t->eos_id = s;
        lumi_tok_add_stop(t, s);
    }
    if (json_is_boolean(add)) t->add_bos = json_is_true(add) && t->bos_id >= 0;
    else if (b >= 0 && t->kind == LUMI_TOK_BPE) t->add_bos = 1; /* Llama 3's config names BOS and no flag */
    else if (json_is_null(bos) && t->kind == LUMI_TOK_BPE) t->add_bos = 0;
    json_decref(j);
    return 0;
}

static int ids_config(LumiTokenizer *t, const char *dir, const char *name, LumiErr *e) {
    char path[4096];
    json_t *j;
    if (open_json(dir, name, &j, path, sizeof path, e) != 0) return -1;
    if (!j) return 0;
    int bos = -1, eos = -1;
    int rc = id_field(path, "bos_token_id", json_object_get(j, "bos_token_id"), t, &bos, e);
    if (rc == 0) rc = id_field(path, "eos_token_id", json_object_get(j, "eos_token_id"), t, &eos, e);
    if (rc == 0 && eos >= 0 && t->eos_id < 0) t->eos_id = eos;
    json_decref(j);
    return rc;
}

int lumi_tok_read_meta(LumiTokenizer *t, const char *dir, LumiErr *e) {
    if (tokenizer_config(t, dir, e) != 0 || ids_config(t, dir, "generation_config.json", e) != 0 ||
        ids_config(t, dir, "config.json", e) != 0)
        return -1;
    /* End-of-turn tokens of chat-tuned models, when the vocabulary has them
     * as special tokens. */
    static const char *eot[] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>", "<|eot|>"};
    for (size_t i = 0; i < sizeof eot / sizeof eot[0]; i++) lumi_tok_add_stop(t, lumi_token_special(t, eot[i]));
    return 0;
}
