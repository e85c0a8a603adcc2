/* topology.c - chip topologies: mesh, torus, hierarchy and topology files; their links and
 * dimension-ordered routes (the topology half of stc_partition.h).
 *
 * A topology is a flat array of links with stable ids, so that a placement can be
 * measured per link; routes are computed from coordinates (no tables), one link id
 * per hop.  Specs ("torus:4x4") and files ("stc-topology 1" JSON) come from users:
 * every count and size is checked before use and every message names the spec or
 * file and the field; a file is one JSON value (nothing after it but whitespace) read
 * only if it is a regular file.  Relative costs are scaled to pJ on loading (the cheapest
 * link costs default_cost), so every cost this module returns is pJ.  The rules (syntax,
 * file format, link numbering, routing, the hierarchy model and its default costs) are
 * written down in docs/topologies.md.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_partition.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPEC_BYTES 4096          /* a spec string or a file path */
#define MAX_FILE_BYTES (1u << 20)    /* a topology file */
#define MAX_EXTENT 65536             /* one dimension or level fan-out */
#define MAX_LINKS (1 << 20)          /* hierarchies are all-to-all per group: quadratic */
#define MAX_BANDWIDTH 1e15           /* spikes per second, as the target's chip_link_spikes_per_s */
#define MAX_COST 1e9                 /* pJ, as the target's energy_chip_hop_pj */
/* A hierarchy's level-l links default to default_cost x HIER_COST_STEP^l and
 * default_bandwidth x HIER_BANDWIDTH_STEP^l (assumptions; why: docs/topologies.md). */
#define HIER_COST_STEP 4.0
#define HIER_BANDWIDTH_STEP 1.0

struct stc_topology {
    char *name;                        /* the spec or path as given */
    const char *cost_unit;             /* "pJ" or "relative" (static strings) */
    stc_topo_kind_t kind;
    int n_dims;                        /* 2 or 3 */
    int dims[STC_TOPO_MAX_DIMS];       /* extents, or fan-outs with level 0 (a board) first */
    int stride[STC_TOPO_MAX_DIMS + 1]; /* chips per step of dimension d: dims[0] x ... x dims[d-1] */
    int span[STC_TOPO_MAX_DIMS];       /* mesh/torus: links on one line of dimension d */
    int base[STC_TOPO_MAX_DIMS + 1];   /* first link id of dimension/level d; base[n_dims] = n_links */
    int n_chips, n_links;
    stc_link_t *links;
};

/* ------------------------------------------------------------ link numbering */

/* Mesh/torus: the link leaving chip c (coordinates) in the positive direction
 * of dimension d (c[d] < span[d]).  Ids of dimension d follow the chip they
 * leave from, x fastest, with extent d counted as span[d]. */
static int line_link(const stc_topology_t *t, int d, const int *c) {
    int idx = 0, mult = 1;
    for (int e = 0; e < t->n_dims; e++) {
        idx += c[e] * mult;
        mult *= e == d ? t->span[e] : t->dims[e];
    }
    return t->base[d] + idx;
}

/* Hierarchy: the level-l link between members i < j of level-l group g (the
 * chips chip / stride[l+1] == g); pairs of a group in (0,1), (0,2)... order. */
static int hier_link(const stc_topology_t *t, int l, int g, int i, int j) {
    int64_t f = t->dims[l];
    int64_t pair = (int64_t)i * (2 * f - i - 1) / 2 + (j - i - 1);
    return t->base[l] + (int)((int64_t)g * (f * (f - 1) / 2) + pair);
}

static void coords_of(const stc_topology_t *t, int chip, int *c) {
    for (int d = 0; d < t->n_dims; d++) c[d] = chip / t->stride[d] % t->dims[d];
}

/* -------------------------------------------------------------- construction */

static void set_link(stc_topology_t *t, int id, int a, int b, int level, const double *bw, const double *cost) {
    STC_ASSERT(id >= t->base[level] && id < t->base[level + 1] && a != b);
    stc_link_t *k = &t->links[id];
    k->a = a < b ? a : b;
    k->b = a < b ? b : a;
    k->level = level;
    k->bandwidth = bw[level];
    k->cost = cost[level];
}

