/* test_quant.c - suite "quant": the quantize pass (compiler/passes/quantize.c).
 *
 * Tiny graphs in the Spike IR text form, calibrated on one or two images, and
 * every quantized field checked against values worked out by hand from
 * docs/backend.md section 1 (the arithmetic is in the comments); the error
 * cases (a batchnorm left, steps that no shift aligns, constants the 24-bit
 * neuron cannot hold, bad options).
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_pass.h"
#include "test_util.h"

static stc_ir_t *parse(const char *text) {
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_parse(text, strlen(text), "q.stcir", &err);
    if (!ir) fprintf(stderr, "\n  parse: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_status_t st = stc_ir_verify(ir, &err);
    if (st) fprintf(stderr, "\n  verify: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    return ir;
}

/* quantize with n images of calibration (NULL: the static bound) */
static stc_status_t quantize(stc_ir_t *ir, const float *calib, int n, int wb, int pb, stc_err_t *err) {
    stc_pass_opts_t o = {0};
    o.weight_bits = wb;
    o.payload_bits = pb;
    o.calib = calib;
    o.n_calib = n;
    return stc_pass_pipeline(ir, "quantize", &o, err);
}

static void quantize_ok(stc_ir_t *ir, const float *calib, int n, int wb, int pb) {
    stc_err_t err = {0};
    stc_status_t st = quantize(ir, calib, n, wb, pb, &err);
    if (st) fprintf(stderr, "\n  quantize: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    CU_ASSERT_EQUAL(ir->quant, 1);
}

static void expect_fail(stc_ir_t *ir, const float *calib, int n, int wb, stc_status_t want, const char *n1,
                        const char *n2) {
    stc_err_t err = {0};
    stc_status_t st = quantize(ir, calib, n, wb, 0, &err);
    CU_ASSERT_EQUAL(st, want);
    int ok = strstr(err.msg, n1) && (!n2 || strstr(err.msg, n2));
    if (!ok || st != want) fprintf(stderr, "\n  status %d, message \"%s\"\n", st, err.msg);
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(ir->quant, 0);
}

/* ------------------------------------------------------------- graphs */

/* conv (k=1, two output channels) -> lif -> mean -> output, two pixels */
static const char *g_conv_lif =
    "stc-ir 1\ngraph T=4\n"
    "%0 = input [1,1,2] real\n"
    "%1 = conv2d %0 [2,1,2] real name=\"c\" k=1 stride=1 pad=0\n"
    "  weight [2,1,1,1] = 0.8 -0.3\n"
    "  bias [2] = 0.05 0.2\n"
    "%2 = lif %1 [2,1,2] spike name=\"l\" tau=2 vth=1 vreset=0\n"
    "%3 = mean %2 [2,1,1] real\n"
    "%4 = output %3 [2,1,1] real\n";
static const float img_conv_lif[2] = {1.5f, -0.7f};

/* The conv -> lif example of docs/backend.md, by hand:
 * input: max|x| = 1.5; round(1.5 * 2^6) = 96 <= 127 < round(1.5 * 2^7) = 192: qexp 6.
 * weights: max|W| = 0.8; round(0.8 * 2^7) = 102 <= 127 < 205: qexp 7, w_q = {102, round(-38.4) = -38}.
 * conv step 2^-6 * 2^-7 = 2^-13; bias_q = {round(0.05 * 8192) = round(409.6) = 410, round(1638.4) = 1638}.
 * lif: the largest |x| is 0.8 * 1.5 + 0.05 = 1.25, 10240 steps; 10240 << 8 = 2621440 < 2^22 <= 10240 << 9:
 * qshl 8; qvth = 1 / 2^-13 * 2^8 = 2097152; qdk = 4096 / 2 = 2048. */
static void test_conv_lif(void) {
    stc_ir_t *ir = parse(g_conv_lif);
    quantize_ok(ir, img_conv_lif, 1, 0, 0);
    const stc_node_t *in = &ir->nodes[0], *c = &ir->nodes[1], *l = &ir->nodes[2];
    CU_ASSERT_EQUAL(in->qexp, 6);
    CU_ASSERT_EQUAL(in->qbits, 8);
    CU_ASSERT_EQUAL(in->qstep, 1.0 / 64);
    CU_ASSERT_EQUAL(c->qexp, 7);
    CU_ASSERT_EQUAL(c->qbits, 8);
    CU_ASSERT_EQUAL(c->qgraded, 0);
    CU_ASSERT_EQUAL(c->qrsh, 0);
    CU_ASSERT_EQUAL(c->qstep, 1.0 / 8192);
    const float *w = stc_ir_param(c, "weight")->data, *b = stc_ir_param(c, "bias")->data;
    CU_ASSERT_EQUAL(w[0], 102.0f);
    CU_ASSERT_EQUAL(w[1], -38.0f);
    CU_ASSERT_EQUAL(b[0], 410.0f);
    CU_ASSERT_EQUAL(b[1], 1638.0f);
    CU_ASSERT_EQUAL(l->qdk, 2048);
    CU_ASSERT_EQUAL(l->qshl, 8);
    CU_ASSERT_EQUAL(l->qvth, 2097152);
    CU_ASSERT_EQUAL(l->qvreset, 0);
    CU_ASSERT_EQUAL(l->qstep, 1.0);
    CU_ASSERT_EQUAL(ir->nodes[3].qstep, 0.5); /* mean over 2 positions of spikes */
    CU_ASSERT_EQUAL(ir->nodes[4].qstep, 0.5);
    /* quantizing again changes nothing */
    quantize_ok(ir, NULL, 0, 4, 0);
    CU_ASSERT_EQUAL(c->qexp, 7);
    CU_ASSERT_EQUAL(w[0], 102.0f);
    stc_ir_destroy(&ir);
}

/* Without calibration: the input is taken as |x| <= 4, so qexp 4 (round(4 * 16) = 64 <= 127 < 128), and
 * bounds come from the weights: conv step 2^-4 * 2^-7 = 2^-11, bias_q = {round(102.4) = 102, round(409.6)
 * = 410}, the largest |x| of the lif 102 * 127 + 102 = 13056 (a clamped input is 127), and
 * 13056 << 8 = 3342336 < 2^22: qshl 8, qvth = 2048 << 8 = 524288. */
static void test_static_bound(void) {
    stc_ir_t *ir = parse(g_conv_lif);
    stc_log_level_t was = STC_LOG_ERROR; /* the pass warns; keep the test output quiet */
    while (was < STC_LOG_DEBUG && stc_log_enabled(was + 1)) was++;
    stc_log_set_level(STC_LOG_ERROR);
    quantize_ok(ir, NULL, 0, 0, 0);
    stc_log_set_level(was);
    const stc_node_t *c = &ir->nodes[1], *l = &ir->nodes[2];
    CU_ASSERT_EQUAL(ir->nodes[0].qexp, 4);
    CU_ASSERT_EQUAL(c->qstep, 1.0 / 2048);
    CU_ASSERT_EQUAL(stc_ir_param(c, "bias")->data[0], 102.0f);
    CU_ASSERT_EQUAL(stc_ir_param(c, "bias")->data[1], 410.0f);
    CU_ASSERT_EQUAL(l->qshl, 8);
    CU_ASSERT_EQUAL(l->qvth, 524288);
    stc_ir_destroy(&ir);
}

/* Weights round half away from zero, and the exponent is the largest that holds the largest weight
 * unless one more (clipping the largest to +-P) gives the layer a smaller squared error.
 * W = {1, -1, 1, -1, 2.5/64, -1.5/64, 0.5/64} at 8 bits: qexp 6 (round(64) <= 127 < 128) costs
 * 3 (0.5/64)^2 = 1.8e-4; qexp 7 would clip four weights, 4 (1/128)^2 = 2.4e-4: qexp 6,
 * w_q = {64, -64, 64, -64, round(2.5) = 3, round(-1.5) = -2, round(0.5) = 1}.
 * At 4 bits (P = 7): qexp 2 (4 <= 7 < 8), the small weights round to 0.
 * W = {1, 2.5/64, -1.5/64, 0.5/64}: one outlier; qexp 7 clips it to 127 (error (1/128)^2 = 6.1e-5 against
 * 1.8e-4 at qexp 6): w_q = {127, 5, -3, 1}. */
static void test_weight_rounding(void) {
    static const char *g =
        "stc-ir 1\ngraph T=1\n"
        "%0 = input [1,1,1] real\n"
        "%1 = linear %0 [7,1,1] real name=\"fc\"\n"
        "  weight [7,1] = 1 -1 1 -1 0.0390625 -0.0234375 0.0078125\n"
        "%2 = output %1 [7,1,1] real\n";
    static const float want8[7] = {64, -64, 64, -64, 3, -2, 1}, want4[7] = {4, -4, 4, -4, 0, 0, 0};
    float x = 1.0f;
    stc_ir_t *ir = parse(g);
    quantize_ok(ir, &x, 1, 8, 0);
    const float *w = stc_ir_param(&ir->nodes[1], "weight")->data;
    CU_ASSERT_EQUAL(ir->nodes[1].qexp, 6);
    for (int i = 0; i < 7; i++) CU_ASSERT_EQUAL(w[i], want8[i]);
    /* input 1.0 at 8 bits: round(2^6) = 64 <= 127 < 128 */
    CU_ASSERT_EQUAL(ir->nodes[0].qexp, 6);
    stc_ir_destroy(&ir);
    ir = parse(g);
    quantize_ok(ir, &x, 1, 4, 0);
    w = stc_ir_param(&ir->nodes[1], "weight")->data;
    CU_ASSERT_EQUAL(ir->nodes[1].qexp, 2);
    CU_ASSERT_EQUAL(ir->nodes[1].qbits, 4);
    for (int i = 0; i < 7; i++) CU_ASSERT_EQUAL(w[i], want4[i]);
    stc_ir_destroy(&ir);
    static const char *g2 =
        "stc-ir 1\ngraph T=1\n"
        "%0 = input [1,1,1] real\n"
        "%1 = linear %0 [4,1,1] real name=\"fc\"\n"
        "  weight [4,1] = 1 0.0390625 -0.0234375 0.0078125\n"
        "%2 = output %1 [4,1,1] real\n";
    ir = parse(g2);
    quantize_ok(ir, &x, 1, 8, 0);
    w = stc_ir_param(&ir->nodes[1], "weight")->data;
    CU_ASSERT_EQUAL(ir->nodes[1].qexp, 7);
    CU_ASSERT_EQUAL(w[0], 127.0f);
    CU_ASSERT_EQUAL(w[1], 5.0f);
    CU_ASSERT_EQUAL(w[2], -3.0f);
    CU_ASSERT_EQUAL(w[3], 1.0f);
    stc_ir_destroy(&ir);
}

/* add of spikes (step 1) and a conv of spikes (w 0.5: qexp 7, w_q 64, step 2^-7): aligned to 2^-7 with
 * qsh = {7, 0}; the largest sum 1 + 0.5 = 1.5 is 192 steps; at 4-bit payload (P = 7) the shift is 5
 * (rsr(192, 5) = 6 <= 7 < rsr(192, 4) = 12), so the add's step is 2^-7 * 2^5 = 1/4. */
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
    stc_ir_t *ir = parse(g_add);
    quantize_ok(ir, img_conv_lif, 1, 8, 4);
    const stc_node_t *s = &ir->nodes[1], *c = &ir->nodes[2], *a = &ir->nodes[3];
    CU_ASSERT_EQUAL(s->qdk, 4096);  /* tau 1 */
    CU_ASSERT_EQUAL(s->qshl, 12);   /* max |x| 96 steps: 96 << 12 < 2^22 */
    CU_ASSERT_EQUAL(s->qvth, 131072); /* 0.5 * 64 << 12 */
    CU_ASSERT_EQUAL(c->qexp, 7);
    CU_ASSERT_EQUAL(c->qgraded, 0); /* its consumer is an add */
    CU_ASSERT_EQUAL(c->qstep, 1.0 / 128);
    CU_ASSERT_EQUAL(a->qgraded, 1);
    CU_ASSERT_EQUAL(a->qbits, 4);
    CU_ASSERT_EQUAL(a->qsh[0], 7);
    CU_ASSERT_EQUAL(a->qsh[1], 0);
    CU_ASSERT_EQUAL(a->qrsh, 5);
    CU_ASSERT_EQUAL(a->qstep, 0.25);
    CU_ASSERT_EQUAL(ir->nodes[4].qstep, 0.125);
    stc_ir_destroy(&ir);
    /* at the default 16-bit payload nothing needs a shift */
    ir = parse(g_add);
    quantize_ok(ir, img_conv_lif, 1, 8, 0);
    CU_ASSERT_EQUAL(ir->nodes[3].qbits, 16);
    CU_ASSERT_EQUAL(ir->nodes[3].qrsh, 0);
    CU_ASSERT_EQUAL(ir->nodes[3].qstep, 1.0 / 128);
    stc_ir_destroy(&ir);
}

