/* test_chipsim.c - suite "chipsim": the event-driven chip simulator on hand-built bundles.
 *
 * Each bundle is built by mk_bundle() from stages, projections and a core
 * layout (every core gets an axon for every source neuron of every projection
 * into a stage it holds; every neuron routes to every such axon), so the same
 * network can be cut over cores in different ways.  ref_run() is an
 * independent layer-by-layer integer evaluation of docs/backend.md section 2
 * (dense loops, no events) that the simulator's traces are compared against,
 * value by value, at every timestep; the small cases are also checked against
 * numbers worked out by hand.
 * SPDX-License-Identifier: MIT
 */
#include "stc_chipsim.h"
#include "stc_fixed.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Another engineer writes it concurrently: use it when it is linked. */
stc_status_t stc_bundle_validate(const stc_bundle_t *b, const char *name, stc_err_t *err) __attribute__((weak));

/* ------------------------------------------------------ building bundles */

typedef struct {
    int stage, c0, c1, y0, y1;
} tslice_t;

typedef struct {
    int chip, x, y, n;
    tslice_t sl[6];
} tcore_t;

static int64_t numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

static stc_stage_t st_make(const char *name, int kind, int c, int h, int w) {
    stc_stage_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.kind = kind, s.c = c, s.h = h, s.w = w;
    s.ir_node = -1;
    s.pbits = 8;
    s.dk = 4096;
    s.vth = 1;
    s.qstep = 1.0;
    return s;
}

static int64_t *bias_of(int c, const int64_t *v) {
    int64_t *b = malloc((size_t)c * sizeof *b);
    memcpy(b, v, (size_t)c * sizeof *b);
    return b;
}

static stc_proj_t pj_make(int src, int dst, int kind, int shift, int64_t n_w, const int8_t *w) {
    stc_proj_t p;
    memset(&p, 0, sizeof p);
    p.src = src, p.dst = dst, p.kind = kind, p.shift = shift, p.n_w = n_w;
    if (n_w) {
        p.w = malloc((size_t)n_w);
        memcpy(p.w, w, (size_t)n_w);
    }
    return p;
}

static int by_dst(const void *x, const void *y) {
    const stc_route_run_t *p = x, *q = y;
    return p->core != q->core ? (p->core > q->core) - (p->core < q->core) : (p->axon > q->axon) - (p->axon < q->axon);
}

static int by_neuron(const void *x, const void *y) {
    const stc_route_run_t *p = x, *q = y;
    return p->neuron != q->neuron ? (p->neuron > q->neuron) - (p->neuron < q->neuron) : by_dst(x, y);
}

/* A core's routing table as the bundle stores it, from its routes one by one
 * (runs of 1; freed): in (core, axon) order, each merged into the run before
 * when it continues it (the next neuron to the next axon), then sorted by
 * (neuron, core, axon). */
static stc_route_run_t *runs_of(stc_route_run_t *one, int n, int *n_runs) {
    qsort(one, (size_t)n, sizeof *one, by_dst);
    int m = 0;
    for (int i = 0; i < n; i++) {
        stc_route_run_t *q = m ? &one[m - 1] : NULL;
        if (q && q->core == one[i].core && q->axon + q->n == one[i].axon && q->neuron + q->n == one[i].neuron)
            q->n++;
        else
            one[m++] = one[i];
    }
    qsort(one, (size_t)m, sizeof *one, by_neuron);
    *n_runs = m;
    return one;
}

/* Takes ownership of the stages' biases and the projections' weights. */
static stc_bundle_t *mk_bundle(int T, const stc_stage_t *stages, int ns, const stc_proj_t *projs, int np,
                               const tcore_t *cores, int nc) {
    stc_bundle_t *b = calloc(1, sizeof *b);
    snprintf(b->model, sizeof b->model, "test");
    snprintf(b->target, sizeof b->target, "loihi3");
    b->T = T;
    b->n_stages = ns, b->n_projs = np, b->n_cores = nc;
    b->stages = calloc((size_t)ns, sizeof *b->stages);
    b->projs = calloc((size_t)(np ? np : 1), sizeof *b->projs);
    b->cores = calloc((size_t)nc, sizeof *b->cores);
    memcpy(b->stages, stages, (size_t)ns * sizeof *stages);
    memcpy(b->projs, projs, (size_t)np * sizeof *projs);
    /* depths (stages are given in topological order), delays */
    for (int s = 0; s < ns; s++) {
        int d = 0;
        for (int p = 0; p < np; p++)
            if (projs[p].dst == s && b->stages[projs[p].src].depth + 1 > d) d = b->stages[projs[p].src].depth + 1;
        b->stages[s].depth = d;
        if (stages[s].kind == STC_NK_INPUT) b->input_stage = s;
        if (stages[s].kind == STC_NK_READOUT) b->output_stage = s;
    }
    for (int p = 0; p < np; p++) b->projs[p].delay = b->stages[projs[p].dst].depth - b->stages[projs[p].src].depth;
    const stc_stage_t *in = &b->stages[b->input_stage], *out = &b->stages[b->output_stage];
    b->in_c = in->c, b->in_h = in->h, b->in_w = in->w;
    b->n_out = (int)numel(out);
    b->ticks = T + out->depth;
    int maxchip = -1;
    for (int i = 0; i < nc; i++)
        if (cores[i].chip > maxchip) maxchip = cores[i].chip;
    b->n_chips = maxchip + 1;
    /* axon bases: abase[core][proj] (-1: no slice of the projection's stage there) */
    int *abase = malloc((size_t)nc * (size_t)(np ? np : 1) * sizeof(int));
    for (int i = 0; i < nc; i++) {
        stc_core_t *c = &b->cores[i];
        c->chip = cores[i].chip, c->x = cores[i].x, c->y = cores[i].y;
        c->n_slices = cores[i].n;
        c->slices = calloc((size_t)(c->n_slices ? c->n_slices : 1), sizeof *c->slices);
        for (int j = 0; j < c->n_slices; j++) {
            const tslice_t *t = &cores[i].sl[j];
            stc_slice_t *sl = &c->slices[j];
            sl->stage = t->stage;
            sl->c0 = t->c0, sl->c1 = t->c1 ? t->c1 : b->stages[t->stage].c;
            sl->y0 = t->y0, sl->y1 = t->y1 ? t->y1 : b->stages[t->stage].h;
            c->n_neurons += (sl->c1 - sl->c0) * (sl->y1 - sl->y0) * b->stages[sl->stage].w;
        }
        int na = 0;
        for (int p = 0; p < np; p++) {
            abase[i * np + p] = -1;
            for (int j = 0; j < c->n_slices; j++)
                if (c->slices[j].stage == projs[p].dst) {
                    abase[i * np + p] = na;
                    na += (int)numel(&b->stages[projs[p].src]);
                    break;
                }
        }
        c->n_axons = na;
        c->axon_runs = calloc((size_t)(np ? np : 1), sizeof *c->axon_runs);
        for (int p = 0; p < np; p++)
            if (abase[i * np + p] >= 0)
                c->axon_runs[c->n_axon_runs++] = (stc_axon_run_t){p, 0, (int32_t)numel(&b->stages[projs[p].src])};
    }
    for (int i = 0; i < nc; i++) {
        stc_core_t *c = &b->cores[i];
        int cap = 16, nr = 0, k = 0;
        stc_route_run_t *one = malloc((size_t)cap * sizeof *one); /* every route, a run of 1 */
        for (int j = 0; j < c->n_slices; j++) {
            const stc_slice_t *sl = &c->slices[j];
            const stc_stage_t *st = &b->stages[sl->stage];
            for (int ch = sl->c0; ch < sl->c1; ch++)
                for (int y = sl->y0; y < sl->y1; y++)
                    for (int x = 0; x < st->w; x++, k++) {
                        int flat = (ch * st->h + y) * st->w + x;
                        for (int p = 0; p < np; p++) {
                            if (projs[p].src != sl->stage) continue;
                            for (int d = 0; d < nc; d++) {
                                if (abase[d * np + p] < 0) continue;
                                if (nr == cap) one = realloc(one, (size_t)(cap *= 2) * sizeof *one);
                                one[nr++] = (stc_route_run_t){k, 1, d, abase[d * np + p] + flat};
                            }
                        }
                    }
        }
        c->n_routes = nr;
        c->route_runs = runs_of(one, nr, &c->n_route_runs);
    }
    free(abase);
    return b;
}

/* -------------------------------------------- the layer-by-layer reference */

