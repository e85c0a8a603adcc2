/* agent.c - stc-node, the node agent: one MPI rank per host (or several),
 * driving the chips the coordinator gives it.
 *
 *     mpirun -np N [--hostfile H] stc-node --coord tcp://HOST:PORT [--keys FILE]
 *
 * Start-up: MPI_Init; every rank binds its spike socket and the ranks
 * exchange the endpoints with MPI_Allgather (the rendezvous); a heartbeat
 * thread starts (beat.c); each rank connects a DEALER (routing id
 * "rank-<r>") to the coordinator and says HELLO every second while idle, so
 * that the coordinator and the node job may start in either order and a new
 * coordinator finds a running job.
 *
 * Commands, each received by every rank on its own socket:
 *   DEPLOY   the bundle bytes and chip -> rank; the rank checks the checksum,
 *            builds a part of the chip simulator for its own cores only,
 *            plans its spike neighbours and answers LOADED (checksum, cores,
 *            bytes), or LOADED with the reason it could not.
 *   RESTORE  checkpoint blobs of a previous job: state of the cores it owns
 *            (and rank 0 takes every blob's shares of the per-input sums).
 *   RUN      a batch of inputs: for each, every tick in lockstep (exchange.c);
 *            the shares of the results are reduced to rank 0 with MPI_Reduce
 *            and rank 0 sends RESULT; after the last batch, STATS (the
 *            counters, reduced likewise).  With checkpoints on, every rank
 *            sends CKPT after every K-th tick.
 *   STOP     the job ends (BYE, MPI_Finalize, exit 0).
 * Nothing is read from a shared disk: the bundle, the inputs and the
 * checkpoints all come over the wire.
 * SPDX-License-Identifier: MIT
 */
#include "stc_agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* RUN images go over the wire as this host's floats: the wire is little-endian */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "stc's wire format assumes a little-endian host");

typedef struct {
    const char *coord, *keys_path, *advertise, *spikes, *netns;
    double peer_timeout, beat;
    int baseline;
} opts_t;

typedef struct {
    opts_t o;
    int rank, size;
    void *ctx, *cmd;
    stc_keys_t keys;
    int has_keys;
    stc_zap_t *zap;
    stc_xchg_t *x;
    stc_beat_t *beat;
    char host[256];
    char (*eps)[STC_EP_MAX];
    stc_proto_limits_t lim;
    /* the deployment */
    stc_bundle_t *b;
    stc_chipsim_t *s;
    int32_t *core_rank;
    uint64_t sum, dep_id;
    int digest;
    int restoring;
    float *img;
    int64_t ticks_run;
} node_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void usage(FILE *f) {
    fprintf(f, "usage: mpirun -np N [--hostfile H] stc-node --coord tcp://HOST:PORT [options]\n"
               "\n"
               "The node agent of stc: each rank drives the simulated chips the coordinator gives it\n"
               "(stc-coord deploy / run --endpoint tcp://*:PORT).  Either side may start first.\n"
               "\n"
               "  --coord EP          the coordinator's endpoint (tcp://HOST:PORT)\n"
               "  --keys FILE         the cluster's CurveZMQ keys (stc-coord keygen); every socket is\n"
               "                      encrypted and only holders of the keys are admitted\n"
               "  --spikes tcp|ipc    how spikes travel between ranks (tcp; ipc only on one host)\n"
               "  --advertise IP      the address other ranks reach this one at (default: the address\n"
               "                      of the interface that routes to the coordinator)\n"
               "  --peer-timeout S    fail a tick when a neighbour sends nothing for S seconds (30)\n"
               "  --beat S            heartbeat interval (0.25)\n"
               "  --baseline N        first measure N x (MPI_Barrier + one ZeroMQ round trip between\n"
               "                      ranks 2k and 2k+1), the bare cost a tick is compared with\n"
               "  --netns NAME        join network namespace NAME (ip netns) after the MPI start-up,\n"
               "                      before opening any socket (MPI keeps its own links)\n");
}

