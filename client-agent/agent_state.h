/*
 * agent_state.h: the client agent's pure core. One struct qasm_agent_conn
 * per client QUIC connection holds what the agent knows (O-DCID, client
 * SCID, current DCID, every DCID with its sequence number and state, the
 * local addresses used, the server address) and turns observations into
 * report events: "opened", "DCID active", "DCID spare" (pre-registration),
 * "DCID retired", "client address changed", "closed" and "refresh".
 *
 * Observations come from the interposition layer (interpose.c): ngtcp2
 * callbacks (dcid_status), polls of ngtcp2_conn_get_dcid()/get_path() after
 * every wrapped call, NEW_CONNECTION_ID frames seen in the qlog stream, and
 * close signals. The core dedupes: feeding the same fact twice emits nothing
 * the second time, so callers may observe as often as they like.
 *
 * No I/O, no clock, no ngtcp2 types: time is passed in, events are appended
 * to a caller-owned queue. Not thread-safe (the caller serialises).
 */
#ifndef QASM_AGENT_STATE_H
#define QASM_AGENT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cid.h"
#include "clock.h"
#include "proto.h"

/* DCIDs remembered per connection (spare + active + recently retired). */
#define QASM_AGENT_MAX_DCIDS 24
/* Local addresses remembered per connection (most recent last). */
#define QASM_AGENT_MAX_ADDRS 8
/* Addresses announced ahead (qasm_agent_conn_announce) and not used yet, per connection. */
#define QASM_AGENT_MAX_AHEAD 4
/* Events one observation can produce at most is small; a queue holds this many. */
#define QASM_AGENT_EVQ_LEN 48
/* Sequence number not known (silent switches seen only by polling). */
#define QASM_AGENT_SEQ_UNKNOWN UINT64_MAX

enum qasm_agent_dcid_state {
    QASM_AGENT_DCID_SPARE = 0,   /* issued by the server, not used yet */
    QASM_AGENT_DCID_ACTIVE = 1,  /* in use (current, probing, or retired but not dropped) */
    QASM_AGENT_DCID_RETIRED = 2, /* dropped by ngtcp2 (DEACTIVATE); kept to ignore retransmits */
};

enum qasm_agent_close_reason {
    QASM_AGENT_CLOSE_LOCAL = 0,    /* the application wrote CONNECTION_CLOSE */
    QASM_AGENT_CLOSE_DRAINING = 1, /* the peer closed (read_pkt returned DRAINING) */
    QASM_AGENT_CLOSE_IDLE = 2,     /* idle timeout (handle_expiry returned IDLE_CLOSE) */
    QASM_AGENT_CLOSE_RESET = 3,    /* stateless reset received */
    QASM_AGENT_CLOSE_DELETED = 4,  /* ngtcp2_conn_del without an earlier close */
    QASM_AGENT_CLOSE_EXIT = 5,     /* process exit with the connection still alive */
};

enum qasm_agent_ev_type {
    QASM_AGENT_EV_OPEN = 0,         /* odcid, scid, local, remote of the conn */
    QASM_AGENT_EV_DCID_ACTIVE = 1,  /* ev.cid (ev.seq) is in use */
    QASM_AGENT_EV_DCID_SPARE = 2,   /* ev.cid (ev.seq) issued, not used yet */
    QASM_AGENT_EV_DCID_RETIRED = 3, /* ev.cid (ev.seq) dropped */
    QASM_AGENT_EV_ADDR = 4,         /* the client (local) address is now ev.addr */
    QASM_AGENT_EV_CLOSE = 5,        /* closed, ev.reason */
    QASM_AGENT_EV_REFRESH = 6,      /* send the full state again */
};

struct qasm_agent_ev {
    uint8_t type;   /* enum qasm_agent_ev_type */
    uint8_t reason; /* enum qasm_agent_close_reason, for CLOSE */
    uint8_t ahead;  /* ADDR: announced ahead (qasm_agent_conn_announce), not a change */
    uint64_t seq;   /* CID sequence number or QASM_AGENT_SEQ_UNKNOWN */
    struct qasm_cid cid;
    struct qasm_addr addr;
};

/* A bounded event queue; overflow is counted, never written past the end. */
struct qasm_agent_evq {
    size_t n;
    size_t dropped;
    struct qasm_agent_ev ev[QASM_AGENT_EVQ_LEN];
};

struct qasm_agent_dcid {
    struct qasm_cid cid;
    uint64_t seq;
    uint8_t state; /* enum qasm_agent_dcid_state */
};

struct qasm_agent_conn {
    struct qasm_cid odcid;  /* DCID of the first Initial */
    struct qasm_cid scid;   /* the client's own SCID */
    struct qasm_cid dcid;   /* current DCID (last observed) */
    struct qasm_addr local; /* current client address */
    struct qasm_addr remote;/* server address */
    struct qasm_addr client0; /* first client address (the tracker's key with the O-DCID) */
    struct qasm_agent_dcid dcids[QASM_AGENT_MAX_DCIDS];
    size_t ndcids;
    struct qasm_addr addrs[QASM_AGENT_MAX_ADDRS]; /* client addresses, oldest first */
    size_t naddrs;
    /* Announced ahead, not used yet (oldest first): a path the application
     * prepared for its next migration, attested before its first packet. */
    struct qasm_addr ahead[QASM_AGENT_MAX_AHEAD];
    size_t nahead;
    uint32_t ahead_dropped; /* announced, replaced by newer ones before use */
    qasm_tstamp opened;
    qasm_tstamp last_refresh;
    uint32_t nchanges;      /* DCID switches + address changes seen */
    uint32_t report_seq;    /* last report sequence number sent (agent_report.c) */
    /* Chosen at random by the shell right after qasm_agent_conn_open (never
     * by this core: it does no I/O), sent in OPEN and REFRESH; every report
     * carries a MAC under it, so only this agent can change the connection
     * at the tracker (docs/PROTOCOL.md, "Authentication"). */
    uint8_t secret[QASM_PROTO_SECRET_LEN];
    uint8_t closed;
    uint8_t close_reason;
    /* Set by the caller after qasm_agent_conn_open: a DCID left silently
     * stays active (never DCID_RETIRED by observe). The eBPF agent sets it:
     * it sees DCIDs on the wire only, never their sequence numbers nor the
     * (encrypted) RETIRE_CONNECTION_ID, so a switch says nothing about the
     * old DCID being dropped. */
    uint8_t keep_left;
};

