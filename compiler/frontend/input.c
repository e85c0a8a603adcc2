/* input.c - input readers: .npy and idx (MNIST) images and labels -> float32 NCHW.
 *
 * The format comes from the first bytes: "\x93NUMPY" is .npy (format spec:
 * numpy.lib.format, versions 1.0, 2.0, 3.0), 1f 8b a gzip'd idx file, 00 00
 * a raw idx file (http://yann.lecun.com/exdb/mnist/, big-endian u32 dims).
 * The .npy header dict is parsed strictly by a small recursive-descent parser
 * (no Python evaluation): exactly the keys descr, fortran_order, shape.
 * Gzip'd data is inflated with zlib into a buffer that grows with the bytes
 * actually produced and never past what the header declares (itself capped
 * by STC_INPUT_MAX_INFLATE), so a lying header costs nothing.  With a limit,
 * only that many images are read (and inflated).
 * SPDX-License-Identifier: MIT
 */
#include "stc_input.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZLIB_CONST
#include <zlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "input.c reads little-endian data");

/* ============================================================ byte sources */

/* The bytes of one file: a raw view, or a gzip stream inflated on demand. */
typedef struct {
    const char *name;
    const unsigned char *in; /* file bytes */
    size_t in_n, in_pos;     /* in_pos: bytes handed to zlib so far */
    int is_gz, z_init, z_end;
    z_stream zs;
    unsigned char *buf;      /* gz: inflated bytes (malloc'd)  */
    size_t cap;
    const unsigned char *p;  /* the (inflated) bytes available  */
    size_t n;
} src_t;

static void src_open(src_t *s, const char *name, const unsigned char *in, size_t n) {
    memset(s, 0, sizeof *s);
    s->name = name;
    s->in = in;
    s->in_n = n;
    s->is_gz = n >= 2 && in[0] == 0x1f && in[1] == 0x8b;
    if (!s->is_gz) {
        s->p = in;
        s->n = n;
    }
}

static void src_close(src_t *s) {
    if (s->z_init) inflateEnd(&s->zs);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Make the first `want` bytes available if the stream has them (want <=
 * STC_INPUT_MAX_INFLATE + 1).  Stops early at the end of the gzip stream;
 * the caller compares s->n with what it needs.  Errors: corrupt or truncated
 * gzip data. */
static stc_status_t src_fill(src_t *s, size_t want, stc_err_t *err) {
    if (!s->is_gz) return STC_OK;
    if (!s->z_init) {
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK)
            return stc_err_set(err, STC_E_NOMEM, "%s: cannot start zlib", s->name);
        s->z_init = 1;
    }
    while (s->n < want && !s->z_end) {
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 65536;
            if (nc > want) nc = want;
            unsigned char *nb = realloc(s->buf, nc);
            if (!nb)
                return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %zu inflated bytes",
                                   s->name, nc);
            s->buf = nb;
            s->p = nb;
            s->cap = nc;
        }
        if (s->zs.avail_in == 0) {
            size_t left = s->in_n - s->in_pos, chunk = left > (1u << 30) ? (1u << 30) : left;
            s->zs.next_in = s->in + s->in_pos;
            s->zs.avail_in = (uInt)chunk;
            s->in_pos += chunk;
        }
        size_t room = s->cap - s->n;
        if (room > (1u << 30)) room = 1u << 30;
        s->zs.next_out = s->buf + s->n;
        s->zs.avail_out = (uInt)room;
        int r = inflate(&s->zs, Z_NO_FLUSH);
        s->n += room - s->zs.avail_out;
        if (r == Z_STREAM_END) {
            s->z_end = 1;
        } else if ((r == Z_OK || r == Z_BUF_ERROR) && s->zs.avail_in == 0 &&
                   s->in_pos == s->in_n && s->zs.avail_out > 0) {
            /* zlib wants more input and there is none */
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: gzip stream is truncated (ends after %zu inflated bytes)",
                               s->name, s->n);
        } else if (r != Z_OK) {
            return stc_err_set(err, STC_E_FORMAT, "%s: gzip data is corrupt (zlib: %s)", s->name,
                               s->zs.msg ? s->zs.msg : "error");
        }
    }
    return STC_OK;
}

