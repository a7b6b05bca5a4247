/*
 * store.h: the tracker's connection store, an I/O-free core (no sockets,
 * no event loop, no clock: time is passed in). It holds, for every QUIC
 * connection reported by client agents, the tracking attributes of the
 * QASM paper (§3.2): O-DCID, active DCIDs, client addresses, server
 * address, DCID length. Used by qasm-tracker, the replay tool and the
 * tracker benchmark.
 *
 * - Keyed on (O-DCID, first client address); every DCID (and the O-DCID)
 *   maps to its connection, optionally qualified by the server address.
 * - Agent reports are applied so that the state converges under loss,
 *   duplication and reordering (docs/PROTOCOL.md, "Convergence").
 * - Idle connections expire after the TTL; closed ones linger briefly so
 *   late reports do not recreate them.
 * - Bounded: a global connection cap, a per-client-IP cap, at most
 *   QASM_PROTO_MAX_DCIDS active DCIDs and QASM_PROTO_MAX_CLIENTS addresses
 *   per connection.
 * - Every change calls the event callback (synchronously), so a shell can
 *   push to subscribers and wake waiting queries.
 */
#ifndef QASM_STORE_H
#define QASM_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "addr.h"
#include "cid.h"
#include "clock.h"
#include "proto.h"

struct qasm_store;
struct qasm_store_conn; /* opaque; valid until its removal event returns */

struct qasm_store_config {
    qasm_duration ttl;          /* idle time before a connection expires (default 120 s) */
    qasm_duration close_linger; /* how long a closed connection is kept (default 2 s) */
    size_t max_conns;           /* global cap (default 1,000,000; 0 = no cap) */
    size_t max_per_ip;          /* connections per reporting client IP (default 1024; 0 = none) */
    size_t max_per_prefix;      /* connections per reporting /24 (IPv4) or /48 (IPv6) (default 0 = none) */
    int evict;                  /* at max_conns: evict from the biggest prefix (below) instead of refusing */
    int trust_any;              /* 0: a report's client IP must equal its source IP */
    size_t expected;            /* initial table size hint (default 1024) */
    uint64_t seed;              /* hash seed (choose at random in a daemon) */
};

/* qasm_store_config_default fills |cfg| with the defaults above. */
void qasm_store_config_default(struct qasm_store_config *cfg);

/*
 * The event callback: |event| is an enum qasm_proto_event. It runs inside
 * qasm_store_report / qasm_store_expire, after the change (for CLOSED,
 * EXPIRED, EVICTED: just before the connection is removed or frozen). It
 * may read the store (qasm_store_record, qasm_store_find) but must not
 * change it.
 */
typedef void (*qasm_store_event_fn)(void *arg, struct qasm_store_conn *c, uint8_t event);

/* Results of qasm_store_report besides negative errors. */
enum {
    QASM_STORE_CHANGED = 0,   /* applied, the record changed (an event was sent) */
    QASM_STORE_UNCHANGED = 1, /* applied, nothing new (duplicate or stale but harmless) */
};

/* Counters (all cumulative, except conns/dcids/tombstones/ips which are current). */
struct qasm_store_stats {
    uint64_t conns;          /* live connections (closed-lingering included) */
    uint64_t dcids;          /* active DCIDs */
    uint64_t tombstones;     /* retired DCIDs remembered */
    uint64_t ips;            /* distinct reporting IPs with connections */
    uint64_t prefixes;       /* distinct reporting prefixes (/24, /48) with connections */
    uint64_t reports[7];     /* by type, index = REPORT_* type (0 unused) */
    uint64_t created;
    uint64_t closed;
    uint64_t expired;
    uint64_t removed_closed; /* closed connections removed after the linger */
    uint64_t rejected_trust; /* client IP != source IP */
    uint64_t rejected_full;  /* global cap reached */
    uint64_t rejected_ip_cap;/* per-IP cap reached */
    uint64_t rejected_prefix_cap; /* per-prefix cap reached */
    uint64_t evicted;        /* removed at the global cap for a newcomer of a smaller prefix */
    uint64_t rejected_bad;   /* report with an invalid field (e.g. empty O-DCID) */
    uint64_t rejected_unauth;   /* report without a MAC for an existing connection */
    uint64_t rejected_bad_mac;  /* MAC does not verify under the connection's secret */
    uint64_t rejected_owner;    /* OPEN/REFRESH naming another secret than the owner's */
    uint64_t rejected_unknown;  /* DCID/ADDR report for an unknown connection (no secret) */
    uint64_t ignored_closed; /* report for a closed connection */
    uint64_t unchanged;      /* duplicates and stale reports */
    uint64_t dcid_conflicts; /* a DCID moved from another connection */
    uint64_t dcid_overflow;  /* active DCID dropped for room (over 16) */
    uint64_t addr_overflow;  /* client address dropped for room (over 8) */
    uint64_t nomem;
};

