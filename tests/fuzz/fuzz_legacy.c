/* fuzz_legacy.c - libFuzzer target: the legacy reader (compiler/frontend/legacy.c) on arbitrary bytes.
 *
 * Feeds the input straight to stc_read_legacy() on an empty checkpoint, so
 * the fuzzer spends no time on format detection.  Tensors the reader accepts
 * go through ckpt_check_bounds() (ckpt.c's job after the reader) and, if in
 * bounds and small, through stc_tensor_to_f32().  Seeds: tests/fuzz/corpus/legacy/.
 * SPDX-License-Identifier: MIT
 */
#include <stdlib.h>
#include <string.h>

#include "ckpt_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A private copy with no slack: ASan sees any read past the end. */
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    stc_ckpt_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(buf);
        return 0;
    }
    c->arena = stc_arena_create();
    c->path = stc_arena_strdup(c->arena, "fuzz.pth");
    stc_err_t err;
    if (stc_read_legacy(c, buf, size, &err) == STC_OK) {
        for (size_t i = 0; i < c->n_tensors; i++) {
            const stc_tensor_t *t = c->tensors[i];
            if (ckpt_check_bounds(c, t, &err) != STC_OK) continue;
            int64_t n = stc_tensor_numel(t);
            if (n < 0) __builtin_trap();
            if (n > (1 << 16)) continue;
            float *v = malloc((size_t)n * sizeof *v + 1);
            if (v && stc_tensor_to_f32(t, v, (size_t)n, &err) != STC_OK) __builtin_trap();
            free(v);
        }
    } else if (err.status == STC_OK || strncmp(err.msg, "fuzz.pth: ", 10)) {
        __builtin_trap(); /* every failure names the file */
    }
    stc_ckpt_destroy(&c);
    free(buf);
    return 0;
}
