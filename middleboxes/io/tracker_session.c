/*
 * tracker_session.c: non-blocking TCP session to the tracker (libev).
 *
 * States: IDLE (waiting for the backoff timer) -> CONNECTING (connect in
 * progress, bounded by a timeout) -> [AUTH (key handshake, with a key;
 * bounded by the same timeout)] -> UP. Any error in UP or CONNECTING
 * closes the socket and goes back to IDLE with a doubled backoff (100 ms up
 * to 5 s; reset after a successful connect).
 */
#include "tracker_session.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "degrade.h"
#include "log.h"

#define OUT_CAP (1u << 20)          /* bytes of requests not yet written */
#define IN_CAP (2 * QASM_PROTO_MAX_MSG + 65536)
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
#define CONNECT_TIMEOUT 1.0
/*
 * A session that sent nothing for this long sends a STATS request (its
 * reply is swallowed here): the tracker closes sessions that hold nothing
 * and say nothing (qasm-tracker --session-idle, 120 s by default), and a
 * reactive middlebox between migrations is such a session.
 */
#define KEEPALIVE 30.0 /* default; qasm_tsess_set_keepalive */

enum tsess_state {
    TSESS_IDLE = 0,
    TSESS_CONNECTING = 1,
    TSESS_UP = 2,
    TSESS_AUTH = 3,
};

struct qasm_tsess {
    struct ev_loop *loop;
    struct qasm_addr tracker;
    struct qasm_tsess_callbacks cb;
    void *ud;
    enum tsess_state state;
    int fd;
    ev_io rio;
    ev_io wio;
    ev_timer timer;   /* backoff in IDLE, connect timeout in CONNECTING, keepalive in UP */
    int sent;         /* a request went out since the last keepalive tick */
    double keepalive; /* seconds */
    double backoff;
    uint64_t fails_in_row; /* failed connects since the last success */
    uint8_t *out;
    size_t out_len;
    size_t out_off;
    uint8_t *in;
    size_t in_len;
    struct qasm_tsess_counters c;
    struct qasm_auth_key key;            /* len 0: no handshake */
    uint8_t cn[QASM_PROTO_NONCE_LEN];    /* our nonce of the handshake in progress */
    struct qasm_degrade down;            /* said from the first failure until up (lib/degrade.h) */
};

static void tsess_connect(struct qasm_tsess *s);

static void tsess_close(struct qasm_tsess *s, const char *why, int err)
{
    int was_up = s->state == TSESS_UP;
    char a[QASM_ADDR_STRLEN];
    ev_io_stop(s->loop, &s->rio);
    ev_io_stop(s->loop, &s->wio);
    ev_timer_stop(s->loop, &s->timer);
    if (s->fd != -1)
        close(s->fd);
    s->fd = -1;
    s->out_len = s->out_off = 0;
    s->in_len = 0;
    s->state = TSESS_IDLE;
    if (was_up) {
        s->c.disconnects++;
    } else {
        s->c.connect_fails++;
        s->fails_in_row++;
    }
    struct qasm_degrade_line l;
    if (qasm_degrade_hit(&s->down, 1, qasm_now(), &l))
        qasm_log_degrade(&l, "tracker session down", "tracker %s: %s (%s%s%s), retry in %.1fs; "
                         "default treatment until it is back (disconnects %llu, connect_fails "
                         "%llu)", qasm_addr_format(a, sizeof(a), &s->tracker),
                         was_up ? "session lost" : "connect failed", why, err ? ": " : "",
                         err ? strerror(err) : "", s->backoff,
                         (unsigned long long)s->c.disconnects,
                         (unsigned long long)s->c.connect_fails);
    ev_timer_set(&s->timer, s->backoff, 0.);
    ev_timer_start(s->loop, &s->timer);
    s->backoff *= 2;
    if (s->backoff > BACKOFF_MAX)
        s->backoff = BACKOFF_MAX;
    if (was_up && s->cb.on_down)
        s->cb.on_down(s->ud);
}

