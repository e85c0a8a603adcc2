/* stc_fixed.h - the integer arithmetic of the chip, written once.
 *
 * The integer interpreter (qinterp.c) and the chip simulator (node/chipsim.c)
 * both call these, so that the formulas of docs/backend.md section 1 exist in
 * exactly one place; everything around them (event delivery, delays, routing,
 * slicing over cores) is implemented separately in each and must agree.
 * SPDX-License-Identifier: MIT
 */
#ifndef STC_FIXED_H
#define STC_FIXED_H

#include <math.h>
#include <stdint.h>

#define STC_STATE_MAX ((int64_t)(1 << 23) - 1)  /* 24-bit signed state, symmetric */

static inline int64_t stc_clamp24(int64_t z) {
    return z > STC_STATE_MAX ? STC_STATE_MAX : z < -STC_STATE_MAX ? -STC_STATE_MAX : z;
}

/* Largest payload of a graded spike of `bits` bits (symmetric range). */
static inline int64_t stc_payload_max(int bits) { return ((int64_t)1 << (bits - 1)) - 1; }

/* Right shift by r with rounding half up (floor(x / 2^r + 1/2)). */
static inline int64_t stc_rsr(int64_t x, int r) {
    return r > 0 ? (x + ((int64_t)1 << (r - 1))) >> r : x;
}

/* A graded value: rounded shift, then clamp to the payload. */
static inline int64_t stc_graded(int64_t acc, int rsh, int bits) {
    int64_t q = stc_rsr(acc, rsh), p = stc_payload_max(bits);
    return q > p ? p : q < -p ? -p : q;
}

/* The host's input encoding: round half away from zero, clamp to the payload
 * (a NaN pixel encodes as 0: converting it would be undefined). */
static inline int64_t stc_encode_input(float x, int qexp, int bits) {
    double y = round(ldexp((double)x, qexp));
    double p = (double)stc_payload_max(bits);
    return y != y ? 0 : (int64_t)(y > p ? p : y < -p ? -p : y);
}

/* One LIF update (docs/backend.md 1.1).  x: this timestep's integer input
 * (bias included); *v: the membrane, updated.  Returns the spike. */
static inline int stc_lif_step(int64_t x, int64_t *v, int shl, int dk, int64_t vth, int64_t vreset) {
    int64_t X = stc_clamp24(x * ((int64_t)1 << shl));
    int64_t h = stc_clamp24(*v + (((X - *v) * dk) >> 12));
    int s = h >= vth;
    *v = s ? vreset : h;
    return s;
}

/* The logits from the readout sum: the OUTPUT formula. */
static inline float stc_logit(int64_t sum, double qstep, int T) {
    return (float)((double)sum * qstep / (double)T);
}

#endif
