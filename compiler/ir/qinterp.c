/* qinterp.c - the integer interpreter: the golden model of the hardware.
 *
 * Runs a quantized graph (ir->quant = 1, made by the quantize pass) for T
 * timesteps exactly as docs/backend.md section 1 defines every op, layer by
 * layer, in int64 arithmetic, with the formulas of base/stc_fixed.h (LIF step,
 * graded payloads, input encoding, logits).  The chip simulator must
 * reproduce every integer this produces, so nothing here may depend on
 * evaluation order: all sums are exact integer sums.
 *
 * Speed (it checks the simulator on 10,000 images): conv2d and linear are
 * event-driven, like interp.c: every non-zero input (a spike, or a graded
 * payload) adds one contiguous row of Co integer weights, stored transposed
 * as [ky][kx][Ci][Co], to the positions it reaches; zero inputs cost nothing.
 * Nodes that depend only on the input image (the first convolution) are
 * computed at t = 0 and reused, since their value cannot change.  The two
 * kernels also have AVX2 forms, chosen at run time (Q_KERNEL): 17.1 -> 10.6 s
 * per Spikformer-8-768 image (bench/RESULTS.md).
 * SPDX-License-Identifier: MIT
 */
#include "stc_fixed.h"
#include "stc_ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct stc_qinterp {
    const stc_ir_t *ir;
    int64_t **out;       /* per node: integer output of the current timestep */
    int64_t **v;         /* per LIF node: membrane */
    int32_t **wt;        /* per conv2d/linear: weights as [ky][kx][Ci][Co] */
    int64_t **bias;      /* per conv2d/linear: bias_q per output channel (zeros if none) */
    char *fixed;         /* per node: depends on the image only (computed once, at t = 0) */
    int64_t *acc;        /* scratch: accumulator, positions x Co */
    int64_t *kv;         /* scratch: per-head d x d attention counts */
    int *lj, *ll;        /* scratch: active channel lists of a head (d each) */
    int64_t *sum;        /* readout: sum over timesteps of the OUTPUT's input */
    int64_t *n_ac, *n_mac;    /* per node, this run */
    int64_t *ac0, *mac0;      /* per fixed node: operations of one timestep */
    int simd;            /* the CPU has AVX2 (and STC_INTERP_NOSIMD is not set): the kernels' AVX2 forms */
};

static int64_t numel(stc_shape_t s) { return (int64_t)s.c * s.h * s.w; }

static const char *where(const stc_node_t *n, char *buf, size_t cap) {
    if (n->name && n->name[0])
        snprintf(buf, cap, "%%%d '%s' (%s)", n->id, n->name, stc_op_name(n->op));
    else
        snprintf(buf, cap, "%%%d (%s)", n->id, stc_op_name(n->op));
    return buf;
}

void stc_qinterp_destroy(stc_qinterp_t **ip) {
    if (!ip || !*ip) return;
    stc_qinterp_t *p = *ip;
    for (int i = 0; p->ir && i < p->ir->n_nodes; i++) {
        if (p->out) free(p->out[i]);
        if (p->v) free(p->v[i]);
        if (p->wt) free(p->wt[i]);
        if (p->bias) free(p->bias[i]);
    }
    free(p->out);
    free(p->v);
    free(p->wt);
    free(p->bias);
    free(p->fixed);
    free(p->acc);
    free(p->kv);
    free(p->lj);
    free(p->ll);
    free(p->sum);
    free(p->n_ac);
    free(p->n_mac);
    free(p->ac0);
    free(p->mac0);
    free(p);
    *ip = NULL;
}

/* A parameter that must hold integers: checked and converted. */
static stc_status_t int_param(const stc_node_t *n, const stc_param_t *p, double lim, stc_err_t *err) {
    char w[256];
    for (int64_t k = 0; k < p->numel; k++) {
        double x = (double)p->data[k];
        if (x != floor(x) || fabs(x) > lim)
            return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: %s element %lld is %.9g, "
                               "expected an integer within +-%.0f (is the graph quantized?)",
                               where(n, w, sizeof w), p->role, (long long)k, x, lim);
    }
    return STC_OK;
}

