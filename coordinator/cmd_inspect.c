/* cmd_inspect.c - `stc-coord inspect`: what a checkpoint is and what it will cost.
 *
 * Per IR node: op, shape, neurons (LIF outputs), unique weights, synapses
 * expanded over positions, parameter memory, and per-timestep MACs (real
 * inputs) or ACs (spike inputs, dense upper bound: measured spike counts come
 * from `run`).  The parameter total counts what the forward pass uses, as the
 * papers do (no BatchNorm statistics, no unused LayerNorms).
 * A compiled bundle (M.stc) gets its manifest instead: model, target, shape,
 * cores and chips, and the placement: the topology (and whether the bundle
 * carries its file) and the busiest link the partitioner expects: the one with
 * the most link time per inference (its spikes over its bandwidth, the
 * partition report's max_link_load), ties to the most spikes, then the lowest id.
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"
#include "stc_partition.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "torus 4x4", "hier 8x4" (as a spec writes it: a hierarchy top-down), what a file's name does not say */
static void topo_shape(const stc_topology_t *t, char *buf, size_t cap) {
    int dims[STC_TOPO_MAX_DIMS], nd = stc_topology_dims(t, dims), hier = stc_topology_kind(t) == STC_TOPO_HIER;
    int n = snprintf(buf, cap, "%s ", stc_topology_kind_word(t));
    for (int d = 0; d < nd && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%d", d ? "x" : "", dims[hier ? nd - 1 - d : d]);
}

static const char *human(int64_t v, char *buf, size_t cap) {
    if (v >= 1000000000) snprintf(buf, cap, "%.2fG", v / 1e9);
    else if (v >= 1000000) snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 10000) snprintf(buf, cap, "%.1fk", v / 1e3);
    else snprintf(buf, cap, "%lld", (long long)v);
    return buf;
}

static const char *fmt_shape(stc_shape_t s, char *buf, size_t cap) {
    snprintf(buf, cap, "[%d,%d,%d]", s.c, s.h, s.w);
    return buf;
}