/* Everything after the syntax: the limits on chips and links, the links.  `shown`
 * names the spec or file in messages, `name` is stored. */
static stc_topology_t *build(stc_topo_kind_t kind, int n_dims, const int *dims, const double *bw,
                             const double *cost, const char *cost_unit, const char *name, const char *shown,
                             stc_err_t *err) {
    int64_t chips = 1;
    for (int d = 0; d < n_dims; d++) chips *= dims[d]; /* each <= 65536, at most 3: fits */
    if (chips > STC_TOPO_MAX_CHIPS) {
        stc_err_set(err, STC_E_LIMIT, "%s: %lld chips, limit %d", shown, (long long)chips, STC_TOPO_MAX_CHIPS);
        return NULL;
    }
    int64_t per[STC_TOPO_MAX_DIMS], links = 0, below = 1;
    int span[STC_TOPO_MAX_DIMS] = {0};
    for (int d = 0; d < n_dims; d++) {
        int64_t f = dims[d];
        if (kind == STC_TOPO_HIER) {
            /* level d: one group per member of level d+1, every pair of its f members joined */
            below *= f;
            per[d] = chips / below * (f * (f - 1) / 2);
        } else {
            span[d] = (kind == STC_TOPO_TORUS && f > 2) ? (int)f : (int)f - 1;
            per[d] = chips / f * span[d];
        }
        links += per[d];
    }
    if (links > MAX_LINKS) {
        stc_err_set(err, STC_E_LIMIT, "%s: %lld links%s, limit %d", shown, (long long)links,
                    kind == STC_TOPO_HIER ? " (a hierarchy joins every pair of a group)" : "", MAX_LINKS);
        return NULL;
    }
    stc_topology_t *t = calloc(1, sizeof *t);
    if (t) t->name = strdup(name);
    if (t && t->name) t->links = calloc(links ? (size_t)links : 1, sizeof *t->links);
    if (!t || !t->name || !t->links) {
        stc_topology_destroy(&t);
        stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %lld links", shown, (long long)links);
        return NULL;
    }
    t->kind = kind;
    t->cost_unit = cost_unit;
    t->n_dims = n_dims;
    t->n_chips = (int)chips;
    t->n_links = (int)links;
    t->stride[0] = 1;
    for (int d = 0; d < n_dims; d++) {
        t->dims[d] = dims[d];
        t->span[d] = span[d];
        t->stride[d + 1] = t->stride[d] * dims[d];
        t->base[d + 1] = t->base[d] + (int)per[d];
    }
    if (kind == STC_TOPO_HIER) {
        for (int l = 0; l < n_dims; l++) {
            int f = dims[l], s = t->stride[l], groups = t->n_chips / t->stride[l + 1];
            for (int g = 0; g < groups; g++)
                for (int i = 0; i < f; i++)
                    for (int j = i + 1; j < f; j++)
                        set_link(t, hier_link(t, l, g, i, j), g * t->stride[l + 1] + i * s,
                                 g * t->stride[l + 1] + j * s, l, bw, cost);
        }
    } else {
        for (int chip = 0; chip < t->n_chips; chip++) {
            int c[STC_TOPO_MAX_DIMS];
            coords_of(t, chip, c);
            for (int d = 0; d < n_dims; d++) {
                if (c[d] >= span[d]) continue;
                int next = chip + ((c[d] + 1) % dims[d] - c[d]) * t->stride[d];
                set_link(t, line_link(t, d, c), chip, next, d, bw, cost);
            }
        }
    }
    return t;
}

/* Per-level defaults: the target's figures, scaled by level in a hierarchy. */
static void defaults(stc_topo_kind_t kind, double default_bandwidth, double default_cost, double *bw,
                     double *cost) {
    double sb = 1, sc = 1;
    for (int l = 0; l < STC_TOPO_MAX_DIMS; l++) {
        bw[l] = default_bandwidth * sb;
        cost[l] = default_cost * sc;
        if (kind == STC_TOPO_HIER) {
            sb *= HIER_BANDWIDTH_STEP;
            sc *= HIER_COST_STEP;
        }
    }
}

