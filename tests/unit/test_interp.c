/* test_interp.c - suite "interp": exact semantics of the float interpreter (compiler/ir/interp.c).
 *
 * Tiny hand-made graphs whose results are worked out by hand (LIF charge,
 * ties, resets, thresholds) or by a naive loop in this file (conv2d, maxpool,
 * SSA, SDSA, BatchNorm).  Intermediate tensors are observed through the LIF
 * trace callback: a LIF with tau 1 at t = 0 has charge h = 0 + (x - 0) / 1 = x
 * exactly, so `op -> lif(tau=1)` exposes the op's output bit for bit.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_ir.h"
#include "test_util.h"

/* ------------------------------------------------------------- recorder */

#define REC_NODES 24
#define REC_T 8
#define REC_N 512

/* What the trace callback saw: charge and (final) spikes per LIF node and
 * timestep; force[t][i] >= 0 overrides spike i of node force_node at t. */
typedef struct {
    int calls;
    int64_t m[REC_NODES];
    float h[REC_NODES][REC_T][REC_N];
    float s[REC_NODES][REC_T][REC_N];
    int force_node;
    int force[REC_T][REC_N];
} rec_t;

static rec_t *rec_new(void) {
    rec_t *r = calloc(1, sizeof *r);
    r->force_node = -1;
    return r;
}

static void rec_fn(void *ud, const stc_node_t *n, int t, const float *h, float *s) {
    rec_t *r = ud;
    r->calls++;
    int64_t m = (int64_t)n->shape.c * n->shape.h * n->shape.w;
    if (n->id >= REC_NODES || t >= REC_T || m > REC_N) return;
    r->m[n->id] = m;
    if (n->id == r->force_node)
        for (int64_t i = 0; i < m; i++)
            if (r->force[t][i] >= 0) s[i] = (float)r->force[t][i];
    memcpy(r->h[n->id][t], h, (size_t)m * sizeof(float));
    memcpy(r->s[n->id][t], s, (size_t)m * sizeof(float));
}

/* ------------------------------------------------------------- builders */

static void settle_ok(stc_ir_t *ir, int id) {
    stc_err_t err = {0};
    stc_status_t st = stc_ir_settle(ir, id, &err);
    if (st) fprintf(stderr, "\n  settle %%%d: %s\n", id, err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
}

static int input(stc_ir_t *ir, int c, int h, int w) {
    int id = stc_ir_add(ir, STC_OP_INPUT, "input", 0, NULL);
    ir->nodes[id].shape = (stc_shape_t){c, h, w};
    settle_ok(ir, id);
    return id;
}

static int lif(stc_ir_t *ir, int x, const char *name, float tau, float vth, float vreset) {
    int id = stc_ir_add(ir, STC_OP_LIF, name, 1, &x);
    ir->nodes[id].tau = tau;
    ir->nodes[id].vth = vth;
    ir->nodes[id].vreset = vreset;
    settle_ok(ir, id);
    return id;
}

/* the probe: h of this LIF at t = 0 is x exactly; vth high so it never fires */
static int probe(stc_ir_t *ir, int x) { return lif(ir, x, "probe", 1.0f, 1e30f, 0.0f); }

static int op1(stc_ir_t *ir, stc_op_t op, int x, const char *name) {
    int id = stc_ir_add(ir, op, name, 1, &x);
    settle_ok(ir, id);
    return id;
}

static int op2(stc_ir_t *ir, stc_op_t op, int a, int b, const char *name) {
    int id = stc_ir_add(ir, op, name, 2, (int[]){a, b});
    settle_ok(ir, id);
    return id;
}

static int linear(stc_ir_t *ir, int x, const char *name, int co, const float *w, const float *b) {
    int ci = ir->nodes[x].shape.c;
    int id = stc_ir_add(ir, STC_OP_LINEAR, name, 1, &x);
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, id, "weight", 2, (int64_t[]){co, ci}, w));
    if (b) CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, id, "bias", 1, (int64_t[]){co}, b));
    settle_ok(ir, id);
    return id;
}

/* x -> mean (if needed) -> output */
static int finish(stc_ir_t *ir, int x) {
    if (ir->nodes[x].shape.h * ir->nodes[x].shape.w != 1) x = op1(ir, STC_OP_MEAN, x, "token_mean");
    return op1(ir, STC_OP_OUTPUT, x, "output");
}

/* Run ir once; returns logits (malloc'd, caller frees). */
static float *run(const stc_ir_t *ir, const float *image, int64_t *counts, rec_t *r) {
    stc_err_t err = {0};
    stc_interp_t *ip = stc_interp_create(ir, &err);
    if (!ip) fprintf(stderr, "\n  interp_create: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    const stc_node_t *o = &ir->nodes[ir->n_nodes - 1];
    float *logits = calloc((size_t)o->shape.c, sizeof *logits);
    CU_ASSERT_EQUAL(stc_interp_run(ip, image, logits, counts, r ? rec_fn : NULL, r, &err), STC_OK);
    stc_interp_destroy(&ip);
    CU_ASSERT_PTR_NULL(ip);
    return logits;
}

static uint32_t rng_state;
static uint32_t rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}
/* a float in [-1, 1) with few mantissa bits, never 0 */
static float rndf(void) {
    float f = (float)((int)(rnd() % 255) - 127) / 64.0f;
    return f == 0.0f ? 0.5f : f;
}

/* ---------------------------------------------------------------- tests */