/* After `used` bytes were consumed, nothing may follow (whole-file reads). */
static stc_status_t src_check_end(src_t *s, size_t used, stc_err_t *err) {
    stc_status_t st = src_fill(s, used + 1, err);
    if (st) return st;
    if (s->n > used)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: %s more bytes than the header declares (%zu expected)", s->name,
                           s->is_gz ? "inflates to" : "has", used);
    if (s->is_gz && !s->z_end)
        return stc_err_set(err, STC_E_FORMAT, "%s: gzip stream does not end", s->name);
    if (s->is_gz && (s->zs.avail_in || s->in_pos < s->in_n))
        return stc_err_set(err, STC_E_FORMAT, "%s: %zu bytes follow the gzip stream", s->name,
                           (size_t)s->zs.avail_in + (s->in_n - s->in_pos));
    return STC_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ============================================================ idx */

/* idx header: 00 00 <type> <ndim>, then ndim big-endian u32 dims.
 * Only type 0x08 (unsigned byte) is used by MNIST-style data sets. */
static stc_status_t idx_header(src_t *s, int want_ndim, const char *kind, uint32_t *dims,
                               stc_err_t *err) {
    size_t hl = 4 + 4 * (size_t)want_ndim;
    stc_status_t st = src_fill(s, hl, err);
    if (st) return st;
    if (s->n < 4)
        return stc_err_set(err, STC_E_FORMAT, "%s: %zu bytes, too short for an idx header",
                           s->name, s->n);
    const unsigned char *p = s->p;
    if (p[0] || p[1])
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: not an idx file (magic %02x %02x %02x %02x, expected 00 00 08 %02x)",
                           s->name, p[0], p[1], p[2], p[3], want_ndim);
    if (p[2] != 0x08)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: idx element type 0x%02x, expected 0x08 (unsigned byte)", s->name,
                           p[2]);
    if (p[3] != want_ndim)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: idx file has %d dims, expected %d for %s (magic 00 00 08 %02x)",
                           s->name, p[3], want_ndim, kind, want_ndim);
    if (s->n < hl)
        return stc_err_set(err, STC_E_FORMAT, "%s: idx header truncated (%zu of %zu bytes)",
                           s->name, s->n, hl);
    for (int i = 0; i < want_ndim; i++) dims[i] = be32(p + 4 + 4 * i);
    return STC_OK;
}

/* Images [N,H,W] uint8 -> inp (C = 1), at most `limit` images if limit > 0. */
static stc_status_t idx_images(src_t *s, int64_t limit, stc_input_t *inp, stc_err_t *err) {
    uint32_t d[3];
    stc_status_t st = idx_header(s, 3, "images", d, err);
    if (st) return st;
    if (!d[0] || !d[1] || !d[2])
        return stc_err_set(err, STC_E_FORMAT, "%s: idx shape [%u,%u,%u] has a zero dimension",
                           s->name, d[0], d[1], d[2]);
    uint64_t n_use = limit > 0 && (uint64_t)limit < d[0] ? (uint64_t)limit : d[0];
    uint64_t per = (uint64_t)d[1] * d[2], elems, full;
    if (!stc_mul_ok(n_use, per, &elems) || elems > STC_INPUT_MAX_ELEMS)
        return stc_err_set(err, STC_E_LIMIT,
                           "%s: %llu images of %ux%u exceed the limit of %llu values", s->name,
                           (unsigned long long)n_use, d[1], d[2],
                           (unsigned long long)STC_INPUT_MAX_ELEMS);
    size_t need = 16 + (size_t)elems;
    if ((st = src_fill(s, need, err))) return st;
    if (s->n < need)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: header declares %u images of %ux%u, data holds %zu bytes, %llu "
                           "images need %zu", s->name, d[0], d[1], d[2], s->n - 16,
                           (unsigned long long)n_use, need - 16);
    if (n_use == d[0]) {
        full = 16 + elems;
        if ((st = src_check_end(s, (size_t)full, err))) return st;
    }
    inp->n = (int64_t)n_use;
    inp->c = 1;
    inp->h = d[1];
    inp->w = d[2];
    inp->data = malloc((size_t)elems * sizeof(float) + 1);
    if (!inp->data)
        return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %llu floats", s->name,
                           (unsigned long long)elems);
    for (size_t i = 0; i < (size_t)elems; i++) inp->data[i] = s->p[16 + i];
    return STC_OK;
}

