/*
 * packet_io.c: the packet-level backend of qasm-mbox (see packet_io.h).
 *
 * Receive path: a readable AF_PACKET socket gives one recvmmsg batch into
 * the driver's receive ring; each IP packet is sorted (local / UDP through
 * the core / other transit); the UDP ones go to the core through the
 * driver, and a FORWARD verdict is rewritten in place and queued on the
 * raw socket of its family.
 */
#include "middleboxes/io/packet_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipudp.h"
#include "log.h"
#include "packet_sort.h"

#define MAX_LOCAL 64

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

enum side { SIDE_INSIDE = 0, SIDE_OUTSIDE = 1 };

struct pio_counters {
    uint64_t rx;            /* IP packets received (PACKET_HOST) */
    uint64_t rx_other;      /* frames ignored: not IP, not for this host's link address */
    uint64_t local;         /* packets to this host's own addresses, left to the kernel */
    uint64_t to_core;       /* UDP packets given to the core */
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
};

struct pio;

struct pio_if {
    struct qasm_driver_watch w; /* first: the driver hands it back */
    struct pio *p;
    enum side side;
    int ifindex;
    int fd;
};

struct pio {
    struct qasm_driver *d;
    struct qasm_pio_config o;
    struct qasm_mbox_config core; /* the core's configuration (the NAT's public address set) */
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
    /* recvmmsg headers of the ring. */
    struct mmsghdr rmsg[QASM_DRIVER_BATCH];
    struct iovec riov[QASM_DRIVER_BATCH];
    struct sockaddr_ll rfrom[QASM_DRIVER_BATCH];
    struct pio_counters c;
};

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

static int *port_slot(struct pio *p, const struct qasm_addr *a)
{
    if (!p->port_fds || a->port < p->core.nat_port_min ||
        (size_t)(a->port - p->core.nat_port_min) >= p->nports)
        return NULL;
    return &p->port_fds[a->port - p->core.nat_port_min];
}

