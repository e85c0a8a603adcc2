/* place_links.c - the last step of stc's placement: relieve the busiest link when it, not the cores, sets the latency.
 *
 * Steps 1-4 (place_stc.c) minimise a sum, spikes x weighted route length.
 * Weighing a slow link makes them cross it less in all, but nothing spreads
 * what still crosses over several links: on a torus whose Y links are slow
 * they put every crossing on one.  An inference cannot finish before its
 * busiest link has carried its spikes (that link's time: spikes per inference
 * over its bandwidth), and while it drains every chip in use burns static
 * power.  So when that link time exceeds the inference's compute time
 * (g->compute_s: ticks x the busiest core's tick), this step lowers the
 * energy of an inference as the partition report estimates it, less the
 * synaptic and neuron terms no placement changes:
 *
 *     E = sum over links of spikes x cost
 *         + static power per chip x chips used x max(compute time, busiest link's time)
 *
 * Each round takes the best change of the first kind that lowers E, or, if
 * none does, of the second (the first kind is cheap and aimed at the link;
 * the second searches widely):
 *   a. one of the LINK_CANDIDATES cores with the most spikes over the busiest
 *      link moves to another chip in use that has room, or swaps with one of
 *      at most LINK_SWAPS cores spread over such a chip;
 *   b. two chips exchange places, all their cores with them (or a chip moves
 *      to an empty place), which moves whole crossings to other links.
 * A change that leaves E as it is (within 1e-9) but lowers the sum over links
 * of their time squared (a load spread more evenly) is also taken: the
 * busiest of several equal links only falls once the others have.  Neither
 * kind takes a chip into use, so the placement stays on the fewest chips.
 * Link loads are counted as stc_place_evaluate counts them: the edge u-v
 * (u < v) takes the dimension-ordered route from u's chip to v's.  The step
 * does nothing when the busiest link does not set the latency or the static
 * power is unknown (g->static_w = 0): E then falls with the link energy
 * alone, which steps 1-4 already weigh.  Chip exchanges are tried on
 * topologies of at most LINK_MAX_CHIPS chips.  The step ends after
 * LINK_MAX_ROUNDS changes or LINK_MAX_WORK units of work, a unit being a
 * route computed or a link scanned (a round's search for the cores on the
 * busiest link routes every edge, a core's change its edges, a chip
 * exchange every pair of chips that exchange spikes and then every link):
 * some seconds at most.
 * SPDX-License-Identifier: MIT
 */
#include "stc_partition.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LINK_CANDIDATES 16  /* cores tried per round: those with the most spikes over the busiest link */
#define LINK_SWAPS 8        /* swap partners tried per chip */
#define LINK_MAX_CHIPS 1024 /* chip exchanges only on topologies up to this size */
#define LINK_MAX_WORK 50000000 /* routes computed plus links scanned */
#define LINK_MAX_ROUNDS 2000

typedef struct {
    double time; /* spikes over bandwidth, s per inference */
    int link;
} lt_t;

typedef struct {
    double tr; /* spikes per inference from chip a to chip b (the lower core's chip first) */
    int a, b;
} pair_t;

typedef struct {
    const stc_pgraph_t *g;
    const stc_topology_t *t;
    int n_links, chips, cap;
    double *load;         /* per link: spikes per inference */
    double *inv_bw, *cost; /* per link: 1 / bandwidth (0 if it has none), pJ per spike */
    double *dl;           /* scratch: per link, the change of a proposal */
    char *mark;           /* scratch: link touched by the proposal */
    int *touched, nt;
    int *route, route_cap;
    int *count;           /* cores per chip */
    lt_t *by_time;        /* links by their current time, busiest first */
    int used;
    double e_link;        /* sum over links of load x cost, pJ */
    double s2;            /* sum over links of (load / bandwidth)^2 */
    int64_t evals, work; /* changes tried; routes computed plus links scanned (the budget) */
} lk_t;

