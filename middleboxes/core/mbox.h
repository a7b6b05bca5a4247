/*
 * mbox.h: the I/O-free processing core of a QASM middlebox: a NAT (NAPT
 * with a finite public port pool), a per-flow token-bucket rate limiter or
 * an L4 hash load balancer, each in one of three modes:
 *
 *   default    state keyed on the UDP 5-tuple, exactly like the paper's
 *              baselines (a migrated QUIC connection is a new flow);
 *   reactive   QUIC packets are keyed on the connection's original DCID
 *              (O-DCID); an unknown DCID is looked up in the tracker and
 *              the answer cached;
 *   proactive  as reactive, and the core subscribes to each connection on
 *              first sight so the tracker pushes new DCIDs / addresses
 *              before the packets that use them arrive.
 *
 * The core never does I/O and never reads a clock: a shell (UDP relay,
 * packet backend, pcap replay) turns each datagram into a struct
 * qasm_mbox_pkt, calls qasm_mbox_process() with the current time and
 * applies the verdict. Everything the core wants from the outside world
 * comes out of queues the shell drains after every call:
 *
 *   qasm_mbox_next_request()  tracker requests (QUERY / SUBSCRIBE / UNSUBSCRIBE);
 *                             the shell feeds answers back with
 *                             qasm_mbox_answer() and pushes with qasm_mbox_push();
 *   qasm_mbox_next_release()  packets the core held (verdict HOLD) and has
 *                             now decided, with their opaque pointers;
 *   qasm_mbox_next_event()    NAT public ports opened / closed (the relay
 *                             binds one real socket per public port).
 *
 * Timers: qasm_mbox_next_expiry() gives the next deadline; the shell calls
 * qasm_mbox_expire() when it passes (qasm_mbox_process() also expires what
 * is due, so a replay that only calls process stays exact).
 *
 * Many packets at once: qasm_mbox_process_batch() (same verdicts as one
 * call per packet, 2-4x faster with 10^6 flows: it overlaps cache misses).
 *
 * Drain order after each call to process / answer / push / expire /
 * tracker_state: events first (a PORT_OPEN must precede the first packet
 * sent from that port), then the verdict / released packets, then requests.
 *
 * The rules of classification (aware modes; see docs/MIDDLEBOX-CORE.md):
 *  - a packet on a 5-tuple the core already knows keeps that 5-tuple's
 *    state (its connection's, or its default entry's) without a DCID lookup,
 *    except a long header, which is classified as below;
 *  - non-QUIC UDP, and QUIC packets whose DCID cannot be read (short header
 *    to a server whose CID length is not known yet) get default treatment;
 *  - packets with a known DCID from a new 5-tuple whose address the tracker
 *    does not (yet) attest are held and the tracker asked, like unknown ones;
 *  - the CID length of each server is learned from the SCID of its
 *    long-header packets; a client Initial gives the O-DCID directly;
 *  - a connection's state moves to a new client address only when the
 *    tracker attests that address for the connection; a packet carrying
 *    someone else's DCID from an unattested address gets default treatment,
 *    never the victim's mapping, bucket or backend;
 *  - packets with an unknown DCID from an unknown 5-tuple are held for at
 *    most hold_time while the tracker is asked (bounded per DCID and
 *    globally); then they join their connection or become a new flow;
 *  - tracker down or slow: default treatment, counted, no stall beyond hold_time;
 *    the default entries a known connection's DCID makes meanwhile are capped
 *    per connection (fallback_per_conn) and handed back once the tracker
 *    attests the connection again.
 *
 * Bounds: max_entries (default 65536, idlest unassured entry evicted for a
 * new flow), the NAT pool, hold_max / hold_max_per_dcid, max_requests,
 * fallback_per_conn, and per connection 16 5-tuples / 32 DCIDs; each has a
 * counter (docs/MIDDLEBOX-CORE.md, "Bounds").
 */
