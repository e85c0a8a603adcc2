/* test_ir_text.c - suite "ir_text": the Spike IR text form (compiler/ir/ir_text.c).
 *
 * Hand-written texts in the printer's exact layout parse, verify and print back
 * byte for byte; print -> parse -> print is the identity; parameter values
 * (0.1f, -0.0f, subnormals, FLT_MAX) come back bit-exact; text printed without
 * weights is refused; and every malformed text fails with "name:line: what".
 * SPDX-License-Identifier: MIT
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stc_ir.h"
#include "test_util.h"

/* ------------------------------------------------------------- helpers */

/* Print ir into a malloc'd string (caller frees). */
static char *print_str(const stc_ir_t *ir, int flags) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    stc_err_t err;
    CU_ASSERT_EQUAL(stc_ir_print(ir, f, flags, &err), STC_OK);
    fclose(f);
    return buf;
}

static stc_ir_t *parse_str(const char *text, const char *name, stc_err_t *err) {
    return stc_ir_parse(text, strlen(text), name, err);
}

/* text parses, verifies and prints back identically (with weights), and so
 * does the printed text. */
static void check_identity(const char *text) {
    stc_err_t err = {0};
    stc_ir_t *ir = parse_str(text, "good.ir", &err);
    if (!ir) fprintf(stderr, "\n  parse: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    if (stc_ir_verify(ir, &err)) fprintf(stderr, "\n  verify: %s\n", err.msg);
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_OK);
    char *out = print_str(ir, STC_IR_PRINT_WEIGHTS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    if (strcmp(out, text)) fprintf(stderr, "\n  printed:\n%s\n  expected:\n%s\n", out, text);
    CU_ASSERT_STRING_EQUAL(out, text);
    stc_ir_t *ir2 = parse_str(out, "printed.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir2);
    char *out2 = print_str(ir2, STC_IR_PRINT_WEIGHTS);
    CU_ASSERT_STRING_EQUAL(out2, out);
    free(out);
    free(out2);
    stc_ir_destroy(&ir);
    stc_ir_destroy(&ir2);
    CU_ASSERT_PTR_NULL(ir);
}

/* text must fail to parse with a message containing every needle */
static void check_bad(const char *text, size_t n, const char *needle1, const char *needle2) {
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_parse(text, n, "bad.ir", &err);
    CU_ASSERT_PTR_NULL(ir);
    CU_ASSERT_NOT_EQUAL(err.status, STC_OK);
    int ok = strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2));
    if (!ok)
        fprintf(stderr, "\n  message \"%s\"\n  expected \"%s\"%s%s%s\n", err.msg, needle1,
                needle2 ? " and \"" : "", needle2 ? needle2 : "", needle2 ? "\"" : "");
    CU_ASSERT(ok);
    stc_ir_destroy(&ir);
}

#define BAD(text, n1, n2) check_bad((text), strlen(text), (n1), (n2))

/* --------------------------------------------------------------- texts */

#define HDR "stc-ir 1\ngraph T=4 arch=custom\n"

/* input -> conv2d -> batchnorm -> lif -> maxpool -> linear -> lif -> mean -> linear -> output */
static const char tiny[] =
    "stc-ir 1\n"
    "graph T=4 arch=custom\n"
    "%0 = input [1,4,4] real name=\"input\"\n"
    "%1 = conv2d %0 [2,4,4] real name=\"patch_embed.proj_conv\" k=3 stride=1 pad=1\n"
    "  weight [2,1,3,3] = 0.5 -0.25 0 1 0.125 -1 2 0.100000001 -0 0.25 0.25 0.25 -0.5 1.5 "
    "0.333333343 -2 0.75 9.99999975e-06\n"
    "  bias [2] = 0.5 -0.5\n"
    "%2 = batchnorm %1 [2,4,4] real name=\"patch_embed.proj_bn\" eps=9.99999975e-06\n"
    "  weight [2] = 1 0.5\n"
    "  bias [2] = 0 0.25\n"
    "  running_mean [2] = 0.100000001 -0.200000003\n"
    "  running_var [2] = 1 2\n"
    "%3 = lif %2 [2,4,4] spike name=\"patch_embed.proj_lif\" tau=2 vth=1 vreset=0\n"
    "%4 = maxpool %3 [2,2,2] spike name=\"patch_embed.maxpool\" k=3 stride=2 pad=1\n"
    "%5 = linear %4 [3,2,2] real name=\"block.0.mlp.fc1_linear\"\n"
    "  weight [3,2] = 1 -1 0.5 0.5 -0.25 2\n"
    "  bias [3] = 0 0.5 -0.5\n"
    "%6 = lif %5 [3,2,2] spike name=\"block.0.mlp.fc1_lif\" tau=2 vth=1 vreset=0\n"
    "%7 = mean %6 [3,1,1] real name=\"token_mean\"\n"
    "%8 = linear %7 [2,1,1] real name=\"head\"\n"
    "  weight [2,3] = 1 2 3 -1 -2 -3\n"
    "  bias [2] = 0.25 -0.25\n"
    "%9 = output %8 [2,1,1] real name=\"output\"\n";

