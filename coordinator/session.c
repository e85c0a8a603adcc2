/* session.c - the coordinator's side of the node link: one ROUTER socket that
 * the ranks of a node job (mpirun stc-node) connect to, who they are, whether
 * they are alive, and what they send.
 *
 * Each rank connects two DEALERs: "rank-<r>" for commands and results, and
 * "beat-<r>" for the heartbeat thread.  A rank counts as alive while any
 * message of it arrived within the node timeout; BYE marks a rank that was
 * stopped (by mpirun's SIGTERM after another rank died, or by us).  When a
 * rank goes silent without BYE, the session names it, with the host, pid and
 * the input and tick it last reported.  ROUTER_HANDOVER lets a restarted node
 * job take over its ranks' routing ids.
 * SPDX-License-Identifier: MIT
 */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

stc_status_t coord_session_open(coord_session_t *s, const char *endpoint, const char *keys_path, double node_timeout,
                                stc_err_t *err) {
    memset(s, 0, sizeof *s);
    s->node_timeout = node_timeout > 0 ? node_timeout : 2.0;
    stc_proto_limits_default(&s->lim);
    if (keys_path) {
        if (stc_keys_load(keys_path, &s->keys, err)) return err->status;
        s->has_keys = 1;
    }
    s->ctx = zmq_ctx_new();
    if (!s->ctx) return stc_err_set(err, STC_E_IO, "cannot create a ZeroMQ context");
    if (s->has_keys && !(s->zap = stc_zap_start(s->ctx, &s->keys, err))) return err->status;
    s->sock = zmq_socket(s->ctx, ZMQ_ROUTER);
    int one = 1, zero = 0, linger = 2000;
    if (!s->sock || zmq_setsockopt(s->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one) ||
        zmq_setsockopt(s->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
        zmq_setsockopt(s->sock, ZMQ_SNDHWM, &zero, sizeof zero) ||
        zmq_setsockopt(s->sock, ZMQ_RCVHWM, &zero, sizeof zero) ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger))
        return stc_err_set(err, STC_E_IO, "cannot make the coordinator's socket: %s", zmq_strerror(errno));
    if (stc_keys_server(s->sock, s->has_keys ? &s->keys : NULL, err)) return err->status;
    if (zmq_bind(s->sock, endpoint))
        return stc_err_set(err, STC_E_IO, "cannot listen at '%s': %s (expected tcp://*:PORT, tcp://IP:PORT or "
                                          "ipc://PATH, a port no other program uses)",
                           endpoint, zmq_strerror(errno));
    snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    return STC_OK;
}

void coord_session_close(coord_session_t *s) {
    if (s->sock) zmq_close(s->sock);
    stc_zap_stop(&s->zap);
    if (s->ctx) zmq_ctx_term(s->ctx);
    free(s->r);
    memset(s, 0, sizeof *s);
}

static stc_status_t ensure_size(coord_session_t *s, int size, const char *who, stc_err_t *err) {
    if (size < 1 || size > (int)s->lim.max_ranks)
        return stc_err_set(err, STC_E_PEER, "%s says the job has %d ranks (expected 1..%u)", who, size,
                           s->lim.max_ranks);
    if (!s->size) {
        s->r = calloc((size_t)size, sizeof *s->r);
        if (!s->r) return stc_err_set(err, STC_E_NOMEM, "out of memory");
        s->size = size;
        for (int i = 0; i < size; i++) s->r[i].index = -1;
    }
    if (size != s->size)
        return stc_err_set(err, STC_E_PEER, "%s belongs to a job of %d ranks, but a job of %d ranks joined first", who,
                           size, s->size);
    return STC_OK;
}

