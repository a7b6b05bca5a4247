/*
 * qasm_agentd.bpf.c: the eBPF client agent's programs (qasm-agentd,
 * docs/CLIENT-AGENT.md "The eBPF agent"). cgroup_skb egress and ingress,
 * attached to a cgroup v2 (the cgroup of the clients, or the root for the
 * whole host). They see every IP packet a socket of the cgroup sends or
 * receives, from the IP header on, and only read it: both return 1 (pass)
 * on every path, so the client's traffic is never dropped or changed.
 *
 * What they report to the daemon through the ring buffer `events`:
 * - egress client Initial on a new flow (the O-DCID candidate, the SCID);
 * - egress packet whose DCID is new for its flow (the handshake switch to
 *   the server's CID, a Retry, a new DCID after a migration) or whose flow
 *   is new (a new local address or port: migration, rebinding);
 * - ingress long header of a client flow with a new server SCID (its length
 *   is how short headers are parsed, as in the middleboxes).
 * Flows live in an LRU hash keyed by the local 5-tuple; per-CPU counters
 * say what was not reported and why. Short headers of known flows, nearly
 * all the traffic, take a fast path (fast() below) that reads them in place.
 *
 * They also copy the Initial packets of known client flows (after the
 * first, both ways, a quota per flow) for the daemon to decrypt: a
 * CONNECTION_CLOSE there closes the connection.
 *
 * With --prereg gnutls the daemon also attaches the uprobe pair at the end
 * of this file to gnutls_aead_cipher_decrypt (what ngtcp2's gnutls crypto
 * backend decrypts every packet with) and gets each decrypted payload's
 * first bytes, to find the spare CIDs the server issues and its
 * CONNECTION_CLOSE, and an entry uprobe to gnutls_aead_cipher_encrypt for
 * the client's own CONNECTION_CLOSE.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
/* The uprobes read x86-64 registers and the SysV stack (arguments 7..10). */
#define __TARGET_ARCH_x86
#include <asm/ptrace.h>
#include <bpf/bpf_tracing.h>
#ifndef PTRACE_SYSEMU /* x86 <asm/ptrace-abi.h> only */
#error "the --prereg uprobes are written for x86-64 (registers, stack offsets)"
#endif

#include "agentd/agentd_ev.h"
#include "middleboxes/bpf/qasm_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define HDR_BYTES 64 /* enough for a long header's first byte, version, both CIDs */

QASM_BPF_MAP(flows, BPF_MAP_TYPE_LRU_HASH, QASM_AGENTD_MAX_FLOWS,
             struct qasm_agentd_fkey, struct qasm_agentd_flow, 0);

QASM_BPF_MAP(servers, BPF_MAP_TYPE_LRU_HASH, QASM_AGENTD_MAX_SERVERS,
             struct qasm_agentd_skey, __u8, 0);

QASM_BPF_MAP(cands, BPF_MAP_TYPE_LRU_HASH, QASM_AGENTD_MAX_SERVERS,
             struct qasm_agentd_fkey, struct qasm_agentd_cand, 0);

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, QASM_AGENTD_RINGBUF_BYTES);
} events SEC(".maps");

QASM_BPF_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, QASM_AGENTD_C_MAX, __u32, __u64, 0);

/* A parsed UDP packet: its local 5-tuple and the first bytes of its payload. */
struct pkt {
    struct qasm_agentd_fkey key;
    __u32 plen;            /* UDP payload length */
    __u32 off;             /* where the UDP payload starts in the skb */
    __u32 n;               /* bytes of hdr read */
    __u8 hdr[HDR_BYTES];   /* the payload's first bytes, zero after n */
};

#define count(c) qasm_bpf_count(&counters, (c))

static __always_inline void put_addrs(struct pkt *p, const void *src, const void *dst, __u32 len,
                                      int egress)
{
    if (egress) {
        __builtin_memcpy(p->key.lip, src, 16);
        __builtin_memcpy(p->key.rip, dst, 16);
    } else {
        __builtin_memcpy(p->key.lip, dst, 16);
        __builtin_memcpy(p->key.rip, src, 16);
    }
    if (len == 4) { /* only the first 4 bytes were meaningful */
        __builtin_memset(p->key.lip + 4, 0, 12);
        __builtin_memset(p->key.rip + 4, 0, 12);
    }
}

