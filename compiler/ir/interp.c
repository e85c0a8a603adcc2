/* interp.c - the float interpreter of the Spike IR: the reference stc checks itself against.
 *
 * Runs a verified graph for T timesteps, every op once per timestep in node
 * order, LIF membranes carried across timesteps.  It follows PyTorch's float32
 * arithmetic where it decides spikes: the LIF charge is h = v + (x - v) / tau
 * (difference, division, add: spikingjelly's order), BatchNorm is x * a + b
 * with a = w / sqrt(var + eps) and b = bias - mean * a (ATen's inference
 * kernel), attention sums are integers (exact).  Convolution and linear sums
 * accumulate in a different order than oneDNN does, so a membrane within
 * ~1e-6 of its threshold may fire differently: the parity tests check that
 * every such difference is one of these.  Built with -ffp-contract=off.
 * SPDX-License-Identifier: MIT
 */
#include "stc_ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct stc_interp {
    const stc_ir_t *ir;
    float **out;      /* per node: output of the current timestep */
    float **v;        /* per LIF node: membrane */
    float **bn_a, **bn_b; /* per BN node: folded scale/shift */
    float *h;         /* scratch for LIF charge (largest LIF) */
    int64_t *acc;     /* scratch for attention integer sums */
    float *sum;       /* per OUTPUT: running sum over timesteps */
    float **wt;       /* per conv2d/linear with spike input: weights as [ky][kx][Ci][Co] */
    float *evacc;     /* scratch: event-driven accumulator, positions x Co */
    int simd;         /* the CPU has AVX2 (and STC_INTERP_NOSIMD is not set): the kernels' AVX2 forms */
    int64_t *n_ac, *n_mac;   /* per node, this run: accumulates done on spikes / MACs on reals */
    int64_t *dense;          /* per node: connections per timestep (stc_ir_cost) */
    stc_interp_observer_fn observer; /* called after every node at every timestep, or NULL */
    void *observer_ud;
};

void stc_interp_set_observer(stc_interp_t *ip, stc_interp_observer_fn fn, void *ud) {
    ip->observer = fn;
    ip->observer_ud = ud;
}

static int64_t numel(stc_shape_t s) { return (int64_t)s.c * s.h * s.w; }

#define ALWAYS static inline __attribute__((always_inline))

void stc_interp_destroy(stc_interp_t **ip) {
    if (!ip || !*ip) return;
    stc_interp_t *p = *ip;
    for (int i = 0; p->ir && i < p->ir->n_nodes; i++) {
        if (p->out) free(p->out[i]);
        if (p->v) free(p->v[i]);
        if (p->bn_a) free(p->bn_a[i]);
        if (p->bn_b) free(p->bn_b[i]);
    }
    for (int i = 0; p->ir && p->wt && i < p->ir->n_nodes; i++) free(p->wt[i]);
    free(p->wt);
    free(p->evacc);
    free(p->n_ac);
    free(p->n_mac);
    free(p->dense);
    free(p->out);
    free(p->v);
    free(p->bn_a);
    free(p->bn_b);
    free(p->h);
    free(p->acc);
    free(p->sum);
    free(p);
    *ip = NULL;
}

int64_t stc_interp_bytes(const stc_ir_t *ir) {
    int64_t b = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        b += numel(n->shape) * (int64_t)sizeof(float) * (n->op == STC_OP_LIF ? 2 : 1); /* out, v */
        const stc_param_t *w = n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR ? stc_ir_param(n, "weight") : NULL;
        if (w && (n->op == STC_OP_LINEAR || ir->nodes[n->in[0]].vtype == STC_VT_SPIKE))
            b += w->numel * (int64_t)sizeof(float);
    }
    return b;
}

