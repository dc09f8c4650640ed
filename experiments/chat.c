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

typedef struct {
    LumiCaseMetrics ref, own;
    int bad_turn_ref, bad_turn_own, prefilled;
    double *ttft; /* [n_turns] */
    int *new_tokens, *cached;
} PathResult;

static int run_path(ChatExp *x, int k, PathResult *pr, LumiErr *e) {
    ChatPath *p = &x->paths[k];
    int V = x->in.model.cfg.vocab_size;
    TurnRows *rows = lumi_xcalloc((size_t)x->n_turns, sizeof *rows);
    int rc = converse(x, &p->pe, 0, rows, e);
    lumi_case_init(&pr->ref);
    lumi_case_init(&pr->own);
    pr->bad_turn_ref = pr->bad_turn_own = 0;
    const LumiTolerance *tol = !strcmp(p->pe.spec.backend, x->reference.spec.backend) ? &x->same : &x->cross;
    for (int t = 0; t < x->n_turns && rc == 0; t++) {
        compare_turn(&x->ref[t], &rows[t], V, t, tol, &pr->ref, &pr->bad_turn_ref);
        if (p->anchor >= 0 && x->anchors[(size_t)p->anchor * x->n_turns + t].rows)
            compare_turn(&x->anchors[(size_t)p->anchor * x->n_turns + t], &rows[t], V, t, &x->same, &pr->own,
                         &pr->bad_turn_own);
        pr->ttft[t] = rows[t].r.ttft_s;
        pr->new_tokens[t] = rows[t].r.new_tokens;
        pr->cached[t] = rows[t].r.cached_tokens;
        pr->prefilled += rows[t].r.new_tokens;
    }
    /* anchors keep their rows for the paths after them */
    int is_anchor = 0;
    for (int j = 0; j < x->n_paths; j++) is_anchor |= x->paths[j].anchor == k;
    if (rc == 0 && is_anchor)
        memcpy(&x->anchors[(size_t)k * x->n_turns], rows, sizeof *rows * (size_t)x->n_turns);
    else
        free_rows(rows, x->n_turns);
    free(rows);
    return rc;
}

static int failed(const PathResult *pr) { return pr->ref.first_bad >= 0 || pr->own.first_bad >= 0; }

static void case_line(ChatExp *x, int k, const PathResult *pr, int t, LumiStrBuf *sb) {
    FILE *f = sb->f;
    fprintf(f, "{\"path\":");
    lumi_json_cstr(f, x->paths[k].pe.label);
    fprintf(f, ",\"turns\":\"%s\",\"turn\":%d,\"new_tokens\":%d,\"cached_tokens\":%d,\"reply_tokens\":%d,\"ttft_s\":",
            x->paths[k].pe.spec.turns, t + 1, pr->new_tokens[t], pr->cached[t], x->n_script[t]);
    lumi_json_num(f, pr->ttft[t]);
    fprintf(f, "}");
}

