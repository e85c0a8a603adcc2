/* cmd_keygen.c - `stc-coord keygen [-o FILE]`: a new CurveZMQ key pair for a
 * cluster, written to FILE (default stc-cluster.keys, mode 0600, never over an
 * existing file; the format is in docs/runtime.md "Keys").
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"
#include "stc_proto.h"

#include <stdio.h>
#include <string.h>

int cmd_keygen(coord_opts_t *o) {
    const char *path = o->out ? o->out : "stc-cluster.keys";
    stc_err_t err = {0};
    stc_keys_t k;
    if (stc_keys_generate(path, &k, &err) != STC_OK) {
        coord_fail(&err);
        return 1;
    }
    printf("wrote a new cluster key pair to %s (mode 0600)\n"
           "  public key %s\n"
           "\n"
           "Copy %s to every host of the cluster and keep it secret: whoever holds it can join\n"
           "the cluster and read its traffic.  Then give it to every process of the cluster:\n"
           "  stc-coord ... --keys %s\n"
           "  stc-node  ... --keys %s\n",
           path, k.pub, path, path, path);
    memset(&k, 0, sizeof k);
    return 0;
}
