/* test_util.h - helpers shared by the CUnit suites.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_TEST_UTIL_H
#define STC_TEST_UTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>

/* Directory holding test data written at build/test time (tests/data in the
 * build tree); set by CMake as STC_TEST_DATA_DIR. */
#ifndef STC_TEST_DATA_DIR
#define STC_TEST_DATA_DIR "."
#endif
#ifndef STC_SOURCE_DIR
#define STC_SOURCE_DIR "."
#endif

/* Add a suite with tests given as {name, fn} pairs terminated by {NULL, NULL}. */
typedef struct {
    const char *name;
    void (*fn)(void);
} stc_test_t;

static inline void stc_add_suite(const char *name, const stc_test_t *tests) {
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    for (; tests->name; tests++) CU_add_test(s, tests->name, tests->fn);
}

/* CU_ASSERT_STRING-like check that `hay` contains `needle`. */
#define STC_ASSERT_CONTAINS(hay, needle) CU_ASSERT_PTR_NOT_NULL(strstr((hay), (needle)))

#endif
