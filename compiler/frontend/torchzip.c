/* torchzip.c - reader: torch.save's zip format (PyTorch >= 1.6 default).
 *
 * The archive holds <prefix>data.pkl (the object pickle), <prefix>data/<key>
 * (one raw little-endian storage per key) and small entries (version,
 * byteorder ...).  The prefix is whatever folder the first "data.pkl" entry
 * lives in: "archive/", the file stem, or anything a repacker chose.  All zip
 * work (zip64, data descriptors, the 64-byte alignment padding, CRC checks)
 * is libzip's; we never parse zip structures ourselves.
 *
 * Memory and speed.  Given the file's bytes (ckpt.c mmaps it), libzip reads
 * them through a small source of ours that remembers where each read starts;
 * opening a stored entry raw and reading its first bytes tells us where its
 * data lies, so the storage points into the mapping: no copy, no allocation,
 * one CRC pass (zlib's crc32 against the central directory's CRC).  If the
 * bytes at that offset do not match what libzip returned, or the entry is
 * deflated, or the reader was given no buffer (it then opens c->path with
 * zip_open), each storage is read into its own malloc'd buffer sized by the
 * entry, which is checked against the archive's size first, and reading the
 * entry to its end makes libzip verify the CRC.  The pickle's numel claims
 * never size an allocation.  Spec: docs/models-and-formats.md, "torch.save zip".
 * SPDX-License-Identifier: MIT
 */
#include "ckpt_int.h"
#include "pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>
#include <zlib.h>

#define TZ_MAX_ENTRIES (STC_CKPT_MAX_TENSORS + 64u)
#define TZ_MAX_DEFLATE_RATIO 1100u /* deflate cannot expand beyond ~1032:1 */

/* A read-only zip source over the caller's buffer that records where the
 * latest read started (libzip positions reads; we only watch). */
typedef struct {
    const unsigned char *buf;
    uint64_t n, pos, last_read;
    zip_error_t error;
} msrc_t;

static zip_int64_t msrc_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
    msrc_t *m = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN: m->pos = 0; return 0;
    case ZIP_SOURCE_READ: {
        uint64_t k = m->n - m->pos < len ? m->n - m->pos : len;
        if (k) memcpy(data, m->buf + m->pos, (size_t)k);
        m->last_read = m->pos;
        m->pos += k;
        return (zip_int64_t)k;
    }
    case ZIP_SOURCE_CLOSE: return 0;
    case ZIP_SOURCE_STAT: {
        if (len < sizeof(zip_stat_t)) break;
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->size = m->n;
        st->comp_size = m->n;
        st->comp_method = ZIP_CM_STORE;
        st->encryption_method = ZIP_EM_NONE;
        st->valid = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD |
                    ZIP_STAT_ENCRYPTION_METHOD;
        return sizeof(zip_stat_t);
    }
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&m->error, data, len);
    case ZIP_SOURCE_FREE: return 0;
    case ZIP_SOURCE_SEEK: {
        zip_int64_t np = zip_source_seek_compute_offset(m->pos, m->n, data, len, &m->error);
        if (np < 0) return -1;
        m->pos = (uint64_t)np;
        return 0;
    }
    case ZIP_SOURCE_TELL: return (zip_int64_t)m->pos;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                              ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL,
                                              ZIP_SOURCE_SUPPORTS, -1);
    default: break;
    }
    zip_error_set(&m->error, ZIP_ER_OPNOTSUPP, 0);
    return -1;
}

typedef struct {
    stc_ckpt_t *c;
    zip_t *za;
    msrc_t *ms;             /* set when reading from a buffer: zero-copy storages */
    uint64_t archive_bytes; /* file or buffer size: no entry can be bigger */
    char prefix[512];
} tz_t;

/* Size of entry idx, checked against the archive before anything is allocated;
 * *stored (may be NULL) says whether its bytes are in the file as is, *crc
 * (may be NULL) gets the CRC from the central directory. */
