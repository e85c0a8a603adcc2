/* test_ir_verify.c - suite "ir_verify": graph building, shape inference, the verifier and
 * static costs (compiler/ir/ir.c).
 *
 * Graphs are built with the API (stc_ir_create/add/add_param/settle); each bad
 * case takes a good graph and breaks one thing, and the verifier must refuse it
 * with a message naming the node ("%2 'patch_embed.proj_bn' (batchnorm)") and
 * the problem.  Costs are checked against counts worked out by hand.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_ir.h"
#include "test_util.h"

/* ------------------------------------------------------------- builders */

static float *ramp(int64_t n, float scale) {
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = scale * (float)((i * 7) % 11 - 5);
    return v;
}

static void settle_ok(stc_ir_t *ir, int id) {
    stc_err_t err = {0};
    stc_status_t st = stc_ir_settle(ir, id, &err);
    if (st) fprintf(stderr, "\n  settle %%%d: %s\n", id, err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
}

static int add_input(stc_ir_t *ir, int c, int h, int w) {
    int id = stc_ir_add(ir, STC_OP_INPUT, "input", 0, NULL);
    ir->nodes[id].shape = (stc_shape_t){c, h, w};
    ir->nodes[id].vtype = STC_VT_REAL;
    settle_ok(ir, id);
    return id;
}

static int add_conv(stc_ir_t *ir, int x, const char *name, int co, int k, int stride, int pad,
                    int bias) {
    int ci = ir->nodes[x].shape.c;
    int id = stc_ir_add(ir, STC_OP_CONV2D, name, 1, &x);
    ir->nodes[id].k = k;
    ir->nodes[id].stride = stride;
    ir->nodes[id].pad = pad;
    float *w = ramp((int64_t)co * ci * k * k, 0.125f);
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, id, "weight", 4, (int64_t[]){co, ci, k, k}, w));
    if (bias) CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, id, "bias", 1, (int64_t[]){co}, w));
    free(w);
    settle_ok(ir, id);
    return id;
}

static int add_linear(stc_ir_t *ir, int x, const char *name, int co) {
    int ci = ir->nodes[x].shape.c;
    int id = stc_ir_add(ir, STC_OP_LINEAR, name, 1, &x);
    float *w = ramp((int64_t)co * ci, 0.25f);
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, id, "weight", 2, (int64_t[]){co, ci}, w));
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, id, "bias", 1, (int64_t[]){co}, w));
    free(w);
    settle_ok(ir, id);
    return id;
}

static int add_bn(stc_ir_t *ir, int x, const char *name) {
    int c = ir->nodes[x].shape.c;
    int id = stc_ir_add(ir, STC_OP_BATCHNORM, name, 1, &x);
    static const char *roles[] = {"weight", "bias", "running_mean", "running_var"};
    float *v = malloc((size_t)c * sizeof *v);
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < c; i++) v[i] = 1.0f + 0.5f * (float)(i + r);
        CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, id, roles[r], 1, (int64_t[]){c}, v));
    }
    free(v);
    settle_ok(ir, id);
    return id;
}

static int add1(stc_ir_t *ir, stc_op_t op, int x, const char *name) {
    int id = stc_ir_add(ir, op, name, 1, &x);
    settle_ok(ir, id);
    return id;
}

static int add2(stc_ir_t *ir, stc_op_t op, int a, int b, const char *name) {
    int id = stc_ir_add(ir, op, name, 2, (int[]){a, b});
    settle_ok(ir, id);
    return id;
}

static int add_pool(stc_ir_t *ir, int x, const char *name, int k, int stride, int pad) {
    int id = stc_ir_add(ir, STC_OP_MAXPOOL, name, 1, &x);
    ir->nodes[id].k = k;
    ir->nodes[id].stride = stride;
    ir->nodes[id].pad = pad;
    settle_ok(ir, id);
    return id;
}

/* %0 input [2,4,4] -> %1 conv -> %2 bn -> %3 lif -> %4 maxpool -> %5 linear -> %6 lif
 *   -> %7 mean -> %8 linear -> %9 output */
static stc_ir_t *good_graph(void) {
    stc_ir_t *ir = stc_ir_create(4, "custom");
    int x = add_input(ir, 2, 4, 4);
    x = add_conv(ir, x, "patch_embed.proj_conv", 3, 3, 1, 1, 1);
    x = add_bn(ir, x, "patch_embed.proj_bn");
    x = add1(ir, STC_OP_LIF, x, "patch_embed.proj_lif");
    x = add_pool(ir, x, "patch_embed.maxpool", 3, 2, 1);
    x = add_linear(ir, x, "block.0.mlp.fc1_linear", 4);
    x = add1(ir, STC_OP_LIF, x, "block.0.mlp.fc1_lif");
    x = add1(ir, STC_OP_MEAN, x, "token_mean");
    x = add_linear(ir, x, "head", 2);
    add1(ir, STC_OP_OUTPUT, x, "output");
    return ir;
}

/* %0 input [4,2,3] -> %1..%3 lif q,k,v -> %4 ssa -> %5 lif -> %6 add -> %7 mean -> %8 output */
static stc_ir_t *ssa_graph(void) {
    stc_ir_t *ir = stc_ir_create(2, "spikformer_cifar");
    int x = add_input(ir, 4, 2, 3);
    int q = add1(ir, STC_OP_LIF, x, "block.0.attn.q_lif");
    int k = add1(ir, STC_OP_LIF, x, "block.0.attn.k_lif");
    int v = add1(ir, STC_OP_LIF, x, "block.0.attn.v_lif");
    int a = stc_ir_add(ir, STC_OP_SSA, "block.0.attn", 3, (int[]){q, k, v});
    ir->nodes[a].heads = 2;
    settle_ok(ir, a);
    a = add1(ir, STC_OP_LIF, a, "block.0.attn.attn_lif");
    a = add2(ir, STC_OP_ADD, a, x, "block.0.attn_residual");
    a = add1(ir, STC_OP_MEAN, a, "token_mean");
    add1(ir, STC_OP_OUTPUT, a, "output");
    return ir;
}

