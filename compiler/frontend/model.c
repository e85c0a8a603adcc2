/* model.c - architecture recognition, config handling and import of checkpoints as Spike IR.
 *
 * One table of expected keys per architecture (expect_keys) serves twice: to
 * check the checkpoint (missing, unexpected, wrong shapes: all by name) and, in
 * the same order, to build the graph.  The forward passes imported here are the
 * official ones as docs/models.md describes them (which modules run, where the
 * max-pools sit, which LIF thresholds are 0.5); modules that are built but
 * never called (norm1/norm2, talking_heads) are expected in the checkpoint and
 * left out of the graph.
 * SPDX-License-Identifier: MIT
 */
#include "stc_model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES (1u << 20)
#define MAX_DEPTH 1000

static const char *arch_names[] = {"unknown", "spikformer_cifar", "spikformer_imagenet", "sdt"};
const char *stc_arch_name(stc_arch_t a) { return a <= STC_ARCH_SDT ? arch_names[a] : "unknown"; }
stc_arch_t stc_arch_from_name(const char *s) {
    for (int i = 1; i <= STC_ARCH_SDT; i++)
        if (!strcmp(s, arch_names[i])) return (stc_arch_t)i;
    return STC_ARCH_UNKNOWN;
}

static const char *src_names[] = {"unset", "default", "weights", "config", "flag", "config = weights"};
const char *stc_src_name(stc_src_t s) { return s <= STC_SRC_AGREE ? src_names[s] : "?"; }

/* ORDER FIELD */
static const char *field_names[] = {"img_size_h", "img_size_w", "in_channels", "num_classes",
                                    "embed_dims", "num_heads", "depths", "T", "mlp_hidden"};
const char *stc_field_name(stc_field_t f) { return f < STC_F_COUNT ? field_names[f] : "?"; }

void stc_model_cfg_init(stc_model_cfg_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->pytorch_accuracy = -1;
}

/* ----------------------------------------------------------------- config */

static stc_status_t set_int(stc_model_cfg_t *cfg, stc_field_t f, double v, stc_src_t src,
                            const char *where, stc_err_t *err) {
    if (!(v >= 1 && v <= 1e6) || v != floor(v))
        return stc_err_set(err, STC_E_FORMAT, "%s: '%s' is %g, expected a whole number 1..1000000",
                           where, field_names[f], v);
    cfg->v[f] = (int)v;
    cfg->src[f] = src;
    return STC_OK;
}

/* The official constructors take some of these as lists (one per stage); a
 * list whose entries are all equal is accepted as that value. */
static int json_number(const cJSON *it, double *out) {
    if (cJSON_IsNumber(it)) {
        *out = it->valuedouble;
        return 1;
    }
    if (cJSON_IsArray(it) && cJSON_GetArraySize(it) > 0) {
        double first = 0;
        int i = 0;
        for (const cJSON *e = it->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e)) return 0;
            if (i == 0) first = e->valuedouble;
            else if (e->valuedouble != first) return 0;
        }
        *out = first;
        return 1;
    }
    return 0;
}

