/* cores.c - cutting stages into slices and packing the slices into cores.
 *
 * Every core must meet every per-core limit of the target: neurons, memory
 * (neuron state + the weights it stores, once per core for the channels it
 * holds), and fan-in and fan-out axons (the input axon and route tables,
 * which on Loihi live in memories of their own).  Two ways:
 *
 *   stc's (balanced): a stage is a stream of units, one unit being a row of
 *     one channel (of one head for an attention kernel), ordered channel
 *     group by channel group, row by row.  The group size is chosen per stage
 *     (the one that needs the fewest cores on its own: large groups share an
 *     input window, small ones store fewer weights; any size, the last group
 *     narrower).  Stages are taken
 *     destinations first and each core takes the longest run of the stream
 *     that still fits (binary search on the run's end; cut back to a row
 *     boundary when that keeps at least half of it, since a row cut in the
 *     middle makes its sources send to one more core), among the last 8
 *     cores made, so cores are filled up to whichever limit binds and stages
 *     that bind on different limits share cores.
 *     Residual adds and max-pools (light stages: no weights) need little
 *     but routes, which the layers around them (q, k, v, the projections,
 *     the slices, the convolutions' LIFs: hosts, at most HOST_ROUTES routes
 *     per neuron) have to spare.  So the cut is also made with them last,
 *     into the cores near the layer they exchange the most routes with, the
 *     hosts near them leaving a reserve (0 to 20% of their neurons, half that
 *     of memory and fan-in; one for the hosts of adds, one for those of
 *     pools, each kind also left on cores of its own); the fewest cores
 *     wins, the plain cut on a tie, and a cut that leaves a layer no room is
 *     passed over.  The winner is cut once more with the hosts' groups
 *     chosen under its reserves (regroup_hosts), and kept if that saves.
 *     Then a cap on the per-tick work of a core is searched for: the
 *     smallest that keeps the core count within 1.1x the lower bound (or
 *     within the uncapped count if that is already above), so the busiest
 *     core, which sets the tick, is as light as that allows.
 *   first-fit (the baseline, the backend issue's allocation): each stage is
 *     cut into the fewest equal channel x row slices that fit a core, and the
 *     slices are packed first-fit, in pipeline order.
 *
 * Resources of a run are upper bounds: the input axons of its bounding box,
 * a route per destination slice that reads a neuron (to a light stage not
 * cut yet: one to an add, which reads each neuron once, ceil(k / stride) to
 * a pool, whose rows reading a neuron are at most that many).  The tables
 * (tables.c) then give the exact figures, which never exceed them.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_partition.h"
#include "stc_target.h"
#include "box_union.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATIC_RATE_GRADED 0.5 /* graded events per neuron per timestep (relays send non-zero values) */
#define BALANCE_STEPS 24       /* bisection steps of the work cap */
#define CORE_SLACK 1.10        /* cores allowed over the lower bound when balancing */
#define RESERVE_STEP 0.04      /* the reserves tried: 0, 4%, .. of a host's neurons (half that of memory, fan-in) */
#define RESERVE_STEPS 6
#define HOST_ROUTES 2.0        /* a stage with at most this many routes per neuron hosts light stages */
#define LIGHT_REACH 64         /* a light stage may go this many cores beyond its neighbours' on either side */
#define WINDOW 8               /* cores a run may go into: the last ones made */

typedef struct {
    int64_t neurons, mem_state, mem_syn, mem_axon, fan_in, fan_out;
    double work; /* ns per tick */
} use_t;

typedef struct {
    use_t used;
    int n, cap;
    stc_slice_t *sl;
    double key;  /* where it goes in the pipeline order (build_stc); on equal keys, */
    int seq;     /* the order it was made in */
} fill_t;

typedef struct {
    stc_bundle_t *b;
    const stc_target_t *t;
    double *nwork;          /* per stage: ns per neuron per tick */
    char *light;            /* per stage: cut last, into its neighbours' cores (light_stage) */
    double *rsv;            /* per stage: the reserve it leaves if it hosts light stages (mark_hosts), or 0 */
    int *core_lo, *core_hi; /* per stage: the cores its slices went into, [lo, hi) */
    double reserve[2];      /* share of neurons, memory and fan-in the hosts of adds [0] and of pools [1] leave */
    char host;              /* the stage being cut is a host: few routes per neuron */
    int *group;             /* per stage: channels per group (stc's) */
    stc_slice_t *sl;        /* slices made so far, stage by stage (destinations first) */
    int *sl_core;           /* the core of each (index in core), -1 before packing (first-fit) */
    int n_sl, cap_sl;
    int *sl_first, *sl_n;   /* per stage: its slices in sl */
    int *pj_first, *pj;     /* per stage: the projections into it or out of it, pj[pj_first[s] ..] */
    int64_t **fo;           /* per projection: 2D prefix sums over the source's (c, y) of the
                             * destination slices that read each source row (routes per neuron) */
    fill_t *core;           /* cores made so far (destinations first) */
    int n_core, cap_core;
    stc_err_t *err;
} cx_t;

static int64_t numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

/* Routes a source neuron reserves for a light stage not cut yet (light_stage). */
static int64_t light_routes(const stc_proj_t *p) {
    return p->kind == STC_SK_WINDOW ? (p->k + p->stride - 1) / p->stride : 1;
}

/* ------------------------------------------------------------- resources */

int64_t stc_cores_ssa_state(const stc_stage_t *s, int64_t nc) {
    /* q, k, v bits of the head's tokens and the k^T v table (docs/backend.md 2.2) */
    int64_t d = s->c / (s->heads ? s->heads : 1);
    return (nc * s->h * s->w * 3 + 7) / 8 + nc * d * 4;
}

/* What `n` boxes of one stage need on a core.  Input axons and weights are
 * counted for their bounding box (an upper bound, exact for a single box). */