/* inspect M.stc: the manifest and the placement. */
static int inspect_bundle(coord_opts_t *o) {
    stc_err_t err = {0};
    stc_bundle_t *b = stc_bundle_read(o->model, &err);
    if (!b) {
        coord_fail(&err);
        return 1;
    }
    int chips_used = stc_bundle_chips_used(b);
    /* the topology as the partitioner loaded it: the carried file, else the spec, with the
     * target's link figures where it gives none (so that loads are seconds, as in its report) */
    stc_topology_t *topo = NULL;
    stc_err_t te = {0}, tge = {0};
    stc_target_t tg;
    int have_target = !(b->target_json ? stc_target_parse(b->target_json, strlen(b->target_json), b->target, &tg, &tge)
                                       : stc_target_load(b->target, &tg, &tge));
    double dbw = have_target ? tg.chip_link_spikes_per_s : 1, dcost = have_target ? tg.energy_chip_hop_pj : 1;
    if (b->topology[0]) topo = stc_topology_of_bundle(b, dbw, dcost, &te);
    /* the busiest link: the most link time (spikes / bandwidth) when the topology loads and
     * matches the recorded links, else the most spikes */
    int busiest = -1, by_load = topo && stc_topology_n_links(topo) == b->n_links;
    double total = 0, best = 0;
    for (int l = 0; l < b->n_links; l++) {
        double x = b->link_traffic[l];
        total += x;
        if (!(x > 0)) continue;
        double load = by_load ? x / stc_topology_link(topo, l)->bandwidth : x;
        if (busiest < 0 || load > best || (load == best && x > b->link_traffic[busiest])) busiest = l, best = load;
    }
    const stc_link_t *bl = topo && busiest >= 0 && busiest < stc_topology_n_links(topo)
                               ? stc_topology_link(topo, busiest) : NULL;
    if (o->json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "bundle", o->model);
        cJSON_AddStringToObject(r, "model", b->model);
        cJSON_AddStringToObject(r, "source", b->source);
        cJSON_AddStringToObject(r, "target", b->target);
        cJSON_AddStringToObject(r, "options", b->options);
        cJSON_AddNumberToObject(r, "T", b->T);
        cJSON_AddNumberToObject(r, "ticks", b->ticks);
        int sh[3] = {b->in_c, b->in_h, b->in_w};
        cJSON_AddItemToObject(r, "input_shape", cJSON_CreateIntArray(sh, 3));
        cJSON_AddNumberToObject(r, "classes", b->n_out);
        cJSON_AddNumberToObject(r, "stages", b->n_stages);
        cJSON_AddNumberToObject(r, "projections", b->n_projs);
        cJSON_AddNumberToObject(r, "cores", b->n_cores - 1);
        cJSON_AddNumberToObject(r, "chips", b->n_chips);
        cJSON_AddNumberToObject(r, "chips_used", chips_used);
        if (b->topology[0]) {
            cJSON *tj = cJSON_AddObjectToObject(r, "topology");
            cJSON_AddStringToObject(tj, "name", b->topology);
            cJSON_AddBoolToObject(tj, "file_carried", b->topology_json != NULL);
            if (topo) {
                int dims[STC_TOPO_MAX_DIMS], nd = stc_topology_dims(topo, dims);
                cJSON_AddStringToObject(tj, "kind", stc_topology_kind_word(topo));
                cJSON_AddItemToObject(tj, stc_topology_kind(topo) == STC_TOPO_HIER ? "levels" : "dims",
                                      cJSON_CreateIntArray(dims, nd));
                cJSON_AddNumberToObject(tj, "chips", stc_topology_chips(topo));
                cJSON_AddNumberToObject(tj, "links", stc_topology_n_links(topo));
            } else {
                cJSON_AddStringToObject(tj, "error", te.msg);
            }
            cJSON_AddNumberToObject(tj, "recorded_links", b->n_links);
            if (b->n_links) cJSON_AddNumberToObject(tj, "link_traffic_total", total);
            if (busiest >= 0) {
                cJSON *bj = cJSON_AddObjectToObject(tj, "busiest_link");
                cJSON_AddNumberToObject(bj, "id", busiest);
                if (bl) {
                    int ab[2] = {bl->a, bl->b};
                    cJSON_AddItemToObject(bj, "chips", cJSON_CreateIntArray(ab, 2));
                }
                cJSON_AddNumberToObject(bj, "spikes_per_inference", b->link_traffic[busiest]);
                if (by_load) {
                    cJSON_AddNumberToObject(bj, "bandwidth_spikes_per_s", bl->bandwidth);
                    cJSON_AddNumberToObject(bj, "load_s_per_inference", best);
                }
            } else {
                cJSON_AddNullToObject(tj, "busiest_link");
            }
        } else {
            cJSON_AddNullToObject(r, "topology");
        }
        char *s = cJSON_Print(r);
        puts(s);
        free(s);
        cJSON_Delete(r);
    } else {
        printf("bundle       %s\n", o->model);
        printf("model        %s from %s\n", b->model, b->source[0] ? b->source : "?");
        printf("target       %s (%s)\n", b->target, b->options);
        printf("input        [%d,%d,%d] x T=%d (%d ticks per inference)   output %d classes\n", b->in_c, b->in_h,
               b->in_w, b->T, b->ticks, b->n_out);
        printf("hardware     %d stages, %d projections, %d cores on %d of %d chip%s\n", b->n_stages, b->n_projs,
               b->n_cores - 1, chips_used, b->n_chips, b->n_chips == 1 ? "" : "s");
        if (!b->topology[0]) {
            printf("topology     none (not partitioned: chips in first-fit order)\n");
        } else if (topo) {
            char shape[64];
            topo_shape(topo, shape, sizeof shape);
            printf("topology     %s: %s, %d chips, %d links (%s)\n", b->topology, shape, stc_topology_chips(topo),
                   stc_topology_n_links(topo),
                   b->topology_json ? "the bundle carries its file" : "a spec: it describes itself");
        } else {
            printf("topology     %s: does not load: %s\n", b->topology, te.msg);
        }
        if (b->topology[0] && !b->n_links)
            printf("busiest link not recorded (partitioned by an stc that did not keep the link traffic)\n");
        else if (b->n_links && busiest < 0)
            printf("busiest link none: no spikes expected between chips\n");
        else if (busiest >= 0 && by_load)
            printf("busiest link %d, chips %d-%d: load %.6g s per inference expected (%.6g spikes at %.6g spikes/s; "
                   "%.6g spikes on all %d links)\n", busiest, bl->a, bl->b, best, b->link_traffic[busiest],
                   bl->bandwidth, total, b->n_links);
        else if (busiest >= 0 && bl)
            printf("busiest link %d, chips %d-%d: %.6g spikes per inference expected (%.6g on all %d links)\n",
                   busiest, bl->a, bl->b, b->link_traffic[busiest], total, b->n_links);
        else if (busiest >= 0)
            printf("busiest link %d: %.6g spikes per inference expected (%.6g on all %d links)\n", busiest,
                   b->link_traffic[busiest], total, b->n_links);
    }
    stc_topology_destroy(&topo);
    stc_bundle_destroy(&b);
    return 0;
}

