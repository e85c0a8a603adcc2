/* bundle_io.c - the .stc file: a bundle written and read byte by byte.
 *
 * The layout is docs/bundle.md: a 32-byte header (magic, format version,
 * flags, body length, CRC-32 of the body), then tagged sections MANF, STAG,
 * PROJ, CORE, TRGT and the optional topo and link (the placement's topology
 * file and expected link traffic) and rate (the stages' measured firing
 * rates), each a 4-byte tag, a u64 length and its
 * payload; every number little-endian and written by the put_/rd_ helpers
 * below, never as a struct dump.  The writer and the reader walk the fields in the same order
 * (ORDER FIELDS: a field added to one is added to the other and to the doc).
 *
 * The reader parses untrusted bytes: it checks the header, the checksum, then
 * every count against its limit (stc_bundle.h) and against the bytes left in
 * its section before allocating, and finally hands the bundle to
 * stc_bundle_validate() for every index and cross-reference.  The writer only
 * refuses what it cannot encode; the lowering validates what it builds.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define HDR_BYTES 32 /* magic 8, version 4, flags 4, body length 8, CRC-32 4, reserved 4 */
#define SEC_HDR_BYTES 12 /* tag 4, payload length 8 */

/* PNG-style: a high byte first (a binary file, not text), "STC", then CR LF,
 * ^Z, LF so that a transfer that rewrites line endings is caught at once. */
static const unsigned char MAGIC[8] = {0x89, 'S', 'T', 'C', '\r', '\n', 0x1a, '\n'};

/* The critical sections, in the order they must appear, each once.  A tag
 * whose first byte is a lowercase letter is optional: readers skip it. */
enum { SEC_MANF, SEC_STAG, SEC_PROJ, SEC_CORE, SEC_TRGT, SEC_COUNT };
static const char SEC_TAG[SEC_COUNT][5] = {"MANF", "STAG", "PROJ", "CORE", "TRGT"};
/* The optional sections this stc knows: after TRGT, in this order, each at
 * most once and only when there is something in it (so that the encoding
 * stays canonical).  An older stc skips them. */
enum { OPT_TOPO, OPT_LINK, OPT_RATE, OPT_COUNT };
static const char OPT_TAG[OPT_COUNT][5] = {"topo", "link", "rate"};

/* Smallest encoding of one record: a count that claims more records than the
 * section's bytes can hold is refused before anything is allocated. */
#define STAGE_MIN_BYTES 88 /* name length 4, 8 x i32, 2 x i64, 6 x i32, f64, n_bias 4 */
#define PROJ_MIN_BYTES 52  /* 11 x i32, n_w 8 */
#define CORE_MIN_BYTES 60  /* 3 x i32, 6 x u32, 3 x i64 */
#define SLICE_BYTES 20     /* stage, c0, c1, y0, y1 */
#define AXON_RUN_BYTES 12  /* proj, src, n */
#define ROUTE_RUN_BYTES 16 /* neuron, n, core, axon */

_Static_assert(sizeof(int) == 4, "int fields are encoded as 32 bits");

/* Little-endian loads and stores: stc_le_* (base/stc_base.h). */

/* two's complement without implementation-defined conversions */
static int32_t to_i32(uint32_t u) {
    return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) - INT32_MAX - 1;
}

static int64_t to_i64(uint64_t u) {
    return u <= INT64_MAX ? (int64_t)u : (int64_t)(u - ((uint64_t)1 << 63)) - INT64_MAX - 1;
}

uint32_t stc_bundle_checksum(const unsigned char *data, size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    if (!data || n <= HDR_BYTES) return (uint32_t)crc;
    const unsigned char *p = data + HDR_BYTES;
    size_t left = n - HDR_BYTES;
    while (left) { /* crc32() takes a uInt length */
        uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
        crc = crc32(crc, p, k);
        p += k, left -= k;
    }
    return (uint32_t)crc;
}

/* ------------------------------------------------------------------ writer */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} wbuf_t;

static unsigned char *w_grab(wbuf_t *w, size_t k) {
    if (w->oom) return NULL;
    if (k > w->cap - w->n) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->n < k) {
            if (cap > SIZE_MAX / 2) {
                w->oom = 1;
                return NULL;
            }
            cap *= 2;
        }
        unsigned char *np = realloc(w->p, cap);
        if (!np) {
            w->oom = 1;
            return NULL;
        }
        w->p = np, w->cap = cap;
    }
    unsigned char *q = w->p + w->n;
    w->n += k;
    return q;
}

static void put_bytes(wbuf_t *w, const void *src, size_t k) {
    unsigned char *q = w_grab(w, k);
    if (q && k) memcpy(q, src, k);
}

static void put_u32(wbuf_t *w, uint32_t v) {
    unsigned char *q = w_grab(w, 4);
    if (q) stc_le_put32(q, v);
}

static void put_u64(wbuf_t *w, uint64_t v) {
    unsigned char *q = w_grab(w, 8);
    if (q) stc_le_put64(q, v);
}

static void put_i32(wbuf_t *w, int32_t v) { put_u32(w, (uint32_t)v); }
static void put_i64(wbuf_t *w, int64_t v) { put_u64(w, (uint64_t)v); }

static void put_f32(wbuf_t *w, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(w, u);
}

static void put_f64(wbuf_t *w, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(w, u);
}

/* u32 length, then the bytes (no NUL) */
static void put_str(wbuf_t *w, const char *s) {
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put_bytes(w, s, n);
}

static size_t sec_begin_tag(wbuf_t *w, const char *tag) {
    put_bytes(w, tag, 4);
    size_t at = w->n;
    put_u64(w, 0);
    return at;
}

static size_t sec_begin(wbuf_t *w, int sec) { return sec_begin_tag(w, SEC_TAG[sec]); }

