/* bound.c - lower bounds on the cores a bundle needs on a target.
 *
 * Two bounds, both true for every assignment of neurons to cores that the
 * tables accept, not only for the cuts cores.c makes:
 *
 *   the demand bound (the partitioner issue's definition): total demand over
 *     per-core capacity, the larger of all neurons over neurons_per_core and
 *     all neuron state plus every weight stored once over the core memory.
 *
 *   the limit-aware bound: the same demand, counted as the target forces it
 *     to be stored.  A core that holds neurons of a stage spanning p
 *     positions (tokens or pixels) and o channels needs, whatever their
 *     shape, at least
 *         neurons  n <= p o
 *         memory   n x state + o x (weights per channel, stored once per core)
 *         fan-in   p x (axons per position: a DENSE layer's Ci inputs of each
 *                  token, a stride-1 "same" convolution's Ci per pixel, any
 *                  other convolution's Ci / ceil(k/stride)^2)
 *                  + o x (axons per channel: REDUCE, BCAST, attention's k, v)
 *                  + n x (axons per neuron: ONE2ONE, SSA q, a window's share)
 *         fan-out  n x (routes per neuron: one per projection and destination
 *                  core; a DENSE or CONV reader spreads each position's Cout
 *                  channels over at least Cout / (channels one core can
 *                  store the weights of) cores)
 *     and every resource is additive over the stages of a core (axons and
 *     routes are per projection, weights per projection and core).  For
 *     any weights lambda >= 0 summing to 1, a core's pieces then cost at most
 *     1 in sum_r lambda_r use_r / cap_r, so
 *         cores >= sum over stages of neurons(s) x min over feasible pieces
 *                  of (cost of the piece / its neurons).
 *     The minimum over (p, o, n) is exact in p for each o (the cost is a
 *     linear function over a concave piecewise-linear one, so it sits at a
 *     breakpoint), with p and n relaxed to reals, which only lowers it.
 *     lambda is searched over the simplex (grid, then local steps); any
 *     lambda gives a valid bound, the search only tightens it.  With lambda
 *     on neurons alone, or on memory alone, it is at least the demand bound.
 *     The LP relaxes the positions a core holds to reals; memory with the
 *     copies fan-in forces on any cut (memory_with_copies: each channel of
 *     a stage on at least ceil(positions / the most a core's fan-in admits)
 *     cores) is a bound of its own, and the limit-aware bound is the larger.
 *
 * docs/partitioner.md "Lower bounds" says the same with a worked figure.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_partition.h"
#include "stc_target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { R_NEURONS, R_MEMORY, R_FAN_IN, R_FAN_OUT, R_N };

/* What a piece of one stage needs, per unit of its spans. */
typedef struct {
    double P, C;            /* positions and channels of the stage */
    double n_all;           /* its neurons */
    double ax_p, ax_o, ax_n, ax_c; /* fan-in per position, per channel, per neuron, per piece */
    double mem_o, mem_c;    /* memory bytes per channel (weights, SSA buffers), per piece */
    double mem_n;           /* bytes per neuron (state) */
    double routes_n;        /* routes per neuron */
} demand_t;

static int64_t numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

