/* chat.c: the `chat` experiment kind, see chat.h. */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

#include "../engine/json.h"
#include "chat_run.h"
#include "config.h"
#include "equivalence.h"
#include "inputs.h"
#include "metrics.h"
#include "plot.h"
#include "results.h"
#include "trace.h"

static const char *const CHAT_KEYS[] = {"template", "system",    "replies",   "turns",
                                        "paths",    "reference", "tolerance", NULL};

/* One path of the matrix crossed with a turns strategy. */
typedef struct {
    LumiPathEntry pe; /* spec.turns set; label includes it */
    int anchor;       /* index of its same-backend anchor, -1: none (the reference's backend) */
} ChatPath;

/* One turn as a path computed it: rows of positions [pos0, pos0 + n_rows). */
typedef struct {
    float *rows;
    int pos0, n_rows;
    LumiTurnResult r;
} TurnRows;

typedef struct {
    const LumiYamlDoc *doc;
    LumiExpCommon c;
    LumiExpInputs in;
    const char *template_name, *system;
    LumiChatTemplate tpl;
    int n_turns;
    char **users;            /* [n_turns] */
    int **fixed, *n_fixed;   /* [n_turns] fixed reply ids, NULL: generated */
    int **script, *n_script; /* [n_turns] the replies every path replays */
    LumiPathEntry *matrix;
    int n_matrix;
    ChatPath *paths;
    int n_paths;
    LumiPathEntry reference;
    LumiTolerance same, cross;
    TurnRows *ref, *anchors; /* [n_turns], [n_paths * n_turns] (NULL rows where not an anchor) */
    int max_new;
} ChatExp;

static int parse_turns(ChatExp *x, LumiErr *e) {
    const LumiYamlDoc *d = x->doc;
    const LumiYamlNode *t = lumi_yaml_get(d->root, "turns");
    static const char *const DEFAULT[] = {"keep", "rebuild"};
    int n = t ? (t->type == LUMI_Y_SEQ ? t->n : 1) : 2;
    if (t && t->type == LUMI_Y_MAP)
        return lumi_yaml_err(d, t, e, "'turns' must be a strategy or a list (keep, rebuild)");
    if (n == 0) return lumi_yaml_err(d, t, e, "'turns' is empty");
    x->paths = lumi_xcalloc((size_t)(x->n_matrix * n), sizeof *x->paths);
    for (int k = 0; k < x->n_matrix; k++)
        for (int j = 0; j < n; j++) {
            const LumiYamlNode *v = !t ? NULL : t->type == LUMI_Y_SEQ ? t->items[j] : t;
            if (v && v->type != LUMI_Y_SCALAR) return lumi_yaml_err(d, v, e, "'turns' entries are strategy names");
            ChatPath *p = &x->paths[x->n_paths++];
            p->pe = x->matrix[k];
            LumiErr pe;
            if (lumi_path_set(&p->pe.spec, "turns", v ? v->scalar : DEFAULT[j], &pe) != 0)
                return lumi_yaml_err(d, v, e, "turns: %s", pe.msg);
            char base[160];
            lumi_path_format(&p->pe.spec, base, sizeof base);
            if (p->pe.has_canary)
                snprintf(p->pe.label, sizeof p->pe.label, "%.120s canary@%d", base, p->pe.canary.position);
            else
                snprintf(p->pe.label, sizeof p->pe.label, "%s", base);
        }
    return 0;
}

