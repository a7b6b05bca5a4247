/*
 * h3server.c: qasm-h3-server, an HTTP/3 server (ngtcp2 + nghttp3 + gnutls +
 * libev) that serves synthetic content, issues spare connection IDs fast
 * enough for 1000 migrations per second, accepts migrated paths and prints
 * its counters as JSON at SIGTERM/SIGINT. Datagrams are dispatched by DCID,
 * never by 4-tuple; short-header packets for unknown DCIDs are counted and
 * answered with a stateless reset (unless --no-stateless-reset).
 *
 * A connection that closes is kept, with its connection IDs, for three PTOs
 * (RFC 9000 10.2): in the closing state (we sent CONNECTION_CLOSE) its
 * packets are answered with the stored CONNECTION_CLOSE, at a falling rate;
 * in the draining state (the peer closed) they are dropped silently. Either
 * way they never meet a stateless reset. An idle timeout frees at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
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
#include "clock.h"
#include "content.h"
#include "h3conn.h"
#include "h3guard.h"
#include "hash.h"
#include "htab.h"
#include "log.h"
#include "parse.h"
#include "quicwrite.h"
#include "serveropts.h"
#include "tls.h"
#include "udp.h"

#define MAX_LISTEN QASM_H3S_MAX_LISTEN
#define SECRET_LEN QASM_H3S_SECRET_LEN

struct listener {
    int fd;
    ev_io w;
    struct qasm_addr addr;
    struct sockaddr_storage ss;
    socklen_t sl;
};

struct counters {
    uint64_t connections, handshakes, closed, idle_closed, conn_errors;
    uint64_t requests, responses_2xx, responses_4xx;
    uint64_t body_bytes_sent, body_bytes_received;
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, tx_errors;
    uint64_t migrations;
    struct qasm_h3conn_counters qc;  /* paths_validated, path_validation_failed, streams_reset */
    uint64_t cids_issued, cids_retired;
    uint64_t unknown_dcid, stateless_resets, version_negotiations, dropped;
    uint64_t dropped_why[QASM_H3_DROP_REASONS]; /* before ngtcp2 (part of dropped) */
    /* connections that entered the closing / draining state; CONNECTION_CLOSE
     * sent again in the closing state; packets for closing/draining
     * connections that got no answer */
    uint64_t closing, draining, close_resent, closing_dropped;
    uint64_t rebinding_resets;  /* port-only peer changes handed to ngtcp2 as migrations */
};

struct server {
    struct ev_loop *loop;
    struct listener ls[MAX_LISTEN];
    size_t nls;
    struct qasm_htab *cids;
    gnutls_certificate_credentials_t cred;
    uint8_t secret[SECRET_LEN];
    struct qasm_h3s_opts o;  /* the command line: cid_len, timeouts, stateless_reset, json */
    int shutting;            /* SIGTERM/SIGINT seen: closing period */
    ev_timer drain;
    struct counters n;
    struct sconn *conns;
    size_t nconns;           /* in the list, closing and draining ones included */
    size_t nclosing;         /* of which in the closing or draining state */
    qasm_tstamp start;
    ev_signal sigint, sigterm;
};

struct cident {
    struct qasm_cid cid;
    struct sconn *c;
};

struct sstream {
    int64_t id;
    char method[16];
    char path[512];
    uint64_t body_len, body_off;   /* /bytes/N body */
    int is_bytes;                  /* body is the synthetic content */
    uint8_t *buf;                  /* other bodies (echo, stats, page) */
    size_t buflen, bufcap, bufoff;
    int responded;
    struct sstream *next;
};

/* A connection's life: open, then closing or draining for 3 x PTO, then freed. */
enum sconn_state { SCONN_OPEN, SCONN_CLOSING, SCONN_DRAINING };

struct sconn {
    struct qasm_h3conn q;  /* user_data of ngtcp2 and nghttp3 */
    struct server *srv;
    struct cident **cids;
    size_t ncids, capcids;
    struct sstream *streams;
    uint8_t *close_pkt;   /* our CONNECTION_CLOSE (closing state, shutdown), resent on input */
    size_t close_len;
    enum sconn_state state;
    uint64_t closing_rx;  /* packets received since the connection left SCONN_OPEN */
    struct qasm_addr no_reset_remote;  /* rebinding_prepare failed for this peer address */
    struct qasm_cid last_dcid;         /* DCID of the last 1-RTT packet read */
    struct sconn *prev, *next;
};

static struct server srv_g;

/* sconn_of maps the user_data of an ngtcp2 or nghttp3 callback to its connection. */
static struct sconn *sconn_of(void *ud)
{
    return QASM_H3CONN_OWNER(ud, struct sconn, q);
}

static uint64_t cid_hash(const struct qasm_cid *c)
{
    return qasm_cid_hash(c, 0x5153414d);
}

static int cident_eq(const void *entry, const void *key)
{
    return qasm_cid_eq(&((const struct cident *)entry)->cid, key);
}

static int cid_register(struct sconn *c, const uint8_t *data, size_t len)
{
    struct cident *e = calloc(1, sizeof(*e));
    if (!e || qasm_cid_set(&e->cid, data, len) != 0)
        goto fail;
    e->c = c;
    if (c->ncids == c->capcids) {
        size_t cap = c->capcids ? 2 * c->capcids : 8;
        struct cident **p = realloc(c->cids, cap * sizeof(*p));
        if (!p)
            goto fail;
        c->cids = p;
        c->capcids = cap;
    }
    if (qasm_htab_insert(c->srv->cids, cid_hash(&e->cid), e) != 0)
        goto fail;
    c->cids[c->ncids++] = e;
    return 0;
fail:
    free(e);
    return -1;
}

