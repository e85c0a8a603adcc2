/* baselines.c - placement baselines: greedy, METIS and Scotch (what stc's own partitioner is measured against).
 *
 *   greedy  core i -> chip i / cores_per_chip (nengo-loihi's Greedy allocator).
 *   metis   METIS_PartGraphKway into k = ceil(n / cores_per_chip) parts with the
 *           communication-volume objective (METIS_OBJTYPE_VOL), vertex weights 1,
 *           edge weights the traffic, vertex sizes 1 (METIS's default: the volume
 *           counts (core, other chip) pairs; sizes from a core's traffic made
 *           METIS 5.1's volume refinement overrun the balance bound even on an
 *           8-core graph); part p goes on chip p (in-order placement: METIS
 *           knows nothing of the topology).
 *   scotch  SCOTCH_graphMap onto the topology as a Scotch target architecture:
 *           mesh2D/mesh3D/torus2D/torus3D (meshXD/torusXD otherwise) from the
 *           extents, or a tree-leaf for a hierarchy (its level fan-outs, and
 *           each level's link cost as the tree-leaf's weight for that level).
 *           Scotch spreads the cores over every chip of the architecture, so it
 *           may use many more chips than the minimum: that is the baseline.
 *
 * Neither library knows a hard capacity: METIS balances to within ubvec
 * (set so a part may hold at most cores_per_chip + 0.5 cores) and Scotch to
 * within its imbalance ratio, and both may still overshoot.  repair() then
 * moves, out of every over-full part, the core with the least traffic to the
 * rest of its part (so the move cuts least) to the part with room that it
 * exchanges most traffic with (ties: the nearer chip, then the lower id),
 * until no part is over capacity.  Edge weights are integers >= 1: traffic
 * scaled so the sum over all arcs (times the architecture's largest distance,
 * for Scotch) stays below 2^28, far inside the 32-bit idx_t / SCOTCH_Num.
 * Both libraries run deterministically: METIS with a fixed seed, Scotch in a
 * private single-threaded context with a fixed random seed.  Scotch's error
 * messages are captured (SCOTCH_errorPrint below) into the stc error and the
 * log instead of going to stderr.
 * SPDX-License-Identifier: MIT
 */
#include "stc_partition.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metis.h>
#include <scotch.h>

#define WEIGHT_SUM_MAX (1 << 28) /* integer edge weights sum to at most this (plus one per arc) */

/* ------------------------------------------------------------ common checks */

static stc_status_t check_problem(const char *who, const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip,
                                  const int *chip_of, stc_err_t *err) {
    if (!g || !t || (g->n > 0 && !chip_of))
        return stc_err_set(err, STC_E_USAGE, "%s placement: graph, topology and chip_of are required", who);
    if (cores_per_chip < 1)
        return stc_err_set(err, STC_E_USAGE, "%s placement on '%s': %d cores per chip, expected >= 1", who,
                           stc_topology_name(t), cores_per_chip);
    if (g->n < 0) return stc_err_set(err, STC_E_USAGE, "%s placement: %d cores, expected >= 0", who, g->n);
    if (g->n > 0 && (!g->xadj || g->xadj[0] != 0))
        return stc_err_set(err, STC_E_USAGE, "%s placement: the graph's xadj must start at 0", who);
    int64_t need = ((int64_t)g->n + cores_per_chip - 1) / cores_per_chip;
    int chips = stc_topology_chips(t);
    if (need > chips)
        return stc_err_set(err, STC_E_LIMIT,
                           "%s placement: %d cores at %d cores per chip need %lld chips, topology '%s' has %d", who,
                           g->n, cores_per_chip, (long long)need, stc_topology_name(t), chips);
    return STC_OK;
}

/* ------------------------------------------------------ the cleaned-up graph */

/* The placement graph as both libraries need it: no self-loops, one arc per
 * neighbour (duplicates merged), rows sorted, every arc u->v matched by v->u
 * with the same weight, and the weight as an integer >= 1 (w[j] == w[rev[j]]). */
typedef struct {
    int n;
    int64_t *xadj;  /* n + 1 */
    int32_t *adj;
    double *traffic;
    int64_t *rev;   /* the index of the reverse arc */
    int32_t *w;     /* integer weight */
} cgraph_t;

