/* evaluate.c - what a placement of cores on chips costs: the partitioner report's figures.
 *
 * For every edge u-v of the placement graph (counted once, from the row of
 * the lower core u < v) whose cores sit on different chips:
 *   inter_chip_spikes      += traffic
 *   hop_weighted_traffic   += traffic x stc_topology_hops(chip_of[u], chip_of[v])
 *   cost_weighted_traffic  += traffic x stc_topology_cost(chip_of[u], chip_of[v])
 * and the traffic is added to the load of every link of the dimension-ordered
 * route from chip_of[u] to chip_of[v] (the lower core's chip first: the edge
 * weight sums both directions, so one route carries all of it).
 *
 * max_link_load is the busiest link's load (spikes per inference) divided by
 * its bandwidth (spikes per second in each direction): the seconds of link
 * time one inference needs on that link, i.e. the load over bandwidth x 1 s.
 * Since the load sums both directions and is set against one direction's
 * bandwidth, it is an upper bound when the traffic is two-way.  Ties go to
 * the lowest link id; busiest_link is -1 when nothing leaves a chip.
 * max_chip_work is the work of the busiest core on the busiest chip (cores on
 * a chip run in parallel, so a chip's tick is set by its slowest core).
 * SPDX-License-Identifier: MIT
 */
#include "stc_partition.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The placement graph's shape: xadj monotone from 0, neighbours in range,
 * traffic finite and non-negative, work (if given) finite and non-negative. */
static stc_status_t check_graph(const stc_pgraph_t *g, stc_err_t *err) {
    if (g->n < 0) return stc_err_set(err, STC_E_USAGE, "placement graph: %d cores, expected >= 0", g->n);
    if (g->n == 0) return STC_OK;
    if (!g->xadj) return stc_err_set(err, STC_E_USAGE, "placement graph: %d cores but no xadj", g->n);
    if (g->xadj[0] != 0)
        return stc_err_set(err, STC_E_USAGE, "placement graph: xadj[0] is %lld, expected 0", (long long)g->xadj[0]);
    for (int u = 0; u < g->n; u++)
        if (g->xadj[u + 1] < g->xadj[u])
            return stc_err_set(err, STC_E_USAGE, "placement graph: xadj[%d] = %lld is below xadj[%d] = %lld", u + 1,
                               (long long)g->xadj[u + 1], u, (long long)g->xadj[u]);
    if (g->xadj[g->n] > 0 && (!g->adj || !g->traffic))
        return stc_err_set(err, STC_E_USAGE, "placement graph: %lld edges but no adj/traffic arrays",
                           (long long)g->xadj[g->n]);
    for (int u = 0; u < g->n; u++) {
        for (int64_t j = g->xadj[u]; j < g->xadj[u + 1]; j++) {
            if (g->adj[j] < 0 || g->adj[j] >= g->n)
                return stc_err_set(err, STC_E_USAGE, "placement graph: core %d: neighbour %d, expected 0..%d", u,
                                   g->adj[j], g->n - 1);
            if (!isfinite(g->traffic[j]) || g->traffic[j] < 0)
                return stc_err_set(err, STC_E_USAGE, "placement graph: edge %d-%d: traffic %g, expected finite >= 0",
                                   u, g->adj[j], g->traffic[j]);
        }
        if (g->work && (!isfinite(g->work[u]) || g->work[u] < 0))
            return stc_err_set(err, STC_E_USAGE, "placement graph: core %d: work %g ns, expected finite >= 0", u,
                               g->work[u]);
    }
    return STC_OK;
}