static void print_table(ChatExp *x, const PathResult *prs) {
    printf("%s: %d turns, template %s, reference %s\n", x->c.name, x->n_turns, x->tpl.name, x->reference.label);
    printf("%-62s %-9s %-9s %-9s %-9s %-9s verdict\n", "path", "positions", "max-abs", "bitwise", "same-be",
           "prefilled");
    for (int k = 0; k < x->n_paths; k++) {
        const PathResult *pr = &prs[k];
        char own[32] = "-";
        if (x->paths[k].anchor >= 0) snprintf(own, sizeof own, "%d/%d", pr->own.n_bitwise, pr->own.n_positions);
        char bw[32];
        snprintf(bw, sizeof bw, "%d/%d", pr->ref.n_bitwise, pr->ref.n_positions);
        printf("%-62s %-9d %-9.3g %-9s %-9s %-9d %s", x->paths[k].pe.label, pr->ref.n_positions, pr->ref.max_abs, bw,
               own, pr->prefilled, failed(pr) ? "FAIL" : "PASS");
        char why[160];
        if (pr->ref.first_bad >= 0) {
            lumi_violation_format(&pr->ref.bad, why, sizeof why);
            printf("  turn %d position %d: %s", pr->bad_turn_ref, pr->ref.first_bad, why);
        } else if (pr->own.first_bad >= 0) {
            lumi_violation_format(&pr->own.bad, why, sizeof why);
            printf("  turn %d position %d vs %s: %s", pr->bad_turn_own, pr->own.first_bad,
                   x->paths[x->paths[k].anchor].pe.label, why);
        }
        printf("\n");
    }
    printf("\ntime to first token per turn, ms (tokens prefilled)\n%-5s", "turn");
    for (int k = 0; k < x->n_paths; k++) printf(" | p%-13d", k + 1);
    printf("\n");
    for (int t = 0; t < x->n_turns; t++) {
        printf("%-5d", t + 1);
        for (int k = 0; k < x->n_paths; k++) printf(" | %7.2f (%4d)", 1e3 * prs[k].ttft[t], prs[k].new_tokens[t]);
        printf("\n");
    }
    for (int k = 0; k < x->n_paths; k++) printf("p%d = %s\n", k + 1, x->paths[k].pe.label);
}

