/*
 * qasm_xdp.bpf.c: the XDP fast path of qasm-mbox (`--io xdp`, see
 * docs/XDP.md). Attached to the hop's inside and outside interfaces.
 *
 * A frame whose flow the userspace core has already decided is handled
 * here: its 5-tuple (and direction) is found in `flows`, the state entry
 * it belongs to in the array `entries` at the slot the flow names (its
 * generation checked); the rate limiter takes tokens from the
 * entry's bucket, the addresses and ports are rewritten (IPv4 header and
 * UDP checksums updated incrementally), the TTL / hop limit decremented,
 * the MACs set from the kernel's FIB and neighbour tables (looked up once
 * per flow and second, cached in the flow: route()), and the frame leaves
 * by bpf_redirect (XDP_TX on the interface it came in on).
 *
 * In the QUIC-aware modes a short-header packet from a new 5-tuple whose
 * DCID belongs to a known connection (`dcids`) stays here too when the
 * tracker attests its source address for that connection (`attested`,
 * written by userspace from the tracker's records): the flows of the new
 * path are stored and the connection's state follows it (a migration).
 *
 * Everything else goes up (XDP_PASS) to the slow path, the userspace core
 * reached through the `packet` backend's AF_PACKET sockets, counted by
 * reason: a new flow, a long header, a known DCID from an unattested
 * address, non-UDP, fragments, malformed frames, no route yet. The
 * program never decides alone what the core would decide differently.
 *
 * qasm_xdp_rl_charge (a syscall program userspace runs) charges a packet the
 * slow path forwards to the same entry's bucket, through the same
 * bucket_take: one rate budget per connection across both paths.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "middleboxes/bpf/qasm_common.bpf.h"
#include "middleboxes/xdp/xdp_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

QASM_BPF_MAP(config, BPF_MAP_TYPE_ARRAY, 1, __u32, struct qasm_xdp_cfg, 0);

QASM_BPF_MAP(flows, BPF_MAP_TYPE_HASH, QASM_XDP_MAX_FLOWS,
             struct qasm_xdp_fkey, struct qasm_xdp_flow, 0);

/* An array: a flow names its entry's slot (struct qasm_xdp_ref), no second hash. */
QASM_BPF_MAP(entries, BPF_MAP_TYPE_ARRAY, QASM_XDP_MAX_ENTRIES, __u32, struct qasm_xdp_entry, 0);

/* Entry key -> slot: for a migration's first packet, which knows the connection by its DCID. */
QASM_BPF_MAP(slots, BPF_MAP_TYPE_HASH, QASM_XDP_MAX_ENTRIES,
             struct qasm_xdp_ekey, struct qasm_xdp_ref, 0);

QASM_BPF_MAP(dcids, BPF_MAP_TYPE_HASH, QASM_XDP_MAX_DCIDS,
             struct qasm_xdp_cid, struct qasm_xdp_ekey, 0);

QASM_BPF_MAP(attested, BPF_MAP_TYPE_HASH, QASM_XDP_MAX_ATTESTED, struct qasm_xdp_attest, __u64, 0);

QASM_BPF_MAP(servers, BPF_MAP_TYPE_HASH, QASM_XDP_MAX_SERVERS, struct qasm_xdp_srv, __u32, 0);

QASM_BPF_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, QASM_XDP_C_MAX, __u32, __u64, 0);

QASM_BPF_MAP(fwd, BPF_MAP_TYPE_ARRAY, 1, __u32, struct qasm_xdp_fwd, 0);

QASM_BPF_MAP(gen, BPF_MAP_TYPE_ARRAY, 1, __u32, struct qasm_xdp_gen, 0);

QASM_BPF_MAP(gen_count, BPF_MAP_TYPE_PERCPU_ARRAY, QASM_XDP_GEN_MAX, __u32, __u64, 0);

/* Per-CPU scratch for the migration's keys and values (the BPF stack is 512 bytes). */
struct scratch {
    struct qasm_xdp_flow fwd;
    struct qasm_xdp_flow rv;
    struct qasm_xdp_fkey rk;
    struct qasm_xdp_attest ak;
    struct qasm_xdp_ekey ek;
    struct qasm_xdp_ref ref;
};

QASM_BPF_MAP(scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct scratch, 0);

struct vlan_tag {
    __be16 tci;
    __be16 proto;
};

