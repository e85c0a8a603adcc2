/* ir_text.c - the Spike IR text form: printer and parser (docs/ir.md is the reference).
 *
 *   stc-ir 1
 *   graph T=4 arch=spikformer_cifar
 *   %0 = input [1,28,28] real
 *   %1 = conv2d %0 [8,28,28] real name="patch_embed.proj_conv" k=3 stride=1 pad=1
 *     weight [8,1,3,3] = 0.0123 -0.5 ...
 *
 * One node per line, its parameters on the indented lines below it.  Values are
 * printed with %.9g, which reads back to the same float32 (qstep, a double,
 * with %.17g), so print -> parse -> print is the identity.  A quantized graph
 * (graph ... quant=1 [balanced=1]) carries after each node's attributes the
 * integer fields its op gives a meaning (docs/ir.md).  The parser checks every
 * count against the text and reports file:line; it does not verify the graph
 * (stc_ir_verify does).
 * SPDX-License-Identifier: MIT
 */
#include "stc_ir.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT_BYTES ((size_t)1 << 31)
#define MAX_NODES 1000000

/* ---------------------------------------------------------------- printer */

static void print_attrs(const stc_node_t *n, FILE *f) {
    switch (n->op) {
    case STC_OP_CONV2D:
    case STC_OP_MAXPOOL:
        fprintf(f, " k=%d stride=%d pad=%d", n->k, n->stride, n->pad);
        break;
    case STC_OP_LIF:
        fprintf(f, " tau=%.9g vth=%.9g vreset=%.9g", (double)n->tau, (double)n->vth,
                (double)n->vreset);
        break;
    case STC_OP_BATCHNORM:
        fprintf(f, " eps=%.9g", (double)n->eps);
        break;
    case STC_OP_SSA:
        fprintf(f, " heads=%d scale=%.9g", n->heads, (double)n->scale);
        break;
    default:
        break;
    }
}

/* The quantized fields meaningful for the op (docs/backend.md section 1),
 * after the float attributes; depth on stage nodes of a balanced graph. */
static void print_quant(const stc_ir_t *ir, int id, FILE *f) {
    const stc_node_t *n = &ir->nodes[id];
    fprintf(f, " qstep=%.17g", n->qstep);
    int graded = 0;
    switch (n->op) {
    case STC_OP_INPUT:
        fprintf(f, " qexp=%d qbits=%d", n->qexp, n->qbits);
        break;
    case STC_OP_CONV2D:
    case STC_OP_LINEAR:
        fprintf(f, " qexp=%d qbits=%d qgraded=%d", n->qexp, n->qbits, n->qgraded);
        graded = n->qgraded;
        break;
    case STC_OP_ADD:
        fprintf(f, " qbits=%d qgraded=%d qsh=%d,%d", n->qbits, n->qgraded, n->qsh[0], n->qsh[1]);
        graded = 1;
        break;
    case STC_OP_LIF:
        fprintf(f, " qshl=%d qdk=%d qvth=%lld qvreset=%lld", n->qshl, n->qdk, (long long)n->qvth,
                (long long)n->qvreset);
        break;
    case STC_OP_SSA:
        fprintf(f, " qexp=%d qmul=%d", n->qexp, n->qmul);
        break;
    default:
        break;
    }
    if (graded) fprintf(f, " qrsh=%d", n->qrsh);
    if (ir->balanced && stc_ir_is_stage(ir, id)) fprintf(f, " depth=%d", n->depth);
}

stc_status_t stc_ir_print(const stc_ir_t *ir, FILE *f, int flags, stc_err_t *err) {
    fprintf(f, "stc-ir 1\ngraph T=%d arch=%s%s%s\n", ir->T, ir->arch, ir->quant ? " quant=1" : "",
            ir->balanced ? " balanced=1" : "");
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        fprintf(f, "%%%d = %s", i, stc_op_name(n->op));
        for (int k = 0; k < n->n_in; k++) fprintf(f, "%s %%%d", k ? "," : "", n->in[k]);
        fprintf(f, " [%d,%d,%d] %s", n->shape.c, n->shape.h, n->shape.w,
                n->vtype == STC_VT_SPIKE ? "spike" : "real");
        if (n->name[0]) fprintf(f, " name=\"%s\"", n->name);
        print_attrs(n, f);
        if (ir->quant) print_quant(ir, i, f);
        fputc('\n', f);
        for (int p = 0; p < n->n_params; p++) {
            const stc_param_t *pr = &n->params[p];
            fprintf(f, "  %s [", pr->role);
            for (int d = 0; d < pr->ndim; d++)
                fprintf(f, "%s%lld", d ? "," : "", (long long)pr->shape[d]);
            fprintf(f, "] =");
            if (flags & STC_IR_PRINT_WEIGHTS) {
                for (int64_t k = 0; k < pr->numel; k++) fprintf(f, " %.9g", (double)pr->data[k]);
            } else {
                fprintf(f, " ...");
            }
            fputc('\n', f);
        }
    }
    if (ferror(f)) return stc_err_set(err, STC_E_IO, "ir: write failed");
    return STC_OK;
}