static void sec_end(wbuf_t *w, size_t at) {
    if (!w->oom) stc_le_put64(w->p + at, (uint64_t)(w->n - at - 8));
}

/* What the writer needs to encode safely; the meaning is validate's business. */
static stc_status_t writable(const stc_bundle_t *b, stc_err_t *err) {
    if (!b) return stc_err_set(err, STC_E_USAGE, "bundle write: no bundle");
    const struct {
        const char *f;
        const char *s;
        size_t cap;
    } str[] = {{"model", b->model, sizeof b->model},       {"source", b->source, sizeof b->source},
               {"target", b->target, sizeof b->target},    {"options", b->options, sizeof b->options},
               {"dataset", b->dataset, sizeof b->dataset}, {"topology", b->topology, sizeof b->topology}};
    for (size_t i = 0; i < sizeof str / sizeof *str; i++)
        if (!memchr(str[i].s, 0, str[i].cap))
            return stc_err_set(err, STC_E_USAGE, "bundle write: manifest field '%s' is not NUL-terminated", str[i].f);
    if (b->n_stages < 0 || b->n_stages > STC_BUNDLE_MAX_STAGES || (b->n_stages && !b->stages))
        return stc_err_set(err, STC_E_USAGE, "bundle write: %d stages (limit %d)", b->n_stages, STC_BUNDLE_MAX_STAGES);
    if (b->n_projs < 0 || b->n_projs > STC_BUNDLE_MAX_PROJS || (b->n_projs && !b->projs))
        return stc_err_set(err, STC_E_USAGE, "bundle write: %d projections (limit %d)", b->n_projs,
                           STC_BUNDLE_MAX_PROJS);
    if (b->n_cores < 0 || b->n_cores > STC_BUNDLE_MAX_CORES || (b->n_cores && !b->cores))
        return stc_err_set(err, STC_E_USAGE, "bundle write: %d cores (limit %d)", b->n_cores, STC_BUNDLE_MAX_CORES);
    for (int i = 0; i < b->n_stages; i++) {
        const stc_stage_t *s = &b->stages[i];
        if (!memchr(s->name, 0, sizeof s->name))
            return stc_err_set(err, STC_E_USAGE, "bundle write: stage %d: name is not NUL-terminated", i);
        if (s->bias && (s->c < 1 || s->c > STC_BUNDLE_MAX_DIM))
            return stc_err_set(err, STC_E_USAGE, "bundle write: stage %d '%s': a bias of c = %d entries", i, s->name,
                               s->c);
    }
    for (int i = 0; i < b->n_projs; i++) {
        const stc_proj_t *p = &b->projs[i];
        if (p->n_w < 0 || p->n_w > STC_BUNDLE_MAX_WEIGHTS || (p->n_w && !p->w))
            return stc_err_set(err, STC_E_USAGE, "bundle write: projection %d: %lld weights%s (limit %d)", i,
                               (long long)p->n_w, p->w ? "" : " without an array", STC_BUNDLE_MAX_WEIGHTS);
    }
    for (int i = 0; i < b->n_cores; i++) {
        const stc_core_t *c = &b->cores[i];
        if (c->n_slices < 0 || c->n_slices > STC_BUNDLE_MAX_SLICES || (c->n_slices && !c->slices) ||
            c->n_axons < 0 || c->n_axons > STC_BUNDLE_MAX_AXONS || c->n_axon_runs < 0 ||
            c->n_axon_runs > STC_BUNDLE_MAX_AXONS || (c->n_axon_runs && !c->axon_runs) || c->n_neurons < 0 ||
            c->n_neurons > STC_BUNDLE_MAX_CORE_NEURONS || c->n_routes < 0 || c->n_routes > STC_BUNDLE_MAX_ROUTES ||
            c->n_route_runs < 0 || c->n_route_runs > STC_BUNDLE_MAX_ROUTES || (c->n_route_runs && !c->route_runs))
            return stc_err_set(err, STC_E_USAGE,
                               "bundle write: core %d: %d slices, %d axons in %d runs, %d neurons, %d routes in %d "
                               "runs: counts out of range or a table missing",
                               i, c->n_slices, c->n_axons, c->n_axon_runs, c->n_neurons, c->n_routes,
                               c->n_route_runs);
    }
    if (b->target_json && strnlen(b->target_json, (size_t)STC_BUNDLE_MAX_TARGET_JSON + 1) > STC_BUNDLE_MAX_TARGET_JSON)
        return stc_err_set(err, STC_E_LIMIT, "bundle write: the target descriptor is over %d bytes",
                           STC_BUNDLE_MAX_TARGET_JSON);
    if (b->topology_json &&
        strnlen(b->topology_json, (size_t)STC_BUNDLE_MAX_TOPOLOGY_JSON + 1) > STC_BUNDLE_MAX_TOPOLOGY_JSON)
        return stc_err_set(err, STC_E_LIMIT, "bundle write: field 'topology_json' is over %d bytes",
                           STC_BUNDLE_MAX_TOPOLOGY_JSON);
    if (b->n_links < 0 || b->n_links > STC_BUNDLE_MAX_LINKS || (b->n_links && !b->link_traffic))
        return stc_err_set(err, STC_E_USAGE, "bundle write: field 'n_links' is %d%s (limit %d)", b->n_links,
                           b->link_traffic ? "" : " without an array", STC_BUNDLE_MAX_LINKS);
    return STC_OK;
}