stc_status_t stc_model_cfg_parse(stc_model_cfg_t *cfg, const char *json, size_t n, const char *name,
                                 stc_err_t *err) {
    if (n > MAX_CONFIG_BYTES)
        return stc_err_set(err, STC_E_LIMIT, "%s: config is %zu bytes, limit %u", name, n, MAX_CONFIG_BYTES);
    cJSON *root = cJSON_ParseWithLength(json, n);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = (at && at >= json && at <= json + n) ? (size_t)(at - json) : 0;
        return stc_err_set(err, STC_E_FORMAT, "%s: not valid JSON (error near byte %zu)", name, off);
    }
    stc_status_t st = STC_OK;
    if (!cJSON_IsObject(root)) {
        st = stc_err_set(err, STC_E_FORMAT, "%s: expected a JSON object of model options", name);
        goto done;
    }
    snprintf(cfg->config_path, sizeof cfg->config_path, "%s", name);
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *k = it->string;
        double d;
        int f = -1;
        for (int i = 0; i < STC_F_MLP_HIDDEN; i++)
            if (!strcmp(k, field_names[i])) f = i;
        if (!strcmp(k, "img_size") || f >= 0) {
            if (!json_number(it, &d)) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: '%s' must be a number", name, k);
                goto done;
            }
            if (f < 0) {
                if ((st = set_int(cfg, STC_F_IMG_H, d, STC_SRC_CONFIG, name, err))) goto done;
                if ((st = set_int(cfg, STC_F_IMG_W, d, STC_SRC_CONFIG, name, err))) goto done;
            } else if ((st = set_int(cfg, (stc_field_t)f, d, STC_SRC_CONFIG, name, err))) {
                goto done;
            }
        } else if (!strcmp(k, "mlp_ratios")) {
            if (!json_number(it, &d) || !(d > 0 && d <= 64)) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: 'mlp_ratios' must be a number in (0, 64]", name);
                goto done;
            }
            cfg->mlp_ratios = d;
        } else if (!strcmp(k, "arch")) {
            if (!cJSON_IsString(it) || !stc_arch_from_name(it->valuestring)) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: 'arch' must be one of spikformer_cifar, "
                                 "spikformer_imagenet, sdt", name);
                goto done;
            }
            cfg->arch = stc_arch_from_name(it->valuestring);
            cfg->arch_src = STC_SRC_CONFIG;
        } else if (!strcmp(k, "pooling_stat")) {
            if (!cJSON_IsString(it) || strlen(it->valuestring) != 4 ||
                strspn(it->valuestring, "01") != 4) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: 'pooling_stat' must be 4 characters of 0/1, "
                                 "like \"1111\"", name);
                goto done;
            }
            memcpy(cfg->pooling_stat, it->valuestring, 5);
            cfg->pooling_src = STC_SRC_CONFIG;
        } else if (!strcmp(k, "tau") || !strcmp(k, "v_threshold") || !strcmp(k, "attn_v_threshold")) {
            if (!cJSON_IsNumber(it) || !((float)it->valuedouble > 0 && it->valuedouble < 1e6) ||
                (k[0] == 't' && it->valuedouble < 1)) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: '%s' must be a number %s", name, k,
                                 k[0] == 't' ? ">= 1" : "> 0");
                goto done;
            }
            float v = (float)it->valuedouble;
            if (k[0] == 't') cfg->tau = v;
            else if (k[0] == 'v') cfg->v_threshold = v;
            else cfg->attn_v_threshold = v;
        } else if (!strcmp(k, "normalize")) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "mean");
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "std");
            int nm = cJSON_IsArray(m) ? cJSON_GetArraySize(m) : -1;
            int ns = cJSON_IsArray(s) ? cJSON_GetArraySize(s) : -1;
            if (nm < 1 || nm > 4 || nm != ns) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: 'normalize' must be {\"mean\": [..], \"std\": [..]} "
                                 "with 1 to 4 equal-length lists", name);
                goto done;
            }
            for (int i = 0; i < nm; i++) {
                const cJSON *a = cJSON_GetArrayItem(m, i), *b = cJSON_GetArrayItem(s, i);
                /* checked as the floats they become: 1e-50 is 0 and 1e300 is inf in float */
                if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !((float)b->valuedouble > 0) ||
                    !isfinite((float)b->valuedouble) || !isfinite((float)a->valuedouble)) {
                    st = stc_err_set(err, STC_E_FORMAT, "%s: 'normalize' entry %d: expected numbers, std > 0",
                                     name, i);
                    goto done;
                }
                cfg->norm_mean[i] = (float)a->valuedouble;
                cfg->norm_std[i] = (float)b->valuedouble;
            }
            cfg->n_norm = nm;
        } else if (!strcmp(k, "dataset")) {
            if (cJSON_IsString(it)) snprintf(cfg->dataset, sizeof cfg->dataset, "%s", it->valuestring);
        } else if (!strcmp(k, "pytorch_test_accuracy")) {
            if (cJSON_IsNumber(it)) cfg->pytorch_accuracy = it->valuedouble;
        } else if (!strcmp(k, "pytorch_test_images")) {
            if (cJSON_IsNumber(it)) cfg->pytorch_images = it->valueint;
        } else if (!strcmp(k, "epochs_trained") || !strcmp(k, "torch_version") ||
                   !strcmp(k, "patch_size") || !strcmp(k, "qkv_bias") || !strcmp(k, "qk_scale") ||
                   !strcmp(k, "drop_rate") || !strcmp(k, "attn_drop_rate") ||
                   !strcmp(k, "drop_path_rate") || !strcmp(k, "sr_ratios") || !strcmp(k, "comment")) {
            /* informational, or official options the forward pass ignores */
        } else {
            st = stc_err_set(err, STC_E_FORMAT,
                             "%s: unknown key '%s' (expected arch, img_size_h, img_size_w, in_channels, "
                             "num_classes, embed_dims, num_heads, mlp_ratios, depths, T, pooling_stat, "
                             "tau, v_threshold, attn_v_threshold, normalize, dataset)", name, k);
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    return st;
}

stc_status_t stc_model_cfg_load(stc_model_cfg_t *cfg, const char *path, stc_err_t *err) {
    unsigned char *data;
    size_t n;
    if (stc_read_file(path, MAX_CONFIG_BYTES, &data, &n, err)) return err->status;
    stc_status_t st = stc_model_cfg_parse(cfg, (const char *)data, n, path, err);
    free(data);
    return st;
}

