/* ir.c - the Spike IR graph: construction, shape inference, the verifier, costs, Graphviz.
 *
 * Shape rules live in one place (stc_ir_infer); the verifier re-derives every
 * node's shape and value type from its inputs and compares with what the node
 * says, so a hand-written or pass-mangled graph cannot disagree with itself.
 * SPDX-License-Identifier: MIT
 */
#include "stc_ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *op_names[] = {
#define X(e, name, nin, meaning) name,
#include "ir_ops.def"
#undef X
};
static const int op_arity[] = {
#define X(e, name, nin, meaning) nin,
#include "ir_ops.def"
#undef X
};

const char *stc_op_name(stc_op_t op) { return op < STC_OP_COUNT ? op_names[op] : "?"; }
int stc_op_arity(stc_op_t op) { return op < STC_OP_COUNT ? op_arity[op] : -1; }
int stc_op_from_name(const char *name) {
    for (int i = 0; i < STC_OP_COUNT; i++)
        if (!strcmp(op_names[i], name)) return i;
    return -1;
}

stc_ir_t *stc_ir_create(int T, const char *arch) {
    stc_ir_t *ir = calloc(1, sizeof *ir);
    if (!ir) return NULL;
    ir->arena = stc_arena_create();
    if (!ir->arena) {
        free(ir);
        return NULL;
    }
    ir->T = T;
    ir->arch = stc_arena_strdup(ir->arena, arch ? arch : "custom");
    return ir;
}

void stc_ir_destroy(stc_ir_t **irp) {
    if (!irp || !*irp) return;
    stc_arena_destroy(&(*irp)->arena);
    free((*irp)->nodes);
    free(*irp);
    *irp = NULL;
}

int stc_ir_add(stc_ir_t *ir, stc_op_t op, const char *name, int n_in, const int *in) {
    if (n_in < 0 || n_in > STC_MAX_INPUTS) return -1;
    if (ir->n_nodes == ir->cap_nodes) {
        int cap = ir->cap_nodes ? ir->cap_nodes * 2 : 64;
        stc_node_t *nn = realloc(ir->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        ir->nodes = nn;
        ir->cap_nodes = cap;
    }
    stc_node_t *n = &ir->nodes[ir->n_nodes];
    memset(n, 0, sizeof *n);
    n->id = ir->n_nodes;
    n->op = op;
    n->name = stc_arena_strdup(ir->arena, name ? name : "");
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    n->stride = 1;
    n->tau = 2.0f;
    n->vth = 1.0f;
    n->eps = 1e-5f;
    n->scale = 0.125f;
    n->heads = 1;
    n->qstep = 1.0;
    n->depth = -1;
    return ir->n_nodes++;
}

stc_node_t *stc_ir_node(stc_ir_t *ir, int id) {
    return (id >= 0 && id < ir->n_nodes) ? &ir->nodes[id] : NULL;
}

stc_param_t *stc_ir_add_param(stc_ir_t *ir, int id, const char *role, int ndim,
                              const int64_t *shape, const float *data) {
    stc_node_t *n = stc_ir_node(ir, id);
    if (!n || n->n_params >= STC_MAX_PARAMS || ndim < 1 || ndim > 4) return NULL;
    stc_param_t *p = &n->params[n->n_params];
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !stc_mul_ok(numel, (uint64_t)shape[i], &numel)) return NULL;
        p->shape[i] = shape[i];
    }
    if (numel > ((uint64_t)1 << 34)) return NULL;
    p->role = stc_arena_strdup(ir->arena, role);
    p->ndim = ndim;
    p->numel = (int64_t)numel;
    p->data = stc_arena_alloc(ir->arena, numel * sizeof(float));
    if (!p->data || !p->role) return NULL;
    if (data) memcpy(p->data, data, numel * sizeof(float));
    n->n_params++;
    return p;
}

