/* Unit tests for the NAT core (middleboxes/core/mbox.c with function nat), time injected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <cmocka.h>

#include "mbox_util.h"

#define SRV "192.0.2.1:443"
#define C1 "10.0.0.45:10001"
#define C2 "10.0.0.45:10002"
#define C3 "10.0.0.46:10000"
#define EVIL "10.0.0.66:6666"
#define PUB "65.12.81.14"

static struct qasm_mbox *nat_new(enum qasm_mbox_mode mode, uint16_t pmin, uint16_t pmax)
{
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_NAT, mode);
    assert_int_equal(qasm_addr_parse_ip(&cfg.nat_public, PUB, 0), 0);
    cfg.nat_port_min = pmin;
    cfg.nat_port_max = pmax;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    return m;
}

static const char *pub(uint16_t port)
{
    static char buf[64];
    snprintf(buf, sizeof(buf), "%s:%u", PUB, port);
    return buf;
}

/* Client Initial from C1, server Initial back (teaches CID length), client short header. */
static uint16_t handshake(struct qasm_mbox *m, qasm_tstamp now)
{
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid odcid = t_cid(1), ccid = t_cid(9), scid1 = t_cid(2);
    t_initial(&p, &odcid, &ccid);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, now, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    uint16_t port = v.public_port;
    assert_true(port >= 40000 && port <= 40009);
    char s[QASM_ADDR_STRLEN];
    qasm_addr_format(s, sizeof(s), &v.flow.src);
    assert_string_equal(s, pub(port));
    t_long(&p, 0, &ccid, &scid1, 1200);
    assert_int_equal(t_send(m, &p, SRV, pub(port), QASM_MBOX_FROM_SERVER, now + 1, &v),
                     QASM_MBOX_FORWARD);
    qasm_addr_format(s, sizeof(s), &v.flow.dst);
    assert_string_equal(s, C1);
    t_short(&p, &scid1, 40);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, now + 2, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.public_port, port);
    assert_true(v.cls == QASM_MBOX_CLASS_QUIC_CONN || v.cls == QASM_MBOX_CLASS_FLOW);
    return port;
}

static void test_default_migration_new_mapping(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_DEFAULT, 40000, 40009);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid d1 = t_cid(2), d2 = t_cid(3);
    t_short(&p, &d1, 40);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    uint16_t p1 = v.public_port;
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    assert_int_equal(t_count_events(m, QASM_MBOX_EV_PORT_OPEN), 1);
    /* same 5-tuple: lookup, same port */
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 10, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
    assert_int_equal(v.public_port, p1);
    /* migration (port change, new DCID): a second mapping */
    t_short(&p, &d2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 20, &v), QASM_MBOX_FORWARD);
    assert_int_not_equal(v.public_port, p1);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_FLOW);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.mappings, 2);
    assert_int_equal(st.ports_in_use, 2);
    assert_int_equal(st.tracker_queries, 0);
    /* return traffic to the first port goes to the first private address */
    assert_int_equal(t_send(m, &p, SRV, pub(p1), QASM_MBOX_FROM_SERVER, 30, &v), QASM_MBOX_FORWARD);
    char s[QASM_ADDR_STRLEN];
    assert_string_equal(qasm_addr_format(s, sizeof(s), &v.flow.dst), C1);
    qasm_mbox_del(m);
}

static void test_pool_exhaustion_and_expiry(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_DEFAULT, 40000, 40001);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid d = t_cid(2);
    t_short(&p, &d, 40);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    uint16_t p1 = v.public_port;
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    /* traffic both ways on the second mapping: it becomes a stream (120 s) */
    assert_int_equal(t_send(m, &p, SRV, pub(v.public_port), QASM_MBOX_FROM_SERVER, 1, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(t_count_events(m, QASM_MBOX_EV_PORT_OPEN), 2);
    /* a third user is refused */
    assert_int_equal(t_send(m, &p, C3, SRV, QASM_MBOX_FROM_CLIENT, 2, &v), QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_POOL_EXHAUSTED);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.packets_dropped_by[QASM_MBOX_DROP_POOL_EXHAUSTED], 1);
    assert_int_equal(st.ports_high_water, 2);
    /* unreplied mapping expires after 30 s, the assured one stays */
    assert_int_equal(qasm_mbox_next_expiry(m), 30 * QASM_SEC);
    qasm_mbox_expire(m, 30 * QASM_SEC - 1);
    assert_int_equal(t_stats(m).mappings, 2);
    qasm_mbox_expire(m, 30 * QASM_SEC);
    assert_int_equal(t_stats(m).mappings, 1);
    struct qasm_mbox_event ev;
    assert_int_equal(qasm_mbox_next_event(m, &ev), 1);
    assert_int_equal(ev.type, QASM_MBOX_EV_PORT_CLOSE);
    assert_int_equal(ev.addr.port, p1);
    /* now the third user gets the freed port */
    assert_int_equal(t_send(m, &p, C3, SRV, QASM_MBOX_FROM_CLIENT, 31 * QASM_SEC, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.public_port, p1);
    /* the stream mapping lives 120 s after its last packet; C3's went at 61 s */
    qasm_mbox_expire(m, 61 * QASM_SEC);
    assert_int_equal(t_stats(m).mappings, 1);
    qasm_mbox_expire(m, 120 * QASM_SEC);
    assert_int_equal(t_stats(m).mappings, 1);
    qasm_mbox_expire(m, 121 * QASM_SEC + 1);
    assert_int_equal(t_stats(m).mappings, 0);
    assert_int_equal(t_stats(m).ports_in_use, 0);
    qasm_mbox_del(m);
}

/* Timers are lazy (no list move per packet) but an entry never expires early. */
static void test_expiry_after_last_packet(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_DEFAULT, 40000, 40009);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid d = t_cid(2);
    t_short(&p, &d, 40);
    qasm_tstamp last[3] = {500 * QASM_MS, 1500 * QASM_MS, 7 * QASM_SEC};
    const char *src[3] = {C1, C2, C3};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t_send(m, &p, src[i], SRV, QASM_MBOX_FROM_CLIENT, 0, &v),
                         QASM_MBOX_FORWARD);
        assert_int_equal(t_send(m, &p, src[i], SRV, QASM_MBOX_FROM_CLIENT, last[i], &v),
                         QASM_MBOX_FORWARD);
    }
    for (int i = 0; i < 3; i++) {
        /* still there just before 30 s after its last packet, gone at 30 s (+ <= 1 s) */
        qasm_mbox_expire(m, last[i] + 30 * QASM_SEC - 1);
        assert_int_equal(t_stats(m).mappings, (uint64_t)(3 - i));
        qasm_tstamp next = qasm_mbox_next_expiry(m);
        assert_true(next >= last[i] + 30 * QASM_SEC && next <= last[i] + 31 * QASM_SEC);
        qasm_mbox_expire(m, next);
        assert_int_equal(t_stats(m).mappings, (uint64_t)(2 - i));
    }
    qasm_mbox_del(m);
}