typedef struct {
    int32_t v;
    double t;
} arc_t;

static int arc_cmp(const void *a, const void *b) {
    int32_t x = ((const arc_t *)a)->v, y = ((const arc_t *)b)->v;
    return (x > y) - (x < y);
}

static void cgraph_free(cgraph_t *c) {
    free(c->xadj);
    free(c->adj);
    free(c->traffic);
    free(c->rev);
    free(c->w);
    memset(c, 0, sizeof *c);
}

/* Scaled integer weights: the traffic times `scale`, at least 1. */
static void cgraph_weights(cgraph_t *c, double sum_max) {
    double total = 0;
    for (int64_t j = 0; j < c->xadj[c->n]; j++) total += c->traffic[j];
    double scale = total > 0 ? sum_max / total : 1;
    for (int u = 0; u < c->n; u++)
        for (int64_t j = c->xadj[u]; j < c->xadj[u + 1]; j++) {
            if (c->adj[j] < u) {
                c->w[j] = c->w[c->rev[j]]; /* the lower core's row decided it */
                continue;
            }
            double x = floor(c->traffic[j] * scale + 0.5);
            c->w[j] = x < 1 ? 1 : (int32_t)x;
        }
}

static stc_status_t cgraph_build(const char *who, const stc_pgraph_t *g, cgraph_t *c, stc_err_t *err) {
    memset(c, 0, sizeof *c);
    int n = g->n;
    int64_t m = n > 0 ? g->xadj[n] : 0;
    for (int u = 0; u < n; u++)
        if (g->xadj[u + 1] < g->xadj[u])
            return stc_err_set(err, STC_E_USAGE, "%s placement: graph xadj[%d] = %lld is below xadj[%d] = %lld", who,
                               u + 1, (long long)g->xadj[u + 1], u, (long long)g->xadj[u]);
    if (m > WEIGHT_SUM_MAX)
        return stc_err_set(err, STC_E_LIMIT, "%s placement: graph has %lld arcs, at most %d supported", who,
                           (long long)m, WEIGHT_SUM_MAX);
    if (m > 0 && (!g->adj || !g->traffic))
        return stc_err_set(err, STC_E_USAGE, "%s placement: graph has %lld arcs but no adj/traffic arrays", who,
                           (long long)m);
    c->n = n;
    size_t ma = (size_t)(m > 0 ? m : 1);
    c->xadj = calloc((size_t)n + 1, sizeof *c->xadj);
    c->adj = malloc(ma * sizeof *c->adj);
    c->traffic = malloc(ma * sizeof *c->traffic);
    c->rev = malloc(ma * sizeof *c->rev);
    c->w = malloc(ma * sizeof *c->w);
    arc_t *row = malloc(ma * sizeof *row);
    stc_status_t st = STC_OK;
    if (!c->xadj || !c->adj || !c->traffic || !c->rev || !c->w || !row) {
        st = stc_err_set(err, STC_E_NOMEM, "%s placement: out of memory for a %d-core graph", who, n);
        goto out;
    }
    int64_t k = 0;
    for (int u = 0; u < n; u++) {
        int r = 0;
        for (int64_t j = g->xadj[u]; j < g->xadj[u + 1]; j++) {
            int32_t v = g->adj[j];
            double t = g->traffic[j];
            if (v < 0 || v >= n) {
                st = stc_err_set(err, STC_E_USAGE, "%s placement: core %d: neighbour %d, expected 0..%d", who, u, v,
                                 n - 1);
                goto out;
            }
            if (!isfinite(t) || t < 0) {
                st = stc_err_set(err, STC_E_USAGE, "%s placement: edge %d-%d: traffic %g, expected finite >= 0", who,
                                 u, v, t);
                goto out;
            }
            if (v != u) row[r++] = (arc_t){v, t};
        }
        qsort(row, (size_t)r, sizeof *row, arc_cmp);
        for (int i = 0; i < r; i++) {
            if (k > c->xadj[u] && c->adj[k - 1] == row[i].v) {
                c->traffic[k - 1] += row[i].t; /* a repeated neighbour: one edge */
                continue;
            }
            c->adj[k] = row[i].v;
            c->traffic[k] = row[i].t;
            k++;
        }
        c->xadj[u + 1] = k;
    }
    /* every arc has its reverse, with the same traffic */
    for (int u = 0; u < n; u++)
        for (int64_t j = c->xadj[u]; j < c->xadj[u + 1]; j++) {
            int v = c->adj[j];
            int64_t lo = c->xadj[v], hi = c->xadj[v + 1];
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (c->adj[mid] < u) lo = mid + 1;
                else hi = mid;
            }
            if (lo == c->xadj[v + 1] || c->adj[lo] != u) {
                st = stc_err_set(err, STC_E_USAGE,
                                 "%s placement: graph not symmetric: core %d lists core %d but core %d does not "
                                 "list %d",
                                 who, u, v, v, u);
                goto out;
            }
            double a = c->traffic[j], b = c->traffic[lo];
            if (fabs(a - b) > 1e-9 * fmax(fabs(a), fabs(b))) {
                st = stc_err_set(err, STC_E_USAGE,
                                 "%s placement: graph not symmetric: edge %d-%d has traffic %g in row %d and %g in "
                                 "row %d",
                                 who, u, v, a, u, b, v);
                goto out;
            }
            c->rev[j] = lo;
        }
