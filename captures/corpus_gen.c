/*
 * corpus_gen.c: qasm-corpus-gen, writes the deterministic synthetic captures
 * of the regression corpus (captures/corpus/, see captures/regen-corpus.sh).
 *
 * Each scenario is a few QUIC-shaped connections on loopback: a client
 * Initial (1200 bytes, O-DCID), the server's Initial + Handshake (its first
 * CID in the SCID), a client Handshake, then 1-RTT short-header packets both
 * ways at a fixed interval, with migrations on a schedule (new port, new
 * address, or a NAT rebinding that keeps the DCID) and the agent's reports
 * (lib/proto.h datagrams to the tracker at 127.0.0.1:4790) around them.
 * Payloads are deterministic filler: nothing here is encrypted QUIC, only
 * its wire image. Everything is a pure function of the scenario table, so
 * a regeneration gives byte-identical files.
 *
 *   qasm-corpus-gen OUTDIR [SCENARIO...]     (default: every scenario)
 *   qasm-corpus-gen --list
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <pcap/pcap.h>

#include "addr.h"
#include "cli.h"
#include "bytes.h"
#include "cid.h"
#include "clock.h"
#include "ipudp.h"
#include "proto.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

#define BASE_NS ((qasm_tstamp)1700000000 * QASM_SEC)
#define MAX_FRAMES 8192
#define CID_LEN 8

enum mig_kind { MIG_NONE, MIG_PORT, MIG_ADDR, MIG_REBIND };
enum reports_mode { REP_NONE, REP_CAPTURE, REP_EVENTS };

struct scenario {
    const char *name;
    const char *what;
    int nconns;
    int duration_ms;
    int pkt_us;          /* client packet interval */
    int mig_us;          /* migration interval (0: none) */
    enum mig_kind kind;
    int v6;
    enum reports_mode reports;
    int report_delay_us; /* report time relative to the first packet on the new path */
    int dlt;
    int pcapng;
    int close;           /* clients report CLOSE at the end */
    int malformed;       /* add broken and foreign traffic */
    int hijack;          /* an attacker reuses conn 0's DCID */
    int twohop;          /* also capture the middlebox -> server hop */
};