/* Labels [N] uint8; the file must declare exactly `n_images` (its header N
 * before any limit); the first `n_use` are kept. */
static stc_status_t idx_labels(src_t *s, uint64_t n_images, uint64_t n_use, int32_t *out,
                               stc_err_t *err) {
    uint32_t d[1] = {0};
    stc_status_t st = idx_header(s, 1, "labels", d, err);
    if (st) return st;
    if (d[0] != n_images)
        return stc_err_set(err, STC_E_FORMAT, "%s: header declares %u labels, images file has %llu",
                           s->name, d[0], (unsigned long long)n_images);
    if ((st = src_fill(s, 8 + (size_t)n_use, err))) return st;
    if (s->n < 8 + n_use)
        return stc_err_set(err, STC_E_FORMAT, "%s: %u labels declared, data holds %zu bytes",
                           s->name, d[0], s->n - 8);
    if (n_use == n_images && (st = src_check_end(s, 8 + (size_t)n_use, err))) return st;
    for (size_t i = 0; i < n_use; i++) out[i] = s->p[8 + i];
    return STC_OK;
}

/* ============================================================ npy */

#define NPY_MAX_DIMS 8

/* The header dict of a .npy file. */
typedef struct {
    char descr[16];
    size_t descr_len;          /* full length (may exceed the copy) */
    int fortran;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    const unsigned char *data; /* bytes after the header */
    size_t data_n;
} npy_t;

/* Cursor over the header text. */
typedef struct {
    const char *s;
    size_t n, i;
} lex_t;

static void lex_ws(lex_t *l) {
    while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' ||
                           l->s[l->i] == '\r'))
        l->i++;
}

static int lex_eat(lex_t *l, char ch) {
    lex_ws(l);
    if (l->i < l->n && l->s[l->i] == ch) {
        l->i++;
        return 1;
    }
    return 0;
}

static int lex_peek(lex_t *l) {
    lex_ws(l);
    return l->i < l->n ? (unsigned char)l->s[l->i] : -1;
}

/* 'text' or "text", no escapes; copies at most cap-1 bytes, *len = full length. */
static int lex_str(lex_t *l, char *out, size_t cap, size_t *len) {
    int q = lex_peek(l);
    if (q != '\'' && q != '"') return 0;
    size_t j = l->i + 1;
    while (j < l->n && l->s[j] != q && l->s[j] != '\\' && l->s[j] != '\n') j++;
    if (j >= l->n || l->s[j] != q) return 0;
    size_t k = j - l->i - 1;
    size_t c = k < cap - 1 ? k : cap - 1;
    memcpy(out, l->s + l->i + 1, c);
    out[c] = 0;
    *len = k;
    l->i = j + 1;
    return 1;
}

/* A non-negative decimal of at most 18 digits. */
static int lex_int(lex_t *l, uint64_t *v) {
    lex_ws(l);
    size_t j = l->i;
    uint64_t x = 0;
    while (j < l->n && l->s[j] >= '0' && l->s[j] <= '9' && j - l->i < 18)
        x = x * 10 + (uint64_t)(l->s[j++] - '0');
    if (j == l->i || (j < l->n && l->s[j] >= '0' && l->s[j] <= '9')) return 0;
    l->i = j;
    *v = x;
    return 1;
}

static int lex_word(lex_t *l, const char *w) {
    lex_ws(l);
    size_t k = strlen(w);
    if (l->n - l->i < k || memcmp(l->s + l->i, w, k)) return 0;
    l->i += k;
    return 1;
}

static stc_status_t npy_bad(const char *name, const lex_t *l, const char *expected,
                            stc_err_t *err) {
    char q[80];
    stc_escape(q, sizeof q, l->s + l->i, l->n - l->i, 24);
    return stc_err_set(err, STC_E_FORMAT,
                       "%s: header dict malformed at byte %zu of %zu: expected %s, found \"%s\"",
                       name, l->i, l->n, expected, q);
}

static void fmt_tuple(char *buf, size_t cap, const uint64_t *d, int nd) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < nd && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    if (o < cap) snprintf(buf + o, cap - o, nd == 1 ? ",)" : ")");
}

/* dict -> '{' (key ':' value ',')* '}' with keys descr, fortran_order, shape,
 * each exactly once; value of shape -> '(' (int ',')* [int] ')'. */
