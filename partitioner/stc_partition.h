/* stc_partition.h - topologies of chips, and the placement problem over them.
 *
 * A topology is a set of chips joined by links: a 2D or 3D mesh or torus
 * ("mesh:4x4", "torus:4x4", "torus:2x2x2"), a hierarchy ("hier:8x4": 8 boards
 * of 4 chips; a link cost per level), or a topology file (JSON, deploy/
 * topologies/) that also carries link bandwidths and costs.  Routing is
 * dimension-ordered (X, then Y, then Z), taking a torus's wrap-around link
 * when it is shorter; in a hierarchy a message climbs to the lowest common
 * level and back down.  A placement problem is a graph of cores (per-tick work
 * as vertex weight, spikes per inference between cores as edge weight) to be
 * mapped onto the chips of a topology.  The partitioner milestone builds the
 * strategies (stc, METIS, Scotch, greedy) on these two.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_PARTITION_H
#define STC_PARTITION_H

#include "stc_base.h"

#include <stdint.h>

struct stc_stage;

/* ---------------------------------------------------------------- topology */

#define STC_TOPO_MAX_CHIPS 65536
#define STC_TOPO_MAX_DIMS 3

typedef enum { STC_TOPO_MESH = 1, STC_TOPO_TORUS, STC_TOPO_HIER } stc_topo_kind_t;

typedef struct {
    int a, b;             /* the two chips it joins (a < b) */
    int level;            /* hierarchy level (0: within a board); mesh/torus: the dimension */
    double bandwidth;     /* spikes per second in each direction */
    double cost;          /* energy per spike crossing it, pJ (a file's relative costs are scaled on loading:
                           * the cheapest link costs default_cost, docs/topologies.md) */
} stc_link_t;

typedef struct stc_topology stc_topology_t;

/* Parse "mesh:AxB[xC]", "torus:AxB[xC]", "hier:AxB[x...]" or a topology file
 * (a path: contains '/' or ends in ".json").  `default_bandwidth` and
 * `default_cost` (from the target: chip_link_spikes_per_s, energy_chip_hop_pj)
 * apply where the spec does not give them.  Errors name the spec or file and
 * the field ("torus:4x0: dimension 2 is 0, expected 1..65536"). */
stc_topology_t *stc_topology_parse(const char *spec, double default_bandwidth, double default_cost,
                                   stc_err_t *err);
stc_topology_t *stc_topology_parse_json(const char *json, size_t n, const char *name,
                                        double default_bandwidth, double default_cost, stc_err_t *err);
struct stc_bundle;

/* The topology a placed bundle names: the file it carries (section `topo`),
 * else its spec (b->topology must not be empty). */
stc_topology_t *stc_topology_of_bundle(const struct stc_bundle *b, double default_bandwidth, double default_cost,
                                       stc_err_t *err);
void stc_topology_destroy(stc_topology_t **tp);

const char *stc_topology_name(const stc_topology_t *t); /* as given: "torus:4x4" */
stc_topo_kind_t stc_topology_kind(const stc_topology_t *t);
const char *stc_topology_kind_word(const stc_topology_t *t); /* "mesh", "torus" or "hier", as a spec writes it */
int stc_topology_chips(const stc_topology_t *t);
int stc_topology_dims(const stc_topology_t *t, int *dims); /* mesh/torus extents (or level fan-outs) */
int stc_topology_n_links(const stc_topology_t *t);
const stc_link_t *stc_topology_link(const stc_topology_t *t, int i);
/* Dimension d (mesh/torus) or level d (hierarchy) is always index d, X or level 0
 * (chips on a board) first, and chip = c[0] + dims[0] * (c[1] + dims[1] * c[2]):
 * "hier:8x4" (8 boards of 4 chips, written top-down) has dims {4, 8}.  Link ids,
 * the hierarchy model and its default costs: docs/topologies.md.
 * The unit a topology file gave its costs in: "pJ", or "relative" when it says so;
 * stc_link_t.cost is pJ either way (relative costs are scaled on loading). */
const char *stc_topology_cost_unit(const stc_topology_t *t);

/* The dimension-ordered route from chip a to chip b: the link ids in order
 * (at most `max`; returns the full count, 0 when a == b; -1, and cost -1.0,
 * when a or b is not a chip of t). */