/* A parsed frame: the views the program writes through, and the packet's 5-tuple. */
struct frame {
    struct ethhdr *eth;
    struct iphdr *ip4;    /* one of ip4 / ip6 */
    struct ipv6hdr *ip6;
    struct udphdr *udp;
    __u8 *payload;        /* the UDP payload (first byte checked to be in the frame) */
    __u32 plen;           /* UDP payload length (from the UDP header) */
    __u32 vlan;           /* the frame carries an 802.1Q / 802.1ad tag */
    struct qasm_xdp_fkey key;
};

#define count(c) qasm_bpf_count(&counters, (c))

static __always_inline int pass(__u32 c)
{
    count(c);
    return XDP_PASS;
}

/* ---- parse: a bounds check at every boundary ---- */

/* Ethernet, at most one VLAN tag: the EtherType and the L3 header, or 0 (PASS). */
static __always_inline __u16 parse_eth(void *data, void *end, struct frame *f, void **l3)
{
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return 0;
    f->eth = eth;
    __u16 proto = eth->h_proto;
    void *p = eth + 1;
    if (proto == bpf_htons(ETH_P_8021Q_) || proto == bpf_htons(ETH_P_8021AD_)) {
        struct vlan_tag *v = p;
        if ((void *)(v + 1) > end)
            return 0;
        proto = v->proto;
        p = v + 1;
        f->vlan = 1;
    }
    *l3 = p;
    return proto;
}

/* IPv4 then UDP: 0, or the counter that says why the frame goes up. */
static __always_inline int parse_ip4(void *l3, void *end, struct frame *f)
{
    struct iphdr *ip = l3;
    if ((void *)(ip + 1) > end)
        return QASM_XDP_C_PASS_MALFORMED;
    __u32 ihl = ip->ihl * 4;
    if (ip->version != 4 || ihl < sizeof(*ip))
        return QASM_XDP_C_PASS_MALFORMED;
    if (ip->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_))
        return QASM_XDP_C_PASS_FRAGMENT;
    if (ip->protocol != IPPROTO_UDP)
        return QASM_XDP_C_PASS_NOT_UDP;
    if (ip->ttl <= 1)
        return QASM_XDP_C_PASS_TTL;
    struct udphdr *udp = l3 + ihl;
    if ((void *)(udp + 1) > end)
        return QASM_XDP_C_PASS_MALFORMED;
    __u32 tot = bpf_ntohs(ip->tot_len), ulen = bpf_ntohs(udp->len);
    if (tot < ihl + sizeof(*udp) || (void *)ip + tot > end || ulen != tot - ihl)
        return QASM_XDP_C_PASS_MALFORMED;
    f->ip4 = ip;
    f->udp = udp;
    __builtin_memcpy(f->key.saddr, &ip->saddr, 4);
    __builtin_memcpy(f->key.daddr, &ip->daddr, 4);
    f->key.family = AF_INET;
    return 0;
}

/* IPv6 (UDP as the next header: extension headers go up) then UDP. */
static __always_inline int parse_ip6(void *l3, void *end, struct frame *f)
{
    struct ipv6hdr *ip = l3;
    if ((void *)(ip + 1) > end)
        return QASM_XDP_C_PASS_MALFORMED;
    if (ip->version != 6)
        return QASM_XDP_C_PASS_MALFORMED;
    if (ip->nexthdr != IPPROTO_UDP)
        return ip->nexthdr == IPPROTO_FRAGMENT || ip->nexthdr == IPPROTO_HOPOPTS ||
                               ip->nexthdr == IPPROTO_ROUTING || ip->nexthdr == IPPROTO_DSTOPTS
                       ? QASM_XDP_C_PASS_FRAGMENT : QASM_XDP_C_PASS_NOT_UDP;
    if (ip->hop_limit <= 1)
        return QASM_XDP_C_PASS_TTL;
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end)
        return QASM_XDP_C_PASS_MALFORMED;
    __u32 plen = bpf_ntohs(ip->payload_len), ulen = bpf_ntohs(udp->len);
    if ((void *)(udp) + plen > end || ulen != plen || ulen < sizeof(*udp))
        return QASM_XDP_C_PASS_MALFORMED;
    f->ip6 = ip;
    f->udp = udp;
    __builtin_memcpy(f->key.saddr, &ip->saddr, 16);
    __builtin_memcpy(f->key.daddr, &ip->daddr, 16);
    f->key.family = AF_INET6;
    return 0;
}

