/* stc_ir.h - the Spike IR: a typed graph of ops over [C,H,W] tensors with a time axis.
 *
 * A graph is a list of nodes in topological order (every input refers to an
 * earlier node; the verifier checks it), starting with one INPUT and ending
 * with one OUTPUT.  Each node carries its op (ir_ops.def), the PyTorch module
 * name it came from ("block.0.attn.q_lif"), its output shape and value type
 * (spike: exactly 0/1; real: anything), its attributes and its parameters as
 * dense float32 arrays.  The IR owns an arena: nodes, names and parameters go
 * with stc_ir_destroy().  The text form (ir_text.c) prints and parses back to
 * the same graph; docs/ir.md documents it.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_IR_H
#define STC_IR_H

#include "stc_base.h"

#include <stdbool.h>
#include <stdio.h>

typedef enum {
#define X(e, name, nin, meaning) STC_OP_##e,
#include "ir_ops.def"
#undef X
    STC_OP_COUNT
} stc_op_t;

const char *stc_op_name(stc_op_t op);
int stc_op_arity(stc_op_t op);
int stc_op_from_name(const char *name); /* -1 if unknown */

typedef enum { STC_VT_REAL = 0, STC_VT_SPIKE } stc_vtype_t;

typedef struct {
    int c, h, w;
} stc_shape_t;

#define STC_MAX_PARAMS 4
#define STC_MAX_INPUTS 3

typedef struct {
    const char *role;      /* "weight", "bias", "running_mean", "running_var" */
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float *data;           /* arena-owned */
} stc_param_t;

typedef struct {
    int id;                /* index in the graph; %id in the text form */
    stc_op_t op;
    const char *name;      /* PyTorch module name, "" if none */
    int n_in;
    int in[STC_MAX_INPUTS];
    stc_shape_t shape;     /* output shape per timestep */
    stc_vtype_t vtype;
    /* attributes (only those of the op are meaningful) */
    int k, stride, pad;    /* conv2d (k x k kernel), maxpool */
    int heads;             /* ssa */
    float scale;           /* ssa */
    float tau, vth, vreset;/* lif */
    float eps;             /* batchnorm */
    int n_params;
    stc_param_t params[STC_MAX_PARAMS];
    /* quantized IR (ir->quant = 1; the quantize pass sets these; docs/backend.md
     * section 1 gives the exact integer semantics of every op) */
    double qstep;          /* every node: the output integer q means q * qstep */
    int qexp;              /* input: x_q = round(x * 2^qexp); conv2d/linear: w_q = round(W * 2^qexp);
                              ssa: qstep = 2^-qexp */
    int qbits;             /* conv2d/linear: weight bits; input and graded nodes: payload bits */
    int qgraded;           /* add, or conv2d/linear read by a non-synaptic op: carried as graded spikes */
    int qrsh;              /* graded: right shift (rounding) before the payload clamp */
    int qsh[STC_MAX_INPUTS]; /* add: left shift of each input to the common step */
    int qshl;              /* lif: X = clamp24(x << qshl) */
    int qdk;               /* lif: decay, h = v + ((X - v) * qdk >> 12) */
    int64_t qvth, qvreset; /* lif: threshold and reset value in membrane units */
    int qmul;              /* ssa: q = I * qmul */
    /* delay_balance: pipeline depth of a stage node (docs/backend.md 2.1), -1 otherwise */
    int depth;
} stc_node_t;

typedef struct stc_ir {
    stc_arena_t *arena;
    int T;                 /* timesteps per inference */
    int quant;             /* 1 after the quantize pass: integer semantics (docs/backend.md) */
    int balanced;          /* 1 after delay_balance: stage depths set */
    const char *arch;      /* "spikformer_cifar", ..., or "custom" */
    int n_nodes, cap_nodes;
    stc_node_t *nodes;     /* malloc'd array (grows); node data in the arena */
} stc_ir_t;

