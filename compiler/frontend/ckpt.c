/* ckpt.c - the checkpoint object: format detection, unwrapping, dtypes, to_f32.
 *
 * stc_ckpt_load() looks at the first bytes of a file, mmaps it and hands the
 * mapping to one of the three readers (torchzip.c, legacy.c, safetensors.c).
 * Storages point into the mapping (a zip's stored entries included, found
 * through libzip), so a load costs one pass over the file (the zip CRCs), no
 * copy and no per-element work; peak memory is the file's pages.
 * After the reader: ckpt_add_pickled() (called by the pickle readers) picks the
 * state_dict out of a training checkpoint, then finish() strips DataParallel's
 * 'module.' prefix, checks every tensor against its storage and indexes names.
 * SPDX-License-Identifier: MIT
 */
#include "ckpt_int.h"
#include "pickle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ================================================================ dtypes */

/* ORDER DTYPE */
static const struct {
    const char *name;
    size_t size;
} dtype_info[STC_DT_COUNT] = {
    {"float32", 4}, {"float16", 2}, {"bfloat16", 2}, {"float64", 8}, {"int64", 8},
    {"int32", 4},   {"int16", 2},   {"int8", 1},     {"uint8", 1},   {"bool", 1},
    {"uint16", 2},  {"uint32", 4},  {"uint64", 8},
};

const char *stc_dtype_name(stc_dtype_t dt) {
    return (unsigned)dt < STC_DT_COUNT ? dtype_info[dt].name : "?";
}

size_t stc_dtype_size(stc_dtype_t dt) {
    return (unsigned)dt < STC_DT_COUNT ? dtype_info[dt].size : 0;
}

/* ========================================================= building a ckpt */

static int grow(void **arr, size_t *cap, size_t need, size_t elsize) {
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, nc * elsize);
    if (!p) return 0;
    *arr = p;
    *cap = nc;
    return 1;
}

stc_storage_t *ckpt_add_storage(stc_ckpt_t *c, const char *key, stc_dtype_t dt,
                                const unsigned char *data, uint64_t n_bytes, int owned,
                                stc_err_t *err) {
    if ((unsigned)dt >= STC_DT_COUNT) {
        if (owned) free((void *)data);
        stc_err_set(err, STC_E_INTERNAL, "%s: storage '%s': bad dtype %d", c->path, key, (int)dt);
        return NULL;
    }
    if (owned && !grow((void **)&c->owned, &c->cap_owned, c->n_owned + 1, sizeof(void *))) {
        free((void *)data);
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", c->path);
        return NULL;
    }
    if (owned) c->owned[c->n_owned++] = (void *)data;
    if (c->n_storages >= STC_CKPT_MAX_TENSORS) {
        stc_err_set(err, STC_E_LIMIT, "%s: more than %u storages", c->path, STC_CKPT_MAX_TENSORS);
        return NULL;
    }
    if (!grow((void **)&c->storages, &c->cap_storages, c->n_storages + 1, sizeof(void *))) {
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", c->path);
        return NULL;
    }
    stc_storage_t *s = stc_arena_alloc(c->arena, sizeof *s);
    char *k = s ? stc_arena_strdup(c->arena, key ? key : "") : NULL;
    if (!k) {
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", c->path);
        return NULL;
    }
    s->key = k;
    s->dtype = dt;
    s->n_bytes = n_bytes;
    s->data = data;
    c->storages[c->n_storages++] = s;
    return s;
}