stc_interp_t *stc_interp_create(const stc_ir_t *ir, stc_err_t *err) {
    if (stc_ir_verify(ir, err)) return NULL;
    stc_interp_t *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->ir = ir;
    p->simd = stc_cpu_avx2("STC_INTERP_NOSIMD");
    size_t nn = (size_t)ir->n_nodes;
    p->out = calloc(nn, sizeof(float *));
    p->v = calloc(nn, sizeof(float *));
    p->bn_a = calloc(nn, sizeof(float *));
    p->bn_b = calloc(nn, sizeof(float *));
    p->wt = calloc(nn, sizeof(float *));
    p->n_ac = calloc(nn, sizeof(int64_t));
    p->n_mac = calloc(nn, sizeof(int64_t));
    p->dense = calloc(nn, sizeof(int64_t));
    if (!p->out || !p->v || !p->bn_a || !p->bn_b || !p->wt || !p->n_ac || !p->n_mac || !p->dense) goto oom;
    for (int i = 0; i < ir->n_nodes; i++) {
        stc_cost_t c;
        stc_ir_cost(ir, i, &c);
        p->dense[i] = c.connections;
    }
    int64_t maxlif = 1, maxattn = 1, maxacc = 1;
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        int64_t m = numel(n->shape);
        p->out[i] = malloc((size_t)m * sizeof(float));
        if (!p->out[i]) goto oom;
        if (n->op == STC_OP_LIF) {
            p->v[i] = malloc((size_t)m * sizeof(float));
            if (!p->v[i]) goto oom;
            if (m > maxlif) maxlif = m;
        }
        if (n->op == STC_OP_SSA) {
            int64_t d = n->shape.c / n->heads;
            int64_t N = (int64_t)n->shape.h * n->shape.w;
            int64_t need = d * d > N ? d * d : N;
            if (need > maxattn) maxattn = need;
        }
        if ((n->op == STC_OP_CONV2D && ir->nodes[n->in[0]].vtype == STC_VT_SPIKE) || n->op == STC_OP_LINEAR) {
            /* event-driven form: one contiguous row of Co weights per (ky, kx, ci); a linear layer of
             * graded inputs (the residual stream's small counts, mostly 0) takes it too, scaled */
            const stc_param_t *w = stc_ir_param(n, "weight");
            int Co = n->shape.c, Ci = ir->nodes[n->in[0]].shape.c, K = n->op == STC_OP_CONV2D ? n->k : 1;
            p->wt[i] = malloc((size_t)w->numel * sizeof(float));
            if (!p->wt[i]) goto oom;
            for (int o = 0; o < Co; o++)
                for (int c = 0; c < Ci; c++)
                    for (int k = 0; k < K * K; k++)
                        p->wt[i][((size_t)k * Ci + c) * Co + o] = w->data[((size_t)o * Ci + c) * K * K + k];
            if (m > maxacc) maxacc = m;
        }
        if (n->op == STC_OP_BATCHNORM) {
            int c = n->shape.c;
            p->bn_a[i] = malloc((size_t)c * sizeof(float));
            p->bn_b[i] = malloc((size_t)c * sizeof(float));
            if (!p->bn_a[i] || !p->bn_b[i]) goto oom;
            stc_ir_bn_affine(n, p->bn_a[i], p->bn_b[i]);
        }
    }
    p->evacc = malloc((size_t)maxacc * sizeof(float));
    p->h = malloc((size_t)maxlif * sizeof(float));
    p->acc = malloc((size_t)maxattn * sizeof(int64_t));
    p->sum = malloc((size_t)numel(ir->nodes[ir->n_nodes - 1].shape) * sizeof(float));
    if (!p->h || !p->acc || !p->sum || !p->evacc) goto oom;
    return p;
oom:
    stc_interp_destroy(&p);
    stc_err_set(err, STC_E_NOMEM, "interpreter: out of memory for activations");
    return NULL;
}

/* ------------------------------------------------------------------- ops */

