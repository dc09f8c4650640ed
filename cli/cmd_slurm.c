/* cmd_slurm.c: `lumi slurm CONFIG --shards N ...` writes two Slurm batch
 * scripts into the output folder, and with --submit submits them:
 *   array.sh   a job array, task I running `lumi run --shard I/N` into
 *              DIR/shard-I (a task that finds its folder from an earlier
 *              attempt completes it with --resume instead);
 *   merge.sh   `lumi merge DIR/merged DIR/shard-*`, submitted with
 *              --dependency=afterok:<array job>, so it runs once every
 *              task succeeded;
 *   submit.sh  the two sbatch calls, for submitting by hand.
 * The config is copied to DIR/config.yaml first: every task runs that copy,
 * so editing the original while the array waits in the queue changes
 * nothing. Threads: lumi's "all cores" is SLURM_CPUS_PER_TASK in a task. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../engine/json.h"
#include "cli.h"

static const char *USAGE =
    "usage: lumi slurm CONFIG --shards N [--partition P] [--time HH:MM:SS] [--mem M] [--cpus C]\n"
    "                  [--output DIR] [--submit] [--json]\n"
    "  writes DIR/array.sh (a job array: task I runs lumi run CONFIG --shard I/N into DIR/shard-I),\n"
    "  DIR/merge.sh (lumi merge DIR/merged DIR/shard-*, after the array: --dependency=afterok) and\n"
    "  DIR/submit.sh; --submit submits both with sbatch and prints the job ids\n"
    "  (--json: one object {\"dir\", \"array_job\", \"merge_job\", \"merged\"}, job ids null unless --submit).\n"
    "  DIR defaults to <output>/<name>/slurm-<UTC time>; it must be on a filesystem every node sees.\n"
    "  --cpus C (default 1) is each task's --cpus-per-task, which lumi uses as its thread count;\n"
    "  --mem (default 2G) and --time (default 01:00:00) are per task.\n";

typedef struct {
    const char *config, *partition, *time, *mem, *output;
    int shards, cpus, submit, json;
    char dir[PATH_MAX], cwd[PATH_MAX], lumi[PATH_MAX], name[128];
} Job;

/* Values go into scripts between single quotes: refuse what would break out. */
static int safe(const char *what, const char *v, const char *allowed) {
    for (const char *p = v; *p; p++)
        if (!(allowed ? strchr(allowed, *p) != NULL : (*p != '\'' && *p != '\n' && *p != '\r'))) {
            cli_error("slurm: %s '%s': character '%c' is not allowed here", what, v, *p);
            return 0;
        }
    if (!*v) cli_error("slurm: %s is empty", what);
    return *v != 0;
}

static const char *DIGITS = "0123456789";

