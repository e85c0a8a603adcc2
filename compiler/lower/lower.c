/* lower.c - lowering: the quantized, balanced IR becomes stages, projections and cores.
 *
 * Four steps, in this order (docs/backend.md sections 2 and 3):
 *   1. stages: one per node that exists as neurons (stc_ir_is_stage), plus
 *      partial-sum stages before a DENSE_REDUCE whose fan-in is over the
 *      target's limit, and before a linear or convolution layer cut by its
 *      input channels (docs/backend.md 2.3);
 *   2. projections: each stage input is followed through the synaptic ops
 *      (conv2d, linear, mean, and the alignment shifts of add) to the stage it
 *      comes from; the weights are stored once per projection (sharing) and
 *      conv/linear biases move into the target stage's per-channel bias;
 *   3. slices and cores: the partitioner's core builder cuts each stage into
 *      slices and packs them into cores under every per-core limit of the
 *      target (partitioner/cores.c);
 *   4. tables: each core's input axons and each neuron's routes
 *      (partitioner/tables.c).
 * Errors name the stage and the limit with the figures.
 * SPDX-License-Identifier: MIT
 */
#include "stc_lower.h"
#include "stc_fixed.h"
#include "stc_partition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STC_LOWER_MAX_DELAY 255 /* ticks an event can wait in a core's delay ring */

typedef struct {
    stc_bundle_t *b;
    const stc_ir_t *ir;
    const stc_target_t *t;
    int *stage_of;   /* node id -> stage index, -1 */
    int cap_projs;
    double *maxpay;  /* per stage: largest |payload| it emits */
    int *psum_of;    /* node id (a mean or sdsa read through DENSE_REDUCE) -> its partial-sum stage, -1; owns
                      * dshift, split_k and split_first (make_stages) */
    int *psum_src;   /* stage index -> the stage a partial-sum stage sums over positions, -1; owns part_of, part_j */
    int *split_k;    /* node id of a linear -> the slices of its partial sums (0: not split, -1: never) */
    int *split_first;/* node id of a split linear -> its first partial-sum stage */
    int *part_of;    /* stage index -> the linear node whose slice a partial-sum stage sums, -1 */
    int *part_j;     /* stage index -> which slice */
    int cap_stages;
    stc_err_t *err;
} lw_t;


/* ------------------------------------------------------------- 1. stages */

static int stage_kind(const stc_node_t *n) {
    switch (n->op) {
    case STC_OP_INPUT: return STC_NK_INPUT;
    case STC_OP_LIF: return STC_NK_LIF;
    case STC_OP_ADD: case STC_OP_CONV2D: case STC_OP_LINEAR: return STC_NK_RELAY;
    case STC_OP_MAXPOOL: return STC_NK_MAX;
    case STC_OP_MUL: case STC_OP_SDSA: return STC_NK_AND;
    case STC_OP_SSA: return STC_NK_SSA;
    case STC_OP_OUTPUT: return STC_NK_READOUT;
    default: return 0;
    }
}

/* The stage node whose positions linear node x sums through a DENSE_REDUCE
 * synapse (linear of a mean of a stage, or linear of an sdsa stage; see term),
 * or -1. */
static int dense_reduce_src(const stc_ir_t *ir, int x) {
    const stc_node_t *X = &ir->nodes[x];
    if (X->op != STC_OP_LINEAR || stc_ir_is_stage(ir, x)) return -1;
    int y = X->in[0];
    if (stc_ir_is_stage(ir, y)) return ir->nodes[y].op == STC_OP_SDSA ? y : -1;
    if (ir->nodes[y].op == STC_OP_MEAN && stc_ir_is_stage(ir, ir->nodes[y].in[0])) return ir->nodes[y].in[0];
    return -1;
}

/* Partial sums (docs/backend.md 2.3): when stage `reader` reads linear node x
 * through a DENSE_REDUCE whose fan-in (every neuron of the source stage) is
 * over the target's fan_in_axons_per_core, a RELAY stage [C,1,1] first sums the
 * source over positions (REDUCE, weight 1, rsh 0: the mean or sdsa node's
 * integer value) and the reader takes it through a DENSE projection.  It is
 * made once per mean (or sdsa) node, just before its first reader, and delays
 * every reader (and, through dshift, everything after it) by the tick it adds. */
static stc_status_t add_psum(lw_t *L, int x, int reader, int *dshift) {
    const stc_ir_t *ir = L->ir;
    stc_bundle_t *b = L->b;
    int src = dense_reduce_src(ir, x);
    if (src < 0 || L->stage_of[src] < 0) return STC_OK;
    int y = ir->nodes[x].in[0]; /* the mean (or sdsa) node: the sums */
    if (L->psum_of[y] < 0) {
        const stc_stage_t *S = &b->stages[L->stage_of[src]];
        int64_t fan_in = (int64_t)S->c * S->h * S->w;
        if (fan_in <= L->t->fan_in_axons_per_core) return STC_OK;
        if (b->n_stages >= L->cap_stages) /* cannot happen: each partial sum has its own non-stage linear node */
            return stc_err_set(L->err, STC_E_INTERNAL, "lower: no room for the partial sums of %%%d", y);
        const stc_node_t *Y = &ir->nodes[y];
        stc_stage_t *s = &b->stages[b->n_stages];
        snprintf(s->name, sizeof s->name, "%.80s.psum", Y->name[0] ? Y->name : ir->nodes[x].name);
        s->ir_node = y;
        s->kind = STC_NK_RELAY;
        s->c = S->c, s->h = 1, s->w = 1;
        s->depth = S->depth + 1;
        s->rsh = 0, s->pbits = L->t->payload_bits;
        s->qstep = Y->qstep;
        L->psum_src[b->n_stages] = L->stage_of[src];
        L->psum_of[y] = b->n_stages++;
        stc_log(STC_LOG_INFO, "lower",
                "'%s' reads %lld axons of '%s' through DENSE_REDUCE, over fan_in_axons_per_core %d of %s: "
                "partial sums in stage '%s' [%d,1,1] (one more tick)",
                ir->nodes[reader].name, (long long)fan_in, S->name, L->t->fan_in_axons_per_core, L->t->name, s->name,
                s->c);
    }
    int need = b->stages[L->psum_of[y]].depth + 1 - ir->nodes[reader].depth;
    if (need > dshift[reader]) dshift[reader] = need;
    return STC_OK;
}