stc_tensor_t *ckpt_add_tensor(stc_ckpt_t *c, const stc_tensor_t *t, stc_err_t *err) {
    size_t len = t->name ? strlen(t->name) : 0;
    if (len > STC_CKPT_MAX_NAME) {
        stc_err_set(err, STC_E_LIMIT, "%s: tensor name of %zu bytes, limit is %d", c->path, len,
                    STC_CKPT_MAX_NAME);
        return NULL;
    }
    if (c->n_tensors >= STC_CKPT_MAX_TENSORS) {
        stc_err_set(err, STC_E_LIMIT, "%s: more than %u tensors", c->path, STC_CKPT_MAX_TENSORS);
        return NULL;
    }
    if (t->ndim < 0 || t->ndim > STC_MAX_DIMS || (unsigned)t->dtype >= STC_DT_COUNT) {
        stc_err_set(err, STC_E_UNSUPPORTED, "%s: tensor '%s': %d dimensions, at most %d supported",
                    c->path, t->name ? t->name : "", t->ndim, STC_MAX_DIMS);
        return NULL;
    }
    if (!grow((void **)&c->tensors, &c->cap_tensors, c->n_tensors + 1, sizeof(void *))) {
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", c->path);
        return NULL;
    }
    stc_tensor_t *n = stc_arena_alloc(c->arena, sizeof *n);
    char *name = n ? stc_arena_strndup(c->arena, t->name ? t->name : "", len) : NULL;
    if (!name) {
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", c->path);
        return NULL;
    }
    *n = *t;
    n->name = name;
    c->tensors[c->n_tensors++] = n;
    return n;
}

stc_status_t ckpt_check_bounds(const stc_ckpt_t *c, const stc_tensor_t *t, stc_err_t *err) {
    const char *p = c->path;
    if (!t->storage)
        return stc_err_set(err, STC_E_INTERNAL, "%s: tensor '%s' has no storage", p, t->name);
    if (t->ndim < 0 || t->ndim > STC_MAX_DIMS)
        return stc_err_set(err, STC_E_UNSUPPORTED, "%s: tensor '%s': %d dimensions, at most %d",
                           p, t->name, t->ndim, STC_MAX_DIMS);
    if (t->offset < 0)
        return stc_err_set(err, STC_E_FORMAT, "%s: tensor '%s': negative storage offset %lld", p,
                           t->name, (long long)t->offset);
    uint64_t last = (uint64_t)t->offset, numel = 1;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] < 0 || t->stride[k] < 0)
            return stc_err_set(err, STC_E_FORMAT,
                               "%s: tensor '%s': dimension %d has size %lld and stride %lld, "
                               "expected both >= 0",
                               p, t->name, k, (long long)t->shape[k], (long long)t->stride[k]);
        if (!stc_mul_ok(numel, (uint64_t)t->shape[k], &numel))
            return stc_err_set(err, STC_E_LIMIT, "%s: tensor '%s': element count overflows", p,
                               t->name);
    }
    if (numel == 0) return STC_OK;
    for (int k = 0; k < t->ndim; k++) {
        uint64_t step;
        if (!stc_mul_ok((uint64_t)(t->shape[k] - 1), (uint64_t)t->stride[k], &step) ||
            !stc_add_ok(last, step, &last))
            goto too_big;
    }
    uint64_t need;
    if (!stc_add_ok(last, 1, &need) || !stc_mul_ok(need, stc_dtype_size(t->dtype), &need))
        goto too_big;
    if (need > t->storage->n_bytes)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: tensor '%s': storage '%s' has %llu bytes, tensor needs %llu", p,
                           t->name, t->storage->key, (unsigned long long)t->storage->n_bytes,
                           (unsigned long long)need);
    return STC_OK;
too_big:
    return stc_err_set(err, STC_E_FORMAT,
                       "%s: tensor '%s': storage '%s' has %llu bytes, tensor reaches beyond 2^64",
                       p, t->name, t->storage->key, (unsigned long long)t->storage->n_bytes);
}

/* ============================================ unwrapping a pickled object */

static const char *const wrapper_keys[] = {"state_dict", "model", "net"};

/* A dict whose values are all tensors (an empty dict counts). */
static int is_tensor_dict(const py_obj_t *o) {
    if (!o || o->kind != PY_DICT) return 0;
    for (size_t i = 1; i < o->u.seq.n; i += 2)
        if (o->u.seq.items[i]->kind != PY_TENSOR) return 0;
    return 1;
}