static int by_time_cmp(const void *x, const void *y) {
    const lt_t *a = x, *b = y;
    if (a->time != b->time) return a->time < b->time ? 1 : -1;
    return (a->link > b->link) - (a->link < b->link);
}

/* Adds w spikes to every link of the route from chip a to chip b, into the proposal's changes. */
static void route_add(lk_t *L, int a, int b, double w) {
    if (a == b || w == 0) return;
    int k = stc_topology_route(L->t, a, b, L->route, L->route_cap);
    if (k > L->route_cap) k = L->route_cap; /* cannot happen: route_cap bounds every route */
    for (int i = 0; i < k; i++) {
        int l = L->route[i];
        if (!L->mark[l]) L->mark[l] = 1, L->touched[L->nt++] = l;
        L->dl[l] += w;
    }
}

static void clear_proposal(lk_t *L) {
    for (int i = 0; i < L->nt; i++) L->dl[L->touched[i]] = 0, L->mark[L->touched[i]] = 0;
    L->nt = 0;
}

/* E in pJ (see the top of the file) with the proposal's changes and `used`
 * chips; *s2 the sum over links of their time squared, which breaks ties. */
static double energy(const lk_t *L, int used, double *s2) {
    double e = L->e_link, tmax = 0;
    *s2 = L->s2;
    for (int i = 0; i < L->nt; i++) {
        int l = L->touched[i];
        e += L->dl[l] * L->cost[l];
        double x = (L->load[l] + L->dl[l]) * L->inv_bw[l], x0 = L->load[l] * L->inv_bw[l];
        *s2 += x * x - x0 * x0;
        tmax = x > tmax ? x : tmax;
    }
    for (int i = 0; i < L->n_links; i++) /* the busiest link the proposal leaves alone */
        if (!L->mark[L->by_time[i].link]) {
            tmax = L->by_time[i].time > tmax ? L->by_time[i].time : tmax;
            break;
        }
    double s = tmax > L->g->compute_s ? tmax : L->g->compute_s;
    return e + L->g->static_w * used * s * 1e12;
}

/* (e, s2) lower than (be, bs2): E first, the spread of the link times on a tie. */
static int better(double e, double s2, double be, double bs2) {
    double tol = 1e-9 * fabs(be);
    return e < be - tol || (e <= be + tol && s2 < bs2 * (1 - 1e-9));
}

/* The proposal: core u goes to chip b and core w (or -1) of chip b to u's chip. */
static void propose_move(lk_t *L, const int *chip_of, int u, int b, int w) {
    const stc_pgraph_t *g = L->g;
    int a = chip_of[u];
    for (int pass = 0; pass < (w >= 0 ? 2 : 1); pass++) {
        int x = pass ? w : u, other = pass ? u : w, from = pass ? b : a, to = pass ? a : b;
        for (int64_t e = g->xadj[x]; e < g->xadj[x + 1]; e++) {
            int v = g->adj[e], cv = chip_of[v];
            if (v == other) continue;
            if (x < v) route_add(L, from, cv, -g->traffic[e]), route_add(L, to, cv, g->traffic[e]);
            else route_add(L, cv, from, -g->traffic[e]), route_add(L, cv, to, g->traffic[e]);
        }
    }
    if (w < 0) return;
    for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++) /* the edge u-w: both ends change chips */
        if (g->adj[e] == w) {
            double tr = g->traffic[e];
            if (u < w) route_add(L, a, b, -tr), route_add(L, b, a, tr);
            else route_add(L, b, a, -tr), route_add(L, a, b, tr);
        }
}

/* Takes the proposal into the state. */
static void commit(lk_t *L) {
    for (int i = 0; i < L->nt; i++) {
        int l = L->touched[i];
        double x0 = L->load[l] * L->inv_bw[l];
        L->load[l] += L->dl[l];
        if (L->load[l] < 0) L->load[l] = 0; /* rounding */
        L->e_link += L->dl[l] * L->cost[l];
        L->s2 += L->load[l] * L->inv_bw[l] * L->load[l] * L->inv_bw[l] - x0 * x0;
    }
    clear_proposal(L);
    for (int l = 0; l < L->n_links; l++) L->by_time[l] = (lt_t){L->load[l] * L->inv_bw[l], l};
    qsort(L->by_time, (size_t)L->n_links, sizeof *L->by_time, by_time_cmp);
}