static stc_status_t check_defaults(const char *shown, double bw, double cost, stc_err_t *err) {
    if (!(isfinite(bw) && bw > 0 && bw <= MAX_BANDWIDTH))
        return stc_err_set(err, STC_E_USAGE, "%s: default bandwidth is %g, expected a number in (0, %g]", shown,
                           bw, MAX_BANDWIDTH);
    if (!(isfinite(cost) && cost >= 0 && cost <= MAX_COST))
        return stc_err_set(err, STC_E_USAGE, "%s: default cost is %g, expected a number in [0, %g]", shown, cost,
                           MAX_COST);
    return STC_OK;
}

/* ---------------------------------------------------------------- the spec */

static const struct {
    const char *word;
    stc_topo_kind_t kind;
} kinds[] = {{"mesh", STC_TOPO_MESH}, {"torus", STC_TOPO_TORUS}, {"hier", STC_TOPO_HIER}};

/* spec -> KIND ':' EXTENT ('x' EXTENT)*      EXTENT -> [0-9]+ in 1..65536
 * (2 or 3 extents; written top-down for hier: "hier:8x4" is 8 boards of 4 chips) */
static stc_topology_t *parse_spec(const char *spec, const char *q, double default_bandwidth,
                                  double default_cost, stc_err_t *err) {
    const char *colon = strchr(spec, ':');
    stc_topo_kind_t kind = 0;
    for (size_t k = 0; colon && k < sizeof kinds / sizeof kinds[0]; k++)
        if ((size_t)(colon - spec) == strlen(kinds[k].word) && !strncmp(spec, kinds[k].word, (size_t)(colon - spec)))
            kind = kinds[k].kind;
    if (!kind) {
        char kw[64];
        stc_escape(kw, sizeof kw, spec, colon ? (size_t)(colon - spec) : strlen(spec), 16);
        if (!colon)
            stc_err_set(err, STC_E_FORMAT, "%s: expected KIND:AxB[xC] (mesh, torus or hier) or a topology file "
                        "(a path with '/' or ending in .json)", q);
        else
            stc_err_set(err, STC_E_FORMAT, "%s: kind '%s' is unknown, expected mesh, torus or hier", q, kw);
        return NULL;
    }
    int ext[STC_TOPO_MAX_DIMS], n = 0;
    const char *p = colon + 1;
    for (;;) {
        const char *digits = p;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v <= MAX_EXTENT) v = v * 10 + (*p - '0');
            p++;
        }
        char found[48];
        if (p == digits) {
            if (*p) {
                stc_escape(found, sizeof found, p, 1, 1);
                stc_err_set(err, STC_E_FORMAT, "%s: dimension %d: expected a number, found '%s'", q, n + 1, found);
            } else {
                stc_err_set(err, STC_E_FORMAT, "%s: dimension %d: expected a number, found the end", q, n + 1);
            }
            return NULL;
        }
        if (v < 1 || v > MAX_EXTENT) {
            stc_escape(found, sizeof found, digits, (size_t)(p - digits), 24);
            stc_err_set(err, STC_E_FORMAT, "%s: dimension %d is %s, expected 1..%d", q, n + 1, found, MAX_EXTENT);
            return NULL;
        }
        if (n < STC_TOPO_MAX_DIMS) ext[n] = (int)v;
        n++;
        if (*p == 'x') {
            p++;
            continue;
        }
        if (*p) {
            stc_escape(found, sizeof found, p, strlen(p), 16);
            stc_err_set(err, STC_E_FORMAT, "%s: after dimension %d: expected 'x' or the end, found '%s'", q, n,
                        found);
            return NULL;
        }
        break;
    }
    if (n < 2 || n > STC_TOPO_MAX_DIMS) {
        stc_err_set(err, STC_E_FORMAT, "%s: %d dimension%s, expected 2 or 3", q, n, n == 1 ? "" : "s");
        return NULL;
    }
    int dims[STC_TOPO_MAX_DIMS];
    for (int d = 0; d < n; d++) dims[d] = kind == STC_TOPO_HIER ? ext[n - 1 - d] : ext[d]; /* level 0 first */
    double bw[STC_TOPO_MAX_DIMS], cost[STC_TOPO_MAX_DIMS];
    defaults(kind, default_bandwidth, default_cost, bw, cost);
    return build(kind, n, dims, bw, cost, "pJ", spec, q, err);
}

