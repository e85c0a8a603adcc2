/* stc_ckpt.h - read PyTorch checkpoints: torch.save zip, torch.save legacy, safetensors.
 *
 * stc_ckpt_load() detects the format from the first bytes, runs the matching
 * reader and returns the state_dict as a flat list of named tensors.  Loading
 * never executes code: pickles run on a restricted machine with an allowlist of
 * GLOBALs (compiler/frontend/pickle.c).  A training checkpoint that wraps the
 * state_dict (under 'state_dict', 'model' or 'net', or with DataParallel's
 * 'module.' prefix) is unwrapped, and stc_ckpt_wrapper() says how.
 *
 * Tensors keep their stored dtype, shape, strides and storage offset and point
 * into storages that the checkpoint owns (several tensors may share one);
 * stc_tensor_to_f32() converts any of them to a dense float32 copy.  Every size
 * read from the file is checked against the file before anything is allocated:
 * no allocation is larger than the file can justify.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_CKPT_H
#define STC_CKPT_H

#include "stc_base.h"

#include <stdbool.h>

/* ORDER DTYPE: keep stc_dtype_name()/stc_dtype_size() in ckpt.c in step. */
typedef enum {
    STC_DT_F32 = 0,
    STC_DT_F16,
    STC_DT_BF16,
    STC_DT_F64,
    STC_DT_I64,
    STC_DT_I32,
    STC_DT_I16,
    STC_DT_I8,
    STC_DT_U8,
    STC_DT_BOOL,
    STC_DT_U16, /* safetensors only */
    STC_DT_U32, /* safetensors only */
    STC_DT_U64, /* safetensors only */
    STC_DT_COUNT
} stc_dtype_t;

const char *stc_dtype_name(stc_dtype_t dt); /* "float32", "int8", ... */
size_t stc_dtype_size(stc_dtype_t dt);      /* bytes per element */

#define STC_MAX_DIMS 8

/* Limits every reader enforces (STC_E_LIMIT when exceeded). */
#define STC_CKPT_MAX_TENSORS  (1u << 20)    /* tensors in one checkpoint        */
#define STC_CKPT_MAX_NAME     4096          /* bytes in a tensor name           */
#define STC_CKPT_MAX_PICKLE   (256u << 20)  /* bytes of one pickle stream       */
#define STC_CKPT_MAX_HEADER   (100u << 20)  /* safetensors JSON header          */

/* A storage: raw little-endian bytes owned by the checkpoint. */
typedef struct {
    const char *key;          /* storage key ("0", "1", ...) or safetensors name */
    stc_dtype_t dtype;
    uint64_t n_bytes;
    const unsigned char *data;
} stc_storage_t;

/* One tensor of the state_dict.  Element (i0, i1, ...) lives at
 * storage->data + (offset + sum_k i_k * stride[k]) * stc_dtype_size(dtype). */
typedef struct {
    const char *name;         /* full key after unwrapping ("block.0.attn.q_linear.weight") */
    stc_dtype_t dtype;
    int ndim;
    int64_t shape[STC_MAX_DIMS];
    int64_t stride[STC_MAX_DIMS]; /* in elements */
    int64_t offset;               /* in elements */
    const stc_storage_t *storage;
} stc_tensor_t;

typedef struct stc_ckpt stc_ckpt_t;

/* Open and read a checkpoint file.  Returns NULL with err filled on failure;
 * messages name the file and the tensor, opcode or field at fault. */
stc_ckpt_t *stc_ckpt_load(const char *path, stc_err_t *err);

/* Same, from bytes in memory (the fuzz targets use this).  `name` is used in
 * messages.  The buffer is copied where needed; the caller keeps ownership. */
stc_ckpt_t *stc_ckpt_load_mem(const void *buf, size_t n, const char *name, stc_err_t *err);

void stc_ckpt_destroy(stc_ckpt_t **cp);

size_t stc_ckpt_count(const stc_ckpt_t *c);
const stc_tensor_t *stc_ckpt_at(const stc_ckpt_t *c, size_t i);  /* in file order */
const stc_tensor_t *stc_ckpt_find(const stc_ckpt_t *c, const char *name);
const char *stc_ckpt_format(const stc_ckpt_t *c);   /* "torch-zip", "torch-legacy", "safetensors" */
const char *stc_ckpt_wrapper(const stc_ckpt_t *c);  /* "" or e.g. "['state_dict'], prefix 'module.'" */
const char *stc_ckpt_path(const stc_ckpt_t *c);

int64_t stc_tensor_numel(const stc_tensor_t *t);
/* "[384,384] float32" into buf. */
const char *stc_tensor_describe(const stc_tensor_t *t, char *buf, size_t cap);

/* Convert t to a dense row-major float32 array of stc_tensor_numel(t) values
 * (n must equal it).  Handles every dtype, strides and offsets. */
stc_status_t stc_tensor_to_f32(const stc_tensor_t *t, float *dst, size_t n, stc_err_t *err);

#endif