/* The fields the semantics reads, checked so that no shift or table is out of range. */
static stc_status_t check_node(const stc_ir_t *ir, const stc_node_t *n, stc_err_t *err) {
    char w[256];
    int graded = n->op == STC_OP_ADD || ((n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR) && n->qgraded);
    int bits = n->op == STC_OP_INPUT || graded;
    if (n->op == STC_OP_BATCHNORM)
        return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: batchnorm in a quantized graph "
                           "(fold_bn runs before quantize)", where(n, w, sizeof w));
    if (bits && (n->qbits < 2 || n->qbits > 32))
        return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: qbits=%d, expected 2..32",
                           where(n, w, sizeof w), n->qbits);
    if (graded && (n->qrsh < 0 || n->qrsh > 62))
        return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: qrsh=%d, expected 0..62",
                           where(n, w, sizeof w), n->qrsh);
    if (n->op == STC_OP_ADD && (n->qsh[0] < 0 || n->qsh[0] > 30 || n->qsh[1] < 0 || n->qsh[1] > 30))
        return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: qsh=%d,%d, expected 0..30",
                           where(n, w, sizeof w), n->qsh[0], n->qsh[1]);
    if (n->op == STC_OP_INPUT && (n->qexp < -60 || n->qexp > 60))
        return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: qexp=%d, expected -60..60",
                           where(n, w, sizeof w), n->qexp);
    if (n->op == STC_OP_LIF &&
        (n->qdk < 1 || n->qdk > 4096 || n->qshl < 0 || n->qshl > 30 || n->qvth > STC_STATE_MAX ||
         n->qvth < -STC_STATE_MAX || n->qvreset > STC_STATE_MAX || n->qvreset < -STC_STATE_MAX))
        return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: qdk=%d qshl=%d qvth=%lld "
                           "qvreset=%lld, expected qdk 1..4096, qshl 0..30 and 24-bit qvth, qvreset",
                           where(n, w, sizeof w), n->qdk, n->qshl, (long long)n->qvth, (long long)n->qvreset);
    if (n->op == STC_OP_OUTPUT && !(ir->nodes[n->in[0]].qstep > 0))
        return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: its input's qstep is %g, "
                           "expected > 0", where(n, w, sizeof w), ir->nodes[n->in[0]].qstep);
    if (n->op == STC_OP_MUL || n->op == STC_OP_SSA || n->op == STC_OP_SDSA)
        for (int k = 0; k < n->n_in; k++)
            if (ir->nodes[n->in[k]].vtype != STC_VT_SPIKE)
                return stc_err_set(err, STC_E_FORMAT, "integer interpreter: node %s: input %d is not "
                                   "spikes, expected 0/1", where(n, w, sizeof w), k);
    return STC_OK;
}

int64_t stc_qinterp_bytes(const stc_ir_t *ir) {
    int64_t b = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        b += numel(n->shape) * (int64_t)sizeof(int64_t) * (n->op == STC_OP_LIF ? 2 : 1); /* out, v */
        const stc_param_t *w = n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR ? stc_ir_param(n, "weight") : NULL;
        if (w) b += w->numel * (int64_t)sizeof(int32_t);
    }
    return b;
}

