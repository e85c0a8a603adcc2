/* test_passes.c - suite "passes": the pass manager and fold_bn.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stc_pass.h"
#include "test_util.h"

/* conv -> bn -> lif (foldable); linear -> bn -> lif (foldable, gains a bias);
 * a conv read twice (bn + add) stays; a bn after a max-pool stays. */
static const char *graph =
    "stc-ir 1\ngraph T=3\n"
    "%0 = input [1,4,4] real\n"
    "%1 = conv2d %0 [2,4,4] real name=\"c\" k=3 stride=1 pad=1\n"
    "  weight [2,1,3,3] = 0.5 0.25 0.5 0.25 1 0.25 0.5 0.25 0.5 -0.5 0.75 0.1 0.2 0.3 -0.4 0.9 -0.1 0.6\n"
    "  bias [2] = 0.1 -0.2\n"
    "%2 = batchnorm %1 [2,4,4] real name=\"bn1\" eps=1e-05\n"
    "  weight [2] = 1.5 0.7\n  bias [2] = 0.2 -0.1\n  running_mean [2] = 0.3 -0.2\n  running_var [2] = 0.8 1.7\n"
    "%3 = lif %2 [2,4,4] spike name=\"l1\"\n"
    "%4 = maxpool %3 [2,2,2] spike k=2 stride=2 pad=0\n"
    "%5 = linear %4 [3,2,2] real name=\"fc\"\n"
    "  weight [3,2] = 1 -1 0.5 0.5 2 0.25\n"
    "%6 = batchnorm %5 [3,2,2] real name=\"bn2\" eps=1e-05\n"
    "  weight [3] = 0.9 1.1 1.3\n  bias [3] = 0.5 0.6 0.7\n  running_mean [3] = 0.1 0.2 0.3\n  running_var [3] = 1 2 3\n"
    "%7 = conv2d %6 [3,2,2] real name=\"c2\" k=1 stride=1 pad=0\n"
    "  weight [3,3,1,1] = 1 0 0 0 1 0 0 0 1\n"
    "%8 = batchnorm %7 [3,2,2] real name=\"bn3\" eps=1e-05\n"
    "  weight [3] = 1 1 1\n  bias [3] = 0 0 0\n  running_mean [3] = 0 0 0\n  running_var [3] = 1 1 1\n"
    "%9 = add %8, %7 [3,2,2] real\n"
    "%10 = maxpool %9 [3,1,1] real k=2 stride=2 pad=0\n"
    "%11 = batchnorm %10 [3,1,1] real name=\"bn4\" eps=1e-05\n"
    "  weight [3] = 2 2 2\n  bias [3] = 0 0 0\n  running_mean [3] = 0 0 0\n  running_var [3] = 1 1 1\n"
    "%12 = output %11 [3,1,1] real\n";

static stc_ir_t *load(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_parse(graph, strlen(graph), "g.stcir", &err);
    if (!ir) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL_FATAL(stc_ir_verify(ir, &err), STC_OK);
    return ir;
}

static int count_op(const stc_ir_t *ir, stc_op_t op) {
    int n = 0;
    for (int i = 0; i < ir->n_nodes; i++) n += ir->nodes[i].op == op;
    return n;
}

