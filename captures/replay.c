/*
 * replay.c: the replay engine (see replay.h). One pass over the frames in
 * capture order; the middlebox core, the embedded tracker and the passive
 * connection observer all run on the capture's clock.
 */
#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "ipudp.h"
#include "linktype.h"
#include "query.h"
#include "quic.h"
#include "store.h"

/* Subscriptions and waits the embedded tracker holds for the core (each of
 * its two sessions): beyond, a query is answered NOT_FOUND at once. */
#define MAX_HELD (1u << 20)
#define HASH_SEED 0x9e3779b97f4a7c15ull

struct server {
    struct qasm_addr addr;
    uint8_t cid_len;  /* 0 = not learned */
};

struct cident {
    struct qasm_cid cid;
    int conn;
};

struct flowent {
    struct qasm_flow flow; /* client -> server */
    int conn;
    int has_pub;
    struct qasm_addr pub;  /* NAT: public address its last packet left from */
    int other_hop;         /* a flow of another hop of the capture */
    int held;              /* client packets of this flow the core holds now */
    struct dgram *deferred, *deferred_tail; /* server packets waiting for them */
    int ready;             /* on the ready list */
};

/* A datagram given to the core: it owns a copy of the IP packet. */
struct dgram {
    uint8_t *ip;
    struct qasm_ipudp pu;  /* views into ip */
    enum qasm_mbox_dir dir;
    int conn;
    int held;              /* the core held it */
    struct dgram *next;    /* in a flow's list of deferred server packets */
};

/*
 * A message between the core and the tracker while it travels (--tracker-rtt):
 * a request on its way to the tracker, an answer or a push on its way back.
 * Every message takes half the round trip, so the queue is FIFO in due time.
 */
enum flight_kind { FL_REQUEST, FL_ANSWER, FL_PUSH };

struct flight {
    qasm_tstamp due;
    enum flight_kind kind;
    struct qasm_mbox_req req; /* FL_REQUEST */
    uint64_t id;              /* FL_ANSWER */
    int found;                /* FL_ANSWER: rec is valid */
    uint8_t event;            /* FL_PUSH */
    struct qasm_proto_conn rec;
};

/* A change of the store, copied in its event callback for the observer. */
struct change {
    uint8_t event;
    struct qasm_proto_conn rec;
};

struct qasm_replay {
    struct qasm_replay_config cfg;
    struct flowent **ready;   /* flows whose deferred server packets can go now */
    size_t nready, cap_ready;
    struct qasm_mbox *m;
    struct qasm_store *st;
    /* The tracker's own query core answers the core's requests: its queries
     * in one session, its subscriptions in the other (a RECORD there is the
     * reply to a SUBSCRIBE). act_now is the time of the call being made. */
    struct qasm_query *q;
    struct qasm_query_sess qs_query, qs_sub;
    qasm_tstamp act_now;
    struct change *changes;
    size_t nchanges, cap_changes;
    struct qasm_replay_counts c;
    int learn_servers;
    struct server servers[QASM_REPLAY_MAX_SERVERS];
    size_t nservers;
    uint32_t cid_len_mask;  /* CID lengths learned, bit per length */

    struct qasm_replay_conn *conns;
    size_t nconns, cap_conns;
    struct qasm_htab *dcid_tab;  /* O-DCIDs and server-chosen DCIDs -> conn */
    struct qasm_htab *scid_tab;  /* client SCIDs -> conn */
    struct qasm_htab *flow_tab;  /* client flows -> conn / NAT public address */

    struct flight *flights;   /* [fl_head, nflights) in flight */
    size_t fl_head, nflights, cap_flights;
    qasm_duration half_rtt;

    qasm_tstamp now, first, last; /* clock; first and last input timestamps */
    int in_padded;                /* the datagram being replayed was zero-filled */
    int started;
};

/* ---- small growable arrays ---- */

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 8;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* Arrays of a conn grow by powers of two: capacity is derived from the count. */
static int push_elem(void **v, size_t *n, const void *e, size_t elem)
{
    size_t cap = 0;
    if (*n) {
        cap = 8;
        while (cap < *n)
            cap *= 2;
    }
    if (grow(v, &cap, *n, elem) < 0)
        return -ENOMEM;
    memcpy((uint8_t *)*v + *n * elem, e, elem);
    (*n)++;
    return 0;
}

/* ---- hash tables ---- */

static int cident_eq(const void *e, const void *k)
{
    return qasm_cid_eq(&((const struct cident *)e)->cid, k);
}

static int flowent_eq(const void *e, const void *k)
{
    return qasm_flow_eq(&((const struct flowent *)e)->flow, k);
}

static int cid_lookup(const struct qasm_htab *h, const struct qasm_cid *cid)
{
    if (cid->len == 0)
        return -1;
    const struct cident *e = qasm_htab_find(h, qasm_cid_hash(cid, HASH_SEED), cid);
    return e ? e->conn : -1;
}

static void cid_bind(struct qasm_htab *h, const struct qasm_cid *cid, int conn)
{
    if (cid->len == 0 || cid_lookup(h, cid) >= 0)
        return;
    struct cident *e = malloc(sizeof(*e));
    if (!e)
        return;
    e->cid = *cid;
    e->conn = conn;
    if (qasm_htab_insert(h, qasm_cid_hash(cid, HASH_SEED), e) < 0)
        free(e);
}