/* Cores one layer of s input channels and co outputs needs when its output
 * [co, hout, wout] is cut in tl tiles of rows by g groups of channels, each
 * core within the target's neurons, fan-in (the input rows its output rows
 * read: a k x k convolution of this stride over [s, hin, win]; a token-wise
 * linear layer is k = 1 over a column of tokens) and memory (state, and the
 * weights of its channels stored once): the best tl x g, and its g.  The
 * model cores.c cuts by, in closed form; HUGE_VAL if no core can hold a row
 * of it. */
static double piece_cores(const stc_target_t *t, double s, double co, int k, int stride, int hin, int win, int hout,
                          int wout, double *groups) {
    double syn = t->synapse_bits / 8.0, best = HUGE_VAL;
    for (int tl = 1; tl <= hout && tl < best; tl++) {
        int rows = (hout + tl - 1) / tl, rin = (rows - 1) * stride + k;
        if (rin > hin) rin = hin;
        if ((double)rin * win * s > t->fan_in_axons_per_core) continue;
        double p = (double)rows * wout;
        double o = fmin(fmin(floor(t->neurons_per_core / p), co),
                        floor(t->memory_per_core_bytes / (syn * s * k * k + (double)t->neuron_state_bytes * p)));
        if (o < 1) continue;
        double g = ceil(co / o);
        if (tl * g < best) best = tl * g, *groups = g;
    }
    return best;
}

/* Partial sums of a layer cut by its inputs (docs/backend.md 2.3).  A core of
 * LIF stage `lif` reading linear node x of Ci inputs per token sees at most
 * fan_in / Ci tokens: 21 of Spikformer-8-768's 196 for fc2 on loihi3, so each
 * tile of tokens holds a copy of the layer's weights and every source neuron
 * is routed to all its channel groups.  A convolution of many input channels
 * over few rows (Spikformer's rpe, 768 channels of 14 x 14) is the same.
 * Split into k slices of Ci / k input channels, each a RELAY stage that sums
 * its slice for every output (exact: the sums of the positive and of the
 * negative weights of every output's slice must fit the payload, spikes
 * being 0 or 1), and the LIF adds the k partial sums through ONE2ONE
 * projections, one tick later.  The number of slices, 1 (no split) or k,
 * minimizes the estimated cores of the layer and its readers: the slices'
 * tiles (piece_cores), the LIF stage's (k axons per neuron), and the
 * source's (its neurons, or its routes, one per channel group of the slice
 * that reads it, if more).  A split must save at least 10% of that
 * estimate. */
static int input_split(lw_t *L, int lif, int x) {
    const stc_ir_t *ir = L->ir;
    const stc_target_t *t = L->t;
    const stc_node_t *X = &ir->nodes[x], *Y = &ir->nodes[X->in[0]];
    const stc_param_t *w = stc_ir_param(X, "weight");
    int conv = X->op == STC_OP_CONV2D, kk = conv ? X->k : 1, stride = conv ? X->stride : 1;
    int ci = Y->shape.c, co = X->shape.c;
    /* a linear layer: a column of tokens */
    int hin = conv ? Y->shape.h : Y->shape.h * Y->shape.w, win = conv ? Y->shape.w : 1;
    int hout = conv ? X->shape.h : hin, wout = conv ? X->shape.w : 1;
    double nin = (double)hin * win, nout = (double)hout * wout, pmax = stc_payload_max(t->payload_bits);
    if (!w || w->numel != (int64_t)co * ci * kk * kk || kk < 1 || stride < 1) return 0;
    if (!conv && (nin <= 1 || t->fan_in_axons_per_core / ci >= nin)) return 0; /* a core sees every token */
    double nn = t->neurons_per_core, fi = t->fan_in_axons_per_core, fo = t->fan_out_axons_per_core;
    double src_n = nin * ci / nn, cost1 = HUGE_VAL, best = HUGE_VAL, g = 1; /* unsplit may not fit at all */
    int bk = 1;
    for (int k = 1; k <= 64 && k <= ci; k++) {
        if (ci % k) continue;
        int sw = ci / k;
        double piece = piece_cores(t, sw, co, kk, stride, hin, win, hout, wout, &g);
        if (piece == HUGE_VAL) continue;
        double cost = k * piece + fmax(src_n, nin * ci * g / fo);
        if (k > 1) {
            double per = fmin(nn, fmin(floor(fi / k), floor(t->memory_per_core_bytes / t->neuron_state_bytes)));
            cost += ceil(co * nout / per);
            /* exact: spikes are 0 or 1, so an output's slice sums to between
             * the sum of its negative weights and the sum of its positive ones */
            double most = 0;
            int64_t blk = (int64_t)sw * kk * kk; /* w[o][c][ky][kx]: a slice of a row is contiguous */
            for (int o = 0; o < co; o++)
                for (int j = 0; j < k; j++) {
                    double pos = 0, neg = 0;
                    const float *r = w->data + ((int64_t)o * ci + (int64_t)j * sw) * kk * kk;
                    for (int64_t c = 0; c < blk; c++) {
                        if (r[c] > 0) pos += r[c];
                        else neg -= r[c];
                    }
                    most = fmax(most, fmax(pos, neg));
                }
            if (most > pmax) {
                stc_log(STC_LOG_DEBUG, "lower", "'%s': %d slices of %d inputs would cost about %.0f cores, but a "
                        "slice's sum can reach %.0f, beyond the %d-bit payload", ir->nodes[lif].name, k, sw, cost,
                        most, t->payload_bits);
                continue;
            }
        } else cost1 = cost;
        if (cost < best) best = cost, bk = k;
    }
    if (bk == 1 || best > 0.9 * cost1) return 0;
    if (conv)
        stc_log(STC_LOG_INFO, "lower",
                "'%s' reads %d input channels of '%s' through a %dx%d CONV: partial sums in %d slices of %d channels "
                "(about %.0f cores instead of %.0f; one more tick)",
                ir->nodes[lif].name, ci, Y->name, kk, kk, bk, ci / bk, best, cost1);
    else
        stc_log(STC_LOG_INFO, "lower",
                "'%s' reads %d inputs per token of '%s' through DENSE; a core sees at most %d of its %.0f tokens: "
                "partial sums in %d slices of %d channels (about %.0f cores instead of %.0f; one more tick)",
                ir->nodes[lif].name, ci, Y->name, t->fan_in_axons_per_core / ci, nin, bk, ci / bk, best, cost1);
    return bk;
}

