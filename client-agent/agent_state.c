/*
 * agent_state.c: per-connection state and change detection of the client
 * agent (see agent_state.h). Pure: no I/O, no clock, no ngtcp2.
 */
#include "agent_state.h"

#include <errno.h>
#include <string.h>

void qasm_agent_evq_init(struct qasm_agent_evq *q)
{
    q->n = 0;
    q->dropped = 0;
}

static struct qasm_agent_ev *ev_push(struct qasm_agent_evq *q, enum qasm_agent_ev_type type)
{
    struct qasm_agent_ev *ev;

    if (q->n >= QASM_AGENT_EVQ_LEN) {
        q->dropped++;
        return NULL;
    }
    ev = &q->ev[q->n++];
    memset(ev, 0, sizeof(*ev));
    ev->type = (uint8_t)type;
    ev->seq = QASM_AGENT_SEQ_UNKNOWN;
    return ev;
}

static void ev_cid(struct qasm_agent_evq *q, enum qasm_agent_ev_type type, uint64_t seq,
                   const struct qasm_cid *cid)
{
    struct qasm_agent_ev *ev = ev_push(q, type);

    if (ev) {
        ev->seq = seq;
        ev->cid = *cid;
    }
}

static struct qasm_agent_dcid *find_dcid(struct qasm_agent_conn *c, const struct qasm_cid *cid)
{
    for (size_t i = 0; i < c->ndcids; i++)
        if (qasm_cid_eq(&c->dcids[i].cid, cid))
            return &c->dcids[i];
    return NULL;
}

const struct qasm_agent_dcid *qasm_agent_conn_find_dcid(const struct qasm_agent_conn *c,
                                                        const struct qasm_cid *cid)
{
    for (size_t i = 0; i < c->ndcids; i++)
        if (qasm_cid_eq(&c->dcids[i].cid, cid))
            return &c->dcids[i];
    return NULL;
}

size_t qasm_agent_conn_count_dcids(const struct qasm_agent_conn *c,
                                   enum qasm_agent_dcid_state state)
{
    size_t n = 0;

    for (size_t i = 0; i < c->ndcids; i++)
        n += c->dcids[i].state == state;
    return n;
}

static void remove_at(struct qasm_agent_conn *c, size_t i)
{
    memmove(&c->dcids[i], &c->dcids[i + 1], (c->ndcids - i - 1) * sizeof(c->dcids[0]));
    c->ndcids--;
}

/* Index of the oldest entry in |state| that is neither the O-DCID nor current, or -1. */
static long oldest_in(const struct qasm_agent_conn *c, enum qasm_agent_dcid_state state)
{
    for (size_t i = 0; i < c->ndcids; i++) {
        const struct qasm_agent_dcid *d = &c->dcids[i];
        if (d->state == state && !qasm_cid_eq(&d->cid, &c->odcid) &&
            !qasm_cid_eq(&d->cid, &c->dcid))
            return (long)i;
    }
    return -1;
}

/*
 * Adds an entry, making room when the table is full: the oldest retired
 * entry goes first; if |force|, then the oldest spare, then the oldest
 * active one that is not in use. Returns NULL when there is no room.
 */
static struct qasm_agent_dcid *add_dcid(struct qasm_agent_conn *c, uint64_t seq,
                                        const struct qasm_cid *cid,
                                        enum qasm_agent_dcid_state state, int force)
{
    struct qasm_agent_dcid *d;

    if (c->ndcids == QASM_AGENT_MAX_DCIDS) {
        long i = oldest_in(c, QASM_AGENT_DCID_RETIRED);
        if (i < 0 && force)
            i = oldest_in(c, QASM_AGENT_DCID_SPARE);
        if (i < 0 && force)
            i = oldest_in(c, QASM_AGENT_DCID_ACTIVE);
        if (i < 0)
            return NULL;
        remove_at(c, (size_t)i);
    }
    d = &c->dcids[c->ndcids++];
    d->cid = *cid;
    d->seq = seq;
    d->state = (uint8_t)state;
    return d;
}

static void note_addr(struct qasm_agent_conn *c, const struct qasm_addr *a)
{
    for (size_t i = 0; i < c->naddrs; i++) {
        if (qasm_addr_eq(&c->addrs[i], a)) {
            /* Move to the end: most recent last. */
            memmove(&c->addrs[i], &c->addrs[i + 1], (c->naddrs - i - 1) * sizeof(*a));
            c->addrs[c->naddrs - 1] = *a;
            return;
        }
    }
    if (c->naddrs == QASM_AGENT_MAX_ADDRS) {
        memmove(&c->addrs[0], &c->addrs[1], (c->naddrs - 1) * sizeof(*a));
        c->naddrs--;
    }
    c->addrs[c->naddrs++] = *a;
}