/* A fast path touches entries it forwarded for: they live on (by 5-tuple, by O-DCID). */
static void test_touch_keeps_entry(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_DEFAULT, 40000, 40009);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid d = t_cid(2);
    t_short(&p, &d, 40);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    struct qasm_flow f;
    memset(&f, 0, sizeof(f));
    f.src = t_addr(C1);
    f.dst = t_addr(SRV);
    f.proto = 17;
    assert_int_equal(qasm_mbox_touch(m, &f, NULL, 1, 29 * QASM_SEC), 1);
    /* Assured by the touch: udp_stream_timeout (120 s) after it, not 30 s after the packet. */
    qasm_mbox_expire(m, 100 * QASM_SEC);
    assert_int_equal(t_stats(m).mappings, 1);
    qasm_mbox_expire(m, 29 * QASM_SEC + 121 * QASM_SEC);
    assert_int_equal(t_stats(m).mappings, 0);
    f.src = t_addr(C2);
    assert_int_equal(qasm_mbox_touch(m, &f, NULL, 0, 200 * QASM_SEC), 0);
    qasm_mbox_del(m);
    /* Aware: a connection by its O-DCID. */
    m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), other = t_cid(7);
    assert_int_equal(qasm_mbox_touch(m, NULL, &odcid, 1, 100 * QASM_SEC), 1);
    assert_int_equal(qasm_mbox_touch(m, NULL, &other, 1, 100 * QASM_SEC), 0);
    qasm_mbox_expire(m, 200 * QASM_SEC);
    assert_int_equal(t_stats(m).mappings, 1);
    qasm_mbox_expire(m, 222 * QASM_SEC);
    assert_int_equal(t_stats(m).mappings, 0);
    qasm_mbox_del(m);
}

static void test_no_mapping(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_DEFAULT, 40000, 40009);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid d = t_cid(2);
    t_short(&p, &d, 40);
    assert_int_equal(t_send(m, &p, SRV, pub(40005), QASM_MBOX_FROM_SERVER, 0, &v), QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_NO_MAPPING);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    /* another server cannot use the mapping (conntrack reply tuple) */
    assert_int_equal(t_send(m, &p, "192.0.2.99:443", pub(v.public_port), QASM_MBOX_FROM_SERVER, 1,
                            &v),
                     QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_NO_MAPPING);
    /* malformed view */
    struct qasm_mbox_pkt pk = t_pkt(&p, C1, SRV, QASM_MBOX_FROM_CLIENT);
    pk.flow.src.family = 0;
    assert_int_equal(qasm_mbox_process(m, &pk, 2, &v), QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_MALFORMED);
    /* IPv6 through an IPv4 NAT */
    assert_int_equal(t_send(m, &p, "[2001:db8::1]:5", "[2001:db8::2]:443", QASM_MBOX_FROM_CLIENT,
                            3, &v),
                     QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_MALFORMED);
    qasm_mbox_del(m);
}

