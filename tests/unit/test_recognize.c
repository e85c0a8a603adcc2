/* test_recognize.c - suite "recognize": architecture recognition, config handling and import
 * (compiler/frontend/model.c).
 *
 * Checkpoints are written by PyTorch: tests/data/make_ckpts.py runs
 * tools/make_test_model.py for tiny models of each architecture (embed_dims 16,
 * depth 1, 16x16 images) into STC_TEST_DATA_DIR/models/<arch>/, with the config
 * (model.json), the LIF modules PyTorch's forward pass calls (lifs.txt), and
 * spikformer_cifar checkpoints with a key missing, a key added and a bad shape.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_model.h"
#include "test_util.h"

#define MODELS STC_TEST_DATA_DIR "/models/"

static const char *archs[] = {"spikformer_cifar", "spikformer_imagenet", "sdt"};

/* ------------------------------------------------------------- helpers */

static stc_ckpt_t *load(const char *arch, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, MODELS "%s/%s", arch, file);
    stc_err_t err = {0};
    stc_ckpt_t *c = stc_ckpt_load(path, &err);
    if (!c) fprintf(stderr, "\n  %s: %s (run ctest -R make_test_data)\n", path, err.msg);
    return c;
}

static stc_status_t recognize(const stc_ckpt_t *ck, stc_model_cfg_t *cfg, stc_err_t *err) {
    stc_status_t st = stc_model_recognize(ck, cfg, err);
    return st;
}

/* cfg from the model's own model.json */
static void load_config(const char *arch, stc_model_cfg_t *cfg) {
    char path[1024];
    snprintf(path, sizeof path, MODELS "%s/model.json", arch);
    stc_err_t err = {0};
    stc_model_cfg_init(cfg);
    stc_status_t st = stc_model_cfg_load(cfg, path, &err);
    if (st) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
    CU_ASSERT_STRING_EQUAL(cfg->config_path, path);
}

/* recognition must fail with a message containing both needles */
static void expect_fail(const stc_ckpt_t *ck, stc_model_cfg_t *cfg, stc_status_t want, const char *n1,
                        const char *n2) {
    stc_err_t err = {0};
    stc_status_t st = recognize(ck, cfg, &err);
    CU_ASSERT_EQUAL(st, want);
    int ok = strstr(err.msg, n1) && (!n2 || strstr(err.msg, n2));
    if (!ok || st != want)
        fprintf(stderr, "\n  status %s, message \"%s\"\n  expected %s, \"%s\"%s%s\n", stc_status_name(st),
                err.msg, stc_status_name(want), n1, n2 ? " and " : "", n2 ? n2 : "");
    CU_ASSERT(ok);
}

static void cfg_from_json(stc_model_cfg_t *cfg, const char *json) {
    stc_err_t err = {0};
    stc_model_cfg_init(cfg);
    stc_status_t st = stc_model_cfg_parse(cfg, json, strlen(json), "test.json", &err);
    if (st) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
}

/* ---------------------------------------------------------------- tests */

