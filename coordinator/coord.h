/* coord.h - what the stc-coord commands share: option parsing and model loading.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_COORD_H
#define STC_COORD_H

#include "stc_bundle.h"
#include "stc_chipsim.h"
#include "stc_ckpt.h"
#include "stc_input.h"
#include "stc_ir.h"
#include "stc_model.h"
#include "stc_pass.h"
#include "stc_target.h"

#include <stdbool.h>

typedef struct {
    const char *model;       /* checkpoint or .stcir path */
    const char *config;      /* --config */
    stc_model_cfg_t cfg;     /* flags applied on top of the config */
    const char *flag_names[16], *flag_values[16];
    int n_flags;
    bool json;
    const char *dot;         /* --dot FILE (inspect: the IR as Graphviz) */
    const char *picture;     /* --picture FILE (partition, compile --topology: the placement) */
    const char *dump_ir;     /* --dump-ir FILE ("-" = stdout) */
    bool dump_weights;       /* --dump-ir-weights */
    bool float_mode;         /* run --float */
    const char *input, *labels, *dataset, *trace, *force;
    int64_t limit;
    int threads;
    bool progress, no_progress;
    const char *passes;      /* -O0..-O3 or --passes a,b */
    const char *dump_after;  /* --dump-ir-after PASS */
    /* backend: compile, run --int, profile */
    bool int_mode;           /* run --int: the integer interpreter */
    int weight_bits;         /* --weight-bits N (0: 8) */
    const char *calib;       /* --calib X: calibration images */
    const char *target;      /* --target NAME|FILE.json (compile) */
    const char *out;         /* -o FILE */
    int chips;               /* --chips N (0: as many as needed; with --topology, a cap within it) */
    const char *topology;    /* --topology SPEC (partition) */
    const char *strategy;    /* --strategy stc|metis|scotch|greedy|all */
    bool spread;             /* --spread: spread the cores over the topology's chips (balanced) */
    char rates_from[320];    /* set by partition and compile --topology: where the rates came from */
    int rate_images;         /* and how many images they were measured on (0: not measured now) */
    /* the distributed runtime: deploy, run --endpoint */
    const char *endpoint;    /* --endpoint tcp://HOST:PORT: talk to a node job (mpirun stc-node) */
    const char *keys;        /* --keys FILE (stc-coord keygen) */
    const char *owners;      /* --owners R,R,...: the rank of each chip (default: balanced) */
    double wait;             /* --wait S: for the node job to join (60) */
    double node_timeout;     /* --node-timeout S: a rank silent this long is lost (2) */
    int ranks;               /* --ranks N: expect this many */
    int64_t ckpt_every;      /* --checkpoint-every K ticks */
    const char *ckpt;        /* --checkpoint FILE (default: MODEL.stc.ckpt) */
    bool resume;             /* --resume */
    bool digest;             /* --digest: per-input spike digests and all counters in --json */
    bool stop_nodes;         /* --stop-nodes: end the node job after the command */
    int batch;               /* --batch N: inputs per RUN message (8) */
} coord_opts_t;

/* A loaded model: the IR, plus the checkpoint and resolved config when it came from one. */
typedef struct {
    stc_ckpt_t *ck;          /* NULL for .stcir input */
    stc_model_cfg_t cfg;
    stc_ir_t *ir;
    bool from_ckpt;
} coord_model_t;

int coord_load_model(const coord_opts_t *o, coord_model_t *m, stc_err_t *err);
void coord_model_free(coord_model_t *m);
/* Run the pass pipeline the options ask for (-O*, --passes, --dump-ir-after). */
int coord_passes(const coord_opts_t *o, coord_model_t *m, stc_err_t *err);
/* The images quantize calibrates on (cmd_compile.c): --calib X, else the first 64
 * training images of the data set (--dataset or the config's); NULL with a
 * warning logged and err untouched when there are none, or with err set. */
stc_input_t *coord_calib_images(const coord_opts_t *o, const coord_model_t *m, stc_err_t *err);

int cmd_inspect(coord_opts_t *o);
int cmd_run(coord_opts_t *o);
int cmd_target(coord_opts_t *o);
int cmd_compile(coord_opts_t *o);
int cmd_profile(coord_opts_t *o);
int cmd_partition(coord_opts_t *o);
/* keygen [-o FILE]: a new cluster key pair (cmd_keygen.c) */
int cmd_keygen(coord_opts_t *o);
/* Cut the bundle into cores, place them on o->topology by o->strategy (all:
 * compare the four, keep the first that fits in the order stc, metis, scotch,
 * greedy; the others are reported infeasible), on at most o->chips of its
 * chips when given, build the tables and report (text, or into jr).  b->stage_rate weighs traffic and work when present.  Returns 0, or
 * non-zero with the error printed (cmd_partition.c; compile --topology too).
 * The caller has run coord_place_check (below) on o and t first. */
