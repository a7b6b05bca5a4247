/*
 * agentd_track.c: connection state of the eBPF client agent, fed by the
 * cgroup_skb programs' events (see agentd_track.h). Pure: no I/O, no clock.
 */
#include "agentd/agentd_track.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "quic_initial.h"
#include "client-agent/agent_frames.h"

/* Client CIDs learnt from decrypted headers (P2 in agentd_track.h), newest replacing oldest. */
#define CCIDS 4

struct entry {
    struct qasm_agent_conn c;
    qasm_tstamp last;   /* latest event or activity */
    uint32_t uid;       /* owner of the socket that sent the Initial */
    uint32_t pid;       /* process that decrypted its payloads last (0 = none seen) */
    struct qasm_cid ccids[CCIDS];
    uint32_t nccids;
};

/*
 * Live connections are e[0..n): dense, so a lookup touches only live
 * entries (a removal moves the last one into the hole). Lookups are linear:
 * events are rare (a few per connection), not per packet.
 */
struct qasm_agentd_track {
    struct qasm_agentd_track_cfg cfg;
    struct qasm_agentd_track_stats st;
    struct entry *e;
    size_t n;
};

struct qasm_agentd_track *qasm_agentd_track_new(const struct qasm_agentd_track_cfg *cfg)
{
    struct qasm_agentd_track *t;

    if (!cfg->max_conns || !cfg->emit)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cfg = *cfg;
    t->e = calloc(cfg->max_conns, sizeof(*t->e));
    if (!t->e) {
        free(t);
        return NULL;
    }
    return t;
}

void qasm_agentd_track_free(struct qasm_agentd_track *t)
{
    if (t) {
        free(t->e);
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

static int used_local(const struct qasm_agent_conn *c, const struct qasm_addr *local)
{
    for (size_t i = 0; i < c->naddrs; i++)
        if (qasm_addr_eq(&c->addrs[i], local))
            return 1;
    return 0;
}

static struct entry *by_flow(struct qasm_agentd_track *t, const struct qasm_addr *local,
                             const struct qasm_addr *remote)
{
    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->e[i];
        if (qasm_addr_eq(&e->c.remote, remote) && used_local(&e->c, local))
            return e;
    }
    return NULL;
}

static struct entry *by_dcid(struct qasm_agentd_track *t, const struct qasm_cid *dcid,
                             const struct qasm_addr *remote)
{
    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->e[i];
        if (qasm_addr_eq(&e->c.remote, remote) && qasm_agent_conn_find_dcid(&e->c, dcid))
            return e;
    }
    return NULL;
}

/* The most recently active connection of |uid| to |remote|; counts ties as ambiguous. */
static struct entry *by_server(struct qasm_agentd_track *t, const struct qasm_addr *remote,
                               uint32_t uid)
{
    struct entry *best = NULL;
    size_t n = 0;

    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->e[i];
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

static struct entry *free_entry(struct qasm_agentd_track *t)
{
    return t->n < t->cfg.max_conns ? &t->e[t->n++] : NULL;
}

static void remove_entry(struct qasm_agentd_track *t, size_t i)
{
    if (i != t->n - 1)
        t->e[i] = t->e[t->n - 1];
    t->n--;
}

/* Reports |e| closed for |reason| and forgets it. */
static void close_entry(struct qasm_agentd_track *t, struct entry *e, uint8_t reason,
                        qasm_tstamp now)
{
    struct qasm_agent_evq q;

    qasm_agent_evq_init(&q);
    qasm_agent_conn_close(&e->c, reason, now, &q);
    flush(t, e, &q);
    remove_entry(t, (size_t)(e - t->e));
    t->st.live--;
}

static int open_conn(struct qasm_agentd_track *t, const struct qasm_agentd_ev *ev,
                     const struct qasm_addr *local, const struct qasm_addr *remote,
                     qasm_tstamp now)
{
    struct entry *e = free_entry(t);
    struct qasm_cid odcid, scid;
    struct qasm_agent_evq q;

    if (!e) {
        t->st.table_full++;
        return 0;
    }
    if (qasm_cid_set(&odcid, ev->dcid, ev->dcid_len) < 0 ||
        qasm_cid_set(&scid, ev->scid, ev->scid_len) < 0) {
        t->n--; /* e was the last entry */
        t->st.unattributed++;
        return 0;
    }
    qasm_agent_evq_init(&q);
    memset(e, 0, sizeof(*e));
    e->uid = ev->uid;
    e->last = now;
    qasm_agent_conn_open(&e->c, &odcid, &scid, local, remote, now, &q);
    e->c.keep_left = 1; /* see agent_state.h: the wire shows no retirement */
    t->st.opened++;
    t->st.live++;
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
    e = by_flow(t, &local, &remote);
    if (ev->kind == QASM_AGENTD_EV_SERVER_CID) {
        /* Only the kernel needs the server's CID length; the activity counts. */
        if (e)
            e->last = now;
        t->st.unattributed += !e;
        return e != NULL;
    }
    if (!e)
        e = by_dcid(t, &dcid, &remote);
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

/* Does the header |aad| carry |cid| as its DCID? */
static int aad_has_cid(const struct qasm_agentd_plain *p, const struct qasm_cid *cid)
{
    size_t off = 1, len = cid->len;

    if (cid->len == 0 || p->aad_len < 1)
        return 0;
    if (p->aad[0] & 0x80) { /* long header: version, DCID length, DCID */
        if (p->aad_len < 6 || p->aad[5] != cid->len)
            return 0;
        off = 6;
    }
    return off + len <= p->aad_len && memcmp(p->aad + off, cid->data, len) == 0;
}

static int owns_header(const struct entry *e, const struct qasm_agentd_plain *p)
{
    if (aad_has_cid(p, &e->c.scid))
        return 1;
    for (uint32_t i = 0; i < e->nccids && i < CCIDS; i++)
        if (aad_has_cid(p, &e->ccids[i]))
            return 1;
    return 0;
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

    for (size_t i = 0; i < t->n; i++)
        if (out ? owns_out_header(&t->e[i], p) : owns_header(&t->e[i], p))
            return &t->e[i];
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].pid == pid) {
            cand = &t->e[i];
            n++;
        }
    if (n > 1) {
        t->st.plain_ambiguous++;
        return NULL;
    }
    if (cand) {
        t->st.plain_by_pid++;
        if (!out)
            learn_ccid(cand, p);
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
    e = by_flow(t, &local, &remote);
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
        struct entry *e = &t->e[i];
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
}
