/*
 * query.c: the tracker's query core (query.h). Each subscription or wait
 * is one qasm_query_sub, in its session's list and in one of: the
 * connection's subscriber list (kept in the store's per-connection user
 * slot), the watch-all list, the pending table (CID -> subscriptions and
 * waits for a CID not known yet), or the address waits; waits are also in
 * the deadline queue.
 */
#include "query.h"

#include <errno.h>
#include <stdlib.h>

#include "htab.h"

/* A subscription, or a query waiting for its CID (WAIT) or for a client
 * address to be attested (ADDR_WAIT, in the address-wait list). */
enum { SUB_CONN = 0, SUB_PENDING = 1, SUB_ALL = 2, WAIT = 3, ADDR_WAIT = 4 };

struct qasm_query_sub {
    int kind;
    struct qasm_query_sess *sess;
    uint32_t req_id;
    struct qasm_cid cid;          /* pending / wait */
    struct qasm_addr server;      /* pending / wait filter */
    struct qasm_addr client;      /* ADDR_WAIT: answer once the connection lists it */
    struct qasm_store_conn *conn; /* SUB_CONN */
    int readthrough;              /* WAIT for a shared-store lookup only (QUERY without wait) */
    qasm_tstamp deadline;         /* WAIT, ADDR_WAIT */
    LIST_ENTRY(qasm_query_sub) clink; /* the connection's list, all_subs or addr_waits */
    LIST_ENTRY(qasm_query_sub) slink; /* the session's list */
    TAILQ_ENTRY(qasm_query_sub) wlink; /* the deadline queue */
};

TAILQ_HEAD(waitq, qasm_query_sub);

struct qasm_query {
    struct qasm_query_config cfg;
    struct qasm_htab *pending;        /* hash(cid) -> sub (SUB_PENDING, WAIT) */
    struct qasm_query_subs all_subs;  /* SUB_ALL */
    struct qasm_query_subs addr_waits; /* ADDR_WAIT (few: migrations in flight) */
    struct waitq waits;               /* WAIT and ADDR_WAIT, by deadline */
    size_t nsubscribers;              /* live SUB_CONN + SUB_PENDING + SUB_ALL */
    size_t nwaiting;
    struct qasm_query_counters n;
};

/* The store keeps one pointer per connection for us: the head of its subscriber list. */
_Static_assert(sizeof(struct qasm_query_subs) == sizeof(void *), "list head is one pointer");

static struct qasm_query_subs *conn_subs(struct qasm_store_conn *c)
{
    return (struct qasm_query_subs *)qasm_store_conn_user(c);
}

static int pending_eq(const void *entry, const void *key)
{
    const struct qasm_query_sub *x = entry;
    return qasm_cid_eq(&x->cid, key);
}

static uint64_t cid_hash(const struct qasm_query *q, const struct qasm_cid *cid)
{
    return qasm_cid_hash(cid, q->cfg.seed);
}

/* ---- actions -------------------------------------------------------------- */

static int act(struct qasm_query *q, struct qasm_query_action *a)
{
    return q->cfg.act(q->cfg.arg, a);
}

static void send_record(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                        const struct qasm_proto_conn *rec, const struct qasm_store_conn *c)
{
    struct qasm_query_action a = { .kind = QASM_QUERY_RECORD, .sess = s->ud, .req_id = req_id,
                                   .rec = rec, .conn = c };
    act(q, &a);
}

static void send_notfound(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                          const struct qasm_cid *cid)
{
    struct qasm_query_action a = { .kind = QASM_QUERY_NOT_FOUND, .sess = s->ud,
                                   .req_id = req_id, .cid = cid };
    act(q, &a);
}

static void send_ok(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                    uint32_t count)
{
    struct qasm_query_action a = { .kind = QASM_QUERY_OK, .sess = s->ud, .req_id = req_id,
                                   .count = count };
    act(q, &a);
}

static void send_error(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                       uint16_t code, const char *text, int budget)
{
    struct qasm_query_action a = { .kind = QASM_QUERY_ERROR, .sess = s->ud, .req_id = req_id,
                                   .code = code, .text = text, .budget = budget };
    act(q, &a);
}

static void send_push(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                      uint8_t event, const struct qasm_proto_conn *rec)
{
    struct qasm_query_action a = { .kind = QASM_QUERY_PUSH, .sess = s->ud, .req_id = req_id,
                                   .event = event, .rec = rec };
    q->n.pushes++;
    act(q, &a);
}