/* Bookkeeping for every message from a rank; returns the rank or -1. */
static int note(coord_session_t *s, const stc_msg_t *m, const uint8_t *id, size_t idn, stc_err_t *err) {
    char who[64];
    snprintf(who, sizeof who, "rank %d", m->rank);
    if (ensure_size(s, m->size, who, err)) return -1;
    if (m->rank < 0 || m->rank >= s->size) {
        stc_err_set(err, STC_E_PEER, "a message from rank %d of a %d-rank job", m->rank, s->size);
        return -1;
    }
    coord_rank_t *r = &s->r[m->rank];
    r->last = coord_now();
    int is_cmd = idn > 5 && !memcmp(id, "rank-", 5);
    if (is_cmd && idn <= sizeof r->id) {
        memcpy(r->id, id, idn);
        r->idn = idn;
    }
    switch (m->type) {
    case STC_MSG_HELLO:
        if (!r->joined) s->joined++;
        r->joined = 1;
        r->pid = m->u.hello.pid;
        r->deployed = m->u.hello.deployed_sum;
        r->dep_id = m->u.hello.resumable;
        snprintf(r->host, sizeof r->host, "%s", m->u.hello.host);
        snprintf(r->spike_ep, sizeof r->spike_ep, "%s", m->u.hello.spike_ep);
        break;
    case STC_MSG_BEAT:
        r->index = m->u.beat.index, r->tick = m->u.beat.tick;
        break;
    case STC_MSG_BYE:
        r->bye = 1;
        snprintf(r->bye_msg, sizeof r->bye_msg, "%s", m->u.text.msg);
        break;
    default: break;
    }
    return m->rank;
}

stc_status_t coord_session_recv(coord_session_t *s, double timeout, zmq_msg_t *body, stc_msg_t *m, int *rank,
                                stc_err_t *err) {
    double t0 = coord_now();
    zmq_msg_t id;
    zmq_msg_init(&id);
    for (;;) {
        double left = timeout - (coord_now() - t0);
        if (left < 0) left = 0;
        zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, (long)(left * 1000));
        if (rc < 0 && errno != EINTR) {
            zmq_msg_close(&id);
            return stc_err_set(err, STC_E_IO, "poll: %s", zmq_strerror(errno));
        }
        if (rc <= 0) {
            zmq_msg_close(&id);
            *rank = -1;
            return STC_OK; /* timed out: nothing */
        }
        if (zmq_msg_recv(&id, s->sock, ZMQ_DONTWAIT) < 0) continue;
        int more = zmq_msg_more(&id);
        if (!more) continue; /* a ROUTER frame without a body: ignore */
        zmq_msg_close(body);
        zmq_msg_init(body);
        if (zmq_msg_recv(body, s->sock, 0) < 0) continue;
        while (zmq_msg_more(body)) { /* extra frames: drain, drop the message */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, s->sock, 0);
            int again = zmq_msg_more(&x);
            zmq_msg_close(&x);
            if (!again) break;
        }
        char peer[160], idtxt[48];
        const char *addr = zmq_msg_gets(body, "Peer-Address");
        stc_escape(idtxt, sizeof idtxt, zmq_msg_data(&id), zmq_msg_size(&id), 24);
        snprintf(peer, sizeof peer, "node '%s' at %s", idtxt, addr ? addr : "(ipc)");
        stc_err_t e = {0};
        if (stc_proto_decode(zmq_msg_data(body), zmq_msg_size(body), &s->lim, peer, m, &e)) {
            stc_log(STC_LOG_WARN, "coord", "dropped a message: %s", e.msg);
            continue;
        }
        int r = note(s, m, zmq_msg_data(&id), zmq_msg_size(&id), &e);
        if (r < 0) {
            stc_log(STC_LOG_WARN, "coord", "dropped a %s message from %s: %s", stc_proto_type_name(m->type), peer,
                    e.msg);
            continue;
        }
        *rank = r;
        zmq_msg_close(&id);
        return STC_OK;
    }
}