static int parse(int argc, char **argv, opts_t *o) {
    memset(o, 0, sizeof *o);
    o->spikes = "tcp", o->peer_timeout = 30, o->beat = 0.25;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        int takes = !strcmp(a, "--coord") || !strcmp(a, "--keys") || !strcmp(a, "--advertise") ||
                    !strcmp(a, "--spikes") || !strcmp(a, "--peer-timeout") || !strcmp(a, "--beat") ||
                    !strcmp(a, "--netns") || !strcmp(a, "--baseline");
        if (!takes) {
            fprintf(stderr, "stc-node: unknown option '%s' (see stc-node --help)\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "stc-node: option %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--coord")) o->coord = v;
        else if (!strcmp(a, "--keys")) o->keys_path = v;
        else if (!strcmp(a, "--advertise")) o->advertise = v;
        else if (!strcmp(a, "--spikes")) o->spikes = v;
        else if (!strcmp(a, "--netns")) o->netns = v;
        else if (!strcmp(a, "--baseline")) {
            o->baseline = atoi(v);
            if (o->baseline < 1 || o->baseline > 10000000) {
                fprintf(stderr, "stc-node: --baseline expects a repetition count (1..10000000), got '%s'\n", v);
                return 2;
            }
        }
        else {
            char *end;
            double d = strtod(v, &end);
            if (*end || !(d > 0) || d > 3600) {
                fprintf(stderr, "stc-node: %s expects seconds (0 < S <= 3600), got '%s'\n", a, v);
                return 2;
            }
            if (!strcmp(a, "--beat")) o->beat = d;
            else o->peer_timeout = d;
        }
    }
    if (!o->coord) {
        fprintf(stderr, "stc-node: which coordinator? --coord tcp://HOST:PORT (see stc-node --help)\n");
        return 2;
    }
    if (strncmp(o->coord, "tcp://", 6) && strncmp(o->coord, "ipc://", 6)) {
        fprintf(stderr, "stc-node: --coord '%s': expected tcp://HOST:PORT or ipc://PATH\n", o->coord);
        return 2;
    }
    if (strcmp(o->spikes, "tcp") && strcmp(o->spikes, "ipc")) {
        fprintf(stderr, "stc-node: --spikes '%s': expected tcp or ipc\n", o->spikes);
        return 2;
    }
    return 0;
}

/* The address this host is reached at from the coordinator's side: the local
 * address of a (never used) UDP socket connected towards it. */
static void advertise_ip(const opts_t *o, char *ip, size_t cap) {
    snprintf(ip, cap, "127.0.0.1");
    if (o->advertise) {
        snprintf(ip, cap, "%s", o->advertise);
        return;
    }
    if (strncmp(o->coord, "tcp://", 6)) return;
    char host[256];
    snprintf(host, sizeof host, "%s", o->coord + 6);
    char *colon = strrchr(host, ':');
    if (!colon) return;
    *colon = 0;
    const char *port = colon + 1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET, hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, port, &hints, &res) || !res) return;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd >= 0 && !connect(fd, res->ai_addr, res->ai_addrlen)) {
        struct sockaddr_in me;
        socklen_t n = sizeof me;
        if (!getsockname(fd, (struct sockaddr *)&me, &n)) inet_ntop(AF_INET, &me.sin_addr, ip, (socklen_t)cap);
    }
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
}

/* ------------------------------------------------------------- messages */

static int send_coord(node_t *n, const stc_msg_t *m) {
    uint8_t *buf = NULL;
    size_t len = 0;
    stc_err_t e = {0};
    if (stc_proto_encode(m, &buf, &len, &e)) {
        stc_log(STC_LOG_ERROR, "node", "rank %d: cannot encode %s: %s", n->rank, stc_proto_type_name(m->type), e.msg);
        return -1;
    }
    int rc = zmq_send(n->cmd, buf, len, ZMQ_DONTWAIT);
    free(buf);
    return rc < 0 ? -1 : 0;
}

static void msg_init(node_t *n, stc_msg_t *m, stc_msg_type_t t) {
    memset(m, 0, sizeof *m);
    m->type = t, m->rank = n->rank, m->size = n->size;
}

static void send_hello(node_t *n) {
    stc_msg_t m;
    msg_init(n, &m, STC_MSG_HELLO);
    m.u.hello.pid = (int32_t)getpid();
    snprintf(m.u.hello.host, sizeof m.u.hello.host, "%s", n->host);
    snprintf(m.u.hello.spike_ep, sizeof m.u.hello.spike_ep, "%s", n->eps[n->rank]);
    m.u.hello.deployed_sum = n->s ? n->sum : 0;
    m.u.hello.resumable = n->s ? n->dep_id : 0;
    send_coord(n, &m);
}

