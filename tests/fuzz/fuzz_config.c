/* fuzz_config.c - libFuzzer target: stc_model_cfg_parse() (the model JSON config) on arbitrary bytes.
 *
 * Every failure must be reported with the file name; every success must leave
 * the config within its documented ranges (whole numbers 1..1000000 for what
 * the config set, mlp_ratios in (0, 64], LIF tau >= 1 and finite thresholds,
 * pooling_stat of 0/1, at most 4
 * normalization channels with finite float32 values and std > 0).  Seeds: tests/fuzz/corpus/config/.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <string.h>

#include "stc_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stc_model_cfg_t cfg;
    stc_err_t err;
    stc_model_cfg_init(&cfg);
    if (stc_model_cfg_parse(&cfg, (const char *)data, size, "fuzz.json", &err)) {
        if (err.status == STC_OK || strncmp(err.msg, "fuzz.json: ", 11)) __builtin_trap();
        return 0;
    }
    for (int f = 0; f < STC_F_COUNT; f++)
        if (cfg.src[f] == STC_SRC_CONFIG && (cfg.v[f] < 1 || cfg.v[f] > 1000000)) __builtin_trap();
    if (cfg.mlp_ratios != 0 && !(cfg.mlp_ratios > 0 && cfg.mlp_ratios <= 64)) __builtin_trap();
    if (cfg.pooling_stat[0] && (strlen(cfg.pooling_stat) != 4 || strspn(cfg.pooling_stat, "01") != 4))
        __builtin_trap();
    if (cfg.n_norm < 0 || cfg.n_norm > 4) __builtin_trap();
    for (int i = 0; i < cfg.n_norm; i++)
        if (!(cfg.norm_std[i] > 0) || !isfinite(cfg.norm_std[i]) || !isfinite(cfg.norm_mean[i]))
            __builtin_trap();
    if (cfg.tau != 0 && !(cfg.tau >= 1 && isfinite(cfg.tau))) __builtin_trap();
    if (!(cfg.v_threshold >= 0 && isfinite(cfg.v_threshold))) __builtin_trap();
    if (!(cfg.attn_v_threshold >= 0 && isfinite(cfg.attn_v_threshold))) __builtin_trap();
    if (cfg.arch > STC_ARCH_SDT) __builtin_trap();
    if (memchr(cfg.dataset, 0, sizeof cfg.dataset) == NULL) __builtin_trap();
    return 0;
}
