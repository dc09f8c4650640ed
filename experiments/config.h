/* config.h: the experiment config schema, read from the YAML tree.
 *
 * Every kind shares the keys parsed by lumi_config_common (name, kind, model,
 * tokenizer, prompts, steps, sampler, output, ...); a kind adds its own keys
 * and checks the top level with lumi_config_check_keys(doc, its_keys). The
 * path matrix, single path mappings and tolerances have their own parsers so
 * that any kind can reuse them. Every error is "file:line:col: key: message".
 *
 * Relative file names in a config (model, tokenizer, prompt files, output,
 * goldens) resolve against the current directory, which is the repository
 * root for `make run`, `make test` and the shipped configs. */
#ifndef LUMI_CONFIG_H
#define LUMI_CONFIG_H
#include "../engine/synth.h"
#include "../paths/path.h"
#include "../paths/sampler/sampler.h"
#include "yaml.h"

/* A model is a file, or a synthesized shape materialized on first use. */
typedef struct {
    const char *path;        /* file, or NULL for synth */
    int is_synth;
    LumiSynthSpec synth;
    const LumiYamlNode *node; /* for positioned load errors */
} LumiModelSrc;

typedef struct {
    char name[64];           /* "p0", or the prompt's `name:` */
    const char *text;        /* inline text, NULL otherwise */
    const char *file;        /* {file: path} */
    int *ids;                /* {ids: [...]}, malloc'd; else NULL */
    int n_ids;
    long steps;              /* per-prompt override, -1 = the config's */
    const LumiYamlNode *node;
} LumiPromptSrc;

/* A tolerance: bitwise, or limits on the metrics (negative = unchecked). */
typedef struct {
    int bitwise;
    double max_abs, max_rel, nmse, kl;
    int top1;                /* argmax must agree at every position */
    int tokens;              /* free-generated tokens must equal the reference's */
    /* over all positions of a path (metrics.h LumiKlStats), negative = unchecked */
    double kl_mean, kl_p99;  /* upper limits */
    double top1_rate;        /* lower limit, in [0, 1] */
} LumiTolerance;

typedef struct {
    int position;            /* absolute position in prompt + generated */
    double epsilon;
} LumiCanary;

/* One path of an experiment, with what only explicit entries can carry. */
typedef struct {
    LumiPathSpec spec;
    char label[160];         /* canonical path, plus " canary@P" */
    int has_canary;
    LumiCanary canary;
    int has_tolerance;       /* overrides the pair default */
    LumiTolerance tol;
} LumiPathEntry;

typedef struct {
    const char *name, *kind;
    LumiModelSrc model;
    const char *tokenizer;   /* NULL: the model's own (inputs.c), else prompts must be ids */
    const LumiYamlNode *tokenizer_node;
    LumiPromptSrc *prompts;
    int n_prompts;
    long steps;
    int bos;                 /* text prompts start with BOS (default true) */
    int stop_at_eos;         /* stop generating at EOS/BOS (ids 2, 1) */
    LumiSamplerCfg sampler;
    const char *output;      /* results root, default "results" */
} LumiExpCommon;

/* The top-level keys lumi_config_common reads, NULL-terminated. */
extern const char *const LUMI_COMMON_KEYS[];

/* Parses the shared keys. stop_at_eos defaults to `eos_default`. Strings
 * point into doc, which must outlive the config. */
int lumi_config_common(const LumiYamlDoc *doc, LumiExpCommon *c, int eos_default, LumiErr *e);
void lumi_config_common_free(LumiExpCommon *c);
/* Fails on a top-level key that is neither common nor in `extra` (NULL-terminated). */
int lumi_config_check_keys(const LumiYamlDoc *doc, const char *const *extra, LumiErr *e);

/* A synthesized shape {dim, hidden, layers, heads, kv_heads (default heads),
 * vocab, seq, unshared, seed}, validated like a model header; refuses shapes
 * over 2^28 parameters. */
int lumi_config_synth(const LumiYamlDoc *doc, const LumiYamlNode *n, LumiSynthSpec *s, LumiErr *e);

/* A path mapping {backend: ref, cache: fixed, prefill: "chunked:4", threads: 1}
 * on top of the defaults; `explicit` also allows canary: and tolerance:. */
int lumi_config_path(const LumiYamlDoc *doc, const LumiYamlNode *n, const char *what, int explicit_entry,
                     LumiPathEntry *out, LumiErr *e);
/* `paths:` as a matrix mapping {backend: [..], cache: [..], prefill: [..],
 * threads: [..], exclude: [{..}], extra: [{..}]} (cartesian product minus
 * excluded, then the extras), or a list of path mappings. A missing node
 * gives the one default path. *out is malloc'd. */
int lumi_config_paths(const LumiYamlDoc *doc, const LumiYamlNode *n, LumiPathEntry **out, int *n_out, LumiErr *e);
/* `bitwise` or a mapping {bitwise, max_abs, max_rel, nmse, kl, top1, tokens,
 * kl_mean, kl_p99, top1_rate}. */
int lumi_config_tolerance(const LumiYamlDoc *doc, const LumiYamlNode *n, const char *what, LumiTolerance *t,
                          LumiErr *e);
void lumi_tolerance_bitwise(LumiTolerance *t);
void lumi_tolerance_max_abs(LumiTolerance *t, double max_abs);
void lumi_tolerance_format(const LumiTolerance *t, char *buf, size_t n);

/* The equivalence kind's config: common keys plus paths, reference,
 * tolerance and goldens. */
typedef struct {
    LumiExpCommon common;
    LumiPathEntry *paths;
    int n_paths;
    LumiPathEntry reference;
    LumiTolerance same_backend, cross_backend;
    struct {                 /* tolerance.per_backend: same-backend tolerance of one backend */
        char backend[32];
        LumiTolerance tol;
    } per_backend[8];
    int n_per_backend;
    int *anchor;             /* [n_paths]: see lumi_equiv_anchor */
    int require;             /* require: true - a path whose device backend has no device fails */
    int has_golden_tol;      /* tolerance.golden given */
    LumiTolerance golden;    /* golden verify; default: same/cross backend as recorded */
    const char *goldens;     /* folder, default goldens/<name> */
    char goldens_buf[256];
} LumiEquivConfig;

int lumi_config_equivalence(const LumiYamlDoc *doc, LumiEquivConfig *c, LumiErr *e);
void lumi_config_equivalence_free(LumiEquivConfig *c);
/* The tolerance for comparing `p` with the reference: its own override, else
 * the same-backend tolerance of its backend if that is the reference's,
 * else cross_backend. */
const LumiTolerance *lumi_equiv_tolerance(const LumiEquivConfig *c, const LumiPathEntry *p);
/* Among paths of one backend: per_backend[backend], else same_backend. */
const LumiTolerance *lumi_equiv_same_tolerance(const LumiEquivConfig *c, const char *backend);
/* A path of another backend than the reference's is also compared, under
 * its backend's same-backend tolerance, with that backend's anchor: the
 * first path of the list on that backend without a canary. Returns the
 * anchor's index, or -1 (reference backend, no anchor, or path k is it). */
int lumi_equiv_anchor(const LumiEquivConfig *c, int k);
/* Recomputes the anchors (done by lumi_config_equivalence). */
void lumi_equiv_set_anchors(LumiEquivConfig *c);

#endif