/* Whether stage node i is a LIF reading a linear or convolution layer of a
 * spike stage: the layers input_split may cut; returns that node or -1. */
static int split_candidate(const stc_ir_t *ir, int i) {
    const stc_node_t *n = &ir->nodes[i];
    if (n->op != STC_OP_LIF || n->n_in != 1) return -1;
    int x = n->in[0];
    const stc_node_t *X = &ir->nodes[x];
    if ((X->op != STC_OP_LINEAR && X->op != STC_OP_CONV2D) || stc_ir_is_stage(ir, x)) return -1;
    int y = X->in[0];
    const stc_node_t *Y = &ir->nodes[y];
    if (!stc_ir_is_stage(ir, y) || Y->vtype != STC_VT_SPIKE ||
        (Y->op != STC_OP_LIF && Y->op != STC_OP_MUL && Y->op != STC_OP_MAXPOOL))
        return -1;
    return x;
}

static stc_status_t make_stages(lw_t *L) {
    const stc_ir_t *ir = L->ir;
    stc_bundle_t *b = L->b;
    /* per node: psum_of, dshift, split_k, split_first; per stage: psum_src, part_of, part_j */
    L->psum_of = malloc((size_t)ir->n_nodes * 4 * sizeof *L->psum_of);
    if (!L->psum_of) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    int *dshift = L->psum_of + ir->n_nodes; /* depth added by partial sums upstream of the node */
    L->split_k = L->psum_of + 2 * ir->n_nodes;
    L->split_first = L->psum_of + 3 * ir->n_nodes;
    int extra = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        L->psum_of[i] = L->split_first[i] = -1;
        L->split_k[i] = 0;
    }
    /* a layer that anything but a LIF reads (an add, the output) stays whole:
     * its other readers would need the slices' tick too */
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        int lif = stc_ir_is_stage(ir, i) ? split_candidate(ir, i) : -1;
        for (int k = 0; k < n->n_in; k++)
            if ((ir->nodes[n->in[k]].op == STC_OP_LINEAR || ir->nodes[n->in[k]].op == STC_OP_CONV2D) &&
                n->in[k] != lif)
                L->split_k[n->in[k]] = -1;
    }
    for (int i = 0; i < ir->n_nodes; i++) {
        int x = stc_ir_is_stage(ir, i) ? split_candidate(ir, i) : -1;
        if (x >= 0 && L->split_k[x] == 0) extra += L->split_k[x] = input_split(L, i, x);
    }
    L->cap_stages = ir->n_nodes + extra;
    b->stages = calloc((size_t)L->cap_stages, sizeof *b->stages);
    L->psum_src = malloc((size_t)L->cap_stages * 3 * sizeof *L->psum_src);
    if (!b->stages || !L->psum_src) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    L->part_of = L->psum_src + L->cap_stages;
    L->part_j = L->psum_src + 2 * L->cap_stages;
    for (int i = 0; i < 3 * L->cap_stages; i++) L->psum_src[i] = -1;
    for (int i = 0; i < ir->n_nodes; i++) {
        L->stage_of[i] = -1;
        const stc_node_t *n = &ir->nodes[i];
        dshift[i] = 0;
        for (int k = 0; k < n->n_in; k++)
            if (dshift[n->in[k]] > dshift[i]) dshift[i] = dshift[n->in[k]];
        if (!stc_ir_is_stage(ir, i)) continue;
        if (n->op == STC_OP_LIF || n->op == STC_OP_OUTPUT || n->op == STC_OP_ADD) /* the ops read through term() */
            for (int k = 0; k < n->n_in; k++) {
                stc_status_t st = add_psum(L, n->in[k], i, dshift);
                if (st) return st;
            }
        int x = split_candidate(ir, i);
        if (x >= 0 && L->split_k[x] > 1) {
            const stc_node_t *X = &ir->nodes[x];
            const stc_stage_t *S = &b->stages[L->stage_of[X->in[0]]];
            int need = S->depth + 2 - n->depth; /* the slices' tick */
            if (need > dshift[i]) dshift[i] = need;
            if (L->split_first[x] < 0) { /* the slices' stages, before the first LIF that reads them */
                L->split_first[x] = b->n_stages;
                for (int j = 0; j < L->split_k[x]; j++) {
                    stc_stage_t *s = &b->stages[b->n_stages];
                    snprintf(s->name, sizeof s->name, "%.76s.slice%d", X->name, j);
                    s->ir_node = x;
                    s->kind = STC_NK_RELAY;
                    s->c = X->shape.c, s->h = X->shape.h, s->w = X->shape.w;
                    s->depth = S->depth + 1;
                    s->rsh = 0, s->pbits = L->t->payload_bits;
                    s->qstep = X->qstep;
                    L->part_of[b->n_stages] = x, L->part_j[b->n_stages] = j;
                    b->n_stages++;
                }
            }
        }
        stc_stage_t *s = &b->stages[b->n_stages];
        snprintf(s->name, sizeof s->name, "%s", n->name);
        s->ir_node = i;
        s->kind = stage_kind(n);
        if (!s->kind)
            return stc_err_set(L->err, STC_E_INTERNAL, "lower: %%%d '%s' (%s) has no stage kind", i,
                               n->name, stc_op_name(n->op));
        stc_shape_t sh = n->op == STC_OP_SDSA ? ir->nodes[n->in[0]].shape : n->shape;
        s->c = sh.c, s->h = sh.h, s->w = sh.w;
        s->depth = n->depth + dshift[i];
        if (n->depth < 0)
            return stc_err_set(L->err, STC_E_USAGE, "lower: %%%d '%s' has no depth: run delay_balance first",
                               i, n->name);
        s->shl = n->qshl, s->dk = n->qdk, s->vth = n->qvth, s->vreset = n->qvreset;
        s->rsh = n->qrsh, s->pbits = n->qbits, s->qexp = n->qexp;
        s->heads = n->heads, s->mul = n->qmul;
        s->qstep = n->op == STC_OP_OUTPUT ? ir->nodes[n->in[0]].qstep : n->qstep;
        if (s->kind == STC_NK_LIF || s->kind == STC_NK_RELAY || s->kind == STC_NK_READOUT) {
            s->bias = calloc((size_t)s->c, sizeof *s->bias);
            if (!s->bias) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
        }
        if (n->op == STC_OP_INPUT) b->input_stage = b->n_stages;
        if (n->op == STC_OP_OUTPUT) b->output_stage = b->n_stages;
        L->stage_of[i] = b->n_stages++;
    }
    /* a relay read by a max-pool sends every value: absent must not mean 0 */
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        if (n->op == STC_OP_MAXPOOL && L->stage_of[n->in[0]] >= 0) {
            stc_stage_t *src = &b->stages[L->stage_of[n->in[0]]];
            if (src->kind == STC_NK_RELAY) src->dense = 1;
        }
    }
    return STC_OK;
}