static int stage_demand(const stc_bundle_t *b, const stc_target_t *t, demand_t *D) {
    double syn = t->synapse_bits / 8.0;
    for (int si = 0; si < b->n_stages; si++) {
        const stc_stage_t *s = &b->stages[si];
        demand_t *d = &D[si];
        memset(d, 0, sizeof *d);
        d->P = (double)s->h * s->w, d->C = s->c, d->n_all = (double)numel(s);
        d->mem_n = t->neuron_state_bytes;
        if (s->kind == STC_NK_SSA) /* q, k, v bits of all tokens and the k^T v table, per channel */
            d->mem_o += d->P * 3 / 8 + 4.0 * (s->c / (s->heads ? s->heads : 1));
    }
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        const stc_stage_t *src = &b->stages[p->src];
        demand_t *d = &D[p->dst];
        double srcP = (double)src->h * src->w, reach = ceil((double)p->k / (p->stride > 0 ? p->stride : 1));
        int same = p->stride == 1 && (p->k & 1) && p->pad == p->k / 2;
        switch (p->kind) {
        case STC_SK_DENSE: d->ax_p += p->ci; break; /* its channel range: all of them but for a partial sum */
        /* a window holds an input when pad < k; an input is in at most ceil(k / stride)^2 windows */
        case STC_SK_CONV: d->ax_p += same ? p->ci : p->pad < p->k ? p->ci / (reach * reach) : 0; break;
        case STC_SK_ONE2ONE: case STC_SK_SSA_Q: d->ax_n += 1; break;
        case STC_SK_WINDOW: d->ax_n += p->pad < p->k ? 1 / (reach * reach) : 0; break;
        case STC_SK_REDUCE: case STC_SK_SSA_K: case STC_SK_SSA_V: d->ax_o += srcP; break;
        case STC_SK_BCAST: d->ax_o += 1; break;
        case STC_SK_DENSE_REDUCE: d->ax_c += (double)src->c * srcP; break;
        default: break;
        }
        if (p->n_w) {
            if (p->kind == STC_SK_CONV || p->kind == STC_SK_DENSE || p->kind == STC_SK_DENSE_REDUCE)
                d->mem_o += syn * (double)(p->n_w / (p->co ? p->co : 1));
            else if (p->n_w == 1) d->mem_c += syn;
            else d->mem_o += syn;
        }
    }
    /* routes: a neuron sends one per projection and destination core that
     * reads it.  A DENSE or CONV over part of its source's channels (a slice)
     * reaches only those: its routes are counted per source channel, and a
     * neuron of the stage is charged the fewest any channel gets. */
    double **chan = calloc((size_t)b->n_stages + 1, sizeof *chan);
    int bad = 0;
    if (!chan) return -1;
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        if (b->stages[p->src].kind == STC_NK_INPUT) continue; /* the host sends those */
        const demand_t *dd = &D[p->dst];
        double r = 0;
        switch (p->kind) {
        case STC_SK_DENSE: case STC_SK_DENSE_REDUCE: case STC_SK_CONV: {
            if (p->kind == STC_SK_CONV && p->stride != 1) break; /* some sources may be read by none */
            /* the Cout readers of a position hold their weights: at most
             * omax of them fit one core */
            double omax = floor((t->memory_per_core_bytes - dd->mem_c) / (dd->mem_o + dd->mem_n));
            if (omax < 1) omax = 1;
            r = ceil(dd->C / omax);
            break;
        }
        case STC_SK_WINDOW: r = p->stride == 1 ? 1 : 0; break;
        default: r = 1; break;
        }
        const stc_stage_t *src = &b->stages[p->src];
        if ((p->kind != STC_SK_DENSE && p->kind != STC_SK_CONV) || p->ci == src->c) {
            D[p->src].routes_n += r;
            continue;
        }
        if (!chan[p->src] && !(chan[p->src] = calloc((size_t)src->c, sizeof **chan))) {
            bad = 1;
            break;
        }
        for (int c = p->c0; c < p->c0 + p->ci; c++) chan[p->src][c] += r;
    }
    for (int si = 0; si < b->n_stages; si++) {
        if (!chan[si]) continue;
        double least = HUGE_VAL;
        for (int c = 0; c < b->stages[si].c; c++) least = fmin(least, chan[si][c]);
        D[si].routes_n += least;
        free(chan[si]);
    }
    free(chan);
    return bad ? -1 : 0;
}

/* Cost per neuron of a piece of o channels and p positions, and the most
 * neurons it can hold; returns HUGE_VAL when no such piece fits. */
static double piece_cost(const demand_t *d, const stc_target_t *t, const double *lam, double L, double p,
                         double o) {
    double cap_n = t->neurons_per_core, cap_m = t->memory_per_core_bytes;
    double cap_a = t->fan_in_axons_per_core, cap_f = t->fan_out_axons_per_core;
    double n = p * o;
    if (n > cap_n) n = cap_n;
    if (n > d->n_all) n = d->n_all;
    double m_left = cap_m - o * d->mem_o - d->mem_c;
    if (d->mem_n > 0 && n > m_left / d->mem_n) n = m_left / d->mem_n;
    double a_left = cap_a - p * d->ax_p - o * d->ax_o - d->ax_c;
    if (a_left < 0) { /* p = pmax lands a rounding error below 0: that is the piece that fills the fan-in */
        if (a_left < -1e-9 * cap_a) return HUGE_VAL;
        a_left = 0;
    }
    if (d->ax_n > 0 && n > a_left / d->ax_n) n = a_left / d->ax_n;
    if (d->routes_n > 0 && n > cap_f / d->routes_n) n = cap_f / d->routes_n;
    if (n < 1) return HUGE_VAL;
    double fixed = lam[R_MEMORY] * (o * d->mem_o + d->mem_c) / cap_m +
                   lam[R_FAN_IN] * (p * d->ax_p + o * d->ax_o + d->ax_c) / cap_a;
    return L + fixed / n;
}

