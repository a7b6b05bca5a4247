/*
 * h3client.c: qasm-h3-client, an HTTP/3 load client (ngtcp2 + nghttp3 +
 * gnutls + libev) whose connections migrate on a schedule (up to 1000 Hz):
 * a new UDP socket per migration (new port, or the next --local-addrs IP)
 * with a new DCID (ngtcp2_conn_initiate_immediate_migration), or a NAT-like
 * rebinding without a new DCID (--rebind). Old sockets stay open and are read
 * for a while (--keep-sockets). Results: --json summary, --csv per request,
 * --timeline per 100 ms; exit status 1 when any request failed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "addr.h"
#include "cli.h"
#include "cid.h"
#include "client-agent/qasm_agent.h"
#include "clientopts.h"
#include "clock.h"
#include "content.h"
#include "h3conn.h"
#include "h3guard.h"
#include "hist.h"
#include "log.h"
#include "migrate.h"
#include "quicwrite.h"
#include "tls.h"
#include "udp.h"

#define TIMELINE_SLOT (100 * QASM_MS)
#define MAX_SOCKS 1024

struct cconn;

struct csock {
    int fd;
    ev_io w;
    struct qasm_addr local;
    struct sockaddr_storage lss;
    socklen_t lsl;
    qasm_tstamp retired_at;  /* when a newer socket replaced it */
    qasm_tstamp prepared_at; /* --migrate-ahead: when it was bound and announced */
    struct cconn *c;
};

struct creq {
    int64_t sid;
    uint64_t idx;
    qasm_tstamp start;
    uint64_t bytes, content_length;
    int has_clen, status, fin, bad, verify;
    uint64_t mig_at_start;
    struct creq *next;
};

struct cconn {
    struct qasm_h3conn q;  /* user_data of ngtcp2 and nghttp3 */
    struct client *cl;
    unsigned idx;
    struct csock *socks[MAX_SOCKS];  /* socks[nsocks-1] is the newest */
    size_t nsocks;
    /* --migrate-ahead: the next migrations' sockets, bound (and announced) early, in order */
    struct csock *next[QASM_H3C_MAX_AHEAD];
    unsigned nnext;
    qasm_tstamp mig_ran_at;  /* the migration timer's last run */
    qasm_tstamp resumed_at;  /* --migrate-ahead: the end of the last stall seen */
    qasm_tstamp migrated_at; /* the last migration */
    ev_timer mig_timer, req_timer, stall_timer;
    ev_timer hs_timer;       /* --handshake-timeout, until the handshake completes */
    struct qasm_migsched mig;
    uint64_t blocked;
    uint64_t started, completed;
    unsigned inflight;
    qasm_tstamp last_req;
    int confirmed, done, failed;
    uint64_t addr_idx;
    uint64_t old_path_pkts;  /* read on sockets ngtcp2 no longer knows */
    struct creq *reqs;
};

struct client {
    struct qasm_h3c_opts o;
    struct ev_loop *loop;
    struct qasm_addr remote;
    struct sockaddr_storage rss;
    socklen_t rsl;
    gnutls_certificate_credentials_t cred;
    struct cconn **conns;
    unsigned ndone;
    qasm_tstamp start, end_ts, last_done;
    uint64_t url_rr;
    struct qasm_hist hist;
    FILE *csv, *out;
    uint64_t *timeline;
    size_t ntimeline;
    /* counters */
    uint64_t requests_ok, requests_failed, bytes, verify_errors;
    uint64_t connections_failed, handshakes;
    struct qasm_h3conn_counters qc;  /* paths validated/failed (streams_reset not reported) */
    uint64_t stateless_resets, pkts_tx, pkts_rx, bytes_tx, bytes_rx, tx_errors, rx_dropped;
    uint64_t rx_guarded[QASM_DGRAM_VERDICTS]; /* refused before ngtcp2 (part of rx_dropped) */
    uint64_t socket_errors, socks_reopened, stalls;
    uint64_t requests_cut, handshake_timeouts;
    /* --migrate-ahead: the agent's qasm_agent_announce_path (NULL: no agent loaded). */
    __typeof__(qasm_agent_announce_path) *announce;
    uint64_t paths_prepared, paths_announced, announce_errors;
    ev_signal sigint, sigterm;
    ev_timer end_timer;      /* --duration: its end, then the end of --grace */
    const char *ended_by;    /* "requests", "duration" or "signal" */
};

static struct client cl_g;

/* cconn_of maps the user_data of an ngtcp2 or nghttp3 callback to its connection. */
static struct cconn *cconn_of(void *ud)
{
    return QASM_H3CONN_OWNER(ud, struct cconn, q);
}

static void conn_finish(struct cconn *c, int failed);
static void conn_io_done(struct cconn *c);
static void prepare_next(struct cconn *c);

/* ------------------------------------------------------------ sockets */

static void sock_read_cb(struct ev_loop *loop, ev_io *w, int revents);

static struct csock *sock_open(struct cconn *c, const struct qasm_addr *local)
{
    struct client *cl = c->cl;
    struct csock *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->fd = qasm_udp_connect(local, &cl->remote, &k->local);
    if (k->fd < 0) {
        char abuf[QASM_ADDR_STRLEN];
        qasm_warn("socket on %s: %s", local ? qasm_addr_format(abuf, sizeof(abuf), local) : "*",
                  strerror(-k->fd));
        cl->socket_errors++;
        free(k);
        return NULL;
    }
    k->lsl = qasm_addr_to_sockaddr(&k->lss, &k->local);
    k->c = c;
    ev_io_init(&k->w, sock_read_cb, k->fd, EV_READ);
    k->w.data = k;
    ev_io_start(cl->loop, &k->w);
    return k;
}

static void sock_close(struct client *cl, struct csock *k)
{
    ev_io_stop(cl->loop, &k->w);
    close(k->fd);
    free(k);
}

/*
 * sock_push makes |k| the newest socket. Old sockets stay open and read while
 * they are among the --keep-sockets newest or were replaced less than
 * --keep-sockets-for ago (packets in flight to them are still useful), at
 * most MAX_SOCKS per connection.
 */
