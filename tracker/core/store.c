/*
 * store.c: the tracker's connection store (see store.h).
 *
 * Layout, chosen for memory (docs/BENCHMARKS.md, "Tracker"):
 * - connections and DCID entries live in chunked pools (no per-entry
 *   malloc header, stable addresses for the hash tables);
 * - the connection table is hashed on the O-DCID only, so one table
 *   answers both "(O-DCID, first client)" and "O-DCID" lookups;
 * - the DCID table holds active DCIDs and retired ones (tombstones, so a
 *   late DCID_NEW cannot revive a retired DCID);
 * - a connection keeps its first client address inline and allocates an
 *   array only when the client migrates;
 * - two lists (<sys/queue.h> TAILQs through the connection) order
 *   connections for expiry: live ones by last activity (TTL), closed ones
 *   by close time (linger); a third per reporting prefix, for eviction.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "hash.h"
#include "hmac.h"
#include "htab.h"

#define MAX_EXTRA (QASM_PROTO_MAX_CLIENTS - 1)
#define MAX_TOMBS QASM_PROTO_MAX_DCIDS
#define POOL_CHUNK_BYTES (64 * 1024)

/* ---- pools ------------------------------------------------------------ */

struct pool {
    size_t size;      /* entry size */
    size_t per_chunk; /* entries per chunk */
    char **chunks;
    size_t nchunks;
    size_t capchunks;
    size_t carved;    /* entries handed out from the last chunk */
    void *free_list;
};

static void pool_init(struct pool *p, size_t size)
{
    memset(p, 0, sizeof(*p));
    p->size = (size + 7) & ~(size_t)7;
    p->per_chunk = POOL_CHUNK_BYTES / p->size;
    p->carved = p->per_chunk;
}

static void *pool_get(struct pool *p)
{
    void *e;
    if (p->free_list) {
        e = p->free_list;
        p->free_list = *(void **)e;
    } else {
        if (p->carved == p->per_chunk) {
            if (p->nchunks == p->capchunks) {
                size_t ncap = p->capchunks ? p->capchunks * 2 : 16;
                char **nc = realloc(p->chunks, ncap * sizeof(*nc));
                if (nc == NULL)
                    return NULL;
                p->chunks = nc;
                p->capchunks = ncap;
            }
            char *chunk = malloc(p->per_chunk * p->size);
            if (chunk == NULL)
                return NULL;
            p->chunks[p->nchunks++] = chunk;
            p->carved = 0;
        }
        e = p->chunks[p->nchunks - 1] + p->carved * p->size;
        p->carved++;
    }
    memset(e, 0, p->size);
    return e;
}

static void pool_put(struct pool *p, void *e)
{
    *(void **)e = p->free_list;
    p->free_list = e;
}

static void pool_free(struct pool *p)
{
    for (size_t i = 0; i < p->nchunks; i++)
        free(p->chunks[i]);
    free(p->chunks);
    memset(p, 0, sizeof(*p));
}

static size_t pool_bytes(const struct pool *p)
{
    return p->nchunks * p->per_chunk * p->size + p->capchunks * sizeof(char *);
}

/* ---- entries ------------------------------------------------------------ */

struct client {
    struct qasm_addr addr;
    uint32_t seq; /* highest report seq that named this address as current */
};

struct pfxent;

/* Connections in the order they were last reported (or closed): oldest first. */
TAILQ_HEAD(conn_list, qasm_store_conn);

struct ipent {
    struct qasm_addr ip; /* port 0 */
    uint32_t count;
    struct pfxent *pfx;  /* the IP's prefix (/24, /48) */
};

/* A reporting prefix: its connections in least recently reported order. */
struct pfxent {
    struct qasm_addr prefix; /* masked, port 0 */
    uint32_t count;
    struct conn_list conns;
};

/*
 * A DCID entry (40 bytes). The connection's list of entries ends with a
 * tagged pointer to the connection itself (bit 0 set) instead of NULL, so
 * an entry finds its connection without a pointer of its own.
 */
struct dent {
    struct dent *next; /* next in the connection's list, or the tagged owner */
    uint64_t seq;      /* QUIC CID sequence number */
    struct qasm_cid cid;
    uint8_t retired;
};

struct qasm_store_conn {
    TAILQ_ENTRY(qasm_store_conn) link;  /* expiry list: the store's live or closed one */
    TAILQ_ENTRY(qasm_store_conn) plink; /* the owner's prefix list (eviction) */
    struct dent *dents;           /* active and retired DCIDs; ends with list_end(conn) */
    struct client *extra;         /* client addresses after the first, NULL if none */
    struct ipent *owner;          /* reporting IP charged for this connection */
    void *user;
    qasm_tstamp last_seen;        /* last report; close time once closed */
    qasm_tstamp created;          /* for qasm_store_conn_times */
    struct qasm_addr client0;
    struct qasm_addr server;
    struct qasm_cid odcid;
    struct qasm_cid scid;
    uint8_t dcid_len;
    uint8_t flags;                /* QASM_PROTO_REC_* */
    uint8_t nextra;
    uint8_t nactive;
    uint8_t ntombs;
    uint8_t replica;              /* 1: a copy of another tracker's record (qasm_store_apply) */
    uint8_t has_secret;           /* 0 only for a replica whose publisher sent no secret */
    uint32_t client0_seq;
    uint32_t last_seq;
    uint32_t rev;
    qasm_tstamp synced;           /* the shell's own timestamp (e.g. last write to Redis) */
    uint8_t secret[QASM_PROTO_SECRET_LEN]; /* the owner's, from its OPEN or REFRESH */
};

static struct dent *list_end(const struct qasm_store_conn *c)
{
    return (struct dent *)((uintptr_t)c | 1);
}

static int is_end(const struct dent *d)
{
    return ((uintptr_t)d & 1) != 0;
}

static struct qasm_store_conn *dent_conn(const struct dent *d)
{
    while (!is_end(d->next))
        d = d->next;
    return (struct qasm_store_conn *)((uintptr_t)d->next & ~(uintptr_t)1);
}

