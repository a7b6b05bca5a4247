/*
 * packet_io.c: the packet-level backend of qasm-mbox (see packet_io.h).
 *
 * Receive path: a readable AF_PACKET socket gives one recvmmsg batch; each
 * IP packet is sorted (local / UDP through the core / other transit); the
 * UDP ones of the batch go to qasm_mbox_process_batch and their verdicts
 * are applied (FORWARD: rewrite in place and queue on the raw socket of its
 * family; HOLD: the buffer leaves the ring until the core releases it).
 * Sends are flushed with sendmmsg before the next receive.
 */
#include "packet_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "bytes.h"
#include "cid.h"
#include "clock.h"
#include "ipudp.h"
#include "mbox_json.h"
#include "mbox_timer.h"
#include "packet_sort.h"
#include "json.h"
#include "tracker_link.h"

#define BATCH 32
#define OUTQ 256
#define MAX_LOCAL 64

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

enum side { SIDE_INSIDE = 0, SIDE_OUTSIDE = 1 };

/* A packet buffer: the IP packet and its parse; held packets keep theirs. */
struct pbuf {
    struct pbuf *next;
    struct qasm_ipudp pu;
    size_t len;
    uint8_t data[];
};

struct outmsg {
    int fd;
    struct sockaddr_storage to;
    socklen_t tolen;
    struct iovec iov;
    struct pbuf *release; /* buffer to recycle once sent (held packets) */
};

struct pio_counters {
    uint64_t rx;            /* IP packets received (PACKET_HOST) */
    uint64_t rx_other;      /* frames ignored: not IP, not for this host's link address */
    uint64_t local;         /* packets to this host's own addresses, left to the kernel */
    uint64_t to_core;       /* UDP packets given to the core */
    uint64_t tx;            /* packets sent */
    uint64_t tx_errors;     /* packets the kernel refused */
    uint64_t ttl_expired;   /* TTL / hop limit <= 1: dropped */
    uint64_t malformed;     /* bad IP header: dropped */
    uint64_t non_udp_forwarded; /* non-UDP or fragments forwarded unchanged (ratelimit) */
    uint64_t non_udp_dropped;   /* non-UDP or fragments dropped (nat) */
    uint64_t lb_passthrough;    /* lb: traffic not to / from the VIP, routed unchanged */
    uint64_t outside_transit_dropped; /* nat: outside packets to a non-local address */
    uint64_t truncated;     /* longer than max_packet */
    uint64_t rx_errors;
    uint64_t family_mismatch; /* rewrite to another family refused */
    uint64_t ports_open;    /* NAT absorb sockets open now */
    uint64_t port_bind_fail;
    uint64_t bufs_allocated;
};

struct pio_if {
    struct pio *p;
    enum side side;
    const char *name;
    int ifindex;
    int fd;
    ev_io io;
};

struct pio {
    struct ev_loop *loop;
    struct qasm_pio_options o;
    struct qasm_mbox *m;
    struct qasm_tlink *tl;
    struct pio_if ifs[2];
    int raw4, raw6;
    int vip_fd;                 /* lb: absorb socket on a local VIP, or -1 */
    /* NAT absorb sockets, indexed by port - nat_port_min. */
    int *port_fds;
    size_t nports;
    /* Local addresses (IP only). */
    struct qasm_addr local[MAX_LOCAL];
    size_t nlocal;
    struct qasm_psort_ctx sort; /* what the sorter knows of the hop */
    /* Receive ring. */
    struct pbuf *slot[BATCH];
    struct pbuf *free_bufs;
    struct mmsghdr rmsg[BATCH];
    struct iovec riov[BATCH];
    struct sockaddr_ll rfrom[BATCH];
    /* Send queue. */
    struct outmsg out[OUTQ];
    size_t nout;
    struct mmsghdr smsg[OUTQ];
    /* Core timer, stats tick, signals. */
    ev_timer timer;
    qasm_tstamp timer_at;
    ev_timer tick;
    ev_signal sig_term, sig_int, sig_usr1;
    int draining, drain_again;
    qasm_tstamp started;
    struct qasm_hist proc;
    struct pio_counters c;
};

static void pio_flush(struct pio *p);

/* ---- buffers ---- */

