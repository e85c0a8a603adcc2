/* pickle.c - the restricted pickle machine: torch.save's pickles as inert values.
 *
 * You might also think of it as a pickle *parser*: it reads the opcode stream
 * that CPython's Unpickler would execute, but "calling" a GLOBAL only builds a
 * value (a dict, a tensor record, an inert object), and GLOBAL itself accepts
 * only the allowlist below, as torch.load(weights_only=True) does.  The dispatch
 * loop is flat (one case per opcode, each with its pickletools name and stack
 * effect); nothing recurses, so a pickle nested a million levels deep costs a
 * stack array, not the C stack, and the limits below stop it first.
 * Opcode reference: CPython Lib/pickletools.py.
 * SPDX-License-Identifier: MIT
 */
#include "pickle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits.  A torch.save pickle for a 66M-parameter model is ~100 KB with a
 * nesting depth of 4; these are orders of magnitude above anything real. */
#define PK_MAX_STACK   (1u << 20)  /* values on the stack                        */
#define PK_MAX_MARKS   1000        /* nested MARKs (Python's recursion limit)     */
#define PK_MAX_MEMO    (1u << 22)  /* memo index (also < the pickle's byte count) */
#define PK_MAX_OBJECTS (1u << 22)  /* values built by one pickle                  */
#define PK_MAX_ITEMS   (1u << 24)  /* items in one container                      */
#define PK_MAX_LONG    64          /* bytes of a LONG1/LONG4 integer              */
#define PK_MAX_LINE    256         /* GLOBAL module/name and text-form lines      */
#define PK_MAX_KEY     128         /* bytes of a storage key                      */

/* ===================================================== the GLOBAL allowlist */

/* ORDER GLOBAL: ids as in pickle.h; the dtype is used by storages and dtypes. */
static const py_global_t allowed[] = {
    {PG_ORDERED_DICT, 0, "collections OrderedDict"},
    {PG_REBUILD_TENSOR_V2, 0, "torch._utils _rebuild_tensor_v2"},
    {PG_REBUILD_TENSOR_V3, 0, "torch._utils _rebuild_tensor_v3"},
    {PG_REBUILD_PARAMETER, 0, "torch._utils _rebuild_parameter"},
    {PG_REBUILD_PARAMETER_STATE, 0, "torch._utils _rebuild_parameter_with_state"},
    {PG_STORAGE, STC_DT_F64, "torch DoubleStorage"},
    {PG_STORAGE, STC_DT_F32, "torch FloatStorage"},
    {PG_STORAGE, STC_DT_F16, "torch HalfStorage"},
    {PG_STORAGE, STC_DT_BF16, "torch BFloat16Storage"},
    {PG_STORAGE, STC_DT_I64, "torch LongStorage"},
    {PG_STORAGE, STC_DT_I32, "torch IntStorage"},
    {PG_STORAGE, STC_DT_I16, "torch ShortStorage"},
    {PG_STORAGE, STC_DT_I8, "torch CharStorage"},
    {PG_STORAGE, STC_DT_U8, "torch ByteStorage"},
    {PG_STORAGE, STC_DT_BOOL, "torch BoolStorage"},
    {PG_UNTYPED_STORAGE, STC_DT_U8, "torch UntypedStorage"},
    {PG_DTYPE, STC_DT_F32, "torch float32"},
    {PG_DTYPE, STC_DT_F32, "torch float"},
    {PG_DTYPE, STC_DT_F16, "torch float16"},
    {PG_DTYPE, STC_DT_F16, "torch half"},
    {PG_DTYPE, STC_DT_BF16, "torch bfloat16"},
    {PG_DTYPE, STC_DT_F64, "torch float64"},
    {PG_DTYPE, STC_DT_F64, "torch double"},
    {PG_DTYPE, STC_DT_I64, "torch int64"},
    {PG_DTYPE, STC_DT_I64, "torch long"},
    {PG_DTYPE, STC_DT_I32, "torch int32"},
    {PG_DTYPE, STC_DT_I32, "torch int"},
    {PG_DTYPE, STC_DT_I16, "torch int16"},
    {PG_DTYPE, STC_DT_I16, "torch short"},
    {PG_DTYPE, STC_DT_I8, "torch int8"},
    {PG_DTYPE, STC_DT_U8, "torch uint8"},
    {PG_DTYPE, STC_DT_BOOL, "torch bool"},
    {PG_SIZE, 0, "torch Size"},
    {PG_NAMESPACE, 0, "argparse Namespace"},
    {PG_SET, 0, "builtins set"},
    {PG_SET, 0, "__builtin__ set"},
    {PG_FROZENSET, 0, "builtins frozenset"},
    {PG_FROZENSET, 0, "__builtin__ frozenset"},
    {PG_CODECS_ENCODE, 0, "_codecs encode"},
    {PG_NUMPY_SCALAR, 0, "numpy.core.multiarray scalar"},
    {PG_NUMPY_SCALAR, 0, "numpy._core.multiarray scalar"},
    {PG_NUMPY_DTYPE, 0, "numpy dtype"},
};

const char *pk_allowed_globals(void) {
    return "collections.OrderedDict, torch._utils._rebuild_tensor_v2/_v3, "
           "torch._utils._rebuild_parameter[_with_state], torch.<Double|Float|Half|BFloat16|"
           "Long|Int|Short|Char|Byte|Bool>Storage, torch.UntypedStorage, torch.<dtype>, "
           "torch.Size, argparse.Namespace, builtins.set/frozenset, _codecs.encode, "
           "numpy scalar/dtype";
}

/* ================================================================ objects */

typedef struct {
    py_storage_t *rec;
    py_obj_t *obj;
} storage_slot_t;

struct pk_machine {
    stc_arena_t *arena;
    char *where;
    /* the current run */
    const unsigned char *buf;
    size_t n, pos, op_pos;
    unsigned char op;
    py_obj_t **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    py_obj_t **memo;
    size_t memo_cap, memo_limit, memo_count;
    size_t n_objects;
    /* storages, across runs: array in first-reference order + hash on key */
    storage_slot_t *storages;
    size_t n_storages, cap_storages;
    size_t *sidx; /* i+1 or 0 */
    size_t sidx_cap;
    py_obj_t *none, *yes, *no;
    stc_err_t *err;
};

static const char *const kind_names[] = {
    "None", "bool", "int", "int", "float", "str", "bytes", "tuple", "list", "set",
    "dict", "global", "storage", "tensor", "object",
};

