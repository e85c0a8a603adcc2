/* safetensors.c - reader: Hugging Face safetensors files.
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end)}, "__metadata__": {str: str}},
 * then the data section; offsets are relative to its start.  The header must
 * start with '{' and may be padded with JSON whitespace.  Spec:
 * https://github.com/huggingface/safetensors (README "Format"), and
 * docs/models-and-formats.md.
 *
 * Checked before anything is added: header size (STC_CKPT_MAX_HEADER, and
 * within the file), UTF-8, no \u0000 in names, no duplicate keys, known dtype,
 * rank <= STC_MAX_DIMS, dims non-negative integers, end - begin == numel *
 * element size, and that the tensors' byte ranges tile the data section with
 * no hole and no overlap.  Each tensor gets its own storage pointing into
 * `buf` (not owned: ckpt.c keeps the mapping alive), with contiguous strides.
 * Tensors are added in header order.
 * SPDX-License-Identifier: MIT
 */
#include "ckpt_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers in the header are JSON numbers (doubles in cJSON): only values up
 * to 2^53 are exact, which is far beyond any real file. */
#define MAX_JSON_INT (1ull << 53)

/* safetensors dtype names -> stc dtypes (the set the format defines, minus float8 and friends). */
static const struct {
    const char *name;
    stc_dtype_t dt;
} st_dtypes[] = {
    {"BOOL", STC_DT_BOOL}, {"U8", STC_DT_U8},     {"I8", STC_DT_I8},   {"I16", STC_DT_I16},
    {"U16", STC_DT_U16},   {"F16", STC_DT_F16},   {"BF16", STC_DT_BF16}, {"I32", STC_DT_I32},
    {"U32", STC_DT_U32},   {"F32", STC_DT_F32},   {"F64", STC_DT_F64}, {"I64", STC_DT_I64},
    {"U64", STC_DT_U64},
};
#define DTYPE_LIST "BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64"

/* Names other safetensors writers use that stc cannot represent. */
static const char *st_unsupported[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",  "F6_E2M3",
                                       "F6_E3M2", "C64",     "C128",    "U128", "I128"};

/* One tensor entry while the header is checked. */
typedef struct {
    const char *name;  /* cJSON-owned */
    stc_dtype_t dt;
    int ndim;
    int64_t shape[STC_MAX_DIMS];
    uint64_t begin, end;
} entry_t;

/* Quote a name from the file for a message (at most 96 bytes, escaped). */
static const char *qname(char *buf, size_t cap, const char *s) {
    stc_escape(buf, cap, s, strlen(s), 96);
    return buf;
}

/* UTF-8 well-formedness (no overlongs, no surrogates, <= U+10FFFF); returns
 * the offset of the first bad byte or n. */
static size_t utf8_bad_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t k;
        uint32_t cp, min;
        if (b < 0x80) { i++; continue; }
        if ((b & 0xe0) == 0xc0) { k = 1; cp = b & 0x1f; min = 0x80; }
        else if ((b & 0xf0) == 0xe0) { k = 2; cp = b & 0x0f; min = 0x800; }
        else if ((b & 0xf8) == 0xf0) { k = 3; cp = b & 0x07; min = 0x10000; }
        else return i;
        if (n - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += k + 1;
    }
    return n;
}

/* cJSON turns "\u0000" into a NUL that would silently cut a name short:
 * refuse the escape (raw NULs are refused by the caller).  Backslashes only
 * occur inside strings in valid JSON, so a linear scan of escapes is exact. */
static int has_nul_escape(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') continue;
        if (i + 5 < n && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4)) return 1;
        i++; /* skip the escaped character */
    }
    return 0;
}

/* A non-negative integral JSON number <= max. */
static int get_uint(const cJSON *it, uint64_t max, uint64_t *out) {
    if (!cJSON_IsNumber(it)) return 0;
    double v = it->valuedouble;
    if (!(v >= 0.0) || v > (double)max) return 0;
    uint64_t u = (uint64_t)v;
    if ((double)u != v) return 0;
    *out = u;
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_range(const void *a, const void *b) {
    const entry_t *x = *(const entry_t *const *)a, *y = *(const entry_t *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static void fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t o = 0;
    buf[0] = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* __metadata__: an object of strings (null is accepted as "none"). */
static stc_status_t check_metadata(const stc_ckpt_t *c, const cJSON *m, stc_err_t *err) {
    if (cJSON_IsNull(m)) return STC_OK;
    if (!cJSON_IsObject(m))
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: header '__metadata__' is not an object of strings", c->path);
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            char q[400];
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: header '__metadata__' entry '%s' is not a string", c->path,
                               qname(q, sizeof q, e->string ? e->string : ""));
        }
    }
    return STC_OK;
}