/* The user turns are the prompts (text or file); replies fixed where given. */
static int parse_script(ChatExp *x, LumiErr *e) {
    const LumiYamlDoc *d = x->doc;
    x->n_turns = x->c.n_prompts;
    x->users = lumi_xcalloc((size_t)x->n_turns, sizeof *x->users);
    x->fixed = lumi_xcalloc((size_t)x->n_turns, sizeof *x->fixed);
    x->n_fixed = lumi_xcalloc((size_t)x->n_turns, sizeof(int));
    x->script = lumi_xcalloc((size_t)x->n_turns, sizeof *x->script);
    x->n_script = lumi_xcalloc((size_t)x->n_turns, sizeof(int));
    for (int i = 0; i < x->n_turns; i++) {
        const LumiPromptSrc *p = &x->c.prompts[i];
        if (p->ids) return lumi_yaml_err(d, p->node, e, "chat turn '%s': turns are text, not ids", p->name);
        if (p->file) {
            LumiErr fe;
            size_t l;
            if (lumi_read_file(p->file, &x->users[i], &l, &fe) != 0)
                return lumi_yaml_err(d, p->node, e, "chat turn '%s': %s", p->name, fe.msg);
            while (l > 0 && (x->users[i][l - 1] == '\n' || x->users[i][l - 1] == '\r')) x->users[i][--l] = 0;
        } else {
            x->users[i] = lumi_xstrdup(p->text);
        }
        LumiErr te;
        if (lumi_chat_check_text(x->users[i], "turn", &te) != 0)
            return lumi_yaml_err(d, p->node, e, "chat turn '%s': %s", p->name, te.msg);
    }
    const LumiYamlNode *r = lumi_yaml_get(d->root, "replies");
    if (!r) return 0;
    if (lumi_yaml_expect(d, r, LUMI_Y_SEQ, "replies", e) != 0) return -1;
    if (r->n > x->n_turns) return lumi_yaml_err(d, r, e, "'replies' has %d entries for %d turns", r->n, x->n_turns);
    for (int i = 0; i < r->n; i++) {
        const LumiYamlNode *v = r->items[i];
        if (v->type != LUMI_Y_SCALAR) return lumi_yaml_err(d, v, e, "replies[%d]: text or null", i);
        if (!v->quoted && (!strcmp(v->scalar, "null") || !strcmp(v->scalar, "~") || !v->scalar[0])) continue;
        LumiErr te;
        if (lumi_chat_check_text(v->scalar, "reply", &te) != 0)
            return lumi_yaml_err(d, v, e, "replies[%d]: %s", i, te.msg);
        lumi_encode(&x->in.tok, v->scalar, 0, 0, &x->fixed[i], &x->n_fixed[i]);
        if (x->n_fixed[i] > x->max_new) x->max_new = x->n_fixed[i];
    }
    return 0;
}

static int parse(ChatExp *x, LumiErr *e) {
    const LumiYamlDoc *d = x->doc;
    if (lumi_yaml_str(d, d->root, "template", 0, &x->template_name, e) != 0) return -1;
    if (lumi_yaml_str(d, d->root, "system", 0, &x->system, e) != 0) return -1;
    if (!x->template_name) x->template_name = "llama2";
    if (lumi_config_paths(d, lumi_yaml_get(d->root, "paths"), &x->matrix, &x->n_matrix, e) != 0) return -1;
    const LumiYamlNode *r = lumi_yaml_get(d->root, "reference");
    if (r) {
        if (lumi_config_path(d, r, "reference", 0, &x->reference, e) != 0) return -1;
    } else {
        lumi_path_default(&x->reference.spec);
        strcpy(x->reference.spec.prefill, "token");
    }
    strcpy(x->reference.spec.turns, "rebuild"); /* computes every position every turn */
    lumi_path_format(&x->reference.spec, x->reference.label, sizeof x->reference.label);
    lumi_tolerance_bitwise(&x->same);
    lumi_tolerance_max_abs(&x->cross, 1e-4);
    const LumiYamlNode *t = lumi_yaml_get(d->root, "tolerance");
    if (t) {
        static const char *const keys[] = {"same_backend", "cross_backend", NULL};
        if (lumi_yaml_expect(d, t, LUMI_Y_MAP, "tolerance", e) != 0 || lumi_yaml_check_keys(d, t, keys, e) != 0)
            return -1;
        const LumiYamlNode *s = lumi_yaml_get(t, "same_backend"), *c = lumi_yaml_get(t, "cross_backend");
        if (s && lumi_config_tolerance(d, s, "tolerance.same_backend", &x->same, e) != 0) return -1;
        if (c && lumi_config_tolerance(d, c, "tolerance.cross_backend", &x->cross, e) != 0) return -1;
    }
    return parse_turns(x, e);
}

/* Each backend other than the reference's is held to its own first rebuild
 * path (or first path) at the same-backend tolerance: keep == rebuild there too. */
static void set_anchors(ChatExp *x) {
    for (int k = 0; k < x->n_paths; k++) {
        const LumiPathSpec *s = &x->paths[k].pe.spec;
        x->paths[k].anchor = -1;
        if (!strcmp(s->backend, x->reference.spec.backend)) continue;
        for (int j = 0; j < x->n_paths && x->paths[k].anchor < 0; j++)
            if (!strcmp(x->paths[j].pe.spec.backend, s->backend) && !strcmp(x->paths[j].pe.spec.turns, "rebuild") &&
                !x->paths[j].pe.has_canary)
                x->paths[k].anchor = j;
        for (int j = 0; j < x->n_paths && x->paths[k].anchor < 0; j++)
            if (!strcmp(x->paths[j].pe.spec.backend, s->backend) && !x->paths[j].pe.has_canary) x->paths[k].anchor = j;
        if (x->paths[k].anchor == k) x->paths[k].anchor = -1;
    }
}