/* min over pieces of cost per neuron, for stage demand d under lam. */
static double stage_min(const demand_t *d, const stc_target_t *t, const double *lam) {
    double cap_n = t->neurons_per_core, cap_m = t->memory_per_core_bytes;
    double cap_a = t->fan_in_axons_per_core, cap_f = t->fan_out_axons_per_core;
    double L = lam[R_NEURONS] / cap_n + lam[R_MEMORY] * d->mem_n / cap_m + lam[R_FAN_IN] * d->ax_n / cap_a +
               lam[R_FAN_OUT] * d->routes_n / cap_f;
    double best = HUGE_VAL;
    for (double o = 1; o <= d->C; o++) {
        /* n(p) = min(p o, c1, (c2 - p ax_p) / ax_n): breakpoints in p */
        double c1 = fmin(cap_n, d->n_all);
        if (d->mem_n > 0) c1 = fmin(c1, (cap_m - o * d->mem_o - d->mem_c) / d->mem_n);
        if (d->routes_n > 0) c1 = fmin(c1, cap_f / d->routes_n);
        double c2 = cap_a - o * d->ax_o - d->ax_c;
        if (c1 < 1 || c2 < 0) continue;
        double pmax = d->P;
        if (d->ax_p > 0) pmax = fmin(pmax, c2 / d->ax_p);
        if (pmax < 1) continue;
        double cand[6];
        int nc = 0;
        cand[nc++] = 1, cand[nc++] = pmax, cand[nc++] = c1 / o;
        if (d->ax_n > 0) {
            cand[nc++] = c2 / (d->ax_n * o + d->ax_p);
            if (d->ax_p > 0) {
                cand[nc++] = (c2 - d->ax_n * c1) / d->ax_p;
                cand[nc++] = (c2 - d->ax_n) / d->ax_p; /* the last p that leaves room for one neuron */
            }
        }
        for (int i = 0; i < nc; i++) {
            double p = cand[i];
            if (!(p >= 1)) p = 1;
            if (p > pmax) p = pmax;
            double c = piece_cost(d, t, lam, L, p, o);
            if (c < best) best = c;
        }
    }
    return best;
}

/* Memory over its capacity, counting the weight copies the fan-in forces on
 * every cut: a core that holds a channel of stage s at p positions needs at
 * least p x (ax_p + ax_n) + ax_o + ax_c input axons (p neurons at least), so
 * it holds at most pmax positions, and each channel's weights (and per-channel
 * buffers) sit on at least ceil(P / pmax) cores.  Spikformer-8-768's layers
 * of 768 inputs per token see at most 85 of its 196 tokens on a core: 3
 * copies of their weights on any cut. */
static double memory_with_copies(const demand_t *D, const stc_bundle_t *b, const stc_target_t *t) {
    double mem = 0, cap_a = t->fan_in_axons_per_core;
    for (int si = 0; si < b->n_stages; si++) {
        const demand_t *d = &D[si];
        if (b->stages[si].kind == STC_NK_INPUT) continue;
        double copies = 1, per = d->ax_p + d->ax_n, left = cap_a - d->ax_o - d->ax_c;
        /* per is fractional for a strided convolution: an exact quotient may land just below its integer */
        if (per > 0 && left >= per) copies = ceil(d->P / floor(left / per + 1e-9) - 1e-9);
        mem += d->n_all * d->mem_n + d->C * d->mem_o * copies + d->mem_c;
    }
    return mem / t->memory_per_core_bytes;
}

static double bound_at(const demand_t *D, const stc_bundle_t *b, const stc_target_t *t, const double *lam,
                       double *per_stage) {
    double sum = 0;
    for (int si = 0; si < b->n_stages; si++) {
        if (b->stages[si].kind == STC_NK_INPUT) continue;
        double m = stage_min(&D[si], t, lam);
        double v = m == HUGE_VAL ? 0 : m * D[si].n_all; /* no piece fits: the cut says why */
        if (per_stage) per_stage[si] = v;
        sum += v;
    }
    return sum;
}