static void cid_unregister(struct sconn *c, const uint8_t *data, size_t len)
{
    struct qasm_cid key;
    if (qasm_cid_set(&key, data, len) != 0)
        return;
    for (size_t i = 0; i < c->ncids; i++) {
        if (qasm_cid_eq(&c->cids[i]->cid, &key)) {
            struct cident *e = c->cids[i];
            qasm_htab_remove_ptr(c->srv->cids, cid_hash(&e->cid), e);
            c->cids[i] = c->cids[--c->ncids];
            free(e);
            return;
        }
    }
}

/* cids_free unregisters and frees all connection IDs of |c|. */
static void cids_free(struct sconn *c)
{
    for (size_t i = 0; i < c->ncids; i++) {
        qasm_htab_remove_ptr(c->srv->cids, cid_hash(&c->cids[i]->cid), c->cids[i]);
        free(c->cids[i]);
    }
    free(c->cids);
}

/* ---------------------------------------------------------------- output */

/* The counters as the summary and GET /stats show them, keys in this order. */
static json_t *counters_json(const struct server *s)
{
    const struct counters *n = &s->n;
    double up = (double)(qasm_now() - s->start) / 1e9;
    static const char *const keys[] = {
        "connections", "connections_active", "connections_closing", "closing", "draining",
        "close_resent", "closing_dropped", "rebinding_resets", "handshakes", "closed",
        "idle_closed", "conn_errors", "requests", "responses_2xx", "responses_4xx",
        "streams_reset", "body_bytes_sent", "body_bytes_received", "packets_received",
        "bytes_received", "packets_sent", "bytes_sent", "send_errors", "migrations", "paths_validated",
        "path_validation_failed", "path_validation_aborted", "cids_issued", "cids_retired",
        "unknown_dcid",
        "stateless_resets", "version_negotiations", "dropped", "dropped_empty",
        "dropped_truncated", "dropped_undecodable", "dropped_bad_cid", "errors",
    };
    const uint64_t v[] = {
        n->connections, s->nconns - s->nclosing, s->nclosing, n->closing, n->draining,
        n->close_resent, n->closing_dropped, n->rebinding_resets, n->handshakes, n->closed,
        n->idle_closed, n->conn_errors, n->requests, n->responses_2xx, n->responses_4xx,
        n->qc.streams_reset, n->body_bytes_sent, n->body_bytes_received, n->rx_packets,
        n->rx_bytes, n->tx_packets, n->tx_bytes, n->tx_errors, n->migrations,
        n->qc.paths_validated, n->qc.path_validation_failed, n->qc.path_validation_aborted,
        n->cids_issued, n->cids_retired,
        n->unknown_dcid, n->stateless_resets, n->version_negotiations, n->dropped,
        n->dropped_why[QASM_H3_DROP_EMPTY], n->dropped_why[QASM_H3_DROP_TRUNCATED],
        n->dropped_why[QASM_H3_DROP_UNDECODABLE], n->dropped_why[QASM_H3_DROP_BAD_CID],
        n->conn_errors + n->tx_errors,
    };
    _Static_assert(sizeof(v) / sizeof(v[0]) == sizeof(keys) / sizeof(keys[0]),
                   "one key per counter");
    /* uptime_s to the millisecond, first. */
    json_t *j = json_pack("{s:f}", "uptime_s", round(up * 1e3) / 1e3);
    qasm_h3conn_json_counters(j, keys, v, sizeof(v) / sizeof(v[0]));
    return j;
}

/* ------------------------------------------------------------- sending */

static int send_path(void *ud, const ngtcp2_path *path, const uint8_t *pkt, size_t len,
                     size_t gso)
{
    struct server *s = &srv_g;
    struct listener *l = path->user_data;
    (void)ud;
    if (!l) {
        /* Fall back to the listener bound to the path's local address. */
        struct qasm_addr a;
        if (qasm_addr_from_sockaddr(&a, path->local.addr, path->local.addrlen) == 0)
            for (size_t i = 0; i < s->nls && !l; i++)
                if (s->ls[i].addr.port == a.port && s->ls[i].addr.family == a.family)
                    l = &s->ls[i];
        if (!l) {
            s->n.tx_errors++;
            return -EINVAL;
        }
    }
    int rv = qasm_udp_send(l->fd, pkt, len, path->remote.addr, path->remote.addrlen,
                           path->local.addr, gso);
    if (rv != 0) {
        s->n.tx_errors++;
        return rv;
    }
    s->n.tx_packets += gso ? (len + gso - 1) / gso : 1;
    s->n.tx_bytes += len;
    return 0;
}

static void conn_free(struct sconn *c)
{
    struct server *s = c->srv;
    cids_free(c);
    while (c->streams) {
        struct sstream *st = c->streams;
        c->streams = st->next;
        free(st->buf);
        free(st);
    }
    qasm_h3conn_free(&c->q);
    free(c->close_pkt);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->state != SCONN_OPEN)
        s->nclosing--;
    s->n.closed++;
    free(c);
}