/* The usage example: create, run, destroy. */
static void test_example(void) {
    stc_ir_t *ir = stc_ir_create(4, NULL);
    int x = input(ir, 2, 1, 1);
    x = lif(ir, x, "lif", 2.0f, 1.0f, 0.0f);
    finish(ir, x);
    stc_err_t err = {0};
    stc_interp_t *ip = stc_interp_create(ir, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    float img[2] = {2.0f, 0.0f}, logits[2];
    CU_ASSERT_EQUAL(stc_interp_run(ip, img, logits, NULL, NULL, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(logits[0], 1.0f);
    CU_ASSERT_EQUAL(logits[1], 0.0f);
    stc_interp_destroy(&ip);
    CU_ASSERT_PTR_NULL(ip);
    stc_interp_destroy(&ip);
    stc_interp_destroy(NULL);
    stc_ir_destroy(&ir);
}

/* LIF, tau 2, vth 1, reset to 0, T = 4: h = v + (x - v) / 2.
 *   x = 1.5: h = 0.75, 1.125 (fire, v = 0), 0.75, 1.125 (fire): spikes at t = 1, 3
 *   x = 2.0: h = 1.0 = vth at every step: ties fire, spikes at t = 0..3
 *   x = 0.9: h = 0.45, 0.675, 0.7875, 0.84375: never
 *   x = -1 : h = -0.5, -0.75, -0.875, -0.9375: never */
static void test_lif_by_hand(void) {
    stc_ir_t *ir = stc_ir_create(4, NULL);
    int x = input(ir, 4, 1, 1);
    int l = lif(ir, x, "lif", 2.0f, 1.0f, 0.0f);
    finish(ir, l);
    float img[4] = {1.5f, 2.0f, 0.9f, -1.0f};
    int64_t counts[3] = {-1, -1, -1};
    rec_t *r = rec_new();
    float *lg = run(ir, img, counts, r);
    static const float want_s[4][4] = {{0, 1, 0, 1}, {1, 1, 1, 1}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    static const float want_h0[4] = {0.75f, 1.125f, 0.75f, 1.125f};
    static const float want_h3[4] = {-0.5f, -0.75f, -0.875f, -0.9375f};
    for (int t = 0; t < 4; t++) {
        for (int c = 0; c < 4; c++) CU_ASSERT_EQUAL(r->s[l][t][c], want_s[c][t]);
        CU_ASSERT_EQUAL(r->h[l][t][0], want_h0[t]);
        CU_ASSERT_EQUAL(r->h[l][t][1], 1.0f);
        CU_ASSERT_EQUAL(r->h[l][t][3], want_h3[t]);
    }
    /* x = 0.9: the float recurrence, step by step */
    float v = 0.0f;
    for (int t = 0; t < 4; t++) {
        float h = v + (0.9f - v) / 2.0f;
        CU_ASSERT_EQUAL(r->h[l][t][2], h);
        v = h;
    }
    CU_ASSERT_EQUAL(r->calls, 4);
    CU_ASSERT_EQUAL(lg[0], 0.5f); /* OUTPUT: mean of the spikes over T */
    CU_ASSERT_EQUAL(lg[1], 1.0f);
    CU_ASSERT_EQUAL(lg[2], 0.0f);
    CU_ASSERT_EQUAL(lg[3], 0.0f);
    CU_ASSERT_EQUAL(counts[0], 0);
    CU_ASSERT_EQUAL(counts[1], 2 + 4);
    CU_ASSERT_EQUAL(counts[2], 0);
    free(lg);
    /* a second run starts from v = 0 again */
    lg = run(ir, img, counts, NULL);
    CU_ASSERT_EQUAL(lg[0], 0.5f);
    CU_ASSERT_EQUAL(counts[1], 6);
    free(lg);
    free(r);
    stc_ir_destroy(&ir);
}

/* Hard reset to vreset (not to 0, not by subtraction).
 *   vreset 0.5, x = 1.5: h = 0.75, 1.125 (fire, v = 0.5), 0.5 + 0.5 = 1.0 (tie: fire), 1.0 (fire)
 *   vreset -1,  x = 2.0: h = 1 (fire, v = -1), -1 + 1.5 = 0.5, 0.5 + 0.75 = 1.25 (fire), 0.5 */
static void test_lif_reset(void) {
    stc_ir_t *ir = stc_ir_create(4, NULL);
    int x = input(ir, 1, 1, 1);
    int a = lif(ir, x, "a", 2.0f, 1.0f, 0.5f);
    int b = lif(ir, x, "b", 2.0f, 1.0f, -1.0f);
    int s = op2(ir, STC_OP_ADD, a, b, "sum");
    finish(ir, s);
    rec_t *r = rec_new();
    float img = 1.5f;
    float *lg = run(ir, &img, NULL, r);
    static const float ha[4] = {0.75f, 1.125f, 1.0f, 1.0f}, sa[4] = {0, 1, 1, 1};
    for (int t = 0; t < 4; t++) {
        CU_ASSERT_EQUAL(r->h[a][t][0], ha[t]);
        CU_ASSERT_EQUAL(r->s[a][t][0], sa[t]);
    }
    free(lg);
    img = 2.0f;
    int64_t counts[5];
    lg = run(ir, &img, counts, r);
    static const float hb[4] = {1.0f, 0.5f, 1.25f, 0.5f}, sb[4] = {1, 0, 1, 0};
    for (int t = 0; t < 4; t++) {
        CU_ASSERT_EQUAL(r->h[b][t][0], hb[t]);
        CU_ASSERT_EQUAL(r->s[b][t][0], sb[t]);
    }
    /* a with x = 2: 1 (fire, v = 0.5), 1.25 (fire), 1.25, 1.25: four spikes; b: two */
    CU_ASSERT_EQUAL(counts[a], 4);
    CU_ASSERT_EQUAL(counts[b], 2);
    CU_ASSERT_EQUAL(counts[s], 0);
    CU_ASSERT_EQUAL(lg[0], 1.5f); /* (4 + 2) / 4 */
    free(lg);
    free(r);
    stc_ir_destroy(&ir);
}

/* The attention LIFs fire at 0.5: x = 1.0 gives h = 0.5 (tie) at every step;
 * x = 0.9: 0.45, 0.675 (fire), 0.45, 0.675 (fire); x = 0.5: 0.25, 0.375, 0.4375,
 * 0.46875, never.  tau 4, x = 4: h = 1 at once. */
static void test_lif_attention_threshold(void) {
    stc_ir_t *ir = stc_ir_create(4, NULL);
    int x = input(ir, 3, 1, 1);
    int l = lif(ir, x, "block.0.attn.attn_lif", 2.0f, 0.5f, 0.0f);
    int l4 = lif(ir, x, "slow", 4.0f, 1.0f, 0.0f);
    finish(ir, op2(ir, STC_OP_ADD, l, l4, "sum"));
    rec_t *r = rec_new();
    float img[3] = {1.0f, 0.9f, 0.5f};
    int64_t counts[6];
    float *lg = run(ir, img, counts, r);
    static const float s[3][4] = {{1, 1, 1, 1}, {0, 1, 0, 1}, {0, 0, 0, 0}};
    static const float h2[4] = {0.25f, 0.375f, 0.4375f, 0.46875f};
    for (int t = 0; t < 4; t++) {
        for (int c = 0; c < 3; c++) CU_ASSERT_EQUAL(r->s[l][t][c], s[c][t]);
        CU_ASSERT_EQUAL(r->h[l][t][0], 0.5f);
        CU_ASSERT_EQUAL(r->h[l][t][2], h2[t]);
    }
    CU_ASSERT_EQUAL(counts[l], 6);
    CU_ASSERT_EQUAL(counts[l4], 0); /* 1.0 / 4 = 0.25, 0.4375, ... < 1 */
    CU_ASSERT_EQUAL(lg[0], 1.0f);
    CU_ASSERT_EQUAL(lg[1], 0.5f);
    free(lg);
    img[0] = 4.0f;
    lg = run(ir, img, counts, r);
    CU_ASSERT_EQUAL(r->h[l4][0][0], 1.0f);
    CU_ASSERT_EQUAL(r->s[l4][0][0], 1.0f);
    free(lg);
    free(r);
    stc_ir_destroy(&ir);
}

/* conv2d against the definition, summed in the same order (bias, then c, ky, kx) */
static void check_conv(int ci, int hi, int wi, int co, int k, int stride, int pad, int bias) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = input(ir, ci, hi, wi);
    int cv = stc_ir_add(ir, STC_OP_CONV2D, "conv", 1, &x);
    ir->nodes[cv].k = k;
    ir->nodes[cv].stride = stride;
    ir->nodes[cv].pad = pad;
    int nw = co * ci * k * k, ni = ci * hi * wi;
    float *W = malloc((size_t)nw * sizeof *W), *B = malloc((size_t)co * sizeof *B);
    float *img = malloc((size_t)ni * sizeof *img);
    for (int i = 0; i < nw; i++) W[i] = rndf();
    for (int i = 0; i < co; i++) B[i] = rndf();
    for (int i = 0; i < ni; i++) img[i] = rndf() * 3.0f;
    stc_ir_add_param(ir, cv, "weight", 4, (int64_t[]){co, ci, k, k}, W);
    if (bias) stc_ir_add_param(ir, cv, "bias", 1, (int64_t[]){co}, B);
    settle_ok(ir, cv);
    int ho = (hi + 2 * pad - k) / stride + 1, wo = (wi + 2 * pad - k) / stride + 1;
    CU_ASSERT_EQUAL(ir->nodes[cv].shape.h, ho);
    CU_ASSERT_EQUAL(ir->nodes[cv].shape.w, wo);
    int p = probe(ir, cv);
    finish(ir, p);
    rec_t *r = rec_new();
    free(run(ir, img, NULL, r));
    int bad = 0;
    for (int o = 0; o < co; o++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                float s = bias ? B[o] : 0.0f;
                for (int c = 0; c < ci; c++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                            if (iy < 0 || iy >= hi || ix < 0 || ix >= wi) continue;
                            s += W[((o * ci + c) * k + ky) * k + kx] * img[(c * hi + iy) * wi + ix];
                        }
                float got = r->h[p][0][(o * ho + oy) * wo + ox];
                if (got != s && bad++ < 3)
                    fprintf(stderr, "\n  conv k%d s%d p%d: out[%d,%d,%d] = %.9g, expected %.9g\n", k, stride,
                            pad, o, oy, ox, (double)got, (double)s);
            }
    CU_ASSERT_EQUAL(bad, 0);
    free(W);
    free(B);
    free(img);
    free(r);
    stc_ir_destroy(&ir);
}

static void test_conv(void) {
    rng_state = 1;
    check_conv(2, 5, 4, 3, 3, 2, 1, 1); /* stride 2, pad 1, not square */
    check_conv(2, 5, 5, 3, 3, 1, 1, 0); /* the SPS conv */
    check_conv(3, 3, 4, 2, 2, 1, 1, 1); /* even kernel, pad 1 */
    check_conv(1, 7, 6, 2, 3, 3, 2, 1); /* stride 3, pad 2 */
    check_conv(4, 4, 4, 2, 1, 1, 0, 1); /* 1x1 */
    check_conv(2, 6, 6, 2, 5, 2, 0, 1); /* no padding */
}

/* conv2d and linear fed with spikes (0/1 from a LIF on a 0/2 image): the
 * weights have few mantissa bits, so every order of summation is exact and
 * the result must equal the naive sum whatever loop the interpreter uses. */
static void check_spike_conv(int ci, int hi, int wi, int co, int k, int stride, int pad) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = input(ir, ci, hi, wi);
    int sp = lif(ir, x, "spikes", 2.0f, 1.0f, 0.0f);
    int cv = stc_ir_add(ir, STC_OP_CONV2D, "conv", 1, &sp);
    ir->nodes[cv].k = k;
    ir->nodes[cv].stride = stride;
    ir->nodes[cv].pad = pad;
    int nw = co * ci * k * k, ni = ci * hi * wi;
    float *W = malloc((size_t)nw * sizeof *W), *B = malloc((size_t)co * sizeof *B);
    float *img = malloc((size_t)ni * sizeof *img);
    for (int i = 0; i < nw; i++) W[i] = rndf();
    for (int i = 0; i < co; i++) B[i] = rndf();
    for (int i = 0; i < ni; i++) img[i] = (rnd() & 1) ? 2.0f : 0.0f;
    stc_ir_add_param(ir, cv, "weight", 4, (int64_t[]){co, ci, k, k}, W);
    stc_ir_add_param(ir, cv, "bias", 1, (int64_t[]){co}, B);
    settle_ok(ir, cv);
    int pc = probe(ir, cv);
    /* and a linear layer on the same spikes (no bias): weight rows from W */
    int ln = linear(ir, sp, "fc", co, W, NULL);
    int pl = probe(ir, ln);
    int mc = op1(ir, STC_OP_MEAN, pc, "mean_c"), ml = op1(ir, STC_OP_MEAN, pl, "mean_l");
    finish(ir, op2(ir, STC_OP_ADD, mc, ml, "sum"));
    rec_t *r = rec_new();
    free(run(ir, img, NULL, r));
    int ho = ir->nodes[cv].shape.h, wo = ir->nodes[cv].shape.w, bad = 0;
    for (int o = 0; o < co; o++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                float s = B[o];
                for (int c = 0; c < ci; c++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                            if (iy >= 0 && iy < hi && ix >= 0 && ix < wi && img[(c * hi + iy) * wi + ix] != 0)
                                s += W[((o * ci + c) * k + ky) * k + kx];
                        }
                if (r->h[pc][0][(o * ho + oy) * wo + ox] != s && bad++ < 3)
                    fprintf(stderr, "\n  spike conv k%d s%d p%d: out[%d,%d,%d] = %g, expected %g\n", k, stride,
                            pad, o, oy, ox, (double)r->h[pc][0][(o * ho + oy) * wo + ox], (double)s);
            }
    for (int o = 0; o < co; o++)
        for (int n = 0; n < hi * wi; n++) {
            float s = 0.0f;
            for (int c = 0; c < ci; c++)
                if (img[c * hi * wi + n] != 0) s += W[o * ci + c];
            if (r->h[pl][0][o * hi * wi + n] != s && bad++ < 6)
                fprintf(stderr, "\n  spike linear: out[%d,%d] = %g, expected %g\n", o, n,
                        (double)r->h[pl][0][o * hi * wi + n], (double)s);
        }
    CU_ASSERT_EQUAL(bad, 0);
    free(W);
    free(B);
    free(img);
    free(r);
    stc_ir_destroy(&ir);
}

static void test_conv_spikes(void) {
    rng_state = 5;
    check_spike_conv(2, 5, 4, 3, 3, 2, 1);
    check_spike_conv(3, 4, 4, 4, 3, 1, 1);
    check_spike_conv(2, 7, 6, 2, 3, 3, 2);
    check_spike_conv(3, 3, 4, 2, 2, 1, 1);
    check_spike_conv(4, 2, 3, 3, 1, 1, 0);
}

/* Padding never wins a max: on an all-negative input a zero pad would. */
static void check_pool(int c, int hi, int wi, int k, int stride, int pad) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = input(ir, c, hi, wi);
    int pl = stc_ir_add(ir, STC_OP_MAXPOOL, "pool", 1, &x);
    ir->nodes[pl].k = k;
    ir->nodes[pl].stride = stride;
    ir->nodes[pl].pad = pad;
    settle_ok(ir, pl);
    int p = probe(ir, pl);
    finish(ir, p);
    int ni = c * hi * wi;
    float *img = malloc((size_t)ni * sizeof *img);
    for (int i = 0; i < ni; i++) img[i] = -1.0f - (float)((i * 5) % ni);
    rec_t *r = rec_new();
    free(run(ir, img, NULL, r));
    int ho = ir->nodes[pl].shape.h, wo = ir->nodes[pl].shape.w;
    CU_ASSERT_EQUAL(ho, (hi + 2 * pad - k) / stride + 1);
    for (int cc = 0; cc < c; cc++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                float m = -INFINITY;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                        if (iy >= 0 && iy < hi && ix >= 0 && ix < wi && img[(cc * hi + iy) * wi + ix] > m)
                            m = img[(cc * hi + iy) * wi + ix];
                    }
                float got = r->h[p][0][(cc * ho + oy) * wo + ox];
                CU_ASSERT_EQUAL(got, m);
                CU_ASSERT(got < 0.0f);
            }
    free(img);
    free(r);
    stc_ir_destroy(&ir);
}