static use_t boxes_use(const cx_t *X, int si, const stc_slice_t *bx, int n) {
    const stc_bundle_t *b = X->b;
    const stc_stage_t *s = &b->stages[si];
    use_t u;
    memset(&u, 0, sizeof u);
    stc_slice_t bb = bx[0];
    for (int i = 0; i < n; i++) {
        u.neurons += (int64_t)(bx[i].c1 - bx[i].c0) * (bx[i].y1 - bx[i].y0) * s->w;
        if (bx[i].c0 < bb.c0) bb.c0 = bx[i].c0;
        if (bx[i].c1 > bb.c1) bb.c1 = bx[i].c1;
        if (bx[i].y0 < bb.y0) bb.y0 = bx[i].y0;
        if (bx[i].y1 > bb.y1) bb.y1 = bx[i].y1;
    }
    int64_t nc = bb.c1 - bb.c0, syn = 0;
    u.mem_state = u.neurons * X->t->neuron_state_bytes;
    if (s->kind == STC_NK_SSA) u.mem_state += stc_cores_ssa_state(s, nc);
    for (int k = X->pj_first[si]; k < X->pj_first[si + 1]; k++) {
        int pi = X->pj[k];
        const stc_proj_t *p = &b->projs[pi];
        if (p->dst == si) {
            u.fan_in += stc_box_numel(stc_bundle_src_box(b, p, &bb));
            if (p->n_w) {
                if (p->kind == STC_SK_CONV || p->kind == STC_SK_DENSE || p->kind == STC_SK_DENSE_REDUCE)
                    syn += nc * (p->n_w / p->co);
                else syn += p->n_w == 1 ? 1 : nc;
            }
        }
        if (p->src == si && !X->fo[pi] && X->light && X->light[p->dst]) { /* not cut yet: light_routes each */
            for (int i = 0; i < n; i++)
                u.fan_out += light_routes(p) * (bx[i].c1 - bx[i].c0) * (bx[i].y1 - bx[i].y0) * s->w;
            continue;
        }
        if (p->src != si || !X->fo[pi]) continue;
        /* a route from each neuron to every destination slice that reads it */
        const int64_t *F = X->fo[pi];
        int64_t W = s->h + 1;
        for (int i = 0; i < n; i++)
            u.fan_out += (F[(int64_t)bx[i].c1 * W + bx[i].y1] - F[(int64_t)bx[i].c0 * W + bx[i].y1] -
                          F[(int64_t)bx[i].c1 * W + bx[i].y0] + F[(int64_t)bx[i].c0 * W + bx[i].y0]) *
                         s->w;
    }
    u.mem_syn = (syn * X->t->synapse_bits + 7) / 8;
    u.mem_axon = u.fan_in * STC_AXON_BYTES;
    u.work = (double)u.neurons * X->nwork[si];
    return u;
}

static use_t use_add(use_t a, use_t b) {
    a.neurons += b.neurons, a.mem_state += b.mem_state, a.mem_syn += b.mem_syn, a.mem_axon += b.mem_axon;
    a.fan_in += b.fan_in, a.fan_out += b.fan_out, a.work += b.work;
    return a;
}

/* The first limit `u` breaks, or NULL. */
static const char *over_limit(const stc_target_t *t, use_t u, int64_t *have, int64_t *lim) {
    if (u.neurons > t->neurons_per_core) return *have = u.neurons, *lim = t->neurons_per_core, "neurons_per_core";
    if (u.fan_in > t->fan_in_axons_per_core)
        return *have = u.fan_in, *lim = t->fan_in_axons_per_core, "fan_in_axons_per_core";
    if (u.fan_out > t->fan_out_axons_per_core)
        return *have = u.fan_out, *lim = t->fan_out_axons_per_core, "fan_out_axons_per_core";
    int64_t mem = u.mem_state + u.mem_syn; /* the axon table is bounded by fan-in, in its own memory */
    if (mem > t->memory_per_core_bytes) return *have = mem, *lim = t->memory_per_core_bytes, "memory_per_core_bytes";
    return NULL;
}

/* Per-tick work of one neuron of each stage: its update plus the synaptic
 * events it receives (fan-in per neuron x the sources' event rate). */
static void stage_work(cx_t *X, const double *stage_rate, double *nsyn) {
    const stc_bundle_t *b = X->b;
    const stc_target_t *t = X->t;
    for (int si = 0; si < b->n_stages; si++) X->nwork[si] = t->time_neuron_ns;
    if (nsyn) memset(nsyn, 0, (size_t)b->n_stages * sizeof *nsyn);
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        const stc_stage_t *src = &b->stages[p->src];
        int graded = src->kind == STC_NK_RELAY || src->kind == STC_NK_INPUT || src->kind == STC_NK_SSA ||
                     src->kind == STC_NK_MAX;
        double rate = stage_rate ? stage_rate[p->src] / (b->T > 0 ? b->T : 1)
                                 : graded ? STATIC_RATE_GRADED : STC_STATIC_SPIKE_RATE;
        double pos = (double)src->h * src->w, fan;
        switch (p->kind) {
        case STC_SK_CONV: fan = (double)p->ci * p->k * p->k; break;
        case STC_SK_DENSE: fan = p->ci; break;
        case STC_SK_DENSE_REDUCE: fan = (double)p->ci * pos; break;
        case STC_SK_REDUCE: case STC_SK_SSA_K: case STC_SK_SSA_V: fan = pos; break;
        case STC_SK_WINDOW: fan = (double)p->k * p->k; break;
        default: fan = 1; break;
        }
        X->nwork[p->dst] += t->time_synop_ns * fan * rate;
        if (nsyn) nsyn[p->dst] += fan * rate;
    }
}

/* ------------------------------------------------------------ bookkeeping */

/* Stage si has been cut: for every projection into it, count per source
 * (c, y) the cores that read it (a route per core, however many of its slices
 * read the neuron; slices not yet packed count one each), as 2D prefix sums,
 * so that the fan-out of any box of the source is four lookups. */
static stc_status_t fanout_tables(cx_t *X, int si) {
    const stc_bundle_t *b = X->b;
    int most = 1; /* most slices of si on one core */
    for (int k = 0, run = 0; k < X->sl_n[si]; k++) {
        int i = X->sl_first[si] + k;
        run = (k && X->sl_core[i] >= 0 && X->sl_core[i] == X->sl_core[i - 1]) ? run + 1 : 1;
        if (run > most) most = run;
    }
    stc_box_t *bx = malloc((size_t)most * sizeof *bx);
    rect_t *rc = malloc((size_t)2 * most * most * sizeof *rc);
    int *cut = malloc((size_t)2 * most * sizeof *cut);
    iv_t *iv = malloc((size_t)most * sizeof *iv);
    stc_status_t st = (!bx || !rc || !cut || !iv) ? stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory") : STC_OK;
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        if (p->dst != si) continue;
        const stc_stage_t *s = &b->stages[p->src];
        int64_t W = s->h + 1, n = (int64_t)(s->c + 1) * W;
        if (st) break;
        int64_t *F = X->fo[pi];
        if (!F) {
            F = X->fo[pi] = malloc((size_t)n * sizeof *F);
            if (!F) {
                st = stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
                break;
            }
        }
        memset(F, 0, (size_t)n * sizeof *F);
        for (int k = 0; k < X->sl_n[si];) { /* difference array of each core's union of source boxes */
            int i = X->sl_first[si] + k, nb = 0;
            do bx[nb++] = stc_bundle_src_box(b, p, &X->sl[X->sl_first[si] + k++]);
            while (k < X->sl_n[si] && X->sl_core[i] >= 0 && X->sl_core[X->sl_first[si] + k] == X->sl_core[i]);
            int nr = box_union(bx, nb, rc, cut, iv);
            for (int j = 0; j < nr; j++) {
                rect_t r = rc[j];
                F[(int64_t)r.c0 * W + r.y0]++, F[(int64_t)r.c1 * W + r.y0]--;
                F[(int64_t)r.c0 * W + r.y1]--, F[(int64_t)r.c1 * W + r.y1]++;
            }
        }
        for (int64_t c = 0; c <= s->c; c++) /* counts */
            for (int64_t y = 0; y <= s->h; y++) {
                int64_t v = F[c * W + y];
                if (c) v += F[(c - 1) * W + y];
                if (y) v += F[c * W + y - 1];
                if (c && y) v -= F[(c - 1) * W + y - 1];
                F[c * W + y] = v;
            }
        /* prefix sums of the counts, shifted: F[c][y] = sum over c' < c, y' < y */
        for (int64_t c = s->c; c >= 0; c--)
            for (int64_t y = s->h; y >= 0; y--) F[c * W + y] = (c && y) ? F[(c - 1) * W + y - 1] : 0;
        for (int64_t c = 1; c <= s->c; c++)
            for (int64_t y = 1; y <= s->h; y++)
                F[c * W + y] += F[(c - 1) * W + y] + F[c * W + y - 1] - F[(c - 1) * W + y - 1];
    }
    free(bx);
    free(rc);
    free(cut);
    free(iv);
    return st;
}

