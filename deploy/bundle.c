/* bundle.c - the bundle in memory: ownership and the structural check.
 *
 * stc_bundle_validate() is the one place that knows what a well-formed bundle
 * is: the reader (bundle_io.c) runs it on every file it accepts and the
 * lowering on what it builds, so the simulator can index without checking.
 * docs/bundle.md lists the checks; docs/backend.md says what the stages and
 * projections compute.  The .stc file itself is bundle_io.c.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"
#include "stc_fixed.h"
#include "stc_target.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stc_bundle_chips_used(const stc_bundle_t *b) {
    unsigned char *seen = b->n_chips > 0 ? calloc((size_t)b->n_chips, 1) : NULL;
    if (!seen) return b->n_chips > 0 ? b->n_chips : 0; /* out of memory: count the whole system */
    int n = 0;
    for (int i = 0; i < b->n_cores; i++) {
        int c = b->cores[i].chip;
        if (c >= 0 && c < b->n_chips && !seen[c]) seen[c] = 1, n++;
    }
    free(seen);
    return n;
}

void stc_bundle_drop_cores(stc_bundle_t *b) {
    for (int i = 0; b->cores && i < b->n_cores; i++) {
        free(b->cores[i].slices);
        free(b->cores[i].axon_runs);
        free(b->cores[i].route_runs);
    }
    free(b->cores);
    b->cores = NULL;
    b->n_cores = b->n_chips = 0;
    free(b->topology_json);
    free(b->link_traffic);
    b->topology_json = NULL;
    b->link_traffic = NULL;
    b->n_links = 0;
    b->topology[0] = 0;
}

void stc_bundle_destroy(stc_bundle_t **bp) {
    if (!bp || !*bp) return;
    stc_bundle_t *b = *bp;
    for (int i = 0; b->stages && i < b->n_stages; i++) free(b->stages[i].bias);
    for (int i = 0; b->projs && i < b->n_projs; i++) free(b->projs[i].w);
    stc_bundle_drop_cores(b);
    free(b->stages);
    free(b->projs);
    free(b->target_json);
    free(b->stage_rate);
    free(b);
    *bp = NULL;
}

/* ------------------------------------------------------------- validation */

/* ORDER NK, ORDER SK: the enums of stc_bundle.h. */
static const char *const nk_names[] = {"?", "INPUT", "LIF", "RELAY", "MAX", "AND", "SSA", "READOUT"};
static const char *const sk_names[] = {"?",      "CONV",  "DENSE", "ONE2ONE", "REDUCE", "DENSE_REDUCE",
                                       "WINDOW", "BCAST", "SSA_Q", "SSA_K",   "SSA_V"};
_Static_assert(sizeof nk_names / sizeof *nk_names == STC_NK_COUNT, "ORDER NK");
_Static_assert(sizeof sk_names / sizeof *sk_names == STC_SK_COUNT, "ORDER SK");

const char *stc_bundle_stage_kind_name(int kind) {
    return kind > 0 && kind < STC_NK_COUNT ? nk_names[kind] : "?";
}

const char *stc_bundle_synapse_kind_name(int kind) {
    return kind > 0 && kind < STC_SK_COUNT ? sk_names[kind] : "?";
}

/* 1 if s is NUL-terminated within cap bytes and has no control characters. */
stc_box_t stc_bundle_src_box(const stc_bundle_t *b, const stc_proj_t *p, const stc_slice_t *sl) {
    const stc_stage_t *s = &b->stages[p->src];
    stc_box_t r = {0, s->c, 0, s->h, 0, s->w};
    switch (p->kind) {
    case STC_SK_CONV: case STC_SK_WINDOW: {
        int lo = sl->y0 * p->stride - p->pad, hi = (sl->y1 - 1) * p->stride - p->pad + p->k;
        r.y0 = lo < 0 ? 0 : lo;
        r.y1 = hi > s->h ? s->h : hi;
        if (p->kind == STC_SK_WINDOW) r.c0 = sl->c0, r.c1 = sl->c1;
        else r.c0 = p->c0, r.c1 = p->c0 + p->ci; /* all of the source, or a slice's range */
        break;
    }
    case STC_SK_DENSE: r.c0 = p->c0, r.c1 = p->c0 + p->ci, r.y0 = sl->y0, r.y1 = sl->y1; break;
    case STC_SK_ONE2ONE: case STC_SK_SSA_Q: {
        r.c0 = sl->c0, r.c1 = sl->c1, r.y0 = sl->y0, r.y1 = sl->y1;
        const stc_stage_t *d = &b->stages[p->dst];
        if (d->w != s->w) { /* pixels into tokens: the source rows that hold positions [y0 w, y1 w) */
            r.y0 = (int)((int64_t)sl->y0 * d->w / s->w);
            r.y1 = (int)(((int64_t)sl->y1 * d->w + s->w - 1) / s->w);
        }
        break;
    }
    case STC_SK_REDUCE: case STC_SK_SSA_K: case STC_SK_SSA_V: r.c0 = sl->c0, r.c1 = sl->c1; break;
    case STC_SK_BCAST: r.c0 = sl->c0, r.c1 = sl->c1; break;
    default: break; /* DENSE_REDUCE: everything */
    }
    if (r.y1 < r.y0) r.y1 = r.y0;
    return r;
}

