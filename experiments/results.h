/* results.h: the run folder results/<experiment>/<run id>/.
 *   config.yaml  the config as run (byte copy)
 *   run.json     version, commit, model + CRC-32, paths, machine, timings
 *   cases.jsonl  one JSON object per completed case, appended and fsync'd
 *                as each case completes, so a killed run keeps them all
 *   *.csv, *.txt tables, written atomically (temp file + rename)
 * A resumed run (lumi run --resume DIR) reads the completed cases back,
 * drops a torn last line, and appends the rest. */
#ifndef LUMI_RESULTS_H
#define LUMI_RESULTS_H
#include <stdio.h>

#include "experiment.h"
#include "yaml.h"

#ifndef LUMI_VERSION
#define LUMI_VERSION "0.1.0"
#endif

typedef struct {
    char dir[512];
    char run_id[64];
    FILE *cases;      /* cases.jsonl (or the kind's log), append */
    char log_name[32];
    double t0;        /* lumi_now() at open */
} LumiRunDir;

/* Creates <output>/<name>/<run id>/ (run id: UTC time, "-2".. if taken)
 * and copies the config file into it. */
int lumi_rundir_create(const char *output, const char *name, const char *config_path, LumiRunDir *r, LumiErr *e);
/* Opens an existing run folder to complete it. */
int lumi_rundir_resume(const char *dir, LumiRunDir *r, LumiErr *e);
/* The run folder a kind's run uses: o->resume_dir when resuming, o->run_dir
 * when given (created; refused if it holds anything), else a new one under
 * <output>/<name>/. The config is copied into a new folder; the log
 * (log_name, e.g. "cases.jsonl") is opened for append. */
int lumi_rundir_open(const LumiRunOpts *o, const char *output, const char *name, const char *log_name, LumiRunDir *r,
                     LumiErr *e);
/* Appends one line (without its newline) to cases.jsonl and makes it durable. */
int lumi_rundir_append(LumiRunDir *r, const char *line, size_t len, LumiErr *e);
/* Atomically writes dir/name. */
int lumi_rundir_write(const LumiRunDir *r, const char *name, const char *data, size_t len, LumiErr *e);
void lumi_rundir_close(LumiRunDir *r);

/* The completed cases of dir/cases.jsonl, each parsed (JSON is YAML flow
 * syntax) into a tree; a torn last line (no newline) is dropped from the
 * file. A line that does not parse is an error naming its number. */
typedef struct {
    LumiYamlDoc *lines;
    int n;
} LumiCaseLog;
int lumi_caselog_read(const char *dir, LumiCaseLog *log, LumiErr *e);
/* The same for dir/name (another kind's log, e.g. samples.jsonl). */
int lumi_jsonl_read(const char *dir, const char *name, LumiCaseLog *log, LumiErr *e);
void lumi_caselog_free(LumiCaseLog *log);

/* JSON members (no braces) describing this build and machine:
 * "lumi_version", "commit", "machine": {"uname", "cpu", "cores"}. */
void lumi_runinfo_json(FILE *f);
/* run.json members (each with its leading comma) saying what part of the
 * experiment a run is: "shard": {"index", "count", "cases"} for
 * --shard, "merged_from": [...] for lumi merge; nothing for a whole run.
 * Every kind writes them, so lumi merge can check any kind's shards. */
void lumi_run_json_scope(FILE *f, const LumiRunOpts *o, int n_cases);

/* A growable in-memory text buffer (open_memstream) for building lines. */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} LumiStrBuf;
void lumi_sb_open(LumiStrBuf *s);
/* Closes the stream; s->buf/len hold the text (free(s->buf) after). */
void lumi_sb_close(LumiStrBuf *s);

#endif

/* Reading back what results wrote: typed views of a case line's members.
 * A missing member gives the fallback; JSON null reads as +inf (metrics
 * are written as null when not finite). */
const char *lumi_case_str(const LumiYamlNode *map, const char *key, const char *fallback);
double lumi_case_num(const LumiYamlNode *map, const char *key, double fallback);
