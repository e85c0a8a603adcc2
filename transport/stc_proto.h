/* stc_proto.h - the wire protocol between stc-coord and the stc-node ranks,
 * and between the ranks: msgpack messages over ZeroMQ, decoded with explicit
 * limits before anything is allocated; CurveZMQ keys for every socket.
 *
 * Every ZeroMQ message is one frame holding one msgpack array:
 *     [ "stc", version, type, field... ]
 * (ROUTER sockets add the peer's routing-id frame in front; the socket layer
 * strips it, this module never sees it.)  Byte payloads (bundles, images,
 * spike events, checkpoint blobs) are msgpack bin objects, laid out
 * little-endian as documented per message.  The decoder walks the bytes
 * itself and checks every declared length against the bytes that remain and
 * against the limits below, before it copies or allocates anything
 * (msgpack-c's own unpacker would allocate an array of 2^32 objects for a
 * 5-byte header); a message that fails gets an error naming the message
 * type, the field, what was expected and what was found.
 *
 * Who sends what (docs/runtime.md has the sequence):
 *   node -> coord   HELLO, LOADED, RESULT, STATS, CKPT, BEAT, BYE, ERROR
 *   coord -> node   DEPLOY, RUN, RESTORE, STOP
 *   node -> node    SPIKES (one per neighbour rank per tick, empty or not)
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_PROTO_H
#define STC_PROTO_H

#include "stc_base.h"

#include <stdint.h>

#define STC_PROTO_VERSION 1

typedef enum {
    STC_MSG_HELLO = 1, /* a rank joins: who it is and where its spike socket listens */
    STC_MSG_DEPLOY,    /* the bundle and which rank owns which chip */
    STC_MSG_LOADED,    /* what a rank loaded: checksum, its cores, or an error */
    STC_MSG_RUN,       /* a batch of inputs to run */
    STC_MSG_RESULT,    /* one inference's result (rank 0, reduced over ranks) */
    STC_MSG_STATS,     /* the run's counters (rank 0, reduced over ranks) */
    STC_MSG_CKPT,      /* one rank's checkpoint of its chips' state */
    STC_MSG_RESTORE,   /* checkpoint blobs to resume from */
    STC_MSG_BEAT,      /* heartbeat: alive, and how far */
    STC_MSG_STOP,      /* the node job shall exit */
    STC_MSG_BYE,       /* a rank exits (reason) */
    STC_MSG_ERROR,     /* a rank failed (message) */
    STC_MSG_SPIKES,    /* spike events from one rank to another for one tick */
    STC_MSG_N_
} stc_msg_type_t;

/* Explicit limits, checked before any allocation.  stc_proto_limits_default()
 * gives the defaults (in brackets); a node may lower them. */
typedef struct {
    uint64_t max_frame;      /* [1 GiB] whole message bytes */
    uint64_t max_bundle;     /* [1 GiB] DEPLOY bundle bytes */
    uint64_t max_blob;       /* [1 GiB] CKPT / RESTORE blob bytes, each */
    uint32_t max_ranks;      /* [4096] */
    uint32_t max_chips;      /* [65536] DEPLOY chip owners */
    uint32_t max_images;     /* [4096] RUN batch */
    uint64_t max_image_floats; /* [16M] RUN floats per image */
    uint32_t max_logits;     /* [65536] RESULT logits */
    uint32_t max_stages;     /* [65536] RESULT / STATS stages */
    uint32_t max_cores;      /* [1M] STATS cores */
    uint64_t max_events;     /* [64M] SPIKES events */
    uint32_t max_str;        /* [1024] any string */
} stc_proto_limits_t;

void stc_proto_limits_default(stc_proto_limits_t *l);

/* One spike event crossing ranks: the destination core, its input axon, the
 * payload, and the tick it is delivered at.  On the wire: 16 bytes, four
 * little-endian int32 in this order. */
typedef struct {
    int32_t core, axon, pl, tick;
} stc_wire_ev_t;

#define STC_COUNTERS_N 12 /* int64 per core / per stage, stc_core_counters_t's fields in order */

/* A decoded message.  Byte payloads point INTO the frame that was decoded
 * (zero-copy: they live as long as that buffer; read them with memcpy, they
 * are not aligned).  Strings are copied into the fixed, NUL-terminated
 * arrays below; one longer than its array (or max_str) is an error. */