/* IP and UDP after the Ethernet header at |l3| (|is6| a constant: one copy per family). */
static __always_inline int parse(struct xdp_md *ctx, struct frame *f, void *l3, const int is6)
{
    void *end = (void *)(long)ctx->data_end;
    int rc = is6 ? parse_ip6(l3, end, f) : parse_ip4(l3, end, f);
    if (rc)
        return rc;
    struct udphdr *udp = f->udp;
    f->key.sport = udp->source;
    f->key.dport = udp->dest;
    f->plen = bpf_ntohs(udp->len) - sizeof(*udp);
    f->payload = (__u8 *)(udp + 1);
    return 0;
}

/* ---- rewrite ---- */

struct target {
    __u8 saddr[16];
    __u8 daddr[16];
    __u16 sport;
    __u16 dport;
} __attribute__((aligned(8))); /* its addresses compared by same16_a8 */

/*
 * Two 16-byte addresses equal, both known 8-byte aligned (a field at a
 * multiple of 8 in an 8-aligned struct: the entry's client, the next hop's
 * and a target's daddr, a frame key's saddr): two 64-bit loads each, where
 * qasm_bpf_same16 (any alignment) loads bytes and shifts them together; on
 * the steady path of every packet.
 */
static __always_inline int same16_a8(const __u8 *a, const __u8 *b)
{
    __u64 a0, a1, b0, b1;
    const __u8 *pa = __builtin_assume_aligned(a, 8), *pb = __builtin_assume_aligned(b, 8);
    __builtin_memcpy(&a0, pa, 8);
    __builtin_memcpy(&a1, pa + 8, 8);
    __builtin_memcpy(&b0, pb, 8);
    __builtin_memcpy(&b1, pb + 8, 8);
    return a0 == b0 && a1 == b1;
}
_Static_assert(__builtin_offsetof(struct frame, key) % 8 == 0, "same16_a8: frame key");
_Static_assert(__builtin_offsetof(struct qasm_xdp_entry, client) % 8 == 0, "same16_a8: client");
_Static_assert((__builtin_offsetof(struct qasm_xdp_flow, nh) +
                __builtin_offsetof(struct qasm_xdp_nh, daddr)) % 8 == 0, "same16_a8: next hop");

/* Writes |t| into the frame, fixes the checksums, decrements the TTL / hop limit (|dec|). */
static __always_inline void rewrite(struct frame *f, const struct target *t, const int is6,
                                    int dec)
{
    struct udphdr *udp = f->udp;
    __u32 acc = 0;
    if (!is6) {
        struct iphdr *ip = f->ip4;
        acc = qasm_bpf_csum_diff16(acc, &ip->saddr, t->saddr, 2);
        acc = qasm_bpf_csum_diff16(acc, &ip->daddr, t->daddr, 2);
        __u16 *ttlw = (__u16 *)&ip->ttl, oldw = *ttlw;
        __builtin_memcpy(&ip->saddr, t->saddr, 4);
        __builtin_memcpy(&ip->daddr, t->daddr, 4);
        ip->ttl -= dec ? 1 : 0;
        ip->check = qasm_bpf_csum_apply(ip->check, qasm_bpf_csum_diff16(acc, &oldw, ttlw, 1));
    } else {
        struct ipv6hdr *ip = f->ip6;
        acc = qasm_bpf_csum_diff16(acc, &ip->saddr, t->saddr, 8);
        acc = qasm_bpf_csum_diff16(acc, &ip->daddr, t->daddr, 8);
        __builtin_memcpy(&ip->saddr, t->saddr, 16);
        __builtin_memcpy(&ip->daddr, t->daddr, 16);
        ip->hop_limit -= dec ? 1 : 0;
    }
    acc = qasm_bpf_csum_diff16(acc, &udp->source, &t->sport, 1);
    acc = qasm_bpf_csum_diff16(acc, &udp->dest, &t->dport, 1);
    udp->source = t->sport;
    udp->dest = t->dport;
    /* IPv4 UDP may go without a checksum (0); IPv6 UDP never does, and 0 is written 0xffff. */
    if (udp->check || is6) {
        __u16 c = qasm_bpf_csum_apply(udp->check, acc);
        udp->check = c ? c : 0xffff;
    }
}