/* ----------------------------------------------------------------- parser */

typedef struct {
    const char *name;
    int line;
    char *p;     /* cursor in the current line (NUL-terminated copy) */
    stc_err_t *err;
} lex_t;

static stc_status_t perr(lex_t *lx, const char *fmt, const char *what) {
    char near[80];
    stc_escape(near, sizeof near, lx->p, strlen(lx->p), 24);
    return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: %s %s, found \"%s\"", lx->name, lx->line,
                       fmt, what ? what : "", near);
}

static void skipws(lex_t *lx) {
    while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r') lx->p++;
}

static int accept(lex_t *lx, char c) {
    skipws(lx);
    if (*lx->p == c) {
        lx->p++;
        return 1;
    }
    return 0;
}

static int read_long(lex_t *lx, long long lo, long long hi, long long *out) {
    skipws(lx);
    char *end;
    errno = 0;
    long long v = strtoll(lx->p, &end, 10);
    if (end == lx->p || errno || v < lo || v > hi) return 0;
    lx->p = end;
    *out = v;
    return 1;
}

static int read_word(lex_t *lx, char *buf, size_t cap) {
    skipws(lx);
    size_t n = 0;
    while (isalnum((unsigned char)lx->p[n]) || lx->p[n] == '_' || lx->p[n] == '-') n++;
    if (n == 0 || n >= cap) return 0;
    memcpy(buf, lx->p, n);
    buf[n] = 0;
    lx->p += n;
    return 1;
}

static int read_double(lex_t *lx, double *out) {
    skipws(lx);
    char *end;
    errno = 0;
    double v = strtod(lx->p, &end);
    if (end == lx->p) return 0;
    lx->p = end;
    *out = v;
    return 1;
}

/* The quantized fields (print_quant); 0 if key is not one of them. */
static int parse_quant(lex_t *lx, stc_ir_t *ir, stc_node_t *n, const char *key, stc_status_t *st) {
    static const char *const ints[] = {"qexp", "qbits", "qgraded", "qrsh", "qshl", "qdk", "qmul", "depth"};
    int *const dst[] = {&n->qexp, &n->qbits, &n->qgraded, &n->qrsh, &n->qshl, &n->qdk, &n->qmul, &n->depth};
    int k = -1;
    for (int i = 0; i < (int)(sizeof ints / sizeof ints[0]); i++)
        if (!strcmp(key, ints[i])) k = i;
    int other = !strcmp(key, "qstep") || !strcmp(key, "qsh") || !strcmp(key, "qvth") ||
                !strcmp(key, "qvreset");
    if (k < 0 && !other) return 0;
    if (!ir->quant) {
        *st = stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: attribute '%s' needs quant=1 on the graph line",
                          lx->name, lx->line, key);
        return 1;
    }
    if (!strcmp(key, "depth") && !ir->balanced) {
        *st = stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: attribute 'depth' needs balanced=1 on the graph "
                          "line", lx->name, lx->line);
        return 1;
    }
    long long v;
    *st = STC_OK;
    if (k >= 0) {
        if (!read_long(lx, -(1LL << 30), 1LL << 30, &v)) *st = perr(lx, "expected an integer for", key);
        else *dst[k] = (int)v;
    } else if (!strcmp(key, "qstep")) {
        if (!read_double(lx, &n->qstep)) *st = perr(lx, "expected a number for", key);
    } else if (!strcmp(key, "qsh")) {
        int m = 0;
        do {
            if (m == STC_MAX_INPUTS) {
                *st = perr(lx, "more than 3 values for", key);
                break;
            }
            if (!read_long(lx, -(1LL << 30), 1LL << 30, &v)) {
                *st = perr(lx, "expected integers a,b for", key);
                break;
            }
            n->qsh[m++] = (int)v;
        } while (accept(lx, ','));
    } else {
        if (!read_long(lx, INT64_MIN, INT64_MAX, &v)) *st = perr(lx, "expected a 64-bit integer for", key);
        else *(!strcmp(key, "qvth") ? &n->qvth : &n->qvreset) = v;
    }
    return 1;
}

