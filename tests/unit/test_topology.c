/* test_topology.c - suite "topology": link counts and ids, exact dimension-ordered routes on
 * meshes, tori and hierarchies, the topology files, and every malformed spec or file refused
 * with a message naming it and the field (partitioner/topology.c, docs/topologies.md).
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stc_partition.h"
#include "test_util.h"

#define BW 1.15e8
#define COST 105.0

static stc_topology_t *parse_ok(const char *spec) {
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse(spec, BW, COST, &err);
    if (!t) fprintf(stderr, "\n%s: %s\n", spec, err.msg);
    CU_ASSERT_PTR_NOT_NULL(t);
    return t;
}

/* route(a, b) is exactly `want` (n ids), hops agree, cost is the sum of the links' costs */
static void check_route(const stc_topology_t *t, int a, int b, const int *want, int n) {
    int got[64];
    int k = stc_topology_route(t, a, b, got, 64);
    CU_ASSERT_EQUAL(k, n);
    for (int i = 0; i < n && i < k; i++) CU_ASSERT_EQUAL(got[i], want[i]);
    CU_ASSERT_EQUAL(stc_topology_hops(t, a, b), n);
    double c = 0;
    for (int i = 0; i < n; i++) c += stc_topology_link(t, want[i])->cost;
    CU_ASSERT_EQUAL(stc_topology_cost(t, a, b), c);
}

/* every route is a chain of links from a to b, as long as hops says */
static void check_all_chains(const stc_topology_t *t) {
    int n = stc_topology_chips(t), bad = 0;
    int *r = malloc(70000 * sizeof *r);
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            int k = stc_topology_route(t, a, b, r, 70000), at = a;
            if (k != stc_topology_hops(t, a, b) || (a == b) != (k == 0)) bad++;
            for (int i = 0; i < k; i++) {
                const stc_link_t *l = stc_topology_link(t, r[i]);
                if (l->a == at) at = l->b;
                else if (l->b == at) at = l->a;
                else bad++;
            }
            if (at != b) bad++;
        }
    free(r);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_mesh(void) {
    stc_topology_t *t = parse_ok("mesh:4x4");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(stc_topology_name(t), "mesh:4x4");
    CU_ASSERT_EQUAL(stc_topology_kind(t), STC_TOPO_MESH);
    CU_ASSERT_STRING_EQUAL(stc_topology_cost_unit(t), "pJ");
    int dims[STC_TOPO_MAX_DIMS], c[STC_TOPO_MAX_DIMS];
    CU_ASSERT_EQUAL(stc_topology_dims(t, dims), 2);
    CU_ASSERT(dims[0] == 4 && dims[1] == 4);
    CU_ASSERT_EQUAL(stc_topology_chips(t), 16);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 4 * 3 + 4 * 3); /* A(B-1) + B(A-1) */
    stc_topology_coords(t, 13, c);
    CU_ASSERT(c[0] == 1 && c[1] == 3);
    /* X links first, by the chip they leave from; then Y links */
    const stc_link_t *l = stc_topology_link(t, 0);
    CU_ASSERT(l->a == 0 && l->b == 1 && l->level == 0 && l->bandwidth == BW && l->cost == COST);
    l = stc_topology_link(t, 5); /* X, leaving (2,1) */
    CU_ASSERT(l->a == 6 && l->b == 7 && l->level == 0);
    l = stc_topology_link(t, 12);
    CU_ASSERT(l->a == 0 && l->b == 4 && l->level == 1);
    l = stc_topology_link(t, 23); /* Y, leaving (3,2) */
    CU_ASSERT(l->a == 11 && l->b == 15 && l->level == 1);
    CU_ASSERT_PTR_NULL(stc_topology_link(t, 24));
    CU_ASSERT_PTR_NULL(stc_topology_link(t, -1));
    /* corner to corner: 6 hops, X first, never wrapping */
    check_route(t, 0, 15, (const int[]){0, 1, 2, 15, 19, 23}, 6);
    check_route(t, 15, 0, (const int[]){11, 10, 9, 20, 16, 12}, 6);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 0, 15), 6 * COST);
    check_route(t, 3, 0, (const int[]){2, 1, 0}, 3);
    check_route(t, 5, 5, NULL, 0);
    /* a short buffer gets the first ids and the full count */
    int r[3] = {-7, -7, -7};
    CU_ASSERT_EQUAL(stc_topology_route(t, 0, 15, r, 2), 6);
    CU_ASSERT(r[0] == 0 && r[1] == 1 && r[2] == -7);
    CU_ASSERT_EQUAL(stc_topology_route(t, 0, 15, NULL, 0), 6);
    /* not a chip */
    CU_ASSERT_EQUAL(stc_topology_route(t, -1, 0, r, 3), -1);
    CU_ASSERT_EQUAL(stc_topology_hops(t, 0, 16), -1);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 16, 0), -1.0);
    check_all_chains(t);
    stc_topology_destroy(&t);
    CU_ASSERT_PTR_NULL(t);
    stc_topology_destroy(&t); /* NULL is fine */

    t = parse_ok("mesh:3x4x5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 2 * 4 * 5 + 3 * 3 * 5 + 3 * 4 * 4);
    CU_ASSERT_EQUAL(stc_topology_hops(t, 0, 59), 2 + 3 + 4);
    stc_topology_coords(t, 59, c);
    CU_ASSERT(c[0] == 2 && c[1] == 3 && c[2] == 4);
    check_all_chains(t);
    stc_topology_destroy(&t);
}