/* -------------------------------------------------------- 2. projections */

static stc_status_t add_proj(lw_t *L, int src, int dst, int kind, const stc_node_t *geo, int shift,
                             int co, int ci, int64_t n_w, const float *w, const char *what) {
    stc_bundle_t *b = L->b;
    if (b->n_projs == L->cap_projs) {
        int cap = L->cap_projs ? 2 * L->cap_projs : 32;
        stc_proj_t *np = realloc(b->projs, (size_t)cap * sizeof *np);
        if (!np) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
        b->projs = np;
        L->cap_projs = cap;
    }
    stc_proj_t *p = &b->projs[b->n_projs];
    memset(p, 0, sizeof *p);
    p->src = src, p->dst = dst, p->kind = kind;
    if (geo) p->k = geo->k, p->stride = geo->stride, p->pad = geo->pad;
    p->shift = shift;
    p->co = co, p->ci = ci, p->n_w = n_w;
    p->delay = b->stages[dst].depth - b->stages[src].depth;
    if (p->delay > STC_LOWER_MAX_DELAY)
        return stc_err_set(L->err, STC_E_LIMIT,
                           "lower: '%s' reads '%s' %d ticks later; a synapse delays at most %d ticks",
                           b->stages[dst].name, b->stages[src].name, p->delay, STC_LOWER_MAX_DELAY);
    if (p->delay < 1)
        return stc_err_set(L->err, STC_E_USAGE,
                           "lower: '%s' reads '%s' at depth %d from depth %d: the graph is not balanced "
                           "(run delay_balance)",
                           b->stages[dst].name, b->stages[src].name, b->stages[dst].depth, b->stages[src].depth);
    if (n_w) {
        p->w = malloc((size_t)n_w);
        if (!p->w) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
        for (int64_t i = 0; i < n_w; i++) {
            float v = w ? w[i] : 1.0f;
            if (v != floorf(v) || v < -127 || v > 127) {
                free(p->w);
                p->w = NULL;
                return stc_err_set(L->err, STC_E_USAGE,
                                   "lower: %s weight %lld of '%s' is %g: expected an integer of at most 8 bits "
                                   "(run quantize)",
                                   what, (long long)i, b->stages[dst].name, (double)v);
            }
            p->w[i] = (int8_t)v;
        }
    }
    b->n_projs++;
    return STC_OK;
}

static stc_status_t add_bias(lw_t *L, int dst, const stc_node_t *n, int shift) {
    const stc_param_t *bp = stc_ir_param(n, "bias");
    stc_stage_t *s = &L->b->stages[dst];
    if (!bp) return STC_OK;
    if (!s->bias || bp->numel != s->c)
        return stc_err_set(L->err, STC_E_INTERNAL, "lower: bias of '%s' does not fit stage '%s'", n->name,
                           s->name);
    for (int c = 0; c < s->c; c++) s->bias[c] += (int64_t)bp->data[c] * ((int64_t)1 << shift);
    return STC_OK;
}

