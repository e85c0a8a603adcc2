/* test_safetensors.c - suite "safetensors": the safetensors reader (compiler/frontend/safetensors.c).
 *
 * Valid files come from two places: small byte arrays built here, and the
 * st_*.safetensors files written by tests/data/make_ckpts.py (with
 * safetensors.torch or by hand) whose expected tensors are listed in
 * expected.json.  Every malformed case is a hand-made byte array fed to
 * stc_read_safetensors() directly, so the test pins the reader's own message.
 * SPDX-License-Identifier: MIT
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_int.h"
#include "test_util.h"

/* ------------------------------------------------------------- helpers */

/* u64 LE header length + header + data (data bytes 0, 1, 2, ... unless given). */
static unsigned char *mk_raw(uint64_t hlen, const char *hdr, size_t hdr_n, const void *data,
                             size_t data_n, size_t *n) {
    *n = 8 + hdr_n + data_n;
    unsigned char *b = malloc(*n + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, hdr, hdr_n);
    for (size_t i = 0; i < data_n; i++)
        b[8 + hdr_n + i] = data ? ((const unsigned char *)data)[i] : (unsigned char)i;
    return b;
}

static unsigned char *mk(const char *hdr, const void *data, size_t data_n, size_t *n) {
    return mk_raw(strlen(hdr), hdr, strlen(hdr), data, data_n, n);
}

/* Run the reader alone on an empty checkpoint named x.safetensors. */
static stc_status_t rd(const unsigned char *b, size_t n, stc_err_t *err) {
    stc_ckpt_t *c = calloc(1, sizeof *c);
    c->arena = stc_arena_create();
    c->path = stc_arena_strdup(c->arena, "x.safetensors");
    memset(err, 0, sizeof *err);
    stc_status_t st = stc_read_safetensors(c, b, n, err);
    stc_ckpt_destroy(&c);
    return st;
}

/* Expect failure with status `want` and a message containing `needle`. */
static void bad(const char *hdr, size_t data_n, stc_status_t want, const char *needle) {
    size_t n;
    unsigned char *b = mk(hdr, NULL, data_n, &n);
    stc_err_t err;
    stc_status_t st = rd(b, n, &err);
    CU_ASSERT_EQUAL(st, want);
    if (st != want || !strstr(err.msg, needle))
        fprintf(stderr, "\n  header %.120s\n  got %s: %s\n  want %s: ...%s...\n", hdr,
                stc_status_name(st), err.msg, stc_status_name(want), needle);
    STC_ASSERT_CONTAINS(err.msg, needle);
    STC_ASSERT_CONTAINS(err.msg, "x.safetensors");
    free(b);
}

static stc_ckpt_t *load_mem(const char *hdr, const void *data, size_t data_n, stc_err_t *err) {
    size_t n;
    unsigned char *b = mk(hdr, data, data_n, &n);
    stc_ckpt_t *c = stc_ckpt_load_mem(b, n, "mem.safetensors", err);
    free(b);
    if (!c) fprintf(stderr, "\n  load failed: %s\n", err->msg);
    return c;
}

/* --------------------------------------------------------------- valid */

