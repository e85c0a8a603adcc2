/* test_inputs.c - suite "inputs": .npy and idx input readers (compiler/frontend/input.c).
 *
 * Files are built here, byte by byte, in a temporary directory (gzip'd ones
 * with zlib), so the suite needs no Python.  The last tests load the real
 * Fashion-MNIST test set when /usr/share/datasets/fashion-mnist exists.
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "stc_input.h"
#include "test_util.h"

/* ------------------------------------------------------------- helpers */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} buf_t;

static void put(buf_t *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

/* A .npy file: version `major`.0, dict text padded to 64 bytes, then data. */
static buf_t npy(int major, const char *dict, const void *data, size_t data_n) {
    buf_t o = {0};
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1;
    hl += (64 - (pre + hl) % 64) % 64;
    unsigned char h[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    for (size_t i = 0; i < pre - 8; i++) h[8 + i] = (unsigned char)(hl >> (8 * i));
    put(&o, h, pre);
    put(&o, dict, dl);
    for (size_t i = dl; i < hl - 1; i++) put(&o, " ", 1);
    put(&o, "\n", 1);
    put(&o, data, data_n);
    return o;
}

/* idx: 00 00 08 ndim, big-endian dims, bytes. */
static buf_t idx(int ndim, const uint32_t *dims, const unsigned char *data, size_t data_n) {
    buf_t o = {0};
    unsigned char h[4] = {0, 0, 8, (unsigned char)ndim};
    put(&o, h, 4);
    for (int i = 0; i < ndim; i++) {
        unsigned char d[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        put(&o, d, 4);
    }
    put(&o, data, data_n);
    return o;
}

static buf_t gz(const buf_t *in) {
    buf_t o = {0};
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    o.cap = deflateBound(&zs, in->n) + 64;
    o.b = malloc(o.cap);
    zs.next_in = in->b;
    zs.avail_in = (uInt)in->n;
    zs.next_out = o.b;
    zs.avail_out = (uInt)o.cap;
    deflate(&zs, Z_FINISH);
    o.n = o.cap - zs.avail_out;
    deflateEnd(&zs);
    return o;
}

static char tmpdir[256];

static const char *tmp_write(const char *name, const buf_t *b) {
    static char path[512];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/stc-inputs-XXXXXX");
        if (!mkdtemp(tmpdir)) return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(b->b, 1, b->n, f);
    fclose(f);
    return path;
}

static stc_input_t *mem(const buf_t *img, const buf_t *lab, const stc_input_norm_t *nm,
                        int64_t limit, stc_err_t *err) {
    memset(err, 0, sizeof *err);
    return stc_input_load_mem(img->b, img->n, "x.npy", lab ? lab->b : NULL, lab ? lab->n : 0,
                              "y.idx", nm, limit, err);
}

/* Expect failure with `want` and `needle` in the message. */
static void bad(const buf_t *img, const buf_t *lab, const stc_input_norm_t *nm, stc_status_t want,
                const char *needle) {
    stc_err_t err;
    stc_input_t *in = mem(img, lab, nm, 0, &err);
    CU_ASSERT_PTR_NULL(in);
    stc_input_destroy(&in);
    CU_ASSERT_EQUAL(err.status, want);
    if (err.status != want || !strstr(err.msg, needle))
        fprintf(stderr, "\n  got %s: %s\n  want %s: ...%s...\n", stc_status_name(err.status),
                err.msg, stc_status_name(want), needle);
    STC_ASSERT_CONTAINS(err.msg, needle);
}

static int close_to(float a, float b) { return fabsf(a - b) <= 1e-6f * (1 + fabsf(b)); }

/* ---------------------------------------------------------------- npy */

/* The usage example: a float32 batch with labels, from files. */
static void test_example(void) {
    float x[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) x[i] = (float)i * 0.5f - 3;
    int64_t y[2] = {7, 0};
    buf_t img = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 2, 2), }", x,
                    sizeof x);
    buf_t lab = npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", y, sizeof y);
    char pi[512], pl[512];
    snprintf(pi, sizeof pi, "%s", tmp_write("x.npy", &img));
    snprintf(pl, sizeof pl, "%s", tmp_write("y.npy", &lab));
    stc_err_t err;
    stc_input_t *in = stc_input_load(pi, pl, NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT(in->n == 2 && in->c == 3 && in->h == 2 && in->w == 2);
    CU_ASSERT_EQUAL(memcmp(in->data, x, sizeof x), 0); /* floats pass unchanged */
    CU_ASSERT_PTR_NOT_NULL_FATAL(in->labels);
    CU_ASSERT_EQUAL(in->labels[0], 7);
    CU_ASSERT_EQUAL(in->labels[1], 0);
    stc_input_destroy(&in);
    CU_ASSERT_PTR_NULL(in);
    stc_input_destroy(&in); /* NULL is fine */
    /* per-channel normalization and a limit */
    stc_input_norm_t nm = {3, {1, 2, 3}, {2, 4, 0.5f}, 2};
    in = stc_input_load(pi, NULL, &nm, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_EQUAL(in->n, 1);
    CU_ASSERT_PTR_NULL(in->labels);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 4; k++)
            CU_ASSERT(close_to(in->data[c * 4 + k],
                               (x[c * 4 + k] * 2 - nm.mean[c]) / nm.std[c]));
    stc_input_destroy(&in);
    free(img.b);
    free(lab.b);
}

static void test_npy_variants(void) {
    stc_err_t err;
    /* rank 3 -> N = 1; float64 converted; version 2.0 */
    double d[1 * 2 * 2] = {0.25, -1e10, 3, 4};
    buf_t b = npy(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2)}", d, sizeof d);
    stc_input_t *in = mem(&b, NULL, NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT(in->n == 1 && in->c == 1 && in->h == 2 && in->w == 2);
    CU_ASSERT_EQUAL(in->data[0], 0.25f);
    CU_ASSERT_EQUAL(in->data[1], -1e10f);
    stc_input_destroy(&in);
    free(b.b);
    /* uint8, version 3.0, double quotes, keys in another order: x/255 by default */
    unsigned char u[2 * 1 * 1 * 3] = {0, 51, 255, 1, 2, 3};
    b = npy(3, "{\"shape\": (2, 1, 1, 3), \"fortran_order\": False, \"descr\": \"|u1\"}", u,
            sizeof u);
    in = mem(&b, NULL, NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT(in->n == 2 && in->c == 1 && in->w == 3);
    CU_ASSERT(close_to(in->data[1], 0.2f));
    CU_ASSERT(close_to(in->data[2], 1.0f));
    stc_input_destroy(&in);
    /* one mean/std broadcast over channels, explicit scale */
    stc_input_norm_t nm = {1, {0.5f}, {0.25f}, 0.01f};
    in = mem(&b, NULL, &nm, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT(close_to(in->data[1], (51 * 0.01f - 0.5f) / 0.25f));
    stc_input_destroy(&in);
    free(b.b);
}

static void test_npy_bad(void) {
    float x[4] = {0};
    buf_t b;
#define NPY_BAD(dict, n, st, needle)                        \
    do {                                                    \
        b = npy(1, dict, x, n);                             \
        bad(&b, NULL, NULL, st, needle);                    \
        free(b.b);                                          \
    } while (0)
    NPY_BAD("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", 16,
            STC_E_UNSUPPORTED, "x.npy: header 'descr' is '<i4', expected '<f4', '<f8' or '|u1'");
    NPY_BAD("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", 16,
            STC_E_UNSUPPORTED, "'descr' is '>f4'");
    NPY_BAD("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1, 2, 2), }", 16,
            STC_E_UNSUPPORTED, "structured");
    NPY_BAD("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1, 2, 2), }", 16,
            STC_E_UNSUPPORTED, "'fortran_order' is True");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16, STC_E_FORMAT,
            "'shape' is (2, 2), expected (C, H, W) or (N, C, H, W)");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1, 2, 2), }", 0, STC_E_FORMAT,
            "zero dimension");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", 12, STC_E_FORMAT,
            "x.npy: data holds 12 bytes, header 'shape' (1, 1, 2, 2) '<f4' needs 16");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 1), }", 16, STC_E_FORMAT,
            "data holds 16 bytes");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2, 1), }",
            16, STC_E_LIMIT, "overflows");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), 'x': 1}", 16,
            STC_E_FORMAT, "header has key 'x'");
    NPY_BAD("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2)}", 16,
            STC_E_FORMAT, "key 'descr' twice");
    NPY_BAD("{'descr': '<f4', 'shape': (1, 1, 2, 2)}", 16, STC_E_FORMAT, "no key 'fortran_order'");
    NPY_BAD("{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 1, 2, 2)}", 16, STC_E_FORMAT,
            "True or False");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, -2, 2)}", 16, STC_E_FORMAT,
            "a dimension in 'shape'");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (4)}", 16, STC_E_FORMAT,
            "needs its comma");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2)} junk", 16,
            STC_E_FORMAT, "the end of the header");
    NPY_BAD("{'descr': '<f4' 'fortran_order': False}", 16, STC_E_FORMAT, "',' or '}'");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}", 16,
            STC_E_LIMIT, "more than 8 dims");
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 99999999999999999999)}",
            16, STC_E_FORMAT, "a dimension");
