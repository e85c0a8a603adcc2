/* util.c - small things every stc-coord command uses: the progress bar, top-1,
 * the clock, input normalization, a bundle's target, stage kind names.
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void coord_progress(int64_t done, int64_t n, double secs, int64_t correct, int has_labels) {
    int width = 30, fill = n ? (int)(width * done / n) : width;
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %lld/%lld  %.0f img/s", (long long)done, (long long)n, secs > 0 ? done / secs : 0.0);
    if (has_labels && done) fprintf(stderr, "  acc %.2f%%", 100.0 * correct / done);
    fflush(stderr);
}

static struct {
    int on;
    const char *cmd;
    double t0, drawn;  /* when the command began, when the line was last drawn */
    const char *fmt;   /* the line's format: a new one is drawn at once, the same at most every 0.2 s */
    int shown;         /* a line is on the terminal */
} status;

void coord_status_begin(const coord_opts_t *o, const char *cmd) {
    status.on = (o->progress || (isatty(2) && !o->json)) && !o->no_progress;
    status.cmd = cmd, status.t0 = coord_now(), status.shown = 0, status.fmt = NULL;
}

void coord_status(const char *fmt, ...) {
    double now = coord_now();
    if (!status.on || (fmt == status.fmt && now - status.drawn < 0.2)) return;
    status.fmt = fmt, status.drawn = now;
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\r%s: %s, %.0f s\033[K", status.cmd, line, now - status.t0);
    fflush(stderr);
    status.shown = 1;
}

void coord_status_end(void) {
    if (status.shown) fprintf(stderr, "\r\033[K");
    fflush(stderr);
    status.shown = 0, status.fmt = NULL;
}

int coord_workers(const coord_opts_t *o, int64_t n, int64_t bytes) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    int64_t w = o->threads ? o->threads : cpus > 0 ? cpus : 1;
    if (!o->threads && pages > 0 && page > 0 && bytes > 0) {
        int64_t fit = (int64_t)pages / 4 * page / bytes;
        if (w > fit) w = fit;
    }
    if (w > n) w = n;
    if (w > 64) w = 64;
    if (w < 1) w = 1;
    stc_log(STC_LOG_DEBUG, "workers", "%lld for %lld images, %.0f MB each", (long long)w, (long long)n, bytes / 1e6);
    return (int)w;
}

int coord_argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

double coord_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

stc_input_norm_t *coord_norm(int n_ch, const float *mean, const float *std, stc_input_norm_t *norm) {
    if (!n_ch) return NULL;
    memset(norm, 0, sizeof *norm);
    norm->n_ch = n_ch;
    memcpy(norm->mean, mean, sizeof norm->mean);
    memcpy(norm->std, std, sizeof norm->std);
    return norm;
}

int coord_bundle_target(const stc_bundle_t *b, stc_target_t *t) {
    stc_err_t err = {0};
    stc_status_t st = b->target_json ? stc_target_parse(b->target_json, strlen(b->target_json), b->target, t, &err)
                                     : stc_target_load(b->target, t, &err);
    if (st) {
        stc_err_prefix(&err, "the bundle's target descriptor");
        coord_fail(&err);
        return 1;
    }
    return 0;
}

/* "4 chips", "1 chip", or "4 of 16 chips" when the system has chips that
 * hold no core (they draw no static power, node/profile.c). */
const char *coord_chips_phrase(const stc_bundle_t *b, char *buf, size_t n) {
    int used = stc_bundle_chips_used(b);
    if (used < b->n_chips) snprintf(buf, n, "%d of %d chips", used, b->n_chips);
    else snprintf(buf, n, "%d chip%s", used, used == 1 ? "" : "s");
    return buf;
}

const char *coord_kind_name(int kind) {
    static const char *const n[] = {"?", "input", "lif", "relay", "max", "and", "ssa", "readout"};
    return kind > 0 && kind < STC_NK_COUNT ? n[kind] : "?";
}