static void test_reactive_migration_keeps_port(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_mbox_req r;
    assert_int_equal(t_req(m, QASM_MBOX_REQ_SUBSCRIBE, &r), 0); /* reactive: no subscription */
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid odcid = t_cid(1), s1 = t_cid(2), s2 = t_cid(3);
    /* migration: new port, new DCID -> held, tracker asked with a wait */
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    assert_true(qasm_cid_eq(&r.dcid, &s2));
    assert_int_equal(r.wait_ms, 2);
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s1);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    qasm_mbox_answer(m, r.id, &t.r, QASM_MS + 100);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.action, QASM_MBOX_FORWARD);
    assert_int_equal(v.public_port, port);
    assert_int_equal(v.path, QASM_MBOX_PATH_UPDATE);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_ptr_equal(v.opaque, &p);
    assert_true(qasm_cid_eq(&v.odcid, &odcid));
    /* return traffic goes to the latest private address */
    char s[QASM_ADDR_STRLEN];
    assert_int_equal(t_send(m, &p, SRV, pub(port), QASM_MBOX_FROM_SERVER, 2 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    assert_string_equal(qasm_addr_format(s, sizeof(s), &v.flow.dst), C2);
    /* address change (Table 1: 10.0.0.46), DCID already known from the cache: a new
     * query is needed to attest the address */
    struct qasm_cid s3 = t_cid(4);
    t_rec_dcid(&t, &s3);
    t_rec_client(&t, C3);
    t_short(&p, &s3, 40);
    assert_int_equal(t_send(m, &p, C3, SRV, QASM_MBOX_FROM_CLIENT, 3 * QASM_MS, &v),
                     QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_answer(m, r.id, &t.r, 3 * QASM_MS + 10);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.public_port, port);
    /* and back to C1 with an old DCID: the flow is known, lookup */
    t_short(&p, &s1, 40);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 4 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.public_port, port);
    assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.mappings, 1);
    assert_int_equal(st.ports_in_use, 1);
    assert_int_equal(st.migrations, 2);
    assert_int_equal(st.released_joined, 2);
    assert_int_equal(st.tracker_waits, 2);
    assert_int_equal(st.flows, 3);
    assert_int_equal(t_count_events(m, QASM_MBOX_EV_PORT_OPEN), 1);
    qasm_mbox_del(m);
}

struct table_row {
    int n;
    size_t nclients;
    uint16_t port;
};

static int count_rows(const struct qasm_mbox_entry_info *e, void *arg)
{
    struct table_row *t = arg;
    t->n++;
    t->nclients = e->nclients;
    t->port = e->public_port;
    return 0;
}

static void test_proactive_push_before_packet(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_PROACTIVE, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_mbox_req r;
    struct qasm_cid odcid = t_cid(1), s1 = t_cid(2), s2 = t_cid(3);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_SUBSCRIBE, &r), 1);
    assert_true(qasm_cid_eq(&r.odcid, &odcid));
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s1);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    qasm_mbox_push(m, &t.r, QASM_MS);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 2 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.public_port, port);
    assert_int_equal(v.path, QASM_MBOX_PATH_UPDATE);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 0); /* no query needed */
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.migrations, 1);
    assert_int_equal(st.tracker_pushes, 1);
    assert_int_equal(st.packets_held, 0);
    struct table_row tr = {0};
    qasm_mbox_foreach(m, count_rows, &tr);
    assert_int_equal(tr.n, 1);
    assert_int_equal(tr.nclients, 2);
    assert_int_equal(tr.port, port);
    /* expiry of the connection sends an UNSUBSCRIBE and closes its port */
    qasm_mbox_expire(m, 200 * QASM_SEC);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_UNSUBSCRIBE, &r), 1);
    assert_int_equal(t_count_events(m, QASM_MBOX_EV_PORT_CLOSE), 1);
    qasm_mbox_del(m);
}

/* The push of a new DCID may precede the push of the agent's address
 * report: a packet held from the new address stays held until a push (or
 * the query's answer) attests that address, then joins its connection. */
static void test_proactive_push_without_address_keeps_holding(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_PROACTIVE, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), s2 = t_cid(3);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    qasm_mbox_push(m, &t.r, QASM_MS + 5); /* DCID known, C2 not yet attested */
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    t_rec_client(&t, C2);
    qasm_mbox_push(m, &t.r, QASM_MS + 9); /* the address report's push */
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.action, QASM_MBOX_FORWARD);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_int_equal(v.public_port, port);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.released_default, 0);
    assert_int_equal(st.mappings_created, 1);
    qasm_mbox_del(m);
}

/* A packet held during the race, then the push arrives: released joined. */
static void test_proactive_push_releases_held(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_PROACTIVE, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), s2 = t_cid(3);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C2);
    qasm_mbox_push(m, &t.r, QASM_MS + 5);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.public_port, port);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_int_equal(v.held_since, QASM_MS);
    /* the late answer to the query is harmless */
    struct qasm_mbox_req r;
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_answer(m, r.id, &t.r, QASM_MS + 10);
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    assert_int_equal(t_stats(m).mappings, 1);
    qasm_mbox_del(m);
}

