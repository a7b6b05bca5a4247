/*
 * mbox.c: the middlebox core (see mbox.h for the contract): classification
 * and dispatch. Each packet goes through one place (process_k) that picks
 * what happens: the known-flow fast path (client_known), the classifier
 * and its DCID lookup (client_classify) for the rest, or the server path;
 * the function's operations (mbox_fn.h) do the rest. Also here: the
 * tracker's answers and pushes applied to the entries, timers, stats.
 * The entries, flows and DCIDs are conn.c's; held packets and pending
 * queries hold.c's.
 *
 * Every timeout of a kind is the same length, so timers are FIFO lists
 * (entries in conn.h, held packets and queries in hold.c): a packet costs
 * O(1) list moves and next_expiry looks at list heads.
 */
#include "mbox.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "conn.h"
#include "hash.h"
#include "lb.h"
#include "nat.h"
#include "proto.h"
#include "ratelimit.h"

/* ---- names ---- */

static const char *const function_names[] = {"nat", "ratelimit", "lb"};
static const char *const mode_names[] = {"default", "reactive", "proactive"};
static const char *const drop_names[] = {"none",       "pool_exhausted", "rate_limited",
                                         "malformed",  "hold_overflow",  "no_mapping",
                                         "no_memory",  "shutdown",       "table_full"};
static const char *const path_names[] = {"none", "lookup", "new", "update"};
static const char *const class_names[] = {"flow", "nonquic", "quic_flow", "quic_conn"};
static const char *const te_names[] = {"new",     "migrated", "adopted", "expired",
                                       "evicted", "refused",  "released"};

const char *qasm_mbox_function_name(enum qasm_mbox_function f)
{
    return (unsigned)f < 3 ? function_names[f] : "?";
}

const char *qasm_mbox_mode_name(enum qasm_mbox_mode mode)
{
    return (unsigned)mode < 3 ? mode_names[mode] : "?";
}

const char *qasm_mbox_drop_name(enum qasm_mbox_drop_reason r)
{
    return (unsigned)r < QASM_MBOX_DROP_MAX ? drop_names[r] : "?";
}

const char *qasm_mbox_path_name(enum qasm_mbox_path p)
{
    return (unsigned)p < QASM_MBOX_PATH_MAX ? path_names[p] : "?";
}

const char *qasm_mbox_class_name(enum qasm_mbox_class c)
{
    return (unsigned)c < QASM_MBOX_CLASS_MAX ? class_names[c] : "?";
}

const char *qasm_mbox_te_name(enum qasm_mbox_te_type t)
{
    return (unsigned)t < QASM_MBOX_TE_MAX ? te_names[t] : "?";
}

int qasm_mbox_function_parse(enum qasm_mbox_function *f, const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, function_names[i]) == 0) {
            *f = (enum qasm_mbox_function)i;
            return 0;
        }
    if (strcmp(s, "rl") == 0) {
        *f = QASM_MBOX_RATELIMIT;
        return 0;
    }
    return -EINVAL;
}

int qasm_mbox_mode_parse(enum qasm_mbox_mode *mode, const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, mode_names[i]) == 0) {
            *mode = (enum qasm_mbox_mode)i;
            return 0;
        }
    return -EINVAL;
}

/* ---- configuration, life cycle ---- */

void qasm_mbox_config_init(struct qasm_mbox_config *cfg, enum qasm_mbox_function function,
                           enum qasm_mbox_mode mode)
{
    memset(cfg, 0, sizeof(*cfg));
    *cfg = (struct qasm_mbox_config){
        .function = function, .mode = mode,
        .nat_port_min = 40000, .nat_port_max = 40063,
        .udp_timeout = 30 * QASM_SEC, .udp_stream_timeout = 120 * QASM_SEC,
        .rl_rate = 5, .rl_burst = 5,
        .hold_time = 2 * QASM_MS, .hold_ceiling = 100 * QASM_MS,
        .hold_max = 4096, .hold_max_per_dcid = 16,
        .cache_ttl = 120 * QASM_SEC, .query_timeout = 1 * QASM_SEC,
        .max_requests = 65536,
        .max_entries = QASM_MBOX_DEFAULT_MAX_ENTRIES,
        .fallback_per_conn = QASM_MBOX_DEFAULT_FALLBACK_PER_CONN,
        .expected_flows = 1024,
    };
    qasm_addr_parse_ip(&cfg->nat_public, "127.0.0.1", 0);
}

static int dcid_eq(const void *entry, const void *key)
{
    return qasm_cid_eq(&((const struct dcident *)entry)->dcid, key);
}

static int odcid_eq(const void *entry, const void *key)
{
    return qasm_cid_eq(&((const struct entry *)entry)->odcid, key);
}

/* The core and its hold queue (which queues requests only while up) agree. */
static void set_tracker_up(struct qasm_mbox *m, int up)
{
    m->tracker_up = up;
    if (m->hold)
        qasm_hold_set_up(m->hold, up);
}

static void decide_held(void *core, const struct qasm_mbox_pkt *pkt, qasm_tstamp now,
                        enum qasm_hold_why why, struct qasm_mbox_verdict *v);

