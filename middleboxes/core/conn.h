/*
 * conn.h: inside the middlebox core: its state (struct qasm_mbox in full)
 * and the entries that hold it. One entry per unit of middlebox state (a
 * NAT mapping with its public port, a token bucket, an LB backend
 * assignment): a default entry belongs to exactly one 5-tuple, a QUIC
 * entry to a connection (keyed on its O-DCID), which may own several
 * client 5-tuples (the addresses it migrated through) and several DCIDs.
 *
 * Tables: flows (client-oriented 5-tuple -> flow -> entry, lib/htab's
 * embedded table), dcids (DCID -> entry), odcids (O-DCID -> QUIC entry).
 * NAT public ports map back to entries through the NAT's port pool.
 * Timers are FIFO lists, because every timeout of a kind is the same
 * length: entries sit in one of two lists (30 s before traffic flowed
 * both ways, 120 s after), plus two grace lists (see entry_touch).
 *
 * For the core's own files only (mbox.c, conn.c); shells use mbox.h.
 */
#ifndef QASM_CONN_H
#define QASM_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "classify.h"
#include "hold.h"
#include "htab.h"
#include "mbox.h"
#include "mbox_fn.h"
#include "pool.h"
#include "ring.h"

#define MAX_FLOWS_PER_CONN 16 /* client 5-tuples kept per QUIC connection */
#define MAX_DCIDS_PER_CONN 32 /* DCIDs kept per QUIC connection */
#define MAX_ATTESTED 16       /* tracker-attested client addresses kept */
#define MAX_SERVERS 65536     /* CID-length table bound */

struct attest {
    qasm_tstamp at;
    size_t n;
    struct qasm_addr addr[MAX_ATTESTED];
};

struct entry;
TAILQ_HEAD(entry_list, entry);
TAILQ_HEAD(flow_list, flow);
TAILQ_HEAD(dcid_list, dcident);

/* Hot fields first: a lookup reads key, last_dcid and e. */
struct flow {
    struct qasm_flow key; /* client -> server */
    uint8_t embedded;     /* the entry's own first flow (not allocated) */
    uint8_t used;         /* embedded flow in use */
    /* QUIC connections' flows: the first-byte bits that send a client packet
     * off the fast path (see client_known); 0 for default entries. */
    uint8_t slow_bits;
    struct qasm_cid last_dcid;
    struct entry *e;
    uint64_t hash;
    TAILQ_ENTRY(flow) link; /* its entry's flows */
};

struct entry {
    /* line 0-1: the first flow, then the timer fields and flags */
    struct flow f0;      /* first flow, in the same allocation (one cache miss less) */
    qasm_tstamp last_seen;
    qasm_tstamp queued;  /* when put at the tail of its timer list */
    uint8_t quic;        /* keyed on an O-DCID */
    uint8_t assured;     /* traffic seen both ways: long timeout */
    uint8_t list;        /* timer list it is in: 0/1 main (by assured), 2/3 grace */
    uint8_t established; /* QUIC: client sent a short header */
    uint8_t subscribed;  /* proactive: SUBSCRIBE sent */
    uint8_t has_state;   /* port / bucket / backend allocated */
    uint8_t cls;         /* default entries: enum qasm_mbox_class of their packets */
    int8_t cid_len;      /* server CID length, -1 unknown */
    /* line 2: what a packet of an established flow reads or writes */
    struct flow *cur;    /* flow of the latest client packet (QUIC), may be NULL */
    uint16_t nflows, ndcids;
    uint32_t pkts_orig;  /* client packets that reached the entry (saturating) */
    union qasm_mbox_fn_state fs; /* the function's: port, bucket or backend */
    struct qasm_cid odcid;
    struct qasm_addr client; /* latest client address */
    /* the rest: set up and tear down */
    struct qasm_addr server;
    uint32_t pkts_reply; /* server packets (saturating; line 3, which server packets read) */
    TAILQ_ENTRY(entry) lru;  /* in m->lru[list] */
    struct flow_list flows;  /* oldest first */
    struct dcid_list dcids;  /* oldest first */
    struct attest *att;
    qasm_tstamp created; /* for adopt_us: how late the tracker's attestation came */
    /* Fallback mappings (made for this connection's DCIDs while the tracker was
     * away): a QUIC entry heads the list of its own, a default entry made as
     * one is linked in its connection's list (fb.conn set). */
    union {
        struct entry_list fbs; /* QUIC entry: its fallback mappings, oldest first */
        struct {
            TAILQ_ENTRY(entry) link;
            struct entry *conn;
        } fb;                  /* default entry: in fb.conn's list */
    };
};

