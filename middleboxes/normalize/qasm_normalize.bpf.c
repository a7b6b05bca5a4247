/*
 * qasm_normalize.bpf.c: the tc-BPF migration normaliser (docs/NORMALIZE.md),
 * two programs on the clsact qdisc of a router's inside interface, in
 * front of the router's own conntrack, nftables NAT and load balancing.
 *
 * Ingress (client -> server, before conntrack): a QUIC short header whose
 * DCID belongs to a connection the tracker reported (`dcids`, `conns`),
 * sent from an address the tracker attests for it (`attested`) that is not
 * the connection's first address, leaves with the first address as its
 * source: conntrack keeps seeing the connection's first 5-tuple, so one
 * entry (and one NAT port, one backend) serves the whole connection.
 * Everything else passes unchanged, counted by reason.
 *
 * Egress (server -> client, after the NAT is undone): a packet to a
 * normalised connection's first address goes to the address the client
 * sends from now (`cur`), through bpf_redirect_neigh when the IP changed
 * (the neighbour the kernel resolved was the first address's).
 *
 * The UDP checksum is updated with the kernel's helper (bpf_l4_csum_replace),
 * which knows the skb's checksum state (a CHECKSUM_PARTIAL skb from a local
 * sender or a veth carries only the pseudo-header sum: the address goes in
 * as part of the pseudo-header, the port not at all), so the address and
 * the port are two calls. The IPv4 header checksum is always a full one:
 * updated in place (RFC 1624, qasm_common.bpf.h's helpers), as are the
 * address and port bytes (direct packet access: the headers are in the
 * linear part, parse() checked).
 *
 * Per packet, the common paths (a tracked connection at home, a migrated
 * one from its current attested address, a reply) are decided once per
 * flow and CPU by the full path and then, for the flow's next packets,
 * by the per-CPU flow cache ("the flow cache" below): no map lookup, lock
 * or clock read. The full path reads the packet directly, does no more map
 * lookups than its decision needs, takes the coarse clock
 * (bpf_ktime_get_coarse_ns, no clocksource read) and writes a connection's
 * `last_seen` only when it moved by more than QASM_NZ_SEEN_GRAIN_NS (no
 * cache line dirtied per packet).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "middleboxes/bpf/qasm_common.bpf.h"
#include "middleboxes/normalize/normalize_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define QUIC_SHORT_MIN 21 /* first byte + 20 DCID bytes: what a short header always has */
#define QUIC_LONG_MIN 26  /* first byte, version, DCID length, 20 DCID bytes (an Initial: 1200) */
#define CID_MAX 20

QASM_BPF_MAP(config, BPF_MAP_TYPE_ARRAY, 1, __u32, struct qasm_nz_cfg, 0);

/* conns, dcids, attested and firsts are written by userspace only: BPF_F_NO_PREALLOC, memory
 * as used. */

QASM_BPF_MAP(conns, BPF_MAP_TYPE_HASH, QASM_NZ_MAX_CONNS,
             struct qasm_xdp_ekey, struct qasm_nz_conn, BPF_F_NO_PREALLOC);

/* Addresses on hold: when their first unattested packet was seen. */
QASM_BPF_MAP(pending, BPF_MAP_TYPE_LRU_HASH, QASM_NZ_MAX_PENDING,
             struct qasm_xdp_attest, __u64, 0);

QASM_BPF_MAP(dcids, BPF_MAP_TYPE_HASH, QASM_NZ_MAX_DCIDS,
             struct qasm_xdp_cid, struct qasm_xdp_ekey, BPF_F_NO_PREALLOC);

QASM_BPF_MAP(attested, BPF_MAP_TYPE_HASH, QASM_NZ_MAX_ATTESTED,
             struct qasm_xdp_attest, __u64, BPF_F_NO_PREALLOC);

QASM_BPF_MAP(servers, BPF_MAP_TYPE_HASH, QASM_NZ_MAX_SERVERS, struct qasm_xdp_srv, __u32, 0);

QASM_BPF_MAP(firsts, BPF_MAP_TYPE_HASH, QASM_NZ_MAX_CONNS,
             struct qasm_nz_pair, struct qasm_xdp_ekey, BPF_F_NO_PREALLOC);

/* Attested (client, server) pairs -> the one connection that claims them (or ambiguous). */
QASM_BPF_MAP(byaddr, BPF_MAP_TYPE_HASH, QASM_NZ_MAX_BYADDR,
             struct qasm_nz_pair, struct qasm_nz_owner, BPF_F_NO_PREALLOC);

/* Unknown DCIDs on hold, by DCID and address: when their first packet was seen. */
QASM_BPF_MAP(dpending, BPF_MAP_TYPE_LRU_HASH, QASM_NZ_MAX_DPENDING,
             struct qasm_nz_dkey, __u64, 0);

/* (client, server) pairs that sent a long header lately: a connection at home, not a
 * migration (its unknown DCIDs are not held). */
QASM_BPF_MAP(handshakes, BPF_MAP_TYPE_LRU_HASH, QASM_NZ_MAX_HANDSHAKES,
             struct qasm_nz_pair, __u64, 0);

/* Servers seen sending a QUIC long header (value: when), by egress: QUIC servers whose CID
 * length no record gave yet (the connection's first record trails its first migrations). Not
 * from the clients' side, so a client cannot make any server's traffic held. */