stc_qinterp_t *stc_qinterp_create(const stc_ir_t *ir, stc_err_t *err) {
    if (!ir->quant) {
        stc_err_set(err, STC_E_USAGE, "integer interpreter: the graph is not quantized (run the quantize "
                    "pass first)");
        return NULL;
    }
    if (stc_ir_verify(ir, err)) return NULL;
    for (int i = 0; i < ir->n_nodes; i++)
        if (check_node(ir, &ir->nodes[i], err)) return NULL;
    stc_qinterp_t *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->ir = ir;
    p->simd = stc_cpu_avx2("STC_INTERP_NOSIMD");
    size_t nn = (size_t)ir->n_nodes;
    p->out = calloc(nn, sizeof *p->out);
    p->v = calloc(nn, sizeof *p->v);
    p->wt = calloc(nn, sizeof *p->wt);
    p->bias = calloc(nn, sizeof *p->bias);
    p->fixed = calloc(nn, 1);
    p->n_ac = calloc(nn, sizeof(int64_t));
    p->n_mac = calloc(nn, sizeof(int64_t));
    p->ac0 = calloc(nn, sizeof(int64_t));
    p->mac0 = calloc(nn, sizeof(int64_t));
    if (!p->out || !p->v || !p->wt || !p->bias || !p->fixed || !p->n_ac || !p->n_mac || !p->ac0 || !p->mac0)
        goto oom;
    int64_t maxacc = 1, maxkv = 1, maxd = 1;
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        int64_t m = numel(n->shape);
        p->out[i] = calloc((size_t)m, sizeof(int64_t));
        if (!p->out[i]) goto oom;
        int fixed = n->op == STC_OP_INPUT;
        if (n->op != STC_OP_LIF && n->op != STC_OP_OUTPUT && n->n_in > 0) {
            fixed = 1;
            for (int k = 0; k < n->n_in; k++) fixed &= p->fixed[n->in[k]];
        }
        p->fixed[i] = (char)fixed;
        if (n->op == STC_OP_LIF) {
            p->v[i] = calloc((size_t)m, sizeof(int64_t));
            if (!p->v[i]) goto oom;
        }
        if (n->op == STC_OP_SSA) {
            int64_t d = n->shape.c / n->heads;
            if (d * d > maxkv) maxkv = d * d;
            if (d > maxd) maxd = d;
        }
        if (n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR) {
            const stc_param_t *w = stc_ir_param(n, "weight");
            const stc_param_t *b = stc_ir_param(n, "bias");
            if (int_param(n, w, 2147483647.0, err) || (b && int_param(n, b, 1e18, err))) {
                stc_qinterp_destroy(&p);
                return NULL;
            }
            int Co = n->shape.c, Ci = ir->nodes[n->in[0]].shape.c, K = n->op == STC_OP_CONV2D ? n->k : 1;
            p->wt[i] = malloc((size_t)w->numel * sizeof(int32_t));
            p->bias[i] = calloc((size_t)Co, sizeof(int64_t));
            if (!p->wt[i] || !p->bias[i]) goto oom;
            for (int o = 0; o < Co; o++)
                for (int c = 0; c < Ci; c++)
                    for (int k = 0; k < K * K; k++)
                        p->wt[i][((size_t)k * Ci + c) * Co + o] =
                            (int32_t)w->data[((size_t)o * Ci + c) * K * K + k];
            for (int o = 0; b && o < Co; o++) p->bias[i][o] = (int64_t)b->data[o];
            if (m > maxacc) maxacc = m;
        }
    }
    p->acc = malloc((size_t)maxacc * sizeof(int64_t));
    p->kv = malloc((size_t)maxkv * sizeof(int64_t));
    p->lj = malloc((size_t)maxd * sizeof(int));
    p->ll = malloc((size_t)maxd * sizeof(int));
    p->sum = malloc((size_t)numel(ir->nodes[ir->n_nodes - 1].shape) * sizeof(int64_t));
    if (!p->acc || !p->kv || !p->lj || !p->ll || !p->sum) goto oom;
    return p;
oom:
    stc_qinterp_destroy(&p);
    stc_err_set(err, STC_E_NOMEM, "integer interpreter: out of memory for activations");
    return NULL;
}

/* ------------------------------------------------------------------- ops */

/* acc (position-major, Co per position) -> out (channel-major), graded if the node says so */
static void settle(const stc_node_t *n, const int64_t *acc, int64_t *out) {
    int Co = n->shape.c, HW = n->shape.h * n->shape.w;
    for (int o = 0; o < Co; o++) {
        int64_t *y = out + (size_t)o * HW;
        if (n->qgraded)
            for (int q = 0; q < HW; q++) y[q] = stc_graded(acc[(size_t)q * Co + o], n->qrsh, n->qbits);
        else
            for (int q = 0; q < HW; q++) y[q] = acc[(size_t)q * Co + o];
    }
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define Q_X86 1
#include <immintrin.h>
/* y[o] += pay * w[o], four at a time: vpmuldq multiplies the low 32 bits of
 * each 64-bit lane as signed integers into 64 bits, the exact product. (gcc
 * vectorizes the plain loop as a full 64 x 64-bit multiply, 3x the work.) */
__attribute__((target("avx2"))) static void row_mul_avx2(int64_t *y, const int32_t *w, int Co, int32_t pay) {
    __m256i p = _mm256_set1_epi64x(pay);
    int o = 0;
    for (; o + 4 <= Co; o += 4) {
        __m256i w4 = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(w + o)));
        __m256i y4 = _mm256_loadu_si256((const __m256i *)(y + o));
        _mm256_storeu_si256((__m256i *)(y + o), _mm256_add_epi64(y4, _mm256_mul_epi32(w4, p)));
    }
    for (; o < Co; o++) y[o] += (int64_t)w[o] * pay;
}
#else
#define Q_X86 0
static void row_mul_avx2(int64_t *y, const int32_t *w, int Co, int32_t pay) { (void)y, (void)w, (void)Co, (void)pay; }
#endif

/* y[o] += pay * w[o] for one row of Co weights (simd: a constant, 1 in the
 * AVX2 form of a kernel).  A payload that fits 32 bits (all of them but a
 * pathological input encoding) multiplies as int32 x int32 -> int64; the
 * products are the same integers on every path. */