static int read_float(lex_t *lx, float *out) {
    skipws(lx);
    char *end;
    errno = 0;
    float v = strtof(lx->p, &end);
    if (end == lx->p) return 0;
    lx->p = end;
    *out = v;
    return 1;
}

/* key=value attributes after the shape and type */
static stc_status_t parse_attr(lex_t *lx, stc_ir_t *ir, stc_node_t *n) {
    char key[32];
    if (!read_word(lx, key, sizeof key)) return perr(lx, "expected an attribute key=value", NULL);
    if (!accept(lx, '=')) return perr(lx, "expected '=' after", key);
    if (!strcmp(key, "name")) {
        if (!accept(lx, '"')) return perr(lx, "expected a quoted name", NULL);
        char *q = strchr(lx->p, '"');
        if (!q) return perr(lx, "unterminated name", NULL);
        if (q - lx->p > 4096) return perr(lx, "name longer than 4096 bytes", NULL);
        n->name = stc_arena_strndup(ir->arena, lx->p, (size_t)(q - lx->p));
        lx->p = q + 1;
        return STC_OK;
    }
    long long v;
    float fv;
    stc_status_t st;
    if (parse_quant(lx, ir, n, key, &st)) return st;
    if (!strcmp(key, "k") || !strcmp(key, "stride") || !strcmp(key, "pad") || !strcmp(key, "heads")) {
        if (!read_long(lx, 0, 1 << 20, &v)) return perr(lx, "expected an integer 0..2^20 for", key);
        if (key[0] == 'k') n->k = (int)v;
        else if (key[0] == 's') n->stride = (int)v;
        else if (key[0] == 'p') n->pad = (int)v;
        else n->heads = (int)v;
        return STC_OK;
    }
    float *dst = !strcmp(key, "tau") ? &n->tau : !strcmp(key, "vth") ? &n->vth
               : !strcmp(key, "vreset") ? &n->vreset : !strcmp(key, "eps") ? &n->eps
               : !strcmp(key, "scale") ? &n->scale : NULL;
    /* name the unknown key before complaining about its value */
    if (!dst)
        return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: unknown attribute '%s' (expected name, k, "
                           "stride, pad, heads, tau, vth, vreset, eps, scale, qstep, qexp, qbits, qgraded, "
                           "qrsh, qsh, qshl, qdk, qvth, qvreset, qmul, depth)", lx->name, lx->line, key);
    if (!read_float(lx, &fv)) return perr(lx, "expected a number for", key);
    *dst = fv;
    return STC_OK;
}

