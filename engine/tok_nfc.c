/* tok_nfc.c: Unicode NFC for tokenizers whose normalizer asks for it
 * (Qwen's tokenizer.json), with GNU libunistring's u8_normalize: Unicode
 * tables are a library's job, not hand-written ones. Invalid UTF-8 cannot
 * be normalised: such bytes pass through unchanged between valid runs. */
#include <stdlib.h>
#include <string.h>
#include <uninorm.h>
#include <unistr.h>

#include "tok_internal.h"

size_t lumi_tok_nfc(const char *s, size_t n, char **out) {
    *out = NULL;
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n) return n; /* ASCII is NFC */
    char *buf = lumi_xmalloc(n + 1);
    size_t k = 0, cap = n + 1;
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    while (p < end) {
        const uint8_t *bad = u8_check(p, (size_t)(end - p));
        const uint8_t *stop = bad ? bad : end;
        if (stop > p) {
            size_t len = 0;
            uint8_t *nf = u8_normalize(UNINORM_NFC, p, (size_t)(stop - p), NULL, &len);
            const uint8_t *src = nf ? nf : p;
            if (!nf) len = (size_t)(stop - p); /* out of memory: keep the text */
            if (k + len + 1 > cap) buf = lumi_xrealloc(buf, cap = 2 * (k + len + 1));
            memcpy(buf + k, src, len);
            k += len;
            free(nf);
        }
        if (bad) { /* one invalid byte, kept as is */
            if (k + 2 > cap) buf = lumi_xrealloc(buf, cap = 2 * (k + 2));
            buf[k++] = (char)*bad;
            p = bad + 1;
        } else p = end;
    }
    *out = buf;
    return k;
}
