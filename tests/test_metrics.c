/* test_metrics.c: the harness's metrics, tolerances, canary and config
 * parsing on small hand-computed examples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../experiments/config.h"
#include "../experiments/equivalence.h"
#include "../experiments/metrics.h"
#include "helpers.h"

START_TEST(metrics_by_hand) {
    /* a = [1,2,3,4], b = [1,2,3.5,3]: diff [0,0,-.5,1] */
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3.5f, 3};
    LumiPosMetrics m;
    lumi_metrics_row(a, b, 4, &m);
    ck_assert_int_eq(m.bitwise, 0);
    ck_assert_double_eq(m.max_abs, 1.0);
    ck_assert_double_eq_tol(m.max_rel, 0.25, 1e-15);          /* max(.5/3.5, 1/4) */
    ck_assert_double_eq_tol(m.nmse, 1.25 / 30.0, 1e-15);      /* (.25 + 1) / (1+4+9+16) */
    ck_assert_int_eq(m.top1, 0);                               /* argmax 3 vs 2 */
    /* p = softmax(0,0) = (1/2,1/2), q = softmax(ln 3, 0) = (3/4,1/4):
     * KL = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3) */
    float z[2] = {0, 0}, l3[2] = {(float)log(3.0), 0};
    ck_assert_double_eq_tol(lumi_kl_logits(z, l3, 2), 0.5 * log(4.0 / 3.0), 1e-7);
    /* stable at large logits (exp(1000) overflows a naive softmax) */
    float big[2] = {1000, 1000}, big3[2] = {1000 + (float)log(3.0), 1000};
    ck_assert_double_eq_tol(lumi_kl_logits(big, big3, 2), 0.5 * log(4.0 / 3.0), 1e-4);
    /* a = 0 everywhere: max_rel 1 (|0-x|/|x|), nmse inf */
    lumi_metrics_row(z, l3, 2, &m);
    ck_assert_double_eq(m.max_rel, 1.0);
    ck_assert(isinf(m.nmse));
    ck_assert_int_eq(m.top1, 1); /* tie (0,0) -> id 0; (ln3,0) -> id 0 */
}
END_TEST

START_TEST(metrics_identical_and_special) {
    float a[3] = {0.5f, -2, 7}, b[3] = {0.5f, -2, 7};
    LumiPosMetrics m;
    lumi_metrics_row(a, b, 3, &m);
    ck_assert(m.bitwise && m.top1);
    ck_assert(m.max_abs == 0 && m.max_rel == 0 && m.nmse == 0 && m.kl == 0);
    /* -0.0 vs 0.0: equal values, different bits: bitwise says no */
    float p0[1] = {0.0f}, n0[1] = {-0.0f};
    lumi_metrics_row(p0, n0, 1, &m);
    ck_assert_int_eq(m.bitwise, 0);
    ck_assert_double_eq(m.max_abs, 0);
    /* NaN in the path: every distance is +inf and any limit fails */
    float nan_row[3] = {0.5f, NAN, 7};
    lumi_metrics_row(a, nan_row, 3, &m);
    ck_assert(isinf(m.max_abs) && isinf(m.nmse) && isinf(m.kl));
    LumiTolerance t;
    lumi_tolerance_max_abs(&t, 1e30);
    LumiViolation v;
    ck_assert_int_eq(lumi_tolerance_check(&t, &m, &v), -1);
    ck_assert_str_eq(v.metric, "max_abs");
}
END_TEST

