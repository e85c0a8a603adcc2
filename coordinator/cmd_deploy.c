/* cmd_deploy.c - `stc-coord deploy`, `stc-coord run --endpoint` and `stc-coord
 * stop`: the coordinator's half of the distributed runtime.
 *
 * deploy: wait for the node job's ranks (session.c), give every chip of the
 * bundle to a rank (--owners, else contiguous chips balanced by cores), send
 * each rank the bundle and the owner map (DEPLOY), and check what each one
 * loaded (its checksum of the bytes it received, its cores, its memory).
 * run: the same inputs and report as the single-process run, computed by the
 * node job: RUN batches stream to every rank (two batches in flight), RESULT
 * and STATS come back from rank 0 (reduced over the ranks with MPI), CKPT
 * blobs from every rank are written to the checkpoint file as soon as a tick's
 * set is complete, and a rank that goes silent is named within the node
 * timeout.  --resume restores the chips from that file and continues.
 * SPDX-License-Identifier: MIT
 */
#include "runckpt.h"
#include "stc_fixed.h"
#include "session.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* RUN images go over the wire as this host's floats: the wire is little-endian */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "stc's wire format assumes a little-endian host");

typedef struct {
    coord_session_t s;
    uint8_t *bytes;
    size_t len;
    uint64_t sum, dep_id;
    stc_bundle_t *b;
    int n_chips;              /* chip ids 0 .. n_chips-1 in the owner map */
    int32_t *owner;           /* chip -> rank */
    uint32_t flags;
    cJSON *ranks_json;        /* per rank, for --json */
} dep_t;

static int fail(const stc_err_t *e) {
    coord_fail(e);
    return 1;
}

/* chip -> rank: --owners, else contiguous runs of chips with about equal cores per rank. */
static stc_status_t assign(const coord_opts_t *o, dep_t *d, stc_err_t *err) {
    const stc_bundle_t *b = d->b;
    int size = d->s.size, nch = 0;
    for (int c = 0; c < b->n_cores; c++)
        if (b->cores[c].chip + 1 > nch) nch = b->cores[c].chip + 1;
    if (nch < 1) nch = 1;
    d->n_chips = nch;
    d->owner = calloc((size_t)nch, sizeof *d->owner);
    int *cores = calloc((size_t)nch, sizeof *cores);
    if (!d->owner || !cores) {
        free(cores);
        return stc_err_set(err, STC_E_NOMEM, "out of memory");
    }
    int total = 0;
    for (int c = 0; c < b->n_cores; c++)
        if (b->cores[c].chip >= 0) cores[b->cores[c].chip]++, total++;
    if (o->owners) {
        const char *p = o->owners;
        int k = 0;
        while (*p) {
            char *end;
            long r = strtol(p, &end, 10);
            if (end == p || r < 0 || r >= size || k >= nch) {
                free(cores);
                return stc_err_set(err, STC_E_USAGE,
                                   "--owners '%s': expected %d ranks (one per chip 0..%d, each 0..%d), separated by commas",
                                   o->owners, nch, nch - 1, size - 1);
            }
            d->owner[k++] = (int32_t)r;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') k = nch + 1;
        }
        if (k != nch) {
            free(cores);
            return stc_err_set(err, STC_E_USAGE, "--owners '%s': the bundle's cores are on chips 0..%d, so %d ranks "
                                                 "are expected", o->owners, nch - 1, nch);
        }
    } else {
        /* contiguous chips; a rank moves on once it holds its share of the cores, and every rank gets a chip
           while there are chips left for it */
        int r = 0, have = 0;
        int64_t cum = 0;
        for (int c = 0; c < nch; c++) {
            if (have && r < size - 1 && (cum * size >= (int64_t)(r + 1) * total || nch - c <= size - 1 - r))
                r++, have = 0;
            d->owner[c] = r;
            have++;
            cum += cores[c];
        }
    }
    free(cores);
    uint8_t *own = malloc((size_t)nch * 4);
    if (!own) return stc_err_set(err, STC_E_NOMEM, "out of memory");
    for (int c = 0; c < nch; c++) stc_le_put32(own + (size_t)c * 4, (uint32_t)d->owner[c]);
    d->dep_id = stc_proto_deploy_id(d->sum, own, (uint32_t)nch, d->flags);
    free(own);
    return STC_OK;
}

