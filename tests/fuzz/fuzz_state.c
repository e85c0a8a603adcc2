/* fuzz_state.c - libFuzzer target: restoring a simulator checkpoint (stc_chipsim_restore) from arbitrary bytes.
 *
 * A small bundle is built once in-process (every stage kind: INPUT, LIF from a
 * CONV, SSA from Q/K/V, MAX from a WINDOW, RELAY, READOUT from two
 * DENSE_REDUCEs; five cores on two chips; the partitioner's tables), with a
 * simulator of every core and a part of three of them.  Each input is
 * restored as given (the checksum stops most mutations), then with its
 * trailing checksum recomputed (docs/runtime.md, "Checkpoint blob") so that
 * mutations reach the field checks.  A finding is a crash, a leak or an
 * overread or undefined behaviour (ASan, UBSan), a refusal whose message does
 * not name the checkpoint blob, or an accepted blob after which the rest of
 * the input cannot be run or the state not saved again: every accepted state
 * is run to the end of the input, so that the checks are shown to keep the
 * tick loop inside its buffers.
 * Seeds: tests/fuzz/corpus/state/, real blobs of this bundle written by this
 * file built with -DSTC_FUZZ_STATE_SEEDS as a program (argument: the folder).
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stc_chipsim.h"
#include "stc_partition.h"
#include "stc_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static stc_bundle_t *B;
static stc_chipsim_t *WHOLE, *PART;        /* every core; cores 0, 2, 4 */
static const uint8_t PART_OWN[5] = {1, 0, 1, 0, 1};

static stc_stage_t stage(const char *name, int kind, int c, int h, int w, int depth) {
    stc_stage_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.kind = kind, s.c = c, s.h = h, s.w = w, s.depth = depth, s.ir_node = -1;
    s.pbits = 8, s.qstep = 1.0;
    return s;
}

static stc_proj_t proj(int src, int dst, int kind, int co, int ci, int k) {
    stc_proj_t p;
    memset(&p, 0, sizeof p);
    p.src = src, p.dst = dst, p.kind = kind, p.co = co, p.ci = ci, p.k = k, p.stride = k == 2 ? 2 : 1;
    p.pad = k == 3;
    p.n_w = kind == STC_SK_CONV ? (int64_t)co * ci * k * k
            : kind == STC_SK_DENSE_REDUCE ? (int64_t)co * ci
            : kind == STC_SK_ONE2ONE     ? 1
                                         : 0;
    if (p.n_w) {
        p.w = malloc((size_t)p.n_w);
        for (int64_t i = 0; i < p.n_w; i++) p.w[i] = (int8_t)((i * 37 + src * 11 + dst * 5) % 13 - 5);
    }
    return p;
}

