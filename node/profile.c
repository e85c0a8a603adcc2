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
 * parallel), plus the barrier.  Every figure comes from the target descriptor
 * with its source or assumption (stc-coord target loihi3).
 * SPDX-License-Identifier: MIT
 */
#include "stc_chipsim.h"

#include <string.h>

#define E_AC_PJ 0.9  /* Horowitz 2014, 45 nm, as the Spike-driven Transformer papers use */
#define E_MAC_PJ 4.6

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
    e->latency_us = e->tick_ns * b->ticks * 1e-3;
    e->static_uj = t->static_power_w * stc_bundle_chips_used(b) * e->latency_us; /* W x us = uJ */
    e->total_uj = e->dyn_uj + e->static_uj;
    /* the papers count the first layer (on the real-valued image) as MACs and
     * every other synaptic or attention operation as an AC */
    e->paper_uj = ((synops + kops - input_synops) / n * E_AC_PJ + input_macs * E_MAC_PJ) * 1e-6;
}
