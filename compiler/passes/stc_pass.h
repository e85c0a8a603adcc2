/* stc_pass.h - the pass manager: named passes over the Spike IR, run in pipelines.
 *
 * A pipeline is "-O0".."-O3" or a comma-separated list of pass names
 * (passes.def).  The verifier runs after every pass (a pass that breaks the
 * graph is named in the error), and the IR can be printed after any pass.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_PASS_H
#define STC_PASS_H

#include "stc_ir.h"

typedef struct {
    const char *dump_after;  /* pass name whose result is printed, or NULL */
    FILE *dump_to;           /* where (stdout if NULL) */
    int dump_weights;        /* print parameter values too */
    int verbose;             /* log each pass and the node count */
    /* quantize (docs/backend.md section 1); 0 / NULL take the default */
    int weight_bits;         /* conv2d/linear weights: 2..8 bits (8) */
    int payload_bits;        /* graded spikes (add, graded conv2d/linear): 2..16 bits (16) */
    int input_bits;          /* the INPUT encoding: 2..16 bits (8) */
    const float *calib;      /* n_calib images, each C*H*W floats of the INPUT shape; NULL: a */
    int n_calib;             /*   static bound (conservative, logged as a warning) */
    /* called after each calibration image (done of n), for a progress line; may be NULL */
    void (*calib_progress)(void *ud, int done, int n); /* under a lock: one call at a time */
    void *calib_ud;
    int threads;             /* calibration workers, one image each at a time (1 if 0) */
} stc_pass_opts_t;

#define X(name, summary) stc_status_t stc_pass_##name(stc_ir_t *ir, const stc_pass_opts_t *o, stc_err_t *err);
#include "passes.def"
#undef X

/* Run `spec`: "O0".."O3" (with or without '-') or "pass1,pass2".  Unknown
 * names are an error listing the known ones. */
stc_status_t stc_pass_pipeline(stc_ir_t *ir, const char *spec, const stc_pass_opts_t *o, stc_err_t *err);

/* The passes, for --help: name and summary; returns the count. */
int stc_pass_list(const char *const **names, const char *const **summaries);

#endif