/* NAT rebinding in front of the client: same DCID, new port, no agent report. */
static void test_rebinding_without_new_dcid(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), s1 = t_cid(2);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    t_short(&p, &s1, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s1);
    t_rec_client(&t, C1); /* the tracker only knows C1 */
    qasm_mbox_answer(m, r.id, &t.r, QASM_MS + 10);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.action, QASM_MBOX_FORWARD);
    assert_int_not_equal(v.public_port, port); /* default treatment: its own mapping */
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_FLOW);
    assert_int_equal(t_stats(m).unattested, 1);
    /* the connection's own return traffic still goes to C1 */
    char s[QASM_ADDR_STRLEN];
    assert_int_equal(t_send(m, &p, SRV, pub(port), QASM_MBOX_FROM_SERVER, 2 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    assert_string_equal(qasm_addr_format(s, sizeof(s), &v.flow.dst), C1);
    qasm_mbox_del(m);
}

/* An attacker sends the victim's DCIDs from its own address, in both modes. */
static void hijack(enum qasm_mbox_mode mode)
{
    struct qasm_mbox *m = nat_new(mode, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), s1 = t_cid(2), s2 = t_cid(3);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s1);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    if (mode == QASM_MBOX_PROACTIVE)
        qasm_mbox_push(m, &t.r, 10);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    const struct qasm_cid *ids[3] = {&s1, &s2, &odcid};
    for (int i = 0; i < 3; i++) {
        t_short(&p, ids[i], 40);
        enum qasm_mbox_action a = t_send(m, &p, EVIL, SRV, QASM_MBOX_FROM_CLIENT,
                                         (qasm_tstamp)(i + 1) * QASM_MS, &v);
        if (a == QASM_MBOX_HOLD) {
            assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
            qasm_mbox_answer(m, r.id, &t.r, (qasm_tstamp)(i + 1) * QASM_MS + 10);
            assert_int_equal(qasm_mbox_next_release(m, &v), 1);
        }
        assert_int_equal(v.action, QASM_MBOX_FORWARD);
        assert_int_not_equal(v.public_port, port);
        assert_int_not_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    }
    /* the victim's return traffic still goes to the victim */
    char s[QASM_ADDR_STRLEN];
    assert_int_equal(t_send(m, &p, SRV, pub(port), QASM_MBOX_FROM_SERVER, 10 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    assert_string_equal(qasm_addr_format(s, sizeof(s), &v.flow.dst), C1);
    struct qasm_mbox_stats st = t_stats(m);
    assert_true(st.unattested >= 1);
    assert_int_equal(st.mappings, 2); /* victim's + the attacker's own */
    qasm_mbox_del(m);
}

static void test_hijack_reactive(void **state)
{
    (void)state;
    hijack(QASM_MBOX_REACTIVE);
}

static void test_hijack_proactive(void **state)
{
    (void)state;
    hijack(QASM_MBOX_PROACTIVE);
}

static void test_hold_timeout_and_tracker_loss(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_cid s2 = t_cid(3), s3 = t_cid(4);
    struct tpkt p, p2;
    struct qasm_mbox_verdict v;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_SEC, &v), QASM_MBOX_HOLD);
    /* the tracker never answers: the hold ends at its ceiling (100 ms), not before */
    assert_int_equal(qasm_mbox_next_expiry(m), QASM_SEC + 100 * QASM_MS);
    qasm_mbox_expire(m, QASM_SEC + 100 * QASM_MS - 1);
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    qasm_mbox_expire(m, QASM_SEC + 100 * QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.action, QASM_MBOX_FORWARD);
    assert_int_not_equal(v.public_port, port);
    assert_int_equal(t_stats(m).hold_timeouts, 1);
    assert_int_equal(t_stats(m).released_default, 1);
    assert_int_equal(t_stats(m).held_past_hold, 1);
    assert_int_equal(t_stats(m).joined_past_hold, 0);
    /* the query is forgotten after query_timeout */
    qasm_mbox_expire(m, 3 * QASM_SEC);
    assert_int_equal(t_stats(m).tracker_timeouts, 1);
    /* tracker goes down while a packet is held: released at once, default */
    t_short(&p2, &s3, 40);
    assert_int_equal(t_send(m, &p2, C3, SRV, QASM_MBOX_FROM_CLIENT, 4 * QASM_SEC, &v),
                     QASM_MBOX_HOLD);
    qasm_mbox_tracker_state(m, 0, 4 * QASM_SEC + 1);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.action, QASM_MBOX_FORWARD);
    assert_ptr_equal(v.opaque, &p2);
    struct qasm_mbox_req r;
    while (qasm_mbox_next_request(m, &r))
        ;
    /* while down: no hold, no request, default treatment counted */
    struct qasm_cid s4 = t_cid(5);
    t_short(&p, &s4, 40);
    assert_int_equal(t_send(m, &p, "10.0.0.47:1", SRV, QASM_MBOX_FROM_CLIENT, 5 * QASM_SEC, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(qasm_mbox_next_request(m, &r), 0);
    assert_true(t_stats(m).tracker_unavailable >= 2);
    assert_int_equal(t_stats(m).tracker_down_events, 1);
    qasm_mbox_del(m);
}

/* The tracker answers after the hold's ceiling: the packet got its own mapping, then the
 * late answer moves the 5-tuple to the connection and the extra port is closed. */
static void test_late_answer_repairs(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    uint16_t port = handshake(m, 0);
    while (t_count_events(m, QASM_MBOX_EV_PORT_OPEN))
        ;
    struct qasm_cid odcid = t_cid(1), s2 = t_cid(3);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_expire(m, 101 * QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    uint16_t extra = v.public_port;
    assert_int_not_equal(extra, port);
    assert_int_equal(t_stats(m).mappings, 2);
    assert_int_equal(t_count_events(m, QASM_MBOX_EV_PORT_OPEN), 1);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    qasm_mbox_answer(m, r.id, &t.r, 105 * QASM_MS);
    struct qasm_mbox_event ev;
    assert_int_equal(qasm_mbox_next_event(m, &ev), 1);
    assert_int_equal(ev.type, QASM_MBOX_EV_PORT_CLOSE);
    assert_int_equal(ev.addr.port, extra);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 106 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.public_port, port);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.mappings, 1);
    assert_int_equal(st.adopted, 1);
    /* the default entry was made at 101 ms and adopted at 105 ms: the [2, 4) ms bucket */
    assert_int_equal(st.adopt_us[qasm_mbox_us_bucket(4 * QASM_MS)], 1);
    assert_int_equal(st.adopt_us[12], 1);
    qasm_mbox_del(m);
}

