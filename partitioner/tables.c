/* tables.c - the routing tables: every core's input axons and every neuron's routes to them, as runs.
 *
 * Once the stages are cut and packed into cores (cores.c), each core gets one
 * input axon per (projection, source neuron) whose source box reaches one of
 * its slices, deduplicated, in slice order and then the source's (c, y, x)
 * order; each source neuron gets one route per axon that carries it, to
 * (core, axon); a neuron's routes are in (destination core, axon) order.  The
 * tables give the exact fan-in, fan-out and axon memory of every core; they
 * are checked against the target here and stored as the core's figures.
 *
 * Both tables are stored as runs (stc_bundle.h): the largest models have
 * ~5 x 10^8 axons and as many routes, but a source box always spans whole
 * rows (stc_bundle_src_box never narrows the columns) and a row is contiguous
 * in the source's flat index, in the axon order and in its core's local
 * neuron order.  So the tables are made a row at a time: a row not yet on
 * this (core, projection) becomes w axons, appended to the core's last axon
 * run when it continues it, and w routes of its core's neurons, appended to
 * that core's last route run when it continues it (same destination core,
 * the next neurons, the next axons).  Nothing is kept per axon, route or
 * neuron: besides the tables, where every row lives (2 x int32 per channel
 * and row of every stage) and one int32 per row of the largest source stage
 * for deduplication.  Each core's route runs, made in (destination core,
 * axon) order, are finally sorted by (neuron, core, axon).
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_partition.h"
#include "stc_target.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define NOMEM(err) stc_err_set(err, STC_E_NOMEM, "tables: out of memory")

/* Where a row (channel, y) of a stage lives: its core and the core-local
 * index of its first neuron (the row's w neurons follow it). */
typedef struct {
    int32_t core, local;
} rloc_t;

typedef struct {
    rloc_t **loc;       /* per stage, per channel * h + y */
    int32_t *seen;      /* per row of a source stage: the (core, projection) visit that last made its axons */
    int64_t seen_cap;
    int32_t visit;      /* the current (core, projection) visit, from 1 */
    int64_t *acap;      /* per core: capacity of axon_runs */
    int64_t *rcap;      /* per core: capacity of route_runs */
    int64_t *n_rt;      /* per core: routes out of it so far */
} tctx_t;

/* Room for one more run in arr (n used, *cap allocated, doubling): the
 * array, moved if it had to grow; NULL when out of memory (arr stays valid). */
static void *grow(void *arr, int n, int64_t *cap, size_t elem) {
    if (n < *cap) return arr;
    int64_t nc = *cap ? 2 * *cap : 64;
    if (nc > INT_MAX) nc = INT_MAX;
    if (nc <= n) return NULL;
    void *na = realloc(arr, (size_t)nc * elem);
    if (na) *cap = nc;
    return na;
}