/* IP and UDP headers: the offset of the UDP header, or < 0 (counted). */
static __always_inline int parse_ip(struct __sk_buff *skb, struct pkt *p, int egress)
{
    __u8 a[32] = {};

    if (skb->protocol == bpf_htons(ETH_P_IP)) {
        struct iphdr ip;
        if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
            return -QASM_AGENTD_C_TRUNCATED;
        if (ip.protocol != IPPROTO_UDP || (ip.frag_off & bpf_htons(IP_MF_ | IP_OFFSET_)))
            return -QASM_AGENTD_C_NOT_UDP;
        __builtin_memcpy(a, &ip.saddr, 4);
        __builtin_memcpy(a + 16, &ip.daddr, 4);
        p->key.family = AF_INET;
        put_addrs(p, a, a + 16, 4, egress);
        return ip.ihl * 4;
    }
    if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr ip6;
        if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0)
            return -QASM_AGENTD_C_TRUNCATED;
        if (ip6.nexthdr != IPPROTO_UDP) /* extension headers: not followed */
            return -QASM_AGENTD_C_NOT_UDP;
        p->key.family = AF_INET6;
        put_addrs(p, &ip6.saddr, &ip6.daddr, 16, egress);
        return sizeof(ip6);
    }
    return -QASM_AGENTD_C_NOT_UDP;
}

/* The whole parse: 0, or the counter that says why the packet is not looked at. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p, int egress)
{
    struct udphdr udp;
    int off = parse_ip(skb, p, egress);

    if (off < 0)
        return -off;
    if (off < 20 || off > 60 || bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)) < 0)
        return QASM_AGENTD_C_TRUNCATED;
    count(QASM_AGENTD_C_PACKETS);
    p->key.lport = bpf_ntohs(egress ? udp.source : udp.dest);
    p->key.rport = bpf_ntohs(egress ? udp.dest : udp.source);
    off += sizeof(udp);
    if (skb->len <= (__u32)off)
        return QASM_AGENTD_C_NOT_QUIC; /* empty datagram */
    p->plen = skb->len - off;
    p->off = (__u32)off;
    __u64 n = p->plen < HDR_BYTES ? p->plen : HDR_BYTES;
    /* Make clang test and pass the same register, so the verifier sees n bounded. */
    asm volatile("" : "+r"(n));
    if (n < 1 || n > HDR_BYTES || bpf_skb_load_bytes(skb, off, p->hdr, n) < 0)
        return QASM_AGENTD_C_TRUNCATED;
    p->n = (__u32)n;
    /* The fixed bit (0x40) is not checked: peers that negotiated grease_quic_bit
     * (RFC 9287; ngtcp2 does) clear it at random, even in the server's Initial. */
    return 0;
}

/* Copies |len| (<= 20) bytes at hdr[off..] into |dst| (the verifier sees every index bounded). */
static __always_inline void cid_copy(__u8 *dst, const __u8 *hdr, __u32 off, __u32 len)
{
    for (__u32 i = 0; i < QASM_AGENTD_CID_MAX; i++)
        dst[i] = i < len ? hdr[(off + i) & (HDR_BYTES - 1)] : 0;
}

static __always_inline int cid_eq(const __u8 *a, __u32 alen, const __u8 *b, __u32 blen)
{
    if (alen != blen)
        return 0;
    for (__u32 i = 0; i < QASM_AGENTD_CID_MAX; i++)
        if (i < alen && a[i] != b[i])
            return 0;
    return 1;
}

/* A long header's CIDs: 0, or the counter (not QUIC, truncated). */
static __always_inline int long_cids(const struct pkt *p, struct qasm_agentd_ev *ev)
{
    __u32 dlen = p->hdr[5], slen;

    ev->version = ((__u32)p->hdr[1] << 24) | ((__u32)p->hdr[2] << 16) |
                  ((__u32)p->hdr[3] << 8) | p->hdr[4];
    if (ev->version == 0) /* version negotiation */
        return QASM_AGENTD_C_NOT_QUIC;
    if (dlen > QASM_AGENTD_CID_MAX)
        return QASM_AGENTD_C_NOT_QUIC;
    slen = p->hdr[(6 + dlen) & (HDR_BYTES - 1)];
    if (slen > QASM_AGENTD_CID_MAX)
        return QASM_AGENTD_C_NOT_QUIC;
    if (7 + dlen + slen > p->n)
        return QASM_AGENTD_C_TRUNCATED;
    ev->flags |= QASM_AGENTD_F_LONG;
    ev->dcid_len = (__u8)dlen;
    ev->scid_len = (__u8)slen;
    cid_copy(ev->dcid, p->hdr, 6, dlen);
    cid_copy(ev->scid, p->hdr, 7 + dlen, slen);
    return 0;
}

