/*
 * tracker_link.h: glue between a middlebox core (mbox.h) and its tracker
 * session (tracker_session.h): the core's request queue becomes QUERY /
 * SUBSCRIBE / UNSUBSCRIBE messages with fresh req_ids; RECORD, NOT_FOUND,
 * ERROR and PUSH messages become qasm_mbox_answer() / qasm_mbox_push()
 * calls; the session's up/down transitions become
 * qasm_mbox_tracker_state(). No policy: the core decides what to ask.
 *
 * The relay does not filter queries by server address: in a chain of
 * relays each hop sees a different "server" (the next hop), while the
 * agent reports the address its client connects to.
 */
#ifndef QASM_MBOX_TRACKER_LINK_H
#define QASM_MBOX_TRACKER_LINK_H

#include <stdint.h>

#include <ev.h>

#include "addr.h"
#include "mbox.h"
#include "tracker_session.h"

struct qasm_tlink;

struct qasm_tlink_counters {
    uint64_t requests_sent;    /* core requests written to the session */
    uint64_t requests_failed;  /* not sent (session down, buffer full): answered NOT_FOUND */
    uint64_t answers;          /* RECORD / NOT_FOUND matched to a pending query */
    uint64_t answers_unknown;  /* RECORD for a req_id no longer pending (still fed to the cache) */
    uint64_t errors;           /* ERROR replies from the tracker */
    uint64_t pushes;           /* PUSH messages */
};

/* Called after the link fed the core (answers, pushes, up/down): drain the core's queues. */
typedef void (*qasm_tlink_drain_fn)(void *ud);

/*
 * qasm_tlink_new opens a session to |tracker| for core |m| (borrowed) and
 * tells the core the tracker is down until the session is up. Returns 0,
 * or a negative errno with *pl = NULL.
 */
int qasm_tlink_new(struct qasm_tlink **pl, struct ev_loop *loop, const struct qasm_addr *tracker,
                   const struct qasm_auth_key *key, struct qasm_mbox *m,
                   qasm_tlink_drain_fn drain, void *ud);

/*
 * qasm_tlink_on_record: |fn| sees every connection record the link feeds
 * the core (answers: event 0; pushes: their event), right after the core
 * (a kernel fast path mirrors the DCIDs and attested addresses).
 */
typedef void (*qasm_tlink_record_fn)(void *ud, uint8_t event, const struct qasm_proto_conn *conn);
void qasm_tlink_on_record(struct qasm_tlink *l, qasm_tlink_record_fn fn, void *ud);

/* qasm_tlink_del closes the session and frees the link. NULL is fine. */
void qasm_tlink_del(struct qasm_tlink *l);

/* The session's keepalive (qasm_tsess_set_keepalive; --tracker-keepalive). */
void qasm_tlink_set_keepalive(struct qasm_tlink *l, double secs);

/*
 * qasm_tlink_pump moves every queued core request to the session and
 * flushes it. A request that cannot be sent is answered NOT_FOUND at once
 * (queries), so held packets are not kept waiting.
 */
void qasm_tlink_pump(struct qasm_tlink *l);

/* qasm_tlink_is_up tells whether the tracker session is up. */
int qasm_tlink_is_up(const struct qasm_tlink *l);

const struct qasm_tlink_counters *qasm_tlink_counters(const struct qasm_tlink *l);
const struct qasm_tsess_counters *qasm_tlink_session_counters(const struct qasm_tlink *l);

#endif
