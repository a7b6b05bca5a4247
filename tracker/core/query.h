/*
 * query.h: the tracker's query core. It holds what sessions wait for and
 * what they subscribed to, on top of the store core (store.h), and decides
 * who is told what: QUERY (at once, after a wait for the CID, after a wait
 * for a client address, or held for a shared-store lookup), SUBSCRIBE /
 * UNSUBSCRIBE and the pushes a store event causes, the pending-CID table
 * and the wait deadlines.
 *
 * Pure: no I/O, no clock. Every call that can answer takes the time; the
 * answers leave through the action callback of the config ("send RECORD to
 * session S", "send PUSH", "ask the shared store"), in the order they are to
 * be sent. The shell arms one timer for qasm_query_next_deadline and calls
 * qasm_query_expire when it fires.
 *
 * A session is a struct qasm_query_sess the shell embeds in its own session
 * (like a libev watcher): initialise it with qasm_query_sess_init and end
 * it with qasm_query_sess_close, which drops its waits and subscriptions.
 */
#ifndef QASM_QUERY_H
#define QASM_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "clock.h"
#include "proto.h"
#include "store.h"

struct qasm_query;
struct qasm_query_sub;

LIST_HEAD(qasm_query_subs, qasm_query_sub);

/* The core's view of one session. */
struct qasm_query_sess {
    struct qasm_query_subs subs; /* every subscription and wait of the session */
    size_t nsubs;
    void *ud;                    /* the shell's session, given back in actions */
};

enum qasm_query_act_kind {
    QASM_QUERY_RECORD = 1, /* send RECORD: rec, or the store connection conn */
    QASM_QUERY_NOT_FOUND,  /* send NOT_FOUND for cid */
    QASM_QUERY_PUSH,       /* send PUSH of event for rec */
    QASM_QUERY_OK,         /* send OK with count */
    QASM_QUERY_ERROR,      /* send ERROR code, text (budget: the tracker-wide budget) */
    QASM_QUERY_LOOKUP,     /* ask the shared store for cid (no session); return 0 if asked */
};

struct qasm_query_action {
    enum qasm_query_act_kind kind;
    void *sess; /* the session's ud */
    uint32_t req_id;
    const struct qasm_proto_conn *rec;
    const struct qasm_store_conn *conn;
    const struct qasm_cid *cid;
    uint8_t event;
    uint32_t count;
    uint16_t code;
    const char *text;
    int budget;
};

/*
 * The action callback. Its return value matters for QASM_QUERY_LOOKUP
 * only (0: the shared store was asked, and qasm_query_lookup_done follows).
 * It must not call back into the core.
 */
typedef int (*qasm_query_act_fn)(void *arg, const struct qasm_query_action *a);

struct qasm_query_config {
    struct qasm_store *store;     /* read only (find, record, the per-connection user slot) */
    uint64_t seed;                /* of the pending table's hash */
    qasm_duration max_wait;       /* a QUERY's wait is cut to this */
    qasm_duration store_timeout;  /* how long a plain QUERY waits for a shared-store lookup */
    size_t max_subs;              /* subscriptions and waits per session (ERROR 4 beyond) */
    size_t max_subs_total;        /* ... of all sessions together (ERROR 4, budget) */
    qasm_query_act_fn act;
    void *arg;
};

/* What the core counted (the tracker's STATS names). */
struct qasm_query_counters {
    uint64_t queries, queries_found, queries_not_found;
    uint64_t waits, waits_found, waits_timeout, addr_waits;
    uint64_t subscribes, unsubscribes, pushes;
    uint64_t limit_errors, subs_refused_budget;
};

/* qasm_query_new makes a core for |cfg| (copied). Returns 0 or -ENOMEM (*pq NULL). */
int qasm_query_new(struct qasm_query **pq, const struct qasm_query_config *cfg);

/* qasm_query_del frees the core (close its sessions first). NULL is fine. */
void qasm_query_del(struct qasm_query *q);

void qasm_query_sess_init(struct qasm_query_sess *s, void *ud);

/* qasm_query_sess_close drops the session's waits (unanswered) and subscriptions. */
void qasm_query_sess_close(struct qasm_query *q, struct qasm_query_sess *s);

/* Requests of session |s| at time |now| (the answers go out as actions). */
void qasm_query_query(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                      const struct qasm_proto_query *m, qasm_tstamp now);
void qasm_query_subscribe(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                          const struct qasm_proto_sub *m);
void qasm_query_unsubscribe(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                            const struct qasm_proto_sub *m);

/*
 * qasm_query_store_event handles event |event| of store connection |c|
 * (call it from the store's event callback): answers the waits it
 * satisfies, binds pending subscriptions, pushes to subscribers, and ends
 * the connection's subscriptions on a final event.
 */
void qasm_query_store_event(struct qasm_query *q, struct qasm_store_conn *c, uint8_t event);

/*
 * qasm_query_lookup_done: the shared store answered the lookup of |cid|
 * (found ones were applied to the store first). Answers the plain queries
 * held for it. Returns 0, or -ENOMEM if a pending entry was lost.
 */
int qasm_query_lookup_done(struct qasm_query *q, const struct qasm_cid *cid);

/* qasm_query_expire answers the waits whose deadline is <= |now|. */
void qasm_query_expire(struct qasm_query *q, qasm_tstamp now);

/* qasm_query_next_deadline returns the earliest wait deadline, or QASM_TSTAMP_MAX. */
qasm_tstamp qasm_query_next_deadline(const struct qasm_query *q);

/* qasm_query_last_deadline returns the latest wait deadline, or 0 without waits. */
qasm_tstamp qasm_query_last_deadline(const struct qasm_query *q);

/*
 * qasm_query_cancel_waits answers every wait of session |s| NOT_FOUND at
 * once, latest first (a replay that reached the end of its capture).
 */
void qasm_query_cancel_waits(struct qasm_query *q, struct qasm_query_sess *s);

const struct qasm_query_counters *qasm_query_counters(const struct qasm_query *q);
size_t qasm_query_nsubscribers(const struct qasm_query *q); /* live subscriptions */
size_t qasm_query_nwaiting(const struct qasm_query *q);     /* live waits */

#endif
