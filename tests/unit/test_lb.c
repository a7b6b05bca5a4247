/* Unit tests for the load balancer core: hash choice, stickiness, migration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <cmocka.h>

#include "mbox_util.h"
#include "lb.h"

#define VIP "192.0.2.100:443"

static struct qasm_addr backends[2];

static struct qasm_mbox *lb_new(enum qasm_mbox_mode mode)
{
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_LB, mode);
    backends[0] = t_addr("10.1.0.1:4433");
    backends[1] = t_addr("10.1.0.2:4433");
    cfg.lb_backends = backends;
    cfg.lb_nbackends = 2;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    return m;
}

/* Finds a client port on 10.0.0.45 whose hash picks |want| of 2 backends. */
static const char *client_for(size_t want, int start)
{
    static char buf[2][64];
    static int which;
    for (int port = start; port < 65535; port++) {
        struct qasm_addr a = t_addr("10.0.0.45:1");
        a.port = (uint16_t)port;
        if (qasm_lb_pick(&a, 2) == want) {
            which ^= 1;
            snprintf(buf[which], sizeof(buf[which]), "10.0.0.45:%d", port);
            return buf[which];
        }
    }
    fail();
    return NULL;
}

static void test_pick(void **state)
{
    (void)state;
    size_t count[4] = {0};
    for (int port = 1; port <= 4000; port++) {
        struct qasm_addr a = t_addr("10.0.0.45:1");
        a.port = (uint16_t)port;
        size_t b = qasm_lb_pick(&a, 4);
        assert_true(b < 4);
        assert_int_equal(qasm_lb_pick(&a, 4), b); /* deterministic */
        count[b]++;
    }
    for (int i = 0; i < 4; i++)
        assert_true(count[i] > 800 && count[i] < 1200);
    struct qasm_addr v6 = t_addr("[2001:db8::1]:5000");
    assert_true(qasm_lb_pick(&v6, 3) < 3);
    assert_int_equal(qasm_lb_pick(&v6, 1), 0);
}

