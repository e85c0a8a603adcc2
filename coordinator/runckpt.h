/* runckpt.h - the coordinator's checkpoint file of a distributed run
 * (runckpt.c): the results of the inputs finished so far and every rank's
 * blob of chip state after one tick (stc_chipsim_save), so that `stc-coord run
 * --resume` continues where the job failed.  Layout in docs/runtime.md.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_RUNCKPT_H
#define STC_RUNCKPT_H

#include "stc_base.h"

#include <stdint.h>

typedef struct {
    uint64_t bundle_sum, inputs_sum; /* what it belongs to: resume refuses anything else */
    int64_t n_inputs;                /* of the run */
    int64_t tick;                    /* the global tick the state is after */
    int64_t index, tick_in;          /* = the input being run, and its tick */
    uint32_t n_out, n_stages;
    /* results of inputs 0 .. index-1 */
    float *logits;                   /* index * n_out */
    int64_t *spikes;                 /* index * n_stages */
    uint64_t *digest;                /* index */
    uint32_t n_blobs;
    uint8_t **blob;
    uint64_t *blob_len;
} coord_runckpt_t;

/* Write atomically (a temporary file renamed over path). */
stc_status_t coord_runckpt_write(const char *path, const coord_runckpt_t *c, stc_err_t *err);
/* Parse with explicit limits; errors name `name` and the field.  The result
 * owns its arrays (coord_runckpt_free). */
stc_status_t coord_runckpt_parse(const uint8_t *buf, size_t len, const char *name, coord_runckpt_t *c, stc_err_t *err);
stc_status_t coord_runckpt_read(const char *path, coord_runckpt_t *c, stc_err_t *err);
void coord_runckpt_free(coord_runckpt_t *c);

#endif
