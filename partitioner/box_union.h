/* box_union.h - the union of a core's source boxes as disjoint rectangles (partitioner-internal).
 *
 * A core's routes from a source stage are one per source neuron that any of
 * its slices reads through a projection: the union of the slices' source
 * boxes.  Boxes span whole rows (every column), so a union is a set of
 * disjoint (channel x row) rectangles.  pgraph.c counts routes between cores
 * with it, cores.c the fan-out of a source neuron.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_BOX_UNION_H
#define STC_BOX_UNION_H

#include "stc_bundle.h"

#include <stdlib.h>

typedef struct { int c0, c1, y0, y1; } rect_t;

static inline int cmp_int(const void *x, const void *y) { return (*(const int *)x > *(const int *)y) - (*(const int *)x < *(const int *)y); }

typedef struct { int y0, y1; } iv_t;
static inline int cmp_iv(const void *x, const void *y) {
    const iv_t *a = x, *b = y;
    return (a->y0 > b->y0) - (a->y0 < b->y0);
}

/* The union of n boxes as disjoint rectangles (out: at most 2n x n; cut: 2n; iv: n): channel bands between the
 * boxes' channel bounds, merged row intervals in each band. */
static inline int box_union(const stc_box_t *bx, int n, rect_t *out, int *cut, iv_t *iv) {
    int nc = 0, m = 0;
    for (int i = 0; i < n; i++) cut[nc++] = bx[i].c0, cut[nc++] = bx[i].c1;
    qsort(cut, (size_t)nc, sizeof *cut, cmp_int);
    for (int j = 0; j + 1 < nc; j++) {
        if (cut[j] == cut[j + 1]) continue;
        int ni = 0;
        for (int i = 0; i < n; i++)
            if (bx[i].c0 <= cut[j] && bx[i].c1 >= cut[j + 1] && bx[i].y1 > bx[i].y0) iv[ni++] = (iv_t){bx[i].y0, bx[i].y1};
        qsort(iv, (size_t)ni, sizeof *iv, cmp_iv);
        for (int i = 0; i < ni;) {
            int y0 = iv[i].y0, y1 = iv[i].y1;
            for (i++; i < ni && iv[i].y0 <= y1; i++) y1 = iv[i].y1 > y1 ? iv[i].y1 : y1;
            /* the same rows as the band before, channels adjacent: extend it */
            if (m && out[m - 1].c1 == cut[j] && out[m - 1].y0 == y0 && out[m - 1].y1 == y1) out[m - 1].c1 = cut[j + 1];
            else out[m++] = (rect_t){cut[j], cut[j + 1], y0, y1};
        }
    }
    return m;
}

#endif
