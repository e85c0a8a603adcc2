/* test_bundle.c - suite "bundle": the .stc file (deploy/bundle_io.c) and stc_bundle_validate.
 *
 * A small bundle is built by hand: twelve stages of every kind, projections
 * of every synapse kind with weights, the host port and three cores on two
 * chips with their slices, and axon and routing tables made the simple way
 * (every source neuron of a projection gets an axon on every core that holds
 * the destination).  It must survive write -> read -> write byte for byte and
 * field for field; every kind of damage (truncation at every length, a
 * flipped byte, out-of-range fields with the CRC made right, foreign files)
 * must be refused with a message naming the file, the record and the field.
 * The fuzz seeds in tests/fuzz/corpus/bundle/ are this bundle's encoding
 * (checked here byte for byte); STC_BUNDLE_WRITE_SEEDS=1 stc-tests bundle
 * rewrites them after a deliberate format change.  A placed variant carries
 * the optional sections 'topo' (a topology file's text) and 'link' (expected
 * spikes per inference on each link); a rated one also 'rate' (the stages'
 * measured spikes per neuron per inference).
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_bundle.h"
#include "stc_target.h"
#include "test_util.h"

#define SEEDS STC_SOURCE_DIR "/tests/fuzz/corpus/bundle/"

/* ------------------------------------------------------------ the bundle */

static int64_t numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

static void stage(stc_bundle_t *b, int i, int kind, const char *name, int c, int h, int w, int depth) {
    stc_stage_t *s = &b->stages[i];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ir_node = 3 * i + 1;
    s->kind = kind;
    s->c = c, s->h = h, s->w = w;
    s->depth = depth;
    s->qstep = 0.5 + i; /* carried for every stage, used by READOUT */
    if (kind == STC_NK_LIF) s->shl = 4, s->dk = 2048, s->vth = 1000 + i, s->vreset = -(int64_t)i;
    if (kind == STC_NK_RELAY || kind == STC_NK_INPUT) s->pbits = 8, s->rsh = i % 3;
    if (kind == STC_NK_INPUT) s->qexp = 5;
    if (kind == STC_NK_LIF || kind == STC_NK_RELAY || kind == STC_NK_READOUT) {
        s->bias = malloc((size_t)c * sizeof *s->bias);
        for (int k = 0; k < c; k++) s->bias[k] = (int64_t)(k * 1000003 % 4001) - 2000 - (int64_t)i * 7;
    }
}

static void proj(stc_bundle_t *b, int j, int kind, int src, int dst, int64_t n_w, int shift) {
    stc_proj_t *p = &b->projs[j];
    p->kind = kind, p->src = src, p->dst = dst, p->shift = shift;
    p->delay = b->stages[dst].depth - b->stages[src].depth;
    p->n_w = n_w;
    if (n_w) {
        p->w = malloc((size_t)n_w);
        for (int64_t i = 0; i < n_w; i++) p->w[i] = (int8_t)((i * 37 + j * 11) % 255 - 127);
    }
}

static void core(stc_bundle_t *b, int i, int chip, int x, int y, int n, const stc_slice_t *sl) {
    stc_core_t *c = &b->cores[i];
    c->chip = chip, c->x = x, c->y = y;
    c->n_slices = n;
    c->slices = malloc((size_t)n * sizeof *c->slices);
    memcpy(c->slices, sl, (size_t)n * sizeof *sl);
    for (int k = 0; k < n; k++) {
        const stc_stage_t *s = &b->stages[sl[k].stage];
        c->n_neurons += (sl[k].c1 - sl[k].c0) * (sl[k].y1 - sl[k].y0) * s->w;
    }
}

static int route_run_cmp(const void *x, const void *y) {
    const stc_route_run_t *p = x, *q = y;
    if (p->neuron != q->neuron) return p->neuron < q->neuron ? -1 : 1;
    if (p->core != q->core) return p->core < q->core ? -1 : 1;
    return (p->axon > q->axon) - (p->axon < q->axon);
}

/* Axons: every source neuron of every projection, on every core holding a
 * slice of its destination (one run per core and projection); one route per
 * axon from the neuron's core, made in (destination core, axon) order and
 * merged into the source core's last run when it continues it (the next
 * neuron to the next axon of the same core), then sorted. */
static void tables(stc_bundle_t *b) {
    int32_t **own = calloc((size_t)b->n_stages, sizeof *own); /* flat -> core << 16 | local */
    for (int s = 0; s < b->n_stages; s++) own[s] = calloc((size_t)numel(&b->stages[s]), sizeof **own);
    for (int c = 0; c < b->n_cores; c++) {
        int local = 0;
        for (int k = 0; k < b->cores[c].n_slices; k++) {
            const stc_slice_t *sl = &b->cores[c].slices[k];
            const stc_stage_t *s = &b->stages[sl->stage];
            for (int ch = sl->c0; ch < sl->c1; ch++)
                for (int y = sl->y0; y < sl->y1; y++)
                    for (int x = 0; x < s->w; x++) own[sl->stage][(ch * s->h + y) * s->w + x] = c << 16 | local++;
        }
    }
    for (int d = 1; d < b->n_cores; d++) {
        stc_core_t *c = &b->cores[d];
        for (int pi = 0; pi < b->n_projs; pi++) {
            const stc_proj_t *p = &b->projs[pi];
            int holds = 0;
            for (int k = 0; k < c->n_slices; k++) holds |= c->slices[k].stage == p->dst;
            if (!holds) continue;
            int ns = (int)numel(&b->stages[p->src]);
            c->axon_runs = realloc(c->axon_runs, (size_t)(c->n_axon_runs + 1) * sizeof *c->axon_runs);
            c->axon_runs[c->n_axon_runs++] = (stc_axon_run_t){pi, 0, ns};
            for (int f = 0; f < ns; f++) {
                int32_t o = own[p->src][f], a = c->n_axons++;
                stc_core_t *sc = &b->cores[o >> 16];
                stc_route_run_t *last = sc->n_route_runs ? &sc->route_runs[sc->n_route_runs - 1] : NULL;
                sc->n_routes++;
                if (last && last->core == d && last->axon + last->n == a && last->neuron + last->n == (o & 0xffff))
                    last->n++;
                else {
                    sc->route_runs = realloc(sc->route_runs, (size_t)(sc->n_route_runs + 1) * sizeof *sc->route_runs);
                    sc->route_runs[sc->n_route_runs++] = (stc_route_run_t){o & 0xffff, 1, d, a};
                }
            }
        }
    }
    for (int ci = 0; ci < b->n_cores; ci++) {
        stc_core_t *c = &b->cores[ci];
        if (c->n_route_runs > 1) qsort(c->route_runs, (size_t)c->n_route_runs, sizeof *c->route_runs, route_run_cmp);
        c->mem_state = (int64_t)c->n_neurons * 8;
        c->mem_syn = 100 * ci;
        c->mem_axon = (int64_t)c->n_axons * 4;
    }
    for (int s = 0; s < b->n_stages; s++) free(own[s]);
    free(own);
}

enum { P_CONV, P_WINDOW, P_DENSE, P_Q1, P_K1, P_V1, P_SQ, P_SK, P_SV, P_ADD_A, P_ADD_B, P_REDUCE, P_BCAST, P_MASK,
       P_HEAD, N_PROJS };

/* The test bundle; with_target: carry loihi2's descriptor (then its limits are checked too). */
static stc_bundle_t *build(int with_target) {
    stc_bundle_t *b = calloc(1, sizeof *b);
    snprintf(b->model, sizeof b->model, "tiny_spikformer");
    snprintf(b->source, sizeof b->source, "tiny.pth");
    snprintf(b->target, sizeof b->target, "loihi2");
    snprintf(b->options, sizeof b->options, "-O2 --target loihi2 --weight-bits 8");
    snprintf(b->topology, sizeof b->topology, "mesh:2x1");
    snprintf(b->dataset, sizeof b->dataset, "cifar10");
    b->n_norm = 2;
    b->norm_mean[0] = 0.4914f, b->norm_mean[1] = 0.4822f;
    b->norm_std[0] = 0.247f, b->norm_std[1] = 0.2435f;
    b->pytorch_accuracy = 0.9512;
    b->T = 4;
    b->n_stages = 12;
    b->stages = calloc(12, sizeof *b->stages);
    stage(b, 0, STC_NK_INPUT, "input", 2, 4, 4, 0);
    stage(b, 1, STC_NK_RELAY, "patch.conv", 3, 4, 4, 1);
    b->stages[1].dense = 1; /* a MAX reads it */
    stage(b, 2, STC_NK_MAX, "patch.pool", 3, 2, 2, 2);
    stage(b, 3, STC_NK_LIF, "patch.lif", 4, 2, 2, 3);
    stage(b, 4, STC_NK_LIF, "block.0.attn.q_lif", 4, 2, 2, 4);
    stage(b, 5, STC_NK_LIF, "block.0.attn.k_lif", 4, 2, 2, 4);
    stage(b, 6, STC_NK_LIF, "block.0.attn.v_lif", 4, 2, 2, 4);
    stage(b, 7, STC_NK_SSA, "block.0.attn", 4, 2, 2, 5);
    b->stages[7].heads = 2, b->stages[7].mul = 3;
    stage(b, 8, STC_NK_RELAY, "block.0.add", 4, 2, 2, 6);
    stage(b, 9, STC_NK_LIF, "block.0.mean_lif", 4, 1, 1, 7);
    stage(b, 10, STC_NK_AND, "block.0.mask", 4, 2, 2, 8);
    stage(b, 11, STC_NK_READOUT, "head", 5, 1, 1, 9);
    b->stages[11].qstep = 0.125;
    b->input_stage = 0, b->output_stage = 11;
    b->in_c = 2, b->in_h = 4, b->in_w = 4, b->n_out = 5;
    b->ticks = b->T + 9;

    b->n_projs = N_PROJS;
    b->projs = calloc(N_PROJS, sizeof *b->projs);
    proj(b, P_CONV, STC_SK_CONV, 0, 1, 3 * 2 * 3 * 3, 0);
    b->projs[P_CONV].k = 3, b->projs[P_CONV].stride = 1, b->projs[P_CONV].pad = 1;
    b->projs[P_CONV].co = 3, b->projs[P_CONV].ci = 2;
    proj(b, P_WINDOW, STC_SK_WINDOW, 1, 2, 0, 0);
    b->projs[P_WINDOW].k = 2, b->projs[P_WINDOW].stride = 2;
    proj(b, P_DENSE, STC_SK_DENSE, 2, 3, 4 * 3, 1);
    b->projs[P_DENSE].co = 4, b->projs[P_DENSE].ci = 3;
    proj(b, P_Q1, STC_SK_ONE2ONE, 3, 4, 4, 0); /* per channel */
    proj(b, P_K1, STC_SK_ONE2ONE, 3, 5, 1, 2); /* one shared weight, shifted */
    proj(b, P_V1, STC_SK_ONE2ONE, 3, 6, 1, 0);
    proj(b, P_SQ, STC_SK_SSA_Q, 4, 7, 0, 0);
    proj(b, P_SK, STC_SK_SSA_K, 5, 7, 0, 0);
    proj(b, P_SV, STC_SK_SSA_V, 6, 7, 0, 0);
    proj(b, P_ADD_A, STC_SK_ONE2ONE, 7, 8, 1, 0);
    proj(b, P_ADD_B, STC_SK_ONE2ONE, 3, 8, 1, 1); /* the residual, three ticks late */
    proj(b, P_REDUCE, STC_SK_REDUCE, 8, 9, 4, 0);
    proj(b, P_BCAST, STC_SK_BCAST, 9, 10, 0, 0);
    proj(b, P_MASK, STC_SK_ONE2ONE, 4, 10, 1, 0);
    proj(b, P_HEAD, STC_SK_DENSE_REDUCE, 10, 11, 5 * 4, 0);
    b->projs[P_HEAD].co = 5, b->projs[P_HEAD].ci = 4;

    b->n_chips = 2;
    b->n_cores = 4;
    b->cores = calloc(4, sizeof *b->cores);
    core(b, 0, -1, 0, 0, 1, (stc_slice_t[]){{0, 0, 2, 0, 4}});
    core(b, 1, 0, 0, 0, 3, (stc_slice_t[]){{1, 0, 3, 0, 4}, {2, 0, 3, 0, 2}, {3, 0, 2, 0, 2}});
    core(b, 2, 0, 1, 0, 6,
         (stc_slice_t[]){{3, 2, 4, 0, 2}, {4, 0, 4, 0, 2}, {5, 0, 4, 0, 2}, {6, 0, 4, 0, 2}, {7, 0, 2, 0, 2},
                         {8, 0, 4, 1, 2}});
    core(b, 3, 1, 0, 0, 5, (stc_slice_t[]){{7, 2, 4, 0, 2}, {8, 0, 4, 0, 1}, {9, 0, 4, 0, 1}, {10, 0, 4, 0, 2},
                                           {11, 0, 5, 0, 1}});
    tables(b);
    if (with_target) b->target_json = strdup(stc_target_preset_json("loihi2"));
    return b;
}