static void tsess_set_up(struct qasm_tsess *s)
{
    char a[QASM_ADDR_STRLEN];
    ev_timer_stop(s->loop, &s->timer);
    ev_io_stop(s->loop, &s->wio);
    s->state = TSESS_UP;
    s->backoff = BACKOFF_MIN;
    s->fails_in_row = 0;
    s->c.connects++;
    s->sent = 0;
    ev_timer_set(&s->timer, s->keepalive, s->keepalive);
    ev_timer_start(s->loop, &s->timer);
    ev_io_start(s->loop, &s->rio);
    qasm_info("tracker %s: session up", qasm_addr_format(a, sizeof(a), &s->tracker));
    struct qasm_degrade_line l;
    qasm_degrade_end(&s->down, qasm_now(), &l);
    qasm_log_degrade(&l, "tracker session down", "tracker %s", a);
    if (s->cb.on_up)
        s->cb.on_up(s->ud);
}

static int tsess_write(struct qasm_tsess *s);

/* Queue a message of the handshake (sends from callers fail until UP). */
static int tsess_queue(struct qasm_tsess *s, const struct qasm_proto_msg *m)
{
    ssize_t n = qasm_proto_encode(s->out + s->out_len, OUT_CAP - s->out_len, m);
    if (n < 0)
        return -1;
    s->out_len += (size_t)n;
    s->c.msgs_sent++;
    return tsess_write(s);
}

/* Connected: up at once, or after the key handshake (HELLO first). */
static void tsess_connected(struct qasm_tsess *s)
{
    if (s->key.len == 0) {
        tsess_set_up(s);
        return;
    }
    struct qasm_proto_msg m;
    if (getrandom(s->cn, sizeof(s->cn), 0) != (ssize_t)sizeof(s->cn)) {
        tsess_close(s, "getrandom", errno);
        return;
    }
    s->state = TSESS_AUTH;
    ev_io_stop(s->loop, &s->wio);
    ev_io_start(s->loop, &s->rio);
    qasm_proto_msg_init(&m, QASM_PROTO_HELLO, 0);
    memcpy(m.u.auth.nonce, s->cn, sizeof(s->cn));
    tsess_queue(s, &m); /* the connect timer, still running, bounds the handshake */
}

static void tsess_auth_fail(struct qasm_tsess *s, const char *why)
{
    char a[QASM_ADDR_STRLEN];
    s->c.auth_failures++;
    qasm_log(s->c.auth_failures == 1 || s->c.auth_failures % 12 == 0 ? QASM_LOG_ERROR
                                                                    : QASM_LOG_DEBUG,
             "tracker %s: key handshake failed: %s (auth_failures %llu)",
             qasm_addr_format(a, sizeof(a), &s->tracker), why,
             (unsigned long long)s->c.auth_failures);
    tsess_close(s, "key handshake", 0);
}

/* A message during the handshake: CHALLENGE (check the tracker's proof, prove ours), then OK. */
static void tsess_auth_msg(struct qasm_tsess *s, const struct qasm_proto_msg *m)
{
    if (m->hdr.type == QASM_PROTO_CHALLENGE) {
        if (!qasm_auth_proof_ok(&s->key, QASM_AUTH_TRACKER, s->cn, m->u.auth.nonce,
                                m->u.auth.proof)) {
            tsess_auth_fail(s, "the tracker did not prove the key");
            return;
        }
        struct qasm_proto_msg r;
        qasm_proto_msg_init(&r, QASM_PROTO_AUTH, 0);
        qasm_auth_proof(&s->key, QASM_AUTH_CLIENT, s->cn, m->u.auth.nonce, r.u.auth.proof);
        tsess_queue(s, &r);
    } else if (m->hdr.type == QASM_PROTO_OK) {
        tsess_set_up(s);
    } else if (m->hdr.type == QASM_PROTO_ERROR) {
        tsess_auth_fail(s, m->u.error.text);
    } else {
        tsess_auth_fail(s, "unexpected message");
    }
}