/* "epoch, state_dict, optimizer" (at most ~200 bytes) for messages. */
static void dict_keys(const py_obj_t *d, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < d->u.seq.n && o + 8 < cap; i += 2) {
        const py_obj_t *k = d->u.seq.items[i];
        char one[80];
        if (k->kind == PY_STR)
            stc_escape(one, sizeof one, k->u.str.s, k->u.str.len, 40);
        else
            snprintf(one, sizeof one, "<%s>", py_kind_name(k->kind));
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", one);
        if (w < 0 || (size_t)w >= cap - o) {
            snprintf(buf + (o < cap - 4 ? o : cap - 4), 4, "...");
            return;
        }
        o += (size_t)w;
    }
}

stc_status_t ckpt_add_pickled(stc_ckpt_t *c, const py_obj_t *root, stc_err_t *err) {
    const py_obj_t *sd = root;
    char wrap[200] = "";
    size_t wo = 0;
    if (!root || root->kind != PY_DICT)
        return stc_err_set(err, STC_E_UNSUPPORTED,
                           "%s: expected a state_dict (a dict of tensors) or a training "
                           "checkpoint (a dict holding one), found %s",
                           c->path, root ? py_kind_name(root->kind) : "nothing");
    /* Descend through at most 4 wrapper levels ({'model': {'state_dict': ...}}). */
    for (int depth = 0; depth < 4 && !is_tensor_dict(sd); depth++) {
        const py_obj_t *inner = NULL;
        const char *via = NULL;
        for (size_t w = 0; w < sizeof wrapper_keys / sizeof *wrapper_keys && !inner; w++) {
            const py_obj_t *v = py_dict_get(sd, wrapper_keys[w]);
            if (v && v->kind == PY_DICT) inner = v, via = wrapper_keys[w];
        }
        if (!inner) break;
        int n = snprintf(wrap + wo, sizeof wrap - wo, "['%s']", via);
        if (n > 0 && (size_t)n < sizeof wrap - wo) wo += (size_t)n;
        sd = inner;
    }
    for (size_t i = 0; i < sd->u.seq.n; i += 2) {
        const py_obj_t *k = sd->u.seq.items[i], *v = sd->u.seq.items[i + 1];
        char kb[96];
        if (k->kind != PY_STR) {
            return stc_err_set(err, STC_E_UNSUPPORTED,
                               "%s: state_dict%s: entry %zu has a %s key, expected a string",
                               c->path, wrap, i / 2, py_kind_name(k->kind));
        }
        if (v->kind != PY_TENSOR) {
            char keys[240];
            stc_escape(kb, sizeof kb, k->u.str.s, k->u.str.len, 64);
            dict_keys(sd, keys, sizeof keys);
            if (sd == root)
                return stc_err_set(err, STC_E_UNSUPPORTED,
                                   "%s: entry '%s': expected a tensor, found %s (the checkpoint "
                                   "is a dict with keys [%s] and no 'state_dict', 'model' or "
                                   "'net' entry holding a dict of tensors)",
                                   c->path, kb, py_kind_name(v->kind), keys);
            return stc_err_set(err, STC_E_UNSUPPORTED,
                               "%s: state_dict%s: entry '%s': expected a tensor, found %s",
                               c->path, wrap, kb, py_kind_name(v->kind));
        }
        const py_tensor_t *pt = v->u.tensor;
        if (!pt->storage || !pt->storage->st)
            return stc_err_set(err, STC_E_INTERNAL, "%s: tensor '%s': storage not resolved",
                               c->path, k->u.str.s);
        stc_tensor_t t;
        memset(&t, 0, sizeof t);
        t.name = k->u.str.s;
        t.dtype = pt->dtype;
        t.ndim = pt->ndim;
        memcpy(t.shape, pt->shape, sizeof t.shape);
        memcpy(t.stride, pt->stride, sizeof t.stride);
        t.offset = pt->offset;
        t.storage = pt->storage->st;
        if (strlen(t.name) != k->u.str.len) {
            stc_escape(kb, sizeof kb, k->u.str.s, k->u.str.len, 64);
            return stc_err_set(err, STC_E_FORMAT, "%s: tensor name '%s' contains a NUL byte",
                               c->path, kb);
        }
        if (!ckpt_add_tensor(c, &t, err)) return err ? err->status : STC_E_NOMEM;
    }
    snprintf(c->wrapper, sizeof c->wrapper, "%s", wrap);
    return STC_OK;
}