static stc_status_t push_slice(cx_t *X, fill_t *f, stc_slice_t s) {
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 4;
        stc_slice_t *p = realloc(f->sl, (size_t)cap * sizeof *p);
        if (!p) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
        f->sl = p, f->cap = cap;
    }
    f->sl[f->n++] = s;
    if (X->n_sl == X->cap_sl) {
        int cap = X->cap_sl ? 2 * X->cap_sl : 256;
        stc_slice_t *p = realloc(X->sl, (size_t)cap * sizeof *p);
        if (!p) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
        X->sl = p;
        int *q = realloc(X->sl_core, (size_t)cap * sizeof *q);
        if (!q) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
        X->sl_core = q, X->cap_sl = cap;
    }
    X->sl_core[X->n_sl] = f >= X->core && f < X->core + X->n_core ? (int)(f - X->core) : -1;
    X->sl[X->n_sl++] = s;
    return STC_OK;
}

static fill_t *new_core(cx_t *X) {
    if (X->n_core == X->cap_core) {
        int cap = X->cap_core ? 2 * X->cap_core : 64;
        fill_t *p = realloc(X->core, (size_t)cap * sizeof *p);
        if (!p) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory"), NULL;
        X->core = p, X->cap_core = cap;
    }
    fill_t *f = &X->core[X->n_core++];
    memset(f, 0, sizeof *f);
    f->key = f->seq = X->n_core - 1;
    return f;
}

static void reset(cx_t *X) {
    for (int i = 0; i < X->n_core; i++) free(X->core[i].sl);
    X->n_core = 0;
    X->n_sl = 0;
    memset(X->sl_n, 0, (size_t)X->b->n_stages * sizeof *X->sl_n);
}

static stc_status_t no_fit(cx_t *X, int si, use_t u, const char *unit) {
    const stc_stage_t *s = &X->b->stages[si];
    int64_t have = 0, lim = 0;
    const char *why = over_limit(X->t, u, &have, &lim);
    return stc_err_set(X->err, STC_E_LIMIT,
                       "stage '%s' [%d,%d,%d] does not fit a core of target %s even cut to one %s: %s needs %lld, "
                       "the limit is %lld",
                       s->name, s->c, s->h, s->w, X->t->name, unit, why ? why : "?", (long long)have, (long long)lim);
}

/* ------------------------------------------------------ stc's stream cut */

/* The boxes of units [u0, u1) of channel group g (group size gs, quantum q). */
static int run_boxes(int si, int cg, int gs, int q, int64_t u0, int64_t u1, stc_slice_t *out) {
    int upr = gs / q, n = 0;
    int ya = (int)(u0 / upr), ja = (int)(u0 % upr), yb = (int)((u1 - 1) / upr), jb = (int)((u1 - 1) % upr);
    if (ya == yb) {
        out[n++] = (stc_slice_t){si, cg + ja * q, cg + (jb + 1) * q, ya, ya + 1};
        return n;
    }
    int f0 = ya, f1 = yb + 1; /* full rows [f0, f1) */
    if (ja > 0) out[n++] = (stc_slice_t){si, cg + ja * q, cg + gs, ya, ya + 1}, f0 = ya + 1;
    if (jb < upr - 1) f1 = yb;
    if (f1 > f0) out[n++] = (stc_slice_t){si, cg, cg + gs, f0, f1};
    if (jb < upr - 1) out[n++] = (stc_slice_t){si, cg, cg + (jb + 1) * q, yb, yb + 1};
    return n;
}

/* Routes per neuron of stage si to the stages already cut (one per neuron to
 * a light stage not cut yet). */
static double routes_per_neuron(const cx_t *X, int si) {
    const stc_bundle_t *b = X->b;
    const stc_stage_t *s = &b->stages[si];
    double routes = 0;
    for (int k = X->pj_first[si]; k < X->pj_first[si + 1]; k++) {
        int pi = X->pj[k];
        if (b->projs[pi].src != si) continue;
        if (X->fo[pi]) routes += (double)X->fo[pi][(int64_t)s->c * (s->h + 1) + s->h] * s->w;
        else if (X->light[b->projs[pi].dst]) routes += (double)(light_routes(&b->projs[pi]) * numel(s));
    }
    return routes / (double)numel(s);
}

/* Whether a core's use leaves the light stages their reserve (X->rsv[si] of
 * its neurons, half that of memory and fan-in), or si is no host. */
static int leaves_reserve(const cx_t *X, int si, use_t v) {
    double r = X->rsv[si];
    if (r <= 0 || !X->host || X->light[si]) return 1;
    const stc_target_t *t = X->t;
    /* a light neuron needs its state and a few axons, and routes */
    return v.neurons <= (1 - r) * t->neurons_per_core && v.fan_in <= (1 - r / 2) * t->fan_in_axons_per_core &&
           v.mem_state + v.mem_syn <= (1 - r / 2) * t->memory_per_core_bytes;
}

/* The end of the longest run of units from u (at most per_group) that core f
 * still takes; u if none. */
static int64_t longest_run(cx_t *X, fill_t *f, int si, int cg, int gs, int q, int64_t u, int64_t per_group,
                           double wcap) {
    stc_slice_t bx[3];
    int64_t lo = u, hi = per_group, h_, l_; /* largest end in (u, hi] that fits; lo: known to fit */
    while (lo < hi) {
        int64_t mid = lo == u ? u + 1 : lo + (hi - lo + 1) / 2; /* one unit first: most cores take none */
        int n = run_boxes(si, cg, gs, q, u, mid, bx);
        use_t v = use_add(f->used, boxes_use(X, si, bx, n));
        int alone = f->n == 0 && mid == u + 1; /* a unit alone on a core: only the limits hold it back */
        if (!over_limit(X->t, v, &h_, &l_) && (alone || (v.work <= wcap && leaves_reserve(X, si, v)))) lo = mid;
        else if (lo == u) break;
        else hi = mid - 1;
    }
    return lo;
}

