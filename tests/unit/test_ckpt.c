/* test_ckpt.c - suite "ckpt": format dispatch, unwrapping, dtypes, to_f32 (compiler/frontend/ckpt.c).
 *
 * Most checks run against the files tests/data/make_ckpts.py writes with
 * PyTorch and the values it lists in expected.json: every file is loaded from
 * disk and from memory and compared tensor by tensor, and every corrupt file
 * must fail with the message part listed there.  The rest are hand-built
 * tensors: each dtype's conversion (half subnormals, inf, NaN, bfloat16),
 * strides, offsets, unaligned data and bounds.
 * SPDX-License-Identifier: MIT
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_int.h"
#include "test_util.h"

#define DATA STC_TEST_DATA_DIR "/"

/* ------------------------------------------------------------- helpers */

static cJSON *expected_json(void) {
    unsigned char *txt;
    size_t n;
    stc_err_t err;
    if (stc_read_file(DATA "expected.json", 64u << 20, &txt, &n, &err)) return NULL;
    cJSON *j = cJSON_ParseWithLength((const char *)txt, n);
    free(txt);
    return j;
}

static float *to_f32(const stc_tensor_t *t) {
    int64_t ne = stc_tensor_numel(t);
    float *v = malloc(((size_t)ne + 1) * sizeof *v);
    stc_err_t err;
    CU_ASSERT_EQUAL(stc_tensor_to_f32(t, v, (size_t)ne, &err), STC_OK);
    return v;
}

/* Compare a loaded checkpoint with its expected.json entry. */
static void compare(const char *file, const stc_ckpt_t *c, const cJSON *e) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(e, "format");
    const cJSON *wrap = cJSON_GetObjectItemCaseSensitive(e, "wrapper");
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(e, "count");
    const cJSON *tens = cJSON_GetObjectItemCaseSensitive(e, "tensors");
    if (cJSON_IsString(fmt)) CU_ASSERT_STRING_EQUAL(stc_ckpt_format(c), fmt->valuestring);
    if (cJSON_IsString(wrap)) {
        if (strcmp(stc_ckpt_wrapper(c), wrap->valuestring))
            fprintf(stderr, "\n  %s: wrapper \"%s\", expected \"%s\"\n", file,
                    stc_ckpt_wrapper(c), wrap->valuestring);
        CU_ASSERT_STRING_EQUAL(stc_ckpt_wrapper(c), wrap->valuestring);
    }
    if (cJSON_IsNumber(cnt)) CU_ASSERT_EQUAL(stc_ckpt_count(c), (size_t)cnt->valueint);
    size_t i = 0;
    for (const cJSON *t = tens ? tens->child : NULL; t; t = t->next, i++) {
        const stc_tensor_t *x = stc_ckpt_find(c, t->string);
        if (!x) {
            fprintf(stderr, "\n  %s: tensor '%s' missing\n", file, t->string);
            CU_FAIL("tensor missing");
            continue;
        }
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        CU_ASSERT_EQUAL(cJSON_GetArraySize(shape), x->ndim);
        int k = 0;
        for (const cJSON *d = shape->child; d && k < x->ndim; d = d->next, k++)
            CU_ASSERT_EQUAL((int64_t)d->valuedouble, x->shape[k]);
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        CU_ASSERT_STRING_EQUAL(stc_dtype_name(x->dtype), dt->valuestring);
        float *v = to_f32(x);
        int64_t ne = stc_tensor_numel(x);
        double s = 0, a = 0;
        for (int64_t j = 0; j < ne; j++) s += v[j], a += fabs(v[j]);
        double want = cJSON_GetObjectItemCaseSensitive(t, "sum")->valuedouble;
        if (fabs(s - want) > 1e-5 * (1 + a))
            fprintf(stderr, "\n  %s: '%s' sum %g, expected %g\n", file, t->string, s, want);
        CU_ASSERT(fabs(s - want) <= 1e-5 * (1 + a));
        int64_t j = 0;
        for (const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "first")->child; f && j < ne;
             f = f->next, j++)
            CU_ASSERT(v[j] == (float)f->valuedouble);
        free(v);
    }
}

