/*
 * normalize_maps.h: the maps of qasm-normalize (docs/NORMALIZE.md), the
 * tc-BPF migration normaliser in front of the kernel's own NAT, conntrack
 * and load balancing. Shared by the BPF programs
 * (middleboxes/normalize/qasm_normalize.bpf.c) and userspace
 * (middleboxes/normalize/normalize.c, tests/unit/test_normalize_prog.c).
 *
 * The keys the XDP fast path already defines are reused as they are
 * (middleboxes/xdp/xdp_maps.h): a DCID (struct qasm_xdp_cid), a connection
 * named by its O-DCID (struct qasm_xdp_ekey, kind QASM_XDP_E_CONN), an
 * attested client address of a connection (struct qasm_xdp_attest), a
 * server address and the length of the CIDs it chose (struct qasm_xdp_srv).
 * Addresses are 16 bytes (IPv4 in the first 4), ports in network order.
 */
#ifndef QASM_NORMALIZE_MAPS_H
#define QASM_NORMALIZE_MAPS_H

#include <linux/bpf.h>
#include <linux/types.h>

#include "middleboxes/xdp/xdp_maps.h"

/* Bounds (max_entries) as compiled; qasm-normalize --max-conns resizes them before loading. */
#define QASM_NZ_MAX_CONNS 65536
#define QASM_NZ_MAX_DCIDS (8 * QASM_NZ_MAX_CONNS)    /* the record's DCIDs (up to 8) */
#define QASM_NZ_MAX_ATTESTED (4 * QASM_NZ_MAX_CONNS) /* client addresses (up to 4 a record) */
#define QASM_NZ_MAX_SERVERS 4096
#define QASM_NZ_MAX_PENDING 16384 /* addresses on hold (an LRU: the oldest hold ends first) */
#define QASM_NZ_MAX_BYADDR (4 * QASM_NZ_MAX_CONNS) /* attested (client, server) pairs */
#define QASM_NZ_MAX_DPENDING 16384 /* unknown DCIDs on hold (an LRU) */
#define QASM_NZ_MAX_HANDSHAKES 16384 /* 5-tuples that sent a long header lately (an LRU) */
#define QASM_NZ_MAX_QUIC_SERVERS 4096 /* servers a client sent an Initial to (an LRU) */
#define QASM_NZ_MAX_CONNS_LIMIT (1u << 20)

/*
 * A connection's first client address and its server address (the one the
 * client sends to: a load balancer's VIP), as the wire has them: key of
 * `firsts` (value: the connection's struct qasm_xdp_ekey). The server is
 * part of the key because a client may open connections to several
 * servers from one socket.
 */
struct qasm_nz_pair {
    __u8 client[16];
    __u8 server[16];
    __u16 client_port;
    __u16 server_port;
    __u8 family;
    __u8 pad[3];
};

/*
 * Value of `byaddr` (key: a struct qasm_nz_pair, a client address the
 * tracker attested (or recorded first) for a connection, and that
 * connection's server): which connection, and how many connections claim
 * the pair. Userspace writes it from the records; a pair claimed by two
 * connections, or from which a new connection's Initial was seen (the
 * ingress program sets `conns` to 2 then), is ambiguous: a short header
 * with an unknown DCID from it is never normalised.
 */
struct qasm_nz_owner {
    struct qasm_xdp_ekey conn;
    __u32 conns; /* 1: the pair names one connection; more: ambiguous */
    __u32 pad;
    __u64 when;  /* written (CLOCK_MONOTONIC ns) */
};

/* Key of `dpending`: a DCID nobody reported, and the client address it came from. */
struct qasm_nz_dkey {
    struct qasm_xdp_cid cid;
    __u8 addr[16];
    __u16 port;
    __u8 family;
    __u8 pad;
};

/* Flags of a connection. */
#define QASM_NZ_F_REUSED 0x1u /* its first address opened another connection to its server:
                                 no more rewrites */
#define QASM_NZ_F_CUR_ATTESTED 0x2u /* `cur` was found in `attested` for it (set with `cur` under
                                       the lock, cleared by any other move of `cur`): packets
                                       from there skip that lookup */

/* A connection's `last_seen` is written when it moved by more than this (no cache line
 * dirtied per packet). */
#define QASM_NZ_SEEN_GRAIN_NS 100000000ull

