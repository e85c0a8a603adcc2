/* ckpt_int.h - what the checkpoint readers share: the checkpoint object they fill.
 *
 * Each reader (torchzip.c, legacy.c, safetensors.c) receives an empty
 * stc_ckpt_t (arena ready, path set) and the file's bytes, adds storages and
 * tensors through ckpt_add_storage()/ckpt_add_tensor(), and returns a status.
 * ckpt.c detects the format, unwraps training checkpoints and validates that
 * every tensor lies inside its storage (ckpt_check_bounds) before returning.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_CKPT_INT_H
#define STC_CKPT_INT_H

#include "stc_ckpt.h"

struct stc_ckpt {
    stc_arena_t *arena;          /* names, tensor structs, small things          */
    char *path;                  /* for messages                                  */
    const char *format;
    char wrapper[256];
    stc_storage_t **storages;    /* malloc'd array of arena'd structs             */
    size_t n_storages, cap_storages;
    void **owned;                /* malloc'd data blocks freed by destroy         */
    size_t n_owned, cap_owned;
    stc_tensor_t **tensors;
    size_t n_tensors, cap_tensors;
    void *map;                   /* whole-file mapping or copy, if a reader keeps one */
    size_t map_bytes;
    int map_is_mmap;
    size_t *index;               /* open-addressing hash of tensor names -> i+1, built by ckpt.c */
    size_t index_cap;            /* power of two, or 0 before the index is built */
};

/* Add a storage.  If `owned` the checkpoint frees `data` (malloc'd) on destroy. */
stc_storage_t *ckpt_add_storage(stc_ckpt_t *c, const char *key, stc_dtype_t dt,
                                const unsigned char *data, uint64_t n_bytes, int owned,
                                stc_err_t *err);
/* Add a tensor (copied into the arena; name duplicated). */
stc_tensor_t *ckpt_add_tensor(stc_ckpt_t *c, const stc_tensor_t *t, stc_err_t *err);

/* Tensor lies within its storage (negative strides refused). */
stc_status_t ckpt_check_bounds(const stc_ckpt_t *c, const stc_tensor_t *t, stc_err_t *err);

/* Take the state_dict out of an unpickled torch.save object (torchzip.c and
 * legacy.c call this once every storage the pickle names has its bytes):
 * a dict of tensors is used as is; a dict holding such a dict under
 * 'state_dict', 'model' or 'net' (checked in that order) is unwrapped, and
 * c->wrapper records it.  Every value must be a tensor; an entry that is not
 * gets an error naming its key.  The 'module.' prefix is stripped later by
 * ckpt.c for every format. */
struct py_obj;
stc_status_t ckpt_add_pickled(stc_ckpt_t *c, const struct py_obj *root, stc_err_t *err);

/* The readers.  buf/n are the whole file (mapped or in memory).  For
 * stc_read_torchzip, buf may be NULL: the reader then opens c->path through
 * libzip itself, so that storages are read straight from the file into their
 * own buffers and peak memory stays near the file size. */
stc_status_t stc_read_torchzip(stc_ckpt_t *c, const unsigned char *buf, size_t n, stc_err_t *err);
stc_status_t stc_read_legacy(stc_ckpt_t *c, const unsigned char *buf, size_t n, stc_err_t *err);
stc_status_t stc_read_safetensors(stc_ckpt_t *c, const unsigned char *buf, size_t n, stc_err_t *err);

#endif