/* out[s][t * numel + i]: what stage s computes at timestep t (the trace's meaning). */
static void ref_run(const stc_bundle_t *b, const float *img, int64_t **out, float *logits, int64_t *active,
                    int64_t *updates) {
    int64_t **v = calloc((size_t)b->n_stages, sizeof *v), *sum = NULL;
    *active = *updates = 0;
    for (int s = 0; s < b->n_stages; s++) v[s] = calloc((size_t)numel(&b->stages[s]), sizeof(int64_t));
    for (int t = 0; t < b->T; t++) {
        for (int s = 0; s < b->n_stages; s++) {
            const stc_stage_t *st = &b->stages[s];
            int64_t n = numel(st), hw = (int64_t)st->h * st->w;
            int64_t *a = calloc((size_t)n, sizeof *a), *mx = calloc((size_t)n, sizeof *mx);
            char *got = calloc((size_t)n, 1);
            int64_t *q = NULL, *k = NULL, *vv = NULL;
            int64_t *o = out[s] + t * n;
            for (int pi = 0; pi < b->n_projs; pi++) {
                const stc_proj_t *p = &b->projs[pi];
                if (p->dst != s) continue;
                const stc_stage_t *S = &b->stages[p->src];
                const int64_t *in = out[p->src] + t * numel(S);
                int64_t sh = (int64_t)1 << p->shift;
                int Hi = S->h, Wi = S->w;
                for (int c = 0; c < st->c; c++)
                    for (int y = 0; y < st->h; y++)
                        for (int x = 0; x < st->w; x++) {
                            int64_t i = ((int64_t)c * st->h + y) * st->w + x, acc = 0;
                            switch (p->kind) {
                            case STC_SK_CONV:
                                for (int ci = 0; ci < S->c; ci++)
                                    for (int ky = 0; ky < p->k; ky++)
                                        for (int kx = 0; kx < p->k; kx++) {
                                            int iy = y * p->stride + ky - p->pad, ix = x * p->stride + kx - p->pad;
                                            if (iy < 0 || iy >= Hi || ix < 0 || ix >= Wi) continue;
                                            acc += p->w[((c * S->c + ci) * p->k + ky) * p->k + kx] * sh *
                                                   in[(ci * Hi + iy) * Wi + ix];
                                        }
                                break;
                            case STC_SK_DENSE:
                                for (int ci = 0; ci < S->c; ci++)
                                    acc += p->w[c * S->c + ci] * sh * in[(ci * Hi + y) * Wi + x];
                                break;
                            case STC_SK_DENSE_REDUCE:
                                for (int ci = 0; ci < S->c; ci++)
                                    for (int m = 0; m < Hi * Wi; m++)
                                        acc += p->w[c * S->c + ci] * sh * in[ci * Hi * Wi + m];
                                break;
                            case STC_SK_ONE2ONE: acc = (p->n_w == 1 ? p->w[0] : p->w[c]) * sh * in[i]; break;
                            case STC_SK_REDUCE:
                                for (int m = 0; m < Hi * Wi; m++)
                                    acc += (p->n_w == 1 ? p->w[0] : p->w[c]) * sh * in[c * Hi * Wi + m];
                                break;
                            case STC_SK_BCAST:
                                acc = (p->n_w ? (p->n_w == 1 ? p->w[0] : p->w[c]) : 1) * sh * in[c];
                                break;
                            case STC_SK_WINDOW:
                                for (int ky = 0; ky < p->k; ky++)
                                    for (int kx = 0; kx < p->k; kx++) {
                                        int iy = y * p->stride + ky - p->pad, ix = x * p->stride + kx - p->pad;
                                        if (iy < 0 || iy >= Hi || ix < 0 || ix >= Wi) continue;
                                        int64_t val = in[(c * Hi + iy) * Wi + ix];
                                        if (!val && !S->dense) continue; /* only what is sent arrives */
                                        if (!got[i] || val * sh > mx[i]) mx[i] = val * sh;
                                        got[i] = 1;
                                    }
                                break;
                            case STC_SK_SSA_Q: q = (int64_t *)in; break;
                            case STC_SK_SSA_K: k = (int64_t *)in; break;
                            case STC_SK_SSA_V: vv = (int64_t *)in; break;
                            }
                            a[i] += acc;
                        }
            }
            if (st->kind != STC_NK_INPUT) *updates += n;
            for (int64_t i = 0; i < n; i++) {
                int64_t x = a[i] + (st->bias ? st->bias[i / hw] : 0);
                /* active: non-zero input or state (MAX: received something; SSA: non-zero output) */
                if (st->kind == STC_NK_LIF) *active += x != 0 || v[s][i] != 0;
                if (st->kind == STC_NK_RELAY || st->kind == STC_NK_AND || st->kind == STC_NK_READOUT) *active += x != 0;
                if (st->kind == STC_NK_MAX) *active += got[i];
                switch (st->kind) {
                case STC_NK_INPUT: o[i] = stc_encode_input(img[i], st->qexp, st->pbits); break;
                case STC_NK_LIF: o[i] = stc_lif_step(x, &v[s][i], st->shl, st->dk, st->vth, st->vreset); break;
                case STC_NK_RELAY: o[i] = stc_graded(x, st->rsh, st->pbits); break;
                case STC_NK_MAX: o[i] = got[i] ? mx[i] : 0; break;
                case STC_NK_AND: o[i] = x == 2; break;
                case STC_NK_READOUT:
                    o[i] = x;
                    if (s == b->output_stage) {
                        if (!sum) sum = calloc((size_t)n, sizeof *sum);
                        sum[i] += x;
                    }
                    break;
                case STC_NK_SSA: {
                    int d = st->c / st->heads, c = (int)(i / hw), h0 = c / d * d;
                    int64_t nn = i % hw, I = 0;
                    for (int c1 = h0; c1 < h0 + d; c1++) {
                        if (!q[c1 * hw + nn]) continue;
                        for (int64_t m = 0; m < hw; m++) I += (k[c1 * hw + m] != 0) & (vv[c * hw + m] != 0);
                    }
                    o[i] = I * st->mul;
                    *active += o[i] != 0;
                    break;
                }
                }
            }
            free(a), free(mx), free(got);
        }
    }
    const stc_stage_t *os = &b->stages[b->output_stage];
    for (int i = 0; i < b->n_out; i++) logits[i] = stc_logit(sum ? sum[i] : 0, os->qstep, b->T);
    for (int s = 0; s < b->n_stages; s++) free(v[s]);
    free(v), free(sum);
}

/* ----------------------------------------------------- running and traces */

typedef struct {
    int T, ns;
    int64_t **out; /* per stage: T * numel */
    int *calls;    /* per stage: trace calls */
    int bad_order;
} tr_t;

static void on_trace(void *ud, const stc_bundle_t *b, int stage, int t, const int64_t *q) {
    tr_t *r = ud;
    if (stage < 0 || stage >= r->ns || t < 0 || t >= r->T) {
        r->bad_order = 1;
        return;
    }
    int64_t n = numel(&b->stages[stage]);
    memcpy(r->out[stage] + t * n, q, (size_t)n * sizeof *q);
    r->calls[stage]++;
}

static tr_t *tr_new(const stc_bundle_t *b) {
    tr_t *r = calloc(1, sizeof *r);
    r->T = b->T, r->ns = b->n_stages;
    r->out = calloc((size_t)b->n_stages, sizeof *r->out);
    r->calls = calloc((size_t)b->n_stages, sizeof *r->calls);
    for (int s = 0; s < b->n_stages; s++) r->out[s] = calloc((size_t)(b->T * numel(&b->stages[s])), sizeof(int64_t));
    return r;
}

static void tr_free(tr_t *r) {
    for (int s = 0; s < r->ns; s++) free(r->out[s]);
    free(r->out), free(r->calls), free(r);
}

typedef struct {
    tr_t *tr;
    float logits[64];
    int64_t spk[16];
    stc_core_counters_t tot; /* summed over cores */
    stc_core_counters_t cnt[16];
    stc_core_counters_t scnt[16]; /* per stage */
} res_t;

static void sum_counters(const stc_core_counters_t *c, int n, stc_core_counters_t *t) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n; i++) {
        t->synops += c[i].synops, t->neuron_updates += c[i].neuron_updates, t->neuron_active += c[i].neuron_active;
        t->spikes += c[i].spikes, t->msgs_local += c[i].msgs_local, t->msgs_core += c[i].msgs_core;
        t->core_hops += c[i].core_hops, t->msgs_chip += c[i].msgs_chip, t->kernel_ops += c[i].kernel_ops;
        t->ticks_active += c[i].ticks_active;
    }
}

