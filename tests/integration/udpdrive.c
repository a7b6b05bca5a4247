/*
 * udpdrive.c: qasm-udpdrive, a small deterministic QUIC-shaped UDP driver
 * for the middlebox integration tests (no TLS, no real QUIC: only the wire
 * image a middlebox looks at).
 *
 *   qasm-udpdrive server --listen HOST:PORT [--stats-json FILE] [--echo all|none]
 *   qasm-udpdrive client --to HOST:PORT --conn N [--tracker HOST:PORT] ...
 *
 * The server answers a client Initial (>= 1200 bytes) with a Handshake
 * packet whose SCID is its first CID for that connection; it knows the
 * CIDs it "issued" (derived from the O-DCID: the client derives the same
 * ones, standing in for NEW_CONNECTION_ID) and answers a short-header
 * packet only when its DCID is one of them, like a QUIC server that drops
 * packets of unknown connections. A connection migrated to a server that
 * never saw its Initial therefore gets no answer: the request fails.
 *
 * The client opens one connection (Initial from its first port), then
 * sends --packets short-header packets, migrating every --migrate-every
 * packets to a new local port (--port-base + phase, or ephemeral) and to
 * the next DCID; with --tracker it reports like the client agent would
 * (REPORT_OPEN, DCID_NEW, ADDR, DCID_RETIRE over UDP with lib/proto)
 * just before using a new DCID / address. It prints one JSON line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cli.h"
#include "bytes.h"
#include "cid.h"
#include "clock.h"
#include "hash.h"
#include "parse.h"
#include "proto.h"
#include "quic.h"

#define CID_LEN 8
#define MAX_CONNS 4096
#define MAX_ISSUED 64
#define MAX_PHASES 1024
#define MAGIC 0x51445256u /* "QDRV" */

/* A usage error: one line naming the flag, then exit 2. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    qasm_cli_usage_exit("qasm-udpdrive", msg);
}

/* A runtime failure: exit 1. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("qasm-udpdrive: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- deterministic CIDs ---- */

static void derive_cid(struct qasm_cid *out, const struct qasm_cid *base, uint64_t salt)
{
    uint8_t tmp[QASM_CID_MAXLEN + 8];
    memcpy(tmp, base->data, base->len);
    qasm_put64(tmp + base->len, salt);
    uint64_t h = qasm_hash(tmp, base->len + 8u, 0x5155494344525631ull);
    out->len = CID_LEN;
    qasm_put64(out->data, h);
}

static void odcid_of(struct qasm_cid *out, uint64_t conn)
{
    struct qasm_cid base = {.len = 8};
    qasm_put64(base.data, conn);
    derive_cid(out, &base, 0xffffffff00000000ull);
}

/* Server CID number |seq| of the connection |odcid|. */
static void server_cid(struct qasm_cid *out, const struct qasm_cid *odcid, uint64_t seq)
{
    derive_cid(out, odcid, seq);
}

static void client_scid(struct qasm_cid *out, const struct qasm_cid *odcid)
{
    derive_cid(out, odcid, 0xfffffffe00000000ull);
}

/* ---- packets ---- */

/* A v1 long header packet (Initial: type 0, Handshake: type 2), padded to |size|. */
static size_t build_long(uint8_t *buf, size_t size, int type, const struct qasm_cid *dcid,
                         const struct qasm_cid *scid, uint32_t pn)
{
    uint8_t *p = buf;
    *p++ = (uint8_t)(0xc0 | (type << 4) | 0x03);
    p = qasm_put32(p, QASM_QUIC_V1);
    *p++ = dcid->len;
    memcpy(p, dcid->data, dcid->len);
    p += dcid->len;
    *p++ = scid->len;
    memcpy(p, scid->data, scid->len);
    p += scid->len;
    if (type == 0)
        *p++ = 0; /* token length */
    size_t hdr = (size_t)(p - buf) + 2;
    size_t rest = size - hdr; /* pn + payload */
    p = qasm_put16(p, (uint16_t)(0x4000 | rest));
    p = qasm_put32(p, pn);
    memset(p, 0, rest - 4);
    return size;
}

