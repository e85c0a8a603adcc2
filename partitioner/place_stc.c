/* place_stc.c - stc's own placement of cores onto chips: the pipeline laid along a path, refined, then annealed.
 *
 * The lowering emits cores in pipeline order (stage by stage), and almost all
 * of a spiking transformer's traffic runs between consecutive stages (and
 * along the residual stream).  So:
 *   1. chips are visited along a path that keeps consecutive chips adjacent
 *      (in a mesh or torus a snake through the most compact box at its
 *      corner that holds ceil(n / capacity) chips, 4x2 of an 8x8 for 8
 *      chips, then through the rest; board after board in a hierarchy),
 *      and the cores are dealt onto the first ceil(n / capacity) chips of that
 *      path in order, as evenly as the capacity allows;
 *   2. local search lowers the weighted traffic (sum over edges of spikes x
 *      weighted route length, below): a core moves to a chip of one of its
 *      neighbours if that chip has room, or swaps with a core there, whenever
 *      that lowers the total; passes repeat until one gains less than 0.2%.
 *   3. whole chips exchange places (a cluster in the wrong part of the
 *      topology, which core moves cannot fix), then cores again, while that
 *      gains.
 * The same search also starts from METIS's clusters laid along the path by
 * their pipeline position, and from Scotch's mapping: the libraries are the
 * engine of the first step where their clustering wins.  On graphs of more
 * than REFINE_STARTS_MAX_CORES cores the starts are not refined (the search
 * costs seconds there, and step 4 melts any start).
 *   4. simulated annealing from the best start: a random core moves to the
 *      chip of a random neighbour (now and then to a chip next to it, which
 *      reaches the empty chips), or swaps with a random core there when that
 *      chip is full (and in ANNEAL_P_SWAP of the other proposals); a change
 *      that costs d more is taken with probability exp(-d / T), T falling
 *      geometrically from ANNEAL_T_HIGH to ANNEAL_T_LOW times a core's mean
 *      traffic over ANNEAL_STEPS steps.  The schedule starts hot enough to
 *      forget the start (the clusters form again on the way down, shaped by
 *      the topology), and the iterations are a fixed number per core (capped
 *      on big graphs), with a fixed seed: the same graph always gives the same
 *      placement.  Spikes are integers in the annealing (scaled to 31 bits),
 *      so the running total is exact.  Steps 2 and 3 then polish the best
 *      state it passed through, and the best of it and the starts is kept.
 * On Spikformer-8-768 the annealing lowered the hop-weighted traffic by 14 to
 * 17% against the refined starts alone.
 *   5. if the busiest link takes longer per inference than the compute,
 *      place_links.c spreads its load (stc_place_links).
 * Every step keeps the cores on the fewest chips that hold them, ceil(n /
 * cores per chip): a start on more (Scotch's spreads over every chip) is not
 * taken, and the annealing moves a core into an empty chip only when that
 * empties its own.  A chip's static power over one inference outweighs the
 * spikes a wider placement saves by far (on Spikformer-8-768, 0.83 J per
 * chip against some 13 mJ for all its chip-to-chip spike hops); traffic
 * alone spread it over 31 chips where 26 hold it.
 * A mesh or torus more than twice that compact box along some dimension is
 * searched in a window at its corner twice the box: the annealing enters an
 * empty chip whenever it empties one, so on a wide grid the cores drifted
 * apart (8 chips' worth on mesh:8x8 or 64x64 came out 13% worse than on
 * mesh:2x4).  A graph of at most REFINE_STARTS_MAX_CORES cores on a grid is
 * also searched in the box alone, and the better of the two is kept.
 * Routes are the topology's dimension-ordered routes, and a route's length is
 * weighted: each link weighs w = cost / (the cheapest positive link cost) +
 * (the highest link bandwidth) / its bandwidth, a dimensionless sum of the
 * energy a spike spends on the link and the link time it takes, so a dear or
 * slow link (a board-to-board cable, hier:8x4's level 1) counts for more
 * than a chip hop.  Weights are integers: each term is capped at
 * WEIGHT_MAX_RATIO (2^15: a link 1e6 times dearer than the cheapest weighs as
 * if it were 2^15 times), so w <= 2^16; the lightest link is WEIGHT_UNIT (16)
 * units, every link round(16 w / w_lightest) <= 2^20 units, and all are then
 * divided by their greatest common divisor.  So on a uniform mesh, torus or
 * topology file every link weighs 1 and the weighted length is the hop count
 * (the placement is exactly the one by hops), a route within a table of
 * DIST_TABLE_MAX_CHIPS chips (at most 2,047 links) weighs below 2^31, and a
 * 31-bit spike count times a route stays below 2^62 (the annealing's scale of
 * spikes keeps its whole total within 2^62 too).  The annealing's
 * temperatures are per lightest link.  If every link costs 0 the length is
 * the hop count.
 * "Weighted traffic" below is sum over edges of spikes x weighted route length.
 * SPDX-License-Identifier: MIT
 */
