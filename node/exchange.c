/* exchange.c - one tick of spikes between the ranks of stc-node (stc_agent.h).
 *
 * A tick on a rank: stc_chipsim_tick computes its cores; the events its cores
 * sent to cores of other ranks (the part's outbox) are bucketed by the rank
 * that owns the destination, and one SPIKES message goes to every rank this
 * one sends to, empty or not.  Then it waits for one SPIKES message of this
 * tick from every rank that sends to it, injects their events into its cores'
 * queues, and joins one MPI_Allreduce (MAX of a failure flag) that ends the
 * tick everywhere.  Since every delay is at least one tick, an event sent
 * at tick k is queued before tick k + 1 starts on the receiving rank: the
 * result is the single simulator's, bit for bit, whatever the split.
 *
 * Sockets: one PULL bound per rank (every sender connects its PUSH to it), so
 * the messages of one sender arrive in order.  High-water marks are 0
 * (unlimited) on both ends: a PUSH that reaches its mark blocks rather than
 * drops, and with 0 it never does; the per-tick wait bounds what can be queued
 * to one tick of spikes per neighbour anyway.  A message that does not decode,
 * comes from a rank that does not send to this one, names another tick, or
 * repeats a sender is logged with its sender and dropped; a neighbour that
 * sends nothing for peer_timeout seconds fails the tick.
 * SPDX-License-Identifier: MIT
 */
#include "stc_agent.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct stc_xchg {
    void *ctx, *pull;
    void **push;              /* [size]: PUSH to that rank, NULL if this rank sends it nothing */
    const stc_keys_t *keys;
    char ep[STC_EP_MAX];
    char (*peer_ep)[STC_EP_MAX]; /* [size] */
    int rank, size;
    double peer_timeout;
    uint8_t *sends_to, *hears_from; /* [size] */
    int n_out, n_in;
    const int32_t *core_rank;   /* borrowed from the plan's caller */
    int n_cores;
    /* per destination rank: the events of this tick, wire layout */
    uint8_t **obuf;
    int64_t *on, *ocap;
    uint8_t *got;               /* [size]: a message of this tick arrived */
    zmq_msg_t *early;           /* [size]: a message of the NEXT tick that arrived first, kept for it */
    uint8_t *has_early;         /* [size] */
    stc_proto_limits_t lim;
    stc_remote_ev_t *inb;       /* decode scratch */
    int64_t inb_cap;
    stc_xchg_stats_t st;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *xmalloc0(size_t n) { return calloc(n ? n : 1, 1); }

stc_xchg_t *stc_xchg_create(void *zctx, const stc_keys_t *keys, const char *bind, int rank, int size,
                            double peer_timeout_s, stc_err_t *err) {
    stc_xchg_t *x = calloc(1, sizeof *x);
    if (!x) {
        stc_err_set(err, STC_E_NOMEM, "exchange: out of memory");
        return NULL;
    }
    x->ctx = zctx, x->keys = keys, x->rank = rank, x->size = size, x->peer_timeout = peer_timeout_s;
    stc_proto_limits_default(&x->lim);
    x->push = xmalloc0((size_t)size * sizeof *x->push);
    x->peer_ep = xmalloc0((size_t)size * STC_EP_MAX);
    x->sends_to = xmalloc0((size_t)size), x->hears_from = xmalloc0((size_t)size), x->got = xmalloc0((size_t)size);
    x->obuf = xmalloc0((size_t)size * sizeof *x->obuf);
    x->early = xmalloc0((size_t)size * sizeof *x->early), x->has_early = xmalloc0((size_t)size);
    for (int r = 0; x->early && r < size; r++) zmq_msg_init(&x->early[r]);
    x->on = xmalloc0((size_t)size * sizeof *x->on), x->ocap = xmalloc0((size_t)size * sizeof *x->ocap);
    if (!x->push || !x->peer_ep || !x->sends_to || !x->hears_from || !x->got || !x->obuf || !x->on || !x->ocap ||
        !x->early || !x->has_early) {
        stc_xchg_destroy(&x);
        stc_err_set(err, STC_E_NOMEM, "exchange: out of memory");
        return NULL;
    }
    x->pull = zmq_socket(zctx, ZMQ_PULL);
    int zero = 0, linger = 0;
    if (!x->pull || zmq_setsockopt(x->pull, ZMQ_RCVHWM, &zero, sizeof zero) ||
        zmq_setsockopt(x->pull, ZMQ_LINGER, &linger, sizeof linger)) {
        stc_err_set(err, STC_E_IO, "exchange: rank %d: cannot make its spike socket: %s", rank, zmq_strerror(errno));
        stc_xchg_destroy(&x);
        return NULL;
    }
    if (stc_keys_server(x->pull, keys, err)) {
        stc_xchg_destroy(&x);
        return NULL;
    }
    if (zmq_bind(x->pull, bind)) {
        stc_err_set(err, STC_E_IO, "exchange: rank %d: cannot bind its spike socket to %s: %s", rank, bind,
                    zmq_strerror(errno));
        stc_xchg_destroy(&x);
        return NULL;
    }
    size_t n = sizeof x->ep;
    if (zmq_getsockopt(x->pull, ZMQ_LAST_ENDPOINT, x->ep, &n)) x->ep[0] = 0;
    x->ep[sizeof x->ep - 1] = 0;
    return x;
}

