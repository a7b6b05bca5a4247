/*
 * xdp_io.c: the XDP backend of qasm-mbox (see xdp_io.h, docs/XDP.md).
 *
 * The packet backend (qasm_pio_ops) is the slow path, called through its
 * table: it owns the AF_PACKET and raw sockets, the packet sorter and the
 * NAT's absorb sockets. This file loads and attaches the BPF program
 * (middleboxes/xdp/qasm_xdp.bpf.c, through its libbpf skeleton) and keeps
 * its maps in step with the core: verdicts become flows and entries, the
 * tracker's records DCIDs and attested addresses, the core's events and
 * the idle sweep remove them, and the traffic the kernel forwarded is
 * reported to the core (qasm_mbox_touch) so its timers see it.
 */
#include "middleboxes/io/xdp_io.h"

#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "middleboxes/io/bpf_maps.h"
#include "middleboxes/io/xdp_slots.h"
#include "proto.h"
#include "qasm_xdp.skel.h"

/* Upper bound of one sweep's walk over a map (a map changing under the walk cannot loop it). */
#define SWEEP_MAX (8u * QASM_XDP_MAX_ENTRIES_LIMIT)

struct xio_counters {
    uint64_t flows_written;   /* flows written from verdicts (both directions count) */
    uint64_t entries_written; /* state entries written or updated */
    uint64_t map_full;        /* writes refused (a map at its bound) */
    uint64_t records;         /* tracker records mirrored */
    uint64_t dcids_written;
    uint64_t attested_written;
    uint64_t flows_swept;     /* flows removed: idle, or their entry gone */
    uint64_t entries_swept;   /* entries removed: idle past the core's timeout, or closed */
    uint64_t touches;         /* kernel traffic reported to the core */
    uint64_t touch_unknown;   /* ... for an entry the core no longer has */
    uint64_t slow_migrated;   /* a connection's short-header packets on a new path, decided
                               * by the slow path (the kernel had not forwarded that path) */
    /* RL: the slow path's packets charged to the connection's bucket in the kernel */
    uint64_t slow_charged;        /* ... taken: sent */
    uint64_t slow_rate_limited;   /* ... refused (the bucket empty): dropped */
    uint64_t slow_rate_contended; /* ... the bucket changed under every try: dropped */
    uint64_t slow_charge_failed;  /* ... could not be (no program, entry gone): the core's
                                   * decision stood */
    uint64_t conn_flow_kept;      /* default verdicts not written over a connection's flow */
};

struct xio {
    void *pio;                    /* the packet backend: the slow path */
    struct qasm_driver *d;
    struct qasm_xdp_config o;
    struct qasm_mbox_config core;
    struct qasm_xdp *skel;
    struct qasm_xdp_slots *slots; /* who owns which slot of `entries` */
    int ifindex[2];               /* inside, outside */
    int link_fd[2];               /* bpf_link per interface: closing it detaches */
    const char *mode[2];          /* "native" or "generic" */
    struct qasm_xdp_ekey *port_entry; /* NAT: the entry of each public port (kind 0: none) */
    size_t nports;
    uint64_t last_sweep;          /* kernel time of the last sweep */
    size_t max_entries;           /* the entries map's bound (the others follow it) */
    int charge_fd;                /* qasm_xdp_rl_charge (RL, loaded), else -1 */
    struct xio_counters c;
};

/* ---- map writes (every refusal counted) ---- */

static int map_put(struct xio *x, struct bpf_map *m, const void *k, size_t ksz, const void *v,
                   size_t vsz, uint64_t flags)
{
    return qasm_bpf_put(m, k, ksz, v, vsz, flags, &x->c.map_full, "xdp");
}

static uint64_t know(void)
{
    return (uint64_t)qasm_now(); /* CLOCK_MONOTONIC: bpf_ktime_get_ns's clock */
}

/* ---- from the core's verdicts ---- */

/* The public port |port| (NAT) now belongs to entry |ek|. */
static void port_set(struct xio *x, uint16_t port, const struct qasm_xdp_ekey *ek)
{
    if (x->port_entry && port >= x->core.nat_port_min &&
        (size_t)(port - x->core.nat_port_min) < x->nports)
        x->port_entry[port - x->core.nat_port_min] = *ek;
}

static void entry_delete(struct xio *x, const struct qasm_xdp_ekey *ek);

/* A slot for new entry |ek|, also in `slots` (a migration's first packet finds it there).
 * 0, or -1 (counted: no slot free, or `slots` refused it). */
static int slot_take(struct xio *x, const struct qasm_xdp_ekey *ek, struct qasm_xdp_ref *ref)
{
    int rc = qasm_xdp_slots_alloc(x->slots, ek, ref);
    if (rc != 0) {
        x->c.map_full++;
        qasm_debug("xdp: no slot free in entries (%zu in use): the entry's flows go up",
                   qasm_xdp_slots_count(x->slots));
        return -1;
    }
    if (map_put(x, x->skel->maps.slots, ek, sizeof(*ek), ref, sizeof(*ref), BPF_ANY) == 0)
        return 0;
    struct qasm_xdp_ref freed;
    qasm_xdp_slots_free(x->slots, ek, &freed);
    return -1;
}

/*
 * Writes entry |ek| into its slot (|ref|): created with a full bucket (the
 * core's bucket starts full too), or updated with the client address the
 * verdict names (the core moved the connection) and the hop (NAT public /
 * LB backend). The rate limiter's existing entry is left as it is: the
 * kernel uses neither address of it, and its bucket word is the kernel's,
 * taken from without the lock, so writing back the value read here would
 * hand back the tokens taken in between (a refill the budget never had);
 * its last_seen is refreshed by the slow path's charge. 0, or -1 (counted).
 */