static struct pbuf *buf_get(struct pio *p)
{
    struct pbuf *b = p->free_bufs;
    if (b) {
        p->free_bufs = b->next;
        return b;
    }
    b = malloc(sizeof(*b) + p->o.max_packet);
    if (b)
        p->c.bufs_allocated++;
    return b;
}

static void buf_put(struct pio *p, struct pbuf *b)
{
    b->next = p->free_bufs;
    p->free_bufs = b;
}

/* ---- local addresses ---- */

static void refresh_local(struct pio *p)
{
    struct ifaddrs *ifa0, *ifa;
    if (getifaddrs(&ifa0) == -1)
        return;
    p->nlocal = 0;
    for (ifa = ifa0; ifa && p->nlocal < MAX_LOCAL; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || (ifa->ifa_addr->sa_family != AF_INET &&
                               ifa->ifa_addr->sa_family != AF_INET6))
            continue;
        struct qasm_addr a;
        socklen_t sl = ifa->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                            : sizeof(struct sockaddr_in6);
        if (qasm_addr_from_sockaddr(&a, ifa->ifa_addr, sl) < 0)
            continue;
        a.port = 0;
        p->local[p->nlocal++] = a;
    }
    freeifaddrs(ifa0);
    p->sort.nlocal = p->nlocal;
}

/* The first IPv4 (else global IPv6) address of interface |name|. */
static int if_public_addr(const char *name, struct qasm_addr *out)
{
    struct ifaddrs *ifa0, *ifa;
    int found = 0;
    if (getifaddrs(&ifa0) == -1)
        return -errno;
    for (int want = AF_INET; want && !found; want = want == AF_INET ? AF_INET6 : 0) {
        for (ifa = ifa0; ifa && !found; ifa = ifa->ifa_next) {
            if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != want || strcmp(ifa->ifa_name, name))
                continue;
            socklen_t sl = want == AF_INET ? sizeof(struct sockaddr_in)
                                           : sizeof(struct sockaddr_in6);
            if (want == AF_INET6 &&
                IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr))
                continue;
            if (qasm_addr_from_sockaddr(out, ifa->ifa_addr, sl) == 0) {
                out->port = 0;
                found = 1;
            }
        }
    }
    freeifaddrs(ifa0);
    return found ? 0 : -ENOENT;
}

/* ---- NAT public ports: absorb sockets (no ICMP port unreachable) ---- */

/* A UDP socket bound to |a| that drops everything it gets (BPF "ret 0"); -1 with errno. */
static int absorb_socket(const struct qasm_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, a);
    int fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    struct sock_filter drop_all[] = {{BPF_RET | BPF_K, 0, 0, 0}};
    struct sock_fprog prog = {.len = 1, .filter = drop_all};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == -1 ||
        bind(fd, (struct sockaddr *)&ss, sl) == -1) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void port_open(struct pio *p, const struct qasm_addr *a)
{
    if (!p->port_fds || a->port < p->o.cfg.nat_port_min ||
        (size_t)(a->port - p->o.cfg.nat_port_min) >= p->nports)
        return;
    int *slot = &p->port_fds[a->port - p->o.cfg.nat_port_min];
    if (*slot != -1)
        return;
    int fd = absorb_socket(a);
    if (fd >= 0) {
        *slot = fd;
        p->c.ports_open++;
        return;
    }
    char buf[QASM_ADDR_STRLEN];
    p->c.port_bind_fail++;
    qasm_warn("cannot bind public port %s: %s (the kernel may answer it with ICMP)",
              qasm_addr_format(buf, sizeof(buf), a), strerror(errno));
}

static void port_close(struct pio *p, const struct qasm_addr *a)
{
    if (!p->port_fds || a->port < p->o.cfg.nat_port_min ||
        (size_t)(a->port - p->o.cfg.nat_port_min) >= p->nports)
        return;
    int *slot = &p->port_fds[a->port - p->o.cfg.nat_port_min];
    if (*slot == -1)
        return;
    close(*slot);
    *slot = -1;
    p->c.ports_open--;
}

/* ---- sending ---- */