/* dtype/shape/data_offsets of one tensor into *e. */
static stc_status_t parse_entry(const stc_ckpt_t *c, const cJSON *t, uint64_t data_len,
                                entry_t *e, stc_err_t *err) {
    char q[400];
    const char *nm = qname(q, sizeof q, e->name);
    if (!cJSON_IsObject(t))
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: tensor '%s': expected an object {dtype, shape, data_offsets}",
                           c->path, nm);
    const cJSON *jd = NULL, *js = NULL, *jo = NULL;
    for (const cJSON *f = t->child; f; f = f->next) {
        const cJSON **slot = NULL;
        if (!strcmp(f->string, "dtype")) slot = &jd;
        else if (!strcmp(f->string, "shape")) slot = &js;
        else if (!strcmp(f->string, "data_offsets")) slot = &jo;
        else {
            char qf[400];
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: tensor '%s': unknown field '%s' (expected dtype, shape, "
                               "data_offsets)", c->path, nm, qname(qf, sizeof qf, f->string));
        }
        if (*slot)
            return stc_err_set(err, STC_E_FORMAT, "%s: tensor '%s': duplicate field '%s'",
                               c->path, nm, f->string);
        *slot = f;
    }
    if (!jd || !js || !jo)
        return stc_err_set(err, STC_E_FORMAT, "%s: tensor '%s': missing field '%s'", c->path, nm,
                           !jd ? "dtype" : !js ? "shape" : "data_offsets");

    /* dtype */
    if (!cJSON_IsString(jd))
        return stc_err_set(err, STC_E_FORMAT, "%s: tensor '%s': 'dtype' is not a string",
                           c->path, nm);
    size_t i;
    for (i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(jd->valuestring, st_dtypes[i].name)) break;
    if (i == sizeof st_dtypes / sizeof st_dtypes[0]) {
        char qd[200];
        int known = 0;
        for (size_t k = 0; k < sizeof st_unsupported / sizeof st_unsupported[0]; k++)
            if (!strcmp(jd->valuestring, st_unsupported[k])) known = 1;
        stc_escape(qd, sizeof qd, jd->valuestring, strlen(jd->valuestring), 32);
        return stc_err_set(err, known ? STC_E_UNSUPPORTED : STC_E_FORMAT,
                           "%s: tensor '%s': %s dtype '%s', expected one of " DTYPE_LIST,
                           c->path, nm, known ? "unsupported" : "unknown", qd);
    }
    e->dt = st_dtypes[i].dt;

    /* shape: [d0, d1, ...], each a non-negative integer */
    if (!cJSON_IsArray(js))
        return stc_err_set(err, STC_E_FORMAT, "%s: tensor '%s': 'shape' is not an array", c->path,
                           nm);
    int nd = cJSON_GetArraySize(js);
    if (nd > STC_MAX_DIMS)
        return stc_err_set(err, STC_E_LIMIT, "%s: tensor '%s': shape has %d dims, limit is %d",
                           c->path, nm, nd, STC_MAX_DIMS);
    e->ndim = nd;
    /* Product of the non-zero dims must fit int64 so that contiguous strides
     * do (a zero dim does not make [0, 2^40, 2^40] representable). */
    uint64_t span = 1, numel = 1;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
        uint64_t v;
        if (!get_uint(d, MAX_JSON_INT, &v))
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: tensor '%s': shape dim %d is not a non-negative integer "
                               "(<= 2^53)", c->path, nm, k);
        e->shape[k] = (int64_t)v;
        if (v && (!stc_mul_ok(span, v, &span) || span > (uint64_t)INT64_MAX))
            return stc_err_set(err, STC_E_LIMIT, "%s: tensor '%s': shape overflows 64 bits",
                               c->path, nm);
        numel *= v; /* <= span unless zero */
    }

    /* data_offsets: [begin, end) within the data section */
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 ||
        !get_uint(jo->child, MAX_JSON_INT, &b) || !get_uint(jo->child->next, MAX_JSON_INT, &en))
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: tensor '%s': 'data_offsets' is not [begin, end] of "
                           "non-negative integers", c->path, nm);
    if (b > en || en > data_len)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu) outside the data section "
                           "of %llu bytes", c->path, nm, (unsigned long long)b,
                           (unsigned long long)en, (unsigned long long)data_len);
    e->begin = b;
    e->end = en;

    uint64_t need;
    char sh[160];
    fmt_shape(sh, sizeof sh, e->shape, e->ndim);
    if (!stc_mul_ok(numel, stc_dtype_size(e->dt), &need))
        return stc_err_set(err, STC_E_LIMIT, "%s: tensor '%s': shape %s %s overflows 64 bits",
                           c->path, nm, sh, stc_dtype_name(e->dt));
    if (need != en - b)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes, shape %s "
                           "%s needs %llu", c->path, nm, (unsigned long long)b,
                           (unsigned long long)en, (unsigned long long)(en - b), sh,
                           stc_dtype_name(e->dt), (unsigned long long)need);
    return STC_OK;
}