int qasm_mbox_new(struct qasm_mbox **pm, const struct qasm_mbox_config *cfg)
{
    *pm = NULL;
    if ((unsigned)cfg->function > QASM_MBOX_LB || (unsigned)cfg->mode > QASM_MBOX_PROACTIVE)
        return -EINVAL;
    if (cfg->udp_timeout == 0 || cfg->udp_stream_timeout == 0)
        return -EINVAL;
    if (cfg->mode != QASM_MBOX_DEFAULT &&
        (cfg->hold_max == 0 || cfg->hold_max_per_dcid == 0 || cfg->max_requests == 0))
        return -EINVAL;

    struct qasm_mbox *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->cfg = *cfg;
    m->cfg.lb_backends = NULL;
    /* Every held packet has a query in flight (an answer releases them all),
     * so holding it until hold_ceiling is holding it until the tracker
     * answers, at most that long. */
    m->hold_for = m->cfg.hold_ceiling > m->cfg.hold_time ? m->cfg.hold_ceiling : m->cfg.hold_time;
    if (m->cfg.query_timeout < m->hold_for)
        m->cfg.query_timeout = m->hold_for;
    m->aware = cfg->mode != QASM_MBOX_DEFAULT;
    for (int i = 0; i < 4; i++)
        TAILQ_INIT(&m->lru[i]);
    m->timeout[0] = cfg->udp_timeout;
    m->timeout[1] = cfg->udp_stream_timeout;
    m->min_dur = cfg->udp_timeout < cfg->udp_stream_timeout ? cfg->udp_timeout
                                                             : cfg->udp_stream_timeout;
    if (m->aware && m->hold_for < m->min_dur)
        m->min_dur = m->hold_for;
    if (m->aware && m->cfg.query_timeout < m->min_dur)
        m->min_dur = m->cfg.query_timeout;
    qasm_ring_init(&m->events, sizeof(struct qasm_mbox_event));
    qasm_ring_init(&m->tevents, sizeof(struct qasm_mbox_table_event));
    qasm_pool_init(&m->entries, sizeof(struct entry), 64, POOL_SLAB);
    qasm_pool_init(&m->flow_pool, sizeof(struct flow), _Alignof(struct flow), POOL_SLAB);
    size_t exp = cfg->expected_flows ? cfg->expected_flows : 1024;
    static const struct qasm_mbox_fn_ops *const fns[] = {&qasm_nat_ops, &qasm_ratelimit_ops,
                                                         &qasm_lb_ops};
    m->fn = fns[cfg->function];
    int rv = m->fn->init(&m->fn_st, cfg, &m->events);
    if (rv == 0) {
        m->family = m->fn->family(m->fn_st);
        rv = qasm_htab_raw_init(&m->flows, exp);
    }
    if (rv == 0) {
        const struct qasm_hold_config hc = {
            .hold_time = m->cfg.hold_time, .hold_for = m->hold_for,
            .query_timeout = m->cfg.query_timeout, .hold_max = cfg->hold_max,
            .hold_max_per_dcid = cfg->hold_max_per_dcid, .max_requests = cfg->max_requests,
            .seed = cfg->seed, .queries = m->aware};
        rv = qasm_hold_new(&m->hold, &hc, &m->st, decide_held, m);
    }
    if (rv == 0) {
        m->reqs = qasm_hold_requests(m->hold);
        m->releases = qasm_hold_releases(m->hold);
    }
    if (rv == 0 && m->aware) {
        rv = qasm_htab_new(&m->dcids, exp, dcid_eq);
        if (rv == 0)
            rv = qasm_htab_new(&m->odcids, exp, odcid_eq);
        if (rv == 0)
            rv = qasm_cidlen_table_new(&m->cidlens, MAX_SERVERS, cfg->seed);
    }
    if (rv < 0) {
        qasm_mbox_del(m);
        return rv;
    }
    set_tracker_up(m, m->aware);
    *pm = m;
    return 0;
}

void qasm_mbox_del(struct qasm_mbox *m)
{
    if (m == NULL)
        return;
    set_tracker_up(m, 0); /* no UNSUBSCRIBE on the way out */
    for (int i = 0; i < 4; i++)
        while (!TAILQ_EMPTY(&m->lru[i]))
            qasm_conn_entry_free(m, TAILQ_FIRST(&m->lru[i]));
    qasm_htab_raw_fini(&m->flows);
    qasm_pool_fini(&m->entries);
    qasm_pool_fini(&m->flow_pool);
    qasm_htab_del(m->dcids);
    qasm_htab_del(m->odcids);
    qasm_hold_del(m->hold);
    if (m->fn)
        m->fn->fini(m->fn_st);
    qasm_cidlen_table_del(m->cidlens);
    qasm_ring_fini(&m->events);
    qasm_ring_fini(&m->tevents);
    free(m);
}

/* ---- queues ---- */


int qasm_mbox_next_event(struct qasm_mbox *m, struct qasm_mbox_event *ev)
{
    return qasm_ring_pop(&m->events, ev);
}

void qasm_mbox_table_events(struct qasm_mbox *m, size_t max)
{
    m->te_max = max;
    if (max == 0)
        qasm_ring_clear(&m->tevents);
}

int qasm_mbox_next_table_event(struct qasm_mbox *m, struct qasm_mbox_table_event *ev)
{
    return qasm_ring_pop(&m->tevents, ev);
}

int qasm_mbox_next_request(struct qasm_mbox *m, struct qasm_mbox_req *req)
{
    return qasm_ring_pop(m->reqs, req);
}

int qasm_mbox_next_release(struct qasm_mbox *m, struct qasm_mbox_verdict *v)
{
    return qasm_ring_pop(m->releases, v);
}

/* ---- verdicts ---- */

static void verdict_init(struct qasm_mbox_verdict *v, const struct qasm_mbox_pkt *pkt)
{
    v->action = QASM_MBOX_FORWARD;
    v->reason = QASM_MBOX_DROP_NONE;
    v->path = QASM_MBOX_PATH_NONE;
    v->cls = QASM_MBOX_CLASS_FLOW;
    v->flow = pkt->flow;
    v->public_port = 0;
    v->backend = -1;
    v->odcid.len = 0;
    v->dir = pkt->dir;
    v->data = pkt->data;
    v->len = pkt->len;
    v->opaque = pkt->opaque;
    v->held_since = 0;
}

static void drop(struct qasm_mbox_verdict *v, enum qasm_mbox_drop_reason r)
{
    v->action = QASM_MBOX_DROP;
    v->reason = r;
}

/*
 * A QUIC connection's flow takes the fast path (client_known) only while
 * it is the connection's latest client 5-tuple: slow_bits 0x80 (a long
 * header leaves it), plus 0x40 until the connection is established (its
 * first short header sets that). Every other flow of the connection has
 * 0xff, so its next packet comes through here and moves the latest address.
 */
static void set_latest(struct entry *e, struct flow *f)
{
    if (e->cur != f) { /* the latest client address is this flow's */
        if (e->cur)
            e->cur->slow_bits = 0xff;
        e->cur = f;
        e->client = f->key.src;
    }
    f->slow_bits = e->established ? 0x80 : 0xc0;
}

/* Applies entry |e|'s state to a packet from the client. */
static void apply_client(struct qasm_mbox *m, struct flow *f, const struct qasm_mbox_pkt *pkt,
                         qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    struct entry *e = f->e;
    qasm_conn_touch(m, e, now);
    qasm_conn_count(&e->pkts_orig);
    if (e->quic) {
        v->odcid = e->odcid;
        set_latest(e, f);
    }
    m->fn->on_client(m->fn_st, &e->fs, pkt, now, v);
}

/* A new flow gets no state: dropped for |r|, and a REFUSED table event. */
static void refuse(struct qasm_mbox *m, struct qasm_mbox_verdict *v, const struct qasm_flow *key,
                   const struct qasm_cid *odcid, enum qasm_mbox_drop_reason r, qasm_tstamp now)
{
    drop(v, r);
    if (m->te_max)
        qasm_conn_refused(m, key, odcid, r, now);
}