void stc_xchg_destroy(stc_xchg_t **xp) {
    if (!xp || !*xp) return;
    stc_xchg_t *x = *xp;
    for (int r = 0; x->push && r < x->size; r++)
        if (x->push[r]) zmq_close(x->push[r]);
    if (x->pull) zmq_close(x->pull);
    for (int r = 0; x->obuf && r < x->size; r++) free(x->obuf[r]);
    for (int r = 0; x->early && r < x->size; r++) zmq_msg_close(&x->early[r]);
    free(x->early), free(x->has_early);
    free(x->push), free(x->peer_ep), free(x->sends_to), free(x->hears_from), free(x->got);
    free(x->obuf), free(x->on), free(x->ocap), free(x->inb);
    free(x);
    *xp = NULL;
}

const char *stc_xchg_endpoint(const stc_xchg_t *x) { return x->ep; }
int stc_xchg_n_out(const stc_xchg_t *x) { return x->n_out; }
int stc_xchg_n_in(const stc_xchg_t *x) { return x->n_in; }
const stc_xchg_stats_t *stc_xchg_stats(const stc_xchg_t *x) { return &x->st; }
void stc_xchg_reset_stats(stc_xchg_t *x) { memset(&x->st, 0, sizeof x->st); }

/* A PUSH socket to rank r (made on first use). */
static stc_status_t push_to(stc_xchg_t *x, int r, stc_err_t *err) {
    if (x->push[r]) return STC_OK;
    void *s = zmq_socket(x->ctx, ZMQ_PUSH);
    int zero = 0, linger = 2000;
    if (!s || zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger)) {
        if (s) zmq_close(s);
        return stc_err_set(err, STC_E_IO, "exchange: rank %d: cannot make a socket to rank %d: %s", x->rank, r,
                           zmq_strerror(errno));
    }
    if (stc_keys_client(s, x->keys, err)) {
        zmq_close(s);
        return err->status;
    }
    if (zmq_connect(s, x->peer_ep[r])) {
        zmq_close(s);
        return stc_err_set(err, STC_E_IO, "exchange: rank %d: cannot connect to rank %d at '%s': %s", x->rank, r,
                           x->peer_ep[r], zmq_strerror(errno));
    }
    x->push[r] = s;
    return STC_OK;
}

