/* bundle.c - the bundle in memory: ownership (and, below, the .stc file).
 *
 * docs/bundle.md documents the byte layout; docs/backend.md what the stages
 * and projections compute.
 * SPDX-License-Identifier: MIT
 */
#include "stc_bundle.h"

#include <stdlib.h>

void stc_bundle_destroy(stc_bundle_t **bp) {
    if (!bp || !*bp) return;
    stc_bundle_t *b = *bp;
    for (int i = 0; b->stages && i < b->n_stages; i++) free(b->stages[i].bias);
    for (int i = 0; b->projs && i < b->n_projs; i++) free(b->projs[i].w);
    for (int i = 0; b->cores && i < b->n_cores; i++) {
        free(b->cores[i].slices);
        free(b->cores[i].axons);
        free(b->cores[i].rt_off);
        free(b->cores[i].routes);
    }
    free(b->stages);
    free(b->projs);
    free(b->cores);
    free(b->target_json);
    free(b);
    *bp = NULL;
}
