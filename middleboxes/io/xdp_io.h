/*
 * xdp_io.h: the XDP backend of qasm-mbox (`--io xdp`, docs/XDP.md): the
 * `packet` backend (middleboxes/io/packet_io.h) with the BPF program of
 * middleboxes/xdp/ attached to the same two interfaces in front of it.
 *
 *   inside IF  --XDP: known flow?--yes--> rewrite, bpf_redirect --> outside IF
 *                         |no (XDP_PASS)
 *                         v
 *               AF_PACKET --> core (mbox.h) --> raw IP socket  (the packet backend)
 *                                 |
 *                                 v  verdicts, events, tracker records
 *                              the BPF maps (flows, entries, slots, dcids, attested, servers)
 *
 * The slow path is the packet backend itself, reused: a FORWARD verdict
 * is sent as it would be there, and also written into the maps (the
 * packet's original 5-tuple and the verdict's rewrite, both directions)
 * so the next packets of that flow never leave the kernel; the rate
 * limiter's forwards are charged to the entry's bucket in the kernel too
 * (qasm_xdp_rl_charge: one budget per connection, both paths). The core's
 * events close what they name (a public port, a flow); userspace sweeps
 * entries idle in the kernel past the core's timeouts once a second.
 *
 * Stats: those of the packet backend ("io": "xdp"), plus the "xdp" object:
 * the kernel's counters (docs/XDP.md) and the maps' fill and refusals.
 */
#ifndef QASM_MBOX_XDP_IO_H
#define QASM_MBOX_XDP_IO_H

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "addr.h"
#include "bucket.h"
#include "cid.h"
#include "middleboxes/io/driver.h"
#include "middleboxes/io/packet_io.h"
#include "middleboxes/xdp/xdp_maps.h"

/* The XDP backend's settings: the packet backend's, and how to attach. */
struct qasm_xdp_config {
    struct qasm_pio_config pio;
    int generic; /* attach in generic (skb) mode only (else native, generic as a fallback) */
};

/* The XDP backend (exit 1 when the program cannot be loaded or attached, said in one line). */
extern const struct qasm_driver_backend_ops qasm_xdp_ops;

/* ---- the maps' keys from the core's types (also for the tests) ---- */

/* The 16 address bytes and the wire port of |a|. */
static inline void qasm_xdp_addr(const struct qasm_addr *a, __u8 ip[16], __u16 *port)
{
    memcpy(ip, a->ip, 16);
    if (port)
        *port = htons(a->port);
}

/* The key of |flow| arriving in direction |dir| (enum qasm_xdp_dir). */
static inline struct qasm_xdp_fkey qasm_xdp_fkey_of(const struct qasm_flow *flow, int dir)
{
    struct qasm_xdp_fkey k;
    memset(&k, 0, sizeof(k));
    qasm_xdp_addr(&flow->src, k.saddr, &k.sport);
    qasm_xdp_addr(&flow->dst, k.daddr, &k.dport);
    k.family = flow->src.family;
    k.dir = (__u8)dir;
    return k;
}

/* The entry key of a QUIC connection (its O-DCID). */
static inline struct qasm_xdp_ekey qasm_xdp_ekey_conn(const struct qasm_cid *odcid)
{
    struct qasm_xdp_ekey k;
    memset(&k, 0, sizeof(k));
    k.kind = QASM_XDP_E_CONN;
    k.len = odcid->len;
    memcpy(k.data, odcid->data, odcid->len);
    return k;
}

/* The entry key of a 5-tuple entry: the client's and the server's address. */
static inline struct qasm_xdp_ekey qasm_xdp_ekey_flow(const struct qasm_addr *client,
                                                      const struct qasm_addr *server)
{
    struct qasm_xdp_ekey k;
    memset(&k, 0, sizeof(k));
    k.kind = QASM_XDP_E_FLOW;
    k.len = client->family;
    qasm_xdp_addr(client, k.data, &k.port_a);
    qasm_xdp_addr(server, k.data + 16, &k.port_b);
    return k;
}