/* ======================================================= after the reader */

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Strip 'module.', check bounds, index names (refusing duplicates). */
static stc_status_t finish(stc_ckpt_t *c, stc_err_t *err) {
    static const char prefix[] = "module.";
    size_t pl = sizeof prefix - 1;
    int all = c->n_tensors > 0;
    for (size_t i = 0; i < c->n_tensors && all; i++)
        all = !strncmp(c->tensors[i]->name, prefix, pl) && c->tensors[i]->name[pl];
    if (all) {
        for (size_t i = 0; i < c->n_tensors; i++) c->tensors[i]->name += pl;
        size_t o = strlen(c->wrapper);
        snprintf(c->wrapper + o, sizeof c->wrapper - o, "%sprefix 'module.'", o ? ", " : "");
    }
    for (size_t i = 0; i < c->n_tensors; i++)
        if (ckpt_check_bounds(c, c->tensors[i], err) != STC_OK) return err ? err->status : 1;
    size_t cap = 16;
    while (cap < c->n_tensors * 2) cap *= 2;
    free(c->index);
    c->index = calloc(cap, sizeof *c->index);
    if (!c->index) return stc_err_set(err, STC_E_NOMEM, "%s: out of memory", c->path);
    c->index_cap = cap;
    for (size_t i = 0; i < c->n_tensors; i++) {
        const char *nm = c->tensors[i]->name;
        size_t h = (size_t)hash_name(nm) & (cap - 1);
        while (c->index[h]) {
            if (!strcmp(c->tensors[c->index[h] - 1]->name, nm)) {
                char kb[96];
                stc_escape(kb, sizeof kb, nm, strlen(nm), 64);
                return stc_err_set(err, STC_E_FORMAT, "%s: tensor '%s' appears twice", c->path,
                                   kb);
            }
            h = (h + 1) & (cap - 1);
        }
        c->index[h] = i + 1;
    }
    return STC_OK;
}

/* ============================================================ detection */

typedef enum { FMT_UNKNOWN, FMT_ZIP, FMT_EMPTY_ZIP, FMT_LEGACY, FMT_SAFETENSORS } fmt_t;

/* The legacy magic number pickle: PROTO 2, LONG1 10 bytes 0x1950a86a20f9469cfc6c (LE). */
static const unsigned char legacy_head[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                            0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static fmt_t detect(const unsigned char *b, size_t n) {
    if (n >= 4 && !memcmp(b, "PK\x03\x04", 4)) return FMT_ZIP;
    if (n >= 4 && !memcmp(b, "PK\x05\x06", 4)) return FMT_EMPTY_ZIP;
    if (n >= 2 && b[0] == 0x80 && b[1] == 0x02) {
        size_t k = n < sizeof legacy_head ? n : sizeof legacy_head;
        if (!memcmp(b, legacy_head, k)) return FMT_LEGACY;
    }
    if (n >= 10) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
        size_t i = 8;
        while (i < n && i < 8 + hl && b[i] == ' ') i++;
        if (hl >= 2 && i < n && b[i] == '{') return FMT_SAFETENSORS;
    }
    return FMT_UNKNOWN;
}