static void test_sticky_and_default_migration_breaks(void **state)
{
    (void)state;
    struct qasm_mbox *m = lb_new(QASM_MBOX_DEFAULT);
    const char *c1 = client_for(0, 10000);
    const char *c2 = client_for(1, 20000);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid d1 = t_cid(2), d2 = t_cid(3);
    t_short(&p, &d1, 40);
    assert_int_equal(t_send(m, &p, c1, VIP, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.backend, 0);
    assert_true(qasm_addr_eq(&v.flow.dst, &backends[0]));
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(t_send(m, &p, c1, VIP, QASM_MBOX_FROM_CLIENT, (qasm_tstamp)i, &v),
                         QASM_MBOX_FORWARD);
        assert_int_equal(v.backend, 0);
        assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
    }
    /* the migrated connection lands on the other backend */
    t_short(&p, &d2, 40);
    assert_int_equal(t_send(m, &p, c2, VIP, QASM_MBOX_FROM_CLIENT, 10, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.backend, 1);
    /* return traffic is forwarded untouched */
    assert_int_equal(t_send(m, &p, "192.0.2.100:443", c1, QASM_MBOX_FROM_SERVER, 11, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.backend, 0);
    assert_int_equal(t_stats(m).mappings, 2);
    qasm_mbox_del(m);
}

static void test_aware_keeps_backend(void **state)
{
    (void)state;
    for (int mode = QASM_MBOX_REACTIVE; mode <= QASM_MBOX_PROACTIVE; mode++) {
        struct qasm_mbox *m = lb_new((enum qasm_mbox_mode)mode);
        const char *c1 = client_for(0, 10000);
        const char *c2 = client_for(1, 20000);
        struct tpkt p;
        struct qasm_mbox_verdict v;
        struct qasm_mbox_req r;
        struct qasm_cid odcid = t_cid(1), ccid = t_cid(9), s1 = t_cid(2), s2 = t_cid(3);
        t_initial(&p, &odcid, &ccid);
        assert_int_equal(t_send(m, &p, c1, VIP, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
        assert_int_equal(v.backend, 0);
        assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
        /* backend's Handshake (from the backend address): CID length learned for the LB */
        t_long(&p, 2, &ccid, &s1, 300);
        assert_int_equal(t_send(m, &p, "10.1.0.1:4433", c1, QASM_MBOX_FROM_SERVER, 1, &v),
                         QASM_MBOX_FORWARD);
        assert_int_equal(t_stats(m).cid_lens_learned, 1);
        t_short(&p, &s1, 40);
        assert_int_equal(t_send(m, &p, c1, VIP, QASM_MBOX_FROM_CLIENT, 2, &v), QASM_MBOX_FORWARD);
        assert_int_equal(v.backend, 0);
        struct trec t;
        t_rec(&t, &odcid, VIP);
        t_rec_dcid(&t, &s1);
        t_rec_dcid(&t, &s2);
        t_rec_client(&t, c1);
        t_rec_client(&t, c2);
        t_short(&p, &s2, 40);
        if (mode == QASM_MBOX_PROACTIVE) {
            assert_int_equal(t_req(m, QASM_MBOX_REQ_SUBSCRIBE, &r), 1);
            qasm_mbox_push(m, &t.r, 3);
            assert_int_equal(t_send(m, &p, c2, VIP, QASM_MBOX_FROM_CLIENT, 4, &v),
                             QASM_MBOX_FORWARD);
        } else {
            assert_int_equal(t_send(m, &p, c2, VIP, QASM_MBOX_FROM_CLIENT, 4, &v), QASM_MBOX_HOLD);
            assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
            qasm_mbox_answer(m, r.id, &t.r, 5);
            assert_int_equal(qasm_mbox_next_release(m, &v), 1);
        }
        assert_int_equal(v.action, QASM_MBOX_FORWARD);
        assert_int_equal(v.backend, 0); /* hash of c2 would say 1 */
        assert_true(qasm_addr_eq(&v.flow.dst, &backends[0]));
        assert_int_equal(v.path, QASM_MBOX_PATH_UPDATE);
        assert_int_equal(t_stats(m).mappings, 1);
        /* a hijacker with the same DCID from the other backend's hash gets its own backend */
        const char *evil = client_for(1, 30000);
        if (mode == QASM_MBOX_PROACTIVE) {
            assert_int_equal(t_send(m, &p, evil, VIP, QASM_MBOX_FROM_CLIENT, 6, &v),
                             QASM_MBOX_HOLD);
            assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
            qasm_mbox_answer(m, r.id, &t.r, 7);
        } else {
            assert_int_equal(t_send(m, &p, evil, VIP, QASM_MBOX_FROM_CLIENT, 6, &v),
                             QASM_MBOX_HOLD);
            assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
            qasm_mbox_answer(m, r.id, NULL, 7);
        }
        assert_int_equal(qasm_mbox_next_release(m, &v), 1);
        assert_int_equal(v.backend, 1);
        assert_int_not_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
        qasm_mbox_del(m);
    }
}

/* A middlebox that never saw the Initial (restart) learns the connection from the tracker. */
static void test_record_creates_connection(void **state)
{
    (void)state;
    struct qasm_mbox *m = lb_new(QASM_MBOX_REACTIVE);
    const char *c1 = client_for(0, 10000);
    const char *c2 = client_for(1, 20000);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    struct qasm_cid odcid = t_cid(1), ccid = t_cid(9), s1 = t_cid(2);
    /* learn the CID length from any backend long header */
    t_long(&p, 2, &ccid, &s1, 300);
    assert_int_equal(t_send(m, &p, "10.1.0.2:4433", c1, QASM_MBOX_FROM_SERVER, 0, &v),
                     QASM_MBOX_FORWARD);
    t_short(&p, &s1, 40);
    assert_int_equal(t_send(m, &p, c2, VIP, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    struct trec t;
    t_rec(&t, &odcid, VIP);
    t_rec_dcid(&t, &s1);
    t_rec_client(&t, c1);
    t_rec_client(&t, c2);
    qasm_mbox_answer(m, r.id, &t.r, 2);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    assert_int_equal(v.backend, 0); /* hash of the first client address, as before a restart */
    assert_int_equal(t_stats(m).conns, 1);
    qasm_mbox_del(m);
}

/*
 * The LB's flow table is bounded by default: a spoofed flood larger than the
 * bound leaves it at the bound, and a new client still gets a backend. The
 * evicted flows tell the shell which (client, backend) socket to close.
 */
static void test_default_bound_spoofed_flood(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_LB, QASM_MBOX_DEFAULT);
    backends[0] = t_addr("10.1.0.1:4433");
    backends[1] = t_addr("10.1.0.2:4433");
    cfg.lb_backends = backends;
    cfg.lb_nbackends = 2;
    cfg.flow_events = 1;
    size_t bound = cfg.max_entries;
    printf("figure: lb default max_entries=%zu\n", bound);
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    size_t n = (bound ? bound : 65536) + 500;
    size_t fwd = t_flood(m, n, VIP, QASM_SEC);
    struct qasm_mbox_stats st = t_stats(m);
    printf("figure: lb flood of %zu spoofed flows: forwarded=%zu entries=%" PRIu64 "\n", n, fwd,
           st.mappings);
    assert_true(bound > 0);
    assert_true(st.mappings <= bound);
    assert_int_equal(st.entries_evicted, n - bound);
    /* each eviction names the client and the backend it was sent to */
    struct qasm_mbox_event ev;
    size_t closes = 0;
    while (qasm_mbox_next_event(m, &ev)) {
        assert_int_equal(ev.type, QASM_MBOX_EV_FLOW_CLOSE);
        assert_true(qasm_addr_eq(&ev.hop, &backends[qasm_lb_pick(&ev.addr, 2)]));
        closes++;
    }
    assert_int_equal(closes, n - bound);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    const char *c = client_for(1, 1000);
    assert_int_equal(t_send(m, &p, c, VIP, QASM_MBOX_FROM_CLIENT, 2 * QASM_SEC, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    assert_int_equal(v.backend, 1);
    qasm_mbox_del(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_sticky_and_default_migration_breaks),
        cmocka_unit_test(test_aware_keeps_backend),
        cmocka_unit_test(test_record_creates_connection),
        cmocka_unit_test(test_default_bound_spoofed_flood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
