/*
 * relay.c: the UDP relay backend of qasm-mbox (see relay.h).
 *
 * Receive path: a readable socket gives one recvmmsg batch; each datagram
 * becomes a qasm_mbox_pkt whose data points into a receive buffer; the
 * core's verdict is applied at once (FORWARD: queue a send, DROP: nothing)
 * or later (HOLD: the buffer leaves the receive ring and comes back when
 * the core releases the packet). Sends are queued and flushed with
 * sendmmsg, one call per run of datagrams leaving the same socket.
 */
#include "relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "htab.h"
#include "log.h"
#include "mbox_timer.h"
#include "tracker_link.h"

#define BATCH 32
#define OUTQ 256

enum rsock_kind {
    RSOCK_LISTEN = 0,   /* private side: from clients */
    RSOCK_PORT = 1,     /* NAT public port: from servers */
    RSOCK_UPSTREAM = 2, /* RL / LB per-client upstream socket: from servers */
};

struct qasm_relay;

struct rsock {
    ev_io io;
    struct qasm_relay *r;
    enum rsock_kind kind;
    int fd;
    struct qasm_addr local;
};

/* RL / LB: one connected socket per (client, next hop). */
struct uflow {
    struct rsock s;
    struct qasm_flow key;       /* src = client, dst = next hop (upstream or backend) */
    struct qasm_addr server;    /* the server as the client addresses it (reverse packets' src) */
    uint64_t hash;
    qasm_tstamp last;
    TAILQ_ENTRY(uflow) lru;     /* r->lru, least recently used first; r->dead once closed */
};

TAILQ_HEAD(uflow_list, uflow);

/* A receive buffer; held packets keep theirs until released. */
struct rbuf {
    struct rbuf *next;
    uint8_t data[];
};

struct outmsg {
    int fd;
    struct sockaddr_storage to;
    socklen_t tolen;
    struct iovec iov;
    struct rbuf *release; /* buffer to recycle once sent (held packets) */
};

struct qasm_relay {
    struct ev_loop *loop;
    struct qasm_mbox *m;
    struct qasm_tlink *tl;
    struct qasm_relay_config cfg;
    struct rsock listen;
    /* NAT public sockets, indexed by port - port_base. */
    struct rsock **ports;
    uint16_t port_base;
    size_t nports;
    /* RL / LB upstream sockets. */
    struct qasm_htab *uflows;
    struct uflow_list lru;  /* open ones, idlest first: evicted first when max_flows are open */
    struct uflow_list dead; /* closed, freed once no callback can still point at them */
    int in_read;            /* inside rsock_cb: a closed uflow may be the socket being read */
    uint64_t seed;
    /* Receive ring. */
    struct rbuf *slot[BATCH];
    struct rbuf *free_bufs;
    struct mmsghdr rmsg[BATCH];
    struct iovec riov[BATCH];
    struct sockaddr_storage rfrom[BATCH];
    /* Send queue. */
    struct outmsg out[OUTQ];
    size_t nout;
    struct mmsghdr smsg[OUTQ];
    /* Core timer. */
    ev_timer timer;
    qasm_tstamp timer_at;
    int draining;
    int drain_again;
    struct qasm_hist proc;
    struct qasm_relay_counters c;
};

static void relay_flush(struct qasm_relay *r);

/* ---- buffers ---- */

static struct rbuf *buf_get(struct qasm_relay *r)
{
    struct rbuf *b = r->free_bufs;
    if (b) {
        r->free_bufs = b->next;
        return b;
    }
    b = malloc(sizeof(*b) + r->cfg.max_datagram);
    if (b)
        r->c.bufs_allocated++;
    return b;
}

static void buf_put(struct qasm_relay *r, struct rbuf *b)
{
    b->next = r->free_bufs;
    r->free_bufs = b;
}

/* ---- sockets ---- */

static void rsock_cb(struct ev_loop *loop, ev_io *w, int revents);