static void test_maxpool(void) {
    /* by hand: 4x4 of -1..-16, k3 s2 p1: windows see (0..1,0..1) -> -1, (0..1,1..3) -> -2,
     * (1..3,0..1) -> -5, (1..3,1..3) -> -6 */
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = input(ir, 1, 4, 4);
    int pl = stc_ir_add(ir, STC_OP_MAXPOOL, "pool", 1, &x);
    ir->nodes[pl].k = 3;
    ir->nodes[pl].stride = 2;
    ir->nodes[pl].pad = 1;
    settle_ok(ir, pl);
    int p = probe(ir, pl);
    finish(ir, p);
    float img[16];
    for (int i = 0; i < 16; i++) img[i] = -1.0f - (float)i;
    rec_t *r = rec_new();
    float *lg = run(ir, img, NULL, r);
    CU_ASSERT_EQUAL(r->h[p][0][0], -1.0f);
    CU_ASSERT_EQUAL(r->h[p][0][1], -2.0f);
    CU_ASSERT_EQUAL(r->h[p][0][2], -5.0f);
    CU_ASSERT_EQUAL(r->h[p][0][3], -6.0f);
    CU_ASSERT_EQUAL(lg[0], 0.0f); /* the probe never fires */
    free(lg);
    free(r);
    stc_ir_destroy(&ir);
    check_pool(2, 4, 4, 3, 2, 1);
    check_pool(1, 3, 3, 2, 2, 1);
    check_pool(2, 5, 3, 3, 1, 1);
    check_pool(1, 7, 7, 4, 3, 2);
}