/* ORDER FIELDS: the encoders below and the decoders of the reader. */
static void put_manifest(wbuf_t *w, const stc_bundle_t *b) {
    size_t at = sec_begin(w, SEC_MANF);
    put_str(w, b->model);
    put_str(w, b->source);
    put_str(w, b->target);
    put_str(w, b->options);
    put_str(w, b->dataset);
    put_str(w, b->topology);
    const int ints[] = {b->T,    b->ticks, b->n_chips, b->input_stage, b->output_stage,
                        b->in_c, b->in_h,  b->in_w,    b->n_out,       b->n_norm};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) put_i32(w, ints[i]);
    for (int i = 0; i < 4; i++) put_f32(w, b->norm_mean[i]);
    for (int i = 0; i < 4; i++) put_f32(w, b->norm_std[i]);
    put_f64(w, b->pytorch_accuracy);
    sec_end(w, at);
}

static void put_stages(wbuf_t *w, const stc_bundle_t *b) {
    size_t at = sec_begin(w, SEC_STAG);
    put_u32(w, (uint32_t)b->n_stages);
    for (int i = 0; i < b->n_stages; i++) {
        const stc_stage_t *s = &b->stages[i];
        put_str(w, s->name);
        const int a[] = {s->ir_node, s->kind, s->c, s->h, s->w, s->depth, s->shl, s->dk};
        for (size_t k = 0; k < sizeof a / sizeof *a; k++) put_i32(w, a[k]);
        put_i64(w, s->vth);
        put_i64(w, s->vreset);
        const int r[] = {s->rsh, s->pbits, s->dense, s->qexp, s->heads, s->mul};
        for (size_t k = 0; k < sizeof r / sizeof *r; k++) put_i32(w, r[k]);
        put_f64(w, s->qstep);
        put_u32(w, s->bias ? (uint32_t)s->c : 0);
        for (int c = 0; s->bias && c < s->c; c++) put_i64(w, s->bias[c]);
    }
    sec_end(w, at);
}

static void put_projs(wbuf_t *w, const stc_bundle_t *b) {
    size_t at = sec_begin(w, SEC_PROJ);
    put_u32(w, (uint32_t)b->n_projs);
    for (int i = 0; i < b->n_projs; i++) {
        const stc_proj_t *p = &b->projs[i];
        const int a[] = {p->src, p->dst, p->kind, p->k, p->stride, p->pad, p->delay, p->shift, p->co, p->ci, p->c0};
        for (size_t k = 0; k < sizeof a / sizeof *a; k++) put_i32(w, a[k]);
        put_u64(w, (uint64_t)p->n_w);
        put_bytes(w, p->w, (size_t)p->n_w); /* int8: one byte each, as is */
    }
    sec_end(w, at);
}

static void put_cores(wbuf_t *w, const stc_bundle_t *b) {
    size_t at = sec_begin(w, SEC_CORE);
    put_u32(w, (uint32_t)b->n_cores);
    for (int i = 0; i < b->n_cores; i++) {
        const stc_core_t *c = &b->cores[i];
        put_i32(w, c->chip);
        put_i32(w, c->x);
        put_i32(w, c->y);
        put_u32(w, (uint32_t)c->n_slices);
        put_u32(w, (uint32_t)c->n_axons);
        put_u32(w, (uint32_t)c->n_axon_runs);
        put_u32(w, (uint32_t)c->n_neurons);
        put_u32(w, (uint32_t)c->n_routes);
        put_u32(w, (uint32_t)c->n_route_runs);
        put_i64(w, c->mem_state);
        put_i64(w, c->mem_syn);
        put_i64(w, c->mem_axon);
        for (int k = 0; k < c->n_slices; k++) {
            const stc_slice_t *s = &c->slices[k];
            const int a[] = {s->stage, s->c0, s->c1, s->y0, s->y1};
            for (size_t j = 0; j < 5; j++) put_i32(w, a[j]);
        }
        for (int k = 0; k < c->n_axon_runs; k++) {
            const stc_axon_run_t *a = &c->axon_runs[k];
            put_i32(w, a->proj);
            put_i32(w, a->src);
            put_i32(w, a->n);
        }
        for (int k = 0; k < c->n_route_runs; k++) {
            const stc_route_run_t *r = &c->route_runs[k];
            put_i32(w, r->neuron);
            put_i32(w, r->n);
            put_i32(w, r->core);
            put_i32(w, r->axon);
        }
    }
    sec_end(w, at);
}

stc_status_t stc_bundle_write_mem(const stc_bundle_t *b, unsigned char **data, size_t *n, stc_err_t *err) {
    *data = NULL;
    *n = 0;
    stc_status_t st = writable(b, err);
    if (st) return st;
    wbuf_t w = {0};
    unsigned char *h = w_grab(&w, HDR_BYTES);
    if (h) memset(h, 0, HDR_BYTES);
    put_manifest(&w, b);
    put_stages(&w, b);
    put_projs(&w, b);
    put_cores(&w, b);
    size_t at = sec_begin(&w, SEC_TRGT);
    if (b->target_json) put_bytes(&w, b->target_json, strlen(b->target_json));
    sec_end(&w, at);
    if (b->topology_json && b->topology_json[0]) {
        at = sec_begin_tag(&w, OPT_TAG[OPT_TOPO]);
        put_bytes(&w, b->topology_json, strlen(b->topology_json));
        sec_end(&w, at);
    }
    if (b->n_links > 0) {
        at = sec_begin_tag(&w, OPT_TAG[OPT_LINK]);
        put_u32(&w, (uint32_t)b->n_links);
        for (int l = 0; l < b->n_links; l++) put_f64(&w, b->link_traffic[l]);
        sec_end(&w, at);
    }
    if (b->stage_rate && b->n_stages > 0) {
        at = sec_begin_tag(&w, OPT_TAG[OPT_RATE]);
        put_u32(&w, (uint32_t)b->n_stages);
        for (int s = 0; s < b->n_stages; s++) put_f64(&w, b->stage_rate[s]);
        sec_end(&w, at);
    }
    if (w.oom) {
        free(w.p);
        return stc_err_set(err, STC_E_NOMEM, "bundle write: out of memory (%zu bytes so far)", w.n);
    }
    if ((uint64_t)w.n > STC_BUNDLE_MAX_FILE_BYTES) {
        free(w.p);
        return stc_err_set(err, STC_E_LIMIT, "bundle write: %zu bytes, over the bundle limit of %llu", w.n,
                           (unsigned long long)STC_BUNDLE_MAX_FILE_BYTES);
    }
    memcpy(w.p, MAGIC, 8);
    stc_le_put32(w.p + 8, STC_BUNDLE_VERSION);
    stc_le_put32(w.p + 12, 0); /* flags */
    stc_le_put64(w.p + 16, (uint64_t)(w.n - HDR_BYTES));
    stc_le_put32(w.p + 24, stc_bundle_checksum(w.p, w.n));
    stc_le_put32(w.p + 28, 0); /* reserved */
    *data = w.p;
    *n = w.n;
    return STC_OK;
}