static int parse(Job *j, int argc, char **argv) {
    memset(j, 0, sizeof *j);
    j->time = "01:00:00", j->mem = "2G", j->cpus = 1;
    const char *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--submit")) j->submit = 1;
        else if (!strcmp(a, "--json")) j->json = 1;
        else if (!strcmp(a, "--shards") || !strcmp(a, "--cpus")) {
            if (!(v = cli_value(argc, argv, &i))) return -1;
            char *end;
            long n = strtol(v, &end, 10);
            long max = !strcmp(a, "--shards") ? 100000 : 4096;
            if (*end || end == v || n < 1 || n > max) {
                cli_error("slurm: %s %s: expected 1..%ld", a, v, max);
                return -1;
            }
            *(!strcmp(a, "--shards") ? &j->shards : &j->cpus) = (int)n;
        } else if (!strcmp(a, "--partition")) {
            if (!(v = cli_value(argc, argv, &i)) ||
                !safe("--partition", v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,-"))
                return -1;
            j->partition = v;
        } else if (!strcmp(a, "--time")) {
            if (!(v = cli_value(argc, argv, &i)) || !safe("--time", v, "0123456789:-")) return -1;
            j->time = v;
        } else if (!strcmp(a, "--mem")) {
            if (!(v = cli_value(argc, argv, &i)) || !safe("--mem", v, "0123456789KMGT")) return -1;
            if (!strchr(DIGITS, v[0])) return cli_error("slurm: --mem %s: expected e.g. 4G", v), -1;
            j->mem = v;
        } else if (!strcmp(a, "--output")) {
            if (!(v = cli_value(argc, argv, &i)) || !safe("--output", v, NULL)) return -1;
            j->output = v;
        } else if (a[0] == '-' || j->config) {
            cli_error("slurm: unexpected argument '%s'", a);
            return -1;
        } else {
            j->config = a;
        }
    }
    if (!j->config || !j->shards) {
        cli_error("slurm: %s", !j->config ? "CONFIG is required" : "--shards N is required");
        return -1;
    }
    return safe("CONFIG", j->config, NULL) ? 0 : -1;
}

/* Absolute form of p (relative to the current directory). */
static void absolute(const char *cwd, const char *p, char *out, size_t n) {
    if (p[0] == '/') snprintf(out, n, "%s", p);
    else snprintf(out, n, "%.2000s/%.2000s", cwd, p);
}

/* Name and output folder from the config; the kind must be one that merges. */
static int read_config(Job *j) {
    LumiYamlDoc doc;
    LumiErr e;
    if (lumi_yaml_load(j->config, &doc, &e) != 0) return cli_error("%s", e.msg), -1;
    const char *kind = NULL, *name = NULL, *output = NULL;
    int rc = -1;
    if (lumi_yaml_expect(&doc, doc.root, LUMI_Y_MAP, "the config", &e) != 0 ||
        lumi_yaml_str(&doc, doc.root, "kind", 1, &kind, &e) != 0 || lumi_yaml_str(&doc, doc.root, "name", 0, &name, &e) != 0 ||
        lumi_yaml_str(&doc, doc.root, "output", 0, &output, &e) != 0) {
        cli_error("%s", e.msg);
    } else if (!lumi_experiment_find(kind) || !lumi_experiment_find(kind)->cases) {
        cli_error("slurm: %s: kind '%s' cannot be sharded", j->config, kind);
    } else if (safe("name", name ? name : (name = kind), NULL)) { /* bench configs have no name */
        snprintf(j->name, sizeof j->name, "%s", name);
        if (j->output) {
            absolute(j->cwd, j->output, j->dir, sizeof j->dir);
        } else {
            char stamp[32], rel[2400];
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
            snprintf(rel, sizeof rel, "%.2000s/%.200s/slurm-%s", output ? output : "results", name, stamp);
            absolute(j->cwd, rel, j->dir, sizeof j->dir);
        }
        rc = safe("--output", j->dir, NULL) ? 0 : -1;
    }
    lumi_yaml_free(&doc);
    return rc;
}

/* The #SBATCH lines must come before the first command: sbatch stops reading them there. */
static void sbatch_head(FILE *f, const Job *j, const char *what, const char *log, const char *extra) {
    fprintf(f, "#!/bin/bash\n# written by lumi slurm: %s of %s in %d shards\n", what, j->name, j->shards);
    fprintf(f, "#SBATCH --job-name=lumi-%s%s\n", j->name, strcmp(what, "merge") ? "" : "-merge");
    if (j->partition) fprintf(f, "#SBATCH --partition=%s\n", j->partition);
    fprintf(f, "#SBATCH --time=%s\n#SBATCH --mem=%s\n", j->time, j->mem);
    fprintf(f, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n", j->cpus);
    fprintf(f, "#SBATCH --chdir=%s\n#SBATCH --output=%s/logs/%s\n%s", j->cwd, j->dir, log, extra);
    fprintf(f, "# model, tokenizer and prompt paths in the config are relative to --chdir above\n"
               "# (load modules or activate environments here if the nodes need them)\n"
               "set -eu\n");
}

/* array.sh, merge.sh, submit.sh (+x). */
static int write_scripts(const Job *j) {
    char path[PATH_MAX + 32], text[PATH_MAX * 8];
    LumiErr e;
    FILE *f = fmemopen(text, sizeof text, "w");
    if (!f) return cli_error("slurm: out of memory"), -1;
    char array[64];
    snprintf(array, sizeof array, "#SBATCH --array=1-%d\n", j->shards);
    sbatch_head(f, j, "shards", "shard-%a.out", array);
    fprintf(f, "i=$SLURM_ARRAY_TASK_ID\nd='%s'/shard-$i\n", j->dir);
    fprintf(f, "if [ -e \"$d/config.yaml\" ]; then\n"
               "    # an earlier attempt of this task (requeued, or resubmitted with --array=$i): complete it\n"
               "    exec '%s' run --resume \"$d\" --shard \"$i/%d\"\n"
               "fi\n"
               "exec '%s' run '%s/config.yaml' --shard \"$i/%d\" --dir \"$d\"\n",
            j->lumi, j->shards, j->lumi, j->dir, j->shards);
    fclose(f);
    snprintf(path, sizeof path, "%s/array.sh", j->dir);
    if (lumi_write_atomic(path, text, strlen(text), &e) != 0) return cli_error("%s", e.msg), -1;
    if (!(f = fmemopen(text, sizeof text, "w"))) return -1;
    sbatch_head(f, j, "merge", "merge.out", "");
    fprintf(f, "exec '%s' merge '%s/merged' '%s/shard-*'\n", j->lumi, j->dir, j->dir);
    fclose(f);
    snprintf(path, sizeof path, "%s/merge.sh", j->dir);
    if (lumi_write_atomic(path, text, strlen(text), &e) != 0) return cli_error("%s", e.msg), -1;
    snprintf(text, sizeof text,
             "#!/bin/sh\n# submits the shards, then the merge once every shard succeeded\nset -e\n"
             "array=$(sbatch --parsable '%s/array.sh')\narray=${array%%%%;*}\n"
             "merge=$(sbatch --parsable --dependency=afterok:$array '%s/merge.sh')\n"
             "echo \"array job $array, merge job ${merge%%%%;*}: results in %s/merged\"\n",
             j->dir, j->dir, j->dir);
    snprintf(path, sizeof path, "%s/submit.sh", j->dir);
    if (lumi_write_atomic(path, text, strlen(text), &e) != 0) return cli_error("%s", e.msg), -1;
    const char *names[] = {"array.sh", "merge.sh", "submit.sh"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", j->dir, names[i]);
        chmod(path, 0755);
    }
    return 0;
}

/* sbatch --parsable prints "jobid" or "jobid;cluster". */
static int sbatch(const char *args, char *id, size_t n) {
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "sbatch --parsable %s", args);
    FILE *p = popen(cmd, "r");
    if (!p) return cli_error("slurm: cannot run sbatch: %s", strerror(errno)), -1;
    char line[60] = "";
    if (!fgets(line, sizeof line, p)) line[0] = 0;
    int st = pclose(p);
    line[strcspn(line, ";\r\n")] = 0;
    if (st != 0 || !line[0] || strspn(line, DIGITS) != strlen(line))
        return cli_error("slurm: %s failed (is Slurm installed and its controller up?)", cmd), -1;
    snprintf(id, n, "%s", line);
    return 0;
}

static void print_json(const Job *j, const char *array, const char *merge) {
    char merged[PATH_MAX + 8];
    snprintf(merged, sizeof merged, "%s/merged", j->dir);
    printf("{\"dir\":");
    lumi_json_cstr(stdout, j->dir);
    printf(",\"shards\":%d,\"array_job\":%s%s%s,\"merge_job\":%s%s%s,\"merged\":", j->shards, array[0] ? "\"" : "",
           array[0] ? array : "null", array[0] ? "\"" : "", merge[0] ? "\"" : "", merge[0] ? merge : "null",
           merge[0] ? "\"" : "");
    lumi_json_cstr(stdout, merged);
    printf("}\n");
}

int cmd_slurm(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            return LUMI_EXIT_OK;
        }
    Job j;
    if (parse(&j, argc, argv) != 0) {
        fputs(USAGE, stderr);
        return LUMI_EXIT_BAD;
    }
    ssize_t l = readlink("/proc/self/exe", j.lumi, sizeof j.lumi - 1);
    if (!getcwd(j.cwd, sizeof j.cwd) || l <= 0) return cli_error("slurm: cannot find the working folder or lumi itself"), LUMI_EXIT_BAD;
    j.lumi[l] = 0;
    if (!safe("the working folder", j.cwd, NULL) || !safe("lumi's path", j.lumi, NULL) || read_config(&j) != 0)
        return LUMI_EXIT_BAD;
    char logs[PATH_MAX + 8], copy[PATH_MAX + 16];
    char *text;
    size_t len;
    LumiErr e;
    snprintf(logs, sizeof logs, "%s/logs", j.dir);
    snprintf(copy, sizeof copy, "%s/config.yaml", j.dir);
    if (lumi_mkdirs(logs, &e) != 0 || lumi_read_file(j.config, &text, &len, &e) != 0) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
    int w = lumi_write_atomic(copy, text, len, &e);
    free(text);
    if (w != 0) return cli_error("%s", e.msg), LUMI_EXIT_BAD;
    if (write_scripts(&j) != 0) return LUMI_EXIT_BAD;
    char args[PATH_MAX * 2], array[64] = "", merge[64] = "";
    if (!j.submit) {
        if (j.json) print_json(&j, array, merge);
        else printf("wrote %s/{array,merge,submit}.sh; submit with: sh %s/submit.sh\n", j.dir, j.dir);
        return LUMI_EXIT_OK;
    }
    snprintf(args, sizeof args, "'%s/array.sh'", j.dir);
    if (sbatch(args, array, sizeof array) != 0) return LUMI_EXIT_BAD;
    snprintf(args, sizeof args, "--dependency=afterok:%s '%s/merge.sh'", array, j.dir);
    if (sbatch(args, merge, sizeof merge) != 0) {
        cli_error("slurm: the array job %s is submitted; cancel it with scancel %s", array, array);
        return LUMI_EXIT_BAD;
    }
    if (j.json) print_json(&j, array, merge);
    else printf("array job %s (%d tasks), merge job %s: results in %s/merged\n", array, j.shards, merge, j.dir);
    return LUMI_EXIT_OK;
}
