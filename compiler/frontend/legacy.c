/* legacy.c - reader: torch.save's legacy format (_use_new_zipfile_serialization=False).
 *
 * Five pickles back to back, then raw storages:
 *   1. the magic number 0x1950a86a20f9469cfc6c (LONG1)
 *   2. the protocol version, 1001
 *   3. sys_info: {'protocol_version', 'little_endian', 'type_sizes'}
 *   4. the object (state_dict or training checkpoint); storages are persistent
 *      ids ('storage', torch.<X>Storage, key, location, numel, None)
 *   5. the list of storage keys, in the order their bytes follow
 * then per key: int64 LE numel and numel * element size bytes.  Storages point
 * into the caller's buffer (the mmap'd file or ckpt.c's copy); every size is
 * checked against the bytes left.  This is not the pre-1.0 tar format.
 * Spec: docs/models-and-formats.md, "Legacy format".
 * SPDX-License-Identifier: MIT
 */
#include "ckpt_int.h"
#include "pickle.h"

#include <stdio.h>
#include <string.h>

static const unsigned char magic_le[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                           0x20, 0x6a, 0xa8, 0x50, 0x19};

static stc_status_t check_header(stc_ckpt_t *c, pk_t *pk, const unsigned char *buf, size_t n,
                                 size_t *pos, stc_err_t *err) {
    py_obj_t *o;
    size_t used;
    stc_status_t st = pk_run(pk, buf, n, *pos, &used, &o, err);
    if (st != STC_OK) return st;
    if (o->kind != PY_BIGINT || o->u.str.len != sizeof magic_le ||
        memcmp(o->u.str.s, magic_le, sizeof magic_le))
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: legacy magic number: expected 0x1950a86a20f9469cfc6c, found a "
                           "different %s",
                           c->path, py_kind_name(o->kind));
    *pos += used;
    st = pk_run(pk, buf, n, *pos, &used, &o, err);
    if (st != STC_OK) return st;
    int64_t v;
    if (!py_as_int(o, &v) || v != 1001)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: legacy protocol version: expected 1001, found %s %lld", c->path,
                           py_kind_name(o->kind), o->kind == PY_INT ? (long long)o->u.i : 0LL);
    *pos += used;
    st = pk_run(pk, buf, n, *pos, &used, &o, err);
    if (st != STC_OK) return st;
    if (o->kind != PY_DICT)
        return stc_err_set(err, STC_E_FORMAT, "%s: legacy sys_info: expected a dict, found %s",
                           c->path, py_kind_name(o->kind));
    py_obj_t *le = py_dict_get(o, "little_endian");
    if (le && le->kind == PY_BOOL && !le->u.i)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: written on a big-endian machine; only little-endian checkpoints "
                           "are supported",
                           c->path);
    *pos += used;
    return STC_OK;
}

/* Storage bytes: for each key of the list, int64 numel then the raw data. */
static stc_status_t read_storages(stc_ckpt_t *c, pk_t *pk, const py_obj_t *keys,
                                  const unsigned char *buf, size_t n, size_t pos,
                                  stc_err_t *err) {
    if (keys->kind != PY_LIST && keys->kind != PY_TUPLE)
        return stc_err_set(err, STC_E_FORMAT, "%s: storage key list: expected a list, found %s",
                           c->path, py_kind_name(keys->kind));
    for (size_t i = 0; i < keys->u.seq.n; i++) {
        const py_obj_t *k = keys->u.seq.items[i];
        if (k->kind != PY_STR)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: storage key list item %zu: expected a str, found %s", c->path,
                               i, py_kind_name(k->kind));
        py_storage_t *s = pk_storage_find(pk, k->u.str.s);
        char kb[80];
        stc_escape(kb, sizeof kb, k->u.str.s, k->u.str.len, 48);
        if (!s)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: storage '%s' is listed but no tensor refers to it", c->path,
                               kb);
        if (s->st)
            return stc_err_set(err, STC_E_FORMAT, "%s: storage '%s' is listed twice", c->path,
                               kb);
        if (n - pos < 8)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: storage '%s' at byte %zu: expected an 8-byte element count, "
                               "the file ends",
                               c->path, kb, pos);
        uint64_t numel = 0;
        for (int b = 7; b >= 0; b--) numel = (numel << 8) | buf[pos + (size_t)b];
        pos += 8;
        if (numel != s->numel)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: storage '%s' at byte %zu: %llu elements, the pickle says %llu",
                               c->path, kb, pos - 8, (unsigned long long)numel,
                               (unsigned long long)s->numel);
        uint64_t bytes;
        if (!stc_mul_ok(numel, stc_dtype_size(s->dtype), &bytes) || bytes > n - pos)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: storage '%s' (%s) at byte %zu: needs %llu x %zu bytes, only "
                               "%zu left in the file",
                               c->path, kb, s->type_name, pos, (unsigned long long)numel,
                               stc_dtype_size(s->dtype), n - pos);
        s->st = ckpt_add_storage(c, s->key, s->dtype, buf + pos, bytes, 0, err);
        if (!s->st) return err ? err->status : STC_E_NOMEM;
        pos += (size_t)bytes;
    }
    for (size_t i = 0; i < pk_storage_count(pk); i++) {
        py_storage_t *s = pk_storage_at(pk, i);
        if (!s->st)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: storage '%s' (named at byte %zu) is missing from the storage "
                               "key list",
                               c->path, s->key, s->first_offset);
    }
    return STC_OK;
}

stc_status_t stc_read_legacy(stc_ckpt_t *c, const unsigned char *buf, size_t n,
                             stc_err_t *err) {
    char where[600];
    snprintf(where, sizeof where, "%s: legacy pickle", c->path);
    pk_t *pk = pk_create(where, err);
    if (!pk) return err ? err->status : STC_E_NOMEM;
    size_t pos = 0, used;
    py_obj_t *root = NULL, *keys = NULL;
    stc_status_t st = check_header(c, pk, buf, n, &pos, err);
    if (st == STC_OK) {
        st = pk_run(pk, buf, n, pos, &used, &root, err);
        pos += used;
    }
    if (st == STC_OK) {
        st = pk_run(pk, buf, n, pos, &used, &keys, err);
        pos += used;
    }
    if (st == STC_OK) st = read_storages(c, pk, keys, buf, n, pos, err);
    if (st == STC_OK) st = ckpt_add_pickled(c, root, err);
    pk_destroy(&pk);
    return st;
}