stc_ir_t *stc_ir_create(int T, const char *arch);
void stc_ir_destroy(stc_ir_t **irp);

/* Append a node; returns its id (or -1 on OOM).  Shape and vtype are filled by
 * stc_ir_infer() unless the caller sets them (the parser does, and the verifier
 * then checks they agree). */
int stc_ir_add(stc_ir_t *ir, stc_op_t op, const char *name, int n_in, const int *in);
stc_node_t *stc_ir_node(stc_ir_t *ir, int id);
/* Add a parameter to a node, copying `data` (numel floats) into the arena. */
stc_param_t *stc_ir_add_param(stc_ir_t *ir, int id, const char *role, int ndim,
                              const int64_t *shape, const float *data);
const stc_param_t *stc_ir_param(const stc_node_t *n, const char *role); /* NULL if absent */

/* Compute the shape and value type a node must have from its inputs and
 * attributes.  Fails (naming the node) if the inputs do not fit the op. */
stc_status_t stc_ir_infer(const stc_ir_t *ir, int id, stc_shape_t *shape, stc_vtype_t *vt,
                          stc_err_t *err);
/* Infer and store shape/vtype of node id. */
stc_status_t stc_ir_settle(stc_ir_t *ir, int id, stc_err_t *err);

/* The affine form of a batchnorm node, per channel: out = in * a[c] + b[c] with
 * a = weight / sqrt(var + eps) (eps as a double) and b = bias - mean * a,
 * ATen's inference kernel.  The interpreter and fold_bn both use this, so a
 * folded graph computes with the very same factors. */
void stc_ir_bn_affine(const stc_node_t *bn, float *a, float *b);

/* Remove nodes: repl[i] = -1 keeps node i; repl[i] = j (j < i) removes it and
 * redirects its uses to node j (chains are followed).  Survivors keep their
 * order and are renumbered.  The caller re-verifies. */
stc_status_t stc_ir_remove(stc_ir_t *ir, const int *repl, stc_err_t *err);

/* Number of nodes that read node id (each input slot counts). */
int stc_ir_users(const stc_ir_t *ir, int id);

/* Check the whole graph: arity, acyclicity (inputs are earlier nodes), shapes,
 * value types, attributes and parameter shapes; one INPUT first, one OUTPUT
 * last.  The message names the offending node ("%5 'patch_embed.proj_bn'"). */
stc_status_t stc_ir_verify(const stc_ir_t *ir, stc_err_t *err);

/* Text form.  With STC_IR_PRINT_WEIGHTS every parameter value is printed
 * (round-trip exact, %.9g); without, values are elided as "..." and the text
 * is for reading only. */
#define STC_IR_PRINT_WEIGHTS 1
stc_status_t stc_ir_print(const stc_ir_t *ir, FILE *f, int flags, stc_err_t *err);
/* Parse the text form; `name` is used in messages (file:line: ...). */
stc_ir_t *stc_ir_parse(const char *text, size_t n, const char *name, stc_err_t *err);
stc_ir_t *stc_ir_load(const char *path, stc_err_t *err);

/* Graphviz: one box per node, labelled with op, name and shape. */
stc_status_t stc_ir_dot(const stc_ir_t *ir, FILE *f, stc_err_t *err);

/* Static per-node cost, per timestep (the basis of `stc-coord inspect`). */
typedef struct {
    int64_t neurons;       /* LIF outputs */
    int64_t params;        /* unique weights (including bias and BN affine) */
    int64_t connections;   /* synapses expanded over positions (conv taps, linear x tokens) */
    int64_t mem_bytes;     /* parameter bytes as float32 in the IR */
    int64_t macs;          /* multiply-accumulates when the input is real */
    int64_t acs;           /* accumulates when the input is spikes (dense upper bound) */
} stc_cost_t;
void stc_ir_cost(const stc_ir_t *ir, int id, stc_cost_t *cost);

/* ------------------------------------------------------ float interpreter */