/* A conv read by a max-pool is graded: input max 0.5 -> qexp 7; w 0.75 -> qexp 7 (96); accumulator step
 * 2^-14; the largest output 0.375 is 6144 steps; 8-bit payload: rsr(6144, 6) = 96 <= 127 < 192: qrsh 6,
 * step 2^-8; the pool keeps it. */
static const char *g_graded =
    "stc-ir 1\ngraph T=4\n"
    "%0 = input [1,2,2] real\n"
    "%1 = conv2d %0 [1,2,2] real name=\"g\" k=1 stride=1 pad=0\n"
    "  weight [1,1,1,1] = 0.75\n"
    "%2 = maxpool %1 [1,1,1] real name=\"p\" k=3 stride=2 pad=1\n"
    "%3 = output %2 [1,1,1] real\n";
static const float img_graded_cal[4] = {0.5f, 0.25f, -0.125f, 0.0f};

static void test_graded(void) {
    stc_ir_t *ir = parse(g_graded);
    quantize_ok(ir, img_graded_cal, 1, 8, 8);
    const stc_node_t *g = &ir->nodes[1];
    CU_ASSERT_EQUAL(ir->nodes[0].qexp, 7);
    CU_ASSERT_EQUAL(g->qexp, 7);
    CU_ASSERT_EQUAL(g->qgraded, 1);
    CU_ASSERT_EQUAL(g->qbits, 8); /* a graded node's qbits is its payload */
    CU_ASSERT_EQUAL(g->qrsh, 6);
    CU_ASSERT_EQUAL(g->qstep, 1.0 / 256);
    CU_ASSERT_EQUAL(stc_ir_param(g, "weight")->data[0], 96.0f);
    CU_ASSERT_EQUAL(ir->nodes[2].qstep, 1.0 / 256);
    CU_ASSERT_EQUAL(ir->nodes[3].qstep, 1.0 / 256);
    stc_ir_destroy(&ir);
}