static struct flowent *flow_get(struct qasm_replay *r, const struct qasm_flow *f, int create)
{
    uint64_t hv = qasm_flow_hash(f, HASH_SEED);
    struct flowent *e = qasm_htab_find(r->flow_tab, hv, f);
    if (e || !create)
        return e;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->flow = *f;
    e->conn = -1;
    if (qasm_htab_insert(r->flow_tab, hv, e) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

static void free_tab(struct qasm_htab *h)
{
    if (!h)
        return;
    size_t pos = 0;
    void *e;
    while ((e = qasm_htab_next(h, &pos)) != NULL)
        free(e);
    qasm_htab_del(h);
}

/* ---- servers ---- */

static struct server *server_find(struct qasm_replay *r, const struct qasm_addr *a)
{
    for (size_t i = 0; i < r->nservers; i++)
        if (qasm_addr_eq(&r->servers[i].addr, a))
            return &r->servers[i];
    return NULL;
}

static struct server *server_learn(struct qasm_replay *r, const struct qasm_addr *a)
{
    struct server *s = server_find(r, a);
    if (s || !r->learn_servers || !a->family || r->nservers == QASM_REPLAY_MAX_SERVERS)
        return s;
    s = &r->servers[r->nservers++];
    s->addr = *a;
    s->cid_len = 0;
    return s;
}

static void learn_cid_len(struct qasm_replay *r, struct server *s, size_t len)
{
    if (!s || len == 0 || len > QASM_CID_MAXLEN)
        return;
    s->cid_len = (uint8_t)len;
    r->cid_len_mask |= 1u << len;
}

/* ---- observer ---- */

static int conn_new(struct qasm_replay *r, const struct qasm_cid *odcid,
                    const struct qasm_addr *server)
{
    if (grow((void **)&r->conns, &r->cap_conns, r->nconns, sizeof(*r->conns)) < 0)
        return -1;
    int i = (int)r->nconns++;
    struct qasm_replay_conn *c = &r->conns[i];
    memset(c, 0, sizeof(*c));
    c->odcid = *odcid;
    if (server)
        c->server = *server;
    cid_bind(r->dcid_tab, odcid, i);
    return i;
}

static void conn_add_dcid(struct qasm_replay *r, int i, const struct qasm_cid *cid)
{
    struct qasm_replay_conn *c = &r->conns[i];
    if (cid->len == 0 || qasm_cid_eq(cid, &c->odcid))
        return;
    for (size_t k = 0; k < c->ndcids; k++)
        if (qasm_cid_eq(&c->dcids[k], cid))
            return;
    push_elem((void **)&c->dcids, &c->ndcids, cid, sizeof(*cid));
    cid_bind(r->dcid_tab, cid, i);
}

static void add_addr(struct qasm_addr **v, size_t *n, const struct qasm_addr *a)
{
    for (size_t k = 0; k < *n; k++)
        if (qasm_addr_eq(&(*v)[k], a))
            return;
    push_elem((void **)v, n, a, sizeof(*a));
}

static void conn_add_client(struct qasm_replay_conn *c, const struct qasm_addr *a)
{
    add_addr(&c->clients, &c->nclients, a);
}

static void conn_add_port(struct qasm_replay_conn *c, uint16_t port)
{
    for (size_t k = 0; k < c->nports; k++)
        if (c->ports[k] == port)
            return;
    push_elem((void **)&c->ports, &c->nports, &port, sizeof(port));
}

static void conn_add_backend(struct qasm_replay_conn *c, int b)
{
    for (size_t k = 0; k < c->nbackends; k++)
        if (c->backends[k] == b)
            return;
    push_elem((void **)&c->backends, &c->nbackends, &b, sizeof(b));
}

/* Is this QUIC datagram's DCID one of a known connection (for the other-hop test)? */
static int cid_known_any(struct qasm_replay *r, const struct qasm_quic_hdr *hd, const uint8_t *p,
                         size_t n)
{
    if (hd->is_long)
        return cid_lookup(r->dcid_tab, &hd->dcid) >= 0 || cid_lookup(r->scid_tab, &hd->dcid) >= 0;
    for (size_t len = 1; len <= QASM_CID_MAXLEN; len++) {
        if (!(r->cid_len_mask & (1u << len)) || n < 1 + len)
            continue;
        struct qasm_cid cid;
        qasm_cid_set(&cid, p + 1, len);
        if (cid_lookup(r->dcid_tab, &cid) >= 0)
            return 1;
    }
    /* server -> client short headers carry a client SCID */
    for (size_t i = 0; i < r->nconns; i++) {
        const struct qasm_cid *s = &r->conns[i].client_scid;
        if (s->len && n >= 1 + (size_t)s->len && memcmp(p + 1, s->data, s->len) == 0)
            return 1;
    }
    return 0;
}

/*
 * Is this QUIC datagram (neither to nor from a server) the copy of known
 * traffic on another hop? Yes if it carries a known connection's CID; then
 * its 5-tuple is remembered, so that packets on that flow or its reverse
 * whose CID cannot be read (zero-length client CIDs) are recognised too.
 */
static int other_hop(struct qasm_replay *r, const struct qasm_flow *f,
                     const struct qasm_quic_hdr *hd, const uint8_t *p, size_t n)
{
    struct flowent *fe = flow_get(r, f, 0);
    if (fe && fe->other_hop)
        return 1;
    struct qasm_flow rev = qasm_flow_reverse(f);
    struct flowent *re = flow_get(r, &rev, 0);
    if (re && re->other_hop)
        return 1;
    if (!cid_known_any(r, hd, p, n))
        return 0;
    fe = flow_get(r, f, 1);
    if (fe)
        fe->other_hop = 1;
    return 1;
}

/* Attribute a datagram to a connection (creating it on a client Initial); -1 if none. */
static int observe(struct qasm_replay *r, enum qasm_mbox_dir dir, const struct qasm_flow *f,
                   const struct qasm_quic_hdr *hd, struct server *srv)
{
    int conn = -1;

    if (dir == QASM_MBOX_FROM_CLIENT) {
        struct flowent *fe = flow_get(r, f, 0);
        if (hd->is_long) {
            conn = cid_lookup(r->dcid_tab, &hd->dcid);
            if (conn < 0 && hd->type == QASM_QUIC_INITIAL && hd->dcid.len)
                conn = conn_new(r, &hd->dcid, &f->dst);
            if (conn >= 0 && hd->scid.len && r->conns[conn].client_scid.len == 0) {
                r->conns[conn].client_scid = hd->scid;
                cid_bind(r->scid_tab, &hd->scid, conn);
            }
        } else {
            if (srv && srv->cid_len)
                conn = cid_lookup(r->dcid_tab, &hd->dcid);
            if (conn < 0 && fe)
                conn = fe->conn;
            if (conn >= 0 && srv && srv->cid_len)
                conn_add_dcid(r, conn, &hd->dcid);
        }
        if (conn >= 0) {
            conn_add_client(&r->conns[conn], &f->src);
            if (!fe)
                fe = flow_get(r, f, 1);
            if (fe)
                fe->conn = conn;
        }
    } else {
        struct qasm_flow rev = qasm_flow_reverse(f);
        struct flowent *fe = flow_get(r, &rev, 0);
        if (hd->is_long)
            conn = cid_lookup(r->scid_tab, &hd->dcid);
        if (conn < 0 && fe)
            conn = fe->conn;
        if (hd->is_long && hd->type != QASM_QUIC_VERSION_NEGOTIATION && hd->scid.len) {
            learn_cid_len(r, srv, hd->scid.len);
            if (conn >= 0)
                conn_add_dcid(r, conn, &hd->scid);
        }
    }
    if (conn < 0)
        r->c.unattributed_quic++;
    return conn;
}

/* ---- the tracker side ---- */

static void drain(struct qasm_replay *r, qasm_tstamp t);
static void store_changes(struct qasm_replay *r, qasm_tstamp t);
static void feed(struct qasm_replay *r, struct dgram *d, qasm_tstamp t);

/* The store's event callback: the query core acts now, the observer after the call. */
static void store_event(void *arg, struct qasm_store_conn *c, uint8_t event)
{
    struct qasm_replay *r = arg;
    qasm_query_store_event(r->q, c, event);
    if (grow((void **)&r->changes, &r->cap_changes, r->nchanges, sizeof(*r->changes)) < 0)
        return;
    struct change *ch = &r->changes[r->nchanges++];
    ch->event = event;
    qasm_store_record(c, &ch->rec);
}

/* fly queues a message due half a round trip from |t|; NULL if out of memory. */
static struct flight *fly(struct qasm_replay *r, enum flight_kind kind, qasm_tstamp t)
{
    if (r->fl_head == r->nflights)
        r->fl_head = r->nflights = 0;
    if (grow((void **)&r->flights, &r->cap_flights, r->nflights, sizeof(*r->flights)) < 0)
        return NULL;
    struct flight *f = &r->flights[r->nflights++];
    f->due = t + r->half_rtt;
    f->kind = kind;
    return f;
}

static void to_core_answer(struct qasm_replay *r, uint64_t id, const struct qasm_proto_conn *rec,
                           qasm_tstamp t)
{
    struct flight *f = r->half_rtt ? fly(r, FL_ANSWER, t) : NULL;
    if (!f) {
        qasm_mbox_answer_conn(r->m, id, rec, t);
        return;
    }
    f->id = id;
    f->found = rec != NULL;
    if (rec)
        f->rec = *rec;
}

static void to_core_push(struct qasm_replay *r, uint8_t event, const struct qasm_proto_conn *rec,
                         qasm_tstamp t)
{
    struct flight *f = r->half_rtt ? fly(r, FL_PUSH, t) : NULL;
    r->c.pushes++;
    if (!f) {
        qasm_mbox_push_conn(r->m, event, rec, t);
        return;
    }
    f->event = event;
    f->rec = *rec;
}

/* What the query core says goes to the middlebox core (answers, pushes). */
static int query_action(void *arg, const struct qasm_query_action *a)
{
    struct qasm_replay *r = arg;
    int query = a->sess == &r->qs_query;
    struct qasm_proto_conn rec;
    const struct qasm_proto_conn *pc = a->rec;
    if (a->kind == QASM_QUERY_RECORD && pc == NULL) {
        qasm_store_record(a->conn, &rec);
        pc = &rec;
    }
    switch (a->kind) {
    case QASM_QUERY_RECORD:
        if (query) {
            r->c.queries_answered++;
            to_core_answer(r, a->req_id, pc, r->act_now);
        } else {
            to_core_push(r, 0, pc, r->act_now); /* the RECORD reply of a SUBSCRIBE */
        }
        break;
    case QASM_QUERY_NOT_FOUND:
    case QASM_QUERY_ERROR: /* over MAX_HELD: answered at once */
        if (query) {
            r->c.queries_not_found++;
            to_core_answer(r, a->req_id, NULL, r->act_now);
        }
        break;
    case QASM_QUERY_PUSH:
        to_core_push(r, a->event, a->rec, r->act_now);
        break;
    case QASM_QUERY_OK:
        break;
    case QASM_QUERY_LOOKUP:
        return -ENOTCONN; /* no shared store */
    }
    return 0;
}

/* A request reaches the tracker. Request ids are narrowed to 32 bits, as on the wire. */
static void handle_request(struct qasm_replay *r, const struct qasm_mbox_req *q, qasm_tstamp t)
{
    r->act_now = t;
    if (q->type == QASM_MBOX_REQ_QUERY) {
        struct qasm_proto_query m = { .dcid = q->dcid, .server = q->server,
                                      .wait_ms = q->wait_ms, .client = q->client };
        qasm_query_query(r->q, &r->qs_query, (uint32_t)q->id, &m, t);
        return;
    }
    struct qasm_proto_sub m = { .cid = q->odcid };
    if (q->type == QASM_MBOX_REQ_SUBSCRIBE)
        qasm_query_subscribe(r->q, &r->qs_sub, 0, &m);
    else if (q->type == QASM_MBOX_REQ_UNSUBSCRIBE)
        qasm_query_unsubscribe(r->q, &r->qs_sub, 0, &m);
}

/* ---- verdicts ---- */

static void emit(struct qasm_replay *r, struct dgram *d, const struct qasm_flow *to, qasm_tstamp t)
{
    if (!r->cfg.out)
        return;
    const struct qasm_flow *from = &d->pu.flow;
    if (qasm_flow_eq(from, to)) {
        r->cfg.out(r->cfg.out_ud, t, d->ip, d->pu.pkt_len);
    } else if (to->src.family == from->src.family && to->dst.family == from->dst.family) {
        qasm_ipudp_rewrite(d->ip, &d->pu, &to->src, &to->dst);
        r->cfg.out(r->cfg.out_ud, t, d->ip, d->pu.pkt_len);
    } else {
        /* the NAT's public side is of the other family: build a new packet */
        size_t cap = d->pu.payload_len + 48;
        uint8_t *buf = malloc(cap);
        if (!buf)
            return;
        ssize_t n = qasm_ipudp_build(buf, cap, &to->src, &to->dst, d->pu.payload,
                                     d->pu.payload_len, d->pu.ttl);
        if (n > 0)
            r->cfg.out(r->cfg.out_ud, t, buf, (size_t)n);
        free(buf);
        if (n <= 0)
            return;
    }
    r->c.written++;
}

static void decide(struct qasm_replay *r, struct dgram *d, const struct qasm_mbox_verdict *v,
                   qasm_tstamp t)
{
    struct qasm_replay_conn *c = d->conn >= 0 ? &r->conns[d->conn] : NULL;
    enum qasm_mbox_function fn = r->cfg.mbox.function;

    if (d->held && d->dir == QASM_MBOX_FROM_CLIENT) {
        /* its flow's server packets that arrived meanwhile may go once it is decided */
        struct flowent *fe = flow_get(r, &d->pu.flow, 0);
        if (fe && fe->held > 0 && --fe->held == 0 && fe->deferred && !fe->ready &&
            grow((void **)&r->ready, &r->cap_ready, r->nready, sizeof(*r->ready)) == 0) {
            fe->ready = 1;
            r->ready[r->nready++] = fe;
        }
    }
    if (v->action == QASM_MBOX_FORWARD) {
        if (c)
            c->forwarded++;
        if (fn == QASM_MBOX_NAT && d->dir == QASM_MBOX_FROM_CLIENT) {
            struct flowent *fe = flow_get(r, &d->pu.flow, 1);
            if (fe) {
                fe->pub = v->flow.src;
                fe->has_pub = 1;
            }
            if (c)
                conn_add_port(c, v->public_port);
        } else if (fn == QASM_MBOX_NAT && d->dir == QASM_MBOX_FROM_SERVER) {
            if (!qasm_addr_eq(&v->flow.dst, &d->pu.flow.dst))
                r->c.return_misrouted++;
        } else if (fn == QASM_MBOX_LB && d->dir == QASM_MBOX_FROM_CLIENT && c && v->backend >= 0) {
            conn_add_backend(c, v->backend);
        }
        emit(r, d, &v->flow, t);
    } else if (c) {
        c->dropped++;
    }
    free(d->ip);
    free(d);
}

static void drain(struct qasm_replay *r, qasm_tstamp t)
{
    int progress;
    do {
        struct qasm_mbox_event ev;
        struct qasm_mbox_verdict v;
        struct qasm_mbox_req q;
        progress = 0;
        while (qasm_mbox_next_event(r->m, &ev)) {
            if (ev.type == QASM_MBOX_EV_PORT_OPEN)
                r->c.ports_opened++;
            else
                r->c.ports_closed++;
            progress = 1;
        }
        while (qasm_mbox_next_release(r->m, &v)) {
            if (v.opaque)
                decide(r, v.opaque, &v, t);
            progress = 1;
        }
        while (r->nready) {
            /* server packets deferred behind a held client packet, now decided */
            struct flowent *fe = r->ready[--r->nready];
            struct dgram *list = fe->deferred;
            fe->deferred = fe->deferred_tail = NULL;
            fe->ready = 0;
            while (list) {
                struct dgram *d = list;
                list = d->next;
                d->next = NULL;
                feed(r, d, t);
            }
            progress = 1;
        }
        while (qasm_mbox_next_request(r->m, &q)) {
            struct flight *f = r->half_rtt ? fly(r, FL_REQUEST, t) : NULL;
            if (f)
                f->req = q; /* reaches the tracker half a round trip later */
            else
                handle_request(r, &q, t);
            progress = 1;
        }
    } while (progress);
}

/* Deliver the messages in flight that are due at |n| (FIFO). */
static void land(struct qasm_replay *r, qasm_tstamp n)
{
    while (r->fl_head < r->nflights && r->flights[r->fl_head].due <= n) {
        struct flight f = r->flights[r->fl_head++]; /* copy: handling may queue more */
        switch (f.kind) {
        case FL_REQUEST:
            handle_request(r, &f.req, n);
            break;
        case FL_ANSWER:
            qasm_mbox_answer_conn(r->m, f.id, f.found ? &f.rec : NULL, n);
            break;
        case FL_PUSH:
            qasm_mbox_push_conn(r->m, f.event, &f.rec, n);
            break;
        }
        drain(r, n);
    }
}

/*
 * Run everything timed up to |t|, earliest first: the tracker's expiry, the
 * messages in flight, the deadlines of waiting queries, the core's timers.
 */
static void advance(struct qasm_replay *r, qasm_tstamp t)
{
    if (t < r->now)
        t = r->now;
    for (int guard = 0; guard < 1000000; guard++) {
        qasm_tstamp sd = qasm_store_next_deadline(r->st);
        qasm_tstamp fnext = r->fl_head < r->nflights ? r->flights[r->fl_head].due
                                                     : QASM_TSTAMP_MAX;
        qasm_tstamp wnext = qasm_query_next_deadline(r->q);
        qasm_tstamp next = qasm_mbox_next_expiry(r->m);
        qasm_tstamp n = sd;
        if (fnext < n)
            n = fnext;
        if (wnext < n)
            n = wnext;
        if (next < n)
            n = next;
        if (n > t)
            break;
        if (n < r->now)
            n = r->now;
        r->now = n;
        if (sd <= n) {
            r->act_now = n;
            qasm_store_expire(r->st, n);
            store_changes(r, n);
            if (qasm_store_next_deadline(r->st) <= n)
                break; /* the store did not move its deadline: do not spin */
        } else if (fnext <= n) {
            land(r, n);
        } else if (wnext <= n) {
            /* At the deadline the tracker answers with what it has. */
            r->act_now = n;
            qasm_query_expire(r->q, n);
            drain(r, n);
        } else {
            qasm_mbox_expire(r->m, n);
            drain(r, n);
            if (qasm_mbox_next_expiry(r->m) <= n)
                break; /* the core did not move its deadline: do not spin */
        }
    }
    r->now = t;
}

static int clock_in(struct qasm_replay *r, qasm_tstamp t)
{
    if (!r->started) {
        r->started = 1;
        r->first = t;
        r->now = t;
    }
    if (t < r->now) {
        r->c.time_backwards++;
        t = r->now;
    }
    r->last = t;
    advance(r, t);
    return 0;
}

/* Merge what the tracker knows into the observer's connection list. */
static void observe_record(struct qasm_replay *r, const struct qasm_proto_conn *pc)
{
    struct server *srv = pc->server.family ? server_learn(r, &pc->server) : NULL;
    if (srv && pc->dcid_len)
        learn_cid_len(r, srv, pc->dcid_len);
    int conn = cid_lookup(r->dcid_tab, &pc->odcid);
    if (conn < 0)
        conn = conn_new(r, &pc->odcid, pc->server.family ? &pc->server : NULL);
    if (conn < 0)
        return;
    struct qasm_replay_conn *c = &r->conns[conn];
    c->in_reports = 1;
    if (!c->server.family && pc->server.family)
        c->server = pc->server;
    if (pc->scid.len && !c->client_scid.len) {
        c->client_scid = pc->scid;
        cid_bind(r->scid_tab, &pc->scid, conn);
    }
    for (size_t i = 0; i < pc->ndcids; i++)
        conn_add_dcid(r, conn, &pc->dcids[i].cid);
    for (size_t i = 0; i < pc->nclients; i++) {
        conn_add_client(c, &pc->clients[i]);
        add_addr(&c->attested, &c->nattested, &pc->clients[i]);
    }
}

/* After a store call: the observer learns the changes, then the core runs. */
static void store_changes(struct qasm_replay *r, qasm_tstamp t)
{
    for (size_t k = 0; k < r->nchanges; k++)
        observe_record(r, &r->changes[k].rec);
    r->nchanges = 0;
    drain(r, t);
}

/*
 * A report recorded without authentication (a version-1 capture, or an
 * events file, which is the agent's own log) is taken as its connection's
 * owner sent it: signed here with one secret for all, so the store core
 * applies it as the tracker of that time did. Reports of a version-2
 * capture keep their own secret and MAC, and forged ones are refused.
 */
static void sign_as_recorded(struct qasm_proto_msg *m)
{
    static const uint8_t recorded[QASM_PROTO_SECRET_LEN] = { 'q', 'a', 's', 'm', '-', 'r', 'e',
                                                             'p', 'l', 'a', 'y', '-', 'v', '1' };
    (void)qasm_proto_report_sign(m->hdr.type, &m->u.report, recorded);
}

static void apply_report(struct qasm_replay *r, const struct qasm_proto_msg *m,
                         const struct qasm_addr *source, qasm_tstamp t)
{
    r->act_now = t;
    int rv = qasm_store_report(r->st, m->hdr.type, &m->u.report, source, t);
    if (rv < 0)
        r->c.reports_rejected++;
    else
        r->c.reports_applied++;
    store_changes(r, t);
}

/* ---- packets ---- */

/*
 * quic_parse tells whether a datagram looks like QUIC and parses its first
 * packet's header into |hd|. Peers that negotiated grease_quic_bit (RFC
 * 9287; ngtcp2 does by default) clear the fixed bit on packets after the
 * handshake, so a cleared bit is accepted (hd->fixed_bit tells).
 */
static int quic_parse(struct qasm_quic_hdr *hd, const uint8_t *p, size_t n, size_t short_len)
{
    return n > 0 && qasm_quic_parse(hd, p, n, short_len, QASM_QUIC_F_GREASE_OK) > 0;
}

/* feed gives one datagram to the core at |t| and applies the verdict. */
static void feed(struct qasm_replay *r, struct dgram *d, qasm_tstamp t)
{
    struct qasm_mbox_pkt pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.flow = d->pu.flow;
    pkt.dir = d->dir;
    pkt.data = d->pu.payload;
    pkt.len = d->pu.payload_len;
    pkt.opaque = d;
    if (d->dir == QASM_MBOX_FROM_SERVER && r->cfg.mbox.function == QASM_MBOX_NAT) {
        /* the server answers the NAT's public address of that client flow */
        struct qasm_flow rev = qasm_flow_reverse(&d->pu.flow);
        struct flowent *fe = flow_get(r, &rev, 0);
        if (fe && fe->has_pub) {
            pkt.flow.dst = fe->pub;
        } else {
            pkt.flow.dst = r->cfg.mbox.nat_public;
            pkt.flow.dst.port = 0;
        }
    }

    struct qasm_mbox_verdict v;
    enum qasm_mbox_action a = qasm_mbox_process(r->m, &pkt, t, &v);
    struct qasm_mbox_event ev;
    while (qasm_mbox_next_event(r->m, &ev)) {
        if (ev.type == QASM_MBOX_EV_PORT_OPEN)
            r->c.ports_opened++;
        else
            r->c.ports_closed++;
    }
    if (a == QASM_MBOX_HOLD) {
        d->held = 1;
        if (d->conn >= 0)
            r->conns[d->conn].held++;
        if (d->dir == QASM_MBOX_FROM_CLIENT) {
            struct flowent *fe = flow_get(r, &d->pu.flow, 1);
            if (fe)
                fe->held++;
        }
    } else {
        decide(r, d, &v, t);
    }
    drain(r, t);
}

static void count_quic(struct qasm_replay *r, const struct qasm_quic_hdr *hd)
{
    r->c.quic_packets++;
    if (!hd->fixed_bit)
        r->c.quic_greased++;
}

static void udp_datagram(struct qasm_replay *r, qasm_tstamp t, const uint8_t *ip,
                         const struct qasm_ipudp *pu)
{
    const uint8_t *p = pu->payload;
    size_t n = pu->payload_len;

    r->c.udp_packets++;
    /* A tracker message: magic, and a length field equal to the datagram's (so a
     * QUIC short header that happens to start with "QT" is not taken for one). */
    struct qasm_proto_hdr th;
    if (n >= QASM_PROTO_HDR_LEN && p[0] == QASM_PROTO_MAGIC0 && p[1] == QASM_PROTO_MAGIC1 &&
        qasm_proto_decode_hdr(&th, p, n) == 0) {
        struct qasm_proto_msg m;
        if (r->in_padded) {
            /* a report with zeros for its tail would be a lie: not used */
            r->c.padded--;
            r->c.truncated++;
            return;
        }
        if (th.version == 1) {
            /* recorded before reports were authenticated */
            if (qasm_proto_decode_v1(&m, p, n) < 0) {
                r->c.tracker_bad++;
                return;
            }
            if (qasm_proto_is_report(m.hdr.type))
                sign_as_recorded(&m);
        } else if (qasm_proto_decode(&m, p, n) < 0) {
            r->c.tracker_bad++;
            return;
        }
        r->c.tracker_msgs++;
        if (qasm_proto_is_report(m.hdr.type) && r->cfg.capture_reports)
            apply_report(r, &m, r->cfg.trust_any ? NULL : &pu->flow.src, t);
        return;
    }

    struct server *sdst = server_find(r, &pu->flow.dst);
    struct server *ssrc = sdst ? NULL : server_find(r, &pu->flow.src);
    struct qasm_quic_hdr hd;
    size_t short_len = sdst ? sdst->cid_len : 0;
    /* A datagram with the fixed bit clear counts as QUIC only on a server's path
     * or as a known connection's traffic on another hop. */
    int looks = quic_parse(&hd, p, n, short_len);
    int quic = looks && (hd.fixed_bit || sdst || ssrc);

    enum qasm_mbox_dir dir;
    struct server *srv = NULL;
    if (sdst) {
        dir = QASM_MBOX_FROM_CLIENT;
        srv = sdst;
    } else if (ssrc) {
        dir = QASM_MBOX_FROM_SERVER;
        srv = ssrc;
    } else if (looks && other_hop(r, &pu->flow, &hd, p, n)) {
        count_quic(r, &hd);
        r->c.other_hop++;
        return;
    } else {
        dir = QASM_MBOX_FROM_CLIENT;
        if (quic && hd.is_long && hd.type == QASM_QUIC_INITIAL)
            srv = server_learn(r, &pu->flow.dst);
    }
    if (quic)
        count_quic(r, &hd);
    int conn = quic && srv ? observe(r, dir, &pu->flow, &hd, srv) : -1;

    struct dgram *d = calloc(1, sizeof(*d));
    uint8_t *copy = d ? malloc(pu->pkt_len) : NULL;
    if (!copy) {
        free(d);
        return;
    }
    memcpy(copy, ip, pu->pkt_len);
    d->ip = copy;
    d->pu = *pu;
    d->pu.payload = copy + (pu->payload - ip);
    d->dir = dir;
    d->conn = conn;

    r->c.mbox_packets++;
    if (dir == QASM_MBOX_FROM_CLIENT)
        r->c.from_client++;
    else
        r->c.from_server++;
    if (conn >= 0)
        r->conns[conn].packets++;
    if (dir == QASM_MBOX_FROM_SERVER) {
        /*
         * Causality: the server answered a client packet that the core is still
         * holding (the replay's tracker is slower than the capture's): the
         * answer waits until that packet is decided.
         */
        struct qasm_flow rev = qasm_flow_reverse(&pu->flow);
        struct flowent *fe = flow_get(r, &rev, 0);
        if (fe && fe->held > 0) {
            if (fe->deferred_tail)
                fe->deferred_tail->next = d;
            else
                fe->deferred = d;
            fe->deferred_tail = d;
            r->c.deferred++;
            return;
        }
    }
    feed(r, d, t);
}

void qasm_replay_frame(struct qasm_replay *r, qasm_tstamp t, int dlt, const uint8_t *frame,
                       size_t caplen, size_t wirelen)
{
    const uint8_t *ip;
    size_t iplen;
    struct qasm_ipudp pu;

    r->c.packets++;
    clock_in(r, t);
    int ver = qasm_link_decap(dlt, frame, caplen, &ip, &iplen);
    if (ver < 0) {
        if (ver == QASM_LINK_ERR_UNSUPPORTED)
            r->c.unsupported_link++;
        else if (ver == QASM_LINK_ERR_TRUNCATED)
            r->c.truncated++;
        else
            r->c.not_ip++;
        return;
    }
    uint8_t *padded = NULL;
    if (caplen < wirelen && r->cfg.pad_truncated && wirelen - caplen <= 65536) {
        /* cut by the snap length: zero-fill the missing bytes, so that a datagram
         * whose headers were captured can be used */
        size_t full = iplen + (wirelen - caplen);
        padded = calloc(1, full);
        if (padded) {
            memcpy(padded, ip, iplen);
            int prv = qasm_ipudp_parse(&pu, padded, full, 0);
            if (prv == 0 && pu.udp_off + 8 <= iplen) {
                r->c.padded++;
                r->in_padded = 1;
                udp_datagram(r, t, padded, &pu);
                r->in_padded = 0;
                free(padded);
                return;
            }
            free(padded);
        }
    }
    int rv = qasm_ipudp_parse(&pu, ip, iplen, 0);
    switch (rv) {
    case 0:
        break;
    case QASM_IPUDP_ERR_FRAGMENT:
        r->c.fragments++;
        return;
    case QASM_IPUDP_ERR_NOT_UDP:
        r->c.not_udp++;
        return;
    case QASM_IPUDP_ERR_TRUNCATED:
        r->c.truncated++;
        return;
    default:
        /* a frame cut by the snap length shows up as a bad length */
        if (caplen < wirelen)
            r->c.truncated++;
        else
            r->c.malformed_ip++;
        return;
    }
    udp_datagram(r, t, ip, &pu);
}

int qasm_replay_event(struct qasm_replay *r, qasm_tstamp t, const struct qasm_proto_msg *m)
{
    if (!qasm_proto_is_report(m->hdr.type))
        return -EINVAL;
    clock_in(r, t);
    r->c.tracker_events++;
    /* trusted: the report vouches for its own source, and for its owner unless signed */
    struct qasm_proto_msg own = *m;
    if (!qasm_proto_report_has_mac(&own.u.report))
        sign_as_recorded(&own);
    apply_report(r, &own, &own.u.report.client, t);
    return 0;
}

void qasm_replay_finish(struct qasm_replay *r)
{
    if (!r->started)
        return;
    qasm_duration hold = r->cfg.mbox.hold_ceiling > r->cfg.mbox.hold_time ? r->cfg.mbox.hold_ceiling
                                                                           : r->cfg.mbox.hold_time;
    qasm_duration tail = hold + 4 * r->half_rtt + QASM_MS;
    qasm_tstamp last = qasm_query_last_deadline(r->q);
    if (last > r->now && last - r->now > tail)
        tail = last - r->now;
    advance(r, r->now + tail);
    /* what is still open: unanswered waits, messages in flight */
    for (int round = 0; round < 8 && (qasm_query_nwaiting(r->q) || r->fl_head < r->nflights);
         round++) {
        r->act_now = r->now;
        qasm_query_cancel_waits(r->q, &r->qs_query);
        drain(r, r->now);
        if (r->fl_head < r->nflights)
            advance(r, r->flights[r->nflights - 1].due);
    }
    drain(r, r->now);
}

/* ---- lifecycle and results ---- */

int qasm_replay_new(struct qasm_replay **pr, const struct qasm_replay_config *cfg)
{
    struct qasm_replay *r = calloc(1, sizeof(*r));
    int rv = -ENOMEM;

    *pr = NULL;
    if (!r)
        return -ENOMEM;
    r->cfg = *cfg;
    r->half_rtt = cfg->tracker_rtt / 2;
    r->learn_servers = cfg->nservers == 0;
    for (size_t i = 0; i < cfg->nservers && i < QASM_REPLAY_MAX_SERVERS; i++)
        r->servers[r->nservers++].addr = cfg->servers[i];
    struct qasm_store_config sc;
    qasm_store_config_default(&sc);
    sc.trust_any = cfg->trust_any;
    sc.seed = HASH_SEED;
    rv = qasm_store_new(&r->st, &sc, store_event, r);
    if (rv < 0)
        goto fail;
    /* No cap on a wait (the capture's clock, not a shared tracker's policy). */
    struct qasm_query_config qc = {
        .store = r->st, .seed = HASH_SEED, .max_wait = QASM_TSTAMP_MAX / 2,
        .store_timeout = 0, .max_subs = MAX_HELD, .max_subs_total = 2 * MAX_HELD,
        .act = query_action, .arg = r,
    };
    qasm_query_sess_init(&r->qs_query, &r->qs_query);
    qasm_query_sess_init(&r->qs_sub, &r->qs_sub);
    rv = qasm_query_new(&r->q, &qc);
    if (rv < 0)
        goto fail;
    rv = -ENOMEM;
    if (qasm_htab_new(&r->dcid_tab, 256, cident_eq) < 0 ||
        qasm_htab_new(&r->scid_tab, 64, cident_eq) < 0 ||
        qasm_htab_new(&r->flow_tab, 256, flowent_eq) < 0)
        goto fail;
    rv = qasm_mbox_new(&r->m, &cfg->mbox);
    if (rv < 0)
        goto fail;
    *pr = r;
    return 0;
fail:
    qasm_replay_del(r);
    return rv;
}

void qasm_replay_del(struct qasm_replay *r)
{
    if (!r)
        return;
    if (r->m) {
        /* hand back what the core still holds so its copies are freed */
        struct qasm_mbox_verdict v;
        qasm_mbox_tracker_state(r->m, 0, r->now);
        while (qasm_mbox_next_release(r->m, &v)) {
            struct dgram *d = v.opaque;
            if (d) {
                free(d->ip);
                free(d);
            }
        }
        qasm_mbox_del(r->m);
    }
    if (r->q) {
        qasm_query_sess_close(r->q, &r->qs_query);
        qasm_query_sess_close(r->q, &r->qs_sub);
        qasm_query_del(r->q);
    }
    qasm_store_del(r->st);
    free(r->changes);
    free(r->ready);
    if (r->flow_tab) {
        size_t pos = 0;
        struct flowent *fe;
        while ((fe = qasm_htab_next(r->flow_tab, &pos)) != NULL) {
            while (fe->deferred) {
                struct dgram *d = fe->deferred;
                fe->deferred = d->next;
                free(d->ip);
                free(d);
            }
        }
    }
    free_tab(r->dcid_tab);
    free_tab(r->scid_tab);
    free_tab(r->flow_tab);
    for (size_t i = 0; i < r->nconns; i++) {
        free(r->conns[i].dcids);
        free(r->conns[i].clients);
        free(r->conns[i].attested);
        free(r->conns[i].ports);
        free(r->conns[i].backends);
    }
    free(r->conns);
    free(r->flights);
    free(r);
}

const struct qasm_replay_counts *qasm_replay_counts(const struct qasm_replay *r)
{
    return &r->c;
}

size_t qasm_replay_nconns(const struct qasm_replay *r)
{
    return r->nconns;
}

const struct qasm_replay_conn *qasm_replay_conn(const struct qasm_replay *r, size_t i)
{
    return i < r->nconns ? &r->conns[i] : NULL;
}

const struct qasm_store_stats *qasm_replay_tracker_stats(const struct qasm_replay *r)
{
    return qasm_store_get_stats(r->st);
}

const struct qasm_mbox *qasm_replay_mbox(const struct qasm_replay *r)
{
    return r->m;
}

qasm_tstamp qasm_replay_first_ts(const struct qasm_replay *r)
{
    return r->started ? r->first : 0;
}

qasm_tstamp qasm_replay_last_ts(const struct qasm_replay *r)
{
    return r->started ? r->last : 0;
}
