/* device_check.h: the checks every device backend (opencl, cuda, cublas)
 * runs in its test suite, against the 9 cache x prefill paths. */
#ifndef LUMI_TEST_DEVICE_CHECK_H
#define LUMI_TEST_DEVICE_CHECK_H
#include "../paths/session.h"

void th_load(const char *path, LumiModel *m);
/* Opens a session on `spec`; 0, or -1 with the message in e. */
int th_open_path(LumiSession *s, const LumiModel *m, const char *spec, LumiErr *e);
/* 1 (with "SKIP test: reason" printed) when `backend` has no device here:
 * built without its toolkit, no platform or no device. Any other failure
 * to open fails the test. */
int th_no_device(const LumiModel *m, const char *backend, const char *test);
/* Index of the first of the 9 paths whose logits differ bitwise from the
 * first's on `backend`, or -1; the first path's logits in *base_out. */
int th_first_mismatch(const LumiModel *m, const char *backend, const int *tok, int T, float **base_out);
/* Every path within 1e-4 of ref and not bitwise ref; with `bitwise`, all 9
 * paths bitwise equal (batch invariance), else how many differ is printed. */
void th_device_check(const LumiModel *m, const char *backend, const char *what, int T, int bitwise);
/* A model held in t (bf16 or f16) on `backend`: 9 paths bitwise equal,
 * bitwise equal to its exact f32 widening, and not equal to the f32 model. */
void th_check_half(const char *backend, LumiDType t, const char *test);
/* Makes m Qwen-style in memory: random q/k/v biases and Hugging Face's
 * half-split RoPE (test_safetensors covers reading them from files).
 * Returns the bias buffer; th_unqwen() detaches and frees it. */
float *th_qwen_style(LumiModel *m);
void th_unqwen(LumiModel *m, float *bias);

#endif