out:
    free(row);
    if (st) cgraph_free(c);
    return st;
}

/* ------------------------------------------------------------ capacity repair */

/* Move cores out of parts holding more than `cap` (see the file comment).
 * part[] holds 0..n_parts-1, n <= n_parts x cap; t, if given, maps part p to
 * chip p and breaks ties by hops.  Returns the number of cores moved, or -1
 * out of memory. */
static int repair(const cgraph_t *c, int n_parts, int cap, int *part, const stc_topology_t *t) {
    int n = c->n, moved = 0;
    int *count = calloc((size_t)n_parts, sizeof *count);
    int *members = malloc((size_t)(n > 0 ? n : 1) * sizeof *members);
    double *inner = malloc((size_t)(n > 0 ? n : 1) * sizeof *inner);
    double *to_part = calloc((size_t)n_parts, sizeof *to_part);
    int *pos = malloc((size_t)(n > 0 ? n : 1) * sizeof *pos); /* core -> its index in members, or -1 */
    if (!count || !members || !inner || !to_part || !pos) {
        moved = -1;
        goto out;
    }
    for (int u = 0; u < n; u++) {
        count[part[u]]++;
        pos[u] = -1;
    }
    for (int p = 0; p < n_parts; p++) {
        if (count[p] <= cap) continue;
        /* its cores, with their traffic to the rest of the part */
        int m = 0;
        for (int u = 0; u < n; u++) {
            if (part[u] != p) continue;
            double s = 0;
            for (int64_t j = c->xadj[u]; j < c->xadj[u + 1]; j++)
                if (part[c->adj[j]] == p) s += c->traffic[j];
            pos[u] = m;
            members[m] = u;
            inner[m++] = s;
        }
        while (count[p] > cap) {
            int best = -1;
            for (int i = 0; i < m; i++)
                if (members[i] >= 0 && (best < 0 || inner[i] < inner[best])) best = i;
            int u = members[best];
            for (int64_t j = c->xadj[u]; j < c->xadj[u + 1]; j++) to_part[part[c->adj[j]]] += c->traffic[j];
            int q = -1, q_hops = 0;
            for (int r = 0; r < n_parts; r++) {
                if (r == p || count[r] >= cap) continue;
                int hops = t ? stc_topology_hops(t, p, r) : 0;
                if (q < 0 || to_part[r] > to_part[q] || (to_part[r] == to_part[q] && hops < q_hops)) {
                    q = r;
                    q_hops = hops;
                }
            }
            for (int64_t j = c->xadj[u]; j < c->xadj[u + 1]; j++) to_part[part[c->adj[j]]] = 0;
            if (q < 0) { /* cannot happen: n <= n_parts x cap, so some part has room */
                STC_ASSERT(0);
                break;
            }
            part[u] = q;
            count[p]--;
            count[q]++;
            moved++;
            members[best] = -1;
            pos[u] = -1;
            for (int64_t j = c->xadj[u]; j < c->xadj[u + 1]; j++) /* the cores left lose their traffic with u */
                if (pos[c->adj[j]] >= 0) inner[pos[c->adj[j]]] -= c->traffic[j];
        }
        for (int i = 0; i < m; i++)
            if (members[i] >= 0) pos[members[i]] = -1;
    }
out:
    free(count);
    free(members);
    free(inner);
    free(to_part);
    free(pos);
    return moved;
}

