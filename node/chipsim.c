/* chipsim.c - the bit-accurate, event-driven chip simulator (node/stc_chipsim.h).
 *
 * What it computes is docs/backend.md sections 2 and 2.1; the formulas are the
 * shared ones of base/stc_fixed.h.  How:
 *
 * - Every core has a ring of (max delay + 1, rounded to a power of two) event
 *   queues.  An event emitted at tick k through a route whose axon belongs to
 *   projection p lands in the slot of tick k + p.delay.  A slot holds at most
 *   one event per route into the core, so its capacity is fixed at create
 *   time and nothing is allocated per run.
 * - At create, the bundle's axon and routing tables (runs, stc_bundle.h) are
 *   expanded per axon and per route, and every input axon of a core is
 *   resolved into "deliveries":
 *   (block, channel, offset) triples of 8 bytes, one per slice of the core
 *   that the source neuron reaches.  A block is one (projection, slice) pair
 *   and holds the projection's weights re-laid for that slice, pre-shifted, as
 *   [ci][ky][kx][o] (CONV) or [ci][o] (DENSE, DENSE_REDUCE), with the slice's
 *   output channels innermost and padded to a multiple of 8, and for CONV and
 *   WINDOW two small tables giving, per source row and column, the first
 *   output row/column reached, how many, and the kernel tap there.  A CONV
 *   event is therefore (taps reached) contiguous vector adds of a weight row
 *   into an accumulator row, with no division and no bounds test per tap.
 *   Routes are resolved too: a route carries its destination's delivery list
 *   (offset, count), its delay and its cost class, so an event is
 *   (deliveries, payload) and the axon table is not read at run time.
 * - A slice's accumulator, state and outputs are position-major, [y][x][c]
 *   with the channels padded, so those rows are contiguous; the routes are
 *   re-laid in that order (the bundle's neuron order is channel-major) and
 *   the deliveries by their source's position, so that an update's events
 *   read both tables roughly in sequence.  Outputs are gathered into a list
 *   first and then sent, prefetching the route entries a few events ahead.
 * - Only slices of stages active this tick (t = tick - depth in [0, T)) are
 *   updated.  The LIF update runs on 8 lanes in int32 (exactly stc_lif_step:
 *   the decay product is split so that no lane needs 64 bits; see lif_rows).
 *   RELAY, READOUT and SSA use the int64 primitives directly.
 * - The tick loop is compiled twice, for AVX2 and for the baseline ISA, and
 *   the faster one that the CPU supports is chosen at create time
 *   (STC_CHIPSIM_NOSIMD=1 in the environment forces the baseline).
 *
 * - A part (stc_chipsim_create_part) builds slices, blocks, deliveries,
 *   routes and queues for the cores it owns only.  A route to a core of
 *   another part keeps that core's axon instead of its deliveries, and the
 *   core is marked remote: emit() tests that flag (next to the queue fields
 *   it reads anyway) and sends such an event to the outbox.  An owned core's
 *   queue capacity still counts the routes into it from every core, from the
 *   bundle's route runs.  stc_chipsim_run is begin + tick + end on a part
 *   that owns every core; the per-tick body is what is compiled twice.
 * - The digest (off unless asked for) adds a 64-bit hash of every emitted
 *   event (stage, neuron, timestep, payload), so it does not depend on which
 *   part emitted it.  The checkpoint blob is docs/runtime.md, "Checkpoint blob".
 *
 * Counters (stc_core_counters_t): synops count one per (event, real target
 * neuron) accumulate, max or buffer write; kernel_ops count, per v event of an
 * SSA slice, d coincidence checks (AND + accumulate into the head's k.v
 * matrix), and per q event one accumulate per slice channel of its head.
 * The host port's injected events count as its spikes and as chip messages.
 * SPDX-License-Identifier: MIT
 */
#include "stc_chipsim.h"
#include "stc_partition.h"
#include "stc_target.h"

#include "stc_fixed.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VL 8 /* lanes per vector: slice channel rows are padded to a multiple of this */

typedef int32_t v8i __attribute__((vector_size(32), __may_alias__));
typedef uint32_t v8u __attribute__((vector_size(32), __may_alias__));

#define ALWAYS static inline __attribute__((always_inline))

/* delivery operations (one per synapse kind, DENSE and DENSE_REDUCE share) */
enum { OP_CONV, OP_ROW, OP_ONE, OP_BCAST, OP_WINDOW, OP_SSA_Q, OP_SSA_K, OP_SSA_V };

typedef struct {
    uint32_t dl; /* the destination axon's deliveries: offset << 8 | count */
    int32_t pl;
} ev_t;

typedef struct {
    uint16_t blk; /* block of the core */
    uint16_t c;   /* CONV/ROW: source channel; ONE/BCAST: channel; WINDOW: slice-local channel */
    int32_t off;  /* ROW/ONE/BCAST: accumulator offset; CONV/WINDOW: y << 16 | x; SSA: n << 16 | c */
} dlv_t;

typedef struct {
    int op;
    int sl;               /* slice (index in s->sl) */
    int nch, nchp;        /* real and padded channels of the slice */
    int32_t *acc;         /* the slice's accumulator (MAX: running max) */
    int32_t *w;           /* CONV [ci][k][k][nchp]; ROW [ci][nchp]; ONE/BCAST [C] (pre-shifted; owned) */
    int32_t w1;           /* WINDOW: payload multiplier (1 << shift) */
    int kk_nchp;          /* CONV: k * k * nchp */
    int row_step;         /* CONV/WINDOW: one output row in the accumulator (w * nchp) */
    int wy_step, wx_step; /* CONV: weight offset decrease per output row / column */
    int contig;           /* CONV with stride 1: kx stored reversed, a tap row is contiguous */
    int npos;             /* BCAST: positions of the slice */
    int32_t *ty, *tx;     /* CONV/WINDOW, per source row / column: {acc offset, count, weight offset} */
    int stage;            /* the destination stage */
    int64_t syn;          /* synops this run, folded into the core's and the stage's counters after it */
} block_t;

typedef struct {
    int stage, kind, core;
    int c0, c1, y0, y1;
    int nch, nchp, w, npos;
    int32_t base;      /* core-local index of the slice's first neuron */
    int32_t *acc;      /* [npos][nchp] */
    int32_t *v;        /* LIF membrane [npos][nchp] */
    int32_t *out;      /* emitted values [npos][nchp] */
    int32_t *bias32;   /* LIF with |bias| <= 2^29 (the 8-lane path): bias per padded channel */
    int32_t *lanemask; /* -1 for real channels, 0 for padding */
    int64_t *bias64;   /* bias per slice channel (zeros if the stage has none) */
    int wide;          /* LIF: some |bias| > 2^29, updated one neuron at a time in int64 */
    /* SSA */
    int d, C, N;
    uint8_t *qb, *kb, *vb; /* [N][C] bits */
    int32_t *ql, *kl, *vl; /* events of this tick: n << 16 | c */
    int32_t nq, nk, nv;
    int32_t *kvt; /* [nch][d]: kv of (slice channel, head channel) */
    int32_t *hd0; /* [C]: first channel of the head of c */
    /* INPUT */
    int32_t *in_idx, *in_pl; /* non-zero encoded values: neuron p * nch + (c - c0), payload */
    int32_t in_n;
} slice_t;

/* A route, resolved: where the event lands (8 bytes: Spikformer-8-768 has
 * 161M of them) and which of its core's destinations it goes to. */
typedef struct {
    uint32_t dl;  /* deliveries of the destination axon: offset << 8 | count */
    uint16_t di;  /* the destination, in the sending core's dst[] */
    uint8_t delay;
    uint8_t pad;
} route_t;

/* One destination core of a core's routes, and what an event to it costs. */
typedef struct {
    int32_t hops;  /* X-Y hops on the chip's mesh (cls 1); chip-to-chip link hops (cls 2) */
    float link_pj; /* cls 2: the energy of those links (the sum of their costs), pJ */
    uint16_t dcore;
    uint8_t cls; /* 0 same core, 1 another core of the chip, 2 another chip */
    uint8_t pad;
} rdst_t;

typedef struct {
    int chip, x, y;
    int sl0, nsl;
    int n_neurons, n_axons;
    int32_t *rto; /* n_neurons + 1, in emission order (slice, position, channel):
                     routes of that neuron are rt[rto[i] .. rto[i + 1]) */
    route_t *rt;
    rdst_t *dst;     /* the distinct destinations of its routes */
    uint32_t *apack; /* per axon: its deliveries in dl, offset << 8 | count */
    dlv_t *dl;       /* deliveries, axons ordered by (projection, y, x, c) of their source */
    block_t *blk;
    int nblk;
    int ndst;        /* entries of dst */
    int64_t nd;      /* deliveries */
    ev_t *q;     /* R slots x cap */
    int32_t *qn; /* events per slot */
    int64_t cap;
    int remote; /* owned by another part: its events go to the outbox (no tables here) */
    int64_t wbytes; /* its blocks' weights and tap tables */
} core_t;

struct stc_chipsim {
    const stc_bundle_t *b;
    int R, mask;
    int nsl;
    slice_t *sl;
    core_t *core;
    stc_core_counters_t *cnt;  /* per core */
    stc_core_counters_t *scnt; /* per stage */
    int64_t **rsum;  /* per stage: READOUT sums (c*h*w), NULL for other kinds */
    int64_t **trbuf; /* per stage: the trace tensor of the current timestep */
    int64_t *stspk;  /* per stage: events emitted this run */
    int simd;
    int overflow;
    int32_t *em_n, *em_pl; /* scratch: the events of one slice update (largest slice) */
    stc_simtrace_fn trace;
    void *ud;
    stc_topology_t *topo; /* the bundle's topology, for chip hops; NULL: every crossing is 1 hop */
    double hop_pj;        /* the target's energy_chip_hop_pj: a link's cost where the topology gives none */
    /* the part */
    uint8_t *own;       /* per core: owned */
    int32_t *owned;     /* the owned cores, ascending */
    int n_owned;
    uint8_t *home;      /* per stage: this part counts the stage's ticks_active (it owns the stage's first core) */
    int maxdelay;       /* the largest delay of a projection (>= 1) */
    int next_tick;      /* ticks of the current input run so far */
    int rtick;          /* restore: the tick of the blobs restored since clear (-1: none yet) */
    uint8_t *restored;  /* per core: restored since clear */
    int digest_on;
    uint64_t digest;
    stc_remote_ev_t *ob; /* the outbox */
    int64_t ob_n, ob_cap;
    int ob_oom;
    int64_t state_bytes; /* allocated for the owned cores */
    int32_t *di_of;      /* while the routes are made: per core, its index in the sending core's dst */
    uint64_t ident;      /* hash of the bundle's shapes (checkpoints) */
    int64_t *run_rsum;   /* stc_chipsim_run's readout sums (n_out) */
};

/* ------------------------------------------------------------- helpers */

static void *amalloc(int64_t n) {
    if (n < 0 || (uint64_t)n > ((uint64_t)1 << 40)) return NULL;
    size_t r = ((size_t)n + 63) & ~(size_t)63;
    if (!r) r = 64;
    void *p = aligned_alloc(64, r);
    if (p) memset(p, 0, r);
    return p;
}

static int64_t numel(const stc_stage_t *s) { return (int64_t)s->c * s->h * s->w; }

/* splitmix64's step: a bijection of 64 bits with full avalanche (digest, identity, checksum). */
static inline uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int is_active(const stc_bundle_t *b, const stc_stage_t *st, int tick) {
    int t = tick - st->depth;
    return t >= 0 && t < b->T;
}

void stc_chipsim_destroy(stc_chipsim_t **sp) {
    if (!sp || !*sp) return;
    stc_chipsim_t *s = *sp;
    stc_topology_destroy(&s->topo);
    for (int i = 0; s->sl && i < s->nsl; i++) {
        slice_t *l = &s->sl[i];
        free(l->acc), free(l->v), free(l->out), free(l->bias32), free(l->lanemask), free(l->bias64);
        free(l->qb), free(l->kb), free(l->vb), free(l->ql), free(l->kl), free(l->vl), free(l->kvt);
        free(l->hd0), free(l->in_idx), free(l->in_pl);
    }
    for (int i = 0; s->core && i < s->b->n_cores; i++) {
        core_t *c = &s->core[i];
        for (int j = 0; c->blk && j < c->nblk; j++) free(c->blk[j].w), free(c->blk[j].ty), free(c->blk[j].tx);
        free(c->blk), free(c->rt), free(c->dst), free(c->rto), free(c->apack), free(c->dl), free(c->q), free(c->qn);
    }
    for (int i = 0; i < s->b->n_stages; i++) {
        if (s->rsum) free(s->rsum[i]);
        if (s->trbuf) free(s->trbuf[i]);
    }
    free(s->rsum), free(s->trbuf), free(s->stspk), free(s->em_n), free(s->em_pl);
    free(s->sl), free(s->core), free(s->cnt), free(s->scnt);
    free(s->own), free(s->owned), free(s->home), free(s->restored), free(s->ob), free(s->run_rsum);
    free(s);
    *sp = NULL;
}

/* ------------------------------------------------------ checking a bundle */

#define BAD(...) stc_err_set(err, STC_E_FORMAT, "chipsim: " __VA_ARGS__)