struct cJSON;
int coord_place(const coord_opts_t *o, stc_bundle_t *b, const stc_target_t *t, struct cJSON *jr);
/* --picture P: 0 if P ends in .png, .svg, .pdf or .dot (any case) in a directory that
 * can be written; else 2 with the error printed. */
int coord_picture_check(const char *path);
/* Before any long work: 0 if o->strategy names a strategy and o->topology loads for
 * target t (and o->picture can be drawn on it); else non-zero with the error printed. */
int coord_place_check(const coord_opts_t *o, const stc_target_t *t);
/* run MODEL.stc: the chip simulator (cmd_runsim.c); cmd_run dispatches to it */
int cmd_run_bundle(coord_opts_t *o);
int cmd_deploy(coord_opts_t *o);
int cmd_run_distributed(coord_opts_t *o); /* run MODEL.stc --endpoint EP (cmd_deploy.c) */
int cmd_stop(coord_opts_t *o);            /* stop --endpoint EP: end the node job */
/* The bundle named o->model and the inputs its options select (cmd_runsim.c). */
int coord_load_bundle_inputs(coord_opts_t *o, stc_bundle_t **bp, stc_input_t **inp, int64_t default_limit);
/* The inputs alone, for a bundle already loaded. */
int coord_load_inputs(coord_opts_t *o, const stc_bundle_t *b, stc_input_t **inp, int64_t default_limit);
void coord_add_counters(stc_core_counters_t *a, const stc_core_counters_t *c);
/* What a run computed, single-process or distributed, for coord_run_report. */
typedef struct {
    int64_t n;
    const float *logits;                /* n * n_out */
    const int64_t *spikes;              /* n * n_stages: events per stage */
    const uint64_t *digest;             /* n, or NULL */
    const stc_core_counters_t *cores;   /* n_cores, summed over the run */
    const stc_core_counters_t *stages;  /* n_stages */
    int64_t correct;
    double secs;
    int threads;                        /* single-process */
    int ranks;                          /* distributed: the node job's size (0: single-process) */
    double tick_s, sync_s;              /* distributed: wall time per tick, of it exchange and sync */
    double wall_latency_s;              /* distributed: wall time per inference on the ranks */
} coord_runres_t;
int coord_run_report(const coord_opts_t *o, const stc_bundle_t *b, const stc_input_t *in, const coord_runres_t *r,
                     struct cJSON *extra);
int coord_is_bundle(const char *path);

/* util.c: shared by the commands */
void coord_progress(int64_t done, int64_t n, double secs, int64_t correct, int has_labels);
/* Long work without a count of images (compile): one status line on stderr,
 * rewritten in place, "compile: quantizing: calibration image 2 of 2, 31 s".  Shown on a
 * terminal or with --progress, never with --json (unless --progress) or
 * --no-progress; coord_status_end clears it, and so does coord_fail. */
void coord_status_begin(const coord_opts_t *o, const char *cmd);
void coord_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void coord_status_end(void);
int coord_argmax(const float *v, int n);
/* Worker threads for n independent images, each worker holding `bytes`:
 * --threads N if given, else one per core but at most a quarter of the
 * machine's memory in all; never more than n or 64, at least 1. */
int coord_workers(const coord_opts_t *o, int64_t n, int64_t bytes);
/* Events each stage emits, summed over the inputs in, on the chip simulator
 * (coord_workers' simulators, each image on one: the sums are the same for any
 * number); what names the phase on the status line.  spikes: b->n_stages. */
int coord_sim_stage_spikes(const coord_opts_t *o, const stc_bundle_t *b, const stc_input_t *in, const char *what,
                           int64_t *spikes);
double coord_now(void); /* monotonic seconds */
/* The normalization of n_ch channels in *norm, or NULL if n_ch is 0. */
stc_input_norm_t *coord_norm(int n_ch, const float *mean, const float *std, stc_input_norm_t *norm);
/* The target a bundle was compiled for (its own copy of the descriptor); prints the error. */
int coord_bundle_target(const stc_bundle_t *b, stc_target_t *t);
/* "4 chips", "1 chip", or "4 of 16 chips" (chips that hold cores of the system's). */
const char *coord_chips_phrase(const stc_bundle_t *b, char *buf, size_t n);
const char *coord_kind_name(int kind); /* stc_nkind_t, lower case as the reports print it */

/* Print "error: msg" to stderr (the programs' one place for fatal errors). */
void coord_fail(const stc_err_t *err);

#endif