stc_topology_t *stc_topology_parse(const char *spec, double default_bandwidth, double default_cost,
                                   stc_err_t *err) {
    if (!spec) {
        stc_err_set(err, STC_E_USAGE, "topology: no spec given, expected KIND:AxB[xC] or a topology file");
        return NULL;
    }
    size_t len = strnlen(spec, MAX_SPEC_BYTES + 1);
    char q[128];
    stc_escape(q, sizeof q, spec, len, 80);
    if (len > MAX_SPEC_BYTES) {
        stc_err_set(err, STC_E_LIMIT, "%s: topology spec longer than %d bytes", q, MAX_SPEC_BYTES);
        return NULL;
    }
    if (check_defaults(q, default_bandwidth, default_cost, err)) return NULL;
    if (strchr(spec, '/') || (len > 5 && !strcmp(spec + len - 5, ".json"))) {
        unsigned char *data;
        size_t n;
        if (stc_read_file(spec, MAX_FILE_BYTES, &data, &n, err)) return NULL;
        stc_topology_t *t = stc_topology_parse_json((const char *)data, n, spec, default_bandwidth, default_cost, err);
        free(data);
        return t;
    }
    return parse_spec(spec, q, default_bandwidth, default_cost, err);
}

/* ---------------------------------------------------------------- the file */

/* What a JSON value is, for "found ..." in an error. */
static const char *json_type_name(const cJSON *x) {
    return cJSON_IsObject(x) ? "an object" : cJSON_IsArray(x) ? "an array" : cJSON_IsString(x) ? "a string"
         : cJSON_IsNumber(x) ? "a number" : cJSON_IsBool(x) ? "true or false" : "null";
}

/* A figure: {"value": V, "source": "..."} or {"value": V, "assumption": "..."}. */
static const cJSON *figure(const cJSON *root, const char *key, const char *name, stc_err_t *err) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
    if (!cJSON_IsObject(e) || !v) {
        stc_err_set(err, STC_E_FORMAT, "%s: field '%s' must be {\"value\": ..., \"source\" or \"assumption\": "
                    "\"...\"}", name, key);
        return NULL;
    }
    int n_keys = 0;
    for (const cJSON *it = e->child; it; it = it->next) n_keys++;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(e, "source");
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(e, "assumption");
    int has_src = cJSON_IsString(src) && src->valuestring[0];
    int has_as = cJSON_IsString(as) && as->valuestring[0];
    const cJSON *bad = src && !has_src ? src : as && !has_as ? as : NULL;
    if (bad) { /* present, but not text that says something */
        stc_err_set(err, STC_E_FORMAT, "%s: field '%s': \"%s\" must be a non-empty string (a published figure's "
                    "source, or why this value), found %s", name, key, bad->string,
                    cJSON_IsString(bad) ? "an empty string" : json_type_name(bad));
        return NULL;
    }
    if (has_src == has_as) {
        stc_err_set(err, STC_E_FORMAT, "%s: field '%s' needs exactly one of \"source\" (a published figure) or "
                    "\"assumption\" (why this value), found %s", name, key, has_src ? "both" : "neither");
        return NULL;
    }
    if (n_keys != 2) {
        stc_err_set(err, STC_E_FORMAT, "%s: field '%s': expected only \"value\" and \"%s\", found %d keys", name,
                    key, has_src ? "source" : "assumption", n_keys);
        return NULL;
    }
    return v;
}

