/* golden_merge.c: see golden_merge.h. */
#include "golden_merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "results.h"
#include "shard.h"

static const char *run_member(const LumiYamlDoc *d, const char *a, const char *b) {
    const LumiYamlNode *n = d->root && d->root->type == LUMI_Y_MAP ? lumi_yaml_get(d->root, a) : NULL;
    if (n && b) n = n->type == LUMI_Y_MAP ? lumi_yaml_get(n, b) : NULL;
    return n && n->type == LUMI_Y_SCALAR ? n->scalar : "?";
}

/* One shard's provenance: its config is the config, its model the model,
 * its commit the first shard's; *index / *count from its run.json. */
static int check_shard(const char *dir, const char *config, size_t config_len, const char *crc, char *commit,
                       size_t commit_n, int *index, int *count, LumiErr *e) {
    char path[700], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    if (lumi_read_file(path, &text, &len, e) != 0) return -1;
    int same = len == config_len && !memcmp(text, config, len);
    free(text);
    if (!same) return lumi_err(e, "%s differs from the config given: a shard of another record", path);
    if (lumi_shard_of_run(dir, index, count, e) != 0) return -1;
    if (!*count) return lumi_err(e, "%s: not a shard (record with lumi golden record CONFIG --shard I/N --dir DIR)", dir);
    LumiYamlDoc run;
    snprintf(path, sizeof path, "%s/run.json", dir);
    if (lumi_yaml_load(path, &run, e) != 0) return -1;
    int rc = 0;
    if (strcmp(run_member(&run, "made_by", NULL), "lumi golden record") != 0 ||
        strcmp(run_member(&run, "status", NULL), "complete") != 0)
        rc = lumi_err(e, "%s: not a completed golden record", path);
    else if (strcmp(run_member(&run, "model", "crc32"), crc) != 0)
        rc = lumi_err(e, "%s: model CRC-32 %s, but the config's model is %s", path, run_member(&run, "model", "crc32"), crc);
    else if (!commit[0])
        snprintf(commit, commit_n, "%s", run_member(&run, "commit", NULL));
    else if (strcmp(run_member(&run, "commit", NULL), commit) != 0)
        rc = lumi_err(e, "%s: lumi commit %s, but the first shard ran %s", path, run_member(&run, "commit", NULL), commit);
    lumi_yaml_free(&run);
    return rc;
}

/* Shards 1..count each once. */
static int check_indexes(char *const *dirs, const int *index, int n, int count, LumiErr *e) {
    int bad = 0;
    for (int want = 1; want <= count; want++) {
        int seen = -1;
        for (int s = 0; s < n; s++) {
            if (index[s] != want) continue;
            if (seen >= 0) {
                fprintf(stderr, "lumi: golden merge: shard %d/%d twice: %s and %s\n", want, count, dirs[seen], dirs[s]);
                bad = 1;
            }
            seen = s;
        }
        if (seen < 0) {
            fprintf(stderr, "lumi: golden merge: shard %d/%d is missing\n", want, count);
            bad = 1;
        }
    }
    return bad ? lumi_err(e, "the shards given are not shards 1..%d, each once", count) : 0;
}

/* Every prompt in exactly one shard's manifest, and nothing else. */
static int check_cover(const LumiEquivConfig *c, LumiGoldenShards *s, LumiErr *e) {
    int bad = 0;
    for (int k = 0; k < s->n; k++) {
        const LumiYamlNode *list = lumi_yaml_get(s->manifests[k].root, "prompts");
        if (lumi_yaml_expect(&s->manifests[k], list, LUMI_Y_SEQ, "prompts", e) != 0) return -1;
        for (int i = 0; i < list->n; i++) {
            const char *name = list->items[i]->type == LUMI_Y_MAP ? lumi_case_str(list->items[i], "name", "") : "";
            int p = 0;
            while (p < c->common.n_prompts && strcmp(c->common.prompts[p].name, name) != 0) p++;
            if (p == c->common.n_prompts) {
                fprintf(stderr, "lumi: golden merge: %s: prompt '%s' is not in the config\n", s->manifests[k].path, name);
                bad = 1;
            } else if (s->owner[p] >= 0) {
                fprintf(stderr, "lumi: golden merge: duplicate prompt '%s': in %s and %s\n", name, s->dirs[s->owner[p]],
                        s->dirs[k]);
                bad = 1;
            } else {
                s->owner[p] = k;
                s->entry[p] = list->items[i];
            }
        }
    }
    for (int p = 0; p < c->common.n_prompts; p++)
        if (s->owner[p] < 0) {
            fprintf(stderr, "lumi: golden merge: missing prompt '%s'\n", c->common.prompts[p].name);
            bad = 1;
        }
    return bad ? lumi_err(e, "the shards do not hold every prompt exactly once") : 0;
}

