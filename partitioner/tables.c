/* tables.c - the routing tables: every core's input axons and every neuron's routes to them.
 *
 * Once the stages are cut and packed into cores (cores.c), each core gets one
 * input axon per (projection, source neuron) whose source box reaches one of
 * its slices, deduplicated, in slice order and then the source's (c, y, x)
 * order; each source neuron gets one route per axon that carries it, to
 * (core, axon), grouped by neuron (CSR) and, within a neuron, by destination
 * core then axon.  The tables give the exact fan-in, fan-out and axon memory
 * of every core; they are checked against the target here and stored as the
 * core's figures.
 *
 * Memory: nothing per route beyond the final tables (the largest models have
 * ~10^8 routes).  Pass 1 builds the axon tables and counts each source
 * neuron's routes straight into its core's rt_off; pass 2 walks the axon
 * tables again, core by core and axon by axon, and drops route (core, axon)
 * at its source neuron's cursor, which is rt_off itself (shifted back after).
 * Besides the tables: where every neuron lives (2 x int32 per neuron) and one
 * int32 per neuron of the largest source stage for deduplication.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_partition.h"
#include "stc_target.h"

#include <stdlib.h>
#include <string.h>

static int64_t numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

#define NOMEM(err) stc_err_set(err, STC_E_NOMEM, "tables: out of memory")

/* Pass 1: core k's (index c) input axons; each new axon is one route of its
 * source neuron, counted at rt_off[local + 1] of that neuron's core.  seen:
 * per source neuron, its axon on this core or -1 (grown as needed). */
static stc_status_t axons_of_core(stc_bundle_t *b, int c, int32_t *const *loc, int32_t **seen, int64_t *seen_cap,
                                  stc_err_t *err) {
    stc_core_t *k = &b->cores[c];
    int64_t cap_ax = 0;
    for (int pi = 0; pi < b->n_projs; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        int any = 0;
        for (int i = 0; i < k->n_slices; i++) any |= k->slices[i].stage == p->dst;
        if (!any) continue;
        const stc_stage_t *ss = &b->stages[p->src];
        int64_t nsrc = numel(ss);
        if (nsrc > *seen_cap) {
            free(*seen);
            *seen = malloc((size_t)nsrc * sizeof **seen);
            *seen_cap = *seen ? nsrc : 0;
            if (!*seen) return NOMEM(err);
        }
        int32_t *sn = *seen;
        const int32_t *lp = loc[p->src];
        for (int64_t j = 0; j < nsrc; j++) sn[j] = -1;
        for (int i = 0; i < k->n_slices; i++) {
            if (k->slices[i].stage != p->dst) continue;
            stc_box_t r = stc_bundle_src_box(b, p, &k->slices[i]);
            for (int ch = r.c0; ch < r.c1; ch++)
                for (int y = r.y0; y < r.y1; y++)
                    for (int x = r.x0; x < r.x1; x++) {
                        int64_t f = ((int64_t)ch * ss->h + y) * ss->w + x;
                        if (sn[f] >= 0) continue;
                        if (k->n_axons == cap_ax) {
                            cap_ax = cap_ax ? 2 * cap_ax : 256;
                            stc_axon_t *na = realloc(k->axons, (size_t)cap_ax * sizeof *na);
                            if (!na) return NOMEM(err);
                            k->axons = na;
                        }
                        sn[f] = k->n_axons;
                        k->axons[k->n_axons++] = (stc_axon_t){pi, (int32_t)f};
                        b->cores[lp[2 * f]].rt_off[lp[2 * f + 1] + 1]++;
                    }
        }
    }
    if (k->n_axons && k->n_axons < cap_ax) { /* give back the doubling's slack */
        stc_axon_t *na = realloc(k->axons, (size_t)k->n_axons * sizeof *na);
        if (na) k->axons = na;
    }
    return STC_OK;
}

stc_status_t stc_tables_build(stc_bundle_t *b, const stc_target_t *t, stc_err_t *err) {
    stc_status_t st = STC_OK;
    /* where every neuron lives: per stage, flat index -> (core, local index) */
    int32_t **loc = calloc((size_t)b->n_stages, sizeof *loc);
    if (!loc) return NOMEM(err);
    for (int s = 0; s < b->n_stages && !st; s++) {
        loc[s] = malloc((size_t)numel(&b->stages[s]) * 2 * sizeof(int32_t));
        if (!loc[s]) st = NOMEM(err);
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
    /* every core's rt_off, zero: pass 1 counts each neuron's routes in it */
    for (int c = 0; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        k->rt_off = calloc((size_t)k->n_neurons + 1, sizeof *k->rt_off);
        if (!k->rt_off) st = NOMEM(err);
    }
    /* pass 1: input axons per core, deduplicated per (projection, source neuron) */
    int32_t *seen = NULL;
    int64_t seen_cap = 0;
    for (int c = 1; c < b->n_cores && !st; c++) st = axons_of_core(b, c, loc, &seen, &seen_cap, err);
    free(seen);
    /* counts -> offsets (rt_off[i] = the first route of neuron i); the limits; the route arrays */
    for (int c = 0; c < b->n_cores && !st; c++) {
        stc_core_t *k = &b->cores[c];
        int64_t sum = 0;
        for (int i = 0; i <= k->n_neurons; i++) sum += k->rt_off[i];
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
        for (int i = 0; i < k->n_neurons; i++) k->rt_off[i + 1] += k->rt_off[i]; /* fits: sum checked */
        k->n_routes = k->rt_off[k->n_neurons];
        k->routes = malloc((size_t)(k->n_routes ? k->n_routes : 1) * sizeof *k->routes);
        if (!k->routes) st = NOMEM(err);
    }
    /* pass 2: the axons again, core by core and in order, so that each
     * neuron's routes come by destination core, then axon; rt_off[i] is
     * neuron i's cursor and ends at the first route of neuron i + 1 */
    for (int c = 1; c < b->n_cores && !st; c++) {
        const stc_core_t *k = &b->cores[c];
        for (int32_t a = 0; a < k->n_axons; a++) {
            const int32_t *l = &loc[b->projs[k->axons[a].proj].src][2 * (int64_t)k->axons[a].src];
            stc_core_t *sc = &b->cores[l[0]];
            sc->routes[sc->rt_off[l[1]]++] = (stc_route_t){c, a};
        }
    }
    for (int c = 0; c < b->n_cores && !st; c++) { /* the cursors back to the starts */
        stc_core_t *k = &b->cores[c];
        if (k->n_neurons) memmove(k->rt_off + 1, k->rt_off, (size_t)k->n_neurons * sizeof *k->rt_off);
        k->rt_off[0] = 0;
    }
    for (int s = 0; s < b->n_stages; s++) free(loc[s]);
    free(loc);
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