static struct flow *default_entry(struct qasm_mbox *m, const struct qasm_flow *key, uint64_t hash,
                                  enum qasm_mbox_class cls, qasm_tstamp now,
                                  struct qasm_mbox_verdict *v, const struct entry *keep)
{
    struct entry *e = qasm_conn_entry_new(m, 0, &key->src, &key->dst, now, keep);
    if (e == NULL) {
        refuse(m, v, key, NULL, m->entry_fail, now);
        return NULL;
    }
    e->cls = (uint8_t)cls;
    if (qasm_conn_state_alloc(m, e, now) < 0) {
        qasm_conn_entry_free(m, e);
        refuse(m, v, key, NULL, QASM_MBOX_DROP_POOL_EXHAUSTED, now);
        return NULL;
    }
    struct flow *f = qasm_conn_flow_add(m, e, key, hash);
    if (f == NULL) {
        qasm_conn_entry_free(m, e);
        drop(v, QASM_MBOX_DROP_NO_MEMORY);
        return NULL;
    }
    v->path = QASM_MBOX_PATH_NEW;
    return f;
}

/* ---- packet processing ---- */

_Static_assert(sizeof(struct qasm_flow) == 44, "a 5-tuple is 44 bytes, padding explicit");

/* A cheap seeded hash of a zero-padded 5-tuple (44 bytes: five words and a tail). */
static uint64_t flow_hash(const struct qasm_flow *k, uint64_t seed)
{
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL, w;
    /* Unrolled: the loop's own counting was a third of the hash's instructions. */
#pragma GCC unroll 5
    for (int i = 0; i < 5; i++) {
        memcpy(&w, p + 8 * i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    uint32_t t;
    memcpy(&t, p + 40, 4);
    return qasm_hash_mix(h ^ t);
}

/* |f| with its padding zeroed (struct qasm_flow has no implicit padding: a copy is exact). */
static inline struct qasm_flow flow_key(const struct qasm_flow *f)
{
    struct qasm_flow k = *f;
    k.src.pad = 0;
    k.dst.pad = 0;
    memset(k.pad, 0, sizeof(k.pad));
    return k;
}

static const struct qasm_addr *cid_server(const struct qasm_mbox *m, const struct qasm_addr *srv)
{
    static const struct qasm_addr none;
    return m->fn->cidlen_per_server ? srv : &none;
}

/*
 * A new QUIC connection (its client Initial with DCID |dcid|) on 5-tuple
 * |key|: its entry, function state and flow (|old|, the 5-tuple's flow of
 * an older connection, moves to it; else a new flow), and in proactive
 * mode its subscription. Returns the flow, or NULL with |v| a drop.
 */
static inline __attribute__((always_inline)) struct flow *
conn_start(struct qasm_mbox *m, const struct qasm_cid *dcid, const struct qasm_flow *key,
           uint64_t hash, struct flow *old, qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    struct entry *e = qasm_conn_new(m, dcid, &key->src, &key->dst, now, old ? old->e : NULL);
    if (e == NULL) {
        refuse(m, v, key, dcid, m->entry_fail, now);
        return NULL;
    }
    if (qasm_conn_state_alloc(m, e, now) < 0) {
        qasm_conn_entry_free(m, e);
        refuse(m, v, key, dcid, QASM_MBOX_DROP_POOL_EXHAUSTED, now);
        return NULL;
    }
    struct flow *f = old ? qasm_conn_flow_move(m, old, e) : qasm_conn_flow_add(m, e, key, hash);
    if (f == NULL) {
        if (old == NULL)
            qasm_conn_entry_free(m, e);
        drop(v, QASM_MBOX_DROP_NO_MEMORY);
        return NULL;
    }
    f->last_dcid = *dcid;
    if (m->cfg.mode == QASM_MBOX_PROACTIVE && m->tracker_up)
        qasm_conn_subscribe(m, e, QASM_MBOX_REQ_SUBSCRIBE);
    v->cls = QASM_MBOX_CLASS_QUIC_CONN;
    v->path = QASM_MBOX_PATH_NEW;
    return f;
}

/* Default treatment for a packet of a new 5-tuple: a new entry of class |cls|. */
static inline __attribute__((always_inline)) void
client_default(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, const struct qasm_flow *key,
               uint64_t hash, enum qasm_mbox_class cls, qasm_tstamp now,
               struct qasm_mbox_verdict *v)
{
    struct flow *f;
    v->cls = cls;
    if ((f = default_entry(m, key, hash, cls, now, v, NULL)) != NULL)
        apply_client(m, f, pkt, now, v);
}

/* The same 5-tuple's state, found without a DCID lookup. */
static inline __attribute__((always_inline)) void
client_lookup(struct qasm_mbox *m, struct flow *f, const struct qasm_mbox_pkt *pkt,
              enum qasm_mbox_class cls, qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    v->cls = cls;
    v->path = QASM_MBOX_PATH_LOOKUP;
    apply_client(m, f, pkt, now, v);
}

/*
 * A QUIC packet with DCID |dcid| (its connection |cd|, or NULL) on a
 * 5-tuple that has state (flow |f|): a new connection reusing the 5-tuple,
 * a new DCID of the same connection, a migration the tracker attests, or
 * someone else's DCID (the 5-tuple keeps its own state).
 */
static inline __attribute__((always_inline)) void
client_own_tuple(struct qasm_mbox *m, struct flow *f, const struct qasm_mbox_pkt *pkt,
                 const struct qasm_cid *dcid, enum qasm_pkt_kind kind, struct entry *cd,
                 qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    struct entry *fe = f->e, *e;
    v->cls = QASM_MBOX_CLASS_QUIC_CONN;
    if (cd == fe) {
        v->path = QASM_MBOX_PATH_LOOKUP;
        e = fe;
    } else if (cd == NULL && kind == QASM_PKT_INITIAL && fe->established) {
        /* A new connection reusing the 5-tuple of an older one. */
        if ((f = conn_start(m, dcid, &f->key, f->hash, f, now, v)) == NULL)
            return;
        e = f->e;
    } else if (cd == NULL) {
        /* A new DCID on the connection's own 5-tuple (rotation without
         * migration, or the server's CID after the handshake). */
        qasm_conn_dcid_bind(m, fe, dcid, 0);
        v->path = QASM_MBOX_PATH_UPDATE;
        e = fe;
    } else if (qasm_conn_attested(m, cd, &f->key.src, now) &&
               (cd->has_state || qasm_conn_state_alloc(m, cd, now) == 0)) {
        /* The tracker says this address belongs to cd now. */
        if ((f = qasm_conn_flow_move(m, f, cd)) == NULL) {
            drop(v, QASM_MBOX_DROP_NO_MEMORY);
            return;
        }
        m->st.migrations++;
        qasm_conn_event(m, QASM_MBOX_TE_MIGRATED, cd, &f->key.src, &cd->client, now);
        v->path = QASM_MBOX_PATH_UPDATE;
        e = cd;
    } else {
        /* Another connection's DCID on this 5-tuple: keep the 5-tuple's own state. */
        m->st.unattested++;
        v->path = QASM_MBOX_PATH_LOOKUP;
        e = fe;
    }
    f->last_dcid = *dcid;
    if (kind == QASM_PKT_SHORT)
        e->established = 1;
    apply_client(m, f, pkt, now, v);
}

/* A client address the tracker attests for connection |cd|: the new 5-tuple joins it. */
static inline __attribute__((always_inline)) void
client_join(struct qasm_mbox *m, struct entry *cd, const struct qasm_mbox_pkt *pkt,
            const struct qasm_flow *key, uint64_t hash, const struct qasm_cid *dcid,
            qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    if (!cd->has_state) {
        /* Learned from the tracker (e.g. after a restart): the LB hashes the
         * connection's first client address, as when it saw the Initial. */
        cd->server = key->dst;
        if (qasm_conn_state_alloc(m, cd, now) < 0) {
            refuse(m, v, key, &cd->odcid, QASM_MBOX_DROP_POOL_EXHAUSTED, now);
            return;
        }
        cd->client = key->src;
        v->path = QASM_MBOX_PATH_NEW;
    } else {
        m->st.migrations++;
        qasm_conn_event(m, QASM_MBOX_TE_MIGRATED, cd, &key->src, &cd->client, now);
        v->path = QASM_MBOX_PATH_UPDATE;
    }
    struct flow *f = qasm_conn_flow_add(m, cd, key, hash);
    if (f == NULL) {
        drop(v, QASM_MBOX_DROP_NO_MEMORY);
        return;
    }
    f->last_dcid = *dcid;
    v->cls = QASM_MBOX_CLASS_QUIC_CONN;
    apply_client(m, f, pkt, now, v);
}

/*
 * A QUIC packet with DCID |dcid| (its connection |cd|, or NULL) from a
 * 5-tuple without state: it joins its connection if the tracker attests
 * the address, starts one (client Initial), is held while the tracker is
 * asked, or gets default treatment.
 */
static inline __attribute__((always_inline)) void
client_new_tuple(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt,
                 const struct qasm_flow *key, uint64_t hash, const struct qasm_cid *dcid,
                 enum qasm_pkt_kind kind, struct entry *cd, qasm_tstamp now, int allow_hold,
                 struct qasm_mbox_verdict *v)
{
    struct flow *f;
    int can_hold = allow_hold && m->tracker_up;
    if (cd) {
        if (qasm_conn_attested(m, cd, &key->src, now)) {
            client_join(m, cd, pkt, key, hash, dcid, now, v);
            return;
        }
        if (can_hold && qasm_hold_packet(m->hold, pkt, dcid, now, v) == 0)
            return;
        if (!allow_hold)
            m->st.unattested++;
    } else if (kind == QASM_PKT_INITIAL) {
        if ((f = conn_start(m, dcid, key, hash, NULL, now, v)) != NULL)
            apply_client(m, f, pkt, now, v);
        return;
    } else if (can_hold && qasm_hold_packet(m->hold, pkt, dcid, now, v) == 0) {
        return;
    }
    if (allow_hold && !m->tracker_up)
        m->st.tracker_unavailable++;
    /* Default treatment: a new flow keyed on the 5-tuple. A known connection's
     * DCID while the tracker is away makes a fallback mapping, capped per
     * connection (a client migrating through an outage would take one per move). */
    int fallback = cd && (!m->tracker_up || m->tracker_away);
    if (fallback)
        qasm_conn_fallback_make_room(m, cd, now);
    v->cls = QASM_MBOX_CLASS_QUIC_FLOW;
    if ((f = default_entry(m, key, hash, QASM_MBOX_CLASS_QUIC_FLOW, now, v, cd)) != NULL) {
        f->last_dcid = *dcid;
        if (fallback)
            qasm_conn_fallback_link(m, cd, f->e);
        apply_client(m, f, pkt, now, v);
    }
}

/*
 * Aware modes, the slow path: the packet is classified and its DCID looked
 * up (|f|: its 5-tuple's flow, or NULL).
 */
static __attribute__((noinline)) void
client_classify(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, const struct qasm_flow *key,
                uint64_t hash, struct flow *f, qasm_tstamp now, int allow_hold,
                struct qasm_mbox_verdict *v)
{
    int cl = f && f->e->cid_len >= 0 ? f->e->cid_len
                                       : qasm_cidlen_get(m->cidlens, cid_server(m, &key->dst));
    struct qasm_cid dcid;
    enum qasm_pkt_kind kind = qasm_classify(pkt->data, pkt->len, cl, &dcid);
    if (kind == QASM_PKT_NONQUIC || kind == QASM_PKT_SHORT_NOLEN) {
        if (f) /* unreadable packet on a connection's own 5-tuple */
            client_lookup(m, f, pkt, QASM_MBOX_CLASS_QUIC_CONN, now, v);
        else
            client_default(m, pkt, key, hash,
                           kind == QASM_PKT_NONQUIC ? QASM_MBOX_CLASS_NONQUIC
                                                    : QASM_MBOX_CLASS_QUIC_FLOW,
                           now, v);
        return;
    }
    /* Fast path: same 5-tuple, same DCID as the previous packet. */
    if (f && qasm_cid_eq(&f->last_dcid, &dcid)) {
        m->st.cache_hits++;
        if (kind == QASM_PKT_SHORT)
            f->e->established = 1;
        client_lookup(m, f, pkt, QASM_MBOX_CLASS_QUIC_CONN, now, v);
        return;
    }
    /* The DCID's connection: one of its DCIDs, or its O-DCID (not repeated in dcids). */
    uint64_t dh = qasm_cid_hash(&dcid, m->cfg.seed);
    struct dcident *d = qasm_htab_find(m->dcids, dh, &dcid);
    struct entry *cd = d ? d->e : qasm_htab_find(m->odcids, dh, &dcid);
    if (cd)
        m->st.cache_hits++;
    else
        m->st.cache_misses++;
    if (f)
        client_own_tuple(m, f, pkt, &dcid, kind, cd, now, v);
    else
        client_new_tuple(m, pkt, key, hash, &dcid, kind, cd, now, allow_hold, v);
}

/*
 * A QUIC connection's flow whose packet did not pass the fast path's test:
 * a long header is classified; anything else (a short header, an empty
 * datagram) belongs to the connection whatever its DCID, as the 5-tuple
 * alone would say, and makes this 5-tuple the connection's latest.
 */
static __attribute__((noinline)) void
client_conn_slow(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, struct flow *f,
                 qasm_tstamp now, int allow_hold, struct qasm_mbox_verdict *v)
{
    if (pkt->len > 0 && (pkt->data[0] & 0x80)) {
        client_classify(m, pkt, &f->key, f->hash, f, now, allow_hold, v);
        return;
    }
    f->e->established |= (uint8_t)(pkt->len > 0 && (pkt->data[0] & 0x40));
    client_lookup(m, f, pkt, QASM_MBOX_CLASS_QUIC_CONN, now, v);
}

/*
 * The fast path, a packet on a 5-tuple the core knows (flow |f|): it keeps
 * that 5-tuple's state. A default entry's flow always takes it; a QUIC
 * connection's flow when it is the connection's latest and the packet's
 * first byte has none of its slow_bits (not a long header; once
 * established), i.e. when it changes nothing but the entry's timer. Both
 * kinds then do the same work: the entry holds the class and O-DCID its
 * packets get (a default entry's O-DCID is empty).
 */
static inline __attribute__((always_inline)) void
client_known(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, struct flow *f,
             qasm_tstamp now, int allow_hold, struct qasm_mbox_verdict *v)
{
    struct entry *e = f->e;
    if (f->slow_bits && (pkt->len == 0 || (pkt->data[0] & f->slow_bits))) {
        client_conn_slow(m, pkt, f, now, allow_hold, v);
        return;
    }
    v->cls = e->cls;
    v->path = QASM_MBOX_PATH_LOOKUP;
    v->odcid = e->odcid;
    qasm_conn_touch(m, e, now);
    qasm_conn_count(&e->pkts_orig);
    m->fn->on_client(m->fn_st, &e->fs, pkt, now, v);
}

/* A packet from the client; |f| is its 5-tuple's flow (|key|, |hash|), or NULL. */
static inline void client_pkt_k(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt,
                                const struct qasm_flow *key, uint64_t hash, struct flow *f,
                                qasm_tstamp now, int allow_hold, struct qasm_mbox_verdict *v)
{
    if (f)
        client_known(m, pkt, f, now, allow_hold, v);
    else if (!m->aware)
        client_default(m, pkt, key, hash, QASM_MBOX_CLASS_FLOW, now, v);
    else
        client_classify(m, pkt, key, hash, NULL, now, allow_hold, v);
}

static void client_pkt(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, qasm_tstamp now,
                       int allow_hold, struct qasm_mbox_verdict *v)
{
    struct qasm_flow key = flow_key(&pkt->flow);
    uint64_t hash = flow_hash(&key, m->cfg.seed);
    client_pkt_k(m, pkt, &key, hash, qasm_conn_find(&m->flows, hash, &key), now, allow_hold, v);
}

static void learn_cid_len(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, struct entry *e)
{
    int l = qasm_classify_server_cid_len(pkt->data, pkt->len);
    if (l < 0)
        return;
    if (qasm_cidlen_set(m->cidlens, cid_server(m, &pkt->flow.src), (uint8_t)l) == 1)
        m->st.cid_lens_learned++;
    if (e && e->quic)
        e->cid_len = (int8_t)l;
}

/* A packet from the server; |f| is the flow of its reversed 5-tuple (|rkey|,
 * |rhash|) or NULL, unless the function finds server packets by port. */
static inline __attribute__((always_inline)) void
server_pkt(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, const struct qasm_flow *rkey,
           uint64_t rhash, struct flow *f, qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    int long_hdr = m->aware && pkt->len > 0 && (pkt->data[0] & 0x80);
    struct entry *e = NULL;

    if (m->fn->by_port) {
        e = m->fn->by_port(m->fn_st, pkt->flow.dst.port);
        if (e == NULL || !qasm_addr_eq(&e->server, &pkt->flow.src)) {
            if (long_hdr)
                learn_cid_len(m, pkt, NULL);
            drop(v, QASM_MBOX_DROP_NO_MAPPING);
            return;
        }
        v->path = QASM_MBOX_PATH_LOOKUP;
    } else {
        const struct qasm_flow key = *rkey;
        uint64_t hash = rhash;
        if (f) {
            e = f->e;
            v->path = QASM_MBOX_PATH_LOOKUP;
        } else if (m->fn->unknown_server == QASM_MBOX_FN_UNKNOWN_NEW) {
            enum qasm_mbox_class cls = m->aware ? QASM_MBOX_CLASS_NONQUIC : QASM_MBOX_CLASS_FLOW;
            f = default_entry(m, &key, hash, cls, now, v, NULL);
            if (f == NULL)
                return;
            e = f->e;
        } else {
            /* LB return traffic needs no state: forward as is. */
            if (long_hdr)
                learn_cid_len(m, pkt, NULL);
            v->cls = m->aware ? QASM_MBOX_CLASS_NONQUIC : QASM_MBOX_CLASS_FLOW;
            v->path = QASM_MBOX_PATH_LOOKUP;
            return;
        }
    }
    if (long_hdr)
        learn_cid_len(m, pkt, e);
    v->cls = e->quic ? QASM_MBOX_CLASS_QUIC_CONN : (m->aware ? e->cls : QASM_MBOX_CLASS_FLOW);
    if (e->quic)
        v->odcid = e->odcid;
    e->assured = 1;
    qasm_conn_touch(m, e, now);
    qasm_conn_count(&e->pkts_reply);
    m->fn->on_server(m->fn_st, &e->fs, pkt, &e->client, now, v);
}

static inline void count_verdict(struct qasm_mbox *m, const struct qasm_mbox_verdict *v)
{
    m->st.path[v->path]++;
    m->st.cls[v->cls]++;
    if (v->action == QASM_MBOX_FORWARD)
        m->st.packets_forwarded++;
    else if (v->action == QASM_MBOX_DROP)
        m->st.packets_dropped_by[v->reason]++;
    else
        m->st.packets_held++;
}

static inline int valid_pkt(const struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt)
{
    const struct qasm_flow *f = &pkt->flow;
    uint8_t fam = f->src.family;
    if (fam != f->dst.family || (fam != AF_INET && fam != AF_INET6))
        return 0;
    /* the NAT translates within one address family (no NAT64) */
    if (m->family && fam != m->family)
        return 0;
    if (pkt->dir != QASM_MBOX_FROM_CLIENT && pkt->dir != QASM_MBOX_FROM_SERVER)
        return 0;
    return pkt->len == 0 || pkt->data != NULL;
}

/* The key and hash of |pkt| in the 5-tuple table (client orientation).
 * Returns 1, or 0 when the packet is not looked up there (NAT, server side). */
static inline __attribute__((always_inline)) int
pkt_key(const struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, struct qasm_flow *key,
        uint64_t *hash)
{
    if (pkt->dir == QASM_MBOX_FROM_CLIENT) {
        *key = flow_key(&pkt->flow);
    } else if (m->fn->by_port == NULL) {
        struct qasm_flow rev = qasm_flow_reverse(&pkt->flow);
        *key = flow_key(&rev);
    } else {
        *hash = 0;
        return 0;
    }
    *hash = flow_hash(key, m->cfg.seed);
    return 1;
}

/* Lower bound of every deadline an item added at |now| or later can have. */
static void expire_due(struct qasm_mbox *m, qasm_tstamp now)
{
    if (now < m->hint)
        return;
    if (now >= qasm_mbox_next_expiry(m))
        qasm_mbox_expire(m, now);
    qasm_tstamp d = qasm_mbox_next_expiry(m);
    m->hint = d < now + m->min_dur ? d : now + m->min_dur;
}

/* The one place that picks what happens to a packet; |f| is the flow of its
 * key (pkt_key) or NULL. */
static inline __attribute__((always_inline)) enum qasm_mbox_action
process_k(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt, const struct qasm_flow *key,
          uint64_t hash, struct flow *f, qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    verdict_init(v, pkt);
    m->st.packets_in++;
    if (!valid_pkt(m, pkt))
        drop(v, QASM_MBOX_DROP_MALFORMED);
    else if (pkt->dir == QASM_MBOX_FROM_CLIENT && f)
        client_known(m, pkt, f, now, 1, v); /* the fast path, inline */
    else if (pkt->dir == QASM_MBOX_FROM_CLIENT)
        client_pkt_k(m, pkt, key, hash, NULL, now, 1, v);
    else
        server_pkt(m, pkt, key, hash, f, now, v);
    count_verdict(m, v);
    return v->action;
}

enum qasm_mbox_action qasm_mbox_process(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt,
                                        qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    expire_due(m, now);
    struct qasm_flow key;
    uint64_t hash;
    struct flow *f = pkt_key(m, pkt, &key, &hash) ? qasm_conn_find(&m->flows, hash, &key) : NULL;
    return process_k(m, pkt, &key, hash, f, now, v);
}

void qasm_mbox_process_batch(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkts, size_t n,
                             qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    enum { STRIDE = 32 };
    struct qasm_flow key[STRIDE];
    uint64_t hash[STRIDE];
    uint8_t keyed[STRIDE];
    struct flow *found[STRIDE];
    expire_due(m, now);
    for (size_t base = 0; base < n; base += STRIDE) {
        size_t k = n - base < STRIDE ? n - base : STRIDE;
        /* 1: hash every 5-tuple and start loading its slot */
        for (size_t i = 0; i < k; i++) {
            const struct qasm_mbox_pkt *p = &pkts[base + i];
            keyed[i] = (uint8_t)pkt_key(m, p, &key[i], &hash[i]);
            if (keyed[i]) {
                qasm_htab_raw_prefetch(&m->flows, hash[i]);
            } else if (p->dir == QASM_MBOX_FROM_SERVER && m->fn->by_port) {
                void *e = m->fn->by_port(m->fn_st, p->flow.dst.port);
                if (e)
                    __builtin_prefetch(e);
            }
        }
        /* 2: find the flows (slots now cached) and start loading their entries */
        for (size_t i = 0; i < k; i++) {
            struct flow *f = keyed[i] ? qasm_conn_find(&m->flows, hash[i], &key[i]) : NULL;
            found[i] = f;
            if (f) {
                __builtin_prefetch(f->e);
                __builtin_prefetch((const char *)f->e + 64);
                __builtin_prefetch((const char *)f->e + 128);
            }
        }
        /* 3: process them in order; what step 2 found holds while no flow was
         * added or freed (an earlier packet of the batch may do either) */
        uint64_t gen = m->flows_gen;
        for (size_t i = 0; i < k; i++) {
            struct flow *f = found[i];
            if (m->flows_gen != gen)
                f = keyed[i] ? qasm_conn_find(&m->flows, hash[i], &key[i]) : NULL;
            process_k(m, &pkts[base + i], &key[i], hash[i], f, now, &v[base + i]);
        }
    }
}

int qasm_mbox_touch(struct qasm_mbox *m, const struct qasm_flow *client_flow,
                    const struct qasm_cid *odcid, int both_ways, qasm_tstamp now)
{
    struct entry *e = NULL;
    if (odcid && odcid->len > 0 && m->odcids) {
        e = qasm_htab_find(m->odcids, qasm_cid_hash(odcid, m->cfg.seed), odcid);
    } else if (client_flow) {
        struct qasm_flow key = flow_key(client_flow);
        struct flow *f = qasm_conn_find(&m->flows, flow_hash(&key, m->cfg.seed), &key);
        e = f ? f->e : NULL;
    }
    if (e == NULL)
        return 0;
    if (both_ways)
        e->assured = 1;
    qasm_conn_touch(m, e, now);
    return 1;
}

/* The core's decision for a held packet (qasm_hold_decide_fn). */
static void decide_held(void *core, const struct qasm_mbox_pkt *pkt, qasm_tstamp now,
                        enum qasm_hold_why why, struct qasm_mbox_verdict *v)
{
    struct qasm_mbox *m = core;
    verdict_init(v, pkt);
    if (why == QASM_HOLD_SHUTDOWN) {
        drop(v, QASM_MBOX_DROP_SHUTDOWN);
    } else {
        m->tracker_away = why == QASM_HOLD_TIMED_OUT;
        client_pkt(m, pkt, now, 0, v);
        m->tracker_away = 0;
    }
    count_verdict(m, v);
}

void qasm_mbox_flush(struct qasm_mbox *m)
{
    qasm_hold_flush(m->hold);
}

/* ---- tracker answers ---- */

/*
 * A QUIC packet that got default treatment because the tracker had not
 * answered in time (or not yet attested its address) made a default entry
 * for its 5-tuple. Once the tracker attests that address for connection
 * |e|, the 5-tuple joins the connection and the default entry goes (the
 * NAT closes its extra port): a late answer still repairs the race.
 */
static void adopt_attested(struct qasm_mbox *m, struct entry *e, qasm_tstamp now)
{
    struct qasm_flow key;
    memset(&key, 0, sizeof(key));
    key.dst = e->server;
    key.dst.pad = 0;
    key.proto = 17;
    if (!TAILQ_EMPTY(&e->flows))
        key.proto = TAILQ_FIRST(&e->flows)->key.proto;
    for (size_t i = 0; i < e->att->n; i++) {
        key.src = e->att->addr[i];
        uint64_t hash = flow_hash(&key, m->cfg.seed);
        struct flow *f = qasm_conn_find(&m->flows, hash, &key);
        if (f == NULL || f->e->quic || f->e->cls != QASM_MBOX_CLASS_QUIC_FLOW)
            continue;
        if (!e->has_state && qasm_conn_state_alloc(m, e, now) < 0)
            return;
        qasm_tstamp made = f->e->created;
        if (qasm_conn_flow_move(m, f, e) != NULL) {
            m->st.adopted++;
            qasm_conn_event(m, QASM_MBOX_TE_ADOPTED, e, &key.src, NULL, now);
            m->st.adopt_us[qasm_mbox_us_bucket(now > made ? now - made : 0)]++;
        }
    }
}

static struct entry *apply_record(struct qasm_mbox *m, const struct qasm_mbox_record *rec,
                                  const struct qasm_cid *qdcid, qasm_tstamp now)
{
    struct qasm_cid odcid = rec->odcid;
    if (odcid.len == 0) {
        if (qdcid)
            odcid = *qdcid;
        else if (rec->ndcids > 0)
            odcid = rec->dcids[0];
        else
            return NULL;
    }
    if (odcid.len > QASM_CID_MAXLEN)
        return NULL;
    struct entry *e = qasm_htab_find(m->odcids, qasm_cid_hash(&odcid, m->cfg.seed), &odcid);
    for (size_t i = 0; e == NULL && i <= rec->ndcids; i++) {
        const struct qasm_cid *c = i < rec->ndcids ? &rec->dcids[i] : qdcid;
        if (c == NULL || c->len > QASM_CID_MAXLEN)
            continue;
        struct dcident *d = qasm_htab_find(m->dcids, qasm_cid_hash(c, m->cfg.seed), c);
        if (d && d->e->quic)
            e = d->e;
    }
    if (e == NULL) {
        if (rec->nclients == 0 || rec->closed)
            return NULL;
        e = qasm_conn_new(m, &odcid, &rec->clients[0], &rec->server, now, NULL);
        if (e == NULL)
            return NULL;
    }
    for (size_t i = 0; i < rec->ndcids; i++)
        if (rec->dcids[i].len <= QASM_CID_MAXLEN)
            qasm_conn_dcid_bind(m, e, &rec->dcids[i], 1);
    if (qdcid)
        qasm_conn_dcid_bind(m, e, qdcid, 1);
    if (rec->nclients > 0) {
        if (e->att == NULL)
            e->att = calloc(1, sizeof(*e->att));
        if (e->att) {
            size_t n = rec->nclients < MAX_ATTESTED ? rec->nclients : MAX_ATTESTED;
            memcpy(e->att->addr, rec->clients + (rec->nclients - n), n * sizeof(struct qasm_addr));
            for (size_t i = 0; i < n; i++)
                e->att->addr[i].pad = 0;
            e->att->n = n;
            e->att->at = now;
        }
    }
    if (rec->dcid_len > 0 && rec->dcid_len <= QASM_CID_MAXLEN)
        e->cid_len = (int8_t)rec->dcid_len;
    if (e->att && !rec->closed) {
        adopt_attested(m, e, now);
        if (m->tracker_up)
            qasm_conn_fallback_return(m, e, now);
    }
    if (rec->closed)
        e->subscribed = 0; /* the tracker ended the subscription */
    else if (m->cfg.mode == QASM_MBOX_PROACTIVE && m->tracker_up && !e->subscribed)
        qasm_conn_subscribe(m, e, QASM_MBOX_REQ_SUBSCRIBE);
    return e;
}

void qasm_mbox_answer(struct qasm_mbox *m, uint64_t id, const struct qasm_mbox_record *rec,
                      qasm_tstamp now)
{
    m->hint = 0;
    if (!m->aware)
        return;
    if (rec)
        m->st.tracker_answers++;
    else
        m->st.tracker_not_found++;
    struct qasm_hold_query *q = qasm_hold_answer(m->hold, id, now);
    if (q == NULL) {
        m->st.tracker_late++;
        if (rec)
            apply_record(m, rec, NULL, now);
        return;
    }
    if (rec)
        apply_record(m, rec, qasm_hold_query_dcid(q), now);
    qasm_hold_answered(m->hold, q, now);
}

void qasm_mbox_push(struct qasm_mbox *m, const struct qasm_mbox_record *rec, qasm_tstamp now)
{
    m->hint = 0;
    if (!m->aware)
        return;
    m->st.tracker_pushes++;
    apply_record(m, rec, NULL, now);
    /* A push often announces the new DCID before the agent's address report
     * (its own push follows): releasing then would give the packets default
     * treatment; they wait for that push or for the query's answer instead. */
    qasm_hold_push(m->hold, rec, now);
}

static void record_from_conn(struct qasm_mbox_record *r, struct qasm_cid *dcids,
                             const struct qasm_proto_conn *c, int closed)
{
    memset(r, 0, sizeof(*r));
    r->odcid = c->odcid;
    r->server = c->server;
    r->dcid_len = c->dcid_len;
    r->closed = (uint8_t)(closed || (c->flags & QASM_PROTO_REC_CLOSED));
    size_t n = c->ndcids < QASM_PROTO_MAX_DCIDS ? c->ndcids : QASM_PROTO_MAX_DCIDS;
    for (size_t i = 0; i < n; i++)
        dcids[i] = c->dcids[i].cid;
    r->dcids = dcids;
    r->ndcids = n;
    r->clients = c->clients;
    r->nclients = c->nclients < QASM_PROTO_MAX_CLIENTS ? c->nclients : QASM_PROTO_MAX_CLIENTS;
}

void qasm_mbox_answer_conn(struct qasm_mbox *m, uint64_t id, const struct qasm_proto_conn *conn,
                           qasm_tstamp now)
{
    if (conn == NULL) {
        qasm_mbox_answer(m, id, NULL, now);
        return;
    }
    struct qasm_mbox_record r;
    struct qasm_cid dcids[QASM_PROTO_MAX_DCIDS];
    record_from_conn(&r, dcids, conn, 0);
    qasm_mbox_answer(m, id, &r, now);
}

void qasm_mbox_push_conn(struct qasm_mbox *m, uint8_t event, const struct qasm_proto_conn *conn,
                         qasm_tstamp now)
{
    struct qasm_mbox_record r;
    struct qasm_cid dcids[QASM_PROTO_MAX_DCIDS];
    int closed = event == QASM_PROTO_EV_CLOSED || event == QASM_PROTO_EV_EXPIRED ||
                 event == QASM_PROTO_EV_EVICTED;
    record_from_conn(&r, dcids, conn, closed);
    qasm_mbox_push(m, &r, now);
}

void qasm_mbox_tracker_state(struct qasm_mbox *m, int up, qasm_tstamp now)
{
    m->hint = 0;
    if (!m->aware) {
        set_tracker_up(m, 0);
        return;
    }
    up = up != 0;
    if (up == m->tracker_up)
        return;
    set_tracker_up(m, up);
    size_t pos = 0;
    struct entry *e;
    if (!up) {
        m->st.tracker_down_events++;
        qasm_hold_down(m->hold, now);
        while ((e = qasm_htab_next(m->odcids, &pos)) != NULL)
            e->subscribed = 0;
    } else if (m->cfg.mode == QASM_MBOX_PROACTIVE) {
        /* The RECORD answering each SUBSCRIBE also hands fallback mappings back. */
        while ((e = qasm_htab_next(m->odcids, &pos)) != NULL)
            if (!e->subscribed)
                qasm_conn_subscribe(m, e, QASM_MBOX_REQ_SUBSCRIBE);
    } else {
        /* Reactive: ask about each connection that took fallback mappings, by the
         * DCID its client used last, so the answer hands them back. */
        while ((e = qasm_htab_next(m->odcids, &pos)) != NULL) {
            if (TAILQ_EMPTY(&e->fbs))
                continue;
            const struct entry *last = TAILQ_LAST(&e->fbs, entry_list);
            const struct flow *lf = TAILQ_FIRST(&last->flows);
            const struct qasm_cid *dcid = lf && lf->last_dcid.len ? &lf->last_dcid : &e->odcid;
            (void)qasm_hold_query(m->hold, dcid, &e->server, NULL, 0, now);
        }
    }
}

/* ---- timers ---- */

qasm_tstamp qasm_mbox_next_expiry(const struct qasm_mbox *m)
{
    qasm_tstamp t = QASM_TSTAMP_MAX;
    for (int i = 0; i < 2; i++) {
        const struct entry *e = TAILQ_FIRST(&m->lru[i]);
        if (e) {
            if (e->queued + m->timeout[i] < t)
                t = e->queued + m->timeout[i];
        }
        e = TAILQ_FIRST(&m->lru[2 + i]);
        if (e) {
            if (e->last_seen + m->timeout[i] < t)
                t = e->last_seen + m->timeout[i];
        }
    }
    qasm_tstamp h = qasm_hold_next_expiry(m->hold);
    return h < t ? h : t;
}

static void expire_entry(struct qasm_mbox *m, struct entry *e, qasm_tstamp now)
{
    if (e->has_state) {
        m->st.mappings_expired++;
        qasm_conn_event(m, QASM_MBOX_TE_EXPIRED, e, NULL, NULL, now);
    }
    qasm_conn_entry_free(m, e);
}

void qasm_mbox_expire(struct qasm_mbox *m, qasm_tstamp now)
{
    m->hint = 0;
    qasm_hold_expire(m->hold, now);
    for (int i = 0; i < 2; i++) {
        qasm_duration to = m->timeout[i];
        struct entry *e;
        while ((e = TAILQ_FIRST(&m->lru[i])) != NULL) {
            if (e->queued + to > now)
                break;
            if (e->last_seen + to > now) { /* seen since it was queued: due within a granule */
                TAILQ_REMOVE(&m->lru[i], e, lru);
                e->list = (uint8_t)(2 + i);
                e->queued = now;
                TAILQ_INSERT_TAIL(&m->lru[2 + i], e, lru);
                continue;
            }
            expire_entry(m, e, now);
        }
        while ((e = TAILQ_FIRST(&m->lru[2 + i])) != NULL) {
            if (e->last_seen + to > now)
                break;
            expire_entry(m, e, now);
        }
    }
}

/* ---- observability ---- */

unsigned qasm_mbox_us_bucket(qasm_duration ns)
{
    uint64_t us = ns / 1000;
    unsigned b = 0;
    while (us > 0 && b < QASM_MBOX_US_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    return b;
}

void qasm_mbox_get_stats(const struct qasm_mbox *m, struct qasm_mbox_stats *st)
{
    *st = m->st;
    st->packets_dropped = 0;
    for (int i = 0; i < QASM_MBOX_DROP_MAX; i++)
        st->packets_dropped += st->packets_dropped_by[i];
    st->held_now = qasm_hold_count(m->hold);
    st->flows = m->flows.count;
    st->conns = m->odcids ? qasm_htab_count(m->odcids) : 0;
    st->dcids = m->dcids ? qasm_htab_count(m->dcids) : 0;
    m->fn->stats(m->fn_st, st);
}

void qasm_mbox_foreach(const struct qasm_mbox *m,
                       int (*cb)(const struct qasm_mbox_entry_info *e, void *arg), void *arg)
{
    struct qasm_addr clients[MAX_FLOWS_PER_CONN];
    const struct entry *e;
    for (int i = 0; i < 4; i++)
        TAILQ_FOREACH(e, &m->lru[i], lru) {
            struct qasm_mbox_entry_info info;
            memset(&info, 0, sizeof(info));
            info = (struct qasm_mbox_entry_info){.quic = e->quic, .odcid = e->odcid,
                                                 .client = e->client, .server = e->server,
                                                 .clients = clients, .backend = -1,
                                                 .last_seen = e->last_seen,
                                                 .assured = e->assured,
                                                 .created = e->created,
                                                 .expires = e->last_seen + m->timeout[e->assured],
                                                 .packets_orig = e->pkts_orig,
                                                 .packets_reply = e->pkts_reply};
            size_t n = 0;
            const struct flow *fl;
            TAILQ_FOREACH(fl, &e->flows, link) {
                if (n == MAX_FLOWS_PER_CONN)
                    break;
                clients[n++] = fl->key.src;
            }
            info.nclients = n;
            if (e->has_state)
                m->fn->info(m->fn_st, &e->fs, e->last_seen, &info);
            if (cb(&info, arg))
                return;
        }
}
