/* fuzz_runckpt.c - libFuzzer target: the run checkpoint parser (coordinator/runckpt.c) on arbitrary bytes.
 *
 * Each input is parsed twice: as given (the magic, version and trailing sum
 * stop most mutations), then with the trailing stc_proto_sum64 patched to
 * agree with the bytes, so that mutations reach the counts and blobs.  A
 * finding is a crash, leak or overread, a refusal whose message does not
 * start with the file name, or an accepted file that does not write back to
 * the same bytes.  Seeds: tests/fuzz/corpus/runckpt/.
 * SPDX-License-Identifier: MIT
 */
#include "runckpt.h"
#include "stc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_one(const uint8_t *buf, size_t n) {
    coord_runckpt_t c;
    stc_err_t err = {0};
    if (coord_runckpt_parse(buf, n, "fuzz.ckpt", &c, &err)) {
        if (err.status == STC_OK || strncmp(err.msg, "fuzz.ckpt: ", 11)) __builtin_trap();
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_runckpt.%d", (int)getpid());
    if (coord_runckpt_write(path, &c, &err)) __builtin_trap();
    FILE *f = fopen(path, "rb");
    uint8_t *back = malloc(n + 1);
    size_t got = f && back ? fread(back, 1, n + 1, f) : 0;
    if (f) fclose(f);
    unlink(path);
    if (got != n || memcmp(back, buf, n)) __builtin_trap();
    free(back);
    coord_runckpt_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_one(data, size);
    if (size >= 16) {
        uint8_t *p = malloc(size);
        if (!p) return 0;
        memcpy(p, data, size);
        uint64_t s = stc_proto_sum64(p, size - 8);
        for (int i = 0; i < 8; i++) p[size - 8 + i] = (uint8_t)(s >> (8 * i));
        parse_one(p, size);
        free(p);
    }
    return 0;
}