/* verify must fail with a message containing both needles */
static void expect_bad(const stc_ir_t *ir, const char *needle1, const char *needle2) {
    stc_err_t err = {0};
    stc_status_t st = stc_ir_verify(ir, &err);
    CU_ASSERT_NOT_EQUAL(st, STC_OK);
    CU_ASSERT_EQUAL(err.status, st);
    int ok = strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2));
    if (!ok)
        fprintf(stderr, "\n  message \"%s\"\n  expected \"%s\"%s%s\n", err.msg, needle1,
                needle2 ? " and " : "", needle2 ? needle2 : "");
    CU_ASSERT(ok);
}

static void expect_good(const stc_ir_t *ir) {
    stc_err_t err = {0};
    stc_status_t st = stc_ir_verify(ir, &err);
    if (st) fprintf(stderr, "\n  verify: %s\n", err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
}

/* ---------------------------------------------------------------- tests */

/* The usage example: build, settle, verify, destroy. */
static void test_good(void) {
    stc_ir_t *ir = good_graph();
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(ir->n_nodes, 10);
    expect_good(ir);
    /* inferred shapes and value types */
    CU_ASSERT_EQUAL(ir->nodes[1].shape.c, 3);
    CU_ASSERT_EQUAL(ir->nodes[1].shape.h, 4);
    CU_ASSERT_EQUAL(ir->nodes[3].vtype, STC_VT_SPIKE);
    CU_ASSERT_EQUAL(ir->nodes[4].shape.h, 2);
    CU_ASSERT_EQUAL(ir->nodes[4].shape.w, 2);
    CU_ASSERT_EQUAL(ir->nodes[4].vtype, STC_VT_SPIKE); /* max of spikes is a spike */
    CU_ASSERT_EQUAL(ir->nodes[5].shape.c, 4);
    CU_ASSERT_EQUAL(ir->nodes[5].vtype, STC_VT_REAL);
    CU_ASSERT_EQUAL(ir->nodes[7].shape.h, 1);
    CU_ASSERT_EQUAL(ir->nodes[9].shape.c, 2);
    /* defaults of stc_ir_add */
    CU_ASSERT_EQUAL(ir->nodes[3].tau, 2.0f);
    CU_ASSERT_EQUAL(ir->nodes[3].vth, 1.0f);
    CU_ASSERT_EQUAL(ir->nodes[3].vreset, 0.0f);
    CU_ASSERT_EQUAL(ir->nodes[2].eps, 1e-5f);
    CU_ASSERT_PTR_NOT_NULL(stc_ir_node(ir, 9));
    CU_ASSERT_PTR_NULL(stc_ir_node(ir, 10));
    CU_ASSERT_PTR_NULL(stc_ir_node(ir, -1));
    CU_ASSERT_PTR_NULL(stc_ir_param(&ir->nodes[3], "weight"));
    stc_ir_destroy(&ir);
    CU_ASSERT_PTR_NULL(ir);

    ir = ssa_graph();
    expect_good(ir);
    CU_ASSERT_EQUAL(ir->nodes[4].vtype, STC_VT_REAL);
    CU_ASSERT_EQUAL(ir->nodes[6].vtype, STC_VT_REAL);
    stc_ir_destroy(&ir);

    /* SDT attention: sdsa, lif, mul broadcast (spike x spike = spike) */
    ir = stc_ir_create(4, "sdt");
    int x = add_input(ir, 4, 3, 3);
    int q = add1(ir, STC_OP_LIF, x, "q_lif");
    int k = add1(ir, STC_OP_LIF, x, "k_lif");
    int v = add1(ir, STC_OP_LIF, x, "v_lif");
    int kv = add2(ir, STC_OP_SDSA, k, v, "sdsa");
    CU_ASSERT_EQUAL(ir->nodes[kv].shape.h, 1);
    CU_ASSERT_EQUAL(ir->nodes[kv].vtype, STC_VT_REAL);
    kv = add1(ir, STC_OP_LIF, kv, "talking_heads_lif");
    int m = add2(ir, STC_OP_MUL, q, kv, "mask");
    CU_ASSERT_EQUAL(ir->nodes[m].shape.h, 3);
    CU_ASSERT_EQUAL(ir->nodes[m].vtype, STC_VT_SPIKE);
    m = add2(ir, STC_OP_MUL, m, x, "real_mul");
    CU_ASSERT_EQUAL(ir->nodes[m].vtype, STC_VT_REAL);
    m = add1(ir, STC_OP_MEAN, m, "mean");
    add1(ir, STC_OP_OUTPUT, m, "output");
    expect_good(ir);
    stc_ir_destroy(&ir);
}

static void test_cycle(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[3].in[0] = 5; /* lif reads a later node: a cycle through %5 */
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): input 0 refers to %5",
               "expected an earlier node (%0..%2)");
    ir->nodes[3].in[0] = 3; /* itself */
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): input 0 refers to %3", NULL);
    ir->nodes[3].in[0] = -1;
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): input 0 refers to %-1", NULL);
    stc_ir_destroy(&ir);
}

static void test_arity(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[3].n_in = 2;
    ir->nodes[3].in[1] = 1;
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): takes 1 inputs, has 2", NULL);
    ir->nodes[3].n_in = 0;
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): takes 1 inputs, has 0", NULL);
    stc_ir_destroy(&ir);
    /* stc_ir_add refuses more than STC_MAX_INPUTS */
    ir = stc_ir_create(1, NULL);
    CU_ASSERT_STRING_EQUAL(ir->arch, "custom");
    CU_ASSERT_EQUAL(stc_ir_add(ir, STC_OP_SSA, "x", 4, (int[]){0, 0, 0, 0}), -1);
    CU_ASSERT_EQUAL(stc_ir_add(ir, STC_OP_SSA, "x", -1, NULL), -1);
    CU_ASSERT_EQUAL(ir->n_nodes, 0);
    stc_ir_destroy(&ir);
}