static void sock_push(struct cconn *c, struct csock *k)
{
    const struct qasm_h3c_opts *o = &c->cl->o;
    qasm_tstamp now = qasm_now();
    size_t n = 0;
    if (c->nsocks > 0)
        c->socks[c->nsocks - 1]->retired_at = now;
    while (n < c->nsocks && (c->nsocks - n >= MAX_SOCKS ||
                             (c->nsocks - n > o->keep_sockets &&
                              c->socks[n]->retired_at + o->keep_sockets_for <= now)))
        sock_close(c->cl, c->socks[n++]);
    if (n > 0) {
        memmove(c->socks, c->socks + n, (c->nsocks - n) * sizeof(c->socks[0]));
        c->nsocks -= n;
    }
    c->socks[c->nsocks++] = k;
}

static struct csock *sock_for_path(struct cconn *c, const ngtcp2_path *path)
{
    struct qasm_addr a;
    if (qasm_addr_from_sockaddr(&a, path->local.addr, path->local.addrlen) != 0)
        return NULL;
    for (size_t i = c->nsocks; i-- > 0;)
        if (qasm_addr_eq(&c->socks[i]->local, &a))
            return c->socks[i];
    return NULL;
}

/* sock_path is the path from socket |k| to |remote|, with |k| as its user_data. */
static ngtcp2_path sock_path(struct csock *k, struct sockaddr *remote, socklen_t rl)
{
    ngtcp2_path path = {
        {(struct sockaddr *)&k->lss, k->lsl},
        {remote, rl},
        k,
    };
    return path;
}

static int send_path(void *ud, const ngtcp2_path *path, const uint8_t *pkt, size_t len,
                     size_t gso)
{
    struct cconn *c = ud;
    struct client *cl = c->cl;
    struct csock *k = sock_for_path(c, path);
    if (!k) {
        /* ngtcp2 fell back to a path whose socket we already closed (a path
         * validation failed and it returned to an old path): reopen a socket
         * on that exact local address, which is normally still free. */
        struct qasm_addr a;
        if (qasm_addr_from_sockaddr(&a, path->local.addr, path->local.addrlen) == 0 &&
            (k = sock_open(c, &a)) != NULL) {
            sock_push(c, k);
            cl->socks_reopened++;
        }
    }
    if (!k) {
        cl->tx_errors++;
        return -EINVAL;
    }
    int rv = qasm_udp_send(k->fd, pkt, len, NULL, 0, NULL, gso);
    if (rv != 0) {
        cl->tx_errors++;
        return rv;
    }
    size_t npkts = gso ? (len + gso - 1) / gso : 1;
    cl->pkts_tx += npkts;
    cl->bytes_tx += len;
    while (npkts--)
        qasm_migsched_on_packet(&c->mig);
    return 0;
}

/* --------------------------------------------------------------- results */

static void timeline_add(struct client *cl, qasm_tstamp now, uint64_t n)
{
    size_t slot = (size_t)((now - cl->start) / TIMELINE_SLOT);
    if (slot >= cl->ntimeline) {
        size_t cap = cl->ntimeline ? cl->ntimeline : 64;
        while (cap <= slot)
            cap *= 2;
        uint64_t *t = realloc(cl->timeline, cap * sizeof(*t));
        if (!t)
            return;
        memset(t + cl->ntimeline, 0, (cap - cl->ntimeline) * sizeof(*t));
        cl->timeline = t;
        cl->ntimeline = cap;
    }
    cl->timeline[slot] += n;
}

/* |ok|: 1 answered in full, 0 failed, -1 cut at the end of --duration + --grace. */
static void req_finish(struct cconn *c, struct creq *r, int ok)
{
    struct client *cl = c->cl;
    qasm_tstamp now = qasm_now();
    uint64_t lat_us = (now - r->start) / 1000;
    if (ok > 0) {
        cl->requests_ok++;
        qasm_hist_add(&cl->hist, lat_us);
    } else if (ok < 0) {
        cl->requests_cut++;
    } else {
        cl->requests_failed++;
    }
    cl->last_done = now;
    if (cl->csv)
        fprintf(cl->csv, "%u,%" PRIu64 ",%.6f,%" PRIu64 ",%" PRIu64 ",%d,%d,%" PRIu64 "\n", c->idx,
                r->idx, (double)(r->start - cl->start) / 1e9, lat_us, r->bytes, r->status, ok > 0,
                r->mig_at_start);
    for (struct creq **pp = &c->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    c->inflight--;
    c->completed++;
    free(r);
}

/* --------------------------------------------------------------- HTTP/3 */

static int h3_recv_header(nghttp3_conn *h3, int64_t sid, int32_t token, nghttp3_rcbuf *name,
                          nghttp3_rcbuf *value, uint8_t flags, void *ud, void *sud)
{
    struct creq *r = sud;
    nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
    char tmp[32];
    (void)h3;
    (void)sid;
    (void)name;
    (void)flags;
    (void)ud;
    if (!r || v.len >= sizeof(tmp))
        return 0;
    memcpy(tmp, v.base, v.len);
    tmp[v.len] = '\0';
    if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
        r->status = atoi(tmp);
    } else if (token == NGHTTP3_QPACK_TOKEN_CONTENT_LENGTH) {
        r->content_length = strtoull(tmp, NULL, 10);
        r->has_clen = 1;
    }
    return 0;
}

static int h3_recv_data(nghttp3_conn *h3, int64_t sid, const uint8_t *data, size_t len, void *ud,
                        void *sud)
{
    struct cconn *c = cconn_of(ud);
    struct client *cl = c->cl;
    struct creq *r = sud;
    (void)h3;
    qasm_h3conn_consume(&c->q, sid, len);
    if (!r)
        return 0;
    if (r->verify && !r->bad && qasm_content_check(data, r->bytes, len) != 0) {
        r->bad = 1;
        cl->verify_errors++;
    }
    r->bytes += len;
    cl->bytes += len;
    ev_timer_again(cl->loop, &c->stall_timer);

    timeline_add(cl, qasm_now(), len);
    if (cl->out && fwrite(data, 1, len, cl->out) != len)
        return NGHTTP3_ERR_CALLBACK_FAILURE;
    return 0;
}

static int h3_end_stream(nghttp3_conn *h3, int64_t sid, void *ud, void *sud)
{
    struct creq *r = sud;
    (void)h3;
    (void)sid;
    (void)ud;
    if (r)
        r->fin = 1;
    return 0;
}

