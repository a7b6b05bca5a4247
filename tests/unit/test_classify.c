/* Unit tests for the QUIC-aware classification shared by the three middleboxes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <cmocka.h>

#include "mbox_util.h"
#include "proto.h"
#include "classify.h"

#define SRV "192.0.2.1:443"
#define C1 "10.0.0.45:10001"
#define C2 "10.0.0.45:10002"

static void test_classify_kinds(void **state)
{
    (void)state;
    struct tpkt p;
    struct qasm_cid d, o = t_cid(1), s = t_cid(2);
    t_initial(&p, &o, &s);
    assert_int_equal(qasm_classify(p.buf, p.len, -1, &d), QASM_PKT_INITIAL);
    assert_true(qasm_cid_eq(&d, &o));
    assert_int_equal(qasm_classify_server_cid_len(p.buf, p.len), T_CID_LEN);
    t_long(&p, 2, &o, &s, 100);
    assert_int_equal(qasm_classify(p.buf, p.len, -1, &d), QASM_PKT_LONG);
    /* short header: needs the length; too short for pn + sample is not QUIC */
    t_short(&p, &o, 20);
    assert_int_equal(qasm_classify(p.buf, p.len, -1, &d), QASM_PKT_SHORT_NOLEN);
    assert_int_equal(qasm_classify(p.buf, p.len, 8, &d), QASM_PKT_SHORT);
    assert_true(qasm_cid_eq(&d, &o));
    assert_int_equal(qasm_classify(p.buf, p.len, 21, &d), QASM_PKT_NONQUIC);
    t_short(&p, &o, 19);
    assert_int_equal(qasm_classify(p.buf, p.len, 8, &d), QASM_PKT_NONQUIC);
    assert_int_equal(qasm_classify_server_cid_len(p.buf, p.len), -1);
    /* fixed bit clear, empty, unknown version, version negotiation */
    p.buf[0] = 0x03;
    assert_int_equal(qasm_classify(p.buf, p.len, 8, &d), QASM_PKT_NONQUIC);
    assert_int_equal(qasm_classify(p.buf, 0, 8, &d), QASM_PKT_NONQUIC);
    t_initial(&p, &o, &s);
    p.buf[4] = 2; /* version 0x00000002 */
    assert_int_equal(qasm_classify(p.buf, p.len, 8, &d), QASM_PKT_NONQUIC);
    p.buf[1] = p.buf[2] = p.buf[3] = p.buf[4] = 0;
    assert_int_equal(qasm_classify(p.buf, p.len, 8, &d), QASM_PKT_NONQUIC);
    assert_int_equal(qasm_classify_server_cid_len(p.buf, p.len), -1);
    /* truncated long header */
    t_initial(&p, &o, &s);
    assert_int_equal(qasm_classify(p.buf, 10, 8, &d), QASM_PKT_NONQUIC);
}

static void test_cidlen_table(void **state)
{
    (void)state;
    struct qasm_cidlen_table *t;
    assert_int_equal(qasm_cidlen_table_new(&t, 2, 42), 0);
    struct qasm_addr a = t_addr("192.0.2.1:443"), b = t_addr("192.0.2.2:443"),
                     c = t_addr("[2001:db8::1]:443");
    assert_int_equal(qasm_cidlen_get(t, &a), -1);
    assert_int_equal(qasm_cidlen_set(t, &a, 8), 1);
    assert_int_equal(qasm_cidlen_set(t, &a, 8), 0);
    assert_int_equal(qasm_cidlen_set(t, &a, 18), 1);
    assert_int_equal(qasm_cidlen_get(t, &a), 18);
    assert_int_equal(qasm_cidlen_set(t, &b, 0), 1);
    assert_int_equal(qasm_cidlen_get(t, &b), 0);
    assert_int_equal(qasm_cidlen_set(t, &c, 4), 1); /* bound 2: oldest (a) forgotten */
    assert_int_equal(qasm_cidlen_count(t), 2);
    assert_int_equal(qasm_cidlen_get(t, &a), -1);
    assert_int_equal(qasm_cidlen_get(t, &c), 4);
    qasm_cidlen_table_del(t);
}