/* The extents: [A, B] or [A, B, C], whole numbers in 1..65536. */
static int read_extents(const cJSON *v, const char *key, const char *name, int *dims, stc_err_t *err) {
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 2 || n > STC_TOPO_MAX_DIMS) {
        if (n < 0)
            stc_err_set(err, STC_E_FORMAT, "%s: field '%s': expected an array of 2 or 3 whole numbers", name, key);
        else
            stc_err_set(err, STC_E_FORMAT, "%s: field '%s': expected 2 or 3 entries, found %d", name, key, n);
        return -1;
    }
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        double x = it->valuedouble;
        if (!cJSON_IsNumber(it)) {
            stc_err_set(err, STC_E_FORMAT, "%s: field '%s' entry %d: expected a whole number in 1..%d, found a "
                        "non-number", name, key, i + 1, MAX_EXTENT);
            return -1;
        }
        if (!(x >= 1 && x <= MAX_EXTENT && x == floor(x))) {
            stc_err_set(err, STC_E_FORMAT, "%s: field '%s' entry %d is %g, expected a whole number in 1..%d", name,
                        key, i + 1, x, MAX_EXTENT);
            return -1;
        }
        dims[i] = (int)x;
    }
    return n;
}

/* bandwidth or cost: one number for every level, or one per level (level 0 first). */
static stc_status_t read_levels(const cJSON *root, const char *key, const char *name, int n_dims, double lo,
                                int lo_open, double hi, double *out, stc_err_t *err) {
    if (!cJSON_GetObjectItemCaseSensitive(root, key)) return STC_OK; /* the defaults stay */
    const cJSON *v = figure(root, key, name, err);
    if (!v) return err ? err->status : STC_E_FORMAT;
    double x[STC_TOPO_MAX_DIMS];
    int n;
    if (cJSON_IsNumber(v)) {
        for (int l = 0; l < n_dims; l++) x[l] = v->valuedouble;
        n = n_dims;
    } else {
        n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
        if (n != n_dims) {
            char found[48] = "something else";
            if (n >= 0) snprintf(found, sizeof found, "an array of %d", n);
            return stc_err_set(err, STC_E_FORMAT, "%s: field '%s': expected a number or an array of %d numbers "
                               "(one per dimension or level), found %s", name, key, n_dims, found);
        }
        int i = 0;
        for (const cJSON *it = v->child; it; it = it->next, i++) {
            if (!cJSON_IsNumber(it))
                return stc_err_set(err, STC_E_FORMAT, "%s: field '%s' entry %d: expected a number, found a "
                                   "non-number", name, key, i + 1);
            x[i] = it->valuedouble;
        }
    }
    for (int l = 0; l < n; l++) {
        if (!(isfinite(x[l]) && (lo_open ? x[l] > lo : x[l] >= lo) && x[l] <= hi)) {
            char which[24] = "";
            if (!cJSON_IsNumber(v)) snprintf(which, sizeof which, " entry %d", l + 1);
            return stc_err_set(err, STC_E_FORMAT, "%s: field '%s'%s is %g, expected a number in %c%g, %g]", name, key,
                               which, x[l], lo_open ? '(' : '[', lo, hi);
        }
        out[l] = x[l];
    }
    return STC_OK;
}

/* Relative costs into pJ: the cheapest link (of the positive-cost ones, on a
 * dimension or level that has links) costs default_cost, the target's
 * energy_chip_hop_pj, and every other link in proportion; a cost of 0 stays 0.
 * docs/topologies.md says why the cheapest and not the mean. */
static stc_status_t scale_relative(int n_dims, const int *dims, double *cost, double default_cost, const char *name,
                                   stc_err_t *err) {
    double cmin = 0;
    for (int l = 0; l < n_dims; l++) /* a line or group of one chip has no link, whatever the kind */
        if (dims[l] > 1 && cost[l] > 0 && (cmin == 0 || cost[l] < cmin)) cmin = cost[l];
    if (cmin == 0) return STC_OK; /* every link free, or no links */
    for (int l = 0; l < n_dims; l++) {
        double ratio = cost[l] / cmin, pj = ratio * default_cost;
        if (dims[l] > 1 && !(isfinite(pj) && pj <= MAX_COST))
            return stc_err_set(err, STC_E_FORMAT, "%s: field 'cost' entry %d: relative cost %g is %g times the "
                               "cheapest link's, %g pJ at %g pJ per chip hop, expected at most %g pJ", name, l + 1,
                               cost[l], ratio, pj, default_cost, MAX_COST);
        cost[l] = dims[l] > 1 ? pj : 0;
    }
    return STC_OK;
}

