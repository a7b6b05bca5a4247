/*
 * daemon.c: qasm-tracker, the tracking agent (QASM paper §3.3.2, App. A.2).
 * A thin libev shell around the store core (store.h): one thread, one
 * loop. UDP and TCP listen on the same port(s): agents send reports over
 * UDP; middleboxes and qasm-trackctl hold TCP sessions for QUERY (optionally
 * waiting for the DCID to become known), SUBSCRIBE/PUSH, DUMP and STATS.
 * Protocol: docs/PROTOCOL.md.
 */
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "cli.h"
#include "addr.h"
#include "backend.h"
#include "cid.h"
#include "clock.h"
#include "hash.h"
#include "keyfile.h"
#include "budget.h"
#include "daemon_opts.h"
#include "degrade.h"
#include "query.h"
#include "log.h"
#include "metrics_http.h"
#include "parse.h"
#include "proto.h"
#include "sessions.h"
#include "stats.h"
#include "store.h"

#define MAX_LISTEN QASM_TRACKER_MAX_LISTEN
#define UDP_BATCH 64
#define RBUF_SIZE QASM_BUDGET_RBUF

struct session {
    struct tracker *t;
    int fd;
    ev_io rio;
    ev_io wio;
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *wbuf;
    size_t wlen, wcap, woff;
    struct qasm_query_sess q;     /* its waits and subscriptions (tracker/core/query.h) */
    struct qasm_sessions_ent ent; /* peer, key proved, last active (tracker/core/sessions.h) */
    int dead; /* output over the limit: closed from the next I/O callback */
    struct qasm_access_sess auth; /* the key handshake (tracker/core/access.h) */
    int paused;        /* not read: output backed up, or a dump in progress */
    struct session_dump {
        int on;
        uint32_t req_id;
        uint32_t count;
        int times; /* the records carry age and expiry (QASM_PROTO_HDR_TIMES) */
        struct qasm_store_cursor cur;
    } dump;
};

/* One log line per second at most for each kind of refusal. */
struct ratelogs {
    struct qasm_ratelog slow, sessions, subs, idle;
    struct qasm_ratelog unproved, allow;
};

/* Degraded operation, said at the default level (lib/degrade.h): one per cause. */
struct degrades {
    struct qasm_degrade trust; /* reports refused by --trust source */
    struct qasm_degrade owner; /* reports refused as not from the connection's owner */
    struct qasm_degrade key;   /* reports refused by the key policy */
    struct qasm_degrade caps;  /* new connections refused or evicted at a cap */
};

struct tracker {
    struct ev_loop *loop;
    struct qasm_store *store;
    struct qasm_backend *be;      /* shared store (NULL: memory only) */
    qasm_duration store_timeout;  /* how long a QUERY waits for a shared-store lookup */
    int udp_fd[MAX_LISTEN];
    int tcp_fd[MAX_LISTEN];
    ev_io udp_io[MAX_LISTEN];
    ev_io tcp_io[MAX_LISTEN];
    int nlisten;
    ev_timer expire_timer;
    ev_signal sigterm, sigint, sigusr1;
    struct qasm_query *query;     /* waits and subscriptions (tracker/core/query.h) */
    ev_timer wait_timer;          /* at the query core's next wait deadline */
    qasm_tstamp wait_armed;       /* the deadline wait_timer is set for (MAX: stopped) */
    struct qasm_sessions sess;    /* the open sessions, admission, timeouts */
    uint64_t seed;
    size_t wbytes;                /* output buffers of all sessions (capacity) */
    /* configuration */
    qasm_duration max_wait;
    struct qasm_access access;    /* --key, --trust, --allow */
    struct qasm_budget lim;       /* every bound, derived from --max-memory */
    struct qasm_stats_io n;
    struct ratelogs rl;
    struct degrades dg;
    uint64_t evicted_seen;        /* the store's evicted count at the last report (note_caps) */
    struct qasm_metrics_http *metrics; /* --metrics (NULL: none) */
    struct qasm_metrics_spec metrics_spec;
};

/* ---- session output ----------------------------------------------------- */

static void session_close(struct session *s);

static int wbuf_reserve(struct session *s, size_t n)
{
    if (s->wlen + n <= s->wcap)
        return 0;
    if (s->woff > 0) {
        memmove(s->wbuf, s->wbuf + s->woff, s->wlen - s->woff);
        s->wlen -= s->woff;
        s->woff = 0;
        if (s->wlen + n <= s->wcap)
            return 0;
    }
    size_t ncap = s->wcap ? s->wcap : 16384;
    while (ncap < s->wlen + n)
        ncap *= 2;
    uint8_t *nb = realloc(s->wbuf, ncap);
    if (nb == NULL)
        return -ENOMEM;
    s->t->wbytes += ncap - s->wcap;
    s->wbuf = nb;
    s->wcap = ncap;
    return 0;
}

static size_t queued(const struct session *s)
{
    return s->wlen - s->woff;
}

/* A drained session gives back a buffer that a burst (a dump) grew. */
static void wbuf_shrink(struct session *s)
{
    if (s->wcap <= 65536 || s->wlen != s->woff)
        return;
    s->t->wbytes -= s->wcap;
    free(s->wbuf);
    s->wbuf = NULL;
    s->wcap = s->wlen = s->woff = 0;
}

/* Queue one message; the write watcher flushes it. Returns -1 if the session died. */
static int session_send(struct session *s, const struct qasm_proto_msg *m)
{
    if (s->dead)
        return -1;
    struct tracker *t = s->t;
    /* Requests are not read while output is backed up: only pushes and
     * answers to waits reach the cap, from a subscriber that does not read. */
    if (qasm_budget_over_cap(&t->lim, queued(s), QASM_PROTO_MAX_MSG) ||
        wbuf_reserve(s, QASM_PROTO_MAX_MSG) < 0) {
        t->n.sessions_dropped_slow++;
        uint64_t quiet;
        if (qasm_ratelog_due(&t->rl.slow, qasm_now(), &quiet))
            qasm_warn("session %d: unsent output over %zu bytes, closing "
                      "(%llu more dropped quietly)", s->fd, t->lim.out_cap,
                      (unsigned long long)quiet);
        s->dead = 1;
        ev_io_start(s->t->loop, &s->wio);
        return -1;
    }
    ssize_t n = qasm_proto_encode(s->wbuf + s->wlen, s->wcap - s->wlen, m);
    if (n < 0) {
        qasm_error("encode %s: %s", qasm_proto_type_name(m->hdr.type), strerror((int)-n));
        return 0;
    }
    s->wlen += (size_t)n;
    if (!ev_is_active(&s->wio))
        ev_io_start(s->t->loop, &s->wio);
    return 0;
}