/* A short header packet: DCID, pn, then the tag (conn, phase, seq) and padding. */
static size_t build_short(uint8_t *buf, size_t size, const struct qasm_cid *dcid, uint32_t pn,
                          uint32_t conn, uint32_t phase, uint32_t seq)
{
    uint8_t *p = buf;
    *p++ = 0x43;
    memcpy(p, dcid->data, dcid->len);
    p += dcid->len;
    p = qasm_put32(p, pn);
    p = qasm_put32(p, MAGIC);
    p = qasm_put32(p, conn);
    p = qasm_put32(p, phase);
    p = qasm_put32(p, seq);
    size_t used = (size_t)(p - buf);
    if (size > used)
        memset(p, 0xab, size - used);
    return size > used ? size : used;
}

static int udp_bound(const struct qasm_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, a);
    int fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        fail("socket: %s", strerror(errno));
    int size = 1 << 22;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == -1)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (bind(fd, (struct sockaddr *)&ss, sl) == -1) {
        char b[QASM_ADDR_STRLEN];
        fail("bind %s: %s", qasm_addr_format(b, sizeof(b), a), strerror(errno));
    }
    return fd;
}

static void local_addr(int fd, struct qasm_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    qasm_addr_from_sockaddr(a, (struct sockaddr *)&ss, sl);
}

static void send_to(int fd, const struct qasm_addr *to, const uint8_t *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, to);
    if (sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl) == -1 && errno != ECONNREFUSED)
        fprintf(stderr, "qasm-udpdrive: sendto: %s\n", strerror(errno));
}

static qasm_duration dur_arg(const char *opt, const char *s)
{
    qasm_duration d;
    if (qasm_duration_parse(&d, s) < 0)
        die("--%s: bad duration '%s'", opt, s);
    return d;
}

static void addr_arg(struct qasm_addr *a, const char *opt, const char *s)
{
    char err[320];
    if (qasm_cli_resolve(a, s, err, sizeof(err)) < 0)
        die("--%s: %s", opt, err);
}

static long num_arg(const char *opt, const char *s, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > max)
        die("--%s: expected %ld..%ld, got '%s'", opt, min, max, s);
    return v;
}

/* ---- server ---- */

struct sconn {
    struct qasm_cid odcid;
    struct qasm_cid cscid;
    struct qasm_cid issued[MAX_ISSUED];
    uint64_t packets;
    struct qasm_addr addrs[16];
    size_t naddrs;
    size_t naddrs_total;
};

static struct sconn *sconns;
static size_t nsconns;
static qasm_tstamp srv_first, srv_last;
static uint64_t srv_rx, srv_rx_initial, srv_rx_known, srv_rx_unknown, srv_rx_other, srv_tx;
static volatile sig_atomic_t srv_stop, srv_dump;

static void srv_signal(int sig)
{
    if (sig == SIGUSR1)
        srv_dump = 1;
    else
        srv_stop = 1;
}

static struct sconn *sconn_by_odcid(const struct qasm_cid *odcid)
{
    for (size_t i = 0; i < nsconns; i++)
        if (qasm_cid_eq(&sconns[i].odcid, odcid))
            return &sconns[i];
    return NULL;
}

static struct sconn *sconn_by_cid(const uint8_t *dcid)
{
    for (size_t i = 0; i < nsconns; i++)
        for (size_t k = 0; k < MAX_ISSUED; k++)
            if (memcmp(sconns[i].issued[k].data, dcid, CID_LEN) == 0)
                return &sconns[i];
    return NULL;
}

static void sconn_saw(struct sconn *c, const struct qasm_addr *from)
{
    c->packets++;
    for (size_t i = 0; i < c->naddrs; i++)
        if (qasm_addr_eq(&c->addrs[i], from))
            return;
    c->naddrs_total++;
    if (c->naddrs < 16)
        c->addrs[c->naddrs++] = *from;
}