static stc_status_t npy_dict(const char *name, lex_t *l, npy_t *h, stc_err_t *err) {
    int seen[3] = {0, 0, 0};
    if (!lex_eat(l, '{')) return npy_bad(name, l, "'{'", err);
    for (;;) {
        if (lex_eat(l, '}')) break;
        char key[32];
        size_t klen;
        if (!lex_str(l, key, sizeof key, &klen)) return npy_bad(name, l, "a quoted key", err);
        if (!lex_eat(l, ':')) return npy_bad(name, l, "':'", err);
        int which = klen >= sizeof key ? -1
                    : !strcmp(key, "descr") ? 0
                    : !strcmp(key, "fortran_order") ? 1
                    : !strcmp(key, "shape") ? 2 : -1;
        if (which < 0) {
            char q[80];
            stc_escape(q, sizeof q, key, strlen(key), 31);
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: header has key '%s', expected only 'descr', 'fortran_order', "
                               "'shape'", name, q);
        }
        if (seen[which]++)
            return stc_err_set(err, STC_E_FORMAT, "%s: header has key '%s' twice", name, key);
        if (which == 0) {
            if (!lex_str(l, h->descr, sizeof h->descr, &h->descr_len)) {
                if (lex_peek(l) == '[')
                    return stc_err_set(err, STC_E_UNSUPPORTED,
                                       "%s: header 'descr' is a structured dtype, expected "
                                       "'<f4', '<f8' or '|u1'", name);
                return npy_bad(name, l, "a quoted 'descr'", err);
            }
        } else if (which == 1) {
            if (lex_word(l, "False")) h->fortran = 0;
            else if (lex_word(l, "True")) h->fortran = 1;
            else return npy_bad(name, l, "True or False for 'fortran_order'", err);
        } else {
            if (!lex_eat(l, '(')) return npy_bad(name, l, "'(' for 'shape'", err);
            h->ndim = 0;
            int comma = 0;
            for (;;) {
                if (lex_eat(l, ')')) break;
                if (h->ndim == NPY_MAX_DIMS)
                    return stc_err_set(err, STC_E_LIMIT, "%s: header 'shape' has more than %d dims",
                                       name, NPY_MAX_DIMS);
                if (!lex_int(l, &h->shape[h->ndim]))
                    return npy_bad(name, l, "a dimension in 'shape'", err);
                h->ndim++;
                comma = lex_eat(l, ',');
                if (!comma) {
                    if (!lex_eat(l, ')')) return npy_bad(name, l, "',' or ')' in 'shape'", err);
                    break;
                }
            }
            if (h->ndim == 1 && !comma)
                return npy_bad(name, l, "a tuple for 'shape' ((N,) needs its comma)", err);
        }
        if (lex_eat(l, ',')) continue;
        if (lex_eat(l, '}')) break;
        return npy_bad(name, l, "',' or '}'", err);
    }
    lex_ws(l);
    if (l->i != l->n) return npy_bad(name, l, "the end of the header after '}'", err);
    static const char *keys[3] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return stc_err_set(err, STC_E_FORMAT, "%s: header has no key '%s'", name, keys[k]);
    return STC_OK;
}

/* Magic, version, header length, header dict. */
static stc_status_t npy_parse(const char *name, const unsigned char *buf, size_t n, npy_t *h,
                              stc_err_t *err) {
    memset(h, 0, sizeof *h);
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6))
        return stc_err_set(err, STC_E_FORMAT, "%s: %zu bytes, not a .npy file", name, n);
    unsigned major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: .npy format version %u.%u, expected 1.0, 2.0 or 3.0", name,
                           major, minor);
    size_t start, hl;
    if (major == 1) {
        start = 10;
        hl = (size_t)buf[8] | (size_t)buf[9] << 8;
    } else {
        if (n < 12)
            return stc_err_set(err, STC_E_FORMAT, "%s: %zu bytes, too short for a .npy v%u header",
                               name, n, major);
        start = 12;
        hl = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    }
    if (hl > STC_INPUT_MAX_NPY_HEADER)
        return stc_err_set(err, STC_E_LIMIT, "%s: .npy header length %zu exceeds the limit of %d",
                           name, hl, STC_INPUT_MAX_NPY_HEADER);
    if (hl > n - start)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: .npy header length %zu is beyond the file (%zu bytes left)", name,
                           hl, n - start);
    lex_t l = {(const char *)buf + start, hl, 0};
    if (memchr(l.s, 0, hl))
        return stc_err_set(err, STC_E_FORMAT, "%s: .npy header contains a NUL byte", name);
    stc_status_t st = npy_dict(name, &l, h, err);
    if (st) return st;
    h->data = buf + start + hl;
    h->data_n = n - start - hl;
    return STC_OK;
}

