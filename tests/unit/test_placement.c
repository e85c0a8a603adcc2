/* test_placement.c - suite "placement": the placement figures (stc_place_evaluate) computed by
 * hand on small graphs, the greedy baseline's exact assignment, METIS and Scotch finding the
 * obvious clustering, respecting capacity and using a torus's wrap-around link, and the
 * errors (too many cores, bad graphs, bad placements) (partitioner/evaluate.c, baselines.c); stc's
 * own placement weighing links by cost and bandwidth (a uniform topology as by hops, a pipeline kept
 * on one board of a hierarchy and off a dear link) and placing as well on a wide grid as on one that
 * holds the cores exactly (place_stc.c).
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_partition.h"
#include "test_util.h"

#define BW 1000.0 /* spikes per second per link */
#define COST 2.5  /* pJ per link */

typedef struct {
    int u, v;
    double w;
} edge_t;

/* A symmetric CSR from an edge list (each edge in both rows, rows in list order). */
static void build(stc_pgraph_t *g, int n, const edge_t *e, int m, const double *work) {
    memset(g, 0, sizeof *g);
    g->n = n;
    g->xadj = calloc((size_t)n + 1, sizeof *g->xadj);
    g->adj = malloc((size_t)(2 * m + 1) * sizeof *g->adj);
    g->traffic = malloc((size_t)(2 * m + 1) * sizeof *g->traffic);
    g->work = calloc((size_t)n + 1, sizeof *g->work);
    for (int i = 0; i < m; i++) {
        g->xadj[e[i].u + 1]++;
        g->xadj[e[i].v + 1]++;
    }
    for (int u = 0; u < n; u++) g->xadj[u + 1] += g->xadj[u];
    int64_t *fill = calloc((size_t)n + 1, sizeof *fill);
    for (int i = 0; i < m; i++) {
        int64_t a = g->xadj[e[i].u] + fill[e[i].u]++, b = g->xadj[e[i].v] + fill[e[i].v]++;
        g->adj[a] = e[i].v;
        g->traffic[a] = e[i].w;
        g->adj[b] = e[i].u;
        g->traffic[b] = e[i].w;
    }
    free(fill);
    if (work)
        for (int u = 0; u < n; u++) g->work[u] = work[u];
}

static void release(stc_pgraph_t *g) {
    free(g->xadj);
    free(g->adj);
    free(g->traffic);
    free(g->work);
    memset(g, 0, sizeof *g);
}