static stc_bundle_t *make_bundle(void) {
    stc_bundle_t *b = calloc(1, sizeof *b);
    snprintf(b->model, sizeof b->model, "fuzz_state");
    snprintf(b->target, sizeof b->target, "loihi3");
    b->T = 3;
    b->n_stages = 6;
    b->stages = calloc(6, sizeof *b->stages);
    b->stages[0] = stage("in", STC_NK_INPUT, 2, 4, 4, 0);
    b->stages[0].qexp = 4;
    b->stages[1] = stage("lif", STC_NK_LIF, 4, 4, 4, 1);
    b->stages[1].dk = 2048, b->stages[1].vth = 40;
    b->stages[2] = stage("ssa", STC_NK_SSA, 4, 4, 4, 2);
    b->stages[2].heads = 2, b->stages[2].mul = 3;
    b->stages[3] = stage("pool", STC_NK_MAX, 4, 2, 2, 2);
    b->stages[4] = stage("relay", STC_NK_RELAY, 4, 4, 4, 3);
    b->stages[4].rsh = 1;
    b->stages[5] = stage("out", STC_NK_READOUT, 3, 1, 1, 4);
    b->n_projs = 8;
    b->projs = calloc(8, sizeof *b->projs);
    b->projs[0] = proj(0, 1, STC_SK_CONV, 4, 2, 3);
    b->projs[1] = proj(1, 2, STC_SK_SSA_Q, 0, 0, 0);
    b->projs[2] = proj(1, 2, STC_SK_SSA_K, 0, 0, 0);
    b->projs[3] = proj(1, 2, STC_SK_SSA_V, 0, 0, 0);
    b->projs[4] = proj(1, 3, STC_SK_WINDOW, 0, 0, 2);
    b->projs[5] = proj(2, 4, STC_SK_ONE2ONE, 0, 0, 0);
    b->projs[6] = proj(4, 5, STC_SK_DENSE_REDUCE, 3, 4, 0);
    b->projs[7] = proj(3, 5, STC_SK_DENSE_REDUCE, 3, 4, 0);
    for (int i = 0; i < 8; i++) b->projs[i].delay = b->stages[b->projs[i].dst].depth - b->stages[b->projs[i].src].depth;
    b->ticks = b->T + 4;
    b->input_stage = 0, b->output_stage = 5;
    b->in_c = 2, b->in_h = 4, b->in_w = 4, b->n_out = 3;
    b->n_chips = 2;
    b->n_cores = 5;
    b->cores = calloc(5, sizeof *b->cores);
    static const stc_slice_t sl[5][2] = {
        {{0, 0, 2, 0, 4}, {0}},
        {{1, 0, 2, 0, 4}, {0}},
        {{1, 2, 4, 0, 4}, {3, 0, 4, 0, 2}},
        {{2, 0, 4, 0, 2}, {4, 0, 4, 0, 4}},
        {{2, 0, 4, 2, 4}, {5, 0, 3, 0, 1}},
    };
    static const int ns[5] = {1, 1, 2, 2, 2}, chip[5] = {-1, 0, 0, 1, 1}, x[5] = {0, 0, 1, 0, 1};
    for (int c = 0; c < 5; c++) {
        stc_core_t *k = &b->cores[c];
        k->chip = chip[c], k->x = x[c];
        k->n_slices = ns[c];
        k->slices = calloc(2, sizeof *k->slices);
        memcpy(k->slices, sl[c], (size_t)ns[c] * sizeof *k->slices);
        for (int j = 0; j < ns[c]; j++) {
            const stc_stage_t *st = &b->stages[k->slices[j].stage];
            k->n_neurons += (k->slices[j].c1 - k->slices[j].c0) * (k->slices[j].y1 - k->slices[j].y0) * st->w;
        }
    }
    stc_target_t t;
    stc_err_t err = {0};
    if (stc_target_load("loihi3", &t, &err) || stc_tables_build(b, &t, &err) ||
        stc_bundle_validate(b, "fuzz_state", &err)) {
        fprintf(stderr, "fuzz_state: %s\n", err.msg);
        abort();
    }
    return b;
}

static void setup(void) {
    if (B) return;
    stc_err_t err = {0};
    B = make_bundle();
    WHOLE = stc_chipsim_create(B, &err);
    PART = WHOLE ? stc_chipsim_create_part(B, PART_OWN, &err) : NULL;
    if (!PART) {
        fprintf(stderr, "fuzz_state: %s\n", err.msg);
        abort();
    }
    stc_chipsim_set_digest(WHOLE, 1);
}

/* The checksum as docs/runtime.md gives it, into the last 8 bytes. */
static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void reseal(uint8_t *p, size_t len) {
    size_t n = len - 8, i = 0;
    uint64_t h = mix(0x5354435354415445ull ^ (uint64_t)n), t = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++) w |= (uint64_t)p[i + j] << (8 * j);
        h = mix(h ^ w);
    }
    for (size_t j = 0; i + j < n; j++) t |= (uint64_t)p[i + j] << (8 * j);
    h = mix(h ^ t);
    for (int j = 0; j < 8; j++) p[n + j] = (uint8_t)(h >> (8 * j));
}

