/* profile.c - the energy and latency model: counters times the target's figures.
 *
 * Dynamic energy per inference = synops x E_synop + neuron updates x (E_active
 * or E_idle) + spikes x E_spike_local + core hops x E_core_hop + the cost of
 * every chip-to-chip link crossed (along the bundle's topology: each link its
 * cost, E_chip_hop where the topology gives none, chipsim.c).  Static energy = static power per chip x chips used
 * (those holding a core: a chip of the system that holds none is taken to be
 * powered down or given to another job, as the partitioner assumes when it
 * keeps the cores on the fewest chips) x the inference time.  The tick lasts as long as the busiest core needs for
 * its synops and neuron updates plus its outgoing hops (cores work in
 * parallel), plus the barrier.  An inference lasts ticks x tick, or longer if
 * the busiest chip-to-chip link needs longer to carry its spikes: the
 * bundle's expected link traffic (from the rates it was placed with) over
 * each link's bandwidth, as the partition report counts it (the simulator
 * counts link energy, not link time).  Every figure comes from the target descriptor
 * with its source or assumption (stc-coord target loihi3).
 * SPDX-License-Identifier: MIT
 */
#include "stc_chipsim.h"
#include "stc_partition.h"

#include <string.h>

#define E_AC_PJ 0.9  /* Horowitz 2014, 45 nm, as the Spike-driven Transformer papers use */
#define E_MAC_PJ 4.6

/* The busiest link's expected seconds per inference: the bundle's link
 * traffic over each link's bandwidth; 0 if the bundle carries none or its
 * topology does not load (chipsim reports that). */
static double busiest_link_s(const stc_bundle_t *b, const stc_target_t *t) {
    if (!b->topology[0] || !b->link_traffic || b->n_links < 1) return 0;
    stc_err_t te = {0};
    stc_topology_t *topo = stc_topology_of_bundle(b, t->chip_link_spikes_per_s, t->energy_chip_hop_pj, &te);
    if (!topo) return 0;
    double best = 0;
    if (stc_topology_n_links(topo) == b->n_links)
        for (int l = 0; l < b->n_links; l++) {
            const stc_link_t *k = stc_topology_link(topo, l);
            double x = k->bandwidth > 0 ? b->link_traffic[l] / k->bandwidth : 0;
            best = x > best ? x : best;
        }
    stc_topology_destroy(&topo);
    return best;
}

void stc_energy_model(const stc_bundle_t *b, const stc_target_t *t, const stc_core_counters_t *c,
                      int64_t n_inferences, double input_macs, double input_synops, stc_energy_t *e) {
    memset(e, 0, sizeof *e);
    double n = n_inferences > 0 ? (double)n_inferences : 1.0;
    double synops = 0, upd = 0, act = 0, spikes = 0, hops = 0, link_fj = 0, kops = 0;
    double busiest_ns = 0;
    for (int i = 0; i < b->n_cores; i++) {
        const stc_core_counters_t *k = &c[i];
        synops += (double)k->synops;
        upd += (double)k->neuron_updates;
        act += (double)k->neuron_active;
        spikes += (double)k->spikes;
        hops += (double)k->core_hops;
        link_fj += (double)k->chip_link_fj;
        kops += (double)k->kernel_ops;
        if (b->cores[i].chip < 0 || k->ticks_active == 0) continue;
        /* per active tick of this core, on average */
        double ns = ((double)(k->synops + k->kernel_ops) * t->time_synop_ns +
                     (double)k->neuron_updates * t->time_neuron_ns +
                     (double)k->core_hops * t->time_core_hop_ns) / (double)k->ticks_active;
        if (ns > busiest_ns) busiest_ns = ns;
    }
    e->dyn_synop_uj = (synops + kops) * t->energy_synop_pj / n * 1e-6;
    e->dyn_neuron_uj = (act * t->energy_neuron_active_pj + (upd - act) * t->energy_neuron_idle_pj) / n * 1e-6;
    e->dyn_spike_uj = spikes * t->energy_spike_local_pj / n * 1e-6;
    e->dyn_route_uj = (hops * t->energy_core_hop_pj + link_fj * 1e-3) / n * 1e-6;
    e->dyn_uj = e->dyn_synop_uj + e->dyn_neuron_uj + e->dyn_spike_uj + e->dyn_route_uj;
    e->tick_ns = busiest_ns + t->time_barrier_ns;
    e->compute_us = e->tick_ns * b->ticks * 1e-3;
    e->link_s = busiest_link_s(b, t);
    e->latency_us = e->link_s * 1e6 > e->compute_us ? e->link_s * 1e6 : e->compute_us;
    e->static_uj = t->static_power_w * stc_bundle_chips_used(b) * e->latency_us; /* W x us = uJ */
    e->total_uj = e->dyn_uj + e->static_uj;
    /* the papers count the first layer (on the real-valued image) as MACs and
     * every other synaptic or attention operation as an AC */
    e->paper_uj = ((synops + kops - input_synops) / n * E_AC_PJ + input_macs * E_MAC_PJ) * 1e-6;
}
