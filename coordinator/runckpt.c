/* runckpt.c - the checkpoint file of a distributed run (runckpt.h).
 *
 * Little-endian, in this order:
 *     "STCRUNCK"  u32 version (1)  u32 n_blobs
 *     u64 bundle_sum  u64 inputs_sum  i64 n_inputs  i64 tick  i64 index  i64 tick_in
 *     u32 n_out  u32 n_stages
 *     index x { n_out x f32 logits, n_stages x i64 events, u64 digest }
 *     n_blobs x { u64 len, len bytes }
 *     u64 stc_proto_sum64 of everything before it
 * The parser checks the magic, version and trailing sum first, then every
 * count against its limit and against the bytes that remain before it
 * allocates.
 * SPDX-License-Identifier: MIT
 */
#include "runckpt.h"
#include "stc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "STCRUNCK"
#define VERSION 1
#define MAX_BLOBS 4096
#define MAX_OUT 65536
#define MAX_STAGES 65536
#define MAX_INPUTS 100000000LL
#define MAX_BLOB (1ULL << 32)
#define MAX_FILE (64ULL << 30)

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} wbuf_t;

static void put(wbuf_t *w, const void *v, size_t n) {
    if (w->oom) return;
    if (w->n + n > w->cap) {
        size_t c = w->cap ? w->cap : 4096;
        while (c < w->n + n) c *= 2;
        uint8_t *q = realloc(w->p, c);
        if (!q) {
            w->oom = 1;
            return;
        }
        w->p = q, w->cap = c;
    }
    memcpy(w->p + w->n, v, n);
    w->n += n;
}

static void put_u(wbuf_t *w, uint64_t v, int bytes) { /* bytes: 4 or 8 */
    uint8_t b[8];
    if (bytes == 4) stc_le_put32(b, (uint32_t)v);
    else stc_le_put64(b, v);
    put(w, b, (size_t)bytes);
}

stc_status_t coord_runckpt_write(const char *path, const coord_runckpt_t *c, stc_err_t *err) {
    wbuf_t w = {0};
    put(&w, MAGIC, 8);
    put_u(&w, VERSION, 4), put_u(&w, c->n_blobs, 4);
    put_u(&w, c->bundle_sum, 8), put_u(&w, c->inputs_sum, 8), put_u(&w, (uint64_t)c->n_inputs, 8);
    put_u(&w, (uint64_t)c->tick, 8), put_u(&w, (uint64_t)c->index, 8), put_u(&w, (uint64_t)c->tick_in, 8);
    put_u(&w, c->n_out, 4), put_u(&w, c->n_stages, 4);
    for (int64_t i = 0; i < c->index; i++) {
        for (uint32_t k = 0; k < c->n_out; k++) {
            uint32_t u;
            memcpy(&u, &c->logits[(size_t)i * c->n_out + k], 4);
            put_u(&w, u, 4);
        }
        for (uint32_t k = 0; k < c->n_stages; k++) put_u(&w, (uint64_t)c->spikes[(size_t)i * c->n_stages + k], 8);
        put_u(&w, c->digest[i], 8);
    }
    for (uint32_t k = 0; k < c->n_blobs; k++) {
        put_u(&w, c->blob_len[k], 8);
        put(&w, c->blob[k], (size_t)c->blob_len[k]);
    }
    if (w.oom) {
        free(w.p);
        return stc_err_set(err, STC_E_NOMEM, "%s: out of memory for the checkpoint", path);
    }
    put_u(&w, stc_proto_sum64(w.p, w.n), 8);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(w.p, 1, w.n, f) == w.n;
    if (f) ok = !fclose(f) && ok;
    free(w.p);
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return stc_err_set(err, STC_E_IO, "%s: cannot write the checkpoint", path);
    }
    return STC_OK;
}

void coord_runckpt_free(coord_runckpt_t *c) {
    for (uint32_t k = 0; c->blob && k < c->n_blobs; k++) free(c->blob[k]);
    free(c->blob), free(c->blob_len), free(c->logits), free(c->spikes), free(c->digest);
    memset(c, 0, sizeof *c);
}

static uint64_t get_u(const uint8_t *p, int bytes) { return bytes == 4 ? stc_le_get32(p) : stc_le_get64(p); }

#define NEED(k, what)                                                                                             \
    do {                                                                                                          \
        if ((uint64_t)(k) > (uint64_t)(end - at)) {                                                               \
            st = stc_err_set(err, STC_E_FORMAT, "%s: field '%s' needs %llu bytes at offset %zu, %zu remain", name, \
                             what, (unsigned long long)(k), (size_t)(at - buf), (size_t)(end - at));              \
            goto fail;                                                                                            \
        }                                                                                                         \
    } while (0)

