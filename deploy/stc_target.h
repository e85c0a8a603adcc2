/* stc_target.h - target descriptors: what a neuromorphic chip offers, as data.
 *
 * A descriptor is a JSON file (format "stc-target 1", deploy/targets/NAME.json):
 * every figure is {"value": ..., "source": "..."} when it is published, or
 * {"value": ..., "assumption": "..."} when it is not, so that an assumption is
 * never presented as a fact.  The presets loihi2 and loihi3 are compiled into
 * stc; users pass their own file instead.  The loader checks that every field
 * is present, documented and possible, and names the one that is not.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_TARGET_H
#define STC_TARGET_H

#include "stc_base.h"

typedef struct stc_target {
    char name[64];
    /* chip and core resources */
    int cores_per_chip;
    int core_mesh[2];              /* cores as an X x Y mesh; product = cores_per_chip */
    int neurons_per_core;
    int memory_per_core_bytes;     /* shared by neuron state and synapses */
    int neuron_state_bytes;        /* per compartment */
    int fan_in_axons_per_core;
    int fan_out_axons_per_core;
    int synapse_bits;              /* per stored synapse entry */
    /* arithmetic */
    int weight_bits;               /* 1..8 */
    int weight_exp_min, weight_exp_max;
    int state_bits;                /* u, v */
    int decay_bits;
    int threshold_bits;
    int payload_bits;              /* graded spikes */
    /* chip-to-chip */
    int chip_links;
    double chip_link_spikes_per_s;
    /* energy (pJ) and time (ns) per operation, static power (W per chip) */
    double energy_synop_pj, energy_neuron_active_pj, energy_neuron_idle_pj;
    double energy_spike_local_pj, energy_core_hop_pj, energy_chip_hop_pj;
    double time_synop_ns, time_neuron_ns, time_core_hop_ns, time_barrier_ns;
    double static_power_w;
    int n_assumptions;             /* fields documented as assumptions */
} stc_target_t;

/* Load a preset by name ("loihi2", "loihi3") or a descriptor file (a path:
 * contains '/' or ends in ".json").  Errors name the file and the field. */
stc_status_t stc_target_load(const char *name_or_path, stc_target_t *t, stc_err_t *err);

/* Parse descriptor text; `name` is used in messages. */
stc_status_t stc_target_parse(const char *json, size_t n, const char *name, stc_target_t *t,
                              stc_err_t *err);

/* The preset names, NULL-terminated, and a preset's JSON text (NULL if none). */
const char *const *stc_target_presets(void);
const char *stc_target_preset_json(const char *name);

#endif