static __always_inline void emit(struct __sk_buff *skb, struct qasm_agentd_ev *ev, __u8 kind,
                                 const struct pkt *p)
{
    ev->kind = kind;
    ev->first = p->hdr[0];
    ev->ts_ns = bpf_ktime_get_ns();
    ev->cookie = bpf_get_socket_cookie(skb);
    ev->uid = bpf_get_socket_uid(skb);
    ev->flow = p->key;
    if (bpf_ringbuf_output(&events, ev, sizeof(*ev), 0) == 0)
        count(QASM_AGENTD_C_EVENTS);
    else
        count(QASM_AGENTD_C_RINGBUF_FULL);
}

/* Signed: the fast path's coarse clock may be a tick behind a time the slow path wrote. */
static __always_inline void touch(struct qasm_agentd_flow *f, __u64 now)
{
    if ((__s64)(now - f->last_ns) > (__s64)QASM_AGENTD_TOUCH_NS)
        f->last_ns = now;
}

static __always_inline void server_key(struct qasm_agentd_skey *sk, const struct pkt *p)
{
    __builtin_memset(sk, 0, sizeof(*sk));
    sk->family = p->key.family;
    sk->port = p->key.rport;
    __builtin_memcpy(sk->ip, p->key.rip, 16);
}

/* A new flow's entry: the DCID it starts with. */
static __always_inline int new_flow(const struct pkt *p, const struct qasm_agentd_ev *ev,
                                   __u8 role, __u8 dcid_len)
{
    struct qasm_agentd_flow f = {};

    f.last_ns = bpf_ktime_get_ns();
    f.role = role;
    f.dcid_len = dcid_len;
    f.cur_len = ev->dcid_len;
    __builtin_memcpy(f.cur, ev->dcid, QASM_AGENTD_CID_MAX);
    if (bpf_map_update_elem(&flows, &p->key, &f, BPF_NOEXIST) != 0) {
        count(QASM_AGENTD_C_FLOW_FULL);
        return -1;
    }
    return 0;
}

/* The Initial being copied (too big for the BPF stack). */
QASM_BPF_MAP(init_buf, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct qasm_agentd_initpkt, 0);

/* An Initial of the known client flow |f|: copied to the daemon, which decrypts it (closes). */
static __always_inline void hand_up(struct __sk_buff *skb, const struct pkt *p,
                                    struct qasm_agentd_flow *f, int egress)
{
    struct qasm_agentd_initpkt *ip;
    __u32 zero = 0;
    __u64 n;

    if (((p->hdr[0] >> 4) & 3) != 0 || f->role != QASM_AGENTD_FLOW_CLIENT)
        return;
    if (f->inits >= QASM_AGENTD_INITS_PER_FLOW) { /* quota used, or the handshake moved on */
        count(QASM_AGENTD_C_INIT_CAPPED);
        return;
    }
    f->inits++;
    ip = bpf_map_lookup_elem(&init_buf, &zero);
    if (!ip)
        return;
    n = p->plen < QASM_AGENTD_INIT_MAX ? p->plen : QASM_AGENTD_INIT_MAX;
    asm volatile("" : "+r"(n));
    if (n < 1 || n > QASM_AGENTD_INIT_MAX || bpf_skb_load_bytes(skb, p->off, ip->data, n) < 0) {
        count(QASM_AGENTD_C_TRUNCATED);
        return;
    }
    ip->ts_ns = bpf_ktime_get_ns();
    ip->kind = QASM_AGENTD_EV_INITIAL_PKT;
    ip->egress = (__u8)egress;
    ip->len = (__u16)n;
    ip->full_len = p->plen;
    ip->flow = p->key;
    if (bpf_ringbuf_output(&events, ip, sizeof(*ip), 0) == 0)
        count(QASM_AGENTD_C_INITIALS);
    else
        count(QASM_AGENTD_C_RINGBUF_FULL);
}

/* Egress long header: a client Initial opens a flow; a new DCID on a known flow is reported. */
static __always_inline void egress_long(struct __sk_buff *skb, struct pkt *p,
                                        struct qasm_agentd_ev *ev)
{
    int c = long_cids(p, ev);
    struct qasm_agentd_flow *f;