/* The usage example: load, recognize, import, run, destroy. */
static void test_example(void) {
    stc_ckpt_t *ck = load("spikformer_cifar", "model.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_t cfg;
    load_config("spikformer_cifar", &cfg);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_model_recognize(ck, &cfg, &err), STC_OK);
    stc_ir_t *ir = stc_model_import(ck, &cfg, &err);
    if (!ir) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
    stc_interp_t *ip = stc_interp_create(ir, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    float *img = calloc(3 * 16 * 16, sizeof *img), logits[10];
    CU_ASSERT_EQUAL(stc_interp_run(ip, img, logits, NULL, NULL, NULL, &err), STC_OK);
    for (int i = 0; i < 10; i++) CU_ASSERT(isfinite(logits[i]));
    free(img);
    stc_interp_destroy(&ip);
    stc_ir_destroy(&ir);
    stc_ckpt_destroy(&ck);
}

/* Every architecture is told apart by its keys alone. */
static void test_recognize_each(void) {
    static const stc_arch_t want[] = {STC_ARCH_SPIKFORMER_CIFAR, STC_ARCH_SPIKFORMER_IMAGENET, STC_ARCH_SDT};
    for (int a = 0; a < 3; a++) {
        stc_ckpt_t *ck = load(archs[a], "model.pth");
        CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
        stc_model_cfg_t cfg;
        stc_model_cfg_init(&cfg);
        stc_err_t err = {0};
        stc_status_t st = recognize(ck, &cfg, &err);
        if (st) fprintf(stderr, "\n  %s: %s\n", archs[a], err.msg);
        CU_ASSERT_EQUAL(st, STC_OK);
        CU_ASSERT_EQUAL(cfg.arch, want[a]);
        CU_ASSERT_EQUAL(cfg.arch_src, STC_SRC_WEIGHTS);
        CU_ASSERT_STRING_EQUAL(stc_arch_name(cfg.arch), archs[a]);
        stc_ckpt_destroy(&ck);
    }
}

/* Without a config: what the weights determine is marked "weights", the rest "default". */
static void test_inferred_and_defaults(void) {
    for (int a = 0; a < 3; a++) {
        stc_ckpt_t *ck = load(archs[a], "model.pth");
        CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
        stc_model_cfg_t cfg;
        stc_model_cfg_init(&cfg);
        stc_err_t err = {0};
        CU_ASSERT_EQUAL_FATAL(recognize(ck, &cfg, &err), STC_OK);
        int sdt = cfg.arch == STC_ARCH_SDT, cifar = cfg.arch == STC_ARCH_SPIKFORMER_CIFAR;
        CU_ASSERT_EQUAL(cfg.v[STC_F_IN_CH], 3);
        CU_ASSERT_EQUAL(cfg.src[STC_F_IN_CH], STC_SRC_WEIGHTS);
        CU_ASSERT_EQUAL(cfg.v[STC_F_EMBED], 16);
        CU_ASSERT_EQUAL(cfg.src[STC_F_EMBED], STC_SRC_WEIGHTS);
        CU_ASSERT_EQUAL(cfg.v[STC_F_DEPTHS], 1);
        CU_ASSERT_EQUAL(cfg.src[STC_F_DEPTHS], STC_SRC_WEIGHTS);
        CU_ASSERT_EQUAL(cfg.v[STC_F_MLP_HIDDEN], 64);
        CU_ASSERT_EQUAL(cfg.src[STC_F_MLP_HIDDEN], STC_SRC_WEIGHTS);
        CU_ASSERT_EQUAL(cfg.mlp_ratios, 4.0);
        CU_ASSERT_EQUAL(cfg.v[STC_F_CLASSES], 10);
        CU_ASSERT_EQUAL(cfg.src[STC_F_CLASSES], STC_SRC_WEIGHTS);
        if (sdt) { /* talking_heads [heads, heads, 3] */
            CU_ASSERT_EQUAL(cfg.v[STC_F_HEADS], 4);
            CU_ASSERT_EQUAL(cfg.src[STC_F_HEADS], STC_SRC_WEIGHTS);
            CU_ASSERT_STRING_EQUAL(cfg.pooling_stat, "1111"); /* 224 > 64 */
            CU_ASSERT_EQUAL(cfg.pooling_src, STC_SRC_DEFAULT);
        } else { /* Spikformer's weights cannot tell: 8 for embed_dims 16 */
            CU_ASSERT_EQUAL(cfg.v[STC_F_HEADS], 8);
            CU_ASSERT_EQUAL(cfg.src[STC_F_HEADS], STC_SRC_DEFAULT);
            CU_ASSERT_EQUAL(cfg.pooling_src, STC_SRC_UNSET);
        }
        CU_ASSERT_EQUAL(cfg.v[STC_F_IMG_H], cifar ? 32 : 224);
        CU_ASSERT_EQUAL(cfg.v[STC_F_IMG_W], cifar ? 32 : 224);
        CU_ASSERT_EQUAL(cfg.src[STC_F_IMG_H], STC_SRC_DEFAULT);
        CU_ASSERT_EQUAL(cfg.src[STC_F_IMG_W], STC_SRC_DEFAULT);
        CU_ASSERT_EQUAL(cfg.v[STC_F_T], 4);
        CU_ASSERT_EQUAL(cfg.src[STC_F_T], STC_SRC_DEFAULT);
        /* the defaults import too */
        stc_ir_t *ir = stc_model_import(ck, &cfg, &err);
        if (!ir) fprintf(stderr, "\n  %s: %s\n", archs[a], err.msg);
        CU_ASSERT_PTR_NOT_NULL(ir);
        if (ir) CU_ASSERT_EQUAL(ir->nodes[0].shape.h, cifar ? 32 : 224);
        stc_ir_destroy(&ir);
        stc_ckpt_destroy(&ck);
    }
}

/* With the model's config: its values are marked "config" (they agree with the weights). */
static void test_config_values(void) {
    for (int a = 0; a < 3; a++) {
        stc_model_cfg_t cfg;
        load_config(archs[a], &cfg);
        CU_ASSERT_EQUAL(cfg.arch, stc_arch_from_name(archs[a]));
        CU_ASSERT_EQUAL(cfg.arch_src, STC_SRC_CONFIG);
        for (int f = 0; f < STC_F_MLP_HIDDEN; f++) CU_ASSERT_EQUAL(cfg.src[f], STC_SRC_CONFIG);
        CU_ASSERT_EQUAL(cfg.mlp_ratios, 4.0);
        stc_ckpt_t *ck = load(archs[a], "model.pth");
        CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
        stc_err_t err = {0};
        stc_status_t st = recognize(ck, &cfg, &err);
        if (st) fprintf(stderr, "\n  %s: %s\n", archs[a], err.msg);
        CU_ASSERT_EQUAL_FATAL(st, STC_OK);
        CU_ASSERT_EQUAL(cfg.arch_src, STC_SRC_CONFIG);
        static const int want[STC_F_MLP_HIDDEN] = {[STC_F_IMG_H] = 16, [STC_F_IMG_W] = 16, [STC_F_IN_CH] = 3,
                                                  [STC_F_CLASSES] = 10, [STC_F_EMBED] = 16, [STC_F_HEADS] = 4,
                                                  [STC_F_DEPTHS] = 1, [STC_F_T] = 4};
        /* what the weights also tell is marked "config = weights"; the rest stays "config" */
        int sdt = cfg.arch == STC_ARCH_SDT;
        for (int f = 0; f < STC_F_MLP_HIDDEN; f++) {
            int told = f == STC_F_IN_CH || f == STC_F_CLASSES || f == STC_F_EMBED || f == STC_F_DEPTHS ||
                       (sdt && f == STC_F_HEADS);
            CU_ASSERT_EQUAL(cfg.v[f], want[f]);
            if (cfg.src[f] != (told ? STC_SRC_AGREE : STC_SRC_CONFIG))
                fprintf(stderr, "\n  %s: %s is from %s\n", archs[a], stc_field_name(f), stc_src_name(cfg.src[f]));
            CU_ASSERT_EQUAL(cfg.src[f], told ? STC_SRC_AGREE : STC_SRC_CONFIG);
        }
        CU_ASSERT_EQUAL(cfg.v[STC_F_MLP_HIDDEN], 64);
        CU_ASSERT_EQUAL(cfg.src[STC_F_MLP_HIDDEN], STC_SRC_WEIGHTS);
        if (cfg.arch == STC_ARCH_SDT) {
            CU_ASSERT_STRING_EQUAL(cfg.pooling_stat, "0011");
            CU_ASSERT_EQUAL(cfg.pooling_src, STC_SRC_CONFIG);
        }
        stc_ckpt_destroy(&ck);
    }
}

/* A config that contradicts the weights is an error naming the field and the tensor. */
static void test_contradictions(void) {
    stc_ckpt_t *ck = load("spikformer_cifar", "model.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_t cfg;
    cfg_from_json(&cfg, "{\"embed_dims\": 32}");
    expect_fail(ck, &cfg, STC_E_USAGE, "config embed_dims=32 contradicts the weights",
                "patch_embed.proj_conv3.weight gives 16");
    expect_fail(ck, &cfg, STC_E_USAGE, "models/spikformer_cifar/model.pth: ", NULL);
    cfg_from_json(&cfg, "{\"in_channels\": 1}");
    expect_fail(ck, &cfg, STC_E_USAGE, "config in_channels=1 contradicts", "patch_embed.proj_conv.weight gives 3");
    cfg_from_json(&cfg, "{\"num_classes\": 100}");
    expect_fail(ck, &cfg, STC_E_USAGE, "config num_classes=100 contradicts", "head.weight gives 10");
    cfg_from_json(&cfg, "{\"depths\": [2, 2]}");
    expect_fail(ck, &cfg, STC_E_USAGE, "config depths=2 contradicts", "gives 1");
    cfg_from_json(&cfg, "{\"mlp_ratios\": 2}");
    expect_fail(ck, &cfg, STC_E_USAGE, "mlp_ratios=2 contradicts the weights", "64 outputs for embed_dims 16");
    /* a flag likewise */
    stc_model_cfg_init(&cfg);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "embed_dims", "24", &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.src[STC_F_EMBED], STC_SRC_FLAG);
    expect_fail(ck, &cfg, STC_E_USAGE, "flag embed_dims=24 contradicts the weights", NULL);
    /* a config may repeat the weights */
    cfg_from_json(&cfg, "{\"embed_dims\": 16, \"mlp_ratios\": 4, \"depths\": [1]}");
    CU_ASSERT_EQUAL(recognize(ck, &cfg, &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.src[STC_F_EMBED], STC_SRC_AGREE);
    CU_ASSERT_EQUAL(cfg.src[STC_F_DEPTHS], STC_SRC_AGREE);
    CU_ASSERT_EQUAL(cfg.src[STC_F_IN_CH], STC_SRC_WEIGHTS);
    CU_ASSERT_STRING_EQUAL(stc_src_name(STC_SRC_AGREE), "config = weights");
    /* num_heads must divide embed_dims */
    stc_model_cfg_init(&cfg);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "num_heads", "3", &err), STC_OK);
    expect_fail(ck, &cfg, STC_E_USAGE, "num_heads=3 (flag) does not divide embed_dims 16", NULL);
    stc_ckpt_destroy(&ck);
    /* SDT: num_heads comes from talking_heads */
    ck = load("sdt", "model.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    cfg_from_json(&cfg, "{\"num_heads\": 8}");
    expect_fail(ck, &cfg, STC_E_USAGE, "config num_heads=8 contradicts",
                "block.0.attn.talking_heads.weight gives 4");
    stc_ckpt_destroy(&ck);
}

static void bad_config(const char *json, const char *n1) {
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    stc_err_t err = {0};
    stc_status_t st = stc_model_cfg_parse(&cfg, json, strlen(json), "my.json", &err);
    CU_ASSERT_NOT_EQUAL(st, STC_OK);
    int ok = strstr(err.msg, n1) && !strncmp(err.msg, "my.json: ", 9);
    if (!ok) fprintf(stderr, "\n  %s\n  message \"%s\"\n  expected \"%s\"\n", json, err.msg, n1);
    CU_ASSERT(ok);
}

/* Unknown keys are named; bad values say what was expected. */
static void test_config_errors(void) {
    bad_config("{\"embed_dim\": 16}", "unknown key 'embed_dim' (expected arch, img_size_h");
    bad_config("{\"T\": 4, \"timesteps\": 4}", "unknown key 'timesteps'");
    bad_config("{\"mlp_hidden\": 64}", "unknown key 'mlp_hidden'");
    bad_config("{\"T\": 0}", "'T' is 0, expected a whole number 1..1000000");
    bad_config("{\"T\": 2.5}", "'T' is 2.5, expected a whole number");
    bad_config("{\"embed_dims\": 1e7}", "'embed_dims' is 1e+07, expected a whole number 1..1000000");
    bad_config("{\"depths\": [1, 2]}", "'depths' must be a number");
    bad_config("{\"depths\": []}", "'depths' must be a number");
    bad_config("{\"num_heads\": \"8\"}", "'num_heads' must be a number");
    bad_config("{\"img_size\": -3}", "'img_size_h' is -3");
    bad_config("{\"mlp_ratios\": 0}", "'mlp_ratios' must be a number in (0, 64]");
    bad_config("{\"mlp_ratios\": 65}", "'mlp_ratios' must be a number in (0, 64]");
    bad_config("{\"arch\": \"vit\"}", "'arch' must be one of spikformer_cifar, spikformer_imagenet, sdt");
    bad_config("{\"arch\": 1}", "'arch' must be one of");
    bad_config("{\"pooling_stat\": \"111\"}", "'pooling_stat' must be 4 characters of 0/1");
    bad_config("{\"pooling_stat\": \"1121\"}", "'pooling_stat' must be 4 characters of 0/1");
    bad_config("{\"normalize\": {\"mean\": [0.5], \"std\": [0.5, 0.5]}}", "'normalize' must be");
    bad_config("{\"normalize\": {\"mean\": [0.5], \"std\": [0]}}", "'normalize' entry 0: expected numbers, std > 0");
    /* float32 is what the normalization uses: 1e-50 would be a std of 0, 1e300 infinite */
    bad_config("{\"normalize\": {\"mean\": [0], \"std\": [1e-50]}}", "'normalize' entry 0: expected numbers");
    bad_config("{\"normalize\": {\"mean\": [0, 0], \"std\": [1, 1e300]}}", "'normalize' entry 1");
    bad_config("{\"normalize\": {\"mean\": [-1e39], \"std\": [1]}}", "'normalize' entry 0");
    bad_config("{\"normalize\": [1, 2]}", "'normalize' must be");
    bad_config("[1, 2]", "expected a JSON object of model options");
    bad_config("{\"T\": 4", "not valid JSON (error near byte");
    bad_config("", "not valid JSON");
    /* the good keys */
    stc_model_cfg_t cfg;
    cfg_from_json(&cfg, "{\"arch\": \"sdt\", \"img_size\": 28, \"T\": 8, \"pooling_stat\": \"0101\","
                        " \"normalize\": {\"mean\": [0.5, 0.25], \"std\": [0.5, 2]}, \"dataset\": \"fashion-mnist\","
                        " \"pytorch_test_accuracy\": 0.875, \"pytorch_test_images\": 1000, \"comment\": \"hi\","
                        " \"qkv_bias\": false, \"drop_path_rate\": 0.1, \"mlp_ratios\": [4, 4]}");
    CU_ASSERT_EQUAL(cfg.arch, STC_ARCH_SDT);
    CU_ASSERT_EQUAL(cfg.v[STC_F_IMG_H], 28);
    CU_ASSERT_EQUAL(cfg.v[STC_F_IMG_W], 28);
    CU_ASSERT_EQUAL(cfg.src[STC_F_IMG_W], STC_SRC_CONFIG);
    CU_ASSERT_EQUAL(cfg.v[STC_F_T], 8);
    CU_ASSERT_STRING_EQUAL(cfg.pooling_stat, "0101");
    CU_ASSERT_EQUAL(cfg.n_norm, 2);
    CU_ASSERT_EQUAL(cfg.norm_std[1], 2.0f);
    CU_ASSERT_STRING_EQUAL(cfg.dataset, "fashion-mnist");
    CU_ASSERT_EQUAL(cfg.pytorch_accuracy, 0.875);
    CU_ASSERT_EQUAL(cfg.pytorch_images, 1000);
    CU_ASSERT_EQUAL(cfg.mlp_ratios, 4.0);
    CU_ASSERT_EQUAL(cfg.src[STC_F_EMBED], STC_SRC_UNSET);
    /* a missing file */
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_model_cfg_load(&cfg, "/nonexistent/model.json", &err), STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "/nonexistent/model.json");
}