QASM_BPF_MAP(quic_servers, BPF_MAP_TYPE_LRU_HASH, QASM_NZ_MAX_QUIC_SERVERS,
             struct qasm_xdp_srv, __u64, 0);

/* Reactive mode: what ingress could not decide, for userspace to ask the tracker about. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, QASM_NZ_ASKS_BYTES);
} asks SEC(".maps");

QASM_BPF_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, QASM_NZ_C_MAX, __u32, __u64, 0);

/* Per-CPU scratch for the keys (the BPF stack is 512 bytes). */
struct scratch {
    struct qasm_xdp_attest ak;
    struct qasm_nz_pair pair;
    struct qasm_xdp_cid cid;
    struct qasm_nz_dkey dk;
    __u8 hdr[QUIC_LONG_MIN];
};

QASM_BPF_MAP(scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct scratch, 0);

#define count(c) qasm_bpf_count(&counters, (c))

static __always_inline int pass(__u32 c)
{
    count(c);
    return TC_ACT_OK;
}

/* ---- parse: offsets into the frame (the helpers that write take offsets) ---- */

/* A parsed UDP packet: its endpoints as the wire has them, and where things are. */
struct pkt {
    __u8 saddr[16];
    __u8 daddr[16];
    __u16 sport;
    __u16 dport;
    __u8 family;
    __u32 saddr_off; /* source address (destination follows it) */
    __u32 ipcsum_off; /* IPv4 header checksum (0: IPv6) */
    __u32 udp_off;
    __u32 payload_off;
    __u32 plen;      /* UDP payload bytes */
};

/* IPv4 or IPv6 then UDP after the Ethernet header: 0, or the counter of why not. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return QASM_NZ_C_MALFORMED;
    void *l3 = eth + 1;
    struct udphdr *udp;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = l3;
        if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
            return QASM_NZ_C_MALFORMED;
        if (ip->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_))
            return QASM_NZ_C_MALFORMED;
        if (ip->protocol != IPPROTO_UDP)
            return QASM_NZ_C_NOT_QUIC;
        udp = l3 + ip->ihl * 4;
        __builtin_memset(p->saddr, 0, 16);
        __builtin_memset(p->daddr, 0, 16);
        __builtin_memcpy(p->saddr, &ip->saddr, 4);
        __builtin_memcpy(p->daddr, &ip->daddr, 4);
        p->family = AF_INET;
        p->saddr_off = sizeof(*eth) + __builtin_offsetof(struct iphdr, saddr);
        p->ipcsum_off = sizeof(*eth) + __builtin_offsetof(struct iphdr, check);
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip = l3;
        if ((void *)(ip + 1) > end || ip->version != 6)
            return QASM_NZ_C_MALFORMED;
        if (ip->nexthdr != IPPROTO_UDP) /* extension headers too: not looked into */
            return QASM_NZ_C_NOT_QUIC;
        udp = (void *)(ip + 1);
        __builtin_memcpy(p->saddr, &ip->saddr, 16);
        __builtin_memcpy(p->daddr, &ip->daddr, 16);
        p->family = AF_INET6;
        p->saddr_off = sizeof(*eth) + __builtin_offsetof(struct ipv6hdr, saddr);
        p->ipcsum_off = 0;
    } else {
        return QASM_NZ_C_NOT_QUIC; /* ARP, in-band VLAN tags and the rest pass */
    }
    if ((void *)(udp + 1) > end)
        return QASM_NZ_C_MALFORMED;
    /* The headers are linear (checked above); the payload may not be (a driver's page
     * fragments): its reads go through load(). */
    __u32 ulen = bpf_ntohs(udp->len);
    if (ulen < sizeof(*udp) || (__u64)((void *)udp - data) + ulen > skb->len)
        return QASM_NZ_C_MALFORMED;
    p->sport = udp->source;
    p->dport = udp->dest;
    p->udp_off = (__u32)((void *)udp - data);
    p->payload_off = p->udp_off + sizeof(*udp);
    p->plen = ulen - sizeof(*udp);
    return 0;
}

/* Packet offsets past this are never looked at in place (a bound the verifier needs). */
#define MAX_OFF 4096

/* |n| bytes at |off| into |dst|: read in place when they are in the linear part, else by the
 * helper (a payload in a driver's page fragments). 0, or negative. */
static __always_inline int load(struct __sk_buff *skb, __u32 off, void *dst, const __u32 n)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    if (off < MAX_OFF && data + off + n <= end) {
        __builtin_memcpy(dst, data + off, n);
        return 0;
    }
    return bpf_skb_load_bytes(skb, off, dst, n);
}

/* ---- rewrite: one endpoint (|dst| 0: source, 1: destination) ---- */

/* The new endpoint's bytes (and the IPv4 header checksum) in place: the headers are linear
 * (parse()); the checks are the verifier's. 0, or -1. */