const char *py_kind_name(py_kind_t k) {
    return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : "?";
}

py_obj_t *py_dict_get(const py_obj_t *d, const char *key) {
    if (!d || d->kind != PY_DICT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i + 1 < d->u.seq.n; i += 2) {
        const py_obj_t *k = d->u.seq.items[i];
        if (k->kind == PY_STR && k->u.str.len == kl && !memcmp(k->u.str.s, key, kl))
            return d->u.seq.items[i + 1];
    }
    return NULL;
}

int py_as_int(const py_obj_t *o, int64_t *v) {
    if (!o || (o->kind != PY_INT && o->kind != PY_BOOL)) return 0;
    *v = o->u.i;
    return 1;
}

/* ============================================================ diagnostics */

static const char *opname(unsigned char op) {
    switch (op) {
    case 0x80: return "PROTO";
    case 0x95: return "FRAME";
    case 'c': return "GLOBAL";
    case 0x93: return "STACK_GLOBAL";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 'p': return "PUT";
    case 0x94: return "MEMOIZE";
    case 'h': return "BINGET";
    case 'j': return "LONG_BINGET";
    case 'g': return "GET";
    case '(': return "MARK";
    case 't': return "TUPLE";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case ')': return "EMPTY_TUPLE";
    case '}': return "EMPTY_DICT";
    case ']': return "EMPTY_LIST";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 'd': return "DICT";
    case 'l': return "LIST";
    case 'X': return "BINUNICODE";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8e: return "BINBYTES8";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'M': return "BININT2";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'G': return "BINFLOAT";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 'N': return "NONE";
    case 'R': return "REDUCE";
    case 0x81: return "NEWOBJ";
    case 'b': return "BUILD";
    case 's': return "SETITEM";
    case 'u': return "SETITEMS";
    case 'a': return "APPEND";
    case 'e': return "APPENDS";
    case 'Q': return "BINPERSID";
    case 'P': return "PERSID";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case '.': return "STOP";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x92: return "NEWOBJ_EX";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

/* "model.pth: data.pkl: REDUCE at byte 211: <msg>" */
static stc_status_t fail(pk_t *pk, stc_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static stc_status_t fail(pk_t *pk, stc_status_t st, const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *on = opname(pk->op);
    if (on)
        return stc_err_set(pk->err, st, "%s: %s at byte %zu: %s", pk->where, on, pk->op_pos, msg);
    return stc_err_set(pk->err, st, "%s: opcode 0x%02x at byte %zu: %s", pk->where, pk->op,
                       pk->op_pos, msg);
}

/* ============================================================ allocation */

pk_t *pk_create(const char *where, stc_err_t *err) {
    pk_t *pk = calloc(1, sizeof *pk);
    if (pk) pk->arena = stc_arena_create();
    if (pk && pk->arena) {
        pk->where = stc_arena_strdup(pk->arena, where ? where : "pickle");
        pk->none = stc_arena_alloc(pk->arena, sizeof(py_obj_t));
        pk->yes = stc_arena_alloc(pk->arena, sizeof(py_obj_t));
        pk->no = stc_arena_alloc(pk->arena, sizeof(py_obj_t));
        pk->stack = malloc(256 * sizeof *pk->stack); /* never NULL: stack + i is defined */
        pk->stack_cap = 256;
    }
    if (!pk || !pk->arena || !pk->where || !pk->none || !pk->yes || !pk->no || !pk->stack) {
        pk_destroy(&pk);
        stc_err_set(err, STC_E_NOMEM, "%s: out of memory", where ? where : "pickle");
        return NULL;
    }
    pk->none->kind = PY_NONE;
    pk->yes->kind = PY_BOOL;
    pk->yes->u.i = 1;
    pk->no->kind = PY_BOOL;
    return pk;
}

void pk_destroy(pk_t **pp) {
    if (!pp || !*pp) return;
    pk_t *pk = *pp;
    free(pk->stack);
    free(pk->marks);
    free(pk->memo);
    free(pk->storages);
    free(pk->sidx);
    stc_arena_destroy(&pk->arena);
    free(pk);
    *pp = NULL;
}

static py_obj_t *new_obj(pk_t *pk, py_kind_t kind) {
    if (pk->n_objects >= PK_MAX_OBJECTS) {
        fail(pk, STC_E_LIMIT, "more than %u objects", PK_MAX_OBJECTS);
        return NULL;
    }
    py_obj_t *o = stc_arena_alloc(pk->arena, sizeof *o);
    if (!o) {
        fail(pk, STC_E_NOMEM, "out of memory");
        return NULL;
    }
    pk->n_objects++;
    o->kind = kind;
    return o;
}

/* Append to a tuple/list/set/dict's item array (arena, doubling). */
static int seq_push(pk_t *pk, py_obj_t *o, py_obj_t *item) {
    if (o->u.seq.n >= o->u.seq.cap) {
        if (o->u.seq.n >= PK_MAX_ITEMS) {
            fail(pk, STC_E_LIMIT, "a %s with more than %u items", py_kind_name(o->kind),
                 PK_MAX_ITEMS);
            return 0;
        }
        size_t nc = o->u.seq.cap ? o->u.seq.cap * 2 : 4;
        py_obj_t **a = stc_arena_alloc(pk->arena, nc * sizeof *a);
        if (!a) {
            fail(pk, STC_E_NOMEM, "out of memory");
            return 0;
        }
        if (o->u.seq.n) memcpy(a, o->u.seq.items, o->u.seq.n * sizeof *a);
        o->u.seq.items = a;
        o->u.seq.cap = nc;
    }
    o->u.seq.items[o->u.seq.n++] = item;
    return 1;
}

/* A sequence holding the given items (copied). */
static py_obj_t *new_seq(pk_t *pk, py_kind_t kind, py_obj_t **items, size_t n) {
    py_obj_t *o = new_obj(pk, kind);
    if (!o) return NULL;
    if (n) {
        o->u.seq.items = stc_arena_alloc(pk->arena, n * sizeof *items);
        if (!o->u.seq.items) {
            fail(pk, STC_E_NOMEM, "out of memory");
            return NULL;
        }
        memcpy(o->u.seq.items, items, n * sizeof *items);
        o->u.seq.n = o->u.seq.cap = n;
    }
    return o;
}

/* =============================================================== the stack */

static int push(pk_t *pk, py_obj_t *o) {
    if (!o) return 0;
    if (pk->sp >= pk->stack_cap) {
        if (pk->sp >= PK_MAX_STACK) {
            fail(pk, STC_E_LIMIT, "stack deeper than %u values", PK_MAX_STACK);
            return 0;
        }
        size_t nc = pk->stack_cap ? pk->stack_cap * 2 : 256;
        py_obj_t **s = realloc(pk->stack, nc * sizeof *s);
        if (!s) {
            fail(pk, STC_E_NOMEM, "out of memory");
            return 0;
        }
        pk->stack = s;
        pk->stack_cap = nc;
    }
    pk->stack[pk->sp++] = o;
    return 1;
}

/* Bottom of the values that may be popped: the newest MARK. */
static size_t fence(const pk_t *pk) { return pk->n_marks ? pk->marks[pk->n_marks - 1] : 0; }

/* Need k values above the fence. */
static int need(pk_t *pk, size_t k) {
    if (pk->sp - fence(pk) >= k) return 1;
    fail(pk, STC_E_FORMAT, "stack underflow: needs %zu value%s, has %zu", k, k == 1 ? "" : "s",
         pk->sp - fence(pk));
    return 0;
}

static py_obj_t *pop(pk_t *pk) { return pk->stack[--pk->sp]; }

/* Pop back to the newest MARK; returns the index of the first item above it. */
static int pop_mark(pk_t *pk, size_t *first) {
    if (!pk->n_marks) {
        fail(pk, STC_E_FORMAT, "no MARK on the stack");
        return 0;
    }
    *first = pk->marks[--pk->n_marks];
    return 1;
}

/* ================================================================ reading */

static int take(pk_t *pk, size_t k, const unsigned char **p) {
    if (pk->n - pk->pos < k) {
        fail(pk, STC_E_FORMAT, "needs %zu bytes, only %zu left in the stream", k,
             pk->n - pk->pos);
        return 0;
    }
    *p = pk->buf + pk->pos;
    pk->pos += k;
    return 1;
}

static uint64_t le(const unsigned char *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A '\n'-terminated line of at most PK_MAX_LINE bytes, without the '\n'. */
static int take_line(pk_t *pk, const unsigned char **p, size_t *len) {
    size_t left = pk->n - pk->pos, lim = left < PK_MAX_LINE + 1 ? left : PK_MAX_LINE + 1;
    const unsigned char *s = pk->buf + pk->pos;
    const unsigned char *nl = memchr(s, '\n', lim);
    if (!nl) {
        fail(pk, STC_E_FORMAT, "expected a line ending in '\\n' within %d bytes", PK_MAX_LINE);
        return 0;
    }
    *p = s;
    *len = (size_t)(nl - s);
    pk->pos += *len + 1;
    return 1;
}

static py_obj_t *new_str(pk_t *pk, py_kind_t kind, const unsigned char *s, size_t len) {
    py_obj_t *o = new_obj(pk, kind);
    if (!o) return NULL;
    char *d = stc_arena_strndup(pk->arena, (const char *)s, len);
    if (!d) {
        fail(pk, STC_E_NOMEM, "out of memory for a %zu-byte string", len);
        return NULL;
    }
    o->u.str.s = d;
    o->u.str.len = len;
    return o;
}

/* A length-prefixed string/bytes: lb bytes of length, then the data. */
static py_obj_t *read_counted(pk_t *pk, py_kind_t kind, int lb, int is_signed) {
    const unsigned char *p;
    if (!take(pk, (size_t)lb, &p)) return NULL;
    uint64_t len = le(p, lb);
    if (is_signed && (len & 0x80000000u)) {
        fail(pk, STC_E_FORMAT, "negative length %d", (int32_t)(uint32_t)len);
        return NULL;
    }
    if (len > pk->n - pk->pos) {
        fail(pk, STC_E_FORMAT, "length %llu exceeds the %zu bytes left", (unsigned long long)len,
             pk->n - pk->pos);
        return NULL;
    }
    if (!take(pk, (size_t)len, &p)) return NULL;
    return new_str(pk, kind, p, (size_t)len);
}

static py_obj_t *new_int(pk_t *pk, int64_t v) {
    py_obj_t *o = new_obj(pk, PY_INT);
    if (o) o->u.i = v;
    return o;
}

/* Little-endian two's complement of k bytes (LONG1/LONG4). */
static py_obj_t *read_long(pk_t *pk, size_t k, const unsigned char *p) {
    if (k > PK_MAX_LONG) {
        fail(pk, STC_E_LIMIT, "a %zu-byte integer, limit is %d", k, PK_MAX_LONG);
        return NULL;
    }
    int neg = k && (p[k - 1] & 0x80);
    size_t sig = k; /* significant bytes after dropping sign extension */
    while (sig > 1 && p[sig - 1] == (neg ? 0xff : 0x00) &&
           ((p[sig - 2] & 0x80) != 0) == neg)
        sig--;
    if (sig <= 8) {
        uint64_t v = neg ? ~0ull : 0;
        for (size_t i = 0; i < sig; i++) {
            v &= ~(0xffull << (8 * i));
            v |= (uint64_t)p[i] << (8 * i);
        }
        return new_int(pk, (int64_t)v);
    }
    return new_str(pk, PY_BIGINT, p, k);
}

/* ================================================================== memo */

static int memo_put(pk_t *pk, uint64_t idx) {
    if (!need(pk, 1)) return 0;
    if (idx >= pk->memo_limit) {
        fail(pk, STC_E_LIMIT, "memo index %llu exceeds the limit of %zu for this stream",
             (unsigned long long)idx, pk->memo_limit);
        return 0;
    }
    if (idx >= pk->memo_cap) {
        size_t nc = pk->memo_cap ? pk->memo_cap : 64;
        while (nc <= idx) nc *= 2;
        py_obj_t **m = realloc(pk->memo, nc * sizeof *m);
        if (!m) {
            fail(pk, STC_E_NOMEM, "out of memory");
            return 0;
        }
        memset(m + pk->memo_cap, 0, (nc - pk->memo_cap) * sizeof *m);
        pk->memo = m;
        pk->memo_cap = nc;
    }
    if (!pk->memo[idx]) pk->memo_count++;
    pk->memo[idx] = pk->stack[pk->sp - 1];
    return 1;
}

static int memo_get(pk_t *pk, uint64_t idx) {
    if (idx >= pk->memo_cap || !pk->memo[idx]) {
        fail(pk, STC_E_FORMAT, "memo index %llu was never stored", (unsigned long long)idx);
        return 0;
    }
    return push(pk, pk->memo[idx]);
}

/* ====================================================== GLOBAL and calls */

static const py_global_t *find_global(const unsigned char *mod, size_t ml,
                                      const unsigned char *name, size_t nl) {
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
        const char *a = allowed[i].name, *sp = strchr(a, ' ');
        if ((size_t)(sp - a) == ml && !memcmp(a, mod, ml) && strlen(sp + 1) == nl &&
            !memcmp(sp + 1, name, nl))
            return &allowed[i];
    }
    return NULL;
}

static py_obj_t *global_obj(pk_t *pk, const unsigned char *mod, size_t ml,
                            const unsigned char *name, size_t nl) {
    const py_global_t *g = find_global(mod, ml, name, nl);
    if (!g) {
        char m[80], n[80];
        stc_escape(m, sizeof m, mod, ml, 48);
        stc_escape(n, sizeof n, name, nl, 48);
        fail(pk, STC_E_UNSUPPORTED,
             "'%s %s' is not allowed: loading a checkpoint never runs code (allowed: %s)", m, n,
             pk_allowed_globals());
        return NULL;
    }
    py_obj_t *o = new_obj(pk, PY_GLOBAL);
    if (o) o->u.global = g;
    return o;
}

/* Integer tuple (torch.Size or tuple) into dims; returns count or -1. */
static int int_tuple(pk_t *pk, const py_obj_t *o, const char *what, int64_t *out) {
    if (!o || o->kind != PY_TUPLE) {
        fail(pk, STC_E_FORMAT, "tensor %s: expected a tuple, found %s", what,
             o ? py_kind_name(o->kind) : "nothing");
        return -1;
    }
    if (o->u.seq.n > STC_MAX_DIMS) {
        fail(pk, STC_E_UNSUPPORTED, "tensor %s has %zu dimensions, at most %d supported", what,
             o->u.seq.n, STC_MAX_DIMS);
        return -1;
    }
    for (size_t i = 0; i < o->u.seq.n; i++) {
        const py_obj_t *v = o->u.seq.items[i];
        if (v->kind != PY_INT) {
            fail(pk, STC_E_FORMAT, "tensor %s[%zu]: expected an int, found %s", what, i,
                 py_kind_name(v->kind));
            return -1;
        }
        out[i] = v->u.i;
    }
    return (int)o->u.seq.n;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
 * _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]) */
static py_obj_t *rebuild_tensor(pk_t *pk, const py_obj_t *args, int v3) {
    size_t n = args->u.seq.n, lo = v3 ? 7 : 6;
    py_obj_t **a = args->u.seq.items;
    if (n < lo || n > lo + 1) {
        fail(pk, STC_E_FORMAT, "_rebuild_tensor_v%d takes %zu or %zu arguments, found %zu",
             v3 ? 3 : 2, lo, lo + 1, n);
        return NULL;
    }
    if (a[0]->kind != PY_STORAGE) {
        fail(pk, STC_E_FORMAT, "tensor storage: expected a persistent storage, found %s",
             py_kind_name(a[0]->kind));
        return NULL;
    }
    if (a[1]->kind != PY_INT) {
        fail(pk, STC_E_FORMAT, "tensor storage offset: expected an int, found %s",
             py_kind_name(a[1]->kind));
        return NULL;
    }
    py_tensor_t *t = stc_arena_alloc(pk->arena, sizeof *t);
    if (!t) {
        fail(pk, STC_E_NOMEM, "out of memory");
        return NULL;
    }
    t->storage = a[0]->u.storage;
    t->dtype = t->storage->dtype;
    t->offset = a[1]->u.i;
    int nd = int_tuple(pk, a[2], "size", t->shape);
    if (nd < 0) return NULL;
    int ns = int_tuple(pk, a[3], "stride", t->stride);
    if (ns < 0) return NULL;
    if (nd != ns) {
        fail(pk, STC_E_FORMAT, "tensor has %d sizes but %d strides", nd, ns);
        return NULL;
    }
    t->ndim = nd;
    if (v3) {
        if (a[6]->kind != PY_GLOBAL || a[6]->u.global->id != PG_DTYPE) {
            fail(pk, STC_E_FORMAT, "_rebuild_tensor_v3 dtype: expected torch.<dtype>, found %s",
                 py_kind_name(a[6]->kind));
            return NULL;
        }
        t->dtype = a[6]->u.global->dtype;
    }
    py_obj_t *o = new_obj(pk, PY_TENSOR);
    if (o) o->u.tensor = t;
    return o;
}

/* A dict from a list of (key, value) pairs: OrderedDict([(k, v), ...]). */
static py_obj_t *dict_from_pairs(pk_t *pk, const py_obj_t *list) {
    py_obj_t *d = new_obj(pk, PY_DICT);
    if (!d) return NULL;
    for (size_t i = 0; i < list->u.seq.n; i++) {
        const py_obj_t *p = list->u.seq.items[i];
        if ((p->kind != PY_TUPLE && p->kind != PY_LIST) || p->u.seq.n != 2) {
            fail(pk, STC_E_FORMAT, "OrderedDict item %zu: expected a (key, value) pair", i);
            return NULL;
        }
        if (!seq_push(pk, d, p->u.seq.items[0]) || !seq_push(pk, d, p->u.seq.items[1]))
            return NULL;
    }
    return d;
}

/* _codecs.encode(s, 'latin1'): the bytes of a str whose code points are < 256. */
static py_obj_t *latin1(pk_t *pk, const py_obj_t *args) {
    if (args->u.seq.n != 2 || args->u.seq.items[0]->kind != PY_STR ||
        args->u.seq.items[1]->kind != PY_STR ||
        (strcmp(args->u.seq.items[1]->u.str.s, "latin1") &&
         strcmp(args->u.seq.items[1]->u.str.s, "latin-1"))) {
        fail(pk, STC_E_UNSUPPORTED, "_codecs.encode: expected (str, 'latin1')");
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)args->u.seq.items[0]->u.str.s;
    size_t n = args->u.seq.items[0]->u.str.len, o = 0;
    unsigned char *d = stc_arena_alloc(pk->arena, n + 1);
    py_obj_t *r = new_obj(pk, PY_BYTES);
    if (!d || !r) return r ? (fail(pk, STC_E_NOMEM, "out of memory"), NULL) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            d[o++] = s[i];
        } else if ((s[i] & 0xfe) == 0xc2 && i + 1 < n && (s[i + 1] & 0xc0) == 0x80) {
            d[o++] = (unsigned char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
            i++;
        } else {
            fail(pk, STC_E_FORMAT, "_codecs.encode: character at %zu is not latin-1", i);
            return NULL;
        }
    }
    r->u.str.s = (const char *)d;
    r->u.str.len = o;
    return r;
}

/* REDUCE (callable, args) and NEWOBJ (cls, args): build the value, run nothing. */
static py_obj_t *call(pk_t *pk, py_obj_t *fn, py_obj_t *args, int is_newobj) {
    if (fn->kind != PY_GLOBAL) {
        fail(pk, STC_E_FORMAT, "expected an allowed callable, found %s", py_kind_name(fn->kind));
        return NULL;
    }
    if (args->kind != PY_TUPLE) {
        fail(pk, STC_E_FORMAT, "expected an argument tuple, found %s", py_kind_name(args->kind));
        return NULL;
    }
    const py_global_t *g = fn->u.global;
    size_t n = args->u.seq.n;
    py_obj_t **a = args->u.seq.items;
    py_obj_t *o;
    if (is_newobj && g->id != PG_NAMESPACE && g->id != PG_ORDERED_DICT && g->id != PG_SET &&
        g->id != PG_FROZENSET)
        goto bad;
    switch (g->id) {
    case PG_ORDERED_DICT:
        if (n == 0) return new_obj(pk, PY_DICT);
        if (n == 1 && (a[0]->kind == PY_LIST || a[0]->kind == PY_TUPLE))
            return dict_from_pairs(pk, a[0]);
        goto bad;
    case PG_REBUILD_TENSOR_V2: return rebuild_tensor(pk, args, 0);
    case PG_REBUILD_TENSOR_V3: return rebuild_tensor(pk, args, 1);
    case PG_REBUILD_PARAMETER:
    case PG_REBUILD_PARAMETER_STATE:
        if (n != (g->id == PG_REBUILD_PARAMETER ? 3u : 4u) || a[0]->kind != PY_TENSOR) {
            fail(pk, STC_E_FORMAT, "%s: expected (tensor, requires_grad, hooks%s)", g->name,
                 g->id == PG_REBUILD_PARAMETER ? "" : ", state");
            return NULL;
        }
        return a[0];
    case PG_SIZE:
        if (n == 0) return new_obj(pk, PY_TUPLE);
        if (n == 1 && a[0]->kind == PY_TUPLE) return a[0];
        goto bad;
    case PG_SET:
    case PG_FROZENSET:
        if (n == 0) return new_obj(pk, PY_SET);
        if (n == 1 && (a[0]->kind == PY_LIST || a[0]->kind == PY_TUPLE || a[0]->kind == PY_SET))
            return new_seq(pk, PY_SET, a[0]->u.seq.items, a[0]->u.seq.n);
        goto bad;
    case PG_CODECS_ENCODE: return latin1(pk, args);
    case PG_NAMESPACE:
    case PG_NUMPY_SCALAR:
    case PG_NUMPY_DTYPE:
        o = new_obj(pk, PY_OBJECT);
        if (o) {
            o->u.object.cls = g;
            o->u.object.args = args;
        }
        return o;
    default: break;
    }
bad:
    fail(pk, STC_E_UNSUPPORTED, "cannot %s '%s' with %zu argument%s",
         is_newobj ? "instantiate" : "call", g->name, n, n == 1 ? "" : "s");
    return NULL;
}

/* =============================================================== storages */

static uint64_t hash_key(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Slot index of `key`, or -1. */
static long find_slot(const pk_t *pk, const char *key) {
    if (!pk->sidx_cap) return -1;
    size_t h = (size_t)hash_key(key) & (pk->sidx_cap - 1);
    while (pk->sidx[h]) {
        size_t i = pk->sidx[h] - 1;
        if (!strcmp(pk->storages[i].rec->key, key)) return (long)i;
        h = (h + 1) & (pk->sidx_cap - 1);
    }
    return -1;
}

py_storage_t *pk_storage_find(const pk_t *pk, const char *key) {
    long i = find_slot(pk, key);
    return i < 0 ? NULL : pk->storages[i].rec;
}

size_t pk_storage_count(const pk_t *pk) { return pk->n_storages; }
py_storage_t *pk_storage_at(const pk_t *pk, size_t i) {
    return i < pk->n_storages ? pk->storages[i].rec : NULL;
}

static int index_storage(pk_t *pk, size_t i) {
    if (2 * (pk->n_storages + 1) > pk->sidx_cap) {
        size_t nc = pk->sidx_cap ? pk->sidx_cap * 2 : 64;
        size_t *t = calloc(nc, sizeof *t);
        if (!t) return 0;
        for (size_t k = 0; k < pk->n_storages; k++) {
            size_t h = (size_t)hash_key(pk->storages[k].rec->key) & (nc - 1);
            while (t[h]) h = (h + 1) & (nc - 1);
            t[h] = k + 1;
        }
        free(pk->sidx);
        pk->sidx = t;
        pk->sidx_cap = nc;
    }
    size_t h = (size_t)hash_key(pk->storages[i].rec->key) & (pk->sidx_cap - 1);
    while (pk->sidx[h]) h = (h + 1) & (pk->sidx_cap - 1);
    pk->sidx[h] = i + 1;
    return 1;
}

/* BINPERSID: ('storage', torch.<X>Storage, key, location, numel[, view_metadata]). */
static py_obj_t *persistent(pk_t *pk, const py_obj_t *pid) {
    if (pid->kind != PY_TUPLE || pid->u.seq.n < 5 || pid->u.seq.n > 6) {
        fail(pk, STC_E_FORMAT,
             "expected ('storage', type, key, location, numel[, view]), found a %zu-item %s",
             pid->kind == PY_TUPLE ? pid->u.seq.n : 0, py_kind_name(pid->kind));
        return NULL;
    }
    py_obj_t **a = pid->u.seq.items;
    if (a[0]->kind != PY_STR || strcmp(a[0]->u.str.s, "storage")) {
        fail(pk, STC_E_UNSUPPORTED, "persistent id of kind %s%s%s, expected 'storage'",
             a[0]->kind == PY_STR ? "'" : "",
             a[0]->kind == PY_STR ? a[0]->u.str.s : py_kind_name(a[0]->kind),
             a[0]->kind == PY_STR ? "'" : "");
        return NULL;
    }
    if (a[1]->kind != PY_GLOBAL ||
        (a[1]->u.global->id != PG_STORAGE && a[1]->u.global->id != PG_UNTYPED_STORAGE)) {
        fail(pk, STC_E_UNSUPPORTED, "storage type: expected torch.<X>Storage, found %s%s",
             py_kind_name(a[1]->kind),
             a[1]->kind == PY_GLOBAL ? a[1]->u.global->name : "");
        return NULL;
    }
    if (a[2]->kind != PY_STR || a[2]->u.str.len == 0 || a[2]->u.str.len > PK_MAX_KEY ||
        strlen(a[2]->u.str.s) != a[2]->u.str.len || strchr(a[2]->u.str.s, '/')) {
        fail(pk, STC_E_FORMAT, "storage key: expected a string of 1..%d bytes without '/'",
             PK_MAX_KEY);
        return NULL;
    }
    const char *key = a[2]->u.str.s;
    if (a[4]->kind != PY_INT || a[4]->u.i < 0) {
        fail(pk, STC_E_FORMAT, "storage '%s': numel: expected an int >= 0", key);
        return NULL;
    }
    if (pid->u.seq.n == 6 && a[5]->kind != PY_NONE) {
        fail(pk, STC_E_UNSUPPORTED, "storage '%s' is a view of another storage (pre-0.4 "
             "torch.save); resave the checkpoint with a current PyTorch", key);
        return NULL;
    }
    stc_dtype_t dt = a[1]->u.global->dtype;
    uint64_t numel = (uint64_t)a[4]->u.i, bytes;
    if (!stc_mul_ok(numel, stc_dtype_size(dt), &bytes) || bytes > (1ull << 56)) {
        fail(pk, STC_E_LIMIT, "storage '%s': %llu elements is beyond any file", key,
             (unsigned long long)numel);
        return NULL;
    }
    long slot = find_slot(pk, key);
    py_storage_t *s = slot < 0 ? NULL : pk->storages[slot].rec;
    if (s) {
        if (s->dtype != dt || s->numel != numel) {
            fail(pk, STC_E_FORMAT,
                 "storage '%s' is %llu x %s here but %llu x %s at byte %zu", key,
                 (unsigned long long)numel, stc_dtype_name(dt), (unsigned long long)s->numel,
                 stc_dtype_name(s->dtype), s->first_offset);
            return NULL;
        }
        return pk->storages[slot].obj;
    }
    if (pk->n_storages >= STC_CKPT_MAX_TENSORS) {
        fail(pk, STC_E_LIMIT, "more than %u storages", STC_CKPT_MAX_TENSORS);
        return NULL;
    }
    if (pk->n_storages >= pk->cap_storages) {
        size_t nc = pk->cap_storages ? pk->cap_storages * 2 : 64;
        storage_slot_t *ns = realloc(pk->storages, nc * sizeof *ns);
        if (!ns) {
            fail(pk, STC_E_NOMEM, "out of memory");
            return NULL;
        }
        pk->storages = ns;
        pk->cap_storages = nc;
    }
    s = stc_arena_alloc(pk->arena, sizeof *s);
    py_obj_t *o = new_obj(pk, PY_STORAGE);
    if (!s || !o) return o ? (fail(pk, STC_E_NOMEM, "out of memory"), NULL) : NULL;
    s->key = key;
    s->type_name = strchr(a[1]->u.global->name, ' ') + 1;
    s->dtype = dt;
    s->numel = numel;
    s->first_offset = pk->op_pos;
    o->u.storage = s;
    pk->storages[pk->n_storages].rec = s;
    pk->storages[pk->n_storages].obj = o;
    if (!index_storage(pk, pk->n_storages)) {
        fail(pk, STC_E_NOMEM, "out of memory");
        return NULL;
    }
    pk->n_storages++;
    return o;
}

/* ============================================================ the machine */

/* Text forms: INT/LONG decimal lines, FLOAT repr lines. */
static py_obj_t *text_number(pk_t *pk, int is_float) {
    const unsigned char *p;
    size_t len;
    char tmp[PK_MAX_LINE + 1];
    if (!take_line(pk, &p, &len)) return NULL;
    memcpy(tmp, p, len);
    tmp[len] = 0;
    if (len && tmp[len - 1] == 'L') tmp[--len] = 0;
    char *end;
    if (is_float) {
        double f = strtod(tmp, &end);
        if (!len || *end) goto bad;
        py_obj_t *o = new_obj(pk, PY_FLOAT);
        if (o) o->u.f = f;
        return o;
    }
    if (pk->op == 'I' && !strcmp(tmp, "01")) return pk->yes;
    if (pk->op == 'I' && !strcmp(tmp, "00")) return pk->no;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (!len || *end || errno) goto bad;
    return new_int(pk, v);
bad:;
    char esc[80];
    stc_escape(esc, sizeof esc, p, len, 32);
    fail(pk, STC_E_FORMAT, "expected a number, found \"%s\"", esc);
    return NULL;
}

static size_t text_index(pk_t *pk, int *ok) {
    const unsigned char *p;
    size_t len, v = 0;
    *ok = 0;
    if (!take_line(pk, &p, &len)) return 0;
    if (!len || len > 9) goto bad;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') goto bad;
        v = v * 10 + (size_t)(p[i] - '0');
    }
    *ok = 1;
    return v;
bad:
    fail(pk, STC_E_FORMAT, "expected a decimal memo index");
    return 0;
}

stc_status_t pk_run(pk_t *pk, const unsigned char *buf, size_t n, size_t start, size_t *used,
                    py_obj_t **root, stc_err_t *err) {
    pk->err = err;
    pk->buf = buf;
    pk->n = n;
    pk->pos = start;
    pk->op = 0;
    pk->op_pos = start;
    pk->sp = 0;
    pk->n_marks = 0;
    pk->n_objects = 0;
    pk->memo_count = 0;
    if (pk->memo) memset(pk->memo, 0, pk->memo_cap * sizeof *pk->memo);
    pk->memo_limit = n - start < PK_MAX_MEMO ? n - start : PK_MAX_MEMO;
    if (root) *root = NULL;
    if (n - start > STC_CKPT_MAX_PICKLE)
        return stc_err_set(err, STC_E_LIMIT, "%s: pickle of %zu bytes, limit is %u", pk->where,
                           n - start, STC_CKPT_MAX_PICKLE);
    const unsigned char *p;
    py_obj_t *a, *b, *c;
    size_t first;
    int ok;

    for (;;) {
        pk->op_pos = pk->pos;
        if (pk->pos >= pk->n) {
            pk->op = 0;
            return stc_err_set(err, STC_E_FORMAT, "%s: the pickle ends at byte %zu without STOP",
                               pk->where, pk->pos);
        }
        pk->op = buf[pk->pos++];
        switch (pk->op) {
        /* PROTO n: protocol version; FRAME n: framing hint (ignored). */
        case 0x80:
            if (!take(pk, 1, &p)) goto out;
            if (p[0] > 5) {
                fail(pk, STC_E_UNSUPPORTED, "protocol %d, expected 2..5", p[0]);
                goto out;
            }
            break;
        case 0x95:
            if (!take(pk, 8, &p)) goto out;
            break;

        /* GLOBAL "module\nname\n" -> allowlisted callable.  STACK_GLOBAL: from two strs. */
        case 'c': {
            const unsigned char *m, *nm;
            size_t ml, nl;
            if (!take_line(pk, &m, &ml) || !take_line(pk, &nm, &nl)) goto out;
            if (!push(pk, global_obj(pk, m, ml, nm, nl))) goto out;
            break;
        }
        case 0x93:
            if (!need(pk, 2)) goto out;
            b = pop(pk);
            a = pop(pk);
            if (a->kind != PY_STR || b->kind != PY_STR) {
                fail(pk, STC_E_FORMAT, "expected two strings");
                goto out;
            }
            if (!push(pk, global_obj(pk, (const unsigned char *)a->u.str.s, a->u.str.len,
                                     (const unsigned char *)b->u.str.s, b->u.str.len)))
                goto out;
            break;

        /* Memo: PUT stores the top of stack (not popped), GET pushes it back. */
        case 'q':
            if (!take(pk, 1, &p) || !memo_put(pk, p[0])) goto out;
            break;
        case 'r':
            if (!take(pk, 4, &p) || !memo_put(pk, le(p, 4))) goto out;
            break;
        case 'p': {
            size_t i = text_index(pk, &ok);
            if (!ok || !memo_put(pk, i)) goto out;
            break;
        }
        case 0x94:
            if (!memo_put(pk, pk->memo_count)) goto out;
            break;
        case 'h':
            if (!take(pk, 1, &p) || !memo_get(pk, p[0])) goto out;
            break;
        case 'j':
            if (!take(pk, 4, &p) || !memo_get(pk, le(p, 4))) goto out;
            break;
        case 'g': {
            size_t i = text_index(pk, &ok);
            if (!ok || !memo_get(pk, i)) goto out;
            break;
        }

        /* MARK: remember the stack height; the ops below consume back to it. */
        case '(':
            if (pk->n_marks >= PK_MAX_MARKS) {
                fail(pk, STC_E_LIMIT, "more than %d nested MARKs", PK_MAX_MARKS);
                goto out;
            }
            if (pk->n_marks >= pk->marks_cap) {
                size_t nc = pk->marks_cap ? pk->marks_cap * 2 : 32;
                size_t *m = realloc(pk->marks, nc * sizeof *m);
                if (!m) {
                    fail(pk, STC_E_NOMEM, "out of memory");
                    goto out;
                }
                pk->marks = m;
                pk->marks_cap = nc;
            }
            pk->marks[pk->n_marks++] = pk->sp;
            break;

        /* Containers. */
        case 't': /* MARK items TUPLE -> tuple */
        case 'l': /* MARK items LIST -> list */
            if (!pop_mark(pk, &first)) goto out;
            a = new_seq(pk, pk->op == 't' ? PY_TUPLE : PY_LIST, pk->stack + first,
                        pk->sp - first);
            pk->sp = first;
            if (!push(pk, a)) goto out;
            break;
        case 'd': /* MARK k v ... DICT -> dict */
            if (!pop_mark(pk, &first)) goto out;
            if ((pk->sp - first) % 2) {
                fail(pk, STC_E_FORMAT, "odd number of items (%zu) for a dict", pk->sp - first);
                goto out;
            }
            a = new_seq(pk, PY_DICT, pk->stack + first, pk->sp - first);
            pk->sp = first;
            if (!push(pk, a)) goto out;
            break;
        case 0x85: /* TUPLE1..3: the top 1..3 values */
        case 0x86:
        case 0x87: {
            size_t k = (size_t)(pk->op - 0x84);
            if (!need(pk, k)) goto out;
            a = new_seq(pk, PY_TUPLE, pk->stack + pk->sp - k, k);
            pk->sp -= k;
            if (!push(pk, a)) goto out;
            break;
        }
        case ')':
            if (!push(pk, new_obj(pk, PY_TUPLE))) goto out;
            break;
        case '}':
            if (!push(pk, new_obj(pk, PY_DICT))) goto out;
            break;
        case ']':
            if (!push(pk, new_obj(pk, PY_LIST))) goto out;
            break;
        case 0x8f:
            if (!push(pk, new_obj(pk, PY_SET))) goto out;
            break;
        case 0x91: /* MARK items FROZENSET */
            if (!pop_mark(pk, &first)) goto out;
            a = new_seq(pk, PY_SET, pk->stack + first, pk->sp - first);
            pk->sp = first;
            if (!push(pk, a)) goto out;
            break;

        /* Strings and bytes (copied, NUL-terminated). */
        case 'X':
            if (!push(pk, read_counted(pk, PY_STR, 4, 0))) goto out;
            break;
        case 0x8c:
            if (!push(pk, read_counted(pk, PY_STR, 1, 0))) goto out;
            break;
        case 0x8d:
            if (!push(pk, read_counted(pk, PY_STR, 8, 0))) goto out;
            break;
        case 'T':
            if (!push(pk, read_counted(pk, PY_STR, 4, 1))) goto out;
            break;
        case 'U':
            if (!push(pk, read_counted(pk, PY_STR, 1, 0))) goto out;
            break;
        case 'B':
            if (!push(pk, read_counted(pk, PY_BYTES, 4, 0))) goto out;
            break;
        case 'C':
            if (!push(pk, read_counted(pk, PY_BYTES, 1, 0))) goto out;
            break;
        case 0x8e:
            if (!push(pk, read_counted(pk, PY_BYTES, 8, 0))) goto out;
            break;

        /* Numbers. */
        case 'J':
            if (!take(pk, 4, &p) || !push(pk, new_int(pk, (int32_t)(uint32_t)le(p, 4)))) goto out;
            break;
        case 'K':
            if (!take(pk, 1, &p) || !push(pk, new_int(pk, p[0]))) goto out;
            break;
        case 'M':
            if (!take(pk, 2, &p) || !push(pk, new_int(pk, (int64_t)le(p, 2)))) goto out;
            break;
        case 0x8a: { /* LONG1: 1-byte length, LE two's complement */
            const unsigned char *d;
            if (!take(pk, 1, &p) || !take(pk, p[0], &d) || !push(pk, read_long(pk, p[0], d)))
                goto out;
            break;
        }
        case 0x8b: { /* LONG4: 4-byte length */
            const unsigned char *d;
            if (!take(pk, 4, &p)) goto out;
            uint64_t k = le(p, 4);
            if (k > PK_MAX_LONG) {
                fail(pk, STC_E_LIMIT, "a %llu-byte integer, limit is %d", (unsigned long long)k,
                     PK_MAX_LONG);
                goto out;
            }
            if (!take(pk, (size_t)k, &d) || !push(pk, read_long(pk, (size_t)k, d))) goto out;
            break;
        }
        case 'I':
        case 'L':
            if (!push(pk, text_number(pk, 0))) goto out;
            break;
        case 'F':
            if (!push(pk, text_number(pk, 1))) goto out;
            break;
        case 'G': { /* BINFLOAT: 8-byte big-endian double */
            if (!take(pk, 8, &p)) goto out;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = (bits << 8) | p[i];
            a = new_obj(pk, PY_FLOAT);
            if (a) memcpy(&a->u.f, &bits, 8);
            if (!push(pk, a)) goto out;
            break;
        }
        case 0x88:
            if (!push(pk, pk->yes)) goto out;
            break;
        case 0x89:
            if (!push(pk, pk->no)) goto out;
            break;
        case 'N':
            if (!push(pk, pk->none)) goto out;
            break;

        /* REDUCE: callable args -> value.  NEWOBJ: cls args -> instance. */
        case 'R':
        case 0x81:
            if (!need(pk, 2)) goto out;
            b = pop(pk);
            a = pop(pk);
            if (!push(pk, call(pk, a, b, pk->op == 0x81))) goto out;
            break;

        /* BUILD: obj state -> obj (state kept as inert attributes). */
        case 'b':
            if (!need(pk, 2)) goto out;
            b = pop(pk);
            a = pk->stack[pk->sp - 1];
            if (a->kind == PY_OBJECT)
                a->u.object.state = b;
            else if (a->kind == PY_DICT || a->kind == PY_TENSOR || a->kind == PY_SET)
                a->attrs = b;
            else {
                fail(pk, STC_E_FORMAT, "cannot set the state of a %s", py_kind_name(a->kind));
                goto out;
            }
            break;

        /* SETITEM: dict k v; SETITEMS: dict MARK k v ...; APPEND(S) likewise for lists. */
        case 's':
            if (!need(pk, 3)) goto out;
            c = pop(pk);
            b = pop(pk);
            a = pk->stack[pk->sp - 1];
            if (a->kind != PY_DICT) {
                fail(pk, STC_E_FORMAT, "expected a dict below the key and value, found %s",
                     py_kind_name(a->kind));
                goto out;
            }
            if (!seq_push(pk, a, b) || !seq_push(pk, a, c)) goto out;
            break;
        case 'u':
        case 'e':
        case 0x90: /* ADDITEMS: set MARK items */
            if (!pop_mark(pk, &first)) goto out;
            if (first == 0 || first <= fence(pk)) {
                fail(pk, STC_E_FORMAT, "no container below the MARK");
                goto out;
            }
            a = pk->stack[first - 1];
            {
                py_kind_t want = pk->op == 'u' ? PY_DICT : pk->op == 'e' ? PY_LIST : PY_SET;
                if (a->kind != want) {
                    fail(pk, STC_E_FORMAT, "expected a %s below the MARK, found %s",
                         py_kind_name(want), py_kind_name(a->kind));
                    goto out;
                }
                if (pk->op == 'u' && (pk->sp - first) % 2) {
                    fail(pk, STC_E_FORMAT, "odd number of items (%zu) for a dict",
                         pk->sp - first);
                    goto out;
                }
            }
            for (size_t i = first; i < pk->sp; i++)
                if (!seq_push(pk, a, pk->stack[i])) goto out;
            pk->sp = first;
            break;
        case 'a':
            if (!need(pk, 2)) goto out;
            b = pop(pk);
            a = pk->stack[pk->sp - 1];
            if (a->kind != PY_LIST) {
                fail(pk, STC_E_FORMAT, "expected a list below the value, found %s",
                     py_kind_name(a->kind));
                goto out;
            }
            if (!seq_push(pk, a, b)) goto out;
            break;

        /* BINPERSID: pid -> storage (torch's persistent_load). */
        case 'Q':
            if (!need(pk, 1)) goto out;
            a = pop(pk);
            if (!push(pk, persistent(pk, a))) goto out;
            break;

        /* Stack shuffling. */
        case '0': /* POP: the top value, or the newest MARK if nothing is above it */
            if (pk->sp > fence(pk))
                pk->sp--;
            else if (pk->n_marks)
                pk->n_marks--;
            else {
                fail(pk, STC_E_FORMAT, "stack underflow");
                goto out;
            }
            break;
        case '1': /* POP_MARK: drop everything back to the newest MARK */
            if (!pop_mark(pk, &first)) goto out;
            pk->sp = first;
            break;
        case '2': /* DUP */
            if (!need(pk, 1) || !push(pk, pk->stack[pk->sp - 1])) goto out;
            break;

        case '.': /* STOP: the result is the top of the stack */
            if (!need(pk, 1)) goto out;
            if (root) *root = pop(pk);
            if (used) *used = pk->pos - start;
            return STC_OK;

        default: {
            const char *on = opname(pk->op);
            if (on)
                fail(pk, STC_E_UNSUPPORTED, "opcode not supported in checkpoints");
            else
                fail(pk, STC_E_FORMAT, "not a pickle opcode");
            goto out;
        }
        }
    }
out:
    if (err && err->status == STC_OK)
        stc_err_set(err, STC_E_INTERNAL, "%s: pickle failed at byte %zu", pk->where, pk->op_pos);
    return err ? err->status : STC_E_FORMAT;
}
