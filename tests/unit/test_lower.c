/* test_lower.c - lowering and the chip simulator against the integer interpreter, end to end.
 *
 * For every test model (Spikformer CIFAR and ImageNet variants, Spike-driven
 * Transformer) and the bundled Fashion-MNIST model: import, fold_bn, quantize
 * (calibrated), delay_balance, lower onto a target, write and read the bundle,
 * then run the same images through the integer interpreter and the chip
 * simulator and require every value of every stage at every timestep, and the
 * logits, to be identical.  The same on a deliberately tiny target that forces
 * stages to be cut into many slices over many chips.  And the limit errors.
 * SPDX-License-Identifier: MIT
 */
#include "stc_chipsim.h"
#include "stc_input.h"
#include "stc_lower.h"
#include "stc_model.h"
#include "stc_pass.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA STC_TEST_DATA_DIR "/"

typedef struct {
    const stc_ir_t *ir;
    int64_t **q;        /* per node: T * numel of the integer interpreter's outputs */
    int64_t compared, mismatched, spikes;
    int64_t *stage_spikes;  /* per stage: spikes seen (LIF) */
    int64_t **part;         /* per linear node split into partial sums: the sum of its slices' stages */
    int parts;              /* partial-sum stages seen */
    char first[256];
} cmp_t;

static int64_t numel(stc_shape_t s) { return (int64_t)s.c * s.h * s.w; }

static void on_q(void *ud, const stc_node_t *n, int t, const int64_t *q) {
    cmp_t *c = ud;
    int64_t m = numel(n->shape);
    memcpy(c->q[n->id] + (int64_t)t * m, q, (size_t)m * sizeof *q);
}

static void on_sim(void *ud, const stc_bundle_t *b, int stage, int t, const int64_t *q) {
    cmp_t *c = ud;
    const stc_stage_t *s = &b->stages[stage];
    const stc_node_t *n = &c->ir->nodes[s->ir_node];
    int64_t m = numel(n->shape);
    const int64_t *want = c->q[n->id] + (int64_t)t * m;
    int64_t npos = (int64_t)s->h * s->w;
    if ((n->op == STC_OP_LINEAR || n->op == STC_OP_CONV2D) && !stc_ir_is_stage(c->ir, n->id)) {
        /* a slice of a layer cut by its inputs (backend.md 2.3): summed, then compared */
        if (!c->part[n->id]) c->part[n->id] = calloc((size_t)(c->ir->T * m), sizeof(int64_t));
        for (int64_t i = 0; i < m; i++) c->part[n->id][(int64_t)t * m + i] += q[i];
        c->parts++;
        return;
    }
    for (int64_t i = 0; i < m; i++) {
        int64_t got = q[i];
        if (n->op == STC_OP_SDSA) { /* the AND stage holds k*v; the node its column sum */
            got = 0;
            for (int64_t p = 0; p < npos; p++) got += q[i * npos + p];
        }
        if (s->kind == STC_NK_LIF || s->kind == STC_NK_AND) c->spikes += got;
        if (s->kind == STC_NK_LIF) c->stage_spikes[stage] += got;
        c->compared++;
        if (got != want[i]) {
            if (!c->mismatched)
                snprintf(c->first, sizeof c->first, "stage %d '%s' t=%d index %lld: sim %lld, qinterp %lld", stage,
                         s->name, t, (long long)i, (long long)got, (long long)want[i]);
            c->mismatched++;
        }
    }
}