static __always_inline int write_endpoint(struct __sk_buff *skb, const struct pkt *p, int dst,
                                          const __u8 *addr, __u16 port)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    if (p->family == AF_INET) {
        struct iphdr *ip = data + sizeof(struct ethhdr);
        if ((void *)(ip + 1) > end)
            return -1;
        __u32 n, *a = dst ? &ip->daddr : &ip->saddr;
        __builtin_memcpy(&n, addr, 4);
        ip->check = qasm_bpf_csum_apply(ip->check, qasm_bpf_csum_diff16(0, a, &n, 2));
        *a = n;
    } else {
        struct ipv6hdr *ip = data + sizeof(struct ethhdr);
        if ((void *)(ip + 1) > end)
            return -1;
        __builtin_memcpy(dst ? (void *)&ip->daddr : (void *)&ip->saddr, addr, 16);
    }
    __u32 uoff = p->udp_off;
    if (uoff >= MAX_OFF || data + uoff + sizeof(struct udphdr) > end)
        return -1;
    struct udphdr *udp = data + uoff;
    if (dst)
        udp->dest = port;
    else
        udp->source = port;
    return 0;
}

/* The UDP checksum by the helper (a call for the address, which is in the pseudo-header, all
 * a CHECKSUM_PARTIAL skb's checksum holds, and one for the port, which is not; none for what
 * does not change: a port-only migration keeps the address), then the bytes. 0 or not. */
static __always_inline int rewrite(struct __sk_buff *skb, const struct pkt *p, int dst,
                                   const __u8 *addr, __u16 port)
{
    const __u8 *old = dst ? p->daddr : p->saddr;
    __u16 oldport = dst ? p->dport : p->sport;
    __u32 coff = p->udp_off + __builtin_offsetof(struct udphdr, check);
    __u64 mangled = p->family == AF_INET ? BPF_F_MARK_MANGLED_0
                                         : BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE;
    int rc = 0;
    if (p->family == AF_INET && !qasm_bpf_same16(old, addr)) {
        __u32 o, n;
        __builtin_memcpy(&o, old, 4);
        __builtin_memcpy(&n, addr, 4);
        rc = bpf_l4_csum_replace(skb, coff, o, n, BPF_F_PSEUDO_HDR | mangled | 4);
    } else if (p->family != AF_INET && !qasm_bpf_same16(old, addr)) {
        __s64 diff = bpf_csum_diff((__be32 *)old, 16, (__be32 *)addr, 16, 0);
        rc = bpf_l4_csum_replace(skb, coff, 0, diff, BPF_F_PSEUDO_HDR | mangled);
    }
    if (oldport != port)
        rc |= bpf_l4_csum_replace(skb, coff, oldport, port, mangled | 2);
    return rc ? rc : write_endpoint(skb, p, dst, addr, port);
}

/* ---- the flow cache ---- */

/*
 * What the full path decided for a 5-tuple (and, ingress, the DCID) is kept
 * in a per-CPU slot and reused by its next packets: a connection at home
 * passed (K_FIRST), a migrated one from its current attested address
 * normalised (K_NORMALISE), a reply passed or sent to the connection's
 * current address (K_PASS, K_REWRITE). A slot serves while the generation
 * of its client address's bucket is what it was before the full path
 * looked anything up (normalize_maps.h: whoever changes what a decision
 * rests on bumps generations afterwards), and for
 * QASM_NZ_CACHE_LIFETIME_NS at most, so that the full path still refreshes
 * each connection's `last_seen`. Unknown DCIDs, holds, unattested
 * addresses and long headers are never cached.
 *
 * The slots are in sets of two (two-way set associative): a 5-tuple's
 * decision may be in either slot of its set, so two busy flows whose keys
 * hash to one set both keep theirs (in a direct-mapped cache they would
 * take turns evicting each other). A new decision goes where the same key was, else
 * into an empty or expired slot, else into the one filled less recently
 * (no write on a hit).
 */
__u32 qasm_nz_gens[QASM_NZ_GEN_BUCKETS];

/* log2 of the slots per CPU, 0: no cache: set by userspace before load (--flow-cache), with
 * the map's size (qasm_nz_cache_sets()). */
const volatile __u32 qasm_nz_cache_bits = QASM_NZ_CACHE_BITS_DEFAULT;

/* QASM_NZ_CACHE_LIFETIME_NS in jiffies: set by userspace before load (qasm_nz_lifetime_jiffies());
 * this default is HZ 100's. */
const volatile __u32 qasm_nz_cache_jiffies = 25;

enum { K_FIRST = 1, K_NORMALISE, K_PASS, K_REWRITE, K_REWRITE_NEIGH };

struct cached {
    __u64 key[5];   /* source, destination, then ports, family and direction */
    __u64 jiffy;    /* bpf_jiffies64 of the packet the full path decided (0: empty) */
    __u32 gen;      /* the bucket's generation before it did */
    __u32 pad;
    __u8 dcid[CID_MAX]; /* ingress: the DCID, zero after its length */
    __u8 dlen;
    __u8 action;
    __u16 port;     /* K_NORMALISE: the first address; K_REWRITE*: the current one */
    __u8 addr[16];
};

struct cache_set {
    struct cached way[2];
    __u32 older;    /* the way filled less recently: the next new key's when both are recent */
    __u32 pad;
};

QASM_BPF_MAP(cache, BPF_MAP_TYPE_PERCPU_ARRAY, 1u << (QASM_NZ_CACHE_BITS_DEFAULT - 1), __u32,
             struct cache_set, 0);

/* A packet's look at the cache: its key and its bucket's generation, read before any lookup. */
struct probe {
    __u64 key[5];
    __u64 jiffy;
    __u32 gen;
    const __u8 *dcid;    /* ingress: the 20 bytes after the first one, in the packet */
    struct cache_set *set; /* NULL: not cached (a long header, bytes outside the linear part) */
    __u32 way;           /* where in it the full path's decision goes */
};

