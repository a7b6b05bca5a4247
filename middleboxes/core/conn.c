/*
 * conn.c: the core's state: entries (a connection or a 5-tuple), their
 * flows and DCIDs, the timer lists, eviction at max_entries, fallback
 * mappings and attestations (see conn.h).
 */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

void qasm_conn_subscribe(struct qasm_mbox *m, struct entry *e, enum qasm_mbox_req_type type)
{
    struct qasm_mbox_req req;
    memset(&req, 0, sizeof(req));
    req.type = type;
    req.odcid = e->odcid;
    if (qasm_hold_request(m->hold, &req) < 0)
        return;
    if (type == QASM_MBOX_REQ_SUBSCRIBE) {
        e->subscribed = 1;
        m->st.tracker_subscribes++;
    } else {
        e->subscribed = 0;
        m->st.tracker_unsubscribes++;
    }
}

/*
 * At max_entries, like conntrack's early drop: the idlest entry that never
 * saw traffic both ways goes (the grace list is due first, then the short
 * timeout list), never |keep| (an entry the caller still uses). Returns 0
 * when room was made, -1 when every entry is assured.
 */
static int evict_unassured(struct qasm_mbox *m, const struct entry *keep, qasm_tstamp now)
{
    static const int lists[] = {2, 0};
    for (size_t i = 0; i < 2; i++) {
        struct entry *e;
        TAILQ_FOREACH(e, &m->lru[lists[i]], lru) {
            if (e == keep)
                continue;
            if (e->has_state)
                qasm_conn_event(m, QASM_MBOX_TE_EVICTED, e, NULL, NULL, now);
            qasm_conn_entry_free(m, e);
            m->st.entries_evicted++;
            return 0;
        }
    }
    return -1;
}

struct entry *qasm_conn_entry_new(struct qasm_mbox *m, int quic, const struct qasm_addr *client,
                               const struct qasm_addr *server, qasm_tstamp now,
                               const struct entry *keep)
{
    if (m->cfg.max_entries && m->nentries >= m->cfg.max_entries &&
        evict_unassured(m, keep, now) < 0) {
        m->entry_fail = QASM_MBOX_DROP_TABLE_FULL;
        return NULL;
    }
    m->entry_fail = QASM_MBOX_DROP_NO_MEMORY;
    struct entry *e = qasm_pool_get(&m->entries);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->quic = (uint8_t)quic;
    e->cid_len = -1;
    e->client = *client;
    e->server = *server;
    e->last_seen = now;
    e->queued = now;
    e->created = now;
    e->f0.embedded = 1;
    TAILQ_INIT(&e->flows);
    TAILQ_INIT(&e->dcids);
    if (quic)
        TAILQ_INIT(&e->fbs);
    TAILQ_INSERT_TAIL(&m->lru[0], e, lru);
    m->nentries++;
    if (quic && m->cidlens) {
        const struct qasm_addr none = {0};
        int l = qasm_cidlen_get(m->cidlens, m->fn->cidlen_per_server ? server : &none);
        e->cid_len = (int8_t)l;
    }
    return e;
}

/* Allocates the function's state for |e| (client address known). -1 if the pool is dry. */
int qasm_conn_state_alloc(struct qasm_mbox *m, struct entry *e, qasm_tstamp now)
{
    if (m->fn->on_new_flow(m->fn_st, &e->fs, e, &e->client, now) < 0)
        return -1;
    e->has_state = 1;
    m->st.mappings++;
    m->st.mappings_created++;
    qasm_conn_event(m, QASM_MBOX_TE_NEW, e, NULL, NULL, now);
    return 0;
}

/* Queues |ev| unless the queue is at its bound (counted). */
static void event_push(struct qasm_mbox *m, const struct qasm_mbox_table_event *ev)
{
    if (qasm_ring_len(&m->tevents) >= m->te_max || qasm_ring_push(&m->tevents, ev) < 0)
        m->st.table_events_dropped++;
}

