/* test_pickle.c - suite "pickle": the restricted pickle machine (compiler/frontend/pickle.c).
 *
 * Hand-written pickles as byte strings: what torch writes, then everything a
 * hostile or broken file can do (code-running GLOBALs, deep MARK nesting, huge
 * memo indices, self-references, lengths past the end, stack underflow,
 * REDUCE on a non-callable).  Each failure must name the stream, the opcode
 * and its byte offset.
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle.h"
#include "test_util.h"

/* Run one pickle given as a string literal (embedded NULs allowed). */
#define RUN(lit, rootp, errp) run((const unsigned char *)(lit), sizeof(lit) - 1, rootp, errp)

static pk_t *pk_now;

static stc_status_t run(const unsigned char *b, size_t n, py_obj_t **root, stc_err_t *err) {
    pk_destroy(&pk_now);
    pk_now = pk_create("m.pth: data.pkl", err);
    memset(err, 0, sizeof *err);
    return pk_run(pk_now, b, n, 0, NULL, root, err);
}

static void expect_fail(const unsigned char *b, size_t n, stc_status_t st, const char *needle) {
    py_obj_t *root;
    stc_err_t err;
    stc_status_t got = run(b, n, &root, &err);
    if (got != st || !strstr(err.msg, needle))
        fprintf(stderr, "\n  got %s '%s', expected %s '...%s...'\n", stc_status_name(got),
                err.msg, stc_status_name(st), needle);
    CU_ASSERT_EQUAL(got, st);
    STC_ASSERT_CONTAINS(err.msg, needle);
    STC_ASSERT_CONTAINS(err.msg, "m.pth: data.pkl: ");
}
#define FAIL(lit, st, needle) expect_fail((const unsigned char *)(lit), sizeof(lit) - 1, st, needle)

/* ---------------------------------------------------------------- valid */

/* The usage example: an OrderedDict with one tensor, as torch 1.13 writes it. */
static const char torch_sd[] =
    "\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01("
    "X\x08\x00\x00\x00" "0.weightq\x02"
    "ctorch._utils\n_rebuild_tensor_v2\nq\x03"
    "((X\x07\x00\x00\x00storageq\x04" "ctorch\nFloatStorage\nq\x05"
    "X\x01\x00\x00\x00" "0q\x06" "X\x03\x00\x00\x00" "cpuq\x07" "K\x06tq\x08Q"
    "K\x00K\x02K\x03\x86q\x09K\x03K\x01\x86q\x0a\x89h\x00)Rq\x0btq\x0cRq\x0d"
    /* a second tensor on the same storage, offset 3, shape (3,), via BINGET */
    "X\x01\x00\x00\x00" "bh\x03((h\x04h\x05h\x06h\x07K\x06tQK\x03K\x03\x85K\x01\x85\x89h\x00)Rtr"
    "\x0e\x00\x00\x00R"
    "u}X\x09\x00\x00\x00_metadatah\x00)Rsb.";

static void test_example(void) {
    py_obj_t *root;
    stc_err_t err;
    stc_status_t st = RUN(torch_sd, &root, &err);
    if (st) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    CU_ASSERT_EQUAL_FATAL(root->kind, PY_DICT);
    CU_ASSERT_EQUAL(root->u.seq.n, 4);
    py_obj_t *w = py_dict_get(root, "0.weight"), *b = py_dict_get(root, "b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(w->kind, PY_TENSOR);
    CU_ASSERT_EQUAL(w->u.tensor->ndim, 2);
    CU_ASSERT_EQUAL(w->u.tensor->shape[1], 3);
    CU_ASSERT_EQUAL(w->u.tensor->stride[0], 3);
    CU_ASSERT_EQUAL(w->u.tensor->dtype, STC_DT_F32);
    CU_ASSERT_EQUAL(b->u.tensor->offset, 3);
    CU_ASSERT_PTR_EQUAL(w->u.tensor->storage, b->u.tensor->storage);
    CU_ASSERT_EQUAL(pk_storage_count(pk_now), 1);
    py_storage_t *s = pk_storage_find(pk_now, "0");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->numel, 6);
    CU_ASSERT_STRING_EQUAL(s->type_name, "FloatStorage");
    CU_ASSERT_PTR_NULL(pk_storage_find(pk_now, "1"));
    CU_ASSERT_PTR_NOT_NULL(root->attrs); /* _metadata via BUILD */
    pk_destroy(&pk_now);
    CU_ASSERT_PTR_NULL(pk_now);
}