static void pio_flush(struct pio *p)
{
    size_t i = 0;
    while (i < p->nout) {
        size_t j = i;
        while (j < p->nout && p->out[j].fd == p->out[i].fd)
            j++;
        size_t k = i;
        while (k < j) {
            size_t n = j - k;
            for (size_t x = 0; x < n; x++) {
                struct outmsg *om = &p->out[k + x];
                struct msghdr *h = &p->smsg[x].msg_hdr;
                memset(h, 0, sizeof(*h));
                h->msg_name = &om->to;
                h->msg_namelen = om->tolen;
                h->msg_iov = &om->iov;
                h->msg_iovlen = 1;
            }
            int sent = sendmmsg(p->out[k].fd, p->smsg, (unsigned)n, 0);
            if (sent == -1) {
                if (errno == EINTR)
                    continue;
                p->c.tx_errors++;
                qasm_debug("sendmmsg: %s", strerror(errno));
                k++;
                continue;
            }
            p->c.tx += (uint64_t)sent;
            k += (size_t)sent;
        }
        i = j;
    }
    for (size_t x = 0; x < p->nout; x++)
        if (p->out[x].release)
            buf_put(p, p->out[x].release);
    p->nout = 0;
}

/* Queues the IP packet |pkt| (|len| bytes) to its destination |dst| (IP only). */
static void queue_send(struct pio *p, const uint8_t *pkt, size_t len, int family,
                       const uint8_t *dst_ip, struct pbuf *release)
{
    if (p->nout == OUTQ)
        pio_flush(p);
    struct outmsg *om = &p->out[p->nout++];
    memset(&om->to, 0, sizeof(om->to));
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&om->to;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, dst_ip, 4);
        om->tolen = sizeof(*s4);
        om->fd = p->raw4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&om->to;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, dst_ip, 16);
        om->tolen = sizeof(*s6);
        om->fd = p->raw6;
    }
    om->iov.iov_base = (void *)(uintptr_t)pkt;
    om->iov.iov_len = len;
    om->release = release;
}

/* Decrements the TTL / hop limit; returns -1 when the packet must not be forwarded. */
static int dec_ttl(uint8_t *pkt, int family)
{
    uint8_t *ttl = family == AF_INET ? &pkt[8] : &pkt[7];
    if (*ttl <= 1)
        return -1;
    (*ttl)--;
    return 0;
}

/* Applies a FORWARD / DROP verdict to the UDP packet in |b|; |release|: recycle after send. */
static void apply(struct pio *p, const struct qasm_mbox_verdict *v, struct pbuf *b,
                  struct pbuf *release)
{
    if (v->action != QASM_MBOX_FORWARD) {
        if (release)
            buf_put(p, release);
        return;
    }
    int family = b->pu.flow.src.family;
    if (v->flow.src.family != family || v->flow.dst.family != family ||
        qasm_ipudp_rewrite(b->data, &b->pu, &v->flow.src, &v->flow.dst) < 0) {
        p->c.family_mismatch++;
        if (release)
            buf_put(p, release);
        return;
    }
    queue_send(p, b->data, b->pu.pkt_len, family, v->flow.dst.ip, release);
}

/* ---- the core's queues and timer ---- */

static void drain_events(struct pio *p)
{
    struct qasm_mbox_event ev;
    while (qasm_mbox_next_event(p->m, &ev)) {
        if (ev.type == QASM_MBOX_EV_PORT_OPEN)
            port_open(p, &ev.addr);
        else if (ev.type == QASM_MBOX_EV_PORT_CLOSE)
            port_close(p, &ev.addr);
    }
}

static void drain_releases(struct pio *p)
{
    struct qasm_mbox_verdict v;
    while (qasm_mbox_next_release(p->m, &v)) {
        drain_events(p);
        struct pbuf *b = v.opaque;
        apply(p, &v, b, b);
    }
}


static void pio_drain(struct pio *p)
{
    if (p->draining) {
        p->drain_again = 1;
        return;
    }
    p->draining = 1;
    do {
        p->drain_again = 0;
        qasm_tstamp now = qasm_now();
        drain_events(p);
        drain_releases(p);
        pio_flush(p);
        if (p->tl)
            qasm_tlink_pump(p->tl);
        qasm_mbox_timer_rearm(p->loop, &p->timer, &p->timer_at, p->m, now);
    } while (p->drain_again);
    p->draining = 0;
}