#include "stc_partition.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PASSES 50
#define MIN_PASS_GAIN 0.002 /* a pass that gains less than this share of the total ends the search */
#define DIST_TABLE_MAX_CHIPS 2048 /* a chips x chips table of weighted lengths up to this size (16 MB) */
#define WEIGHT_UNIT 16            /* the lightest link's weight, before the common divisor */
#define WEIGHT_MAX_RATIO 32768.0  /* cap of cost / cheapest and of fastest / bandwidth */
#define REFINE_STARTS_MAX_CORES 2048 /* larger graphs anneal from the best unrefined start */
/* The annealing (step 4).  Temperatures are in units of a core's mean traffic
 * (all spikes of all edges, both ends, over the cores). */
#define ANNEAL_ITERS_PER_CORE 15000 /* proposals per core */
#define ANNEAL_MAX_ARC_VISITS 6e9   /* ...at most this many proposals x the mean degree (some 8 s) */
#define ANNEAL_STEPS 200
#define ANNEAL_T_HIGH 5.0
#define ANNEAL_T_LOW 0.005
#define ANNEAL_P_SWAP 0.2   /* a swap rather than a move into a chip with room */
#define ANNEAL_P_NEAR 0.1   /* the neighbour's chip replaced by one next to it */
#define ANNEAL_SEED 0x243f6a8885a308d3ull

typedef struct {
    const stc_pgraph_t *g;
    const stc_topology_t *t;
    int chips;
    int *dist;      /* chips x chips weighted route lengths, or NULL */
    int budget;     /* the most chips a placement may use: the fewest that hold the cores */
    const int *lw;  /* per link: its weight in units, or NULL: every link weighs 1 (the hop count) */
    int lw_min;     /* the lightest link's weight (1 when lw is NULL): the annealing's unit */
    int *route, route_cap; /* scratch: a route's link ids, for lengths without the table */
    int *near, *near_first; /* with the table: CSR of the chips one link away from each chip */
    const int *glob; /* the search's chip i is the topology's chip glob[i] (a window), or NULL: the same */
} ctx_t;

static int chip_of_topo(const ctx_t *c, int i) { return c->glob ? c->glob[i] : i; }

/* Chips holding at least one core. */
static int chips_used(const ctx_t *c, const int *chip_of, char *seen) {
    int k = 0;
    memset(seen, 0, (size_t)c->chips);
    for (int u = 0; u < c->g->n; u++) k += !seen[chip_of[u]], seen[chip_of[u]] = 1;
    memset(seen, 0, (size_t)c->chips);
    return k;
}

/* The weighted length of the route from chip a to chip b (the hop count if every link weighs 1). */
static int64_t route_len(const ctx_t *c, int a, int b) {
    if (!c->lw) return stc_topology_hops(c->t, chip_of_topo(c, a), chip_of_topo(c, b));
    a = chip_of_topo(c, a), b = chip_of_topo(c, b);
    int k = stc_topology_route(c->t, a, b, c->route, c->route_cap);
    if (k > c->route_cap) k = c->route_cap; /* cannot happen: route_cap bounds every route */
    int64_t s = 0;
    for (int i = 0; i < k; i++) s += c->lw[c->route[i]];
    return s;
}

static int64_t length(const ctx_t *c, int a, int b) {
    return c->dist ? c->dist[(int64_t)a * c->chips + b] : route_len(c, a, b);
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t r = a % b;
        a = b, b = r;
    }
    return a;
}

/* Each link's weight (see the top of the file) into lw (n_links entries).
 * Returns the lightest link's weight, or 0 when every link weighs the same
 * or costs 0 (lengths are then hop counts). */