static void send_error(node_t *n, const char *what, const stc_err_t *e) {
    stc_msg_t m;
    msg_init(n, &m, STC_MSG_ERROR);
    snprintf(m.u.text.msg, sizeof m.u.text.msg, "rank %d (%.64s): %s: %.900s", n->rank, n->host, what, e->msg);
    stc_log(STC_LOG_ERROR, "node", "%s", m.u.text.msg);
    send_coord(n, &m);
}

/* -------------------------------------------------------------- deploy */

static void drop_deployment(node_t *n) {
    stc_chipsim_destroy(&n->s);
    stc_bundle_destroy(&n->b);
    free(n->core_rank), n->core_rank = NULL;
    free(n->img), n->img = NULL;
    n->sum = 0, n->dep_id = 0;
}

static stc_status_t deploy(node_t *n, const stc_msg_t *m, stc_err_t *err) {
    drop_deployment(n);
    uint64_t sum = stc_proto_sum64(m->u.deploy.bundle, m->u.deploy.bundle_len);
    if (sum != m->u.deploy.sum)
        return stc_err_set(err, STC_E_FORMAT, "the bundle's checksum is %016llx, the coordinator sent %016llx",
                           (unsigned long long)sum, (unsigned long long)m->u.deploy.sum);
    stc_bundle_t *b = stc_bundle_read_mem(m->u.deploy.bundle, m->u.deploy.bundle_len, "the deployed bundle", err);
    if (!b) return err->status;
    n->b = b;
    uint32_t nch = m->u.deploy.n_chips;
    n->core_rank = malloc((size_t)b->n_cores * sizeof *n->core_rank);
    uint8_t *own = calloc((size_t)b->n_cores, 1);
    if (!n->core_rank || !own) {
        free(own);
        return stc_err_set(err, STC_E_NOMEM, "out of memory");
    }
    for (int c = 0; c < b->n_cores; c++) {
        int chip = b->cores[c].chip;
        int32_t r = 0; /* the host port (no chip) lives with rank 0, where the inputs arrive */
        if (chip >= 0) {
            if ((uint32_t)chip >= nch) {
                free(own);
                return stc_err_set(err, STC_E_FORMAT, "core %d is on chip %d, the deployment names owners of %u chips",
                                   c, chip, nch);
            }
            const uint8_t *p = m->u.deploy.owner + (size_t)chip * 4;
            r = (int32_t)stc_le_get32(p);
            if (r < 0 || r >= n->size) {
                free(own);
                return stc_err_set(err, STC_E_FORMAT, "chip %d is given to rank %d; the job has ranks 0..%d", chip, r,
                                   n->size - 1);
            }
        }
        n->core_rank[c] = r;
        own[c] = r == n->rank;
    }
    n->s = stc_chipsim_create_part(b, own, err);
    free(own);
    if (!n->s) return err->status;
    n->digest = (m->u.deploy.flags & 1) != 0;
    stc_chipsim_set_digest(n->s, n->digest);
    n->img = malloc(((size_t)b->in_c * b->in_h * b->in_w + 1) * sizeof(float));
    if (!n->img) return stc_err_set(err, STC_E_NOMEM, "out of memory");
    if (stc_xchg_plan(n->x, b, n->core_rank, (const char (*)[STC_EP_MAX])n->eps, err)) return err->status;
    n->sum = sum;
    n->dep_id = stc_proto_deploy_id(sum, m->u.deploy.owner, nch, m->u.deploy.flags);
    return STC_OK;
}