static struct qasm_mbox *rl_aware(enum qasm_mbox_mode mode)
{
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, mode);
    cfg.rl_rate = 1e6;
    cfg.rl_burst = 1e6;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    return m;
}

static void handshake(struct qasm_mbox *m)
{
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid odcid = t_cid(1), ccid = t_cid(9), s1 = t_cid(2);
    t_initial(&p, &odcid, &ccid);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    t_long(&p, 0, &ccid, &s1, 1200);
    assert_int_equal(t_send(m, &p, SRV, C1, QASM_MBOX_FROM_SERVER, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
}

/* New DCIDs on the connection's own 5-tuple: no tracker round trip, no DCID
 * lookup (the 5-tuple says which connection it is), same state. */
static void test_rotation_on_own_tuple(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_aware(QASM_MBOX_REACTIVE);
    handshake(m);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid odcid = t_cid(1), s1 = t_cid(2), s2 = t_cid(3);
    const struct qasm_cid *seq[4] = {&s1, &s1, &s2, &s1};
    for (int i = 0; i < 4; i++) {
        t_short(&p, seq[i], 40);
        assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, (qasm_tstamp)i + 1, &v),
                         QASM_MBOX_FORWARD);
        assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
        assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
        assert_true(qasm_cid_eq(&v.odcid, &odcid));
    }
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.tracker_queries, 0);
    assert_int_equal(st.mappings, 1);
    assert_int_equal(st.flows, 1);
    /* the rotated DCID from a new address is unknown: held and asked */
    uint64_t misses = t_stats(m).cache_misses;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 10, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_stats(m).cache_misses, misses + 1);
    qasm_mbox_del(m);
}

/* A second Initial with another DCID during the handshake (after Retry) stays on the
 * connection; an Initial on the 5-tuple of an established connection is a new one. */
static void test_initial_retry_and_tuple_reuse(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_aware(QASM_MBOX_PROACTIVE);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid odcid = t_cid(1), ccid = t_cid(9), retry = t_cid(5), s1 = t_cid(2);
    t_initial(&p, &odcid, &ccid);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    t_initial(&p, &retry, &ccid);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_FORWARD);
    assert_true(qasm_cid_eq(&v.odcid, &odcid));
    assert_int_equal(t_stats(m).conns, 1);
    /* server Handshake, then 1-RTT from the client: established */
    t_long(&p, 2, &ccid, &s1, 100);
    assert_int_equal(t_send(m, &p, SRV, C1, QASM_MBOX_FROM_SERVER, 2, &v), QASM_MBOX_FORWARD);
    t_short(&p, &s1, 40);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 3, &v), QASM_MBOX_FORWARD);
    /* a new connection from the same port */
    struct qasm_cid odcid2 = t_cid(7);
    t_initial(&p, &odcid2, &ccid);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 4, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    assert_true(qasm_cid_eq(&v.odcid, &odcid2));
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.conns, 2);
    assert_int_equal(st.tracker_subscribes, 2);
    qasm_mbox_del(m);
}

static void test_query_dedupe_and_request_bound(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_REACTIVE);
    cfg.rl_rate = 1e6;
    cfg.rl_burst = 1e6;
    cfg.max_requests = 1;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    handshake(m);
    struct tpkt p1, p2, p3;
    struct qasm_mbox_verdict v;
    struct qasm_cid a = t_cid(3), b = t_cid(4);
    t_short(&p1, &a, 40);
    t_short(&p2, &a, 40);
    t_short(&p3, &b, 40);
    assert_int_equal(t_send(m, &p1, C2, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_send(m, &p2, "10.0.0.9:9", SRV, QASM_MBOX_FROM_CLIENT, 2, &v),
                     QASM_MBOX_HOLD);
    /* request queue full (not drained): the next unknown DCID gets default treatment */
    assert_int_equal(t_send(m, &p3, "10.0.0.8:8", SRV, QASM_MBOX_FROM_CLIENT, 3, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_FLOW);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.tracker_queries, 1);
    assert_int_equal(st.requests_dropped, 1);
    assert_int_equal(st.held_now, 2);
    /* the answer attests only C2: one joins, the other gets default treatment */
    struct qasm_mbox_req r;
    assert_int_equal(qasm_mbox_next_request(m, &r), 1);
    struct qasm_cid odcid = t_cid(1);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &a);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    qasm_mbox_answer(m, r.id, &t.r, 4);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_ptr_equal(v.opaque, &p1);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_ptr_equal(v.opaque, &p2);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_FLOW);
    assert_int_equal(t_stats(m).released_joined, 1);
    assert_int_equal(t_stats(m).released_default, 1);
    qasm_mbox_del(m);
}