/* Written to PATH.tmpPID and renamed, so that a reader never sees half a file. */
stc_status_t stc_bundle_write(const stc_bundle_t *b, const char *path, stc_err_t *err) {
    unsigned char *data;
    size_t n;
    stc_status_t st = stc_bundle_write_mem(b, &data, &n, err);
    if (st) return stc_err_prefix(err, "%s", path);
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp) {
        free(data);
        return stc_err_set(err, STC_E_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, tl, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = stc_err_set(err, STC_E_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    } else {
        size_t put = fwrite(data, 1, n, f);
        int e = errno;
        if (fclose(f) != 0 && put == n) e = errno, put = 0;
        if (put != n) st = stc_err_set(err, STC_E_IO, "%s: cannot write %zu bytes: %s", path, n, strerror(e));
        else if (rename(tmp, path) != 0)
            st = stc_err_set(err, STC_E_IO, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        if (st) remove(tmp);
    }
    free(tmp);
    free(data);
    return st;
}

/* ------------------------------------------------------------------ reader */

typedef struct {
    const char *file;
    const unsigned char *p; /* the section's payload */
    size_t n, off;          /* its length, the read position */
    size_t base;            /* file offset of p[0] */
    char sec[24];           /* the section's tag, escaped */
    char what[160];         /* the record being read ("stage 3 'x'"), or "" */
    stc_err_t *err;
} rd_t;

__attribute__((format(printf, 3, 4))) static int rfail(rd_t *r, stc_status_t st, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    stc_err_set(r->err, st, "%s: section '%s' at byte %zu: %s%s%s", r->file, r->sec, r->base - SEC_HDR_BYTES,
                r->what, r->what[0] ? ": " : "", msg);
    return 0;
}

/* k bytes of field f, or 0 with the error set */
static const unsigned char *take(rd_t *r, size_t k, const char *f) {
    if (r->n - r->off < k) {
        rfail(r, STC_E_FORMAT, "field '%s' at byte %zu needs %zu bytes, the section ends %zu bytes later", f,
              r->base + r->off, k, r->n - r->off);
        return NULL;
    }
    const unsigned char *q = r->p + r->off;
    r->off += k;
    return q;
}

static int rd_u32(rd_t *r, const char *f, uint32_t *v) {
    const unsigned char *q = take(r, 4, f);
    if (q) *v = stc_le_get32(q);
    return q != NULL;
}

static int rd_u64(rd_t *r, const char *f, uint64_t *v) {
    const unsigned char *q = take(r, 8, f);
    if (q) *v = stc_le_get64(q);
    return q != NULL;
}

static int rd_i32(rd_t *r, const char *f, int *v) {
    uint32_t u;
    if (!rd_u32(r, f, &u)) return 0;
    *v = to_i32(u);
    return 1;
}

static int rd_i64(rd_t *r, const char *f, int64_t *v) {
    uint64_t u;
    if (!rd_u64(r, f, &u)) return 0;
    *v = to_i64(u);
    return 1;
}

static int rd_f32(rd_t *r, const char *f, float *v) {
    uint32_t u;
    if (!rd_u32(r, f, &u)) return 0;
    memcpy(v, &u, 4);
    return 1;
}

static int rd_f64(rd_t *r, const char *f, double *v) {
    uint64_t u;
    if (!rd_u64(r, f, &u)) return 0;
    memcpy(v, &u, 8);
    return 1;
}

/* u32 length (at most cap - 1), then that many bytes, none of them NUL */
static int rd_str(rd_t *r, const char *f, char *dst, size_t cap) {
    uint32_t len;
    if (!rd_u32(r, f, &len)) return 0;
    if (len > cap - 1)
        return rfail(r, STC_E_FORMAT, "field '%s' is %u bytes long, at most %zu", f, len, cap - 1);
    const unsigned char *q = take(r, len, f);
    if (!q) return 0;
    if (memchr(q, 0, len)) return rfail(r, STC_E_FORMAT, "field '%s' contains a NUL byte", f);
    memcpy(dst, q, len);
    dst[len] = 0;
    return 1;
}

/* A count: at most `limit`, and `count` records of at least `min_bytes` each
 * must fit in what is left of the section. */
static int rd_count(rd_t *r, const char *f, const char *things, uint32_t limit, uint64_t min_bytes, uint32_t *v) {
    if (!rd_u32(r, f, v)) return 0;
    if (*v > limit) return rfail(r, STC_E_LIMIT, "field '%s' is %u %s, limit %u", f, *v, things, limit);
    if ((uint64_t)*v * min_bytes > r->n - r->off)
        return rfail(r, STC_E_FORMAT, "field '%s' is %u %s, which need at least %llu bytes; the section has %zu left",
                     f, *v, things, (unsigned long long)((uint64_t)*v * min_bytes), r->n - r->off);
    return 1;
}

static int rd_manifest(rd_t *r, stc_bundle_t *b) {
    if (!rd_str(r, "model", b->model, sizeof b->model) || !rd_str(r, "source", b->source, sizeof b->source) ||
        !rd_str(r, "target", b->target, sizeof b->target) || !rd_str(r, "options", b->options, sizeof b->options) ||
        !rd_str(r, "dataset", b->dataset, sizeof b->dataset) ||
        !rd_str(r, "topology", b->topology, sizeof b->topology))
        return 0;
    const struct {
        const char *f;
        int *v;
    } ints[] = {{"T", &b->T},
                {"ticks", &b->ticks},
                {"n_chips", &b->n_chips},
                {"input_stage", &b->input_stage},
                {"output_stage", &b->output_stage},
                {"in_c", &b->in_c},
                {"in_h", &b->in_h},
                {"in_w", &b->in_w},
                {"n_out", &b->n_out},
                {"n_norm", &b->n_norm}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (!rd_i32(r, ints[i].f, ints[i].v)) return 0;
    for (int i = 0; i < 4; i++)
        if (!rd_f32(r, "norm_mean", &b->norm_mean[i])) return 0;
    for (int i = 0; i < 4; i++)
        if (!rd_f32(r, "norm_std", &b->norm_std[i])) return 0;
    return rd_f64(r, "pytorch_accuracy", &b->pytorch_accuracy);
}

static int rd_stages(rd_t *r, stc_bundle_t *b) {
    uint32_t n;
    if (!rd_count(r, "n_stages", "stages", STC_BUNDLE_MAX_STAGES, STAGE_MIN_BYTES, &n)) return 0;
    b->stages = calloc(n ? n : 1, sizeof *b->stages);
    if (!b->stages) return rfail(r, STC_E_NOMEM, "out of memory for %u stages", n);
    b->n_stages = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        stc_stage_t *s = &b->stages[i];
        snprintf(r->what, sizeof r->what, "stage %u", i);
        if (!rd_str(r, "name", s->name, sizeof s->name)) return 0;
        char esc[120];
        stc_escape(esc, sizeof esc, s->name, strlen(s->name), 96);
        snprintf(r->what, sizeof r->what, "stage %u '%s'", i, esc);
        int *a[] = {&s->ir_node, &s->kind, &s->c, &s->h, &s->w, &s->depth, &s->shl, &s->dk};
        static const char *const af[] = {"ir_node", "kind", "c", "h", "w", "depth", "shl", "dk"};
        for (size_t k = 0; k < 8; k++)
            if (!rd_i32(r, af[k], a[k])) return 0;
        if (!rd_i64(r, "vth", &s->vth) || !rd_i64(r, "vreset", &s->vreset)) return 0;
        int *q[] = {&s->rsh, &s->pbits, &s->dense, &s->qexp, &s->heads, &s->mul};
        static const char *const qf[] = {"rsh", "pbits", "dense", "qexp", "heads", "mul"};
        for (size_t k = 0; k < 6; k++)
            if (!rd_i32(r, qf[k], q[k])) return 0;
        uint32_t nb;
        if (!rd_f64(r, "qstep", &s->qstep) || !rd_u32(r, "n_bias", &nb)) return 0;
        if (nb == 0) continue;
        if (s->c < 1 || nb != (uint32_t)s->c)
            return rfail(r, STC_E_FORMAT, "field 'n_bias' is %u, expected 0 or c = %d", nb, s->c);
        if ((uint64_t)nb * 8 > r->n - r->off)
            return rfail(r, STC_E_FORMAT, "%u biases need %llu bytes, the section has %zu left", nb,
                         (unsigned long long)nb * 8, r->n - r->off);
        s->bias = malloc((size_t)nb * sizeof *s->bias);
        if (!s->bias) return rfail(r, STC_E_NOMEM, "out of memory for %u biases", nb);
        for (uint32_t c = 0; c < nb; c++)
            if (!rd_i64(r, "bias", &s->bias[c])) return 0;
    }
    r->what[0] = 0;
    return 1;
}

static int rd_projs(rd_t *r, stc_bundle_t *b) {
    uint32_t n;
    if (!rd_count(r, "n_projs", "projections", STC_BUNDLE_MAX_PROJS, PROJ_MIN_BYTES, &n)) return 0;
    b->projs = calloc(n ? n : 1, sizeof *b->projs);
    if (!b->projs) return rfail(r, STC_E_NOMEM, "out of memory for %u projections", n);
    b->n_projs = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        stc_proj_t *p = &b->projs[i];
        snprintf(r->what, sizeof r->what, "projection %u", i);
        int *a[] = {&p->src, &p->dst,   &p->kind,  &p->k,  &p->stride, &p->pad,
                    &p->delay, &p->shift, &p->co, &p->ci, &p->c0};
        static const char *const af[] = {"src", "dst", "kind", "k", "stride", "pad", "delay", "shift", "co", "ci",
                                         "c0"};
        for (size_t k = 0; k < sizeof a / sizeof *a; k++)
            if (!rd_i32(r, af[k], a[k])) return 0;
        uint64_t nw;
        if (!rd_u64(r, "n_w", &nw)) return 0;
        if (nw > STC_BUNDLE_MAX_WEIGHTS)
            return rfail(r, STC_E_LIMIT, "field 'n_w' is %llu weights, limit %d", (unsigned long long)nw,
                         STC_BUNDLE_MAX_WEIGHTS);
        const unsigned char *q = take(r, (size_t)nw, "w");
        if (!q) return 0;
        p->n_w = (int64_t)nw;
        if (!nw) continue;
        p->w = malloc((size_t)nw);
        if (!p->w) return rfail(r, STC_E_NOMEM, "out of memory for %llu weights", (unsigned long long)nw);
        memcpy(p->w, q, (size_t)nw);
    }
    r->what[0] = 0;
    return 1;
}

static int rd_cores(rd_t *r, stc_bundle_t *b) {
    uint32_t n;
    if (!rd_count(r, "n_cores", "cores", STC_BUNDLE_MAX_CORES, CORE_MIN_BYTES, &n)) return 0;
    b->cores = calloc(n ? n : 1, sizeof *b->cores);
    if (!b->cores) return rfail(r, STC_E_NOMEM, "out of memory for %u cores", n);
    b->n_cores = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        stc_core_t *c = &b->cores[i];
        snprintf(r->what, sizeof r->what, "core %u", i);
        uint32_t ns, na, nar, nn, nr, nrr;
        if (!rd_i32(r, "chip", &c->chip) || !rd_i32(r, "x", &c->x) || !rd_i32(r, "y", &c->y) ||
            !rd_u32(r, "n_slices", &ns) || !rd_u32(r, "n_axons", &na) || !rd_u32(r, "n_axon_runs", &nar) ||
            !rd_u32(r, "n_neurons", &nn) || !rd_u32(r, "n_routes", &nr) || !rd_u32(r, "n_route_runs", &nrr) ||
            !rd_i64(r, "mem_state", &c->mem_state) || !rd_i64(r, "mem_syn", &c->mem_syn) ||
            !rd_i64(r, "mem_axon", &c->mem_axon))
            return 0;
        const struct {
            const char *f;
            uint32_t v, lim;
        } cnt[] = {{"n_slices", ns, STC_BUNDLE_MAX_SLICES},     {"n_axons", na, STC_BUNDLE_MAX_AXONS},
                   {"n_axon_runs", nar, STC_BUNDLE_MAX_AXONS},  {"n_neurons", nn, STC_BUNDLE_MAX_CORE_NEURONS},
                   {"n_routes", nr, STC_BUNDLE_MAX_ROUTES},     {"n_route_runs", nrr, STC_BUNDLE_MAX_ROUTES}};
        for (int k = 0; k < 6; k++)
            if (cnt[k].v > cnt[k].lim)
                return rfail(r, STC_E_LIMIT, "field '%s' is %u, limit %u", cnt[k].f, cnt[k].v, cnt[k].lim);
        /* a run holds at least one axon or route */
        if (nar > na) return rfail(r, STC_E_FORMAT, "field 'n_axon_runs' is %u, more than its %u axons", nar, na);
        if (nrr > nr) return rfail(r, STC_E_FORMAT, "field 'n_route_runs' is %u, more than its %u routes", nrr, nr);
        uint64_t need = (uint64_t)ns * SLICE_BYTES + (uint64_t)nar * AXON_RUN_BYTES + (uint64_t)nrr * ROUTE_RUN_BYTES;
        if (need > r->n - r->off)
            return rfail(r, STC_E_FORMAT, "%u slices, %u axon runs and %u route runs need %llu bytes, the section "
                                          "has %zu left",
                         ns, nar, nrr, (unsigned long long)need, r->n - r->off);
        c->slices = malloc((ns ? ns : 1) * sizeof *c->slices);
        c->axon_runs = malloc((nar ? nar : 1) * sizeof *c->axon_runs);
        c->route_runs = malloc((nrr ? nrr : 1) * sizeof *c->route_runs);
        if (!c->slices || !c->axon_runs || !c->route_runs)
            return rfail(r, STC_E_NOMEM, "out of memory for the core's tables (%llu bytes in the file)",
                         (unsigned long long)need);
        c->n_slices = (int)ns, c->n_axons = (int)na, c->n_axon_runs = (int)nar, c->n_neurons = (int)nn;
        c->n_routes = (int)nr, c->n_route_runs = (int)nrr;
        /* the sizes were checked: these reads cannot fail */
        for (uint32_t k = 0; k < ns; k++) {
            stc_slice_t *s = &c->slices[k];
            if (!rd_i32(r, "stage", &s->stage) || !rd_i32(r, "c0", &s->c0) || !rd_i32(r, "c1", &s->c1) ||
                !rd_i32(r, "y0", &s->y0) || !rd_i32(r, "y1", &s->y1))
                return 0;
        }
        for (uint32_t k = 0; k < nar; k++) {
            stc_axon_run_t *a = &c->axon_runs[k];
            if (!rd_i32(r, "proj", &a->proj) || !rd_i32(r, "src", &a->src) || !rd_i32(r, "n", &a->n)) return 0;
        }
        for (uint32_t k = 0; k < nrr; k++) {
            stc_route_run_t *q = &c->route_runs[k];
            if (!rd_i32(r, "neuron", &q->neuron) || !rd_i32(r, "n", &q->n) || !rd_i32(r, "core", &q->core) ||
                !rd_i32(r, "axon", &q->axon))
                return 0;
        }
    }
    r->what[0] = 0;
    return 1;
}