static stc_status_t check_stages(const stc_bundle_t *b, stc_err_t *err) {
    if (b->T < 1 || b->T > 1 << 16) return BAD("bundle T = %d, expected 1..65536", b->T);
    if (b->ticks < b->T || b->ticks > 1 << 20) return BAD("bundle ticks = %d, expected T (%d) .. 2^20", b->ticks, b->T);
    if (b->n_stages < 1 || !b->stages) return BAD("bundle has no stages");
    if (b->n_cores < 1 || !b->cores) return BAD("bundle has no cores");
    if (b->n_projs < 0 || (b->n_projs && !b->projs)) return BAD("bundle: n_projs = %d without projections", b->n_projs);
    for (int i = 0; i < b->n_stages; i++) {
        const stc_stage_t *s = &b->stages[i];
        if (s->kind < STC_NK_INPUT || s->kind >= STC_NK_COUNT) return BAD("stage %d: kind %d unknown", i, s->kind);
        if (s->c < 1 || s->h < 1 || s->w < 1 || s->c > 65535 || s->h > 32767 || s->w > 32767 || numel(s) > (1 << 28))
            return BAD("stage %d '%s': shape [%d,%d,%d] outside 1..65535 channels, 1..32767 rows/columns, 2^28 neurons",
                       i, s->name, s->c, s->h, s->w);
        if (s->depth < 0 || s->depth > b->ticks)
            return BAD("stage %d '%s': depth %d outside 0..ticks", i, s->name, s->depth);
        if (s->kind == STC_NK_LIF) {
            if (s->shl < 0 || s->shl > 23 || s->dk < 0 || s->dk > 4096)
                return BAD("stage %d '%s': LIF shl %d (0..23) or dk %d (0..4096) out of range", i, s->name, s->shl,
                           s->dk);
            if (s->vreset > STC_STATE_MAX || s->vreset < -STC_STATE_MAX)
                return BAD("stage %d '%s': LIF vreset %lld does not fit the 24-bit state", i, s->name,
                           (long long)s->vreset);
        }
        if ((s->kind == STC_NK_RELAY || s->kind == STC_NK_INPUT) &&
            (s->pbits < 2 || s->pbits > 31 || s->rsh < 0 || s->rsh > 62))
            return BAD("stage %d '%s': payload bits %d (2..31) or rsh %d (0..62) out of range", i, s->name, s->pbits,
                       s->rsh);
        if (s->kind == STC_NK_INPUT && (s->qexp < -64 || s->qexp > 64))
            return BAD("stage %d '%s': qexp %d out of range", i, s->name, s->qexp);
        if (s->kind == STC_NK_SSA) {
            if (s->heads < 1 || s->c % s->heads)
                return BAD("stage %d '%s': %d channels do not split into %d heads", i, s->name, s->c, s->heads);
            if ((int64_t)s->h * s->w > 32767)
                return BAD("stage %d '%s': SSA over %d tokens, at most 32767", i, s->name, s->h * s->w);
        }
        if (s->bias)
            for (int c = 0; c < s->c; c++)
                if (s->bias[c] > INT32_MAX || s->bias[c] < -(int64_t)INT32_MAX)
                    return BAD("stage %d '%s': bias[%d] = %lld, expected |bias| < 2^31", i, s->name, c,
                               (long long)s->bias[c]);
    }
    if (b->input_stage < 0 || b->input_stage >= b->n_stages || b->stages[b->input_stage].kind != STC_NK_INPUT)
        return BAD("input_stage %d is not an INPUT stage", b->input_stage);
    const stc_stage_t *in = &b->stages[b->input_stage];
    if (in->c != b->in_c || in->h != b->in_h || in->w != b->in_w)
        return BAD("input stage [%d,%d,%d] differs from the input shape [%d,%d,%d]", in->c, in->h, in->w, b->in_c,
                   b->in_h, b->in_w);
    if (b->output_stage < 0 || b->output_stage >= b->n_stages || b->stages[b->output_stage].kind != STC_NK_READOUT)
        return BAD("output_stage %d is not a READOUT stage", b->output_stage);
    if (numel(&b->stages[b->output_stage]) != b->n_out)
        return BAD("output stage has %lld neurons, n_out is %d", (long long)numel(&b->stages[b->output_stage]),
                   b->n_out);
    return STC_OK;
}

static stc_status_t check_projs(const stc_bundle_t *b, stc_err_t *err) {
    for (int i = 0; i < b->n_projs; i++) {
        const stc_proj_t *p = &b->projs[i];
        if (p->src < 0 || p->src >= b->n_stages || p->dst < 0 || p->dst >= b->n_stages)
            return BAD("projection %d: stages %d -> %d out of range", i, p->src, p->dst);
        const stc_stage_t *S = &b->stages[p->src], *D = &b->stages[p->dst];
        if (p->delay < 1 || p->delay != D->depth - S->depth)
            return BAD("projection %d ('%s' -> '%s'): delay %d, expected depth difference %d (>= 1)", i, S->name,
                       D->name, p->delay, D->depth - S->depth);
        if (p->shift < 0 || p->shift > 24) return BAD("projection %d: shift %d outside 0..24", i, p->shift);
        if (p->kind != STC_SK_DENSE && p->kind != STC_SK_CONV && p->c0)
            return BAD("projection %d: c0 %d on a %d, not a DENSE or CONV", i, p->c0, p->kind);
        if (S->kind == STC_NK_READOUT) return BAD("projection %d: source '%s' is a READOUT", i, S->name);
        int dk = D->kind, k = p->kind;
        int64_t want = -1; /* number of weights expected (-1: none or per-channel) */
        switch (k) {
        case STC_SK_CONV:
            if (p->k < 1 || p->k > 64 || p->stride < 1 || p->pad < 0 || p->pad >= 1 << 12)
                return BAD("projection %d: CONV k %d stride %d pad %d", i, p->k, p->stride, p->pad);
            if (p->co != D->c || p->ci < 1 || p->c0 < 0 || p->c0 > S->c - p->ci)
                return BAD("projection %d: CONV %dx%d from channel %d for %d -> %d channels", i, p->co, p->ci, p->c0,
                           S->c, D->c);
            want = (int64_t)p->co * p->ci * p->k * p->k;
            break;
        case STC_SK_DENSE:
            if (S->h != D->h || S->w != D->w) return BAD("projection %d: DENSE between different positions", i);
            /* fall through */
        case STC_SK_DENSE_REDUCE:
            if (k == STC_SK_DENSE_REDUCE && (D->h != 1 || D->w != 1))
                return BAD("projection %d: DENSE_REDUCE into [%d,%d,%d]", i, D->c, D->h, D->w);
            if (p->co != D->c || (k == STC_SK_DENSE ? p->ci < 1 || p->c0 < 0 || p->c0 > S->c - p->ci : p->ci != S->c))
                return BAD("projection %d: weights %dx%d from channel %d for %d -> %d channels", i, p->co, p->ci,
                           p->c0, S->c, D->c);
            want = (int64_t)p->co * p->ci;
            break;
        case STC_SK_ONE2ONE:
            if (S->c != D->c || (int64_t)S->h * S->w != (int64_t)D->h * D->w)
                return BAD("projection %d: ONE2ONE between different shapes", i);
            break;
        case STC_SK_REDUCE:
            if (S->c != D->c || D->h != 1 || D->w != 1)
                return BAD("projection %d: REDUCE [%d,..] into [%d,%d,%d]", i, S->c, D->c, D->h, D->w);
            break;
        case STC_SK_BCAST:
            if (S->c != D->c || S->h != 1 || S->w != 1)
                return BAD("projection %d: BCAST from [%d,%d,%d] to %d channels", i, S->c, S->h, S->w, D->c);
            break;
        case STC_SK_WINDOW:
            if (p->k < 1 || p->k > 64 || p->stride < 1 || p->pad < 0 || p->pad >= 1 << 12)
                return BAD("projection %d: WINDOW k %d stride %d pad %d", i, p->k, p->stride, p->pad);
            if (S->c != D->c) return BAD("projection %d: WINDOW between %d and %d channels", i, S->c, D->c);
            break;
        case STC_SK_SSA_Q:
        case STC_SK_SSA_K:
        case STC_SK_SSA_V:
            if (S->c != D->c || S->h != D->h || S->w != D->w)
                return BAD("projection %d: SSA input of another shape", i);
            break;
        default: return BAD("projection %d: synapse kind %d unknown", i, k);
        }
        int into_ssa = k == STC_SK_SSA_Q || k == STC_SK_SSA_K || k == STC_SK_SSA_V;
        if ((dk == STC_NK_SSA) != into_ssa || (dk == STC_NK_MAX) != (k == STC_SK_WINDOW) || dk == STC_NK_INPUT)
            return BAD("projection %d: synapse kind %d cannot feed stage '%s' of kind %d", i, k, D->name, dk);
        if (want >= 0) {
            if (p->n_w != want || !p->w)
                return BAD("projection %d: %lld weights, expected %lld", i, (long long)p->n_w, (long long)want);
        } else if (k == STC_SK_ONE2ONE || k == STC_SK_REDUCE || k == STC_SK_BCAST) {
            if (p->n_w && (!p->w || (p->n_w != 1 && p->n_w != D->c)))
                return BAD("projection %d: %lld weights, expected 1 or %d", i, (long long)p->n_w, D->c);
            if (!p->n_w && k != STC_SK_BCAST) return BAD("projection %d: no weights", i);
        }
    }
    return STC_OK;
}

/* ------------------------------------------------------------------ create */

/* Per source row (or column) i in [0, n_src): the output rows o in [lo, hi) with
 * o*s + t - p == i for a tap t in [0, k): first reached, how many, its tap. */
static void tap_table(int32_t *tab, int n_src, int k, int s, int p, int lo, int hi, int32_t acc_unit, int32_t w_unit) {
    for (int i = 0; i < n_src; i++) {
        int first = -1, cnt = 0, tap = 0;
        for (int o = lo; o < hi; o++) {
            int t = i + p - o * s;
            if (t < 0 || t >= k) continue;
            if (first < 0) first = o, tap = t;
            cnt++;
        }
        tab[3 * i] = first < 0 ? 0 : (first - lo) * acc_unit;
        tab[3 * i + 1] = cnt;
        tab[3 * i + 2] = tap * w_unit;
    }
}

static stc_status_t make_block(stc_chipsim_t *s, int pi, int si, block_t *bk, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    const stc_proj_t *p = &b->projs[pi];
    const stc_stage_t *S = &b->stages[p->src], *D = &b->stages[p->dst];
    slice_t *l = &s->sl[si];
    memset(bk, 0, sizeof *bk);
    bk->sl = si, bk->nch = l->nch, bk->nchp = l->nchp, bk->acc = l->acc, bk->npos = l->npos, bk->stage = l->stage;
    int nchp = l->nchp;
    int64_t wbytes = 0;
    switch (p->kind) {
    case STC_SK_CONV: {
        int K = p->k;
        bk->op = OP_CONV;
        bk->kk_nchp = K * K * nchp;
        bk->row_step = D->w * nchp;
        bk->wy_step = p->stride * K * nchp;
        bk->wx_step = p->stride * nchp;
        bk->w = amalloc((int64_t)p->ci * K * K * nchp * 4);
        bk->ty = amalloc((int64_t)3 * S->h * 4);
        bk->tx = amalloc((int64_t)3 * S->w * 4);
        wbytes = (int64_t)p->ci * K * K * nchp * 4 + (int64_t)3 * (S->h + S->w) * 4;
        if (!bk->w || !bk->ty || !bk->tx) goto oom;
        /* stride 1: kx is stored reversed, so the taps that one source column
         * gives to consecutive output columns are consecutive in memory and a
         * whole tap row is one contiguous row_add */
        bk->contig = p->stride == 1;
        for (int o = l->c0; o < l->c1; o++)
            for (int c = 0; c < p->ci; c++)
                for (int t = 0; t < K * K; t++) {
                    int ts = bk->contig ? t / K * K + (K - 1 - t % K) : t;
                    bk->w[((int64_t)c * K * K + ts) * nchp + (o - l->c0)] =
                        (int32_t)p->w[((int64_t)o * p->ci + c) * K * K + t] * (1 << p->shift);
                }
        tap_table(bk->ty, S->h, K, p->stride, p->pad, l->y0, l->y1, D->w * nchp, K * nchp);
        tap_table(bk->tx, S->w, K, p->stride, p->pad, 0, D->w, nchp, nchp);
        if (bk->contig)
            for (int x = 0; x < S->w; x++) bk->tx[3 * x + 2] = (K - 1) * nchp - bk->tx[3 * x + 2];
        break;
    }
    case STC_SK_WINDOW:
        bk->op = OP_WINDOW;
        bk->w1 = 1 << p->shift;
        bk->row_step = D->w * nchp;
        bk->ty = amalloc((int64_t)3 * S->h * 4);
        bk->tx = amalloc((int64_t)3 * S->w * 4);
        wbytes = (int64_t)3 * (S->h + S->w) * 4;
        if (!bk->ty || !bk->tx) goto oom;
        tap_table(bk->ty, S->h, p->k, p->stride, p->pad, l->y0, l->y1, D->w * nchp, 0);
        tap_table(bk->tx, S->w, p->k, p->stride, p->pad, 0, D->w, nchp, 0);
        break;
    case STC_SK_DENSE:
    case STC_SK_DENSE_REDUCE:
        bk->op = OP_ROW;
        bk->w = amalloc((int64_t)p->ci * nchp * 4);
        wbytes = (int64_t)p->ci * nchp * 4;
        if (!bk->w) goto oom;
        for (int o = l->c0; o < l->c1; o++)
            for (int c = 0; c < p->ci; c++)
                bk->w[(int64_t)c * nchp + (o - l->c0)] = (int32_t)p->w[(int64_t)o * p->ci + c] * (1 << p->shift);
        break;
    case STC_SK_ONE2ONE:
    case STC_SK_REDUCE:
    case STC_SK_BCAST:
        bk->op = p->kind == STC_SK_BCAST ? OP_BCAST : OP_ONE;
        bk->w = amalloc((int64_t)D->c * 4);
        wbytes = (int64_t)D->c * 4;
        if (!bk->w) goto oom;
        for (int c = 0; c < D->c; c++) bk->w[c] = (p->n_w ? (int32_t)p->w[p->n_w == 1 ? 0 : c] : 1) * (1 << p->shift);
        break;
    case STC_SK_SSA_Q: bk->op = OP_SSA_Q; break;
    case STC_SK_SSA_K: bk->op = OP_SSA_K; break;
    default: bk->op = OP_SSA_V; break;
    }
    s->core[l->core].wbytes += wbytes;
    return STC_OK;
oom:
    return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the weights of projection %d", pi);
}

/* Does source neuron (c, y, x) of projection p reach slice l; if so, fill the delivery. */
static int resolve(const stc_chipsim_t *s, const stc_proj_t *p, const block_t *bk, const slice_t *l, int c, int y,
                   int x, dlv_t *d) {
    const stc_stage_t *D = &s->b->stages[p->dst];
    d->c = (uint16_t)c;
    switch (p->kind) {
    case STC_SK_CONV:
    case STC_SK_WINDOW:
        if (p->kind == STC_SK_WINDOW) {
            if (c < l->c0 || c >= l->c1) return 0;
            d->c = (uint16_t)(c - l->c0);
        } else { /* the input channels it reads: all, or a slice's range */
            if (c < p->c0 || c >= p->c0 + p->ci) return 0;
            d->c = (uint16_t)(c - p->c0);
        }
        if (!bk->ty[3 * y + 1] || !bk->tx[3 * x + 1]) return 0;
        d->off = y << 16 | x;
        return 1;
    case STC_SK_DENSE:
        if (y < l->y0 || y >= l->y1 || c < p->c0 || c >= p->c0 + p->ci) return 0;
        d->c = (uint16_t)(c - p->c0);
        d->off = ((y - l->y0) * D->w + x) * l->nchp;
        return 1;
    case STC_SK_DENSE_REDUCE:
        if (l->y0 > 0) return 0;
        d->off = 0;
        return 1;
    case STC_SK_ONE2ONE:
        if (D->w != s->b->stages[p->src].w) { /* pixels into tokens: the same position in (y, x) order */
            int n = y * s->b->stages[p->src].w + x;
            y = n / D->w, x = n % D->w;
        }
        if (c < l->c0 || c >= l->c1 || y < l->y0 || y >= l->y1) return 0;
        d->off = ((y - l->y0) * D->w + x) * l->nchp + (c - l->c0);
        return 1;
    case STC_SK_REDUCE:
        if (c < l->c0 || c >= l->c1 || l->y0 > 0) return 0;
        d->off = c - l->c0;
        return 1;
    case STC_SK_BCAST:
        if (c < l->c0 || c >= l->c1) return 0;
        d->off = c - l->c0;
        return 1;
    default: { /* SSA_Q/K/V: what this slice's heads need */
        int h0 = l->hd0[c], n = y * D->w + x;
        int head_in = h0 < l->c1 && h0 + l->d > l->c0;
        if (p->kind == STC_SK_SSA_Q && (!head_in || y < l->y0 || y >= l->y1)) return 0;
        if (p->kind == STC_SK_SSA_K && !head_in) return 0;
        if (p->kind == STC_SK_SSA_V && (c < l->c0 || c >= l->c1)) return 0;
        d->off = n << 16 | c;
        return 1;
    }
    }
}

