/* test_cuda.c: backends cuda and cublas on an NVIDIA GPU. Skips, saying
 * why, when lumi was built without CUDA or no device is present (most
 * sessions and CI: the build proves the kernels compile).
 *  - cuda: the shipped model, a GQA model and a Qwen-style one: all 9
 *    cache x prefill paths bitwise equal and within 1e-4 of ref (the
 *    perturbation that shows the bitwise check can fail is the opencl
 *    suite's: both backends share the kernels' algorithms and the check);
 *  - cuda with bf16 / f16 weights: bitwise equal to their exact f32 widening;
 *  - cublas: every path within 1e-4 of ref, bitwise agreement reported;
 *  - a device that does not exist is refused by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_check.h"
#include "helpers.h"

START_TEST(cuda_default_model) {
    LumiModel m;
    th_load(DEFAULT_MODEL, &m);
    if (!th_no_device(&m, "cuda", __func__)) th_device_check(&m, "cuda", DEFAULT_MODEL, 20, 1);
    lumi_model_free(&m);
}
END_TEST

START_TEST(cuda_synth_gqa) {
    LumiModel m;
    th_load(th_synth("cuda_gqa.bin", 40, 72, 2, 5, 1, 97, 32, 1, 13), &m);
    if (!th_no_device(&m, "cuda", __func__)) th_device_check(&m, "cuda", "synth GQA 5/1 heads", 23, 1);
    lumi_model_free(&m);
}
END_TEST

/* q/k/v biases and half-split RoPE, set in memory as in test_opencl.c. */
START_TEST(cuda_qwen_style) {
    LumiModel m;
    th_load(th_synth("cuda_qwen.bin", 48, 80, 2, 4, 2, 89, 32, 1, 17), &m);
    if (th_no_device(&m, "cuda", __func__)) {
        lumi_model_free(&m);
        return;
    }
    float *bias = th_qwen_style(&m);
    th_device_check(&m, "cuda", "Qwen-style (biases, half RoPE)", 21, 1);
    th_device_check(&m, "cublas", "Qwen-style (biases, half RoPE)", 21, 0);
    th_unqwen(&m, bias);
    lumi_model_free(&m);
}
END_TEST

START_TEST(cublas_within_tolerance) {
    LumiModel m;
    th_load(DEFAULT_MODEL, &m);
    if (!th_no_device(&m, "cublas", __func__)) th_device_check(&m, "cublas", DEFAULT_MODEL, 20, 0);
    lumi_model_free(&m);
}
END_TEST

START_TEST(cuda_bf16_weights) { th_check_half("cuda", LUMI_BF16, __func__); }
END_TEST

START_TEST(cuda_f16_weights) { th_check_half("cuda", LUMI_F16, __func__); }
END_TEST

START_TEST(cuda_bad_device) {
    LumiModel m;
    th_load(DEFAULT_MODEL, &m);
    LumiSession s;
    LumiErr e;
    ck_assert_int_eq(th_open_path(&s, &m, "backend=cuda,device=99", &e), -1);
    ck_assert_msg(strstr(e.msg, "no device 99") || strstr(e.msg, "no CUDA device") || strstr(e.msg, "without CUDA"),
                  "%s", e.msg);
    lumi_model_free(&m);
}
END_TEST

Suite *suite_cuda(void) {
    Suite *s = suite_create("cuda");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 120); /* a hang guard, not a timing */
    tcase_add_test(tc, cuda_default_model);
    tcase_add_test(tc, cuda_synth_gqa);
    tcase_add_test(tc, cuda_qwen_style);
    tcase_add_test(tc, cublas_within_tolerance);
    tcase_add_test(tc, cuda_bad_device);
    tcase_add_test(tc, cuda_bf16_weights);
    tcase_add_test(tc, cuda_f16_weights);
    suite_add_tcase(s, tc);
    return s;
}
