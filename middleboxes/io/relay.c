/*
 * relay.c: the UDP relay backend of qasm-mbox (see relay.h).
 *
 * Receive path: a readable socket gives one recvmmsg batch into the
 * driver's receive ring; each datagram becomes a qasm_mbox_pkt whose data
 * points into its buffer. A FORWARD verdict is queued on the driver's send
 * queue from the socket it must leave: the listen socket (towards
 * clients), the NAT public port, or the RL / LB upstream socket of the
 * (client, next hop) pair.
 */
#include "middleboxes/io/relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "htab.h"
#include "log.h"

enum rsock_kind {
    RSOCK_LISTEN = 0,   /* private side: from clients */
    RSOCK_PORT = 1,     /* NAT public port: from servers */
    RSOCK_UPSTREAM = 2, /* RL / LB per-client upstream socket: from servers */
};

struct qasm_relay;

struct rsock {
    struct qasm_driver_watch w; /* first: the driver hands it back */
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

/* Relay-level counters (the core and the driver have their own). */
struct relay_counters {
    uint64_t rx;               /* datagrams received, all sockets */
    uint64_t rx_truncated;     /* longer than max_datagram: dropped */
    uint64_t rx_errors;        /* recvmmsg errors (ICMP unreachable and the like) */
    uint64_t no_socket;        /* forwarded by the core but no socket to send from: dropped */
    uint64_t upstream_evicted; /* idlest upstream socket closed for a new flow */
    uint64_t upstream_closed;  /* upstream socket closed with its core entry */
    uint64_t port_bind_fail;   /* NAT public ports that could not be bound */
    uint64_t ports_open;       /* NAT public sockets open now */
    uint64_t upstream_sockets; /* RL / LB upstream sockets open now */
    uint64_t upstream_created;
    uint64_t upstream_expired;
};

struct qasm_relay {
    struct qasm_driver *d;
    struct qasm_relay_config cfg;
    struct rsock listen;
    /* NAT public sockets, indexed by port. */
    struct rsock **ports;
    /* RL / LB upstream sockets. */
    struct qasm_htab *uflows;
    struct uflow_list lru;  /* open ones, idlest first: evicted first when max_flows are open */
    struct uflow_list dead; /* closed, freed in reap() (one may be the socket being read) */
    uint64_t seed;
    /* recvmmsg headers of the ring. */
    struct mmsghdr rmsg[QASM_DRIVER_BATCH];
    struct iovec riov[QASM_DRIVER_BATCH];
    struct sockaddr_storage rfrom[QASM_DRIVER_BATCH];
    /* The last source converted (a batch mostly comes from a few peers). */
    struct sockaddr_storage last_sa;
    socklen_t last_salen;
    struct qasm_addr last_from;
    struct relay_counters c;
};

/* ---- sockets ---- */

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
    const struct qasm_addr *a = bind_to ? bind_to : connect_to;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, a);
    if ((bind_to ? bind(fd, (struct sockaddr *)&ss, sl) : connect(fd, (struct sockaddr *)&ss, sl))
        == -1) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

static void rsock_start(struct qasm_relay *r, struct rsock *s, int fd, enum rsock_kind kind)
{
    s->r = r;
    s->kind = kind;
    s->fd = fd;
    qasm_driver_watch_start(r->d, &s->w, fd);
}

static void rsock_stop(struct qasm_relay *r, struct rsock *s)
{
    qasm_driver_watch_stop(r->d, &s->w);
    if (s->fd != -1)
        close(s->fd);
    s->fd = -1;
}