/* Spikformer attention: q, k, v LIFs, ssa, attn_lif (threshold 0.5), residual */
static const char with_ssa[] =
    "stc-ir 1\n"
    "graph T=2 arch=spikformer_cifar\n"
    "%0 = input [4,2,2] real name=\"input\"\n"
    "%1 = lif %0 [4,2,2] spike name=\"block.0.attn.q_lif\" tau=2 vth=1 vreset=0\n"
    "%2 = lif %0 [4,2,2] spike name=\"block.0.attn.k_lif\" tau=2 vth=1 vreset=0\n"
    "%3 = lif %0 [4,2,2] spike name=\"block.0.attn.v_lif\" tau=2 vth=1 vreset=0\n"
    "%4 = ssa %1, %2, %3 [4,2,2] real name=\"block.0.attn\" heads=2 scale=0.125\n"
    "%5 = lif %4 [4,2,2] spike name=\"block.0.attn.attn_lif\" tau=2 vth=0.5 vreset=0\n"
    "%6 = add %5, %0 [4,2,2] real name=\"block.0.attn_residual\"\n"
    "%7 = mean %6 [4,1,1] real name=\"token_mean\"\n"
    "%8 = output %7 [4,1,1] real name=\"output\"\n";

/* Spike-driven attention: sdsa column sum, lif, mul broadcast, residual add;
 * some nodes without a name */
static const char with_sdsa[] =
    "stc-ir 1\n"
    "graph T=3 arch=sdt\n"
    "%0 = input [4,3,2] real\n"
    "%1 = lif %0 [4,3,2] spike name=\"block.0.attn.k_lif\" tau=2 vth=1 vreset=0\n"
    "%2 = lif %0 [4,3,2] spike name=\"block.0.attn.v_lif\" tau=2 vth=1 vreset=0\n"
    "%3 = lif %0 [4,3,2] spike name=\"block.0.attn.q_lif\" tau=1.5 vth=0.75 vreset=-0.5\n"
    "%4 = sdsa %1, %2 [4,1,1] real name=\"block.0.attn.sdsa\"\n"
    "%5 = lif %4 [4,1,1] spike name=\"block.0.attn.talking_heads_lif\" tau=2 vth=0.5 vreset=0\n"
    "%6 = mul %3, %5 [4,3,2] spike name=\"block.0.attn.mask\"\n"
    "%7 = add %6, %0 [4,3,2] real\n"
    "%8 = mean %7 [4,1,1] real name=\"token_mean\"\n"
    "%9 = output %8 [4,1,1] real\n";

/* A quantized, balanced graph in the printer's layout: every op's integer
 * fields (docs/ir.md), steps that need all 17 digits, the extremes of the
 * 64-bit LIF constants, depth on the stages only. */
static const char quantized[] =
    "stc-ir 1\n"
    "graph T=2 arch=spikformer_cifar quant=1 balanced=1\n"
    "%0 = input [4,2,2] real name=\"input\" qstep=0.0078125 qexp=7 qbits=8 depth=0\n"
    "%1 = conv2d %0 [4,2,2] real name=\"proj\" k=1 stride=1 pad=0 qstep=6.103515625e-05 qexp=3 qbits=8 "
    "qgraded=0\n"
    "  weight [4,4,1,1] = 64 0 0 0 0 -64 0 0 0 0 127 0 0 0 0 -127\n"
    "  bias [4] = 16 -3 0 1\n"
    "%2 = lif %1 [4,2,2] spike name=\"q_lif\" tau=2 vth=1 vreset=0 qstep=1 qshl=2 qdk=2048 qvth=65536 "
    "qvreset=0 depth=1\n"
    "%3 = lif %1 [4,2,2] spike name=\"k_lif\" tau=2 vth=1 vreset=-1 qstep=1 qshl=0 qdk=2048 qvth=16384 "
    "qvreset=-9223372036854775808 depth=1\n"
    "%4 = lif %1 [4,2,2] spike name=\"v_lif\" tau=1.5 vth=0.75 vreset=0 qstep=1 qshl=16 qdk=2731 "
    "qvth=9223372036854775807 qvreset=0 depth=1\n"
    "%5 = ssa %2, %3, %4 [4,2,2] real name=\"attn\" heads=2 scale=0.125 qstep=0.125 qexp=3 qmul=1 depth=2\n"
    "%6 = lif %5 [4,2,2] spike name=\"attn_lif\" tau=2 vth=0.5 vreset=0 qstep=1 qshl=0 qdk=2048 qvth=4 "
    "qvreset=0 depth=3\n"
    "%7 = linear %6 [4,2,2] real name=\"proj2\" qstep=0.33333333333333331 qexp=0 qbits=4 qgraded=1 qrsh=2 "
    "depth=4\n"
    "  weight [4,4] = 1 -7 0 7 2 2 2 2 0 0 0 1 -1 -1 3 3\n"
    "%8 = add %7, %2 [4,2,2] real name=\"res\" qstep=0.083333333333333329 qbits=16 qgraded=1 qsh=0,2 "
    "qrsh=0 depth=5\n"
    "%9 = maxpool %8 [4,1,1] real name=\"pool\" k=2 stride=2 pad=0 qstep=0.083333333333333329 depth=6\n"
    "%10 = sdsa %2, %3 [4,1,1] real name=\"sdsa\" qstep=1 depth=2\n"
    "%11 = lif %10 [4,1,1] spike name=\"th_lif\" tau=2 vth=0.5 vreset=0 qstep=1 qshl=0 qdk=4096 qvth=1 "
    "qvreset=0 depth=3\n"
    "%12 = mul %2, %11 [4,2,2] spike name=\"mask\" qstep=1 depth=4\n"
    "%13 = mean %12 [4,1,1] real qstep=0.25\n"
    "%14 = add %9, %13 [4,1,1] real qstep=0.10000000000000001 qbits=1 qgraded=1 qsh=62,0 qrsh=62 depth=7\n"
    "%15 = output %14 [4,1,1] real name=\"output\" qstep=0.10000000000000001 depth=8\n";

