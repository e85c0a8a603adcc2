/* proto.c - the wire protocol of stc's runtime: stc_msg_t <-> one msgpack array.
 *
 * Every message is one msgpack array (docs/runtime.md "Wire protocol" has the
 * same tables with the meaning of each field):
 *
 *     [ "stc", 1, type, rank, size, field... ]
 *
 *   "stc"   str, these 3 bytes               type  int 1..13 (stc_msg_type_t)
 *   1       int, STC_PROTO_VERSION           rank  int -1..max_ranks-1 (-1: the coordinator)
 *                                            size  int 0..max_ranks
 *
 * then the fields of the type, in this order ("int" is any msgpack integer
 * encoding whose value fits the range; "f64" is a float64, float32 accepted;
 * a bin's length must equal what the counts before it say):
 *
 *   HELLO    pid int32, host str<=255, spike_ep str<=255, deployed_sum uint64, resumable uint64
 *   DEPLOY   bundle bin<=max_bundle, sum uint64, n_chips uint32<=max_chips,
 *            owner bin = n_chips*4 (int32 LE, each -1..max_ranks-1), flags uint32
 *   LOADED   sum uint64, n_cores 0..INT32_MAX, n_chips 0..INT32_MAX, state_bytes 0..INT64_MAX,
 *            ok 0|1, msg str<=1023
 *   RUN      first int64, n_images uint32<=max_images, floats uint64<=max_image_floats,
 *            images bin = n_images*floats*4, ckpt_every 0..INT64_MAX, tick0 0..INT64_MAX, last 0|1
 *   RESULT   index int64, n_logits uint32<=max_logits, rsum bin = n_logits*8,
 *            n_stages uint32<=max_stages, spikes bin = n_stages*8, digest uint64, seconds f64
 *   STATS    n_cores uint32<=max_cores, cores bin = n_cores*12*8, n_stages uint32<=max_stages,
 *            stages bin = n_stages*12*8, ticks 0..INT64_MAX, tick_seconds f64, sync_seconds f64
 *   CKPT, RESTORE   tick int64, index int64, blob bin<=max_blob
 *   BEAT     index int64, tick int64
 *   STOP     (no fields)
 *   BYE, ERROR      msg str<=1023
 *   SPIKES   tick int64, n uint64<=max_events, ev bin = n*16
 *
 * Strings are at most max_str bytes and at most their array minus the NUL,
 * and hold no NUL byte.  The array must have exactly 5 + the type's fields
 * elements and nothing may follow it.
 *
 * The decoder is a bounded walker over the bytes: every length it reads (the
 * array count, str and bin lengths, the width of an int) is checked against
 * the bytes that remain and against the limits before it is used; it never
 * allocates and never reads past buf[len).  Payloads are pointers into buf.
 * The encoder packs with msgpack-c into one buffer sized up front, then runs
 * the decoder over its own output (with no limits) so that a sender learns
 * about a message its peers would refuse before it goes out.
 * SPDX-License-Identifier: MIT
 */
#include "stc_proto.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) \
    do { \
        stc_status_t st_ = (x); \
        if (st_ != STC_OK) return st_; \
    } while (0)

#define HEADER_FIELDS 5 /* "stc", version, type, rank, size */

static const char *const type_names[STC_MSG_N_] = {
    NULL,      "HELLO", "DEPLOY", "LOADED", "RUN",  "RESULT", "STATS",
    "CKPT",    "RESTORE", "BEAT", "STOP",   "BYE",  "ERROR",  "SPIKES",
};

/* fields after the header, per type */
static const uint8_t type_fields[STC_MSG_N_] = {
    [STC_MSG_HELLO] = 5,  [STC_MSG_DEPLOY] = 5, [STC_MSG_LOADED] = 6, [STC_MSG_RUN] = 7,
    [STC_MSG_RESULT] = 7, [STC_MSG_STATS] = 7,  [STC_MSG_CKPT] = 3,   [STC_MSG_RESTORE] = 3,
    [STC_MSG_BEAT] = 2,   [STC_MSG_STOP] = 0,   [STC_MSG_BYE] = 1,    [STC_MSG_ERROR] = 1,
    [STC_MSG_SPIKES] = 3,
};

#define COUNTER_BYTES ((uint64_t)STC_COUNTERS_N * 8)

void stc_proto_limits_default(stc_proto_limits_t *l) {
    l->max_frame = 1ull << 30;
    l->max_bundle = 1ull << 30;
    l->max_blob = 1ull << 30;
    l->max_ranks = 4096;
    l->max_chips = 65536;
    l->max_images = 4096;
    l->max_image_floats = 16ull << 20;
    l->max_logits = 65536;
    l->max_stages = 65536;
    l->max_cores = 1u << 20;
    l->max_events = 64ull << 20;
    l->max_str = 1024;
}

const char *stc_proto_type_name(stc_msg_type_t t) {
    return t > 0 && t < STC_MSG_N_ ? type_names[t] : "unknown";
}

/* ------------------------------------------------------------- checksum */

#define FNV_PRIME 0x100000001b3ull
#define FNV_BASIS 0xcbf29ce484222325ull