#define ROW_ADD(y, w, Co, pay, simd)                                               \
    do {                                                                           \
        if ((pay) == 1)                                                            \
            for (int o_ = 0; o_ < (Co); o_++) (y)[o_] += (w)[o_];                  \
        else if ((simd) && (pay) >= INT32_MIN && (pay) <= INT32_MAX)               \
            row_mul_avx2((y), (w), (Co), (int32_t)(pay));                          \
        else                                                                       \
            for (int o_ = 0; o_ < (Co); o_++) (y)[o_] += (int64_t)(w)[o_] * (pay); \
    } while (0)

/* Every non-zero input (c, iy, ix) with payload x adds x * w[o][c][ky][kx] to
 * every output (o, oy, ox) with oy*S + ky - P = iy (and x).  Returns the
 * number of synaptic events (rows of Co). */
static inline __attribute__((always_inline)) int64_t conv2d_body(stc_qinterp_t *ip, const stc_node_t *n,
                                                                 const stc_node_t *a, const int64_t *in,
                                                                 int64_t *out, int simd) {
    const int32_t *Wt = ip->wt[n->id];
    const int64_t *bias = ip->bias[n->id];
    int Co = n->shape.c, Ho = n->shape.h, Wo = n->shape.w;
    int Ci = a->shape.c, Hi = a->shape.h, Wi = a->shape.w, K = n->k, S = n->stride, P = n->pad;
    int64_t *acc = ip->acc, taps = 0;
    for (int q = 0; q < Ho * Wo; q++) memcpy(acc + (size_t)q * Co, bias, (size_t)Co * sizeof(int64_t));
    for (int c = 0; c < Ci; c++) {
        const int64_t *x = in + (size_t)c * Hi * Wi;
        for (int iy = 0; iy < Hi; iy++)
            for (int ix = 0; ix < Wi; ix++) {
                int64_t pay = x[iy * Wi + ix];
                if (!pay) continue;
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
                        int64_t *y = acc + ((size_t)oy * Wo + ox) * Co;
                        const int32_t *w = Wt + (((size_t)ky * K + kx) * Ci + c) * Co;
                        ROW_ADD(y, w, Co, pay, simd);
                        taps++;
                    }
                }
            }
    }
    settle(n, acc, out);
    return taps;
}

static inline __attribute__((always_inline)) int64_t linear_body(stc_qinterp_t *ip, const stc_node_t *n,
                                                                 const stc_node_t *a, const int64_t *in,
                                                                 int64_t *out, int simd) {
    const int32_t *Wt = ip->wt[n->id];
    const int64_t *bias = ip->bias[n->id];
    int Co = n->shape.c, Ci = a->shape.c, N = a->shape.h * a->shape.w;
    int64_t *acc = ip->acc, rows = 0;
    for (int p = 0; p < N; p++) {
        int64_t *y = acc + (size_t)p * Co;
        memcpy(y, bias, (size_t)Co * sizeof(int64_t));
        for (int c = 0; c < Ci; c++) {
            int64_t pay = in[(size_t)c * N + p];
            if (!pay) continue;
            const int32_t *w = Wt + (size_t)c * Co;
            ROW_ADD(y, w, Co, pay, simd);
            rows++;
        }
    }
    settle(n, acc, out);
    return rows;
}

/* The two kernels twice: for the build's baseline and for AVX2 (4 int64 lanes
 * and a sign-extending load instead of SSE2's 2 and a compare and unpack),
 * chosen at run time (ip->simd) as interp.c and the chip simulator do.
 * Integer adds: the same results either way. */
#if Q_X86
#define Q_KERNEL(name)                                                                                     \
    static int64_t name##_base(stc_qinterp_t *ip, const stc_node_t *n, const stc_node_t *a,               \
                               const int64_t *in, int64_t *out) {                                         \
        return name##_body(ip, n, a, in, out, 0);                                                          \
    }                                                                                                      \
    __attribute__((target("avx2"))) static int64_t name##_avx2(stc_qinterp_t *ip, const stc_node_t *n,   \
                                                               const stc_node_t *a, const int64_t *in,    \
                                                               int64_t *out) {                            \
        return name##_body(ip, n, a, in, out, 1);                                                          \
    }                                                                                                      \
    static int64_t name(stc_qinterp_t *ip, const stc_node_t *n, const stc_node_t *a, const int64_t *in,   \
                        int64_t *out) {                                                                    \
        return ip->simd ? name##_avx2(ip, n, a, in, out) : name##_base(ip, n, a, in, out);                 \
    }