static void send_simple(struct session *s, uint8_t type, uint32_t req_id, uint32_t count)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, type, 0, 0, req_id };
    m.u.ok.count = count;
    session_send(s, &m);
}

static void send_error(struct session *s, uint32_t req_id, uint16_t code, const char *text)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_ERROR, 0, 0, req_id };
    m.u.error.code = code;
    snprintf(m.u.error.text, sizeof(m.u.error.text), "%s", text);
    session_send(s, &m);
}

static void send_notfound(struct session *s, uint32_t req_id, const struct qasm_cid *cid)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_NOT_FOUND, 0, 0, req_id };
    m.u.notfound.cid = *cid;
    session_send(s, &m);
}

/* RECORD of store connection |c|, built in place (no intermediate copy). */
static void send_conn(struct session *s, uint32_t req_id, const struct qasm_store_conn *c)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_RECORD, 0, 0, req_id };
    qasm_store_record(c, &m.u.conn);
    session_send(s, &m);
}

/* A DUMP record with its age and time to expiry (QASM_PROTO_HDR_TIMES). */
static void send_conn_times(struct session *s, uint32_t req_id, const struct qasm_store_conn *c)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_RECORD, 0,
                                     QASM_PROTO_HDR_TIMES, req_id };
    qasm_store_record(c, &m.u.conn);
    qasm_tstamp now = qasm_now(), created, expires;
    qasm_store_conn_times(s->t->store, c, &created, &expires);
    uint64_t age = now > created ? (now - created) / QASM_MS : 0;
    uint64_t left = expires > now ? (expires - now) / QASM_MS : 0;
    m.u.conn.age_ms = age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
    m.u.conn.expires_ms = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
    session_send(s, &m);
}

static void send_record(struct session *s, uint32_t req_id, const struct qasm_proto_conn *rec)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_RECORD, 0, 0, req_id };
    m.u.conn = *rec;
    session_send(s, &m);
}

static void send_push(struct session *s, uint32_t req_id, uint8_t event,
                      const struct qasm_proto_conn *rec)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_PUSH, 0, 0, req_id };
    m.u.push.event = event;
    m.u.push.conn = *rec;
    session_send(s, &m);
}

/* ---- the query core's actions, its wait timer, the store's events ------- */

/* The subscription budget of all sessions refused one (one line per second at most). */
static void warn_budget(struct tracker *t)
{
    uint64_t quiet;
    if (qasm_ratelog_due(&t->rl.subs, qasm_now(), &quiet))
        qasm_warn("subscriptions and waits of all sessions at %zu (the memory budget's "
                  "share): refused (%llu more quietly)", t->lim.max_subs_total,
                  (unsigned long long)quiet);
}

static int on_query_action(void *arg, const struct qasm_query_action *a)
{
    struct tracker *t = arg;
    struct session *s = a->sess;
    switch (a->kind) {
    case QASM_QUERY_RECORD:
        if (a->conn)
            send_conn(s, a->req_id, a->conn);
        else
            send_record(s, a->req_id, a->rec);
        break;
    case QASM_QUERY_NOT_FOUND:
        send_notfound(s, a->req_id, a->cid);
        break;
    case QASM_QUERY_PUSH:
        send_push(s, a->req_id, a->event, a->rec);
        break;
    case QASM_QUERY_OK:
        send_simple(s, QASM_PROTO_OK, a->req_id, a->count);
        break;
    case QASM_QUERY_ERROR:
        if (a->budget)
            warn_budget(t);
        send_error(s, a->req_id, a->code, a->text);
        break;
    case QASM_QUERY_LOOKUP:
        return qasm_backend_lookup(t->be, a->cid);
    }
    return 0;
}

/* Set the wait timer for the query core's next deadline (if it moved). */
static void arm_wait_timer(struct tracker *t)
{
    qasm_tstamp next = qasm_query_next_deadline(t->query);
    if (next == t->wait_armed)
        return;
    t->wait_armed = next;
    ev_timer_stop(t->loop, &t->wait_timer);
    if (next == QASM_TSTAMP_MAX)
        return;
    qasm_tstamp now = qasm_now();
    ev_timer_set(&t->wait_timer, next > now ? (double)(next - now) / 1e9 : 0., 0.);
    ev_timer_start(t->loop, &t->wait_timer);
}

static void wait_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct tracker *t = w->data;
    t->wait_armed = QASM_TSTAMP_MAX; /* fired: no longer active */
    qasm_query_expire(t->query, qasm_now());
    arm_wait_timer(t);
}

/* The query core on the store, with the limits of --max-memory, and its timer. */
static int query_init(struct tracker *t)
{
    struct qasm_query_config qcfg = {
        .store = t->store, .seed = t->seed, .max_wait = t->max_wait,
        .store_timeout = t->store_timeout, .max_subs = t->lim.max_subs,
        .max_subs_total = t->lim.max_subs_total, .act = on_query_action, .arg = t,
    };
    ev_init(&t->wait_timer, wait_timer_cb);
    t->wait_timer.data = t;
    t->wait_armed = QASM_TSTAMP_MAX;
    return qasm_query_new(&t->query, &qcfg);
}

/* Store event: the shared store learns it, then the query core acts on it. */
static void on_store_event(void *arg, struct qasm_store_conn *c, uint8_t event)
{
    struct tracker *t = arg;
    qasm_backend_changed(t->be, c, event);
    qasm_query_store_event(t->query, c, event);
}

/* The shared store answered a lookup: answer the plain queries held for it. */
static void on_lookup_done(void *arg, const struct qasm_cid *cid, int found)
{
    struct tracker *t = arg;
    (void)found; /* found records were applied: their waits were woken by the store event */
    if (qasm_query_lookup_done(t->query, cid) < 0)
        qasm_error("pending table: lost an entry");
}

