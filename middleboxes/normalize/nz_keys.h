/*
 * nz_keys.h: qasm-normalize's own map keys from the core's types, for
 * userspace and the tests (the keys it shares with the XDP fast path come
 * from middleboxes/io/xdp_io.h).
 */
#ifndef QASM_NZ_KEYS_H
#define QASM_NZ_KEYS_H

#include <string.h>

#include "addr.h"
#include "middleboxes/io/xdp_io.h"
#include "middleboxes/normalize/normalize_maps.h"

/* The key of `firsts`: the connection's first client address and its server. */
static inline struct qasm_nz_pair qasm_nz_pair_of(const struct qasm_addr *client,
                                                  const struct qasm_addr *server)
{
    struct qasm_nz_pair k;
    memset(&k, 0, sizeof(k));
    qasm_xdp_addr(client, k.client, &k.client_port);
    qasm_xdp_addr(server, k.server, &k.server_port);
    k.family = (__u8)client->family;
    return k;
}

#endif