/* FNV-1a 64 over little-endian 8-byte words, in four interleaved lanes (word
 * i goes to lane i % 4) so that the multiplies overlap; the last partial word
 * is zero-padded; the lanes and the byte count are folded FNV-1a style and the
 * result is finished with the splitmix64 mixer.  docs/runtime.md has the same
 * definition: the coordinator and the ranks must agree on it bit for bit. */
uint64_t stc_proto_sum64(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h[4] = {FNV_BASIS, FNV_BASIS ^ 1, FNV_BASIS ^ 2, FNV_BASIS ^ 3};
    size_t i = 0, w = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) h[k] = (h[k] ^ stc_le_get64(b + i + 8 * k)) * FNV_PRIME;
    for (; i < n; i += 8, w++) {
        uint8_t last[8] = {0};
        memcpy(last, b + i, n - i < 8 ? n - i : 8);
        h[w & 3] = (h[w & 3] ^ stc_le_get64(last)) * FNV_PRIME;
    }
    uint64_t x = FNV_BASIS;
    for (int k = 0; k < 4; k++) x = (x ^ h[k]) * FNV_PRIME;
    x = (x ^ (uint64_t)n) * FNV_PRIME;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* --------------------------------------------------------------- decoder */

typedef struct {
    const uint8_t *b;
    size_t n, off;
    const char *peer;
    const char *what; /* the type's name, "message" until it is known */
    stc_err_t *err;
} rd_t;

/* "<peer>: <TYPE> field '<field>': <text>" (or "<peer>: <TYPE>: <text>") */
__attribute__((format(printf, 4, 5))) static stc_status_t rfail(rd_t *r, stc_status_t st, const char *field,
                                                                const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (field)
        return stc_err_set(r->err, st, "%.300s: %s field '%s': %s", r->peer, r->what, field, text);
    return stc_err_set(r->err, st, "%.300s: %s: %s", r->peer, r->what, text);
}

static size_t left(const rd_t *r) { return r->n - r->off; }

static uint64_t be(const uint8_t *p, size_t w) {
    uint64_t v = 0;
    for (size_t i = 0; i < w; i++) v = v << 8 | p[i];
    return v;
}

/* What the object at the read position is, for "found ..." */
static const char *describe(const rd_t *r) {
    if (r->off >= r->n) return "the end of the message";
    uint8_t t = r->b[r->off];
    if (t <= 0x7f || t >= 0xe0) return "an int";
    if (t <= 0x8f) return "a map";
    if (t <= 0x9f) return "an array";
    if (t <= 0xbf) return "a str";
    switch (t) {
    case 0xc0: return "nil";
    case 0xc1: return "the reserved byte 0xc1";
    case 0xc2: case 0xc3: return "a bool";
    case 0xc4: case 0xc5: case 0xc6: return "a bin";
    case 0xca: return "a float32";
    case 0xcb: return "a float64";
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: return "an int";
    case 0xd9: case 0xda: case 0xdb: return "a str";
    case 0xdc: case 0xdd: return "an array";
    case 0xde: case 0xdf: return "a map";
    default: return "an ext";
    }
}

/* Any msgpack int: sets *neg; the value is in *s when negative, else in *u. */
static stc_status_t rd_int(rd_t *r, const char *field, const char *expect, int *neg, uint64_t *u, int64_t *s) {
    if (r->off >= r->n)
        return rfail(r, STC_E_FORMAT, field, "expected %s, found the end of the message (%zu bytes)", expect, r->n);
    uint8_t t = r->b[r->off];
    if (t <= 0x7f || t >= 0xe0) {
        *neg = t >= 0xe0;
        *u = t;
        *s = (int8_t)t;
        r->off++;
        return STC_OK;
    }
    size_t w;
    switch (t) {
    case 0xcc: case 0xd0: w = 1; break;
    case 0xcd: case 0xd1: w = 2; break;
    case 0xce: case 0xd2: w = 4; break;
    case 0xcf: case 0xd3: w = 8; break;
    default: return rfail(r, STC_E_FORMAT, field, "expected %s, found %s", expect, describe(r));
    }
    if (left(r) - 1 < w)
        return rfail(r, STC_E_FORMAT, field, "expected %s, found an int of %zu bytes cut off after %zu", expect,
                     w, left(r) - 1);
    uint64_t v = be(r->b + r->off + 1, w);
    r->off += 1 + w;
    if (t <= 0xcf) {
        *neg = 0;
        *u = v;
        return STC_OK;
    }
    int64_t sv = w == 1 ? (int8_t)v : w == 2 ? (int16_t)v : w == 4 ? (int32_t)v : (int64_t)v;
    *neg = sv < 0;
    *s = sv;
    *u = (uint64_t)sv;
    return STC_OK;
}

