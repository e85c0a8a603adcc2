/* fuzz_ckpt.c - libFuzzer target: stc_ckpt_load_mem() on arbitrary bytes.
 *
 * The whole path a user's file takes: format detection, one of the three
 * readers, unwrapping, the 'module.' strip and the bounds checks; then every
 * accepted tensor is converted to float32 (small ones: a stride-0 tensor can
 * be far bigger than the file).  Seeds: tests/fuzz/corpus/ckpt/.
 * SPDX-License-Identifier: MIT
 */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stc_err_t err;
    stc_ckpt_t *c = stc_ckpt_load_mem(data, size, "fuzz.pth", &err);
    if (!c) {
        if (err.status == STC_OK || strncmp(err.msg, "fuzz.pth: ", 10)) __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < stc_ckpt_count(c); i++) {
        const stc_tensor_t *t = stc_ckpt_at(c, i);
        if (stc_ckpt_find(c, t->name) != t) __builtin_trap();
        fuzz_convert(t);
    }
    stc_ckpt_destroy(&c);
    return 0;
}
