/*
 * normalize.c: qasm-normalize (docs/NORMALIZE.md). Loads the tc-BPF
 * programs of qasm_normalize.bpf.c, attaches them to the inside interface
 * (ingress and egress: tcx links or the clsact qdisc, nz_hook.h), subscribes to every
 * connection of the tracker (a DUMP, then PUSHes) and mirrors each record
 * into the maps: its DCIDs, its first address, its attested addresses,
 * its server's CID length. Idle connections leave the maps once a second;
 * the programs are detached on every exit path after the attach.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ev.h>

#include "auth.h"
#include "cli.h"
#include "clock.h"
#include "keyfile.h"
#include "log.h"
#include "middleboxes/io/bpf_maps.h"
#include "middleboxes/io/json.h"
#include "middleboxes/io/tracker_session.h"
#include "middleboxes/io/xdp_io.h"
#include "middleboxes/normalize/normalize_maps.h"
#include "middleboxes/normalize/normalize_opts.h"
#include "middleboxes/normalize/nz_hook.h"
#include "middleboxes/normalize/nz_keys.h"
#include "qasm_normalize.skel.h"

#define PROG "qasm-normalize"
#define REQ_SUB 1
#define REQ_DUMP 2
#define REQ_QUERY 16     /* reactive mode's queries: ids from here on */
#define MAX_INFLIGHT 256 /* queries waiting at the tracker (it caps waits per session too) */

struct nz_counters {
    uint64_t records;        /* records and pushes applied */
    uint64_t forgotten;      /* connections removed: closed, expired, evicted */
    uint64_t conns_written;
    uint64_t dcids_written;
    uint64_t attested_written;
    uint64_t map_full;       /* writes refused: a map at its bound */
    uint64_t idle_removed;   /* connections removed by the idle sweep */
    uint64_t orphans_removed; /* DCIDs, attested and first addresses of removed connections */
    uint64_t tracker_errors;
    uint64_t ambiguous;      /* (client, server) pairs claimed by a second connection */
    uint64_t pushes;         /* records pushed (a subscription: proactive mode) */
    uint64_t queries;        /* reactive: queries sent for the kernel's asks */
    uint64_t answers;        /* ... answered with a record */
    uint64_t not_found;      /* ... answered NOT_FOUND (nothing known by the deadline) */
    uint64_t asks_dropped;   /* ... not sent: MAX_INFLIGHT waiting, or the tracker down */
};

struct nz {
    struct qasm_nz_opts o;
    struct qasm_auth_key key;
    struct qasm_normalize *skel;
    int ifindex;
    struct qasm_nz_hook hook;    /* where the programs are attached */
    int stats_fd;                /* --bpf-stats: BPF_ENABLE_STATS held (0: not) */
    struct ev_loop *loop;
    struct qasm_tsess *s;
    ev_timer tick;
    ev_signal sig[3];
    struct ring_buffer *asks;    /* reactive mode: the kernel's asks */
    ev_io asks_io;
    uint32_t next_query;
    uint32_t inflight;
    uint64_t kt;                 /* CLOCK_MONOTONIC of this tick (bpf_ktime_get_ns's clock) */
    struct nz_counters c;
};

/* ---- map writes ---- */

/*
 * The programs' flow cache (normalize_maps.h): after a change to what its
 * decisions rest on, the generation of the bucket of each client address
 * the change is about (the connection's first and current) or, for a
 * server's CID length (rare), of every bucket.
 */
static void bump(struct nz *z, const __u8 *addr, __u16 port)
{
    __atomic_fetch_add(&z->skel->bss->qasm_nz_gens[qasm_nz_bucket(addr, port)], 1,
                       __ATOMIC_SEQ_CST);
}

static void bump_conn(struct nz *z, const struct qasm_nz_conn *v)
{
    bump(z, v->first, v->first_port);
    bump(z, v->cur, v->cur_port);
}

static void bump_all(struct nz *z)
{
    for (size_t i = 0; i < QASM_NZ_GEN_BUCKETS; i++)
        __atomic_fetch_add(&z->skel->bss->qasm_nz_gens[i], 1, __ATOMIC_SEQ_CST);
}

static int put(struct nz *z, struct bpf_map *m, const void *k, size_t ksz, const void *v,
               size_t vsz, uint64_t flags)
{
    return qasm_bpf_put(m, k, ksz, v, vsz, flags, &z->c.map_full, "normalize");
}

