/* test_opencl.c: backend opencl on whatever OpenCL device is present (PoCL
 * on the CPU in CI). Skips, saying why, when lumi was built without OpenCL
 * or no platform is installed.
 *  - the shipped model, a synthesized GQA model and a Qwen-style one (q/k/v
 *    biases, half-split RoPE): all 9 cache x prefill paths bitwise equal on
 *    the device, within 1e-4 of ref, and not bitwise equal to ref (so the
 *    bitwise check is sharp);
 *  - a perturbed kernel source whose matmul reduction order depends on how
 *    many tokens are in the call must break the 9-path check;
 *  - bad input: a kernel that fails to compile (message with the build
 *    log), a device that does not exist, too little device memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "../paths/session.h"
#include "device_check.h"
#include "helpers.h"

START_TEST(opencl_default_model) {
    LumiModel m;
    th_load(DEFAULT_MODEL, &m);
    if (!th_no_device(&m, "opencl", __func__)) th_device_check(&m, "opencl", DEFAULT_MODEL, 20, 1);
    lumi_model_free(&m);
}
END_TEST

START_TEST(opencl_synth_gqa) {
    LumiModel m;
    th_load(th_synth("ocl_gqa.bin", 40, 72, 2, 5, 1, 97, 32, 1, 13), &m);
    if (!th_no_device(&m, "opencl", __func__)) th_device_check(&m, "opencl", "synth GQA 5/1 heads", 23, 1);
    lumi_model_free(&m);
}
END_TEST

/* Qwen-style: q/k/v biases and Hugging Face's half-split RoPE, set on a
 * synthesized model in memory (test_safetensors covers reading them). */
START_TEST(opencl_qwen_style) {
    LumiModel m;
    th_load(th_synth("ocl_qwen.bin", 48, 80, 2, 4, 2, 89, 32, 1, 17), &m);
    if (th_no_device(&m, "opencl", __func__)) {
        lumi_model_free(&m);
        return;
    }
    float *bias = th_qwen_style(&m);
    th_device_check(&m, "opencl", "Qwen-style (biases, half RoPE)", 21, 1);
    th_unqwen(&m, bias);
    lumi_model_free(&m);
}
END_TEST

/* src with its first `from` replaced by `to` (asserts it is there). */
static char *replace(char *src, const char *from, const char *to) {
    char *at = strstr(src, from);
    ck_assert_msg(at != NULL, "kernel source changed: '%s' not found", from);
    size_t n = strlen(src) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - src), src, to, at + strlen(from));
    free(src);
    return out;
}

/* The built-in kernel source with edits (from, to, from, to, ..., NULL),
 * written to a temporary file for LUMI_OPENCL_KERNELS. */
static const char *edited_kernels(const char *name, const char *const *edits) {
    char *src;
    LumiErr e;
    ck_assert_msg(lumi_read_file("paths/backend/opencl_kernels.cl", &src, NULL, &e) == 0, "%s", e.msg);
    for (int i = 0; edits[i]; i += 2) src = replace(src, edits[i], edits[i + 1]);
    const char *path = th_path(name);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(src, f);
    fclose(f);
    free(src);
    return path;
}

/* A matmul whose lanes walk their columns backwards when the call holds
 * more than one token (an n-dependent order, as a GEMM that blocks by size
 * has) must fail the 9-path check; the unperturbed source passes it. */