/* Every core's slices are checked; the owned cores' get their state. */
static stc_status_t make_slices(stc_chipsim_t *s, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    int n = 0, total = 0;
    for (int i = 0; i < b->n_cores; i++) {
        const stc_core_t *c = &b->cores[i];
        if (c->n_slices < 0 || (c->n_slices && !c->slices) || c->n_slices > 1 << 16)
            return BAD("core %d: %d slices", i, c->n_slices);
        total += c->n_slices;
        if (total > 1 << 24) return BAD("too many slices");
        int64_t base = 0;
        for (int j = 0; j < c->n_slices; j++) {
            const stc_slice_t *bs = &c->slices[j];
            if (bs->stage < 0 || bs->stage >= b->n_stages)
                return BAD("core %d slice %d: stage %d out of range", i, j, bs->stage);
            const stc_stage_t *st = &b->stages[bs->stage];
            if (bs->c0 < 0 || bs->c1 <= bs->c0 || bs->c1 > st->c || bs->y0 < 0 || bs->y1 <= bs->y0 || bs->y1 > st->h)
                return BAD("core %d slice %d: channels [%d,%d) rows [%d,%d) outside stage '%s' [%d,%d,%d]", i, j,
                           bs->c0, bs->c1, bs->y0, bs->y1, st->name, st->c, st->h, st->w);
            if (st->kind == STC_NK_SSA) {
                int d = st->c / st->heads;
                if (bs->c0 % d || bs->c1 % d)
                    return BAD("core %d slice %d: SSA channels [%d,%d) split a head of %d", i, j, bs->c0, bs->c1, d);
            }
            base += (int64_t)(bs->c1 - bs->c0) * (bs->y1 - bs->y0) * st->w;
            if (base > INT32_MAX / 2) return BAD("core %d: too many neurons", i);
        }
        if (base != c->n_neurons)
            return BAD("core %d: n_neurons %d, its slices hold %lld", i, c->n_neurons, (long long)base);
        if (s->own[i]) n += c->n_slices;
    }
    s->nsl = n;
    s->sl = calloc((size_t)(n ? n : 1), sizeof *s->sl);
    if (!s->sl) return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for slices");
    int k = 0;
    for (int i = 0; i < b->n_cores; i++) {
        const stc_core_t *c = &b->cores[i];
        if (!s->own[i]) continue;
        int64_t base = 0;
        s->core[i].sl0 = k, s->core[i].nsl = c->n_slices;
        for (int j = 0; j < c->n_slices; j++, k++) {
            const stc_slice_t *bs = &c->slices[j];
            slice_t *l = &s->sl[k];
            const stc_stage_t *st = &b->stages[bs->stage];
            l->stage = bs->stage, l->kind = st->kind, l->core = i;
            l->c0 = bs->c0, l->c1 = bs->c1, l->y0 = bs->y0, l->y1 = bs->y1;
            l->nch = bs->c1 - bs->c0, l->nchp = (l->nch + VL - 1) / VL * VL;
            l->w = st->w, l->npos = (bs->y1 - bs->y0) * st->w;
            l->base = (int32_t)base;
            base += (int64_t)l->nch * l->npos;
            int64_t sz = (int64_t)l->npos * l->nchp * 4;
            l->acc = amalloc(sz), l->out = amalloc(sz), l->lanemask = amalloc((int64_t)l->nchp * 4);
            if (!l->acc || !l->out || !l->lanemask) goto oom;
            for (int q = 0; q < l->nch; q++) l->lanemask[q] = -1;
            if (st->kind == STC_NK_MAX)
                for (int64_t q = 0; q < (int64_t)l->npos * l->nchp; q++) l->acc[q] = INT32_MIN;
            l->bias64 = amalloc((int64_t)l->nch * 8);
            if (!l->bias64) goto oom;
            for (int q = 0; q < l->nch; q++) l->bias64[q] = st->bias ? st->bias[l->c0 + q] : 0;
            if (st->kind == STC_NK_LIF) {
                l->bias32 = amalloc((int64_t)l->nchp * 4);
                if (!l->bias32 || !(l->v = amalloc(sz))) goto oom;
                for (int q = 0; q < l->nch; q++) {
                    l->bias32[q] = (int32_t)l->bias64[q];
                    l->wide |= l->bias64[q] > (1 << 29) || l->bias64[q] < -(1 << 29);
                }
            }
            if (st->kind == STC_NK_SSA) {
                l->C = st->c, l->d = st->c / st->heads, l->N = st->h * st->w;
                int64_t cn = (int64_t)l->C * l->N;
                l->qb = amalloc(cn), l->kb = amalloc(cn), l->vb = amalloc(cn);
                l->ql = amalloc(cn * 4), l->kl = amalloc(cn * 4), l->vl = amalloc(cn * 4);
                l->kvt = amalloc((int64_t)l->nch * l->d * 4), l->hd0 = amalloc((int64_t)l->C * 4);
                if (!l->qb || !l->kb || !l->vb || !l->ql || !l->kl || !l->vl || !l->kvt || !l->hd0) goto oom;
                for (int q = 0; q < l->C; q++) l->hd0[q] = q / l->d * l->d;
            }
            if (st->kind == STC_NK_INPUT) {
                l->in_idx = amalloc((int64_t)l->nch * l->npos * 4), l->in_pl = amalloc((int64_t)l->nch * l->npos * 4);
                if (!l->in_idx || !l->in_pl) goto oom;
            }
        }
    }
    return STC_OK;
oom:
    return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for neuron state");
}

typedef struct {
    int64_t key;
    int32_t a;
} akey_t;

static int akey_cmp(const void *x, const void *y) {
    const akey_t *p = x, *q = y;
    return p->key < q->key ? -1 : p->key > q->key ? 1 : (p->a > q->a) - (p->a < q->a);
}

/* An input axon, expanded from the bundle's runs (for create only). */
typedef struct {
    int32_t proj, src;
} axon_t;

/* Deliveries of every axon of core i (ax: its axons), axons laid out in the
 * order their events tend to arrive (source position-major, as the slices emit). */
static stc_status_t make_deliveries(stc_chipsim_t *s, int i, const axon_t *ax_of, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    const stc_core_t *c = &b->cores[i];
    core_t *cr = &s->core[i];
    stc_status_t st = STC_OK;
    size_t nbo = (size_t)(b->n_projs ? b->n_projs : 1) * (size_t)(cr->nsl ? cr->nsl : 1);
    int *blk_of = malloc(nbo * sizeof(int));
    akey_t *ord = malloc((size_t)(c->n_axons ? c->n_axons : 1) * sizeof *ord);
    cr->blk = calloc(nbo, sizeof(block_t));
    cr->apack = calloc((size_t)(c->n_axons ? c->n_axons : 1), sizeof(uint32_t));
    if (!blk_of || !ord || !cr->blk || !cr->apack) goto oom;
    for (size_t q = 0; q < nbo; q++) blk_of[q] = -1;
    for (int a = 0; a < c->n_axons; a++) {
        const axon_t *ax = &ax_of[a];
        const stc_stage_t *S = &b->stages[b->projs[ax->proj].src];
        int64_t hw = (int64_t)S->h * S->w, sc = ax->src / hw, pos = ax->src % hw;
        ord[a].key = (int64_t)ax->proj << 40 | (pos * S->c + sc);
        ord[a].a = a;
    }
    qsort(ord, (size_t)c->n_axons, sizeof *ord, akey_cmp);
    int64_t nd = 0;
    dlv_t *dl = NULL;
    for (int pass = 0; pass < 2; pass++) {
        nd = 0;
        for (int k = 0; k < c->n_axons; k++) {
            int a = ord[k].a;
            const axon_t *ax = &ax_of[a];
            const stc_proj_t *p = &b->projs[ax->proj];
            const stc_stage_t *S = &b->stages[p->src];
            int sc = ax->src / (S->h * S->w), sy = ax->src / S->w % S->h, sx = ax->src % S->w;
            int any_slice = 0;
            int64_t first = nd;
            for (int j = 0; j < cr->nsl; j++) {
                const slice_t *l = &s->sl[cr->sl0 + j];
                if (l->stage != p->dst) continue;
                any_slice = 1;
                int *bi = &blk_of[ax->proj * cr->nsl + j];
                if (*bi < 0) {
                    if (cr->nblk >= 65535) {
                        st = BAD("core %d: more than 65535 synapse blocks", i);
                        goto out;
                    }
                    if ((st = make_block(s, ax->proj, cr->sl0 + j, &cr->blk[cr->nblk], err))) goto out;
                    *bi = cr->nblk++;
                }
                dlv_t d;
                if (!resolve(s, p, &cr->blk[*bi], l, sc, sy, sx, &d)) continue;
                d.blk = (uint16_t)*bi;
                if (dl) dl[nd] = d;
                nd++;
            }
            if (!any_slice) {
                st = BAD("core %d axon %d: projection %d feeds stage %d, which has no slice on this core", i, a,
                         ax->proj, p->dst);
                goto out;
            }
            if (nd - first > 255 || nd >= 1 << 24) {
                st = BAD("core %d: too many deliveries (axon %d)", i, a);
                goto out;
            }
            cr->apack[a] = (uint32_t)(first << 8 | (nd - first));
        }
        if (pass == 0 && !(dl = cr->dl = malloc((size_t)(nd ? nd : 1) * sizeof(dlv_t)))) goto oom;
    }
    cr->nd = nd;
out:
    free(blk_of), free(ord);
    return st;
oom:
    free(blk_of), free(ord);
    return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the synapse tables of core %d", i);
}

/* The placement's topology, for chip hops: the topology file the bundle
 * carries (section 'topo'), else its spec ("torus:4x4" describes itself).  A
 * placed bundle must yield one (1 hop per crossing would misstate every longer
 * route's energy); an unplaced one (topology "") counts 1 hop per crossing.
 * The link traffic the partitioner recorded must be per link of this topology. */
static stc_status_t load_topology(stc_chipsim_t *s, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    /* link costs in pJ, as the partitioner loads the topology: the target's chip hop where the
     * spec or file gives none (a bundle whose target does not load: 1 pJ a hop; it cannot be
     * profiled either) */
    stc_target_t t;
    stc_err_t tge = {0};
    int have = !(b->target_json ? stc_target_parse(b->target_json, strlen(b->target_json), b->target, &t, &tge)
                                : stc_target_load(b->target, &t, &tge));
    s->hop_pj = have ? t.energy_chip_hop_pj : 1.0;
    if (!b->topology[0]) return STC_OK;
    double bw = have ? t.chip_link_spikes_per_s : 1.0;
    stc_err_t te = {0};
    s->topo = stc_topology_of_bundle(b, bw, s->hop_pj, &te);
    if (!s->topo)
        return stc_err_set(err, te.status ? te.status : STC_E_FORMAT,
                           "chipsim: the bundle is placed on topology '%s' (manifest field 'topology'), %s: %s%s",
                           b->topology,
                           b->topology_json ? "but the topology file it carries (section 'topo') does not parse"
                                            : "carries no topology file (section 'topo') and the spec does not load",
                           te.msg,
                           b->topology_json ? "" : "; partition it again with an stc that embeds the file");
    int nl = stc_topology_n_links(s->topo), nc = stc_topology_chips(s->topo);
    if (b->n_links && b->n_links != nl)
        return stc_err_set(err, STC_E_FORMAT,
                           "chipsim: field 'n_links' is %d (section 'link'), but topology '%s' has %d links", b->n_links,
                           b->topology, nl);
    if (b->n_chips > nc)
        return stc_err_set(err, STC_E_FORMAT, "chipsim: field 'n_chips' is %d, but topology '%s' has %d chips",
                           b->n_chips, b->topology, nc);
    return STC_OK;
}

/* Links a message crosses between chips: the topology's route, or 1 when the
 * bundle names none (or for the host port's link to the first chip). */
static int32_t chip_hops(const stc_chipsim_t *s, int a, int b) {
    if (!s->topo || a < 0 || b < 0) return 1;
    int h = stc_topology_hops(s->topo, a, b);
    return h > 0 ? h : 1;
}

/* Their energy, pJ: the sum of the route's link costs, or one chip hop of the
 * target where chip_hops counts 1. */
static float chip_link_pj(const stc_chipsim_t *s, int a, int b) {
    if (!s->topo || a < 0 || b < 0 || stc_topology_hops(s->topo, a, b) <= 0) return (float)s->hop_pj;
    return (float)stc_topology_cost(s->topo, a, b);
}

/* Routes sent in (destination core, axon) order: a run's neurons each route
 * to the next axon, and the runs into one core reach disjoint axon ranges
 * (validate), so filling the runs in (core, axon) order lists every neuron's
 * routes in (core, axon) order. */
static int rrun_cmp(const void *x, const void *y) {
    const stc_route_run_t *p = x, *q = y;
    if (p->core != q->core) return (p->core > q->core) - (p->core < q->core);
    if (p->axon != q->axon) return (p->axon > q->axon) - (p->axon < q->axon);
    return (p->neuron > q->neuron) - (p->neuron < q->neuron);
}

/* Core i's routes in emission order, checked against the axons they reach
 * (ax: every core's axons, expanded).  A route to a core of another part
 * keeps that core's axon: dl = axon << 8 | 1 (a count, so that emit does not
 * skip it; the receiving part drops events of axons without deliveries). */