void stc_cores_lower_bound(const stc_bundle_t *b, const stc_target_t *t, stc_cores_report_t *r) {
    double neurons = 0, mem = 0;
    for (int si = 0; si < b->n_stages; si++) {
        const stc_stage_t *s = &b->stages[si];
        if (s->kind == STC_NK_INPUT) continue;
        neurons += (double)numel(s);
        mem += (double)numel(s) * t->neuron_state_bytes + (s->kind == STC_NK_SSA ? (double)stc_cores_ssa_state(s, s->c) : 0);
    }
    for (int pi = 0; pi < b->n_projs; pi++) mem += (double)b->projs[pi].n_w * t->synapse_bits / 8.0;
    r->lb_neurons = neurons / t->neurons_per_core;
    r->lb_memory = mem / t->memory_per_core_bytes;
    r->lower_bound = (int)ceil(fmax(r->lb_neurons, r->lb_memory) - 1e-9);
    if (r->lower_bound < 1) r->lower_bound = 1;

    /* the limit-aware bound */
    r->lb_limits = 0;
    r->lower_bound_limits = r->lower_bound;
    demand_t *D = calloc((size_t)b->n_stages + 1, sizeof *D);
    if (!D) return; /* out of memory: the demand bound stands */
    if (stage_demand(b, t, D)) { /* out of memory: the demand bound stands */
        free(D);
        return;
    }
    clock_t t0 = clock();
    double best = -1, lam[R_N], best_lam[R_N] = {1, 0, 0, 0};
    enum { GRID = 8 };
    for (int a = 0; a <= GRID; a++)
        for (int m = 0; a + m <= GRID; m++)
            for (int i = 0; a + m + i <= GRID; i++) {
                lam[R_NEURONS] = (double)a / GRID, lam[R_MEMORY] = (double)m / GRID;
                lam[R_FAN_IN] = (double)i / GRID, lam[R_FAN_OUT] = (double)(GRID - a - m - i) / GRID;
                double v = bound_at(D, b, t, lam, NULL);
                if (v > best) best = v, memcpy(best_lam, lam, sizeof lam);
            }
    /* local steps: move weight between two resources, halving the step */
    for (double step = 0.5 / GRID; step > 1e-3; step *= 0.5)
        for (int moved = 1; moved;) {
            moved = 0;
            for (int x = 0; x < R_N; x++)
                for (int y = 0; y < R_N; y++) {
                    if (x == y || best_lam[y] < step) continue;
                    memcpy(lam, best_lam, sizeof lam);
                    lam[x] += step, lam[y] -= step;
                    double v = bound_at(D, b, t, lam, NULL);
                    if (v > best * (1 + 1e-9)) best = v, memcpy(best_lam, lam, sizeof lam), moved = 1;
                }
        }
    double *per = stc_log_enabled(STC_LOG_DEBUG) ? calloc((size_t)b->n_stages + 1, sizeof *per) : NULL;
    if (per) { /* each stage's share, for whoever reads the debug log */
        bound_at(D, b, t, best_lam, per);
        for (int si = 0; si < b->n_stages; si++)
            if (per[si] > 0)
                stc_log(STC_LOG_DEBUG, "bound", "stage '%s': at least %.1f cores (%.0f neurons, %.1f routes each)",
                        b->stages[si].name, per[si], D[si].n_all, D[si].routes_n);
        free(per);
    }
    memcpy(r->lb_lambda, best_lam, sizeof best_lam);
    r->lb_copies = memory_with_copies(D, b, t);
    r->lb_limits = fmax(fmax(best, r->lb_copies), fmax(r->lb_neurons, r->lb_memory));
    r->lower_bound_limits = (int)ceil(r->lb_limits - 1e-6);
    if (r->lower_bound_limits < r->lower_bound) r->lower_bound_limits = r->lower_bound;
    stc_log(STC_LOG_DEBUG, "bound", "limit-aware bound %.1f cores at lambda (neurons %.3f, memory %.3f, fan-in %.3f, "
            "fan-out %.3f), %.1f by memory with the weight copies fan-in forces; demand bound %d; %.2f s", best,
            best_lam[0], best_lam[1], best_lam[2], best_lam[3], r->lb_copies, r->lower_bound,
            (double)(clock() - t0) / CLOCKS_PER_SEC);
    free(D);
}