/* Ask the shared store for |cid|: 0 if it was asked (an answer will follow). */
static int lookup(struct qasm_query *q, const struct qasm_cid *cid)
{
    struct qasm_query_action a = { .kind = QASM_QUERY_LOOKUP, .cid = cid };
    return act(q, &a);
}

/* ---- subscriptions and waits -------------------------------------------- */

static void sub_link_conn(struct qasm_query_sub *x, struct qasm_store_conn *c)
{
    x->kind = SUB_CONN;
    x->conn = c;
    LIST_INSERT_HEAD(conn_subs(c), x, clink);
}

/* Unlink |x| from its session only and free it (it is in no other list). */
static void sub_drop(struct qasm_query_sub *x)
{
    LIST_REMOVE(x, slink);
    x->sess->nsubs--;
    free(x);
}

static void wait_unqueue(struct qasm_query *q, struct qasm_query_sub *x)
{
    TAILQ_REMOVE(&q->waits, x, wlink);
    q->nwaiting--;
}

/* Unlink |x| from everything and free it. */
static void sub_free(struct qasm_query *q, struct qasm_query_sub *x)
{
    switch (x->kind) {
    case SUB_CONN:
    case SUB_ALL:
        LIST_REMOVE(x, clink);
        q->nsubscribers--;
        break;
    case SUB_PENDING:
        qasm_htab_remove_ptr(q->pending, cid_hash(q, &x->cid), x);
        q->nsubscribers--;
        break;
    case WAIT:
        qasm_htab_remove_ptr(q->pending, cid_hash(q, &x->cid), x);
        wait_unqueue(q, x);
        break;
    case ADDR_WAIT:
        LIST_REMOVE(x, clink);
        wait_unqueue(q, x);
        break;
    }
    sub_drop(x);
}

static struct qasm_query_sub *sub_new(struct qasm_query *q, struct qasm_query_sess *s, int kind,
                                      uint32_t req_id)
{
    if (s->nsubs >= q->cfg.max_subs) {
        q->n.limit_errors++;
        send_error(q, s, req_id, QASM_PROTO_E_LIMIT, "too many subscriptions or waits", 0);
        return NULL;
    }
    if (q->nsubscribers + q->nwaiting >= q->cfg.max_subs_total) {
        q->n.limit_errors++;
        q->n.subs_refused_budget++;
        send_error(q, s, req_id, QASM_PROTO_E_LIMIT, "tracker subscription budget reached", 1);
        return NULL;
    }
    struct qasm_query_sub *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        send_error(q, s, req_id, QASM_PROTO_E_INTERNAL, "out of memory", 0);
        return NULL;
    }
    x->kind = kind;
    x->req_id = req_id;
    x->sess = s;
    LIST_INSERT_HEAD(&s->subs, x, slink);
    s->nsubs++;
    return x;
}

/* Queue |x| by its deadline, after the waits due at the same time (FIFO). */
static void wait_queue(struct qasm_query *q, struct qasm_query_sub *x, qasm_tstamp deadline)
{
    q->nwaiting++;
    x->deadline = deadline;
    struct qasm_query_sub *y = TAILQ_LAST(&q->waits, waitq);
    while (y != NULL && y->deadline > deadline)
        y = TAILQ_PREV(y, waitq, wlink);
    if (y == NULL)
        TAILQ_INSERT_HEAD(&q->waits, x, wlink);
    else
        TAILQ_INSERT_AFTER(&q->waits, y, x, wlink);
}

static void start_wait(struct qasm_query *q, struct qasm_query_sub *x, uint32_t wait_ms,
                       qasm_tstamp now)
{
    q->n.waits++;
    qasm_duration wait = (qasm_duration)wait_ms * QASM_MS;
    if (wait > q->cfg.max_wait)
        wait = q->cfg.max_wait;
    wait_queue(q, x, now + wait);
}

/* Answer wait |x| with the RECORD of |c|, or NOT_FOUND without it (counted). */
static void wait_answer(struct qasm_query *q, struct qasm_query_sub *x,
                        const struct qasm_store_conn *c)
{
    if (c) {
        q->n.queries_found++;
        send_record(q, x->sess, x->req_id, NULL, c);
    } else {
        q->n.queries_not_found++;
        send_notfound(q, x->sess, x->req_id, &x->cid);
    }
}

