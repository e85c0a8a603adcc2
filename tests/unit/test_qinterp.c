/* test_qinterp.c - suite "qinterp": the integer interpreter (compiler/ir/qinterp.c).
 *
 * Tiny quantized graphs whose every integer is worked out by hand from
 * docs/backend.md section 1 (the arithmetic is in the comments): a conv ->
 * lif spike train, an aligned add, graded shifts and clamps read by a
 * max-pool, SSA and SDSA counts, mean -> linear -> output logits; every value
 * is observed through the trace callback.  Then the three test models
 * (tests/data/models, written by PyTorch), quantized at 8 bits and calibrated
 * on their inputs: the integer interpreter picks the float interpreter's
 * class on most inputs, and runs deterministically, the same integers with
 * its AVX2 kernels and its baseline ones.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_input.h"
#include "stc_model.h"
#include "stc_pass.h"
#include "test_util.h"

#define MODELS STC_TEST_DATA_DIR "/models/"

/* ------------------------------------------------------------- recorder */

#define REC_NODES 16
#define REC_T 4
#define REC_N 8

typedef struct {
    int calls;
    int64_t q[REC_NODES][REC_T][REC_N];
} rec_t;

static void rec_fn(void *ud, const stc_node_t *n, int t, const int64_t *q) {
    rec_t *r = ud;
    r->calls++;
    int64_t m = (int64_t)n->shape.c * n->shape.h * n->shape.w;
    if (n->id >= REC_NODES || t >= REC_T || m > REC_N) return;
    memcpy(r->q[n->id][t], q, (size_t)m * sizeof(int64_t));
}

/* -------------------------------------------------------------- helpers */