static void test_add_shape_mismatch(void) {
    stc_ir_t *ir = stc_ir_create(2, NULL);
    int x = add_input(ir, 2, 4, 4);
    int l = add1(ir, STC_OP_LIF, x, "lif");
    int p = add_pool(ir, l, "pool", 3, 2, 1);
    int a = stc_ir_add(ir, STC_OP_ADD, "block.0.attn_residual", 2, (int[]){l, p});
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_settle(ir, a, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %3 'block.0.attn_residual' (add): operands [2,4,4] and [2,2,2] "
                                 "differ in shape");
    ir->nodes[a].shape = (stc_shape_t){2, 4, 4};
    a = add1(ir, STC_OP_MEAN, a, "mean");
    add1(ir, STC_OP_OUTPUT, a, "output");
    expect_bad(ir, "node %3 'block.0.attn_residual' (add): operands [2,4,4] and [2,2,2] differ", NULL);
    stc_ir_destroy(&ir);
}

static void test_conv_channels(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[1].params[0].shape[1] = 5;
    expect_bad(ir, "node %1 'patch_embed.proj_conv' (conv2d): parameter 'weight' has shape [3,5,3,3], "
                   "expected [3,2,3,3]", NULL);
    ir->nodes[1].params[0].shape[1] = 2;
    ir->nodes[1].k = 5;
    ir->nodes[1].pad = 2;
    expect_bad(ir, "(conv2d): parameter 'weight' has shape [3,2,3,3], expected [3,2,5,5]", NULL);
    ir->nodes[1].k = 3;
    ir->nodes[1].pad = 1;
    ir->nodes[1].params[1].shape[0] = 4; /* bias */
    expect_bad(ir, "node %1 'patch_embed.proj_conv' (conv2d): parameter 'bias' has shape [4], expected [3]",
               NULL);
    ir->nodes[1].params[1].shape[0] = 3;
    ir->nodes[1].params[0].ndim = 3;
    expect_bad(ir, "node %1 'patch_embed.proj_conv' (conv2d): needs a 4-d 'weight' [Co,Ci,k,k]", NULL);
    ir->nodes[1].params[0].ndim = 4;
    expect_good(ir);
    /* attributes */
    ir->nodes[1].pad = 3;
    expect_bad(ir, "(conv2d): k=3 stride=1 pad=3, expected k>0, stride>0, 0<=pad<k", NULL);
    ir->nodes[1].pad = 1;
    ir->nodes[1].stride = 0;
    expect_bad(ir, "(conv2d): k=3 stride=0 pad=1", NULL);
    ir->nodes[1].stride = 1;
    /* linear: in features must be the input channels */
    ir->nodes[5].params[0].shape[1] = 2;
    expect_bad(ir, "node %5 'block.0.mlp.fc1_linear' (linear): parameter 'weight' has shape [4,2], "
                   "expected [4,3]", NULL);
    ir->nodes[5].params[0].ndim = 4;
    expect_bad(ir, "node %5 'block.0.mlp.fc1_linear' (linear): needs a 2-d 'weight' [Co,Ci]", NULL);
    stc_ir_destroy(&ir);
}

/* A kernel larger than the padded input has no output, whatever the stride (PyTorch
 * refuses it); C's division rounding toward zero must not make it one row. */