static int udp_socket(const struct qasm_addr *bind_to, const struct qasm_addr *connect_to)
{
    struct sockaddr_storage ss;
    int family = bind_to ? bind_to->family : connect_to->family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    /* Room for bursts: the FORCE variants pass net.core.[rw]mem_max when privileged. */
    int size = 1 << 22;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == -1)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) == -1)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (bind_to) {
        socklen_t sl = qasm_addr_to_sockaddr(&ss, bind_to);
        if (bind(fd, (struct sockaddr *)&ss, sl) == -1) {
            int err = errno;
            close(fd);
            return -err;
        }
    }
    if (connect_to) {
        socklen_t sl = qasm_addr_to_sockaddr(&ss, connect_to);
        if (connect(fd, (struct sockaddr *)&ss, sl) == -1) {
            int err = errno;
            close(fd);
            return -err;
        }
    }
    return fd;
}

static void rsock_start(struct qasm_relay *r, struct rsock *s, int fd, enum rsock_kind kind)
{
    s->r = r;
    s->kind = kind;
    s->fd = fd;
    ev_io_init(&s->io, rsock_cb, fd, EV_READ);
    s->io.data = s;
    ev_io_start(r->loop, &s->io);
}

static void rsock_stop(struct qasm_relay *r, struct rsock *s)
{
    ev_io_stop(r->loop, &s->io);
    if (s->fd != -1)
        close(s->fd);
    s->fd = -1;
}

static struct rsock **port_slot(struct qasm_relay *r, uint16_t port)
{
    if (!r->ports || port < r->port_base || (size_t)(port - r->port_base) >= r->nports)
        return NULL;
    return &r->ports[port - r->port_base];
}

static struct rsock *port_open(struct qasm_relay *r, const struct qasm_addr *a)
{
    struct rsock **slot = port_slot(r, a->port);
    if (!slot)
        return NULL;
    if (*slot)
        return *slot;
    char buf[QASM_ADDR_STRLEN];
    int fd = udp_socket(a, NULL);
    if (fd < 0) {
        r->c.port_bind_fail++;
        qasm_warn("cannot bind public port %s: %s", qasm_addr_format(buf, sizeof(buf), a),
                  strerror(-fd));
        return NULL;
    }
    struct rsock *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return NULL;
    }
    s->local = *a;
    rsock_start(r, s, fd, RSOCK_PORT);
    *slot = s;
    r->c.ports_open++;
    qasm_debug("public port %s open", qasm_addr_format(buf, sizeof(buf), a));
    return s;
}

static void port_close(struct qasm_relay *r, const struct qasm_addr *a)
{
    struct rsock **slot = port_slot(r, a->port);
    if (!slot || !*slot)
        return;
    char buf[QASM_ADDR_STRLEN];
    relay_flush(r); /* sends queued from this socket go out first */
    rsock_stop(r, *slot);
    free(*slot);
    *slot = NULL;
    r->c.ports_open--;
    qasm_debug("public port %s closed", qasm_addr_format(buf, sizeof(buf), a));
}

static int uflow_eq(const void *entry, const void *key)
{
    const struct uflow *u = entry;
    return qasm_flow_eq(&u->key, key);
}

static void uflow_touch(struct qasm_relay *r, struct uflow *u, qasm_tstamp now)
{
    u->last = now;
    if (u->s.fd == -1) /* closed while its datagrams were being read */
        return;
    TAILQ_REMOVE(&r->lru, u, lru);
    TAILQ_INSERT_TAIL(&r->lru, u, lru);
}

/* Closes |u| now; its memory goes in reap() (it may be the socket rsock_cb is reading). */
static void uflow_close(struct qasm_relay *r, struct uflow *u)
{
    relay_flush(r); /* sends queued from this socket go out first */
    qasm_htab_remove_ptr(r->uflows, u->hash, u);
    TAILQ_REMOVE(&r->lru, u, lru);
    rsock_stop(r, &u->s);
    TAILQ_INSERT_TAIL(&r->dead, u, lru);
    r->c.upstream_sockets--;
}

static void reap(struct qasm_relay *r)
{
    struct uflow *u;
    if (r->in_read)
        return;
    while ((u = TAILQ_FIRST(&r->dead)) != NULL) {
        TAILQ_REMOVE(&r->dead, u, lru);
        free(u);
    }
}

/*
 * All max_flows sockets are open: the least recently used one goes, so
 * one-packet flows (spoofed sources) cannot keep new clients out. Its flow,
 * if it comes back, gets a new socket (the server sees a new source port).
 */