static __always_inline __u32 gen_of(__u32 bucket)
{
    return *(volatile __u32 *)&qasm_nz_gens[bucket & (QASM_NZ_GEN_BUCKETS - 1)];
}

/* After a change to a connection whose client address was |addr|:|port|. */
static __always_inline void bump(const __u8 *addr, __u16 port)
{
    __sync_fetch_and_add(&qasm_nz_gens[qasm_nz_bucket(addr, port) & (QASM_NZ_GEN_BUCKETS - 1)],
                         1);
}

static __always_inline int same_key(const struct cached *c, const struct probe *pr)
{
    return ((c->key[0] ^ pr->key[0]) | (c->key[1] ^ pr->key[1]) | (c->key[2] ^ pr->key[2]) |
            (c->key[3] ^ pr->key[3]) | (c->key[4] ^ pr->key[4])) == 0;
}

/* Whether |c| holds a decision made recently enough (whatever its key). */
static __always_inline int recent(const struct cached *c, const struct probe *pr)
{
    return c->jiffy && pr->jiffy - c->jiffy < qasm_nz_cache_jiffies;
}

/* Whether |c| holds a decision for |pr|'s packet that still stands. */
static __always_inline int decides(const struct cached *c, const struct probe *pr, int egress)
{
    if (!recent(c, pr) || c->gen != pr->gen || !same_key(c, pr))
        return 0;
    return egress || (c->dlen >= 1 && c->dlen <= CID_MAX &&
                      qasm_bpf_cid_same(pr->dcid, c->dcid, c->dlen));
}

/* The way of |s| a new decision for |pr| goes to: its key's, else an empty or expired one, else
 * the one filled less recently. (Another key's generation is its own bucket's, not |pr|'s: not
 * looked at here.) */
static __always_inline __u32 victim(const struct cache_set *s, const struct probe *pr)
{
    if (same_key(&s->way[0], pr))
        return 0;
    if (same_key(&s->way[1], pr))
        return 1;
    if (!recent(&s->way[0], pr))
        return 0;
    if (!recent(&s->way[1], pr))
        return 1;
    return s->older & 1;
}

/*
 * |p|'s slot, when it holds a decision for it that still stands; NULL
 * otherwise, |pr| then says where the full path's decision goes (a short
 * header read in place: ingress needs its DCID's 21 bytes, egress 1).
 */
static __always_inline struct cached *probe(struct __sk_buff *skb, const struct pkt *p,
                                            int egress, struct probe *pr)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    __u32 off = p->payload_off, need = egress ? 1 : QUIC_SHORT_MIN, bits = qasm_nz_cache_bits;
    pr->set = NULL;
    pr->way = 0; /* defined on every path: the compiler may store it on any */
    if (bits < QASM_NZ_CACHE_BITS_MIN || bits > QASM_NZ_CACHE_BITS_MAX || off >= MAX_OFF ||
        p->plen < need)
        return NULL;
    asm volatile("" : "+r"(off)); /* the mask below is not folded into the check above: */
    const __u8 *q = data + (off & (MAX_OFF - 1)); /* the verifier needs the bound on q */
    if ((void *)q + need > end)
        return NULL;
    if (q[0] & 0x80)
        return NULL;
    pr->dcid = q + 1;
    qasm_nz_cache_key(pr->key, p->saddr, p->daddr, p->sport, p->dport, p->family, egress);
    pr->jiffy = bpf_jiffies64();
    pr->gen = gen_of(egress ? qasm_nz_bucket(p->daddr, p->dport)
                            : qasm_nz_bucket(p->saddr, p->sport));
    __u32 idx = qasm_nz_cache_set(pr->key, bits);
    struct cache_set *s = bpf_map_lookup_elem(&cache, &idx);
    pr->set = s;
    if (!s)
        return NULL;
    if (decides(&s->way[0], pr, egress))
        return &s->way[0];
    if (decides(&s->way[1], pr, egress))
        return &s->way[1];
    pr->way = victim(s, pr);
    return NULL;
}

/* The full path's decision |action| for |pr|'s packet (|cid|: ingress's DCID; |addr|:|port|:
 * what to write), kept for its next packets. */
static __always_inline void fill(struct probe *pr, const struct qasm_xdp_cid *cid, __u8 action,
                                 const __u8 *addr, __u16 port)
{
    struct cache_set *s = pr->set;
    if (!s)
        return;
    struct cached *c = pr->way ? &s->way[1] : &s->way[0];
    s->older = !pr->way;
    __builtin_memcpy(c->key, pr->key, sizeof(c->key));
    c->jiffy = pr->jiffy;
    c->gen = pr->gen;
    if (cid)
        __builtin_memcpy(c->dcid, cid->data, CID_MAX);
    c->dlen = cid ? cid->len : 0;
    c->action = action;
    c->port = port;
    if (addr)
        __builtin_memcpy(c->addr, addr, 16);
}

/* ---- ingress ---- */

/* The short header's DCID into sc->cid (length from the server's entry): 0, a counter, or -1
 * for a server known to speak QUIC (an Initial went to it) but of no record yet. */