/* Index of |a| among the addresses announced ahead, or -1. */
static long ahead_find(const struct qasm_agent_conn *c, const struct qasm_addr *a)
{
    for (size_t i = 0; i < c->nahead; i++)
        if (qasm_addr_eq(&c->ahead[i], a))
            return (long)i;
    return -1;
}

static void ahead_remove(struct qasm_agent_conn *c, size_t i)
{
    memmove(&c->ahead[i], &c->ahead[i + 1], (c->nahead - i - 1) * sizeof(c->ahead[0]));
    c->nahead--;
}

/*
 * After a move: the oldest address waiting (the next one to be used) is
 * announced again. The tracker keeps the addresses most recently named
 * (docs/PROTOCOL.md, 8 per connection); without this an address announced
 * several migrations ago would be older there than the ones just left, and
 * the first to go when the list is full.
 */
static void renew_next(struct qasm_agent_conn *c, struct qasm_agent_evq *q)
{
    struct qasm_agent_ev *ev;
    if (c->nahead == 0)
        return;
    ev = ev_push(q, QASM_AGENT_EV_ADDR);
    if (ev) {
        ev->addr = c->ahead[0];
        ev->ahead = 1;
    }
}

void qasm_agent_conn_open(struct qasm_agent_conn *c, const struct qasm_cid *odcid,
                          const struct qasm_cid *scid, const struct qasm_addr *local,
                          const struct qasm_addr *remote, qasm_tstamp now,
                          struct qasm_agent_evq *q)
{
    memset(c, 0, sizeof(*c));
    c->odcid = *odcid;
    c->scid = *scid;
    c->dcid = *odcid;
    c->local = *local;
    c->remote = *remote;
    c->client0 = *local;
    c->opened = now;
    c->last_refresh = now;
    add_dcid(c, QASM_AGENT_SEQ_UNKNOWN, odcid, QASM_AGENT_DCID_ACTIVE, 1);
    if (local->family)
        note_addr(c, local);
    ev_push(q, QASM_AGENT_EV_OPEN);
}

void qasm_agent_conn_observe(struct qasm_agent_conn *c, const struct qasm_cid *dcid,
                             const struct qasm_addr *local, const struct qasm_addr *remote,
                             qasm_tstamp now, struct qasm_agent_evq *q)
{
    (void)now;
    if (c->closed)
        return;
    if (dcid && !qasm_cid_eq(dcid, &c->dcid)) {
        struct qasm_agent_dcid *old = find_dcid(c, &c->dcid);
        struct qasm_agent_dcid *d = find_dcid(c, dcid);

        /*
         * A DCID left silently whose sequence number was never learnt (a
         * Retry SCID) is never deactivated by ngtcp2: retire it here. The
         * O-DCID stays: it is the connection's key.
         */
        if (!c->keep_left && old && old->state == QASM_AGENT_DCID_ACTIVE &&
            old->seq == QASM_AGENT_SEQ_UNKNOWN &&
            !qasm_cid_eq(&old->cid, &c->odcid)) {
            old->state = QASM_AGENT_DCID_RETIRED;
            ev_cid(q, QASM_AGENT_EV_DCID_RETIRED, old->seq, &old->cid);
        }
        c->dcid = *dcid;
        c->nchanges++;
        if (!d) {
            d = add_dcid(c, QASM_AGENT_SEQ_UNKNOWN, dcid, QASM_AGENT_DCID_ACTIVE, 1);
            ev_cid(q, QASM_AGENT_EV_DCID_ACTIVE, QASM_AGENT_SEQ_UNKNOWN, dcid);
        } else if (d->state != QASM_AGENT_DCID_ACTIVE) {
            d->state = QASM_AGENT_DCID_ACTIVE;
            ev_cid(q, QASM_AGENT_EV_DCID_ACTIVE, d->seq, &d->cid);
        }
    }
    if (local && local->family && !qasm_addr_eq(local, &c->local)) {
        struct qasm_agent_ev *ev;
        long i = ahead_find(c, local);
        if (i >= 0)
            ahead_remove(c, (size_t)i); /* used: announced again as the current one */
        c->local = *local;
        c->nchanges++;
        note_addr(c, local);
        ev = ev_push(q, QASM_AGENT_EV_ADDR);
        if (ev)
            ev->addr = *local;
        renew_next(c, q);
    }
    if (remote && remote->family && !qasm_addr_eq(remote, &c->remote)) {
        c->remote = *remote;
        ev_push(q, QASM_AGENT_EV_REFRESH);
    }
}