static stc_status_t parse_node(lex_t *lx, stc_ir_t *ir) {
    long long id, v;
    char op[32];
    if (!accept(lx, '%') || !read_long(lx, 0, MAX_NODES, &id))
        return perr(lx, "expected a node '%N = op ...'", NULL);
    if (id != ir->n_nodes)
        return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: node %%%lld out of order, expected %%%d",
                           lx->name, lx->line, id, ir->n_nodes);
    if (ir->n_nodes >= MAX_NODES)
        return stc_err_set(lx->err, STC_E_LIMIT, "%s:%d: more than %d nodes", lx->name, lx->line, MAX_NODES);
    if (!accept(lx, '=')) return perr(lx, "expected '='", NULL);
    if (!read_word(lx, op, sizeof op)) return perr(lx, "expected an op name", NULL);
    int o = stc_op_from_name(op);
    if (o < 0)
        return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: unknown op '%s'", lx->name, lx->line, op);
    int in[STC_MAX_INPUTS], nin = 0;
    skipws(lx);
    while (*lx->p == '%') {
        lx->p++;
        if (nin == STC_MAX_INPUTS) return perr(lx, "too many inputs", NULL);
        if (!read_long(lx, 0, MAX_NODES, &v)) return perr(lx, "expected an input %N", NULL);
        /* nodes are listed in order, so a reference forward (or to itself) is a cycle */
        if (v >= id)
            return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: node %%%lld: input %d refers to %%%lld, "
                               "expected an earlier node (%%0..%%%lld)", lx->name, lx->line, id, nin, v,
                               id - 1);
        in[nin++] = (int)v;
        if (!accept(lx, ',')) break;
        skipws(lx);
    }
    int nid = stc_ir_add(ir, (stc_op_t)o, "", nin, in);
    if (nid < 0) return stc_err_set(lx->err, STC_E_NOMEM, "%s:%d: out of memory", lx->name, lx->line);
    stc_node_t *n = &ir->nodes[nid];
    long long dims[3];
    if (!accept(lx, '[')) return perr(lx, "expected the shape [C,H,W]", NULL);
    for (int d = 0; d < 3; d++) {
        if (d && !accept(lx, ',')) return perr(lx, "expected ',' in shape", NULL);
        if (!read_long(lx, 1, 1 << 24, &dims[d])) return perr(lx, "expected a dimension 1..2^24", NULL);
    }
    if (!accept(lx, ']')) return perr(lx, "expected ']'", NULL);
    n->shape.c = (int)dims[0];
    n->shape.h = (int)dims[1];
    n->shape.w = (int)dims[2];
    char vt[16];
    if (!read_word(lx, vt, sizeof vt) || (strcmp(vt, "real") && strcmp(vt, "spike")))
        return perr(lx, "expected the value type 'real' or 'spike'", NULL);
    n->vtype = strcmp(vt, "spike") ? STC_VT_REAL : STC_VT_SPIKE;
    for (;;) {
        skipws(lx);
        if (!*lx->p || *lx->p == '#') break;
        if (parse_attr(lx, ir, n)) return lx->err->status;
    }
    return STC_OK;
}

static stc_status_t parse_param(lex_t *lx, stc_ir_t *ir) {
    if (ir->n_nodes == 0) return perr(lx, "parameter line before any node", NULL);
    char role[32];
    int64_t shape[4];
    long long v;
    int nd = 0;
    if (!read_word(lx, role, sizeof role)) return perr(lx, "expected a parameter role", NULL);
    if (strcmp(role, "weight") && strcmp(role, "bias") && strcmp(role, "running_mean") &&
        strcmp(role, "running_var"))
        return stc_err_set(lx->err, STC_E_FORMAT,
                           "%s:%d: unknown parameter '%s' (expected weight, bias, running_mean, running_var)",
                           lx->name, lx->line, role);
    if (!accept(lx, '[')) return perr(lx, "expected '[' after the role", NULL);
    uint64_t numel = 1;
    do {
        if (nd == 4) return perr(lx, "more than 4 dimensions", NULL);
        if (!read_long(lx, 1, 1 << 24, &v)) return perr(lx, "expected a dimension", NULL);
        shape[nd++] = v;
        if (!stc_mul_ok(numel, (uint64_t)v, &numel) || numel > ((uint64_t)1 << 32))
            return stc_err_set(lx->err, STC_E_LIMIT, "%s:%d: parameter of more than 2^32 values",
                               lx->name, lx->line);
    } while (accept(lx, ','));
    if (!accept(lx, ']') || !accept(lx, '=')) return perr(lx, "expected '] ='", NULL);
    skipws(lx);
    if (!strncmp(lx->p, "...", 3))
        return stc_err_set(lx->err, STC_E_FORMAT,
                           "%s:%d: parameter '%s' values were elided ('...'): this text was printed "
                           "for reading; print with weights to get a loadable graph",
                           lx->name, lx->line, role);
    /* the values must be there before we allocate: each needs at least 2 bytes */
    if (numel > strlen(lx->p) / 2 + 1)
        return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: parameter '%s' declares %llu values, the line "
                           "holds at most %zu", lx->name, lx->line, role,
                           (unsigned long long)numel, strlen(lx->p) / 2 + 1);
    stc_param_t *p = stc_ir_add_param(ir, ir->n_nodes - 1, role, nd, shape, NULL);
    if (!p) return stc_err_set(lx->err, STC_E_LIMIT, "%s:%d: cannot add parameter '%s' (more than %d "
                               "per node or out of memory)", lx->name, lx->line, role, STC_MAX_PARAMS);
    for (uint64_t k = 0; k < numel; k++)
        if (!read_float(lx, &p->data[k]))
            return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: parameter '%s' declares %llu values, "
                               "found %llu", lx->name, lx->line, role, (unsigned long long)numel,
                               (unsigned long long)k);
    skipws(lx);
    if (*lx->p && *lx->p != '#')
        return stc_err_set(lx->err, STC_E_FORMAT, "%s:%d: parameter '%s' has more than the %llu values "
                           "its shape declares", lx->name, lx->line, role, (unsigned long long)numel);
    return STC_OK;
}

