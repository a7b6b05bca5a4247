/*
 * agentd_track.c: connection state of the eBPF client agent, fed by the
 * cgroup_skb programs' events (see agentd_track.h). Pure: no I/O, no clock.
 */
#include "agentd/agentd_track.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hash.h"
#include "htab.h"
#include "quic_initial.h"
#include "client-agent/agent_frames.h"

/* Client CIDs learnt from decrypted headers (P2 in agentd_track.h), newest replacing oldest. */
#define CCIDS 4

/*
 * The hash index: every key a connection is found by is a node in one
 * table (lib/htab): a flow (local and server address), a DCID it used (with
 * the server address), one of its own client CIDs (for --prereg payloads).
 * A connection holds its nodes; when it has more keys than NODES (many
 * migrations) the oldest node is recycled.
 */
enum { K_FLOW = 1, K_DCID = 2, K_CCID = 3 };
#define NODES 48

struct entry;

struct node {
    uint64_t hash;
    struct entry *e; /* NULL: unused */
    uint8_t kind;
    struct qasm_addr local;  /* K_FLOW */
    struct qasm_addr remote; /* K_FLOW, K_DCID */
    struct qasm_cid cid;     /* K_DCID, K_CCID */
};

struct entry {
    struct qasm_agent_conn c;
    qasm_tstamp last;   /* latest event or activity */
    uint32_t uid;       /* owner of the socket that sent the Initial */
    uint32_t pid;       /* process that decrypted its payloads last (0 = none seen) */
    struct qasm_cid ccids[CCIDS];
    uint32_t nccids;
    size_t li;          /* its place in live[] */
    struct node nodes[NODES];
    uint32_t nnodes;    /* nodes added so far (the next goes to nnodes % NODES) */
};

/*
 * Entries live in a pool and never move (the index points at them);
 * live[0..n) lists the live ones densely for the scans that remain (idle
 * expiry, and the rare lookups by server or process), a removal moving the
 * last one into the hole.
 */
struct qasm_agentd_track {
    struct qasm_agentd_track_cfg cfg;
    struct qasm_agentd_track_stats st;
    struct entry *pool;
    struct entry **live;
    struct entry **spare; /* free pool entries, a stack */
    size_t n, nspare;
    struct qasm_htab *ix;
    uint32_t ccid_lens[QASM_CID_MAXLEN + 1]; /* K_CCID nodes per CID length */
};

static int node_eq(const void *entry, const void *key)
{
    const struct node *x = entry, *k = key;

    if (x->kind != k->kind)
        return 0;
    if (k->kind == K_FLOW)
        return qasm_addr_eq(&x->local, &k->local) && qasm_addr_eq(&x->remote, &k->remote);
    if (k->kind == K_DCID && !qasm_addr_eq(&x->remote, &k->remote))
        return 0;
    return qasm_cid_eq(&x->cid, &k->cid);
}

static size_t put_addr(uint8_t *b, const struct qasm_addr *a)
{
    b[0] = a->family;
    b[1] = (uint8_t)(a->port >> 8);
    b[2] = (uint8_t)a->port;
    memcpy(b + 3, a->ip, 16);
    return 19;
}

static uint64_t node_hash(const struct node *k)
{
    uint8_t b[1 + 2 * 19 + 1 + QASM_CID_MAXLEN];
    size_t n = 0;

    b[n++] = k->kind;
    if (k->kind == K_FLOW)
        n += put_addr(b + n, &k->local);
    if (k->kind != K_CCID)
        n += put_addr(b + n, &k->remote);
    if (k->kind != K_FLOW) {
        b[n++] = k->cid.len;
        memcpy(b + n, k->cid.data, k->cid.len);
        n += k->cid.len;
    }
    return qasm_hash(b, n, 0x61676e7464ull);
}

static struct entry *ix_find(const struct qasm_agentd_track *t, const struct node *k)
{
    const struct node *x = qasm_htab_find(t->ix, node_hash(k), k);
    return x ? x->e : NULL;
}

static void ix_drop(struct qasm_agentd_track *t, struct node *x)
{
    qasm_htab_remove_ptr(t->ix, x->hash, x);
    if (x->kind == K_CCID)
        t->ccid_lens[x->cid.len]--;
    x->e = NULL;
}