/* Writes what the socket takes; returns 0, or -1 after closing the session. */
static int tsess_write(struct qasm_tsess *s)
{
    while (s->out_off < s->out_len) {
        ssize_t n = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
        if (n == -1) {
            int err = errno;
            if (err == EINTR)
                continue;
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            tsess_close(s, "send", err);
            return -1;
        }
        s->out_off += (size_t)n;
        s->c.bytes_sent += (uint64_t)n;
    }
    if (s->out_off == s->out_len) {
        s->out_off = s->out_len = 0;
        ev_io_stop(s->loop, &s->wio);
    } else {
        ev_io_start(s->loop, &s->wio);
    }
    return 0;
}

static void tsess_read(struct qasm_tsess *s)
{
    for (;;) {
        ssize_t n = recv(s->fd, s->in + s->in_len, IN_CAP - s->in_len, 0);
        if (n == -1) {
            int err = errno;
            if (err == EINTR)
                continue;
            if (err == EAGAIN || err == EWOULDBLOCK)
                return;
            tsess_close(s, "recv", err);
            return;
        }
        if (n == 0) {
            tsess_close(s, "closed by the tracker", 0);
            return;
        }
        s->c.bytes_recv += (uint64_t)n;
        s->in_len += (size_t)n;
        size_t off = 0;
        while (off < s->in_len) {
            ssize_t len = qasm_proto_frame(s->in + off, s->in_len - off);
            if (len == 0)
                break;
            if (len < 0) {
                s->c.msgs_bad++;
                tsess_close(s, "bad framing", 0);
                return;
            }
            struct qasm_proto_msg m;
            int rv = qasm_proto_decode(&m, s->in + off, (size_t)len);
            off += (size_t)len;
            if (rv != 0) {
                s->c.msgs_bad++;
                qasm_debug("tracker: undecodable message skipped (%d)", rv);
                continue;
            }
            s->c.msgs_recv++;
            if (s->state == TSESS_AUTH)
                tsess_auth_msg(s, &m);
            else if (m.hdr.type == QASM_PROTO_STATS_REPLY)
                ; /* the answer to a keepalive: the caller never asks for STATS */
            else if (s->cb.on_msg)
                s->cb.on_msg(s->ud, &m);
            if (s->state != TSESS_UP && s->state != TSESS_AUTH)
                return; /* a send from the callback failed and closed the session */
        }
        if (off > 0) {
            memmove(s->in, s->in + off, s->in_len - off);
            s->in_len -= off;
        }
    }
}

static void rio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_tsess *s = w->data;
    if (s->state == TSESS_UP || s->state == TSESS_AUTH)
        tsess_read(s);
}

static void wio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_tsess *s = w->data;
    if (s->state == TSESS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err != 0) {
            tsess_close(s, "connect", err);
            return;
        }
        tsess_connected(s);
        if (s->state == TSESS_UP)
            tsess_write(s);
        return;
    }
    if (s->state == TSESS_UP || s->state == TSESS_AUTH)
        tsess_write(s);
}

static void tsess_keepalive(struct qasm_tsess *s)
{
    if (!s->sent) {
        struct qasm_proto_msg m;
        qasm_proto_msg_init(&m, QASM_PROTO_STATS, 0);
        if (qasm_tsess_send(s, &m) == 0) {
            s->c.keepalives++;
            qasm_tsess_flush(s);
        }
    }
    s->sent = 0;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_tsess *s = w->data;
    if (s->state == TSESS_CONNECTING || s->state == TSESS_AUTH)
        tsess_close(s, s->state == TSESS_AUTH ? "key handshake timeout" : "timeout", 0);
    else if (s->state == TSESS_IDLE)
        tsess_connect(s);
    else if (s->state == TSESS_UP)
        tsess_keepalive(s);
}