static const char *const file_keys[] = {"format", "summary", "comment", "kind",     "dims",
                                        "levels", "bandwidth", "cost",  "cost_unit"};

stc_topology_t *stc_topology_parse_json(const char *json, size_t n, const char *name, double default_bandwidth,
                                        double default_cost, stc_err_t *err) {
    if (!name) name = "topology";
    if (!json && n) {
        stc_err_set(err, STC_E_USAGE, "%s: no text given", name);
        return NULL;
    }
    if (n > MAX_FILE_BYTES) {
        stc_err_set(err, STC_E_LIMIT, "%s: %zu bytes, limit %u", name, n, MAX_FILE_BYTES);
        return NULL;
    }
    if (check_defaults(name, default_bandwidth, default_cost, err)) return NULL;
    /* the text is carried in a bundle as a C string: a NUL would cut it there */
    const char *nul = json ? memchr(json, 0, n) : NULL;
    if (nul) {
        stc_err_set(err, STC_E_FORMAT, "%s: a NUL byte at byte offset %zu, expected JSON text", name,
                    (size_t)(nul - json));
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = json && n ? cJSON_ParseWithLengthOpts(json, n, &end, 0) : NULL;
    if (!root) {
        if (json && n && end >= json && end <= json + n)
            stc_err_set(err, STC_E_FORMAT, "%s: not valid JSON (at byte offset %zu)", name, (size_t)(end - json));
        else
            stc_err_set(err, STC_E_FORMAT, "%s: not valid JSON (the file is empty)", name);
        return NULL;
    }
    /* one JSON value and nothing after it but whitespace: trailing text is a
     * damaged or concatenated file, not something to ignore */
    size_t at = end >= json && end <= json + n ? (size_t)(end - json) : n;
    while (at < n && (json[at] == ' ' || json[at] == '\t' || json[at] == '\n' || json[at] == '\r')) at++;
    if (at < n) {
        char found[48];
        stc_escape(found, sizeof found, json + at, n - at, 16);
        stc_err_set(err, STC_E_FORMAT, "%s: text after the JSON value at byte offset %zu ('%s'), expected only "
                    "whitespace", name, at, found);
        cJSON_Delete(root);
        return NULL;
    }
    stc_topology_t *t = NULL;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsObject(root) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "stc-topology 1")) {
        char found[80] = "";
        if (cJSON_IsString(fmt)) {
            char f[48];
            stc_escape(f, sizeof f, fmt->valuestring, strlen(fmt->valuestring), 32);
            snprintf(found, sizeof found, "\"format\": \"%s\"", f);
        }
        stc_err_set(err, STC_E_FORMAT, "%s: expected a JSON object with \"format\": \"stc-topology 1\", found %s",
                    name, !cJSON_IsObject(root) ? json_type_name(root)
                          : !fmt            ? "no \"format\" field"
                          : found[0]        ? found
                                            : "a \"format\" that is not a string");
        goto done;
    }
    for (int k = 1; k <= 2; k++) { /* "summary" and "comment" are text */
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, file_keys[k]);
        if (x && !cJSON_IsString(x)) {
            stc_err_set(err, STC_E_FORMAT, "%s: field '%s' must be text (a string), found %s", name, file_keys[k],
                        json_type_name(x));
            goto done;
        }
    }
    /* no field we do not know (a typo must not silently fall back to a default), none twice */
    int seen[sizeof file_keys / sizeof file_keys[0]] = {0};
    for (const cJSON *it = root->child; it; it = it->next) {
        size_t k = 0;
        while (k < sizeof file_keys / sizeof file_keys[0] && strcmp(it->string, file_keys[k])) k++;
        if (k == sizeof file_keys / sizeof file_keys[0]) {
            char f[64];
            stc_escape(f, sizeof f, it->string, strlen(it->string), 32);
            stc_err_set(err, STC_E_FORMAT, "%s: unknown field '%s'", name, f);
            goto done;
        }
        if (seen[k]++) {
            stc_err_set(err, STC_E_FORMAT, "%s: field '%s' appears twice", name, file_keys[k]);
            goto done;
        }
    }
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(root, "kind");
    stc_topo_kind_t kind = 0;
    for (size_t k = 0; cJSON_IsString(kj) && k < sizeof kinds / sizeof kinds[0]; k++)
        if (!strcmp(kj->valuestring, kinds[k].word)) kind = kinds[k].kind;
    if (!kind) {
        char f[64] = "";
        if (cJSON_IsString(kj)) stc_escape(f, sizeof f, kj->valuestring, strlen(kj->valuestring), 32);
        stc_err_set(err, STC_E_FORMAT, "%s: field 'kind' %s%s%s, expected \"mesh\", \"torus\" or \"hier\"", name,
                    !kj ? "is missing" : cJSON_IsString(kj) ? "is '" : "is not a string", f,
                    cJSON_IsString(kj) ? "'" : "");
        goto done;
    }
    /* a hierarchy's fan-outs are "levels", level 0 first, so that nobody reads them in spec order */
    const char *key = kind == STC_TOPO_HIER ? "levels" : "dims";
    const char *other = kind == STC_TOPO_HIER ? "dims" : "levels";
    if (cJSON_GetObjectItemCaseSensitive(root, other)) {
        stc_err_set(err, STC_E_FORMAT, "%s: field '%s' does not apply to kind '%s' (%s)", name, other, kj->valuestring,
                    kind == STC_TOPO_HIER ? "a hierarchy gives 'levels': fan-outs, chips per board first"
                                          : "a mesh or torus gives 'dims': extents, X first");
        goto done;
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, key)) {
        stc_err_set(err, STC_E_FORMAT, "%s: field '%s' is missing", name, key);
        goto done;
    }
    const cJSON *ev = figure(root, key, name, err);
    int dims[STC_TOPO_MAX_DIMS];
    int n_dims = ev ? read_extents(ev, key, name, dims, err) : -1;
    if (n_dims < 0) goto done;
    const char *unit = "pJ";
    const cJSON *uj = cJSON_GetObjectItemCaseSensitive(root, "cost_unit");
    if (uj) {
        if (cJSON_IsString(uj) && !strcmp(uj->valuestring, "relative")) {
            unit = "relative";
        } else if (!cJSON_IsString(uj) || strcmp(uj->valuestring, "pJ")) {
            stc_err_set(err, STC_E_FORMAT, "%s: field 'cost_unit': expected \"pJ\" or \"relative\"", name);
            goto done;
        }
    }
    int relative = !strcmp(unit, "relative");
    double bw[STC_TOPO_MAX_DIMS], cost[STC_TOPO_MAX_DIMS];
    /* relative costs: what the file leaves out is the default's shape (1, or 4^l in a hierarchy) */
    defaults(kind, default_bandwidth, relative ? 1.0 : default_cost, bw, cost);
    if (read_levels(root, "bandwidth", name, n_dims, 0, 1, MAX_BANDWIDTH, bw, err) ||
        read_levels(root, "cost", name, n_dims, 0, 0, MAX_COST, cost, err))
        goto done;
    if (relative && scale_relative(n_dims, dims, cost, default_cost, name, err)) goto done;
    t = build(kind, n_dims, dims, bw, cost, unit, name, name, err);