/* The conversation on one path: generated where `generate`, else the script. */
static int converse(ChatExp *x, const LumiPathEntry *pe, int generate, TurnRows *out, LumiErr *e) {
    const LumiModel *m = &x->in.model;
    size_t V = (size_t)m->cfg.vocab_size, T = (size_t)m->cfg.seq_len;
    LumiSession s;
    LumiSampler smp;
    if (lumi_sampler_init(&smp, &x->c.sampler, m->cfg.vocab_size, e) != 0) return -1;
    if (lumi_session_open(&s, m, &pe->spec, e) != 0) {
        lumi_sampler_free(&smp);
        return -1;
    }
    LumiChat chat;
    lumi_chat_init(&chat, &s, &smp, &x->tpl, lumi_turns_of(&pe->spec), x->system, x->max_new);
    int rc = lumi_chat_check_system(&chat, e);
    for (int t = 0; t < x->n_turns && rc == 0; t++) {
        TurnRows *o = &out[t];
        o->rows = lumi_xmalloc(sizeof(float) * T * V);
        int gen = generate && !x->fixed[t];
        const int *forced = gen ? NULL : generate ? x->fixed[t] : x->script[t];
        int n_forced = gen ? 0 : generate ? x->n_fixed[t] : x->n_script[t];
        rc = lumi_chat_turn(&chat, x->users[t], forced, n_forced, NULL, NULL, o->rows, &o->pos0, &o->r, e);
        if (rc != 0) break;
        if (o->r.dropped) {
            rc = lumi_err(e, "turn %d: the conversation does not fit the context of %zu: shorten it", t + 1, T);
            break;
        }
        /* rows fed: the prefill, then every reply token fed back */
        o->n_rows =
            o->r.new_tokens + (forced ? n_forced : (o->r.stop == LUMI_GEN_STOP_TOKEN ? o->r.n_ids : o->r.n_ids - 1));
        if (o->n_rows < o->r.new_tokens) o->n_rows = o->r.new_tokens;
        /* keep only the rows computed: a 128K vocabulary makes a whole context of rows 64 MB a turn */
        o->rows = lumi_xrealloc(o->rows, sizeof(float) * V * (size_t)(o->n_rows > 0 ? o->n_rows : 1));
        if (generate) {
            x->script[t] = lumi_xmalloc(sizeof(int) * (size_t)(o->r.n_ids > 0 ? o->r.n_ids : 1));
            memcpy(x->script[t], o->r.ids, sizeof(int) * (size_t)o->r.n_ids);
            x->n_script[t] = o->r.n_ids;
        }
        if (pe->has_canary && pe->canary.position >= o->pos0 && pe->canary.position < o->pos0 + o->n_rows)
            lumi_canary_apply(o->rows + (size_t)(pe->canary.position - o->pos0) * V, (int)V, pe->canary.epsilon);
    }
    lumi_chat_free(&chat);
    lumi_session_close(&s);
    lumi_sampler_free(&smp);
    return rc;
}

static void free_rows(TurnRows *r, int n) {
    for (int i = 0; r && i < n; i++) {
        free(r[i].rows);
        r[i].rows = NULL;
    }
}

/* Rows of `got` against `want` at every position both computed in turn t. */
static void compare_turn(const TurnRows *want, const TurnRows *got, int V, int t, const LumiTolerance *tol,
                         LumiCaseMetrics *cm, int *bad_turn) {
    int lo = got->pos0 > want->pos0 ? got->pos0 : want->pos0;
    int hi = got->pos0 + got->n_rows < want->pos0 + want->n_rows ? got->pos0 + got->n_rows : want->pos0 + want->n_rows;
    for (int p = lo; p < hi; p++) {
        LumiPosMetrics pm;
        lumi_metrics_row(want->rows + (size_t)(p - want->pos0) * (size_t)V,
                         got->rows + (size_t)(p - got->pos0) * (size_t)V, V, &pm);
        int was = cm->first_bad;
        lumi_case_add(cm, p, &pm, tol);
        if (was < 0 && cm->first_bad >= 0) *bad_turn = t + 1;
    }
}

/* One path's conversation measured against the reference (and its anchor). */
typedef struct {
    LumiCaseMetrics ref, own;
    int bad_turn_ref, bad_turn_own;
} PathCheck;

static int run_path(ChatExp *x, int k, PathCheck *pc, TurnRows *rows, LumiErr *e) {
    ChatPath *p = &x->paths[k];
    int V = x->in.model.cfg.vocab_size;
    int rc = converse(x, &p->pe, 0, rows, e);
    lumi_case_init(&pc->ref);
    lumi_case_init(&pc->own);
    pc->bad_turn_ref = pc->bad_turn_own = 0;
    const LumiTolerance *tol = !strcmp(p->pe.spec.backend, x->reference.spec.backend) ? &x->same : &x->cross;
    for (int t = 0; t < x->n_turns && rc == 0; t++) {
        compare_turn(&x->ref[t], &rows[t], V, t, tol, &pc->ref, &pc->bad_turn_ref);
        if (p->anchor >= 0 && x->anchors[(size_t)p->anchor * x->n_turns + t].rows)
            compare_turn(&x->anchors[(size_t)p->anchor * x->n_turns + t], &rows[t], V, t, &x->same, &pc->own,
                         &pc->bad_turn_own);
    }
    return rc;
}