#ifndef QASM_MBOX_H
#define QASM_MBOX_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cid.h"
#include "clock.h"

struct qasm_mbox;

enum qasm_mbox_function {
    QASM_MBOX_NAT = 0,
    QASM_MBOX_RATELIMIT = 1,
    QASM_MBOX_LB = 2
};

enum qasm_mbox_mode {
    QASM_MBOX_DEFAULT = 0,
    QASM_MBOX_REACTIVE = 1,
    QASM_MBOX_PROACTIVE = 2
};

#define QASM_MBOX_MAX_BACKENDS 256
/* Default bound of state entries (max_entries), nf_conntrack_max's usual value. */
#define QASM_MBOX_DEFAULT_MAX_ENTRIES 65536
#define QASM_MBOX_DEFAULT_FALLBACK_PER_CONN 4

struct qasm_mbox_config {
    enum qasm_mbox_function function;
    enum qasm_mbox_mode mode;

    /* NAT: public IP (port ignored) and the inclusive public port range. */
    struct qasm_addr nat_public;
    uint16_t nat_port_min;
    uint16_t nat_port_max;
    /* Idle timeout of every entry (NAT mapping, RL bucket, LB flow): like
     * conntrack, udp_timeout until traffic flowed both ways, then
     * udp_stream_timeout. Defaults 30 s and 120 s. An entry goes at most
     * 1 s after its timeout (timers are lazy, see mbox.c), never before. */
    qasm_duration udp_timeout;
    qasm_duration udp_stream_timeout;

    /* Rate limiter: tokens per second (may be fractional), bucket depth,
     * and whether a token is a packet (0) or a byte of UDP payload (1).
     * Both directions of a flow draw from the same bucket. */
    double rl_rate;
    double rl_burst;
    int rl_bytes;

    /* Load balancer: the backends (copied by qasm_mbox_new). */
    const struct qasm_addr *lb_backends;
    size_t lb_nbackends;

    /* Aware modes. */
    qasm_duration hold_time;     /* how long the tracker is asked to wait for the agent's report
                                    of a held packet's address (the QUERY's wait, default 2 ms) */
    /* How long a held packet may wait for the tracker's answer to its query
     * (default 100 ms). The tracker decides at hold_time after it reads the
     * query; on a busy machine its answer (or push) can reach the core later
     * than hold_time after the packet, and giving the packet default
     * treatment then costs a transient NAT mapping (a rebinding for the
     * server). So a held packet waits for the answer, not for a fixed time;
     * hold_ceiling bounds that wait when the tracker is stalled. A value
     * <= hold_time gives the fixed hold of hold_time. */
    qasm_duration hold_ceiling;
    size_t hold_max;             /* max packets held in total (default 4096) */
    size_t hold_max_per_dcid;    /* max packets held per unknown DCID (default 16) */
    qasm_duration cache_ttl;     /* how long a tracker attestation is trusted (default 120 s) */
    qasm_duration query_timeout; /* forget an unanswered query after this (default 1 s) */
    size_t max_requests;         /* bound of the request queue and of queries in flight
                                    (default 65536) */

    /* Bound of state entries (mappings, buckets, LB flows, QUIC connections),
     * like nf_conntrack_max (default QASM_MBOX_DEFAULT_MAX_ENTRIES). At the
     * bound a new flow first evicts the idlest entry that has not seen
     * traffic both ways (entries_evicted, like conntrack's early drop), so
     * one-packet spoofed flows cannot lock the table; when every entry is
     * assured the new flow is dropped (table_full). 0 = no bound. */
    size_t max_entries;
    /* Aware modes: default (5-tuple) mappings that packets carrying a known
     * connection's DCID may take while the tracker is away (session down,
     * or a hold ran out unanswered), per connection (default 4). Beyond,
     * the connection's oldest such mapping is freed for the new one
     * (fallback_recycled); all go back when the tracker attests the
     * connection again (fallback_returned). 0 = no cap. */
    size_t fallback_per_conn;
    /* RL / LB: queue a FLOW_CLOSE event whenever a client 5-tuple's state
     * goes (expiry, eviction) so the shell can close what it keeps per flow
     * (the relay's upstream sockets). Default 0: no such events. */
    int flow_events;
    /* Sizing hint for the tables (default 1024) and a hash seed (0 = fixed). */
    size_t expected_flows;
    uint64_t seed;
};

