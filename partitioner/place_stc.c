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
 *      total; passes repeat until one gains less than 0.2%.
 *   3. whole chips exchange places (a cluster in the wrong part of the
 *      topology, which core moves cannot fix), then cores again, while that
 *      gains.
 * The same search also starts from METIS's clusters laid along the path by
 * their pipeline position, and from Scotch's mapping: the libraries are the
 * engine of the first step where their clustering wins, and the best refined
 * placement is kept.
 * Routes are the topology's dimension-ordered routes (stc_topology_hops).
 * SPDX-License-Identifier: MIT
 */
#include "stc_partition.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PASSES 50
#define MIN_PASS_GAIN 0.002 /* a pass that gains less than this share of the total ends the search */
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

static double hop_weighted(const ctx_t *c, const int *chip_of) {
    const stc_pgraph_t *g = c->g;
    double h = 0;
    for (int u = 0; u < g->n; u++)
        for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++)
            if (g->adj[e] > u) h += g->traffic[e] * hops(c, chip_of[u], chip_of[g->adj[e]]);
    return h;
}

typedef struct {
    int *load, *first, *list, *cand;
    char *seen;
} work_t;

/* 2. moves and swaps towards the chips of a core's neighbours, pass after
 * pass, until a pass gains less than MIN_PASS_GAIN of the total. */
static void refine(const ctx_t *c, int cores_per_chip, int *chip_of, work_t *W) {
    const stc_pgraph_t *g = c->g;
    int n = g->n, chips = c->chips;
    int *load = W->load, *first = W->first, *list = W->list, *cand = W->cand;
    char *seen = W->seen;
    memset(load, 0, (size_t)chips * sizeof *load);
    for (int i = 0; i < n; i++) load[chip_of[i]]++;
    double total = hop_weighted(c, chip_of);
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        double gained = 0;
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
                double gm = move_gain(c, chip_of, u, to);
                if (load[to] < cores_per_chip && gm < best) best = gm, best_to = to, best_w = -1;
                /* a swap with a core w of chip `to` */
                for (int k = first[to]; k < first[to + 1]; k++) {
                    int w = list[k];
                    if (chip_of[w] != to) continue; /* moved earlier in this pass */
                    double gs = gm + move_gain(c, chip_of, w, chip_of[u]) +
                                2 * edge_weight(g, u, w) * hops(c, chip_of[u], to);
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
            gained -= best;
        }
        if (gained <= MIN_PASS_GAIN * total) break;
        total -= gained;
    }
}

/* Whole chips exchange places (the contents of chip p go to q's place and
 * back, or to an empty chip) while that lowers the hop-weighted traffic: the
 * move a core-by-core search cannot make, a cluster that sits in the wrong
 * part of the topology.  Needs the hop table. */
static void swap_chips(const ctx_t *c, int *chip_of) {
    const stc_pgraph_t *g = c->g;
    int chips = c->chips, n = g->n;
    if (!c->dist) return;
    double *M = calloc((size_t)chips * chips, sizeof *M);
    int *perm = malloc((size_t)chips * sizeof *perm);
    if (!M || !perm) {
        free(M), free(perm);
        return;
    }
    for (int u = 0; u < n; u++)
        for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++)
            M[(int64_t)chip_of[u] * chips + chip_of[g->adj[e]]] += g->traffic[e]; /* symmetric: both arcs */
    for (int i = 0; i < chips; i++) perm[i] = i; /* contents of chip i now sit at perm[i] */
    const int *d = c->dist;
    for (int round = 0, improved = 1; improved && round < 100; round++) {
        improved = 0;
        for (int p = 0; p < chips; p++)
            for (int q = p + 1; q < chips; q++) {
                double delta = 0;
                for (int k = 0; k < chips; k++) {
                    if (k == p || k == q) continue;
                    double mp = M[(int64_t)p * chips + k], mq = M[(int64_t)q * chips + k];
                    if (mp == 0 && mq == 0) continue;
                    int pk = perm[k];
                    delta += (mp - mq) * (d[(int64_t)perm[q] * chips + pk] - d[(int64_t)perm[p] * chips + pk]);
                }
                if (delta < -1e-9) {
                    int t = perm[p];
                    perm[p] = perm[q], perm[q] = t;
                    improved = 1;
                }
            }
    }
    for (int u = 0; u < n; u++) chip_of[u] = perm[chip_of[u]];
    free(M), free(perm);
}