stc_status_t coord_session_send(coord_session_t *s, int rank, const stc_msg_t *m, stc_err_t *err) {
    coord_rank_t *r = &s->r[rank];
    if (!r->idn) return stc_err_set(err, STC_E_PEER, "rank %d has not joined", rank);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (stc_proto_encode(m, &buf, &len, err)) return err->status;
    int rc = zmq_send(s->sock, r->id, r->idn, ZMQ_SNDMORE);
    if (rc >= 0) rc = zmq_send(s->sock, buf, len, 0);
    free(buf);
    if (rc < 0)
        return stc_err_set(err, STC_E_PEER, "cannot send %s to rank %d (%s, pid %d): %s", stc_proto_type_name(m->type),
                           rank, r->host, r->pid, zmq_strerror(errno));
    return STC_OK;
}

stc_status_t coord_session_wait(coord_session_t *s, double wait, int want, stc_err_t *err) {
    double t0 = coord_now(), shown = t0;
    zmq_msg_t body;
    zmq_msg_init(&body);
    while (!s->size || s->joined < s->size) {
        double left = wait - (coord_now() - t0);
        if (left <= 0) break;
        stc_msg_t m;
        int r;
        if (coord_session_recv(s, left < 0.5 ? left : 0.5, &body, &m, &r, err)) {
            zmq_msg_close(&body);
            return err->status;
        }
        if (coord_now() - shown > 5) {
            fprintf(stderr, "stc-coord: waiting for the node job at %s (%d of %s ranks joined)\n", s->endpoint,
                    s->joined, s->size ? "its" : "?");
            shown = coord_now();
        }
    }
    zmq_msg_close(&body);
    if (!s->size)
        return stc_err_set(err, STC_E_PEER,
                           "no node joined at %s within %.0f s: start the node job (mpirun -np N stc-node --coord "
                           "tcp://THIS_HOST:PORT%s), and check that both sides hold the same --keys",
                           s->endpoint, wait, s->has_keys ? " --keys FILE" : "");
    if (s->joined < s->size) {
        char miss[256] = "";
        size_t at = 0;
        for (int i = 0; i < s->size && at + 12 < sizeof miss; i++)
            if (!s->r[i].joined) at += (size_t)snprintf(miss + at, sizeof miss - at, " %d", i);
        return stc_err_set(err, STC_E_PEER, "%d of %d ranks joined within %.0f s; missing:%s", s->joined, s->size, wait,
                           miss);
    }
    if (want && s->size != want)
        return stc_err_set(err, STC_E_USAGE, "the node job has %d ranks, --ranks asks for %d", s->size, want);
    return STC_OK;
}

int coord_session_check(coord_session_t *s, stc_err_t *err) {
    double t = coord_now();
    int lost = -1, stopped = 0;
    for (int i = 0; i < s->size; i++) {
        if (s->r[i].bye) stopped++;
        else if (t - s->r[i].last > s->node_timeout && lost < 0) lost = i;
    }
    if (lost < 0 && !stopped) return 0;
    if (lost < 0) { /* only BYEs so far: give the silent one its timeout before naming anyone */
        for (int i = 0; i < s->size; i++)
            if (!s->r[i].bye && t - s->r[i].last <= s->node_timeout) return 0;
        stc_err_set(err, STC_E_PEER, "the node job stopped: %s", s->r[0].bye_msg);
        return 1;
    }
    const coord_rank_t *r = &s->r[lost];
    char where[96] = "";
    if (r->index >= 0) snprintf(where, sizeof where, " while running input %lld, tick %lld", (long long)r->index,
                                (long long)r->tick);
    char others[160] = "";
    if (stopped) {
        size_t at = (size_t)snprintf(others, sizeof others, "; stopped after it:");
        for (int i = 0; i < s->size && at + 12 < sizeof others; i++)
            if (s->r[i].bye) at += (size_t)snprintf(others + at, sizeof others - at, " rank %d", i);
    }
    stc_err_set(err, STC_E_PEER, "lost node: rank %d (host %s, pid %d) sent nothing for %.1f s%s%s", lost, r->host,
                r->pid, t - r->last, where, others);
    return 1;
}