/* Element size for descr among `allowed` ("<f4", ...; NULL-terminated), or 0. */
static size_t npy_item(const npy_t *h, const char *const *allowed) {
    if (h->descr_len >= sizeof h->descr) return 0;
    for (; *allowed; allowed++)
        if (!strcmp(h->descr, *allowed)) return (size_t)(h->descr[2] - '0');
    return 0;
}

/* Data size = prod(shape) * item, exactly. */
static stc_status_t npy_check_size(const char *name, const npy_t *h, size_t item,
                                   uint64_t *numel, stc_err_t *err) {
    char sh[200];
    fmt_tuple(sh, sizeof sh, h->shape, h->ndim);
    uint64_t e = 1, bytes = 0;
    for (int i = 0; i < h->ndim; i++)
        if (!stc_mul_ok(e, h->shape[i], &e))
            return stc_err_set(err, STC_E_LIMIT, "%s: header 'shape' %s overflows 64 bits", name,
                               sh);
    if (!stc_mul_ok(e, item, &bytes))
        return stc_err_set(err, STC_E_LIMIT, "%s: header 'shape' %s '%s' overflows 64 bits", name,
                           sh, h->descr);
    if (bytes != h->data_n)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: data holds %zu bytes, header 'shape' %s '%s' needs %llu", name,
                           h->data_n, sh, h->descr, (unsigned long long)bytes);
    *numel = e;
    return STC_OK;
}

static stc_status_t npy_images(const char *name, const unsigned char *buf, size_t n,
                               int64_t limit, stc_input_t *inp, uint64_t *n_full, int *is_u8,
                               stc_err_t *err) {
    npy_t h;
    stc_status_t st = npy_parse(name, buf, n, &h, err);
    if (st) return st;
    static const char *const ok[] = {"<f4", "<f8", "|u1", NULL};
    size_t item = npy_item(&h, ok);
    if (!item) {
        char q[64];
        stc_escape(q, sizeof q, h.descr, strlen(h.descr), 15);
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: header 'descr' is '%s%s', expected '<f4', '<f8' or '|u1'", name,
                           q, h.descr_len >= sizeof h.descr ? "..." : "");
    }
    if (h.fortran)
        return stc_err_set(err, STC_E_UNSUPPORTED, "%s: header 'fortran_order' is True, expected "
                           "False (save a C-contiguous array)", name);
    char sh[200];
    fmt_tuple(sh, sizeof sh, h.shape, h.ndim);
    if (h.ndim != 3 && h.ndim != 4)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: header 'shape' is %s, expected (C, H, W) or (N, C, H, W)", name, sh);
    for (int i = 0; i < h.ndim; i++)
        if (!h.shape[i])
            return stc_err_set(err, STC_E_FORMAT, "%s: header 'shape' %s has a zero dimension",
                               name, sh);
    uint64_t numel;
    if ((st = npy_check_size(name, &h, item, &numel, err))) return st;
    const uint64_t *d = h.shape + (h.ndim == 4);
    uint64_t N = h.ndim == 4 ? h.shape[0] : 1;
    uint64_t n_use = limit > 0 && (uint64_t)limit < N ? (uint64_t)limit : N;
    uint64_t elems = numel / N * n_use;
    if (elems > STC_INPUT_MAX_ELEMS)
        return stc_err_set(err, STC_E_LIMIT, "%s: %llu images of shape %s exceed the limit of %llu "
                           "values", name, (unsigned long long)n_use, sh,
                           (unsigned long long)STC_INPUT_MAX_ELEMS);
    inp->n = (int64_t)n_use;
    inp->c = (int64_t)d[0];
    inp->h = (int64_t)d[1];
    inp->w = (int64_t)d[2];
    *n_full = N;
    *is_u8 = item == 1;
    inp->data = malloc((size_t)elems * sizeof(float) + 1);
    if (!inp->data)
        return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %llu floats", name,
                           (unsigned long long)elems);
    const unsigned char *p = h.data;
    for (size_t i = 0; i < (size_t)elems; i++) {
        float v;
        if (item == 1) {
            v = p[i];
        } else if (item == 4) {
            memcpy(&v, p + 4 * i, 4);
        } else {
            double x;
            memcpy(&x, p + 8 * i, 8);
            v = (float)x;
            if (isfinite(x) && !isfinite(v))
                return stc_err_set(err, STC_E_FORMAT, "%s: element %zu (%g) overflows float32",
                                   name, i, x);
        }
        if (!isfinite(v))
            return stc_err_set(err, STC_E_FORMAT, "%s: element %zu is %s", name, i,
                               isnan(v) ? "nan" : "infinite");
        inp->data[i] = v;
    }
    return STC_OK;
}