static int is_anchor(const ChatExp *x, int k) {
    for (int j = 0; j < x->n_paths; j++)
        if (x->paths[j].anchor == k) return 1;
    return 0;
}

/* The anchor's rows, for a path whose anchor ran in another shard (or
 * before a resume): computed again here, not logged. */
static int need_anchor(ChatExp *x, int a, LumiErr *e) {
    TurnRows *rows = &x->anchors[(size_t)a * x->n_turns];
    if (rows[0].rows) return 0;
    int rc = converse(x, &x->paths[a].pe, 0, rows, e);
    if (rc != 0) free_rows(rows, x->n_turns);
    return rc;
}

/* ---- the log: per path, one line per turn then the path's verdict, all
 * in one append; the tables are rebuilt from it (a fresh, resumed or
 * merged run reports the same way) ---- */

static void turn_line(FILE *f, const ChatExp *x, int k, const TurnRows *r, int t) {
    fprintf(f, "{\"path\":");
    lumi_json_cstr(f, x->paths[k].pe.label);
    fprintf(f, ",\"turns\":\"%s\",\"turn\":%d,\"new_tokens\":%d,\"cached_tokens\":%d,\"reply_tokens\":%d,\"ttft_s\":",
            x->paths[k].pe.spec.turns, t + 1, r->r.new_tokens, r->r.cached_tokens, x->n_script[t]);
    lumi_json_num(f, r->r.ttft_s);
    fprintf(f, "}\n");
}

static void check_members(FILE *f, const char *pre, const LumiCaseMetrics *m, int bad_turn) {
    char why[160] = "";
    if (m->first_bad >= 0) lumi_violation_format(&m->bad, why, sizeof why);
    fprintf(f, ",\"%spositions\":%d,\"%sbitwise\":%d,\"%smax_abs\":", pre, m->n_positions, pre, m->n_bitwise, pre);
    lumi_json_num(f, m->max_abs);
    fprintf(f, ",\"%sfirst_bad\":%d,\"%sbad_turn\":%d,\"%swhy\":", pre, m->first_bad, pre, bad_turn, pre);
    lumi_json_cstr(f, why);
}

static int log_path(ChatExp *x, LumiRunDir *r, int k, const PathCheck *pc, const TurnRows *rows, LumiErr *e) {
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    int prefilled = 0;
    for (int t = 0; t < x->n_turns; t++) {
        turn_line(sb.f, x, k, &rows[t], t);
        prefilled += rows[t].r.new_tokens;
    }
    int fail = pc->ref.first_bad >= 0 || pc->own.first_bad >= 0;
    fprintf(sb.f, "{\"role\":\"path\",\"path\":");
    lumi_json_cstr(sb.f, x->paths[k].pe.label);
    check_members(sb.f, "", &pc->ref, pc->bad_turn_ref);
    check_members(sb.f, "own_", &pc->own, pc->bad_turn_own);
    fprintf(sb.f, ",\"prefilled\":%d,\"verdict\":\"%s\"}", prefilled, fail ? "FAIL" : "PASS");
    lumi_sb_close(&sb);
    int rc = lumi_rundir_append(r, sb.buf, sb.len, e);
    free(sb.buf);
    return rc;
}

/* One path as its log records say. */
typedef struct {
    int done; /* its "path" record was read */
    int positions, bitwise, own_positions, own_bitwise, prefilled, fail;
    double max_abs;
    int first_bad, bad_turn, own_first_bad, own_bad_turn;
    char why[160], own_why[160];
    double *ttft; /* [n_turns] */
    int *new_tokens, *cached, *reply;
} PathResult;

/* A count from the log, clamped: a damaged log gives a wrong table, never undefined behaviour. */
static int num(const LumiYamlNode *n, const char *key, int fallback) {
    double v = lumi_case_num(n, key, fallback);
    return v != v ? fallback : v < -1e9 ? -1000000000 : v > 1e9 ? 1000000000 : (int)v;
}

static int path_of(const ChatExp *x, const char *label) {
    for (int k = 0; k < x->n_paths; k++)
        if (!strcmp(x->paths[k].pe.label, label)) return k;
    return -1;
}