static int h3_stream_close(nghttp3_conn *h3, int64_t sid, uint64_t code, void *ud, void *sud)
{
    struct cconn *c = cconn_of(ud);
    struct creq *r = sud;
    (void)h3;
    (void)sid;
    if (!r)
        return 0;
    int ok = code == NGHTTP3_H3_NO_ERROR && r->fin && r->status >= 200 && r->status < 300 &&
             !r->bad && (!r->has_clen || r->bytes == r->content_length);
    req_finish(c, r, ok);
    return 0;
}

/* The client's own nghttp3 callbacks (h3conn adds the shared ones). */
static const nghttp3_callbacks client_h3_callbacks = {
    .stream_close = h3_stream_close,
    .recv_data = h3_recv_data,
    .recv_header = h3_recv_header,
    .end_stream = h3_end_stream,
};

static int want_more_requests(struct cconn *c, qasm_tstamp now)
{
    struct client *cl = c->cl;
    if (cl->o.duration) /* the end timer may run a little before end_ts (libev's cached time) */
        return cl->ended_by == NULL && now < cl->end_ts;
    return c->started < cl->o.requests;
}

static int start_request(struct cconn *c, qasm_tstamp now)
{
    struct client *cl = c->cl;
    const struct qasm_url *u = &cl->o.urls[cl->url_rr++ % cl->o.nurls];
    char path[1024];
    int64_t sid;

    if (cl->o.have_size)
        snprintf(path, sizeof(path), "/bytes/%" PRIu64, cl->o.size);
    else
        snprintf(path, sizeof(path), "%s", u->path);
    if (ngtcp2_conn_open_bidi_stream(c->q.conn, &sid, NULL) != 0)
        return -1;
    struct creq *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->sid = sid;
    r->idx = c->started;
    r->start = now;
    r->mig_at_start = c->mig.ok;
    r->verify = cl->o.verify && strncmp(path, "/bytes/", 7) == 0;
    nghttp3_nv nva[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP3_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, NGHTTP3_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)u->authority, 10, strlen(u->authority),
         NGHTTP3_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP3_NV_FLAG_NONE},
        {(uint8_t *)"user-agent", (uint8_t *)"qasm-h3-client", 10, 14, NGHTTP3_NV_FLAG_NONE},
    };
    if (nghttp3_conn_submit_request(c->q.h3, sid, nva, 5, NULL, r) != 0) {
        free(r);
        return -1;
    }
    r->next = c->reqs;
    c->reqs = r;
    c->started++;
    if (c->inflight++ == 0)
        ev_timer_again(cl->loop, &c->stall_timer);
    c->last_req = now;
    return 0;
}

/* fill_requests starts requests up to --concurrency, honouring --interval. */
static void fill_requests(struct cconn *c)
{
    struct client *cl = c->cl;
    qasm_tstamp now = qasm_now();
    if (!c->q.h3 || c->done)
        return;
    while (c->inflight < cl->o.concurrency && want_more_requests(c, now) &&
           ngtcp2_conn_get_streams_bidi_left(c->q.conn) > 0) {
        if (cl->o.interval && c->started > 0 && now < c->last_req + cl->o.interval) {
            double d = (double)(c->last_req + cl->o.interval - now) / 1e9;
            ev_timer_stop(cl->loop, &c->req_timer);
            ev_timer_set(&c->req_timer, d, 0.);
            ev_timer_start(cl->loop, &c->req_timer);
            return;
        }
        if (start_request(c, now) != 0) {
            qasm_warn("conn %u: cannot start a request", c->idx);
            return;
        }
    }
    if (c->inflight == 0 && !want_more_requests(c, now))
        conn_finish(c, 0);
}

/* ------------------------------------------------------- ngtcp2 callbacks */

static int cb_get_new_connection_id(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
                                    size_t cidlen, void *ud)
{
    (void)conn;
    (void)ud;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    return 0;
}

static int cb_handshake_completed(ngtcp2_conn *conn, void *ud)
{
    struct cconn *c = cconn_of(ud);
    (void)conn;
    c->cl->handshakes++;
    ev_timer_stop(c->cl->loop, &c->hs_timer);
    return qasm_h3conn_setup_h3(&c->q, 0, &client_h3_callbacks) == 0 ? 0
                                                                      : NGTCP2_ERR_CALLBACK_FAILURE;
}

static void mig_timer_arm(struct cconn *c, qasm_tstamp now)
{
    qasm_tstamp next = qasm_migsched_next(&c->mig, now);
    ev_timer_stop(c->cl->loop, &c->mig_timer);
    if (next == QASM_TSTAMP_MAX)
        return;
    ev_timer_set(&c->mig_timer, next <= now ? 0. : (double)(next - now) / 1e9, 0.);
    ev_timer_start(c->cl->loop, &c->mig_timer);
}

static int cb_handshake_confirmed(ngtcp2_conn *conn, void *ud)
{
    struct cconn *c = cconn_of(ud);
    struct client *cl = c->cl;
    qasm_tstamp now = qasm_now();
    (void)conn;
    c->confirmed = 1;
    qasm_migsched_init(&c->mig, cl->o.mig_mode, cl->o.mig_period, cl->o.mig_packets, 8, now);
    prepare_next(c);
    mig_timer_arm(c, now);
    return 0;
}

static int cb_recv_stateless_reset(ngtcp2_conn *conn, const ngtcp2_pkt_stateless_reset *sr,
                                   void *ud)
{
    struct cconn *c = cconn_of(ud);
    (void)conn;
    (void)sr;
    c->cl->stateless_resets++;
    return 0;
}

/* ---------------------------------------------------------- migration */

static struct csock *new_path_socket(struct cconn *c)
{
    struct client *cl = c->cl;
    struct qasm_addr local;
    if (cl->o.mig_kind == QASM_MIG_KIND_ADDR) {
        qasm_addr_range_nth(&local, &cl->o.local_lo, &cl->o.local_hi, ++c->addr_idx);
    } else {
        local = c->socks[c->nsocks - 1]->local;
        local.port = 0;
    }
    return sock_open(c, &local);
}

/*
 * force_ping sends one ack-eliciting, non-probing packet on the current path
 * now: ngtcp2 0.12 has no PING API, but a keep-alive timeout that has
 * already expired makes the next write add a PING frame.
 */