static void op_conv2d(const stc_node_t *n, const stc_node_t *a, const float *in, float *out) {
    const float *W = stc_ir_param(n, "weight")->data;
    const stc_param_t *bp = stc_ir_param(n, "bias");
    int Co = n->shape.c, Ho = n->shape.h, Wo = n->shape.w;
    int Ci = a->shape.c, Hi = a->shape.h, Wi = a->shape.w, K = n->k, S = n->stride, P = n->pad;
    for (int o = 0; o < Co; o++) {
        float *y = out + (size_t)o * Ho * Wo;
        float b0 = bp ? bp->data[o] : 0.0f;
        for (int i = 0; i < Ho * Wo; i++) y[i] = b0;
        for (int c = 0; c < Ci; c++) {
            const float *x = in + (size_t)c * Hi * Wi;
            for (int ky = 0; ky < K; ky++)
                for (int kx = 0; kx < K; kx++) {
                    float w = W[(((size_t)o * Ci + c) * K + ky) * K + kx];
                    if (w == 0.0f) continue;
                    /* output columns whose input column is inside the image */
                    int ox0 = 0, ox1 = Wo;
                    while (ox0 < Wo && ox0 * S + kx - P < 0) ox0++;
                    while (ox1 > ox0 && (ox1 - 1) * S + kx - P >= Wi) ox1--;
                    for (int oy = 0; oy < Ho; oy++) {
                        int iy = oy * S + ky - P;
                        if (iy < 0 || iy >= Hi) continue;
                        const float *xr = x + (size_t)iy * Wi + kx - P;
                        float *yr = y + (size_t)oy * Wo;
                        if (S == 1)
                            for (int ox = ox0; ox < ox1; ox++) yr[ox] += w * xr[ox];
                        else
                            for (int ox = ox0; ox < ox1; ox++) yr[ox] += w * xr[ox * S];
                    }
                }
        }
    }
}

/* Spike input (exactly 0/1): each spike adds one contiguous row of Co weights
 * to the outputs it reaches, accumulated position-major in evacc and then
 * transposed.  Same function as the dense loops, another summation order. */
ALWAYS void ev_conv2d_body(stc_interp_t *ip, const stc_node_t *n, const stc_node_t *a, const float *in,
                      float *out) {
    const float *Wt = ip->wt[n->id];
    const stc_param_t *bp = stc_ir_param(n, "bias");
    int Co = n->shape.c, Ho = n->shape.h, Wo = n->shape.w;
    int Ci = a->shape.c, Hi = a->shape.h, Wi = a->shape.w, K = n->k, S = n->stride, P = n->pad;
    float *acc = ip->evacc;
    int64_t taps = 0;
    for (int q = 0; q < Ho * Wo; q++)
        for (int o = 0; o < Co; o++) acc[(size_t)q * Co + o] = bp ? bp->data[o] : 0.0f;
    for (int c = 0; c < Ci; c++) {
        const float *x = in + (size_t)c * Hi * Wi;
        for (int iy = 0; iy < Hi; iy++)
            for (int ix = 0; ix < Wi; ix++) {
                if (x[iy * Wi + ix] == 0.0f) continue;
                for (int ky = 0; ky < K; ky++) {
                    int ty = iy + P - ky;
                    if (ty < 0 || ty % S) continue;
                    int oy = ty / S;
                    if (oy >= Ho) continue;
                    for (int kx = 0; kx < K; kx++) {
                        int tx = ix + P - kx;
                        if (tx < 0 || tx % S) continue;
                        int ox = tx / S;
                        if (ox >= Wo) continue;
                        float *y = acc + ((size_t)oy * Wo + ox) * Co;
                        const float *w = Wt + (((size_t)ky * K + kx) * Ci + c) * Co;
                        for (int o = 0; o < Co; o++) y[o] += w[o];
                        taps++;
                    }
                }
            }
    }
    ip->n_ac[n->id] += taps * Co;
    for (int o = 0; o < Co; o++)
        for (int q = 0; q < Ho * Wo; q++) out[(size_t)o * Ho * Wo + q] = acc[(size_t)q * Co + o];
}