    if (c) {
        count(c);
        return;
    }
    f = bpf_map_lookup_elem(&flows, &p->key);
    if (!f) {
        if (((p->hdr[0] >> 4) & 3) != 0 || p->plen < QASM_AGENTD_MIN_INITIAL) {
            count(QASM_AGENTD_C_UNATTRIBUTED); /* not a client Initial */
            return;
        }
        if (new_flow(p, ev, QASM_AGENTD_FLOW_CLIENT, 0) == 0) {
            ev->flags |= QASM_AGENTD_F_NEW_FLOW;
            emit(skb, ev, QASM_AGENTD_EV_INITIAL, p);
        }
        return;
    }
    touch(f, ev->ts_ns);
    /* A client discards its Initial keys when it first sends a Handshake
     * packet (RFC 9001 §4.9.1): later Initials, the server's included, are
     * ignored by the client, so the daemon must not act on them either (a
     * forged late Initial CONNECTION_CLOSE would close a live record). */
    if (((p->hdr[0] >> 4) & 3) == 2 && ev->version == 1)
        f->inits = QASM_AGENTD_INITS_PER_FLOW;
    if (f->role == QASM_AGENTD_FLOW_CLIENT && !cid_eq(f->cur, f->cur_len, ev->dcid, ev->dcid_len)) {
        f->cur_len = ev->dcid_len;
        __builtin_memcpy(f->cur, ev->dcid, QASM_AGENTD_CID_MAX);
        emit(skb, ev, QASM_AGENTD_EV_DCID, p);
    }
    hand_up(skb, p, f, 1); /* after the DCID event: a Retry's SCID derives its keys */
}

/* Watches a short-header flow of an unknown server for adoption: the DCID's length, or 0. */
static __always_inline __u32 adopt_len(const struct pkt *p)
{
    struct qasm_agentd_cand *c = bpf_map_lookup_elem(&cands, &p->key);
    __u32 k = 0, match = 1, len;

    if (!c) {
        struct qasm_agentd_cand n = {};
        cid_copy(n.hdr, p->hdr, 1, QASM_AGENTD_CID_MAX);
        n.first = p->hdr[0];
        n.n = 1;
        n.prefix = p->n - 1 < QASM_AGENTD_CID_MAX ? p->n - 1 : QASM_AGENTD_CID_MAX;
        bpf_map_update_elem(&cands, &p->key, &n, BPF_NOEXIST);
        return 0;
    }
    if (c->n == QASM_AGENTD_ADOPT_REJECTED)
        return 0;
    for (__u32 i = 0; i < QASM_AGENTD_CID_MAX; i++) {
        match = match && i < c->prefix && i + 1 < p->n && p->hdr[(1 + i) & (HDR_BYTES - 1)] == c->hdr[i];
        k += match;
    }
    c->prefix = (__u8)k;
    c->varied |= p->hdr[0] != c->first;
    if (++c->n < QASM_AGENTD_ADOPT_PACKETS)
        return 0;
    len = c->prefix;
    if (!c->varied || len < QASM_AGENTD_ADOPT_MIN_CID) {
        c->n = QASM_AGENTD_ADOPT_REJECTED; /* not QUIC-like: never again */
        return 0;
    }
    bpf_map_delete_elem(&cands, &p->key);
    return len;
}

/* Egress short header: the DCID's length from the flow, or from the server on a new flow. */
static __always_inline void egress_short(struct __sk_buff *skb, struct pkt *p,
                                         struct qasm_agentd_ev *ev)
{
    struct qasm_agentd_flow *f = bpf_map_lookup_elem(&flows, &p->key);
    struct qasm_agentd_skey sk;
    __u32 dlen;

    if (f && f->role != QASM_AGENTD_FLOW_CLIENT)
        return;
    if (f) {
        touch(f, ev->ts_ns);
        dlen = f->dcid_len;
    } else {
        server_key(&sk, p);
        __u8 *l = bpf_map_lookup_elem(&servers, &sk);
        dlen = l ? *l : 0;
        if (dlen == 0 && (dlen = adopt_len(p)) != 0) {
            __u8 len8 = (__u8)dlen;
            bpf_map_update_elem(&servers, &sk, &len8, BPF_ANY);
            ev->flags |= QASM_AGENTD_F_ADOPTED;
            count(QASM_AGENTD_C_ADOPTED);
        }
    }
    if (dlen == 0 || dlen > QASM_AGENTD_CID_MAX) {
        count(QASM_AGENTD_C_UNATTRIBUTED); /* no server CID seen for this flow or server */
        return;
    }
    if (1 + dlen > p->n) {
        count(QASM_AGENTD_C_TRUNCATED);
        return;
    }
    ev->dcid_len = (__u8)dlen;
    cid_copy(ev->dcid, p->hdr, 1, dlen);
    if (!f) {
        if (new_flow(p, ev, QASM_AGENTD_FLOW_CLIENT, (__u8)dlen) == 0) {
            ev->flags |= QASM_AGENTD_F_NEW_FLOW;
            emit(skb, ev, QASM_AGENTD_EV_DCID, p);
        }
        return;
    }
    if (cid_eq(f->cur, f->cur_len, ev->dcid, dlen))
        return;
    f->cur_len = (__u8)dlen;
    __builtin_memcpy(f->cur, ev->dcid, QASM_AGENTD_CID_MAX);
    emit(skb, ev, QASM_AGENTD_EV_DCID, p);
}