stc_status_t stc_xchg_plan(stc_xchg_t *x, const stc_bundle_t *b, const int32_t *core_rank,
                           const char (*eps)[STC_EP_MAX], stc_err_t *err) {
    memset(x->sends_to, 0, (size_t)x->size), memset(x->hears_from, 0, (size_t)x->size);
    for (int r = 0; r < x->size; r++) {
        if (strcmp(x->peer_ep[r], eps[r]) && x->push[r]) { /* a new job at that rank's place: reconnect */
            zmq_close(x->push[r]);
            x->push[r] = NULL;
        }
        memcpy(x->peer_ep[r], eps[r], STC_EP_MAX);
        x->peer_ep[r][STC_EP_MAX - 1] = 0;
    }
    for (int c = 0; c < b->n_cores; c++) {
        int from = core_rank[c];
        if (from < 0 || from >= x->size)
            return stc_err_set(err, STC_E_USAGE, "exchange: core %d is given to rank %d of %d", c, from, x->size);
        const stc_core_t *k = &b->cores[c];
        for (int i = 0; i < k->n_route_runs; i++) {
            int d = k->route_runs[i].core;
            if (d < 0 || d >= b->n_cores) continue; /* the simulator refuses such a bundle */
            int to = core_rank[d];
            if (from == to) continue;
            if (from == x->rank) x->sends_to[to] = 1;
            if (to == x->rank) x->hears_from[from] = 1;
        }
    }
    x->n_out = x->n_in = 0;
    for (int r = 0; r < x->size; r++) {
        x->n_out += x->sends_to[r], x->n_in += x->hears_from[r];
        if (x->sends_to[r] && push_to(x, r, err)) return err->status;
    }
    x->core_rank = core_rank, x->n_cores = b->n_cores;
    return STC_OK;
}

static stc_status_t grow(uint8_t **p, int64_t *cap, int64_t need) {
    if (need <= *cap) return STC_OK;
    int64_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    uint8_t *q = realloc(*p, (size_t)c);
    if (!q) return STC_E_NOMEM;
    *p = q, *cap = c;
    return STC_OK;
}

/* Send this tick's events to every rank this one sends to. */
static stc_status_t send_all(stc_xchg_t *x, stc_chipsim_t *s, int tick, stc_err_t *err) {
    int64_t n;
    const stc_remote_ev_t *ev = stc_chipsim_outbox(s, &n);
    for (int r = 0; r < x->size; r++) x->on[r] = 0;
    for (int64_t i = 0; i < n; i++) {
        int r = ev[i].core >= 0 && ev[i].core < x->n_cores ? x->core_rank[ev[i].core] : -1;
        if (r < 0 || r == x->rank || !x->sends_to[r])
            return stc_err_set(err, STC_E_INTERNAL, "exchange: rank %d: an event for core %d (rank %d) it has no route to",
                               x->rank, ev[i].core, r);
        if (grow(&x->obuf[r], &x->ocap[r], (x->on[r] + 1) * 16))
            return stc_err_set(err, STC_E_NOMEM, "exchange: out of memory for spikes to rank %d", r);
        uint8_t *p = x->obuf[r] + x->on[r]++ * 16;
        stc_le_put32(p, (uint32_t)ev[i].core), stc_le_put32(p + 4, (uint32_t)ev[i].axon);
        stc_le_put32(p + 8, (uint32_t)ev[i].pl), stc_le_put32(p + 12, (uint32_t)ev[i].tick);
    }
    stc_chipsim_outbox_clear(s);
    for (int r = 0; r < x->size; r++) {
        if (!x->sends_to[r]) continue;
        stc_msg_t m;
        memset(&m, 0, sizeof m);
        m.type = STC_MSG_SPIKES, m.rank = x->rank, m.size = x->size;
        m.u.spikes.tick = tick, m.u.spikes.n = (uint64_t)x->on[r], m.u.spikes.ev = x->obuf[r];
        uint8_t *buf = NULL;
        size_t len = 0;
        if (stc_proto_encode(&m, &buf, &len, err)) return err->status;
        int rc = zmq_send(x->push[r], buf, len, 0);
        free(buf);
        if (rc < 0)
            return stc_err_set(err, STC_E_IO, "exchange: rank %d: cannot send tick %d's spikes to rank %d (%s): %s",
                               x->rank, tick, r, x->peer_ep[r], zmq_strerror(errno));
        x->st.msgs_sent++, x->st.events_sent += x->on[r], x->st.bytes_sent += (int64_t)len;
    }
    return STC_OK;
}

/* Log a dropped message: the first 20, then every power of two (a flood must not flood the log). */
static int log_drop(stc_xchg_t *x) {
    int64_t n = ++x->st.dropped;
    return n <= 20 || !(n & (n - 1));
}

/* Take one received frame: SPIKES of this tick from a rank that sends here,
 * once.  Returns 1 when it counted, else 0: the next tick's message of a
 * neighbour is kept for that tick (moved out of zm), anything else logged
 * and dropped. */
