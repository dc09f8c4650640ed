/* merge.c: see merge.h. */
#include "merge.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experiment.h"
#include "results.h"
#include "shard.h"

#define MAX_LISTED 20 /* missing/duplicate cases printed before "... and N more" */

typedef struct {
    const char *dir;
    int index, count;
    char *config;   /* config.yaml bytes */
    size_t config_len;
    LumiYamlDoc run; /* run.json */
    int have_run;
} Shard;

typedef struct {
    const char *key;
    int i;
} Key;

static int by_key(const void *a, const void *b) { return strcmp(((const Key *)a)->key, ((const Key *)b)->key); }

static int find_key(const Key *keys, int n, const char *key) {
    Key k = {key, -1};
    const Key *f = bsearch(&k, keys, (size_t)n, sizeof *keys, by_key);
    return f ? f->i : -1;
}

static const char *run_str(const Shard *s, const char *a, const char *b) {
    const LumiYamlNode *n = lumi_yaml_get(s->run.root, a);
    if (n && b) n = n->type == LUMI_Y_MAP ? lumi_yaml_get(n, b) : NULL;
    return n && n->type == LUMI_Y_SCALAR ? n->scalar : "?";
}

/* Reads and checks one shard's provenance against the first shard's. */
static int load_shard(Shard *s, const Shard *first, LumiErr *e) {
    char path[700];
    snprintf(path, sizeof path, "%s/config.yaml", s->dir);
    if (lumi_read_file(path, &s->config, &s->config_len, e) != 0) return -1;
    snprintf(path, sizeof path, "%s/run.json", s->dir);
    if (lumi_yaml_load(path, &s->run, e) != 0) return -1;
    s->have_run = 1;
    if (!s->run.root || s->run.root->type != LUMI_Y_MAP) return lumi_err(e, "%s: not a run.json object", path);
    if (lumi_shard_of_run(s->dir, &s->index, &s->count, e) != 0) return -1;
    if (!s->count) return lumi_err(e, "%s: not a shard (run.json has no \"shard\"; run with lumi run --shard I/N)", s->dir);
    const char *status = run_str(s, "status", NULL);
    if (strcmp(status, "complete") != 0)
        return lumi_err(e, "%s: shard %d/%d did not complete (status %s): lumi run --resume %s", s->dir, s->index,
                        s->count, status, s->dir);
    if (!first) return 0;
    if (s->config_len != first->config_len || memcmp(s->config, first->config, s->config_len) != 0)
        return lumi_err(e, "%s/config.yaml differs from %s/config.yaml: shards of different experiments", s->dir,
                        first->dir);
    if (strcmp(run_str(s, "model", "crc32"), run_str(first, "model", "crc32")) != 0)
        return lumi_err(e, "%s: model CRC-32 %s, but %s ran %s", s->dir, run_str(s, "model", "crc32"), first->dir,
                        run_str(first, "model", "crc32"));
    if (strcmp(run_str(s, "commit", NULL), run_str(first, "commit", NULL)) != 0)
        return lumi_err(e, "%s: lumi commit %s, but %s ran %s", s->dir, run_str(s, "commit", NULL), first->dir,
                        run_str(first, "commit", NULL));
    if (s->count != first->count)
        return lumi_err(e, "%s is shard %d/%d, %s is shard %d/%d: different splits", s->dir, s->index, s->count,
                        first->dir, first->index, first->count);
    return 0;
}