/* Wait for one message of `type` from every rank (want[r] set), watching the ranks' health. */
static stc_status_t collect(dep_t *d, stc_msg_type_t type, double timeout, uint8_t *got,
                            void (*on)(dep_t *, int, const stc_msg_t *, void *), void *ud, stc_err_t *err) {
    double t0 = coord_now();
    zmq_msg_t body;
    zmq_msg_init(&body);
    int n = 0;
    for (int r = 0; r < d->s.size; r++) n += got[r];
    while (n < d->s.size) {
        if (coord_now() - t0 > timeout) {
            zmq_msg_close(&body);
            return stc_err_set(err, STC_E_PEER, "%d of %d ranks answered %s within %.0f s", n, d->s.size,
                               stc_proto_type_name(type), timeout);
        }
        stc_msg_t m;
        int r;
        if (coord_session_recv(&d->s, 0.2, &body, &m, &r, err)) break;
        if (coord_session_check(&d->s, err)) break;
        if (r < 0) continue;
        if (m.type == STC_MSG_ERROR) {
            stc_err_set(err, STC_E_PEER, "%s", m.u.text.msg);
            break;
        }
        if (m.type == type && !got[r]) {
            got[r] = 1, n++;
            if (on) on(d, r, &m, ud);
        }
    }
    zmq_msg_close(&body);
    return err->status;
}

typedef struct {
    int bad;
    stc_err_t err;
    int json;
} loaded_t;

static void on_loaded(dep_t *d, int r, const stc_msg_t *m, void *ud) {
    loaded_t *l = ud;
    const coord_rank_t *k = &d->s.r[r];
    int ok = m->u.loaded.ok && m->u.loaded.sum == d->sum;
    if (!ok && !l->bad) {
        l->bad = 1;
        if (!m->u.loaded.ok)
            stc_err_set(&l->err, STC_E_PEER, "rank %d (%s) could not load the bundle: %s", r, k->host,
                        m->u.loaded.msg);
        else
            stc_err_set(&l->err, STC_E_PEER, "rank %d (%s) received bytes that sum to %016llx, the bundle sums to "
                                             "%016llx", r, k->host, (unsigned long long)m->u.loaded.sum,
                        (unsigned long long)d->sum);
    }
    if (!l->json && ok)
        fprintf(stderr, "  %-8d %-20.20s %-12d %-6d %11d %7.1f MB  checksum ok, %s\n", r, k->host, k->pid,
                m->u.loaded.n_chips, m->u.loaded.n_cores, (double)m->u.loaded.state_bytes / 1e6, m->u.loaded.msg);
    if (d->ranks_json) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "rank", r);
        cJSON_AddStringToObject(x, "host", k->host);
        cJSON_AddNumberToObject(x, "pid", k->pid);
        cJSON_AddStringToObject(x, "spike_endpoint", k->spike_ep);
        cJSON_AddNumberToObject(x, "chips", m->u.loaded.n_chips);
        cJSON_AddNumberToObject(x, "cores", m->u.loaded.n_cores);
        cJSON_AddNumberToObject(x, "state_bytes", (double)m->u.loaded.state_bytes);
        cJSON_AddBoolToObject(x, "checksum_ok", ok);
        cJSON_AddItemToArray(d->ranks_json, x);
    }
}

static stc_status_t deploy(const coord_opts_t *o, dep_t *d, stc_err_t *err) {
    double t0 = coord_now();
    if (!o->json) {
        char cp[48];
        fprintf(stderr, "stc-coord: deploying %s (%.1f MB, %d cores on %s) to %d rank%s\n", o->model,
                (double)d->len / 1e6, d->b->n_cores - 1, coord_chips_phrase(d->b, cp, sizeof cp), d->s.size,
                d->s.size == 1 ? "" : "s");
    }
    uint8_t *own = malloc((size_t)d->n_chips * 4);
    if (!own) return stc_err_set(err, STC_E_NOMEM, "out of memory");
    for (int c = 0; c < d->n_chips; c++) stc_le_put32(own + (size_t)c * 4, (uint32_t)d->owner[c]);
    stc_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = STC_MSG_DEPLOY;
    m.u.deploy.bundle = d->bytes, m.u.deploy.bundle_len = d->len, m.u.deploy.sum = d->sum;
    m.u.deploy.owner = own, m.u.deploy.n_chips = (uint32_t)d->n_chips, m.u.deploy.flags = d->flags;
    for (int r = 0; r < d->s.size; r++)
        if (coord_session_send(&d->s, r, &m, err)) {
            free(own);
            return err->status;
        }
    free(own);
    if (!o->json)
        fprintf(stderr, "  %-8s %-20s %-12s %-6s %11s %10s\n", "rank", "host", "pid", "chips", "cores", "memory");
    uint8_t *got = calloc((size_t)d->s.size, 1);
    loaded_t l = {0, {0}, o->json};
    stc_status_t st = got ? collect(d, STC_MSG_LOADED, 600, got, on_loaded, &l, err) : STC_E_NOMEM;
    free(got);
    if (st) return st;
    if (l.bad) {
        *err = l.err;
        return err->status;
    }
    for (int r = 0; r < d->s.size; r++) d->s.r[r].deployed = d->sum, d->s.r[r].dep_id = d->dep_id;
    if (!o->json)
        fprintf(stderr, "stc-coord: deployed to %d rank%s in %.2f s; every rank's checksum matches\n", d->s.size,
                d->s.size == 1 ? "" : "s", coord_now() - t0);
    return STC_OK;
}