stc_ir_t *stc_ir_parse(const char *text, size_t n, const char *name, stc_err_t *err) {
    if (n > MAX_TEXT_BYTES) {
        stc_err_set(err, STC_E_LIMIT, "%s: %zu bytes, limit %zu", name, n, MAX_TEXT_BYTES);
        return NULL;
    }
    char *buf = malloc(n + 1);
    if (!buf) {
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    memcpy(buf, text, n);
    buf[n] = 0;
    stc_ir_t *ir = NULL;
    lex_t lx = {name, 0, NULL, err};
    char *line = buf, *next;
    int seen_magic = 0, seen_graph = 0;
    /* by length, not by NUL: a NUL at the start of a line must not end the text */
    for (; line && line < buf + n; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lx.line++;
        lx.p = line;
        if (strlen(line) != (size_t)((next ? next - 1 : buf + n) - line)) {
            stc_err_set(err, STC_E_FORMAT, "%s:%d: NUL byte in text", name, lx.line);
            goto fail;
        }
        int indented = (*line == ' ' || *line == '\t');
        skipws(&lx);
        if (!*lx.p || *lx.p == '#') continue;
        if (!seen_magic) {
            if (strncmp(lx.p, "stc-ir 1", 8) || (lx.p[8] && !isspace((unsigned char)lx.p[8]))) {
                perr(&lx, "expected the header", "'stc-ir 1'");
                goto fail;
            }
            seen_magic = 1;
            continue;
        }
        if (!seen_graph) {
            char w[16], arch[64] = "custom";
            long long T = 0, quant = 0, balanced = 0;
            if (!read_word(&lx, w, sizeof w) || strcmp(w, "graph")) {
                perr(&lx, "expected", "'graph T=<timesteps> [arch=<name>]'");
                goto fail;
            }
            while (read_word(&lx, w, sizeof w)) {
                if (!accept(&lx, '=')) {
                    perr(&lx, "expected '=' after", w);
                    goto fail;
                }
                if (!strcmp(w, "T")) {
                    if (!read_long(&lx, 1, 10000, &T)) {
                        perr(&lx, "expected T=1..10000", NULL);
                        goto fail;
                    }
                } else if (!strcmp(w, "arch")) {
                    if (!read_word(&lx, arch, sizeof arch)) {
                        perr(&lx, "expected an arch name", NULL);
                        goto fail;
                    }
                } else if (!strcmp(w, "quant") || !strcmp(w, "balanced")) {
                    if (!read_long(&lx, 0, 1, w[0] == 'q' ? &quant : &balanced)) {
                        perr(&lx, "expected 0 or 1 for", w);
                        goto fail;
                    }
                } else {
                    stc_err_set(err, STC_E_FORMAT, "%s:%d: unknown graph attribute '%s' (expected T, arch, "
                                "quant, balanced)", name, lx.line, w);
                    goto fail;
                }
            }
            skipws(&lx);
            if (*lx.p && *lx.p != '#') {
                perr(&lx, "unexpected text after", "the graph attributes");
                goto fail;
            }
            if (T == 0) {
                perr(&lx, "the graph line needs", "T=<timesteps>");
                goto fail;
            }
            ir = stc_ir_create((int)T, arch);
            if (!ir) {
                stc_err_set(err, STC_E_NOMEM, "%s: out of memory", name);
                goto fail;
            }
            ir->quant = (int)quant;
            ir->balanced = (int)balanced;
            seen_graph = 1;
            continue;
        }
        if (indented ? parse_param(&lx, ir) : parse_node(&lx, ir)) goto fail;
    }
    if (!seen_graph) {
        stc_err_set(err, STC_E_FORMAT, "%s: no 'stc-ir 1' header and 'graph T=...' line", name);
        goto fail;
    }
    free(buf);
    return ir;
fail:
    free(buf);
    stc_ir_destroy(&ir);
    return NULL;
}

stc_ir_t *stc_ir_load(const char *path, stc_err_t *err) {
    unsigned char *data;
    size_t n;
    if (stc_read_file(path, MAX_TEXT_BYTES, &data, &n, err)) return NULL;
    stc_ir_t *ir = stc_ir_parse((const char *)data, n, path, err);
    free(data);
    return ir;
}