static int text_ok(const char *s, size_t cap) {
    const char *e = memchr(s, 0, cap);
    if (!e) return 0;
    for (; s < e; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

static int64_t numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

typedef struct {
    const stc_bundle_t *b;
    const char *name;
    const stc_target_t *t; /* NULL without an embedded descriptor */
    stc_err_t *err;
} vctx_t;

#define BAD(...) stc_err_set(v->err, STC_E_FORMAT, __VA_ARGS__)

static stc_status_t check_manifest_text(vctx_t *v) {
    const stc_bundle_t *b = v->b;
    static const struct {
        const char *field;
        size_t off, cap;
    } f[] = {
        {"model", offsetof(stc_bundle_t, model), sizeof b->model},
        {"source", offsetof(stc_bundle_t, source), sizeof b->source},
        {"target", offsetof(stc_bundle_t, target), sizeof b->target},
        {"options", offsetof(stc_bundle_t, options), sizeof b->options},
        {"dataset", offsetof(stc_bundle_t, dataset), sizeof b->dataset},
        {"topology", offsetof(stc_bundle_t, topology), sizeof b->topology},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (!text_ok((const char *)b + f[i].off, f[i].cap))
            return BAD("%s: manifest: field '%s' is not text of at most %zu bytes without control characters",
                       v->name, f[i].field, f[i].cap - 1);
    if (b->n_norm < 0 || b->n_norm > 4)
        return BAD("%s: manifest: field 'n_norm' is %d, expected 0..4 channels", v->name, b->n_norm);
    for (int c = 0; c < b->n_norm; c++)
        if (!isfinite(b->norm_mean[c]) || !(b->norm_std[c] > 0) || !isfinite(b->norm_std[c]))
            return BAD("%s: manifest: normalization channel %d: mean %g, std %g: expected finite values, std > 0",
                       v->name, c, (double)b->norm_mean[c], (double)b->norm_std[c]);
    if (!isfinite(b->pytorch_accuracy))
        return BAD("%s: manifest: field 'pytorch_accuracy' is %g, expected a finite number (< 0: unknown)", v->name,
                   b->pytorch_accuracy);
    if (b->T < 1 || b->T > STC_BUNDLE_MAX_T)
        return BAD("%s: manifest: field 'T' is %d, expected 1..%d timesteps", v->name, b->T, STC_BUNDLE_MAX_T);
    if (b->n_chips < 0 || b->n_chips > STC_BUNDLE_MAX_CHIPS)
        return BAD("%s: manifest: field 'n_chips' is %d, expected 0..%d", v->name, b->n_chips, STC_BUNDLE_MAX_CHIPS);
    if (b->n_stages < 1 || b->n_stages > STC_BUNDLE_MAX_STAGES || !b->stages)
        return BAD("%s: %d stages%s, expected 1..%d", v->name, b->n_stages, b->stages ? "" : " (no array)",
                   STC_BUNDLE_MAX_STAGES);
    if (b->n_projs < 0 || b->n_projs > STC_BUNDLE_MAX_PROJS || (b->n_projs && !b->projs))
        return BAD("%s: %d projections%s, expected 0..%d", v->name, b->n_projs, b->projs ? "" : " (no array)",
                   STC_BUNDLE_MAX_PROJS);
    if (b->n_cores < 1 || b->n_cores > STC_BUNDLE_MAX_CORES || !b->cores)
        return BAD("%s: %d cores%s, expected 1..%d (core 0 is the host port)", v->name, b->n_cores,
                   b->cores ? "" : " (no array)", STC_BUNDLE_MAX_CORES);
    if (b->target_json) {
        size_t n = strnlen(b->target_json, (size_t)STC_BUNDLE_MAX_TARGET_JSON + 1);
        if (n > STC_BUNDLE_MAX_TARGET_JSON)
            return stc_err_set(v->err, STC_E_LIMIT, "%s: the target descriptor is over %d bytes", v->name,
                               STC_BUNDLE_MAX_TARGET_JSON);
    }
    return STC_OK;
}

/* The placement's topology file and expected link traffic (sections 'topo' and
 * 'link'): they belong to a named topology.  Whether the text is a topology
 * and has n_links links is the topology parser's business (the simulator
 * checks it when it loads the bundle: deploy/ does not link the partitioner). */
static stc_status_t check_placement(vctx_t *v) {
    const stc_bundle_t *b = v->b;
    if (b->topology_json) {
        size_t n = strnlen(b->topology_json, (size_t)STC_BUNDLE_MAX_TOPOLOGY_JSON + 1);
        if (n > STC_BUNDLE_MAX_TOPOLOGY_JSON)
            return stc_err_set(v->err, STC_E_LIMIT, "%s: manifest: field 'topology_json' is over %d bytes", v->name,
                               STC_BUNDLE_MAX_TOPOLOGY_JSON);
        if (n == 0)
            return BAD("%s: manifest: field 'topology_json' is empty, expected the topology file's text (or none)",
                       v->name);
        if (!b->topology[0])
            return BAD("%s: manifest: field 'topology_json' is present, but field 'topology' names no topology",
                       v->name);
    }
    if (b->n_links < 0 || b->n_links > STC_BUNDLE_MAX_LINKS)
        return stc_err_set(v->err, STC_E_LIMIT, "%s: manifest: field 'n_links' is %d, expected 0..%d", v->name,
                           b->n_links, STC_BUNDLE_MAX_LINKS);
    if (!b->n_links) return STC_OK;
    if (!b->topology[0])
        return BAD("%s: manifest: field 'n_links' is %d, but field 'topology' names no topology (link traffic "
                   "belongs to a placement)", v->name, b->n_links);
    if (!b->link_traffic)
        return BAD("%s: manifest: field 'n_links' is %d, but 'link_traffic' is missing", v->name, b->n_links);
    for (int l = 0; l < b->n_links; l++)
        if (!isfinite(b->link_traffic[l]) || !(b->link_traffic[l] >= 0))
            return BAD("%s: link %d: field 'link_traffic' is %g, expected a finite number >= 0 (spikes per "
                       "inference)", v->name, l, b->link_traffic[l]);
    return STC_OK;
}

/* The stages' measured firing rates (section 'rate'): events per neuron per
 * inference, finite and >= 0.  Called after every stage's name is checked. */
static stc_status_t check_rates(vctx_t *v) {
    const stc_bundle_t *b = v->b;
    for (int i = 0; b->stage_rate && i < b->n_stages; i++)
        if (!isfinite(b->stage_rate[i]) || !(b->stage_rate[i] >= 0))
            return BAD("%s: stage %d '%s': field 'stage_rate' is %g, expected a finite number >= 0 (spikes per "
                       "neuron per inference)", v->name, i, b->stages[i].name, b->stage_rate[i]);
    return STC_OK;
}

/* The fields a stage's kind uses (docs/backend.md section 2). */
static stc_status_t check_stage(vctx_t *v, int i) {
    const stc_stage_t *s = &v->b->stages[i];
    if (!text_ok(s->name, sizeof s->name))
        return BAD("%s: stage %d: field 'name' is not text of at most %zu bytes without control characters",
                   v->name, i, sizeof s->name - 1);
    const char *nm = s->name;
    if (s->kind < 1 || s->kind >= STC_NK_COUNT)
        return BAD("%s: stage %d '%s': field 'kind' is %d, expected a stage kind 1..%d", v->name, i, nm, s->kind,
                   STC_NK_COUNT - 1);
    const char *kn = nk_names[s->kind];
    if (s->ir_node < -1) return BAD("%s: stage %d '%s': field 'ir_node' is %d, expected >= -1", v->name, i, nm, s->ir_node);
    if (s->c < 1 || s->c > STC_BUNDLE_MAX_DIM || s->h < 1 || s->h > STC_BUNDLE_MAX_DIM || s->w < 1 ||
        s->w > STC_BUNDLE_MAX_DIM)
        return BAD("%s: stage %d '%s': shape [%d,%d,%d], expected each of c, h, w in 1..%d", v->name, i, nm, s->c, s->h,
                   s->w, STC_BUNDLE_MAX_DIM);
    if (numel(s) > STC_BUNDLE_MAX_STAGE_NEURONS)
        return stc_err_set(v->err, STC_E_LIMIT, "%s: stage %d '%s': shape [%d,%d,%d] has %lld neurons, limit %d",
                           v->name, i, nm, s->c, s->h, s->w, (long long)numel(s), STC_BUNDLE_MAX_STAGE_NEURONS);
    if (s->kind == STC_NK_INPUT ? s->depth != 0 : (s->depth < 1 || s->depth > STC_BUNDLE_MAX_DEPTH))
        return BAD("%s: stage %d '%s' (%s): field 'depth' is %d, expected %s", v->name, i, nm, kn, s->depth,
                   s->kind == STC_NK_INPUT ? "0 for the INPUT stage" : "1..65536 for a stage after the input");
    switch (s->kind) {
    case STC_NK_INPUT:
    case STC_NK_RELAY:
        if (s->pbits < 2 || s->pbits > 31)
            return BAD("%s: stage %d '%s' (%s): field 'pbits' is %d, expected 2..31", v->name, i, nm, kn, s->pbits);
        if (v->t && s->pbits > v->t->payload_bits)
            return BAD("%s: stage %d '%s' (%s): field 'pbits' is %d, the target's payload_bits is %d", v->name, i, nm,
                       kn, s->pbits, v->t->payload_bits);
        if (s->kind == STC_NK_INPUT && (s->qexp < -STC_BUNDLE_MAX_QEXP || s->qexp > STC_BUNDLE_MAX_QEXP))
            return BAD("%s: stage %d '%s' (INPUT): field 'qexp' is %d, expected -%d..%d", v->name, i, nm, s->qexp,
                       STC_BUNDLE_MAX_QEXP, STC_BUNDLE_MAX_QEXP);
        if (s->kind == STC_NK_RELAY && (s->rsh < 0 || s->rsh > STC_BUNDLE_MAX_RSH))
            return BAD("%s: stage %d '%s' (RELAY): field 'rsh' is %d, expected 0..%d", v->name, i, nm, s->rsh,
                       STC_BUNDLE_MAX_RSH);
        if (s->kind == STC_NK_RELAY && s->dense != 0 && s->dense != 1)
            return BAD("%s: stage %d '%s' (RELAY): field 'dense' is %d, expected 0 or 1", v->name, i, nm, s->dense);
        break;
    case STC_NK_LIF:
        if (s->shl < 0 || s->shl > 12)
            return BAD("%s: stage %d '%s' (LIF): field 'shl' is %d, expected 0..12", v->name, i, nm, s->shl);
        if (s->dk < 1 || s->dk > 4096)
            return BAD("%s: stage %d '%s' (LIF): field 'dk' is %d, expected 1..4096", v->name, i, nm, s->dk);
        if (s->vth > STC_BUNDLE_MAX_ABS_VTH || s->vth < -STC_BUNDLE_MAX_ABS_VTH)
            return BAD("%s: stage %d '%s' (LIF): field 'vth' is %lld, expected |vth| <= 2^40", v->name, i, nm,
                       (long long)s->vth);
        if (s->vreset > STC_STATE_MAX || s->vreset < -STC_STATE_MAX)
            return BAD("%s: stage %d '%s' (LIF): field 'vreset' is %lld, expected a 24-bit state (|v| <= %lld)",
                       v->name, i, nm, (long long)s->vreset, (long long)STC_STATE_MAX);
        break;
    case STC_NK_SSA:
        if (s->heads < 1 || s->c % s->heads)
            return BAD("%s: stage %d '%s' (SSA): field 'heads' is %d, expected a divisor of its %d channels", v->name,
                       i, nm, s->heads, s->c);
        if (s->mul > STC_BUNDLE_MAX_ABS_MUL || s->mul < -STC_BUNDLE_MAX_ABS_MUL)
            return BAD("%s: stage %d '%s' (SSA): field 'mul' is %d, expected |mul| <= 2^24", v->name, i, nm, s->mul);
        break;
    case STC_NK_READOUT:
        if (!(s->qstep > 0) || !isfinite(s->qstep))
            return BAD("%s: stage %d '%s' (READOUT): field 'qstep' is %g, expected a finite step > 0", v->name, i, nm,
                       s->qstep);
        break;
    default:
        break;
    }
    if (s->bias) {
        if (s->kind != STC_NK_LIF && s->kind != STC_NK_RELAY && s->kind != STC_NK_READOUT)
            return BAD("%s: stage %d '%s' (%s): has a bias; only LIF, RELAY and READOUT stages add one", v->name, i,
                       nm, kn);
        for (int c = 0; c < s->c; c++)
            if (s->bias[c] > STC_BUNDLE_MAX_ABS_BIAS || s->bias[c] < -STC_BUNDLE_MAX_ABS_BIAS)
                return BAD("%s: stage %d '%s' (%s): bias[%d] is %lld, expected |bias| < 2^31", v->name, i, nm, kn, c,
                           (long long)s->bias[c]);
    }
    return STC_OK;
}

static stc_status_t check_io_stages(vctx_t *v) {
    const stc_bundle_t *b = v->b;
    for (int i = 0; i < b->n_stages; i++) {
        int k = b->stages[i].kind;
        if (k == STC_NK_INPUT && i != b->input_stage)
            return BAD("%s: stage %d '%s' is an INPUT stage, but input_stage is %d (a bundle has one input)", v->name,
                       i, b->stages[i].name, b->input_stage);
        if (k == STC_NK_READOUT && i != b->output_stage)
            return BAD("%s: stage %d '%s' is a READOUT stage, but output_stage is %d (a bundle has one readout)",
                       v->name, i, b->stages[i].name, b->output_stage);
    }
    if (b->input_stage < 0 || b->input_stage >= b->n_stages || b->stages[b->input_stage].kind != STC_NK_INPUT)
        return BAD("%s: manifest: field 'input_stage' is %d, expected the index of the INPUT stage (0..%d)", v->name,
                   b->input_stage, b->n_stages - 1);
    if (b->output_stage < 0 || b->output_stage >= b->n_stages || b->stages[b->output_stage].kind != STC_NK_READOUT)
        return BAD("%s: manifest: field 'output_stage' is %d, expected the index of the READOUT stage (0..%d)",
                   v->name, b->output_stage, b->n_stages - 1);
    const stc_stage_t *in = &b->stages[b->input_stage], *out = &b->stages[b->output_stage];
    if (b->in_c != in->c || b->in_h != in->h || b->in_w != in->w)
        return BAD("%s: manifest: input shape [%d,%d,%d], the INPUT stage '%s' is [%d,%d,%d]", v->name, b->in_c,
                   b->in_h, b->in_w, in->name, in->c, in->h, in->w);
    if (b->n_out != numel(out))
        return BAD("%s: manifest: field 'n_out' is %d, the READOUT stage '%s' has %lld neurons", v->name, b->n_out,
                   out->name, (long long)numel(out));
    if (b->ticks != b->T + out->depth)
        return BAD("%s: manifest: field 'ticks' is %d, expected T + depth(READOUT) = %d + %d = %d", v->name, b->ticks,
                   b->T, out->depth, b->T + out->depth);
    return STC_OK;
}

/* Output size of a window (CONV, WINDOW) along one axis; -1 if the input is too small. */
static int64_t win_out(int in, int k, int stride, int pad) {
    int64_t span = (int64_t)in + 2 * (int64_t)pad - k;
    return span < 0 ? -1 : span / stride + 1;
}

static stc_status_t check_proj(vctx_t *v, int j, int *ssa_in) {
    const stc_bundle_t *b = v->b;
    const stc_proj_t *p = &b->projs[j];
    if (p->kind < 1 || p->kind >= STC_SK_COUNT)
        return BAD("%s: projection %d: field 'kind' is %d, expected a synapse kind 1..%d", v->name, j, p->kind,
                   STC_SK_COUNT - 1);
    if (p->src < 0 || p->src >= b->n_stages)
        return BAD("%s: projection %d (%s): field 'src' is %d, expected a stage index 0..%d", v->name, j,
                   sk_names[p->kind], p->src, b->n_stages - 1);
    if (p->dst < 0 || p->dst >= b->n_stages)
        return BAD("%s: projection %d (%s): field 'dst' is %d, expected a stage index 0..%d", v->name, j,
                   sk_names[p->kind], p->dst, b->n_stages - 1);
    const stc_stage_t *S = &b->stages[p->src], *D = &b->stages[p->dst];
    char lab[280];
    snprintf(lab, sizeof lab, "%s: projection %d (%s '%s' -> '%s')", v->name, j, sk_names[p->kind], S->name, D->name);
    int k = p->kind;
    if (D->kind == STC_NK_INPUT) return BAD("%s: the INPUT stage receives no projection", lab);
    if (S->kind == STC_NK_READOUT) return BAD("%s: a READOUT stage never spikes, it cannot be a source", lab);
    int into_ssa = k == STC_SK_SSA_Q || k == STC_SK_SSA_K || k == STC_SK_SSA_V;
    if ((D->kind == STC_NK_SSA) != into_ssa)
        return BAD("%s: %s into a %s stage: SSA stages take exactly SSA_Q, SSA_K and SSA_V", lab, sk_names[k],
                   nk_names[D->kind]);
    if ((D->kind == STC_NK_MAX) != (k == STC_SK_WINDOW))
        return BAD("%s: %s into a %s stage: MAX stages take WINDOW projections, and only they do", lab, sk_names[k],
                   nk_names[D->kind]);
    if (p->delay < 1 || p->delay != D->depth - S->depth)
        return BAD("%s: field 'delay' is %d, expected depth(dst) - depth(src) = %d - %d = %d (>= 1)", lab, p->delay,
                   D->depth, S->depth, D->depth - S->depth);
    if (p->shift < 0 || p->shift > STC_BUNDLE_MAX_SHIFT)
        return BAD("%s: field 'shift' is %d, expected 0..%d", lab, p->shift, STC_BUNDLE_MAX_SHIFT);
    if (k != STC_SK_DENSE && k != STC_SK_CONV && p->c0 != 0)
        return BAD("%s: field 'c0' is %d, expected 0 (only a DENSE or CONV reads a channel range)", lab, p->c0);
    if (k == STC_SK_CONV || k == STC_SK_WINDOW) {
        if (p->k < 1 || p->k > STC_BUNDLE_MAX_KERNEL || p->stride < 1 || p->stride > STC_BUNDLE_MAX_KERNEL ||
            p->pad < 0 || p->pad > STC_BUNDLE_MAX_KERNEL)
            return BAD("%s: k %d, stride %d, pad %d: expected k and stride 1..%d, pad 0..%d", lab, p->k, p->stride,
                       p->pad, STC_BUNDLE_MAX_KERNEL, STC_BUNDLE_MAX_KERNEL);
        int64_t oh = win_out(S->h, p->k, p->stride, p->pad), ow = win_out(S->w, p->k, p->stride, p->pad);
        if (oh != D->h || ow != D->w)
            return BAD("%s: a %dx%d window (stride %d, pad %d) over %dx%d gives %lldx%lld, the destination is %dx%d",
                       lab, p->k, p->k, p->stride, p->pad, S->h, S->w, (long long)oh, (long long)ow, D->h, D->w);
    }
    int64_t want = 0; /* weights the kind implies; -1: C or 1 */
    switch (k) {
    case STC_SK_CONV:
    case STC_SK_DENSE:
    case STC_SK_DENSE_REDUCE:
        if (k != STC_SK_DENSE_REDUCE && (p->ci < 1 || p->c0 < 0 || p->c0 > S->c - p->ci))
            return BAD("%s: reads source channels [%d, %d+%d), expected a range within the source's 0..%d", lab,
                       p->c0, p->c0, p->ci, S->c);
        if (p->co != D->c || (k == STC_SK_DENSE_REDUCE && p->ci != S->c))
            return BAD("%s: weights co %d x ci %d, expected %d x %d (destination x source channels)", lab, p->co,
                       p->ci, D->c, S->c);
        if (k == STC_SK_DENSE && (D->h != S->h || D->w != S->w))
            return BAD("%s: DENSE keeps positions: source is %dx%d, destination %dx%d", lab, S->h, S->w, D->h, D->w);
        if (k == STC_SK_DENSE_REDUCE && (D->h != 1 || D->w != 1))
            return BAD("%s: DENSE_REDUCE ends in [%d,1,1], the destination is [%d,%d,%d]", lab, D->c, D->c, D->h,
                       D->w);
        want = (int64_t)p->co * p->ci * (k == STC_SK_CONV ? (int64_t)p->k * p->k : 1);
        break;
    case STC_SK_ONE2ONE:
        if (S->c == D->c && (int64_t)S->h * S->w == (int64_t)D->h * D->w) { /* the same positions, rows of any width */
            want = -1;
            break;
        }
        /* fall through */
    case STC_SK_SSA_Q:
    case STC_SK_SSA_K:
    case STC_SK_SSA_V:
        if (S->c != D->c || S->h != D->h || S->w != D->w)
            return BAD("%s: %s joins equal shapes: source [%d,%d,%d], destination [%d,%d,%d]", lab, sk_names[k], S->c,
                       S->h, S->w, D->c, D->h, D->w);
        want = k == STC_SK_ONE2ONE ? -1 : 0;
        break;
    case STC_SK_REDUCE:
        if (S->c != D->c || D->h != 1 || D->w != 1)
            return BAD("%s: REDUCE sums [%d,%d,%d] into [%d,1,1], the destination is [%d,%d,%d]", lab, S->c, S->h,
                       S->w, S->c, D->c, D->h, D->w);
        want = -1;
        break;
    case STC_SK_WINDOW:
        if (S->c != D->c) return BAD("%s: WINDOW keeps channels: source %d, destination %d", lab, S->c, D->c);
        break;
    case STC_SK_BCAST:
        if (S->c != D->c || S->h != 1 || S->w != 1)
            return BAD("%s: BCAST spreads [%d,1,1], the source is [%d,%d,%d]", lab, D->c, S->c, S->h, S->w);
        break;
    }
    if (want >= 0 ? p->n_w != want : (p->n_w != S->c && p->n_w != 1)) {
        if (want > 0)
            return BAD("%s: field 'n_w' is %lld, %s needs %lld weights (%s)", lab, (long long)p->n_w, sk_names[k],
                       (long long)want, k == STC_SK_CONV ? "co*ci*k*k" : "co*ci");
        if (want == 0) return BAD("%s: field 'n_w' is %lld, %s has no weights", lab, (long long)p->n_w, sk_names[k]);
        return BAD("%s: field 'n_w' is %lld, %s needs C = %d or 1 weights", lab, (long long)p->n_w, sk_names[k], S->c);
    }
    if (p->n_w > STC_BUNDLE_MAX_WEIGHTS)
        return stc_err_set(v->err, STC_E_LIMIT, "%s: %lld weights, limit %d", lab, (long long)p->n_w,
                           STC_BUNDLE_MAX_WEIGHTS);
    if (p->n_w && !p->w) return BAD("%s: %lld weights but no weight array", lab, (long long)p->n_w);
    if (into_ssa) ssa_in[3 * p->dst + (k - STC_SK_SSA_Q)]++;
    return STC_OK;
}

/* Per core: the header fields, slices (inside their stages), axon runs and route runs. */
static stc_status_t check_core(vctx_t *v, int ci, int *stamp, int64_t *covered) {
    const stc_bundle_t *b = v->b;
    const stc_core_t *c = &b->cores[ci];
    if (ci == 0 ? c->chip != -1 : (c->chip < 0 || c->chip >= b->n_chips))
        return BAD("%s: core %d: field 'chip' is %d, expected %s", v->name, ci, c->chip,
                   ci == 0 ? "-1 (core 0 is the host port)" : "a chip index below n_chips");
    int mx = v->t && c->chip >= 0 ? v->t->core_mesh[0] : STC_BUNDLE_MAX_MESH;
    int my = v->t && c->chip >= 0 ? v->t->core_mesh[1] : STC_BUNDLE_MAX_MESH;
    if (c->x < 0 || c->x >= mx || c->y < 0 || c->y >= my)
        return BAD("%s: core %d: position (x %d, y %d) outside the %dx%d core mesh", v->name, ci, c->x, c->y, mx, my);
    static const struct {
        const char *field;
        size_t off;
        int lim;
    } cnt[] = {
        {"n_slices", offsetof(stc_core_t, n_slices), STC_BUNDLE_MAX_SLICES},
        {"n_axons", offsetof(stc_core_t, n_axons), STC_BUNDLE_MAX_AXONS},
        {"n_axon_runs", offsetof(stc_core_t, n_axon_runs), STC_BUNDLE_MAX_AXONS},
        {"n_neurons", offsetof(stc_core_t, n_neurons), STC_BUNDLE_MAX_CORE_NEURONS},
        {"n_routes", offsetof(stc_core_t, n_routes), STC_BUNDLE_MAX_ROUTES},
        {"n_route_runs", offsetof(stc_core_t, n_route_runs), STC_BUNDLE_MAX_ROUTES},
    };
    for (size_t i = 0; i < sizeof cnt / sizeof *cnt; i++) {
        int n = *(const int *)((const char *)c + cnt[i].off);
        if (n < 0 || n > cnt[i].lim)
            return stc_err_set(v->err, n < 0 ? STC_E_FORMAT : STC_E_LIMIT, "%s: core %d: field '%s' is %d, limit %d",
                               v->name, ci, cnt[i].field, n, cnt[i].lim);
    }
    if ((c->n_slices && !c->slices) || (c->n_axon_runs && !c->axon_runs) || (c->n_route_runs && !c->route_runs))
        return BAD("%s: core %d: a table is missing (slices, axon_runs or route_runs)", v->name, ci);
    const int64_t mem[3] = {c->mem_state, c->mem_syn, c->mem_axon};
    static const char *const mem_f[3] = {"mem_state", "mem_syn", "mem_axon"};
    for (int i = 0; i < 3; i++)
        if (mem[i] < 0 || mem[i] > STC_BUNDLE_MAX_MEM_BYTES)
            return BAD("%s: core %d: field '%s' is %lld bytes, expected 0..2^40", v->name, ci, mem_f[i],
                       (long long)mem[i]);
    if (v->t && c->chip >= 0) {
        const stc_target_t *t = v->t;
        int64_t m = mem[0] + mem[1]; /* the axon table is bounded by fan_in_axons_per_core instead */
        if (c->n_neurons > t->neurons_per_core)
            return BAD("%s: core %d: %d neurons, target %s has neurons_per_core %d", v->name, ci, c->n_neurons,
                       t->name, t->neurons_per_core);
        if (c->n_axons > t->fan_in_axons_per_core)
            return BAD("%s: core %d: %d input axons, target %s has fan_in_axons_per_core %d", v->name, ci, c->n_axons,
                       t->name, t->fan_in_axons_per_core);
        if (c->n_routes > t->fan_out_axons_per_core)
            return BAD("%s: core %d: %d routes, target %s has fan_out_axons_per_core %d", v->name, ci, c->n_routes,
                       t->name, t->fan_out_axons_per_core);
        if (m > t->memory_per_core_bytes)
            return BAD("%s: core %d: %lld bytes of memory (state %lld + synapses %lld), target %s has "
                       "memory_per_core_bytes %d",
                       v->name, ci, (long long)m, (long long)mem[0], (long long)mem[1], t->name,
                       t->memory_per_core_bytes);
    }
    int64_t sum = 0;
    for (int i = 0; i < c->n_slices; i++) {
        const stc_slice_t *sl = &c->slices[i];
        if (sl->stage < 0 || sl->stage >= b->n_stages)
            return BAD("%s: core %d slice %d: field 'stage' is %d, expected a stage index 0..%d", v->name, ci, i,
                       sl->stage, b->n_stages - 1);
        const stc_stage_t *s = &b->stages[sl->stage];
        char lab[240];
        snprintf(lab, sizeof lab, "%s: core %d slice %d (stage %d '%s')", v->name, ci, i, sl->stage, s->name);
        if (sl->c0 < 0 || sl->c0 >= sl->c1 || sl->c1 > s->c)
            return BAD("%s: channels [%d,%d) outside the stage's %d channels", lab, sl->c0, sl->c1, s->c);
        if (sl->y0 < 0 || sl->y0 >= sl->y1 || sl->y1 > s->h)
            return BAD("%s: rows [%d,%d) outside the stage's %d rows", lab, sl->y0, sl->y1, s->h);
        if (s->kind == STC_NK_SSA && (sl->c0 % (s->c / s->heads) || sl->c1 % (s->c / s->heads)))
            return BAD("%s: channels [%d,%d) split a head of %d channels (an SSA slice holds whole heads)", lab,
                       sl->c0, sl->c1, s->c / s->heads);
        if ((s->kind == STC_NK_INPUT) != (ci == 0))
            return BAD("%s: %s", lab,
                       ci == 0 ? "the host port (core 0) holds the INPUT stage only"
                               : "the INPUT stage lives on the host port (core 0)");
        int64_t n = (int64_t)(sl->c1 - sl->c0) * (sl->y1 - sl->y0) * s->w;
        sum += n;
        covered[sl->stage] += n;
        stamp[sl->stage] = ci + 1;
    }
    if (sum != c->n_neurons)
        return BAD("%s: core %d: field 'n_neurons' is %d, its slices hold %lld neurons", v->name, ci, c->n_neurons,
                   (long long)sum);
    /* the axon runs: numbered consecutively, each inside its projection's source */
    int64_t a0 = 0;
    for (int k = 0; k < c->n_axon_runs; k++) {
        const stc_axon_run_t *ar = &c->axon_runs[k];
        if (ar->proj < 0 || ar->proj >= b->n_projs)
            return BAD("%s: core %d axon run %d: field 'proj' is %d, expected a projection index 0..%d", v->name, ci,
                       k, ar->proj, b->n_projs - 1);
        const stc_proj_t *p = &b->projs[ar->proj];
        const stc_stage_t *S = &b->stages[p->src], *D = &b->stages[p->dst];
        char lab[300];
        snprintf(lab, sizeof lab, "%s: core %d axon run %d (axons from %lld, projection %d '%s' -> '%s')", v->name,
                 ci, k, (long long)a0, ar->proj, S->name, D->name);
        if (ar->n < 1) return BAD("%s: field 'n' is %d, expected >= 1 axons", lab, ar->n);
        if (ar->src < 0 || (int64_t)ar->src + ar->n > numel(S))
            return BAD("%s: field 'src' is %d and 'n' %d: source neurons [%d,%lld) outside the source stage's %lld "
                       "neurons",
                       lab, ar->src, ar->n, ar->src, (long long)ar->src + ar->n, (long long)numel(S));
        if (stamp[p->dst] != ci + 1) return BAD("%s: the core holds no slice of the destination stage", lab);
        a0 += ar->n;
    }
    if (a0 != c->n_axons)
        return BAD("%s: core %d: field 'n_axons' is %d, its %d axon runs hold %lld axons", v->name, ci, c->n_axons,
                   c->n_axon_runs, (long long)a0);
    /* the route runs: inside the core's neurons, in (neuron, core, axon) order
     * (their destinations are check_routes' business) */
    int64_t r0 = 0;
    for (int k = 0; k < c->n_route_runs; k++) {
        const stc_route_run_t *rr = &c->route_runs[k];
        if (rr->n < 1)
            return BAD("%s: core %d route run %d: field 'n' is %d, expected >= 1 routes", v->name, ci, k, rr->n);
        if (rr->neuron < 0 || (int64_t)rr->neuron + rr->n > c->n_neurons)
            return BAD("%s: core %d route run %d: field 'neuron' is %d and 'n' %d: neurons [%d,%lld) outside the "
                       "core's %d neurons",
                       v->name, ci, k, rr->neuron, rr->n, rr->neuron, (long long)rr->neuron + rr->n, c->n_neurons);
        if (k > 0) {
            const stc_route_run_t *q = rr - 1;
            if (q->neuron > rr->neuron || (q->neuron == rr->neuron && (q->core > rr->core ||
                                                                       (q->core == rr->core && q->axon >= rr->axon))))
                return BAD("%s: core %d route run %d: (neuron %d, core %d, axon %d) does not follow run %d's (neuron "
                           "%d, core %d, axon %d): route runs are sorted by (neuron, core, axon)",
                           v->name, ci, k, rr->neuron, rr->core, rr->axon, k - 1, q->neuron, q->core, q->axon);
        }
        r0 += rr->n;
    }
    if (r0 != c->n_routes)
        return BAD("%s: core %d: field 'n_routes' is %d, its %d route runs hold %lld routes", v->name, ci,
                   c->n_routes, c->n_route_runs, (long long)r0);
    return STC_OK;
}

/* Every stage's neurons are in exactly one slice.  The counts first; then,
 * per stage, a sweep over the channels with the slices as (channel x row)
 * rectangles, so that the work and memory are per slice, not per row: at
 * each channel x where slices end or start, the rows of the slices that end
 * there (all rows at x = 0) must be exactly the rows of the slices that start
 * there, these disjoint.  Then the slices active at every channel tile its
 * rows. */
typedef struct {
    int c0, c1, y0, y1, core, slice;
} rect_t;

static int rect_by_start(const void *x, const void *y) {
    const rect_t *p = x, *q = y;
    if (p->c0 != q->c0) return (p->c0 > q->c0) - (p->c0 < q->c0);
    if (p->y0 != q->y0) return (p->y0 > q->y0) - (p->y0 < q->y0);
    if (p->core != q->core) return (p->core > q->core) - (p->core < q->core);
    return (p->slice > q->slice) - (p->slice < q->slice);
}

static int rect_by_end(const void *x, const void *y) {
    const rect_t *p = x, *q = y;
    if (p->c1 != q->c1) return (p->c1 > q->c1) - (p->c1 < q->c1);
    return (p->y0 > q->y0) - (p->y0 < q->y0);
}

/* (core, slice) order: which of two overlapping slices the message names first */
static int rect_later(const rect_t *p, const rect_t *q) {
    return p->core != q->core ? p->core > q->core : p->slice > q->slice;
}

static stc_status_t overlap(vctx_t *v, int s, const rect_t *p, const rect_t *q, int ch, int y) {
    const stc_stage_t *st = &v->b->stages[s];
    if (rect_later(q, p)) {
        const rect_t *t = p;
        p = q, q = t;
    }
    return BAD("%s: core %d slice %d (stage %d '%s'): channel %d row %d is also in core %d slice %d", v->name, p->core,
               p->slice, s, st->name, ch, y, q->core, q->slice);
}

/* The first row of [0, h) in exactly one of the two unions of intervals
 * (each list sorted and disjoint), or -1 when the unions are equal. */
static int first_difference(const rect_t *e, int ne, const rect_t *st, int ns, int whole_h) {
    /* walk both as merged intervals */
    int i = 0, j = 0, ea = 0, eb = 0, sa = 0, sb = 0, have_e = 0, have_s = 0;
    for (;;) {
        if (!have_e) {
            if (whole_h > 0 && i == 0) ea = 0, eb = whole_h, i = 1, have_e = 1;
            else if (whole_h == 0 && i < ne) {
                ea = e[i].y0, eb = e[i].y1;
                for (i++; i < ne && e[i].y0 == eb; i++) eb = e[i].y1;
                have_e = 1;
            }
        }
        if (!have_s && j < ns) {
            sa = st[j].y0, sb = st[j].y1;
            for (j++; j < ns && st[j].y0 == sb; j++) sb = st[j].y1;
            have_s = 1;
        }
        if (!have_e && !have_s) return -1;
        if (!have_e) return sa;
        if (!have_s) return ea;
        if (ea != sa) return ea < sa ? ea : sa;
        if (eb != sb) return eb < sb ? eb : sb;
        have_e = have_s = 0;
    }
}

static stc_status_t check_cover(vctx_t *v, const int64_t *covered) {
    const stc_bundle_t *b = v->b;
    int64_t n = 0;
    for (int s = 0; s < b->n_stages; s++) {
        if (covered[s] != numel(&b->stages[s]))
            return BAD("%s: stage %d '%s': the cores' slices hold %lld neurons, the stage has %lld", v->name, s,
                       b->stages[s].name, (long long)covered[s], (long long)numel(&b->stages[s]));
    }
    for (int ci = 0; ci < b->n_cores; ci++) n += b->cores[ci].n_slices;
    /* the slices grouped by stage: by start and by end */
    int64_t *base = calloc((size_t)b->n_stages + 1, sizeof *base);
    rect_t *bs = malloc((size_t)(n ? n : 1) * sizeof *bs), *be = malloc((size_t)(n ? n : 1) * sizeof *be);
    stc_status_t st = STC_OK;
    if (!base || !bs || !be) {
        st = stc_err_set(v->err, STC_E_NOMEM, "%s: out of memory checking slices", v->name);
        goto out;
    }
    for (int ci = 0; ci < b->n_cores; ci++)
        for (int i = 0; i < b->cores[ci].n_slices; i++) base[b->cores[ci].slices[i].stage + 1]++;
    for (int s = 0; s < b->n_stages; s++) base[s + 1] += base[s];
    for (int ci = 0; ci < b->n_cores; ci++)
        for (int i = 0; i < b->cores[ci].n_slices; i++) {
            const stc_slice_t *sl = &b->cores[ci].slices[i];
            bs[base[sl->stage]++] = (rect_t){sl->c0, sl->c1, sl->y0, sl->y1, ci, i};
        }
    for (int s = b->n_stages; s > 0; s--) base[s] = base[s - 1]; /* the cursors back to the starts */
    base[0] = 0;
    memcpy(be, bs, (size_t)n * sizeof *bs);
    for (int s = 0; s < b->n_stages && !st; s++) {
        rect_t *S = bs + base[s], *E = be + base[s];
        int m = (int)(base[s + 1] - base[s]), C = b->stages[s].c, h = b->stages[s].h;
        qsort(S, (size_t)m, sizeof *S, rect_by_start);
        qsort(E, (size_t)m, sizeof *E, rect_by_end);
        int i = 0, j = 0; /* next start, next end */
        for (int x = 0; x < C && !st;) {
            int i1 = i, j1 = j;
            while (i1 < m && S[i1].c0 == x) i1++;
            while (j1 < m && E[j1].c1 == x) j1++;
            /* the slices starting at x: disjoint rows */
            for (int k = i + 1; k < i1; k++)
                if (S[k].y0 < S[k - 1].y1) {
                    st = overlap(v, s, &S[k - 1], &S[k], x, S[k].y0);
                    break;
                }
            if (st) break;
            /* ... exactly the rows freed at x */
            int y = first_difference(E + j, j1 - j, S + i, i1 - i, x == 0 ? h : 0);
            if (y >= 0) {
                int in_start = 0;
                const rect_t *p = NULL, *q = NULL;
                for (int k = i; k < i1; k++)
                    if (S[k].y0 <= y && y < S[k].y1) in_start = 1, p = &S[k];
                if (in_start) /* a row still held by a slice that goes on through x */
                    for (int k = 0; k < m; k++)
                        if (S[k].c0 < x && x < S[k].c1 && S[k].y0 <= y && y < S[k].y1) q = &S[k];
                if (p && q)
                    st = overlap(v, s, p, q, x, y);
                else
                    st = BAD("%s: stage %d '%s': channel %d row %d is in no slice", v->name, s, b->stages[s].name, x,
                             y);
                break;
            }
            i = i1, j = j1;
            int nx = C; /* the next channel where a slice starts or ends */
            if (i < m && S[i].c0 < nx) nx = S[i].c0;
            if (j < m && E[j].c1 < nx) nx = E[j].c1;
            x = nx;
        }
    }
out:
    free(base);
    free(bs);
    free(be);
    return st;
}

/* Cores are at distinct (chip, x, y). */
typedef struct {
    int chip, x, y, core;
} pos_t;

static int cmp_pos(const void *a, const void *b) {
    const pos_t *p = a, *q = b;
    if (p->chip != q->chip) return (p->chip > q->chip) - (p->chip < q->chip);
    if (p->x != q->x) return (p->x > q->x) - (p->x < q->x);
    if (p->y != q->y) return (p->y > q->y) - (p->y < q->y);
    return (p->core > q->core) - (p->core < q->core);
}

static stc_status_t check_positions(vctx_t *v) {
    const stc_bundle_t *b = v->b;
    pos_t *pos = malloc((size_t)b->n_cores * sizeof *pos);
    if (!pos) return stc_err_set(v->err, STC_E_NOMEM, "%s: out of memory checking core positions", v->name);
    int n = 0;
    for (int i = 1; i < b->n_cores; i++) pos[n++] = (pos_t){b->cores[i].chip, b->cores[i].x, b->cores[i].y, i};
    qsort(pos, (size_t)n, sizeof *pos, cmp_pos);
    stc_status_t st = STC_OK;
    for (int i = 1; i < n; i++)
        if (pos[i].chip == pos[i - 1].chip && pos[i].x == pos[i - 1].x && pos[i].y == pos[i - 1].y) {
            st = BAD("%s: cores %d and %d are both at chip %d (x %d, y %d)", v->name, pos[i - 1].core, pos[i].core,
                     pos[i].chip, pos[i].x, pos[i].y);
            break;
        }
    free(pos);
    return st;
}

/* Every route reaches an axon that carries its own neuron, and every axon is
 * reached by exactly one route, checked run by run: the route runs of all
 * cores sorted by (destination core, axon) must tile each core's axons
 * [0, n_axons) without overlap, and are walked along the destination's axon
 * runs and the source core's slices in pieces inside one of each, where both
 * sides are contiguous in the source's flat index.  A piece ends at a route
 * run's end, an axon run's end or where the source's flat index jumps (the
 * end of a channel of a slice that does not span all rows, or of a slice); at
 * a jump inside an axon run the next piece fails, so the work is per run and
 * per slice, never per neuron. */
typedef struct {
    int32_t core, axon, n, neuron; /* destination core, first axon, routes, first neuron */
    int32_t src, run;              /* source core, run index there */
} rref_t;

static int rref_cmp(const void *x, const void *y) {
    const rref_t *p = x, *q = y;
    if (p->core != q->core) return (p->core > q->core) - (p->core < q->core);
    if (p->axon != q->axon) return (p->axon > q->axon) - (p->axon < q->axon);
    if (p->src != q->src) return (p->src > q->src) - (p->src < q->src);
    return (p->run > q->run) - (p->run < q->run);
}

/* Label of route run e at its neuron `local` (inside the run) for messages. */
static void rref_label(vctx_t *v, const rref_t *e, int32_t local, char *lab, size_t cap) {
    const stc_bundle_t *b = v->b;
    const stc_core_t *c = &b->cores[e->src];
    int64_t base = 0;
    for (int i = 0; i < c->n_slices; i++) {
        const stc_slice_t *sl = &c->slices[i];
        const stc_stage_t *s = &b->stages[sl->stage];
        int64_t rows = (int64_t)(sl->y1 - sl->y0) * s->w, size = (int64_t)(sl->c1 - sl->c0) * rows;
        if (local < base + size) {
            int64_t o = local - base, ch = sl->c0 + o / rows, y = sl->y0 + o % rows / s->w, x = o % s->w;
            snprintf(lab, cap, "%s: core %d route run %d (neuron %d: stage %d '%s' neuron %lld)", v->name, e->src,
                     e->run, local, sl->stage, s->name, (long long)((ch * s->h + y) * s->w + x));
            return;
        }
        base += size;
    }
    snprintf(lab, cap, "%s: core %d route run %d (neuron %d)", v->name, e->src, e->run, local);
}

static stc_status_t check_routes(vctx_t *v) {
    const stc_bundle_t *b = v->b;
    int64_t nref = 0, nsl = 0;
    for (int c = 0; c < b->n_cores; c++) nref += b->cores[c].n_route_runs, nsl += b->cores[c].n_slices;
    rref_t *ref = malloc((size_t)(nref ? nref : 1) * sizeof *ref);
    int64_t *soff = malloc(((size_t)b->n_cores + 1) * sizeof *soff);   /* per core: its first slice in sbase */
    int64_t *sbase = malloc((size_t)(nsl + 1) * sizeof *sbase);          /* per slice: its first local neuron */
    stc_status_t st = STC_OK;
    if (!ref || !soff || !sbase) {
        st = stc_err_set(v->err, STC_E_NOMEM, "%s: out of memory checking routes", v->name);
        goto out;
    }
    /* the destinations exist; every run in one array */
    int64_t k = 0, ks = 0;
    char lab[400];
    for (int ci = 0; ci < b->n_cores && !st; ci++) {
        const stc_core_t *c = &b->cores[ci];
        soff[ci] = ks;
        int64_t base = 0;
        for (int i = 0; i < c->n_slices; i++) {
            const stc_slice_t *sl = &c->slices[i];
            sbase[ks++] = base;
            base += (int64_t)(sl->c1 - sl->c0) * (sl->y1 - sl->y0) * b->stages[sl->stage].w;
        }
        for (int r = 0; r < c->n_route_runs; r++) {
            const stc_route_run_t *rr = &c->route_runs[r];
            rref_t e = {rr->core, rr->axon, rr->n, rr->neuron, ci, r};
            if (rr->core < 0 || rr->core >= b->n_cores) {
                rref_label(v, &e, rr->neuron, lab, sizeof lab);
                st = BAD("%s: field 'core' is %d, expected a core index 0..%d", lab, rr->core, b->n_cores - 1);
                break;
            }
            const stc_core_t *dc = &b->cores[rr->core];
            if (rr->axon < 0 || (int64_t)rr->axon + rr->n > dc->n_axons) {
                rref_label(v, &e, rr->neuron, lab, sizeof lab);
                st = BAD("%s: field 'axon' is %d and 'n' %d: axons [%d,%lld), core %d has %d input axons", lab,
                         rr->axon, rr->n, rr->axon, (long long)rr->axon + rr->n, rr->core, dc->n_axons);
                break;
            }
            ref[k++] = e;
        }
    }
    soff[b->n_cores] = ks;
    if (st) goto out;
    qsort(ref, (size_t)nref, sizeof *ref, rref_cmp);
    /* per destination core: the runs in axon order, along its axon runs */
    int64_t gap_core = -1, gap_axon = 0, e = 0;
    for (int d = 0; d < b->n_cores && !st; d++) {
        const stc_core_t *dc = &b->cores[d];
        int64_t next = 0;        /* the first axon no run has reached yet */
        int ar = 0;              /* the axon run at `pos`, starting at axon a_k */
        int64_t a_k = 0;
        for (; e < nref && ref[e].core == d && !st; e++) {
            const rref_t *x = &ref[e];
            if (x->axon < next) {
                rref_label(v, x, x->neuron, lab, sizeof lab);
                st = BAD("%s: core %d axon %d is reached by a second route", lab, d, x->axon);
                break;
            }
            if (x->axon > next && gap_core < 0) gap_core = d, gap_axon = next;
            const stc_core_t *sc = &b->cores[x->src];
            const stc_slice_t *sls = sc->slices;
            const int64_t *sb = sbase + soff[x->src];
            int ns = sc->n_slices;
            /* the slice of the run's first neuron: the last starting at or before it */
            int lo = 0, hi = ns - 1;
            while (lo < hi) {
                int mid = (lo + hi + 1) / 2;
                if (sb[mid] <= x->neuron) lo = mid;
                else hi = mid - 1;
            }
            int j = lo;
            int64_t pos = x->axon, local = x->neuron, left = x->n;
            while (left > 0) {
                while (a_k + dc->axon_runs[ar].n <= pos) a_k += dc->axon_runs[ar++].n; /* pos < n_axons: in range */
                while (local >= sb[j] + (int64_t)(sls[j].c1 - sls[j].c0) * (sls[j].y1 - sls[j].y0) *
                                            b->stages[sls[j].stage].w)
                    j++; /* local < n_neurons: in range */
                const stc_slice_t *sl = &sls[j];
                const stc_stage_t *s = &b->stages[sl->stage];
                int64_t rows = (int64_t)(sl->y1 - sl->y0) * s->w, o = local - sb[j];
                int64_t block = sl->y0 == 0 && sl->y1 == s->h ? (int64_t)(sl->c1 - sl->c0) * rows : rows;
                int64_t ch = sl->c0 + o / rows, y = sl->y0 + o % rows / s->w, xx = o % s->w;
                int64_t flat = (ch * s->h + y) * s->w + xx;
                const stc_axon_run_t *run = &dc->axon_runs[ar];
                int64_t step = left, seg = block - o % block, avail = a_k + run->n - pos;
                if (seg < step) step = seg;
                if (avail < step) step = avail;
                const stc_proj_t *p = &b->projs[run->proj];
                if (p->src != sl->stage || run->src + (pos - a_k) != flat) {
                    rref_label(v, x, (int32_t)local, lab, sizeof lab);
                    st = BAD("%s: reaches core %d axon %lld, which carries stage %d '%s' neuron %lld (projection %d)",
                             lab, d, (long long)pos, p->src, b->stages[p->src].name,
                             (long long)(run->src + (pos - a_k)), run->proj);
                    break;
                }
                pos += step, local += step, left -= step;
            }
            next = (int64_t)x->axon + x->n;
        }
        if (!st && next < dc->n_axons && gap_core < 0) gap_core = d, gap_axon = next;
    }
    if (!st && gap_core >= 0) { /* the first axon in (core, axon) order that no route reaches */
        const stc_core_t *dc = &b->cores[gap_core];
        int64_t a = 0;
        for (int r = 0; r < dc->n_axon_runs; a += dc->axon_runs[r++].n)
            if (gap_axon < a + dc->axon_runs[r].n) {
                st = BAD("%s: core %lld axon %lld (projection %d, source neuron %lld): no route reaches it", v->name,
                         (long long)gap_core, (long long)gap_axon, dc->axon_runs[r].proj,
                         (long long)(dc->axon_runs[r].src + (gap_axon - a)));
                break;
            }
    }
out:
    free(ref);
    free(soff);
    free(sbase);
    return st;
}

stc_status_t stc_bundle_validate(const stc_bundle_t *b, const char *name, stc_err_t *err) {
    if (!name) name = "bundle";
    if (!b) return stc_err_set(err, STC_E_USAGE, "%s: no bundle", name);
    vctx_t v = {b, name, NULL, err};
    stc_target_t t;
    stc_status_t st = check_manifest_text(&v);
    if (!st) st = check_placement(&v);
    if (st) return st;
    if (b->target_json) {
        char tname[300];
        snprintf(tname, sizeof tname, "%s: target descriptor", name);
        st = stc_target_parse(b->target_json, strlen(b->target_json), tname, &t, err);
        if (st) return st;
        v.t = &t;
    }
    for (int i = 0; i < b->n_stages; i++)
        if ((st = check_stage(&v, i))) return st;
    if ((st = check_rates(&v))) return st;
    if ((st = check_io_stages(&v))) return st;
    int *ssa_in = calloc((size_t)b->n_stages * 3, sizeof *ssa_in);
    int *stamp = calloc((size_t)b->n_stages, sizeof *stamp);
    int64_t *covered = calloc((size_t)b->n_stages, sizeof *covered);
    if (!ssa_in || !stamp || !covered) {
        st = stc_err_set(err, STC_E_NOMEM, "%s: out of memory validating", name);
        goto out;
    }
    for (int j = 0; j < b->n_projs && !st; j++) st = check_proj(&v, j, ssa_in);
    for (int s = 0; s < b->n_stages && !st; s++)
        if (b->stages[s].kind == STC_NK_SSA)
            for (int q = 0; q < 3; q++)
                if (ssa_in[3 * s + q] != 1) {
                    st = stc_err_set(err, STC_E_FORMAT, "%s: stage %d '%s' (SSA): %d %s projections, expected exactly 1", name, s,
                             b->stages[s].name, ssa_in[3 * s + q], sk_names[STC_SK_SSA_Q + q]);
                    break;
                }
    for (int c = 0; c < b->n_cores && !st; c++) st = check_core(&v, c, stamp, covered);
    if (!st) st = check_cover(&v, covered);
    if (!st) st = check_positions(&v);
    if (!st) st = check_routes(&v);
out:
    free(ssa_in);
    free(stamp);
    free(covered);
    return st;
}
