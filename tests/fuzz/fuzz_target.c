/* fuzz_target.c - libFuzzer target: target descriptor parsing (compiler/lower/target.c).
 * Seeds: tests/fuzz/corpus/target/ (the presets).
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "stc_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stc_target_t t;
    stc_err_t err = {0};
    if (stc_target_parse((const char *)data, size, "fuzz.json", &t, &err) != STC_OK &&
        strncmp(err.msg, "fuzz.json: ", 11))
        __builtin_trap(); /* every failure names the file */
    return 0;
}