static int rd_target(rd_t *r, stc_bundle_t *b) {
    if (r->n > STC_BUNDLE_MAX_TARGET_JSON)
        return rfail(r, STC_E_LIMIT, "the target descriptor is %zu bytes, limit %d", r->n, STC_BUNDLE_MAX_TARGET_JSON);
    if (memchr(r->p, 0, r->n)) return rfail(r, STC_E_FORMAT, "the target descriptor contains a NUL byte");
    if (r->n) {
        b->target_json = malloc(r->n + 1);
        if (!b->target_json) return rfail(r, STC_E_NOMEM, "out of memory for the target descriptor");
        memcpy(b->target_json, r->p, r->n);
        b->target_json[r->n] = 0;
    }
    r->off = r->n;
    return 1;
}

/* topo: the topology file's text, as the partitioner read it */
static int rd_topology(rd_t *r, stc_bundle_t *b) {
    if (r->n > STC_BUNDLE_MAX_TOPOLOGY_JSON)
        return rfail(r, STC_E_LIMIT, "field 'topology_json' is %zu bytes, limit %d", r->n,
                     STC_BUNDLE_MAX_TOPOLOGY_JSON);
    if (r->n == 0)
        return rfail(r, STC_E_FORMAT, "field 'topology_json' is empty (a bundle without a topology file has no "
                                      "'topo' section)");
    if (memchr(r->p, 0, r->n)) return rfail(r, STC_E_FORMAT, "field 'topology_json' contains a NUL byte");
    b->topology_json = malloc(r->n + 1);
    if (!b->topology_json) return rfail(r, STC_E_NOMEM, "out of memory for the topology file");
    memcpy(b->topology_json, r->p, r->n);
    b->topology_json[r->n] = 0;
    r->off = r->n;
    return 1;
}