/* Read the bundle (its bytes, their checksum, the parsed bundle); then connect, wait for the ranks and make
 * the owner map. */
static stc_status_t load_dep(const coord_opts_t *o, dep_t *d, stc_err_t *err) {
    memset(d, 0, sizeof *d);
    d->flags = o->digest ? 1 : 0;
    if (stc_read_file(o->model, (size_t)1 << 30, &d->bytes, &d->len, err)) /* DEPLOY's bundle limit */
        return err->status;
    d->sum = stc_proto_sum64(d->bytes, d->len);
    if (!(d->b = stc_bundle_read_mem(d->bytes, d->len, o->model, err))) return err->status;
    return STC_OK;
}

static stc_status_t connect_dep(const coord_opts_t *o, dep_t *d, stc_err_t *err) {
    if (coord_session_open(&d->s, o->endpoint, o->keys, o->node_timeout, err)) return err->status;
    if (!o->json) fprintf(stderr, "stc-coord: listening at %s%s\n", o->endpoint, d->s.has_keys ? " (CurveZMQ)" : "");
    if (coord_session_wait(&d->s, o->wait > 0 ? o->wait : 60, o->ranks, err)) return err->status;
    return assign(o, d, err);
}

static void close_dep(dep_t *d) {
    coord_session_close(&d->s);
    stc_bundle_destroy(&d->b);
    free(d->bytes), free(d->owner);
    cJSON_Delete(d->ranks_json);
}

static void stop_nodes(dep_t *d) {
    stc_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = STC_MSG_STOP;
    stc_err_t e = {0};
    for (int r = 0; r < d->s.size; r++) coord_session_send(&d->s, r, &m, &e);
    /* let the messages leave before the socket closes (linger covers the rest) */
    zmq_msg_t body;
    zmq_msg_init(&body);
    double t0 = coord_now();
    int byes = 0;
    while (byes < d->s.size && coord_now() - t0 < 3) {
        stc_msg_t x;
        int r;
        if (coord_session_recv(&d->s, 0.2, &body, &x, &r, &e)) break;
        if (r >= 0 && x.type == STC_MSG_BYE) byes++;
    }
    zmq_msg_close(&body);
}

int cmd_deploy(coord_opts_t *o) {
    if (!o->endpoint) {
        fprintf(stderr, "stc-coord: error: deploy needs --endpoint tcp://*:PORT, where the node job (mpirun stc-node "
                        "--coord tcp://THIS_HOST:PORT) connects\n");
        return 2;
    }
    dep_t d;
    stc_err_t err = {0};
    int rc = 0;
    if (load_dep(o, &d, &err) || connect_dep(o, &d, &err)) {
        rc = fail(&err);
        goto out;
    }
    if (o->json) d.ranks_json = cJSON_CreateArray();
    if (deploy(o, &d, &err)) {
        rc = fail(&err);
        goto out;
    }
    if (o->json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "bundle", o->model);
        char hex[24];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)d.sum);
        cJSON_AddStringToObject(r, "checksum", hex);
        cJSON_AddStringToObject(r, "topology", d.b->topology);
        cJSON_AddNumberToObject(r, "n_ranks", d.s.size);
        cJSON_AddNumberToObject(r, "cores", d.b->n_cores - 1);
        cJSON_AddNumberToObject(r, "chips", d.b->n_chips);
        cJSON *ow = cJSON_AddArrayToObject(r, "chip_owner");
        for (int c = 0; c < d.n_chips; c++) cJSON_AddItemToArray(ow, cJSON_CreateNumber(d.owner[c]));
        cJSON_AddItemToObject(r, "ranks", d.ranks_json);
        d.ranks_json = NULL;
        char *s = cJSON_PrintUnformatted(r);
        puts(s);
        free(s);
        cJSON_Delete(r);
    }
    if (o->stop_nodes) stop_nodes(&d);