/* Cut stage si with groups of gs channels into the cores: the cand cores
 * first (in order), then the last WINDOW cores, then new ones; a core's work
 * stays under wcap unless it holds a single unit. */
static stc_status_t cut_stage(cx_t *X, int si, int gs, double wcap, const int *cand, int n_cand) {
    const stc_stage_t *s = &X->b->stages[si];
    X->host = X->light && X->rsv[si] > 0 && routes_per_neuron(X, si) <= HOST_ROUTES;
    int q = s->kind == STC_NK_SSA ? s->c / (s->heads ? s->heads : 1) : 1;
    int first = X->n_sl, gs0 = gs;
    stc_slice_t bx[3];
    for (int cg = 0; cg < s->c; cg += gs0) { /* the last group may be narrower */
        gs = s->c - cg < gs0 ? s->c - cg : gs0;
        int64_t per_group = (int64_t)s->h * (gs / q);
        int64_t u = 0;
        while (u < per_group) {
            if (!X->n_core && !new_core(X)) return X->err->status;
            /* a light stage's candidates first, those holding the run's first row (its
             * tokens' other neurons) before the others */
            fill_t *f = NULL;
            int64_t lo = u;
            int row = (int)(u / (gs / q));
            for (int pass = 0; pass < 2 && lo == u; pass++)
                for (int k = 0; k < n_cand && lo == u; k++) {
                    const fill_t *g = &X->core[cand[k]];
                    int has = 0;
                    for (int i = 0; i < g->n && !has; i++) { /* the same place: its row scaled to theirs */
                        int64_t r2 = (int64_t)row * X->b->stages[g->sl[i].stage].h / s->h;
                        has = g->sl[i].y0 <= r2 && r2 < g->sl[i].y1;
                    }
                    if (has == !pass) lo = longest_run(X, f = &X->core[cand[k]], si, cg, gs, q, u, per_group, wcap);
                }
            /* then the oldest of the last WINDOW cores that takes at least one unit: stages
             * that bind on different limits share cores, and cores stay near in the pipeline;
             * a light stage the candidates cannot take opens cores of its own, one at a time */
            int c0 = n_cand ? X->n_core - 1 : X->n_core > WINDOW ? X->n_core - WINDOW : 0;
            for (int c = c0; c < X->n_core && lo == u; c++)
                lo = longest_run(X, f = &X->core[c], si, cg, gs, q, u, per_group, wcap);
            if (lo == u) {
                if (f->n == 0) {
                    int n = run_boxes(si, cg, gs, q, u, u + 1, bx);
                    return no_fit(X, si, boxes_use(X, si, bx, n), q > 1 ? "head and one row" : "channel and one row");
                }
                if (!new_core(X)) return X->err->status;
                continue;
            }
            /* end at a row boundary when that keeps most of the run: a row cut in the
             * middle makes its sources send to one more core, and read one more row */
            int64_t upr = gs / q, aligned = lo / upr * upr;
            if (lo < per_group && aligned > u && 2 * (aligned - u) >= lo - u) lo = aligned;
            int n = run_boxes(si, cg, gs, q, u, lo, bx);
            f->used = use_add(f->used, boxes_use(X, si, bx, n));
            for (int i = 0; i < n; i++)
                if (push_slice(X, f, bx[i])) return X->err->status;
            u = lo;
        }
    }
    X->sl_first[si] = first;
    X->sl_n[si] = X->n_sl - first;
    return fanout_tables(X, si);
}

/* Cores a stage needs on its own with groups of gs channels (the last one
 * counted by how full it is), or -1 if a unit does not fit. */
static double stage_cost(cx_t *X, int si, int gs) {
    int n_core = X->n_core, n_sl = X->n_sl;
    if (!new_core(X)) return -1;
    stc_err_t quiet = {0}, *keep = X->err;
    X->err = &quiet;
    stc_status_t st = cut_stage(X, si, gs, HUGE_VAL, NULL, 0);
    X->err = keep;
    double cost = -1;
    if (!st) {
        const fill_t *f = &X->core[X->n_core - 1];
        const stc_target_t *t = X->t;
        double fill = fmax((double)f->used.neurons / t->neurons_per_core,
                           (double)(f->used.mem_state + f->used.mem_syn) / t->memory_per_core_bytes);
        fill = fmax(fill, fmax((double)f->used.fan_in / t->fan_in_axons_per_core,
                               (double)f->used.fan_out / t->fan_out_axons_per_core));
        cost = (X->n_core - n_core - 1) + fill;
        /* how the stage is cut sets its sources' fan-out: the cores a source
         * will need for its routes beyond those its neurons need */
        const stc_bundle_t *b = X->b;
        for (int pi = 0; pi < b->n_projs; pi++) {
            const stc_proj_t *p = &b->projs[pi];
            if (p->dst != si || !X->fo[pi] || b->stages[p->src].kind == STC_NK_INPUT) continue;
            const stc_stage_t *src = &b->stages[p->src];
            double routes = (double)X->fo[pi][(int64_t)src->c * (src->h + 1) + src->h] * src->w;
            double extra = routes / t->fan_out_axons_per_core - (double)numel(src) / t->neurons_per_core;
            if (extra > 0) cost += extra;
        }
    }
    for (int i = n_core; i < X->n_core; i++) free(X->core[i].sl);
    X->n_core = n_core, X->n_sl = n_sl;
    X->sl_n[si] = 0;
    return cost;
}

/* Channels per group for every stage (X->group), or for all but the light
 * ones if keep_light (they keep theirs). */
static stc_status_t choose_groups(cx_t *X, int keep_light) {
    const stc_bundle_t *b = X->b;
    /* stages destinations first: a stage's fan-out depends on how its readers are cut */
    for (int si = b->n_stages - 1; si >= 0; si--) {
        const stc_stage_t *s = &b->stages[si];
        if (s->kind == STC_NK_INPUT) continue;
        int q = s->kind == STC_NK_SSA ? s->c / (s->heads ? s->heads : 1) : 1;
        double best = -1;
        int keep = keep_light && X->light[si], best_gs = keep ? X->group[si] : 0;
        for (int ng = 1, last = 0; !keep && ng <= s->c / q; ng++) {
            /* ng groups of ceil(units / ng) heads or channels, the last one narrower */
            int gs = (s->c / q + ng - 1) / ng * q;
            if (gs == last) continue;
            last = gs;
            double c = stage_cost(X, si, gs);
            if (c >= 0 && (best < 0 || c < best - 1e-9)) best = c, best_gs = gs;
        }
        if (!best_gs) { /* even one unit per core fails: say why */
            if (!new_core(X)) return X->err->status;
            return cut_stage(X, si, q, HUGE_VAL, NULL, 0);
        }
        X->group[si] = best_gs;
        /* cut it for real (uncapped) so that the stages before it see its slices */
        if (!new_core(X) || cut_stage(X, si, best_gs, HUGE_VAL, NULL, 0)) return X->err->status;
    }
    reset(X);
    return STC_OK;
}