static void drain_cb(void *ud)
{
    pio_drain(ud);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pio *p = w->data;
    p->timer_at = QASM_TSTAMP_MAX;
    qasm_mbox_expire(p->m, qasm_now());
    pio_drain(p);
}

/* ---- receiving ---- */

/* Routes a packet unchanged but for its TTL / hop limit (checked by the sorter). */
static void route(struct pio *p, struct pbuf *b, int family, size_t total, uint64_t *counter)
{
    dec_ttl(b->data, family);
    if (family == AF_INET)
        qasm_ipudp_ip4_csum_fix(b->data, (size_t)(b->data[0] & 0x0f) * 4);
    (*counter)++;
    queue_send(p, b->data, total, family, family == AF_INET ? b->data + 16 : b->data + 24, NULL);
}

static void pio_if_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pio_if *pif = w->data;
    struct pio *p = pif->p;
    int n_ok = 0;
    for (int i = 0; i < BATCH; i++) {
        if (!p->slot[i]) {
            p->slot[i] = buf_get(p);
            if (!p->slot[i])
                break;
        }
        n_ok = i + 1;
        p->riov[i].iov_base = p->slot[i]->data;
        p->riov[i].iov_len = p->o.max_packet;
        struct msghdr *h = &p->rmsg[i].msg_hdr;
        memset(h, 0, sizeof(*h));
        h->msg_name = &p->rfrom[i];
        h->msg_namelen = sizeof(p->rfrom[i]);
        h->msg_iov = &p->riov[i];
        h->msg_iovlen = 1;
    }
    if (n_ok == 0)
        return;
    int n = recvmmsg(pif->fd, p->rmsg, (unsigned)n_ok, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            p->c.rx_errors++;
            qasm_debug("recvmmsg: %s", strerror(errno));
        }
        return;
    }
    struct qasm_mbox_pkt pkts[BATCH];
    int idx[BATCH];
    size_t np = 0;
    for (int i = 0; i < n; i++) {
        struct sockaddr_ll *ll = &p->rfrom[i];
        uint16_t proto = ntohs(ll->sll_protocol);
        if (ll->sll_pkttype != PACKET_HOST || (proto != ETH_P_IP && proto != ETH_P_IPV6)) {
            p->c.rx_other++;
            continue;
        }
        p->c.rx++;
        size_t len = p->rmsg[i].msg_len;
        if ((p->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) || len > p->o.max_packet) {
            p->c.truncated++;
            continue;
        }
        struct pbuf *b = p->slot[i];
        int family = proto == ETH_P_IP ? AF_INET : AF_INET6;
        struct qasm_psort ps;
        switch (qasm_psort_packet(&p->sort, pif->side == SIDE_INSIDE, family, b->data, len, &ps)) {
        case QASM_PSORT_LOCAL: p->c.local++; continue;
        case QASM_PSORT_DROP_NON_UDP: p->c.non_udp_dropped++; continue;
        case QASM_PSORT_DROP_OUTSIDE: p->c.outside_transit_dropped++; continue;
        case QASM_PSORT_DROP_MALFORMED: p->c.malformed++; continue;
        case QASM_PSORT_DROP_TTL: p->c.ttl_expired++; continue;
        case QASM_PSORT_ROUTE:
            route(p, b, family, ps.total, ps.pu.flow.proto == QASM_IPPROTO_UDP
                                              ? &p->c.lb_passthrough : &p->c.non_udp_forwarded);
            continue;
        case QASM_PSORT_CORE:
            break;
        }
        b->pu = ps.pu;
        b->len = ps.total;
        dec_ttl(b->data, family);
        struct qasm_mbox_pkt *pk = &pkts[np];
        memset(pk, 0, sizeof(*pk));
        pk->flow = ps.flow;
        pk->dir = ps.dir;
        pk->data = b->pu.payload;
        pk->len = b->pu.payload_len;
        pk->opaque = b;
        idx[np++] = i;
        p->c.to_core++;
    }
    if (np) {
        struct qasm_mbox_verdict v[BATCH];
        qasm_tstamp t0 = qasm_now();
        qasm_mbox_process_batch(p->m, pkts, np, t0, v);
        qasm_tstamp t1 = qasm_now();
        uint64_t per = (t1 - t0) / np;
        drain_events(p);
        for (size_t k = 0; k < np; k++) {
            qasm_hist_add(&p->proc, per);
            int i = idx[k];
            if (v[k].action == QASM_MBOX_HOLD) {
                p->slot[i] = NULL; /* the core keeps the buffer */
                continue;
            }
            v[k].dir = pkts[k].dir;
            apply(p, &v[k], p->slot[i], NULL);
        }
    }
    /* Sends point into the slots: out before the next recvmmsg. */
    pio_drain(p);
}