static void srv_write_stats(const char *path, const char *name)
{
    if (!path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = qasm_cli_fopen(qasm_cli_is_stdout(path) ? path : tmp, "w");
    if (!f)
        return;
    fprintf(f, "{\"name\": \"%s\", \"conns\": %zu, \"packets_received\": %" PRIu64
               ", \"packets_received_initial\": %" PRIu64 ", \"packets_received_known\": %" PRIu64
               ", \"packets_received_unknown\": %" PRIu64 ", \"packets_received_other\": %" PRIu64
               ", \"packets_sent\": %" PRIu64 ", \"receive_span_s\": ",
            name, nsconns, srv_rx, srv_rx_initial, srv_rx_known, srv_rx_unknown, srv_rx_other,
            srv_tx);
    if (srv_rx) /* no datagram yet: no span (null), not 0 s */
        fprintf(f, "%.6f", (double)(srv_last - srv_first) / 1e9);
    else
        fputs("null", f);
    fputs(", \"connections\": [", f);
    for (size_t i = 0; i < nsconns; i++) {
        char hex[QASM_CID_HEXLEN];
        fprintf(f, "%s{\"odcid\": \"%s\", \"packets\": %" PRIu64 ", \"clients_count\": %zu}",
                i ? ", " : "", qasm_cid_hex(hex, &sconns[i].odcid), sconns[i].packets,
                sconns[i].naddrs_total);
    }
    fputs("]}\n", f);
    qasm_cli_fclose(f);
    if (!qasm_cli_is_stdout(path))
        rename(tmp, path);
}

/* One datagram received by the server from |from|. */
static void srv_datagram(int fd, int echo, const uint8_t *buf, ssize_t n,
                         const struct qasm_addr *from)
{
    uint8_t out[2048];
    struct qasm_quic_hdr hd;
    if ((buf[0] & 0x80) && qasm_quic_parse(&hd, buf, (size_t)n, 0, 0) > 0 &&
        hd.type == QASM_QUIC_INITIAL) {
        srv_rx_initial++;
        struct sconn *sc = sconn_by_odcid(&hd.dcid);
        if (!sc) {
            if (nsconns == MAX_CONNS)
                return;
            sc = &sconns[nsconns++];
            sc->odcid = hd.dcid;
            sc->cscid = hd.scid;
            for (uint64_t k = 0; k < MAX_ISSUED; k++)
                server_cid(&sc->issued[k], &sc->odcid, k);
        }
        sconn_saw(sc, from);
        size_t len = build_long(out, 1200, 2, &sc->cscid, &sc->issued[0], 0);
        send_to(fd, from, out, len);
        srv_tx++;
        return;
    }
    if ((buf[0] & 0xc0) == 0x40 && n >= 1 + CID_LEN + 20) {
        struct sconn *sc = sconn_by_cid(buf + 1);
        if (!sc) {
            srv_rx_unknown++;
            return;
        }
        srv_rx_known++;
        sconn_saw(sc, from);
        if (echo && (size_t)n <= sizeof(out)) {
            /* Same payload (the tag), addressed to the client's CID. */
            out[0] = 0x43;
            memcpy(out + 1, sc->cscid.data, sc->cscid.len);
            size_t hl = 1 + (size_t)sc->cscid.len;
            size_t pl = (size_t)n - 1 - CID_LEN;
            if (hl + pl <= sizeof(out)) {
                memcpy(out + hl, buf + 1 + CID_LEN, pl);
                send_to(fd, from, out, hl + pl);
                srv_tx++;
            }
        }
        return;
    }
    srv_rx_other++;
}

static int run_server(int argc, char **argv)
{
    static const struct option opts[] = {
        QASM_PARSE_OPT_ARG("listen", 'l'),
        QASM_PARSE_OPT_ARG("stats-json", 's'),
        QASM_PARSE_OPT_ARG("stats", 's'), /* the old spelling, kept for scripts */
        QASM_PARSE_OPT_ARG("echo", 'e'),
        QASM_PARSE_OPT_ARG("name", 'n'),
        QASM_PARSE_OPT_END,
    };
    struct qasm_addr listen_a = {0};
    const char *stats = NULL, *name = "server";
    int echo = 1, c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': addr_arg(&listen_a, "listen", optarg); break;
        case 's': stats = optarg; break;
        case 'n': name = optarg; break;
        case 'e':
            if (strcmp(optarg, "all") == 0)
                echo = 1;
            else if (strcmp(optarg, "none") == 0)
                echo = 0;
            else
                die("--echo: all or none");
            break;
        default: die("server: unrecognized option '%s'", argv[optind - 1]);
        }
    }
    if (!listen_a.family)
        die("server: --listen is required");
    sconns = calloc(MAX_CONNS, sizeof(*sconns));
    if (!sconns)
        fail("out of memory");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = srv_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    int fd = udp_bound(&listen_a);
    srv_write_stats(stats, name);
    static uint8_t bufs[32][2048];
    static struct sockaddr_storage ss[32];
    struct mmsghdr mm[32];
    struct iovec iov[32];
    int dirty = 0;
    qasm_tstamp last_write = 0;
    while (!srv_stop) {
        qasm_tstamp now = qasm_now();
        /* Stats at most every 50 ms (and on SIGUSR1 / exit), not per datagram. */
        if (srv_dump || (dirty && now - last_write >= 50 * QASM_MS)) {
            srv_dump = 0;
            dirty = 0;
            last_write = now;
            srv_write_stats(stats, name);
        }
        for (int i = 0; i < 32; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof(bufs[i]);
            memset(&mm[i], 0, sizeof(mm[i]));
            mm[i].msg_hdr.msg_name = &ss[i];
            mm[i].msg_hdr.msg_namelen = sizeof(ss[i]);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(fd, mm, 32, MSG_DONTWAIT, NULL);
        if (got <= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, dirty ? 50 : 200);
            continue;
        }
        for (int i = 0; i < got; i++) {
            if (mm[i].msg_len == 0 || (mm[i].msg_hdr.msg_flags & MSG_TRUNC))
                continue;
            struct qasm_addr from;
            if (qasm_addr_from_sockaddr(&from, (struct sockaddr *)&ss[i],
                                        mm[i].msg_hdr.msg_namelen) < 0)
                continue;
            srv_last = qasm_now();
            if (srv_rx++ == 0)
                srv_first = srv_last;
            dirty = 1;
            srv_datagram(fd, echo, bufs[i], (ssize_t)mm[i].msg_len, &from);
        }
    }
    srv_write_stats(stats, name);
    close(fd);
    return 0;
}