static void uflow_evict(struct qasm_relay *r)
{
    struct uflow *u = TAILQ_FIRST(&r->lru);
    if (u == NULL)
        return;
    if (r->c.upstream_evicted == 0)
        qasm_warn("--max-flows %zu upstream sockets open: closing the idlest for each new flow "
                  "(upstream_evicted)", r->cfg.max_flows);
    uflow_close(r, u);
    r->c.upstream_evicted++;
}

static struct uflow *uflow_get(struct qasm_relay *r, const struct qasm_addr *client,
                               const struct qasm_addr *hop, const struct qasm_addr *server,
                               qasm_tstamp now)
{
    struct qasm_flow key;
    memset(&key, 0, sizeof(key));
    key.src = *client;
    key.dst = *hop;
    key.proto = IPPROTO_UDP;
    uint64_t h = qasm_flow_hash(&key, r->seed);
    struct uflow *u = qasm_htab_find(r->uflows, h, &key);
    if (u) {
        uflow_touch(r, u, now);
        return u;
    }
    while (qasm_htab_count(r->uflows) >= r->cfg.max_flows)
        uflow_evict(r);
    int fd = udp_socket(NULL, hop);
    if (fd < 0) {
        qasm_warn("upstream socket: %s", strerror(-fd));
        return NULL;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        close(fd);
        return NULL;
    }
    u->key = key;
    u->server = *server;
    u->hash = h;
    u->last = now;
    if (qasm_htab_insert(r->uflows, h, u) < 0) {
        close(fd);
        free(u);
        return NULL;
    }
    rsock_start(r, &u->s, fd, RSOCK_UPSTREAM);
    TAILQ_INSERT_TAIL(&r->lru, u, lru);
    r->c.upstream_sockets++;
    r->c.upstream_created++;
    return u;
}

/* The core's FLOW_CLOSE: |client|'s state towards |hop| is gone, so is its socket. */
static void uflow_closed_by_core(struct qasm_relay *r, const struct qasm_addr *client,
                                 const struct qasm_addr *hop)
{
    if (!r->uflows)
        return;
    struct qasm_flow key;
    memset(&key, 0, sizeof(key));
    key.src = *client;
    key.dst = *hop;
    key.proto = IPPROTO_UDP;
    struct uflow *u = qasm_htab_find(r->uflows, qasm_flow_hash(&key, r->seed), &key);
    if (!u)
        return;
    uflow_close(r, u);
    r->c.upstream_closed++;
}

/* ---- sending ---- */

static void relay_flush(struct qasm_relay *r)
{
    size_t i = 0;
    while (i < r->nout) {
        size_t j = i;
        while (j < r->nout && r->out[j].fd == r->out[i].fd)
            j++;
        /* out[i..j) leave the same socket: one sendmmsg (repeated if partial). */
        size_t k = i;
        while (k < j) {
            size_t n = j - k;
            for (size_t x = 0; x < n; x++) {
                struct outmsg *o = &r->out[k + x];
                struct msghdr *h = &r->smsg[x].msg_hdr;
                memset(h, 0, sizeof(*h));
                h->msg_name = o->tolen ? &o->to : NULL;
                h->msg_namelen = o->tolen;
                h->msg_iov = &o->iov;
                h->msg_iovlen = 1;
            }
            int sent = sendmmsg(r->out[k].fd, r->smsg, (unsigned)n, 0);
            if (sent == -1) {
                int err = errno;
                if (err == EINTR)
                    continue;
                /* The first datagram was refused (ICMP error, buffer full): skip it. */
                r->c.tx_errors++;
                qasm_debug("sendmmsg: %s", strerror(err));
                k++;
                continue;
            }
            r->c.tx += (uint64_t)sent;
            k += (size_t)sent;
        }
        i = j;
    }
    for (size_t x = 0; x < r->nout; x++)
        if (r->out[x].release)
            buf_put(r, r->out[x].release);
    r->nout = 0;
}

static void queue_send(struct qasm_relay *r, int fd, const struct qasm_addr *to, int connected,
                       const uint8_t *data, size_t len, struct rbuf *release)
{
    if (r->nout == OUTQ)
        relay_flush(r);
    struct outmsg *o = &r->out[r->nout++];
    o->fd = fd;
    o->tolen = connected ? 0 : qasm_addr_to_sockaddr(&o->to, to);
    o->iov.iov_base = (void *)(uintptr_t)data;
    o->iov.iov_len = len;
    o->release = release;
}

