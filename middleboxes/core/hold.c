/*
 * hold.c: held packets and pending tracker queries, see hold.h.
 *
 * Every timeout of a kind is the same length, so the held packets and the
 * queries sit in FIFO lists in arrival order and the next deadline is a
 * list head. A query's own packets are a singly linked list, oldest first.
 */
#include "hold.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "hash.h"
#include "htab.h"
#include "ring.h"

struct pending;

struct held {
    struct qasm_mbox_pkt pkt;
    qasm_tstamp since;
    TAILQ_ENTRY(held) link;    /* h->held, arrival order */
    STAILQ_ENTRY(held) in_p;   /* its pending's packets */
    struct pending *p;
};

struct pending {
    uint64_t id;
    struct qasm_cid dcid;
    uint64_t dcid_hash;
    qasm_tstamp sent_at;
    TAILQ_ENTRY(pending) link; /* h->pendings, send order */
    STAILQ_HEAD(, held) held;
    size_t nheld;
};

struct qasm_hold {
    struct qasm_hold_config cfg;
    struct qasm_mbox_stats *st;
    qasm_hold_decide_fn decide;
    void *core;
    int up;
    struct qasm_htab *by_dcid, *by_id;
    TAILQ_HEAD(, held) held;
    TAILQ_HEAD(, pending) pendings;
    size_t nheld;
    uint64_t next_id;
    struct qasm_ring reqs, releases;
};

static int by_dcid_eq(const void *entry, const void *key)
{
    return qasm_cid_eq(&((const struct pending *)entry)->dcid, key);
}

static int by_id_eq(const void *entry, const void *key)
{
    return ((const struct pending *)entry)->id == *(const uint64_t *)key;
}

int qasm_hold_new(struct qasm_hold **ph, const struct qasm_hold_config *cfg,
                  struct qasm_mbox_stats *st, qasm_hold_decide_fn decide, void *core)
{
    *ph = NULL;
    struct qasm_hold *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->cfg = *cfg;
    h->st = st;
    h->decide = decide;
    h->core = core;
    TAILQ_INIT(&h->held);
    TAILQ_INIT(&h->pendings);
    qasm_ring_init(&h->reqs, sizeof(struct qasm_mbox_req));
    qasm_ring_init(&h->releases, sizeof(struct qasm_mbox_verdict));
    int rv = 0;
    if (cfg->queries) {
        rv = qasm_htab_new(&h->by_dcid, 64, by_dcid_eq);
        if (rv == 0)
            rv = qasm_htab_new(&h->by_id, 64, by_id_eq);
    }
    if (rv < 0) {
        qasm_hold_del(h);
        return rv;
    }
    *ph = h;
    return 0;
}

void qasm_hold_del(struct qasm_hold *h)
{
    if (h == NULL)
        return;
    struct held *x;
    while ((x = TAILQ_FIRST(&h->held)) != NULL) {
        TAILQ_REMOVE(&h->held, x, link);
        free(x);
    }
    struct pending *p;
    while ((p = TAILQ_FIRST(&h->pendings)) != NULL) {
        TAILQ_REMOVE(&h->pendings, p, link);
        free(p);
    }
    qasm_htab_del(h->by_dcid);
    qasm_htab_del(h->by_id);
    qasm_ring_fini(&h->reqs);
    qasm_ring_fini(&h->releases);
    free(h);
}

void qasm_hold_set_up(struct qasm_hold *h, int up)
{
    h->up = up;
}

int qasm_hold_request(struct qasm_hold *h, const struct qasm_mbox_req *req)
{
    if (!h->up || qasm_ring_len(&h->reqs) >= h->cfg.max_requests ||
        qasm_ring_push(&h->reqs, req) < 0) {
        h->st->requests_dropped++;
        return -1;
    }
    return 0;
}

struct qasm_ring *qasm_hold_requests(struct qasm_hold *h)
{
    return &h->reqs;
}

struct qasm_ring *qasm_hold_releases(struct qasm_hold *h)
{
    return &h->releases;
}

