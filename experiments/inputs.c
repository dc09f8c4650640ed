/* inputs.c: see inputs.h. */
#include "inputs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../engine/synth.h"

int lumi_file_crc32(const char *path, uint32_t *crc, size_t *bytes, LumiErr *e) {
    LumiMap m;
    if (lumi_map_file(path, &m, e) != 0) return -1;
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *p = m.data;
    for (size_t off = 0; off < m.size;) {
        size_t k = m.size - off > (1u << 30) ? (1u << 30) : m.size - off;
        c = crc32(c, p + off, (uInt)k);
        off += k;
    }
    *crc = (uint32_t)c;
    if (bytes) *bytes = m.size;
    lumi_unmap(&m);
    return 0;
}

/* FNV-1a 64 of the canonical shape string names the cached file. */
int lumi_synth_materialize(const LumiSynthSpec *s, const char *dir, char *buf, size_t n, LumiErr *e) {
    if (!dir) dir = ".cache/synth";
    char key[256];
    snprintf(key, sizeof key, "synth-v0 dim=%d hidden=%d layers=%d heads=%d kv=%d vocab=%d seq=%d unshared=%d seed=%llu",
             s->dim, s->hidden_dim, s->n_layers, s->n_heads, s->n_kv_heads, s->vocab_size, s->seq_len, s->unshared,
             (unsigned long long)s->seed);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(buf, n, "%s/%016llx.bin", dir, (unsigned long long)h);
    struct stat st;
    if (stat(buf, &st) == 0) return 0;
    if (lumi_mkdirs(dir, e) != 0) return -1;
    fprintf(stderr, "synthesizing %s (%s)\n", buf, key);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", buf, (long)getpid());
    if (lumi_synth_write(s, tmp, e) != 0) {
        unlink(tmp);
        /* name the file the user will look for, not the temp file */
        size_t tl = strlen(tmp);
        if (!strncmp(e->msg, tmp, tl)) {
            char rest[sizeof e->msg];
            snprintf(rest, sizeof rest, "%s", e->msg + tl);
            lumi_err(e, "%s%s", buf, rest);
        }
        return -1;
    }
    if (rename(tmp, buf) != 0) {
        unlink(tmp);
        return lumi_err(e, "%s: cannot rename: %s", buf, strerror(errno));
    }
    return 0;
}

char *lumi_detok(const LumiTokenizer *t, int prev, const int *ids, int n, size_t *len) {
    size_t cap = 64, l = 0;
    char *s = lumi_xmalloc(cap);
    for (int i = 0; i < n; i++) {
        int k;
        const char *p = lumi_decode_piece(t, prev, ids[i], &k);
        if (l + (size_t)k + 1 > cap) s = lumi_xrealloc(s, cap = 2 * (l + (size_t)k + 1));
        memcpy(s + l, p, (size_t)k);
        l += (size_t)k;
        prev = ids[i];
    }
    s[l] = 0;
    *len = l;
    return s;
}

static int load_prompt(const LumiYamlDoc *d, const LumiExpCommon *c, int i, LumiExpInputs *in, LumiErr *e) {
    const LumiPromptSrc *p = &c->prompts[i];
    const LumiConfig *mc = &in->model.cfg;
    if (p->ids) {
        in->ids[i] = lumi_xmalloc(sizeof(int) * (size_t)p->n_ids);
        memcpy(in->ids[i], p->ids, sizeof(int) * (size_t)p->n_ids);
        in->n_ids[i] = p->n_ids;
    } else {
        char *text = NULL;
        size_t limit = (size_t)LUMI_PROMPT_BYTES_PER_POS * (size_t)mc->seq_len;
        struct stat st; /* bounded before reading or tokenizing (see LUMI_PROMPT_BYTES_PER_POS) */
        if (p->file && stat(p->file, &st) == 0 && !S_ISREG(st.st_mode))
            return lumi_yaml_err(d, p->node, e, "prompt '%s': %s is not a regular file", p->name, p->file);
        if (p->file && stat(p->file, &st) == 0 && (size_t)st.st_size > limit)
            return lumi_yaml_err(d, p->node, e, "prompt '%s': %s is %lld bytes, more than %d per position of the "
                                 "context length %d of %s", p->name, p->file, (long long)st.st_size,
                                 LUMI_PROMPT_BYTES_PER_POS, mc->seq_len, in->model_path);
        if (!p->file && strlen(p->text) > limit)
            return lumi_yaml_err(d, p->node, e, "prompt '%s' is %zu bytes, more than %d per position of the "
                                 "context length %d of %s", p->name, strlen(p->text), LUMI_PROMPT_BYTES_PER_POS,
                                 mc->seq_len, in->model_path);
        if (p->file) {
            LumiErr fe;
            if (lumi_read_file(p->file, &text, NULL, &fe) != 0)
                return lumi_yaml_err(d, p->node, e, "prompt '%s': %s", p->name, fe.msg);
            size_t l = strlen(text); /* a file's final newline is not part of the prompt */
            while (l > 0 && (text[l - 1] == '\n' || text[l - 1] == '\r')) text[--l] = 0;
        }
        lumi_encode(&in->tok, text ? text : p->text, c->bos, 0, &in->ids[i], &in->n_ids[i]);
        free(text);
    }
    if (in->n_ids[i] == 0) return lumi_yaml_err(d, p->node, e, "prompt '%s' is empty (no BOS either)", p->name);
    for (int k = 0; k < in->n_ids[i]; k++)
        if (in->ids[i][k] >= mc->vocab_size)
            return lumi_yaml_err(d, p->node, e, "prompt '%s': token id %d is outside the vocabulary [0, %d) of %s",
                                 p->name, in->ids[i][k], mc->vocab_size, in->model_path);
    if (in->n_ids[i] > mc->seq_len)
        return lumi_yaml_err(d, p->node, e, "prompt '%s' has %d tokens but the context length of %s is %d", p->name,
                             in->n_ids[i], in->model_path, mc->seq_len);
    long steps = p->steps >= 0 ? p->steps : c->steps;
    long room = mc->seq_len - in->n_ids[i];
    in->n_gen[i] = (int)(steps < room ? steps : room);
    return 0;
}