void qasm_conn_event_slow(struct qasm_mbox *m, enum qasm_mbox_te_type type,
                          const struct entry *e, const struct qasm_addr *client,
                          const struct qasm_addr *from, qasm_tstamp now)
{
    struct qasm_mbox_table_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.at = now;
    ev.quic = e->quic;
    ev.odcid = e->odcid;
    ev.client = client ? *client : e->client;
    if (from)
        ev.from = *from;
    ev.server = e->server;
    ev.created = e->created;
    ev.packets_orig = e->pkts_orig;
    ev.packets_reply = e->pkts_reply;
    struct qasm_mbox_entry_info info = {.backend = -1};
    if (e->has_state)
        m->fn->info(m->fn_st, &e->fs, e->last_seen, &info);
    ev.public_port = info.public_port;
    ev.backend = info.backend;
    event_push(m, &ev);
}

void qasm_conn_refused(struct qasm_mbox *m, const struct qasm_flow *key,
                       const struct qasm_cid *odcid, enum qasm_mbox_drop_reason reason,
                       qasm_tstamp now)
{
    struct qasm_mbox_table_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = QASM_MBOX_TE_REFUSED;
    ev.at = now;
    if (odcid) {
        ev.quic = 1;
        ev.odcid = *odcid;
    }
    ev.client = key->src;
    ev.server = key->dst;
    ev.backend = -1;
    ev.reason = reason;
    event_push(m, &ev);
}

/* RL / LB with flow_events: the shell may close what it keeps for |client| -> |e|'s next hop. */
static void flow_close_event(struct qasm_mbox *m, const struct qasm_addr *client,
                             const struct qasm_addr *dst, const struct entry *e)
{
    if (!m->cfg.flow_events || !e->has_state)
        return;
    struct qasm_mbox_event ev;
    memset(&ev, 0, sizeof(ev));
    if (!m->fn->flow_hop(m->fn_st, &e->fs, dst, &ev.hop))
        return;
    ev.type = QASM_MBOX_EV_FLOW_CLOSE;
    ev.addr = *client;
    (void)qasm_ring_push(&m->events, &ev);
}

static void flow_free(struct qasm_mbox *m, struct flow *f)
{
    m->flows_gen++;
    (void)qasm_htab_raw_remove_ptr(&m->flows, f->hash, f);
    TAILQ_REMOVE(&f->e->flows, f, link);
    f->e->nflows--;
    if (f->e->cur == f)
        f->e->cur = NULL;
    if (f->embedded)
        f->used = 0;
    else
        qasm_pool_put(&m->flow_pool, f);
}

static void dcid_free(struct qasm_mbox *m, struct dcident *d)
{
    qasm_htab_remove_ptr(m->dcids, d->hash, d);
    TAILQ_REMOVE(&d->e->dcids, d, link);
    d->e->ndcids--;
    free(d);
}

/* Frees flow |f| for good (its 5-tuple's state is gone, not moved). */
static void flow_drop(struct qasm_mbox *m, struct flow *f)
{
    flow_close_event(m, &f->key.src, &f->key.dst, f->e);
    flow_free(m, f);
}

static void fallback_unlink(struct qasm_mbox *m, struct entry *e)
{
    if (e->quic || e->fb.conn == NULL)
        return;
    TAILQ_REMOVE(&e->fb.conn->fbs, e, fb.link);
    e->fb.conn = NULL;
    m->st.fallback_now--;
}