static void test_values(void) {
    py_obj_t *r;
    stc_err_t err;
    /* ints of every width, LONG1 positive/negative/beyond int64, floats, text forms */
    CU_ASSERT_EQUAL_FATAL(RUN("\x80\x02(K\xffM\xff\xffJ\xfe\xff\xff\xff\x8a\x00\x8a\x01\xff"
                              "\x8a\x02\xff\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"
                              "G\x3f\xf8\x00\x00\x00\x00\x00\x00I01\nI-17\nL123L\nF2.5\n"
                              "\x88\x89Nl.",
                              &r, &err),
                          STC_OK);
    CU_ASSERT_EQUAL_FATAL(r->kind, PY_LIST);
    CU_ASSERT_EQUAL_FATAL(r->u.seq.n, 15);
    py_obj_t **a = r->u.seq.items;
    CU_ASSERT_EQUAL(a[0]->u.i, 255);
    CU_ASSERT_EQUAL(a[1]->u.i, 65535);
    CU_ASSERT_EQUAL(a[2]->u.i, -2);
    CU_ASSERT_EQUAL(a[3]->u.i, 0);
    CU_ASSERT_EQUAL(a[4]->u.i, -1);
    CU_ASSERT_EQUAL(a[5]->u.i, 255);
    CU_ASSERT_EQUAL(a[6]->kind, PY_BIGINT); /* 2^63 */
    CU_ASSERT_EQUAL(a[7]->u.f, 1.5);
    CU_ASSERT_EQUAL(a[8]->kind, PY_BOOL);
    CU_ASSERT_EQUAL(a[9]->u.i, -17);
    CU_ASSERT_EQUAL(a[10]->u.i, 123);
    CU_ASSERT_EQUAL(a[11]->u.f, 2.5);
    CU_ASSERT(a[12]->kind == PY_BOOL && a[12]->u.i == 1);
    CU_ASSERT(a[13]->kind == PY_BOOL && a[13]->u.i == 0);
    CU_ASSERT_EQUAL(a[14]->kind, PY_NONE);
    int64_t v;
    CU_ASSERT(py_as_int(a[0], &v) && v == 255);
    CU_ASSERT(!py_as_int(a[7], &v));
    /* strings and bytes of every form, tuples, dict, set, frozenset, DUP/POP/POP_MARK */
    CU_ASSERT_EQUAL_FATAL(RUN("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
                              "(\x8c\x01" "aU\x01" "bT\x01\x00\x00\x00" "cC\x01" "dB\x01\x00\x00"
                              "\x00" "e\x8e\x01\x00\x00\x00\x00\x00\x00\x00" "f"
                              "\x8d\x01\x00\x00\x00\x00\x00\x00\x00" "g"
                              "K\x01\x85K\x01K\x02K\x03\x87\x94(K\x01K\x02" "d\x8f(K\x01\x90(K\x01\x91"
                              "2(N1N0t.",
                              &r, &err),
                          STC_OK);
    CU_ASSERT_EQUAL_FATAL(r->kind, PY_TUPLE);
    CU_ASSERT_EQUAL_FATAL(r->u.seq.n, 13);
    a = r->u.seq.items;
    CU_ASSERT_STRING_EQUAL(a[0]->u.str.s, "a");
    CU_ASSERT_EQUAL(a[1]->kind, PY_STR);
    CU_ASSERT_EQUAL(a[3]->kind, PY_BYTES);
    CU_ASSERT_EQUAL(a[5]->kind, PY_BYTES);
    CU_ASSERT_STRING_EQUAL(a[6]->u.str.s, "g");
    CU_ASSERT_EQUAL(a[7]->kind, PY_TUPLE);
    CU_ASSERT_EQUAL(a[8]->u.seq.n, 3); /* TUPLE3 */
    CU_ASSERT_EQUAL(a[9]->kind, PY_DICT);
    CU_ASSERT(a[10]->kind == PY_SET && a[10]->u.seq.n == 1);
    CU_ASSERT(a[11]->kind == PY_SET && a[11]->u.seq.n == 1);
    CU_ASSERT_PTR_EQUAL(a[12], a[11]); /* DUP */
    CU_ASSERT_STRING_EQUAL(py_kind_name(PY_TENSOR), "tensor");
}