struct qasm_store {
    struct qasm_store_config cfg;
    qasm_store_event_fn cb;
    void *cb_arg;
    struct qasm_htab *conns; /* hash(odcid) -> conn */
    struct qasm_htab *dcids; /* hash(cid) -> dent */
    struct qasm_htab *ips;   /* hash(ip) -> ipent */
    struct qasm_htab *pfxs;  /* hash(prefix) -> pfxent */
    struct pool conn_pool;
    struct pool dent_pool;
    struct pool ip_pool;
    struct pool pfx_pool;
    struct conn_list live;
    struct conn_list closed;
    struct pfxent *biggest;  /* the prefix holding the most connections (approximately) */
    LIST_HEAD(, qasm_store_cursor) cursors; /* open dump cursors */
    size_t extra_bytes;
    struct qasm_store_stats st;
};

/* ---- keys --------------------------------------------------------------- */

struct ckey {
    const struct qasm_cid *odcid;
    const struct qasm_addr *client0; /* exact key when set */
    const struct qasm_addr *server;  /* else optional server filter */
};

struct dkey {
    const struct qasm_cid *cid;
    const struct qasm_addr *server;
};

static int server_match(const struct qasm_store_conn *c, const struct qasm_addr *server)
{
    return server == NULL || server->family == 0 || c->server.family == 0 ||
           qasm_addr_eq(&c->server, server);
}

static int conn_eq(const void *entry, const void *key)
{
    const struct qasm_store_conn *c = entry;
    const struct ckey *k = key;
    if (!qasm_cid_eq(&c->odcid, k->odcid))
        return 0;
    if (k->client0)
        return qasm_addr_eq(&c->client0, k->client0);
    return server_match(c, k->server);
}

static int dent_eq(const void *entry, const void *key)
{
    const struct dent *d = entry;
    const struct dkey *k = key;
    if (!qasm_cid_eq(&d->cid, k->cid))
        return 0;
    /* Walk to the owner only when a server filter asks for it. */
    return k->server == NULL || k->server->family == 0 || server_match(dent_conn(d), k->server);
}

static int ip_eq(const void *entry, const void *key)
{
    const struct ipent *e = entry;
    return qasm_addr_eq(&e->ip, key);
}

static int pfx_eq(const void *entry, const void *key)
{
    const struct pfxent *e = entry;
    return qasm_addr_eq(&e->prefix, key);
}

static uint64_t conn_hash(const struct qasm_store *s, const struct qasm_cid *odcid)
{
    return qasm_cid_hash(odcid, s->cfg.seed);
}

static uint64_t dent_hash(const struct qasm_store *s, const struct qasm_cid *cid)
{
    return qasm_cid_hash(cid, s->cfg.seed ^ 0x9e3779b97f4a7c15ULL);
}

static uint64_t ip_hash(const struct qasm_store *s, const struct qasm_addr *ip)
{
    return qasm_addr_hash(ip, s->cfg.seed ^ 0x5851f42d4c957f2dULL);
}

/* ---- lists ------------------------------------------------------------- */

/* The phase of a cursor walking list |l|: 0 live, 1 closed. */
static int list_phase(const struct qasm_store *s, const struct conn_list *l)
{
    return l == &s->closed;
}

/*
 * Open cursors step over a connection leaving their list (so they never
 * hold a freed one) and pick up one appended when they stand at the end.
 */
static void list_unlink(struct qasm_store *s, struct conn_list *l, struct qasm_store_conn *c)
{
    struct qasm_store_cursor *k;
    LIST_FOREACH(k, &s->cursors, link)
        if (k->at == c)
            k->at = TAILQ_NEXT(c, link);
    TAILQ_REMOVE(l, c, link);
}

static void list_append(struct qasm_store *s, struct conn_list *l, struct qasm_store_conn *c)
{
    TAILQ_INSERT_TAIL(l, c, link);
    struct qasm_store_cursor *k;
    LIST_FOREACH(k, &s->cursors, link)
        if (k->at == NULL && k->phase == list_phase(s, l))
            k->at = c;
}

/* A report for |c| at |now|: it becomes the most recently seen, in all and in its prefix. */
static void touch(struct qasm_store *s, struct qasm_store_conn *c, qasm_tstamp now)
{
    c->last_seen = now;
    list_unlink(s, &s->live, c);
    list_append(s, &s->live, c);
    if (c->owner) {
        TAILQ_REMOVE(&c->owner->pfx->conns, c, plink);
        TAILQ_INSERT_TAIL(&c->owner->pfx->conns, c, plink);
    }
}

/* ---- public: lifecycle ---------------------------------------------------- */

void qasm_store_config_default(struct qasm_store_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ttl = 120 * QASM_SEC;
    cfg->close_linger = 2 * QASM_SEC;
    cfg->max_conns = 1000000;
    cfg->max_per_ip = 1024;
    cfg->trust_any = 0;
    cfg->expected = 1024;
    cfg->seed = 0x243f6a8885a308d3ULL;
}

int qasm_store_new(struct qasm_store **ps, const struct qasm_store_config *cfg,
                   qasm_store_event_fn cb, void *cb_arg)
{
    *ps = NULL;
    if (cfg->ttl == 0)
        return -EINVAL;
    struct qasm_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->cfg = *cfg;
    s->cb = cb;
    s->cb_arg = cb_arg;
    size_t expected = cfg->expected ? cfg->expected : 1024;
    if (qasm_htab_new(&s->conns, expected, conn_eq) < 0)
        goto fail_conns;
    if (qasm_htab_new(&s->dcids, expected * 2, dent_eq) < 0)
        goto fail_dcids;
    if (qasm_htab_new(&s->ips, 64, ip_eq) < 0)
        goto fail_ips;
    if (qasm_htab_new(&s->pfxs, 64, pfx_eq) < 0)
        goto fail_pfxs;
    pool_init(&s->conn_pool, sizeof(struct qasm_store_conn));
    pool_init(&s->dent_pool, sizeof(struct dent));
    pool_init(&s->ip_pool, sizeof(struct ipent));
    pool_init(&s->pfx_pool, sizeof(struct pfxent));
    TAILQ_INIT(&s->live);
    TAILQ_INIT(&s->closed);
    LIST_INIT(&s->cursors);
    *ps = s;
    return 0;

fail_pfxs:
    qasm_htab_del(s->ips);
fail_ips:
    qasm_htab_del(s->dcids);
fail_dcids:
    qasm_htab_del(s->conns);
fail_conns:
    free(s);
    return -ENOMEM;
}

