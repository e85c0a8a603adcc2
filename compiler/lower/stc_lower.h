/* stc_lower.h - from the quantized IR to hardware terms: stages, projections, cores.
 *
 * stc_lower() turns a quantized, delay-balanced graph into a bundle
 * (deploy/stc_bundle.h): one stage per neuron group, one projection per
 * synapse group with its weights stored once (weight sharing); then the
 * partitioner (partitioner/stc_partition.h) cuts the stages into cores under
 * every per-core limit of the target and builds the axon and routing tables.  docs/backend.md section 2 and 3 say what becomes what.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_LOWER_H
#define STC_LOWER_H

#include "stc_bundle.h"
#include "stc_ir.h"
#include "stc_target.h"

typedef struct {
    const stc_target_t *target;
    int max_chips;          /* 0: as many as needed; else an error if more are needed */
    const char *source;     /* manifest: the checkpoint's file name */
    const char *options;    /* manifest: compile options as given */
    const char *target_json;/* the descriptor's text, carried in the bundle (NULL: the preset's) */
    int first_fit;          /* cores: the first-fit baseline instead of stc's balanced cut */
    const double *stage_rate;/* spikes per neuron per inference of every stage, for the work balance; NULL: estimate */
    struct stc_cores_report *report; /* if not NULL: cores used against the lower bound */
    int stages_only;        /* stop after the stages and projections: no cores, no tables (the caller
                             * cuts and places them, as compile --topology does) */
} stc_lower_opts_t;

stc_bundle_t *stc_lower(const stc_ir_t *ir, const stc_lower_opts_t *o, stc_err_t *err);

#endif