/* q, k, v spikes made from a 0/2 input: linear layers pick channel blocks
 * (identity weights), LIF at tau 2 turns 2 into h = 1 -> spike, 0 -> none. */
static void qkv_graph(stc_ir_t *ir, int C, int H, int W, int *q, int *k, int *v) {
    int x = input(ir, 3 * C, H, W);
    int ids[3];
    float *w = calloc((size_t)C * 3 * C, sizeof *w);
    for (int b = 0; b < 3; b++) {
        memset(w, 0, (size_t)C * 3 * C * sizeof *w);
        for (int c = 0; c < C; c++) w[c * 3 * C + b * C + c] = 1.0f;
        static const char *names[] = {"q", "k", "v"};
        int y = linear(ir, x, names[b], C, w, NULL);
        ids[b] = lif(ir, y, names[b], 2.0f, 1.0f, 0.0f);
    }
    free(w);
    *q = ids[0];
    *k = ids[1];
    *v = ids[2];
}

static void check_ssa(int C, int heads, int H, int W, float scale) {
    int N = H * W, d = C / heads;
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int q, k, v;
    qkv_graph(ir, C, H, W, &q, &k, &v);
    int a = stc_ir_add(ir, STC_OP_SSA, "block.0.attn", 3, (int[]){q, k, v});
    ir->nodes[a].heads = heads;
    ir->nodes[a].scale = scale;
    settle_ok(ir, a);
    int p = probe(ir, a);
    finish(ir, p);
    float *img = malloc((size_t)3 * C * N * sizeof *img);
    for (int i = 0; i < 3 * C * N; i++) img[i] = (rnd() & 1) ? 2.0f : 0.0f;
    const float *Q = img, *K = img + C * N, *V = img + 2 * C * N; /* 2 where a spike */
    rec_t *r = rec_new();
    int64_t counts[16];
    free(run(ir, img, counts, r));
    int64_t nspikes = 0;
    for (int i = 0; i < 3 * C * N; i++) nspikes += img[i] != 0.0f;
    CU_ASSERT_EQUAL(counts[q] + counts[k] + counts[v], nspikes);
    /* naive: per head, attn[n][m] = sum_j q[j,n] k[j,m]; out[l,n] = scale * sum_m attn[n][m] v[l,m] */
    int bad = 0;
    for (int hd = 0; hd < heads; hd++)
        for (int n = 0; n < N; n++) {
            float out[64] = {0};
            for (int m = 0; m < N; m++) {
                int attn = 0;
                for (int j = 0; j < d; j++)
                    attn += (Q[(hd * d + j) * N + n] != 0) * (K[(hd * d + j) * N + m] != 0);
                for (int l = 0; l < d; l++) out[l] += (float)(attn * (V[(hd * d + l) * N + m] != 0));
            }
            for (int l = 0; l < d; l++) {
                float want = out[l] * scale, got = r->h[p][0][(hd * d + l) * N + n];
                if (got != want && bad++ < 3)
                    fprintf(stderr, "\n  ssa head %d out[%d,%d] = %g, expected %g\n", hd, l, n, (double)got,
                            (double)want);
            }
        }
    CU_ASSERT_EQUAL(bad, 0);
    free(img);
    free(r);
    stc_ir_destroy(&ir);
}

