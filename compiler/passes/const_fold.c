/* const_fold.c - pass: fold constants the graph carries in attributes and parameters.
 *
 * Requires: a verified float graph.  On a quantized graph (ir->quant) it
 * changes nothing: there the constants already live in the integer fields,
 * and the float ones no longer decide anything.
 *
 * Three rewrites, repeated until none applies:
 *
 * (a) SSA scale into its LIF.  An ssa node whose only user is a lif with
 *     vreset = 0, and whose scale s is finite and > 0, gets scale = 1 and the
 *     lif gets vth / s.  The LIF is linear in (v, x) when it resets to 0
 *     (h = v + (x - v)/tau), so from v = 0 the membrane fed s*x is s times the
 *     one fed x, and s*h >= vth exactly when h >= vth/s: same spikes, membrane
 *     scaled by 1/s.  For a power-of-two s (Spikformer's 0.125) every value
 *     involved is scaled exactly, so the spikes are bit-identical; otherwise
 *     they agree up to float32 rounding near the threshold.  The LIF's charge
 *     as traced (--trace) is then in the new units (1/s times PyTorch's).
 *
 * (b) Identity batchnorm removed.  A batchnorm whose affine
 *     (stc_ir_bn_affine: out = in*a + b) has a == 1 and b == 0 on every
 *     channel computes in*1 + 0 = in; its users read its input instead.
 *
 * (c) Two batchnorms in a row become one.  bn2(bn1(x)) where bn1's only user
 *     is bn2: with (a1, b1) and (a2, b2) their affines, the composition is
 *     x*a + b with a = a2*a1 and b = a2*b1 + b2, each computed in double and
 *     rounded to float32 once.  bn2 keeps its name and gets the parameters
 *         weight = a, bias = b, running_mean = 0, running_var = 1 - 2^-24,
 *         eps = 2^-24,
 *     which stc_ir_bn_affine turns back into exactly (a, b): 1 - 2^-24 is a
 *     float32, var + eps is exactly 1 in double, sqrt(1) = 1, so its factor
 *     is weight / 1 = a and its shift bias - 0*a = b.  bn1 disappears.  The
 *     composed graph rounds once per channel where the original rounded per
 *     activation: the same function up to float32 rounding, as fold_bn.
 *
 * Guarantees: no identity batchnorm, no batchnorm whose only user is a
 * batchnorm, no ssa (scale > 0) read by one LIF with vreset 0 alone with a
 * scale other than 1.  Preserves: names of the surviving nodes, the order of
 * the rest, the function as said above.
 * SPDX-License-Identifier: MIT
 */
#include "stc_pass.h"

#include <math.h>
#include <stdlib.h>

#define EPS_ONE 5.9604644775390625e-08 /* 2^-24: var = 1 - 2^-24 is a float32, var + eps = 1 */

/* The only user of node id, or -1 if it has none or several. */
static int only_user(const stc_ir_t *ir, int id) {
    int u = -1;
    for (int i = id + 1; i < ir->n_nodes; i++)
        for (int k = 0; k < ir->nodes[i].n_in; k++)
            if (ir->nodes[i].in[k] == id) {
                if (u >= 0) return -1;
                u = i;
            }
    return u;
}

/* (a): returns the number of ssa nodes folded. */
static int fold_ssa_scale(stc_ir_t *ir) {
    int n = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        stc_node_t *s = &ir->nodes[i];
        if (s->op != STC_OP_SSA || s->scale == 1.0f || !(s->scale > 0) || !isfinite(s->scale)) continue;
        int u = only_user(ir, i);
        if (u < 0) continue;
        stc_node_t *l = &ir->nodes[u];
        if (l->op != STC_OP_LIF || l->vreset != 0.0f) continue;
        float vth = l->vth / s->scale;
        if (!isfinite(vth)) continue;
        stc_log(STC_LOG_DEBUG, "const_fold", "%%%d '%s': scale %g into %%%d '%s' (vth %g -> %g)", i, s->name,
                (double)s->scale, u, l->name, (double)l->vth, (double)vth);
        l->vth = vth;
        s->scale = 1.0f;
        n++;
    }
    return n;
}