static struct rsock *port_open_sock(struct qasm_relay *r, const struct qasm_addr *a)
{
    struct rsock **slot = &r->ports[a->port];
    if (*slot)
        return *slot;
    char buf[QASM_ADDR_STRLEN];
    int fd = udp_socket(a, NULL);
    if (fd >= 0) {
        /*
         * Every mapping's datagrams go to --upstream, and the core takes
         * replies only from there: connected, the socket keeps its route (no
         * lookup per datagram) and the kernel drops the rest.
         */
        struct sockaddr_storage ss;
        socklen_t sl = qasm_addr_to_sockaddr(&ss, &r->cfg.upstream);
        if (connect(fd, (struct sockaddr *)&ss, sl) == -1) {
            close(fd);
            fd = -errno;
        }
    }
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

static void port_open(void *b, const struct qasm_addr *a)
{
    struct qasm_relay *r = b;
    if (r->ports)
        port_open_sock(r, a);
}

static void port_close(void *b, const struct qasm_addr *a)
{
    struct qasm_relay *r = b;
    if (!r->ports || !r->ports[a->port])
        return;
    char buf[QASM_ADDR_STRLEN];
    qasm_driver_flush(r->d); /* sends queued from this socket go out first */
    rsock_stop(r, r->ports[a->port]);
    free(r->ports[a->port]);
    r->ports[a->port] = NULL;
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

/* Closes |u| now; its memory goes in reap() (it may be the socket being read). */
static void uflow_close(struct qasm_relay *r, struct uflow *u)
{
    qasm_driver_flush(r->d); /* sends queued from this socket go out first */
    qasm_htab_remove_ptr(r->uflows, u->hash, u);
    TAILQ_REMOVE(&r->lru, u, lru);
    rsock_stop(r, &u->s);
    TAILQ_INSERT_TAIL(&r->dead, u, lru);
    r->c.upstream_sockets--;
}

static void reap(void *b)
{
    struct qasm_relay *r = b;
    struct uflow *u;
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

static struct qasm_flow uflow_key(const struct qasm_addr *client, const struct qasm_addr *hop)
{
    struct qasm_flow key;
    memset(&key, 0, sizeof(key));
    key.src = *client;
    key.dst = *hop;
    key.proto = IPPROTO_UDP;
    return key;
}

static struct uflow *uflow_get(struct qasm_relay *r, const struct qasm_addr *client,
                               const struct qasm_addr *hop, const struct qasm_addr *server,
                               qasm_tstamp now)
{
    struct qasm_flow key = uflow_key(client, hop);
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
static void flow_close(void *b, const struct qasm_addr *client, const struct qasm_addr *hop)
{
    struct qasm_relay *r = b;
    if (!r->uflows)
        return;
    struct qasm_flow key = uflow_key(client, hop);
    struct uflow *u = qasm_htab_find(r->uflows, qasm_flow_hash(&key, r->seed), &key);
    if (!u)
        return;
    uflow_close(r, u);
    r->c.upstream_closed++;
}

/* ---- sending ---- */

/* A FORWARD verdict: from the listen socket, the public port or the upstream socket. */
static int deliver(void *b, const struct qasm_mbox_verdict *v, struct qasm_driver_buf *release,
                   qasm_tstamp now)
{
    struct qasm_relay *r = b;
    int fd;
    const struct qasm_addr *to = &v->flow.dst;
    if (v->dir == QASM_MBOX_FROM_SERVER) {
        fd = r->listen.fd;
    } else if (r->cfg.function == QASM_MBOX_NAT) {
        struct rsock *s = r->ports[v->flow.src.port];
        if (!s)
            s = port_open_sock(r, &v->flow.src);
        if (!s) {
            r->c.no_socket++;
            return -ENOTCONN;
        }
        fd = s->fd;
        if (qasm_addr_eq(to, &r->cfg.upstream))
            to = NULL;
    } else {
        /* RL keeps the destination (the upstream); the LB's is the chosen backend. */
        const struct qasm_addr *server =
                r->cfg.function == QASM_MBOX_LB ? &r->cfg.listen : &v->flow.dst;
        struct uflow *u = uflow_get(r, &v->flow.src, &v->flow.dst, server, now);
        if (!u) {
            r->c.no_socket++;
            return -ENOTCONN;
        }
        fd = u->s.fd;
        to = NULL; /* connected */
    }
    qasm_driver_send(r->d, fd, to, v->data, v->len, release);
    return 0;
}

/* ---- receiving ---- */

/* What every datagram read on a socket shares: direction, destination and (upstream) source. */
struct rx_side {
    enum qasm_mbox_dir dir;
    const struct qasm_addr *dst;
    const struct qasm_addr *src; /* NULL: each datagram's own source */
};

static struct rx_side rx_side(const struct qasm_relay *r, const struct rsock *s)
{
    struct rx_side t = {QASM_MBOX_FROM_SERVER, &s->local, NULL};
    if (s->kind == RSOCK_LISTEN) {
        t.dir = QASM_MBOX_FROM_CLIENT;
        t.dst = r->cfg.function == QASM_MBOX_LB ? &r->cfg.listen : &r->cfg.upstream;
    } else if (s->kind == RSOCK_UPSTREAM) {
        /* Connected: the server as the client addresses it, towards the client. */
        const struct uflow *u = (const struct uflow *)s;
        t.src = &u->server;
        t.dst = &u->key.src;
    }
    return t;
}

/* The core's view of a datagram of the ring read on side |t| (pkt->flow.src set unless t->src). */
static inline void make_pkt(const struct rx_side *t, struct qasm_driver_buf *buf, size_t len,
                            struct qasm_mbox_pkt *pkt)
{
    /* Every field set (no padding in these structs): no memset per datagram. */
    pkt->flow.proto = IPPROTO_UDP;
    memset(pkt->flow.pad, 0, sizeof(pkt->flow.pad));
    pkt->dir = t->dir;
    pkt->flow.dst = *t->dst;
    if (t->src)
        pkt->flow.src = *t->src;
    pkt->data = buf->data;
    pkt->len = len;
    pkt->opaque = buf;
}

/* The source of datagram |i| as an address (0), or -EAFNOSUPPORT; the last one is kept. */
static int rx_source(struct qasm_relay *r, size_t i, struct qasm_addr *from)
{
    const struct sockaddr_storage *sa = &r->rfrom[i];
    socklen_t len = r->rmsg[i].msg_hdr.msg_namelen;
    if (len != 0 && len == r->last_salen) { /* 0 until a source was converted */
        /* sockaddr_in: family, port and address are its first 8 bytes (the rest is zero). */
        uint64_t a, b;
        memcpy(&a, sa, sizeof(a));
        memcpy(&b, &r->last_sa, sizeof(b));
        int same = len == sizeof(struct sockaddr_in)
                           ? a == b
                           : memcmp(sa, &r->last_sa, sizeof(struct sockaddr_in6)) == 0;
        if (same) {
            *from = r->last_from;
            return 0;
        }
    }
    int rv = qasm_addr_from_sockaddr(from, (const struct sockaddr *)sa, len);
    if (rv < 0)
        return rv;
    /* Kept only once converted: last_salen is sizeof(sockaddr_in) or sizeof(sockaddr_in6). */
    r->last_from = *from;
    r->last_salen = len == sizeof(struct sockaddr_in) ? len : sizeof(struct sockaddr_in6);
    memcpy(&r->last_sa, sa, sizeof(struct sockaddr_in6));
    return 0;
}

static void recv_batch(void *b, struct qasm_driver_watch *w, struct qasm_driver_rx *rx)
{
    struct qasm_relay *r = b;
    struct rsock *s = (struct rsock *)w;
    /* The headers' fixed part is set in relay_open; the kernel rewrites namelen. */
    for (size_t i = 0; i < rx->nbuf; i++) {
        r->riov[i].iov_base = rx->buf[i]->data;
        r->riov[i].iov_len = rx->max_packet;
        r->rmsg[i].msg_hdr.msg_namelen = sizeof(r->rfrom[i]);
    }
    int n = recvmmsg(s->fd, r->rmsg, (unsigned)rx->nbuf, MSG_DONTWAIT, NULL);
    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            r->c.rx_errors++;
            qasm_debug("recvmmsg: %s", strerror(errno));
        }
        return;
    }
    rx->nread = (size_t)n;
    r->c.rx += (uint64_t)n;
    const struct rx_side side = rx_side(r, s);
    for (int i = 0; i < n; i++) {
        if (r->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
            r->c.rx_truncated++;
            continue;
        }
        struct qasm_mbox_pkt *pkt = &rx->pkt[rx->npkt];
        if (!side.src && rx_source(r, (size_t)i, &pkt->flow.src) < 0) {
            r->c.rx_errors++;
            continue;
        }
        make_pkt(&side, rx->buf[i], r->rmsg[i].msg_len, pkt);
        rx->npkt++;
    }
    if (s->kind == RSOCK_UPSTREAM)
        uflow_touch(r, (struct uflow *)s, rx->now);
}

/* ---- setup ---- */

static int relay_open(struct qasm_driver *d, const void *bcfg, void **pb)
{
    const struct qasm_relay_config *cfg = bcfg;
    struct qasm_relay *r = calloc(1, sizeof(*r));
    if (!r)
        return 1;
    r->d = d;
    r->cfg = *cfg;
    if (r->cfg.max_flows == 0)
        r->cfg.max_flows = 4096;
    if (r->cfg.flow_idle == 0)
        r->cfg.flow_idle = 120 * QASM_SEC;
    r->seed = 0x9e3779b97f4a7c15ull;
    TAILQ_INIT(&r->lru);
    TAILQ_INIT(&r->dead);
    for (size_t i = 0; i < QASM_DRIVER_BATCH; i++) {
        struct msghdr *h = &r->rmsg[i].msg_hdr;
        h->msg_name = &r->rfrom[i];
        h->msg_iov = &r->riov[i];
        h->msg_iovlen = 1;
    }
    r->listen.fd = -1;
    /* NAT: public sockets for the whole port range can exist: index them by port. */
    if (cfg->function == QASM_MBOX_NAT ? !(r->ports = calloc(65536, sizeof(*r->ports)))
                                       : qasm_htab_new(&r->uflows, 1024, uflow_eq) < 0) {
        free(r);
        return 1;
    }
    *pb = r;
    char l[QASM_ADDR_STRLEN], u[QASM_ADDR_STRLEN];
    int fd = udp_socket(&cfg->listen, NULL);
    if (fd < 0) {
        fprintf(stderr, "qasm-mbox: cannot listen on %s: %s\n",
                qasm_addr_format(l, sizeof(l), &cfg->listen), strerror(-fd));
        return 1;
    }
    if (cfg->listen.port == 0) { /* --listen HOST:0: the port the kernel picked */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            qasm_addr_from_sockaddr(&r->cfg.listen, (struct sockaddr *)&ss, sl);
    }
    r->listen.local = r->cfg.listen;
    rsock_start(r, &r->listen, fd, RSOCK_LISTEN);
    const struct qasm_mbox_config *core = qasm_driver_core_config(d);
    if (cfg->function == QASM_MBOX_LB)
        qasm_info("lb %s: listening on %s, %zu backend(s), first %s",
                  qasm_mbox_mode_name(core->mode), qasm_addr_format(l, sizeof(l), &r->cfg.listen),
                  core->lb_nbackends, qasm_addr_format(u, sizeof(u), &core->lb_backends[0]));
    else
        qasm_info("%s %s: listening on %s, upstream %s", qasm_mbox_function_name(cfg->function),
                  qasm_mbox_mode_name(core->mode), qasm_addr_format(l, sizeof(l), &r->cfg.listen),
                  qasm_addr_format(u, sizeof(u), &cfg->upstream));
    if (cfg->tracker_unused)
        qasm_info("default mode: --tracker is not used");
    return 0;
}

static void relay_close(void *b)
{
    struct qasm_relay *r = b;
    if (r->listen.fd != -1)
        rsock_stop(r, &r->listen);
    if (r->ports) {
        for (size_t i = 0; i < 65536; i++)
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
    }
    reap(r);
    free(r);
}

/* The core closes each upstream socket with its flow's state (FLOW_CLOSE). */
static int relay_prepare(const void *bcfg, struct qasm_mbox_config *core)
{
    (void)bcfg;
    core->flow_events = 1;
    return 0;
}

/* Closes upstream sockets idle for flow_idle, idlest first. */
static void relay_tick(void *b, qasm_tstamp now)
{
    struct qasm_relay *r = b;
    if (!r->uflows)
        return;
    struct uflow *u;
    while ((u = TAILQ_FIRST(&r->lru)) != NULL && now > u->last &&
           now - u->last >= r->cfg.flow_idle) {
        uflow_close(r, u);
        r->c.upstream_expired++;
    }
    reap(r);
}

static int relay_bounds(void *b, uint64_t *evicted, size_t *limit)
{
    struct qasm_relay *r = b;
    *evicted = r->c.upstream_evicted;
    *limit = r->cfg.max_flows;
    return 1;
}

/* ---- stats ---- */

static void relay_stats_head(void *b, struct qasm_json *j)
{
    struct qasm_relay *r = b;
    char l[QASM_ADDR_STRLEN];
    qasm_json_str(j, "listen", qasm_addr_format(l, sizeof(l), &r->cfg.listen));
}

static size_t relay_stats_drops(void *b, struct qasm_mbox_json_drop *out, size_t max)
{
    struct qasm_relay *r = b;
    const struct qasm_mbox_json_drop drops[] = {
        { "oversize", r->c.rx_truncated },
        { "no_socket", r->c.no_socket },
        { "send_error", qasm_driver_counters(r->d)->tx_errors },
    };
    size_t n = sizeof(drops) / sizeof(drops[0]);
    n = n < max ? n : max;
    memcpy(out, drops, n * sizeof(drops[0]));
    return n;
}

static void relay_stats(void *b, struct qasm_json *j)
{
    struct qasm_relay *r = b;
    const struct qasm_driver_counters *dc = qasm_driver_counters(r->d);
    static const char *const names[] = {
        "packets_received", "packets_sent", "receive_errors", "ports_open", "port_bind_fail", "upstream_sockets",
        "upstream_created", "upstream_expired", "upstream_closed", "upstream_evicted",
        "max_flows", "bufs_allocated", "sockets_parked"};
    const uint64_t v[] = {
        r->c.rx, dc->tx, r->c.rx_errors, r->c.ports_open, r->c.port_bind_fail,
        r->c.upstream_sockets, r->c.upstream_created, r->c.upstream_expired,
        r->c.upstream_closed, r->c.upstream_evicted, r->cfg.max_flows, dc->bufs_allocated,
        dc->parked};
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(v) / sizeof(v[0]), "one each");
    qasm_mbox_json_u64s(j, "relay", names, v, sizeof(v) / sizeof(v[0]));
}

const struct qasm_driver_backend_ops qasm_relay_ops = {
    .name = "relay",
    .buf_meta = 0,
    .prepare = relay_prepare,
    .open = relay_open,
    .close = relay_close,
    .recv = recv_batch,
    .deliver = deliver,
    .port_open = port_open,
    .port_close = port_close,
    .flow_close = flow_close,
    .tick = relay_tick,
    .reap = reap,
    .bounds = relay_bounds,
    .stats_head = relay_stats_head,
    .stats_drops = relay_stats_drops,
    .stats = relay_stats,
};