/* Validate (when linked), simulate (SIMD or baseline), check the trace calls. */
static int sim(const stc_bundle_t *b, const float *img, int nosimd, res_t *r) {
    stc_err_t err = {0};
    if (stc_bundle_validate && stc_bundle_validate(b, "test bundle", &err)) {
        fprintf(stderr, "validate: %s\n", err.msg);
        CU_FAIL("stc_bundle_validate refused a test bundle");
        return -1;
    }
    if (nosimd) setenv("STC_CHIPSIM_NOSIMD", "1", 1);
    stc_chipsim_t *s = stc_chipsim_create(b, &err);
    unsetenv("STC_CHIPSIM_NOSIMD");
    if (!s) fprintf(stderr, "chipsim: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    memset(r, 0, sizeof *r);
    r->tr = tr_new(b);
    stc_status_t st = stc_chipsim_run(s, img, r->logits, r->spk, on_trace, r->tr, &err);
    if (st) fprintf(stderr, "chipsim run: %s\n", err.msg);
    CU_ASSERT_EQUAL(st, STC_OK);
    CU_ASSERT_FALSE(r->tr->bad_order);
    for (int i = 0; i < b->n_stages; i++) CU_ASSERT_EQUAL(r->tr->calls[i], b->T);
    memcpy(r->cnt, stc_chipsim_counters(s), (size_t)b->n_cores * sizeof *r->cnt);
    memcpy(r->scnt, stc_chipsim_stage_counters(s), (size_t)b->n_stages * sizeof *r->scnt);
    sum_counters(r->cnt, b->n_cores, &r->tot);
    /* the per-stage counters split the same totals */
    stc_core_counters_t g;
    sum_counters(r->scnt, b->n_stages, &g);
    CU_ASSERT_EQUAL(g.synops, r->tot.synops);
    CU_ASSERT_EQUAL(g.neuron_updates, r->tot.neuron_updates);
    CU_ASSERT_EQUAL(g.neuron_active, r->tot.neuron_active);
    CU_ASSERT_EQUAL(g.spikes, r->tot.spikes);
    CU_ASSERT_EQUAL(g.msgs_local, r->tot.msgs_local);
    CU_ASSERT_EQUAL(g.msgs_core, r->tot.msgs_core);
    CU_ASSERT_EQUAL(g.core_hops, r->tot.core_hops);
    CU_ASSERT_EQUAL(g.msgs_chip, r->tot.msgs_chip);
    CU_ASSERT_EQUAL(g.kernel_ops, r->tot.kernel_ops);
    for (int i = 0; i < b->n_stages; i++) {
        CU_ASSERT_EQUAL(r->scnt[i].ticks_active, b->T);
        CU_ASSERT_EQUAL(r->scnt[i].spikes, r->spk[i]);
    }
    /* a second run on the same simulator gives the same answer (state is reset) */
    float l2[64];
    tr_t *t2 = tr_new(b);
    CU_ASSERT_EQUAL(stc_chipsim_run(s, img, l2, NULL, on_trace, t2, &err), STC_OK);
    CU_ASSERT_EQUAL(memcmp(l2, r->logits, (size_t)b->n_out * sizeof(float)), 0);
    for (int i = 0; i < b->n_stages; i++)
        CU_ASSERT_EQUAL(memcmp(t2->out[i], r->tr->out[i], (size_t)(b->T * numel(&b->stages[i])) * sizeof(int64_t)), 0);
    tr_free(t2);
    /* the counters accumulated over both runs */
    const stc_core_counters_t *c2 = stc_chipsim_counters(s);
    for (int i = 0; i < b->n_cores; i++) CU_ASSERT_EQUAL(c2[i].synops, 2 * r->cnt[i].synops);
    stc_chipsim_reset_counters(s);
    CU_ASSERT_EQUAL(stc_chipsim_counters(s)[0].spikes, 0);
    CU_ASSERT_EQUAL(stc_chipsim_stage_counters(s)[0].spikes, 0);
    stc_chipsim_destroy(&s);
    CU_ASSERT_PTR_NULL(s);
    return 0;
}

/* Simulator (both code paths) against the reference: every stage, every timestep, the logits. */
static void check_ref(const stc_bundle_t *b, const float *img, res_t *r) {
    tr_t *ref = tr_new(b);
    float lg[64];
    int64_t active = 0, updates = 0;
    ref_run(b, img, ref->out, lg, &active, &updates);
    res_t r2;
    CU_ASSERT_EQUAL_FATAL(sim(b, img, 0, r), 0);
    CU_ASSERT_EQUAL_FATAL(sim(b, img, 1, &r2), 0);
    for (int s = 0; s < b->n_stages; s++) {
        int64_t n = b->T * numel(&b->stages[s]), bad = 0;
        for (int64_t i = 0; i < n; i++) {
            if (r->tr->out[s][i] != ref->out[s][i] && !bad++)
                fprintf(stderr, "stage %d '%s' t=%lld i=%lld: sim %lld, reference %lld\n", s, b->stages[s].name,
                        (long long)(i / numel(&b->stages[s])), (long long)(i % numel(&b->stages[s])),
                        (long long)r->tr->out[s][i], (long long)ref->out[s][i]);
            bad += r2.tr->out[s][i] != r->tr->out[s][i];
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    for (int i = 0; i < b->n_out; i++) {
        CU_ASSERT_EQUAL(r->logits[i], lg[i]);
        CU_ASSERT_EQUAL(r2.logits[i], lg[i]);
    }
    CU_ASSERT_EQUAL(r->tot.neuron_active, active);
    CU_ASSERT_EQUAL(r->tot.neuron_updates, updates);
    CU_ASSERT_EQUAL(r2.tot.synops, r->tot.synops);
    CU_ASSERT_EQUAL(r2.tot.neuron_active, r->tot.neuron_active);
    CU_ASSERT_EQUAL(r2.tot.kernel_ops, r->tot.kernel_ops);
    tr_free(r2.tr);
    tr_free(ref);
}

static uint32_t rng = 12345;
static int rnd(int lo, int hi) { /* [lo, hi] */
    rng = rng * 1664525u + 1013904223u;
    return lo + (int)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

/* ------------------------------------------------ (1) a hand-worked network */

/* INPUT [1,3,3] -> CONV (identity, 3x3 box; shift 1) -> LIF [2,3,3] -> DENSE_REDUCE -> READOUT [3,1,1]. */
static stc_bundle_t *net1(const tcore_t *cores, int nc) {
    stc_stage_t st[4];
    st[0] = st_make("in", STC_NK_INPUT, 1, 3, 3);
    st[0].qexp = 0, st[0].pbits = 8;
    st[1] = st_make("lif", STC_NK_LIF, 2, 3, 3);
    st[1].shl = 0, st[1].dk = 2048, st[1].vth = 2, st[1].vreset = 0;
    st[1].bias = bias_of(2, (int64_t[]){0, -1});
    st[2] = st_make("out", STC_NK_READOUT, 3, 1, 1);
    st[2].qstep = 0.5;
    st[2].bias = bias_of(3, (int64_t[]){10, 0, -1});
    int8_t wc[18] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int8_t wd[6] = {1, 2, -1, 1, 3, 0};
    stc_proj_t p[2];
    p[0] = pj_make(0, 1, STC_SK_CONV, 1, 18, wc);
    p[0].k = 3, p[0].stride = 1, p[0].pad = 1, p[0].co = 2, p[0].ci = 1;
    p[1] = pj_make(1, 2, STC_SK_DENSE_REDUCE, 0, 6, wd);
    p[1].co = 3, p[1].ci = 2;
    return mk_bundle(3, st, 3, p, 2, cores, nc);
}

static const float img1[9] = {0, 1.4f, 0.3f, 2, 0, 0, 0, 0.4f, -0.5f}; /* encodes to 0 1 0 / 2 0 0 / 0 0 -1 */

static void test_hand(void) {
    tcore_t cores[2] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}}, {0, 0, 0, 2, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}}}};
    stc_bundle_t *b = net1(cores, 2);
    CU_ASSERT_EQUAL(b->ticks, 5);
    res_t r;
    check_ref(b, img1, &r);
    /* worked by hand: X = a_in + bias is the same every timestep; channel 0 is 2x,
     * channel 1 twice the 3x3 box sum minus 1.  With dk = 2048 (h = v + floor((X - v) / 2))
     * and vth = 2: X = 4 or 5 fires at every step, X = 3 at t = 1 only. */
    static const int64_t spikes[3][18] = {
        {0, 0, 0, 1, 0, 0, 0, 0, 0, /**/ 1, 1, 0, 1, 0, 0, 0, 0, 0},
        {0, 0, 0, 1, 0, 0, 0, 0, 0, /**/ 1, 1, 0, 1, 1, 0, 1, 0, 0},
        {0, 0, 0, 1, 0, 0, 0, 0, 0, /**/ 1, 1, 0, 1, 0, 0, 0, 0, 0},
    };
    static const int64_t enc[9] = {0, 1, 0, 2, 0, 0, 0, 0, -1};
    static const int64_t ro[3][3] = {{17, 2, 2}, {21, 4, 2}, {17, 2, 2}};
    for (int t = 0; t < 3; t++) {
        CU_ASSERT_EQUAL(memcmp(r.tr->out[0] + t * 9, enc, sizeof enc), 0);
        CU_ASSERT_EQUAL(memcmp(r.tr->out[1] + t * 18, spikes[t], sizeof spikes[t]), 0);
        CU_ASSERT_EQUAL(memcmp(r.tr->out[2] + t * 3, ro[t], sizeof ro[t]), 0);
    }
    CU_ASSERT_EQUAL(r.logits[0], (float)(55 * 0.5 / 3));
    CU_ASSERT_EQUAL(r.logits[1], (float)(8 * 0.5 / 3));
    CU_ASSERT_EQUAL(r.logits[2], 1.0f);
    CU_ASSERT_EQUAL(r.spk[0], 9);  /* three non-zero pixels x 3 timesteps */
    CU_ASSERT_EQUAL(r.spk[1], 14); /* 4 + 6 + 4 */
    CU_ASSERT_EQUAL(r.spk[2], 0);
    /* synops: the pixels at (0,1), (1,0), (2,2) reach 6, 6 and 4 positions x 2 channels
     * (32 per step), each spike 3 readout neurons */
    CU_ASSERT_EQUAL(r.tot.synops, 3 * 32 + 14 * 3);
    CU_ASSERT_EQUAL(r.cnt[1].neuron_updates, 3 * (18 + 3));
    CU_ASSERT_EQUAL(r.cnt[0].neuron_updates, 0);
    CU_ASSERT_EQUAL(r.cnt[0].spikes, 9);
    CU_ASSERT_EQUAL(r.cnt[1].spikes, 14);
    CU_ASSERT_EQUAL(r.cnt[0].msgs_chip, 9); /* the host port is not on chip 0 */
    CU_ASSERT_EQUAL(r.cnt[1].msgs_local, 14);
    CU_ASSERT_EQUAL(r.cnt[1].ticks_active, 4); /* LIF at ticks 1..3, READOUT at 2..4 */
    /* per stage: synops where they land, neuron work where it is done, messages where they leave */
    CU_ASSERT_EQUAL(r.scnt[0].synops, 0);
    CU_ASSERT_EQUAL(r.scnt[1].synops, 3 * 32);
    CU_ASSERT_EQUAL(r.scnt[2].synops, 14 * 3);
    CU_ASSERT_EQUAL(r.scnt[0].msgs_chip, 9);
    CU_ASSERT_EQUAL(r.scnt[1].msgs_local, 14);
    CU_ASSERT_EQUAL(r.scnt[1].neuron_updates, 3 * 18);
    CU_ASSERT_EQUAL(r.scnt[2].neuron_updates, 3 * 3);
    CU_ASSERT_EQUAL(r.scnt[1].neuron_active, 3 * 12);
    /* active: X != 0 or v != 0 - channel 0 at its 3 pixels, all 9 of channel 1, the 3 readouts */
    CU_ASSERT_EQUAL(r.cnt[1].neuron_active, 3 * (3 + 9 + 3));
    tr_free(r.tr);
    stc_bundle_destroy(&b);
}

