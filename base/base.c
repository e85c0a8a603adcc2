/* base.c - status names, error formatting, logging, arena, checked arithmetic.
 * SPDX-License-Identifier: MIT
 */
#include "stc_base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- status */

const char *stc_status_name(stc_status_t st) {
    switch (st) {
    case STC_OK: return "ok";
    case STC_E_IO: return "io";
    case STC_E_FORMAT: return "format";
    case STC_E_UNSUPPORTED: return "unsupported";
    case STC_E_LIMIT: return "limit";
    case STC_E_PEER: return "peer";
    case STC_E_NOMEM: return "nomem";
    case STC_E_USAGE: return "usage";
    case STC_E_INTERNAL: return "internal";
    }
    return "unknown";
}

stc_status_t stc_err_set(stc_err_t *err, stc_status_t st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = st;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

stc_status_t stc_err_prefix(stc_err_t *err, const char *fmt, ...) {
    if (!err) return STC_E_INTERNAL;
    char pre[512], old[STC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t np = strlen(pre);
    if (np > sizeof err->msg - 3) np = sizeof err->msg - 3;
    memcpy(err->msg, pre, np);
    memcpy(err->msg + np, ": ", 2);
    size_t room = sizeof err->msg - np - 3, no = strlen(old);
    if (no > room) no = room;
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = 0;
    return err->status;
}

void stc_escape(char *dst, size_t cap, const void *src, size_t n, size_t max) {
    const unsigned char *s = src;
    size_t o = 0;
    if (cap == 0) return;
    for (size_t i = 0; i < n && i < max; i++) {
        char tmp[8];
        int k;
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != '"')
            k = snprintf(tmp, sizeof tmp, "%c", s[i]);
        else
            k = snprintf(tmp, sizeof tmp, "\\x%02x", s[i]);
        if (o + (size_t)k + 4 >= cap) break;
        memcpy(dst + o, tmp, (size_t)k);
        o += (size_t)k;
    }
    if (n > max && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = 0;
}

/* --------------------------------------------------------------- logging */

static int log_level = -1;

static int level_now(void) {
    if (log_level < 0) {
        const char *e = getenv("STC_LOG");
        log_level = STC_LOG_WARN;
        if (e) {
            if (!strcmp(e, "error")) log_level = STC_LOG_ERROR;
            else if (!strcmp(e, "info")) log_level = STC_LOG_INFO;
            else if (!strcmp(e, "debug")) log_level = STC_LOG_DEBUG;
        }
    }
    return log_level;
}

void stc_log_set_level(stc_log_level_t level) { log_level = (int)level; }
int stc_log_enabled(stc_log_level_t level) { return (int)level <= level_now(); }

void stc_log(stc_log_level_t level, const char *subsys, const char *fmt, ...) {
    static const char *names[] = {"error", "warning", "info", "debug"};
    if ((int)level > level_now()) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "stc[%s] %s: %s\n", subsys, names[level], line);
}

/* ----------------------------------------------------------------- arena */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk_t;

struct stc_arena {
    chunk_t *head;
    size_t total;
};

stc_arena_t *stc_arena_create(void) { return calloc(1, sizeof(stc_arena_t)); }

void stc_arena_destroy(stc_arena_t **ap) {
    if (!ap || !*ap) return;
    chunk_t *c = (*ap)->head;
    while (c) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
    free(*ap);
    *ap = NULL;
}

void *stc_arena_alloc(stc_arena_t *a, size_t n) {
    if (n > ((size_t)1 << 40)) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    chunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof(chunk_t) + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *stc_arena_strndup(stc_arena_t *a, const char *s, size_t n) {
    char *p = stc_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *stc_arena_strdup(stc_arena_t *a, const char *s) { return stc_arena_strndup(a, s, strlen(s)); }

size_t stc_arena_bytes(const stc_arena_t *a) { return a->total; }

/* ------------------------------------------------------------- utilities */

int stc_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return 0;
    *out = r;
    return 1;
}

int stc_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return 0;
    *out = r;
    return 1;
}

stc_status_t stc_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *n,
                           stc_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return stc_err_set(err, STC_E_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return stc_err_set(err, STC_E_IO, "%s: cannot seek (expected a regular file)", path);
    }
    long len = ftell(f);
    if (len < 0) {
        fclose(f);
        return stc_err_set(err, STC_E_IO, "%s: cannot tell size", path);
    }
    if ((unsigned long)len > max_bytes) {
        fclose(f);
        return stc_err_set(err, STC_E_LIMIT, "%s: file is %ld bytes, limit is %zu", path, len,
                           max_bytes);
    }
    rewind(f);
    unsigned char *buf = malloc((size_t)len + 1);
    if (!buf) {
        fclose(f);
        return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %ld bytes", path, len);
    }
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) {
        free(buf);
        return stc_err_set(err, STC_E_IO, "%s: short read (%zu of %ld bytes)", path, got, len);
    }
    buf[len] = 0;
    *data = buf;
    *n = (size_t)len;
    return STC_OK;
}