static void test_ssa(void) {
    rng_state = 7;
    for (int trial = 0; trial < 4; trial++) check_ssa(4, 2, 3, 2, 0.125f);
    check_ssa(8, 2, 4, 4, 0.125f);
    check_ssa(6, 3, 2, 5, 0.25f);
    check_ssa(4, 1, 1, 1, 0.125f);
    check_ssa(8, 8, 3, 3, 0.5f); /* d = 1 */
}

/* SDT: kv[c] = sum_n k[c,n] v[c,n]; lif at 0.5 fires where the sum is >= 1;
 * mask = q * kv broadcast over the tokens. */
static void test_sdsa_mul(void) {
    enum { C = 4, H = 3, W = 2, N = H * W };
    rng_state = 11;
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int q, k, v;
    qkv_graph(ir, C, H, W, &q, &k, &v);
    int s = op2(ir, STC_OP_SDSA, k, v, "block.0.attn.sdsa");
    CU_ASSERT_EQUAL(ir->nodes[s].shape.h * ir->nodes[s].shape.w, 1);
    int kv = stc_ir_add(ir, STC_OP_LIF, "block.0.attn.talking_heads_lif", 1, &s);
    ir->nodes[kv].tau = 1.0f; /* so that h is the column sum itself */
    ir->nodes[kv].vth = 0.5f;
    settle_ok(ir, kv);
    int m = op2(ir, STC_OP_MUL, q, kv, "block.0.attn.mask");
    int p = probe(ir, m);
    finish(ir, p);
    float img[3 * C * N];
    for (int i = 0; i < 3 * C * N; i++) img[i] = (rnd() % 3) ? 2.0f : 0.0f;
    for (int n = 0; n < N; n++) img[(C + 0) * N + n] = 0.0f; /* channel 0: k silent, sum 0 */
    const float *Q = img, *K = img + C * N, *V = img + 2 * C * N;
    rec_t *r = rec_new();
    free(run(ir, img, NULL, r));
    for (int c = 0; c < C; c++) {
        int sum = 0;
        for (int n = 0; n < N; n++) sum += (K[c * N + n] != 0) && (V[c * N + n] != 0);
        CU_ASSERT_EQUAL(r->h[kv][0][c], (float)sum);
        CU_ASSERT_EQUAL(r->s[kv][0][c], sum >= 1 ? 1.0f : 0.0f);
        for (int n = 0; n < N; n++) {
            float want = (Q[c * N + n] != 0 && sum >= 1) ? 1.0f : 0.0f;
            CU_ASSERT_EQUAL(r->h[p][0][c * N + n], want);
        }
    }
    CU_ASSERT_EQUAL(r->h[kv][0][0], 0.0f);
    free(r);
    stc_ir_destroy(&ir);

    /* mul without broadcast: element by element (real x real) */
    ir = stc_ir_create(1, NULL);
    int x = input(ir, 2, 1, 3);
    int sq = op2(ir, STC_OP_MUL, x, x, "square");
    p = probe(ir, sq);
    finish(ir, p);
    float im2[6] = {1.5f, -2.0f, 0.5f, 3.0f, -0.25f, 0.0f};
    r = rec_new();
    free(run(ir, im2, NULL, r));
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(r->h[p][0][i], im2[i] * im2[i]);
    free(r);
    stc_ir_destroy(&ir);
}