/* ----------------------------------------- (2) the same network, cut up */

/* INPUT [2,6,5] -> CONV 3x3 -> LIF [4,6,5] -> DENSE_REDUCE -> READOUT [3,1,1] (random values). */
static stc_bundle_t *net2(const tcore_t *cores, int nc) {
    rng = 777;
    stc_stage_t st[3];
    st[0] = st_make("in", STC_NK_INPUT, 2, 6, 5);
    st[0].qexp = 1, st[0].pbits = 6;
    st[1] = st_make("lif", STC_NK_LIF, 4, 6, 5);
    st[1].shl = 2, st[1].dk = 2048, st[1].vth = 60, st[1].vreset = 0;
    st[1].bias = bias_of(4, (int64_t[]){3, -2, 0, 5});
    st[2] = st_make("out", STC_NK_READOUT, 3, 1, 1);
    st[2].qstep = 0.125;
    st[2].bias = bias_of(3, (int64_t[]){1, 2, 3});
    int8_t wc[4 * 2 * 9], wd[12];
    for (int i = 0; i < 72; i++) wc[i] = (int8_t)rnd(-4, 6);
    for (int i = 0; i < 12; i++) wd[i] = (int8_t)rnd(-20, 20);
    stc_proj_t p[2];
    p[0] = pj_make(0, 1, STC_SK_CONV, 1, 72, wc);
    p[0].k = 3, p[0].stride = 1, p[0].pad = 1, p[0].co = 4, p[0].ci = 2;
    p[1] = pj_make(1, 2, STC_SK_DENSE_REDUCE, 2, 12, wd);
    p[1].co = 3, p[1].ci = 4;
    return mk_bundle(4, st, 3, p, 2, cores, nc);
}

/* INPUT [1,7,7] -> CONV 3x3 stride 2 pad 1 -> LIF [3,4,4] -> WINDOW 2/2 -> MAX [3,2,2]
 * -> CONV 2x2 -> LIF [2,1,1] -> DENSE_REDUCE -> READOUT [2,1,1]. */
static stc_bundle_t *net3(const tcore_t *cores, int nc) {
    rng = 4242;
    stc_stage_t st[6];
    st[0] = st_make("in", STC_NK_INPUT, 1, 7, 7);
    st[0].qexp = 2, st[0].pbits = 8;
    st[1] = st_make("lif1", STC_NK_LIF, 3, 4, 4);
    st[1].shl = 1, st[1].dk = 1365, st[1].vth = 30, st[1].vreset = -3;
    st[2] = st_make("max", STC_NK_MAX, 3, 2, 2);
    st[3] = st_make("lif2", STC_NK_LIF, 2, 1, 1);
    st[3].shl = 0, st[3].dk = 4096, st[3].vth = 2;
    st[3].bias = bias_of(2, (int64_t[]){1, 0});
    st[4] = st_make("out", STC_NK_READOUT, 2, 1, 1);
    st[4].qstep = 0.25;
    int8_t w1[27], w2[24], w3[4];
    for (int i = 0; i < 27; i++) w1[i] = (int8_t)rnd(-3, 5);
    for (int i = 0; i < 24; i++) w2[i] = (int8_t)rnd(-1, 2);
    for (int i = 0; i < 4; i++) w3[i] = (int8_t)rnd(-9, 9);
    stc_proj_t p[4];
    p[0] = pj_make(0, 1, STC_SK_CONV, 0, 27, w1);
    p[0].k = 3, p[0].stride = 2, p[0].pad = 1, p[0].co = 3, p[0].ci = 1;
    p[1] = pj_make(1, 2, STC_SK_WINDOW, 0, 0, NULL);
    p[1].k = 2, p[1].stride = 2, p[1].pad = 0;
    p[2] = pj_make(2, 3, STC_SK_CONV, 0, 24, w2);
    p[2].k = 2, p[2].stride = 1, p[2].pad = 0, p[2].co = 2, p[2].ci = 3;
    p[3] = pj_make(3, 4, STC_SK_DENSE_REDUCE, 0, 4, w3);
    p[3].co = 2, p[3].ci = 2;
    return mk_bundle(5, st, 5, p, 4, cores, nc);
}

static void random_image(float *img, int n, float lo, float hi) {
    for (int i = 0; i < n; i++) img[i] = lo + (hi - lo) * (float)rnd(0, 1000) / 1000.0f;
}

static void compare_runs(const stc_bundle_t *a, const res_t *ra, const stc_bundle_t *b, const res_t *rb) {
    for (int s = 0; s < a->n_stages; s++)
        CU_ASSERT_EQUAL(memcmp(ra->tr->out[s], rb->tr->out[s], (size_t)(a->T * numel(&a->stages[s])) * sizeof(int64_t)),
                        0);
    CU_ASSERT_EQUAL(memcmp(ra->logits, rb->logits, (size_t)a->n_out * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(ra->spk, rb->spk, (size_t)a->n_stages * sizeof(int64_t)), 0);
    CU_ASSERT_EQUAL(ra->tot.synops, rb->tot.synops);
    CU_ASSERT_EQUAL(ra->tot.neuron_updates, rb->tot.neuron_updates);
    CU_ASSERT_EQUAL(ra->tot.neuron_active, rb->tot.neuron_active);
    CU_ASSERT_EQUAL(ra->tot.spikes, rb->tot.spikes);
    (void)b;
}

static void test_split(void) {
    /* net1 on one core, LIF by channels over 2 cores, by rows over 3 cores, both */
    tcore_t one[2] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}}, {0, 0, 0, 2, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}}}};
    tcore_t ch2[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                      {0, 0, 0, 2, {{1, 0, 1, 0, 0}, {2, 0, 0, 0, 0}}},
                      {0, 1, 0, 1, {{1, 1, 2, 0, 0}}}};
    tcore_t rows3[4] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 1, {{1, 0, 0, 0, 1}}},
                        {0, 1, 0, 2, {{2, 0, 0, 0, 0}, {1, 0, 0, 1, 2}}},
                        {1, 0, 0, 1, {{1, 0, 0, 2, 3}}}};
    tcore_t mixed[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 3, {{1, 0, 1, 0, 2}, {1, 1, 2, 2, 3}, {2, 0, 0, 0, 0}}},
                        {0, 1, 1, 2, {{1, 1, 2, 0, 2}, {1, 0, 1, 2, 3}}}};
    const tcore_t *lay[4] = {one, ch2, rows3, mixed};
    int nlay[4] = {2, 3, 4, 3};
    res_t base;
    stc_bundle_t *b0 = net1(one, 2);
    check_ref(b0, img1, &base);
    for (int k = 1; k < 4; k++) {
        stc_bundle_t *b = net1(lay[k], nlay[k]);
        res_t r;
        check_ref(b, img1, &r);
        compare_runs(b0, &base, b, &r);
        tr_free(r.tr);
        stc_bundle_destroy(&b);
    }
    tr_free(base.tr);
    stc_bundle_destroy(&b0);

    /* the random net2 and net3, cut by channels, rows and both, several images */
    tcore_t n2one[2] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}}, {0, 0, 0, 2, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}}}};
    tcore_t n2cut[4] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 2, {{1, 0, 3, 0, 2}, {2, 0, 0, 0, 0}}},
                        {0, 1, 0, 2, {{1, 3, 4, 0, 6}, {1, 0, 3, 2, 5}}},
                        {1, 0, 0, 1, {{1, 0, 3, 5, 6}}}};
    tcore_t n3one[2] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 4, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {3, 0, 0, 0, 0}, {4, 0, 0, 0, 0}}}};
    tcore_t n3cut[4] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 2, {{1, 0, 3, 0, 1}, {2, 0, 1, 0, 0}}},
                        {0, 1, 0, 3, {{1, 0, 2, 1, 4}, {2, 1, 3, 0, 0}, {3, 1, 2, 0, 0}}},
                        {0, 2, 0, 3, {{1, 2, 3, 1, 4}, {3, 0, 1, 0, 0}, {4, 0, 0, 0, 0}}}};
    for (int img = 0; img < 3; img++) {
        float x2[60], x3[49];
        random_image(x2, 60, -4.0f, 6.0f);
        random_image(x3, 49, -1.0f, 3.0f);
        stc_bundle_t *a = net2(n2one, 2), *c = net2(n2cut, 4);
        res_t ra, rc;
        check_ref(a, x2, &ra);
        check_ref(c, x2, &rc);
        compare_runs(a, &ra, c, &rc);
        CU_ASSERT(ra.spk[1] > 0); /* the test means something: the LIFs fire */
        tr_free(ra.tr), tr_free(rc.tr);
        stc_bundle_destroy(&a), stc_bundle_destroy(&c);
        a = net3(n3one, 2), c = net3(n3cut, 4);
        check_ref(a, x3, &ra);
        check_ref(c, x3, &rc);
        compare_runs(a, &ra, c, &rc);
        CU_ASSERT(ra.spk[1] > 0 && ra.spk[2] > 0);
        tr_free(ra.tr), tr_free(rc.tr);
        stc_bundle_destroy(&a), stc_bundle_destroy(&c);
    }
}

