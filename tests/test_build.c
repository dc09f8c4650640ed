/* test_build.c: what this build can test. A build without the SIMD kernel
 * tables the CPU could run (a compiler without -mavx2, CFLAGS that dropped
 * the ISA flags) would pass every cpu test on the portable C table alone and
 * test nothing of the SIMD ones: that fails here, unless LUMI_ALLOW_NO_SIMD=1
 * says it is meant (then it is a counted skip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../paths/backend/cpu_kernels.h"
#include "helpers.h"

START_TEST(simd_tables_the_cpu_runs_are_built) {
    int has512 = 0, has2 = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma");
    has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    char missing[64] = "";
    if (has512 && !lumi_cpu_kernels_avx512()) strcat(missing, " avx512");
    if (has2 && !lumi_cpu_kernels_avx2()) strcat(missing, " avx2");
    printf("NOTE %s: CPU runs%s%s; tables built:%s%s scalar\n", __func__, has512 ? " avx512" : "",
           has2 ? " avx2" : has512 ? "" : " scalar only", lumi_cpu_kernels_avx512() ? " avx512" : "",
           lumi_cpu_kernels_avx2() ? " avx2" : "");
    if (!missing[0]) return;
    const char *allow = getenv("LUMI_ALLOW_NO_SIMD");
    if (allow && !strcmp(allow, "1")) TH_SKIP("SIMD tables", "built without the%s table(s) this CPU runs", missing);
    ck_abort_msg("built without the%s kernel table(s) this CPU runs, so their tests test nothing "
                 "(check the ISA flags in the Makefile; LUMI_ALLOW_NO_SIMD=1 allows it)",
                 missing);
}
END_TEST

Suite *suite_build(void) {
    Suite *s = suite_create("build");
    TCase *t = tcase_create("build");
    tcase_add_test(t, simd_tables_the_cpu_runs_are_built);
    suite_add_tcase(s, t);
    return s;
}