/* Core c's input axons from projection pi, a row at a time, and their routes. */
static stc_status_t axons_of_proj(stc_bundle_t *b, tctx_t *x, int c, int pi, int64_t *n_ax, stc_err_t *err) {
    stc_core_t *k = &b->cores[c];
    const stc_proj_t *p = &b->projs[pi];
    const stc_stage_t *ss = &b->stages[p->src];
    int64_t rows = (int64_t)ss->c * ss->h;
    const int w = ss->w;
    if (rows > x->seen_cap) {
        free(x->seen);
        x->seen = calloc((size_t)rows, sizeof *x->seen); /* 0: no visit yet */
        x->seen_cap = x->seen ? rows : 0;
        if (!x->seen) return NOMEM(err);
    }
    int32_t *seen = x->seen, visit = ++x->visit;
    const rloc_t *lp = x->loc[p->src];
    for (int i = 0; i < k->n_slices; i++) {
        if (k->slices[i].stage != p->dst) continue;
        stc_box_t r = stc_bundle_src_box(b, p, &k->slices[i]);
        if (r.x0 != 0 || r.x1 != w)
            return stc_err_set(err, STC_E_INTERNAL,
                               "tables: core %d slice %d: the source box of projection %d ('%s' -> '%s') spans "
                               "columns [%d,%d), expected every column [0,%d) (the tables are made a row at a time)",
                               c, i, pi, ss->name, b->stages[p->dst].name, r.x0, r.x1, w);
        for (int ch = r.c0; ch < r.c1; ch++)
            for (int y = r.y0; y < r.y1; y++) {
                int64_t row = (int64_t)ch * ss->h + y;
                if (seen[row] == visit) continue;
                seen[row] = visit;
                if (*n_ax > INT32_MAX - w) /* far above any target's fan-in */
                    return stc_err_set(err, STC_E_LIMIT,
                                       "core %d (chip %d; first slice of '%s'): fan_in_axons_per_core: over %d",
                                       c, k->chip, b->stages[k->slices[0].stage].name, INT32_MAX - w);
                int32_t f0 = (int32_t)(row * w), a = (int32_t)*n_ax;
                *n_ax += w;
                /* the axons: continue the core's last run or start one */
                stc_axon_run_t *ar = k->n_axon_runs ? &k->axon_runs[k->n_axon_runs - 1] : NULL;
                if (ar && ar->proj == pi && (int64_t)ar->src + ar->n == f0) {
                    ar->n += w;
                } else {
                    stc_axon_run_t *na = grow(k->axon_runs, k->n_axon_runs, &x->acap[c], sizeof *na);
                    if (!na) return NOMEM(err);
                    k->axon_runs = na;
                    k->axon_runs[k->n_axon_runs++] = (stc_axon_run_t){pi, f0, w};
                }
                /* the routes of the row's neurons, on their core */
                const rloc_t *l = &lp[row];
                if (l->core < 0)
                    return stc_err_set(err, STC_E_INTERNAL, "tables: stage '%s' channel %d row %d is on no core",
                                       ss->name, ch, y);
                stc_core_t *sc = &b->cores[l->core];
                x->n_rt[l->core] += w;
                stc_route_run_t *rr = sc->n_route_runs ? &sc->route_runs[sc->n_route_runs - 1] : NULL;
                if (rr && rr->core == c && (int64_t)rr->axon + rr->n == a && (int64_t)rr->neuron + rr->n == l->local) {
                    rr->n += w; /* <= the axons of core c: fits */
                } else {
                    stc_route_run_t *nr = grow(sc->route_runs, sc->n_route_runs, &x->rcap[l->core], sizeof *nr);
                    if (!nr) return NOMEM(err);
                    sc->route_runs = nr;
                    sc->route_runs[sc->n_route_runs++] = (stc_route_run_t){l->local, w, c, a};
                }
            }
    }
    return STC_OK;
}

static int cmp_route_run(const void *pa, const void *pb) {
    const stc_route_run_t *a = pa, *b = pb;
    if (a->neuron != b->neuron) return (a->neuron > b->neuron) - (a->neuron < b->neuron);
    if (a->core != b->core) return (a->core > b->core) - (a->core < b->core);
    return (a->axon > b->axon) - (a->axon < b->axon);
}

/* Give back a doubling's slack. */
static void *fit(void *arr, int n, size_t elem) {
    if (!arr || !n) return arr;
    void *na = realloc(arr, (size_t)n * elem);
    return na ? na : arr;
}