/* A signed int in min..max (max >= 0). */
static stc_status_t get_i64(rd_t *r, const char *field, int64_t min, int64_t max, int64_t *out) {
    char expect[80];
    snprintf(expect, sizeof expect, "an int in %" PRId64 "..%" PRId64, min, max);
    int neg = 0; /* set by rd_int; initialised for gcc -O3, which cannot see through TRY */
    uint64_t u = 0;
    int64_t s = 0;
    TRY(rd_int(r, field, expect, &neg, &u, &s));
    if (neg) {
        if (s < min) return rfail(r, STC_E_FORMAT, field, "expected %s, found %" PRId64, expect, s);
        *out = s;
    } else {
        if (u > (uint64_t)max) return rfail(r, STC_E_FORMAT, field, "expected %s, found %" PRIu64, expect, u);
        *out = (int64_t)u;
    }
    return STC_OK;
}

static stc_status_t get_i32(rd_t *r, const char *field, int64_t min, int64_t max, int32_t *out) {
    int64_t v;
    TRY(get_i64(r, field, min, max, &v));
    *out = (int32_t)v;
    return STC_OK;
}

/* An unsigned int in 0..max. */
static stc_status_t get_u64(rd_t *r, const char *field, uint64_t max, uint64_t *out) {
    char expect[80];
    snprintf(expect, sizeof expect, "an int in 0..%" PRIu64, max);
    int neg = 0; /* set by rd_int; initialised for gcc -O3, which cannot see through TRY */
    uint64_t u = 0;
    int64_t s = 0;
    TRY(rd_int(r, field, expect, &neg, &u, &s));
    if (neg) return rfail(r, STC_E_FORMAT, field, "expected %s, found %" PRId64, expect, s);
    if (u > max) return rfail(r, STC_E_FORMAT, field, "expected %s, found %" PRIu64, expect, u);
    *out = u;
    return STC_OK;
}

/* A count: an unsigned 32-bit int (wire range, STC_E_FORMAT) within a limit (STC_E_LIMIT). */
static stc_status_t get_count(rd_t *r, const char *field, uint64_t wire_max, uint64_t limit, const char *lim_name,
                              uint64_t *out) {
    TRY(get_u64(r, field, wire_max, out));
    if (*out > limit)
        return rfail(r, STC_E_LIMIT, field, "%" PRIu64 ", limit %" PRIu64 " (%s)", *out, limit, lim_name);
    return STC_OK;
}

static stc_status_t get_f64(rd_t *r, const char *field, double *out) {
    if (r->off >= r->n)
        return rfail(r, STC_E_FORMAT, field, "expected a float64, found the end of the message (%zu bytes)", r->n);
    uint8_t t = r->b[r->off];
    size_t w = t == 0xcb ? 8 : t == 0xca ? 4 : 0;
    if (!w) return rfail(r, STC_E_FORMAT, field, "expected a float64, found %s", describe(r));
    if (left(r) - 1 < w)
        return rfail(r, STC_E_FORMAT, field, "expected a float64, found one cut off after %zu of %zu bytes",
                     left(r) - 1, w);
    uint64_t v = be(r->b + r->off + 1, w);
    r->off += 1 + w;
    if (w == 8) {
        memcpy(out, &v, 8);
    } else {
        uint32_t v32 = (uint32_t)v;
        float f;
        memcpy(&f, &v32, 4);
        *out = f;
    }
    return STC_OK;
}

/* The header of a str (*is_str) or bin; sets *len after checking it against the bytes left. */
static stc_status_t rd_len(rd_t *r, const char *field, int want_str, uint64_t *len) {
    const char *kind = want_str ? "a str" : "a bin";
    if (r->off >= r->n)
        return rfail(r, STC_E_FORMAT, field, "expected %s, found the end of the message (%zu bytes)", kind, r->n);
    uint8_t t = r->b[r->off];
    size_t w;
    if (want_str && t >= 0xa0 && t <= 0xbf) {
        *len = t & 0x1f;
        w = 0;
    } else if (want_str && t >= 0xd9 && t <= 0xdb) {
        w = (size_t)1 << (t - 0xd9);
    } else if (!want_str && t >= 0xc4 && t <= 0xc6) {
        w = (size_t)1 << (t - 0xc4);
    } else {
        return rfail(r, STC_E_FORMAT, field, "expected %s, found %s", kind, describe(r));
    }
    if (left(r) - 1 < w)
        return rfail(r, STC_E_FORMAT, field, "%s header cut off after %zu of %zu length bytes", kind, left(r) - 1, w);
    if (w) *len = be(r->b + r->off + 1, w);
    r->off += 1 + w;
    if (*len > left(r))
        return rfail(r, STC_E_FORMAT, field, "%s of %" PRIu64 " bytes, but only %zu bytes remain", kind, *len,
                     left(r));
    return STC_OK;
}

/* A string into dst[cap] (NUL-terminated): at most min(cap-1, max_str) bytes, no NUL inside. */
static stc_status_t get_str(rd_t *r, const char *field, char *dst, size_t cap, uint32_t max_str) {
    uint64_t len = 0;
    TRY(rd_len(r, field, 1, &len));
    uint64_t max = cap - 1 < max_str ? cap - 1 : max_str;
    if (len > max)
        return rfail(r, STC_E_LIMIT, field, "str of %" PRIu64 " bytes, limit %" PRIu64 "%s", len, max,
                     max == max_str ? " (max_str)" : "");
    const uint8_t *p = r->b + r->off;
    const uint8_t *nul = memchr(p, 0, (size_t)len);
    if (nul) return rfail(r, STC_E_FORMAT, field, "str holds a NUL byte at offset %zu", (size_t)(nul - p));
    memcpy(dst, p, (size_t)len);
    dst[len] = 0;
    r->off += (size_t)len;
    return STC_OK;
}