/* Loads from scratch for chip_of into the proposal (the state's loads at 0). */
static void loads_of(lk_t *L, const int *chip_of) {
    const stc_pgraph_t *g = L->g;
    clear_proposal(L);
    for (int u = 0; u < g->n; u++)
        for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++)
            if (g->adj[e] > u) route_add(L, chip_of[u], chip_of[g->adj[e]], g->traffic[e]);
}

/* The traffic between chips, as np pairs in `pr` (room for chips x chips;
 * `cell`, chips x chips, is scratch left at -1). */
static int chip_pairs(const lk_t *L, const int *chip_of, pair_t *pr, int *cell) {
    const stc_pgraph_t *g = L->g;
    int np = 0;
    for (int u = 0; u < g->n; u++)
        for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++) {
            int v = g->adj[e], a = chip_of[u], b = chip_of[v];
            if (v <= u || a == b) continue;
            int *k = &cell[(int64_t)a * L->chips + b];
            if (*k < 0) *k = np, pr[np++] = (pair_t){0, a, b};
            pr[*k].tr += g->traffic[e];
        }
    for (int i = 0; i < np; i++) cell[(int64_t)pr[i].a * L->chips + pr[i].b] = -1;
    return np;
}

/* E (pJ) if every chip's cores moved to place perm[chip]: the loads in `pl` (scratch, n_links). */
static double energy_swapped(const lk_t *L, const pair_t *pr, int np, const int *perm, double *pl, double *s2) {
    memset(pl, 0, (size_t)L->n_links * sizeof *pl);
    for (int i = 0; i < np; i++) {
        int k = stc_topology_route(L->t, perm[pr[i].a], perm[pr[i].b], L->route, L->route_cap);
        for (int j = 0; j < k && j < L->route_cap; j++) pl[L->route[j]] += pr[i].tr;
    }
    double e = 0, tmax = 0;
    *s2 = 0;
    for (int l = 0; l < L->n_links; l++) {
        double x = pl[l] * L->inv_bw[l];
        e += pl[l] * L->cost[l];
        *s2 += x * x;
        tmax = x > tmax ? x : tmax;
    }
    return e + L->g->static_w * L->used * (tmax > L->g->compute_s ? tmax : L->g->compute_s) * 1e12;
}