ALWAYS void ev_linear_body(stc_interp_t *ip, const stc_node_t *n, const stc_node_t *a, const float *in,
                      float *out) {
    const float *Wt = ip->wt[n->id];
    const stc_param_t *bp = stc_ir_param(n, "bias");
    int Co = n->shape.c, Ci = a->shape.c, N = a->shape.h * a->shape.w;
    float *acc = ip->evacc;
    int64_t rows = 0;
    for (int p = 0; p < N; p++) {
        float *y = acc + (size_t)p * Co;
        for (int o = 0; o < Co; o++) y[o] = bp ? bp->data[o] : 0.0f;
        for (int c = 0; c < Ci; c++) {
            if (in[(size_t)c * N + p] == 0.0f) continue;
            const float *w = Wt + (size_t)c * Co;
            for (int o = 0; o < Co; o++) y[o] += w[o];
            rows++;
        }
    }
    ip->n_ac[n->id] += rows * Co;
    for (int o = 0; o < Co; o++)
        for (int p = 0; p < N; p++) out[(size_t)o * N + p] = acc[(size_t)p * Co + o];
}

/* A linear layer of graded inputs, event-driven: per token, a row of Co
 * weights scaled by each non-zero input.  Each output is the same sum as
 * the dense loop's (bias, then w x in increasing c), term for term: only
 * terms with a zero input are skipped, which add nothing. */
ALWAYS void ev_linear_graded_body(stc_interp_t *ip, const stc_node_t *n, const stc_node_t *a, const float *in,
                             float *out) {
    const float *Wt = ip->wt[n->id];
    const stc_param_t *bp = stc_ir_param(n, "bias");
    int Co = n->shape.c, Ci = a->shape.c, N = a->shape.h * a->shape.w;
    float *acc = ip->evacc;
    for (int p = 0; p < N; p++) {
        float *y = acc + (size_t)p * Co;
        for (int o = 0; o < Co; o++) y[o] = bp ? bp->data[o] : 0.0f;
        for (int c = 0; c < Ci; c++) {
            float v = in[(size_t)c * N + p];
            if (v == 0.0f) continue;
            const float *w = Wt + (size_t)c * Co;
            for (int o = 0; o < Co; o++) y[o] += w[o] * v;
        }
    }
    for (int o = 0; o < Co; o++)
        for (int p = 0; p < N; p++) out[(size_t)o * N + p] = acc[(size_t)p * Co + o];
}

/* The event-driven kernels twice: for the build's baseline and for AVX2 (8
 * floats per add instead of 4), chosen at run time (ip->simd) as the chip
 * simulator does.  Element-wise adds, no fused multiply-add: the same floats
 * either way. */
#define EV_BASE(name)                                                                                    \
    static void name##_base(stc_interp_t *ip, const stc_node_t *n, const stc_node_t *a, const float *in, \
                            float *out) {                                                                \
        name##_body(ip, n, a, in, out);                                                                  \
    }
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define EV_KERNEL(name)                                                                                         \
    EV_BASE(name)                                                                                               \
    __attribute__((target("avx2"))) static void name##_avx2(stc_interp_t *ip, const stc_node_t *n,              \
                                                            const stc_node_t *a, const float *in, float *out) { \
        name##_body(ip, n, a, in, out);                                                                         \
    }                                                                                                           \
    static void name(stc_interp_t *ip, const stc_node_t *n, const stc_node_t *a, const float *in, float *out) { \
        if (ip->simd) name##_avx2(ip, n, a, in, out);                                                           \
        else name##_base(ip, n, a, in, out);                                                                    \
    }
#else
#define EV_KERNEL(name)                                                                                         \
    EV_BASE(name)                                                                                               \
    static void name(stc_interp_t *ip, const stc_node_t *n, const stc_node_t *a, const float *in, float *out) { \
        name##_base(ip, n, a, in, out);                                                                         \
    }
#endif
EV_KERNEL(ev_conv2d)
EV_KERNEL(ev_linear)
EV_KERNEL(ev_linear_graded)

static void op_maxpool(const stc_node_t *n, const stc_node_t *a, const float *in, float *out) {
    int C = n->shape.c, Ho = n->shape.h, Wo = n->shape.w, Hi = a->shape.h, Wi = a->shape.w;
    int K = n->k, S = n->stride, P = n->pad;
    for (int c = 0; c < C; c++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float m = -INFINITY;
                for (int ky = 0; ky < K; ky++) {
                    int iy = oy * S + ky - P;
                    if (iy < 0 || iy >= Hi) continue;
                    for (int kx = 0; kx < K; kx++) {
                        int ix = ox * S + kx - P;
                        if (ix < 0 || ix >= Wi) continue;
                        float v = in[((size_t)c * Hi + iy) * Wi + ix];
                        if (v > m || isnan(v)) m = v;
                    }
                }
                out[((size_t)c * Ho + oy) * Wo + ox] = m;
            }
}