static int link_weights(const stc_topology_t *t, int *lw) {
    int nl = stc_topology_n_links(t);
    double cmin = 0, bwmax = 0;
    for (int i = 0; i < nl; i++) {
        const stc_link_t *k = stc_topology_link(t, i);
        if (k->cost > 0 && (cmin == 0 || k->cost < cmin)) cmin = k->cost;
        if (k->bandwidth > bwmax) bwmax = k->bandwidth;
    }
    if (nl == 0 || cmin == 0 || !(bwmax > 0)) return 0;
    double wmin = 0;
    for (int i = 0; i < nl; i++) {
        const stc_link_t *k = stc_topology_link(t, i);
        double wc = k->cost / cmin, wb = k->bandwidth > 0 ? bwmax / k->bandwidth : WEIGHT_MAX_RATIO;
        double w = (wc < WEIGHT_MAX_RATIO ? wc : WEIGHT_MAX_RATIO) + (wb < WEIGHT_MAX_RATIO ? wb : WEIGHT_MAX_RATIO);
        if (i == 0 || w < wmin) wmin = w;
    }
    int64_t g = 0, lo = 0;
    int same = 1;
    for (int i = 0; i < nl; i++) {
        const stc_link_t *k = stc_topology_link(t, i);
        double wc = k->cost / cmin, wb = k->bandwidth > 0 ? bwmax / k->bandwidth : WEIGHT_MAX_RATIO;
        double w = (wc < WEIGHT_MAX_RATIO ? wc : WEIGHT_MAX_RATIO) + (wb < WEIGHT_MAX_RATIO ? wb : WEIGHT_MAX_RATIO);
        lw[i] = (int)llround(WEIGHT_UNIT * w / wmin); /* 16 .. 16 x 2^16 */
        if (lw[i] < 1) lw[i] = 1;
        g = gcd64(g, lw[i]);
        same &= lw[i] == lw[0];
    }
    if (same) return 0;
    for (int i = 0; i < nl; i++) {
        lw[i] = (int)(lw[i] / g);
        lo = i == 0 || lw[i] < lo ? lw[i] : lo;
    }
    return (int)lo;
}

/* The extents of a box of the grid {X, Y, Z} holding at least `need` chips, as
 * near a square or cube as the extents allow: the smallest sum of extents,
 * then the fewest chips, then the longest along X, then along Y. */
static void compact_box(const int *dims, int need, int *box) {
    int best = -1;
    int64_t best_area = 0;
    box[0] = dims[0], box[1] = dims[1], box[2] = dims[2];
    for (int bz = 1; bz <= dims[2]; bz++)
        for (int by = 1; by <= dims[1]; by++) {
            int64_t layer = (int64_t)by * bz;
            int bx = (int)((need + layer - 1) / layer);
            if (bx < 1) bx = 1;
            if (bx > dims[0]) continue;
            int sum = bx + by + bz;
            int64_t area = layer * bx;
            if (best < 0 || sum < best || (sum == best && area < best_area) ||
                (sum == best && area == best_area && (bx > box[0] || (bx == box[0] && by > box[1]))))
                best = sum, best_area = area, box[0] = bx, box[1] = by, box[2] = bz;
            if (bx == 1) break; /* a taller box only adds chips */
        }
}

/* The chips in path order: consecutive entries are neighbours where the
 * topology allows.  A grid (mesh or torus, or the window of one the search
 * works in: extents {X, Y, Z}) is walked first through a compact box at its
 * corner that holds the `need` chips the cores fill (a snake in it), then the
 * rest of the grid (the snake through all of it, skipping the box); a
 * hierarchy (grid NULL) board after board. */
static void chip_path(const int *grid, int chips, int need, int *order) {
    if (!grid) {
        for (int i = 0; i < chips; i++) order[i] = i;
        return;
    }
    int X = grid[0], Y = grid[1], Z = grid[2], k = 0, box[3];
    compact_box(grid, need > 0 ? need : 1, box);
    for (int pass = 0; pass < 2; pass++) {
        int bx = pass ? X : box[0], by = pass ? Y : box[1], bz = pass ? Z : box[2];
        for (int z = 0; z < bz; z++)
            for (int yy = 0; yy < by; yy++) {
                int y = (z & 1) ? by - 1 - yy : yy; /* snake through the layers too */
                int fwd = ((yy + z * by) & 1) == 0;
                for (int xx = 0; xx < bx; xx++) {
                    int x = fwd ? xx : bx - 1 - xx;
                    if (pass && x < box[0] && y < box[1] && z < box[2]) continue; /* in the box: done */
                    order[k++] = x + X * (y + Y * z);
                }
            }
    }
}