/* ---- stats ---- */

static void fill_stats(struct qasm_json *j, void *ud)
{
    struct pio *p = ud;
    const struct qasm_mbox_config *cfg = &p->o.cfg;
    char a[QASM_ADDR_STRLEN];
    const struct qasm_mbox_json_drop drops[] = {
        { "ttl_expired", p->c.ttl_expired },
        { "bad_ip", p->c.malformed },
        { "non_udp", p->c.non_udp_dropped },
        { "outside_transit", p->c.outside_transit_dropped },
        { "oversize", p->c.truncated },
        { "send_error", p->c.tx_errors },
        { "family_mismatch", p->c.family_mismatch },
    };

    qasm_json_str(j, "function", qasm_mbox_function_name(cfg->function));
    qasm_json_str(j, "mode", qasm_mbox_mode_name(cfg->mode));
    qasm_json_str(j, "io", "packet");
    qasm_json_str(j, "inside", p->o.inside);
    qasm_json_str(j, "outside", p->o.outside);
    if (cfg->function == QASM_MBOX_NAT)
        qasm_json_str(j, "public", qasm_addr_format_ip(a, sizeof(a), &cfg->nat_public));
    qasm_json_dbl(j, "uptime_s", (double)(qasm_now() - p->started) / 1e9);
    qasm_mbox_json_counters(j, p->m, cfg, drops, sizeof(drops) / sizeof(drops[0]));
    qasm_json_hist(j, "processing_ns", &p->proc);

    qasm_json_obj(j, "packet");
    qasm_json_u64(j, "rx", p->c.rx);
    qasm_json_u64(j, "rx_other", p->c.rx_other);
    qasm_json_u64(j, "rx_errors", p->c.rx_errors);
    qasm_json_u64(j, "local", p->c.local);
    qasm_json_u64(j, "to_core", p->c.to_core);
    qasm_json_u64(j, "tx", p->c.tx);
    qasm_json_u64(j, "non_udp_forwarded", p->c.non_udp_forwarded);
    qasm_json_u64(j, "lb_passthrough", p->c.lb_passthrough);
    qasm_json_u64(j, "ports_open", p->c.ports_open);
    qasm_json_u64(j, "port_bind_fail", p->c.port_bind_fail);
    qasm_json_u64(j, "bufs_allocated", p->c.bufs_allocated);
    qasm_json_close(j);

    qasm_mbox_json_tracker(j, p->tl);
    qasm_mbox_json_entries(j, p->m, cfg->function, qasm_now(), p->o.stats_entries);
}

static void write_stats(struct pio *p)
{
    if (!p->o.stats_path)
        return;
    int rv = qasm_json_write_file(p->o.stats_path, fill_stats, p);
    if (rv < 0)
        qasm_warn("cannot write %s: %s", p->o.stats_path, strerror(-rv));
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pio *p = w->data;
    refresh_local(p);
    write_stats(p);
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct pio *p = w->data;
    if (w->signum == SIGUSR1) {
        write_stats(p);
        return;
    }
    qasm_info("signal %d: exiting", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

/* ---- setup ---- */

static int open_if(struct pio *p, struct pio_if *pif, const char *name, enum side side)
{
    pif->p = p;
    pif->side = side;
    pif->name = name;
    pif->fd = -1;
    pif->ifindex = (int)if_nametoindex(name);
    if (pif->ifindex == 0) {
        fprintf(stderr, "qasm-mbox: no interface '%s' in this network namespace\n", name);
        return -1;
    }
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fprintf(stderr, "qasm-mbox: AF_PACKET socket: %s (--io packet needs root or "
                        "CAP_NET_RAW)\n", strerror(errno));
        return -1;
    }
    int one = 1, size = 1 << 22;
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == -1)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof(ll));
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = pif->ifindex;
    if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) == -1) {
        fprintf(stderr, "qasm-mbox: bind AF_PACKET to %s: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    pif->fd = fd;
    ev_io_init(&pif->io, pio_if_cb, fd, EV_READ);
    pif->io.data = pif;
    ev_io_start(p->loop, &pif->io);
    return 0;
}

static int open_raw(int family)
{
    int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd == -1)
        return -1;
    int size = 1 << 22;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) == -1)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    return fd;
}