/* The attestation expires with the cache TTL: a migration after it needs a new query. */
static void test_attestation_ttl(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_aware(QASM_MBOX_PROACTIVE);
    handshake(m);
    struct qasm_cid odcid = t_cid(1), s2 = t_cid(3);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    qasm_mbox_push(m, &t.r, QASM_SEC);
    /* keep the connection alive past the TTL */
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid s1 = t_cid(2);
    t_short(&p, &s1, 40);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(
            t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, (qasm_tstamp)i * 30 * QASM_SEC, &v),
            QASM_MBOX_FORWARD);
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 150 * QASM_SEC, &v),
                     QASM_MBOX_HOLD);
    qasm_mbox_del(m);
}

static void test_tracker_reconnect_resubscribes(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_aware(QASM_MBOX_PROACTIVE);
    handshake(m);
    struct qasm_mbox_req r;
    assert_int_equal(t_req(m, QASM_MBOX_REQ_SUBSCRIBE, &r), 1);
    qasm_mbox_tracker_state(m, 0, 10);
    qasm_mbox_tracker_state(m, 0, 11); /* idempotent */
    assert_int_equal(qasm_mbox_next_request(m, &r), 0);
    qasm_mbox_tracker_state(m, 1, 12);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_SUBSCRIBE, &r), 1);
    struct qasm_cid odcid = t_cid(1);
    assert_true(qasm_cid_eq(&r.odcid, &odcid));
    assert_int_equal(t_stats(m).tracker_subscribes, 2);
    /* a closing push ends the subscription: no UNSUBSCRIBE at expiry */
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_client(&t, C1);
    t.r.closed = 1;
    qasm_mbox_push(m, &t.r, 13);
    qasm_mbox_expire(m, 1000 * QASM_SEC);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_UNSUBSCRIBE, &r), 0);
    assert_int_equal(t_stats(m).mappings, 0);
    qasm_mbox_del(m);
}

/* The lib/proto.h adapters. */
static void test_proto_adapters(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_aware(QASM_MBOX_REACTIVE);
    handshake(m);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    struct qasm_cid s2 = t_cid(3);
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    struct qasm_proto_conn c;
    memset(&c, 0, sizeof(c));
    c.odcid = t_cid(1);
    c.server = t_addr(SRV);
    c.dcid_len = 8;
    c.ndcids = 1;
    c.dcids[0].cid = s2;
    c.nclients = 2;
    c.clients[0] = t_addr(C1);
    c.clients[1] = t_addr(C2);
    c.current = 1;
    qasm_mbox_answer_conn(m, r.id, &c, 2);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_int_equal(v.path, QASM_MBOX_PATH_UPDATE);
    qasm_mbox_push_conn(m, QASM_PROTO_EV_CLOSED, &c, 3);
    assert_int_equal(t_stats(m).tracker_pushes, 1);
    qasm_mbox_answer_conn(m, 12345, NULL, 4);
    assert_int_equal(t_stats(m).tracker_late, 1);
    qasm_mbox_del(m);
}

