/*
 * mbox.c: the middlebox core (see mbox.h for the contract).
 *
 * State lives in "entries": one per unit of middlebox state (a NAT mapping
 * with its public port, a token bucket, an LB backend assignment). A
 * default entry belongs to exactly one 5-tuple; a QUIC entry belongs to a
 * connection (keyed on its O-DCID) and may own several client 5-tuples
 * (the addresses the connection migrated through) and several DCIDs.
 *
 * Tables: flows (client-oriented 5-tuple -> flow -> entry), dcids (DCID ->
 * entry), odcids (O-DCID -> QUIC entry), pending queries by DCID and by
 * request id. NAT public ports map back to entries through the port pool.
 *
 * Timers are FIFO lists, because every timeout of a kind is the same
 * length: entries sit in one of two LRU lists (30 s before traffic flowed
 * both ways, 120 s after), held packets and pending queries in arrival
 * order. So a packet costs O(1) list moves and next_expiry looks at four
 * list heads.
 */
#include "mbox.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "classify.h"
#include "hash.h"
#include "hold.h"
#include "htab.h"
#include "lb.h"
#include "mbox_fn.h"
#include "nat.h"
#include "pool.h"
#include "ratelimit.h"
#include "proto.h"
#include "ring.h"

#define MAX_FLOWS_PER_CONN 16 /* client 5-tuples kept per QUIC connection */
#define MAX_DCIDS_PER_CONN 32 /* DCIDs kept per QUIC connection */
#define MAX_ATTESTED 16       /* tracker-attested client addresses kept */
#define MAX_SERVERS 65536     /* CID-length table bound */

struct attest {
    qasm_tstamp at;
    size_t n;
    struct qasm_addr addr[MAX_ATTESTED];
};

struct entry;
TAILQ_HEAD(entry_list, entry);
TAILQ_HEAD(flow_list, flow);
TAILQ_HEAD(dcid_list, dcident);

/* Hot fields first: a lookup reads key, last_dcid and e. */
struct flow {
    struct qasm_flow key; /* client -> server */
    uint8_t embedded;     /* the entry's own first flow (not allocated) */
    uint8_t used;         /* embedded flow in use */
    /* QUIC connections' flows: the first-byte bits that send a client packet
     * off the fast path (see client_known); 0 for default entries. */
    uint8_t slow_bits;
    struct qasm_cid last_dcid;
    struct entry *e;
    uint64_t hash;
    TAILQ_ENTRY(flow) link; /* its entry's flows */
};

struct entry {
    /* line 0-1: the first flow, then the timer fields and flags */
    struct flow f0;      /* first flow, in the same allocation (one cache miss less) */
    qasm_tstamp last_seen;
    qasm_tstamp queued;  /* when put at the tail of its timer list */
    uint8_t quic;        /* keyed on an O-DCID */
    uint8_t assured;     /* traffic seen both ways: long timeout */
    uint8_t list;        /* timer list it is in: 0/1 main (by assured), 2/3 grace */
    uint8_t established; /* QUIC: client sent a short header */
    uint8_t subscribed;  /* proactive: SUBSCRIBE sent */
    uint8_t has_state;   /* port / bucket / backend allocated */
    uint8_t cls;         /* default entries: enum qasm_mbox_class of their packets */
    int8_t cid_len;      /* server CID length, -1 unknown */
    /* line 2: what a packet of an established flow reads or writes */
    struct flow *cur;    /* flow of the latest client packet (QUIC), may be NULL */
    uint16_t nflows, ndcids;
    union qasm_mbox_fn_state fs; /* the function's: port, bucket or backend */
    struct qasm_cid odcid;
    struct qasm_addr client; /* latest client address */
    /* the rest: set up and tear down */
    struct qasm_addr server;
    uint64_t odcid_hash;
    TAILQ_ENTRY(entry) lru;  /* in m->lru[list] */
    struct flow_list flows;  /* oldest first */
    struct dcid_list dcids;  /* oldest first */
    struct attest *att;
    qasm_tstamp created; /* for adopt_us: how late the tracker's attestation came */
    /* Fallback mappings (made for this connection's DCIDs while the tracker was
     * away): a QUIC entry heads the list of its own, a default entry made as
     * one is linked in its connection's list (fb.conn set). */
    union {
        struct entry_list fbs; /* QUIC entry: its fallback mappings, oldest first */
        struct {
            TAILQ_ENTRY(entry) link;
            struct entry *conn;
        } fb;                  /* default entry: in fb.conn's list */
    };
};