static stc_status_t entry_info(tz_t *z, zip_uint64_t idx, const char *name, uint64_t *size,
                               int *stored, uint32_t *crc, stc_err_t *err) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, idx, 0, &st) != 0)
        return stc_err_set(err, STC_E_FORMAT, "%s: entry '%s': %s", z->c->path, name,
                           zip_strerror(z->za));
    const zip_uint64_t want = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((st.valid & want) != want)
        return stc_err_set(err, STC_E_FORMAT, "%s: entry '%s': sizes unknown", z->c->path, name);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return stc_err_set(err, STC_E_UNSUPPORTED, "%s: entry '%s' is encrypted", z->c->path,
                           name);
    if (st.comp_size > z->archive_bytes)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: entry '%s' claims %llu compressed bytes, the archive has %llu",
                           z->c->path, name, (unsigned long long)st.comp_size,
                           (unsigned long long)z->archive_bytes);
    if (st.comp_method == ZIP_CM_STORE) {
        if (st.size != st.comp_size)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: entry '%s' is stored with %llu bytes but claims %llu",
                               z->c->path, name, (unsigned long long)st.comp_size,
                               (unsigned long long)st.size);
    } else if (st.comp_method == ZIP_CM_DEFLATE) {
        if (st.size / TZ_MAX_DEFLATE_RATIO > st.comp_size + 1)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: entry '%s' claims %llu bytes from %llu deflated bytes",
                               z->c->path, name, (unsigned long long)st.size,
                               (unsigned long long)st.comp_size);
    } else {
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: entry '%s' uses compression method %d, expected stored or "
                           "deflate",
                           z->c->path, name, (int)st.comp_method);
    }
    if (st.size > SIZE_MAX - 1)
        return stc_err_set(err, STC_E_LIMIT, "%s: entry '%s' is too large", z->c->path, name);
    if (!(st.valid & ZIP_STAT_CRC) && crc)
        return stc_err_set(err, STC_E_FORMAT, "%s: entry '%s' has no CRC", z->c->path, name);
    *size = st.size;
    if (stored) *stored = st.comp_method == ZIP_CM_STORE;
    if (crc) *crc = st.crc;
    return STC_OK;
}

static stc_status_t entry_size(tz_t *z, zip_uint64_t idx, const char *name, uint64_t *size,
                               stc_err_t *err) {
    return entry_info(z, idx, name, size, NULL, NULL, err);
}

/* Read entry idx completely into dst (size bytes), then read past the end so
 * that libzip checks the CRC. */
static stc_status_t read_entry(tz_t *z, zip_uint64_t idx, const char *name, unsigned char *dst,
                               uint64_t size, stc_err_t *err) {
    zip_file_t *zf = zip_fopen_index(z->za, idx, 0);
    if (!zf)
        return stc_err_set(err, STC_E_FORMAT, "%s: entry '%s': cannot open: %s", z->c->path,
                           name, zip_strerror(z->za));
    uint64_t got = 0;
    while (got < size) {
        uint64_t want = size - got;
        if (want > (1u << 30)) want = 1u << 30;
        zip_int64_t r = zip_fread(zf, dst + got, want);
        if (r < 0) goto bad;
        if (r == 0) {
            stc_err_set(err, STC_E_FORMAT, "%s: entry '%s': ends after %llu of %llu bytes",
                        z->c->path, name, (unsigned long long)got, (unsigned long long)size);
            zip_fclose(zf);
            return STC_E_FORMAT;
        }
        got += (uint64_t)r;
    }
    unsigned char extra;
    zip_int64_t r = zip_fread(zf, &extra, 1); /* EOF here triggers the CRC check */
    if (r < 0) goto bad;
    if (r > 0) {
        zip_fclose(zf);
        return stc_err_set(err, STC_E_FORMAT, "%s: entry '%s' is longer than its %llu bytes",
                           z->c->path, name, (unsigned long long)size);
    }
    if (zip_fclose(zf) != 0)
        return stc_err_set(err, STC_E_FORMAT, "%s: entry '%s': read failed", z->c->path, name);
    return STC_OK;
bad:
    stc_err_set(err, STC_E_FORMAT, "%s: entry '%s': %s", z->c->path, name, zip_file_strerror(zf));
    zip_fclose(zf);
    return STC_E_FORMAT;
}