/* ------------------------------------------------------- (3) a residual */

/* INPUT -> CONV -> LIF A (depth 1) -> DENSE -> LIF B (depth 2); RELAY R = 2 A + w B
 * (delays 2 and 1) -> DENSE_REDUCE -> READOUT. */
static void test_residual(void) {
    rng = 99;
    stc_stage_t st[5];
    st[0] = st_make("in", STC_NK_INPUT, 2, 4, 4);
    st[0].qexp = 1, st[0].pbits = 8;
    st[1] = st_make("A", STC_NK_LIF, 3, 4, 4);
    st[1].dk = 2048, st[1].vth = 8;
    st[2] = st_make("B", STC_NK_LIF, 3, 4, 4);
    st[2].dk = 3000, st[2].vth = 3, st[2].shl = 1;
    st[3] = st_make("R", STC_NK_RELAY, 3, 4, 4);
    st[3].rsh = 1, st[3].pbits = 4;
    st[3].bias = bias_of(3, (int64_t[]){0, 1, -1});
    st[4] = st_make("out", STC_NK_READOUT, 2, 1, 1);
    st[4].bias = bias_of(2, (int64_t[]){-4, 4});
    st[4].qstep = 0.5;
    int8_t wc[54], wd[9], wr[6];
    for (int i = 0; i < 54; i++) wc[i] = (int8_t)rnd(-3, 4);
    for (int i = 0; i < 9; i++) wd[i] = (int8_t)rnd(-1, 3);
    for (int i = 0; i < 6; i++) wr[i] = (int8_t)rnd(-5, 5);
    stc_proj_t p[5];
    p[0] = pj_make(0, 1, STC_SK_CONV, 0, 54, wc);
    p[0].k = 3, p[0].stride = 1, p[0].pad = 1, p[0].co = 3, p[0].ci = 2;
    p[1] = pj_make(1, 2, STC_SK_DENSE, 0, 9, wd);
    p[1].co = 3, p[1].ci = 3;
    p[2] = pj_make(1, 3, STC_SK_ONE2ONE, 1, 1, (int8_t[]){1});
    p[3] = pj_make(2, 3, STC_SK_ONE2ONE, 0, 3, (int8_t[]){1, 2, 3});
    p[4] = pj_make(3, 4, STC_SK_DENSE_REDUCE, 0, 6, wr);
    p[4].co = 2, p[4].ci = 3;
    tcore_t cores[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 3, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 2}, {3, 0, 2, 0, 0}}},
                        {0, 1, 0, 3, {{2, 0, 0, 2, 4}, {3, 2, 3, 0, 0}, {4, 0, 0, 0, 0}}}};
    stc_bundle_t *b = mk_bundle(4, st, 5, p, 5, cores, 3);
    CU_ASSERT_EQUAL(b->projs[2].delay, 2);
    CU_ASSERT_EQUAL(b->projs[3].delay, 1);
    CU_ASSERT_EQUAL(b->stages[3].depth, 3);
    CU_ASSERT_EQUAL(b->ticks, 4 + 4);
    float x[32];
    for (int k = 0; k < 3; k++) {
        random_image(x, 32, -2.0f, 5.0f);
        res_t r;
        check_ref(b, x, &r);
        int64_t nz = 0;
        for (int i = 0; i < 4 * 48; i++) nz += r.tr->out[3][i] != 0;
        CU_ASSERT(nz > 0 && r.spk[1] > 0 && r.spk[2] > 0); /* both paths carry something */
        tr_free(r.tr);
    }
    stc_bundle_destroy(&b);
}

/* --------------------------------------------------- (4) MAX, AND, SSA */

static void test_max(void) {
    /* INPUT [2,5,5] -> DENSE -> RELAY G (dense, negative values) -> WINDOW 3/2/1 -> MAX [2,3,3]
     * -> REDUCE -> READOUT */
    rng = 5;
    stc_stage_t st[4];
    st[0] = st_make("in", STC_NK_INPUT, 2, 5, 5);
    st[0].qexp = 0, st[0].pbits = 8;
    st[1] = st_make("G", STC_NK_RELAY, 2, 5, 5);
    st[1].rsh = 0, st[1].pbits = 8, st[1].dense = 1;
    st[1].bias = bias_of(2, (int64_t[]){-20, -3});
    st[2] = st_make("max", STC_NK_MAX, 2, 3, 3);
    st[3] = st_make("out", STC_NK_READOUT, 2, 1, 1);
    stc_proj_t p[3];
    p[0] = pj_make(0, 1, STC_SK_DENSE, 0, 4, (int8_t[]){1, 0, -1, 1});
    p[0].co = 2, p[0].ci = 2;
    p[1] = pj_make(1, 2, STC_SK_WINDOW, 0, 0, NULL);
    p[1].k = 3, p[1].stride = 2, p[1].pad = 1;
    p[2] = pj_make(2, 3, STC_SK_REDUCE, 0, 1, (int8_t[]){1});
    tcore_t one[2] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                      {0, 0, 0, 3, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {3, 0, 0, 0, 0}}}};
    tcore_t cut[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                      {0, 0, 0, 3, {{1, 0, 0, 0, 3}, {2, 0, 1, 0, 0}, {3, 0, 0, 0, 0}}},
                      {0, 0, 1, 2, {{1, 0, 0, 3, 5}, {2, 1, 2, 0, 0}}}};
    /* channel 1 of G is x1 - x0 - 3 in -3..0: zeros next to negatives, where a zero must win */
    float x[50];
    for (int i = 0; i < 25; i++) x[i] = (float)rnd(-9, 12), x[25 + i] = x[i] + 3 + (float)rnd(-3, 0);
    for (int k = 0; k < 2; k++) {
        stc_bundle_t *b = k ? mk_bundle(2, st, 4, p, 3, cut, 3) : mk_bundle(2, st, 4, p, 3, one, 2);
        res_t r;
        check_ref(b, x, &r);
        /* by hand at one output: MAX (c0, 0, 0) is the max of G over rows 0..1, cols 0..1 of channel 0 */
        int64_t m = INT64_MIN, neg = 0;
        for (int y = 0; y < 2; y++)
            for (int xx = 0; xx < 2; xx++) {
                int64_t g = stc_graded((int64_t)x[y * 5 + xx] - 20, 0, 8);
                if (g > m) m = g;
            }
        CU_ASSERT_EQUAL(r.tr->out[2][0], m);
        int64_t zero = 0;
        for (int i = 0; i < 18; i++) neg += r.tr->out[2][i] < 0, zero += i >= 9 && r.tr->out[2][i] == 0;
        CU_ASSERT(neg > 0);  /* negative maxima exist: padding never won */
        CU_ASSERT(zero > 0); /* and zero payloads took part */
        tr_free(r.tr);
        /* mk_bundle took the biases and weights; the second bundle must own fresh ones */
        if (!k) {
            st[1].bias = bias_of(2, (int64_t[]){-20, -3});
            p[0] = pj_make(0, 1, STC_SK_DENSE, 0, 4, (int8_t[]){1, 0, -1, 1});
            p[0].co = 2, p[0].ci = 2;
            p[2] = pj_make(2, 3, STC_SK_REDUCE, 0, 1, (int8_t[]){1});
        }
        stc_bundle_destroy(&b);
    }
}

static void test_and(void) {
    /* A = LIF(in) spikes iff q >= 1; M = LIF(sum of the channel) spikes iff sum >= 3;
     * AND = A (ONE2ONE) and M (BCAST) -> REDUCE -> READOUT */
    stc_stage_t st[5];
    st[0] = st_make("in", STC_NK_INPUT, 2, 3, 3);
    st[1] = st_make("A", STC_NK_LIF, 2, 3, 3);
    st[1].vth = 1;
    st[2] = st_make("M", STC_NK_LIF, 2, 1, 1);
    st[2].vth = 3;
    st[3] = st_make("and", STC_NK_AND, 2, 3, 3);
    st[4] = st_make("out", STC_NK_READOUT, 2, 1, 1);
    stc_proj_t p[5];
    p[0] = pj_make(0, 1, STC_SK_ONE2ONE, 0, 1, (int8_t[]){1});
    p[1] = pj_make(0, 2, STC_SK_REDUCE, 0, 1, (int8_t[]){1});
    p[2] = pj_make(1, 3, STC_SK_ONE2ONE, 0, 1, (int8_t[]){1});
    p[3] = pj_make(2, 3, STC_SK_BCAST, 0, 0, NULL);
    p[4] = pj_make(3, 4, STC_SK_REDUCE, 0, 1, (int8_t[]){1});
    tcore_t cores[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 3, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {3, 0, 2, 0, 1}}},
                        {0, 1, 0, 2, {{3, 0, 2, 1, 3}, {4, 0, 0, 0, 0}}}};
    stc_bundle_t *b = mk_bundle(2, st, 5, p, 5, cores, 3);
    /* channel 0: pixels 1 at (0,0), (1,1), (2,2), -1 at (0,1): sum 2 -> M = 0
     * channel 1: pixels 1 at (0,2), (2,0), 2 at (1,1): sum 4 -> M = 1 */
    float x[18] = {1, -1, 0, 0, 1, 0, 0, 0, 1, /**/ 0, 0, 1, 0, 2, 0, 1, 0, 0};
    res_t r;
    check_ref(b, x, &r);
    static const int64_t want[18] = {0, 0, 0, 0, 0, 0, 0, 0, 0, /**/ 0, 0, 1, 0, 1, 0, 1, 0, 0};
    for (int t = 0; t < 2; t++) {
        CU_ASSERT_EQUAL(memcmp(r.tr->out[3] + t * 18, want, sizeof want), 0);
        CU_ASSERT_EQUAL(r.tr->out[2][t * 2], 0);
        CU_ASSERT_EQUAL(r.tr->out[2][t * 2 + 1], 1);
        CU_ASSERT_EQUAL(r.tr->out[4][t * 2], 0);
        CU_ASSERT_EQUAL(r.tr->out[4][t * 2 + 1], 3);
    }
    CU_ASSERT_EQUAL(r.spk[3], 6);
    tr_free(r.tr);
    stc_bundle_destroy(&b);
}

