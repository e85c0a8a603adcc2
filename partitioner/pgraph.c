/* pgraph.c - the placement graph of a cut bundle: cores, their work, the spikes between them.
 *
 * A route exists for every (source neuron, destination core, projection)
 * where the destination core holds a slice whose source box (the neurons the
 * projection brings to it) contains the neuron: the tables (tables.c) build
 * exactly one input axon and one route for each.  So the graph comes from the
 * cut alone, without the tables: per projection and destination core, the
 * union of its slices' source boxes (disjoint rectangles in (channel, row)),
 * intersected with every slice of the source stage, times the source stage's
 * firing rate.  Summed per pair of cores and made symmetric, that is the
 * traffic the placement must keep short; the host port (core 0) is not
 * placed.  Routes within a core carry nothing between cores and are left out.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_partition.h"
#include "stc_target.h"
#include "box_union.h"

#include <stdlib.h>
#include <string.h>


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

stc_status_t stc_pgraph_from_bundle(const stc_bundle_t *b, const stc_target_t *t, const double *stage_rate,
                                    stc_pgraph_t *g, stc_err_t *err) {
    memset(g, 0, sizeof *g);
    int n = b->n_cores - 1;
    if (n < 1) return stc_err_set(err, STC_E_USAGE, "placement graph: the bundle has no chip cores");
    g->n = n;
    g->work = calloc((size_t)n + 1, sizeof *g->work);
    g->xadj = calloc((size_t)n + 1, sizeof *g->xadj);
    /* slices by stage: (core, slice) pairs */
    int64_t n_sl = 0;
    for (int c = 1; c <= n; c++) n_sl += b->cores[c].n_slices;
    int *first = calloc((size_t)b->n_stages + 1, sizeof *first);
    int32_t *sl_core = malloc((size_t)(n_sl + 1) * sizeof *sl_core);
    const stc_slice_t **sl = malloc((size_t)(n_sl + 1) * sizeof *sl);
    int max_per = 1; /* most slices of one stage on one core */
    stc_box_t *bx = NULL;
    rect_t *rc = NULL;
    int *cut = NULL;
    iv_t *iv = NULL;
    edge_t *e = NULL;
    int64_t ne = 0, cap = 0;
    stc_status_t st = (!g->work || !g->xadj || !first || !sl_core || !sl)
                          ? stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory")
                          : STC_OK;
    if (!st) {
        double *w = malloc((size_t)b->n_cores * sizeof *w);
        if (!w || stc_cores_work(b, t, stage_rate, w, NULL, err)) st = w ? err->status : stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory");
        else memcpy(g->work, w + 1, (size_t)n * sizeof *w);
        free(w);
        double wmax = 0;
        for (int v = 0; !st && v < n; v++) wmax = g->work[v] > wmax ? g->work[v] : wmax;
        g->compute_s = b->ticks * (wmax + t->time_barrier_ns) * 1e-9;
        g->static_w = t->static_power_w;
    }
    if (!st) {
        for (int c = 1; c <= n; c++)
            for (int i = 0; i < b->cores[c].n_slices; i++) first[b->cores[c].slices[i].stage + 1]++;
        for (int s = 0; s < b->n_stages; s++) first[s + 1] += first[s];
        int *cur = malloc((size_t)b->n_stages * sizeof *cur);
        if (!cur) st = stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory");
        else {
            memcpy(cur, first, (size_t)b->n_stages * sizeof *cur);
            for (int c = 1; c <= n; c++) {
                const stc_core_t *k = &b->cores[c];
                for (int i = 0; i < k->n_slices; i++) {
                    int s = k->slices[i].stage, same = 1;
                    sl_core[cur[s]] = c, sl[cur[s]++] = &k->slices[i];
                    for (int j = i + 1; j < k->n_slices; j++) same += k->slices[j].stage == s;
                    if (same > max_per) max_per = same;
                }
            }
            free(cur);
        }
    }
    if (!st) {
        bx = malloc((size_t)max_per * sizeof *bx);
        rc = malloc((size_t)max_per * 2 * max_per * sizeof *rc + sizeof *rc);
        cut = malloc((size_t)max_per * 2 * sizeof *cut);
        iv = malloc((size_t)max_per * sizeof *iv);
        if (!bx || !rc || !cut || !iv) st = stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory");
    }
    /* for every projection and destination core: routes from every source slice */
    for (int pi = 0; pi < b->n_projs && !st; pi++) {
        const stc_proj_t *p = &b->projs[pi];
        const stc_stage_t *src = &b->stages[p->src];
        double rate = stage_rate ? stage_rate[p->src] : STC_STATIC_SPIKE_RATE * b->T;
        if (rate <= 0) rate = 1e-12; /* a route that exists is an edge, even if silent */
        for (int i = first[p->dst]; i < first[p->dst + 1] && !st;) {
            int d = sl_core[i], nb = 0;
            for (; i < first[p->dst + 1] && sl_core[i] == d; i++) bx[nb++] = stc_bundle_src_box(b, p, sl[i]);
            int nr = box_union(bx, nb, rc, cut, iv);
            for (int j = first[p->src]; j < first[p->src + 1] && !st; j++) {
                int c = sl_core[j];
                if (c == d) continue;
                const stc_slice_t *S = sl[j];
                int64_t cnt = 0;
                for (int r = 0; r < nr; r++) {
                    int c0 = rc[r].c0 > S->c0 ? rc[r].c0 : S->c0, c1 = rc[r].c1 < S->c1 ? rc[r].c1 : S->c1;
                    int y0 = rc[r].y0 > S->y0 ? rc[r].y0 : S->y0, y1 = rc[r].y1 < S->y1 ? rc[r].y1 : S->y1;
                    if (c1 > c0 && y1 > y0) cnt += (int64_t)(c1 - c0) * (y1 - y0) * src->w;
                }
                if (!cnt) continue;
                if (ne == cap) {
                    cap = cap ? 2 * cap : 1024;
                    edge_t *q = realloc(e, (size_t)cap * sizeof *e);
                    if (!q) {
                        st = stc_err_set(err, STC_E_NOMEM, "placement graph: out of memory");
                        break;
                    }
                    e = q;
                }
                int u = c - 1, v = d - 1;
                e[ne++] = (edge_t){u < v ? u : v, u < v ? v : u, rate * (double)cnt};
            }
        }
    }
    free(first);
    free(sl_core);
    free(sl);
    free(bx);
    free(rc);
    free(cut);
    free(iv);
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
    free(e);
    if (st) stc_pgraph_free(g);
    return st;
}