/*
 * The race under load: the agent's report reached the tracker in time, but
 * the tracker's answer (reactive) or push (proactive) reaches the core
 * later than --hold after the packet, because the tracker or the middlebox
 * was not scheduled at once. The shell's timer fires at --hold in between.
 * The packet must still join its connection: one mapping, not a transient
 * second one (which the server would see as a NAT rebinding).
 */
static void answer_after_hold(enum qasm_mbox_mode mode)
{
    struct qasm_mbox *m = nat_new(mode, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), s2 = t_cid(3);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    if (mode == QASM_MBOX_PROACTIVE)
        qasm_mbox_push(m, &t.r, 10); /* the new DCID is known, C2 is not attested yet */
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    assert_int_equal(r.wait_ms, 2); /* the tracker still decides at --hold */
    /* the shell's timer at --hold and a bit: the tracker has not answered yet */
    qasm_mbox_expire(m, QASM_MS + 2 * QASM_MS + 500 * QASM_US);
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    assert_int_equal(t_stats(m).held_now, 1);
    /* 5 ms after the packet, the attestation arrives */
    t_rec_client(&t, C2);
    if (mode == QASM_MBOX_PROACTIVE)
        qasm_mbox_push(m, &t.r, 6 * QASM_MS);
    else
        qasm_mbox_answer(m, r.id, &t.r, 6 * QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.action, QASM_MBOX_FORWARD);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_int_equal(v.public_port, port);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.mappings_created, 1);
    assert_int_equal(st.ports_high_water, 1);
    assert_int_equal(st.released_default, 0);
    assert_int_equal(st.hold_timeouts, 0);
    assert_int_equal(st.migrations, 1);
    qasm_mbox_del(m);
}

static void test_answer_after_hold_reactive(void **state)
{
    (void)state;
    answer_after_hold(QASM_MBOX_REACTIVE);
}

static void test_push_after_hold_proactive(void **state)
{
    (void)state;
    answer_after_hold(QASM_MBOX_PROACTIVE);
}

/* The same race, counted: a hold that outlived --hold and joined is a transient
 * mapping avoided; the time held and the answer's delay land in their buckets. */
static void test_hold_stats(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), s2 = t_cid(3), s3 = t_cid(4);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    /* answered after 1 ms: within --hold */
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_answer(m, r.id, &t.r, 2 * QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    /* answered after 10 ms: past --hold, joined */
    t_short(&p, &s3, 40);
    assert_int_equal(t_send(m, &p, C3, SRV, QASM_MBOX_FROM_CLIENT, 10 * QASM_MS, &v),
                     QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_expire(m, 15 * QASM_MS);
    t_rec_dcid(&t, &s3);
    t_rec_client(&t, C3);
    qasm_mbox_answer(m, r.id, &t.r, 20 * QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.released_joined, 2);
    assert_int_equal(st.held_past_hold, 1);
    assert_int_equal(st.joined_past_hold, 1);
    assert_int_equal(st.mappings_created, 1);
    /* 1 ms = 1000 us: bucket 10 ([512, 1024) us); 10 ms: bucket 14 ([8192, 16384) us) */
    assert_int_equal(qasm_mbox_us_bucket(QASM_MS), 10);
    assert_int_equal(qasm_mbox_us_bucket(999), 0);
    assert_int_equal(qasm_mbox_us_bucket(QASM_SEC * 1000), QASM_MBOX_US_BUCKETS - 1);
    assert_int_equal(st.hold_us[10], 1);
    assert_int_equal(st.hold_us[14], 1);
    assert_int_equal(st.answer_us[10], 1);
    assert_int_equal(st.answer_us[14], 1);
    qasm_mbox_del(m);
}

/* hold_ceiling <= hold_time: the fixed hold of before (a replay may want it). */
static void test_fixed_hold(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_NAT, QASM_MBOX_REACTIVE);
    cfg.hold_ceiling = 0;
    assert_int_equal(qasm_addr_parse_ip(&cfg.nat_public, PUB, 0), 0);
    cfg.nat_port_max = 40009;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    handshake(m, 0);
    struct qasm_cid d = t_cid(7);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    t_short(&p, &d, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_SEC, &v), QASM_MBOX_HOLD);
    assert_int_equal(qasm_mbox_next_expiry(m), QASM_SEC + 2 * QASM_MS);
    qasm_mbox_expire(m, QASM_SEC + 2 * QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_FLOW);
    assert_int_equal(t_stats(m).hold_timeouts, 1);
    qasm_mbox_del(m);
}

