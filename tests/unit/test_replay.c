/* Unit tests for the replay engine (captures/replay.c) on frames built in
 * memory: direction and server learning, the NAT's public ports per
 * connection in each mode, the embedded tracker's source check, skipped
 * frames, other-hop detection, translated output and the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pcap/dlt.h>
#include <string.h>
#include <sys/socket.h>

#include "ipudp.h"
#include "proto.h"
#include "captures/replay.h"

#define T0 ((qasm_tstamp)1700000000 * QASM_SEC)

static void addr(struct qasm_addr *a, int host, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->family = AF_INET;
    a->ip[0] = 127;
    a->ip[3] = (uint8_t)host;
    a->port = port;
}

static void cid(struct qasm_cid *c, uint8_t tag, uint8_t seq)
{
    uint8_t b[8] = { tag, seq, 2, 3, 4, 5, 6, 7 };
    qasm_cid_set(c, b, 8);
}

/* Feed one UDP datagram as a raw-IP frame. */
static void udp(struct qasm_replay *r, qasm_tstamp t, const struct qasm_addr *src,
                const struct qasm_addr *dst, const uint8_t *payload, size_t len)
{
    uint8_t pkt[1600];
    ssize_t n = qasm_ipudp_build(pkt, sizeof(pkt), src, dst, payload, len, 64);
    assert_true(n > 0);
    qasm_replay_frame(r, t, DLT_RAW, pkt, (size_t)n, (size_t)n);
}

static size_t long_hdr(uint8_t *p, int type, const struct qasm_cid *d, const struct qasm_cid *s,
                       size_t body)
{
    size_t o = 0;
    p[o++] = (uint8_t)(0xc1 | type << 4);
    p[o++] = 0, p[o++] = 0, p[o++] = 0, p[o++] = 1;
    p[o++] = d->len;
    memcpy(p + o, d->data, d->len);
    o += d->len;
    p[o++] = s->len;
    memcpy(p + o, s->data, s->len);
    o += s->len;
    if (type == 0)
        p[o++] = 0; /* token length */
    p[o++] = (uint8_t)(0x40 | body >> 8);
    p[o++] = (uint8_t)body;
    memset(p + o, 0xa5, body);
    return o + body;
}

static size_t short_hdr(uint8_t *p, const struct qasm_cid *d)
{
    p[0] = 0x41;
    memcpy(p + 1, d->data, d->len);
    memset(p + 1 + d->len, 0x5a, 40);
    return 1 + d->len + 40;
}

static void report(struct qasm_replay *r, qasm_tstamp t, uint8_t type, const struct qasm_addr *from,
                   const struct qasm_addr *client, uint32_t seq, uint8_t dcid_seq)
{
    struct qasm_proto_msg m;
    uint8_t buf[512];
    struct qasm_addr tracker, src = *from;
    qasm_proto_msg_init(&m, type, 0);
    cid(&m.u.report.odcid, 0xc0, 0);
    addr(&m.u.report.client0, 1, 50000);
    m.u.report.client = *client;
    m.u.report.seq = seq;
    if (type == QASM_PROTO_REPORT_OPEN) {
        cid(&m.u.report.scid, 0xc1, 0);
        addr(&m.u.report.server, 1, 4433);
    }
    if (type == QASM_PROTO_REPORT_DCID_NEW) {
        cid(&m.u.report.dcid.cid, 0x5e, dcid_seq);
        m.u.report.dcid.seq = dcid_seq;
    }
    /* as the client's agent sends it: authenticated with the connection's secret */
    static const uint8_t secret[QASM_PROTO_SECRET_LEN] = { 7, 7, 7 };
    assert_int_equal(qasm_proto_report_sign(type, &m.u.report, secret), 0);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(n > 0);
    addr(&tracker, 1, 4790);
    src.port = 39999;
    udp(r, t, &src, &tracker, buf, (size_t)n);
}