/* ------------------------------------------------------------------ greedy */

stc_status_t stc_place_greedy(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                              stc_err_t *err) {
    stc_status_t st = check_problem("greedy", g, t, cores_per_chip, chip_of, err);
    if (st) return st;
    for (int u = 0; u < g->n; u++) chip_of[u] = u / cores_per_chip;
    return STC_OK;
}

/* ------------------------------------------------------------------- METIS */

stc_status_t stc_place_metis(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                             stc_err_t *err) {
    stc_status_t st = check_problem("metis", g, t, cores_per_chip, chip_of, err);
    if (st) return st;
    cgraph_t c;
    if ((st = cgraph_build("metis", g, &c, err))) return st;
    int n = g->n, k = (int)(((int64_t)n + cores_per_chip - 1) / cores_per_chip);
    if (k <= 1) { /* one part (METIS 5.1 cannot be asked for one part: it crashes) */
        for (int u = 0; u < n; u++) chip_of[u] = 0;
        cgraph_free(&c);
        return STC_OK;
    }
    cgraph_weights(&c, WEIGHT_SUM_MAX);
    int64_t m = c.xadj[n];
    idx_t *xadj = malloc(((size_t)n + 1) * sizeof *xadj);
    idx_t *adjncy = malloc((size_t)(m > 0 ? m : 1) * sizeof *adjncy);
    idx_t *adjwgt = malloc((size_t)(m > 0 ? m : 1) * sizeof *adjwgt);
    idx_t *part = malloc((size_t)n * sizeof *part);
    int *p32 = malloc((size_t)n * sizeof *p32);
    if (!xadj || !adjncy || !adjwgt || !part || !p32) {
        st = stc_err_set(err, STC_E_NOMEM, "metis placement: out of memory for a %d-core graph", n);
        goto out;
    }
    for (int u = 0; u <= n; u++) xadj[u] = (idx_t)c.xadj[u];
    for (int64_t j = 0; j < m; j++) {
        adjncy[j] = c.adj[j];
        adjwgt[j] = c.w[j];
    }
    idx_t nvtxs = n, ncon = 1, nparts = k, objval = 0;
    idx_t options[METIS_NOPTIONS];
    METIS_SetDefaultOptions(options);
    options[METIS_OPTION_OBJTYPE] = METIS_OBJTYPE_VOL;
    options[METIS_OPTION_NUMBERING] = 0;
    options[METIS_OPTION_SEED] = 1;
    /* a part may weigh ub x n / k: cores_per_chip + 0.5 at most */
    real_t ubvec[1] = {(real_t)(((double)cores_per_chip + 0.5) * k / n)};
    int rc = METIS_PartGraphKway(&nvtxs, &ncon, xadj, adjncy, NULL, NULL, adjwgt, &nparts, NULL, ubvec, options,
                                 &objval, part);
    if (rc != METIS_OK) {
        const char *why = rc == METIS_ERROR_INPUT    ? "input error"
                          : rc == METIS_ERROR_MEMORY ? "out of memory"
                                                     : "error";
        st = stc_err_set(err, STC_E_INTERNAL,
                         "metis placement: METIS_PartGraphKway into %d parts of a %d-core graph failed (%s)", k, n,
                         why);
        goto out;
    }
    for (int u = 0; u < n; u++) {
        if (part[u] < 0 || part[u] >= k) {
            st = stc_err_set(err, STC_E_INTERNAL, "metis placement: METIS put core %d in part %d of %d", u,
                             (int)part[u], k);
            goto out;
        }
        p32[u] = (int)part[u];
    }
    int moved = repair(&c, k, cores_per_chip, p32, NULL);
    if (moved < 0) {
        st = stc_err_set(err, STC_E_NOMEM, "metis placement: out of memory repairing the parts");
        goto out;
    }
    if (moved > 0)
        stc_log(STC_LOG_INFO, "partition", "metis: %d cores moved to keep %d cores per chip (volume %lld)", moved,
                cores_per_chip, (long long)objval);
    memcpy(chip_of, p32, (size_t)n * sizeof *chip_of); /* part p on chip p */
out:
    free(xadj);
    free(adjncy);
    free(adjwgt);
    free(part);
    free(p32);
    cgraph_free(&c);
    return st;
}