/* The connection itself: created at the record's first and current address, or refreshed
 * (the kernel's current address is kept: it follows the packets). */
static void conn_write(struct nz *z, const struct qasm_xdp_ekey *ek,
                       const struct qasm_proto_conn *r)
{
    struct qasm_nz_conn v;
    struct bpf_map *m = z->skel->maps.conns;
    int created = 0;
    if (bpf_map__lookup_elem(m, ek, sizeof(*ek), &v, sizeof(v), BPF_F_LOCK) != 0) {
        memset(&v, 0, sizeof(v));
        v.family = r->clients[0].family;
        qasm_xdp_addr(&r->clients[0], v.first, &v.first_port);
        qasm_xdp_addr(&r->clients[r->current], v.cur, &v.cur_port);
        created = 1;
    }
    v.last_seen = z->kt;
    if (put(z, m, ek, sizeof(*ek), &v, sizeof(v), BPF_F_LOCK) == 0)
        z->c.conns_written++;
    if (created) /* replies to its first address were cached as nobody's */
        bump_conn(z, &v);
}

/* The DCID |k| is connection |ek|'s: if it was another's, that one's cached decisions go. */
static void dcid_write(struct nz *z, const struct qasm_xdp_cid *k, const struct qasm_xdp_ekey *ek)
{
    struct qasm_xdp_ekey old;
    struct qasm_nz_conn v;
    int moved = bpf_map__lookup_elem(z->skel->maps.dcids, k, sizeof(*k), &old, sizeof(old), 0) ==
                        0 && memcmp(&old, ek, sizeof(old)) != 0;
    if (put(z, z->skel->maps.dcids, k, sizeof(*k), ek, sizeof(*ek), BPF_ANY) == 0)
        z->c.dcids_written++;
    if (moved && bpf_map__lookup_elem(z->skel->maps.conns, &old, sizeof(old), &v, sizeof(v),
                                      0) == 0)
        bump_conn(z, &v);
}

/* The server's CID length (a change: every cached decision goes, none tells servers apart). */
static void server_write(struct nz *z, const struct qasm_addr *server, uint32_t len)
{
    struct qasm_xdp_srv sk = qasm_xdp_srv_of(server);
    uint32_t old;
    int changed = bpf_map__lookup_elem(z->skel->maps.servers, &sk, sizeof(sk), &old,
                                       sizeof(old), 0) == 0 && old != len;
    put(z, z->skel->maps.servers, &sk, sizeof(sk), &len, sizeof(len), BPF_ANY);
    if (changed)
        bump_all(z);
}

/*
 * |client| -> |server| claimed by connection |ek| in `byaddr`: created for
 * one connection, made ambiguous (conns 2) when another connection already
 * has it (ambiguity is kept until the owner is gone: never undone by a
 * later record, so a pair of two connections is never normalised by it).
 */
static void byaddr_write(struct nz *z, const struct qasm_xdp_ekey *ek,
                         const struct qasm_addr *client, const struct qasm_addr *server)
{
    struct qasm_nz_pair k = qasm_nz_pair_of(client, server);
    struct qasm_nz_owner v;
    struct bpf_map *m = z->skel->maps.byaddr;
    if (bpf_map__lookup_elem(m, &k, sizeof(k), &v, sizeof(v), 0) != 0) {
        memset(&v, 0, sizeof(v));
        v.conn = *ek;
        v.conns = 1;
    } else if (memcmp(&v.conn, ek, sizeof(*ek)) != 0 && v.conns == 1) {
        v.conns = 2;
        z->c.ambiguous++;
    }
    v.when = z->kt;
    put(z, m, &k, sizeof(k), &v, sizeof(v), BPF_ANY);
}