static stc_status_t bad_magic(const char *path, const unsigned char *b, size_t n, fmt_t f,
                              stc_err_t *err) {
    char esc[80];
    if (n == 0) return stc_err_set(err, STC_E_FORMAT, "%s: the file is empty", path);
    if (f == FMT_EMPTY_ZIP)
        return stc_err_set(err, STC_E_FORMAT,
                           "%s: an empty zip archive: expected a torch.save zip with data.pkl",
                           path);
    stc_escape(esc, sizeof esc, b, n, 16);
    return stc_err_set(err, STC_E_FORMAT,
                       "%s: expected a torch.save zip, a legacy torch.save file or safetensors, "
                       "found bytes \"%s\"",
                       path, esc);
}

static stc_ckpt_t *ckpt_new(const char *name, stc_err_t *err) {
    stc_ckpt_t *c = calloc(1, sizeof *c);
    if (c) c->arena = stc_arena_create();
    if (c && c->arena) c->path = stc_arena_strdup(c->arena, name ? name : "<memory>");
    if (!c || !c->path) {
        stc_ckpt_destroy(&c);
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", name ? name : "<memory>");
        return NULL;
    }
    return c;
}

static stc_status_t run_reader(stc_ckpt_t *c, fmt_t f, const unsigned char *buf, size_t n,
                               stc_err_t *err) {
    stc_status_t st;
    switch (f) {
    case FMT_ZIP:
        c->format = "torch-zip";
        st = stc_read_torchzip(c, buf, n, err);
        break;
    case FMT_LEGACY:
        c->format = "torch-legacy";
        st = stc_read_legacy(c, buf, n, err);
        break;
    case FMT_SAFETENSORS:
        c->format = "safetensors";
        st = stc_read_safetensors(c, buf, n, err);
        break;
    default:
        return stc_err_set(err, STC_E_INTERNAL, "%s: no reader", c->path);
    }
    if (st != STC_OK) return st;
    return finish(c, err);
}

/* ================================================================ public */