static void read_path(PathResult *pr, const LumiYamlNode *n) {
    pr->done = 1;
    pr->positions = num(n, "positions", 0);
    pr->bitwise = num(n, "bitwise", 0);
    pr->max_abs = lumi_case_num(n, "max_abs", 0);
    pr->first_bad = num(n, "first_bad", -1);
    pr->bad_turn = num(n, "bad_turn", 0);
    snprintf(pr->why, sizeof pr->why, "%s", lumi_case_str(n, "why", ""));
    pr->own_positions = num(n, "own_positions", 0);
    pr->own_bitwise = num(n, "own_bitwise", 0);
    pr->own_first_bad = num(n, "own_first_bad", -1);
    pr->own_bad_turn = num(n, "own_bad_turn", 0);
    snprintf(pr->own_why, sizeof pr->own_why, "%s", lumi_case_str(n, "own_why", ""));
    pr->prefilled = num(n, "prefilled", 0);
    pr->fail = strcmp(lumi_case_str(n, "verdict", ""), "PASS") != 0;
}

/* prs[k] from the log (the last record of each path and turn counts). */
static void read_results(const ChatExp *x, const LumiCaseLog *log, PathResult *prs) {
    for (int i = 0; i < log->n; i++) {
        const LumiYamlNode *n = log->lines[i].root;
        int k = n ? path_of(x, lumi_case_str(n, "path", "")) : -1;
        if (k < 0) continue;
        if (!strcmp(lumi_case_str(n, "role", ""), "path")) {
            read_path(&prs[k], n);
            continue;
        }
        int t = num(n, "turn", 0) - 1;
        if (t < 0 || t >= x->n_turns) continue;
        prs[k].ttft[t] = lumi_case_num(n, "ttft_s", 0);
        prs[k].new_tokens[t] = num(n, "new_tokens", 0);
        prs[k].cached[t] = num(n, "cached_tokens", 0);
        prs[k].reply[t] = num(n, "reply_tokens", 0);
    }
}

static void print_table(ChatExp *x, const PathResult *prs) {
    printf("%s: %d turns, template %s, reference %s\n", x->c.name, x->n_turns, x->tpl.name, x->reference.label);
    printf("%-62s %-9s %-9s %-9s %-9s %-9s verdict\n", "path", "positions", "max-abs", "bitwise", "same-be",
           "prefilled");
    for (int k = 0; k < x->n_paths; k++) {
        const PathResult *pr = &prs[k];
        if (!pr->done) continue;
        char own[32] = "-";
        if (x->paths[k].anchor >= 0) snprintf(own, sizeof own, "%d/%d", pr->own_bitwise, pr->own_positions);
        char bw[32];
        snprintf(bw, sizeof bw, "%d/%d", pr->bitwise, pr->positions);
        printf("%-62s %-9d %-9.3g %-9s %-9s %-9d %s", x->paths[k].pe.label, pr->positions, pr->max_abs, bw, own,
               pr->prefilled, pr->fail ? "FAIL" : "PASS");
        if (pr->first_bad >= 0)
            printf("  turn %d position %d: %s", pr->bad_turn, pr->first_bad, pr->why);
        else if (pr->own_first_bad >= 0)
            printf("  turn %d position %d vs %s: %s", pr->own_bad_turn, pr->own_first_bad,
                   x->paths[x->paths[k].anchor].pe.label, pr->own_why);
        printf("\n");
    }
    printf("\ntime to first token per turn, ms (tokens prefilled)\n%-5s", "turn");
    for (int k = 0; k < x->n_paths; k++)
        if (prs[k].done) printf(" | p%-13d", k + 1);
    printf("\n");
    for (int t = 0; t < x->n_turns; t++) {
        printf("%-5d", t + 1);
        for (int k = 0; k < x->n_paths; k++)
            if (prs[k].done) printf(" | %7.2f (%4d)", 1e3 * prs[k].ttft[t], prs[k].new_tokens[t]);
        printf("\n");
    }
    for (int k = 0; k < x->n_paths; k++)
        if (prs[k].done) printf("p%d = %s\n", k + 1, x->paths[k].pe.label);
}