typedef struct {
    stc_msg_type_t type;
    int32_t rank, size; /* the sender's rank and the job's size (node messages); SPIKES: source rank */
    union {
        struct { /* HELLO */
            int32_t pid;
            char host[256];
            char spike_ep[256];     /* the rank's spike socket, e.g. tcp://10.0.0.2:41234 */
            uint64_t deployed_sum;  /* checksum of the bundle it holds, 0 if none */
            uint64_t resumable;     /* the deployment's id (stc_proto_sum64 of its owners and flags), 0 if none */
        } hello;
        struct { /* DEPLOY */
            const uint8_t *bundle;
            uint64_t bundle_len;
            uint64_t sum;           /* stc_proto_sum64 of the bundle bytes */
            const uint8_t *owner;   /* n_chips int32 LE: chip -> rank */
            uint32_t n_chips;
            uint32_t flags;         /* bit 0: record a spike digest */
        } deploy;
        struct { /* LOADED */
            uint64_t sum;           /* checksum of the bytes the rank received */
            int32_t n_cores, n_chips;
            int64_t state_bytes;    /* memory the rank allocated for its chips */
            int32_t ok;             /* 1 loaded, 0 failed (then msg says why) */
            char msg[1024];
        } loaded;
        struct { /* RUN */
            int64_t first;          /* index of the first input in the run */
            uint32_t n_images;
            uint64_t floats;        /* per image */
            const uint8_t *images;  /* n_images * floats float32 LE */
            int64_t ckpt_every;     /* checkpoint every K ticks (0: never) */
            int64_t tick0;          /* resume: first tick of the first input (0: from the start) */
            uint32_t last;          /* 1: the last batch of the run (send STATS after it) */
        } run;
        struct { /* RESULT */
            int64_t index;          /* the input's index */
            uint32_t n_logits;
            const uint8_t *rsum;    /* n_logits int64 LE: the readout sums */
            uint32_t n_stages;
            const uint8_t *spikes;  /* n_stages int64 LE: events per stage */
            uint64_t digest;        /* additive hash of every emitted event (0 if not recorded) */
            double seconds;         /* wall time of this inference on the ranks */
        } result;
        struct { /* STATS */
            uint32_t n_cores, n_stages;
            const uint8_t *cores;   /* n_cores * STC_COUNTERS_N int64 LE */
            const uint8_t *stages;  /* n_stages * STC_COUNTERS_N int64 LE */
            int64_t ticks;          /* ticks run */
            double tick_seconds;    /* mean wall time per tick */
            double sync_seconds;    /* of which exchange and synchronization */
        } stats;
        struct { /* CKPT (node -> coord), RESTORE (coord -> node: one blob per rank of the saving job) */
            int64_t tick;           /* global tick the state is after */
            int64_t index;          /* the input being run */
            const uint8_t *blob;
            uint64_t blob_len;
        } ckpt;
        struct { /* BEAT */
            int64_t index, tick;
        } beat;
        struct { /* BYE, ERROR */
            char msg[1024];
        } text;
        struct { /* SPIKES */
            int64_t tick;           /* the tick whose emissions these are */
            uint64_t n;
            const uint8_t *ev;      /* n * 16 bytes (stc_wire_ev_t LE) */
        } spikes;
    } u;
} stc_msg_t;

/* Decode one frame.  Returns STC_OK and fills *m, or an error naming `peer`
 * (a printable description of the sender, e.g. "rank 2 (tcp://...)"), the
 * message type and the field.  Never reads past buf[len), never allocates
 * more than a fixed amount, whatever the bytes say. */
stc_status_t stc_proto_decode(const void *buf, size_t len, const stc_proto_limits_t *lim, const char *peer,
                              stc_msg_t *m, stc_err_t *err);

/* Encode *m into a new malloc'd buffer (*out, *out_len; the caller frees).
 * Payload pointers are read, not kept. */
stc_status_t stc_proto_encode(const stc_msg_t *m, uint8_t **out, size_t *out_len, stc_err_t *err);

const char *stc_proto_type_name(stc_msg_type_t t);

/* A 64-bit checksum of bytes (FNV-1a 64 over 8-byte words, or similar: fast, not cryptographic). */
uint64_t stc_proto_sum64(const void *p, size_t n);

/* A deployment's id: the bundle's checksum, the chip -> rank map (n_chips
 * int32 LE) and the DEPLOY flags; HELLO carries it so that a coordinator can
 * tell whether the ranks hold the deployment it would make. */
static inline uint64_t stc_proto_deploy_id(uint64_t sum, const uint8_t *owner, uint32_t n_chips, uint32_t flags) {
    uint64_t h = (stc_proto_sum64(owner, (size_t)n_chips * 4) * 1099511628211ULL + flags) ^ sum;
    return h ? h : 1;
}

/* ------------------------------------------------------------ CurveZMQ keys */

/* The cluster's key pair: every stc process of one cluster holds it.  Servers
 * use it as their curve key pair, clients as theirs and the server key, and a
 * ZAP handler admits only clients presenting the cluster's public key. */
typedef struct {
    char pub[41], sec[41]; /* Z85, NUL-terminated */
} stc_keys_t;

/* Make a new key pair and write it to `path` (mode 0600; refuses to overwrite). */
stc_status_t stc_keys_generate(const char *path, stc_keys_t *k, stc_err_t *err);
/* Read a key file (limits: 4 KiB, two Z85 lines; errors name the file and the line). */
stc_status_t stc_keys_load(const char *path, stc_keys_t *k, stc_err_t *err);

/* Start the ZAP handler for context ctx (a thread on inproc://zeromq.zap.01
 * that admits CURVE clients whose key is k->pub and refuses everything else,
 * NULL mechanism included).  One per context; stop it before zmq_ctx_term. */
typedef struct stc_zap stc_zap_t;
stc_zap_t *stc_zap_start(void *ctx, const stc_keys_t *k, stc_err_t *err);
void stc_zap_stop(stc_zap_t **zp);

/* Make a socket a curve server / client of the cluster (k == NULL: leave it plain). */
stc_status_t stc_keys_server(void *sock, const stc_keys_t *k, stc_err_t *err);
stc_status_t stc_keys_client(void *sock, const stc_keys_t *k, stc_err_t *err);

#endif