/* Indexes |k| for |e| unless it is already; the oldest node is recycled when all are used. */
static void ix_add(struct qasm_agentd_track *t, struct entry *e, const struct node *k)
{
    struct node *x;

    if (ix_find(t, k) == e)
        return;
    x = &e->nodes[e->nnodes % NODES];
    if (x->e)
        ix_drop(t, x);
    *x = *k;
    x->e = e;
    x->hash = node_hash(k);
    if (qasm_htab_insert(t->ix, x->hash, x) < 0) {
        x->e = NULL;
        t->st.index_failed++;
        return;
    }
    if (x->kind == K_CCID)
        t->ccid_lens[x->cid.len]++;
    e->nnodes++;
}

/* Indexes the keys of |e| that are not yet: its flows, its DCIDs, its client CIDs. */
static void ix_sync(struct qasm_agentd_track *t, struct entry *e)
{
    struct node k;

    memset(&k, 0, sizeof(k));
    k.kind = K_FLOW;
    k.remote = e->c.remote;
    for (size_t i = 0; i < e->c.naddrs; i++) {
        k.local = e->c.addrs[i];
        ix_add(t, e, &k);
    }
    memset(&k.local, 0, sizeof(k.local));
    k.kind = K_DCID;
    for (size_t i = 0; i < e->c.ndcids; i++) {
        k.cid = e->c.dcids[i].cid;
        ix_add(t, e, &k);
    }
    memset(&k.remote, 0, sizeof(k.remote));
    k.kind = K_CCID;
    for (size_t i = 0; i <= e->nccids && i <= CCIDS; i++) {
        k.cid = i == 0 ? e->c.scid : e->ccids[i - 1];
        if (k.cid.len > 0)
            ix_add(t, e, &k);
    }
}

struct qasm_agentd_track *qasm_agentd_track_new(const struct qasm_agentd_track_cfg *cfg)
{
    struct qasm_agentd_track *t;

    if (!cfg->max_conns || !cfg->emit)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cfg = *cfg;
    t->pool = calloc(cfg->max_conns, sizeof(*t->pool));
    t->live = calloc(cfg->max_conns, sizeof(*t->live));
    t->spare = calloc(cfg->max_conns, sizeof(*t->spare));
    if (!t->pool || !t->live || !t->spare || qasm_htab_new(&t->ix, cfg->max_conns * 8, node_eq) < 0) {
        qasm_agentd_track_free(t);
        return NULL;
    }
    for (size_t i = cfg->max_conns; i-- > 0;)
        t->spare[t->nspare++] = &t->pool[i];
    return t;
}

void qasm_agentd_track_free(struct qasm_agentd_track *t)
{
    if (t) {
        qasm_htab_del(t->ix);
        free(t->pool);
        free(t->live);
        free(t->spare);
        free(t);
    }
}

void qasm_agentd_fkey_addrs(const struct qasm_agentd_fkey *k, struct qasm_addr *local,
                            struct qasm_addr *remote)
{
    memset(local, 0, sizeof(*local));
    memset(remote, 0, sizeof(*remote));
    local->family = remote->family = k->family;
    local->port = k->lport;
    remote->port = k->rport;
    memcpy(local->ip, k->lip, 16);
    memcpy(remote->ip, k->rip, 16);
}

void qasm_agentd_ev_addrs(const struct qasm_agentd_ev *ev, struct qasm_addr *local,
                          struct qasm_addr *remote)
{
    qasm_agentd_fkey_addrs(&ev->flow, local, remote);
}

static void flush(struct qasm_agentd_track *t, struct entry *e, struct qasm_agent_evq *q)
{
    t->st.evq_dropped += q->dropped;
    if (q->n)
        t->cfg.emit(t->cfg.arg, &e->c, q);
}

/* The entry a flow (|local| set) or a DCID (|dcid| set) to |remote| belongs to. */
static struct entry *by_key(struct qasm_agentd_track *t, const struct qasm_addr *local,
                            const struct qasm_cid *dcid, const struct qasm_addr *remote)
{
    struct node k;

    memset(&k, 0, sizeof(k));
    k.kind = local != NULL ? K_FLOW : K_DCID;
    if (local != NULL)
        k.local = *local;
    else
        k.cid = *dcid;
    k.remote = *remote;
    return ix_find(t, &k);
}

/* The most recently active connection of |uid| to |remote|; counts ties as ambiguous. */
static struct entry *by_server(struct qasm_agentd_track *t, const struct qasm_addr *remote,
                               uint32_t uid)
{
    struct entry *best = NULL;
    size_t n = 0;

    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = t->live[i];
        if (e->uid != uid || !qasm_addr_eq(&e->c.remote, remote))
            continue;
        n++;
        if (!best || e->last > best->last)
            best = e;
    }
    if (n > 1)
        t->st.ambiguous++;
    return best;
}