stc_status_t stc_place_evaluate(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip,
                                const int *chip_of, stc_place_eval_t *ev, double *link_load, stc_err_t *err) {
    if (!g || !t || !ev || (g->n > 0 && !chip_of))
        return stc_err_set(err, STC_E_USAGE, "stc_place_evaluate: graph, topology, chip_of and result are required");
    if (cores_per_chip < 1)
        return stc_err_set(err, STC_E_USAGE, "placement on '%s': %d cores per chip, expected >= 1",
                           stc_topology_name(t), cores_per_chip);
    stc_status_t st = check_graph(g, err);
    if (st) return st;
    memset(ev, 0, sizeof *ev);
    ev->busiest_link = -1;
    int chips = stc_topology_chips(t), n_links = stc_topology_n_links(t);
    if (link_load)
        for (int l = 0; l < n_links; l++) link_load[l] = 0;

    int *count = calloc((size_t)(chips > 0 ? chips : 1), sizeof *count);
    double *load = calloc((size_t)(n_links > 0 ? n_links : 1), sizeof *load);
    int cap_route = 64;
    int *route = malloc((size_t)cap_route * sizeof *route);
    if (!count || !load || !route) {
        st = stc_err_set(err, STC_E_NOMEM, "placement on '%s': out of memory", stc_topology_name(t));
        goto out;
    }
    for (int u = 0; u < g->n; u++) {
        int c = chip_of[u];
        if (c < 0 || c >= chips) {
            st = stc_err_set(err, STC_E_USAGE, "placement on '%s': core %d is on chip %d, expected 0..%d",
                             stc_topology_name(t), u, c, chips - 1);
            goto out;
        }
        if (++count[c] > cores_per_chip) {
            st = stc_err_set(err, STC_E_USAGE,
                             "placement on '%s': chip %d holds more than %d cores (core %d is one too many)",
                             stc_topology_name(t), c, cores_per_chip, u);
            goto out;
        }
        if (count[c] == 1) ev->chips_used++;
        if (g->work && g->work[u] > ev->max_chip_work) ev->max_chip_work = g->work[u];
    }

    for (int u = 0; u < g->n; u++) {
        int a = chip_of[u];
        for (int64_t j = g->xadj[u]; j < g->xadj[u + 1]; j++) {
            int v = g->adj[j], b = chip_of[v];
            double w = g->traffic[j];
            if (v <= u || a == b || w == 0) continue;
            int hops = stc_topology_route(t, a, b, route, cap_route);
            if (hops > cap_route) {
                int *bigger = realloc(route, (size_t)hops * sizeof *route);
                if (!bigger) {
                    st = stc_err_set(err, STC_E_NOMEM, "placement on '%s': out of memory", stc_topology_name(t));
                    goto out;
                }
                route = bigger;
                cap_route = hops;
                hops = stc_topology_route(t, a, b, route, cap_route);
            }
            if (hops < 1) {
                st = stc_err_set(err, STC_E_INTERNAL, "placement on '%s': no route from chip %d to chip %d",
                                 stc_topology_name(t), a, b);
                goto out;
            }
            ev->inter_chip_spikes += w;
            ev->hop_weighted_traffic += w * (double)hops;
            ev->cost_weighted_traffic += w * stc_topology_cost(t, a, b);
            for (int h = 0; h < hops; h++) {
                if (route[h] < 0 || route[h] >= n_links) {
                    st = stc_err_set(err, STC_E_INTERNAL, "placement on '%s': route %d -> %d uses link %d of %d",
                                     stc_topology_name(t), a, b, route[h], n_links);
                    goto out;
                }
                load[route[h]] += w;
            }
        }
    }

    for (int l = 0; l < n_links; l++) {
        if (load[l] == 0) continue;
        const stc_link_t *k = stc_topology_link(t, l);
        if (!(k->bandwidth > 0)) {
            st = stc_err_set(err, STC_E_USAGE,
                             "placement on '%s': link %d (chips %d-%d) carries traffic but has bandwidth %g",
                             stc_topology_name(t), l, k->a, k->b, k->bandwidth);
            goto out;
        }
        double x = load[l] / k->bandwidth;
        if (ev->busiest_link < 0 || x > ev->max_link_load) {
            ev->max_link_load = x;
            ev->busiest_link = l;
        }
    }
    if (link_load) memcpy(link_load, load, (size_t)n_links * sizeof *load);
out:
    free(count);
    free(load);
    free(route);
    return st;
}