/* A bin of at most `limit` bytes: a pointer into the frame. */
static stc_status_t get_bin(rd_t *r, const char *field, uint64_t limit, const char *lim_name, const uint8_t **p,
                            uint64_t *len) {
    *len = 0;
    TRY(rd_len(r, field, 0, len));
    if (*len > limit)
        return rfail(r, STC_E_LIMIT, field, "bin of %" PRIu64 " bytes, limit %" PRIu64 " (%s)", *len, limit,
                     lim_name);
    *p = r->b + r->off;
    r->off += (size_t)*len;
    return STC_OK;
}

/* A bin whose length must be count * unit (`rule` says how, e.g. "n*16"). */
static stc_status_t get_bin_of(rd_t *r, const char *field, uint64_t count, uint64_t unit, const char *rule,
                               const uint8_t **p) {
    size_t at = r->off;
    uint64_t len;
    TRY(get_bin(r, field, UINT64_MAX, "-", p, &len));
    uint64_t want;
    if (!stc_mul_ok(count, unit, &want)) {
        r->off = at;
        return rfail(r, STC_E_FORMAT, field, "%" PRIu64 " bytes, expected %s = %" PRIu64 "*%" PRIu64
                     " which overflows", len, rule, count, unit);
    }
    if (len != want) {
        r->off = at;
        return rfail(r, STC_E_FORMAT, field, "%" PRIu64 " bytes, expected %s = %" PRIu64, len, rule, want);
    }
    return STC_OK;
}