/* The test bundle as stc-coord partition leaves it when --topology names a
 * file: the file's text and the expected traffic on the topology's 4 links. */
static const char PLACED_TOPOLOGY[] = "deploy/topologies/square.json";
static const char PLACED_JSON[] =
    "{\"format\": \"stc-topology 1\", \"kind\": \"mesh\",\n"
    " \"dims\": {\"value\": [2, 2], \"assumption\": \"the bundle suite's\"}}\n";
static const double PLACED_TRAFFIC[4] = {1234.5, 0, 0.1, 7};

static stc_bundle_t *build_placed(void) {
    stc_bundle_t *b = build(0);
    snprintf(b->topology, sizeof b->topology, "%s", PLACED_TOPOLOGY);
    b->topology_json = strdup(PLACED_JSON);
    b->n_links = 4;
    b->link_traffic = malloc(sizeof PLACED_TRAFFIC);
    memcpy(b->link_traffic, PLACED_TRAFFIC, sizeof PLACED_TRAFFIC);
    return b;
}

/* The placed bundle as stc-coord partition --calibrate leaves it: also the
 * firing rate it measured for each of the 12 stages (values chosen to need
 * every bit of an f64: a third, a tenth, a subnormal). */
static const double RATED_RATES[12] = {3.5, 1.0 / 3, 0.1, 0, 2.25, 4, 1e-310, 0.75, 123456.789, 0.5, 1, 0};

static stc_bundle_t *with_rates(stc_bundle_t *b) {
    b->stage_rate = malloc(sizeof RATED_RATES);
    memcpy(b->stage_rate, RATED_RATES, sizeof RATED_RATES);
    return b;
}

static stc_bundle_t *build_rated(void) { return with_rates(build_placed()); }

/* The smallest bundle: the input goes one-to-one into the readout. */
static stc_bundle_t *build_minimal(void) {
    stc_bundle_t *b = calloc(1, sizeof *b);
    snprintf(b->model, sizeof b->model, "minimal");
    b->pytorch_accuracy = -1;
    b->T = 1;
    b->n_stages = 2;
    b->stages = calloc(2, sizeof *b->stages);
    stage(b, 0, STC_NK_INPUT, "x", 1, 1, 2, 0);
    stage(b, 1, STC_NK_READOUT, "y", 1, 1, 2, 1);
    b->output_stage = 1, b->in_c = 1, b->in_h = 1, b->in_w = 2, b->n_out = 2, b->ticks = 2;
    b->n_projs = 1;
    b->projs = calloc(1, sizeof *b->projs);
    proj(b, 0, STC_SK_ONE2ONE, 0, 1, 1, 0);
    b->n_chips = 1;
    b->n_cores = 2;
    b->cores = calloc(2, sizeof *b->cores);
    core(b, 0, -1, 0, 0, 1, (stc_slice_t[]){{0, 0, 1, 0, 1}});
    core(b, 1, 0, 0, 0, 1, (stc_slice_t[]){{1, 0, 1, 0, 1}});
    tables(b);
    return b;
}

/* ------------------------------------------------------------- helpers */

