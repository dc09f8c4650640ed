/* main.c: the Check runner. Each tests/test_*.c contributes one suite;
 * add its constructor to SUITES. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *suite_tokenizer(void);
Suite *suite_model(void);
Suite *suite_forward(void);
Suite *suite_cli(void);
Suite *suite_yaml(void);
Suite *suite_safetensors(void);
Suite *suite_gguf(void);
Suite *suite_metrics(void);
Suite *suite_harness(void);
Suite *suite_sampler(void);
Suite *suite_cpu(void);
Suite *suite_bench(void);
Suite *suite_backend(void);
Suite *suite_precision(void);

static Suite *(*const SUITES[])(void) = {
    suite_tokenizer,
    suite_model,
    suite_forward,
    suite_cli,
    suite_yaml,
    suite_safetensors,
    suite_gguf,
    suite_metrics,
    suite_harness,
    suite_sampler,
    suite_cpu,
    suite_bench,
    suite_backend,
    suite_precision,
};

int main(void) {
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; i < sizeof SUITES / sizeof SUITES[0]; i++) srunner_add_suite(sr, SUITES[i]());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