out:
    close_dep(&d);
    return rc;
}

int cmd_stop(coord_opts_t *o) {
    if (!o->endpoint) {
        fprintf(stderr, "stc-coord: error: stop needs --endpoint tcp://*:PORT\n");
        return 2;
    }
    coord_session_t s;
    stc_err_t err = {0};
    if (coord_session_open(&s, o->endpoint, o->keys, o->node_timeout, &err) ||
        coord_session_wait(&s, o->wait > 0 ? o->wait : 60, o->ranks, &err)) {
        coord_session_close(&s);
        return fail(&err);
    }
    dep_t d;
    memset(&d, 0, sizeof d);
    d.s = s;
    stop_nodes(&d);
    if (!o->json) fprintf(stderr, "stc-coord: asked the %d rank%s to stop\n", s.size, s.size == 1 ? "" : "s");
    coord_session_close(&d.s);
    return 0;
}

/* ------------------------------------------------------------------ run */

typedef struct {
    dep_t *d;
    const coord_opts_t *o;
    const stc_input_t *in;
    int64_t n;
    float *logits;
    int64_t *spikes;
    uint64_t *digest;
    uint8_t *have;            /* per input: RESULT arrived */
    int64_t done, correct;
    double *latency;
    uint64_t inputs_sum;
    /* the checkpoint being assembled */
    int64_t ck_tick, ck_index;
    uint8_t **ck_blob;
    uint64_t *ck_len;
    int ck_n;
    int64_t ck_written;
    const char *ck_path;
    stc_core_counters_t *cores, *stages;
    int stats;
    double tick_s, sync_s;
} runst_t;

static void ck_reset(runst_t *r) {
    for (int k = 0; k < r->d->s.size; k++) {
        free(r->ck_blob[k]);
        r->ck_blob[k] = NULL;
        r->ck_len[k] = 0;
    }
    r->ck_n = 0, r->ck_tick = -1;
}

/* Write the pending checkpoint once every rank's blob and every earlier result is in. */
static stc_status_t ck_flush(runst_t *r, stc_err_t *err) {
    if (r->ck_n < r->d->s.size) return STC_OK;
    for (int64_t i = 0; i < r->ck_index; i++)
        if (!r->have[i]) return STC_OK;
    const stc_bundle_t *b = r->d->b;
    coord_runckpt_t c;
    memset(&c, 0, sizeof c);
    c.bundle_sum = r->d->sum, c.inputs_sum = r->inputs_sum, c.n_inputs = r->n;
    c.tick = r->ck_tick, c.index = r->ck_index, c.tick_in = r->ck_tick - r->ck_index * b->ticks;
    c.n_out = (uint32_t)b->n_out, c.n_stages = (uint32_t)b->n_stages;
    c.logits = r->logits, c.spikes = r->spikes, c.digest = r->digest;
    c.n_blobs = (uint32_t)r->d->s.size, c.blob = r->ck_blob, c.blob_len = r->ck_len;
    stc_status_t st = coord_runckpt_write(r->ck_path, &c, err);
    if (!st) {
        r->ck_written++;
        stc_log(STC_LOG_INFO, "coord", "checkpoint after tick %lld (input %lld) -> %s", (long long)r->ck_tick,
                (long long)r->ck_index, r->ck_path);
    }
    ck_reset(r);
    return st;
}

