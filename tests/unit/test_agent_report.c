/*
 * Unit tests for client-agent/agent_report.c: every agent event encodes to a
 * tracker report (lib/proto.h) that decodes back to the same facts; report
 * sequence numbers grow; refresh carries the full, bounded state; with the
 * tracker's shared key (QASM_TRACKER_KEY) every report carries a key MAC
 * that verifies under it, and only under it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "client-agent/agent_report.h"
#include "client-agent/agent_state.h"
#include "auth.h"
#include "proto.h"

static struct qasm_cid mkcid(uint8_t tag, uint8_t len)
{
    struct qasm_cid c;
    memset(&c, 0, sizeof(c));
    c.len = len;
    for (uint8_t i = 0; i < len; i++)
        c.data[i] = (uint8_t)(tag + i);
    return c;
}

static struct qasm_addr mkaddr(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse(&a, s), 0);
    return a;
}

struct fx {
    struct qasm_agent_conn c;
    struct qasm_agent_evq q;
    struct qasm_addr local, remote;
    struct qasm_cid odcid, scid;
};

static void setup_conn(struct fx *f)
{
    f->odcid = mkcid(0x10, 18);
    f->scid = mkcid(0x20, 17);
    f->local = mkaddr("127.0.0.1:40000");
    f->remote = mkaddr("[::1]:4433");
    qasm_agent_evq_init(&f->q);
    qasm_agent_conn_open(&f->c, &f->odcid, &f->scid, &f->local, &f->remote, 1, &f->q);
}

/* Encodes event |i| of the queue and decodes it back into |m|. */
static void roundtrip(struct fx *f, size_t i, struct qasm_proto_msg *m)
{
    uint8_t buf[QASM_PROTO_MAX_MSG];
    ssize_t n = qasm_agent_report_encode(buf, sizeof(buf), &f->c, &f->q.ev[i], NULL);
    assert_true(n >= QASM_PROTO_HDR_LEN);
    assert_int_equal(qasm_proto_decode(m, buf, (size_t)n), 0);
    assert_true(qasm_proto_is_report(m->hdr.type));
    assert_true(qasm_cid_eq(&m->u.report.odcid, &f->odcid));
    assert_true(qasm_addr_eq(&m->u.report.client0, &f->local));
}

static void test_open_report(void **state)
{
    (void)state;
    struct fx f;
    struct qasm_proto_msg m;
    setup_conn(&f);
    roundtrip(&f, 0, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_OPEN);
    assert_int_equal(m.u.report.seq, 1);
    assert_true(qasm_cid_eq(&m.u.report.scid, &f.scid));
    assert_true(qasm_addr_eq(&m.u.report.server, &f.remote));
    assert_true(qasm_addr_eq(&m.u.report.client, &f.local));
}

static void test_key_mac(void **state)
{
    (void)state;
    struct fx f;
    struct qasm_proto_msg m;
    struct qasm_auth_key k, other;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    assert_int_equal(qasm_auth_key_set(&k, "the tracker's shared key", 24), 0);
    assert_int_equal(qasm_auth_key_set(&other, "not the tracker's key", 21), 0);
    setup_conn(&f);
    ssize_t n = qasm_agent_report_encode(buf, sizeof(buf), &f.c, &f.q.ev[0], &k);
    assert_true(n > 0);
    assert_int_equal(qasm_proto_decode(&m, buf, (size_t)n), 0);
    assert_int_equal(m.u.report.key_mac_len, QASM_PROTO_MAC_LEN);
    assert_int_equal(qasm_auth_report_check(&k, m.hdr.type, &m.u.report), QASM_AUTH_VALID);
    assert_int_equal(qasm_auth_report_check(&other, m.hdr.type, &m.u.report), QASM_AUTH_FORGED);
    /* The connection MAC is there too, under the connection's secret. */
    assert_true(qasm_proto_report_verify(m.hdr.type, &m.u.report, f.c.secret));
    /* An empty key: no key MAC. */
    struct qasm_auth_key none = { 0 };
    n = qasm_agent_report_encode(buf, sizeof(buf), &f.c, &f.q.ev[0], &none);
    assert_int_equal(qasm_proto_decode(&m, buf, (size_t)n), 0);
    assert_int_equal(m.u.report.key_mac_len, 0);
}

static void test_dcid_reports_and_seq(void **state)
{
    (void)state;
    struct fx f;
    struct qasm_proto_msg m;
    struct qasm_cid srv = mkcid(0x70, 8), sp = mkcid(0x90, 8);
    setup_conn(&f);
    roundtrip(&f, 0, &m); /* OPEN: seq 1 */
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &srv, NULL, NULL, 2, &f.q);  /* seq unknown -> 0 */
    qasm_agent_conn_learn(&f.c, 5, &sp, 3, &f.q);
    qasm_agent_conn_deactivate(&f.c, 5, &sp, 4, &f.q);
    assert_int_equal(f.q.n, 3);

    roundtrip(&f, 0, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_DCID_NEW);
    assert_int_equal(m.u.report.seq, 2);
    assert_true(qasm_cid_eq(&m.u.report.dcid.cid, &srv));
    assert_int_equal(m.u.report.dcid.seq, 0);

    roundtrip(&f, 1, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_DCID_NEW);
    assert_int_equal(m.u.report.seq, 3);
    assert_int_equal(m.u.report.dcid.seq, 5);
    assert_true(qasm_cid_eq(&m.u.report.dcid.cid, &sp));

    roundtrip(&f, 2, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_DCID_RETIRE);
    assert_int_equal(m.u.report.seq, 4);
    assert_int_equal(m.u.report.dcid.seq, 5);
}