stc_status_t stc_model_cfg_set(stc_model_cfg_t *cfg, const char *name, const char *value,
                               stc_err_t *err) {
    char *end;
    if (!strcmp(name, "arch")) {
        cfg->arch = stc_arch_from_name(value);
        if (!cfg->arch)
            return stc_err_set(err, STC_E_USAGE, "--arch %s: expected spikformer_cifar, "
                               "spikformer_imagenet or sdt", value);
        cfg->arch_src = STC_SRC_FLAG;
        return STC_OK;
    }
    if (!strcmp(name, "pooling_stat")) {
        if (strlen(value) != 4 || strspn(value, "01") != 4)
            return stc_err_set(err, STC_E_USAGE, "--pooling-stat %s: expected 4 characters of 0/1", value);
        memcpy(cfg->pooling_stat, value, 5);
        cfg->pooling_src = STC_SRC_FLAG;
        return STC_OK;
    }
    if (!strcmp(name, "tau") || !strcmp(name, "v_threshold") || !strcmp(name, "attn_v_threshold")) {
        double d = strtod(value, &end);
        if (*end || !((float)d > 0 && d < 1e6) || (name[0] == 't' && d < 1))
            return stc_err_set(err, STC_E_USAGE, "--%s %s: expected a number %s",
                               name[0] == 't' ? "tau" : name[0] == 'v' ? "v-threshold" : "attn-v-threshold",
                               value, name[0] == 't' ? ">= 1" : "> 0");
        if (name[0] == 't') cfg->tau = (float)d;
        else if (name[0] == 'v') cfg->v_threshold = (float)d;
        else cfg->attn_v_threshold = (float)d;
        return STC_OK;
    }
    if (!strcmp(name, "mlp_ratios")) {
        double d = strtod(value, &end);
        if (*end || !(d > 0 && d <= 64))
            return stc_err_set(err, STC_E_USAGE, "--mlp-ratios %s: expected a number in (0, 64]", value);
        cfg->mlp_ratios = d;
        return STC_OK;
    }
    if (!strcmp(name, "img_size")) {
        /* "224" or "32x48" (H x W) */
        long h = strtol(value, &end, 10), w = h;
        if (*end == 'x') w = strtol(end + 1, &end, 10);
        if (*end || h < 1 || w < 1 || h > 100000 || w > 100000)
            return stc_err_set(err, STC_E_USAGE, "--img-size %s: expected N or HxW", value);
        cfg->v[STC_F_IMG_H] = (int)h;
        cfg->v[STC_F_IMG_W] = (int)w;
        cfg->src[STC_F_IMG_H] = cfg->src[STC_F_IMG_W] = STC_SRC_FLAG;
        return STC_OK;
    }
    for (int f = 0; f < STC_F_MLP_HIDDEN; f++)
        if (!strcmp(name, field_names[f])) {
            long v = strtol(value, &end, 10);
            if (*end || v < 1 || v > 1000000)
                return stc_err_set(err, STC_E_USAGE, "%s=%s: expected a whole number 1..1000000", name, value);
            cfg->v[f] = (int)v;
            cfg->src[f] = STC_SRC_FLAG;
            return STC_OK;
        }
    return stc_err_set(err, STC_E_USAGE, "unknown model option '%s'", name);
}

/* ------------------------------------------------------- expected key set */

typedef struct {
    char name[160];
    int ndim;
    int64_t shape[4];
    int used; /* part of the forward pass */
} expkey_t;

typedef struct {
    expkey_t *k;
    int n, cap;
} keys_t;