/*
 * A dump is produced from a store cursor in chunks, each only while the
 * session's unsent output is under the low-water mark (the write watcher
 * asks for the next one): a reader that does not read holds one chunk, not
 * the whole store, and a big dump shares the loop with everything else.
 */
static void dump_step(struct session *s)
{
    struct tracker *t = s->t;
    struct qasm_store_conn *c;
    t->n.dump_chunks++;
    while (!qasm_budget_backed_up(queued(s))) {
        if ((c = qasm_store_cursor_next(t->store, &s->dump.cur)) == NULL) {
            qasm_store_cursor_close(t->store, &s->dump.cur);
            s->dump.on = 0;
            send_simple(s, QASM_PROTO_OK, s->dump.req_id, s->dump.count);
            return;
        }
        if (s->dump.times)
            send_conn_times(s, s->dump.req_id, c);
        else
            send_conn(s, s->dump.req_id, c);
        s->dump.count++;
        if (s->dead)
            return;
    }
}

static void handle_dump(struct session *s, const struct qasm_proto_msg *m)
{
    struct tracker *t = s->t;
    t->n.dumps++;
    s->dump.on = 1;
    s->dump.req_id = m->hdr.req_id;
    s->dump.count = 0;
    s->dump.times = (m->hdr.flags & QASM_PROTO_HDR_TIMES) != 0;
    qasm_store_cursor_open(t->store, &s->dump.cur);
    dump_step(s);
    if (s->dump.on && !ev_is_active(&s->wio))
        ev_io_start(t->loop, &s->wio);
}

static void collect_stats(const struct tracker *t, struct qasm_proto_stats *st)
{
    const struct qasm_stats_src src = {
        .store = t->store, .query = t->query, .access = &t->access, .sessions = &t->sess,
        .io = &t->n, .out_bytes = t->wbytes, .max_memory = t->lim.max_memory,
    };
    qasm_stats_collect(st, &src);
    qasm_backend_stats(t->be, st);
}

static void handle_stats(struct session *s, const struct qasm_proto_msg *m)
{
    struct qasm_proto_msg r;
    r.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_STATS_REPLY, 0, 0,
                                     m->hdr.req_id };
    s->t->n.stats_requests++;
    collect_stats(s->t, &r.u.stats);
    session_send(s, &r);
}

/*
 * Reports refused as not from the connection's owner (a forger can send
 * many), or by --trust source: said once when it starts, then once per 10 s
 * with the count, and when none came for 10 s (degrade_poll).
 */
static void warn_refused(struct tracker *t, int rv, const struct qasm_proto_msg *m,
                         const struct qasm_addr *src, qasm_tstamp now)
{
    struct qasm_degrade_line l;
    char a[QASM_ADDR_STRLEN], c[QASM_ADDR_STRLEN], h[QASM_CID_HEXLEN];
    const char *fix;
    if (rv == -EPERM && qasm_degrade_hit(&t->dg.owner, 1, now, &l)) {
        qasm_log_degrade(&l, "reports refused: not the connection's owner",
                         "%s for O-DCID %s from %s (rejected_owner, rejected_unauth, "
                         "rejected_bad_mac count them)", qasm_proto_type_name(m->hdr.type),
                         qasm_cid_hex(h, &m->u.report.odcid),
                         qasm_addr_format(a, sizeof(a), src));
    } else if (rv == -EACCES && qasm_degrade_hit(&t->dg.trust, 1, now, &l)) {
        const struct qasm_addr *claimed = qasm_access_trust_refusal(&m->u.report, src, &fix);
        qasm_log_degrade(&l, "reports refused by --trust source",
                         "%s from %s claims client %s, whose IP is not the source's "
                         "(rejected_trust); %s", qasm_proto_type_name(m->hdr.type),
                         qasm_addr_format(a, sizeof(a), src),
                         qasm_addr_format(c, sizeof(c), claimed), fix);
    }
}

/* The key policy refuses a report (counted; said as a degraded cause). */
static int report_refused(struct tracker *t, const struct qasm_proto_msg *m,
                          const struct qasm_addr *src, qasm_tstamp now)
{
    struct qasm_degrade_line l;
    if (qasm_access_report(&t->access, m->hdr.type, &m->u.report) == 0)
        return 0;
    if (qasm_degrade_hit(&t->dg.key, 1, now, &l)) {
        char a[QASM_ADDR_STRLEN];
        qasm_log_degrade(&l, "reports refused by the key policy",
                         "%s from %s: %s (rejected_key_mac %llu, rejected_no_key_mac %llu)",
                         qasm_proto_type_name(m->hdr.type), qasm_addr_format(a, sizeof(a), src),
                         m->u.report.key_mac_len ? "key MAC does not verify" : "no key MAC",
                         (unsigned long long)t->access.n.rejected_key_mac,
                         (unsigned long long)t->access.n.rejected_no_key_mac);
    }
    return 1;
}

/*
 * A session that did not prove the key: its one ERROR is written now (it is
 * small: the socket takes it), then the session closes (s->dead).
 */