/*
 * qasm_store_new makes a store. |cb| may be NULL. Returns 0, or -ENOMEM
 * (*ps = NULL), or -EINVAL for a zero TTL.
 */
int qasm_store_new(struct qasm_store **ps, const struct qasm_store_config *cfg,
                   qasm_store_event_fn cb, void *cb_arg);

/* qasm_store_del frees the store and every connection (no events). NULL is fine. */
void qasm_store_del(struct qasm_store *s);

/*
 * Ownership: a connection is created by an OPEN or REFRESH whose MAC
 * verifies under the secret it carries; the store keeps that secret and
 * every later report for the connection must carry a MAC under it
 * (qasm_proto_report_verify), an OPEN or REFRESH naming the same secret.
 * The secret never leaves the store through qasm_store_record; a shell that
 * shares the store with other trackers reads it with qasm_store_conn_secret.
 */

/*
 * qasm_store_report applies one agent report of |type| (REPORT_*) that came
 * from |src| (the datagram's source; may be NULL when trust_any is set) at
 * time |now|. Returns QASM_STORE_CHANGED or QASM_STORE_UNCHANGED, or:
 *   -EACCES   client IP differs from the source IP (trust source); or a report
 *             that would create a connection comes from another IP than its
 *             first client address's
 *   -EPERM    not from the connection's owner: no MAC, a MAC that does not
 *             verify under the connection's secret, or an OPEN/REFRESH
 *             naming another secret (docs/PROTOCOL.md, "Authentication")
 *   -ENOENT   DCID_NEW, DCID_RETIRE or ADDR for an unknown connection: only
 *             OPEN and REFRESH (which carry the secret) create one
 *   -ENOSPC   new connection refused: global cap (with evict: and the
 *             newcomer's prefix holds as many as the biggest, less one)
 *   -EDQUOT   new connection refused: per-IP or per-prefix cap
 * With cfg.evict, a new connection at the global cap first evicts the least
 * recently reported connection of the prefix (/24, /48) holding the most,
 * if that prefix holds more than the newcomer's would (EVICTED event).
 *   -ESTALE   the connection is closed (lingering); report ignored
 *   -EINVAL   bad type or field (empty O-DCID, unset client address)
 *   -ENOMEM   out of memory (store unchanged or partly updated, still consistent)
 * Every outcome is counted in the stats.
 */
int qasm_store_report(struct qasm_store *s, uint8_t type, const struct qasm_proto_report *r,
                      const struct qasm_addr *src, qasm_tstamp now);

/*
 * qasm_store_find returns the connection that uses |cid| as an active or
 * retired DCID or as its O-DCID, or NULL. With |server| non-NULL and set,
 * only a connection to that server (or whose server is not known) matches.
 */
struct qasm_store_conn *qasm_store_find(const struct qasm_store *s, const struct qasm_cid *cid,
                                        const struct qasm_addr *server);

/* qasm_store_get returns the connection keyed (|odcid|, |client0|), or NULL. */
struct qasm_store_conn *qasm_store_get(const struct qasm_store *s, const struct qasm_cid *odcid,
                                       const struct qasm_addr *client0);

/* qasm_store_record fills |out| with the connection's record (active DCIDs only). */
void qasm_store_record(const struct qasm_store_conn *c, struct qasm_proto_conn *out);

/* qasm_store_conn_times gives when |c| was made and when it goes unless reported again
 * (last report + ttl; closed: close time + close_linger). */
void qasm_store_conn_times(const struct qasm_store *s, const struct qasm_store_conn *c,
                           qasm_tstamp *created, qasm_tstamp *expires);

/* qasm_store_conn_odcid returns the connection's O-DCID. */
const struct qasm_cid *qasm_store_conn_odcid(const struct qasm_store_conn *c);

/* qasm_store_conn_closed tells whether the agent reported the connection closed. */
int qasm_store_conn_closed(const struct qasm_store_conn *c);

/*
 * qasm_store_conn_user gives the shell one pointer of its own per
 * connection (NULL at creation), e.g. a list of subscribers.
 */
void **qasm_store_conn_user(struct qasm_store_conn *c);