/* A record (an answer to the DUMP or a push): everything the programs need to know of it. */
static void record_apply(struct nz *z, const struct qasm_proto_conn *r)
{
    if (r->nclients == 0 || r->current >= r->nclients || r->clients[0].family == 0)
        return;
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_conn(&r->odcid);
    z->c.records++;
    conn_write(z, &ek, r);
    if (r->server.family) { /* replies are known by the first address and the server */
        struct qasm_nz_pair first = qasm_nz_pair_of(&r->clients[0], &r->server);
        put(z, z->skel->maps.firsts, &first, sizeof(first), &ek, sizeof(ek), BPF_ANY);
    }
    if (r->server.family && r->dcid_len)
        server_write(z, &r->server, r->dcid_len);
    for (int i = 0; i < r->ndcids; i++) {
        struct qasm_xdp_cid k = qasm_xdp_cid_of(&r->dcids[i].cid);
        dcid_write(z, &k, &ek);
    }
    for (int i = 1; i < r->nclients; i++) {
        struct qasm_xdp_attest k = qasm_xdp_attest_of(&ek, &r->clients[i]);
        if (put(z, z->skel->maps.attested, &k, sizeof(k), &z->kt, sizeof(z->kt), BPF_ANY) == 0)
            z->c.attested_written++;
    }
    for (int i = 0; i < r->nclients && r->server.family; i++)
        if (r->clients[i].family == r->clients[0].family)
            byaddr_write(z, &ek, &r->clients[i], &r->server);
}

/* The connection is gone (closed, expired, evicted): out of every map now. */
static void record_forget(struct nz *z, const struct qasm_proto_conn *r)
{
    struct qasm_xdp_ekey ek = qasm_xdp_ekey_conn(&r->odcid);
    struct qasm_nz_conn v;
    int had = bpf_map__lookup_elem(z->skel->maps.conns, &ek, sizeof(ek), &v, sizeof(v),
                                   BPF_F_LOCK) == 0;
    if (bpf_map__delete_elem(z->skel->maps.conns, &ek, sizeof(ek), 0) == 0)
        z->c.forgotten++;
    for (int i = 0; i < r->ndcids; i++) {
        struct qasm_xdp_cid k = qasm_xdp_cid_of(&r->dcids[i].cid);
        bpf_map__delete_elem(z->skel->maps.dcids, &k, sizeof(k), 0);
    }
    for (int i = 0; i < r->nclients; i++) {
        struct qasm_xdp_attest k = qasm_xdp_attest_of(&ek, &r->clients[i]);
        bpf_map__delete_elem(z->skel->maps.attested, &k, sizeof(k), 0);
        if (!r->server.family)
            continue;
        struct qasm_nz_pair pk = qasm_nz_pair_of(&r->clients[i], &r->server);
        struct qasm_nz_owner o;
        if (bpf_map__lookup_elem(z->skel->maps.byaddr, &pk, sizeof(pk), &o, sizeof(o), 0) == 0 &&
            memcmp(&o.conn, &ek, sizeof(ek)) == 0)
            bpf_map__delete_elem(z->skel->maps.byaddr, &pk, sizeof(pk), 0);
    }
    if (r->nclients && r->server.family) { /* only if still ours: a newer one may have it */
        struct qasm_nz_pair first = qasm_nz_pair_of(&r->clients[0], &r->server);
        struct qasm_xdp_ekey owner;
        if (bpf_map__lookup_elem(z->skel->maps.firsts, &first, sizeof(first), &owner,
                                 sizeof(owner), 0) == 0 && memcmp(&owner, &ek, sizeof(ek)) == 0)
            bpf_map__delete_elem(z->skel->maps.firsts, &first, sizeof(first), 0);
    }
    if (had) /* after the deletes: a decision cached before them stands no more */
        bump_conn(z, &v);
}

/* ---- the tracker ---- */

/* The programs' configuration: the hold, only while the tracker can end it. */
static int config_write(struct nz *z, int up)
{
    struct qasm_nz_cfg c;
    memset(&c, 0, sizeof(c));
    c.hold_ns = z->o.hold;
    c.tracker_up = (uint32_t)up;
    c.reactive = z->o.mode == QASM_NZ_REACTIVE;
    uint32_t zero = 0;
    return bpf_map__update_elem(z->skel->maps.config, &zero, sizeof(zero), &c, sizeof(c), 0);
}

static void on_up(void *ud)
{
    struct nz *z = ud;
    struct qasm_proto_msg m;
    z->inflight = 0;
    if (z->o.mode == QASM_NZ_REACTIVE) { /* no subscription: the kernel's asks say what to ask */
        config_write(z, 1);
        qasm_info("normalize: tracker up: reactive, asking about unknown DCIDs and addresses");
        return;
    }
    qasm_proto_msg_init(&m, QASM_PROTO_SUBSCRIBE, REQ_SUB);
    m.u.sub.flags = QASM_PROTO_SUB_ALL;
    int rc = qasm_tsess_send(z->s, &m);
    qasm_proto_msg_init(&m, QASM_PROTO_DUMP, REQ_DUMP);
    rc = rc ? rc : qasm_tsess_send(z->s, &m);
    qasm_tsess_flush(z->s);
    if (rc) {
        qasm_warn("normalize: cannot subscribe to the tracker: %s", strerror(-rc));
        return;
    }
    config_write(z, 1);
    qasm_info("normalize: tracker up: subscribed to every connection");
}

