/* fuzz_inputs.c - libFuzzer target: .npy / idx image and label readers.
 *
 * Input framing: byte 0 = flags (bit 0: a labels file follows, bits 1-2:
 * limit 0..3 images), bytes 1-2 = labels length (LE, clamped), then the
 * labels bytes, then the images file.  Without bit 0 everything after byte 0
 * is the images file.  Seeds: tests/fuzz/corpus/inputs/ (made in that framing).
 * SPDX-License-Identifier: MIT
 */
#include <stdlib.h>
#include <string.h>

#include "stc_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned flags = data[0];
    const uint8_t *lab = NULL, *img = data + 1;
    size_t lab_n = 0, img_n = size - 1;
    if (flags & 1) {
        if (size < 3) return 0;
        lab_n = (size_t)data[1] | (size_t)data[2] << 8;
        if (lab_n > size - 3) lab_n = size - 3;
        lab = data + 3;
        img = lab + lab_n;
        img_n = size - 3 - lab_n;
    }
    /* exact-size copies so that ASan catches any overread */
    uint8_t *ib = malloc(img_n ? img_n : 1), *lb = malloc(lab_n ? lab_n : 1);
    if (!ib || !lb) goto out;
    memcpy(ib, img, img_n);
    if (lab) memcpy(lb, lab, lab_n);
    stc_input_norm_t nm = {1, {0.5f}, {0.25f}, 0};
    stc_err_t err;
    stc_input_t *in = stc_input_load_mem(ib, img_n, "fuzz.img", lab ? lb : NULL, lab_n, "fuzz.lab",
                                         (flags & 8) ? &nm : NULL, (flags >> 1) & 3, &err);
    if (in) {
        /* every value must be readable and finite */
        size_t n = (size_t)(in->n * in->c * in->h * in->w);
        float acc = 0;
        for (size_t i = 0; i < n; i++) acc += in->data[i] * 0.0f;
        if (acc != 0.0f) __builtin_trap();
        if (lab && !in->labels) __builtin_trap();
        for (int64_t i = 0; lab && i < in->n; i++)
            if (in->labels[i] < 0) __builtin_trap();
    }
    stc_input_destroy(&in);
out:
    free(ib);
    free(lb);
    return 0;
}