/* Find "<prefix>data.pkl": the first entry named data.pkl at any depth. */
static stc_status_t find_prefix(tz_t *z, zip_uint64_t *pkl_idx, stc_err_t *err) {
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    if (n <= 0)
        return stc_err_set(err, STC_E_FORMAT, "%s: the zip has no entries, expected data.pkl",
                           z->c->path);
    if ((uint64_t)n > TZ_MAX_ENTRIES)
        return stc_err_set(err, STC_E_LIMIT, "%s: the zip has %lld entries, limit is %u",
                           z->c->path, (long long)n, TZ_MAX_ENTRIES);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!nm) continue;
        size_t l = strlen(nm);
        if (l >= 8 && !strcmp(nm + l - 8, "data.pkl") && (l == 8 || nm[l - 9] == '/')) {
            if (l - 8 >= sizeof z->prefix)
                return stc_err_set(err, STC_E_LIMIT, "%s: folder name of %zu bytes", z->c->path,
                                   l - 8);
            memcpy(z->prefix, nm, l - 8);
            z->prefix[l - 8] = 0;
            *pkl_idx = (zip_uint64_t)i;
            return STC_OK;
        }
    }
    char esc[160];
    const char *first = zip_get_name(z->za, 0, ZIP_FL_ENC_RAW);
    stc_escape(esc, sizeof esc, first ? first : "", first ? strlen(first) : 0, 64);
    return stc_err_set(err, STC_E_FORMAT,
                       "%s: no data.pkl entry in the zip (first entry is '%s'): expected a "
                       "torch.save archive",
                       z->c->path, esc);
}

/* A small text entry such as <prefix>byteorder; 0 if absent. */
static int small_entry(tz_t *z, const char *leaf, char *out, size_t cap) {
    char name[600];
    snprintf(name, sizeof name, "%s%s", z->prefix, leaf);
    zip_int64_t idx = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (idx < 0) return 0;
    uint64_t size;
    if (entry_size(z, (zip_uint64_t)idx, name, &size, NULL) != STC_OK || size >= cap) return 0;
    if (read_entry(z, (zip_uint64_t)idx, name, (unsigned char *)out, size, NULL) != STC_OK)
        return 0;
    out[size] = 0;
    return 1;
}

/* Where the bytes of stored entry idx lie in the buffer: open it raw, read its
 * first bytes and see where our source was reading.  Returns 0 when that
 * cannot be established (the caller then copies the entry). */
static int locate(tz_t *z, zip_uint64_t idx, uint64_t size, uint64_t *off) {
    unsigned char head[64];
    size_t k = size < sizeof head ? (size_t)size : sizeof head;
    if (!z->ms) return 0;
    if (k == 0) { /* an empty storage: nothing to point at, any valid address will do */
        *off = 0;
        return 1;
    }
    zip_file_t *zf = zip_fopen_index(z->za, idx, ZIP_FL_COMPRESSED);
    if (!zf) return 0;
    z->ms->last_read = UINT64_MAX;
    zip_int64_t r = zip_fread(zf, head, k);
    uint64_t at = z->ms->last_read;
    zip_fclose(zf);
    if (r != (zip_int64_t)k || at == UINT64_MAX || at > z->ms->n || size > z->ms->n - at ||
        memcmp(z->ms->buf + at, head, k))
        return 0;
    *off = at;
    return 1;
}

static stc_status_t load_storages(tz_t *z, pk_t *pk, stc_err_t *err) {
    for (size_t i = 0; i < pk_storage_count(pk); i++) {
        py_storage_t *s = pk_storage_at(pk, i);
        char name[700];
        snprintf(name, sizeof name, "%sdata/%s", z->prefix, s->key);
        zip_int64_t idx = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
        if (idx < 0)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: storage '%s' (%s, named at byte %zu of data.pkl): no entry "
                               "'%s' in the zip",
                               z->c->path, s->key, s->type_name, s->first_offset, name);
        uint64_t size, off;
        uint32_t crc;
        int stored;
        stc_status_t st = entry_info(z, (zip_uint64_t)idx, name, &size, &stored, &crc, err);
        if (st != STC_OK) return st;
        if (stored && locate(z, (zip_uint64_t)idx, size, &off)) { /* zero-copy */
            const unsigned char *p = z->ms->buf + off;
            uLong got = crc32(0L, Z_NULL, 0);
            for (uint64_t done = 0; done < size;) { /* crc32() takes a uInt length */
                uInt step = size - done > (1u << 30) ? (1u << 30) : (uInt)(size - done);
                got = crc32(got, p + done, step);
                done += step;
            }
            if ((uint32_t)got != crc)
                return stc_err_set(err, STC_E_FORMAT,
                                   "%s: entry '%s': CRC error (computed %08x, the zip says %08x)",
                                   z->c->path, name, (unsigned)got, (unsigned)crc);
            s->st = ckpt_add_storage(z->c, s->key, s->dtype, p, size, 0, err);
            if (!s->st) return err ? err->status : STC_E_NOMEM;
            continue;
        }
        /* The entry's own size (checked against the archive) sizes the buffer; a
         * storage shorter than its tensors is caught by ckpt_check_bounds with
         * the tensor's name. */
        unsigned char *data = malloc(size ? size : 1);
        if (!data)
            return stc_err_set(err, STC_E_NOMEM, "%s: out of memory for storage '%s' (%llu bytes)",
                               z->c->path, s->key, (unsigned long long)size);
        st = read_entry(z, (zip_uint64_t)idx, name, data, size, err);
        if (st != STC_OK) {
            free(data);
            return st;
        }
        const stc_storage_t *cs = ckpt_add_storage(z->c, s->key, s->dtype, data, size, 1, err);
        if (!cs) return err ? err->status : STC_E_NOMEM;
        s->st = cs;
    }
    return STC_OK;
}