stc_status_t stc_place_links(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                             stc_err_t *err) {
    int n = g->n, chips = stc_topology_chips(t), nl = stc_topology_n_links(t), dims[STC_TOPO_MAX_DIMS] = {1, 1, 1};
    if (!(g->static_w > 0) || n < 2 || nl < 1) return STC_OK;
    lk_t L;
    memset(&L, 0, sizeof L);
    L.g = g, L.t = t, L.n_links = nl, L.chips = chips, L.cap = cores_per_chip;
    L.route_cap = 2 * STC_TOPO_MAX_DIMS + 1;
    int nd = stc_topology_dims(t, dims);
    for (int d = 0; d < nd; d++) L.route_cap += dims[d];
    L.load = calloc((size_t)nl, sizeof *L.load), L.inv_bw = calloc((size_t)nl, sizeof *L.inv_bw);
    L.cost = calloc((size_t)nl, sizeof *L.cost), L.dl = calloc((size_t)nl, sizeof *L.dl);
    L.mark = calloc((size_t)nl, 1), L.touched = malloc((size_t)nl * sizeof *L.touched);
    L.by_time = malloc((size_t)nl * sizeof *L.by_time), L.route = malloc((size_t)L.route_cap * sizeof *L.route);
    L.count = calloc((size_t)chips, sizeof *L.count);
    double *cross = calloc((size_t)n, sizeof *cross), *pl = malloc((size_t)nl * sizeof *pl);
    int swaps = chips <= LINK_MAX_CHIPS; /* chip exchanges (their chips x chips scratch once the step runs) */
    pair_t *pr = NULL;
    int *cell = NULL;
    int *cand = malloc(LINK_CANDIDATES * sizeof *cand), *first = calloc((size_t)chips + 1, sizeof *first);
    int *list = malloc((size_t)n * sizeof *list), *perm = malloc((size_t)chips * sizeof *perm);
    stc_status_t st = STC_OK;
    if (!L.load || !L.inv_bw || !L.cost || !L.dl || !L.mark || !L.touched || !L.by_time || !L.route || !L.count ||
        !cross || !pl || !cand || !first || !list || !perm) {
        st = stc_err_set(err, STC_E_NOMEM, "stc placement on '%s': out of memory", stc_topology_name(t));
        goto out;
    }
    for (int l = 0; l < nl; l++) {
        const stc_link_t *k = stc_topology_link(t, l);
        L.inv_bw[l] = k->bandwidth > 0 ? 1 / k->bandwidth : 0;
        L.cost[l] = k->cost;
    }
    for (int u = 0; u < n; u++) L.used += !L.count[chip_of[u]]++;
    loads_of(&L, chip_of);
    commit(&L);
    double t0 = L.by_time[0].time;
    if (!(t0 > g->compute_s)) goto out;
    if (swaps) { /* the chips x chips scratch of the chip exchanges, now that the step runs */
        pr = malloc((size_t)chips * chips * sizeof *pr), cell = malloc((size_t)chips * chips * sizeof *cell);
        if (!pr || !cell) {
            st = stc_err_set(err, STC_E_NOMEM, "stc placement on '%s': out of memory", stc_topology_name(t));
            goto out;
        }
        for (int64_t i = 0; i < (int64_t)chips * chips; i++) cell[i] = -1;
    }
    double s2_cur, e_cur = energy(&L, L.used, &s2_cur), e0 = e_cur;
    int rounds = 0;
    for (; rounds < LINK_MAX_ROUNDS && L.work < LINK_MAX_WORK; rounds++) {
        int busiest = L.by_time[0].link;
        double best = e_cur, best_s2 = s2_cur, s2;
        int bp = -1, bq = -1, bu = -1, bb = -1, bw = -1;
        /* a. the cores with the most spikes over the busiest link, to other chips in use */
        memset(cross, 0, (size_t)n * sizeof *cross);
        L.work += g->xadj[n] / 2;
        for (int u = 0; u < n; u++)
            for (int64_t e = g->xadj[u]; e < g->xadj[u + 1]; e++) {
                int v = g->adj[e];
                if (v <= u || chip_of[u] == chip_of[v]) continue;
                int k = stc_topology_route(t, chip_of[u], chip_of[v], L.route, L.route_cap);
                for (int i = 0; i < k && i < L.route_cap; i++)
                    if (L.route[i] == busiest) cross[u] += g->traffic[e], cross[v] += g->traffic[e];
            }
        int nc = 0; /* the LINK_CANDIDATES cores with the most, largest first */
        for (int u = 0; u < n; u++) {
            if (!(cross[u] > 0) || (nc == LINK_CANDIDATES && cross[cand[nc - 1]] >= cross[u])) continue;
            int i = nc < LINK_CANDIDATES ? nc++ : nc - 1;
            for (; i > 0 && cross[cand[i - 1]] < cross[u]; i--) cand[i] = cand[i - 1];
            cand[i] = u;
        }
        memset(first, 0, (size_t)(chips + 1) * sizeof *first);
        for (int u = 0; u < n; u++) first[chip_of[u] + 1]++;
        for (int c = 0; c < chips; c++) first[c + 1] += first[c];
        memcpy(perm, first, (size_t)chips * sizeof *perm); /* cursors */
        for (int u = 0; u < n; u++) list[perm[chip_of[u]]++] = u;
        for (int ci = 0; ci < nc && L.work < LINK_MAX_WORK; ci++) {
            int u = cand[ci], a = chip_of[u];
            for (int b = 0; b < chips && L.work < LINK_MAX_WORK; b++) {
                int k = L.count[b];
                if (b == a || !k) continue;
                if (k < L.cap) {
                    propose_move(&L, chip_of, u, b, -1);
                    double e = energy(&L, L.used - (L.count[a] == 1), &s2);
                    clear_proposal(&L);
                    L.evals++, L.work += 2 * (g->xadj[u + 1] - g->xadj[u]);
                    if (better(e, s2, best, best_s2)) best = e, best_s2 = s2, bu = u, bb = b, bw = -1;
                }
                int step = (k + LINK_SWAPS - 1) / LINK_SWAPS; /* at most LINK_SWAPS partners, spread */
                for (int j = 0; j < k && L.work < LINK_MAX_WORK; j += step) {
                    int w = list[first[b] + j];
                    propose_move(&L, chip_of, u, b, w);
                    double e = energy(&L, L.used, &s2);
                    clear_proposal(&L);
                    L.evals++, L.work += 2 * (g->xadj[u + 1] - g->xadj[u] + g->xadj[w + 1] - g->xadj[w]);
                    if (better(e, s2, best, best_s2)) best = e, best_s2 = s2, bu = u, bb = b, bw = w;
                }
            }
        }
        /* b. when no core's change gains: chip exchanges, perm swapping places p and q (p in use) */
        if (bu < 0 && swaps) {
            int np = chip_pairs(&L, chip_of, pr, cell);
            L.work += g->xadj[n] / 2;
            for (int i = 0; i < chips; i++) perm[i] = i;
            for (int p = 0; p < chips && L.work < LINK_MAX_WORK; p++) {
                if (!L.count[p]) continue;
                for (int q = 0; q < chips && L.work < LINK_MAX_WORK; q++) {
                    if (q == p || (L.count[q] && q < p)) continue;
                    perm[p] = q, perm[q] = p;
                    double e = energy_swapped(&L, pr, np, perm, pl, &s2);
                    L.evals++, L.work += np + nl;
                    if (better(e, s2, best, best_s2)) best = e, best_s2 = s2, bp = p, bq = q;
                    perm[p] = p, perm[q] = q;
                }
            }
        }
        if (bp >= 0) { /* chips p and q exchange places */
            for (int i = 0; i < chips; i++) perm[i] = i;
            perm[bp] = bq, perm[bq] = bp;
            for (int u = 0; u < n; u++) chip_of[u] = perm[chip_of[u]];
            int c = L.count[bp];
            L.count[bp] = L.count[bq], L.count[bq] = c;
            memset(L.load, 0, (size_t)nl * sizeof *L.load);
            L.e_link = 0, L.s2 = 0;
            loads_of(&L, chip_of);
            commit(&L);
        } else if (bu >= 0) {
            propose_move(&L, chip_of, bu, bb, bw);
            int a = chip_of[bu];
            if (bw >= 0) chip_of[bw] = a;
            else L.used -= --L.count[a] == 0, L.count[bb]++;
            chip_of[bu] = bb;
            commit(&L);
        } else {
            break;
        }
        e_cur = energy(&L, L.used, &s2_cur);
    }
    stc_log(STC_LOG_DEBUG, "place", "links: busiest link %.4g -> %.4g s per inference (compute %.4g s), "
            "energy %.6g -> %.6g J, %d changes, %lld tried", t0, L.by_time[0].time,
            g->compute_s, e0 * 1e-12, e_cur * 1e-12, rounds, (long long)L.evals);
out:
    free(L.load), free(L.inv_bw), free(L.cost), free(L.dl), free(L.mark), free(L.touched), free(L.by_time);
    free(L.route), free(L.count), free(cross), free(pl), free(pr), free(cell), free(cand), free(first), free(list);
    free(perm);
    return st;
}