void qasm_conn_entry_free(struct qasm_mbox *m, struct entry *e)
{
    while (!TAILQ_EMPTY(&e->flows))
        flow_drop(m, TAILQ_FIRST(&e->flows));
    if (e->quic) /* its fallback mappings live on as plain default entries */
        while (!TAILQ_EMPTY(&e->fbs))
            fallback_unlink(m, TAILQ_FIRST(&e->fbs));
    else
        fallback_unlink(m, e);
    while (!TAILQ_EMPTY(&e->dcids))
        dcid_free(m, TAILQ_FIRST(&e->dcids));
    if (e->quic) {
        qasm_htab_remove_ptr(m->odcids, qasm_cid_hash(&e->odcid, m->cfg.seed), e);
        if (e->subscribed && m->tracker_up)
            qasm_conn_subscribe(m, e, QASM_MBOX_REQ_UNSUBSCRIBE);
    }
    if (e->has_state) {
        m->fn->on_free(m->fn_st, &e->fs);
        m->st.mappings--;
    }
    TAILQ_REMOVE(&m->lru[e->list], e, lru);
    m->nentries--;
    free(e->att);
    qasm_pool_put(&m->entries, e);
}

static void flow_link(struct qasm_mbox *m, struct flow *f, struct entry *e)
{
    f->e = e;
    TAILQ_INSERT_TAIL(&e->flows, f, link);
    e->nflows++;
    while (e->quic && e->nflows > MAX_FLOWS_PER_CONN)
        flow_drop(m, TAILQ_FIRST(&e->flows));
}

struct flow *qasm_conn_flow_add(struct qasm_mbox *m, struct entry *e, const struct qasm_flow *key,
                             uint64_t hash)
{
    struct flow *f;
    if (!e->f0.used) {
        f = &e->f0;
        f->used = 1;
    } else {
        f = qasm_pool_get(&m->flow_pool);
        if (f == NULL)
            return NULL;
        memset(f, 0, sizeof(*f));
    }
    f->key = *key;
    f->hash = hash;
    f->last_dcid.len = 0;
    f->slow_bits = e->quic ? 0xff : 0;
    if (qasm_htab_raw_insert(&m->flows, hash, f) < 0) {
        if (f->embedded)
            f->used = 0;
        else
            qasm_pool_put(&m->flow_pool, f);
        return NULL;
    }
    m->flows_gen++;
    flow_link(m, f, e);
    return f;
}

/* Whether a flow to |dst| moving from |from| to |to| changes its next hop (the LB's backend). */
static int next_hop_changes(const struct qasm_mbox *m, const struct entry *from,
                            const struct entry *to, const struct qasm_addr *dst)
{
    struct qasm_addr a, b;
    if (!from->has_state || !to->has_state || !m->fn->flow_hop(m->fn_st, &from->fs, dst, &a) ||
        !m->fn->flow_hop(m->fn_st, &to->fs, dst, &b))
        return 0;
    return !qasm_addr_eq(&a, &b);
}

/* Moves the 5-tuple of flow |f| to entry |to|; a default entry left without flows goes.
 * Returns the flow now in |to| (NULL if out of memory: the 5-tuple is then unknown). */
struct flow *qasm_conn_flow_move(struct qasm_mbox *m, struct flow *f, struct entry *to)
{
    struct entry *from = f->e;
    struct qasm_flow key = f->key;
    uint64_t hash = f->hash;
    struct qasm_cid last = f->last_dcid;
    /* The LB's next hop changes with the backend: the old one is closed. */
    if (next_hop_changes(m, from, to, &key.dst))
        flow_close_event(m, &key.src, &key.dst, from);
    flow_free(m, f);
    struct flow *nf = qasm_conn_flow_add(m, to, &key, hash);
    if (nf)
        nf->last_dcid = last;
    else
        flow_close_event(m, &key.src, &key.dst, to);
    if (!from->quic && from->nflows == 0)
        qasm_conn_entry_free(m, from);
    return nf;
}