/* Spikformer SSA.  q,k,v are 0/1, so every product and sum is an integer:
 * per head, kv[j][l] = sum_n k[j,n] v[l,n] (d x d), out[l,n] = scale * sum_j
 * q[j,n] kv[j][l].  Integers up to N*d fit easily; one float scale at the end
 * (a power of two in every published model) makes the result exact. */
static void op_ssa(stc_interp_t *ip, const stc_node_t *n, const float *q, const float *k,
                   const float *v, float *out) {
    int C = n->shape.c, H = n->heads, d = C / H, N = n->shape.h * n->shape.w;
    int64_t *kv = ip->acc;
    for (int h = 0; h < H; h++) {
        const float *qh = q + (size_t)h * d * N, *kh = k + (size_t)h * d * N, *vh = v + (size_t)h * d * N;
        for (int j = 0; j < d; j++)
            for (int l = 0; l < d; l++) {
                int64_t s = 0;
                const float *kr = kh + (size_t)j * N, *vr = vh + (size_t)l * N;
                for (int p = 0; p < N; p++) s += (kr[p] != 0.0f) & (vr[p] != 0.0f);
                kv[j * d + l] = s;
            }
        for (int l = 0; l < d; l++) {
            float *o = out + ((size_t)h * d + l) * N;
            for (int p = 0; p < N; p++) {
                int64_t s = 0;
                for (int j = 0; j < d; j++)
                    if (qh[(size_t)j * N + p] != 0.0f) s += kv[j * d + l];
                o[p] = (float)s * n->scale;
            }
        }
    }
}

/* charge and fire; the reset is done by lif_reset once the spikes are final */
static void op_lif(stc_interp_t *ip, const stc_node_t *n, const float *x, float *s, int t) {
    int64_t m = numel(n->shape);
    float *v = ip->v[n->id], *h = ip->h;
    float tau = n->tau, vth = n->vth;
    if (t == 0) memset(v, 0, (size_t)m * sizeof(float));
    for (int64_t i = 0; i < m; i++) {
        float hi = v[i] + (x[i] - v[i]) / tau;
        h[i] = hi;
        s[i] = hi >= vth ? 1.0f : 0.0f;
    }
}

static void lif_reset(stc_interp_t *ip, const stc_node_t *n, const float *s) {
    int64_t m = numel(n->shape);
    float *v = ip->v[n->id];
    const float *h = ip->h;
    for (int64_t i = 0; i < m; i++) v[i] = s[i] != 0.0f ? n->vreset : h[i];
}