static void on_deploy(node_t *n, const stc_msg_t *m) {
    stc_err_t e = {0};
    stc_msg_t r;
    msg_init(n, &r, STC_MSG_LOADED);
    r.u.loaded.sum = stc_proto_sum64(m->u.deploy.bundle, m->u.deploy.bundle_len);
    if (deploy(n, m, &e)) {
        drop_deployment(n);
        snprintf(r.u.loaded.msg, sizeof r.u.loaded.msg, "%s", e.msg);
        stc_log(STC_LOG_ERROR, "node", "rank %d: deploy failed: %s", n->rank, e.msg);
    } else {
        int cores = 0, chips = 0;
        int32_t nch = m->u.deploy.n_chips;
        for (int c = 0; c < n->b->n_cores; c++) cores += n->core_rank[c] == n->rank && n->b->cores[c].chip >= 0;
        for (int32_t k = 0; k < nch; k++) {
            const uint8_t *p = m->u.deploy.owner + (size_t)k * 4;
            chips += (int32_t)stc_le_get32(p) == n->rank;
        }
        r.u.loaded.ok = 1, r.u.loaded.n_cores = cores, r.u.loaded.n_chips = chips;
        r.u.loaded.state_bytes = stc_chipsim_state_bytes(n->s);
        snprintf(r.u.loaded.msg, sizeof r.u.loaded.msg, "sends spikes to %d rank(s), receives from %d",
                 stc_xchg_n_out(n->x), stc_xchg_n_in(n->x));
    }
    send_coord(n, &r);
}

/* ------------------------------------------------------------------ run */

static void counters_flat(const stc_core_counters_t *c, int n, int64_t *out) {
    for (int i = 0; i < n; i++) {
        int64_t *o = out + (size_t)i * STC_COUNTERS_N;
        o[0] = c[i].synops, o[1] = c[i].neuron_updates, o[2] = c[i].neuron_active, o[3] = c[i].spikes;
        o[4] = c[i].msgs_local, o[5] = c[i].msgs_core, o[6] = c[i].core_hops, o[7] = c[i].msgs_chip;
        o[8] = c[i].chip_hops, o[9] = c[i].kernel_ops, o[10] = c[i].ticks_active, o[11] = c[i].chip_link_fj;
    }
}

/* Every rank sends its checkpoint blob of the state after global tick g. */
static stc_status_t checkpoint(node_t *n, int64_t index, int64_t g, stc_err_t *err) {
    uint8_t *blob = NULL;
    size_t len = 0;
    if (stc_chipsim_save(n->s, &blob, &len, err)) return err->status;
    stc_msg_t m;
    msg_init(n, &m, STC_MSG_CKPT);
    m.u.ckpt.tick = g, m.u.ckpt.index = index, m.u.ckpt.blob = blob, m.u.ckpt.blob_len = len;
    send_coord(n, &m);
    free(blob);
    return STC_OK;
}