/* What training checkpoints carry besides tensors. */
static void test_training_values(void) {
    py_obj_t *r;
    stc_err_t err;
    CU_ASSERT_EQUAL_FATAL(
        RUN("\x80\x02}(X\x04\x00\x00\x00" "argscargparse\nNamespace\n)\x81}X\x02\x00\x00\x00lr"
            "G\x3f\xb9\x99\x99\x99\x99\x99\x9as" "bX\x05\x00\x00\x00shapectorch\nSize\nK\x02K\x03"
            "\x86\x85RX\x01\x00\x00\x00sc__builtin__\nset\n]K\x01\x61\x85R"
            "X\x01\x00\x00\x00" "bc_codecs\nencode\nX\x03\x00\x00\x00\xc3\xbfzX\x06\x00\x00\x00"
            "latin1\x86RU\x02ODccollections\nOrderedDict\n"
            "](K\x01K\x02\x86" "e\x85R\x8c\x06" "frozencbuiltins\nfrozenset\n)Ru.",
            &r, &err),
        STC_OK);
    if (err.msg[0]) fprintf(stderr, "\n  %s\n", err.msg);
    py_obj_t *ns = py_dict_get(r, "args");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
    CU_ASSERT_EQUAL(ns->kind, PY_OBJECT);
    CU_ASSERT_PTR_NOT_NULL(py_dict_get(ns->u.object.state, "lr"));
    py_obj_t *shape = py_dict_get(r, "shape");
    CU_ASSERT(shape && shape->kind == PY_TUPLE && shape->u.seq.n == 2);
    py_obj_t *s = py_dict_get(r, "s");
    CU_ASSERT(s && s->kind == PY_SET && s->u.seq.n == 1);
    py_obj_t *b = py_dict_get(r, "b");
    CU_ASSERT(b && b->kind == PY_BYTES && b->u.str.len == 2 && !memcmp(b->u.str.s, "\xffz", 2));
    py_obj_t *od = py_dict_get(r, "OD");
    CU_ASSERT(od && od->kind == PY_DICT && od->u.seq.n == 2);
    py_obj_t *fz = py_dict_get(r, "frozen");
    CU_ASSERT(fz && fz->kind == PY_SET);
    pk_destroy(&pk_now);
}