/*
 * The programs' per-CPU flow cache (qasm_normalize.bpf.c, "the flow
 * cache"): what the full path decided for a 5-tuple and DCID is reused
 * for at most QASM_NZ_CACHE_LIFETIME_NS, and
 * only while the generation of the client address's bucket is what it
 * was when the decision was made. Whoever changes what a decision rests on
 * bumps generations afterwards: userspace and the programs the buckets of
 * a connection's first and current addresses when they create, remove or
 * move it, userspace every bucket when a server's CID length changes. A connection's `last_seen` is then
 * refreshed by a packet at least every QASM_NZ_CACHE_LIFETIME_NS, so it lags
 * by at most QASM_NZ_SEEN_LAG_NS, which the idle sweep adds to --idle.
 */
#define QASM_NZ_GEN_BUCKETS 4096
#define QASM_NZ_CACHE_LIFETIME_NS 250000000ull

/* The lifetime in ticks of the coarse clock (the programs count in bpf_jiffies64: 1 to 10 ms a
 * tick, HZ 1000 to 100): what the loader sets before load, from the tick's length in ns. */
static inline __u32 qasm_nz_lifetime_jiffies(__u64 tick_ns)
{
    __u64 n = QASM_NZ_CACHE_LIFETIME_NS / (tick_ns ? tick_ns : 1000000);
    return n ? (__u32)n : 1;
}

/* The flow cache's slots per CPU, 2^bits (--flow-cache): 4096 by default (100 bytes each),
 * 65536 at most (6.25 MiB a CPU); 0 bits: no cache. The slots are in sets of
 * 2^QASM_NZ_CACHE_WAYS_LOG (two-way set associative): a 5-tuple may take either slot of its set. */
#define QASM_NZ_CACHE_BITS_DEFAULT 12
#define QASM_NZ_CACHE_BITS_MIN 4
#define QASM_NZ_CACHE_BITS_MAX 16
#define QASM_NZ_CACHE_WAYS_LOG 1

/* The cache map's entries (sets) for 2^|bits| slots (1 for no cache: a map needs one). */
static inline __u32 qasm_nz_cache_sets(__u32 bits)
{
    return bits ? 1u << (bits - QASM_NZ_CACHE_WAYS_LOG) : 1;
}

/* A packet's flow cache key: its endpoints as the wire has them (16-byte addresses, IPv4 in the
 * first 4; ports in network order), its family and direction, the same in the programs and in
 * the tests. */
static inline void qasm_nz_cache_key(__u64 key[5], const __u8 *saddr, const __u8 *daddr,
                                     __u16 sport, __u16 dport, __u8 family, int egress)
{
    __builtin_memcpy(&key[0], saddr, 16);
    __builtin_memcpy(&key[2], daddr, 16);
    key[4] = sport | (__u64)dport << 16 | (__u64)family << 32 | (__u64)egress << 40;
}

/* The set of |key| among the 2^|bits| slots' sets (|bits| at least QASM_NZ_CACHE_BITS_MIN). */
static inline __u32 qasm_nz_cache_set(const __u64 key[5], __u32 bits)
{
    __u64 h = key[0] ^ key[1] ^ key[2] ^ key[3] ^ key[4];
    h ^= h >> 32;
    return (__u32)((h * 0x9e3779b97f4a7c15ull) >> (64 - bits + QASM_NZ_CACHE_WAYS_LOG));
}
/* The grain, the cache's lifetime and a tick (10 ms at HZ 100) for where in it a decision was
 * taken. */
#define QASM_NZ_SEEN_LAG_NS (QASM_NZ_SEEN_GRAIN_NS + QASM_NZ_CACHE_LIFETIME_NS + 10000000ull)

/* The generation bucket of a client address (16 bytes, IPv4 in the first 4; port in network
 * order), the same in the programs and in userspace. */
static inline __u32 qasm_nz_bucket(const __u8 *addr, __u16 port)
{
    __u64 a, b;
    __builtin_memcpy(&a, addr, 8);
    __builtin_memcpy(&b, addr + 8, 8);
    __u64 x = a ^ b ^ ((__u64)port << 40);
    x ^= x >> 29;
    x *= 0x9e3779b97f4a7c15ull;
    return (__u32)(x >> 52); /* QASM_NZ_GEN_BUCKETS = 2^12 */
}

/*
 * Value of `conns` (key: the connection's struct qasm_xdp_ekey). Userspace
 * creates it from the tracker's record (first = the record's first client
 * address); the ingress program moves `cur` to the attested address the
 * client sends from now, under the lock (egress reads it on every packet).
 */
