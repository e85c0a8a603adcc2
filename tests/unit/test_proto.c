/* test_proto.c - suite "proto": the wire protocol (transport/proto.c) and the
 * cluster keys and ZAP handler (transport/keys.c).
 *
 * One message of every type with a distinct value in every field must come
 * back field for field, its payloads pointing into the frame; every prefix of
 * every message and every single-byte change must be refused or decoded
 * without a crash (ASan build: without an overread or a leak); lying headers
 * (an array of 2^32-1 elements, a bin or str of 4 GiB) are refused before
 * anything is allocated; every limit, every count/length disagreement, every
 * wrong type and every out-of-range int is refused with a message naming the
 * peer, the type and the field.  The fuzz seeds in tests/fuzz/corpus/proto/
 * are these messages' encodings (checked byte for byte here;
 * STC_PROTO_WRITE_SEEDS=1 stc-tests proto rewrites them after a deliberate
 * format change).  Keys: generate -> load, no overwrite, load errors naming
 * file and line; CurveZMQ over tcp://127.0.0.1: a keyed client gets through,
 * a plain one, one of another cluster and one with the server's key but a
 * foreign pair get nothing; the ZAP handler answers RFC 27 requests exactly.
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "stc_proto.h"
#include "test_util.h"

#define PEER "rank 2 (tcp://10.0.0.2:41234)"
#define SEEDS STC_SOURCE_DIR "/tests/fuzz/corpus/proto/"

/* ------------------------------------------------------------- messages */

static uint8_t bundle_bytes[300], owner_bytes[5 * 4], image_bytes[3 * 7 * 4], rsum_bytes[10 * 8],
    stage_bytes[4 * 8], cores_bytes[3 * STC_COUNTERS_N * 8], stages_bytes[2 * STC_COUNTERS_N * 8], blob_bytes[77],
    ev_bytes[6 * 16];

static void fill(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 3));
}

/* chip c -> rank c % 3 (chip 4: -1, held by none) */
static void fill_owner(void) {
    for (int c = 0; c < 5; c++) {
        int32_t r = c == 4 ? -1 : c % 3;
        for (int b = 0; b < 4; b++) owner_bytes[4 * c + b] = (uint8_t)((uint32_t)r >> (8 * b));
    }
}

/* A message of type t with a distinct value in every field. */
static stc_msg_t make(stc_msg_type_t t) {
    fill(bundle_bytes, sizeof bundle_bytes, 1);
    fill_owner();
    fill(image_bytes, sizeof image_bytes, 2);
    fill(rsum_bytes, sizeof rsum_bytes, 3);
    fill(stage_bytes, sizeof stage_bytes, 4);
    fill(cores_bytes, sizeof cores_bytes, 5);
    fill(stages_bytes, sizeof stages_bytes, 6);
    fill(blob_bytes, sizeof blob_bytes, 7);
    fill(ev_bytes, sizeof ev_bytes, 8);
    stc_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = t;
    m.rank = 3;
    m.size = 4;
    switch (t) {
    case STC_MSG_HELLO:
        m.u.hello.pid = 123456;
        strcpy(m.u.hello.host, "node-7.cluster");
        strcpy(m.u.hello.spike_ep, "tcp://10.0.0.7:41234");
        m.u.hello.deployed_sum = 0xfedcba9876543210ull;
        m.u.hello.resumable = 0;
        break;
    case STC_MSG_DEPLOY:
        m.rank = -1;
        m.size = 0;
        m.u.deploy.bundle = bundle_bytes;
        m.u.deploy.bundle_len = sizeof bundle_bytes;
        m.u.deploy.sum = stc_proto_sum64(bundle_bytes, sizeof bundle_bytes);
        m.u.deploy.owner = owner_bytes;
        m.u.deploy.n_chips = 5;
        m.u.deploy.flags = 1;
        break;
    case STC_MSG_LOADED:
        m.u.loaded.sum = 0x8000000000000001ull;
        m.u.loaded.n_cores = 1234;
        m.u.loaded.n_chips = 5;
        m.u.loaded.state_bytes = 5000000000ll;
        m.u.loaded.ok = 0;
        strcpy(m.u.loaded.msg, "bundle.stc: section 'core' damaged");
        break;
    case STC_MSG_RUN:
        m.rank = -1;
        m.u.run.first = 4096;
        m.u.run.n_images = 3;
        m.u.run.floats = 7;
        m.u.run.images = image_bytes;
        m.u.run.ckpt_every = 500;
        m.u.run.tick0 = 12;
        m.u.run.last = 1;
        break;
    case STC_MSG_RESULT:
        m.rank = 0;
        m.u.result.index = 4097;
        m.u.result.n_logits = 10;
        m.u.result.rsum = rsum_bytes;
        m.u.result.n_stages = 4;
        m.u.result.spikes = stage_bytes;
        m.u.result.digest = 0x0123456789abcdefull;
        m.u.result.seconds = 0.0123456789;
        break;
    case STC_MSG_STATS:
        m.rank = 0;
        m.u.stats.n_cores = 3;
        m.u.stats.cores = cores_bytes;
        m.u.stats.n_stages = 2;
        m.u.stats.stages = stages_bytes;
        m.u.stats.ticks = 40000;
        m.u.stats.tick_seconds = 1.5e-5;
        m.u.stats.sync_seconds = -0.25;
        break;
    case STC_MSG_CKPT:
    case STC_MSG_RESTORE:
        m.u.ckpt.tick = t == STC_MSG_CKPT ? 1500 : -3;
        m.u.ckpt.index = 77;
        m.u.ckpt.blob = blob_bytes;
        m.u.ckpt.blob_len = sizeof blob_bytes;
        break;
    case STC_MSG_BEAT:
        m.u.beat.index = -1;
        m.u.beat.tick = 1ll << 40;
        break;
    case STC_MSG_STOP:
        m.rank = -1;
        m.size = 0;
        break;
    case STC_MSG_BYE:
        strcpy(m.u.text.msg, "stopped by the coordinator");
        break;
    case STC_MSG_ERROR:
        strcpy(m.u.text.msg, "chip 3: out of memory (needed 2 GiB)");
        break;
    case STC_MSG_SPIKES:
        m.u.spikes.tick = 99;
        m.u.spikes.n = 6;
        m.u.spikes.ev = ev_bytes;
        break;
    default:
        break;
    }
    return m;
}