/* Change of the weighted traffic if core u moves from its chip to chip c. */
static double move_gain(const ctx_t *c, const int *chip_of, int u, int to) {
    const stc_pgraph_t *g = c->g;
    int from = chip_of[u];
    double d = 0;
    for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++) {
        int w = chip_of[g->adj[e]];
        d += g->traffic[e] * (double)(length(c, to, w) - length(c, from, w));
    }
    return d;
}

static double edge_weight(const stc_pgraph_t *g, int u, int v) {
    for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++)
        if (g->adj[e] == v) return g->traffic[e];
    return 0;
}

static double weighted(const ctx_t *c, const int *chip_of) {
    const stc_pgraph_t *g = c->g;
    double h = 0;
    for (int u = 0; u < g->n; u++)
        for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++)
            if (g->adj[e] > u) h += g->traffic[e] * length(c, chip_of[u], chip_of[g->adj[e]]);
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
    double total = weighted(c, chip_of);
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
                                2 * edge_weight(g, u, w) * length(c, chip_of[u], to);
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
 * back, or to an empty chip) while that lowers the weighted traffic: the
 * move a core-by-core search cannot make, a cluster that sits in the wrong
 * part of the topology.  Needs the table of lengths. */
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

/* Steps 2 and 3: core moves and swaps, then whole chips and cores again while that pays. */
static void local_search(const ctx_t *c, int cores_per_chip, int *chip_of, work_t *W) {
    refine(c, cores_per_chip, chip_of, W);
    double h = weighted(c, chip_of);
    for (int round = 0; round < 5; round++) {
        swap_chips(c, chip_of);
        refine(c, cores_per_chip, chip_of, W);
        double h2 = weighted(c, chip_of);
        int done = h2 > h * (1 - MIN_PASS_GAIN);
        h = h2;
        if (done) break;
    }
}

/* ------------------------------------------------------------ 4. annealing */

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }
static int rng_below(uint64_t *s, int64_t k) { return (int)(rng_next(s) % (uint64_t)k); }

typedef struct {
    int32_t v;  /* neighbour */
    uint32_t w; /* spikes, scaled */
} arc_t;

typedef struct {
    const ctx_t *c;
    const int64_t *xadj;
    arc_t *arc;
    int *chip_of, *load, *mem, *slot; /* mem: chip k's cores at mem[k * cap ...], slot: a core's index there */
    const int *near, *near_first;     /* CSR: the chips one link from each chip (the context's) */
    int cap;
    int used, budget;                 /* chips holding cores; the most allowed */
} anneal_t;

/* The change of the (scaled) weighted traffic if core u moves to chip b
 * and core w (or -1) of chip b moves to u's chip. */
static int64_t anneal_delta(const anneal_t *A, int u, int b, int w) {
    const int *chip_of = A->chip_of;
    int a = chip_of[u], chips = A->c->chips;
    const int *da = A->c->dist + (int64_t)a * chips, *db = A->c->dist + (int64_t)b * chips;
    int64_t d = 0, wuw = 0;
    for (const arc_t *p = A->arc + A->xadj[u], *q = A->arc + A->xadj[u + 1]; p < q; p++) {
        int x = chip_of[p->v];
        d += (int64_t)p->w * (db[x] - da[x]);
        if (p->v == w) wuw = p->w;
    }
    if (w < 0) return d;
    for (const arc_t *p = A->arc + A->xadj[w], *q = A->arc + A->xadj[w + 1]; p < q; p++) {
        int x = chip_of[p->v];
        d += (int64_t)p->w * (da[x] - db[x]);
    }
    return d + 2 * wuw * db[a]; /* the edge u-w keeps its length: both sums counted it as shortened */
}

static void anneal_apply(anneal_t *A, int u, int b, int w) {
    int a = A->chip_of[u], su = A->slot[u], cap = A->cap;
    if (w >= 0) {
        int sw = A->slot[w];
        A->mem[(int64_t)a * cap + su] = w, A->slot[w] = su, A->chip_of[w] = a;
        A->mem[(int64_t)b * cap + sw] = u, A->slot[u] = sw, A->chip_of[u] = b;
        return;
    }
    A->used += !A->load[b] - (A->load[a] == 1);
    int last = A->mem[(int64_t)a * cap + --A->load[a]];
    A->mem[(int64_t)a * cap + su] = last, A->slot[last] = su;
    A->slot[u] = A->load[b], A->mem[(int64_t)b * cap + A->load[b]++] = u, A->chip_of[u] = b;
}