static int entry_write(struct xio *x, const struct qasm_xdp_ekey *ek,
                       const struct qasm_addr *client, const struct qasm_addr *hop,
                       struct qasm_xdp_ref *ref)
{
    struct qasm_xdp_entry e;
    uint64_t now = know();
    int known = qasm_xdp_slots_find(x->slots, ek, ref);
    if (known && x->core.function == QASM_MBOX_RATELIMIT)
        return 0;
    if (!known && slot_take(x, ek, ref) != 0)
        return -1;
    if (!known || bpf_map__lookup_elem(x->skel->maps.entries, &ref->slot, sizeof(ref->slot), &e,
                                       sizeof(e), BPF_F_LOCK) != 0 || e.gen != ref->gen) {
        memset(&e, 0, sizeof(e));
        e.family = client->family;
        e.rl_tat = qasm_xdp_rl_full(now);
        e.gen = ref->gen;
    }
    e.last_seen = now;
    qasm_xdp_addr(client, e.client, &e.client_port);
    if (hop)
        qasm_xdp_addr(hop, e.hop, &e.hop_port);
    if (map_put(x, x->skel->maps.entries, &ref->slot, sizeof(ref->slot), &e, sizeof(e),
                BPF_F_LOCK) != 0) {
        if (!known) /* never written: the slot back, else no sweep would ever free it */
            entry_delete(x, ek);
        return -1;
    }
    x->c.entries_written++;
    return 0;
}

/* flows[|key| in |dir|] = rewrite to |src| -> |dst|, entry |ek| in slot |ref|. */
static void flow_write(struct xio *x, const struct qasm_flow *key, int dir,
                       const struct qasm_addr *src, const struct qasm_addr *dst,
                       const struct qasm_xdp_ekey *ek, const struct qasm_xdp_ref *ref,
                       uint32_t flags)
{
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(key, dir);
    struct qasm_xdp_flow v = qasm_xdp_flow_of(src, dst, ek, *ref, flags);
    v.last_seen = know();
    if (map_put(x, x->skel->maps.flows, &k, sizeof(k), &v, sizeof(v), BPF_ANY) == 0)
        x->c.flows_written++;
}

/* The state entry of a FORWARD verdict (not LB's return): the connection (O-DCID) or the
 * client 5-tuple; |client| and |server| the addresses of the latter. */
static struct qasm_xdp_ekey verdict_entry(const struct qasm_mbox_verdict *v,
                                          const struct qasm_addr *client,
                                          const struct qasm_addr *server)
{
    return v->cls == QASM_MBOX_CLASS_QUIC_CONN && v->odcid.len
                   ? qasm_xdp_ekey_conn(&v->odcid)
                   : qasm_xdp_ekey_flow(client, server);
}

/*
 * 1 when the kernel's flow |key| (arriving in |dir|) belongs to a live
 * connection: a default verdict (a 5-tuple entry) must not take it over.
 * The core gives one for a path it does not know (the kernel migrated it,
 * and a packet of it went up: a long header, a server packet); written,
 * the path's packets would draw on the fresh entry's bucket, a second
 * budget, until the tracker's next record unpinned it (flow_unpin).
 */
static int conn_flow(struct xio *x, const struct qasm_flow *key, int dir,
                     struct qasm_xdp_ref *conn)
{
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(key, dir);
    struct qasm_xdp_flow f;
    if (bpf_map__lookup_elem(x->skel->maps.flows, &k, sizeof(k), &f, sizeof(f), 0) != 0 ||
        f.entry.kind != QASM_XDP_E_CONN || !qasm_xdp_slots_live(x->slots, &f.ref))
        return 0;
    *conn = f.ref;
    return 1;
}

/*
 * A FORWARD verdict on the packet in |buf|: the packet's own flow (its
 * 5-tuple as it arrived -> the verdict's) and the opposite direction
 * (the verdict's 5-tuple reversed -> the packet's reversed), both on the
 * entry the verdict names: the connection (O-DCID) or the client 5-tuple.
 * 1 with |charge| the slot whose bucket the packet draws on, else 0 (LB
 * return traffic, or no slot).
 */
static int program(struct xio *x, const struct qasm_mbox_verdict *v, struct qasm_xdp_ref *charge)
{
    const struct qasm_pio_meta *pm = qasm_driver_buf_meta(v->opaque);
    const struct qasm_flow *in = &pm->pu.flow, *out = &v->flow;
    int from_client = pm->dir == QASM_MBOX_FROM_CLIENT;
    enum qasm_mbox_function fn = x->core.function;
    /* LB return traffic has no state of its own in the core: its flow only. */
    if (fn == QASM_MBOX_LB && !from_client) {
        struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(&out->dst, &out->src);
        struct qasm_xdp_ref ref;
        if (entry_write(x, &ek, &out->dst, NULL, &ref) == 0)
            flow_write(x, in, QASM_XDP_FROM_SERVER, &out->src, &out->dst, &ek, &ref, 0);
        return 0;
    }
    const struct qasm_addr *client = from_client ? &in->src : &out->dst;
    const struct qasm_addr *server = from_client ? &in->dst : &out->src;
    struct qasm_xdp_ekey ek = verdict_entry(v, client, server);
    int dir = from_client ? QASM_XDP_FROM_CLIENT : QASM_XDP_FROM_SERVER;
    struct qasm_flow rev = qasm_flow_reverse(out);
    if (x->core.mode != QASM_MBOX_DEFAULT && ek.kind != QASM_XDP_E_CONN &&
        (conn_flow(x, in, dir, charge) || conn_flow(x, &rev, !dir, charge))) {
        x->c.conn_flow_kept++; /* the packet is charged to that connection */
        return 1;
    }
    const struct qasm_addr *hop = NULL;
    if (fn == QASM_MBOX_NAT)
        hop = from_client ? &out->src : &in->dst;
    else if (fn == QASM_MBOX_LB)
        hop = &out->dst;
    if (entry_write(x, &ek, client, hop, charge) != 0)
        return 0; /* no slot: the flow's packets keep going up (counted map_full) */
    if (fn == QASM_MBOX_NAT && hop)
        port_set(x, hop->port, &ek);
    uint32_t ret_flags = fn == QASM_MBOX_NAT ? QASM_XDP_F_DST_CLIENT : 0;
    flow_write(x, in, dir, &out->src, &out->dst, &ek, charge, from_client ? 0 : ret_flags);
    flow_write(x, &rev, !dir, &in->dst, &in->src, &ek, charge, from_client ? ret_flags : 0);
    return 1;
}