/* ---- forwarding: the flow's next hop, cached ---- */

/* The packet's IP length (what the FIB's MTU check compares). */
static __always_inline __u16 ip_len(const struct frame *f, const int is6)
{
    return is6 ? bpf_ntohs(f->ip6->payload_len) + sizeof(struct ipv6hdr)
               : bpf_ntohs(f->ip4->tot_len);
}

/* The FIB and neighbour lookup for the rewritten destination, into the flow's cache |nh|:
 * 0, or the counter of the reason the frame goes up unchanged (the cache then cleared). */
static __always_inline int fib_ask(struct xdp_md *ctx, const struct qasm_xdp_cfg *cfg,
                                   const struct frame *f, const struct target *t,
                                   struct qasm_xdp_nh *nh, __u64 now, const int is6)
{
    struct bpf_fib_lookup fib = {};
    fib.ifindex = cfg->fib_ifindex ? cfg->fib_ifindex : ctx->ingress_ifindex;
    fib.l4_protocol = IPPROTO_UDP;
    fib.sport = t->sport;
    fib.dport = t->dport;
    if (!is6) {
        fib.family = AF_INET;
        fib.tos = f->ip4->tos;
        fib.tot_len = bpf_ntohs(f->ip4->tot_len);
        __builtin_memcpy(&fib.ipv4_src, t->saddr, 4);
        __builtin_memcpy(&fib.ipv4_dst, t->daddr, 4);
    } else {
        fib.family = AF_INET6;
        fib.tot_len = bpf_ntohs(f->ip6->payload_len);
        __builtin_memcpy(fib.ipv6_src, t->saddr, 16);
        __builtin_memcpy(fib.ipv6_dst, t->daddr, 16);
    }
    count(QASM_XDP_C_FIB_LOOKUP);
    if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS) {
        nh->at = 0;
        return QASM_XDP_C_PASS_NO_ROUTE;
    }
    /* Another CPU may refresh the same flow at once: both write what the FIB said. */
    nh->ifindex = fib.ifindex;
    nh->len = ip_len(f, is6);
    __builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
    __builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
    __builtin_memcpy(nh->daddr, t->daddr, 16);
    nh->at = now;
    return 0;
}

/*
 * Where the rewritten frame goes: the flow's cached next hop while it is
 * younger than nh_ttl_ns, for the same destination and a packet no longer
 * than it was checked for; else the FIB is asked (bpf_fib_lookup, ~35 ns:
 * the cache is what keeps a known flow under 100 ns). 0, or the counter of
 * the reason the frame goes up unchanged.
 */
static __always_inline int route(struct xdp_md *ctx, const struct qasm_xdp_cfg *cfg,
                                 const struct frame *f, const struct target *t,
                                 struct qasm_xdp_nh *nh, __u64 now, const int is6)
{
    if (cfg->no_fib)
        return 0;
    if (!nh->at || now >= nh->at + cfg->nh_ttl_ns || ip_len(f, is6) > nh->len ||
        !same16_a8(nh->daddr, t->daddr)) {
        int rc = fib_ask(ctx, cfg, f, t, nh, now, is6);
        if (rc)
            return rc;
    }
    /* A tagged frame keeps its tag: only right back out of the interface it came in on. */
    if (f->vlan && nh->ifindex != ctx->ingress_ifindex)
        return QASM_XDP_C_PASS_VLAN;
    return 0;
}

/* Sends the rewritten frame to next hop |nh|: the XDP action. */
static __always_inline int send(struct xdp_md *ctx, const struct qasm_xdp_cfg *cfg,
                                struct frame *f, const struct qasm_xdp_nh *nh)
{
    if (cfg->no_fib) {
        count(QASM_XDP_C_TX);
        return XDP_TX;
    }
    __builtin_memcpy(f->eth->h_dest, nh->dmac, ETH_ALEN);
    __builtin_memcpy(f->eth->h_source, nh->smac, ETH_ALEN);
    if (nh->ifindex == ctx->ingress_ifindex) {
        count(QASM_XDP_C_TX);
        return XDP_TX;
    }
    count(QASM_XDP_C_FORWARDED);
    return bpf_redirect(nh->ifindex, 0);
}