static int by_index(const void *a, const void *b) {
    const Shard *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* Which shard holds each case (-1 none); exit-2 problems are printed. */
static int check_cover(const LumiExperimentKind *k, const LumiCaseList *cases, Shard *sh, int n, LumiErr *e) {
    Key *keys = lumi_xmalloc(sizeof *keys * (size_t)(cases->n ? cases->n : 1));
    for (int i = 0; i < cases->n; i++) keys[i] = (Key){cases->v[i].key, i};
    qsort(keys, (size_t)cases->n, sizeof *keys, by_key);
    int *owner = lumi_xmalloc(sizeof(int) * (size_t)(cases->n ? cases->n : 1));
    char *seen = lumi_xmalloc((size_t)(cases->n ? cases->n : 1)), *err = lumi_xmalloc((size_t)(cases->n ? cases->n : 1));
    for (int i = 0; i < cases->n; i++) owner[i] = -1;
    int bad = 0, listed = 0;
    for (int s = 0; s < n && !bad; s++) {
        LumiCaseLog log;
        if (lumi_jsonl_read(sh[s].dir, k->log_name, &log, e) != 0) {
            bad = -1;
            break;
        }
        memset(seen, 0, (size_t)cases->n);
        for (int r = 0; r < log.n; r++) {
            char key[256];
            if (!k->case_key(log.lines[r].root, key, sizeof key)) continue;
            int i = find_key(keys, cases->n, key);
            if (i < 0) {
                if (listed++ < MAX_LISTED) fprintf(stderr, "lumi: merge: %s/%s:%d: case '%s' is not in the config\n",
                                                   sh[s].dir, k->log_name, r + 1, key);
                bad = 1;
                continue;
            }
            seen[i] = 1; /* the last record of a case counts: a resumed shard retried its errors */
            err[i] = !strcmp(lumi_case_str(log.lines[r].root, "verdict", ""), "error");
        }
        lumi_caselog_free(&log);
        for (int i = 0; i < cases->n; i++) {
            if (!seen[i]) continue;
            if (owner[i] >= 0) {
                if (listed++ < MAX_LISTED)
                    fprintf(stderr, "lumi: merge: duplicate case '%s': in %s and %s\n", cases->v[i].key,
                            sh[owner[i]].dir, sh[s].dir);
                bad = 1;
            } else if (err[i]) {
                if (listed++ < MAX_LISTED)
                    fprintf(stderr, "lumi: merge: case '%s' failed in %s (lumi run --resume %s retries it)\n",
                            cases->v[i].key, sh[s].dir, sh[s].dir);
                bad = 1;
            }
            owner[i] = s;
        }
    }
    for (int i = 0; i < cases->n && bad >= 0; i++)
        if (owner[i] < 0) {
            if (listed++ < MAX_LISTED) fprintf(stderr, "lumi: merge: missing case '%s'\n", cases->v[i].key);
            bad = 1;
        }
    if (listed > MAX_LISTED) fprintf(stderr, "lumi: merge: ... and %d more\n", listed - MAX_LISTED);
    free(keys);
    free(owner);
    free(seen);
    free(err);
    if (bad > 0) lumi_err(e, "the shards do not cover every case exactly once");
    return bad ? -1 : 0;
}

/* Shards 1..N each exactly once. */
static int check_indexes(const Shard *sh, int n, LumiErr *e) {
    int count = sh[0].count, bad = 0;
    for (int s = 1; s < n; s++)
        if (sh[s].index == sh[s - 1].index) {
            fprintf(stderr, "lumi: merge: shard %d/%d twice: %s and %s\n", sh[s].index, count, sh[s - 1].dir, sh[s].dir);
            bad = 1;
        }
    for (int want = 1, s = 0; want <= count; want++) {
        while (s < n && sh[s].index < want) s++;
        if (s >= n || sh[s].index != want) {
            fprintf(stderr, "lumi: merge: shard %d/%d is missing\n", want, count);
            bad = 1;
        }
    }
    return bad ? lumi_err(e, "the shards given are not shards 1..%d, each once", count) : 0;
}

static int append_file(FILE *out, const char *path, LumiErr *e) {
    char *text;
    size_t len;
    if (lumi_read_file(path, &text, &len, e) != 0) return -1;
    int rc = fwrite(text, 1, len, out) == len ? 0 : -1;
    free(text);
    return rc;
}

static int is_jsonl(const char *name) {
    size_t l = strlen(name);
    return l > 6 && !strcmp(name + l - 6, ".jsonl");
}

/* OUT: a new folder (or an empty one) with the config and every log. */
static int write_out(const char *out, const Shard *sh, int n, LumiErr *e) {
    if (lumi_mkdirs(out, e) != 0) return -1;
    DIR *d = opendir(out);
    if (!d) return lumi_err(e, "%s: cannot open: %s", out, strerror(errno));
    struct dirent *de;
    int used = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) used = 1;
    closedir(d);
    if (used) return lumi_err(e, "%s: not empty (merge into a new folder)", out);
    char path[800];
    snprintf(path, sizeof path, "%s/config.yaml", out);
    if (lumi_write_atomic(path, sh[0].config, sh[0].config_len, e) != 0) return -1;
    if (!(d = opendir(sh[0].dir))) return lumi_err(e, "%s: cannot open: %s", sh[0].dir, strerror(errno));
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!is_jsonl(de->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", out, de->d_name);
        FILE *f = fopen(path, "wb");
        if (!f) {
            rc = lumi_err(e, "%s: cannot write: %s", path, strerror(errno));
            break;
        }
        for (int s = 0; s < n && rc == 0; s++) {
            char src[800];
            struct stat st;
            snprintf(src, sizeof src, "%s/%s", sh[s].dir, de->d_name);
            if (stat(src, &st) == 0 && append_file(f, src, e) != 0) rc = -1;
        }
        if (fclose(f) != 0 && rc == 0) rc = lumi_err(e, "%s: write failed", path);
        if (rc && !e->msg[0]) lumi_err(e, "%s: write failed", path);
    }
    closedir(d);
    return rc;
}