/* q, k, v [4,2,2] (2 heads of 2 channels, 4 tokens) selected from a [12,2,2] input by
 * DENSE identity blocks; SSA (mul 3) -> ONE2ONE -> READOUT [4,2,2]. */
static stc_bundle_t *ssa_net(const tcore_t *cores, int nc) {
    stc_stage_t st[6];
    st[0] = st_make("in", STC_NK_INPUT, 12, 2, 2);
    const char *nm[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) st[1 + i] = st_make(nm[i], STC_NK_LIF, 4, 2, 2);
    st[4] = st_make("ssa", STC_NK_SSA, 4, 2, 2);
    st[4].heads = 2, st[4].mul = 3;
    st[5] = st_make("out", STC_NK_READOUT, 4, 2, 2);
    stc_proj_t p[7];
    for (int i = 0; i < 3; i++) {
        int8_t w[48] = {0, 0, 0, 0, 0};
        for (int o = 0; o < 4; o++) w[o * 12 + 4 * i + o] = 1;
        p[i] = pj_make(0, 1 + i, STC_SK_DENSE, 0, 48, w);
        p[i].co = 4, p[i].ci = 12;
        p[3 + i] = pj_make(1 + i, 4, STC_SK_SSA_Q + i, 0, 0, NULL);
    }
    p[6] = pj_make(4, 5, STC_SK_ONE2ONE, 0, 1, (int8_t[]){1});
    return mk_bundle(2, st, 6, p, 7, cores, nc);
}

static void test_ssa(void) {
    /* q, k, v per channel over the tokens n = 0..3 */
    static const int Q[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {1, 1, 0, 0}, {0, 0, 0, 1}};
    static const int K[4][4] = {{1, 1, 0, 0}, {0, 1, 0, 1}, {1, 0, 1, 0}, {1, 1, 1, 1}};
    static const int V[4][4] = {{1, 0, 0, 1}, {1, 1, 0, 0}, {0, 1, 1, 0}, {1, 0, 0, 0}};
    float x[48];
    for (int c = 0; c < 4; c++)
        for (int n = 0; n < 4; n++)
            x[c * 4 + n] = (float)Q[c][n], x[16 + c * 4 + n] = (float)K[c][n], x[32 + c * 4 + n] = (float)V[c][n];
    /* by hand: head 0 kv = [[1,2],[1,1]], head 1 kv = [[1,1],[2,1]] (row: k channel, column: v channel);
     * I[c,n] = sum over the head's q[c',n] kv[c'][c], times 3 */
    static const int64_t want[16] = {3, 3, 6, 0, 6, 3, 9, 0, 3, 3, 0, 6, 3, 3, 0, 3};
    tcore_t one[2] = {
        {-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
        {0, 0, 0, 5, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {3, 0, 0, 0, 0}, {4, 0, 0, 0, 0}, {5, 0, 0, 0, 0}}}};
    tcore_t heads[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 4, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {3, 0, 0, 0, 0}, {4, 0, 2, 0, 0}}},
                        {0, 1, 0, 2, {{4, 2, 4, 0, 0}, {5, 0, 0, 0, 0}}}};
    tcore_t rows[4] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                       {0, 0, 0, 3, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {3, 0, 0, 0, 0}}},
                       {0, 1, 0, 2, {{4, 0, 4, 0, 1}, {5, 0, 0, 0, 0}}},
                       {1, 0, 0, 2, {{4, 0, 2, 1, 2}, {4, 2, 4, 1, 2}}}};
    const tcore_t *lay[3] = {one, heads, rows};
    int nlay[3] = {2, 3, 4};
    for (int k = 0; k < 3; k++) {
        stc_bundle_t *b = ssa_net(lay[k], nlay[k]);
        res_t r;
        check_ref(b, x, &r);
        for (int t = 0; t < 2; t++) {
            CU_ASSERT_EQUAL(memcmp(r.tr->out[4] + t * 16, want, sizeof want), 0);
            CU_ASSERT_EQUAL(memcmp(r.tr->out[5] + t * 16, want, sizeof want), 0);
        }
        /* 7 v spikes x d = 2 checks, 7 q spikes x 2 channels of their head, per timestep;
         * cut by rows, both row slices build the k.v of every head they hold */
        CU_ASSERT_EQUAL(r.tot.kernel_ops, k < 2 ? 2 * (14 + 14) : 2 * (28 + 14));
        CU_ASSERT_EQUAL(r.spk[4], 2 * 12); /* 12 non-zero outputs per timestep */
        tr_free(r.tr);
        stc_bundle_destroy(&b);
    }
}

/* -------------------------------------------------- (5) message counters */

static void test_messages(void) {
    /* INPUT -> CONV -> LIF A (core 1, chip 0 at (0,0)) -> DENSE -> LIF B (channels split over
     * core 1 and core 2 at (2,1), chip 0) -> DENSE_REDUCE -> READOUT (core 3, chip 1) */
    rng = 31;
    stc_stage_t st[4];
    st[0] = st_make("in", STC_NK_INPUT, 1, 4, 4);
    st[0].qexp = 1;
    st[1] = st_make("A", STC_NK_LIF, 2, 4, 4);
    st[1].vth = 2;
    st[2] = st_make("B", STC_NK_LIF, 4, 4, 4);
    st[2].vth = 1;
    st[3] = st_make("out", STC_NK_READOUT, 3, 1, 1);
    int8_t wc[18], wd[8], wr[12];
    for (int i = 0; i < 18; i++) wc[i] = (int8_t)rnd(-1, 3);
    for (int i = 0; i < 8; i++) wd[i] = (int8_t)rnd(0, 2);
    for (int i = 0; i < 12; i++) wr[i] = (int8_t)rnd(-3, 3);
    stc_proj_t p[3];
    p[0] = pj_make(0, 1, STC_SK_CONV, 0, 18, wc);
    p[0].k = 3, p[0].stride = 1, p[0].pad = 1, p[0].co = 2, p[0].ci = 1;
    p[1] = pj_make(1, 2, STC_SK_DENSE, 0, 8, wd);
    p[1].co = 4, p[1].ci = 2;
    p[2] = pj_make(2, 3, STC_SK_DENSE_REDUCE, 0, 12, wr);
    p[2].co = 3, p[2].ci = 4;
    tcore_t cores[4] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 2, {{1, 0, 0, 0, 0}, {2, 0, 2, 0, 0}}},
                        {0, 2, 1, 1, {{2, 2, 4, 0, 0}}},
                        {1, 0, 0, 1, {{3, 0, 0, 0, 0}}}};
    stc_bundle_t *b = mk_bundle(3, st, 4, p, 3, cores, 4);
    float x[16];
    random_image(x, 16, -1.0f, 3.0f);
    res_t r;
    check_ref(b, x, &r);
    int64_t in_ev = 0, a_sp = 0, b1 = 0, b2 = 0;
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < 16; i++) in_ev += r.tr->out[0][t * 16 + i] != 0;
        for (int i = 0; i < 32; i++) a_sp += r.tr->out[1][t * 32 + i];
        for (int i = 0; i < 64; i++) {
            if (i < 32)
                b1 += r.tr->out[2][t * 64 + i];
            else
                b2 += r.tr->out[2][t * 64 + i];
        }
    }
    CU_ASSERT(in_ev > 0 && a_sp > 0 && b1 > 0 && b2 > 0);
    /* host port: every input event goes to core 1 (another chip) */
    CU_ASSERT_EQUAL(r.cnt[0].spikes, in_ev);
    CU_ASSERT_EQUAL(r.cnt[0].msgs_chip, in_ev);
    CU_ASSERT_EQUAL(r.cnt[0].msgs_local + r.cnt[0].msgs_core, 0);
    /* core 1: A's spikes go to B on core 1 (local) and on core 2 (2 + 1 hops); B's to chip 1 */
    CU_ASSERT_EQUAL(r.cnt[1].spikes, a_sp + b1);
    CU_ASSERT_EQUAL(r.cnt[1].msgs_local, a_sp);
    CU_ASSERT_EQUAL(r.cnt[1].msgs_core, a_sp);
    CU_ASSERT_EQUAL(r.cnt[1].core_hops, 3 * a_sp);
    CU_ASSERT_EQUAL(r.cnt[1].msgs_chip, b1);
    CU_ASSERT_EQUAL(r.cnt[2].spikes, b2);
    CU_ASSERT_EQUAL(r.cnt[2].msgs_chip, b2);
    CU_ASSERT_EQUAL(r.cnt[2].msgs_local + r.cnt[2].msgs_core + r.cnt[2].core_hops, 0);
    CU_ASSERT_EQUAL(r.cnt[3].spikes + r.cnt[3].msgs_chip, 0);
    /* synops: B on core 1 gets 2 channels per A spike, core 2 the other 2; readout 3 per B spike */
    CU_ASSERT_EQUAL(r.cnt[2].synops, 2 * a_sp);
    CU_ASSERT_EQUAL(r.cnt[3].synops, 3 * (b1 + b2));
    CU_ASSERT_EQUAL(r.cnt[3].neuron_updates, 3 * 3);
    CU_ASSERT_EQUAL(r.cnt[2].neuron_updates, 3 * 32);
    CU_ASSERT_EQUAL(r.cnt[1].ticks_active, 4); /* A at 1..3, B at 2..4 */
    CU_ASSERT_EQUAL(r.cnt[3].ticks_active, 3);
    tr_free(r.tr);

    /* the energy model reads these */
    stc_target_t tg;
    stc_err_t err = {0};
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &tg, &err), STC_OK);
    stc_energy_t e;
    stc_energy_model(b, &tg, r.cnt, 1, 0, 0, &e);
    CU_ASSERT(e.dyn_uj > 0 && e.tick_ns > 0 && e.latency_us > 0);
    stc_bundle_destroy(&b);
}