/* Restore into s; when accepted, save again and run the input to its end. */
static void restore_one(stc_chipsim_t *s, const uint8_t *buf, size_t n, int take) {
    stc_err_t err = {0};
    stc_chipsim_clear(s);
    stc_chipsim_reset_counters(s);
    if (stc_chipsim_restore(s, buf, n, take, &err)) {
        if (err.status == STC_OK || strncmp(err.msg, "chipsim: checkpoint blob: ", 26)) __builtin_trap();
        return;
    }
    uint8_t *again = NULL;
    size_t len = 0;
    if (stc_chipsim_save(s, &again, &len, &err)) __builtin_trap();
    free(again);
    int64_t rs[3];
    for (int t = 0; t < B->ticks; t++) { /* from the blob's tick on: the earlier ones are refused */
        if (stc_chipsim_tick(s, t, &err)) continue;
        stc_chipsim_outbox_clear(s);
    }
    stc_chipsim_end(s, rs, NULL, &err); /* may say a queue overflowed: such a state never arises, but is safe */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!buf) return 0;
    memcpy(buf, data, size);
    restore_one(WHOLE, buf, size, 1);
    if (size >= 16) {
        reseal(buf, size);
        restore_one(WHOLE, buf, size, 1);
        restore_one(PART, buf, size, 0);
    }
    free(buf);
    return 0;
}

#ifdef STC_FUZZ_STATE_SEEDS
/* The seeds: blobs of the whole simulator after ticks 0, 2 and 5 of an
 * input, and of the part and its complement after 3 ticks, exchanged. */
static void put(const char *dir, const char *name, const uint8_t *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static void image(float *x, int seed) {
    for (int i = 0; i < 32; i++) x[i] = (float)((i * 7 + seed * 3) % 11) / 10.0f;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    setup();
    stc_err_t err = {0};
    float img[32];
    uint8_t *blob;
    size_t n;
    static const uint8_t rest[5] = {0, 1, 0, 1, 0};
    stc_chipsim_t *other = stc_chipsim_create_part(B, rest, &err);
    image(img, 1);
    if (!other || stc_chipsim_begin(WHOLE, img, &err)) abort();
    for (int t = 0; t < 6; t++) {
        if (stc_chipsim_tick(WHOLE, t, &err)) abort();
        if (t == 0 || t == 2 || t == 5) {
            char name[32];
            snprintf(name, sizeof name, "whole_tick%d", t + 1);
            if (stc_chipsim_save(WHOLE, &blob, &n, &err)) abort();
            put(argv[1], name, blob, n);
            free(blob);
        }
    }
    image(img, 2);
    stc_chipsim_t *p[2] = {PART, other};
    if (stc_chipsim_begin(PART, img, &err) || stc_chipsim_begin(other, NULL, &err)) abort();
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < 2; i++)
            if (stc_chipsim_tick(p[i], t, &err)) abort();
        for (int i = 0; i < 2; i++) {
            int64_t k;
            const stc_remote_ev_t *ev = stc_chipsim_outbox(p[i], &k);
            if (stc_chipsim_inject(p[1 - i], ev, k, t, &err)) abort();
        }
        for (int i = 0; i < 2; i++) stc_chipsim_outbox_clear(p[i]);
    }
    stc_chipsim_clear(WHOLE); /* the two parts' blobs make up the whole */
    for (int i = 0; i < 2; i++) {
        if (stc_chipsim_save(p[i], &blob, &n, &err)) abort();
        put(argv[1], i ? "part_b_tick3" : "part_a_tick3", blob, n);
        if (stc_chipsim_restore(WHOLE, blob, n, 1, &err)) abort();
        free(blob);
    }
    if (stc_chipsim_restored(WHOLE, &err)) abort();
    stc_chipsim_destroy(&other);
    return 0;
}
#endif