static void test_conv_too_small(void) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = add_input(ir, 1, 1, 5);
    int c = stc_ir_add(ir, STC_OP_CONV2D, "c", 1, &x);
    ir->nodes[c].k = 2;
    ir->nodes[c].stride = 2;
    float w[4] = {1, 1, 1, 1};
    stc_ir_add_param(ir, c, "weight", 4, (int64_t[]){1, 1, 2, 2}, w);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_settle(ir, c, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %1 'c' (conv2d): input [1,1,5] too small for k=2");
    ir->nodes[c].pad = 1; /* now 1 + 2 - 2 = 1 >= 0: one row */
    settle_ok(ir, c);
    CU_ASSERT_EQUAL(ir->nodes[c].shape.h, 1);
    CU_ASSERT_EQUAL(ir->nodes[c].shape.w, 3);
    int p = stc_ir_add(ir, STC_OP_MAXPOOL, "p", 1, &c);
    ir->nodes[p].k = 3;
    ir->nodes[p].stride = 3;
    CU_ASSERT_EQUAL(stc_ir_settle(ir, p, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %2 'p' (maxpool): input [1,1,3] too small for k=3");
    ir->nodes[p].pad = 1;
    settle_ok(ir, p);
    CU_ASSERT_EQUAL(ir->nodes[p].shape.h, 1);
    CU_ASSERT_EQUAL(ir->nodes[p].shape.w, 1);
    ir->nodes[p].pad = 2;
    CU_ASSERT_EQUAL(stc_ir_settle(ir, p, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "(maxpool): k=3 stride=3 pad=2, expected k>0, stride>0, 0<=pad<=k/2");
    stc_ir_destroy(&ir);
}

static void test_declared_shape(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[5].shape.c = 7;
    expect_bad(ir, "node %5 'block.0.mlp.fc1_linear' (linear): declared shape [7,2,2], its inputs give "
                   "[4,2,2]", NULL);
    ir->nodes[5].shape.c = 4;
    ir->nodes[4].shape.w = 3;
    expect_bad(ir, "node %4 'patch_embed.maxpool' (maxpool): declared shape [3,2,3], its inputs give [3,2,2]",
               NULL);
    ir->nodes[4].shape.w = 2;
    ir->nodes[0].shape.c = 0;
    expect_bad(ir, "node %0 'input' (input): input shape [0,4,4] must be positive", NULL);
    stc_ir_destroy(&ir);
}

static void test_declared_vtype(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[6].vtype = STC_VT_REAL;
    expect_bad(ir, "node %6 'block.0.mlp.fc1_lif' (lif): declared real, its inputs give spike", NULL);
    ir->nodes[6].vtype = STC_VT_SPIKE;
    ir->nodes[2].vtype = STC_VT_SPIKE;
    expect_bad(ir, "node %2 'patch_embed.proj_bn' (batchnorm): declared spike, its inputs give real", NULL);
    stc_ir_destroy(&ir);
}

static void test_ssa_spikes(void) {
    stc_ir_t *ir = ssa_graph();
    ir->nodes[4].in[1] = 0; /* k from the (real) input */
    expect_bad(ir, "node %4 'block.0.attn' (ssa): q, k and v must be spikes", NULL);
    ir->nodes[4].in[1] = 2;
    expect_good(ir);
    /* and SDSA */
    stc_ir_destroy(&ir);
    ir = stc_ir_create(1, NULL);
    int x = add_input(ir, 2, 2, 2);
    int k = add1(ir, STC_OP_LIF, x, "k");
    int s = stc_ir_add(ir, STC_OP_SDSA, "sdsa", 2, (int[]){k, x});
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_settle(ir, s, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %2 'sdsa' (sdsa): k and v must be spikes");
    stc_ir_destroy(&ir);
}

static void test_ssa_heads(void) {
    stc_ir_t *ir = ssa_graph();
    ir->nodes[4].heads = 3;
    expect_bad(ir, "node %4 'block.0.attn' (ssa): heads=3 must divide the 4 channels", NULL);
    ir->nodes[4].heads = 0;
    expect_bad(ir, "node %4 'block.0.attn' (ssa): heads=0 must divide the 4 channels", NULL);
    ir->nodes[4].heads = 4;
    expect_good(ir);
    ir->nodes[4].scale = INFINITY;
    expect_bad(ir, "node %4 'block.0.attn' (ssa): scale must be finite", NULL);
    ir->nodes[4].scale = 0.125f;
    /* the tokens change layout: the ssa output follows q */
    for (int i = 0; i < 4; i++) ir->nodes[i].shape = (stc_shape_t){4, 3, 2};
    expect_bad(ir, "node %4 'block.0.attn' (ssa): declared shape [4,2,3], its inputs give [4,3,2]", NULL);
    stc_ir_destroy(&ir);
    /* channel counts differ: caught by inference */
    ir = stc_ir_create(1, NULL);
    int a = add_input(ir, 4, 2, 2);
    int b = add_input(ir, 2, 2, 4); /* a second input, fine for settle */
    int qa = add1(ir, STC_OP_LIF, a, "q"), kb = add1(ir, STC_OP_LIF, b, "k");
    int s = stc_ir_add(ir, STC_OP_SSA, "attn", 3, (int[]){qa, kb, kb});
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_settle(ir, s, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %4 'attn' (ssa): q [4,2,2], k [2,2,4], v [2,2,4] must have one shape");
    stc_ir_destroy(&ir);
}

static void test_bn_params(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[2].n_params = 3; /* drop running_var */
    expect_bad(ir, "node %2 'patch_embed.proj_bn' (batchnorm): missing parameter 'running_var'", NULL);
    ir->nodes[2].n_params = 4;
    ir->nodes[2].params[2].shape[0] = 4;
    expect_bad(ir, "node %2 'patch_embed.proj_bn' (batchnorm): parameter 'running_mean' has shape [4], "
                   "expected [3]", NULL);
    ir->nodes[2].params[2].shape[0] = 3;
    ir->nodes[2].eps = 0.0f;
    expect_bad(ir, "node %2 'patch_embed.proj_bn' (batchnorm): eps=0, expected > 0", NULL);
    ir->nodes[2].eps = NAN;
    expect_bad(ir, "node %2 'patch_embed.proj_bn' (batchnorm): eps=nan, expected > 0", NULL);
    ir->nodes[2].eps = 1e-5f;
    expect_good(ir);
    stc_ir_destroy(&ir);
}

static void test_non_finite(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[1].params[0].data[5] = NAN;
    expect_bad(ir, "node %1 'patch_embed.proj_conv' (conv2d): parameter 'weight' element 5 is not finite",
               NULL);
    ir->nodes[1].params[0].data[5] = 0.5f;
    ir->nodes[2].params[3].data[2] = INFINITY;
    expect_bad(ir, "node %2 'patch_embed.proj_bn' (batchnorm): parameter 'running_var' element 2 is not "
                   "finite", NULL);
    ir->nodes[2].params[3].data[2] = -INFINITY;
    expect_bad(ir, "parameter 'running_var' element 2 is not finite", NULL);
    ir->nodes[2].params[3].data[2] = 1.0f;
    expect_good(ir);
    /* LIF attributes */
    ir->nodes[3].vth = INFINITY;
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): tau=2 vth=inf vreset=0, expected tau >= 1", NULL);
    ir->nodes[3].vth = 1.0f;
    ir->nodes[3].tau = 0.5f;
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): tau=0.5", "expected tau >= 1");
    ir->nodes[3].tau = NAN;
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif): tau=nan", NULL);
    ir->nodes[3].tau = 2.0f;
    ir->nodes[3].vreset = NAN;
    expect_bad(ir, "node %3 'patch_embed.proj_lif' (lif)", "vreset=nan");
    stc_ir_destroy(&ir);
}

static void test_input_first(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[0].op = STC_OP_LIF;
    expect_bad(ir, "node %0 'input' (lif): the input must be the first node and only it", NULL);
    ir->nodes[0].op = STC_OP_INPUT;
    ir->nodes[4].op = STC_OP_INPUT;
    expect_bad(ir, "node %4 'patch_embed.maxpool' (input): the input must be the first node and only it",
               NULL);
    stc_ir_destroy(&ir);
}

static void test_output_last(void) {
    stc_ir_t *ir = good_graph();
    ir->nodes[9].op = STC_OP_MEAN;
    expect_bad(ir, "node %9 'output' (mean): the output must be the last node and only it", NULL);
    ir->nodes[9].op = STC_OP_OUTPUT;
    ir->nodes[7].op = STC_OP_OUTPUT;
    expect_bad(ir, "node %7 'token_mean' (output): the output must be the last node and only it", NULL);
    ir->nodes[7].op = STC_OP_MEAN;
    expect_good(ir);
    stc_ir_destroy(&ir);
    /* the output node's input must be [K,1,1]; nothing may read the output */
    ir = stc_ir_create(1, NULL);
    int x = add_input(ir, 2, 3, 1);
    int o = stc_ir_add(ir, STC_OP_OUTPUT, "output", 1, &x);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_settle(ir, o, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %1 'output' (output): input must be [K,1,1], found [2,3,1]");
    ir->nodes[0].shape = (stc_shape_t){2, 1, 1};
    settle_ok(ir, o);
    int l = stc_ir_add(ir, STC_OP_LIF, "after", 1, &o);
    CU_ASSERT_EQUAL(stc_ir_settle(ir, l, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %2 'after' (lif): reads the output node %1");
    stc_ir_destroy(&ir);
}

static void test_unused(void) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = add_input(ir, 2, 1, 1);
    int a = add1(ir, STC_OP_LIF, x, "a");
    add1(ir, STC_OP_LIF, a, "block.0.unused_lif");
    int m = add1(ir, STC_OP_MEAN, a, "mean");
    add1(ir, STC_OP_OUTPUT, m, "output");
    expect_bad(ir, "node %2 'block.0.unused_lif' (lif): its result is never used", NULL);
    ir->nodes[3].in[0] = 2;
    expect_good(ir);
    ir->nodes[2].name = "";
    ir->nodes[3].in[0] = 1;
    expect_bad(ir, "node %2 (lif): its result is never used", NULL); /* unnamed */
    stc_ir_destroy(&ir);
}

static void test_graph_level(void) {
    stc_ir_t *ir = good_graph();
    ir->T = 0;
    expect_bad(ir, "graph: T=0 timesteps, expected 1..10000", NULL);
    ir->T = 10001;
    expect_bad(ir, "graph: T=10001 timesteps", NULL);
    ir->T = 10000;
    expect_good(ir);
    ir->n_nodes = 1;
    expect_bad(ir, "graph: 1 nodes, expected at least input and output", NULL);
    ir->n_nodes = 10;
    ir->nodes[4].id = 7;
    expect_bad(ir, "node 4: id field says 7", NULL);
    ir->nodes[4].id = 4;
    ir->nodes[4].op = STC_OP_COUNT;
    expect_bad(ir, "node %4 'patch_embed.maxpool' (?): takes -1 inputs, has 1", NULL);
    stc_ir_destroy(&ir);
}

static void test_mul_shapes(void) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = add_input(ir, 2, 3, 3);
    int a = add1(ir, STC_OP_LIF, x, "a");
    int p = add_pool(ir, a, "p", 3, 2, 1); /* [2,2,2] */
    int m = stc_ir_add(ir, STC_OP_MUL, "mask", 2, (int[]){a, p});
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_settle(ir, m, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %3 'mask' (mul): operand b [2,2,2] must match a [2,3,3] or be [2,1,1]");
    stc_ir_destroy(&ir);
}

/* Shapes whose element count does not fit the interpreter's indexing are refused
 * (and computing that count must not overflow). */
static void test_huge_shapes(void) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = stc_ir_add(ir, STC_OP_INPUT, "input", 0, NULL);
    ir->nodes[x].shape = (stc_shape_t){1 << 24, 1 << 24, 1 << 24};
    int q = stc_ir_add(ir, STC_OP_LIF, "q", 1, &x);
    ir->nodes[q].shape = ir->nodes[x].shape;
    ir->nodes[q].vtype = STC_VT_SPIKE;
    int s = stc_ir_add(ir, STC_OP_SSA, "attn", 3, (int[]){q, q, q});
    ir->nodes[s].shape = ir->nodes[x].shape;
    int m = add1(ir, STC_OP_MEAN, s, "mean");
    (void)m;
    int o = stc_ir_add(ir, STC_OP_OUTPUT, "output", 1, &m);
    ir->nodes[o].shape = (stc_shape_t){1 << 24, 1, 1};
    expect_bad(ir, "node %0 'input' (input): shape [16777216,16777216,16777216]", "elements");
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_ir_settle(ir, s, &err), STC_E_FORMAT);
    ir->nodes[x].shape = (stc_shape_t){65536, 256, 128}; /* 2^31: one too many */
    expect_bad(ir, "node %0 'input' (input): shape [65536,256,128] has 2147483648 elements", NULL);
    stc_ir_destroy(&ir);
    /* a zero-row weight would give an empty tensor */
    ir = stc_ir_create(1, NULL);
    x = add_input(ir, 2, 1, 1);
    int l = stc_ir_add(ir, STC_OP_LINEAR, "empty", 1, &x);
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, l, "weight", 2, (int64_t[]){0, 2}, NULL));
    CU_ASSERT_EQUAL(stc_ir_settle(ir, l, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %1 'empty' (linear): shape [0,1,1]");
    stc_ir_destroy(&ir);
}

static void test_add_param(void) {
    stc_ir_t *ir = stc_ir_create(1, NULL);
    int x = add_input(ir, 2, 1, 1);
    float v[6] = {1, 2, 3, 4, 5, 6};
    CU_ASSERT_PTR_NULL(stc_ir_add_param(ir, 5, "weight", 1, (int64_t[]){2}, v)); /* no node */
    CU_ASSERT_PTR_NULL(stc_ir_add_param(ir, x, "weight", 0, (int64_t[]){2}, v));
    CU_ASSERT_PTR_NULL(stc_ir_add_param(ir, x, "weight", 5, (int64_t[]){1, 1, 1, 1, 1}, v));
    CU_ASSERT_PTR_NULL(stc_ir_add_param(ir, x, "weight", 1, (int64_t[]){-1}, v));
    CU_ASSERT_PTR_NULL(stc_ir_add_param(ir, x, "weight", 2, (int64_t[]){1 << 30, 1 << 30}, v));
    const stc_param_t *p = stc_ir_add_param(ir, x, "weight", 2, (int64_t[]){2, 3}, v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->numel, 6);
    CU_ASSERT_PTR_NOT_EQUAL(p->data, v); /* copied */
    CU_ASSERT_EQUAL(p->data[5], 6.0f);
    p = stc_ir_add_param(ir, x, "bias", 1, (int64_t[]){3}, NULL); /* zeros */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->data[2], 0.0f);
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, x, "a", 1, (int64_t[]){1}, v));
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, x, "b", 1, (int64_t[]){1}, v));
    CU_ASSERT_PTR_NULL(stc_ir_add_param(ir, x, "c", 1, (int64_t[]){1}, v)); /* STC_MAX_PARAMS */
    CU_ASSERT_EQUAL(ir->nodes[x].n_params, STC_MAX_PARAMS);
    CU_ASSERT_PTR_EQUAL(stc_ir_param(&ir->nodes[x], "bias"), &ir->nodes[x].params[1]);
    stc_ir_destroy(&ir);
}