/* The config's `tokenizer:` when given, else the model's own (embedded in a
 * GGUF file, or tokenizer.json / tokenizer.model beside a Hugging Face
 * folder's config.json), as the CLI finds it; then the vocabulary check
 * the CLI makes: a tokenizer with more tokens than the model has rows
 * cannot be its tokenizer, fewer is normal (padded embeddings). */
static int load_tokenizer(const LumiYamlDoc *d, const LumiExpCommon *c, LumiExpInputs *in, LumiErr *e) {
    LumiErr le;
    const LumiYamlNode *at = c->tokenizer ? c->tokenizer_node : c->model.node;
    const char *key = c->tokenizer ? "tokenizer" : "model";
    if (lumi_tokenizer_for_model(in->model_path, c->tokenizer, &in->tok, &in->have_tok, &le) != 0)
        return lumi_yaml_err(d, at, e, "%s: %s", key, le.msg);
    for (int i = 0; i < c->n_prompts && !in->have_tok; i++)
        if (!c->prompts[i].ids)
            return lumi_yaml_err(d, c->prompts[i].node, e,
                                 "prompt '%s' is text: the config needs 'tokenizer' (none embedded in or beside %s)",
                                 c->prompts[i].name, in->model_path);
    if (!in->have_tok) return 0;
    int rows = in->model.cfg.vocab_size;
    if (in->tok.vocab_size > rows) {
        lumi_yaml_err(d, at, e, "%s: %s%s has %d tokens but model %s only %d: they do not belong together", key,
                      c->tokenizer ? "" : "its tokenizer ", in->tok.path, in->tok.vocab_size, in->model_path, rows);
        lumi_tokenizer_free(&in->tok);
        in->have_tok = 0;
        return -1;
    }
    if (in->tok.vocab_size < rows)
        fprintf(stderr, "lumi: note: model %s has %d embedding rows, tokenizer %s %d tokens; ids past it print as <id N>\n",
                in->model_path, rows, in->tok.path, in->tok.vocab_size);
    return 0;
}

int lumi_inputs_load(const LumiYamlDoc *d, const LumiExpCommon *c, LumiExpInputs *in, LumiErr *e) {
    memset(in, 0, sizeof *in);
    LumiErr le;
    if (c->model.is_synth) {
        if (lumi_synth_materialize(&c->model.synth, NULL, in->model_path, sizeof in->model_path, &le) != 0)
            return lumi_yaml_err(d, c->model.node, e, "model: %s", le.msg);
    } else {
        snprintf(in->model_path, sizeof in->model_path, "%s", c->model.path);
    }
    if (lumi_model_load(in->model_path, &in->model, &le) != 0)
        return lumi_yaml_err(d, c->model.node, e, "model: %s", le.msg);
    if (lumi_model_crc32(&in->model, &in->model_crc, &in->model_bytes, &le) != 0) {
        lumi_model_free(&in->model);
        return lumi_yaml_err(d, c->model.node, e, "model: %s", le.msg);
    }
    if (load_tokenizer(d, c, in, e) != 0) {
        lumi_model_free(&in->model);
        return -1;
    }
    in->n_prompts = c->n_prompts;
    in->ids = lumi_xcalloc((size_t)c->n_prompts, sizeof *in->ids);
    in->n_ids = lumi_xcalloc((size_t)c->n_prompts, sizeof(int));
    in->n_gen = lumi_xcalloc((size_t)c->n_prompts, sizeof(int));
    for (int i = 0; i < c->n_prompts; i++)
        if (load_prompt(d, c, i, in, e) != 0) {
            lumi_inputs_free(in);
            return -1;
        }
    return 0;
}

void lumi_inputs_free(LumiExpInputs *in) {
    if (!in->ids) return;
    for (int i = 0; i < in->n_prompts; i++) free(in->ids[i]);
    free(in->ids);
    free(in->n_ids);
    free(in->n_gen);
    if (in->have_tok) lumi_tokenizer_free(&in->tok);
    lumi_model_free(&in->model);
    memset(in, 0, sizeof *in);
}