int stc_topology_route(const stc_topology_t *t, int a, int b, int *links, int max);
/* Its length in links, and the sum of the links' costs. */
int stc_topology_hops(const stc_topology_t *t, int a, int b);
double stc_topology_cost(const stc_topology_t *t, int a, int b);

/* Chip coordinates in the mesh/torus (or the index at each hierarchy level). */
void stc_topology_coords(const stc_topology_t *t, int chip, int *coords);

/* ------------------------------------------- stages into slices into cores */

#define STC_AXON_BYTES 4 /* per input axon table entry (assumption, docs/backend.md 3) */
#define STC_STATIC_SPIKE_RATE 0.1 /* spikes per neuron per timestep when no rates were measured */

struct stc_target;

typedef struct {
    const double *stage_rate; /* per stage: spikes per neuron per inference (measured), or NULL: estimate */
    int first_fit;            /* the baseline: fewest equal slices per stage, packed first-fit */
    int max_chips;            /* 0: as many as needed; else an error saying how many are needed */
} stc_cores_opts_t;

typedef struct stc_cores_report {
    int cores;                /* chip cores used (the host port not counted) */
    int lower_bound;          /* ceil(max(lb_neurons, lb_memory)) */
    double lb_neurons;        /* total neurons / neurons_per_core */
    double lb_memory;         /* (total neuron state + every weight stored once) / memory_per_core_bytes */
    int lower_bound_limits;   /* ceil(lb_limits), >= lower_bound (bound.c) */
    double lb_limits;         /* the limit-aware bound: demand as fan-in, fan-out and memory force it */
    double lb_lambda[4];      /* its weights on neurons, memory, fan-in, fan-out */
    double lb_copies;         /* memory with the weight copies fan-in forces on any cut, over a core's (bound.c);
                               * lb_limits is at least this */
    double max_work_ns, mean_work_ns; /* estimated per-tick work of the busiest core, and the mean */
    int cores_unpacked;       /* stc's cut with every stage on cores of its own (before balancing) */
    int packed_stages;        /* light stages (residual adds, max-pools) packed into the slack of their
                               * neighbours' cores, or 0 */
    int packed_pools;         /* how many of them are max-pools */
    int cores_packed;         /* the cut with them packed (before balancing), if packed_stages */
    double reserve;           /* the share of an add's hosts' neurons left to it (half that of memory, fan-in) */
    double reserve_pools;     /* the same for a max-pool's hosts */
} stc_cores_report_t;

/* Cut the bundle's stages into slices and pack them into cores under every
 * per-core limit of the target (cores.c), chip after chip in pipeline order:
 * b->cores (core 0 the host port), b->n_cores, b->n_chips.  Errors name the
 * stage and the limit, or the chips needed over max_chips. */
stc_status_t stc_cores_build(struct stc_bundle *b, const struct stc_target *t, const stc_cores_opts_t *o,
                             stc_cores_report_t *rep, stc_err_t *err);
/* What a cut packed, for a report line: "17 residual adds and 4 max-pools"
 * (buf of n bytes, returned). */
const char *stc_cores_packed_what(const stc_cores_report_t *r, char *buf, size_t n);
/* The work (ns) per active tick of every core of a cut bundle (n_cores entries, the
 * host port 0) and the synaptic events per inference, estimated from stage
 * rates as the cut itself weighs them (NULL rates: the static estimate). */
stc_status_t stc_cores_work(const struct stc_bundle *b, const struct stc_target *t, const double *stage_rate,
                            double *core_work, double *synops, stc_err_t *err);
/* An SSA slice's extra state bytes for nc channels: q, k, v bits of all the
 * head's tokens and the k^T v table (docs/backend.md 2.2). */
int64_t stc_cores_ssa_state(const struct stc_stage *s, int64_t nc);
/* Lower bounds on cores (bound.c): total demand over per-core capacity
 * (lower_bound), and the limit-aware bound (lower_bound_limits), which counts
 * the weight copies, axons and routes any cut within the target's limits
 * must have.  Both hold for every assignment of neurons to cores. */
void stc_cores_lower_bound(const struct stc_bundle *b, const struct stc_target *t, stc_cores_report_t *r);

/* Each core's input axons (one per projection and source neuron that reaches
 * it) and each neuron's routes to them (tables.c); checks fan-in, fan-out and
 * memory against the target and stores each core's exact memory figures. */
stc_status_t stc_tables_build(struct stc_bundle *b, const struct stc_target *t, stc_err_t *err);

