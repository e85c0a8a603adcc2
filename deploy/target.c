/* target.c - target descriptor loader: one table of fields, each checked for presence,
 * documentation (a source or an assumption) and a possible value.
 * SPDX-License-Identifier: MIT
 */
#include "stc_target.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TARGET_BYTES (1u << 20)

/* generated at build time from deploy/targets/NAME.json (tools/embed_targets.cmake) */
extern const char *const stc_builtin_target_names[];
extern const char *const stc_builtin_target_json[];

typedef enum { F_INT, F_REAL, F_PAIR } kind_t;

/* ORDER FIELD: every field of stc_target_t that a descriptor must set. */
static const struct {
    const char *key;
    kind_t kind;
    size_t off;
    double min, max;
} fields[] = {
#define I(k, lo, hi) {#k, F_INT, offsetof(stc_target_t, k), lo, hi}
#define R(k, lo, hi) {#k, F_REAL, offsetof(stc_target_t, k), lo, hi}
    I(cores_per_chip, 1, 1 << 16),
    {"core_mesh", F_PAIR, offsetof(stc_target_t, core_mesh), 1, 1 << 16},
    I(neurons_per_core, 1, 1 << 24),
    I(memory_per_core_bytes, 1024, 1 << 30),
    I(neuron_state_bytes, 1, 4096),
    I(fan_in_axons_per_core, 1, 1 << 24),
    I(fan_out_axons_per_core, 1, 1 << 24),
    I(synapse_bits, 1, 64),
    I(weight_bits, 1, 8),
    I(weight_exp_min, -16, 16),
    I(weight_exp_max, -16, 16),
    I(state_bits, 8, 32),
    I(decay_bits, 1, 16),
    I(threshold_bits, 1, 31),
    I(payload_bits, 1, 32),
    I(chip_links, 1, 64),
    R(chip_link_spikes_per_s, 1, 1e15),
    R(energy_synop_pj, 0, 1e6),
    R(energy_neuron_active_pj, 0, 1e6),
    R(energy_neuron_idle_pj, 0, 1e6),
    R(energy_spike_local_pj, 0, 1e6),
    R(energy_core_hop_pj, 0, 1e6),
    R(energy_chip_hop_pj, 0, 1e9),
    R(time_synop_ns, 0, 1e9),
    R(time_neuron_ns, 0, 1e9),
    R(time_core_hop_ns, 0, 1e9),
    R(time_barrier_ns, 0, 1e12),
    R(static_power_w, 0, 1e6),
#undef I
#undef R
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

const char *const *stc_target_presets(void) { return stc_builtin_target_names; }

const char *stc_target_preset_json(const char *name) {
    for (int i = 0; stc_builtin_target_names[i]; i++)
        if (!strcmp(stc_builtin_target_names[i], name)) return stc_builtin_target_json[i];
    return NULL;
}

static int whole(double v) { return v == floor(v); }

stc_status_t stc_target_parse(const char *json, size_t n, const char *name, stc_target_t *t,
                              stc_err_t *err) {
    if (n > MAX_TARGET_BYTES)
        return stc_err_set(err, STC_E_LIMIT, "%s: %zu bytes, limit %u", name, n, MAX_TARGET_BYTES);
    memset(t, 0, sizeof *t);
    cJSON *root = cJSON_ParseWithLength(json, n);
    if (!root) return stc_err_set(err, STC_E_FORMAT, "%s: not valid JSON", name);
    stc_status_t st = STC_OK;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!cJSON_IsObject(root) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "stc-target 1")) {
        st = stc_err_set(err, STC_E_FORMAT, "%s: expected a JSON object with \"format\": \"stc-target 1\"", name);
        goto done;
    }
    if (!cJSON_IsString(nm) || !nm->valuestring[0] || strlen(nm->valuestring) >= sizeof t->name) {
        st = stc_err_set(err, STC_E_FORMAT, "%s: field 'name' must be a string of 1..63 characters", name);
        goto done;
    }
    snprintf(t->name, sizeof t->name, "%s", nm->valuestring);
    /* no field we do not know: a typo must not silently fall back to nothing */
    for (const cJSON *it = root->child; it; it = it->next) {
        int known = !strcmp(it->string, "format") || !strcmp(it->string, "name") ||
                    !strcmp(it->string, "summary") || !strcmp(it->string, "comment");
        for (size_t f = 0; f < N_FIELDS && !known; f++) known = !strcmp(it->string, fields[f].key);
        if (!known) {
            st = stc_err_set(err, STC_E_FORMAT, "%s: unknown field '%s'", name, it->string);
            goto done;
        }
    }
    for (size_t f = 0; f < N_FIELDS; f++) {
        const char *k = fields[f].key;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, k);
        if (!e) {
            st = stc_err_set(err, STC_E_FORMAT, "%s: field '%s' is missing", name, k);
            goto done;
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(e, "source");
        const cJSON *as = cJSON_GetObjectItemCaseSensitive(e, "assumption");
        if (!cJSON_IsObject(e) || !v) {
            st = stc_err_set(err, STC_E_FORMAT, "%s: field '%s' must be {\"value\": ..., \"source\" or "
                             "\"assumption\": \"...\"}", name, k);
            goto done;
        }
        int has_src = cJSON_IsString(src) && src->valuestring[0];
        int has_as = cJSON_IsString(as) && as->valuestring[0];
        if (has_src == has_as) {
            st = stc_err_set(err, STC_E_FORMAT, "%s: field '%s' needs exactly one of \"source\" (a published "
                             "figure) or \"assumption\" (why this value), found %s", name, k,
                             has_src ? "both" : "neither");
            goto done;
        }
        t->n_assumptions += has_as;
        double vals[2];
        int nv = fields[f].kind == F_PAIR ? 2 : 1;
        if (fields[f].kind == F_PAIR) {
            if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) ||
                !cJSON_IsNumber(cJSON_GetArrayItem(v, 1))) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: field '%s': expected [X, Y]", name, k);
                goto done;
            }
            vals[0] = cJSON_GetArrayItem(v, 0)->valuedouble;
            vals[1] = cJSON_GetArrayItem(v, 1)->valuedouble;
        } else {
            if (!cJSON_IsNumber(v)) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: field '%s': expected a number", name, k);
                goto done;
            }
            vals[0] = v->valuedouble;
        }
        for (int i = 0; i < nv; i++) {
            if (!isfinite(vals[i]) || vals[i] < fields[f].min || vals[i] > fields[f].max ||
                (fields[f].kind != F_REAL && !whole(vals[i]))) {
                st = stc_err_set(err, STC_E_FORMAT, "%s: field '%s' is %g, expected %s in [%g, %g]", name, k,
                                 vals[i], fields[f].kind == F_REAL ? "a number" : "a whole number",
                                 fields[f].min, fields[f].max);
                goto done;
            }
            if (fields[f].kind == F_REAL)
                *(double *)((char *)t + fields[f].off) = vals[i];
            else
                ((int *)((char *)t + fields[f].off))[i] = (int)vals[i];
        }
    }
    /* relations between fields */
    if ((long)t->core_mesh[0] * t->core_mesh[1] != t->cores_per_chip)
        st = stc_err_set(err, STC_E_FORMAT, "%s: core_mesh %dx%d holds %ld cores, cores_per_chip is %d", name,
                         t->core_mesh[0], t->core_mesh[1], (long)t->core_mesh[0] * t->core_mesh[1],
                         t->cores_per_chip);
    else if (t->weight_exp_min > t->weight_exp_max)
        st = stc_err_set(err, STC_E_FORMAT, "%s: weight_exp_min %d is above weight_exp_max %d", name,
                         t->weight_exp_min, t->weight_exp_max);
    else if ((long)t->neurons_per_core * t->neuron_state_bytes > t->memory_per_core_bytes)
        st = stc_err_set(err, STC_E_FORMAT, "%s: %d neurons x %d bytes of state do not fit in "
                         "memory_per_core_bytes %d", name, t->neurons_per_core, t->neuron_state_bytes,
                         t->memory_per_core_bytes);
done:
    cJSON_Delete(root);
    return st;
}

stc_status_t stc_target_load(const char *name_or_path, stc_target_t *t, stc_err_t *err) {
    size_t len = strlen(name_or_path);
    int is_path = strchr(name_or_path, '/') || (len > 5 && !strcmp(name_or_path + len - 5, ".json"));
    if (!is_path) {
        const char *j = stc_target_preset_json(name_or_path);
        if (!j) {
            char list[256] = "";
            size_t o = 0;
            for (int i = 0; stc_builtin_target_names[i] && o < sizeof list; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", stc_builtin_target_names[i]);
            return stc_err_set(err, STC_E_USAGE, "target '%s' is unknown: expected a preset (%s) or a "
                               "descriptor file (a path ending in .json)", name_or_path, list);
        }
        return stc_target_parse(j, strlen(j), name_or_path, t, err);
    }
    unsigned char *data;
    size_t n;
    if (stc_read_file(name_or_path, MAX_TARGET_BYTES, &data, &n, err)) return err->status;
    stc_status_t st = stc_target_parse((const char *)data, n, name_or_path, t, err);
    free(data);
    return st;
}