static void test_mesh_lines(void) {
    stc_topology_t *t = parse_ok("mesh:1x8");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 7);
    check_route(t, 0, 7, (const int[]){0, 1, 2, 3, 4, 5, 6}, 7);
    CU_ASSERT_EQUAL(stc_topology_link(t, 0)->level, 1); /* the only links are Y links */
    check_all_chains(t);
    stc_topology_destroy(&t);
    t = parse_ok("mesh:8x1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 7);
    check_route(t, 7, 2, (const int[]){6, 5, 4, 3, 2}, 5);
    stc_topology_destroy(&t);
    t = parse_ok("mesh:1x1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_chips(t), 1);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 0);
    check_route(t, 0, 0, NULL, 0);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 0, 0), 0.0);
    stc_topology_destroy(&t);
    t = parse_ok("mesh:1x1x5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 4);
    CU_ASSERT_EQUAL(stc_topology_link(t, 3)->level, 2);
    check_route(t, 4, 0, (const int[]){3, 2, 1, 0}, 4);
    stc_topology_destroy(&t);
    t = parse_ok("mesh:1x65536");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 65535);
    CU_ASSERT_EQUAL(stc_topology_hops(t, 0, 65535), 65535);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 65535, 1), 65534 * COST);
    stc_topology_destroy(&t);
}