/* ------------------------------------------------------- quantized graphs */

/* A quantized, balanced graph (fields as the quantize and delay_balance passes
 * would set them; values need not be calibrated, only valid):
 *   %0 input (0) -> %1 conv (not a stage) -> [bn] -> %2 lif (1) -> %3 pool (2)
 *   -> %4 fc, graded (3) -> %5 fc_lif (4) -> %6 fc2 (not) -> %7 fc2_lif (5)
 *   -> %8 residual = add(fc2_lif, fc_lif) (6) -> %9 mean -> %10 head -> %11 output (7)
 * with_bn puts a batchnorm after the conv (ids from %2 on shift by one) and
 * leaves the graph unbalanced. */
static stc_ir_t *quant_graph(int with_bn) {
    stc_ir_t *ir = stc_ir_create(2, "custom");
    int x = add_input(ir, 2, 4, 4);
    int c = add_conv(ir, x, "conv", 3, 3, 1, 1, 1);
    float *w = ramp(3 * 2 * 9, 1.0f); /* integers -5..5 */
    memcpy(ir->nodes[c].params[0].data, w, 3 * 2 * 9 * sizeof(float));
    memcpy(ir->nodes[c].params[1].data, w, 3 * sizeof(float));
    free(w);
    int y = with_bn ? add_bn(ir, c, "bn") : c;
    int l = add1(ir, STC_OP_LIF, y, "lif");
    int p = add_pool(ir, l, "pool", 3, 2, 1);
    int f = add_linear(ir, p, "fc", 4);
    int fl = add1(ir, STC_OP_LIF, f, "fc_lif");
    int f2 = add_linear(ir, fl, "fc2", 4);
    int f2l = add1(ir, STC_OP_LIF, f2, "fc2_lif");
    int r = add2(ir, STC_OP_ADD, f2l, fl, "residual");
    int m = add1(ir, STC_OP_MEAN, r, "mean");
    int h = add_linear(ir, m, "head", 2);
    add1(ir, STC_OP_OUTPUT, h, "output");
    ir->quant = 1;
    for (int i = 0; i < ir->n_nodes; i++) {
        stc_node_t *n = &ir->nodes[i];
        n->qstep = 0.25;
        for (int q = 0; q < n->n_params && n->op == STC_OP_LINEAR; q++) /* ramp(.., 0.25) x 4: integers */
            for (int64_t k = 0; k < n->params[q].numel; k++) n->params[q].data[k] *= 4;
        if (n->op == STC_OP_INPUT || n->op == STC_OP_CONV2D || n->op == STC_OP_LINEAR || n->op == STC_OP_ADD)
            n->qbits = 8;
        if (n->op == STC_OP_LIF) n->qdk = 2048;
        if (n->op == STC_OP_ADD) n->qgraded = 1;
    }
    ir->nodes[f].qgraded = 1;
    ir->nodes[f].qrsh = 2;
    if (!with_bn) {
        static const int depth[12] = {0, -1, 1, 2, 3, 4, -1, 5, 6, -1, -1, 7};
        for (int i = 0; i < 12; i++) ir->nodes[i].depth = depth[i];
        ir->balanced = 1;
    }
    return ir;
}