const stc_param_t *stc_ir_param(const stc_node_t *n, const char *role) {
    for (int i = 0; i < n->n_params; i++)
        if (!strcmp(n->params[i].role, role)) return &n->params[i];
    return NULL;
}

/* "%5 'patch_embed.proj_bn' (batchnorm)" */
static const char *where(const stc_node_t *n, char *buf, size_t cap) {
    if (n->name && n->name[0])
        snprintf(buf, cap, "%%%d '%s' (%s)", n->id, n->name, stc_op_name(n->op));
    else
        snprintf(buf, cap, "%%%d (%s)", n->id, stc_op_name(n->op));
    return buf;
}

#define SHP(s) (s).c, (s).h, (s).w

/* Largest tensor per timestep: the interpreters index positions and channels
 * with int, so C*H*W (and H*W) must fit one. */
#define MAX_NUMEL INT32_MAX

/* C*H*W without overflow: dimensions from outside can be up to 2^24 each (the
 * text form) or anything (the API); saturates at INT64_MAX, negative if any is. */
static int64_t numel(stc_shape_t s) {
    if (s.c < 0 || s.h < 0 || s.w < 0) return -1;
    uint64_t n;
    if (!stc_mul_ok((uint64_t)s.c, (uint64_t)s.h, &n) || !stc_mul_ok(n, (uint64_t)s.w, &n) ||
        n > INT64_MAX)
        return INT64_MAX;
    return (int64_t)n;
}

/* Param `role` must exist with the given shape (ndim dims); NULL role list ok. */
static stc_status_t need_param(const stc_node_t *n, const char *role, int ndim,
                               const int64_t *shape, int optional, stc_err_t *err) {
    char w[256];
    const stc_param_t *p = stc_ir_param(n, role);
    if (!p) {
        if (optional) return STC_OK;
        return stc_err_set(err, STC_E_FORMAT, "node %s: missing parameter '%s'",
                           where(n, w, sizeof w), role);
    }
    int ok = p->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = p->shape[i] == shape[i];
    if (!ok) {
        char exp[96] = "", got[96] = "";
        size_t o = 0;
        for (int i = 0; i < ndim; i++)
            o += (size_t)snprintf(exp + o, sizeof exp - o, "%s%lld", i ? "," : "",
                                  (long long)shape[i]);
        o = 0;
        for (int i = 0; i < p->ndim; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", i ? "," : "",
                                  (long long)p->shape[i]);
        return stc_err_set(err, STC_E_FORMAT,
                           "node %s: parameter '%s' has shape [%s], expected [%s]",
                           where(n, w, sizeof w), role, got, exp);
    }
    return STC_OK;
}

