/* cse.c - pass: common-subexpression elimination, one node per distinct computation.
 *
 * Requires: a verified graph.  Two nodes compute the same value when they
 * have the same op, the same inputs in the same order (after the merges made
 * so far, so whole duplicated chains collapse in one pass), the same
 * attributes of that op (conv2d/maxpool k, stride, pad; lif tau, vth, vreset;
 * batchnorm eps; ssa heads, scale; compared bit for bit), on a quantized graph
 * the same integer fields of that op (qstep, qexp, qbits, qgraded, qrsh, qsh,
 * qshl, qdk, qvth, qvreset, qmul), and the same parameters (role, shape and
 * every value bit for bit).  Every op is deterministic given its inputs (a
 * LIF's membrane is a function of its input history), so the later node is
 * removed and its users read the earlier one, which keeps its name.
 * Operands are not reordered (add(a,b) and add(b,a) stay two nodes: on a
 * quantized graph qsh is per operand).
 * Guarantees: no two nodes as above.  Preserves: the function exactly (the
 * same float or integer operations run on the same values), the order of the
 * survivors.  The pipeline depth stays valid: merged stages had the same
 * inputs, hence the same depth.  A merged LIF's module name is gone from
 * spike counts (the first one's counts are the same spikes).
 * SPDX-License-Identifier: MIT
 */
#include "stc_pass.h"

#include <stdlib.h>
#include <string.h>

static int same_bits(const void *a, const void *b, size_t n) { return !memcmp(a, b, n); }

static int same_params(const stc_node_t *a, const stc_node_t *b) {
    if (a->n_params != b->n_params) return 0;
    for (int p = 0; p < a->n_params; p++) {
        const stc_param_t *x = &a->params[p], *y = stc_ir_param(b, x->role);
        if (!y || x->ndim != y->ndim || x->numel != y->numel) return 0;
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] != y->shape[d]) return 0;
        if (x->data != y->data && !same_bits(x->data, y->data, (size_t)x->numel * sizeof(float))) return 0;
    }
    return 1;
}

/* The attributes and (quant) integer fields that op gives a meaning. */
static int same_attrs(const stc_node_t *a, const stc_node_t *b, int quant) {
    if (a->shape.c != b->shape.c || a->shape.h != b->shape.h || a->shape.w != b->shape.w ||
        a->vtype != b->vtype)
        return 0;
    switch (a->op) {
    case STC_OP_CONV2D:
    case STC_OP_MAXPOOL:
        if (a->k != b->k || a->stride != b->stride || a->pad != b->pad) return 0;
        break;
    case STC_OP_LIF:
        if (!same_bits(&a->tau, &b->tau, sizeof a->tau) || !same_bits(&a->vth, &b->vth, sizeof a->vth) ||
            !same_bits(&a->vreset, &b->vreset, sizeof a->vreset))
            return 0;
        break;
    case STC_OP_BATCHNORM:
        if (!same_bits(&a->eps, &b->eps, sizeof a->eps)) return 0;
        break;
    case STC_OP_SSA:
        if (a->heads != b->heads || !same_bits(&a->scale, &b->scale, sizeof a->scale)) return 0;
        break;
    default:
        break;
    }
    if (!quant) return 1;
    if (!same_bits(&a->qstep, &b->qstep, sizeof a->qstep)) return 0;
    switch (a->op) {
    case STC_OP_INPUT:
        return a->qexp == b->qexp && a->qbits == b->qbits;
    case STC_OP_CONV2D:
    case STC_OP_LINEAR:
        return a->qexp == b->qexp && a->qbits == b->qbits && a->qgraded == b->qgraded &&
               (!a->qgraded || a->qrsh == b->qrsh);
    case STC_OP_ADD:
        return a->qbits == b->qbits && a->qgraded == b->qgraded && a->qrsh == b->qrsh &&
               a->qsh[0] == b->qsh[0] && a->qsh[1] == b->qsh[1];
    case STC_OP_LIF:
        return a->qshl == b->qshl && a->qdk == b->qdk && a->qvth == b->qvth && a->qvreset == b->qvreset;
    case STC_OP_SSA:
        return a->qexp == b->qexp && a->qmul == b->qmul;
    default:
        return 1;
    }
}

/* Open addressing on (op, canonical inputs): nodes with the same key are few
 * (the q, k and v convolutions of one input, say), so each node is compared
 * with a handful of candidates and the pass is linear in the graph. */
static uint64_t key_hash(const stc_node_t *n, const int *repl) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n->op;
    for (int k = 0; k < n->n_in; k++) {
        int j = repl[n->in[k]] >= 0 ? repl[n->in[k]] : n->in[k];
        h = (h ^ (uint64_t)(unsigned)j) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    return h;
}

stc_status_t stc_pass_cse(stc_ir_t *ir, const stc_pass_opts_t *o, stc_err_t *err) {
    (void)o;
    int n = ir->n_nodes;
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    int *repl = malloc((size_t)n * sizeof *repl);
    int *table = malloc(cap * sizeof *table);
    if (!repl || !table) {
        free(repl);
        free(table);
        return stc_err_set(err, STC_E_NOMEM, "cse: out of memory");
    }
    for (size_t s = 0; s < cap; s++) table[s] = -1;
    int merged = 0;
    /* canon(j): the kept node standing for j (itself, or the earlier node it was merged into) */
#define CANON(j) (repl[(j)] >= 0 ? repl[(j)] : (j))
    for (int i = 0; i < n; i++) {
        repl[i] = -1;
        const stc_node_t *b = &ir->nodes[i];
        if (b->op == STC_OP_INPUT || b->op == STC_OP_OUTPUT) continue;
        size_t s = (size_t)key_hash(b, repl) & (cap - 1);
        for (; table[s] >= 0; s = (s + 1) & (cap - 1)) {
            int j = table[s];
            const stc_node_t *a = &ir->nodes[j];
            if (a->op != b->op || a->n_in != b->n_in) continue;
            int same = 1;
            for (int k = 0; k < a->n_in && same; k++) same = CANON(a->in[k]) == CANON(b->in[k]);
            if (!same || !same_attrs(a, b, ir->quant) || !same_params(a, b)) continue;
            stc_log(STC_LOG_DEBUG, "cse", "%%%d '%s' is %%%d '%s'", i, b->name, j, a->name);
            repl[i] = j;
            merged++;
            break;
        }
        if (repl[i] < 0) table[s] = i; /* s is the empty slot the probe ended on */
    }
#undef CANON
    stc_status_t st = merged ? stc_ir_remove(ir, repl, err) : STC_OK;
    free(repl);
    free(table);
    return st;
}