/* Flags: stc_model_cfg_set. */
static void test_flags(void) {
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "img_size", "32x48", &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.v[STC_F_IMG_H], 32);
    CU_ASSERT_EQUAL(cfg.v[STC_F_IMG_W], 48);
    CU_ASSERT_EQUAL(cfg.src[STC_F_IMG_H], STC_SRC_FLAG);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "img_size", "64", &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.v[STC_F_IMG_W], 64);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "img_size", "64y", &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "--img-size 64y: expected N or HxW");
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "T", "0", &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "T=0: expected a whole number 1..1000000");
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "T", "8", &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.v[STC_F_T], 8);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "mlp_ratios", "2.5", &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.mlp_ratios, 2.5);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "mlp_ratios", "-1", &err), STC_E_USAGE);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "pooling_stat", "0011", &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.pooling_src, STC_SRC_FLAG);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "pooling_stat", "00110", &err), STC_E_USAGE);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "arch", "resnet", &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "--arch resnet: expected spikformer_cifar, spikformer_imagenet or sdt");
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "heads", "8", &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "unknown model option 'heads'");
    /* names */
    for (int a = 1; a <= 3; a++) CU_ASSERT_EQUAL((int)stc_arch_from_name(stc_arch_name((stc_arch_t)a)), a);
    CU_ASSERT_EQUAL(stc_arch_from_name("unknown"), STC_ARCH_UNKNOWN);
    CU_ASSERT_STRING_EQUAL(stc_src_name(STC_SRC_WEIGHTS), "weights");
    CU_ASSERT_STRING_EQUAL(stc_src_name(STC_SRC_DEFAULT), "default");
    CU_ASSERT_STRING_EQUAL(stc_field_name(STC_F_EMBED), "embed_dims");
    CU_ASSERT_STRING_EQUAL(stc_field_name(STC_F_HEADS), "num_heads");
    CU_ASSERT_STRING_EQUAL(stc_field_name(STC_F_COUNT), "?");
}