#undef NPY_BAD
    /* non-finite values */
    float nan4[4] = {0, NAN, 0, 0};
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", nan4, 16);
    bad(&b, NULL, NULL, STC_E_FORMAT, "element 1 is nan");
    free(b.b);
    double big[1] = {1e300};
    b = npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }", big, 8);
    bad(&b, NULL, NULL, STC_E_FORMAT, "overflows float32");
    free(b.b);
    /* version, header length */
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", x, 16);
    b.b[6] = 4;
    bad(&b, NULL, NULL, STC_E_UNSUPPORTED, "version 4.0, expected 1.0, 2.0 or 3.0");
    b.b[6] = 1;
    b.b[8] = 0xff;
    b.b[9] = 0xff;
    bad(&b, NULL, NULL, STC_E_FORMAT, "header length 65535 is beyond the file");
    b.n = 9;
    bad(&b, NULL, NULL, STC_E_FORMAT, "not a .npy file");
    free(b.b);
    b = npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", x, 16);
    b.b[11] = 0x7f;
    bad(&b, NULL, NULL, STC_E_LIMIT, "exceeds the limit");
    free(b.b);
    /* neither format */
    buf_t junk = {(unsigned char *)"hello world", 11, 0};
    bad(&junk, NULL, NULL, STC_E_FORMAT, "not a .npy file");
    buf_t empty = {(unsigned char *)"", 0, 0};
    bad(&empty, NULL, NULL, STC_E_FORMAT, "not a .npy file");
}

