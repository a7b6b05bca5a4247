/*
 * nz_keys.h: qasm-normalize's own map keys from the core's types, and the
 * flow cache's sizing before load, for
 * userspace and the tests (the keys it shares with the XDP fast path come
 * from middleboxes/io/xdp_io.h).
 */
#ifndef QASM_NZ_KEYS_H
#define QASM_NZ_KEYS_H

#include <string.h>
#include <time.h>

#include "addr.h"
#include "middleboxes/io/xdp_io.h"
#include "middleboxes/normalize/normalize_maps.h"
#include "qasm_normalize.skel.h"

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

/* The length of a tick of the coarse clock, which the programs' bpf_jiffies64 counts (0: not
 * known). */
static inline __u64 qasm_nz_tick_ns(void)
{
    struct timespec r;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &r) != 0)
        return 0;
    return (__u64)r.tv_sec * 1000000000u + (__u64)r.tv_nsec;
}

/* |skel|'s flow cache, before load, as qasm-normalize sizes it: 2^|bits| slots per CPU (0: none),
 * a decision's lifetime in this kernel's ticks. 0, or a negative errno. */
static inline int qasm_nz_size_cache(struct qasm_normalize *skel, __u32 bits)
{
    skel->rodata->qasm_nz_cache_bits = bits;
    skel->rodata->qasm_nz_cache_jiffies = qasm_nz_lifetime_jiffies(qasm_nz_tick_ns());
    return bpf_map__set_max_entries(skel->maps.cache, qasm_nz_cache_sets(bits));
}

/* The flow cache's slots per CPU for 2^|bits| (0: none). */
static inline __u64 qasm_nz_cache_slots(__u32 bits)
{
    return bits ? 1ull << bits : 0;
}

/* The flow cache's key of a packet from |src| to |dst| (|egress|: a reply, seen by egress). */
static inline void qasm_nz_cache_key_of(__u64 key[5], const struct qasm_addr *src,
                                        const struct qasm_addr *dst, int egress)
{
    __u8 s[16], d[16];
    __u16 sport, dport;
    qasm_xdp_addr(src, s, &sport);
    qasm_xdp_addr(dst, d, &dport);
    qasm_nz_cache_key(key, s, d, sport, dport, src->family, egress);
}

#endif