void qasm_store_del(struct qasm_store *s)
{
    if (s == NULL)
        return;
    size_t pos = 0;
    struct qasm_store_conn *c;
    while ((c = qasm_htab_next(s->conns, &pos)) != NULL)
        free(c->extra);
    qasm_htab_del(s->conns);
    qasm_htab_del(s->dcids);
    qasm_htab_del(s->ips);
    qasm_htab_del(s->pfxs);
    pool_free(&s->conn_pool);
    pool_free(&s->dent_pool);
    pool_free(&s->ip_pool);
    pool_free(&s->pfx_pool);
    free(s);
}

/* ---- connections ------------------------------------------------------- */

static void emit(struct qasm_store *s, struct qasm_store_conn *c, uint8_t event)
{
    if (s->cb)
        s->cb(s->cb_arg, c, event);
}

/* Free |d|, already unlinked from (or being dropped with) connection |c|. */
static void dent_free(struct qasm_store *s, struct qasm_store_conn *c, struct dent *d)
{
    qasm_htab_remove_ptr(s->dcids, dent_hash(s, &d->cid), d);
    if (d->retired) {
        c->ntombs--;
        s->st.tombstones--;
    } else {
        c->nactive--;
        s->st.dcids--;
    }
    pool_put(&s->dent_pool, d);
}

static void dent_unlink(struct qasm_store_conn *c, struct dent *d)
{
    for (struct dent **pp = &c->dents; !is_end(*pp); pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            d->next = NULL;
            return;
        }
    }
}

static void conn_remove(struct qasm_store *s, struct qasm_store_conn *c)
{
    struct dent *d = c->dents;
    while (!is_end(d)) {
        struct dent *next = d->next;
        dent_free(s, c, d);
        d = next;
    }
    c->dents = list_end(c);
    if (c->extra) {
        s->extra_bytes -= MAX_EXTRA * sizeof(struct client);
        free(c->extra);
    }
    if (c->owner) {
        struct pfxent *p = c->owner->pfx;
        TAILQ_REMOVE(&p->conns, c, plink);
        if (--p->count == 0) {
            if (s->biggest == p)
                s->biggest = NULL;
            qasm_htab_remove_ptr(s->pfxs, ip_hash(s, &p->prefix), p);
            pool_put(&s->pfx_pool, p);
            s->st.prefixes--;
        }
        if (--c->owner->count == 0) {
            qasm_htab_remove_ptr(s->ips, ip_hash(s, &c->owner->ip), c->owner);
            pool_put(&s->ip_pool, c->owner);
            s->st.ips--;
        }
    }
    list_unlink(s, (c->flags & QASM_PROTO_REC_CLOSED) ? &s->closed : &s->live, c);
    qasm_htab_remove_ptr(s->conns, conn_hash(s, &c->odcid), c);
    s->st.conns--;
    pool_put(&s->conn_pool, c);
}

/* |ip| masked to its prefix: /24 for IPv4, /48 for IPv6 (one site, one subscriber). */
static struct qasm_addr prefix_of(const struct qasm_addr *ip)
{
    struct qasm_addr p = *ip;
    unsigned keep = p.family == AF_INET6 ? 6 : 3;
    memset(p.ip + keep, 0, sizeof(p.ip) - keep);
    p.port = 0;
    return p;
}

/* The prefix holding the most connections: cached, found again when it is gone or small. */
static struct pfxent *find_biggest(struct qasm_store *s, uint32_t above)
{
    if (s->biggest && s->biggest->count > above)
        return s->biggest;
    size_t pos = 0;
    struct pfxent *p, *best = NULL;
    while ((p = qasm_htab_next(s->pfxs, &pos)) != NULL)
        if (best == NULL || p->count > best->count)
            best = p;
    s->biggest = best;
    return best;
}

/*
 * At the global cap: a newcomer from a prefix holding |mine| connections
 * evicts the least recently reported connection of the prefix holding the
 * most, if that one holds more than the newcomer's would (so a few prefixes
 * cannot lock every other one out; among equals, the first come stay).
 */
static int evict_for(struct qasm_store *s, uint32_t mine)
{
    struct pfxent *big = find_biggest(s, mine + 1);
    if (big == NULL || big->count <= mine + 1 || TAILQ_EMPTY(&big->conns))
        return -ENOSPC;
    struct qasm_store_conn *victim = TAILQ_FIRST(&big->conns);
    s->st.evicted++;
    emit(s, victim, QASM_PROTO_EV_EVICTED);
    conn_remove(s, victim);
    return 0;
}

/* The IP and prefix entries a new connection from |ip| is charged to (created if new). */
static int charge(struct qasm_store *s, const struct qasm_addr *ip, struct ipent **pip)
{
    uint64_t ih = ip_hash(s, ip);
    struct ipent *owner = qasm_htab_find(s->ips, ih, ip);
    if (owner) {
        *pip = owner;
        return 0;
    }
    struct qasm_addr pa = prefix_of(ip);
    uint64_t ph = ip_hash(s, &pa);
    struct pfxent *p = qasm_htab_find(s->pfxs, ph, &pa);
    int newp = p == NULL;
    if (newp) {
        p = pool_get(&s->pfx_pool);
        if (p == NULL)
            return -ENOMEM;
        p->prefix = pa;
        TAILQ_INIT(&p->conns);
        if (qasm_htab_insert(s->pfxs, ph, p) < 0) {
            pool_put(&s->pfx_pool, p);
            return -ENOMEM;
        }
        s->st.prefixes++;
    }
    owner = pool_get(&s->ip_pool);
    if (owner == NULL || qasm_htab_insert(s->ips, ih, owner) < 0) {
        if (owner)
            pool_put(&s->ip_pool, owner);
        if (newp) {
            qasm_htab_remove_ptr(s->pfxs, ph, p);
            pool_put(&s->pfx_pool, p);
            s->st.prefixes--;
        }
        return -ENOMEM;
    }
    owner->ip = *ip;
    owner->pfx = p;
    s->st.ips++;
    *pip = owner;
    return 0;
}