/* Rank-1 labels: '|u1', '<i4' or '<i8', values 0 .. INT32_MAX. */
static stc_status_t npy_labels(const char *name, const unsigned char *buf, size_t n,
                               uint64_t n_images, uint64_t n_use, int32_t *out, stc_err_t *err) {
    npy_t h;
    stc_status_t st = npy_parse(name, buf, n, &h, err);
    if (st) return st;
    static const char *const ok[] = {"|u1", "<i4", "<i8", NULL};
    size_t item = npy_item(&h, ok);
    if (!item) {
        char q[64];
        stc_escape(q, sizeof q, h.descr, strlen(h.descr), 15);
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: header 'descr' is '%s', expected '|u1', '<i4' or '<i8' for labels",
                           name, q);
    }
    if (h.fortran)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: header 'fortran_order' is True, expected False", name);
    if (h.ndim != 1) {
        char sh[200];
        fmt_tuple(sh, sizeof sh, h.shape, h.ndim);
        return stc_err_set(err, STC_E_FORMAT, "%s: header 'shape' is %s, expected (N,) for labels",
                           name, sh);
    }
    uint64_t numel;
    if ((st = npy_check_size(name, &h, item, &numel, err))) return st;
    if (numel != n_images)
        return stc_err_set(err, STC_E_FORMAT, "%s: %llu labels, images file has %llu", name,
                           (unsigned long long)numel, (unsigned long long)n_images);
    for (size_t i = 0; i < n_use; i++) {
        int64_t v;
        if (item == 1) {
            v = h.data[i];
        } else if (item == 4) {
            int32_t x;
            memcpy(&x, h.data + 4 * i, 4);
            v = x;
        } else {
            memcpy(&v, h.data + 8 * i, 8);
        }
        if (v < 0 || v > INT32_MAX)
            return stc_err_set(err, STC_E_FORMAT, "%s: label %zu is %lld, expected 0 .. %d", name,
                               i, (long long)v, INT32_MAX);
        out[i] = (int32_t)v;
    }
    return STC_OK;
}

/* ============================================================ API */

static const char *const NPY_MAGIC = "\x93NUMPY";

static int is_npy(const unsigned char *b, size_t n) { return n >= 6 && !memcmp(b, NPY_MAGIC, 6); }

static stc_status_t check_norm(const stc_input_norm_t *nm, stc_err_t *err) {
    if (!nm) return STC_OK;
    if (nm->n_ch < 0 || nm->n_ch > 4)
        return stc_err_set(err, STC_E_USAGE, "input normalization: %d channels, expected 0 to 4",
                           nm->n_ch);
    if (!isfinite(nm->scale))
        return stc_err_set(err, STC_E_USAGE, "input normalization: scale is not finite");
    for (int c = 0; c < nm->n_ch; c++)
        if (!isfinite(nm->mean[c]) || !isfinite(nm->std[c]) || !(nm->std[c] > 0))
            return stc_err_set(err, STC_E_USAGE,
                               "input normalization: channel %d has mean %g std %g, expected "
                               "finite values and std > 0", c, nm->mean[c], nm->std[c]);
    return STC_OK;
}