static void flat_counters(const uint8_t *p, int n, stc_core_counters_t *c) {
    for (int i = 0; i < n; i++, p += STC_COUNTERS_N * 8) {
        int64_t v[STC_COUNTERS_N];
        for (int k = 0; k < STC_COUNTERS_N; k++) v[k] = (int64_t)stc_le_get64(p + k * 8);
        c[i] = (stc_core_counters_t){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
    }
}

/* One message during the run. */
static stc_status_t on_run_msg(runst_t *r, int rank, const stc_msg_t *m, stc_err_t *err) {
    const stc_bundle_t *b = r->d->b;
    switch (m->type) {
    case STC_MSG_RESULT: {
        int64_t i = m->u.result.index;
        if (rank != 0 || i < 0 || i >= r->n || r->have[i] || m->u.result.n_logits != (uint32_t)b->n_out ||
            m->u.result.n_stages != (uint32_t)b->n_stages) {
            stc_log(STC_LOG_WARN, "coord", "dropped a RESULT from rank %d for input %lld (unexpected)", rank,
                    (long long)i);
            return STC_OK;
        }
        const stc_stage_t *out = &b->stages[b->output_stage];
        for (int k = 0; k < b->n_out; k++)
            r->logits[i * b->n_out + k] = stc_logit((int64_t)stc_le_get64(m->u.result.rsum + k * 8), out->qstep, b->T);
        for (int k = 0; k < b->n_stages; k++)
            r->spikes[i * b->n_stages + k] = (int64_t)stc_le_get64(m->u.result.spikes + k * 8);
        r->digest[i] = m->u.result.digest;
        r->latency[i] = m->u.result.seconds;
        r->have[i] = 1, r->done++;
        if (r->in->labels && coord_argmax(r->logits + i * b->n_out, b->n_out) == r->in->labels[i]) r->correct++;
        return r->ck_path ? ck_flush(r, err) : STC_OK;
    }
    case STC_MSG_STATS:
        if (rank != 0 || m->u.stats.n_cores != (uint32_t)b->n_cores || m->u.stats.n_stages != (uint32_t)b->n_stages)
            return STC_OK;
        flat_counters(m->u.stats.cores, b->n_cores, r->cores);
        flat_counters(m->u.stats.stages, b->n_stages, r->stages);
        r->tick_s = m->u.stats.tick_seconds, r->sync_s = m->u.stats.sync_seconds;
        r->stats = 1;
        return STC_OK;
    case STC_MSG_CKPT:
        if (!r->ck_path) return STC_OK;
        if (m->u.ckpt.tick != r->ck_tick) { /* a new tick's set starts (an unfinished older one is superseded) */
            ck_reset(r);
            r->ck_tick = m->u.ckpt.tick, r->ck_index = m->u.ckpt.index;
        }
        if (r->ck_blob[rank] || m->u.ckpt.index < 0 || m->u.ckpt.index >= r->n) return STC_OK;
        if (!(r->ck_blob[rank] = malloc(m->u.ckpt.blob_len ? m->u.ckpt.blob_len : 1)))
            return stc_err_set(err, STC_E_NOMEM, "out of memory for a checkpoint");
        memcpy(r->ck_blob[rank], m->u.ckpt.blob, m->u.ckpt.blob_len);
        r->ck_len[rank] = m->u.ckpt.blob_len;
        r->ck_n++;
        return ck_flush(r, err);
    case STC_MSG_ERROR: return stc_err_set(err, STC_E_PEER, "%s", m->u.text.msg);
    default: return STC_OK;
    }
}

static stc_status_t send_batch(runst_t *r, int64_t first, int64_t count, int64_t tick0, int last, stc_err_t *err) {
    const stc_bundle_t *b = r->d->b;
    uint64_t per = (uint64_t)b->in_c * b->in_h * b->in_w;
    stc_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = STC_MSG_RUN;
    m.u.run.first = first, m.u.run.n_images = (uint32_t)count, m.u.run.floats = per;
    m.u.run.images = (const uint8_t *)(r->in->data + (size_t)first * per); /* float32, little-endian as this host */
    m.u.run.ckpt_every = r->o->ckpt_every, m.u.run.tick0 = tick0, m.u.run.last = (uint32_t)last;
    for (int k = 0; k < r->d->s.size; k++)
        if (coord_session_send(&r->d->s, k, &m, err)) return err->status;
    return STC_OK;
}

static stc_status_t restore(runst_t *r, const coord_runckpt_t *c, stc_err_t *err) {
    const stc_bundle_t *b = r->d->b;
    if (c->bundle_sum != r->d->sum)
        return stc_err_set(err, STC_E_USAGE, "%s was saved for another bundle (checksum %016llx, %s is %016llx)",
                           r->ck_path, (unsigned long long)c->bundle_sum, r->o->model, (unsigned long long)r->d->sum);
    if (c->inputs_sum != r->inputs_sum || c->n_inputs != r->n)
        return stc_err_set(err, STC_E_USAGE, "%s was saved for other inputs (%lld inputs; these are %lld, or their "
                                             "contents differ): resume with the same --input/--dataset/--limit",
                           r->ck_path, (long long)c->n_inputs, (long long)r->n);
    if (c->n_out != (uint32_t)b->n_out || c->n_stages != (uint32_t)b->n_stages || c->tick_in < 0 ||
        c->tick_in + 1 >= b->ticks)
        return stc_err_set(err, STC_E_FORMAT, "%s does not fit %s (outputs, stages or tick)", r->ck_path,
                           r->o->model);
    for (int64_t i = 0; i < c->index; i++) {
        memcpy(r->logits + i * b->n_out, c->logits + i * b->n_out, (size_t)b->n_out * sizeof(float));
        memcpy(r->spikes + i * b->n_stages, c->spikes + i * b->n_stages, (size_t)b->n_stages * 8);
        r->digest[i] = c->digest[i];
        r->have[i] = 1, r->done++;
        if (r->in->labels && coord_argmax(r->logits + i * b->n_out, b->n_out) == r->in->labels[i]) r->correct++;
    }
    stc_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = STC_MSG_RESTORE;
    m.u.ckpt.tick = c->tick, m.u.ckpt.index = c->index;
    for (uint32_t k = 0; k < c->n_blobs; k++) {
        m.u.ckpt.blob = c->blob[k], m.u.ckpt.blob_len = c->blob_len[k];
        for (int q = 0; q < r->d->s.size; q++)
            if (coord_session_send(&r->d->s, q, &m, err)) return err->status;
    }
    fprintf(stderr, "stc-coord: resuming from %s: input %lld, after tick %lld of %d (%lld inputs done)\n",
                r->ck_path, (long long)c->index, (long long)c->tick_in, b->ticks, (long long)c->index);
    return STC_OK;
}

int cmd_run_distributed(coord_opts_t *o) {
    stc_input_t *in = NULL;
    dep_t d;
    stc_err_t err = {0};
    if (load_dep(o, &d, &err)) { /* the bundle is read once: its bytes are deployed, the parse checks the inputs */
        close_dep(&d);
        return fail(&err);
    }
    int rc = coord_load_inputs(o, d.b, &in, 0);
    if (rc) {
        close_dep(&d);
        stc_input_destroy(&in);
        return rc;
    }
    runst_t r;
    memset(&r, 0, sizeof r);
    char ckpath[4096];
    coord_runckpt_t ck;
    memset(&ck, 0, sizeof ck);
    /* everything local is read before waiting for the node job */
    if (o->ckpt_every || o->resume) {
        snprintf(ckpath, sizeof ckpath, "%s", o->ckpt ? o->ckpt : "");
        if (!o->ckpt) snprintf(ckpath, sizeof ckpath, "%s.ckpt", o->model);
        r.ck_path = ckpath;
    }
    if (o->resume && coord_runckpt_read(r.ck_path, &ck, &err)) goto failed;
    if (connect_dep(o, &d, &err)) goto failed;
    const stc_bundle_t *b = d.b;
    r.d = &d, r.o = o, r.in = in, r.n = in->n;
    r.logits = calloc((size_t)r.n * b->n_out, sizeof(float));
    r.spikes = calloc((size_t)r.n * b->n_stages, sizeof(int64_t));
    r.digest = calloc((size_t)r.n, sizeof(uint64_t));
    r.have = calloc((size_t)r.n, 1);
    r.latency = calloc((size_t)r.n, sizeof(double));
    r.cores = calloc((size_t)b->n_cores, sizeof *r.cores);
    r.stages = calloc((size_t)b->n_stages, sizeof *r.stages);
    r.ck_blob = calloc((size_t)d.s.size, sizeof *r.ck_blob);
    r.ck_len = calloc((size_t)d.s.size, sizeof *r.ck_len);
    r.ck_tick = -1;
    if (!r.logits || !r.spikes || !r.digest || !r.have || !r.latency || !r.cores || !r.stages || !r.ck_blob ||
        !r.ck_len) {
        stc_err_set(&err, STC_E_NOMEM, "out of memory");
        goto failed;
    }
    r.inputs_sum = stc_proto_sum64(in->data, (size_t)in->n * in->c * in->h * in->w * sizeof(float));
    /* the ranks hold this deployment already (same bundle, owners and flags): run on it */
    int reuse = !o->resume;
    for (int k = 0; k < d.s.size; k++) reuse &= d.s.r[k].deployed == d.sum && d.s.r[k].dep_id == d.dep_id;
    if (reuse) fprintf(stderr, "stc-coord: the ranks hold this deployment already\n");
    if (!reuse && deploy(o, &d, &err)) goto failed;
    int64_t next = 0, tick0 = 0;
    if (o->resume) {
        if (restore(&r, &ck, &err)) goto failed;
        next = ck.index, tick0 = ck.tick_in + 1;
    }
    int batch = o->batch > 0 ? o->batch : 8;
    double t0 = coord_now();
    int show = (o->progress || (isatty(2) && !o->json)) && !o->no_progress && r.n > 1;
    int64_t sent_upto = next;
    double shown = 0;
    while (r.done < r.n || !r.stats) {
        /* keep two batches in flight */
        while (sent_upto < r.n && sent_upto - r.done < 2 * batch) {
            int64_t cnt = r.n - sent_upto < batch ? r.n - sent_upto : batch;
            int last = sent_upto + cnt == r.n;
            if (send_batch(&r, sent_upto, cnt, sent_upto == next ? tick0 : 0, last, &err)) goto failed;
            sent_upto += cnt;
        }
        zmq_msg_t body;
        zmq_msg_init(&body);
        stc_msg_t m;
        int rank;
        stc_status_t st = coord_session_recv(&d.s, 0.1, &body, &m, &rank, &err);
        if (!st && rank >= 0) st = on_run_msg(&r, rank, &m, &err);
        zmq_msg_close(&body);
        if (st) goto failed;
        if (coord_session_check(&d.s, &err)) goto failed;
        if (show && coord_now() - shown > 0.2) {
            coord_progress(r.done, r.n, coord_now() - t0, r.correct, in->labels != NULL);
            shown = coord_now();
        }
    }
    double secs = coord_now() - t0;
    if (show) {
        coord_progress(r.done, r.n, secs, r.correct, in->labels != NULL);
        fputc('\n', stderr);
    }
    if (o->stop_nodes) stop_nodes(&d);
    coord_runres_t res;
    memset(&res, 0, sizeof res);
    res.n = r.n, res.logits = r.logits, res.spikes = r.spikes, res.digest = r.digest, res.cores = r.cores;
    res.stages = r.stages, res.correct = r.correct, res.secs = secs, res.ranks = d.s.size;
    res.tick_s = r.tick_s, res.sync_s = r.sync_s;
    double lat = 0;
    for (int64_t i = next; i < r.n; i++) lat += r.latency[i];
    res.wall_latency_s = r.n > next ? lat / (double)(r.n - next) : 0;
    cJSON *extra = NULL;
    if (o->json) {
        extra = cJSON_CreateObject();
        cJSON_AddNumberToObject(extra, "n_ranks", d.s.size);
        cJSON_AddStringToObject(extra, "topology", b->topology);
        cJSON_AddNumberToObject(extra, "chips_used", stc_bundle_chips_used(b));
        cJSON_AddNumberToObject(extra, "chips", b->n_chips);
        cJSON_AddNumberToObject(extra, "tick_ms", 1e3 * r.tick_s);
        cJSON_AddNumberToObject(extra, "tick_exchange_sync_ms", 1e3 * r.sync_s);
        cJSON_AddNumberToObject(extra, "wall_latency_ms", 1e3 * res.wall_latency_s);
        cJSON_AddNumberToObject(extra, "checkpoints_written", (double)r.ck_written);
        cJSON *ow = cJSON_AddArrayToObject(extra, "chip_owner");
        for (int c = 0; c < d.n_chips; c++) cJSON_AddItemToArray(ow, cJSON_CreateNumber(d.owner[c]));
    }
    rc = coord_run_report(o, b, in, &res, extra);
    goto out;
failed:
    if (isatty(2) && !o->json) fputc('\n', stderr);
    coord_fail(&err);
    rc = 1;
out:
    if (r.ck_blob) ck_reset(&r);
    free(r.ck_blob), free(r.ck_len);
    free(r.logits), free(r.spikes), free(r.digest), free(r.have), free(r.latency), free(r.cores), free(r.stages);
    coord_runckpt_free(&ck);
    close_dep(&d);
    stc_input_destroy(&in);
    return rc;
}