/*
 * conn_linger moves |c| to the closing or draining state |st| and arms its
 * timer for 3 x PTO (RFC 9000 10.2), after which timer_cb frees it. Until
 * then its connection IDs stay in the table, so a late packet of the peer
 * finds the connection instead of drawing a stateless reset; ngtcp2 is not
 * called again for it.
 */
static void conn_linger(struct sconn *c, enum sconn_state st)
{
    struct server *s = c->srv;
    ngtcp2_duration pto = ngtcp2_conn_get_pto(c->q.conn);
    if (c->state == SCONN_OPEN)
        s->nclosing++;
    c->state = st;
    if (st == SCONN_CLOSING)
        s->n.closing++;
    else
        s->n.draining++;
    ev_timer_stop(s->loop, &c->q.timer);
    c->q.timer.repeat = 3.0 * (double)pto / 1e9;
    ev_timer_again(s->loop, &c->q.timer);
}

/*
 * conn_close ends |c| after error |liberr| (0: none): an idle timeout or
 * NGTCP2_ERR_DROP_CONN frees it at once; NGTCP2_ERR_DRAINING (the peer
 * closed) drains; anything else writes a CONNECTION_CLOSE, sends it, keeps
 * it for retransmission and enters the closing state.
 */
static void conn_close(struct sconn *c, int liberr)
{
    if (liberr == NGTCP2_ERR_IDLE_CLOSE || liberr == NGTCP2_ERR_DROP_CONN) {
        conn_free(c);
        return;
    }
    if (liberr == NGTCP2_ERR_DRAINING) {
        conn_linger(c, SCONN_DRAINING);
        return;
    }
    if (liberr != 0 && liberr != NGTCP2_ERR_CLOSING) {
        c->srv->n.conn_errors++;
        qasm_debug("connection error: %s", ngtcp2_strerror(liberr));
    }
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_ssize n = qasm_quic_write_close(c->q.conn, liberr, NGHTTP3_H3_NO_ERROR, &ps, buf,
                                           sizeof(buf), qasm_now());
    if (n > 0) {
        uint8_t *p = malloc((size_t)n);
        if (p) {  /* without memory the closing state just stays silent */
            memcpy(p, buf, (size_t)n);
            free(c->close_pkt);
            c->close_pkt = p;
            c->close_len = (size_t)n;
        }
        send_path(c, &ps.path, buf, (size_t)n, 0);
    }
    conn_linger(c, SCONN_CLOSING);
}

/*
 * conn_closed_input handles a packet for |c| in the closing or draining
 * state, received on |path|. Closing: the CONNECTION_CLOSE goes out again on
 * the packet's path, for the 1st, 2nd, 4th, 8th... packet only, so that a
 * peer that keeps sending cannot make us send as much (RFC 9000 10.2.1).
 * Draining: nothing is sent (RFC 9000 10.2.2).
 */
static void conn_closed_input(struct sconn *c, const ngtcp2_path *path)
{
    struct server *s = c->srv;
    uint64_t k = ++c->closing_rx;
    if (c->state == SCONN_CLOSING && c->close_pkt && (k & (k - 1)) == 0 &&
        send_path(c, path, c->close_pkt, c->close_len, 0) == 0)
        s->n.close_resent++;
    else
        s->n.closing_dropped++;
}

/* conn_write flushes |c|; returns 0, or -1 when |c| was freed. */
static int conn_write(struct sconn *c)
{
    int rv = qasm_h3conn_flush(&c->q, qasm_now());
    if (rv != 0) {
        conn_close(c, rv);
        return -1;
    }
    qasm_h3conn_arm_timer(&c->q);
    return 0;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sconn *c = w->data;
    (void)loop;
    (void)revents;
    if (c->state != SCONN_OPEN) {  /* 3 x PTO of closing or draining are over */
        conn_free(c);
        return;
    }
    int rv = ngtcp2_conn_handle_expiry(c->q.conn, qasm_now());
    if (rv != 0) {
        if (rv == NGTCP2_ERR_IDLE_CLOSE)
            c->srv->n.idle_closed++;
        conn_close(c, rv);
        return;
    }
    conn_write(c);
}

/* -------------------------------------------------------------- HTTP/3 */

static void stream_free(struct sconn *c, int64_t id)
{
    for (struct sstream **pp = &c->streams; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct sstream *st = *pp;
            *pp = st->next;
            free(st->buf);
            free(st);
            return;
        }
    }
}

static int buf_append(struct sstream *st, const uint8_t *p, size_t n)
{
    if (st->buflen + n > st->bufcap) {
        size_t cap = st->bufcap ? st->bufcap : 4096;
        while (cap < st->buflen + n)
            cap *= 2;
        uint8_t *b = realloc(st->buf, cap);
        if (!b)
            return -1;
        st->buf = b;
        st->bufcap = cap;
    }
    memcpy(st->buf + st->buflen, p, n);
    st->buflen += n;
    return 0;
}