/* ------------------------------------- chip hops on the placement's topology */

/* Run once; per core, the messages to other chips, the links they crossed and their energy (fJ). */
static int64_t FJ[3];
static stc_status_t chip_msgs(const stc_bundle_t *b, const float *x, int64_t *msgs, int64_t *hops, stc_err_t *err) {
    stc_chipsim_t *s = stc_chipsim_create(b, err);
    if (!s) return err->status;
    float lg[8];
    stc_status_t st = stc_chipsim_run(s, x, lg, NULL, NULL, NULL, err);
    for (int c = 0; c < b->n_cores; c++) msgs[c] = stc_chipsim_counters(s)[c].msgs_chip;
    for (int c = 0; c < b->n_cores; c++) hops[c] = stc_chipsim_counters(s)[c].chip_hops;
    for (int c = 0; c < b->n_cores && c < 3; c++) FJ[c] = stc_chipsim_counters(s)[c].chip_link_fj;
    stc_chipsim_destroy(&s);
    return st;
}

/* INPUT -> CONV -> LIF (core 1, chip 0) -> DENSE_REDUCE -> READOUT (core 2, chip 2).  On a
 * 3x1 mesh chip 0 to chip 2 is 2 links, from the carried topology file or from the spec;
 * unplaced, 1 per crossing; placed on a topology that does not load: refused. */