done:
    cJSON_Delete(root);
    return t;
}

void stc_topology_destroy(stc_topology_t **tp) {
    if (!tp || !*tp) return;
    free((*tp)->links);
    free((*tp)->name);
    free(*tp);
    *tp = NULL;
}

/* --------------------------------------------------------------- accessors */

const char *stc_topology_name(const stc_topology_t *t) { return t->name; }
stc_topo_kind_t stc_topology_kind(const stc_topology_t *t) { return t->kind; }
const char *stc_topology_kind_word(const stc_topology_t *t) {
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (kinds[k].kind == t->kind) return kinds[k].word;
    return "?";
}
int stc_topology_chips(const stc_topology_t *t) { return t->n_chips; }
int stc_topology_n_links(const stc_topology_t *t) { return t->n_links; }
const char *stc_topology_cost_unit(const stc_topology_t *t) { return t->cost_unit; }

int stc_topology_dims(const stc_topology_t *t, int *dims) {
    if (dims)
        for (int d = 0; d < t->n_dims; d++) dims[d] = t->dims[d];
    return t->n_dims;
}

const stc_link_t *stc_topology_link(const stc_topology_t *t, int i) {
    return i >= 0 && i < t->n_links ? &t->links[i] : NULL;
}

void stc_topology_coords(const stc_topology_t *t, int chip, int *coords) {
    STC_ASSERT(chip >= 0 && chip < t->n_chips);
    coords_of(t, chip, coords);
}

