/* results.c: see results.h. */
#include "results.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void lumi_sb_open(LumiStrBuf *s) {
    s->buf = NULL;
    s->len = 0;
    s->f = open_memstream(&s->buf, &s->len);
    if (!s->f) {
        fprintf(stderr, "lumi: out of memory (open_memstream)\n");
        exit(2);
    }
}

void lumi_sb_close(LumiStrBuf *s) {
    fclose(s->f);
    s->f = NULL;
}

static int copy_config(const char *config_path, const char *dir, LumiErr *e) {
    char *text;
    size_t len;
    if (lumi_read_file(config_path, &text, &len, e) != 0) return -1;
    char path[600];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    int rc = lumi_write_atomic(path, text, len, e);
    free(text);
    return rc;
}

static int open_cases(LumiRunDir *r, LumiErr *e) {
    char path[600];
    if (!r->log_name[0]) snprintf(r->log_name, sizeof r->log_name, "cases.jsonl");
    snprintf(path, sizeof path, "%s/%s", r->dir, r->log_name);
    r->cases = fopen(path, "ab");
    if (!r->cases) return lumi_err(e, "%s: cannot open for append: %s", path, strerror(errno));
    return 0;
}

static int create(const char *output, const char *name, const char *config_path, LumiRunDir *r, const char *log,
                  LumiErr *e) {
    memset(r, 0, sizeof *r);
    snprintf(r->log_name, sizeof r->log_name, "%s", log);
    r->t0 = lumi_now();
    char parent[400];
    snprintf(parent, sizeof parent, "%s/%s", output, name);
    if (lumi_mkdirs(parent, e) != 0) return -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (int k = 1;; k++) {
        if (k == 1) snprintf(r->run_id, sizeof r->run_id, "%s", stamp);
        else snprintf(r->run_id, sizeof r->run_id, "%s-%d", stamp, k);
        snprintf(r->dir, sizeof r->dir, "%s/%s", parent, r->run_id);
        if (mkdir(r->dir, 0777) == 0) break;
        if (errno != EEXIST || k > 1000) return lumi_err(e, "%s: cannot create: %s", r->dir, strerror(errno));
    }
    if (copy_config(config_path, r->dir, e) != 0) return -1;
    return open_cases(r, e);
}

int lumi_rundir_create(const char *output, const char *name, const char *config_path, LumiRunDir *r, LumiErr *e) {
    return create(output, name, config_path, r, "cases.jsonl", e);
}

static int resume(const char *dir, LumiRunDir *r, const char *log, LumiErr *e) {
    memset(r, 0, sizeof *r);
    snprintf(r->log_name, sizeof r->log_name, "%s", log);
    r->t0 = lumi_now();
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return lumi_err(e, "--resume %s: not a run folder", dir);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    size_t l = strlen(r->dir);
    while (l > 1 && r->dir[l - 1] == '/') r->dir[--l] = 0;
    const char *slash = strrchr(r->dir, '/');
    snprintf(r->run_id, sizeof r->run_id, "%s", slash ? slash + 1 : r->dir);
    return open_cases(r, e);
}

int lumi_rundir_resume(const char *dir, LumiRunDir *r, LumiErr *e) { return resume(dir, r, "cases.jsonl", e); }

/* --dir DIR: a Slurm task writes where the merge job will look. An
 * existing empty folder is fine (made by the job script); one with files in
 * it is an earlier attempt: lumi run --resume DIR completes that. */
static int create_at(const char *dir, const char *config_path, LumiRunDir *r, const char *log, LumiErr *e) {
    memset(r, 0, sizeof *r);
    snprintf(r->log_name, sizeof r->log_name, "%s", log);
    r->t0 = lumi_now();
    if (strlen(dir) >= sizeof r->dir) return lumi_err(e, "--dir %.80s...: longer than %zu bytes", dir, sizeof r->dir - 1);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    size_t l = strlen(r->dir);
    while (l > 1 && r->dir[l - 1] == '/') r->dir[--l] = 0;
    char parent[512];
    snprintf(parent, sizeof parent, "%s", r->dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (lumi_mkdirs(parent, e) != 0) return -1;
    }
    if (mkdir(r->dir, 0777) != 0 && errno != EEXIST) return lumi_err(e, "--dir %s: cannot create: %s", r->dir, strerror(errno));
    DIR *d = opendir(r->dir);
    if (!d) return lumi_err(e, "--dir %s: cannot open: %s", r->dir, strerror(errno));
    struct dirent *de;
    int used = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) used = 1;
    closedir(d);
    if (used) return lumi_err(e, "--dir %s: not empty (complete an earlier attempt with lumi run --resume %s)", r->dir, r->dir);
    slash = strrchr(r->dir, '/');
    snprintf(r->run_id, sizeof r->run_id, "%s", slash ? slash + 1 : r->dir);
    if (copy_config(config_path, r->dir, e) != 0) return -1;
    return open_cases(r, e);
}