/*
 * Counts a migrated packet the slow path decided: a client's short-header
 * packet (only a connection past its handshake sends one) joined to a
 * connection, on a path whose flow the kernel had not forwarded a packet of
 * yet. In proactive mode that is a migration that raced the tracker's push
 * (docs/XDP.md, "Migrations racing the tracker's push"). Before program():
 * it writes the flow.
 */
static void count_slow_migrated(struct xio *x, const struct qasm_mbox_verdict *v,
                                const struct qasm_pio_meta *pm)
{
    if (pm->dir != QASM_MBOX_FROM_CLIENT || v->cls != QASM_MBOX_CLASS_QUIC_CONN ||
        pm->pu.payload_len == 0 || (pm->pu.payload[0] & 0x80))
        return;
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(&pm->pu.flow, QASM_XDP_FROM_CLIENT);
    struct qasm_xdp_flow f;
    if (bpf_map__lookup_elem(x->skel->maps.flows, &k, sizeof(k), &f, sizeof(f), 0) != 0 ||
        f.packets == 0)
        x->c.slow_migrated++;
}

/* Runs qasm_xdp_rl_charge on |ch|: an enum qasm_xdp_charge_rc, or -1 (it cannot run). */
static int charge_run(struct xio *x, struct qasm_xdp_charge *ch)
{
    if (x->charge_fd < 0)
        return -1;
    LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = ch, .ctx_size_in = sizeof(*ch));
    if (bpf_prog_test_run_opts(x->charge_fd, &o) != 0) {
        static int said;
        if (!said++)
            qasm_warn("xdp: the slow path's charge to the kernel's bucket failed (%s): the "
                      "core's decision stands (slow_charge_failed)", strerror(errno));
        return -1;
    }
    return (int)o.retval;
}

/*
 * RL: the slow path's share of the connection's one budget. A packet the
 * core decided to forward takes its tokens from the bucket of its entry's
 * slot in the kernel (qasm_xdp_rl_charge: the same word and function the
 * XDP program takes from), so a connection whose packets go up (new paths,
 * migrations) never gets more than that bucket allows; the core's own
 * bucket still decides first (and alone for entries without a slot). 1:
 * send the packet; 0: the kernel's bucket refused it (counted, dropped).
 * |ref|: the slot program() named (a new entry's has a full bucket by
 * then; a connection's whose kernel flow a default verdict did not take).
 */
static int slow_charge(struct xio *x, const struct qasm_xdp_ref *ref,
                       const struct qasm_pio_meta *pm)
{
    if (x->core.function != QASM_MBOX_RATELIMIT)
        return 1;
    struct qasm_xdp_charge ch;
    memset(&ch, 0, sizeof(ch));
    ch.ref = *ref;
    ch.cost = x->core.rl_bytes ? pm->pu.payload_len : 1;
    switch (charge_run(x, &ch)) {
    case QASM_XDP_CHARGE_ALLOWED: x->c.slow_charged++; return 1;
    case QASM_XDP_CHARGE_CONTENDED: x->c.slow_rate_contended++; return 0;
    case QASM_XDP_CHARGE_LIMITED: break;
    default: x->c.slow_charge_failed++; return 1;
    }
    if (!x->c.slow_rate_limited++)
        qasm_info("xdp: a packet the core let through found its connection's bucket in the "
                  "kernel empty (one budget for both paths): dropped, counted "
                  "slow_rate_limited (said once)");
    return 0;
}

/* Programs the maps first: once sent, a held packet's buffer (and its parse) is recycled. */
static int xio_deliver(void *b, const struct qasm_mbox_verdict *v, struct qasm_driver_buf *release,
                       qasm_tstamp now)
{
    struct xio *x = b;
    const struct qasm_pio_meta *pm = qasm_driver_buf_meta(v->opaque);
    int family = pm->pu.flow.src.family;
    if (v->flow.src.family == family && v->flow.dst.family == family) {
        count_slow_migrated(x, v, pm);
        struct qasm_xdp_ref slot;
        /* else the packet backend refuses it (family_mismatch) */
        if (program(x, v, &slot) && !slow_charge(x, &slot, pm))
            return -EDQUOT; /* the driver recycles |release| */
    }
    return qasm_pio_ops.deliver(x->pio, v, release, now);
}

/* ---- the core's events ---- */