/* ---------------------------------------------------------------- tests */

/* The usage example: parse, verify, print, destroy. */
static void test_example(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = parse_str(tiny, "tiny.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_OK);
    CU_ASSERT_EQUAL(ir->T, 4);
    CU_ASSERT_STRING_EQUAL(ir->arch, "custom");
    CU_ASSERT_EQUAL(ir->n_nodes, 10);
    const stc_node_t *c = &ir->nodes[1];
    CU_ASSERT_EQUAL(c->op, STC_OP_CONV2D);
    CU_ASSERT_STRING_EQUAL(c->name, "patch_embed.proj_conv");
    CU_ASSERT_EQUAL(c->n_in, 1);
    CU_ASSERT_EQUAL(c->in[0], 0);
    CU_ASSERT_EQUAL(c->k, 3);
    CU_ASSERT_EQUAL(c->stride, 1);
    CU_ASSERT_EQUAL(c->pad, 1);
    CU_ASSERT_EQUAL(c->n_params, 2);
    const stc_param_t *w = stc_ir_param(c, "weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_EQUAL(w->ndim, 4);
    CU_ASSERT_EQUAL(w->numel, 18);
    CU_ASSERT_EQUAL(w->data[7], 0.1f);
    CU_ASSERT(w->data[8] == 0.0f && signbit(w->data[8]));
    CU_ASSERT_EQUAL(w->data[17], 1e-5f);
    CU_ASSERT_EQUAL(ir->nodes[2].eps, 1e-5f);
    CU_ASSERT_EQUAL(ir->nodes[3].vtype, STC_VT_SPIKE);
    CU_ASSERT_EQUAL(ir->nodes[4].shape.h, 2);
    CU_ASSERT_EQUAL(ir->nodes[9].op, STC_OP_OUTPUT);
    stc_ir_destroy(&ir);
    CU_ASSERT_PTR_NULL(ir);
    stc_ir_destroy(&ir); /* NULL is fine */
    stc_ir_destroy(NULL);
}

static void test_identity_tiny(void) { check_identity(tiny); }
static void test_identity_ssa(void) { check_identity(with_ssa); }
static void test_identity_sdsa(void) { check_identity(with_sdsa); }
static void test_identity_quantized(void) { check_identity(quantized); }

/* The quantized fields come back as they were: doubles bit for bit (%.17g),
 * the 64-bit LIF constants at their extremes, qsh per operand, depth. */
static void test_quant_values_exact(void) {
    static const double steps[] = {0.1, 1.0 / 3.0, 0x1p-40, 5e-324 /* smallest subnormal */,
                                   1.7976931348623157e308, 0.0, -0.0, 1.0000000000000002, 6.02214076e23};
    enum { NS = sizeof steps / sizeof steps[0] };
    stc_err_t err = {0};
    stc_ir_t *ir = parse_str(quantized, "q.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(ir->quant, 1);
    CU_ASSERT_EQUAL(ir->balanced, 1);
    const stc_node_t *n = &ir->nodes[3];
    CU_ASSERT_EQUAL(n->qvreset, INT64_MIN);
    CU_ASSERT_EQUAL(ir->nodes[4].qvth, INT64_MAX);
    CU_ASSERT_EQUAL(ir->nodes[4].qshl, 16);
    CU_ASSERT_EQUAL(ir->nodes[4].qdk, 2731);
    CU_ASSERT_EQUAL(ir->nodes[5].qmul, 1);
    CU_ASSERT_EQUAL(ir->nodes[5].qexp, 3);
    CU_ASSERT_EQUAL(ir->nodes[7].qgraded, 1);
    CU_ASSERT_EQUAL(ir->nodes[7].qrsh, 2);
    CU_ASSERT_EQUAL(ir->nodes[7].qbits, 4);
    CU_ASSERT_EQUAL(ir->nodes[8].qsh[0], 0);
    CU_ASSERT_EQUAL(ir->nodes[8].qsh[1], 2);
    CU_ASSERT_EQUAL(ir->nodes[7].qstep, 1.0 / 3.0);
    CU_ASSERT_EQUAL(ir->nodes[13].depth, -1); /* mean: not a stage, no depth printed or parsed */
    CU_ASSERT_EQUAL(ir->nodes[15].depth, 8);
    for (int k = 0; k < NS; k++) {
        ir->nodes[13].qstep = steps[k];
        char *t = print_str(ir, STC_IR_PRINT_WEIGHTS);
        stc_ir_t *ir2 = parse_str(t, "q2.ir", &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ir2);
        CU_ASSERT_EQUAL(memcmp(&ir2->nodes[13].qstep, &steps[k], sizeof(double)), 0);
        char *t2 = print_str(ir2, STC_IR_PRINT_WEIGHTS);
        CU_ASSERT_STRING_EQUAL(t, t2);
        free(t);
        free(t2);
        stc_ir_destroy(&ir2);
    }
    /* a float graph prints none of them, whatever the fields hold */
    ir->quant = ir->balanced = 0;
    char *t = print_str(ir, STC_IR_PRINT_WEIGHTS);
    CU_ASSERT_PTR_NULL(strstr(t, "qstep"));
    CU_ASSERT_PTR_NULL(strstr(t, "depth"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "graph T=2 arch=spikformer_cifar\n"));
    free(t);
    /* quant without balanced: no depths */
    ir->quant = 1;
    t = print_str(ir, STC_IR_PRINT_WEIGHTS);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "graph T=2 arch=spikformer_cifar quant=1\n"));
    CU_ASSERT_PTR_NULL(strstr(t, "depth"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "qsh=0,2"));
    free(t);
    stc_ir_destroy(&ir);
}

/* comments, blank lines, CRLF and extra spaces are accepted; printing gives the canonical form */
static void test_lenient_layout(void) {
    const char *loose =
        "# a comment before the header\n"
        "\n"
        "stc-ir 1\r\n"
        "graph   T=2   arch=sdt  # trailing comment\n"
        "\t\n"
        "%0 = input [4,3,2] real\n"
        "%1=lif %0[4,3,2]spike tau=2 vth=1 vreset=0 # comment\n"
        "   # indented comment\n"
        "%2 = lif  %0  [ 4 , 3 , 2 ]  spike\n"
        "%3 = sdsa %1,%2 [4,1,1] real\n"
        "%4 = output %3 [4,1,1] real\n";
    stc_err_t err = {0};
    stc_ir_t *ir = parse_str(loose, "loose.ir", &err);
    if (!ir) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_OK);
    char *out = print_str(ir, STC_IR_PRINT_WEIGHTS);
    CU_ASSERT_STRING_EQUAL(out,
                           "stc-ir 1\n"
                           "graph T=2 arch=sdt\n"
                           "%0 = input [4,3,2] real\n"
                           "%1 = lif %0 [4,3,2] spike tau=2 vth=1 vreset=0\n"
                           "%2 = lif %0 [4,3,2] spike tau=2 vth=1 vreset=0\n"
                           "%3 = sdsa %1, %2 [4,1,1] real\n"
                           "%4 = output %3 [4,1,1] real\n");
    free(out);
    stc_ir_destroy(&ir);
    /* no arch: "custom" */
    ir = parse_str("stc-ir 1\ngraph T=7\n", "x.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_STRING_EQUAL(ir->arch, "custom");
    CU_ASSERT_EQUAL(ir->T, 7);
    CU_ASSERT_EQUAL(ir->n_nodes, 0);
    stc_ir_destroy(&ir);
}

/* A graph built with the API with awkward values: every float comes back bit-exact. */
static void test_values_exact(void) {
    static const float vals[] = {0.1f, -0.0f, 0.0f, 1e-38f, 3.4e38f, -3.4e38f, FLT_MAX, -FLT_MAX,
                                 FLT_MIN, 1e-45f /* smallest subnormal */, 1.0f / 3.0f,
                                 16777217.0f, 1.00000012f, -123456.789f, 2.5e-20f, 7.0f};
    enum { NV = sizeof vals / sizeof vals[0] };
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_create(3, "spikformer_imagenet");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    int x = stc_ir_add(ir, STC_OP_INPUT, "input", 0, NULL);
    ir->nodes[x].shape = (stc_shape_t){2, 1, 1};
    int l = stc_ir_add(ir, STC_OP_LINEAR, "head", 1, &x);
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, l, "weight", 2, (int64_t[]){NV / 2, 2}, vals));
    CU_ASSERT_PTR_NOT_NULL(stc_ir_add_param(ir, l, "bias", 1, (int64_t[]){NV / 2}, vals + 3));
    CU_ASSERT_EQUAL(stc_ir_settle(ir, l, &err), STC_OK);
    int f = stc_ir_add(ir, STC_OP_LIF, "lif", 1, &l);
    ir->nodes[f].tau = 1.00000012f;
    ir->nodes[f].vth = 0.1f;
    ir->nodes[f].vreset = -0.0f;
    CU_ASSERT_EQUAL(stc_ir_settle(ir, f, &err), STC_OK);
    int o = stc_ir_add(ir, STC_OP_OUTPUT, "output", 1, &f);
    CU_ASSERT_EQUAL(stc_ir_settle(ir, o, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_OK);

    char *t1 = print_str(ir, STC_IR_PRINT_WEIGHTS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t1);
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "-0 ")); /* the sign of zero is printed */
    stc_ir_t *ir2 = parse_str(t1, "values.ir", &err);
    if (!ir2) fprintf(stderr, "\n  %s\n%s\n", err.msg, t1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir2);
    CU_ASSERT_EQUAL(stc_ir_verify(ir2, &err), STC_OK);
    const stc_param_t *w = stc_ir_param(&ir2->nodes[1], "weight");
    const stc_param_t *b = stc_ir_param(&ir2->nodes[1], "bias");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(w->numel, NV);
    CU_ASSERT_EQUAL(memcmp(w->data, vals, sizeof vals), 0); /* bit-exact, sign of zero too */
    CU_ASSERT_EQUAL(memcmp(b->data, vals + 3, NV / 2 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(&ir2->nodes[2].tau, &ir->nodes[2].tau, sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(&ir2->nodes[2].vth, &ir->nodes[2].vth, sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(&ir2->nodes[2].vreset, &ir->nodes[2].vreset, sizeof(float)), 0);
    CU_ASSERT_STRING_EQUAL(ir2->arch, "spikformer_imagenet");
    CU_ASSERT_EQUAL(ir2->T, 3);
    char *t2 = print_str(ir2, STC_IR_PRINT_WEIGHTS);
    CU_ASSERT_STRING_EQUAL(t1, t2);
    free(t1);
    free(t2);
    stc_ir_destroy(&ir);
    stc_ir_destroy(&ir2);
}

/* Text printed for reading ("...") must not load as a graph of zeros. */
static void test_elided_refused(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = parse_str(tiny, "tiny.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    char *t = print_str(ir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "  weight [2,1,3,3] = ...\n"));
    CU_ASSERT_PTR_NULL(strstr(t, "0.100000001"));
    stc_ir_t *ir2 = parse_str(t, "elided.ir", &err);
    CU_ASSERT_PTR_NULL(ir2);
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "elided.ir:5: parameter 'weight' values were elided");
    STC_ASSERT_CONTAINS(err.msg, "print with weights");
    free(t);
    stc_ir_destroy(&ir);
}

/* stc_ir_load reads a file and names it in messages. */
static void test_load_file(void) {
    char path[] = "/tmp/stc_ir_text_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(with_ssa, f);
    fclose(f);
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_load(path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(ir->n_nodes, 9);
    CU_ASSERT_EQUAL(ir->nodes[4].heads, 2);
    CU_ASSERT_EQUAL(ir->nodes[4].scale, 0.125f);
    stc_ir_destroy(&ir);
    f = fopen(path, "w");
    fputs("stc-ir 1\ngraph T=1\n%0 = input [1,1,1] real\n%1 = output %0 [1,1,1] real bogus=1\n", f);
    fclose(f);
    CU_ASSERT_PTR_NULL(stc_ir_load(path, &err));
    char want[300];
    snprintf(want, sizeof want, "%s:4: unknown attribute 'bogus'", path);
    STC_ASSERT_CONTAINS(err.msg, want);
    unlink(path);
    CU_ASSERT_PTR_NULL(stc_ir_load("/nonexistent/x.ir", &err));
    CU_ASSERT_EQUAL(err.status, STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "/nonexistent/x.ir");
}

/* Graphviz names every node and edge. */
static void test_dot(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = parse_str(with_sdsa, "sdsa.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    CU_ASSERT_EQUAL(stc_ir_dot(ir, f, &err), STC_OK);
    fclose(f);
    STC_ASSERT_CONTAINS(buf, "digraph spike_ir {");
    STC_ASSERT_CONTAINS(buf, "label=\"sdt, T=3\"");
    STC_ASSERT_CONTAINS(buf, "n4 [label=\"%4 sdsa\\nblock.0.attn.sdsa\\n[4,1,1]\"");
    STC_ASSERT_CONTAINS(buf, "[4,3,2] spike");
    STC_ASSERT_CONTAINS(buf, "n3 -> n6;");
    STC_ASSERT_CONTAINS(buf, "n5 -> n6;");
    CU_ASSERT_EQUAL(buf[n - 2], '}');
    free(buf);
    stc_ir_destroy(&ir);
}

/* Op names and arity come from ir_ops.def. */
static void test_op_table(void) {
    for (int i = 0; i < STC_OP_COUNT; i++) CU_ASSERT_EQUAL(stc_op_from_name(stc_op_name(i)), i);
    CU_ASSERT_EQUAL(stc_op_from_name("conv3d"), -1);
    CU_ASSERT_EQUAL(stc_op_from_name(""), -1);
    CU_ASSERT_STRING_EQUAL(stc_op_name(STC_OP_SSA), "ssa");
    CU_ASSERT_STRING_EQUAL(stc_op_name(STC_OP_COUNT), "?");
    CU_ASSERT_EQUAL(stc_op_arity(STC_OP_INPUT), 0);
    CU_ASSERT_EQUAL(stc_op_arity(STC_OP_SSA), 3);
    CU_ASSERT_EQUAL(stc_op_arity(STC_OP_MUL), 2);
    CU_ASSERT_EQUAL(stc_op_arity(STC_OP_COUNT), -1);
}

/* ------------------------------------------------------------ bad texts */

static void test_bad_header(void) {
    BAD("graph T=4\n%0 = input [1,1,1] real\n", "bad.ir:1: expected the header 'stc-ir 1'",
        "found \"graph T=4\"");
    BAD("# only a comment\nstc-ir 2\n", "bad.ir:2: expected the header 'stc-ir 1'", NULL);
    BAD("stc-ir 10\n", "bad.ir:1: expected the header", NULL);
    BAD("", "bad.ir: no 'stc-ir 1' header and 'graph T=...' line", NULL);
    BAD("stc-ir 1\n", "bad.ir: no 'stc-ir 1' header and 'graph T=...' line", NULL);
    BAD("stc-ir 1\n%0 = input [1,1,1] real\n", "bad.ir:2: expected 'graph T=<timesteps>", NULL);
    BAD("stc-ir 1\ngraph arch=sdt\n", "bad.ir:2: the graph line needs T=<timesteps>", NULL);
    BAD("stc-ir 1\ngraph T=0\n", "bad.ir:2: expected T=1..10000", NULL);
    BAD("stc-ir 1\ngraph T=10001\n", "bad.ir:2: expected T=1..10000", NULL);
    BAD("stc-ir 1\ngraph T=4 speed=3\n", "bad.ir:2: unknown graph attribute 'speed'", NULL);
    BAD("stc-ir 1\ngraph T 4\n", "bad.ir:2: expected '=' after T", NULL);
    /* trailing junk on the graph line is not silently dropped */
    BAD("stc-ir 1\ngraph T=4 arch=foo.bar\n", "bad.ir:2:", "\".bar\"");
    BAD("stc-ir 1\ngraph T=4 quant=2\n", "bad.ir:2: expected 0 or 1 for quant", NULL);
    BAD("stc-ir 1\ngraph T=4 quant=1 balanced=yes\n", "bad.ir:2: expected 0 or 1 for balanced", NULL);
}

#define QHDR "stc-ir 1\ngraph T=4 arch=custom quant=1\n"

static void test_bad_quant(void) {
    /* integer fields only in a quantized graph, depth only in a balanced one */
    BAD(HDR "%0 = input [1,1,1] real qstep=1\n",
        "bad.ir:3: attribute 'qstep' needs quant=1 on the graph line", NULL);
    BAD(HDR "%0 = input [1,1,1] real qbits=8\n", "bad.ir:3: attribute 'qbits' needs quant=1", NULL);
    BAD(QHDR "%0 = input [1,1,1] real depth=0\n", "bad.ir:3: attribute 'depth' needs balanced=1", NULL);
    BAD(QHDR "%0 = input [1,1,1] real qstep=fine\n", "bad.ir:3: expected a number for qstep", "\"fine\"");
    BAD(QHDR "%0 = input [1,1,1] real qbits=x\n", "bad.ir:3: expected an integer for qbits", NULL);
    BAD(QHDR "%0 = input [1,1,1] real qexp=2147483648\n", "bad.ir:3: expected an integer for qexp", NULL);
    BAD(QHDR "%0 = input [1,1,1] real\n%1 = lif %0 [1,1,1] spike qvth=9223372036854775808\n",
        "bad.ir:4: expected a 64-bit integer for qvth", NULL);
    BAD(QHDR "%0 = input [1,1,1] real\n%1 = add %0, %0 [1,1,1] real qsh=1,2,3,4\n",
        "bad.ir:4: more than 3 values for qsh", NULL);
    BAD(QHDR "%0 = input [1,1,1] real\n%1 = add %0, %0 [1,1,1] real qsh=1,\n",
        "bad.ir:4: expected integers a,b for qsh", NULL);
    BAD(QHDR "%0 = input [1,1,1] real qlevel=3\n", "bad.ir:3: unknown attribute 'qlevel'", "qstep, qexp");
}

static void test_bad_nodes(void) {
    BAD(HDR "%1 = input [1,1,1] real\n", "bad.ir:3: node %1 out of order, expected %0", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%0 = output %0 [1,1,1] real\n",
        "bad.ir:4: node %0 out of order, expected %1", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%2 = output %0 [1,1,1] real\n",
        "bad.ir:4: node %2 out of order, expected %1", NULL);
    BAD(HDR "%0 = conv3d [1,1,1] real\n", "bad.ir:3: unknown op 'conv3d'", NULL);
    BAD(HDR "0 = input [1,1,1] real\n", "bad.ir:3: expected a node '%N = op ...'", NULL);
    BAD(HDR "%0 input [1,1,1] real\n", "bad.ir:3: expected '='", NULL);
    BAD(HDR "%0 = [1,1,1] real\n", "bad.ir:3: expected an op name", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%1 = lif %0 [1,1,1] spike foo=1\n",
        "bad.ir:4: unknown attribute 'foo'", "expected name, k, stride");
    /* an unknown attribute is named even when its value is not a number */
    BAD(HDR "%0 = input [1,1,1] real\n%1 = lif %0 [1,1,1] spike colour=red\n",
        "bad.ir:4: unknown attribute 'colour'", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%1 = lif %0 [1,1,1] spike tau=fast\n",
        "bad.ir:4: expected a number for tau", "found \"fast\"");
    BAD(HDR "%0 = input [1,1,1] real\n%1 = conv2d %0 [1,1,1] real k=-1\n",
        "bad.ir:4: expected an integer 0..2^20 for k", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%1 = conv2d %0 [1,1,1] real k=3 pad\n",
        "bad.ir:4: expected '=' after pad", NULL);
    BAD(HDR "%0 = input [1,1,1] real name=input\n", "bad.ir:3: expected a quoted name", NULL);
    BAD(HDR "%0 = input [1,1,1] real name=\"input\n", "bad.ir:3: unterminated name", NULL);
    BAD(HDR "%0 = input [1,1,1] real !\n", "bad.ir:3: expected an attribute key=value", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%1 = ssa %0, %0, %0, %0 [1,1,1] real\n",
        "bad.ir:4: too many inputs", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%1 = add %0 %0 [1,1,1] real\n",
        "bad.ir:4: expected the shape [C,H,W]", NULL);
    BAD(HDR "%0 = input [1,1,1] complex\n", "bad.ir:3: expected the value type 'real' or 'spike'", NULL);
    BAD(HDR "%0 = input [1,1,1]\n", "bad.ir:3: expected the value type", NULL);
}

static void test_bad_shapes(void) {
    BAD(HDR "%0 = input [1,0,1] real\n", "bad.ir:3: expected a dimension 1..2^24", NULL);
    BAD(HDR "%0 = input [1,-4,1] real\n", "bad.ir:3: expected a dimension 1..2^24", NULL);
    BAD(HDR "%0 = input [1,16777217,1] real\n", "bad.ir:3: expected a dimension 1..2^24", NULL);
    BAD(HDR "%0 = input [1,2] real\n", "bad.ir:3: expected ',' in shape", NULL);
    BAD(HDR "%0 = input [1,2,3,4] real\n", "bad.ir:3: expected ']'", NULL);
    BAD(HDR "%0 = input 1,2,3 real\n", "bad.ir:3: expected the shape [C,H,W]", NULL);
    BAD(HDR "%0 = input [a,2,3] real\n", "bad.ir:3: expected a dimension", NULL);
}

static void test_bad_params(void) {
#define N2 "%0 = input [2,1,1] real\n%1 = linear %0 [2,1,1] real\n"
    /* wrong value count: fewer values than the shape declares */
    BAD(HDR N2 "  weight [2,2] = 1 2 3\n", "bad.ir:5: parameter 'weight' declares 4 values", NULL);
    BAD(HDR N2 "  weight [2,2] = 1 2 3       \n", "bad.ir:5: parameter 'weight' declares 4 values",
        "found 3");
    BAD(HDR N2 "  weight [2,2] = 1 2 x 4 5 6 7\n", "bad.ir:5: parameter 'weight' declares 4 values",
        "found 2");
    BAD(HDR N2 "  weight [2,2] =\n", "bad.ir:5: parameter 'weight' declares 4 values", NULL);
    /* too many values */
    BAD(HDR N2 "  weight [2,2] = 1 2 3 4 5\n",
        "bad.ir:5: parameter 'weight' has more than the 4 values its shape declares", NULL);
    BAD(HDR N2 "  bias [2] = 1 2 junk\n", "bad.ir:5: parameter 'bias' has more than the 2 values", NULL);
    BAD(HDR N2 "  gamma [2] = 1 2\n", "bad.ir:5: unknown parameter 'gamma'",
        "expected weight, bias, running_mean, running_var");
    BAD(HDR N2 "  weight 2,2 = 1 2 3 4\n", "bad.ir:5: expected '[' after the role", NULL);
    BAD(HDR N2 "  weight [2,2 = 1 2 3 4\n", "bad.ir:5: expected '] ='", NULL);
    BAD(HDR N2 "  weight [2,0] = 1\n", "bad.ir:5: expected a dimension", NULL);
    BAD(HDR N2 "  weight [1,1,1,1,1] = 1\n", "bad.ir:5: more than 4 dimensions", NULL);
    BAD(HDR N2 "  weight [16777216,16777216] = 1\n", "bad.ir:5: parameter of more than 2^32 values",
        NULL);
    /* a huge declared count with a short line fails before allocating */
    BAD(HDR N2 "  weight [4096,4096] = 1 2\n", "bad.ir:5: parameter 'weight' declares 16777216 values",
        "the line holds at most");
    BAD(HDR "  weight [1] = 1\n", "bad.ir:3: parameter line before any node", NULL);
    BAD(HDR N2 "  weight [2,2] = 1 2 3 4\n  bias [2] = 1 2\n  weight [1] = 1\n  bias [1] = 1\n"
            "  bias [1] = 1\n",
        "bad.ir:9: cannot add parameter 'bias'", NULL);
#undef N2
}

/* NUL bytes anywhere, including at the start of a line, are refused. */
static void test_bad_nul(void) {
    static const char a[] = "stc-ir 1\ngraph T=4\n%0 = input [1,1,1] re\0al\n";
    check_bad(a, sizeof a - 1, "bad.ir:3: NUL byte in text", NULL);
    static const char b[] = "stc-ir\0 1\n";
    check_bad(b, sizeof b - 1, "bad.ir:1: NUL byte in text", NULL);
    static const char c[] = "stc-ir 1\ngraph T=1\n%0 = input [1,1,1] real\n%1 = output %0 [1,1,1] real\n"
                            "\0garbage after a NUL\n";
    check_bad(c, sizeof c - 1, "bad.ir:5: NUL byte in text", NULL);
    static const char d[] = "stc-ir 1\ngraph T=1\n%0 = input [1,1,1] real\n%1 = output %0 [1,1,1] real\n\0";
    check_bad(d, sizeof d - 1, "bad.ir:5: NUL byte in text", NULL);
    /* the length counts, not a terminator: a prefix of a good text is parsed as such */
    stc_err_t err = {0};
    size_t two_lines = (size_t)(strchr(strchr(with_ssa, '\n') + 1, '\n') - with_ssa) + 1;
    stc_ir_t *ir = stc_ir_parse(with_ssa, two_lines, "prefix.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(ir->T, 2);
    CU_ASSERT_STRING_EQUAL(ir->arch, "spikformer_cifar");
    CU_ASSERT_EQUAL(ir->n_nodes, 0);
    stc_ir_destroy(&ir);
}

/* An input must refer to an earlier node: the text is in order. */
static void test_bad_forward_ref(void) {
    BAD(HDR "%0 = input [1,1,1] real\n%1 = lif %2 [1,1,1] spike\n%2 = output %1 [1,1,1] real\n",
        "bad.ir:4: node %1: input 0 refers to %2", "expected an earlier node (%0..%0)");
    BAD(HDR "%0 = input [1,1,1] real\n%1 = lif %1 [1,1,1] spike\n",
        "bad.ir:4: node %1: input 0 refers to %1", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%1 = lif %0 [1,1,1] spike\n%2 = add %1, %7 [1,1,1] real\n",
        "bad.ir:5: node %2: input 1 refers to %7", NULL);
    BAD(HDR "%0 = input [1,1,1] real\n%1 = lif %1000001 [1,1,1] spike\n", "bad.ir:4: expected an input %N",
        NULL);
}

/* What parses is not necessarily a graph: the verifier has the last word. */
static void test_parse_then_verify(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = parse_str(HDR "%0 = input [1,2,2] real\n%1 = lif %0 [1,2,3] spike name=\"l\"\n"
                                 "%2 = mean %1 [1,1,1] real\n%3 = output %2 [1,1,1] real\n",
                             "v.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "node %1 'l' (lif): declared shape [1,2,3], its inputs give [1,2,2]");
    stc_ir_destroy(&ir);
    ir = parse_str(HDR "%0 = input [1,1,1] real\n", "v.ir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "1 nodes, expected at least input and output");
    stc_ir_destroy(&ir);
}

void stc_suite_ir_text(void) {
    static const stc_test_t tests[] = {
        {"example: parse, verify, print, destroy", test_example},
        {"identity: conv/bn/lif/pool/linear/mean graph", test_identity_tiny},
        {"identity: ssa graph", test_identity_ssa},
        {"identity: sdsa/mul/add graph", test_identity_sdsa},
        {"identity: quantized, balanced graph", test_identity_quantized},
        {"quantized fields round-trip exact", test_quant_values_exact},
        {"comments, blank lines, spacing", test_lenient_layout},
        {"values round-trip bit-exact", test_values_exact},
        {"elided weights are refused", test_elided_refused},
        {"stc_ir_load", test_load_file},
        {"graphviz", test_dot},
        {"op table", test_op_table},
        {"bad: header and graph line", test_bad_header},
        {"bad: quantized fields", test_bad_quant},
        {"bad: node lines", test_bad_nodes},
        {"bad: shapes", test_bad_shapes},
        {"bad: parameter lines", test_bad_params},
        {"bad: NUL bytes", test_bad_nul},
        {"bad: forward references", test_bad_forward_ref},
        {"parse then verify", test_parse_then_verify},
        {NULL, NULL},
    };
    stc_add_suite("ir_text", tests);
}