stc_status_t stc_tables_build(stc_bundle_t *b, const stc_target_t *t, stc_err_t *err) {
    stc_status_t st = STC_OK;
    tctx_t x = {0};
    x.loc = calloc((size_t)b->n_stages, sizeof *x.loc);
    x.acap = calloc((size_t)b->n_cores, sizeof *x.acap);
    x.rcap = calloc((size_t)b->n_cores, sizeof *x.rcap);
    x.n_rt = calloc((size_t)b->n_cores, sizeof *x.n_rt);
    if (!x.loc || !x.acap || !x.rcap || !x.n_rt) st = NOMEM(err);
    /* where every row lives */
    for (int s = 0; s < b->n_stages && !st; s++) {
        int64_t rows = (int64_t)b->stages[s].c * b->stages[s].h;
        x.loc[s] = malloc((size_t)rows * sizeof *x.loc[s]);
        if (!x.loc[s]) st = NOMEM(err);
        for (int64_t r = 0; r < rows && !st; r++) x.loc[s][r] = (rloc_t){-1, 0};
    }
    for (int c = 0; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        k->n_axons = k->n_axon_runs = k->n_routes = k->n_route_runs = 0;
        int32_t local = 0;
        for (int i = 0; i < k->n_slices; i++) {
            const stc_slice_t *sl = &k->slices[i];
            const stc_stage_t *s = &b->stages[sl->stage];
            for (int ch = sl->c0; ch < sl->c1; ch++)
                for (int y = sl->y0; y < sl->y1; y++, local += s->w)
                    x.loc[sl->stage][(int64_t)ch * s->h + y] = (rloc_t){c, local};
        }
    }
    /* the axons, core by core, with the routes that reach them */
    for (int c = 1; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        int64_t n_ax = 0;
        for (int pi = 0; pi < b->n_projs && !st; pi++) {
            int any = 0;
            for (int i = 0; i < k->n_slices; i++) any |= k->slices[i].stage == b->projs[pi].dst;
            if (any) st = axons_of_proj(b, &x, c, pi, &n_ax, err);
        }
        k->n_axons = (int)n_ax; /* < INT32_MAX: checked as it grew */
        k->axon_runs = fit(k->axon_runs, k->n_axon_runs, sizeof *k->axon_runs);
    }
    free(x.seen);
    /* fan-out; then each core's route runs in (neuron, core, axon) order */
    for (int c = 0; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        int64_t sum = x.n_rt[c];
        if (c > 0 && sum > t->fan_out_axons_per_core) {
            st = stc_err_set(err, STC_E_LIMIT,
                             "core %d (chip %d; first slice of '%s') needs %lld output routes, the limit "
                             "fan_out_axons_per_core of %s is %d",
                             c, k->chip, b->stages[k->slices[0].stage].name, (long long)sum, t->name,
                             t->fan_out_axons_per_core);
            break;
        }
        if (sum > STC_BUNDLE_MAX_ROUTES) {
            st = stc_err_set(err, STC_E_LIMIT, "core %d (%s) needs %lld output routes, over the bundle's limit of %d",
                             c, c ? b->stages[k->slices[0].stage].name : "the host port", (long long)sum,
                             STC_BUNDLE_MAX_ROUTES);
            break;
        }
        k->n_routes = (int)sum;
        k->route_runs = fit(k->route_runs, k->n_route_runs, sizeof *k->route_runs);
        if (k->n_route_runs > 1) qsort(k->route_runs, (size_t)k->n_route_runs, sizeof *k->route_runs, cmp_route_run);
    }
    for (int s = 0; x.loc && s < b->n_stages; s++) free(x.loc[s]);
    free(x.loc);
    free(x.acap);
    free(x.rcap);
    free(x.n_rt);
    /* the exact figures: never above the planner's bounds, checked all the same */
    for (int c = 1; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        k->mem_axon = (int64_t)k->n_axons * STC_AXON_BYTES;
        int64_t mem = k->mem_state + k->mem_syn; /* the axon table has its own memory, bounded by fan-in */
        const char *what = k->n_axons > t->fan_in_axons_per_core ? "fan_in_axons_per_core"
                           : mem > t->memory_per_core_bytes      ? "memory_per_core_bytes"
                                                                 : NULL;
        if (what)
            st = stc_err_set(err, STC_E_LIMIT, "core %d (chip %d; first slice of '%s'): %s: %lld, the limit of %s is %d",
                             c, k->chip, b->stages[k->slices[0].stage].name, what,
                             (long long)(k->n_axons > t->fan_in_axons_per_core ? k->n_axons : mem), t->name,
                             k->n_axons > t->fan_in_axons_per_core ? t->fan_in_axons_per_core
                                                                   : t->memory_per_core_bytes);
    }
    return st;
}