/* The usage example: load, look tensors up, convert, destroy. */
static void test_example(void) {
    const char *hdr =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[24,27]}}";
    float w[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    unsigned char data[27];
    memcpy(data, w, 24);
    data[24] = 5;
    data[25] = 0xff; /* -1 */
    data[26] = 0x80; /* -128 */
    stc_err_t err;
    stc_ckpt_t *c = load_mem(hdr, data, sizeof data, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(stc_ckpt_format(c), "safetensors");
    CU_ASSERT_EQUAL(stc_ckpt_count(c), 2);
    const stc_tensor_t *t = stc_ckpt_at(c, 0);
    CU_ASSERT_STRING_EQUAL(t->name, "w"); /* header order */
    CU_ASSERT_EQUAL(t->dtype, STC_DT_F32);
    CU_ASSERT_EQUAL(t->ndim, 2);
    CU_ASSERT_EQUAL(t->shape[0], 2);
    CU_ASSERT_EQUAL(t->shape[1], 3);
    CU_ASSERT_EQUAL(t->stride[0], 3);
    CU_ASSERT_EQUAL(t->stride[1], 1);
    CU_ASSERT_EQUAL(t->offset, 0);
    CU_ASSERT_EQUAL(t->storage->n_bytes, 24);
    float out[6];
    CU_ASSERT_EQUAL(stc_tensor_to_f32(t, out, 6, &err), STC_OK);
    CU_ASSERT_EQUAL(memcmp(out, w, sizeof w), 0);
    t = stc_ckpt_find(c, "b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->dtype, STC_DT_I8);
    CU_ASSERT_EQUAL(stc_tensor_to_f32(t, out, 3, &err), STC_OK);
    CU_ASSERT_EQUAL(out[0], 5.0f);
    CU_ASSERT_EQUAL(out[1], -1.0f);
    CU_ASSERT_EQUAL(out[2], -128.0f);
    stc_ckpt_destroy(&c);
    CU_ASSERT_PTR_NULL(c);
}

/* Every dtype name maps to its stc dtype and element size. */
static void test_dtypes(void) {
    static const struct {
        const char *st;
        stc_dtype_t dt;
        size_t size;
    } tab[] = {
        {"BOOL", STC_DT_BOOL, 1}, {"U8", STC_DT_U8, 1},     {"I8", STC_DT_I8, 1},
        {"I16", STC_DT_I16, 2},   {"U16", STC_DT_U16, 2},   {"F16", STC_DT_F16, 2},
        {"BF16", STC_DT_BF16, 2}, {"I32", STC_DT_I32, 4},   {"U32", STC_DT_U32, 4},
        {"F32", STC_DT_F32, 4},   {"F64", STC_DT_F64, 8},   {"I64", STC_DT_I64, 8},
        {"U64", STC_DT_U64, 8},
    };
    size_t nt = sizeof tab / sizeof tab[0];
    char hdr[4096];
    size_t o = 0, off = 0;
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "{");
    for (size_t i = 0; i < nt; i++) {
        o += (size_t)snprintf(hdr + o, sizeof hdr - o,
                              "%s\"t_%s\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[%zu,%zu]}",
                              i ? "," : "", tab[i].st, tab[i].st, off, off + 2 * tab[i].size);
        off += 2 * tab[i].size;
    }
    snprintf(hdr + o, sizeof hdr - o, "}");
    unsigned char data[256];
    memset(data, 0, sizeof data);
    /* values 1 and 2 in every dtype, little-endian */
    size_t p = 0;
    for (size_t i = 0; i < nt; i++) {
        for (int k = 1; k <= 2; k++) {
            unsigned char *d = data + p + (size_t)(k - 1) * tab[i].size;
            switch (tab[i].dt) {
            case STC_DT_F32: { float v = (float)k; memcpy(d, &v, 4); break; }
            case STC_DT_F64: { double v = k; memcpy(d, &v, 8); break; }
            case STC_DT_F16: d[1] = k == 1 ? 0x3c : 0x40; break;   /* 1.0, 2.0 */
            case STC_DT_BF16: d[1] = k == 1 ? 0x3f : 0x40; d[0] = 0x80 * (k == 1); break;
            case STC_DT_BOOL: d[0] = 1; break;
            default: d[0] = (unsigned char)k; break;
            }
        }
        p += 2 * tab[i].size;
    }
    stc_err_t err;
    stc_ckpt_t *c = load_mem(hdr, data, off, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(stc_ckpt_count(c), nt);
    for (size_t i = 0; i < nt; i++) {
        const stc_tensor_t *t = stc_ckpt_at(c, i);
        CU_ASSERT_EQUAL(t->dtype, tab[i].dt);
        CU_ASSERT_EQUAL(stc_dtype_size(t->dtype), tab[i].size);
        float v[2] = {0, 0};
        CU_ASSERT_EQUAL(stc_tensor_to_f32(t, v, 2, &err), STC_OK);
        CU_ASSERT_EQUAL(v[0], 1.0f);
        CU_ASSERT_EQUAL(v[1], tab[i].dt == STC_DT_BOOL ? 1.0f : 2.0f);
        if (v[0] != 1.0f) fprintf(stderr, "\n  %s: %g %g\n", tab[i].st, v[0], v[1]);
    }
    stc_ckpt_destroy(&c);
}

/* Space padding, scalars, empty tensors, an empty header, null metadata. */
static void test_edges(void) {
    stc_err_t err;
    /* padded header (Python's safetensors pads to a multiple of 8) */
    stc_ckpt_t *c = load_mem("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}   \n ",
                             NULL, 8, &err);
    CU_ASSERT_PTR_NOT_NULL(c);
    if (c) {
        CU_ASSERT_EQUAL(stc_ckpt_at(c, 0)->ndim, 0);
        CU_ASSERT_EQUAL(stc_tensor_numel(stc_ckpt_at(c, 0)), 1);
    }
    stc_ckpt_destroy(&c);
    /* zero-size tensors at the start, between and at the end */
    c = load_mem("{\"e0\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                 "\"e1\":{\"dtype\":\"F16\",\"shape\":[4,0],\"data_offsets\":[2,2]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
                 "\"e2\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[3,3]}}",
                 NULL, 3, &err);
    CU_ASSERT_PTR_NOT_NULL(c);
    if (c) {
        CU_ASSERT_EQUAL(stc_ckpt_count(c), 5);
        CU_ASSERT_EQUAL(stc_tensor_numel(stc_ckpt_find(c, "e1")), 0);
    }
    stc_ckpt_destroy(&c);
    /* no tensors at all */
    size_t n;
    unsigned char *b = mk("{}", NULL, 0, &n);
    CU_ASSERT_EQUAL(rd(b, n, &err), STC_OK);
    free(b);
    b = mk("{\"__metadata__\":null}", NULL, 0, &n);
    CU_ASSERT_EQUAL(rd(b, n, &err), STC_OK);
    free(b);
    /* a UTF-8 name, offsets written as 8.0 */
    c = load_mem("{\"bl\xc3\xb6" "ck.w\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2.0]}}",
                 NULL, 2, &err);
    CU_ASSERT_PTR_NOT_NULL(c);
    if (c) CU_ASSERT_PTR_NOT_NULL(stc_ckpt_find(c, "bl\xc3\xb6" "ck.w"));
    stc_ckpt_destroy(&c);
}

/* ------------------------------------------------ files from make_ckpts.py */

/* expected.json (see make_ckpts.py): {"<file>": {"format", "wrapper", "count",
 * "tensors": {"<tensor>": {"shape", "dtype", "first", "sum"}}} or {"error": "..."};
 * only the fields present are checked. */
static cJSON *read_expected(void) {
    unsigned char *txt;
    size_t n;
    stc_err_t err;
    if (stc_read_file(STC_TEST_DATA_DIR "/expected.json", 64u << 20, &txt, &n, &err)) return NULL;
    cJSON *j = cJSON_ParseWithLength((const char *)txt, n);
    free(txt);
    return j;
}

static void check_against(const char *file, const stc_ckpt_t *c, const cJSON *exp) {
    const cJSON *tens = cJSON_GetObjectItemCaseSensitive(exp, "tensors");
    if (!tens) tens = exp;
    int checked = 0;
    for (const cJSON *e = tens->child; e; e = e->next) {
        if (!cJSON_IsObject(e)) continue;
        const stc_tensor_t *t = stc_ckpt_find(c, e->string);
        if (!t) {
            fprintf(stderr, "\n  %s: tensor '%s' missing\n", file, e->string);
            CU_FAIL("expected tensor missing");
            continue;
        }
        checked++;
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        if (cJSON_IsArray(shape)) {
            CU_ASSERT_EQUAL(cJSON_GetArraySize(shape), t->ndim);
            int k = 0;
            for (const cJSON *d = shape->child; d && k < t->ndim; d = d->next, k++)
                CU_ASSERT_EQUAL((int64_t)d->valuedouble, t->shape[k]);
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        if (cJSON_IsString(dt)) {
            const char *want = dt->valuestring;
            if (!strncmp(want, "torch.", 6)) want += 6;
            if (strcmp(want, stc_dtype_name(t->dtype)))
                fprintf(stderr, "\n  %s: '%s' dtype %s, expected %s\n", file, e->string,
                        stc_dtype_name(t->dtype), want);
            CU_ASSERT_STRING_EQUAL(want, stc_dtype_name(t->dtype));
        }
        int64_t ne = stc_tensor_numel(t);
        float *v = malloc(((size_t)ne + 1) * sizeof *v);
        stc_err_t err;
        CU_ASSERT_EQUAL_FATAL(stc_tensor_to_f32(t, v, (size_t)ne, &err), STC_OK);
        const cJSON *sum = cJSON_GetObjectItemCaseSensitive(e, "sum");
        if (cJSON_IsNumber(sum)) {
            double s = 0, a = 0;
            for (int64_t i = 0; i < ne; i++) s += v[i], a += fabs(v[i]);
            CU_ASSERT(fabs(s - sum->valuedouble) <= 1e-4 * (1 + a));
        }
        const cJSON *first = cJSON_GetObjectItemCaseSensitive(e, "first");
        if (cJSON_IsArray(first)) {
            int64_t i = 0;
            for (const cJSON *x = first->child; x && i < ne; x = x->next, i++)
                CU_ASSERT(fabs(v[i] - x->valuedouble) <= 1e-6 * (1 + fabs(x->valuedouble)));
        }
        free(v);
    }
    CU_ASSERT(checked > 0);
}

static void test_generated(void) {
    DIR *d = opendir(STC_TEST_DATA_DIR);
    cJSON *exp = read_expected();
    if (!d || !exp) {
        fprintf(stderr, "\n  no test data in %s (run ctest -R make_test_data)\n",
                STC_TEST_DATA_DIR);
        CU_FAIL("test data missing");
        if (d) closedir(d);
        cJSON_Delete(exp);
        return;
    }
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if (strncmp(nm, "st_", 3) || l < 12 || strcmp(nm + l - 12, ".safetensors")) continue;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(exp, nm);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", STC_TEST_DATA_DIR, nm);
        stc_err_t err;
        stc_ckpt_t *c = stc_ckpt_load(path, &err);
        const cJSON *want_err = e ? cJSON_GetObjectItemCaseSensitive(e, "error") : NULL;
        if (cJSON_IsString(want_err)) { /* a corrupt file: expect this message part */
            CU_ASSERT_PTR_NULL(c);
            if (!c && !strstr(err.msg, want_err->valuestring))
                fprintf(stderr, "\n  %s: got '%s', expected '...%s...'\n", nm, err.msg,
                        want_err->valuestring);
            if (!c) STC_ASSERT_CONTAINS(err.msg, want_err->valuestring);
            stc_ckpt_destroy(&c);
            files++;
            continue;
        }
        if (!c) fprintf(stderr, "\n  %s: %s\n", nm, err.msg);
        CU_ASSERT_PTR_NOT_NULL(c);
        if (c) {
            CU_ASSERT_STRING_EQUAL(stc_ckpt_format(c), "safetensors");
            const cJSON *cnt = e ? cJSON_GetObjectItemCaseSensitive(e, "count") : NULL;
            const cJSON *wr = e ? cJSON_GetObjectItemCaseSensitive(e, "wrapper") : NULL;
            if (cJSON_IsNumber(cnt)) CU_ASSERT_EQUAL(stc_ckpt_count(c), (size_t)cnt->valuedouble);
            if (cJSON_IsString(wr)) CU_ASSERT_STRING_EQUAL(stc_ckpt_wrapper(c), wr->valuestring);
            if (e) check_against(nm, c, e);
            files++;
        }
        stc_ckpt_destroy(&c);
    }
    closedir(d);
    cJSON_Delete(exp);
    CU_ASSERT(files > 0);
}

/* ---------------------------------------------------------------- bad */

static void test_bad_length(void) {
    stc_err_t err;
    size_t n;
    unsigned char *b;
    /* shorter than the length field */
    CU_ASSERT_EQUAL(rd((const unsigned char *)"\x02\0\0\0", 4, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "too short");
    /* header length beyond the file */
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    b = mk_raw(strlen(h) + 2, h, strlen(h), NULL, 1, &n);
    CU_ASSERT_EQUAL(rd(b, n, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "beyond the file");
    free(b);
    /* a huge header length: a limit, whatever the file size */
    b = mk_raw(0xffffffffffffffffull, h, strlen(h), NULL, 1, &n);
    CU_ASSERT_EQUAL(rd(b, n, &err), STC_E_LIMIT);
    STC_ASSERT_CONTAINS(err.msg, "exceeds the limit");
    free(b);
    b = mk_raw((100u << 20) + 1, h, strlen(h), NULL, 1, &n);
    CU_ASSERT_EQUAL(rd(b, n, &err), STC_E_LIMIT);
    free(b);
    /* the 8-byte field says 0 */
    b = mk_raw(0, "", 0, NULL, 0, &n);
    CU_ASSERT_EQUAL(rd(b, n, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "does not start with '{'");
    free(b);
}

static void test_bad_json(void) {
    bad("[1,2]", 0, STC_E_FORMAT, "does not start with '{'");
    bad(" {}", 0, STC_E_FORMAT, "does not start with '{'");
    bad("{\"a\":", 0, STC_E_FORMAT, "not valid JSON");
    bad("{} x", 0, STC_E_FORMAT, "bytes after the JSON object");
    bad("{}{}", 0, STC_E_FORMAT, "bytes after the JSON object");
    bad("{\"a\xff\":1}", 0, STC_E_FORMAT, "not UTF-8");
    bad("{\"a\xc0\xafz\":1}", 0, STC_E_FORMAT, "not UTF-8"); /* overlong '/' */
    bad("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, STC_E_FORMAT,
        "\\u0000");
    bad("{\"a\":1}", 0, STC_E_FORMAT, "tensor 'a': expected an object");
    bad("{\"__metadata__\":{\"k\":1}}", 0, STC_E_FORMAT, "'__metadata__' entry 'k'");
    bad("{\"__metadata__\":[]}", 0, STC_E_FORMAT, "'__metadata__' is not an object");
    /* a raw NUL inside the header */
    size_t n;
    unsigned char *b = mk_raw(4, "{\"\0\"", 4, NULL, 0, &n);
    stc_err_t err;
    CU_ASSERT_EQUAL(rd(b, n, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "NUL byte");
    free(b);
}

static void test_bad_keys(void) {
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2, STC_E_FORMAT, "duplicate key 'a'");
    bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, STC_E_FORMAT, "duplicate key '__metadata__'");
    bad("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
        STC_E_FORMAT, "duplicate field 'dtype'");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, STC_E_FORMAT, "missing field 'data_offsets'");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":0}}", 1, STC_E_FORMAT,
        "unknown field 'x'");
    bad("{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, STC_E_FORMAT,
        "tensor name '' of 0 bytes");
    /* a 4097-byte name */
    char *h = malloc(8192);
    int o = sprintf(h, "{\"");
    memset(h + o, 'n', 4097);
    sprintf(h + o + 4097, "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
    bad(h, 1, STC_E_LIMIT, "of 4097 bytes");
    free(h);
}

static void test_bad_dtype(void) {
    bad("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
        STC_E_UNSUPPORTED, "tensor 'a': unsupported dtype 'F8_E4M3'");
    bad("{\"a\":{\"dtype\":\"float32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, STC_E_FORMAT,
        "tensor 'a': unknown dtype 'float32', expected one of BOOL");
    bad("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, STC_E_FORMAT,
        "'dtype' is not a string");
}

static void test_bad_shape(void) {
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
        STC_E_LIMIT, "shape has 9 dims, limit is 8");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, STC_E_FORMAT,
        "shape dim 0 is not a non-negative integer");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,2.5],\"data_offsets\":[0,1]}}", 1, STC_E_FORMAT,
        "shape dim 1 is not");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", 1, STC_E_FORMAT,
        "shape dim 0");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,1]}}", 1, STC_E_FORMAT,
        "shape dim 0");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":{},\"data_offsets\":[0,1]}}", 1, STC_E_FORMAT,
        "'shape' is not an array");
    /* product overflows, even with a zero dim in front */
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,1]}}", 1,
        STC_E_LIMIT, "overflows");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
        STC_E_LIMIT, "overflows");
    /* numel fits, bytes do not */
    bad("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8,
        STC_E_FORMAT, "shape dim 0"); /* 2^61 > 2^53: not exact in JSON */
    bad("{\"a\":{\"dtype\":\"F64\",\"shape\":[9007199254740992,256],\"data_offsets\":[0,8]}}", 8,
        STC_E_LIMIT, "overflows 64 bits");
}

