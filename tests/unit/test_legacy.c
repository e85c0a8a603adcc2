/* test_legacy.c - suite "legacy": torch.save's legacy format reader (compiler/frontend/legacy.c).
 *
 * Real files from make_ckpts.py through the reader alone, then files built
 * here pickle by pickle (magic, version, sys_info, object, key list, storages)
 * with one thing wrong each, and a file with every single byte flipped in turn.
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader_util.h"
#include "test_util.h"

#define DATA STC_TEST_DATA_DIR "/"

/* Run the reader alone on bytes; returns the status, keeps the checkpoint in *cp if asked. */
static stc_status_t rd(const unsigned char *b, size_t n, stc_err_t *err, stc_ckpt_t **cp) {
    return read_with(stc_read_legacy, "l.pth", b, n, err, cp);
}

/* ------------------------------------------------------ building files */

#define MAGIC "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
#define VERSION "\x80\x02M\xe9\x03."
#define SYSINFO "\x80\x02}(X\x0d\x00\x00\x00little_endian\x88u."
#define PID(key, numel) "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" key \
                        "X\x03\x00\x00\x00" "cpu" numel "NtQ"
/* {'w': 2x3 float tensor on storage '7' at offset 0} */
#define OBJ "\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n(" PID("7", "K\x06") \
            "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89NtRs."
#define KEYS "\x80\x02](X\x01\x00\x00\x00" "7e."
#define NUMEL6 "\x06\x00\x00\x00\x00\x00\x00\x00"

typedef struct {
    unsigned char b[1024];
    size_t n;
} buf_t;

static void add(buf_t *f, const char *s, size_t n) {
    memcpy(f->b + f->n, s, n);
    f->n += n;
}
#define ADD(f, lit) add(f, lit, sizeof(lit) - 1)

static void add_floats(buf_t *f, int n) {
    for (int i = 0; i < n; i++) {
        float v = (float)i + 0.5f;
        add(f, (const char *)&v, 4);
    }
}

static buf_t good(void) {
    buf_t f = {{0}, 0};
    ADD(&f, MAGIC);
    ADD(&f, VERSION);
    ADD(&f, SYSINFO);
    ADD(&f, OBJ);
    ADD(&f, KEYS);
    ADD(&f, NUMEL6);
    add_floats(&f, 6);
    return f;
}

static void bad(const buf_t *f, stc_status_t want, const char *needle) {
    stc_err_t err;
    stc_status_t st = rd(f->b, f->n, &err, NULL);
    if (st != want || !strstr(err.msg, needle))
        fprintf(stderr, "\n  got %s '%s', expected '...%s...'\n", stc_status_name(st), err.msg,
                needle);
    CU_ASSERT_EQUAL(st, want);
    STC_ASSERT_CONTAINS(err.msg, needle);
    STC_ASSERT_CONTAINS(err.msg, "l.pth: ");
}

/* ---------------------------------------------------------------- tests */

static void test_example(void) {
    buf_t f = good();
    stc_err_t err;
    stc_ckpt_t *c;
    stc_status_t st = rd(f.b, f.n, &err, &c);
    if (st) fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, STC_OK);
    CU_ASSERT_EQUAL_FATAL(stc_ckpt_count(c), 1);
    const stc_tensor_t *t = stc_ckpt_at(c, 0);
    CU_ASSERT_STRING_EQUAL(t->name, "w");
    CU_ASSERT_STRING_EQUAL(t->storage->key, "7");
    CU_ASSERT_EQUAL(t->storage->n_bytes, 24);
    CU_ASSERT_PTR_EQUAL(t->storage->data, f.b + f.n - 24); /* points into the buffer */
    float v[6];
    CU_ASSERT_EQUAL(stc_tensor_to_f32(t, v, 6, &err), STC_OK);
    CU_ASSERT_EQUAL(v[5], 5.5f);
    stc_ckpt_destroy(&c);
}

static void test_files(void) {
    const char *files[] = {"sd_legacy.pth", "train_legacy.pth", "dtypes_legacy.pth",
                           "shared_legacy.pth", "param_legacy.pth", "wrap_net_legacy.pth"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[4096];
        unsigned char *b;
        size_t n;
        stc_err_t err;
        snprintf(p, sizeof p, "%s%s", DATA, files[i]);
        CU_ASSERT_EQUAL_FATAL(stc_read_file(p, 1u << 20, &b, &n, &err), STC_OK);
        stc_ckpt_t *c;
        stc_status_t st = rd(b, n, &err, &c);
        if (st) fprintf(stderr, "\n  %s: %s\n", files[i], err.msg);
        CU_ASSERT_EQUAL(st, STC_OK);
        CU_ASSERT(stc_ckpt_count(c) > 0);
        for (size_t k = 0; k < stc_ckpt_count(c); k++)
            CU_ASSERT_EQUAL(ckpt_check_bounds(c, stc_ckpt_at(c, k), &err), STC_OK);
        stc_ckpt_destroy(&c);
        free(b);
    }
}

