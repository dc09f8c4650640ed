/* helpers.h: shared test fixtures. Tests run from the repository root. */
#ifndef LUMI_TEST_HELPERS_H
#define LUMI_TEST_HELPERS_H
#include <check.h>
#include <stdint.h>

#include "../engine/model.h"
#include "../engine/synth.h"

#define SHARED_MODELS "../shared/models"
#define DEFAULT_MODEL "models/kjv1M.bin"
#define DEFAULT_TOKENIZER "models/kjv512.bin"

/* A skip is not a pass: TH_SKIP prints "SKIP <test>: reason", records it for
 * the runner's summary (tests/main.c counts and lists skips) and returns from
 * the test. `needs` names what is missing; a skip whose `needs` lies under
 * SHARED_MODELS fails the run in CI when that folder is present. */
#define TH_SKIP(needs, ...)                      \
    do {                                         \
        th_skip(__func__, needs, __VA_ARGS__);   \
        return;                                  \
    } while (0)

/* Skips the test when path is absent. */
#define SKIP_UNLESS_FILE(path)                                  \
    do {                                                        \
        if (!th_exists(path)) TH_SKIP(path, "%s not found", path); \
    } while (0)

/* Records and prints one skip (use TH_SKIP, which also returns). */
void th_skip(const char *test, const char *needs, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The runner's side: where skips are recorded (set before tests fork), and
 * the summary. th_skip_summary prints the count and every skip; it returns
 * nonzero when a skip must fail the run (see TH_SKIP). */
void th_skip_log_open(void);
int th_skip_summary(int n_tests);

int th_exists(const char *path);
/* A fresh temporary folder for one test (under /tmp), created on demand. */
const char *th_tmpdir(void);
/* th_tmpdir()/name, in a static rotating buffer. */
const char *th_path(const char *name);
/* Synthesize a model into th_path(name); returns that path. */
const char *th_synth(const char *name, int dim, int hidden, int layers, int heads, int kv_heads, int vocab, int seq,
                     int unshared, uint64_t seed);
/* Runs a shell command; returns its exit status (or -1). Output captured into
 * *out (malloc'd) when out != NULL. Every "./lumi " in cmd runs $LUMI_BIN
 * instead when that is set (the sanitizer build keeps its binary apart). */
int th_run(const char *cmd, char **out);
/* Logits of every position of tok[0..T) on the default path, malloc'd [T, vocab]. */
float *th_logits(const LumiModel *m, const int *tok, int T);
/* "ulimit -v 1000000; " (1 GB of address space for a shell command), or ""
 * in AddressSanitizer builds, whose shadow memory needs terabytes of it. */
const char *th_ulimit_1g(void);
/* The 9 cache x prefill paths the equivalence tests run; the first is the
 * anchor the others must match. */
#define TH_N_PATHS 9
extern const char *const TH_PATHS[TH_N_PATHS];
struct LumiBackendOps;
/* Logits of every position of tok[0..T) on the path `spec`, fed in two
 * calls so every path also runs against a non-empty cache: malloc'd
 * [T, vocab]. threads >= 0 sets the thread count; swap (if non-NULL)
 * replaces the session's backend table after opening (same context type). */
float *th_path_run(const LumiModel *m, const char *spec, int threads, const int *tok, int T,
                   const struct LumiBackendOps *swap);
/* T token ids spread over the vocabulary. */
int *th_tokens(const LumiModel *m, int T);
/* Writes text to path (the test fails if it cannot); reads a whole file,
 * malloc'd and NUL-terminated (the test fails if it cannot). */
void th_write_text(const char *path, const char *text);
char *th_slurp(const char *path);
/* max |a-b| */
double th_max_abs(const float *a, const float *b, size_t n);

#endif