static stc_status_t decode_fields(rd_t *r, const stc_proto_limits_t *lim, stc_msg_t *m) {
    uint64_t u, len;
    switch (m->type) {
    case STC_MSG_HELLO:
        TRY(get_i32(r, "pid", INT32_MIN, INT32_MAX, &m->u.hello.pid));
        TRY(get_str(r, "host", m->u.hello.host, sizeof m->u.hello.host, lim->max_str));
        TRY(get_str(r, "spike_ep", m->u.hello.spike_ep, sizeof m->u.hello.spike_ep, lim->max_str));
        TRY(get_u64(r, "deployed_sum", UINT64_MAX, &m->u.hello.deployed_sum));
        TRY(get_u64(r, "resumable", UINT64_MAX, &m->u.hello.resumable));
        return STC_OK;
    case STC_MSG_DEPLOY:
        TRY(get_bin(r, "bundle", lim->max_bundle, "max_bundle", &m->u.deploy.bundle, &m->u.deploy.bundle_len));
        TRY(get_u64(r, "sum", UINT64_MAX, &m->u.deploy.sum));
        TRY(get_count(r, "n_chips", UINT32_MAX, lim->max_chips, "max_chips", &u));
        m->u.deploy.n_chips = (uint32_t)u;
        TRY(get_bin_of(r, "owner", u, 4, "n_chips*4", &m->u.deploy.owner));
        for (uint32_t c = 0; c < m->u.deploy.n_chips; c++) {
            const uint8_t *o = m->u.deploy.owner + 4 * (size_t)c;
            int32_t rank = (int32_t)stc_le_get32(o);
            if (rank < -1 || rank >= (int64_t)lim->max_ranks)
                return rfail(r, rank < -1 ? STC_E_FORMAT : STC_E_LIMIT, "owner",
                             "chip %" PRIu32 " is owned by rank %" PRId32 ", expected -1..%" PRId64 " (max_ranks)",
                             c, rank, (int64_t)lim->max_ranks - 1);
        }
        TRY(get_u64(r, "flags", UINT32_MAX, &u));
        m->u.deploy.flags = (uint32_t)u;
        return STC_OK;
    case STC_MSG_LOADED:
        TRY(get_u64(r, "sum", UINT64_MAX, &m->u.loaded.sum));
        TRY(get_i32(r, "n_cores", 0, INT32_MAX, &m->u.loaded.n_cores));
        TRY(get_i32(r, "n_chips", 0, INT32_MAX, &m->u.loaded.n_chips));
        TRY(get_i64(r, "state_bytes", 0, INT64_MAX, &m->u.loaded.state_bytes));
        TRY(get_i32(r, "ok", 0, 1, &m->u.loaded.ok));
        TRY(get_str(r, "msg", m->u.loaded.msg, sizeof m->u.loaded.msg, lim->max_str));
        return STC_OK;
    case STC_MSG_RUN: {
        TRY(get_i64(r, "first", INT64_MIN, INT64_MAX, &m->u.run.first));
        TRY(get_count(r, "n_images", UINT32_MAX, lim->max_images, "max_images", &u));
        m->u.run.n_images = (uint32_t)u;
        TRY(get_count(r, "floats", UINT64_MAX, lim->max_image_floats, "max_image_floats", &m->u.run.floats));
        uint64_t nf;
        if (!stc_mul_ok(u, m->u.run.floats, &nf)) nf = UINT64_MAX; /* then no bin can match */
        TRY(get_bin_of(r, "images", nf, 4, "n_images*floats*4", &m->u.run.images));
        TRY(get_i64(r, "ckpt_every", 0, INT64_MAX, &m->u.run.ckpt_every));
        TRY(get_i64(r, "tick0", 0, INT64_MAX, &m->u.run.tick0));
        TRY(get_u64(r, "last", 1, &u));
        m->u.run.last = (uint32_t)u;
        return STC_OK;
    }
    case STC_MSG_RESULT:
        TRY(get_i64(r, "index", INT64_MIN, INT64_MAX, &m->u.result.index));
        TRY(get_count(r, "n_logits", UINT32_MAX, lim->max_logits, "max_logits", &u));
        m->u.result.n_logits = (uint32_t)u;
        TRY(get_bin_of(r, "rsum", u, 8, "n_logits*8", &m->u.result.rsum));
        TRY(get_count(r, "n_stages", UINT32_MAX, lim->max_stages, "max_stages", &u));
        m->u.result.n_stages = (uint32_t)u;
        TRY(get_bin_of(r, "spikes", u, 8, "n_stages*8", &m->u.result.spikes));
        TRY(get_u64(r, "digest", UINT64_MAX, &m->u.result.digest));
        TRY(get_f64(r, "seconds", &m->u.result.seconds));
        return STC_OK;
    case STC_MSG_STATS:
        TRY(get_count(r, "n_cores", UINT32_MAX, lim->max_cores, "max_cores", &u));
        m->u.stats.n_cores = (uint32_t)u;
        TRY(get_bin_of(r, "cores", u, COUNTER_BYTES, "n_cores*12*8", &m->u.stats.cores));
        TRY(get_count(r, "n_stages", UINT32_MAX, lim->max_stages, "max_stages", &u));
        m->u.stats.n_stages = (uint32_t)u;
        TRY(get_bin_of(r, "stages", u, COUNTER_BYTES, "n_stages*12*8", &m->u.stats.stages));
        TRY(get_i64(r, "ticks", 0, INT64_MAX, &m->u.stats.ticks));
        TRY(get_f64(r, "tick_seconds", &m->u.stats.tick_seconds));
        TRY(get_f64(r, "sync_seconds", &m->u.stats.sync_seconds));
        return STC_OK;
    case STC_MSG_CKPT:
    case STC_MSG_RESTORE:
        TRY(get_i64(r, "tick", INT64_MIN, INT64_MAX, &m->u.ckpt.tick));
        TRY(get_i64(r, "index", INT64_MIN, INT64_MAX, &m->u.ckpt.index));
        TRY(get_bin(r, "blob", lim->max_blob, "max_blob", &m->u.ckpt.blob, &len));
        m->u.ckpt.blob_len = len;
        return STC_OK;
    case STC_MSG_BEAT:
        TRY(get_i64(r, "index", INT64_MIN, INT64_MAX, &m->u.beat.index));
        TRY(get_i64(r, "tick", INT64_MIN, INT64_MAX, &m->u.beat.tick));
        return STC_OK;
    case STC_MSG_STOP:
        return STC_OK;
    case STC_MSG_BYE:
    case STC_MSG_ERROR:
        TRY(get_str(r, "msg", m->u.text.msg, sizeof m->u.text.msg, lim->max_str));
        return STC_OK;
    case STC_MSG_SPIKES:
        TRY(get_i64(r, "tick", INT64_MIN, INT64_MAX, &m->u.spikes.tick));
        TRY(get_count(r, "n", UINT64_MAX, lim->max_events, "max_events", &m->u.spikes.n));
        TRY(get_bin_of(r, "ev", m->u.spikes.n, 16, "n*16", &m->u.spikes.ev));
        return STC_OK;
    case STC_MSG_N_:
        break;
    }
    return rfail(r, STC_E_INTERNAL, NULL, "no decoder for type %d", (int)m->type);
}