/*
 * Removes entry |ek|: its slot is freed with a new generation, written into
 * the kernel's value (an array slot cannot be deleted), so the entry's
 * flows, still in `flows` until swept, see it gone; and `slots` forgets it.
 */
static void entry_delete(struct xio *x, const struct qasm_xdp_ekey *ek)
{
    struct qasm_xdp_ref freed;
    if (qasm_xdp_slots_free(x->slots, ek, &freed) != 0)
        return;
    struct qasm_xdp_entry e;
    memset(&e, 0, sizeof(e));
    e.gen = freed.gen;
    bpf_map__update_elem(x->skel->maps.entries, &freed.slot, sizeof(freed.slot), &e, sizeof(e),
                         BPF_F_LOCK);
    bpf_map__delete_elem(x->skel->maps.slots, ek, sizeof(*ek), 0);
    x->c.entries_swept++;
}

static void xio_port_open(void *b, const struct qasm_addr *a)
{
    struct xio *x = b;
    qasm_pio_ops.port_open(x->pio, a);
}

/* A NAT mapping expired in the core: its entry goes (its flows pass up until swept). */
static void xio_port_close(void *b, const struct qasm_addr *a)
{
    struct xio *x = b;
    qasm_pio_ops.port_close(x->pio, a);
    if (!x->port_entry || a->port < x->core.nat_port_min ||
        (size_t)(a->port - x->core.nat_port_min) >= x->nports)
        return;
    struct qasm_xdp_ekey *ek = &x->port_entry[a->port - x->core.nat_port_min];
    if (ek->kind)
        entry_delete(x, ek);
    memset(ek, 0, sizeof(*ek));
}

/* RL / LB: a client 5-tuple's state is gone in the core (LB: towards the VIP). */
static void xio_flow_close(void *b, const struct qasm_addr *client, const struct qasm_addr *hop)
{
    struct xio *x = b;
    const struct qasm_addr *server = x->core.function == QASM_MBOX_LB ? &x->o.pio.vip : hop;
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_flow(client, server);
    entry_delete(x, &ek);
}

/* ---- the tracker's records: DCIDs, attested addresses, CID lengths ---- */

/* Drops a 5-tuple flow of an attested address that is not on the connection's entry
 * (default treatment before the tracker knew): its next packet joins the connection. */
static void flow_unpin(struct xio *x, const struct qasm_addr *client,
                       const struct qasm_addr *server, const struct qasm_xdp_ekey *ek)
{
    struct qasm_flow f;
    memset(&f, 0, sizeof(f));
    f.src = *client;
    f.dst = *server;
    f.proto = 17;
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(&f, QASM_XDP_FROM_CLIENT);
    struct qasm_xdp_flow v;
    if (bpf_map__lookup_elem(x->skel->maps.flows, &k, sizeof(k), &v, sizeof(v), 0) == 0 &&
        memcmp(&v.entry, ek, sizeof(*ek)) != 0 &&
        bpf_map__delete_elem(x->skel->maps.flows, &k, sizeof(k), 0) == 0)
        x->c.flows_swept++;
}

static void record_forget(struct xio *x, const struct qasm_proto_conn *conn,
                          const struct qasm_xdp_ekey *ek)
{
    for (int i = 0; i < conn->ndcids; i++) {
        struct qasm_xdp_cid k = qasm_xdp_cid_of(&conn->dcids[i].cid);
        bpf_map__delete_elem(x->skel->maps.dcids, &k, sizeof(k), 0);
    }
    for (int i = 0; i < conn->nclients; i++) {
        struct qasm_xdp_attest k = qasm_xdp_attest_of(ek, &conn->clients[i]);
        bpf_map__delete_elem(x->skel->maps.attested, &k, sizeof(k), 0);
    }
}

static void xio_record(void *b, uint8_t event, const struct qasm_proto_conn *conn)
{
    struct xio *x = b;
    if (!conn || conn->odcid.len == 0)
        return;
    x->c.records++;
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_conn(&conn->odcid);
    if ((conn->flags & QASM_PROTO_REC_CLOSED) || event == QASM_PROTO_EV_CLOSED ||
        event == QASM_PROTO_EV_EXPIRED || event == QASM_PROTO_EV_EVICTED) {
        record_forget(x, conn, &ek);
        return;
    }
    if (conn->server.family && conn->dcid_len) {
        struct qasm_xdp_srv k = qasm_xdp_srv_of(&conn->server);
        __u32 len = conn->dcid_len;
        map_put(x, x->skel->maps.servers, &k, sizeof(k), &len, sizeof(len), BPF_ANY);
    }
    for (int i = 0; i < conn->ndcids; i++) {
        struct qasm_xdp_cid k = qasm_xdp_cid_of(&conn->dcids[i].cid);
        if (map_put(x, x->skel->maps.dcids, &k, sizeof(k), &ek, sizeof(ek), BPF_ANY) == 0)
            x->c.dcids_written++;
    }
    uint64_t now = know();
    for (int i = 0; i < conn->nclients; i++) {
        struct qasm_xdp_attest k = qasm_xdp_attest_of(&ek, &conn->clients[i]);
        if (map_put(x, x->skel->maps.attested, &k, sizeof(k), &now, sizeof(now), BPF_ANY) == 0)
            x->c.attested_written++;
        if (conn->server.family)
            flow_unpin(x, &conn->clients[i], &conn->server, &ek);
    }
}

/* ---- the sweep: kernel traffic reported to the core, idle entries removed ---- */