static void force_ping(struct cconn *c, qasm_tstamp now)
{
    ngtcp2_conn_set_keep_alive_timeout(c->q.conn, 1);
    (void)qasm_h3conn_flush(&c->q, now);
    ngtcp2_conn_set_keep_alive_timeout(c->q.conn, c->cl->o.keep_alive);
}

/*
 * rebind_to moves the connection to socket |k| without a new DCID, as a NAT
 * rebinding does. Packets from the server to the old port are then ignored by
 * ngtcp2, and a downloading client has nothing ack-eliciting to send: make
 * the server see the new address now (force_ping).
 */
static void rebind_to(struct cconn *c, struct csock *k, qasm_tstamp now)
{
    ngtcp2_addr a = {(struct sockaddr *)&k->lss, k->lsl};
    ngtcp2_conn_set_local_addr(c->q.conn, &a);
    ngtcp2_conn_set_path_user_data(c->q.conn, k);
    sock_push(c, k);
    force_ping(c, now);
}

/*
 * --migrate-ahead N: keeps the sockets of the next N migrations bound and,
 * with the client agent loaded, announces each one's address for the
 * connection when it is bound, so the tracker attests it (and its pushes
 * reach the middleboxes) N migration intervals before the first packet on
 * it: a backlog of migrations made back to back still uses paths announced
 * earlier.
 */
static void prepare_next(struct cconn *c)
{
    struct client *cl = c->cl;
    struct csock *k;
    while (!c->done && c->nnext < cl->o.mig_ahead && (k = new_path_socket(c)) != NULL) {
        k->prepared_at = qasm_now();
        c->next[c->nnext++] = k;
        cl->paths_prepared++;
        if (!cl->announce)
            continue;
        int rv = cl->announce(c->q.conn, (struct sockaddr *)&k->lss, k->lsl);
        if (rv == 0) {
            cl->paths_announced++;
        } else if (cl->announce_errors++ == 0) {
            char a[QASM_ADDR_STRLEN];
            qasm_warn("conn %u: the agent did not announce %s: %s (said once; counted in "
                      "announce_errors)", c->idx, qasm_addr_format(a, sizeof(a), &k->local),
                      strerror(-rv));
        }
    }
}

/*
 * When the next migration may use the oldest prepared path (--migrate-ahead
 * N, period schedules): N/2 migration intervals after the path was
 * announced and after the end of the client's last stall, half an
 * interval after the last migration. In step, a path is used N intervals
 * after its announcement and nothing waits. What it holds back is a
 * backlog made up back to back (after a stall, or after migrations blocked
 * for want of a spare DCID), which would run onto paths announced a short
 * while before, onto paths announced just before a stall that most likely
 * held up the tracker and the middleboxes as well (a shared machine), or
 * onto DCIDs the server issued microseconds before: each ahead of the
 * tracker's push.
 * (Spacing them a whole interval would defer nearly every migration on
 * timer jitter alone and skip a sixth of them.)
 */
static qasm_tstamp next_ready_at(const struct cconn *c)
{
    const struct qasm_h3c_opts *o = &c->cl->o;
    if (o->mig_mode != QASM_MIG_PERIOD)
        return c->next[0]->prepared_at;
    qasm_tstamp wait = o->mig_ahead * o->mig_period / 2;
    qasm_tstamp t = c->next[0]->prepared_at + wait;
    if (c->resumed_at + wait > t)
        t = c->resumed_at + wait;
    if (c->migrated_at + o->mig_period / 2 > t)
        t = c->migrated_at + o->mig_period / 2;
    return t;
}

/*
 * migrate performs one migration now; returns 1 when it happened, 0 when it
 * could not, -1 when it is put off until *|until| (the next path too young).
 */
static int migrate(struct cconn *c, qasm_tstamp now, qasm_tstamp *until)
{
    struct client *cl = c->cl;
    struct csock *k;
    int rv;

    if (!c->confirmed || c->done)
        return 0;
    if (c->nnext > 0 && (*until = next_ready_at(c)) > now)
        return -1;
    if (c->nnext > 0) {
        k = c->next[0];
        memmove(c->next, c->next + 1, --c->nnext * sizeof(c->next[0]));
    } else if (!(k = new_path_socket(c))) {
        return 0;
    }
    if (cl->o.rebind) {
        rebind_to(c, k, now);
        c->migrated_at = now;
        prepare_next(c);
        return 1;
    }
    ngtcp2_path path = sock_path(k, (struct sockaddr *)&cl->rss, cl->rsl);
    rv = ngtcp2_conn_initiate_immediate_migration(c->q.conn, &path, now);
    if (rv != 0) {
        if (rv == NGTCP2_ERR_CONN_ID_BLOCKED)
            c->blocked++;
        else
            qasm_debug("conn %u: migration: %s", c->idx, ngtcp2_strerror(rv));
        if (cl->o.mig_ahead) { /* announced already: the next attempt uses it */
            memmove(c->next + 1, c->next, c->nnext++ * sizeof(c->next[0]));
            c->next[0] = k;
        } else {
            sock_close(cl, k);
        }
        return 0;
    }
    sock_push(c, k);
    c->migrated_at = now;
    prepare_next(c);
    /* Immediate migration sends a PATH_CHALLENGE, a probing packet: the
     * server answers it but keeps sending on its current path until a
     * non-probing packet arrives on the new one. A downloading client may
     * have nothing else to send, and if the server's current path is one
     * whose socket is gone the connection would stall until idle timeout. */
    force_ping(c, now);
    return 1;
}

/* run_migrations performs the migrations that are due, then re-arms the timer. */
static void run_migrations(struct cconn *c)
{
    qasm_tstamp now = qasm_now();
    if (c->done || !c->confirmed)
        return;
    /* The timer runs at least once an interval: a gap of two is a stall. */
    if (c->cl->o.mig_ahead && c->mig.mode == QASM_MIG_PERIOD && c->mig_ran_at &&
        now - c->mig_ran_at > 2 * c->mig.period)
        c->resumed_at = now;
    c->mig_ran_at = now;
    /* One migration per pass; the timer fires again at once for a backlog. */
    if (qasm_migsched_due(&c->mig, now)) {
        qasm_tstamp until = 0;
        int ok = migrate(c, now, &until);
        if (ok < 0) {
            qasm_migsched_defer(&c->mig, until);
            mig_timer_arm(c, now);
            return;
        }
        qasm_migsched_done(&c->mig, ok, now);
        /* No spare DCID: the server may be sending on a path we no longer
         * listen to (its path validation failed and it fell back), and then
         * nothing would ever reach us again. A PING on our current path
         * brings it back. */
        if (!ok && !c->done)
            force_ping(c, now);
    }
    mig_timer_arm(c, now);
}