static void session_refuse(struct session *s)
{
    uint64_t quiet;
    if (qasm_ratelog_due(&s->t->rl.unproved, qasm_now(), &quiet)) {
        char a[QASM_ADDR_STRLEN];
        qasm_warn("session from %s did not prove the key: closed (auth_failed %llu, "
                  "auth_required %llu)", qasm_addr_format(a, sizeof(a), &s->ent.peer),
                  (unsigned long long)s->t->access.n.auth_failed,
                  (unsigned long long)s->t->access.n.auth_required);
    }
    while (s->woff < s->wlen) {
        ssize_t n = write(s->fd, s->wbuf + s->woff, s->wlen - s->woff);
        if (n <= 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        s->woff += (size_t)n;
    }
    shutdown(s->fd, SHUT_WR);
    s->wlen = s->woff = 0;
    s->dead = 1;
}

/*
 * New connections refused at a cap, and evictions at the global cap (the
 * table is full): a degraded cause (the counters have the totals).
 */
static void note_caps(struct tracker *t, int rv, const struct qasm_addr *src, qasm_tstamp now)
{
    const struct qasm_store_stats *st = qasm_store_get_stats(t->store);
    const char *why = rv == -EDQUOT ? "per-IP or per-prefix cap" :
                      rv == -ENOSPC ? "global cap, and its prefix is not smaller than the biggest" :
                      st->evicted != t->evicted_seen ? NULL : "";
    t->evicted_seen = st->evicted;
    struct qasm_degrade_line l;
    if (why && *why == 0)
        return;
    if (!qasm_degrade_hit(&t->dg.caps, 1, now, &l))
        return;
    char a[QASM_ADDR_STRLEN];
    if (why)
        qasm_log_degrade(&l, "connection table full", "refused a new connection from %s: %s "
                         "(%llu rejected_ip_cap, %llu rejected_prefix_cap, %llu "
                         "rejected_max_conns)", qasm_addr_format(a, sizeof(a), src), why,
                         (unsigned long long)st->rejected_ip_cap,
                         (unsigned long long)st->rejected_prefix_cap,
                         (unsigned long long)st->rejected_full);
    else
        qasm_log_degrade(&l, "connection table full", "at the connection cap (%zu): evicted the "
                         "idlest connection of the biggest prefix for a new one from %s (%llu "
                         "evicted in all)", t->lim.max_conns, qasm_addr_format(a, sizeof(a), src),
                         (unsigned long long)st->evicted);
}

/* Every tick: the causes that went quiet are said to have ended, pending counts said. */
static void degrade_poll(struct tracker *t, qasm_tstamp now)
{
    static const struct { size_t off; const char *cause; } causes[] = {
        { offsetof(struct degrades, trust), "reports refused by --trust source" },
        { offsetof(struct degrades, owner), "reports refused: not the connection's owner" },
        { offsetof(struct degrades, key), "reports refused by the key policy" },
        { offsetof(struct degrades, caps), "connection table full" },
    };
    struct qasm_degrade_line l;
    for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
        struct qasm_degrade *d = (struct qasm_degrade *)((char *)&t->dg + causes[i].off);
        if (qasm_degrade_poll(d, now, &l))
            qasm_log_degrade(&l, causes[i].cause, "see qasm-trackctl stats");
    }
}

/* An agent report from |src| (UDP, or a TCP session): the key policy, then the store. */
static void take_report(struct tracker *t, const struct qasm_proto_msg *m,
                        const struct qasm_addr *src, qasm_tstamp now)
{
    if (report_refused(t, m, src, now))
        return;
    int rv = qasm_store_report(t->store, m->hdr.type, &m->u.report, src, now);
    warn_refused(t, rv, m, src, now);
    note_caps(t, rv, src, now);
    t->n.reports_accepted += rv >= 0;
    if (rv == QASM_STORE_UNCHANGED && t->be)
        qasm_backend_touch(t->be, qasm_store_get(t->store, &m->u.report.odcid,
                                                 &m->u.report.client0), now);
}

/* One whole message from a TCP session. */
static void handle_tcp_msg(struct session *s, const uint8_t *buf, size_t len)
{
    struct tracker *t = s->t;
    struct qasm_proto_msg m, out;
    int rv = qasm_proto_decode(&m, buf, len);
    int act = qasm_access_session_msg(&t->access, &s->auth, &s->ent.authenticated, rv, &m, &out);
    if (act != QASM_ACCESS_HANDLE) {
        session_send(s, &out);
        if (act == QASM_ACCESS_CLOSE)
            session_refuse(s);
        return;
    }
    if (rv == -EPROTONOSUPPORT) {
        t->n.bad_version_tcp++;
        send_error(s, m.hdr.req_id, QASM_PROTO_E_VERSION, "unsupported version");
        return;
    }
    if (rv == -ENOMSG) {
        t->n.unknown_type_tcp++;
        send_error(s, m.hdr.req_id, QASM_PROTO_E_TYPE, "unknown message type");
        return;
    }
    if (rv < 0) {
        t->n.malformed_tcp++;
        send_error(s, m.hdr.req_id, QASM_PROTO_E_MALFORMED, "malformed message");
        return;
    }
    switch (m.hdr.type) {
    case QASM_PROTO_QUERY:
        qasm_query_query(t->query, &s->q, m.hdr.req_id, &m.u.query, qasm_now());
        arm_wait_timer(t);
        break;
    case QASM_PROTO_SUBSCRIBE:
        qasm_query_subscribe(t->query, &s->q, m.hdr.req_id, &m.u.sub);
        break;
    case QASM_PROTO_UNSUBSCRIBE:
        qasm_query_unsubscribe(t->query, &s->q, m.hdr.req_id, &m.u.sub);
        break;
    case QASM_PROTO_DUMP:
        handle_dump(s, &m);
        break;
    case QASM_PROTO_STATS:
        handle_stats(s, &m);
        break;
    default:
        if (qasm_proto_is_report(m.hdr.type)) {
            /* Reports over TCP are accepted too (the peer address is the source). */
            take_report(t, &m, &s->ent.peer, qasm_now());
            return;
        }
        t->n.unknown_type_tcp++;
        send_error(s, m.hdr.req_id, QASM_PROTO_E_TYPE, "unexpected message type");
        break;
    }
}

/* ---- sessions ------------------------------------------------------------ */

static void session_close(struct session *s)
{
    struct tracker *t = s->t;
    qasm_query_sess_close(t->query, &s->q);
    if (s->dump.on)
        qasm_store_cursor_close(t->store, &s->dump.cur);
    t->wbytes -= s->wcap;
    ev_io_stop(t->loop, &s->rio);
    ev_io_stop(t->loop, &s->wio);
    close(s->fd);
    qasm_sessions_remove(&t->sess, &s->ent);
    free(s->rbuf);
    free(s->wbuf);
    free(s);
}

/* Write what the socket takes. Returns -1 if the session was closed. */
static int session_flush(struct session *s)
{
    while (s->woff < s->wlen) {
        ssize_t n = write(s->fd, s->wbuf + s->woff, s->wlen - s->woff);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            session_close(s);
            return -1;
        }
        s->woff += (size_t)n;
        s->ent.last_active = qasm_now(); /* a peer that reads its output is not idle */
    }
    s->woff = s->wlen = 0;
    return 0;
}