/* qasm_agent_evq_init empties |q|. */
void qasm_agent_evq_init(struct qasm_agent_evq *q);

/*
 * qasm_agent_conn_open initialises |c| for a new client connection whose
 * first Initial carries |odcid|, with client SCID |scid|, client address
 * |local| and server address |remote|, at time |now|. Emits OPEN.
 */
void qasm_agent_conn_open(struct qasm_agent_conn *c, const struct qasm_cid *odcid,
                          const struct qasm_cid *scid, const struct qasm_addr *local,
                          const struct qasm_addr *remote, qasm_tstamp now,
                          struct qasm_agent_evq *q);

/*
 * qasm_agent_conn_observe compares the current DCID |dcid| and path
 * (|local|, |remote|; either may be NULL = unknown) with what |c| knows.
 * A new DCID emits DCID_ACTIVE (sequence number taken from a spare entry if
 * one matches, else unknown); a new local address emits ADDR. This is how
 * the silent handshake switch (O-DCID -> server SCID, Retry) is found.
 */
void qasm_agent_conn_observe(struct qasm_agent_conn *c, const struct qasm_cid *dcid,
                             const struct qasm_addr *local, const struct qasm_addr *remote,
                             qasm_tstamp now, struct qasm_agent_evq *q);

/*
 * qasm_agent_conn_activate records ngtcp2's ACTIVATE of |cid| with |seq|.
 * Emits DCID_ACTIVE unless the CID was already reported active with that
 * sequence number.
 */
void qasm_agent_conn_activate(struct qasm_agent_conn *c, uint64_t seq,
                              const struct qasm_cid *cid, qasm_tstamp now,
                              struct qasm_agent_evq *q);

/*
 * qasm_agent_conn_deactivate records ngtcp2's DEACTIVATE of |cid|: emits
 * DCID_RETIRED once. The current DCID is never retired this way.
 */
void qasm_agent_conn_deactivate(struct qasm_agent_conn *c, uint64_t seq,
                                const struct qasm_cid *cid, qasm_tstamp now,
                                struct qasm_agent_evq *q);

/*
 * qasm_agent_conn_learn records a CID the server issued (NEW_CONNECTION_ID
 * with |seq|). Emits DCID_SPARE if the CID is new; nothing for a CID already
 * known (active, spare or retired: retransmitted frames are ignored).
 * Returns 1 if the CID was new, 0 if known, -ENOSPC if no room was left.
 */
int qasm_agent_conn_learn(struct qasm_agent_conn *c, uint64_t seq, const struct qasm_cid *cid,
                          qasm_tstamp now, struct qasm_agent_evq *q);

/*
 * qasm_agent_conn_announce records that the application will move the
 * connection to local address |a| (a socket it already bound for its next
 * migration) and emits ADDR for it now, so that the tracker attests it
 * before the first packet on it: the current address (c->local) does not
 * change. The address joins the addresses listed by REFRESH. At most
 * QASM_AGENT_MAX_AHEAD announced addresses wait for their use; a further
 * one replaces the oldest (counted in c->ahead_dropped). Returns 1 when
 * ADDR was emitted, 0 when |a| is the current address or already waiting
 * (nothing emitted), -EINVAL for no address, -ESHUTDOWN when closed. When
 * the connection then moves to |a|, observe emits ADDR as for any move (it
 * makes |a| the current address at the tracker), then ADDR (ahead) for the
 * oldest address still waiting: the tracker keeps the most recently named
 * addresses, and the next one to be used must not be older there than the
 * ones left behind.
 */
int qasm_agent_conn_announce(struct qasm_agent_conn *c, const struct qasm_addr *a,
                             qasm_tstamp now, struct qasm_agent_evq *q);

/* qasm_agent_conn_close emits CLOSE with |reason| once; later calls do nothing. */
void qasm_agent_conn_close(struct qasm_agent_conn *c, enum qasm_agent_close_reason reason,
                           qasm_tstamp now, struct qasm_agent_evq *q);

/*
 * qasm_agent_conn_tick emits REFRESH when |interval| (> 0) has passed since
 * the open or the last refresh, and returns 1; else returns 0. Nothing for
 * a closed connection.
 */
int qasm_agent_conn_tick(struct qasm_agent_conn *c, qasm_tstamp now, qasm_duration interval,
                         struct qasm_agent_evq *q);

/* qasm_agent_conn_find_dcid returns the entry for |cid|, or NULL. */
const struct qasm_agent_dcid *qasm_agent_conn_find_dcid(const struct qasm_agent_conn *c,
                                                        const struct qasm_cid *cid);

/* qasm_agent_conn_count_dcids counts entries in |state|. */
size_t qasm_agent_conn_count_dcids(const struct qasm_agent_conn *c,
                                   enum qasm_agent_dcid_state state);

/* qasm_agent_ev_name / qasm_agent_close_reason_name: short names for logs. */
const char *qasm_agent_ev_name(enum qasm_agent_ev_type t);
const char *qasm_agent_close_reason_name(enum qasm_agent_close_reason r);

#endif
