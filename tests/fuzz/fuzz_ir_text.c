/* fuzz_ir_text.c - libFuzzer target: the Spike IR text form, then the verifier and interpreter.
 *
 * stc_ir_parse() on arbitrary bytes; whatever parses must print and parse back
 * to the same text (print -> parse -> print is the identity).  A graph that
 * also verifies gets its costs and Graphviz computed and, when it is small
 * (activations, parameters and the work of one run bounded), is run by the
 * float interpreter on a zero image: odd but verified graphs must not crash it.
 * Seeds: tests/fuzz/corpus/ir_text/.
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_str(const stc_ir_t *ir, size_t *n) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, n);
    if (!f) return NULL;
    stc_err_t err;
    if (stc_ir_print(ir, f, STC_IR_PRINT_WEIGHTS, &err)) __builtin_trap();
    fclose(f);
    return buf;
}

/* Rough cost of one interpreter run, in element operations (double: no overflow). */
static double run_work(const stc_ir_t *ir, double *mem) {
    double work = 0;
    *mem = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        double m = (double)n->shape.c * n->shape.h * n->shape.w, pos = (double)n->shape.h * n->shape.w;
        double params = 0;
        for (int p = 0; p < n->n_params; p++) params += (double)n->params[p].numel;
        *mem += 2 * m + params;
        switch (n->op) {
        case STC_OP_CONV2D:
        case STC_OP_LINEAR:
            work += params * pos + m;
            break;
        case STC_OP_MAXPOOL:
            work += m * n->k * n->k;
            break;
        case STC_OP_SSA: {
            double d = (double)n->shape.c / (n->heads > 0 ? n->heads : 1);
            work += 2 * n->shape.c * d * pos + d * d;
            *mem += d * d;
            break;
        }
        default:
            work += m;
        }
    }
    return work * ir->T;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stc_err_t err;
    stc_ir_t *ir = stc_ir_parse((const char *)data, size, "fuzz.ir", &err);
    if (!ir) {
        if (err.status == STC_OK || strncmp(err.msg, "fuzz.ir", 7)) __builtin_trap();
        return 0;
    }
    /* print -> parse -> print */
    size_t n1, n2;
    char *t1 = print_str(ir, &n1);
    stc_ir_t *ir2 = t1 ? stc_ir_parse(t1, n1, "printed.ir", &err) : NULL;
    if (t1 && !ir2) __builtin_trap();
    char *t2 = ir2 ? print_str(ir2, &n2) : NULL;
    if (t1 && t2 && (n1 != n2 || memcmp(t1, t2, n1))) __builtin_trap();
    free(t1);
    free(t2);
    stc_ir_destroy(&ir2);

    if (stc_ir_verify(ir, &err) == STC_OK) {
        stc_cost_t c;
        for (int i = 0; i < ir->n_nodes; i++) stc_ir_cost(ir, i, &c);
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            stc_ir_dot(ir, devnull, &err);
            fclose(devnull);
        }
        double mem, work = run_work(ir, &mem);
        if (mem < 1e5 && work < 2e6) {
            stc_interp_t *ip = stc_interp_create(ir, &err);
            if (!ip) __builtin_trap(); /* verified and small: must be accepted */
            const stc_node_t *in = &ir->nodes[0], *out = &ir->nodes[ir->n_nodes - 1];
            float *img = calloc((size_t)in->shape.c * in->shape.h * in->shape.w, sizeof *img);
            float *logits = calloc((size_t)out->shape.c * out->shape.h * out->shape.w, sizeof *logits);
            int64_t *counts = calloc((size_t)ir->n_nodes, sizeof *counts);
            if (img && logits && counts && stc_interp_run(ip, img, logits, counts, NULL, NULL, &err))
                __builtin_trap();
            free(img);
            free(logits);
            free(counts);
            stc_interp_destroy(&ip);
        }
    } else if (err.status == STC_OK) {
        __builtin_trap();
    }
    stc_ir_destroy(&ir);
    return 0;
}