static nghttp3_ssize read_data(nghttp3_conn *h3, int64_t sid, nghttp3_vec *vec, size_t veccnt,
                               uint32_t *pflags, void *ud, void *sud)
{
    struct sconn *c = sconn_of(ud);
    struct sstream *st = sud;
    size_t i = 0;
    (void)h3;
    (void)sid;
    if (!st->is_bytes) {
        if (st->bufoff < st->buflen && veccnt > 0) {
            vec[0].base = st->buf + st->bufoff;
            vec[0].len = st->buflen - st->bufoff;
            st->bufoff = st->buflen;
            i = 1;
        }
        *pflags |= NGHTTP3_DATA_FLAG_EOF;
        return (nghttp3_ssize)i;
    }
    while (i < veccnt && st->body_off < st->body_len) {
        size_t avail;
        const uint8_t *p = qasm_content_at(st->body_off, &avail);
        uint64_t left = st->body_len - st->body_off;
        if (avail > left)
            avail = (size_t)left;
        if (avail > 65536)
            avail = 65536;
        vec[i].base = (uint8_t *)p;
        vec[i].len = avail;
        st->body_off += avail;
        c->srv->n.body_bytes_sent += avail;
        i++;
    }
    if (st->body_off >= st->body_len)
        *pflags |= NGHTTP3_DATA_FLAG_EOF;
    return (nghttp3_ssize)i;
}

static int respond(struct sconn *c, struct sstream *st)
{
    static const char page[] =
        "<!DOCTYPE html><html><head><title>qasm-h3-server</title></head><body>"
        "<p>qasm-h3-server: GET /bytes/N, POST /echo, GET /stats</p></body></html>\n";
    const char *status = "200", *ctype = "application/octet-stream";
    char clen[32];
    uint64_t len, n;
    int nd;

    st->responded = 1;
    c->srv->n.requests++;
    if (strcmp(st->method, "GET") == 0 && strncmp(st->path, "/bytes/", 7) == 0 &&
        (nd = qasm_parse_u64_prefix(&n, st->path + 7, strlen(st->path + 7), UINT64_MAX)) > 0 &&
        (st->path[7 + nd] == '\0' || st->path[7 + nd] == '?')) {
        st->is_bytes = 1;
        st->body_len = n;
        len = n;
    } else if (strcmp(st->method, "POST") == 0 && strcmp(st->path, "/echo") == 0) {
        len = st->buflen;
    } else if (strcmp(st->method, "GET") == 0 && strcmp(st->path, "/stats") == 0) {
        json_t *j = counters_json(c->srv);
        char *js = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        json_decref(j);
        int rv = !js || buf_append(st, (const uint8_t *)js, strlen(js)) != 0 ||
                 buf_append(st, (const uint8_t *)"\n", 1) != 0;
        free(js);
        if (rv)
            return -1;
        len = st->buflen;
        ctype = "application/json";
    } else if (strcmp(st->method, "GET") == 0 &&
               (strcmp(st->path, "/") == 0 || strcmp(st->path, "/index.html") == 0)) {
        if (buf_append(st, (const uint8_t *)page, sizeof(page) - 1) != 0)
            return -1;
        len = st->buflen;
        ctype = "text/html";
    } else {
        static const char nf[] = "not found\n";
        st->buflen = 0;
        if (buf_append(st, (const uint8_t *)nf, sizeof(nf) - 1) != 0)
            return -1;
        len = st->buflen;
        status = "404";
        ctype = "text/plain";
    }
    if (status[0] == '2')
        c->srv->n.responses_2xx++;
    else
        c->srv->n.responses_4xx++;
    snprintf(clen, sizeof(clen), "%" PRIu64, len);
    nghttp3_nv nva[] = {
        {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP3_NV_FLAG_NONE},
        {(uint8_t *)"server", (uint8_t *)"qasm-h3-server", 6, 14, NGHTTP3_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)ctype, 12, strlen(ctype), NGHTTP3_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen), NGHTTP3_NV_FLAG_NONE},
    };
    nghttp3_data_reader dr = {read_data};
    int rv = nghttp3_conn_submit_response(c->q.h3, st->id, nva, 4, &dr);
    return rv == 0 ? 0 : -1;
}

static int h3_begin_headers(nghttp3_conn *h3, int64_t sid, void *ud, void *sud)
{
    struct sconn *c = sconn_of(ud);
    (void)sud;
    struct sstream *st = calloc(1, sizeof(*st));
    if (!st)
        return NGHTTP3_ERR_CALLBACK_FAILURE;
    st->id = sid;
    st->next = c->streams;
    c->streams = st;
    nghttp3_conn_set_stream_user_data(h3, sid, st);
    return 0;
}

static int h3_recv_header(nghttp3_conn *h3, int64_t sid, int32_t token, nghttp3_rcbuf *name,
                          nghttp3_rcbuf *value, uint8_t flags, void *ud, void *sud)
{
    struct sstream *st = sud;
    nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
    (void)h3;
    (void)sid;
    (void)name;
    (void)flags;
    (void)ud;
    if (!st)
        return 0;
    if (token == NGHTTP3_QPACK_TOKEN__METHOD && v.len < sizeof(st->method)) {
        memcpy(st->method, v.base, v.len);
        st->method[v.len] = '\0';
    } else if (token == NGHTTP3_QPACK_TOKEN__PATH) {
        size_t n = v.len < sizeof(st->path) - 1 ? v.len : sizeof(st->path) - 1;
        memcpy(st->path, v.base, n);
        st->path[n] = '\0';
    }
    return 0;
}

