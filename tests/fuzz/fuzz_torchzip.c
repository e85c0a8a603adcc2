/* fuzz_torchzip.c - libFuzzer target: the torchzip reader (compiler/frontend/torchzip.c) on arbitrary bytes.
 * The harness is fuzz_reader.h.  Seeds: tests/fuzz/corpus/torchzip/.
 * SPDX-License-Identifier: MIT
 */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_one_reader(stc_read_torchzip, "fuzz.pth", 0, data, size);
    return 0;
}