/* Ingress long header: the server's SCID (its CID length) on a client flow. */
static __always_inline void ingress_long(struct __sk_buff *skb, struct pkt *p,
                                         struct qasm_agentd_ev *ev)
{
    int c = long_cids(p, ev);
    struct qasm_agentd_flow *f;
    struct qasm_agentd_skey sk;

    if (c) {
        count(c);
        return;
    }
    f = bpf_map_lookup_elem(&flows, &p->key);
    if (!f) {
        /* A peer's Initial first: a local server's flow, remembered so its replies are ignored. */
        if (((p->hdr[0] >> 4) & 3) == 0)
            new_flow(p, ev, QASM_AGENTD_FLOW_PEER, 0);
        count(QASM_AGENTD_C_NOT_QUIC);
        return;
    }
    touch(f, ev->ts_ns);
    hand_up(skb, p, f, 0);
    if (f->role != QASM_AGENTD_FLOW_CLIENT || ev->scid_len == 0 ||
        cid_eq(f->srv, f->srv_len, ev->scid, ev->scid_len))
        return;
    f->srv_len = ev->scid_len;
    f->dcid_len = ev->scid_len;
    __builtin_memcpy(f->srv, ev->scid, QASM_AGENTD_CID_MAX);
    server_key(&sk, p);
    bpf_map_update_elem(&servers, &sk, &ev->scid_len, BPF_ANY);
    emit(skb, ev, QASM_AGENTD_EV_SERVER_CID, p);
}

/* ---- fast path ---- */


/*
 * The flow each program found last on this CPU (index 0 ingress, 1 egress),
 * checked against the flow map in the current jiffy: until the jiffy ends
 * (at most 10 ms, well within QASM_AGENTD_TOUCH_NS) the flow's packets are
 * counted without a lookup, a clock read or a write to the flow (a
 * download's packets come in runs of one flow). Egress also keeps the DCID
 * the flow had then: a packet with another DCID takes the lookup. The full
 * path drops this CPU's egress entry before it changes a flow; what changed
 * elsewhere (another CPU's full path, the LRU evicting the flow) an entry
 * learns at the end of its jiffy: a client going back there to a DCID it
 * left (the tracker has it already) is reported up to one jiffy later than
 * by the full path.
 */
struct recent {
    struct qasm_agentd_fkey key;
    __u64 jiffy;                  /* bpf_jiffies64 when it was checked; 0: empty */
    __u8 cur[QASM_AGENTD_CID_MAX]; /* egress: the flow's DCID then */
    __u8 cur_len;
    __u8 pad[3];
};

QASM_BPF_MAP(recent, BPF_MAP_TYPE_PERCPU_ARRAY, 2, __u32, struct recent, 0);

_Static_assert(sizeof(struct qasm_agentd_fkey) == 40, "same_key compares the key as five words");