static void test_hold_overflow(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_NAT, QASM_MBOX_REACTIVE);
    cfg.hold_max_per_dcid = 2;
    cfg.hold_max = 3;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    struct tpkt p[6];
    struct qasm_mbox_verdict v;
    struct qasm_cid a = t_cid(3), b = t_cid(4);
    /* teach the CID length with a server long header first (no mapping: dropped, learned) */
    struct qasm_cid c0 = t_cid(7), s0 = t_cid(8);
    t_long(&p[0], 2, &c0, &s0, 100);
    assert_int_equal(t_send(m, &p[0], SRV, "127.0.0.1:40000", QASM_MBOX_FROM_SERVER, 0, &v),
                     QASM_MBOX_DROP);
    assert_int_equal(t_stats(m).cid_lens_learned, 1);
    for (int i = 0; i < 3; i++)
        t_short(&p[i], &a, 40);
    for (int i = 3; i < 6; i++)
        t_short(&p[i], &b, 40);
    assert_int_equal(t_send(m, &p[0], C1, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_send(m, &p[1], C1, SRV, QASM_MBOX_FROM_CLIENT, 2, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_send(m, &p[2], C1, SRV, QASM_MBOX_FROM_CLIENT, 3, &v), QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_HOLD_OVERFLOW);
    assert_int_equal(t_send(m, &p[3], C2, SRV, QASM_MBOX_FROM_CLIENT, 4, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_send(m, &p[4], C2, SRV, QASM_MBOX_FROM_CLIENT, 5, &v), QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_HOLD_OVERFLOW);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.held_now, 3);
    assert_int_equal(st.tracker_queries, 2);
    /* NOT_FOUND for a: both held packets released in order, default treatment, one mapping */
    struct qasm_mbox_req r;
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_answer(m, r.id, NULL, 10);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_ptr_equal(v.opaque, &p[0]);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    uint16_t pa = v.public_port;
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_ptr_equal(v.opaque, &p[1]);
    assert_int_equal(v.public_port, pa);
    assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
    assert_int_equal(qasm_mbox_next_release(m, &v), 0);
    assert_int_equal(t_stats(m).held_now, 1);
    assert_int_equal(t_stats(m).tracker_not_found, 1);
    /* an answer to an unknown id is counted and ignored */
    qasm_mbox_answer(m, 9999, NULL, 11);
    assert_int_equal(t_stats(m).tracker_late, 1);
    qasm_mbox_del(m); /* frees the packet still held */
}

static void test_nonquic_default_in_aware_mode(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "\x01\x02hello dns", 11);
    p.len = 11;
    assert_int_equal(t_send(m, &p, C1, "192.0.2.53:53", QASM_MBOX_FROM_CLIENT, 0, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_NONQUIC);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    p.len = 0; /* empty datagram */
    assert_int_equal(t_send(m, &p, C2, "192.0.2.53:53", QASM_MBOX_FROM_CLIENT, 0, &v),
                     QASM_MBOX_FORWARD);
    /* short header to a server whose CID length is unknown: default, no hold */
    struct qasm_cid d = t_cid(5);
    t_short(&p, &d, 40);
    assert_int_equal(t_send(m, &p, C3, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_FLOW);
    assert_int_equal(t_stats(m).tracker_queries, 0);
    assert_int_equal(t_stats(m).mappings, 3);
    qasm_mbox_del(m);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    struct qasm_mbox *m;
    qasm_mbox_config_init(&cfg, QASM_MBOX_NAT, QASM_MBOX_DEFAULT);
    cfg.nat_port_min = 50000;
    cfg.nat_port_max = 40000;
    assert_int_equal(qasm_mbox_new(&m, &cfg), -EINVAL);
    assert_null(m);
    qasm_mbox_config_init(&cfg, QASM_MBOX_LB, QASM_MBOX_DEFAULT);
    assert_int_equal(qasm_mbox_new(&m, &cfg), -EINVAL);
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_DEFAULT);
    cfg.rl_rate = 0;
    assert_int_equal(qasm_mbox_new(&m, &cfg), -EINVAL);
    enum qasm_mbox_function f;
    enum qasm_mbox_mode mo;
    assert_int_equal(qasm_mbox_function_parse(&f, "lb"), 0);
    assert_int_equal(f, QASM_MBOX_LB);
    assert_int_equal(qasm_mbox_mode_parse(&mo, "proactive"), 0);
    assert_int_equal(mo, QASM_MBOX_PROACTIVE);
    assert_int_equal(qasm_mbox_mode_parse(&mo, "eager"), -EINVAL);
    assert_string_equal(qasm_mbox_drop_name(QASM_MBOX_DROP_POOL_EXHAUSTED), "pool_exhausted");
}

/* 1000 migrations at 1000 Hz on one connection: the aware NAT keeps one mapping (and
 * its return traffic follows), the default NAT's 10-port pool runs dry. */
static void migrate_1000(enum qasm_mbox_mode mode)
{
    struct qasm_mbox *m = nat_new(mode, 40000, 40009);
    uint16_t port = handshake(m, 0);
    struct qasm_cid odcid = t_cid(1);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    size_t refused = 0;
    for (int i = 1; i <= 1000; i++) {
        qasm_tstamp now = (qasm_tstamp)i * QASM_MS;
        char src[32];
        snprintf(src, sizeof(src), "10.0.%d.%d:%d", i / 250, i % 250, 20000 + i);
        struct qasm_cid d = odcid;
        d.data[0] = (uint8_t)i;
        d.data[1] = (uint8_t)(i >> 8);
        d.data[7] = 0xee;
        struct trec t;
        t_rec(&t, &odcid, SRV);
        t_rec_dcid(&t, &d);
        t_rec_client(&t, C1);
        t_rec_client(&t, src);
        if (mode == QASM_MBOX_PROACTIVE)
            qasm_mbox_push(m, &t.r, now);
        t_short(&p, &d, 40);
        enum qasm_mbox_action a = t_send(m, &p, src, SRV, QASM_MBOX_FROM_CLIENT, now, &v);
        if (a == QASM_MBOX_HOLD) {
            assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
            qasm_mbox_answer(m, r.id, &t.r, now + 100 * QASM_US);
            assert_int_equal(qasm_mbox_next_release(m, &v), 1);
        }
        while (qasm_mbox_next_request(m, &r))
            ;
        if (mode == QASM_MBOX_DEFAULT) {
            if (v.action == QASM_MBOX_DROP) {
                assert_int_equal(v.reason, QASM_MBOX_DROP_POOL_EXHAUSTED);
                refused++;
            }
            continue;
        }
        assert_int_equal(v.action, QASM_MBOX_FORWARD);
        assert_int_equal(v.public_port, port);
        assert_int_equal(v.path, QASM_MBOX_PATH_UPDATE);
        /* the server answers on the new path */
        assert_int_equal(t_send(m, &p, SRV, pub(port), QASM_MBOX_FROM_SERVER, now + 1, &v),
                         QASM_MBOX_FORWARD);
        char s[QASM_ADDR_STRLEN];
        assert_string_equal(qasm_addr_format(s, sizeof(s), &v.flow.dst), src);
    }
    struct qasm_mbox_stats st = t_stats(m);
    if (mode == QASM_MBOX_DEFAULT) {
        assert_int_equal(refused, 1000 - 9); /* 9 free ports after the connection's own */
        assert_int_equal(st.ports_in_use, 10);
    } else {
        assert_int_equal(st.mappings, 1);
        assert_int_equal(st.ports_high_water, 1);
        assert_int_equal(st.migrations, 1000);
        assert_true(st.flows <= 16 && st.dcids <= 32); /* bounded per connection */
    }
    qasm_mbox_del(m);
}

static void test_1000_migrations_default(void **state)
{
    (void)state;
    migrate_1000(QASM_MBOX_DEFAULT);
}

static void test_1000_migrations_reactive(void **state)
{
    (void)state;
    migrate_1000(QASM_MBOX_REACTIVE);
}

static void test_1000_migrations_proactive(void **state)
{
    (void)state;
    migrate_1000(QASM_MBOX_PROACTIVE);
}

/*
 * The tracker is down while a client migrates at 100 Hz for 3 s behind an
 * aware NAT with a 64-port pool: each new path carries the connection's DCID
 * but cannot be attested, so it gets a default mapping. Those are capped per
 * connection (the oldest is recycled), so the pool is never exhausted and the
 * connection is never refused; when the tracker is back and attests the
 * client's latest address, that path joins the connection and the rest are
 * handed back.
 */
static void outage_migrations(enum qasm_mbox_mode mode)
{
    struct qasm_mbox *m = nat_new(mode, 40000, 40063);
    uint16_t port = handshake(m, 0);
    struct qasm_cid odcid = t_cid(1), s1 = t_cid(2), spare[8];
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    /* The tracker told the core the connection's DCIDs (the agent reports spare
     * ones early): the packets of the outage carry DCIDs the core knows. */
    struct trec t;
    t_rec(&t, &odcid, SRV);
    for (int i = 0; i < 8; i++) {
        spare[i] = t_cid((uint8_t)(3 + i));
        t_rec_dcid(&t, &spare[i]);
    }
    t_rec_client(&t, C1);
    qasm_mbox_push(m, &t.r, QASM_SEC / 2);
    qasm_mbox_tracker_state(m, 0, QASM_SEC);
    while (qasm_mbox_next_request(m, &r))
        ;
    size_t refused = 0, high = 0;
    char src[32];
    qasm_tstamp now = QASM_SEC;
    for (int i = 1; i <= 300; i++) {
        now = QASM_SEC + (qasm_tstamp)i * 10 * QASM_MS;
        snprintf(src, sizeof(src), "10.0.0.45:%d", 30000 + i);
        t_short(&p, &spare[i % 8], 40);
        if (t_send(m, &p, src, SRV, QASM_MBOX_FROM_CLIENT, now, &v) != QASM_MBOX_FORWARD) {
            assert_int_equal(v.reason, QASM_MBOX_DROP_POOL_EXHAUSTED);
            refused++;
            continue;
        }
        assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_FLOW);
        uint16_t fp = v.public_port;
        /* the server answers on the new path */
        assert_int_equal(t_send(m, &p, SRV, pub(fp), QASM_MBOX_FROM_SERVER, now + 1, &v),
                         QASM_MBOX_FORWARD);
        size_t in_use = t_stats(m).ports_in_use;
        if (in_use > high)
            high = in_use;
    }
    struct qasm_mbox_stats st = t_stats(m);
    printf("figure: nat %s tracker down, 300 migrations at 100 Hz, 64-port pool: refused=%zu "
           "ports_in_use=%" PRIu64 " ports_high_water=%" PRIu64 "\n",
           qasm_mbox_mode_name(mode), refused, st.ports_in_use, st.ports_high_water);
    assert_int_equal(refused, 0);
    assert_true(high <= 1 + QASM_MBOX_DEFAULT_FALLBACK_PER_CONN);
    assert_int_equal(st.fallback_mappings, 300);
    assert_int_equal(st.fallback_recycled, 300 - QASM_MBOX_DEFAULT_FALLBACK_PER_CONN);
    assert_int_equal(st.fallback_now, QASM_MBOX_DEFAULT_FALLBACK_PER_CONN);

    /* The tracker is back: the core asks about (reactive) or re-subscribes to
     * (proactive) the connection; the record attests the latest address. */
    now += QASM_SEC;
    qasm_mbox_tracker_state(m, 1, now);
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s1);
    t_rec_dcid(&t, &spare[300 % 8]);
    t_rec_client(&t, C1);
    t_rec_client(&t, src);
    if (mode == QASM_MBOX_REACTIVE) {
        assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
        qasm_mbox_answer(m, r.id, &t.r, now);
    } else {
        assert_int_equal(t_req(m, QASM_MBOX_REQ_SUBSCRIBE, &r), 1);
        qasm_mbox_push(m, &t.r, now);
    }
    st = t_stats(m);
    printf("figure: nat %s tracker back: ports_in_use=%" PRIu64 " fallback_returned=%" PRIu64
           " adopted=%" PRIu64 "\n",
           qasm_mbox_mode_name(mode), st.ports_in_use, st.fallback_returned, st.adopted);
    assert_int_equal(st.ports_in_use, 1);
    assert_int_equal(st.adopted, 1);
    assert_int_equal(st.fallback_returned, QASM_MBOX_DEFAULT_FALLBACK_PER_CONN - 1);
    assert_int_equal(st.fallback_now, 0);
    /* the latest path is the connection's again: its own port */
    t_short(&p, &spare[300 % 8], 40);
    assert_int_equal(t_send(m, &p, src, SRV, QASM_MBOX_FROM_CLIENT, now + 1, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.cls, QASM_MBOX_CLASS_QUIC_CONN);
    assert_int_equal(v.public_port, port);
    qasm_mbox_del(m);
}