static void tsess_connect(struct qasm_tsess *s)
{
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, &s->tracker);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        tsess_close(s, "socket", errno);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->fd = fd;
    ev_io_set(&s->rio, fd, EV_READ);
    ev_io_set(&s->wio, fd, EV_WRITE);
    if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
        s->state = TSESS_CONNECTING;
        ev_timer_set(&s->timer, CONNECT_TIMEOUT, 0.);
        ev_timer_start(s->loop, &s->timer);
        tsess_connected(s);
        return;
    }
    if (errno != EINPROGRESS) {
        s->state = TSESS_CONNECTING;
        tsess_close(s, "connect", errno);
        return;
    }
    s->state = TSESS_CONNECTING;
    ev_io_start(s->loop, &s->wio);
    ev_timer_set(&s->timer, CONNECT_TIMEOUT, 0.);
    ev_timer_start(s->loop, &s->timer);
}

int qasm_tsess_new(struct qasm_tsess **ps, struct ev_loop *loop, const struct qasm_addr *tracker,
                   const struct qasm_auth_key *key, const struct qasm_tsess_callbacks *cb,
                   void *ud)
{
    *ps = NULL;
    if (tracker->family != AF_INET && tracker->family != AF_INET6)
        return -EINVAL;
    struct qasm_tsess *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->keepalive = KEEPALIVE;
    qasm_degrade_init(&s->down, QASM_DEGRADE_ENDS_CALLER, 0);
    s->out = malloc(OUT_CAP);
    s->in = malloc(IN_CAP);
    if (!s->out || !s->in) {
        free(s->out);
        free(s->in);
        free(s);
        return -ENOMEM;
    }
    s->loop = loop;
    s->tracker = *tracker;
    s->cb = *cb;
    s->ud = ud;
    if (key)
        s->key = *key;
    s->fd = -1;
    s->backoff = BACKOFF_MIN;
    ev_io_init(&s->rio, rio_cb, -1, EV_READ);
    /* Tracker messages before the hold timer and the packet sockets when both
     * are due in one loop iteration (after a stall of the middlebox): an
     * answer already received must release its held packets before their
     * hold runs out. */
    ev_set_priority(&s->rio, EV_MAXPRI);
    ev_io_init(&s->wio, wio_cb, -1, EV_WRITE);
    ev_timer_init(&s->timer, timer_cb, 0., 0.);
    s->rio.data = s->wio.data = s->timer.data = s;
    s->state = TSESS_IDLE;
    tsess_connect(s);
    *ps = s;
    return 0;
}

void qasm_tsess_del(struct qasm_tsess *s)
{
    if (!s)
        return;
    ev_io_stop(s->loop, &s->rio);
    ev_io_stop(s->loop, &s->wio);
    ev_timer_stop(s->loop, &s->timer);
    if (s->fd != -1)
        close(s->fd);
    free(s->out);
    free(s->in);
    free(s);
}

int qasm_tsess_is_up(const struct qasm_tsess *s)
{
    return s->state == TSESS_UP;
}

void qasm_tsess_set_keepalive(struct qasm_tsess *s, double secs)
{
    s->keepalive = secs > 0 ? secs : KEEPALIVE;
}

int qasm_tsess_send(struct qasm_tsess *s, const struct qasm_proto_msg *m)
{
    if (s->state != TSESS_UP)
        return -ENOTCONN;
    if (OUT_CAP - s->out_len < QASM_PROTO_MAX_MSG && s->out_off > 0) {
        memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
        s->out_len -= s->out_off;
        s->out_off = 0;
    }
    ssize_t n = qasm_proto_encode(s->out + s->out_len, OUT_CAP - s->out_len, m);
    if (n == -ENOBUFS) {
        s->c.send_overflow++;
        return -ENOBUFS;
    }
    if (n < 0)
        return -EINVAL;
    s->out_len += (size_t)n;
    s->c.msgs_sent++;
    s->sent = 1;
    return 0;
}

void qasm_tsess_flush(struct qasm_tsess *s)
{
    if (s->state == TSESS_UP && s->out_len > s->out_off && !ev_is_active(&s->wio))
        tsess_write(s);
}

const struct qasm_tsess_counters *qasm_tsess_counters(const struct qasm_tsess *s)
{
    return &s->c;
}