/* Drop the entries charge() made for a connection that was not created. */
static void uncharge_empty(struct qasm_store *s, struct ipent *owner)
{
    if (owner->count > 0)
        return;
    struct pfxent *p = owner->pfx;
    qasm_htab_remove_ptr(s->ips, ip_hash(s, &owner->ip), owner);
    pool_put(&s->ip_pool, owner);
    s->st.ips--;
    if (p->count == 0) {
        if (s->biggest == p)
            s->biggest = NULL;
        qasm_htab_remove_ptr(s->pfxs, ip_hash(s, &p->prefix), p);
        pool_put(&s->pfx_pool, p);
        s->st.prefixes--;
    }
}

/* Whether the caps let |ip| (prefix |pa|) have one more connection; may evict. */
static int admit(struct qasm_store *s, const struct qasm_addr *ip)
{
    struct ipent *owner = qasm_htab_find(s->ips, ip_hash(s, ip), ip);
    if (owner && s->cfg.max_per_ip && owner->count >= s->cfg.max_per_ip) {
        s->st.rejected_ip_cap++;
        return -EDQUOT;
    }
    struct qasm_addr pa = prefix_of(ip);
    struct pfxent *p = qasm_htab_find(s->pfxs, ip_hash(s, &pa), &pa);
    uint32_t mine = p ? p->count : 0;
    if (s->cfg.max_per_prefix && mine >= s->cfg.max_per_prefix) {
        s->st.rejected_prefix_cap++;
        return -EDQUOT;
    }
    if (s->cfg.max_conns && s->st.conns >= s->cfg.max_conns &&
        (!s->cfg.evict || evict_for(s, mine) < 0)) {
        s->st.rejected_full++;
        return -ENOSPC;
    }
    return 0;
}

static int conn_create(struct qasm_store *s, const struct qasm_proto_report *r,
                       const struct qasm_addr *src, qasm_tstamp now,
                       struct qasm_store_conn **pc)
{
    struct qasm_addr ip = (src && src->family) ? *src : r->client;
    ip.port = 0;
    int rv = admit(s, &ip);
    if (rv < 0)
        return rv;
    struct ipent *owner;
    struct qasm_store_conn *c = pool_get(&s->conn_pool);
    if (c == NULL)
        goto fail_conn;
    if (charge(s, &ip, &owner) < 0)
        goto fail_charge;
    c->odcid = r->odcid;
    c->client0 = r->client0;
    c->dents = list_end(c);
    if (qasm_htab_insert(s->conns, conn_hash(s, &c->odcid), c) < 0)
        goto fail_insert;
    owner->count++;
    c->owner = owner;
    struct pfxent *p = owner->pfx;
    p->count++;
    TAILQ_INSERT_TAIL(&p->conns, c, plink);
    if (s->biggest == NULL || p->count > s->biggest->count)
        s->biggest = p;
    c->last_seen = now;
    c->created = now;
    list_append(s, &s->live, c);
    s->st.conns++;
    s->st.created++;
    *pc = c;
    return 0;

fail_insert:
    uncharge_empty(s, owner);
fail_charge:
    pool_put(&s->conn_pool, c);
fail_conn:
    s->st.nomem++;
    return -ENOMEM;
}

/* Index of the current client address: the one with the highest seq (first on ties). */
static unsigned current_client(const struct qasm_store_conn *c)
{
    unsigned best = 0;
    uint32_t seq = c->client0_seq;
    for (unsigned i = 0; i < c->nextra; i++) {
        if (c->extra[i].seq > seq) {
            seq = c->extra[i].seq;
            best = i + 1;
        }
    }
    return best;
}

/* Record that |addr| was the current address at report |seq| (0: only a member). */
static int client_seen(struct qasm_store *s, struct qasm_store_conn *c,
                       const struct qasm_addr *addr, uint32_t seq)
{
    unsigned before = current_client(c);
    if (qasm_addr_eq(addr, &c->client0)) {
        if (seq > c->client0_seq)
            c->client0_seq = seq;
        return current_client(c) != before;
    }
    for (unsigned i = 0; i < c->nextra; i++) {
        if (qasm_addr_eq(addr, &c->extra[i].addr)) {
            if (seq > c->extra[i].seq)
                c->extra[i].seq = seq;
            return current_client(c) != before;
        }
    }
    if (c->extra == NULL) {
        c->extra = malloc(MAX_EXTRA * sizeof(struct client));
        if (c->extra == NULL) {
            s->st.nomem++;
            return 0;
        }
        s->extra_bytes += MAX_EXTRA * sizeof(struct client);
    }
    unsigned slot = c->nextra;
    if (c->nextra == MAX_EXTRA) {
        /* Full: drop the least recently current non-key address, unless it is newer. */
        slot = 0;
        for (unsigned i = 1; i < c->nextra; i++)
            if (c->extra[i].seq < c->extra[slot].seq)
                slot = i;
        if (seq == 0 || c->extra[slot].seq > seq) {
            s->st.addr_overflow++;
            return 0; /* older than everything we hold */
        }
        s->st.addr_overflow++;
        memmove(&c->extra[slot], &c->extra[slot + 1],
                (size_t)(c->nextra - slot - 1) * sizeof(struct client));
        slot = --c->nextra;
    }
    c->extra[slot].addr = *addr;
    c->extra[slot].seq = seq;
    c->nextra++;
    return 1;
}