static void test_addr_and_close_reports(void **state)
{
    (void)state;
    struct fx f;
    struct qasm_proto_msg m;
    struct qasm_addr a2 = mkaddr("127.0.0.1:40001");
    setup_conn(&f);
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, NULL, &a2, NULL, 2, &f.q);
    qasm_agent_conn_close(&f.c, QASM_AGENT_CLOSE_DRAINING, 3, &f.q);
    roundtrip(&f, 0, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_ADDR);
    assert_true(qasm_addr_eq(&m.u.report.client, &a2));
    roundtrip(&f, 1, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_CLOSE);
    assert_true(qasm_addr_eq(&m.u.report.client, &a2)); /* the address in use now */
}

/* An address announced ahead: ADDR naming it (signed like any report); REFRESH lists it,
 * the current address unchanged. */
static void test_announce_report_and_refresh(void **state)
{
    (void)state;
    struct fx f;
    struct qasm_proto_msg m;
    struct qasm_addr a2 = mkaddr("127.0.0.1:40009");
    setup_conn(&f);
    qasm_agent_evq_init(&f.q);
    assert_int_equal(qasm_agent_conn_announce(&f.c, &a2, 2, &f.q), 1);
    qasm_agent_conn_tick(&f.c, 100 * QASM_SEC, QASM_SEC, &f.q);
    roundtrip(&f, 0, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_ADDR);
    assert_true(qasm_addr_eq(&m.u.report.client, &a2));
    assert_true(qasm_addr_eq(&m.u.report.client0, &f.c.client0));
    roundtrip(&f, 1, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_REFRESH);
    assert_int_equal(m.u.report.conn.nclients, 2);
    assert_true(qasm_addr_eq(&m.u.report.conn.clients[1], &a2));
    assert_int_equal(m.u.report.conn.current, 0); /* still the first address */
    assert_true(qasm_addr_eq(&m.u.report.client, &f.c.local));
}

static void test_refresh_full_state_bounded(void **state)
{
    (void)state;
    struct fx f;
    struct qasm_proto_msg m;
    struct qasm_cid srv = mkcid(0x70, 8), mig = mkcid(0xa0, 8);
    setup_conn(&f);
    qasm_agent_conn_observe(&f.c, &srv, NULL, NULL, 2, &f.q);
    qasm_agent_conn_activate(&f.c, 0, &srv, 2, &f.q);
    for (int i = 0; i < 20; i++) {
        struct qasm_cid c = mkcid((uint8_t)(0xb0 + i), 8);
        qasm_agent_conn_learn(&f.c, (uint64_t)(i + 1), &c, 3, &f.q);
    }
    qasm_agent_conn_activate(&f.c, 30, &mig, 4, &f.q);
    for (int i = 0; i < 12; i++) { /* more addresses than a record holds */
        struct qasm_addr a = mkaddr("127.0.0.1:1");
        a.port = (uint16_t)(50000 + i);
        qasm_agent_conn_observe(&f.c, &mig, &a, NULL, 5, &f.q);
    }
    qasm_agent_evq_init(&f.q);
    assert_int_equal(qasm_agent_conn_tick(&f.c, 100, 10, &f.q), 1);
    roundtrip(&f, 0, &m);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_REFRESH);
    const struct qasm_proto_conn *pc = &m.u.report.conn;
    assert_true(qasm_cid_eq(&pc->odcid, &f.odcid));
    assert_true(qasm_cid_eq(&pc->scid, &f.scid));
    assert_true(qasm_addr_eq(&pc->server, &f.remote));
    assert_int_equal(pc->dcid_len, 8);
    assert_int_equal(pc->ndcids, QASM_PROTO_MAX_DCIDS);
    /* Current first, then the other active ones, then spares. */
    assert_true(qasm_cid_eq(&pc->dcids[0].cid, &mig));
    assert_int_equal(pc->dcids[0].seq, 30);
    assert_true(qasm_cid_eq(&pc->dcids[1].cid, &srv));
    assert_int_equal(qasm_proto_conn_find_dcid(pc, &f.odcid), -1);
    assert_int_equal(pc->nclients, QASM_PROTO_MAX_CLIENTS);
    assert_true(qasm_addr_eq(&pc->clients[0], &f.local));
    assert_true(qasm_addr_eq(&pc->clients[pc->current], &f.c.local));
    assert_int_equal(pc->clients[pc->current].port, 50011);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_report),
        cmocka_unit_test(test_key_mac),
        cmocka_unit_test(test_dcid_reports_and_seq),
        cmocka_unit_test(test_addr_and_close_reports),
        cmocka_unit_test(test_announce_report_and_refresh),
        cmocka_unit_test(test_refresh_full_state_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
