/* stc_base.h - status codes, error messages, logging and the arena allocator.
 *
 * The bottom of the dependency graph: every other library of stc includes this
 * and nothing here includes anything of ours.  Fallible functions return an
 * stc_status_t and take `stc_err_t *err` last; the message says where (file,
 * tensor, op, peer), what was expected and what was found.  Libraries never
 * print except through stc_log() and never call exit().
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_BASE_H
#define STC_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- status */

typedef enum {
    STC_OK = 0,
    STC_E_IO,          /* cannot open/read/write a file or socket            */
    STC_E_FORMAT,      /* bytes from outside are malformed                   */
    STC_E_UNSUPPORTED, /* well-formed but not something stc handles (yet)    */
    STC_E_LIMIT,       /* a size/count exceeds an explicit limit             */
    STC_E_PEER,        /* a remote peer misbehaved or vanished               */
    STC_E_NOMEM,       /* allocation failed                                  */
    STC_E_USAGE,       /* the caller (or user) asked for something invalid   */
    STC_E_INTERNAL     /* an invariant of ours broke: a bug                  */
} stc_status_t;

#define STC_ERR_MSG_MAX 1024

typedef struct {
    stc_status_t status;
    char msg[STC_ERR_MSG_MAX];
} stc_err_t;

/* Fill err (if not NULL) with status st and a printf-style message; returns st
 * so callers can write `return stc_err_set(err, STC_E_FORMAT, "...")`. */
stc_status_t stc_err_set(stc_err_t *err, stc_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "prefix: " to an existing message (adds context while propagating). */
stc_status_t stc_err_prefix(stc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *stc_status_name(stc_status_t st);

/* Quote at most `max` bytes of untrusted data into dst (cap bytes, always
 * NUL-terminated), escaping non-printables as \xNN and marking truncation. */
void stc_escape(char *dst, size_t cap, const void *src, size_t n, size_t max);

/* --------------------------------------------------------------- logging */

typedef enum { STC_LOG_ERROR = 0, STC_LOG_WARN, STC_LOG_INFO, STC_LOG_DEBUG } stc_log_level_t;

/* Lines go to stderr as "stc[subsys] level: message".  The level defaults to
 * WARN; STC_LOG=debug|info|warn|error in the environment or
 * stc_log_set_level() changes it. */
void stc_log(stc_log_level_t level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void stc_log_set_level(stc_log_level_t level);
int stc_log_enabled(stc_log_level_t level);

/* ----------------------------------------------------------------- arena */

/* A region allocator: everything allocated from it is freed by one
 * stc_arena_destroy().  Allocations are 16-byte aligned and zeroed. */
typedef struct stc_arena stc_arena_t;

stc_arena_t *stc_arena_create(void);
void stc_arena_destroy(stc_arena_t **ap);
void *stc_arena_alloc(stc_arena_t *a, size_t n);        /* NULL on overflow/OOM */
char *stc_arena_strdup(stc_arena_t *a, const char *s);
char *stc_arena_strndup(stc_arena_t *a, const char *s, size_t n);
size_t stc_arena_bytes(const stc_arena_t *a);            /* total requested */

/* ------------------------------------------------------------- utilities */

/* a*b and a+b on sizes, returning 0 (and leaving *out untouched) on overflow. */
int stc_mul_ok(uint64_t a, uint64_t b, uint64_t *out);
int stc_add_ok(uint64_t a, uint64_t b, uint64_t *out);

/* 1 if the CPU runs AVX2 and the environment variable off_env is unset, empty
 * or "0": whether a hot loop takes its target("avx2") form (the chip
 * simulator's STC_CHIPSIM_NOSIMD, the interpreters' STC_INTERP_NOSIMD). */
int stc_cpu_avx2(const char *off_env);

/* Read a whole file with a size limit; caller frees *data (NUL-terminated,
 * *n excludes the NUL).  Only a regular file: a directory, FIFO or device is
 * refused as "PATH: not a regular file (a FIFO)" without blocking on it. */
stc_status_t stc_read_file(const char *path, size_t max_bytes, unsigned char **data,
                           size_t *n, stc_err_t *err);

/* Little-endian loads and stores: every byte format of stc (bundles, wire
 * payloads, checkpoints) is little-endian, whatever the host. */
static inline void stc_le_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static inline void stc_le_put64(uint8_t *p, uint64_t v) {
    stc_le_put32(p, (uint32_t)v);
    stc_le_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t stc_le_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t stc_le_get64(const uint8_t *p) {
    return (uint64_t)stc_le_get32(p) | (uint64_t)stc_le_get32(p + 4) << 32;
}

#define STC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define STC_LIKELY(x) __builtin_expect(!!(x), 1)

#ifdef STC_DEBUG
#include <assert.h>
#define STC_ASSERT(x) assert(x)
#else
#define STC_ASSERT(x) ((void)0)
#endif

#endif