static void on_down(void *ud)
{
    config_write(ud, 0);
    qasm_warn("normalize: tracker down: connections it reported stay normalised until idle; "
              "new migrations pass unchanged until it is back");
}

/* A reply to one of reactive mode's queries: one fewer waiting (|counter|: its kind, or NULL). */
static void query_done(struct nz *z, const struct qasm_proto_msg *m, uint64_t *counter)
{
    if (m->hdr.req_id < REQ_QUERY)
        return;
    if (counter)
        (*counter)++;
    if (z->inflight)
        z->inflight--;
}

static void on_msg(void *ud, const struct qasm_proto_msg *m)
{
    struct nz *z = ud;
    z->kt = (uint64_t)qasm_now();
    switch (m->hdr.type) {
    case QASM_PROTO_RECORD:
        query_done(z, m, &z->c.answers);
        record_apply(z, &m->u.conn);
        break;
    case QASM_PROTO_NOT_FOUND:
        query_done(z, m, &z->c.not_found);
        break;
    case QASM_PROTO_PUSH:
        z->c.pushes++;
        if (m->u.push.event >= QASM_PROTO_EV_CLOSED)
            record_forget(z, &m->u.push.conn);
        else
            record_apply(z, &m->u.push.conn);
        break;
    case QASM_PROTO_ERROR:
        query_done(z, m, NULL);
        z->c.tracker_errors++;
        qasm_warn("normalize: tracker error %u: %s", m->u.error.code, m->u.error.text);
        break;
    default:
        break;
    }
}

/*
 * Reactive mode: the ingress program could not place a packet (an unknown
 * DCID, or a known one from an unattested address) and holds it: ask the
 * tracker, waiting as long as the hold (at least 1 ms) for the DCID to be
 * known and the address attested. The answer's record fills the maps, so
 * the resent packet is normalised.
 */
static int on_ask(void *ctx, void *data, size_t size)
{
    struct nz *z = ctx;
    const struct qasm_nz_ask *a = data;
    if (size < sizeof(*a) || a->cid.len == 0 || a->cid.len > QASM_CID_MAXLEN)
        return 0;
    if (!qasm_tsess_is_up(z->s) || z->inflight >= MAX_INFLIGHT) {
        z->c.asks_dropped++;
        qasm_debug("normalize: ask dropped (%s)",
                   qasm_tsess_is_up(z->s) ? "too many queries waiting" : "tracker down");
        return 0;
    }
    struct qasm_proto_msg m;
    uint32_t id = REQ_QUERY + z->next_query++ % (UINT32_MAX - REQ_QUERY);
    qasm_proto_msg_init(&m, QASM_PROTO_QUERY, id);
    m.u.query.dcid.len = a->cid.len;
    memcpy(m.u.query.dcid.data, a->cid.data, a->cid.len);
    uint64_t ms = z->o.hold / QASM_MS;
    m.u.query.wait_ms = ms ? (uint32_t)(ms < 1000 ? ms : 1000) : 1;
    m.u.query.client.family = a->family; /* the wait also lasts until it is attested */
    memcpy(m.u.query.client.ip, a->addr, 16);
    m.u.query.client.port = ntohs(a->port);
    if (qasm_tsess_send(z->s, &m) == 0) {
        z->inflight++;
        z->c.queries++;
    }
    return 0;
}

static void on_asks(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct nz *z = w->data;
    ring_buffer__consume(z->asks);
    qasm_tsess_flush(z->s);
}

/* ---- expiry: idle connections, then what belonged to connections that are gone ---- */

static int has_conn(struct nz *z, const struct qasm_xdp_ekey *ek)
{
    struct qasm_nz_conn v;
    return bpf_map__lookup_elem(z->skel->maps.conns, ek, sizeof(*ek), &v, sizeof(v), 0) == 0;
}