START_TEST(tolerance_and_cases) {
    float r[2] = {1, 2}, x[2] = {1, 2.001f};
    LumiPosMetrics same, off;
    lumi_metrics_row(r, r, 2, &same);
    lumi_metrics_row(r, x, 2, &off);
    LumiTolerance bw, ma, kl;
    lumi_tolerance_bitwise(&bw);
    lumi_tolerance_max_abs(&ma, 1e-2);
    LumiViolation v;
    ck_assert_int_eq(lumi_tolerance_check(&bw, &same, &v), 0);
    ck_assert_int_eq(lumi_tolerance_check(&bw, &off, &v), -1);
    ck_assert_str_eq(v.metric, "bitwise");
    ck_assert_int_eq(lumi_tolerance_check(&ma, &off, &v), 0);
    lumi_tolerance_max_abs(&ma, 1e-4);
    ck_assert_int_eq(lumi_tolerance_check(&ma, &off, &v), -1);
    ck_assert_str_eq(v.metric, "max_abs");
    lumi_tolerance_max_abs(&kl, -1);
    kl.kl = 0;
    ck_assert_int_eq(lumi_tolerance_check(&kl, &off, &v), -1);
    ck_assert_str_eq(v.metric, "kl");
    /* a case reports the first violating position and the maxima */
    LumiCaseMetrics c;
    lumi_case_init(&c);
    lumi_case_add(&c, 0, &same, &bw);
    lumi_case_add(&c, 1, &off, &bw);
    lumi_case_add(&c, 2, &off, &bw);
    ck_assert_int_eq(c.first_bad, 1);
    ck_assert_int_eq(c.n_positions, 3);
    ck_assert_int_eq(c.n_bitwise, 1);
    ck_assert_double_eq(c.max_abs, off.max_abs);
    char buf[128];
    lumi_violation_format(&c.bad, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "not bitwise identical"), "%s", buf);
}
END_TEST

START_TEST(canary_always_changes_a_bit) {
    float row[3] = {40, -0.25f, 5}, orig[3];
    memcpy(orig, row, sizeof row);
    lumi_canary_apply(row, 3, 1e-6);
    ck_assert(row[0] == orig[0] && row[2] == orig[2]);
    ck_assert(row[1] != orig[1]);
    ck_assert_double_eq_tol((double)row[1] - orig[1], 1e-6, 1e-8);
    /* below float resolution: one ulp, still a difference */
    memcpy(row, orig, sizeof row);
    lumi_canary_apply(row, 3, 1e-12);
    ck_assert(row[1] != orig[1]);
    LumiPosMetrics m;
    lumi_metrics_row(orig, row, 3, &m);
    ck_assert_int_eq(m.bitwise, 0);
}
END_TEST

static int parse(const char *text, LumiYamlDoc *d, LumiErr *e) {
    return lumi_yaml_parse(text, strlen(text), "t.yaml", d, e);
}

