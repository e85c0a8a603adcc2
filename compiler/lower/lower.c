/* lower.c - lowering: the quantized, balanced IR becomes stages, projections and cores.
 *
 * Four steps, in this order (docs/backend.md sections 2 and 3):
 *   1. stages: one per node that exists as neurons (stc_ir_is_stage);
 *   2. projections: each stage input is followed through the synaptic ops
 *      (conv2d, linear, mean, and the alignment shifts of add) to the stage it
 *      comes from; the weights are stored once per projection (sharing) and
 *      conv/linear biases move into the target stage's per-channel bias;
 *   3. slices and cores: each stage is cut into the fewest equal slices
 *      (channel groups x row bands) that meet the target's per-core limits,
 *      and the slices are packed first-fit into cores, chip after chip;
 *   4. tables: each core's input axons (one per projection and source neuron
 *      that reaches it, deduplicated) and each source neuron's routes.
 * Errors name the stage and the limit with the figures.  The partitioner
 * issue replaces step 3.
 * SPDX-License-Identifier: MIT
 */
#include "stc_lower.h"
#include "stc_fixed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AXON_BYTES 4 /* per input axon table entry (assumption, docs/backend.md 3) */
#define STC_LOWER_MAX_DELAY 255 /* ticks an event can wait in a core's delay ring */

typedef struct {
    stc_bundle_t *b;
    const stc_ir_t *ir;
    const stc_target_t *t;
    int *stage_of;   /* node id -> stage index, -1 */
    int cap_projs;
    double *maxpay;  /* per stage: largest |payload| it emits */
    const struct slices *all; /* slices made so far (destinations are split before their sources) */
    int *sl_first, *sl_n;     /* per stage: its slices in all->sl */
    stc_err_t *err;
} lw_t;

typedef struct { int c0, c1, y0, y1, x0, x1; } box_t;

static int64_t stage_numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

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