static stc_status_t read_archive(tz_t *z, stc_err_t *err) {
    zip_uint64_t pkl_idx = 0;
    stc_status_t st = find_prefix(z, &pkl_idx, err);
    if (st != STC_OK) return st;

    char bo[32];
    if (small_entry(z, "byteorder", bo, sizeof bo) && strncmp(bo, "little", 6))
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: byteorder is '%.16s', only little-endian checkpoints are supported",
                           z->c->path, bo);

    char pkl_name[600];
    snprintf(pkl_name, sizeof pkl_name, "%sdata.pkl", z->prefix);
    uint64_t size;
    st = entry_size(z, pkl_idx, pkl_name, &size, err);
    if (st != STC_OK) return st;
    if (size > STC_CKPT_MAX_PICKLE)
        return stc_err_set(err, STC_E_LIMIT, "%s: %s has %llu bytes, limit is %u", z->c->path,
                           pkl_name, (unsigned long long)size, STC_CKPT_MAX_PICKLE);
    unsigned char *pkl = malloc(size ? size : 1);
    if (!pkl) return stc_err_set(err, STC_E_NOMEM, "%s: out of memory", z->c->path);
    st = read_entry(z, pkl_idx, pkl_name, pkl, size, err);

    char where[700];
    snprintf(where, sizeof where, "%s: %s", z->c->path, pkl_name);
    pk_t *pk = st == STC_OK ? pk_create(where, err) : NULL;
    py_obj_t *root = NULL;
    if (pk) st = pk_run(pk, pkl, size, 0, NULL, &root, err);
    else if (st == STC_OK) st = err ? err->status : STC_E_NOMEM;
    if (st == STC_OK) st = load_storages(z, pk, err);
    if (st == STC_OK) st = ckpt_add_pickled(z->c, root, err);
    pk_destroy(&pk);
    free(pkl);
    return st;
}

stc_status_t stc_read_torchzip(stc_ckpt_t *c, const unsigned char *buf, size_t n,
                               stc_err_t *err) {
    tz_t z;
    memset(&z, 0, sizeof z);
    z.c = c;
    zip_error_t ze;
    zip_error_init(&ze);
    msrc_t ms;
    if (buf) {
        memset(&ms, 0, sizeof ms);
        ms.buf = buf;
        ms.n = n;
        zip_error_init(&ms.error);
        z.ms = &ms;
        zip_source_t *src = zip_source_function_create(msrc_cb, &ms, &ze);
        if (src) {
            z.za = zip_open_from_source(src, ZIP_RDONLY, &ze);
            if (!z.za) zip_source_free(src);
        }
        z.archive_bytes = n;
    } else {
        struct stat sb;
        if (stat(c->path, &sb) != 0) {
            zip_error_fini(&ze);
            return stc_err_set(err, STC_E_IO, "%s: cannot stat", c->path);
        }
        z.archive_bytes = (uint64_t)sb.st_size;
        int code = 0;
        z.za = zip_open(c->path, ZIP_RDONLY, &code);
        if (!z.za) zip_error_init_with_code(&ze, code);
    }
    if (!z.za) {
        stc_status_t st = stc_err_set(err, STC_E_FORMAT, "%s: not a readable zip: %s", c->path,
                                      zip_error_strerror(&ze));
        zip_error_fini(&ze);
        if (buf) zip_error_fini(&ms.error);
        return st;
    }
    zip_error_fini(&ze);
    stc_status_t st = read_archive(&z, err);
    zip_discard(z.za);
    if (buf) zip_error_fini(&ms.error);
    return st;
}