/*
 * qasm_store_conn_replica tells whether |c| is a copy of a record owned by
 * another tracker (made by qasm_store_apply, and no agent report since).
 */
int qasm_store_conn_replica(const struct qasm_store_conn *c);

/* qasm_store_conn_set_rev raises the connection's revision to |rev| (never lowers it). */
void qasm_store_conn_set_rev(struct qasm_store_conn *c, uint32_t rev);

/* qasm_store_conn_synced gives the shell a timestamp of its own per connection (0 at creation). */
qasm_tstamp *qasm_store_conn_synced(struct qasm_store_conn *c);

/*
 * qasm_store_apply makes the store hold |rec|, a whole record another
 * tracker published (shared stores, tracker/backend.h), after |event|
 * happened to it there, with the owner's |secret| (QASM_PROTO_SECRET_LEN
 * bytes; NULL: keep the one held; a replica without any refuses every
 * agent report until its publisher sends one). The record's rev orders the copies: a rev not
 * above the one held is stale and ignored (equal: the owner says the
 * connection lives; only its idle timer restarts). A new connection is
 * created as a replica (OPENED event); otherwise the record replaces what
 * is held and |event| is sent; a closed record closes the connection
 * (CLOSED); EXPIRED or EVICTED remove it after the event. No trust check
 * (the publisher applied it); the caps still apply. Returns as
 * qasm_store_report (-EINVAL for a record without O-DCID or client).
 */
int qasm_store_apply(struct qasm_store *s, const struct qasm_proto_conn *rec,
                     const uint8_t *secret, uint8_t event, qasm_tstamp now);

/*
 * qasm_store_conn_secret returns the connection's secret (QASM_PROTO_SECRET_LEN
 * bytes), or NULL if not known. For sharing the store between trackers only:
 * never send it to middleboxes or in records.
 */
const uint8_t *qasm_store_conn_secret(const struct qasm_store_conn *c);

/*
 * qasm_store_expire removes connections idle for the TTL (EXPIRED event
 * each) and closed ones whose linger is over (no event: CLOSED was sent).
 * Returns how many were removed.
 */
size_t qasm_store_expire(struct qasm_store *s, qasm_tstamp now);

/*
 * qasm_store_expire_tick is how often a shell calls qasm_store_expire for
 * |cfg|: an eighth of the TTL or of the close linger, whichever is shorter,
 * within 10 ms..1 s (expiry is that late at most).
 */
qasm_duration qasm_store_expire_tick(const struct qasm_store_config *cfg);

/*
 * qasm_store_next_deadline returns the earliest time at which
 * qasm_store_expire has work, or QASM_TSTAMP_MAX if the store is empty.
 */
qasm_tstamp qasm_store_next_deadline(const struct qasm_store *s);

/*
 * qasm_store_next iterates over connections: start with *pos = 0; returns
 * NULL at the end. The store must not change during the iteration.
 */
struct qasm_store_conn *qasm_store_next(const struct qasm_store *s, size_t *pos);

/*
 * A dump cursor: walks every connection while the store changes between
 * steps (reports, expiry, eviction). A connection that lives from open to
 * the end is returned at least once; one reported or closed after the
 * cursor returned it may be returned again (with its newer state). The
 * caller owns the struct; close it before freeing it or the store.
 */
struct qasm_store_cursor {
    LIST_ENTRY(qasm_store_cursor) link; /* the store's open cursors */
    struct qasm_store_conn *at;         /* next to return; NULL: at the end of the list */
    int phase;                          /* 0: live list, 1: closed list, 2: done */
    int open;                           /* linked into the store's list */
};

void qasm_store_cursor_open(struct qasm_store *s, struct qasm_store_cursor *k);

/* qasm_store_cursor_next returns the next connection, or NULL at the end. */
struct qasm_store_conn *qasm_store_cursor_next(struct qasm_store *s, struct qasm_store_cursor *k);

/* qasm_store_cursor_close unregisters |k| (idempotent once closed). */
void qasm_store_cursor_close(struct qasm_store *s, struct qasm_store_cursor *k);

/* qasm_store_count returns the number of connections. */
size_t qasm_store_count(const struct qasm_store *s);

/* qasm_store_stats returns the counters (kept up to date). */
const struct qasm_store_stats *qasm_store_get_stats(const struct qasm_store *s);

/*
 * qasm_store_memory returns the bytes the store holds: entry pools, hash
 * tables and per-connection address arrays (allocator overhead excluded).
 */
size_t qasm_store_memory(const struct qasm_store *s);

#endif