/* x = (x * scale - mean[c]) / std[c] over the NCHW data. */
static stc_status_t apply_norm(stc_input_t *inp, const char *name, const stc_input_norm_t *nm,
                               int is_u8, stc_err_t *err) {
    float scale = nm && nm->scale != 0 ? nm->scale : is_u8 ? 1.0f / 255.0f : 1.0f;
    int n_ch = nm ? nm->n_ch : 0;
    if (n_ch > 1 && n_ch != inp->c)
        return stc_err_set(err, STC_E_USAGE,
                           "%s: normalization has %d channels, the images have %lld", name, n_ch,
                           (long long)inp->c);
    if (n_ch == 0 && scale == 1.0f) return STC_OK;
    size_t plane = (size_t)(inp->h * inp->w);
    float *x = inp->data;
    for (int64_t i = 0; i < inp->n; i++) {
        for (int64_t c = 0; c < inp->c; c++) {
            float m = n_ch ? nm->mean[n_ch == 1 ? 0 : c] : 0.0f;
            float s = n_ch ? nm->std[n_ch == 1 ? 0 : c] : 1.0f;
            for (size_t k = 0; k < plane; k++, x++) {
                *x = (*x * scale - m) / s;
                if (STC_UNLIKELY(!isfinite(*x)))
                    return stc_err_set(err, STC_E_FORMAT,
                                       "%s: element %zu is not finite after normalization "
                                       "(scale %g, mean %g, std %g)", name,
                                       (size_t)(x - inp->data), scale, m, s);
            }
        }
    }
    return STC_OK;
}

void stc_input_destroy(stc_input_t **inp) {
    if (!inp || !*inp) return;
    free((*inp)->data);
    free((*inp)->labels);
    free(*inp);
    *inp = NULL;
}

stc_input_t *stc_input_load_mem(const void *buf, size_t n, const char *name, const void *labels,
                                size_t labels_n, const char *labels_name,
                                const stc_input_norm_t *norm, int64_t limit, stc_err_t *err) {
    const unsigned char *b = buf;
    if (!name) name = "<input>";
    if (!labels_name) labels_name = "<labels>";
    if (check_norm(norm, err)) return NULL;
    if (!b && n) {
        stc_err_set(err, STC_E_USAGE, "%s: no buffer", name);
        return NULL;
    }
    stc_input_t *inp = calloc(1, sizeof *inp);
    if (!inp) {
        stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate the input", name);
        return NULL;
    }
    stc_status_t st;
    uint64_t n_full = 0;
    int is_u8 = 1;
    if (is_npy(b, n)) {
        st = npy_images(name, b, n, limit, inp, &n_full, &is_u8, err);
    } else if (n >= 2 && ((b[0] == 0x1f && b[1] == 0x8b) || (b[0] == 0 && b[1] == 0))) {
        src_t s;
        src_open(&s, name, b, n);
        st = idx_images(&s, limit, inp, err);
        if (!st && s.n >= 8) n_full = be32(s.p + 4);
        src_close(&s);
    } else {
        char q[64];
        stc_escape(q, sizeof q, b, n, 8);
        st = stc_err_set(err, STC_E_FORMAT,
                         "%s: not a .npy file (\\x93NUMPY) nor an idx file (00 00 08 03, raw or "
                         "gzip'd): starts with \"%s\"", name, q);
    }
    if (!st && labels) {
        const unsigned char *lb = labels;
        inp->labels = malloc((size_t)inp->n * sizeof *inp->labels + 1);
        if (!inp->labels) {
            st = stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %lld labels", labels_name,
                             (long long)inp->n);
        } else if (is_npy(lb, labels_n)) {
            st = npy_labels(labels_name, lb, labels_n, n_full, (uint64_t)inp->n, inp->labels, err);
        } else {
            src_t s;
            src_open(&s, labels_name, lb, labels_n);
            st = idx_labels(&s, n_full, (uint64_t)inp->n, inp->labels, err);
            src_close(&s);
        }
    }
    if (!st) st = apply_norm(inp, name, norm, is_u8, err);
    if (st) stc_input_destroy(&inp);
    return inp;
}

/* Largest file read: float64 .npy at the element limit, plus its header. */
#define MAX_FILE_BYTES ((size_t)STC_INPUT_MAX_ELEMS * 8 + STC_INPUT_MAX_NPY_HEADER + 64)

