/* test_partition.c - the placement graph of a bundle, stc's placement, and that placing never changes results.
 * SPDX-License-Identifier: MIT
 */
#include "stc_chipsim.h"
#include "stc_input.h"
#include "stc_lower.h"
#include "stc_model.h"
#include "stc_partition.h"
#include "stc_pass.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA STC_TEST_DATA_DIR "/"

/* A chain of 16 cores, 10 spikes between neighbours, 2 cores per chip on
 * torus:4x4: the best placement crosses 7 chip boundaries of 1 hop each. */
static void test_chain(void) {
    enum { N = 16 };
    stc_pgraph_t g = {0};
    g.n = N;
    g.work = calloc(N, sizeof *g.work);
    g.xadj = calloc(N + 1, sizeof *g.xadj);
    g.adj = malloc(2 * (N - 1) * sizeof *g.adj);
    g.traffic = malloc(2 * (N - 1) * sizeof *g.traffic);
    int64_t k = 0;
    for (int i = 0; i < N; i++) {
        g.xadj[i] = k;
        if (i > 0) g.adj[k] = i - 1, g.traffic[k++] = 10;
        if (i < N - 1) g.adj[k] = i + 1, g.traffic[k++] = 10;
    }
    g.xadj[N] = k;
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse("torus:4x4", 1e8, 100, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    int chip_of[N];
    CU_ASSERT_EQUAL_FATAL(stc_place_stc(&g, t, 2, chip_of, &err), STC_OK);
    int load[16] = {0};
    for (int i = 0; i < N; i++) load[chip_of[i]]++;
    for (int c = 0; c < 16; c++) CU_ASSERT(load[c] <= 2);
    stc_place_eval_t ev;
    CU_ASSERT_EQUAL_FATAL(stc_place_evaluate(&g, t, 2, chip_of, &ev, NULL, &err), STC_OK);
    CU_ASSERT_DOUBLE_EQUAL(ev.inter_chip_spikes, 70, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(ev.hop_weighted_traffic, 70, 1e-9);
    CU_ASSERT_EQUAL(ev.chips_used, 8);
    /* too many cores for the topology: says how many chips it needs */
    CU_ASSERT_EQUAL(stc_place_stc(&g, t, 1, chip_of, &err), STC_OK); /* 16 chips of 1: fits exactly */
    stc_topology_t *small = stc_topology_parse("mesh:2x2", 1e8, 100, &err);
    CU_ASSERT_EQUAL(stc_place_stc(&g, small, 2, chip_of, &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "needs 8 chips");
    stc_topology_destroy(&small);
    stc_topology_destroy(&t);
    stc_pgraph_free(&g);
}

/* stc's placement uses the fewest chips that hold the cores: a chip's static
 * power costs more than the spikes a spread placement saves (a random graph,
 * whose hop-weighted traffic alone would spread it over the torus). */
static void test_fewest_chips(void) {
    enum { N = 40, DEG = 2, CAP = 8 };
    stc_pgraph_t g = {0};
    g.n = N;
    g.work = calloc(N, sizeof *g.work);
    g.xadj = calloc(N + 1, sizeof *g.xadj);
    g.adj = malloc(N * 2 * DEG * sizeof *g.adj);
    g.traffic = malloc(N * 2 * DEG * sizeof *g.traffic);
    CU_ASSERT_FATAL(g.work && g.xadj && g.adj && g.traffic);
    double w[N][N] = {{0}};
    uint32_t x = 12345;
    for (int u = 0; u < N; u++)
        for (int k = 0; k < DEG; k++) {
            x = x * 1103515245u + 12345u;
            int v = (int)((x >> 8) % N);
            if (v != u) w[u][v] = w[v][u] = 1 + (x >> 24) % 50;
        }
    int64_t m = 0;
    for (int u = 0; u < N; u++) {
        g.xadj[u] = m;
        for (int v = 0; v < N; v++)
            if (w[u][v] > 0) g.adj[m] = v, g.traffic[m++] = w[u][v];
    }
    g.xadj[N] = m;
    CU_ASSERT_FATAL(m <= N * 2 * DEG);
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse("torus:4x4", 1e8, 100, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    int chip_of[N];
    CU_ASSERT_EQUAL_FATAL(stc_place_stc(&g, t, CAP, chip_of, &err), STC_OK);
    stc_place_eval_t ev;
    CU_ASSERT_EQUAL_FATAL(stc_place_evaluate(&g, t, CAP, chip_of, &ev, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(ev.chips_used, (N + CAP - 1) / CAP);
    int load[16] = {0};
    for (int i = 0; i < N; i++) load[chip_of[i]]++;
    for (int c = 0; c < 16; c++) CU_ASSERT(load[c] <= CAP);
    stc_topology_destroy(&t);
    stc_pgraph_free(&g);
}

static stc_ir_t *load_model(const char *pth, const char *json) {
    stc_err_t err = {0};
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    if (stc_model_cfg_load(&cfg, json, &err)) return NULL;
    stc_ckpt_t *ck = stc_ckpt_load(pth, &err);
    stc_ir_t *ir = NULL;
    if (ck && !stc_model_recognize(ck, &cfg, &err)) ir = stc_model_import(ck, &cfg, &err);
    stc_ckpt_destroy(&ck);
    return ir;
}

/* An active test model, quantized and delay-balanced on its first n inputs (*in: those inputs). */
static stc_ir_t *quantized_model(const char *name, int n, stc_input_t **in) {
    stc_err_t err = {0};
    char pth[512], json[512], npy[512];
    snprintf(pth, sizeof pth, DATA "active/%s/model.pth", name);
    snprintf(json, sizeof json, DATA "active/%s/model.json", name);
    snprintf(npy, sizeof npy, DATA "active/%s/inputs.npy", name);
    stc_ir_t *ir = load_model(pth, json);
    *in = stc_input_load(npy, NULL, NULL, n, &err);
    if (!ir || !*in) {
        stc_ir_destroy(&ir);
        stc_input_destroy(in);
        return NULL;
    }
    stc_pass_opts_t po = {0};
    po.calib = (*in)->data;
    po.n_calib = (int)(*in)->n;
    if (stc_pass_pipeline(ir, "fold_bn,quantize,delay_balance", &po, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        stc_ir_destroy(&ir);
        stc_input_destroy(in);
    }
    return ir;
}

/* A real bundle cut over many small cores: its graph is symmetric, stc's
 * placement beats in-order placement, and moving cores between chips changes
 * the messages but not one logit. */
static void test_bundle_placement(void) {
    stc_err_t err = {0};
    stc_input_t *in = NULL;
    stc_ir_t *ir = quantized_model("spikformer_cifar", 4, &in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir); /* loaded and through the passes */
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    t.cores_per_chip = 4, t.core_mesh[0] = 2, t.core_mesh[1] = 2;
    t.neurons_per_core = 4096;
    stc_lower_opts_t lo = {&t, 0, "m", "", NULL, 0, NULL, NULL, 0};
    stc_bundle_t *b = stc_lower(ir, &lo, &err);
    if (!b) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    stc_pgraph_t g;
    CU_ASSERT_EQUAL_FATAL(stc_pgraph_from_bundle(b, &t, NULL, &g, &err), STC_OK);
    CU_ASSERT_EQUAL(g.n, b->n_cores - 1);
    { /* from the cut alone, the graph counts exactly the routes of the tables (rate 1 per route) */
        int n = g.n;
        double *ones = malloc((size_t)b->n_stages * sizeof *ones), *cnt = calloc((size_t)n * n, sizeof *cnt);
        for (int s = 0; s < b->n_stages; s++) ones[s] = 1;
        for (int c = 1; c < b->n_cores; c++)
            for (int r = 0; r < b->cores[c].n_route_runs; r++) { /* a run of n routes to one core */
                int d = b->cores[c].route_runs[r].core;
                if (d != c && d > 0)
                    cnt[(int64_t)(c < d ? c - 1 : d - 1) * n + (c < d ? d - 1 : c - 1)] += b->cores[c].route_runs[r].n;
            }
        stc_pgraph_t g1;
        CU_ASSERT_EQUAL_FATAL(stc_pgraph_from_bundle(b, &t, ones, &g1, &err), STC_OK);
        int bad = 0, edges = 0;
        for (int u = 0; u < n; u++)
            for (int64_t e = g1.xadj[u]; e < g1.xadj[u + 1]; e++) {
                int v = g1.adj[e];
                bad += g1.traffic[e] != cnt[(int64_t)(u < v ? u : v) * n + (u < v ? v : u)];
                edges++;
            }
        int pairs = 0;
        for (int64_t i = 0; i < (int64_t)n * n; i++) pairs += cnt[i] > 0;
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(edges, 2 * pairs);
        stc_pgraph_free(&g1);
        free(ones);
        free(cnt);
    }
    int asym = 0;
    for (int u = 0; u < g.n; u++)
        for (int64_t e = g.xadj[u]; e < g.xadj[u + 1]; e++) {
            int v = g.adj[e], found = 0;
            for (int64_t f = g.xadj[v]; f < g.xadj[v + 1]; f++) found |= g.adj[f] == u && g.traffic[f] == g.traffic[e];
            asym += !found || v == u;
        }
    CU_ASSERT_EQUAL(asym, 0);
    CU_ASSERT(g.xadj[g.n] > 0);
    stc_topology_t *topo = stc_topology_parse("torus:4x4", t.chip_link_spikes_per_s, t.energy_chip_hop_pj, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(topo);
    int *mine = malloc((size_t)g.n * sizeof *mine), *inorder = malloc((size_t)g.n * sizeof *inorder);
    if (stc_place_stc(&g, topo, t.cores_per_chip, mine, &err)) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(err.status, STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_place_greedy(&g, topo, t.cores_per_chip, inorder, &err), STC_OK);
    stc_place_eval_t e1, e2;
    CU_ASSERT_EQUAL_FATAL(stc_place_evaluate(&g, topo, t.cores_per_chip, mine, &e1, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_place_evaluate(&g, topo, t.cores_per_chip, inorder, &e2, NULL, &err), STC_OK);
    CU_ASSERT(e1.hop_weighted_traffic <= e2.hop_weighted_traffic);
    /* run before and after moving the cores: the same logits, other messages */
    float l1[16], l2[16];
    stc_chipsim_t *s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(stc_chipsim_run(s, in->data, l1, NULL, NULL, NULL, &err), STC_OK);
    int64_t chip_msgs1 = 0;
    for (int c = 0; c < b->n_cores; c++) chip_msgs1 += stc_chipsim_counters(s)[c].msgs_chip;
    stc_chipsim_destroy(&s);
    int next[16] = {0};
    for (int c = 1; c < b->n_cores; c++) {
        int ch = mine[c - 1], k = next[ch]++;
        b->cores[c].chip = ch, b->cores[c].x = k % 2, b->cores[c].y = k / 2;
    }
    b->n_chips = 16;
    snprintf(b->topology, sizeof b->topology, "torus:4x4");
    CU_ASSERT_EQUAL(stc_bundle_validate(b, "placed", &err), STC_OK);
    s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(stc_chipsim_run(s, in->data, l2, NULL, NULL, NULL, &err), STC_OK);
    int64_t chip_msgs2 = 0, chip_hops2 = 0;
    for (int c = 0; c < b->n_cores; c++) {
        chip_msgs2 += stc_chipsim_counters(s)[c].msgs_chip;
        chip_hops2 += stc_chipsim_counters(s)[c].chip_hops;
    }
    /* the hops follow the torus's routes: what evaluate predicts from the same graph, per message */
    CU_ASSERT(chip_hops2 >= chip_msgs2);
    stc_chipsim_destroy(&s);
    CU_ASSERT(!memcmp(l1, l2, (size_t)b->n_out * sizeof *l1));
    CU_ASSERT(chip_msgs1 != chip_msgs2);
    free(mine);
    free(inorder);
    stc_topology_destroy(&topo);
    stc_pgraph_free(&g);
    stc_bundle_destroy(&b);
    stc_input_destroy(&in);
    stc_ir_destroy(&ir);
}

/* Every core of b within every limit of t, counted from the tables. */
static int cores_within(const stc_bundle_t *b, const stc_target_t *t) {
    int bad = 0;
    for (int c = 1; c < b->n_cores; c++) {
        const stc_core_t *k = &b->cores[c];
        int64_t mem = k->mem_state + k->mem_syn; /* the axon table is bounded by fan-in */
        bad += k->n_neurons > t->neurons_per_core || k->n_axons > t->fan_in_axons_per_core ||
               k->n_routes > t->fan_out_axons_per_core || mem > t->memory_per_core_bytes ||
               k->mem_axon != (int64_t)k->n_axons * STC_AXON_BYTES;
    }
    return bad;
}

/* Two cuts of one model run every input to the same logits and the same
 * spike count in every stage. */
static void same_results(const stc_bundle_t *a, const stc_bundle_t *b, const stc_input_t *in) {
    stc_err_t err = {0};
    float la[16], lb[16];
    int64_t sa[256], sb[256];
    CU_ASSERT_FATAL(a->n_stages == b->n_stages && a->n_stages <= 256 && a->n_out <= 16);
    stc_chipsim_t *ca = stc_chipsim_create(a, &err), *cb = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cb);
    int64_t per = (int64_t)in->c * in->h * in->w;
    for (int64_t i = 0; i < in->n; i++) {
        CU_ASSERT_EQUAL(stc_chipsim_run(ca, in->data + i * per, la, sa, NULL, NULL, &err), STC_OK);
        CU_ASSERT_EQUAL(stc_chipsim_run(cb, in->data + i * per, lb, sb, NULL, NULL, &err), STC_OK);
        CU_ASSERT(!memcmp(la, lb, (size_t)a->n_out * sizeof *la));
        CU_ASSERT(!memcmp(sa, sb, (size_t)a->n_stages * sizeof *sa));
    }
    stc_chipsim_destroy(&ca);
    stc_chipsim_destroy(&cb);
}

/* stc's core builder against first-fit on small cores: both within every
 * limit, stc within 1.1x the lower bound with a lighter busiest core, and the
 * two cuts compute the same logits and the same spikes per stage. */
static void test_cores(void) {
    const char *models[] = {"spikformer_cifar", "sdt"};
    for (int m = 0; m < 2; m++) {
        stc_err_t err = {0};
        stc_input_t *in = NULL;
        stc_ir_t *ir = quantized_model(models[m], 2, &in);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ir); /* loaded and through the passes */
        CU_ASSERT_PTR_NOT_NULL_FATAL(in);
        stc_target_t t;
        CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
        t.cores_per_chip = 4, t.core_mesh[0] = 2, t.core_mesh[1] = 2;
        t.neurons_per_core = 2048, t.memory_per_core_bytes = 65536;
        stc_cores_report_t rs, rf;
        stc_lower_opts_t lo = {&t, 0, "m", "", NULL, 0, NULL, &rs, 0};
        stc_bundle_t *bs = stc_lower(ir, &lo, &err);
        if (!bs) fprintf(stderr, "%s\n", err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(bs);
        lo.first_fit = 1, lo.report = &rf;
        stc_bundle_t *bf = stc_lower(ir, &lo, &err);
        if (!bf) fprintf(stderr, "%s\n", err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(bf);
        CU_ASSERT_EQUAL(cores_within(bs, &t), 0);
        CU_ASSERT_EQUAL(cores_within(bf, &t), 0);
        /* No token-wise layer is over the fan-in: the token stages keep the
         * image's rows.  With fan-in for a quarter of the tokens of the widest
         * token-wise layer (fc2), a core of it sees fewer tokens than there
         * are: the token stages get rows that divide that cap. */
        const stc_stage_t *fc2 = NULL, *rpe = NULL;
        int fc2_ci = 0;
        for (int pi = 0; pi < bs->n_projs; pi++)
            if (bs->projs[pi].kind == STC_SK_DENSE && bs->projs[pi].ci > fc2_ci &&
                bs->stages[bs->projs[pi].dst].h * bs->stages[bs->projs[pi].dst].w > 1)
                fc2_ci = bs->projs[pi].ci, fc2 = &bs->stages[bs->projs[pi].dst];
        CU_ASSERT_PTR_NOT_NULL_FATAL(fc2);
        for (int pi = 0; pi < bs->n_projs; pi++) { /* a stage of as many positions that a convolution feeds */
            const stc_stage_t *d = &bs->stages[bs->projs[pi].dst];
            if (bs->projs[pi].kind == STC_SK_CONV && d->h * d->w == fc2->h * fc2->w) rpe = d;
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(rpe);
        CU_ASSERT_EQUAL(fc2->w, rpe->w);
        CU_ASSERT_EQUAL(fc2->h, rpe->h);
        stc_target_t t8 = t;
        int cap = fc2->h * fc2->w / 4;
        t8.fan_in_axons_per_core = cap * (fc2_ci + 1); /* a residual's fc2 also reads its other input */
        stc_cores_report_t r8;
        lo.first_fit = 0, lo.target = &t8, lo.report = &r8;
        stc_bundle_t *b8 = stc_lower(ir, &lo, &err);
        if (!b8) fprintf(stderr, "%s\n", err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b8);
        CU_ASSERT_EQUAL(cores_within(b8, &t8), 0);
        const stc_stage_t *fc2b = &b8->stages[fc2 - bs->stages], *rpeb = &b8->stages[rpe - bs->stages];
        CU_ASSERT_EQUAL(fc2b->h * fc2b->w, fc2->h * fc2->w);
        CU_ASSERT(fc2b->w != fc2->w);
        CU_ASSERT(cap % fc2b->w == 0); /* a core takes whole rows up to the cap */
        CU_ASSERT_EQUAL(rpeb->w, rpe->w); /* a convolution reads it: pixels stay in the image's rows */
        int joins = 0;
        for (int pi = 0; pi < b8->n_projs; pi++) {
            const stc_proj_t *p = &b8->projs[pi];
            joins += p->kind == STC_SK_ONE2ONE && b8->stages[p->src].w != b8->stages[p->dst].w;
        }
        CU_ASSERT(joins >= 1); /* the residual after the patch embedding: pixels into tokens */
        CU_ASSERT_EQUAL(rs.cores, bs->n_cores - 1);
        CU_ASSERT_EQUAL(rf.cores, bf->n_cores - 1);
        CU_ASSERT_EQUAL(rs.lower_bound, rf.lower_bound);
        CU_ASSERT(rs.cores >= rs.lower_bound);
        CU_ASSERT(rs.cores <= (int)(1.1 * rs.lower_bound));
        /* the limit-aware bound is a bound too, for both cuts, and never below the demand bound */
        CU_ASSERT_EQUAL(rs.lower_bound_limits, rf.lower_bound_limits);
        CU_ASSERT(rs.lower_bound_limits >= rs.lower_bound);
        CU_ASSERT(rs.cores >= rs.lower_bound_limits);
        CU_ASSERT(rf.cores >= rf.lower_bound_limits);
        CU_ASSERT(rs.max_work_ns < rf.max_work_ns); /* the slack buys a lighter busiest core */
        if (rs.cores > (int)(1.1 * rs.lower_bound) || getenv("STC_TEST_VERBOSE"))
            fprintf(stderr, "%s: stc %d cores (busiest %.0f ns), first-fit %d (%.0f ns), lower bound %d\n",
                    models[m], rs.cores, rs.max_work_ns, rf.cores, rf.max_work_ns, rs.lower_bound);
        same_results(bs, bf, in);
        same_results(bs, b8, in); /* rows of 8 tokens compute the same */
        stc_bundle_destroy(&bs);
        stc_bundle_destroy(&bf);
        stc_bundle_destroy(&b8);
        stc_input_destroy(&in);
        stc_ir_destroy(&ir);
    }
}

/* Residual adds and max-pools packed into the slack of their neighbours'
 * cores: on small cores whose routes bind, the packed cut needs fewer cores
 * than every stage on cores of its own, an add shares cores with a layer (and
 * a max-pool, where they are packed: once at least), every core stays within
 * every limit (the tables' exact counts: a pool's sources reserve a route per
 * row that reads them), and the logits and the spikes per stage are those of
 * the plain cut. */
static void test_packed(void) {
    stc_err_t err = {0};
    stc_input_t *in = NULL;
    stc_ir_t *ir = quantized_model("spikformer_cifar", 2, &in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    t.cores_per_chip = 4, t.core_mesh[0] = 2, t.core_mesh[1] = 2;
    t.neurons_per_core = 2048, t.memory_per_core_bytes = 65536;
    stc_cores_report_t r0;
    stc_lower_opts_t lo = {&t, 0, "m", "", NULL, 0, NULL, &r0, 0};
    stc_bundle_t *b0 = stc_lower(ir, &lo, &err); /* routes do not bind: nothing packed */
    CU_ASSERT_PTR_NOT_NULL_FATAL(b0);
    CU_ASSERT_EQUAL(r0.packed_stages, 0);
    /* fan-out for 2 routes a neuron: a reserve pays; with fan-in tight as well: none does */
    int fan_out[2] = {4096, 2048}, fan_in[2] = {65536, 8192}, reserved = 0, pooled = 0;
    for (int v = 0; v < 2; v++) {
        stc_target_t tv = t;
        tv.fan_out_axons_per_core = fan_out[v], tv.fan_in_axons_per_core = fan_in[v];
        stc_cores_report_t r;
        lo.target = &tv, lo.report = &r;
        stc_bundle_t *b = stc_lower(ir, &lo, &err);
        if (!b) fprintf(stderr, "%s\n", err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        if (getenv("STC_TEST_VERBOSE"))
            fprintf(stderr, "fan-out %d: %d cores packed (%d adds, reserve %.2f; %d pools, reserve %.2f), %d plain, "
                    "%d after balancing\n", fan_out[v], r.cores_packed, r.packed_stages - r.packed_pools, r.reserve,
                    r.packed_pools, r.reserve_pools, r.cores_unpacked, r.cores);
        CU_ASSERT(r.packed_stages > 0);
        CU_ASSERT(r.cores_packed < r.cores_unpacked);
        CU_ASSERT(r.cores >= r.lower_bound_limits);
        reserved += r.reserve > 0;
        CU_ASSERT_EQUAL(cores_within(b, &tv), 0);
        /* cores holding an add (a relay fed by two one-to-one projections), or a
         * max-pool, and a layer */
        int shared = 0, pool_shared = 0;
        for (int c = 1; c < b->n_cores; c++) {
            int add = 0, pool = 0, other = 0;
            for (int i = 0; i < b->cores[c].n_slices; i++) {
                int si = b->cores[c].slices[i].stage, in1 = 0;
                for (int pi = 0; pi < b->n_projs; pi++)
                    in1 += b->projs[pi].dst == si && b->projs[pi].kind == STC_SK_ONE2ONE;
                if (b->stages[si].kind == STC_NK_RELAY && in1 == 2) add = 1;
                else if (b->stages[si].kind == STC_NK_MAX) pool = 1;
                else other = 1;
            }
            shared += add && other, pool_shared += pool && other;
        }
        CU_ASSERT(shared > 0);
        CU_ASSERT(!r.packed_pools || pool_shared > 0);
        pooled += r.packed_pools > 0;
        same_results(b0, b, in);
        stc_bundle_destroy(&b);
    }
    CU_ASSERT(reserved >= 1);
    CU_ASSERT(pooled >= 1); /* the max-pools too, once */
    stc_bundle_destroy(&b0);
    stc_input_destroy(&in);
    stc_ir_destroy(&ir);
}

/* A two-stage bundle: an input [ci, h, w] and one stage [co, h, w] reading it
 * through `kind` (DENSE: a token-wise linear layer). */
static void one_layer(stc_bundle_t *b, stc_stage_t *st, stc_proj_t *p, int ci, int co, int h, int w, int kind) {
    memset(b, 0, sizeof *b);
    memset(st, 0, 2 * sizeof *st);
    memset(p, 0, sizeof *p);
    st[0] = (stc_stage_t){.kind = STC_NK_INPUT, .c = ci, .h = h, .w = w};
    st[1] = (stc_stage_t){.kind = STC_NK_LIF, .c = co, .h = h, .w = w, .depth = 1};
    *p = (stc_proj_t){.src = 0, .dst = 1, .kind = kind, .delay = 1, .co = co, .ci = ci};
    p->n_w = kind == STC_SK_DENSE ? (int64_t)co * ci : co;
    b->stages = st, b->n_stages = 2, b->projs = p, b->n_projs = 1, b->input_stage = 0;
}

/* The limit-aware bound on layers whose figures are known by hand (loihi3:
 * 16,384 neurons, 256 KB, 65,536 fan-in axons per core, 8-byte state,
 * 16-bit synapses). */
static void test_bounds(void) {
    stc_err_t err = {0};
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    stc_bundle_t b;
    stc_stage_t st[2];
    stc_proj_t p;
    stc_cores_report_t r;

    /* one-to-one over 65,536 neurons: only the neuron count binds, 4 cores */
    one_layer(&b, st, &p, 64, 64, 32, 32, STC_SK_ONE2ONE);
    stc_cores_lower_bound(&b, &t, &r);
    CU_ASSERT_EQUAL(r.lower_bound, 4);
    CU_ASSERT_EQUAL(r.lower_bound_limits, 4);

    /* Spikformer-8-768's fc2: 3,072 inputs per token over 14 x 14 tokens into
     * 768 channels.  Each weight once: (150,528 x 8 + 2,359,296 x 2) / 256 KB
     * = 22.6, so 23 cores.  But a core sees at most 65,536 / 3,072 = 21
     * tokens and stores at most 41 channels' weights (41 x 6,144 bytes plus
     * state), and the best rectangular cut is 10 token tiles x 19 channel
     * groups = 190 cores: the limit-aware bound lies between.  Whatever the
     * cut, 21 tokens a core put each channel's weights on 10 cores. */
    one_layer(&b, st, &p, 3072, 768, 14, 14, STC_SK_DENSE);
    stc_cores_lower_bound(&b, &t, &r);
    CU_ASSERT_EQUAL(r.lower_bound, 23);
    int best = 0;
    for (int tok = 1; tok <= 196; tok++)
        for (int o = 1; o <= 768; o++) {
            if ((int64_t)tok * 3072 > t.fan_in_axons_per_core || tok * o > t.neurons_per_core ||
                (int64_t)tok * o * 8 + (int64_t)o * 3072 * 2 > t.memory_per_core_bytes)
                continue;
            int n = ((196 + tok - 1) / tok) * ((768 + o - 1) / o);
            if (!best || n < best) best = n;
        }
    CU_ASSERT_EQUAL(best, 190);
    CU_ASSERT(r.lower_bound_limits <= best);
    CU_ASSERT(r.lower_bound_limits >= 150);
    /* every channel's weights on at least ceil(196 / 21) = 10 cores:
     * (150,528 x 8 + 10 x 2,359,296 x 2) / 256 KB = 184.6 */
    CU_ASSERT_DOUBLE_EQUAL(r.lb_copies, (150528.0 * 8 + 10 * 2359296.0 * 2) / 262144, 1e-6);
    CU_ASSERT_EQUAL(r.lower_bound_limits, 185);
    if (getenv("STC_TEST_VERBOSE"))
        fprintf(stderr, "fc2: demand bound %d, limit-aware bound %d (%.2f; %.2f by memory with copies), best "
                "rectangular cut %d\n", r.lower_bound, r.lower_bound_limits, r.lb_limits, r.lb_copies, best);

    /* a 3x3 convolution without padding reads 11 / 9 axons a position at
     * least: a fan-in of 33 admits exactly 27 positions, all of them, so one
     * copy of the weights (the quotient 33 / (11 / 9) must not round down) */
    stc_target_t t33 = t;
    t33.fan_in_axons_per_core = 33;
    stc_stage_t cs[2] = {{.kind = STC_NK_INPUT, .c = 11, .h = 5, .w = 11},
                         {.kind = STC_NK_LIF, .c = 4, .h = 3, .w = 9, .depth = 1}};
    stc_proj_t cp = {.src = 0, .dst = 1, .kind = STC_SK_CONV, .k = 3, .stride = 1, .pad = 0, .delay = 1, .co = 4,
                     .ci = 11, .n_w = 4 * 11 * 9};
    b.stages = cs, b.projs = &cp;
    stc_cores_lower_bound(&b, &t33, &r);
    CU_ASSERT_DOUBLE_EQUAL(r.lb_copies, (108.0 * 8 + 4 * 99 * 2.0) / t.memory_per_core_bytes, 1e-12);
}

void stc_suite_partition(void) {
    static const stc_test_t tests[] = {
        {"stc placement of a chain", test_chain},
        {"stc placement on the fewest chips", test_fewest_chips},
        {"a bundle: graph, placement, same results", test_bundle_placement},
        {"cores: stc's cut against first-fit, same results", test_cores},
        {"cores: residual adds and max-pools packed into their neighbours' cores, same results", test_packed},
        {"lower bounds on cores: by demand and by the target's limits", test_bounds},
        {NULL, NULL},
    };
    stc_add_suite("partition", tests);
}