/* ttft.csv (turn, one column per path, ms) and its plot. */
static int write_ttft(ChatExp *x, const PathResult *prs, LumiRunDir *r, LumiErr *e) {
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    fprintf(sb.f, "turn");
    int cols = 1;
    for (int k = 0; k < x->n_paths; k++) { /* CSV header and plot key: no commas */
        if (!prs[k].done) continue;
        const LumiPathSpec *p = &x->paths[k].pe.spec;
        fprintf(sb.f, ",%s/%s/%s", p->backend, p->cache, p->prefill);
        if (p->chunk) fprintf(sb.f, ":%d", p->chunk);
        fprintf(sb.f, "/%s%s", p->turns, x->paths[k].pe.has_canary ? "/canary" : "");
        cols++;
    }
    fprintf(sb.f, "\n");
    for (int t = 0; t < x->n_turns; t++) {
        fprintf(sb.f, "%d", t + 1);
        for (int k = 0; k < x->n_paths; k++)
            if (prs[k].done) fprintf(sb.f, ",%.4f", 1e3 * prs[k].ttft[t]);
        fprintf(sb.f, "\n");
    }
    lumi_sb_close(&sb);
    int rc = lumi_rundir_write(r, "ttft.csv", sb.buf, sb.len, e);
    free(sb.buf);
    if (rc != 0) return -1;
    LumiStrBuf cs;
    lumi_sb_open(&cs);
    fprintf(cs.f, "path,turns,turn,new_tokens,cached_tokens,reply_tokens,ttft_ms\n");
    for (int k = 0; k < x->n_paths; k++)
        for (int t = 0; t < x->n_turns && prs[k].done; t++)
            fprintf(cs.f, "\"%s\",%s,%d,%d,%d,%d,%.4f\n", x->paths[k].pe.label, x->paths[k].pe.spec.turns, t + 1,
                    prs[k].new_tokens[t], prs[k].cached[t], prs[k].reply[t], 1e3 * prs[k].ttft[t]);
    lumi_sb_close(&cs);
    rc = lumi_rundir_write(r, "chat.csv", cs.buf, cs.len, e);
    free(cs.buf);
    if (rc != 0) return -1;
    if (lumi_plot_lines(r->dir, "ttft_per_turn", "time to first token per turn (rebuild grows, keep stays flat)",
                        "turn", "ms", "ttft.csv", cols, e) != 0)
        return -1;
    int pr = lumi_plot_render(r->dir, "ttft_per_turn", e);
    if (pr == 1) fprintf(stderr, "lumi: gnuplot not found: ttft_per_turn.gp written, no png\n");
    return pr < 0 ? -1 : 0;
}

/* prs NULL: the run.json of a run in progress (no paths yet). */
static int write_run_json(ChatExp *x, const PathResult *prs, LumiRunDir *r, const LumiRunOpts *o, int n_cases,
                          int fails, LumiErr *e) {
    LumiStrBuf js;
    lumi_sb_open(&js);
    fputc('{', js.f);
    lumi_run_json_common(js.f, &x->c, &x->in, r->run_id);
    fprintf(js.f, ",\"status\":\"%s\",\"template\":\"%s\",\"reference\":", prs ? "complete" : "running", x->tpl.name);
    lumi_json_cstr(js.f, x->reference.label);
    fprintf(js.f, ",\"paths\":[");
    for (int k = 0, first = 1; prs && k < x->n_paths; k++) {
        if (!prs[k].done) continue;
        fprintf(js.f, "%s{\"path\":", first ? "" : ",");
        first = 0;
        lumi_json_cstr(js.f, x->paths[k].pe.label);
        fprintf(js.f, ",\"positions\":%d,\"bitwise\":%d,\"max_abs\":", prs[k].positions, prs[k].bitwise);
        lumi_json_num(js.f, prs[k].max_abs);
        fprintf(js.f, ",\"prefilled\":%d,\"verdict\":\"%s\"}", prs[k].prefilled, prs[k].fail ? "FAIL" : "PASS");
    }
    fprintf(js.f, "],\"failed\":%d,\"seconds\":", fails);
    lumi_json_num(js.f, lumi_now() - r->t0);
    lumi_run_json_scope(js.f, o, n_cases);
    fprintf(js.f, "}\n");
    lumi_sb_close(&js);
    int rc = lumi_rundir_write(r, "run.json", js.buf, js.len, e);
    free(js.buf);
    return rc;
}

/* The cases: one per path x turns strategy, in run order. Its cost is
 * estimated before any token exists: steps + 16 template and user tokens
 * a turn; rebuild prefills the whole conversation again every turn. A
 * shard runs the reference conversation (shared work, not counted) and
 * the anchors its paths are held to. */
static void list_cases(const ChatExp *x, LumiCaseList *out) {
    int per_turn = (int)x->c.steps + 16;
    for (int k = 0; k < x->n_paths; k++) {
        const LumiPathSpec *s = &x->paths[k].pe.spec;
        double cost = 0;
        if (!strcmp(s->turns, "rebuild"))
            for (int t = 1; t <= x->n_turns; t++) cost += lumi_case_cost(t * per_turn, s->cache);
        else
            cost = lumi_case_cost(x->n_turns * per_turn, s->cache);
        lumi_cases_add(out, cost, "path=%s", x->paths[k].pe.label);
    }
}