static const struct scenario scenarios[] = {
    { "single", "one connection, no migration, closes at the end", 1, 300, 10000, 0, MIG_NONE,
      0, REP_CAPTURE, -100, DLT_EN10MB, 0, 1, 0, 0, 0 },
    { "many", "eight connections, no migration", 8, 200, 10000, 0, MIG_NONE, 0, REP_CAPTURE,
      -100, DLT_EN10MB, 0, 0, 0, 0, 0 },
    { "port-migration", "one connection, new port and DCID every 50 ms", 1, 400, 5000, 50000,
      MIG_PORT, 0, REP_CAPTURE, -100, DLT_LINUX_SLL, 0, 0, 0, 0, 0 },
    { "addr-migration", "one connection, new IP and DCID every 50 ms", 1, 400, 5000, 50000,
      MIG_ADDR, 0, REP_CAPTURE, -100, DLT_LINUX_SLL2, 0, 0, 0, 0, 0 },
    { "rebind", "NAT rebinding: new port every 50 ms, same DCID", 1, 400, 5000, 50000,
      MIG_REBIND, 0, REP_CAPTURE, -100, DLT_NULL, 0, 0, 0, 0, 0 },
    { "race-100hz", "100 Hz migrations, each report 300 us after the first migrated packet", 2,
      300, 2000, 10000, MIG_PORT, 0, REP_CAPTURE, 300, DLT_RAW, 0, 0, 0, 0, 0 },
    { "rate-1000hz", "1000 Hz migrations for 100 ms, reports just before use", 1, 100, 500, 1000,
      MIG_PORT, 0, REP_CAPTURE, -50, DLT_RAW, 0, 0, 0, 0, 0 },
    { "ipv6", "IPv6, two connections, port migrations every 50 ms", 2, 300, 5000, 50000,
      MIG_PORT, 1, REP_CAPTURE, -100, DLT_EN10MB, 0, 0, 0, 0, 0 },
    { "malformed", "one migrating connection mixed with broken and non-QUIC traffic", 1, 300,
      10000, 100000, MIG_PORT, 0, REP_CAPTURE, -100, DLT_EN10MB, 0, 0, 1, 0, 0 },
    { "pcapng-many", "pcapng file, four connections with address migrations", 4, 200, 10000,
      50000, MIG_ADDR, 0, REP_CAPTURE, -100, DLT_EN10MB, 1, 0, 0, 0, 0 },
    { "events-file", "port migrations, no reports in the capture: they are in a JSON-lines file",
      1, 300, 5000, 50000, MIG_PORT, 0, REP_EVENTS, -100, DLT_EN10MB, 0, 0, 0, 0, 0 },
    { "hijack", "an attacker sends with the victim's DCID and a forged report", 1, 300, 5000,
      100000, MIG_PORT, 0, REP_CAPTURE, -100, DLT_EN10MB, 0, 0, 0, 1, 0 },
    { "two-hop", "client -> middlebox -> server, both hops captured, port migrations", 1, 300,
      10000, 100000, MIG_PORT, 0, REP_CAPTURE, -100, DLT_EN10MB, 0, 0, 0, 0, 1 },
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

struct frame {
    qasm_tstamp t;
    size_t seq;
    size_t len, caplen;
    uint8_t *data;
};

static struct frame frames[MAX_FRAMES];
static size_t nframes;
static const struct scenario *sc;
static FILE *events_out;

static void die(const char *msg)
{
    fprintf(stderr, "qasm-corpus-gen: %s\n", msg);
    exit(1);
}

/* ---- frames ---- */

static size_t link_header(uint8_t *h, int v6)
{
    switch (sc->dlt) {
    case DLT_EN10MB:
        memset(h, 0, 12);
        h[5] = 1; /* dst 00:00:00:00:00:01, src 00:00:00:00:00:00 */
        qasm_put16(h + 12, v6 ? 0x86dd : 0x0800);
        return 14;
    case DLT_LINUX_SLL:
        memset(h, 0, 16);
        qasm_put16(h + 2, 772); /* ARPHRD_LOOPBACK */
        qasm_put16(h + 4, 6);
        qasm_put16(h + 14, v6 ? 0x86dd : 0x0800);
        return 16;
    case DLT_LINUX_SLL2:
        memset(h, 0, 20);
        qasm_put16(h, v6 ? 0x86dd : 0x0800);
        h[7] = 1;                /* ifindex 1 */
        qasm_put16(h + 8, 772);  /* ARPHRD_LOOPBACK */
        h[11] = 6;
        return 20;
    case DLT_NULL: {
        uint32_t af = v6 ? 10 : 2; /* host (little-endian) order, as Linux writes it */
        h[0] = (uint8_t)af;
        h[1] = h[2] = h[3] = 0;
        return 4;
    }
    default:
        return 0;
    }
}

/* add_frame adds |l3| (an IP packet, or a whole frame when |raw_frame|) at time |t|. */
static void add_frame_ex(qasm_tstamp t, const uint8_t *l3, size_t len, int v6, int raw_frame,
                         size_t caplen)
{
    if (nframes == MAX_FRAMES)
        die("too many frames");
    struct frame *f = &frames[nframes];
    uint8_t hdr[32];
    size_t hl = raw_frame ? 0 : link_header(hdr, v6);
    f->data = malloc(hl + len);
    if (!f->data)
        die("out of memory");
    memcpy(f->data, hdr, hl);
    memcpy(f->data + hl, l3, len);
    f->len = hl + len;
    f->caplen = caplen && caplen < f->len ? caplen : f->len;
    f->t = t;
    f->seq = nframes++;
}

static void add_udp(qasm_tstamp t, const struct qasm_addr *src, const struct qasm_addr *dst,
                    const uint8_t *payload, size_t len)
{
    uint8_t pkt[1600];
    ssize_t n = qasm_ipudp_build(pkt, sizeof(pkt), src, dst, payload, len, 64);
    if (n < 0)
        die("qasm_ipudp_build failed");
    add_frame_ex(t, pkt, (size_t)n, src->family == AF_INET6, 0, 0);
}

/* ---- QUIC wire images ---- */

static void filler(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static size_t long_hdr(uint8_t *p, int type, const struct qasm_cid *dcid,
                       const struct qasm_cid *scid, size_t body, int token)
{
    size_t o = 0;
    p[o++] = (uint8_t)(0xc0 | type << 4 | 0x01); /* 2-byte packet number */
    qasm_put32(p + o, 1);
    o += 4;
    p[o++] = dcid->len;
    memcpy(p + o, dcid->data, dcid->len);
    o += dcid->len;
    p[o++] = scid->len;
    memcpy(p + o, scid->data, scid->len);
    o += scid->len;
    if (token)
        p[o++] = 0; /* no token */
    p[o++] = (uint8_t)(0x40 | body >> 8);
    p[o++] = (uint8_t)body;
    filler(p + o, body, (uint32_t)(o * 7 + body));
    return o + body;
}

static size_t short_hdr(uint8_t *p, const struct qasm_cid *dcid, size_t body, uint32_t seed)
{
    p[0] = 0x41;
    memcpy(p + 1, dcid->data, dcid->len);
    filler(p + 1 + dcid->len, body, seed);
    return 1 + dcid->len + body;
}

static void mkcid(struct qasm_cid *c, uint8_t tag, int conn, int seq)
{
    uint8_t b[CID_LEN] = { tag, (uint8_t)conn, (uint8_t)(seq >> 8), (uint8_t)seq,
                           0x5a, 0x17, (uint8_t)(0x40 + conn), (uint8_t)(seq * 13) };
    qasm_cid_set(c, b, CID_LEN);
}

/* ---- reports ---- */

static struct qasm_addr tracker;

static void report(qasm_tstamp t, uint8_t type, const struct qasm_proto_report *r,
                   const struct qasm_addr *from)
{
    if (sc->reports == REP_NONE)
        return;
    if (sc->reports == REP_EVENTS) {
        static const char *names[] = { "", "open", "dcid_new", "dcid_retire", "addr", "close" };
        char a0[QASM_ADDR_STRLEN], a1[QASM_ADDR_STRLEN], a2[QASM_ADDR_STRLEN];
        char h0[QASM_CID_HEXLEN], h1[QASM_CID_HEXLEN];
        json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "t_ns", (json_int_t)t, "type",
                              names[type], "odcid", qasm_cid_hex(h0, &r->odcid), "client0",
                              qasm_addr_format(a0, sizeof(a0), &r->client0), "client",
                              qasm_addr_format(a1, sizeof(a1), &r->client), "seq",
                              (json_int_t)r->seq);
        if (type == QASM_PROTO_REPORT_OPEN) {
            json_object_set_new(j, "scid", json_string(qasm_cid_hex(h1, &r->scid)));
            json_object_set_new(j, "server", json_string(qasm_addr_format(a2, sizeof(a2),
                                                                           &r->server)));
        }
        if (type == QASM_PROTO_REPORT_DCID_NEW || type == QASM_PROTO_REPORT_DCID_RETIRE) {
            json_object_set_new(j, "dcid", json_string(qasm_cid_hex(h1, &r->dcid.cid)));
            json_object_set_new(j, "cid_seq", json_integer((json_int_t)r->dcid.seq));
        }
        /* jansson's default separators (", " and ": "): the corpus file's bytes. */
        json_dumpf(j, events_out, JSON_PRESERVE_ORDER);
        fputc('\n', events_out);
        json_decref(j);
        return;
    }
    struct qasm_proto_msg m;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    qasm_proto_msg_init(&m, type, 0);
    m.u.report = *r;
    /* The agent's secret of this connection: random in the agent, derived here so
     * the corpus stays byte-identical across regenerations. */
    uint8_t secret[QASM_PROTO_SECRET_LEN];
    memset(secret, 0xa5, sizeof(secret));
    memcpy(secret, r->odcid.data, r->odcid.len < sizeof(secret) ? r->odcid.len : sizeof(secret));
    if (qasm_proto_report_sign(type, &m.u.report, secret) < 0)
        die("qasm_proto_report_sign failed");
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    if (n < 0)
        die("qasm_proto_encode failed");
    struct qasm_addr src = *from;
    src.port = 39999; /* the agent's own socket */
    struct qasm_addr dst = tracker;
    if (src.family != dst.family)
        dst = tracker;
    add_udp(t, &src, &dst, buf, (size_t)n);
}

/* ---- one connection ---- */

struct conn {
    int idx;
    struct qasm_addr client0, client, server, mbox_pub;
    struct qasm_cid odcid, scid;
    uint32_t seq;
    int cid_seq;    /* server CID in use */
    int port_i, addr_i;
};

static void conn_report(struct conn *c, qasm_tstamp t, uint8_t type, int cid_seq)
{
    struct qasm_proto_report r;
    memset(&r, 0, sizeof(r));
    r.odcid = c->odcid;
    r.client0 = c->client0;
    r.client = c->client;
    r.seq = ++c->seq;
    if (type == QASM_PROTO_REPORT_OPEN) {
        r.scid = c->scid;
        r.server = c->server;
    }
    if (type == QASM_PROTO_REPORT_DCID_NEW || type == QASM_PROTO_REPORT_DCID_RETIRE) {
        mkcid(&r.dcid.cid, 0x5e, c->idx, cid_seq);
        r.dcid.seq = (uint64_t)cid_seq;
    }
    report(t, type, &r, &c->client);
}

static void set_ip(struct qasm_addr *a, int v6, int host, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->port = port;
    if (v6) {
        a->family = AF_INET6;
        a->ip[15] = (uint8_t)host; /* ::1, ::2, ... */
    } else {
        a->family = AF_INET;
        a->ip[0] = 127;
        a->ip[3] = (uint8_t)host;
    }
}

/* Packet towards the server, and its copy on the second hop when captured. */
static void client_send(struct conn *c, qasm_tstamp t, const uint8_t *p, size_t n)
{
    add_udp(t, &c->client, &c->server, p, n);
    if (sc->twohop) {
        struct qasm_addr real;
        set_ip(&real, sc->v6, 1, 4433);
        add_udp(t + 20 * QASM_US, &c->mbox_pub, &real, p, n);
    }
}

static void server_send(struct conn *c, qasm_tstamp t, const uint8_t *p, size_t n)
{
    if (sc->twohop) {
        struct qasm_addr real;
        set_ip(&real, sc->v6, 1, 4433);
        add_udp(t - 20 * QASM_US, &real, &c->mbox_pub, p, n);
    }
    add_udp(t, &c->server, &c->client, p, n);
}

static void run_conn(struct conn *c, qasm_tstamp t0)
{
    uint8_t p[1400];
    size_t n;
    struct qasm_cid scid0;
    qasm_tstamp end = t0 + (qasm_tstamp)sc->duration_ms * QASM_MS;

    /* handshake */
    mkcid(&scid0, 0x5e, c->idx, 0);
    n = long_hdr(p, 0, &c->odcid, &c->scid, 1200 - 7 - 2 * (1 + CID_LEN) - 3, 1);
    client_send(c, t0, p, n);
    conn_report(c, t0 + 20 * QASM_US, QASM_PROTO_REPORT_OPEN, 0);
    n = long_hdr(p, 0, &c->scid, &scid0, 120, 1);
    n += long_hdr(p + n, 2, &c->scid, &scid0, 400, 0);
    server_send(c, t0 + 500 * QASM_US, p, n);
    /* the agent learns the server's CID and its spares (sequence 1 and 2) */
    for (int s = 0; s <= 2; s++)
        conn_report(c, t0 + 700 * QASM_US + (qasm_tstamp)s * 10 * QASM_US,
                    QASM_PROTO_REPORT_DCID_NEW, s);
    n = long_hdr(p, 2, &scid0, &c->scid, 60, 0);
    client_send(c, t0 + 800 * QASM_US, p, n);

    qasm_tstamp next_mig = sc->mig_us ? t0 + (qasm_tstamp)sc->mig_us * QASM_US : QASM_TSTAMP_MAX;
    uint32_t k = 0;
    for (qasm_tstamp t = t0 + QASM_MS; t < end; t += (qasm_tstamp)sc->pkt_us * QASM_US, k++) {
        if (t >= next_mig) {
            next_mig += (qasm_tstamp)sc->mig_us * QASM_US;
            int old = c->cid_seq;
            if (sc->kind == MIG_ADDR) {
                int host = sc->v6 ? 10 + c->addr_i : 2 + c->idx * 40 + c->addr_i;
                c->addr_i++;
                set_ip(&c->client, sc->v6, host, c->client.port);
            }
            else
                c->client.port = (uint16_t)(c->client.port + 1);
            qasm_tstamp tr = (qasm_tstamp)((int64_t)t + (int64_t)sc->report_delay_us * 1000);
            conn_report(c, tr, QASM_PROTO_REPORT_ADDR, 0);
            if (sc->kind != MIG_REBIND) {
                c->cid_seq++;
                conn_report(c, tr + 10 * QASM_US, QASM_PROTO_REPORT_DCID_RETIRE, old);
                /* the server replaces the retired CID: the agent pre-registers the new spare */
                conn_report(c, tr + 20 * QASM_US, QASM_PROTO_REPORT_DCID_NEW, c->cid_seq + 2);
            }
        }
        struct qasm_cid d;
        mkcid(&d, 0x5e, c->idx, c->cid_seq);
        n = short_hdr(p, &d, 40, k * 31 + (uint32_t)c->idx);
        client_send(c, t, p, n);
        n = short_hdr(p, &c->scid, 48, k * 17 + (uint32_t)c->idx);
        server_send(c, t + 100 * QASM_US, p, n);
    }
    if (sc->close)
        conn_report(c, end, QASM_PROTO_REPORT_CLOSE, 0);
}

/* ---- broken and foreign traffic (scenario "malformed") ---- */

static void add_malformed(qasm_tstamp t0, const struct qasm_addr *server)
{
    uint8_t p[1600];
    struct qasm_addr a, b;
    ssize_t n;

    /* non-QUIC UDP between other hosts (DNS-like) and to the server (first byte 0) */
    set_ip(&a, 0, 1, 5353);
    set_ip(&b, 0, 53, 53);
    memcpy(p, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07" "example\x03" "org\x00", 25);
    add_udp(t0 + 3 * QASM_MS, &a, &b, p, 25);
    set_ip(&a, 0, 9, 7777);
    memset(p, 0, 64);
    add_udp(t0 + 4 * QASM_MS, &a, server, p, 64);
    /* truncated QUIC long header, and an Initial too short to hold its Length */
    memcpy(p, "\xc0\x00\x00\x00\x01", 5);
    add_udp(t0 + 5 * QASM_MS, &a, server, p, 5);
    memcpy(p, "\xc3\x00\x00\x00\x01\x08\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x44\xd0", 18);
    add_udp(t0 + 6 * QASM_MS, &a, server, p, 18);
    /* a broken tracker message (its length is not the datagram's: plain UDP to the
     * replay, malformed to the dissector) and a QUERY sent over UDP */
    memcpy(p, "QT\x01\x02\x0f\xff\x00\x00\x00\x00\x00\x01", 12);
    add_udp(t0 + 7 * QASM_MS, &a, &tracker, p, 12);
    /* a tracker header with a body that does not decode (a 30-byte CID) */
    memcpy(p, "QT\x01\x01\x00\x0e\x00\x00\x00\x00\x00\x02\x1e\x00", 14);
    add_udp(t0 + 7 * QASM_MS + 500 * QASM_US, &a, &tracker, p, 14);
    struct qasm_cid q;
    mkcid(&q, 0xee, 0, 0);
    n = qasm_proto_encode_query(p, sizeof(p), 5, &q, NULL, 0);
    add_udp(t0 + 8 * QASM_MS, &a, &tracker, p, (size_t)n);

    /* TCP and ICMP: build a UDP packet and change the protocol (and IPv4 checksum is ignored) */
    n = qasm_ipudp_build(p, sizeof(p), &a, server, (const uint8_t *)"tcp-payload-x", 13, 64);
    p[9] = 6;
    add_frame_ex(t0 + 9 * QASM_MS, p, (size_t)n, 0, 0, 0);
    p[9] = 1;
    add_frame_ex(t0 + 10 * QASM_MS, p, (size_t)n, 0, 0, 0);
    /* an IPv4 fragment (more fragments set) */
    n = qasm_ipudp_build(p, sizeof(p), &a, server, (const uint8_t *)"fragment-one", 12, 64);
    p[6] = 0x20;
    add_frame_ex(t0 + 11 * QASM_MS, p, (size_t)n, 0, 0, 0);
    /* a bad IPv4 header (IHL 3) */
    n = qasm_ipudp_build(p, sizeof(p), &a, server, (const uint8_t *)"bad-ihl", 7, 64);
    p[0] = 0x43;
    add_frame_ex(t0 + 12 * QASM_MS, p, (size_t)n, 0, 0, 0);
    /* a frame cut by the snap length: a 1200-byte UDP datagram with 60 bytes captured */
    memset(p + 100, 0xab, 1200);
    uint8_t big[1400];
    n = qasm_ipudp_build(big, sizeof(big), &a, server, p + 100, 1200, 64);
    add_frame_ex(t0 + 13 * QASM_MS, big, (size_t)n, 0, 0, 60);
    /* ARP, and an 802.1Q-tagged UDP datagram (decoded) */
    uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 2, 0x08, 0x06 };
    add_frame_ex(t0 + 14 * QASM_MS, arp, sizeof(arp), 0, 1, 0);
    uint8_t vl[200];
    memcpy(vl, "\0\0\0\0\0\1\0\0\0\0\0\2\x81\x00\x00\x07\x08\x00", 18);
    n = qasm_ipudp_build(vl + 18, sizeof(vl) - 18, &a, &b, (const uint8_t *)"vlan-udp", 8, 64);
    add_frame_ex(t0 + 15 * QASM_MS, vl, (size_t)n + 18, 0, 1, 0);
    /* an Ethernet frame too short for its header */
    add_frame_ex(t0 + 16 * QASM_MS, arp, 9, 0, 1, 0);
}

/* ---- the scenario ---- */

static int cmp_frame(const void *x, const void *y)
{
    const struct frame *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void put32le(FILE *f, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    fwrite(b, 1, 4, f);
}

/* pcapng by hand (libpcap writes classic pcap only): SHB, IDB, one EPB per frame. */
static int write_pcapng(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    put32le(f, 0x0a0d0d0a);
    put32le(f, 28);
    put32le(f, 0x1a2b3c4d);
    put32le(f, 1);           /* version 1.0 */
    put32le(f, 0xffffffff);  /* section length unknown */
    put32le(f, 0xffffffff);
    put32le(f, 28);
    put32le(f, 1);           /* IDB */
    put32le(f, 20);
    put32le(f, (uint32_t)sc->dlt); /* link type, reserved */
    put32le(f, 65535);
    put32le(f, 20);
    for (size_t i = 0; i < nframes; i++) {
        const struct frame *fr = &frames[i];
        uint64_t us = fr->t / QASM_US;
        uint32_t pad = (uint32_t)((4 - fr->caplen % 4) % 4);
        uint32_t blen = 32 + (uint32_t)fr->caplen + pad;
        put32le(f, 6);
        put32le(f, blen);
        put32le(f, 0);
        put32le(f, (uint32_t)(us >> 32));
        put32le(f, (uint32_t)us);
        put32le(f, (uint32_t)fr->caplen);
        put32le(f, (uint32_t)fr->len);
        fwrite(fr->data, 1, fr->caplen, f);
        fwrite("\0\0\0", 1, pad, f);
        put32le(f, blen);
    }
    return fclose(f);
}

static int write_pcap(const char *path)
{
    pcap_t *dead =
        pcap_open_dead_with_tstamp_precision(sc->dlt, 65535, PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t *d = dead ? pcap_dump_open(dead, path) : NULL;
    if (!d)
        return -1;
    for (size_t i = 0; i < nframes; i++) {
        struct pcap_pkthdr h;
        h.ts.tv_sec = (time_t)(frames[i].t / QASM_SEC);
        h.ts.tv_usec = (suseconds_t)(frames[i].t % QASM_SEC / QASM_US);
        h.caplen = (bpf_u_int32)frames[i].caplen;
        h.len = (bpf_u_int32)frames[i].len;
        pcap_dump((u_char *)d, &h, frames[i].data);
    }
    pcap_dump_close(d);
    pcap_close(dead);
    return 0;
}

static int gen(const char *dir, const struct scenario *s)
{
    char path[4096];
    sc = s;
    nframes = 0;
    events_out = NULL;
    set_ip(&tracker, 0, 1, QASM_PROTO_DEFAULT_PORT);
    if (s->v6)
        set_ip(&tracker, 1, 1, QASM_PROTO_DEFAULT_PORT);
    if (s->reports == REP_EVENTS) {
        snprintf(path, sizeof(path), "%s/%s.events.jsonl", dir, s->name);
        events_out = fopen(path, "w");
        if (!events_out)
            return -1;
        fprintf(events_out, "# agent reports of %s.pcap (qasm-replay --tracker-events)\n", s->name);
    }
    struct qasm_addr server;
    /* the server (or the middlebox in front of it on the two-hop capture) */
    set_ip(&server, s->v6, 1, s->twohop ? 5000 : 4433);
    for (int i = 0; i < s->nconns; i++) {
        struct conn c;
        memset(&c, 0, sizeof(c));
        c.idx = i;
        set_ip(&c.client0, s->v6, s->v6 ? 1 : (s->kind == MIG_ADDR ? 2 + i * 40 : 1),
               (uint16_t)(50000 + 100 * i));
        if (s->v6 && s->kind == MIG_ADDR)
            set_ip(&c.client0, 1, 2, (uint16_t)(50000 + 100 * i));
        c.client = c.client0;
        c.server = server;
        set_ip(&c.mbox_pub, s->v6, 1, (uint16_t)(40000 + i));
        mkcid(&c.odcid, 0xc0, i, 0);
        mkcid(&c.scid, 0xc1, i, 0);
        run_conn(&c, BASE_NS + (qasm_tstamp)i * 3 * QASM_MS);
        if (s->hijack && i == 0) {
            /* attacker at 127.0.0.66 replays the victim's current DCID, with a forged
             * report naming the victim's connection and the victim's own IP */
            struct qasm_addr att;
            set_ip(&att, 0, 66, 6666);
            uint8_t p[200];
            qasm_tstamp ta = BASE_NS + (qasm_tstamp)s->duration_ms * QASM_MS / 2 + 2500 * QASM_US;
            struct qasm_proto_report r;
            memset(&r, 0, sizeof(r));
            r.odcid = c.odcid;
            r.client0 = c.client0;
            r.client = c.client0;
            r.client.port = 6666;
            r.seq = 1000;
            if (s->reports == REP_CAPTURE) {
                struct qasm_proto_msg m;
                uint8_t buf[QASM_PROTO_MAX_MSG];
                qasm_proto_msg_init(&m, QASM_PROTO_REPORT_ADDR, 0);
                m.u.report = r;
                ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
                add_udp(ta - 100 * QASM_US, &att, &tracker, buf, (size_t)n);
                /* and one naming its own address (source attestation passes), without
                 * the victim's secret: refused as not from the connection's owner */
                m.u.report.client = att;
                m.u.report.seq = 4294967280u;
                n = qasm_proto_encode(buf, sizeof(buf), &m);
                add_udp(ta - 50 * QASM_US, &att, &tracker, buf, (size_t)n);
            }
            for (int k = 0; k < 5; k++) {
                struct qasm_cid d;
                mkcid(&d, 0x5e, 0, 3); /* the victim's DCID of that moment */
                size_t n = short_hdr(p, &d, 40, 999u + (uint32_t)k);
                add_udp(ta + (qasm_tstamp)k * 1000 * QASM_US, &att, &server, p, n);
            }
        }
    }
    if (s->malformed)
        add_malformed(BASE_NS, &server);
    qsort(frames, nframes, sizeof(frames[0]), cmp_frame);
    snprintf(path, sizeof(path), "%s/%s.%s", dir, s->name, s->pcapng ? "pcapng" : "pcap");
    int rv = s->pcapng ? write_pcapng(path) : write_pcap(path);
    for (size_t i = 0; i < nframes; i++)
        free(frames[i].data);
    if (events_out && fclose(events_out) != 0)
        rv = -1;
    if (rv < 0)
        fprintf(stderr, "qasm-corpus-gen: cannot write %s\n", path);
    else
        printf("%s: %zu frames\n", path, nframes);
    return rv;
}

int main(int argc, char **argv)
{
    qasm_cli_front("qasm-corpus-gen", argc, argv);
    if (argc < 2)
        qasm_cli_usage_exit("qasm-corpus-gen", "expected OUTDIR or --list");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: qasm-corpus-gen OUTDIR [SCENARIO...] | --list\n"
               "Writes the deterministic synthetic captures of the regression corpus.\n"
               "  --list      the scenarios\n"
               "  -h, --help  this text\n"
               "  --version   print the version and the commit it was built from\n");
        return 0;
    }
    if (argv[1][0] == '-' && strcmp(argv[1], "--list") != 0)
        qasm_cli_usage_exitf("qasm-corpus-gen", "unrecognized option '%s'", argv[1]);
    if (strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < NSCEN; i++)
            printf("%-16s %s\n", scenarios[i].name, scenarios[i].what);
        return 0;
    }
    int rv = 0;
    for (size_t i = 0; i < NSCEN; i++) {
        int want = argc == 2;
        for (int a = 2; a < argc; a++)
            if (strcmp(argv[a], scenarios[i].name) == 0)
                want = 1;
        if (want && gen(argv[1], &scenarios[i]) < 0)
            rv = 1;
    }
    for (int a = 2; a < argc; a++) {
        size_t i;
        for (i = 0; i < NSCEN; i++)
            if (strcmp(argv[a], scenarios[i].name) == 0)
                break;
        if (i == NSCEN) {
            qasm_cli_usage_exitf("qasm-corpus-gen", "unknown scenario '%s' (see --list)",
                                 argv[a]);
        }
    }
    return rv;
}