stc_status_t stc_ir_infer(const stc_ir_t *ir, int id, stc_shape_t *shape, stc_vtype_t *vt,
                          stc_err_t *err) {
    const stc_node_t *n = &ir->nodes[id];
    char w[256];
    const stc_node_t *a = NULL, *b = NULL, *c = NULL;
    if (n->n_in != stc_op_arity(n->op))
        return stc_err_set(err, STC_E_FORMAT, "node %s: takes %d inputs, has %d",
                           where(n, w, sizeof w), stc_op_arity(n->op), n->n_in);
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] < 0 || n->in[i] >= id)
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: input %d refers to %%%d, expected an earlier node "
                               "(%%0..%%%d): the graph must be acyclic and in order",
                               where(n, w, sizeof w), i, n->in[i], id - 1);
    if (n->n_in > 0) a = &ir->nodes[n->in[0]];
    if (n->n_in > 1) b = &ir->nodes[n->in[1]];
    if (n->n_in > 2) c = &ir->nodes[n->in[2]];
    for (int i = 0; i < n->n_in; i++)
        if (ir->nodes[n->in[i]].op == STC_OP_OUTPUT)
            return stc_err_set(err, STC_E_FORMAT, "node %s: reads the output node %%%d",
                               where(n, w, sizeof w), n->in[i]);
    stc_shape_t s = a ? a->shape : n->shape;
    stc_vtype_t t = STC_VT_REAL;
    switch (n->op) {
    case STC_OP_INPUT:
        s = n->shape;
        if (s.c <= 0 || s.h <= 0 || s.w <= 0)
            return stc_err_set(err, STC_E_FORMAT, "node %s: input shape [%d,%d,%d] must be positive",
                               where(n, w, sizeof w), SHP(s));
        t = n->vtype;
        break;
    case STC_OP_CONV2D: {
        const stc_param_t *wt = stc_ir_param(n, "weight");
        if (!wt || wt->ndim != 4)
            return stc_err_set(err, STC_E_FORMAT, "node %s: needs a 4-d 'weight' [Co,Ci,k,k]",
                               where(n, w, sizeof w));
        if (n->k <= 0 || n->stride <= 0 || n->pad < 0 || n->pad >= n->k)
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: k=%d stride=%d pad=%d, expected k>0, stride>0, 0<=pad<k",
                               where(n, w, sizeof w), n->k, n->stride, n->pad);
        int64_t ws[4] = {wt->shape[0], a->shape.c, n->k, n->k};
        if (need_param(n, "weight", 4, ws, 0, err)) return err->status;
        int64_t bs[1] = {wt->shape[0]};
        if (need_param(n, "bias", 1, bs, 1, err)) return err->status;
        s.c = (int)wt->shape[0];
        /* the kernel must fit the padded input: test before dividing, since C
         * rounds a negative quotient up to 0 (PyTorch refuses such a conv) */
        if ((int64_t)a->shape.h + 2 * (int64_t)n->pad < n->k ||
            (int64_t)a->shape.w + 2 * (int64_t)n->pad < n->k)
            return stc_err_set(err, STC_E_FORMAT, "node %s: input [%d,%d,%d] too small for k=%d",
                               where(n, w, sizeof w), SHP(a->shape), n->k);
        s.h = (a->shape.h + 2 * n->pad - n->k) / n->stride + 1;
        s.w = (a->shape.w + 2 * n->pad - n->k) / n->stride + 1;
        break;
    }
    case STC_OP_LINEAR: {
        const stc_param_t *wt = stc_ir_param(n, "weight");
        if (!wt || wt->ndim != 2)
            return stc_err_set(err, STC_E_FORMAT, "node %s: needs a 2-d 'weight' [Co,Ci]",
                               where(n, w, sizeof w));
        int64_t ws[2] = {wt->shape[0], a->shape.c};
        if (need_param(n, "weight", 2, ws, 0, err)) return err->status;
        int64_t bs[1] = {wt->shape[0]};
        if (need_param(n, "bias", 1, bs, 1, err)) return err->status;
        s.c = (int)wt->shape[0];
        break;
    }
    case STC_OP_BATCHNORM: {
        int64_t cs[1] = {a->shape.c};
        static const char *roles[] = {"weight", "bias", "running_mean", "running_var"};
        for (int i = 0; i < 4; i++)
            if (need_param(n, roles[i], 1, cs, 0, err)) return err->status;
        if (!(n->eps > 0))
            return stc_err_set(err, STC_E_FORMAT, "node %s: eps=%g, expected > 0",
                               where(n, w, sizeof w), (double)n->eps);
        break;
    }
    case STC_OP_LIF:
        if (!(n->tau >= 1.0f) || !isfinite(n->vth) || !isfinite(n->vreset))
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: tau=%g vth=%g vreset=%g, expected tau >= 1 and finite values",
                               where(n, w, sizeof w), (double)n->tau, (double)n->vth,
                               (double)n->vreset);
        t = STC_VT_SPIKE;
        break;
    case STC_OP_MAXPOOL:
        if (n->k <= 0 || n->stride <= 0 || n->pad < 0 || 2 * n->pad > n->k)
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: k=%d stride=%d pad=%d, expected k>0, stride>0, 0<=pad<=k/2",
                               where(n, w, sizeof w), n->k, n->stride, n->pad);
        if ((int64_t)a->shape.h + 2 * (int64_t)n->pad < n->k ||
            (int64_t)a->shape.w + 2 * (int64_t)n->pad < n->k)
            return stc_err_set(err, STC_E_FORMAT, "node %s: input [%d,%d,%d] too small for k=%d",
                               where(n, w, sizeof w), SHP(a->shape), n->k);
        s.h = (a->shape.h + 2 * n->pad - n->k) / n->stride + 1;
        s.w = (a->shape.w + 2 * n->pad - n->k) / n->stride + 1;
        t = a->vtype;
        break;
    case STC_OP_ADD:
        if (a->shape.c != b->shape.c || a->shape.h != b->shape.h || a->shape.w != b->shape.w)
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: operands [%d,%d,%d] and [%d,%d,%d] differ in shape",
                               where(n, w, sizeof w), SHP(a->shape), SHP(b->shape));
        break;
    case STC_OP_MUL:
        if (a->shape.c != b->shape.c ||
            !((b->shape.h == a->shape.h && b->shape.w == a->shape.w) ||
              (b->shape.h == 1 && b->shape.w == 1)))
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: operand b [%d,%d,%d] must match a [%d,%d,%d] or be [%d,1,1]",
                               where(n, w, sizeof w), SHP(b->shape), SHP(a->shape), a->shape.c);
        t = (a->vtype == STC_VT_SPIKE && b->vtype == STC_VT_SPIKE) ? STC_VT_SPIKE : STC_VT_REAL;
        break;
    case STC_OP_SSA:
        if (a->shape.c != b->shape.c || a->shape.c != c->shape.c || numel(a->shape) != numel(b->shape) ||
            numel(a->shape) != numel(c->shape))
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: q [%d,%d,%d], k [%d,%d,%d], v [%d,%d,%d] must have one shape",
                               where(n, w, sizeof w), SHP(a->shape), SHP(b->shape), SHP(c->shape));
        if (a->vtype != STC_VT_SPIKE || b->vtype != STC_VT_SPIKE || c->vtype != STC_VT_SPIKE)
            return stc_err_set(err, STC_E_FORMAT, "node %s: q, k and v must be spikes (outputs of lif)",
                               where(n, w, sizeof w));
        if (n->heads <= 0 || a->shape.c % n->heads != 0)
            return stc_err_set(err, STC_E_FORMAT, "node %s: heads=%d must divide the %d channels",
                               where(n, w, sizeof w), n->heads, a->shape.c);
        if (!isfinite(n->scale))
            return stc_err_set(err, STC_E_FORMAT, "node %s: scale must be finite", where(n, w, sizeof w));
        break;
    case STC_OP_SDSA:
        if (a->shape.c != b->shape.c || a->shape.h != b->shape.h || a->shape.w != b->shape.w)
            return stc_err_set(err, STC_E_FORMAT, "node %s: k [%d,%d,%d] and v [%d,%d,%d] differ",
                               where(n, w, sizeof w), SHP(a->shape), SHP(b->shape));
        if (a->vtype != STC_VT_SPIKE || b->vtype != STC_VT_SPIKE)
            return stc_err_set(err, STC_E_FORMAT, "node %s: k and v must be spikes",
                               where(n, w, sizeof w));
        s.h = s.w = 1;
        break;
    case STC_OP_MEAN:
        s.h = s.w = 1;
        break;
    case STC_OP_OUTPUT:
        if (a->shape.h != 1 || a->shape.w != 1)
            return stc_err_set(err, STC_E_FORMAT, "node %s: input must be [K,1,1], found [%d,%d,%d]",
                               where(n, w, sizeof w), SHP(a->shape));
        break;
    case STC_OP_COUNT:
        return stc_err_set(err, STC_E_FORMAT, "node %%%d: unknown op", id);
    }
    if (s.c < 1 || s.h < 1 || s.w < 1 || numel(s) > MAX_NUMEL)
        return stc_err_set(err, STC_E_FORMAT, "node %s: shape [%d,%d,%d] has %.0f elements, expected "
                           "1..%d (every dimension >= 1)", where(n, w, sizeof w), SHP(s),
                           (double)s.c * s.h * s.w, MAX_NUMEL);
    *shape = s;
    *vt = t;
    return STC_OK;
}