START_TEST(path_matrix) {
    LumiYamlDoc d;
    LumiErr e;
    ck_assert_msg(parse("paths:\n  cache: [none, growing, fixed]\n  prefill: [token, batched, chunked:4]\n"
                        "  exclude: [{cache: none, prefill: token}, {prefill: 'chunked:4', cache: fixed}]\n"
                        "  extra: [{cache: fixed, prefill: token, canary: {position: 2, epsilon: 1e-3}}]\n",
                        &d, &e) == 0,
                  "%s", e.msg);
    LumiPathEntry *p;
    int n;
    ck_assert_msg(lumi_config_paths(&d, lumi_yaml_get(d.root, "paths"), &p, &n, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(n, 9 - 2 + 1);
    ck_assert_str_eq(p[0].label, "backend=ref,cache=none,prefill=batched");
    ck_assert_str_eq(p[n - 1].label, "backend=ref,cache=fixed,prefill=token canary@2");
    ck_assert(p[n - 1].has_canary && p[n - 1].canary.epsilon == 1e-3);
    for (int i = 0; i < n; i++) ck_assert_msg(strcmp(p[i].label, "backend=ref,cache=fixed,prefill=chunked:4"), "excluded");
    free(p);
    lumi_yaml_free(&d);
    /* a duplicate path is an error, and so is a bad value, with its position */
    ck_assert(parse("paths: [{cache: fixed}, {cache: fixed}]\n", &d, &e) == 0);
    ck_assert_int_eq(lumi_config_paths(&d, lumi_yaml_get(d.root, "paths"), &p, &n, &e), -1);
    ck_assert_msg(strstr(e.msg, "listed twice"), "%s", e.msg);
    lumi_yaml_free(&d);
    ck_assert(parse("paths:\n  prefill: [token, chunky]\n", &d, &e) == 0);
    ck_assert_int_eq(lumi_config_paths(&d, lumi_yaml_get(d.root, "paths"), &p, &n, &e), -1);
    ck_assert_msg(strstr(e.msg, "t.yaml:2:20:") && strstr(e.msg, "unknown prefill 'chunky'") && strstr(e.msg, "valid:"),
                  "%s", e.msg);
    lumi_yaml_free(&d);
}
END_TEST

/* cross-backend pairs get the cross-backend tolerance (no second backend is
 * registered here, so the entry is built by hand) */
START_TEST(tolerance_by_backend) {
    LumiYamlDoc d;
    LumiErr e;
    ck_assert(parse("name: t\nkind: equivalence\nmodel: m.bin\nprompts: [{ids: [1]}]\n"
                    "tolerance: {same_backend: {max_abs: 0}, cross_backend: {max_abs: 1e-3, kl: 1e-6}}\n",
                    &d, &e) == 0);
    LumiEquivConfig c;
    ck_assert_msg(lumi_config_equivalence(&d, &c, &e) == 0, "%s", e.msg);
    LumiPathEntry other = c.paths[0];
    strcpy(other.spec.backend, "cpu");
    ck_assert(lumi_equiv_tolerance(&c, &c.paths[0]) == &c.same_backend);
    ck_assert(lumi_equiv_tolerance(&c, &other) == &c.cross_backend);
    ck_assert(c.cross_backend.max_abs == 1e-3 && c.cross_backend.kl == 1e-6 && !c.cross_backend.bitwise);
    ck_assert_str_eq(c.reference.label, "backend=ref,cache=fixed,prefill=token");
    ck_assert_str_eq(c.goldens, "goldens/t");
    lumi_config_equivalence_free(&c);
    lumi_yaml_free(&d);
}
END_TEST

/* Paths of another backend are also compared with that backend's anchor:
 * its first path without a canary. (Backends renamed by hand: this branch
 * registers only ref.) */
START_TEST(anchors_per_backend) {
    LumiYamlDoc d;
    LumiErr e;
    ck_assert(parse("name: t\nkind: equivalence\nmodel: m.bin\nprompts: [{ids: [1]}]\n"
                    "paths: [{cache: none}, {cache: fixed, canary: {position: 1, epsilon: 1}}, {cache: growing},"
                    " {prefill: token}, {cache: none, prefill: token}]\n"
                    "tolerance: {per_backend: {ref: {max_abs: 1e-9}}}\n",
                    &d, &e) == 0);
    LumiEquivConfig c;
    ck_assert_msg(lumi_config_equivalence(&d, &c, &e) == 0, "%s", e.msg);
    for (int k = 0; k < 5; k++) ck_assert_int_eq(lumi_equiv_anchor(&c, k), -1); /* all on the reference's backend */
    ck_assert(lumi_equiv_tolerance(&c, &c.paths[0])->max_abs == 1e-9);        /* per_backend wins for ref */
    /* paths 1..3 on "cpu", path 4 on "blas" */
    for (int k = 1; k < 4; k++) strcpy(c.paths[k].spec.backend, "cpu");
    strcpy(c.paths[4].spec.backend, "blas");
    lumi_equiv_set_anchors(&c);
    ck_assert_int_eq(lumi_equiv_anchor(&c, 0), -1);
    ck_assert_int_eq(lumi_equiv_anchor(&c, 1), 2); /* the canary path is never an anchor */
    ck_assert_int_eq(lumi_equiv_anchor(&c, 2), -1);
    ck_assert_int_eq(lumi_equiv_anchor(&c, 3), 2);
    ck_assert_int_eq(lumi_equiv_anchor(&c, 4), -1);
    ck_assert(lumi_equiv_same_tolerance(&c, "cpu") == &c.same_backend);
    ck_assert(lumi_equiv_tolerance(&c, &c.paths[3]) == &c.cross_backend);
    lumi_config_equivalence_free(&c);
    lumi_yaml_free(&d);
    /* per_backend names must be registered backends */
    ck_assert(parse("name: t\nkind: equivalence\nmodel: m.bin\nprompts: [{ids: [1]}]\n"
                    "tolerance: {per_backend: {gpu9: bitwise}}\n",
                    &d, &e) == 0);
    ck_assert_int_eq(lumi_config_equivalence(&d, &c, &e), -1);
    ck_assert_msg(strstr(e.msg, "t.yaml:5:27:") && strstr(e.msg, "unknown backend 'gpu9'"), "%s", e.msg);
    lumi_yaml_free(&d);
}
END_TEST

Suite *suite_metrics(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, metrics_by_hand);
    tcase_add_test(tc, metrics_identical_and_special);
    tcase_add_test(tc, tolerance_and_cases);
    tcase_add_test(tc, canary_always_changes_a_bit);
    tcase_add_test(tc, path_matrix);
    tcase_add_test(tc, tolerance_by_backend);
    tcase_add_test(tc, anchors_per_backend);
    suite_add_tcase(s, tc);
    return s;
}
