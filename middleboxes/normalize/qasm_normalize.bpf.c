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
 * Checksums are updated with the kernel's helpers (bpf_l3/l4_csum_replace),
 * which know the skb's checksum state (a CHECKSUM_PARTIAL skb from a local
 * sender or a veth carries only the pseudo-header sum).
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

QASM_BPF_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, QASM_NZ_C_MAX, __u32, __u64, 0);

/* Per-CPU scratch for the keys (the BPF stack is 512 bytes). */
struct scratch {
    struct qasm_xdp_attest ak;
    struct qasm_xdp_ekey ek;
    struct qasm_nz_pair pair;
    struct qasm_xdp_cid cid;
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
    __u32 ulen = bpf_ntohs(udp->len);
    if (ulen < sizeof(*udp) || (void *)udp + ulen > end)
        return QASM_NZ_C_MALFORMED;
    p->sport = udp->source;
    p->dport = udp->dest;
    p->udp_off = (__u32)((void *)udp - data);
    p->payload_off = p->udp_off + sizeof(*udp);
    p->plen = ulen - sizeof(*udp);
    return 0;
}

/* ---- rewrite: one endpoint (|dst| 0: source, 1: destination), checksums by the helpers ---- */

static __always_inline int rewrite(struct __sk_buff *skb, const struct pkt *p, int dst,
                                   const __u8 *addr, __u16 port)
{
    const __u8 *old = dst ? p->daddr : p->saddr;
    __u16 oldport = dst ? p->dport : p->sport;
    __u32 aoff = p->saddr_off + (dst ? (p->family == AF_INET ? 4 : 16) : 0);
    __u32 poff = p->udp_off + (dst ? __builtin_offsetof(struct udphdr, dest)
                                   : __builtin_offsetof(struct udphdr, source));
    __u32 coff = p->udp_off + __builtin_offsetof(struct udphdr, check);
    __u64 mangled = p->family == AF_INET ? BPF_F_MARK_MANGLED_0
                                         : BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE;
    int rc = 0;
    if (p->family == AF_INET) {
        __u32 o, n;
        __builtin_memcpy(&o, old, 4);
        __builtin_memcpy(&n, addr, 4);
        rc |= bpf_l4_csum_replace(skb, coff, o, n, BPF_F_PSEUDO_HDR | mangled | 4);
        rc |= bpf_l3_csum_replace(skb, p->ipcsum_off, o, n, 4);
        rc |= bpf_skb_store_bytes(skb, aoff, &n, 4, 0);
    } else {
        __s64 diff = bpf_csum_diff((__be32 *)old, 16, (__be32 *)addr, 16, 0);
        rc |= bpf_l4_csum_replace(skb, coff, 0, diff, BPF_F_PSEUDO_HDR | mangled);
        rc |= bpf_skb_store_bytes(skb, aoff, addr, 16, 0);
    }
    rc |= bpf_l4_csum_replace(skb, coff, oldport, port, mangled | 2);
    rc |= bpf_skb_store_bytes(skb, poff, &port, 2, 0);
    return rc;
}

/* ---- ingress ---- */