stc_ckpt_t *stc_ckpt_load(const char *path, stc_err_t *err) {
    unsigned char head[64];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        stc_err_set(err, STC_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        stc_err_set(err, STC_E_IO, "%s: not a regular file", path);
        return NULL;
    }
    ssize_t got = pread(fd, head, sizeof head, 0);
    if (got < 0) {
        stc_err_set(err, STC_E_IO, "%s: cannot read: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    fmt_t f = detect(head, (size_t)got);
    if (f == FMT_UNKNOWN || f == FMT_EMPTY_ZIP) {
        close(fd);
        bad_magic(path, head, (size_t)got, f, err);
        return NULL;
    }
    stc_ckpt_t *c = ckpt_new(path, err);
    if (!c) {
        close(fd);
        return NULL;
    }
    const unsigned char *buf = NULL;
    size_t n = 0;
    {
        if ((uint64_t)sb.st_size > SIZE_MAX) {
            close(fd);
            stc_err_set(err, STC_E_LIMIT, "%s: file too large to map", path);
            stc_ckpt_destroy(&c);
            return NULL;
        }
        n = (size_t)sb.st_size;
        void *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            stc_err_set(err, STC_E_IO, "%s: cannot map %zu bytes: %s", path, n, strerror(errno));
            close(fd);
            stc_ckpt_destroy(&c);
            return NULL;
        }
        c->map = m;
        c->map_bytes = n;
        c->map_is_mmap = 1;
        buf = m;
    }
    close(fd);
    if (run_reader(c, f, buf, n, err) != STC_OK) stc_ckpt_destroy(&c);
    return c;
}

stc_ckpt_t *stc_ckpt_load_mem(const void *buf, size_t n, const char *name, stc_err_t *err) {
    if (!name) name = "<memory>";
    fmt_t f = detect(buf, n);
    if (f == FMT_UNKNOWN || f == FMT_EMPTY_ZIP) {
        bad_magic(name, buf, n, f, err);
        return NULL;
    }
    stc_ckpt_t *c = ckpt_new(name, err);
    if (!c) return NULL;
    const unsigned char *b = buf;
    {
        /* Storages point into the bytes, which the caller keeps: copy them once. */
        c->map = malloc(n ? n : 1);
        if (!c->map) {
            stc_err_set(err, STC_E_NOMEM, "%s: out of memory copying %zu bytes", name, n);
            stc_ckpt_destroy(&c);
            return NULL;
        }
        memcpy(c->map, buf, n);
        c->map_bytes = n;
        b = c->map;
    }
    if (run_reader(c, f, b, n, err) != STC_OK) stc_ckpt_destroy(&c);
    return c;
}

void stc_ckpt_destroy(stc_ckpt_t **cp) {
    if (!cp || !*cp) return;
    stc_ckpt_t *c = *cp;
    for (size_t i = 0; i < c->n_owned; i++) free(c->owned[i]);
    free(c->owned);
    free(c->storages);
    free(c->tensors);
    free(c->index);
    if (c->map) {
        if (c->map_is_mmap)
            munmap(c->map, c->map_bytes);
        else
            free(c->map);
    }
    stc_arena_destroy(&c->arena);
    free(c);
    *cp = NULL;
}

size_t stc_ckpt_count(const stc_ckpt_t *c) { return c ? c->n_tensors : 0; }

const stc_tensor_t *stc_ckpt_at(const stc_ckpt_t *c, size_t i) {
    return c && i < c->n_tensors ? c->tensors[i] : NULL;
}

const stc_tensor_t *stc_ckpt_find(const stc_ckpt_t *c, const char *name) {
    if (!c || !name) return NULL;
    if (!c->index_cap) { /* not finished (a reader's own tests): linear scan */
        for (size_t i = 0; i < c->n_tensors; i++)
            if (!strcmp(c->tensors[i]->name, name)) return c->tensors[i];
        return NULL;
    }
    size_t h = (size_t)hash_name(name) & (c->index_cap - 1);
    while (c->index[h]) {
        const stc_tensor_t *t = c->tensors[c->index[h] - 1];
        if (!strcmp(t->name, name)) return t;
        h = (h + 1) & (c->index_cap - 1);
    }
    return NULL;
}

const char *stc_ckpt_format(const stc_ckpt_t *c) { return c && c->format ? c->format : ""; }
const char *stc_ckpt_wrapper(const stc_ckpt_t *c) { return c ? c->wrapper : ""; }
const char *stc_ckpt_path(const stc_ckpt_t *c) { return c ? c->path : ""; }

/* ================================================================ tensors */

int64_t stc_tensor_numel(const stc_tensor_t *t) {
    int64_t n = 1;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] < 0) return -1;
        if (__builtin_mul_overflow(n, t->shape[k], &n)) return -1;
    }
    return n;
}

const char *stc_tensor_describe(const stc_tensor_t *t, char *buf, size_t cap) {
    size_t o = 0;
    if (cap == 0) return buf;
    buf[0] = 0;
    int w = snprintf(buf, cap, "[");
    o = w > 0 ? (size_t)w : 0;
    for (int k = 0; k < t->ndim && o < cap; k++) {
        w = snprintf(buf + o, cap - o, "%s%lld", k ? "," : "", (long long)t->shape[k]);
        if (w < 0) break;
        o += (size_t)w;
    }
    if (o < cap) snprintf(buf + o, cap - o, "] %s", stc_dtype_name(t->dtype));
    return buf;
}