static __always_inline int read_dcid(struct __sk_buff *skb, const struct pkt *p, struct scratch *sc)
{
    struct qasm_xdp_srv sk = {};
    __builtin_memcpy(sk.addr, p->daddr, 16);
    sk.port = p->dport;
    sk.family = p->family;
    __u32 *cidlen = bpf_map_lookup_elem(&servers, &sk);
    if (!cidlen && bpf_map_lookup_elem(&quic_servers, &sk)) {
        __builtin_memset(&sc->cid, 0, sizeof(sc->cid)); /* held by address alone */
        return -1; /* a QUIC server no record told the CID length of yet */
    }
    if (!cidlen || *cidlen == 0 || *cidlen > 20)
        return QASM_NZ_C_NOT_QUIC;
    __u32 len = *cidlen;
    if (p->plen < QUIC_SHORT_MIN ||
        load(skb, p->payload_off, sc->hdr, QUIC_SHORT_MIN) != 0)
        return QASM_NZ_C_MALFORMED;
    __builtin_memset(&sc->cid, 0, sizeof(sc->cid));
    sc->cid.len = (__u8)len;
#pragma unroll
    for (int i = 0; i < 20; i++)
        if (i < (int)len)
            sc->cid.data[i] = sc->hdr[1 + i];
    return 0;
}

/* sc->pair from |p| seen from the client's side (|to_client|: a reply, the other way round). */
static __always_inline void pair_of(const struct pkt *p, struct scratch *sc, int to_client)
{
    __builtin_memset(&sc->pair, 0, sizeof(sc->pair));
    __builtin_memcpy(sc->pair.client, to_client ? p->daddr : p->saddr, 16);
    __builtin_memcpy(sc->pair.server, to_client ? p->saddr : p->daddr, 16);
    sc->pair.client_port = to_client ? p->dport : p->sport;
    sc->pair.server_port = to_client ? p->sport : p->dport;
    sc->pair.family = p->family;
}

/* Whether the |len|-byte DCID at |dcid| is connection |ek|'s O-DCID. */
static __always_inline int is_odcid(const struct qasm_xdp_ekey *ek, const __u8 *dcid, __u32 len)
{
    int own = ek->len == len;
#pragma unroll
    for (int i = 0; i < 20; i++)
        if (i < (int)len && ek->data[i] != dcid[i])
            own = 0;
    return own;
}

/*
 * A QUIC Initial from a connection's first address to its server, once
 * the connection has moved away, with a DCID other than the connection's
 * O-DCID: the client opened a new connection from the old address (same
 * socket, same server). The old one is normalised no more (its replies
 * would be taken for the new one's).
 */
static __always_inline void check_reuse(struct scratch *sc, __u32 len)
{
    struct qasm_xdp_ekey *owner = bpf_map_lookup_elem(&firsts, &sc->pair);
    if (!owner)
        return;
    struct qasm_nz_conn *c = bpf_map_lookup_elem(&conns, owner);
    if (!c || (c->flags & QASM_NZ_F_REUSED) ||
        (c->cur_port == c->first_port && qasm_bpf_same16(c->cur, c->first)))
        return; /* still at home: its own Initials, and nothing to undo */
    if (is_odcid(owner, sc->hdr + 6, len))
        return;
    __u8 old[16];
    bpf_spin_lock(&c->lock);
    __builtin_memcpy(old, c->cur, 16);
    __u16 old_port = c->cur_port;
    c->flags = (c->flags | QASM_NZ_F_REUSED) & ~QASM_NZ_F_CUR_ATTESTED;
    __builtin_memcpy(c->cur, c->first, 16);
    c->cur_port = c->first_port;
    bpf_spin_unlock(&c->lock);
    bump(old, old_port); /* its decisions, cached under both addresses, stand no more */
    bump(c->first, c->first_port);
    count(QASM_NZ_C_REUSED);
}

/*
 * A long header from the client side: its (client, server) pair is a
 * connection at home (remembered in `handshakes`: its unknown DCIDs are no
 * migration's and are not held). An Initial of another connection than the
 * one the pair names makes the pair ambiguous in `byaddr` (a second
 * connection from that address: unknown DCIDs from it are not normalised)
 * and may be the first address reused (check_reuse).
 */
static __always_inline void long_header(struct __sk_buff *skb, const struct pkt *p,
                                        struct scratch *sc)
{
    pair_of(p, sc, 0);
    __u64 now = bpf_ktime_get_ns();
    bpf_map_update_elem(&handshakes, &sc->pair, &now, BPF_ANY);
    if (p->plen < QUIC_LONG_MIN ||
        load(skb, p->payload_off, sc->hdr, QUIC_LONG_MIN) != 0)
        return;
    __u32 len = sc->hdr[5];
    if ((sc->hdr[0] & 0x30) != 0 || len > 20) /* not an Initial (QUIC v1 type 0) */
        return;
    struct qasm_nz_owner *o = bpf_map_lookup_elem(&byaddr, &sc->pair);
    if (o && o->conns == 1 && !is_odcid(&o->conn, sc->hdr + 6, len))
        o->conns = 2;
    check_reuse(sc, len);
}

/* The connection saw a packet: `last_seen` from the coarse clock, written only when it moved
 * by more than the grain (the idle sweep allows for that lag). */
static __always_inline void touch(struct qasm_nz_conn *c)
{
    __u64 now = bpf_ktime_get_coarse_ns();
    if ((__s64)(now - c->last_seen) > (__s64)QASM_NZ_SEEN_GRAIN_NS)
        c->last_seen = now;
}