static void warn_forwarding(void)
{
    static const char *const paths[] = {"/proc/sys/net/ipv4/ip_forward",
                                        "/proc/sys/net/ipv6/conf/all/forwarding"};
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        int v = 0;
        if (!f)
            continue;
        if (fscanf(f, "%d", &v) == 1 && v != 0)
            qasm_warn("%s is %d: the kernel forwards packets too (turn it off in this "
                      "namespace)", paths[i], v);
        fclose(f);
    }
}

/* The NAT's public address from --outside, the core; 0, or the exit status (said). */
static int pio_core(struct pio *p, const struct qasm_pio_options *o)
{
    if (p->o.cfg.function == QASM_MBOX_LB && !p->o.have_vip) {
        fprintf(stderr, "qasm-mbox: the lb needs its VIP (--listen IP:PORT)\n");
        return 2;
    }
    if (p->o.cfg.function == QASM_MBOX_NAT && !p->o.have_public) {
        if (if_nametoindex(o->outside) == 0) {
            fprintf(stderr, "qasm-mbox: no interface '%s' in this network namespace\n",
                    o->outside);
            return 1;
        }
        if (if_public_addr(o->outside, &p->o.cfg.nat_public) < 0) {
            fprintf(stderr, "qasm-mbox: interface %s has no address for the NAT (give "
                            "--public IP)\n", o->outside);
            return 1;
        }
    }
    int rv = qasm_mbox_new(&p->m, &p->o.cfg);
    if (rv < 0) {
        fprintf(stderr, "qasm-mbox: invalid configuration: %s\n", strerror(-rv));
        return 2;
    }
    return 0;
}

/* Sockets, interfaces, the packet sorter and the tracker link; 0, or the exit status (said). */
static int pio_open(struct pio *p, const struct qasm_pio_options *o)
{
    if (p->o.cfg.function == QASM_MBOX_NAT) {
        p->nports = (size_t)p->o.cfg.nat_port_max - p->o.cfg.nat_port_min + 1;
        p->port_fds = malloc(p->nports * sizeof(int));
        if (!p->port_fds)
            return 1;
        for (size_t i = 0; i < p->nports; i++)
            p->port_fds[i] = -1;
    }
    p->loop = EV_DEFAULT;
    p->started = qasm_now();
    p->timer_at = QASM_TSTAMP_MAX;
    ev_timer_init(&p->timer, timer_cb, 0., 0.);
    p->timer.data = p;
    p->raw4 = open_raw(AF_INET);
    p->raw6 = open_raw(AF_INET6);
    if (p->raw4 == -1 || p->raw6 == -1) {
        fprintf(stderr, "qasm-mbox: raw IP socket: %s (--io packet needs root or "
                        "CAP_NET_RAW)\n", strerror(errno));
        return 1;
    }
    if (open_if(p, &p->ifs[0], o->inside, SIDE_INSIDE) < 0 ||
        open_if(p, &p->ifs[1], o->outside, SIDE_OUTSIDE) < 0)
        return 1;
    if (p->ifs[0].ifindex == p->ifs[1].ifindex) {
        fprintf(stderr, "qasm-mbox: --inside and --outside must be different interfaces\n");
        return 2;
    }
    p->sort.function = p->o.cfg.function;
    p->sort.local = p->local;
    p->sort.nat_public = p->o.cfg.nat_public;
    p->sort.port_min = p->o.cfg.nat_port_min;
    p->sort.port_max = p->o.cfg.nat_port_max;
    p->sort.vip = p->o.vip;
    p->sort.backends = p->o.cfg.lb_backends;
    p->sort.nbackends = p->o.cfg.lb_nbackends;
    refresh_local(p);
    warn_forwarding();
    /* lb: a VIP on one of the hop's addresses: keep the kernel from answering it with ICMP. */
    p->vip_fd = -1;
    if (p->o.cfg.function == QASM_MBOX_LB && qasm_psort_is_local(&p->sort, &p->o.vip))
        p->vip_fd = absorb_socket(&p->o.vip);
    if (o->cfg.mode != QASM_MBOX_DEFAULT) {
        int rv = qasm_tlink_new(&p->tl, p->loop, &o->tracker, o->tracker_key, p->m, drain_cb, p);
        if (rv < 0) {
            fprintf(stderr, "qasm-mbox: tracker session: %s\n", strerror(-rv));
            return 1;
        }
        qasm_tlink_set_keepalive(p->tl, o->tracker_keepalive);
    }
    return 0;
}