/* Applies a FORWARD / DROP verdict; |release| is the held buffer to recycle (or NULL). */
static void apply(struct qasm_relay *r, const struct qasm_mbox_verdict *v, const uint8_t *data,
                  size_t len, struct rbuf *release, qasm_tstamp now)
{
    if (v->action != QASM_MBOX_FORWARD) {
        if (release)
            buf_put(r, release);
        return;
    }
    if (v->dir == QASM_MBOX_FROM_SERVER) {
        queue_send(r, r->listen.fd, &v->flow.dst, 0, data, len, release);
        return;
    }
    if (r->cfg.function == QASM_MBOX_NAT) {
        struct rsock *s = NULL;
        struct rsock **slot = port_slot(r, v->public_port);
        if (slot)
            s = *slot ? *slot : port_open(r, &v->flow.src);
        if (!s) {
            r->c.no_socket++;
            if (release)
                buf_put(r, release);
            return;
        }
        queue_send(r, s->fd, &v->flow.dst, 0, data, len, release);
        return;
    }
    /* RL keeps the destination (the upstream); the LB's is the chosen backend. */
    const struct qasm_addr *server =
            r->cfg.function == QASM_MBOX_LB ? &r->cfg.listen : &v->flow.dst;
    struct uflow *u = uflow_get(r, &v->flow.src, &v->flow.dst, server, now);
    if (!u) {
        r->c.no_socket++;
        if (release)
            buf_put(r, release);
        return;
    }
    queue_send(r, u->s.fd, NULL, 1, data, len, release);
}

/* ---- the core's queues and timer ---- */

static void drain_events(struct qasm_relay *r)
{
    struct qasm_mbox_event ev;
    while (qasm_mbox_next_event(r->m, &ev)) {
        if (ev.type == QASM_MBOX_EV_PORT_OPEN)
            port_open(r, &ev.addr);
        else if (ev.type == QASM_MBOX_EV_PORT_CLOSE)
            port_close(r, &ev.addr);
        else if (ev.type == QASM_MBOX_EV_FLOW_CLOSE)
            uflow_closed_by_core(r, &ev.addr, &ev.hop);
    }
}

static void drain_releases(struct qasm_relay *r, qasm_tstamp now)
{
    struct qasm_mbox_verdict v;
    while (qasm_mbox_next_release(r->m, &v)) {
        drain_events(r);
        apply(r, &v, v.data, v.len, v.opaque, now);
    }
}


void qasm_relay_drain(struct qasm_relay *r)
{
    if (r->draining) {
        r->drain_again = 1;
        return;
    }
    r->draining = 1;
    do {
        r->drain_again = 0;
        qasm_tstamp now = qasm_now();
        drain_events(r);
        drain_releases(r, now);
        relay_flush(r);
        if (r->tl)
            qasm_tlink_pump(r->tl);
        qasm_mbox_timer_rearm(r->loop, &r->timer, &r->timer_at, r->m, now);
    } while (r->drain_again);
    r->draining = 0;
    reap(r);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_relay *r = w->data;
    r->timer_at = QASM_TSTAMP_MAX;
    qasm_mbox_expire(r->m, qasm_now());
    qasm_relay_drain(r);
}

/* ---- receiving ---- */

/* The core's view of datagram |i| of the receive ring, read on |s| from |from|. */
static void make_pkt(struct qasm_relay *r, const struct rsock *s, int i,
                     const struct qasm_addr *from, struct qasm_mbox_pkt *pkt)
{
    struct rbuf *b = r->slot[i];
    memset(pkt, 0, sizeof(*pkt));
    pkt->flow.proto = IPPROTO_UDP;
    pkt->flow.src = *from;
    switch (s->kind) {
    case RSOCK_LISTEN:
        pkt->dir = QASM_MBOX_FROM_CLIENT;
        pkt->flow.dst = r->cfg.function == QASM_MBOX_LB ? r->cfg.listen : r->cfg.upstream;
        break;
    case RSOCK_PORT:
        pkt->dir = QASM_MBOX_FROM_SERVER;
        pkt->flow.dst = s->local;
        break;
    case RSOCK_UPSTREAM: {
        const struct uflow *u = (const struct uflow *)s;
        pkt->dir = QASM_MBOX_FROM_SERVER;
        pkt->flow.src = u->server;
        pkt->flow.dst = u->key.src;
        break;
    }
    }
    pkt->data = b->data;
    pkt->len = r->rmsg[i].msg_len;
    pkt->opaque = b;
}