/*
 * qasm_mbox_config_init fills |cfg| with the defaults above for |function|
 * and |mode| (NAT: 127.0.0.1, ports 40000-40063; RL: 5 pkt/s, burst 5; LB:
 * no backend, set some before qasm_mbox_new).
 */
void qasm_mbox_config_init(struct qasm_mbox_config *cfg, enum qasm_mbox_function function,
                           enum qasm_mbox_mode mode);

/*
 * qasm_mbox_new makes a core from |cfg| (copied). Returns 0, -EINVAL for a
 * bad configuration (empty port range, no LB backend, rate <= 0, ...), or
 * -ENOMEM; *pm is NULL on failure.
 */
int qasm_mbox_new(struct qasm_mbox **pm, const struct qasm_mbox_config *cfg);

/* qasm_mbox_del frees the core and everything it holds. NULL is fine.
 * Held packets are forgotten without being handed back: call
 * qasm_mbox_flush and drain the releases first to get their buffers back. */
void qasm_mbox_del(struct qasm_mbox *m);

/* ---- Packets and verdicts ---- */

enum qasm_mbox_dir {
    QASM_MBOX_FROM_CLIENT = 0, /* private / client side, towards the server */
    QASM_MBOX_FROM_SERVER = 1  /* public / server side, towards the client */
};

/*
 * One UDP datagram as the core sees it. |flow| is the 5-tuple:
 *  - FROM_CLIENT: src = client (private) address, dst = the server, i.e.
 *    where the packet goes next (in a UDP relay: the --upstream address,
 *    not the relay's own listen address); for the LB: the address the
 *    client sent to (the VIP), the core picks the backend;
 *  - FROM_SERVER, NAT: src = the server (must equal the dst of the
 *    client packets that made the mapping, like conntrack's reply tuple),
 *    dst = public IP:port of the mapping (the port the datagram came in on);
 *  - FROM_SERVER, RL/LB: src = the server as in the client packets' dst,
 *    dst = the client, i.e. exactly the reverse of the client's flow.
 * Addresses must be zero-padded (qasm_addr_parse / _from_sockaddr do it);
 * proto is 17 (UDP).
 * |data|/|len| is the UDP payload. The core reads it only during the call;
 * for a HOLD it keeps the pointer and hands it back, so the shell must
 * keep the buffer alive until the packet is released (tie it to |opaque|).
 */
struct qasm_mbox_pkt {
    struct qasm_flow flow;
    enum qasm_mbox_dir dir;
    const uint8_t *data;
    size_t len;
    void *opaque;
};

enum qasm_mbox_action {
    QASM_MBOX_FORWARD = 0,
    QASM_MBOX_DROP = 1,
    QASM_MBOX_HOLD = 2
};

enum qasm_mbox_drop_reason {
    QASM_MBOX_DROP_NONE = 0,
    QASM_MBOX_DROP_POOL_EXHAUSTED = 1, /* NAT: no free public port for a new flow */
    QASM_MBOX_DROP_RATE_LIMITED = 2,   /* RL: bucket empty */
    QASM_MBOX_DROP_MALFORMED = 3,      /* packet view unusable (no address family, ...) */
    QASM_MBOX_DROP_HOLD_OVERFLOW = 4,  /* hold queue full (per DCID or global) */
    QASM_MBOX_DROP_NO_MAPPING = 5,     /* NAT: public-side packet matching no mapping */
    QASM_MBOX_DROP_NO_MEMORY = 6,      /* allocation failed */
    QASM_MBOX_DROP_SHUTDOWN = 7,       /* held packet handed back by qasm_mbox_flush */
    QASM_MBOX_DROP_TABLE_FULL = 8,     /* max_entries reached: new flow refused */
    QASM_MBOX_DROP_MAX
};