void qasm_conn_dcid_bind(struct qasm_mbox *m, struct entry *e, const struct qasm_cid *dcid,
                      int confirmed)
{
    uint64_t hash = qasm_cid_hash(dcid, m->cfg.seed);
    struct dcident *d = qasm_htab_find(m->dcids, hash, dcid);
    if (d) {
        if (d->e != e) {
            TAILQ_REMOVE(&d->e->dcids, d, link);
            d->e->ndcids--;
            d->e = e;
            TAILQ_INSERT_TAIL(&e->dcids, d, link);
            e->ndcids++;
        }
        d->confirmed |= (uint8_t)confirmed;
    } else {
        d = calloc(1, sizeof(*d));
        if (d == NULL)
            return;
        d->dcid = *dcid;
        d->hash = hash;
        d->e = e;
        d->confirmed = (uint8_t)confirmed;
        if (qasm_htab_insert(m->dcids, hash, d) < 0) {
            free(d);
            return;
        }
        TAILQ_INSERT_TAIL(&e->dcids, d, link);
        e->ndcids++;
    }
    while (e->ndcids > MAX_DCIDS_PER_CONN) {
        struct dcident *o = TAILQ_FIRST(&e->dcids);
        if (o == d)
            break;
        dcid_free(m, o);
    }
}

int qasm_conn_attested(const struct qasm_mbox *m, const struct entry *e, const struct qasm_addr *a,
                    qasm_tstamp now)
{
    const struct attest *t = e->att;
    if (t == NULL || (now > t->at && now - t->at > m->cfg.cache_ttl))
        return 0;
    for (size_t i = 0; i < t->n; i++)
        if (qasm_addr_eq(&t->addr[i], a))
            return 1;
    return 0;
}

struct entry *qasm_conn_new(struct qasm_mbox *m, const struct qasm_cid *odcid,
                              const struct qasm_addr *client, const struct qasm_addr *server,
                              qasm_tstamp now, const struct entry *keep)
{
    struct entry *e = qasm_conn_entry_new(m, 1, client, server, now, keep);
    if (e == NULL)
        return NULL;
    e->odcid = *odcid;
    e->cls = QASM_MBOX_CLASS_QUIC_CONN; /* what its packets are (client_known) */
    if (qasm_htab_insert(m->odcids, qasm_cid_hash(odcid, m->cfg.seed), e) < 0) {
        e->quic = 0;
        qasm_conn_entry_free(m, e);
        return NULL;
    }
    return e;
}

/* A fallback mapping goes (a RELEASED table event). */
static void fallback_free(struct qasm_mbox *m, struct entry *e, qasm_tstamp now)
{
    qasm_conn_event(m, QASM_MBOX_TE_RELEASED, e, NULL, NULL, now);
    qasm_conn_entry_free(m, e);
}

/* Before connection |c| takes one more fallback mapping: at the cap its oldest goes. */
void qasm_conn_fallback_make_room(struct qasm_mbox *m, struct entry *c, qasm_tstamp now)
{
    if (m->cfg.fallback_per_conn == 0)
        return;
    size_t n = 0; /* a short list (the cap): counted rather than stored, entries stay small */
    const struct entry *x;
    TAILQ_FOREACH(x, &c->fbs, fb.link)
        n++;
    for (; n >= m->cfg.fallback_per_conn; n--) {
        fallback_free(m, TAILQ_FIRST(&c->fbs), now);
        m->st.fallback_recycled++;
    }
}

void qasm_conn_fallback_link(struct qasm_mbox *m, struct entry *c, struct entry *e)
{
    TAILQ_INSERT_TAIL(&c->fbs, e, fb.link);
    e->fb.conn = c;
    m->st.fallback_mappings++;
    m->st.fallback_now++;
}

/* The tracker attests connection |c| again: its remaining fallback mappings go
 * (a path still in use is held and asked about on its next packet). */
void qasm_conn_fallback_return(struct qasm_mbox *m, struct entry *c, qasm_tstamp now)
{
    while (!TAILQ_EMPTY(&c->fbs)) {
        fallback_free(m, TAILQ_FIRST(&c->fbs), now);
        m->st.fallback_returned++;
    }
}