/* The scaled weighted traffic of the current state. */
static int64_t anneal_total(const anneal_t *A, int n) {
    int64_t h = 0;
    for (int u = 0; u < n; u++)
        for (int64_t e = A->xadj[u]; e < A->xadj[u + 1]; e++)
            if (A->arc[e].v > u)
                h += (int64_t)A->arc[e].w * A->c->dist[(int64_t)A->chip_of[u] * A->c->chips + A->chip_of[A->arc[e].v]];
    return h;
}

/* Step 4: chip_of (a valid placement) becomes the best state the annealing
 * passes through.  Returns nonzero if out of memory (chip_of unchanged). */
static int anneal(const ctx_t *c, int cores_per_chip, int *chip_of) {
    const stc_pgraph_t *g = c->g;
    int n = g->n, chips = c->chips;
    int64_t m = g->xadj[n];
    if (!c->dist || !c->near || n < 2 || chips < 2 || m == 0) return 0;
    anneal_t A = {c, g->xadj, NULL, NULL, NULL, NULL, NULL, NULL, NULL, cores_per_chip < n ? cores_per_chip : n,
                  0, c->budget};
    int *best = malloc((size_t)n * sizeof *best);
    A.arc = malloc((size_t)m * sizeof *A.arc);
    A.chip_of = malloc((size_t)n * sizeof *A.chip_of);
    A.load = calloc((size_t)chips, sizeof *A.load);
    A.mem = malloc((size_t)chips * A.cap * sizeof *A.mem);
    A.slot = malloc((size_t)n * sizeof *A.slot);
    A.near = c->near, A.near_first = c->near_first;
    if (!best || !A.arc || !A.chip_of || !A.load || !A.mem || !A.slot) {
        free(best), free(A.arc), free(A.chip_of), free(A.load), free(A.mem), free(A.slot);
        return 1;
    }
    /* spikes as integers: the largest edge at 2^31 - 1, and the total x the longest route within 2^62 */
    double wmax = 0, wsum = 0;
    int dmax = 1;
    for (int64_t e = 0; e < m; e++) wmax = g->traffic[e] > wmax ? g->traffic[e] : wmax, wsum += g->traffic[e];
    for (int64_t i = 0; i < (int64_t)chips * chips; i++) dmax = c->dist[i] > dmax ? c->dist[i] : dmax;
    double scale = wmax > 0 ? 2147483647.0 / wmax : 1;
    if (wsum * scale * dmax > 4.6e18) scale = 4.6e18 / (wsum * dmax);
    int64_t wint = 0;
    for (int64_t e = 0; e < m; e++) {
        A.arc[e].v = g->adj[e];
        A.arc[e].w = (uint32_t)(g->traffic[e] * scale + 0.5);
        wint += A.arc[e].w;
    }
    memcpy(A.chip_of, chip_of, (size_t)n * sizeof *chip_of);
    memcpy(best, chip_of, (size_t)n * sizeof *best);
    for (int u = 0; u < n; u++) {
        int a = chip_of[u];
        A.used += !A.load[a];
        A.slot[u] = A.load[a];
        A.mem[(int64_t)a * A.cap + A.load[a]++] = u;
    }
    double t_unit = (double)wint / n * c->lw_min; /* a core's mean traffic, scaled, over the lightest link */
    int64_t iters = (int64_t)ANNEAL_ITERS_PER_CORE * n;
    double cap_iters = ANNEAL_MAX_ARC_VISITS / ((double)m / n);
    if ((double)iters > cap_iters) iters = (int64_t)cap_iters;
    int64_t per = iters / ANNEAL_STEPS > 0 ? iters / ANNEAL_STEPS : 1;
    int64_t cur = anneal_total(&A, n), best_h = cur;
    uint64_t seed = ANNEAL_SEED, near_cut = (uint64_t)(ANNEAL_P_NEAR * 65536);
    for (int step = 0; step < ANNEAL_STEPS; step++) {
        double T = t_unit * ANNEAL_T_HIGH * pow(ANNEAL_T_LOW / ANNEAL_T_HIGH, (double)step / (ANNEAL_STEPS - 1));
        for (int64_t it = 0; it < per; it++) {
            int u = rng_below(&seed, n);
            int64_t deg = g->xadj[u + 1] - g->xadj[u];
            if (!deg) continue;
            int a = A.chip_of[u], b = A.chip_of[A.arc[g->xadj[u] + rng_below(&seed, deg)].v];
            if ((rng_next(&seed) & 0xffff) < near_cut && A.near_first[b + 1] > A.near_first[b])
                b = A.near[A.near_first[b] + rng_below(&seed, A.near_first[b + 1] - A.near_first[b])];
            if (b == a || (!A.load[b] && A.used >= A.budget && A.load[a] > 1)) continue; /* no chip over the budget */
            int w = -1;
            if (A.load[b] >= A.cap || (A.load[b] && rng_unit(&seed) < ANNEAL_P_SWAP))
                w = A.mem[(int64_t)b * A.cap + rng_below(&seed, A.load[b])];
            int64_t d = anneal_delta(&A, u, b, w);
            if (d > 0 && ((double)d > 30 * T || rng_unit(&seed) >= exp(-(double)d / T))) continue;
            anneal_apply(&A, u, b, w);
            cur += d;
        }
        if (cur < best_h) {
            best_h = cur;
            memcpy(best, A.chip_of, (size_t)n * sizeof *best);
        }
    }
    stc_log(STC_LOG_DEBUG, "place", "annealing: %lld proposals, weighted %.0f", (long long)(per * ANNEAL_STEPS),
            (double)best_h / scale);
    memcpy(chip_of, best, (size_t)n * sizeof *chip_of);
    free(best), free(A.arc), free(A.chip_of), free(A.load), free(A.mem), free(A.slot);
    return 0;
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

/* A placement on the topology's chips as the window's (its grid: extents
 * wd); nonzero, chip_of unusable, if a core sits outside the window. */
static int to_window(const ctx_t *c, const int *wd, int n, int *chip_of) {
    if (!c->glob) return 0;
    for (int u = 0; u < n; u++) {
        int co[STC_TOPO_MAX_DIMS] = {0, 0, 0};
        stc_topology_coords(c->t, chip_of[u], co);
        if (co[0] >= wd[0] || co[1] >= wd[1] || co[2] >= wd[2]) return 1;
        chip_of[u] = co[0] + wd[0] * (co[1] + wd[1] * co[2]);
    }
    return 0;
}

/* The view's table of weighted lengths and its chips one link apart
 * (c->dist, c->near, c->near_first), if it has at most DIST_TABLE_MAX_CHIPS
 * chips and the memory is there; else none (lengths route by route, no
 * annealing, no chip exchanges). */
static void build_table(ctx_t *c) {
    int chips = c->chips;
    c->dist = NULL, c->near = NULL, c->near_first = NULL;
    if (chips > DIST_TABLE_MAX_CHIPS) return;
    c->dist = malloc((size_t)chips * chips * sizeof *c->dist);
    c->near_first = calloc((size_t)chips + 1, sizeof *c->near_first);
    int n_near = 0, cap_near = chips;
    c->near = malloc((size_t)cap_near * sizeof *c->near);
    for (int a = 0; c->dist && c->near_first && c->near && a < chips; a++)
        for (int b = 0; b < chips; b++) {
            int h = stc_topology_route(c->t, chip_of_topo(c, a), chip_of_topo(c, b), c->route, c->route_cap);
            int64_t len = h;
            if (c->lw) {
                len = 0;
                for (int i = 0; i < h && i < c->route_cap; i++) len += c->lw[c->route[i]];
            }
            c->dist[(int64_t)a * chips + b] = (int)len;
            if (h != 1) continue;
            if (n_near == cap_near) {
                int *bigger = realloc(c->near, (size_t)cap_near * 2 * sizeof *bigger);
                if (!bigger) {
                    free(c->near), c->near = NULL;
                    break;
                }
                c->near = bigger, cap_near *= 2;
            }
            c->near[n_near++] = b;
            c->near_first[a + 1]++;
        }
    if (!c->dist || !c->near_first || !c->near) {
        free(c->dist), free(c->near_first), free(c->near);
        c->dist = NULL, c->near_first = NULL, c->near = NULL;
        return;
    }
    for (int a = 0; a < chips; a++) c->near_first[a + 1] += c->near_first[a];
}

/* Steps 1-4 on one view of the topology (all of it, or a box of a grid at
 * its corner: c->glob, c->chips, extents `grid`; NULL for a hierarchy).
 * metis and scotch: their placements on the topology, or NULL.  chip_of
 * receives the best placement in the view's chips, *best its weighted
 * traffic (-1 if no start fits the budget). */
static stc_status_t search(ctx_t *c, const int *grid, int cores_per_chip, const int *metis, const int *scotch,
                           int *chip_of, double *best, stc_err_t *err) {
    const stc_pgraph_t *g = c->g;
    int n = g->n, chips = c->chips, need = c->budget;
    *best = -1;
    build_table(c);
    int *order = malloc((size_t)chips * sizeof *order), *try = malloc((size_t)n * sizeof *try);
    work_t W = {calloc((size_t)chips, sizeof(int)), calloc((size_t)chips + 1, sizeof(int)),
                malloc((size_t)n * sizeof(int)), malloc((size_t)chips * sizeof(int)), calloc((size_t)chips, 1)};
    stc_status_t st = (!order || !try || !W.load || !W.first || !W.list || !W.cand || !W.seen)
                          ? stc_err_set(err, STC_E_NOMEM, "stc placement: out of memory")
                          : STC_OK;
    /* three starts, each refined (on graphs up to REFINE_STARTS_MAX_CORES cores); the best is kept:
     *   the pipeline dealt in order along the path, evenly over `need` chips;
     *   METIS's clusters (communication volume) laid along the path by pipeline position;
     *   Scotch's mapping onto the topology (if it lies in the view) */
    int refine_starts = n <= REFINE_STARTS_MAX_CORES || !c->dist;
    for (int start = 0; start < 3 && !st; start++) {
        if (start == 0) {
            chip_path(grid, chips, need, order);
            for (int i = 0, k = 0; k < need; k++) {
                int take = n / need + (k < n % need);
                for (int j = 0; j < take; j++, i++) try[i] = order[k];
            }
        } else if (start == 1) {
            if (!metis) continue;
            memcpy(try, metis, (size_t)n * sizeof *try);
            if (parts_along_path(n, chips, order, try)) continue;
        } else {
            if (!scotch) continue;
            memcpy(try, scotch, (size_t)n * sizeof *try);
            if (to_window(c, grid, n, try)) continue;
        }
        if (refine_starts) local_search(c, cores_per_chip, try, &W);
        double h = weighted(c, try);
        int used = chips_used(c, try, W.seen);
        stc_log(STC_LOG_DEBUG, "place", "start %d: weighted %.0f on %d chips%s", start, h, used,
                used > c->budget ? ", more than the fewest: not taken" : "");
        if (used > c->budget) continue;
        if (*best < 0 || h < *best) {
            *best = h;
            memcpy(chip_of, try, (size_t)n * sizeof *chip_of);
        }
    }
    /* 4. the annealing from the best start, polished; kept if it is better */
    if (!st && *best >= 0) {
        memcpy(try, chip_of, (size_t)n * sizeof *try);
        if (anneal(c, cores_per_chip, try)) {
            st = stc_err_set(err, STC_E_NOMEM, "stc placement: out of memory");
        } else {
            local_search(c, cores_per_chip, try, &W);
            double h = weighted(c, try);
            stc_log(STC_LOG_DEBUG, "place", "annealed: weighted %.0f", h);
            if (h < *best) {
                *best = h;
                memcpy(chip_of, try, (size_t)n * sizeof *chip_of);
            }
        }
    }
    free(W.load), free(W.first), free(W.list), free(W.cand), free(W.seen);
    free(try), free(order);
    free(c->dist), free(c->near), free(c->near_first);
    c->dist = NULL, c->near = NULL, c->near_first = NULL;
    return st;
}

/* A box of the grid (extents `grid`) at its corner, extents wd: the
 * topology's chip of each of the box's (x fastest). */
static int *box_chips(const int *grid, const int *wd) {
    int *glob = malloc((size_t)wd[0] * wd[1] * wd[2] * sizeof *glob);
    if (glob)
        for (int z = 0, i = 0; z < wd[2]; z++)
            for (int y = 0; y < wd[1]; y++)
                for (int x = 0; x < wd[0]; x++) glob[i++] = x + grid[0] * (y + grid[1] * z);
    return glob;
}

stc_status_t stc_place_stc(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                           stc_err_t *err) {
    int chips = stc_topology_chips(t), n = g->n;
    int need = (n + cores_per_chip - 1) / cores_per_chip;
    if (need > chips)
        return stc_err_set(err, STC_E_LIMIT, "the model needs %d chips (%d cores, %d per chip); %s has %d", need, n,
                           cores_per_chip, stc_topology_name(t), chips);
    ctx_t c = {g, t, chips, NULL, need, NULL, 1, NULL, 0, NULL, NULL, NULL};
    int nl = stc_topology_n_links(t), dims[STC_TOPO_MAX_DIMS] = {1, 1, 1};
    int nd = stc_topology_dims(t, dims);
    int is_grid = stc_topology_kind(t) != STC_TOPO_HIER && nd >= 2, grid[3] = {dims[0], dims[1], nd > 2 ? dims[2] : 1};
    int *lw = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *lw);
    int *metis = malloc((size_t)(n > 0 ? n : 1) * sizeof *metis), *scotch = malloc((size_t)(n > 0 ? n : 1) * sizeof *scotch);
    int *other = malloc((size_t)(n > 0 ? n : 1) * sizeof *other);
    c.route_cap = 2 * STC_TOPO_MAX_DIMS + 1; /* bounds a hierarchy's routes ... */
    for (int d = 0; d < nd; d++) c.route_cap += dims[d]; /* ... and a mesh's or torus's */
    c.route = malloc((size_t)c.route_cap * sizeof *c.route);
    stc_status_t st = STC_OK;
    if (!lw || !c.route || !metis || !scotch || !other) {
        st = stc_err_set(err, STC_E_NOMEM, "stc placement on '%s': out of memory", stc_topology_name(t));
        goto out;
    }
    int lw_min = link_weights(t, lw);
    if (lw_min > 0) c.lw = lw, c.lw_min = lw_min;
    stc_err_t quiet = {0};
    int has_metis = !stc_place_metis(g, t, cores_per_chip, metis, &quiet);
    int has_scotch = !stc_place_scotch(g, t, cores_per_chip, scotch, &quiet);
    /* The views searched: a hierarchy, and a grid that is at most twice the
     * compact box holding `need` chips along each dimension, whole; a larger
     * grid in a window at its corner twice that box (the annealing enters an
     * empty chip whenever it empties one, so on a wide grid the cores drift
     * apart; the window keeps them within reach).  A graph of at most
     * REFINE_STARTS_MAX_CORES cores on a grid is then searched in the box
     * alone as well (the annealing is cheap there, and the densest
     * arrangement is often the best one), and the better of the two is kept
     * (the first on a tie). */
    int box[3] = {1, 1, 1}, wd[3] = {1, 1, 1}, views = 1;
    int64_t wn = chips;
    if (is_grid) {
        compact_box(grid, need > 0 ? need : 1, box);
        wn = 1;
        for (int d = 0; d < 3; d++) wd[d] = 2 * box[d] < grid[d] ? 2 * box[d] : grid[d], wn *= wd[d];
        views = (int64_t)box[0] * box[1] * box[2] < wn && n <= REFINE_STARTS_MAX_CORES ? 2 : 1;
    }
    double best = -1;
    for (int v = 0; v < views && !st; v++) {
        const int *ext = v ? box : wn < chips ? wd : grid;
        int *glob = NULL;
        if (wn < chips && !(glob = box_chips(grid, ext))) {
            st = stc_err_set(err, STC_E_NOMEM, "stc placement on '%s': out of memory", stc_topology_name(t));
            break;
        }
        c.glob = glob, c.chips = glob ? ext[0] * ext[1] * ext[2] : chips;
        double h;
        int *dst = v ? other : chip_of;
        st = search(&c, is_grid ? ext : NULL, cores_per_chip, has_metis ? metis : NULL, has_scotch ? scotch : NULL,
                    dst, &h, err);
        if (!st && glob)
            for (int u = 0; u < n; u++) dst[u] = glob[dst[u]];
        free(glob);
        c.glob = NULL;
        if (st || h < 0) continue;
        stc_log(STC_LOG_DEBUG, "place", "%s %dx%dx%d: weighted %.0f", v ? "box" : "window", ext[0], ext[1], ext[2], h);
        if (v && (best < 0 || h < best)) memcpy(chip_of, other, (size_t)n * sizeof *chip_of);
        if (best < 0 || h < best) best = h;
    }
    /* 5. the busiest link, if it sets the latency (place_links.c) */
    if (!st && best >= 0) st = stc_place_links(g, t, cores_per_chip, chip_of, err);
out:
    free(lw), free(c.route), free(metis), free(scotch), free(other);
    return st;
}