/* The core's longest idle timeout, in ns, plus its timers' granule. */
static uint64_t idle_limit(const struct xio *x)
{
    qasm_duration t = x->core.udp_stream_timeout > x->core.udp_timeout
                              ? x->core.udp_stream_timeout : x->core.udp_timeout;
    return (uint64_t)t + 2 * QASM_SEC;
}

/* Tells the core that entry |ek| carried traffic (a server packet: both ways); 0 when the
 * core has no such entry any more. */
static int touch(struct xio *x, const struct qasm_xdp_ekey *ek, int both_ways, qasm_tstamp now)
{
    struct qasm_mbox *m = qasm_driver_mbox(x->d);
    int found;
    if (ek->kind == QASM_XDP_E_CONN) {
        struct qasm_cid odcid;
        memset(&odcid, 0, sizeof(odcid));
        odcid.len = ek->len;
        memcpy(odcid.data, ek->data, ek->len);
        found = qasm_mbox_touch(m, NULL, &odcid, both_ways, now);
    } else {
        struct qasm_flow f;
        memset(&f, 0, sizeof(f));
        f.src.family = f.dst.family = ek->len;
        memcpy(f.src.ip, ek->data, 16);
        memcpy(f.dst.ip, ek->data + 16, 16);
        f.src.port = ntohs(ek->port_a);
        f.dst.port = ntohs(ek->port_b);
        f.proto = 17;
        found = qasm_mbox_touch(m, &f, NULL, both_ways, now);
    }
    x->c.touches++;
    if (!found)
        x->c.touch_unknown++;
    return found;
}

/* One flow of the walk (|v| its value): reported, or removed when idle or its entry gone. */
static int sweep_flow_cb(struct xio *x, const void *key, const void *val, uint64_t kt,
                         qasm_tstamp now)
{
    const struct qasm_xdp_fkey *k = key;
    const struct qasm_xdp_flow *v = val;
    int has_entry = qasm_xdp_slots_live(x->slots, &v->ref);
    /* An entry the core no longer has (expired, evicted, freed with its connection)
     * goes from the kernel too: its next packet asks the core again. */
    if (has_entry && v->last_seen > x->last_sweep && v->packets > 0 &&
        !touch(x, &v->entry, k->dir == QASM_XDP_FROM_SERVER, now)) {
        entry_delete(x, &v->entry);
        has_entry = 0;
    }
    if (has_entry && v->last_seen + idle_limit(x) > kt)
        return 0;
    return bpf_map__delete_elem(x->skel->maps.flows, k, sizeof(*k), 0) == 0;
}

typedef int (*sweep_fn)(struct xio *x, const void *k, const void *v, uint64_t kt,
                        qasm_tstamp now);

enum { WALK_CHUNK = 256 };

/* The walk key by key (a kernel without batched lookups): one syscall per key and value. */
static void walk_keys(struct xio *x, struct bpf_map *m, size_t limit, sweep_fn fn, uint64_t kt,
                      qasm_tstamp now, uint64_t *removed)
{
    size_t ksz = bpf_map__key_size(m), vsz = bpf_map__value_size(m);
    uint8_t k[sizeof(struct qasm_xdp_attest)], next[sizeof(struct qasm_xdp_attest)];
    uint8_t v[sizeof(struct qasm_xdp_flow)];
    if (ksz > sizeof(k) || vsz > sizeof(v) || bpf_map__get_next_key(m, NULL, k, ksz) != 0)
        return;
    for (size_t n = 0; n < limit; n++) {
        /* The next key first: removing |k| must not restart the walk. */
        int more = bpf_map__get_next_key(m, k, next, ksz) == 0;
        if (bpf_map__lookup_elem(m, k, ksz, v, vsz, 0) == 0 && fn(x, k, v, kt, now) && removed)
            (*removed)++;
        if (!more)
            break;
        memcpy(k, next, ksz);
    }
}

/*
 * Walks |m|: |fn| on each key and value, 1 when it removed it. Batched
 * (bpf_map_lookup_batch, WALK_CHUNK keys and values per syscall: a sweep of
 * 10^6 flows is some 4000 syscalls, not 2x10^6); a hash map's batch goes
 * bucket by bucket, so removing what a chunk returned does not disturb the
 * walk. Key by key where the kernel has no batched lookup. At most |limit|
 * keys (an array: those below the slots' high-water mark; else SWEEP_MAX).
 */
static void walk(struct xio *x, struct bpf_map *m, size_t limit, sweep_fn fn, uint64_t kt,
                 qasm_tstamp now, uint64_t *removed)
{
    size_t ksz = bpf_map__key_size(m), vsz = bpf_map__value_size(m);
    uint8_t *keys = malloc(WALK_CHUNK * ksz), *vals = malloc(WALK_CHUNK * vsz);
    uint64_t tok = 0;
    int first = 1, done = 0;
    for (size_t seen = 0; keys && vals && !done && seen < limit;) {
        __u32 count = limit - seen < WALK_CHUNK ? (__u32)(limit - seen) : WALK_CHUNK;
        int rc = bpf_map_lookup_batch(bpf_map__fd(m), first ? NULL : &tok, &tok, keys, vals,
                                      &count, NULL);
        if (rc != 0 && errno != ENOENT) {
            static int said;
            if (first && !said++)
                qasm_warn("xdp: batched map lookups refused (%s): the sweep walks the maps "
                          "key by key", strerror(errno));
            if (first)
                walk_keys(x, m, limit, fn, kt, now, removed);
            break;
        }
        done = rc != 0; /* ENOENT: this was the last chunk */
        first = 0;
        seen += count ? count : limit; /* nothing returned and no ENOENT: stop all the same */
        for (__u32 i = 0; i < count; i++)
            if (fn(x, keys + i * ksz, vals + i * vsz, kt, now) && removed)
                (*removed)++;
    }
    free(keys);
    free(vals);
}