/* Every field of a (made) against b (decoded from buf[0, n)). */
static void expect_same(const stc_msg_t *a, const stc_msg_t *b, const uint8_t *buf, size_t n) {
#define IN_BUF(p, len) CU_ASSERT((p) >= buf && (p) + (len) <= buf + n)
#define SAME_BYTES(pa, pb, len) \
    do { \
        IN_BUF(pb, len); \
        CU_ASSERT_EQUAL(memcmp(pa, pb, len), 0); \
    } while (0)
    CU_ASSERT_EQUAL(b->type, a->type);
    CU_ASSERT_EQUAL(b->rank, a->rank);
    CU_ASSERT_EQUAL(b->size, a->size);
    switch (a->type) {
    case STC_MSG_HELLO:
        CU_ASSERT_EQUAL(b->u.hello.pid, a->u.hello.pid);
        CU_ASSERT_STRING_EQUAL(b->u.hello.host, a->u.hello.host);
        CU_ASSERT_STRING_EQUAL(b->u.hello.spike_ep, a->u.hello.spike_ep);
        CU_ASSERT_EQUAL(b->u.hello.deployed_sum, a->u.hello.deployed_sum);
        CU_ASSERT_EQUAL(b->u.hello.resumable, a->u.hello.resumable);
        break;
    case STC_MSG_DEPLOY:
        CU_ASSERT_EQUAL_FATAL(b->u.deploy.bundle_len, a->u.deploy.bundle_len);
        SAME_BYTES(a->u.deploy.bundle, b->u.deploy.bundle, a->u.deploy.bundle_len);
        CU_ASSERT_EQUAL(b->u.deploy.sum, a->u.deploy.sum);
        CU_ASSERT_EQUAL_FATAL(b->u.deploy.n_chips, a->u.deploy.n_chips);
        SAME_BYTES(a->u.deploy.owner, b->u.deploy.owner, 4 * (size_t)a->u.deploy.n_chips);
        CU_ASSERT_EQUAL(b->u.deploy.flags, a->u.deploy.flags);
        break;
    case STC_MSG_LOADED:
        CU_ASSERT_EQUAL(b->u.loaded.sum, a->u.loaded.sum);
        CU_ASSERT_EQUAL(b->u.loaded.n_cores, a->u.loaded.n_cores);
        CU_ASSERT_EQUAL(b->u.loaded.n_chips, a->u.loaded.n_chips);
        CU_ASSERT_EQUAL(b->u.loaded.state_bytes, a->u.loaded.state_bytes);
        CU_ASSERT_EQUAL(b->u.loaded.ok, a->u.loaded.ok);
        CU_ASSERT_STRING_EQUAL(b->u.loaded.msg, a->u.loaded.msg);
        break;
    case STC_MSG_RUN:
        CU_ASSERT_EQUAL(b->u.run.first, a->u.run.first);
        CU_ASSERT_EQUAL_FATAL(b->u.run.n_images, a->u.run.n_images);
        CU_ASSERT_EQUAL_FATAL(b->u.run.floats, a->u.run.floats);
        SAME_BYTES(a->u.run.images, b->u.run.images, (size_t)(a->u.run.n_images * a->u.run.floats * 4));
        CU_ASSERT_EQUAL(b->u.run.ckpt_every, a->u.run.ckpt_every);
        CU_ASSERT_EQUAL(b->u.run.tick0, a->u.run.tick0);
        CU_ASSERT_EQUAL(b->u.run.last, a->u.run.last);
        break;
    case STC_MSG_RESULT:
        CU_ASSERT_EQUAL(b->u.result.index, a->u.result.index);
        CU_ASSERT_EQUAL_FATAL(b->u.result.n_logits, a->u.result.n_logits);
        SAME_BYTES(a->u.result.rsum, b->u.result.rsum, 8 * (size_t)a->u.result.n_logits);
        CU_ASSERT_EQUAL_FATAL(b->u.result.n_stages, a->u.result.n_stages);
        SAME_BYTES(a->u.result.spikes, b->u.result.spikes, 8 * (size_t)a->u.result.n_stages);
        CU_ASSERT_EQUAL(b->u.result.digest, a->u.result.digest);
        CU_ASSERT(b->u.result.seconds == a->u.result.seconds);
        break;
    case STC_MSG_STATS:
        CU_ASSERT_EQUAL_FATAL(b->u.stats.n_cores, a->u.stats.n_cores);
        SAME_BYTES(a->u.stats.cores, b->u.stats.cores, (size_t)a->u.stats.n_cores * STC_COUNTERS_N * 8);
        CU_ASSERT_EQUAL_FATAL(b->u.stats.n_stages, a->u.stats.n_stages);
        SAME_BYTES(a->u.stats.stages, b->u.stats.stages, (size_t)a->u.stats.n_stages * STC_COUNTERS_N * 8);
        CU_ASSERT_EQUAL(b->u.stats.ticks, a->u.stats.ticks);
        CU_ASSERT(b->u.stats.tick_seconds == a->u.stats.tick_seconds);
        CU_ASSERT(b->u.stats.sync_seconds == a->u.stats.sync_seconds);
        break;
    case STC_MSG_CKPT:
    case STC_MSG_RESTORE:
        CU_ASSERT_EQUAL(b->u.ckpt.tick, a->u.ckpt.tick);
        CU_ASSERT_EQUAL(b->u.ckpt.index, a->u.ckpt.index);
        CU_ASSERT_EQUAL_FATAL(b->u.ckpt.blob_len, a->u.ckpt.blob_len);
        SAME_BYTES(a->u.ckpt.blob, b->u.ckpt.blob, a->u.ckpt.blob_len);
        break;
    case STC_MSG_BEAT:
        CU_ASSERT_EQUAL(b->u.beat.index, a->u.beat.index);
        CU_ASSERT_EQUAL(b->u.beat.tick, a->u.beat.tick);
        break;
    case STC_MSG_STOP:
        break;
    case STC_MSG_BYE:
    case STC_MSG_ERROR:
        CU_ASSERT_STRING_EQUAL(b->u.text.msg, a->u.text.msg);
        break;
    case STC_MSG_SPIKES:
        CU_ASSERT_EQUAL(b->u.spikes.tick, a->u.spikes.tick);
        CU_ASSERT_EQUAL_FATAL(b->u.spikes.n, a->u.spikes.n);
        SAME_BYTES(a->u.spikes.ev, b->u.spikes.ev, (size_t)a->u.spikes.n * 16);
        break;
    default:
        CU_FAIL("unknown type");
    }
#undef SAME_BYTES
#undef IN_BUF
}

static uint8_t *encode(const stc_msg_t *m, size_t *n) {
    uint8_t *buf = NULL;
    stc_err_t err = {0};
    stc_status_t st = stc_proto_encode(m, &buf, n, &err);
    if (st) fprintf(stderr, "\n  encode: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    return buf;
}

/* decode a copy of exactly n bytes (ASan sees any overread) */
static stc_status_t decode_copy(const uint8_t *p, size_t n, const stc_proto_limits_t *lim, stc_err_t *err) {
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    stc_msg_t m;
    stc_status_t st = stc_proto_decode(c, n, lim, PEER, &m, err);
    free(c);
    return st;
}

static void test_roundtrip(void) {
    for (int t = 1; t < STC_MSG_N_; t++) {
        stc_msg_t a = make((stc_msg_type_t)t), b;
        size_t n;
        uint8_t *buf = encode(&a, &n);
        stc_err_t err = {0};
        stc_status_t st = stc_proto_decode(buf, n, NULL, PEER, &b, &err);
        if (st) fprintf(stderr, "\n  %s: %s\n", stc_proto_type_name((stc_msg_type_t)t), err.msg);
        CU_ASSERT_EQUAL(st, STC_OK);
        if (st == STC_OK) expect_same(&a, &b, buf, n);
        free(buf);
    }
    /* empty payloads and strings */
    stc_msg_t a = make(STC_MSG_SPIKES), b;
    a.u.spikes.n = 0;
    a.u.spikes.ev = NULL;
    size_t n;
    uint8_t *buf = encode(&a, &n);
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_proto_decode(buf, n, NULL, PEER, &b, &err), STC_OK);
    CU_ASSERT_EQUAL(b.u.spikes.n, 0);
    CU_ASSERT_EQUAL(b.u.spikes.tick, 99);
    free(buf);
    a = make(STC_MSG_BYE);
    a.u.text.msg[0] = 0;
    buf = encode(&a, &n);
    CU_ASSERT_EQUAL(stc_proto_decode(buf, n, NULL, PEER, &b, &err), STC_OK);
    CU_ASSERT_STRING_EQUAL(b.u.text.msg, "");
    CU_ASSERT_EQUAL(b.type, STC_MSG_BYE);
    free(buf);
    /* the longest strings that fit */
    a = make(STC_MSG_HELLO);
    memset(a.u.hello.host, 'h', 255);
    a.u.hello.host[255] = 0;
    memset(a.u.hello.spike_ep, 'e', 255);
    a.u.hello.spike_ep[255] = 0;
    buf = encode(&a, &n);
    CU_ASSERT_EQUAL(stc_proto_decode(buf, n, NULL, PEER, &b, &err), STC_OK);
    CU_ASSERT_EQUAL(strlen(b.u.hello.host), 255);
    CU_ASSERT_EQUAL(strlen(b.u.hello.spike_ep), 255);
    free(buf);
    a = make(STC_MSG_ERROR);
    memset(a.u.text.msg, 'x', 1023);
    a.u.text.msg[1023] = 0;
    buf = encode(&a, &n);
    CU_ASSERT_EQUAL(stc_proto_decode(buf, n, NULL, PEER, &b, &err), STC_OK);
    CU_ASSERT_EQUAL(strlen(b.u.text.msg), 1023);
    free(buf);
}