/* One connection: handshake, reports, 3 packets, a port migration, 3 packets. */
static void connection(struct qasm_replay *r, int report_from_host)
{
    uint8_t p[1400];
    size_t n;
    struct qasm_addr c0, c1, srv, from;
    struct qasm_cid odcid, scid, s0, s1;
    addr(&c0, 1, 50000);
    addr(&c1, 1, 50001);
    addr(&srv, 1, 4433);
    addr(&from, report_from_host, 0);
    cid(&odcid, 0xc0, 0);
    cid(&scid, 0xc1, 0);
    cid(&s0, 0x5e, 0);
    cid(&s1, 0x5e, 1);

    n = long_hdr(p, 0, &odcid, &scid, 1200 - 28);
    udp(r, T0, &c0, &srv, p, n);
    report(r, T0 + 10 * QASM_US, QASM_PROTO_REPORT_OPEN, &from, &c0, 1, 0);
    n = long_hdr(p, 2, &scid, &s0, 300);
    udp(r, T0 + 500 * QASM_US, &srv, &c0, p, n);
    report(r, T0 + 600 * QASM_US, QASM_PROTO_REPORT_DCID_NEW, &from, &c0, 2, 0);
    report(r, T0 + 610 * QASM_US, QASM_PROTO_REPORT_DCID_NEW, &from, &c0, 3, 1);
    for (int i = 0; i < 3; i++) {
        n = short_hdr(p, &s0);
        udp(r, T0 + (qasm_tstamp)(i + 1) * QASM_MS, &c0, &srv, p, n);
        n = short_hdr(p, &scid);
        udp(r, T0 + (qasm_tstamp)(i + 1) * QASM_MS + 100 * QASM_US, &srv, &c0, p, n);
    }
    /* migration: new port, next DCID; the agent reports the address first */
    report(r, T0 + 9 * QASM_MS, QASM_PROTO_REPORT_ADDR, &from, &c1, 4, 0);
    for (int i = 0; i < 3; i++) {
        n = short_hdr(p, &s1);
        udp(r, T0 + (qasm_tstamp)(i + 10) * QASM_MS, &c1, &srv, p, n);
        n = short_hdr(p, &scid);
        udp(r, T0 + (qasm_tstamp)(i + 10) * QASM_MS + 100 * QASM_US, &srv, &c1, p, n);
    }
}

static struct qasm_replay *mk(enum qasm_mbox_function f, enum qasm_mbox_mode mode)
{
    static struct qasm_addr backends[2];
    struct qasm_replay_config cfg;
    struct qasm_replay *r;
    memset(&cfg, 0, sizeof(cfg));
    qasm_mbox_config_init(&cfg.mbox, f, mode);
    addr(&backends[0], 1, 1001);
    addr(&backends[1], 1, 1002);
    cfg.mbox.lb_backends = backends;
    cfg.mbox.lb_nbackends = 2;
    cfg.capture_reports = 1;
    assert_int_equal(qasm_replay_new(&r, &cfg), 0);
    return r;
}

static void test_replay_nat_ports_per_mode(void **state)
{
    (void)state;
    for (int mode = 0; mode < 3; mode++) {
        struct qasm_replay *r = mk(QASM_MBOX_NAT, (enum qasm_mbox_mode)mode);
        connection(r, 1);
        qasm_replay_finish(r);
        const struct qasm_replay_counts *c = qasm_replay_counts(r);
        assert_int_equal(c->packets, 18);
        assert_int_equal(c->udp_packets, 18);
        assert_int_equal(c->tracker_msgs, 4);
        assert_int_equal(c->reports_applied, 4);
        assert_int_equal(c->mbox_packets, 14);
        assert_int_equal(c->from_client, 7);
        assert_int_equal(c->from_server, 7);
        assert_int_equal(c->return_misrouted, 0);
        assert_int_equal(qasm_replay_nconns(r), 1);
        const struct qasm_replay_conn *k = qasm_replay_conn(r, 0);
        assert_int_equal(k->odcid.data[0], 0xc0);
        assert_int_equal(k->server.port, 4433);
        assert_int_equal(k->nclients, 2);
        assert_int_equal(k->ndcids, 2);
        assert_int_equal(k->packets, 14);
        assert_int_equal(k->forwarded, 14);
        assert_true(k->in_reports);
        /* Table 1: default NAT one public port per path, aware one per connection */
        assert_int_equal(k->nports, mode == QASM_MBOX_DEFAULT ? 2 : 1);
        qasm_replay_del(r);
    }
}