static void test_bad_offsets(void) {
    /* the message the brief pins */
    bad("{\"head.weight\":{\"dtype\":\"F32\",\"shape\":[10,10],\"data_offsets\":[0,100]}}", 100,
        STC_E_FORMAT,
        "x.safetensors: tensor 'head.weight': data_offsets [0, 100) hold 100 bytes, shape "
        "[10,10] float32 needs 400");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 3, STC_E_FORMAT,
        "data_offsets [0, 4) outside the data section of 3 bytes");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,1]}}", 3, STC_E_FORMAT,
        "outside the data section");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1, STC_E_FORMAT,
        "'data_offsets' is not [begin, end]");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 2, STC_E_FORMAT,
        "'data_offsets' is not");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1, STC_E_FORMAT,
        "'data_offsets' is not");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1e30]}}", 1, STC_E_FORMAT,
        "'data_offsets' is not");
    /* hole between tensors */
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
        5, STC_E_FORMAT, "data bytes [2, 3) belong to no tensor (hole before tensor 'b')");
    /* hole at the start */
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, STC_E_FORMAT,
        "data bytes [0, 1) belong to no tensor");
    /* bytes after the last tensor */
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 3, STC_E_FORMAT,
        "data section has 3 bytes, tensors cover 2");
    /* overlap, including a tensor aliasing another */
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
        4, STC_E_FORMAT, "tensor 'b': data_offsets [2, 4) overlap tensor 'a' [0, 3)");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}",
        3, STC_E_FORMAT, "overlap");
    bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
        "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}",
        4, STC_E_FORMAT, "overlap");
}

/* A NULL err is allowed and nothing leaks on any failure path (ASan). */
static void test_null_err(void) {
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    size_t n;
    unsigned char *b = mk(h, NULL, 3, &n);
    stc_ckpt_t *c = calloc(1, sizeof *c);
    c->arena = stc_arena_create();
    c->path = stc_arena_strdup(c->arena, "x.safetensors");
    CU_ASSERT_EQUAL(stc_read_safetensors(c, b, n, NULL), STC_E_FORMAT);
    stc_ckpt_destroy(&c);
    free(b);
}

void stc_suite_safetensors(void) {
    static const stc_test_t tests[] = {
        {"example", test_example},
        {"dtypes", test_dtypes},
        {"edges", test_edges},
        {"generated files", test_generated},
        {"bad length", test_bad_length},
        {"bad json", test_bad_json},
        {"bad keys", test_bad_keys},
        {"bad dtype", test_bad_dtype},
        {"bad shape", test_bad_shape},
        {"bad offsets", test_bad_offsets},
        {"null err", test_null_err},
        {NULL, NULL},
    };
    stc_add_suite("safetensors", tests);
}