/* ---- client ---- */

struct client {
    int fds[MAX_PHASES];
    int nfds;
    struct qasm_cid odcid, cscid;
    struct qasm_addr to, server, tracker, client0;
    int have_tracker;
    int tfd;
    uint32_t report_seq;
    uint32_t conn;
    uint64_t rx_by_phase[MAX_PHASES];
    uint64_t rx_total;
};

static void report(struct client *cl, uint8_t type, const struct qasm_addr *now_addr,
                   const struct qasm_cid *dcid, uint64_t cid_seq)
{
    if (!cl->have_tracker)
        return;
    struct qasm_proto_msg m;
    qasm_proto_msg_init(&m, type, 0);
    m.u.report.odcid = cl->odcid;
    m.u.report.client0 = cl->client0;
    m.u.report.client = *now_addr;
    m.u.report.seq = ++cl->report_seq;
    if (type == QASM_PROTO_REPORT_OPEN) {
        m.u.report.scid = cl->cscid;
        m.u.report.server = cl->server;
    }
    if (dcid) {
        m.u.report.dcid.cid = *dcid;
        m.u.report.dcid.seq = cid_seq;
    }
    /* As the agent does: authenticated with the connection's secret (derived from
     * the O-DCID here: a driver needs no randomness). */
    uint8_t secret[QASM_PROTO_SECRET_LEN];
    memset(secret, 0xd5, sizeof(secret));
    memcpy(secret, cl->odcid.data,
           cl->odcid.len < sizeof(secret) ? cl->odcid.len : sizeof(secret));
    if (qasm_proto_report_sign(type, &m.u.report, secret) < 0)
        fail("cannot sign a report (%d)", type);
    uint8_t buf[QASM_PROTO_MAX_MSG];
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    if (n < 0)
        fail("cannot encode a report (%zd)", n);
    /* From the client's own address family socket: the tracker checks the source IP. */
    send_to(cl->tfd, &cl->tracker, buf, (size_t)n);
}