void qasm_agent_conn_activate(struct qasm_agent_conn *c, uint64_t seq,
                              const struct qasm_cid *cid, qasm_tstamp now,
                              struct qasm_agent_evq *q)
{
    struct qasm_agent_dcid *d;

    (void)now;
    if (c->closed)
        return;
    d = find_dcid(c, cid);
    if (!d) {
        add_dcid(c, seq, cid, QASM_AGENT_DCID_ACTIVE, 1);
    } else if (d->state == QASM_AGENT_DCID_ACTIVE && d->seq == seq) {
        return;
    } else {
        d->state = QASM_AGENT_DCID_ACTIVE;
        d->seq = seq;
    }
    ev_cid(q, QASM_AGENT_EV_DCID_ACTIVE, seq, cid);
}

void qasm_agent_conn_deactivate(struct qasm_agent_conn *c, uint64_t seq,
                                const struct qasm_cid *cid, qasm_tstamp now,
                                struct qasm_agent_evq *q)
{
    struct qasm_agent_dcid *d;

    (void)now;
    if (c->closed || qasm_cid_eq(cid, &c->dcid))
        return;
    d = find_dcid(c, cid);
    if (d && d->state == QASM_AGENT_DCID_RETIRED)
        return;
    if (!d)
        d = add_dcid(c, seq, cid, QASM_AGENT_DCID_RETIRED, 1);
    if (d) {
        d->state = QASM_AGENT_DCID_RETIRED;
        if (seq != QASM_AGENT_SEQ_UNKNOWN)
            d->seq = seq;
    }
    ev_cid(q, QASM_AGENT_EV_DCID_RETIRED, seq, cid);
}

int qasm_agent_conn_learn(struct qasm_agent_conn *c, uint64_t seq, const struct qasm_cid *cid,
                          qasm_tstamp now, struct qasm_agent_evq *q)
{
    (void)now;
    if (c->closed || find_dcid(c, cid))
        return 0;
    if (!add_dcid(c, seq, cid, QASM_AGENT_DCID_SPARE, 0))
        return -ENOSPC;
    ev_cid(q, QASM_AGENT_EV_DCID_SPARE, seq, cid);
    return 1;
}

int qasm_agent_conn_announce(struct qasm_agent_conn *c, const struct qasm_addr *a,
                             qasm_tstamp now, struct qasm_agent_evq *q)
{
    struct qasm_agent_ev *ev;

    (void)now;
    if (!a || !a->family)
        return -EINVAL;
    if (c->closed)
        return -ESHUTDOWN;
    if (qasm_addr_eq(a, &c->local) || ahead_find(c, a) >= 0)
        return 0;
    if (c->nahead == QASM_AGENT_MAX_AHEAD) {
        ahead_remove(c, 0);
        c->ahead_dropped++;
    }
    c->ahead[c->nahead++] = *a;
    /* Listed by REFRESH too, so a tracker that restarts attests it again; not
     * the most recent one, which stays the current address's place. */
    note_addr(c, a);
    if (c->local.family)
        note_addr(c, &c->local);
    ev = ev_push(q, QASM_AGENT_EV_ADDR);
    if (ev) {
        ev->addr = *a;
        ev->ahead = 1;
    }
    return 1;
}

void qasm_agent_conn_close(struct qasm_agent_conn *c, enum qasm_agent_close_reason reason,
                           qasm_tstamp now, struct qasm_agent_evq *q)
{
    struct qasm_agent_ev *ev;

    (void)now;
    if (c->closed)
        return;
    c->closed = 1;
    c->close_reason = (uint8_t)reason;
    ev = ev_push(q, QASM_AGENT_EV_CLOSE);
    if (ev)
        ev->reason = (uint8_t)reason;
}

int qasm_agent_conn_tick(struct qasm_agent_conn *c, qasm_tstamp now, qasm_duration interval,
                         struct qasm_agent_evq *q)
{
    if (c->closed || interval == 0 || now < c->last_refresh || now - c->last_refresh < interval)
        return 0;
    c->last_refresh = now;
    ev_push(q, QASM_AGENT_EV_REFRESH);
    return 1;
}

const char *qasm_agent_ev_name(enum qasm_agent_ev_type t)
{
    static const char *names[] = { "open", "dcid-active", "dcid-spare", "dcid-retired",
                                   "addr", "close", "refresh" };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const char *qasm_agent_close_reason_name(enum qasm_agent_close_reason r)
{
    static const char *names[] = { "local", "draining", "idle", "stateless-reset", "deleted",
                                   "exit" };
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}