/* Called after a LIF node at timestep t with its charge h (before fire and
 * reset) and its spikes, both numel = C*H*W.  The callback may overwrite s
 * (teacher forcing: the parity tests impose PyTorch's spikes so that each
 * layer is compared on the same inputs); the membrane reset and the spike
 * counts follow the spikes as left by the callback. */
typedef void (*stc_lif_trace_fn)(void *ud, const stc_node_t *node, int t, const float *h,
                                 float *s);

typedef struct stc_interp stc_interp_t;

stc_interp_t *stc_interp_create(const stc_ir_t *ir, stc_err_t *err);
void stc_interp_destroy(stc_interp_t **ip);
/* About the bytes one interpreter of ir holds (outputs, LIF state, its copy
 * of the weights; not its small scratch): what one more worker costs. */
int64_t stc_interp_bytes(const stc_ir_t *ir);
/* Run one input (C*H*W floats of the INPUT node) for T timesteps.  Writes the
 * logits (OUTPUT numel values) and, if spike_counts is not NULL, the total
 * spikes of every node over all timesteps (indexed by node id; 0 for non-LIF). */
stc_status_t stc_interp_run(stc_interp_t *ip, const float *image, float *logits,
                            int64_t *spike_counts, stc_lif_trace_fn trace, void *ud,
                            stc_err_t *err);

/* Synaptic operations of the last run, per node (arrays of n_nodes): accumulates
 * actually done on spike inputs (one per spike per target neuron; SSA counted
 * dense) and multiply-accumulates on real inputs (dense).  The basis of the
 * paper-style energy estimate (E_MAC = 4.6 pJ, E_AC = 0.9 pJ). */
void stc_interp_ops(const stc_interp_t *ip, int64_t *acs, int64_t *macs);

/* Observe every value: fn is called after every node at every timestep of the
 * following runs with the node's output (numel = C*H*W; for a LIF its final
 * spikes).  The quantizer's calibration records maxima through it.  NULL
 * switches it off. */
typedef void (*stc_interp_observer_fn)(void *ud, const stc_node_t *node, int t, const float *out);
void stc_interp_set_observer(stc_interp_t *ip, stc_interp_observer_fn fn, void *ud);

/* ---------------------------------------------------- integer interpreter */

/* The golden model of the hardware: runs a quantized graph (ir->quant) in
 * integers exactly as docs/backend.md section 1 says, layer by layer, every op
 * once per timestep.  The chip simulator must reproduce every value. */
typedef struct stc_qinterp stc_qinterp_t;

/* Called after every node at timestep t with its integer output (numel =
 * C*H*W of the node's shape). */
typedef void (*stc_qtrace_fn)(void *ud, const stc_node_t *node, int t, const int64_t *q);

stc_qinterp_t *stc_qinterp_create(const stc_ir_t *ir, stc_err_t *err);
void stc_qinterp_destroy(stc_qinterp_t **ip);
int64_t stc_qinterp_bytes(const stc_ir_t *ir); /* as stc_interp_bytes */
/* One input image (floats, encoded by the INPUT node's qexp/qbits); logits as
 * the OUTPUT formula gives them; spike_counts (may be NULL) per node id, LIF
 * nodes only.  Same contract as stc_interp_run. */
stc_status_t stc_qinterp_run(stc_qinterp_t *ip, const float *image, float *logits,
                             int64_t *spike_counts, stc_qtrace_fn trace, void *ud, stc_err_t *err);
/* Synaptic operations of the last run per node (as stc_interp_ops): events
 * times fan-out actually done. */
void stc_qinterp_ops(const stc_qinterp_t *ip, int64_t *acs, int64_t *macs);

/* Stages of the hardware (docs/backend.md section 2): 1 if node id becomes a
 * neuron group (input, lif, maxpool, mul, sdsa, ssa, output, graded nodes). */
int stc_ir_is_stage(const stc_ir_t *ir, int id);

#endif