/* link: n_links, then the expected spikes per inference of each link id */
static int rd_links(rd_t *r, stc_bundle_t *b) {
    uint32_t n;
    if (!rd_count(r, "n_links", "links", STC_BUNDLE_MAX_LINKS, 8, &n)) return 0;
    if (n == 0)
        return rfail(r, STC_E_FORMAT, "field 'n_links' is 0 (a bundle without link traffic has no 'link' section)");
    b->link_traffic = malloc((size_t)n * sizeof *b->link_traffic);
    if (!b->link_traffic) return rfail(r, STC_E_NOMEM, "out of memory for %u links", n);
    b->n_links = (int)n;
    for (uint32_t l = 0; l < n; l++) /* the size was checked: these reads cannot fail */
        if (!rd_f64(r, "link_traffic", &b->link_traffic[l])) return 0;
    return 1;
}

/* rate: n_stages (the STAG section's, read before it), then the measured
 * spikes per neuron per inference of each stage */
static int rd_rates(rd_t *r, stc_bundle_t *b) {
    uint32_t n;
    if (!rd_count(r, "n_stages", "stages", STC_BUNDLE_MAX_STAGES, 8, &n)) return 0;
    if ((int64_t)n != b->n_stages)
        return rfail(r, STC_E_FORMAT, "field 'n_stages' is %u, expected the %d stages of section 'STAG'", n,
                     b->n_stages);
    b->stage_rate = malloc((size_t)(n ? n : 1) * sizeof *b->stage_rate);
    if (!b->stage_rate) return rfail(r, STC_E_NOMEM, "out of memory for %u stage rates", n);
    for (uint32_t s = 0; s < n; s++) /* the size was checked: these reads cannot fail */
        if (!rd_f64(r, "stage_rate", &b->stage_rate[s])) return 0;
    return 1;
}

