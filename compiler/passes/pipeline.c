/* pipeline.c - the order of the compiler: which passes -O0..-O3 run, and the runner.
 *
 * Reading the O-level lists below tells you the whole optimizing compiler.
 * After every pass the verifier runs; --dump-ir-after prints the result.
 * SPDX-License-Identifier: MIT
 */
#include "stc_pass.h"

#include <stdio.h>
#include <string.h>

typedef stc_status_t (*pass_fn)(stc_ir_t *, const stc_pass_opts_t *, stc_err_t *);

static const char *const names[] = {
#define X(name, summary) #name,
#include "passes.def"
#undef X
    NULL};
static const char *const summaries[] = {
#define X(name, summary) summary,
#include "passes.def"
#undef X
    NULL};
static const pass_fn fns[] = {
#define X(name, summary) stc_pass_##name,
#include "passes.def"
#undef X
};
#define N_PASSES ((int)(sizeof fns / sizeof fns[0]))

/* The optimization levels, on the float graph.  -O1 folds BatchNorm into the
 * conv/linear before it; -O2 then folds the remaining constants (SSA scale
 * into its LIF, identity and back-to-back BatchNorms), removes dead nodes and
 * merges duplicates.  Quantization and delay balancing are not levels: the
 * compile command runs quantize, then delay_balance, after the level. */
static const char *const levels[4] = {
    "",                           /* -O0: the graph as imported */
    "fold_bn",                    /* -O1 */
    "fold_bn,const_fold,dce,cse", /* -O2 */
    "fold_bn,const_fold,dce,cse", /* -O3 */
};

int stc_pass_list(const char *const **n, const char *const **s) {
    *n = names;
    *s = summaries;
    return N_PASSES;
}

static stc_status_t run_one(stc_ir_t *ir, const char *name, size_t len, const stc_pass_opts_t *o,
                            stc_err_t *err) {
    for (int p = 0; p < N_PASSES; p++) {
        if (strlen(names[p]) != len || strncmp(names[p], name, len)) continue;
        int before = ir->n_nodes;
        if (fns[p](ir, o, err)) return stc_err_prefix(err, "pass %s", names[p]);
        if (stc_ir_verify(ir, err)) return stc_err_prefix(err, "after pass %s (a compiler bug)", names[p]);
        if (o && o->verbose)
            stc_log(STC_LOG_INFO, "pass", "%s: %d -> %d nodes", names[p], before, ir->n_nodes);
        if (o && o->dump_after && !strcmp(o->dump_after, names[p])) {
            FILE *f = o->dump_to ? o->dump_to : stdout;
            fprintf(f, "# after pass %s\n", names[p]);
            if (stc_ir_print(ir, f, o->dump_weights ? STC_IR_PRINT_WEIGHTS : 0, err)) return err->status;
        }
        return STC_OK;
    }
    char list[512] = "";
    size_t l = 0;
    for (int p = 0; p < N_PASSES && l < sizeof list; p++)
        l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", p ? ", " : "", names[p]);
    return stc_err_set(err, STC_E_USAGE, "unknown pass '%.*s' (passes: %s; levels: O0..O3)", (int)len, name,
                       list);
}

stc_status_t stc_pass_pipeline(stc_ir_t *ir, const char *spec, const stc_pass_opts_t *o, stc_err_t *err) {
    if (spec[0] == '-') spec++;
    if (spec[0] == 'O' && spec[1] >= '0' && spec[1] <= '3' && !spec[2]) spec = levels[spec[1] - '0'];
    if (o && o->dump_after) {
        int known = 0;
        for (int p = 0; p < N_PASSES; p++) known |= !strcmp(names[p], o->dump_after);
        if (!known) return stc_err_set(err, STC_E_USAGE, "--dump-ir-after %s: no such pass", o->dump_after);
    }
    while (*spec) {
        size_t len = strcspn(spec, ",");
        if (len && run_one(ir, spec, len, o, err)) return err->status;
        spec += len;
        if (*spec == ',') spec++;
    }
    return STC_OK;
}