static stc_status_t make_stages(lw_t *L) {
    const stc_ir_t *ir = L->ir;
    stc_bundle_t *b = L->b;
    b->stages = calloc((size_t)ir->n_nodes, sizeof *b->stages);
    if (!b->stages) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    for (int i = 0; i < ir->n_nodes; i++) {
        L->stage_of[i] = -1;
        if (!stc_ir_is_stage(ir, i)) continue;
        const stc_node_t *n = &ir->nodes[i];
        stc_stage_t *s = &b->stages[b->n_stages];
        snprintf(s->name, sizeof s->name, "%s", n->name);
        s->ir_node = i;
        s->kind = stage_kind(n);
        if (!s->kind)
            return stc_err_set(L->err, STC_E_INTERNAL, "lower: %%%d '%s' (%s) has no stage kind", i,
                               n->name, stc_op_name(n->op));
        stc_shape_t sh = n->op == STC_OP_SDSA ? ir->nodes[n->in[0]].shape : n->shape;
        s->c = sh.c, s->h = sh.h, s->w = sh.w;
        s->depth = n->depth;
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
                    double a = 0;
                    for (int j = 0; j < per; j++) a += abs(p->w[(int64_t)o * per + j]);
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

/* ---------------------------------------------------- 3. slices and cores */

/* The source neurons of projection p that reach the slice (a box). */
static box_t src_box(const stc_bundle_t *b, const stc_proj_t *p, const stc_slice_t *sl) {
    const stc_stage_t *s = &b->stages[p->src];
    box_t r = {0, s->c, 0, s->h, 0, s->w};
    switch (p->kind) {
    case STC_SK_CONV: case STC_SK_WINDOW: {
        int lo = sl->y0 * p->stride - p->pad, hi = (sl->y1 - 1) * p->stride - p->pad + p->k;
        r.y0 = lo < 0 ? 0 : lo;
        r.y1 = hi > s->h ? s->h : hi;
        if (p->kind == STC_SK_WINDOW) r.c0 = sl->c0, r.c1 = sl->c1;
        break;
    }
    case STC_SK_DENSE: r.y0 = sl->y0, r.y1 = sl->y1; break;
    case STC_SK_ONE2ONE: case STC_SK_SSA_Q: r.c0 = sl->c0, r.c1 = sl->c1, r.y0 = sl->y0, r.y1 = sl->y1; break;
    case STC_SK_REDUCE: case STC_SK_SSA_K: case STC_SK_SSA_V: r.c0 = sl->c0, r.c1 = sl->c1; break;
    case STC_SK_BCAST: r.c0 = sl->c0, r.c1 = sl->c1; break;
    default: break; /* DENSE_REDUCE: everything */
    }
    if (r.y1 < r.y0) r.y1 = r.y0;
    return r;
}

static int64_t box_n(box_t r) { return (int64_t)(r.c1 - r.c0) * (r.y1 - r.y0) * (r.x1 - r.x0); }

typedef struct { int64_t neurons, mem_state, mem_syn, mem_axon, fan_in, fan_out; } use_t;

typedef struct slices {
    stc_slice_t *sl;
    int n, cap;
} slices_t;

static use_t slice_use(const lw_t *L, const stc_slice_t *sl) {
    const stc_bundle_t *b = L->b;
    const stc_stage_t *s = &b->stages[sl->stage];
    use_t u = {0, 0, 0, 0, 0, 0};
    int64_t nc = sl->c1 - sl->c0;
    u.neurons = nc * (sl->y1 - sl->y0) * s->w;
    u.mem_state = u.neurons * L->t->neuron_state_bytes;
    if (s->kind == STC_NK_SSA) { /* q, k, v bits of the head's tokens and the k^T v table (docs/backend.md 2.2) */
        int64_t d = s->c / (s->heads ? s->heads : 1);
        u.mem_state += (nc * s->h * s->w * 3 + 7) / 8 + nc * d * 4;
    }
    int64_t syn = 0;
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        if (p->dst != sl->stage) continue;
        u.fan_in += box_n(src_box(b, p, sl));
        if (!p->n_w) continue;
        if (p->kind == STC_SK_CONV || p->kind == STC_SK_DENSE || p->kind == STC_SK_DENSE_REDUCE)
            syn += nc * (p->n_w / p->co);
        else syn += p->n_w == 1 ? 1 : nc;
    }
    u.mem_syn = (syn * L->t->synapse_bits + 7) / 8;
    u.mem_axon = u.fan_in * AXON_BYTES;
    /* fan-out: each neuron of the slice routes once to every destination slice
     * whose source box holds it (an upper bound on routes: slices that end up
     * on one core share the route) */
    for (int pi = 0; L->all && pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        if (p->src != sl->stage) continue;
        for (int k = 0; k < L->sl_n[p->dst]; k++) {
            box_t r = src_box(b, p, &L->all->sl[L->sl_first[p->dst] + k]);
            int c0 = r.c0 > sl->c0 ? r.c0 : sl->c0, c1 = r.c1 < sl->c1 ? r.c1 : sl->c1;
            int y0 = r.y0 > sl->y0 ? r.y0 : sl->y0, y1 = r.y1 < sl->y1 ? r.y1 : sl->y1;
            if (c1 > c0 && y1 > y0) u.fan_out += (int64_t)(c1 - c0) * (y1 - y0) * (r.x1 - r.x0);
        }
    }
    return u;
}

static const char *over_limit(const lw_t *L, use_t u, int64_t *have, int64_t *lim) {
    const stc_target_t *t = L->t;
    if (u.neurons > t->neurons_per_core) return *have = u.neurons, *lim = t->neurons_per_core, "neurons_per_core";
    if (u.fan_in > t->fan_in_axons_per_core)
        return *have = u.fan_in, *lim = t->fan_in_axons_per_core, "fan_in_axons_per_core";
    if (u.fan_out > t->fan_out_axons_per_core)
        return *have = u.fan_out, *lim = t->fan_out_axons_per_core, "fan_out_axons_per_core";
    int64_t mem = u.mem_state + u.mem_syn + u.mem_axon;
    if (mem > t->memory_per_core_bytes) return *have = mem, *lim = t->memory_per_core_bytes, "memory_per_core_bytes";
    return NULL;
}

/* Cut stage si into nc channel groups x nr row bands; returns the first limit
 * a slice breaks (NULL if all fit). */
static const char *try_split(const lw_t *L, int si, int nc, int nr, stc_slice_t *out, int64_t *have, int64_t *lim) {
    const stc_stage_t *s = &L->b->stages[si];
    int cs = s->c / nc, rs = (s->h + nr - 1) / nr, k = 0;
    for (int a = 0; a < nc; a++)
        for (int r = 0; r < nr; r++) {
            stc_slice_t sl = {si, a * cs, (a + 1) * cs, r * rs, (r + 1) * rs > s->h ? s->h : (r + 1) * rs};
            if (sl.y0 >= sl.y1) continue;
            const char *why = over_limit(L, slice_use(L, &sl), have, lim);
            if (why) return why;
            if (out) out[k++] = sl;
        }
    return NULL;
}

static stc_status_t split_stage(lw_t *L, int si, slices_t *all) {
    const stc_stage_t *s = &L->b->stages[si];
    int unit = s->kind == STC_NK_SSA ? s->c / s->heads : 1; /* SSA slices hold whole heads */
    int best_nc = 0, best_nr = 0;
    int64_t have = 0, lim = 0;
    const char *why = NULL;
    for (int nc = 1; nc <= s->c; nc++) {
        if (s->c % nc || (s->c / nc) % unit) continue;
        for (int nr = 1; nr <= s->h; nr++) {
            if (best_nc && nc * nr >= best_nc * best_nr) break;
            if ((s->h + nr - 1) / nr * (nr - 1) >= s->h) continue; /* an empty band */
            why = try_split(L, si, nc, nr, NULL, &have, &lim);
            if (!why) {
                best_nc = nc, best_nr = nr;
                break;
            }
        }
    }
    if (!best_nc)
        return stc_err_set(L->err, STC_E_LIMIT,
                           "stage '%s' [%d,%d,%d] does not fit a core of target %s even cut to one %s and one "
                           "row: %s needs %lld, the limit is %lld",
                           s->name, s->c, s->h, s->w, L->t->name, unit > 1 ? "head" : "channel", why,
                           (long long)have, (long long)lim);
    int n = best_nc * best_nr;
    if (all->n + n > all->cap) {
        int cap = (all->cap + n) * 2;
        stc_slice_t *p = realloc(all->sl, (size_t)cap * sizeof *p);
        if (!p) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
        all->sl = p, all->cap = cap;
    }
    stc_slice_t *out = all->sl + all->n;
    int k = 0;
    int cs = s->c / best_nc, rs = (s->h + best_nr - 1) / best_nr;
    for (int a = 0; a < best_nc; a++)
        for (int r = 0; r < best_nr; r++) {
            stc_slice_t sl = {si, a * cs, (a + 1) * cs, r * rs, (r + 1) * rs > s->h ? s->h : (r + 1) * rs};
            if (sl.y0 < sl.y1) out[k++] = sl;
        }
    L->sl_first[si] = all->n;
    L->sl_n[si] = k;
    all->n += k;
    return STC_OK;
}

static int slice_order(const void *x, const void *y) {
    const stc_slice_t *a = x, *b = y;
    if (a->stage != b->stage) return a->stage < b->stage ? -1 : 1;
    if (a->c0 != b->c0) return a->c0 < b->c0 ? -1 : 1;
    return (a->y0 > b->y0) - (a->y0 < b->y0);
}

typedef struct {
    use_t used;
    int n_slices, cap_slices;
    stc_slice_t *slices;
} corefill_t;

static stc_status_t pack(lw_t *L, slices_t *all, int max_chips) {
    stc_bundle_t *b = L->b;
    const stc_target_t *t = L->t;
    corefill_t *cf = NULL;
    int n_cores = 0, cap = 0;
    stc_status_t st = STC_OK;
    for (int i = 0; i < all->n && !st; i++) {
        stc_slice_t *sl = &all->sl[i];
        use_t u = slice_use(L, sl);
        int c = 0;
        for (; c < n_cores; c++) {
            use_t v = cf[c].used;
            v.neurons += u.neurons, v.fan_in += u.fan_in, v.fan_out += u.fan_out, v.mem_state += u.mem_state;
            v.mem_syn += u.mem_syn, v.mem_axon += u.mem_axon;
            int64_t h, l;
            if (!over_limit(L, v, &h, &l)) break;
        }
        if (c == n_cores) {
            if (n_cores == cap) {
                cap = cap ? 2 * cap : 64;
                corefill_t *p = realloc(cf, (size_t)cap * sizeof *p);
                if (!p) {
                    st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
                    break;
                }
                cf = p;
            }
            memset(&cf[n_cores++], 0, sizeof *cf);
        }
        corefill_t *f = &cf[c];
        if (f->n_slices == f->cap_slices) {
            int nc = f->cap_slices ? 2 * f->cap_slices : 4;
            stc_slice_t *p = realloc(f->slices, (size_t)nc * sizeof *p);
            if (!p) {
                st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
                break;
            }
            f->slices = p, f->cap_slices = nc;
        }
        f->slices[f->n_slices++] = *sl;
        f->used.neurons += u.neurons, f->used.fan_in += u.fan_in, f->used.fan_out += u.fan_out;
        f->used.mem_state += u.mem_state;
        f->used.mem_syn += u.mem_syn, f->used.mem_axon += u.mem_axon;
    }
    int chips = (n_cores + t->cores_per_chip - 1) / t->cores_per_chip;
    if (!st && max_chips > 0 && chips > max_chips)
        st = stc_err_set(L->err, STC_E_LIMIT,
                         "the model needs %d cores of target %s, that is %d chips of %d cores; --chips %d given",
                         n_cores, t->name, chips, t->cores_per_chip, max_chips);
    if (!st) {
        b->cores = calloc((size_t)n_cores + 1, sizeof *b->cores);
        if (!b->cores) st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    }
    if (!st) {
        b->n_cores = n_cores + 1;
        b->n_chips = chips;
        stc_core_t *h = &b->cores[0]; /* the host port */
        const stc_stage_t *in = &b->stages[b->input_stage];
        h->chip = -1;
        h->slices = malloc(sizeof *h->slices);
        if (!h->slices) st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
        else {
            h->n_slices = 1;
            h->slices[0] = (stc_slice_t){b->input_stage, 0, in->c, 0, in->h};
            h->n_neurons = (int)stage_numel(in);
        }
        for (int c = 0; c < n_cores; c++) {
            stc_core_t *k = &b->cores[c + 1];
            int local = c % t->cores_per_chip;
            k->chip = c / t->cores_per_chip;
            k->x = local % t->core_mesh[0];
            k->y = local / t->core_mesh[0];
            k->n_slices = cf[c].n_slices;
            k->slices = cf[c].slices;
            cf[c].slices = NULL;
            k->n_neurons = (int)cf[c].used.neurons;
            k->mem_state = cf[c].used.mem_state;
            k->mem_syn = cf[c].used.mem_syn;
            k->mem_axon = cf[c].used.mem_axon;
        }
    }
    for (int c = 0; c < n_cores; c++) free(cf[c].slices);
    free(cf);
    return st;
}

/* ---------------------------------------------------------------- 4. tables */

typedef struct { int32_t src_core, src_local, dst_core, axon; } rt4_t;

static stc_status_t make_tables(lw_t *L) {
    stc_bundle_t *b = L->b;
    stc_status_t st = STC_OK;
    /* where every neuron lives: per stage, flat index -> (core, local index) */
    int32_t **loc = calloc((size_t)b->n_stages, sizeof *loc);
    if (!loc) return stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    for (int s = 0; s < b->n_stages && !st; s++) {
        loc[s] = malloc((size_t)stage_numel(&b->stages[s]) * 2 * sizeof(int32_t));
        if (!loc[s]) st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    }
    for (int c = 0; c < b->n_cores && !st; c++) {
        const stc_core_t *k = &b->cores[c];
        int32_t local = 0;
        for (int i = 0; i < k->n_slices; i++) {
            const stc_slice_t *sl = &k->slices[i];
            const stc_stage_t *s = &b->stages[sl->stage];
            for (int ch = sl->c0; ch < sl->c1; ch++)
                for (int y = sl->y0; y < sl->y1; y++)
                    for (int x = 0; x < s->w; x++, local++) {
                        int64_t f = ((int64_t)ch * s->h + y) * s->w + x;
                        loc[sl->stage][2 * f] = c;
                        loc[sl->stage][2 * f + 1] = local;
                    }
        }
    }
    /* input axons per core, deduplicated per (projection, source neuron) */
    rt4_t *rt = NULL;
    int64_t n_rt = 0, cap_rt = 0;
    int32_t *seen = NULL;
    int64_t seen_cap = 0;
    for (int c = 1; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        int64_t cap_ax = 0;
        for (int pi = 0; pi < b->n_projs && !st; pi++) {
            const stc_proj_t *p = &b->projs[pi];
            int64_t nsrc = stage_numel(&b->stages[p->src]);
            int any = 0;
            for (int i = 0; i < k->n_slices; i++) any |= k->slices[i].stage == p->dst;
            if (!any) continue;
            if (nsrc > seen_cap) {
                free(seen);
                seen = malloc((size_t)nsrc * sizeof *seen);
                seen_cap = seen ? nsrc : 0;
                if (!seen) {
                    st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
                    break;
                }
            }
            for (int64_t j = 0; j < nsrc; j++) seen[j] = -1;
            const stc_stage_t *ss = &b->stages[p->src];
            for (int i = 0; i < k->n_slices && !st; i++) {
                if (k->slices[i].stage != p->dst) continue;
                box_t r = src_box(b, p, &k->slices[i]);
                for (int ch = r.c0; ch < r.c1 && !st; ch++)
                    for (int y = r.y0; y < r.y1 && !st; y++)
                        for (int x = r.x0; x < r.x1; x++) {
                            int64_t f = ((int64_t)ch * ss->h + y) * ss->w + x;
                            if (seen[f] >= 0) continue;
                            if (k->n_axons == cap_ax) {
                                cap_ax = cap_ax ? 2 * cap_ax : 256;
                                stc_axon_t *na = realloc(k->axons, (size_t)cap_ax * sizeof *na);
                                if (!na) {
                                    st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
                                    break;
                                }
                                k->axons = na;
                            }
                            if (n_rt == cap_rt) {
                                cap_rt = cap_rt ? 2 * cap_rt : 4096;
                                rt4_t *nr = realloc(rt, (size_t)cap_rt * sizeof *nr);
                                if (!nr) {
                                    st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
                                    break;
                                }
                                rt = nr;
                            }
                            seen[f] = k->n_axons;
                            k->axons[k->n_axons] = (stc_axon_t){pi, (int32_t)f};
                            rt[n_rt++] = (rt4_t){loc[p->src][2 * f], loc[p->src][2 * f + 1], c, k->n_axons};
                            k->n_axons++;
                        }
            }
        }
    }
    free(seen);
    /* routes per source core, in CSR form by local neuron */
    for (int c = 0; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        k->rt_off = calloc((size_t)k->n_neurons + 1, sizeof *k->rt_off);
        if (!k->rt_off) st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    }
    for (int64_t i = 0; i < n_rt && !st; i++) b->cores[rt[i].src_core].rt_off[rt[i].src_local + 1]++;
    for (int c = 0; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        for (int i = 0; i < k->n_neurons; i++) k->rt_off[i + 1] += k->rt_off[i];
        k->n_routes = k->rt_off[k->n_neurons];
        if (c > 0 && k->n_routes > L->t->fan_out_axons_per_core) {
            st = stc_err_set(L->err, STC_E_LIMIT,
                             "core %d (chip %d; first slice of '%s') needs %d output routes, the limit "
                             "fan_out_axons_per_core of %s is %d",
                             c, k->chip, b->stages[k->slices[0].stage].name, k->n_routes, L->t->name,
                             L->t->fan_out_axons_per_core);
            break;
        }
        k->routes = malloc((size_t)(k->n_routes ? k->n_routes : 1) * sizeof *k->routes);
        if (!k->routes) st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
    }
    if (!st) {
        /* fill in one pass: a cursor per neuron of every core (a copy of rt_off) */
        int32_t **cur = calloc((size_t)b->n_cores, sizeof *cur);
        if (!cur) st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
        for (int c = 0; c < b->n_cores && !st; c++) {
            stc_core_t *k = &b->cores[c];
            cur[c] = malloc((size_t)(k->n_neurons + 1) * sizeof **cur);
            if (!cur[c]) st = stc_err_set(L->err, STC_E_NOMEM, "lower: out of memory");
            else memcpy(cur[c], k->rt_off, (size_t)(k->n_neurons + 1) * sizeof **cur);
        }
        for (int64_t i = 0; i < n_rt && !st; i++)
            b->cores[rt[i].src_core].routes[cur[rt[i].src_core][rt[i].src_local]++] =
                (stc_route_t){rt[i].dst_core, rt[i].axon};
        for (int c = 0; cur && c < b->n_cores; c++) free(cur[c]);
        free(cur);
    }
    free(rt);
    for (int s = 0; s < b->n_stages; s++) free(loc[s]);
    free(loc);
    return st;
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
    L.maxpay = calloc((size_t)ir->n_nodes, sizeof *L.maxpay);
    slices_t all = {0};
    stc_status_t st = (!L.b || !L.stage_of || !L.maxpay) ? stc_err_set(err, STC_E_NOMEM, "lower: out of memory")
                                                         : STC_OK;
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
    if (!st) st = check_ranges(&L);
    /* destinations first: a slice's fan-out depends on how its readers are cut */
    L.all = &all;
    if (!st) {
        L.sl_first = calloc((size_t)b->n_stages, sizeof *L.sl_first);
        L.sl_n = calloc((size_t)b->n_stages, sizeof *L.sl_n);
        if (!L.sl_first || !L.sl_n) st = stc_err_set(err, STC_E_NOMEM, "lower: out of memory");
    }
    for (int s = b->n_stages - 1; !st && s >= 0; s--)
        if (b->stages[s].kind != STC_NK_INPUT) st = split_stage(&L, s, &all);
    if (!st) { /* packed in pipeline order; the index follows the sort */
        qsort(all.sl, (size_t)all.n, sizeof *all.sl, slice_order);
        for (int i = all.n - 1; i >= 0; i--) L.sl_first[all.sl[i].stage] = i;
    }
    if (!st) st = pack(&L, &all, o->max_chips);
    if (!st) st = make_tables(&L);
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
    if (!st) st = stc_bundle_validate(b, "lowered bundle", err);
    free(all.sl);
    free(L.sl_first);
    free(L.sl_n);
    free(L.stage_of);
    free(L.maxpay);
    if (st) {
        stc_bundle_destroy(&L.b);
        return NULL;
    }
    return b;
}