static void test_npy_labels_bad(void) {
    float x[2] = {1, 2};
    buf_t img = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 1, 1), }", x, 8);
    int32_t y3[3] = {1, 2, 3}, yneg[2] = {1, -4};
    buf_t lab = npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", y3, 12);
    bad(&img, &lab, NULL, STC_E_FORMAT, "y.idx: 3 labels, images file has 2");
    free(lab.b);
    lab = npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", yneg, 8);
    bad(&img, &lab, NULL, STC_E_FORMAT, "label 1 is -4");
    free(lab.b);
    lab = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", x, 8);
    bad(&img, &lab, NULL, STC_E_UNSUPPORTED, "expected '|u1', '<i4' or '<i8' for labels");
    free(lab.b);
    lab = npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2), }", "\1\2", 2);
    bad(&img, &lab, NULL, STC_E_FORMAT, "expected (N,) for labels");
    free(lab.b);
    /* a bad norm */
    stc_input_norm_t nm = {2, {0, 0}, {1, 1}, 1};
    bad(&img, NULL, &nm, STC_E_USAGE, "normalization has 2 channels, the images have 1");
    stc_input_norm_t nz = {1, {0}, {0}, 1};
    bad(&img, NULL, &nz, STC_E_USAGE, "std > 0");
    stc_input_norm_t n5 = {5, {0}, {1}, 1};
    bad(&img, NULL, &n5, STC_E_USAGE, "expected 0 to 4");
    free(img.b);
}

/* ---------------------------------------------------------------- idx */