static stc_status_t decode(rd_t *r, const stc_proto_limits_t *lim, stc_msg_t *m) {
    if (r->n > lim->max_frame)
        return rfail(r, STC_E_LIMIT, NULL, "%zu bytes, limit %" PRIu64 " (max_frame)", r->n, lim->max_frame);
    if (r->n == 0) return rfail(r, STC_E_FORMAT, NULL, "empty frame, expected a msgpack array");
    uint8_t t = r->b[0];
    uint64_t count;
    if (t >= 0x90 && t <= 0x9f) {
        count = t & 0x0f;
        r->off = 1;
    } else if (t == 0xdc || t == 0xdd) {
        size_t w = t == 0xdc ? 2 : 4;
        if (r->n - 1 < w)
            return rfail(r, STC_E_FORMAT, NULL, "array header cut off after %zu of %zu length bytes", r->n - 1, w);
        count = be(r->b + 1, w);
        r->off = 1 + w;
    } else {
        return rfail(r, STC_E_FORMAT, NULL, "expected a msgpack array, found %s", describe(r));
    }
    /* every element takes at least one byte: a count beyond the bytes left is a lie */
    if (count > left(r))
        return rfail(r, STC_E_FORMAT, NULL, "array header claims %" PRIu64 " elements, but only %zu bytes follow",
                     count, left(r));
    if (count < 3)
        return rfail(r, STC_E_FORMAT, NULL, "expected an array of at least 3 elements (\"stc\", version, type), "
                     "found %" PRIu64, count);

    /* magic */
    size_t at = r->off;
    uint8_t s = r->off < r->n ? r->b[r->off] : 0;
    if (!(s >= 0xa0 && s <= 0xbf) && !(s >= 0xd9 && s <= 0xdb))
        return rfail(r, STC_E_FORMAT, NULL, "not an stc message: expected the str \"stc\" first, found %s",
                     describe(r));
    uint64_t len;
    TRY(rd_len(r, "magic", 1, &len));
    if (len != 3 || memcmp(r->b + r->off, "stc", 3)) {
        char q[64];
        stc_escape(q, sizeof q, r->b + r->off, (size_t)len, 16);
        r->off = at;
        return rfail(r, STC_E_FORMAT, NULL, "not an stc message: expected the str \"stc\" first, found \"%s\"", q);
    }
    r->off += 3;

    uint64_t v;
    TRY(get_u64(r, "version", UINT64_MAX, &v));
    if (v != STC_PROTO_VERSION)
        return rfail(r, STC_E_UNSUPPORTED, "version", "protocol version %" PRIu64 ", this build speaks %d", v,
                     STC_PROTO_VERSION);
    TRY(get_u64(r, "type", UINT64_MAX, &v));
    if (v < 1 || v >= STC_MSG_N_)
        return rfail(r, STC_E_FORMAT, "type", "expected a message type 1..%d, found %" PRIu64, STC_MSG_N_ - 1, v);
    m->type = (stc_msg_type_t)v;
    r->what = type_names[v];
    uint64_t want = HEADER_FIELDS + (uint64_t)type_fields[v];
    if (count != want)
        return rfail(r, STC_E_FORMAT, NULL, "expected an array of %" PRIu64 " elements, found %" PRIu64, want,
                     count);

    int64_t rank;
    TRY(get_i64(r, "rank", INT32_MIN, INT32_MAX, &rank));
    if (rank < -1 || rank >= (int64_t)lim->max_ranks)
        return rfail(r, rank < -1 ? STC_E_FORMAT : STC_E_LIMIT, "rank", "expected -1..%" PRId64 " (max_ranks), "
                     "found %" PRId64, (int64_t)lim->max_ranks - 1, rank);
    m->rank = (int32_t)rank;
    TRY(get_i64(r, "size", INT32_MIN, INT32_MAX, &rank));
    if (rank < 0 || rank > (int64_t)lim->max_ranks)
        return rfail(r, rank < 0 ? STC_E_FORMAT : STC_E_LIMIT, "size", "expected 0..%" PRIu32 " (max_ranks), "
                     "found %" PRId64, lim->max_ranks, rank);
    m->size = (int32_t)rank;

    TRY(decode_fields(r, lim, m));
    if (r->off != r->n)
        return rfail(r, STC_E_FORMAT, NULL, "%zu bytes after the end of the message", r->n - r->off);
    return STC_OK;
}

stc_status_t stc_proto_decode(const void *buf, size_t len, const stc_proto_limits_t *lim, const char *peer,
                              stc_msg_t *m, stc_err_t *err) {
    stc_proto_limits_t dl;
    if (!lim) {
        stc_proto_limits_default(&dl);
        lim = &dl;
    }
    rd_t r = {.b = buf, .n = len, .off = 0, .peer = peer ? peer : "peer", .what = "message", .err = err};
    memset(m, 0, sizeof *m);
    if (!buf && len) return stc_err_set(err, STC_E_USAGE, "%s: stc_proto_decode: NULL buffer", r.peer);
    stc_status_t st = decode(&r, lim, m);
    if (st != STC_OK) memset(m, 0, sizeof *m);
    return st;
}

/* --------------------------------------------------------------- encoder */

typedef struct {
    msgpack_packer pk;
    int bad;              /* a pack call failed */
    const char *what;
    stc_err_t *err;
} wr_t;

static void put_i(wr_t *w, int64_t v) { w->bad |= msgpack_pack_int64(&w->pk, v) != 0; }
static void put_u(wr_t *w, uint64_t v) { w->bad |= msgpack_pack_uint64(&w->pk, v) != 0; }
static void put_f(wr_t *w, double v) { w->bad |= msgpack_pack_double(&w->pk, v) != 0; }

static void put_bin(wr_t *w, const uint8_t *p, uint64_t n) {
    w->bad |= msgpack_pack_bin(&w->pk, (size_t)n) != 0;
    if (n) w->bad |= msgpack_pack_bin_body(&w->pk, p, (size_t)n) != 0;
}