/* Applies the core's verdict on datagram |i| (events first: a port may have opened). */
static void finish(struct qasm_relay *r, int i, const struct qasm_mbox_pkt *pkt,
                   struct qasm_mbox_verdict *v, qasm_tstamp now)
{
    drain_events(r);
    if (v->action == QASM_MBOX_HOLD) {
        /* The core keeps the buffer: give the slot a fresh one. */
        r->slot[i] = NULL;
        return;
    }
    v->dir = pkt->dir;
    /* The buffer stays in its slot; it outlives the queued send (flushed before the next recv). */
    apply(r, v, pkt->data, pkt->len, NULL, now);
}

/* One call of the core per datagram, timed one by one. */
static void input_one(struct qasm_relay *r, struct rsock *s, int i, const struct qasm_addr *from)
{
    struct qasm_mbox_pkt pkt;
    struct qasm_mbox_verdict v;
    make_pkt(r, s, i, from, &pkt);
    qasm_tstamp t0 = qasm_now();
    qasm_mbox_process(r->m, &pkt, t0, &v);
    qasm_tstamp t1 = qasm_now();
    qasm_hist_add(&r->proc, t1 - t0);
    if (s->kind == RSOCK_UPSTREAM)
        uflow_touch(r, (struct uflow *)s, t1);
    finish(r, i, &pkt, &v, t1);
}

static void rsock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rsock *s = w->data;
    struct qasm_relay *r = s->r;
    int n_ok = 0;
    for (int i = 0; i < BATCH; i++) {
        if (!r->slot[i]) {
            r->slot[i] = buf_get(r);
            if (!r->slot[i])
                break;
        }
        n_ok = i + 1;
        r->riov[i].iov_base = r->slot[i]->data;
        r->riov[i].iov_len = r->cfg.max_datagram;
        struct msghdr *h = &r->rmsg[i].msg_hdr;
        memset(h, 0, sizeof(*h));
        h->msg_name = &r->rfrom[i];
        h->msg_namelen = sizeof(r->rfrom[i]);
        h->msg_iov = &r->riov[i];
        h->msg_iovlen = 1;
    }
    if (n_ok == 0)
        return;
    int n = recvmmsg(s->fd, r->rmsg, (unsigned)n_ok, MSG_DONTWAIT, NULL);
    r->in_read = 1; /* the core's events may close |s| below: its memory stays until reap() */
    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            r->c.rx_errors++;
            qasm_debug("recvmmsg: %s", strerror(errno));
        }
        r->in_read = 0;
        return;
    }
    struct qasm_mbox_pkt pkts[BATCH];
    int idx[BATCH], np = 0;
    for (int i = 0; i < n; i++) {
        r->c.rx++;
        if (r->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
            r->c.rx_truncated++;
            continue;
        }
        struct qasm_addr from;
        if (s->kind == RSOCK_UPSTREAM) {
            from = ((struct uflow *)s)->key.dst;
        } else if (qasm_addr_from_sockaddr(&from, (struct sockaddr *)&r->rfrom[i],
                                           r->rmsg[i].msg_hdr.msg_namelen) < 0) {
            r->c.rx_errors++;
            continue;
        }
        if (!r->cfg.core_batch) {
            input_one(r, s, i, &from);
            continue;
        }
        make_pkt(r, s, i, &from, &pkts[np]);
        idx[np++] = i;
    }
    if (np > 0) {
        /* One core call for the batch (table lookups overlapped); its time is shared out. */
        struct qasm_mbox_verdict v[BATCH];
        qasm_tstamp t0 = qasm_now();
        qasm_mbox_process_batch(r->m, pkts, (size_t)np, t0, v);
        qasm_tstamp t1 = qasm_now();
        for (int k = 0; k < np; k++)
            qasm_hist_add(&r->proc, (t1 - t0) / (uint64_t)np);
        if (s->kind == RSOCK_UPSTREAM)
            uflow_touch(r, (struct uflow *)s, t1);
        for (int k = 0; k < np; k++)
            finish(r, idx[k], &pkts[k], &v[k], t1);
    }
    /* Sends point into the slots: out before the next recvmmsg. */
    r->in_read = 0;
    qasm_relay_drain(r);
}