/* MEAN over positions, sequential float sum divided by the count; OUTPUT over T */
static void test_mean_output(void) {
    stc_ir_t *ir = stc_ir_create(3, NULL);
    int x = input(ir, 2, 2, 3);
    int mn = op1(ir, STC_OP_MEAN, x, "token_mean");
    CU_ASSERT_EQUAL(ir->nodes[mn].shape.c, 2);
    CU_ASSERT_EQUAL(ir->nodes[mn].shape.h, 1);
    int p = probe(ir, mn);
    finish(ir, p);
    float img[12] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, -1.0f, 2.0f, -3.0f, 4.0f, -5.0f, 6.0f};
    rec_t *r = rec_new();
    float *lg = run(ir, img, NULL, r);
    for (int c = 0; c < 2; c++) {
        float s = 0.0f;
        for (int i = 0; i < 6; i++) s += img[c * 6 + i];
        CU_ASSERT_EQUAL(r->h[p][0][c], s / 6.0f);
    }
    CU_ASSERT_EQUAL(r->h[p][0][1], 0.5f);
    free(lg);
    free(r);
    stc_ir_destroy(&ir);

    /* OUTPUT: logits = (sum over t of x_t) / T with a LIF whose spikes vary over
     * time: x = 1.5 fires at t = 1, 3 of T = 3 -> 1/3; the mean of spikes [1 of 2
     * positions] -> 0.5 each time */
    ir = stc_ir_create(3, NULL);
    x = input(ir, 1, 1, 2);
    int l = lif(ir, x, "lif", 2.0f, 1.0f, 0.0f);
    finish(ir, l);
    float im2[2] = {1.5f, 2.0f};
    int64_t counts[4];
    lg = run(ir, im2, counts, NULL);
    /* position 0: spikes at t = 1 (one of 3); position 1: every step: mean per t = 0.5, 1, 0.5 */
    CU_ASSERT_EQUAL(lg[0], (0.5f + 1.0f + 0.5f) / 3.0f);
    CU_ASSERT_EQUAL(counts[l], 1 + 3);
    free(lg);
    stc_ir_destroy(&ir);
}

/* BatchNorm: y = x * a + b with a = w / sqrt(var + eps) (in double, then float)
 * and b = bias - mean * a, the order of ATen's inference kernel. */
static void test_batchnorm(void) {
    enum { C = 3, HW = 4 };
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = input(ir, C, 2, 2);
    int bn = stc_ir_add(ir, STC_OP_BATCHNORM, "patch_embed.proj_bn", 1, &x);
    float w[C] = {1.5f, -0.7f, 0.3f}, b[C] = {0.1f, 0.25f, -2.0f}, mu[C] = {0.5f, -1.25f, 3.0f},
          var[C] = {2.0f, 0.01f, 7.5f};
    stc_ir_add_param(ir, bn, "weight", 1, (int64_t[]){C}, w);
    stc_ir_add_param(ir, bn, "bias", 1, (int64_t[]){C}, b);
    stc_ir_add_param(ir, bn, "running_mean", 1, (int64_t[]){C}, mu);
    stc_ir_add_param(ir, bn, "running_var", 1, (int64_t[]){C}, var);
    ir->nodes[bn].eps = 1e-3f;
    settle_ok(ir, bn);
    int p = probe(ir, bn);
    finish(ir, p);
    float img[C * HW] = {0.0f, 1.0f, -1.0f, 0.3f, 5.0f, -1.25f, 0.7f, 2.0f, 3.0f, -3.0f, 0.01f, 100.0f};
    rec_t *r = rec_new();
    free(run(ir, img, NULL, r));
    for (int c = 0; c < C; c++) {
        float a = (float)((double)w[c] / sqrt((double)var[c] + (double)1e-3f));
        float bb = b[c] - mu[c] * a;
        for (int i = 0; i < HW; i++) {
            float xi = img[c * HW + i], got = r->h[p][0][c * HW + i];
            CU_ASSERT_EQUAL(got, xi * a + bb);
            double textbook = ((double)xi - mu[c]) / sqrt((double)var[c] + 1e-3) * w[c] + b[c];
            CU_ASSERT(fabs(got - textbook) <= 1e-5 * (1 + fabs(textbook)));
        }
    }
    /* x = mean gives the bias: channel 1, position 1 */
    CU_ASSERT(fabs(r->h[p][0][1 * HW + 1] - 0.25f) < 1e-6);
    free(r);
    stc_ir_destroy(&ir);
}