/* ---------------------------------------------------------------- tests */

/* The usage example: load, look up, describe, convert, destroy. */
static void test_example(void) {
    stc_err_t err;
    stc_ckpt_t *c = stc_ckpt_load(DATA "sd_zip.pth", &err);
    if (!c) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(stc_ckpt_format(c), "torch-zip");
    CU_ASSERT_STRING_EQUAL(stc_ckpt_wrapper(c), "");
    CU_ASSERT_EQUAL(stc_ckpt_count(c), 8);
    const stc_tensor_t *w = stc_ckpt_find(c, "3.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    char buf[64];
    CU_ASSERT_STRING_EQUAL(stc_tensor_describe(w, buf, sizeof buf), "[4,12] float32");
    CU_ASSERT_EQUAL(stc_tensor_numel(w), 48);
    CU_ASSERT_PTR_EQUAL(stc_ckpt_at(c, 0), stc_ckpt_find(c, "0.weight"));
    CU_ASSERT_PTR_NULL(stc_ckpt_find(c, "nope"));
    CU_ASSERT_PTR_NULL(stc_ckpt_at(c, 8));
    const stc_tensor_t *nb = stc_ckpt_find(c, "1.num_batches_tracked");
    CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
    CU_ASSERT_EQUAL(nb->dtype, STC_DT_I64);
    CU_ASSERT_EQUAL(nb->ndim, 0);
    float one;
    CU_ASSERT_EQUAL(stc_tensor_to_f32(nb, &one, 1, &err), STC_OK);
    CU_ASSERT_EQUAL(one, 1.0f);
    float two[2];
    CU_ASSERT_EQUAL(stc_tensor_to_f32(nb, two, 2, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(stc_ckpt_path(c), "sd_zip.pth");
    stc_ckpt_destroy(&c);
    CU_ASSERT_PTR_NULL(c);
    stc_ckpt_destroy(&c);
    stc_ckpt_destroy(NULL);
}

/* Every file make_ckpts.py wrote, from disk and from memory. */
static void test_generated(void) {
    cJSON *exp = expected_json();
    if (!exp) {
        fprintf(stderr, "\n  no expected.json in %s (run ctest -R make_test_data)\n", DATA);
        CU_FAIL_FATAL("test data missing");
    }
    int ok = 0, bad = 0;
    for (const cJSON *e = exp->child; e; e = e->next) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", DATA, e->string);
        const cJSON *want_err = cJSON_GetObjectItemCaseSensitive(e, "error");
        unsigned char *bytes;
        size_t n;
        stc_err_t err;
        CU_ASSERT_EQUAL_FATAL(stc_read_file(p, 1u << 26, &bytes, &n, &err), STC_OK);
        for (int mem = 0; mem < 2; mem++) {
            memset(&err, 0, sizeof err);
            stc_ckpt_t *c = mem ? stc_ckpt_load_mem(bytes, n, e->string, &err)
                                : stc_ckpt_load(p, &err);
            if (cJSON_IsString(want_err)) {
                CU_ASSERT_PTR_NULL(c);
                CU_ASSERT_NOT_EQUAL(err.status, STC_OK);
                if (!c && !strstr(err.msg, want_err->valuestring))
                    fprintf(stderr, "\n  %s: got '%s', expected '...%s...'\n", e->string,
                            err.msg, want_err->valuestring);
                if (!c) STC_ASSERT_CONTAINS(err.msg, want_err->valuestring);
                if (!c) STC_ASSERT_CONTAINS(err.msg, e->string);
                bad++;
            } else {
                if (!c) fprintf(stderr, "\n  %s: %s\n", e->string, err.msg);
                CU_ASSERT_PTR_NOT_NULL(c);
                if (c) compare(e->string, c, e), ok++;
            }
            stc_ckpt_destroy(&c);
        }
        free(bytes);
    }
    CU_ASSERT(ok >= 30);
    CU_ASSERT(bad >= 16);
    cJSON_Delete(exp);
}

/* Tensors sharing one storage keep pointing at it, with their own offsets and strides. */
static void test_shared(void) {
    const char *files[] = {DATA "shared_zip.pth", DATA "shared_legacy.pth"};
    for (int f = 0; f < 2; f++) {
        stc_err_t err;
        stc_ckpt_t *c = stc_ckpt_load(files[f], &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        const stc_tensor_t *base = stc_ckpt_find(c, "base"), *t = stc_ckpt_find(c, "transposed"),
                           *cols = stc_ckpt_find(c, "col_t");
        CU_ASSERT_PTR_NOT_NULL_FATAL(base);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cols);
        CU_ASSERT_PTR_EQUAL(base->storage, t->storage);
        CU_ASSERT_EQUAL(c->n_storages, 1);
        CU_ASSERT_EQUAL(t->stride[0], 1);
        CU_ASSERT_EQUAL(t->stride[1], 6);
        CU_ASSERT_EQUAL(cols->offset, 7);
        float v[9];
        CU_ASSERT_EQUAL(stc_tensor_to_f32(cols, v, 9, &err), STC_OK);
        /* m[1:, 1:4].t(): row j is column 1+j of rows 1..3 of arange(24).view(4, 6) */
        float want[9] = {7, 13, 19, 8, 14, 20, 9, 15, 21};
        CU_ASSERT(!memcmp(v, want, sizeof v));
        stc_ckpt_destroy(&c);
    }
}

static void test_dispatch(void) {
    stc_err_t err;
    CU_ASSERT_PTR_NULL(stc_ckpt_load_mem("", 0, "e.pth", &err));
    STC_ASSERT_CONTAINS(err.msg, "e.pth: the file is empty");
    CU_ASSERT_PTR_NULL(stc_ckpt_load_mem("PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22,
                                         "z.pth", &err));
    STC_ASSERT_CONTAINS(err.msg, "z.pth: an empty zip archive");
    CU_ASSERT_PTR_NULL(stc_ckpt_load_mem("\x01\x02garbage\xff and more bytes", 24, "g.bin",
                                         &err));
    CU_ASSERT_EQUAL(err.status, STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "g.bin: expected a torch.save zip, a legacy torch.save file or "
                                 "safetensors, found bytes \"\\x01\\x02garbage\\xff and m...\"");
    /* A pickle that is not the legacy magic is not a legacy file. */
    CU_ASSERT_PTR_NULL(stc_ckpt_load_mem("\x80\x02}q\x00.", 6, "p.pkl", &err));
    STC_ASSERT_CONTAINS(err.msg, "found bytes");
    /* Truncated right after the legacy magic's first bytes: dispatched, then refused. */
    CU_ASSERT_PTR_NULL(stc_ckpt_load_mem("\x80\x02\x8a\x0a\x6c\xfc", 6, "l.pth", &err));
    STC_ASSERT_CONTAINS(err.msg, "l.pth: legacy pickle");
    /* A zip that is not one. */
    CU_ASSERT_PTR_NULL(stc_ckpt_load_mem("PK\x03\x04 not really a zip", 22, "b.pth", &err));
    STC_ASSERT_CONTAINS(err.msg, "b.pth: not a readable zip");
    CU_ASSERT_PTR_NULL(stc_ckpt_load(DATA "does-not-exist.pth", &err));
    CU_ASSERT_EQUAL(err.status, STC_E_IO);
    CU_ASSERT_PTR_NULL(stc_ckpt_load(DATA, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_IO);
}

/* Every prefix of a real zip and legacy file fails cleanly (or loads, for the full file). */
static void test_truncations(void) {
    const char *files[] = {DATA "train_zip.pth", DATA "train_legacy.pth"};
    for (int f = 0; f < 2; f++) {
        unsigned char *b;
        size_t n;
        stc_err_t err;
        CU_ASSERT_EQUAL_FATAL(stc_read_file(files[f], 1u << 20, &b, &n, &err), STC_OK);
        for (size_t k = 0; k < n; k++) {
            stc_ckpt_t *c = stc_ckpt_load_mem(b, k, "t.pth", &err);
            CU_ASSERT_PTR_NULL(c);
            if (c) fprintf(stderr, "\n  %s: prefix of %zu bytes loaded\n", files[f], k);
            stc_ckpt_destroy(&c);
        }
        stc_ckpt_t *c = stc_ckpt_load_mem(b, n, "t.pth", &err);
        CU_ASSERT_PTR_NOT_NULL(c);
        stc_ckpt_destroy(&c);
        free(b);
    }
}

/* --------------------------------------------------- hand-built tensors */

static stc_tensor_t mk(stc_dtype_t dt, const void *data, uint64_t nb, stc_storage_t *st,
                       int ndim, const int64_t *shape, const int64_t *stride, int64_t off) {
    stc_tensor_t t;
    memset(&t, 0, sizeof t);
    st->key = "0";
    st->dtype = dt;
    st->n_bytes = nb;
    st->data = data;
    t.name = "t";
    t.dtype = dt;
    t.ndim = ndim;
    for (int k = 0; k < ndim; k++) t.shape[k] = shape[k], t.stride[k] = stride[k];
    t.offset = off;
    t.storage = st;
    return t;
}

static void test_to_f32_dtypes(void) {
    stc_storage_t st;
    stc_err_t err;
    float v[8];
    int64_t sh[1], one[1] = {1};
    /* float16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14*(1023/1024) (largest
     * subnormal), +inf, -0, NaN */
    uint16_t h[8] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0x8000, 0x7e00};
    sh[0] = 8;
    stc_tensor_t t = mk(STC_DT_F16, h, sizeof h, &st, 1, sh, one, 0);
    CU_ASSERT_EQUAL_FATAL(stc_tensor_to_f32(&t, v, 8, &err), STC_OK);
    CU_ASSERT_EQUAL(v[0], 1.0f);
    CU_ASSERT_EQUAL(v[1], -2.0f);
    CU_ASSERT_EQUAL(v[2], 65504.0f);
    CU_ASSERT_EQUAL(v[3], ldexpf(1, -24));
    CU_ASSERT_EQUAL(v[4], ldexpf(1023, -24));
    CU_ASSERT(isinf(v[5]) && v[5] > 0);
    CU_ASSERT(v[6] == 0 && signbit(v[6]));
    CU_ASSERT(isnan(v[7]));
    /* bfloat16: the top half of a float32 */
    uint16_t bf[3] = {0x3f80, 0xc0a0, 0x7f80};
    sh[0] = 3;
    t = mk(STC_DT_BF16, bf, sizeof bf, &st, 1, sh, one, 0);
    CU_ASSERT_EQUAL_FATAL(stc_tensor_to_f32(&t, v, 3, &err), STC_OK);
    CU_ASSERT(v[0] == 1.0f && v[1] == -5.0f && isinf(v[2]));
    /* integers, bool, unsigned */
    struct {
        stc_dtype_t dt;
        const void *data;
        size_t nb;
        float want[3];
    } cases[] = {
        {STC_DT_F64, (double[]){1.5, -1e300, 3}, 24, {1.5f, -INFINITY, 3}},
        {STC_DT_I64, (int64_t[]){-5, 1ll << 40, 0}, 24, {-5, 1099511627776.0f, 0}},
        {STC_DT_I32, (int32_t[]){-7, 2147483647, 1}, 12, {-7, 2147483648.0f, 1}},
        {STC_DT_I16, (int16_t[]){-32768, 5, 0}, 6, {-32768, 5, 0}},
        {STC_DT_I8, (int8_t[]){-128, 127, -1}, 3, {-128, 127, -1}},
        {STC_DT_U8, (uint8_t[]){255, 0, 9}, 3, {255, 0, 9}},
        {STC_DT_BOOL, (uint8_t[]){0, 1, 2}, 3, {0, 1, 1}},
        {STC_DT_U16, (uint16_t[]){65535, 1, 2}, 6, {65535, 1, 2}},
        {STC_DT_U32, (uint32_t[]){4000000000u, 1, 2}, 12, {4e9f, 1, 2}},
        {STC_DT_U64, (uint64_t[]){1ull << 63, 1, 2}, 24, {9223372036854775808.0f, 1, 2}},
        {STC_DT_F32, (float[]){0.25f, -1, 2}, 12, {0.25f, -1, 2}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sh[0] = 3;
        t = mk(cases[i].dt, cases[i].data, cases[i].nb, &st, 1, sh, one, 0);
        CU_ASSERT_EQUAL(stc_tensor_to_f32(&t, v, 3, &err), STC_OK);
        CU_ASSERT(!memcmp(v, cases[i].want, 3 * sizeof(float)));
        if (memcmp(v, cases[i].want, 3 * sizeof(float)))
            fprintf(stderr, "\n  %s: %g %g %g\n", stc_dtype_name(cases[i].dt), v[0], v[1], v[2]);
    }
    CU_ASSERT_STRING_EQUAL(stc_dtype_name(STC_DT_BF16), "bfloat16");
    CU_ASSERT_STRING_EQUAL(stc_dtype_name(STC_DT_U64), "uint64");
    CU_ASSERT_STRING_EQUAL(stc_dtype_name(STC_DT_COUNT), "?");
    CU_ASSERT_EQUAL(stc_dtype_size(STC_DT_F64), 8);
    CU_ASSERT_EQUAL(stc_dtype_size(STC_DT_BOOL), 1);
    CU_ASSERT_EQUAL(stc_dtype_size(STC_DT_COUNT), 0);
}

/* Strides, offsets and data at an odd address (mmap'd legacy storages are unaligned). */
static void test_strides_unaligned(void) {
    unsigned char raw[1 + 8 * 12];
    for (int i = 0; i < 12; i++) {
        double d = i;
        memcpy(raw + 1 + 8 * i, &d, 8);
    }
    stc_storage_t st;
    stc_err_t err;
    /* a 3x4 view of 0..11 starting at element 1, transposed: shape [3,2], strides [1,4] */
    int64_t sh[2] = {3, 2}, strd[2] = {1, 4};
    stc_tensor_t t = mk(STC_DT_F64, raw + 1, 96, &st, 2, sh, strd, 1);
    float v[6];
    CU_ASSERT_EQUAL_FATAL(stc_tensor_to_f32(&t, v, 6, &err), STC_OK);
    float want[6] = {1, 5, 2, 6, 3, 7};
    CU_ASSERT(!memcmp(v, want, sizeof v));
    /* stride 0 (expand) */
    int64_t sh2[2] = {2, 3}, st2[2] = {0, 1};
    t = mk(STC_DT_F64, raw + 1, 96, &st, 2, sh2, st2, 9);
    CU_ASSERT_EQUAL_FATAL(stc_tensor_to_f32(&t, v, 6, &err), STC_OK);
    float want2[6] = {9, 10, 11, 9, 10, 11};
    CU_ASSERT(!memcmp(v, want2, sizeof v));
    /* one past the end: refused by the bounds check inside to_f32 */
    t = mk(STC_DT_F64, raw + 1, 96, &st, 2, sh2, st2, 10);
    CU_ASSERT_EQUAL(stc_tensor_to_f32(&t, v, 6, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "storage '0' has 96 bytes, tensor needs 104");
    /* empty tensor: nothing to read */
    int64_t sh3[2] = {0, 5}, st3[2] = {5, 1};
    t = mk(STC_DT_F64, raw + 1, 0, &st, 2, sh3, st3, 1000);
    CU_ASSERT_EQUAL(stc_tensor_to_f32(&t, v, 0, &err), STC_OK);
}

static void test_bounds(void) {
    stc_ckpt_t c;
    memset(&c, 0, sizeof c);
    c.path = "b.pth";
    stc_storage_t st;
    stc_err_t err;
    float dummy[4] = {0};
    int64_t sh[2] = {2, 2}, ok[2] = {2, 1}, neg[2] = {-2, 1};
    stc_tensor_t t = mk(STC_DT_F32, dummy, 16, &st, 2, sh, ok, 0);
    CU_ASSERT_EQUAL(ckpt_check_bounds(&c, &t, &err), STC_OK);
    t.offset = 1;
    CU_ASSERT_EQUAL(ckpt_check_bounds(&c, &t, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "b.pth: tensor 't': storage '0' has 16 bytes, tensor needs 20");
    t = mk(STC_DT_F32, dummy, 16, &st, 2, sh, neg, 3);
    CU_ASSERT_EQUAL(ckpt_check_bounds(&c, &t, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "expected both >= 0");
    int64_t huge[2] = {INT64_MAX, 3}, hs[2] = {INT64_MAX, 1};
    t = mk(STC_DT_F32, dummy, 16, &st, 2, huge, hs, 0);
    CU_ASSERT_NOT_EQUAL(ckpt_check_bounds(&c, &t, &err), STC_OK);
    int64_t big[1] = {1ll << 62}, bs[1] = {4};
    t = mk(STC_DT_F32, dummy, 16, &st, 1, big, bs, 0);
    CU_ASSERT_EQUAL(ckpt_check_bounds(&c, &t, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "beyond 2^64");
    t = mk(STC_DT_F32, dummy, 16, &st, 2, sh, ok, -1);
    CU_ASSERT_EQUAL(ckpt_check_bounds(&c, &t, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "negative storage offset");
}

/* ckpt_add_storage/ckpt_add_tensor as a reader uses them, and the limits. */
static void test_builders(void) {
    stc_err_t err;
    stc_ckpt_t *c = calloc(1, sizeof *c);
    c->arena = stc_arena_create();
    c->path = "mem";
    float *d = malloc(16);
    stc_storage_t *s = ckpt_add_storage(c, "0", STC_DT_F32, (unsigned char *)d, 16, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    stc_tensor_t t;
    memset(&t, 0, sizeof t);
    t.name = "x";
    t.ndim = 1;
    t.shape[0] = 4;
    t.stride[0] = 1;
    t.storage = s;
    CU_ASSERT_PTR_NOT_NULL(ckpt_add_tensor(c, &t, &err));
    t.ndim = 9;
    CU_ASSERT_PTR_NULL(ckpt_add_tensor(c, &t, &err));
    t.ndim = 1;
    char *longname = malloc(STC_CKPT_MAX_NAME + 2);
    memset(longname, 'a', STC_CKPT_MAX_NAME + 1);
    longname[STC_CKPT_MAX_NAME + 1] = 0;
    t.name = longname;
    CU_ASSERT_PTR_NULL(ckpt_add_tensor(c, &t, &err));
    CU_ASSERT_EQUAL(err.status, STC_E_LIMIT);
    free(longname);
    CU_ASSERT_PTR_NULL(ckpt_add_storage(c, "1", STC_DT_COUNT, NULL, 0, 0, &err));
    CU_ASSERT_EQUAL(stc_ckpt_count(c), 1);
    CU_ASSERT_PTR_NOT_NULL(stc_ckpt_find(c, "x")); /* before finish(): linear scan */
    c->path = NULL;
    stc_ckpt_destroy(&c);
}

void stc_suite_ckpt(void) {
    static const stc_test_t tests[] = {
        {"example", test_example},
        {"generated", test_generated},
        {"shared", test_shared},
        {"dispatch", test_dispatch},
        {"truncations", test_truncations},
        {"to_f32_dtypes", test_to_f32_dtypes},
        {"strides_unaligned", test_strides_unaligned},
        {"bounds", test_bounds},
        {"builders", test_builders},
        {NULL, NULL},
    };
    stc_add_suite("ckpt", tests);
}