/* Stop reading a session whose output is backed up or that is dumping. */
static void session_pause(struct session *s)
{
    if (s->paused)
        return;
    s->paused = 1;
    s->t->n.sessions_paused++;
    ev_io_stop(s->t->loop, &s->rio);
}

static int process_input(struct session *s);

static void session_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct session *s = w->data;
    if (s->dead) {
        session_close(s);
        return;
    }
    if (session_flush(s) < 0)
        return;
    if (s->dump.on && !qasm_budget_backed_up(queued(s))) {
        dump_step(s);
        if (s->dead) {
            session_close(s);
            return;
        }
        if (session_flush(s) < 0)
            return;
    }
    if (queued(s) == 0 && !s->dump.on) {
        ev_io_stop(s->t->loop, &s->wio);
        wbuf_shrink(s);
    }
    /* Drained enough: read again, starting with the requests already buffered. */
    if (s->paused && !s->dump.on && !qasm_budget_backed_up(queued(s))) {
        s->paused = 0;
        ev_io_start(s->t->loop, &s->rio);
        if (process_input(s) == 0 && queued(s) > 0 && !ev_is_active(&s->wio))
            ev_io_start(s->t->loop, &s->wio);
    }
}

static void udp_cb(struct ev_loop *loop, ev_io *w, int revents);

static void drain_reports(struct tracker *t)
{
    for (int i = 0; i < t->nlisten; i++)
        if (t->udp_fd[i] >= 0)
            udp_cb(t->loop, &t->udp_io[i], EV_READ);
}

static void session_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct session *s = w->data;
    struct tracker *t = s->t;
    if (s->dead) {
        session_close(s);
        return;
    }
    ssize_t n = read(s->fd, s->rbuf + s->rlen, RBUF_SIZE - s->rlen);
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        session_close(s);
        return;
    }
    if (n == 0) {
        session_close(s);
        return;
    }
    s->rlen += (size_t)n;
    /* Reports first: an agent's report sent before its migrated packet must
     * be in the store before a middlebox's query about that packet is answered,
     * even when both sockets became readable in the same loop iteration. */
    drain_reports(t);
    if (process_input(s) < 0)
        return;
    /* Flush now rather than waiting for the next loop iteration. */
    if (s->wlen > s->woff)
        session_write_cb(loop, &s->wio, EV_WRITE);
}

/*
 * Handle the whole requests in the receive buffer, until the session's
 * output is backed up or a dump is in progress: then it is no longer read
 * (the rest waits in the buffer) until the write side drains. Returns -1
 * if the session was closed.
 */
static int process_input(struct session *s)
{
    struct tracker *t = s->t;
    size_t off = 0;
    while (off < s->rlen) {
        if (s->dump.on || qasm_budget_backed_up(queued(s))) {
            session_pause(s);
            break;
        }
        ssize_t len = qasm_proto_frame(s->rbuf + off, s->rlen - off);
        if (len == 0)
            break;
        if (len < 0) {
            t->n.framing_errors++;
            qasm_warn("session %d: bad message header, closing", s->fd);
            session_close(s);
            return -1;
        }
        s->ent.last_active = qasm_now();
        handle_tcp_msg(s, s->rbuf + off, (size_t)len);
        off += (size_t)len;
        if (s->dead) {
            session_close(s);
            return -1;
        }
    }
    memmove(s->rbuf, s->rbuf + off, s->rlen - off);
    s->rlen -= off;
    if (s->dump.on || qasm_budget_backed_up(queued(s)))
        session_pause(s);
    return 0;
}

static void unmap_v4(struct qasm_addr *a)
{
    static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (a->family == AF_INET6 && memcmp(a->ip, prefix, 12) == 0) {
        uint8_t v4[4];
        memcpy(v4, a->ip + 12, 4);
        memset(a->ip, 0, 16);
        memcpy(a->ip, v4, 4);
        a->family = AF_INET;
    }
}

/* --allow: 0 if the peer may not open a session (counted, logged). */
static int peer_allowed(struct tracker *t, const struct qasm_addr *peer)
{
    uint64_t quiet;
    if (qasm_access_allowed(&t->access, peer))
        return 1;
    if (qasm_ratelog_due(&t->rl.allow, qasm_now(), &quiet)) {
        char a[QASM_ADDR_STRLEN];
        qasm_warn("session from %s refused: not in --allow (allow_refused %llu)",
                  qasm_addr_format(a, sizeof(a), peer),
                  (unsigned long long)t->access.n.allow_refused);
    }
    return 0;
}

/* The key handshake's state: 1 if authenticated at once (no --key), 0 if not yet, -1 on failure. */
static int session_auth_init(struct tracker *t, struct session *s)
{
    uint8_t tn[QASM_PROTO_NONCE_LEN];
    if (t->access.key.len && getrandom(tn, sizeof(tn), 0) != (ssize_t)sizeof(tn)) {
        qasm_error("getrandom: %s: refusing a session", strerror(errno));
        return -1;
    }
    return qasm_access_sess_init(&t->access, &s->auth, tn) ? 1 : 0;
}

/*
 * Whether a new session from |peer| may open (qasm_sessions_admit): the
 * per-IP cap, the global cap, and room kept for authenticated sessions
 * (the oldest unauthenticated one is closed to make it). Returns -1 to refuse.
 */
static int admit_session(struct tracker *t, const struct qasm_addr *peer)
{
    struct qasm_sessions_ent *victim;
    size_t from_ip;
    int rv = qasm_sessions_admit(&t->sess, peer, &victim, &from_ip);
    const char *why = NULL;
    if (rv == QASM_ADMIT_EVICT_UNAUTH) {
        session_close(victim->ud);
        why = "closed the oldest unauthenticated session to make room";
    } else if (rv == QASM_ADMIT_FULL) {
        why = "session limit reached, refused";
    } else if (rv == QASM_ADMIT_PER_IP) {
        why = "per-IP session limit reached, refused";
    }
    uint64_t quiet;
    if (why && qasm_ratelog_due(&t->rl.sessions, qasm_now(), &quiet)) {
        char a[QASM_ADDR_STRLEN];
        qasm_warn("new session from %s: %s (%zu sessions, %zu from it, max %zu, %zu per IP; "
                  "%llu more quietly)", qasm_addr_format(a, sizeof(a), peer), why,
                  t->sess.n, from_ip, t->lim.max_sessions, t->lim.max_sessions_per_ip,
                  (unsigned long long)quiet);
    }
    return rv < 0 ? -1 : 0;
}