int lumi_rundir_open(const LumiRunOpts *o, const char *output, const char *name, const char *log_name, LumiRunDir *r,
                     LumiErr *e) {
    if (o->resume_dir) return resume(o->resume_dir, r, log_name, e);
    if (o->run_dir) return create_at(o->run_dir, o->config_path, r, log_name, e);
    return create(output, name, o->config_path, r, log_name, e);
}

int lumi_rundir_append(LumiRunDir *r, const char *line, size_t len, LumiErr *e) {
    if (fwrite(line, 1, len, r->cases) != len || fputc('\n', r->cases) == EOF || fflush(r->cases) != 0 ||
        fsync(fileno(r->cases)) != 0)
        return lumi_err(e, "%s/%s: write failed: %s", r->dir, r->log_name, strerror(errno));
    return 0;
}

int lumi_rundir_write(const LumiRunDir *r, const char *name, const char *data, size_t len, LumiErr *e) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    return lumi_write_atomic(path, data, len, e);
}

void lumi_rundir_close(LumiRunDir *r) {
    if (r->cases) fclose(r->cases);
    r->cases = NULL;
}

int lumi_caselog_read(const char *dir, LumiCaseLog *log, LumiErr *e) { return lumi_jsonl_read(dir, "cases.jsonl", log, e); }

int lumi_jsonl_read(const char *dir, const char *name, LumiCaseLog *log, LumiErr *e) {
    memset(log, 0, sizeof *log);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text;
    size_t len;
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* interrupted before the first case */
    if (lumi_read_file(path, &text, &len, e) != 0) return -1;
    /* a run killed mid-write leaves a line without its newline: drop it */
    size_t keep = len;
    while (keep > 0 && text[keep - 1] != '\n') keep--;
    if (keep != len && truncate(path, (off_t)keep) != 0) {
        free(text);
        return lumi_err(e, "%s: cannot drop the torn last line: %s", path, strerror(errno));
    }
    int line = 0;
    for (size_t off = 0; off < keep;) {
        char *nl = memchr(text + off, '\n', keep - off);
        size_t n = (size_t)(nl - (text + off));
        line++;
        if (n > 0) {
            char name[700];
            snprintf(name, sizeof name, "%s:%d", path, line);
            log->lines = lumi_xrealloc(log->lines, sizeof *log->lines * (size_t)(log->n + 1));
            if (lumi_yaml_parse(text + off, n, name, &log->lines[log->n], e) != 0) {
                free(text);
                lumi_caselog_free(log);
                return -1;
            }
            log->n++;
        }
        off += n + 1;
    }
    free(text);
    return 0;
}

void lumi_caselog_free(LumiCaseLog *log) {
    for (int i = 0; i < log->n; i++) lumi_yaml_free(&log->lines[i]);
    free(log->lines);
    memset(log, 0, sizeof *log);
}

const char *lumi_case_str(const LumiYamlNode *map, const char *key, const char *fallback) {
    const LumiYamlNode *n = lumi_yaml_get(map, key);
    return n && n->type == LUMI_Y_SCALAR ? n->scalar : fallback;
}

double lumi_case_num(const LumiYamlNode *map, const char *key, double fallback) {
    const LumiYamlNode *n = lumi_yaml_get(map, key);
    if (!n || n->type != LUMI_Y_SCALAR) return fallback;
    if (!n->quoted && !strcmp(n->scalar, "null")) return 1.0 / 0.0;
    if (!strcmp(n->scalar, "true")) return 1;
    if (!strcmp(n->scalar, "false")) return 0;
    double v;
    return lumi_parse_float(n->scalar, &v) == 0 ? v : fallback;
}