static void put_str(wr_t *w, const char *s) {
    size_t n = strlen(s);
    w->bad |= msgpack_pack_str(&w->pk, n) != 0;
    if (n) w->bad |= msgpack_pack_str_body(&w->pk, s, n) != 0;
}

/* A string field must end within its array. */
static stc_status_t chk_str(const char *what, const char *field, const char *s, size_t cap, uint64_t *total,
                            stc_err_t *err) {
    size_t n = strnlen(s, cap);
    if (n == cap)
        return stc_err_set(err, STC_E_USAGE, "stc_proto_encode: %s field '%s': not NUL-terminated within %zu bytes",
                           what, field, cap);
    *total += n + 5;
    return STC_OK;
}

/* A payload of count*unit bytes: it must fit a msgpack bin and have a pointer. */
static stc_status_t chk_bin(const char *what, const char *field, const void *p, uint64_t count, uint64_t unit,
                            uint64_t *bytes, uint64_t *total, stc_err_t *err) {
    if (!stc_mul_ok(count, unit, bytes) || *bytes > UINT32_MAX)
        return stc_err_set(err, STC_E_LIMIT, "stc_proto_encode: %s field '%s': %" PRIu64 " x %" PRIu64
                           " bytes does not fit a msgpack bin (at most 4 GiB - 1)", what, field, count, unit);
    if (*bytes && !p)
        return stc_err_set(err, STC_E_USAGE, "stc_proto_encode: %s field '%s': %" PRIu64 " bytes but a NULL pointer",
                           what, field, *bytes);
    if (!stc_add_ok(*total, *bytes + 5, total))
        return stc_err_set(err, STC_E_LIMIT, "stc_proto_encode: %s: message too large", what);
    return STC_OK;
}