/* The stats tick and the signals, then the start line. */
static void pio_start(struct pio *p, const struct qasm_pio_options *o)
{
    ev_timer_init(&p->tick, tick_cb, 1., 1.);
    p->tick.data = p;
    ev_timer_start(p->loop, &p->tick);
    ev_signal_init(&p->sig_term, sig_cb, SIGTERM);
    ev_signal_init(&p->sig_int, sig_cb, SIGINT);
    ev_signal_init(&p->sig_usr1, sig_cb, SIGUSR1);
    p->sig_term.data = p->sig_int.data = p->sig_usr1.data = p;
    ev_signal_start(p->loop, &p->sig_term);
    ev_signal_start(p->loop, &p->sig_int);
    ev_signal_start(p->loop, &p->sig_usr1);
    char a[QASM_ADDR_STRLEN];
    qasm_info("%s %s: packet io, inside %s, outside %s%s%s",
              qasm_mbox_function_name(o->cfg.function), qasm_mbox_mode_name(o->cfg.mode),
              o->inside, o->outside,
              o->cfg.function == QASM_MBOX_NAT ? ", public " : "",
              o->cfg.function == QASM_MBOX_NAT
                      ? qasm_addr_format_ip(a, sizeof(a), &p->o.cfg.nat_public) : "");
}

/* Closes and frees whatever pio_core and pio_open made. */
static void pio_free(struct pio *p)
{
    qasm_tlink_del(p->tl);
    for (int i = 0; i < 2; i++)
        if (p->ifs[i].fd != -1) {
            ev_io_stop(p->loop, &p->ifs[i].io);
            close(p->ifs[i].fd);
        }
    if (p->loop)
        ev_timer_stop(p->loop, &p->timer);
    for (size_t i = 0; p->port_fds && i < p->nports; i++)
        if (p->port_fds[i] != -1)
            close(p->port_fds[i]);
    free(p->port_fds);
    if (p->vip_fd > 0)
        close(p->vip_fd);
    if (p->raw4 != -1)
        close(p->raw4);
    if (p->raw6 != -1)
        close(p->raw6);
    for (int i = 0; i < BATCH; i++)
        free(p->slot[i]);
    while (p->free_bufs) {
        struct pbuf *b = p->free_bufs;
        p->free_bufs = b->next;
        free(b);
    }
    qasm_mbox_del(p->m);
    free(p);
}

int qasm_pio_main(const struct qasm_pio_options *o)
{
    struct pio *p = calloc(1, sizeof(*p));
    if (!p)
        return 1;
    p->o = *o;
    p->raw4 = p->raw6 = -1;
    p->ifs[0].fd = p->ifs[1].fd = -1;
    if (p->o.max_packet == 0)
        p->o.max_packet = 4096;
    int status = pio_core(p, o);
    if (status != 0) {
        free(p);
        return status;
    }
    status = pio_open(p, o);
    if (status == 0) {
        pio_start(p, o);
        write_stats(p);
        pio_drain(p);
        ev_run(p->loop, 0);
        if (o->cfg.mode != QASM_MBOX_DEFAULT) {
            qasm_mbox_tracker_state(p->m, 0, qasm_now());
            qasm_tlink_del(p->tl);
            p->tl = NULL;
            pio_drain(p);
        }
        qasm_mbox_flush(p->m);
        pio_drain(p);
        write_stats(p);
    }
    pio_free(p);
    return status;
}