static struct dent *own_dent(const struct qasm_store_conn *c, const struct qasm_cid *cid)
{
    for (struct dent *d = c->dents; !is_end(d); d = d->next)
        if (qasm_cid_eq(&d->cid, cid))
            return d;
    return NULL;
}

/* Drop the retired entry with the lowest sequence number when over the bound. */
static void trim_tombs(struct qasm_store *s, struct qasm_store_conn *c)
{
    while (c->ntombs > MAX_TOMBS) {
        struct dent *low = NULL;
        for (struct dent *d = c->dents; !is_end(d); d = d->next)
            if (d->retired && (low == NULL || d->seq < low->seq))
                low = d;
        dent_unlink(c, low);
        dent_free(s, c, low);
    }
}

static void retire(struct qasm_store *s, struct qasm_store_conn *c, struct dent *d)
{
    d->retired = 1;
    c->nactive--;
    c->ntombs++;
    s->st.dcids--;
    s->st.tombstones++;
    trim_tombs(s, c);
}

/* Returns 1 if |cid| became active in |c|. */
static int dcid_add(struct qasm_store *s, struct qasm_store_conn *c, const struct qasm_cid *cid,
                    uint64_t seq)
{
    if (cid->len == 0 || qasm_cid_eq(cid, &c->odcid))
        return 0;
    struct dent *d = own_dent(c, cid);
    if (d) {
        if (!d->retired)
            d->seq = seq;
        return 0; /* duplicate, or a late report for a retired DCID */
    }
    struct dkey k = { cid, &c->server };
    uint64_t h = dent_hash(s, cid);
    d = qasm_htab_find(s->dcids, h, &k);
    if (d) {
        /* Another connection had this DCID: the newest report wins. */
        s->st.dcid_conflicts++;
        struct qasm_store_conn *old = dent_conn(d);
        dent_unlink(old, d);
        if (d->retired) {
            old->ntombs--;
            s->st.tombstones--;
        } else {
            old->nactive--;
            s->st.dcids--;
        }
        old->rev++;
    } else {
        d = pool_get(&s->dent_pool);
        if (d == NULL) {
            s->st.nomem++;
            return 0;
        }
        d->cid = *cid;
        d->next = list_end(c);
        if (qasm_htab_insert(s->dcids, h, d) < 0) {
            pool_put(&s->dent_pool, d);
            s->st.nomem++;
            return 0;
        }
    }
    d->next = list_end(c); /* dent_eq must find an owner until it is linked */
    if (c->nactive >= QASM_PROTO_MAX_DCIDS) {
        /* Its retirement was probably lost: retire the oldest. */
        struct dent *low = NULL;
        for (struct dent *x = c->dents; !is_end(x); x = x->next)
            if (!x->retired && (low == NULL || x->seq < low->seq))
                low = x;
        s->st.dcid_overflow++;
        retire(s, c, low);
    }
    d->seq = seq;
    d->retired = 0;
    d->next = c->dents;
    c->dents = d;
    c->nactive++;
    s->st.dcids++;
    return 1;
}

/* Returns 1 if an active DCID of |c| was retired. */
static int dcid_retire(struct qasm_store *s, struct qasm_store_conn *c, const struct qasm_cid *cid,
                       uint64_t seq)
{
    if (cid->len == 0 || qasm_cid_eq(cid, &c->odcid))
        return 0;
    struct dent *d = own_dent(c, cid);
    if (d) {
        if (d->retired)
            return 0;
        retire(s, c, d);
        return 1;
    }
    /* Unknown yet (reordered): remember the retirement. */
    uint64_t h = dent_hash(s, cid);
    struct dkey k = { cid, &c->server };
    if (qasm_htab_find(s->dcids, h, &k) != NULL)
        return 0; /* another connection's DCID: leave it alone */
    d = pool_get(&s->dent_pool);
    if (d == NULL) {
        s->st.nomem++;
        return 0;
    }
    d->cid = *cid;
    d->seq = seq;
    d->retired = 1;
    d->next = list_end(c); /* for dent_eq during the insert; linked below */
    if (qasm_htab_insert(s->dcids, h, d) < 0) {
        pool_put(&s->dent_pool, d);
        s->st.nomem++;
        return 0;
    }
    d->next = c->dents;
    c->dents = d;
    c->ntombs++;
    s->st.tombstones++;
    trim_tombs(s, c);
    return 0;
}

static int apply_refresh(struct qasm_store *s, struct qasm_store_conn *c,
                         const struct qasm_proto_report *r, int newer)
{
    const struct qasm_proto_conn *rc = &r->conn;
    int changed = 0;
    if (rc->scid.len && !qasm_cid_eq(&rc->scid, &c->scid) && (newer || c->scid.len == 0)) {
        c->scid = rc->scid;
        changed = 1;
    }
    if (rc->server.family && !qasm_addr_eq(&rc->server, &c->server) &&
        (newer || c->server.family == 0)) {
        c->server = rc->server;
        changed = 1;
    }
    if (rc->dcid_len && rc->dcid_len != c->dcid_len && (newer || c->dcid_len == 0)) {
        c->dcid_len = rc->dcid_len;
        changed = 1;
    }
    unsigned nd = rc->ndcids < QASM_PROTO_MAX_DCIDS ? rc->ndcids : QASM_PROTO_MAX_DCIDS;
    for (unsigned i = 0; i < nd; i++)
        changed |= dcid_add(s, c, &rc->dcids[i].cid, rc->dcids[i].seq);
    if (newer) {
        /* A newer full state: active DCIDs it does not list were retired. */
        struct dent *gone[QASM_PROTO_MAX_DCIDS];
        unsigned ngone = 0;
        for (struct dent *d = c->dents; !is_end(d); d = d->next) {
            int listed = 0;
            for (unsigned i = 0; i < nd && !listed; i++)
                listed = qasm_cid_eq(&rc->dcids[i].cid, &d->cid);
            if (!d->retired && !listed && ngone < QASM_PROTO_MAX_DCIDS)
                gone[ngone++] = d;
        }
        /* Retire after the walk: retiring may free tombstones of the list. */
        for (unsigned i = 0; i < ngone; i++)
            retire(s, c, gone[i]);
        changed |= ngone > 0;
    }
    unsigned nc = rc->nclients < QASM_PROTO_MAX_CLIENTS ? rc->nclients : QASM_PROTO_MAX_CLIENTS;
    for (unsigned i = 0; i < nc; i++)
        changed |= client_seen(s, c, &rc->clients[i], 0);
    return changed;
}