START_TEST(opencl_perturbed_order_breaks_invariance) {
    LumiModel m;
    th_load(th_synth("ocl_perturb.bin", 40, 72, 2, 5, 1, 97, 32, 1, 15), &m);
    if (th_no_device(&m, "opencl", __func__)) {
        lumi_model_free(&m);
        return;
    }
    int T = 12, *tok = th_tokens(&m, T);
    const char *edits[] = {"for (int c = lid; c < cols; c += LANES) {",
                           "for (int c = n > 1 ? lid + (cols - 1 - lid) / LANES * LANES : lid; c >= 0 && c < cols;\n"
                           "         c += n > 1 ? -LANES : LANES) {",
                           NULL};
    setenv("LUMI_OPENCL_KERNELS", edited_kernels("perturbed.cl", edits), 1);
    ck_assert_msg(th_first_mismatch(&m, "opencl", tok, T, NULL) >= 0, "an n-dependent matmul order went unnoticed");
    unsetenv("LUMI_OPENCL_KERNELS");
    float *whole, *sliced;
    ck_assert_int_eq(th_first_mismatch(&m, "opencl", tok, T, &whole), -1);
    /* attention launched in slices of 2 queries (as a long prefill is) gives the same bits */
    setenv("LUMI_OPENCL_ATT_ROWS", "2", 1);
    ck_assert_int_eq(th_first_mismatch(&m, "opencl", tok, T, &sliced), -1);
    unsetenv("LUMI_OPENCL_ATT_ROWS");
    ck_assert_msg(memcmp(whole, sliced, (size_t)T * m.cfg.vocab_size * 4) == 0, "sliced attention differs");
    free(whole), free(sliced);
    free(tok);
    lumi_model_free(&m);
}
END_TEST

START_TEST(opencl_bad_input) {
    LumiModel m;
    th_load(DEFAULT_MODEL, &m);
    if (th_no_device(&m, "opencl", __func__)) {
        lumi_model_free(&m);
        return;
    }
    LumiSession s;
    LumiErr e;
    /* a kernel that does not compile: the message carries the build log */
    const char *edits[] = {"/* x += y */", "__kernel void broken(void) { undeclared_thing = 1; }\n/* x += y */", NULL};
    setenv("LUMI_OPENCL_KERNELS", edited_kernels("broken.cl", edits), 1);
    /* the OpenCL compiler also prints its errors to stderr: keep the test log clean */
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    int rc = th_open_path(&s, &m, "backend=opencl", &e);
    dup2(saved, 2), close(saved), close(null);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(e.msg, "failed to compile") && strstr(e.msg, "undeclared_thing") && !strchr(e.msg, '\n'),
                  "%s", e.msg);
    unsetenv("LUMI_OPENCL_KERNELS");
    ck_assert_int_eq(th_open_path(&s, &m, "backend=opencl,device=99", &e), -1);
    ck_assert_msg(strstr(e.msg, "no device 99"), "%s", e.msg);
    setenv("LUMI_OPENCL_DEVICE", "99", 1);
    ck_assert_int_eq(th_open_path(&s, &m, "backend=opencl", &e), -1);
    ck_assert_msg(strstr(e.msg, "no device 99"), "%s", e.msg);
    ck_assert_int_eq(th_open_path(&s, &m, "backend=opencl,device=0", &e), 0); /* the path key wins */
    lumi_session_close(&s);
    unsetenv("LUMI_OPENCL_DEVICE");
    /* too little device memory: says how much was needed */
    setenv("LUMI_OPENCL_MEM_MB", "1", 1);
    ck_assert_int_eq(th_open_path(&s, &m, "backend=opencl", &e), -1);
    ck_assert_msg(strstr(e.msg, "out of device memory") && strstr(e.msg, "MiB"), "%s", e.msg);
    unsetenv("LUMI_OPENCL_MEM_MB");
    /* a dtype it lacks: refused by name before anything is uploaded */
    ck_assert_int_eq(th_open_path(&s, &m, "backend=opencl,weights=q8_0", &e), -1);
    ck_assert_msg(strstr(e.msg, "backend opencl") && strstr(e.msg, "q8_0"), "%s", e.msg);
    lumi_model_free(&m);
}
END_TEST

START_TEST(opencl_bf16_weights) { th_check_half("opencl", LUMI_BF16, __func__); }
END_TEST

START_TEST(opencl_f16_weights) {
    th_check_half("opencl", LUMI_F16, __func__);
}
END_TEST