/* --------------------------------------------------- the placement problem */

/* Cores to place (vertices) and the spikes between them (edges, symmetric
 * CSR: the edge u-v appears in both rows with the same weight). */
typedef struct {
    int n;                /* cores */
    double *work;         /* per core: per-tick work, ns (the busiest core sets the tick) */
    int64_t *xadj;        /* n + 1 */
    int32_t *adj;         /* xadj[n] neighbours */
    double *traffic;      /* spikes per inference on each edge (both directions summed) */
    double compute_s;     /* an inference's compute time, s: ticks x (busiest core's work + barrier); 0: unknown */
    double static_w;      /* static power of a chip in use, W; 0: unknown (stc_place_links then does nothing) */
} stc_pgraph_t;

/* The placement graph of a cut bundle (its cores; the tables are not needed):
 * one vertex per chip core (the host port, core 0, is left out: vertex i is
 * core i + 1), an edge between two cores whose neurons route to each other,
 * weighted by the spikes per inference that cross it: for every route, the
 * firing rate of its source neuron's stage.  stage_rate: spikes per neuron per
 * inference for every stage (measured on calibration inputs), or NULL for the
 * static estimate of 0.1 per neuron per timestep.  Vertex weights: each
 * core's per-tick work (stc_cores_work).  compute_s and static_w from the
 * bundle's ticks and the target. */
stc_status_t stc_pgraph_from_bundle(const struct stc_bundle *b, const struct stc_target *t, const double *stage_rate,
                                    stc_pgraph_t *g, stc_err_t *err);
void stc_pgraph_free(stc_pgraph_t *g);

/* What a placement costs (the partitioner report's figures). */
typedef struct {
    int chips_used;
    double inter_chip_spikes;     /* spikes per inference that leave their chip */
    double hop_weighted_traffic;  /* sum over edges of traffic x route hops */
    double cost_weighted_traffic; /* sum over edges of traffic x route cost (pJ per inference) */
    double max_link_load;         /* busiest link's spikes per inference, over its bandwidth x 1 s */
    int busiest_link;             /* its id, -1 if no traffic leaves a chip */
    double max_chip_work;         /* ns per tick of the busiest core on the busiest chip */
} stc_place_eval_t;

/* Evaluate chip_of[core] (every entry 0..chips-1, at most cores_per_chip
 * cores per chip).  link_load, if not NULL, receives the spikes per inference
 * of every link (stc_topology_n_links entries). */
stc_status_t stc_place_evaluate(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip,
                                const int *chip_of, stc_place_eval_t *ev, double *link_load, stc_err_t *err);

/* Baselines (partitioner/baselines.c).  Each fills chip_of[core] with at most
 * cores_per_chip cores per chip, or fails saying how many chips it needs.
 *   greedy: cores in order, chip after chip (nengo-loihi's Greedy).
 *   metis:  METIS_PartGraphKway into ceil(n / cores_per_chip) parts
 *           (communication-volume objective), parts placed on chips in order.
 *   scotch: SCOTCH_graphMap onto the topology as a Scotch architecture
 *           (mesh2D/torus2D/mesh3D/torus3D, tleaf for a hierarchy). */
/* stc's strategy (place_stc.c): three starts (the pipeline dealt along a path
 * of adjacent chips, METIS clusters along it, Scotch's mapping), refined by
 * moves and swaps that lower the traffic weighted by each link's cost and
 * bandwidth (hops on a uniform topology); then simulated
 * annealing from the best (deterministic seed, a budget per core) polished by
 * the same refinement; the best placement seen is kept; then stc_place_links. */
stc_status_t stc_place_stc(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                           stc_err_t *err);
/* The last step of stc's strategy (place_links.c): when the busiest link's
 * time per inference exceeds g->compute_s, chips exchange places and cores
 * that cross it move or swap while that lowers the estimated energy (link
 * energy + static power over the latency the busiest link sets).  Nothing
 * if g->static_w is 0.  chip_of: a valid placement, improved in place. */
stc_status_t stc_place_links(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                             stc_err_t *err);
stc_status_t stc_place_greedy(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                              stc_err_t *err);
stc_status_t stc_place_metis(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                             stc_err_t *err);
stc_status_t stc_place_scotch(const stc_pgraph_t *g, const stc_topology_t *t, int cores_per_chip, int *chip_of,
                              stc_err_t *err);

#endif