#define EQ(f)                                                                                                   \
    do {                                                                                                        \
        if ((x)->f != (y)->f) {                                                                                 \
            fprintf(stderr, "\n  %s %d: field %s differs\n", what, idx, #f);                                    \
            return 0;                                                                                           \
        }                                                                                                       \
    } while (0)
#define EQMEM(p, q, n)                                                                                          \
    do {                                                                                                        \
        if (((p) == NULL) != ((q) == NULL) || ((p) && memcmp((p), (q), (n)))) {                                 \
            fprintf(stderr, "\n  %s %d: %s differs\n", what, idx, #p);                                          \
            return 0;                                                                                           \
        }                                                                                                       \
    } while (0)

/* Every field of two bundles, floats bit for bit. */
static int same(const stc_bundle_t *x, const stc_bundle_t *y) {
    const char *what = "manifest";
    int idx = 0;
    EQMEM(x->model, y->model, sizeof x->model);
    EQMEM(x->source, y->source, sizeof x->source);
    EQMEM(x->target, y->target, sizeof x->target);
    EQMEM(x->options, y->options, sizeof x->options);
    EQMEM(x->topology, y->topology, sizeof x->topology);
    EQMEM(x->dataset, y->dataset, sizeof x->dataset);
    EQ(T); EQ(ticks); EQ(n_chips); EQ(input_stage); EQ(output_stage); EQ(in_c); EQ(in_h); EQ(in_w); EQ(n_out);
    EQ(n_norm); EQ(n_stages); EQ(n_projs); EQ(n_cores);
    EQMEM(x->norm_mean, y->norm_mean, sizeof x->norm_mean);
    EQMEM(x->norm_std, y->norm_std, sizeof x->norm_std);
    EQMEM(&x->pytorch_accuracy, &y->pytorch_accuracy, sizeof(double));
    if ((x->target_json == NULL) != (y->target_json == NULL) ||
        (x->target_json && strcmp(x->target_json, y->target_json))) {
        fprintf(stderr, "\n  target_json differs\n");
        return 0;
    }
    if ((x->topology_json == NULL) != (y->topology_json == NULL) ||
        (x->topology_json && strcmp(x->topology_json, y->topology_json))) {
        fprintf(stderr, "\n  topology_json differs\n");
        return 0;
    }
    EQ(n_links);
    EQMEM(x->link_traffic, y->link_traffic, (size_t)x->n_links * sizeof(double));
    EQMEM(x->stage_rate, y->stage_rate, (size_t)x->n_stages * sizeof(double));
    const stc_bundle_t *bx = x, *by = y;
    for (idx = 0; idx < bx->n_stages; idx++) {
        what = "stage";
        const stc_stage_t *sx = &bx->stages[idx], *sy = &by->stages[idx];
        {
            const stc_stage_t *x = sx, *y = sy;
            EQMEM(x->name, y->name, sizeof x->name);
            EQ(ir_node); EQ(kind); EQ(c); EQ(h); EQ(w); EQ(depth); EQ(shl); EQ(dk); EQ(vth); EQ(vreset);
            EQ(rsh); EQ(pbits); EQ(dense); EQ(qexp); EQ(heads); EQ(mul);
            EQMEM(&x->qstep, &y->qstep, sizeof(double));
            EQMEM(x->bias, y->bias, (size_t)x->c * sizeof *x->bias);
        }
    }
    for (idx = 0; idx < bx->n_projs; idx++) {
        what = "projection";
        const stc_proj_t *x = &bx->projs[idx], *y = &by->projs[idx];
        EQ(src); EQ(dst); EQ(kind); EQ(k); EQ(stride); EQ(pad); EQ(delay); EQ(shift); EQ(co); EQ(ci); EQ(c0); EQ(n_w);
        EQMEM(x->w, y->w, (size_t)x->n_w);
    }
    for (idx = 0; idx < bx->n_cores; idx++) {
        what = "core";
        const stc_core_t *x = &bx->cores[idx], *y = &by->cores[idx];
        EQ(chip); EQ(x); EQ(y); EQ(n_slices); EQ(n_axons); EQ(n_axon_runs); EQ(n_neurons); EQ(n_routes);
        EQ(n_route_runs);
        EQ(mem_state); EQ(mem_syn); EQ(mem_axon);
        for (int k = 0; k < x->n_slices; k++) {
            EQ(slices[k].stage); EQ(slices[k].c0); EQ(slices[k].c1); EQ(slices[k].y0); EQ(slices[k].y1);
        }
        for (int k = 0; k < x->n_axon_runs; k++) {
            EQ(axon_runs[k].proj); EQ(axon_runs[k].src); EQ(axon_runs[k].n);
        }
        for (int k = 0; k < x->n_route_runs; k++) {
            EQ(route_runs[k].neuron); EQ(route_runs[k].n); EQ(route_runs[k].core); EQ(route_runs[k].axon);
        }
    }
    return 1;
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Make the header agree with the bytes: body length and CRC (what a forger does). */
static void fix_header(unsigned char *d, size_t n) {
    put64(d + 16, n - 32);
    put32(d + 24, stc_bundle_checksum(d, n));
}

/* Offset of section `tag`'s payload (0 if absent), its length in *len. */
static size_t section(const unsigned char *d, size_t n, const char *tag, uint64_t *len) {
    for (size_t off = 32; off + 12 <= n; off += 12 + (size_t)get64(d + off + 4))
        if (!memcmp(d + off, tag, 4)) {
            *len = get64(d + off + 4);
            return off + 12;
        }
    return 0;
}

static unsigned char *encode(const stc_bundle_t *b, size_t *n) {
    unsigned char *d = NULL;
    stc_err_t err = {0};
    if (stc_bundle_write_mem(b, &d, n, &err)) fprintf(stderr, "\n  write: %s\n", err.msg);
    return d;
}

/* read must fail with `st` and a message containing `want` (starting with the file name) */
static void refused(const unsigned char *d, size_t n, stc_status_t st, const char *want) {
    stc_err_t err = {0};
    stc_bundle_t *b = stc_bundle_read_mem(d, n, "t.stc", &err);
    CU_ASSERT_PTR_NULL(b);
    stc_bundle_destroy(&b);
    CU_ASSERT_EQUAL(err.status, st);
    CU_ASSERT_EQUAL(strncmp(err.msg, "t.stc: ", 7), 0);
    if (!strstr(err.msg, want)) fprintf(stderr, "\n  expected '%s'\n  got      '%s'\n", want, err.msg);
    STC_ASSERT_CONTAINS(err.msg, want);
}

/* ---------------------------------------------------------------- tests */

static void test_roundtrip(void) {
    for (int with_target = 0; with_target < 2; with_target++) {
        stc_bundle_t *b = build(with_target);
        stc_err_t err = {0};
        CU_ASSERT_EQUAL_FATAL(stc_bundle_validate(b, "hand-built", &err), STC_OK);
        size_t n1, n2;
        unsigned char *d1 = encode(b, &n1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d1);
        /* the header */
        static const unsigned char magic[8] = {0x89, 'S', 'T', 'C', '\r', '\n', 0x1a, '\n'};
        CU_ASSERT_EQUAL(memcmp(d1, magic, 8), 0);
        CU_ASSERT_EQUAL(get32(d1 + 8), STC_BUNDLE_VERSION);
        CU_ASSERT_EQUAL(get32(d1 + 12), 0);
        CU_ASSERT_EQUAL(get64(d1 + 16), n1 - 32);
        CU_ASSERT_EQUAL(get32(d1 + 24), stc_bundle_checksum(d1, n1));
        CU_ASSERT_EQUAL(get32(d1 + 28), 0);
        /* the sections, in order, back to back up to the end */
        size_t off = 32;
        static const char *const tags[] = {"MANF", "STAG", "PROJ", "CORE", "TRGT"};
        for (int s = 0; s < 5; s++) {
            CU_ASSERT_EQUAL(memcmp(d1 + off, tags[s], 4), 0);
            off += 12 + (size_t)get64(d1 + off + 4);
        }
        CU_ASSERT_EQUAL(off, n1);
        uint64_t tl;
        size_t at = section(d1, n1, "TRGT", &tl);
        CU_ASSERT_EQUAL(tl, with_target ? strlen(stc_target_preset_json("loihi2")) : 0);
        CU_ASSERT(at > 0);
        /* PROJ: the count, then projection 0 (CONV): src 0, dst 1, kind 1, k 3, ..., n_w 54, weights */
        at = section(d1, n1, "PROJ", &tl);
        CU_ASSERT_EQUAL(get32(d1 + at), N_PROJS);
        CU_ASSERT_EQUAL(get32(d1 + at + 4 + 8), STC_SK_CONV);
        CU_ASSERT_EQUAL(get32(d1 + at + 4 + 12), 3);
        CU_ASSERT_EQUAL(get32(d1 + at + 4 + 40), 0); /* c0 */
        CU_ASSERT_EQUAL(get64(d1 + at + 4 + 44), 54);
        CU_ASSERT_EQUAL((int8_t)d1[at + 4 + 52 + 5], b->projs[0].w[5]);

        stc_bundle_t *r = stc_bundle_read_mem(d1, n1, "t.stc", &err);
        if (!r) fprintf(stderr, "\n  %s\n", err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT(same(b, r));
        unsigned char *d2 = encode(r, &n2);
        CU_ASSERT_EQUAL(n1, n2);
        CU_ASSERT(d2 && n1 == n2 && !memcmp(d1, d2, n1));
        /* through a file */
        const char *path = STC_TEST_DATA_DIR "/bundle_roundtrip.stc";
        CU_ASSERT_EQUAL(stc_bundle_write(r, path, &err), STC_OK);
        stc_bundle_t *f = stc_bundle_read(path, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT(same(b, f));
        remove(path);
        stc_bundle_destroy(&f);
        stc_bundle_destroy(&r);
        stc_bundle_destroy(&b);
        CU_ASSERT_PTR_NULL(b);
        free(d1);
        free(d2);
    }
    /* the minimal bundle too; and I/O errors name the path */
    stc_bundle_t *m = build_minimal();
    size_t n;
    unsigned char *d = encode(m, &n);
    stc_err_t err = {0};
    stc_bundle_t *r = stc_bundle_read_mem(d, n, "m.stc", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(same(m, r));
    CU_ASSERT_EQUAL(stc_bundle_write(m, "/nonexistent-dir/x.stc", &err), STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "/nonexistent-dir/x.stc: cannot create");
    CU_ASSERT_PTR_NULL(stc_bundle_read("/nonexistent-dir/x.stc", &err));
    CU_ASSERT_EQUAL(err.status, STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "/nonexistent-dir/x.stc: cannot open");
    stc_bundle_destroy(&r);
    stc_bundle_destroy(&m);
    free(d);
}

/* The seeds of the fuzz target are this test's bundles, byte for byte (but
 * for the copy of loihi2.json that one carries): the format does not change
 * by accident. */
static void test_seeds(void) {
    struct {
        const char *file;
        stc_bundle_t *b;
    } seeds[] = {{"tiny.stc", build(0)},
                 {"tiny_loihi2.stc", build(1)},
                 {"minimal.stc", build_minimal()},
                 {"tiny_placed.stc", build_placed()},
                 {"tiny_rated.stc", build_rated()}};
    int rewrite = getenv("STC_BUNDLE_WRITE_SEEDS") != NULL;
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        stc_err_t err = {0};
        char path[512];
        snprintf(path, sizeof path, SEEDS "%s", seeds[i].file);
        if (rewrite) CU_ASSERT_EQUAL(stc_bundle_write(seeds[i].b, path, &err), STC_OK);
        size_t n, m;
        unsigned char *d = encode(seeds[i].b, &n), *f = NULL;
        CU_ASSERT_EQUAL_FATAL(stc_read_file(path, 1 << 20, &f, &m, &err), STC_OK);
        stc_bundle_t *r = stc_bundle_read(path, &err);
        CU_ASSERT_PTR_NOT_NULL(r);
        if (r && seeds[i].b->target_json) {
            /* the embedded loihi2.json may since have changed: the rest must not */
            free(seeds[i].b->target_json);
            seeds[i].b->target_json = strdup(r->target_json ? r->target_json : "");
        } else {
            if (m != n || memcmp(d, f, n))
                fprintf(stderr, "\n  %s differs from the test's bundle (a format change? STC_BUNDLE_WRITE_SEEDS=1)\n",
                        path);
            CU_ASSERT(m == n && !memcmp(d, f, n));
        }
        CU_ASSERT(r && same(seeds[i].b, r));
        stc_bundle_destroy(&r);
        stc_bundle_destroy(&seeds[i].b);
        free(d);
        free(f);
    }
}

static void test_truncated(void) {
    stc_bundle_t *b = build(1);
    size_t n;
    unsigned char *d = encode(b, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        unsigned char *cut = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        memcpy(cut, d, len);
        stc_err_t err = {0};
        stc_bundle_t *r = stc_bundle_read_mem(cut, len, "t.stc", &err);
        if (r || err.status != STC_E_FORMAT || strncmp(err.msg, "t.stc: ", 7)) bad++;
        if (len == 0) STC_ASSERT_CONTAINS(err.msg, "t.stc: empty file (0 bytes): not an stc bundle");
        if (len > 0 && len < 32) STC_ASSERT_CONTAINS(err.msg, "bytes, the bundle header alone has 32");
        if (len >= 32) STC_ASSERT_CONTAINS(err.msg, "truncated: the header says");
        stc_bundle_destroy(&r);
        /* the same cut with a header that agrees: the section parser meets the end */
        if (len >= 32) {
            fix_header(cut, len);
            r = stc_bundle_read_mem(cut, len, "t.stc", &err);
            if (r || err.status == STC_OK || strncmp(err.msg, "t.stc: ", 7)) bad++;
            stc_bundle_destroy(&r);
        }
        free(cut);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* a cut inside the manifest names the section and the field: the six
     * strings take 19 + 12 + 10 + 39 + 11 + 12 = 103 bytes, then T */
    uint64_t len;
    size_t man = section(d, n, "MANF", &len);
    CU_ASSERT_EQUAL(man, 44);
    unsigned char *cut = malloc(man + 105);
    memcpy(cut, d, man + 105);
    put64(cut + man - 8, 105);
    fix_header(cut, man + 105);
    refused(cut, man + 105, STC_E_FORMAT,
            "t.stc: section 'MANF' at byte 32: field 'T' at byte 147 needs 4 bytes, the section ends 2 bytes later");
    free(cut);
    /* a cut inside stage 1's biases: stage 0 takes 93 bytes, stage 1 up to its biases 98 */
    size_t stag = section(d, n, "STAG", &len);
    size_t keep = 4 + 93 + 98 + 8;
    cut = malloc(stag + keep);
    memcpy(cut, d, stag + keep);
    put64(cut + stag - 8, keep);
    put32(cut + stag, 2); /* two stages: 176 bytes at least, 199 there */
    fix_header(cut, stag + keep);
    refused(cut, stag + keep, STC_E_FORMAT, "stage 1 'patch.conv': 3 biases need 24 bytes, the section has 8 left");
    free(cut);
    free(d);
    stc_bundle_destroy(&b);
}

static void test_corrupt(void) {
    stc_bundle_t *b = build(1);
    size_t n;
    unsigned char *d = encode(b, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    int crc_caught = 0, clean = 0;
    for (size_t i = 32; i < n; i++) {
        d[i] ^= 0x20;
        stc_err_t err = {0};
        stc_bundle_t *r = stc_bundle_read_mem(d, n, "t.stc", &err);
        crc_caught += !r && strstr(err.msg, "t.stc: corrupt: the CRC-32 of the body is 0x") &&
                      strstr(err.msg, "the file was damaged after it was written");
        stc_bundle_destroy(&r);
        /* with the CRC made right the parser and validate see the damage: no crash, a message or a bundle */
        uint32_t crc = get32(d + 24);
        fix_header(d, n);
        r = stc_bundle_read_mem(d, n, "t.stc", &err);
        clean += r ? 1 : (err.status != STC_OK && !strncmp(err.msg, "t.stc: ", 7));
        stc_bundle_destroy(&r);
        put32(d + 24, crc);
        d[i] ^= 0x20;
    }
    CU_ASSERT_EQUAL(crc_caught, (int)(n - 32));
    CU_ASSERT_EQUAL(clean, (int)(n - 32));
    free(d);
    stc_bundle_destroy(&b);
}

/* A field set out of range in memory, written (the writer does not judge),
 * read back: the reader refuses with the message validate gives. */
typedef void (*mutate_fn)(stc_bundle_t *b);
static void expect_field(mutate_fn f, stc_status_t st, const char *want) {
    stc_bundle_t *b = build(1);
    f(b);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_bundle_validate(b, "t.stc", &err), st);
    STC_ASSERT_CONTAINS(err.msg, want);
    char vmsg[STC_ERR_MSG_MAX];
    snprintf(vmsg, sizeof vmsg, "%s", err.msg);
    size_t n;
    unsigned char *d = encode(b, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    refused(d, n, st, want);
    stc_bundle_t *r = stc_bundle_read_mem(d, n, "t.stc", &err);
    CU_ASSERT_STRING_EQUAL(err.msg, vmsg);
    stc_bundle_destroy(&r);
    free(d);
    stc_bundle_destroy(&b);
}

static void m_slice_rows(stc_bundle_t *b) { b->cores[2].slices[1].y1 = 9; }
static void m_route_axon(stc_bundle_t *b) { b->cores[0].route_runs[0].axon = 999; }
static void m_route_core(stc_bundle_t *b) { b->cores[0].route_runs[0].core = 4; }
static void m_route_other(stc_bundle_t *b) { b->cores[0].route_runs[0].axon = 1; }
static void m_route_end(stc_bundle_t *b) { b->cores[0].route_runs[0].axon = 61; } /* axons [61,93) of 92 */
static void m_axon_src(stc_bundle_t *b) { b->cores[1].axon_runs[0].src = 99; }
static void m_axon_proj(stc_bundle_t *b) { b->cores[1].axon_runs[2].proj = -1; }
static void m_axon_n0(stc_bundle_t *b) { b->cores[1].axon_runs[1].n = 0; }
static void m_axon_tail(stc_bundle_t *b) { b->cores[1].axon_runs[0].src = 1; } /* neurons 1..32 of 32 */
static void m_axon_total(stc_bundle_t *b) { b->cores[1].n_axons = 91; }
/* core 1's axon run 0 split in two, the halves swapped: same axons, another order */
static void m_axon_order(stc_bundle_t *b) {
    stc_core_t *c = &b->cores[1];
    c->axon_runs = realloc(c->axon_runs, (size_t)(c->n_axon_runs + 1) * sizeof *c->axon_runs);
    memmove(c->axon_runs + 1, c->axon_runs, (size_t)c->n_axon_runs * sizeof *c->axon_runs);
    c->n_axon_runs++;
    c->axon_runs[0] = (stc_axon_run_t){P_CONV, 16, 16};
    c->axon_runs[1] = (stc_axon_run_t){P_CONV, 0, 16};
}
static void m_conv_nw(stc_bundle_t *b) { b->projs[P_CONV].n_w = 10; }
static void m_one2one_nw(stc_bundle_t *b) { b->projs[P_Q1].n_w = 3; }
static void m_delay(stc_bundle_t *b) { b->projs[P_ADD_A].delay = 2; }
static void m_stage_kind(stc_bundle_t *b) { b->stages[3].kind = 99; }
static void m_proj_kind(stc_bundle_t *b) { b->projs[P_BCAST].kind = 0; }
static void m_proj_dst(stc_bundle_t *b) { b->projs[P_HEAD].dst = 12; }
static void m_rr_order(stc_bundle_t *b) {
    stc_route_run_t t = b->cores[1].route_runs[0];
    b->cores[1].route_runs[0] = b->cores[1].route_runs[1], b->cores[1].route_runs[1] = t;
}
static void m_rr_total(stc_bundle_t *b) { b->cores[3].n_routes--; }
static void m_rr_n0(stc_bundle_t *b) { b->cores[2].route_runs[1].n = 0; }
static void m_rr_neurons(stc_bundle_t *b) { b->cores[0].route_runs[0].neuron = 1; } /* neurons 1..32 of 32 */
/* core 0's run split in two, the second half sent to the first half's axons */
static void m_rr_twice(stc_bundle_t *b) {
    stc_core_t *c = &b->cores[0];
    c->route_runs = realloc(c->route_runs, 2 * sizeof *c->route_runs);
    c->route_runs[0] = (stc_route_run_t){0, 16, 1, 0};
    c->route_runs[1] = (stc_route_run_t){16, 16, 1, 0};
    c->n_route_runs = 2;
}
static void m_input_stage(stc_bundle_t *b) { b->input_stage = 12; }
static void m_n_neurons(stc_bundle_t *b) { b->cores[1].n_neurons--; }
static void m_overlap(stc_bundle_t *b) { b->cores[2].slices[5].y0 = 0, b->cores[2].slices[5].y1 = 1; }
static void m_overlap_on(stc_bundle_t *b) { b->cores[2].slices[0].c0 = 1, b->cores[2].slices[0].c1 = 3; }
static void m_gap(stc_bundle_t *b) {
    stc_slice_t *sl = &b->cores[2].slices[5];
    sl->c0 = 2, sl->c1 = 4, sl->y0 = 0, sl->y1 = 2; /* as many neurons; channels 0 and 1 lose row 1 */
}
static void m_memory(stc_bundle_t *b) { b->cores[1].mem_syn = 200000; }
static void m_position(stc_bundle_t *b) { b->cores[2].x = 0; }
static void m_heads(stc_bundle_t *b) { b->stages[7].heads = 3; }
static void m_ticks(stc_bundle_t *b) { b->ticks = 12; }
static void m_depth(stc_bundle_t *b) { b->stages[0].depth = 1; }
static void m_dk(stc_bundle_t *b) { b->stages[4].dk = 0; }
static void m_window(stc_bundle_t *b) { b->projs[P_WINDOW].stride = 1; }
static void m_chip(stc_bundle_t *b) { b->cores[3].chip = 2; }
static void m_name(stc_bundle_t *b) { b->stages[2].name[1] = '\n'; }
static void m_norm(stc_bundle_t *b) { b->norm_std[1] = 0; }
static void m_ssa_twice(stc_bundle_t *b) { b->projs[P_SV].kind = STC_SK_SSA_K; }
static void m_bias_kind(stc_bundle_t *b) { b->stages[2].bias = calloc(3, sizeof(int64_t)); }
static void m_link_negative(stc_bundle_t *b) {
    b->n_links = 2;
    b->link_traffic = calloc(2, sizeof(double));
    b->link_traffic[1] = -3;
}
static void m_link_inf(stc_bundle_t *b) {
    b->n_links = 1;
    b->link_traffic = calloc(1, sizeof(double));
    b->link_traffic[0] = HUGE_VAL;
}
static void m_link_unplaced(stc_bundle_t *b) {
    b->topology[0] = 0;
    b->n_links = 1;
    b->link_traffic = calloc(1, sizeof(double));
}
static void m_rate_negative(stc_bundle_t *b) {
    with_rates(b)->stage_rate[3] = -0.5;
}
static void m_rate_nan(stc_bundle_t *b) { with_rates(b)->stage_rate[11] = NAN; }
static void m_rate_inf(stc_bundle_t *b) { with_rates(b)->stage_rate[0] = HUGE_VAL; }
static void m_topo_unplaced(stc_bundle_t *b) {
    b->topology[0] = 0;
    b->topology_json = strdup(PLACED_JSON);
}

static void m_dense_c0(stc_bundle_t *b) { b->projs[P_DENSE].c0 = 1; }
static void m_conv_c0(stc_bundle_t *b) { b->projs[P_CONV].c0 = 2; }
static void m_one2one_c0(stc_bundle_t *b) { b->projs[P_K1].c0 = 1; }

static void test_fields(void) {
    expect_field(m_dense_c0, STC_E_FORMAT, "reads source channels [1, 1+3), expected a range within the source's 0..3");
    expect_field(m_conv_c0, STC_E_FORMAT, "t.stc: projection 0 (CONV 'input' -> 'patch.conv'): reads source "
                                          "channels [2, 2+");
    expect_field(m_one2one_c0, STC_E_FORMAT, "): field 'c0' is 1, expected 0 (only a DENSE or CONV reads a channel "
                                             "range)");
    expect_field(m_slice_rows, STC_E_FORMAT,
                 "t.stc: core 2 slice 1 (stage 4 'block.0.attn.q_lif'): rows [0,9) outside the stage's 2 rows");
    expect_field(m_route_axon, STC_E_FORMAT,
                 "t.stc: core 0 route run 0 (neuron 0: stage 0 'input' neuron 0): field 'axon' is 999 and 'n' 32: "
                 "axons [999,1031), core 1 has 92 input axons");
    expect_field(m_route_end, STC_E_FORMAT, "field 'axon' is 61 and 'n' 32: axons [61,93), core 1 has 92 input axons");
    expect_field(m_route_core, STC_E_FORMAT, "t.stc: core 0 route run 0 (neuron 0: stage 0 'input' neuron 0): field "
                                             "'core' is 4, expected a core index 0..3");
    expect_field(m_route_other, STC_E_FORMAT, "t.stc: core 0 route run 0 (neuron 0: stage 0 'input' neuron 0): "
                                              "reaches core 1 axon 1, which carries stage 0 'input' neuron 1 "
                                              "(projection 0)");
    expect_field(m_rr_twice, STC_E_FORMAT, "t.stc: core 0 route run 1 (neuron 16: stage 0 'input' neuron 16): "
                                           "core 1 axon 0 is reached by a second route");
    expect_field(m_axon_order, STC_E_FORMAT, "t.stc: core 0 route run 0 (neuron 0: stage 0 'input' neuron 0): "
                                             "reaches core 1 axon 0, which carries stage 0 'input' neuron 16");
    expect_field(m_axon_src, STC_E_FORMAT,
                 "t.stc: core 1 axon run 0 (axons from 0, projection 0 'input' -> 'patch.conv'): field 'src' is 99 "
                 "and 'n' 32: source neurons [99,131) outside the source stage's 32 neurons");
    expect_field(m_axon_tail, STC_E_FORMAT, "field 'src' is 1 and 'n' 32: source neurons [1,33) outside the source "
                                            "stage's 32 neurons");
    expect_field(m_axon_proj, STC_E_FORMAT, "t.stc: core 1 axon run 2: field 'proj' is -1, expected a projection "
                                            "index 0..14");
    expect_field(m_axon_n0, STC_E_FORMAT, "t.stc: core 1 axon run 1 (axons from 32, projection 1 'patch.conv' -> "
                                          "'patch.pool'): field 'n' is 0, expected >= 1 axons");
    expect_field(m_axon_total, STC_E_FORMAT, "t.stc: core 1: field 'n_axons' is 91, its 3 axon runs hold 92 axons");
    expect_field(m_conv_nw, STC_E_FORMAT, "t.stc: projection 0 (CONV 'input' -> 'patch.conv'): field 'n_w' is 10, "
                                          "CONV needs 54 weights (co*ci*k*k)");
    expect_field(m_one2one_nw, STC_E_FORMAT, "t.stc: projection 3 (ONE2ONE 'patch.lif' -> 'block.0.attn.q_lif'): "
                                             "field 'n_w' is 3, ONE2ONE needs C = 4 or 1 weights");
    expect_field(m_delay, STC_E_FORMAT, "t.stc: projection 9 (ONE2ONE 'block.0.attn' -> 'block.0.add'): field "
                                        "'delay' is 2, expected depth(dst) - depth(src) = 6 - 5 = 1");
    expect_field(m_stage_kind, STC_E_FORMAT, "t.stc: stage 3 'patch.lif': field 'kind' is 99, expected a stage kind "
                                             "1..7");
    expect_field(m_proj_kind, STC_E_FORMAT, "t.stc: projection 12: field 'kind' is 0, expected a synapse kind 1..10");
    expect_field(m_proj_dst, STC_E_FORMAT, "t.stc: projection 14 (DENSE_REDUCE): field 'dst' is 12, expected a stage "
                                           "index 0..11");
    expect_field(m_rr_order, STC_E_FORMAT, "t.stc: core 1 route run 1: (neuron ");
    expect_field(m_rr_order, STC_E_FORMAT, "route runs are sorted by (neuron, core, axon)");
    expect_field(m_rr_total, STC_E_FORMAT, "t.stc: core 3: field 'n_routes' is 43, its 8 route runs hold 44 routes");
    expect_field(m_rr_n0, STC_E_FORMAT, "t.stc: core 2 route run 1: field 'n' is 0, expected >= 1 routes");
    expect_field(m_rr_neurons, STC_E_FORMAT, "t.stc: core 0 route run 0: field 'neuron' is 1 and 'n' 32: neurons "
                                             "[1,33) outside the core's 32 neurons");
    expect_field(m_input_stage, STC_E_FORMAT, "t.stc: stage 0 'input' is an INPUT stage, but input_stage is 12");
    expect_field(m_n_neurons, STC_E_FORMAT, "t.stc: core 1: field 'n_neurons' is 67, its slices hold 68 neurons");
    expect_field(m_overlap, STC_E_FORMAT,
                 "t.stc: core 3 slice 1 (stage 8 'block.0.add'): channel 0 row 0 is also in core 2 slice 5");
    expect_field(m_overlap_on, STC_E_FORMAT,
                 "t.stc: core 2 slice 0 (stage 3 'patch.lif'): channel 1 row 0 is also in core 1 slice 2");
    expect_field(m_gap, STC_E_FORMAT, "t.stc: stage 8 'block.0.add': channel 0 row 1 is in no slice");
    expect_field(m_memory, STC_E_FORMAT, "t.stc: core 1: 200544 bytes of memory (state 544 + synapses 200000), "
                                         "target loihi2 has memory_per_core_bytes 196608");
    expect_field(m_position, STC_E_FORMAT, "t.stc: cores 1 and 2 are both at chip 0 (x 0, y 0)");
    expect_field(m_heads, STC_E_FORMAT, "t.stc: stage 7 'block.0.attn' (SSA): field 'heads' is 3, expected a divisor "
                                        "of its 4 channels");
    expect_field(m_ticks, STC_E_FORMAT, "t.stc: manifest: field 'ticks' is 12, expected T + depth(READOUT) = 4 + 9 = "
                                        "13");
    expect_field(m_depth, STC_E_FORMAT, "t.stc: stage 0 'input' (INPUT): field 'depth' is 1, expected 0 for the INPUT "
                                        "stage");
    expect_field(m_dk, STC_E_FORMAT, "t.stc: stage 4 'block.0.attn.q_lif' (LIF): field 'dk' is 0, expected 1..4096");
    expect_field(m_window, STC_E_FORMAT, "t.stc: projection 1 (WINDOW 'patch.conv' -> 'patch.pool'): a 2x2 window "
                                         "(stride 1, pad 0) over 4x4 gives 3x3, the destination is 2x2");
    expect_field(m_chip, STC_E_FORMAT, "t.stc: core 3: field 'chip' is 2, expected a chip index below n_chips");
    expect_field(m_name, STC_E_FORMAT, "t.stc: stage 2: field 'name' is not text");
    expect_field(m_norm, STC_E_FORMAT, "t.stc: manifest: normalization channel 1: mean 0.4822, std 0");
    expect_field(m_ssa_twice, STC_E_FORMAT, "t.stc: stage 7 'block.0.attn' (SSA): 2 SSA_K projections, expected "
                                            "exactly 1");
    expect_field(m_bias_kind, STC_E_FORMAT, "t.stc: stage 2 'patch.pool' (MAX): has a bias; only LIF, RELAY and "
                                            "READOUT stages add one");
    expect_field(m_link_negative, STC_E_FORMAT, "t.stc: link 1: field 'link_traffic' is -3, expected a finite number "
                                                ">= 0 (spikes per inference)");
    expect_field(m_link_inf, STC_E_FORMAT, "t.stc: link 0: field 'link_traffic' is inf, expected a finite number");
    expect_field(m_link_unplaced, STC_E_FORMAT, "t.stc: manifest: field 'n_links' is 1, but field 'topology' names "
                                                "no topology (link traffic belongs to a placement)");
    expect_field(m_topo_unplaced, STC_E_FORMAT, "t.stc: manifest: field 'topology_json' is present, but field "
                                                "'topology' names no topology");
    expect_field(m_rate_negative, STC_E_FORMAT, "t.stc: stage 3 'patch.lif': field 'stage_rate' is -0.5, expected a "
                                                "finite number >= 0 (spikes per neuron per inference)");
    expect_field(m_rate_nan, STC_E_FORMAT, "t.stc: stage 11 'head': field 'stage_rate' is nan, expected a finite "
                                           "number >= 0");
    expect_field(m_rate_inf, STC_E_FORMAT, "t.stc: stage 0 'input': field 'stage_rate' is inf, expected a finite "
                                           "number >= 0");
}

/* bytes d[0, k) then the extra bytes x, with the header made to agree */
static unsigned char *splice(const unsigned char *d, size_t k, const unsigned char *x, size_t nx, size_t *n) {
    unsigned char *e = malloc(k + nx + 1);
    memcpy(e, d, k);
    if (nx) memcpy(e + k, x, nx);
    *n = k + nx;
    fix_header(e, *n);
    return e;
}

/* The placement's optional sections 'topo' and 'link': where they go, what
 * they hold, that a bundle without them (an older stc's) still reads, and
 * every way they can be damaged. */
static void test_placement(void) {
    stc_bundle_t *b = build_placed();
    stc_err_t err = {0};
    CU_ASSERT_EQUAL_FATAL(stc_bundle_validate(b, "placed", &err), STC_OK);
    size_t n;
    unsigned char *d = encode(b, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    /* after TRGT: topo (the text as it is), link (n_links, then an f64 per link), the end */
    uint64_t len, tlen, llen;
    size_t trgt = section(d, n, "TRGT", &len), topo = section(d, n, "topo", &tlen), link = section(d, n, "link", &llen);
    size_t end_trgt = trgt + (size_t)len, end_topo = topo + (size_t)tlen;
    CU_ASSERT_EQUAL(topo, end_trgt + 12);
    CU_ASSERT_EQUAL(tlen, strlen(PLACED_JSON));
    CU_ASSERT_EQUAL(memcmp(d + topo, PLACED_JSON, strlen(PLACED_JSON)), 0);
    CU_ASSERT_EQUAL(link, end_topo + 12);
    CU_ASSERT_EQUAL(llen, 4 + 4 * 8);
    CU_ASSERT_EQUAL(link + llen, n);
    CU_ASSERT_EQUAL(get32(d + link), 4);
    for (int l = 0; l < 4; l++) {
        uint64_t u;
        memcpy(&u, &PLACED_TRAFFIC[l], 8);
        CU_ASSERT_EQUAL(get64(d + link + 4 + 8 * l), u);
    }
    /* read back: the exact text and values; written again: the same bytes */
    stc_bundle_t *r = stc_bundle_read_mem(d, n, "t.stc", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(r->topology, "deploy/topologies/square.json");
    CU_ASSERT_STRING_EQUAL(r->topology_json, PLACED_JSON);
    CU_ASSERT_EQUAL_FATAL(r->n_links, 4);
    CU_ASSERT_EQUAL(r->link_traffic[0], 1234.5);
    CU_ASSERT_EQUAL(r->link_traffic[1], 0.0);
    CU_ASSERT_EQUAL(r->link_traffic[2], 0.1);
    CU_ASSERT_EQUAL(r->link_traffic[3], 7.0);
    CU_ASSERT(same(b, r));
    size_t n2;
    unsigned char *d2 = encode(r, &n2);
    CU_ASSERT(d2 && n2 == n && !memcmp(d, d2, n));
    free(d2);
    stc_bundle_destroy(&r);
    /* cut after TRGT at every length (header made right): only the two section
     * boundaries read, as the bundle without the sections cut off */
    int bad = 0;
    for (size_t k = end_trgt; k < n; k++) {
        size_t m;
        unsigned char *e = splice(d, k, NULL, 0, &m);
        r = stc_bundle_read_mem(e, m, "t.stc", &err);
        if (k == end_trgt || k == end_topo) {
            bad += !r || r->n_links != 0 || r->link_traffic || (r->topology_json != NULL) != (k == end_topo);
            if (r && k == end_trgt) { /* what an stc before these sections wrote */
                CU_ASSERT_STRING_EQUAL(r->topology, "deploy/topologies/square.json");
                CU_ASSERT_PTR_NULL(r->topology_json);
            }
        } else {
            bad += r || err.status != STC_E_FORMAT || strncmp(err.msg, "t.stc: ", 7);
        }
        stc_bundle_destroy(&r);
        free(e);
    }
    CU_ASSERT_EQUAL(bad, 0);
    size_t m;
    unsigned char *e = splice(d, n - 3, NULL, 0, &m);
    char want[160];
    snprintf(want, sizeof want, "t.stc: section 'link' at byte %zu says it has 36 bytes, the file has 33 left",
             link - 12);
    refused(e, m, STC_E_FORMAT, want);
    free(e);
    e = splice(d, end_topo + 5, NULL, 0, &m);
    refused(e, m, STC_E_FORMAT, "truncated section header at byte ");
    free(e);

    /* the link section's count against its limit, its bytes and zero */
    unsigned char *f = malloc(n);
#define FRESH() memcpy(f, d, n)
    FRESH();
    put32(f + link, 0xffffffffu);
    fix_header(f, n);
    snprintf(want, sizeof want, "t.stc: section 'link' at byte %zu: field 'n_links' is 4294967295 links, limit 1048576",
             link - 12);
    refused(f, n, STC_E_LIMIT, want);
    FRESH();
    put32(f + link, 5);
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "field 'n_links' is 5 links, which need at least 40 bytes; the section has 32 left");
    FRESH();
    put32(f + link, 3);
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "section 'link' at byte ");
    refused(f, n, STC_E_FORMAT, ": 8 bytes left after the last field");
    FRESH();
    put32(f + link, 0);
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "field 'n_links' is 0 (a bundle without link traffic has no 'link' section)");
    FRESH();
    put64(f + link + 4 + 16, 0xbff0000000000000ull); /* -1.0 */
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "t.stc: link 2: field 'link_traffic' is -1, expected a finite number >= 0");
    FRESH();
    put64(f + link + 4 + 24, 0x7ff8000000000000ull); /* NaN */
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "t.stc: link 3: field 'link_traffic' is ");
    /* the topo section: a NUL byte, empty, over the limit (and exactly at it) */
    FRESH();
    f[topo + 7] = 0;
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "section 'topo' at byte ");
    refused(f, n, STC_E_FORMAT, ": field 'topology_json' contains a NUL byte");
    unsigned char hdr[12];
    memcpy(hdr, "topo", 4);
    put64(hdr + 4, 0);
    e = splice(d, end_trgt, hdr, 12, &m);
    refused(e, m, STC_E_FORMAT, "field 'topology_json' is empty (a bundle without a topology file has no 'topo' "
                                "section)");
    free(e);
    for (size_t big = STC_BUNDLE_MAX_TOPOLOGY_JSON; big <= STC_BUNDLE_MAX_TOPOLOGY_JSON + 1; big++) {
        unsigned char *x = malloc(12 + big);
        memcpy(x, "topo", 4);
        put64(x + 4, big);
        memset(x + 12, ' ', big);
        e = splice(d, end_trgt, x, 12 + big, &m);
        if (big == STC_BUNDLE_MAX_TOPOLOGY_JSON) {
            r = stc_bundle_read_mem(e, m, "t.stc", &err);
            CU_ASSERT(r && r->topology_json && strlen(r->topology_json) == big);
            stc_bundle_destroy(&r);
        } else {
            snprintf(want, sizeof want,
                     "t.stc: section 'topo' at byte %zu: field 'topology_json' is 1048577 bytes, limit 1048576",
                     end_trgt);
            refused(e, m, STC_E_LIMIT, want);
        }
        free(e);
        free(x);
    }
    /* where they go: after TRGT, topo before link, once each; unknown optional sections between are skipped */
    {
        size_t ntopo = 12 + (size_t)tlen, nlink = 12 + (size_t)llen;
        unsigned char *x = malloc(2 * (ntopo + nlink) + 12 + 8);
        memcpy(x, d + link - 12, nlink); /* link, topo */
        memcpy(x + nlink, d + topo - 12, ntopo);
        e = splice(d, end_trgt, x, nlink + ntopo, &m);
        snprintf(want, sizeof want, "t.stc: section 'topo' at byte %zu: out of order or twice (the optional sections "
                                    "topo, link and rate follow TRGT, in this order, at most once each)",
                 end_trgt + nlink);
        refused(e, m, STC_E_FORMAT, want);
        free(e);
        e = splice(d, n, d + topo - 12, ntopo, &m); /* topo, link, topo */
        refused(e, m, STC_E_FORMAT, "out of order or twice");
        free(e);
        memcpy(x, d + topo - 12, ntopo); /* topo, then TRGT */
        memcpy(x + ntopo, d + trgt - 12, 12 + (size_t)len);
        e = splice(d, trgt - 12, x, ntopo + 12 + (size_t)len, &m);
        snprintf(want, sizeof want, "t.stc: section 'topo' at byte %zu: before TRGT", trgt - 12);
        refused(e, m, STC_E_FORMAT, want);
        free(e);
        memcpy(x, d + topo - 12, ntopo); /* topo, note, link */
        memcpy(x + ntopo, "note", 4);
        put64(x + ntopo + 4, 8);
        memcpy(x + ntopo + 12, "whatever", 8);
        memcpy(x + ntopo + 20, d + link - 12, nlink);
        e = splice(d, end_trgt, x, ntopo + 20 + nlink, &m);
        r = stc_bundle_read_mem(e, m, "t.stc", &err);
        CU_ASSERT(r && same(b, r));
        stc_bundle_destroy(&r);
        free(e);
        free(x);
    }
#undef FRESH
    /* the writer: counts it cannot encode, text over the limit */
    unsigned char *w = NULL;
    size_t nw = 0;
    free(b->link_traffic);
    b->link_traffic = NULL;
    CU_ASSERT_EQUAL(stc_bundle_write_mem(b, &w, &nw, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "bundle write: field 'n_links' is 4 without an array (limit 1048576)");
    b->n_links = 0;
    free(b->topology_json);
    b->topology_json = malloc(STC_BUNDLE_MAX_TOPOLOGY_JSON + 2);
    memset(b->topology_json, ' ', STC_BUNDLE_MAX_TOPOLOGY_JSON + 1);
    b->topology_json[STC_BUNDLE_MAX_TOPOLOGY_JSON + 1] = 0;
    CU_ASSERT_EQUAL(stc_bundle_write_mem(b, &w, &nw, &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "bundle write: field 'topology_json' is over 1048576 bytes");
    CU_ASSERT_EQUAL(stc_bundle_validate(b, "m", &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "m: manifest: field 'topology_json' is over 1048576 bytes");
    CU_ASSERT_PTR_NULL(w);
    free(f);
    free(d);
    stc_bundle_destroy(&b);
}

/* The measured firing rates, section 'rate': after topo and link (or right
 * after TRGT in an unplaced bundle), n_stages then an f64 per stage, read back
 * bit for bit; a bundle without it (an older stc's) still reads; every way it
 * can be damaged is refused naming the file, the section and the field. */
static void test_rates(void) {
    stc_bundle_t *b = build_rated();
    stc_err_t err = {0};
    CU_ASSERT_EQUAL_FATAL(stc_bundle_validate(b, "rated", &err), STC_OK);
    size_t n;
    unsigned char *d = encode(b, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    uint64_t llen, rlen;
    size_t link = section(d, n, "link", &llen), rate = section(d, n, "rate", &rlen);
    size_t end_link = link + (size_t)llen;
    CU_ASSERT_EQUAL(rate, end_link + 12);
    CU_ASSERT_EQUAL(rlen, 4 + 12 * 8);
    CU_ASSERT_EQUAL(rate + rlen, n);
    CU_ASSERT_EQUAL(get32(d + rate), 12);
    for (int s = 0; s < 12; s++) {
        uint64_t u;
        memcpy(&u, &RATED_RATES[s], 8);
        CU_ASSERT_EQUAL(get64(d + rate + 4 + 8 * s), u);
    }
    /* read back: the exact values; written again: the same bytes */
    stc_bundle_t *r = stc_bundle_read_mem(d, n, "t.stc", &err);
    if (!r) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->stage_rate);
    CU_ASSERT_EQUAL(memcmp(r->stage_rate, RATED_RATES, sizeof RATED_RATES), 0);
    CU_ASSERT_EQUAL(r->stage_rate[1], 1.0 / 3);
    CU_ASSERT_EQUAL(r->stage_rate[6], 1e-310);
    CU_ASSERT_EQUAL(r->n_links, 4);
    CU_ASSERT(same(b, r));
    size_t n2;
    unsigned char *d2 = encode(r, &n2);
    CU_ASSERT(d2 && n2 == n && !memcmp(d, d2, n));
    free(d2);
    stc_bundle_destroy(&r);
    /* without it, as an stc before the section wrote: the same bundle, no rates */
    size_t m;
    unsigned char *e = splice(d, end_link, NULL, 0, &m);
    r = stc_bundle_read_mem(e, m, "t.stc", &err);
    CU_ASSERT_PTR_NOT_NULL(r);
    CU_ASSERT(r && r->stage_rate == NULL && r->n_links == 4);
    stc_bundle_destroy(&r);
    free(e);
    /* an unplaced bundle with rates: the section right after TRGT */
    {
        stc_bundle_t *u = with_rates(build(0));
        size_t nu;
        unsigned char *du = encode(u, &nu);
        CU_ASSERT_PTR_NOT_NULL_FATAL(du);
        uint64_t tl, ul;
        size_t trgt = section(du, nu, "TRGT", &tl), ur = section(du, nu, "rate", &ul);
        CU_ASSERT_EQUAL(ur, trgt + (size_t)tl + 12);
        CU_ASSERT_EQUAL(ur + ul, nu);
        CU_ASSERT_PTR_NULL(section(du, nu, "link", &tl) ? du : NULL);
        r = stc_bundle_read_mem(du, nu, "u.stc", &err);
        CU_ASSERT(r && same(u, r) && r->n_links == 0 && r->topology_json == NULL);
        stc_bundle_destroy(&r);
        free(du);
        stc_bundle_destroy(&u);
    }
    /* cut inside the section at every length (header made right): refused */
    int bad = 0;
    for (size_t k = end_link + 1; k < n; k++) {
        e = splice(d, k, NULL, 0, &m);
        r = stc_bundle_read_mem(e, m, "t.stc", &err);
        bad += r || err.status != STC_E_FORMAT || strncmp(err.msg, "t.stc: ", 7);
        stc_bundle_destroy(&r);
        free(e);
    }
    CU_ASSERT_EQUAL(bad, 0);
    char want[200];
    e = splice(d, n - 3, NULL, 0, &m);
    snprintf(want, sizeof want, "t.stc: section 'rate' at byte %zu says it has 100 bytes, the file has 97 left",
             rate - 12);
    refused(e, m, STC_E_FORMAT, want);
    free(e);
    /* a payload one rate short, with its length to match: the count says 12 */
    unsigned char *f = malloc(n + 16);
    memcpy(f, d, n - 8);
    put64(f + rate - 8, rlen - 8);
    fix_header(f, n - 8);
    snprintf(want, sizeof want,
             "t.stc: section 'rate' at byte %zu: field 'n_stages' is 12 stages, which need at least 96 bytes; the "
             "section has 88 left", rate - 12);
    refused(f, n - 8, STC_E_FORMAT, want);
    /* ... and with the count made 11: not the stages' count */
    put32(f + rate, 11);
    fix_header(f, n - 8);
    snprintf(want, sizeof want,
             "t.stc: section 'rate' at byte %zu: field 'n_stages' is 11, expected the 12 stages of section 'STAG'",
             rate - 12);
    refused(f, n - 8, STC_E_FORMAT, want);
    /* the count against its limit, its bytes, zero */
#define FRESH() memcpy(f, d, n)
    FRESH();
    put32(f + rate, 0xffffffffu);
    fix_header(f, n);
    snprintf(want, sizeof want, "t.stc: section 'rate' at byte %zu: field 'n_stages' is 4294967295 stages, limit 65536",
             rate - 12);
    refused(f, n, STC_E_LIMIT, want);
    FRESH();
    put32(f + rate, 13);
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "field 'n_stages' is 13 stages, which need at least 104 bytes; the section has 96 left");
    FRESH();
    put32(f + rate, 11);
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "field 'n_stages' is 11, expected the 12 stages of section 'STAG'");
    FRESH();
    put32(f + rate, 0);
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "field 'n_stages' is 0, expected the 12 stages of section 'STAG'");
    /* the values: validate's messages */
    FRESH();
    put64(f + rate + 4 + 8 * 3, 0xbff0000000000000ull); /* -1.0 */
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "t.stc: stage 3 'patch.lif': field 'stage_rate' is -1, expected a finite number >= 0 "
                                "(spikes per neuron per inference)");
    FRESH();
    put64(f + rate + 4 + 8 * 11, 0x7ff8000000000000ull); /* NaN */
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "t.stc: stage 11 'head': field 'stage_rate' is nan, expected a finite number >= 0");
    FRESH();
    put64(f + rate + 4, 0x7ff0000000000000ull); /* +inf */
    fix_header(f, n);
    refused(f, n, STC_E_FORMAT, "t.stc: stage 0 'input': field 'stage_rate' is inf, expected a finite number >= 0");
    FRESH();
    put64(f + rate + 4 + 8 * 5, 0x8000000000000000ull); /* -0.0: not below 0, kept bit for bit */
    fix_header(f, n);
    r = stc_bundle_read_mem(f, n, "t.stc", &err);
    CU_ASSERT(r && r->stage_rate && r->stage_rate[5] == 0 && signbit(r->stage_rate[5]));
    stc_bundle_destroy(&r);
#undef FRESH
    /* where it goes: after link, once; before TRGT is refused */
    {
        size_t nrate = 12 + (size_t)rlen, nlink = 12 + (size_t)llen;
        unsigned char *x = malloc(nrate + nlink);
        memcpy(x, d + rate - 12, nrate); /* rate, link */
        memcpy(x + nrate, d + link - 12, nlink);
        e = splice(d, link - 12, x, nrate + nlink, &m);
        snprintf(want, sizeof want, "t.stc: section 'link' at byte %zu: out of order or twice (the optional sections "
                                    "topo, link and rate follow TRGT, in this order, at most once each)",
                 link - 12 + nrate);
        refused(e, m, STC_E_FORMAT, want);
        free(e);
        e = splice(d, n, d + rate - 12, nrate, &m); /* rate twice */
        snprintf(want, sizeof want, "t.stc: section 'rate' at byte %zu: out of order or twice", n);
        refused(e, m, STC_E_FORMAT, want);
        free(e);
        uint64_t tl;
        size_t trgt = section(d, n, "TRGT", &tl);
        memcpy(x, d + rate - 12, nrate); /* rate, then TRGT */
        e = splice(d, trgt - 12, x, nrate, &m);
        unsigned char *g = malloc(m + 12 + (size_t)tl);
        memcpy(g, e, m);
        memcpy(g + m, d + trgt - 12, 12 + (size_t)tl);
        fix_header(g, m + 12 + (size_t)tl);
        snprintf(want, sizeof want, "t.stc: section 'rate' at byte %zu: before TRGT", trgt - 12);
        refused(g, m + 12 + (size_t)tl, STC_E_FORMAT, want);
        free(g);
        free(e);
        free(x);
    }
    free(f);
    free(d);
    stc_bundle_destroy(&b);
}

/* Damage only the byte layout can have: counts, lengths, tags, the header. */
static void test_layout(void) {
    stc_bundle_t *b = build(1);
    size_t n;
    unsigned char *d = encode(b, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    unsigned char *e = malloc(n + 64);
    uint64_t len;
#define FRESH() memcpy(e, d, n)
    size_t stag = section(d, n, "STAG", &len), proj = section(d, n, "PROJ", &len);
    size_t cores = section(d, n, "CORE", &len), trgt = section(d, n, "TRGT", &len);

    FRESH();
    put32(e + stag, 0xffffffffu);
    fix_header(e, n);
    refused(e, n, STC_E_LIMIT, "section 'STAG' at byte ");
    refused(e, n, STC_E_LIMIT, "field 'n_stages' is 4294967295 stages, limit 65536");

    FRESH();
    put32(e + proj, 1000);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "t.stc: section 'PROJ' at byte ");
    refused(e, n, STC_E_FORMAT, "field 'n_projs' is 1000 projections, which need at least 52000 bytes; the section "
                                "has ");

    FRESH();
    put32(e + stag + 4, 200); /* stage 0's name length */
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "stage 0: field 'name' is 200 bytes long, at most 95");

    FRESH(); /* stage 0's n_bias: after name (4 + 5), 8 i32, 2 i64, 6 i32, qstep */
    put32(e + stag + 4 + 9 + 32 + 16 + 24 + 8, 7);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "stage 0 'input': field 'n_bias' is 7, expected 0 or c = 2");

    /* core 0: n_cores 4, chip x y 12, then n_slices, n_axons, n_axon_runs, n_neurons, n_routes, n_route_runs */
    size_t c0 = cores + 4 + 12;
    CU_ASSERT_EQUAL(get32(d + c0), 1);
    CU_ASSERT_EQUAL(get32(d + c0 + 4), 0);
    CU_ASSERT_EQUAL(get32(d + c0 + 8), 0);
    CU_ASSERT_EQUAL(get32(d + c0 + 12), 32);
    CU_ASSERT_EQUAL(get32(d + c0 + 16), 32);
    CU_ASSERT_EQUAL(get32(d + c0 + 20), 1);
    /* ... 3 x i64, its slice (0, 0, 2, 0, 4), its route run: neurons 0..31 to core 1 axons 0..31 */
    CU_ASSERT_EQUAL(get32(d + c0 + 48), 0);
    CU_ASSERT_EQUAL(get32(d + c0 + 56), 2);
    CU_ASSERT_EQUAL(get32(d + c0 + 68), 0);
    CU_ASSERT_EQUAL(get32(d + c0 + 72), 32);
    CU_ASSERT_EQUAL(get32(d + c0 + 76), 1);
    CU_ASSERT_EQUAL(get32(d + c0 + 80), 0);
    /* core 1 follows: its axon runs (proj, src, n) after its 3 slices: (0, 0, 32) first */
    size_t c1 = c0 + 84 + 12;
    CU_ASSERT_EQUAL(get32(d + c1), 3);
    CU_ASSERT_EQUAL(get32(d + c1 + 4), 92);
    CU_ASSERT_EQUAL(get32(d + c1 + 8), 3);
    CU_ASSERT_EQUAL(get32(d + c1 + 48 + 60 + 4), 0);
    CU_ASSERT_EQUAL(get32(d + c1 + 48 + 60 + 8), 32);

    FRESH(); /* core 0's n_routes */
    put32(e + c0 + 16, 1u << 29);
    fix_header(e, n);
    refused(e, n, STC_E_LIMIT, "core 0: field 'n_routes' is 536870912, limit 268435456");

    FRESH(); /* core 0's n_route_runs: over the limit, over its routes, more than the section holds */
    put32(e + c0 + 20, 1u << 29);
    fix_header(e, n);
    refused(e, n, STC_E_LIMIT, "core 0: field 'n_route_runs' is 536870912, limit 268435456");
    FRESH();
    put32(e + c0 + 20, 33);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "core 0: field 'n_route_runs' is 33, more than its 32 routes");
    FRESH();
    put32(e + c0 + 16, 1u << 20);
    put32(e + c0 + 20, 1u << 20);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "core 0: 1 slices, 0 axon runs and 1048576 route runs need 16777236 bytes, the "
                                "section has ");

    FRESH(); /* core 0's axon runs: the tables no longer fit */
    put32(e + c0 + 4, 1u << 20);
    put32(e + c0 + 8, 1u << 20);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "core 0: 1 slices, 1048576 axon runs and 1 route runs need 12582948 bytes");
    FRESH();
    put32(e + c0 + 8, 1);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "core 0: field 'n_axon_runs' is 1, more than its 0 axons");
    FRESH();
    put32(e + c0 + 4, (1u << 24) + 1);
    fix_header(e, n);
    refused(e, n, STC_E_LIMIT, "core 0: field 'n_axons' is 16777217, limit 16777216");

    FRESH(); /* projection 0's n_w: beyond the limit */
    put64(e + proj + 4 + 44, (uint64_t)1 << 40);
    fix_header(e, n);
    refused(e, n, STC_E_LIMIT, "projection 0: field 'n_w' is 1099511627776 weights, limit 67108864");

    FRESH();
    memcpy(e + trgt - 12, "TRGX", 4);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "section 'TRGX' at byte ");
    refused(e, n, STC_E_FORMAT, "expected section 'TRGT' (the sections are MANF STAG PROJ CORE TRGT, in this order");

    FRESH(); /* two sections swapped is refused too: STAG where PROJ belongs */
    memcpy(e + proj - 12, "STAG", 4);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "expected section 'PROJ'");

    FRESH(); /* a section longer than the file */
    put64(e + cores - 8, n);
    fix_header(e, n);
    refused(e, n, STC_E_FORMAT, "section 'CORE' at byte ");
    refused(e, n, STC_E_FORMAT, "bytes, the file has ");

    FRESH(); /* bytes left over inside a section */
    put64(e + trgt - 8, len + 4);
    memset(e + n, ' ', 4);
    fix_header(e, n + 4);
    stc_err_t err = {0};
    stc_bundle_t *r = stc_bundle_read_mem(e, n + 4, "t.stc", &err); /* trailing spaces: still JSON */
    CU_ASSERT_PTR_NOT_NULL(r);
    stc_bundle_destroy(&r);

    FRESH(); /* the manifest section one byte longer than its fields */
    {
        size_t man = section(d, n, "MANF", &len);
        unsigned char *g = malloc(n + 1);
        memcpy(g, d, man + len);
        g[man + len] = 0;
        memcpy(g + man + len + 1, d + man + len, n - man - len);
        put64(g + man - 8, len + 1);
        fix_header(g, n + 1);
        refused(g, n + 1, STC_E_FORMAT, "section 'MANF' at byte 32: 1 bytes left after the last field");
        free(g);
    }

    FRESH(); /* an optional section (lowercase tag) is skipped */
    {
        unsigned char *g = malloc(n + 12 + 5);
        memcpy(g, d, stag - 12);
        memcpy(g + stag - 12, "note", 4);
        put64(g + stag - 8, 5);
        memcpy(g + stag, "hello", 5);
        memcpy(g + stag + 5, d + stag - 12, n - (stag - 12));
        fix_header(g, n + 17);
        r = stc_bundle_read_mem(g, n + 17, "t.stc", &err);
        CU_ASSERT_PTR_NOT_NULL(r);
        CU_ASSERT(r && same(b, r));
        stc_bundle_destroy(&r);
        memcpy(g + stag - 12, "Note", 4); /* uppercase: critical and unknown */
        fix_header(g, n + 17);
        refused(g, n + 17, STC_E_FORMAT, "section 'Note' at byte ");
        free(g);
    }

    FRESH();
    put32(e + 8, 4);
    refused(e, n, STC_E_UNSUPPORTED, "t.stc: bundle format version 4; this stc reads version 3: use a newer stc");
    FRESH(); /* version 2 (no channel ranges): compile again */
    put32(e + 8, 2);
    refused(e, n, STC_E_UNSUPPORTED, "t.stc: bundle format version 2, written by an older stc; this stc reads "
                                     "version 3 only (projections carry a source channel range since version 3): "
                                     "compile the model again with this stc (stc-coord compile)");
    FRESH();
    put32(e + 8, 0);
    refused(e, n, STC_E_FORMAT, "t.stc: bundle format version 0 is not a version");
    FRESH();
    put32(e + 12, 4);
    refused(e, n, STC_E_UNSUPPORTED, "t.stc: header flags 0x00000004; this stc knows no flags");
    FRESH();
    put32(e + 28, 1);
    refused(e, n, STC_E_FORMAT, "t.stc: header field 'reserved' is 0x00000001, expected 0");
    FRESH();
    e[n] = 0;
    refused(e, n + 1, STC_E_FORMAT, "t.stc: 1 bytes of garbage after the end of the bundle");
    FRESH();
    put64(e + 16, 0);
    put32(e + 24, stc_bundle_checksum(e, 32));
    refused(e, 32, STC_E_FORMAT, "t.stc: section 'MANF' is missing (the file ends at byte 32)");
