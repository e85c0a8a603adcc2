/* test_base.c - suite "base": errors, escaping, arena, checked arithmetic, file reading.
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_base.h"
#include "test_util.h"

static void test_err(void) {
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_err_set(&err, STC_E_FORMAT, "x.pth: tensor '%s' bad", "w"), STC_E_FORMAT);
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, "x.pth: tensor 'w' bad");
    stc_err_prefix(&err, "loading %s", "model");
    CU_ASSERT_STRING_EQUAL(err.msg, "loading model: x.pth: tensor 'w' bad");
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    CU_ASSERT_EQUAL(stc_err_set(NULL, STC_E_IO, "ignored"), STC_E_IO);
    CU_ASSERT_STRING_EQUAL(stc_status_name(STC_E_LIMIT), "limit");
    /* a long prefix never overflows and keeps the message terminated */
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    stc_err_prefix(&err, "%s", big);
    CU_ASSERT(strlen(err.msg) < STC_ERR_MSG_MAX);
}

static void test_escape(void) {
    char out[64];
    stc_escape(out, sizeof out, "ab\x01\"c", 5, 64);
    CU_ASSERT_STRING_EQUAL(out, "ab\\x01\\x22c");
    stc_escape(out, sizeof out, "0123456789", 10, 4);
    CU_ASSERT_STRING_EQUAL(out, "0123...");
    char tiny[6];
    stc_escape(tiny, sizeof tiny, "\xff\xff\xff\xff", 4, 64);
    CU_ASSERT(strlen(tiny) < sizeof tiny);
}

static void test_arena(void) {
    stc_arena_t *a = stc_arena_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    char *s = stc_arena_strdup(a, "hello");
    CU_ASSERT_STRING_EQUAL(s, "hello");
    for (int i = 0; i < 1000; i++) {
        unsigned char *p = stc_arena_alloc(a, (size_t)i * 7 + 1);
        CU_ASSERT_PTR_NOT_NULL(p);
        CU_ASSERT_EQUAL(((uintptr_t)p) % 16, 0);
        CU_ASSERT_EQUAL(p[0], 0);
    }
    CU_ASSERT_PTR_NULL(stc_arena_alloc(a, (size_t)1 << 50)); /* absurd sizes refused, not attempted */
    CU_ASSERT(stc_arena_bytes(a) > 1000);
    stc_arena_destroy(&a);
    CU_ASSERT_PTR_NULL(a);
    stc_arena_destroy(&a); /* destroying NULL is fine */
}

static void test_checked(void) {
    uint64_t r = 0;
    CU_ASSERT(stc_mul_ok(1u << 20, 1u << 20, &r) && r == (1ull << 40));
    CU_ASSERT(!stc_mul_ok(1ull << 40, 1ull << 40, &r));
    CU_ASSERT(!stc_add_ok(UINT64_MAX, 1, &r));
}

static void test_read_file(void) {
    stc_err_t err = {0};
    unsigned char *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(stc_read_file("/nonexistent/x", 100, &d, &n, &err), STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "/nonexistent/x");
    char path[] = "/tmp/stc_base_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("0123456789", f);
    fclose(f);
    CU_ASSERT_EQUAL(stc_read_file(path, 5, &d, &n, &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "limit");
    CU_ASSERT_EQUAL(stc_read_file(path, 100, &d, &n, &err), STC_OK);
    CU_ASSERT_EQUAL(n, 10);
    CU_ASSERT(memcmp(d, "0123456789", 10) == 0);
    free(d);
    remove(path);
}

void stc_suite_base(void) {
    static const stc_test_t tests[] = {{"errors", test_err},     {"escape", test_escape},
                                       {"arena", test_arena},    {"checked arithmetic", test_checked},
                                       {"read_file", test_read_file}, {NULL, NULL}};
    stc_add_suite("base", tests);
}