/*
 * Moves the connection's current address to |p|'s source (the client sends
 * from there now). |attested|: the address was found in `attested` for it
 * (QASM_NZ_F_CUR_ATTESTED, set with `cur` under the lock; any other move of
 * `cur` clears it), so that its next packets skip that lookup.
 */
static __always_inline void set_current(struct qasm_nz_conn *c, const struct pkt *p, int attested)
{
    touch(c);
    if (c->cur_port == p->sport && qasm_bpf_same16(c->cur, p->saddr) &&
        (!attested || (c->flags & QASM_NZ_F_CUR_ATTESTED)))
        return; /* an unlocked read: at worst the write below happens once more */
    __u8 old[16];
    bpf_spin_lock(&c->lock);
    __builtin_memcpy(old, c->cur, 16);
    __u16 old_port = c->cur_port;
    __builtin_memcpy(c->cur, p->saddr, 16);
    c->cur_port = p->sport;
    if (attested)
        c->flags |= QASM_NZ_F_CUR_ATTESTED;
    else
        c->flags &= ~QASM_NZ_F_CUR_ATTESTED;
    bpf_spin_unlock(&c->lock);
    bump(old, old_port); /* decisions cached for the old current address, and for replies */
    bump(c->first, c->first_port);
}

/*
 * Whether |p|'s source is the connection's current address as found in
 * `attested` (read under the lock: the flag and the address it is about
 * together). Attestations are withdrawn only with their connection (which
 * takes the flag with it), so the lookup it saves would find the address.
 */
static __always_inline int cur_attested(struct qasm_nz_conn *c, const struct pkt *p)
{
    bpf_spin_lock(&c->lock);
    int yes = (c->flags & QASM_NZ_F_CUR_ATTESTED) && c->cur_port == p->sport &&
              qasm_bpf_same16(c->cur, p->saddr);
    bpf_spin_unlock(&c->lock);
    return yes;
}

/*
 * Reactive mode: |cid| from |p|'s source is reported to userspace, which
 * asks the tracker about it (`known`: the DCID is known, the address is
 * not attested). Called on a hold's first packet only, so at most once per
 * DCID (or connection) and address while the hold's entry lives.
 */
static __always_inline void ask(const struct qasm_nz_cfg *cfg, const struct qasm_xdp_cid *cid,
                                const struct pkt *p, int known)
{
    if (!cfg->reactive || cid->len == 0)
        return; /* no DCID to ask about (a server of no record yet) */
    struct qasm_nz_ask *a = bpf_ringbuf_reserve(&asks, sizeof(*a), 0);
    if (!a)
        return; /* full: userspace is behind; the packet's hold still applies */
    a->cid = *cid;
    __builtin_memcpy(a->addr, p->saddr, 16);
    a->port = p->sport;
    a->family = p->family;
    a->known = (__u8)known;
    bpf_ringbuf_submit(a, 0);
    count(QASM_NZ_C_ASKED);
}

/*
 * The hold of a packet the maps cannot place yet: the tracker's answer (a
 * push, or in reactive mode the answer to the ask) is on its way. |key| in
 * |map| (an LRU of first-seen times) names what waits. While the tracker
 * is up, such packets are dropped for at most the hold from the first one
 * (QUIC resends them; by then the answer has usually arrived and they are
 * normalised); after it, or with the tracker down, the caller passes them
 * unchanged (-1). A hold never normalises anything: a spoofer only ever
 * delays its own packets.
 */
static __always_inline int hold(void *map, const void *key, const struct pkt *p,
                                struct scratch *sc, int known, __u32 held)
{
    __u32 zero = 0;
    struct qasm_nz_cfg *cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg || !cfg->tracker_up || (!cfg->hold_ns && !cfg->reactive))
        return -1;
    __u64 now = bpf_ktime_get_ns();
    __u64 *since = bpf_map_lookup_elem(map, key);
    if (!since) {
        bpf_map_update_elem(map, key, &now, BPF_NOEXIST);
        ask(cfg, &sc->cid, p, known);
    } else if (now - *since >= cfg->hold_ns) {
        return -1;
    }
    if (!cfg->hold_ns)
        return -1;
    count(held);
    return TC_ACT_SHOT;
}

/* |p| onto connection |c|: the source becomes its first address, it is current now
 * (|attested|: as set_current()). */
static __always_inline int normalise(struct __sk_buff *skb, const struct pkt *p,
                                     struct qasm_nz_conn *c, int attested)
{
    set_current(c, p, attested);
    __u8 first[16];
    __builtin_memcpy(first, c->first, 16);
    if (rewrite(skb, p, 0, first, c->first_port) != 0) {
        count(QASM_NZ_C_STORE_FAILED);
        return TC_ACT_SHOT; /* half written: never let it through */
    }
    return pass(QASM_NZ_C_NORMALIZED);
}

/*
 * A short header with a DCID nobody reported. From a (client, server) pair
 * the tracker attested for exactly one connection (`byaddr`), it is that
 * connection's (a DCID whose report trails the packet): normalised onto
 * it. From a pair of several connections (ambiguous), or one nobody
 * attested (a spoofer, a client without the agent, a migration whose
 * report trails the packet), it is never normalised: a new 5-tuple (no
 * long header seen from it) is held for the tracker's push, then passes
 * unchanged; a connection at home passes at once.
 */
