/* fuzz_reader.h - the harness shared by the per-reader fuzz targets.
 *
 * fuzz_one_reader() feeds the bytes straight to one reader on an empty
 * checkpoint (no time lost on format detection), then puts every tensor the
 * reader accepted through ckpt_check_bounds() and, when small, through
 * stc_tensor_to_f32().  It traps (a finding) when a reader fails without a
 * message naming the file, or when conversion of an in-bounds tensor fails.
 * `strict_bounds`: the reader itself promises bounds (safetensors), so a
 * tensor out of bounds is a finding too.  The copy of the input has no
 * slack, so ASan sees any read past its end.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_FUZZ_READER_H
#define STC_FUZZ_READER_H

#include <stdlib.h>
#include <string.h>

#include "ckpt_int.h"

/* Convert an accepted, in-bounds tensor to float32 (small ones only: a
 * stride-0 tensor can be far bigger than the file); a failure is a finding. */
static inline void fuzz_convert(const stc_tensor_t *t) {
    stc_err_t err = {0};
    int64_t n = stc_tensor_numel(t);
    if (n < 0) __builtin_trap();
    if (n > (1 << 16)) return;
    float *v = malloc((size_t)n * sizeof *v + 1);
    if (v && stc_tensor_to_f32(t, v, (size_t)n, &err) != STC_OK) __builtin_trap();
    free(v);
}

typedef stc_status_t (*fuzz_reader_fn)(stc_ckpt_t *c, const unsigned char *buf, size_t n,
                                       stc_err_t *err);

static inline void fuzz_one_reader(fuzz_reader_fn read, const char *name, int strict_bounds,
                                   const uint8_t *data, size_t size) {
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return;
    memcpy(buf, data, size);
    stc_ckpt_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(buf);
        return;
    }
    c->arena = stc_arena_create();
    c->path = stc_arena_strdup(c->arena, name);
    size_t nl = strlen(name);
    stc_err_t err = {0};
    if (read(c, buf, size, &err) == STC_OK) {
        for (size_t i = 0; i < c->n_tensors; i++) {
            const stc_tensor_t *t = c->tensors[i];
            if (ckpt_check_bounds(c, t, &err) != STC_OK) {
                if (strict_bounds) __builtin_trap();
                continue;
            }
            fuzz_convert(t);
        }
    } else if (err.status == STC_OK || strncmp(err.msg, name, nl) || strncmp(err.msg + nl, ": ", 2)) {
        __builtin_trap(); /* every failure names the file */
    }
    stc_ckpt_destroy(&c);
    free(buf);
}

#endif