/* The contribution of node x (shifted left by `shift`) to the input of stage dst. */
static stc_status_t term(lw_t *L, int dst, int x, int shift) {
    const stc_ir_t *ir = L->ir;
    const stc_node_t *X = &ir->nodes[x];
    int sx = L->stage_of[x];
    static const float one = 1.0f;
    if (sx >= 0)
        return add_proj(L, sx, dst, X->op == STC_OP_SDSA ? STC_SK_REDUCE : STC_SK_ONE2ONE, NULL, shift, 0, 0, 1,
                        &one, "relay");
    if ((X->op == STC_OP_LINEAR || X->op == STC_OP_CONV2D) && L->split_first[x] >= 0) { /* its slices' sum */
        for (int j = 0; j < L->split_k[x]; j++) {
            stc_status_t st = add_proj(L, L->split_first[x] + j, dst, STC_SK_ONE2ONE, NULL, shift, 0, 0, 1, &one,
                                       "partial sum");
            if (st) return st;
        }
        return add_bias(L, dst, X, shift);
    }
    if (X->op == STC_OP_CONV2D || X->op == STC_OP_LINEAR) {
        int y = X->in[0];
        const stc_param_t *w = stc_ir_param(X, "weight");
        int co = X->shape.c, ci = ir->nodes[y].shape.c;
        int kind = -1, src = L->stage_of[y];
        int sdsa = src >= 0 && ir->nodes[y].op == STC_OP_SDSA; /* its stage holds k*v per token; the node the sum */
        if (X->op == STC_OP_CONV2D && src >= 0 && !sdsa) kind = STC_SK_CONV;
        else if (X->op == STC_OP_LINEAR && src >= 0) kind = sdsa ? STC_SK_DENSE_REDUCE : STC_SK_DENSE;
        else if (X->op == STC_OP_LINEAR && ir->nodes[y].op == STC_OP_MEAN &&
                 L->stage_of[ir->nodes[y].in[0]] >= 0) {
            kind = STC_SK_DENSE_REDUCE;
            src = L->stage_of[ir->nodes[y].in[0]];
        }
        if (kind == STC_SK_DENSE_REDUCE && L->psum_of[y] >= 0) /* through the partial sums of y (add_psum) */
            kind = STC_SK_DENSE, src = L->psum_of[y];
        if (kind < 0)
            return stc_err_set(L->err, STC_E_UNSUPPORTED,
                               "lower: %%%d '%s' (%s) reads %%%d '%s' (%s): the chip has no synapse for that chain",
                               x, X->name, stc_op_name(X->op), y, ir->nodes[y].name, stc_op_name(ir->nodes[y].op));
        stc_status_t st = add_proj(L, src, dst, kind, X, shift, co, ci, w->numel, w->data, X->name);
        return st ? st : add_bias(L, dst, X, shift);
    }
    if (X->op == STC_OP_MEAN && L->stage_of[X->in[0]] >= 0)
        return add_proj(L, L->stage_of[X->in[0]], dst, STC_SK_REDUCE, NULL, shift, 0, 0, 1, &one, "mean");
    return stc_err_set(L->err, STC_E_UNSUPPORTED, "lower: %%%d '%s' (%s) cannot feed '%s' on the chip", x, X->name,
                       stc_op_name(X->op), L->b->stages[dst].name);
}