/* A resumed run must replay the script the interrupted one did. */
static int check_script(const ChatExp *x, const LumiCaseLog *done, LumiErr *e) {
    for (int i = 0; i < done->n; i++) {
        const LumiYamlNode *n = done->lines[i].root;
        int t = n ? num(n, "turn", 0) - 1 : -1;
        if (t < 0 || t >= x->n_turns || !strcmp(lumi_case_str(n, "role", ""), "path")) continue;
        if (num(n, "reply_tokens", -1) != x->n_script[t])
            return lumi_err(e, "cases.jsonl:%d: turn %d had a %d-token reply, the reference now gives %d: "
                            "not the same run (run the config again)", i + 1, t + 1,
                            num(n, "reply_tokens", -1), x->n_script[t]);
    }
    return 0;
}

static int path_done(const ChatExp *x, const LumiCaseLog *done, int k) {
    for (int i = 0; i < done->n; i++) {
        const LumiYamlNode *n = done->lines[i].root;
        if (n && !strcmp(lumi_case_str(n, "role", ""), "path") &&
            !strcmp(lumi_case_str(n, "path", ""), x->paths[k].pe.label))
            return 1;
    }
    return 0;
}

/* Runs the paths of this shard not already in the log, anchors first so
 * the paths held to them find their rows. */
static int run_paths(ChatExp *x, const LumiShardPlan *plan, const LumiCaseLog *done, LumiRunDir *r, LumiErr *e) {
    int todo = 0;
    for (int k = 0; k < x->n_paths; k++) todo += lumi_shard_take(plan, k) && !path_done(x, done, k);
    if (!todo) return 0;
    /* the script: the reference generates what is not fixed, then replays it like every path */
    if (converse(x, &x->reference, 1, x->ref, e) != 0) return -1;
    free_rows(x->ref, x->n_turns);
    if (converse(x, &x->reference, 0, x->ref, e) != 0 || check_script(x, done, e) != 0) return -1;
    TurnRows *rows = lumi_xcalloc((size_t)x->n_turns, sizeof *rows);
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (int k = 0; k < x->n_paths && rc == 0; k++) {
            if (is_anchor(x, k) != !pass || !lumi_shard_take(plan, k) || path_done(x, done, k)) continue;
            int a = x->paths[k].anchor;
            if (a >= 0 && need_anchor(x, a, e) != 0) {
                rc = -1;
                break;
            }
            fprintf(stderr, "%s ...\n", x->paths[k].pe.label);
            PathCheck pc;
            memset(rows, 0, sizeof *rows * (size_t)x->n_turns);
            rc = run_path(x, k, &pc, rows, e);
            if (rc == 0) rc = log_path(x, r, k, &pc, rows, e);
            TurnRows *keep = &x->anchors[(size_t)k * x->n_turns];
            if (rc == 0 && is_anchor(x, k) && !keep[0].rows)
                memcpy(keep, rows, sizeof *rows * (size_t)x->n_turns);
            else
                free_rows(rows, x->n_turns);
        }
    free(rows);
    return rc;
}

static int tabulate(ChatExp *x, LumiRunDir *r, const LumiRunOpts *o, int n_cases, int *fails, LumiErr *e) {
    LumiCaseLog all;
    if (lumi_caselog_read(r->dir, &all, e) != 0) return -1;
    PathResult *prs = lumi_xcalloc((size_t)x->n_paths, sizeof *prs);
    for (int k = 0; k < x->n_paths; k++) {
        prs[k].ttft = lumi_xcalloc((size_t)x->n_turns, sizeof(double));
        prs[k].new_tokens = lumi_xcalloc((size_t)x->n_turns, sizeof(int));
        prs[k].cached = lumi_xcalloc((size_t)x->n_turns, sizeof(int));
        prs[k].reply = lumi_xcalloc((size_t)x->n_turns, sizeof(int));
    }
    read_results(x, &all, prs);
    lumi_caselog_free(&all);
    for (int k = 0; k < x->n_paths; k++) *fails += prs[k].done && prs[k].fail;
    print_table(x, prs);
    int rc = write_ttft(x, prs, r, e) != 0 || write_run_json(x, prs, r, o, n_cases, *fails, e) != 0 ? -1 : 0;
    for (int k = 0; k < x->n_paths; k++) {
        free(prs[k].ttft);
        free(prs[k].new_tokens);
        free(prs[k].cached);
        free(prs[k].reply);
    }
    free(prs);
    return rc;
}