static stc_status_t make_routes(stc_chipsim_t *s, int i, axon_t *const *ax, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    const stc_core_t *c = &b->cores[i];
    core_t *cr = &s->core[i];
    stc_status_t st = STC_OK;
    /* the bundle's routes per neuron (CSR in the bundle's neuron order), from the runs */
    int32_t *off = calloc((size_t)c->n_neurons + 1, sizeof *off);
    stc_route_run_t *rr = malloc((size_t)(c->n_route_runs ? c->n_route_runs : 1) * sizeof *rr);
    typedef struct {
        int32_t core, axon;
    } dst_t;
    dst_t *to = malloc((size_t)(c->n_routes ? c->n_routes : 1) * sizeof *to);
    cr->rto = malloc(((size_t)c->n_neurons + 1) * sizeof(int32_t));
    cr->rt = malloc((size_t)(c->n_routes ? c->n_routes : 1) * sizeof *cr->rt);
    int most = c->n_routes < b->n_cores ? c->n_routes : b->n_cores, nd = 0;
    cr->dst = malloc((size_t)(most > 0 ? most : 1) * sizeof *cr->dst);
    int32_t *di_of = s->di_of; /* per core: its index in cr->dst, or -1; reset below */
    if (!off || !rr || !to || !cr->rto || !cr->rt || !cr->dst) {
        st = stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the routes of core %d", i);
        goto out;
    }
    if (c->n_route_runs) memcpy(rr, c->route_runs, (size_t)c->n_route_runs * sizeof *rr);
    qsort(rr, (size_t)c->n_route_runs, sizeof *rr, rrun_cmp);
    for (int r = 0; r < c->n_route_runs; r++) { /* counts, as differences (checked: inside the core's neurons) */
        off[rr[r].neuron]++;
        off[rr[r].neuron + rr[r].n]--;
    }
    for (int32_t n = 0, run = 0, at = 0; n <= c->n_neurons; n++) { /* -> each neuron's first route */
        int32_t here = off[n];
        off[n] = at;
        run += here;
        at += run;
    }
    for (int r = 0; r < c->n_route_runs; r++)
        for (int32_t j = 0; j < rr[r].n; j++) to[off[rr[r].neuron + j]++] = (dst_t){rr[r].core, rr[r].axon + j};
    for (int32_t n = c->n_neurons; n > 0; n--) off[n] = off[n - 1]; /* the cursors back to the starts */
    off[0] = 0;
    int32_t nr = 0;
    for (int j = 0; j < cr->nsl; j++) {
        const slice_t *l = &s->sl[cr->sl0 + j];
        const stc_stage_t *sg = &b->stages[l->stage];
        for (int p = 0; p < l->npos; p++)
            for (int ch = 0; ch < l->nch; ch++) {
                int32_t n = l->base + ch * l->npos + p; /* the bundle's index */
                int64_t flat = ((int64_t)(l->c0 + ch) * sg->h + l->y0) * sg->w + p;
                cr->rto[l->base + p * l->nch + ch] = nr;
                for (int32_t r = off[n]; r < off[n + 1]; r++) {
                    const dst_t *ro = &to[r];
                    if (ro->core < 0 || ro->core >= b->n_cores || ro->axon < 0 ||
                        ro->axon >= b->cores[ro->core].n_axons) {
                        st = BAD("core %d neuron %d (stage %d, index %lld) routes to core %d axon %d, out of range", i,
                                 n, l->stage, (long long)flat, ro->core, ro->axon);
                        goto out;
                    }
                    const axon_t *a = &ax[ro->core][ro->axon];
                    const stc_proj_t *pj = &b->projs[a->proj];
                    if (pj->src != l->stage || a->src != flat) {
                        st = BAD("core %d neuron %d (stage %d, index %lld) routes to core %d axon %d, which carries "
                                 "neuron %d of stage %d",
                                 i, n, l->stage, (long long)flat, ro->core, ro->axon, a->src, pj->src);
                        goto out;
                    }
                    const stc_core_t *dc = &b->cores[ro->core];
                    route_t *rt = &cr->rt[nr++];
                    if (s->own[ro->core])
                        rt->dl = s->core[ro->core].apack[ro->axon];
                    else if (ro->axon < 1 << 24)
                        rt->dl = (uint32_t)ro->axon << 8 | 1;
                    else {
                        st = BAD("core %d neuron %d routes to axon %d of core %d, beyond 2^24 axons", i, n, ro->axon,
                                 ro->core);
                        goto out;
                    }
                    if (di_of[ro->core] < 0) {
                        rdst_t *d = &cr->dst[nd];
                        d->dcore = (uint16_t)ro->core, d->pad = 0;
                        d->cls = ro->core == i ? 0 : dc->chip == c->chip ? 1 : 2;
                        d->hops = d->cls == 1 ? abs(dc->x - c->x) + abs(dc->y - c->y)
                                  : d->cls == 2 ? chip_hops(s, c->chip, dc->chip) : 0;
                        d->link_pj = d->cls == 2 ? chip_link_pj(s, c->chip, dc->chip) : 0.0f;
                        di_of[ro->core] = nd++;
                    }
                    rt->di = (uint16_t)di_of[ro->core], rt->delay = (uint8_t)pj->delay, rt->pad = 0;
                }
            }
    }
    cr->rto[c->n_neurons] = nr;
out:
    for (int k = 0; cr->dst && k < nd; k++) di_of[cr->dst[k].dcore] = -1;
    cr->ndst = nd;
    free(off), free(rr), free(to);
    return st;
}

/* in_ev[d], for every owned core d: the routes into d, from any core, whose
 * axon has deliveries (an event on each may land in one slot), counted over
 * the bundle's route runs with a prefix count of such axons per owned core. */
static stc_status_t count_in_events(stc_chipsim_t *s, int64_t *in_ev, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    int32_t **pre = calloc((size_t)b->n_cores, sizeof *pre);
    stc_status_t st = pre ? STC_OK : stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory");
    for (int d = 0; d < b->n_cores && !st; d++) {
        if (!s->own[d]) continue;
        const core_t *cr = &s->core[d];
        if (!(pre[d] = malloc(((size_t)cr->n_axons + 1) * sizeof(int32_t)))) {
            st = stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the queues of core %d", d);
            break;
        }
        pre[d][0] = 0;
        for (int a = 0; a < cr->n_axons; a++) pre[d][a + 1] = pre[d][a] + ((cr->apack[a] & 255) != 0);
    }
    for (int i = 0; i < b->n_cores && !st; i++) {
        const stc_core_t *c = &b->cores[i];
        for (int r = 0; r < c->n_route_runs; r++) {
            const stc_route_run_t *rr = &c->route_runs[r];
            int d = rr->core;
            if (d < 0 || d >= b->n_cores || !s->own[d]) continue; /* not into this part (owned sources: checked) */
            if ((int64_t)rr->axon + rr->n > s->core[d].n_axons) {
                st = BAD("core %d route run %d: axons %d .. %lld of core %d, which has %d axons", i, r, rr->axon,
                         (long long)rr->axon + rr->n - 1, d, s->core[d].n_axons);
                break;
            }
            in_ev[d] += pre[d][rr->axon + rr->n] - pre[d][rr->axon];
        }
    }
    for (int d = 0; pre && d < b->n_cores; d++) free(pre[d]);
    free(pre);
    return st;
}

static stc_status_t make_cores(stc_chipsim_t *s, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    int maxdelay = 1;
    for (int i = 0; i < b->n_projs; i++)
        if (b->projs[i].delay > maxdelay) maxdelay = b->projs[i].delay;
    if (maxdelay > 255) return BAD("a delay of %d ticks, at most 255", maxdelay);
    if (b->n_cores > 65535) return BAD("%d cores, at most 65535", b->n_cores);
    s->maxdelay = maxdelay;
    s->R = 1;
    while (s->R < maxdelay + 1) s->R <<= 1;
    s->mask = s->R - 1;
    /* every core's axons, expanded from the runs, while the tables are made */
    axon_t **ax = calloc((size_t)b->n_cores, sizeof *ax);
    int64_t *in_ev = calloc((size_t)b->n_cores, sizeof(int64_t));
    stc_status_t st = ax && in_ev ? STC_OK : stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory");
    for (int i = 0; i < b->n_cores && !st; i++) {
        const stc_core_t *c = &b->cores[i];
        core_t *cr = &s->core[i];
        cr->chip = c->chip, cr->x = c->x, cr->y = c->y;
        cr->n_neurons = c->n_neurons, cr->n_axons = c->n_axons;
        if (c->n_axons < 0 || c->n_axon_runs < 0 || (c->n_axon_runs && !c->axon_runs)) {
            st = BAD("core %d: %d axons in %d runs", i, c->n_axons, c->n_axon_runs);
            break;
        }
        if (!(ax[i] = malloc((size_t)(c->n_axons ? c->n_axons : 1) * sizeof **ax))) {
            st = stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the axons of core %d", i);
            break;
        }
        int64_t a = 0;
        for (int k = 0; k < c->n_axon_runs && !st; k++) {
            const stc_axon_run_t *ar = &c->axon_runs[k];
            if (ar->proj < 0 || ar->proj >= b->n_projs || ar->n < 1 || ar->src < 0 ||
                (int64_t)ar->src + ar->n > numel(&b->stages[b->projs[ar->proj].src]) || a + ar->n > c->n_axons) {
                st = BAD("core %d axon run %d: projection %d / %d source neurons from %d out of range (%d axons)", i,
                         k, ar->proj, ar->n, ar->src, c->n_axons);
                break;
            }
            for (int32_t j = 0; j < ar->n; j++) ax[i][a + j] = (axon_t){ar->proj, ar->src + j};
            a += ar->n;
        }
        if (!st && a != c->n_axons) st = BAD("core %d: its axon runs hold %lld axons, n_axons is %d", i, (long long)a,
                                             c->n_axons);
        int64_t nr = 0;
        if (!st && (c->n_routes < 0 || c->n_route_runs < 0 || (c->n_route_runs && !c->route_runs)))
            st = BAD("core %d: %d routes in %d runs", i, c->n_routes, c->n_route_runs);
        for (int k = 0; k < c->n_route_runs && !st; k++) {
            const stc_route_run_t *rr = &c->route_runs[k];
            if (rr->n < 1 || rr->neuron < 0 || (int64_t)rr->neuron + rr->n > c->n_neurons)
                st = BAD("core %d route run %d: neurons %d .. %lld outside its %d neurons", i, k, rr->neuron,
                         (long long)rr->neuron + rr->n - 1, c->n_neurons);
            else if (rr->axon < 0 || (int64_t)rr->axon + rr->n > INT32_MAX)
                st = BAD("core %d route run %d: axon %d out of range", i, k, rr->axon);
            nr += rr->n;
        }
        if (!st && nr != c->n_routes)
            st = BAD("core %d: its route runs hold %lld routes, n_routes is %d", i, (long long)nr, c->n_routes);
    }
    for (int i = 0; i < b->n_cores && !st; i++)
        if (s->own[i]) st = make_deliveries(s, i, ax[i], err);
    if (!st && !(s->di_of = malloc((size_t)b->n_cores * sizeof *s->di_of)))
        st = stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory");
    for (int i = 0; !st && i < b->n_cores; i++) s->di_of[i] = -1;
    for (int i = 0; i < b->n_cores && !st; i++)
        if (s->own[i]) st = make_routes(s, i, ax, err);
    free(s->di_of);
    s->di_of = NULL;
    for (int i = 0; ax && i < b->n_cores; i++) free(ax[i]);
    free(ax);
    if (!st) st = count_in_events(s, in_ev, err);
    if (st) {
        free(in_ev);
        return st;
    }
    /* a slot receives at most one event per route into the core */
    for (int i = 0; i < b->n_cores; i++) {
        core_t *cr = &s->core[i];
        cr->remote = !s->own[i];
        if (cr->remote) continue;
        cr->cap = in_ev[i];
        cr->q = malloc((size_t)s->R * (size_t)(cr->cap ? cr->cap : 1) * sizeof(ev_t));
        cr->qn = calloc((size_t)s->R, sizeof(int32_t));
        if (!cr->q || !cr->qn) {
            free(in_ev);
            return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the event queues of core %d", i);
        }
    }
    free(in_ev);
    return STC_OK;
}

/* The bundle's shapes, as a checkpoint names them: stages, projections'
 * geometry and delays, and every core's place, slices and table sizes. */
static uint64_t bundle_ident(const stc_bundle_t *b) {
    uint64_t h = mix64(0x5354434944454e54ull); /* "STCIDENT" */
#define H(x) (h = mix64(h ^ (uint64_t)(int64_t)(x)))
    H(b->T), H(b->ticks), H(b->n_stages), H(b->n_projs), H(b->n_cores), H(b->n_out);
    H(b->input_stage), H(b->output_stage);
    for (int i = 0; i < b->n_stages; i++) {
        const stc_stage_t *st = &b->stages[i];
        H(st->kind), H(st->c), H(st->h), H(st->w), H(st->depth), H(st->heads);
    }
    for (int i = 0; i < b->n_projs; i++) {
        const stc_proj_t *p = &b->projs[i];
        H(p->src), H(p->dst), H(p->kind), H(p->delay), H(p->k), H(p->stride), H(p->pad);
    }
    for (int i = 0; i < b->n_cores; i++) {
        const stc_core_t *c = &b->cores[i];
        H(c->chip), H(c->x), H(c->y), H(c->n_slices), H(c->n_axons), H(c->n_neurons), H(c->n_routes);
        for (int j = 0; j < c->n_slices; j++) {
            const stc_slice_t *l = &c->slices[j];
            H(l->stage), H(l->c0), H(l->c1), H(l->y0), H(l->y1);
        }
    }
#undef H
    return h;
}

/* The bytes allocated for the owned cores: their slices' state, blocks,
 * deliveries, routes and queues (the same for a core whichever part owns it). */
static int64_t owned_bytes(const stc_chipsim_t *s) {
    int64_t n = 0;
#define A64(x) ((((int64_t)(x)) + 63) & ~(int64_t)63)
    for (int i = 0; i < s->nsl; i++) {
        const slice_t *l = &s->sl[i];
        int64_t sz = A64((int64_t)l->npos * l->nchp * 4);
        n += sizeof *l + 2 * sz + A64((int64_t)l->nchp * 4) + A64((int64_t)l->nch * 8);
        if (l->kind == STC_NK_LIF) n += sz + A64((int64_t)l->nchp * 4);
        if (l->kind == STC_NK_SSA) {
            int64_t cn = (int64_t)l->C * l->N;
            n += 3 * A64(cn) + 3 * A64(cn * 4) + A64((int64_t)l->nch * l->d * 4) + A64((int64_t)l->C * 4);
        }
        if (l->kind == STC_NK_INPUT) n += 2 * A64((int64_t)l->nch * l->npos * 4);
    }
    for (int k = 0; k < s->n_owned; k++) {
        const core_t *cr = &s->core[s->owned[k]];
        const stc_core_t *c = &s->b->cores[s->owned[k]];
        size_t nbo = (size_t)(s->b->n_projs ? s->b->n_projs : 1) * (size_t)(cr->nsl ? cr->nsl : 1);
        n += (int64_t)(nbo * sizeof(block_t));
        n += (int64_t)c->n_axons * 4 + cr->nd * (int64_t)sizeof(dlv_t);
        n += ((int64_t)c->n_neurons + 1) * 4 + (int64_t)c->n_routes * (int64_t)sizeof(route_t) +
             (int64_t)cr->ndst * (int64_t)sizeof(rdst_t);
        n += (int64_t)s->R * (cr->cap ? cr->cap : 1) * (int64_t)sizeof(ev_t) + (int64_t)s->R * 4;
        n += cr->wbytes;
    }
#undef A64
    return n;
}

stc_chipsim_t *stc_chipsim_create(const stc_bundle_t *b, stc_err_t *err) {
    return stc_chipsim_create_part(b, NULL, err);
}