static struct pending *query(struct qasm_hold *h, const struct qasm_cid *dcid,
                             const struct qasm_addr *server, const struct qasm_addr *client,
                             int wait, qasm_tstamp now)
{
    uint64_t hash = qasm_cid_hash(dcid, h->cfg.seed);
    struct pending *p = qasm_htab_find(h->by_dcid, hash, dcid);
    if (p)
        return p;
    if (qasm_htab_count(h->by_id) >= h->cfg.max_requests) { /* queries in flight bounded too */
        h->st->requests_dropped++;
        return NULL;
    }
    struct qasm_mbox_req req;
    memset(&req, 0, sizeof(req));
    req.type = QASM_MBOX_REQ_QUERY;
    req.id = ++h->next_id;
    req.dcid = *dcid;
    req.server = *server;
    if (wait) {
        req.wait_ms = (uint32_t)((h->cfg.hold_time + QASM_MS - 1) / QASM_MS);
        if (client)
            req.client = *client;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->id = req.id;
    p->dcid = *dcid;
    p->dcid_hash = hash;
    p->sent_at = now;
    STAILQ_INIT(&p->held);
    if (qasm_htab_insert(h->by_dcid, hash, p) < 0) {
        free(p);
        return NULL;
    }
    if (qasm_htab_insert(h->by_id, qasm_hash_mix(p->id), p) < 0 ||
        qasm_hold_request(h, &req) < 0) {
        qasm_htab_remove_ptr(h->by_dcid, hash, p);
        qasm_htab_remove_ptr(h->by_id, qasm_hash_mix(p->id), p);
        free(p);
        return NULL;
    }
    TAILQ_INSERT_TAIL(&h->pendings, p, link);
    h->st->tracker_queries++;
    if (wait)
        h->st->tracker_waits++;
    return p;
}

int qasm_hold_query(struct qasm_hold *h, const struct qasm_cid *dcid,
                    const struct qasm_addr *server, const struct qasm_addr *client, int wait,
                    qasm_tstamp now)
{
    return query(h, dcid, server, client, wait, now) ? 0 : -1;
}

int qasm_hold_packet(struct qasm_hold *h, const struct qasm_mbox_pkt *pkt,
                     const struct qasm_cid *dcid, qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    /* The tracker is asked to wait for this client address as well: the
     * agent reports a migration as it starts it, but its report may still
     * trail the first packet on the new path. */
    struct pending *p = query(h, dcid, &pkt->flow.dst, &pkt->flow.src, 1, now);
    if (p == NULL)
        return -1;
    if (p->nheld >= h->cfg.hold_max_per_dcid || h->nheld >= h->cfg.hold_max) {
        v->action = QASM_MBOX_DROP;
        v->reason = QASM_MBOX_DROP_HOLD_OVERFLOW;
        return 0;
    }
    struct held *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        v->action = QASM_MBOX_DROP;
        v->reason = QASM_MBOX_DROP_NO_MEMORY;
        return 0;
    }
    x->pkt = *pkt;
    x->since = now;
    x->p = p;
    STAILQ_INSERT_TAIL(&p->held, x, in_p);
    p->nheld++;
    TAILQ_INSERT_TAIL(&h->held, x, link);
    h->nheld++;
    v->action = QASM_MBOX_HOLD;
    return 0;
}

static void queue_release(struct qasm_hold *h, const struct qasm_mbox_verdict *v)
{
    if (qasm_ring_push(&h->releases, v) < 0)
        h->st->packets_dropped_by[QASM_MBOX_DROP_NO_MEMORY]++; /* the shell never sees it */
}

/* Decides held packet |x| (already off its pending's list) and queues it for the shell. */
static void release(struct qasm_hold *h, struct held *x, qasm_tstamp now, enum qasm_hold_why why)
{
    struct qasm_mbox_verdict v;
    struct qasm_mbox_stats *st = h->st;
    TAILQ_REMOVE(&h->held, x, link);
    h->nheld--;
    h->decide(h->core, &x->pkt, now, why, &v);
    v.held_since = x->since;
    st->packets_released++;
    if (why == QASM_HOLD_TIMED_OUT)
        st->hold_timeouts++;
    int joined = v.cls == QASM_MBOX_CLASS_QUIC_CONN;
    if (joined)
        st->released_joined++;
    else
        st->released_default++;
    qasm_duration held = now > x->since ? now - x->since : 0;
    st->hold_us[qasm_mbox_us_bucket(held)]++;
    if (held > h->cfg.hold_time) {
        st->held_past_hold++;
        st->joined_past_hold += (uint64_t)joined;
    }
    queue_release(h, &v);
    free(x);
}

/* Releases every packet held on |p| (oldest first). */
static void release_all(struct qasm_hold *h, struct pending *p, qasm_tstamp now,
                        enum qasm_hold_why why)
{
    struct held *x = STAILQ_FIRST(&p->held);
    STAILQ_INIT(&p->held);
    p->nheld = 0;
    while (x) {
        struct held *n = STAILQ_NEXT(x, in_p);
        if (why == QASM_HOLD_DOWN)
            h->st->tracker_unavailable++;
        release(h, x, now, why);
        x = n;
    }
}