static int h3_end_headers(nghttp3_conn *h3, int64_t sid, int fin, void *ud, void *sud)
{
    struct sstream *st = sud;
    (void)h3;
    (void)sid;
    if (!st || st->responded)
        return 0;
    /* A POST waits for its body (end_stream); everything else answers now. */
    if (strcmp(st->method, "POST") == 0 && !fin)
        return 0;
    return respond(sconn_of(ud), st) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

static int h3_recv_data(nghttp3_conn *h3, int64_t sid, const uint8_t *data, size_t len, void *ud,
                        void *sud)
{
    struct sconn *c = sconn_of(ud);
    struct sstream *st = sud;
    (void)h3;
    c->srv->n.body_bytes_received += len;
    qasm_h3conn_consume(&c->q, sid, len);
    if (st && strcmp(st->method, "POST") == 0 && buf_append(st, data, len) != 0)
        return NGHTTP3_ERR_CALLBACK_FAILURE;
    return 0;
}

static int h3_end_stream(nghttp3_conn *h3, int64_t sid, void *ud, void *sud)
{
    struct sstream *st = sud;
    (void)h3;
    (void)sid;
    if (!st || st->responded)
        return 0;
    return respond(sconn_of(ud), st) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

static int h3_stream_close(nghttp3_conn *h3, int64_t sid, uint64_t code, void *ud, void *sud)
{
    struct sconn *c = sconn_of(ud);
    (void)h3;
    (void)code;
    (void)sud;
    stream_free(c, sid);
    qasm_h3conn_stream_gone(&c->q, sid);
    return 0;
}

/* The server's own nghttp3 callbacks (h3conn adds the shared ones). */
static const nghttp3_callbacks server_h3_callbacks = {
    .stream_close = h3_stream_close,
    .recv_data = h3_recv_data,
    .begin_headers = h3_begin_headers,
    .recv_header = h3_recv_header,
    .end_headers = h3_end_headers,
    .end_stream = h3_end_stream,
};

/* ------------------------------------------------------- ngtcp2 callbacks */

static int cb_extend_max_remote_streams_bidi(ngtcp2_conn *conn, uint64_t max, void *ud)
{
    struct sconn *c = sconn_of(ud);
    (void)conn;
    if (c->q.h3)
        nghttp3_conn_set_max_client_streams_bidi(c->q.h3, max);
    return 0;
}

static int cb_get_new_connection_id(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
                                    size_t cidlen, void *ud)
{
    struct sconn *c = sconn_of(ud);
    (void)conn;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c->srv->secret, SECRET_LEN, cid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    if (cid_register(c, cid->data, cid->datalen) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    c->srv->n.cids_issued++;
    return 0;
}

static int cb_remove_connection_id(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *ud)
{
    struct sconn *c = sconn_of(ud);
    (void)conn;
    cid_unregister(c, cid->data, cid->datalen);
    c->srv->n.cids_retired++;
    return 0;
}

static int cb_handshake_completed(ngtcp2_conn *conn, void *ud)
{
    struct sconn *c = sconn_of(ud);
    (void)conn;
    c->srv->n.handshakes++;
    return 0;
}

static int cb_recv_tx_key(ngtcp2_conn *conn, ngtcp2_crypto_level level, void *ud)
{
    (void)conn;
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION)
        return 0;
    return qasm_h3conn_setup_h3(&sconn_of(ud)->q, 1, &server_h3_callbacks) == 0
               ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

/* ------------------------------------------------------------- receiving */

static struct sconn *conn_accept(struct server *s, struct listener *l, const ngtcp2_path *path,
                                 const uint8_t *pkt, size_t len)
{
    ngtcp2_pkt_hd hd;
    ngtcp2_callbacks cb;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    ngtcp2_cid scid;
    (void)l;

    if (ngtcp2_accept(&hd, pkt, len) != 0) {
        s->n.dropped++;
        return NULL;
    }
    struct sconn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->srv = s;
    qasm_h3conn_init(&c->q, s->loop, send_path, c, timer_cb, QASM_LOG_DEBUG, &s->n.qc);
    qasm_h3conn_callbacks(&cb);
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    cb.handshake_completed = cb_handshake_completed;
    cb.get_new_connection_id = cb_get_new_connection_id;
    cb.remove_connection_id = cb_remove_connection_id;
    cb.extend_max_remote_streams_bidi = cb_extend_max_remote_streams_bidi;
    cb.recv_tx_key = cb_recv_tx_key;
    qasm_h3conn_settings(&settings, qasm_now(), s->o.initial_rtt);
    if (s->o.qlog_dir) {
        char name[64], hex[QASM_CID_HEXLEN];
        struct qasm_cid q;
        qasm_cid_set(&q, hd.dcid.data, hd.dcid.datalen);
        snprintf(name, sizeof(name), "server-%s", qasm_cid_hex(hex, &q));
        settings.qlog.odcid = hd.dcid; /* the qlog's group id, as the client's */
        qasm_h3conn_qlog_open(&c->q, &settings, s->o.qlog_dir, name);
    }
    /* PMTUD stays on in the server: ngtcp2 0.12.1 restarts it without
     * checking no_pmtud when a connection migrates back to its fallback path
     * during validation (conn_recv_non_probing_pkt_on_new_path), and its
     * assert aborts the process (seen at 1000 Hz through a NAT). */
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 1024 * 1024;
    params.initial_max_stream_data_bidi_remote = 1024 * 1024;
    params.initial_max_stream_data_uni = 1024 * 1024;
    params.initial_max_data = 4 * 1024 * 1024;
    params.initial_max_streams_bidi = 100;
    params.initial_max_streams_uni = 3;
    params.max_idle_timeout = s->o.idle_timeout;
    params.max_ack_delay = s->o.max_ack_delay;
    params.active_connection_id_limit = 8;
    params.original_dcid = hd.dcid;
    scid.datalen = s->o.cid_len;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0)
        goto fail;
    params.stateless_reset_token_present = 1;
    if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, s->secret,
                                                     SECRET_LEN, &scid) != 0)
        goto fail;
    if (ngtcp2_conn_server_new(&c->q.conn, &hd.scid, &scid, path, hd.version, &cb, &settings,
                               &params, NULL, &c->q) != 0 ||
        qasm_h3conn_start_tls(&c->q, 1, s->cred, NULL) != 0)
        goto fail;
    if (cid_register(c, scid.data, scid.datalen) != 0 ||
        cid_register(c, hd.dcid.data, hd.dcid.datalen) != 0)
        goto fail;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->n.connections++;
    return c;
fail:
    cids_free(c);
    qasm_h3conn_free(&c->q);
    free(c);
    s->n.conn_errors++;
    return NULL;
}