/* A stage without weights whose neurons need state, an axon or a few per
 * neuron and many routes, and no core space for weights (a light stage), so
 * that its pieces can fill the slack of the cores of the layers around it:
 *   a residual add: a relay fed only by ONE2ONE projections;
 *   a max-pool: a MAX stage (fed by WINDOW projections only).
 * It is cut after its sources (build_stc), which reserve light_routes()
 * routes per neuron for it, as many as any cut of it can need: a core holds
 * whole rows of a channel, and a source row is read by one row of an add
 * (if the add's rows hold whole rows of each source: a source row is routed
 * to every core that reads part of it, so an add in token rows narrower than
 * its pixel sources' is not light) or by ceil(k / stride) rows of a pool. */
static int light_stage(const stc_bundle_t *b, int si) {
    const stc_stage_t *s = &b->stages[si];
    int pool = s->kind == STC_NK_MAX;
    if (!pool && (s->kind != STC_NK_RELAY || s->dense)) return 0;
    int any = 0;
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        if (p->dst != si) continue;
        if (b->stages[p->src].kind == STC_NK_INPUT) return 0;
        if (pool ? p->kind != STC_SK_WINDOW
                 : p->kind != STC_SK_ONE2ONE || p->n_w > 1 || s->w % b->stages[p->src].w)
            return 0;
        any = 1;
    }
    return any;
}

/* The reserve each stage leaves if it is a host: that of the light stages it
 * lies near, from the first to the last of their neighbours in pipeline
 * order and one more either side (their candidates reach LIGHT_REACH cores
 * beyond), the larger if two.  A host elsewhere (far from any add or pool)
 * leaves none. */
static void mark_hosts(cx_t *X) {
    const stc_bundle_t *b = X->b;
    for (int si = 0; si < b->n_stages; si++) X->rsv[si] = 0;
    for (int si = 0; si < b->n_stages; si++) {
        if (!X->light[si]) continue;
        double r = X->reserve[b->stages[si].kind == STC_NK_MAX];
        int lo = b->n_stages, hi = -1;
        for (int pi = 0; pi < b->n_projs; pi++) {
            const stc_proj_t *p = &b->projs[pi];
            int other = p->dst == si ? p->src : p->src == si ? p->dst : -1;
            if (other < 0 || other == si || X->light[other]) continue;
            if (other < lo) lo = other;
            if (other > hi) hi = other;
        }
        for (int k = lo - 1; k <= hi + 1; k++)
            if (k >= 0 && k < b->n_stages && X->rsv[k] < r) X->rsv[k] = r;
    }
}

/* Where a light stage may go: the cores of the stages it reads and feeds and
 * LIGHT_REACH more either side, nearest first to the cores of the neighbour
 * it exchanges the most routes with (a residual add: the wide layer reading
 * it), so that its heaviest traffic stays on a chip.  Returns the count. */
static int light_candidates(cx_t *X, int si, int *cand) {
    const stc_bundle_t *b = X->b;
    const stc_stage_t *s = &b->stages[si];
    int lo = X->n_core, hi = 0, heavy = -1;
    double most = -1;
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        int other = p->dst == si ? p->src : p->src == si ? p->dst : -1;
        if (other < 0 || other == si || X->light[other] || X->core_hi[other] <= X->core_lo[other]) continue;
        if (X->core_lo[other] < lo) lo = X->core_lo[other];
        if (X->core_hi[other] > hi) hi = X->core_hi[other];
        double routes = p->src == si && X->fo[pi] ? (double)X->fo[pi][(int64_t)s->c * (s->h + 1) + s->h] * s->w
                                                  : (double)numel(&b->stages[p->src]);
        if (routes > most) most = routes, heavy = other;
    }
    if (heavy < 0) return 0;
    lo = lo > LIGHT_REACH ? lo - LIGHT_REACH : 0;
    hi = hi + LIGHT_REACH < X->n_core ? hi + LIGHT_REACH : X->n_core;
    /* outwards from the middle of the heavy neighbour's cores */
    int mid = (X->core_lo[heavy] + X->core_hi[heavy]) / 2, n = 0;
    for (int d = 0; mid - d >= lo || mid + d < hi; d++) {
        if (mid - d >= lo && mid - d < hi) cand[n++] = mid - d;
        if (d && mid + d < hi && mid + d >= lo) cand[n++] = mid + d;
    }
    return n;
}

/* A limit error of one candidate cut, dropped: another is taken. */
static stc_status_t forget(stc_err_t *err) {
    if (err) err->status = STC_OK, err->msg[0] = 0;
    return STC_OK;
}

