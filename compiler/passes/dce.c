/* dce.c - pass: dead-code elimination, every node whose value cannot reach the output.
 *
 * Requires: nodes in order (inputs earlier), one INPUT first and one OUTPUT
 * last; the rest of the verifier need not hold, since this pass exists for
 * graphs built or rewritten by code: the verifier refuses an unused result,
 * so on a verified graph every node reaches the output and dce changes
 * nothing.  A node is live if it is the OUTPUT, an input of a live node, or
 * the INPUT (the graph keeps its one input even if the output ignores it).
 * Guarantees: every node but the INPUT reaches the OUTPUT.
 * Preserves: the function, names, the order of the survivors.
 * SPDX-License-Identifier: MIT
 */
#include "stc_pass.h"

#include <stdlib.h>

stc_status_t stc_pass_dce(stc_ir_t *ir, const stc_pass_opts_t *o, stc_err_t *err) {
    (void)o;
    int n = ir->n_nodes;
    if (n < 2) return STC_OK;
    char *live = calloc((size_t)n, 1);
    int *repl = malloc((size_t)n * sizeof *repl);
    if (!live || !repl) {
        free(live);
        free(repl);
        return stc_err_set(err, STC_E_NOMEM, "dce: out of memory");
    }
    live[0] = 1;
    live[n - 1] = 1;
    /* users come after what they read: one backward sweep marks everything */
    for (int i = n - 1; i >= 0; i--) {
        if (!live[i]) continue;
        for (int k = 0; k < ir->nodes[i].n_in; k++) {
            int j = ir->nodes[i].in[k];
            if (j < 0 || j >= i) {
                free(live);
                free(repl);
                return stc_err_set(err, STC_E_FORMAT, "dce: node %%%d: input %d refers to %%%d, expected an "
                                   "earlier node", i, k, j);
            }
            live[j] = 1;
        }
    }
    /* a dead node's users are all dead, so nothing is redirected: any earlier
     * node satisfies stc_ir_remove's contract (node 0, the INPUT, is live) */
    int dead = 0;
    for (int i = 0; i < n; i++) {
        repl[i] = live[i] ? -1 : 0;
        dead += !live[i];
    }
    stc_status_t st = dead ? stc_ir_remove(ir, repl, err) : STC_OK;
    if (!st && dead) stc_log(STC_LOG_DEBUG, "dce", "%d dead nodes removed", dead);
    free(live);
    free(repl);
    return st;
}
