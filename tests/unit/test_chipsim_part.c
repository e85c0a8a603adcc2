/* test_chipsim_part.c - suite "chipsim_part": the simulator cut into parts, as the runtime's ranks run it.
 *
 * Real test models (quantized from $STC_TEST_DATA_DIR, lowered onto small
 * cores and placed on a torus so that they span several chips) are run whole
 * and as 2, 3 and 4 parts of uneven chip ownership, stepped in one process as
 * the ranks would step them: every part ticks, every outbox event goes to the
 * inject of the part owning its core.  The parts' shares must add up to the
 * whole's results exactly: readout sums (so logits bit for bit), spikes per
 * stage, every counter of every core and stage, and the digest.  Checkpoints
 * taken in the middle of an input are restored into parts of another
 * ownership and must finish exactly as an uninterrupted run; bad blobs and
 * bad injected events are refused with errors naming what is wrong.
 * SPDX-License-Identifier: MIT
 */
#include "stc_chipsim.h"
#include "stc_fixed.h"
#include "stc_input.h"
#include "stc_lower.h"
#include "stc_model.h"
#include "stc_partition.h"
#include "stc_pass.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA STC_TEST_DATA_DIR "/"
#define NCNT 12 /* int64 fields of stc_core_counters_t */
_Static_assert(sizeof(stc_core_counters_t) == NCNT * sizeof(int64_t), "NCNT: the counters' fields");

/* ------------------------------------------------------------ the models */

typedef struct {
    stc_ir_t *ir;
    stc_input_t *in;
    stc_bundle_t *b;
    int chips[64]; /* the chips the cores use, ascending */
    int n_chips;
} model_t;

static void model_free(model_t *m) {
    stc_bundle_destroy(&m->b);
    stc_input_destroy(&m->in);
    stc_ir_destroy(&m->ir);
}

/* A test model, quantized on its first n inputs, cut into small cores (4 to
 * a chip) and placed by stc's placement on torus:4x4. */