static int key_order(const void *x, const void *y) {
    const fill_t *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static stc_status_t build_stc(cx_t *X, double wcap) {
    const stc_bundle_t *b = X->b;
    reset(X);
    for (int pi = 0; pi < b->n_projs; pi++) /* routes into light stages: reserved until they are cut */
        if (X->light[b->projs[pi].dst]) free(X->fo[pi]), X->fo[pi] = NULL;
    /* every stage but the light ones, destinations first; then the light ones into their neighbours' cores */
    for (int pass = 0; pass < 2; pass++)
        for (int si = b->n_stages - 1; si >= 0; si--) {
            if (b->stages[si].kind == STC_NK_INPUT || X->light[si] != pass) continue;
            int before = X->n_core, n_cand = 0, *cand = NULL;
            if (pass) {
                cand = malloc(((size_t)X->n_core + 1) * sizeof *cand);
                if (!cand) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
                n_cand = light_candidates(X, si, cand);
            }
            stc_status_t st = cut_stage(X, si, X->group[si], wcap, cand, n_cand);
            double cand_mid = n_cand ? 0.5 * (cand[0] + cand[n_cand - 1]) : 0;
            free(cand);
            if (st) return st;
            int lo = X->n_core, hi = 0;
            for (int k = 0; k < X->sl_n[si]; k++) {
                int c = X->sl_core[X->sl_first[si] + k];
                if (c < lo) lo = c;
                if (c + 1 > hi) hi = c + 1;
            }
            X->core_lo[si] = lo, X->core_hi[si] = hi > lo ? hi : lo;
            if (pass && X->n_core > before) { /* new cores go beside the hosts of the stage's other pieces */
                double at = 0;
                int n_at = 0;
                for (int k = 0; k < X->sl_n[si]; k++) {
                    int c = X->sl_core[X->sl_first[si] + k];
                    if (c < before) at += c, n_at++;
                }
                at = n_at ? at / n_at : n_cand ? cand_mid : before;
                for (int c = before; c < X->n_core; c++)
                    X->core[c].key = at + 0.5 * (c - before + 1) / (X->n_core - before + 1);
            }
            if (wcap == HUGE_VAL)
                stc_log(STC_LOG_DEBUG, "cores", "stc cut: stage '%s' [%d,%d,%d] in groups of %d channels: %d slices, "
                        "cores %d..%d (%d new)", b->stages[si].name, b->stages[si].c, b->stages[si].h,
                        b->stages[si].w, X->group[si], X->sl_n[si], lo, hi, X->n_core - before);
        }
    qsort(X->core, (size_t)X->n_core, sizeof *X->core, key_order);
    /* pipeline order: the cores were made destinations first */
    for (int i = 0, j = X->n_core - 1; i < j; i++, j--) {
        fill_t tmp = X->core[i];
        X->core[i] = X->core[j], X->core[j] = tmp;
    }
    return STC_OK;
}

/* ---------------------------------------------------- first-fit (baseline) */

/* Cut stage si into the fewest nc channel groups x nr row bands that fit a core. */
static stc_status_t split_equal(cx_t *X, int si) {
    const stc_stage_t *s = &X->b->stages[si];
    int unit = s->kind == STC_NK_SSA ? s->c / (s->heads ? s->heads : 1) : 1;
    int best_nc = 0, best_nr = 0;
    int64_t h_, l_;
    for (int nc = 1; nc <= s->c; nc++) {
        if (s->c % nc || (s->c / nc) % unit) continue;
        for (int nr = 1; nr <= s->h; nr++) {
            if (best_nc && nc * nr >= best_nc * best_nr) break;
            int rs = (s->h + nr - 1) / nr, ok = 1;
            if (rs * (nr - 1) >= s->h) continue; /* an empty band */
            for (int a = 0; a < nc && ok; a++)
                for (int r = 0; r < nr && ok; r++) {
                    stc_slice_t sl = {si, a * (s->c / nc), (a + 1) * (s->c / nc), r * rs,
                                      (r + 1) * rs > s->h ? s->h : (r + 1) * rs};
                    ok = !over_limit(X->t, boxes_use(X, si, &sl, 1), &h_, &l_);
                }
            if (ok) {
                best_nc = nc, best_nr = nr;
                break;
            }
        }
    }
    if (!best_nc) {
        stc_slice_t sl = {si, 0, unit, 0, 1};
        return no_fit(X, si, boxes_use(X, si, &sl, 1), unit > 1 ? "head and one row" : "channel and one row");
    }
    int first = X->n_sl, cs = s->c / best_nc, rs = (s->h + best_nr - 1) / best_nr;
    stc_log(STC_LOG_DEBUG, "cores", "first-fit: stage '%s' [%d,%d,%d] cut %d x %d", s->name, s->c, s->h, s->w, best_nc,
            best_nr);
    fill_t scratch = {0}; /* push_slice also records the slice in X->sl */
    stc_status_t st = STC_OK;
    for (int a = 0; a < best_nc && !st; a++)
        for (int r = 0; r < best_nr && !st; r++) {
            stc_slice_t sl = {si, a * cs, (a + 1) * cs, r * rs, (r + 1) * rs > s->h ? s->h : (r + 1) * rs};
            if (sl.y0 < sl.y1) st = push_slice(X, &scratch, sl);
        }
    free(scratch.sl);
    X->sl_first[si] = first;
    X->sl_n[si] = X->n_sl - first;
    return st ? st : fanout_tables(X, si);
}

static stc_status_t build_first_fit(cx_t *X) {
    reset(X);
    const stc_bundle_t *b = X->b;
    for (int si = b->n_stages - 1; si >= 0; si--)
        if (b->stages[si].kind != STC_NK_INPUT && split_equal(X, si)) return X->err->status;
    /* packed in pipeline order */
    int64_t h_, l_;
    for (int si = 0; si < b->n_stages; si++)
        for (int k = 0; k < X->sl_n[si]; k++) {
            stc_slice_t sl = X->sl[X->sl_first[si] + k];
            use_t u = boxes_use(X, si, &sl, 1);
            int c = 0;
            while (c < X->n_core && over_limit(X->t, use_add(X->core[c].used, u), &h_, &l_)) c++;
            fill_t *f = c < X->n_core ? &X->core[c] : new_core(X);
            if (!f) return X->err->status;
            if (f->n == f->cap) {
                int cap = f->cap ? 2 * f->cap : 4;
                stc_slice_t *p = realloc(f->sl, (size_t)cap * sizeof *p);
                if (!p) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
                f->sl = p, f->cap = cap;
            }
            f->sl[f->n++] = sl;
            f->used = use_add(f->used, u);
        }
    return STC_OK;
}

/* ----------------------------------------------------------------- driver */

static int slice_order(const void *x, const void *y) {
    const stc_slice_t *a = x, *b = y;
    if (a->stage != b->stage) return a->stage < b->stage ? -1 : 1;
    if (a->c0 != b->c0) return a->c0 < b->c0 ? -1 : 1;
    return (a->y0 > b->y0) - (a->y0 < b->y0);
}

/* The cores into the bundle: the host port first, then chip after chip. */
static stc_status_t emit(cx_t *X, int max_chips) {
    stc_bundle_t *b = X->b;
    const stc_target_t *t = X->t;
    int n = X->n_core, chips = (n + t->cores_per_chip - 1) / t->cores_per_chip;
    if (max_chips > 0 && chips > max_chips)
        return stc_err_set(X->err, STC_E_LIMIT,
                           "the model needs %d cores of target %s, that is %d chips of %d cores; --chips %d given", n,
                           t->name, chips, t->cores_per_chip, max_chips);
    b->cores = calloc((size_t)n + 1, sizeof *b->cores);
    if (!b->cores) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
    b->n_cores = n + 1;
    b->n_chips = chips;
    stc_core_t *h = &b->cores[0]; /* the host port */
    const stc_stage_t *in = &b->stages[b->input_stage];
    h->chip = -1;
    h->slices = malloc(sizeof *h->slices);
    if (!h->slices) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
    h->n_slices = 1;
    h->slices[0] = (stc_slice_t){b->input_stage, 0, in->c, 0, in->h};
    h->n_neurons = (int)numel(in);
    for (int c = 0; c < n; c++) {
        stc_core_t *k = &b->cores[c + 1];
        fill_t *f = &X->core[c];
        int local = c % t->cores_per_chip;
        qsort(f->sl, (size_t)f->n, sizeof *f->sl, slice_order);
        k->chip = c / t->cores_per_chip;
        k->x = local % t->core_mesh[0];
        k->y = local / t->core_mesh[0];
        k->n_slices = f->n;
        k->slices = f->sl;
        f->sl = NULL;
        k->n_neurons = (int)f->used.neurons;
        k->mem_state = f->used.mem_state;
        k->mem_syn = f->used.mem_syn;
        k->mem_axon = f->used.mem_axon;
    }
    return STC_OK;
}

stc_status_t stc_cores_work(const stc_bundle_t *b, const stc_target_t *t, const double *stage_rate,
                            double *core_work, double *synops, stc_err_t *err) {
    cx_t X;
    memset(&X, 0, sizeof X);
    X.b = (stc_bundle_t *)b, X.t = t, X.err = err;
    X.nwork = calloc((size_t)b->n_stages, sizeof *X.nwork);
    double *nsyn = calloc((size_t)b->n_stages, sizeof *nsyn);
    if (!X.nwork || !nsyn) {
        free(X.nwork), free(nsyn);
        return stc_err_set(err, STC_E_NOMEM, "cores: out of memory");
    }
    stage_work(&X, stage_rate, nsyn);
    double sum = 0;
    for (int si = 0; si < b->n_stages; si++) sum += nsyn[si] * (double)numel(&b->stages[si]) * b->T;
    if (synops) *synops = sum;
    /* A stage works at the T ticks from its depth on, so a core whose slices
     * sit at different depths spreads its work over more ticks: its work per
     * active tick is the T ticks' work of every slice over the ticks at which
     * any of them is active, as the chip simulator counts it (node/profile.c). */
    int *d = core_work ? malloc((size_t)(b->n_stages > 0 ? b->n_stages : 1) * sizeof *d) : NULL;
    if (core_work && !d) {
        free(X.nwork), free(nsyn);
        return stc_err_set(err, STC_E_NOMEM, "cores: out of memory");
    }
    for (int c = 0; core_work && c < b->n_cores; c++) {
        const stc_core_t *k = &b->cores[c];
        int nd = 0;
        core_work[c] = 0;
        for (int i = 0; c > 0 && i < k->n_slices; i++) {
            const stc_slice_t *sl = &k->slices[i];
            core_work[c] += (double)(sl->c1 - sl->c0) * (sl->y1 - sl->y0) * b->stages[sl->stage].w * X.nwork[sl->stage];
            int j = 0, depth = b->stages[sl->stage].depth;
            while (j < nd && d[j] != depth) j++;
            if (j == nd) d[nd++] = depth;
        }
        if (nd < 2 || b->T < 1) continue;
        qsort(d, (size_t)nd, sizeof *d, cmp_int);
        int ticks = b->T; /* the union of [depth, depth + T) */
        for (int j = 1; j < nd; j++) ticks += d[j] - d[j - 1] < b->T ? d[j] - d[j - 1] : b->T;
        core_work[c] *= (double)b->T / ticks;
    }
    free(d);
    free(X.nwork);
    free(nsyn);
    return STC_OK;
}

const char *stc_cores_packed_what(const stc_cores_report_t *r, char *buf, size_t n) {
    int adds = r->packed_stages - r->packed_pools, pools = r->packed_pools;
    char a[48] = "", q[48] = "";
    if (adds) snprintf(a, sizeof a, "%d residual add%s", adds, adds == 1 ? "" : "s");
    if (pools) snprintf(q, sizeof q, "%d max-pool%s", pools, pools == 1 ? "" : "s");
    snprintf(buf, n, "%s%s%s", a, adds && pools ? " and " : "", q);
    return buf;
}

/* Which light stages the next cut packs, and the reserves their hosts
 * leave: ra RESERVE_STEPs for the hosts of adds, rp for those of pools (-1:
 * that kind on cores of its own). */
static void set_packing(cx_t *X, int ra, int rp) {
    const stc_bundle_t *b = X->b;
    for (int si = 0; si < b->n_stages; si++)
        X->light[si] = light_stage(b, si) && (b->stages[si].kind == STC_NK_MAX ? rp : ra) >= 0;
    X->reserve[0] = RESERVE_STEP * (ra > 0 ? ra : 0), X->reserve[1] = RESERVE_STEP * (rp > 0 ? rp : 0);
    mark_hosts(X);
}

/* One cut packed as set_packing(ra, rp) says: its cores in *n, or -1 if it
 * leaves some layer no room (its limit error dropped: not a choice). */
static stc_status_t pack_cut(cx_t *X, int ra, int rp, int *n) {
    set_packing(X, ra, rp);
    stc_status_t st = build_stc(X, HUGE_VAL);
    *n = st ? -1 : X->n_core;
    char how[2][40];
    for (int k = 0; k < 2; k++) {
        int r = k ? rp : ra;
        if (r < 0) snprintf(how[k], sizeof how[k], "on cores of their own");
        else snprintf(how[k], sizeof how[k], "packed, %d%% left to them", r * (int)(100 * RESERVE_STEP + 0.5));
    }
    if (st == STC_E_LIMIT) {
        stc_log(STC_LOG_INFO, "cores", "stc cut, adds %s, pools %s: %s", how[0], how[1], X->err ? X->err->msg : "");
        return forget(X->err);
    }
    if (!st) stc_log(STC_LOG_INFO, "cores", "stc cut, adds %s, pools %s: %d cores", how[0], how[1], X->n_core);
    return st;
}

/* The groups were chosen with every core free to fill (choose_groups); a
 * host that leaves a reserve may do better with others: 48 channels of
 * 112-pixel rows fill a core to 98% in 3 rows, but to 66% in 2 when 12% must
 * stay free.  So the chosen packing is cut once more with groups chosen
 * under its reserves (the light stages keep theirs), and kept if it needs
 * fewer cores than *best (then updated).  Once, not per packing: a choice
 * of groups costs about a second on Spikformer-8-768. */
static stc_status_t regroup_hosts(cx_t *X, int *best) {
    size_t sz = (size_t)X->b->n_stages * sizeof *X->group;
    int *keep = malloc(sz + 1);
    if (!keep) return stc_err_set(X->err, STC_E_NOMEM, "cores: out of memory");
    memcpy(keep, X->group, sz);
    stc_status_t st = choose_groups(X, 1);
    if (!st) st = build_stc(X, HUGE_VAL);
    if (!st && X->n_core < *best) {
        stc_log(STC_LOG_INFO, "cores", "stc cut, the hosts' groups chosen again under their reserves: %d cores",
                X->n_core);
        *best = X->n_core;
    } else {
        if (st == STC_E_LIMIT) st = forget(X->err);
        if (!st) stc_log(STC_LOG_INFO, "cores", "stc cut, the hosts' groups chosen again under their reserves: "
                         "%d cores, not fewer: the first groups kept", X->n_core);
        memcpy(X->group, keep, sz);
    }
    free(keep);
    return st;
}

stc_status_t stc_cores_build(stc_bundle_t *b, const stc_target_t *t, const stc_cores_opts_t *o,
                             stc_cores_report_t *rep, stc_err_t *err) {
    if (b->cores || b->input_stage < 0)
        return stc_err_set(err, STC_E_USAGE, "cores: the bundle already has cores, or has no input stage");
    cx_t X;
    memset(&X, 0, sizeof X);
    X.b = b, X.t = t, X.err = err;
    X.nwork = calloc((size_t)b->n_stages, sizeof *X.nwork);
    X.light = calloc((size_t)b->n_stages + 1, 1);
    X.rsv = calloc((size_t)b->n_stages + 1, sizeof *X.rsv);
    X.core_lo = calloc((size_t)b->n_stages + 1, sizeof *X.core_lo);
    X.core_hi = calloc((size_t)b->n_stages + 1, sizeof *X.core_hi);
    X.group = calloc((size_t)b->n_stages, sizeof *X.group);
    X.sl_first = calloc((size_t)b->n_stages, sizeof *X.sl_first);
    X.sl_n = calloc((size_t)b->n_stages, sizeof *X.sl_n);
    X.fo = calloc((size_t)b->n_projs + 1, sizeof *X.fo);
    X.pj_first = calloc((size_t)b->n_stages + 1, sizeof *X.pj_first);
    X.pj = malloc((size_t)(2 * b->n_projs + 1) * sizeof *X.pj);
    if (X.pj_first && X.pj) {
        for (int pi = 0; pi < b->n_projs; pi++) {
            X.pj_first[b->projs[pi].dst + 1]++;
            if (b->projs[pi].src != b->projs[pi].dst) X.pj_first[b->projs[pi].src + 1]++;
        }
        for (int si = 0; si < b->n_stages; si++) X.pj_first[si + 1] += X.pj_first[si];
        int *cur = malloc((size_t)b->n_stages * sizeof *cur + 1);
        if (cur) {
            memcpy(cur, X.pj_first, (size_t)b->n_stages * sizeof *cur);
            for (int pi = 0; pi < b->n_projs; pi++) {
                X.pj[cur[b->projs[pi].dst]++] = pi;
                if (b->projs[pi].src != b->projs[pi].dst) X.pj[cur[b->projs[pi].src]++] = pi;
            }
            free(cur);
        } else {
            free(X.pj), X.pj = NULL;
        }
    }
    stc_cores_report_t r;
    memset(&r, 0, sizeof r);
    stc_status_t st = (!X.nwork || !X.light || !X.rsv || !X.core_lo || !X.core_hi || !X.group || !X.sl_first ||
                       !X.sl_n || !X.fo || !X.pj_first || !X.pj)
                          ? stc_err_set(err, STC_E_NOMEM, "cores: out of memory")
                          : STC_OK;
    if (!st) {
        stage_work(&X, o ? o->stage_rate : NULL, NULL);
        stc_cores_lower_bound(b, t, &r);
    }
    if (!st && o && o->first_fit) {
        st = build_first_fit(&X);
    } else if (!st) {
        st = choose_groups(&X, 0);
        /* light stages cut on their own, or packed into the slack their hosts
         * leave: every pair of reserves for the hosts of adds and of pools
         * (-1: that kind not packed); whichever needs the fewest cores, the
         * plain cut on a tie */
        int has[2] = {0, 0}, n = 0;
        for (int si = 0; si < b->n_stages; si++)
            if (light_stage(b, si)) has[b->stages[si].kind == STC_NK_MAX] = 1;
        for (int si = 0; si < b->n_stages; si++) X.light[si] = 0;
        if (!st) st = build_stc(&X, HUGE_VAL);
        int best_a = -1, best_p = -1, best_n = X.n_core;
        if (!st) {
            r.cores_unpacked = X.n_core;
            stc_log(STC_LOG_INFO, "cores", "stc cut, every stage on cores of its own: %d cores", X.n_core);
        }
        for (int ra = -1; ra < (has[0] ? RESERVE_STEPS : 0) && !st; ra++)
            for (int rp = -1; rp < (has[1] ? RESERVE_STEPS : 0) && !st; rp++) {
                if (ra < 0 && rp < 0) continue; /* the plain cut */
                st = pack_cut(&X, ra, rp, &n);
                if (!st && n >= 0 && n < best_n) best_n = n, best_a = ra, best_p = rp;
            }
        int packed = best_a >= 0 || best_p >= 0;
        set_packing(&X, best_a, best_p);
        if (!st && packed) st = regroup_hosts(&X, &best_n);
        for (int si = 0; packed && si < b->n_stages; si++) {
            r.packed_stages += X.light[si];
            r.packed_pools += X.light[si] && b->stages[si].kind == STC_NK_MAX;
        }
        r.reserve = X.reserve[0], r.reserve_pools = X.reserve[1];
        r.cores_packed = packed ? best_n : 0;
        if (!st) st = build_stc(&X, HUGE_VAL);
        int uncapped = X.n_core;
        double hi = 0, lo = 0;
        for (int c = 0; c < X.n_core; c++) hi = fmax(hi, X.core[c].used.work);
        for (int si = 0; si < b->n_stages; si++) lo = fmax(lo, X.nwork[si] * b->stages[si].w);
        int allowed = (int)floor(CORE_SLACK * r.lower_bound + 1e-9);
        if (allowed < uncapped) allowed = uncapped;
        /* the smallest work cap that keeps the cores within `allowed` */
        for (int i = 0; !st && i < BALANCE_STEPS && lo < hi * 0.999; i++) {
            double mid = 0.5 * (lo + hi);
            st = build_stc(&X, mid);
            if (st == STC_E_LIMIT) st = forget(err); /* a cap that leaves a unit no core: too low */
            else if (!st && X.n_core <= allowed) {
                hi = mid;
                continue;
            }
            lo = mid;
        }
        if (!st) st = build_stc(&X, hi);
    }
    for (int c = 0; !st && c < X.n_core; c++) {
        const use_t *u = &X.core[c].used;
        stc_log(STC_LOG_DEBUG, "cores", "core %d: %d slices, %lld neurons, memory %lld+%lld+%lld, fan-in %lld, "
                "fan-out %lld, work %.0f ns", c + 1, X.core[c].n, (long long)u->neurons, (long long)u->mem_state,
                (long long)u->mem_syn, (long long)u->mem_axon, (long long)u->fan_in, (long long)u->fan_out, u->work);
    }
    if (!st) {
        r.cores = X.n_core;
        for (int c = 0; c < X.n_core; c++) {
            r.max_work_ns = fmax(r.max_work_ns, X.core[c].used.work);
            r.mean_work_ns += X.core[c].used.work / X.n_core;
        }
        st = emit(&X, o ? o->max_chips : 0);
    }
    if (rep) *rep = r;
    reset(&X);
    free(X.core);
    free(X.sl);
    free(X.sl_core);
    free(X.nwork);
    free(X.light);
    free(X.rsv);
    free(X.core_lo);
    free(X.core_hi);
    free(X.group);
    free(X.sl_first);
    free(X.sl_n);
    for (int pi = 0; X.fo && pi < b->n_projs; pi++) free(X.fo[pi]);
    free(X.fo);
    free(X.pj_first);
    free(X.pj);
    return st;
}