/* The value of `flows`: rewrite to |src| -> |dst| (|flags|, QASM_XDP_F_*), entry |ek| in
 * slot |ref|. */
static inline struct qasm_xdp_flow qasm_xdp_flow_of(const struct qasm_addr *src,
                                                    const struct qasm_addr *dst,
                                                    const struct qasm_xdp_ekey *ek,
                                                    struct qasm_xdp_ref ref, __u32 flags)
{
    struct qasm_xdp_flow v;
    memset(&v, 0, sizeof(v));
    v.entry = *ek;
    v.ref = ref;
    qasm_xdp_addr(src, v.saddr, &v.sport);
    qasm_xdp_addr(dst, v.daddr, &v.dport);
    v.flags = flags;
    return v;
}

/* The key of a DCID. */
static inline struct qasm_xdp_cid qasm_xdp_cid_of(const struct qasm_cid *c)
{
    struct qasm_xdp_cid k;
    memset(&k, 0, sizeof(k));
    k.len = c->len;
    memcpy(k.data, c->data, c->len);
    return k;
}

/* The key of an attested client address |a| of connection |conn|. */
static inline struct qasm_xdp_attest qasm_xdp_attest_of(const struct qasm_xdp_ekey *conn,
                                                        const struct qasm_addr *a)
{
    struct qasm_xdp_attest k;
    memset(&k, 0, sizeof(k));
    k.conn = *conn;
    qasm_xdp_addr(a, k.addr, &k.port);
    k.family = a->family;
    return k;
}

/* The key of a server address (its CID length is the value). */
static inline struct qasm_xdp_srv qasm_xdp_srv_of(const struct qasm_addr *a)
{
    struct qasm_xdp_srv k;
    memset(&k, 0, sizeof(k));
    qasm_xdp_addr(a, k.addr, &k.port);
    k.family = a->family;
    return k;
}

/*
 * The rate limiter's bucket in |c| from the core's |p| (middleboxes/core/
 * bucket.h): GCRA's interval (ticks per token) and tolerance (burst x
 * interval), see xdp_maps.h. A packet costs at most |max_cost| tokens (1, or
 * 65535 bytes). Returns 0 when the kernel decides exactly as the core (both
 * whole numbers of ticks), 1 when one was rounded to the nearest tick (the
 * rate or burst off by less than one part in 2 x interval), -ERANGE when
 * out of the kernel's range and clamped (a burst refilled in at most
 * QASM_XDP_RL_HORIZON / 2 ticks, some 26 days).
 */
static inline int qasm_xdp_cfg_rate(struct qasm_xdp_cfg *c, const struct qasm_bucket_params *p,
                                    __u64 max_cost)
{
    /* 1 token = 1e9 nanotokens takes 1e12 / rate_milli ns; a nanotoken 1e3 / rate_milli. */
    unsigned __int128 rm = p->rate_milli;
    unsigned __int128 t = ((unsigned __int128)1000000000000ULL << QASM_XDP_RL_SHIFT);
    unsigned __int128 tau = ((unsigned __int128)p->cap * 1000u) << QASM_XDP_RL_SHIFT;
    int rc = t % rm != 0 || tau % rm != 0;
    t = (t + rm / 2) / rm;
    tau = (tau + rm / 2) / rm;
    if (t == 0)
        t = 1;
    const unsigned __int128 half = QASM_XDP_RL_HORIZON / 2;
    if (t * max_cost >= half) {
        t = half / max_cost - 1;
        rc = -ERANGE;
    }
    if (tau >= half) {
        tau = half - 1;
        rc = -ERANGE;
    }
    c->rl_interval = (__u64)t;
    c->rl_tolerance = (__u64)tau;
    return rc;
}

/* The bucket word of a full bucket at |now_ns| (bpf_ktime_get_ns's clock). */
static inline __u64 qasm_xdp_rl_full(__u64 now_ns)
{
    return now_ns << QASM_XDP_RL_SHIFT;
}

#endif
