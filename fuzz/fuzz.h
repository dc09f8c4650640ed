/* fuzz.h: what the libFuzzer targets (fuzz/fuzz_*.c, one per parser) share.
 * A target is one file defining LLVMFuzzerTestOneInput plus a seed folder
 * fuzz/corpus/<name>/; the Makefile finds both (see fuzz/README.md).
 *
 * Loaders take a path, so an input reaches them as a file: an anonymous
 * in-memory file (memfd) opened through /proc/self/fd, or for a folder
 * layout a private temporary folder. Nothing else differs from a real run. */
#ifndef LUMI_FUZZ_H
#define LUMI_FUZZ_H
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../engine/model.h"
#include "../paths/session.h"

/* One in-memory file per process, rewritten for every input. */
static inline const char *fuzz_memfile(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lumi-fuzz", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) abort();
    return path;
}

/* A private temporary folder per process (created on first use), in
 * memory (/dev/shm) where there is one: inputs are rewritten every run. */
static char fuzz_dir_path[64];

/* Removes the folder and its files when the fuzzer exits. */
static void fuzz_dir_remove(void) {
    DIR *d = opendir(fuzz_dir_path);
    if (!d) return;
    char p[400];
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", fuzz_dir_path, de->d_name) < (int)sizeof p) unlink(p);
    closedir(d);
    rmdir(fuzz_dir_path);
}

static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/lumi-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) abort();
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* Writes dir/name with the given bytes; returns its path (static buffer). */
static inline const char *fuzz_put(const char *name, const void *data, size_t size) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    return path;
}

/* A model a loader accepted must also run: one forward step on the
 * reference path (growing cache: nothing sized by the claimed context), so
 * weights that point outside the file show up under AddressSanitizer. */
static inline void fuzz_run_model(const LumiModel *m) {
    LumiPathSpec p;
    LumiSession s;
    LumiErr e;
    lumi_path_default(&p);
    if (lumi_path_parse("backend=ref,cache=growing,prefill=batched", &p, &e) != 0) abort();
    if (lumi_session_open(&s, m, &p, &e) != 0) return;
    int tok[2] = {1 % m->cfg.vocab_size, (m->cfg.vocab_size - 1)};
    float *out = malloc(sizeof(float) * 2 * (size_t)m->cfg.vocab_size);
    int n = m->cfg.seq_len >= 2 ? 2 : 1;
    if (out && lumi_session_feed(&s, tok, n, out, &e) == 0) {
        volatile float sink = out[0]; /* the logits must be readable */
        (void)sink;
    }
    free(out);
    lumi_session_close(&s);
}

#endif