/* ttft.csv (turn, one column per path, ms) and its plot. */
static int write_ttft(ChatExp *x, const PathResult *prs, LumiRunDir *r, LumiErr *e) {
    LumiStrBuf sb;
    lumi_sb_open(&sb);
    fprintf(sb.f, "turn");
    for (int k = 0; k < x->n_paths; k++) { /* CSV header and plot key: no commas */
        const LumiPathSpec *p = &x->paths[k].pe.spec;
        fprintf(sb.f, ",%s/%s/%s", p->backend, p->cache, p->prefill);
        if (p->chunk) fprintf(sb.f, ":%d", p->chunk);
        fprintf(sb.f, "/%s%s", p->turns, x->paths[k].pe.has_canary ? "/canary" : "");
    }
    fprintf(sb.f, "\n");
    for (int t = 0; t < x->n_turns; t++) {
        fprintf(sb.f, "%d", t + 1);
        for (int k = 0; k < x->n_paths; k++) fprintf(sb.f, ",%.4f", 1e3 * prs[k].ttft[t]);
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
        for (int t = 0; t < x->n_turns; t++)
            fprintf(cs.f, "\"%s\",%s,%d,%d,%d,%d,%.4f\n", x->paths[k].pe.label, x->paths[k].pe.spec.turns, t + 1,
                    prs[k].new_tokens[t], prs[k].cached[t], x->n_script[t], 1e3 * prs[k].ttft[t]);
    lumi_sb_close(&cs);
    rc = lumi_rundir_write(r, "chat.csv", cs.buf, cs.len, e);
    free(cs.buf);
    if (rc != 0) return -1;
    if (lumi_plot_lines(r->dir, "ttft_per_turn", "time to first token per turn (rebuild grows, keep stays flat)",
                        "turn", "ms", "ttft.csv", x->n_paths + 1, e) != 0)
        return -1;
    int pr = lumi_plot_render(r->dir, "ttft_per_turn", e);
    if (pr == 1) fprintf(stderr, "lumi: gnuplot not found: ttft_per_turn.gp written, no png\n");
    return pr < 0 ? -1 : 0;
}

static int write_run_json(ChatExp *x, const PathResult *prs, LumiRunDir *r, int fails, LumiErr *e) {
    LumiStrBuf js;
    lumi_sb_open(&js);
    fputc('{', js.f);
    lumi_run_json_common(js.f, &x->c, &x->in, r->run_id);
    fprintf(js.f, ",\"template\":\"%s\",\"reference\":", x->tpl.name);
    lumi_json_cstr(js.f, x->reference.label);
    fprintf(js.f, ",\"paths\":[");
    for (int k = 0; k < x->n_paths; k++) {
        fprintf(js.f, "%s{\"path\":", k ? "," : "");
        lumi_json_cstr(js.f, x->paths[k].pe.label);
        fprintf(js.f, ",\"positions\":%d,\"bitwise\":%d,\"max_abs\":", prs[k].ref.n_positions, prs[k].ref.n_bitwise);
        lumi_json_num(js.f, prs[k].ref.max_abs);
        fprintf(js.f, ",\"prefilled\":%d,\"verdict\":\"%s\"}", prs[k].prefilled, failed(&prs[k]) ? "FAIL" : "PASS");
    }
    fprintf(js.f, "],\"failed\":%d,\"seconds\":", fails);
    lumi_json_num(js.f, lumi_now() - r->t0);
    fprintf(js.f, "}\n");
    lumi_sb_close(&js);
    int rc = lumi_rundir_write(r, "run.json", js.buf, js.len, e);
    free(js.buf);
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
    /* the script: the reference generates what is not fixed, then replays it like every path */
    if (converse(x, &x->reference, 1, x->ref, e) != 0) return 2;
    free_rows(x->ref, x->n_turns);
    if (converse(x, &x->reference, 0, x->ref, e) != 0) return 2;
    LumiRunDir r;
    if (lumi_rundir_create(x->c.output, x->c.name, o->config_path, &r, e) != 0) return 2;
    PathResult *prs = lumi_xcalloc((size_t)x->n_paths, sizeof *prs);
    int rc = 0;
    /* anchors first, so the paths held to them find their rows */
    int *order = lumi_xmalloc(sizeof(int) * (size_t)x->n_paths), n_order = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < x->n_paths; k++) {
            int is_anchor = 0;
            for (int j = 0; j < x->n_paths; j++) is_anchor |= x->paths[j].anchor == k;
            if (is_anchor == !pass) order[n_order++] = k;
        }
    for (int i = 0; i < x->n_paths && rc == 0; i++) {
        int k = order[i];
        prs[k].ttft = lumi_xcalloc((size_t)x->n_turns, sizeof(double));
        prs[k].new_tokens = lumi_xcalloc((size_t)x->n_turns, sizeof(int));
        prs[k].cached = lumi_xcalloc((size_t)x->n_turns, sizeof(int));
        fprintf(stderr, "%s ...\n", x->paths[k].pe.label);
        if (run_path(x, k, &prs[k], e) != 0) {
            rc = 2;
            break;
        }
        *fails += failed(&prs[k]);
        for (int t = 0; t < x->n_turns; t++) {
            LumiStrBuf sb;
            lumi_sb_open(&sb);
            case_line(x, k, &prs[k], t, &sb);
            lumi_sb_close(&sb);
            if (lumi_rundir_append(&r, sb.buf, sb.len, e) != 0) rc = 2;
            free(sb.buf);
        }
    }
    if (rc == 0) {
        print_table(x, prs);
        if (write_ttft(x, prs, &r, e) != 0 || write_run_json(x, prs, &r, *fails, e) != 0)
            rc = 2;
        else
            fprintf(stderr, "lumi: results in %s\n", r.dir);
    }
    for (int k = 0; k < x->n_paths; k++) {
        free(prs[k].ttft);
        free(prs[k].new_tokens);
        free(prs[k].cached);
    }
    free(prs);
    free(order);
    lumi_rundir_close(&r);
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
    if (o->resume_dir) {
        fprintf(stderr, "lumi: chat experiments do not resume: run the config again\n");
        return 2;
    }
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

/* Not shardable yet: no case list (lumi run --shard refuses it by name). */
const LumiExperimentKind lumi_kind_chat = {
    "chat", "a scripted conversation through the path matrix x turns=keep|rebuild", run, NULL, NULL, NULL};
