/* pickle.h - a restricted pickle machine for torch.save streams (internal to the frontend).
 *
 * Runs the subset of pickle protocol 2 that torch.save writes for state_dicts
 * and training checkpoints and builds a tree of inert values (py_obj_t).  It
 * never runs code: GLOBAL accepts only an allowlist (OrderedDict, the tensor
 * and parameter rebuilders, the typed storages, argparse.Namespace and a few
 * builtins), and "calling" one of them (REDUCE/NEWOBJ) only builds a value.
 * BINPERSID turns torch's ('storage', type, key, location, numel[, view])
 * tuples into py_storage_t records, one per key; the reader that owns the
 * machine later fills in where each storage's bytes live.
 *
 * Limits: stack, mark depth, memo indices and object count are bounded and
 * every length is checked against the bytes left before anything is copied.
 * Errors name the stream ("model.pth: data.pkl"), the opcode and its offset.
 * The machine is iterative; nothing here recurses on the depth of the input.
 * Opcode reference: CPython Lib/pickletools.py.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_PICKLE_H
#define STC_PICKLE_H

#include "stc_ckpt.h"

typedef enum {
    PY_NONE,
    PY_BOOL,     /* u.i = 0/1                                   */
    PY_INT,      /* u.i                                         */
    PY_BIGINT,   /* LONG1/LONG4 beyond int64: u.str = LE bytes  */
    PY_FLOAT,    /* u.f                                         */
    PY_STR,      /* u.str, UTF-8 (not validated), NUL-terminated */
    PY_BYTES,    /* u.str                                       */
    PY_TUPLE,    /* u.seq                                       */
    PY_LIST,     /* u.seq                                       */
    PY_SET,      /* u.seq (set, frozenset)                      */
    PY_DICT,     /* u.seq: 2*n items, key and value interleaved, in insertion order */
    PY_GLOBAL,   /* an allowlisted callable/class: u.global     */
    PY_STORAGE,  /* result of BINPERSID: u.storage              */
    PY_TENSOR,   /* result of _rebuild_tensor_v2 etc.: u.tensor */
    PY_OBJECT    /* an inert instance (Namespace, numpy scalar ...): u.object */
} py_kind_t;

/* ORDER GLOBAL: keep the table in pickle.c in step. */
typedef enum {
    PG_ORDERED_DICT,
    PG_REBUILD_TENSOR_V2,
    PG_REBUILD_TENSOR_V3,
    PG_REBUILD_PARAMETER,
    PG_REBUILD_PARAMETER_STATE,
    PG_STORAGE,          /* torch.<X>Storage: dtype in py_global_t.dtype */
    PG_UNTYPED_STORAGE,  /* torch.UntypedStorage (bytes)                 */
    PG_DTYPE,            /* torch.float32 ... (v3 argument)              */
    PG_SIZE,             /* torch.Size                                   */
    PG_NAMESPACE,        /* argparse.Namespace                           */
    PG_SET,              /* builtins.set                                 */
    PG_FROZENSET,        /* builtins.frozenset                           */
    PG_CODECS_ENCODE,    /* _codecs.encode(str, 'latin1') -> bytes       */
    PG_NUMPY_SCALAR,     /* numpy.core.multiarray.scalar (inert)         */
    PG_NUMPY_DTYPE,      /* numpy.dtype (inert)                          */
    PG_COUNT
} py_global_id_t;

typedef struct py_obj py_obj_t;

typedef struct {
    py_global_id_t id;
    stc_dtype_t dtype;   /* PG_STORAGE, PG_DTYPE */
    const char *name;    /* "torch FloatStorage" as written */
} py_global_t;

/* One storage key; every BINPERSID naming the same key yields the same record. */
typedef struct py_storage {
    const char *key;
    const char *type_name;     /* "FloatStorage" for messages */
    stc_dtype_t dtype;
    uint64_t numel;            /* in elements of dtype */
    const stc_storage_t *st;   /* filled by the reader once the bytes are known */
    size_t first_offset;       /* byte offset of the first BINPERSID, for messages */
} py_storage_t;

typedef struct {
    py_storage_t *storage;
    stc_dtype_t dtype;         /* the tensor's dtype (v3 may differ from the storage's) */
    int ndim;
    int64_t shape[STC_MAX_DIMS];
    int64_t stride[STC_MAX_DIMS];
    int64_t offset;
} py_tensor_t;

struct py_obj {
    py_kind_t kind;
    union {
        int64_t i;
        double f;
        struct {
            const char *s;
            size_t len;
        } str;
        struct {
            py_obj_t **items;
            size_t n, cap;
        } seq;
        const py_global_t *global;
        py_storage_t *storage;
        py_tensor_t *tensor;
        struct {
            const py_global_t *cls;
            py_obj_t *args;
            py_obj_t *state;   /* from BUILD, may be NULL */
        } object;
    } u;
    py_obj_t *attrs;           /* BUILD state on a dict/tensor (e.g. OrderedDict._metadata) */
};

typedef struct pk_machine pk_t;

/* Create a machine; `where` names the stream in messages ("model.pth: data.pkl"). */
pk_t *pk_create(const char *where, stc_err_t *err);
void pk_destroy(pk_t **pp);

/* Run one pickle from buf[start..n) up to and including STOP; *used (may be
 * NULL) gets the bytes consumed, so several pickles can be read back to back
 * (the legacy format).  Offsets in messages count from buf.  Objects stay
 * valid until pk_destroy.  Stack and memo are reset for each run; storages
 * accumulate. */
stc_status_t pk_run(pk_t *pk, const unsigned char *buf, size_t n, size_t start, size_t *used,
                    py_obj_t **root, stc_err_t *err);

/* Storages referenced so far, in order of first reference. */
size_t pk_storage_count(const pk_t *pk);
py_storage_t *pk_storage_at(const pk_t *pk, size_t i);
py_storage_t *pk_storage_find(const pk_t *pk, const char *key);

/* Accessors used when walking the tree. */
const char *py_kind_name(py_kind_t k);
/* Value of a dict entry whose key is the string `key`, or NULL. */
py_obj_t *py_dict_get(const py_obj_t *dict, const char *key);
/* Is `o` a (non-BIGINT) integer equal to...; returns 1 and sets *v if an int or bool. */
int py_as_int(const py_obj_t *o, int64_t *v);

/* A comma-separated list of the allowed GLOBALs, for messages. */
const char *pk_allowed_globals(void);

#endif