/* Which path a packet took through the state tables (fig9 of the paper). */
enum qasm_mbox_path {
    QASM_MBOX_PATH_NONE = 0,   /* dropped before touching state, or held */
    QASM_MBOX_PATH_LOOKUP = 1, /* found an existing entry, nothing changed */
    QASM_MBOX_PATH_NEW = 2,    /* created a new entry (mapping, bucket, backend) */
    QASM_MBOX_PATH_UPDATE = 3, /* existing entry updated: new client address or new DCID */
    QASM_MBOX_PATH_MAX
};

/* How the packet was classified. */
enum qasm_mbox_class {
    QASM_MBOX_CLASS_FLOW = 0,     /* default mode: keyed on the 5-tuple */
    QASM_MBOX_CLASS_NONQUIC = 1,  /* aware mode, not QUIC / DCID unreadable: 5-tuple */
    QASM_MBOX_CLASS_QUIC_FLOW = 2, /* aware mode, QUIC but default treatment (unknown,
                                      unattested, tracker down): 5-tuple */
    QASM_MBOX_CLASS_QUIC_CONN = 3, /* aware mode: keyed on the connection's O-DCID */
    QASM_MBOX_CLASS_MAX
};

struct qasm_mbox_verdict {
    enum qasm_mbox_action action;
    enum qasm_mbox_drop_reason reason; /* DROP only */
    enum qasm_mbox_path path;
    enum qasm_mbox_class cls;
    /*
     * FORWARD: the 5-tuple to send with. NAT from client: src = public
     * IP:port, dst unchanged; NAT from server: src unchanged, dst = the
     * connection's latest private address; LB from client: dst = the
     * chosen backend; otherwise unchanged.
     */
    struct qasm_flow flow;
    uint16_t public_port;   /* NAT: the mapping's public port (also for FROM_SERVER) */
    int backend;            /* LB: index of the backend, else -1 */
    struct qasm_cid odcid;  /* QUIC_CONN: the connection's O-DCID (len 0 otherwise) */
    /* Set for released packets (qasm_mbox_next_release): the packet's own
     * fields, as given to qasm_mbox_process. */
    enum qasm_mbox_dir dir;
    const uint8_t *data;
    size_t len;
    void *opaque;
    qasm_tstamp held_since; /* released packets: when it was held */
};

/*
 * qasm_mbox_process classifies |pkt| at time |now| and fills |v|. Returns
 * v->action. A HOLD means the core keeps the packet (its opaque pointer,
 * data pointer and length); it comes back later from
 * qasm_mbox_next_release() with its real verdict, at most hold_time later.
 * May queue events and tracker requests.
 */
enum qasm_mbox_action qasm_mbox_process(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt,
                                        qasm_tstamp now, struct qasm_mbox_verdict *v);

/*
 * qasm_mbox_process_batch processes |n| packets received together (one
 * recvmmsg batch) at time |now|, exactly as n calls of qasm_mbox_process in
 * order, verdict i into v[i]; it only overlaps their table lookups'
 * memory accesses (prefetch), which is faster with many flows.
 */
void qasm_mbox_process_batch(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkts, size_t n,
                             qasm_tstamp now, struct qasm_mbox_verdict *v);

/*
 * qasm_mbox_next_release pops the next packet the core has decided after
 * holding it. Returns 1 with |v| filled (v->opaque, v->data, v->len, dir
 * set; action is FORWARD or DROP), or 0 when none is waiting.
 */
int qasm_mbox_next_release(struct qasm_mbox *m, struct qasm_mbox_verdict *v);

/*
 * qasm_mbox_flush hands every held packet back at once (for a shell that is
 * shutting down and wants its buffers back): each comes out of
 * qasm_mbox_next_release as a DROP with reason SHUTDOWN.
 */