/* The short header's DCID into sc->cid (length from the server's entry): 0, or a counter. */
static __always_inline int read_dcid(struct __sk_buff *skb, const struct pkt *p, struct scratch *sc)
{
    struct qasm_xdp_srv sk = {};
    __builtin_memcpy(sk.addr, p->daddr, 16);
    sk.port = p->dport;
    sk.family = p->family;
    __u32 *cidlen = bpf_map_lookup_elem(&servers, &sk);
    if (!cidlen || *cidlen == 0 || *cidlen > 20)
        return QASM_NZ_C_NOT_QUIC;
    __u32 len = *cidlen;
    if (p->plen < QUIC_SHORT_MIN ||
        bpf_skb_load_bytes(skb, p->payload_off, sc->hdr, QUIC_SHORT_MIN) != 0)
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

/*
 * A long header from the client side. A QUIC Initial from a connection's
 * first address to its server, once the connection has moved away, with a
 * DCID other than the connection's O-DCID: the client opened a new
 * connection from the old address (same socket, same server). The old one
 * is normalised no more (its replies would be taken for the new one's).
 */
static __always_inline void check_reuse(struct __sk_buff *skb, const struct pkt *p,
                                        struct scratch *sc)
{
    if (p->plen < QUIC_LONG_MIN ||
        bpf_skb_load_bytes(skb, p->payload_off, sc->hdr, QUIC_LONG_MIN) != 0)
        return;
    __u32 len = sc->hdr[5];
    if ((sc->hdr[0] & 0x30) != 0 || len > 20) /* not an Initial (QUIC v1 type 0) */
        return;
    pair_of(p, sc, 0);
    struct qasm_xdp_ekey *owner = bpf_map_lookup_elem(&firsts, &sc->pair);
    if (!owner)
        return;
    struct qasm_nz_conn *c = bpf_map_lookup_elem(&conns, owner);
    if (!c || (c->flags & QASM_NZ_F_REUSED) ||
        (c->cur_port == c->first_port && qasm_bpf_same16(c->cur, c->first)))
        return; /* still at home: its own Initials, and nothing to undo */
    int own = owner->len == len;
#pragma unroll
    for (int i = 0; i < 20; i++)
        if (i < (int)len && owner->data[i] != sc->hdr[6 + i])
            own = 0;
    if (own)
        return;
    bpf_spin_lock(&c->lock);
    c->flags |= QASM_NZ_F_REUSED;
    __builtin_memcpy(c->cur, c->first, 16);
    c->cur_port = c->first_port;
    bpf_spin_unlock(&c->lock);
    count(QASM_NZ_C_REUSED);
}

/* Moves the connection's current address to |p|'s source (the client sends from there now). */
static __always_inline void set_current(struct qasm_nz_conn *c, const struct pkt *p)
{
    c->last_seen = bpf_ktime_get_ns();
    if (c->cur_port == p->sport && qasm_bpf_same16(c->cur, p->saddr))
        return; /* an unlocked read: at worst the write below happens once more */
    bpf_spin_lock(&c->lock);
    __builtin_memcpy(c->cur, p->saddr, 16);
    c->cur_port = p->sport;
    bpf_spin_unlock(&c->lock);
}

/*
 * A known connection's packet from an address not attested (yet): the
 * agent reported the address before sending from it, but the tracker's
 * push may trail the packet. While the tracker is up, such packets are
 * dropped for at most the hold from the first one (QUIC resends them; by
 * then the push has usually arrived and they are normalised); after it,
 * or with the tracker down, they pass unchanged (default treatment). A
 * spoofer's packets are never normalised either way.
 */
static __always_inline int unattested(struct scratch *sc)
{
    __u32 zero = 0;
    struct qasm_nz_cfg *cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg || !cfg->hold_ns || !cfg->tracker_up)
        return pass(QASM_NZ_C_UNATTESTED);
    __u64 now = bpf_ktime_get_ns();
    __u64 *since = bpf_map_lookup_elem(&pending, &sc->ak);
    if (!since) {
        bpf_map_update_elem(&pending, &sc->ak, &now, BPF_NOEXIST);
        count(QASM_NZ_C_HELD);
        return TC_ACT_SHOT;
    }
    if (now - *since < cfg->hold_ns) {
        count(QASM_NZ_C_HELD);
        return TC_ACT_SHOT;
    }
    return pass(QASM_NZ_C_UNATTESTED);
}