static __always_inline int unknown_dcid(struct __sk_buff *skb, const struct pkt *p,
                                        struct scratch *sc)
{
    pair_of(p, sc, 0);
    struct qasm_nz_owner *o = bpf_map_lookup_elem(&byaddr, &sc->pair);
    if (o && o->conns != 1) {
        count(QASM_NZ_C_AMBIGUOUS);
    } else if (o) {
        struct qasm_nz_conn *c = bpf_map_lookup_elem(&conns, &o->conn);
        if (c && !(c->flags & QASM_NZ_F_REUSED) && c->family == p->family) {
            if (c->first_port == p->sport && qasm_bpf_same16(c->first, p->saddr)) {
                set_current(c, p, 0);
                return pass(QASM_NZ_C_FIRST);
            }
            count(QASM_NZ_C_BY_ADDR);
            return normalise(skb, p, c, 0);
        }
    }
    if (bpf_map_lookup_elem(&handshakes, &sc->pair))
        return pass(QASM_NZ_C_UNKNOWN);
    __builtin_memset(&sc->dk, 0, sizeof(sc->dk));
    sc->dk.cid = sc->cid;
    __builtin_memcpy(sc->dk.addr, p->saddr, 16);
    sc->dk.port = p->sport;
    sc->dk.family = p->family;
    int rc = hold(&dpending, &sc->dk, p, sc, 0, QASM_NZ_C_HELD_DCID);
    if (rc >= 0)
        return rc;
    count(QASM_NZ_C_UNKNOWN_NEW);
    return pass(QASM_NZ_C_UNKNOWN);
}

static __always_inline int ingress(struct __sk_buff *skb, struct pkt *p, struct scratch *sc,
                                   struct probe *pr)
{
    __u8 first_byte;
    if (p->plen == 0 || load(skb, p->payload_off, &first_byte, 1) != 0)
        return pass(QASM_NZ_C_NOT_QUIC);
    if (first_byte & 0x80) { /* a long header (the fixed bit may be greased: RFC 9287) */
        long_header(skb, p, sc);
        count(QASM_NZ_C_LONG);
        return pass(QASM_NZ_C_NOT_QUIC);
    }
    int rc = read_dcid(skb, p, sc);
    if (rc < 0) /* no record for this server yet: a migration before it is held too */
        return unknown_dcid(skb, p, sc);
    if (rc)
        return pass(rc);
    struct qasm_xdp_ekey *ek = bpf_map_lookup_elem(&dcids, &sc->cid);
    if (!ek)
        return unknown_dcid(skb, p, sc);
    struct qasm_nz_conn *c = bpf_map_lookup_elem(&conns, ek);
    if (!c)
        return unknown_dcid(skb, p, sc);
    if (c->first_port == p->sport && qasm_bpf_same16(c->first, p->saddr)) {
        if (!(c->flags & QASM_NZ_F_REUSED)) {
            set_current(c, p, 0);
            fill(pr, &sc->cid, K_FIRST, NULL, 0);
        }
        return pass(QASM_NZ_C_FIRST);
    }
    if (c->flags & QASM_NZ_F_REUSED)
        return pass(QASM_NZ_C_REUSED);
    if (!cur_attested(c, p)) { /* a new address, or the first packet from it */
        __builtin_memset(&sc->ak, 0, sizeof(sc->ak));
        sc->ak.conn = *ek;
        __builtin_memcpy(sc->ak.addr, p->saddr, 16);
        sc->ak.port = p->sport;
        sc->ak.family = p->family;
        if (!bpf_map_lookup_elem(&attested, &sc->ak)) {
            rc = hold(&pending, &sc->ak, p, sc, 1, QASM_NZ_C_HELD);
            return rc >= 0 ? rc : pass(QASM_NZ_C_UNATTESTED);
        }
    }
    if (c->family != p->family)
        return pass(QASM_NZ_C_FAMILY);
    rc = normalise(skb, p, c, 1);
    if (rc == TC_ACT_OK)
        fill(pr, &sc->cid, K_NORMALISE, c->first, c->first_port);
    return rc;
}

/* A packet whose decision the cache had (probe()): what the full path would do again. */
static __always_inline int cached_verdict(struct __sk_buff *skb, const struct pkt *p,
                                          const struct cached *c)
{
    count(QASM_NZ_C_CACHED);
    __u8 action = c->action;
    if (action == K_FIRST)
        return pass(QASM_NZ_C_FIRST);
    if (action == K_PASS)
        return TC_ACT_OK;
    __u8 addr[16];
    __builtin_memcpy(addr, c->addr, 16);
    int dst = action != K_NORMALISE;
    if (rewrite(skb, p, dst, addr, c->port) != 0) {
        count(QASM_NZ_C_STORE_FAILED);
        return TC_ACT_SHOT;
    }
    if (!dst)
        return pass(QASM_NZ_C_NORMALIZED);
    count(QASM_NZ_C_OUT_REWRITTEN);
    if (action == K_REWRITE)
        return TC_ACT_OK;
    count(QASM_NZ_C_OUT_NEIGH);
    return bpf_redirect_neigh(skb->ifindex, 0, 0, 0);
}

/* Both programs' start: counts the packet (|rx|) and parses it into |p|: whether it did (else
 * the packet passes unchanged, counted by why). */
static __always_inline int enter(struct __sk_buff *skb, __u32 rx, struct pkt *p)
{
    count(rx);
    int rc = parse(skb, p);
    if (rc)
        count(rc);
    return rc == 0;
}