static __always_inline int same_key(const struct qasm_agentd_fkey *a,
                                    const struct qasm_agentd_fkey *b)
{
    const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

static __always_inline struct recent *recent_of(int egress)
{
    __u32 i = egress ? 1 : 0;
    return bpf_map_lookup_elem(&recent, &i);
}

/* Whether the recent entry |r| is this flow's, from this jiffy, with DCID |dcid| (egress). */
static __always_inline int recent_hit(const struct recent *r, const struct qasm_agentd_fkey *k,
                                      __u64 jiffy, const __u8 *dcid)
{
    if (!r || r->jiffy != jiffy || !same_key(&r->key, k))
        return 0;
    if (!dcid)
        return 1;
    __s32 len = r->cur_len;
    return len >= 1 && len <= QASM_AGENTD_CID_MAX && qasm_bpf_cid_same(dcid, r->cur, len);
}

/*
 * The common packet, read in place (direct packet access, no copies, no
 * zeroed structs, the coarse clock, the CPU's recent flow): a short header
 * on a known flow, an ingress one, or an egress one whose DCID is the
 * flow's current one. It does exactly what run()'s full parse would do for
 * such a packet (count it, touch the flow) and returns 1; anything else
 * (long headers, new flows or DCIDs, IP options, headers outside the skb's
 * linear part) returns 0 before any side effect, and run() takes the full
 * path.
 */
static __always_inline int fast(struct __sk_buff *skb, int egress)
{
    const __u8 *data = (const __u8 *)(long)skb->data, *end = (const __u8 *)(long)skb->data_end;
    struct qasm_agentd_fkey k = {};
    const struct udphdr *udp;
    struct qasm_agentd_flow *f;
    struct recent *r;
    const __u8 *q;
    __u64 jiffy;
    __u8 first;

    if (skb->protocol == bpf_htons(ETH_P_IP)) {
        const struct iphdr *ip = (const void *)data;
        if ((const __u8 *)(ip + 1) + sizeof(*udp) > end || ip->ihl != 5 ||
            ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_)))
            return 0;
        k.family = AF_INET;
        *(__u32 *)k.lip = egress ? ip->saddr : ip->daddr;
        *(__u32 *)k.rip = egress ? ip->daddr : ip->saddr;
        udp = (const void *)(ip + 1);
    } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
        const struct ipv6hdr *ip6 = (const void *)data;
        if ((const __u8 *)(ip6 + 1) + sizeof(*udp) > end || ip6->nexthdr != IPPROTO_UDP)
            return 0;
        k.family = AF_INET6;
        __builtin_memcpy(k.lip, egress ? &ip6->saddr : &ip6->daddr, 16);
        __builtin_memcpy(k.rip, egress ? &ip6->daddr : &ip6->saddr, 16);
        udp = (const void *)(ip6 + 1);
    } else {
        return 0;
    }
    q = (const __u8 *)(udp + 1);
    if (q + 1 <= end)
        first = q[0];
    else if (skb->len <= (__u32)(q - data) || /* empty, or the payload is in the skb's pages */
             bpf_skb_load_bytes(skb, (__u32)(q - data), &first, 1) < 0)
        return 0;
    if (first & 0x80)
        return 0; /* long header */
    if (egress && q + 1 + QASM_AGENTD_CID_MAX > end)
        return 0; /* shorter than any short header with a DCID and a payload */
    k.lport = bpf_ntohs(egress ? udp->source : udp->dest);
    k.rport = bpf_ntohs(egress ? udp->dest : udp->source);
    r = recent_of(egress);
    jiffy = bpf_jiffies64();
    if (recent_hit(r, &k, jiffy, egress ? q + 1 : NULL)) {
        count(QASM_AGENTD_C_PACKETS);
        return 1;
    }
    f = bpf_map_lookup_elem(&flows, &k);
    if (egress) {
        if (!f) /* a new flow */
            return 0;
        if (f->role != QASM_AGENTD_FLOW_CLIENT) { /* a local server's flow: only counted */
            count(QASM_AGENTD_C_PACKETS);
            return 1;
        }
        __s32 dlen = f->dcid_len;
        if (dlen == 0 || dlen > QASM_AGENTD_CID_MAX || f->cur_len != dlen ||
            !qasm_bpf_cid_same(q + 1, f->cur, dlen))
            return 0; /* a new DCID (or one the full path counts) */
    }
    count(QASM_AGENTD_C_PACKETS);
    if (!f)
        return 1;
    touch(f, bpf_ktime_get_coarse_ns());
    if (r) {
        r->key = k;
        r->jiffy = jiffy;
        __builtin_memcpy(r->cur, f->cur, QASM_AGENTD_CID_MAX);
        r->cur_len = f->cur_len;
    }
    return 1;
}

static __always_inline int run(struct __sk_buff *skb, int egress)
{
    if (fast(skb, egress))
        return 1;
    if (egress) { /* the full path may change a flow: this CPU's recent egress flow goes */
        struct recent *r = recent_of(1);
        if (r)
            r->jiffy = 0;
    }

    struct pkt p = {};
    struct qasm_agentd_ev ev = {};
    int c = parse(skb, &p, egress);

    if (c) {
        count(c);
        return 1;
    }
    ev.ts_ns = bpf_ktime_get_ns();
    if (egress && (p.hdr[0] & 0x80))
        egress_long(skb, &p, &ev);
    else if (egress)
        egress_short(skb, &p, &ev);
    else if (p.hdr[0] & 0x80)
        ingress_long(skb, &p, &ev);
    else {
        struct qasm_agentd_flow *f = bpf_map_lookup_elem(&flows, &p.key);
        if (f)
            touch(f, ev.ts_ns);
    }
    return 1; /* always pass: the agent only watches */
}

SEC("cgroup_skb/egress")
int qasm_agentd_egress(struct __sk_buff *skb)
{
    return run(skb, 1);
}

SEC("cgroup_skb/ingress")
int qasm_agentd_ingress(struct __sk_buff *skb)
{
    return run(skb, 0);
}

/* ---- --prereg gnutls ---- */

/* Set before load: 1 = every process (--all), 0 = the processes of cgroup_filter[0]. */
const volatile __u8 prereg_all = 0;

QASM_BPF_MAP(cgroup_filter, BPF_MAP_TYPE_CGROUP_ARRAY, 1, __u32, __u32, 0);