static stc_status_t make_projs(lw_t *L) {
    const stc_ir_t *ir = L->ir;
    static const float one = 1.0f;
    for (int si = 0; si < L->b->n_stages; si++) {
        if (L->psum_src[si] >= 0) { /* a partial-sum stage: its source summed over positions, weight 1 */
            stc_status_t st = add_proj(L, L->psum_src[si], si, STC_SK_REDUCE, NULL, 0, 0, 0, 1, &one, "partial sum");
            if (st) return st;
            continue;
        }
        if (L->part_of[si] >= 0) { /* a slice of a split layer: its weights of input channels [c0, c0 + ci) */
            const stc_node_t *X = &ir->nodes[L->part_of[si]];
            const stc_param_t *w = stc_ir_param(X, "weight");
            int ci = ir->nodes[X->in[0]].shape.c, co = X->shape.c, sw = ci / L->split_k[X->id];
            int c0 = L->part_j[si] * sw, conv = X->op == STC_OP_CONV2D;
            int64_t kk = conv ? (int64_t)X->k * X->k : 1, blk = sw * kk; /* w[o][c][ky][kx] */
            float *ws = malloc((size_t)(co * blk) * sizeof *ws);
            if (!ws) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
            for (int o = 0; o < co; o++)
                memcpy(ws + o * blk, w->data + ((int64_t)o * ci + c0) * kk, (size_t)blk * sizeof *ws);
            stc_status_t st = add_proj(L, L->stage_of[X->in[0]], si, conv ? STC_SK_CONV : STC_SK_DENSE, X, 0, co, sw,
                                       co * blk, ws, X->name);
            free(ws);
            if (st) return st;
            L->b->projs[L->b->n_projs - 1].c0 = c0;
            continue;
        }
        const stc_node_t *n = &ir->nodes[L->b->stages[si].ir_node];
        stc_status_t st = STC_OK;
        switch (n->op) {
        case STC_OP_INPUT: break;
        case STC_OP_LIF: case STC_OP_OUTPUT: st = term(L, si, n->in[0], 0); break;
        case STC_OP_ADD:
            for (int i = 0; i < n->n_in && !st; i++) st = term(L, si, n->in[i], n->qsh[i]);
            break;
        case STC_OP_CONV2D: case STC_OP_LINEAR: {
            int src = L->stage_of[n->in[0]];
            const stc_param_t *w = stc_ir_param(n, "weight");
            if (src < 0 || ir->nodes[n->in[0]].op == STC_OP_SDSA)
                return stc_err_set(L->err, STC_E_UNSUPPORTED,
                                   "lower: graded %%%d '%s' must read a neuron group that holds its values (not %s)",
                                   n->id, n->name, stc_op_name(ir->nodes[n->in[0]].op));
            st = add_proj(L, src, si, n->op == STC_OP_CONV2D ? STC_SK_CONV : STC_SK_DENSE, n, 0, n->shape.c,
                          ir->nodes[n->in[0]].shape.c, w->numel, w->data, n->name);
            if (!st) st = add_bias(L, si, n, 0);
            break;
        }
        case STC_OP_MAXPOOL: {
            /* a max over events needs every value of its window: spikes (absent = 0,
             * the minimum) or a relay that sends zeros too */
            int src = L->stage_of[n->in[0]];
            const stc_node_t *x = &ir->nodes[n->in[0]];
            int kind = src >= 0 ? L->b->stages[src].kind : 0;
            int spikes = x->vtype == STC_VT_SPIKE && (kind == STC_NK_LIF || kind == STC_NK_AND || kind == STC_NK_MAX);
            if (src < 0 || x->op == STC_OP_SDSA || !(spikes || kind == STC_NK_RELAY))
                return stc_err_set(L->err, STC_E_UNSUPPORTED,
                                   "lower: max-pool %%%d '%s' reads %%%d '%s' (%s): the chip pools spikes or "
                                   "graded values of a conv/linear/add only",
                                   n->id, n->name, x->id, x->name, stc_op_name(x->op));
            st = add_proj(L, src, si, STC_SK_WINDOW, n, 0, 0, 0, 0, NULL, "");
            break;
        }
        case STC_OP_MUL: case STC_OP_SDSA:
            for (int i = 0; i < 2 && !st; i++) {
                int src = L->stage_of[n->in[i]];
                if (src < 0 || ir->nodes[n->in[i]].vtype != STC_VT_SPIKE || ir->nodes[n->in[i]].op == STC_OP_SDSA)
                    return stc_err_set(L->err, STC_E_UNSUPPORTED, "lower: %%%d '%s': both inputs must be spikes",
                                       n->id, n->name);
                const stc_stage_t *s = &L->b->stages[src];
                int bcast = s->h * s->w == 1 && L->b->stages[si].h * L->b->stages[si].w > 1;
                st = add_proj(L, src, si, bcast ? STC_SK_BCAST : STC_SK_ONE2ONE, NULL, 0, 0, 0, bcast ? 0 : 1,
                              &one, "");
            }
            break;
        case STC_OP_SSA:
            for (int i = 0; i < 3 && !st; i++) {
                int src = L->stage_of[n->in[i]];
                if (src < 0 || ir->nodes[n->in[i]].vtype != STC_VT_SPIKE || ir->nodes[n->in[i]].op == STC_OP_SDSA)
                    return stc_err_set(L->err, STC_E_UNSUPPORTED, "lower: %%%d '%s': q, k and v must be spikes",
                                       n->id, n->name);
                st = add_proj(L, src, si, STC_SK_SSA_Q + i, NULL, 0, 0, 0, 0, NULL, "");
            }
            break;
        default:
            return stc_err_set(L->err, STC_E_INTERNAL, "lower: stage %%%d '%s' (%s) has no lowering", n->id,
                               n->name, stc_op_name(n->op));
        }
        if (st) return st;
    }
    /* biases that are all zero are not stored */
    for (int si = 0; si < L->b->n_stages; si++) {
        stc_stage_t *s = &L->b->stages[si];
        int any = 0;
        for (int c = 0; s->bias && c < s->c; c++) any |= s->bias[c] != 0;
        if (s->bias && !any) {
            free(s->bias);
            s->bias = NULL;
        }
    }
    return STC_OK;
}

/* -------------------------------------------------------- token layout */

/* A stage that no convolution or window feeds or reads holds tokens, not
 * pixels, and the row it is cut in (docs/partitioner.md) need not be the
 * image's.  A core of a token-wise linear layer over Ci inputs sees at most
 * fan_in / (Ci + its other inputs per token) tokens: 21 for Spikformer-8-768's
 * fc2 on loihi3, where rows of
 * 14 would waste a third of its fan-in.  So the token stages of N positions
 * get rows of the largest divisor r of N that wastes at most 5% of every such
 * cap (r = 7 there: [C,14,14] becomes [C,28,7]); rows stay as they are when no
 * cap is under N.  Longer rows keep the tables' runs long.  Neurons keep their
 * order (channel, then position), so nothing computed changes.  The one join
 * between two layouts allowed is a ONE2ONE, position by position in that
 * order (docs/backend.md 2.4); any other join keeps its token side as it was. */