static void mig_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cconn *c = w->data;
    (void)loop;
    (void)revents;
    run_migrations(c);
    if (!c->done)
        conn_io_done(c);
}

/* ------------------------------------------------------------- conn I/O */

/* conn_io_done starts requests, flushes packets and re-arms the timer. */
static void conn_io_done(struct cconn *c)
{
    fill_requests(c);
    if (c->done)
        return;
    int rv = qasm_h3conn_flush(&c->q, qasm_now());
    if (rv != 0) {
        qasm_warn("conn %u: write: %s", c->idx, ngtcp2_strerror(rv));
        qasm_h3conn_close_pkt(&c->q, rv, 0);
        conn_finish(c, 1);
        return;
    }
    if (c->mig.mode == QASM_MIG_PACKETS && c->mig.pending)
        run_migrations(c);
    qasm_h3conn_arm_timer(&c->q);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cconn *c = w->data;
    (void)loop;
    (void)revents;
    int rv = ngtcp2_conn_handle_expiry(c->q.conn, qasm_now());
    if (rv != 0) {
        qasm_warn("conn %u: %s", c->idx,
                  rv == NGTCP2_ERR_IDLE_CLOSE ? "idle timeout" : ngtcp2_strerror(rv));
        if (rv != NGTCP2_ERR_IDLE_CLOSE)
            qasm_h3conn_close_pkt(&c->q, rv, 0);
        conn_finish(c, 1);
        return;
    }
    conn_io_done(c);
}

/*
 * stall_timer_cb: requests in flight and no response byte for the idle
 * timeout. The keep-alive PINGs keep the QUIC connection alive, so without
 * this a stuck transfer would never end: fail the connection visibly.
 */
static void stall_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cconn *c = w->data;
    (void)revents;
    if (c->done)
        return;
    if (c->inflight == 0) {
        ev_timer_stop(loop, w);
        return;
    }
    qasm_warn("conn %u: no response data for %.1f s with %u requests in flight", c->idx,
              (double)c->cl->o.idle_timeout / 1e9, c->inflight);
    c->cl->stalls++;
    qasm_h3conn_close_pkt(&c->q, 0, NGHTTP3_H3_INTERNAL_ERROR);
    conn_finish(c, 1);
}

/* --handshake-timeout: no completed handshake yet (a dead port, a middlebox that drops). */
static void hs_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cconn *c = w->data;
    char a[QASM_ADDR_STRLEN];
    (void)loop;
    (void)revents;
    if (c->done)
        return;
    qasm_warn("conn %u: handshake timed out after %.1f s: no answer from %s", c->idx,
              (double)c->cl->o.handshake_timeout / 1e9,
              qasm_addr_format(a, sizeof(a), &c->cl->remote));
    c->cl->handshake_timeouts++;
    conn_finish(c, 1);
}

/*
 * --duration's end: no request starts any more (want_more_requests), and
 * a connection with none in flight closes now; the others get --grace to
 * finish theirs, then the second expiry cuts what is left (requests_cut)
 * and closes them. A connection still without handshake then fails.
 */
static void end_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct client *cl = w->data;
    (void)revents;
    int cut = cl->ended_by != NULL;
    cl->ended_by = "duration";
    for (unsigned i = 0; i < cl->o.connections; i++) {
        struct cconn *c = cl->conns[i];
        if (!c || c->done)
            continue;
        if (!cut) {
            conn_io_done(c); /* no more requests: closes it when none is in flight */
            continue;
        }
        if (!c->q.h3) {
            conn_finish(c, 1);
            continue;
        }
        while (c->reqs)
            req_finish(c, c->reqs, -1);
        cl->last_done = qasm_now(); /* the run ends here: its bytes were received until now */
        conn_finish(c, 0);
    }
    if (!cut && cl->ndone < cl->o.connections) {
        ev_timer_set(w, (double)cl->o.grace / 1e9, 0.);
        ev_timer_start(loop, w);
    }
}

static void req_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cconn *c = w->data;
    (void)loop;
    (void)revents;
    if (!c->done)
        conn_io_done(c);
}

/*
 * sock_known_to_ngtcp2 tells whether ngtcp2 accepts packets arriving on |k|:
 * its local address is that of the current path, of the path being validated
 * or its fallback, or of a retired path still remembered (the paths of
 * ngtcp2_conn_get_active_dcid). Packets on other sockets would be dropped.
 */
static int sock_known_to_ngtcp2(struct cconn *c, const struct csock *k)
{
    ngtcp2_cid_token toks[16];
    struct qasm_addr a;
    const ngtcp2_path *cur = ngtcp2_conn_get_path(c->q.conn);
    if (qasm_addr_from_sockaddr(&a, cur->local.addr, cur->local.addrlen) == 0 &&
        qasm_addr_eq(&a, &k->local))
        return 1;
    size_t n = ngtcp2_conn_get_num_active_dcid(c->q.conn);
    if (n > sizeof(toks) / sizeof(toks[0]))
        return 1;
    n = ngtcp2_conn_get_active_dcid(c->q.conn, toks);
    for (size_t i = 0; i < n; i++) {
        const ngtcp2_addr *l = &toks[i].ps.path.local;
        if (qasm_addr_from_sockaddr(&a, l->addr, l->addrlen) == 0 && qasm_addr_eq(&a, &k->local))
            return 1;
    }
    return 0;
}

