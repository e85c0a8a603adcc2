/* bench_load.c - time and peak memory of stc's checkpoint reader on one file.
 *
 *   bench_load FILE   -> one JSON line: seconds, peak RSS, file size, tensors
 * Used by bench/load_vs_torch.py, which runs torch.load on the same file in
 * the same job.  Peak RSS is the process's ru_maxrss, which includes the
 * program itself (about 2 MB).
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "stc_ckpt.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bench_load CHECKPOINT\n");
        return 2;
    }
    struct stat st;
    if (stat(argv[1], &st)) {
        perror(argv[1]);
        return 1;
    }
    stc_err_t err = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    stc_ckpt_t *ck = stc_ckpt_load(argv[1], &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!ck) {
        fprintf(stderr, "bench_load: %s\n", err.msg);
        return 1;
    }
    /* touch every storage byte so that lazily mapped data is really read */
    unsigned long sum = 0, bytes = 0;
    for (size_t i = 0; i < stc_ckpt_count(ck); i++) {
        const stc_tensor_t *t = stc_ckpt_at(ck, i);
        const unsigned char *p = t->storage->data;
        for (uint64_t k = 0; k < t->storage->n_bytes; k += 4096) sum += p[k];
        bytes += t->storage->n_bytes;
    }
    struct timespec t2;
    clock_gettime(CLOCK_MONOTONIC, &t2);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"seconds\": %.6f, \"seconds_touched\": %.6f, \"peak_rss_bytes\": %ld, \"file_bytes\": %lld, "
           "\"tensors\": %zu, \"format\": \"%s\", \"checksum\": %lu}\n",
           (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
           (t2.tv_sec - t0.tv_sec) + (t2.tv_nsec - t0.tv_nsec) / 1e9, ru.ru_maxrss * 1024L,
           (long long)st.st_size, stc_ckpt_count(ck), stc_ckpt_format(ck), sum % 1000 + bytes % 7);
    stc_ckpt_destroy(&ck);
    return 0;
}