static void port_open(void *b, const struct qasm_addr *a)
{
    struct pio *p = b;
    int *slot = port_slot(p, a);
    if (!slot || *slot != -1)
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

static void port_close(void *b, const struct qasm_addr *a)
{
    struct pio *p = b;
    int *slot = port_slot(p, a);
    if (!slot || *slot == -1)
        return;
    close(*slot);
    *slot = -1;
    p->c.ports_open--;
}

/* ---- sending ---- */

/* Queues the IP packet |pkt| (|len| bytes) to its destination IP |dst_ip| on the raw socket. */
static void queue_send(struct pio *p, const uint8_t *pkt, size_t len, int family,
                       const uint8_t *dst_ip, struct qasm_driver_buf *release)
{
    struct qasm_addr to;
    memset(&to, 0, sizeof(to));
    to.family = (uint8_t)family;
    memcpy(to.ip, dst_ip, family == AF_INET ? 4 : 16);
    qasm_driver_send(p->d, family == AF_INET ? p->raw4 : p->raw6, &to, pkt, len, release);
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

/* A FORWARD verdict on the UDP packet in buffer v->opaque: rewrite in place, queue. */
static int deliver(void *b, const struct qasm_mbox_verdict *v, struct qasm_driver_buf *release,
                   qasm_tstamp now)
{
    (void)now;
    struct pio *p = b;
    struct qasm_driver_buf *buf = v->opaque;
    struct qasm_pio_meta *pm = qasm_driver_buf_meta(buf);
    int family = pm->pu.flow.src.family;
    if (v->flow.src.family != family || v->flow.dst.family != family ||
        qasm_ipudp_rewrite(buf->data, &pm->pu, &v->flow.src, &v->flow.dst) < 0) {
        p->c.family_mismatch++;
        return -EAFNOSUPPORT;
    }
    queue_send(p, buf->data, pm->pu.pkt_len, family, v->flow.dst.ip, release);
    return 0;
}

/* ---- receiving ---- */

/* Routes a packet unchanged but for its TTL / hop limit (checked by the sorter). */
static void route(struct pio *p, uint8_t *pkt, int family, size_t total, uint64_t *counter)
{
    dec_ttl(pkt, family);
    if (family == AF_INET)
        qasm_ipudp_ip4_csum_fix(pkt, (size_t)(pkt[0] & 0x0f) * 4);
    (*counter)++;
    queue_send(p, pkt, total, family, family == AF_INET ? pkt + 16 : pkt + 24, NULL);
}

/* Sorts the packet in |buf| (|len| bytes, of |family|); 1 when it goes to the core as |pk|. */
static int sort_one(struct pio *p, const struct pio_if *pif, struct qasm_driver_buf *buf,
                    size_t len, int family, struct qasm_mbox_pkt *pk)
{
    struct qasm_psort ps;
    switch (qasm_psort_packet(&p->sort, pif->side == SIDE_INSIDE, family, buf->data, len, &ps)) {
    case QASM_PSORT_LOCAL: p->c.local++; return 0;
    case QASM_PSORT_DROP_NON_UDP: p->c.non_udp_dropped++; return 0;
    case QASM_PSORT_DROP_OUTSIDE: p->c.outside_transit_dropped++; return 0;
    case QASM_PSORT_DROP_MALFORMED: p->c.malformed++; return 0;
    case QASM_PSORT_DROP_TTL: p->c.ttl_expired++; return 0;
    case QASM_PSORT_ROUTE:
        route(p, buf->data, family, ps.total, ps.pu.flow.proto == QASM_IPPROTO_UDP
                                                  ? &p->c.lb_passthrough : &p->c.non_udp_forwarded);
        return 0;
    case QASM_PSORT_CORE:
        break;
    }
    struct qasm_pio_meta *pm = qasm_driver_buf_meta(buf);
    pm->pu = ps.pu;
    pm->len = ps.total;
    pm->dir = ps.dir;
    dec_ttl(buf->data, family);
    memset(pk, 0, sizeof(*pk));
    pk->flow = ps.flow;
    pk->dir = ps.dir;
    pk->data = pm->pu.payload;
    pk->len = pm->pu.payload_len;
    pk->opaque = buf;
    p->c.to_core++;
    return 1;
}

static void recv_batch(void *b, struct qasm_driver_watch *w, struct qasm_driver_rx *rx)
{
    struct pio *p = b;
    struct pio_if *pif = (struct pio_if *)w;
    for (size_t i = 0; i < rx->nbuf; i++) {
        p->riov[i].iov_base = rx->buf[i]->data;
        p->riov[i].iov_len = rx->max_packet;
        struct msghdr *h = &p->rmsg[i].msg_hdr;
        memset(h, 0, sizeof(*h));
        h->msg_name = &p->rfrom[i];
        h->msg_namelen = sizeof(p->rfrom[i]);
        h->msg_iov = &p->riov[i];
        h->msg_iovlen = 1;
    }
    int n = recvmmsg(pif->fd, p->rmsg, (unsigned)rx->nbuf, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            p->c.rx_errors++;
            qasm_debug("recvmmsg: %s", strerror(errno));
        }
        return;
    }
    rx->nread = (size_t)n;
    for (int i = 0; i < n; i++) {
        struct sockaddr_ll *ll = &p->rfrom[i];
        uint16_t proto = ntohs(ll->sll_protocol);
        if (ll->sll_pkttype != PACKET_HOST || (proto != ETH_P_IP && proto != ETH_P_IPV6)) {
            p->c.rx_other++;
            continue;
        }
        p->c.rx++;
        size_t len = p->rmsg[i].msg_len;
        if ((p->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) || len > rx->max_packet) {
            p->c.truncated++;
            continue;
        }
        int family = proto == ETH_P_IP ? AF_INET : AF_INET6;
        if (sort_one(p, pif, rx->buf[i], len, family, &rx->pkt[rx->npkt]))
            rx->npkt++;
    }
}

/* ---- stats ---- */

static void pio_stats_head(void *b, struct qasm_json *j)
{
    struct pio *p = b;
    char a[QASM_ADDR_STRLEN];
    qasm_json_str(j, "io", p->o.io_name ? p->o.io_name : "packet");
    qasm_json_str(j, "inside", p->o.inside);
    qasm_json_str(j, "outside", p->o.outside);
    if (p->core.function == QASM_MBOX_NAT)
        qasm_json_str(j, "public", qasm_addr_format_ip(a, sizeof(a), &p->core.nat_public));
}

static size_t pio_stats_drops(void *b, struct qasm_mbox_json_drop *out, size_t max)
{
    struct pio *p = b;
    const struct qasm_mbox_json_drop drops[] = {
        { "ttl_expired", p->c.ttl_expired },
        { "bad_ip", p->c.malformed },
        { "non_udp", p->c.non_udp_dropped },
        { "outside_transit", p->c.outside_transit_dropped },
        { "oversize", p->c.truncated },
        { "send_error", qasm_driver_counters(p->d)->tx_errors },
        { "family_mismatch", p->c.family_mismatch },
    };
    size_t n = sizeof(drops) / sizeof(drops[0]);
    n = n < max ? n : max;
    memcpy(out, drops, n * sizeof(drops[0]));
    return n;
}

static void pio_stats(void *b, struct qasm_json *j)
{
    struct pio *p = b;
    const struct qasm_driver_counters *dc = qasm_driver_counters(p->d);
    static const char *const names[] = {
        "packets_received", "packets_ignored", "receive_errors", "local", "to_core",
        "packets_sent", "non_udp_forwarded",
        "lb_passthrough", "ports_open", "port_bind_fail", "bufs_allocated"};
    const uint64_t v[] = {
        p->c.rx, p->c.rx_other, p->c.rx_errors, p->c.local, p->c.to_core, dc->tx,
        p->c.non_udp_forwarded, p->c.lb_passthrough, p->c.ports_open, p->c.port_bind_fail,
        dc->bufs_allocated};
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(v) / sizeof(v[0]), "one each");
    qasm_mbox_json_u64s(j, "packet", names, v, sizeof(v) / sizeof(v[0]));
}

static void pio_tick(void *b, qasm_tstamp now)
{
    (void)now;
    refresh_local(b);
}