static void pending_free(struct qasm_hold *h, struct pending *p)
{
    qasm_htab_remove_ptr(h->by_dcid, p->dcid_hash, p);
    qasm_htab_remove_ptr(h->by_id, qasm_hash_mix(p->id), p);
    TAILQ_REMOVE(&h->pendings, p, link);
    free(p);
}

struct qasm_hold_query *qasm_hold_answer(struct qasm_hold *h, uint64_t id, qasm_tstamp now)
{
    struct pending *p = qasm_htab_find(h->by_id, qasm_hash_mix(id), &id);
    if (p == NULL)
        return NULL;
    h->st->answer_us[qasm_mbox_us_bucket(now > p->sent_at ? now - p->sent_at : 0)]++;
    return (struct qasm_hold_query *)p;
}

const struct qasm_cid *qasm_hold_query_dcid(const struct qasm_hold_query *q)
{
    return &((const struct pending *)q)->dcid;
}

void qasm_hold_answered(struct qasm_hold *h, struct qasm_hold_query *q, qasm_tstamp now)
{
    struct pending *p = (struct pending *)q;
    release_all(h, p, now, QASM_HOLD_ANSWERED);
    pending_free(h, p);
}

/* Whether |rec| attests the address the packets held on |p| came from. */
static int held_attested(const struct qasm_mbox_record *rec, const struct pending *p)
{
    const struct held *x = STAILQ_FIRST(&p->held);
    if (x == NULL)
        return 1;
    for (size_t i = 0; i < rec->nclients; i++)
        if (qasm_addr_eq(&rec->clients[i], &x->pkt.flow.src))
            return 1;
    return 0;
}

void qasm_hold_push(struct qasm_hold *h, const struct qasm_mbox_record *rec, qasm_tstamp now)
{
    for (size_t i = 0; i < rec->ndcids; i++) {
        const struct qasm_cid *c = &rec->dcids[i];
        if (c->len > QASM_CID_MAXLEN)
            continue;
        struct pending *p = qasm_htab_find(h->by_dcid, qasm_cid_hash(c, h->cfg.seed), c);
        if (p && held_attested(rec, p))
            release_all(h, p, now, QASM_HOLD_ANSWERED);
    }
}

void qasm_hold_down(struct qasm_hold *h, qasm_tstamp now)
{
    qasm_ring_clear(&h->reqs);
    struct pending *p;
    while ((p = TAILQ_FIRST(&h->pendings)) != NULL) {
        release_all(h, p, now, QASM_HOLD_DOWN);
        pending_free(h, p);
    }
}

void qasm_hold_flush(struct qasm_hold *h)
{
    struct held *x;
    while ((x = TAILQ_FIRST(&h->held)) != NULL) {
        struct pending *p = x->p; /* the oldest held packet heads its pending's list */
        STAILQ_REMOVE_HEAD(&p->held, in_p);
        p->nheld--;
        TAILQ_REMOVE(&h->held, x, link);
        h->nheld--;
        struct qasm_mbox_verdict v;
        h->decide(h->core, &x->pkt, 0, QASM_HOLD_SHUTDOWN, &v);
        v.held_since = x->since;
        h->st->packets_released++;
        h->st->released_default++;
        queue_release(h, &v);
        free(x);
    }
}

qasm_tstamp qasm_hold_next_expiry(const struct qasm_hold *h)
{
    qasm_tstamp t = QASM_TSTAMP_MAX;
    const struct held *x = TAILQ_FIRST(&h->held);
    if (x && x->since + h->cfg.hold_for < t)
        t = x->since + h->cfg.hold_for;
    const struct pending *p = TAILQ_FIRST(&h->pendings);
    if (p && p->sent_at + h->cfg.query_timeout < t)
        t = p->sent_at + h->cfg.query_timeout;
    return t;
}

void qasm_hold_expire(struct qasm_hold *h, qasm_tstamp now)
{
    struct held *x;
    while ((x = TAILQ_FIRST(&h->held)) != NULL && x->since + h->cfg.hold_for <= now) {
        struct pending *p = x->p; /* the oldest held packet heads its pending's list */
        STAILQ_REMOVE_HEAD(&p->held, in_p);
        p->nheld--;
        release(h, x, now, QASM_HOLD_TIMED_OUT);
    }
    struct pending *p;
    while ((p = TAILQ_FIRST(&h->pendings)) != NULL && p->sent_at + h->cfg.query_timeout <= now) {
        release_all(h, p, now, QASM_HOLD_TIMED_OUT);
        h->st->tracker_timeouts++;
        pending_free(h, p);
    }
}

size_t qasm_hold_count(const struct qasm_hold *h)
{
    return h->nheld;
}