/* Reads every pending reply on every socket for up to |wait| ns; with |phases| > 0,
 * returns as soon as each of the first |phases| phases has had a reply. */
static void client_collect(struct client *cl, qasm_duration wait, long phases)
{
    qasm_tstamp until = qasm_now() + wait;
    struct pollfd pfd[MAX_PHASES];
    for (;;) {
        if (phases > 0) {
            long p = 0;
            while (p < phases && p < MAX_PHASES && cl->rx_by_phase[p] > 0)
                p++;
            if (p == phases)
                return;
        }
        qasm_tstamp now = qasm_now();
        int ms = now >= until ? 0 : (int)((until - now + QASM_MS - 1) / QASM_MS);
        for (int i = 0; i < cl->nfds; i++) {
            pfd[i].fd = cl->fds[i];
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
        }
        int rv = poll(pfd, (nfds_t)cl->nfds, ms);
        if (rv <= 0)
            return;
        for (int i = 0; i < cl->nfds; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            uint8_t buf[65536];
            ssize_t n = recv(cl->fds[i], buf, sizeof(buf), MSG_DONTWAIT);
            size_t off = 1 + CID_LEN + 4;
            if (n < (ssize_t)(off + 16) || (buf[0] & 0xc0) != 0x40)
                continue;
            if (memcmp(buf + 1, cl->cscid.data, CID_LEN) != 0 || qasm_get32(buf + off) != MAGIC)
                continue;
            uint32_t phase = qasm_get32(buf + off + 8);
            if (qasm_get32(buf + off + 4) != cl->conn || phase >= MAX_PHASES)
                continue;
            cl->rx_by_phase[phase]++;
            cl->rx_total++;
        }
    }
}