int lumi_golden_shards_load(const char *config_path, const LumiEquivConfig *c, const LumiExpInputs *in,
                            char *const *dirs, int n, LumiGoldenShards *s, LumiErr *e) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->dirs = dirs;
    s->n_prompts = c->common.n_prompts;
    s->manifests = lumi_xcalloc((size_t)n, sizeof *s->manifests);
    s->have = lumi_xcalloc((size_t)n, sizeof(int));
    s->owner = lumi_xmalloc(sizeof(int) * (size_t)(s->n_prompts + 1));
    s->entry = lumi_xcalloc((size_t)(s->n_prompts + 1), sizeof *s->entry);
    for (int p = 0; p < s->n_prompts; p++) s->owner[p] = -1;
    char *config, crc[16], commit[128] = "";
    size_t config_len;
    snprintf(crc, sizeof crc, "%08x", (unsigned)in->model_crc);
    if (lumi_read_file(config_path, &config, &config_len, e) != 0) return -1;
    int *index = lumi_xcalloc((size_t)n, sizeof(int)), count = 0, rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        int cnt;
        rc = check_shard(dirs[k], config, config_len, crc, commit, sizeof commit, &index[k], &cnt, e);
        if (rc == 0 && k && cnt != count)
            rc = lumi_err(e, "%s is a shard of %d, %s of %d: different splits", dirs[k], cnt, dirs[0], count);
        count = cnt;
        char path[700];
        snprintf(path, sizeof path, "%s/manifest.json", dirs[k]);
        if (rc == 0 && (rc = lumi_yaml_load(path, &s->manifests[k], e)) == 0) s->have[k] = 1;
    }
    free(config);
    /* both checks print what they find, so one attempt lists every problem */
    if (rc == 0) {
        int bad_index = check_indexes(dirs, index, n, count, e) != 0;
        LumiErr ce;
        if (check_cover(c, s, &ce) != 0) rc = bad_index ? -1 : lumi_err(e, "%s", ce.msg);
        else if (bad_index) rc = -1;
    }
    free(index);
    return rc;
}

int lumi_golden_shard_trace(const LumiGoldenShards *s, int p, int vocab, int max_rows, LumiTrace *t, LumiErr *e) {
    memset(t, 0, sizeof *t);
    const LumiYamlDoc *m = &s->manifests[s->owner[p]];
    const LumiYamlNode *x = s->entry[p], *tok = lumi_yaml_get(x, "tokens");
    const char *file = lumi_case_str(x, "file", ""), *crc = lumi_case_str(x, "crc32", "");
    long rows;
    if (lumi_yaml_int(m, x, "rows", 1, 1, max_rows, &rows, e) != 0) return -1; /* no more than a context holds */
    if (strchr(file, '/') || !strcmp(file, "..") || !file[0])
        return lumi_yaml_err(m, x, e, "'file' must be a file name in the shard's folder");
    if (lumi_yaml_expect(m, tok, LUMI_Y_SEQ, "tokens", e) != 0) return -1;
    char *end;
    unsigned long c = strtoul(crc, &end, 16);
    if (*end || !*crc) return lumi_yaml_err(m, x, e, "'crc32' must be 8 hex digits");
    char path[800];
    snprintf(path, sizeof path, "%s/%s", s->dirs[s->owner[p]], file);
    if (lumi_npy_gz_read(path, (size_t)rows, (size_t)vocab, (uint32_t)c, &t->logits, e) != 0) return -1;
    t->n_pos = (int)rows;
    t->tokens = lumi_xmalloc(sizeof(int) * (size_t)(tok->n + 1));
    t->n_tokens = tok->n;
    for (int i = 0; i < tok->n; i++) {
        long v;
        if (lumi_yaml_node_int(m, tok->items[i], "tokens", 0, vocab - 1, &v, e) != 0) {
            lumi_trace_free(t);
            return -1;
        }
        t->tokens[i] = (int)v;
    }
    return 0;
}

void lumi_golden_shards_free(LumiGoldenShards *s) {
    for (int k = 0; k < s->n && s->have; k++)
        if (s->have[k]) lumi_yaml_free(&s->manifests[k]);
    free(s->manifests);
    free(s->have);
    free(s->owner);
    free(s->entry);
    memset(s, 0, sizeof *s);
}
