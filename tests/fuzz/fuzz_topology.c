/* fuzz_topology.c - libFuzzer target: topology files (stc_topology_parse_json) on arbitrary
 * bytes, and the spec parser (stc_topology_parse) on the first bytes as a string.
 *
 * Every failure must name the file (or the spec, escaped); every success must give a
 * topology within its limits whose links join two distinct chips with sane figures, and
 * whose routes are chains of links from a to b as long as hops() says, costing the sum of
 * their links, and no longer than the rule allows (docs/topologies.md).  A file that loads is
 * one JSON object and nothing after it but whitespace, with no NUL; its costs are pJ (at most
 * 1e9), and with "cost_unit": "relative" the cheapest link costs exactly the default (105).
 * Seeds: tests/fuzz/corpus/topology/.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stc_partition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                      \
    do {                              \
        if (!(x)) __builtin_trap();   \
    } while (0)

static int route[1 << 17];

/* the shortest possible length of a route between a and b under the rule */
static int expected_hops(const stc_topology_t *t, int a, int b) {
    int dims[STC_TOPO_MAX_DIMS], ca[STC_TOPO_MAX_DIMS], cb[STC_TOPO_MAX_DIMS];
    int n = stc_topology_dims(t, dims), h = 0;
    stc_topology_coords(t, a, ca);
    stc_topology_coords(t, b, cb);
    if (stc_topology_kind(t) == STC_TOPO_HIER) {
        int top = -1;
        for (int l = 0; l < n; l++)
            if (ca[l] != cb[l]) top = l;
        if (top < 0) return 0;
        for (int l = 0; l < top; l++) h += (ca[l] != 0) + (cb[l] != 0);
        return h + 1;
    }
    for (int d = 0; d < n; d++) {
        int dist = abs(ca[d] - cb[d]);
        if (stc_topology_kind(t) == STC_TOPO_TORUS && dims[d] - dist < dist) dist = dims[d] - dist;
        h += dist;
    }
    return h;
}

static void check_topology(const stc_topology_t *t, const uint8_t *data, size_t size) {
    int dims[STC_TOPO_MAX_DIMS], n = stc_topology_dims(t, dims), chips = stc_topology_chips(t);
    CHECK(n >= 2 && n <= STC_TOPO_MAX_DIMS);
    long prod = 1;
    for (int d = 0; d < n; d++) {
        CHECK(dims[d] >= 1 && dims[d] <= 65536);
        prod *= dims[d];
    }
    CHECK(prod == chips && chips >= 1 && chips <= STC_TOPO_MAX_CHIPS);
    int n_links = stc_topology_n_links(t);
    CHECK(n_links >= 0 && n_links <= (1 << 20));
    for (int i = 0; i < n_links; i++) {
        const stc_link_t *l = stc_topology_link(t, i);
        CHECK(l && l->a >= 0 && l->a < l->b && l->b < chips && l->level >= 0 && l->level < n);
        CHECK(isfinite(l->bandwidth) && l->bandwidth > 0 && isfinite(l->cost) && l->cost >= 0 && l->cost <= 1e9);
    }
    CHECK(!stc_topology_link(t, n_links) && !stc_topology_link(t, -1));
    /* a few pairs chosen by the input's bytes, and the corners */
    for (size_t k = 0; k < 8; k++) {
        uint32_t ra = 0, rb = 0;
        for (size_t i = 0; i < 4 && size; i++) {
            ra = ra * 131 + data[(k * 8 + i) % size];
            rb = rb * 137 + data[(k * 8 + 4 + i) % size];
        }
        int a = k == 0 ? 0 : (int)(ra % (uint32_t)chips), b = k == 0 ? chips - 1 : (int)(rb % (uint32_t)chips);
        int h = stc_topology_route(t, a, b, route, (int)(sizeof route / sizeof route[0]));
        CHECK(h >= 0 && h <= (int)(sizeof route / sizeof route[0]));
        CHECK(h == stc_topology_hops(t, a, b) && h == expected_hops(t, a, b));
        int at = a;
        double cost = 0;
        for (int i = 0; i < h; i++) {
            const stc_link_t *l = stc_topology_link(t, route[i]);
            CHECK(l);
            CHECK(l->a == at || l->b == at);
            at = l->a == at ? l->b : l->a;
            cost += l->cost;
        }
        CHECK(at == b && cost == stc_topology_cost(t, a, b));
    }
    CHECK(stc_topology_route(t, chips, 0, route, 1) == -1 && stc_topology_cost(t, 0, -1) == -1.0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse_json((const char *)data, size, "fuzz.json", 1.15e8, 105, &err);
    if (!t) {
        CHECK(err.status != STC_OK && !strncmp(err.msg, "fuzz.json: ", 11)); /* every failure names the file */
    } else {
        check_topology(t, data, size);
        /* one JSON object, then only whitespace; no NUL anywhere */
        size_t end = size;
        while (end > 0 && strchr(" \t\n\r", data[end - 1]) && data[end - 1]) end--;
        CHECK(end > 0 && data[end - 1] == '}' && !memchr(data, 0, size));
        if (!strcmp(stc_topology_cost_unit(t), "relative")) {
            double cmin = 0;
            for (int i = 0; i < stc_topology_n_links(t); i++) {
                double c = stc_topology_link(t, i)->cost;
                if (c > 0 && (cmin == 0 || c < cmin)) cmin = c;
            }
            CHECK(cmin == 0 || cmin == 105.0);
        }
        stc_topology_destroy(&t);
    }

    /* the spec parser: the first bytes up to a NUL, at most 64; not a path (no file access) */
    char spec[65];
    size_t n = 0;
    while (n < size && n < 64 && data[n]) spec[n] = (char)data[n], n++;
    spec[n] = 0;
    if (strchr(spec, '/') || (n > 5 && !strcmp(spec + n - 5, ".json"))) return 0;
    err = (stc_err_t){0};
    t = stc_topology_parse(spec, 1.15e8, 105, &err);
    if (!t) {
        char q[128];
        stc_escape(q, sizeof q, spec, n, 80);
        size_t qn = strlen(q);
        CHECK(err.status != STC_OK && !strncmp(err.msg, q, qn) && !strncmp(err.msg + qn, ": ", 2));
    } else {
        CHECK(!strcmp(stc_topology_name(t), spec));
        check_topology(t, data, size);
        stc_topology_destroy(&t);
    }
    return 0;
}
