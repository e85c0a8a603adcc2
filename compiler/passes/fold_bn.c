/* fold_bn.c - pass: fold BatchNorm into the conv2d/linear before it.
 *
 * Requires: a verified graph.  Where a batchnorm's input is a conv2d or
 * linear node that nothing else reads, the BatchNorm's affine map
 *     y = x * a + b,   a = weight / sqrt(var + eps),   b = bias - mean * a
 * (the interpreter's own formula, ATen's inference form) moves into that
 * node's parameters: w'[o,...] = w[o,...] * a[o], bias'[o] = bias[o] * a[o] + b[o]
 * (bias'[o] = b[o] when there was none), and the batchnorm disappears.
 * Guarantees: no batchnorm directly after a conv2d/linear with one user.
 * Preserves: the function, up to float32 rounding (the product is rounded
 * once per weight instead of once per activation), so logits agree within
 * float tolerance and spikes except within rounding of a threshold — the
 * parity tests check both against PyTorch.  BatchNorms elsewhere (after a
 * max-pool, say) are left as they are.
 * SPDX-License-Identifier: MIT
 */
#include "stc_pass.h"

#include <stdlib.h>

stc_status_t stc_pass_fold_bn(stc_ir_t *ir, const stc_pass_opts_t *o, stc_err_t *err) {
    (void)o;
    int *repl = malloc((size_t)ir->n_nodes * sizeof *repl);
    if (!repl) return stc_err_set(err, STC_E_NOMEM, "fold_bn: out of memory");
    int folded = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        repl[i] = -1;
        stc_node_t *n = &ir->nodes[i];
        if (n->op != STC_OP_BATCHNORM) continue;
        int src = n->in[0];
        stc_node_t *c = &ir->nodes[src];
        if ((c->op != STC_OP_CONV2D && c->op != STC_OP_LINEAR) || stc_ir_users(ir, src) != 1) continue;
        stc_param_t *w = (stc_param_t *)stc_ir_param(c, "weight");
        stc_param_t *b = (stc_param_t *)stc_ir_param(c, "bias");
        int Co = c->shape.c;
        int64_t per = w->numel / Co;
        if (!b) {
            int64_t shp[1] = {Co};
            b = stc_ir_add_param(ir, src, "bias", 1, shp, NULL); /* zeroed by the arena */
            if (!b) {
                free(repl);
                return stc_err_set(err, STC_E_NOMEM, "fold_bn: cannot add a bias to %%%d", src);
            }
            c = &ir->nodes[src];
        }
        float *a = malloc((size_t)Co * 2 * sizeof(float));
        if (!a) {
            free(repl);
            return stc_err_set(err, STC_E_NOMEM, "fold_bn: out of memory");
        }
        float *sh = a + Co;
        stc_ir_bn_affine(&ir->nodes[i], a, sh);
        for (int k = 0; k < Co; k++) {
            for (int64_t j = 0; j < per; j++) w->data[k * per + j] *= a[k];
            b->data[k] = b->data[k] * a[k] + sh[k];
        }
        free(a);
        repl[i] = src;
        folded++;
    }
    stc_status_t st = folded ? stc_ir_remove(ir, repl, err) : STC_OK;
    free(repl);
    return st;
}