static void sock_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct csock *k = w->data;
    struct cconn *c = k->c;
    struct client *cl = c->cl;
    static uint8_t buf[65536];
    (void)loop;
    (void)revents;
    int old = !sock_known_to_ngtcp2(c, k);
    for (int i = 0; i < 64 && !c->done; i++) {
        struct sockaddr_storage remote;
        socklen_t rl;
        ssize_t n = qasm_udp_recv(k->fd, buf, sizeof(buf), &remote, &rl, NULL);
        if (n < 0)
            break;
        cl->pkts_rx++;
        cl->bytes_rx += (uint64_t)n;
        /* ngtcp2_conn_read_pkt returns NGTCP2_ERR_INVALID_ARGUMENT for an
         * empty datagram, which would end the connection below; anyone can
         * send one through a NAT (h3guard.c). Refuse it, count it, go on. */
        enum qasm_dgram_verdict v = qasm_dgram_guard(buf, (size_t)n, cl->o.cid_len);
        if (v != QASM_DGRAM_OK) {
            cl->rx_dropped++;
            cl->rx_guarded[v]++;
            continue;
        }
        ngtcp2_path path = sock_path(k, (struct sockaddr *)&remote, rl);
        if (old) {
            /* ngtcp2 no longer knows this path (it keeps the current one,
             * the one being validated and its fallback, and the 2 last
             * retired ones) and would drop the packet ("unknown path"): hand it in
             * as received on the current path, so its data is used and
             * ACKed. Without the ACK, an ngtcp2 0.12.1 server that cancelled
             * its loss-detection timer at the anti-amplification limit of an
             * unvalidated path can wait forever with a full cwnd. */
            const ngtcp2_path *cur = ngtcp2_conn_get_path(c->q.conn);
            path.local = cur->local;
            path.user_data = cur->user_data;
            c->old_path_pkts++;
        }
        int rv = ngtcp2_conn_read_pkt(c->q.conn, &path, NULL, buf, (size_t)n, qasm_now());
        if (rv != 0) {
            if (rv == NGTCP2_ERR_DISCARD_PKT) {
                cl->rx_dropped++;
                continue;
            }
            qasm_warn("conn %u: read: %s", c->idx, ngtcp2_strerror(rv));
            if (rv != NGTCP2_ERR_DRAINING && rv != NGTCP2_ERR_CLOSING)
                qasm_h3conn_close_pkt(&c->q, rv, 0);
            conn_finish(c, 1);
            return;
        }
    }
    /* The socket may have been closed by a migration inside read_pkt callbacks: no. */
    if (!c->done)
        conn_io_done(c);
}

/* conn_finish ends |c|: a clean close when all requests are done, else a failure. */
static void conn_finish(struct cconn *c, int failed)
{
    struct client *cl = c->cl;
    if (c->done)
        return;
    c->done = 1;
    c->failed = failed;
    if (!failed)
        qasm_h3conn_close_pkt(&c->q, 0, NGHTTP3_H3_NO_ERROR);
    while (c->reqs)
        req_finish(c, c->reqs, 0);
    if (failed) {
        cl->connections_failed++;
        if (!cl->o.duration && c->started < cl->o.requests)
            cl->requests_failed += cl->o.requests - c->started;
    }
    ev_timer_stop(cl->loop, &c->q.timer);
    ev_timer_stop(cl->loop, &c->mig_timer);
    ev_timer_stop(cl->loop, &c->req_timer);
    ev_timer_stop(cl->loop, &c->stall_timer);
    ev_timer_stop(cl->loop, &c->hs_timer);
    for (size_t i = 0; i < c->nsocks; i++)
        ev_io_stop(cl->loop, &c->socks[i]->w);
    for (unsigned i = 0; i < c->nnext; i++)
        ev_io_stop(cl->loop, &c->next[i]->w);
    if (++cl->ndone == cl->o.connections)
        ev_break(cl->loop, EVBREAK_ALL);
}

static int conn_start(struct client *cl, struct cconn *c)
{
    ngtcp2_callbacks cb;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    ngtcp2_cid dcid, scid;
    struct qasm_addr first;
    struct csock *k;

    c->cl = cl;
    qasm_h3conn_init(&c->q, cl->loop, send_path, c, timer_cb, QASM_LOG_WARN, &cl->qc);
    ev_init(&c->mig_timer, mig_timer_cb);
    c->mig_timer.data = c;
    ev_init(&c->req_timer, req_timer_cb);
    c->req_timer.data = c;
    ev_init(&c->stall_timer, stall_timer_cb);
    c->stall_timer.repeat = (double)cl->o.idle_timeout / 1e9;
    c->stall_timer.data = c;
    ev_timer_init(&c->hs_timer, hs_timer_cb, (double)cl->o.handshake_timeout / 1e9, 0.);
    c->hs_timer.data = c;
    ev_timer_start(cl->loop, &c->hs_timer);
    qasm_migsched_init(&c->mig, QASM_MIG_NONE, 0, 0, 1, 0);
    if (cl->o.have_local_addrs) {
        c->addr_idx = c->idx;
        qasm_addr_range_nth(&first, &cl->o.local_lo, &cl->o.local_hi, c->addr_idx);
        k = sock_open(c, &first);
    } else {
        k = sock_open(c, NULL);
    }
    if (!k)
        return -1;
    sock_push(c, k);

    dcid.datalen = 18;
    scid.datalen = cl->o.cid_len;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0)
        return -1;
    qasm_h3conn_settings(&settings, qasm_now(), cl->o.initial_rtt);
    settings.no_pmtud = 1;
    if (cl->o.qlog_dir) {
        char name[64], hex[QASM_CID_HEXLEN];
        struct qasm_cid q;
        qasm_cid_set(&q, dcid.data, dcid.datalen);
        snprintf(name, sizeof(name), "client-%u-%s", c->idx, qasm_cid_hex(hex, &q));
        qasm_h3conn_qlog_open(&c->q, &settings, cl->o.qlog_dir, name);
    }
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 4 * 1024 * 1024;
    params.initial_max_stream_data_bidi_remote = 256 * 1024;
    params.initial_max_stream_data_uni = 256 * 1024;
    params.initial_max_data = 8 * 1024 * 1024;
    params.initial_max_streams_bidi = 0;
    params.initial_max_streams_uni = 100;
    params.max_idle_timeout = cl->o.idle_timeout;
    params.max_ack_delay = cl->o.max_ack_delay;
    params.active_connection_id_limit = 8;
    ngtcp2_path path = sock_path(k, (struct sockaddr *)&cl->rss, cl->rsl);
    qasm_h3conn_callbacks(&cb);
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.handshake_completed = cb_handshake_completed;
    cb.recv_stateless_reset = cb_recv_stateless_reset;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb.get_new_connection_id = cb_get_new_connection_id;
    cb.handshake_confirmed = cb_handshake_confirmed;
    int rv = ngtcp2_conn_client_new(&c->q.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb,
                                    &settings, &params, NULL, &c->q);
    if (rv != 0) {
        qasm_error("ngtcp2_conn_client_new: %s", ngtcp2_strerror(rv));
        return -1;
    }
    if (qasm_h3conn_start_tls(&c->q, 0, cl->cred, cl->o.urls[0].host) != 0)
        return -1;
    ngtcp2_conn_set_keep_alive_timeout(c->q.conn, cl->o.keep_alive);
    conn_io_done(c);
    return 0;
}