#else
#define Q_KERNEL(name)                                                                                   \
    static int64_t name(stc_qinterp_t *ip, const stc_node_t *n, const stc_node_t *a, const int64_t *in, \
                        int64_t *out) {                                                                  \
        return name##_body(ip, n, a, in, out, 0);                                                        \
    }
#endif
Q_KERNEL(conv2d)
Q_KERNEL(linear)

static void maxpool(const stc_node_t *n, const stc_node_t *a, const int64_t *in, int64_t *out) {
    int C = n->shape.c, Ho = n->shape.h, Wo = n->shape.w, Hi = a->shape.h, Wi = a->shape.w;
    int K = n->k, S = n->stride, P = n->pad;
    for (int c = 0; c < C; c++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                int64_t m = INT64_MIN;
                for (int ky = 0; ky < K; ky++) {
                    int iy = oy * S + ky - P;
                    if (iy < 0 || iy >= Hi) continue;
                    for (int kx = 0; kx < K; kx++) {
                        int ix = ox * S + kx - P;
                        if (ix < 0 || ix >= Wi) continue;
                        int64_t v = in[((size_t)c * Hi + iy) * Wi + ix];
                        if (v > m) m = v;
                    }
                }
                out[((size_t)c * Ho + oy) * Wo + ox] = m == INT64_MIN ? 0 : m;
            }
}

/* I[l,n] = sum_j q[j,n] kv[j][l], kv[j][l] = sum_m k[j,m] v[l,m] per head;
 * q = I * qmul.  Returns the accumulates done: one per (k, v) spike pair into
 * kv and d per q spike. */
static int64_t ssa(stc_qinterp_t *ip, const stc_node_t *n, const int64_t *q, const int64_t *k,
                   const int64_t *v, int64_t *out) {
    int C = n->shape.c, H = n->heads, d = C / H, N = n->shape.h * n->shape.w;
    int64_t *kv = ip->kv, ops = 0, mul = n->qmul;
    int *lj = ip->lj, *ll = ip->ll;
    for (int h = 0; h < H; h++) {
        const int64_t *qh = q + (size_t)h * d * N, *kh = k + (size_t)h * d * N, *vh = v + (size_t)h * d * N;
        memset(kv, 0, (size_t)d * d * sizeof *kv);
        for (int m = 0; m < N; m++) {
            int nj = 0, nl = 0;
            for (int j = 0; j < d; j++) {
                if (kh[(size_t)j * N + m]) lj[nj++] = j;
                if (vh[(size_t)j * N + m]) ll[nl++] = j;
            }
            for (int a = 0; a < nj; a++)
                for (int b = 0; b < nl; b++) kv[lj[a] * d + ll[b]]++;
            ops += (int64_t)nj * nl;
        }
        for (int p = 0; p < N; p++) {
            int nj = 0;
            for (int j = 0; j < d; j++)
                if (qh[(size_t)j * N + p]) lj[nj++] = j;
            for (int l = 0; l < d; l++) {
                int64_t s = 0;
                for (int a = 0; a < nj; a++) s += kv[lj[a] * d + l];
                out[((size_t)h * d + l) * N + p] = s * mul;
            }
            ops += (int64_t)nj * d;
        }
    }
    return ops;
}