/* A decrypt in flight: where its plaintext and header are. */
struct dec_call {
    __u64 ptext;     /* void *ptext */
    __u64 ptext_len; /* size_t *ptext_len (in: room, out: length) */
    __u64 aad;
    __u64 aad_len;
};

QASM_BPF_MAP(decrypts, BPF_MAP_TYPE_LRU_HASH, QASM_AGENTD_MAX_DECRYPTS, __u64, struct dec_call, 0);

/*
 * int gnutls_aead_cipher_decrypt(handle, nonce, nonce_len, auth, auth_len,
 * tag_size, ctext, ctext_len, ptext, ptext_len): arguments 7..10 are on the
 * stack, above the return address (x86-64 SysV).
 */
SEC("uprobe")
int qasm_agentd_dec_enter(struct pt_regs *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u64 sp = PT_REGS_SP(ctx);
    struct dec_call c = {};

    if (!prereg_all && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
        return 0;
    if (bpf_probe_read_user(&c.ptext, 8, (void *)(sp + 24)) < 0 ||
        bpf_probe_read_user(&c.ptext_len, 8, (void *)(sp + 32)) < 0) {
        count(QASM_AGENTD_C_DEC_FAILED);
        return 0;
    }
    c.aad = PT_REGS_PARM4(ctx);
    c.aad_len = PT_REGS_PARM5(ctx);
    bpf_map_update_elem(&decrypts, &id, &c, BPF_ANY);
    return 0;
}

/*
 * A cheap filter before the payload goes to the daemon: could a
 * NEW_CONNECTION_ID frame (type 0x18, two varints, a CID length of 1..20,
 * the CID, a 16-byte token) start at some byte of |b| and fit? Every real
 * one passes; so does about one random payload in 25 (the daemon's frame
 * walk decides). Without it every received packet would cross the ring
 * buffer, which a fast download fills.
 */
static __always_inline int maybe_newcid(const __u8 *b, __u32 n)
{
    for (__u32 i = 0; i < QASM_AGENTD_PLAIN_MAX; i++) {
        __u32 o = i + 1;
        __u8 l;
        if (i + 20 > n)
            break;
        if (b[i & (QASM_AGENTD_PLAIN_MAX - 1)] != 0x18)
            continue;
        o += 1u << (b[o & (QASM_AGENTD_PLAIN_MAX - 1)] >> 6);
        o += 1u << (b[o & (QASM_AGENTD_PLAIN_MAX - 1)] >> 6);
        l = b[o & (QASM_AGENTD_PLAIN_MAX - 1)];
        if (l >= 1 && l <= QASM_AGENTD_CID_MAX && o + 1 + l + 16 <= n)
            return 1;
    }
    return 0;
}

#define PM (QASM_AGENTD_PLAIN_MAX - 1)

/*
 * Could |b| be a closing packet: CONNECTION_CLOSE (0x1c, 0x1d) as its first
 * frame, or right after one ACK without gaps (what an ngtcp2 peer sends:
 * the close alone; others may acknowledge first)? The daemon's frame walk
 * decides.
 */
static __always_inline int maybe_close(const __u8 *b, __u32 n)
{
    __u32 o = 0;
    __u8 t = b[0];

    /* The barriers keep clang from folding the masks away: the verifier does
     * not bound a variable shift, only the masked index. */
#define VSKIP()                                                                                  \
    do {                                                                                         \
        o += 1u << (b[o & PM] >> 6);                                                             \
        asm volatile("" : "+r"(o));                                                              \
    } while (0)
    if (t == 0x02 || t == 0x03) {
        o = 1;
        asm volatile("" : "+r"(o));
        VSKIP(); /* largest acknowledged */
        VSKIP(); /* ack delay */
        if (b[o & PM] != 0) /* range count */
            return 0;
        o += 1;
        VSKIP(); /* first range */
        if (t == 0x03) { /* ECN counts */
            VSKIP();
            VSKIP();
            VSKIP();
        }
    }
#undef VSKIP
    if (o >= n)
        return 0;
    t = b[o & PM];
    return t == 0x1c || t == 0x1d;
}

/* The payload being looked at (too big for the BPF stack); copied to the
 * ring buffer if it may hold a frame. */
QASM_BPF_MAP(plain_buf, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct qasm_agentd_plain, 0);

SEC("uretprobe")
int qasm_agentd_dec_exit(struct pt_regs *ctx)
{
    __u64 id = bpf_get_current_pid_tgid(), len = 0, n, an;
    struct dec_call *cp = bpf_map_lookup_elem(&decrypts, &id);
    struct qasm_agentd_plain *p;
    struct dec_call c;
    __u32 zero = 0;

    if (!cp)
        return 0; /* not a watched process */
    c = *cp;
    bpf_map_delete_elem(&decrypts, &id);
    p = bpf_map_lookup_elem(&plain_buf, &zero);
    if (!p)
        return 0;
    if ((int)PT_REGS_RC(ctx) != 0 || bpf_probe_read_user(&len, 8, (void *)c.ptext_len) < 0 ||
        len == 0) {
        count(QASM_AGENTD_C_DEC_FAILED);
        return 0;
    }
    n = len < QASM_AGENTD_PLAIN_MAX ? len : QASM_AGENTD_PLAIN_MAX;
    an = c.aad_len < QASM_AGENTD_AAD_MAX ? c.aad_len : QASM_AGENTD_AAD_MAX;
    asm volatile("" : "+r"(n), "+r"(an));
    if (n < 1 || n > QASM_AGENTD_PLAIN_MAX || an > QASM_AGENTD_AAD_MAX ||
        bpf_probe_read_user(p->plain, n, (void *)c.ptext) < 0 ||
        (an && bpf_probe_read_user(p->aad, an, (void *)c.aad) < 0)) {
        count(QASM_AGENTD_C_DEC_FAILED);
        return 0;
    }
    if (!maybe_newcid(p->plain, (__u32)n) && !maybe_close(p->plain, (__u32)n)) {
        count(QASM_AGENTD_C_PLAIN_SKIPPED);
        return 0;
    }
    p->ts_ns = bpf_ktime_get_ns();
    p->pid_tgid = id;
    p->kind = QASM_AGENTD_EV_PLAIN;
    p->aad_len = (__u8)an;
    p->plain_len = (__u16)n;
    p->full_len = (__u32)len;
    if (bpf_ringbuf_output(&events, p, sizeof(*p), 0) == 0)
        count(QASM_AGENTD_C_PLAINS);
    else
        count(QASM_AGENTD_C_RINGBUF_FULL);
    return 0;
}

/* Bytes of each plaintext read before encryption: enough for a closing packet's frames. */
#define ENC_PEEK 64

/*
 * int gnutls_aead_cipher_encrypt(handle, nonce, nonce_len, auth, auth_len,
 * tag_size, ptext, ptext_len, ctext, ctext_len): the client's own packets,
 * plaintext at entry (ptext and ptext_len are arguments 7 and 8, on the
 * stack). Only a payload that starts with CONNECTION_CLOSE goes up: the
 * client closing, which the wire hides.
 */
SEC("uprobe")
int qasm_agentd_enc_enter(struct pt_regs *ctx)
{
    __u64 sp = PT_REGS_SP(ctx), ptext = 0, len = 0, n, an = PT_REGS_PARM5(ctx);
    struct qasm_agentd_plain *p;
    __u32 zero = 0;

    if (!prereg_all && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
        return 0;
    p = bpf_map_lookup_elem(&plain_buf, &zero);
    if (!p || bpf_probe_read_user(&ptext, 8, (void *)(sp + 8)) < 0 ||
        bpf_probe_read_user(&len, 8, (void *)(sp + 16)) < 0 || len == 0) {
        count(QASM_AGENTD_C_DEC_FAILED);
        return 0;
    }
    n = len < ENC_PEEK ? len : ENC_PEEK;
    an = an < QASM_AGENTD_AAD_MAX ? an : QASM_AGENTD_AAD_MAX;
    asm volatile("" : "+r"(n), "+r"(an));
    if (n < 1 || n > ENC_PEEK || an > QASM_AGENTD_AAD_MAX ||
        bpf_probe_read_user(p->plain, n, (void *)ptext) < 0) {
        count(QASM_AGENTD_C_DEC_FAILED);
        return 0;
    }
    if (!maybe_close(p->plain, (__u32)n))
        return 0;
    if (an && bpf_probe_read_user(p->aad, an, (void *)PT_REGS_PARM4(ctx)) < 0) {
        count(QASM_AGENTD_C_DEC_FAILED);
        return 0;
    }
    p->ts_ns = bpf_ktime_get_ns();
    p->pid_tgid = bpf_get_current_pid_tgid();
    p->kind = QASM_AGENTD_EV_PLAIN_OUT;
    p->aad_len = (__u8)an;
    p->plain_len = (__u16)n;
    p->full_len = (__u32)len;
    if (bpf_ringbuf_output(&events, p, sizeof(*p), 0) == 0)
        count(QASM_AGENTD_C_PLAINS_OUT);
    else
        count(QASM_AGENTD_C_RINGBUF_FULL);
    return 0;
}
