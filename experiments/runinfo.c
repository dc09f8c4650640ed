/* runinfo.c: build and machine description for run.json. Kept in its own
 * file because the Makefile recompiles it when the git commit changes. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../engine/json.h"
#include "inputs.h"
#include "results.h"

#ifndef LUMI_COMMIT
#define LUMI_COMMIT "unknown"
#endif

static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *p = strchr(line, ':');
        if (!p) continue;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        snprintf(buf, n, "%s", p);
        size_t l = strlen(buf);
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == ' ')) buf[--l] = 0;
        break;
    }
    fclose(f);
}

void lumi_runinfo_json(FILE *f) {
    struct utsname u;
    char un[1024] = "unknown", cpu[256];
    if (uname(&u) == 0) snprintf(un, sizeof un, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
    cpu_model(cpu, sizeof cpu);
    fprintf(f, "\"lumi_version\":");
    lumi_json_cstr(f, LUMI_VERSION);
    fprintf(f, ",\"commit\":");
    lumi_json_cstr(f, LUMI_COMMIT);
    fprintf(f, ",\"machine\":{\"uname\":");
    lumi_json_cstr(f, un);
    fprintf(f, ",\"cpu\":");
    lumi_json_cstr(f, cpu);
    fprintf(f, ",\"cores\":%ld}", sysconf(_SC_NPROCESSORS_ONLN));
}

void lumi_run_json_common(FILE *f, const LumiExpCommon *c, const LumiExpInputs *in, const char *run_id) {
    fprintf(f, "\"name\":");
    lumi_json_cstr(f, c->name);
    fprintf(f, ",\"kind\":");
    lumi_json_cstr(f, c->kind);
    fprintf(f, ",\"run_id\":");
    lumi_json_cstr(f, run_id);
    fprintf(f, ",\"model\":{\"path\":");
    lumi_json_cstr(f, in->model_path);
    fprintf(f, ",\"crc32\":\"%08x\",\"bytes\":%zu", (unsigned)in->model_crc, in->model_bytes);
    if (c->model.is_synth) {
        const LumiSynthSpec *s = &c->model.synth;
        fprintf(f, ",\"synth\":{\"dim\":%d,\"hidden\":%d,\"layers\":%d,\"heads\":%d,\"kv_heads\":%d,\"vocab\":%d,"
                   "\"seq\":%d,\"unshared\":%s,\"seed\":%llu}",
                s->dim, s->hidden_dim, s->n_layers, s->n_heads, s->n_kv_heads, s->vocab_size, s->seq_len,
                s->unshared ? "true" : "false", (unsigned long long)s->seed);
    }
    fprintf(f, "},\"tokenizer\":");
    if (c->tokenizer) lumi_json_cstr(f, c->tokenizer);
    else if (in->have_tok) lumi_json_cstr(f, in->tok.path); /* the model's own, found beside it */
    else fprintf(f, "null");
    fprintf(f, ",\"prompts\":[");
    for (int i = 0; i < in->n_prompts; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        lumi_json_cstr(f, c->prompts[i].name);
        fprintf(f, ",\"n_tokens\":%d,\"steps\":%d}", in->n_ids[i], in->n_gen[i]);
    }
    fprintf(f, "],\"sampler\":{\"temperature\":");
    lumi_json_num(f, c->sampler.temperature);
    fprintf(f, ",\"top_k\":%d,\"top_p\":", c->sampler.top_k);
    lumi_json_num(f, c->sampler.top_p);
    fprintf(f, ",\"seed\":%llu},\"stop_at_eos\":%s,", (unsigned long long)c->sampler.seed,
            c->stop_at_eos ? "true" : "false");
    lumi_runinfo_json(f);
}

void lumi_run_json_scope(FILE *f, const LumiRunOpts *o, int n_cases) {
    if (o && o->shard_count > 0)
        fprintf(f, ",\"shard\":{\"index\":%d,\"count\":%d,\"cases\":%d}", o->shard_index, o->shard_count, n_cases);
    if (o && o->n_merged > 0) {
        fprintf(f, ",\"merged_from\":[");
        for (int i = 0; i < o->n_merged; i++) {
            if (i) fputc(',', f);
            lumi_json_cstr(f, o->merged_from[i]);
        }
        fprintf(f, "]");
    }
}