static void test_torus(void) {
    stc_topology_t *t = parse_ok("torus:4x4");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_kind(t), STC_TOPO_TORUS);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 2 * 4 * 4);
    /* the wrap link of row 0 leaves (3,0) towards (0,0): id 3, joins 0 and 3 */
    const stc_link_t *l = stc_topology_link(t, 3);
    CU_ASSERT(l->a == 0 && l->b == 3 && l->level == 0);
    l = stc_topology_link(t, 31); /* Y wrap of column 3 */
    CU_ASSERT(l->a == 3 && l->b == 15 && l->level == 1);
    /* corner to corner: 2 hops over the wrap links */
    check_route(t, 0, 15, (const int[]){3, 31}, 2);
    check_route(t, 15, 0, (const int[]){15, 28}, 2); /* (3,3) -> (0,3) by wrap id 3+4*3; -> (0,0) by 16+0+4*3 */
    /* a tie (distance 2 of 4) goes the positive way, both ways round */
    check_route(t, 0, 2, (const int[]){0, 1}, 2);
    check_route(t, 2, 0, (const int[]){2, 3}, 2);
    check_route(t, 1, 3, (const int[]){1, 2}, 2);
    int worst = 0;
    for (int b = 0; b < 16; b++)
        if (stc_topology_hops(t, 0, b) > worst) worst = stc_topology_hops(t, 0, b);
    CU_ASSERT_EQUAL(worst, 4);
    check_all_chains(t);
    stc_topology_destroy(&t);

    /* extent 2: one link between the pair, not two; the route never doubles up */
    t = parse_ok("torus:2x2x2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_chips(t), 8);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 12);
    check_route(t, 0, 7, (const int[]){0, 5, 11}, 3);
    check_route(t, 7, 0, (const int[]){3, 6, 8}, 3);
    l = stc_topology_link(t, 11);
    CU_ASSERT(l->a == 3 && l->b == 7 && l->level == 2);
    check_all_chains(t);
    stc_topology_destroy(&t);

    t = parse_ok("torus:2x2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 4);
    stc_topology_destroy(&t);
    t = parse_ok("torus:1x2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 1);
    stc_topology_destroy(&t);
    /* extent 3: the wrap is shorter one way */
    t = parse_ok("torus:3x1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 3);
    check_route(t, 0, 2, (const int[]){2}, 1);
    check_route(t, 2, 0, (const int[]){2}, 1);
    stc_topology_destroy(&t);
    t = parse_ok("torus:5x3x4");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 3 * 5 * 3 * 4);
    check_all_chains(t);
    stc_topology_destroy(&t);
}

static void test_hier(void) {
    stc_topology_t *t = parse_ok("hier:8x4");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_kind(t), STC_TOPO_HIER);
    int dims[STC_TOPO_MAX_DIMS], c[STC_TOPO_MAX_DIMS];
    CU_ASSERT_EQUAL(stc_topology_dims(t, dims), 2);
    CU_ASSERT(dims[0] == 4 && dims[1] == 8); /* level 0 (chips on a board) first */
    CU_ASSERT_EQUAL(stc_topology_chips(t), 32);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 8 * 6 + 28);
    stc_topology_coords(t, 6, c);
    CU_ASSERT(c[0] == 2 && c[1] == 1); /* chip 2 of board 1 */
    const stc_link_t *l = stc_topology_link(t, 7);
    CU_ASSERT(l->a == 4 && l->b == 6 && l->level == 0 && l->cost == COST && l->bandwidth == BW);
    l = stc_topology_link(t, 48); /* first board-to-board link: the gateways of boards 0 and 1 */
    CU_ASSERT(l->a == 0 && l->b == 4 && l->level == 1 && l->cost == 4 * COST && l->bandwidth == BW);
    l = stc_topology_link(t, 75);
    CU_ASSERT(l->a == 24 && l->b == 28 && l->level == 1);
    /* same board: one link at level-0 cost */
    check_route(t, 1, 2, (const int[]){3}, 1);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 1, 2), COST);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 30, 29), COST);
    /* different boards: up to the gateway, across, down */
    check_route(t, 1, 6, (const int[]){0, 48, 7}, 3);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 1, 6), COST + 4 * COST + COST);
    check_route(t, 0, 4, (const int[]){48}, 1);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 0, 4), 4 * COST);
    check_route(t, 31, 5, (const int[]){44, 60, 6}, 3); /* board 7 -> board 1: pair (1,7) is 48 + 12 */
    check_all_chains(t);
    stc_topology_destroy(&t);

    /* three levels: racks of boards of chips */
    t = parse_ok("hier:2x2x2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 4 + 2 + 1);
    check_route(t, 3, 7, (const int[]){1, 4, 6, 5, 3}, 5);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 3, 7), COST + 4 * COST + 16 * COST + 4 * COST + COST);
    CU_ASSERT_EQUAL(stc_topology_link(t, 6)->level, 2);
    CU_ASSERT(stc_topology_link(t, 6)->a == 0 && stc_topology_link(t, 6)->b == 4);
    check_all_chains(t);
    stc_topology_destroy(&t);

    t = parse_ok("hier:1x4"); /* one board */
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 6);
    stc_topology_destroy(&t);
    t = parse_ok("hier:4x1"); /* four boards of one chip */
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 6);
    CU_ASSERT_EQUAL(stc_topology_link(t, 0)->level, 1);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 3, 1), 4 * COST);
    stc_topology_destroy(&t);
}

static void test_files(void) {
    stc_err_t err = {0};
    /* figures from the file win over the defaults given */
    const char *path = STC_SOURCE_DIR "/deploy/topologies/torus-4x4.json";
    stc_topology_t *t = stc_topology_parse(path, 1.0, 1.0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(stc_topology_name(t), path);
    CU_ASSERT_EQUAL(stc_topology_kind(t), STC_TOPO_TORUS);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 32);
    CU_ASSERT_EQUAL(stc_topology_link(t, 0)->bandwidth, 1.15e8);
    CU_ASSERT_EQUAL(stc_topology_link(t, 31)->bandwidth, 1.15e8);
    CU_ASSERT_EQUAL(stc_topology_link(t, 0)->cost, 105.0);
    CU_ASSERT_EQUAL(stc_topology_link(t, 31)->cost, 210.0);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 0, 15), 105.0 + 210.0);
    stc_topology_destroy(&t);

    path = STC_SOURCE_DIR "/deploy/topologies/hier-2x2.json";
    t = stc_topology_parse(path, 1.0, 1.0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_kind(t), STC_TOPO_HIER);
    CU_ASSERT_EQUAL(stc_topology_chips(t), 4);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 3);
    CU_ASSERT_EQUAL(stc_topology_link(t, 2)->bandwidth, 5.75e7);
    CU_ASSERT_EQUAL(stc_topology_link(t, 2)->cost, 420.0);
    CU_ASSERT_EQUAL(stc_topology_link(t, 1)->bandwidth, 1.15e8);
    check_route(t, 1, 3, (const int[]){0, 2, 1}, 3);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 1, 3), 105.0 + 420.0 + 105.0);
    CU_ASSERT_EQUAL(stc_topology_cost(t, 2, 3), 105.0);
    stc_topology_destroy(&t);

    /* what a file leaves out comes from the defaults (x4 cost per hierarchy level); one number for all */
    const char *j = "{\"format\": \"stc-topology 1\", \"kind\": \"hier\", \"cost_unit\": \"relative\","
                    " \"levels\": {\"value\": [4, 2], \"assumption\": \"a test\"},"
                    " \"bandwidth\": {\"value\": 7, \"source\": \"a test\"}}";
    t = stc_topology_parse_json(j, strlen(j), "inline.json", 100.0, 2.0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(stc_topology_name(t), "inline.json");
    CU_ASSERT_STRING_EQUAL(stc_topology_cost_unit(t), "relative");
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 2 * 6 + 1);
    CU_ASSERT(stc_topology_link(t, 0)->cost == 2.0 && stc_topology_link(t, 0)->bandwidth == 7.0);
    CU_ASSERT(stc_topology_link(t, 12)->cost == 8.0 && stc_topology_link(t, 12)->bandwidth == 7.0);
    stc_topology_destroy(&t);
    j = "{\"format\": \"stc-topology 1\", \"kind\": \"mesh\", \"dims\": {\"value\": [3, 2, 2], \"assumption\": \"t\"}}";
    t = stc_topology_parse_json(j, strlen(j), "mesh.json", 100.0, 2.0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(stc_topology_n_links(t), 2 * 2 * 2 + 3 * 1 * 2 + 3 * 2 * 1);
    CU_ASSERT(stc_topology_link(t, 19)->cost == 2.0 && stc_topology_link(t, 19)->bandwidth == 100.0);
    stc_topology_destroy(&t);
}