static void send_stateless_reset(struct server *s, struct listener *l, const ngtcp2_path *path,
                                 const uint8_t *dcid, size_t dcidlen, size_t pktlen)
{
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[64], out[128];
    ngtcp2_cid cid;
    size_t randlen = qasm_h3_sreset_randlen(pktlen);
    if (randlen == 0 || dcidlen > NGTCP2_MAX_CIDLEN)
        return;
    ngtcp2_cid_init(&cid, dcid, dcidlen);
    if (ngtcp2_crypto_generate_stateless_reset_token(token, s->secret, SECRET_LEN, &cid) != 0 ||
        gnutls_rnd(GNUTLS_RND_NONCE, rnd, randlen) != 0)
        return;
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(out, sizeof(out), token, rnd, randlen);
    if (n > 0 && qasm_udp_send(l->fd, out, (size_t)n, path->remote.addr, path->remote.addrlen,
                               path->local.addr, 0) == 0) {
        s->n.stateless_resets++;
        s->n.tx_packets++;
        s->n.tx_bytes += (uint64_t)n;
    }
}

static void send_version_negotiation(struct server *s, struct listener *l,
                                     const ngtcp2_path *path, const ngtcp2_version_cid *vc)
{
    uint8_t out[QASM_H3_VN_MAX], rnd;
    (void)gnutls_rnd(GNUTLS_RND_NONCE, &rnd, 1);
    ngtcp2_ssize n = qasm_h3_write_vn(out, sizeof(out), rnd, vc);
    if (n > 0 && qasm_udp_send(l->fd, out, (size_t)n, path->remote.addr, path->remote.addrlen,
                               path->local.addr, 0) == 0) {
        s->n.version_negotiations++;
        s->n.tx_packets++;
        s->n.tx_bytes += (uint64_t)n;
    }
}

/* addr_is compares an ngtcp2 address with |a|. */
static int addr_is(const ngtcp2_addr *na, const struct qasm_addr *a)
{
    struct qasm_addr b;
    return qasm_addr_from_sockaddr(&b, na->addr, na->addrlen) == 0 && qasm_addr_eq(&b, a);
}

/* initcwnd is ngtcp2's initial congestion window for |mtu| (RFC 9002 7.2). */
static uint64_t initcwnd(uint64_t mtu)
{
    uint64_t w = 2 * mtu > 14720 ? 2 * mtu : 14720;
    return 10 * mtu < w ? 10 * mtu : w;
}

/*
 * rebinding_prepare is called before |c| reads a 1-RTT packet that arrived
 * on |path| with DCID |dcid|. When only the peer's port changed and its DCID
 * did not (a NAT rebinding), ngtcp2 keeps the congestion state (RFC 9000 9.4
 * allows it) and, while it validates the new path, caps the window at the
 * initial one. The bytes in flight are then mostly packets sent to the old
 * address, which may be gone for good (the NAT dropped the mapping): when
 * they exceed that window ngtcp2 sends the new path nothing but ACKs, not
 * even its PATH_CHALLENGE, until the probe timeout, which every probe lost
 * to the old address has doubled; with fewer bytes in flight, what was lost
 * is still only sent again at that backed-off timeout. A client that only
 * downloads has nothing to say to ACKs, so each request it sends from the
 * new address goes unanswered for seconds and times out.
 *
 * ngtcp2 resets the congestion state (bytes in flight, probe backoff) only
 * for a migration that also changes the local address, so in that case the
 * connection is told, for this one read, that its local port is 0: the
 * packet then starts a full migration (a fresh client connection ID, reset
 * congestion state, PATH_CHALLENGE at once), as RFC 9000 9.4 prescribes for
 * any other address change. A client that migrates on purpose takes a new
 * DCID and keeps its old sockets; it is left alone (resetting its window at
 * every migration would cost the migration benchmarks their goodput).
 * *fake_set says whether rebinding_restore must undo it. (ngtcp2 0.12.1;
 * later releases dropped the cap but still keep the congestion state.)
 */