/* One slot of `entries` (|k| its index): freed when in use and idle. */
static int sweep_entry_cb(struct xio *x, const void *k, const void *v, uint64_t kt,
                          qasm_tstamp now)
{
    (void)now;
    const struct qasm_xdp_entry *e = v;
    uint32_t slot;
    memcpy(&slot, k, sizeof(slot));
    struct qasm_xdp_ref ref = {.slot = slot, .gen = e->gen};
    if (!qasm_xdp_slots_live(x->slots, &ref) || e->last_seen + idle_limit(x) > kt)
        return 0;
    struct qasm_xdp_ekey ek = *qasm_xdp_slots_key(x->slots, slot);
    entry_delete(x, &ek);
    return 0; /* entry_delete counted it */
}

/* DCIDs of connections that have no entry any more. */
static int sweep_dcid_cb(struct xio *x, const void *k, const void *v, uint64_t kt,
                         qasm_tstamp now)
{
    (void)kt, (void)now;
    struct qasm_xdp_ref ref;
    if (qasm_xdp_slots_find(x->slots, v, &ref))
        return 0;
    return bpf_map__delete_elem(x->skel->maps.dcids, k, sizeof(struct qasm_xdp_cid), 0) == 0;
}

/* Attestations are trusted for the core's cache_ttl, like the core's own cache. */
static int sweep_attest_cb(struct xio *x, const void *k, const void *v, uint64_t kt,
                           qasm_tstamp now)
{
    (void)now;
    uint64_t at;
    memcpy(&at, v, sizeof(at));
    if (at + (uint64_t)x->core.cache_ttl > kt)
        return 0;
    return bpf_map__delete_elem(x->skel->maps.attested, k, sizeof(struct qasm_xdp_attest), 0) ==
           0;
}

static void xio_tick(void *b, qasm_tstamp now)
{
    struct xio *x = b;
    qasm_pio_ops.tick(x->pio, now);
    uint64_t kt = know();
    __typeof__(x->skel->maps) *mp = &x->skel->maps;
    walk(x, mp->flows, SWEEP_MAX, sweep_flow_cb, kt, now, &x->c.flows_swept);
    walk(x, mp->entries, qasm_xdp_slots_high(x->slots), sweep_entry_cb, kt, now, NULL);
    walk(x, mp->dcids, SWEEP_MAX, sweep_dcid_cb, kt, now, NULL);
    walk(x, mp->attested, SWEEP_MAX, sweep_attest_cb, kt, now, NULL);
    x->last_sweep = kt;
}

/* ---- stats ---- */

static const char *const kernel_names[] = QASM_XDP_COUNTER_NAMES;
_Static_assert(sizeof(kernel_names) / sizeof(kernel_names[0]) == QASM_XDP_C_MAX, "one each");

/* The kernel's counters, summed over the CPUs. */
static void kernel_counters(struct xio *x, uint64_t out[QASM_XDP_C_MAX])
{
    int ncpu = libbpf_num_possible_cpus();
    uint64_t *v = ncpu > 0 ? calloc((size_t)ncpu, sizeof(uint64_t)) : NULL;
    memset(out, 0, QASM_XDP_C_MAX * sizeof(uint64_t));
    for (uint32_t c = 0; v && c < QASM_XDP_C_MAX; c++)
        if (bpf_map__lookup_elem(x->skel->maps.counters, &c, sizeof(c), v,
                                 (size_t)ncpu * sizeof(uint64_t), 0) == 0)
            for (int i = 0; i < ncpu; i++)
                out[c] += v[i];
    free(v);
}

static void xio_stats_head(void *b, struct qasm_json *j)
{
    struct xio *x = b;
    qasm_pio_ops.stats_head(x->pio, j);
    qasm_json_str(j, "xdp_mode_inside", x->mode[0]);
    qasm_json_str(j, "xdp_mode_outside", x->mode[1]);
}

/* The slow path's drops, and the kernel's (its bucket's refusals; the rest go up). */
static size_t xio_stats_drops(void *b, struct qasm_mbox_json_drop *out, size_t max)
{
    struct xio *x = b;
    size_t n = qasm_pio_ops.stats_drops(x->pio, out, max);
    uint64_t k[QASM_XDP_C_MAX];
    kernel_counters(x, k);
    if (n < max)
        out[n++] = (struct qasm_mbox_json_drop){"xdp_rate_limited", k[QASM_XDP_C_RATE_LIMITED]};
    if (n < max)
        out[n++] = (struct qasm_mbox_json_drop){"xdp_rate_limit_contended",
                                                k[QASM_XDP_C_RL_CONTENDED]};
    if (n < max)
        out[n++] = (struct qasm_mbox_json_drop){"xdp_slow_rate_limited",
                                                x->c.slow_rate_limited + x->c.slow_rate_contended};
    return n;
}

