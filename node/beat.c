/* beat.c - the heartbeat of an stc-node rank (stc_agent.h).
 *
 * The coordinator must learn within seconds that a rank is gone, and must be
 * able to tell a rank that vanished (SIGKILL, a crashed host) from the ranks
 * that mpirun stopped after it.  The main thread cannot promise either: it
 * may sit in an MPI collective for as long as the slowest rank takes.  So a
 * thread with its own DEALER socket (routing id "beat-<rank>") sends BEAT
 * every interval for as long as the process lives, and when SIGTERM or SIGINT
 * arrives it sends BYE naming the signal and ends the process (mpirun sends
 * SIGTERM to the surviving ranks when one dies).  ZMQ_IMMEDIATE keeps beats
 * from queueing while no coordinator listens: they are dropped, not stored.
 * SPDX-License-Identifier: MIT
 */
#include "stc_agent.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

struct stc_beat {
    void *sock;
    pthread_t tid;
    atomic_int stop;
    atomic_llong index, tick;
    int rank, size;
    double interval;
};

static void send_msg(stc_beat_t *h, const stc_msg_t *m) {
    uint8_t *buf = NULL;
    size_t len = 0;
    stc_err_t e = {0};
    if (stc_proto_encode(m, &buf, &len, &e)) return;
    zmq_send(h->sock, buf, len, ZMQ_DONTWAIT); /* no coordinator listening: dropped */
    free(buf);
}

static void *beat_main(void *arg) {
    stc_beat_t *h = arg;
    long step_ms = (long)(h->interval * 1000);
    if (step_ms < 10) step_ms = 10;
    while (!atomic_load(&h->stop)) {
        int sig = got_signal;
        stc_msg_t m;
        memset(&m, 0, sizeof m);
        m.rank = h->rank, m.size = h->size;
        if (sig) {
            m.type = STC_MSG_BYE;
            snprintf(m.u.text.msg, sizeof m.u.text.msg, "rank %d stopped by signal %d (%s)", h->rank, sig,
                     sig == SIGTERM ? "SIGTERM: mpirun ends the job, or someone asked it to stop" : "SIGINT");
            send_msg(h, &m);
            struct timespec ts = {0, 300 * 1000 * 1000}; /* let the message leave */
            nanosleep(&ts, NULL);
            _exit(128 + sig);
        }
        m.type = STC_MSG_BEAT;
        m.u.beat.index = atomic_load(&h->index), m.u.beat.tick = atomic_load(&h->tick);
        send_msg(h, &m);
        /* sleep in short steps so that a signal is answered quickly */
        for (long t = 0; t < step_ms && !got_signal && !atomic_load(&h->stop); t += 10) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

stc_beat_t *stc_beat_start(void *zctx, const char *coord_ep, const stc_keys_t *keys, int rank, int size,
                           double interval_s, stc_err_t *err) {
    stc_beat_t *h = calloc(1, sizeof *h);
    if (!h) {
        stc_err_set(err, STC_E_NOMEM, "heartbeat: out of memory");
        return NULL;
    }
    h->rank = rank, h->size = size, h->interval = interval_s;
    atomic_store(&h->index, -1);
    h->sock = zmq_socket(zctx, ZMQ_DEALER);
    char id[32];
    int n = snprintf(id, sizeof id, "beat-%d", rank), one = 1, linger = 500;
    if (!h->sock || zmq_setsockopt(h->sock, ZMQ_ROUTING_ID, id, (size_t)n) ||
        zmq_setsockopt(h->sock, ZMQ_IMMEDIATE, &one, sizeof one) ||
        zmq_setsockopt(h->sock, ZMQ_LINGER, &linger, sizeof linger)) {
        stc_err_set(err, STC_E_IO, "heartbeat: rank %d: cannot make its socket: %s", rank, zmq_strerror(errno));
        goto fail;
    }
    if (stc_keys_client(h->sock, keys, err)) goto fail;
    if (zmq_connect(h->sock, coord_ep)) {
        stc_err_set(err, STC_E_USAGE, "heartbeat: rank %d: cannot connect to the coordinator at '%s': %s", rank,
                    coord_ep, zmq_strerror(errno));
        goto fail;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (pthread_create(&h->tid, NULL, beat_main, h)) {
        stc_err_set(err, STC_E_IO, "heartbeat: rank %d: cannot start its thread", rank);
        goto fail;
    }
    return h;
fail:
    if (h->sock) zmq_close(h->sock);
    free(h);
    return NULL;
}

void stc_beat_progress(stc_beat_t *h, int64_t index, int64_t tick) {
    if (!h) return;
    atomic_store(&h->index, index);
    atomic_store(&h->tick, tick);
}

void stc_beat_stop(stc_beat_t **hp) {
    if (!hp || !*hp) return;
    stc_beat_t *h = *hp;
    atomic_store(&h->stop, 1);
    pthread_join(h->tid, NULL);
    zmq_close(h->sock);
    free(h);
    *hp = NULL;
}