static void conn_free(struct client *cl, struct cconn *c)
{
    for (size_t i = 0; i < c->nsocks; i++)
        sock_close(cl, c->socks[i]);
    for (unsigned i = 0; i < c->nnext; i++)
        sock_close(cl, c->next[i]);
    qasm_h3conn_free(&c->q);
    free(c);
}

/* ----------------------------------------------------------------- main */

static int resolve_remote(struct client *cl)
{
    const struct qasm_url *u = &cl->o.urls[0];
    char hp[300], err[400];
    if (cl->o.have_connect) {
        cl->remote = cl->o.connect;
    } else {
        snprintf(hp, sizeof(hp), strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host, u->port);
        if (qasm_cli_resolve(&cl->remote, hp, err, sizeof(err)) < 0) {
            fprintf(stderr, "qasm-h3-client: %s\n", err);
            return -1;
        }
    }
    cl->rsl = qasm_addr_to_sockaddr(&cl->rss, &cl->remote);
    return 0;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    cl_g.ended_by = "signal";
    ev_break(loop, EVBREAK_ALL);
}

/*
 * The --json summary: one compact object on one line, keys in this order
 * (qasm-bench and the tests read it). duration_s is seconds rounded to the
 * microsecond, throughput_bps whole bits per second.
 */
static void print_json(struct client *cl, double dur)
{
    uint64_t mig = 0, mig_failed = 0, mig_att = 0, blocked = 0, skipped = 0, old_path = 0;
    uint64_t deferred = 0;
    for (unsigned i = 0; i < cl->o.connections; i++) {
        const struct cconn *c = cl->conns[i];
        if (!c)
            continue;
        mig += c->mig.ok;
        mig_failed += c->mig.failed;
        mig_att += c->mig.attempted;
        blocked += c->blocked;
        skipped += c->mig.skipped;
        deferred += c->mig.deferred;
        old_path += c->old_path_pkts;
    }
    static const char *const head_keys[] = {
        "requests_ok", "requests_failed", "migrations", "migrations_failed",
        "migrations_attempted", "migrations_blocked", "migrations_skipped", "bytes",
    };
    const uint64_t head[] = { cl->requests_ok, cl->requests_failed, mig, mig_failed, mig_att,
                              blocked, skipped, cl->bytes };
    _Static_assert(sizeof(head) / sizeof(head[0]) == sizeof(head_keys) / sizeof(head_keys[0]),
                   "one key per counter");
    static const char *const tail_keys[] = {
        "latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_max_us", "connections",
        "connections_failed", "handshakes", "verify_errors", "paths_validated",
        "path_validation_failed", "path_validation_aborted", "stateless_resets", "packets_sent",
        "packets_received",
        "udp_bytes_sent", "udp_bytes_received", "send_errors", "socket_errors",
        "sockets_reopened", "old_path_packets", "stalls", "packets_dropped", "dropped_empty",
        "dropped_truncated", "requests_cut", "handshake_timeouts", "paths_prepared",
        "paths_announced", "announce_errors", "migrations_deferred",
    };
    const uint64_t tail[] = {
        qasm_hist_percentile(&cl->hist, 50), qasm_hist_percentile(&cl->hist, 90),
        qasm_hist_percentile(&cl->hist, 99), cl->hist.max, cl->o.connections,
        cl->connections_failed, cl->handshakes, cl->verify_errors, cl->qc.paths_validated,
        cl->qc.path_validation_failed, cl->qc.path_validation_aborted, cl->stateless_resets,
        cl->pkts_tx, cl->pkts_rx,
        cl->bytes_tx, cl->bytes_rx, cl->tx_errors, cl->socket_errors, cl->socks_reopened,
        old_path, cl->stalls, cl->rx_dropped, cl->rx_guarded[QASM_DGRAM_EMPTY],
        cl->rx_guarded[QASM_DGRAM_TRUNCATED], cl->requests_cut, cl->handshake_timeouts,
        cl->paths_prepared, cl->paths_announced, cl->announce_errors, deferred,
    };
    _Static_assert(sizeof(tail) / sizeof(tail[0]) == sizeof(tail_keys) / sizeof(tail_keys[0]),
                   "one key per counter");
    json_t *j = json_object();
    qasm_h3conn_json_counters(j, head_keys, head, sizeof(head) / sizeof(head[0]));
    json_object_set_new(j, "duration_s", json_real(round(dur * 1e6) / 1e6));
    json_object_set_new(j, "throughput_bps",
                        json_integer((json_int_t)nearbyint(dur > 0 ? (double)cl->bytes * 8 / dur
                                                                   : 0.0)));
    qasm_h3conn_json_counters(j, tail_keys, tail, sizeof(tail) / sizeof(tail[0]));
    for (size_t i = 0; cl->hist.n == 0 && i < 4; i++) /* no request answered: no latency, not 0 */
        json_object_set_new(j, tail_keys[i], json_null());
    json_object_set_new(j, "ended_by", json_string(cl->ended_by));
    qasm_h3conn_json_print(j, stdout);
}

static int write_timeline(struct client *cl, qasm_tstamp end)
{
    FILE *f = qasm_cli_fopen(cl->o.timeline, "w");
    if (!f) {
        fprintf(stderr, "qasm-h3-client: %s: %s\n", cl->o.timeline, strerror(errno));
        return -1;
    }
    size_t slots = (size_t)((end - cl->start) / TIMELINE_SLOT) + 1;
    fprintf(f, "t_s,bytes,throughput_bps\n");
    for (size_t i = 0; i < slots; i++) {
        uint64_t b = i < cl->ntimeline ? cl->timeline[i] : 0;
        fprintf(f, "%.1f,%" PRIu64 ",%.0f\n", (double)i * 0.1, b, (double)b * 8 / 0.1);
    }
    return qasm_cli_fclose(f) == 0 ? 0 : -1;
}

