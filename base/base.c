/* base.c - status names, error formatting, logging, arena, checked arithmetic.
 * SPDX-License-Identifier: MIT
 */
#include "stc_base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int stc_cpu_avx2(const char *off_env) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    const char *e = getenv(off_env);
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && !(e && *e && *e != '0');
#else
    (void)off_env;
    return 0;
#endif
}

static const char *file_kind(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

/* Opened without blocking (a FIFO would wait for a writer) and checked with
 * fstat before anything is read: a directory, FIFO or device is named as
 * such, and the size comes from the file's own record, never from seeking in
 * something that is not a file. */
stc_status_t stc_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *n,
                           stc_err_t *err) {
    *data = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return stc_err_set(err, STC_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        stc_status_t s = stc_err_set(err, STC_E_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return stc_err_set(err, STC_E_IO, "%s: not a regular file (%s)", path, file_kind(st.st_mode));
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > max_bytes) {
        close(fd);
        return stc_err_set(err, STC_E_LIMIT, "%s: file is %lld bytes, limit is %zu", path, (long long)st.st_size,
                           max_bytes);
    }
    size_t cap = (size_t)st.st_size + 1, got = 0; /* one byte more: a file that grew is seen */
    unsigned char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %zu bytes", path, cap);
    }
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            stc_status_t s = stc_err_set(err, STC_E_IO, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return s;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != (size_t)st.st_size) {
        free(buf);
        return stc_err_set(err, STC_E_IO, "%s: the file changed while it was read (%lld bytes, read %zu%s)", path,
                           (long long)st.st_size, got, got > (size_t)st.st_size ? " or more" : "");
    }
    buf[got] = 0;
    *data = buf;
    *n = got;
    return STC_OK;
}