/* ssa: a power-of-two scale is exact (0.125: qmul 1, qexp 3); 0.3 gets an 8-bit multiplier:
 * round(0.3 * 2^8) = 77 <= 127 < round(0.3 * 2^9) = 154, so qexp 8, qmul 77.  sdsa and mul are
 * spikes or counts (step 1); the attention LIF sees x in the ssa's step. */
static const char *g_ssa_fmt =
    "stc-ir 1\ngraph T=2\n"
    "%%0 = input [2,1,3] real\n"
    "%%1 = lif %%0 [2,1,3] spike name=\"s\" tau=1 vth=0.5 vreset=0\n"
    "%%2 = ssa %%1, %%1, %%1 [2,1,3] real name=\"attn\" heads=1 scale=%s\n"
    "%%3 = lif %%2 [2,1,3] spike name=\"attn_lif\" tau=2 vth=0.5 vreset=0\n"
    "%%4 = sdsa %%1, %%3 [2,1,1] real name=\"sdsa\"\n"
    "%%5 = lif %%4 [2,1,1] spike name=\"th\" tau=2 vth=0.5 vreset=0\n"
    "%%6 = mul %%1, %%5 [2,1,3] spike name=\"mask\"\n"
    "%%7 = mean %%6 [2,1,1] real\n"
    "%%8 = output %%7 [2,1,1] real\n";