/* linear at every position, and a residual add */
static void test_linear_add(void) {
    enum { CI = 3, CO = 2, N = 4 };
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = input(ir, CI, 2, 2);
    float w[CO * CI] = {0.5f, -1.0f, 2.0f, 0.25f, 0.125f, -0.75f}, b[CO] = {1.0f, -0.5f};
    int l = linear(ir, x, "fc", CO, w, b);
    int l2 = linear(ir, x, "fc_nobias", CO, w, NULL);
    int s = op2(ir, STC_OP_ADD, l, l2, "res");
    int pl = probe(ir, l), ps = probe(ir, s);
    int s2 = op2(ir, STC_OP_ADD, pl, ps, "spikes");
    finish(ir, s2);
    float img[CI * N] = {1, 2, 3, 4, -1, -2, -3, -4, 0.5f, 0.25f, 0.125f, 8};
    rec_t *r = rec_new();
    free(run(ir, img, NULL, r));
    for (int o = 0; o < CO; o++)
        for (int n = 0; n < N; n++) {
            float y = b[o], y2 = 0.0f;
            for (int c = 0; c < CI; c++) {
                y += w[o * CI + c] * img[c * N + n];
                y2 += w[o * CI + c] * img[c * N + n];
            }
            CU_ASSERT_EQUAL(r->h[pl][0][o * N + n], y);
            CU_ASSERT_EQUAL(r->h[ps][0][o * N + n], y + y2);
        }
    free(r);
    stc_ir_destroy(&ir);
}

/* a linear layer of graded, mostly zero inputs (the residual stream) and 11
 * outputs, not a multiple of a vector's width: the same floats as the naive
 * sum over c in order, every zero term included */
static void test_linear_graded_sparse(void) {
    enum { CI = 7, CO = 11, N = 5 };
    rng_state = 11;
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = input(ir, CI, 1, N);
    float w[CO * CI], b[CO], img[CI * N];
    for (int i = 0; i < CO * CI; i++) w[i] = rndf() / 3.0f; /* every mantissa bit: the order of the sum matters */
    for (int o = 0; o < CO; o++) b[o] = rndf();
    for (int i = 0; i < CI * N; i++) img[i] = rnd() % 3 ? 0.0f : (float)(1 + rnd() % 3); /* counts 1..3, or 0 */
    int l = linear(ir, x, "fc", CO, w, b);
    int pl = probe(ir, l);
    finish(ir, pl);
    rec_t *r = rec_new(), *r2 = rec_new();
    free(run(ir, img, NULL, r));
    setenv("STC_INTERP_NOSIMD", "1", 1); /* the baseline kernels too (the AVX2 ones where the CPU has them) */
    free(run(ir, img, NULL, r2));
    unsetenv("STC_INTERP_NOSIMD");
    CU_ASSERT(!memcmp(r->h[pl][0], r2->h[pl][0], sizeof(float) * CO * N));
    free(r2);
    int zeros = 0;
    for (int i = 0; i < CI * N; i++) zeros += img[i] == 0.0f;
    CU_ASSERT(zeros > CI * N / 3); /* the case is sparse */
    for (int o = 0; o < CO; o++)
        for (int n = 0; n < N; n++) {
            float y = b[o];
            for (int c = 0; c < CI; c++) y += w[o * CI + c] * img[c * N + n];
            CU_ASSERT_EQUAL(r->h[pl][0][o * N + n], y);
        }
    free(r);
    stc_ir_destroy(&ir);
}

/* spike_counts: total spikes per LIF node over all timesteps, 0 elsewhere */
static void test_spike_counts(void) {
    rng_state = 3;
    stc_ir_t *ir = stc_ir_create(4, NULL);
    int x = input(ir, 2, 4, 4);
    int cv = stc_ir_add(ir, STC_OP_CONV2D, "conv", 1, &x);
    ir->nodes[cv].k = 3;
    ir->nodes[cv].pad = 1;
    float W[3 * 2 * 9];
    for (int i = 0; i < 54; i++) W[i] = rndf();
    stc_ir_add_param(ir, cv, "weight", 4, (int64_t[]){3, 2, 3, 3}, W);
    settle_ok(ir, cv);
    int l1 = lif(ir, cv, "lif1", 2.0f, 1.0f, 0.0f);
    int pl = stc_ir_add(ir, STC_OP_MAXPOOL, "pool", 1, &l1);
    ir->nodes[pl].k = 3;
    ir->nodes[pl].stride = 2;
    ir->nodes[pl].pad = 1;
    settle_ok(ir, pl);
    float w2[4 * 3];
    for (int i = 0; i < 12; i++) w2[i] = 1.0f + rndf();
    int ln = linear(ir, pl, "fc", 4, w2, NULL);
    int l2 = lif(ir, ln, "lif2", 2.0f, 0.5f, 0.0f);
    int mn = op1(ir, STC_OP_MEAN, l2, "mean");
    int l3 = lif(ir, mn, "lif3", 2.0f, 0.25f, 0.0f);
    finish(ir, l3);
    float img[32];
    for (int i = 0; i < 32; i++) img[i] = 2.0f * rndf();
    int64_t counts[16];
    memset(counts, 0xff, sizeof counts);
    rec_t *r = rec_new();
    float *lg = run(ir, img, counts, r);
    int lifs[3] = {l1, l2, l3};
    int64_t total = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        int is_lif = ir->nodes[i].op == STC_OP_LIF;
        int64_t want = 0;
        for (int t = 0; is_lif && t < 4; t++)
            for (int64_t j = 0; j < r->m[i]; j++) want += r->s[i][t][j] != 0.0f;
        CU_ASSERT_EQUAL(counts[i], want);
        total += want;
    }
    CU_ASSERT(total > 0);
    CU_ASSERT_EQUAL(r->calls, 3 * 4);
    for (int j = 0; j < 3; j++) CU_ASSERT(r->m[lifs[j]] > 0);
    /* logits: mean over T of lif3's spikes */
    for (int c = 0; c < 4; c++) {
        float s = 0;
        for (int t = 0; t < 4; t++) s += r->s[l3][t][c];
        CU_ASSERT_EQUAL(lg[c], s / 4.0f);
    }
    free(lg);
    free(r);
    stc_ir_destroy(&ir);
}

