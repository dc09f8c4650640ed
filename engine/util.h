/* util.h: errors as values, checked arithmetic, small file helpers.
 * Every fallible function returns 0 on success or -1 with a one-line
 * message in a LumiErr; callers print it and exit 2. */
#ifndef LUMI_UTIL_H
#define LUMI_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct { char msg[1024]; } LumiErr;

#if defined(__GNUC__)
#define LUMI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LUMI_PRINTF(a, b)
#endif

/* Formats into e (if non-NULL) and returns -1, so `return lumi_err(e, ...)`. */
int lumi_err(LumiErr *e, const char *fmt, ...) LUMI_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return 0 and set *out, or -1 on overflow. */
int lumi_mul_size(size_t a, size_t b, size_t *out);
int lumi_add_size(size_t a, size_t b, size_t *out);

/* Aborting allocators for memory we cannot run without (never in hot loops). */
void *lumi_xmalloc(size_t n);
void *lumi_xcalloc(size_t n, size_t size);
void *lumi_xrealloc(void *p, size_t n);
char *lumi_xstrdup(const char *s);
/* 64-byte aligned allocation, for activations the SIMD kernels read. */
void *lumi_aligned_alloc(size_t bytes);

/* 2 MiB: the huge page size of x86-64 and arm64 (4 KiB granule). */
#define LUMI_HUGE_PAGE ((size_t)2 << 20)
/* Memory for large streamed data (a converted weights table, the bench's
 * bandwidth buffers): 2 MiB aligned and asked for transparent huge pages
 * (64-byte aligned below 2 MiB). NULL when out of memory; free() it. */
void *lumi_huge_alloc(size_t bytes);
/* Read-only memory map of a whole file (see util.c: 2 MiB aligned, with
 * MADV_HUGEPAGE, so weights can sit on huge pages in place). */
typedef struct { void *data; size_t size; } LumiMap;
int lumi_map_file(const char *path, LumiMap *m, LumiErr *e);
void lumi_unmap(LumiMap *m);

/* For a model file lumi has just written (>= 2 MiB): flush, sync its data
 * and drop it from the page cache. Pages a writer leaves in the cache are
 * 4 KiB ones; read back by readahead they come in large folios, which the
 * next load maps on 2 MiB pages (lumi_map_file). Best effort. */
void lumi_drop_file_cache(FILE *f);
/* Read a whole file into a malloc'd NUL-terminated buffer. */
int lumi_read_file(const char *path, char **out, size_t *len, LumiErr *e);
/* Write bytes to path atomically: temp file in the same folder, fsync, rename. */
int lumi_write_atomic(const char *path, const void *data, size_t len, LumiErr *e);
/* mkdir -p */
int lumi_mkdirs(const char *path, LumiErr *e);

double lumi_now(void); /* monotonic seconds */

/* Parse helpers that reject trailing garbage and out-of-range values. */
int lumi_parse_int(const char *s, long lo, long hi, long *out);
int lumi_parse_float(const char *s, double *out);
int lumi_parse_u64(const char *s, uint64_t *out);
/* "1,2,3" -> malloc'd int array. */
/* Prompts longer than this many bytes per context position are refused
 * before tokenizing (they cannot fit: no token is that long). */
#define LUMI_PROMPT_BYTES_PER_POS 64
int lumi_parse_ids(const char *s, int **ids, int *n, LumiErr *e);

/* xorshift64* PRNG: tiny, seedable, identical on every machine. */
typedef struct { uint64_t s; } LumiRng;
void lumi_rng_seed(LumiRng *r, uint64_t seed);
uint64_t lumi_rng_u64(LumiRng *r);
float lumi_rng_f32(LumiRng *r);    /* uniform in [0, 1), 24 bits */
double lumi_rng_f64(LumiRng *r);   /* uniform in [0, 1), 53 bits */

#endif