stc_input_t *stc_input_load(const char *path, const char *labels_path,
                            const stc_input_norm_t *norm, int64_t limit, stc_err_t *err) {
    unsigned char *img = NULL, *lab = NULL;
    size_t n_img = 0, n_lab = 0;
    if (!path) {
        stc_err_set(err, STC_E_USAGE, "stc_input_load: no path");
        return NULL;
    }
    if (stc_read_file(path, MAX_FILE_BYTES, &img, &n_img, err)) return NULL;
    if (labels_path && stc_read_file(labels_path, MAX_FILE_BYTES, &lab, &n_lab, err)) {
        free(img);
        return NULL;
    }
    stc_input_t *inp = stc_input_load_mem(img, n_img, path, labels_path ? lab : NULL, n_lab,
                                          labels_path, norm, limit, err);
    free(img);
    free(lab);
    return inp;
}

/* First of <dir>/<sub>/<file>.gz, <dir>/<sub>/<file>, <dir>/<file>.gz, <dir>/<file>. */
static int find_file(const char *dir, const char *sub, const char *file, char *out, size_t cap) {
    static const char *fmts[] = {"%s/%s/%s.gz", "%s/%s/%s", "%s/%.0s%s.gz", "%s/%.0s%s"};
    for (int i = 0; i < 4; i++) {
        int k = snprintf(out, cap, fmts[i], dir, sub, file);
        if (k > 0 && (size_t)k < cap && access(out, R_OK) == 0) return 1;
    }
    return 0;
}

stc_status_t stc_input_dataset_norm(const char *name, stc_input_norm_t *norm, stc_err_t *err) {
    static const stc_input_norm_t fmnist = {1, {0.2860f}, {0.3530f}, 1.0f / 255.0f};
    if (!name || (strcmp(name, "fashion-mnist") && strcmp(name, "fashion_mnist")))
        return stc_err_set(err, STC_E_USAGE, "data set '%s' is unknown, expected 'fashion-mnist'",
                           name ? name : "(null)");
    *norm = fmnist;
    return STC_OK;
}

stc_status_t stc_input_dataset(const char *name, const char *split, const stc_input_norm_t *norm,
                               int64_t limit, stc_input_t **out, stc_err_t *err) {
    *out = NULL;
    stc_input_norm_t dflt;
    if (stc_input_dataset_norm(name, &dflt, err)) return err ? err->status : STC_E_USAGE;
    const char *pre;
    if (!split || !strcmp(split, "test") || !strcmp(split, "t10k")) pre = "t10k";
    else if (!strcmp(split, "train")) pre = "train";
    else
        return stc_err_set(err, STC_E_USAGE,
                           "fashion-mnist: split '%s' is unknown, expected 'test' or 'train'",
                           split);
    const char *dir = getenv("STC_DATASET_DIR");
    if (!dir || !*dir) dir = "/usr/share/datasets";
    char f_img[64], f_lab[64], p_img[4096], p_lab[4096];
    snprintf(f_img, sizeof f_img, "%s-images-idx3-ubyte", pre);
    snprintf(f_lab, sizeof f_lab, "%s-labels-idx1-ubyte", pre);
    if (!find_file(dir, "fashion-mnist", f_img, p_img, sizeof p_img))
        return stc_err_set(err, STC_E_IO,
                           "fashion-mnist: cannot find %s[.gz] in %s/fashion-mnist or %s (set "
                           "STC_DATASET_DIR)", f_img, dir, dir);
    if (!find_file(dir, "fashion-mnist", f_lab, p_lab, sizeof p_lab))
        return stc_err_set(err, STC_E_IO,
                           "fashion-mnist: cannot find %s[.gz] in %s/fashion-mnist or %s (set "
                           "STC_DATASET_DIR)", f_lab, dir, dir);
    stc_input_t *inp = stc_input_load(p_img, p_lab, norm ? norm : &dflt, limit, err);
    if (!inp) return err ? err->status : STC_E_FORMAT;
    if (inp->c != 1 || inp->h != 28 || inp->w != 28) {
        stc_status_t st = stc_err_set(err, STC_E_FORMAT,
                                      "%s: images are %lldx%lld, fashion-mnist has 28x28", p_img,
                                      (long long)inp->h, (long long)inp->w);
        stc_input_destroy(&inp);
        return st;
    }
    for (int64_t i = 0; i < inp->n; i++) {
        if (inp->labels[i] > 9) {
            stc_status_t st = stc_err_set(err, STC_E_FORMAT, "%s: label %lld is %d, expected 0..9",
                                          p_lab, (long long)i, inp->labels[i]);
            stc_input_destroy(&inp);
            return st;
        }
    }
    *out = inp;
    return STC_OK;
}