static int run_client(int argc, char **argv)
{
    static const struct option opts[] = {
        QASM_PARSE_OPT_ARG("to", 't'),
        QASM_PARSE_OPT_ARG("conn", 'c'),
        QASM_PARSE_OPT_ARG("tracker", 'T'),
        QASM_PARSE_OPT_ARG("server-addr", 'S'),
        QASM_PARSE_OPT_ARG("packets", 'p'),
        QASM_PARSE_OPT_ARG("migrate-every", 'm'),
        QASM_PARSE_OPT_ARG("interval", 'i'),
        QASM_PARSE_OPT_ARG("port-base", 'b'),
        QASM_PARSE_OPT_ARG("bind-ip", 'B'),
        QASM_PARSE_OPT_ARG("size", 'z'),
        QASM_PARSE_OPT_ARG("linger", 'L'),
        QASM_PARSE_OPT_FLAG("blast", 'X'),
        QASM_PARSE_OPT_FLAG("blast-migrated", 'Y'),
        QASM_PARSE_OPT_ARG("handshake-timeout", 'H'),
        QASM_PARSE_OPT_END,
    };
    struct client cl;
    memset(&cl, 0, sizeof(cl));
    long packets = 50, every = 5, port_base = 0, size = 100;
    qasm_duration interval = 10 * QASM_MS, linger = 300 * QASM_MS, hs_timeout = 1 * QASM_SEC;
    const char *bind_ip = NULL;
    int blast = 0;
    int have_to = 0, have_server = 0, c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': addr_arg(&cl.to, "to", optarg); have_to = 1; break;
        case 'c': cl.conn = (uint32_t)num_arg("conn", optarg, 0, 0x7fffffff); break;
        case 'T': addr_arg(&cl.tracker, "tracker", optarg); cl.have_tracker = 1; break;
        case 'S': addr_arg(&cl.server, "server-addr", optarg); have_server = 1; break;
        case 'p': packets = num_arg("packets", optarg, 0, 1000000); break;
        case 'm': every = num_arg("migrate-every", optarg, 0, 1000000); break;
        case 'i': interval = dur_arg("interval", optarg); break;
        case 'b': port_base = num_arg("port-base", optarg, 0, 65535); break;
        case 'B': bind_ip = optarg; break;
        case 'z': size = num_arg("size", optarg, 64, 1400); break;
        case 'L': linger = dur_arg("linger", optarg); break;
        case 'X': blast = 1; break;
        case 'Y': blast = 2; break;
        case 'H': hs_timeout = dur_arg("handshake-timeout", optarg); break;
        default: die("client: unrecognized option '%s'", argv[optind - 1]);
        }
    }
    if (!have_to)
        die("client: --to is required");
    if (!have_server)
        cl.server = cl.to;
    long phases = every > 0 ? (packets + every - 1) / every : 1;
    if (phases < 1)
        phases = 1;
    if (phases >= MAX_PHASES || phases > MAX_ISSUED)
        die("client: too many migrations (at most %d)", MAX_ISSUED - 1);
    odcid_of(&cl.odcid, cl.conn);
    client_scid(&cl.cscid, &cl.odcid);

    struct qasm_addr bind_a;
    if (qasm_addr_parse_ip(&bind_a, bind_ip ? bind_ip : (cl.to.family == AF_INET6 ? "::1"
                                                                                  : "127.0.0.1"),
                           0) < 0)
        die("--bind-ip: bad address");
    bind_a.port = (uint16_t)port_base;
    cl.fds[cl.nfds++] = udp_bound(&bind_a);
    local_addr(cl.fds[0], &cl.client0);
    struct qasm_addr cur = cl.client0;
    cl.tfd = cl.fds[0];

    qasm_tstamp start = qasm_now();
    report(&cl, QASM_PROTO_REPORT_OPEN, &cur, NULL, 0);
    uint8_t buf[2048];
    int hs_ok = 0;
    struct qasm_cid scid0;
    for (int attempt = 0; attempt < 3 && !hs_ok; attempt++) {
        size_t len = build_long(buf, 1200, 0, &cl.odcid, &cl.cscid, (uint32_t)attempt);
        send_to(cl.fds[0], &cl.to, buf, len);
        struct pollfd pfd = {.fd = cl.fds[0], .events = POLLIN};
        qasm_tstamp until = qasm_now() + hs_timeout / 3;
        while (!hs_ok) {
            qasm_tstamp now = qasm_now();
            if (now >= until)
                break;
            if (poll(&pfd, 1, (int)((until - now) / QASM_MS) + 1) <= 0)
                break;
            ssize_t n = recv(cl.fds[0], buf, sizeof(buf), MSG_DONTWAIT);
            struct qasm_quic_hdr hd;
            if (n > 0 && qasm_quic_parse(&hd, buf, (size_t)n, 0, 0) > 0 &&
                hd.type == QASM_QUIC_HANDSHAKE && qasm_cid_eq(&hd.dcid, &cl.cscid)) {
                scid0 = hd.scid;
                hs_ok = 1;
            }
        }
    }
    struct qasm_cid expect0;
    server_cid(&expect0, &cl.odcid, 0);
    if (!hs_ok || !qasm_cid_eq(&scid0, &expect0)) {
        printf("{\"conn\": %u, \"handshake\": false, \"packets_sent\": 0, \"packets_received\": 0, "
               "\"phases\": 0, \"phases_ok\": 0, \"phases_failed\": 0, \"first_failed_phase\": -1, "
               "\"elapsed_s\": %.3f}\n",
               cl.conn, (double)(qasm_now() - start) / 1e9);
        return 3;
    }
    report(&cl, QASM_PROTO_REPORT_DCID_NEW, &cur, &scid0, 0);

    if (blast) {
        /* Throughput: --packets datagrams from the first port, batches of 32, no waiting.
         * --blast-migrated: from a second port with the next DCID, reported (like the agent)
         * 100 ms before, so a normaliser in front of the server rewrites every packet. */
        struct qasm_cid dcid0;
        server_cid(&dcid0, &cl.odcid, blast == 2 ? 1 : 0);
        int bfd = cl.fds[0];
        if (blast == 2) {
            struct qasm_addr na = bind_a;
            na.port = port_base ? (uint16_t)(port_base + 1) : 0;
            bfd = cl.fds[cl.nfds++] = udp_bound(&na);
            local_addr(bfd, &cur);
            report(&cl, QASM_PROTO_REPORT_DCID_NEW, &cur, &dcid0, 1);
            report(&cl, QASM_PROTO_REPORT_ADDR, &cur, NULL, 0);
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        static uint8_t bufs[32][1500];
        struct mmsghdr mm[32];
        struct iovec iov[32];
        struct sockaddr_storage ss;
        socklen_t sl = qasm_addr_to_sockaddr(&ss, &cl.to);
        qasm_tstamp t0 = qasm_now();
        long sent = 0;
        while (sent < packets) {
            int n = packets - sent < 32 ? (int)(packets - sent) : 32;
            for (int i = 0; i < n; i++) {
                size_t len = build_short(bufs[i], (size_t)size, &dcid0, (uint32_t)(sent + i + 1),
                                         cl.conn, 0, (uint32_t)(sent + i));
                iov[i].iov_base = bufs[i];
                iov[i].iov_len = len;
                memset(&mm[i], 0, sizeof(mm[i]));
                mm[i].msg_hdr.msg_name = &ss;
                mm[i].msg_hdr.msg_namelen = sl;
                mm[i].msg_hdr.msg_iov = &iov[i];
                mm[i].msg_hdr.msg_iovlen = 1;
            }
            int r = sendmmsg(bfd, mm, (unsigned)n, 0);
            if (r > 0)
                sent += r;
        }
        double secs = (double)(qasm_now() - t0) / 1e9;
        printf("{\"conn\": %u, \"handshake\": true, \"packets_sent\": %ld, \"send_s\": %.6f, "
               "\"send_pps\": %.0f}\n", cl.conn, sent, secs, secs > 0 ? (double)sent / secs : 0.0);
        return 0;
    }

    uint32_t pn = 1;
    long phase = 0;
    qasm_tstamp t_first = qasm_now(), t_last = t_first;
    for (long k = 0; k < packets; k++) {
        long ph = every > 0 ? k / every : 0;
        if (ph != phase) {
            phase = ph;
            struct qasm_addr na = bind_a;
            na.port = port_base ? (uint16_t)(port_base + phase) : 0;
            cl.fds[cl.nfds++] = udp_bound(&na);
            local_addr(cl.fds[cl.nfds - 1], &cur);
            struct qasm_cid nd;
            server_cid(&nd, &cl.odcid, (uint64_t)phase);
            /* Like the agent: the new DCID and address are reported as the packet leaves. */
            report(&cl, QASM_PROTO_REPORT_DCID_NEW, &cur, &nd, (uint64_t)phase);
            report(&cl, QASM_PROTO_REPORT_ADDR, &cur, NULL, 0);
            if (phase >= 2) {
                struct qasm_cid old;
                server_cid(&old, &cl.odcid, (uint64_t)(phase - 2));
                report(&cl, QASM_PROTO_REPORT_DCID_RETIRE, &cur, &old, (uint64_t)(phase - 2));
            }
        }
        struct qasm_cid dcid;
        server_cid(&dcid, &cl.odcid, (uint64_t)phase);
        size_t len = build_short(buf, (size_t)size, &dcid, pn++, cl.conn, (uint32_t)phase,
                                 (uint32_t)k);
        send_to(cl.fds[cl.nfds - 1], &cl.to, buf, len);
        t_last = qasm_now();
        client_collect(&cl, interval, 0);
    }
    client_collect(&cl, linger, packets > 0 ? phases : 0);
    long ok = 0, first_failed = -1;
    for (long p = 0; p < phases && packets > 0; p++) {
        if (cl.rx_by_phase[p] > 0)
            ok++;
        else if (first_failed < 0)
            first_failed = p;
    }
    if (packets == 0)
        phases = 0;
    char hex[QASM_CID_HEXLEN];
    printf("{\"conn\": %u, \"odcid\": \"%s\", \"handshake\": true, \"packets_sent\": %ld, "
           "\"packets_received\": %" PRIu64 ", \"phases\": %ld, \"phases_ok\": %ld, "
           "\"phases_failed\": %ld, \"first_failed_phase\": %ld, \"send_s\": %.3f, "
           "\"elapsed_s\": %.3f}\n",
           cl.conn, qasm_cid_hex(hex, &cl.odcid), packets, cl.rx_total, phases, ok, phases - ok,
           first_failed, (double)(t_last - t_first) / 1e9, (double)(qasm_now() - start) / 1e9);
    for (int i = 0; i < cl.nfds; i++)
        close(cl.fds[i]);
    return 0;
}