static void rebinding_prepare(struct sconn *c, const ngtcp2_path *path, const uint8_t *pkt,
                              const struct qasm_cid *dcid, struct sockaddr_storage *fake,
                              int *fake_set)
{
    const ngtcp2_path *cur = ngtcp2_conn_get_path(c->q.conn);
    ngtcp2_conn_stat cs;
    struct qasm_addr a, b, local;
    *fake_set = 0;
    if ((pkt[0] & 0x80) || !ngtcp2_conn_get_handshake_completed(c->q.conn) ||
        qasm_addr_from_sockaddr(&local, path->local.addr, path->local.addrlen) != 0 ||
        !addr_is(&cur->local, &local) ||
        qasm_addr_from_sockaddr(&a, cur->remote.addr, cur->remote.addrlen) != 0 ||
        qasm_addr_from_sockaddr(&b, path->remote.addr, path->remote.addrlen) != 0 ||
        a.family != b.family || a.port == b.port ||
        memcmp(a.ip, b.ip, a.family == AF_INET ? 4 : 16) != 0 ||
        qasm_addr_eq(&b, &c->no_reset_remote) ||
        !qasm_cid_eq(dcid, &c->last_dcid))  /* a new DCID: a migration the client chose */
        return;
    ngtcp2_conn_get_conn_stat(c->q.conn, &cs);
    /* Keep ngtcp2's choice when the PATH_CHALLENGE can go out now and no
     * probe went unanswered (else recovery waits for the backed-off PTO). */
    if (cs.bytes_in_flight < initcwnd(cs.max_tx_udp_payload_size) && cs.pto_count == 0)
        return;
    if (path->local.addrlen > sizeof(*fake))
        return;
    memcpy(fake, path->local.addr, path->local.addrlen);
    if (fake->ss_family == AF_INET)
        ((struct sockaddr_in *)fake)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)fake)->sin6_port = 0;
    ngtcp2_addr fa = {(struct sockaddr *)fake, path->local.addrlen};
    ngtcp2_conn_set_local_addr(c->q.conn, &fa);
    *fake_set = 1;
}

/* rebinding_restore puts the real local address back when the packet did not
 * move the connection (the fake one is then still current): it was probing or
 * reordered, or the client had no spare connection ID for the new path
 * (NGTCP2_ERR_CONN_ID_BLOCKED, which ngtcp2 swallows). Later packets from
 * that address then take ngtcp2's own NAT-rebinding path, which needs no new
 * connection ID. */
static void rebinding_restore(struct sconn *c, const ngtcp2_path *path, int fake_set)
{
    struct qasm_addr local;
    if (!fake_set || qasm_addr_from_sockaddr(&local, path->local.addr, path->local.addrlen) != 0)
        return;
    const ngtcp2_path *cur = ngtcp2_conn_get_path(c->q.conn);
    if (addr_is(&cur->local, &local)) {
        c->srv->n.rebinding_resets++;  /* migrated with its congestion state reset */
        return;
    }
    ngtcp2_conn_set_local_addr(c->q.conn, &path->local);
    (void)qasm_addr_from_sockaddr(&c->no_reset_remote, path->remote.addr, path->remote.addrlen);
}

static void on_datagram(struct server *s, struct listener *l, const ngtcp2_path *path,
                        const uint8_t *pkt, size_t len)
{
    /* Guard and stateless routing first: ngtcp2 asserts on some inputs (h3guard.c). */
    struct qasm_h3_route r;
    int rv;
    switch (qasm_h3_route(&r, pkt, len, s->o.cid_len)) {
    case QASM_H3_ROUTE_DROP:
        s->n.dropped++;
        s->n.dropped_why[r.why]++;
        return;
    case QASM_H3_ROUTE_VN:
        send_version_negotiation(s, l, path, &r.vc);
        return;
    case QASM_H3_ROUTE_CONN:
        break;
    }
    struct cident *e = qasm_htab_find(s->cids, cid_hash(&r.key), &r.key);
    struct sconn *c = e ? e->c : NULL;
    if (s->shutting) {
        if (c && c->close_pkt)
            send_path(c, path, c->close_pkt, c->close_len, 0);
        else
            s->n.dropped++;
        return;
    }
    if (c && c->state != SCONN_OPEN) {
        conn_closed_input(c, path);
        return;
    }
    if (!c) {
        if (!r.long_hdr) {
            s->n.unknown_dcid++;
            if (s->o.stateless_reset)
                send_stateless_reset(s, l, path, r.vc.dcid, r.vc.dcidlen, len);
            return;
        }
        c = conn_accept(s, l, path, pkt, len);
        if (!c)
            return;
    }
    const ngtcp2_path *cur = ngtcp2_conn_get_path(c->q.conn);
    struct qasm_addr before, after;
    int have_before = qasm_addr_from_sockaddr(&before, cur->remote.addr, cur->remote.addrlen) == 0;
    struct sockaddr_storage fake;
    int fake_set;
    rebinding_prepare(c, path, pkt, &r.key, &fake, &fake_set);
    rv = ngtcp2_conn_read_pkt(c->q.conn, path, NULL, pkt, len, qasm_now());
    rebinding_restore(c, path, fake_set);
    if (rv != 0) {
        /* DRAINING: the peer's CONNECTION_CLOSE; conn_close drains, frees at
         * once on DROP_CONN, closes with a CONNECTION_CLOSE otherwise. */
        if (rv == NGTCP2_ERR_DISCARD_PKT || rv == NGTCP2_ERR_DROP_CONN)
            s->n.dropped++;
        if (rv != NGTCP2_ERR_DISCARD_PKT)
            conn_close(c, rv);
        return;
    }
    if (!r.long_hdr)
        c->last_dcid = r.key;
    cur = ngtcp2_conn_get_path(c->q.conn);
    if (have_before && qasm_addr_from_sockaddr(&after, cur->remote.addr, cur->remote.addrlen) == 0 &&
        !qasm_addr_eq(&before, &after))
        s->n.migrations++;
    conn_write(c);
}

