/* session.h - the coordinator's link to a node job (session.c), and the
 * commands that use it: deploy and the distributed run (cmd_deploy.c).
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_COORD_SESSION_H
#define STC_COORD_SESSION_H

#include "coord.h"
#include "stc_proto.h"

#include <zmq.h>

typedef struct {
    uint8_t id[64];
    size_t idn;              /* routing id of its command socket ("rank-<r>") */
    int joined, bye, pid;
    double last;             /* when anything of it arrived last */
    int64_t index, tick;     /* progress from its heartbeat */
    uint64_t deployed;       /* its bundle's checksum (0: none) */
    uint64_t dep_id;         /* its deployment's id (stc_proto_deploy_id) */
    char host[256], spike_ep[256], bye_msg[1024];
} coord_rank_t;

typedef struct {
    void *ctx, *sock;
    stc_zap_t *zap;
    stc_keys_t keys;
    int has_keys;
    char endpoint[256];
    int size, joined;
    coord_rank_t *r;
    double node_timeout;
    stc_proto_limits_t lim;
} coord_session_t;

stc_status_t coord_session_open(coord_session_t *s, const char *endpoint, const char *keys_path, double node_timeout,
                                stc_err_t *err);
void coord_session_close(coord_session_t *s);
/* Wait up to `wait` seconds for every rank of a node job to say HELLO (want:
 * the rank count the user expects, 0 for any). */
stc_status_t coord_session_wait(coord_session_t *s, double wait, int want, stc_err_t *err);
/* The next message from a rank within timeout seconds (*rank = -1 if none);
 * m's payloads point into body.  HELLO, BEAT and BYE update the ranks' state
 * and are returned too. */
stc_status_t coord_session_recv(coord_session_t *s, double timeout, zmq_msg_t *body, stc_msg_t *m, int *rank,
                                stc_err_t *err);
stc_status_t coord_session_send(coord_session_t *s, int rank, const stc_msg_t *m, stc_err_t *err);
/* 1 with err set when a rank is lost (silent past the node timeout without
 * BYE: named with host, pid and progress) or the job stopped; else 0. */
int coord_session_check(coord_session_t *s, stc_err_t *err);

#endif
