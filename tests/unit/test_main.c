/* test_main.c - the single CUnit runner: one table of suites, like CZMQ's all_tests[].
 *
 *   stc-tests            run every suite
 *   stc-tests NAME...    run the named suites (ctest registers one test per suite)
 *
 * Each suite file defines `void stc_suite_<name>(void)` that adds one CUnit
 * suite.  Suites are declared weak so that the table can name a suite before
 * its file lands; a missing one is reported and counts as a failure.
 * SPDX-License-Identifier: MIT
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

#define SUITES(X) \
    X(base)       \
    X(pickle)     \
    X(torchzip)   \
    X(legacy)     \
    X(safetensors) \
    X(ckpt)       \
    X(inputs)     \
    X(ir_text)    \
    X(ir_verify)  \
    X(interp)     \
    X(recognize)  \
    X(target)     \
    X(passes)     \
    X(opt_passes) \
    X(quant)      \
    X(qinterp)    \
    X(bundle)     \
    X(chipsim)    \
    X(lower)      \
    X(topology)   \
    X(placement)  \
    X(partition)  \
    X(chipsim_part) \
    X(proto)

#define DECL(n) void stc_suite_##n(void) __attribute__((weak));
SUITES(DECL)
#undef DECL

typedef struct {
    const char *name;
    void (*add)(void);
} suite_t;

#define ROW(n) {#n, stc_suite_##n},
static const suite_t all_suites[] = {SUITES(ROW)};
#undef ROW

int main(int argc, char **argv) {
    int missing = 0;
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    size_t n = sizeof all_suites / sizeof all_suites[0];
    for (size_t i = 0; i < n; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            if (!strcmp(argv[a], all_suites[i].name)) wanted = 1;
        if (!wanted) continue;
        if (!all_suites[i].add) {
            fprintf(stderr, "stc-tests: suite '%s' is not linked in\n", all_suites[i].name);
            missing++;
            continue;
        }
        all_suites[i].add();
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0 && !missing) {
        fprintf(stderr, "stc-tests: no test ran\n");
        return 1;
    }
    return (failed || missing) ? 1 : 0;
}