/* --arch (or config arch) that disagrees with the weights */
static void test_arch_mismatch(void) {
    stc_ckpt_t *ck = load("spikformer_cifar", "model.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "arch", "sdt", &err), STC_OK);
    expect_fail(ck, &cfg, STC_E_USAGE, "model.pth: flag says arch=sdt, the weights are spikformer_cifar", NULL);
    cfg_from_json(&cfg, "{\"arch\": \"spikformer_imagenet\"}");
    expect_fail(ck, &cfg, STC_E_USAGE, "config says arch=spikformer_imagenet, the weights are spikformer_cifar",
                NULL);
    stc_model_cfg_init(&cfg);
    CU_ASSERT_EQUAL(stc_model_cfg_set(&cfg, "arch", "spikformer_cifar", &err), STC_OK);
    CU_ASSERT_EQUAL(recognize(ck, &cfg, &err), STC_OK);
    CU_ASSERT_EQUAL(cfg.arch_src, STC_SRC_FLAG);
    stc_ckpt_destroy(&ck);
    ck = load("sdt", "model.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_init(&cfg);
    stc_model_cfg_set(&cfg, "arch", "spikformer_imagenet", &err);
    expect_fail(ck, &cfg, STC_E_USAGE, "flag says arch=spikformer_imagenet, the weights are sdt", NULL);
    stc_ckpt_destroy(&ck);
    /* not a spiking transformer at all (a small Sequential from make_ckpts.py) */
    stc_ckpt_t *other = stc_ckpt_load(STC_TEST_DATA_DIR "/sd_zip.pth", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    stc_model_cfg_init(&cfg);
    expect_fail(other, &cfg, STC_E_UNSUPPORTED, "sd_zip.pth: not a recognized spiking transformer",
                "found 8 tensors, the first '0.weight'");
    stc_ckpt_destroy(&other);
}

/* Missing, unexpected and misshapen keys are reported by name. */
static void test_key_set(void) {
    stc_model_cfg_t cfg;
    stc_ckpt_t *ck = load("spikformer_cifar", "model_missing.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_init(&cfg);
    expect_fail(ck, &cfg, STC_E_FORMAT, "model_missing.pth: 1 key missing for spikformer_cifar (depth 1): "
                                        "'block.0.attn.k_bn.running_var'", NULL);
    stc_ckpt_destroy(&ck);
    ck = load("spikformer_cifar", "model_extra.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_init(&cfg);
    expect_fail(ck, &cfg, STC_E_FORMAT, "model_extra.pth: 1 unexpected key for spikformer_cifar (depth 1): "
                                        "'block.0.attn.extra.weight'", NULL);
    stc_ckpt_destroy(&ck);
    ck = load("spikformer_cifar", "model_badshape.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    stc_model_cfg_init(&cfg);
    expect_fail(ck, &cfg, STC_E_FORMAT, "model_badshape.pth: tensor 'head.bias': expected [10], found [11]",
                "spikformer_cifar with embed_dims=16");
    stc_ckpt_destroy(&ck);
}

/* All four files of a model give the same answer. */
static void test_formats(void) {
    static const char *files[] = {"model.pth", "model_legacy.pth", "model.safetensors", "model_wrapped.pth"};
    for (int a = 0; a < 3; a++) {
        int n_nodes = -1;
        for (int f = 0; f < 4; f++) {
            stc_ckpt_t *ck = load(archs[a], files[f]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
            stc_model_cfg_t cfg;
            load_config(archs[a], &cfg);
            stc_err_t err = {0};
            stc_status_t st = recognize(ck, &cfg, &err);
            if (st) fprintf(stderr, "\n  %s/%s: %s\n", archs[a], files[f], err.msg);
            CU_ASSERT_EQUAL(st, STC_OK);
            CU_ASSERT_EQUAL(cfg.v[STC_F_MLP_HIDDEN], 64);
            stc_ir_t *ir = st ? NULL : stc_model_import(ck, &cfg, &err);
            CU_ASSERT_PTR_NOT_NULL(ir);
            if (ir) {
                if (n_nodes < 0) n_nodes = ir->n_nodes;
                CU_ASSERT_EQUAL(ir->n_nodes, n_nodes);
            }
            stc_ir_destroy(&ir);
            stc_ckpt_destroy(&ck);
        }
    }
}

/* The imported graph verifies, its LIF nodes are PyTorch's LIF modules (the ones
 * the forward pass calls, in order, with their thresholds), and its parameters
 * are the checkpoint's. */
static void test_import(void) {
    for (int a = 0; a < 3; a++) {
        stc_ckpt_t *ck = load(archs[a], "model.pth");
        CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
        stc_model_cfg_t cfg;
        load_config(archs[a], &cfg);
        stc_err_t err = {0};
        CU_ASSERT_EQUAL_FATAL(recognize(ck, &cfg, &err), STC_OK);
        stc_ir_t *ir = stc_model_import(ck, &cfg, &err);
        if (!ir) fprintf(stderr, "\n  %s: %s\n", archs[a], err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
        CU_ASSERT_EQUAL(stc_ir_verify(ir, &err), STC_OK);
        CU_ASSERT_STRING_EQUAL(ir->arch, archs[a]);
        CU_ASSERT_EQUAL(ir->T, 4);
        const stc_node_t *in = &ir->nodes[0], *out = &ir->nodes[ir->n_nodes - 1];
        CU_ASSERT_EQUAL(in->shape.c, 3);
        CU_ASSERT_EQUAL(in->shape.h, 16);
        CU_ASSERT_EQUAL(in->shape.w, 16);
        CU_ASSERT_EQUAL(out->shape.c, 10);

        char path[1024];
        snprintf(path, sizeof path, MODELS "%s/lifs.txt", archs[a]);
        FILE *f = fopen(path, "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        char name[256];
        float vth;
        int i = 0, n_lif = 0;
        while (fscanf(f, "%255s %f", name, &vth) == 2) {
            while (i < ir->n_nodes && ir->nodes[i].op != STC_OP_LIF) i++;
            CU_ASSERT_FATAL(i < ir->n_nodes);
            if (strcmp(ir->nodes[i].name, name))
                fprintf(stderr, "\n  %s: LIF %%%d is '%s', PyTorch's is '%s'\n", archs[a], i, ir->nodes[i].name,
                        name);
            CU_ASSERT_STRING_EQUAL(ir->nodes[i].name, name);
            CU_ASSERT_EQUAL(ir->nodes[i].vth, vth);
            CU_ASSERT_EQUAL(ir->nodes[i].tau, 2.0f);
            CU_ASSERT_EQUAL(ir->nodes[i].vreset, 0.0f);
            i++;
            n_lif++;
        }
        fclose(f);
        CU_ASSERT(n_lif >= 10);
        while (i < ir->n_nodes && ir->nodes[i].op != STC_OP_LIF) i++;
        CU_ASSERT_EQUAL(i, ir->n_nodes); /* no LIF that PyTorch does not call */

        /* attention heads, and parameters copied from the checkpoint */
        for (int k = 0; k < ir->n_nodes; k++) {
            const stc_node_t *n = &ir->nodes[k];
            if (n->op == STC_OP_SSA) CU_ASSERT_EQUAL(n->heads, 4);
            for (int p = 0; p < n->n_params; p++) {
                char key[300];
                snprintf(key, sizeof key, "%s.%s", n->name, n->params[p].role);
                const stc_tensor_t *t = stc_ckpt_find(ck, key);
                CU_ASSERT_PTR_NOT_NULL(t);
                if (!t) {
                    fprintf(stderr, "\n  %s: no tensor '%s'\n", archs[a], key);
                    continue;
                }
                CU_ASSERT_EQUAL(stc_tensor_numel(t), n->params[p].numel);
                float *v = malloc((size_t)n->params[p].numel * sizeof *v);
                CU_ASSERT_EQUAL(stc_tensor_to_f32(t, v, (size_t)n->params[p].numel, &err), STC_OK);
                CU_ASSERT_EQUAL(memcmp(v, n->params[p].data, (size_t)n->params[p].numel * sizeof *v), 0);
                free(v);
            }
        }
        /* it runs */
        stc_interp_t *ip = stc_interp_create(ir, &err);
        CU_ASSERT_PTR_NOT_NULL(ip);
        if (ip) {
            float img[3 * 16 * 16], logits[10];
            for (int k = 0; k < 3 * 16 * 16; k++) img[k] = (float)((k * 37) % 19) / 9.0f - 1.0f;
            int64_t *counts = calloc((size_t)ir->n_nodes, sizeof *counts);
            CU_ASSERT_EQUAL(stc_interp_run(ip, img, logits, counts, NULL, NULL, &err), STC_OK);
            for (int k = 0; k < 10; k++) CU_ASSERT(isfinite(logits[k]));
            free(counts);
            stc_interp_destroy(&ip);
        }
        /* and prints and parses back */
        char *txt = NULL;
        size_t n = 0;
        FILE *mf = open_memstream(&txt, &n);
        CU_ASSERT_EQUAL(stc_ir_print(ir, mf, STC_IR_PRINT_WEIGHTS, &err), STC_OK);
        fclose(mf);
        stc_ir_t *back = stc_ir_parse(txt, n, "imported.ir", &err);
        CU_ASSERT_PTR_NOT_NULL(back);
        if (back) {
            CU_ASSERT_EQUAL(stc_ir_verify(back, &err), STC_OK);
            CU_ASSERT_EQUAL(back->n_nodes, ir->n_nodes);
        }
        stc_ir_destroy(&back);
        free(txt);
        stc_ir_destroy(&ir);
        stc_ckpt_destroy(&ck);
    }
}

/* LIF constants the weights cannot tell come from the config: tau everywhere,
 * v_threshold for ordinary LIFs, attn_v_threshold for the attention ones. */
static void test_lif_constants(void) {
    for (int a = 0; a < 3; a++) {
        stc_ckpt_t *ck = load(archs[a], "model.pth");
        CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
        stc_model_cfg_t cfg;
        cfg_from_json(&cfg, "{\"tau\": 1.5, \"v_threshold\": 0.75, \"attn_v_threshold\": 0.25, \"img_size\": 16}");
        stc_err_t err = {0};
        CU_ASSERT_EQUAL_FATAL(recognize(ck, &cfg, &err), STC_OK);
        stc_ir_t *ir = stc_model_import(ck, &cfg, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ir);
        int n_attn = 0;
        for (int i = 0; i < ir->n_nodes; i++) {
            const stc_node_t *n = &ir->nodes[i];
            if (n->op != STC_OP_LIF) continue;
            int attn = strstr(n->name, "attn_lif") || strstr(n->name, "talking_heads_lif");
            n_attn += attn;
            CU_ASSERT_EQUAL(n->tau, 1.5f);
            CU_ASSERT_EQUAL(n->vth, attn ? 0.25f : 0.75f);
        }
        CU_ASSERT_EQUAL(n_attn, 1);
        stc_ir_destroy(&ir);
        stc_ckpt_destroy(&ck);
    }
    bad_config("{\"tau\": 0.5}", "'tau' must be a number >= 1");
    bad_config("{\"v_threshold\": 0}", "'v_threshold' must be a number > 0");
    bad_config("{\"attn_v_threshold\": \"0.5\"}", "'attn_v_threshold' must be a number > 0");
}

/* Every key counts once (stc_model_ckpt_elements). */
static void test_elements(void) {
    stc_ckpt_t *ck = load("sdt", "model.pth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    int64_t s = 0;
    for (size_t i = 0; i < stc_ckpt_count(ck); i++) s += stc_tensor_numel(stc_ckpt_at(ck, i));
    CU_ASSERT_EQUAL(stc_model_ckpt_elements(ck), s);
    CU_ASSERT(s > 7000);
    stc_ckpt_destroy(&ck);
}

void stc_suite_recognize(void) {
    static const stc_test_t tests[] = {
        {"example: load, recognize, import, run", test_example},
        {"recognize each architecture", test_recognize_each},
        {"inferred fields and defaults", test_inferred_and_defaults},
        {"config values", test_config_values},
        {"contradicting config and flags", test_contradictions},
        {"config errors", test_config_errors},
        {"flags", test_flags},
        {"arch mismatch", test_arch_mismatch},
        {"missing, unexpected, misshapen keys", test_key_set},
        {"all checkpoint formats", test_formats},
        {"import: verified, LIF names, params", test_import},
        {"LIF constants from the config", test_lif_constants},
        {"ckpt elements", test_elements},
        {NULL, NULL},
    };
    stc_add_suite("recognize", tests);
}