stc_chipsim_t *stc_chipsim_create_part(const stc_bundle_t *b, const uint8_t *own, stc_err_t *err) {
    if (!b) {
        stc_err_set(err, STC_E_USAGE, "chipsim: no bundle");
        return NULL;
    }
    if (check_stages(b, err) || check_projs(b, err)) return NULL;
    stc_chipsim_t *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->b = b;
    s->core = calloc((size_t)b->n_cores, sizeof *s->core);
    s->cnt = calloc((size_t)b->n_cores, sizeof *s->cnt);
    s->scnt = calloc((size_t)b->n_stages, sizeof *s->scnt);
    s->rsum = calloc((size_t)b->n_stages, sizeof *s->rsum);
    s->trbuf = calloc((size_t)b->n_stages, sizeof *s->trbuf); /* the tensors themselves when a run traces */
    s->stspk = calloc((size_t)b->n_stages, sizeof *s->stspk);
    s->own = calloc((size_t)b->n_cores, 1);
    s->owned = calloc((size_t)b->n_cores, sizeof *s->owned);
    s->restored = calloc((size_t)b->n_cores, 1);
    s->home = calloc((size_t)b->n_stages, 1);
    s->run_rsum = calloc((size_t)b->n_out, sizeof *s->run_rsum);
    if (!s->core || !s->cnt || !s->scnt || !s->rsum || !s->trbuf || !s->stspk || !s->own || !s->owned ||
        !s->restored || !s->home || !s->run_rsum)
        goto oom;
    for (int i = 0; i < b->n_cores; i++) {
        s->own[i] = !own || own[i];
        if (s->own[i]) s->owned[s->n_owned++] = i;
    }
    s->rtick = -1;
    for (int i = 0; i < b->n_stages; i++) /* every part keeps the (small) readout sums, to take others' shares */
        if (b->stages[i].kind == STC_NK_READOUT && !(s->rsum[i] = amalloc(numel(&b->stages[i]) * 8))) goto oom;
    if (load_topology(s, err) || make_slices(s, err) || make_cores(s, err)) {
        stc_chipsim_destroy(&s);
        return NULL;
    }
    /* a stage's ticks_active is counted by the part owning the first core that
     * holds a slice of it (core 0 for a stage without slices) */
    for (int i = 0; i < b->n_stages; i++) s->home[i] = s->own[0];
    for (int c = b->n_cores - 1; c >= 0; c--)
        for (int j = 0; j < b->cores[c].n_slices; j++) s->home[b->cores[c].slices[j].stage] = s->own[c];
    s->ident = bundle_ident(b);
    s->state_bytes = owned_bytes(s);
    int64_t most = 1;
    for (int i = 0; i < s->nsl; i++)
        if ((int64_t)s->sl[i].nch * s->sl[i].npos > most) most = (int64_t)s->sl[i].nch * s->sl[i].npos;
    /* + VL: the gather stores each lane before it knows whether to keep it */
    s->em_n = amalloc((most + VL) * 4), s->em_pl = amalloc((most + VL) * 4);
    if (!s->em_n || !s->em_pl) goto oom;
    s->simd = stc_cpu_avx2("STC_CHIPSIM_NOSIMD");
    return s;
oom:
    stc_chipsim_destroy(&s);
    stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory");
    return NULL;
}

const stc_core_counters_t *stc_chipsim_counters(const stc_chipsim_t *s) { return s->cnt; }

/* Per stage: synops and kernel work of the stage's neurons (as receivers),
 * their updates, and the events and messages they send; ticks_active counts
 * the ticks at which the stage computed. */
const stc_core_counters_t *stc_chipsim_stage_counters(const stc_chipsim_t *s) { return s->scnt; }

void stc_chipsim_reset_counters(stc_chipsim_t *s) {
    memset(s->cnt, 0, (size_t)s->b->n_cores * sizeof *s->cnt);
    memset(s->scnt, 0, (size_t)s->b->n_stages * sizeof *s->scnt);
}

/* ------------------------------------------------------------- the ticks */

#define bc(x) ((v8i){(x), (x), (x), (x), (x), (x), (x), (x)})

/* min(max(x, lo), hi), lane by lane (a macro: 32-byte vectors are not passed by value) */
#define vclamp(x, lo, hi) vsel_((x) > (hi), (hi), vsel_((x) < (lo), (lo), (x)))
#define vsel_(m, a, b) (((m) & (a)) | (~(m) & (b)))

ALWAYS int64_t hsum(const v8i *x) {
    int32_t t[VL];
    memcpy(t, x, sizeof t);
    int64_t n = 0;
    for (int i = 0; i < VL; i++) n += t[i];
    return n;
}

/* a[0..nv*8) += w[0..nv*8) * pl, in wrapping (two's complement) arithmetic */
ALWAYS void row_add(int32_t *a, const int32_t *w, int nv, int32_t pl) {
    v8u *A = (v8u *)a;
    const v8u *W = (const v8u *)w;
    if (pl == 1) {
        for (int j = 0; j < nv; j++) A[j] += W[j];
    } else {
        uint32_t u = (uint32_t)pl;
        for (int j = 0; j < nv; j++) A[j] += W[j] * u;
    }
}