/* Names are unique (cJSON keeps duplicates in order; sort a copy). */
static stc_status_t check_unique(const stc_ckpt_t *c, const cJSON *root, size_t n_keys,
                                 stc_err_t *err) {
    if (n_keys < 2) return STC_OK;
    const char **keys = malloc(n_keys * sizeof *keys);
    if (!keys)
        return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %zu header keys", c->path,
                           n_keys);
    size_t i = 0;
    for (const cJSON *t = root->child; t; t = t->next) keys[i++] = t->string;
    qsort(keys, n_keys, sizeof *keys, cmp_str);
    for (i = 1; i < n_keys; i++) {
        if (!strcmp(keys[i - 1], keys[i])) {
            char q[400];
            stc_status_t st = stc_err_set(err, STC_E_FORMAT, "%s: header: duplicate key '%s'",
                                          c->path, qname(q, sizeof q, keys[i]));
            free(keys);
            return st;
        }
    }
    free(keys);
    return STC_OK;
}

/* The tensors' ranges, sorted, must cover [0, data_len) exactly once. */
static stc_status_t check_tiling(const stc_ckpt_t *c, entry_t *ents, size_t n, uint64_t data_len,
                                 stc_err_t *err) {
    entry_t **order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %zu entries", c->path, n);
    for (size_t i = 0; i < n; i++) order[i] = &ents[i];
    qsort(order, n, sizeof *order, cmp_range);
    uint64_t pos = 0;
    const entry_t *prev = NULL;
    stc_status_t st = STC_OK;
    char q1[400], q2[400];
    for (size_t i = 0; i < n && st == STC_OK; i++) {
        const entry_t *e = order[i];
        if (e->begin > pos)
            st = stc_err_set(err, STC_E_FORMAT,
                             "%s: data bytes [%llu, %llu) belong to no tensor (hole before "
                             "tensor '%s')", c->path, (unsigned long long)pos,
                             (unsigned long long)e->begin, qname(q1, sizeof q1, e->name));
        else if (e->begin < pos)
            st = stc_err_set(err, STC_E_FORMAT,
                             "%s: tensor '%s': data_offsets [%llu, %llu) overlap tensor '%s' "
                             "[%llu, %llu)", c->path, qname(q1, sizeof q1, e->name),
                             (unsigned long long)e->begin, (unsigned long long)e->end,
                             qname(q2, sizeof q2, prev->name), (unsigned long long)prev->begin,
                             (unsigned long long)prev->end);
        pos = e->end;
        if (e->end > e->begin || !prev) prev = e;
    }
    if (st == STC_OK && pos != data_len)
        st = stc_err_set(err, STC_E_FORMAT,
                         "%s: data section has %llu bytes, tensors cover %llu (bytes [%llu, "
                         "%llu) belong to no tensor)", c->path, (unsigned long long)data_len,
                         (unsigned long long)pos, (unsigned long long)pos,
                         (unsigned long long)data_len);
    free(order);
    return st;
}

/* Header bytes -> cJSON tree, with the checks cJSON does not make. */
static stc_status_t parse_header(const stc_ckpt_t *c, const unsigned char *h, size_t hn,
                                 cJSON **out, stc_err_t *err) {
    if (hn == 0 || h[0] != '{') {
        char q[64];
        stc_escape(q, sizeof q, h, hn, 8);
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: header of %zu bytes does not start with '{' (found \"%s\")",
                           c->path, hn, q);
    }
    const void *nul = memchr(h, 0, hn);
    if (nul)
        return stc_err_set(err, STC_E_FORMAT, "%s: header has a NUL byte at offset %zu",
                           c->path, (size_t)((const unsigned char *)nul - h));
    size_t bad = utf8_bad_at(h, hn);
    if (bad != hn)
        return stc_err_set(err, STC_E_FORMAT, "%s: header is not UTF-8 (byte 0x%02x at offset %zu)",
                           c->path, h[bad], bad);
    if (has_nul_escape((const char *)h, hn))
        return stc_err_set(err, STC_E_FORMAT, "%s: header contains the escape \\u0000",
                           c->path);
    /* A private NUL-terminated copy: cJSON is then safe whatever it reads. */
    char *txt = malloc(hn + 1);
    if (!txt)
        return stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %zu header bytes", c->path,
                           hn + 1);
    memcpy(txt, h, hn);
    txt[hn] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(txt, hn + 1, &end, 0);
    if (!root) {
        size_t at = end && end >= txt && end <= txt + hn ? (size_t)(end - txt) : 0;
        free(txt);
        return stc_err_set(err, STC_E_FORMAT, "%s: header is not valid JSON (near byte %zu of %zu)",
                           c->path, at, hn);
    }
    size_t at = (size_t)(end - txt);
    for (; at < hn; at++) {
        char ch = txt[at];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') break;
    }
    free(txt);
    if (at < hn) {
        cJSON_Delete(root);
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: header has bytes after the JSON object (at %zu of %zu; only "
                           "space padding is allowed)", c->path, at, hn);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return stc_err_set(err, STC_E_FORMAT, "%s: header is not a JSON object", c->path);
    }
    *out = root;
    return STC_OK;
}