#undef FRESH
    free(e);
    free(d);
    stc_bundle_destroy(&b);
}

static void test_foreign(void) {
    static const unsigned char zip[] = "PK\x03\x04\x14\x00\x00\x00\x00\x00archive/data.pkl";
    refused(zip, sizeof zip - 1, STC_E_FORMAT,
            "t.stc: not an stc bundle: it is a zip archive, as torch.save writes: this is a checkpoint; compile it "
            "first with stc-coord compile");
    static const unsigned char pickle[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
    refused(pickle, sizeof pickle - 1, STC_E_FORMAT, "it is a Python pickle, as a legacy torch.save writes: this is "
                                                     "a checkpoint; compile it first with stc-coord compile");
    static const unsigned char st[] = "\x0e\0\0\0\0\0\0\0{\"a\":\"b\"}     ";
    refused(st, sizeof st - 1, STC_E_FORMAT, "it is a safetensors file: this is a checkpoint");
    const char *json = "  {\"format\": \"stc-target 1\"}";
    refused((const unsigned char *)json, strlen(json), STC_E_FORMAT, "it is JSON text");
    const char *text = "hello world, this is not a bundle\n";
    refused((const unsigned char *)text, strlen(text), STC_E_FORMAT,
            "t.stc: not an stc bundle: it starts with \"hello wo...\", a bundle with \"\\x89STC\\r\\n\\x1a\\n\"");
    static const unsigned char empty[1] = {0};
    refused(empty, 0, STC_E_FORMAT, "t.stc: empty file (0 bytes): not an stc bundle");
    static const unsigned char part[] = {0x89, 'S', 'T'};
    refused(part, 3, STC_E_FORMAT, "t.stc: truncated: 3 bytes, the bundle header alone has 32");
    /* a text-mode transfer (CR LF -> LF) breaks the magic */
    static const unsigned char crlf[] = {0x89, 'S', 'T', 'C', '\n', 0x1a, '\n', 0, 0};
    refused(crlf, sizeof crlf, STC_E_FORMAT, "not an stc bundle: it starts with");
    /* a real checkpoint, when the test data is there */
    const char *pth = STC_TEST_DATA_DIR "/sd_zip.pth";
    FILE *f = fopen(pth, "rb");
    if (f) {
        fclose(f);
        stc_err_t err = {0};
        CU_ASSERT_PTR_NULL(stc_bundle_read(pth, &err));
        STC_ASSERT_CONTAINS(err.msg, "sd_zip.pth: not an stc bundle: it is a zip archive");
    }
}

/* What only a bundle built in memory can get wrong; and the writer's refusals. */
static void test_memory(void) {
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_bundle_validate(NULL, "x", &err), STC_E_USAGE);
    stc_bundle_t *b = build(0);
    stc_slice_t *keep = b->cores[2].slices;
    b->cores[2].slices = NULL;
    CU_ASSERT_EQUAL(stc_bundle_validate(b, NULL, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "bundle: core 2: a table is missing");
    unsigned char *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(stc_bundle_write_mem(b, &d, &n, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "bundle write: core 2: 6 slices");
    CU_ASSERT_PTR_NULL(d);
    b->cores[2].slices = keep;
    memset(b->model, 'x', sizeof b->model);
    CU_ASSERT_EQUAL(stc_bundle_write_mem(b, &d, &n, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "manifest field 'model' is not NUL-terminated");
    CU_ASSERT_EQUAL(stc_bundle_validate(b, "m", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "m: manifest: field 'model' is not text of at most 127 bytes");
    b->model[0] = 0;
    /* a core's neurons that no route leaves and an axon no route reaches */
    b->cores[1].n_routes = 0;
    b->cores[1].n_route_runs = 0;
    CU_ASSERT_EQUAL(stc_bundle_validate(b, "m", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "m: core 1 axon 32 (projection 1, source neuron 0): no route reaches it");
    stc_bundle_destroy(&b);
    /* a stage no slice holds */
    b = build_minimal();
    b->cores[1].n_slices = 0;
    b->cores[1].n_neurons = 0;
    b->cores[1].n_axons = 0;
    b->cores[1].n_axon_runs = 0;
    CU_ASSERT_EQUAL(stc_bundle_validate(b, "m", &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "m: stage 1 'y': the cores' slices hold 0 neurons, the stage has 2");
    stc_bundle_destroy(&b);
    stc_bundle_destroy(&b); /* NULL: nothing */
    CU_ASSERT_STRING_EQUAL(stc_bundle_stage_kind_name(STC_NK_SSA), "SSA");
    CU_ASSERT_STRING_EQUAL(stc_bundle_synapse_kind_name(STC_SK_DENSE_REDUCE), "DENSE_REDUCE");
    CU_ASSERT_STRING_EQUAL(stc_bundle_synapse_kind_name(42), "?");
}

void stc_suite_bundle(void) {
    static const stc_test_t tests[] = {
        {"write, read, write: the same bytes and fields", test_roundtrip},
        {"the fuzz seeds are this bundle's bytes", test_seeds},
        {"truncation at every length is refused", test_truncated},
        {"a flipped byte is a CRC error", test_corrupt},
        {"fields out of range are named", test_fields},
        {"counts, lengths, tags and the header", test_layout},
        {"the placement's sections: topology file and link traffic", test_placement},
        {"the measured firing rates' section", test_rates},
        {"foreign files say what they are", test_foreign},
        {"in-memory bundles and the writer", test_memory},
        {NULL, NULL},
    };
    stc_add_suite("bundle", tests);
}
