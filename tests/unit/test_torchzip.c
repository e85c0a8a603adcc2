/* test_torchzip.c - suite "torchzip": torch.save's zip format (compiler/frontend/torchzip.c).
 *
 * Real files from make_ckpts.py through the reader alone (from the path and
 * from memory), then zips built here with libzip: odd folder names, no
 * folder, deflated entries, missing entries, a big-endian byteorder, a
 * flipped data byte that only the CRC can catch.
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "reader_util.h"
#include "test_util.h"

#define DATA STC_TEST_DATA_DIR "/"

static stc_status_t rd(const unsigned char *b, size_t n, stc_err_t *err, stc_ckpt_t **cp) {
    return read_with(stc_read_torchzip, "z.pth", b, n, err, cp);
}

/* ------------------------------------------------------- building zips */

typedef struct {
    const char *name;
    const void *data;
    size_t n;
    int deflate;
} entry_t;

/* A zip in memory with the given entries (malloc'd; *n gets its size). */
static unsigned char *mkzip(const entry_t *e, size_t ne, size_t *n) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_source_keep(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    CU_ASSERT_PTR_NOT_NULL_FATAL(za);
    for (size_t i = 0; i < ne; i++) {
        zip_source_t *s = zip_source_buffer(za, e[i].data, e[i].n, 0);
        zip_int64_t idx = zip_file_add(za, e[i].name, s, 0);
        CU_ASSERT_FATAL(idx >= 0);
        zip_set_file_compression(za, (zip_uint64_t)idx, e[i].deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                                 0);
    }
    CU_ASSERT_EQUAL_FATAL(zip_close(za), 0);
    zip_stat_t st;
    zip_source_stat(src, &st);
    unsigned char *b = malloc(st.size + 1);
    zip_source_open(src);
    *n = (size_t)zip_source_read(src, b, st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    return b;
}

#define PID(type, key, numel) "(X\x07\x00\x00\x00storagectorch\n" type "\nX\x01\x00\x00\x00" key \
                              "X\x03\x00\x00\x00" "cpu" numel "tQ"
/* {'w': 2x3 tensor on storage '0'} */
static const char pkl[] = "\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n("
    PID("FloatStorage", "0", "K\x06") "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89NtRs.";
static const char pkl_complex[] = "\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n("
    PID("ComplexFloatStorage", "0", "K\x06") "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89NtRs.";
static const float six[6] = {1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f};

static void bad(const entry_t *e, size_t ne, stc_status_t want, const char *needle) {
    size_t n;
    unsigned char *b = mkzip(e, ne, &n);
    stc_err_t err;
    stc_status_t st = rd(b, n, &err, NULL);
    if (st != want || !strstr(err.msg, needle))
        fprintf(stderr, "\n  got %s '%s', expected '...%s...'\n", stc_status_name(st), err.msg,
                needle);
    CU_ASSERT_EQUAL(st, want);
    STC_ASSERT_CONTAINS(err.msg, needle);
    STC_ASSERT_CONTAINS(err.msg, "z.pth: ");
    free(b);
}

/* ---------------------------------------------------------------- tests */

static void test_example(void) {
    entry_t e[] = {{"archive/data.pkl", pkl, sizeof pkl - 1, 0},
                   {"archive/data/0", six, sizeof six, 0},
                   {"archive/version", "3\n", 2, 0}};
    size_t n;
    unsigned char *b = mkzip(e, 3, &n);
    stc_err_t err;
    stc_ckpt_t *c;
    stc_status_t st = rd(b, n, &err, &c);
    if (st) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_ckpt_count(c), 1);
    const stc_tensor_t *t = stc_ckpt_at(c, 0);
    CU_ASSERT_EQUAL(t->shape[0], 2);
    float v[6];
    CU_ASSERT_EQUAL(stc_tensor_to_f32(t, v, 6, &err), STC_OK);
    CU_ASSERT(!memcmp(v, six, sizeof v));
    /* a stored entry is not copied: the storage points into the buffer */
    CU_ASSERT(t->storage->data > b && t->storage->data + 24 <= b + n);
    CU_ASSERT_EQUAL(c->n_owned, 0);
    stc_ckpt_destroy(&c);
    free(b);
}