stc_status_t stc_read_safetensors(stc_ckpt_t *c, const unsigned char *buf, size_t n,
                                  stc_err_t *err) {
    if (n < 8)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: %zu bytes, too short for the 8-byte safetensors header length",
                           c->path, n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | buf[i];
    if (hl > STC_CKPT_MAX_HEADER)
        return stc_err_set(err, STC_E_LIMIT, "%s: header length %llu exceeds the limit of %u bytes",
                           c->path, (unsigned long long)hl, (unsigned)STC_CKPT_MAX_HEADER);
    if (hl > n - 8)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: header length %llu is beyond the file (%zu bytes after the "
                           "length)", c->path, (unsigned long long)hl, n - 8);
    const unsigned char *data = buf + 8 + hl;
    uint64_t data_len = n - 8 - hl;

    cJSON *root = NULL;
    stc_status_t st = parse_header(c, buf + 8, (size_t)hl, &root, err);
    if (st) return st;

    size_t n_keys = 0, n_tensors = 0;
    for (const cJSON *t = root->child; t; t = t->next) {
        n_keys++;
        if (strcmp(t->string, "__metadata__")) n_tensors++;
    }
    entry_t *ents = NULL;
    if (n_tensors > STC_CKPT_MAX_TENSORS) {
        st = stc_err_set(err, STC_E_LIMIT, "%s: %zu tensors, limit is %u", c->path, n_tensors,
                         (unsigned)STC_CKPT_MAX_TENSORS);
        goto out;
    }
    if ((st = check_unique(c, root, n_keys, err))) goto out;
    ents = calloc(n_tensors ? n_tensors : 1, sizeof *ents);
    if (!ents) {
        st = stc_err_set(err, STC_E_NOMEM, "%s: cannot allocate %zu tensor entries", c->path,
                         n_tensors);
        goto out;
    }
    size_t i = 0;
    for (const cJSON *t = root->child; t; t = t->next) {
        if (!strcmp(t->string, "__metadata__")) {
            if ((st = check_metadata(c, t, err))) goto out;
            continue;
        }
        size_t len = strlen(t->string);
        if (len == 0 || len > STC_CKPT_MAX_NAME) {
            char q[400];
            st = stc_err_set(err, len ? STC_E_LIMIT : STC_E_FORMAT,
                             "%s: tensor name '%s' of %zu bytes (expected 1 to %d)", c->path,
                             qname(q, sizeof q, t->string), len, STC_CKPT_MAX_NAME);
            goto out;
        }
        ents[i].name = t->string;
        if ((st = parse_entry(c, t, data_len, &ents[i], err))) goto out;
        i++;
    }
    if ((st = check_tiling(c, ents, n_tensors, data_len, err))) goto out;

    for (i = 0; i < n_tensors; i++) {
        const entry_t *e = &ents[i];
        stc_storage_t *s = ckpt_add_storage(c, e->name, e->dt, data + e->begin,
                                            e->end - e->begin, 0, err);
        if (!s) {
            st = err ? err->status : STC_E_NOMEM;
            goto out;
        }
        stc_tensor_t t;
        memset(&t, 0, sizeof t);
        t.name = e->name;
        t.dtype = e->dt;
        t.ndim = e->ndim;
        int64_t stride = 1;
        for (int k = e->ndim - 1; k >= 0; k--) {
            t.shape[k] = e->shape[k];
            t.stride[k] = stride;
            if (e->shape[k]) stride *= e->shape[k]; /* bounded by the span check */
        }
        t.offset = 0;
        t.storage = s;
        if (!ckpt_add_tensor(c, &t, err)) {
            st = err ? err->status : STC_E_NOMEM;
            goto out;
        }
    }
    c->format = "safetensors";
out:
    free(ents);
    cJSON_Delete(root);
    return st;
}