static stc_status_t token_layout(lw_t *L) {
    stc_bundle_t *b = L->b;
    char *tok = malloc((size_t)b->n_stages + 1);
    if (!tok) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    for (int si = 0; si < b->n_stages; si++) {
        const stc_stage_t *s = &b->stages[si];
        tok[si] = s->kind != STC_NK_INPUT && s->w > 1;
    }
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        if (p->kind == STC_SK_CONV || p->kind == STC_SK_WINDOW) tok[p->src] = tok[p->dst] = 0;
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int pi = 0; pi < b->n_projs; pi++) {
            const stc_proj_t *p = &b->projs[pi];
            const stc_stage_t *S = &b->stages[p->src], *D = &b->stages[p->dst];
            if (tok[p->src] == tok[p->dst] || S->h * S->w == 1 || D->h * D->w == 1) continue;
            if (tok[p->dst] && p->kind == STC_SK_ONE2ONE) continue; /* pixels into tokens */
            if (tok[p->src]) tok[p->src] = 0;
            else tok[p->dst] = 0;
            changed = 1;
        }
    }
    /* per number of positions: the longest row that wastes <= 5% of every cap */
    for (int si = 0; si < b->n_stages; si++) {
        if (tok[si] != 1) continue;
        int64_t n = (int64_t)b->stages[si].h * b->stages[si].w, best = b->stages[si].w;
        int capped = 0;
        for (int64_t r = n; r >= 1; r--) {
            if (n % r) continue;
            int ok = 1;
            for (int sj = 0; sj < b->n_stages && ok; sj++) {
                const stc_stage_t *D = &b->stages[sj];
                if (!tok[sj] || (int64_t)D->h * D->w != n) continue;
                /* the axons a token of one channel needs: every input of a DENSE, one of a ONE2ONE */
                int64_t per = 0, dense = 0;
                for (int pi = 0; pi < b->n_projs; pi++) {
                    const stc_proj_t *p = &b->projs[pi];
                    if (p->dst != sj) continue;
                    if (p->kind == STC_SK_DENSE) per += p->ci, dense = 1;
                    else if (p->kind == STC_SK_ONE2ONE || p->kind == STC_SK_SSA_Q) per += 1;
                }
                int64_t cap = dense ? L->t->fan_in_axons_per_core / per : n;
                if (cap >= n) continue;
                capped = 1;
                ok = cap >= r && 20 * (cap % r) <= cap;
            }
            if (ok) {
                if (capped) best = r;
                break;
            }
        }
        for (int sj = si; sj < b->n_stages; sj++) { /* no cap: every shape stays as it is */
            stc_stage_t *s = &b->stages[sj];
            if (tok[sj] != 1 || (int64_t)s->h * s->w != n) continue;
            if (capped) s->h = (int)(n / best), s->w = (int)best;
            tok[sj] = 2;
        }
    }
    free(tok);
    return STC_OK;
}

/* Payload bounds and the int32 input sum: what the chip's arithmetic can hold. */
static stc_status_t check_ranges(lw_t *L) {
    stc_bundle_t *b = L->b;
    int64_t pmax = stc_payload_max(L->t->payload_bits);
    for (int si = 0; si < b->n_stages; si++) {
        stc_stage_t *s = &b->stages[si];
        double in = 0;
        for (int pi = 0; pi < b->n_projs; pi++) {
            const stc_proj_t *p = &b->projs[pi];
            if (p->dst != si) continue;
            const stc_stage_t *src = &b->stages[p->src];
            double pay = L->maxpay[p->src], npos = (double)src->h * src->w, best = 0;
            int per = p->co ? (int)(p->n_w / p->co) : 0;
            switch (p->kind) {
            case STC_SK_CONV: case STC_SK_DENSE: case STC_SK_DENSE_REDUCE:
                for (int o = 0; o < p->co; o++) {
                    double pos = 0, neg = 0;
                    for (int j = 0; j < per; j++) {
                        int v = p->w[(int64_t)o * per + j];
                        if (v > 0) pos += v;
                        else neg -= v;
                    }
                    /* sum |w|; a slice of a split layer reads spikes, 0 or 1: the larger side */
                    double a = L->part_of[si] >= 0 ? fmax(pos, neg) : pos + neg;
                    if (a > best) best = a;
                }
                best *= pay * ldexp(1, p->shift) * (p->kind == STC_SK_DENSE_REDUCE ? npos : 1);
                break;
            case STC_SK_ONE2ONE: case STC_SK_REDUCE:
                for (int64_t j = 0; j < p->n_w; j++) best = fmax(best, abs(p->w[j]));
                best *= pay * ldexp(1, p->shift) * (p->kind == STC_SK_REDUCE ? npos : 1);
                break;
            case STC_SK_WINDOW: best = pay; break;
            case STC_SK_BCAST: best = 1; break;
            default: break;
            }
            if (p->kind == STC_SK_WINDOW) in = fmax(in, best);
            else in += best;
        }
        double bmax = 0;
        for (int c = 0; s->bias && c < s->c; c++) bmax = fmax(bmax, fabs((double)s->bias[c]));
        in += bmax;
        if (in >= 2147483648.0)
            return stc_err_set(L->err, STC_E_LIMIT,
                               "lower: stage '%s' can receive a synaptic sum of %.3g, beyond the 32-bit "
                               "accumulator: lower --weight-bits",
                               s->name, in);
        if (L->psum_src[si] >= 0 && in > (double)stc_payload_max(s->pbits)) { /* exact, or not at all */
            const stc_stage_t *src = &b->stages[L->psum_src[si]];
            return stc_err_set(L->err, STC_E_LIMIT,
                               "lower: '%s' sums '%s' [%d,%d,%d] over positions because its %lld neurons are over "
                               "fan_in_axons_per_core %d of %s, but the sum can reach %d positions x payload %.0f "
                               "= %.0f, beyond the %d-bit payload (%lld): the partial sums would not be exact",
                               s->name, src->name, src->c, src->h, src->w, (long long)src->c * src->h * src->w,
                               L->t->fan_in_axons_per_core, L->t->name, src->h * src->w, L->maxpay[L->psum_src[si]],
                               in, s->pbits, (long long)stc_payload_max(s->pbits));
        }
        if (L->part_of[si] >= 0 && in > (double)stc_payload_max(s->pbits)) /* input_split checked it */
            return stc_err_set(L->err, STC_E_INTERNAL,
                               "lower: partial sums of '%s' can reach %.0f, beyond the %d-bit payload", s->name, in,
                               s->pbits);
        switch (s->kind) {
        case STC_NK_INPUT: L->maxpay[si] = (double)stc_payload_max(s->pbits); break;
        case STC_NK_RELAY: /* the clamp, or what its inputs can reach if that is less */
            L->maxpay[si] = fmin((double)stc_payload_max(s->pbits), ceil(ldexp(in, -s->rsh)));
            break;
        case STC_NK_MAX: L->maxpay[si] = in; break;
        case STC_NK_SSA: L->maxpay[si] = (double)(s->c / (s->heads ? s->heads : 1)) * s->h * s->w * abs(s->mul); break;
        default: L->maxpay[si] = 1; break;
        }
        if ((s->kind == STC_NK_RELAY || s->kind == STC_NK_INPUT || s->kind == STC_NK_SSA) && s->pbits <= 0 &&
            s->kind != STC_NK_SSA)
            return stc_err_set(L->err, STC_E_INTERNAL, "lower: stage '%s' has no payload width", s->name);
        if ((s->kind == STC_NK_RELAY || s->kind == STC_NK_INPUT) && s->pbits > L->t->payload_bits)
            return stc_err_set(L->err, STC_E_LIMIT,
                               "lower: stage '%s' sends %d-bit graded spikes, the target's payload holds %d bits",
                               s->name, s->pbits, L->t->payload_bits);
        if ((s->kind == STC_NK_RELAY || s->kind == STC_NK_INPUT || s->kind == STC_NK_SSA) &&
            L->maxpay[si] > (double)pmax)
            return stc_err_set(L->err, STC_E_LIMIT,
                               "lower: stage '%s' sends graded spikes up to %.0f, the target's %d-bit payload "
                               "holds %lld",
                               s->name, L->maxpay[si], L->t->payload_bits, (long long)pmax);
    }
    return STC_OK;
}