stc_status_t stc_ir_settle(stc_ir_t *ir, int id, stc_err_t *err) {
    stc_shape_t s;
    stc_vtype_t t;
    if (stc_ir_infer(ir, id, &s, &t, err)) return err->status;
    ir->nodes[id].shape = s;
    ir->nodes[id].vtype = t;
    return STC_OK;
}

int stc_ir_is_stage(const stc_ir_t *ir, int id) {
    if (id < 0 || id >= ir->n_nodes) return 0;
    const stc_node_t *n = &ir->nodes[id];
    switch (n->op) {
    case STC_OP_INPUT:
    case STC_OP_LIF:
    case STC_OP_MAXPOOL:
    case STC_OP_MUL:
    case STC_OP_SDSA:
    case STC_OP_SSA:
    case STC_OP_OUTPUT:
    case STC_OP_ADD:
        return 1;
    case STC_OP_CONV2D:
    case STC_OP_LINEAR:
        return ir->quant && n->qgraded;
    default:
        return 0;
    }
}

/* The quantized fields (docs/backend.md section 1), checked where the op gives
 * them a meaning; runs after the structural checks, so inputs are valid. */
static stc_status_t verify_quant(const stc_ir_t *ir, stc_err_t *err) {
    char w[256];
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        if (n->op == STC_OP_BATCHNORM)
            return stc_err_set(err, STC_E_FORMAT, "node %s: batchnorm in a quantized graph, expected none "
                               "(fold_bn folds it before quantize)", where(n, w, sizeof w));
        if (!(n->qstep > 0) || !isfinite(n->qstep))
            return stc_err_set(err, STC_E_FORMAT, "node %s: qstep=%g, expected a finite value > 0",
                               where(n, w, sizeof w), n->qstep);
        int bits = n->op == STC_OP_INPUT || n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR ||
                   n->op == STC_OP_ADD;
        if (bits && (n->qbits < 1 || n->qbits > 16))
            return stc_err_set(err, STC_E_FORMAT, "node %s: qbits=%d, expected 1..16",
                               where(n, w, sizeof w), n->qbits);
        int graded = n->op == STC_OP_ADD ||
                     ((n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR) && n->qgraded);
        if (graded && (n->qrsh < 0 || n->qrsh > 62))
            return stc_err_set(err, STC_E_FORMAT, "node %s: qrsh=%d, expected 0..62",
                               where(n, w, sizeof w), n->qrsh);
        if (n->op == STC_OP_ADD)
            for (int k = 0; k < n->n_in; k++)
                if (n->qsh[k] < 0 || n->qsh[k] > 62)
                    return stc_err_set(err, STC_E_FORMAT, "node %s: qsh[%d]=%d, expected 0..62",
                                       where(n, w, sizeof w), k, n->qsh[k]);
        if (n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR) {
            const stc_param_t *p = stc_ir_param(n, "weight");
            double lim = n->qbits == 1 ? 1.0 : (double)(((int64_t)1 << (n->qbits - 1)) - 1); /* 1 bit: +-1 */
            for (int64_t k = 0; k < p->numel; k++) {
                double v = p->data[k];
                if (v != floor(v))
                    return stc_err_set(err, STC_E_FORMAT, "node %s: weight element %lld is %.9g, expected "
                                       "an integer", where(n, w, sizeof w), (long long)k, v);
                if (fabs(v) > lim)
                    return stc_err_set(err, STC_E_FORMAT, "node %s: weight element %lld is %.9g, expected "
                                       "|w| <= %.0f (qbits=%d)", where(n, w, sizeof w), (long long)k, v,
                                       lim, n->qbits);
            }
            const stc_param_t *b = stc_ir_param(n, "bias");
            for (int64_t k = 0; b && k < b->numel; k++)
                if (b->data[k] != floorf(b->data[k]))
                    return stc_err_set(err, STC_E_FORMAT, "node %s: bias element %lld is %.9g, expected an "
                                       "integer", where(n, w, sizeof w), (long long)k, (double)b->data[k]);
        }
        if (n->op == STC_OP_LIF) {
            if (n->qdk < 1 || n->qdk > 4096)
                return stc_err_set(err, STC_E_FORMAT, "node %s: qdk=%d, expected 1..4096",
                                   where(n, w, sizeof w), n->qdk);
            if (n->qshl < 0 || n->qshl > 16)
                return stc_err_set(err, STC_E_FORMAT, "node %s: qshl=%d, expected 0..16",
                                   where(n, w, sizeof w), n->qshl);
        }
    }
    return STC_OK;
}