static void test_replay_lb_backends(void **state)
{
    (void)state;
    struct qasm_replay *r = mk(QASM_MBOX_LB, QASM_MBOX_PROACTIVE);
    connection(r, 1);
    qasm_replay_finish(r);
    assert_int_equal(qasm_replay_conn(r, 0)->nbackends, 1);
    assert_true(qasm_replay_counts(r)->pushes > 0);
    qasm_replay_del(r);
}

static void test_replay_report_source_check(void **state)
{
    (void)state;
    /* reports sent from 127.0.0.66 naming 127.0.0.1: refused, so the aware NAT
     * cannot attest the migration and takes a second mapping */
    struct qasm_replay *r = mk(QASM_MBOX_NAT, QASM_MBOX_REACTIVE);
    connection(r, 66);
    qasm_replay_finish(r);
    const struct qasm_replay_counts *c = qasm_replay_counts(r);
    assert_int_equal(c->reports_applied, 0);
    assert_int_equal(c->reports_rejected, 4);
    assert_false(qasm_replay_conn(r, 0)->in_reports);
    /* the NAT maps the migrated path anew ... */
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(qasm_replay_mbox(r), &st);
    assert_int_equal(st.mappings_created, 2);
    assert_int_equal(st.migrations, 0);
    /* ... and, without reports, nothing ties that path's new DCID to the connection */
    assert_int_equal(qasm_replay_conn(r, 0)->nports, 1);
    assert_int_equal(qasm_replay_conn(r, 0)->nclients, 1);
    assert_int_equal(c->unattributed_quic, 6); /* and the server's answers on it */
    qasm_replay_del(r);
}

static void test_replay_events(void **state)
{
    (void)state;
    struct qasm_replay *r = mk(QASM_MBOX_NAT, QASM_MBOX_DEFAULT);
    struct qasm_proto_msg m;
    qasm_proto_msg_init(&m, QASM_PROTO_QUERY, 1);
    assert_int_equal(qasm_replay_event(r, T0, &m), -EINVAL);
    qasm_proto_msg_init(&m, QASM_PROTO_REPORT_OPEN, 0);
    cid(&m.u.report.odcid, 0xc0, 9);
    addr(&m.u.report.client0, 7, 7000);
    m.u.report.client = m.u.report.client0;
    addr(&m.u.report.server, 1, 4433);
    m.u.report.seq = 1;
    assert_int_equal(qasm_replay_event(r, T0, &m), 0);
    assert_int_equal(qasm_replay_counts(r)->tracker_events, 1);
    assert_int_equal(qasm_replay_counts(r)->reports_applied, 1);
    assert_int_equal(qasm_replay_nconns(r), 1);
    assert_true(qasm_replay_conn(r, 0)->in_reports);
    qasm_replay_del(r);
}

static void test_replay_skips(void **state)
{
    (void)state;
    struct qasm_replay *r = mk(QASM_MBOX_NAT, QASM_MBOX_DEFAULT);
    uint8_t pkt[200];
    struct qasm_addr a, b;
    addr(&a, 9, 9999);
    addr(&b, 1, 4433);
    ssize_t n = qasm_ipudp_build(pkt, sizeof(pkt), &a, &b, (const uint8_t *)"hello", 5, 64);
    /* snap-length cut */
    qasm_replay_frame(r, T0, DLT_RAW, pkt, 25, (size_t)n);
    /* a fragment */
    pkt[6] = 0x20;
    qasm_replay_frame(r, T0, DLT_RAW, pkt, (size_t)n, (size_t)n);
    pkt[6] = 0;
    /* TCP */
    pkt[9] = 6;
    qasm_replay_frame(r, T0, DLT_RAW, pkt, (size_t)n, (size_t)n);
    pkt[9] = 17;
    /* ARP over Ethernet, an unsupported link type */
    uint8_t arp[42] = { 0 };
    arp[12] = 0x08, arp[13] = 0x06;
    qasm_replay_frame(r, T0, DLT_EN10MB, arp, sizeof(arp), sizeof(arp));
    qasm_replay_frame(r, T0, DLT_IEEE802_11, arp, sizeof(arp), sizeof(arp));
    /* and a good one, not QUIC: given to the NAT as a client flow */
    qasm_replay_frame(r, T0, DLT_RAW, pkt, (size_t)n, (size_t)n);
    qasm_replay_finish(r);
    const struct qasm_replay_counts *c = qasm_replay_counts(r);
    assert_int_equal(c->packets, 6);
    assert_int_equal(c->truncated, 1);
    assert_int_equal(c->fragments, 1);
    assert_int_equal(c->not_udp, 1);
    assert_int_equal(c->not_ip, 1);
    assert_int_equal(c->unsupported_link, 1);
    assert_int_equal(c->udp_packets, 1);
    assert_int_equal(c->quic_packets, 0);
    assert_int_equal(c->mbox_packets, 1);
    qasm_replay_del(r);
}