/* A batch gives exactly the verdicts of one call per packet, in order. */
static void test_batch_equals_single(void **state)
{
    (void)state;
    for (int fn = 0; fn < 3; fn++) {
        struct qasm_mbox_config cfg;
        qasm_mbox_config_init(&cfg, (enum qasm_mbox_function)fn, QASM_MBOX_PROACTIVE);
        struct qasm_addr be[2] = {t_addr("10.1.0.1:1"), t_addr("10.1.0.2:1")};
        cfg.lb_backends = be;
        cfg.lb_nbackends = 2;
        cfg.rl_rate = 3;
        cfg.rl_burst = 3;
        struct qasm_mbox *a, *b;
        assert_int_equal(qasm_mbox_new(&a, &cfg), 0);
        assert_int_equal(qasm_mbox_new(&b, &cfg), 0);
        enum { N = 70 };
        static struct tpkt bufs[N];
        struct qasm_mbox_pkt pk[N];
        struct qasm_mbox_verdict va[N], vb[N];
        char src[32];
        for (int i = 0; i < N; i++) {
            struct qasm_cid o = t_cid((uint8_t)(i % 5)), c = t_cid(9);
            snprintf(src, sizeof(src), "10.0.0.%d:%d", 1 + i % 5, 1000 + i % 3);
            if (i % 7 == 0)
                t_initial(&bufs[i], &o, &c);
            else
                t_short(&bufs[i], &o, 30);
            int from_server = i % 4 == 3;
            const char *dst = fn == QASM_MBOX_NAT ? "127.0.0.1:40000" : src;
            pk[i] = from_server ? t_pkt(&bufs[i], SRV, dst, QASM_MBOX_FROM_SERVER)
                                : t_pkt(&bufs[i], src, SRV, QASM_MBOX_FROM_CLIENT);
        }
        for (int i = 0; i < N; i++)
            qasm_mbox_process(a, &pk[i], 1000, &va[i]);
        qasm_mbox_process_batch(b, pk, N, 1000, vb);
        for (int i = 0; i < N; i++) {
            assert_int_equal(va[i].action, vb[i].action);
            assert_int_equal(va[i].reason, vb[i].reason);
            assert_int_equal(va[i].path, vb[i].path);
            assert_int_equal(va[i].cls, vb[i].cls);
            assert_true(qasm_flow_eq(&va[i].flow, &vb[i].flow));
            assert_int_equal(va[i].public_port, vb[i].public_port);
            assert_int_equal(va[i].backend, vb[i].backend);
        }
        struct qasm_mbox_stats sa = t_stats(a), sb = t_stats(b);
        assert_int_equal(sa.mappings, sb.mappings);
        assert_int_equal(sa.packets_forwarded, sb.packets_forwarded);
        assert_true(sa.mappings > 0);
        qasm_mbox_del(a);
        qasm_mbox_del(b);
    }
}

static void test_flush(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_aware(QASM_MBOX_REACTIVE);
    handshake(m);
    struct tpkt p1, p2;
    struct qasm_mbox_verdict v;
    struct qasm_cid a = t_cid(3), b = t_cid(4);
    t_short(&p1, &a, 40);
    t_short(&p2, &b, 40);
    assert_int_equal(t_send(m, &p1, C2, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_send(m, &p2, C2, SRV, QASM_MBOX_FROM_CLIENT, 2, &v), QASM_MBOX_HOLD);
    qasm_mbox_flush(m);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_ptr_equal(v.opaque, &p1);
    assert_int_equal(v.action, QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_SHUTDOWN);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_ptr_equal(v.opaque, &p2);
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    assert_int_equal(t_stats(m).held_now, 0);
    /* a late answer finds nothing to release */
    struct qasm_mbox_req r;
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_answer(m, r.id, NULL, 3);
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    qasm_mbox_del(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_kinds),
        cmocka_unit_test(test_cidlen_table),
        cmocka_unit_test(test_rotation_on_own_tuple),
        cmocka_unit_test(test_initial_retry_and_tuple_reuse),
        cmocka_unit_test(test_query_dedupe_and_request_bound),
        cmocka_unit_test(test_attestation_ttl),
        cmocka_unit_test(test_tracker_reconnect_resubscribes),
        cmocka_unit_test(test_proto_adapters),
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