/* ---- the rate limiter's bucket: GCRA, lock-free (xdp_maps.h, QASM_XDP_RL_SHIFT) ---- */

/*
 * Takes |cost| tokens from the entry's bucket at |now|: 1 taken, 0 refused
 * (nothing changes), -1 the bucket changed under every one of
 * QASM_XDP_RL_TRIES compare-and-swaps (other CPUs took from it meanwhile).
 * No division, no lock: a packet that loses a race re-reads the bucket and
 * decides again, at its own arrival time.
 */
static __always_inline int bucket_take(struct qasm_xdp_entry *e, const struct qasm_xdp_cfg *cfg,
                                       __u64 cost, __u64 now)
{
    __u64 inc = cost * cfg->rl_interval, tau = cfg->rl_tolerance;
    if (!inc)
        return 1;
    if (cfg->clock_ns)
        now = cfg->clock_ns;
    __u64 t = now << QASM_XDP_RL_SHIFT;
    __u64 tat = *(volatile __u64 *)&e->rl_tat;
#pragma unroll
    for (int i = 0; i < QASM_XDP_RL_TRIES; i++) {
        __u64 owed = tat - t; /* wraps: a signed difference, see xdp_maps.h */
        if (owed >= QASM_XDP_RL_HORIZON) /* tat <= now: full; or idle past the horizon */
            owed = 0;
        if (owed + inc > tau)
            return 0;
        __u64 seen = __sync_val_compare_and_swap(&e->rl_tat, tat, t + owed + inc);
        if (seen == tat)
            return 1;
        tat = seen;
    }
    return -1;
}

/* ---- the flows ---- */

/* The target of a known flow: its rewrite (NAT return: the entry's latest client). */
static __always_inline void flow_target(const struct qasm_xdp_flow *fl, struct qasm_xdp_entry *e,
                                        struct target *t)
{
    __builtin_memcpy(t->saddr, fl->saddr, 16);
    __builtin_memcpy(t->daddr, fl->daddr, 16);
    t->sport = fl->sport;
    t->dport = fl->dport;
    if (fl->flags & QASM_XDP_F_DST_CLIENT) {
        bpf_spin_lock(&e->lock);
        __builtin_memcpy(t->daddr, e->client, 16);
        t->dport = e->client_port;
        bpf_spin_unlock(&e->lock);
    }
}

/*
 * NAT: a connection's return traffic goes to the client 5-tuple that sent
 * last (the core's "latest client address"): a packet on another of the
 * connection's flows moves it back there.
 */
static __always_inline void nat_latest(const struct qasm_xdp_cfg *cfg, const struct frame *f,
                                       const struct qasm_xdp_flow *fl, struct qasm_xdp_entry *e)
{
    if (cfg->function != QASM_XDP_NAT || f->key.dir != QASM_XDP_FROM_CLIENT ||
        fl->entry.kind != QASM_XDP_E_CONN)
        return;
    if (e->client_port == f->key.sport && same16_a8(e->client, f->key.saddr))
        return; /* an unlocked read: at worst the write below happens once more */
    bpf_spin_lock(&e->lock);
    __builtin_memcpy(e->client, f->key.saddr, 16);
    e->client_port = f->key.sport;
    bpf_spin_unlock(&e->lock);
}

/* The live entry |ref| names, or NULL (its slot freed, maybe handed to another entry since). */
static __always_inline struct qasm_xdp_entry *entry_of(const struct qasm_xdp_ref *ref)
{
    struct qasm_xdp_entry *e = bpf_map_lookup_elem(&entries, &ref->slot);
    if (!e || e->gen != ref->gen)
        return 0;
    return e;
}

/* Applies a found flow: bucket, rewrite, forward. The XDP action. */
static __always_inline int apply(struct xdp_md *ctx, const struct qasm_xdp_cfg *cfg,
                                 struct frame *f, struct qasm_xdp_flow *fl, const int is6)
{
    struct qasm_xdp_entry *e = entry_of(&fl->ref);
    if (!e)
        return pass(QASM_XDP_C_PASS_NEW); /* swept meanwhile: the core decides again */
    struct target t;
    flow_target(fl, e, &t);
    /* Route first: without a route or a neighbour the unchanged frame goes up. */
    __u64 now = bpf_ktime_get_ns();
    int rc = route(ctx, cfg, f, &t, &fl->nh, now, is6);
    if (rc)
        return pass(rc);
    if (cfg->function == QASM_XDP_RATELIMIT) {
        int took = bucket_take(e, cfg, cfg->rl_bytes ? f->plen : 1, now);
        if (took <= 0) {
            count(took ? QASM_XDP_C_RL_CONTENDED : QASM_XDP_C_RATE_LIMITED);
            return XDP_DROP;
        }
    }
    fl->last_seen = now;
    fl->packets++;
    e->last_seen = now;
    nat_latest(cfg, f, fl, e);
    rewrite(f, &t, is6, !cfg->keep_ttl);
    return send(ctx, cfg, f, &fl->nh);
}