/* ---- setup ---- */

static int open_if(struct pio *p, struct pio_if *pif, const char *name, enum side side)
{
    pif->p = p;
    pif->side = side;
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
    qasm_driver_watch_start(p->d, &pif->w, fd);
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

/* The lb's VIP; the NAT's public address from --outside. 0, or the exit status (said). */
static int pio_prepare(const void *bcfg, struct qasm_mbox_config *core)
{
    const struct qasm_pio_config *o = bcfg;
    if (core->function == QASM_MBOX_LB && !o->have_vip) {
        fprintf(stderr, "qasm-mbox: the lb needs its VIP (--listen IP:PORT)\n");
        return 2;
    }
    if (core->function == QASM_MBOX_NAT && !o->have_public) {
        if (if_nametoindex(o->outside) == 0) {
            fprintf(stderr, "qasm-mbox: no interface '%s' in this network namespace\n",
                    o->outside);
            return 1;
        }
        if (if_public_addr(o->outside, &core->nat_public) < 0) {
            fprintf(stderr, "qasm-mbox: interface %s has no address for the NAT (give "
                            "--public IP)\n", o->outside);
            return 1;
        }
    }
    return 0;
}

/* What the packet sorter knows of the hop. */
static void sort_init(struct pio *p)
{
    p->sort.function = p->core.function;
    p->sort.local = p->local;
    p->sort.nat_public = p->core.nat_public;
    p->sort.port_min = p->core.nat_port_min;
    p->sort.port_max = p->core.nat_port_max;
    p->sort.vip = p->o.vip;
    p->sort.backends = p->core.lb_backends;
    p->sort.nbackends = p->core.lb_nbackends;
}

/* Sockets, interfaces and the packet sorter, then the start line. 0, or the exit status. */
static int pio_open(struct qasm_driver *d, const void *bcfg, void **pb)
{
    struct pio *p = calloc(1, sizeof(*p));
    if (!p)
        return 1;
    *pb = p;
    p->d = d;
    p->o = *(const struct qasm_pio_config *)bcfg;
    p->core = *qasm_driver_core_config(d);
    p->raw4 = p->raw6 = p->vip_fd = -1;
    p->ifs[0].fd = p->ifs[1].fd = -1;
    if (p->core.function == QASM_MBOX_NAT) {
        p->nports = (size_t)p->core.nat_port_max - p->core.nat_port_min + 1;
        p->port_fds = malloc(p->nports * sizeof(int));
        if (!p->port_fds)
            return 1;
        for (size_t i = 0; i < p->nports; i++)
            p->port_fds[i] = -1;
    }
    p->raw4 = open_raw(AF_INET);
    p->raw6 = open_raw(AF_INET6);
    if (p->raw4 == -1 || p->raw6 == -1) {
        fprintf(stderr, "qasm-mbox: raw IP socket: %s (--io packet needs root or "
                        "CAP_NET_RAW)\n", strerror(errno));
        return 1;
    }
    if (open_if(p, &p->ifs[0], p->o.inside, SIDE_INSIDE) < 0 ||
        open_if(p, &p->ifs[1], p->o.outside, SIDE_OUTSIDE) < 0)
        return 1;
    if (p->ifs[0].ifindex == p->ifs[1].ifindex) {
        fprintf(stderr, "qasm-mbox: --inside and --outside must be different interfaces\n");
        return 2;
    }
    sort_init(p);
    refresh_local(p);
    warn_forwarding();
    /* lb: a VIP on one of the hop's addresses: keep the kernel from answering it with ICMP. */
    if (p->core.function == QASM_MBOX_LB && qasm_psort_is_local(&p->sort, &p->o.vip))
        p->vip_fd = absorb_socket(&p->o.vip);
    char a[QASM_ADDR_STRLEN];
    qasm_info("%s %s: %s io, inside %s, outside %s%s%s",
              qasm_mbox_function_name(p->core.function), qasm_mbox_mode_name(p->core.mode),
              p->o.io_name ? p->o.io_name : "packet", p->o.inside, p->o.outside, p->core.function == QASM_MBOX_NAT ? ", public " : "",
              p->core.function == QASM_MBOX_NAT
                      ? qasm_addr_format_ip(a, sizeof(a), &p->core.nat_public) : "");
    return 0;
}

/* Closes and frees whatever pio_open made. */
static void pio_close(void *b)
{
    struct pio *p = b;
    for (int i = 0; i < 2; i++)
        if (p->ifs[i].fd != -1) {
            qasm_driver_watch_stop(p->d, &p->ifs[i].w);
            close(p->ifs[i].fd);
        }
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
    free(p);
}

const struct qasm_driver_backend_ops qasm_pio_ops = {
    .name = "packet",
    .buf_meta = sizeof(struct qasm_pio_meta),
    .prepare = pio_prepare,
    .open = pio_open,
    .close = pio_close,
    .recv = recv_batch,
    .deliver = deliver,
    .port_open = port_open,
    .port_close = port_close,
    .tick = pio_tick,
    .stats_head = pio_stats_head,
    .stats_drops = pio_stats_drops,
    .stats = pio_stats,
};