ALWAYS int32_t wmul(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
ALWAYS int32_t wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* Send one event of core-local neuron n through its routes. */
typedef struct {
    int64_t local, core, hops, chip, chip_hops;
    double link_pj;
} msgs_t;

/* An event for a core of another part: to the outbox (grown by doubling). */
static __attribute__((noinline)) void send_remote(stc_chipsim_t *s, int dcore, const route_t *rt, int32_t pl,
                                                   int tick) {
    if (s->ob_n == s->ob_cap) {
        int64_t nc = s->ob_cap ? 2 * s->ob_cap : 4096;
        stc_remote_ev_t *p =
            (uint64_t)nc < ((uint64_t)1 << 40) / sizeof *p ? realloc(s->ob, (size_t)nc * sizeof *p) : NULL;
        if (!p) {
            s->ob_oom = 1;
            return;
        }
        s->ob = p, s->ob_cap = nc;
    }
    s->ob[s->ob_n++] = (stc_remote_ev_t){dcore, (int32_t)(rt->dl >> 8), pl, tick + rt->delay};
}

/* Send one event of neuron n (emission order) through its routes. */
ALWAYS void emit(stc_chipsim_t *s, core_t *cr, msgs_t *m, int32_t n, int32_t pl, int tick) {
    core_t *cores = s->core;
    for (int32_t r = cr->rto[n], e = cr->rto[n + 1]; r < e; r++) {
        const route_t *rt = &cr->rt[r];
        const rdst_t *d = &cr->dst[rt->di];
        m->local += d->cls == 0;
        m->core += d->cls == 1;
        m->chip += d->cls == 2;
        m->hops += d->cls == 1 ? d->hops : 0;
        m->chip_hops += d->cls == 2 ? d->hops : 0;
        m->link_pj += d->link_pj; /* 0 unless cls 2 */
        if (!(rt->dl & 255)) continue; /* reaches no neuron there: nothing to deliver */
        core_t *dc = &cores[d->dcore];
        if (__builtin_expect(dc->remote, 0)) {
            send_remote(s, d->dcore, rt, pl, tick);
            continue;
        }
        int slot = (tick + rt->delay) & s->mask;
        int32_t qn = dc->qn[slot];
        if (qn >= dc->cap) {
            s->overflow = 1;
            continue;
        }
        dc->q[(int64_t)slot * dc->cap + qn] = (ev_t){rt->dl, pl};
        dc->qn[slot] = qn + 1;
    }
}

/* Send a list of events: the route entries are prefetched a few events ahead
 * (each event is a chain of dependent loads otherwise). */
#define PF_AHEAD 8
ALWAYS void emit_list(stc_chipsim_t *s, core_t *cr, stc_core_counters_t *k, stc_core_counters_t *g,
                      const int32_t *en, const int32_t *ep, int64_t cnt, int tick) {
    msgs_t m = {0, 0, 0, 0, 0, 0.0};
    for (int64_t i = 0; i < cnt; i++) {
        if (i + 2 * PF_AHEAD < cnt) __builtin_prefetch(&cr->rto[en[i + 2 * PF_AHEAD]]);
        if (i + PF_AHEAD < cnt) __builtin_prefetch(&cr->rt[cr->rto[en[i + PF_AHEAD]]]);
        emit(s, cr, &m, en[i], ep[i], tick);
    }
    k->msgs_local += m.local, k->msgs_core += m.core, k->core_hops += m.hops, k->msgs_chip += m.chip;
    g->msgs_local += m.local, g->msgs_core += m.core, g->core_hops += m.hops, g->msgs_chip += m.chip;
    k->chip_hops += m.chip_hops, g->chip_hops += m.chip_hops;
    int64_t fj = llround(m.link_pj * 1e3);
    k->chip_link_fj += fj, g->chip_link_fj += fj;
    k->spikes += cnt, g->spikes += cnt;
}

/* The events of this tick into the core's slices. */
ALWAYS void deliver(stc_chipsim_t *s, core_t *cr, int slot) {
    int32_t n = cr->qn[slot];
    if (!n) return;
    const ev_t *ev = cr->q + (int64_t)slot * cr->cap;
    for (int32_t i = 0; i < n; i++) {
        int32_t pl = ev[i].pl;
        for (uint32_t di = ev[i].dl >> 8, de = di + (ev[i].dl & 255); di < de; di++) {
            const dlv_t d = cr->dl[di];
            block_t *bk = &cr->blk[d.blk];
            switch (bk->op) {
            case OP_CONV: {
                const int32_t *ty = bk->ty + 3 * (d.off >> 16), *tx = bk->tx + 3 * (d.off & 0xffff);
                int noy = ty[1], nox = tx[1], nchp = bk->nchp, nv = nchp / VL;
                int32_t *arow = bk->acc + ty[0] + tx[0];
                const int32_t *wrow = bk->w + (int64_t)d.c * bk->kk_nchp + ty[2] + tx[2];
                if (bk->contig) {
                    for (int iy = 0; iy < noy; iy++, arow += bk->row_step, wrow -= bk->wy_step)
                        row_add(arow, wrow, nox * nv, pl);
                    bk->syn += (int64_t)noy * nox * bk->nch;
                    break;
                }
                for (int iy = 0; iy < noy; iy++) {
                    int32_t *ap = arow;
                    const int32_t *wp = wrow;
                    for (int ix = 0; ix < nox; ix++) {
                        row_add(ap, wp, nv, pl);
                        ap += nchp;
                        wp -= bk->wx_step;
                    }
                    arow += bk->row_step;
                    wrow -= bk->wy_step;
                }
                bk->syn += (int64_t)noy * nox * bk->nch;
                break;
            }
            case OP_ROW:
                row_add(bk->acc + d.off, bk->w + (int64_t)d.c * bk->nchp, bk->nchp / VL, pl);
                bk->syn += bk->nch;
                break;
            case OP_ONE:
                bk->acc[d.off] = wadd(bk->acc[d.off], wmul(bk->w[d.c], pl));
                bk->syn++;
                break;
            case OP_BCAST: {
                int32_t add = wmul(bk->w[d.c], pl), *ap = bk->acc + d.off;
                for (int p = 0; p < bk->npos; p++) ap[(int64_t)p * bk->nchp] = wadd(ap[(int64_t)p * bk->nchp], add);
                bk->syn += bk->npos;
                break;
            }
            case OP_WINDOW: {
                const int32_t *ty = bk->ty + 3 * (d.off >> 16), *tx = bk->tx + 3 * (d.off & 0xffff);
                int noy = ty[1], nox = tx[1], nchp = bk->nchp;
                int32_t val = wmul(pl, bk->w1), *arow = bk->acc + ty[0] + tx[0] + d.c;
                for (int iy = 0; iy < noy; iy++, arow += bk->row_step)
                    for (int ix = 0; ix < nox; ix++)
                        if (arow[ix * nchp] < val) arow[ix * nchp] = val;
                bk->syn += (int64_t)noy * nox;
                break;
            }
            default: { /* SSA buffers: n << 16 | c, stored token-major */
                slice_t *l = &s->sl[bk->sl];
                int32_t idx = (d.off >> 16) * l->C + (d.off & 0xffff);
                uint8_t *bits = bk->op == OP_SSA_Q ? l->qb : bk->op == OP_SSA_K ? l->kb : l->vb;
                bk->syn++;
                if (!pl || bits[idx]) break;
                bits[idx] = 1;
                if (bk->op == OP_SSA_Q)
                    l->ql[l->nq++] = d.off;
                else if (bk->op == OP_SSA_K)
                    l->kl[l->nk++] = d.off;
                else
                    l->vl[l->nv++] = d.off;
                break;
            }
            }
        }
    }
    cr->qn[slot] = 0;
}

/* Bit i set iff lane i of *x is non-zero. */
ALWAYS uint32_t lane_mask(const v8i *x) {
    const v8i bits = {1, 2, 4, 8, 16, 32, 64, 128};
    v8i b = (*x != bc(0)) & bits;
    int32_t t[VL];
    memcpy(t, &b, sizeof t);
    return (uint32_t)(t[0] | t[1] | t[2] | t[3] | t[4] | t[5] | t[6] | t[7]);
}

/* Emit the non-zero outputs of a slice (every output if dense): gathered
 * 8 lanes at a time through a bit mask, then sent. */
ALWAYS int64_t emit_rows(stc_chipsim_t *s, core_t *cr, stc_core_counters_t *k, stc_core_counters_t *g, const slice_t *l,
                         int dense, int tick) {
    int nv = l->nchp / VL;
    int32_t *en = s->em_n, *ep = s->em_pl;
    uint32_t last = l->nch % VL ? (1u << (l->nch % VL)) - 1 : 0xffu; /* real lanes of the last vector */
    int64_t cnt = 0;
    for (int p = 0; p < l->npos; p++) {
        const int32_t *o = l->out + (int64_t)p * l->nchp;
        int32_t nb = l->base + p * l->nch;
        for (int j = 0; j < nv; j++) {
            uint32_t m = dense ? 0xffu : lane_mask((const v8i *)o + j);
            if (j == nv - 1) m &= last;
            if (!m) continue;
            for (int i = 0; i < VL; i++) { /* without a branch per lane */
                en[cnt] = nb + j * VL + i;
                ep[cnt] = o[j * VL + i];
                cnt += (m >> i) & 1;
            }
        }
    }
    emit_list(s, cr, k, g, en, ep, cnt, tick);
    return cnt;
}

static void trace_rows(const stc_chipsim_t *s, const slice_t *l) {
    const stc_stage_t *st = &s->b->stages[l->stage];
    int64_t *tr = s->trbuf[l->stage];
    for (int c = 0; c < l->nch; c++) {
        int64_t *dst = tr + ((int64_t)(l->c0 + c) * st->h + l->y0) * st->w;
        for (int p = 0; p < l->npos; p++) dst[p] = l->out[(int64_t)p * l->nchp + c];
    }
}

/* LIF, 8 lanes in int32, exactly stc_lif_step:
 *   x = a_in + bias is saturated to +-(lim + 1), lim = (2^23 - 1) >> shl, so
 *   that X = clamp24(x << shl) needs no wider lane (the accumulator is first
 *   held to +-2^30, which leaves the saturation of X unchanged when
 *   |bias| <= 2^29; slices with larger biases take lif_wide);
 *   (X - v) * dk >> 12 = dh * dk + (dl * dk >> 12) with X - v = dh * 4096 + dl,
 *   0 <= dl < 4096, since dh * dk * 4096 is a multiple of 4096 (floor). */
ALWAYS int64_t lif_rows(slice_t *l, const stc_stage_t *st) {
    int nv = l->nchp / VL;
    int32_t lim = (int32_t)(STC_STATE_MAX >> st->shl);
    const v8i A30 = bc(1 << 30), NA30 = bc(-(1 << 30)), L1 = bc(lim + 1), NL1 = bc(-lim - 1);
    const v8i MX = bc((int32_t)STC_STATE_MAX), NMX = bc(-(int32_t)STC_STATE_MAX);
    const v8i MUL = bc(1 << st->shl), DK = bc(st->dk), M12 = bc(4095);
    int64_t vth64 = st->vth < INT32_MIN ? INT32_MIN : st->vth > INT32_MAX ? INT32_MAX : st->vth;
    const v8i VTH = bc((int32_t)vth64), VR = bc((int32_t)st->vreset), ZERO = bc(0);
    const v8i *B = (const v8i *)l->bias32, *LM = (const v8i *)l->lanemask;
    v8i cnt = ZERO;
    for (int p = 0; p < l->npos; p++) {
        v8i *AC = (v8i *)(l->acc + (int64_t)p * l->nchp), *V = (v8i *)(l->v + (int64_t)p * l->nchp);
        v8i *O = (v8i *)(l->out + (int64_t)p * l->nchp);
        for (int j = 0; j < nv; j++) {
            v8i x = AC[j];
            x = vclamp(x, NA30, A30) + B[j];
            v8i v = V[j];
            cnt -= ((x != ZERO) | (v != ZERO)) & LM[j]; /* active: input or state non-zero */
            x = vclamp(x, NL1, L1);
            v8i X = vclamp(x * MUL, NMX, MX);
            v8i dd = X - v;
            v8i h = vclamp(v + (dd >> 12) * DK + (((dd & M12) * DK) >> 12), NMX, MX);
            v8i sp = h >= VTH;
            V[j] = vsel_(sp, VR, h);
            O[j] = -sp;
            AC[j] = ZERO;
        }
    }
    return hsum(&cnt);
}

/* LIF one neuron at a time on int64 (slices with a bias beyond 2^29). */
static int64_t lif_wide(slice_t *l, const stc_stage_t *st) {
    int64_t active = 0;
    for (int p = 0; p < l->npos; p++)
        for (int c = 0; c < l->nch; c++) {
            int64_t i = (int64_t)p * l->nchp + c, x = (int64_t)l->acc[i] + l->bias64[c], v = l->v[i];
            active += x != 0 || v != 0;
            l->out[i] = stc_lif_step(x, &v, st->shl, st->dk, st->vth, st->vreset);
            l->v[i] = (int32_t)v; /* |v| <= 2^23 - 1 (vreset is checked at create) */
            l->acc[i] = 0;
        }
    return active;
}

ALWAYS int64_t update_simple(slice_t *l, const stc_stage_t *st, int64_t *rsum, int64_t *tr) {
    int64_t active = 0;
    int nv = l->nchp / VL;
    switch (l->kind) {
    case STC_NK_MAX: { /* INT32_MIN: nothing received (payloads are far smaller) */
        const v8i MIN = bc(INT32_MIN), *LM = (const v8i *)l->lanemask;
        v8i cnt = bc(0);
        for (int p = 0; p < l->npos; p++) {
            v8i *AC = (v8i *)(l->acc + (int64_t)p * l->nchp), *O = (v8i *)(l->out + (int64_t)p * l->nchp);
            for (int j = 0; j < nv; j++) {
                v8i a = AC[j], none = a == MIN;
                O[j] = ~none & a;
                AC[j] = MIN;
                cnt -= ~none & LM[j];
            }
        }
        active = hsum(&cnt);
        break;
    }
    case STC_NK_AND:
        for (int p = 0; p < l->npos; p++)
            for (int c = 0; c < l->nch; c++) {
                int64_t i = (int64_t)p * l->nchp + c;
                int64_t x = (int64_t)l->acc[i] + l->bias64[c];
                l->out[i] = x == 2;
                active += x != 0;
                l->acc[i] = 0;
            }
        break;
    case STC_NK_RELAY:
        for (int p = 0; p < l->npos; p++)
            for (int c = 0; c < l->nch; c++) {
                int64_t i = (int64_t)p * l->nchp + c;
                int64_t x = (int64_t)l->acc[i] + l->bias64[c];
                l->out[i] = (int32_t)stc_graded(x, st->rsh, st->pbits);
                active += x != 0;
                l->acc[i] = 0;
            }
        break;
    default: /* READOUT */
        for (int p = 0; p < l->npos; p++)
            for (int c = 0; c < l->nch; c++) {
                int64_t i = (int64_t)p * l->nchp + c;
                int64_t x = (int64_t)l->acc[i] + l->bias64[c], at = ((int64_t)(l->c0 + c) * st->h + l->y0) * st->w + p;
                rsum[at] += x;
                if (tr) tr[at] = x;
                active += x != 0;
                l->acc[i] = 0;
            }
        break;
    }
    return active;
}

/* SSA: kv[c][c'] = sum_m k[c', m] v[c, m] over the head of c, then
 * I[c, n] = sum_c' q[c', n] kv[c][c']; emits I * mul.  Returns the active count. */
ALWAYS int64_t update_ssa(slice_t *l, const stc_stage_t *st, int64_t *kernel_ops, int64_t *tr) {
    int d = l->d, C = l->C;
    int64_t kops = 0, active = 0;
    memset(l->kvt, 0, (size_t)l->nch * d * sizeof(int32_t));
    for (int32_t i = 0; i < l->nv; i++) {
        int n = l->vl[i] >> 16, c = l->vl[i] & 0xffff, h0 = l->hd0[c];
        const uint8_t *kr = l->kb + (int64_t)n * C + h0;
        int32_t *kv = l->kvt + (int64_t)(c - l->c0) * d;
        for (int j = 0; j < d; j++) kv[j] += kr[j];
        kops += d;
    }
    for (int32_t i = 0; i < l->nq; i++) {
        int n = l->ql[i] >> 16, c1 = l->ql[i] & 0xffff, h0 = l->hd0[c1];
        int lo = h0 > l->c0 ? h0 : l->c0, hi = h0 + d < l->c1 ? h0 + d : l->c1;
        int32_t *I = l->acc + (int64_t)(n - l->y0 * l->w) * l->nchp;
        for (int c = lo; c < hi; c++) I[c - l->c0] = wadd(I[c - l->c0], l->kvt[(int64_t)(c - l->c0) * d + (c1 - h0)]);
        kops += hi > lo ? hi - lo : 0;
    }
    for (int32_t i = 0; i < l->nq; i++) l->qb[(l->ql[i] >> 16) * C + (l->ql[i] & 0xffff)] = 0;
    for (int32_t i = 0; i < l->nk; i++) l->kb[(l->kl[i] >> 16) * C + (l->kl[i] & 0xffff)] = 0;
    for (int32_t i = 0; i < l->nv; i++) l->vb[(l->vl[i] >> 16) * C + (l->vl[i] & 0xffff)] = 0;
    l->nq = l->nk = l->nv = 0;
    for (int p = 0; p < l->npos; p++)
        for (int c = 0; c < l->nch; c++) {
            int64_t i = (int64_t)p * l->nchp + c;
            int64_t q = (int64_t)l->acc[i] * st->mul;
            l->acc[i] = 0;
            l->out[i] = (int32_t)(q > INT32_MAX ? INT32_MAX : q < INT32_MIN ? INT32_MIN : q);
            active += q != 0;
            if (tr) tr[((int64_t)(l->c0 + c) * st->h + l->y0) * st->w + p] = q;
        }
    *kernel_ops = kops;
    return active;
}

/* The digest's term for one event: stage, flat neuron index in the stage
 * tensor, timestep and payload through two rounds of mix64. */
static inline uint64_t ev_hash(int stage, int64_t flat, int t, int32_t pl) {
    return mix64(mix64((uint64_t)(uint32_t)stage << 32 | (uint64_t)flat) ^
                 ((uint64_t)(uint32_t)t << 32 | (uint64_t)(uint32_t)pl));
}

/* Add the events a slice just emitted (en: core-local neurons in emission
 * order, position-major) to the digest. */
static __attribute__((noinline)) void digest_events(stc_chipsim_t *s, const slice_t *l, const int32_t *en,
                                                    const int32_t *ep, int64_t cnt, int tick) {
    const stc_stage_t *st = &s->b->stages[l->stage];
    int t = tick - st->depth;
    uint64_t sum = 0;
    for (int64_t i = 0; i < cnt; i++) {
        int32_t loc = en[i] - l->base, p = loc / l->nch, c = loc % l->nch;
        sum += ev_hash(l->stage, ((int64_t)(l->c0 + c) * st->h + l->y0) * st->w + p, t, ep[i]);
    }
    s->digest += sum;
}

/* Update one active slice and emit what it sends. */
ALWAYS void update_slice(stc_chipsim_t *s, core_t *cr, stc_core_counters_t *k, slice_t *l, int tick) {
    const stc_stage_t *st = &s->b->stages[l->stage];
    stc_core_counters_t *g = &s->scnt[l->stage];
    int64_t *tr = s->trace ? s->trbuf[l->stage] : NULL;
    int64_t sent = 0;
    if (l->kind == STC_NK_INPUT) {
        for (int32_t i = 0; i < l->in_n; i++) s->em_n[i] = l->base + l->in_idx[i];
        emit_list(s, cr, k, g, s->em_n, l->in_pl, l->in_n, tick);
        sent = l->in_n;
        if (tr) trace_rows(s, l);
        if (s->digest_on) digest_events(s, l, s->em_n, l->in_pl, sent, tick);
    } else {
        int64_t nn = (int64_t)l->nch * l->npos, active, kops = 0;
        int dense = 0;
        switch (l->kind) {
        case STC_NK_LIF: active = l->wide ? lif_wide(l, st) : lif_rows(l, st); break;
        case STC_NK_SSA:
            active = update_ssa(l, st, &kops, tr);
            dense = st->dense;
            break;
        default:
            active = update_simple(l, st, s->rsum[l->stage], tr);
            dense = st->dense && (l->kind == STC_NK_RELAY || l->kind == STC_NK_MAX);
            break;
        }
        k->neuron_updates += nn, g->neuron_updates += nn;
        k->neuron_active += active, g->neuron_active += active;
        k->kernel_ops += kops, g->kernel_ops += kops;
        if (tr && l->kind != STC_NK_READOUT && l->kind != STC_NK_SSA) trace_rows(s, l); /* those two write it */
        if (l->kind != STC_NK_READOUT) sent = emit_rows(s, cr, k, g, l, dense, tick);
        if (s->digest_on && sent) digest_events(s, l, s->em_n, s->em_pl, sent, tick);
    }
    s->stspk[l->stage] += sent;
}

/* One tick of the owned cores: deliver, update the active slices, send. */
ALWAYS void tick_body(stc_chipsim_t *s, int tick) {
    const stc_bundle_t *b = s->b;
    for (int i = 0; i < b->n_stages; i++)
        if (is_active(b, &b->stages[i], tick)) {
            s->scnt[i].ticks_active += s->home[i];
            if (s->trace) memset(s->trbuf[i], 0, (size_t)numel(&b->stages[i]) * 8);
        }
    for (int oi = 0; oi < s->n_owned; oi++) {
        int i = s->owned[oi];
        core_t *cr = &s->core[i];
        stc_core_counters_t *k = &s->cnt[i];
        deliver(s, cr, tick & s->mask);
        int any = 0;
        for (int j = 0; j < cr->nsl; j++) {
            slice_t *l = &s->sl[cr->sl0 + j];
            if (!is_active(b, &b->stages[l->stage], tick)) continue;
            update_slice(s, cr, k, l, tick);
            any = 1;
        }
        k->ticks_active += any;
    }
    if (s->trace)
        for (int i = 0; i < b->n_stages; i++)
            if (is_active(b, &b->stages[i], tick)) s->trace(s->ud, b, i, tick - b->stages[i].depth, s->trbuf[i]);
}

static void tick_base(stc_chipsim_t *s, int tick) { tick_body(s, tick); }

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
__attribute__((target("avx2"))) static void tick_avx2(stc_chipsim_t *s, int tick) { tick_body(s, tick); }
#endif

/* ------------------------------------------------------------ a part's run */

int stc_chipsim_owned(const stc_chipsim_t *s, int core) {
    return s && core >= 0 && core < s->b->n_cores && s->own[core];
}

int64_t stc_chipsim_state_bytes(const stc_chipsim_t *s) { return s->state_bytes; }

void stc_chipsim_set_digest(stc_chipsim_t *s, int on) { s->digest_on = on != 0; }

uint64_t stc_chipsim_digest(const stc_chipsim_t *s) { return s->digest; }

/* The per-input state of the owned cores to its start: membranes,
 * accumulators, kernel buffers, queues; the image encoded at the host port
 * (none without one); the part's per-input sums. */
static void reset_input(stc_chipsim_t *s, const float *image) {
    const stc_bundle_t *b = s->b;
    for (int i = 0; i < s->nsl; i++) {
        slice_t *l = &s->sl[i];
        size_t sz = (size_t)l->npos * l->nchp * sizeof(int32_t);
        if (l->v) memset(l->v, 0, sz);
        if (l->kind == STC_NK_MAX)
            for (size_t q = 0; q < sz / 4; q++) l->acc[q] = INT32_MIN;
        else
            memset(l->acc, 0, sz);
        if (l->kind == STC_NK_SSA) {
            size_t cn = (size_t)l->C * l->N;
            memset(l->qb, 0, cn), memset(l->kb, 0, cn), memset(l->vb, 0, cn);
            l->nq = l->nk = l->nv = 0;
        }
        if (l->kind == STC_NK_INPUT) {
            /* the host's encoding, once: the image is the same at every timestep */
            const stc_stage_t *st = &b->stages[l->stage];
            l->in_n = 0;
            if (!image) memset(l->out, 0, sz);
            for (int p = 0; image && p < l->npos; p++)
                for (int c = 0; c < l->nch; c++) {
                    int64_t q = stc_encode_input(image[((int64_t)(l->c0 + c) * st->h + l->y0) * st->w + p], st->qexp,
                                                 st->pbits);
                    l->out[(int64_t)p * l->nchp + c] = (int32_t)q;
                    if (q) {
                        l->in_idx[l->in_n] = p * l->nch + c;
                        l->in_pl[l->in_n++] = (int32_t)q;
                    }
                }
        }
    }
    for (int k = 0; k < s->n_owned; k++) memset(s->core[s->owned[k]].qn, 0, (size_t)s->R * sizeof(int32_t));
    for (int i = 0; i < b->n_stages; i++)
        if (s->rsum[i]) memset(s->rsum[i], 0, (size_t)numel(&b->stages[i]) * 8);
    memset(s->stspk, 0, (size_t)b->n_stages * sizeof(int64_t));
    s->overflow = 0, s->digest = 0, s->ob_n = 0, s->ob_oom = 0;
    s->next_tick = 0, s->rtick = -1;
}

stc_status_t stc_chipsim_begin(stc_chipsim_t *s, const float *image, stc_err_t *err) {
    if (!image)
        for (int i = 0; i < s->nsl; i++)
            if (s->sl[i].kind == STC_NK_INPUT)
                return stc_err_set(err, STC_E_USAGE, "chipsim: no input image, and this part owns the host port "
                                                     "(core %d holds the INPUT stage)", s->sl[i].core);
    reset_input(s, image);
    return STC_OK;
}

stc_status_t stc_chipsim_tick(stc_chipsim_t *s, int tick, stc_err_t *err) {
    if (tick != s->next_tick || tick >= s->b->ticks)
        return stc_err_set(err, STC_E_USAGE, "chipsim: tick %d asked, expected tick %d (ticks 0 .. %d in order after "
                                             "begin or restore)", tick, s->next_tick, s->b->ticks - 1);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (s->simd)
        tick_avx2(s, tick);
    else
#endif
        tick_base(s, tick);
    s->next_tick = tick + 1;
    if (s->ob_oom)
        return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the outbox (%lld events) at tick %d",
                           (long long)s->ob_n, tick);
    return STC_OK;
}