/* The device key reaches the backend from YAML (an extra: entry) too. */
START_TEST(opencl_device_key_in_yaml) {
    LumiModel m;
    th_load(DEFAULT_MODEL, &m);
    int absent = th_no_device(&m, "opencl", __func__);
    lumi_model_free(&m);
    if (absent) return;
    const char *cfg = th_path("eq_dev.yaml");
    FILE *f = fopen(cfg, "w");
    ck_assert(f != NULL);
    fprintf(f, "name: eq_dev\nkind: equivalence\nmodel: models/kjv1M.bin\noutput: %s\nprompts:\n  - {ids: [1, 5]}\n"
               "steps: 1\npaths:\n  backend: [ref]\n  extra:\n    - {backend: opencl, device: 0}\n"
               "    - {backend: opencl, device: 77, cache: none}\n",
            th_tmpdir());
    fclose(f);
    char cmd[600], *out = NULL;
    snprintf(cmd, sizeof cmd, "./lumi check %s 2>&1", cfg);
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc != 0 && strstr(out, "device=0 ") && strstr(out, "no device 77"), "rc %d: %s", rc, out);
    free(out);
}
END_TEST

/* lumi bench's device figures: measured on the device, positive, finite. */
START_TEST(opencl_peak_figures) {
    LumiModel m;
    th_load(DEFAULT_MODEL, &m);
    LumiSession s;
    LumiErr e;
    if (th_no_device(&m, "opencl", __func__)) {
        lumi_model_free(&m);
        return;
    }
    ck_assert_int_eq(th_open_path(&s, &m, "backend=opencl", &e), 0);
    double gbs = -1, gflops = -1;
    ck_assert_msg(s.be->peak && s.be->peak(s.bectx, &gbs, &gflops, &e) == 0, "%s", e.msg);
    ck_assert_msg(gbs > 0.1 && gbs < 1e5 && gflops > 0.1 && gflops < 1e7, "read %g GB/s, FMA %g GFLOP/s", gbs, gflops);
    printf("NOTE %s: device read %.1f GB/s, FMA peak %.1f GFLOP/s\n", __func__, gbs, gflops);
    lumi_session_close(&s);
    lumi_model_free(&m);
}
END_TEST

/* lumi check: a device backend with no platform is SKIP (exit 0), and a
 * failure (exit 1) with require: true. OCL_ICD_VENDORS pointing nowhere
 * hides every OpenCL driver from the ICD loader. */
START_TEST(equivalence_skips_absent_device) {
    const char *cfg = th_path("eq_skip.yaml");
    for (int require = 0; require < 2; require++) {
        FILE *f = fopen(cfg, "w");
        ck_assert(f != NULL);
        fprintf(f, "name: eq_skip\nkind: equivalence\nmodel: models/kjv1M.bin\noutput: %s\nprompts:\n  - {ids: [1, 5]}\n"
                   "steps: 2\nrequire: %s\npaths: {backend: [ref, opencl], prefill: [token, batched]}\n",
                th_tmpdir(), require ? "true" : "false");
        fclose(f);
        char cmd[600], *out = NULL;
        snprintf(cmd, sizeof cmd, "OCL_ICD_VENDORS=/nonexistent ./lumi check %s 2>&1", cfg);
        int rc = th_run(cmd, &out);
        /* no platform here, or no OpenCL in this build at all */
        ck_assert_msg(out && (strstr(out, "no OpenCL platform") || strstr(out, "built without OpenCL")), "%s",
                      out ? out : "");
        if (!require)
            ck_assert_msg(rc == 0 && strstr(out, "SKIP") && !strstr(out, "ERROR"), "rc %d: %s", rc, out);
        else
            ck_assert_msg(rc != 0 && strstr(out, "ERROR") && !strstr(out, "SKIP"), "rc %d: %s", rc, out);
        free(out);
    }
}
END_TEST

Suite *suite_opencl(void) {
    Suite *s = suite_create("opencl");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 120); /* a hang guard: PoCL compiles kernels on first use */
    tcase_add_test(tc, opencl_default_model);
    tcase_add_test(tc, opencl_synth_gqa);
    tcase_add_test(tc, opencl_qwen_style);
    tcase_add_test(tc, opencl_perturbed_order_breaks_invariance);
    tcase_add_test(tc, opencl_bad_input);
    tcase_add_test(tc, equivalence_skips_absent_device);
    tcase_add_test(tc, opencl_peak_figures);
    tcase_add_test(tc, opencl_device_key_in_yaml);
    tcase_add_test(tc, opencl_bf16_weights);
    tcase_add_test(tc, opencl_f16_weights);
    suite_add_tcase(s, tc);
    return s;
}