/* ---- migration (aware modes): a known connection's DCID from a new 5-tuple ---- */

/* The DCID of a short header, with the server's CID length: 0, or -1 when unreadable. */
static __always_inline int short_dcid(struct xdp_md *ctx, struct frame *f, __u32 len,
                                      struct qasm_xdp_cid *cid)
{
    void *end = (void *)(long)ctx->data_end;
    if (len == 0 || len > 20)
        return -1;
    cid->len = (__u8)len;
#pragma unroll
    for (int i = 0; i < 20; i++) {
        __u8 *b = f->payload + 1 + i;
        if (i >= (int)len)
            break;
        if ((void *)(b + 1) > end)
            return -1;
        cid->data[i] = *b;
    }
    return 0;
}

/* Stores |key| -> |val| (a new flow); counts a full table. */
static __always_inline void flow_store(const struct qasm_xdp_fkey *key,
                                       const struct qasm_xdp_flow *val)
{
    if (bpf_map_update_elem(&flows, key, val, BPF_ANY) != 0)
        count(QASM_XDP_C_FLOW_FULL);
}

/* The flows of the new path of connection |sc->ek| (entry |e|): client side, and the
 * return side for RL / LB (the NAT's return flow is keyed on its public port). */
static __always_inline void migrate_store(const struct qasm_xdp_cfg *cfg, const struct frame *f,
                                          struct scratch *sc, struct qasm_xdp_entry *e)
{
    struct qasm_xdp_flow *fwd = &sc->fwd;
    __builtin_memset(fwd, 0, sizeof(*fwd));
    fwd->entry = sc->ek;
    fwd->ref = sc->ref;
    /* Seen now (both flows): the packet may yet be dropped by the bucket, and the sweep
     * removes a flow last seen at 0, and with the return flow the server's answers. */
    fwd->last_seen = bpf_ktime_get_ns();
    __builtin_memcpy(fwd->saddr, f->key.saddr, 16);
    __builtin_memcpy(fwd->daddr, f->key.daddr, 16);
    fwd->sport = f->key.sport;
    fwd->dport = f->key.dport;
    if (cfg->function == QASM_XDP_NAT) {
        __builtin_memcpy(fwd->saddr, e->hop, 16);
        fwd->sport = e->hop_port;
        bpf_spin_lock(&e->lock);
        __builtin_memcpy(e->client, f->key.saddr, 16);
        e->client_port = f->key.sport;
        bpf_spin_unlock(&e->lock);
    } else if (cfg->function == QASM_XDP_LB) {
        __builtin_memcpy(fwd->daddr, e->hop, 16);
        fwd->dport = e->hop_port;
    }
    flow_store(&f->key, fwd);
    if (cfg->function == QASM_XDP_NAT)
        return;
    struct qasm_xdp_fkey *rk = &sc->rk;
    struct qasm_xdp_flow *rv = &sc->rv;
    __builtin_memset(rk, 0, sizeof(*rk));
    *rv = *fwd;
    __builtin_memcpy(rk->saddr, fwd->daddr, 16);
    __builtin_memcpy(rk->daddr, f->key.saddr, 16);
    rk->sport = fwd->dport;
    rk->dport = f->key.sport;
    rk->family = f->key.family;
    rk->dir = QASM_XDP_FROM_SERVER;
    /* Back to the client as it sent: from the address it sent to (the LB's VIP). */
    __builtin_memcpy(rv->saddr, f->key.daddr, 16);
    __builtin_memcpy(rv->daddr, f->key.saddr, 16);
    rv->sport = f->key.dport;
    rv->dport = f->key.sport;
    flow_store(rk, rv);
}

