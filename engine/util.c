/* util.c: see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lumi_err(LumiErr *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int lumi_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int lumi_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

static void oom(size_t n) {
    fprintf(stderr, "lumi: out of memory allocating %zu bytes\n", n);
    exit(2);
}

void *lumi_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *lumi_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *lumi_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *lumi_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = lumi_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

void *lumi_aligned_alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) oom(bytes);
    return p;
}

/* Maps a file read-only at a 2 MiB-aligned address with MADV_HUGEPAGE, so
 * that where the page cache holds the file in 2 MiB folios (a kernel with
 * large folios, the file read in by readahead) the kernel maps them with
 * one page-table entry each: decode streams the weights at up to ~1.4x the
 * rate of 4 KiB pages here (TLB misses), still in place and shared. Falls
 * back to a plain mapping; the hint is only a hint. */
static void *map_huge(int fd, size_t size) {
    const size_t H = LUMI_HUGE_PAGE;
    if (size < H) return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    char *res = mmap(NULL, size + H, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED) return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    char *at = (char *)(((uintptr_t)res + H - 1) & ~(uintptr_t)(H - 1));
    void *p = mmap(at, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        munmap(res, size + H);
        return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    /* give back the reservation around the mapping */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *end = res + size + H, *mapped_end = at + (size + page - 1) / page * page;
    if (at > res) munmap(res, (size_t)(at - res));
    if (end > mapped_end) munmap(mapped_end, (size_t)(end - mapped_end));
    madvise(p, size, MADV_HUGEPAGE);
    /* and no asynchronous readahead: its windows start small and grow (16
     * KiB, 64 KiB, ... folios, measured over the first 34 MB of a model),
     * and such folios cannot go on 2 MiB pages; with MADV_RANDOM each fault
     * on an uncached 2 MiB range reads that range as one 2 MiB folio */
    madvise(p, size, MADV_RANDOM);
    return p;
}

void lumi_drop_file_cache(FILE *f) {
    if (fflush(f) != 0) return;
    struct stat st;
    int fd = fileno(f);
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < LUMI_HUGE_PAGE) return;
    if (fdatasync(fd) == 0) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

void *lumi_huge_alloc(size_t bytes) {
    void *p;
    if (bytes < LUMI_HUGE_PAGE) return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
    if (posix_memalign(&p, LUMI_HUGE_PAGE, bytes) != 0) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* before the first write, so the faults take huge pages */
    return p;
}

int lumi_map_file(const char *path, LumiMap *m, LumiErr *e) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lumi_err(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return lumi_err(e, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lumi_err(e, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return lumi_err(e, "%s: file is empty", path);
    }
    void *p = map_huge(fd, (size_t)st.st_size);
    close(fd);
    if (p == MAP_FAILED) return lumi_err(e, "%s: mmap failed: %s", path, strerror(errno));
    m->data = p;
    m->size = (size_t)st.st_size;
    return 0;
}

void lumi_unmap(LumiMap *m) {
    if (m->data) munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int lumi_read_file(const char *path, char **out, size_t *len, LumiErr *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return lumi_err(e, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = lumi_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = lumi_xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return lumi_err(e, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int lumi_write_atomic(const char *path, const void *data, size_t len, LumiErr *e) {
    size_t n = strlen(path) + 32;
    char *tmp = lumi_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        lumi_err(e, "%s: cannot write: %s", path, strerror(errno)); /* the user's name, not the temp file's */
        free(tmp);
        return -1;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        lumi_err(e, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int lumi_mkdirs(const char *path, LumiErr *e) {
    char *p = lumi_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            lumi_err(e, "%s: cannot create folder: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        rc = lumi_err(e, "%s: cannot create folder: %s", p, strerror(errno));
    free(p);
    return rc;
}

double lumi_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int lumi_parse_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int lumi_parse_float(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int lumi_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

int lumi_parse_ids(const char *s, int **ids, int *n, LumiErr *e) {
    int cap = 16, k = 0;
    int *a = lumi_xmalloc(sizeof(int) * (size_t)cap);
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        while (*p == ' ') p++;
        /* a digit must start every id: strtol alone would take "+1", and an
         * empty item (a trailing or doubled comma) must not end the list */
        long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1;
        if (v < 0 || errno || v > INT_MAX) {
            free(a);
            return lumi_err(e, "--ids: '%s' is not a comma-separated list of token ids", s);
        }
        if (k == cap) a = lumi_xrealloc(a, sizeof(int) * (size_t)(cap *= 2));
        a[k++] = (int)v;
        p = end;
        while (*p == ' ') p++;
        if (!*p) break;
        if (*p != ',') {
            free(a);
            return lumi_err(e, "--ids: unexpected '%c' in '%s'", *p, s);
        }
        p++;
    }
    *ids = a;
    *n = k;
    return 0;
}

void lumi_rng_seed(LumiRng *r, uint64_t seed) {
    /* splitmix64 of the seed, so that seeds 0, 1, 2 give unrelated streams
     * and the state is never zero (xorshift's one fixed point). */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r->s = z ? z : 0x9E3779B97F4A7C15ull;
}

uint64_t lumi_rng_u64(LumiRng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

float lumi_rng_f32(LumiRng *r) { return (float)(lumi_rng_u64(r) >> 40) / 16777216.0f; }

double lumi_rng_f64(LumiRng *r) { return (double)(lumi_rng_u64(r) >> 11) / 9007199254740992.0; }