stc_status_t stc_proto_encode(const stc_msg_t *m, uint8_t **out, size_t *out_len, stc_err_t *err) {
    *out = NULL;
    *out_len = 0;
    if (m->type < 1 || m->type >= STC_MSG_N_)
        return stc_err_set(err, STC_E_USAGE, "stc_proto_encode: message type %d, expected 1..%d", (int)m->type,
                           STC_MSG_N_ - 1);
    const char *what = type_names[m->type];
    /* sizes first: payloads, strings; the fixed part is at most 9 bytes per int/float */
    uint64_t total = 16 + 9 * 16, b1 = 0, b2 = 0;
    switch (m->type) {
    case STC_MSG_HELLO:
        TRY(chk_str(what, "host", m->u.hello.host, sizeof m->u.hello.host, &total, err));
        TRY(chk_str(what, "spike_ep", m->u.hello.spike_ep, sizeof m->u.hello.spike_ep, &total, err));
        break;
    case STC_MSG_DEPLOY:
        TRY(chk_bin(what, "bundle", m->u.deploy.bundle, m->u.deploy.bundle_len, 1, &b1, &total, err));
        TRY(chk_bin(what, "owner", m->u.deploy.owner, m->u.deploy.n_chips, 4, &b2, &total, err));
        break;
    case STC_MSG_LOADED:
        TRY(chk_str(what, "msg", m->u.loaded.msg, sizeof m->u.loaded.msg, &total, err));
        break;
    case STC_MSG_RUN: {
        uint64_t nf;
        if (!stc_mul_ok(m->u.run.n_images, m->u.run.floats, &nf)) nf = UINT64_MAX;
        TRY(chk_bin(what, "images", m->u.run.images, nf, 4, &b1, &total, err));
        break;
    }
    case STC_MSG_RESULT:
        TRY(chk_bin(what, "rsum", m->u.result.rsum, m->u.result.n_logits, 8, &b1, &total, err));
        TRY(chk_bin(what, "spikes", m->u.result.spikes, m->u.result.n_stages, 8, &b2, &total, err));
        break;
    case STC_MSG_STATS:
        TRY(chk_bin(what, "cores", m->u.stats.cores, m->u.stats.n_cores, COUNTER_BYTES, &b1, &total, err));
        TRY(chk_bin(what, "stages", m->u.stats.stages, m->u.stats.n_stages, COUNTER_BYTES, &b2, &total, err));
        break;
    case STC_MSG_CKPT:
    case STC_MSG_RESTORE:
        TRY(chk_bin(what, "blob", m->u.ckpt.blob, m->u.ckpt.blob_len, 1, &b1, &total, err));
        break;
    case STC_MSG_BYE:
    case STC_MSG_ERROR:
        TRY(chk_str(what, "msg", m->u.text.msg, sizeof m->u.text.msg, &total, err));
        break;
    case STC_MSG_SPIKES:
        TRY(chk_bin(what, "ev", m->u.spikes.ev, m->u.spikes.n, 16, &b1, &total, err));
        break;
    default:
        break;
    }
    if (total > SIZE_MAX)
        return stc_err_set(err, STC_E_LIMIT, "stc_proto_encode: %s of %" PRIu64 " bytes", what, total);

    /* one buffer of the final size's upper bound: msgpack_sbuffer_write never grows it */
    msgpack_sbuffer sb;
    memset(&sb, 0, sizeof sb);
    sb.data = malloc((size_t)total);
    if (!sb.data)
        return stc_err_set(err, STC_E_NOMEM, "stc_proto_encode: %s: cannot allocate %" PRIu64 " bytes", what, total);
    sb.alloc = (size_t)total;
    wr_t w = {.bad = 0, .what = what, .err = err};
    msgpack_packer_init(&w.pk, &sb, msgpack_sbuffer_write);

    w.bad |= msgpack_pack_array(&w.pk, HEADER_FIELDS + type_fields[m->type]) != 0;
    w.bad |= msgpack_pack_str(&w.pk, 3) != 0;
    w.bad |= msgpack_pack_str_body(&w.pk, "stc", 3) != 0;
    put_u(&w, STC_PROTO_VERSION);
    put_u(&w, (uint64_t)m->type);
    put_i(&w, m->rank);
    put_i(&w, m->size);
    switch (m->type) {
    case STC_MSG_HELLO:
        put_i(&w, m->u.hello.pid);
        put_str(&w, m->u.hello.host);
        put_str(&w, m->u.hello.spike_ep);
        put_u(&w, m->u.hello.deployed_sum);
        put_u(&w, m->u.hello.resumable);
        break;
    case STC_MSG_DEPLOY:
        put_bin(&w, m->u.deploy.bundle, b1);
        put_u(&w, m->u.deploy.sum);
        put_u(&w, m->u.deploy.n_chips);
        put_bin(&w, m->u.deploy.owner, b2);
        put_u(&w, m->u.deploy.flags);
        break;
    case STC_MSG_LOADED:
        put_u(&w, m->u.loaded.sum);
        put_i(&w, m->u.loaded.n_cores);
        put_i(&w, m->u.loaded.n_chips);
        put_i(&w, m->u.loaded.state_bytes);
        put_i(&w, m->u.loaded.ok);
        put_str(&w, m->u.loaded.msg);
        break;
    case STC_MSG_RUN:
        put_i(&w, m->u.run.first);
        put_u(&w, m->u.run.n_images);
        put_u(&w, m->u.run.floats);
        put_bin(&w, m->u.run.images, b1);
        put_i(&w, m->u.run.ckpt_every);
        put_i(&w, m->u.run.tick0);
        put_u(&w, m->u.run.last);
        break;
    case STC_MSG_RESULT:
        put_i(&w, m->u.result.index);
        put_u(&w, m->u.result.n_logits);
        put_bin(&w, m->u.result.rsum, b1);
        put_u(&w, m->u.result.n_stages);
        put_bin(&w, m->u.result.spikes, b2);
        put_u(&w, m->u.result.digest);
        put_f(&w, m->u.result.seconds);
        break;
    case STC_MSG_STATS:
        put_u(&w, m->u.stats.n_cores);
        put_bin(&w, m->u.stats.cores, b1);
        put_u(&w, m->u.stats.n_stages);
        put_bin(&w, m->u.stats.stages, b2);
        put_i(&w, m->u.stats.ticks);
        put_f(&w, m->u.stats.tick_seconds);
        put_f(&w, m->u.stats.sync_seconds);
        break;
    case STC_MSG_CKPT:
    case STC_MSG_RESTORE:
        put_i(&w, m->u.ckpt.tick);
        put_i(&w, m->u.ckpt.index);
        put_bin(&w, m->u.ckpt.blob, b1);
        break;
    case STC_MSG_BEAT:
        put_i(&w, m->u.beat.index);
        put_i(&w, m->u.beat.tick);
        break;
    case STC_MSG_STOP:
        break;
    case STC_MSG_BYE:
    case STC_MSG_ERROR:
        put_str(&w, m->u.text.msg);
        break;
    case STC_MSG_SPIKES:
        put_i(&w, m->u.spikes.tick);
        put_u(&w, m->u.spikes.n);
        put_bin(&w, m->u.spikes.ev, b1);
        break;
    case STC_MSG_N_:
        break;
    }
    if (w.bad || sb.size > total) {
        msgpack_sbuffer_destroy(&sb);
        return stc_err_set(err, STC_E_NOMEM, "stc_proto_encode: %s: packing failed", what);
    }

    /* what we send must be what every peer accepts (bar its own limits) */
    stc_proto_limits_t open = {
        .max_frame = UINT64_MAX, .max_bundle = UINT64_MAX, .max_blob = UINT64_MAX, .max_ranks = INT32_MAX,
        .max_chips = UINT32_MAX, .max_images = UINT32_MAX, .max_image_floats = UINT64_MAX, .max_logits = UINT32_MAX,
        .max_stages = UINT32_MAX, .max_cores = UINT32_MAX, .max_events = UINT64_MAX, .max_str = UINT32_MAX};
    stc_msg_t back;
    stc_err_t e2 = {0};
    if (stc_proto_decode(sb.data, sb.size, &open, "stc_proto_encode", &back, &e2) != STC_OK) {
        msgpack_sbuffer_destroy(&sb);
        return stc_err_set(err, STC_E_USAGE, "%s (the message is not valid; no peer would accept it)", e2.msg);
    }
    *out_len = sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&sb);
    return STC_OK;
}