const stc_remote_ev_t *stc_chipsim_outbox(const stc_chipsim_t *s, int64_t *n) {
    *n = s->ob_n;
    return s->ob;
}

void stc_chipsim_outbox_clear(stc_chipsim_t *s) { s->ob_n = 0; }

stc_status_t stc_chipsim_inject(stc_chipsim_t *s, const stc_remote_ev_t *ev, int64_t n, int tick, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    if (n < 0 || (n && !ev)) return stc_err_set(err, STC_E_USAGE, "chipsim: inject: %lld events at %p", (long long)n,
                                                (const void *)ev);
    if (tick != s->next_tick - 1)
        return stc_err_set(err, STC_E_USAGE, "chipsim: inject after tick %d, but the tick just run is %d", tick,
                           s->next_tick - 1);
    for (int64_t i = 0; i < n; i++) {
        const stc_remote_ev_t *e = &ev[i];
        if (e->core < 0 || e->core >= b->n_cores || !s->own[e->core])
            return stc_err_set(err, STC_E_PEER, "chipsim: inject: event %lld is for core %d, not a core of this part",
                               (long long)i, e->core);
        if (e->axon < 0 || e->axon >= s->core[e->core].n_axons)
            return stc_err_set(err, STC_E_PEER, "chipsim: inject: event %lld is for axon %d of core %d, which has %d "
                               "axons", (long long)i, e->axon, e->core, s->core[e->core].n_axons);
        if (e->tick <= tick || e->tick > tick + s->maxdelay)
            return stc_err_set(err, STC_E_PEER, "chipsim: inject: event %lld (core %d axon %d) is delivered at tick "
                               "%d, expected %d .. %d (after tick %d, within the largest delay %d)", (long long)i,
                               e->core, e->axon, e->tick, tick + 1, tick + s->maxdelay, tick, s->maxdelay);
    }
    for (int64_t i = 0; i < n; i++) {
        const stc_remote_ev_t *e = &ev[i];
        core_t *dc = &s->core[e->core];
        uint32_t dl = dc->apack[e->axon];
        if (!(dl & 255)) continue; /* reaches no neuron here */
        int slot = e->tick & s->mask;
        if (dc->qn[slot] >= dc->cap) {
            for (int64_t j = 0; j < i; j++) /* take back what this call queued */
                if (s->core[ev[j].core].apack[ev[j].axon] & 255) s->core[ev[j].core].qn[ev[j].tick & s->mask]--;
            return stc_err_set(err, STC_E_PEER, "chipsim: inject: event %lld (core %d axon %d tick %d) overflows the "
                               "queue of core %d, which holds %lld events per tick (one per route into it)",
                               (long long)i, e->core, e->axon, e->tick, e->core, (long long)dc->cap);
        }
        dc->q[(int64_t)slot * dc->cap + dc->qn[slot]++] = (ev_t){dl, e->pl};
    }
    return STC_OK;
}

stc_status_t stc_chipsim_end(stc_chipsim_t *s, int64_t *rsum, int64_t *stage_spikes, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    for (int k = 0; k < s->n_owned; k++) {
        int i = s->owned[k];
        for (int j = 0; j < s->core[i].nblk; j++) {
            block_t *bk = &s->core[i].blk[j];
            s->cnt[i].synops += bk->syn, s->scnt[bk->stage].synops += bk->syn;
            bk->syn = 0;
        }
    }
    if (s->overflow)
        return stc_err_set(err, STC_E_INTERNAL, "chipsim: an event queue overflowed (routing table bound broken)");
    if (s->ob_oom) return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the outbox");
    if (rsum) memcpy(rsum, s->rsum[b->output_stage], (size_t)b->n_out * sizeof *rsum);
    if (stage_spikes) memcpy(stage_spikes, s->stspk, (size_t)b->n_stages * sizeof(int64_t));
    return STC_OK;
}

/* ---------------------------------------------------------------- running */

stc_status_t stc_chipsim_run(stc_chipsim_t *s, const float *image, float *logits, int64_t *stage_spikes,
                             stc_simtrace_fn trace, void *ud, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    if (!image) return stc_err_set(err, STC_E_USAGE, "chipsim: no input image");
    if (s->n_owned != b->n_cores)
        return stc_err_set(err, STC_E_USAGE, "chipsim: run needs every core, this part owns %d of %d (step a part "
                           "with begin, tick and end)", s->n_owned, b->n_cores);
    for (int i = 0; trace && i < b->n_stages; i++)
        if (!s->trbuf[i] && !(s->trbuf[i] = amalloc(numel(&b->stages[i]) * 8)))
            return stc_err_set(err, STC_E_NOMEM, "chipsim: out of memory for the trace of stage %d", i);
    stc_status_t st = stc_chipsim_begin(s, image, err);
    s->trace = trace, s->ud = ud;
    for (int tick = 0; tick < b->ticks && !st; tick++) st = stc_chipsim_tick(s, tick, err);
    s->trace = NULL, s->ud = NULL;
    if (!st) st = stc_chipsim_end(s, s->run_rsum, stage_spikes, err);
    if (st) return st;
    const stc_stage_t *out = &b->stages[b->output_stage];
    if (logits)
        for (int i = 0; i < b->n_out; i++) logits[i] = stc_logit(s->run_rsum[i], out->qstep, b->T);
    return STC_OK;
}

/* ------------------------------------------------------------- checkpoints */

/* The blob (docs/runtime.md, "Checkpoint blob"): little-endian integers,
 * a header, one record per owned core, the part's shares, a checksum. */
#define CK_MAGIC "STCSTATE"
#define CK_VERSION 2 /* 2: the counters gained chip_link_fj */
#define CK_HEADER 56
#define CK_NCNT 12                      /* int64 fields of stc_core_counters_t */
#define CK_LIMIT ((int64_t)1 << 62)     /* counters */
#define CK_PENDING ((int64_t)1 << 40)   /* a core's pending synops (<= 2^16 cores: their folds stay below 2^57) */
_Static_assert(sizeof(stc_core_counters_t) == CK_NCNT * sizeof(int64_t), "counters are 12 int64");

typedef struct {
    uint8_t *p; /* NULL: only count */
    size_t n;
} wr_t;

static void w_u32(wr_t *w, uint32_t v) {
    if (w->p) stc_le_put32(w->p + w->n, v);
    w->n += 4;
}

static void w_u64(wr_t *w, uint64_t v) {
    if (w->p) stc_le_put64(w->p + w->n, v);
    w->n += 8;
}


/* mix64 over the 8-byte little-endian words, the length first, the last
 * partial word zero-padded. */
static uint64_t blob_checksum(const uint8_t *p, size_t n) {
    uint64_t h = mix64(0x5354435354415445ull ^ (uint64_t)n);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) h = mix64(h ^ stc_le_get64(p + i));
    uint64_t t = 0;
    for (size_t j = 0; i + j < n; j++) t |= (uint64_t)p[i + j] << (8 * j);
    return mix64(h ^ t);
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* One SSA event list, sorted (the order of arrival never matters). */
static void w_list(wr_t *w, const int32_t *l, int32_t n, int32_t *tmp) {
    if (!w->p) {
        w->n += (size_t)n * 4;
        return;
    }
    memcpy(tmp, l, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_i32);
    for (int32_t i = 0; i < n; i++) w_u32(w, (uint32_t)tmp[i]);
}

/* Core i's record; axon_of[first delivery] gives a queued event's axon. */
static void w_core(const stc_chipsim_t *s, wr_t *w, int i, const int32_t *axon_of, int32_t *tmp) {
    const core_t *cr = &s->core[i];
    w_u32(w, (uint32_t)i);
    w_u32(w, (uint32_t)cr->nsl);
    w_u32(w, (uint32_t)cr->nblk);
    int64_t c[CK_NCNT];
    memcpy(c, &s->cnt[i], sizeof c);
    for (int k = 0; k < CK_NCNT; k++) w_u64(w, (uint64_t)c[k]);
    for (int j = 0; j < cr->nblk; j++) w_u64(w, (uint64_t)cr->blk[j].syn);
    for (int j = 0; j < cr->nsl; j++) {
        const slice_t *l = &s->sl[cr->sl0 + j];
        for (int p = 0; p < l->npos; p++)
            for (int ch = 0; ch < l->nch; ch++) w_u32(w, (uint32_t)l->acc[(int64_t)p * l->nchp + ch]);
        if (l->kind == STC_NK_LIF)
            for (int p = 0; p < l->npos; p++)
                for (int ch = 0; ch < l->nch; ch++) w_u32(w, (uint32_t)l->v[(int64_t)p * l->nchp + ch]);
        if (l->kind == STC_NK_SSA) {
            w_u32(w, (uint32_t)l->nq), w_u32(w, (uint32_t)l->nk), w_u32(w, (uint32_t)l->nv);
            w_list(w, l->ql, l->nq, tmp), w_list(w, l->kl, l->nk, tmp), w_list(w, l->vl, l->nv, tmp);
        }
        if (l->kind == STC_NK_INPUT) {
            w_u32(w, (uint32_t)l->in_n);
            for (int32_t q = 0; q < l->in_n; q++) w_u32(w, (uint32_t)l->in_idx[q]), w_u32(w, (uint32_t)l->in_pl[q]);
        }
    }
    for (int q = 0; q < s->R; q++) {
        w_u32(w, (uint32_t)cr->qn[q]);
        const ev_t *ev = cr->q + (int64_t)q * cr->cap;
        for (int32_t e = 0; e < cr->qn[q]; e++) {
            w_u32(w, (uint32_t)(axon_of ? axon_of[ev[e].dl >> 8] : 0));
            w_u32(w, (uint32_t)ev[e].pl);
        }
    }
}

stc_status_t stc_chipsim_save(const stc_chipsim_t *s, uint8_t **blob, size_t *len, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    *blob = NULL, *len = 0;
    if (s->ob_n)
        return stc_err_set(err, STC_E_USAGE, "chipsim: save: the outbox holds %lld events; exchange, inject and "
                           "clear it first (a checkpoint is taken between two ticks)", (long long)s->ob_n);
    int64_t most = 1; /* the largest SSA list, for sorting */
    for (int i = 0; i < s->nsl; i++)
        if (s->sl[i].kind == STC_NK_SSA && (int64_t)s->sl[i].C * s->sl[i].N > most)
            most = (int64_t)s->sl[i].C * s->sl[i].N;
    int32_t *tmp = malloc((size_t)most * sizeof *tmp);
    if (!tmp) return stc_err_set(err, STC_E_NOMEM, "chipsim: save: out of memory");
    wr_t w = {NULL, 0};
    for (int pass = 0; pass < 2; pass++) {
        w.n = 0;
        if (w.p) memcpy(w.p, CK_MAGIC, 8);
        w.n = 8;
        w_u32(&w, CK_VERSION);
        w_u32(&w, (uint32_t)b->n_cores), w_u32(&w, (uint32_t)b->n_stages), w_u32(&w, (uint32_t)b->T);
        w_u32(&w, (uint32_t)b->ticks), w_u32(&w, (uint32_t)s->R), w_u32(&w, (uint32_t)b->n_out);
        w_u32(&w, (uint32_t)s->next_tick);
        w_u64(&w, s->ident);
        w_u32(&w, (uint32_t)s->n_owned);
        w_u32(&w, 0);
        for (int k = 0; k < s->n_owned; k++) {
            const core_t *cr = &s->core[s->owned[k]];
            int32_t *axon_of = NULL;
            if (w.p) {
                if (!(axon_of = malloc((size_t)(cr->nd ? cr->nd : 1) * sizeof *axon_of))) {
                    free(tmp), free(w.p);
                    return stc_err_set(err, STC_E_NOMEM, "chipsim: save: out of memory");
                }
                for (int a = 0; a < cr->n_axons; a++)
                    if (cr->apack[a] & 255) axon_of[cr->apack[a] >> 8] = a;
            }
            w_core(s, &w, s->owned[k], axon_of, tmp);
            free(axon_of);
        }
        w_u32(&w, (uint32_t)s->overflow);
        w_u32(&w, 0);
        w_u64(&w, s->digest);
        for (int i = 0; i < b->n_stages; i++) w_u64(&w, (uint64_t)s->stspk[i]);
        for (int i = 0; i < b->n_stages; i++) {
            int64_t c[CK_NCNT];
            memcpy(c, &s->scnt[i], sizeof c);
            for (int k = 0; k < CK_NCNT; k++) w_u64(&w, (uint64_t)c[k]);
        }
        for (int i = 0; i < b->n_stages; i++)
            if (b->stages[i].kind == STC_NK_READOUT)
                for (int64_t q = 0; q < numel(&b->stages[i]); q++) w_u64(&w, (uint64_t)s->rsum[i][q]);
        if (w.p) {
            w_u64(&w, blob_checksum(w.p, w.n));
            break;
        }
        w.n += 8;
        if (!(w.p = malloc(w.n))) {
            free(tmp);
            return stc_err_set(err, STC_E_NOMEM, "chipsim: save: out of memory for a blob of %zu bytes", w.n);
        }
    }
    free(tmp);
    *blob = w.p, *len = w.n;
    return STC_OK;
}

/* Reading: every length is checked against the bytes left before it is read. */
typedef struct {
    const uint8_t *p;
    size_t n, at; /* n: the bytes before the checksum */
} rd_t;

#define CKBAD(...) stc_err_set(err, STC_E_FORMAT, "chipsim: checkpoint blob: " __VA_ARGS__)

static stc_status_t need(rd_t *r, uint64_t k, const char *what, int core, stc_err_t *err) {
    if (k > r->n - r->at) {
        if (core >= 0)
            return CKBAD("core %d: %s needs %llu bytes at byte %zu, %zu are left", core, what, (unsigned long long)k,
                         r->at, r->n - r->at);
        return CKBAD("%s needs %llu bytes at byte %zu, %zu are left", what, (unsigned long long)k, r->at, r->n - r->at);
    }
    return STC_OK;
}

static uint32_t g32(rd_t *r) {
    uint32_t v = stc_le_get32(r->p + r->at);
    r->at += 4;
    return v;
}

static uint64_t g64(rd_t *r) {
    uint64_t v = stc_le_get64(r->p + r->at);
    r->at += 8;
    return v;
}