/* After delay_balance (docs/backend.md 2.1): INPUT has depth 0, every other
 * stage 1 + the largest depth among the stages its terms come from (its inputs,
 * seen through the non-stage nodes between).  reach[i] is that largest depth
 * as seen from node i: its own depth for a stage, else the max of its inputs'. */
static stc_status_t verify_depths(const stc_ir_t *ir, stc_err_t *err) {
    char w[256], w2[256];
    if (!ir->quant)
        return stc_err_set(err, STC_E_FORMAT, "graph: balanced=1 without quant=1, expected a quantized "
                           "graph (delay_balance runs after quantize)");
    int *reach = malloc((size_t)ir->n_nodes * 2 * sizeof *reach);
    if (!reach) return stc_err_set(err, STC_E_NOMEM, "verify: out of memory");
    int *from = reach + ir->n_nodes; /* the stage that gives reach[i] */
    stc_status_t st = STC_OK;
    for (int i = 0; i < ir->n_nodes && !st; i++) {
        const stc_node_t *n = &ir->nodes[i];
        int m = -1, src = -1;
        for (int k = 0; k < n->n_in; k++)
            if (reach[n->in[k]] > m) {
                m = reach[n->in[k]];
                src = from[n->in[k]];
            }
        if (!stc_ir_is_stage(ir, i)) {
            reach[i] = m;
            from[i] = src;
            continue;
        }
        int want = n->op == STC_OP_INPUT ? 0 : 1 + m;
        if (n->depth != want) {
            if (src >= 0)
                st = stc_err_set(err, STC_E_FORMAT, "node %s: depth=%d, expected %d (1 + depth %d of "
                                 "stage %s)", where(n, w, sizeof w), n->depth, want, m,
                                 where(&ir->nodes[src], w2, sizeof w2));
            else
                st = stc_err_set(err, STC_E_FORMAT, "node %s: depth=%d, expected %d", where(n, w, sizeof w),
                                 n->depth, want);
        }
        reach[i] = want;
        from[i] = i;
    }
    free(reach);
    return st;
}