/* `spec` is refused with status st and a message containing msg */
static void spec_err(const char *spec, stc_status_t st, const char *msg) {
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse(spec, BW, COST, &err);
    CU_ASSERT_PTR_NULL(t);
    stc_topology_destroy(&t);
    CU_ASSERT_EQUAL(err.status, st);
    if (!strstr(err.msg, msg)) fprintf(stderr, "\nspec %s: got '%s', expected '%s'\n", spec, err.msg, msg);
    STC_ASSERT_CONTAINS(err.msg, msg);
}

static void test_bad_specs(void) {
    spec_err("ring:4x4", STC_E_FORMAT, "ring:4x4: kind 'ring' is unknown, expected mesh, torus or hier");
    spec_err("Mesh:4x4", STC_E_FORMAT, "Mesh:4x4: kind 'Mesh' is unknown");
    spec_err("4x4", STC_E_FORMAT, "4x4: expected KIND:AxB[xC] (mesh, torus or hier) or a topology file");
    spec_err("", STC_E_FORMAT, ": expected KIND:AxB[xC]");
    spec_err("torus:4x0", STC_E_FORMAT, "torus:4x0: dimension 2 is 0, expected 1..65536");
    spec_err("mesh:0x4", STC_E_FORMAT, "mesh:0x4: dimension 1 is 0, expected 1..65536");
    spec_err("mesh:65537x1", STC_E_FORMAT, "mesh:65537x1: dimension 1 is 65537, expected 1..65536");
    spec_err("mesh:2x999999999999999999999999999999", STC_E_FORMAT,
             "dimension 2 is 999999999999999999999999..., expected 1..65536");
    spec_err("mesh:300x300", STC_E_LIMIT, "mesh:300x300: 90000 chips, limit 65536");
    spec_err("torus:64x64x17", STC_E_LIMIT, "torus:64x64x17: 69632 chips, limit 65536");
    spec_err("mesh:2x2x2x2", STC_E_FORMAT, "mesh:2x2x2x2: 4 dimensions, expected 2 or 3");
    spec_err("hier:2x2x2x2", STC_E_FORMAT, "hier:2x2x2x2: 4 dimensions, expected 2 or 3");
    spec_err("mesh:8", STC_E_FORMAT, "mesh:8: 1 dimension, expected 2 or 3");
    spec_err("mesh:4x4y", STC_E_FORMAT, "mesh:4x4y: after dimension 2: expected 'x' or the end, found 'y'");
    spec_err("mesh:4X4", STC_E_FORMAT, "mesh:4X4: after dimension 1: expected 'x' or the end, found 'X4'");
    spec_err("mesh:4x4 ", STC_E_FORMAT, "after dimension 2: expected 'x' or the end, found ' '");
    spec_err("mesh:4x", STC_E_FORMAT, "mesh:4x: dimension 2: expected a number, found the end");
    spec_err("mesh:", STC_E_FORMAT, "mesh:: dimension 1: expected a number, found the end");
    spec_err("mesh:-4x4", STC_E_FORMAT, "mesh:-4x4: dimension 1: expected a number, found '-'");
    spec_err("mesh:4xx4", STC_E_FORMAT, "mesh:4xx4: dimension 2: expected a number, found 'x'");
    spec_err("mesh:4x4\x01", STC_E_FORMAT, "mesh:4x4\\x01: after dimension 2: expected 'x' or the end, found '\\x01'");
    spec_err("hier:2x2048", STC_E_LIMIT,
             "hier:2x2048: 4192257 links (a hierarchy joins every pair of a group), limit 1048576");
    spec_err("/nonexistent/topo.json", STC_E_IO, "/nonexistent/topo.json: cannot open");
    spec_err("topo.json", STC_E_IO, "topo.json: cannot open");
    char *long_spec = malloc(5000);
    memset(long_spec, 'x', 4999);
    long_spec[4999] = 0;
    spec_err(long_spec, STC_E_LIMIT, "topology spec longer than 4096 bytes");
    free(long_spec);

    stc_err_t err = {0};
    CU_ASSERT_PTR_NULL(stc_topology_parse(NULL, BW, COST, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_USAGE);
    CU_ASSERT_PTR_NULL(stc_topology_parse("mesh:2x2", -1.0, COST, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "mesh:2x2: default bandwidth is -1, expected a number in (0, 1e+15]");
    CU_ASSERT_PTR_NULL(stc_topology_parse("mesh:2x2", BW, NAN, &err));
    STC_ASSERT_CONTAINS(err.msg, "mesh:2x2: default cost is nan");
}

/* `json` is refused with status st and a message containing msg */
static void file_err(const char *json, stc_status_t st, const char *msg) {
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse_json(json, strlen(json), "my.json", BW, COST, &err);
    CU_ASSERT_PTR_NULL(t);
    stc_topology_destroy(&t);
    CU_ASSERT_EQUAL(err.status, st);
    if (!strstr(err.msg, msg)) fprintf(stderr, "\n%s: got '%s', expected '%s'\n", json, err.msg, msg);
    STC_ASSERT_CONTAINS(err.msg, msg);
}

#define HEAD "{\"format\": \"stc-topology 1\", "
#define DIMS44 "\"dims\": {\"value\": [4, 4], \"assumption\": \"t\"}"

static void test_bad_files(void) {
    file_err("{", STC_E_FORMAT, "my.json: not valid JSON");
    file_err("", STC_E_FORMAT, "my.json: not valid JSON");
    file_err("[1, 2]", STC_E_FORMAT, "my.json: expected a JSON object with \"format\": \"stc-topology 1\"");
    file_err("{\"format\": \"stc-topology 2\"}", STC_E_FORMAT, "\"format\": \"stc-topology 1\"");
    file_err(HEAD DIMS44 "}", STC_E_FORMAT, "my.json: field 'kind' is missing, expected \"mesh\", \"torus\" or \"hier\"");
    file_err(HEAD "\"kind\": \"ring\", " DIMS44 "}", STC_E_FORMAT,
             "my.json: field 'kind' is 'ring', expected \"mesh\", \"torus\" or \"hier\"");
    file_err(HEAD "\"kind\": 3, " DIMS44 "}", STC_E_FORMAT, "my.json: field 'kind' is not a string");
    file_err(HEAD "\"kind\": \"torus\"}", STC_E_FORMAT, "my.json: field 'dims' is missing");
    file_err(HEAD "\"kind\": \"hier\"}", STC_E_FORMAT, "my.json: field 'levels' is missing");
    file_err(HEAD "\"kind\": \"hier\", " DIMS44 "}", STC_E_FORMAT,
             "my.json: field 'dims' does not apply to kind 'hier' (a hierarchy gives 'levels'");
    file_err(HEAD "\"kind\": \"mesh\", \"levels\": {\"value\": [4, 4], \"assumption\": \"t\"}}", STC_E_FORMAT,
             "my.json: field 'levels' does not apply to kind 'mesh'");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": [4, 4]}", STC_E_FORMAT,
             "my.json: field 'dims' must be {\"value\": ..., \"source\" or \"assumption\": \"...\"}");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [4, 4]}}", STC_E_FORMAT,
             "my.json: field 'dims' needs exactly one of \"source\" (a published figure) or \"assumption\" (why this "
             "value), found neither");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [4, 4], \"source\": \"a\", \"assumption\": \"b\"}}",
             STC_E_FORMAT, "found both");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [4, 4], \"source\": \"a\", \"x\": 1}}", STC_E_FORMAT,
             "my.json: field 'dims': expected only \"value\" and \"source\", found 3 keys");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [4, 0], \"source\": \"a\"}}", STC_E_FORMAT,
             "my.json: field 'dims' entry 2 is 0, expected a whole number in 1..65536");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [2.5, 2], \"source\": \"a\"}}", STC_E_FORMAT,
             "my.json: field 'dims' entry 1 is 2.5, expected a whole number in 1..65536");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [1e300, 2], \"source\": \"a\"}}", STC_E_FORMAT,
             "my.json: field 'dims' entry 1 is 1e+300, expected a whole number in 1..65536");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [2, \"2\"], \"source\": \"a\"}}", STC_E_FORMAT,
             "my.json: field 'dims' entry 2: expected a whole number in 1..65536, found a non-number");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [2, 2, 2, 2], \"source\": \"a\"}}", STC_E_FORMAT,
             "my.json: field 'dims': expected 2 or 3 entries, found 4");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [8], \"source\": \"a\"}}", STC_E_FORMAT,
             "my.json: field 'dims': expected 2 or 3 entries, found 1");
    file_err(HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": 8, \"source\": \"a\"}}", STC_E_FORMAT,
             "my.json: field 'dims': expected an array of 2 or 3 whole numbers");
    file_err(HEAD "\"kind\": \"torus\", \"dims\": {\"value\": [256, 257], \"source\": \"a\"}}", STC_E_LIMIT,
             "my.json: 65792 chips, limit 65536");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"bandwidth\": {\"value\": [1e8, -5], \"assumption\": \"t\"}}",
             STC_E_FORMAT, "my.json: field 'bandwidth' entry 2 is -5, expected a number in (0, 1e+15]");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"bandwidth\": {\"value\": 0, \"assumption\": \"t\"}}",
             STC_E_FORMAT, "my.json: field 'bandwidth' is 0, expected a number in (0, 1e+15]");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"cost\": {\"value\": [1, 2, 3], \"assumption\": \"t\"}}",
             STC_E_FORMAT, "my.json: field 'cost': expected a number or an array of 2 numbers (one per dimension or "
             "level), found an array of 3");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"cost\": {\"value\": [1, null], \"assumption\": \"t\"}}",
             STC_E_FORMAT, "my.json: field 'cost' entry 2: expected a number, found a non-number");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"cost\": {\"value\": -1, \"assumption\": \"t\"}}",
             STC_E_FORMAT, "my.json: field 'cost' is -1, expected a number in [0, 1e+09]");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"cost\": 5}", STC_E_FORMAT,
             "my.json: field 'cost' must be {\"value\"");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"cost\": {\"value\": \"5\", \"assumption\": \"t\"}}",
             STC_E_FORMAT, "my.json: field 'cost': expected a number or an array of 2 numbers (one per dimension or "
             "level), found something else");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"bandwith\": 5}", STC_E_FORMAT,
             "my.json: unknown field 'bandwith'");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", " DIMS44 "}", STC_E_FORMAT, "my.json: field 'dims' appears twice");
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 ", \"cost_unit\": \"nJ\"}", STC_E_FORMAT,
             "my.json: field 'cost_unit': expected \"pJ\" or \"relative\"");
    file_err(HEAD "\"kind\": \"hier\", \"levels\": {\"value\": [2048, 2], \"assumption\": \"t\"}}", STC_E_LIMIT,
             "my.json: 4192257 links (a hierarchy joins every pair of a group), limit 1048576");

    /* a file over 1 MB is refused before it is parsed */
    size_t big = (1u << 20) + 1;
    char *buf = malloc(big);
    memset(buf, ' ', big);
    stc_err_t err = {0};
    CU_ASSERT_PTR_NULL(stc_topology_parse_json(buf, big, "big.json", BW, COST, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "big.json: 1048577 bytes, limit 1048576");
    free(buf);
    const char *j = HEAD "\"kind\": \"torus\", " DIMS44 "}";
    CU_ASSERT_PTR_NULL(stc_topology_parse_json(j, strlen(j), "my.json", BW, -2.0, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "my.json: default cost is -2");
}

/* `json` (n bytes) loads; the caller destroys it */
static stc_topology_t *json_ok(const char *json, size_t n, double default_cost) {
    stc_err_t err = {0};
    stc_topology_t *t = stc_topology_parse_json(json, n, "my.json", BW, default_cost, &err);
    if (!t) fprintf(stderr, "\n%s: %s\n", json, err.msg);
    CU_ASSERT_PTR_NOT_NULL(t);
    return t;
}

#define TORUS_COST(v, unit)                                                                         \
    HEAD "\"kind\": \"torus\", " DIMS44 ", \"cost\": {\"value\": " v ", \"assumption\": \"t\"}, \"cost_unit\": \"" unit \
         "\"}"

/* Relative costs: the cheapest link costs the default (the target's energy_chip_hop_pj), the
 * others in proportion; every cost figure (links, routes, the placement's cost-weighted
 * traffic) is then pJ, as with a pJ file of the scaled numbers. */
static void test_relative(void) {
    const char *rel = TORUS_COST("[1, 2]", "relative"), *pj = TORUS_COST("[105, 210]", "pJ");
    stc_topology_t *r = json_ok(rel, strlen(rel), COST), *p = json_ok(pj, strlen(pj), COST);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(stc_topology_cost_unit(r), "relative");
    CU_ASSERT_EQUAL(stc_topology_link(r, 0)->cost, 105.0);  /* X: the cheapest, one chip hop */
    CU_ASSERT_EQUAL(stc_topology_link(r, 31)->cost, 210.0); /* Y: twice that */
    CU_ASSERT_EQUAL(stc_topology_cost(r, 0, 5), 315.0);
    for (int a = 0; a < 16; a++)
        for (int b = 0; b < 16; b++) CU_ASSERT_EQUAL(stc_topology_cost(r, a, b), stc_topology_cost(p, a, b));
    /* the partition report's cost-weighted traffic: 10 spikes chip 0 -> 5 (X then Y), 4 spikes 0 -> 1 (X) */
    int64_t xadj[] = {0, 2, 3, 4};
    int32_t adj[] = {1, 2, 0, 0};
    double traffic[] = {10, 4, 10, 4};
    stc_pgraph_t g = {3, NULL, xadj, adj, traffic, 0, 0};
    int chip_of[] = {0, 5, 1};
    stc_place_eval_t er, ep;
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_place_evaluate(&g, r, 1, chip_of, &er, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_place_evaluate(&g, p, 1, chip_of, &ep, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(er.cost_weighted_traffic, 10 * 315.0 + 4 * 105.0);
    CU_ASSERT_EQUAL(ep.cost_weighted_traffic, er.cost_weighted_traffic);
    stc_topology_destroy(&r);
    stc_topology_destroy(&p);

    /* only the ratios count: [3, 6] is [1, 2]; a loader given another chip hop scales with it */
    rel = TORUS_COST("[3, 6]", "relative");
    r = json_ok(rel, strlen(rel), 2.0);
    CU_ASSERT(r && stc_topology_link(r, 0)->cost == 2.0 && stc_topology_link(r, 16)->cost == 4.0);
    stc_topology_destroy(&r);
    /* the same file in pJ is taken as it is */
    pj = TORUS_COST("[3, 6]", "pJ");
    p = json_ok(pj, strlen(pj), 2.0);
    CU_ASSERT(p && stc_topology_link(p, 0)->cost == 3.0 && stc_topology_link(p, 16)->cost == 6.0);
    stc_topology_destroy(&p);
    /* a free link stays free and the cheapest of the others sets the scale; all free: all 0 */
    rel = TORUS_COST("[0, 4]", "relative");
    r = json_ok(rel, strlen(rel), COST);
    CU_ASSERT(r && stc_topology_link(r, 0)->cost == 0.0 && stc_topology_link(r, 16)->cost == COST);
    stc_topology_destroy(&r);
    rel = TORUS_COST("0", "relative");
    r = json_ok(rel, strlen(rel), COST);
    CU_ASSERT(r && stc_topology_link(r, 0)->cost == 0.0 && stc_topology_link(r, 31)->cost == 0.0);
    stc_topology_destroy(&r);
    /* a dimension without links does not set the scale: a 1x4 line's Y links are the cheapest */
    rel = HEAD "\"kind\": \"mesh\", \"dims\": {\"value\": [1, 4], \"assumption\": \"t\"}, "
          "\"cost\": {\"value\": [1, 5], \"assumption\": \"t\"}, \"cost_unit\": \"relative\"}";
    r = json_ok(rel, strlen(rel), COST);
    CU_ASSERT(r && stc_topology_n_links(r) == 3 && stc_topology_link(r, 0)->cost == COST);
    stc_topology_destroy(&r);
    /* a hierarchy's default shape (x4 per level) when the file gives no cost: level 0 is a chip hop */
    rel = HEAD "\"kind\": \"hier\", \"levels\": {\"value\": [2, 2, 2], \"assumption\": \"t\"}, "
          "\"cost_unit\": \"relative\"}";
    r = json_ok(rel, strlen(rel), COST);
    CU_ASSERT(r && stc_topology_link(r, 0)->cost == COST && stc_topology_link(r, 4)->cost == 4 * COST &&
              stc_topology_link(r, 6)->cost == 16 * COST);
    stc_topology_destroy(&r);
    /* a ratio that puts a link over 1e9 pJ is refused, naming the entry */
    file_err(TORUS_COST("[1e-6, 1e9]", "relative"), STC_E_FORMAT,
             "my.json: field 'cost' entry 2: relative cost 1e+09 is 1e+15 times the cheapest link's, 1.05e+17 pJ at "
             "105 pJ per chip hop, expected at most 1e+09 pJ");
}

/* One JSON value, then only whitespace: trailing text (or a NUL) is refused at its byte offset. */
static void test_trailing(void) {
    const char *ok = HEAD "\"kind\": \"torus\", " DIMS44 "} \n\t\r\n";
    stc_topology_t *t = json_ok(ok, strlen(ok), COST);
    CU_ASSERT(t && stc_topology_n_links(t) == 32);
    stc_topology_destroy(&t);
    char want[160];
    size_t end = strlen(HEAD "\"kind\": \"torus\", " DIMS44 "}");
    snprintf(want, sizeof want, "my.json: text after the JSON value at byte offset %zu ('trailing'), expected only "
             "whitespace", end + 1);
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 "} trailing", STC_E_FORMAT, want);
    snprintf(want, sizeof want, "my.json: text after the JSON value at byte offset %zu ('{}'), expected only "
             "whitespace", end);
    file_err(HEAD "\"kind\": \"torus\", " DIMS44 "}{}", STC_E_FORMAT, want);
    file_err("{\"format\": 1", STC_E_FORMAT, "my.json: not valid JSON (at byte offset 11)");
    file_err("", STC_E_FORMAT, "my.json: not valid JSON (the file is empty)");
    /* a NUL after the value, or inside it, with the length given */
    const char nul[] = "{\"format\": \"stc-topology 1\"}\0x";
    stc_err_t err = {0};
    CU_ASSERT_PTR_NULL(stc_topology_parse_json(nul, sizeof nul - 1, "my.json", BW, COST, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "my.json: a NUL byte at byte offset 28, expected JSON text");
    /* through stc_topology_parse, from a file: the path names it */
    char path[64];
    snprintf(path, sizeof path, "/tmp/stc_topo_trail_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(HEAD "\"kind\": \"torus\", " DIMS44 "}\n}\n", f);
    fclose(f);
    CU_ASSERT_PTR_NULL(stc_topology_parse(path, BW, COST, &err));
    snprintf(want, sizeof want, "%s: text after the JSON value at byte offset %zu ('}\\x0a'), expected only "
             "whitespace", path, end + 1);
    if (!strstr(err.msg, want)) fprintf(stderr, "\ngot '%s', expected '%s'\n", err.msg, want);
    STC_ASSERT_CONTAINS(err.msg, want);
    remove(path);
}

/* --topology naming something that is not a regular file: said so, never a size from seeking it,
 * never a wait on a FIFO; the size limit comes from the file's own record. */
static void test_not_files(void) {
    stc_err_t err = {0};
    unsigned char *data = (unsigned char *)"x";
    size_t n = 7;
    CU_ASSERT_EQUAL(stc_read_file("/tmp", 100, &data, &n, &err), STC_E_IO);
    CU_ASSERT(data == NULL && n == 0);
    CU_ASSERT_STRING_EQUAL(err.msg, "/tmp: not a regular file (a directory)");
    CU_ASSERT_PTR_NULL(stc_topology_parse("/tmp", BW, COST, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "/tmp: not a regular file (a directory)");
    CU_ASSERT_PTR_NULL(stc_topology_parse("/dev/null", BW, COST, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "/dev/null: not a regular file (a character device)");
    char path[64], want[160];
    snprintf(path, sizeof path, "/tmp/stc_topo_fifo_%d.json", (int)getpid());
    remove(path);
    CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
    CU_ASSERT_PTR_NULL(stc_topology_parse(path, BW, COST, &err)); /* returns: does not wait for a writer */
    snprintf(want, sizeof want, "%s: not a regular file (a FIFO)", path);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    remove(path);
    CU_ASSERT_PTR_NULL(stc_topology_parse("/nonexistent/t.json", BW, COST, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "/nonexistent/t.json: cannot open: ");
    /* a regular file: its size against the limit, then the bytes, NUL-terminated */
    snprintf(path, sizeof path, "/tmp/stc_topo_size_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("0123456789ab", f);
    fclose(f);
    CU_ASSERT_EQUAL(stc_read_file(path, 11, &data, &n, &err), STC_E_LIMIT);
    snprintf(want, sizeof want, "%s: file is 12 bytes, limit is 11", path);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    CU_ASSERT_EQUAL_FATAL(stc_read_file(path, 12, &data, &n, &err), STC_OK);
    CU_ASSERT(n == 12 && !memcmp(data, "0123456789ab", 13));
    free(data);
    remove(path);
}

void stc_suite_topology(void) {
    static const stc_test_t tests[] = {{"mesh", test_mesh},
                                       {"mesh lines (1xN)", test_mesh_lines},
                                       {"torus", test_torus},
                                       {"hierarchy", test_hier},
                                       {"topology files", test_files},
                                       {"bad specs", test_bad_specs},
                                       {"bad files", test_bad_files},
                                       {"relative costs", test_relative},
                                       {"trailing text", test_trailing},
                                       {"not regular files", test_not_files},
                                       {NULL, NULL}};
    stc_add_suite("topology", tests);
}