static stc_ir_t *load_model(const char *pth, const char *json) {
    stc_err_t err = {0};
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    if (json && stc_model_cfg_load(&cfg, json, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    stc_ckpt_t *ck = stc_ckpt_load(pth, &err);
    stc_ir_t *ir = NULL;
    if (ck && !stc_model_recognize(ck, &cfg, &err)) ir = stc_model_import(ck, &cfg, &err);
    if (!ir) fprintf(stderr, "%s: %s\n", pth, err.msg);
    stc_ckpt_destroy(&ck);
    return ir;
}

static stc_target_t tiny_target(void) {
    stc_target_t t;
    stc_err_t err = {0};
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    snprintf(t.name, sizeof t.name, "tiny");
    t.cores_per_chip = 4;
    t.core_mesh[0] = 2, t.core_mesh[1] = 2;
    t.neurons_per_core = 300;
    t.fan_in_axons_per_core = 2400;
    t.fan_out_axons_per_core = 8000;
    t.memory_per_core_bytes = 64 * 1024;
    return t;
}

/* Compile `ir` (consumed: quantized in place) for target t and compare sim
 * with qinterp on n images.  Returns the bundle's core count. */
static int last_parts; /* partial-sum stage values the last check_model compared */

static int check_model(stc_ir_t *ir, const float *images, int n, const stc_target_t *t, int weight_bits,
                       const char *what) {
    stc_err_t err = {0};
    stc_pass_opts_t po = {0};
    po.weight_bits = weight_bits;
    po.payload_bits = t->payload_bits;
    po.calib = images;
    po.n_calib = n;
    CU_ASSERT_EQUAL_FATAL(stc_pass_pipeline(ir, "fold_bn,quantize,delay_balance", &po, &err), STC_OK);
    stc_lower_opts_t lo = {t, 0, what, "test", NULL, 0, NULL, NULL, 0};
    stc_bundle_t *b0 = stc_lower(ir, &lo, &err);
    if (!b0) fprintf(stderr, "%s: %s\n", what, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b0);
    /* what runs is what was read back from the file bytes */
    unsigned char *bytes = NULL;
    size_t nb = 0;
    CU_ASSERT_EQUAL_FATAL(stc_bundle_write_mem(b0, &bytes, &nb, &err), STC_OK);
    stc_bundle_t *b = stc_bundle_read_mem(bytes, nb, what, &err);
    if (!b) fprintf(stderr, "%s: %s\n", what, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    stc_qinterp_t *qi = stc_qinterp_create(ir, &err);
    stc_chipsim_t *sim = stc_chipsim_create(b, &err);
    if (!sim) fprintf(stderr, "%s: %s\n", what, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(qi);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sim);
    cmp_t c = {0};
    c.ir = ir;
    c.stage_spikes = calloc((size_t)b->n_stages, sizeof *c.stage_spikes);
    c.q = calloc((size_t)ir->n_nodes, sizeof *c.q);
    c.part = calloc((size_t)ir->n_nodes, sizeof *c.part);
    for (int i = 0; i < ir->n_nodes; i++) c.q[i] = calloc((size_t)(ir->T * numel(ir->nodes[i].shape)), sizeof(int64_t));
    int64_t per = numel(ir->nodes[0].shape);
    int nout = b->n_out, logits_equal = 1, class_seen = 0;
    float *l1 = malloc((size_t)nout * sizeof(float)), *l2 = malloc((size_t)nout * sizeof(float));
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL_FATAL(stc_qinterp_run(qi, images + i * per, l1, NULL, on_q, &c, &err), STC_OK);
        CU_ASSERT_EQUAL_FATAL(stc_chipsim_run(sim, images + i * per, l2, NULL, on_sim, &c, &err), STC_OK);
        logits_equal &= !memcmp(l1, l2, (size_t)nout * sizeof(float));
        for (int k = 0; k < ir->n_nodes; k++) { /* the partial sums and the bias add up to the linear layer */
            if (!c.part[k]) continue;
            const stc_param_t *bias = stc_ir_param(&ir->nodes[k], "bias");
            int64_t m = numel(ir->nodes[k].shape), npos = (int64_t)ir->nodes[k].shape.h * ir->nodes[k].shape.w;
            for (int64_t j = 0; j < ir->T * m; j++) {
                c.compared++;
                if (bias) c.part[k][j] += (int64_t)bias->data[j % m / npos];
                if (c.part[k][j] != c.q[k][j] && !c.mismatched++)
                    snprintf(c.first, sizeof c.first, "the partial sums of '%s' index %lld: sim %lld, qinterp %lld",
                             ir->nodes[k].name, (long long)j, (long long)c.part[k][j], (long long)c.q[k][j]);
            }
            memset(c.part[k], 0, (size_t)(ir->T * numel(ir->nodes[k].shape)) * sizeof(int64_t));
        }
        for (int k = 0; k < nout; k++) class_seen |= l1[k] != 0;
    }
    if (c.mismatched) fprintf(stderr, "%s: %lld of %lld values differ; first: %s\n", what, (long long)c.mismatched,
                              (long long)c.compared, c.first);
    CU_ASSERT_EQUAL(c.mismatched, 0);
    CU_ASSERT(c.compared > 0);
    CU_ASSERT(c.spikes > 0);   /* the comparison saw real activity */
    CU_ASSERT(class_seen);     /* and logits that are not all zero */
    CU_ASSERT(logits_equal);
    /* every LIF layer took part: the comparison covers real spike trains */
    int silent = 0;
    for (int s = 0; s < b->n_stages; s++)
        if (b->stages[s].kind == STC_NK_LIF && !c.stage_spikes[s]) {
            if (!silent++) fprintf(stderr, "%s: LIF stage '%s' never fired\n", what, b->stages[s].name);
        }
    CU_ASSERT_EQUAL(silent, 0);
    last_parts = c.parts;
    free(c.stage_spikes);
    int cores = b->n_cores;
    for (int i = 0; i < ir->n_nodes; i++) free(c.q[i]), free(c.part[i]);
    free(c.q);
    free(c.part);
    free(l1);
    free(l2);
    free(bytes);
    stc_qinterp_destroy(&qi);
    stc_chipsim_destroy(&sim);
    stc_bundle_destroy(&b);
    stc_bundle_destroy(&b0);
    return cores;
}

static float *npy_images(const char *path, int *n) {
    stc_err_t err = {0};
    stc_input_t *in = stc_input_load(path, NULL, NULL, 16, &err);
    if (!in) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    *n = (int)in->n;
    size_t sz = (size_t)(in->n * in->c * in->h * in->w) * sizeof(float);
    float *x = malloc(sz);
    memcpy(x, in->data, sz);
    stc_input_destroy(&in);
    return x;
}

static void check_test_model(const char *arch) {
    char pth[512], json[512], npy[512];
    snprintf(pth, sizeof pth, DATA "active/%s/model.pth", arch);
    snprintf(json, sizeof json, DATA "active/%s/model.json", arch);
    snprintf(npy, sizeof npy, DATA "active/%s/inputs.npy", arch);
    int n = 0;
    float *x = npy_images(npy, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    stc_target_t t;
    stc_err_t err = {0};
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    stc_ir_t *ir = load_model(pth, json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    check_model(ir, x, n, &t, 8, arch);
    stc_ir_destroy(&ir);
    /* the same model cut into many slices over many chips */
    stc_target_t tiny = tiny_target();
    ir = load_model(pth, json);
    int cores = check_model(ir, x, n, &tiny, 8, arch);
    CU_ASSERT(cores > 4); /* host port + more than 3 cores: stages were cut */
    stc_ir_destroy(&ir);
    /* 4-bit and 1-bit (binary, +-1) weights: other integer models, still bit-identical */
    ir = load_model(pth, json);
    check_model(ir, x, n, &t, 4, arch);
    stc_ir_destroy(&ir);
    ir = load_model(pth, json);
    check_model(ir, x, n, &t, 1, arch);
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_param_t *w = stc_ir_param(&ir->nodes[i], "weight");
        if (!w || (ir->nodes[i].op != STC_OP_CONV2D && ir->nodes[i].op != STC_OP_LINEAR)) continue;
        int bad = 0;
        for (int64_t k = 0; k < w->numel; k++) bad += w->data[k] != 1.0f && w->data[k] != -1.0f;
        CU_ASSERT_EQUAL(bad, 0);
    }
    stc_ir_destroy(&ir);
    free(x);
}

static void test_spikformer_cifar(void) { check_test_model("spikformer_cifar"); }
static void test_spikformer_imagenet(void) { check_test_model("spikformer_imagenet"); }
static void test_sdt(void) { check_test_model("sdt"); }

static void test_bundled_model(void) {
    stc_err_t err = {0};
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    CU_ASSERT_EQUAL_FATAL(stc_model_cfg_load(&cfg, STC_SOURCE_DIR "/models/fmnist_spikformer.json", &err), STC_OK);
    stc_input_norm_t norm = {0};
    norm.n_ch = cfg.n_norm;
    memcpy(norm.mean, cfg.norm_mean, sizeof norm.mean);
    memcpy(norm.std, cfg.norm_std, sizeof norm.std);
    stc_input_t *in = NULL;
    if (stc_input_dataset("fashion-mnist", "test", &norm, 12, &in, &err)) {
        fprintf(stderr, "fashion-mnist not installed (%s): run tools/bootstrap.sh\n", err.msg);
        CU_FAIL("fashion-mnist test set");
        return;
    }
    stc_ir_t *ir = load_model(STC_SOURCE_DIR "/models/fmnist_spikformer.pth",
                              STC_SOURCE_DIR "/models/fmnist_spikformer.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    check_model(ir, in->data, (int)in->n, &t, 8, "fmnist_spikformer");
    stc_ir_destroy(&ir);
    stc_input_destroy(&in);
}

static void test_limits(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = load_model(DATA "models/spikformer_cifar/model.pth", DATA "models/spikformer_cifar/model.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_pass_opts_t po = {0};
    po.weight_bits = 8;
    CU_ASSERT_EQUAL_FATAL(stc_pass_pipeline(ir, "fold_bn,quantize,delay_balance", &po, &err), STC_OK);
    /* more chips needed than allowed: says how many */
    stc_target_t tiny = tiny_target();
    stc_lower_opts_t lo = {&tiny, 1, "m", "", NULL, 0, NULL, NULL, 0};
    CU_ASSERT_PTR_NULL(stc_lower(ir, &lo, &err));
    STC_ASSERT_CONTAINS(err.msg, "chips");
    STC_ASSERT_CONTAINS(err.msg, "--chips 1");
    CU_ASSERT_EQUAL(err.status, STC_E_LIMIT);
    /* a core too small for a single row of one channel: names the limit and figures */
    tiny.neurons_per_core = 4;
    lo.max_chips = 0;
    CU_ASSERT_PTR_NULL(stc_lower(ir, &lo, &err));
    STC_ASSERT_CONTAINS(err.msg, "neurons_per_core");
    STC_ASSERT_CONTAINS(err.msg, "the limit is 4");
    /* a graph that is not quantized is refused */
    stc_ir_t *raw = load_model(DATA "models/spikformer_cifar/model.pth", DATA "models/spikformer_cifar/model.json");
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    lo.target = &t;
    CU_ASSERT_PTR_NULL(stc_lower(raw, &lo, &err));
    STC_ASSERT_CONTAINS(err.msg, "quantize");
    stc_ir_destroy(&raw);
    stc_ir_destroy(&ir);
}

/* Weight sharing: a token-wise linear layer is stored once, not per token. */
static void test_weight_sharing(void) {
    stc_err_t err = {0};
    stc_ir_t *ir = load_model(DATA "models/spikformer_cifar/model.pth", DATA "models/spikformer_cifar/model.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_pass_opts_t po = {0};
    CU_ASSERT_EQUAL_FATAL(stc_pass_pipeline(ir, "fold_bn,quantize,delay_balance", &po, &err), STC_OK);
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    stc_lower_opts_t lo = {&t, 0, "m", "", NULL, 0, NULL, NULL, 0};
    stc_bundle_t *b = stc_lower(ir, &lo, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int64_t stored = 0, params = 0;
    for (int p = 0; p < b->n_projs; p++)
        if (b->projs[p].kind == STC_SK_CONV || b->projs[p].kind == STC_SK_DENSE ||
            b->projs[p].kind == STC_SK_DENSE_REDUCE)
            stored += b->projs[p].n_w;
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_param_t *w = stc_ir_param(&ir->nodes[i], "weight");
        if (w && (ir->nodes[i].op == STC_OP_CONV2D || ir->nodes[i].op == STC_OP_LINEAR)) params += w->numel;
    }
    CU_ASSERT_EQUAL(stored, params); /* exactly one copy of every weight */
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
}

/* Small graphs: lowering either computes what the integer interpreter does, or
 * refuses the pattern up front with a message naming it (never a wrong answer). */
static stc_bundle_t *compile_text(const char *text, stc_ir_t **irp, stc_err_t *err) {
    *irp = stc_ir_parse(text, strlen(text), "t.stcir", err);
    if (!*irp) return NULL;
    stc_pass_opts_t po = {0};
    if (stc_pass_pipeline(*irp, "quantize,delay_balance", &po, err)) return NULL;
    stc_target_t t;
    if (stc_target_load("loihi3", &t, err)) return NULL;
    stc_lower_opts_t lo = {&t, 0, "t", "", NULL, 0, NULL, NULL, 0};
    return stc_lower(*irp, &lo, err);
}

static void agree(const char *text, const float *img) {
    stc_err_t err = {0};
    stc_ir_t *ir = NULL;
    stc_bundle_t *b = compile_text(text, &ir, &err);
    if (!b) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    stc_qinterp_t *qi = stc_qinterp_create(ir, &err);
    stc_chipsim_t *sim = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(qi);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sim);
    float l1[8] = {0}, l2[8] = {0};
    CU_ASSERT_EQUAL(stc_qinterp_run(qi, img, l1, NULL, NULL, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_chipsim_run(sim, img, l2, NULL, NULL, NULL, &err), STC_OK);
    CU_ASSERT(!memcmp(l1, l2, sizeof l1));
    CU_ASSERT(l1[0] != 0 || l1[1] != 0);
    stc_qinterp_destroy(&qi);
    stc_chipsim_destroy(&sim);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
}

static void refused(const char *text, const char *needle) {
    stc_err_t err = {0};
    stc_ir_t *ir = NULL;
    stc_bundle_t *b = compile_text(text, &ir, &err);
    CU_ASSERT_PTR_NULL(b);
    CU_ASSERT_EQUAL(err.status, STC_E_UNSUPPORTED);
    STC_ASSERT_CONTAINS(err.msg, needle);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
}

static void test_patterns(void) {
    /* a spike-typed input is 0/1 with step 1; sdsa read by the readout and by a linear layer */
    float spk[32];
    for (int i = 0; i < 32; i++) spk[i] = (i * 7) % 3 == 0;
    agree("stc-ir 1\ngraph T=2 arch=custom\n%0 = input [2,4,4] spike name=\"image\"\n"
          "%1 = sdsa %0, %0 [2,1,1] real name=\"kv\"\n%2 = output %1 [2,1,1] real name=\"logits\"\n",
          spk);
    float ones[32];
    for (int i = 0; i < 32; i++) ones[i] = (float)(i % 5) * 0.5f;
    agree("stc-ir 1\ngraph T=2 arch=custom\n%0 = input [2,4,4] real name=\"image\"\n"
          "%1 = conv2d %0 [2,4,4] real name=\"c\" k=1 stride=1 pad=0\n  weight [2,2,1,1] = 1 0 0 1\n"
          "%2 = lif %1 [2,4,4] spike name=\"l\" tau=2 vth=1 vreset=0\n%3 = sdsa %2, %2 [2,1,1] real name=\"kv\"\n"
          "%4 = linear %3 [3,1,1] real name=\"head\"\n  weight [3,2] = 1 0 0 1 1 1\n"
          "%5 = output %4 [3,1,1] real name=\"logits\"\n",
          ones);
    /* a max over values that are not all sent (the image, a mean) is refused */
    refused("stc-ir 1\ngraph T=2 arch=custom\n%0 = input [1,4,4] real name=\"image\"\n"
            "%1 = maxpool %0 [1,2,2] real name=\"pool\" k=2 stride=2 pad=0\n%2 = mean %1 [1,1,1] real name=\"m\"\n"
            "%3 = output %2 [1,1,1] real name=\"logits\"\n",
            "max-pool %1 'pool' reads %0 'image'");
}

/* ---------------------------------------- partial sums (docs/backend.md 2.3) */

/* Neurons of the stage a DENSE_REDUCE head sums (output <- linear <- mean <- X), -1 if none. */
static int64_t head_src_numel(const stc_ir_t *ir) {
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *o = &ir->nodes[i];
        if (o->op != STC_OP_OUTPUT) continue;
        const stc_node_t *l = &ir->nodes[o->in[0]];
        const stc_node_t *m = &ir->nodes[l->in[0]];
        return l->op == STC_OP_LINEAR && m->op == STC_OP_MEAN ? numel(ir->nodes[m->in[0]].shape) : -1;
    }
    return -1;
}

static stc_bundle_t *lower_on(stc_ir_t *ir, const stc_target_t *t, const float *calib, int n, stc_err_t *err) {
    stc_pass_opts_t po = {0};
    po.weight_bits = 8;
    po.payload_bits = t->payload_bits;
    po.calib = calib;
    po.n_calib = n;
    if (stc_pass_pipeline(ir, "fold_bn,quantize,delay_balance", &po, err)) return NULL;
    stc_lower_opts_t lo = {t, 0, "psum", "test", NULL, 0, NULL, NULL, 0};
    return stc_lower(ir, &lo, err);
}

/* The one projection into stage dst; -1 if there are none or several. */
static int only_proj_into(const stc_bundle_t *b, int dst) {
    int found = -1, n = 0;
    for (int p = 0; p < b->n_projs; p++)
        if (b->projs[p].dst == dst) found = p, n++;
    return n == 1 ? found : -1;
}

static int count_psum_stages(const stc_bundle_t *b) {
    int n = 0;
    for (int s = 0; s < b->n_stages; s++) n += strstr(b->stages[s].name, ".psum") != NULL;
    return n;
}

/* Spikformer's head reads mean(x) of all C x N residual values: on a target whose
 * fan-in is one axon short of that, the head goes through partial sums, and the
 * simulator still computes exactly the integer interpreter's values; at exactly
 * the limit it does not. */
static void test_partial_sums(void) {
    const char *pth = DATA "active/spikformer_cifar/model.pth", *json = DATA "active/spikformer_cifar/model.json";
    int n = 0;
    float *x = npy_images(DATA "active/spikformer_cifar/inputs.npy", &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    stc_ir_t *ir = load_model(pth, json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    int64_t fan = head_src_numel(ir);
    CU_ASSERT_FATAL(fan > 1);
    stc_target_t t = tiny_target();
    t.fan_in_axons_per_core = (int)fan - 1;
    /* every value of every stage (the partial sums are the mean node's integers) and the logits */
    check_model(ir, x, n, &t, 8, "spikformer_cifar, partial sums");
    stc_ir_destroy(&ir);

    stc_err_t err = {0};
    ir = load_model(pth, json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_bundle_t *b = lower_on(ir, &t, x, n, &err);
    if (!b) fprintf(stderr, "partial sums: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(count_psum_stages(b), 1);
    int out = b->output_stage, ph = only_proj_into(b, out);
    CU_ASSERT_FATAL(ph >= 0);
    const stc_proj_t *head = &b->projs[ph];
    CU_ASSERT_EQUAL(head->kind, STC_SK_DENSE);
    const stc_stage_t *ps = &b->stages[head->src];
    CU_ASSERT_EQUAL(ps->kind, STC_NK_RELAY);
    CU_ASSERT(ps->c == head->ci && ps->h == 1 && ps->w == 1);
    CU_ASSERT_EQUAL(ps->rsh, 0);
    CU_ASSERT_EQUAL(ps->pbits, t.payload_bits);
    CU_ASSERT_EQUAL(ps->dense, 0);
    CU_ASSERT_PTR_NULL(ps->bias);
    CU_ASSERT_EQUAL(ir->nodes[ps->ir_node].op, STC_OP_MEAN);
    STC_ASSERT_CONTAINS(ps->name, ".psum");
    int pr = only_proj_into(b, head->src);
    CU_ASSERT_FATAL(pr >= 0);
    const stc_proj_t *red = &b->projs[pr];
    CU_ASSERT_EQUAL(red->kind, STC_SK_REDUCE);
    CU_ASSERT(red->n_w == 1 && red->w[0] == 1 && red->shift == 0);
    const stc_stage_t *src = &b->stages[red->src];
    CU_ASSERT_EQUAL((int64_t)src->c * src->h * src->w, fan);
    CU_ASSERT_EQUAL(ir->nodes[src->ir_node].op, STC_OP_ADD); /* the residual stream, graded */
    CU_ASSERT_EQUAL(ps->depth, src->depth + 1);
    CU_ASSERT_EQUAL(b->stages[out].depth, ps->depth + 1);
    CU_ASSERT_EQUAL(b->ticks, b->T + b->stages[out].depth);
    CU_ASSERT(head->src < out && red->src < head->src); /* in pipeline order */

    /* at the limit: no partial sums, one DENSE_REDUCE with the same weights, shift and bias, one tick less */
    stc_target_t t2 = t;
    t2.fan_in_axons_per_core = (int)fan;
    stc_ir_t *ir2 = load_model(pth, json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir2);
    stc_bundle_t *b2 = lower_on(ir2, &t2, x, n, &err);
    if (!b2) fprintf(stderr, "no partial sums: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
    CU_ASSERT_EQUAL(count_psum_stages(b2), 0);
    CU_ASSERT_EQUAL(b2->n_stages, b->n_stages - 1);
    int ph2 = only_proj_into(b2, b2->output_stage);
    CU_ASSERT_FATAL(ph2 >= 0);
    const stc_proj_t *dr = &b2->projs[ph2];
    CU_ASSERT_EQUAL(dr->kind, STC_SK_DENSE_REDUCE);
    CU_ASSERT(dr->n_w == head->n_w && dr->co == head->co && dr->ci == head->ci && dr->shift == head->shift);
    CU_ASSERT(!memcmp(dr->w, head->w, (size_t)head->n_w));
    const stc_stage_t *o1 = &b->stages[out], *o2 = &b2->stages[b2->output_stage];
    CU_ASSERT_FATAL(o1->c == o2->c && !o1->bias == !o2->bias);
    if (o1->bias) CU_ASSERT(!memcmp(o1->bias, o2->bias, (size_t)o1->c * sizeof *o1->bias));
    CU_ASSERT_EQUAL(o2->depth, o1->depth - 1);
    CU_ASSERT_EQUAL(b2->ticks, b->ticks - 1);
    stc_bundle_destroy(&b2);
    stc_ir_destroy(&ir2);
    /* and on loihi3 (65,536 axons) this model never needs them */
    stc_target_t l3;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &l3, &err), STC_OK);
    ir2 = load_model(pth, json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir2);
    b2 = lower_on(ir2, &l3, x, n, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
    CU_ASSERT_EQUAL(count_psum_stages(b2), 0);
    stc_bundle_destroy(&b2);
    stc_ir_destroy(&ir2);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
    free(x);
}

/* Small graphs through partial sums: a mean of a LIF and an sdsa (the AND
 * stage's column sums) read by a linear head, bit-identical per stage; and a sum
 * the payload cannot hold is refused with the figures, never clipped. */
static void test_partial_sums_small(void) {
    static const char mean_head[] =
        "stc-ir 1\ngraph T=2 arch=custom\n%0 = input [2,4,4] real name=\"image\"\n"
        "%1 = conv2d %0 [2,4,4] real name=\"c\" k=1 stride=1 pad=0\n  weight [2,2,1,1] = 1 0.5 -0.5 1\n"
        "%2 = lif %1 [2,4,4] spike name=\"l\" tau=2 vth=1 vreset=0\n%3 = mean %2 [2,1,1] real name=\"m\"\n"
        "%4 = linear %3 [3,1,1] real name=\"head\"\n  weight [3,2] = 1 -0.5 0.25 1 -1 2\n"
        "  bias [3] = 0.5 0 -0.25\n%5 = output %4 [3,1,1] real name=\"logits\"\n";
    static const char sdsa_head[] =
        "stc-ir 1\ngraph T=2 arch=custom\n%0 = input [2,4,4] real name=\"image\"\n"
        "%1 = conv2d %0 [2,4,4] real name=\"c\" k=1 stride=1 pad=0\n  weight [2,2,1,1] = 1 0 0 1\n"
        "%2 = lif %1 [2,4,4] spike name=\"l\" tau=2 vth=1 vreset=0\n%3 = sdsa %2, %2 [2,1,1] real name=\"kv\"\n"
        "%4 = linear %3 [3,1,1] real name=\"head\"\n  weight [3,2] = 1 0 0 1 1 1\n"
        "%5 = output %4 [3,1,1] real name=\"logits\"\n";
    float img[2 * 3 * 16];
    for (int i = 0; i < 2 * 3 * 16; i++) img[i] = (float)((i * 7) % 5) * 0.6f;
    stc_err_t err = {0};
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    t.fan_in_axons_per_core = 16; /* the heads read 32 neurons */
    const char *texts[2] = {mean_head, sdsa_head};
    for (int k = 0; k < 2; k++) {
        stc_ir_t *ir = stc_ir_parse(texts[k], strlen(texts[k]), "t.stcir", &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
        /* 3 images of [2,4,4]: per stage and logits equal */
        check_model(ir, img, 3, &t, 8, k ? "sdsa head, partial sums" : "mean head, partial sums");
        stc_ir_destroy(&ir);
        ir = stc_ir_parse(texts[k], strlen(texts[k]), "t.stcir", &err);
        stc_bundle_t *b = lower_on(ir, &t, img, 3, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        CU_ASSERT_EQUAL(count_psum_stages(b), 1);
        int ph = only_proj_into(b, b->output_stage);
        CU_ASSERT_FATAL(ph >= 0);
        CU_ASSERT_EQUAL(b->projs[ph].kind, STC_SK_DENSE);
        CU_ASSERT_EQUAL(ir->nodes[b->stages[b->projs[ph].src].ir_node].op, k ? STC_OP_SDSA : STC_OP_MEAN);
        stc_bundle_destroy(&b);
        stc_ir_destroy(&ir);
    }
    /* the image summed over 16 positions: 16 x 127 = 2032 does not fit an 8-bit payload (127) */
    static const char too_big[] =
        "stc-ir 1\ngraph T=2 arch=custom\n%0 = input [1,4,4] real name=\"image\"\n"
        "%1 = mean %0 [1,1,1] real name=\"m\"\n%2 = linear %1 [2,1,1] real name=\"head\"\n"
        "  weight [2,1] = 1 -1\n%3 = output %2 [2,1,1] real name=\"logits\"\n";
    t.fan_in_axons_per_core = 8;
    t.payload_bits = 8;
    stc_ir_t *ir = stc_ir_parse(too_big, strlen(too_big), "t.stcir", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    CU_ASSERT_PTR_NULL(lower_on(ir, &t, img, 1, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "'m.psum' sums 'image' [1,4,4]");
    STC_ASSERT_CONTAINS(err.msg, "16 positions x payload 127 = 2032");
    STC_ASSERT_CONTAINS(err.msg, "8-bit payload (127)");
    STC_ASSERT_CONTAINS(err.msg, "fan_in_axons_per_core 8");
    stc_ir_destroy(&ir);
    /* the same graph with the fan-in it needs: lowered as before, no partial sums */
    t.fan_in_axons_per_core = 16;
    ir = stc_ir_parse(too_big, strlen(too_big), "t.stcir", &err);
    stc_bundle_t *b = lower_on(ir, &t, img, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(count_psum_stages(b), 0);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
}

/* The energy model's formulas on counters set by hand. */
/* A token-wise linear layer too wide for a core to see many of its tokens
 * (docs/backend.md 2.3): [8,4,4] -> linear 64 -> LIF -> linear 16 -> LIF ->
 * mean -> head, on a target where a core of the second layer sees 4 of its 16
 * tokens and stores the weights of 14 of its 16 channels.  The lowering
 * splits it in two slices of 32 inputs (7 cores estimated against 10); the
 * slices read disjoint channel ranges that cover the source, the LIF adds
 * them a tick later, and the simulator computes exactly the interpreter's
 * values, the slices' sums equal to the layer's.  With the fan-in a core
 * needs to see every token, nothing is split. */
/* Graph `text` on target t: the simulator against the interpreter on n
 * images (check_model, `what`), then lowered again for inspection: the
 * bundle, and in *irp its graph. */
static stc_bundle_t *check_and_lower(const char *text, const stc_target_t *t, const float *img, int n,
                                     const char *what, stc_ir_t **irp) {
    stc_err_t err = {0};
    stc_ir_t *ir = stc_ir_parse(text, strlen(text), what, &err);
    if (!ir) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    check_model(ir, img, n, t, 8, what);
    stc_ir_destroy(&ir);
    *irp = ir = stc_ir_parse(text, strlen(text), what, &err);
    stc_bundle_t *b = lower_on(ir, t, img, n, &err);
    if (!b) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

static int stage_named(const stc_bundle_t *b, const char *name) {
    for (int s = 0; s < b->n_stages; s++)
        if (!strcmp(b->stages[s].name, name)) return s;
    return -1;
}

/* The graph of test_dense_split; with `add`, fc2 is also read by a residual
 * add beside its LIF. */
static int split_graph(char *text, int cap, int add) {
    int at = snprintf(text, (size_t)cap,
                      "stc-ir 1\ngraph T=3 arch=custom\n%%0 = input [8,4,4] real name=\"image\"\n"
                      "%%1 = linear %%0 [64,4,4] real name=\"fc1\"\n  weight [64,8] =");
    for (int i = 0; i < 64 * 8; i++) at += snprintf(text + at, (size_t)(cap - at), " %g", ((i * 37) % 11 - 4) * 0.1);
    at += snprintf(text + at, (size_t)(cap - at),
                   "\n%%2 = lif %%1 [64,4,4] spike name=\"fc1_lif\" tau=2 vth=1 vreset=0\n"
                   "%%3 = linear %%2 [16,4,4] real name=\"fc2\"\n  weight [16,64] =");
    for (int i = 0; i < 16 * 64; i++) at += snprintf(text + at, (size_t)(cap - at), " %g", ((i * 53) % 13 - 5) * 0.1);
    at += snprintf(text + at, (size_t)(cap - at),
                   "\n  bias [16] = 0.1 -0.1 0.2 0 0 0.3 -0.2 0 0.1 0 0 -0.1 0.2 0 0.1 0\n"
                   "%%4 = lif %%3 [16,4,4] spike name=\"fc2_lif\" tau=2 vth=1 vreset=0\n");
    if (add)
        at += snprintf(text + at, (size_t)(cap - at), "%%5 = add %%3, %%4 [16,4,4] real name=\"res\"\n"
                                                      "%%6 = mean %%5 [16,1,1] real name=\"m\"\n");
    else at += snprintf(text + at, (size_t)(cap - at), "%%5 = mean %%4 [16,1,1] real name=\"m\"\n");
    at += snprintf(text + at, (size_t)(cap - at), "%%%d = linear %%%d [3,1,1] real name=\"head\"\n  weight [3,16] =",
                   6 + add, 5 + add);
    for (int i = 0; i < 3 * 16; i++) at += snprintf(text + at, (size_t)(cap - at), " %g", ((i * 7) % 5 - 2) * 0.5);
    at += snprintf(text + at, (size_t)(cap - at), "\n%%%d = output %%%d [3,1,1] real name=\"logits\"\n", 7 + add,
                   6 + add);
    return at;
}

static void test_dense_split(void) {
    char text[16384];
    CU_ASSERT_FATAL(split_graph(text, (int)sizeof text, 0) < (int)sizeof text);
    float img[4 * 8 * 16];
    for (int i = 0; i < 4 * 8 * 16; i++) img[i] = (float)((i * 7) % 5) * 0.5f;
    stc_err_t err = {0};
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    t.neurons_per_core = 4096, t.fan_in_axons_per_core = 256, t.fan_out_axons_per_core = 1024;
    t.memory_per_core_bytes = 2048;
    stc_ir_t *ir;
    stc_bundle_t *b = check_and_lower(text, &t, img, 4, "a token-wise layer in two slices", &ir);
    CU_ASSERT_EQUAL(last_parts, 2 * 4 * 3); /* 2 slices, 4 images, T = 3: the slices' values were compared */
    int src = stage_named(b, "fc1_lif"), lif = stage_named(b, "fc2_lif"), slices = 0, covered = 0;
    CU_ASSERT_FATAL(src >= 0 && lif >= 0);
    for (int p = 0; p < b->n_projs; p++) {
        const stc_proj_t *pj = &b->projs[p];
        if (pj->src == src) { /* into a slice: a DENSE over 32 of the 64 channels, one tick */
            const stc_stage_t *sl = &b->stages[pj->dst];
            CU_ASSERT_EQUAL(pj->kind, STC_SK_DENSE);
            CU_ASSERT_EQUAL(pj->ci, 32);
            CU_ASSERT_EQUAL(pj->co, 16);
            CU_ASSERT_EQUAL(pj->c0 % 32, 0);
            covered |= 1 << (pj->c0 / 32);
            CU_ASSERT_EQUAL(sl->kind, STC_NK_RELAY);
            CU_ASSERT_EQUAL(sl->depth, b->stages[src].depth + 1);
            CU_ASSERT(strstr(sl->name, "fc2.slice") != NULL);
            slices++;
        }
        if (pj->dst == lif) { /* from a slice, weight 1, one tick */
            CU_ASSERT_EQUAL(pj->kind, STC_SK_ONE2ONE);
            CU_ASSERT_EQUAL(pj->n_w, 1);
            CU_ASSERT_EQUAL(pj->delay, 1);
            CU_ASSERT(strstr(b->stages[pj->src].name, "fc2.slice") != NULL);
        }
    }
    CU_ASSERT_EQUAL(slices, 2);
    CU_ASSERT_EQUAL(covered, 3);
    CU_ASSERT_EQUAL(b->stages[lif].depth, b->stages[src].depth + 2);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
    /* a core that can see all 16 tokens: no split */
    t.fan_in_axons_per_core = 1024;
    ir = stc_ir_parse(text, strlen(text), "split.stcir", &err);
    b = lower_on(ir, &t, img, 4, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (int s = 0; s < b->n_stages; s++) CU_ASSERT(strstr(b->stages[s].name, ".slice") == NULL);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
    /* fc2 also read by an add: it stays whole (the add would need the
     * slices' tick too), and the graph still computes what the interpreter
     * does.  (The add reads 65 axons per position: a fan-in of 320, with
     * which fc2 alone is split.) */
    t.fan_in_axons_per_core = 320;
    ir = stc_ir_parse(text, strlen(text), "split.stcir", &err);
    b = lower_on(ir, &t, img, 4, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int sliced = 0;
    for (int s = 0; s < b->n_stages; s++) sliced += strstr(b->stages[s].name, "fc2.slice") != NULL;
    CU_ASSERT(sliced >= 2);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
    CU_ASSERT_FATAL(split_graph(text, (int)sizeof text, 1) < (int)sizeof text);
    ir = stc_ir_parse(text, strlen(text), "split_add.stcir", &err);
    if (!ir) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    check_model(ir, img, 4, &t, 8, "a token-wise layer an add reads too");
    CU_ASSERT_EQUAL(last_parts, 0);
    stc_ir_destroy(&ir);
}

/* A convolution cut by its input channels (docs/backend.md 2.3): [4,6,6] ->
 * conv 3x3 to 32 -> LIF -> conv 3x3 to 16 -> LIF -> mean -> head, on a target
 * where a core stores the 3x3 weights of 3 of the 32-input channels: two
 * slices of 16 input channels (about 11 cores against 21), disjoint ranges
 * covering the source, bit-identical to the interpreter, the slices summing
 * to the convolution. */
static void test_conv_split(void) {
    static char text[65536];
    int at = snprintf(text, sizeof text,
                      "stc-ir 1\ngraph T=3 arch=custom\n%%0 = input [4,6,6] real name=\"image\"\n"
                      "%%1 = conv2d %%0 [32,6,6] real name=\"c1\" k=3 stride=1 pad=1\n  weight [32,4,3,3] =");
    for (int i = 0; i < 32 * 4 * 9; i++) at += snprintf(text + at, sizeof text - at, " %g", ((i * 37) % 11 - 4) * 0.1);
    at += snprintf(text + at, sizeof text - at,
                   "\n%%2 = lif %%1 [32,6,6] spike name=\"c1_lif\" tau=2 vth=1 vreset=0\n"
                   "%%3 = conv2d %%2 [16,6,6] real name=\"c2\" k=3 stride=1 pad=1\n  weight [16,32,3,3] =");
    for (int i = 0; i < 16 * 32 * 9; i++)
        at += snprintf(text + at, sizeof text - at, " %g", ((i * 53) % 13 - 5) * 0.05);
    at += snprintf(text + at, sizeof text - at,
                   "\n  bias [16] = 0.1 -0.1 0.2 0 0 0.3 -0.2 0 0.1 0 0 -0.1 0.2 0 0.1 0\n"
                   "%%4 = lif %%3 [16,6,6] spike name=\"c2_lif\" tau=2 vth=1 vreset=0\n"
                   "%%5 = mean %%4 [16,1,1] real name=\"m\"\n%%6 = linear %%5 [3,1,1] real name=\"head\"\n"
                   "  weight [3,16] =");
    for (int i = 0; i < 3 * 16; i++) at += snprintf(text + at, sizeof text - at, " %g", ((i * 7) % 5 - 2) * 0.5);
    at += snprintf(text + at, sizeof text - at, "\n%%7 = output %%6 [3,1,1] real name=\"logits\"\n");
    CU_ASSERT_FATAL(at < (int)sizeof text);
    float img[4 * 4 * 36];
    for (int i = 0; i < 4 * 4 * 36; i++) img[i] = (float)((i * 7) % 5) * 0.5f;
    stc_err_t err = {0};
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    t.neurons_per_core = 1024, t.fan_in_axons_per_core = 576, t.fan_out_axons_per_core = 1024;
    t.memory_per_core_bytes = 4096;
    stc_ir_t *ir;
    stc_bundle_t *b = check_and_lower(text, &t, img, 4, "a convolution in two slices", &ir);
    CU_ASSERT_EQUAL(last_parts, 2 * 4 * 3); /* 2 slices, 4 images, T = 3 */
    int src = stage_named(b, "c1_lif"), lif = stage_named(b, "c2_lif"), slices = 0, covered = 0;
    CU_ASSERT_FATAL(src >= 0 && lif >= 0);
    for (int p = 0; p < b->n_projs; p++) {
        const stc_proj_t *pj = &b->projs[p];
        if (pj->src != src) continue;
        CU_ASSERT_EQUAL(pj->kind, STC_SK_CONV);
        CU_ASSERT_EQUAL(pj->k, 3);
        CU_ASSERT_EQUAL(pj->pad, 1);
        CU_ASSERT_EQUAL(pj->ci, 16);
        CU_ASSERT_EQUAL(pj->n_w, 16 * 16 * 9);
        CU_ASSERT(strstr(b->stages[pj->dst].name, "c2.slice") != NULL);
        covered |= 1 << (pj->c0 / 16);
        slices++;
    }
    CU_ASSERT_EQUAL(slices, 2);
    CU_ASSERT_EQUAL(covered, 3);
    CU_ASSERT_EQUAL(b->stages[lif].depth, b->stages[src].depth + 2);
    stc_bundle_destroy(&b);
    stc_ir_destroy(&ir);
}

static void test_energy_model(void) {
    stc_err_t err = {0};
    stc_target_t t;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &t, &err), STC_OK);
    stc_bundle_t b = {0};
    stc_core_t cores[3] = {{0}};
    cores[0].chip = -1, cores[1].chip = 0, cores[2].chip = 1;
    b.n_cores = 3, b.cores = cores, b.n_chips = 2, b.ticks = 10;
    stc_core_counters_t c[3] = {{0}};
    c[0].spikes = 100, c[0].msgs_chip = 100, c[0].chip_hops = 100;                           /* host port */
    c[1].synops = 1000, c[1].neuron_updates = 400, c[1].neuron_active = 100, c[1].spikes = 50;
    c[1].core_hops = 30, c[1].msgs_chip = 5, c[1].chip_hops = 5, c[1].ticks_active = 4;
    c[2].synops = 200, c[2].kernel_ops = 100, c[2].neuron_updates = 40, c[2].neuron_active = 40;
    c[2].ticks_active = 4;
    c[0].chip_link_fj = (int64_t)(100 * t.energy_chip_hop_pj * 1000); /* one chip hop a link */
    c[1].chip_link_fj = (int64_t)(5 * t.energy_chip_hop_pj * 1000);
    stc_energy_t e;
    stc_energy_model(&b, &t, c, 2, 50.0, 600.0, &e); /* two inferences */
    double syn = 1300 * t.energy_synop_pj / 2 * 1e-6;
    double neu = (140 * t.energy_neuron_active_pj + 300 * t.energy_neuron_idle_pj) / 2 * 1e-6;
    double spk = 150 * t.energy_spike_local_pj / 2 * 1e-6;
    double rte = (30 * t.energy_core_hop_pj + 105 * t.energy_chip_hop_pj) / 2 * 1e-6;
    CU_ASSERT_DOUBLE_EQUAL(e.dyn_synop_uj, syn, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(e.dyn_neuron_uj, neu, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(e.dyn_spike_uj, spk, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(e.dyn_route_uj, rte, 1e-12);
    /* core 1 is the busiest: (1000 x t_synop + 400 x t_neuron + 30 x t_hop) / 4 ticks */
    double tick = (1000 * t.time_synop_ns + 400 * t.time_neuron_ns + 30 * t.time_core_hop_ns) / 4 + t.time_barrier_ns;
    CU_ASSERT_DOUBLE_EQUAL(e.tick_ns, tick, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(e.latency_us, tick * 10 * 1e-3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(e.static_uj, t.static_power_w * 2 * e.latency_us, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(e.total_uj, syn + neu + spk + rte + e.static_uj, 1e-9);
    /* paper-style: (1300 - 600 first-layer synops) / 2 x 0.9 pJ + 50 MACs x 4.6 pJ */
    CU_ASSERT_DOUBLE_EQUAL(e.paper_uj, (350 * 0.9 + 50 * 4.6) * 1e-6, 1e-15);
    /* the same two cores placed on a system of 16 chips: only the 2 that hold
     * cores draw static power */
    b.n_chips = 16;
    CU_ASSERT_EQUAL(stc_bundle_chips_used(&b), 2);
    stc_energy_model(&b, &t, c, 2, 50.0, 600.0, &e);
    CU_ASSERT_DOUBLE_EQUAL(e.static_uj, t.static_power_w * 2 * e.latency_us, 1e-9);
    cores[2].chip = 0; /* both on chip 0 */
    CU_ASSERT_EQUAL(stc_bundle_chips_used(&b), 1);
    stc_energy_model(&b, &t, c, 2, 50.0, 600.0, &e);
    CU_ASSERT_DOUBLE_EQUAL(e.static_uj, t.static_power_w * 1 * e.latency_us, 1e-9);
}

void stc_suite_lower(void) {
    static const stc_test_t tests[] = {
        {"spikformer_cifar: sim == qinterp", test_spikformer_cifar},
        {"spikformer_imagenet: sim == qinterp", test_spikformer_imagenet},
        {"sdt: sim == qinterp", test_sdt},
        {"bundled fmnist model: sim == qinterp", test_bundled_model},
        {"limit errors", test_limits},
        {"weight sharing", test_weight_sharing},
        {"small patterns: agree or refuse", test_patterns},
        {"energy model formulas", test_energy_model},
        {"partial sums: a head over the fan-in limit, sim == qinterp", test_partial_sums},
        {"partial sums: small graphs, and a sum the payload cannot hold", test_partial_sums_small},
        {"partial sums: a token-wise layer cut in slices of its inputs, sim == qinterp", test_dense_split},
        {"partial sums: a convolution cut in slices of its input channels, sim == qinterp", test_conv_split},
        {NULL, NULL},
    };
    stc_add_suite("lower", tests);
}
