/* stc_model.h - recognize a SpikeFormer-family checkpoint and import it as Spike IR.
 *
 * The weights determine in_channels, embed_dims, depths, mlp_ratios and
 * num_classes (and num_heads for the Spike-driven Transformer, through its
 * talking_heads weight); what they cannot tell (num_heads of Spikformer, the
 * input size, T, pooling_stat) comes from a JSON config or command-line flags
 * named after the official constructors, or else from documented defaults.  A
 * config may repeat what the weights say; a contradiction is an error, and so
 * are missing and unexpected keys (reported by name).
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_MODEL_H
#define STC_MODEL_H

#include "stc_ckpt.h"
#include "stc_ir.h"

typedef enum {
    STC_ARCH_UNKNOWN = 0,
    STC_ARCH_SPIKFORMER_CIFAR,    /* ZK-Zhou/spikformer cifar10/: nn.Linear, pools after stages 2,3 */
    STC_ARCH_SPIKFORMER_IMAGENET, /* ZK-Zhou/spikformer imagenet/: Conv1d/Conv2d 1x1, 4 pools     */
    STC_ARCH_SDT                  /* BICLab/Spike-Driven-Transformer v1                             */
} stc_arch_t;

const char *stc_arch_name(stc_arch_t a);     /* "spikformer_cifar", ... */
stc_arch_t stc_arch_from_name(const char *s); /* UNKNOWN if not one */

/* Where a config value came from (for `inspect`). */
typedef enum {
    STC_SRC_UNSET = 0,
    STC_SRC_DEFAULT,
    STC_SRC_WEIGHTS,
    STC_SRC_CONFIG,
    STC_SRC_FLAG,
    STC_SRC_AGREE /* given by config or flag, and the weights say the same */
} stc_src_t;
const char *stc_src_name(stc_src_t s);

/* ORDER FIELD: the integer fields, by their official names (see cfg_fields in model.c). */
typedef enum {
    STC_F_IMG_H = 0, STC_F_IMG_W, STC_F_IN_CH, STC_F_CLASSES, STC_F_EMBED, STC_F_HEADS,
    STC_F_DEPTHS, STC_F_T, STC_F_MLP_HIDDEN, STC_F_COUNT
} stc_field_t;

typedef struct {
    stc_arch_t arch;
    stc_src_t arch_src;
    int v[STC_F_COUNT];          /* values; mlp hidden width stands for mlp_ratios */
    stc_src_t src[STC_F_COUNT];
    double mlp_ratios;           /* as given or inferred (hidden / embed) */
    char pooling_stat[8];        /* SDT: "1111" (ImageNet) / "0011" (CIFAR) */
    /* LIF constants (not in the weights; spikingjelly defaults unless set) */
    float tau, v_threshold, attn_v_threshold;  /* 0 = default: 2.0, 1.0, 0.5 */
    stc_src_t pooling_src;
    /* input normalization (x * scale - mean[c]) / std[c] for dataset inputs */
    int n_norm;
    float norm_mean[4], norm_std[4];
    char dataset[32];            /* e.g. "fashion-mnist" */
    double pytorch_accuracy;     /* < 0 if unknown */
    int pytorch_images;
    char config_path[512];
} stc_model_cfg_t;

void stc_model_cfg_init(stc_model_cfg_t *cfg);
const char *stc_field_name(stc_field_t f);  /* official constructor name: "embed_dims", ... */

/* Read a JSON config (limit 1 MiB); fields it sets are marked STC_SRC_CONFIG.
 * Unknown keys are an error naming them. */
stc_status_t stc_model_cfg_load(stc_model_cfg_t *cfg, const char *path, stc_err_t *err);
stc_status_t stc_model_cfg_parse(stc_model_cfg_t *cfg, const char *json, size_t n, const char *name,
                                 stc_err_t *err);
/* Set one field from a flag: name is the official name ("num_heads", "img_size_h", "T",
 * "img_size" sets both h and w, "arch", "pooling_stat", "tau", "v_threshold",
 * "attn_v_threshold"). */
stc_status_t stc_model_cfg_set(stc_model_cfg_t *cfg, const char *name, const char *value,
                               stc_err_t *err);

/* Recognize the architecture, infer what the weights determine, check the
 * config against them, fill defaults, and check the key set and every shape. */
stc_status_t stc_model_recognize(const stc_ckpt_t *ck, stc_model_cfg_t *cfg, stc_err_t *err);

/* Build the Spike IR of a recognized checkpoint (verified before return). */
stc_ir_t *stc_model_import(const stc_ckpt_t *ck, const stc_model_cfg_t *cfg, stc_err_t *err);

/* Parameters the forward pass uses / everything in the checkpoint (elements). */
int64_t stc_model_ckpt_elements(const stc_ckpt_t *ck);

#endif