static void test_idx(void) {
    enum { N = 5, H = 3, W = 4 };
    unsigned char px[N * H * W], lb[N] = {9, 0, 3, 3, 1};
    for (int i = 0; i < N * H * W; i++) px[i] = (unsigned char)(i * 7);
    uint32_t di[3] = {N, H, W}, dl[1] = {N};
    buf_t img = idx(3, di, px, sizeof px), lab = idx(1, dl, lb, sizeof lb);
    buf_t gimg = gz(&img), glab = gz(&lab);
    stc_err_t err;
    for (int v = 0; v < 4; v++) { /* raw/gz images x raw/gz labels */
        const buf_t *a = v & 1 ? &gimg : &img, *b = v & 2 ? &glab : &lab;
        stc_input_t *in = mem(a, b, NULL, 0, &err);
        if (!in) fprintf(stderr, "\n  variant %d: %s\n", v, err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(in);
        CU_ASSERT(in->n == N && in->c == 1 && in->h == H && in->w == W);
        CU_ASSERT(close_to(in->data[3], 21.0f / 255.0f));
        CU_ASSERT_EQUAL(in->labels[0], 9);
        CU_ASSERT_EQUAL(in->labels[4], 1);
        stc_input_destroy(&in);
        /* limit: only the first two images and labels */
        in = mem(a, b, NULL, 2, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(in);
        CU_ASSERT_EQUAL(in->n, 2);
        CU_ASSERT_EQUAL(in->labels[1], 0);
        stc_input_destroy(&in);
    }
    /* a limit above N keeps N */
    stc_input_t *in = mem(&gimg, NULL, NULL, 1000, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_EQUAL(in->n, N);
    stc_input_destroy(&in);
    /* normalization as the model configs give it */
    stc_input_norm_t nm = {1, {0.2860f}, {0.3530f}, 1.0f / 255.0f};
    in = mem(&img, NULL, &nm, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT(close_to(in->data[10], (70.0f / 255.0f - 0.2860f) / 0.3530f));
    stc_input_destroy(&in);
    /* through files */
    char pi[512], pl[512];
    snprintf(pi, sizeof pi, "%s", tmp_write("i.gz", &gimg));
    snprintf(pl, sizeof pl, "%s", tmp_write("l", &lab));
    in = stc_input_load(pi, pl, NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL(in);
    stc_input_destroy(&in);
    in = stc_input_load("/nonexistent/x.npy", NULL, NULL, 0, &err);
    CU_ASSERT_PTR_NULL(in);
    CU_ASSERT_EQUAL(err.status, STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "/nonexistent/x.npy");
    free(img.b), free(lab.b), free(gimg.b), free(glab.b);
}

static void test_idx_bad(void) {
    unsigned char px[2 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, lb[3] = {1, 2, 3};
    uint32_t di[3] = {2, 2, 2}, dl2[1] = {2}, dl3[1] = {3};
    buf_t img = idx(3, di, px, sizeof px);
    buf_t b;
    /* element type, dims */
    b = idx(3, di, px, sizeof px);
    b.b[2] = 0x0d;
    bad(&b, NULL, NULL, STC_E_UNSUPPORTED, "x.npy: idx element type 0x0d, expected 0x08");
    b.b[2] = 0x08;
    b.b[3] = 2;
    bad(&b, NULL, NULL, STC_E_FORMAT, "idx file has 2 dims, expected 3 for images");
    free(b.b);
    /* truncated and extra data, raw and gzip'd */
    b = idx(3, di, px, sizeof px - 1);
    bad(&b, NULL, NULL, STC_E_FORMAT, "header declares 2 images of 2x2, data holds 7 bytes");
    buf_t g = gz(&b);
    bad(&g, NULL, NULL, STC_E_FORMAT, "header declares 2 images of 2x2, data holds 7 bytes");
    free(b.b), free(g.b);
    b = idx(3, di, lb, 3);
    put(&b, px, sizeof px); /* 11 data bytes */
    bad(&b, NULL, NULL, STC_E_FORMAT, "has more bytes than the header declares (24 expected)");
    g = gz(&b);
    bad(&g, NULL, NULL, STC_E_FORMAT, "inflates to more bytes than the header declares");
    free(b.b), free(g.b);
    /* zero dims, huge dims */
    uint32_t d0[3] = {0, 28, 28}, dh[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    b = idx(3, d0, px, 0);
    bad(&b, NULL, NULL, STC_E_FORMAT, "zero dimension");
    free(b.b);
    b = idx(3, dh, px, 8);
    bad(&b, NULL, NULL, STC_E_LIMIT, "exceed the limit");
    g = gz(&b);
    bad(&g, NULL, NULL, STC_E_LIMIT, "exceed the limit");
    free(b.b), free(g.b);
    /* header cut short */
    b = idx(3, di, px, 0);
    b.n = 10;
    bad(&b, NULL, NULL, STC_E_FORMAT, "idx header truncated");
    free(b.b);
    /* corrupt / truncated / trailing gzip */
    g = gz(&img);
    g.b[g.n - 8] ^= 0xff; /* the CRC */
    bad(&g, NULL, NULL, STC_E_FORMAT, "x.npy: gzip data is corrupt (zlib: incorrect data check)");
    g.b[g.n - 8] ^= 0xff;
    g.b[g.n / 2] ^= 0x55; /* somewhere in the deflate data or the header it holds */
    g.b[g.n / 2 + 1] ^= 0xaa;
    stc_err_t err;
    stc_input_t *in = mem(&g, NULL, NULL, 0, &err);
    CU_ASSERT_PTR_NULL(in);
    CU_ASSERT(err.status == STC_E_FORMAT || err.status == STC_E_LIMIT);
    free(g.b);
    g = gz(&img);
    g.n -= 6;
    bad(&g, NULL, NULL, STC_E_FORMAT, "gzip stream is truncated");
    g.n += 6;
    put(&g, "xyz", 3);
    bad(&g, NULL, NULL, STC_E_FORMAT, "3 bytes follow the gzip stream");
    free(g.b);
    /* labels: count, magic, truncation */
    b = idx(1, dl3, lb, 3);
    bad(&img, &b, NULL, STC_E_FORMAT, "y.idx: header declares 3 labels, images file has 2");
    free(b.b);
    b = idx(1, dl2, lb, 1);
    bad(&img, &b, NULL, STC_E_FORMAT, "y.idx: 2 labels declared, data holds 1 bytes");
    free(b.b);
    bad(&img, &img, NULL, STC_E_FORMAT, "idx file has 3 dims, expected 1 for labels");
    buf_t junk = {(unsigned char *)"\x01\x02\x03\x04\x05", 5, 0};
    bad(&img, &junk, NULL, STC_E_FORMAT, "y.idx: not an idx file");
    buf_t tiny = {(unsigned char *)"\0\0\x08", 3, 0};
    bad(&tiny, NULL, NULL, STC_E_FORMAT, "3 bytes, too short for an idx header");
    /* |u1 labels from a .npy next to idx images */
    b = npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", "\x07\x03", 2);
    in = mem(&img, &b, NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT(in->labels[0] == 7 && in->labels[1] == 3);
    stc_input_destroy(&in);
    free(b.b);
    /* a norm that overflows float32 */
    stc_input_norm_t huge = {1, {0}, {1e-30f}, 1e30f};
    bad(&img, NULL, &huge, STC_E_FORMAT, "not finite after normalization");
    stc_input_norm_t inf = {0, {0}, {1}, INFINITY};
    bad(&img, NULL, &inf, STC_E_USAGE, "scale is not finite");
    free(img.b);
    /* a NUL inside a .npy header */
    float x[4] = {0};
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", x, 16);
    b.b[12] = 0;
    bad(&b, NULL, NULL, STC_E_FORMAT, "header contains a NUL byte");
    free(b.b);
}

/* ------------------------------------------------------------ data sets */

#define FMNIST "/usr/share/datasets/fashion-mnist"

static void test_fashion_mnist(void) {
    struct stat sb;
    if (stat(FMNIST, &sb) != 0) {
        fprintf(stderr, "\n  %s missing: skipped\n", FMNIST);
        return;
    }
    const char *saved = getenv("STC_DATASET_DIR");
    char *keep = saved ? strdup(saved) : NULL;
    unsetenv("STC_DATASET_DIR");
    stc_input_t *in = NULL;
    stc_err_t err;
    CU_ASSERT_EQUAL_FATAL(stc_input_dataset("fashion-mnist", "test", NULL, 0, &in, &err), STC_OK);
    CU_ASSERT(in->n == 10000 && in->c == 1 && in->h == 28 && in->w == 28);
    CU_ASSERT_EQUAL(in->labels[0], 9); /* ankle boot */
    int count[10] = {0};
    for (int i = 0; i < 10000; i++)
        if (in->labels[i] >= 0 && in->labels[i] <= 9) count[in->labels[i]]++;
    for (int k = 0; k < 10; k++) CU_ASSERT_EQUAL(count[k], 1000);
    float lo = 1e9f, hi = -1e9f;
    double sum = 0;
    for (size_t i = 0; i < 10000u * 784; i++) {
        float v = in->data[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    CU_ASSERT(close_to(lo, (0 - 0.2860f) / 0.3530f));
    CU_ASSERT(close_to(hi, (1 - 0.2860f) / 0.3530f));
    CU_ASSERT(fabs(sum / (10000.0 * 784)) < 0.05); /* the default norm centers the data */
    stc_input_destroy(&in);
    /* own norm, a limit, the train split's first images only */
    stc_input_norm_t nm = {0, {0}, {1}, 1};
    CU_ASSERT_EQUAL(stc_input_dataset("fashion-mnist", "train", &nm, 3, &in, &err), STC_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_EQUAL(in->n, 3);
    for (size_t i = 0; i < 3 * 784; i++) CU_ASSERT(in->data[i] >= 0 && in->data[i] <= 255);
    stc_input_destroy(&in);
    /* errors */
    CU_ASSERT_EQUAL(stc_input_dataset("cifar-11", "test", NULL, 0, &in, &err), STC_E_USAGE);
    STC_ASSERT_CONTAINS(err.msg, "'cifar-11' is unknown");
    CU_ASSERT_EQUAL(stc_input_dataset("fashion-mnist", "val", NULL, 0, &in, &err), STC_E_USAGE);
    CU_ASSERT_PTR_NULL(in);
    if (keep) setenv("STC_DATASET_DIR", keep, 1);
    free(keep);
}

/* STC_DATASET_DIR points at a directory of our own small files. */
static void test_dataset_dir(void) {
    unsigned char px[3 * 28 * 28], lb[3] = {4, 5, 6};
    memset(px, 255, sizeof px);
    uint32_t di[3] = {3, 28, 28}, dl[1] = {3};
    buf_t img = idx(3, di, px, sizeof px), lab = idx(1, dl, lb, 3), g = gz(&img);
    tmp_write("t10k-images-idx3-ubyte.gz", &g);
    tmp_write("t10k-labels-idx1-ubyte", &lab);
    const char *saved = getenv("STC_DATASET_DIR");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("STC_DATASET_DIR", tmpdir, 1);
    stc_input_t *in = NULL;
    stc_err_t err;
    CU_ASSERT_EQUAL(stc_input_dataset("fashion-mnist", "t10k", NULL, 0, &in, &err), STC_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_EQUAL(in->n, 3);
    CU_ASSERT_EQUAL(in->labels[2], 6);
    CU_ASSERT(close_to(in->data[0], (1 - 0.2860f) / 0.3530f));
    stc_input_destroy(&in);
    /* images of the wrong size for the data set */
    uint32_t dsmall[3] = {3, 2, 2};
    buf_t small = idx(3, dsmall, px, 12);
    tmp_write("t10k-images-idx3-ubyte.gz", &small); /* raw bytes under a .gz name work too */
    CU_ASSERT_EQUAL(stc_input_dataset("fashion-mnist", "test", NULL, 0, &in, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "images are 2x2, fashion-mnist has 28x28");
    free(small.b);
    tmp_write("t10k-images-idx3-ubyte.gz", &g);
    /* no train files there */
    CU_ASSERT_EQUAL(stc_input_dataset("fashion-mnist", "train", NULL, 0, &in, &err), STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "cannot find train-images-idx3-ubyte");
    /* a label out of 0..9 */
    lb[1] = 10;
    free(lab.b);
    lab = idx(1, dl, lb, 3);
    tmp_write("t10k-labels-idx1-ubyte", &lab);
    CU_ASSERT_EQUAL(stc_input_dataset("fashion-mnist", "test", NULL, 0, &in, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "label 1 is 10");
    if (keep) setenv("STC_DATASET_DIR", keep, 1);
    else unsetenv("STC_DATASET_DIR");
    free(keep);
    free(img.b), free(lab.b), free(g.b);
}

/* Remove what the suite wrote (last test). */
static void test_cleanup(void) {
    if (!tmpdir[0]) return;
    static const char *names[] = {"x.npy", "y.npy", "i.gz", "l", "t10k-images-idx3-ubyte.gz",
                                  "t10k-labels-idx1-ubyte"};
    char p[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    CU_ASSERT_EQUAL(rmdir(tmpdir), 0);
    tmpdir[0] = 0;
}

void stc_suite_inputs(void) {
    static const stc_test_t tests[] = {
        {"example", test_example},
        {"npy variants", test_npy_variants},
        {"npy bad", test_npy_bad},
        {"npy labels bad", test_npy_labels_bad},
        {"idx", test_idx},
        {"idx bad", test_idx_bad},
        {"fashion-mnist", test_fashion_mnist},
        {"dataset dir", test_dataset_dir},
        {"cleanup", test_cleanup},
        {NULL, NULL},
    };
    stc_add_suite("inputs", tests);
}