stc_status_t coord_runckpt_parse(const uint8_t *buf, size_t len, const char *name, coord_runckpt_t *c,
                                 stc_err_t *err) {
    memset(c, 0, sizeof *c);
    stc_status_t st = STC_OK;
    if (len < 8 + 8 + 48 + 8 + 8 || memcmp(buf, MAGIC, 8))
        return stc_err_set(err, STC_E_FORMAT, "%s: not an stc run checkpoint (expected magic '%s' and at least %d "
                                              "bytes; %zu bytes)", name, MAGIC, 80, len);
    uint32_t ver = (uint32_t)get_u(buf + 8, 4);
    if (ver != VERSION)
        return stc_err_set(err, STC_E_UNSUPPORTED, "%s: field 'version' is %u, this stc reads %d", name, ver, VERSION);
    uint64_t want = get_u(buf + len - 8, 8), have = stc_proto_sum64(buf, len - 8);
    if (want != have)
        return stc_err_set(err, STC_E_FORMAT, "%s: the checksum is %016llx, the contents sum to %016llx (a damaged or "
                                              "truncated file)", name, (unsigned long long)want, (unsigned long long)have);
    const uint8_t *at = buf + 12, *end = buf + len - 8;
    c->n_blobs = (uint32_t)get_u(at, 4), at += 4;
    c->bundle_sum = get_u(at, 8), c->inputs_sum = get_u(at + 8, 8);
    c->n_inputs = (int64_t)get_u(at + 16, 8), c->tick = (int64_t)get_u(at + 24, 8);
    c->index = (int64_t)get_u(at + 32, 8), c->tick_in = (int64_t)get_u(at + 40, 8);
    at += 48;
    c->n_out = (uint32_t)get_u(at, 4), c->n_stages = (uint32_t)get_u(at + 4, 4);
    at += 8;
    if (c->n_blobs < 1 || c->n_blobs > MAX_BLOBS) {
        st = stc_err_set(err, STC_E_LIMIT, "%s: field 'n_blobs' is %u, expected 1..%d", name, c->n_blobs, MAX_BLOBS);
        goto fail;
    }
    if (c->n_inputs < 1 || c->n_inputs > MAX_INPUTS || c->index < 0 || c->index >= c->n_inputs || c->tick_in < 0 ||
        c->tick < 0) {
        st = stc_err_set(err, STC_E_FORMAT, "%s: fields n_inputs %lld, index %lld, tick %lld, tick_in %lld are not a "
                                            "position in a run", name, (long long)c->n_inputs, (long long)c->index,
                         (long long)c->tick, (long long)c->tick_in);
        goto fail;
    }
    if (c->n_out < 1 || c->n_out > MAX_OUT || c->n_stages < 1 || c->n_stages > MAX_STAGES) {
        st = stc_err_set(err, STC_E_LIMIT, "%s: fields n_out %u / n_stages %u, expected 1..%d each", name, c->n_out,
                         c->n_stages, MAX_OUT);
        goto fail;
    }
    uint64_t per = (uint64_t)c->n_out * 4 + (uint64_t)c->n_stages * 8 + 8;
    NEED(per * (uint64_t)c->index, "results");
    c->logits = malloc(((size_t)c->index * c->n_out + 1) * sizeof(float));
    c->spikes = malloc(((size_t)c->index * c->n_stages + 1) * sizeof(int64_t));
    c->digest = malloc(((size_t)c->index + 1) * sizeof(uint64_t));
    c->blob = calloc(c->n_blobs, sizeof *c->blob);
    c->blob_len = calloc(c->n_blobs, sizeof *c->blob_len);
    if (!c->logits || !c->spikes || !c->digest || !c->blob || !c->blob_len) {
        st = stc_err_set(err, STC_E_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    for (int64_t i = 0; i < c->index; i++) {
        for (uint32_t k = 0; k < c->n_out; k++, at += 4) {
            uint32_t u = (uint32_t)get_u(at, 4);
            memcpy(&c->logits[(size_t)i * c->n_out + k], &u, 4);
        }
        for (uint32_t k = 0; k < c->n_stages; k++, at += 8)
            c->spikes[(size_t)i * c->n_stages + k] = (int64_t)get_u(at, 8);
        c->digest[i] = get_u(at, 8), at += 8;
    }
    for (uint32_t k = 0; k < c->n_blobs; k++) {
        NEED(8, "blob length");
        uint64_t n = get_u(at, 8);
        at += 8;
        if (n > MAX_BLOB) {
            st = stc_err_set(err, STC_E_LIMIT, "%s: blob %u: %llu bytes, at most %llu", name, k, (unsigned long long)n,
                             (unsigned long long)MAX_BLOB);
            goto fail;
        }
        NEED(n, "blob");
        if (!(c->blob[k] = malloc(n ? (size_t)n : 1))) {
            st = stc_err_set(err, STC_E_NOMEM, "%s: out of memory", name);
            goto fail;
        }
        memcpy(c->blob[k], at, (size_t)n);
        c->blob_len[k] = n;
        at += n;
    }
    if (at != end) {
        st = stc_err_set(err, STC_E_FORMAT, "%s: %zu bytes after the last blob, expected none", name,
                         (size_t)(end - at));
        goto fail;
    }
    return STC_OK;
fail:
    coord_runckpt_free(c);
    return st;
}

stc_status_t coord_runckpt_read(const char *path, coord_runckpt_t *c, stc_err_t *err) {
    memset(c, 0, sizeof *c);
    uint8_t *buf = NULL;
    size_t n = 0;
    stc_err_t e = {0};
    if (stc_read_file(path, (size_t)MAX_FILE, &buf, &n, &e))
        return stc_err_set(err, e.status, "%s (the checkpoint of a run with --checkpoint-every K)", e.msg);
    stc_status_t st = coord_runckpt_parse(buf, n, path, c, err);
    free(buf);
    return st;
}