static void test_stage(void) {
    stc_ir_t *ir = quant_graph(0);
    static const int stage[12] = {1, 0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1};
    for (int i = 0; i < 12; i++) CU_ASSERT_EQUAL(stc_ir_is_stage(ir, i), stage[i]);
    CU_ASSERT_EQUAL(stc_ir_is_stage(ir, -1), 0);
    CU_ASSERT_EQUAL(stc_ir_is_stage(ir, 12), 0);
    /* a float graph has no graded convolutions */
    ir->quant = 0;
    CU_ASSERT_EQUAL(stc_ir_is_stage(ir, 4), 0);
    CU_ASSERT_EQUAL(stc_ir_is_stage(ir, 8), 1); /* add: always */
    stc_ir_destroy(&ir);
    /* mul, sdsa, ssa are stages; a batchnorm is not */
    ir = ssa_graph();
    CU_ASSERT_EQUAL(stc_ir_is_stage(ir, 4), 1);
    stc_ir_destroy(&ir);
    ir = quant_graph(1);
    CU_ASSERT_EQUAL(ir->nodes[2].op, STC_OP_BATCHNORM);
    CU_ASSERT_EQUAL(stc_ir_is_stage(ir, 2), 0);
    stc_ir_destroy(&ir);
}

static void test_quant_fields(void) {
    stc_ir_t *ir = quant_graph(0);
    expect_good(ir);
    /* qstep, every node */
    ir->nodes[3].qstep = 0;
    expect_bad(ir, "node %3 'pool' (maxpool): qstep=0, expected a finite value > 0", NULL);
    ir->nodes[3].qstep = -0.5;
    expect_bad(ir, "node %3 'pool' (maxpool): qstep=-0.5", NULL);
    ir->nodes[3].qstep = INFINITY;
    expect_bad(ir, "node %3 'pool' (maxpool): qstep=inf", NULL);
    ir->nodes[3].qstep = NAN;
    expect_bad(ir, "node %3 'pool' (maxpool): qstep=nan", NULL);
    ir->nodes[3].qstep = 0.25;
    expect_good(ir);
    /* qbits: input, conv2d/linear, add */
    ir->nodes[0].qbits = 0;
    expect_bad(ir, "node %0 'input' (input): qbits=0, expected 1..16", NULL);
    ir->nodes[0].qbits = 8;
    ir->nodes[8].qbits = 17;
    expect_bad(ir, "node %8 'residual' (add): qbits=17, expected 1..16", NULL);
    ir->nodes[8].qbits = 16;
    ir->nodes[6].qbits = -3;
    expect_bad(ir, "node %6 'fc2' (linear): qbits=-3, expected 1..16", NULL);
    ir->nodes[6].qbits = 8;
    ir->nodes[2].qbits = 99; /* a LIF has no payload bits: not checked */
    expect_good(ir);
    /* weights: integers within the bits */
    float *wt = ir->nodes[1].params[0].data, *bias = ir->nodes[1].params[1].data;
    float keep = wt[3];
    wt[3] = 0.5f;
    expect_bad(ir, "node %1 'conv' (conv2d): weight element 3 is 0.5, expected an integer", NULL);
    wt[3] = 200.0f;
    expect_bad(ir, "node %1 'conv' (conv2d): weight element 3 is 200, expected |w| <= 127 (qbits=8)", NULL);
    wt[3] = -128.0f;
    expect_bad(ir, "node %1 'conv' (conv2d): weight element 3 is -128, expected |w| <= 127", NULL);
    wt[3] = -127.0f;
    expect_good(ir);
    ir->nodes[1].qbits = 2;
    expect_bad(ir, "node %1 'conv' (conv2d): weight element 0 is", "expected |w| <= 1 (qbits=2)");
    ir->nodes[1].qbits = 8;
    wt[3] = keep;
    bias[1] = 0.25f;
    expect_bad(ir, "node %1 'conv' (conv2d): bias element 1 is 0.25, expected an integer", NULL);
    bias[1] = 3.0f;
    expect_good(ir);
    /* lif: qdk, qshl */
    ir->nodes[5].qdk = 0;
    expect_bad(ir, "node %5 'fc_lif' (lif): qdk=0, expected 1..4096", NULL);
    ir->nodes[5].qdk = 4097;
    expect_bad(ir, "node %5 'fc_lif' (lif): qdk=4097, expected 1..4096", NULL);
    ir->nodes[5].qdk = 4096;
    ir->nodes[5].qshl = 17;
    expect_bad(ir, "node %5 'fc_lif' (lif): qshl=17, expected 0..16", NULL);
    ir->nodes[5].qshl = -1;
    expect_bad(ir, "node %5 'fc_lif' (lif): qshl=-1, expected 0..16", NULL);
    ir->nodes[5].qshl = 16;
    expect_good(ir);
    /* shifts of graded nodes (not checked where they mean nothing) */
    ir->nodes[4].qrsh = 63;
    expect_bad(ir, "node %4 'fc' (linear): qrsh=63, expected 0..62", NULL);
    ir->nodes[4].qrsh = 2;
    ir->nodes[6].qrsh = 63; /* fc2 is not graded */
    expect_good(ir);
    ir->nodes[8].qrsh = -1;
    expect_bad(ir, "node %8 'residual' (add): qrsh=-1, expected 0..62", NULL);
    ir->nodes[8].qrsh = 0;
    ir->nodes[8].qsh[1] = -1;
    expect_bad(ir, "node %8 'residual' (add): qsh[1]=-1, expected 0..62", NULL);
    ir->nodes[8].qsh[1] = 64;
    expect_bad(ir, "node %8 'residual' (add): qsh[1]=64, expected 0..62", NULL);
    ir->nodes[8].qsh[1] = 0;
    expect_good(ir);
    /* none of this is checked on a float graph */
    ir->quant = ir->balanced = 0;
    ir->nodes[3].qstep = 0;
    ir->nodes[5].qdk = 0;
    expect_good(ir);
    stc_ir_destroy(&ir);
}