/* Legacy magic: a LONG1 beyond int64 keeps its bytes; several pickles back to back. */
static void test_back_to_back(void) {
    static const unsigned char b[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
                                     "\x80\x02M\xe9\x03.";
    stc_err_t err;
    pk_t *pk = pk_create("l.pth", &err);
    py_obj_t *r;
    size_t used;
    CU_ASSERT_EQUAL_FATAL(pk_run(pk, b, sizeof b - 1, 0, &used, &r, &err), STC_OK);
    CU_ASSERT_EQUAL(used, 15);
    CU_ASSERT_EQUAL(r->kind, PY_BIGINT);
    CU_ASSERT_EQUAL(r->u.str.len, 10);
    CU_ASSERT_EQUAL_FATAL(pk_run(pk, b, sizeof b - 1, used, &used, &r, &err), STC_OK);
    CU_ASSERT_EQUAL(used, 6);
    CU_ASSERT_EQUAL(r->u.i, 1001);
    /* offsets in messages count from the buffer start */
    CU_ASSERT_NOT_EQUAL(pk_run(pk, b, sizeof b - 2, 15, &used, &r, &err), STC_OK);
    STC_ASSERT_CONTAINS(err.msg, "l.pth: the pickle ends at byte 20 without STOP");
    pk_destroy(&pk);
}

/* ------------------------------------------------------------- refused */

static void test_globals(void) {
    FAIL("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00lsR.", STC_E_UNSUPPORTED,
         "m.pth: data.pkl: GLOBAL at byte 2: 'os system' is not allowed: loading a checkpoint "
         "never runs code (allowed: collections.OrderedDict");
    FAIL("\x80\x02" "c__builtin__\neval\n.", STC_E_UNSUPPORTED, "'__builtin__ eval' is not allowed");
    FAIL("\x80\x02" "ctorch\nFloatStorage", STC_E_FORMAT, "GLOBAL at byte 2: expected a line");
    FAIL("\x80\x04\x8c\x02os\x8c\x06system\x93.", STC_E_UNSUPPORTED,
         "STACK_GLOBAL at byte 14: 'os system' is not allowed");
    /* allowed names that cannot be called like this */
    FAIL("\x80\x02" "ctorch\nFloatStorage\n)R.", STC_E_UNSUPPORTED,
         "REDUCE at byte 23: cannot call 'torch FloatStorage' with 0 arguments");
    FAIL("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n)\x81.", STC_E_UNSUPPORTED,
         "cannot instantiate");
    FAIL("\x80\x02" "N)R.", STC_E_FORMAT, "REDUCE at byte 4: expected an allowed callable, found None");
    FAIL("\x80\x02" "ccollections\nOrderedDict\nNR.", STC_E_FORMAT, "expected an argument tuple");
    FAIL("\x80\x02" "c_codecs\nencode\nX\x02\x00\x00\x00\xe2\x82X\x06\x00\x00\x00latin1\x86R.",
         STC_E_FORMAT, "not latin-1");
}

static void test_limits(void) {
    /* a million nested MARKs */
    size_t n = 2 + 1000000 + 1;
    unsigned char *b = malloc(n);
    b[0] = 0x80, b[1] = 2;
    memset(b + 2, '(', 1000000);
    b[n - 1] = '.';
    expect_fail(b, n, STC_E_LIMIT, "MARK at byte 1002: more than 1000 nested MARKs");
    /* a million nested empty lists appended into each other, memo-free */
    n = 2 + 2 * 1100000 + 1;
    b = realloc(b, n);
    for (size_t i = 0; i < 1100000; i++) b[2 + i] = ']';
    memset(b + 2 + 1100000, 'a', 1100000);
    b[n - 1] = '.';
    expect_fail(b, n, STC_E_LIMIT, "stack deeper than");
    free(b);
    /* a huge memo index in a tiny stream */
    FAIL("\x80\x02Nr\xff\xff\xff\xff.", STC_E_LIMIT, "LONG_BINPUT at byte 3: memo index 4294967295 exceeds");
    FAIL("\x80\x02h\x05.", STC_E_FORMAT, "BINGET at byte 2: memo index 5 was never stored");
    FAIL("\x80\x02j\x00\x00\x00\x01.", STC_E_FORMAT, "LONG_BINGET at byte 2: memo index 16777216");
    FAIL("\x80\x02g12\n.", STC_E_FORMAT, "GET at byte 2: memo index 12 was never stored");
    /* lengths past the end */
    FAIL("\x80\x02X\xff\xff\xff\x7f" "abc.", STC_E_FORMAT,
         "BINUNICODE at byte 2: length 2147483647 exceeds the 4 bytes left");
    FAIL("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff.", STC_E_FORMAT, "BINUNICODE8 at byte 2");
    FAIL("\x80\x02T\xff\xff\xff\xff.", STC_E_FORMAT, "BINSTRING at byte 2: negative length -1");
    FAIL("\x80\x02\x8a\x09\x01.", STC_E_FORMAT, "LONG1 at byte 2: needs 9 bytes, only 2 left");
    FAIL("\x80\x02\x8b\x00\x00\x00\x10.", STC_E_LIMIT, "LONG4 at byte 2: a 268435456-byte integer");
    FAIL("\x80\x02G\x00\x00.", STC_E_FORMAT, "BINFLOAT at byte 2: needs 8 bytes");
    FAIL("\x80\x02K", STC_E_FORMAT, "BININT1 at byte 2: needs 1 bytes, only 0 left");
    FAIL("\x80\x02", STC_E_FORMAT, "the pickle ends at byte 2 without STOP");
    FAIL("", STC_E_FORMAT, "the pickle ends at byte 0 without STOP");
    FAIL("\x80\x07.", STC_E_UNSUPPORTED, "PROTO at byte 0: protocol 7");
    FAIL("\x80\x02I12x\n.", STC_E_FORMAT, "INT at byte 2: expected a number, found \"12x\"");
    FAIL("\x80\x02I99999999999999999999\n.", STC_E_FORMAT, "expected a number");
}

static void test_stack(void) {
    FAIL("\x80\x02.", STC_E_FORMAT, "STOP at byte 2: stack underflow: needs 1 value, has 0");
    FAIL("\x80\x02K\x01\x86.", STC_E_FORMAT, "TUPLE2 at byte 4: stack underflow: needs 2 values");
    FAIL("\x80\x02K\x01(\x85.", STC_E_FORMAT, "TUPLE1 at byte 5: stack underflow"); /* not across MARK */
    FAIL("\x80\x02t.", STC_E_FORMAT, "TUPLE at byte 2: no MARK on the stack");
    FAIL("\x80\x02K\x01K\x02K\x03s.", STC_E_FORMAT, "SETITEM at byte 8: expected a dict below");
    FAIL("\x80\x02}(K\x01u.", STC_E_FORMAT, "SETITEMS at byte 6: odd number of items (1)");
    FAIL("\x80\x02(K\x01u.", STC_E_FORMAT, "SETITEMS at byte 5: no container below the MARK");
    FAIL("\x80\x02K\x01(K\x01" "e.", STC_E_FORMAT, "APPENDS at byte 7: expected a list below");
    FAIL("\x80\x02)K\x01\x61.", STC_E_FORMAT, "APPEND at byte 5: expected a list below the value, found tuple");
    FAIL("\x80\x02(K\x01K\x02K\x03" "d.", STC_E_FORMAT, "DICT at byte 9: odd number");
    FAIL("\x80\x02K\x01K\x02" "b.", STC_E_FORMAT, "BUILD at byte 6: cannot set the state of a int");
    FAIL("\x80\x02" "0.", STC_E_FORMAT, "POP at byte 2: stack underflow");
    FAIL("\x80\x02" "1.", STC_E_FORMAT, "POP_MARK at byte 2: no MARK");
    FAIL("\x80\x02" "2.", STC_E_FORMAT, "DUP at byte 2: stack underflow");
    FAIL("\x80\x02q\x00.", STC_E_FORMAT, "BINPUT at byte 2: stack underflow");
    FAIL("\x80\x02" "i__main__\nX\n.", STC_E_UNSUPPORTED, "INST at byte 2: opcode not supported");
    FAIL("\x80\x02\xff.", STC_E_FORMAT, "opcode 0xff at byte 2: not a pickle opcode");
    FAIL("\x80\x02S'abc'\n.", STC_E_UNSUPPORTED, "STRING at byte 2: opcode not supported");
}

/* A list that contains itself (memo) and a dict that is its own key: no recursion anywhere. */
static void test_self_reference(void) {
    py_obj_t *r;
    stc_err_t err;
    CU_ASSERT_EQUAL(RUN("\x80\x02]q\x00h\x00\x61h\x00" "b.", &r, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "BUILD at byte 10: cannot set the state of a list");
    /* BUILD on a list is refused; without it the structure loads */
    CU_ASSERT_EQUAL_FATAL(RUN("\x80\x02]q\x00h\x00\x61}q\x01h\x01h\x01s\x86.", &r, &err), STC_OK);
    CU_ASSERT_PTR_EQUAL(r->u.seq.items[0]->u.seq.items[0], r->u.seq.items[0]);
    CU_ASSERT_PTR_EQUAL(r->u.seq.items[1]->u.seq.items[1], r->u.seq.items[1]);
    pk_destroy(&pk_now);
}

/* Persistent ids and tensor rebuilds that are malformed. */
#define PID(type, key, numel) "(X\x07\x00\x00\x00storagec" type "\nX\x01\x00\x00\x00" key \
                              "X\x03\x00\x00\x00" "cpu" numel "tQ"
static void test_storages(void) {
    py_obj_t *r;
    stc_err_t err;
    /* the same key twice is one storage; v3 overrides the tensor dtype; parameter unwraps */
    CU_ASSERT_EQUAL_FATAL(
        RUN("\x80\x02(" PID("torch\nUntypedStorage", "0", "K\x10") PID("torch\nUntypedStorage", "0",
                                                                      "K\x10")
            "ctorch._utils\n_rebuild_tensor_v3\n(" PID("torch\nUntypedStorage", "0", "K\x10")
            "K\x01K\x02\x85K\x01\x85\x89)ctorch\nbfloat16\ntR"
            "ctorch._utils\n_rebuild_parameter\nh\x00\x88)\x87Rl.",
            &r, &err),
        STC_E_FORMAT); /* h\x00 was never stored */
    CU_ASSERT_EQUAL_FATAL(
        RUN("\x80\x02(" PID("torch\nUntypedStorage", "0", "K\x10") PID("torch\nUntypedStorage", "0",
                                                                      "K\x10")
            "ctorch._utils\n_rebuild_tensor_v3\n(" PID("torch\nUntypedStorage", "0", "K\x10")
            "K\x01K\x02\x85K\x01\x85\x89)ctorch\nbfloat16\ntRq\x00"
            "ctorch._utils\n_rebuild_parameter\nh\x00\x88)\x87Rl.",
            &r, &err),
        STC_OK);
    if (err.msg[0]) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL(pk_storage_count(pk_now), 1);
    CU_ASSERT_PTR_EQUAL(r->u.seq.items[0], r->u.seq.items[1]);
    py_obj_t *t = r->u.seq.items[2];
    CU_ASSERT_EQUAL_FATAL(t->kind, PY_TENSOR);
    CU_ASSERT_EQUAL(t->u.tensor->dtype, STC_DT_BF16);
    CU_ASSERT_EQUAL(t->u.tensor->storage->dtype, STC_DT_U8);
    CU_ASSERT_PTR_EQUAL(r->u.seq.items[3], t);

    FAIL("\x80\x02" PID("torch\nFloatStorage", "0", "K\x04") PID("torch\nLongStorage", "0", "K\x04") ".",
         STC_E_FORMAT, "storage '0' is 4 x int64 here but 4 x float32 at byte");
    FAIL("\x80\x02" PID("torch\nFloatStorage", "0", "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40") ".",
         STC_E_LIMIT, "storage '0': 4611686018427387904 elements is beyond any file");
    FAIL("\x80\x02" PID("torch\nFloatStorage", "0", "J\xff\xff\xff\xff") ".", STC_E_FORMAT,
         "numel: expected an int >= 0");
    FAIL("\x80\x02(X\x06\x00\x00\x00moduleK\x01K\x02K\x03K\x04tQ.", STC_E_UNSUPPORTED,
         "BINPERSID at byte 23: persistent id of kind 'module'");
    FAIL("\x80\x02K\x01Q.", STC_E_FORMAT, "expected ('storage', type, key, location, numel");
    FAIL("\x80\x02(X\x07\x00\x00\x00storageccollections\nOrderedDict\nX\x01\x00\x00\x00" "0"
         "X\x03\x00\x00\x00" "cpuK\x01tQ.",
         STC_E_UNSUPPORTED, "storage type: expected torch.<X>Storage, found global");
    FAIL("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x03\x00\x00\x00" "a/b"
         "X\x03\x00\x00\x00" "cpuK\x01tQ.",
         STC_E_FORMAT, "storage key: expected a string");
    FAIL("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
         "X\x03\x00\x00\x00" "cpuK\x01(X\x01\x00\x00\x00" "1K\x00K\x01ttQ.",
         STC_E_UNSUPPORTED, "storage '0' is a view of another storage");
    /* rebuilds with bad arguments */
    FAIL("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00)))\x89NtR.", STC_E_FORMAT,
         "tensor storage: expected a persistent storage, found int");
    FAIL("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(" PID("torch\nFloatStorage", "0", "K\x04")
         "K\x00(K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01t)\x89NtR.",
         STC_E_UNSUPPORTED, "tensor size has 9 dimensions, at most 8 supported");
    FAIL("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(" PID("torch\nFloatStorage", "0", "K\x04")
         "K\x00K\x04\x85)\x89NtR.",
         STC_E_FORMAT, "tensor has 1 sizes but 0 strides");
    FAIL("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(" PID("torch\nFloatStorage", "0", "K\x04")
         "K\x00G\x00\x00\x00\x00\x00\x00\x00\x00\x85)\x89NtR.",
         STC_E_FORMAT, "tensor size[0]: expected an int, found float");
    FAIL("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(" PID("torch\nFloatStorage", "0", "K\x04")
         "N)tR.",
         STC_E_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, found 3");
    FAIL("\x80\x02" "ctorch._utils\n_rebuild_parameter\n(K\x01\x88NtR.", STC_E_FORMAT,
         "expected (tensor, requires_grad, hooks)");
    pk_destroy(&pk_now);
}

static void test_allowed_list(void) {
    STC_ASSERT_CONTAINS(pk_allowed_globals(), "argparse.Namespace");
    stc_err_t err;
    pk_t *pk = pk_create(NULL, &err);
    CU_ASSERT_PTR_NOT_NULL(pk);
    pk_destroy(&pk);
    pk_destroy(&pk);
    pk_destroy(NULL);
    pk_destroy(&pk_now);
}

void stc_suite_pickle(void) {
    static const stc_test_t tests[] = {
        {"example", test_example},
        {"values", test_values},
        {"training_values", test_training_values},
        {"back_to_back", test_back_to_back},
        {"globals", test_globals},
        {"limits", test_limits},
        {"stack", test_stack},
        {"self_reference", test_self_reference},
        {"storages", test_storages},
        {"allowed_list", test_allowed_list},
        {NULL, NULL},
    };
    stc_add_suite("pickle", tests);
}