static int take(stc_xchg_t *x, stc_chipsim_t *s, int tick, zmq_msg_t *zm) {
    const uint8_t *buf = zmq_msg_data(zm);
    size_t len = zmq_msg_size(zm);
    stc_msg_t m;
    stc_err_t e = {0};
    const char *addr = zmq_msg_gets(zm, "Peer-Address"); /* the sender's IP (tcp), if the transport knows it */
    char peer[96];
    snprintf(peer, sizeof peer, "a peer at %s", addr ? addr : "(ipc)");
    if (stc_proto_decode(buf, len, &x->lim, peer, &m, &e)) {
        if (log_drop(x))
            stc_log(STC_LOG_WARN, "node", "rank %d: dropped a message on its spike socket (%lld so far): %s", x->rank,
                    (long long)x->st.dropped, e.msg);
        return 0;
    }
    int from = m.rank;
    /* The next tick's message of a neighbour is kept for that tick.  With the reduction after the wait no
       rank can send it before every rank has this tick's messages, but nothing here needs to rely on that. */
    if (m.type == STC_MSG_SPIKES && from >= 0 && from < x->size && x->hears_from[from] &&
        m.u.spikes.tick == (int64_t)tick + 1 && !x->has_early[from] && zm != &x->early[from]) {
        zmq_msg_move(&x->early[from], zm);
        x->has_early[from] = 1;
        return 0;
    }
    if (m.type != STC_MSG_SPIKES || from < 0 || from >= x->size || !x->hears_from[from] || m.u.spikes.tick != tick ||
        x->got[from]) {
        const char *why = m.type != STC_MSG_SPIKES                                         ? "not spikes"
                          : from < 0 || from >= x->size || !x->hears_from[from] ? "that rank sends nothing to this one"
                          : m.u.spikes.tick != tick                              ? "another tick"
                                                                                 : "a second message for the tick";
        if (log_drop(x))
            stc_log(STC_LOG_WARN, "node", "rank %d: dropped a %s message from %s claiming to be rank %d's for tick %lld "
                    "at tick %d (%s)", x->rank, stc_proto_type_name(m.type), peer, from,
                    m.type == STC_MSG_SPIKES ? (long long)m.u.spikes.tick : -1LL, tick, why);
        return 0;
    }
    uint64_t n = m.u.spikes.n;
    if ((int64_t)n > x->inb_cap) {
        stc_remote_ev_t *q = realloc(x->inb, (size_t)n * sizeof *q);
        if (!q) {
            if (log_drop(x))
                stc_log(STC_LOG_ERROR, "node", "rank %d: out of memory for %llu events from rank %d", x->rank,
                        (unsigned long long)n, from);
            return 0;
        }
        x->inb = q, x->inb_cap = (int64_t)n;
    }
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *p = m.u.spikes.ev + i * 16;
        x->inb[i] = (stc_remote_ev_t){(int32_t)stc_le_get32(p), (int32_t)stc_le_get32(p + 4),
                                      (int32_t)stc_le_get32(p + 8), (int32_t)stc_le_get32(p + 12)};
    }
    if (stc_chipsim_inject(s, x->inb, (int64_t)n, tick, &e)) {
        if (log_drop(x))
            stc_log(STC_LOG_WARN, "node", "rank %d: dropped tick %d's spikes from %s as rank %d (%s): %s", x->rank,
                    tick, peer, from, x->peer_ep[from], e.msg);
        return 0;
    }
    x->got[from] = 1;
    return 1;
}

