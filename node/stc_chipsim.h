/* stc_chipsim.h - the bit-accurate chip simulator, and the energy/latency model.
 *
 * Runs a bundle (deploy/stc_bundle.h) tick by tick, event-driven, in integers:
 * each core delivers the messages arriving this tick through its axon table
 * and its (shared) synapse weights, updates the neurons of its stages that are
 * active this tick, and routes what they emit through its routing table into
 * the delay buffers of the destination cores.  docs/backend.md says what each
 * stage and synapse kind computes; the results are bit-identical to the
 * integer interpreter (compiler/ir/qinterp.c).  Counters per core feed the
 * energy and latency model (profile.c) built from the target's figures.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_CHIPSIM_H
#define STC_CHIPSIM_H

#include "stc_bundle.h"
#include "stc_target.h"

typedef struct stc_chipsim stc_chipsim_t;

/* Per core, accumulated over runs until stc_chipsim_reset_counters(). */
typedef struct {
    int64_t synops;         /* synaptic operations: one per (event, target neuron) accumulate */
    int64_t neuron_updates; /* neuron updates at active ticks */
    int64_t neuron_active;  /* of those, with non-zero input or state (the rest are idle) */
    int64_t spikes;         /* events emitted by this core's neurons (graded included) */
    int64_t msgs_local;     /* messages to a slice on the same core */
    int64_t msgs_core;      /* messages to another core of the same chip */
    int64_t core_hops;      /* sum of on-chip mesh hops (X-Y routing) over those */
    int64_t msgs_chip;      /* messages to a core on another chip */
    int64_t chip_hops;      /* chip-to-chip links crossed by those (the bundle's topology; 1 each without) */
    int64_t kernel_ops;     /* SSA kernel: coincidence operations (AND + accumulate) */
    int64_t ticks_active;   /* ticks at which some slice of this core was active */
} stc_core_counters_t;

/* Called for every stage at every timestep with the stage's whole output
 * tensor assembled over its cores (numel c*h*w): spikes 0/1, graded payloads,
 * SSA's I*qmul, the READOUT's a_in + bias. */
typedef void (*stc_simtrace_fn)(void *ud, const stc_bundle_t *b, int stage, int t, const int64_t *q);

stc_chipsim_t *stc_chipsim_create(const stc_bundle_t *b, stc_err_t *err);
void stc_chipsim_destroy(stc_chipsim_t **sp);

/* One inference: encode `image` (in_c*in_h*in_w floats) at the host port, run
 * b->ticks ticks, write n_out logits.  stage_spikes (may be NULL): per stage,
 * events emitted over the inference. */
stc_status_t stc_chipsim_run(stc_chipsim_t *s, const float *image, float *logits,
                             int64_t *stage_spikes, stc_simtrace_fn trace, void *ud, stc_err_t *err);

const stc_core_counters_t *stc_chipsim_counters(const stc_chipsim_t *s); /* n_cores entries */
/* The same counters per stage (n_stages entries): synops and neuron work of
 * the stage's neurons, spikes and messages by the stage as source.  This is
 * what `stc-coord profile` breaks energy down by layer with. */
const stc_core_counters_t *stc_chipsim_stage_counters(const stc_chipsim_t *s);
void stc_chipsim_reset_counters(stc_chipsim_t *s);

/* ------------------------------------------------- energy and latency model */

typedef struct {
    double dyn_synop_uj, dyn_neuron_uj, dyn_spike_uj, dyn_route_uj; /* dynamic, per inference */
    double dyn_uj;          /* their sum */
    double static_uj;       /* static power of the chips used x the inference time */
    double total_uj;
    double tick_ns;         /* the slowest core's tick (synops, updates, hops) + barrier */
    double latency_us;      /* ticks per inference x tick */
    double paper_uj;        /* the SNN-paper estimate: E_AC x (synops and kernel ops past the first
                               layer) + E_MAC x (the first layer's MACs on the image) */
} stc_energy_t;

/* From counters accumulated over n_inferences (per-inference averages).
 * input_macs: the multiply-accumulates of the first layer on the real-valued
 * image (the papers count them as MACs); input_synops: the synaptic operations
 * the simulator counted for that layer (summed over the n inferences), which
 * the paper-style figure therefore leaves out of its ACs. */
void stc_energy_model(const stc_bundle_t *b, const stc_target_t *t, const stc_core_counters_t *c,
                      int64_t n_inferences, double input_macs, double input_synops, stc_energy_t *e);

#endif
