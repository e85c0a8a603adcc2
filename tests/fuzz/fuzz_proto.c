/* fuzz_proto.c - libFuzzer target: the wire-protocol decoder (transport/proto.c) on arbitrary bytes.
 *
 * Each input is decoded with the default limits, as a node decodes a frame
 * from the network.  A finding is: a crash, leak or overread (ASan, UBSan), a
 * refusal without a status or whose message does not start with the peer
 * string, or an accepted message that does not encode again, or whose
 * encoding does not decode to the same message and encode to the same bytes
 * (encode(decode(x)) is canonical: encode(decode(encode(decode(x)))) equals it).
 * Seeds: tests/fuzz/corpus/proto/ (one message of every type, written by the
 * unit suite "proto").
 * SPDX-License-Identifier: MIT
 */
#include <stdlib.h>
#include <string.h>

#include "stc_proto.h"

#define PEER "rank 7 (tcp://fuzz:1)"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!buf) return 0;
    memcpy(buf, data, size);
    stc_proto_limits_t lim;
    stc_proto_limits_default(&lim);
    stc_msg_t m;
    stc_err_t err = {0};
    if (stc_proto_decode(buf, size, &lim, PEER, &m, &err) != STC_OK) {
        if (err.status == STC_OK || strncmp(err.msg, PEER ": ", strlen(PEER) + 2)) __builtin_trap();
        if (m.type != 0) __builtin_trap(); /* nothing half-decoded is left behind */
        free(buf);
        return 0;
    }
    uint8_t *e1 = NULL, *e2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (stc_proto_encode(&m, &e1, &n1, &err) != STC_OK) __builtin_trap();
    if (n1 > size + 64) __builtin_trap(); /* re-encoding never grows a message much */
    stc_msg_t m2;
    if (stc_proto_decode(e1, n1, &lim, PEER, &m2, &err) != STC_OK) __builtin_trap();
    if (m2.type != m.type || m2.rank != m.rank || m2.size != m.size) __builtin_trap();
    if (stc_proto_encode(&m2, &e2, &n2, &err) != STC_OK) __builtin_trap();
    if (n2 != n1 || memcmp(e1, e2, n1)) __builtin_trap();
    free(e1);
    free(e2);
    free(buf);
    return 0;
}
