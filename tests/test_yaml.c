/* test_yaml.c: the YAML tree and its positioned errors. */
#include <string.h>

#include "../experiments/yaml.h"
#include "helpers.h"

static int parse(const char *text, LumiYamlDoc *d, LumiErr *e) {
    return lumi_yaml_parse(text, strlen(text), "cfg.yaml", d, e);
}

START_TEST(tree_and_getters) {
    LumiYamlDoc d;
    LumiErr e;
    ck_assert_msg(parse("name: x\nsteps: 12\ntol: 1e-4\nflag: yes\nlist: [1, 2]\nmap: {a: b}\nq: \"7\"\n", &d, &e) == 0,
                  "%s", e.msg);
    const char *s = NULL;
    long n = 0;
    double f = 0;
    int b = 0;
    ck_assert(lumi_yaml_str(&d, d.root, "name", 1, &s, &e) == 0 && !strcmp(s, "x"));
    ck_assert(lumi_yaml_int(&d, d.root, "steps", 1, 0, 100, &n, &e) == 0 && n == 12);
    ck_assert(lumi_yaml_float(&d, d.root, "tol", 1, 0, 1, &f, &e) == 0 && f == 1e-4);
    ck_assert(lumi_yaml_bool(&d, d.root, "flag", 1, &b, &e) == 0 && b == 1);
    ck_assert(lumi_yaml_get(d.root, "list")->type == LUMI_Y_SEQ && lumi_yaml_get(d.root, "list")->n == 2);
    ck_assert(lumi_yaml_get(d.root, "map")->type == LUMI_Y_MAP);
    ck_assert_int_eq(lumi_yaml_int(&d, d.root, "q", 1, 0, 100, &n, &e), -1); /* quoted: a string */
    ck_assert_int_eq(lumi_yaml_int(&d, d.root, "steps", 1, 0, 10, &n, &e), -1);
    ck_assert_msg(strstr(e.msg, "cfg.yaml:2:8:") && strstr(e.msg, "steps"), "%s", e.msg);
    ck_assert_int_eq(lumi_yaml_str(&d, d.root, "list", 1, &s, &e), -1);
    ck_assert_msg(strstr(e.msg, "'list' must be a scalar"), "%s", e.msg);
    ck_assert_int_eq(lumi_yaml_str(&d, d.root, "absent", 1, &s, &e), -1);
    ck_assert_msg(strstr(e.msg, "missing required key 'absent'"), "%s", e.msg);
    static const char *const allowed[] = {"name", "steps", "tol", "flag", "list", "map", NULL};
    ck_assert_int_eq(lumi_yaml_check_keys(&d, d.root, allowed, &e), -1);
    ck_assert_msg(strstr(e.msg, "cfg.yaml:7:1: unknown key 'q'"), "%s", e.msg);
    lumi_yaml_free(&d);
}
END_TEST

START_TEST(syntax_errors) {
    LumiYamlDoc d;
    LumiErr e;
    ck_assert_int_eq(parse("a: [1, 2\nb: 3\n", &d, &e), -1);
    ck_assert_msg(strstr(e.msg, "cfg.yaml:") && strstr(e.msg, "syntax error"), "%s", e.msg);
    ck_assert_int_eq(parse("a: 1\na: 2\n", &d, &e), -1);
    ck_assert_msg(strstr(e.msg, "duplicate key 'a'"), "%s", e.msg);
    ck_assert_int_eq(parse("- 1\n- 2\n", &d, &e), -1);
    ck_assert_msg(strstr(e.msg, "top level must be a mapping"), "%s", e.msg);
    ck_assert_int_eq(parse("", &d, &e), -1);
    ck_assert_int_eq(parse("a: &x 1\nb: *x\n", &d, &e), -1);
    ck_assert_msg(strstr(e.msg, "aliases"), "%s", e.msg);
}
END_TEST

Suite *suite_yaml(void) {
    Suite *s = suite_create("yaml");
    TCase *tc = tcase_create("yaml");
    tcase_add_test(tc, tree_and_getters);
    tcase_add_test(tc, syntax_errors);
    suite_add_tcase(s, tc);
    return s;
}
