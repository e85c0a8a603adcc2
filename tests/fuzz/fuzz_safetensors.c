/* fuzz_safetensors.c - libFuzzer target: the safetensors reader on arbitrary bytes.
 *
 * Directly through stc_read_safetensors() (harness: fuzz_reader.h; the reader
 * promises bounds, so an out-of-bounds tensor is a finding), then through the
 * public entry point (format detection, unwrapping).
 * Seeds: tests/fuzz/corpus/safetensors/.
 * SPDX-License-Identifier: MIT
 */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_one_reader(stc_read_safetensors, "fuzz.safetensors", 1, data, size);
    stc_err_t err;
    stc_ckpt_t *c = stc_ckpt_load_mem(data, size, "fuzz.safetensors", &err);
    stc_ckpt_destroy(&c);
    return 0;
}