/* A wait's deadline: an address wait answers with what is known then, others NOT_FOUND. */
static void wait_timeout(struct qasm_query *q, struct qasm_query_sub *x)
{
    if (!x->readthrough)
        q->n.waits_timeout++;
    wait_answer(q, x,
                x->kind == ADDR_WAIT ? qasm_store_find(q->cfg.store, &x->cid, &x->server) : NULL);
    sub_free(q, x);
}

static int lists_client(const struct qasm_proto_conn *rec, const struct qasm_addr *client)
{
    for (unsigned i = 0; i < rec->nclients; i++)
        if (qasm_addr_eq(&rec->clients[i], client))
            return 1;
    return 0;
}

static int server_ok(const struct qasm_proto_conn *rec, const struct qasm_addr *server)
{
    return server->family == 0 || rec->server.family == 0 || qasm_addr_eq(&rec->server, server);
}

/* Answer the waits and bind the pending subscriptions of one CID |rec| now holds. */
static void wake_cid(struct qasm_query *q, struct qasm_store_conn *c,
                     const struct qasm_proto_conn *rec, const struct qasm_cid *cid)
{
    uint64_t h = cid_hash(q, cid);
    struct qasm_query_sub *x;
    /* Several entries may share the CID: take them one at a time. Each pass
     * removes the entry found, so this ends; an entry for another server
     * stops the scan (it cannot match this record; the rest stay pending). */
    while ((x = qasm_htab_find(q->pending, h, cid)) != NULL) {
        if (!server_ok(rec, &x->server))
            break;
        qasm_htab_remove_ptr(q->pending, h, x);
        if (x->kind == WAIT) {
            wait_unqueue(q, x);
            if (!x->readthrough)
                q->n.waits_found++;
            q->n.queries_found++;
            send_record(q, x->sess, x->req_id, rec, NULL);
            sub_drop(x);
        } else if (!qasm_store_conn_closed(c)) {
            sub_link_conn(x, c);
        } else {
            q->nsubscribers--;
            sub_drop(x);
        }
    }
}

static void wake_pending(struct qasm_query *q, struct qasm_store_conn *c,
                         const struct qasm_proto_conn *rec)
{
    wake_cid(q, c, rec, &rec->odcid);
    for (unsigned i = 0; i < rec->ndcids; i++)
        wake_cid(q, c, rec, &rec->dcids[i].cid);
}

/* Answer the address waits that |rec| now satisfies. */
static void wake_addr_waits(struct qasm_query *q, const struct qasm_proto_conn *rec)
{
    struct qasm_query_sub *x = LIST_FIRST(&q->addr_waits), *next;
    for (; x; x = next) {
        next = LIST_NEXT(x, clink);
        if (!qasm_proto_conn_holds_cid(rec, &x->cid) || !server_ok(rec, &x->server) ||
            !lists_client(rec, &x->client))
            continue;
        q->n.waits_found++;
        q->n.queries_found++;
        send_record(q, x->sess, x->req_id, rec, NULL);
        sub_free(q, x);
    }
}

void qasm_query_store_event(struct qasm_query *q, struct qasm_store_conn *c, uint8_t event)
{
    struct qasm_query_subs *head = conn_subs(c);
    if (qasm_htab_count(q->pending) == 0 && LIST_EMPTY(head) && LIST_EMPTY(&q->all_subs) &&
        LIST_EMPTY(&q->addr_waits))
        return;
    int final = qasm_proto_event_final(event);
    struct qasm_proto_conn rec;
    qasm_store_record(c, &rec);
    if (qasm_htab_count(q->pending) > 0 && !final)
        wake_pending(q, c, &rec);
    if (!LIST_EMPTY(&q->addr_waits) && !final)
        wake_addr_waits(q, &rec);
    struct qasm_query_sub *x;
    LIST_FOREACH(x, head, clink)
        send_push(q, x->sess, x->req_id, event, &rec);
    LIST_FOREACH(x, &q->all_subs, clink)
        send_push(q, x->sess, x->req_id, event, &rec);
    if (final)
        while (!LIST_EMPTY(head))
            sub_free(q, LIST_FIRST(head));
}

/* ---- requests ------------------------------------------------------------ */

/* A wait of kind |kind| for query |m|, or NULL (refused: the ERROR is sent). */
static struct qasm_query_sub *wait_new(struct qasm_query *q, struct qasm_query_sess *s, int kind,
                                       uint32_t req_id, const struct qasm_proto_query *m)
{
    struct qasm_query_sub *x = sub_new(q, s, kind, req_id);
    if (x != NULL) {
        x->cid = m->dcid;
        x->server = m->server;
        x->client = m->client;
    }
    return x;
}