static void run(stc_ir_t *ir, float *logits) {
    stc_err_t err = {0};
    float img[16];
    for (int i = 0; i < 16; i++) img[i] = (float)(i % 5) * 0.4f - 0.3f;
    stc_interp_t *ip = stc_interp_create(ir, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    CU_ASSERT_EQUAL(stc_interp_run(ip, img, logits, NULL, NULL, NULL, &err), STC_OK);
    stc_interp_destroy(&ip);
}

static void test_fold_bn(void) {
    stc_ir_t *ir = load();
    float before[3], after[3];
    run(ir, before);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL_FATAL(stc_pass_pipeline(ir, "fold_bn", NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(count_op(ir, STC_OP_BATCHNORM), 2); /* bn3 (conv read twice) and bn4 (after a pool) stay */
    CU_ASSERT_EQUAL(ir->n_nodes, 11);
    const stc_param_t *b = stc_ir_param(&ir->nodes[4], "bias"); /* the linear gained a bias */
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_STRING_EQUAL(ir->nodes[4].name, "fc");
    run(ir, after);
    for (int k = 0; k < 3; k++) CU_ASSERT(fabsf(before[k] - after[k]) <= 1e-5f * (1 + fabsf(before[k])));
    /* folding twice changes nothing more */
    CU_ASSERT_EQUAL(stc_pass_pipeline(ir, "-O3", NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(ir->n_nodes, 11);
    stc_ir_destroy(&ir);
}

static void test_manager(void) {
    stc_ir_t *ir = load();
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_pass_pipeline(ir, "O0", NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(ir->n_nodes, 13);
    CU_ASSERT_EQUAL(stc_pass_pipeline(ir, "fold_bn,bogus", NULL, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "unknown pass 'bogus'");
    STC_ASSERT_CONTAINS(err.msg, "fold_bn");
    stc_ir_destroy(&ir);
    ir = load();
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    stc_pass_opts_t o = {.dump_after = "fold_bn", .dump_to = f};
    CU_ASSERT_EQUAL(stc_pass_pipeline(ir, "-O1", &o, &err), STC_OK);
    fclose(f);
    STC_ASSERT_CONTAINS(buf, "# after pass fold_bn");
    STC_ASSERT_CONTAINS(buf, "stc-ir 1");
    o.dump_after = "nosuch";
    CU_ASSERT_EQUAL(stc_pass_pipeline(ir, "-O1", &o, &err), STC_E_USAGE);
    const char *const *names, *const *sums;
    CU_ASSERT(stc_pass_list(&names, &sums) >= 1);
    CU_ASSERT_STRING_EQUAL(names[0], "fold_bn");
    stc_ir_destroy(&ir);
}

static void test_remove(void) {
    stc_ir_t *ir = load();
    stc_err_t err = {0};
    int repl[13];
    for (int i = 0; i < 13; i++) repl[i] = -1;
    repl[5] = 9; /* replacement must be earlier */
    CU_ASSERT_EQUAL(stc_ir_remove(ir, repl, &err), STC_E_INTERNAL);
    CU_ASSERT_EQUAL(stc_ir_users(ir, 7), 2);
    CU_ASSERT_EQUAL(stc_ir_users(ir, 1), 1);
    stc_ir_destroy(&ir);
}

/* stc_interp_ops: real inputs count dense MACs, spike inputs count one
 * accumulate per spike per target neuron. */
static void test_ops_counts(void) {
    stc_ir_t *ir = load();
    stc_err_t err = {0};
    float img[16], logits[3];
    for (int i = 0; i < 16; i++) img[i] = (float)(i % 5) * 0.4f - 0.3f;
    stc_interp_t *ip = stc_interp_create(ir, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    int64_t counts[13], acs[13], macs[13];
    CU_ASSERT_EQUAL(stc_interp_run(ip, img, logits, counts, NULL, NULL, &err), STC_OK);
    stc_interp_ops(ip, acs, macs);
    /* conv %1 on the image: 3x3 pad 1 on 4x4 has 100 real taps, x 2 outputs, x 3 timesteps */
    CU_ASSERT_EQUAL(macs[1], 600);
    CU_ASSERT_EQUAL(acs[1], 0);
    /* linear %5 reads the max-pooled spikes %4: 3 outputs per input spike */
    CU_ASSERT_EQUAL(macs[5], 0);
    CU_ASSERT(acs[5] > 0 && acs[5] % 3 == 0 && acs[5] <= 3 * 8 * 3);
    /* conv %7 (1x1) reads a real BatchNorm output: dense, 3 x 3 x 4 positions x 3 timesteps */
    CU_ASSERT_EQUAL(macs[7], 108);
    /* a second run starts from zero */
    CU_ASSERT_EQUAL(stc_interp_run(ip, img, logits, counts, NULL, NULL, &err), STC_OK);
    int64_t again[13];
    stc_interp_ops(ip, again, macs);
    CU_ASSERT_EQUAL(again[5], acs[5]);
    CU_ASSERT_EQUAL(macs[1], 600);
    stc_interp_destroy(&ip);
    stc_ir_destroy(&ir);
}

void stc_suite_passes(void) {
    static const stc_test_t tests[] = {
        {"fold_bn", test_fold_bn}, {"manager", test_manager}, {"remove", test_remove},
        {"interpreter operation counts", test_ops_counts}, {NULL, NULL}};
    stc_add_suite("passes", tests);
}