/*
 * Close the sessions without subscriptions or waits that neither sent a
 * request nor took any output for --session-idle: idle ones, and those
 * that stopped reading with output or a dump pending (they would hold a
 * session and its buffers for ever; a subscriber that stops reading is
 * dropped at the output cap instead).
 */
static void close_idle_sessions(struct tracker *t, qasm_tstamp now)
{
    size_t closed = 0, unproved = 0;
    struct qasm_sessions_ent *e = qasm_sessions_first(&t->sess), *next;
    for (; e; e = next) {
        next = qasm_sessions_next(e);
        struct session *s = e->ud;
        int why = qasm_sessions_timed_out(&t->sess, e, s->q.nsubs, now);
        if (why != QASM_SESSIONS_KEEP)
            session_close(s);
        unproved += why == QASM_SESSIONS_UNPROVED;
        closed += why == QASM_SESSIONS_IDLE;
    }
    uint64_t quiet;
    if ((closed || unproved) && qasm_ratelog_due(&t->rl.idle, now, &quiet))
        qasm_info("closed %zu idle sessions (nothing held for %.1f s) and %zu that did not "
                  "prove the key within %.0f s", closed, (double)t->sess.idle / 1e9, unproved,
                  (double)QASM_SESSIONS_AUTH_TIMEOUT / 1e9);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct tracker *t = w->data;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                qasm_warn("accept: %s", strerror(errno));
            return;
        }
        struct qasm_addr peer;
        qasm_addr_from_sockaddr(&peer, (struct sockaddr *)&ss, sl);
        unmap_v4(&peer);
        if (!peer_allowed(t, &peer) || admit_session(t, &peer) < 0) {
            close(fd);
            continue;
        }
        struct session *s = calloc(1, sizeof(*s));
        uint8_t *rb = malloc(RBUF_SIZE);
        if (s == NULL || rb == NULL) {
            free(s);
            free(rb);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        s->t = t;
        s->fd = fd;
        s->rbuf = rb;
        qasm_query_sess_init(&s->q, s);
        int authenticated = session_auth_init(t, s);
        if (authenticated < 0) {
            free(s);
            free(rb);
            close(fd);
            continue;
        }
        ev_io_init(&s->rio, session_read_cb, fd, EV_READ);
        ev_io_init(&s->wio, session_write_cb, fd, EV_WRITE);
        s->rio.data = s->wio.data = s;
        ev_io_start(loop, &s->rio);
        qasm_sessions_add(&t->sess, &s->ent, &peer, authenticated, s, qasm_now());
    }
}

/* ---- UDP reports ------------------------------------------------------- */

static void udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct tracker *t = w->data;
    static uint8_t bufs[UDP_BATCH][QASM_PROTO_MAX_MSG + 1];
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct sockaddr_storage srcs[UDP_BATCH];
    for (int round = 0; round < 16; round++) {
        for (int i = 0; i < UDP_BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof(bufs[i]);
            memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &srcs[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(srcs[i]);
        }
        int n = recvmmsg(w->fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        qasm_tstamp now = qasm_now();
        for (int i = 0; i < n; i++) {
            t->n.udp_datagrams++;
            struct qasm_addr src;
            if (qasm_addr_from_sockaddr(&src, (struct sockaddr *)&srcs[i],
                                        msgs[i].msg_hdr.msg_namelen) < 0)
                continue;
            unmap_v4(&src);
            struct qasm_proto_msg m;
            int rv = qasm_proto_decode(&m, bufs[i], msgs[i].msg_len);
            if (rv == -EPROTONOSUPPORT) {
                t->n.bad_version_udp++;
                continue;
            }
            if (rv < 0) {
                t->n.malformed_udp++;
                continue;
            }
            if (!qasm_proto_is_report(m.hdr.type)) {
                t->n.unexpected_udp++;
                continue;
            }
            take_report(t, &m, &src, now);
        }
        if (n < UDP_BATCH)
            return;
    }
}

/*
 * The UDP watcher: a batch of reports, then the answers and pushes they
 * caused leave at once, in this loop iteration, instead of after another
 * poll for writability: a middlebox holds a migrated packet until they
 * arrive. (drain_reports calls udp_cb directly: the session being read
 * flushes its own output, and closing another one there is not safe.)
 */
static void udp_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tracker *t = w->data;
    udp_cb(loop, w, revents);
    struct qasm_sessions_ent *e = qasm_sessions_first(&t->sess), *next;
    for (; e; e = next) {
        next = qasm_sessions_next(e);
        struct session *s = e->ud;
        if (!s->dead && s->wlen > s->woff)
            session_write_cb(loop, &s->wio, EV_WRITE);
    }
}

/* ---- timers and signals ----------------------------------------------- */

static void expire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct tracker *t = w->data;
    qasm_tstamp now = qasm_now();
    qasm_store_expire(t->store, now);
    close_idle_sessions(t, now);
    degrade_poll(t, now);
}