static void test_replay_other_hop_and_clock(void **state)
{
    (void)state;
    struct qasm_replay *r = mk(QASM_MBOX_NAT, QASM_MBOX_DEFAULT);
    uint8_t p[1400];
    struct qasm_addr c0, srv, pub, real;
    struct qasm_cid odcid, scid;
    addr(&c0, 1, 50000);
    addr(&srv, 1, 5000);   /* the middlebox the client talks to */
    addr(&pub, 1, 40000);  /* its public side */
    addr(&real, 1, 4433);  /* the real server */
    cid(&odcid, 0xc0, 0);
    cid(&scid, 0xc1, 0);
    size_t n = long_hdr(p, 0, &odcid, &scid, 1200 - 28);
    udp(r, T0, &c0, &srv, p, n);
    udp(r, T0 + 10 * QASM_US, &pub, &real, p, n); /* same Initial, second hop */
    udp(r, T0 - QASM_MS, &pub, &real, p, n);      /* and a timestamp going backwards */
    qasm_replay_finish(r);
    const struct qasm_replay_counts *c = qasm_replay_counts(r);
    assert_int_equal(c->other_hop, 2);
    assert_int_equal(c->mbox_packets, 1);
    assert_int_equal(c->time_backwards, 1);
    assert_int_equal(qasm_replay_nconns(r), 1);
    assert_int_equal(qasm_replay_conn(r, 0)->server.port, 5000);
    qasm_replay_del(r);
}

struct collected {
    int n;
    struct qasm_ipudp pu[32];
    uint8_t buf[32][1600];
};

static void collect(void *ud, qasm_tstamp t, const uint8_t *ip, size_t len)
{
    struct collected *col = ud;
    (void)t;
    assert_true(col->n < 32 && len <= sizeof(col->buf[0]));
    memcpy(col->buf[col->n], ip, len);
    /* every packet written parses with correct checksums */
    assert_int_equal(qasm_ipudp_parse(&col->pu[col->n], col->buf[col->n], len,
                                      QASM_IPUDP_F_VERIFY_CSUM), 0);
    col->n++;
}

static void test_replay_write_translated(void **state)
{
    (void)state;
    static struct collected col;
    struct qasm_replay_config cfg;
    struct qasm_replay *r;
    memset(&cfg, 0, sizeof(cfg));
    memset(&col, 0, sizeof(col));
    qasm_mbox_config_init(&cfg.mbox, QASM_MBOX_NAT, QASM_MBOX_DEFAULT);
    cfg.capture_reports = 1;
    cfg.out = collect;
    cfg.out_ud = &col;
    assert_int_equal(qasm_replay_new(&r, &cfg), 0);
    connection(r, 1);
    qasm_replay_finish(r);
    assert_int_equal(col.n, 14); /* reports are not written */
    assert_int_equal(qasm_replay_counts(r)->written, 14);
    /* client -> server leaves from the public address; server -> client goes back to the client */
    assert_int_equal(col.pu[0].flow.src.port, cfg.mbox.nat_port_min);
    assert_int_equal(col.pu[0].flow.dst.port, 4433);
    assert_int_equal(col.pu[1].flow.src.port, 4433);
    assert_int_equal(col.pu[1].flow.dst.port, 50000);
    assert_int_equal(col.pu[13].flow.dst.port, 50001);
    qasm_replay_del(r);
}

/* --pad-truncated: a datagram whose headers were captured is used with zeros for
 * the missing bytes; one whose UDP header was cut, or a cut report, is not. */
