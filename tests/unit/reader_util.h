/* reader_util.h - helpers for the suites that drive one checkpoint reader directly.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_READER_UTIL_H
#define STC_READER_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "ckpt_int.h"

/* An empty checkpoint, as ckpt.c hands it to a reader. */
static inline stc_ckpt_t *new_ckpt(const char *name) {
    stc_ckpt_t *c = calloc(1, sizeof *c);
    c->arena = stc_arena_create();
    c->path = stc_arena_strdup(c->arena, name);
    return c;
}

typedef stc_status_t (*reader_fn)(stc_ckpt_t *, const unsigned char *, size_t, stc_err_t *);

/* Run one reader on bytes; keeps the checkpoint in *cp if cp is not NULL. */
static inline stc_status_t read_with(reader_fn fn, const char *name, const unsigned char *b, size_t n,
                                     stc_err_t *err, stc_ckpt_t **cp) {
    stc_ckpt_t *c = new_ckpt(name);
    memset(err, 0, sizeof *err);
    stc_status_t st = fn(c, b, n, err);
    if (cp)
        *cp = c;
    else
        stc_ckpt_destroy(&c);
    return st;
}

#endif