static void listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server *s = &srv_g;
    struct listener *l = w->data;
    static uint8_t buf[65536];
    (void)loop;
    (void)revents;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage remote, local;
        socklen_t rl;
        memcpy(&local, &l->ss, sizeof(local));
        ssize_t n = qasm_udp_recv(l->fd, buf, sizeof(buf), &remote, &rl, &local);
        if (n < 0)
            break;
        s->n.rx_packets++;
        s->n.rx_bytes += (uint64_t)n;
        ngtcp2_path path = {
            {(struct sockaddr *)&local, l->sl},
            {(struct sockaddr *)&remote, rl},
            l,
        };
        on_datagram(s, l, &path, buf, (size_t)n);
    }
}

static void drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/*
 * signal_cb: the first SIGTERM/SIGINT closes every connection
 * (CONNECTION_CLOSE, no error) and starts a 200 ms closing period in which a
 * packet of a closed connection gets the CONNECTION_CLOSE again (the first
 * one may be lost, e.g. in a full receive buffer); a second signal or the end
 * of the period stops the server.
 */
static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct server *s = &srv_g;
    (void)w;
    (void)revents;
    if (s->shutting || !s->conns) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    s->shutting = 1;
    for (struct sconn *c = s->conns; c; c = c->next) {
        uint8_t buf[1500];
        ngtcp2_path_storage ps;
        ev_timer_stop(loop, &c->q.timer);
        ngtcp2_ssize n = qasm_quic_write_close(c->q.conn, 0, NGHTTP3_H3_NO_ERROR, &ps, buf,
                                               sizeof(buf), qasm_now());
        if (n <= 0 || !(c->close_pkt = malloc((size_t)n)))
            continue;
        memcpy(c->close_pkt, buf, (size_t)n);
        c->close_len = (size_t)n;
        send_path(c, &ps.path, buf, (size_t)n, 0);
    }
    ev_timer_init(&s->drain, drain_cb, 0.2, 0.);
    ev_timer_start(loop, &s->drain);
}

/* ----------------------------------------------------------------- main */

/* Binds every --listen address and starts reading it; -1 (said on stderr) on failure. */
static int listen_all(struct server *s)
{
    for (size_t i = 0; i < s->nls; i++) {
        struct listener *l = &s->ls[i];
        char abuf[QASM_ADDR_STRLEN];
        l->fd = qasm_udp_listen(&l->addr);
        if (l->fd < 0) {
            fprintf(stderr, "qasm-h3-server: listen %s: %s\n",
                    qasm_addr_format(abuf, sizeof(abuf), &l->addr), strerror(-l->fd));
            return -1;
        }
        l->sl = qasm_addr_to_sockaddr(&l->ss, &l->addr);
        ev_io_init(&l->w, listener_cb, l->fd, EV_READ);
        l->w.data = l;
        ev_io_start(s->loop, &l->w);
        qasm_info("listening on %s", qasm_addr_format(abuf, sizeof(abuf), &l->addr));
    }
    return 0;
}

/* The server's settings from the command line; 0, or the exit status (1). */
static int server_setup(struct server *s, const struct qasm_h3s_opts *o)
{
    s->o = *o;
    for (size_t i = 0; i < o->nlisten; i++)
        s->ls[i].addr = o->listen[i];
    s->nls = o->nlisten;
    if (o->gso)
        qasm_quic_set_gso(1);
    qasm_log_init("qasm-h3-server", (enum qasm_log_level)o->log_level);
    if (o->have_secret) {
        memcpy(s->secret, o->secret, SECRET_LEN);
    } else if (gnutls_rnd(GNUTLS_RND_KEY, s->secret, SECRET_LEN) != 0) {
        fprintf(stderr, "qasm-h3-server: gnutls_rnd failed\n");
        return 1;
    }
    if (qasm_tls_server_cred(&s->cred, o->cert, o->key, o->write_cert, o->write_key) != 0)
        return 1;
    if (qasm_htab_new(&s->cids, 1024, cident_eq) != 0)
        return 1;
    return 0;
}

/* After the loop: the summary on stdout, then everything freed. */
static void server_shutdown(struct server *s)
{
    if (s->o.json) {
        qasm_h3conn_json_print(counters_json(s), stdout);
        fflush(stdout);
    }
    while (s->conns)
        conn_free(s->conns);
    for (size_t i = 0; i < s->nls; i++)
        close(s->ls[i].fd);
    qasm_htab_del(s->cids);
    gnutls_certificate_free_credentials(s->cred);
}

int main(int argc, char **argv)
{
    struct server *s = &srv_g;
    struct qasm_h3s_opts o;
    char err[512];
    qasm_cli_front("qasm-h3-server", argc, argv);
    int rv = qasm_h3s_opts_parse(argc, argv, &o, err, sizeof(err));
    if (rv == 1) {
        fputs(qasm_h3s_usage(), stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit("qasm-h3-server", err);
    qasm_cli_resolve_names("qasm-h3-server", &o.names);
    rv = server_setup(s, &o);
    if (rv != 0)
        return rv;
    s->loop = EV_DEFAULT;
    s->start = qasm_now();
    if (listen_all(s) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    ev_signal_init(&s->sigint, signal_cb, SIGINT);
    ev_signal_init(&s->sigterm, signal_cb, SIGTERM);
    ev_signal_start(s->loop, &s->sigint);
    ev_signal_start(s->loop, &s->sigterm);
    ev_run(s->loop, 0);
    server_shutdown(s);
    return 0;
}