/* IEEE half -> float, exact for every input (subnormals, inf, NaN). */
static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        if (m == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            e = 127 - 15 + 1;
            while (!(m & 0x400)) {
                m <<= 1;
                e--;
            }
            m &= 0x3ff;
            bits = sign | (e << 23) | (m << 13);
        }
    } else if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13);
    } else {
        bits = sign | ((e + 127 - 15) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Convert one row of n elements, `stride` elements apart, starting at p. */
static void convert_row(stc_dtype_t dt, const unsigned char *p, int64_t stride, size_t n,
                        float *dst) {
    size_t es = stc_dtype_size(dt);
    size_t step = (size_t)stride * es;
    if (dt == STC_DT_F32 && stride == 1) {
        memcpy(dst, p, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++, p += step) {
        union {
            float f32;
            double f64;
            int64_t i64;
            uint64_t u64;
            int32_t i32;
            uint32_t u32;
            int16_t i16;
            uint16_t u16;
            int8_t i8;
            uint8_t u8;
        } v;
        memcpy(&v, p, es); /* data may be unaligned (mmap'd legacy/safetensors) */
        switch (dt) {
        case STC_DT_F32: dst[i] = v.f32; break;
        case STC_DT_F16: dst[i] = half_to_f32(v.u16); break;
        case STC_DT_BF16: {
            uint32_t b = (uint32_t)v.u16 << 16;
            memcpy(&dst[i], &b, 4);
            break;
        }
        case STC_DT_F64: dst[i] = (float)v.f64; break;
        case STC_DT_I64: dst[i] = (float)v.i64; break;
        case STC_DT_I32: dst[i] = (float)v.i32; break;
        case STC_DT_I16: dst[i] = (float)v.i16; break;
        case STC_DT_I8: dst[i] = (float)v.i8; break;
        case STC_DT_U8: dst[i] = (float)v.u8; break;
        case STC_DT_BOOL: dst[i] = v.u8 ? 1.0f : 0.0f; break;
        case STC_DT_U16: dst[i] = (float)v.u16; break;
        case STC_DT_U32: dst[i] = (float)v.u32; break;
        case STC_DT_U64: dst[i] = (float)v.u64; break;
        default: dst[i] = 0; break;
        }
    }
}

stc_status_t stc_tensor_to_f32(const stc_tensor_t *t, float *dst, size_t n, stc_err_t *err) {
    int64_t numel = stc_tensor_numel(t);
    const char *nm = t->name ? t->name : "";
    if (numel < 0 || (uint64_t)numel != n)
        return stc_err_set(err, STC_E_USAGE, "tensor '%s': has %lld elements, buffer holds %zu",
                           nm, (long long)numel, n);
    if ((unsigned)t->dtype >= STC_DT_COUNT || !t->storage)
        return stc_err_set(err, STC_E_USAGE, "tensor '%s': bad dtype or no storage", nm);
    if (n == 0) return STC_OK;
    /* Guard against a tensor that was not bounds-checked (built by hand). */
    stc_ckpt_t dummy;
    memset(&dummy, 0, sizeof dummy);
    dummy.path = "tensor";
    if (ckpt_check_bounds(&dummy, t, err) != STC_OK) return err ? err->status : STC_E_FORMAT;

    size_t es = stc_dtype_size(t->dtype);
    const unsigned char *base = t->storage->data + (size_t)t->offset * es;
    if (t->ndim == 0) {
        convert_row(t->dtype, base, 1, 1, dst);
        return STC_OK;
    }
    int last = t->ndim - 1;
    size_t row = (size_t)t->shape[last];
    int64_t idx[STC_MAX_DIMS] = {0};
    size_t rows = n / row, o = 0;
    for (size_t r = 0; r < rows; r++) {
        int64_t off = 0;
        for (int k = 0; k < last; k++) off += idx[k] * t->stride[k];
        convert_row(t->dtype, base + (size_t)off * es, t->stride[last], row, dst + o);
        o += row;
        for (int k = last - 1; k >= 0; k--) { /* odometer over the outer dimensions */
            if (++idx[k] < t->shape[k]) break;
            idx[k] = 0;
        }
    }
    return STC_OK;
}