stc_status_t stc_interp_run(stc_interp_t *ip, const float *image, float *logits,
                            int64_t *spike_counts, stc_lif_trace_fn trace, void *ud,
                            stc_err_t *err) {
    const stc_ir_t *ir = ip->ir;
    const stc_node_t *outn = &ir->nodes[ir->n_nodes - 1];
    int64_t nout = numel(outn->shape);
    memset(ip->sum, 0, (size_t)nout * sizeof(float));
    memset(ip->n_ac, 0, (size_t)ir->n_nodes * sizeof(int64_t));
    memset(ip->n_mac, 0, (size_t)ir->n_nodes * sizeof(int64_t));
    if (spike_counts) memset(spike_counts, 0, (size_t)ir->n_nodes * sizeof(int64_t));
    for (int t = 0; t < ir->T; t++) {
        for (int i = 0; i < ir->n_nodes; i++) {
            const stc_node_t *n = &ir->nodes[i];
            float *y = ip->out[i];
            const float *x0 = n->n_in > 0 ? ip->out[n->in[0]] : NULL;
            const float *x1 = n->n_in > 1 ? ip->out[n->in[1]] : NULL;
            const stc_node_t *a = n->n_in > 0 ? &ir->nodes[n->in[0]] : NULL;
            int64_t m = numel(n->shape);
            switch (n->op) {
            case STC_OP_INPUT:
                memcpy(y, image, (size_t)m * sizeof(float));
                break;
            case STC_OP_CONV2D:
                if (ip->wt[i]) {
                    ev_conv2d(ip, n, a, x0, y);
                } else {
                    op_conv2d(n, a, x0, y);
                    ip->n_mac[i] += ip->dense[i];
                }
                break;
            case STC_OP_LINEAR:
                if (a->vtype == STC_VT_SPIKE) {
                    ev_linear(ip, n, a, x0, y);
                } else {
                    ev_linear_graded(ip, n, a, x0, y);
                    ip->n_mac[i] += ip->dense[i];
                }
                break;
            case STC_OP_BATCHNORM: {
                int64_t hw = (int64_t)n->shape.h * n->shape.w;
                const float *A = ip->bn_a[i], *B = ip->bn_b[i];
                for (int c = 0; c < n->shape.c; c++)
                    for (int64_t p = 0; p < hw; p++) y[c * hw + p] = x0[c * hw + p] * A[c] + B[c];
                break;
            }
            case STC_OP_LIF:
                op_lif(ip, n, x0, y, t);
                if (trace) trace(ud, n, t, ip->h, y);
                lif_reset(ip, n, y);
                if (spike_counts) {
                    int64_t cnt = 0;
                    for (int64_t p = 0; p < m; p++) cnt += y[p] != 0.0f;
                    spike_counts[i] += cnt;
                }
                break;
            case STC_OP_MAXPOOL:
                op_maxpool(n, a, x0, y);
                break;
            case STC_OP_ADD:
                for (int64_t p = 0; p < m; p++) y[p] = x0[p] + x1[p];
                break;
            case STC_OP_MUL: {
                const stc_node_t *b = &ir->nodes[n->in[1]];
                int64_t hw = (int64_t)n->shape.h * n->shape.w;
                int bcast = b->shape.h * b->shape.w == 1 && hw != 1;
                for (int c = 0; c < n->shape.c; c++)
                    for (int64_t p = 0; p < hw; p++)
                        y[c * hw + p] = x0[c * hw + p] * (bcast ? x1[c] : x1[c * hw + p]);
                break;
            }
            case STC_OP_SSA:
                op_ssa(ip, n, x0, x1, ip->out[n->in[2]], y);
                ip->n_ac[i] += ip->dense[i]; /* counted dense, as the papers do */
                break;
            case STC_OP_SDSA: {
                int64_t hw = (int64_t)a->shape.h * a->shape.w;
                for (int c = 0; c < n->shape.c; c++) {
                    int64_t s = 0;
                    for (int64_t p = 0; p < hw; p++)
                        s += (x0[c * hw + p] != 0.0f) & (x1[c * hw + p] != 0.0f);
                    y[c] = (float)s;
                }
                break;
            }
            case STC_OP_MEAN: {
                int64_t hw = (int64_t)a->shape.h * a->shape.w;
                for (int c = 0; c < n->shape.c; c++) {
                    float s = 0.0f;
                    for (int64_t p = 0; p < hw; p++) s += x0[c * hw + p];
                    y[c] = s / (float)hw;
                }
                break;
            }
            case STC_OP_OUTPUT:
                for (int64_t p = 0; p < m; p++) {
                    y[p] = x0[p];
                    ip->sum[p] += x0[p];
                }
                break;
            case STC_OP_COUNT:
                return stc_err_set(err, STC_E_INTERNAL, "interpreter: bad op at node %d", i);
            }
            if (ip->observer) ip->observer(ip->observer_ud, n, t, y);
        }
    }
    for (int64_t p = 0; p < nout; p++) logits[p] = ip->sum[p] / (float)ir->T;
    return STC_OK;
}

void stc_interp_ops(const stc_interp_t *ip, int64_t *acs, int64_t *macs) {
    for (int i = 0; i < ip->ir->n_nodes; i++) {
        if (acs) acs[i] = ip->n_ac[i];
        if (macs) macs[i] = ip->n_mac[i];
    }
}