static void test_tracker_outage_migrations_reactive(void **state)
{
    (void)state;
    outage_migrations(QASM_MBOX_REACTIVE);
}

static void test_tracker_outage_migrations_proactive(void **state)
{
    (void)state;
    outage_migrations(QASM_MBOX_PROACTIVE);
}

/* A hold that runs out unanswered (tracker up but stalled) makes a capped
 * fallback mapping too; fallback_per_conn 0 lifts the cap. */
static void test_fallback_cap_on_hold_timeout(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 2; cap += 2) {
        struct qasm_mbox_config cfg;
        qasm_mbox_config_init(&cfg, QASM_MBOX_NAT, QASM_MBOX_REACTIVE);
        cfg.nat_port_min = 40000;
        cfg.nat_port_max = 40009;
        cfg.fallback_per_conn = cap;
        assert_int_equal(qasm_addr_parse_ip(&cfg.nat_public, PUB, 0), 0);
        struct qasm_mbox *m;
        assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
        handshake(m, 0);
        struct qasm_cid odcid = t_cid(1), s1 = t_cid(3);
        struct trec t;
        t_rec(&t, &odcid, SRV);
        t_rec_dcid(&t, &s1);
        t_rec_client(&t, C1);
        qasm_mbox_push(m, &t.r, 1);
        struct tpkt p;
        struct qasm_mbox_verdict v;
        struct qasm_mbox_req r;
        for (int i = 1; i <= 5; i++) {
            qasm_tstamp now = (qasm_tstamp)i * QASM_SEC;
            char src[32];
            snprintf(src, sizeof(src), "10.0.0.45:%d", 30000 + i);
            t_short(&p, &s1, 40);
            assert_int_equal(t_send(m, &p, src, SRV, QASM_MBOX_FROM_CLIENT, now, &v),
                             QASM_MBOX_HOLD);
            qasm_mbox_expire(m, now + 100 * QASM_MS);
            assert_int_equal(qasm_mbox_next_release(m, &v), 1);
            assert_int_equal(v.action, QASM_MBOX_FORWARD);
            while (qasm_mbox_next_request(m, &r))
                ;
        }
        struct qasm_mbox_stats st = t_stats(m);
        assert_int_equal(st.fallback_mappings, 5);
        assert_int_equal(st.ports_in_use, cap ? 1 + cap : 6);
        assert_int_equal(st.fallback_recycled, cap ? 5 - cap : 0);
        qasm_mbox_del(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_migration_new_mapping),
        cmocka_unit_test(test_pool_exhaustion_and_expiry),
        cmocka_unit_test(test_expiry_after_last_packet),
        cmocka_unit_test(test_no_mapping),
        cmocka_unit_test(test_touch_keeps_entry),
        cmocka_unit_test(test_reactive_migration_keeps_port),
        cmocka_unit_test(test_proactive_push_before_packet),
        cmocka_unit_test(test_proactive_push_releases_held),
        cmocka_unit_test(test_proactive_push_without_address_keeps_holding),
        cmocka_unit_test(test_rebinding_without_new_dcid),
        cmocka_unit_test(test_hijack_reactive),
        cmocka_unit_test(test_hijack_proactive),
        cmocka_unit_test(test_hold_timeout_and_tracker_loss),
        cmocka_unit_test(test_late_answer_repairs),
        cmocka_unit_test(test_answer_after_hold_reactive),
        cmocka_unit_test(test_push_after_hold_proactive),
        cmocka_unit_test(test_hold_stats),
        cmocka_unit_test(test_fixed_hold),
        cmocka_unit_test(test_hold_overflow),
        cmocka_unit_test(test_nonquic_default_in_aware_mode),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_tracker_outage_migrations_reactive),
        cmocka_unit_test(test_tracker_outage_migrations_proactive),
        cmocka_unit_test(test_fallback_cap_on_hold_timeout),
        cmocka_unit_test(test_1000_migrations_default),
        cmocka_unit_test(test_1000_migrations_reactive),
        cmocka_unit_test(test_1000_migrations_proactive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