static void test_quant_no_batchnorm(void) {
    stc_ir_t *ir = quant_graph(1);
    expect_bad(ir, "node %2 'bn' (batchnorm): batchnorm in a quantized graph, expected none", NULL);
    ir->quant = 0;
    expect_good(ir);
    stc_ir_destroy(&ir);
}

static void test_depths(void) {
    stc_ir_t *ir = quant_graph(0);
    expect_good(ir);
    ir->nodes[8].depth = 5;
    expect_bad(ir, "node %8 'residual' (add): depth=5, expected 6 (1 + depth 5 of stage %7 'fc2_lif' (lif))",
               NULL);
    ir->nodes[8].depth = 7;
    expect_bad(ir, "node %8 'residual' (add): depth=7, expected 6", NULL);
    ir->nodes[8].depth = 6;
    ir->nodes[0].depth = 1;
    expect_bad(ir, "node %0 'input' (input): depth=1, expected 0", NULL);
    ir->nodes[0].depth = 0;
    ir->nodes[11].depth = -1;
    expect_bad(ir, "node %11 'output' (output): depth=-1, expected 7", NULL);
    ir->nodes[11].depth = 7;
    expect_good(ir);
    /* a pass that makes fc2 graded (a stage) without balancing again */
    ir->nodes[6].qgraded = 1;
    expect_bad(ir, "node %6 'fc2' (linear): depth=-1, expected 5", NULL);
    ir->nodes[6].qgraded = 0;
    /* depths are checked only when balanced, and balanced needs quant */
    ir->nodes[8].depth = 0;
    ir->balanced = 0;
    expect_good(ir);
    ir->balanced = 1;
    ir->quant = 0;
    expect_bad(ir, "graph: balanced=1 without quant=1", NULL);
    stc_ir_destroy(&ir);
}