static int close_conn(struct qasm_store *s, struct qasm_store_conn *c, qasm_tstamp now)
{
    c->flags |= QASM_PROTO_REC_CLOSED;
    c->rev++;
    c->last_seen = now;
    list_unlink(s, &s->live, c);
    list_append(s, &s->closed, c);
    s->st.closed++;
    emit(s, c, QASM_PROTO_EV_CLOSED);
    return QASM_STORE_CHANGED;
}

static int carries_secret(uint8_t type)
{
    return type == QASM_PROTO_REPORT_OPEN || type == QASM_PROTO_REPORT_REFRESH;
}

/*
 * Is |r| from the owner of |c|? The owner is whoever chose the secret at
 * OPEN: every later report must carry a MAC under it, and an OPEN or
 * REFRESH must name the same secret. Returns 0 or -EPERM (counted by reason).
 */
static int check_owner(struct qasm_store *s, const struct qasm_store_conn *c, uint8_t type,
                       const struct qasm_proto_report *r)
{
    if (!c->has_secret || (carries_secret(type) &&
                           !qasm_memeq_ct(r->secret, c->secret, QASM_PROTO_SECRET_LEN))) {
        s->st.rejected_owner++; /* someone else claims the connection */
        return -EPERM;
    }
    if (!qasm_proto_report_has_mac(r)) {
        s->st.rejected_unauth++;
        return -EPERM;
    }
    if (!qasm_proto_report_verify(type, r, c->secret)) {
        s->st.rejected_bad_mac++;
        return -EPERM;
    }
    return 0;
}

/* The checks every report passes before its connection is looked at: 0, -EINVAL or -EACCES. */
static int report_valid(struct qasm_store *s, uint8_t type, const struct qasm_proto_report *r,
                        const struct qasm_addr *src)
{
    if (!qasm_proto_is_report(type)) {
        s->st.rejected_bad++;
        return -EINVAL;
    }
    s->st.reports[type]++;
    if (r->odcid.len == 0 || r->odcid.len > QASM_CID_MAXLEN || r->client0.family == 0 ||
        r->client.family == 0) {
        s->st.rejected_bad++;
        return -EINVAL;
    }
    if (!s->cfg.trust_any && (src == NULL || !qasm_addr_ip_eq(&r->client, src))) {
        s->st.rejected_trust++;
        return -EACCES;
    }
    return 0;
}

/*
 * A report for a connection the store does not hold: only an OPEN or a
 * REFRESH, from the first client address's host, with a MAC under the
 * secret it carries, creates it. Returns 0 (*pc set), QASM_STORE_UNCHANGED
 * (a CLOSE: nothing to close) or a negative error.
 */
static int report_create(struct qasm_store *s, uint8_t type, const struct qasm_proto_report *r,
                         const struct qasm_addr *src, qasm_tstamp now,
                         struct qasm_store_conn **pc)
{
    if (type == QASM_PROTO_REPORT_CLOSE) {
        s->st.unchanged++;
        return QASM_STORE_UNCHANGED;
    }
    if (!carries_secret(type)) {
        /* Nobody could prove ownership later: wait for the OPEN or the next REFRESH. */
        s->st.rejected_unknown++;
        return -ENOENT;
    }
    if (!s->cfg.trust_any && !qasm_addr_ip_eq(&r->client0, src)) {
        /* Only the first client address's host may claim the key: else anyone who
         * read a dump could own a connection the tracker lost (a restart) or has
         * not heard of yet, and list its own address for the victim's DCIDs. */
        s->st.rejected_trust++;
        return -EACCES;
    }
    if (!qasm_proto_report_verify(type, r, r->secret)) {
        if (qasm_proto_report_has_mac(r))
            s->st.rejected_bad_mac++;
        else
            s->st.rejected_unauth++;
        return -EPERM;
    }
    int rv = conn_create(s, r, src, now, pc);
    if (rv < 0)
        return rv;
    memcpy((*pc)->secret, r->secret, sizeof((*pc)->secret));
    (*pc)->has_secret = 1;
    return 0;
}

/*
 * What a report of |type| changes in |c| besides its client address:
 * *event is the push to send if anything changed (REFRESH unless the type
 * names another). Returns whether anything changed.
 */
static int report_apply(struct qasm_store *s, struct qasm_store_conn *c, uint8_t type,
                        const struct qasm_proto_report *r, int newer, uint8_t *event)
{
    int changed = 0;
    switch (type) {
    case QASM_PROTO_REPORT_OPEN:
        if (r->scid.len && !qasm_cid_eq(&r->scid, &c->scid)) {
            c->scid = r->scid;
            changed = 1;
        }
        if (r->server.family && !qasm_addr_eq(&r->server, &c->server) &&
            (newer || c->server.family == 0)) {
            c->server = r->server;
            changed = 1;
        }
        break;
    case QASM_PROTO_REPORT_DCID_NEW:
        if (dcid_add(s, c, &r->dcid.cid, r->dcid.seq)) {
            changed = 1;
            *event = QASM_PROTO_EV_DCID_NEW;
        }
        if (r->dcid.cid.len && r->dcid.cid.len != c->dcid_len && (newer || c->dcid_len == 0)) {
            c->dcid_len = r->dcid.cid.len;
            changed = 1;
        }
        break;
    case QASM_PROTO_REPORT_DCID_RETIRE:
        if (dcid_retire(s, c, &r->dcid.cid, r->dcid.seq)) {
            changed = 1;
            *event = QASM_PROTO_EV_DCID_RETIRE;
        }
        break;
    case QASM_PROTO_REPORT_ADDR:
        *event = QASM_PROTO_EV_ADDR;
        break;
    case QASM_PROTO_REPORT_REFRESH:
        changed = apply_refresh(s, c, r, newer);
        break;
    default:
        break;
    }
    return changed;
}

