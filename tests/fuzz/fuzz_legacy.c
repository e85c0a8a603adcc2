/* fuzz_legacy.c - libFuzzer target: the legacy reader (compiler/frontend/legacy.c) on arbitrary bytes.
 * The harness is fuzz_reader.h.  Seeds: tests/fuzz/corpus/legacy/.
 * SPDX-License-Identifier: MIT
 */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_one_reader(stc_read_legacy, "fuzz.pth", 0, data, size);
    return 0;
}
