/* fuzz_bundle.c - libFuzzer target: the bundle reader (deploy/bundle_io.c) on arbitrary bytes.
 *
 * Each input is read twice: as given (the header checks: magic, version,
 * length, CRC-32), then with the header's body length and CRC-32 patched to
 * agree with the bytes (offsets 16 and 24, docs/bundle.md), so that mutations
 * reach the section parser and stc_bundle_validate() instead of dying at the
 * checksum.  A finding is: a crash, leak or overread (ASan, UBSan), a refusal
 * whose message does not start with the file name, or an accepted bundle that
 * does not validate, does not write, or does not write back to the same
 * bytes (write(read(x)) == x whenever nothing was skipped, i.e. the sizes
 * agree; and write(read(write(read(x)))) == write(read(x)) always).
 * Seeds: tests/fuzz/corpus/bundle/ (written by the unit suite "bundle").
 * SPDX-License-Identifier: MIT
 */
#include <stdlib.h>
#include <string.h>

#include "stc_bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_one(const unsigned char *buf, size_t n) {
    stc_err_t err = {0};
    stc_bundle_t *b = stc_bundle_read_mem(buf, n, "fuzz.stc", &err);
    if (!b) {
        if (err.status == STC_OK || strncmp(err.msg, "fuzz.stc: ", 10)) __builtin_trap();
        return;
    }
    if (stc_bundle_validate(b, "fuzz.stc", &err)) __builtin_trap();
    unsigned char *w1 = NULL, *w2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (stc_bundle_write_mem(b, &w1, &n1, &err)) __builtin_trap();
    if (n1 == n && memcmp(w1, buf, n)) __builtin_trap(); /* the encoding is canonical */
    stc_bundle_t *b2 = stc_bundle_read_mem(w1, n1, "fuzz2.stc", &err);
    if (!b2) __builtin_trap();
    if (stc_bundle_write_mem(b2, &w2, &n2, &err)) __builtin_trap();
    if (n2 != n1 || memcmp(w1, w2, n1)) __builtin_trap();
    free(w1);
    free(w2);
    stc_bundle_destroy(&b2);
    stc_bundle_destroy(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *buf = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!buf) return 0;
    memcpy(buf, data, size);
    read_one(buf, size);
    if (size >= 32) {
        uint64_t body = size - 32;
        for (int i = 0; i < 8; i++) buf[16 + i] = (unsigned char)(body >> (8 * i));
        uint32_t crc = stc_bundle_checksum(buf, size);
        for (int i = 0; i < 4; i++) buf[24 + i] = (unsigned char)(crc >> (8 * i));
        read_one(buf, size);
    }
    free(buf);
    return 0;
}