stc_status_t stc_qinterp_run(stc_qinterp_t *ip, const float *image, float *logits,
                             int64_t *spike_counts, stc_qtrace_fn trace, void *ud, stc_err_t *err) {
    const stc_ir_t *ir = ip->ir;
    const stc_node_t *outn = &ir->nodes[ir->n_nodes - 1];
    int64_t nout = numel(outn->shape);
    memset(ip->sum, 0, (size_t)nout * sizeof(int64_t));
    memset(ip->n_ac, 0, (size_t)ir->n_nodes * sizeof(int64_t));
    memset(ip->n_mac, 0, (size_t)ir->n_nodes * sizeof(int64_t));
    if (spike_counts) memset(spike_counts, 0, (size_t)ir->n_nodes * sizeof(int64_t));
    for (int t = 0; t < ir->T; t++) {
        for (int i = 0; i < ir->n_nodes; i++) {
            const stc_node_t *n = &ir->nodes[i];
            int64_t *y = ip->out[i];
            int64_t m = numel(n->shape);
            if (t > 0 && ip->fixed[i]) {
                ip->n_ac[i] += ip->ac0[i];
                ip->n_mac[i] += ip->mac0[i];
                if (trace) trace(ud, n, t, y);
                continue;
            }
            const int64_t *x0 = n->n_in > 0 ? ip->out[n->in[0]] : NULL;
            const int64_t *x1 = n->n_in > 1 ? ip->out[n->in[1]] : NULL;
            const stc_node_t *a = n->n_in > 0 ? &ir->nodes[n->in[0]] : NULL;
            switch (n->op) {
            case STC_OP_INPUT:
                for (int64_t p = 0; p < m; p++) y[p] = stc_encode_input(image[p], n->qexp, n->qbits);
                break;
            case STC_OP_CONV2D:
            case STC_OP_LINEAR: {
                int64_t ev = n->op == STC_OP_CONV2D ? conv2d(ip, n, a, x0, y) : linear(ip, n, a, x0, y);
                int64_t ops = ev * n->shape.c;
                if (a->vtype == STC_VT_SPIKE) {
                    ip->n_ac[i] += ops;
                    ip->ac0[i] = ops;
                } else {
                    ip->n_mac[i] += ops;
                    ip->mac0[i] = ops;
                }
                break;
            }
            case STC_OP_LIF: {
                int64_t *v = ip->v[i], cnt = 0;
                if (t == 0) memset(v, 0, (size_t)m * sizeof(int64_t));
                for (int64_t p = 0; p < m; p++) {
                    int s = stc_lif_step(x0[p], &v[p], n->qshl, n->qdk, n->qvth, n->qvreset);
                    y[p] = s;
                    cnt += s;
                }
                if (spike_counts) spike_counts[i] += cnt;
                break;
            }
            case STC_OP_MAXPOOL:
                maxpool(n, a, x0, y);
                break;
            case STC_OP_ADD: {
                int64_t ma = (int64_t)1 << n->qsh[0], mb = (int64_t)1 << n->qsh[1];
                for (int64_t p = 0; p < m; p++) y[p] = stc_graded(x0[p] * ma + x1[p] * mb, n->qrsh, n->qbits);
                break;
            }
            case STC_OP_MUL: {
                const stc_node_t *b = &ir->nodes[n->in[1]];
                int64_t hw = (int64_t)n->shape.h * n->shape.w;
                int bcast = b->shape.h * b->shape.w == 1 && hw != 1;
                for (int c = 0; c < n->shape.c; c++)
                    for (int64_t p = 0; p < hw; p++)
                        y[c * hw + p] = x0[c * hw + p] & (bcast ? x1[c] : x1[c * hw + p]);
                break;
            }
            case STC_OP_SSA: {
                int64_t ops = ssa(ip, n, x0, x1, ip->out[n->in[2]], y);
                ip->n_ac[i] += ops;
                ip->ac0[i] = ops;
                break;
            }
            case STC_OP_SDSA: {
                int64_t hw = (int64_t)a->shape.h * a->shape.w;
                for (int c = 0; c < n->shape.c; c++) {
                    int64_t s = 0;
                    for (int64_t p = 0; p < hw; p++) s += x0[c * hw + p] & x1[c * hw + p];
                    y[c] = s;
                }
                break;
            }
            case STC_OP_MEAN: {
                int64_t hw = (int64_t)a->shape.h * a->shape.w;
                for (int c = 0; c < n->shape.c; c++) {
                    int64_t s = 0;
                    for (int64_t p = 0; p < hw; p++) s += x0[c * hw + p];
                    y[c] = s;
                }
                break;
            }
            case STC_OP_OUTPUT:
                for (int64_t p = 0; p < m; p++) {
                    y[p] = x0[p];
                    ip->sum[p] += x0[p];
                }
                break;
            case STC_OP_BATCHNORM:
            case STC_OP_COUNT:
                return stc_err_set(err, STC_E_INTERNAL, "integer interpreter: op %s at node %d has no "
                                   "integer form", stc_op_name(n->op), i);
            }
            if (trace) trace(ud, n, t, y);
        }
    }
    double step = ir->nodes[outn->in[0]].qstep;
    for (int64_t p = 0; p < nout; p++) logits[p] = stc_logit(ip->sum[p], step, ir->T);
    return STC_OK;
}

void stc_qinterp_ops(const stc_qinterp_t *ip, int64_t *acs, int64_t *macs) {
    for (int i = 0; i < ip->ir->n_nodes; i++) {
        if (acs) acs[i] = ip->n_ac[i];
        if (macs) macs[i] = ip->n_mac[i];
    }
}