static void xio_stats(void *b, struct qasm_json *j)
{
    struct xio *x = b;
    qasm_pio_ops.stats(x->pio, j);
    uint64_t k[QASM_XDP_C_MAX];
    kernel_counters(x, k);
    qasm_mbox_json_u64s(j, "xdp", kernel_names, k, QASM_XDP_C_MAX);
    static const char *const names[] = {
        "flows_written", "entries_written", "map_full", "records", "dcids_written",
        "attested_written", "flows_swept", "entries_swept", "touches", "touch_unknown",
        "slow_migrated", "slow_charged", "slow_rate_limited", "slow_rate_contended",
        "slow_charge_failed", "conn_flow_kept"};
    const uint64_t v[] = {x->c.flows_written, x->c.entries_written, x->c.map_full, x->c.records,
                          x->c.dcids_written, x->c.attested_written, x->c.flows_swept,
                          x->c.entries_swept, x->c.touches, x->c.touch_unknown,
                          x->c.slow_migrated, x->c.slow_charged, x->c.slow_rate_limited,
                          x->c.slow_rate_contended, x->c.slow_charge_failed,
                          x->c.conn_flow_kept};
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(v) / sizeof(v[0]), "one each");
    qasm_mbox_json_u64s(j, "xdp_maps", names, v, sizeof(v) / sizeof(v[0]));
}

/* ---- setup ---- */

static int xio_prepare(const void *bcfg, struct qasm_mbox_config *core)
{
    const struct qasm_xdp_config *o = bcfg;
    /* RL / LB: the core says when a client 5-tuple's state goes, so its kernel entry goes too. */
    core->flow_events = 1;
    return qasm_pio_ops.prepare(&o->pio, core);
}

static void xio_recv(void *b, struct qasm_driver_watch *w, struct qasm_driver_rx *rx)
{
    struct xio *x = b;
    qasm_pio_ops.recv(x->pio, w, rx);
}

/* The rate limiter's bucket: the core's parameters, as the kernel's GCRA (xdp_maps.h). */
static void config_rate(struct xio *x, struct qasm_xdp_cfg *c)
{
    struct qasm_bucket_params p;
    if (qasm_bucket_params_init(&p, x->core.rl_rate, x->core.rl_burst) != 0)
        return; /* the options were checked: no limit cannot happen here */
    c->rl_bytes = (uint32_t)x->core.rl_bytes;
    int rc = qasm_xdp_cfg_rate(c, &p, c->rl_bytes ? 65535 : 1);
    if (rc == 1)
        qasm_info("xdp: --rate %g --burst %g: the kernel's bucket rounds its interval to %llu "
                  "/ %d ns a token (exact: a whole number of those)", x->core.rl_rate,
                  x->core.rl_burst, (unsigned long long)c->rl_interval, 1 << QASM_XDP_RL_SHIFT);
    else if (rc < 0)
        qasm_warn("xdp: --rate %g --burst %g: beyond the kernel bucket's range (a burst refilled "
                  "in at most 26 days): clamped there, the kernel lets more through than the core",
                  x->core.rl_rate, x->core.rl_burst);
}

/* The one value of the config map, from the core's configuration. */
static void config_fill(struct xio *x, struct qasm_xdp_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->function = (uint32_t)x->core.function;
    c->aware = x->core.mode != QASM_MBOX_DEFAULT;
    c->ifindex_in = (uint32_t)x->ifindex[0];
    c->ifindex_out = (uint32_t)x->ifindex[1];
    if (x->core.function == QASM_MBOX_RATELIMIT) {
        config_rate(x, c);
    }
    /* The FIB is asked as from lo: its forwarding flag is the one that must be on,
     * while the hop's interfaces keep theirs off (docs/XDP.md, "Forwarding"). */
    c->fib_ifindex = if_nametoindex("lo");
    c->nh_ttl_ns = QASM_XDP_NH_TTL_NS;
}

/* The FIB lookup is made as from lo (config_fill): without lo's forwarding flag it refuses. */
static void check_lo_forwarding(void)
{
    static const char *const paths[] = {"/proc/sys/net/ipv4/conf/lo/forwarding",
                                        "/proc/sys/net/ipv6/conf/lo/forwarding"};
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        int v = 1;
        if (!f)
            continue;
        if (fscanf(f, "%d", &v) == 1 && v == 0)
            qasm_warn("xdp: %s is 0: the program cannot ask the FIB and every packet goes up "
                      "to the slow path (pass_no_route); set it to 1 (docs/XDP.md)", paths[i]);
        fclose(f);
    }
}

/* Attaches the program to interface |i| (native, else generic, said). 0 or -1 (said). */
static int attach(struct xio *x, int i, const char *name)
{
    int prog = bpf_program__fd(x->skel->progs.qasm_xdp);
    int fd = -1, err = 0;
    if (!x->o.generic) {
        LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
        fd = bpf_link_create(prog, x->ifindex[i], BPF_XDP, &lo);
        err = errno;
        x->mode[i] = "native";
    }
    if (fd < 0) {
        LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_SKB_MODE);
        fd = bpf_link_create(prog, x->ifindex[i], BPF_XDP, &lo);
        x->mode[i] = "generic";
        if (fd >= 0 && !x->o.generic)
            qasm_warn("xdp: native XDP refused on %s (%s): attached in generic (skb) mode, "
                      "slower", name, strerror(err));
    }
    if (fd < 0) {
        fprintf(stderr, "qasm-mbox: cannot attach the XDP program to %s: %s (--io packet and "
                        "the relay still work)\n", name, strerror(errno));
        return -1;
    }
    x->link_fd[i] = fd;
    return 0;
}

/*
 * The maps' bounds from the core's (--max-entries; 0, no bound in the core:
 * the header's defaults): an entry per state entry, four flows (both
 * directions, two paths), four DCIDs and two attested addresses per entry.
 * All preallocated: about 1.8 KB of kernel memory per entry in all (the
 * array `entries` 64 bytes of it, its index `slots` ~100), and some 90
 * bytes in userspace for the slot allocator.
 */