/* A pool entry made live (zeroed), or NULL when max_conns are. */
static struct entry *new_entry(struct qasm_agentd_track *t)
{
    struct entry *e;

    if (t->nspare == 0)
        return NULL;
    e = t->spare[--t->nspare];
    memset(e, 0, sizeof(*e));
    e->li = t->n;
    t->live[t->n++] = e;
    return e;
}

/* Takes |e| out of the index and of live[] (the last live entry fills its place). */
static void remove_entry(struct qasm_agentd_track *t, struct entry *e)
{
    for (size_t i = 0; i < NODES; i++)
        if (e->nodes[i].e)
            ix_drop(t, &e->nodes[i]);
    t->live[e->li] = t->live[t->n - 1];
    t->live[e->li]->li = e->li;
    t->n--;
    t->spare[t->nspare++] = e;
}

/* Reports |e| closed for |reason| and forgets it. */
static void close_entry(struct qasm_agentd_track *t, struct entry *e, uint8_t reason,
                        qasm_tstamp now)
{
    struct qasm_agent_evq q;

    qasm_agent_evq_init(&q);
    qasm_agent_conn_close(&e->c, reason, now, &q);
    flush(t, e, &q);
    remove_entry(t, e);
    t->st.live--;
}

static int open_conn(struct qasm_agentd_track *t, const struct qasm_agentd_ev *ev,
                     const struct qasm_addr *local, const struct qasm_addr *remote,
                     qasm_tstamp now)
{
    struct qasm_cid odcid, scid;
    struct qasm_agent_evq q;
    struct entry *e;

    if (qasm_cid_set(&odcid, ev->dcid, ev->dcid_len) < 0 ||
        qasm_cid_set(&scid, ev->scid, ev->scid_len) < 0) {
        t->st.unattributed++;
        return 0;
    }
    e = new_entry(t);
    if (!e) {
        t->st.table_full++;
        return 0;
    }
    qasm_agent_evq_init(&q);
    e->uid = ev->uid;
    e->last = now;
    qasm_agent_conn_open(&e->c, &odcid, &scid, local, remote, now, &q);
    e->c.keep_left = 1; /* see agent_state.h: the wire shows no retirement */
    t->st.opened++;
    t->st.live++;
    ix_sync(t, e);
    flush(t, e, &q);
    return 1;
}

/* A known connection's packet: a DCID and a local address to compare with its state. */
static void observe(struct qasm_agentd_track *t, struct entry *e, const struct qasm_cid *dcid,
                    const struct qasm_addr *local, qasm_tstamp now)
{
    struct qasm_agent_evq q;
    struct qasm_cid olddcid = e->c.dcid;
    struct qasm_addr oldlocal = e->c.local;

    qasm_agent_evq_init(&q);
    e->last = now;
    qasm_agent_conn_observe(&e->c, dcid, local, NULL, now, &q);
    t->st.dcids += !qasm_cid_eq(&olddcid, &e->c.dcid);
    t->st.addrs += !qasm_addr_eq(&oldlocal, &e->c.local);
    ix_sync(t, e);
    flush(t, e, &q);
}

int qasm_agentd_track_event(struct qasm_agentd_track *t, const struct qasm_agentd_ev *ev,
                            qasm_tstamp now)
{
    struct qasm_addr local, remote;
    struct qasm_cid dcid;
    struct entry *e;

    t->st.events++;
    qasm_agentd_ev_addrs(ev, &local, &remote);
    if (qasm_cid_set(&dcid, ev->dcid, ev->dcid_len) < 0) {
        t->st.unattributed++;
        return 0;
    }
    e = by_key(t, &local, NULL, &remote);
    if (ev->kind == QASM_AGENTD_EV_SERVER_CID) {
        /* Only the kernel needs the server's CID length; the activity counts. */
        if (e)
            e->last = now;
        t->st.unattributed += !e;
        return e != NULL;
    }
    if (!e)
        e = by_key(t, NULL, &dcid, &remote);
    if (!e && ev->kind == QASM_AGENTD_EV_INITIAL)
        return open_conn(t, ev, &local, &remote, now);
    if (!e && (ev->flags & QASM_AGENTD_F_ADOPTED)) {
        if (t->cfg.eph_hi && (local.port < t->cfg.eph_lo || local.port > t->cfg.eph_hi)) {
            t->st.adopt_refused++;
            return 0;
        }
        /* O-DCID unknown: the record is keyed by the first DCID seen. */
        t->st.adopted++;
        return open_conn(t, ev, &local, &remote, now);
    }
    if (!e && (ev->flags & QASM_AGENTD_F_NEW_FLOW))
        e = by_server(t, &remote, ev->uid);
    if (!e) {
        t->st.unattributed++;
        return 0;
    }
    observe(t, e, &dcid, &local, now);
    return 1;
}