/* One section's payload, parsed and consumed exactly. */
static int rd_section(int (*parse)(rd_t *, stc_bundle_t *), stc_bundle_t *b, const char *name,
                      const unsigned char *data, size_t off, size_t len, const char *esc, stc_err_t *err) {
    rd_t r = {name, data + off + SEC_HDR_BYTES, len, 0, off + SEC_HDR_BYTES, "", "", err};
    snprintf(r.sec, sizeof r.sec, "%s", esc);
    if (!parse(&r, b)) return 0;
    if (r.off != r.n) return rfail(&r, STC_E_FORMAT, "%zu bytes left after the last field", r.n - r.off);
    return 1;
}

/* What a file that is not a bundle looks like, for the message. */
static const char *what_is(const unsigned char *d, size_t n) {
    if (n >= 4 && d[0] == 'P' && d[1] == 'K' && ((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6)))
        return "it is a zip archive, as torch.save writes: this is a checkpoint; compile it first with stc-coord "
               "compile";
    if (n >= 2 && d[0] == 0x80 && d[1] >= 2 && d[1] <= 5)
        return "it is a Python pickle, as a legacy torch.save writes: this is a checkpoint; compile it first with "
               "stc-coord compile";
    if (n >= 10 && d[8] == '{' && stc_le_get64(d) >= 2 && stc_le_get64(d) <= n - 8)
        return "it is a safetensors file: this is a checkpoint; compile it first with stc-coord compile";
    size_t i = 0;
    while (i < n && i < 64 && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n')) i++;
    if (i < n && d[i] == '{') return "it is JSON text (a model config or a target descriptor?)";
    return NULL;
}

static stc_status_t check_header(const unsigned char *d, size_t n, const char *name, stc_err_t *err) {
    if (n == 0) return stc_err_set(err, STC_E_FORMAT, "%s: empty file (0 bytes): not an stc bundle", name);
    if (memcmp(d, MAGIC, n < 8 ? n : 8)) {
        const char *w = what_is(d, n);
        if (w) return stc_err_set(err, STC_E_FORMAT, "%s: not an stc bundle: %s", name, w);
        char esc[64];
        stc_escape(esc, sizeof esc, d, n, 8);
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: not an stc bundle: it starts with \"%s\", a bundle with \"\\x89STC\\r\\n\\x1a\\n\"",
                           name, esc);
    }
    if (n < HDR_BYTES)
        return stc_err_set(err, STC_E_FORMAT, "%s: truncated: %zu bytes, the bundle header alone has %d", name, n,
                           HDR_BYTES);
    if ((uint64_t)n > STC_BUNDLE_MAX_FILE_BYTES)
        return stc_err_set(err, STC_E_LIMIT, "%s: %zu bytes, limit %llu", name, n,
                           (unsigned long long)STC_BUNDLE_MAX_FILE_BYTES);
    uint32_t version = stc_le_get32(d + 8), flags = stc_le_get32(d + 12), crc = stc_le_get32(d + 24);
    uint64_t body = stc_le_get64(d + 16);
    if (version == 0) return stc_err_set(err, STC_E_FORMAT, "%s: bundle format version 0 is not a version", name);
    if (version < STC_BUNDLE_VERSION)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: bundle format version %u, written by an older stc; this stc reads version %d only "
                           "(projections carry a source channel range since version 3): compile the model "
                           "again with this stc (stc-coord compile)",
                           name, version, STC_BUNDLE_VERSION);
    if (version > STC_BUNDLE_VERSION)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: bundle format version %u; this stc reads version %d: use a newer stc, or compile the "
                           "model again with this one",
                           name, version, STC_BUNDLE_VERSION);
    if (flags)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: header flags 0x%08x; this stc knows no flags (format version %d has flags 0)", name,
                           flags, STC_BUNDLE_VERSION);
    if (stc_le_get32(d + 28))
        return stc_err_set(err, STC_E_FORMAT, "%s: header field 'reserved' is 0x%08x, expected 0", name,
                           stc_le_get32(d + 28));
    if (body > n - HDR_BYTES)
        return stc_err_set(err, STC_E_FORMAT, "%s: truncated: the header says %llu bytes follow it, the file has %zu",
                           name, (unsigned long long)body, n - HDR_BYTES);
    if (body < n - HDR_BYTES)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: %llu bytes of garbage after the end of the bundle (the header says %llu bytes follow "
                           "it, the file has %zu)",
                           name, (unsigned long long)(n - HDR_BYTES - body), (unsigned long long)body, n - HDR_BYTES);
    uint32_t got = stc_bundle_checksum(d, n);
    if (got != crc)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: corrupt: the CRC-32 of the body is 0x%08x, the header says 0x%08x (the file was "
                           "damaged after it was written)",
                           name, got, crc);
    return STC_OK;
}

