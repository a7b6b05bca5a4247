/* lb.c: backend choice, see lb.h. */
#include "lb.h"

#include "hash.h"

#define LB_SEED 0x51a5b0a1c0ffee11ULL

size_t qasm_lb_pick(const struct qasm_addr *client, size_t nbackends)
{
    /* Key = IP bytes and port, as nginx's "$remote_addr$remote_port". */
    uint8_t key[18];
    size_t iplen = client->family == AF_INET6 ? 16 : 4;
    memcpy(key, client->ip, iplen);
    key[iplen] = (uint8_t)(client->port >> 8);
    key[iplen + 1] = (uint8_t)client->port;
    return (size_t)(qasm_hash(key, iplen + 2, LB_SEED) % nbackends);
}