/* P1: the connection one of whose client CIDs is the DCID of the header |aad|. */
static struct entry *by_ccid(const struct qasm_agentd_track *t, const struct qasm_agentd_plain *p)
{
    struct node k;
    struct entry *e;

    memset(&k, 0, sizeof(k));
    k.kind = K_CCID;
    if (p->aad_len < 1)
        return NULL;
    if (p->aad[0] & 0x80) { /* long header: version, DCID length, DCID */
        if (p->aad_len < 6 || qasm_cid_set(&k.cid, p->aad + 6, p->aad[5]) < 0 ||
            6 + (size_t)p->aad[5] > p->aad_len)
            return NULL;
        return ix_find(t, &k);
    }
    /* Short header: no length on the wire; try the lengths the client CIDs have. */
    for (size_t len = 1; len <= QASM_CID_MAXLEN && 1 + len <= p->aad_len; len++) {
        if (t->ccid_lens[len] == 0)
            continue;
        qasm_cid_set(&k.cid, p->aad + 1, len);
        if ((e = ix_find(t, &k)) != NULL)
            return e;
    }
    return NULL;
}

/* P2: remembers the header's DCID (the connection's SCID length) as a client CID of |e|. */
static void learn_ccid(struct entry *e, const struct qasm_agentd_plain *p)
{
    struct qasm_cid *cid = &e->ccids[e->nccids++ % CCIDS];
    size_t off = (p->aad[0] & 0x80) ? 6 : 1;
    size_t len = (p->aad[0] & 0x80) && p->aad_len > 5 ? p->aad[5] : e->c.scid.len;

    if (off + len > p->aad_len || qasm_cid_set(cid, p->aad + off, len) < 0)
        memset(cid, 0, sizeof(*cid));
}

/* Does the header |aad| (a packet the client sends) carry one of |e|'s DCIDs? */
static int owns_out_header(const struct entry *e, const struct qasm_agentd_plain *p)
{
    struct qasm_cid cid;
    size_t off = (p->aad[0] & 0x80) ? 6 : 1;
    size_t len = (p->aad[0] & 0x80) ? (p->aad_len > 5 ? p->aad[5] : 0) : e->c.dcid.len;

    return p->aad_len > 0 && len > 0 && off + len <= p->aad_len &&
           qasm_cid_set(&cid, p->aad + off, len) == 0 &&
           qasm_agent_conn_find_dcid(&e->c, &cid) != NULL;
}

static struct entry *plain_owner(struct qasm_agentd_track *t, const struct qasm_agentd_plain *p)
{
    uint32_t pid = (uint32_t)(p->pid_tgid >> 32);
    int out = p->kind == QASM_AGENTD_EV_PLAIN_OUT;
    struct entry *cand = NULL;
    size_t n = 0;

    if (!out && (cand = by_ccid(t, p)) != NULL)
        return cand;
    for (size_t i = 0; out && i < t->n; i++) /* the client's closes only: rare */
        if (owns_out_header(t->live[i], p))
            return t->live[i];
    for (size_t i = 0; i < t->n; i++)
        if (t->live[i]->pid == pid) {
            cand = t->live[i];
            n++;
        }
    if (n > 1) {
        t->st.plain_ambiguous++;
        return NULL;
    }
    if (cand) {
        t->st.plain_by_pid++;
        if (!out) {
            learn_ccid(cand, p);
            ix_sync(t, cand);
        }
    }
    return cand;
}

