/*
 * hold.h: the middlebox core's side of the tracker: the queue of tracker
 * requests, the queries in flight (pending, one per DCID) and the packets
 * held on them, and the queue of held packets decided since.
 *
 * A packet with an unknown DCID (or an unattested address) is held while
 * the tracker is asked (qasm_hold_packet); the answer, a push attesting
 * its address, the hold's ceiling or the query's timeout releases it: the
 * hold calls back into the core (decide) to classify it again, this time
 * without holding, and queues the verdict for qasm_mbox_next_release.
 * Bounds: hold_max packets in total, hold_max_per_dcid per query,
 * max_requests queued requests and queries in flight.
 */
#ifndef QASM_HOLD_H
#define QASM_HOLD_H

#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "clock.h"
#include "mbox.h"
#include "ring.h"

struct qasm_hold;
struct qasm_hold_query; /* a query in flight */

/* Why a held packet is decided. */
enum qasm_hold_why {
    QASM_HOLD_ANSWERED = 0,  /* the tracker answered (or the packet was released while up) */
    QASM_HOLD_TIMED_OUT = 1, /* the hold or the query ran out unanswered */
    QASM_HOLD_DOWN = 2,      /* the tracker went down */
    QASM_HOLD_SHUTDOWN = 3   /* qasm_hold_flush: handed back undecided */
};

/*
 * The core's decision for a held packet (|why|): fills |v| and counts it
 * (stats.path / cls / packets_*). For SHUTDOWN it is a DROP with reason
 * SHUTDOWN.
 */
typedef void (*qasm_hold_decide_fn)(void *core, const struct qasm_mbox_pkt *pkt, qasm_tstamp now,
                                    enum qasm_hold_why why, struct qasm_mbox_verdict *v);

struct qasm_hold_config {
    qasm_duration hold_time;     /* the wait asked of the tracker (QUERY wait_ms) */
    qasm_duration hold_for;      /* how long a packet is held at most */
    qasm_duration query_timeout; /* a query is forgotten after this */
    size_t hold_max, hold_max_per_dcid, max_requests;
    uint64_t seed;               /* DCID hash seed */
    int queries;                 /* aware modes: queries are made */
};

/*
 * qasm_hold_new makes the queues; counters go to |st| (the core's), held
 * packets are decided by |decide|(|core|, ...). Returns 0 or -ENOMEM.
 * Requests are queued only while the tracker is up (qasm_hold_set_up;
 * initially down).
 */
int qasm_hold_new(struct qasm_hold **ph, const struct qasm_hold_config *cfg,
                  struct qasm_mbox_stats *st, qasm_hold_decide_fn decide, void *core);

/* qasm_hold_del frees everything; held packets are forgotten. NULL is fine. */
void qasm_hold_del(struct qasm_hold *h);

/* qasm_hold_set_up says whether the tracker session is up (requests are queued then). */
void qasm_hold_set_up(struct qasm_hold *h, int up);

/* qasm_hold_request queues |req|. Returns 0, or -1 (tracker down, queue
 * full or no memory: counted in requests_dropped). */
int qasm_hold_request(struct qasm_hold *h, const struct qasm_mbox_req *req);

/* The queues the shell drains (through qasm_mbox_next_request / _next_release):
 * tracker requests (struct qasm_mbox_req) and released packets' verdicts. */
struct qasm_ring *qasm_hold_requests(struct qasm_hold *h);
struct qasm_ring *qasm_hold_releases(struct qasm_hold *h);

/*
 * qasm_hold_query asks the tracker about |dcid| (sent to |server|) unless a
 * query for it is in flight; with |wait|, the tracker may wait hold_time
 * for it and for |client| (may be NULL) to be attested. Returns 0, or -1
 * when no query could be made.
 */
int qasm_hold_query(struct qasm_hold *h, const struct qasm_cid *dcid,
                    const struct qasm_addr *server, const struct qasm_addr *client, int wait,
                    qasm_tstamp now);

/*
 * qasm_hold_packet holds |pkt| until the tracker answers for |dcid|.
 * Returns 0 when held (v->action HOLD) or dropped for overflow or memory
 * (v a DROP), -1 when no query could be made (|v| untouched).
 */
int qasm_hold_packet(struct qasm_hold *h, const struct qasm_mbox_pkt *pkt,
                     const struct qasm_cid *dcid, qasm_tstamp now, struct qasm_mbox_verdict *v);

/*
 * qasm_hold_answer takes the answer to query |id|: returns the query (its
 * DCID: qasm_hold_query_dcid; answer_us counted), or NULL for a forgotten
 * or unknown id. The caller applies the answer (which must not make or end
 * queries), then calls qasm_hold_answered to release the query's packets
 * and forget it.
 */
struct qasm_hold_query *qasm_hold_answer(struct qasm_hold *h, uint64_t id, qasm_tstamp now);
const struct qasm_cid *qasm_hold_query_dcid(const struct qasm_hold_query *q);
void qasm_hold_answered(struct qasm_hold *h, struct qasm_hold_query *q, qasm_tstamp now);

/* qasm_hold_push releases the packets held on the DCIDs of pushed |rec|
 * whose client address |rec| attests (a push may announce a DCID before the
 * agent's address report; those packets wait for that). */
void qasm_hold_push(struct qasm_hold *h, const struct qasm_mbox_record *rec, qasm_tstamp now);

/* qasm_hold_down: the tracker went down: requests are forgotten, every held
 * packet decided (counted in tracker_unavailable), every query forgotten. */
void qasm_hold_down(struct qasm_hold *h, qasm_tstamp now);

/* qasm_hold_flush hands every held packet back as a DROP (SHUTDOWN). */
void qasm_hold_flush(struct qasm_hold *h);

/* qasm_hold_next_expiry returns the next hold or query deadline, or QASM_TSTAMP_MAX. */
qasm_tstamp qasm_hold_next_expiry(const struct qasm_hold *h);

/* qasm_hold_expire releases packets held past hold_for and forgets queries past query_timeout. */
void qasm_hold_expire(struct qasm_hold *h, qasm_tstamp now);

/* qasm_hold_count returns the packets held now. */
size_t qasm_hold_count(const struct qasm_hold *h);

#endif