/* The header bytes are fixed: [ "stc", 1, type, rank, size ... ] */
static void test_layout(void) {
    stc_msg_t a = make(STC_MSG_BEAT);
    size_t n;
    uint8_t *buf = encode(&a, &n);
    /* fixarray 7, fixstr "stc", 1, 9, 3, 4, -1 (negative fixint), int64 2^40 (uint64: 0xcf) */
    static const uint8_t want[] = {0x97, 0xa3, 's', 't', 'c', 0x01, 0x09, 0x03, 0x04, 0xff,
                                   0xcf, 0, 0, 1, 0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(n, sizeof want);
    CU_ASSERT(n == sizeof want && !memcmp(buf, want, n));
    free(buf);
    for (int t = 1; t < STC_MSG_N_; t++) CU_ASSERT_STRING_NOT_EQUAL(stc_proto_type_name((stc_msg_type_t)t), "unknown");
    CU_ASSERT_STRING_EQUAL(stc_proto_type_name(STC_MSG_SPIKES), "SPIKES");
    CU_ASSERT_STRING_EQUAL(stc_proto_type_name(STC_MSG_HELLO), "HELLO");
    CU_ASSERT_STRING_EQUAL(stc_proto_type_name((stc_msg_type_t)0), "unknown");
    CU_ASSERT_STRING_EQUAL(stc_proto_type_name(STC_MSG_N_), "unknown");
    stc_proto_limits_t l;
    stc_proto_limits_default(&l);
    CU_ASSERT_EQUAL(l.max_frame, 1ull << 30);
    CU_ASSERT_EQUAL(l.max_bundle, 1ull << 30);
    CU_ASSERT_EQUAL(l.max_blob, 1ull << 30);
    CU_ASSERT_EQUAL(l.max_ranks, 4096);
    CU_ASSERT_EQUAL(l.max_chips, 65536);
    CU_ASSERT_EQUAL(l.max_images, 4096);
    CU_ASSERT_EQUAL(l.max_image_floats, 16ull << 20);
    CU_ASSERT_EQUAL(l.max_logits, 65536);
    CU_ASSERT_EQUAL(l.max_stages, 65536);
    CU_ASSERT_EQUAL(l.max_cores, 1u << 20);
    CU_ASSERT_EQUAL(l.max_events, 64ull << 20);
    CU_ASSERT_EQUAL(l.max_str, 1024);
}

static void test_truncated(void) {
    for (int t = 1; t < STC_MSG_N_; t++) {
        stc_msg_t a = make((stc_msg_type_t)t);
        size_t n;
        uint8_t *buf = encode(&a, &n);
        for (size_t k = 0; k < n; k++) {
            stc_err_t err = {0};
            stc_status_t st = decode_copy(buf, k, NULL, &err);
            CU_ASSERT_EQUAL(st, STC_E_FORMAT);
            CU_ASSERT_EQUAL(err.status, st);
            STC_ASSERT_CONTAINS(err.msg, PEER ": ");
        }
        free(buf);
    }
}

static void test_corrupt(void) {
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4,
                                   0xc6, 0xca, 0xcb, 0xcf, 0xd3, 0xdb, 0xdd, 0xe0, 0xff};
    int accepted = 0, refused = 0;
    for (int t = 1; t < STC_MSG_N_; t++) {
        stc_msg_t a = make((stc_msg_type_t)t);
        size_t n;
        uint8_t *buf = encode(&a, &n);
        uint8_t *c = malloc(n);
        for (size_t i = 0; i < n; i++) {
            for (size_t v = 0; v < sizeof vals + 2; v++) {
                memcpy(c, buf, n);
                c[i] = v < sizeof vals ? vals[v] : v == sizeof vals ? (uint8_t)(buf[i] ^ 1) : (uint8_t)(buf[i] ^ 0x80);
                stc_msg_t m;
                stc_err_t err = {0};
                if (stc_proto_decode(c, n, NULL, PEER, &m, &err) == STC_OK) {
                    /* what decodes must encode again, to the same message */
                    accepted++;
                    size_t n2;
                    uint8_t *re = encode(&m, &n2);
                    stc_msg_t m2;
                    CU_ASSERT_EQUAL(stc_proto_decode(re, n2, NULL, PEER, &m2, &err), STC_OK);
                    expect_same(&m, &m2, re, n2);
                    free(re);
                } else {
                    refused++;
                    CU_ASSERT_NOT_EQUAL(err.status, STC_OK);
                    CU_ASSERT_EQUAL(strncmp(err.msg, PEER ": ", strlen(PEER) + 2), 0);
                }
            }
        }
        free(c);
        free(buf);
    }
    CU_ASSERT(accepted > 0); /* payload bytes may change freely */
    CU_ASSERT(refused > 0);
}

/* ------------------------------------------------ hand-made messages */

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} raw_t;

static void raw_begin(raw_t *r, uint32_t elems, int type, int rank, int size) {
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
    msgpack_pack_array(&r->pk, elems);
    msgpack_pack_str_with_body(&r->pk, "stc", 3);
    msgpack_pack_int(&r->pk, STC_PROTO_VERSION);
    msgpack_pack_int(&r->pk, type);
    msgpack_pack_int(&r->pk, rank);
    msgpack_pack_int(&r->pk, size);
}

static void raw_bytes(raw_t *r, const void *p, size_t n) { msgpack_sbuffer_write(&r->sb, p, n); }

/* nils after the field under test, so that the array count is not refused first */
static void raw_pad(raw_t *r, int k) {
    for (int i = 0; i < k; i++) msgpack_pack_nil(&r->pk);
}

static void raw_bin(raw_t *r, size_t n, int seed) {
    uint8_t *p = calloc(1, n ? n : 1);
    fill(p, n, (unsigned)seed);
    msgpack_pack_bin_with_body(&r->pk, p, n);
    free(p);
}

/* decode r's bytes (exact-size copy): the status and message */
static stc_status_t raw_decode(raw_t *r, const stc_proto_limits_t *lim, stc_msg_t *m, stc_err_t *err) {
    uint8_t *c = malloc(r->sb.size ? r->sb.size : 1);
    memcpy(c, r->sb.data, r->sb.size);
    stc_status_t st = stc_proto_decode(c, r->sb.size, lim, PEER, m, err);
    free(c);
    msgpack_sbuffer_destroy(&r->sb);
    return st;
}

#define EXPECT_ERR(st_, err_, want_st, text) \
    do { \
        CU_ASSERT_EQUAL(st_, want_st); \
        CU_ASSERT_EQUAL((err_).status, want_st); \
        if (!strstr((err_).msg, text)) fprintf(stderr, "\n  got: %s\n  want: ...%s...\n", (err_).msg, text); \
        STC_ASSERT_CONTAINS((err_).msg, text); \
        STC_ASSERT_CONTAINS((err_).msg, PEER); \
    } while (0)

static void test_lengths_disagree(void) {
    stc_msg_t m;
    stc_err_t err = {0};
    raw_t r;
    /* SPIKES: n = 4 but 48 bytes of events */
    raw_begin(&r, 8, STC_MSG_SPIKES, 2, 4);
    msgpack_pack_int(&r.pk, 7);
    msgpack_pack_int(&r.pk, 4);
    raw_bin(&r, 48, 1);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": SPIKES field 'ev': 48 bytes, expected n*16 = 64");
    CU_ASSERT_EQUAL(m.type, 0); /* nothing half-decoded is left */
    /* RUN: 2 images of 5 floats but 36 bytes */
    raw_begin(&r, 12, STC_MSG_RUN, -1, 4);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, 2);
    msgpack_pack_int(&r.pk, 5);
    raw_bin(&r, 36, 2);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, 0);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": RUN field 'images': 36 bytes, expected n_images*floats*4 = 40");
    /* RESULT: 10 logits in 72 bytes; then 3 stages in 32 */
    raw_begin(&r, 12, STC_MSG_RESULT, 0, 4);
    msgpack_pack_int(&r.pk, 5);
    msgpack_pack_int(&r.pk, 10);
    raw_bin(&r, 72, 3);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": RESULT field 'rsum': 72 bytes, expected n_logits*8 = 80");
    raw_begin(&r, 12, STC_MSG_RESULT, 0, 4);
    msgpack_pack_int(&r.pk, 5);
    msgpack_pack_int(&r.pk, 10);
    raw_bin(&r, 80, 3);
    msgpack_pack_int(&r.pk, 3);
    raw_bin(&r, 32, 4);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": RESULT field 'spikes': 32 bytes, expected n_stages*8 = 24");
    /* STATS: 2 cores need 192 bytes */
    raw_begin(&r, 12, STC_MSG_STATS, 0, 4);
    msgpack_pack_int(&r.pk, 2);
    raw_bin(&r, 88, 5);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": STATS field 'cores': 88 bytes, expected n_cores*12*8 = 192");
    raw_begin(&r, 12, STC_MSG_STATS, 0, 4);
    msgpack_pack_int(&r.pk, 0);
    raw_bin(&r, 0, 5);
    msgpack_pack_int(&r.pk, 1);
    raw_bin(&r, 89, 5);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": STATS field 'stages': 89 bytes, expected n_stages*12*8 = 96");
    /* DEPLOY: 3 chips, 8 bytes of owners */
    raw_begin(&r, 10, STC_MSG_DEPLOY, -1, 4);
    raw_bin(&r, 10, 6);
    msgpack_pack_uint64(&r.pk, 1);
    msgpack_pack_int(&r.pk, 3);
    raw_bin(&r, 8, 7);
    msgpack_pack_int(&r.pk, 0);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": DEPLOY field 'owner': 8 bytes, expected n_chips*4 = 12");
    /* DEPLOY: an owner outside -1..max_ranks-1 */
    uint8_t own[8] = {1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}; /* 1, -2 */
    raw_begin(&r, 10, STC_MSG_DEPLOY, -1, 4);
    raw_bin(&r, 10, 6);
    msgpack_pack_uint64(&r.pk, 1);
    msgpack_pack_int(&r.pk, 2);
    msgpack_pack_bin_with_body(&r.pk, own, 8);
    msgpack_pack_int(&r.pk, 0);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": DEPLOY field 'owner': chip 1 is owned by rank -2, expected -1..4095 "
                           "(max_ranks)");
}