static void test_header(void) {
    buf_t f = good();
    f.b[13] ^= 1; /* magic */
    bad(&f, STC_E_FORMAT, "legacy magic number: expected 0x1950a86a20f9469cfc6c");
    f = good();
    f.b[18] = 0xe8; /* 1000 */
    bad(&f, STC_E_UNSUPPORTED, "legacy protocol version: expected 1001, found int 1000");
    f = good();
    f.b[15 + 6 + 22] = 0x89; /* little_endian False */
    bad(&f, STC_E_UNSUPPORTED, "big-endian");
    buf_t g = {{0}, 0};
    ADD(&g, MAGIC);
    ADD(&g, VERSION);
    ADD(&g, "\x80\x02N.");
    bad(&g, STC_E_FORMAT, "legacy sys_info: expected a dict, found None");
    buf_t h = {{0}, 0};
    ADD(&h, "\x80\x02K\x01.");
    bad(&h, STC_E_FORMAT, "legacy magic number");
}

static void test_storages(void) {
    buf_t f = {{0}, 0};
    ADD(&f, MAGIC VERSION SYSINFO OBJ KEYS "\x05\x00\x00\x00\x00\x00\x00\x00");
    add_floats(&f, 6);
    bad(&f, STC_E_FORMAT, "storage '7' at byte");
    bad(&f, STC_E_FORMAT, "5 elements, the pickle says 6");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ KEYS NUMEL6);
    add_floats(&f, 5);
    bad(&f, STC_E_FORMAT, "storage '7' (FloatStorage) at byte");
    bad(&f, STC_E_FORMAT, "needs 6 x 4 bytes, only 20 left in the file");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ KEYS "\x06\x00\x00");
    bad(&f, STC_E_FORMAT, "expected an 8-byte element count, the file ends");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ "\x80\x02](X\x01\x00\x00\x00" "7X\x01\x00\x00\x00" "7e." NUMEL6);
    add_floats(&f, 6);
    ADD(&f, NUMEL6);
    add_floats(&f, 6);
    bad(&f, STC_E_FORMAT, "storage '7' is listed twice");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ "\x80\x02](X\x01\x00\x00\x00" "8e." NUMEL6);
    bad(&f, STC_E_FORMAT, "storage '8' is listed but no tensor refers to it");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ "\x80\x02]." NUMEL6);
    bad(&f, STC_E_FORMAT, "storage '7' (named at byte");
    bad(&f, STC_E_FORMAT, "is missing from the storage key list");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ "\x80\x02K\x01.");
    bad(&f, STC_E_FORMAT, "storage key list: expected a list, found int");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ "\x80\x02](K\x07" "e.");
    bad(&f, STC_E_FORMAT, "storage key list item 0: expected a str, found int");

    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO OBJ);
    bad(&f, STC_E_FORMAT, "the pickle ends at byte");

    /* a huge numel in the pickle: refused by the size check, nothing allocated */
    f.n = 0;
    ADD(&f, MAGIC VERSION SYSINFO "\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n("
                PID("7", "\x8a\x06\x00\x00\x00\x00\x00\x01")
            "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89NtRs." KEYS "\x00\x00\x00\x00\x00\x01\x00\x00");
    bad(&f, STC_E_FORMAT, "needs 1099511627776 x 4 bytes, only 0 left in the file");
}

/* Every byte of a real file flipped in turn: the reader fails cleanly or loads. */
static void test_flips(void) {
    unsigned char *b;
    size_t n;
    stc_err_t err;
    CU_ASSERT_EQUAL_FATAL(stc_read_file(DATA "sd_legacy.pth", 1u << 20, &b, &n, &err), STC_OK);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            b[i] ^= (unsigned char)(1 << bit);
            stc_ckpt_t *c = stc_ckpt_load_mem(b, n, "f.pth", &err);
            if (!c) {
                failed++;
                CU_ASSERT_NOT_EQUAL(err.status, STC_OK);
                CU_ASSERT(strncmp(err.msg, "f.pth: ", 7) == 0);
            }
            stc_ckpt_destroy(&c);
            b[i] ^= (unsigned char)(1 << bit);
        }
    }
    CU_ASSERT(failed > 0);
    free(b);
}

void stc_suite_legacy(void) {
    static const stc_test_t tests[] = {
        {"example", test_example},
        {"files", test_files},
        {"header", test_header},
        {"storages", test_storages},
        {"flips", test_flips},
        {NULL, NULL},
    };
    stc_add_suite("legacy", tests);
}
