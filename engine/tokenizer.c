/* tokenizer.c: the tokenizer interface (see tokenizer.h): recognising a
 * file, splitting text at added/special tokens, dispatching each piece of
 * text to its family's encoder, decoding, and the BOS / end-token API. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tok_internal.h"

void lumi_tokenizer_free(LumiTokenizer *t) {
    if (t->vocab)
        for (int i = 0; i < t->vocab_size; i++) free(t->vocab[i]);
    free(t->vocab);
    free(t->len);
    free(t->scores);
    free(t->type);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].text);
    free(t->added);
    lumi_tok_hash_free(t->index);
    lumi_tok_pairs_free(t->pairs);
    lumi_tok_regex_free(t->regex);
    free(t->oov);
    free(t->path);
    memset(t, 0, sizeof *t);
}

static int is_tiktoken(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n && (((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')) || p[i] == '+' || p[i] == '/' || p[i] == '=')) i++;
    if (i == 0 || i >= n || p[i] != ' ') return 0;
    size_t j = ++i;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    return i > j && i < n && (p[i] == '\n' || p[i] == '\r');
}

static int load_by_content(const char *path, LumiTokenizer *t, LumiErr *e) {
    LumiMap m;
    if (lumi_map_file(path, &m, e) != 0) return -1;
    const unsigned char *p = m.data;
    size_t n = m.size, ws = 0;
    while (ws < n && (p[ws] == ' ' || p[ws] == '\n' || p[ws] == '\r' || p[ws] == '\t')) ws++;
    int rc;
    if (n >= 4 && !memcmp(p, "GGUF", 4)) {
        lumi_unmap(&m);
        return lumi_tok_load_gguf(path, t, e);
    } else if (ws < n && p[ws] == '{') rc = lumi_tok_load_hfjson(path, (const char *)p, n, t, e);
    else if (is_tiktoken(p, n)) rc = lumi_tok_load_tiktoken(path, p, n, t, e);
    /* A sentencepiece ModelProto starts with field 1 (pieces, length-
     * delimited): 0x0A and a non-zero length. A llama2.c file starts with an
     * int32 max_token_length, 0x0A 00 00 00 for 10. */
    else if (n >= 4 && p[0] == 0x0A && (p[1] | p[2] | p[3]))
        rc = lumi_tok_load_spm_model(path, p, n, t, e);
    else rc = lumi_tok_load_llama2c(path, p, n, t, e);
    lumi_unmap(&m);
    return rc;
}

static char *dir_of(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return lumi_xstrdup(path);
    const char *slash = strrchr(path, '/');
    if (!slash) return lumi_xstrdup(".");
    char *d = lumi_xstrdup(path);
    d[slash == path ? 1 : slash - path] = 0;
    return d;
}

/* Added tokens are matched longest first. */
static int cmp_added(const void *a, const void *b) {
    const LumiTokAdded *x = a, *y = b;
    return x->len != y->len ? y->len - x->len : x->id - y->id;
}

static int finish(LumiTokenizer *t, const char *path, LumiErr *e) {
    for (int i = 0; i < 256; i++) {
        t->byte_pieces[i][0] = (char)i;
        t->byte_pieces[i][1] = 0;
    }
    if (!t->index) {
        int dup;
        lumi_tok_index(t, &dup);
    }
    char *dir = dir_of(path);
    int rc = lumi_tok_read_meta(t, dir, e);
    free(dir);
    if (t->n_added) qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    t->oov = lumi_xmalloc(32);
    t->path = lumi_xstrdup(path);
    return rc;
}