/* ------------------------------------------------------------------ driver */

stc_bundle_t *stc_lower(const stc_ir_t *ir, const stc_lower_opts_t *o, stc_err_t *err) {
    if (!ir->quant || !ir->balanced) {
        stc_err_set(err, STC_E_USAGE, "lower: the graph must be quantized and delay-balanced (passes quantize, "
                                      "delay_balance)");
        return NULL;
    }
    if (stc_ir_verify(ir, err)) return NULL;
    if (o->target->state_bits < 24 || o->target->decay_bits < 12) {
        stc_err_set(err, STC_E_UNSUPPORTED,
                    "target %s: state_bits %d, decay_bits %d: stc's neuron needs 24-bit state and a 12-bit decay "
                    "(docs/backend.md 1.1)", o->target->name, o->target->state_bits, o->target->decay_bits);
        return NULL;
    }
    lw_t L = {0};
    L.ir = ir, L.t = o->target, L.err = err;
    L.b = calloc(1, sizeof *L.b);
    L.stage_of = malloc((size_t)ir->n_nodes * sizeof *L.stage_of);
    stc_status_t st = (!L.b || !L.stage_of) ? stc_err_set(err, STC_E_NOMEM, "lower: out of memory") : STC_OK;
    stc_bundle_t *b = L.b;
    if (!st) {
        snprintf(b->model, sizeof b->model, "%s", ir->arch ? ir->arch : "custom");
        snprintf(b->source, sizeof b->source, "%s", o->source ? o->source : "");
        snprintf(b->target, sizeof b->target, "%s", o->target->name);
        snprintf(b->options, sizeof b->options, "%s", o->options ? o->options : "");
        b->T = ir->T;
        b->input_stage = b->output_stage = -1;
        st = make_stages(&L);
    }
    if (!st) st = make_projs(&L);
    if (!st && !(L.maxpay = calloc((size_t)b->n_stages + 1, sizeof *L.maxpay)))
        st = stc_err_set(err, STC_E_NOMEM, "lower: out of memory");
    if (!st) st = check_ranges(&L);
    if (!st) st = token_layout(&L);
    /* steps 3 and 4: the partitioner cuts the stages into cores and builds the tables */
    if (!st && !o->stages_only) {
        stc_cores_opts_t co = {o->stage_rate, o->first_fit, o->max_chips};
        st = stc_cores_build(b, o->target, &co, o->report, err);
        if (!st) st = stc_tables_build(b, o->target, err);
    }
    if (!st) {
        const stc_stage_t *in = &b->stages[b->input_stage], *out = &b->stages[b->output_stage];
        b->in_c = in->c, b->in_h = in->h, b->in_w = in->w;
        b->n_out = out->c;
        b->ticks = b->T + out->depth;
        const char *json = o->target_json ? o->target_json : stc_target_preset_json(o->target->name);
        if (json) {
            b->target_json = strdup(json);
            if (!b->target_json) st = stc_err_set(err, STC_E_NOMEM, "lower: out of memory");
        }
    }
    if (!st && !o->stages_only) st = stc_bundle_validate(b, "lowered bundle", err);
    free(L.stage_of);
    free(L.maxpay);
    free(L.psum_of);
    free(L.psum_src);
    if (st) {
        stc_bundle_destroy(&L.b);
        return NULL;
    }
    return b;
}