stc_status_t stc_ir_verify(const stc_ir_t *ir, stc_err_t *err) {
    char w[256];
    if (ir->T <= 0 || ir->T > 10000)
        return stc_err_set(err, STC_E_FORMAT, "graph: T=%d timesteps, expected 1..10000", ir->T);
    if (ir->n_nodes < 2)
        return stc_err_set(err, STC_E_FORMAT, "graph: %d nodes, expected at least input and output",
                           ir->n_nodes);
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        if (n->id != i)
            return stc_err_set(err, STC_E_INTERNAL, "node %d: id field says %d", i, n->id);
        if ((n->op == STC_OP_INPUT) != (i == 0))
            return stc_err_set(err, STC_E_FORMAT, "node %s: the input must be the first node and only it",
                               where(n, w, sizeof w));
        if ((n->op == STC_OP_OUTPUT) != (i == ir->n_nodes - 1))
            return stc_err_set(err, STC_E_FORMAT, "node %s: the output must be the last node and only it",
                               where(n, w, sizeof w));
        for (int p = 0; p < n->n_params; p++)
            for (int64_t k = 0; k < n->params[p].numel; k++)
                if (!isfinite(n->params[p].data[k]))
                    return stc_err_set(err, STC_E_FORMAT,
                                       "node %s: parameter '%s' element %lld is not finite",
                                       where(n, w, sizeof w), n->params[p].role, (long long)k);
        stc_shape_t s;
        stc_vtype_t t;
        if (stc_ir_infer(ir, i, &s, &t, err)) return err->status;
        if (s.c != n->shape.c || s.h != n->shape.h || s.w != n->shape.w)
            return stc_err_set(err, STC_E_FORMAT,
                               "node %s: declared shape [%d,%d,%d], its inputs give [%d,%d,%d]",
                               where(n, w, sizeof w), SHP(n->shape), SHP(s));
        if (t != n->vtype)
            return stc_err_set(err, STC_E_FORMAT, "node %s: declared %s, its inputs give %s",
                               where(n, w, sizeof w), n->vtype == STC_VT_SPIKE ? "spike" : "real",
                               t == STC_VT_SPIKE ? "spike" : "real");
    }
    /* every node but the output must be used (no dangling results) */
    char *used = calloc((size_t)ir->n_nodes, 1);
    if (!used) return stc_err_set(err, STC_E_NOMEM, "verify: out of memory");
    for (int i = 0; i < ir->n_nodes; i++)
        for (int k = 0; k < ir->nodes[i].n_in; k++) used[ir->nodes[i].in[k]] = 1;
    for (int i = 0; i < ir->n_nodes - 1; i++)
        if (!used[i]) {
            free(used);
            return stc_err_set(err, STC_E_FORMAT, "node %s: its result is never used",
                               where(&ir->nodes[i], w, sizeof w));
        }
    free(used);
    if (ir->quant && verify_quant(ir, err)) return err->status;
    if (ir->balanced && verify_depths(ir, err)) return err->status;
    return STC_OK;
}