/* Entries are cache-line aligned (a lookup touches the first three lines only). */
_Static_assert(sizeof(struct entry) <= 5 * 64, "struct entry grew past five cache lines");
#define POOL_SLAB 64 /* entries or flows per pool allocation */

struct dcident {
    struct qasm_cid dcid;
    uint64_t hash;
    struct entry *e;
    TAILQ_ENTRY(dcident) link; /* its entry's DCIDs */
    uint8_t confirmed; /* from the tracker or an Initial; else learned on the entry's own flow */
};

static inline int flow_key_eq(const void *entry, const void *key)
{
    return qasm_flow_eq(&((const struct flow *)entry)->key, key);
}

static inline struct flow *ftab_find(const struct qasm_htab_raw *t, uint64_t hash,
                                     const struct qasm_flow *key)
{
    return qasm_htab_raw_find(t, hash, key, flow_key_eq);
}

struct qasm_mbox {
    struct qasm_mbox_config cfg;
    const struct qasm_mbox_fn_ops *fn; /* NAT, rate limiter or load balancer */
    void *fn_st;                       /* its state */
    uint8_t family;                    /* packets of this family only (0 = any) */
    struct qasm_htab_raw flows; /* client 5-tuple -> struct flow */
    uint64_t flows_gen;         /* bumped when a flow is added or freed */
    struct qasm_htab *dcids, *odcids;
    struct qasm_hold *hold;      /* tracker requests, held packets, pending queries */
    struct qasm_ring *reqs, *releases; /* the hold's queues, drained by the shell */
    struct qasm_cidlen_table *cidlens;
    int aware;
    int tracker_up;
    struct entry_list lru[4];    /* 0/1: by queue time (short/long timeout); 2/3: grace */
    /* Entries and a connection's further flows come from pools: no malloc per
     * new flow (whose cost varied with the heap's layout). */
    struct qasm_pool entries, flow_pool;
    qasm_duration timeout[2];
    qasm_tstamp hint;         /* no deadline before this (see expire_due) */
    size_t nentries;
    enum qasm_mbox_drop_reason entry_fail; /* why the last entry_new failed */
    int tracker_away;         /* deciding a packet whose hold ran out unanswered */
    qasm_duration min_dur;    /* shortest timer an item can be given */
    qasm_duration hold_for;   /* longest hold: max(hold_time, hold_ceiling) */
    struct qasm_ring events;
    struct qasm_mbox_stats st;
};

/* ---- names ---- */

static const char *const function_names[] = {"nat", "ratelimit", "lb"};
static const char *const mode_names[] = {"default", "reactive", "proactive"};
static const char *const drop_names[] = {"none",       "pool_exhausted", "rate_limited",
                                         "malformed",  "hold_overflow",  "no_mapping",
                                         "no_memory",  "shutdown",       "table_full"};
static const char *const path_names[] = {"none", "lookup", "new", "update"};
static const char *const class_names[] = {"flow", "nonquic", "quic_flow", "quic_conn"};

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

static void entry_free(struct qasm_mbox *m, struct entry *e);

void qasm_mbox_del(struct qasm_mbox *m)
{
    if (m == NULL)
        return;
    set_tracker_up(m, 0); /* no UNSUBSCRIBE on the way out */
    for (int i = 0; i < 4; i++)
        while (!TAILQ_EMPTY(&m->lru[i]))
            entry_free(m, TAILQ_FIRST(&m->lru[i]));
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
    free(m);
}

/* ---- queues ---- */

static void subscribe(struct qasm_mbox *m, struct entry *e, enum qasm_mbox_req_type type)
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

int qasm_mbox_next_event(struct qasm_mbox *m, struct qasm_mbox_event *ev)
{
    return qasm_ring_pop(&m->events, ev);
}

int qasm_mbox_next_request(struct qasm_mbox *m, struct qasm_mbox_req *req)
{
    return qasm_ring_pop(m->reqs, req);
}

int qasm_mbox_next_release(struct qasm_mbox *m, struct qasm_mbox_verdict *v)
{
    return qasm_ring_pop(m->releases, v);
}

/* ---- entries, flows, DCIDs ---- */

static void entry_free(struct qasm_mbox *m, struct entry *e);

/*
 * At max_entries, like conntrack's early drop: the idlest entry that never
 * saw traffic both ways goes (the grace list is due first, then the short
 * timeout list), never |keep| (an entry the caller still uses). Returns 0
 * when room was made, -1 when every entry is assured.
 */