int qasm_agentd_track_plain(struct qasm_agentd_track *t, const struct qasm_agentd_plain *p,
                            qasm_tstamp now)
{
    struct qasm_agent_newcid nc[8];
    size_t n = 0, len = p->plain_len < sizeof(p->plain) ? p->plain_len : sizeof(p->plain);
    int out = p->kind == QASM_AGENTD_EV_PLAIN_OUT, app, closing;
    struct qasm_agent_evq q;
    uint64_t err;
    struct entry *e;

    t->st.plains++;
    closing = qasm_quic_initial_find_close(p->plain, len, &err, &app) == 1;
    if (!out)
        n = qasm_agent_frames_scan(p->plain, len, nc, sizeof(nc) / sizeof(nc[0]));
    if (n == 0 && !closing)
        return 0;
    t->st.plain_newcids += n;
    e = plain_owner(t, p);
    if (!e) {
        t->st.plain_unattributed += n;
        t->st.close_unattributed += closing;
        return 0;
    }
    e->pid = (uint32_t)(p->pid_tgid >> 32);
    qasm_agent_evq_init(&q);
    for (size_t i = 0; i < n; i++)
        t->st.spares += qasm_agent_conn_learn(&e->c, nc[i].seq, &nc[i].cid, now, &q) == 1;
    if (n > 0)
        ix_sync(t, e);
    flush(t, e, &q);
    if (closing) {
        t->st.closed_local += out;
        t->st.closed_peer += !out;
        close_entry(t, e, out ? QASM_AGENT_CLOSE_LOCAL : QASM_AGENT_CLOSE_DRAINING, now);
    }
    return (int)n + closing;
}

/* Decrypts |ip| with the keys of |dcid|: the payload's length in |out|, or < 0. */
static ssize_t open_with(const struct qasm_agentd_initpkt *ip, const struct qasm_cid *dcid,
                         uint8_t *out, size_t cap)
{
    struct qasm_quic_initial_keys k;
    size_t len = ip->len < sizeof(ip->data) ? ip->len : sizeof(ip->data);

    qasm_quic_initial_keys(&k, dcid, !ip->egress);
    return qasm_quic_initial_open(&k, ip->data, len, out, cap, NULL);
}

int qasm_agentd_track_initial(struct qasm_agentd_track *t, const struct qasm_agentd_initpkt *ip,
                              qasm_tstamp now)
{
    uint8_t plain[QASM_AGENTD_INIT_MAX];
    struct qasm_addr local, remote;
    struct entry *e;
    ssize_t n = -1;
    uint64_t err;
    int app;

    t->st.initials++;
    qasm_agentd_fkey_addrs(&ip->flow, &local, &remote);
    e = by_key(t, &local, NULL, &remote);
    if (!e) {
        t->st.initials_unattributed++;
        return 0;
    }
    e->last = now;
    /* The keys derive from the O-DCID, or after a Retry from the DCID the
     * client sent its next Initial to (one of the record's DCIDs). */
    n = open_with(ip, &e->c.odcid, plain, sizeof(plain));
    for (size_t i = 0; n < 0 && i < e->c.ndcids; i++)
        if (!qasm_cid_eq(&e->c.dcids[i].cid, &e->c.odcid))
            n = open_with(ip, &e->c.dcids[i].cid, plain, sizeof(plain));
    if (n < 0) {
        t->st.initials_unopened++;
        return 0;
    }
    t->st.initials_opened++;
    if (qasm_quic_initial_find_close(plain, (size_t)n, &err, &app) != 1)
        return 0;
    t->st.closed_initial++;
    close_entry(t, e, ip->egress ? QASM_AGENT_CLOSE_LOCAL : QASM_AGENT_CLOSE_DRAINING, now);
    return 1;
}

void qasm_agentd_track_tick(struct qasm_agentd_track *t, qasm_tstamp now)
{
    /* Backwards: a removal moves the last entry, already visited, into the hole. */
    for (size_t i = t->n; i-- > 0;) {
        struct entry *e = t->live[i];
        struct qasm_agent_evq q;

        if (t->cfg.activity) {
            qasm_tstamp a = t->cfg.activity(t->cfg.arg, &e->c);
            if (a > e->last)
                e->last = a;
        }
        if (now > e->last && now - e->last >= t->cfg.idle) {
            close_entry(t, e, QASM_AGENT_CLOSE_IDLE, now);
            t->st.closed_idle++;
            continue;
        }
        qasm_agent_evq_init(&q);
        qasm_agent_conn_tick(&e->c, now, t->cfg.refresh, &q);
        flush(t, e, &q);
    }
}

void qasm_agentd_track_get_stats(const struct qasm_agentd_track *t,
                                 struct qasm_agentd_track_stats *st)
{
    *st = t->st;
    st->indexed = qasm_htab_count(t->ix);
}
