/* fuzz_safetensors.c - libFuzzer target: the safetensors reader on arbitrary bytes.
 *
 * Feeds the input to stc_read_safetensors() on an empty checkpoint (so every
 * input reaches the reader, whatever its first bytes), then, if it was
 * accepted, converts every tensor to float32 the way the compiler does.
 * Seeds: tests/fuzz/corpus/safetensors/.
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
    c->path = stc_arena_strdup(c->arena, "fuzz.safetensors");
    stc_err_t err;
    if (stc_read_safetensors(c, buf, size, &err) == STC_OK) {
        for (size_t i = 0; i < c->n_tensors; i++) {
            const stc_tensor_t *t = c->tensors[i];
            if (ckpt_check_bounds(c, t, &err) != STC_OK) __builtin_trap(); /* reader let it by */
            int64_t n = stc_tensor_numel(t);
            if (n > (1 << 20)) continue; /* bounded by the file size anyway */
            float *v = malloc((size_t)n * sizeof *v + 1);
            if (v && stc_tensor_to_f32(t, v, (size_t)n, &err) != STC_OK) __builtin_trap();
            free(v);
        }
    }
    stc_ckpt_destroy(&c);
    /* And through the public entry point (format detection, unwrapping). */
    c = stc_ckpt_load_mem(buf, size, "fuzz.safetensors", &err);
    stc_ckpt_destroy(&c);
    free(buf);
    return 0;
}