/* A query that waits until the connection of |m->dcid| lists |m->client|. */
static void add_addr_wait(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                          const struct qasm_proto_query *m, qasm_tstamp now)
{
    struct qasm_query_sub *x = wait_new(q, s, ADDR_WAIT, req_id, m);
    if (x == NULL)
        return;
    LIST_INSERT_HEAD(&q->addr_waits, x, clink);
    q->n.addr_waits++;
    start_wait(q, x, m->wait_ms, now);
}

/* A query for a CID not known (yet): wait for it, or for the shared store's answer. */
static void add_wait(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                     const struct qasm_proto_query *m, qasm_tstamp now)
{
    struct qasm_query_sub *x = wait_new(q, s, WAIT, req_id, m);
    if (x == NULL)
        return;
    if (qasm_htab_insert(q->pending, cid_hash(q, &x->cid), x) < 0) {
        sub_drop(x);
        send_error(q, s, req_id, QASM_PROTO_E_INTERNAL, "out of memory", 0);
        return;
    }
    if (m->wait_ms > 0) {
        start_wait(q, x, m->wait_ms, now);
        return;
    }
    /* A plain query held only until the shared store answers (or its timeout). */
    x->readthrough = 1;
    wait_queue(q, x, now + q->cfg.store_timeout);
}

void qasm_query_query(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                      const struct qasm_proto_query *m, qasm_tstamp now)
{
    q->n.queries++;
    struct qasm_store_conn *c = qasm_store_find(q->cfg.store, &m->dcid, &m->server);
    int addr_wait = m->client.family != 0 && m->wait_ms > 0;
    if (c && addr_wait) {
        struct qasm_proto_conn rec;
        qasm_store_record(c, &rec);
        if (!lists_client(&rec, &m->client)) {
            add_addr_wait(q, s, req_id, m, now);
            return;
        }
    }
    if (c) {
        q->n.queries_found++;
        send_record(q, s, req_id, NULL, c);
        return;
    }
    /* Not here: with a shared store, ask it (the answer wakes the waits). */
    int asked = m->dcid.len > 0 && lookup(q, &m->dcid) == 0;
    if (addr_wait && m->dcid.len > 0) {
        add_addr_wait(q, s, req_id, m, now);
        return;
    }
    if ((m->wait_ms == 0 && !asked) || m->dcid.len == 0) {
        q->n.queries_not_found++;
        send_notfound(q, s, req_id, &m->dcid);
        return;
    }
    add_wait(q, s, req_id, m, now);
}

int qasm_query_lookup_done(struct qasm_query *q, const struct qasm_cid *cid)
{
    uint64_t h = cid_hash(q, cid);
    struct qasm_query_sub *keep[64];
    size_t nkeep = 0;
    struct qasm_query_sub *x;
    int rv = 0;
    while (nkeep < 64 && (x = qasm_htab_find(q->pending, h, cid)) != NULL) {
        qasm_htab_remove_ptr(q->pending, h, x);
        if (x->kind != WAIT || !x->readthrough) {
            keep[nkeep++] = x;
            continue;
        }
        wait_unqueue(q, x);
        wait_answer(q, x, qasm_store_find(q->cfg.store, &x->cid, &x->server));
        sub_drop(x);
    }
    for (size_t i = 0; i < nkeep; i++)
        if (qasm_htab_insert(q->pending, h, keep[i]) < 0) /* cannot fail: room was freed */
            rv = -ENOMEM;
    return rv;
}

void qasm_query_subscribe(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                          const struct qasm_proto_sub *m)
{
    q->n.subscribes++;
    if (m->flags & QASM_PROTO_SUB_ALL) {
        struct qasm_query_sub *x = sub_new(q, s, SUB_ALL, req_id);
        if (x == NULL)
            return;
        LIST_INSERT_HEAD(&q->all_subs, x, clink);
        q->nsubscribers++;
        send_ok(q, s, req_id, 0);
        return;
    }
    if (m->cid.len == 0) {
        send_error(q, s, req_id, QASM_PROTO_E_MALFORMED, "empty CID", 0);
        return;
    }
    struct qasm_store_conn *c = qasm_store_find(q->cfg.store, &m->cid, &m->server);
    if (c && qasm_store_conn_closed(c)) {
        send_record(q, s, req_id, NULL, c); /* closed: nothing more will come */
        return;
    }
    struct qasm_query_sub *x = sub_new(q, s, SUB_PENDING, req_id);
    if (x == NULL)
        return;
    x->cid = m->cid;
    x->server = m->server;
    q->nsubscribers++;
    if (c) {
        sub_link_conn(x, c);
        send_record(q, s, req_id, NULL, c);
        return;
    }
    if (qasm_htab_insert(q->pending, cid_hash(q, &x->cid), x) < 0) {
        q->nsubscribers--;
        sub_drop(x);
        send_error(q, s, req_id, QASM_PROTO_E_INTERNAL, "out of memory", 0);
        return;
    }
    send_ok(q, s, req_id, 0);
    lookup(q, &m->cid); /* known elsewhere: binds when it arrives */
}