static void test_files(void) {
    const char *files[] = {"sd_zip.pth", "train_zip.pth", "dtypes_zip.pth", "shared_zip.pth",
                           "param_zip.pth", "renamed_dd_zip.pth", "zip64_zip.pth",
                           "wrap_model_zip.pth"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", DATA, files[i]);
        for (int mem = 0; mem < 2; mem++) {
            stc_err_t err;
            unsigned char *b = NULL;
            size_t n = 0;
            if (mem) CU_ASSERT_EQUAL_FATAL(stc_read_file(p, 1u << 20, &b, &n, &err), STC_OK);
            stc_ckpt_t *c = new_ckpt(p);
            stc_status_t st = stc_read_torchzip(c, b, n, &err);
            CU_ASSERT_EQUAL(c->n_owned, mem ? 0 : c->n_storages); /* copies only from a path */
            if (st) fprintf(stderr, "\n  %s: %s\n", files[i], err.msg);
            CU_ASSERT_EQUAL(st, STC_OK);
            CU_ASSERT(stc_ckpt_count(c) > 0);
            for (size_t k = 0; k < stc_ckpt_count(c); k++)
                CU_ASSERT_EQUAL(ckpt_check_bounds(c, stc_ckpt_at(c, k), &err), STC_OK);
            stc_ckpt_destroy(&c);
            free(b);
        }
    }
}

/* Any folder name, none, or a deeper one; deflated entries. */
static void test_layouts(void) {
    const char *pk[] = {"data.pkl", "x y/data.pkl", "a/b/c/data.pkl", "arch\xc3\xafve/data.pkl"};
    const char *dt[] = {"data/0", "x y/data/0", "a/b/c/data/0", "arch\xc3\xafve/data/0"};
    for (int i = 0; i < 4; i++) {
        for (int defl = 0; defl < 2; defl++) {
            entry_t e[] = {{"other/readme", "hi", 2, 0},
                           {pk[i], pkl, sizeof pkl - 1, defl},
                           {dt[i], six, sizeof six, defl}};
            size_t n;
            unsigned char *b = mkzip(e, 3, &n);
            stc_err_t err;
            stc_status_t st = rd(b, n, &err, NULL);
            if (st) fprintf(stderr, "\n  %s: %s\n", pk[i], err.msg);
            CU_ASSERT_EQUAL(st, STC_OK);
            free(b);
        }
    }
}

static void test_refused(void) {
    entry_t no_pkl[] = {{"archive/version", "3\n", 2, 0}};
    bad(no_pkl, 1, STC_E_FORMAT, "no data.pkl entry in the zip (first entry is 'archive/version')");
    entry_t no_data[] = {{"archive/data.pkl", pkl, sizeof pkl - 1, 0}};
    bad(no_data, 1, STC_E_FORMAT,
        "storage '0' (FloatStorage, named at byte 93 of data.pkl): no entry 'archive/data/0'");
    entry_t big[] = {{"archive/data.pkl", pkl, sizeof pkl - 1, 0},
                     {"archive/byteorder", "big", 3, 0},
                     {"archive/data/0", six, sizeof six, 0}};
    bad(big, 3, STC_E_UNSUPPORTED, "byteorder is 'big'");
    entry_t cplx[] = {{"archive/data.pkl", pkl_complex, sizeof pkl_complex - 1, 0},
                      {"archive/data/0", six, sizeof six, 0}};
    bad(cplx, 2, STC_E_UNSUPPORTED, "'torch ComplexFloatStorage' is not allowed");
    entry_t badpkl[] = {{"archive/data.pkl", "\x80\x02}", 3, 0}};
    bad(badpkl, 1, STC_E_FORMAT, "z.pth: archive/data.pkl: the pickle ends at byte 3 without STOP");
    bad(NULL, 0, STC_E_FORMAT, "not a readable zip"); /* libzip refuses an empty archive */
    /* a storage shorter than its tensor: the reader keeps the entry's size ... */
    entry_t shortst[] = {{"archive/data.pkl", pkl, sizeof pkl - 1, 0},
                         {"archive/data/0", six, 20, 0}};
    size_t n;
    unsigned char *b = mkzip(shortst, 2, &n);
    stc_err_t err;
    stc_ckpt_t *c;
    CU_ASSERT_EQUAL(rd(b, n, &err, &c), STC_OK);
    CU_ASSERT_EQUAL(stc_ckpt_at(c, 0)->storage->n_bytes, 20);
    stc_ckpt_destroy(&c);
    /* ... and the checkpoint refuses it with the tensor's name */
    CU_ASSERT_PTR_NULL(stc_ckpt_load_mem(b, n, "s.pth", &err));
    STC_ASSERT_CONTAINS(err.msg, "s.pth: tensor 'w': storage '0' has 20 bytes, tensor needs 24");
    free(b);
}