/* Entries are cache-line aligned (a lookup touches the first three lines only). */
_Static_assert(sizeof(struct entry) <= 5 * 64, "struct entry grew past five cache lines");
#define POOL_SLAB 64 /* entries or flows per pool allocation */

struct dcident {
    struct qasm_cid dcid;
    uint64_t hash;
    struct entry *e;
    TAILQ_ENTRY(dcident) link; /* its entry's DCIDs */
    uint8_t confirmed; /* from the tracker or an Initial; else learned on the entry's own flow */
};

static inline int qasm_conn_flow_key_eq(const void *entry, const void *key)
{
    return qasm_flow_eq(&((const struct flow *)entry)->key, key);
}

/* The flow of client-oriented 5-tuple |key| (|hash|) in |t|, or NULL (inline lookup). */
static inline struct flow *qasm_conn_find(const struct qasm_htab_raw *t, uint64_t hash,
                                          const struct qasm_flow *key)
{
    return qasm_htab_raw_find(t, hash, key, qasm_conn_flow_key_eq);
}

struct qasm_mbox {
    struct qasm_mbox_config cfg;
    const struct qasm_mbox_fn_ops *fn; /* NAT, rate limiter or load balancer */
    void *fn_st;                       /* its state */
    uint8_t family;                    /* packets of this family only (0 = any) */
    struct qasm_htab_raw flows; /* client 5-tuple -> struct flow */
    uint64_t flows_gen;         /* bumped when a flow is added or freed */
    struct qasm_htab *dcids, *odcids;
    struct qasm_hold *hold;      /* tracker requests, held packets, pending queries */
    struct qasm_ring *reqs, *releases; /* the hold's queues, drained by the shell */
    struct qasm_cidlen_table *cidlens;
    int aware;
    int tracker_up;
    struct entry_list lru[4];    /* 0/1: by queue time (short/long timeout); 2/3: grace */
    /* Entries and a connection's further flows come from pools: no malloc per
     * new flow (whose cost varied with the heap's layout). */
    struct qasm_pool entries, flow_pool;
    qasm_duration timeout[2];
    qasm_tstamp hint;         /* no deadline before this (see expire_due) */
    size_t nentries;
    enum qasm_mbox_drop_reason entry_fail; /* why the last qasm_conn_entry_new failed */
    int tracker_away;         /* deciding a packet whose hold ran out unanswered */
    qasm_duration min_dur;    /* shortest timer an item can be given */
    qasm_duration hold_for;   /* longest hold: max(hold_time, hold_ceiling) */
    struct qasm_ring events;
    struct qasm_ring tevents; /* table events (conntrack -E), while te_max > 0 */
    size_t te_max;
    struct qasm_mbox_stats st;
};

/*
 * Timers without a list move per packet (that would touch two other
 * entries, two cache misses): an entry moves to the tail of its list only
 * when it was queued more than LAZY_GRANULE ago, so the main lists stay
 * sorted by queue time. An entry reaching the head whose last packet is
 * more recent goes to a grace list (it is due within LAZY_GRANULE), so an
 * entry expires at most LAZY_GRANULE late, never early.
 */
#define LAZY_GRANULE QASM_SEC

/* qasm_conn_touch: a packet of |e| at |now| (every packet: inline). */
static inline __attribute__((always_inline)) void
qasm_conn_touch(struct qasm_mbox *m, struct entry *e, qasm_tstamp now)
{
    if (now > e->last_seen)
        e->last_seen = now;
    if (e->list == e->assured && now - e->queued < LAZY_GRANULE)
        return;
    TAILQ_REMOVE(&m->lru[e->list], e, lru);
    e->queued = e->last_seen;
    e->list = e->assured;
    TAILQ_INSERT_TAIL(&m->lru[e->assured], e, lru);
}