void stc_ir_bn_affine(const stc_node_t *bn, float *a, float *b) {
    const float *w = stc_ir_param(bn, "weight")->data, *be = stc_ir_param(bn, "bias")->data;
    const float *mu = stc_ir_param(bn, "running_mean")->data;
    const float *var = stc_ir_param(bn, "running_var")->data;
    for (int k = 0; k < bn->shape.c; k++) {
        a[k] = (float)((double)w[k] / sqrt((double)var[k] + (double)bn->eps));
        b[k] = be[k] - mu[k] * a[k];
    }
}

/* ---------------------------------------------------------------- editing */

int stc_ir_users(const stc_ir_t *ir, int id) {
    int n = 0;
    for (int i = id + 1; i < ir->n_nodes; i++)
        for (int k = 0; k < ir->nodes[i].n_in; k++) n += ir->nodes[i].in[k] == id;
    return n;
}

stc_status_t stc_ir_remove(stc_ir_t *ir, const int *repl, stc_err_t *err) {
    int *newid = malloc((size_t)ir->n_nodes * sizeof *newid);
    if (!newid) return stc_err_set(err, STC_E_NOMEM, "ir: out of memory");
    int next = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        if (repl[i] < 0) {
            newid[i] = next++;
            continue;
        }
        if (repl[i] >= i) {
            free(newid);
            return stc_err_set(err, STC_E_INTERNAL, "ir: node %%%d replaced by later node %%%d", i, repl[i]);
        }
        newid[i] = newid[repl[i]]; /* the replacement is earlier: already resolved */
    }
    int o = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        if (repl[i] >= 0) continue;
        stc_node_t n = ir->nodes[i];
        for (int k = 0; k < n.n_in; k++) n.in[k] = newid[n.in[k]];
        n.id = o;
        ir->nodes[o++] = n;
    }
    ir->n_nodes = o;
    free(newid);
    return STC_OK;
}

