/* stc_agent.h - the parts of stc-node, the MPI node agent: the per-tick spike
 * exchange between ranks (exchange.c) and the heartbeat to the coordinator
 * (beat.c).  agent.c is the program: rendezvous, the coordinator link, deploy,
 * run, checkpoints.  docs/runtime.md describes the whole runtime.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_AGENT_H
#define STC_AGENT_H

#include "stc_chipsim.h"
#include "stc_proto.h"

#include <stdint.h>

#define STC_EP_MAX 256 /* bytes of an endpoint string, NUL included */

/* ------------------------------------------------------------ spike exchange */

/* Each rank binds one PULL socket for the spikes sent to it and connects one
 * PUSH socket to every rank it sends to.  Every tick it sends one SPIKES
 * message to each of those ranks (empty or not) and waits for one from each
 * rank that sends to it, so it knows when it has all of its inputs; then one
 * MPI_Allreduce ends the tick on every rank together (and carries a failure
 * flag, so that a rank that fails stops all of them at the same tick). */
typedef struct stc_xchg stc_xchg_t;

typedef struct {
    int64_t ticks;
    double compute_s;           /* in stc_chipsim_tick */
    double exchange_s;          /* sending, waiting for and injecting spikes */
    double sync_s;              /* the per-tick MPI_Allreduce */
    int64_t msgs_sent, events_sent, bytes_sent;
    int64_t dropped;            /* malformed or unexpected messages dropped (logged) */
} stc_xchg_stats_t;

/* bind: "tcp://IP:*" or "ipc://PATH"; peer_timeout_s: how long to wait for a
 * neighbour's message of a tick before failing. */
stc_xchg_t *stc_xchg_create(void *zctx, const stc_keys_t *keys, const char *bind, int rank, int size,
                            double peer_timeout_s, stc_err_t *err);
void stc_xchg_destroy(stc_xchg_t **xp);
const char *stc_xchg_endpoint(const stc_xchg_t *x); /* the bound endpoint, to publish */

/* For a deployment: who owns each core (core_rank[n_cores]), every rank's
 * endpoint (eps[size][STC_EP_MAX]).  Works out the neighbours from the
 * bundle's routes and connects to those it sends to. */
stc_status_t stc_xchg_plan(stc_xchg_t *x, const stc_bundle_t *b, const int32_t *core_rank,
                           const char (*eps)[STC_EP_MAX], stc_err_t *err);
int stc_xchg_n_out(const stc_xchg_t *x);
int stc_xchg_n_in(const stc_xchg_t *x);

/* One tick of the part s: compute, send, receive and inject, synchronize.
 * Returns STC_OK when every rank finished the tick, otherwise on every rank
 * at the same tick an error (this rank's own, or "another rank failed at
 * tick k"). */
stc_status_t stc_xchg_tick(stc_xchg_t *x, stc_chipsim_t *s, int tick, stc_err_t *err);
const stc_xchg_stats_t *stc_xchg_stats(const stc_xchg_t *x);
void stc_xchg_reset_stats(stc_xchg_t *x);

/* The bare cost the runtime's tick is measured against (bench): MPI_Barrier
 * plus one ZeroMQ round trip between ranks 2k and 2k+1 (same sockets), mean
 * seconds over n repetitions. */
stc_status_t stc_xchg_baseline(stc_xchg_t *x, const char (*eps)[STC_EP_MAX], int n, double *seconds, stc_err_t *err);

/* ----------------------------------------------------------------- heartbeat */

/* A thread with its own DEALER socket to the coordinator sends BEAT every
 * interval while the process lives (the main thread may be blocked in MPI),
 * and BYE with the reason when SIGTERM or SIGINT arrives, then ends the
 * process: so the coordinator can tell a rank that was stopped from one that
 * vanished. */
typedef struct stc_beat stc_beat_t;

stc_beat_t *stc_beat_start(void *zctx, const char *coord_ep, const stc_keys_t *keys, int rank, int size,
                           double interval_s, stc_err_t *err);
void stc_beat_progress(stc_beat_t *h, int64_t index, int64_t tick);
void stc_beat_stop(stc_beat_t **hp);

#endif