int qasm_store_report(struct qasm_store *s, uint8_t type, const struct qasm_proto_report *r,
                      const struct qasm_addr *src, qasm_tstamp now)
{
    int rv = report_valid(s, type, r, src);
    if (rv < 0)
        return rv;
    struct ckey k = { &r->odcid, &r->client0, NULL };
    struct qasm_store_conn *c = qasm_htab_find(s->conns, conn_hash(s, &r->odcid), &k);
    int created = c == NULL;
    if (created) {
        if ((rv = report_create(s, type, r, src, now, &c)) != 0)
            return rv;
    } else if (check_owner(s, c, type, r) < 0) {
        return -EPERM;
    } else if (c->flags & QASM_PROTO_REC_CLOSED) {
        s->st.ignored_closed++;
        return -ESTALE;
    } else {
        touch(s, c, now);
    }
    c->replica = 0; /* an agent reports it here: this tracker owns it now */

    int newer = created || r->seq > c->last_seq;
    if (r->seq > c->last_seq)
        c->last_seq = r->seq;
    int changed = client_seen(s, c, &r->client, r->seq);
    uint8_t event = QASM_PROTO_EV_REFRESH;
    changed |= report_apply(s, c, type, r, newer, &event);
    if (type == QASM_PROTO_REPORT_CLOSE ||
        (type == QASM_PROTO_REPORT_REFRESH && (r->conn.flags & QASM_PROTO_REC_CLOSED)))
        return close_conn(s, c, now); /* a refresh of a closed connection closes it */
    if (created) {
        c->rev++;
        emit(s, c, QASM_PROTO_EV_OPENED);
        return QASM_STORE_CHANGED;
    }
    if (!changed) {
        s->st.unchanged++;
        return QASM_STORE_UNCHANGED;
    }
    c->rev++;
    emit(s, c, event);
    return QASM_STORE_CHANGED;
}

/* Highest client seq of |c| (for making a replica's current address the current one). */
static uint32_t max_client_seq(const struct qasm_store_conn *c)
{
    uint32_t m = c->client0_seq;
    for (unsigned i = 0; i < c->nextra; i++)
        if (c->extra[i].seq > m)
            m = c->extra[i].seq;
    return m;
}

int qasm_store_apply(struct qasm_store *s, const struct qasm_proto_conn *rec,
                     const uint8_t *secret, uint8_t event, qasm_tstamp now)
{
    if (rec->odcid.len == 0 || rec->odcid.len > QASM_CID_MAXLEN || rec->nclients == 0 ||
        rec->nclients > QASM_PROTO_MAX_CLIENTS || rec->current >= rec->nclients ||
        rec->clients[0].family == 0) {
        s->st.rejected_bad++;
        return -EINVAL;
    }
    struct ckey k = { &rec->odcid, &rec->clients[0], NULL };
    struct qasm_store_conn *c = qasm_htab_find(s->conns, conn_hash(s, &rec->odcid), &k);
    int final = qasm_proto_event_removes(event);
    int created = 0;
    if (c == NULL) {
        if (final || (rec->flags & QASM_PROTO_REC_CLOSED))
            return QASM_STORE_UNCHANGED; /* nothing to show for a gone connection */
        struct qasm_proto_report r;
        memset(&r, 0, sizeof(r));
        r.odcid = rec->odcid;
        r.client0 = rec->clients[0];
        r.client = rec->clients[rec->current];
        int rv = conn_create(s, &r, NULL, now, &c);
        if (rv < 0)
            return rv;
        c->replica = 1;
        created = 1;
    } else if (c->flags & QASM_PROTO_REC_CLOSED) {
        return -ESTALE;
    } else if (final) {
        /* Gone at its owner: whatever the revision. */
    } else if (rec->rev != 0 && rec->rev <= c->rev) {
        /* Same revision: the owner says the connection is still alive. */
        if (rec->rev == c->rev)
            touch(s, c, now);
        return QASM_STORE_UNCHANGED;
    } else {
        touch(s, c, now);
    }
    if (secret) {
        /* The publisher verified its agent's reports: its secret is the owner's. */
        memcpy(c->secret, secret, sizeof(c->secret));
        c->has_secret = 1;
    }
    if (final) {
        if (rec->rev > c->rev)
            c->rev = rec->rev;
        emit(s, c, event);
        if (event == QASM_PROTO_EV_EXPIRED)
            s->st.expired++;
        conn_remove(s, c);
        return QASM_STORE_CHANGED;
    }
    struct qasm_proto_report r;
    memset(&r, 0, sizeof(r));
    r.conn = *rec;
    apply_refresh(s, c, &r, 1);
    client_seen(s, c, &rec->clients[rec->current], max_client_seq(c) + 1);
    if (rec->flags & QASM_PROTO_REC_CLOSED) {
        c->rev = rec->rev ? rec->rev - 1 : c->rev;
        return close_conn(s, c, now);
    }
    c->rev = rec->rev ? rec->rev : c->rev + 1;
    emit(s, c, created ? QASM_PROTO_EV_OPENED : event);
    return QASM_STORE_CHANGED;
}

/* ---- lookups ---------------------------------------------------------- */

struct qasm_store_conn *qasm_store_find(const struct qasm_store *s, const struct qasm_cid *cid,
                                        const struct qasm_addr *server)
{
    struct dkey dk = { cid, server };
    struct dent *d = qasm_htab_find(s->dcids, dent_hash(s, cid), &dk);
    if (d)
        return dent_conn(d);
    struct ckey ck = { cid, NULL, server };
    return qasm_htab_find(s->conns, conn_hash(s, cid), &ck);
}

struct qasm_store_conn *qasm_store_get(const struct qasm_store *s, const struct qasm_cid *odcid,
                                       const struct qasm_addr *client0)
{
    struct ckey k = { odcid, client0, NULL };
    return qasm_htab_find(s->conns, conn_hash(s, odcid), &k);
}