/* One input: every tick in lockstep, then the results reduced to rank 0. */
static stc_status_t run_one(node_t *n, int64_t index, const uint8_t *image, int64_t tick0, int64_t ckpt_every,
                            stc_err_t *err) {
    const stc_bundle_t *b = n->b;
    double t0 = now();
    if (tick0 > 0) {
        if (stc_chipsim_restored(n->s, err)) return err->status;
    } else {
        int64_t per = (int64_t)b->in_c * b->in_h * b->in_w;
        memcpy(n->img, image, (size_t)per * sizeof(float)); /* the wire is little-endian, as this host */
        stc_status_t st = stc_chipsim_begin(n->s, n->img, err);
        int mine = st != STC_OK, any = 0; /* every rank starts the input, or none */
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (st) return st;
        if (any) return stc_err_set(err, STC_E_PEER, "another rank could not start input %lld", (long long)index);
    }
    for (int tick = (int)tick0; tick < b->ticks; tick++) {
        stc_beat_progress(n->beat, index, tick);
        if (stc_xchg_tick(n->x, n->s, tick, err)) return err->status;
        n->ticks_run++;
        int64_t g = index * b->ticks + tick; /* the global tick just finished */
        /* after the tick's reduction every rank holds all of the tick's spikes: a checkpoint is never partial */
        if (ckpt_every > 0 && (g + 1) % ckpt_every == 0 && tick + 1 < b->ticks && checkpoint(n, index, g, err))
            return err->status;
    }
    int64_t *mine = calloc((size_t)b->n_out + b->n_stages + 1, sizeof(int64_t));
    int64_t *all = calloc((size_t)b->n_out + b->n_stages + 1, sizeof(int64_t));
    if (!mine || !all) {
        free(mine), free(all);
        return stc_err_set(err, STC_E_NOMEM, "out of memory");
    }
    stc_status_t st = stc_chipsim_end(n->s, mine, mine + b->n_out, err);
    uint64_t dg = stc_chipsim_digest(n->s), dsum = 0;
    /* every rank takes part in the reductions even when it failed, so that none waits forever */
    MPI_Reduce(mine, all, b->n_out + b->n_stages, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(&dg, &dsum, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (!st && n->rank == 0) {
        stc_msg_t m;
        msg_init(n, &m, STC_MSG_RESULT);
        uint8_t *rs = malloc((size_t)(b->n_out + b->n_stages) * 8 + 8);
        if (rs) {
            for (int i = 0; i < b->n_out + b->n_stages; i++) stc_le_put64(rs + (size_t)i * 8, (uint64_t)all[i]);
            m.u.result.index = index, m.u.result.n_logits = (uint32_t)b->n_out, m.u.result.rsum = rs;
            m.u.result.n_stages = (uint32_t)b->n_stages, m.u.result.spikes = rs + (size_t)b->n_out * 8;
            m.u.result.digest = n->digest ? dsum : 0, m.u.result.seconds = now() - t0;
            send_coord(n, &m);
            free(rs);
        }
    }
    free(mine), free(all);
    return st;
}

/* The run's counters, summed over ranks, and the runtime's own timing. */
static void send_stats(node_t *n) {
    const stc_bundle_t *b = n->b;
    size_t nc = (size_t)b->n_cores * STC_COUNTERS_N, ns = (size_t)b->n_stages * STC_COUNTERS_N;
    int64_t *mine = calloc(nc + ns, sizeof(int64_t)), *all = calloc(nc + ns, sizeof(int64_t));
    uint8_t *wire = malloc((nc + ns) * 8 + 8);
    const stc_xchg_stats_t *xs = stc_xchg_stats(n->x);
    double t[3] = {xs->ticks ? (xs->compute_s + xs->exchange_s + xs->sync_s) / (double)xs->ticks : 0,
                   xs->ticks ? (xs->exchange_s + xs->sync_s) / (double)xs->ticks : 0, 0},
           tmax[3] = {0, 0, 0};
    if (xs->ticks)
        stc_log(STC_LOG_INFO, "node",
                "rank %d: %lld ticks, per tick %.1f us compute, %.1f us exchange, %.1f us sync; %lld messages, "
                "%lld events, %lld bytes sent; %lld dropped", n->rank, (long long)xs->ticks,
                1e6 * xs->compute_s / (double)xs->ticks, 1e6 * xs->exchange_s / (double)xs->ticks,
                1e6 * xs->sync_s / (double)xs->ticks, (long long)xs->msgs_sent, (long long)xs->events_sent,
                (long long)xs->bytes_sent, (long long)xs->dropped);
    if (mine && all) {
        counters_flat(stc_chipsim_counters(n->s), b->n_cores, mine);
        counters_flat(stc_chipsim_stage_counters(n->s), b->n_stages, mine + nc);
    }
    MPI_Reduce(mine ? mine : all, all, (int)(nc + ns), MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(t, tmax, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (n->rank == 0 && mine && all && wire) {
        for (size_t i = 0; i < nc + ns; i++) stc_le_put64(wire + i * 8, (uint64_t)all[i]);
        stc_msg_t m;
        msg_init(n, &m, STC_MSG_STATS);
        m.u.stats.n_cores = (uint32_t)b->n_cores, m.u.stats.n_stages = (uint32_t)b->n_stages;
        m.u.stats.cores = wire, m.u.stats.stages = wire + nc * 8;
        m.u.stats.ticks = xs->ticks, m.u.stats.tick_seconds = tmax[0], m.u.stats.sync_seconds = tmax[1];
        send_coord(n, &m);
    }
    free(mine), free(all), free(wire);
}

/* RUN and RESTORE need a deployment: without one, the coordinator is told so. */
static int deployed(node_t *n, const char *what) {
    if (n->s) return 1;
    stc_err_t e = {STC_E_USAGE, "nothing is deployed (stc-coord deploy first)"};
    send_error(n, what, &e);
    return 0;
}

static void on_run(node_t *n, const stc_msg_t *m) {
    stc_err_t e = {0};
    if (!deployed(n, "run")) return;
    const stc_bundle_t *b = n->b;
    uint64_t per = (uint64_t)b->in_c * b->in_h * b->in_w;
    if (m->u.run.floats != per) {
        e.status = STC_E_FORMAT;
        snprintf(e.msg, sizeof e.msg, "RUN images of %llu floats, the deployed model takes %llu",
                 (unsigned long long)m->u.run.floats, (unsigned long long)per);
        send_error(n, "run", &e);
        return;
    }
    if (m->u.run.first == 0 && m->u.run.tick0 == 0) { /* a new run: its own counters */
        stc_chipsim_reset_counters(n->s);
        stc_xchg_reset_stats(n->x);
    }
    n->restoring = 0;
    for (uint32_t i = 0; i < m->u.run.n_images; i++) {
        int64_t tick0 = i == 0 ? m->u.run.tick0 : 0;
        if (run_one(n, m->u.run.first + i, m->u.run.images + (size_t)i * per * 4, tick0, m->u.run.ckpt_every, &e)) {
            send_error(n, "run", &e);
            return;
        }
    }
    if (m->u.run.last) send_stats(n);
}

static void on_restore(node_t *n, const stc_msg_t *m) {
    stc_err_t e = {0};
    if (!deployed(n, "restore")) return;
    if (!n->restoring) {
        stc_chipsim_clear(n->s);
        n->restoring = 1;
    }
    if (stc_chipsim_restore(n->s, m->u.ckpt.blob, m->u.ckpt.blob_len, n->rank == 0, &e))
        send_error(n, "restore", &e);
}

/* ----------------------------------------------------------------- main */

static int serve(node_t *n) {
    double last_hello = -1;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (;;) {
        if (now() - last_hello >= 1.0) {
            send_hello(n);
            last_hello = now();
        }
        zmq_pollitem_t it = {n->cmd, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 200);
        if (rc <= 0) continue;
        if (zmq_msg_recv(&msg, n->cmd, ZMQ_DONTWAIT) < 0) continue;
        stc_msg_t m;
        stc_err_t e = {0};
        if (stc_proto_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &n->lim, "the coordinator", &m, &e)) {
            stc_log(STC_LOG_WARN, "node", "rank %d: dropped a message from the coordinator: %s", n->rank, e.msg);
            continue;
        }
        switch (m.type) {
        case STC_MSG_DEPLOY: on_deploy(n, &m); break;
        case STC_MSG_RUN: on_run(n, &m); break;
        case STC_MSG_RESTORE: on_restore(n, &m); break;
        case STC_MSG_STOP: {
            stc_msg_t r;
            msg_init(n, &r, STC_MSG_BYE);
            snprintf(r.u.text.msg, sizeof r.u.text.msg, "rank %d stopped by the coordinator", n->rank);
            send_coord(n, &r);
            zmq_msg_close(&msg);
            return 0;
        }
        default:
            stc_log(STC_LOG_WARN, "node", "rank %d: dropped a %s message from the coordinator (not a command)",
                    n->rank, stc_proto_type_name(m.type));
        }
        last_hello = now(); /* a coordinator is there: no need to announce */
    }
}

int main(int argc, char **argv) {
    int prov = 0;
    /* A rank shares its cores with ZeroMQ's I/O thread and the heartbeat: one that spins while it waits in MPI
       starves the thread carrying its neighbours' spikes (a tick of 2 ranks on 2 cores took 6x longer).  Open
       MPI yields when idle only on oversubscribed nodes unless told; tell it, unless the user chose. */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &prov);
    node_t n;
    memset(&n, 0, sizeof n);
    MPI_Comm_rank(MPI_COMM_WORLD, &n.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n.size);
    int rc = parse(argc, argv, &n.o);
    if (rc) {
        MPI_Finalize();
        return rc == 1 ? 0 : rc;
    }
    stc_proto_limits_default(&n.lim);
    gethostname(n.host, sizeof n.host - 1);
    stc_err_t err = {0};
    int bad = 0;
    if (n.o.netns) {
        /* this thread, and the ZeroMQ threads it starts below, move; MPI's threads and links stay where they are */
        char path[512];
        snprintf(path, sizeof path, "/var/run/netns/%s", n.o.netns);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET)) {
            stc_err_set(&err, STC_E_USAGE, "--netns %s: cannot join %s: %s", n.o.netns, path, strerror(errno));
            bad = 1;
        }
        if (fd >= 0) close(fd);
    }
    if (!bad && n.o.keys_path) {
        if (stc_keys_load(n.o.keys_path, &n.keys, &err)) bad = 1;
        n.has_keys = !bad;
    }
    n.ctx = zmq_ctx_new();
    if (!bad && n.has_keys && !(n.zap = stc_zap_start(n.ctx, &n.keys, &err))) bad = 1;
    const stc_keys_t *kp = n.has_keys ? &n.keys : NULL;
    char bind[STC_EP_MAX];
    if (!strcmp(n.o.spikes, "ipc")) {
        snprintf(bind, sizeof bind, "ipc:///tmp/stc-spikes-%d-%d", (int)getpid(), n.rank);
    } else {
        char ip[64];
        advertise_ip(&n.o, ip, sizeof ip);
        snprintf(bind, sizeof bind, "tcp://%s:*", ip);
    }
    if (!bad && !(n.x = stc_xchg_create(n.ctx, kp, bind, n.rank, n.size, n.o.peer_timeout, &err))) bad = 1;
    int any_bad = 0;
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any_bad) {
        if (bad) fprintf(stderr, "stc-node: rank %d: %s\n", n.rank, err.msg);
        stc_xchg_destroy(&n.x);
        stc_zap_stop(&n.zap);
        zmq_ctx_term(n.ctx);
        MPI_Finalize();
        return 1;
    }
    /* the rendezvous: every rank learns every rank's spike endpoint */
    char mine[STC_EP_MAX];
    memset(mine, 0, sizeof mine);
    snprintf(mine, sizeof mine, "%s", stc_xchg_endpoint(n.x));
    n.eps = calloc((size_t)n.size, STC_EP_MAX);
    MPI_Allgather(mine, STC_EP_MAX, MPI_CHAR, n.eps, STC_EP_MAX, MPI_CHAR, MPI_COMM_WORLD);
    if (n.o.baseline) {
        double sec = 0, worst = 0;
        if (stc_xchg_baseline(n.x, (const char (*)[STC_EP_MAX])n.eps, n.o.baseline, &sec, &err))
            fprintf(stderr, "stc-node: rank %d: baseline: %s\n", n.rank, err.msg);
        MPI_Reduce(&sec, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (n.rank == 0)
            fprintf(stderr, "stc-node: baseline: MPI_Barrier + one ZeroMQ round trip = %.2f us (mean of %d, %d ranks)\n",
                    worst * 1e6, n.o.baseline, n.size);
    }
    n.beat = stc_beat_start(n.ctx, n.o.coord, kp, n.rank, n.size, n.o.beat, &err);
    n.cmd = zmq_socket(n.ctx, ZMQ_DEALER);
    char id[32];
    int idn = snprintf(id, sizeof id, "rank-%d", n.rank), one = 1, zero = 0, linger = 1000;
    if (!n.beat || !n.cmd || zmq_setsockopt(n.cmd, ZMQ_ROUTING_ID, id, (size_t)idn) ||
        zmq_setsockopt(n.cmd, ZMQ_IMMEDIATE, &one, sizeof one) ||
        zmq_setsockopt(n.cmd, ZMQ_RCVHWM, &zero, sizeof zero) ||
        zmq_setsockopt(n.cmd, ZMQ_SNDHWM, &zero, sizeof zero) || /* results queue, never dropped */
        zmq_setsockopt(n.cmd, ZMQ_LINGER, &linger, sizeof linger) || stc_keys_client(n.cmd, kp, &err) ||
        zmq_connect(n.cmd, n.o.coord)) {
        fprintf(stderr, "stc-node: rank %d: cannot connect to the coordinator at '%s': %s\n", n.rank, n.o.coord,
                err.status ? err.msg : zmq_strerror(errno));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (n.rank == 0)
        fprintf(stderr, "stc-node: %d rank%s up (spikes over %s%s), waiting for the coordinator at %s\n", n.size,
                n.size == 1 ? "" : "s", n.o.spikes, n.has_keys ? ", CurveZMQ" : "", n.o.coord);
    rc = serve(&n);
    stc_beat_stop(&n.beat);
    drop_deployment(&n);
    zmq_close(n.cmd);
    stc_xchg_destroy(&n.x);
    stc_zap_stop(&n.zap);
    zmq_ctx_term(n.ctx);
    free(n.eps);
    MPI_Finalize();
    return rc;
}