int lumi_merge(const char *out, char *const *dirs, int n) {
    LumiErr e = {{0}};
    Shard *sh = lumi_xcalloc((size_t)n, sizeof *sh);
    LumiCaseList cases = {0};
    LumiYamlDoc doc;
    int rc = 2, have_doc = 0;
    for (int s = 0; s < n; s++) {
        sh[s].dir = dirs[s];
        if (load_shard(&sh[s], s ? &sh[0] : NULL, &e) != 0) goto out;
    }
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config.yaml", sh[0].dir);
    if (lumi_yaml_load(cfg, &doc, &e) != 0) goto out;
    have_doc = 1;
    const char *kind = run_str(&sh[0], "kind", NULL);
    const LumiExperimentKind *k = lumi_experiment_find(kind);
    if (!k || !k->cases) {
        lumi_err(&e, "%s: kind '%s' cannot be merged", sh[0].dir, kind);
        goto out;
    }
    qsort(sh, (size_t)n, sizeof *sh, by_index);
    /* both checks print what they find, so one attempt lists every problem */
    int bad_index = check_indexes(sh, n, &e) != 0;
    if (k->cases(&doc, &cases, &e) != 0) goto out;
    if (check_cover(k, &cases, sh, n, &e) != 0 || bad_index) {
        if (bad_index && !e.msg[0]) lumi_err(&e, "the shards given are not shards 1..%d, each once", sh[0].count);
        goto out;
    }
    if (write_out(out, sh, n, &e) != 0) goto out;
    fprintf(stderr, "lumi: merge: %d shards, %d cases -> %s\n", n, cases.n, out);
    char copy[700];
    snprintf(copy, sizeof copy, "%s/config.yaml", out);
    char **from = lumi_xmalloc(sizeof *from * (size_t)n);
    for (int s = 0; s < n; s++) from[s] = (char *)sh[s].dir;
    LumiRunOpts o = {.config_path = copy, .resume_dir = out, .merged_from = from, .n_merged = n};
    rc = k->run(&doc, &o);
    free(from);
out:
    if (rc == 2 && e.msg[0]) fprintf(stderr, "lumi: merge: %s\n", e.msg);
    for (int s = 0; s < n; s++) {
        free(sh[s].config);
        if (sh[s].have_run) lumi_yaml_free(&sh[s].run);
    }
    free(sh);
    lumi_cases_free(&cases);
    if (have_doc) lumi_yaml_free(&doc);
    return rc;
}