/* Logging, the remote address, output files, TLS; 0, or the exit status (said). */
static int client_setup(struct client *cl)
{
    int level = qasm_log_level_parse(cl->o.log_level);
    if (level < 0)
        qasm_cli_usage_exit("qasm-h3-client", "--log-level: expected debug|info|warn|error|off");
    qasm_log_init("qasm-h3-client", (enum qasm_log_level)level);
    qasm_quic_set_gso(cl->o.gso);
    if (cl->o.cid_len > 0 && !cl->o.rebind &&
        ((cl->o.mig_mode == QASM_MIG_PERIOD && cl->o.mig_period < 10 * QASM_MS) ||
         cl->o.mig_mode == QASM_MIG_PACKETS))
        qasm_warn("--cid-len %u with migrations faster than 100 Hz can make an ngtcp2 0.12.1 "
                  "server abort (it retires one client CID twice); the default 0 avoids it",
                  cl->o.cid_len);
    if (resolve_remote(cl) != 0)
        return 2;
    if (cl->o.mig_ahead) {
        /* The agent, when preloaded (or linked): found, not needed. */
        *(void **)&cl->announce = dlsym(RTLD_DEFAULT, "qasm_agent_announce_path");
        if (!cl->announce)
            qasm_info("--migrate-ahead: no client agent loaded: the next paths are bound "
                      "early but not announced");
    }
    if (cl->o.have_local_addrs && cl->o.local_lo.family != cl->remote.family) {
        fprintf(stderr, "qasm-h3-client: --local-addrs family differs from the server's\n");
        return 2;
    }
    if (cl->o.csv) {
        if (!(cl->csv = qasm_cli_fopen(cl->o.csv, "w"))) {
            fprintf(stderr, "qasm-h3-client: %s: %s\n", cl->o.csv, strerror(errno));
            return 1;
        }
        fprintf(cl->csv, "conn,request,start_s,latency_us,bytes,status,ok,migrations\n");
    }
    if (cl->o.output && !(cl->out = qasm_cli_fopen(cl->o.output, "w"))) {
        fprintf(stderr, "qasm-h3-client: %s: %s\n", cl->o.output, strerror(errno));
        return 1;
    }
    if (qasm_tls_client_cred(&cl->cred) != 0)
        return 1;
    return 0;
}

/* Starts every connection, runs the loop until they are done or a signal; 0, or 1. */
static int client_run(struct client *cl)
{
    signal(SIGPIPE, SIG_IGN);
    qasm_hist_init(&cl->hist);
    cl->loop = EV_DEFAULT;
    cl->conns = calloc(cl->o.connections, sizeof(*cl->conns));
    if (!cl->conns)
        return 1;
    cl->start = qasm_now();
    cl->last_done = cl->start;
    cl->end_ts = cl->start + cl->o.duration;
    ev_signal_init(&cl->sigint, signal_cb, SIGINT);
    ev_signal_init(&cl->sigterm, signal_cb, SIGTERM);
    ev_signal_start(cl->loop, &cl->sigint);
    ev_signal_start(cl->loop, &cl->sigterm);
    ev_now_update(cl->loop);
    ev_timer_init(&cl->end_timer, end_timer_cb, (double)cl->o.duration / 1e9, 0.);
    cl->end_timer.data = cl;
    if (cl->o.duration)
        ev_timer_start(cl->loop, &cl->end_timer);
    for (unsigned i = 0; i < cl->o.connections; i++) {
        struct cconn *c = calloc(1, sizeof(*c));
        if (!c)
            return 1;
        c->idx = i;
        cl->conns[i] = c;
        if (conn_start(cl, c) != 0) {
            fprintf(stderr, "qasm-h3-client: connection %u could not start\n", i);
            conn_finish(c, 1);
        }
    }
    if (cl->ndone < cl->o.connections)
        ev_run(cl->loop, 0);
    /* Connections interrupted by a signal count as failed. */
    for (unsigned i = 0; i < cl->o.connections; i++)
        if (!cl->conns[i]->done)
            conn_finish(cl->conns[i], 1);
    return 0;
}

/* The summary and the files, then everything freed; the exit status. */
static int client_finish(struct client *cl)
{
    qasm_tstamp end = cl->last_done;
    double dur = (double)(end - cl->start) / 1e9;
    char a[QASM_ADDR_STRLEN];
    if (!cl->ended_by)
        cl->ended_by = "requests";
    if (cl->o.json)
        print_json(cl, dur);
    if (cl->handshake_timeouts) /* said even with --json: "0 bytes" alone explains nothing */
        fprintf(stderr, "qasm-h3-client: handshake timed out (--handshake-timeout %.1fs) on %" PRIu64
                " of %u connections: no answer from %s\n", (double)cl->o.handshake_timeout / 1e9,
                cl->handshake_timeouts, cl->o.connections,
                qasm_addr_format(a, sizeof(a), &cl->remote));
    int status = (cl->requests_failed || cl->connections_failed) ? 1 : 0;
    if (cl->o.timeline && write_timeline(cl, end) != 0)
        status = 1;
    if (cl->csv && qasm_cli_fclose(cl->csv) != 0)
        status = 1;
    if (cl->out && qasm_cli_fclose(cl->out) != 0)
        status = 1;
    for (unsigned i = 0; i < cl->o.connections; i++)
        conn_free(cl, cl->conns[i]);
    free(cl->conns);
    free(cl->timeline);
    gnutls_certificate_free_credentials(cl->cred);
    if (!cl->o.json)
        fprintf(stderr, "qasm-h3-client: %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64
                " cut, %" PRIu64 " bytes in %.3f s (ended by %s)\n", cl->requests_ok,
                cl->requests_failed, cl->requests_cut, cl->bytes, dur, cl->ended_by);
    return status;
}

int main(int argc, char **argv)
{
    struct client *cl = &cl_g;
    char err[256];
    qasm_cli_front("qasm-h3-client", argc, argv);
    int rv = qasm_h3c_opts_parse(&cl->o, argc, argv, err, sizeof(err));
    if (rv == 1) {
        fputs(qasm_h3c_usage(), stdout);
        return 0;
    }
    if (rv != 0)
        qasm_cli_usage_exit("qasm-h3-client", err);
    qasm_cli_resolve_names("qasm-h3-client", &cl->o.names);
    rv = client_setup(cl);
    if (rv == 0)
        rv = client_run(cl);
    return rv != 0 ? rv : client_finish(cl);
}