/* The full path's scratch (not looked up by a packet the flow cache decides). */
static __always_inline struct scratch *scratch_of(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&scratch, &zero);
}


/* ---- egress ---- */

/*
 * A long header from the server side (its Initial, Handshake, Retry, ...):
 * the server speaks QUIC (`quic_servers`: short headers to it from new
 * 5-tuples are held before any record names it). In reactive mode (no
 * subscription, so no records to learn it from), also the length of its
 * CIDs: the SCID it chose, as it sends it, so ingress can read the DCID of
 * a short header to it.
 */
static __always_inline void server_long_header(struct __sk_buff *skb, const struct pkt *p,
                                               struct scratch *sc)
{
    if (p->plen < 7 || load(skb, p->payload_off, sc->hdr, 6) != 0 ||
        !(sc->hdr[0] & 0x80))
        return;
    struct qasm_xdp_srv sk = {};
    __builtin_memcpy(sk.addr, p->saddr, 16);
    sk.port = p->sport;
    sk.family = p->family;
    __u64 now = bpf_ktime_get_ns();
    bpf_map_update_elem(&quic_servers, &sk, &now, BPF_ANY);
    __u32 zero = 0;
    struct qasm_nz_cfg *cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg || !cfg->reactive)
        return;
    __u32 dlen = sc->hdr[5];
    if (dlen > 20 || p->plen < 7 + dlen ||
        load(skb, p->payload_off + 6 + dlen, sc->hdr, 1) != 0)
        return;
    __u32 slen = sc->hdr[0];
    if (slen == 0 || slen > 20)
        return;
    bpf_map_update_elem(&servers, &sk, &slen, BPF_NOEXIST);
}

/* A reply: to a normalised connection's first address, it goes to the current one. */
static __always_inline int reply(struct __sk_buff *skb, const struct pkt *p, struct scratch *sc,
                                 struct probe *pr)
{
    server_long_header(skb, p, sc);
    pair_of(p, sc, 1);
    struct qasm_xdp_ekey *ek = bpf_map_lookup_elem(&firsts, &sc->pair);
    struct qasm_nz_conn *c = ek ? bpf_map_lookup_elem(&conns, ek) : NULL;
    if (!c || (c->flags & QASM_NZ_F_REUSED)) {
        fill(pr, NULL, K_PASS, NULL, 0);
        return TC_ACT_OK; /* not a normalised connection's: the common case, not counted */
    }
    __u8 cur[16];
    __u16 cur_port;
    bpf_spin_lock(&c->lock);
    __builtin_memcpy(cur, c->cur, 16);
    cur_port = c->cur_port;
    bpf_spin_unlock(&c->lock);
    touch(c);
    if (cur_port == p->dport && qasm_bpf_same16(cur, p->daddr)) {
        fill(pr, NULL, K_PASS, NULL, 0);
        return TC_ACT_OK; /* not moved (or back home) */
    }
    if (rewrite(skb, p, 1, cur, cur_port) != 0) {
        count(QASM_NZ_C_STORE_FAILED);
        return TC_ACT_SHOT;
    }
    count(QASM_NZ_C_OUT_REWRITTEN);
    if (qasm_bpf_same16(cur, p->daddr)) {
        fill(pr, NULL, K_REWRITE, cur, cur_port);
        return TC_ACT_OK; /* same IP, same neighbour */
    }
    fill(pr, NULL, K_REWRITE_NEIGH, cur, cur_port);
    count(QASM_NZ_C_OUT_NEIGH);
    return bpf_redirect_neigh(skb->ifindex, 0, 0, 0);
}

/* Both programs: the packet counted and parsed, then decided by the flow cache or by the full
 * path of its direction (|egress|: a constant in each program, so each has only its own). */
static __always_inline int run(struct __sk_buff *skb, int egress)
{
    struct pkt p;
    struct probe pr;
    if (!enter(skb, egress ? QASM_NZ_C_OUT_RX : QASM_NZ_C_IN_RX, &p))
        return TC_ACT_OK;
    struct cached *c = probe(skb, &p, egress, &pr);
    if (__builtin_expect(c != NULL, 1)) /* the hit's code straight after the probe's */
        return cached_verdict(skb, &p, c);
    struct scratch *sc = scratch_of();
    if (!sc)
        return TC_ACT_OK;
    return egress ? reply(skb, &p, sc, &pr) : ingress(skb, &p, sc, &pr);
}

SEC("tc")
int qasm_nz_ingress(struct __sk_buff *skb)
{
    return run(skb, 0);
}

SEC("tc")
int qasm_nz_egress(struct __sk_buff *skb)
{
    return run(skb, 1);
}

/* ---- the hop benchmark's floor (hop-bench.sh, through qasm-normalize --bench-ingress) ---- */

/* In place of qasm_nz_ingress: what the tc hook costs with a program that does nothing. */
SEC("tc")
int qasm_nz_floor(struct __sk_buff *skb)
{
    (void)skb;
    return TC_ACT_OK;
}

/* ... and with one that counts and parses each packet, then passes it. */
SEC("tc")
int qasm_nz_parse(struct __sk_buff *skb)
{
    struct pkt p;
    enter(skb, QASM_NZ_C_IN_RX, &p);
    return TC_ACT_OK;
}