void qasm_mbox_flush(struct qasm_mbox *m);

/* ---- Events for the shell ---- */

enum qasm_mbox_event_type {
    QASM_MBOX_EV_PORT_OPEN = 0,  /* NAT: open (bind) public address |addr| */
    QASM_MBOX_EV_PORT_CLOSE = 1, /* NAT: close it (mapping expired) */
    QASM_MBOX_EV_FLOW_CLOSE = 2  /* RL / LB with flow_events: client |addr|'s state towards
                                    next hop |hop| is gone (expired, evicted, or the LB moved
                                    it to another backend) */
};

struct qasm_mbox_event {
    enum qasm_mbox_event_type type;
    struct qasm_addr addr;
    struct qasm_addr hop; /* FLOW_CLOSE: the upstream (RL) or the backend (LB) */
};

/* qasm_mbox_next_event pops the next event. Returns 1 with |ev| filled, or 0. */
int qasm_mbox_next_event(struct qasm_mbox *m, struct qasm_mbox_event *ev);

/* ---- Table events (like conntrack -E), for an operator watching the table ---- */

enum qasm_mbox_te_type {
    QASM_MBOX_TE_NEW = 0,      /* an entry got its state (mapping, bucket, backend) */
    QASM_MBOX_TE_MIGRATED = 1, /* a connection moved to a new attested client address */
    QASM_MBOX_TE_ADOPTED = 2,  /* a 5-tuple given default treatment joined its connection */
    QASM_MBOX_TE_EXPIRED = 3,  /* an entry idled out */
    QASM_MBOX_TE_EVICTED = 4,  /* an unassured entry evicted at max_entries for a new flow */
    QASM_MBOX_TE_REFUSED = 5,  /* a new flow got no state (pool exhausted, table full) */
    QASM_MBOX_TE_RELEASED = 6, /* a fallback mapping freed: recycled at fallback_per_conn, or
                                  returned once the tracker attested its connection again */
    QASM_MBOX_TE_MAX
};

/* One table event. The entry's fields as qasm_mbox_foreach reports them, at |at|. */
struct qasm_mbox_table_event {
    enum qasm_mbox_te_type type;
    qasm_tstamp at;
    int quic;                  /* the entry is a QUIC connection (odcid set) */
    struct qasm_cid odcid;     /* QUIC; REFUSED: the Initial's DCID, if one */
    struct qasm_addr client;   /* the client address concerned (MIGRATED: the new one,
                                  ADOPTED: the 5-tuple's) */
    struct qasm_addr from;     /* MIGRATED: the previous latest client address */
    struct qasm_addr server;
    uint16_t public_port;      /* NAT */
    int backend;               /* LB, else -1 */
    enum qasm_mbox_drop_reason reason; /* REFUSED */
    qasm_tstamp created;       /* the entry's creation (0 for REFUSED) */
    uint64_t packets_orig, packets_reply;
};

/*
 * qasm_mbox_table_events turns table events on with a queue of at most
 * |max| (events past it are counted in table_events_dropped), or off with
 * 0 (the queue is emptied). Off by default: a shell turns them on while
 * someone watches. qasm_mbox_next_table_event pops the oldest: 1 with |ev|
 * filled, or 0.
 */
void qasm_mbox_table_events(struct qasm_mbox *m, size_t max);
int qasm_mbox_next_table_event(struct qasm_mbox *m, struct qasm_mbox_table_event *ev);

/* ---- The tracker, as queues ---- */

enum qasm_mbox_req_type {
    QASM_MBOX_REQ_QUERY = 0,      /* look |dcid| up (answer within wait_ms if it becomes known) */
    QASM_MBOX_REQ_SUBSCRIBE = 1,  /* push every change of connection |odcid| */
    QASM_MBOX_REQ_UNSUBSCRIBE = 2 /* stop pushing |odcid| */
};