/* ---------------------------------------------------------------- costs */

static void test_cost_conv(void) {
    stc_ir_t *ir = good_graph();
    stc_cost_t c;
    /* 3x3, pad 1 on 4x4: per axis the output positions 0..3 see 2, 3, 3, 2 real
     * taps (10); in 2-d 10 * 10 = 100 taps per (out, in) channel pair instead of
     * 16 * 9 = 144 with the padding; 3 out x 2 in channels -> 600 connections. */
    stc_ir_cost(ir, 1, &c);
    CU_ASSERT_EQUAL(c.connections, 600);
    CU_ASSERT_EQUAL(c.macs, 600); /* the image is real */
    CU_ASSERT_EQUAL(c.acs, 0);
    CU_ASSERT_EQUAL(c.params, 3 * 2 * 9 + 3);
    CU_ASSERT_EQUAL(c.mem_bytes, (3 * 2 * 9 + 3) * 4);
    CU_ASSERT_EQUAL(c.neurons, 0);
    /* batchnorm: weight and bias are parameters, running stats are buffers */
    stc_ir_cost(ir, 2, &c);
    CU_ASSERT_EQUAL(c.params, 6);
    CU_ASSERT_EQUAL(c.mem_bytes, 12 * 4);
    CU_ASSERT_EQUAL(c.connections, 0);
    /* lif: neurons */
    stc_ir_cost(ir, 3, &c);
    CU_ASSERT_EQUAL(c.neurons, 3 * 4 * 4);
    CU_ASSERT_EQUAL(c.params, 0);
    /* maxpool: nothing */
    stc_ir_cost(ir, 4, &c);
    CU_ASSERT_EQUAL(c.connections + c.params + c.neurons + c.mem_bytes, 0);
    /* linear on spikes [3,2,2] -> 4: 4 * 3 * 4 positions, accumulates */
    stc_ir_cost(ir, 5, &c);
    CU_ASSERT_EQUAL(c.connections, 48);
    CU_ASSERT_EQUAL(c.acs, 48);
    CU_ASSERT_EQUAL(c.macs, 0);
    CU_ASSERT_EQUAL(c.params, 4 * 3 + 4);
    stc_ir_destroy(&ir);

    /* stride 2, pad 1, 3x3 on 4x4 -> 2x2: per axis 2 + 3 = 5 taps, 25 per pair; on spikes */
    ir = stc_ir_create(1, NULL);
    int x = add_input(ir, 2, 4, 4);
    x = add1(ir, STC_OP_LIF, x, "lif");
    int cv = add_conv(ir, x, "conv", 3, 3, 2, 1, 0);
    CU_ASSERT_EQUAL(ir->nodes[cv].shape.h, 2);
    stc_ir_cost(ir, cv, &c);
    CU_ASSERT_EQUAL(c.connections, 25 * 6);
    CU_ASSERT_EQUAL(c.acs, 25 * 6);
    CU_ASSERT_EQUAL(c.macs, 0);
    CU_ASSERT_EQUAL(c.params, 54);
    /* no padding: every tap is real, 2x2 outputs x 9 */
    int cv2 = add_conv(ir, x, "conv_valid", 1, 3, 1, 0, 0);
    stc_ir_cost(ir, cv2, &c);
    CU_ASSERT_EQUAL(c.connections, 4 * 9 * 2);
    stc_ir_destroy(&ir);

    /* ssa: 2 * heads * N^2 * d, N = 6 tokens, d = 2 */
    ir = ssa_graph();
    stc_ir_cost(ir, 4, &c);
    CU_ASSERT_EQUAL(c.connections, 2 * 2 * 36 * 2);
    CU_ASSERT_EQUAL(c.acs, c.connections);
    stc_ir_destroy(&ir);
}

void stc_suite_ir_verify(void) {
    static const stc_test_t tests[] = {
        {"example: good graphs verify", test_good},
        {"cycle / forward reference", test_cycle},
        {"wrong arity", test_arity},
        {"add: shape mismatch", test_add_shape_mismatch},
        {"conv/linear: weight shape vs input", test_conv_channels},
        {"conv/maxpool: input too small", test_conv_too_small},
        {"declared shape vs inferred", test_declared_shape},
        {"declared vtype vs inferred", test_declared_vtype},
        {"ssa/sdsa: inputs must be spikes", test_ssa_spikes},
        {"ssa: heads must divide channels", test_ssa_heads},
        {"batchnorm: parameters and eps", test_bn_params},
        {"non-finite parameters and attributes", test_non_finite},
        {"input first, and only one", test_input_first},
        {"output last, and only one", test_output_last},
        {"unused node", test_unused},
        {"graph-level checks", test_graph_level},
        {"mul: broadcast shapes", test_mul_shapes},
        {"huge and empty shapes", test_huge_shapes},
        {"stc_ir_add_param", test_add_param},
        {"cost: conv without padding taps", test_cost_conv},
        {"stages (stc_ir_is_stage)", test_stage},
        {"quantized fields", test_quant_fields},
        {"quantized: no batchnorm", test_quant_no_batchnorm},
        {"balanced: depths", test_depths},
        {NULL, NULL},
    };
    stc_add_suite("ir_verify", tests);
}
