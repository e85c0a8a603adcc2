/* stc_bundle.h - a compiled model in hardware terms, and its file (.stc).
 *
 * The lowering (compiler/lower/lower.c) builds an stc_bundle_t from the
 * quantized, delay-balanced IR; the chip simulator (node/) runs one; the
 * bundle file holds one (byte layout: docs/bundle.md).  docs/backend.md says
 * what every stage and synapse kind computes.  A bundle owns all its arrays:
 * stc_bundle_destroy() frees them.  Indices: a stage's neuron (c, y, x) is
 * (c * h + y) * w + x; a core's neurons are its slices' neurons in slice
 * order, each slice's in the same (c, y, x) order restricted to its ranges.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_BUNDLE_H
#define STC_BUNDLE_H

#include "stc_base.h"

#include <stdint.h>

#define STC_BUNDLE_VERSION 3 /* 3: DENSE, CONV over a source channel range (c0); 2: tables as runs; 1: per axon, route */

typedef enum {
    STC_NK_INPUT = 1, /* host port: injects the encoded image as graded spikes */
    STC_NK_LIF,       /* fixed-point LIF (docs/backend.md 1.1) */
    STC_NK_RELAY,     /* graded(a_in + bias), sent as a graded spike */
    STC_NK_MAX,       /* max of received payloads in the window (0 if none) */
    STC_NK_AND,       /* spike iff a_in == 2 */
    STC_NK_SSA,       /* attention kernel: I = (q k^T) v per head; emits I * mul as graded spikes */
    STC_NK_READOUT,   /* accumulates a_in + bias over timesteps; never spikes */
    STC_NK_COUNT
} stc_nkind_t;

typedef enum {
    STC_SK_CONV = 1,    /* w[co][ci][k][k]; source channels [c0, c0 + ci) */
    STC_SK_DENSE,       /* w[co][ci], same position; source channels [c0, c0 + ci) */
    STC_SK_ONE2ONE,     /* w[c] (n_w = C) or w[0] (n_w = 1) */
    STC_SK_REDUCE,      /* to (c,0,0); w as ONE2ONE */
    STC_SK_DENSE_REDUCE,/* to (o,0,0); w[co][ci] */
    STC_SK_WINDOW,      /* max over the k x k window; no weights */
    STC_SK_BCAST,       /* (c,0,0) to every (c,y,x); weight 1 */
    STC_SK_SSA_Q, STC_SK_SSA_K, STC_SK_SSA_V, /* into the kernel's buffers; no weights */
    STC_SK_COUNT
} stc_skind_t;

typedef struct stc_stage {
    char name[96];        /* PyTorch module name of the IR node */
    int ir_node;          /* its id in the quantized IR */
    int kind;             /* stc_nkind_t */
    int c, h, w;          /* neurons = c * h * w */
    int depth;            /* computes timestep t at tick t + depth */
    /* LIF */
    int shl, dk;
    int64_t vth, vreset;
    /* RELAY: graded(a_in + bias, rsh, pbits); dense: send zeros too (a MAX reads it)
     * INPUT: qexp and pbits encode the image */
    int rsh, pbits, dense, qexp;
    int heads, mul;       /* SSA: emits I * mul */
    double qstep;         /* READOUT: logits = sum * qstep / T */
    int64_t *bias;        /* per channel (c entries), added to a_in; NULL if none */
} stc_stage_t;

typedef struct {
    int src, dst;         /* stage indices */
    int kind;             /* stc_skind_t */
    int k, stride, pad;   /* CONV, WINDOW */
    int delay;            /* ticks from emission to delivery, >= 1 */
    int shift;            /* effective weight = w << shift */
    int co, ci;           /* weight dims (CONV: and k*k) */
    int c0;               /* DENSE, CONV: reads source channels [c0, c0 + ci) (a slice); 0 for every other kind */
    int64_t n_w;          /* number of weights */
    int8_t *w;            /* NULL for kinds without weights */
} stc_proj_t;

typedef struct {
    int stage;
    int c0, c1;           /* channels [c0, c1) */
    int y0, y1;           /* rows [y0, y1) */
} stc_slice_t;

/* A run of a core's input axons.  A core's axons are numbered consecutively
 * over its runs: the run k that starts at axon a_k (the sum of the n of the
 * runs before it) holds axons a_k .. a_k + n - 1, and axon a_k + i carries
 * source neuron src + i of projection proj.  A row of the source (or several
 * consecutive rows of one channel) is contiguous in both orders, so a run is
 * typically a row or more. */
typedef struct {
    int32_t proj;         /* which projection */
    int32_t src;          /* its first source neuron: flat index in the projection's source stage */
    int32_t n;            /* axons in the run, >= 1 */
} stc_axon_run_t;