static int evict_unassured(struct qasm_mbox *m, const struct entry *keep)
{
    static const int lists[] = {2, 0};
    for (size_t i = 0; i < 2; i++) {
        struct entry *e;
        TAILQ_FOREACH(e, &m->lru[lists[i]], lru) {
            if (e == keep)
                continue;
            entry_free(m, e);
            m->st.entries_evicted++;
            return 0;
        }
    }
    return -1;
}

static struct entry *entry_new(struct qasm_mbox *m, int quic, const struct qasm_addr *client,
                               const struct qasm_addr *server, qasm_tstamp now,
                               const struct entry *keep)
{
    if (m->cfg.max_entries && m->nentries >= m->cfg.max_entries &&
        evict_unassured(m, keep) < 0) {
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
static int state_alloc(struct qasm_mbox *m, struct entry *e, qasm_tstamp now)
{
    if (m->fn->on_new_flow(m->fn_st, &e->fs, e, &e->client, now) < 0)
        return -1;
    e->has_state = 1;
    m->st.mappings++;
    m->st.mappings_created++;
    return 0;
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

static void entry_free(struct qasm_mbox *m, struct entry *e)
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
        qasm_htab_remove_ptr(m->odcids, e->odcid_hash, e);
        if (e->subscribed && m->tracker_up)
            subscribe(m, e, QASM_MBOX_REQ_UNSUBSCRIBE);
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

/*
 * Timers without a list move per packet (that would touch two other
 * entries, two cache misses): an entry moves to the tail of its list only
 * when it was queued more than LAZY_GRANULE ago, so the main lists stay
 * sorted by queue time. An entry reaching the head whose last packet is
 * more recent goes to a grace list (it is due within LAZY_GRANULE), so an
 * entry expires at most LAZY_GRANULE late, never early.
 */
#define LAZY_GRANULE QASM_SEC

static inline __attribute__((always_inline)) void
entry_touch(struct qasm_mbox *m, struct entry *e, qasm_tstamp now)
{
    if (now > e->last_seen)
        e->last_seen = now;
    if (e->list == e->assured && now - e->queued < LAZY_GRANULE)
        return;
    TAILQ_REMOVE(&m->lru[e->list], e, lru);
    e->queued = e->last_seen;
    e->list = e->assured;
    TAILQ_INSERT_TAIL(&m->lru[e->assured], e, lru);
}

static void flow_link(struct qasm_mbox *m, struct flow *f, struct entry *e)
{
    f->e = e;
    TAILQ_INSERT_TAIL(&e->flows, f, link);
    e->nflows++;
    while (e->quic && e->nflows > MAX_FLOWS_PER_CONN)
        flow_drop(m, TAILQ_FIRST(&e->flows));
}

static struct flow *flow_add(struct qasm_mbox *m, struct entry *e, const struct qasm_flow *key,
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
static struct flow *flow_move(struct qasm_mbox *m, struct flow *f, struct entry *to)
{
    struct entry *from = f->e;
    struct qasm_flow key = f->key;
    uint64_t hash = f->hash;
    struct qasm_cid last = f->last_dcid;
    /* The LB's next hop changes with the backend: the old one is closed. */
    if (next_hop_changes(m, from, to, &key.dst))
        flow_close_event(m, &key.src, &key.dst, from);
    flow_free(m, f);
    struct flow *nf = flow_add(m, to, &key, hash);
    if (nf)
        nf->last_dcid = last;
    else
        flow_close_event(m, &key.src, &key.dst, to);
    if (!from->quic && from->nflows == 0)
        entry_free(m, from);
    return nf;
}

static void dcid_bind(struct qasm_mbox *m, struct entry *e, const struct qasm_cid *dcid,
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

static int attested(const struct qasm_mbox *m, const struct entry *e, const struct qasm_addr *a,
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

static struct entry *conn_new(struct qasm_mbox *m, const struct qasm_cid *odcid,
                              const struct qasm_addr *client, const struct qasm_addr *server,
                              qasm_tstamp now, const struct entry *keep)
{
    struct entry *e = entry_new(m, 1, client, server, now, keep);
    if (e == NULL)
        return NULL;
    e->odcid = *odcid;
    e->cls = QASM_MBOX_CLASS_QUIC_CONN; /* what its packets are (client_known) */
    e->odcid_hash = qasm_cid_hash(odcid, m->cfg.seed);
    if (qasm_htab_insert(m->odcids, e->odcid_hash, e) < 0) {
        e->quic = 0;
        entry_free(m, e);
        return NULL;
    }
    return e;
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
    entry_touch(m, e, now);
    if (e->quic) {
        v->odcid = e->odcid;
        set_latest(e, f);
    }
    m->fn->on_client(m->fn_st, &e->fs, pkt, now, v);
}

static struct flow *default_entry(struct qasm_mbox *m, const struct qasm_flow *key, uint64_t hash,
                                  enum qasm_mbox_class cls, qasm_tstamp now,
                                  struct qasm_mbox_verdict *v, const struct entry *keep)
{
    struct entry *e = entry_new(m, 0, &key->src, &key->dst, now, keep);
    if (e == NULL) {
        drop(v, m->entry_fail);
        return NULL;
    }
    e->cls = (uint8_t)cls;
    if (state_alloc(m, e, now) < 0) {
        entry_free(m, e);
        drop(v, QASM_MBOX_DROP_POOL_EXHAUSTED);
        return NULL;
    }
    struct flow *f = flow_add(m, e, key, hash);
    if (f == NULL) {
        entry_free(m, e);
        drop(v, QASM_MBOX_DROP_NO_MEMORY);
        return NULL;
    }
    v->path = QASM_MBOX_PATH_NEW;
    return f;
}

/* ---- packet processing ---- */

/* A cheap seeded hash of a zero-padded 5-tuple (44 bytes: five words and a tail). */
static uint64_t flow_hash(const struct qasm_flow *k, uint64_t seed)
{
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL, w;
    for (int i = 0; i < 5; i++) {
        memcpy(&w, p + 8 * i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    uint32_t t;
    memcpy(&t, p + 40, 4);
    return qasm_hash_mix(h ^ t);
}

static struct qasm_flow flow_key(const struct qasm_flow *f)
{
    struct qasm_flow k;
    memset(&k, 0, sizeof(k));
    k.src = f->src;
    k.dst = f->dst;
    k.src.pad = 0;
    k.dst.pad = 0;
    k.proto = f->proto;
    return k;
}

static const struct qasm_addr *cid_server(const struct qasm_mbox *m, const struct qasm_addr *srv)
{
    static const struct qasm_addr none;
    return m->fn->cidlen_per_server ? srv : &none;
}

/* Before connection |c| takes one more fallback mapping: at the cap its oldest goes. */
static void fallback_make_room(struct qasm_mbox *m, struct entry *c)
{
    if (m->cfg.fallback_per_conn == 0)
        return;
    size_t n = 0; /* a short list (the cap): counted rather than stored, entries stay small */
    const struct entry *x;
    TAILQ_FOREACH(x, &c->fbs, fb.link)
        n++;
    for (; n >= m->cfg.fallback_per_conn; n--) {
        entry_free(m, TAILQ_FIRST(&c->fbs));
        m->st.fallback_recycled++;
    }
}

static void fallback_link(struct qasm_mbox *m, struct entry *c, struct entry *e)
{
    TAILQ_INSERT_TAIL(&c->fbs, e, fb.link);
    e->fb.conn = c;
    m->st.fallback_mappings++;
    m->st.fallback_now++;
}

/* The tracker attests connection |c| again: its remaining fallback mappings go
 * (a path still in use is held and asked about on its next packet). */
static void fallback_return(struct qasm_mbox *m, struct entry *c)
{
    while (!TAILQ_EMPTY(&c->fbs)) {
        entry_free(m, TAILQ_FIRST(&c->fbs));
        m->st.fallback_returned++;
    }
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
    struct entry *e = conn_new(m, dcid, &key->src, &key->dst, now, old ? old->e : NULL);
    if (e == NULL) {
        drop(v, m->entry_fail);
        return NULL;
    }
    if (state_alloc(m, e, now) < 0) {
        entry_free(m, e);
        drop(v, QASM_MBOX_DROP_POOL_EXHAUSTED);
        return NULL;
    }
    struct flow *f = old ? flow_move(m, old, e) : flow_add(m, e, key, hash);
    if (f == NULL) {
        if (old == NULL)
            entry_free(m, e);
        drop(v, QASM_MBOX_DROP_NO_MEMORY);
        return NULL;
    }
    f->last_dcid = *dcid;
    if (m->cfg.mode == QASM_MBOX_PROACTIVE && m->tracker_up)
        subscribe(m, e, QASM_MBOX_REQ_SUBSCRIBE);
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
        dcid_bind(m, fe, dcid, 0);
        v->path = QASM_MBOX_PATH_UPDATE;
        e = fe;
    } else if (attested(m, cd, &f->key.src, now) &&
               (cd->has_state || state_alloc(m, cd, now) == 0)) {
        /* The tracker says this address belongs to cd now. */
        if ((f = flow_move(m, f, cd)) == NULL) {
            drop(v, QASM_MBOX_DROP_NO_MEMORY);
            return;
        }
        m->st.migrations++;
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
        if (state_alloc(m, cd, now) < 0) {
            drop(v, QASM_MBOX_DROP_POOL_EXHAUSTED);
            return;
        }
        cd->client = key->src;
        v->path = QASM_MBOX_PATH_NEW;
    } else {
        m->st.migrations++;
        v->path = QASM_MBOX_PATH_UPDATE;
    }
    struct flow *f = flow_add(m, cd, key, hash);
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
        if (attested(m, cd, &key->src, now)) {
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
        fallback_make_room(m, cd);
    v->cls = QASM_MBOX_CLASS_QUIC_FLOW;
    if ((f = default_entry(m, key, hash, QASM_MBOX_CLASS_QUIC_FLOW, now, v, cd)) != NULL) {
        f->last_dcid = *dcid;
        if (fallback)
            fallback_link(m, cd, f->e);
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
static inline void client_known(struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt,
                                struct flow *f, qasm_tstamp now, int allow_hold,
                                struct qasm_mbox_verdict *v)
{
    struct entry *e = f->e;
    if (f->slow_bits && (pkt->len == 0 || (pkt->data[0] & f->slow_bits))) {
        client_conn_slow(m, pkt, f, now, allow_hold, v);
        return;
    }
    v->cls = e->cls;
    v->path = QASM_MBOX_PATH_LOOKUP;
    v->odcid = e->odcid;
    entry_touch(m, e, now);
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
    client_pkt_k(m, pkt, &key, hash, ftab_find(&m->flows, hash, &key), now, allow_hold, v);
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
    entry_touch(m, e, now);
    m->fn->on_server(m->fn_st, &e->fs, pkt, &e->client, now, v);
}

static void count_verdict(struct qasm_mbox *m, const struct qasm_mbox_verdict *v)
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

static int valid_pkt(const struct qasm_mbox *m, const struct qasm_mbox_pkt *pkt)
{
    const struct qasm_flow *f = &pkt->flow;
    if (f->src.family != AF_INET && f->src.family != AF_INET6)
        return 0;
    if (f->dst.family != f->src.family)
        return 0;
    /* the NAT translates within one address family (no NAT64) */
    if (m->family && f->src.family != m->family)
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
    else if (pkt->dir == QASM_MBOX_FROM_CLIENT)
        client_pkt_k(m, pkt, key, hash, f, now, 1, v);
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
    struct flow *f = pkt_key(m, pkt, &key, &hash) ? ftab_find(&m->flows, hash, &key) : NULL;
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
            struct flow *f = keyed[i] ? ftab_find(&m->flows, hash[i], &key[i]) : NULL;
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
                f = keyed[i] ? ftab_find(&m->flows, hash[i], &key[i]) : NULL;
            process_k(m, &pkts[base + i], &key[i], hash[i], f, now, &v[base + i]);
        }
    }
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
        struct flow *f = ftab_find(&m->flows, hash, &key);
        if (f == NULL || f->e->quic || f->e->cls != QASM_MBOX_CLASS_QUIC_FLOW)
            continue;
        if (!e->has_state && state_alloc(m, e, now) < 0)
            return;
        qasm_tstamp made = f->e->created;
        if (flow_move(m, f, e) != NULL) {
            m->st.adopted++;
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
        e = conn_new(m, &odcid, &rec->clients[0], &rec->server, now, NULL);
        if (e == NULL)
            return NULL;
    }
    for (size_t i = 0; i < rec->ndcids; i++)
        if (rec->dcids[i].len <= QASM_CID_MAXLEN)
            dcid_bind(m, e, &rec->dcids[i], 1);
    if (qdcid)
        dcid_bind(m, e, qdcid, 1);
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
            fallback_return(m, e);
    }
    if (rec->closed)
        e->subscribed = 0; /* the tracker ended the subscription */
    else if (m->cfg.mode == QASM_MBOX_PROACTIVE && m->tracker_up && !e->subscribed)
        subscribe(m, e, QASM_MBOX_REQ_SUBSCRIBE);
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
                subscribe(m, e, QASM_MBOX_REQ_SUBSCRIBE);
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
            if (e->has_state)
                m->st.mappings_expired++;
            entry_free(m, e);
        }
        while ((e = TAILQ_FIRST(&m->lru[2 + i])) != NULL) {
            if (e->last_seen + to > now)
                break;
            if (e->has_state)
                m->st.mappings_expired++;
            entry_free(m, e);
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
                                                 .assured = e->assured};
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