static void test_topology(void) {
    rng = 77;
    stc_stage_t st[3];
    st[0] = st_make("in", STC_NK_INPUT, 1, 4, 4);
    st[0].qexp = 1;
    st[1] = st_make("A", STC_NK_LIF, 2, 4, 4);
    st[1].vth = 2;
    st[2] = st_make("out", STC_NK_READOUT, 3, 1, 1);
    int8_t wc[18], wr[6];
    for (int i = 0; i < 18; i++) wc[i] = (int8_t)rnd(0, 3);
    for (int i = 0; i < 6; i++) wr[i] = (int8_t)rnd(-3, 3);
    stc_proj_t p[2];
    p[0] = pj_make(0, 1, STC_SK_CONV, 0, 18, wc);
    p[0].k = 3, p[0].stride = 1, p[0].pad = 1, p[0].co = 2, p[0].ci = 1;
    p[1] = pj_make(1, 2, STC_SK_DENSE_REDUCE, 0, 6, wr);
    p[1].co = 3, p[1].ci = 2;
    tcore_t cores[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}}, {0, 0, 0, 1, {{1, 0, 0, 0, 0}}}, {2, 0, 0, 1, {{2, 0, 0, 0, 0}}}};
    stc_bundle_t *b = mk_bundle(3, st, 3, p, 2, cores, 3);
    CU_ASSERT_EQUAL_FATAL(b->n_chips, 3);
    float x[16];
    random_image(x, 16, 0.0f, 3.0f);
    stc_err_t err = {0};
    int64_t m[3], h[3];
    /* unplaced: 1 link per crossing */
    CU_ASSERT_EQUAL_FATAL(chip_msgs(b, x, m, h, &err), STC_OK);
    CU_ASSERT(m[0] > 0 && m[1] > 0);
    CU_ASSERT_EQUAL(h[0], m[0]);
    CU_ASSERT_EQUAL(h[1], m[1]);
    int64_t m1 = m[1];
    /* the links' energy: the target's chip hop per crossing (loihi3: 105 pJ) */
    stc_target_t tg;
    CU_ASSERT_EQUAL_FATAL(stc_target_load("loihi3", &tg, &err), STC_OK);
    int64_t hop_fj = (int64_t)(tg.energy_chip_hop_pj * 1000);
    CU_ASSERT_EQUAL(FJ[0], m[0] * hop_fj);
    CU_ASSERT_EQUAL(FJ[1], m1 * hop_fj);
    /* placed on a file the node does not have, but the bundle carries its text */
    snprintf(b->topology, sizeof b->topology, "/nonexistent/line3.json");
    b->topology_json = strdup("{\"format\": \"stc-topology 1\", \"kind\": \"mesh\", "
                              "\"dims\": {\"value\": [3, 1], \"assumption\": \"a line\"}}");
    b->n_links = 2;
    b->link_traffic = calloc(2, sizeof(double));
    b->link_traffic[0] = b->link_traffic[1] = 1.5;
    if (stc_bundle_validate) CU_ASSERT_EQUAL(stc_bundle_validate(b, "placed", &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(chip_msgs(b, x, m, h, &err), STC_OK);
    CU_ASSERT_EQUAL(m[1], m1);
    CU_ASSERT_EQUAL(h[0], m[0]); /* the host port's link */
    CU_ASSERT_EQUAL(h[1], 2 * m1);
    CU_ASSERT_EQUAL(FJ[0], m[0] * hop_fj); /* a file without costs: the target's chip hop per link */
    CU_ASSERT_EQUAL(FJ[1], 2 * m1 * hop_fj);
    /* a file's own costs, pJ: each link what it says (the host port's link stays a chip hop) */
    free(b->topology_json);
    b->topology_json = strdup("{\"format\": \"stc-topology 1\", \"kind\": \"mesh\", "
                              "\"dims\": {\"value\": [3, 1], \"assumption\": \"a line\"}, "
                              "\"cost\": {\"value\": 7, \"assumption\": \"a cheap line\"}}");
    CU_ASSERT_EQUAL_FATAL(chip_msgs(b, x, m, h, &err), STC_OK);
    CU_ASSERT_EQUAL(h[1], 2 * m1);
    CU_ASSERT_EQUAL(FJ[0], m[0] * hop_fj);
    CU_ASSERT_EQUAL(FJ[1], 2 * m1 * 7000);
    free(b->topology_json);
    b->topology_json = strdup("{\"format\": \"stc-topology 1\", \"kind\": \"mesh\", "
                              "\"dims\": {\"value\": [3, 1], \"assumption\": \"a line\"}}");
    /* the link traffic must be per link of that topology */
    b->n_links = 1;
    CU_ASSERT_PTR_NULL(stc_chipsim_create(b, &err));
    STC_ASSERT_CONTAINS(err.msg, "chipsim: field 'n_links' is 1 (section 'link'), but topology "
                                 "'/nonexistent/line3.json' has 2 links");
    b->n_links = 2;
    /* the carried text must parse */
    b->topology_json[2] = 'X';
    CU_ASSERT_PTR_NULL(stc_chipsim_create(b, &err));
    STC_ASSERT_CONTAINS(err.msg, "chipsim: the bundle is placed on topology '/nonexistent/line3.json' (manifest "
                                 "field 'topology'), but the topology file it carries (section 'topo') does not "
                                 "parse: /nonexistent/line3.json: ");
    /* without the text (an older stc's bundle) the file must be there: no silent 1-hop fallback */
    free(b->topology_json);
    b->topology_json = NULL;
    CU_ASSERT_PTR_NULL(stc_chipsim_create(b, &err));
    STC_ASSERT_CONTAINS(err.msg, "chipsim: the bundle is placed on topology '/nonexistent/line3.json' (manifest "
                                 "field 'topology'), carries no topology file (section 'topo') and the spec does "
                                 "not load: /nonexistent/line3.json: cannot open");
    STC_ASSERT_CONTAINS(err.msg, "partition it again");
    /* a spec describes itself */
    snprintf(b->topology, sizeof b->topology, "mesh:3x1");
    CU_ASSERT_EQUAL_FATAL(chip_msgs(b, x, m, h, &err), STC_OK);
    CU_ASSERT_EQUAL(h[1], 2 * m1);
    CU_ASSERT_EQUAL(FJ[1], 2 * m1 * hop_fj);
    /* a hierarchy: chips 0 and 2 are the gateways of two boards, one board-to-board link at 4 chip
     * hops (docs/topologies.md), as the partition report charges it */
    snprintf(b->topology, sizeof b->topology, "hier:2x2");
    b->n_links = 0;
    CU_ASSERT_EQUAL_FATAL(chip_msgs(b, x, m, h, &err), STC_OK);
    CU_ASSERT_EQUAL(h[1], m1);
    CU_ASSERT_EQUAL(FJ[1], 4 * m1 * hop_fj);
    b->n_links = 2;
    /* more chips than the topology has */
    snprintf(b->topology, sizeof b->topology, "mesh:2x1");
    b->n_links = 0;
    CU_ASSERT_PTR_NULL(stc_chipsim_create(b, &err));
    STC_ASSERT_CONTAINS(err.msg, "chipsim: field 'n_chips' is 3, but topology 'mesh:2x1' has 2 chips");
    stc_bundle_destroy(&b);
}

/* ------------------------------------------ LIF lanes at their extremes */

/* The simulator runs the LIF in int32 lanes; the reference is stc_lif_step on
 * int64.  Inputs far beyond the 24-bit state (sums past 2^30, biases of 2^29,
 * shl 12), decays 1, 2731 and 4096, thresholds beyond int32, a negative reset. */
static void test_lif_extremes(void) {
    rng = 2024;
    stc_stage_t st[8];
    st[0] = st_make("in", STC_NK_INPUT, 3, 4, 4);
    st[7] = st_make("wide", STC_NK_LIF, 3, 4, 4); /* a bias of 2^30 + 5 against sums of -2^30 * x */
    st[7].vth = 5;
    st[7].bias = bias_of(3, (int64_t[]){0, 0, (1 << 30) + 5});
    st[0].qexp = 0, st[0].pbits = 8;
    st[6] = st_make("edge", STC_NK_LIF, 3, 4, 4); /* x = 2048 << 12 saturates X to 2^23 - 1 exactly */
    st[6].shl = 12, st[6].dk = 2048, st[6].vth = 4194304;
    st[1] = st_make("big", STC_NK_LIF, 3, 4, 4);
    st[1].shl = 12, st[1].dk = 4096, st[1].vth = 8000000, st[1].vreset = -5;
    st[1].bias = bias_of(3, (int64_t[]){1 << 29, -(1 << 29), 12345});
    st[2] = st_make("lo", STC_NK_LIF, 3, 4, 4);
    st[2].shl = 3, st[2].dk = 4096, st[2].vth = -((int64_t)1 << 40), st[2].vreset = 7;
    st[3] = st_make("hi", STC_NK_LIF, 3, 4, 4);
    st[3].shl = 0, st[3].dk = 1, st[3].vth = (int64_t)1 << 40;
    st[4] = st_make("mid", STC_NK_LIF, 3, 4, 4);
    st[4].shl = 7, st[4].dk = 2731, st[4].vth = 300000, st[4].vreset = -8388607;
    st[5] = st_make("out", STC_NK_READOUT, 3, 1, 1);
    stc_proj_t p[10];
    p[8] = pj_make(0, 6, STC_SK_ONE2ONE, 5, 1, (int8_t[]){1});
    p[9] = pj_make(0, 7, STC_SK_ONE2ONE, 23, 3, (int8_t[]){0, 0, -128});
    p[0] = pj_make(0, 1, STC_SK_ONE2ONE, 17, 3, (int8_t[]){127, -128, 100}); /* sums beyond 2^30 */
    p[1] = pj_make(0, 2, STC_SK_ONE2ONE, 23, 1, (int8_t[]){-3});
    p[2] = pj_make(0, 3, STC_SK_ONE2ONE, 0, 1, (int8_t[]){1});
    p[3] = pj_make(0, 4, STC_SK_ONE2ONE, 10, 3, (int8_t[]){5, -7, 1});
    p[4] = pj_make(1, 5, STC_SK_REDUCE, 0, 1, (int8_t[]){1});
    p[5] = pj_make(2, 5, STC_SK_REDUCE, 0, 1, (int8_t[]){2});
    p[6] = pj_make(3, 5, STC_SK_REDUCE, 0, 1, (int8_t[]){4});
    p[7] = pj_make(4, 5, STC_SK_REDUCE, 0, 1, (int8_t[]){8});
    tcore_t cores[3] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}},
                        {0, 0, 0, 3, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {5, 0, 0, 0, 0}}},
                        {0, 1, 0, 4, {{3, 0, 0, 0, 0}, {4, 0, 0, 0, 0}, {6, 0, 0, 0, 0}, {7, 0, 0, 0, 0}}}};
    stc_bundle_t *b = mk_bundle(6, st, 8, p, 10, cores, 3);
    float x[48];
    for (int i = 0; i < 48; i++) x[i] = (float)(i < 32 ? rnd(-127, 127) : rnd(-1, 2)); /* channel 2: -1..2 */
    x[0] = 127, x[1] = -127, x[16] = 127, x[17] = -127, x[2] = 0, x[3] = 64, x[4] = 63;
    res_t r;
    check_ref(b, x, &r);
    int64_t big = 0, lo = 0, hi = 0, mid = 0;
    for (int i = 0; i < 6 * 48; i++)
        big += r.tr->out[1][i], lo += r.tr->out[2][i], hi += r.tr->out[3][i], mid += r.tr->out[4][i];
    CU_ASSERT(big > 0 && big < 6 * 48); /* saturated membranes fire, others do not */
    CU_ASSERT_EQUAL(lo, 6 * 48);         /* a threshold below int32 fires always */
    CU_ASSERT_EQUAL(hi, 0);              /* one above never */
    CU_ASSERT(mid > 0 && mid < 6 * 48);
    /* at x = 64: X = 2^23 - 1, h = 2^22 - 1 < vth at t = 0, then 2^22 + 2^21 - 1: fires at t = 1 */
    CU_ASSERT_EQUAL(r.tr->out[6][3], 0);
    CU_ASSERT_EQUAL(r.tr->out[6][48 + 3], 1);
    /* wide: x = 2^30 + 5 - 2^30 * q: 5 at q = 1 (fires at vth 5), saturated above for q <= 0, below for q = 2 */
    for (int t = 0; t < 6; t++)
        for (int i = 0; i < 48; i++) CU_ASSERT_EQUAL(r.tr->out[7][t * 48 + i], i >= 32 && x[i] != 2.0f);
    tr_free(r.tr);
    stc_bundle_destroy(&b);
}

/* ---------------------------------------------------------- bad bundles */

static void test_refuse(void) {
    tcore_t cores[2] = {{-1, 0, 0, 1, {{0, 0, 0, 0, 0}}}, {0, 0, 0, 2, {{1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}}}};
    stc_err_t err = {0};
    stc_bundle_t *b = net1(cores, 2);
    b->projs[1].delay = 2;
    stc_chipsim_t *s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NULL(s);
    STC_ASSERT_CONTAINS(err.msg, "delay 2");
    b->projs[1].delay = 1;
    CU_ASSERT_EQUAL_FATAL(b->cores[1].n_route_runs, 1); /* LIF neurons 0..17 to core 1 axons 9..26 */
    CU_ASSERT_EQUAL(b->cores[1].route_runs[0].n, 18);
    CU_ASSERT_EQUAL(b->cores[1].route_runs[0].axon, 9);
    b->cores[1].route_runs[0].axon = 999;
    s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NULL(s);
    STC_ASSERT_CONTAINS(err.msg, "axon 999");
    b->cores[1].route_runs[0].axon = 0; /* neuron 0 of LIF, but axon 0 of core 1 carries input pixel 0 */
    s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NULL(s);
    STC_ASSERT_CONTAINS(err.msg, "routes to core 1 axon 0, which carries neuron 0 of stage 0");
    b->cores[1].route_runs[0].axon = 9;
    b->cores[1].axon_runs[1].n = 17; /* the axon runs no longer hold n_axons */
    s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NULL(s);
    STC_ASSERT_CONTAINS(err.msg, "core 1: its axon runs hold 26 axons, n_axons is 27");
    b->cores[1].axon_runs[1].n = 18;
    b->cores[1].route_runs[0].neuron = 4; /* neurons 4..21 of 21 (18 LIF, 3 readout) */
    s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NULL(s);
    STC_ASSERT_CONTAINS(err.msg, "core 1 route run 0: neurons 4 .. 21 outside its 21 neurons");
    stc_bundle_destroy(&b);
    b = net1(cores, 2);
    b->cores[1].slices[0].c1 = 3;
    s = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NULL(s);
    STC_ASSERT_CONTAINS(err.msg, "outside stage 'lif'");
    stc_bundle_destroy(&b);
}

void stc_suite_chipsim(void) {
    static const stc_test_t tests[] = {
        {"hand-worked conv, LIF, readout", test_hand},
        {"split over cores: same traces, logits, synops", test_split},
        {"residual join with delays 1 and 2", test_residual},
        {"MAX over graded dense input with negatives", test_max},
        {"AND with a broadcast mask", test_and},
        {"SSA against a hand count", test_ssa},
        {"message counters: local, core hops, chip", test_messages},
        {"LIF lanes at the extremes of the state", test_lif_extremes},
        {"malformed bundles are refused", test_refuse},
        {"chip hops on the placement's topology, carried or named", test_topology},
        {NULL, NULL},
    };
    stc_add_suite("chipsim", tests);
}