static void print_stats(const struct tracker *t)
{
    struct qasm_proto_stats st;
    collect_stats(t, &st);
    for (unsigned i = 0; i < st.n; i++)
        fprintf(stderr, "%s %llu\n", st.s[i].name, (unsigned long long)st.s[i].value);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct tracker *t = w->data;
    if (w->signum == SIGUSR1) {
        print_stats(t);
        return;
    }
    qasm_info("signal %d: exiting", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

/* ---- setup -------------------------------------------------------------- */

/* Port 0: the UDP socket takes a free port and the TCP one the same, tried
 * again (20 times) should that port be taken for TCP. */
static int open_listeners(struct tracker *t, const struct qasm_addr *want)
{
    struct qasm_addr addr = *want, *a = &addr;
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, a);
    char buf[QASM_ADDR_STRLEN];
    int one = 1, zero = 0, tries = want->port == 0 ? 20 : 1;
again:;
    int u = socket(a->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int tc = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u == -1 || tc == -1)
        goto fail;
    setsockopt(tc, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->family == AF_INET6) {
        /* "[::]" serves IPv4 too (v4-mapped sources are unmapped). */
        setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        setsockopt(tc, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    /* A deep receive queue absorbs report bursts (FORCE needs CAP_NET_ADMIN). */
    int rcv = 8 * 1024 * 1024;
    if (setsockopt(u, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) == -1)
        setsockopt(u, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    if (bind(u, (struct sockaddr *)&ss, sl) == -1)
        goto fail;
    if (want->port == 0) {
        struct sockaddr_storage bs;
        socklen_t bl = sizeof(bs);
        if (getsockname(u, (struct sockaddr *)&bs, &bl) == -1 ||
            qasm_addr_from_sockaddr(&addr, (struct sockaddr *)&bs, bl) < 0)
            goto fail;
        sl = qasm_addr_to_sockaddr(&ss, a);
    }
    if (bind(tc, (struct sockaddr *)&ss, sl) == -1) {
        if (errno == EADDRINUSE && --tries > 0) {
            close(u);
            close(tc);
            addr = *want;
            sl = qasm_addr_to_sockaddr(&ss, a);
            goto again;
        }
        goto fail;
    }
    if (listen(tc, 512) == -1)
        goto fail;
    int i = t->nlisten++;
    t->udp_fd[i] = u;
    t->tcp_fd[i] = tc;
    ev_io_init(&t->udp_io[i], udp_io_cb, u, EV_READ);
    ev_io_init(&t->tcp_io[i], accept_cb, tc, EV_READ);
    /* Reports before everything else that is due in the same loop iteration,
     * timers included: after a stall (a busy machine), a QUERY's wait must
     * not run out while the report that satisfies it sits unread. */
    ev_set_priority(&t->udp_io[i], EV_MAXPRI);
    t->udp_io[i].data = t->tcp_io[i].data = t;
    ev_io_start(t->loop, &t->udp_io[i]);
    ev_io_start(t->loop, &t->tcp_io[i]);
    qasm_info("listening on %s (UDP and TCP)", qasm_addr_format(buf, sizeof(buf), a));
    return 0;
fail:
    fprintf(stderr, "qasm-tracker: cannot listen on %s: %s\n",
            qasm_addr_format(buf, sizeof(buf), a), strerror(errno));
    if (u != -1)
        close(u);
    if (tc != -1)
        close(tc);
    return -1;
}



/* --metrics: the STATS reply as qasm-trackctl stats --json shows it, now (in the loop). */
static int metrics_json(void *ud, char **json, size_t *len)
{
    struct qasm_proto_stats st;
    collect_stats(ud, &st);
    json_t *j = json_object();
    for (unsigned i = 0; j && i < st.n; i++)
        json_object_set_new(j, st.s[i].name, json_integer((json_int_t)st.s[i].value));
    *json = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!*json)
        return -ENOMEM;
    *len = strlen(*json);
    return 0;
}

/* 0, or 1 (said) when the endpoint cannot listen. */
static int start_metrics(struct tracker *t, const struct qasm_tracker_opts *o)
{
    char err[256];
    if (!o->have_metrics)
        return 0;
    t->metrics_spec = qasm_stats_metrics;
    t->metrics_spec.version = qasm_version();
    t->metrics_spec.commit = qasm_version_commit();
    if (qasm_metrics_http_new(&t->metrics, t->loop, &o->metrics, &t->metrics_spec, metrics_json,
                              t, err, sizeof(err)) < 0) {
        fprintf(stderr, "qasm-tracker: --metrics %s\n", err);
        return 1;
    }
    return 0;
}

/*
 * --store-auth FILE: "PASSWORD" (Redis requirepass) or "USER PASSWORD" (an
 * ACL user) on one line, in a file only its owner may read (the store holds
 * the connections' secrets: docs/TRACKER.md).
 */
static int read_store_auth(const char *path, const char **user, const char **pass)
{
    static char buf[1024];
    char err[512];
    size_t n;
    if (qasm_keyfile_read(path, buf, sizeof(buf), &n, err, sizeof(err)) < 0) {
        fprintf(stderr, "qasm-tracker: --store-auth %s\n", err);
        return -1;
    }
    char *sp = strchr(buf, ' ');
    if (n == 0 || strchr(buf, '\n') || (sp && (sp == buf || sp[1] == '\0'))) {
        fprintf(stderr, "qasm-tracker: --store-auth %s: one line, PASSWORD or USER PASSWORD\n",
                path);
        return -1;
    }
    *user = NULL;
    *pass = buf;
    if (sp) {
        *sp = '\0';
        *user = buf;
        *pass = sp + 1;
    }
    return 0;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */


/* The --key and --store-auth files, in the order the flags came; 0, or -1 (said). */
static int load_files(struct qasm_tracker_opts *o, const char **user, const char **pass)
{
    char err[512];
    for (int i = 0; i < o->files.n; i++) {
        const char *path = o->files.path[i];
        if (o->files.kind[i] == 'K' &&
            qasm_keyfile_load(&o->access.key, path, err, sizeof(err)) < 0) {
            fprintf(stderr, "qasm-tracker: --key %s\n", err);
            return -1;
        }
        if (o->files.kind[i] == 'a' && read_store_auth(path, user, pass) < 0)
            return -1;
    }
    return 0;
}

/* The command line, the files it names and the derived bounds; -1 to exit 0 (--help),
 * 2 on bad usage, else 0. */
static int tracker_opts(struct qasm_tracker_opts *o, int argc, char **argv, const char **user,
                        const char **pass)
{
    char err[1024], usage[8192];
    int rv = qasm_tracker_opts_parse(argc, argv, o, err, sizeof(err));
    qasm_tracker_usage(usage, sizeof(usage));
    /* The files are read where their flags were (the parse stops at the first error or
     * --help): their errors come before anything that follows them. */
    if (load_files(o, user, pass) < 0)
        return 2;
    if (rv == QASM_TRACKER_HELP) {
        fputs(usage, stdout);
        return -1;
    }
    if (rv == QASM_TRACKER_BAD_OPTION)
        qasm_cli_usage_exit("qasm-tracker", err);
    qasm_cli_resolve_names("qasm-tracker", &o->names);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (rv < 0 || qasm_tracker_opts_finish(o, pages > 0 && psize > 0 ? (uint64_t)pages *
                                                   (uint64_t)psize : 0, err, sizeof(err)) < 0)
        qasm_cli_usage_exit("qasm-tracker", err);
    return 0;
}

/* Store, query core, loop and shared-store backend; 0, or the exit status. */
static int tracker_setup(struct tracker *t, struct qasm_tracker_opts *o, const char *user,
                         const char *pass)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->seed = qasm_hash_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                            (uint64_t)getpid());
    o->cfg.seed = qasm_hash_mix(t->seed + 1);
    o->cfg.expected = 4096;
    if (qasm_store_new(&t->store, &o->cfg, on_store_event, t) < 0 || query_init(t) < 0) {
        fprintf(stderr, "qasm-tracker: out of memory\n");
        return 1;
    }
    t->loop = ev_default_loop(EVFLAG_AUTO);
    signal(SIGPIPE, SIG_IGN);
    struct qasm_backend_config bcfg = {
        .loop = t->loop, .store = t->store, .ttl = o->cfg.ttl,
        .close_linger = o->cfg.close_linger, .lookup_done = on_lookup_done, .arg = t,
        .auth_user = user, .auth_pass = pass,
    };
    char err[256] = "";
    int brv = qasm_backend_new(&t->be, o->store_spec, &bcfg, err, sizeof(err));
    if (brv == -EINVAL) {
        fprintf(stderr, "qasm-tracker: invalid value for --store: %s\n", err);
        return 2;
    }
    if (brv < 0) {
        fprintf(stderr, "qasm-tracker: --store %s: %s\n", o->store_spec, strerror(-brv));
        return 1;
    }
    for (int i = 0; i < o->nlisten; i++) {
        if (t->access.key.len == 0 && !qasm_access_is_loopback(&o->listen[i])) {
            char a[QASM_ADDR_STRLEN];
            qasm_warn("listening on %s without --key: anyone who reaches it can read every "
                      "connection's linkage (dump, query, subscribe); see docs/TRACKER.md",
                      qasm_addr_format(a, sizeof(a), &o->listen[i]));
        }
        if (open_listeners(t, &o->listen[i]) < 0) {
            if (o->listen_default && i > 0) {
                qasm_warn("no IPv6 loopback: serving IPv4 only (IPv6 clients' reports need "
                          "--trust mac with a key; docs/TRACKER.md, \"Degraded operation\")");
                continue;
            }
            return 1;
        }
    }
    return start_metrics(t, o);
}

/* The expiry tick (an eighth of the TTL or linger, 10 ms..1 s) and the signals. */
static void tracker_start(struct tracker *t, const struct qasm_store_config *cfg)
{
    double tick = (double)qasm_store_expire_tick(cfg) / 1e9;
    qasm_degrade_init(&t->dg.trust, QASM_DEGRADE_ENDS_QUIET, 0);
    qasm_degrade_init(&t->dg.owner, QASM_DEGRADE_ENDS_QUIET, 0);
    qasm_degrade_init(&t->dg.key, QASM_DEGRADE_ENDS_QUIET, 0);
    qasm_degrade_init(&t->dg.caps, QASM_DEGRADE_ENDS_QUIET, 0);
    ev_timer_init(&t->expire_timer, expire_cb, tick, tick);
    t->expire_timer.data = t;
    ev_timer_start(t->loop, &t->expire_timer);
    ev_signal_init(&t->sigterm, signal_cb, SIGTERM);
    ev_signal_init(&t->sigint, signal_cb, SIGINT);
    ev_signal_init(&t->sigusr1, signal_cb, SIGUSR1);
    t->sigterm.data = t->sigint.data = t->sigusr1.data = t;
    ev_signal_start(t->loop, &t->sigterm);
    ev_signal_start(t->loop, &t->sigint);
    ev_signal_start(t->loop, &t->sigusr1);
}

static void tracker_shutdown(struct tracker *t)
{
    while (qasm_sessions_first(&t->sess))
        session_close(qasm_sessions_first(&t->sess)->ud);
    for (int i = 0; i < t->nlisten; i++) {
        close(t->udp_fd[i]);
        close(t->tcp_fd[i]);
    }
    qasm_info("exit: %zu connections, %llu reports", qasm_store_count(t->store),
              (unsigned long long)t->n.reports_accepted);
    qasm_metrics_http_del(t->metrics);
    qasm_backend_del(t->be);
    qasm_store_del(t->store);
    qasm_query_del(t->query);
    ev_loop_destroy(t->loop);
}

int main(int argc, char **argv)
{
    static struct qasm_tracker_opts o;
    static struct tracker t;
    const char *store_user = NULL, *store_pass = NULL;
    qasm_cli_front("qasm-tracker", argc, argv);
    int rv = tracker_opts(&o, argc, argv, &store_user, &store_pass);
    if (rv != 0)
        return rv < 0 ? 0 : rv;
    t.max_wait = o.max_wait;
    t.lim = o.lim;
    qasm_sessions_init(&t.sess, &t.lim, o.session_idle);
    t.store_timeout = o.store_timeout;
    t.access = o.access;
    qasm_log_init("qasm-tracker", (enum qasm_log_level)o.log_level);
    qasm_info("memory budget %zu MiB: %zu connections (%zu per IP, %zu per prefix), %zu sessions "
              "(%zu per IP, %zu reserved, %zu KiB output each), %zu subscriptions+waits "
              "(%zu per session)", t.lim.max_memory >> 20, t.lim.max_conns, t.lim.max_per_ip,
              t.lim.max_per_prefix, t.lim.max_sessions, t.lim.max_sessions_per_ip,
              t.lim.reserved_sessions, t.lim.out_cap >> 10, t.lim.max_subs_total, t.lim.max_subs);
    rv = tracker_setup(&t, &o, store_user, store_pass);
    if (rv != 0)
        return rv;
    tracker_start(&t, &o.cfg);
    ev_run(t.loop, 0);
    tracker_shutdown(&t);
    return 0;
}
