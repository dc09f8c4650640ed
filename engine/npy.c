/* npy.c: see npy.h. */
#include "npy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t lumi_npy_header(char *buf, size_t rows, size_t cols) {
    char dict[96];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, cols);
    size_t total = 10 + (size_t)n + 1; /* magic(6) ver(2) len(2) dict '\n' */
    size_t padded = (total + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = (uint16_t)(padded - 10);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', padded - total);
    buf[padded - 1] = '\n';
    return padded;
}

int lumi_npy_write(const char *path, const float *data, size_t rows, size_t cols, LumiErr *e) {
    char hdr[128];
    size_t hl = lumi_npy_header(hdr, rows, cols);
    size_t bytes = rows * cols * sizeof(float);
    char *buf = lumi_xmalloc(hl + bytes);
    memcpy(buf, hdr, hl);
    memcpy(buf + hl, data, bytes);
    int rc = lumi_write_atomic(path, buf, hl + bytes, e);
    free(buf);
    return rc;
}

size_t lumi_npy_parse(const void *p, size_t len, size_t *rows, size_t *cols) {
    const unsigned char *b = p;
    if (len < 10 || memcmp(b, "\x93NUMPY\x01\x00", 8) != 0) return 0;
    size_t hl = (size_t)b[8] | ((size_t)b[9] << 8);
    if (10 + hl > len || hl > 4096) return 0;
    char dict[4097];
    memcpy(dict, b + 10, hl);
    dict[hl] = 0;
    if (!strstr(dict, "'descr': '<f4'") || !strstr(dict, "'fortran_order': False")) return 0;
    const char *s = strstr(dict, "'shape': (");
    unsigned long long r, c;
    if (!s || sscanf(s, "'shape': (%llu, %llu)", &r, &c) != 2) return 0;
    *rows = (size_t)r;
    *cols = (size_t)c;
    return 10 + hl;
}
