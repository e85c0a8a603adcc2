/* place_stc.c - stc's own placement of cores onto chips: the pipeline laid along a path, then refined.
 *
 * The lowering emits cores in pipeline order (stage by stage), and almost all
 * of a spiking transformer's traffic runs between consecutive stages (and
 * along the residual stream).  So:
 *   1. chips are visited along a path that keeps consecutive chips adjacent
 *      (a snake through a mesh or torus, board after board in a hierarchy),
 *      and the cores are dealt onto the first ceil(n / capacity) chips of that
 *      path in order, as evenly as the capacity allows;
 *   2. local search lowers the hop-weighted traffic (sum over edges of spikes
 *      x route hops): a core moves to a chip of one of its neighbours if that
 *      chip has room, or swaps with a core there, whenever that lowers the
 *      total; passes repeat until none helps (or a pass limit).
 * Routes are the topology's dimension-ordered routes (stc_topology_hops).
 * SPDX-License-Identifier: MIT
 */
#include "stc_partition.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PASSES 50
#define DIST_TABLE_MAX_CHIPS 2048 /* a chips x chips hop table up to this size (16 MB) */

typedef struct {
    const stc_pgraph_t *g;
    const stc_topology_t *t;
    int chips;
    int *dist;      /* chips x chips hops, or NULL */
} ctx_t;

static int hops(const ctx_t *c, int a, int b) {
    return c->dist ? c->dist[(int64_t)a * c->chips + b] : stc_topology_hops(c->t, a, b);
}

/* The chips in path order: consecutive entries are neighbours where the topology allows. */
static void chip_path(const stc_topology_t *t, int *order) {
    int n = stc_topology_chips(t), dims[STC_TOPO_MAX_DIMS] = {1, 1, 1};
    int nd = stc_topology_dims(t, dims);
    if (stc_topology_kind(t) == STC_TOPO_HIER || nd < 2) {
        for (int i = 0; i < n; i++) order[i] = i;
        return;
    }
    int X = dims[0], Y = dims[1], Z = nd > 2 ? dims[2] : 1, k = 0;
    for (int z = 0; z < Z; z++)
        for (int yy = 0; yy < Y; yy++) {
            int y = (z & 1) ? Y - 1 - yy : yy; /* snake through the layers too */
            int fwd = ((yy + z * Y) & 1) == 0;
            for (int xx = 0; xx < X; xx++) {
                int x = fwd ? xx : X - 1 - xx;
                order[k++] = x + X * (y + Y * z);
            }
        }
}

/* Change of the hop-weighted traffic if core u moves from its chip to chip c. */
static double move_gain(const ctx_t *c, const int *chip_of, int u, int to) {
    const stc_pgraph_t *g = c->g;
    int from = chip_of[u];
    double d = 0;
    for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++) {
        int w = chip_of[g->adj[e]];
        d += g->traffic[e] * (double)(hops(c, to, w) - hops(c, from, w));
    }
    return d;
}

static double edge_weight(const stc_pgraph_t *g, int u, int v) {
    for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++)
        if (g->adj[e] == v) return g->traffic[e];
    return 0;
}

stc_status_t stc_place_stc(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                           stc_err_t *err) {
    int chips = stc_topology_chips(t), n = g->n;
    int need = (n + cores_per_chip - 1) / cores_per_chip;
    if (need > chips)
        return stc_err_set(err, STC_E_LIMIT, "the model needs %d chips (%d cores, %d per chip); %s has %d", need, n,
                           cores_per_chip, stc_topology_name(t), chips);
    ctx_t c = {g, t, chips, NULL};
    if (chips <= DIST_TABLE_MAX_CHIPS) {
        c.dist = malloc((size_t)chips * chips * sizeof *c.dist);
        if (c.dist)
            for (int a = 0; a < chips; a++)
                for (int b = 0; b < chips; b++) c.dist[(int64_t)a * chips + b] = stc_topology_hops(t, a, b);
    }
    int *order = malloc((size_t)chips * sizeof *order);
    int *load = calloc((size_t)chips, sizeof *load);
    int *first = calloc((size_t)chips + 1, sizeof *first), *list = malloc((size_t)n * sizeof *list);
    if (!order || !load || !first || !list) { /* first/list: the cores of each chip at the start of a pass */
        free(c.dist), free(order), free(load), free(first), free(list);
        return stc_err_set(err, STC_E_NOMEM, "stc placement: out of memory");
    }
    /* 1. deal the cores in pipeline order along the path, evenly over `need` chips */
    chip_path(t, order);
    for (int i = 0, k = 0; k < need; k++) {
        int take = n / need + (k < n % need);
        for (int j = 0; j < take; j++, i++) chip_of[i] = order[k];
    }
    for (int i = 0; i < n; i++) load[chip_of[i]]++;
    /* 2. moves and swaps towards the chips of a core's neighbours */
    int *cand = malloc((size_t)chips * sizeof *cand);
    char *seen = calloc((size_t)chips, 1);
    stc_status_t st = (!cand || !seen) ? stc_err_set(err, STC_E_NOMEM, "stc placement: out of memory") : STC_OK;
    for (int pass = 0; pass < MAX_PASSES && !st; pass++) {
        int improved = 0;
        memset(first, 0, (size_t)(chips + 1) * sizeof *first);
        for (int i = 0; i < n; i++) first[chip_of[i] + 1]++;
        for (int i = 0; i < chips; i++) first[i + 1] += first[i];
        memcpy(cand, first, (size_t)chips * sizeof *cand); /* cursors */
        for (int i = 0; i < n; i++) list[cand[chip_of[i]]++] = i;
        for (int u = 0; u < n; u++) {
            int nc = 0;
            for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++) {
                int ch = chip_of[g->adj[e]];
                if (ch != chip_of[u] && !seen[ch]) seen[ch] = 1, cand[nc++] = ch;
            }
            for (int i = 0; i < nc; i++) seen[cand[i]] = 0;
            double best = -1e-9;
            int best_to = -1, best_w = -1;
            for (int i = 0; i < nc; i++) {
                int to = cand[i];
                double gm = move_gain(&c, chip_of, u, to);
                if (load[to] < cores_per_chip && gm < best) best = gm, best_to = to, best_w = -1;
                /* a swap with a core w of chip `to` */
                for (int k = first[to]; k < first[to + 1]; k++) {
                    int w = list[k];
                    if (chip_of[w] != to) continue; /* moved earlier in this pass */
                    double gs = gm + move_gain(&c, chip_of, w, chip_of[u]) +
                                2 * edge_weight(g, u, w) * hops(&c, chip_of[u], to);
                    if (gs < best) best = gs, best_to = to, best_w = w;
                }
            }
            if (best_to < 0) continue;
            int from = chip_of[u];
            if (best_w >= 0) {
                chip_of[best_w] = from;
            } else {
                load[from]--;
                load[best_to]++;
            }
            chip_of[u] = best_to;
            improved = 1;
        }
        if (!improved) break;
    }
    free(first);
    free(list);
    free(cand);
    free(seen);
    free(order);
    free(load);
    free(c.dist);
    return st;
}