static stc_ir_t *quantized(const char *text, const float *calib, int n, int wb, int pb) {
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_parse(text, strlen(text), "q.stcir", &err);
    if (!ir) fprintf(stderr, "\n  parse: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_pass_opts_t o = {0};
    o.weight_bits = wb;
    o.payload_bits = pb;
    o.calib = calib;
    o.n_calib = n;
    stc_status_t st = stc_pass_pipeline(ir, "quantize", &o, &err);
    if (st) fprintf(stderr, "\n  quantize: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    return ir;
}

/* Run once; logits into out (OUTPUT numel), spike counts and ops if not NULL. */
static void qrun(const stc_ir_t *ir, const float *image, float *logits, int64_t *counts, rec_t *r,
                 int64_t *acs, int64_t *macs) {
    stc_err_t err = {0};
    stc_qinterp_t *ip = stc_qinterp_create(ir, &err);
    if (!ip) fprintf(stderr, "\n  qinterp_create: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    stc_status_t st = stc_qinterp_run(ip, image, logits, counts, r ? rec_fn : NULL, r, &err);
    if (st) fprintf(stderr, "\n  qinterp_run: %s\n", err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
    stc_qinterp_ops(ip, acs, macs);
    stc_qinterp_destroy(&ip);
    CU_ASSERT_PTR_NULL(ip);
}

/* ---------------------------------------------------------- hand graphs */

static const char *g_conv_lif =
    "stc-ir 1\ngraph T=4\n"
    "%0 = input [1,1,2] real\n"
    "%1 = conv2d %0 [2,1,2] real name=\"c\" k=1 stride=1 pad=0\n"
    "  weight [2,1,1,1] = 0.8 -0.3\n"
    "  bias [2] = 0.05 0.2\n"
    "%2 = lif %1 [2,1,2] spike name=\"l\" tau=2 vth=1 vreset=0\n"
    "%3 = mean %2 [2,1,1] real\n"
    "%4 = output %3 [2,1,1] real\n";

/* Quantized as test_quant.c works out: x_q = {round(1.5 * 64) = 96, round(-44.8) = -45}; w_q = {102, -38};
 * bias_q = {410, 1638}; so the conv gives, every timestep,
 *   o0: 410 + 102 * 96 = 10202,   410 + 102 * -45 = -4180
 *   o1: 1638 - 38 * 96 = -2010,   1638 - 38 * -45 = 3348.
 * LIF (qshl 8, qdk 2048, qvth 2097152), neuron (o0, p0): X = 10202 << 8 = 2611712,
 *   t0: h = 0 + (2611712 * 2048 >> 12) = 1305856            no spike
 *   t1: h = 1305856 + (1305856 * 2048 >> 12) = 1958784      no spike
 *   t2: h = 1958784 + (652928 * 2048 >> 12) = 2285248       spike, v = 0
 *   t3: h = 1305856                                        no spike
 * (the float neuron: 0.625, 0.9375, 1.09375 fires, 0.625).  (o1, p1): X = 857088, h climbs 428544,
 * 642816, 749952, 803520, never 2097152.  The others are negative.  The mean's step is 1/2, so
 * logit 0 = 1 * 0.5 / 4 = 0.125 and logit 1 = 0. */
static void test_conv_lif(void) {
    static const float x[2] = {1.5f, -0.7f};
    stc_ir_t *ir = quantized(g_conv_lif, x, 1, 8, 16);
    rec_t *r = calloc(1, sizeof *r);
    float logits[2];
    int64_t counts[5], acs[5], macs[5];
    qrun(ir, x, logits, counts, r, acs, macs);
    CU_ASSERT_EQUAL(r->calls, 5 * 4);
    static const int64_t conv[4] = {10202, -4180, -2010, 3348};
    static const int spikes[4][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 0, 0, 0}};
    for (int t = 0; t < 4; t++) {
        CU_ASSERT_EQUAL(r->q[0][t][0], 96);
        CU_ASSERT_EQUAL(r->q[0][t][1], -45);
        for (int i = 0; i < 4; i++) {
            CU_ASSERT_EQUAL(r->q[1][t][i], conv[i]);
            CU_ASSERT_EQUAL(r->q[2][t][i], spikes[t][i]);
        }
        CU_ASSERT_EQUAL(r->q[3][t][0], spikes[t][0]); /* mean: the sum over positions */
        CU_ASSERT_EQUAL(r->q[4][t][0], spikes[t][0]); /* output: the q of its input */
    }
    CU_ASSERT_EQUAL(logits[0], 0.125f);
    CU_ASSERT_EQUAL(logits[1], 0.0f);
    CU_ASSERT_EQUAL(counts[2], 1);
    CU_ASSERT_EQUAL(counts[1], 0); /* LIF nodes only */
    CU_ASSERT_EQUAL(counts[3], 0);
    /* the conv reads real values: 2 non-zero inputs x 2 outputs, 4 timesteps */
    CU_ASSERT_EQUAL(macs[1], 16);
    CU_ASSERT_EQUAL(acs[1], 0);
    free(r);
    stc_ir_destroy(&ir);
}

/* test_quant.c's add: s = lif(x) fires {1, 0} every step (tau 1: h = X); the conv of s gives {64, 0};
 * add: (1 << 7) + 64 = 192, rsr(192, 5) = (192 + 16) >> 5 = 6 at 4-bit payload.  mean 6, step 1/8:
 * logit = 4 * 6 * 0.125 / 4 = 0.75, the float value (1 + 0.5) / 2. */
static const char *g_add =
    "stc-ir 1\ngraph T=4\n"
    "%0 = input [1,1,2] real\n"
    "%1 = lif %0 [1,1,2] spike name=\"s\" tau=1 vth=0.5 vreset=0\n"
    "%2 = conv2d %1 [1,1,2] real name=\"c\" k=1 stride=1 pad=0\n"
    "  weight [1,1,1,1] = 0.5\n"
    "%3 = add %1, %2 [1,1,2] real name=\"a\"\n"
    "%4 = mean %3 [1,1,1] real\n"
    "%5 = output %4 [1,1,1] real\n";

static void test_add(void) {
    static const float x[2] = {1.5f, -0.7f};
    stc_ir_t *ir = quantized(g_add, x, 1, 8, 4);
    rec_t *r = calloc(1, sizeof *r);
    float logit;
    int64_t acs[6], macs[6];
    qrun(ir, x, &logit, NULL, r, acs, macs);
    for (int t = 0; t < 4; t++) {
        CU_ASSERT_EQUAL(r->q[1][t][0], 1);
        CU_ASSERT_EQUAL(r->q[1][t][1], 0);
        CU_ASSERT_EQUAL(r->q[2][t][0], 64);
        CU_ASSERT_EQUAL(r->q[2][t][1], 0);
        CU_ASSERT_EQUAL(r->q[3][t][0], 6);
        CU_ASSERT_EQUAL(r->q[3][t][1], 0);
    }
    CU_ASSERT_EQUAL(logit, 0.75f);
    CU_ASSERT_EQUAL(acs[2], 4); /* one spike x one output per timestep */
    CU_ASSERT_EQUAL(macs[2], 0);
    free(r);
    stc_ir_destroy(&ir);
}

/* test_quant.c's graded conv (input qexp 7, w_q 96, qrsh 6, 8-bit payload), read by a 3x3 max-pool
 * with padding.  Image {1.5, -0.3, -0.9, -2}: x_q = {127 (192 clamped), round(-38.4) = -38,
 * round(-115.2) = -115, -127 (clamped)}; acc = 96 x_q = {12192, -3648, -11040, -12192};
 * rsr by 6: (12192 + 32) >> 6 = 191 -> 127; (-3648 + 32) >> 6 = floor(-56.5) = -57;
 * (-11040 + 32) >> 6 = -172 -> -127; -190 -> -127.  The pool: 127.
 * Image {-0.3, -0.9, -2, -1}: q = {-57, -127, -127, -127}; the pool gives -57, never the padding's 0.
 * logit = 4 * -57 * 2^-8 / 4. */
static const char *g_graded =
    "stc-ir 1\ngraph T=4\n"
    "%0 = input [1,2,2] real\n"
    "%1 = conv2d %0 [1,2,2] real name=\"g\" k=1 stride=1 pad=0\n"
    "  weight [1,1,1,1] = 0.75\n"
    "%2 = maxpool %1 [1,1,1] real name=\"p\" k=3 stride=2 pad=1\n"
    "%3 = output %2 [1,1,1] real\n";

static void test_graded_clamp_maxpool(void) {
    static const float cal[4] = {0.5f, 0.25f, -0.125f, 0.0f};
    static const float b[4] = {1.5f, -0.3f, -0.9f, -2.0f}, c[4] = {-0.3f, -0.9f, -2.0f, -1.0f};
    stc_ir_t *ir = quantized(g_graded, cal, 1, 8, 8);
    rec_t *r = calloc(1, sizeof *r);
    float logit;
    qrun(ir, b, &logit, NULL, r, NULL, NULL);
    static const int64_t xb[4] = {127, -38, -115, -127}, qb[4] = {127, -57, -127, -127};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(r->q[0][3][i], xb[i]);
        CU_ASSERT_EQUAL(r->q[1][3][i], qb[i]);
    }
    CU_ASSERT_EQUAL(r->q[2][3][0], 127);
    CU_ASSERT_EQUAL(logit, 127.0f / 256);
    qrun(ir, c, &logit, NULL, r, NULL, NULL);
    static const int64_t qc[4] = {-57, -127, -127, -127};
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(r->q[1][t][i], qc[i]);
        CU_ASSERT_EQUAL(r->q[2][t][0], -57);
    }
    CU_ASSERT_EQUAL(logit, -57.0f / 256);
    free(r);
    stc_ir_destroy(&ir);
}

/* Spikformer SSA on q, k, v made by selection matrices from s = lif(x) (tau 1, vth 0.5: s = x >= 0.5):
 * s0 = {1,0,1}, s1 = {1,1,0}; q = s (identity), k = (s1, s0) (swap), v = (s0 | s1, s1) = ({1,1,1}, {1,1,0}).
 * heads 1 (d = 2): kv[j][l] = k_j . v_l: kv00 = 2, kv01 = 2, kv10 = 2, kv11 = 1;
 * I[l,n] = sum_j q[j,n] kv[j][l]: n0 (q 1,1): 4, 3; n1 (q 0,1): 2, 1; n2 (q 1,0): 2, 2.
 * Accumulates per timestep: k.v pairs 2*2 + 1*2 + 1*1 = 7, plus d per q spike 2*4 = 8: 15.
 * heads 2 (d = 1): I0 = q0 * (k0 . v0) = {2,0,2}; I1 = q1 * (k1 . v1) = {1,1,0}. */
static const char *g_ssa_fmt =
    "stc-ir 1\ngraph T=4\n"
    "%%0 = input [2,1,3] real\n"
    "%%1 = lif %%0 [2,1,3] spike name=\"s\" tau=1 vth=0.5 vreset=0\n"
    "%%2 = linear %%1 [2,1,3] real name=\"qw\"\n  weight [2,2] = 1 0 0 1\n"
    "%%3 = lif %%2 [2,1,3] spike name=\"q\" tau=1 vth=0.5 vreset=0\n"
    "%%4 = linear %%1 [2,1,3] real name=\"kw\"\n  weight [2,2] = 0 1 1 0\n"
    "%%5 = lif %%4 [2,1,3] spike name=\"k\" tau=1 vth=0.5 vreset=0\n"
    "%%6 = linear %%1 [2,1,3] real name=\"vw\"\n  weight [2,2] = 1 1 0 1\n"
    "%%7 = lif %%6 [2,1,3] spike name=\"v\" tau=1 vth=0.5 vreset=0\n"
    "%%8 = ssa %%3, %%5, %%7 [2,1,3] real name=\"attn\" heads=%d scale=0.125\n"
    "%%9 = sdsa %%5, %%7 [2,1,1] real name=\"sdsa\"\n"
    "%%10 = lif %%9 [2,1,1] spike name=\"th\" tau=2 vth=0.75 vreset=0\n"
    "%%11 = mul %%1, %%10 [2,1,3] spike name=\"mask\"\n"
    "%%12 = add %%8, %%11 [2,1,3] real name=\"sum\"\n"
    "%%13 = mean %%12 [2,1,1] real\n"
    "%%14 = output %%13 [2,1,1] real\n";
static const float img_ssa[6] = {1, 0, 1, 1, 1, 0};

static void test_ssa(void) {
    char g[2048];
    static const int64_t I1[6] = {4, 2, 2, 3, 1, 2}, I2[6] = {2, 0, 2, 1, 1, 0};
    for (int heads = 1; heads <= 2; heads++) {
        snprintf(g, sizeof g, g_ssa_fmt, heads);
        stc_ir_t *ir = quantized(g, img_ssa, 1, 8, 16);
        CU_ASSERT_EQUAL(ir->nodes[8].qmul, 1);
        CU_ASSERT_EQUAL(ir->nodes[8].qstep, 0.125);
        rec_t *r = calloc(1, sizeof *r);
        float logits[2];
        int64_t acs[15];
        qrun(ir, img_ssa, logits, NULL, r, acs, NULL);
        const int64_t *want = heads == 1 ? I1 : I2;
        for (int t = 0; t < 4; t++)
            for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(r->q[8][t][i], want[i]);
        if (heads == 1) CU_ASSERT_EQUAL(acs[8], 4 * 15);
        free(r);
        stc_ir_destroy(&ir);
    }
}

/* SDSA on the same k and v: q[c] = k_c . v_c = {2, 1} (a count, step 1).  The LIF th (tau 2, vth 0.75):
 * calibrated max 2, qshl 12, qvth = round(0.75 * 4096) = 3072; c0: X = 8192, h = 4096 >= 3072 fires every
 * step; c1: X = 4096, h = 2048 (t0), 2048 + (2048 * 2048 >> 12) = 3072 fires (t1), 2048 (t2), fires (t3)
 * (the float neuron: 0.5, 0.75, 0.5, 0.75).  mul masks s by th: c0 = s0 always, c1 = s1 at t1, t3.
 * The add sums the ssa (step 1/8) and the mask (step 1): qsh = {0, 3}. */
static void test_sdsa_mul(void) {
    char g[2048];
    snprintf(g, sizeof g, g_ssa_fmt, 1);
    stc_ir_t *ir = quantized(g, img_ssa, 1, 8, 16);
    CU_ASSERT_EQUAL(ir->nodes[10].qshl, 12);
    CU_ASSERT_EQUAL(ir->nodes[10].qvth, 3072);
    CU_ASSERT_EQUAL(ir->nodes[12].qsh[0], 0);
    CU_ASSERT_EQUAL(ir->nodes[12].qsh[1], 3);
    rec_t *r = calloc(1, sizeof *r);
    float logits[2];
    int64_t counts[15];
    qrun(ir, img_ssa, logits, counts, r, NULL, NULL);
    static const int64_t I1[6] = {4, 2, 2, 3, 1, 2};
    int64_t msum[2] = {0, 0};
    for (int t = 0; t < 4; t++) {
        CU_ASSERT_EQUAL(r->q[9][t][0], 2);
        CU_ASSERT_EQUAL(r->q[9][t][1], 1);
        CU_ASSERT_EQUAL(r->q[10][t][0], 1);
        CU_ASSERT_EQUAL(r->q[10][t][1], t % 2);
        int64_t m0[3] = {1, 0, 1}, m1[3] = {t % 2, t % 2, 0};
        for (int i = 0; i < 3; i++) {
            CU_ASSERT_EQUAL(r->q[11][t][i], m0[i]);
            CU_ASSERT_EQUAL(r->q[11][t][3 + i], m1[i]);
            CU_ASSERT_EQUAL(r->q[12][t][i], I1[i] + (m0[i] << 3));
            CU_ASSERT_EQUAL(r->q[12][t][3 + i], I1[3 + i] + (m1[i] << 3));
        }
        msum[0] += r->q[13][t][0];
        msum[1] += r->q[13][t][1];
    }
    /* mean sums: c0 (4 + 2 + 2) + 8 * 2 = 24 per step; c1 (3 + 1 + 2) + 8 * 2 at t1, t3 */
    CU_ASSERT_EQUAL(msum[0], 4 * 24);
    CU_ASSERT_EQUAL(msum[1], 4 * 6 + 2 * 16);
    /* the step of the mean: 1/8 / 3 */
    CU_ASSERT_EQUAL(logits[0], (float)(96.0 * (0.125 / 3) / 4));
    CU_ASSERT_EQUAL(logits[1], (float)(56.0 * (0.125 / 3) / 4));
    CU_ASSERT_EQUAL(counts[10], 6);
    CU_ASSERT_EQUAL(counts[1], 4 * 4);
    free(r);
    stc_ir_destroy(&ir);
}

/* mean -> linear -> output: s = {1,1,0,1}, mean q = 3 (step 1/4); w = {0.6, -0.2}: qexp 7 (77 <= 127 < 154),
 * w_q = {77, round(-25.6) = -26}; step 2^-9; bias_q = {round(51.2) = 51, round(153.6) = 154};
 * acc = {51 + 231 = 282, 154 - 78 = 76}; logits = 4 * acc * 2^-9 / 4 = {0.55078125, 0.1484375}
 * (float: 0.55 and 0.15). */
static void test_mean_linear_output(void) {
    static const char *g =
        "stc-ir 1\ngraph T=4\n"
        "%0 = input [1,1,4] real\n"
        "%1 = lif %0 [1,1,4] spike name=\"s\" tau=1 vth=0.5 vreset=0\n"
        "%2 = mean %1 [1,1,1] real\n"
        "%3 = linear %2 [2,1,1] real name=\"head\"\n"
        "  weight [2,1] = 0.6 -0.2\n  bias [2] = 0.1 0.3\n"
        "%4 = output %3 [2,1,1] real\n";
    static const float x[4] = {1, 1, 0, 1};
    stc_ir_t *ir = quantized(g, x, 1, 8, 16);
    rec_t *r = calloc(1, sizeof *r);
    float logits[2];
    int64_t macs[5];
    qrun(ir, x, logits, NULL, r, NULL, macs);
    for (int t = 0; t < 4; t++) {
        CU_ASSERT_EQUAL(r->q[2][t][0], 3);
        CU_ASSERT_EQUAL(r->q[3][t][0], 282);
        CU_ASSERT_EQUAL(r->q[3][t][1], 76);
        CU_ASSERT_EQUAL(r->q[4][t][0], 282);
    }
    CU_ASSERT_EQUAL(logits[0], 0.55078125f);
    CU_ASSERT_EQUAL(logits[1], 0.1484375f);
    CU_ASSERT_EQUAL(macs[3], 4 * 2); /* one non-zero mean x 2 outputs */
    free(r);
    stc_ir_destroy(&ir);
}

/* A float graph is refused; so is a quantized one whose weights are not integers. */
static void test_refuses(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_parse(g_conv_lif, strlen(g_conv_lif), "q.stcir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_PTR_NULL(stc_qinterp_create(ir, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "not quantized");
    stc_ir_destroy(&ir);
    static const float x[2] = {1.5f, -0.7f};
    ir = quantized(g_conv_lif, x, 1, 8, 16);
    stc_param_t *w = (stc_param_t *)stc_ir_param(&ir->nodes[1], "weight");
    w->data[0] = 0.5f;
    memset(&err, 0, sizeof err);
    CU_ASSERT_PTR_NULL(stc_qinterp_create(ir, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "%1 'c'");
    stc_ir_destroy(&ir);
}

/* ------------------------------------------------------ the test models */

static uint32_t rng = 12345;
static double unif(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) + 0.5) / 16777216.0;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

#define N_IMAGES 64

/* The model at -O2, and (if images is not NULL) N_IMAGES inputs: its inputs.npy, then standard normal
 * images like the stored ones. */
static stc_ir_t *load_model(const char *arch, float **images, int64_t *per) {
    char path[1024];
    stc_err_t err = {0};
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    snprintf(path, sizeof path, MODELS "%s/model.json", arch);
    CU_ASSERT_EQUAL_FATAL(stc_model_cfg_load(&cfg, path, &err), STC_OK);
    snprintf(path, sizeof path, MODELS "%s/model.pth", arch);
    stc_ckpt_t *ck = stc_ckpt_load(path, &err);
    if (!ck) fprintf(stderr, "\n  %s: %s (run ctest -R make_test_data)\n", path, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    CU_ASSERT_EQUAL_FATAL(stc_model_recognize(ck, &cfg, &err), STC_OK);
    stc_ir_t *ir = stc_model_import(ck, &cfg, &err);
    stc_ckpt_destroy(&ck);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_status_t st = stc_pass_pipeline(ir, "O2", NULL, &err);
    if (st) fprintf(stderr, "\n  O2: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    if (!images) return ir;
    snprintf(path, sizeof path, MODELS "%s/inputs.npy", arch);
    stc_input_t *in = stc_input_load(path, NULL, NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    *per = in->c * in->h * in->w;
    CU_ASSERT_EQUAL_FATAL(*per, (int64_t)ir->nodes[0].shape.c * ir->nodes[0].shape.h * ir->nodes[0].shape.w);
    float *x = malloc((size_t)(N_IMAGES * *per) * sizeof *x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    int64_t have = in->n < N_IMAGES ? in->n : N_IMAGES;
    memcpy(x, in->data, (size_t)(have * *per) * sizeof *x);
    rng = 12345;
    for (int64_t i = have * *per; i < N_IMAGES * *per; i++)
        x[i] = (float)(sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif()));
    stc_input_destroy(&in);
    *images = x;
    return ir;
}

/* The test models are untrained and uncalibrated: at their own scale hardly a LIF past the first fires
 * (0.8% in the first, none after).  Multiplying every conv2d/linear weight and bias by 8 wakes them up
 * to 10-60% like trained models (their inputs are spikes, so the gain does not compound). */
#define GAIN 8.0f
static void amplify(stc_ir_t *ir, float gain) {
    for (int i = 0; i < ir->n_nodes; i++) {
        stc_node_t *n = &ir->nodes[i];
        if (n->op != STC_OP_CONV2D && n->op != STC_OP_LINEAR) continue;
        for (int k = 0; k < n->n_params; k++)
            for (int64_t j = 0; j < n->params[k].numel; j++) n->params[k].data[j] *= gain;
    }
}

static void count_progress(void *ud, int done, int n) {
    int *seen = ud;
    (void)n;
    seen[0]++;
    seen[1] = done;
}

/* The two graphs' text, parameters included, is the same. */
static int same_text(const stc_ir_t *a, const stc_ir_t *b) {
    char *ta = NULL, *tb = NULL;
    size_t na = 0, nb = 0;
    FILE *fa = open_memstream(&ta, &na), *fb = open_memstream(&tb, &nb);
    stc_err_t err = {0};
    int ok = fa && fb && !stc_ir_print(a, fa, STC_IR_PRINT_WEIGHTS, &err) &&
             !stc_ir_print(b, fb, STC_IR_PRINT_WEIGHTS, &err);
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    ok = ok && na == nb && na > 0 && !memcmp(ta, tb, na);
    free(ta);
    free(tb);
    return ok;
}

/* Quantize (8 bits, calibrated on the N_IMAGES inputs) and compare with the float interpreter on the
 * same inputs: top-1 agreement at least floor_agree, the firing rate of every LIF within 3 points, a
 * model that really fires (mean rate over all LIFs above 5%), and the same integers run after run.
 * Seen: 64/64, 64/64 and 47/64 agreeing inputs (spikformer_cifar, sdt, spikformer_imagenet); the last
 * is pooled to a single token, where one spike more or less moves a logit past its close untrained
 * neighbours (at 12-bit weights and input it agrees on 62/64). */
static void check_model(const char *arch, int floor_agree) {
    float *x;
    int64_t per;
    stc_ir_t *fir = load_model(arch, &x, &per);
    stc_ir_t *qir = load_model(arch, NULL, NULL);
    amplify(fir, GAIN);
    amplify(qir, GAIN);
    stc_err_t err = {0};
    stc_pass_opts_t o = {0};
    o.weight_bits = 8;
    o.calib = x;
    o.n_calib = N_IMAGES;
    CU_ASSERT_EQUAL_FATAL(stc_pass_pipeline(qir, "quantize", &o, &err), STC_OK);
    /* calibration on 3 worker threads quantizes to the very same integers, and reports every image */
    stc_ir_t *tir = load_model(arch, NULL, NULL);
    amplify(tir, GAIN);
    int seen[2] = {0, 0}; /* calls, the last count */
    o.threads = 3;
    o.calib_progress = count_progress;
    o.calib_ud = seen;
    CU_ASSERT_EQUAL_FATAL(stc_pass_pipeline(tir, "quantize", &o, &err), STC_OK);
    CU_ASSERT_EQUAL(seen[0], N_IMAGES + 1);
    CU_ASSERT_EQUAL(seen[1], N_IMAGES);
    CU_ASSERT(same_text(qir, tir));
    stc_ir_destroy(&tir);
    int K = fir->nodes[fir->n_nodes - 1].shape.c, nn = qir->n_nodes;
    float *lf = malloc((size_t)K * sizeof *lf), *lq = malloc((size_t)K * sizeof *lq),
          *lq2 = malloc((size_t)K * sizeof *lq2);
    int64_t *c1 = malloc((size_t)nn * sizeof *c1), *c2 = malloc((size_t)nn * sizeof *c2);
    stc_interp_t *fi = stc_interp_create(fir, &err);
    stc_qinterp_t *qi = stc_qinterp_create(qir, &err);
    setenv("STC_INTERP_NOSIMD", "1", 1); /* the second one: the baseline kernels (the first: AVX2's, if any) */
    stc_qinterp_t *qi2 = stc_qinterp_create(qir, &err);
    unsetenv("STC_INTERP_NOSIMD");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fi);
    CU_ASSERT_PTR_NOT_NULL_FATAL(qi);
    CU_ASSERT_PTR_NOT_NULL_FATAL(qi2);
    int agree = 0, same = 1;
    int64_t *fc = calloc((size_t)nn, sizeof *fc), *fct = calloc((size_t)nn, sizeof *fct),
            *qct = calloc((size_t)nn, sizeof *qct);
    for (int i = 0; i < N_IMAGES; i++) {
        const float *img = x + (size_t)i * (size_t)per;
        CU_ASSERT_EQUAL(stc_interp_run(fi, img, lf, fc, NULL, NULL, &err), STC_OK);
        CU_ASSERT_EQUAL(stc_qinterp_run(qi, img, lq, c1, NULL, NULL, &err), STC_OK);
        for (int k = 0; k < nn; k++) {
            fct[k] += fc[k];
            qct[k] += c1[k];
        }
        agree += argmax(lf, K) == argmax(lq, K);
        /* deterministic: a second interpreter with the other kernels, and the first one again after another image */
        CU_ASSERT_EQUAL(stc_qinterp_run(qi2, img, lq2, c2, NULL, NULL, &err), STC_OK);
        same &= !memcmp(lq, lq2, (size_t)K * sizeof *lq) && !memcmp(c1, c2, (size_t)nn * sizeof *c1);
        for (int k = 0; k < nn; k++)
            if (qir->nodes[k].op != STC_OP_LIF) same &= c1[k] == 0;
    }
    CU_ASSERT_EQUAL(stc_qinterp_run(qi, x, lq2, c2, NULL, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_qinterp_run(qi2, x, lq, c1, NULL, NULL, &err), STC_OK);
    same &= !memcmp(lq, lq2, (size_t)K * sizeof *lq) && !memcmp(c1, c2, (size_t)nn * sizeof *c1);
    CU_ASSERT(same);
    fprintf(stderr, "\n  %s: integer top-1 = float top-1 on %d/%d inputs (8-bit weights) ", arch, agree,
            N_IMAGES);
    CU_ASSERT(agree >= floor_agree);
    double all = 0, cells_all = 0;
    for (int k = 0; k < nn; k++) {
        const stc_node_t *n = &qir->nodes[k];
        if (n->op != STC_OP_LIF) continue;
        double cells = (double)n->shape.c * n->shape.h * n->shape.w * qir->T * N_IMAGES;
        double rf = (double)fct[k] / cells, rq = (double)qct[k] / cells;
        if (fabs(rf - rq) > 0.03) fprintf(stderr, "\n  %s: float rate %.4f, integer %.4f", n->name, rf, rq);
        CU_ASSERT(fabs(rf - rq) <= 0.03);
        all += (double)fct[k];
        cells_all += cells;
    }
    CU_ASSERT(all / cells_all > 0.05);
    free(fc);
    free(fct);
    free(qct);
    stc_interp_destroy(&fi);
    stc_qinterp_destroy(&qi);
    stc_qinterp_destroy(&qi2);
    free(lf);
    free(lq);
    free(lq2);
    free(c1);
    free(c2);
    free(x);
    stc_ir_destroy(&fir);
    stc_ir_destroy(&qir);
}

static void test_spikformer_cifar(void) { check_model("spikformer_cifar", 60); }
static void test_sdt(void) { check_model("sdt", 60); }
static void test_spikformer_imagenet(void) { check_model("spikformer_imagenet", 40); }

void stc_suite_qinterp(void) {
    static const stc_test_t tests[] = {
        {"conv -> lif spike train by hand", test_conv_lif},
        {"add aligned and graded", test_add},
        {"graded clamp and max-pool", test_graded_clamp_maxpool},
        {"ssa counts, 1 and 2 heads", test_ssa},
        {"sdsa, mul mask, add of steps 1/8 and 1", test_sdsa_mul},
        {"mean -> linear -> output logits", test_mean_linear_output},
        {"float graphs and non-integer weights refused", test_refuses},
        {"spikformer_cifar: int top-1 = float top-1", test_spikformer_cifar},
        {"sdt: int top-1 = float top-1", test_sdt},
        {"spikformer_imagenet: int top-1 = float top-1", test_spikformer_imagenet},
        {NULL, NULL},
    };
    stc_add_suite("qinterp", tests);
}
