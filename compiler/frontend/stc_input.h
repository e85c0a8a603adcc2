/* stc_input.h - input images for `stc-coord run --input X`: .npy and idx (MNIST) files.
 *
 * stc_input_load() detects the format from the content, not the name:
 *   .npy   magic "\x93NUMPY" v1.0/2.0/3.0, descr '<f4', '<f8' or '|u1',
 *          fortran_order False, shape (C,H,W) -> N = 1 or (N,C,H,W);
 *   idx    magic 00 00 08 03, [N,H,W] uint8 -> C = 1, raw or gzip'd.
 * Labels come from an idx1 file (00 00 08 01) or a rank-1 .npy of '|u1',
 * '<i4' or '<i8'; their count must equal the image count.  Every size is
 * checked against the bytes present (and gzip'd data against
 * STC_INPUT_MAX_INFLATE) before anything is allocated for it.
 * The result is float32 NCHW, normalized as described at stc_input_norm_t.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_INPUT_H
#define STC_INPUT_H

#include "stc_base.h"

/* Limits (STC_E_LIMIT when exceeded). */
#define STC_INPUT_MAX_ELEMS   (1ull << 28)  /* floats in one loaded input (1 GiB)     */
#define STC_INPUT_MAX_INFLATE (1ull << 30)  /* bytes a gzip'd idx file may inflate to */
#define STC_INPUT_MAX_NPY_HEADER 65536      /* bytes of a .npy header dict            */

/* Normalization, applied per element of channel c:
 *     x = (x * scale - mean[c]) / std[c]
 * n_ch = 0: no mean/std (only the scale); n_ch = 1: mean[0]/std[0] for every
 * channel; n_ch = C: per channel (C <= 4).  scale = 0 means "the natural
 * scale of the data": 1/255 for uint8 data (idx, '|u1'), 1 for float data.
 * A NULL norm is {0} (uint8 data lands in [0, 1], floats are unchanged). */
typedef struct {
    int n_ch;
    float mean[4];
    float std[4];
    float scale;
} stc_input_norm_t;

/* A batch of images. */
typedef struct {
    int64_t n, c, h, w;
    float *data;      /* n*c*h*w floats, row-major NCHW, owned         */
    int32_t *labels;  /* n labels, or NULL when no labels were given   */
} stc_input_t;

/* Load images from `path` and, if labels_path is not NULL, their labels.
 * norm may be NULL (see above).  limit > 0 keeps only the first `limit`
 * images (a gzip'd file is then inflated only that far).  Returns an owned
 * input, or NULL with err filled (STC_E_IO, STC_E_FORMAT, STC_E_UNSUPPORTED,
 * STC_E_LIMIT, STC_E_USAGE for a bad norm, STC_E_NOMEM); messages name the
 * file and the header field at fault. */
stc_input_t *stc_input_load(const char *path, const char *labels_path,
                            const stc_input_norm_t *norm, int64_t limit, stc_err_t *err);

/* Same from memory (the fuzz target uses this).  `name`/`labels_name` are
 * used in messages; labels may be NULL (labels_n is then ignored).  The
 * buffers are borrowed for the call only. */
stc_input_t *stc_input_load_mem(const void *buf, size_t n, const char *name,
                                const void *labels, size_t labels_n, const char *labels_name,
                                const stc_input_norm_t *norm, int64_t limit, stc_err_t *err);

void stc_input_destroy(stc_input_t **inp);

/* A named data set from the local data set directory
 * (/usr/share/datasets, or $STC_DATASET_DIR):
 *   "fashion-mnist", split "test" (or "t10k") or "train":
 *       <dir>/fashion-mnist/{t10k,train}-{images-idx3,labels-idx1}-ubyte[.gz]
 *       (if <dir>/fashion-mnist does not exist, the files are looked up in <dir>)
 *       default norm: scale 1/255, mean 0.2860, std 0.3530.
 * norm NULL uses the data set's default.  On success *out is an owned input
 * with labels. */
/* The normalization data set `name` is known by (STC_E_USAGE naming the known
 * data sets if it is unknown): for inputs that hold that data set's raw images. */
stc_status_t stc_input_dataset_norm(const char *name, stc_input_norm_t *norm, stc_err_t *err);

stc_status_t stc_input_dataset(const char *name, const char *split, const stc_input_norm_t *norm,
                               int64_t limit, stc_input_t **out, stc_err_t *err);

#endif