/* METIS's parts laid along the path, in the order of their mean pipeline position. */
typedef struct {
    double pos;
    int part;
} part_pos_t;
static int part_pos_cmp(const void *x, const void *y) {
    const part_pos_t *a = x, *b = y;
    return (a->pos > b->pos) - (a->pos < b->pos);
}
static int parts_along_path(int n, int chips, const int *order, int *chip_of) {
    part_pos_t *pp = calloc((size_t)chips, sizeof *pp);
    int *cnt = calloc((size_t)chips, sizeof *cnt), *to = malloc((size_t)chips * sizeof *to);
    if (!pp || !cnt || !to) {
        free(pp), free(cnt), free(to);
        return 1;
    }
    for (int i = 0; i < n; i++) pp[chip_of[i]].pos += i, cnt[chip_of[i]]++;
    int np = 0;
    for (int p = 0; p < chips; p++)
        if (cnt[p]) pp[np].pos = pp[p].pos / cnt[p], pp[np++].part = p;
    qsort(pp, (size_t)np, sizeof *pp, part_pos_cmp);
    for (int r = 0; r < np; r++) to[pp[r].part] = order[r];
    for (int i = 0; i < n; i++) chip_of[i] = to[chip_of[i]];
    free(pp), free(cnt), free(to);
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
    int *order = malloc((size_t)chips * sizeof *order), *try = malloc((size_t)n * sizeof *try);
    work_t W = {calloc((size_t)chips, sizeof(int)), calloc((size_t)chips + 1, sizeof(int)),
                malloc((size_t)n * sizeof(int)), malloc((size_t)chips * sizeof(int)), calloc((size_t)chips, 1)};
    stc_status_t st = (!order || !try || !W.load || !W.first || !W.list || !W.cand || !W.seen)
                          ? stc_err_set(err, STC_E_NOMEM, "stc placement: out of memory")
                          : STC_OK;
    /* three starts, each refined; the best is kept:
     *   the pipeline dealt in order along the path, evenly over `need` chips;
     *   METIS's clusters (communication volume) laid along the path by pipeline position;
     *   Scotch's mapping onto the topology */
    double best = -1;
    for (int start = 0; start < 3 && !st; start++) {
        stc_err_t quiet = {0};
        if (start == 0) {
            chip_path(t, order);
            for (int i = 0, k = 0; k < need; k++) {
                int take = n / need + (k < n % need);
                for (int j = 0; j < take; j++, i++) try[i] = order[k];
            }
        } else if (start == 1) {
            if (stc_place_metis(g, t, cores_per_chip, try, &quiet) || parts_along_path(n, chips, order, try)) continue;
        } else if (stc_place_scotch(g, t, cores_per_chip, try, &quiet)) {
            continue;
        }
        refine(&c, cores_per_chip, try, &W);
        double h = hop_weighted(&c, try);
        for (int round = 0; round < 5; round++) { /* chips, then cores again, while it pays */
            swap_chips(&c, try);
            refine(&c, cores_per_chip, try, &W);
            double h2 = hop_weighted(&c, try);
            int done = h2 > h * (1 - MIN_PASS_GAIN);
            h = h2;
            if (done) break;
        }
        stc_log(STC_LOG_DEBUG, "place", "start %d: hop-weighted %.0f", start, h);
        if (best < 0 || h < best) {
            best = h;
            memcpy(chip_of, try, (size_t)n * sizeof *chip_of);
        }
    }
    free(W.load), free(W.first), free(W.list), free(W.cand), free(W.seen);
    free(try);
    free(order);
    free(c.dist);
    return st;
}
