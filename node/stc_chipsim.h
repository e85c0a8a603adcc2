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
    int64_t chip_link_fj;   /* energy of those chip-to-chip links, fJ: each link its cost in the bundle's
                             * topology (pJ), the target's energy_chip_hop_pj per crossing without one */
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

/* ------------------------------------------- a part of the chips (runtime) */

/* The distributed runtime (node/stc_node.c) gives each MPI rank a part of the
 * chips: a part simulates only the cores it owns (own[core] != 0; NULL: all)
 * and builds state and tables for those alone.  An event routed to a core of
 * another part is not queued: it goes to the outbox, and the rank owning that
 * core injects it before the tick it is delivered at.  Since every delay is at
 * least one tick, exchanging the outboxes after each tick and injecting them
 * before the next computes exactly what one whole simulator computes (every
 * delivery is a sum, a max or a bit set: the order of arrival never matters).
 *
 * A run of one input, stepped:
 *     stc_chipsim_begin(s, image)            reset the chips, encode the image
 *     for tick in 0 .. b->ticks - 1:
 *         stc_chipsim_tick(s, tick)          deliver and update the owned cores
 *         exchange stc_chipsim_outbox() between parts; stc_chipsim_inject() what arrives
 *     stc_chipsim_end(s, rsum, stage_spikes) this part's share of the results
 * The shares of all parts add up (integers) to what stc_chipsim_run gives:
 * rsum to the output stage's readout sums, stage_spikes, the counters and the
 * digest.  stc_chipsim_run is exactly this loop on a part that owns every core. */

typedef struct {
    int32_t core, axon, pl, tick; /* destination core and input axon, payload, delivery tick */
} stc_remote_ev_t;

stc_chipsim_t *stc_chipsim_create_part(const stc_bundle_t *b, const uint8_t *own, stc_err_t *err);
/* Cores this part owns, and the bytes it allocated for them. */
int stc_chipsim_owned(const stc_chipsim_t *s, int core);
int64_t stc_chipsim_state_bytes(const stc_chipsim_t *s);

/* Record the digest: an additive 64-bit hash of every event emitted (stage,
 * neuron, timestep, payload), so that parts' digests add up to the whole's. */
void stc_chipsim_set_digest(stc_chipsim_t *s, int on);
uint64_t stc_chipsim_digest(const stc_chipsim_t *s); /* of the current input, up to now */

/* image may be NULL when the part owns no INPUT slice. */
stc_status_t stc_chipsim_begin(stc_chipsim_t *s, const float *image, stc_err_t *err);
stc_status_t stc_chipsim_tick(stc_chipsim_t *s, int tick, stc_err_t *err);
/* Events for other parts' cores emitted since the outbox was last cleared, in
 * emission order; *n gets their count. */
const stc_remote_ev_t *stc_chipsim_outbox(const stc_chipsim_t *s, int64_t *n);
void stc_chipsim_outbox_clear(stc_chipsim_t *s);
/* Queue events from another part.  Each must name a core this part owns, an
 * axon of it, and a delivery tick after `tick` (the tick just run) and within
 * the queues' reach; a bad one fails the whole call with an error naming the
 * event (nothing is queued then). */
stc_status_t stc_chipsim_inject(stc_chipsim_t *s, const stc_remote_ev_t *ev, int64_t n, int tick, stc_err_t *err);
/* rsum: b->n_out int64 (this part's readout sums of the output stage, zeros
 * for outputs it does not own); stage_spikes: b->n_stages (may be NULL).
 * Folds the synops into the counters. */
stc_status_t stc_chipsim_end(stc_chipsim_t *s, int64_t *rsum, int64_t *stage_spikes, stc_err_t *err);

/* Checkpoint: the complete state of the owned cores between two ticks of an
 * input (membranes, accumulators, queues, kernel buffers, counters) and this
 * part's shares of the per-input sums, as one malloc'd blob (versioned,
 * checksummed, documented in docs/runtime.md).  restore loads, from a blob of
 * a part of the same bundle (any ownership), the cores this part owns that
 * the blob holds, and adds the blob's shares when take_shares is set (give
 * every blob's shares to exactly one part).  A blob is checked with explicit
 * limits like any outside bytes: errors name the field. */
stc_status_t stc_chipsim_save(const stc_chipsim_t *s, uint8_t **blob, size_t *len, stc_err_t *err);
stc_status_t stc_chipsim_restore(stc_chipsim_t *s, const uint8_t *blob, size_t len, int take_shares, stc_err_t *err);
/* Zero the per-input state before restoring blobs into it (begin without an
 * image); restored() then says whether every owned core was restored since
 * (an error names the first one missing). */
void stc_chipsim_clear(stc_chipsim_t *s);
stc_status_t stc_chipsim_restored(const stc_chipsim_t *s, stc_err_t *err);

/* ------------------------------------------------- energy and latency model */

typedef struct {
    double dyn_synop_uj, dyn_neuron_uj, dyn_spike_uj, dyn_route_uj; /* dynamic, per inference */
    double dyn_uj;          /* their sum */
    double static_uj;       /* static power of the chips used x the inference time */
    double total_uj;
    double tick_ns;         /* the slowest core's tick (synops, updates, hops) + barrier */
    double compute_us;      /* ticks per inference x tick */
    double link_s;          /* the busiest link's expected time per inference (0: not placed) */
    double latency_us;      /* the larger of compute_us and the busiest link's time */
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