static int sweep_conn(void *ud, const void *k)
{
    struct nz *z = ud;
    struct qasm_nz_conn v;
    struct bpf_map *m = z->skel->maps.conns;
    if (bpf_map__lookup_elem(m, k, sizeof(struct qasm_xdp_ekey), &v, sizeof(v), BPF_F_LOCK) !=
                0 ||
        v.last_seen + (uint64_t)(z->o.idle * 1e9) + QASM_NZ_SEEN_LAG_NS > z->kt)
        return 0;
    if (bpf_map__delete_elem(m, k, sizeof(struct qasm_xdp_ekey), 0) != 0)
        return 0;
    bump_conn(z, &v);
    return 1;
}

static int sweep_dcid(void *ud, const void *k)
{
    struct nz *z = ud;
    struct qasm_xdp_ekey ek;
    struct bpf_map *m = z->skel->maps.dcids;
    if (bpf_map__lookup_elem(m, k, sizeof(struct qasm_xdp_cid), &ek, sizeof(ek), 0) != 0 ||
        has_conn(z, &ek))
        return 0;
    return bpf_map__delete_elem(m, k, sizeof(struct qasm_xdp_cid), 0) == 0;
}

static int sweep_first(void *ud, const void *k)
{
    struct nz *z = ud;
    struct qasm_xdp_ekey ek;
    struct bpf_map *m = z->skel->maps.firsts;
    if (bpf_map__lookup_elem(m, k, sizeof(struct qasm_nz_pair), &ek, sizeof(ek), 0) != 0 ||
        has_conn(z, &ek))
        return 0;
    return bpf_map__delete_elem(m, k, sizeof(struct qasm_nz_pair), 0) == 0;
}

static int sweep_attest(void *ud, const void *k)
{
    struct nz *z = ud;
    const struct qasm_xdp_attest *a = k;
    if (has_conn(z, &a->conn))
        return 0;
    return bpf_map__delete_elem(z->skel->maps.attested, k, sizeof(*a), 0) == 0;
}

static int sweep_byaddr(void *ud, const void *k)
{
    struct nz *z = ud;
    struct qasm_nz_owner o;
    struct bpf_map *m = z->skel->maps.byaddr;
    if (bpf_map__lookup_elem(m, k, sizeof(struct qasm_nz_pair), &o, sizeof(o), 0) != 0 ||
        has_conn(z, &o.conn))
        return 0;
    return bpf_map__delete_elem(m, k, sizeof(struct qasm_nz_pair), 0) == 0;
}

static void sweep(struct nz *z)
{
    size_t max = 8u * QASM_NZ_MAX_CONNS_LIMIT;
    __typeof__(z->skel->maps) *mp = &z->skel->maps;
    z->c.idle_removed += qasm_bpf_walk(mp->conns, sizeof(struct qasm_xdp_ekey), max,
                                       sweep_conn, z);
    z->c.orphans_removed +=
            qasm_bpf_walk(mp->dcids, sizeof(struct qasm_xdp_cid), max, sweep_dcid, z) +
            qasm_bpf_walk(mp->firsts, sizeof(struct qasm_nz_pair), max, sweep_first, z) +
            qasm_bpf_walk(mp->attested, sizeof(struct qasm_xdp_attest), max, sweep_attest, z) +
            qasm_bpf_walk(mp->byaddr, sizeof(struct qasm_nz_pair), max, sweep_byaddr, z);
}

/* ---- stats ---- */

static void u64s(struct qasm_json *j, const char *key, const char *const *names,
                 const uint64_t *v, size_t n)
{
    qasm_json_obj(j, key);
    for (size_t i = 0; i < n; i++)
        qasm_json_u64(j, names[i], v[i]);
    qasm_json_close(j);
}

/* The kernel accounts the programs' run time: --bpf-stats, or kernel.bpf_stats_enabled. */
static int accounting_on(const struct nz *z)
{
    if (z->stats_fd > 0)
        return 1;
    FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
    int on = f && fgetc(f) == '1';
    if (f)
        fclose(f);
    return on;
}