/* Counts a packet of an entry (32-bit, saturating: the counters fill holes of struct entry). */
static inline void qasm_conn_count(uint32_t *c)
{
    *c += *c != UINT32_MAX;
}

/* ---- table events (conn.c) ---- */

/* Queues table event |type| about entry |e| (|client|: the address it concerns, NULL: the
 * entry's; |from|: a migration's old address, or NULL), when table events are on. */
void qasm_conn_event_slow(struct qasm_mbox *m, enum qasm_mbox_te_type type,
                          const struct entry *e, const struct qasm_addr *client,
                          const struct qasm_addr *from, qasm_tstamp now);
static inline void qasm_conn_event(struct qasm_mbox *m, enum qasm_mbox_te_type type,
                                   const struct entry *e, const struct qasm_addr *client,
                                   const struct qasm_addr *from, qasm_tstamp now)
{
    if (m->te_max)
        qasm_conn_event_slow(m, type, e, client, from, now);
}

/* Queues a REFUSED event: no state for 5-tuple |key| (|odcid|: a QUIC Initial's DCID, or
 * NULL), for |reason|, when table events are on. */
void qasm_conn_refused(struct qasm_mbox *m, const struct qasm_flow *key,
                       const struct qasm_cid *odcid, enum qasm_mbox_drop_reason reason,
                       qasm_tstamp now);

/* ---- entries, flows and DCIDs (conn.c) ---- */

/* Queues SUBSCRIBE or UNSUBSCRIBE for connection |e| (marks it subscribed or not). */
void qasm_conn_subscribe(struct qasm_mbox *m, struct entry *e, enum qasm_mbox_req_type type);

/* A new entry (QUIC connection if |quic|) at the tail of the short timer list;
 * at max_entries an unassured entry other than |keep| is evicted first.
 * NULL with m->entry_fail set when there is no room or no memory. */
struct entry *qasm_conn_entry_new(struct qasm_mbox *m, int quic, const struct qasm_addr *client,
                                  const struct qasm_addr *server, qasm_tstamp now,
                                  const struct entry *keep);

/* Allocates the function's state for |e| (client address known). -1 if the pool is dry. */
int qasm_conn_state_alloc(struct qasm_mbox *m, struct entry *e, qasm_tstamp now);

/* Frees |e| with its flows and DCIDs (its function state and subscription too). */
void qasm_conn_entry_free(struct qasm_mbox *m, struct entry *e);

/* Adds 5-tuple |key| (|hash|) to |e|. The flow, or NULL without memory. */
struct flow *qasm_conn_flow_add(struct qasm_mbox *m, struct entry *e, const struct qasm_flow *key,
                                uint64_t hash);

/* Moves the 5-tuple of flow |f| to entry |to|; a default entry left without flows goes.
 * Returns the flow now in |to| (NULL if out of memory: the 5-tuple is then unknown). */
struct flow *qasm_conn_flow_move(struct qasm_mbox *m, struct flow *f, struct entry *to);

/* Binds |dcid| to connection |e| (|confirmed|: by the tracker or an Initial). */
void qasm_conn_dcid_bind(struct qasm_mbox *m, struct entry *e, const struct qasm_cid *dcid,
                         int confirmed);

/* Whether the tracker attests client address |a| for connection |e| (within cache_ttl). */
int qasm_conn_attested(const struct qasm_mbox *m, const struct entry *e,
                       const struct qasm_addr *a, qasm_tstamp now);

/* A new QUIC connection entry keyed on |odcid|, or NULL (m->entry_fail set). */
struct entry *qasm_conn_new(struct qasm_mbox *m, const struct qasm_cid *odcid,
                            const struct qasm_addr *client, const struct qasm_addr *server,
                            qasm_tstamp now, const struct entry *keep);

/* Fallback mappings of connection |c|: make room for one more (at fallback_per_conn its
 * oldest goes), link default entry |e| as one, give them all back (the tracker attests |c|). */
void qasm_conn_fallback_make_room(struct qasm_mbox *m, struct entry *c, qasm_tstamp now);
void qasm_conn_fallback_link(struct qasm_mbox *m, struct entry *c, struct entry *e);
void qasm_conn_fallback_return(struct qasm_mbox *m, struct entry *c, qasm_tstamp now);

#endif