/* ------------------------------------------------------------------ Scotch */

/* Scotch reports errors through these (libscotcherr's versions print to
 * stderr); ours keep the last message for the stc error and log it. */
static _Thread_local char scotch_msg[256];

static void scotch_vmsg(stc_log_level_t level, const char *fmt, va_list ap) {
    vsnprintf(scotch_msg, sizeof scotch_msg, fmt, ap);
    stc_log(level, "scotch", "%s", scotch_msg);
}

void SCOTCH_errorProg(const char *const name) {
    (void)name;
}

void SCOTCH_errorPrint(const char *const fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    scotch_vmsg(STC_LOG_WARN, fmt, ap);
    va_end(ap);
}

void SCOTCH_errorPrintW(const char *const fmt, ...) {
    char keep[sizeof scotch_msg]; /* a warning does not replace the last error */
    memcpy(keep, scotch_msg, sizeof keep);
    va_list ap;
    va_start(ap, fmt);
    scotch_vmsg(STC_LOG_DEBUG, fmt, ap);
    va_end(ap);
    memcpy(scotch_msg, keep, sizeof keep);
}

/* The topology as a Scotch architecture; *dist_max gets its largest distance
 * between two chips (to bound the mapping's cost sum).  Every chip c of t is
 * Scotch terminal c: stc numbers mesh/torus chips x first (c[0] + d[0] x
 * (c[1] + d[1] x c[2])) and Scotch its mesh/torus terminals the same way, and
 * the tree-leaf's terminals top level first, which is stc's hierarchy order. */
static stc_status_t scotch_arch(const stc_topology_t *t, SCOTCH_Arch *arch, int64_t *dist_max, stc_err_t *err) {
    int dims[STC_TOPO_MAX_DIMS + 1] = {0};
    int nd = stc_topology_dims(t, dims);
    if (nd < 1 || nd > STC_TOPO_MAX_DIMS)
        return stc_err_set(err, STC_E_INTERNAL, "scotch placement: topology '%s' has %d dimensions",
                           stc_topology_name(t), nd);
    SCOTCH_Num sd[STC_TOPO_MAX_DIMS];
    for (int d = 0; d < nd; d++) sd[d] = dims[d];
    int rc = 0;
    *dist_max = 0;
    switch (stc_topology_kind(t)) {
    case STC_TOPO_MESH:
        rc = nd == 2 ? SCOTCH_archMesh2(arch, sd[0], sd[1])
             : nd == 3 ? SCOTCH_archMesh3(arch, sd[0], sd[1], sd[2])
                       : SCOTCH_archMeshX(arch, nd, sd);
        for (int d = 0; d < nd; d++) *dist_max += dims[d] - 1;
        break;
    case STC_TOPO_TORUS:
        rc = nd == 2 ? SCOTCH_archTorus2(arch, sd[0], sd[1])
             : nd == 3 ? SCOTCH_archTorus3(arch, sd[0], sd[1], sd[2])
                       : SCOTCH_archTorusX(arch, nd, sd);
        for (int d = 0; d < nd; d++) *dist_max += dims[d] / 2;
        break;
    case STC_TOPO_HIER: {
        /* A tree-leaf: the level fan-outs, and each level's link cost as its
         * weight (Scotch's distance between leaves that first differ at a
         * level is the sum of the weights from that level down, stc's route
         * climbs through the gateways in between: the same order of costs).
         * Levels of fan-out 1 are left out; weights are integers, the
         * cheapest level's cost scaled to 16. */
        SCOTCH_Num size[STC_TOPO_MAX_DIMS], link[STC_TOPO_MAX_DIMS];
        double lcost[STC_TOPO_MAX_DIMS], cmin = 0, cmax = 0;
        int nl = 0;
        for (int l = 0; l < nd; l++) {
            if (dims[l] < 2) continue;
            double cl = 0;
            for (int i = 0; i < stc_topology_n_links(t); i++)
                if (stc_topology_link(t, i)->level == l) {
                    cl = stc_topology_link(t, i)->cost;
                    break;
                }
            if (cl > 0 && (cmin == 0 || cl < cmin)) cmin = cl;
            if (cl > cmax) cmax = cl;
            lcost[nl] = cl;
            size[nl++] = dims[l];
        }
        if (nl == 0) { /* one chip */
            rc = SCOTCH_archCmplt(arch, 1);
            break;
        }
        double scale = cmin > 0 ? 16.0 / cmin : 1;
        if (cmax * scale > 1e6) scale = 1e6 / cmax;
        SCOTCH_Num rsize[STC_TOPO_MAX_DIMS], rlink[STC_TOPO_MAX_DIMS];
        for (int i = 0; i < nl; i++) {
            double x = floor(lcost[i] * scale + 0.5);
            link[i] = x < 1 ? 1 : (SCOTCH_Num)x;
            *dist_max += 2 * link[i]; /* up and down through every level */
        }
        for (int i = 0; i < nl; i++) { /* Scotch wants the top level first */
            rsize[i] = size[nl - 1 - i];
            rlink[i] = link[nl - 1 - i];
        }
        rc = SCOTCH_archTleaf(arch, nl, rsize, rlink);
        break;
    }
    default:
        return stc_err_set(err, STC_E_UNSUPPORTED, "scotch placement: topology '%s' is of an unknown kind %d",
                           stc_topology_name(t), (int)stc_topology_kind(t));
    }
    if (rc != 0)
        return stc_err_set(err, STC_E_INTERNAL, "scotch placement: cannot build the architecture of '%s': %s",
                           stc_topology_name(t), scotch_msg);
    if (SCOTCH_archSize(arch) != stc_topology_chips(t))
        return stc_err_set(err, STC_E_INTERNAL,
                           "scotch placement: the architecture of '%s' has %d terminals, expected %d",
                           stc_topology_name(t), (int)SCOTCH_archSize(arch), stc_topology_chips(t));
    if (*dist_max < 1) *dist_max = 1;
    return STC_OK;
}