struct qasm_mbox_req {
    enum qasm_mbox_req_type type;
    uint64_t id;              /* QUERY: give it back to qasm_mbox_answer */
    struct qasm_cid dcid;     /* QUERY */
    struct qasm_addr server;  /* QUERY: the server the packet was sent to (may be unset) */
    uint32_t wait_ms;         /* QUERY: 0 = answer now; else tracker may wait that long */
    struct qasm_addr client;  /* QUERY with a wait: the packet's client address; the tracker
                                 waits until it is attested too (its report may trail the packet) */
    struct qasm_cid odcid;    /* SUBSCRIBE / UNSUBSCRIBE */
};

/*
 * qasm_mbox_next_request pops the next tracker request. Returns 1 with
 * |req| filled, or 0 when none is waiting. Requests are only produced
 * while the tracker is up (see qasm_mbox_tracker_state).
 */
int qasm_mbox_next_request(struct qasm_mbox *m, struct qasm_mbox_req *req);

/*
 * A connection as the tracker knows it (filled by the shell from the
 * tracker protocol's record; the arrays are read during the call only).
 * |clients| are the client addresses the tracker attests for the
 * connection, oldest first; |dcids| the DCIDs in use, oldest first.
 */
struct qasm_mbox_record {
    struct qasm_cid odcid;
    struct qasm_addr server;       /* may be unset */
    uint8_t dcid_len;              /* length of the server-chosen CIDs (0 = unknown) */
    uint8_t closed;                /* the connection was closed */
    const struct qasm_cid *dcids;
    size_t ndcids;
    const struct qasm_addr *clients;
    size_t nclients;
};

/*
 * qasm_mbox_answer delivers the tracker's answer to QUERY |id|: |rec|, or
 * NULL for NOT_FOUND (or a wait that ran out). Held packets waiting on
 * that DCID are decided and queued for qasm_mbox_next_release. An answer
 * to a forgotten or unknown id is still used to update the cache.
 */
void qasm_mbox_answer(struct qasm_mbox *m, uint64_t id, const struct qasm_mbox_record *rec,
                      qasm_tstamp now);

/*
 * qasm_mbox_push delivers a subscription push (a connection changed): the
 * record replaces what the core knew; packets held for any of its DCIDs
 * are decided.
 */
void qasm_mbox_push(struct qasm_mbox *m, const struct qasm_mbox_record *rec, qasm_tstamp now);

/*
 * Adapters for the tracker codec (lib/proto.h): the same as
 * qasm_mbox_answer / qasm_mbox_push, taking the decoded connection record
 * as is. qasm_mbox_answer_conn(m, id, NULL, now) is a NOT_FOUND. Feed the
 * RECORD that answers a SUBSCRIBE to qasm_mbox_push_conn (event 0). A push
 * with event CLOSED / EXPIRED / EVICTED (or the record's CLOSED flag) ends
 * the subscription; the local state then simply idles out.
 * Requests ids fit in 32 bits until 2^32 queries were made (the protocol's
 * req_id is 32-bit).
 */
struct qasm_proto_conn;
void qasm_mbox_answer_conn(struct qasm_mbox *m, uint64_t id, const struct qasm_proto_conn *conn,
                           qasm_tstamp now);
void qasm_mbox_push_conn(struct qasm_mbox *m, uint8_t event, const struct qasm_proto_conn *conn,
                         qasm_tstamp now);

/*
 * qasm_mbox_tracker_state tells the core whether its tracker session is up
 * (|up| = 1) or down (0). Going down releases every held packet with
 * default treatment and stops requests (aware modes then behave like the
 * default mode, counted in tracker_unavailable). Coming up again (after
 * the shell reconnects) re-subscribes every live connection in proactive
 * mode, and in reactive mode queues a QUERY for each connection holding
 * fallback mappings (by the DCID its client used last): the answers hand
 * them back. A new core starts with the tracker down in default mode and up in
 * the aware modes (the shell reports a failed connect at once).
 */