/* Wait for one message of this tick from every rank that sends here. */
static stc_status_t recv_all(stc_xchg_t *x, stc_chipsim_t *s, int tick, stc_err_t *err) {
    memset(x->got, 0, (size_t)x->size);
    int have = 0;
    for (int r = 0; r < x->size; r++) /* what arrived early for this tick */
        if (x->has_early[r]) {
            x->has_early[r] = 0;
            have += take(x, s, tick, &x->early[r]);
        }
    double t0 = now();
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (have < x->n_in) {
        zmq_pollitem_t it = {x->pull, 0, ZMQ_POLLIN, 0};
        double left = x->peer_timeout - (now() - t0);
        if (left <= 0) {
            char who[256] = "";
            size_t at = 0;
            for (int r = 0; r < x->size && at + 16 < sizeof who; r++)
                if (x->hears_from[r] && !x->got[r]) at += (size_t)snprintf(who + at, sizeof who - at, " %d", r);
            zmq_msg_close(&msg);
            return stc_err_set(err, STC_E_PEER,
                               "exchange: rank %d: no spikes of tick %d from rank(s)%s within %.0f s (lost, or "
                               "stopped)", x->rank, tick, who, x->peer_timeout);
        }
        int rc = zmq_poll(&it, 1, (long)(left * 1000 < 100 ? left * 1000 + 1 : 100));
        if (rc < 0 && errno != EINTR) {
            zmq_msg_close(&msg);
            return stc_err_set(err, STC_E_IO, "exchange: rank %d: poll: %s", x->rank, zmq_strerror(errno));
        }
        if (rc <= 0) continue;
        while (zmq_msg_recv(&msg, x->pull, ZMQ_DONTWAIT) >= 0) {
            have += take(x, s, tick, &msg);
            if (have == x->n_in) break;
        }
    }
    zmq_msg_close(&msg);
    return STC_OK;
}

/* The tick: compute, send, wait for the neighbours' messages and inject
 * them, then the MPI_Allreduce that ends the tick on every rank and carries
 * failures (a rank that failed anywhere in the tick still joins it, so no rank
 * is left waiting in MPI).  Receiving before the reduction matters on shared
 * cores: a rank that waits in ZeroMQ sleeps and leaves the CPU to the I/O
 * threads that carry the messages, where one spinning in MPI would not. */
stc_status_t stc_xchg_tick(stc_xchg_t *x, stc_chipsim_t *s, int tick, stc_err_t *err) {
    double t0 = now();
    stc_status_t st = stc_chipsim_tick(s, tick, err);
    double t1 = now();
    if (!st) st = send_all(x, s, tick, err);
    if (!st) st = recv_all(x, s, tick, err);
    double t2 = now();
    int mine = st != STC_OK, any = 0;
    if (MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS && !st)
        st = stc_err_set(err, STC_E_PEER, "exchange: rank %d: MPI_Allreduce failed at tick %d", x->rank, tick);
    double t3 = now();
    x->st.ticks++, x->st.compute_s += t1 - t0, x->st.exchange_s += t2 - t1, x->st.sync_s += t3 - t2;
    if (!st && any) st = stc_err_set(err, STC_E_PEER, "another rank failed at tick %d", tick);
    return st;
}

stc_status_t stc_xchg_baseline(stc_xchg_t *x, const char (*eps)[STC_EP_MAX], int n, double *seconds, stc_err_t *err) {
    int partner = x->rank ^ 1;
    int paired = partner < x->size;
    if (paired) {
        if (!x->peer_ep[partner][0]) memcpy(x->peer_ep[partner], eps[partner], STC_EP_MAX);
        /* a PUSH to the partner, connected to its spike socket as the runtime's are */
        if (push_to(x, partner, err)) return err->status;
    }
    char ping[16] = "ping";
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    MPI_Barrier(MPI_COMM_WORLD);
    /* one warm-up round trip so that connections are up */
    for (int w = 0; w < 2 && paired; w++) {
        if ((x->rank & 1) == 0) {
            zmq_send(x->push[partner], ping, sizeof ping, 0);
            zmq_msg_recv(&msg, x->pull, 0);
        } else {
            zmq_msg_recv(&msg, x->pull, 0);
            zmq_send(x->push[partner], ping, sizeof ping, 0);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        if (!paired) continue;
        if ((x->rank & 1) == 0) {
            if (zmq_send(x->push[partner], ping, sizeof ping, 0) < 0 || zmq_msg_recv(&msg, x->pull, 0) < 0) break;
        } else {
            if (zmq_msg_recv(&msg, x->pull, 0) < 0 || zmq_send(x->push[partner], ping, sizeof ping, 0) < 0) break;
        }
    }
    *seconds = (now() - t0) / (n > 0 ? n : 1);
    zmq_msg_close(&msg);
    return STC_OK;
}