/* The trace sees h before fire/reset and may overwrite the spikes; the reset,
 * the counts and the downstream nodes follow the overwritten spikes.
 *   channel 0, x = 1.5, forced spike at t = 0 (h = 0.75): reset to 0, so t = 1
 *     charges 0.75 again (not 1.125): no spike; t = 2: 1.125, fires; t = 3: 0.75
 *   channel 1, x = 1.5, spike at t = 1 suppressed: v keeps 1.125, so t = 2
 *     charges 1.125 + 0.1875 = 1.3125 and fires; t = 3: 0.75 */
static void test_teacher_forcing(void) {
    stc_ir_t *ir = stc_ir_create(4, NULL);
    int x = input(ir, 2, 1, 1);
    int l1 = lif(ir, x, "lif1", 2.0f, 1.0f, 0.0f);
    int l2 = lif(ir, l1, "lif2", 1.0f, 0.5f, 0.0f); /* copies its input spikes */
    finish(ir, l2);
    rec_t *r = rec_new();
    memset(r->force, 0xff, sizeof r->force); /* -1: leave alone */
    r->force_node = l1;
    r->force[0][0] = 1;
    r->force[1][1] = 0;
    float img[2] = {1.5f, 1.5f};
    int64_t counts[4];
    float *lg = run(ir, img, counts, r);
    static const float h0[4] = {0.75f, 0.75f, 1.125f, 0.75f}, s0[4] = {1, 0, 1, 0};
    static const float h1[4] = {0.75f, 1.125f, 1.3125f, 0.75f}, s1[4] = {0, 0, 1, 0};
    for (int t = 0; t < 4; t++) {
        CU_ASSERT_EQUAL(r->h[l1][t][0], h0[t]);
        CU_ASSERT_EQUAL(r->s[l1][t][0], s0[t]);
        CU_ASSERT_EQUAL(r->h[l1][t][1], h1[t]);
        CU_ASSERT_EQUAL(r->s[l1][t][1], s1[t]);
        CU_ASSERT_EQUAL(r->s[l2][t][0], s0[t]); /* downstream saw the forced spikes */
        CU_ASSERT_EQUAL(r->s[l2][t][1], s1[t]);
    }
    CU_ASSERT_EQUAL(counts[l1], 3);
    CU_ASSERT_EQUAL(counts[l2], 3);
    CU_ASSERT_EQUAL(lg[0], 0.5f);
    CU_ASSERT_EQUAL(lg[1], 0.25f);
    free(lg);
    free(r);
    stc_ir_destroy(&ir);
}

/* Only verified graphs run. */
static void test_refuses_bad_graph(void) {
    stc_ir_t *ir = stc_ir_create(4, NULL);
    int x = input(ir, 2, 1, 1);
    int l = lif(ir, x, "lif", 2.0f, 1.0f, 0.0f);
    finish(ir, l);
    ir->nodes[l].tau = 0.5f;
    stc_err_t err = {0};
    stc_interp_t *ip = stc_interp_create(ir, &err);
    CU_ASSERT_PTR_NULL(ip);
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %1 'lif' (lif): tau=0.5");
    stc_ir_destroy(&ir);
}

void stc_suite_interp(void) {
    static const stc_test_t tests[] = {
        {"example: create, run, destroy", test_example},
        {"lif: tau 2, vth 1, by hand; ties fire", test_lif_by_hand},
        {"lif: hard reset to vreset", test_lif_reset},
        {"lif: attention threshold 0.5, tau 4", test_lif_attention_threshold},
        {"conv2d: stride/pad vs naive", test_conv},
        {"conv2d/linear on spikes vs naive", test_conv_spikes},
        {"maxpool: padding never wins", test_maxpool},
        {"ssa vs naive triple loop", test_ssa},
        {"sdsa column sum, mul broadcast", test_sdsa_mul},
        {"mean; output averages over T", test_mean_output},
        {"batchnorm formula", test_batchnorm},
        {"linear and add", test_linear_add},
        {"linear of sparse graded inputs vs naive", test_linear_graded_sparse},
        {"spike_counts per node", test_spike_counts},
        {"trace: teacher forcing", test_teacher_forcing},
        {"refuses an unverified graph", test_refuses_bad_graph},
        {NULL, NULL},
    };
    stc_add_suite("interp", tests);
}