stc_bundle_t *stc_bundle_read_mem(const unsigned char *data, size_t n, const char *name, stc_err_t *err) {
    if (!name) name = "bundle";
    if (!data && n) {
        stc_err_set(err, STC_E_USAGE, "%s: no data", name);
        return NULL;
    }
    if (check_header(data, n, name, err)) return NULL;
    stc_bundle_t *b = calloc(1, sizeof *b);
    if (!b) {
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    static int (*const parse[SEC_COUNT])(rd_t *, stc_bundle_t *) = {rd_manifest, rd_stages, rd_projs, rd_cores,
                                                                     rd_target};
    static int (*const parse_opt[OPT_COUNT])(rd_t *, stc_bundle_t *) = {rd_topology, rd_links, rd_rates};
    int next = 0, next_opt = 0;
    size_t off = HDR_BYTES;
    while (off < n) {
        if (n - off < SEC_HDR_BYTES) {
            stc_err_set(err, STC_E_FORMAT, "%s: truncated section header at byte %zu: %zu bytes, a header has %d",
                        name, off, n - off, SEC_HDR_BYTES);
            goto fail;
        }
        const unsigned char *tag = data + off;
        uint64_t len = stc_le_get64(data + off + 4);
        char esc[24];
        stc_escape(esc, sizeof esc, tag, 4, 4);
        if (len > n - off - SEC_HDR_BYTES) {
            stc_err_set(err, STC_E_FORMAT, "%s: section '%s' at byte %zu says it has %llu bytes, the file has %zu left",
                        name, esc, off, (unsigned long long)len, n - off - SEC_HDR_BYTES);
            goto fail;
        }
        int opt = -1;
        for (int s = 0; s < OPT_COUNT; s++)
            if (!memcmp(tag, OPT_TAG[s], 4)) opt = s;
        if (opt >= 0) { /* an optional section this stc reads */
            if (next < SEC_COUNT || opt < next_opt) {
                stc_err_set(err, STC_E_FORMAT,
                            "%s: section '%s' at byte %zu: %s (the optional sections topo, link and rate follow "
                            "TRGT, in this order, at most once each)",
                            name, esc, off, next < SEC_COUNT ? "before TRGT" : "out of order or twice");
                goto fail;
            }
            if (!rd_section(parse_opt[opt], b, name, data, off, (size_t)len, esc, err)) goto fail;
            next_opt = opt + 1;
            off += SEC_HDR_BYTES + (size_t)len;
            continue;
        }
        if (tag[0] >= 'a' && tag[0] <= 'z') { /* optional: a later minor addition, skipped */
            off += SEC_HDR_BYTES + (size_t)len;
            continue;
        }
        int known = -1;
        for (int s = 0; s < SEC_COUNT; s++)
            if (!memcmp(tag, SEC_TAG[s], 4)) known = s;
        if (known < 0 || known != next) {
            stc_err_set(err, STC_E_FORMAT,
                        "%s: section '%s' at byte %zu: expected section '%s' (the sections are MANF STAG PROJ CORE "
                        "TRGT, in this order, once each)",
                        name, esc, off, next < SEC_COUNT ? SEC_TAG[next] : "none (TRGT is the last)");
            goto fail;
        }
        if (!rd_section(parse[known], b, name, data, off, (size_t)len, esc, err)) goto fail;
        next++;
        off += SEC_HDR_BYTES + (size_t)len;
    }
    if (next < SEC_COUNT) {
        stc_err_set(err, STC_E_FORMAT, "%s: section '%s' is missing (the file ends at byte %zu)", name, SEC_TAG[next],
                    n);
        goto fail;
    }
    if (stc_bundle_validate(b, name, err)) goto fail;
    return b;
fail:
    stc_bundle_destroy(&b);
    return NULL;
}

stc_bundle_t *stc_bundle_read(const char *path, stc_err_t *err) {
    unsigned char *data = NULL;
    size_t n = 0;
    if (stc_read_file(path, (size_t)STC_BUNDLE_MAX_FILE_BYTES, &data, &n, err)) return NULL;
    stc_bundle_t *b = stc_bundle_read_mem(data, n, path, err);
    free(data);
    return b;
}