/*
 * A new 5-tuple from the client side in an aware mode: 0 when its flows were
 * stored (a migration to an attested address), -2 a known DCID from an
 * unattested address, -1 anything else (a new flow for the core).
 */
static __always_inline int try_migrate(struct xdp_md *ctx, const struct qasm_xdp_cfg *cfg,
                                       struct frame *f)
{
    void *end = (void *)(long)ctx->data_end;
    __u32 zero = 0;
    struct scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
    if (!sc || (void *)(f->payload + 1) > end || f->plen == 0)
        return -1;
    struct qasm_xdp_srv sk = {};
    __builtin_memcpy(sk.addr, f->key.daddr, 16);
    sk.port = f->key.dport;
    sk.family = f->key.family;
    __u32 *cidlen = bpf_map_lookup_elem(&servers, &sk);
    struct qasm_xdp_cid cid = {};
    if (!cidlen || short_dcid(ctx, f, *cidlen, &cid) < 0)
        return -1;
    struct qasm_xdp_ekey *ek = bpf_map_lookup_elem(&dcids, &cid);
    if (!ek)
        return -1;
    sc->ek = *ek;
    struct qasm_xdp_attest *ak = &sc->ak;
    __builtin_memset(ak, 0, sizeof(*ak));
    ak->conn = sc->ek;
    __builtin_memcpy(ak->addr, f->key.saddr, 16);
    ak->port = f->key.sport;
    ak->family = f->key.family;
    if (!bpf_map_lookup_elem(&attested, ak))
        return -2;
    struct qasm_xdp_ref *ref = bpf_map_lookup_elem(&slots, &sc->ek);
    if (!ref)
        return -1;
    sc->ref = *ref;
    struct qasm_xdp_entry *e = entry_of(&sc->ref);
    if (!e)
        return -1;
    migrate_store(cfg, f, sc, e);
    count(QASM_XDP_C_MIGRATED);
    return 0;
}

/* Everything after the Ethernet header, for one family (|is6| a constant). */
static __always_inline int handle(struct xdp_md *ctx, const struct qasm_xdp_cfg *cfg,
                                  struct frame *f, void *l3, const int is6)
{
    int rc = parse(ctx, f, l3, is6);
    if (rc)
        return pass(rc);
    void *end = (void *)(long)ctx->data_end;
    /* Aware modes: a long header goes up (the core learns CID lengths and O-DCIDs from them). */
    if (cfg->aware && f->plen > 0 && (void *)(f->payload + 1) <= end && (f->payload[0] & 0x80))
        return pass(QASM_XDP_C_PASS_LONG);
    struct qasm_xdp_flow *fl = bpf_map_lookup_elem(&flows, &f->key);
    if (!fl && cfg->aware && f->key.dir == QASM_XDP_FROM_CLIENT) {
        rc = try_migrate(ctx, cfg, f);
        if (rc == -2)
            return pass(QASM_XDP_C_PASS_UNATTESTED);
        if (rc == 0)
            fl = bpf_map_lookup_elem(&flows, &f->key);
    }
    if (!fl)
        return pass(QASM_XDP_C_PASS_NEW);
    return apply(ctx, cfg, f, fl, is6);
}

SEC("xdp")
int qasm_xdp(struct xdp_md *ctx)
{
    __u32 zero = 0;
    const struct qasm_xdp_cfg *cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg)
        return XDP_PASS;
    count(QASM_XDP_C_RX);
    struct frame f = {};
    if (ctx->ingress_ifindex == cfg->ifindex_in)
        f.key.dir = QASM_XDP_FROM_CLIENT;
    else if (ctx->ingress_ifindex == cfg->ifindex_out)
        f.key.dir = QASM_XDP_FROM_SERVER;
    else
        return pass(QASM_XDP_C_PASS_OTHER_IF);
    void *l3 = 0;
    __u16 proto = parse_eth((void *)(long)ctx->data, (void *)(long)ctx->data_end, &f, &l3);
    if (proto == bpf_htons(ETH_P_IP))
        return handle(ctx, cfg, &f, l3, 0);
    if (proto == bpf_htons(ETH_P_IPV6))
        return handle(ctx, cfg, &f, l3, 1);
    return pass(proto ? QASM_XDP_C_PASS_NOT_IP : QASM_XDP_C_PASS_MALFORMED);
}

