/* tok_spm_model.c: sentencepiece's tokenizer.model (a protobuf ModelProto):
 * pieces (text, score, type), trainer_spec (model_type, byte_fallback,
 * unk/bos/eos ids) and normalizer_spec (add_dummy_prefix,
 * remove_extra_whitespaces). Read with a small wire-format walker: every
 * length is checked against its enclosing message before it is used. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct {
    const unsigned char *p, *end;
} Buf;

typedef struct {
    uint32_t field, wire;
    uint64_t v;              /* varint / fixed value */
    const unsigned char *s;  /* length-delimited bytes */
    size_t n;
} Field;

static int varint(Buf *b, uint64_t *out) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return -1;
        unsigned char c = *b->p++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *out = r;
            return 0;
        }
    }
    return -1;
}

/* 1: a field read; 0: end of message; -1: malformed. */
static int next_field(Buf *b, Field *f) {
    if (b->p >= b->end) return 0;
    uint64_t key;
    if (varint(b, &key) != 0) return -1;
    f->field = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    switch (f->wire) {
    case 0: return varint(b, &f->v) == 0 ? 1 : -1;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < w) return -1;
        f->v = 0;
        memcpy(&f->v, b->p, w); /* little-endian hosts, as everywhere in lumi */
        b->p += w;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (varint(b, &n) != 0 || n > (uint64_t)(b->end - b->p)) return -1;
        f->s = b->p;
        f->n = (size_t)n;
        b->p += n;
        return 1;
    }
    default: return -1;
    }
}

static int read_piece(const char *path, int i, const Field *pf, LumiTokenizer *t, LumiErr *e) {
    Buf b = {pf->s, pf->s + pf->n};
    Field f;
    int r, type = LUMI_PIECE_NORMAL, have = 0;
    while ((r = next_field(&b, &f)) == 1) {
        if (f.field == 1 && f.wire == 2) {
            if (f.n > 4096) return lumi_err(e, "%s: pieces[%d].piece: %zu bytes (at most 4096)", path, i, f.n);
            /* U+2581 stands for a space; lumi's SPM pieces hold the space */
            char buf[4096];
            size_t k = 0;
            for (size_t j = 0; j < f.n; j++) {
                if (j + 2 < f.n && f.s[j] == 0xE2 && f.s[j + 1] == 0x96 && f.s[j + 2] == 0x81) {
                    buf[k++] = ' ';
                    j += 2;
                } else buf[k++] = (char)f.s[j];
            }
            lumi_tok_set(t, i, buf, k);
            have = 1;
        } else if (f.field == 2 && f.wire == 5) {
            uint32_t u = (uint32_t)f.v;
            memcpy(&t->scores[i], &u, 4);
        } else if (f.field == 3 && f.wire == 0) {
            if (f.v < 1 || f.v > 6) return lumi_err(e, "%s: pieces[%d].type: %llu is not a piece type", path, i, (unsigned long long)f.v);
            type = (int)f.v;
        }
    }
    if (r < 0) return lumi_err(e, "%s: pieces[%d]: truncated or malformed protobuf", path, i);
    if (!have) return lumi_err(e, "%s: pieces[%d].piece: missing", path, i);
    t->type[i] = (unsigned char)type;
    return 0;
}

/* int32 fields are sign-extended varints: -1 is 2^64 - 1. */
static int as_id(uint64_t v, int n) {
    int64_t s = (int64_t)v;
    return s >= 0 && s < n ? (int)s : -1;
}

static int read_specs(const char *path, Buf all, LumiTokenizer *t, LumiErr *e) {
    Field f, g;
    int r;
    t->unk_id = 0, t->bos_id = 1, t->eos_id = 2; /* sentencepiece's defaults */
    t->add_dummy_prefix = 1;
    while ((r = next_field(&all, &f)) == 1) {
        if (f.wire != 2 || (f.field != 2 && f.field != 3)) continue;
        Buf b = {f.s, f.s + f.n};
        int q;
        while ((q = next_field(&b, &g)) == 1) {
            if (g.wire != 0) continue;
            if (f.field == 2 && g.field == 3 && g.v != 2)
                return lumi_err(e, "%s: trainer_spec.model_type: %llu (only BPE, 2, is supported)", path, (unsigned long long)g.v);
            if (f.field == 2 && g.field == 40) t->unk_id = as_id(g.v, t->vocab_size);
            if (f.field == 2 && g.field == 41) t->bos_id = as_id(g.v, t->vocab_size);
            if (f.field == 2 && g.field == 42) t->eos_id = as_id(g.v, t->vocab_size);
            if (f.field == 3 && g.field == 3) t->add_dummy_prefix = g.v != 0;
            if (f.field == 3 && g.field == 4 && g.v)
                return lumi_err(e, "%s: normalizer_spec.remove_extra_whitespaces: true is not supported", path);
        }
        if (q < 0) return lumi_err(e, "%s: %s: truncated or malformed protobuf", path, f.field == 2 ? "trainer_spec" : "normalizer_spec");
        /* remove_extra_whitespaces defaults to true: a normalizer_spec that
         * does not say false would collapse spaces, which lumi does not do */
        if (f.field == 3) {
            Buf c = {f.s, f.s + f.n};
            int said = 0;
            while (next_field(&c, &g) == 1) said |= g.field == 4 && g.wire == 0;
            if (!said) return lumi_err(e, "%s: normalizer_spec.remove_extra_whitespaces: default true is not supported", path);
        }
    }
    return r < 0 ? lumi_err(e, "%s: truncated or malformed protobuf", path) : 0;
}

int lumi_tok_load_spm_model(const char *path, const unsigned char *p, size_t size, LumiTokenizer *t, LumiErr *e) {
    Buf b = {p, p + size};
    Field f;
    int r, n = 0;
    /* First pass: count pieces; the file bounds the count. */
    while ((r = next_field(&b, &f)) == 1) n += f.field == 1 && f.wire == 2;
    if (r < 0) return lumi_err(e, "%s: truncated or malformed protobuf (at byte %zu)", path, (size_t)(b.p - p));
    if (n < 3 || n > LUMI_TOK_MAX_VOCAB) return lumi_err(e, "%s: pieces: %d (needs 3..%d)", path, n, LUMI_TOK_MAX_VOCAB);
    lumi_tok_alloc(t, n);
    b = (Buf){p, p + size};
    for (int i = 0; next_field(&b, &f) == 1;)
        if (f.field == 1 && f.wire == 2 && read_piece(path, i++, &f, t, e) != 0) return -1;
    if (read_specs(path, (Buf){p, p + size}, t, e) != 0) return -1;
    t->kind = LUMI_TOK_SPM;
    t->format = "sentencepiece";
    t->add_bos = t->bos_id >= 0;
    lumi_tok_spm_finish(t);
    return 0;
}