static void test_wrong_types(void) {
    stc_msg_t m;
    stc_err_t err = {0};
    raw_t r;
    stc_status_t st;
    /* HELLO host as an int */
    raw_begin(&r, 10, STC_MSG_HELLO, 1, 4);
    msgpack_pack_int(&r.pk, 77);
    msgpack_pack_int(&r.pk, 5);
    st = raw_decode(&r, NULL, &m, &err);
    CU_ASSERT_EQUAL(st, STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": HELLO field 'host': expected a str, found an int");
    /* HELLO pid as a str */
    raw_begin(&r, 10, STC_MSG_HELLO, 1, 4);
    msgpack_pack_str_with_body(&r.pk, "77", 2);
    st = raw_decode(&r, NULL, &m, &err);
    CU_ASSERT_EQUAL(st, STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": HELLO field 'pid': expected an int in -2147483648..2147483647, "
                           "found a str");
    /* a bin where a str belongs, nil where a bin belongs, a map, a bool, a float where an int belongs */
    raw_begin(&r, 6, STC_MSG_BYE, 1, 4);
    msgpack_pack_bin_with_body(&r.pk, "bye", 3);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "BYE field 'msg': expected a str, found a bin");
    raw_begin(&r, 8, STC_MSG_CKPT, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, 2);
    msgpack_pack_nil(&r.pk);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "CKPT field 'blob': expected a bin, found nil");
    raw_begin(&r, 7, STC_MSG_BEAT, 1, 4);
    msgpack_pack_map(&r.pk, 0);
    msgpack_pack_int(&r.pk, 2);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "BEAT field 'index': expected an int in "
               "-9223372036854775808..9223372036854775807, found a map");
    raw_begin(&r, 7, STC_MSG_BEAT, 1, 4);
    msgpack_pack_int(&r.pk, 2);
    msgpack_pack_double(&r.pk, 2.0);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "BEAT field 'tick': expected an int");
    raw_begin(&r, 11, STC_MSG_LOADED, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_true(&r.pk);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "LOADED field 'ok': expected an int in 0..1, "
               "found a bool");
    /* an int where a float belongs */
    raw_begin(&r, 12, STC_MSG_STATS, 0, 4);
    msgpack_pack_int(&r.pk, 0);
    raw_bin(&r, 0, 1);
    msgpack_pack_int(&r.pk, 0);
    raw_bin(&r, 0, 1);
    msgpack_pack_int(&r.pk, 5);
    msgpack_pack_int(&r.pk, 1);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "STATS field 'tick_seconds': expected a float64, "
               "found an int");
    /* a NUL inside a string */
    raw_begin(&r, 6, STC_MSG_ERROR, 1, 4);
    msgpack_pack_str_with_body(&r.pk, "ab\0cd", 5);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "ERROR field 'msg': str holds a NUL byte at "
               "offset 2");
}

static void test_header_errors(void) {
    stc_msg_t m;
    stc_err_t err = {0};
    raw_t r;
    /* not an array */
    uint8_t map[] = {0x80};
    CU_ASSERT_EQUAL(stc_proto_decode(map, 1, NULL, PEER, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": message: expected a msgpack array, found a map");
    CU_ASSERT_EQUAL(stc_proto_decode(map, 0, NULL, PEER, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": message: empty frame, expected a msgpack array");
    /* wrong magic */
    msgpack_sbuffer_init(&r.sb);
    msgpack_packer_init(&r.pk, &r.sb, msgpack_sbuffer_write);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_str_with_body(&r.pk, "stx", 3);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, STC_MSG_BEAT);
    for (int i = 0; i < 4; i++) msgpack_pack_int(&r.pk, 0);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": message: not an stc message: expected the str \"stc\" first, "
                           "found \"stx\"");
    msgpack_sbuffer_init(&r.sb);
    msgpack_packer_init(&r.pk, &r.sb, msgpack_sbuffer_write);
    msgpack_pack_array(&r.pk, 7);
    for (int i = 0; i < 7; i++) msgpack_pack_int(&r.pk, 1);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "not an stc message: expected the str \"stc\" "
               "first, found an int");
    /* wrong version */
    msgpack_sbuffer_init(&r.sb);
    msgpack_packer_init(&r.pk, &r.sb, msgpack_sbuffer_write);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_str_with_body(&r.pk, "stc", 3);
    msgpack_pack_int(&r.pk, 2);
    for (int i = 0; i < 5; i++) msgpack_pack_int(&r.pk, 0);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_UNSUPPORTED);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": message field 'version': protocol version 2, this build speaks 1");
    /* unknown types */
    for (int t = 0; t < 3; t++) {
        int bad[] = {0, STC_MSG_N_, 200};
        raw_begin(&r, 5, bad[t], 0, 1);
        CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
        char want[200];
        snprintf(want, sizeof want, PEER ": message field 'type': expected a message type 1..13, found %d", bad[t]);
        CU_ASSERT_STRING_EQUAL(err.msg, want);
    }
    /* element count off by one either way */
    raw_begin(&r, 8, STC_MSG_BEAT, 0, 1);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, 2);
    msgpack_pack_int(&r.pk, 3);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": BEAT: expected an array of 7 elements, found 8");
    raw_begin(&r, 6, STC_MSG_BEAT, 0, 1);
    msgpack_pack_int(&r.pk, 1);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": BEAT: expected an array of 7 elements, found 6");
    /* too short to say what it is */
    msgpack_sbuffer_init(&r.sb);
    msgpack_packer_init(&r.pk, &r.sb, msgpack_sbuffer_write);
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_str_with_body(&r.pk, "stc", 3);
    msgpack_pack_int(&r.pk, 1);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "expected an array of at least 3 elements");
    /* bytes after the array */
    raw_begin(&r, 5, STC_MSG_STOP, -1, 0);
    raw_bytes(&r, "\xc0", 1);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": STOP: 1 bytes after the end of the message");
    /* rank and size */
    raw_begin(&r, 5, STC_MSG_STOP, -2, 0);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "STOP field 'rank': expected -1..4095 (max_ranks), "
               "found -2");
    raw_begin(&r, 5, STC_MSG_STOP, 4096, 0);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_LIMIT, "STOP field 'rank': expected -1..4095 (max_ranks), "
               "found 4096");
    raw_begin(&r, 5, STC_MSG_STOP, 0, 4097);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_LIMIT, "STOP field 'size': expected 0..4096 (max_ranks), "
               "found 4097");
    /* a NULL peer still gives a message */
    CU_ASSERT_EQUAL(stc_proto_decode(map, 1, NULL, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, "peer: message: expected a msgpack array, found a map");
}