static void stats_fill(struct qasm_json *j, void *ud)
{
    struct nz *z = ud;
    static const char *const knames[] = QASM_NZ_COUNTER_NAMES;
    _Static_assert(sizeof(knames) / sizeof(knames[0]) == QASM_NZ_C_MAX, "one each");
    uint64_t k[QASM_NZ_C_MAX];
    qasm_bpf_percpu_sum(z->skel->maps.counters, QASM_NZ_C_MAX, k);
    qasm_json_str(j, "program", PROG);
    qasm_json_str(j, "inside", z->o.inside);
    qasm_json_str(j, "mode", z->o.mode == QASM_NZ_REACTIVE ? "reactive" : "proactive");
    qasm_json_bool(j, "tracker_up", qasm_tsess_is_up(z->s));
    qasm_json_u64(j, "flow_cache_slots", qasm_nz_cache_slots(z->o.cache_bits));
    qasm_nz_hook_json(&z->hook, j, accounting_on(z));
    u64s(j, "kernel", knames, k, QASM_NZ_C_MAX);
    static const char *const names[] = {
        "records", "forgotten", "conns_written", "dcids_written", "attested_written",
        "map_full", "idle_removed", "orphans_removed", "tracker_errors", "ambiguous",
        "pushes", "queries", "answers", "not_found", "asks_dropped"};
    const uint64_t v[] = {z->c.records, z->c.forgotten, z->c.conns_written, z->c.dcids_written,
                          z->c.attested_written, z->c.map_full, z->c.idle_removed,
                          z->c.orphans_removed, z->c.tracker_errors, z->c.ambiguous,
                          z->c.pushes, z->c.queries, z->c.answers, z->c.not_found,
                          z->c.asks_dropped};
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(v) / sizeof(v[0]), "one each");
    u64s(j, "maps", names, v, sizeof(v) / sizeof(v[0]));
}

static void write_stats(struct nz *z)
{
    if (z->o.stats_json && qasm_json_write_file(z->o.stats_json, stats_fill, z) < 0)
        qasm_warn("normalize: cannot write %s", z->o.stats_json);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct nz *z = w->data;
    z->kt = (uint64_t)qasm_now();
    sweep(z);
    write_stats(z);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct nz *z = w->data;
    if (w->signum == SIGUSR1) { /* fresh stats now (as qasm-mbox) */
        z->kt = (uint64_t)qasm_now();
        write_stats(z);
        return;
    }
    ev_break(loop, EVBREAK_ALL);
}

/* ---- load, attach, detach ---- */

/* The maps' bounds from --max-conns, and the flow cache's from --flow-cache and this kernel's
 * tick (set before load: the per-CPU cache is allocated then). */
static int size_maps(struct nz *z)
{
    uint32_t n = z->o.max_conns;
    __typeof__(z->skel->maps) *mp = &z->skel->maps;
    int rc = qasm_nz_size_cache(z->skel, z->o.cache_bits);
    rc = rc ? rc : bpf_map__set_max_entries(mp->conns, n);
    rc = rc ? rc : bpf_map__set_max_entries(mp->firsts, n);
    rc = rc ? rc : bpf_map__set_max_entries(mp->dcids, 8 * n);
    rc = rc ? rc : bpf_map__set_max_entries(mp->attested, 4 * n);
    rc = rc ? rc : bpf_map__set_max_entries(mp->byaddr, 4 * n);
    return rc;
}