int cmd_inspect(coord_opts_t *o) {
    if (coord_is_bundle(o->model)) return inspect_bundle(o);
    stc_err_t err = {0};
    coord_model_t m;
    if (coord_load_model(o, &m, &err)) {
        coord_fail(&err);
        coord_model_free(&m);
        return 1;
    }
    stc_ir_t *ir = m.ir;
    if (o->dot) {
        FILE *f = fopen(o->dot, "w");
        if (!f || stc_ir_dot(ir, f, &err)) {
            fprintf(stderr, "stc-coord: error: %s: cannot write the Graphviz file\n", o->dot);
            if (f) fclose(f);
            coord_model_free(&m);
            return 1;
        }
        fclose(f);
    }
    if (o->dump_ir) {
        FILE *f = strcmp(o->dump_ir, "-") ? fopen(o->dump_ir, "w") : stdout;
        if (!f || stc_ir_print(ir, f, o->dump_weights ? STC_IR_PRINT_WEIGHTS : 0, &err)) {
            fprintf(stderr, "stc-coord: error: %s: cannot write the IR\n", o->dump_ir);
            coord_model_free(&m);
            return 1;
        }
        if (f != stdout) fclose(f);
    }
    stc_cost_t tot = {0};
    int64_t lifs = 0;
    for (int i = 0; i < ir->n_nodes; i++) {
        stc_cost_t c;
        stc_ir_cost(ir, i, &c);
        tot.neurons += c.neurons;
        tot.params += c.params;
        tot.connections += c.connections;
        tot.mem_bytes += c.mem_bytes;
        tot.macs += c.macs;
        tot.acs += c.acs;
        lifs += ir->nodes[i].op == STC_OP_LIF;
    }
    const stc_node_t *in = &ir->nodes[0], *out = &ir->nodes[ir->n_nodes - 1];
    if (o->json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "model", o->model);
        if (m.ck) {
            cJSON_AddStringToObject(r, "format", stc_ckpt_format(m.ck));
            cJSON_AddStringToObject(r, "wrapper", stc_ckpt_wrapper(m.ck));
            cJSON_AddNumberToObject(r, "checkpoint_tensors", (double)stc_ckpt_count(m.ck));
            cJSON_AddNumberToObject(r, "checkpoint_elements", (double)stc_model_ckpt_elements(m.ck));
        }
        cJSON_AddStringToObject(r, "arch", ir->arch);
        cJSON *cfg = cJSON_AddObjectToObject(r, "config");
        if (m.from_ckpt) {
            for (int f = 0; f < STC_F_COUNT; f++) {
                cJSON *e = cJSON_AddObjectToObject(cfg, stc_field_name((stc_field_t)f));
                cJSON_AddNumberToObject(e, "value", m.cfg.v[f]);
                cJSON_AddStringToObject(e, "source", stc_src_name(m.cfg.src[f]));
            }
            cJSON *e = cJSON_AddObjectToObject(cfg, "mlp_ratios");
            cJSON_AddNumberToObject(e, "value", m.cfg.mlp_ratios);
            cJSON_AddStringToObject(e, "source", "weights");
            if (m.cfg.pooling_stat[0]) {
                e = cJSON_AddObjectToObject(cfg, "pooling_stat");
                cJSON_AddStringToObject(e, "value", m.cfg.pooling_stat);
                cJSON_AddStringToObject(e, "source", stc_src_name(m.cfg.pooling_src));
            }
            if (m.cfg.config_path[0]) cJSON_AddStringToObject(r, "config_file", m.cfg.config_path);
        }
        cJSON_AddNumberToObject(r, "T", ir->T);
        cJSON_AddNumberToObject(r, "parameters", (double)tot.params);
        cJSON *tj = cJSON_AddObjectToObject(r, "totals");
        cJSON_AddNumberToObject(tj, "neurons", (double)tot.neurons);
        cJSON_AddNumberToObject(tj, "lif_layers", (double)lifs);
        cJSON_AddNumberToObject(tj, "synapses", (double)tot.connections);
        cJSON_AddNumberToObject(tj, "memory_bytes", (double)tot.mem_bytes);
        cJSON_AddNumberToObject(tj, "macs_per_timestep", (double)tot.macs);
        cJSON_AddNumberToObject(tj, "acs_per_timestep_dense", (double)tot.acs);
        cJSON *layers = cJSON_AddArrayToObject(r, "layers");
        for (int i = 0; i < ir->n_nodes; i++) {
            const stc_node_t *n = &ir->nodes[i];
            stc_cost_t c;
            stc_ir_cost(ir, i, &c);
            cJSON *l = cJSON_CreateObject();
            cJSON_AddNumberToObject(l, "id", i);
            cJSON_AddStringToObject(l, "op", stc_op_name(n->op));
            cJSON_AddStringToObject(l, "name", n->name);
            int sh[3] = {n->shape.c, n->shape.h, n->shape.w};
            cJSON_AddItemToObject(l, "shape", cJSON_CreateIntArray(sh, 3));
            cJSON_AddStringToObject(l, "value", n->vtype == STC_VT_SPIKE ? "spike" : "real");
            cJSON_AddNumberToObject(l, "neurons", (double)c.neurons);
            cJSON_AddNumberToObject(l, "params", (double)c.params);
            cJSON_AddNumberToObject(l, "synapses", (double)c.connections);
            cJSON_AddNumberToObject(l, "memory_bytes", (double)c.mem_bytes);
            cJSON_AddNumberToObject(l, "macs", (double)c.macs);
            cJSON_AddNumberToObject(l, "acs", (double)c.acs);
            cJSON_AddItemToArray(layers, l);
        }
        char *s = cJSON_Print(r);
        puts(s);
        free(s);
        cJSON_Delete(r);
        coord_model_free(&m);
        return 0;
    }
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("model        %s", o->model);
    if (m.ck)
        printf(" (%s, %zu tensors%s%s)", stc_ckpt_format(m.ck), stc_ckpt_count(m.ck),
               stc_ckpt_wrapper(m.ck)[0] ? ", unwrapped " : "", stc_ckpt_wrapper(m.ck));
    printf("\n");
    if (m.cfg.config_path[0]) printf("config       %s\n", m.cfg.config_path);
    printf("arch         %s\n", ir->arch);
    if (m.from_ckpt) {
        for (int f = 0; f < STC_F_COUNT; f++)
            printf("%-12s %-6d (%s)\n", stc_field_name((stc_field_t)f), m.cfg.v[f], stc_src_name(m.cfg.src[f]));
        printf("%-12s %-6g (weights)\n", "mlp_ratios", m.cfg.mlp_ratios);
        if (m.cfg.pooling_stat[0])
            printf("%-12s %-6s (%s)\n", "pooling_stat", m.cfg.pooling_stat, stc_src_name(m.cfg.pooling_src));
        printf("%-12s tau %g, v_threshold %g, attention v_threshold %g (%s)\n", "lif",
               m.cfg.tau > 0 ? m.cfg.tau : 2.0, m.cfg.v_threshold > 0 ? m.cfg.v_threshold : 1.0,
               m.cfg.attn_v_threshold > 0 ? m.cfg.attn_v_threshold : 0.5,
               (m.cfg.tau > 0 || m.cfg.v_threshold > 0 || m.cfg.attn_v_threshold > 0) ? "config" : "default");
    }
    printf("input        [%d,%d,%d] x T=%d   output %d classes\n", in->shape.c, in->shape.h, in->shape.w,
           ir->T, out->shape.c);
    printf("parameters   %lld (%.2fM) used by the forward pass", (long long)tot.params, tot.params / 1e6);
    if (m.ck) printf("; the checkpoint holds %lld elements", (long long)stc_model_ckpt_elements(m.ck));
    printf("\nneurons      %s in %lld LIF layers    synapses %s    parameter memory %s bytes\n",
           human(tot.neurons, b1, sizeof b1), (long long)lifs, human(tot.connections, b2, sizeof b2),
           human(tot.mem_bytes, b3, sizeof b3));
    printf("per timestep %s MAC (real inputs) + %s AC (spike inputs, if every neuron fired)\n\n",
           human(tot.macs, b4, sizeof b4), human(tot.acs, b5, sizeof b5));
    printf("%4s  %-9s %-34s %-14s %8s %8s %9s %9s %8s %8s\n", "id", "op", "name", "shape", "neurons",
           "params", "synapses", "mem", "MAC", "AC");
    for (int i = 0; i < ir->n_nodes; i++) {
        const stc_node_t *n = &ir->nodes[i];
        stc_cost_t c;
        stc_ir_cost(ir, i, &c);
        char sh[48], h1[24], h2[24], h3[24], h4[24], h5[24], h6[24];
        printf("%4d  %-9s %-34s %-14s %8s %8s %9s %9s %8s %8s\n", i, stc_op_name(n->op), n->name,
               fmt_shape(n->shape, sh, sizeof sh), c.neurons ? human(c.neurons, h1, sizeof h1) : "-",
               c.params ? human(c.params, h2, sizeof h2) : "-",
               c.connections ? human(c.connections, h3, sizeof h3) : "-",
               c.mem_bytes ? human(c.mem_bytes, h4, sizeof h4) : "-", c.macs ? human(c.macs, h5, sizeof h5) : "-",
               c.acs ? human(c.acs, h6, sizeof h6) : "-");
    }
    coord_model_free(&m);
    return 0;
}
