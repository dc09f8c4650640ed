/* npy.h: NumPy .npy v1.0 files of little-endian float32 ('<f4', C order). */
#ifndef LUMI_NPY_H
#define LUMI_NPY_H
#include <stddef.h>
#include "util.h"

/* The header for shape (rows, cols), padded so data starts at a multiple of
 * 64 bytes. Returns its length; buf must hold 128 bytes. */
size_t lumi_npy_header(char *buf, size_t rows, size_t cols);
int lumi_npy_write(const char *path, const float *data, size_t rows, size_t cols, LumiErr *e);
/* Parses a header written by lumi_npy_header; returns data offset or 0. */
size_t lumi_npy_parse(const void *buf, size_t len, size_t *rows, size_t *cols);

#endif