static const float img_ssa[6] = {1, 0, 1, 1, 1, 0};

static void test_ssa_sdsa(void) {
    char g[1024];
    snprintf(g, sizeof g, g_ssa_fmt, "0.125");
    stc_ir_t *ir = parse(g);
    quantize_ok(ir, img_ssa, 1, 8, 0);
    const stc_node_t *a = &ir->nodes[2];
    CU_ASSERT_EQUAL(a->qmul, 1);
    CU_ASSERT_EQUAL(a->qexp, 3);
    CU_ASSERT_EQUAL(a->qstep, 0.125);
    /* the attention LIF: vth 0.5 is 4 steps of 1/8 */
    CU_ASSERT_EQUAL(ir->nodes[3].qvth, 4 << ir->nodes[3].qshl);
    CU_ASSERT_EQUAL(ir->nodes[4].qstep, 1.0);
    CU_ASSERT_EQUAL(ir->nodes[6].qstep, 1.0);
    CU_ASSERT_EQUAL(ir->nodes[7].qstep, 1.0 / 3);
    stc_ir_destroy(&ir);
    snprintf(g, sizeof g, g_ssa_fmt, "0.3");
    ir = parse(g);
    quantize_ok(ir, img_ssa, 1, 8, 0);
    CU_ASSERT_EQUAL(ir->nodes[2].qmul, 77);
    CU_ASSERT_EQUAL(ir->nodes[2].qexp, 8);
    CU_ASSERT_EQUAL(ir->nodes[2].qstep, 1.0 / 256);
    stc_ir_destroy(&ir);
}