/* A run of a core's routes: its local neurons neuron .. neuron + n - 1 route,
 * each, to (core, axon + i) for neuron + i.  A core's runs are sorted by
 * (neuron, core, axon); a neuron's routes, the union of the runs that cover
 * it, are in (core, axon) order (the order the simulator sends them in). */
typedef struct {
    int32_t neuron;       /* first local neuron of the source core */
    int32_t n;            /* routes in the run, >= 1 */
    int32_t core;         /* destination core (index in the bundle) */
    int32_t axon;         /* input axon of that core for the first neuron */
} stc_route_run_t;

typedef struct {
    int chip;             /* -1: the host port (the INPUT stage lives here) */
    int x, y;             /* position on the chip's core mesh */
    int n_slices;
    stc_slice_t *slices;
    int n_axons;          /* input axons (fan-in): the sum of the axon runs' n */
    int n_axon_runs;
    stc_axon_run_t *axon_runs; /* input axon table */
    int n_neurons;        /* sum of the slices' neurons */
    int n_routes;         /* routes (fan-out): the sum of the route runs' n */
    int n_route_runs;
    stc_route_run_t *route_runs; /* routing table */
    /* accounting: the lowering's figures, stored in the file; validate checks them against the target */
    int64_t mem_state, mem_syn, mem_axon; /* bytes */
} stc_core_t;

typedef struct stc_bundle {
    /* manifest */
    char model[128];      /* architecture ("spikformer_cifar", ...) */
    char source[256];     /* the checkpoint it was compiled from (file name) */
    char target[64];      /* target descriptor name */
    char options[256];    /* compile options as given ("-O3 --weight-bits 8 ...") */
    char topology[64];    /* the topology the chips are placed on ("torus:4x4"); "" for first-fit order */
    int T;                /* timesteps per inference */
    int ticks;            /* ticks per inference: T + depth of the readout */
    int n_chips;
    int input_stage, output_stage;
    int in_c, in_h, in_w; /* input shape */
    int n_out;            /* logits */
    char dataset[32];     /* the data set the model was trained on ("" if unknown) */
    int n_norm;           /* input normalization (x - mean[c]) / std[c] of raw images, 0..4 channels */
    float norm_mean[4], norm_std[4];
    double pytorch_accuracy; /* as the model's config reports it; < 0 if unknown */
    /* the model in hardware terms */
    int n_stages;
    stc_stage_t *stages;
    int n_projs;
    stc_proj_t *projs;
    int n_cores;
    stc_core_t *cores;    /* core 0 is the host port */
    /* the target as compiled for (a copy of the descriptor JSON) */
    char *target_json;
    /* the placement (stc-coord partition), so that a node needs no file of its own:
     * the topology file's text when `topology` names a file (NULL for a spec such
     * as "torus:4x4", which describes itself), and the spikes per inference the
     * partitioner expects on each link id of that topology (stc_place_evaluate's
     * link_load); n_links 0 and link_traffic NULL when the bundle was not placed
     * (or was placed by an stc that did not record them) */
    char *topology_json;
    int n_links;
    double *link_traffic;
    /* firing rates measured on calibration images (stc-coord partition
     * --calibrate/--dataset): spikes (or graded events) per neuron per inference
     * of every stage, n_stages entries; NULL when never measured.  The
     * partitioner weighs traffic and per-tick work with them. */
    double *stage_rate;
} stc_bundle_t;

void stc_bundle_destroy(stc_bundle_t **bp);
/* Free the cores and the placement (what the partitioner makes), keeping the
 * stages and projections, so that they can be cut again. */
void stc_bundle_drop_cores(stc_bundle_t *b);
/* The chips that hold at least one core (n_chips is the whole system's: a
 * bundle placed on torus:4x4 has n_chips 16 even if its cores sit on 4).
 * Static power is charged for these. */
int stc_bundle_chips_used(const stc_bundle_t *b);

/* Limits of the bundle reader and of stc_bundle_validate (docs/bundle.md,
 * "Limits").  Far above the largest published models; they bound what a
 * hostile file can make the reader allocate and the simulator loop over.
 * Strings are limited by their fields above (name 95 bytes, model 127, ...). */