static float *param_data(stc_node_t *bn, const char *role) {
    return ((stc_param_t *)stc_ir_param(bn, role))->data;
}

/* One sweep of (b) and (c) in graph order, filling repl; returns the number of
 * batchnorms removed.  A batchnorm already removed in this sweep is not
 * composed (the next sweep sees the graph without it). */
static stc_status_t sweep_bn(stc_ir_t *ir, int *repl, int *removed, stc_err_t *err) {
    int C = 0;
    for (int i = 0; i < ir->n_nodes; i++)
        if (ir->nodes[i].op == STC_OP_BATCHNORM && ir->nodes[i].shape.c > C) C = ir->nodes[i].shape.c;
    *removed = 0;
    for (int i = 0; i < ir->n_nodes; i++) repl[i] = -1;
    if (!C) return STC_OK;
    float *a1 = malloc((size_t)C * 4 * sizeof(float));
    if (!a1) return stc_err_set(err, STC_E_NOMEM, "const_fold: out of memory");
    float *b1 = a1 + C, *a2 = b1 + C, *b2 = a2 + C;
    for (int i = 0; i < ir->n_nodes; i++) {
        stc_node_t *n = &ir->nodes[i];
        if (n->op != STC_OP_BATCHNORM) continue;
        int p = n->in[0];
        stc_node_t *pn = &ir->nodes[p];
        int c = n->shape.c;
        if (pn->op == STC_OP_BATCHNORM && repl[p] < 0 && stc_ir_users(ir, p) == 1) {
            stc_ir_bn_affine(pn, a1, b1);
            stc_ir_bn_affine(n, a2, b2);
            float *w = param_data(n, "weight"), *b = param_data(n, "bias");
            float *mu = param_data(n, "running_mean"), *var = param_data(n, "running_var");
            for (int k = 0; k < c; k++) {
                w[k] = (float)((double)a2[k] * a1[k]);
                b[k] = (float)((double)a2[k] * b1[k] + b2[k]);
                mu[k] = 0.0f;
                var[k] = (float)(1.0 - EPS_ONE);
            }
            n->eps = (float)EPS_ONE;
            stc_log(STC_LOG_DEBUG, "const_fold", "%%%d '%s' composed into %%%d '%s'", p, pn->name, i,
                    n->name);
            repl[p] = pn->in[0];
            (*removed)++;
        }
        stc_ir_bn_affine(n, a2, b2);
        int identity = 1;
        for (int k = 0; k < c && identity; k++) identity = a2[k] == 1.0f && b2[k] == 0.0f;
        if (identity) {
            stc_log(STC_LOG_DEBUG, "const_fold", "%%%d '%s': identity batchnorm removed", i, n->name);
            repl[i] = n->in[0];
            (*removed)++;
        }
    }
    free(a1);
    return STC_OK;
}

stc_status_t stc_pass_const_fold(stc_ir_t *ir, const stc_pass_opts_t *o, stc_err_t *err) {
    (void)o;
    if (ir->quant) return STC_OK;
    int scales = fold_ssa_scale(ir), bns = 0, removed;
    int *repl = malloc((size_t)ir->n_nodes * sizeof *repl);
    if (!repl) return stc_err_set(err, STC_E_NOMEM, "const_fold: out of memory");
    do {
        if (sweep_bn(ir, repl, &removed, err) || (removed && stc_ir_remove(ir, repl, err))) {
            free(repl);
            return err->status;
        }
        bns += removed;
    } while (removed);
    free(repl);
    if (scales || bns)
        stc_log(STC_LOG_DEBUG, "const_fold", "%d ssa scales folded, %d batchnorms removed", scales, bns);
    return STC_OK;
}