/*
 * The slow path's charge (struct qasm_xdp_charge, run by userspace with
 * BPF_PROG_TEST_RUN): a packet the core decided to forward takes its tokens
 * from the bucket of the connection's slot through bucket_take, at
 * bpf_ktime_get_ns as the XDP program would (the configuration's clock_ns
 * in the tests), so both paths draw on one budget. Counted by userspace.
 */
SEC("syscall")
int qasm_xdp_rl_charge(struct qasm_xdp_charge *ctx)
{
    __u32 zero = 0;
    struct qasm_xdp_ref ref = ctx->ref;
    __u64 cost = ctx->cost;
    const struct qasm_xdp_cfg *cfg = bpf_map_lookup_elem(&config, &zero);
    struct qasm_xdp_entry *e = entry_of(&ref);
    if (!cfg || !e)
        return QASM_XDP_CHARGE_GONE;
    __u64 now = bpf_ktime_get_ns();
    int took = bucket_take(e, cfg, cost, now);
    if (took < 0)
        return QASM_XDP_CHARGE_CONTENDED;
    if (!took)
        return QASM_XDP_CHARGE_LIMITED;
    e->last_seen = now;
    return QASM_XDP_CHARGE_ALLOWED;
}

/* A program that passes everything: for the far ends of veth pairs (docs/XDP.md, testbed). */
SEC("xdp")
int qasm_xdp_pass(struct xdp_md *ctx)
{
    (void)ctx;
    return XDP_PASS;
}

/*
 * The bare forwarder, the floor of the cost benchmark (qasm-xdp-bench): no
 * parse beyond Ethernet, no lookup but its one configuration; it rewrites
 * the MACs and redirects every frame to `fwd`'s interface.
 */
SEC("xdp")
int qasm_xdp_fwd(struct xdp_md *ctx)
{
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = (void *)(long)ctx->data;
    __u32 zero = 0;
    const struct qasm_xdp_fwd *fw = bpf_map_lookup_elem(&fwd, &zero);
    if ((void *)(eth + 1) > end || !fw || !fw->ifindex)
        return XDP_PASS;
    __builtin_memcpy(eth->h_dest, fw->dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fw->smac, ETH_ALEN);
    return bpf_redirect(fw->ifindex, 0);
}

/*
 * The hop benchmark's generator (qasm-xdp-hopgen): run by BPF_PROG_TEST_RUN
 * with live frames on the client's interface, it sends its IPv4 UDP frame
 * back out (XDP_TX) towards the hop, each time from the next of `gen`'s
 * source ports (several flows), its headers written afresh from `gen`
 * (the frame's page comes back as the hop left it: rewritten, TTL
 * decremented); the UDP checksum is left out (0, allowed over IPv4), so a
 * new port needs no checksum update; with `dcid_per_flow` the flow's index
 * goes into its DCID's last two bytes as well (a payload change: no checksum).
 */
SEC("xdp")
int qasm_xdp_gen(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    __u32 zero = 0, sent = QASM_XDP_GEN_SENT;
    const struct qasm_xdp_gen *g = bpf_map_lookup_elem(&gen, &zero);
    __u64 *n = bpf_map_lookup_elem(&gen_count, &sent);
    if (data + QASM_XDP_GEN_HEAD > end || !g || !n || !g->flows)
        return XDP_DROP;
    __builtin_memcpy(data, g->head, QASM_XDP_GEN_HEAD);
    struct udphdr *udp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
    __u16 flow = (__u16)(*n % g->flows);
    if (g->vary_dst)
        udp->dest = bpf_htons((__u16)(g->port0 + flow));
    else
        udp->source = bpf_htons((__u16)(g->port0 + flow));
    udp->check = 0;
    __u8 *idx = data + QASM_XDP_GEN_DCID_IDX;
    if (g->dcid_per_flow && (void *)(idx + 2) <= end) {
        idx[0] = (__u8)(flow >> 8);
        idx[1] = (__u8)flow;
    }
    *n += 1;
    return XDP_TX;
}

/* The hop benchmark's sink: on the server's interface, counts every frame and drops it. */
SEC("xdp")
int qasm_xdp_sink(struct xdp_md *ctx)
{
    (void)ctx;
    qasm_bpf_count(&gen_count, QASM_XDP_GEN_SUNK);
    return XDP_DROP;
}