/* An SSA list of slice j of core `core` (l: its state when owned and applied). */
static stc_status_t r_list(rd_t *r, int core, int j, const stc_slice_t *bs, const stc_stage_t *st, int which,
                           uint32_t cnt, slice_t *l, stc_err_t *err) {
    static const char *names[3] = {"q", "k", "v"};
    int d = st->c / st->heads, N = st->h * st->w;
    int32_t prev = -1;
    for (uint32_t i = 0; i < cnt; i++) {
        int32_t e = (int32_t)g32(r);
        int n = e >> 16, c = e & 0xffff, h0 = c / d * d, head_in = h0 < bs->c1 && h0 + d > bs->c0;
        if (e <= prev || n >= N || c >= st->c)
            return CKBAD("core %d slice %d: SSA %s event %u = %d (token %d, channel %d), expected increasing, "
                         "token < %d, channel < %d", core, j, names[which], i, e, n, c, N, st->c);
        int y = n / st->w;
        if ((which == 0 && (!head_in || y < bs->y0 || y >= bs->y1)) || (which == 1 && !head_in) ||
            (which == 2 && (c < bs->c0 || c >= bs->c1)))
            return CKBAD("core %d slice %d: SSA %s event %u (token %d, channel %d) does not reach the slice "
                         "(channels [%d,%d), rows [%d,%d))", core, j, names[which], i, n, c, bs->c0, bs->c1, bs->y0,
                         bs->y1);
        prev = e;
        if (l) {
            int32_t *list = which == 0 ? l->ql : which == 1 ? l->kl : l->vl;
            uint8_t *bits = which == 0 ? l->qb : which == 1 ? l->kb : l->vb;
            list[i] = e;
            bits[(int64_t)n * l->C + c] = 1;
        }
    }
    return STC_OK;
}

/* One core's record: checked; loaded into the core when `apply` and owned. */
static stc_status_t r_core(stc_chipsim_t *s, rd_t *r, int *prev, int apply, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    stc_status_t st;
    if ((st = need(r, 12, "a core record", -1, err))) return st;
    uint32_t core = g32(r), nsl = g32(r), nblk = g32(r);
    if (core >= (uint32_t)b->n_cores || (int64_t)core <= *prev)
        return CKBAD("record of core %u: expected a core after %d, below %d (records in increasing core order)", core,
                     *prev, b->n_cores);
    *prev = (int)core;
    const stc_core_t *bc = &b->cores[core];
    int own = s->own[core], set = apply && own;
    core_t *cr = &s->core[core];
    if (nsl != (uint32_t)bc->n_slices)
        return CKBAD("core %u: %u slices, the bundle's core has %d", core, nsl, bc->n_slices);
    if (own ? nblk != (uint32_t)cr->nblk : nblk > 65535)
        return CKBAD("core %u: %u synapse blocks, expected %d", core, nblk, own ? cr->nblk : 65535);
    if ((st = need(r, (uint64_t)(CK_NCNT + nblk) * 8, "the counters", (int)core, err))) return st;
    int64_t c[CK_NCNT];
    for (int k = 0; k < CK_NCNT; k++)
        if ((c[k] = (int64_t)g64(r)) < 0 || c[k] > CK_LIMIT)
            return CKBAD("core %u: counter %d = %lld outside 0 .. 2^62", core, k, (long long)c[k]);
    if (set) memcpy(&s->cnt[core], c, sizeof c);
    int64_t pending = 0; /* folded into this core's and the stages' counters at end: held to 2^40 in all */
    for (uint32_t j = 0; j < nblk; j++) {
        int64_t syn = (int64_t)g64(r);
        if (syn < 0 || syn > CK_PENDING - pending)
            return CKBAD("core %u: block %u's pending synops %lld, expected >= 0 and at most 2^40 over the core", core,
                         j, (long long)syn);
        pending += syn;
        if (set) cr->blk[j].syn = syn;
    }
    for (int j = 0; j < bc->n_slices; j++) {
        const stc_slice_t *bs = &bc->slices[j];
        const stc_stage_t *sg = &b->stages[bs->stage];
        int nch = bs->c1 - bs->c0, nchp = (nch + VL - 1) / VL * VL;
        int64_t npos = (int64_t)(bs->y1 - bs->y0) * sg->w, nn = npos * nch;
        slice_t *l = set ? &s->sl[cr->sl0 + j] : NULL;
        char what[64];
        snprintf(what, sizeof what, "slice %d's accumulators", j);
        if ((st = need(r, (uint64_t)nn * 4, what, (int)core, err))) return st;
        for (int64_t p = 0; p < npos; p++)
            for (int ch = 0; ch < nch; ch++) {
                int32_t v = (int32_t)g32(r);
                if (l) l->acc[p * nchp + ch] = v;
            }
        if (sg->kind == STC_NK_LIF) {
            snprintf(what, sizeof what, "slice %d's membranes", j);
            if ((st = need(r, (uint64_t)nn * 4, what, (int)core, err))) return st;
            for (int64_t p = 0; p < npos; p++)
                for (int ch = 0; ch < nch; ch++) {
                    int32_t v = (int32_t)g32(r);
                    if (v > STC_STATE_MAX || v < -STC_STATE_MAX)
                        return CKBAD("core %u slice %d: membrane v[%lld] = %d outside the 24-bit state", core, j,
                                     (long long)(p * nch + ch), v);
                    if (l) l->v[p * nchp + ch] = v;
                }
        }
        if (sg->kind == STC_NK_SSA) {
            snprintf(what, sizeof what, "slice %d's kernel event counts", j);
            if ((st = need(r, 12, what, (int)core, err))) return st;
            uint32_t cnt[3];
            for (int q = 0; q < 3; q++) cnt[q] = g32(r);
            int64_t cn = (int64_t)sg->c * sg->h * sg->w;
            if (l) {
                memset(l->qb, 0, (size_t)cn), memset(l->kb, 0, (size_t)cn), memset(l->vb, 0, (size_t)cn);
                l->nq = (int32_t)cnt[0], l->nk = (int32_t)cnt[1], l->nv = (int32_t)cnt[2];
            }
            for (int q = 0; q < 3; q++) {
                if (cnt[q] > (uint64_t)cn)
                    return CKBAD("core %u slice %d: %u SSA %s events, at most %lld", core, j, cnt[q],
                                 q == 0 ? "q" : q == 1 ? "k" : "v", (long long)cn);
                snprintf(what, sizeof what, "slice %d's kernel events", j);
                if ((st = need(r, (uint64_t)cnt[q] * 4, what, (int)core, err))) return st;
                if ((st = r_list(r, (int)core, j, bs, sg, q, cnt[q], l, err))) return st;
            }
        }
        if (sg->kind == STC_NK_INPUT) {
            snprintf(what, sizeof what, "slice %d's encoded input count", j);
            if ((st = need(r, 4, what, (int)core, err))) return st;
            uint32_t n = g32(r);
            if (n > (uint64_t)nn)
                return CKBAD("core %u slice %d: %u encoded inputs, at most %lld", core, j, n, (long long)nn);
            snprintf(what, sizeof what, "slice %d's encoded input", j);
            if ((st = need(r, (uint64_t)n * 8, what, (int)core, err))) return st;
            if (l) memset(l->out, 0, (size_t)npos * nchp * 4), l->in_n = (int32_t)n;
            int64_t prev_idx = -1;
            for (uint32_t q = 0; q < n; q++) {
                int32_t idx = (int32_t)g32(r), pl = (int32_t)g32(r);
                if (idx <= prev_idx || idx >= nn || !pl)
                    return CKBAD("core %u slice %d: encoded input %u: neuron %d payload %d, expected increasing "
                                 "neurons below %lld and a payload other than 0", core, j, q, idx, pl, (long long)nn);
                prev_idx = idx;
                if (l) {
                    l->in_idx[q] = idx, l->in_pl[q] = pl;
                    l->out[(int64_t)(idx / nch) * nchp + idx % nch] = pl;
                }
            }
        }
    }
    for (int q = 0; q < s->R; q++) {
        if ((st = need(r, 4, "a queue slot's count", (int)core, err))) return st;
        uint32_t n = g32(r);
        if (own && n > (uint64_t)cr->cap)
            return CKBAD("core %u: queue slot %d holds %u events, at most %lld (one per route into the core)", core, q,
                         n, (long long)cr->cap);
        if ((st = need(r, (uint64_t)n * 8, "a queue slot's events", (int)core, err))) return st;
        for (uint32_t e = 0; e < n; e++) {
            uint32_t axon = g32(r);
            int32_t pl = (int32_t)g32(r);
            if (axon >= (uint32_t)bc->n_axons || (own && !(cr->apack[axon] & 255)))
                return CKBAD("core %u: queue slot %d event %u is for axon %u, expected one of its %d axons that "
                             "reaches a neuron", core, q, e, axon, bc->n_axons);
            if (set) cr->q[(int64_t)q * cr->cap + e] = (ev_t){cr->apack[axon], pl};
        }
        if (set) cr->qn[q] = (int32_t)n;
    }
    if (set) s->restored[core] = 1;
    return STC_OK;
}

/* The whole blob (its checksum already checked): checked when !apply, loaded when apply. */
static stc_status_t r_blob(stc_chipsim_t *s, const uint8_t *blob, size_t len, int take, int apply, stc_err_t *err) {
    const stc_bundle_t *b = s->b;
    rd_t r = {blob, len - 8, 8};
    stc_status_t st;
    uint32_t ver = g32(&r), h[7];
    for (int i = 0; i < 7; i++) h[i] = g32(&r);
    uint64_t ident = g64(&r);
    uint32_t nrec = g32(&r), flags = g32(&r);
    if (ver != CK_VERSION) return CKBAD("version %u, this stc reads version %d", ver, CK_VERSION);
    const char *hn[6] = {"n_cores", "n_stages", "T", "ticks", "R", "n_out"};
    int64_t want[6] = {b->n_cores, b->n_stages, b->T, b->ticks, s->R, b->n_out};
    for (int i = 0; i < 6; i++)
        if (h[i] != (uint64_t)want[i])
            return CKBAD("field '%s' is %u, this bundle's is %lld (a blob of another bundle)", hn[i], h[i],
                         (long long)want[i]);
    if (ident != s->ident)
        return CKBAD("field 'ident' %016llx, this bundle's shapes hash to %016llx (a blob of another bundle)",
                     (unsigned long long)ident, (unsigned long long)s->ident);
    int tick = (int)h[6];
    if (h[6] > (uint32_t)b->ticks) return CKBAD("field 'tick' is %u, outside 0 .. %d", h[6], b->ticks);
    if (s->rtick >= 0 && tick != s->rtick)
        return CKBAD("field 'tick' is %d, but the blobs restored before were at tick %d", tick, s->rtick);
    if (nrec > (uint32_t)b->n_cores) return CKBAD("field 'n_records' is %u, the bundle has %d cores", nrec, b->n_cores);
    if (flags) return CKBAD("field 'flags' is %u, expected 0", flags);
    int prev = -1;
    for (uint32_t i = 0; i < nrec; i++)
        if ((st = r_core(s, &r, &prev, apply, err))) return st;
    int64_t nro = 0;
    for (int i = 0; i < b->n_stages; i++)
        if (b->stages[i].kind == STC_NK_READOUT) nro += numel(&b->stages[i]);
    if ((st = need(&r, 16 + (uint64_t)b->n_stages * 8 * (1 + CK_NCNT) + (uint64_t)nro * 8, "the part's shares", -1,
                   err)))
        return st;
    uint32_t ovf = g32(&r), zero = g32(&r);
    if (ovf > 1 || zero) return CKBAD("field 'overflow' is %u and its padding %u, expected 0 or 1 and 0", ovf, zero);
    uint64_t dg = g64(&r);
    int do_add = apply && take;
    /* the shares are added (when taken) to what the part holds: the sums
     * are held to the same limits (both are at most 2^62, no overflow here) */
    for (int i = 0; i < b->n_stages; i++) {
        int64_t v = (int64_t)g64(&r);
        if (v < 0 || v > CK_LIMIT || (take && s->stspk[i] + v > CK_LIMIT))
            return CKBAD("stage %d: spikes %lld outside 0 .. 2^62 (or so with the %lld held)", i, (long long)v,
                         (long long)s->stspk[i]);
        if (do_add) s->stspk[i] += v;
    }
    for (int i = 0; i < b->n_stages; i++) {
        int64_t c[CK_NCNT], cur[CK_NCNT];
        memcpy(cur, &s->scnt[i], sizeof cur);
        for (int k = 0; k < CK_NCNT; k++)
            if ((c[k] = (int64_t)g64(&r)) < 0 || c[k] > CK_LIMIT || (take && (cur[k] < 0 || cur[k] > CK_LIMIT - c[k])))
                return CKBAD("stage %d: counter %d = %lld outside 0 .. 2^62 (or so with the %lld held)", i, k,
                             (long long)c[k], (long long)cur[k]);
        if (!do_add) continue;
        for (int k = 0; k < CK_NCNT; k++) cur[k] += c[k];
        memcpy(&s->scnt[i], cur, sizeof cur);
    }
    int64_t lim = (int64_t)b->T << 33; /* |a_in + bias| < 2^32 at each timestep */
    for (int i = 0; i < b->n_stages; i++) {
        if (b->stages[i].kind != STC_NK_READOUT) continue;
        for (int64_t q = 0; q < numel(&b->stages[i]); q++) {
            int64_t v = (int64_t)g64(&r), held = take ? s->rsum[i][q] : 0;
            if (v > lim || v < -lim || held + v > lim || held + v < -lim)
                return CKBAD("stage %d: readout sum %lld = %lld outside +-T x 2^33 (or so with the %lld held)", i,
                             (long long)q, (long long)v, (long long)held);
            if (do_add) s->rsum[i][q] += v;
        }
    }
    if (r.at != r.n) return CKBAD("%zu bytes after the shares, expected none", r.n - r.at);
    if (do_add) s->digest += dg, s->overflow |= (int)ovf;
    if (apply) s->rtick = s->next_tick = tick;
    return STC_OK;
}

stc_status_t stc_chipsim_restore(stc_chipsim_t *s, const uint8_t *blob, size_t len, int take_shares, stc_err_t *err) {
    if (!blob && len) return stc_err_set(err, STC_E_USAGE, "chipsim: restore: no blob");
    if (len < CK_HEADER + 8)
        return CKBAD("%zu bytes, shorter than its header and checksum (%d)", len, CK_HEADER + 8);
    if (memcmp(blob, CK_MAGIC, 8)) return CKBAD("no magic '%s' at its start", CK_MAGIC);
    uint64_t sum = stc_le_get64(blob + len - 8), want = blob_checksum(blob, len - 8);
    if (sum != want)
        return CKBAD("checksum %016llx, its %zu bytes sum to %016llx (truncated or corrupt)", (unsigned long long)sum,
                     len, (unsigned long long)want);
    stc_status_t st = r_blob(s, blob, len, take_shares, 0, err);
    if (st) return st;
    return r_blob(s, blob, len, take_shares, 1, err); /* cannot fail: checked above */
}

/* Also the counters: the blobs bring back the owned cores' (replaced) and
 * the stage counters (added), so that after every blob the part's counters
 * are the saving job's whatever it held before. */
void stc_chipsim_clear(stc_chipsim_t *s) {
    reset_input(s, NULL);
    stc_chipsim_reset_counters(s);
    memset(s->restored, 0, (size_t)s->b->n_cores);
    for (int k = 0; k < s->n_owned; k++)
        for (int j = 0; j < s->core[s->owned[k]].nblk; j++) s->core[s->owned[k]].blk[j].syn = 0;
}

stc_status_t stc_chipsim_restored(const stc_chipsim_t *s, stc_err_t *err) {
    for (int k = 0; k < s->n_owned; k++)
        if (!s->restored[s->owned[k]])
            return stc_err_set(err, STC_E_USAGE, "chipsim: core %d of this part is in none of the blobs restored "
                               "since clear", s->owned[k]);
    return STC_OK;
}