static void test_replay_pad_truncated(void **state)
{
    (void)state;
    struct qasm_replay_config cfg;
    struct qasm_replay *r;
    memset(&cfg, 0, sizeof(cfg));
    qasm_mbox_config_init(&cfg.mbox, QASM_MBOX_NAT, QASM_MBOX_DEFAULT);
    cfg.capture_reports = 1;
    cfg.pad_truncated = 1;
    assert_int_equal(qasm_replay_new(&r, &cfg), 0);
    uint8_t pkt[1400], payload[1200];
    struct qasm_addr a, b, tracker;
    addr(&a, 1, 50000);
    addr(&b, 1, 4433);
    addr(&tracker, 1, 4790);
    memset(payload, 0x77, sizeof(payload));
    ssize_t n = qasm_ipudp_build(pkt, sizeof(pkt), &a, &b, payload, sizeof(payload), 64);
    qasm_replay_frame(r, T0, DLT_RAW, pkt, 96, (size_t)n);    /* headers + 68 bytes */
    qasm_replay_frame(r, T0, DLT_RAW, pkt, 24, (size_t)n);    /* UDP header cut */
    struct qasm_proto_msg m;
    uint8_t buf[256];
    qasm_proto_msg_init(&m, QASM_PROTO_REPORT_ADDR, 0);
    cid(&m.u.report.odcid, 0xc0, 0);
    m.u.report.client0 = a;
    m.u.report.client = a;
    m.u.report.seq = 1;
    ssize_t mlen = qasm_proto_encode(buf, sizeof(buf), &m);
    n = qasm_ipudp_build(pkt, sizeof(pkt), &a, &tracker, buf, (size_t)mlen, 64);
    qasm_replay_frame(r, T0, DLT_RAW, pkt, (size_t)n - 4, (size_t)n); /* a cut report */
    qasm_replay_finish(r);
    const struct qasm_replay_counts *c = qasm_replay_counts(r);
    assert_int_equal(c->padded, 1);
    assert_int_equal(c->truncated, 2);
    assert_int_equal(c->mbox_packets, 1);
    assert_int_equal(c->reports_applied, 0);
    qasm_replay_del(r);
}

/* With a tracker farther away than the hold's ceiling (100 ms), the reactive NAT gives up
 * on the migrated packet (a second mapping); with a nearer tracker, even one whose answer
 * comes after --hold (2 ms), it follows the migration. */
static void test_replay_tracker_rtt(void **state)
{
    (void)state;
    static const struct {
        qasm_duration rtt;
        size_t ports;
    } cases[] = { { 0, 1 }, { 500 * QASM_US, 1 }, { 10 * QASM_MS, 1 }, { 150 * QASM_MS, 2 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qasm_replay_config cfg;
        struct qasm_replay *r;
        memset(&cfg, 0, sizeof(cfg));
        qasm_mbox_config_init(&cfg.mbox, QASM_MBOX_NAT, QASM_MBOX_REACTIVE);
        cfg.capture_reports = 1;
        cfg.tracker_rtt = cases[i].rtt;
        assert_int_equal(qasm_replay_new(&r, &cfg), 0);
        connection(r, 1);
        qasm_replay_finish(r);
        struct qasm_mbox_stats st;
        qasm_mbox_get_stats(qasm_replay_mbox(r), &st);
        assert_int_equal(qasm_replay_conn(r, 0)->nports, cases[i].ports);
        assert_int_equal(qasm_replay_conn(r, 0)->forwarded, 14);
        assert_int_equal(st.held_now, 0);
        if (cases[i].ports == 2)
            assert_true(st.hold_timeouts > 0);
        else
            assert_int_equal(st.migrations, 1);
        qasm_replay_del(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_nat_ports_per_mode),
        cmocka_unit_test(test_replay_lb_backends),
        cmocka_unit_test(test_replay_report_source_check),
        cmocka_unit_test(test_replay_events),
        cmocka_unit_test(test_replay_skips),
        cmocka_unit_test(test_replay_other_hop_and_clock),
        cmocka_unit_test(test_replay_write_translated),
        cmocka_unit_test(test_replay_tracker_rtt),
        cmocka_unit_test(test_replay_pad_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
