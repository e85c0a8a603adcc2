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