int lumi_tokenizer_load(const char *path, LumiTokenizer *t, LumiErr *e) {
    memset(t, 0, sizeof *t);
    t->bos_id = t->eos_id = t->unk_id = -1;
    if (load_by_content(path, t, e) != 0 || finish(t, path, e) != 0) {
        lumi_tokenizer_free(t);
        return -1;
    }
    return 0;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int lumi_tokenizer_for_model(const char *model_path, const char *override, LumiTokenizer *t, int *found, LumiErr *e) {
    *found = 0;
    memset(t, 0, sizeof *t);
    char cand[4096];
    const char *use = override;
    if (!use && model_path) {
        LumiMap m;
        int gguf = 0;
        if (exists(model_path) && lumi_map_file(model_path, &m, NULL) == 0) {
            gguf = m.size >= 4 && !memcmp(m.data, "GGUF", 4);
            lumi_unmap(&m);
        }
        if (gguf) {
            LumiErr le;
            if (lumi_tokenizer_load(model_path, t, &le) == 0) {
                *found = 1;
                return 0;
            }
            if (strstr(le.msg, "no embedded tokenizer")) return 0; /* none to find */
            *e = le; /* one that is there but bad or unsupported is an error */
            return -1;
        }
        /* Only beside a Hugging Face layout's config.json: a llama2.c .bin
         * in a folder of assorted files (../shared/models) has no tokenizer
         * of its own there. */
        char *dir = dir_of(model_path);
        snprintf(cand, sizeof cand, "%s/config.json", dir);
        int hf = exists(cand);
        static const char *names[] = {"tokenizer.json", "tokenizer.model"};
        for (size_t i = 0; i < 2 && hf && !use; i++) {
            snprintf(cand, sizeof cand, "%s/%s", dir, names[i]);
            if (exists(cand)) use = cand;
        }
        free(dir);
        if (!use) return 0;
    }
    if (!use) return 0;
    if (lumi_tokenizer_load(use, t, e) != 0) return -1;
    /* The model's own generation_config.json / config.json name its end
     * tokens even when -z points elsewhere. */
    if (model_path && override) {
        char *dir = dir_of(model_path);
        int rc = lumi_tok_read_meta(t, dir, e);
        free(dir);
        if (rc != 0) {
            lumi_tokenizer_free(t);
            return -1;
        }
    }
    *found = 1;
    return 0;
}

int lumi_token_lookup(const LumiTokenizer *t, const char *s) { return lumi_tok_find(t, s, strlen(s)); }

static const LumiTokAdded *match_added(const LumiTokenizer *t, const char *s, size_t n, int special) {
    for (int i = 0; i < t->n_added; i++) {
        const LumiTokAdded *a = &t->added[i];
        if ((size_t)a->len <= n && a->text[0] == s[0] && (!a->special || special) && !memcmp(a->text, s, (size_t)a->len))
            return a;
    }
    return NULL;
}

/* The ids being built: grows, since NFC may lengthen a text. */
typedef struct {
    int *ids;
    int k;
    size_t cap;
} Ids;

static void reserve(Ids *o, size_t more) {
    if ((size_t)o->k + more <= o->cap) return;
    o->cap = (size_t)o->k + more + o->cap / 2;
    o->ids = lumi_xrealloc(o->ids, o->cap * sizeof(int));
}

static void encode_text(const LumiTokenizer *t, const char *s, size_t n, int prefix, Ids *o) {
    if (n == 0) return;
    char *norm = NULL;
    if (t->nfc) n = lumi_tok_nfc(s, n, &norm), s = norm ? norm : s;
    reserve(o, n + 2); /* one token per byte, and SPM's dummy prefix */
    if (t->kind == LUMI_TOK_SPM) lumi_tok_spm_encode(t, s, n, prefix, o->ids, &o->k);
    else lumi_tok_bpe_encode(t, s, n, o->ids, &o->k);
    free(norm);
}

void lumi_encode_n(const LumiTokenizer *t, const char *text, size_t len, int flags, int **out, int *n_out) {
    Ids o = {NULL, 0, 0};
    reserve(&o, len + 4); /* BOS, dummy prefix, one token per byte, EOS */
    int bos = lumi_tokenizer_bos(t);
    if ((flags & LUMI_ENC_BOS) && bos >= 0) o.ids[o.k++] = bos;
    int special = (flags & LUMI_ENC_SPECIAL) != 0;
    unsigned char first_bytes[256] = {0};
    for (int i = 0; i < t->n_added; i++) first_bytes[(unsigned char)t->added[i].text[0]] = 1;
    /* Added tokens are cut out first; the text between them is normalised
     * and encoded piece by piece, as Hugging Face tokenizers do. Each piece
     * gets sentencepiece's dummy prefix, as llama.cpp does and as Meta's
     * Llama 2 chat code gets by encoding each segment on its own. */
    size_t seg = 0;
    for (size_t i = 0; i < len; i++) {
        if (!first_bytes[(unsigned char)text[i]]) continue;
        const LumiTokAdded *a = match_added(t, text + i, len - i, special);
        if (!a) continue;
        encode_text(t, text + seg, i - seg, 1, &o);
        reserve(&o, 2);
        o.ids[o.k++] = a->id;
        i += (size_t)a->len - 1;
        seg = i + 1;
    }
    encode_text(t, text + seg, len - seg, 1, &o);
    reserve(&o, 1);
    if ((flags & LUMI_ENC_EOS) && t->eos_id >= 0) o.ids[o.k++] = t->eos_id;
    *out = o.ids;
    *n_out = o.k;
}

void lumi_encode(const LumiTokenizer *t, const char *text, int bos, int eos, int **ids, int *n) {
    lumi_encode_n(t, text, strlen(text), (bos ? LUMI_ENC_BOS : 0) | (eos ? LUMI_ENC_EOS : 0), ids, n);
}

const char *lumi_decode_piece(const LumiTokenizer *t, int prev, int id, int *len) {
    if (id < 0 || id >= t->vocab_size || !t->vocab[id]) {
        /* Visible, never empty: a model vocabulary padded past the
         * tokenizer's (Qwen) can still sample such ids. */
        *len = snprintf(t->oov, 32, "<id %d>", id);
        return t->oov;
    }
    const char *p = t->vocab[id];
    int n = t->len[id];
    if (t->kind != LUMI_TOK_SPM) {
        *len = n;
        return p;
    }
    if (prev == t->bos_id && n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    /* <0xAB> byte pieces decode to the raw byte */
    if (t->type[id] == LUMI_PIECE_BYTE && n == 6) {
        unsigned v;
        if (sscanf(p + 3, "%2X", &v) == 1) {
            *len = 1;
            return t->byte_pieces[v & 0xff];
        }
    }
    *len = n;
    return p;
}

size_t lumi_tokenizer_normalize(const LumiTokenizer *t, const char *s, size_t n, char **out) {
    *out = NULL;
    return t->nfc ? lumi_tok_nfc(s, n, out) : n;
}

int lumi_tokenizer_bos(const LumiTokenizer *t) { return t->add_bos ? t->bos_id : -1; }

int lumi_tokenizer_stop_ids(const LumiTokenizer *t, int *ids, int max) {
    int n = 0;
    for (int i = 0; i < t->n_stop && n < max; i++) ids[n++] = t->stop[i];
    return n;
}

int lumi_token_special(const LumiTokenizer *t, const char *text) {
    size_t n = strlen(text);
    for (int i = 0; i < t->n_added; i++)
        if ((size_t)t->added[i].len == n && !memcmp(t->added[i].text, text, n)) return t->added[i].id;
    return -1;
}