static stc_topology_t *topo(const char *spec) {
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse(spec, BW, COST, &err);
    if (!t) fprintf(stderr, "\n%s: %s\n", spec, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return t;
}

static int link_between(const stc_topology_t *t, int a, int b) {
    for (int i = 0; i < stc_topology_n_links(t); i++) {
        const stc_link_t *l = stc_topology_link(t, i);
        if ((l->a == a && l->b == b) || (l->a == b && l->b == a)) return i;
    }
    return -1;
}

/* chip_of is a valid placement: every core on a chip, at most cap per chip */
static int valid(const stc_topology_t *t, int n, int cap, const int *chip_of) {
    int chips = stc_topology_chips(t), ok = 1;
    int *count = calloc((size_t)chips, sizeof *count);
    for (int u = 0; u < n; u++) {
        if (chip_of[u] < 0 || chip_of[u] >= chips) {
            ok = 0;
            continue;
        }
        if (++count[chip_of[u]] > cap) ok = 0;
    }
    free(count);
    return ok;
}

static stc_place_eval_t eval(const stc_pgraph_t *g, const stc_topology_t *t, int cap, const int *chip_of,
                             double *load) {
    stc_place_eval_t ev;
    stc_err_t err = {0};
    memset(&ev, 0xff, sizeof ev);
    stc_status_t st = stc_place_evaluate(g, t, cap, chip_of, &ev, load, &err);
    if (st) fprintf(stderr, "\nevaluate: %s\n", err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
    return ev;
}

typedef stc_status_t (*place_fn)(const stc_pgraph_t *, const stc_topology_t *, int, int *, stc_err_t *);

static void place_ok(place_fn f, const stc_pgraph_t *g, const stc_topology_t *t, int cap, int *chip_of) {
    stc_err_t err = {0};
    for (int u = 0; u < g->n; u++) chip_of[u] = -7;
    stc_status_t st = f(g, t, cap, chip_of, &err);
    if (st) fprintf(stderr, "\nplacement on %s: %s\n", stc_topology_name(t), err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    CU_ASSERT(valid(t, g->n, cap, chip_of));
}

/* A chain of 8 cores: pairs (0,1) (2,3) (4,5) (6,7) exchange 100 spikes, the
 * pairs' neighbours 3, 5 and 7.  The only cheap cut takes the light edges: 15. */
static const edge_t chain[] = {{0, 1, 100}, {1, 2, 3}, {2, 3, 100}, {3, 4, 5},
                               {4, 5, 100}, {5, 6, 7}, {6, 7, 100}};
static const double chain_work[] = {10, 20, 30, 95, 50, 60, 70, 80};

/* Four pairs scattered over the core numbers, {0,5} {1,6} {2,7} {3,4}, 100
 * inside, one light edge between every two pairs (1 + ... + 6 = 21 at best). */
static const edge_t pairs[] = {{0, 5, 100}, {1, 6, 100}, {2, 7, 100}, {3, 4, 100}, {0, 1, 1}, {5, 2, 2},
                               {6, 3, 3},   {7, 0, 4},   {4, 1, 5},   {2, 3, 6}};

static void test_evaluate(void) {
    stc_topology_t *t = topo("mesh:2x2"); /* chips 0 (0,0), 1 (1,0), 2 (0,1), 3 (1,1) */
    stc_pgraph_t g;
    build(&g, 8, chain, 7, chain_work);
    /* light edges: 1-2 chip 0 -> 3 (X to 1, Y to 3), 3-4 chip 3 -> 1 (Y),
     * 5-6 chip 1 -> 2 (X to 0, Y to 2) */
    int chip_of[8] = {0, 0, 3, 3, 1, 1, 2, 2};
    double load[4];
    CU_ASSERT_EQUAL_FATAL(stc_topology_n_links(t), 4);
    stc_place_eval_t ev = eval(&g, t, 2, chip_of, load);
    CU_ASSERT_EQUAL(ev.chips_used, 4);
    CU_ASSERT_EQUAL(ev.inter_chip_spikes, 15.0);
    CU_ASSERT_EQUAL(ev.hop_weighted_traffic, 3 * 2 + 5 * 1 + 7 * 2.0);
    CU_ASSERT_EQUAL(ev.cost_weighted_traffic, 3 * 5.0 + 5 * 2.5 + 7 * 5.0);
    int l01 = link_between(t, 0, 1), l13 = link_between(t, 1, 3), l02 = link_between(t, 0, 2),
        l23 = link_between(t, 2, 3);
    CU_ASSERT(l01 >= 0 && l13 >= 0 && l02 >= 0 && l23 >= 0);
    CU_ASSERT_EQUAL(load[l01], 3 + 7.0);
    CU_ASSERT_EQUAL(load[l13], 3 + 5.0);
    CU_ASSERT_EQUAL(load[l02], 7.0);
    CU_ASSERT_EQUAL(load[l23], 0.0);
    CU_ASSERT_EQUAL(ev.busiest_link, l01);
    CU_ASSERT_EQUAL(ev.max_link_load, 10.0 / BW); /* seconds of link time per inference */
    CU_ASSERT_EQUAL(ev.max_chip_work, 95.0);

    /* everything on one chip: nothing leaves it */
    int one[8] = {0};
    ev = eval(&g, t, 8, one, NULL);
    CU_ASSERT_EQUAL(ev.chips_used, 1);
    CU_ASSERT_EQUAL(ev.inter_chip_spikes, 0.0);
    CU_ASSERT_EQUAL(ev.hop_weighted_traffic, 0.0);
    CU_ASSERT_EQUAL(ev.max_link_load, 0.0);
    CU_ASSERT_EQUAL(ev.busiest_link, -1);
    release(&g);
    stc_topology_destroy(&t);
}

static void test_evaluate_errors(void) {
    stc_topology_t *t = topo("mesh:2x2");
    stc_pgraph_t g;
    build(&g, 8, chain, 7, NULL);
    stc_place_eval_t ev;
    stc_err_t err = {0};
    int off[8] = {0, 0, 1, 4, 1, 2, 2, 3};
    CU_ASSERT_EQUAL(stc_place_evaluate(&g, t, 2, off, &ev, NULL, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "core 3 is on chip 4, expected 0..3");
    int full[8] = {0, 0, 1, 1, 0, 2, 3, 3};
    CU_ASSERT_EQUAL(stc_place_evaluate(&g, t, 2, full, &ev, NULL, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "chip 0 holds more than 2 cores (core 4 is one too many)");
    CU_ASSERT_EQUAL(stc_place_evaluate(&g, t, 0, full, &ev, NULL, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "0 cores per chip");
    g.traffic[3] = -1;
    int fine[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    CU_ASSERT_EQUAL(stc_place_evaluate(&g, t, 2, fine, &ev, NULL, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "traffic -1");
    release(&g);
    stc_topology_destroy(&t);
}

static void test_greedy(void) {
    stc_topology_t *t = topo("mesh:2x2");
    stc_pgraph_t g;
    build(&g, 8, chain, 7, chain_work);
    int chip_of[8];
    place_ok(stc_place_greedy, &g, t, 2, chip_of);
    const int want2[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    CU_ASSERT_EQUAL(memcmp(chip_of, want2, sizeof want2), 0);
    /* cut 1-2 (chip 0 -> 1, 1 hop), 3-4 (chip 1 -> 2: X then Y, 2 hops), 5-6 (2 -> 3, 1 hop) */
    stc_place_eval_t ev = eval(&g, t, 2, chip_of, NULL);
    CU_ASSERT_EQUAL(ev.inter_chip_spikes, 15.0);
    CU_ASSERT_EQUAL(ev.hop_weighted_traffic, 3 + 5 * 2 + 7.0);
    place_ok(stc_place_greedy, &g, t, 3, chip_of);
    const int want3[8] = {0, 0, 0, 1, 1, 1, 2, 2};
    CU_ASSERT_EQUAL(memcmp(chip_of, want3, sizeof want3), 0);
    release(&g);
    stc_topology_destroy(&t);
}

static void test_too_many(void) {
    stc_topology_t *t = topo("mesh:2x2");
    edge_t e[] = {{0, 8, 1}};
    stc_pgraph_t g;
    build(&g, 9, e, 1, NULL);
    int chip_of[9];
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_place_greedy(&g, t, 2, chip_of, &err), STC_E_LIMIT);
    CU_ASSERT_STRING_EQUAL(err.msg, "greedy placement: 9 cores at 2 cores per chip need 5 chips, "
                                    "topology 'mesh:2x2' has 4");
    CU_ASSERT_EQUAL(stc_place_metis(&g, t, 2, chip_of, &err), STC_E_LIMIT);
    CU_ASSERT_STRING_EQUAL(err.msg, "metis placement: 9 cores at 2 cores per chip need 5 chips, "
                                    "topology 'mesh:2x2' has 4");
    CU_ASSERT_EQUAL(stc_place_scotch(&g, t, 2, chip_of, &err), STC_E_LIMIT);
    CU_ASSERT_STRING_EQUAL(err.msg, "scotch placement: 9 cores at 2 cores per chip need 5 chips, "
                                    "topology 'mesh:2x2' has 4");
    /* 9 cores at 3 per chip fit */
    CU_ASSERT_EQUAL(stc_place_greedy(&g, t, 3, chip_of, &err), STC_OK);
    release(&g);
    stc_topology_destroy(&t);
}

/* METIS and Scotch find the pairs: only the light edges cross chips.  (On the
 * scattered pairs METIS 5.1's volume refinement returns two parts of four
 * cores: the capacity repair must then move the right cores.) */
static void check_clusters(place_fn f, int metis) {
    stc_topology_t *t = topo("mesh:2x2");
    stc_pgraph_t g;
    int chip_of[8];
    build(&g, 8, chain, 7, NULL);
    place_ok(f, &g, t, 2, chip_of);
    CU_ASSERT_EQUAL(eval(&g, t, 2, chip_of, NULL).inter_chip_spikes, 15.0);
    release(&g);

    build(&g, 8, pairs, 10, NULL);
    place_ok(stc_place_greedy, &g, t, 2, chip_of);
    CU_ASSERT(eval(&g, t, 2, chip_of, NULL).inter_chip_spikes >= 400); /* greedy splits every pair */
    place_ok(f, &g, t, 2, chip_of);
    stc_place_eval_t ev = eval(&g, t, 2, chip_of, NULL);
    CU_ASSERT_EQUAL(ev.inter_chip_spikes, 21.0);
    CU_ASSERT_EQUAL(ev.chips_used, 4);
    for (int p = 0; p < 4; p++) CU_ASSERT_EQUAL(chip_of[pairs[p].u], chip_of[pairs[p].v]);
    stc_topology_destroy(&t);

    /* on 16 chips METIS still makes 4 parts, on chips 0..3 in order */
    t = topo("mesh:4x4");
    place_ok(f, &g, t, 2, chip_of);
    if (metis) {
        for (int u = 0; u < 8; u++) CU_ASSERT(chip_of[u] < 4);
        CU_ASSERT_EQUAL(eval(&g, t, 2, chip_of, NULL).inter_chip_spikes, 21.0);
    }
    release(&g);
    stc_topology_destroy(&t);
}

static void test_metis(void) { check_clusters(stc_place_metis, 1); }
static void test_scotch(void) { check_clusters(stc_place_scotch, 0); }

/* Four pairs in a ring (A-B-C-D-A, 10 spikes per ring edge).  On a ring of
 * four chips every ring edge can be one hop only through the wrap-around
 * link; on a line of four chips the best is 6 hops in all. */
static void test_scotch_torus(void) {
    const edge_t ring[] = {{0, 1, 100}, {2, 3, 100}, {4, 5, 100}, {6, 7, 100},
                           {1, 2, 10},  {3, 4, 10},  {5, 6, 10},  {7, 0, 10}};
    stc_pgraph_t g;
    build(&g, 8, ring, 8, NULL);
    int chip_of[8];
    stc_topology_t *t = topo("torus:4x1");
    CU_ASSERT_EQUAL_FATAL(stc_topology_n_links(t), 4);
    double load[4];
    place_ok(stc_place_scotch, &g, t, 2, chip_of);
    stc_place_eval_t ev = eval(&g, t, 2, chip_of, load);
    CU_ASSERT_EQUAL(ev.inter_chip_spikes, 40.0);
    CU_ASSERT_EQUAL(ev.hop_weighted_traffic, 40.0);
    int wrap = link_between(t, 0, 3);
    CU_ASSERT_FATAL(wrap >= 0);
    CU_ASSERT_EQUAL(load[wrap], 10.0);
    for (int l = 0; l < 4; l++) CU_ASSERT_EQUAL(load[l], 10.0);
    stc_topology_destroy(&t);

    t = topo("mesh:4x1");
    place_ok(stc_place_scotch, &g, t, 2, chip_of);
    ev = eval(&g, t, 2, chip_of, NULL);
    CU_ASSERT_EQUAL(ev.inter_chip_spikes, 40.0);
    CU_ASSERT_EQUAL(ev.hop_weighted_traffic, 60.0);
    stc_topology_destroy(&t);
    release(&g);
}

/* Two boards of two chips: pairs A-B and C-D talk a lot (50), A-C and B-D
 * little (1): Scotch's tree-leaf puts A, B on one board and C, D on the other. */
static void test_scotch_hier(void) {
    const edge_t e[] = {{0, 1, 100}, {2, 3, 100}, {4, 5, 100}, {6, 7, 100},
                        {1, 2, 50},  {5, 6, 50},  {0, 4, 1},   {3, 7, 1}};
    stc_pgraph_t g;
    build(&g, 8, e, 8, NULL);
    int chip_of[8];
    const char *specs[] = {"hier:2x2", STC_SOURCE_DIR "/deploy/topologies/hier-2x2.json"};
    for (int s = 0; s < 2; s++) {
        stc_topology_t *t = topo(specs[s]);
        place_ok(stc_place_scotch, &g, t, 2, chip_of);
        stc_place_eval_t ev = eval(&g, t, 2, chip_of, NULL);
        CU_ASSERT_EQUAL(ev.inter_chip_spikes, 102.0);
        int board[8];
        for (int u = 0; u < 8; u++) board[u] = chip_of[u] / 2; /* chip = c[0] + 2 c[1] */
        CU_ASSERT_EQUAL(board[0], board[2]);
        CU_ASSERT_EQUAL(board[4], board[6]);
        CU_ASSERT_NOT_EQUAL(board[0], board[4]);
        stc_topology_destroy(&t);
    }
    release(&g);
}

/* A pseudo-random graph that fills every chip: both libraries' answers are
 * repaired to the capacity, and the same on every call. */
static void test_capacity(void) {
    enum { N = 64, M = 400 };
    edge_t e[M];
    unsigned s = 12345;
    int m = 0;
    while (m < M) {
        s = s * 1103515245u + 12345u;
        int u = (int)((s >> 8) % N);
        s = s * 1103515245u + 12345u;
        int v = (int)((s >> 8) % N);
        s = s * 1103515245u + 12345u;
        if (u == v) continue;
        int dup = 0;
        for (int i = 0; i < m; i++) dup |= (e[i].u == u && e[i].v == v) || (e[i].u == v && e[i].v == u);
        if (dup) continue;
        e[m++] = (edge_t){u, v, (double)((s >> 8) % 1000) / 7.0};
    }
    stc_pgraph_t g;
    build(&g, N, e, M, NULL);
    int a[N], b[N];
    const char *specs[] = {"mesh:4x2", "torus:2x2x2", "hier:2x4"};
    for (int i = 0; i < 3; i++) {
        stc_topology_t *t = topo(specs[i]);
        place_ok(stc_place_metis, &g, t, 8, a);
        place_ok(stc_place_metis, &g, t, 8, b);
        CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
        CU_ASSERT_EQUAL(eval(&g, t, 8, a, NULL).chips_used, 8);
        place_ok(stc_place_scotch, &g, t, 8, a);
        place_ok(stc_place_scotch, &g, t, 8, b);
        CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
        CU_ASSERT_EQUAL(eval(&g, t, 8, a, NULL).chips_used, 8);
        /* room to spare: 64 cores at 9 per chip */
        place_ok(stc_place_metis, &g, t, 9, a);
        place_ok(stc_place_scotch, &g, t, 9, a);
        stc_topology_destroy(&t);
    }
    /* one core per chip */
    stc_topology_t *t = topo("mesh:8x8");
    place_ok(stc_place_metis, &g, t, 1, a);
    place_ok(stc_place_scotch, &g, t, 1, a);
    stc_topology_destroy(&t);
    release(&g);
}

static void test_small(void) {
    stc_topology_t *t = topo("mesh:2x2");
    stc_pgraph_t g;
    int chip_of[8];
    build(&g, 0, NULL, 0, NULL); /* no cores */
    place_ok(stc_place_greedy, &g, t, 2, chip_of);
    place_ok(stc_place_metis, &g, t, 2, chip_of);
    place_ok(stc_place_scotch, &g, t, 2, chip_of);
    stc_place_eval_t ev = eval(&g, t, 2, chip_of, NULL);
    CU_ASSERT_EQUAL(ev.chips_used, 0);
    CU_ASSERT_EQUAL(ev.busiest_link, -1);
    release(&g);
    build(&g, 8, chain, 7, NULL); /* everything fits on one chip */
    place_ok(stc_place_metis, &g, t, 8, chip_of);
    for (int u = 0; u < 8; u++) CU_ASSERT_EQUAL(chip_of[u], 0);
    release(&g);
    edge_t none[] = {{0, 1, 0}}; /* zero traffic */
    build(&g, 5, none, 1, NULL);
    place_ok(stc_place_metis, &g, t, 2, chip_of);
    place_ok(stc_place_scotch, &g, t, 2, chip_of);
    release(&g);
    stc_topology_destroy(&t);
}

static void test_bad_graph(void) {
    stc_topology_t *t = topo("mesh:2x2");
    stc_pgraph_t g;
    int chip_of[8];
    stc_err_t err = {0};
    build(&g, 8, chain, 7, NULL);
    g.adj[0] = 2; /* core 0 now lists 2, which does not list 0 */
    CU_ASSERT_EQUAL(stc_place_metis(&g, t, 2, chip_of, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "metis placement: graph not symmetric: core 0 lists core 2");
    CU_ASSERT_EQUAL(stc_place_scotch(&g, t, 2, chip_of, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "scotch placement: graph not symmetric");
    g.adj[0] = 1;
    g.traffic[0] = 99; /* 0-1: 99 one way, 100 the other */
    CU_ASSERT_EQUAL(stc_place_metis(&g, t, 2, chip_of, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "edge 0-1 has traffic 99 in row 0 and 100 in row 1");
    g.traffic[0] = 100;
    g.adj[0] = 8;
    CU_ASSERT_EQUAL(stc_place_scotch(&g, t, 2, chip_of, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "core 0: neighbour 8, expected 0..7");
    g.adj[0] = 1;
    g.traffic[1] = NAN;
    CU_ASSERT_EQUAL(stc_place_metis(&g, t, 2, chip_of, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "traffic nan");
    release(&g);
    stc_topology_destroy(&t);
}

/* ------------------------------------------------------- stc's placement */

/* A pipeline of n cores as the lowering emits them: 100 spikes between
 * consecutive cores, 40 along a residual stream (u to u + 3), 10 to u + 7;
 * with `far` > 0, also an edge from each core to a pseudo-random core more
 * than 7 away, of 0 .. far - 1 spikes (attention's and the head's long reach). */
static void pipeline(stc_pgraph_t *g, int n, int far) {
    edge_t *e = malloc((size_t)4 * n * sizeof *e);
    int m = 0;
    unsigned s = 12345u + (unsigned)far;
    for (int u = 0; u < n; u++) {
        if (u + 1 < n) e[m++] = (edge_t){u, u + 1, 100};
        if (u + 3 < n) e[m++] = (edge_t){u, u + 3, 40};
        if (u + 7 < n) e[m++] = (edge_t){u, u + 7, 10};
        if (!far) continue;
        s = s * 1103515245u + 12345u;
        int v = (int)((s >> 8) % (unsigned)n);
        s = s * 1103515245u + 12345u;
        if (abs(v - u) > 7) e[m++] = (edge_t){u < v ? u : v, u < v ? v : u, (double)((s >> 8) % (unsigned)far)};
    }
    build(g, n, e, m, NULL);
    free(e);
}

/* A topology file: kind, "dims" or "levels", one cost and one bandwidth per dimension. */
static stc_topology_t *topo_file(const char *kind, const char *dims, const char *cost, const char *bw) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"format\": \"stc-topology 1\", \"kind\": \"%s\", \"%s\": {\"value\": %s, \"assumption\": \"test\"},"
             " \"cost\": {\"value\": %s, \"assumption\": \"test\"}, \"bandwidth\": {\"value\": %s, \"assumption\": "
             "\"test\"}}",
             kind, strcmp(kind, "hier") ? "dims" : "levels", dims, cost, bw);
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse_json(json, strlen(json), "test.json", BW, COST, &err);
    if (!t) fprintf(stderr, "\n%s: %s\n", json, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return t;
}

/* On a topology whose links are all alike (whatever their cost and
 * bandwidth), or whose links all cost 0, the weighted route length is the hop
 * count: stc places exactly as on the spec with the default figures. */
static void test_stc_uniform(void) {
    enum { N = 30 };
    stc_pgraph_t g;
    pipeline(&g, N, 50);
    int ref[N], a[N];
    struct {
        const char *spec, *kind, *dims, *cost, *bw;
    } cases[] = {
        {"mesh:4x4", "mesh", "[4, 4]", "[7, 7]", "[3e5, 3e5]"},
        {"mesh:4x4", "mesh", "[4, 4]", "[0, 0]", "[1e9, 1e3]"}, /* no cost: hops, whatever the bandwidths */
        {"torus:4x4", "torus", "[4, 4]", "1e6", "1e3"},
        {"torus:2x2x2", "torus", "[2, 2, 2]", "[0.5, 0.5, 0.5]", "[1e12, 1e12, 1e12]"},
        {"hier:2x4", "hier", "[4, 2]", "[3, 3]", "[10, 10]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        stc_topology_t *t = topo(cases[i].spec), *f = topo_file(cases[i].kind, cases[i].dims, cases[i].cost, cases[i].bw);
        /* the spec's default figures are uniform too, except a hierarchy's (4x the cost a level up) */
        stc_topology_t *u = strcmp(cases[i].kind, "hier") ? t : topo_file("hier", "[4, 2]", "1", "1");
        place_ok(stc_place_stc, &g, u, 4, ref);
        place_ok(stc_place_stc, &g, f, 4, a);
        CU_ASSERT_EQUAL(memcmp(ref, a, sizeof a), 0);
        CU_ASSERT_DOUBLE_EQUAL(eval(&g, f, 4, a, NULL).hop_weighted_traffic,
                               eval(&g, u, 4, ref, NULL).hop_weighted_traffic, 1e-9);
        CU_ASSERT_EQUAL(eval(&g, f, 4, a, NULL).chips_used, 8);
        if (u != t) stc_topology_destroy(&u);
        stc_topology_destroy(&t);
        stc_topology_destroy(&f);
    }
    release(&g);
}

/* On hier:8x4 (a board-to-board link costs 4 on-board ones) a pipeline that
 * fits on one board stays on it: every route is one on-board link.  By hops
 * alone a board's gateway is as near the next board's gateway as its own
 * chips, and the placement spread over boards. */
static void test_stc_hier_board(void) {
    enum { N = 30 };
    stc_pgraph_t g;
    pipeline(&g, N, 50);
    int chip_of[N];
    const char *specs[] = {"hier:8x4", "hier:2x4", "hier:4x2x4"};
    for (int i = 0; i < 3; i++) {
        stc_topology_t *t = topo(specs[i]);
        place_ok(stc_place_stc, &g, t, 8, chip_of); /* 30 cores: 4 chips of 8, one board */
        for (int u = 0; u < N; u++) CU_ASSERT_EQUAL(chip_of[u] / 4, chip_of[0] / 4);
        stc_place_eval_t ev = eval(&g, t, 8, chip_of, NULL);
        CU_ASSERT_EQUAL(ev.chips_used, 4);
        CU_ASSERT_DOUBLE_EQUAL(ev.hop_weighted_traffic, ev.inter_chip_spikes, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(ev.cost_weighted_traffic, COST * ev.inter_chip_spikes, 1e-6);
        /* 30 cores over 2 boards: at 4 per chip they need 8 chips, exactly two boards */
        place_ok(stc_place_stc, &g, t, 4, chip_of);
        ev = eval(&g, t, 4, chip_of, NULL);
        CU_ASSERT_EQUAL(ev.chips_used, 8);
        int boards[64] = {0}, used = 0;
        for (int u = 0; u < N; u++) used += !boards[chip_of[u] / 4]++;
        CU_ASSERT_EQUAL(used, 2);
        stc_topology_destroy(&t);
    }
    release(&g);
}

/* A dear, slow link: the torus's Y links cost 10^6 times an X link and have
 * 10^-6 of its bandwidth (so weigh 2^15 + 2^15 X links at most).  stc
 * crosses them less than its placement on a uniform torus does. */
static void test_stc_skew(void) {
    enum { N = 30 };
    stc_pgraph_t g;
    pipeline(&g, N, 0);
    int a[N], b[N];
    stc_topology_t *t = topo("torus:4x4"), *f = topo_file("torus", "[4, 4]", "[1, 1e6]", "[1e9, 1e3]");
    place_ok(stc_place_stc, &g, t, 4, a);
    place_ok(stc_place_stc, &g, f, 4, b);
    stc_place_eval_t ea = eval(&g, f, 4, a, NULL), eb = eval(&g, f, 4, b, NULL);
    CU_ASSERT_EQUAL(eb.chips_used, 8);
    CU_ASSERT(eb.cost_weighted_traffic < ea.cost_weighted_traffic);
    /* the two rows of 4 chips are crossed once: the lightest cut of the
     * pipeline into 16 + 14 or 15 + 15 cores, 100 + 40 x 3 + 10 x 7 = 290 spikes */
    double y = 0;
    for (int u = 0; u < N; u++)
        for (int64_t e = g.xadj[u]; e < g.xadj[u + 1]; e++)
            if (g.adj[e] > u && b[u] / 4 != b[g.adj[e]] / 4) y += g.traffic[e];
    CU_ASSERT_DOUBLE_EQUAL(y, 290, 1e-9);
    /* each of those crosses one Y link, every other hop is an X link */
    CU_ASSERT_DOUBLE_EQUAL(eb.cost_weighted_traffic, (eb.hop_weighted_traffic - y) * 1 + y * 1e6, 1e-3);
    stc_topology_destroy(&t);
    stc_topology_destroy(&f);
    release(&g);
}

/* The busiest link, when it sets the latency: on the torus with slow Y links
 * (10^3 spikes/s against 10^9), the placement by weighted traffic sends 290
 * spikes between the two rows of chips it uses (test_stc_skew), 260 of them
 * over one Y link: 0.26 s, against a compute time of 1 ms.  Given the static
 * power, stc spreads them over the Y links (0.15 s on the busiest): the
 * busiest link and the estimated energy both fall, on the same 8 chips.  When compute
 * takes longer than any link, or the static power is unknown, the placement
 * is the one by weighted traffic alone. */
static double links_energy(const stc_pgraph_t *g, const stc_place_eval_t *ev) {
    double s = ev->max_link_load > g->compute_s ? ev->max_link_load : g->compute_s;
    return ev->cost_weighted_traffic * 1e-12 + g->static_w * ev->chips_used * s;
}

static void test_stc_links(void) {
    enum { N = 30 };
    stc_pgraph_t g;
    pipeline(&g, N, 0);
    int a[N], b[N], c[N];
    stc_topology_t *f = topo_file("torus", "[4, 4]", "[1, 1e6]", "[1e9, 1e3]");
    place_ok(stc_place_stc, &g, f, 4, a); /* static_w 0: by weighted traffic alone */
    stc_place_eval_t ea = eval(&g, f, 4, a, NULL);
    CU_ASSERT_DOUBLE_EQUAL(ea.max_link_load, 0.26, 1e-9);
    g.static_w = 0.232, g.compute_s = 1e-3;
    place_ok(stc_place_stc, &g, f, 4, b);
    stc_place_eval_t eb = eval(&g, f, 4, b, NULL);
    CU_ASSERT_EQUAL(eb.chips_used, 8);
    if (fabs(eb.max_link_load - 0.15) > 1e-9)
        fprintf(stderr, "\nbusiest link %g s, by traffic alone %g s\n", eb.max_link_load, ea.max_link_load);
    CU_ASSERT_DOUBLE_EQUAL(eb.max_link_load, 0.15, 1e-9); /* Y links 150, 110 and 30 spikes */
    CU_ASSERT(links_energy(&g, &eb) < links_energy(&g, &ea));
    g.compute_s = 1; /* compute sets the latency: nothing to gain from the links' times */
    place_ok(stc_place_stc, &g, f, 4, c);
    CU_ASSERT_EQUAL(memcmp(a, c, sizeof a), 0);
    g.static_w = 0, g.compute_s = 1e-3; /* the static power unknown: nothing to weigh the link time against */
    place_ok(stc_place_stc, &g, f, 4, c);
    CU_ASSERT_EQUAL(memcmp(a, c, sizeof a), 0);
    stc_topology_destroy(&f);
    release(&g);
}

/* A wide grid: 8 chips' worth of cores on mesh:8x8 (and 64x64, beyond the
 * table of lengths) are placed as well as on mesh:2x4, which holds them
 * exactly (2,687 spike-hops): the start fills a compact box, and the search
 * stays near it.  (Not a law: the annealing's outcome varies by a few per
 * cent with the grid's shape; on this graph torus:8x8 gives 2,721.) */
static void test_stc_wide(void) {
    enum { N = 30 };
    stc_pgraph_t g;
    pipeline(&g, N, 50);
    int chip_of[N];
    stc_topology_t *t = topo("mesh:2x4");
    place_ok(stc_place_stc, &g, t, 4, chip_of);
    double h24 = eval(&g, t, 4, chip_of, NULL).hop_weighted_traffic;
    CU_ASSERT_DOUBLE_EQUAL(h24, 2687, 1e-9);
    stc_topology_destroy(&t);
    const char *specs[] = {"mesh:8x8", "mesh:64x64", "mesh:16x4"}; /* by hops before: 3501 on each */
    for (int i = 0; i < 3; i++) {
        t = topo(specs[i]);
        place_ok(stc_place_stc, &g, t, 4, chip_of);
        stc_place_eval_t ev = eval(&g, t, 4, chip_of, NULL);
        CU_ASSERT_EQUAL(ev.chips_used, 8);
        if (ev.hop_weighted_traffic > h24 + 1e-9)
            fprintf(stderr, "\n%s: hop-weighted %g, mesh:2x4 %g\n", specs[i], ev.hop_weighted_traffic, h24);
        CU_ASSERT(ev.hop_weighted_traffic <= h24 + 1e-9);
        stc_topology_destroy(&t);
    }
    release(&g);
}

void stc_suite_placement(void) {
    static const stc_test_t tests[] = {
        {"evaluate", test_evaluate},
        {"evaluate_errors", test_evaluate_errors},
        {"greedy", test_greedy},
        {"too_many", test_too_many},
        {"metis", test_metis},
        {"scotch", test_scotch},
        {"scotch_torus", test_scotch_torus},
        {"scotch_hier", test_scotch_hier},
        {"capacity", test_capacity},
        {"small", test_small},
        {"bad_graph", test_bad_graph},
        {"stc_uniform", test_stc_uniform},
        {"stc_hier_board", test_stc_hier_board},
        {"stc_skew", test_stc_skew},
        {"stc_links", test_stc_links},
        {"stc_wide", test_stc_wide},
        {NULL, NULL},
    };
    stc_add_suite("placement", tests);
}