static int size_maps(struct xio *x)
{
    size_t n = x->core.max_entries ? x->core.max_entries : QASM_XDP_MAX_ENTRIES;
    if (n > QASM_XDP_MAX_ENTRIES_LIMIT)
        n = QASM_XDP_MAX_ENTRIES_LIMIT;
    int rc = bpf_map__set_max_entries(x->skel->maps.entries, (uint32_t)n);
    rc = rc ? rc : bpf_map__set_max_entries(x->skel->maps.slots, (uint32_t)n);
    rc = rc ? rc : bpf_map__set_max_entries(x->skel->maps.flows, (uint32_t)(4 * n));
    rc = rc ? rc : bpf_map__set_max_entries(x->skel->maps.dcids, (uint32_t)(4 * n));
    rc = rc ? rc : bpf_map__set_max_entries(x->skel->maps.attested, (uint32_t)(2 * n));
    x->max_entries = n;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        qasm_debug("xdp: getrandom: %s (the slot index hashes with a fixed seed)",
                   strerror(errno));
    if (!rc)
        rc = qasm_xdp_slots_new(&x->slots, (uint32_t)n, seed);
    return rc ? -rc : 0;
}

/* Loads the program and fills its configuration. 0, or 1 with the reason said. */
static int load(struct xio *x)
{
    qasm_bpf_log_libbpf();
    x->skel = qasm_xdp__open();
    int err = x->skel ? size_maps(x) : errno;
    int charge = x->core.function == QASM_MBOX_RATELIMIT &&
                 libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, NULL) == 1;
    if (x->skel && !err)
        bpf_program__set_autoload(x->skel->progs.qasm_xdp_rl_charge, charge);
    if (x->core.function == QASM_MBOX_RATELIMIT && !charge)
        qasm_warn("xdp: the kernel runs no syscall BPF programs (5.14 and later do): the slow "
                  "path's packets are charged to the core's bucket only (slow_charge_failed)");
    if (x->skel && !err && qasm_xdp__load(x->skel) != 0)
        err = errno;
    if (!x->skel || err) {
        err = err ? err : EINVAL;
        fprintf(stderr, "qasm-mbox: cannot load the XDP program: %s (%s; --io packet and the "
                        "relay still work)\n", strerror(err),
                err == EPERM || err == EACCES ? "needs root, or CAP_BPF and CAP_NET_ADMIN, "
                                                "and a verifier that accepts it: --log-level "
                                                "debug shows its log"
                                              : "a kernel with BPF and XDP");
        return 1;
    }
    x->charge_fd = charge ? bpf_program__fd(x->skel->progs.qasm_xdp_rl_charge) : -1;
    struct qasm_xdp_cfg c;
    config_fill(x, &c);
    uint32_t zero = 0;
    if (bpf_map__update_elem(x->skel->maps.config, &zero, sizeof(zero), &c, sizeof(c), 0) != 0) {
        fprintf(stderr, "qasm-mbox: cannot configure the XDP program: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

static int xio_open(struct qasm_driver *d, const void *bcfg, void **pb)
{
    struct xio *x = calloc(1, sizeof(*x));
    if (!x)
        return 1;
    *pb = x;
    x->d = d;
    x->o = *(const struct qasm_xdp_config *)bcfg;
    x->o.pio.io_name = "xdp";
    x->core = *qasm_driver_core_config(d);
    x->link_fd[0] = x->link_fd[1] = -1;
    x->charge_fd = -1;
    x->mode[0] = x->mode[1] = "none";
    int rv = qasm_pio_ops.open(d, &x->o.pio, &x->pio);
    if (rv != 0)
        return rv;
    x->ifindex[0] = (int)if_nametoindex(x->o.pio.inside);
    x->ifindex[1] = (int)if_nametoindex(x->o.pio.outside);
    if (x->core.function == QASM_MBOX_NAT) {
        x->nports = (size_t)x->core.nat_port_max - x->core.nat_port_min + 1;
        x->port_entry = calloc(x->nports, sizeof(*x->port_entry));
        if (!x->port_entry)
            return 1;
    }
    if (load(x) != 0 || attach(x, 0, x->o.pio.inside) < 0 ||
        attach(x, 1, x->o.pio.outside) < 0)
        return 1;
    x->last_sweep = know();
    check_lo_forwarding();
    qasm_info("xdp: program attached to %s (%s) and %s (%s), maps for %zu entries; unknown "
              "flows go up to the packet backend", x->o.pio.inside, x->mode[0], x->o.pio.outside,
              x->mode[1], x->max_entries);
    return 0;
}

/* Detaches (closing the links), unloads, then closes the slow path. */
static void xio_close(void *b)
{
    struct xio *x = b;
    for (int i = 0; i < 2; i++)
        if (x->link_fd[i] >= 0)
            close(x->link_fd[i]);
    qasm_xdp__destroy(x->skel);
    qasm_xdp_slots_del(x->slots);
    if (x->pio)
        qasm_pio_ops.close(x->pio);
    free(x->port_entry);
    free(x);
}

const struct qasm_driver_backend_ops qasm_xdp_ops = {
    .name = "xdp",
    .buf_meta = sizeof(struct qasm_pio_meta),
    .prepare = xio_prepare,
    .open = xio_open,
    .close = xio_close,
    .recv = xio_recv,
    .deliver = xio_deliver,
    .port_open = xio_port_open,
    .port_close = xio_port_close,
    .flow_close = xio_flow_close,
    .record = xio_record,
    .tick = xio_tick,
    .stats_head = xio_stats_head,
    .stats_drops = xio_stats_drops,
    .stats = xio_stats,
};