/* ------------------------------------------------------------------ routing */

/* The route from a to b: writes the first `max` link ids, adds the costs in
 * route order into *sum, returns the number of links. */
static int walk(const stc_topology_t *t, int a, int b, int *out, int max, double *sum) {
    int n = 0, ca[STC_TOPO_MAX_DIMS], cb[STC_TOPO_MAX_DIMS];
    double s = 0;
#define STEP(expr)                          \
    do {                                    \
        int id_ = (expr);                   \
        if (n < max) out[n] = id_;          \
        s += t->links[id_].cost;            \
        n++;                                \
    } while (0)
    coords_of(t, a, ca);
    coords_of(t, b, cb);
    if (t->kind == STC_TOPO_HIER) {
        /* climb to the lowest common level L through each group's gateway (member 0), cross, descend */
        int top = -1;
        for (int l = 0; l < t->n_dims; l++)
            if (ca[l] != cb[l]) top = l;
        if (top >= 0) {
            for (int l = 0; l < top; l++)
                if (ca[l]) STEP(hier_link(t, l, a / t->stride[l + 1], 0, ca[l]));
            int lo = ca[top] < cb[top] ? ca[top] : cb[top], hi = ca[top] ^ cb[top] ^ lo;
            STEP(hier_link(t, top, a / t->stride[top + 1], lo, hi));
            for (int l = top - 1; l >= 0; l--)
                if (cb[l]) STEP(hier_link(t, l, b / t->stride[l + 1], 0, cb[l]));
        }
    } else {
        /* X, then Y, then Z; a torus line longer than 2 goes the shorter way, ties positive */
        for (int d = 0; d < t->n_dims; d++) {
            int len = t->dims[d], delta = cb[d] - ca[d], steps, dir;
            if (!delta) continue;
            if (t->span[d] == len) {
                int fwd = (delta + len) % len;
                dir = fwd <= len - fwd ? 1 : -1;
                steps = dir > 0 ? fwd : len - fwd;
            } else {
                dir = delta > 0 ? 1 : -1;
                steps = delta > 0 ? delta : -delta;
            }
            for (int k = 0; k < steps; k++) {
                if (dir > 0) {
                    STEP(line_link(t, d, ca));
                    ca[d] = (ca[d] + 1) % len;
                } else {
                    ca[d] = (ca[d] + len - 1) % len;
                    STEP(line_link(t, d, ca));
                }
            }
        }
    }
#undef STEP
    *sum = s;
    return n;
}

int stc_topology_route(const stc_topology_t *t, int a, int b, int *links, int max) {
    if (a < 0 || b < 0 || a >= t->n_chips || b >= t->n_chips) return -1;
    double s;
    return walk(t, a, b, links, links ? max : 0, &s);
}

int stc_topology_hops(const stc_topology_t *t, int a, int b) { return stc_topology_route(t, a, b, NULL, 0); }

double stc_topology_cost(const stc_topology_t *t, int a, int b) {
    if (a < 0 || b < 0 || a >= t->n_chips || b >= t->n_chips) return -1.0;
    double s;
    walk(t, a, b, NULL, 0, &s);
    return s;
}

stc_topology_t *stc_topology_of_bundle(const stc_bundle_t *b, double default_bandwidth, double default_cost,
                                       stc_err_t *err) {
    if (b->topology_json)
        return stc_topology_parse_json(b->topology_json, strlen(b->topology_json), b->topology, default_bandwidth,
                                       default_cost, err);
    return stc_topology_parse(b->topology, default_bandwidth, default_cost, err);
}