stc_status_t stc_place_scotch(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                              stc_err_t *err) {
    stc_status_t st = check_problem("scotch", g, t, cores_per_chip, chip_of, err);
    if (st) return st;
    cgraph_t c;
    if ((st = cgraph_build("scotch", g, &c, err))) return st;
    int n = g->n, chips = stc_topology_chips(t);
    SCOTCH_Num *verttab = NULL, *edgetab = NULL, *edlotab = NULL, *parttab = NULL;
    int *p32 = NULL;
    SCOTCH_Graph graph, bound;
    SCOTCH_Arch arch;
    SCOTCH_Strat strat;
    SCOTCH_Context ctx;
    int have_graph = 0, have_bound = 0, have_arch = 0, have_strat = 0, have_ctx = 0;
    scotch_msg[0] = 0;
    if (n == 0) goto out;

    if (SCOTCH_archInit(&arch) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: SCOTCH_archInit failed: %s", scotch_msg);
        goto out;
    }
    have_arch = 1;
    int64_t dist_max = 1;
    if ((st = scotch_arch(t, &arch, &dist_max, err))) goto out;
    int64_t m = c.xadj[n];
    /* each arc's weight is at least 1, so the mapping cost can reach m x dist_max */
    if ((double)m * (double)dist_max + WEIGHT_SUM_MAX > 2147483647.0) {
        st = stc_err_set(err, STC_E_LIMIT,
                         "scotch placement: %lld arcs over distances up to %lld on '%s' overflow Scotch's 32-bit costs",
                         (long long)m, (long long)dist_max, stc_topology_name(t));
        goto out;
    }
    cgraph_weights(&c, (double)WEIGHT_SUM_MAX / (double)dist_max);

    verttab = malloc(((size_t)n + 1) * sizeof *verttab);
    edgetab = malloc((size_t)(m > 0 ? m : 1) * sizeof *edgetab);
    edlotab = malloc((size_t)(m > 0 ? m : 1) * sizeof *edlotab);
    parttab = malloc((size_t)n * sizeof *parttab);
    p32 = malloc((size_t)n * sizeof *p32);
    if (!verttab || !edgetab || !edlotab || !parttab || !p32) {
        st = stc_err_set(err, STC_E_NOMEM, "scotch placement: out of memory for a %d-core graph", n);
        goto out;
    }
    for (int u = 0; u <= n; u++) verttab[u] = (SCOTCH_Num)c.xadj[u];
    for (int64_t j = 0; j < m; j++) {
        edgetab[j] = c.adj[j];
        edlotab[j] = c.w[j];
    }

    if (SCOTCH_graphInit(&graph) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: SCOTCH_graphInit failed: %s", scotch_msg);
        goto out;
    }
    have_graph = 1;
    if (SCOTCH_graphBuild(&graph, 0, n, verttab, NULL, NULL, NULL, (SCOTCH_Num)m, edgetab, edlotab) != 0 ||
        SCOTCH_graphCheck(&graph) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: the %d-core graph was refused: %s", n, scotch_msg);
        goto out;
    }

    /* one thread, a private random generator with a fixed seed: the same
     * answer on every machine and every call */
    if (SCOTCH_contextInit(&ctx) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: SCOTCH_contextInit failed: %s", scotch_msg);
        goto out;
    }
    have_ctx = 1;
    if (SCOTCH_contextRandomClone(&ctx) != 0 || SCOTCH_contextThreadSpawn(&ctx, 1, NULL) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: cannot set up a Scotch context: %s", scotch_msg);
        goto out;
    }
    SCOTCH_contextRandomSeed(&ctx, 1);
    if (SCOTCH_contextBindGraph(&ctx, &graph, &bound) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: SCOTCH_contextBindGraph failed: %s", scotch_msg);
        goto out;
    }
    have_bound = 1;

    /* Scotch balances every chip to n / chips; allow 5% more, or less if
     * that would overflow a chip.  SCOTCH_STRATQUALITY without
     * SCOTCH_STRATBALANCE: Scotch 7.0.3 leaks a parsed strategy (208 bytes,
     * in kgraphMapFm) with BALANCE on some small disconnected graphs, and
     * repair() enforces the capacity anyway. */
    double slack = (double)cores_per_chip * chips / n - 1;
    double balrat = slack < 0.05 ? (slack > 0 ? slack : 0) : 0.05;
    if (SCOTCH_stratInit(&strat) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: SCOTCH_stratInit failed: %s", scotch_msg);
        goto out;
    }
    have_strat = 1;
    if (SCOTCH_stratGraphMapBuild(&strat, SCOTCH_STRATQUALITY, chips, balrat) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: SCOTCH_stratGraphMapBuild failed: %s", scotch_msg);
        goto out;
    }
    if (SCOTCH_graphMap(&bound, &arch, &strat, parttab) != 0) {
        st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: SCOTCH_graphMap of %d cores onto '%s' failed: %s", n,
                         stc_topology_name(t), scotch_msg);
        goto out;
    }
    for (int u = 0; u < n; u++) {
        if (parttab[u] < 0 || parttab[u] >= chips) {
            st = stc_err_set(err, STC_E_INTERNAL, "scotch placement: Scotch put core %d on terminal %d of %d", u,
                             (int)parttab[u], chips);
            goto out;
        }
        p32[u] = (int)parttab[u];
    }
    int moved = repair(&c, chips, cores_per_chip, p32, t);
    if (moved < 0) {
        st = stc_err_set(err, STC_E_NOMEM, "scotch placement: out of memory repairing the mapping");
        goto out;
    }
    if (moved > 0)
        stc_log(STC_LOG_INFO, "partition", "scotch: %d cores moved to keep %d cores per chip", moved, cores_per_chip);
    memcpy(chip_of, p32, (size_t)n * sizeof *chip_of);
out:
    if (have_strat) SCOTCH_stratExit(&strat);
    if (have_bound) SCOTCH_graphExit(&bound);
    if (have_graph) SCOTCH_graphExit(&graph);
    if (have_ctx) SCOTCH_contextExit(&ctx);
    if (have_arch) SCOTCH_archExit(&arch);
    free(verttab);
    free(edgetab);
    free(edlotab);
    free(parttab);
    free(p32);
    cgraph_free(&c);
    return st;
}