static int expect(keys_t *ks, int used, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                  const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static int expect(keys_t *ks, int used, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                  const char *fmt, ...) {
    if (ks->n == ks->cap) {
        int cap = ks->cap ? ks->cap * 2 : 256;
        expkey_t *nk = realloc(ks->k, (size_t)cap * sizeof *nk);
        if (!nk) return -1;
        ks->k = nk;
        ks->cap = cap;
    }
    expkey_t *k = &ks->k[ks->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->name, sizeof k->name, fmt, ap);
    va_end(ap);
    k->ndim = ndim;
    k->shape[0] = d0;
    k->shape[1] = d1;
    k->shape[2] = d2;
    k->shape[3] = d3;
    k->used = used;
    return 0;
}

static void expect_bn(keys_t *ks, int64_t c, const char *name) {
    expect(ks, 1, 1, c, 0, 0, 0, "%s.weight", name);
    expect(ks, 1, 1, c, 0, 0, 0, "%s.bias", name);
    expect(ks, 1, 1, c, 0, 0, 0, "%s.running_mean", name);
    expect(ks, 1, 1, c, 0, 0, 0, "%s.running_var", name);
    expect(ks, 0, 0, 0, 0, 0, 0, "%s.num_batches_tracked", name);
}

static const char *sfx[4] = {"", "1", "2", "3"};

static void expect_keys(const stc_model_cfg_t *cfg, keys_t *ks) {
    int64_t D = cfg->v[STC_F_EMBED], Hd = cfg->v[STC_F_MLP_HIDDEN];
    int64_t ch[5] = {cfg->v[STC_F_IN_CH], D / 8, D / 4, D / 2, D};
    for (int s = 0; s < 4; s++) {
        expect(ks, 1, 4, ch[s + 1], ch[s], 3, 3, "patch_embed.proj_conv%s.weight", sfx[s]);
        char bn[64];
        snprintf(bn, sizeof bn, "patch_embed.proj_bn%s", sfx[s]);
        expect_bn(ks, ch[s + 1], bn);
    }
    expect(ks, 1, 4, D, D, 3, 3, "patch_embed.rpe_conv.weight");
    expect_bn(ks, D, "patch_embed.rpe_bn");
    for (int i = 0; i < cfg->v[STC_F_DEPTHS]; i++) {
        char p[64];
        if (cfg->arch == STC_ARCH_SDT) {
            for (int q = 0; q < 3; q++) {
                expect(ks, 1, 4, D, D, 1, 1, "block.%d.attn.%c_conv.weight", i, "qkv"[q]);
                snprintf(p, sizeof p, "block.%d.attn.%c_bn", i, "qkv"[q]);
                expect_bn(ks, D, p);
            }
            expect(ks, 0, 3, cfg->v[STC_F_HEADS], cfg->v[STC_F_HEADS], 3, 0,
                   "block.%d.attn.talking_heads.weight", i);
            expect(ks, 1, 4, D, D, 1, 1, "block.%d.attn.proj_conv.weight", i);
            expect(ks, 1, 1, D, 0, 0, 0, "block.%d.attn.proj_conv.bias", i);
            snprintf(p, sizeof p, "block.%d.attn.proj_bn", i);
            expect_bn(ks, D, p);
            expect(ks, 1, 4, Hd, D, 1, 1, "block.%d.mlp.fc1_conv.weight", i);
            expect(ks, 1, 1, Hd, 0, 0, 0, "block.%d.mlp.fc1_conv.bias", i);
            snprintf(p, sizeof p, "block.%d.mlp.fc1_bn", i);
            expect_bn(ks, Hd, p);
            expect(ks, 1, 4, D, Hd, 1, 1, "block.%d.mlp.fc2_conv.weight", i);
            expect(ks, 1, 1, D, 0, 0, 0, "block.%d.mlp.fc2_conv.bias", i);
            snprintf(p, sizeof p, "block.%d.mlp.fc2_bn", i);
            expect_bn(ks, D, p);
            continue;
        }
        int cifar = cfg->arch == STC_ARCH_SPIKFORMER_CIFAR;
        expect(ks, 0, 1, D, 0, 0, 0, "block.%d.norm1.weight", i);
        expect(ks, 0, 1, D, 0, 0, 0, "block.%d.norm1.bias", i);
        expect(ks, 0, 1, D, 0, 0, 0, "block.%d.norm2.weight", i);
        expect(ks, 0, 1, D, 0, 0, 0, "block.%d.norm2.bias", i);
        for (int q = 0; q < 4; q++) {
            const char *nm = q < 3 ? (const char[]){"qkv"[q], 0} : "proj";
            if (cifar) {
                expect(ks, 1, 2, D, D, 0, 0, "block.%d.attn.%s_linear.weight", i, nm);
                expect(ks, 1, 1, D, 0, 0, 0, "block.%d.attn.%s_linear.bias", i, nm);
            } else {
                expect(ks, 1, 3, D, D, 1, 0, "block.%d.attn.%s_conv.weight", i, nm);
                if (q == 3) expect(ks, 1, 1, D, 0, 0, 0, "block.%d.attn.%s_conv.bias", i, nm);
            }
            snprintf(p, sizeof p, "block.%d.attn.%s_bn", i, nm);
            expect_bn(ks, D, p);
        }
        for (int f = 1; f <= 2; f++) {
            int64_t co = f == 1 ? Hd : D, ci = f == 1 ? D : Hd;
            if (cifar)
                expect(ks, 1, 2, co, ci, 0, 0, "block.%d.mlp.fc%d_linear.weight", i, f);
            else
                expect(ks, 1, 4, co, ci, 1, 1, "block.%d.mlp.fc%d_conv.weight", i, f);
            expect(ks, 1, 1, co, 0, 0, 0, "block.%d.mlp.fc%d_%s.bias", i, f, cifar ? "linear" : "conv");
            snprintf(p, sizeof p, "block.%d.mlp.fc%d_bn", i, f);
            expect_bn(ks, co, p);
        }
    }
    expect(ks, 1, 2, cfg->v[STC_F_CLASSES], D, 0, 0, "head.weight");
    expect(ks, 1, 1, cfg->v[STC_F_CLASSES], 0, 0, 0, "head.bias");
}

/* ------------------------------------------------------------ recognition */

static const stc_tensor_t *find(const stc_ckpt_t *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const stc_tensor_t *find(const stc_ckpt_t *ck, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return stc_ckpt_find(ck, name);
}

static stc_status_t infer(stc_model_cfg_t *cfg, stc_field_t f, int64_t v, const char *why,
                          stc_err_t *err) {
    if (v < 1 || v > 1000000)
        return stc_err_set(err, STC_E_FORMAT, "%s gives %s=%lld, expected 1..1000000", why, field_names[f],
                           (long long)v);
    if (cfg->src[f] == STC_SRC_CONFIG || cfg->src[f] == STC_SRC_FLAG) {
        if (cfg->v[f] != v)
            return stc_err_set(err, STC_E_USAGE, "%s %s=%d contradicts the weights: %s gives %lld",
                               cfg->src[f] == STC_SRC_CONFIG ? "config" : "flag", field_names[f],
                               cfg->v[f], why, (long long)v);
        cfg->src[f] = STC_SRC_AGREE;
        return STC_OK;
    }
    cfg->v[f] = (int)v;
    cfg->src[f] = STC_SRC_WEIGHTS;
    return STC_OK;
}

static void dflt(stc_model_cfg_t *cfg, stc_field_t f, int v) {
    if (cfg->src[f] == STC_SRC_UNSET) {
        cfg->v[f] = v;
        cfg->src[f] = STC_SRC_DEFAULT;
    }
}

static const char *shape_str(int ndim, const int64_t *s, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)s[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

stc_status_t stc_model_recognize(const stc_ckpt_t *ck, stc_model_cfg_t *cfg, stc_err_t *err) {
    const char *path = stc_ckpt_path(ck);
    const stc_tensor_t *t;
    char b1[96], b2[96];
    stc_arch_t found = STC_ARCH_UNKNOWN;
    if (find(ck, "block.0.attn.q_linear.weight")) found = STC_ARCH_SPIKFORMER_CIFAR;
    else if ((t = find(ck, "block.0.attn.q_conv.weight")) && t->ndim == 3) found = STC_ARCH_SPIKFORMER_IMAGENET;
    else if ((t = find(ck, "block.0.attn.q_conv.weight")) && t->ndim == 4) found = STC_ARCH_SDT;
    if (!found) {
        const stc_tensor_t *t0 = stc_ckpt_count(ck) ? stc_ckpt_at(ck, 0) : NULL;
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: not a recognized spiking transformer: expected Spikformer keys "
                           "(block.0.attn.q_linear.weight, or q_conv.weight [D,D,1]) or Spike-driven "
                           "Transformer keys (block.0.attn.q_conv.weight [D,D,1,1]); found %zu tensors%s%s%s",
                           path, stc_ckpt_count(ck), t0 ? ", the first '" : "", t0 ? t0->name : "",
                           t0 ? "'" : "");
    }
    if (cfg->arch && cfg->arch != found)
        return stc_err_set(err, STC_E_USAGE, "%s: %s says arch=%s, the weights are %s", path,
                           cfg->arch_src == STC_SRC_CONFIG ? "config" : "flag", stc_arch_name(cfg->arch),
                           stc_arch_name(found));
    if (!cfg->arch) cfg->arch_src = STC_SRC_WEIGHTS;
    cfg->arch = found;

    /* what the weights determine */
    if (!(t = find(ck, "patch_embed.proj_conv.weight")) || t->ndim != 4)
        return stc_err_set(err, STC_E_FORMAT, "%s: tensor 'patch_embed.proj_conv.weight' %s, expected "
                           "[D/8, in_channels, 3, 3]", path, t ? "has the wrong rank" : "is missing");
    if (infer(cfg, STC_F_IN_CH, t->shape[1], "patch_embed.proj_conv.weight", err)) goto ctx;
    if (!(t = find(ck, "patch_embed.proj_conv3.weight")) || t->ndim != 4)
        return stc_err_set(err, STC_E_FORMAT, "%s: tensor 'patch_embed.proj_conv3.weight' %s, expected "
                           "[embed_dims, embed_dims/2, 3, 3]", path, t ? "has the wrong rank" : "is missing");
    if (infer(cfg, STC_F_EMBED, t->shape[0], "patch_embed.proj_conv3.weight", err)) goto ctx;
    if (cfg->v[STC_F_EMBED] % 8)
        return stc_err_set(err, STC_E_FORMAT, "%s: embed_dims %d is not a multiple of 8", path,
                           cfg->v[STC_F_EMBED]);
    int depth = 0;
    while (depth < MAX_DEPTH && (find(ck, "block.%d.mlp.fc1_%s.weight", depth,
                                      found == STC_ARCH_SPIKFORMER_CIFAR ? "linear" : "conv")))
        depth++;
    if (infer(cfg, STC_F_DEPTHS, depth, "the block.N.* keys", err)) goto ctx;
    if (!(t = find(ck, "block.0.mlp.fc1_%s.weight", found == STC_ARCH_SPIKFORMER_CIFAR ? "linear" : "conv")))
        return stc_err_set(err, STC_E_FORMAT, "%s: no block.0.mlp.fc1 weight", path);
    if (infer(cfg, STC_F_MLP_HIDDEN, t->shape[0], "block.0.mlp.fc1 weight", err)) goto ctx;
    double ratio = (double)cfg->v[STC_F_MLP_HIDDEN] / cfg->v[STC_F_EMBED];
    if (cfg->mlp_ratios > 0 && (int)(cfg->v[STC_F_EMBED] * cfg->mlp_ratios) != cfg->v[STC_F_MLP_HIDDEN])
        return stc_err_set(err, STC_E_USAGE, "%s: mlp_ratios=%g contradicts the weights: block.0.mlp.fc1 "
                           "has %d outputs for embed_dims %d (ratio %g)", path, cfg->mlp_ratios,
                           cfg->v[STC_F_MLP_HIDDEN], cfg->v[STC_F_EMBED], ratio);
    cfg->mlp_ratios = ratio;
    if (!(t = find(ck, "head.weight")) || t->ndim != 2)
        return stc_err_set(err, STC_E_FORMAT, "%s: tensor 'head.weight' %s, expected [num_classes, embed_dims]",
                           path, t ? "has the wrong rank" : "is missing");
    if (infer(cfg, STC_F_CLASSES, t->shape[0], "head.weight", err)) goto ctx;
    if (found == STC_ARCH_SDT) {
        if ((t = find(ck, "block.0.attn.talking_heads.weight")) && t->ndim == 3)
            if (infer(cfg, STC_F_HEADS, t->shape[0], "block.0.attn.talking_heads.weight", err)) goto ctx;
    }

    /* what they cannot tell: documented defaults (docs/models.md) */
    int big = found != STC_ARCH_SPIKFORMER_CIFAR;
    dflt(cfg, STC_F_IMG_H, big ? 224 : 32);
    dflt(cfg, STC_F_IMG_W, cfg->v[STC_F_IMG_H]);
    dflt(cfg, STC_F_T, 4);
    dflt(cfg, STC_F_HEADS, cfg->v[STC_F_EMBED] % 12 == 0 && cfg->v[STC_F_EMBED] >= 384 ? 12 : 8);
    if (found == STC_ARCH_SDT && !cfg->pooling_stat[0]) {
        strcpy(cfg->pooling_stat, cfg->v[STC_F_IMG_H] <= 64 ? "0011" : "1111");
        cfg->pooling_src = STC_SRC_DEFAULT;
    }
    if (found != STC_ARCH_SDT && cfg->v[STC_F_EMBED] % cfg->v[STC_F_HEADS])
        return stc_err_set(err, STC_E_USAGE, "%s: num_heads=%d (%s) does not divide embed_dims %d",
                           path, cfg->v[STC_F_HEADS], stc_src_name(cfg->src[STC_F_HEADS]),
                           cfg->v[STC_F_EMBED]);

    /* the key set, by name and shape */
    keys_t ks = {0};
    expect_keys(cfg, &ks);
    int missing = 0, wrong = 0;
    char list[600] = "";
    size_t lo = 0;
    for (int i = 0; i < ks.n; i++) {
        const stc_tensor_t *x = stc_ckpt_find(ck, ks.k[i].name);
        if (!x) {
            if (ks.k[i].ndim == 0) continue; /* num_batches_tracked is optional */
            if (missing++ < 6 && lo < sizeof list)
                lo += (size_t)snprintf(list + lo, sizeof list - lo, "%s'%s'", missing > 1 ? ", " : "",
                                       ks.k[i].name);
            continue;
        }
        if (ks.k[i].ndim == 0) continue;
        int ok = x->ndim == ks.k[i].ndim;
        for (int d = 0; ok && d < x->ndim; d++) ok = x->shape[d] == ks.k[i].shape[d];
        if (!ok && !wrong++) {
            stc_err_set(err, STC_E_FORMAT, "%s: tensor '%s': expected %s, found %s (%s with embed_dims=%d, "
                        "in_channels=%d, mlp hidden=%d, num_classes=%d)", path, ks.k[i].name,
                        shape_str(ks.k[i].ndim, ks.k[i].shape, b1, sizeof b1),
                        shape_str(x->ndim, x->shape, b2, sizeof b2), stc_arch_name(found),
                        cfg->v[STC_F_EMBED], cfg->v[STC_F_IN_CH], cfg->v[STC_F_MLP_HIDDEN],
                        cfg->v[STC_F_CLASSES]);
        }
    }
    if (wrong) {
        free(ks.k);
        return STC_E_FORMAT;
    }
    if (missing) {
        free(ks.k);
        return stc_err_set(err, STC_E_FORMAT, "%s: %d key%s missing for %s (depth %d): %s%s", path, missing,
                           missing > 1 ? "s" : "", stc_arch_name(found), depth, list,
                           missing > 6 ? ", ..." : "");
    }
    int unexpected = 0;
    lo = 0;
    list[0] = 0;
    for (size_t j = 0; j < stc_ckpt_count(ck); j++) {
        const char *nm = stc_ckpt_at(ck, j)->name;
        int hit = 0;
        for (int i = 0; i < ks.n && !hit; i++) hit = !strcmp(nm, ks.k[i].name);
        if (!hit && unexpected++ < 6 && lo < sizeof list)
            lo += (size_t)snprintf(list + lo, sizeof list - lo, "%s'%s'", unexpected > 1 ? ", " : "", nm);
    }
    free(ks.k);
    if (unexpected)
        return stc_err_set(err, STC_E_FORMAT, "%s: %d unexpected key%s for %s (depth %d): %s%s", path,
                           unexpected, unexpected > 1 ? "s" : "", stc_arch_name(found), depth, list,
                           unexpected > 6 ? ", ..." : "");
    return STC_OK;
ctx:
    return stc_err_prefix(err, "%s", path);
}

/* ----------------------------------------------------------------- import */

typedef struct {
    const stc_ckpt_t *ck;
    stc_ir_t *ir;
    stc_err_t *err;
    int failed;
    float tau, vth, vth_attn; /* LIF constants from the config (or spikingjelly's defaults) */
} imp_t;

/* Copy checkpoint tensor `key` into param `role` of node id, reshaped to ndim/shape. */
static void param(imp_t *m, int id, const char *role, const char *key, int ndim, int64_t d0, int64_t d1,
                  int64_t d2, int64_t d3) {
    if (m->failed) return;
    const stc_tensor_t *t = stc_ckpt_find(m->ck, key);
    int64_t shape[4] = {d0, d1, d2, d3};
    int64_t n = stc_tensor_numel(t);
    float *buf = t ? malloc((size_t)(n > 0 ? n : 1) * sizeof(float)) : NULL;
    if (!t || !buf || stc_tensor_to_f32(t, buf, (size_t)n, m->err) ||
        !stc_ir_add_param(m->ir, id, role, ndim, shape, buf)) {
        if (t && buf && m->err->status == STC_OK)
            stc_err_set(m->err, STC_E_NOMEM, "import: cannot add '%s'", key);
        else if (!t)
            stc_err_set(m->err, STC_E_INTERNAL, "import: tensor '%s' vanished", key);
        m->failed = 1;
    }
    free(buf);
}

static int node(imp_t *m, stc_op_t op, const char *name, int a, int b, int c) {
    if (m->failed) return -1;
    int in[3] = {a, b, c};
    int n = stc_op_arity(op);
    int id = stc_ir_add(m->ir, op, name, n, in);
    if (id < 0) {
        stc_err_set(m->err, STC_E_NOMEM, "import: out of memory");
        m->failed = 1;
    }
    return id;
}

static void settle(imp_t *m, int id) {
    if (m->failed) return;
    if (stc_ir_settle(m->ir, id, m->err)) m->failed = 1;
}

static int conv(imp_t *m, int x, const char *name, int k, int pad) {
    char key[192];
    int id = node(m, STC_OP_CONV2D, name, x, 0, 0);
    if (id < 0) return -1;
    m->ir->nodes[id].k = k;
    m->ir->nodes[id].pad = pad;
    const stc_tensor_t *w = (snprintf(key, sizeof key, "%s.weight", name), stc_ckpt_find(m->ck, key));
    param(m, id, "weight", key, 4, w->shape[0], w->shape[1], k, k);
    snprintf(key, sizeof key, "%s.bias", name);
    if (stc_ckpt_find(m->ck, key)) param(m, id, "bias", key, 1, w->shape[0], 0, 0, 0);
    settle(m, id);
    return id;
}

/* a token-wise linear layer: nn.Linear, Conv1d 1x1 or Conv2d 1x1 */
static int linear(imp_t *m, int x, const char *name) {
    char key[192];
    int id = node(m, STC_OP_LINEAR, name, x, 0, 0);
    if (id < 0) return -1;
    snprintf(key, sizeof key, "%s.weight", name);
    const stc_tensor_t *w = stc_ckpt_find(m->ck, key);
    param(m, id, "weight", key, 2, w->shape[0], w->shape[1], 0, 0);
    snprintf(key, sizeof key, "%s.bias", name);
    if (stc_ckpt_find(m->ck, key)) param(m, id, "bias", key, 1, w->shape[0], 0, 0, 0);
    settle(m, id);
    return id;
}

static int bn(imp_t *m, int x, const char *name) {
    static const char *roles[] = {"weight", "bias", "running_mean", "running_var"};
    char key[192];
    int id = node(m, STC_OP_BATCHNORM, name, x, 0, 0);
    if (id < 0) return -1;
    for (int r = 0; r < 4; r++) {
        snprintf(key, sizeof key, "%s.%s", name, roles[r]);
        const stc_tensor_t *t = stc_ckpt_find(m->ck, key);
        param(m, id, roles[r], key, 1, t ? t->shape[0] : 0, 0, 0, 0);
    }
    settle(m, id);
    return id;
}

/* vth: 1.0 for ordinary LIFs, 0.5 for the attention ones (as the official code);
 * the config's v_threshold / attn_v_threshold replace them. */
static int lif(imp_t *m, int x, const char *name, float vth) {
    int id = node(m, STC_OP_LIF, name, x, 0, 0);
    if (id < 0) return -1;
    m->ir->nodes[id].vth = vth == 0.5f ? m->vth_attn : m->vth;
    m->ir->nodes[id].tau = m->tau;
    settle(m, id);
    return id;
}

static int pool(imp_t *m, int x, const char *name) {
    int id = node(m, STC_OP_MAXPOOL, name, x, 0, 0);
    if (id < 0) return -1;
    m->ir->nodes[id].k = 3;
    m->ir->nodes[id].stride = 2;
    m->ir->nodes[id].pad = 1;
    settle(m, id);
    return id;
}

static int op2(imp_t *m, stc_op_t op, const char *name, int a, int b) {
    int id = node(m, op, name, a, b, 0);
    settle(m, id);
    return id;
}

#define NM(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)

static int import_spikformer(imp_t *m, const stc_model_cfg_t *cfg, int x) {
    char nm[160];
    int cifar = cfg->arch == STC_ARCH_SPIKFORMER_CIFAR;
    for (int s = 0; s < 4; s++) {
        x = conv(m, x, NM("patch_embed.proj_conv%s", sfx[s]), 3, 1);
        x = bn(m, x, NM("patch_embed.proj_bn%s", sfx[s]));
        x = lif(m, x, NM("patch_embed.proj_lif%s", sfx[s]), 1.0f);
        if (!cifar || s >= 2) x = pool(m, x, NM("patch_embed.maxpool%s", sfx[s]));
    }
    int feat = x;
    x = conv(m, x, "patch_embed.rpe_conv", 3, 1);
    x = bn(m, x, "patch_embed.rpe_bn");
    x = lif(m, x, "patch_embed.rpe_lif", 1.0f);
    x = op2(m, STC_OP_ADD, "patch_embed.rpe_residual", x, feat);
    const char *lk = cifar ? "linear" : "conv";
    for (int i = 0; i < cfg->v[STC_F_DEPTHS]; i++) {
        int qkv[3];
        for (int q = 0; q < 3; q++) {
            int y = linear(m, x, NM("block.%d.attn.%c_%s", i, "qkv"[q], lk));
            y = bn(m, y, NM("block.%d.attn.%c_bn", i, "qkv"[q]));
            qkv[q] = lif(m, y, NM("block.%d.attn.%c_lif", i, "qkv"[q]), 1.0f);
        }
        int a = node(m, STC_OP_SSA, NM("block.%d.attn", i), qkv[0], qkv[1], qkv[2]);
        if (a >= 0) {
            m->ir->nodes[a].heads = cfg->v[STC_F_HEADS];
            m->ir->nodes[a].scale = 0.125f;
        }
        settle(m, a);
        a = lif(m, a, NM("block.%d.attn.attn_lif", i), 0.5f);
        a = linear(m, a, NM("block.%d.attn.proj_%s", i, lk));
        a = bn(m, a, NM("block.%d.attn.proj_bn", i));
        a = lif(m, a, NM("block.%d.attn.proj_lif", i), 1.0f);
        x = op2(m, STC_OP_ADD, NM("block.%d.attn_residual", i), x, a);
        int y = linear(m, x, NM("block.%d.mlp.fc1_%s", i, lk));
        y = bn(m, y, NM("block.%d.mlp.fc1_bn", i));
        y = lif(m, y, NM("block.%d.mlp.fc1_lif", i), 1.0f);
        y = linear(m, y, NM("block.%d.mlp.fc2_%s", i, lk));
        y = bn(m, y, NM("block.%d.mlp.fc2_bn", i));
        y = lif(m, y, NM("block.%d.mlp.fc2_lif", i), 1.0f);
        x = op2(m, STC_OP_ADD, NM("block.%d.mlp_residual", i), x, y);
    }
    x = node(m, STC_OP_MEAN, "token_mean", x, 0, 0);
    settle(m, x);
    return linear(m, x, "head");
}

static int import_sdt(imp_t *m, const stc_model_cfg_t *cfg, int x) {
    char nm[160];
    for (int s = 0; s < 3; s++) {
        x = conv(m, x, NM("patch_embed.proj_conv%s", sfx[s]), 3, 1);
        x = bn(m, x, NM("patch_embed.proj_bn%s", sfx[s]));
        x = lif(m, x, NM("patch_embed.proj_lif%s", sfx[s]), 1.0f);
        if (cfg->pooling_stat[s] == '1') x = pool(m, x, NM("patch_embed.maxpool%s", sfx[s]));
    }
    x = conv(m, x, "patch_embed.proj_conv3", 3, 1);
    x = bn(m, x, "patch_embed.proj_bn3");
    if (cfg->pooling_stat[3] == '1') x = pool(m, x, "patch_embed.maxpool3"); /* on the BN output */
    int feat = x;
    x = lif(m, x, "patch_embed.proj_lif3", 1.0f);
    x = conv(m, x, "patch_embed.rpe_conv", 3, 1);
    x = bn(m, x, "patch_embed.rpe_bn");
    x = op2(m, STC_OP_ADD, "patch_embed.rpe_residual", x, feat);
    for (int i = 0; i < cfg->v[STC_F_DEPTHS]; i++) {
        int s = lif(m, x, NM("block.%d.attn.shortcut_lif", i), 1.0f);
        int qkv[3];
        for (int q = 0; q < 3; q++) {
            int y = linear(m, s, NM("block.%d.attn.%c_conv", i, "qkv"[q]));
            y = bn(m, y, NM("block.%d.attn.%c_bn", i, "qkv"[q]));
            qkv[q] = lif(m, y, NM("block.%d.attn.%c_lif", i, "qkv"[q]), 1.0f);
        }
        int kv = op2(m, STC_OP_SDSA, NM("block.%d.attn.sdsa", i), qkv[1], qkv[2]);
        kv = lif(m, kv, NM("block.%d.attn.talking_heads_lif", i), 0.5f);
        int a = op2(m, STC_OP_MUL, NM("block.%d.attn.mask", i), qkv[0], kv);
        a = linear(m, a, NM("block.%d.attn.proj_conv", i));
        a = bn(m, a, NM("block.%d.attn.proj_bn", i));
        x = op2(m, STC_OP_ADD, NM("block.%d.attn_residual", i), x, a);
        int y = lif(m, x, NM("block.%d.mlp.fc1_lif", i), 1.0f);
        y = linear(m, y, NM("block.%d.mlp.fc1_conv", i));
        y = bn(m, y, NM("block.%d.mlp.fc1_bn", i));
        y = lif(m, y, NM("block.%d.mlp.fc2_lif", i), 1.0f);
        y = linear(m, y, NM("block.%d.mlp.fc2_conv", i));
        y = bn(m, y, NM("block.%d.mlp.fc2_bn", i));
        x = op2(m, STC_OP_ADD, NM("block.%d.mlp_residual", i), x, y);
    }
    x = node(m, STC_OP_MEAN, "token_mean", x, 0, 0);
    settle(m, x);
    x = lif(m, x, "head_lif", 1.0f);
    return linear(m, x, "head");
}

stc_ir_t *stc_model_import(const stc_ckpt_t *ck, const stc_model_cfg_t *cfg, stc_err_t *err) {
    imp_t m = {ck, stc_ir_create(cfg->v[STC_F_T], stc_arch_name(cfg->arch)), err, 0,
               cfg->tau > 0 ? cfg->tau : 2.0f, cfg->v_threshold > 0 ? cfg->v_threshold : 1.0f,
               cfg->attn_v_threshold > 0 ? cfg->attn_v_threshold : 0.5f};
    if (!m.ir) {
        stc_err_set(err, STC_E_NOMEM, "import: out of memory");
        return NULL;
    }
    int x = node(&m, STC_OP_INPUT, "input", 0, 0, 0);
    if (x >= 0) {
        m.ir->nodes[x].shape = (stc_shape_t){cfg->v[STC_F_IN_CH], cfg->v[STC_F_IMG_H], cfg->v[STC_F_IMG_W]};
        m.ir->nodes[x].vtype = STC_VT_REAL;
    }
    x = cfg->arch == STC_ARCH_SDT ? import_sdt(&m, cfg, x) : import_spikformer(&m, cfg, x);
    x = node(&m, STC_OP_OUTPUT, "output", x, 0, 0);
    settle(&m, x);
    if (!m.failed && stc_ir_verify(m.ir, err)) m.failed = 1;
    if (m.failed) {
        stc_err_prefix(err, "%s: import as %s", stc_ckpt_path(ck), stc_arch_name(cfg->arch));
        stc_ir_destroy(&m.ir);
        return NULL;
    }
    return m.ir;
}

int64_t stc_model_ckpt_elements(const stc_ckpt_t *ck) {
    int64_t s = 0;
    for (size_t i = 0; i < stc_ckpt_count(ck); i++) s += stc_tensor_numel(stc_ckpt_at(ck, i));
    return s;
}
