/* main.c: the Check runner. Each tests/test_*.c contributes one suite;
 * add its constructor to SUITES. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

Suite *suite_tokenizer(void);
Suite *suite_tokenizer_bpe(void);
Suite *suite_tokenizer_gguf(void);
Suite *suite_tokenizer_files(void);
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
Suite *suite_shard(void);
Suite *suite_chat(void);
Suite *suite_checkpoints(void);
Suite *suite_opencl(void);
Suite *suite_cuda(void);
Suite *suite_build(void);
Suite *suite_fuzz(void);
Suite *suite_stop_tokens(void);
Suite *suite_precision(void);

static Suite *(*const SUITES[])(void) = {
    suite_tokenizer,
    suite_tokenizer_bpe,
    suite_tokenizer_gguf,
    suite_tokenizer_files,
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
    suite_shard,
    suite_chat,
    suite_checkpoints,
    suite_opencl,
    suite_cuda,
    suite_build,
    suite_fuzz,
    suite_stop_tokens,
    suite_precision,
};

int main(void) {
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; i < sizeof SUITES / sizeof SUITES[0]; i++) srunner_add_suite(sr, SUITES[i]());
    th_skip_log_open();
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    /* Check counts a skipped test as passed; say how many were skipped */
    int skip_fatal = th_skip_summary(srunner_ntests_run(sr));
    srunner_free(sr);
    return failed == 0 && !skip_fatal ? EXIT_SUCCESS : EXIT_FAILURE;
}