static int load(struct nz *z)
{
    qasm_bpf_log_libbpf();
    if (z->o.bpf_stats && (z->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0) {
        fprintf(stderr, PROG ": --bpf-stats: cannot turn on the kernel's BPF run-time "
                "accounting: %s (BPF_ENABLE_STATS: Linux 5.8+, CAP_SYS_ADMIN)\n", strerror(errno));
        z->stats_fd = 0;
        return -1;
    }
    z->skel = qasm_normalize__open();
    int err = z->skel ? -size_maps(z) : errno;
    if (z->skel && !err && qasm_normalize__load(z->skel) != 0)
        err = errno;
    if (z->skel && !err && config_write(z, 0) != 0)
        err = errno;
    if (z->skel && !err)
        return 0;
    err = err ? err : EINVAL;
    fprintf(stderr, PROG ": cannot load the tc-BPF programs: %s (%s)\n", strerror(err),
            err == EPERM || err == EACCES ? "needs root, or CAP_BPF and CAP_NET_ADMIN; "
                                            "--log-level debug shows the verifier's log"
                                          : "a kernel with BPF and tc clsact");
    return -1;
}

/* Both programs (the ingress one, or hop-bench.sh's stand-in) on the hook --hook says. */
static int attach(struct nz *z)
{
    struct bpf_program *in[] = {[QASM_NZ_BENCH_OFF] = z->skel->progs.qasm_nz_ingress,
                                [QASM_NZ_BENCH_FLOOR] = z->skel->progs.qasm_nz_floor,
                                [QASM_NZ_BENCH_PARSE] = z->skel->progs.qasm_nz_parse};
    const int fds[2] = {bpf_program__fd(in[z->o.bench_ingress]),
                        bpf_program__fd(z->skel->progs.qasm_nz_egress)};
    return qasm_nz_hook_attach(&z->hook, z->o.hook, z->ifindex, z->o.inside, fds);
}

/* ---- main ---- */

static void parse_or_exit(struct nz *z, int argc, char **argv)
{
    char err[256];
    qasm_cli_front(PROG, argc, argv);
    if (qasm_nz_opts_parse(argc, argv, &z->o, err, sizeof(err)) < 0)
        qasm_cli_usage_exit(PROG, err);
    if (z->o.help) {
        fputs(qasm_nz_usage, stdout);
        exit(0);
    }
    int lvl = qasm_log_level_parse(z->o.log_level);
    if (lvl < 0)
        qasm_cli_usage_exitf(PROG, "invalid value for --log-level: '%s'", z->o.log_level);
    qasm_log_init(PROG, (enum qasm_log_level)lvl);
    qasm_cli_resolve_names(PROG, &z->o.names);
    if (z->o.key_file && qasm_keyfile_load(&z->key, z->o.key_file, err, sizeof(err)) < 0)
        qasm_cli_usage_exitf(PROG, "--tracker-key: %s", err);
    z->ifindex = (int)if_nametoindex(z->o.inside);
    if (z->ifindex == 0)
        qasm_cli_usage_exitf(PROG, "--inside: no interface '%s'", z->o.inside);
}

static int start_loop(struct nz *z)
{
    static const struct qasm_tsess_callbacks cb = {on_up, on_down, on_msg};
    z->loop = EV_DEFAULT;
    int rc = qasm_tsess_new(&z->s, z->loop, &z->o.tracker, &z->key, &cb, z);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot start the tracker session: %s\n", strerror(-rc));
        return -1;
    }
    if (z->o.mode == QASM_NZ_REACTIVE) {
        z->asks = ring_buffer__new(bpf_map__fd(z->skel->maps.asks), on_ask, z, NULL);
        if (!z->asks) {
            fprintf(stderr, PROG ": cannot read the asks ring buffer: %s\n", strerror(errno));
            return -1;
        }
        ev_io_init(&z->asks_io, on_asks, ring_buffer__epoll_fd(z->asks), EV_READ);
        z->asks_io.data = z;
        ev_io_start(z->loop, &z->asks_io);
    }
    ev_timer_init(&z->tick, on_tick, 1.0, 1.0);
    z->tick.data = z;
    ev_timer_start(z->loop, &z->tick);
    static const int sigs[3] = {SIGINT, SIGTERM, SIGUSR1};
    for (int i = 0; i < 3; i++) {
        ev_signal_init(&z->sig[i], on_signal, sigs[i]);
        z->sig[i].data = z;
        ev_signal_start(z->loop, &z->sig[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct nz z;
    parse_or_exit(&z, argc, argv);
    int rc = load(&z) == 0 && attach(&z) == 0 && start_loop(&z) == 0 ? 0 : 1;
    if (rc == 0) {
        char t[64];
        char cache[64] = "no flow cache";
        if (z.o.cache_bits)
            snprintf(cache, sizeof(cache), "a flow cache of %llu slots per CPU",
                     (unsigned long long)qasm_nz_cache_slots(z.o.cache_bits));
        qasm_info("normalize: attached to %s (%s ingress and egress), %u connections at most, "
                  "%s; tracker %s", z.o.inside, qasm_nz_hook_name(&z.hook), z.o.max_conns, cache,
                  qasm_addr_format(t, sizeof(t), &z.o.tracker));
        z.kt = (uint64_t)qasm_now();
        write_stats(&z);
        ev_run(z.loop, 0);
        write_stats(&z);
    }
    qasm_nz_hook_detach(&z.hook);
    ring_buffer__free(z.asks);
    qasm_tsess_del(z.s);
    qasm_normalize__destroy(z.skel);
    if (z.stats_fd > 0)
        close(z.stats_fd);
    if (rc == 0)
        qasm_info("normalize: detached from %s", z.o.inside);
    return rc;
}