void qasm_query_unsubscribe(struct qasm_query *q, struct qasm_query_sess *s, uint32_t req_id,
                            const struct qasm_proto_sub *m)
{
    q->n.unsubscribes++;
    int all = (m->flags & QASM_PROTO_SUB_ALL) != 0;
    struct qasm_store_conn *c = all ? NULL : qasm_store_find(q->cfg.store, &m->cid, &m->server);
    size_t removed = 0;
    struct qasm_query_sub *x = LIST_FIRST(&s->subs), *next;
    for (; x; x = next) {
        next = LIST_NEXT(x, slink);
        int match = 0;
        if (all)
            match = x->kind == SUB_ALL;
        else if (x->kind == SUB_CONN)
            match = c != NULL && x->conn == c;
        else if (x->kind == SUB_PENDING)
            match = qasm_cid_eq(&x->cid, &m->cid);
        if (match) {
            sub_free(q, x);
            removed++;
        }
    }
    if (removed)
        send_ok(q, s, req_id, (uint32_t)removed);
    else
        send_notfound(q, s, req_id, &m->cid);
}

/* ---- time ---------------------------------------------------------------- */

void qasm_query_expire(struct qasm_query *q, qasm_tstamp now)
{
    struct qasm_query_sub *x;
    while ((x = TAILQ_FIRST(&q->waits)) != NULL && x->deadline <= now)
        wait_timeout(q, x);
}

qasm_tstamp qasm_query_next_deadline(const struct qasm_query *q)
{
    const struct qasm_query_sub *x = TAILQ_FIRST(&q->waits);
    return x ? x->deadline : QASM_TSTAMP_MAX;
}

qasm_tstamp qasm_query_last_deadline(const struct qasm_query *q)
{
    const struct qasm_query_sub *x = TAILQ_LAST(&q->waits, waitq);
    return x ? x->deadline : 0;
}

void qasm_query_cancel_waits(struct qasm_query *q, struct qasm_query_sess *s)
{
    struct qasm_query_sub *x = LIST_FIRST(&s->subs), *next;
    for (; x; x = next) {
        next = LIST_NEXT(x, slink);
        if (x->kind != WAIT && x->kind != ADDR_WAIT)
            continue;
        wait_answer(q, x, NULL);
        sub_free(q, x);
    }
}

/* ---- sessions and lifecycle ------------------------------------------------ */

void qasm_query_sess_init(struct qasm_query_sess *s, void *ud)
{
    LIST_INIT(&s->subs);
    s->nsubs = 0;
    s->ud = ud;
}

void qasm_query_sess_close(struct qasm_query *q, struct qasm_query_sess *s)
{
    while (!LIST_EMPTY(&s->subs))
        sub_free(q, LIST_FIRST(&s->subs));
}

int qasm_query_new(struct qasm_query **pq, const struct qasm_query_config *cfg)
{
    struct qasm_query *q = calloc(1, sizeof(*q));
    *pq = NULL;
    if (q == NULL)
        return -ENOMEM;
    q->cfg = *cfg;
    LIST_INIT(&q->all_subs);
    LIST_INIT(&q->addr_waits);
    TAILQ_INIT(&q->waits);
    if (qasm_htab_new(&q->pending, 1024, pending_eq) < 0) {
        free(q);
        return -ENOMEM;
    }
    *pq = q;
    return 0;
}

void qasm_query_del(struct qasm_query *q)
{
    if (q == NULL)
        return;
    /* Sessions still open are the shell's: close them first (qasm_query_sess_close). */
    qasm_htab_del(q->pending);
    free(q);
}

const struct qasm_query_counters *qasm_query_counters(const struct qasm_query *q)
{
    return &q->n;
}

size_t qasm_query_nsubscribers(const struct qasm_query *q)
{
    return q->nsubscribers;
}

size_t qasm_query_nwaiting(const struct qasm_query *q)
{
    return q->nwaiting;
}