/* A flipped data byte changes nothing libzip parses: only the CRC catches it. */
static void test_crc(void) {
    entry_t e[] = {{"archive/data.pkl", pkl, sizeof pkl - 1, 0},
                   {"archive/data/0", six, sizeof six, 0}};
    size_t n;
    unsigned char *b = mkzip(e, 2, &n);
    unsigned char *p = memmem(b, n, six, sizeof six);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p[9] ^= 0x10;
    stc_err_t err;
    CU_ASSERT_EQUAL(rd(b, n, &err, NULL), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "z.pth: entry 'archive/data/0': CRC error");
    /* the same through libzip's own CRC check (the copying path, from a file) */
    char tmp[] = "/tmp/stc-crc-XXXXXX";
    int fd = mkstemp(tmp);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, b, n), (ssize_t)n);
    close(fd);
    stc_ckpt_t *c = new_ckpt(tmp);
    CU_ASSERT_EQUAL(stc_read_torchzip(c, NULL, 0, &err), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "entry 'archive/data/0': CRC error");
    stc_ckpt_destroy(&c);
    unlink(tmp);
    p[9] ^= 0x10;
    /* the same inside data.pkl */
    p = memmem(b, n, "_rebuild_tensor_v2", 18);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p[0] = '-';
    CU_ASSERT_EQUAL(rd(b, n, &err, NULL), STC_E_FORMAT);
    STC_ASSERT_CONTAINS(err.msg, "entry 'archive/data.pkl': CRC error");
    free(b);
}

/* Every prefix and every byte flip of a real zip: clean failures only. */
static void test_damage(void) {
    unsigned char *b;
    size_t n;
    stc_err_t err;
    CU_ASSERT_EQUAL_FATAL(stc_read_file(DATA "param_zip.pth", 1u << 20, &b, &n, &err), STC_OK);
    for (size_t k = 0; k < n; k++) {
        CU_ASSERT_NOT_EQUAL(rd(b, k, &err, NULL), STC_OK);
        b[k] ^= 0x01;
        stc_ckpt_t *c = stc_ckpt_load_mem(b, n, "d.pth", &err);
        if (!c) CU_ASSERT(strncmp(err.msg, "d.pth: ", 7) == 0);
        stc_ckpt_destroy(&c);
        b[k] ^= 0x01;
    }
    free(b);
}

static void test_missing_file(void) {
    stc_ckpt_t *c = new_ckpt(DATA "no-such-file.pth");
    stc_err_t err;
    CU_ASSERT_EQUAL(stc_read_torchzip(c, NULL, 0, &err), STC_E_IO);
    STC_ASSERT_CONTAINS(err.msg, "no-such-file.pth: cannot stat");
    stc_ckpt_destroy(&c);
}

void stc_suite_torchzip(void) {
    static const stc_test_t tests[] = {
        {"example", test_example},
        {"files", test_files},
        {"layouts", test_layouts},
        {"refused", test_refused},
        {"crc", test_crc},
        {"damage", test_damage},
        {"missing_file", test_missing_file},
        {NULL, NULL},
    };
    stc_add_suite("torchzip", tests);
}