void qasm_mbox_tracker_state(struct qasm_mbox *m, int up, qasm_tstamp now);

/*
 * qasm_mbox_touch tells the core that an entry saw traffic at |now| that the
 * shell forwarded without it (a kernel fast path programmed from the
 * core's verdicts): the entry of connection |odcid| (len > 0), else of the
 * client 5-tuple |client_flow| (client -> server, as FROM_CLIENT packets
 * carry it), restarts its idle timer; |both_ways|: traffic flowed both ways
 * (the entry is assured). Returns 1, or 0 when the core has no such entry.
 */
int qasm_mbox_touch(struct qasm_mbox *m, const struct qasm_flow *client_flow,
                    const struct qasm_cid *odcid, int both_ways, qasm_tstamp now);

/* ---- Timers ---- */

/* qasm_mbox_next_expiry returns the earliest deadline, or QASM_TSTAMP_MAX. */
qasm_tstamp qasm_mbox_next_expiry(const struct qasm_mbox *m);

/*
 * qasm_mbox_expire runs everything due at |now|: held packets past
 * hold_time (released with default treatment), forgotten queries, idle
 * entries (NAT ports closed, UNSUBSCRIBE queued).
 */
void qasm_mbox_expire(struct qasm_mbox *m, qasm_tstamp now);

/* ---- Observability ---- */

#define QASM_MBOX_US_BUCKETS 24 /* up to 2^22 us (4.2 s), then the last bucket */

/* qasm_mbox_us_bucket returns the bucket of the stats' histograms for |ns|. */
unsigned qasm_mbox_us_bucket(qasm_duration ns);

struct qasm_mbox_stats {
    uint64_t packets_in;
    uint64_t packets_forwarded;
    uint64_t packets_dropped;                        /* sum of the next */
    uint64_t packets_dropped_by[QASM_MBOX_DROP_MAX]; /* by reason */
    uint64_t packets_held;                           /* HOLD verdicts */
    uint64_t packets_released;                       /* held packets decided */
    uint64_t released_joined;     /* ... that joined a known connection */
    uint64_t released_default;    /* ... that got default treatment */
    uint64_t hold_timeouts;       /* ... decided because the hold ran out (hold_ceiling, or
                                     hold_time when that is longer) */
    uint64_t held_past_hold;      /* ... decided later than hold_time after being held */
    uint64_t joined_past_hold;    /* ... of which joined their connection: each one a
                                     transient mapping a fixed hold of hold_time would have made */
    uint64_t held_now;            /* packets held at this moment */
    uint64_t path[QASM_MBOX_PATH_MAX];   /* packets by state path (fig9) */
    uint64_t cls[QASM_MBOX_CLASS_MAX];   /* packets by classification */

    uint64_t mappings;            /* state entries now: NAT mappings, RL buckets, LB flows */
    uint64_t mappings_created;    /* total */
    uint64_t mappings_expired;    /* total */
    uint64_t entries_evicted;     /* unassured entries evicted at max_entries for a new flow */
    uint64_t fallback_mappings;   /* default entries made for a known connection's DCID while
                                     the tracker was away */
    uint64_t fallback_recycled;   /* ... freed because their connection reached
                                     fallback_per_conn */
    uint64_t fallback_returned;   /* ... freed when the tracker attested the connection again */
    uint64_t fallback_now;        /* ... held now */
    uint64_t flows;               /* 5-tuple entries now (a QUIC connection may have several) */
    uint64_t conns;               /* QUIC connections (O-DCID keyed) now */
    uint64_t dcids;               /* DCIDs bound to connections now */
    uint64_t ports_in_use;        /* NAT */
    uint64_t ports_high_water;    /* NAT */
    uint64_t migrations;          /* a connection moved to a new attested client address */
    uint64_t unattested;          /* QUIC packet refused a connection's state (hijack,
                                     no attestation) */
    uint64_t adopted;             /* 5-tuples given default treatment that joined their connection
                                     when the tracker attested them later (late answer, push) */
    /* Where the time goes, in log2 buckets of microseconds: bucket 0 is
     * [0, 1 us), bucket i is [2^(i-1), 2^i) us, the last one everything above. */
    uint64_t hold_us[QASM_MBOX_US_BUCKETS];   /* held packets: hold start -> decided */
    uint64_t answer_us[QASM_MBOX_US_BUCKETS]; /* queries: queued -> answered */
    uint64_t adopt_us[QASM_MBOX_US_BUCKETS];  /* adopted 5-tuples: default entry made ->
                                                 attested (how late the race was lost) */
    uint64_t cid_lens_learned;    /* server CID lengths learned */