static int model_load(const char *name, int n, model_t *m) {
    memset(m, 0, sizeof *m);
    stc_err_t err = {0};
    char pth[512], json[512], npy[512];
    snprintf(pth, sizeof pth, DATA "active/%s/model.pth", name);
    snprintf(json, sizeof json, DATA "active/%s/model.json", name);
    snprintf(npy, sizeof npy, DATA "active/%s/inputs.npy", name);
    stc_model_cfg_t cfg;
    stc_model_cfg_init(&cfg);
    stc_ckpt_t *ck = NULL;
    if (stc_model_cfg_load(&cfg, json, &err) || !(ck = stc_ckpt_load(pth, &err)) ||
        stc_model_recognize(ck, &cfg, &err) || !(m->ir = stc_model_import(ck, &cfg, &err)) ||
        !(m->in = stc_input_load(npy, NULL, NULL, n, &err))) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        stc_ckpt_destroy(&ck);
        return -1;
    }
    stc_ckpt_destroy(&ck);
    stc_pass_opts_t po = {0};
    po.calib = m->in->data;
    po.n_calib = (int)m->in->n;
    stc_target_t t;
    if (stc_pass_pipeline(m->ir, "fold_bn,quantize,delay_balance", &po, &err) ||
        stc_target_load("loihi3", &t, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    t.cores_per_chip = 4, t.core_mesh[0] = 2, t.core_mesh[1] = 2;
    t.neurons_per_core = 4096;
    stc_lower_opts_t lo = {&t, 0, "m", "", NULL, 0, NULL, NULL, 0};
    if (!(m->b = stc_lower(m->ir, &lo, &err))) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    stc_bundle_t *b = m->b;
    stc_pgraph_t g;
    stc_topology_t *topo = stc_topology_parse("torus:4x4", t.chip_link_spikes_per_s, t.energy_chip_hop_pj, &err);
    if (!topo || stc_pgraph_from_bundle(b, &t, NULL, &g, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        stc_topology_destroy(&topo);
        return -1;
    }
    int *chip_of = malloc((size_t)g.n * sizeof *chip_of), next[16] = {0};
    stc_status_t st = stc_place_stc(&g, topo, t.cores_per_chip, chip_of, &err);
    for (int c = 1; !st && c < b->n_cores; c++) {
        int ch = chip_of[c - 1], k = next[ch]++;
        b->cores[c].chip = ch, b->cores[c].x = k % 2, b->cores[c].y = k / 2;
    }
    free(chip_of);
    stc_pgraph_free(&g);
    stc_topology_destroy(&topo);
    b->n_chips = 16;
    snprintf(b->topology, sizeof b->topology, "torus:4x4");
    if (st || stc_bundle_validate(b, "placed", &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    for (int ch = 0; ch < 16; ch++)
        if (next[ch] && m->n_chips < 64) m->chips[m->n_chips++] = ch;
    return 0;
}

/* ------------------------------------------------------------- the parts */

/* Ownership by chip: part_of_rank[i] is the part of the i-th chip in use
 * (ranks past the table's end go to its last entry), host the part of core 0. */
typedef struct {
    int n;
    int part_of_rank[5];
    int host;
} split_t;

typedef struct {
    int n;
    stc_chipsim_t *p[4];
    uint8_t *own[4];
    int *owner; /* per core */
} parts_t;

static void parts_free(parts_t *ps) {
    for (int i = 0; i < ps->n; i++) stc_chipsim_destroy(&ps->p[i]), free(ps->own[i]);
    free(ps->owner);
    memset(ps, 0, sizeof *ps);
}

static int parts_make(const model_t *m, const split_t *sp, parts_t *ps) {
    const stc_bundle_t *b = m->b;
    stc_err_t err = {0};
    memset(ps, 0, sizeof *ps);
    ps->n = sp->n;
    ps->owner = malloc((size_t)b->n_cores * sizeof *ps->owner);
    for (int c = 0; c < b->n_cores; c++) {
        int r = 0;
        while (r < m->n_chips && m->chips[r] != b->cores[c].chip) r++;
        ps->owner[c] = c == 0 ? sp->host : sp->part_of_rank[r < 5 ? r : 4];
    }
    for (int i = 0; i < ps->n; i++) {
        ps->own[i] = calloc((size_t)b->n_cores, 1);
        for (int c = 0; c < b->n_cores; c++) ps->own[i][c] = ps->owner[c] == i;
        if (!(ps->p[i] = stc_chipsim_create_part(b, ps->own[i], &err))) {
            fprintf(stderr, "part %d: %s\n", i, err.msg);
            return -1;
        }
        stc_chipsim_set_digest(ps->p[i], 1);
    }
    return 0;
}

/* Ticks t0 .. t1 - 1 on every part, the outboxes exchanged after each.
 * Returns the events that crossed between parts, -1 on an error. */
static int64_t parts_step(parts_t *ps, const stc_bundle_t *b, int t0, int t1) {
    stc_err_t err = {0};
    int64_t crossed = 0;
    for (int tick = t0; tick < t1; tick++) {
        for (int i = 0; i < ps->n; i++)
            if (stc_chipsim_tick(ps->p[i], tick, &err)) {
                fprintf(stderr, "part %d tick %d: %s\n", i, tick, err.msg);
                return -1;
            }
        for (int dst = 0; dst < ps->n; dst++) {
            int64_t cap = 0, k = 0;
            for (int i = 0; i < ps->n; i++) {
                int64_t n;
                stc_chipsim_outbox(ps->p[i], &n);
                cap += n;
            }
            stc_remote_ev_t *in = malloc((size_t)(cap ? cap : 1) * sizeof *in);
            for (int i = 0; i < ps->n; i++) {
                int64_t n;
                const stc_remote_ev_t *ev = stc_chipsim_outbox(ps->p[i], &n);
                for (int64_t e = 0; e < n; e++) {
                    if (ev[e].core < 0 || ev[e].core >= b->n_cores || ps->owner[ev[e].core] == i) {
                        free(in);
                        return -1; /* an outbox names only other parts' cores */
                    }
                    if (ps->owner[ev[e].core] == dst) in[k++] = ev[e];
                }
            }
            crossed += k;
            stc_status_t st = stc_chipsim_inject(ps->p[dst], in, k, tick, &err);
            free(in);
            if (st) {
                fprintf(stderr, "part %d inject after tick %d: %s\n", dst, tick, err.msg);
                return -1;
            }
        }
        for (int i = 0; i < ps->n; i++) stc_chipsim_outbox_clear(ps->p[i]);
    }
    return crossed;
}

/* What a run gives: readout sums, spikes per stage, counters, digest. */
typedef struct {
    int64_t rsum[64];
    int64_t spikes[512];
    stc_core_counters_t *cnt; /* per core */
    stc_core_counters_t scnt[512];
    uint64_t digest;
} result_t;

static void add_counters(stc_core_counters_t *acc, const stc_core_counters_t *c) {
    int64_t a[NCNT], x[NCNT];
    memcpy(a, acc, sizeof a), memcpy(x, c, sizeof x);
    for (int k = 0; k < NCNT; k++) a[k] += x[k];
    memcpy(acc, a, sizeof a);
}

/* (r: zeroed, or a result already made) */
static void result_init(result_t *r, const stc_bundle_t *b) {
    free(r->cnt);
    memset(r, 0, sizeof *r);
    r->cnt = calloc((size_t)b->n_cores, sizeof *r->cnt);
}

/* End every part and add up their shares into r (counters: cumulative). */
static int parts_end(parts_t *ps, const stc_bundle_t *b, result_t *r) {
    stc_err_t err = {0};
    result_init(r, b);
    for (int i = 0; i < ps->n; i++) {
        int64_t rs[64], sp[512];
        r->digest += stc_chipsim_digest(ps->p[i]); /* before end: of this input */
        if (stc_chipsim_end(ps->p[i], rs, sp, &err)) {
            fprintf(stderr, "part %d end: %s\n", i, err.msg);
            return -1;
        }
        for (int k = 0; k < b->n_out; k++) r->rsum[k] += rs[k];
        for (int k = 0; k < b->n_stages; k++) r->spikes[k] += sp[k];
        const stc_core_counters_t *c = stc_chipsim_counters(ps->p[i]), *g = stc_chipsim_stage_counters(ps->p[i]);
        for (int k = 0; k < b->n_cores; k++) add_counters(&r->cnt[k], &c[k]);
        for (int k = 0; k < b->n_stages; k++) add_counters(&r->scnt[k], &g[k]);
    }
    return 0;
}

/* The whole simulator, stepped: begin, ticks, end. */
static int whole_step(stc_chipsim_t *s, const stc_bundle_t *b, const float *img, result_t *r) {
    stc_err_t err = {0};
    result_init(r, b);
    if (stc_chipsim_begin(s, img, &err)) return -1;
    for (int t = 0; t < b->ticks; t++) {
        int64_t n;
        if (stc_chipsim_tick(s, t, &err)) return -1;
        stc_chipsim_outbox(s, &n);
        if (n) return -1; /* nothing leaves a simulator of every core */
    }
    r->digest = stc_chipsim_digest(s);
    if (stc_chipsim_end(s, r->rsum, r->spikes, &err)) return -1;
    memcpy(r->cnt, stc_chipsim_counters(s), (size_t)b->n_cores * sizeof *r->cnt);
    memcpy(r->scnt, stc_chipsim_stage_counters(s), (size_t)b->n_stages * sizeof *r->scnt);
    return 0;
}

/* Every field equal; the first difference is printed. */
static int result_same(const result_t *x, const result_t *y, const stc_bundle_t *b, const char *what) {
    int bad = 0;
    for (int k = 0; k < b->n_out && !bad; k++)
        if (x->rsum[k] != y->rsum[k]) bad = fprintf(stderr, "%s: readout sum %d: %lld, %lld\n", what, k,
                                                    (long long)x->rsum[k], (long long)y->rsum[k]);
    for (int k = 0; k < b->n_stages && !bad; k++)
        if (x->spikes[k] != y->spikes[k]) bad = fprintf(stderr, "%s: spikes of stage %d: %lld, %lld\n", what, k,
                                                        (long long)x->spikes[k], (long long)y->spikes[k]);
    for (int k = 0; k < b->n_cores && !bad; k++)
        if (memcmp(&x->cnt[k], &y->cnt[k], sizeof x->cnt[k]))
            bad = fprintf(stderr, "%s: counters of core %d\n", what, k);
    for (int k = 0; k < b->n_stages && !bad; k++)
        if (memcmp(&x->scnt[k], &y->scnt[k], sizeof x->scnt[k]))
            bad = fprintf(stderr, "%s: counters of stage %d\n", what, k);
    if (!bad && x->digest != y->digest)
        bad = fprintf(stderr, "%s: digest %016llx, %016llx\n", what, (unsigned long long)x->digest,
                      (unsigned long long)y->digest);
    return !bad;
}

static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The digest as docs/runtime.md defines it, from the traced stage outputs:
 * every event a stage emits (its non-zero outputs; every output of a dense
 * one; none of a READOUT). */
static void digest_trace(void *ud, const stc_bundle_t *b, int stage, int t, const int64_t *q) {
    const stc_stage_t *st = &b->stages[stage];
    if (st->kind == STC_NK_READOUT) return;
    int dense = st->dense && (st->kind == STC_NK_RELAY || st->kind == STC_NK_MAX || st->kind == STC_NK_SSA);
    for (int64_t i = 0; i < (int64_t)st->c * st->h * st->w; i++) {
        int32_t pl = (int32_t)(q[i] > INT32_MAX ? INT32_MAX : q[i] < INT32_MIN ? INT32_MIN : q[i]);
        if (pl || dense)
            *(uint64_t *)ud +=
                mix(mix((uint64_t)stage << 32 | (uint64_t)i) ^ ((uint64_t)(uint32_t)t << 32 | (uint32_t)pl));
    }
}

static const float *image(const model_t *m, int i) { return m->in->data + (int64_t)i * m->in->c * m->in->h * m->in->w; }

/* The uneven splits: chips {0} / {1, 2, 3, ...}; {0, 2} / {1} / {3, ...};
 * {1} / {0, 4, ...} / {2} / {3} (by rank among the chips in use). */
static const split_t SPLITS[3] = {
    {2, {0, 1, 1, 1, 1}, 1},
    {3, {0, 1, 0, 2, 2}, 0},
    {4, {1, 0, 2, 3, 1}, 2},
};

/* --------------------------------------------------------------- the tests */

static void check_model(const char *name) {
    model_t m;
    CU_ASSERT_EQUAL_FATAL(model_load(name, 2, &m), 0);
    const stc_bundle_t *b = m.b;
    CU_ASSERT_FATAL(b->n_out <= 64 && b->n_stages <= 512);
    CU_ASSERT(m.n_chips >= 4); /* the splits below give every part chips */
    if (getenv("STC_TEST_VERBOSE")) fprintf(stderr, "%s: %d cores on %d chips\n", name, b->n_cores, m.n_chips);
    stc_err_t err = {0};
    stc_chipsim_t *w = stc_chipsim_create(b, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    stc_chipsim_set_digest(w, 1);
    /* the whole, by run and stepped: the same logits, spikes and digests; inputs back to back */
    result_t ref[2] = {0};
    float lg[64];
    int64_t sp[512];
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(stc_chipsim_run(w, image(&m, i), lg, sp, NULL, NULL, &err), STC_OK);
        uint64_t dg = stc_chipsim_digest(w);
        CU_ASSERT_NOT_EQUAL(dg, 0);
        stc_chipsim_t *w2 = stc_chipsim_create(b, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w2);
        stc_chipsim_set_digest(w2, 1);
        for (int j = 0; j <= i; j++) CU_ASSERT_EQUAL_FATAL(whole_step(w2, b, image(&m, j), &ref[i]), 0);
        stc_chipsim_destroy(&w2);
        CU_ASSERT_EQUAL(ref[i].digest, dg);
        CU_ASSERT(!memcmp(sp, ref[i].spikes, (size_t)b->n_stages * sizeof *sp));
        int same = 1;
        for (int k = 0; k < b->n_out; k++)
            same &= lg[k] == stc_logit(ref[i].rsum[k], b->stages[b->output_stage].qstep, b->T);
        CU_ASSERT(same);
        CU_ASSERT(!memcmp(stc_chipsim_counters(w), ref[i].cnt, (size_t)b->n_cores * sizeof *ref[i].cnt));
    }
    CU_ASSERT_NOT_EQUAL(ref[0].digest, ref[1].digest);
    { /* the digest is what the definition gives from the traced outputs */
        uint64_t dg = 0;
        CU_ASSERT_EQUAL(stc_chipsim_run(w, image(&m, 1), lg, NULL, digest_trace, &dg, &err), STC_OK);
        CU_ASSERT_EQUAL(dg, ref[1].digest);
        CU_ASSERT_EQUAL(stc_chipsim_digest(w), ref[1].digest);
    }
    int64_t whole_bytes = stc_chipsim_state_bytes(w);
    /* the digest costs nothing when off, and is 0 */
    stc_chipsim_set_digest(w, 0);
    CU_ASSERT_EQUAL(stc_chipsim_run(w, image(&m, 0), lg, NULL, NULL, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_chipsim_digest(w), 0);
    stc_chipsim_destroy(&w);

    for (int k = 0; k < 3; k++) {
        parts_t ps;
        CU_ASSERT_EQUAL_FATAL(parts_make(&m, &SPLITS[k], &ps), 0);
        int64_t bytes = 0;
        for (int i = 0; i < ps.n; i++) {
            int64_t own = 0;
            for (int c = 0; c < b->n_cores; c++) own += stc_chipsim_owned(ps.p[i], c);
            CU_ASSERT(own > 0 && own < b->n_cores);
            CU_ASSERT(stc_chipsim_state_bytes(ps.p[i]) < whole_bytes); /* a share of the memory */
            bytes += stc_chipsim_state_bytes(ps.p[i]);
        }
        CU_ASSERT_EQUAL(bytes, whole_bytes); /* per core, whichever part holds it */
        for (int i = 0; i < 2; i++) {
            stc_err_t e2 = {0};
            for (int p = 0; p < ps.n; p++) {
                int host = stc_chipsim_owned(ps.p[p], 0);
                CU_ASSERT_EQUAL(stc_chipsim_begin(ps.p[p], host ? image(&m, i) : NULL, &e2), STC_OK);
            }
            int64_t crossed = parts_step(&ps, b, 0, b->ticks);
            if (getenv("STC_TEST_VERBOSE"))
                fprintf(stderr, "%s: %d parts, %lld events crossed\n", name, ps.n, (long long)crossed);
            CU_ASSERT(crossed > 0); /* the parts did talk */
            result_t r = {0};
            CU_ASSERT_EQUAL(parts_end(&ps, b, &r), 0);
            char what[96];
            snprintf(what, sizeof what, "%s, %d parts, input %d", name, ps.n, i);
            CU_ASSERT(result_same(&r, &ref[i], b, what));
            free(r.cnt);
        }
        parts_free(&ps);
    }

    /* checkpoints: 3 parts stopped in the middle of the second input, their
     * blobs restored into 2, into 4 and into 2 parts, finished there: twice
     * while the parts still exchange events (most cross in the first ticks,
     * as the pipeline fills), once at the last tick */
    for (int into = 0; into < 3; into++) {
        parts_t a, z;
        CU_ASSERT_EQUAL_FATAL(parts_make(&m, &SPLITS[1], &a), 0);
        for (int i = 0; i < 2; i++) {
            for (int p = 0; p < a.n; p++)
                CU_ASSERT_EQUAL(stc_chipsim_begin(a.p[p], stc_chipsim_owned(a.p[p], 0) ? image(&m, i) : NULL, &err),
                                STC_OK);
            if (i == 0) {
                result_t r = {0};
                CU_ASSERT(parts_step(&a, b, 0, b->ticks) >= 0);
                CU_ASSERT_EQUAL(parts_end(&a, b, &r), 0);
                free(r.cnt);
            }
        }
        int mid = into < 2 ? b->T + 1 + into : b->ticks - 1;
        CU_ASSERT(parts_step(&a, b, 0, mid) > 0);
        uint8_t *blob[4];
        size_t len[4];
        for (int p = 0; p < a.n; p++) CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(a.p[p], &blob[p], &len[p], &err), STC_OK);
        CU_ASSERT_EQUAL_FATAL(parts_make(&m, &SPLITS[into == 1 ? 2 : 0], &z), 0);
        for (int q = 0; q < z.n; q++) {
            stc_chipsim_clear(z.p[q]);
            if (q == 1) { /* before every blob is in: says which core is missing */
                CU_ASSERT_NOT_EQUAL(stc_chipsim_restored(z.p[q], &err), STC_OK);
                STC_ASSERT_CONTAINS(err.msg, "core");
            }
            for (int p = 0; p < a.n; p++)
                CU_ASSERT_EQUAL(stc_chipsim_restore(z.p[q], blob[p], len[p], q == 0, &err), STC_OK);
            CU_ASSERT_EQUAL(stc_chipsim_restored(z.p[q], &err), STC_OK);
        }
        int64_t crossed = parts_step(&z, b, mid, b->ticks);
        CU_ASSERT(into == 2 ? crossed == 0 : crossed > 0);
        result_t r = {0};
        CU_ASSERT_EQUAL(parts_end(&z, b, &r), 0);
        /* z's counters are a's up to the checkpoint (the first input
         * included): the whole's after two inputs */
        char what[96];
        snprintf(what, sizeof what, "%s, restored at tick %d into %d parts", name, mid, z.n);
        CU_ASSERT(result_same(&r, &ref[1], b, what));
        free(r.cnt);
        for (int p = 0; p < a.n; p++) free(blob[p]);
        parts_free(&a);
        parts_free(&z);
    }
    free(ref[0].cnt), free(ref[1].cnt);
    model_free(&m);
}

static void test_spikformer(void) { check_model("spikformer_cifar"); }
static void test_sdt(void) { check_model("sdt"); }

/* The blob's checksum, as docs/runtime.md gives it (to patch fields). */
static void reseal(uint8_t *p, size_t len) {
    size_t n = len - 8, i = 0;
    uint64_t h = mix(0x5354435354415445ull ^ (uint64_t)n), t = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t wd = 0;
        for (int j = 0; j < 8; j++) wd |= (uint64_t)p[i + j] << (8 * j);
        h = mix(h ^ wd);
    }
    for (size_t j = 0; i + j < n; j++) t |= (uint64_t)p[i + j] << (8 * j);
    h = mix(h ^ t);
    for (int j = 0; j < 8; j++) p[n + j] = (uint8_t)(h >> (8 * j));
}

static void put32(uint8_t *p, uint32_t v) {
    for (int j = 0; j < 4; j++) p[j] = (uint8_t)(v >> (8 * j));
}

/* Refused blobs and events: errors that name the field, and nothing changed. */
static void test_refuse(void) {
    model_t m, o;
    CU_ASSERT_EQUAL_FATAL(model_load("spikformer_cifar", 1, &m), 0);
    CU_ASSERT_EQUAL_FATAL(model_load("sdt", 1, &o), 0);
    const stc_bundle_t *b = m.b;
    stc_err_t err = {0};
    parts_t ps;
    CU_ASSERT_EQUAL_FATAL(parts_make(&m, &SPLITS[0], &ps), 0);
    for (int p = 0; p < ps.n; p++)
        CU_ASSERT_EQUAL(stc_chipsim_begin(ps.p[p], stc_chipsim_owned(ps.p[p], 0) ? image(&m, 0) : NULL, &err), STC_OK);
    /* the host port's part needs the image */
    CU_ASSERT_NOT_EQUAL(stc_chipsim_begin(ps.p[1], NULL, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "image");
    CU_ASSERT_EQUAL(stc_chipsim_begin(ps.p[1], image(&m, 0), &err), STC_OK);
    CU_ASSERT(parts_step(&ps, b, 0, 2) > 0);
    stc_chipsim_t *p0 = ps.p[0];
    /* ticks run in order */
    CU_ASSERT_NOT_EQUAL(stc_chipsim_tick(p0, 5, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "tick 5");
    /* a run needs every core */
    float lg[64];
    CU_ASSERT_NOT_EQUAL(stc_chipsim_run(p0, image(&m, 0), lg, NULL, NULL, NULL, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "every core");
    uint8_t *blob = NULL, *blob2 = NULL, *other = NULL;
    size_t len = 0, len2 = 0, olen = 0;
    CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(p0, &blob, &len, &err), STC_OK);
    /* bad events: a core of another part, an axon out of range, a tick out of reach */
    int mine = -1, theirs = -1;
    for (int c = 0; c < b->n_cores; c++) {
        if (stc_chipsim_owned(p0, c) && mine < 0 && b->cores[c].n_axons > 0) mine = c;
        if (!stc_chipsim_owned(p0, c) && theirs < 0) theirs = c;
    }
    CU_ASSERT_FATAL(mine >= 0 && theirs >= 0);
    stc_remote_ev_t ev[2] = {{mine, 0, 1, 2}, {theirs, 0, 1, 2}};
    CU_ASSERT_NOT_EQUAL(stc_chipsim_inject(p0, ev, 2, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "event 1");
    STC_ASSERT_CONTAINS(err.msg, "core");
    ev[1] = (stc_remote_ev_t){mine, b->cores[mine].n_axons, 1, 2};
    CU_ASSERT_NOT_EQUAL(stc_chipsim_inject(p0, ev, 2, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "axon");
    ev[1] = (stc_remote_ev_t){mine, 0, 1, 1};
    CU_ASSERT_NOT_EQUAL(stc_chipsim_inject(p0, ev, 2, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "tick 1");
    ev[1] = (stc_remote_ev_t){mine, 0, 1, 2 + 256};
    CU_ASSERT_NOT_EQUAL(stc_chipsim_inject(p0, ev, 2, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "tick");
    CU_ASSERT_NOT_EQUAL(stc_chipsim_inject(p0, ev, 1, 0, &err), STC_OK); /* not the tick just run */
    STC_ASSERT_CONTAINS(err.msg, "tick");
    { /* more events for one tick than routes into the core: refused, and the ones before taken back */
        int na = b->cores[mine].n_axons;
        stc_remote_ev_t *many = malloc((size_t)(2 * na + 1) * sizeof *many);
        many[0] = (stc_remote_ev_t){mine, 0, 1, 3};
        for (int k = 0; k < 2 * na; k++) many[k + 1] = (stc_remote_ev_t){mine, k % na, 1, 2};
        CU_ASSERT_NOT_EQUAL(stc_chipsim_inject(p0, many, 2 * na + 1, 1, &err), STC_OK);
        STC_ASSERT_CONTAINS(err.msg, "overflows the queue");
        free(many);
    }
    /* nothing was queued by the calls that failed: the same state, byte for byte */
    CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(p0, &blob2, &len2, &err), STC_OK);
    CU_ASSERT(len2 == len && !memcmp(blob, blob2, len));
    free(blob2);
    /* a blob of another bundle */
    parts_t po;
    CU_ASSERT_EQUAL_FATAL(parts_make(&o, &SPLITS[0], &po), 0);
    for (int p = 0; p < po.n; p++) stc_chipsim_clear(po.p[p]);
    CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(po.p[0], &other, &olen, &err), STC_OK);
    stc_chipsim_clear(p0);
    uint8_t *cleared = NULL;
    size_t clen = 0;
    CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(p0, &cleared, &clen, &err), STC_OK);
    CU_ASSERT_NOT_EQUAL(stc_chipsim_restore(p0, other, olen, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "another bundle");
    /* truncated, flipped: the checksum; shorter than a header */
    CU_ASSERT_NOT_EQUAL(stc_chipsim_restore(p0, blob, len - 1, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "checksum");
    CU_ASSERT_NOT_EQUAL(stc_chipsim_restore(p0, blob, 20, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "header");
    uint8_t *bad = malloc(len);
    size_t at[4] = {3, 60, len / 2, len - 9};
    for (int i = 0; i < 4; i++) {
        memcpy(bad, blob, len);
        bad[at[i]] ^= 0x10;
        CU_ASSERT_NOT_EQUAL(stc_chipsim_restore(p0, bad, len, 1, &err), STC_OK);
        STC_ASSERT_CONTAINS(err.msg, i ? "checksum" : "magic");
    }
    /* fields out of range behind a good checksum: named */
    struct {
        size_t off;
        uint32_t v;
        const char *says;
    } field[] = {
        {8, 3, "version"}, /* this stc reads version 2 */
        {12, 7, "n_cores"},
        {36, (uint32_t)b->ticks + 1, "'tick'"},
        {48, (uint32_t)b->n_cores + 1, "n_records"},
        {52, 1, "flags"},
        {56, (uint32_t)b->n_cores, "record of core"},
        {60, 99, "slices"},
    };
    for (size_t i = 0; i < sizeof field / sizeof *field; i++) {
        memcpy(bad, blob, len);
        put32(bad + field[i].off, field[i].v);
        reseal(bad, len);
        CU_ASSERT_NOT_EQUAL(stc_chipsim_restore(p0, bad, len, 1, &err), STC_OK);
        STC_ASSERT_CONTAINS(err.msg, field[i].says);
    }
    /* a good blob cut short and resealed: a length named */
    memcpy(bad, blob, len);
    reseal(bad, len - 64);
    CU_ASSERT_NOT_EQUAL(stc_chipsim_restore(p0, bad, len - 64, 1, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "bytes");
    free(bad);
    /* the refused blobs changed nothing */
    CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(p0, &blob2, &len2, &err), STC_OK);
    CU_ASSERT(len2 == clen && !memcmp(cleared, blob2, clen));
    free(blob2), free(cleared);
    CU_ASSERT_NOT_EQUAL(stc_chipsim_restored(p0, &err), STC_OK);
    /* the good one, into a fresh part of the same cores, gives back the same blob */
    stc_chipsim_t *f = stc_chipsim_create_part(b, ps.own[0], &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    stc_chipsim_clear(f);
    CU_ASSERT_EQUAL(stc_chipsim_restore(f, blob, len, 1, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_chipsim_restored(f, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(f, &blob2, &len2, &err), STC_OK);
    CU_ASSERT(len2 == len && !memcmp(blob, blob2, len));
    free(blob2);
    /* a second blob at another tick is refused */
    CU_ASSERT_EQUAL(stc_chipsim_tick(f, 2, &err), STC_OK);
    stc_chipsim_outbox_clear(f);
    CU_ASSERT_EQUAL_FATAL(stc_chipsim_save(f, &blob2, &len2, &err), STC_OK);
    CU_ASSERT_EQUAL(stc_chipsim_restore(f, blob, len, 0, &err), STC_OK);
    CU_ASSERT_NOT_EQUAL(stc_chipsim_restore(f, blob2, len2, 0, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "tick");
    free(blob2);
    stc_chipsim_destroy(&f);
    /* saving with events still in the outbox is refused */
    stc_chipsim_t *p1 = ps.p[1];
    CU_ASSERT_EQUAL(stc_chipsim_tick(p1, 2, &err), STC_OK);
    int64_t n = 0;
    stc_chipsim_outbox(p1, &n);
    if (n) {
        CU_ASSERT_NOT_EQUAL(stc_chipsim_save(p1, &blob2, &len2, &err), STC_OK);
        STC_ASSERT_CONTAINS(err.msg, "outbox");
    }
    free(blob), free(other);
    parts_free(&ps);
    parts_free(&po);
    model_free(&m);
    model_free(&o);
}

void stc_suite_chipsim_part(void) {
    static const stc_test_t tests[] = {
        {"spikformer: 2, 3, 4 parts add up to the whole; checkpoints", test_spikformer},
        {"sdt: 2, 3, 4 parts add up to the whole; checkpoints", test_sdt},
        {"bad blobs and events are refused, naming the field", test_refuse},
        {NULL, NULL},
    };
    stc_add_suite("chipsim_part", tests);
}