struct qasm_nz_conn {
    struct bpf_spin_lock lock;
    __u32 family;
    __u8 first[16];
    __u16 first_port;
    __u16 cur_port;
    __u8 cur[16];
    __u32 flags;
    __u32 pad;
    __u64 last_seen; /* CLOCK_MONOTONIC ns of its last packet, either direction (the programs:
                        bpf_ktime_get_coarse_ns, at most QASM_NZ_SEEN_GRAIN_NS behind) */
};

/*
 * The one value of `config` (an array of 1), written by userspace: the hold
 * of a known connection's packets from an address not attested yet, while
 * the tracker's push is on its way (0: no hold), and whether the tracker
 * session is up (down: no hold, everything unattested passes unchanged).
 */
struct qasm_nz_cfg {
    __u64 hold_ns;
    __u32 tracker_up;
    __u32 reactive; /* report unknown DCIDs and unattested addresses to userspace (`asks`) */
};

/*
 * A record of `asks` (a ring buffer): what the ingress program could not
 * decide, for userspace to ask the tracker about (reactive mode): a DCID
 * (`known` 0: nobody reported it; 1: known, but the address is not
 * attested for its connection) and the client address it came from.
 */
struct qasm_nz_ask {
    struct qasm_xdp_cid cid;
    __u8 addr[16];
    __u16 port;
    __u8 family;
    __u8 known;
};
#define QASM_NZ_ASKS_BYTES (64 * 1024)

/* The programs' counters (a per-CPU array indexed by these), names in QASM_NZ_COUNTER_NAMES;
 * what a packet the flow cache decides counts comes first (one cache line). */
enum qasm_nz_counter {
    QASM_NZ_C_IN_RX = 0,       /* ingress: frames seen */
    QASM_NZ_C_NORMALIZED,      /* ingress: source rewritten to the connection's first address */
    QASM_NZ_C_FIRST,           /* ingress: a known connection's packet from its first address */
    QASM_NZ_C_CACHED,          /* either: decided by the flow cache (also counted by verdict) */
    QASM_NZ_C_OUT_RX,          /* egress: frames seen */
    QASM_NZ_C_OUT_REWRITTEN,   /* egress: destination rewritten to the current address */
    QASM_NZ_C_OUT_NEIGH,       /* egress: ... and sent through bpf_redirect_neigh (new IP) */
    QASM_NZ_C_UNATTESTED,      /* ingress: known DCID, address not attested: unchanged */
    QASM_NZ_C_HELD,            /* ingress: ... dropped while its hold lasts (the client resends) */
    QASM_NZ_C_UNKNOWN,         /* ingress: short header, DCID of no known connection: unchanged */
    QASM_NZ_C_FAMILY,          /* ingress: attested address of the other IP family: unchanged */
    QASM_NZ_C_REUSED,          /* ingress: a moved connection's first address and server carry a
                                  new connection's Initial (or a packet of that connection) */
    QASM_NZ_C_NOT_QUIC,        /* either: not UDP, long header, no server entry: unchanged */
    QASM_NZ_C_MALFORMED,       /* either: truncated or bad header, fragment, VLAN in band */
    QASM_NZ_C_STORE_FAILED,    /* either: a packet write or checksum helper refused: dropped */
    QASM_NZ_C_BY_ADDR,         /* ingress: unknown DCID from a pair attested for one connection:
                                  normalised onto it (also counted in `normalized`) */
    QASM_NZ_C_AMBIGUOUS,       /* ingress: unknown DCID from a pair of several connections */
    QASM_NZ_C_HELD_DCID,       /* ingress: unknown DCID from a new 5-tuple, dropped while its
                                  hold lasts (the push of that DCID is on its way) */
    QASM_NZ_C_UNKNOWN_NEW,     /* ingress: ... of them, from a new 5-tuple (no long header seen
                                  from it) after its hold (or none): may make a conntrack entry */
    QASM_NZ_C_LONG,            /* ingress: a QUIC long header from the client side (also in
                                  `not_quic`): passes unchanged */
    QASM_NZ_C_ASKED,           /* ingress: an unknown DCID or unattested address reported to
                                  userspace (reactive mode: it asks the tracker) */
    QASM_NZ_C_MAX
};

#define QASM_NZ_COUNTER_NAMES \
    { "in_packets_received", "normalized", "first_address", "fast_path", \
      "out_packets_received", "out_rewritten", "out_neigh", "unattested", "held", \
      "unknown_dcid", "family", "first_reused", "not_quic", "malformed", "store_failed", \
      "normalized_by_address", "ambiguous_address", "held_unknown_dcid", \
      "unknown_dcid_new_tuple", "long_header", "asked" }

#endif
