/* test_opt_passes.c - suite "opt_passes": const_fold, dce, cse and delay_balance
 * (compiler/passes/), and the -O2 level on the real test models.
 *
 * Hand-written graphs where each rewrite applies once and each reason not to
 * apply it appears once next to it; the expected survivors are named, and the
 * float interpreter shows what each rewrite keeps: bit-identical logits and
 * spike counts where the pass is exact (cse, dce, identity batchnorms, an SSA
 * scale of a power of two, with the LIF charge scaled by exactly 1/scale),
 * float tolerance where it rounds differently (composed batchnorms).  Depths
 * are checked node by node on a hand-built quantized graph and, on the real
 * models, against an independent recursive walk.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_ckpt.h"
#include "stc_input.h"
#include "stc_model.h"
#include "stc_pass.h"
#include "test_util.h"

#define MODELS STC_TEST_DATA_DIR "/models/"

/* ------------------------------------------------------------- helpers */

static stc_ir_t *parse_ok(const char *text) {
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_parse(text, strlen(text), "g.stcir", &err);
    if (!ir) fprintf(stderr, "\n  parse: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_status_t st = stc_ir_verify(ir, &err);
    if (st) fprintf(stderr, "\n  verify: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    return ir;
}

static void pipeline_ok(stc_ir_t *ir, const char *spec) {
    stc_err_t err = {0};
    stc_status_t st = stc_pass_pipeline(ir, spec, NULL, &err);
    if (st) fprintf(stderr, "\n  %s: %s\n", spec, err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
}

static int count_op(const stc_ir_t *ir, stc_op_t op) {
    int n = 0;
    for (int i = 0; i < ir->n_nodes; i++) n += ir->nodes[i].op == op;
    return n;
}

/* The charge of one LIF (by name) at every timestep. */
#define TR_MAX 1024
typedef struct {
    const char *name;
    int n;
    float h[TR_MAX];
} trace_t;

static void trace_fn(void *ud, const stc_node_t *node, int t, const float *h, float *s) {
    (void)s;
    trace_t *tr = ud;
    if (!tr || strcmp(node->name, tr->name)) return;
    int m = node->shape.c * node->shape.h * node->shape.w;
    for (int i = 0; i < m && tr->n < TR_MAX; i++) tr->h[tr->n++] = h[i];
    (void)t;
}

/* Run one image; spike counts go to counts (by node id) when not NULL. */
static void run(const stc_ir_t *ir, const float *img, float *logits, int64_t *counts, trace_t *tr) {
    stc_err_t err = {0};
    stc_interp_t *ip = stc_interp_create(ir, &err);
    if (!ip) fprintf(stderr, "\n  interp: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    stc_status_t st = stc_interp_run(ip, img, logits, counts, tr ? trace_fn : NULL, tr, &err);
    if (st) fprintf(stderr, "\n  run: %s\n", err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
    stc_interp_destroy(&ip);
}

static void ramp_image(float *img, int n) {
    for (int i = 0; i < n; i++) img[i] = (float)((i * 5) % 9) * 0.35f - 0.6f;
}

/* ------------------------------------------------ const_fold (a): SSA scale */

/* attn: folded (scale 0.125 -> vth 0.25 * 8); attn_reset: its LIF resets to
 * -0.25; attn_two: read by a LIF and an add; attn_neg: scale < 0; attn_mean:
 * read by a mean, not a LIF. */
static const char *ssa_graph =
    "stc-ir 1\ngraph T=4\n"
    "%0 = input [4,2,2] real\n"
    "%1 = lif %0 [4,2,2] spike name=\"q\" tau=2 vth=0.5 vreset=0\n"
    "%2 = lif %0 [4,2,2] spike name=\"k\" tau=2 vth=0.25 vreset=0\n"
    "%3 = lif %0 [4,2,2] spike name=\"v\" tau=2 vth=0.75 vreset=0\n"
    "%4 = ssa %1, %2, %3 [4,2,2] real name=\"attn\" heads=2 scale=0.125\n"
    "%5 = lif %4 [4,2,2] spike name=\"attn_lif\" tau=2 vth=0.25 vreset=0\n"
    "%6 = ssa %1, %2, %3 [4,2,2] real name=\"attn_reset\" heads=2 scale=0.125\n"
    "%7 = lif %6 [4,2,2] spike name=\"lif_reset\" tau=2 vth=0.5 vreset=-0.25\n"
    "%8 = ssa %1, %2, %3 [4,2,2] real name=\"attn_two\" heads=1 scale=0.25\n"
    "%9 = lif %8 [4,2,2] spike name=\"lif_two\" tau=2 vth=0.5 vreset=0\n"
    "%10 = add %9, %8 [4,2,2] real\n"
    "%11 = ssa %1, %2, %3 [4,2,2] real name=\"attn_neg\" heads=1 scale=-0.125\n"
    "%12 = lif %11 [4,2,2] spike name=\"lif_neg\" tau=2 vth=-0.5 vreset=0\n"
    "%13 = ssa %1, %2, %3 [4,2,2] real name=\"attn_mean\" heads=4 scale=0.5\n"
    "%14 = add %5, %7 [4,2,2] real\n"
    "%15 = add %14, %10 [4,2,2] real\n"
    "%16 = add %15, %12 [4,2,2] real\n"
    "%17 = add %16, %13 [4,2,2] real\n"
    "%18 = mean %17 [4,1,1] real\n"
    "%19 = output %18 [4,1,1] real\n";

static void test_const_fold_ssa(void) {
    stc_ir_t *ir = parse_ok(ssa_graph);
    float img[16], before[4], after[4];
    ramp_image(img, 16);
    int64_t cb[20], ca[20];
    trace_t tb = {.name = "attn_lif"}, ta = {.name = "attn_lif"};
    run(ir, img, before, cb, &tb);
    CU_ASSERT(cb[5] > 0 && cb[5] < 64); /* attn_lif fires, and not always: the comparison means something */
    pipeline_ok(ir, "const_fold");
    CU_ASSERT_EQUAL(ir->n_nodes, 20);
    /* folded: scale 1, threshold 0.25 / 0.125 = 2 */
    CU_ASSERT_EQUAL(ir->nodes[4].scale, 1.0f);
    CU_ASSERT_EQUAL(ir->nodes[5].vth, 2.0f);
    /* not folded, each for its reason */
    CU_ASSERT_EQUAL(ir->nodes[6].scale, 0.125f); /* LIF resets to -0.25 */
    CU_ASSERT_EQUAL(ir->nodes[7].vth, 0.5f);
    CU_ASSERT_EQUAL(ir->nodes[8].scale, 0.25f); /* two users */
    CU_ASSERT_EQUAL(ir->nodes[9].vth, 0.5f);
    CU_ASSERT_EQUAL(ir->nodes[11].scale, -0.125f); /* negative scale */
    CU_ASSERT_EQUAL(ir->nodes[12].vth, -0.5f);
    CU_ASSERT_EQUAL(ir->nodes[13].scale, 0.5f); /* read by an add */
    run(ir, img, after, ca, &ta);
    /* a power-of-two scale: exactly the same spikes and logits, the charge times 8 */
    CU_ASSERT_EQUAL(memcmp(before, after, sizeof before), 0);
    CU_ASSERT_EQUAL(memcmp(cb, ca, sizeof cb), 0);
    CU_ASSERT_EQUAL(tb.n, 64);
    CU_ASSERT_EQUAL(ta.n, 64);
    int scaled = 1;
    for (int i = 0; i < 64; i++) scaled &= ta.h[i] == tb.h[i] * 8.0f;
    CU_ASSERT(scaled);
    /* a second run has nothing left to fold */
    pipeline_ok(ir, "const_fold");
    CU_ASSERT_EQUAL(ir->nodes[5].vth, 2.0f);
    CU_ASSERT_EQUAL(ir->nodes[8].scale, 0.25f);
    stc_ir_destroy(&ir);
}

/* ------------------------------------- const_fold (b), (c): batchnorms */

#define BN(id, in, c, name, eps, w, b, m, v)                                                               \
    "%" #id " = batchnorm %" #in " [" c "] real name=\"" name "\" eps=" eps "\n  weight [2] = " w            \
    "\n  bias [2] = " b "\n  running_mean [2] = " m "\n  running_var [2] = " v "\n"

/* bn_id: a = 1/sqrt(0.75 + 0.25) = 1, b = 0.  bn_id_mean: a = 1 and b = bias -
 * mean * a = 0 with a non-zero mean.  bn_half: one channel not 1 (stays).
 * bn1 -> bn2 -> bn3: one batchnorm named bn3.  shared has two users (stays),
 * so after_shared stays too.  x2 -> half: a = 2 then 0.5, the composition is
 * the identity: both go. */
static const char *bn_graph =
    "stc-ir 1\ngraph T=2\n"
    "%0 = input [2,2,2] real\n"
    BN(1, 0, "2,2,2", "bn_id", "0.25", "1 1", "0 0", "0 0", "0.75 0.75")
    BN(2, 1, "2,2,2", "bn_id_mean", "0.5", "1 1", "0.5 -2", "0.5 -2", "0.5 0.5")
    BN(3, 2, "2,2,2", "bn_half", "0.25", "1 2", "0 0", "0 0", "0.75 0.75")
    "%4 = lif %3 [2,2,2] spike name=\"l\" tau=2 vth=1 vreset=0\n"
    BN(5, 0, "2,2,2", "bn1", "9.99999975e-06", "1.5 0.7", "0.2 -0.1", "0.3 -0.2", "0.8 1.7")
    BN(6, 5, "2,2,2", "bn2", "9.99999975e-06", "0.9 1.1", "0.5 0.6", "0.1 0.2", "1 2")
    BN(7, 6, "2,2,2", "bn3", "0.001", "-1.25 0.3", "0.05 0.4", "-0.3 0.7", "0.6 2.5")
    "%8 = lif %7 [2,2,2] spike name=\"l2\" tau=2 vth=1 vreset=0\n"
    BN(9, 0, "2,2,2", "shared", "9.99999975e-06", "1.2 0.8", "0.1 0.1", "0.1 0.1", "1 1")
    BN(10, 9, "2,2,2", "after_shared", "9.99999975e-06", "0.6 1.4", "0 0.2", "0 0.3", "1.5 1")
    "%11 = add %9, %10 [2,2,2] real\n"
    BN(12, 0, "2,2,2", "x2", "0.25", "2 2", "0 0", "0 0", "0.75 0.75")
    BN(13, 12, "2,2,2", "half", "0.25", "0.5 0.5", "0 0", "0 0", "0.75 0.75")
    "%14 = lif %13 [2,2,2] spike name=\"l3\" tau=2 vth=1 vreset=0\n"
    "%15 = add %4, %8 [2,2,2] real\n"
    "%16 = add %15, %11 [2,2,2] real\n"
    "%17 = add %16, %14 [2,2,2] real\n"
    "%18 = mean %17 [2,1,1] real\n"
    "%19 = output %18 [2,1,1] real\n";

static void test_const_fold_bn(void) {
    stc_ir_t *ir = parse_ok(bn_graph);
    float img[8], before[2], after[2];
    ramp_image(img, 8);
    run(ir, img, before, NULL, NULL);
    /* the composition the pass must produce: (a2*a1, a2*b1 + b2) in double, rounded once, twice over */
    float a[3][2], b[3][2], ea[2], eb[2];
    for (int k = 0; k < 3; k++) stc_ir_bn_affine(&ir->nodes[5 + k], a[k], b[k]);
    for (int c = 0; c < 2; c++) {
        float a12 = (float)((double)a[1][c] * a[0][c]), b12 = (float)((double)a[1][c] * b[0][c] + b[1][c]);
        ea[c] = (float)((double)a[2][c] * a12);
        eb[c] = (float)((double)a[2][c] * b12 + b[2][c]);
    }
    pipeline_ok(ir, "const_fold");
    static const char *const survivors[] = {"", "bn_half", "l", "bn3", "l2", "shared", "after_shared", "",
                                            "l3", "", "", "", "", ""};
    CU_ASSERT_EQUAL_FATAL(ir->n_nodes, 14);
    for (int i = 0; i < 14; i++) CU_ASSERT_STRING_EQUAL(ir->nodes[i].name, survivors[i]);
    CU_ASSERT_EQUAL(count_op(ir, STC_OP_BATCHNORM), 4);
    CU_ASSERT_EQUAL(ir->nodes[1].in[0], 0);  /* bn_half reads the input: two identities gone */
    CU_ASSERT_EQUAL(ir->nodes[3].in[0], 0);  /* bn3 reads the input */
    CU_ASSERT_EQUAL(ir->nodes[8].in[0], 0);  /* l3 reads the input: x2 and half cancelled */
    CU_ASSERT_EQUAL(ir->nodes[6].in[0], 5);  /* after_shared still reads shared */
    /* the representation: weight a, bias b, mean 0, var 1 - 2^-24, eps 2^-24 */
    const stc_node_t *bn = &ir->nodes[3];
    CU_ASSERT_EQUAL(bn->eps, ldexpf(1.0f, -24));
    float ga[2], gb[2];
    stc_ir_bn_affine(bn, ga, gb);
    for (int c = 0; c < 2; c++) {
        CU_ASSERT_EQUAL(stc_ir_param(bn, "weight")->data[c], ea[c]);
        CU_ASSERT_EQUAL(stc_ir_param(bn, "bias")->data[c], eb[c]);
        CU_ASSERT_EQUAL(stc_ir_param(bn, "running_mean")->data[c], 0.0f);
        CU_ASSERT_EQUAL(stc_ir_param(bn, "running_var")->data[c], 1.0f - ldexpf(1.0f, -24));
        CU_ASSERT_EQUAL(ga[c], ea[c]); /* stc_ir_bn_affine gives back exactly the composition */
        CU_ASSERT_EQUAL(gb[c], eb[c]);
    }
    /* shared and after_shared untouched */
    CU_ASSERT_EQUAL(stc_ir_param(&ir->nodes[6], "weight")->data[0], 0.6f);
    CU_ASSERT_EQUAL(ir->nodes[6].eps, 1e-5f);
    run(ir, img, after, NULL, NULL);
    for (int k = 0; k < 2; k++) CU_ASSERT(fabsf(before[k] - after[k]) <= 1e-5f * (1 + fabsf(before[k])));
    /* and the result is a fixed point */
    pipeline_ok(ir, "const_fold");
    CU_ASSERT_EQUAL(ir->n_nodes, 14);
    stc_ir_destroy(&ir);
}

/* Identity batchnorms alone: the function is kept bit for bit. */
static void test_const_fold_bn_identity_exact(void) {
    static const char *g = "stc-ir 1\ngraph T=3\n"
                           "%0 = input [2,2,2] real\n"
                           BN(1, 0, "2,2,2", "bn_id", "0.25", "1 1", "0 0", "0 0", "0.75 0.75")
                           "%2 = lif %1 [2,2,2] spike name=\"l\" tau=2 vth=0.5 vreset=0\n"
                           "%3 = mean %2 [2,1,1] real\n"
                           "%4 = output %3 [2,1,1] real\n";
    stc_ir_t *ir = parse_ok(g);
    float img[8], before[2], after[2];
    ramp_image(img, 8);
    int64_t cb[5], ca[5];
    run(ir, img, before, cb, NULL);
    pipeline_ok(ir, "const_fold");
    CU_ASSERT_EQUAL(ir->n_nodes, 4);
    CU_ASSERT_EQUAL(count_op(ir, STC_OP_BATCHNORM), 0);
    run(ir, img, after, ca, NULL);
    CU_ASSERT_EQUAL(memcmp(before, after, sizeof before), 0);
    CU_ASSERT_EQUAL(cb[2], ca[1]);
    stc_ir_destroy(&ir);
}

/* ------------------------------------------------------------------ dce */

static int add_lif(stc_ir_t *ir, int x, const char *name) {
    stc_err_t err = {0};
    int id = stc_ir_add(ir, STC_OP_LIF, name, 1, &x);
    CU_ASSERT_EQUAL(stc_ir_settle(ir, id, &err), STC_OK);
    return id;
}

static void test_dce(void) {
    /* input -> a -> mean -> output, with dead chains b -> c (off the input) and
     * d (off a), and e off the dead b: built with the API, never verified */
    stc_ir_t *ir = stc_ir_create(2, NULL);
    stc_err_t err = {0};
    int x = stc_ir_add(ir, STC_OP_INPUT, "input", 0, NULL);
    ir->nodes[x].shape = (stc_shape_t){2, 2, 1};
    int b = add_lif(ir, x, "b");
    int a = add_lif(ir, x, "a");
    int c = add_lif(ir, b, "c");
    int d = stc_ir_add(ir, STC_OP_MEAN, "d", 1, &a);
    CU_ASSERT_EQUAL(stc_ir_settle(ir, d, &err), STC_OK);
    add_lif(ir, c, "e");
    int m = stc_ir_add(ir, STC_OP_MEAN, "mean", 1, &a);
    CU_ASSERT_EQUAL(stc_ir_settle(ir, m, &err), STC_OK);
    int o = stc_ir_add(ir, STC_OP_OUTPUT, "output", 1, &m);
    CU_ASSERT_EQUAL(stc_ir_settle(ir, o, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "its result is never used");
    pipeline_ok(ir, "dce"); /* the verifier runs after the pass */
    CU_ASSERT_EQUAL_FATAL(ir->n_nodes, 4);
    static const char *const names[] = {"input", "a", "mean", "output"};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_STRING_EQUAL(ir->nodes[i].name, names[i]);
        CU_ASSERT_EQUAL(ir->nodes[i].id, i);
    }
    CU_ASSERT_EQUAL(ir->nodes[1].in[0], 0);
    CU_ASSERT_EQUAL(ir->nodes[2].in[0], 1);
    CU_ASSERT_EQUAL(ir->nodes[3].in[0], 2);
    /* nothing more to remove */
    pipeline_ok(ir, "dce");
    CU_ASSERT_EQUAL(ir->n_nodes, 4);
    stc_ir_destroy(&ir);
    /* on a verified graph every node reaches the output: nothing changes */
    ir = parse_ok(ssa_graph);
    pipeline_ok(ir, "dce");
    CU_ASSERT_EQUAL(ir->n_nodes, 20);
    stc_ir_destroy(&ir);
}

/* ------------------------------------------------------------------ cse */

/* c2 = c1 (bit for bit); c3 differs in one weight by one ulp; c4 has no
 * bias; l2 reads c2, hence c1: l2 = l1; l3 has another threshold; %9 =
 * add(l2, l1) = add(l1, l1) = %8 once l2 is gone. */
static const char *cse_graph =
    "stc-ir 1\ngraph T=3\n"
    "%0 = input [2,3,3] real\n"
    "%1 = conv2d %0 [2,3,3] real name=\"c1\" k=1 stride=1 pad=0\n"
    "  weight [2,2,1,1] = 0.5 -1 0.25 2\n  bias [2] = 0.125 -0.25\n"
    "%2 = conv2d %0 [2,3,3] real name=\"c2\" k=1 stride=1 pad=0\n"
    "  weight [2,2,1,1] = 0.5 -1 0.25 2\n  bias [2] = 0.125 -0.25\n"
    "%3 = conv2d %0 [2,3,3] real name=\"c3\" k=1 stride=1 pad=0\n"
    "  weight [2,2,1,1] = 0.50000006 -1 0.25 2\n  bias [2] = 0.125 -0.25\n"
    "%4 = conv2d %0 [2,3,3] real name=\"c4\" k=1 stride=1 pad=0\n"
    "  weight [2,2,1,1] = 0.5 -1 0.25 2\n"
    "%5 = lif %1 [2,3,3] spike name=\"l1\" tau=2 vth=0.5 vreset=0\n"
    "%6 = lif %2 [2,3,3] spike name=\"l2\" tau=2 vth=0.5 vreset=0\n"
    "%7 = lif %1 [2,3,3] spike name=\"l3\" tau=2 vth=0.75 vreset=0\n"
    "%8 = add %5, %6 [2,3,3] real name=\"s1\"\n"
    "%9 = add %6, %5 [2,3,3] real name=\"s2\"\n"
    "%10 = add %8, %9 [2,3,3] real name=\"s3\"\n"
    "%11 = add %10, %7 [2,3,3] real\n"
    "%12 = add %3, %4 [2,3,3] real\n"
    "%13 = add %11, %12 [2,3,3] real\n"
    "%14 = mean %13 [2,1,1] real\n"
    "%15 = output %14 [2,1,1] real\n";

static void test_cse(void) {
    stc_ir_t *ir = parse_ok(cse_graph);
    float img[18], before[2], after[2];
    ramp_image(img, 18);
    run(ir, img, before, NULL, NULL);
    pipeline_ok(ir, "cse");
    static const char *const names[] = {"", "c1", "c3", "c4", "l1", "l3", "s1", "s3", "", "", "", "", ""};
    CU_ASSERT_EQUAL_FATAL(ir->n_nodes, 13);
    for (int i = 0; i < 13; i++) CU_ASSERT_STRING_EQUAL(ir->nodes[i].name, names[i]);
    CU_ASSERT_EQUAL(ir->nodes[4].in[0], 1); /* l1 reads c1 */
    CU_ASSERT_EQUAL(ir->nodes[6].in[0], 4); /* s1 = add(l1, l1) */
    CU_ASSERT_EQUAL(ir->nodes[6].in[1], 4);
    CU_ASSERT_EQUAL(ir->nodes[7].in[0], 6); /* s3 = add(s1, s1) */
    CU_ASSERT_EQUAL(ir->nodes[7].in[1], 6);
    run(ir, img, after, NULL, NULL);
    CU_ASSERT_EQUAL(memcmp(before, after, sizeof before), 0); /* the same operations on the same values */
    pipeline_ok(ir, "cse");
    CU_ASSERT_EQUAL(ir->n_nodes, 13);
    stc_ir_destroy(&ir);
}

/* On a quantized graph the integer fields count: lif b = lif a; lif c differs
 * only in qshl/qvth; the adds differ only in qsh or qrsh. */
static const char *cse_quant_graph =
    "stc-ir 1\ngraph T=2 arch=custom quant=1\n"
    "%0 = input [2,1,1] real qstep=0.0625 qexp=4 qbits=8\n"
    "%1 = lif %0 [2,1,1] spike name=\"a\" tau=2 vth=1 vreset=0 qstep=1 qshl=0 qdk=2048 qvth=16 qvreset=0\n"
    "%2 = lif %0 [2,1,1] spike name=\"b\" tau=2 vth=1 vreset=0 qstep=1 qshl=0 qdk=2048 qvth=16 qvreset=0\n"
    "%3 = lif %0 [2,1,1] spike name=\"c\" tau=2 vth=1 vreset=0 qstep=1 qshl=1 qdk=2048 qvth=32 qvreset=0\n"
    "%4 = add %1, %3 [2,1,1] real name=\"s1\" qstep=1 qbits=8 qgraded=1 qsh=0,0 qrsh=0\n"
    "%5 = add %2, %3 [2,1,1] real name=\"s2\" qstep=1 qbits=8 qgraded=1 qsh=0,0 qrsh=0\n"
    "%6 = add %1, %3 [2,1,1] real name=\"s3\" qstep=1 qbits=8 qgraded=1 qsh=1,0 qrsh=0\n"
    "%7 = add %1, %3 [2,1,1] real name=\"s4\" qstep=2 qbits=8 qgraded=1 qsh=0,0 qrsh=1\n"
    "%8 = add %4, %5 [2,1,1] real name=\"t1\" qstep=1 qbits=8 qgraded=1 qsh=0,0 qrsh=0\n"
    "%9 = add %6, %7 [2,1,1] real name=\"t2\" qstep=1 qbits=8 qgraded=1 qsh=0,0 qrsh=0\n"
    "%10 = add %8, %9 [2,1,1] real name=\"t3\" qstep=1 qbits=8 qgraded=1 qsh=0,0 qrsh=0\n"
    "%11 = output %10 [2,1,1] real qstep=1\n";

static void test_cse_quant(void) {
    stc_ir_t *ir = parse_ok(cse_quant_graph);
    pipeline_ok(ir, "cse");
    static const char *const names[] = {"", "a", "c", "s1", "s3", "s4", "t1", "t2", "t3", ""};
    CU_ASSERT_EQUAL_FATAL(ir->n_nodes, 10);
    for (int i = 0; i < 10; i++) CU_ASSERT_STRING_EQUAL(ir->nodes[i].name, names[i]);
    CU_ASSERT_EQUAL(ir->nodes[6].in[0], 3); /* t1 = add(s1, s1) */
    CU_ASSERT_EQUAL(ir->nodes[6].in[1], 3);
    stc_ir_destroy(&ir);
}

/* ------------------------------------------------------- delay_balance */

/* input(0) -> conv (not a stage) -> lif1 (1) -> fc1 (not) -> lif2 (2) -> fc2, graded (3)
 * -> lif3 (4); sdsa(lif1, lif2) (3) -> th_lif (4); mask = mul(lif3, th_lif) (5);
 * residual = add(mask, lif1) (6): operands of depth 5 and 1; mean, head (not
 * stages); output (7). */
static const char *balance_graph =
    "stc-ir 1\ngraph T=2 arch=custom quant=1\n"
    "%0 = input [2,2,2] real name=\"input\" qstep=0.0625 qexp=4 qbits=8\n"
    "%1 = conv2d %0 [2,2,2] real name=\"conv\" k=1 stride=1 pad=0 qstep=0.0625 qexp=0 qbits=8 qgraded=0\n"
    "  weight [2,2,1,1] = 1 0 0 1\n"
    "%2 = lif %1 [2,2,2] spike name=\"lif1\" tau=2 vth=1 vreset=0 qstep=1 qshl=0 qdk=2048 qvth=16 qvreset=0\n"
    "%3 = linear %2 [2,2,2] real name=\"fc1\" qstep=1 qexp=0 qbits=8 qgraded=0\n"
    "  weight [2,2] = 1 -1 2 1\n"
    "%4 = lif %3 [2,2,2] spike name=\"lif2\" tau=2 vth=1 vreset=0 qstep=1 qshl=0 qdk=2048 qvth=1 qvreset=0\n"
    "%5 = linear %4 [2,2,2] real name=\"fc2\" qstep=1 qexp=0 qbits=8 qgraded=1 qrsh=0\n"
    "  weight [2,2] = 1 1 1 -1\n"
    "  bias [2] = 0 1\n"
    "%6 = lif %5 [2,2,2] spike name=\"lif3\" tau=2 vth=1 vreset=0 qstep=1 qshl=0 qdk=2048 qvth=1 qvreset=0\n"
    "%7 = sdsa %2, %4 [2,1,1] real name=\"sdsa\" qstep=1\n"
    "%8 = lif %7 [2,1,1] spike name=\"th_lif\" tau=2 vth=0.5 vreset=0 qstep=1 qshl=0 qdk=2048 qvth=1 "
    "qvreset=0\n"
    "%9 = mul %6, %8 [2,2,2] spike name=\"mask\" qstep=1\n"
    "%10 = add %9, %2 [2,2,2] real name=\"residual\" qstep=1 qbits=8 qgraded=1 qsh=0,0 qrsh=0\n"
    "%11 = mean %10 [2,1,1] real name=\"mean\" qstep=0.25\n"
    "%12 = linear %11 [3,1,1] real name=\"head\" qstep=0.25 qexp=0 qbits=8 qgraded=0\n"
    "  weight [3,2] = 1 2 3 -1 -2 -3\n"
    "%13 = output %12 [3,1,1] real name=\"output\" qstep=0.25\n";

static void test_delay_balance(void) {
    stc_ir_t *ir = parse_ok(balance_graph);
    CU_ASSERT_EQUAL(ir->quant, 1);
    CU_ASSERT_EQUAL(ir->balanced, 0);
    pipeline_ok(ir, "delay_balance"); /* the verifier re-checks every depth after it */
    static const int want[14] = {0, -1, 1, -1, 2, 3, 4, 3, 4, 5, 6, -1, -1, 7};
    for (int i = 0; i < 14; i++) {
        if (ir->nodes[i].depth != want[i])
            fprintf(stderr, "\n  %%%d '%s': depth %d, expected %d\n", i, ir->nodes[i].name,
                    ir->nodes[i].depth, want[i]);
        CU_ASSERT_EQUAL(ir->nodes[i].depth, want[i]);
    }
    CU_ASSERT_EQUAL(ir->balanced, 1);
    /* stages as the hardware sees them */
    static const int stage[14] = {1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1};
    for (int i = 0; i < 14; i++) CU_ASSERT_EQUAL(stc_ir_is_stage(ir, i), stage[i]);
    /* running it again changes nothing */
    pipeline_ok(ir, "delay_balance");
    for (int i = 0; i < 14; i++) CU_ASSERT_EQUAL(ir->nodes[i].depth, want[i]);
    /* the text form carries the depths */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_print(ir, f, STC_IR_PRINT_WEIGHTS, &err), STC_OK);
    fclose(f);
    STC_ASSERT_CONTAINS(buf, "graph T=2 arch=custom quant=1 balanced=1\n");
    STC_ASSERT_CONTAINS(buf, "name=\"residual\" qstep=1 qbits=8 qgraded=1 qsh=0,0 qrsh=0 depth=6\n");
    STC_ASSERT_CONTAINS(buf, "name=\"mean\" qstep=0.25\n"); /* no depth on a non-stage */
    stc_ir_t *ir2 = stc_ir_parse(buf, n, "balanced.stcir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir2);
    CU_ASSERT_EQUAL(stc_ir_verify(ir2, &err), STC_OK);
    for (int i = 0; i < 14; i++) CU_ASSERT_EQUAL(ir2->nodes[i].depth, want[i]);
    free(buf);
    stc_ir_destroy(&ir2);
    /* a later change that makes fc1 a stage without balancing again is caught */
    ir->nodes[3].qgraded = 1;
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %3 'fc1' (linear): depth=-1, expected 2");
    stc_ir_destroy(&ir);
}

static void test_delay_balance_needs_quant(void) {
    stc_ir_t *ir = parse_ok(ssa_graph);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_pass_pipeline(ir, "delay_balance", NULL, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "delay_balance needs a quantized graph: run quantize first");
    CU_ASSERT_EQUAL(ir->balanced, 0);
    for (int i = 0; i < ir->n_nodes; i++) CU_ASSERT_EQUAL(ir->nodes[i].depth, -1);
    stc_ir_destroy(&ir);
}

/* ----------------------------------------------------- the real models */

static stc_ir_t *load_model(const char *arch) {
    char path[1024];
    stc_err_t err = {0};
    snprintf(path, sizeof path, MODELS "%s/model.pth", arch);
    stc_ckpt_t *ck = stc_ckpt_load(path, &err);
    if (!ck) fprintf(stderr, "\n  %s: %s (run ctest -R make_test_data)\n", path, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    snprintf(path, sizeof path, MODELS "%s/model.json", arch);
    CU_ASSERT_EQUAL_FATAL(stc_model_cfg_load(&cfg, path, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_model_recognize(ck, &cfg, &err), STC_OK);
    stc_ir_t *ir = stc_model_import(ck, &cfg, &err);
    if (!ir) fprintf(stderr, "\n  %s: %s\n", arch, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_ckpt_destroy(&ck);
    return ir;
}

static stc_input_t *load_inputs(const char *arch, int limit) {
    char path[1024];
    stc_err_t err = {0};
    snprintf(path, sizeof path, MODELS "%s/inputs.npy", arch);
    stc_input_t *in = stc_input_load(path, NULL, NULL, limit, &err);
    if (!in) fprintf(stderr, "\n  %s: %s\n", path, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    return in;
}

static const char *const real_archs[] = {"spikformer_cifar", "sdt", "spikformer_imagenet"};

/* -O2 against -O1: const_fold moves each attention scale (0.125, a power of
 * two) into its LIF, and nothing else changes the function, so logits and the
 * spike count of every LIF (by name) are bit-identical on the test inputs. */
static void test_o2_real_models(void) {
    for (int a = 0; a < 3; a++) {
        stc_ir_t *o1 = load_model(real_archs[a]), *o2 = load_model(real_archs[a]);
        pipeline_ok(o1, "-O1");
        pipeline_ok(o2, "-O2");
        int n_ssa = count_op(o1, STC_OP_SSA), folded = 0;
        for (int i = 0; i < o2->n_nodes; i++)
            if (o2->nodes[i].op == STC_OP_SSA) {
                CU_ASSERT_EQUAL(o2->nodes[i].scale, 1.0f);
                folded++;
            }
        CU_ASSERT_EQUAL(folded, n_ssa);
        if (!strcmp(real_archs[a], "sdt")) {
            CU_ASSERT_EQUAL(n_ssa, 0);
        } else {
            CU_ASSERT(n_ssa > 0);
        }
        /* nothing else to fold, remove or merge in these models */
        CU_ASSERT_EQUAL(o2->n_nodes, o1->n_nodes);
        stc_input_t *in = load_inputs(real_archs[a], 4);
        int K = o1->nodes[o1->n_nodes - 1].shape.c;
        int64_t per = in->c * in->h * in->w;
        float *l1 = calloc((size_t)K, sizeof(float)), *l2 = calloc((size_t)K, sizeof(float));
        int64_t *c1 = calloc((size_t)o1->n_nodes, sizeof(int64_t));
        int64_t *c2 = calloc((size_t)o2->n_nodes, sizeof(int64_t));
        int same_logits = 1, same_counts = 1;
        for (int64_t k = 0; k < in->n; k++) {
            run(o1, in->data + k * per, l1, c1, NULL);
            run(o2, in->data + k * per, l2, c2, NULL);
            same_logits &= !memcmp(l1, l2, (size_t)K * sizeof(float));
            for (int i = 0; i < o1->n_nodes; i++) same_counts &= c1[i] == c2[i];
        }
        CU_ASSERT(same_logits);
        CU_ASSERT(same_counts);
        free(l1);
        free(l2);
        free(c1);
        free(c2);
        stc_input_destroy(&in);
        stc_ir_destroy(&o1);
        stc_ir_destroy(&o2);
    }
}

/* The stage depths a term of node id comes from, by recursion through
 * non-stage nodes (independent of the pass's single forward sweep). */
static int term_depth(const stc_ir_t *ir, int id) {
    if (stc_ir_is_stage(ir, id)) return ir->nodes[id].depth;
    int m = -1;
    for (int k = 0; k < ir->nodes[id].n_in; k++) {
        int d = term_depth(ir, ir->nodes[id].in[k]);
        if (d > m) m = d;
    }
    return m;
}

/* After fold_bn, with ir->quant set by hand and the quantizer's grading rule
 * (add always; conv/linear read by anything but lif, add or output) applied
 * by hand: every stage's depth is 1 + the deepest of its term sources, every
 * add joins operands of different depths, and the output is the deepest. */
static void test_delay_balance_real_models(void) {
    for (int a = 0; a < 2; a++) {
        stc_ir_t *ir = load_model(real_archs[a]);
        pipeline_ok(ir, "fold_bn");
        ir->quant = 1;
        int graded_convs = 0;
        for (int i = 0; i < ir->n_nodes; i++) {
            stc_node_t *n = &ir->nodes[i];
            if (n->op == STC_OP_ADD) n->qgraded = 1;
            if (n->op != STC_OP_CONV2D && n->op != STC_OP_LINEAR) continue;
            for (int j = i + 1; j < ir->n_nodes; j++)
                for (int k = 0; k < ir->nodes[j].n_in; k++) {
                    stc_op_t u = ir->nodes[j].op;
                    if (ir->nodes[j].in[k] == i && u != STC_OP_LIF && u != STC_OP_ADD && u != STC_OP_OUTPUT)
                        n->qgraded = 1;
                }
            graded_convs += n->qgraded;
        }
        if (!strcmp(real_archs[a], "sdt")) CU_ASSERT(graded_convs > 0); /* maxpool(conv) in the stem */
        stc_err_t err = {0};
        CU_ASSERT_EQUAL_FATAL(stc_pass_delay_balance(ir, NULL, &err), STC_OK);
        CU_ASSERT_EQUAL(ir->balanced, 1);
        CU_ASSERT_EQUAL(ir->nodes[0].depth, 0);
        int max_depth = 0, adds = 0, uneven = 0, ok = 1;
        for (int i = 1; i < ir->n_nodes; i++) {
            const stc_node_t *n = &ir->nodes[i];
            if (!stc_ir_is_stage(ir, i)) {
                ok &= n->depth == -1;
                continue;
            }
            int m = -1;
            for (int k = 0; k < n->n_in; k++) {
                int d = term_depth(ir, n->in[k]);
                if (d > m) m = d;
            }
            if (n->depth != 1 + m)
                fprintf(stderr, "\n  %s %%%d '%s': depth %d, expected %d\n", real_archs[a], i, n->name,
                        n->depth, 1 + m);
            ok &= n->depth == 1 + m;
            if (n->depth > max_depth) max_depth = n->depth;
            if (n->op == STC_OP_ADD) {
                adds++;
                uneven += term_depth(ir, n->in[0]) != term_depth(ir, n->in[1]);
            }
        }
        CU_ASSERT(ok);
        CU_ASSERT(adds >= 2);
        CU_ASSERT(uneven >= 1); /* residuals join a shallow and a deep operand: what the delays are for */
        CU_ASSERT_EQUAL(ir->nodes[ir->n_nodes - 1].depth, max_depth);
        CU_ASSERT(max_depth >= 5);
        stc_ir_destroy(&ir);
    }
}

/* ------------------------------------------------------------ the levels */

static void test_levels(void) {
    const char *const *names, *const *sums;
    int n = stc_pass_list(&names, &sums);
    static const char *const mine[] = {"const_fold", "dce", "cse", "delay_balance"};
    for (int k = 0; k < 4; k++) {
        int found = 0;
        for (int p = 0; p < n; p++) found |= !strcmp(names[p], mine[k]) && sums[p][0];
        CU_ASSERT(found);
    }
    /* -O2 runs const_fold: the ssa graph's scale is folded; -O1 leaves it */
    stc_ir_t *ir = parse_ok(ssa_graph);
    pipeline_ok(ir, "-O1");
    CU_ASSERT_EQUAL(ir->nodes[4].scale, 0.125f);
    pipeline_ok(ir, "-O2");
    CU_ASSERT_EQUAL(ir->nodes[4].scale, 1.0f);
    stc_ir_destroy(&ir);
    /* -O3 composes batchnorms and merges duplicates too */
    ir = parse_ok(cse_graph);
    pipeline_ok(ir, "-O3");
    CU_ASSERT_EQUAL(ir->n_nodes, 13);
    stc_ir_destroy(&ir);
    /* delay_balance is not part of any level: -O3 on a float graph succeeds */
    ir = parse_ok(bn_graph);
    pipeline_ok(ir, "-O3");
    CU_ASSERT_EQUAL(ir->balanced, 0);
    stc_ir_destroy(&ir);
}

void stc_suite_opt_passes(void) {
    static const stc_test_t tests[] = {
        {"const_fold: ssa scale into its lif", test_const_fold_ssa},
        {"const_fold: identity and composed batchnorms", test_const_fold_bn},
        {"const_fold: identity batchnorm is exact", test_const_fold_bn_identity_exact},
        {"dce", test_dce},
        {"cse", test_cse},
        {"cse: quantized fields", test_cse_quant},
        {"delay_balance: hand-built depths", test_delay_balance},
        {"delay_balance: needs a quantized graph", test_delay_balance_needs_quant},
        {"-O2 on the real models: bit-identical to -O1", test_o2_real_models},
        {"delay_balance on the real models", test_delay_balance_real_models},
        {"levels", test_levels},
        {NULL, NULL}};
    stc_add_suite("opt_passes", tests);
}
