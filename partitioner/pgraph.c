/* pgraph.c - the placement graph of a compiled bundle: cores, their work, the spikes between them.
 *
 * Every route of the bundle (a source neuron to an input axon of another core)
 * carries, per inference, the firing rate of the source neuron's stage.
 * Summed per pair of cores and made symmetric, that is the traffic the
 * placement must keep short; the host port (core 0) is not placed.  Routes
 * within a core carry nothing between cores and are left out.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_partition.h"

#include <stdlib.h>
#include <string.h>

#define STATIC_RATE 0.1 /* spikes per neuron per timestep without measurements */

typedef struct {
    int32_t u, v; /* u < v, vertex ids */
    double w;
} edge_t;

static int edge_cmp(const void *x, const void *y) {
    const edge_t *a = x, *b = y;
    if (a->u != b->u) return a->u < b->u ? -1 : 1;
    return (a->v > b->v) - (a->v < b->v);
}

void stc_pgraph_free(stc_pgraph_t *g) {
    if (!g) return;
    free(g->work);
    free(g->xadj);
    free(g->adj);
    free(g->traffic);
    memset(g, 0, sizeof *g);
}

stc_status_t stc_pgraph_from_bundle(const stc_bundle_t *b, const double *stage_rate, const double *core_work,
                                    double time_neuron_ns, stc_pgraph_t *g, stc_err_t *err) {
    memset(g, 0, sizeof *g);
    int n = b->n_cores - 1;
    if (n < 1) return stc_err_set(err, STC_E_USAGE, "placement graph: the bundle has no chip cores");
    g->n = n;
    g->work = calloc((size_t)n, sizeof *g->work);
    g->xadj = calloc((size_t)n + 1, sizeof *g->xadj);
    double *acc = calloc((size_t)n, sizeof *acc);   /* traffic from the current core, by destination */
    int32_t *nb = malloc((size_t)n * sizeof *nb);   /* destinations touched */
    edge_t *e = NULL;
    int64_t ne = 0, cap = 0;
    stc_status_t st = (!g->work || !g->xadj || !acc || !nb) ? stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory")
                                                            : STC_OK;
    for (int c = 1; c <= n && !st; c++) {
        const stc_core_t *k = &b->cores[c];
        g->work[c - 1] = core_work ? core_work[c] : (double)k->n_neurons * time_neuron_ns;
        int nn = 0, neuron = 0;
        for (int s = 0; s < k->n_slices; s++) {
            const stc_slice_t *sl = &k->slices[s];
            const stc_stage_t *sg = &b->stages[sl->stage];
            double rate = stage_rate ? stage_rate[sl->stage] : STATIC_RATE * b->T;
            int cnt = (sl->c1 - sl->c0) * (sl->y1 - sl->y0) * sg->w;
            for (int i = 0; i < cnt; i++, neuron++)
                for (int32_t r = k->rt_off[neuron]; r < k->rt_off[neuron + 1]; r++) {
                    int d = k->routes[r].core;
                    if (d == c || d == 0) continue;
                    if (acc[d - 1] == 0) nb[nn++] = d - 1;
                    acc[d - 1] += rate > 0 ? rate : 1e-12; /* a route that exists is an edge, even if silent */
                }
        }
        for (int i = 0; i < nn && !st; i++) {
            if (ne == cap) {
                cap = cap ? 2 * cap : 1024;
                edge_t *p = realloc(e, (size_t)cap * sizeof *e);
                if (!p) {
                    st = stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory");
                    break;
                }
                e = p;
            }
            int u = c - 1, v = nb[i];
            e[ne++] = (edge_t){u < v ? u : v, u < v ? v : u, acc[v]};
            acc[v] = 0;
        }
    }
    /* one edge per pair: both directions summed */
    int64_t m = 0;
    if (!st && ne) {
        qsort(e, (size_t)ne, sizeof *e, edge_cmp);
        for (int64_t i = 0; i < ne; i++) {
            if (m && e[m - 1].u == e[i].u && e[m - 1].v == e[i].v) e[m - 1].w += e[i].w;
            else e[m++] = e[i];
        }
    }
    if (!st) {
        g->adj = malloc((size_t)(2 * m + 1) * sizeof *g->adj);
        g->traffic = malloc((size_t)(2 * m + 1) * sizeof *g->traffic);
        if (!g->adj || !g->traffic) st = stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory");
    }
    if (!st) {
        for (int64_t i = 0; i < m; i++) g->xadj[e[i].u + 1]++, g->xadj[e[i].v + 1]++;
        for (int i = 0; i < n; i++) g->xadj[i + 1] += g->xadj[i];
        int64_t *cur = malloc((size_t)n * sizeof *cur);
        if (!cur) st = stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory");
        else {
            memcpy(cur, g->xadj, (size_t)n * sizeof *cur);
            for (int64_t i = 0; i < m; i++) {
                g->adj[cur[e[i].u]] = e[i].v, g->traffic[cur[e[i].u]++] = e[i].w;
                g->adj[cur[e[i].v]] = e[i].u, g->traffic[cur[e[i].v]++] = e[i].w;
            }
            free(cur);
        }
    }
    free(acc);
    free(nb);
    free(e);
    if (st) stc_pgraph_free(g);
    return st;
}