#define STC_BUNDLE_MAX_FILE_BYTES    ((uint64_t)1 << 32) /* a whole .stc file */
#define STC_BUNDLE_MAX_STAGES        (1 << 16)
#define STC_BUNDLE_MAX_PROJS         (1 << 18)
#define STC_BUNDLE_MAX_CORES         (1 << 20)
#define STC_BUNDLE_MAX_CHIPS         (1 << 16)
#define STC_BUNDLE_MAX_T             4096                /* timesteps per inference */
#define STC_BUNDLE_MAX_DIM           (1 << 16)           /* c, h, w of a stage; co, ci */
#define STC_BUNDLE_MAX_STAGE_NEURONS (1 << 26)           /* c * h * w */
#define STC_BUNDLE_MAX_DEPTH         (1 << 16)           /* stage depth, hence delays */
#define STC_BUNDLE_MAX_WEIGHTS       (1 << 26)           /* per projection */
#define STC_BUNDLE_MAX_KERNEL        64                  /* k, stride and pad of CONV/WINDOW */
#define STC_BUNDLE_MAX_SHIFT         24                  /* int8 << 24 still fits int32 */
#define STC_BUNDLE_MAX_SLICES        (1 << 16)           /* per core */
#define STC_BUNDLE_MAX_AXONS         (1 << 24)           /* per core (so are its axon runs, each >= 1 axon) */
#define STC_BUNDLE_MAX_CORE_NEURONS  (1 << 24)           /* per core */
#define STC_BUNDLE_MAX_ROUTES        (1 << 28)           /* per core (so are its route runs, each >= 1 route) */
#define STC_BUNDLE_MAX_MESH          (1 << 16)           /* core position x, y */
#define STC_BUNDLE_MAX_MEM_BYTES     ((int64_t)1 << 40)  /* each of mem_state, mem_syn, mem_axon */
#define STC_BUNDLE_MAX_ABS_BIAS      ((int64_t)INT32_MAX) /* |bias| (a_in is an int32 sum) */
#define STC_BUNDLE_MAX_ABS_VTH       ((int64_t)1 << 40)  /* |vth| of a LIF */
#define STC_BUNDLE_MAX_RSH           48                  /* RELAY rounding shift */
#define STC_BUNDLE_MAX_QEXP          62                  /* |qexp| of the INPUT encoding */
#define STC_BUNDLE_MAX_ABS_MUL       (1 << 24)           /* |mul| of an SSA stage */
#define STC_BUNDLE_MAX_TARGET_JSON   (1 << 20)           /* bytes of the embedded descriptor */
#define STC_BUNDLE_MAX_TOPOLOGY_JSON (1 << 20)           /* bytes of the embedded topology file (as topology.c reads) */
/* Links of the placement's topology: topology.c's own limit.  More than
 * 3 x STC_TOPO_MAX_CHIPS (a 3D torus) because a hierarchy joins the chips of
 * each group all to all. */
#define STC_BUNDLE_MAX_LINKS         (1 << 20)

/* "LIF", "CONV", ...; "?" for a value out of range. */
const char *stc_bundle_stage_kind_name(int kind);
const char *stc_bundle_synapse_kind_name(int kind);

/* Write / read the .stc file (docs/bundle.md).  The reader checks the magic,
 * version and checksum, every count against explicit limits and every index
 * against what it refers to, before allocating; errors name the file and the
 * field.  The in-memory reader is what the fuzz target drives. */
stc_status_t stc_bundle_write(const stc_bundle_t *b, const char *path, stc_err_t *err);
stc_status_t stc_bundle_write_mem(const stc_bundle_t *b, unsigned char **data, size_t *n,
                                  stc_err_t *err);
stc_bundle_t *stc_bundle_read(const char *path, stc_err_t *err);
stc_bundle_t *stc_bundle_read_mem(const unsigned char *data, size_t n, const char *name,
                                  stc_err_t *err);
/* The checksum the file carries: CRC-32 (zlib) of everything after the header
 * (also what deploy compares between hosts). */
uint32_t stc_bundle_checksum(const unsigned char *data, size_t n);

/* A box of a stage's neurons: channels [c0, c1) x rows [y0, y1) x columns [x0, x1). */
typedef struct {
    int c0, c1, y0, y1, x0, x1;
} stc_box_t;

/* The source neurons of projection p that reach the neurons of `sl` (a slice
 * of p's destination stage): the receptive field of a conv or window, the
 * same positions for a dense, the same channels for a reduce, and so on
 * (docs/backend.md 2.1).  Cores' input axons and fan-in follow from it. */
stc_box_t stc_bundle_src_box(const stc_bundle_t *b, const stc_proj_t *p, const stc_slice_t *sl);
static inline int64_t stc_box_numel(stc_box_t r) {
    return (int64_t)(r.c1 - r.c0) * (r.y1 - r.y0) * (r.x1 - r.x0);
}

/* Check the structure: indices in range, slices inside their stages, every
 * route's axon exists and carries the route's own neuron, every axon reached
 * by exactly one route, depths and delays consistent (delay = depth(dst) -
 * depth(src)).  Work and memory are per run and per slice, not per neuron.
 * The reader calls it; so do the lowering's tests. */
stc_status_t stc_bundle_validate(const stc_bundle_t *b, const char *name, stc_err_t *err);

#endif