/* ints of every msgpack width, where the value fits; out of range refused */
static void test_int_widths(void) {
    struct {
        uint8_t enc[9];
        size_t n;
        int64_t v;
    } ok[] = {
        {{0x05}, 1, 5},
        {{0x7f}, 1, 127},
        {{0xff}, 1, -1},
        {{0xe0}, 1, -32},
        {{0xcc, 0xff}, 2, 255},
        {{0xcd, 0x01, 0x00}, 3, 256},
        {{0xce, 0x80, 0, 0, 0}, 5, 2147483648ll},
        {{0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, INT64_MAX},
        {{0xcf, 0, 0, 0, 0, 0, 0, 0, 3}, 9, 3}, /* wide encodings of small values are fine */
        {{0xd0, 0x80}, 2, -128},
        {{0xd0, 0x05}, 2, 5},
        {{0xd1, 0x80, 0x00}, 3, -32768},
        {{0xd2, 0xff, 0xff, 0xff, 0xfe}, 5, -2},
        {{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, INT64_MIN},
        {{0xd3, 0, 0, 0, 0, 0, 0, 0, 9}, 9, 9},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        raw_t r;
        raw_begin(&r, 7, STC_MSG_BEAT, 1, 2);
        raw_bytes(&r, ok[i].enc, ok[i].n); /* index */
        raw_bytes(&r, ok[i].enc, ok[i].n); /* tick */
        stc_msg_t m;
        stc_err_t err = {0};
        CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_OK);
        CU_ASSERT_EQUAL(m.u.beat.index, ok[i].v);
        CU_ASSERT_EQUAL(m.u.beat.tick, ok[i].v);
        CU_ASSERT_EQUAL(m.rank, 1);
        CU_ASSERT_EQUAL(m.size, 2);
    }
    /* the header's ints in wide encodings too */
    static const uint8_t wide[] = {0xdc, 0, 5, 0xd9, 3, 's', 't', 'c', 0xcf, 0, 0, 0, 0, 0, 0, 0, 1,
                                   0xd3, 0, 0, 0, 0, 0, 0, 0, 10, 0xd1, 0xff, 0xff, 0xcd, 0, 0};
    stc_msg_t m;
    stc_err_t err = {0};
    CU_ASSERT_EQUAL(stc_proto_decode(wide, sizeof wide, NULL, PEER, &m, &err), STC_OK);
    CU_ASSERT_EQUAL(m.type, STC_MSG_STOP);
    CU_ASSERT_EQUAL(m.rank, -1);
    CU_ASSERT_EQUAL(m.size, 0);
    /* out of the field's range */
    raw_t r;
    raw_begin(&r, 5, STC_MSG_STOP, 0, 0);
    r.sb.size -= 2; /* drop rank and size (two fixints) */
    raw_bytes(&r, "\xcf\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10); /* rank 2^40, size 0 */
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": STOP field 'rank': expected an int in -2147483648..2147483647, "
                           "found 1099511627776");
    raw_begin(&r, 11, STC_MSG_LOADED, 1, 4);
    msgpack_pack_int(&r.pk, -1); /* sum is unsigned */
    raw_pad(&r, 8);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "LOADED field 'sum': expected an int in "
               "0..18446744073709551615, found -1");
    raw_begin(&r, 11, STC_MSG_LOADED, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int64(&r.pk, 1ll << 31);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "LOADED field 'n_cores': expected an int in "
               "0..2147483647, found 2147483648");
    raw_begin(&r, 10, STC_MSG_DEPLOY, -1, 4);
    raw_bin(&r, 0, 1);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, 0);
    raw_bin(&r, 0, 1);
    msgpack_pack_uint64(&r.pk, 1ull << 32);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "DEPLOY field 'flags': expected an int in "
               "0..4294967295, found 4294967296");
    /* negative counts */
    raw_begin(&r, 8, STC_MSG_SPIKES, 1, 4);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, -1);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "SPIKES field 'n': expected an int in "
               "0..18446744073709551615, found -1");
    raw_begin(&r, 12, STC_MSG_RESULT, 0, 4);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, -10);
    raw_pad(&r, 8);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "RESULT field 'n_logits': expected an int in "
               "0..4294967295, found -10");
    raw_begin(&r, 12, STC_MSG_RUN, -1, 4);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_int(&r.pk, 0);
    raw_bin(&r, 0, 0);
    msgpack_pack_int(&r.pk, -5);
    EXPECT_ERR(raw_decode(&r, NULL, &m, &err), err, STC_E_FORMAT, "RUN field 'ckpt_every': expected an int in "
               "0..9223372036854775807, found -5");
    /* float32 is taken for a float64 field */
    raw_begin(&r, 12, STC_MSG_RESULT, 0, 4);
    msgpack_pack_int(&r.pk, 3);
    msgpack_pack_int(&r.pk, 0);
    raw_bin(&r, 0, 0);
    msgpack_pack_int(&r.pk, 0);
    raw_bin(&r, 0, 0);
    msgpack_pack_int(&r.pk, 0);
    msgpack_pack_float(&r.pk, 0.375f);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_OK);
    CU_ASSERT(m.u.result.seconds == 0.375);
    CU_ASSERT_EQUAL(m.u.result.index, 3);
}