void qasm_store_conn_times(const struct qasm_store *s, const struct qasm_store_conn *c,
                           qasm_tstamp *created, qasm_tstamp *expires)
{
    *created = c->created;
    *expires = c->last_seen + ((c->flags & QASM_PROTO_REC_CLOSED) ? s->cfg.close_linger
                                                                   : s->cfg.ttl);
}

void qasm_store_record(const struct qasm_store_conn *c, struct qasm_proto_conn *out)
{
    out->odcid = c->odcid;
    out->scid = c->scid;
    out->server = c->server;
    out->rev = c->rev;
    out->dcid_len = c->dcid_len;
    out->flags = c->flags;
    out->current = (uint8_t)current_client(c);
    /* Active DCIDs in ascending sequence order (the list is newest first). */
    unsigned n = 0;
    for (const struct dent *d = c->dents; !is_end(d) && n < QASM_PROTO_MAX_DCIDS; d = d->next) {
        if (d->retired)
            continue;
        unsigned i = n++;
        while (i > 0 && out->dcids[i - 1].seq > d->seq) {
            out->dcids[i] = out->dcids[i - 1];
            i--;
        }
        out->dcids[i].cid = d->cid;
        out->dcids[i].seq = d->seq;
    }
    out->ndcids = (uint8_t)n;
    out->clients[0] = c->client0;
    for (unsigned i = 0; i < c->nextra; i++)
        out->clients[i + 1] = c->extra[i].addr;
    out->nclients = (uint8_t)(1 + c->nextra);
}

const struct qasm_cid *qasm_store_conn_odcid(const struct qasm_store_conn *c)
{
    return &c->odcid;
}

int qasm_store_conn_closed(const struct qasm_store_conn *c)
{
    return (c->flags & QASM_PROTO_REC_CLOSED) != 0;
}

void **qasm_store_conn_user(struct qasm_store_conn *c)
{
    return &c->user;
}

int qasm_store_conn_replica(const struct qasm_store_conn *c)
{
    return c->replica;
}

void qasm_store_conn_set_rev(struct qasm_store_conn *c, uint32_t rev)
{
    if (rev > c->rev)
        c->rev = rev;
}

qasm_tstamp *qasm_store_conn_synced(struct qasm_store_conn *c)
{
    return &c->synced;
}

const uint8_t *qasm_store_conn_secret(const struct qasm_store_conn *c)
{
    return c->has_secret ? c->secret : NULL;
}

/* ---- expiry -------------------------------------------------------------- */

size_t qasm_store_expire(struct qasm_store *s, qasm_tstamp now)
{
    size_t n = 0;
    struct qasm_store_conn *c;
    while ((c = TAILQ_FIRST(&s->live)) != NULL && c->last_seen + s->cfg.ttl <= now) {
        emit(s, c, QASM_PROTO_EV_EXPIRED);
        s->st.expired++;
        conn_remove(s, c);
        n++;
    }
    while ((c = TAILQ_FIRST(&s->closed)) != NULL && c->last_seen + s->cfg.close_linger <= now) {
        s->st.removed_closed++;
        conn_remove(s, c);
        n++;
    }
    return n;
}

qasm_duration qasm_store_expire_tick(const struct qasm_store_config *cfg)
{
    qasm_duration tick = cfg->ttl / 8;
    if (cfg->close_linger && cfg->close_linger / 8 < tick)
        tick = cfg->close_linger / 8;
    if (tick > QASM_SEC)
        tick = QASM_SEC;
    if (tick < 10 * QASM_MS)
        tick = 10 * QASM_MS;
    return tick;
}

qasm_tstamp qasm_store_next_deadline(const struct qasm_store *s)
{
    qasm_tstamp t = QASM_TSTAMP_MAX;
    const struct qasm_store_conn *live = TAILQ_FIRST(&s->live), *closed = TAILQ_FIRST(&s->closed);
    if (live)
        t = live->last_seen + s->cfg.ttl;
    if (closed && closed->last_seen + s->cfg.close_linger < t)
        t = closed->last_seen + s->cfg.close_linger;
    return t;
}

struct qasm_store_conn *qasm_store_next(const struct qasm_store *s, size_t *pos)
{
    return qasm_htab_next(s->conns, pos);
}

void qasm_store_cursor_open(struct qasm_store *s, struct qasm_store_cursor *k)
{
    k->phase = 0;
    k->at = TAILQ_FIRST(&s->live);
    LIST_INSERT_HEAD(&s->cursors, k, link);
    k->open = 1;
}

struct qasm_store_conn *qasm_store_cursor_next(struct qasm_store *s, struct qasm_store_cursor *k)
{
    while (k->phase < 2) {
        struct qasm_store_conn *c = k->at;
        if (c) {
            k->at = TAILQ_NEXT(c, link);
            return c;
        }
        k->phase++;
        k->at = k->phase == 1 ? TAILQ_FIRST(&s->closed) : NULL;
    }
    return NULL;
}

void qasm_store_cursor_close(struct qasm_store *s, struct qasm_store_cursor *k)
{
    (void)s;
    if (k->open)
        LIST_REMOVE(k, link);
    k->open = 0;
    k->at = NULL;
    k->phase = 2;
}

size_t qasm_store_count(const struct qasm_store *s)
{
    return qasm_htab_count(s->conns);
}

const struct qasm_store_stats *qasm_store_get_stats(const struct qasm_store *s)
{
    return &s->st;
}

size_t qasm_store_memory(const struct qasm_store *s)
{
    return sizeof(*s) + qasm_htab_memory(s->conns) + qasm_htab_memory(s->dcids) +
           qasm_htab_memory(s->ips) + qasm_htab_memory(s->pfxs) + pool_bytes(&s->conn_pool) +
           pool_bytes(&s->dent_pool) + pool_bytes(&s->ip_pool) + pool_bytes(&s->pfx_pool) +
           s->extra_bytes;
}