static int experiment(ChatExp *x, const LumiRunOpts *o, LumiErr *e, int *fails) {
    char why[160];
    if (lumi_template_open(x->template_name, &x->in.tok, &x->tpl, why, sizeof why, e) != 0) return 2;
    if (why[0]) fprintf(stderr, "lumi: template auto: picked %s (%s)\n", x->tpl.name, why);
    x->max_new = (int)x->c.steps;
    if (parse_script(x, e) != 0) return 2;
    set_anchors(x);
    x->ref = lumi_xcalloc((size_t)x->n_turns, sizeof *x->ref);
    x->anchors = lumi_xcalloc((size_t)(x->n_paths * x->n_turns), sizeof *x->anchors);
    LumiCaseList cases = {0};
    LumiShardPlan plan;
    list_cases(x, &cases);
    lumi_shard_plan(&plan, &cases, o->shard_index, o->shard_count);
    lumi_cases_free(&cases);
    LumiRunDir r;
    LumiCaseLog done = {0};
    int rc = 2;
    if (lumi_rundir_open(o, x->c.output, x->c.name, "cases.jsonl", &r, e) != 0) goto out_plan;
    if ((o->resume_dir && lumi_caselog_read(r.dir, &done, e) != 0) ||
        write_run_json(x, NULL, &r, o, lumi_shard_size(&plan), 0, e) != 0 || run_paths(x, &plan, &done, &r, e) != 0 ||
        tabulate(x, &r, o, lumi_shard_size(&plan), fails, e) != 0)
        goto out;
    rc = 0;
    fprintf(stderr, "lumi: results in %s\n", r.dir);
    if (o->shard_count > 0)
        fprintf(stderr, "lumi: shard %d/%d: %d paths (lumi merge joins the shards)\n", o->shard_index, o->shard_count,
                lumi_shard_size(&plan));
out:
    lumi_caselog_free(&done);
    lumi_rundir_close(&r);
out_plan:
    lumi_shard_free(&plan);
    return rc;
}

static void chat_free(ChatExp *x) {
    for (int t = 0; t < x->n_turns; t++) {
        free(x->users[t]);
        free(x->fixed[t]);
        free(x->script[t]);
    }
    free(x->users);
    free(x->fixed);
    free(x->n_fixed);
    free(x->script);
    free(x->n_script);
    free_rows(x->ref, x->n_turns);
    free(x->ref);
    free_rows(x->anchors, x->n_paths * x->n_turns);
    free(x->anchors);
    free(x->matrix);
    free(x->paths);
}

static int run(const LumiYamlDoc *doc, const LumiRunOpts *o) {
    ChatExp x;
    memset(&x, 0, sizeof x);
    x.doc = doc;
    LumiErr e;
    int rc = 2, fails = 0, stage = 0;
    if (lumi_config_check_keys(doc, CHAT_KEYS, &e) != 0 || lumi_config_common(doc, &x.c, 1, &e) != 0) goto out;
    stage = 1;
    if (parse(&x, &e) != 0 || lumi_inputs_load(doc, &x.c, &x.in, &e) != 0) goto out;
    stage = 2;
    if (!x.in.have_tok) { /* turns are text (inputs.c refuses text without one; this keeps it so) */
        lumi_yaml_err(doc, doc->root, &e, "a chat needs 'tokenizer' (none embedded in or beside %s)", x.in.model_path);
        goto out;
    }
    rc = experiment(&x, o, &e, &fails);
    if (rc == 0 && fails) {
        fprintf(stderr, "lumi: %d of %d paths %s\n", fails, x.n_paths, o->check ? "failed" : "differ");
        if (o->check) rc = 1;
    }
out:
    if (rc == 2) fprintf(stderr, "lumi: %s\n", e.msg);
    if (stage >= 2) lumi_inputs_free(&x.in);
    chat_free(&x);
    if (stage >= 1) lumi_config_common_free(&x.c);
    return rc;
}

/* The case list needs the config only (no model, no tokens). */
static int cases(const LumiYamlDoc *doc, LumiCaseList *out, LumiErr *e) {
    ChatExp x;
    memset(&x, 0, sizeof x);
    x.doc = doc;
    int rc = -1;
    if (lumi_config_check_keys(doc, CHAT_KEYS, e) != 0 || lumi_config_common(doc, &x.c, 1, e) != 0) return -1;
    x.n_turns = 0; /* parse_script is not run: chat_free frees nothing per turn */
    if (parse(&x, e) == 0) {
        x.n_turns = x.c.n_prompts;
        list_cases(&x, out);
        x.n_turns = 0;
        rc = 0;
    }
    chat_free(&x);
    lumi_config_common_free(&x.c);
    return rc;
}

static int case_key(const LumiYamlNode *rec, char *buf, size_t n) {
    if (strcmp(lumi_case_str(rec, "role", ""), "path") != 0) return 0;
    snprintf(buf, n, "path=%s", lumi_case_str(rec, "path", "?"));
    return 1;
}

const LumiExperimentKind lumi_kind_chat = {
    "chat", "a scripted conversation through the path matrix x turns=keep|rebuild", run, cases, case_key,
    "cases.jsonl"};