/* ---- setup ---- */

int qasm_relay_new(struct qasm_relay **pr, struct ev_loop *loop, struct qasm_mbox *mbox,
                   const struct qasm_relay_config *cfg)
{
    *pr = NULL;
    struct qasm_relay *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->loop = loop;
    r->m = mbox;
    r->cfg = *cfg;
    if (r->cfg.max_flows == 0)
        r->cfg.max_flows = 4096;
    if (r->cfg.flow_idle == 0)
        r->cfg.flow_idle = 120 * QASM_SEC;
    if (r->cfg.max_datagram == 0)
        r->cfg.max_datagram = 4096;
    r->seed = 0x9e3779b97f4a7c15ull;
    TAILQ_INIT(&r->lru);
    TAILQ_INIT(&r->dead);
    r->timer_at = QASM_TSTAMP_MAX;
    r->listen.fd = -1;
    qasm_hist_init(&r->proc);
    ev_timer_init(&r->timer, timer_cb, 0., 0.);
    r->timer.data = r;
    int rv;
    if (cfg->function == QASM_MBOX_NAT) {
        /* Public sockets for the whole port range can exist: index them by port. */
        r->port_base = 0;
        r->nports = 65536;
        r->ports = calloc(r->nports, sizeof(*r->ports));
        if (!r->ports) {
            rv = -ENOMEM;
            goto fail;
        }
    } else {
        rv = qasm_htab_new(&r->uflows, 1024, uflow_eq);
        if (rv < 0)
            goto fail;
    }
    int fd = udp_socket(&cfg->listen, NULL);
    if (fd < 0) {
        rv = fd;
        goto fail;
    }
    if (cfg->listen.port == 0) { /* --listen HOST:0: the port the kernel picked */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            qasm_addr_from_sockaddr(&r->cfg.listen, (struct sockaddr *)&ss, sl);
    }
    r->listen.local = r->cfg.listen;
    rsock_start(r, &r->listen, fd, RSOCK_LISTEN);
    *pr = r;
    return 0;
fail:
    free(r->ports);
    qasm_htab_del(r->uflows);
    free(r);
    return rv;
}

void qasm_relay_sweep(struct qasm_relay *r, qasm_tstamp now)
{
    if (!r->uflows)
        return;
    /* Idlest first: stop at the first one used within flow_idle. */
    struct uflow *u;
    while ((u = TAILQ_FIRST(&r->lru)) != NULL && now > u->last &&
           now - u->last >= r->cfg.flow_idle) {
        uflow_close(r, u);
        r->c.upstream_expired++;
    }
    reap(r);
}

void qasm_relay_del(struct qasm_relay *r)
{
    if (!r)
        return;
    relay_flush(r);
    ev_timer_stop(r->loop, &r->timer);
    if (r->listen.fd != -1)
        rsock_stop(r, &r->listen);
    if (r->ports) {
        for (size_t i = 0; i < r->nports; i++)
            if (r->ports[i]) {
                rsock_stop(r, r->ports[i]);
                free(r->ports[i]);
            }
        free(r->ports);
    }
    if (r->uflows) {
        size_t pos = 0;
        struct uflow *u;
        /* Collect-then-free is not needed: the table is deleted right after. */
        while ((u = qasm_htab_next(r->uflows, &pos)) != NULL) {
            rsock_stop(r, &u->s);
            free(u);
        }
        qasm_htab_del(r->uflows);
        r->in_read = 0;
        reap(r);
    }
    for (int i = 0; i < BATCH; i++)
        free(r->slot[i]);
    while (r->free_bufs) {
        struct rbuf *b = r->free_bufs;
        r->free_bufs = b->next;
        free(b);
    }
    free(r);
}

void qasm_relay_set_tlink(struct qasm_relay *r, struct qasm_tlink *tl)
{
    r->tl = tl;
}

const struct qasm_addr *qasm_relay_listen_addr(const struct qasm_relay *r)
{
    return &r->cfg.listen;
}

size_t qasm_relay_max_flows(const struct qasm_relay *r)
{
    return r->cfg.max_flows;
}

const struct qasm_relay_counters *qasm_relay_counters(const struct qasm_relay *r)
{
    return &r->c;
}

const struct qasm_hist *qasm_relay_proc_hist(const struct qasm_relay *r)
{
    return &r->proc;
}