static const char usage_text[] =
"usage: qasm-udpdrive server --listen HOST:PORT [--stats-json FILE] [--echo all|none] [--name N]\n"
"       qasm-udpdrive client --to HOST:PORT --conn N [options]\n"
"\n"
"A deterministic QUIC-shaped UDP driver for middlebox tests (no TLS, no real QUIC).\n"
"client options:\n"
"  --tracker HOST:PORT     report OPEN / DCID_NEW / ADDR / DCID_RETIRE to the tracker (UDP)\n"
"  --server-addr HOST:PORT server address put in REPORT_OPEN (default: --to)\n"
"  --packets N             short-header packets to send after the handshake (default 50)\n"
"  --migrate-every N       migrate (new port, next DCID) every N packets (0 = never; default 5)\n"
"  --interval DUR          time between packets, spent collecting replies (default 10ms)\n"
"  --port-base P           first local port (phase i uses P+i; default 0 = ephemeral)\n"
"  --bind-ip IP            local IP (default 127.0.0.1 or ::1)\n"
"  --size BYTES            short-header datagram size (default 100)\n"
"  --linger DUR            wait for late replies at the end, at most DUR: stops once\n"
"                          every phase has had one (default 300ms)\n"
"  --handshake-timeout DUR (default 1s, three Initials)\n"
"  --blast                 after the handshake, send --packets datagrams as fast as possible\n"
"                          (sendmmsg, no migration, no waiting): a throughput load\n"
"  --blast-migrated        the same from a second port with the next DCID, both reported\n"
"                          to --tracker 100 ms before (a migrated connection's load)\n"
"DUR: a number with a unit, ns, us, ms, s, m or h (250ms, 1.5s, 5m, 1h); a bare\n"
"number is seconds.\n"
"The client prints one JSON line: packets_sent, packets_received, phases, phases_ok,\n"
"first_failed_phase; the server rewrites --stats-json FILE (fields: docs/JSON.md).\n"
"Exit status: 0, 1 on a runtime failure, 2 for bad usage, 3 when the handshake got no\n"
"answer. -h, --help: this text; --version: the version and the commit it was built from.\n"
"--stats FILE, the old spelling of --stats-json FILE, still works.\n";

int main(int argc, char **argv)
{
    qasm_cli_front("qasm-udpdrive", argc, argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
    if (argc < 2)
        die("expected 'server' or 'client' (see --help)");
    opterr = 0;
    if (strcmp(argv[1], "server") == 0)
        return run_server(argc, argv);
    if (strcmp(argv[1], "client") == 0)
        return run_client(argc, argv);
    die("unknown command '%s' (server or client)", argv[1]);
}