static __always_inline int ingress(struct __sk_buff *skb, struct pkt *p, struct scratch *sc)
{
    __u8 first_byte;
    if (p->plen == 0 || bpf_skb_load_bytes(skb, p->payload_off, &first_byte, 1) != 0)
        return pass(QASM_NZ_C_NOT_QUIC);
    if (first_byte & 0x80) { /* a long header (the fixed bit may be greased: RFC 9287) */
        check_reuse(skb, p, sc);
        return pass(QASM_NZ_C_NOT_QUIC);
    }
    int rc = read_dcid(skb, p, sc);
    if (rc)
        return pass(rc);
    struct qasm_xdp_ekey *ek = bpf_map_lookup_elem(&dcids, &sc->cid);
    if (!ek)
        return pass(QASM_NZ_C_UNKNOWN);
    sc->ek = *ek;
    struct qasm_nz_conn *c = bpf_map_lookup_elem(&conns, &sc->ek);
    if (!c)
        return pass(QASM_NZ_C_UNKNOWN);
    if (c->first_port == p->sport && qasm_bpf_same16(c->first, p->saddr)) {
        if (!(c->flags & QASM_NZ_F_REUSED))
            set_current(c, p);
        return pass(QASM_NZ_C_FIRST);
    }
    if (c->flags & QASM_NZ_F_REUSED)
        return pass(QASM_NZ_C_REUSED);
    __builtin_memset(&sc->ak, 0, sizeof(sc->ak));
    sc->ak.conn = sc->ek;
    __builtin_memcpy(sc->ak.addr, p->saddr, 16);
    sc->ak.port = p->sport;
    sc->ak.family = p->family;
    if (!bpf_map_lookup_elem(&attested, &sc->ak))
        return unattested(sc);
    if (c->family != p->family)
        return pass(QASM_NZ_C_FAMILY);
    set_current(c, p);
    __u8 first[16];
    __builtin_memcpy(first, c->first, 16);
    if (rewrite(skb, p, 0, first, c->first_port) != 0) {
        count(QASM_NZ_C_STORE_FAILED);
        return TC_ACT_SHOT; /* half written: never let it through */
    }
    return pass(QASM_NZ_C_NORMALIZED);
}

/* Both programs' start: counts the packet (|rx|) and parses it into |p|: the scratch, or NULL
 * when the packet passes unchanged (counted by why). */
static __always_inline struct scratch *enter(struct __sk_buff *skb, __u32 rx, struct pkt *p)
{
    count(rx);
    __u32 zero = 0;
    struct scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
    if (!sc)
        return NULL;
    int rc = parse(skb, p);
    if (rc) {
        count(rc);
        return NULL;
    }
    return sc;
}

SEC("tc")
int qasm_nz_ingress(struct __sk_buff *skb)
{
    struct pkt p;
    struct scratch *sc = enter(skb, QASM_NZ_C_IN_RX, &p);
    return sc ? ingress(skb, &p, sc) : TC_ACT_OK;
}

/* ---- egress ---- */

SEC("tc")
int qasm_nz_egress(struct __sk_buff *skb)
{
    struct pkt p;
    struct scratch *sc = enter(skb, QASM_NZ_C_OUT_RX, &p);
    if (!sc)
        return TC_ACT_OK;
    pair_of(&p, sc, 1);
    struct qasm_xdp_ekey *ek = bpf_map_lookup_elem(&firsts, &sc->pair);
    if (!ek)
        return TC_ACT_OK; /* not a normalised connection's: the common case, not counted */
    sc->ek = *ek;
    struct qasm_nz_conn *c = bpf_map_lookup_elem(&conns, &sc->ek);
    if (!c || (c->flags & QASM_NZ_F_REUSED))
        return TC_ACT_OK;
    __u8 cur[16];
    __u16 cur_port;
    bpf_spin_lock(&c->lock);
    __builtin_memcpy(cur, c->cur, 16);
    cur_port = c->cur_port;
    bpf_spin_unlock(&c->lock);
    c->last_seen = bpf_ktime_get_ns();
    if (cur_port == p.dport && qasm_bpf_same16(cur, p.daddr))
        return TC_ACT_OK; /* not moved (or back home) */
    if (rewrite(skb, &p, 1, cur, cur_port) != 0) {
        count(QASM_NZ_C_STORE_FAILED);
        return TC_ACT_SHOT;
    }
    count(QASM_NZ_C_OUT_REWRITTEN);
    if (qasm_bpf_same16(cur, p.daddr))
        return TC_ACT_OK; /* same IP, same neighbour */
    count(QASM_NZ_C_OUT_NEIGH);
    return bpf_redirect_neigh(skb->ifindex, 0, 0, 0);
}