/* ------------------------------------------------------------------ costs */

void stc_ir_cost(const stc_ir_t *ir, int id, stc_cost_t *cost) {
    const stc_node_t *n = &ir->nodes[id];
    memset(cost, 0, sizeof *cost);
    for (int p = 0; p < n->n_params; p++) {
        /* BatchNorm running statistics are buffers, not parameters (as in PyTorch) */
        if (strncmp(n->params[p].role, "running_", 8)) cost->params += n->params[p].numel;
        cost->mem_bytes += n->params[p].numel * 4;
    }
    const stc_node_t *a = n->n_in ? &ir->nodes[n->in[0]] : NULL;
    int64_t conns = 0;
    switch (n->op) {
    case STC_OP_CONV2D: {
        /* count real taps: a tap falling in the padding carries no synapse */
        int64_t taps = 0;
        for (int oy = 0; oy < n->shape.h; oy++)
            for (int ky = 0; ky < n->k; ky++) {
                int iy = oy * n->stride + ky - n->pad;
                if (iy < 0 || iy >= a->shape.h) continue;
                for (int ox = 0; ox < n->shape.w; ox++)
                    for (int kx = 0; kx < n->k; kx++) {
                        int ix = ox * n->stride + kx - n->pad;
                        if (ix >= 0 && ix < a->shape.w) taps++;
                    }
            }
        conns = taps * n->shape.c * a->shape.c;
        break;
    }
    case STC_OP_LINEAR:
        conns = (int64_t)n->shape.c * a->shape.c * a->shape.h * a->shape.w;
        break;
    case STC_OP_SSA: {
        int64_t N = (int64_t)a->shape.h * a->shape.w, d = a->shape.c / n->heads;
        conns = 2 * n->heads * N * N * d; /* q k^T, then (.) v */
        break;
    }
    case STC_OP_SDSA:
    case STC_OP_MUL:
        conns = numel(a->shape);
        break;
    default:
        break;
    }
    cost->connections = conns;
    if (a && a->vtype == STC_VT_SPIKE)
        cost->acs = conns;
    else
        cost->macs = conns;
    if (n->op == STC_OP_LIF) cost->neurons = numel(n->shape);
}

/* --------------------------------------------------------------- graphviz */

stc_status_t stc_ir_dot(const stc_ir_t *ir, FILE *f, stc_err_t *err) {
    static const char *color[] = {
        [STC_OP_INPUT] = "lightgray", [STC_OP_CONV2D] = "lightblue", [STC_OP_LINEAR] = "lightblue",
        [STC_OP_BATCHNORM] = "lightyellow", [STC_OP_LIF] = "orange", [STC_OP_MAXPOOL] = "palegreen",
        [STC_OP_ADD] = "white", [STC_OP_MUL] = "white", [STC_OP_SSA] = "pink",
        [STC_OP_SDSA] = "pink", [STC_OP_MEAN] = "white", [STC_OP_OUTPUT] = "lightgray"};
    fprintf(f, "digraph spike_ir {\n  rankdir=TB;\n  node [shape=box, style=filled, fontname=\"Helvetica\"];\n");
    fprintf(f, "  label=\"%s, T=%d\";\n", ir->arch, ir->T);
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        fprintf(f, "  n%d [label=\"%%%d %s\\n%s\\n[%d,%d,%d]%s\", fillcolor=%s];\n", i, i,
                stc_op_name(n->op), n->name, SHP(n->shape), n->vtype == STC_VT_SPIKE ? " spike" : "",
                color[n->op]);
        for (int k = 0; k < n->n_in; k++) fprintf(f, "  n%d -> n%d;\n", n->in[k], i);
    }
    fprintf(f, "}\n");
    if (ferror(f)) return stc_err_set(err, STC_E_IO, "dot: write failed");
    return STC_OK;
}