    uint64_t tracker_queries;     /* QUERY requests */
    uint64_t tracker_waits;       /* ... of which with a wait (packets held) */
    uint64_t tracker_answers;     /* answers with a record */
    uint64_t tracker_not_found;   /* NOT_FOUND answers */
    uint64_t tracker_timeouts;    /* queries forgotten unanswered */
    uint64_t tracker_late;        /* answers to forgotten / unknown queries */
    uint64_t tracker_pushes;      /* pushes received */
    uint64_t tracker_subscribes;
    uint64_t tracker_unsubscribes;
    uint64_t tracker_unavailable; /* packets given default treatment because the tracker was down */
    uint64_t tracker_down_events;
    uint64_t requests_dropped;    /* request queue full */
    uint64_t cache_hits;          /* DCID found in the local table */
    uint64_t cache_misses;        /* DCID not found */
    uint64_t table_events_dropped; /* table events past the queue's bound */
};

/* qasm_mbox_get_stats copies the counters into |st|. */
void qasm_mbox_get_stats(const struct qasm_mbox *m, struct qasm_mbox_stats *st);

/* One state entry, as shown by qasm_mbox_foreach (e.g. the paper's Table 1). */
struct qasm_mbox_entry_info {
    int quic;                        /* keyed on an O-DCID */
    struct qasm_cid odcid;
    struct qasm_addr client;         /* latest client (private) address */
    struct qasm_addr server;
    const struct qasm_addr *clients; /* every client address bound now, oldest first */
    size_t nclients;
    uint16_t public_port;            /* NAT */
    int backend;                     /* LB, else -1 */
    double tokens;                   /* RL */
    qasm_tstamp last_seen;
    int assured;                     /* traffic flowed both ways */
    qasm_tstamp created;             /* age = now - created */
    qasm_tstamp expires;             /* idle deadline (goes at most 1 s later, never before) */
    uint64_t packets_orig;           /* client -> server packets that reached the entry */
    uint64_t packets_reply;          /* server -> client */
};

/*
 * qasm_mbox_foreach calls |cb| for every state entry (arrays valid during
 * the call only); stops early when |cb| returns non-zero.
 */
void qasm_mbox_foreach(const struct qasm_mbox *m,
                       int (*cb)(const struct qasm_mbox_entry_info *e, void *arg), void *arg);

/* Names for logs and JSON ("nat", "reactive", "pool_exhausted", "lookup", ...). */
const char *qasm_mbox_function_name(enum qasm_mbox_function f);
const char *qasm_mbox_mode_name(enum qasm_mbox_mode mode);
const char *qasm_mbox_drop_name(enum qasm_mbox_drop_reason r);
const char *qasm_mbox_path_name(enum qasm_mbox_path p);
const char *qasm_mbox_class_name(enum qasm_mbox_class c);
const char *qasm_mbox_te_name(enum qasm_mbox_te_type t); /* "new", "migrated", ... */

/* Parse "nat" / "ratelimit" / "lb" and "default" / "reactive" / "proactive";
 * return 0 or -EINVAL. */
int qasm_mbox_function_parse(enum qasm_mbox_function *f, const char *s);
int qasm_mbox_mode_parse(enum qasm_mbox_mode *mode, const char *s);

#endif
