/* test_target.c - suite "target": the presets load, and a bad descriptor is refused by field.
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_target.h"
#include "test_util.h"

static void test_presets(void) {
    stc_target_t t;
    stc_err_t err = {0};
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi2", &t, &err), STC_OK);
    CU_ASSERT_STRING_EQUAL(t.name, "loihi2");
    CU_ASSERT_EQUAL(t.cores_per_chip, 128);
    CU_ASSERT_EQUAL(t.memory_per_core_bytes, 196608);
    CU_ASSERT_EQUAL(t.weight_bits, 8);
    CU_ASSERT_EQUAL(t.state_bits, 24);
    CU_ASSERT_EQUAL(t.core_mesh[0] * t.core_mesh[1], 128);
    CU_ASSERT(t.n_assumptions > 0 && t.n_assumptions < 28);
    stc_target_t t3;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t3, &err), STC_OK);
    CU_ASSERT_STRING_EQUAL(t3.name, "loihi3");
    /* every loihi3 figure that differs from loihi2 is an assumption: more of them */
    CU_ASSERT(t3.n_assumptions > t.n_assumptions);
    const char *j = stc_target_preset_json("loihi3");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    STC_ASSERT_CONTAINS(j, "No public Loihi 3 specification");
    CU_ASSERT_EQUAL(stc_target_load("loihi9", &t, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "loihi2");
}

/* loihi2's text with one substitution */
static stc_status_t parse_edited(const char *from, const char *to, stc_err_t *err) {
    const char *j = stc_target_preset_json("loihi2");
    const char *at = strstr(j, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t n = strlen(j) - strlen(from) + strlen(to);
    char *buf = malloc(n + 1);
    size_t pre = (size_t)(at - j);
    memcpy(buf, j, pre);
    strcpy(buf + pre, to);
    strcat(buf, at + strlen(from));
    stc_target_t t;
    stc_status_t st = stc_target_parse(buf, n, "my.json", &t, err);
    free(buf);
    return st;
}

static void test_bad(void) {
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(parse_edited("\"weight_bits\":             {\"value\": 8,", "\"weight_bits\": {\"value\": 9,", &err),
                    STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "my.json: field 'weight_bits' is 9");
    CU_ASSERT_EQUAL(parse_edited("\"state_bits\"", "\"state_bitz\"", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "unknown field 'state_bitz'");
    CU_ASSERT_EQUAL(parse_edited("\"source\": \"Lava PyLifModelBitAcc: u and v are 24-bit\"", "\"x\": 1", &err),
                    STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "'state_bits' needs exactly one of \"source\"");
    CU_ASSERT_EQUAL(parse_edited("{\"value\": [8, 16],", "{\"value\": [8, 15],", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "core_mesh 8x15 holds 120 cores, cores_per_chip is 128");
    CU_ASSERT_EQUAL(parse_edited("{\"value\": 196608,", "{\"value\": 2048,", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "do not fit");
    CU_ASSERT_EQUAL(parse_edited("{\"value\": 128,", "{\"value\": 12.5,", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "whole number");
    CU_ASSERT_EQUAL(parse_edited("\"stc-target 1\"", "\"stc-target 2\"", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "stc-target 1");
    stc_target_t t;
    CU_ASSERT_EQUAL(stc_target_parse("{", 1, "x.json", &t, &err), STC_E_FORMAT);
    CU_ASSERT_EQUAL(stc_target_parse("{\"format\":\"stc-target 1\",\"name\":\"x\"}", 36, "x.json", &t, &err),
                    STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "field 'cores_per_chip' is missing");
    CU_ASSERT_EQUAL(stc_target_load("/nonexistent/chip.json", &t, &err), STC_E_IO);
}

void stc_suite_target(void) {
    static const stc_test_t tests[] = {{"presets", test_presets}, {"bad descriptors", test_bad}, {NULL, NULL}};
    stc_add_suite("target", tests);
}
