/* delay_balance.c - pass: pipeline depth of every stage (docs/backend.md 2.1).
 *
 * Requires: a verified quantized graph (ir->quant; quantize runs first).
 * A stage (stc_ir_is_stage: input, lif, maxpool, mul, sdsa, ssa, output,
 * add, graded conv2d/linear) is a neuron group; the nodes between stages
 * (conv2d/linear that are not graded, mean) become projections.  Each stage
 * gets depth = 0 for the INPUT and otherwise 1 + the largest depth among the
 * stages its terms come from: each of its inputs, followed back through
 * non-stage nodes to the stages they read.  A stage of depth d computes
 * timestep t at tick t + d; a projection from depth p into depth d is delayed
 * d - p ticks, so every join sees operands of one timestep.
 * Guarantees: node->depth set on every stage, -1 on every other node;
 * ir->balanced = 1 (the verifier then re-checks every depth, so a later pass
 * that changes the stages without re-running this one is caught).
 * Preserves: everything else; the function is unchanged (depth is timing).
 * Logs (INFO) the pipeline depth: one inference takes T + depth(output) ticks.
 * SPDX-License-Identifier: MIT
 */
#include "stc_pass.h"

#include <stdlib.h>

stc_status_t stc_pass_delay_balance(stc_ir_t *ir, const stc_pass_opts_t *o, stc_err_t *err) {
    (void)o;
    if (!ir->quant)
        return stc_err_set(err, STC_E_USAGE, "delay_balance needs a quantized graph: run quantize first");
    /* reach[i]: the largest stage depth node i's value carries (its own for a stage) */
    int *reach = malloc((size_t)(ir->n_nodes > 0 ? ir->n_nodes : 1) * sizeof *reach);
    if (!reach) return stc_err_set(err, STC_E_NOMEM, "delay_balance: out of memory");
    int stages = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        stc_node_t *n = &ir->nodes[i];
        int m = -1;
        for (int k = 0; k < n->n_in; k++) {
            int j = n->in[k];
            if (j < 0 || j >= i) {
                free(reach);
                return stc_err_set(err, STC_E_INTERNAL, "delay_balance: node %%%d reads %%%d, expected an "
                                   "earlier node", i, j);
            }
            if (reach[j] > m) m = reach[j];
        }
        if (stc_ir_is_stage(ir, i)) {
            n->depth = n->op == STC_OP_INPUT ? 0 : 1 + m;
            reach[i] = n->depth;
            stages++;
        } else {
            n->depth = -1;
            reach[i] = m;
        }
    }
    int depth = ir->n_nodes ? ir->nodes[ir->n_nodes - 1].depth : 0;
    free(reach);
    ir->balanced = 1;
    stc_log(STC_LOG_INFO, "delay_balance", "%d stages, pipeline depth %d: one inference takes T + %d = %d "
            "ticks", stages, depth, depth, ir->T + depth);
    return STC_OK;
}