/* headers that claim far more than the frame holds: refused, nothing allocated */
static void test_lying_headers(void) {
    stc_msg_t m;
    stc_err_t err = {0};
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    stc_status_t st = decode_copy(arr32, sizeof arr32, NULL, &err);
    CU_ASSERT(st == STC_E_FORMAT || st == STC_E_LIMIT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": message: array header claims 4294967295 elements, but only 0 bytes "
                           "follow");
    static const uint8_t arr16[] = {0xdc, 0xff, 0xff, 0xa3, 's', 't', 'c'};
    CU_ASSERT_EQUAL(decode_copy(arr16, sizeof arr16, NULL, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "array header claims 65535 elements, but only 4 bytes follow");
    /* a CKPT blob of 4 GiB - 1 with 10 bytes behind the header */
    raw_t r;
    raw_begin(&r, 8, STC_MSG_CKPT, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, 2);
    raw_bytes(&r, "\xc6\xff\xff\xff\xff" "0123456789", 15);
    st = raw_decode(&r, NULL, &m, &err);
    CU_ASSERT(st == STC_E_FORMAT || st == STC_E_LIMIT);
    CU_ASSERT_STRING_EQUAL(err.msg, PEER ": CKPT field 'blob': a bin of 4294967295 bytes, but only 10 bytes "
                           "remain");
    /* ... and with limits that would allow it: the bytes still are not there */
    stc_proto_limits_t big;
    stc_proto_limits_default(&big);
    big.max_blob = UINT64_MAX;
    raw_begin(&r, 8, STC_MSG_CKPT, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_int(&r.pk, 2);
    raw_bytes(&r, "\xc6\xff\xff\xff\xff", 5);
    CU_ASSERT_EQUAL(raw_decode(&r, &big, &m, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "CKPT field 'blob': a bin of 4294967295 bytes, but only 0 bytes remain");
    /* SPIKES claiming 2^32 events with a 4 GiB bin header */
    raw_begin(&r, 8, STC_MSG_SPIKES, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_uint64(&r.pk, 1ull << 28);
    raw_bytes(&r, "\xc6\xff\xff\xff\xf0", 5);
    st = raw_decode(&r, NULL, &m, &err);
    CU_ASSERT_EQUAL(st, STC_E_LIMIT); /* 2^28 events > max_events */
    STC_ASSERT_CONTAINS(err.msg, "SPIKES field 'n': 268435456, limit 67108864 (max_events)");
    raw_begin(&r, 8, STC_MSG_SPIKES, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    msgpack_pack_uint64(&r.pk, 1ull << 20);
    raw_bytes(&r, "\xc6\x01\x00\x00\x00", 5);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "SPIKES field 'ev': a bin of 16777216 bytes, but only 0 bytes remain");
    /* a str of 4 GiB - 1 */
    raw_begin(&r, 10, STC_MSG_HELLO, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    raw_bytes(&r, "\xdb\xff\xff\xff\xff" "abc", 8);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "HELLO field 'host': a str of 4294967295 bytes, but only 3 bytes remain");
    /* a str that is there but longer than its field */
    raw_begin(&r, 10, STC_MSG_HELLO, 1, 4);
    msgpack_pack_int(&r.pk, 1);
    char longs[300];
    memset(longs, 'a', sizeof longs);
    msgpack_pack_str_with_body(&r.pk, longs, 256);
    CU_ASSERT_EQUAL(raw_decode(&r, NULL, &m, &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "HELLO field 'host': str of 256 bytes, limit 255");
}

static void test_limits(void) {
    stc_proto_limits_t l;
    stc_msg_t m;
    stc_err_t err = {0};
    size_t n;
    uint8_t *buf;
    struct {
        stc_msg_type_t t;
        size_t off; /* offsetof the limit in stc_proto_limits_t */
        int is64;
        uint64_t at, below; /* the message passes at `at`, fails at `below` */
        const char *text;
    } cases[] = {
        {STC_MSG_SPIKES, offsetof(stc_proto_limits_t, max_events), 1, 6, 5,
         "SPIKES field 'n': 6, limit 5 (max_events)"},
        {STC_MSG_DEPLOY, offsetof(stc_proto_limits_t, max_bundle), 1, 300, 299,
         "DEPLOY field 'bundle': bin of 300 bytes, limit 299 (max_bundle)"},
        {STC_MSG_DEPLOY, offsetof(stc_proto_limits_t, max_chips), 0, 5, 4,
         "DEPLOY field 'n_chips': 5, limit 4 (max_chips)"},
        {STC_MSG_DEPLOY, offsetof(stc_proto_limits_t, max_ranks), 0, 3, 2,
         "DEPLOY field 'owner': chip 2 is owned by rank 2, expected -1..1 (max_ranks)"},
        {STC_MSG_RUN, offsetof(stc_proto_limits_t, max_images), 0, 3, 2,
         "RUN field 'n_images': 3, limit 2 (max_images)"},
        {STC_MSG_RUN, offsetof(stc_proto_limits_t, max_image_floats), 1, 7, 6,
         "RUN field 'floats': 7, limit 6 (max_image_floats)"},
        {STC_MSG_RESULT, offsetof(stc_proto_limits_t, max_logits), 0, 10, 9,
         "RESULT field 'n_logits': 10, limit 9 (max_logits)"},
        {STC_MSG_RESULT, offsetof(stc_proto_limits_t, max_stages), 0, 4, 3,
         "RESULT field 'n_stages': 4, limit 3 (max_stages)"},
        {STC_MSG_STATS, offsetof(stc_proto_limits_t, max_cores), 0, 3, 2,
         "STATS field 'n_cores': 3, limit 2 (max_cores)"},
        {STC_MSG_STATS, offsetof(stc_proto_limits_t, max_stages), 0, 2, 1,
         "STATS field 'n_stages': 2, limit 1 (max_stages)"},
        {STC_MSG_CKPT, offsetof(stc_proto_limits_t, max_blob), 1, 77, 76,
         "CKPT field 'blob': bin of 77 bytes, limit 76 (max_blob)"},
        {STC_MSG_RESTORE, offsetof(stc_proto_limits_t, max_blob), 1, 77, 76,
         "RESTORE field 'blob': bin of 77 bytes, limit 76 (max_blob)"},
        {STC_MSG_HELLO, offsetof(stc_proto_limits_t, max_str), 0, 20, 10,
         "HELLO field 'host': str of 14 bytes, limit 10 (max_str)"},
        {STC_MSG_HELLO, offsetof(stc_proto_limits_t, max_str), 0, 20, 19,
         "HELLO field 'spike_ep': str of 20 bytes, limit 19 (max_str)"},
        {STC_MSG_ERROR, offsetof(stc_proto_limits_t, max_str), 0, 36, 35,
         "ERROR field 'msg': str of 36 bytes, limit 35 (max_str)"},
        {STC_MSG_BEAT, offsetof(stc_proto_limits_t, max_ranks), 0, 4, 3,
         "BEAT field 'rank': expected -1..2 (max_ranks), found 3"},
        {STC_MSG_BEAT, offsetof(stc_proto_limits_t, max_frame), 1, 19, 18,
         "message: 19 bytes, limit 18 (max_frame)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        stc_msg_t a = make(cases[i].t);
        buf = encode(&a, &n);
        for (int pass = 0; pass < 2; pass++) {
            stc_proto_limits_default(&l);
            uint8_t *f = (uint8_t *)&l + cases[i].off;
            uint64_t v = pass == 0 ? cases[i].at : cases[i].below;
            uint32_t v32 = (uint32_t)v;
            if (cases[i].is64) memcpy(f, &v, 8);
            else memcpy(f, &v32, 4);
            stc_status_t st = stc_proto_decode(buf, n, &l, PEER, &m, &err);
            if (pass == 0) { /* at the limit: accepted */
                if (st) fprintf(stderr, "\n  case %zu: %s\n", i, err.msg);
                CU_ASSERT_EQUAL(st, STC_OK);
                continue;
            }
            /* below: refused, naming the field and the limit */
            CU_ASSERT_EQUAL(st, STC_E_LIMIT);
            char want[300];
            snprintf(want, sizeof want, PEER ": %s", cases[i].text);
            if (strcmp(err.msg, want)) fprintf(stderr, "\n  case %zu: got  %s\n          want %s\n", i, err.msg, want);
            CU_ASSERT_STRING_EQUAL(err.msg, want);
        }
        free(buf);
    }
}

static void test_encode_errors(void) {
    stc_err_t err = {0};
    uint8_t *buf = (uint8_t *)1;
    size_t n = 1;
    stc_msg_t a = make(STC_MSG_HELLO);
    memset(a.u.hello.host, 'x', sizeof a.u.hello.host); /* no NUL */
    CU_ASSERT_EQUAL(stc_proto_encode(&a, &buf, &n, &err), STC_E_USAGE);
    CU_ASSERT_PTR_NULL(buf);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_STRING_EQUAL(err.msg, "stc_proto_encode: HELLO field 'host': not NUL-terminated within 256 bytes");
    a = make(STC_MSG_SPIKES);
    a.u.spikes.ev = NULL;
    CU_ASSERT_EQUAL(stc_proto_encode(&a, &buf, &n, &err), STC_E_USAGE);
    CU_ASSERT_STRING_EQUAL(err.msg, "stc_proto_encode: SPIKES field 'ev': 96 bytes but a NULL pointer");
    a = make(STC_MSG_SPIKES);
    a.u.spikes.n = 1ull << 28; /* 4 GiB of events: no msgpack bin holds that */
    CU_ASSERT_EQUAL(stc_proto_encode(&a, &buf, &n, &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "SPIKES field 'ev'");
    a = make(STC_MSG_BEAT);
    a.type = STC_MSG_N_;
    CU_ASSERT_EQUAL(stc_proto_encode(&a, &buf, &n, &err), STC_E_USAGE);
    CU_ASSERT_STRING_EQUAL(err.msg, "stc_proto_encode: message type 14, expected 1..13");
    /* values no peer accepts are refused at the sender */
    a = make(STC_MSG_LOADED);
    a.u.loaded.ok = 2;
    CU_ASSERT_EQUAL(stc_proto_encode(&a, &buf, &n, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "LOADED field 'ok': expected an int in 0..1, found 2");
    CU_ASSERT_PTR_NULL(buf);
    a = make(STC_MSG_BEAT);
    a.rank = -7;
    CU_ASSERT_EQUAL(stc_proto_encode(&a, &buf, &n, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "BEAT field 'rank'");
}

/* stc_proto_sum64 as docs/runtime.md defines it, written the plain way */
static uint64_t sum64_ref(const uint8_t *p, size_t n) {
    uint64_t h[4];
    for (int k = 0; k < 4; k++) h[k] = 0xcbf29ce484222325ull ^ (uint64_t)k;
    size_t words = (n + 7) / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = 0;
        for (size_t b = 0; b < 8 && 8 * i + b < n; b++) w |= (uint64_t)p[8 * i + b] << (8 * b);
        h[i % 4] = (h[i % 4] ^ w) * 0x100000001b3ull;
    }
    uint64_t x = 0xcbf29ce484222325ull;
    for (int k = 0; k < 4; k++) x = (x ^ h[k]) * 0x100000001b3ull;
    x = (x ^ (uint64_t)n) * 0x100000001b3ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void test_sum64(void) {
    uint8_t d[200];
    fill(d, sizeof d, 9);
    for (size_t n = 0; n <= sizeof d; n++) CU_ASSERT_EQUAL(stc_proto_sum64(d, n), sum64_ref(d, n));
    /* the words of the tail go round the lanes as the body's do: 40 bytes = 5 words, word 4 in lane 0 */
    CU_ASSERT_EQUAL(stc_proto_sum64(d + 1, 40), sum64_ref(d + 1, 40)); /* unaligned */
    uint8_t z[16] = {0};
    CU_ASSERT_NOT_EQUAL(stc_proto_sum64(z, 8), stc_proto_sum64(z, 16)); /* length counts */
    CU_ASSERT_NOT_EQUAL(stc_proto_sum64(z, 0), stc_proto_sum64(z, 1));
    for (size_t i = 0; i < sizeof d; i++) { /* every single-bit change is seen */
        uint64_t s0 = stc_proto_sum64(d, sizeof d);
        d[i] ^= 0x80;
        CU_ASSERT_NOT_EQUAL(stc_proto_sum64(d, sizeof d), s0);
        d[i] ^= 0x80;
    }
}

/* the seeds of the fuzz target are these messages */
static void test_seeds(void) {
    int rewrite = getenv("STC_PROTO_WRITE_SEEDS") != NULL;
    for (int t = 1; t < STC_MSG_N_; t++) {
        stc_msg_t a = make((stc_msg_type_t)t);
        size_t n, m = 0;
        uint8_t *buf = encode(&a, &n);
        char path[512], lower[16];
        const char *name = stc_proto_type_name((stc_msg_type_t)t);
        size_t i = 0;
        for (; name[i] && i + 1 < sizeof lower; i++) lower[i] = (char)(name[i] | 0x20);
        lower[i] = 0;
        snprintf(path, sizeof path, SEEDS "%s.msg", lower);
        if (rewrite) {
            FILE *f = fopen(path, "wb");
            CU_ASSERT_PTR_NOT_NULL_FATAL(f);
            CU_ASSERT_EQUAL(fwrite(buf, 1, n, f), n);
            fclose(f);
        }
        unsigned char *f = NULL;
        stc_err_t err = {0};
        CU_ASSERT_EQUAL(stc_read_file(path, 1 << 16, &f, &m, &err), STC_OK);
        if (f && (m != n || memcmp(f, buf, n)))
            fprintf(stderr, "\n  %s differs from the test's message (a format change? STC_PROTO_WRITE_SEEDS=1)\n",
                    path);
        CU_ASSERT(f && m == n && !memcmp(f, buf, n));
        free(f);
        free(buf);
    }
}

/* ------------------------------------------------------------------ keys */

static char tmpdir[64];

static const char *tmp(const char *name) {
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
}

static int suite_init(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/stc-proto-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : 1;
}

static int suite_clean(void) {
    static const char *files[] = {"a.keys", "b.keys", "bad.keys", "c.keys"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) unlink(tmp(files[i]));
    return rmdir(tmpdir) == 0 ? 0 : 1;
}

static void test_keys_file(void) {
    stc_err_t err = {0};
    stc_keys_t k, l;
    const char *a = tmp("a.keys");
    CU_ASSERT_EQUAL_FATAL(stc_keys_generate(a, &k, &err), STC_OK);
    CU_ASSERT_EQUAL(strlen(k.pub), 40);
    CU_ASSERT_EQUAL(strlen(k.sec), 40);
    struct stat sb;
    CU_ASSERT_EQUAL(stat(a, &sb), 0);
    CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
    unsigned char *text = NULL;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(stc_read_file(a, 4096, &text, &n, &err), STC_OK);
    char want[100];
    snprintf(want, sizeof want, "\npublic %s\nsecret %s\n", k.pub, k.sec);
    CU_ASSERT_EQUAL(text[0], '#');
    CU_ASSERT(n > strlen(want) && !strcmp((char *)text + n - strlen(want), want));
    free(text);
    CU_ASSERT_EQUAL(stc_keys_load(a, &l, &err), STC_OK);
    CU_ASSERT_STRING_EQUAL(l.pub, k.pub);
    CU_ASSERT_STRING_EQUAL(l.sec, k.sec);
    char derived[41];
    CU_ASSERT_EQUAL(zmq_curve_public(derived, k.sec), 0);
    CU_ASSERT_STRING_EQUAL(derived, k.pub);
    /* never over an existing file, which stays as it was */
    stc_keys_t k2;
    CU_ASSERT_EQUAL(stc_keys_generate(a, &k2, &err), STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, a);
    STC_ASSERT_CONTAINS(err.msg, "already exists");
    CU_ASSERT_EQUAL(stc_keys_load(a, &l, &err), STC_OK);
    CU_ASSERT_STRING_EQUAL(l.sec, k.sec);
    /* a second pair differs */
    stc_keys_t kb;
    CU_ASSERT_EQUAL(stc_keys_generate(tmp("b.keys"), &kb, &err), STC_OK);
    CU_ASSERT_STRING_NOT_EQUAL(kb.pub, k.pub);
    /* a file written by hand: comments, blank lines, CRLF, any order */
    const char *c = tmp("c.keys");
    char hand[300];
    snprintf(hand, sizeof hand, "# mine\r\n\r\n  secret %s  \r\npublic\t%s\r\n", kb.sec, kb.pub);
    write_text(c, hand);
    CU_ASSERT_EQUAL(stc_keys_load(c, &l, &err), STC_OK);
    CU_ASSERT_STRING_EQUAL(l.pub, kb.pub);
    CU_ASSERT_STRING_EQUAL(l.sec, kb.sec);
}

static void test_keys_errors(void) {
    stc_err_t err = {0};
    stc_keys_t k, a, b;
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("a.keys"), &a, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("b.keys"), &b, &err), STC_OK);
    const char *bad = tmp("bad.keys");
    char text[600], want[400];
    /* missing */
    const char *none = tmp("none.keys");
    CU_ASSERT_EQUAL(stc_keys_load(none, &k, &err), STC_E_IO);
    snprintf(want, sizeof want, "%s: cannot open", none);
    STC_ASSERT_CONTAINS(err.msg, want);
    /* an unknown line */
    snprintf(text, sizeof text, "# keys\npublic %s\nprivate %s\n", a.pub, a.sec);
    write_text(bad, text);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s:3: expected 'public <key>' or 'secret <key>' (or a '#' comment), found 'private'",
             bad);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    /* wrong length */
    snprintf(text, sizeof text, "public %s\nsecret %.39s\n", a.pub, a.sec);
    write_text(bad, text);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s:2: secret key: expected 40 Z85 characters, found 39", bad);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    CU_ASSERT(strstr(err.msg, a.sec) == NULL);
    /* not Z85 */
    snprintf(text, sizeof text, "public %.10s,%.29s\nsecret %s\n", a.pub, a.pub + 11, a.sec);
    write_text(bad, text);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s:1: public key: character 11 is not Z85", bad);
    STC_ASSERT_CONTAINS(err.msg, want);
    /* a group above 2^32-1 ("%%%%%" is 82*(85^4+85^3+85^2+85+1) > 2^32) */
    snprintf(text, sizeof text, "public %%%%%%%%%%%.35s\nsecret %s\n", a.pub + 5, a.sec);
    write_text(bad, text);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s:1: public key: not a valid Z85 value", bad);
    STC_ASSERT_CONTAINS(err.msg, want);
    /* public of one pair, secret of another */
    snprintf(text, sizeof text, "public %s\nsecret %s\n", a.pub, b.sec);
    write_text(bad, text);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s: the public key (line 1) is not the one of the secret key (line 2): the file is "
             "damaged or mixes two key pairs", bad);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    /* a line missing, a line twice */
    snprintf(text, sizeof text, "public %s\n", a.pub);
    write_text(bad, text);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s: no 'secret' line", bad);
    STC_ASSERT_CONTAINS(err.msg, want);
    snprintf(text, sizeof text, "public %s\nsecret %s\npublic %s\n", a.pub, a.sec, a.pub);
    write_text(bad, text);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s:3: a second 'public' line (the first is line 1)", bad);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    /* empty; too big */
    write_text(bad, "");
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_FORMAT);
    snprintf(want, sizeof want, "%s: no 'public' line", bad);
    STC_ASSERT_CONTAINS(err.msg, want);
    char big[5000];
    memset(big, '#', sizeof big - 1);
    big[sizeof big - 1] = 0;
    write_text(bad, big);
    CU_ASSERT_EQUAL(stc_keys_load(bad, &k, &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, bad);
    unlink(bad);
}

/* ------------------------------------------------------------ CurveZMQ */

static void *sock(void *ctx, int type) {
    void *s = zmq_socket(ctx, type);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    return s;
}

enum { CLIENT_GOOD, CLIENT_PLAIN, CLIENT_OTHER_CLUSTER, CLIENT_FOREIGN_PAIR };

/* A DEALER of the given kind connects to ep and sends one message; returns
 * whether the ROUTER srv received it within wait_ms. */
static int client_gets_through(void *ctx, void *srv, const char *ep, int kind, const stc_keys_t *k,
                               const stc_keys_t *other, int wait_ms) {
    stc_err_t err = {0};
    void *c = sock(ctx, ZMQ_DEALER);
    if (kind == CLIENT_GOOD) CU_ASSERT_EQUAL(stc_keys_client(c, k, &err), STC_OK);
    if (kind == CLIENT_OTHER_CLUSTER) CU_ASSERT_EQUAL(stc_keys_client(c, other, &err), STC_OK);
    if (kind == CLIENT_FOREIGN_PAIR) {
        CU_ASSERT_EQUAL(zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, k->pub, 40), 0);
        CU_ASSERT_EQUAL(zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, other->pub, 40), 0);
        CU_ASSERT_EQUAL(zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, other->sec, 40), 0);
    }
    CU_ASSERT_EQUAL(zmq_connect(c, ep), 0);
    char payload[32];
    int len = snprintf(payload, sizeof payload, "hello from client %d", kind);
    zmq_send(c, payload, (size_t)len, ZMQ_DONTWAIT);
    zmq_pollitem_t it = {srv, 0, ZMQ_POLLIN, 0};
    int got = 0;
    if (zmq_poll(&it, 1, wait_ms) == 1) {
        char id[256], body[64];
        int idn = zmq_recv(srv, id, sizeof id, 0);
        int more = 0;
        size_t ms = sizeof more;
        zmq_getsockopt(srv, ZMQ_RCVMORE, &more, &ms);
        CU_ASSERT(idn > 0 && more);
        int bn = zmq_recv(srv, body, sizeof body, 0);
        CU_ASSERT_EQUAL(bn, len);
        CU_ASSERT(bn == len && !memcmp(body, payload, (size_t)len));
        got = 1;
    }
    zmq_close(c);
    return got;
}

static void test_curve(void) {
    stc_err_t err = {0};
    stc_keys_t k, other;
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("a.keys"), &k, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("b.keys"), &other, &err), STC_OK);
    void *ctx = zmq_ctx_new();
    stc_zap_t *zap = stc_zap_start(ctx, &k, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(zap);
    /* one handler per context */
    stc_err_t e2 = {0};
    CU_ASSERT_PTR_NULL(stc_zap_start(ctx, &k, &e2));
    STC_ASSERT_CONTAINS(e2.msg, "already running");
    void *srv = sock(ctx, ZMQ_ROUTER);
    CU_ASSERT_EQUAL(stc_keys_server(srv, &k, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(srv, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t epn = sizeof ep;
    CU_ASSERT_EQUAL_FATAL(zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &epn), 0);
    CU_ASSERT_EQUAL(client_gets_through(ctx, srv, ep, CLIENT_GOOD, &k, &other, 5000), 1);
    CU_ASSERT_EQUAL(client_gets_through(ctx, srv, ep, CLIENT_PLAIN, &k, &other, 500), 0);
    CU_ASSERT_EQUAL(client_gets_through(ctx, srv, ep, CLIENT_OTHER_CLUSTER, &k, &other, 500), 0);
    CU_ASSERT_EQUAL(client_gets_through(ctx, srv, ep, CLIENT_FOREIGN_PAIR, &k, &other, 500), 0);
    /* the server still serves its cluster after the refusals */
    CU_ASSERT_EQUAL(client_gets_through(ctx, srv, ep, CLIENT_GOOD, &k, &other, 5000), 1);
    zmq_close(srv);
    stc_zap_stop(&zap);
    CU_ASSERT_PTR_NULL(zap);
    stc_zap_stop(&zap); /* twice is harmless */
    CU_ASSERT_EQUAL(zmq_ctx_term(ctx), 0);
}

/* Without a ZAP handler a keyed server admits no one (ZMQ_ZAP_ENFORCE_DOMAIN);
 * with k == NULL both ends stay plain and talk. */
static void test_curve_no_zap_and_plain(void) {
    stc_err_t err = {0};
    stc_keys_t k, other;
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("a.keys"), &k, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("b.keys"), &other, &err), STC_OK);
    void *ctx = zmq_ctx_new();
    void *srv = sock(ctx, ZMQ_ROUTER);
    CU_ASSERT_EQUAL(stc_keys_server(srv, &k, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(srv, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t epn = sizeof ep;
    CU_ASSERT_EQUAL_FATAL(zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &epn), 0);
    CU_ASSERT_EQUAL(client_gets_through(ctx, srv, ep, CLIENT_GOOD, &k, &other, 500), 0);
    zmq_close(srv);
    srv = sock(ctx, ZMQ_ROUTER);
    CU_ASSERT_EQUAL(stc_keys_server(srv, NULL, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(srv, "tcp://127.0.0.1:*"), 0);
    epn = sizeof ep;
    CU_ASSERT_EQUAL_FATAL(zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &epn), 0);
    CU_ASSERT_EQUAL(client_gets_through(ctx, srv, ep, CLIENT_PLAIN, NULL, NULL, 5000), 1);
    void *c = sock(ctx, ZMQ_DEALER);
    CU_ASSERT_EQUAL(stc_keys_client(c, NULL, &err), STC_OK);
    int mech = -1;
    size_t ml = sizeof mech;
    CU_ASSERT_EQUAL(zmq_getsockopt(c, ZMQ_MECHANISM, &mech, &ml), 0);
    CU_ASSERT_EQUAL(mech, ZMQ_NULL);
    zmq_close(c);
    zmq_close(srv);
    CU_ASSERT_EQUAL(zmq_ctx_term(ctx), 0);
}

/* RFC 27 spoken to the handler directly */
static void zap_ask(void *req, const char *mech, const void *cred, size_t cred_n, int n_cred, const char *version,
                    const char *want_status, const char *want_user) {
    const char *frames[] = {version, "req-42", "stc", "127.0.0.1", "", mech};
    for (int i = 0; i < 6; i++)
        CU_ASSERT(zmq_send(req, frames[i], strlen(frames[i]), i < 5 || n_cred ? ZMQ_SNDMORE : 0) >= 0);
    for (int i = 0; i < n_cred; i++) CU_ASSERT(zmq_send(req, cred, cred_n, i + 1 < n_cred ? ZMQ_SNDMORE : 0) >= 0);
    char f[6][128];
    int len[6], more = 1, nf = 0;
    while (more && nf < 6) {
        len[nf] = zmq_recv(req, f[nf], sizeof f[nf] - 1, 0);
        CU_ASSERT_FATAL(len[nf] >= 0);
        f[nf][len[nf]] = 0;
        size_t ms = sizeof more;
        zmq_getsockopt(req, ZMQ_RCVMORE, &more, &ms);
        nf++;
    }
    CU_ASSERT_EQUAL(nf, 6);
    CU_ASSERT_EQUAL(more, 0);
    CU_ASSERT_STRING_EQUAL(f[0], "1.0");
    CU_ASSERT_STRING_EQUAL(f[1], "req-42");
    CU_ASSERT_STRING_EQUAL(f[2], want_status);
    CU_ASSERT(len[3] > 0); /* a reason */
    CU_ASSERT_STRING_EQUAL(f[4], want_user);
    CU_ASSERT_EQUAL(len[5], 0);
}

static void test_zap_protocol(void) {
    stc_err_t err = {0};
    stc_keys_t k, other;
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("a.keys"), &k, &err), STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_keys_load(tmp("b.keys"), &other, &err), STC_OK);
    uint8_t key[32], okey[32];
    CU_ASSERT_PTR_NOT_NULL_FATAL(zmq_z85_decode(key, k.pub));
    CU_ASSERT_PTR_NOT_NULL_FATAL(zmq_z85_decode(okey, other.pub));
    void *ctx = zmq_ctx_new();
    stc_zap_t *zap = stc_zap_start(ctx, &k, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(zap);
    void *req = sock(ctx, ZMQ_REQ);
    int tmo = 5000;
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    CU_ASSERT_EQUAL_FATAL(zmq_connect(req, "inproc://zeromq.zap.01"), 0);
    zap_ask(req, "CURVE", key, 32, 1, "1.0", "200", "stc");
    zap_ask(req, "CURVE", okey, 32, 1, "1.0", "400", "");
    zap_ask(req, "NULL", NULL, 0, 0, "1.0", "400", "");
    zap_ask(req, "PLAIN", "admin", 5, 2, "1.0", "400", "");
    zap_ask(req, "CURVE", key, 31, 1, "1.0", "500", "");   /* a short key */
    zap_ask(req, "CURVE", key, 32, 2, "1.0", "500", "");   /* two credentials */
    zap_ask(req, "CURVE", key, 32, 1, "2.0", "500", "");   /* another protocol version */
    zap_ask(req, "CURVE", key, 32, 5, "1.0", "500", "");   /* too many frames */
    zap_ask(req, "CURVE", key, 32, 1, "1.0", "200", "stc"); /* and it still works */
    zmq_close(req);
    stc_zap_stop(&zap);
    CU_ASSERT_EQUAL(zmq_ctx_term(ctx), 0);
    /* keys the handler cannot use */
    stc_keys_t broken = k;
    broken.pub[5] = ' ';
    ctx = zmq_ctx_new();
    CU_ASSERT_PTR_NULL(stc_zap_start(ctx, &broken, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    CU_ASSERT_EQUAL(zmq_ctx_term(ctx), 0);
}

void stc_suite_proto(void) {
    static const stc_test_t tests[] = {
        {"roundtrip every message type", test_roundtrip},
        {"wire layout, names, default limits", test_layout},
        {"every truncation refused", test_truncated},
        {"single-byte corruptions", test_corrupt},
        {"bin lengths that disagree with counts", test_lengths_disagree},
        {"wrong field types", test_wrong_types},
        {"header errors", test_header_errors},
        {"ints of every width, out of range", test_int_widths},
        {"lying headers refused before allocation", test_lying_headers},
        {"limits", test_limits},
        {"encode errors", test_encode_errors},
        {"sum64", test_sum64},
        {"fuzz seeds", test_seeds},
        {"key file generate and load", test_keys_file},
        {"key file errors", test_keys_errors},
        {"curve: who gets through", test_curve},
        {"curve: no ZAP handler, plain sockets", test_curve_no_zap_and_plain},
        {"ZAP protocol", test_zap_protocol},
        {NULL, NULL},
    };
    CU_pSuite s = CU_add_suite("proto", suite_init, suite_clean);
    for (const stc_test_t *t = tests; t->name; t++) CU_add_test(s, t->name, t->fn);
}