/* ------------------------------------------------------------- errors */

static void test_batchnorm_refused(void) {
    static const char *g =
        "stc-ir 1\ngraph T=1\n"
        "%0 = input [1,1,2] real\n"
        "%1 = conv2d %0 [1,1,2] real name=\"c\" k=1 stride=1 pad=0\n"
        "  weight [1,1,1,1] = 0.5\n"
        "%2 = batchnorm %1 [1,1,2] real name=\"bn\" eps=1e-05\n"
        "  weight [1] = 1\n  bias [1] = 0\n  running_mean [1] = 0\n  running_var [1] = 1\n"
        "%3 = lif %2 [1,1,2] spike name=\"l\" tau=2 vth=1 vreset=0\n"
        "%4 = mean %3 [1,1,1] real\n"
        "%5 = output %4 [1,1,1] real\n";
    stc_ir_t *ir = parse(g);
    expect_fail(ir, img_conv_lif, 1, 0, STC_E_UNSUPPORTED, "%2 'bn' (batchnorm)", "run fold_bn first");
    CU_ASSERT_EQUAL(stc_ir_param(&ir->nodes[1], "weight")->data[0], 0.5f); /* untouched */
    /* after fold_bn it quantizes */
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_pass_pipeline(ir, "fold_bn", NULL, &err), STC_OK);
    quantize_ok(ir, img_conv_lif, 1, 0, 0);
    stc_ir_destroy(&ir);
}

/* a mean over 3 positions has step 1/3; adding spikes (step 1) to it needs a shift by log2(3) */
static void test_step_ratio_refused(void) {
    static const char *g =
        "stc-ir 1\ngraph T=1\n"
        "%0 = input [1,1,3] real\n"
        "%1 = lif %0 [1,1,3] spike name=\"s\" tau=1 vth=0.5 vreset=0\n"
        "%2 = mean %1 [1,1,1] real name=\"m\"\n"
        "%3 = lif %2 [1,1,1] spike name=\"t\" tau=2 vth=1 vreset=0\n"
        "%4 = add %2, %3 [1,1,1] real name=\"a\"\n"
        "%5 = output %4 [1,1,1] real\n";
    float x[3] = {1, 0, 1};
    stc_ir_t *ir = parse(g);
    expect_fail(ir, x, 1, 0, STC_E_UNSUPPORTED, "%4 'a' (add)", "0.333333333 (%2) and 1 (%3)");
    stc_ir_destroy(&ir);
}

static void test_bad_constants(void) {
    stc_ir_t *ir = parse(g_conv_lif);
    ir->nodes[2].tau = 10000.0f; /* 4096 / 10000 rounds to 0: no decay */
    expect_fail(ir, img_conv_lif, 1, 0, STC_E_UNSUPPORTED, "%2 'l' (lif)", "tau=10000");
    ir->nodes[2].tau = 2.0f;
    ir->nodes[2].vreset = -1e9f; /* 2^13 steps per unit: far beyond 24 bits even at qshl 0 */
    expect_fail(ir, img_conv_lif, 1, 0, STC_E_UNSUPPORTED, "%2 'l' (lif)", "vreset=-1e+09");
    ir->nodes[2].vreset = -0.5f; /* representable: -0.5 * 8192 << 8 */
    quantize_ok(ir, img_conv_lif, 1, 0, 0);
    CU_ASSERT_EQUAL(ir->nodes[2].qvreset, -(4096 << 8));
    stc_ir_destroy(&ir);
    ir = parse(g_conv_lif);
    expect_fail(ir, img_conv_lif, 1, 9, STC_E_USAGE, "weight_bits=9", "1..8");
    stc_ir_destroy(&ir);
}

void stc_suite_quant(void) {
    static const stc_test_t tests[] = {
        {"conv -> lif by hand", test_conv_lif},
        {"static bound without calibration", test_static_bound},
        {"weight rounding, bits, outlier clipping", test_weight_rounding},
        {"add alignment and graded shift", test_add},
        {"graded conv read by a max-pool", test_graded},
        {"ssa multiplier, sdsa, mul, mean steps", test_ssa_sdsa},
        {"batchnorm refused (run fold_bn first)", test_batchnorm_refused},
        {"add of steps 1/3 and 1 refused", test_step_ratio_refused},
        {"lif constants and options refused", test_bad_constants},
        {NULL, NULL},
    };
    stc_add_suite("quant", tests);
}
