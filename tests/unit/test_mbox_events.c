/*
 * Unit tests for the core's live table (middleboxes/core/mbox.h): the table
 * events (new, migrated, adopted, expired, evicted, refused, released), their bounded
 * queue, and what qasm_mbox_foreach reports (age, expiry, packets both ways).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "mbox_util.h"

#define SRV "192.0.2.1:443"
#define C1 "10.0.0.45:10001"
#define C2 "10.0.0.45:10002"
#define C3 "10.0.0.46:10000"
#define PUB "65.12.81.14"

/* A NAT on PUB:pmin-pmax; |fallback|: fallback_per_conn (-1: the default). */
static struct qasm_mbox *nat_new_fb(enum qasm_mbox_mode mode, uint16_t pmin, uint16_t pmax,
                                    int fallback)
{
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_NAT, mode);
    assert_int_equal(qasm_addr_parse_ip(&cfg.nat_public, PUB, 0), 0);
    cfg.nat_port_min = pmin;
    cfg.nat_port_max = pmax;
    if (fallback >= 0)
        cfg.fallback_per_conn = (size_t)fallback;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    return m;
}

static struct qasm_mbox *nat_new(enum qasm_mbox_mode mode, uint16_t pmin, uint16_t pmax)
{
    return nat_new_fb(mode, pmin, pmax, -1);
}

static const char *pub(uint16_t port)
{
    static char buf[64];
    snprintf(buf, sizeof(buf), "%s:%u", PUB, port);
    return buf;
}

static void assert_addr(const struct qasm_addr *a, const char *want)
{
    char s[QASM_ADDR_STRLEN];
    assert_string_equal(qasm_addr_format(s, sizeof(s), a), want);
}

/* The next table event, which must be of |type|. */
static struct qasm_mbox_table_event next_te(struct qasm_mbox *m, enum qasm_mbox_te_type type)
{
    struct qasm_mbox_table_event ev;
    assert_int_equal(qasm_mbox_next_table_event(m, &ev), 1);
    assert_string_equal(qasm_mbox_te_name(ev.type), qasm_mbox_te_name(type));
    return ev;
}

/* Client Initial from C1, the server's Initial back, two client short headers. */
static uint16_t handshake(struct qasm_mbox *m, qasm_tstamp now)
{
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid odcid = t_cid(1), ccid = t_cid(9), scid1 = t_cid(2);
    t_initial(&p, &odcid, &ccid);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, now, &v), QASM_MBOX_FORWARD);
    uint16_t port = v.public_port;
    t_long(&p, 0, &ccid, &scid1, 1200);
    assert_int_equal(t_send(m, &p, SRV, pub(port), QASM_MBOX_FROM_SERVER, now + 1, &v),
                     QASM_MBOX_FORWARD);
    t_short(&p, &scid1, 40);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, now + 2, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, now + 3, &v), QASM_MBOX_FORWARD);
    return port;
}

struct row {
    int n;
    struct qasm_mbox_entry_info e;
};

static int one_row(const struct qasm_mbox_entry_info *e, void *arg)
{
    struct row *r = arg;
    r->n++;
    r->e = *e;
    r->e.clients = NULL;
    return 0;
}

/* Off by default: no event is queued until a shell turns them on. */
static void test_off_by_default(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    handshake(m, 0);
    struct qasm_mbox_table_event ev;
    assert_int_equal(qasm_mbox_next_table_event(m, &ev), 0);
    qasm_mbox_del(m);
}

/* new -> migrated (tracker attests C2) -> expired, with the entry's fields. */
static void test_new_migrated_expired(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    qasm_mbox_table_events(m, 64);
    uint16_t port = handshake(m, 5 * QASM_SEC);
    struct qasm_cid odcid = t_cid(1), s1 = t_cid(2), s2 = t_cid(3);
    struct qasm_mbox_table_event ev = next_te(m, QASM_MBOX_TE_NEW);
    assert_true(ev.quic);
    assert_true(qasm_cid_eq(&ev.odcid, &odcid));
    assert_addr(&ev.client, C1);
    assert_addr(&ev.server, SRV);
    assert_int_equal(ev.public_port, port);
    assert_int_equal(ev.at, 5 * QASM_SEC);
    assert_int_equal(ev.created, 5 * QASM_SEC);
    assert_int_equal(qasm_mbox_next_table_event(m, &ev), 0);

    /* the client migrates to C2; the tracker attests it */
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    t_short(&p, &s2, 40);
    qasm_tstamp t1 = 6 * QASM_SEC;
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, t1, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s1);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    qasm_mbox_answer(m, r.id, &t.r, t1 + QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    assert_int_equal(v.public_port, port);
    ev = next_te(m, QASM_MBOX_TE_MIGRATED);
    assert_addr(&ev.client, C2);
    assert_addr(&ev.from, C1);
    assert_int_equal(ev.public_port, port);
    assert_int_equal(ev.at, t1 + QASM_MS);
    assert_int_equal(ev.packets_orig, 3); /* before the migrating packet counted */
    assert_int_equal(ev.packets_reply, 1);

    /* the live table: one entry, both clients, age, expiry, packets both ways */
    assert_int_equal(t_send(m, &p, SRV, pub(port), QASM_MBOX_FROM_SERVER, t1 + 2 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    struct row row = {0};
    qasm_mbox_foreach(m, one_row, &row);
    assert_int_equal(row.n, 1);
    assert_int_equal(row.e.nclients, 2);
    assert_addr(&row.e.client, C2);
    assert_int_equal(row.e.public_port, port);
    assert_int_equal(row.e.created, 5 * QASM_SEC);
    assert_int_equal(row.e.packets_orig, 4);
    assert_int_equal(row.e.packets_reply, 2);
    assert_true(row.e.assured);
    assert_int_equal(row.e.expires, t1 + 2 * QASM_MS + 120 * QASM_SEC);

    /* idle: it expires, and says so with its totals */
    qasm_mbox_expire(m, t1 + 2 * QASM_MS + 122 * QASM_SEC);
    ev = next_te(m, QASM_MBOX_TE_EXPIRED);
    assert_true(qasm_cid_eq(&ev.odcid, &odcid));
    assert_addr(&ev.client, C2);
    assert_int_equal(ev.packets_orig, 4);
    assert_int_equal(ev.packets_reply, 2);
    assert_int_equal(ev.public_port, port);
    assert_int_equal(qasm_mbox_next_table_event(m, &ev), 0);
    assert_int_equal(t_stats(m).table_events_dropped, 0);
    qasm_mbox_del(m);
}

/* The tracker answers after the hold ran out: a default mapping, then adopted. */
static void test_adopted(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_REACTIVE, 40000, 40009);
    qasm_mbox_table_events(m, 64);
    uint16_t port = handshake(m, 0);
    (void)next_te(m, QASM_MBOX_TE_NEW);
    struct qasm_cid odcid = t_cid(1), s2 = t_cid(3);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_req r;
    t_short(&p, &s2, 40);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, QASM_MS, &v), QASM_MBOX_HOLD);
    assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
    qasm_mbox_expire(m, 101 * QASM_MS);
    assert_int_equal(qasm_mbox_next_release(m, &v), 1);
    struct qasm_mbox_table_event ev = next_te(m, QASM_MBOX_TE_NEW);
    assert_false(ev.quic);
    assert_addr(&ev.client, C2);
    assert_int_equal(ev.public_port, v.public_port);
    assert_int_not_equal(ev.public_port, port);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &s2);
    t_rec_client(&t, C1);
    t_rec_client(&t, C2);
    qasm_mbox_answer(m, r.id, &t.r, 105 * QASM_MS);
    ev = next_te(m, QASM_MBOX_TE_ADOPTED);
    assert_true(ev.quic);
    assert_true(qasm_cid_eq(&ev.odcid, &odcid));
    assert_addr(&ev.client, C2);
    assert_int_equal(ev.public_port, port);
    assert_int_equal(qasm_mbox_next_table_event(m, &ev), 0);
    qasm_mbox_del(m);
}

/* A full pool refuses (with the reason); the queue's bound drops and counts. */
static void test_refused_and_bound(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new(QASM_MBOX_DEFAULT, 40000, 40000);
    qasm_mbox_table_events(m, 2);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_DROP);
    assert_int_equal(t_send(m, &p, C3, SRV, QASM_MBOX_FROM_CLIENT, 2, &v), QASM_MBOX_DROP);
    assert_int_equal(t_stats(m).table_events_dropped, 1);
    struct qasm_mbox_table_event ev = next_te(m, QASM_MBOX_TE_NEW);
    assert_false(ev.quic);
    assert_int_equal(ev.public_port, 40000);
    ev = next_te(m, QASM_MBOX_TE_REFUSED);
    assert_addr(&ev.client, C2);
    assert_addr(&ev.server, SRV);
    assert_int_equal(ev.reason, QASM_MBOX_DROP_POOL_EXHAUSTED);
    assert_int_equal(qasm_mbox_next_table_event(m, &ev), 0);
    /* off again: nothing more is queued or counted */
    qasm_mbox_table_events(m, 0);
    assert_int_equal(t_send(m, &p, C3, SRV, QASM_MBOX_FROM_CLIENT, 3, &v), QASM_MBOX_DROP);
    assert_int_equal(qasm_mbox_next_table_event(m, &ev), 0);
    assert_int_equal(t_stats(m).table_events_dropped, 1);
    qasm_mbox_del(m);
}

/* At max_entries an unassured entry is evicted for a new flow: evicted, then new. */
static void test_evicted(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_DEFAULT);
    cfg.max_entries = 1;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    qasm_mbox_table_events(m, 8);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_FORWARD);
    struct qasm_mbox_table_event ev = next_te(m, QASM_MBOX_TE_NEW);
    assert_addr(&ev.client, C1);
    assert_int_equal(ev.backend, -1);
    ev = next_te(m, QASM_MBOX_TE_EVICTED);
    assert_addr(&ev.client, C1);
    assert_int_equal(ev.packets_orig, 1);
    ev = next_te(m, QASM_MBOX_TE_NEW);
    assert_addr(&ev.client, C2);
    assert_string_equal(qasm_mbox_te_name(QASM_MBOX_TE_MAX), "?");
    qasm_mbox_del(m);
}

/* Fallback mappings (the tracker did not answer in time): at the cap the oldest is released. */
static void test_released(void **state)
{
    (void)state;
    struct qasm_mbox *m = nat_new_fb(QASM_MBOX_REACTIVE, 40000, 40009, 1);
    handshake(m, 0);
    /* the tracker tells the connection's next DCID, then stays silent */
    struct qasm_cid odcid = t_cid(1), next = t_cid(3);
    struct trec t;
    t_rec(&t, &odcid, SRV);
    t_rec_dcid(&t, &next);
    t_rec_client(&t, C1);
    qasm_mbox_push(m, &t.r, 1);
    qasm_mbox_table_events(m, 64);
    uint16_t ports[2];
    const char *const paths[2] = {C2, C3};
    for (int i = 0; i < 2; i++) {
        struct tpkt p;
        struct qasm_mbox_verdict v;
        struct qasm_mbox_req r;
        t_short(&p, &next, 40);
        qasm_tstamp at = (qasm_tstamp)(i + 1) * QASM_SEC;
        assert_int_equal(t_send(m, &p, paths[i], SRV, QASM_MBOX_FROM_CLIENT, at, &v),
                         QASM_MBOX_HOLD);
        qasm_mbox_expire(m, at + 100 * QASM_MS); /* unanswered: a fallback mapping */
        assert_int_equal(qasm_mbox_next_release(m, &v), 1);
        ports[i] = v.public_port;
        while (t_req(m, QASM_MBOX_REQ_QUERY, &r))
            ;
    }
    uint16_t first = ports[0];
    assert_int_not_equal(ports[1], first);
    struct qasm_mbox_table_event ev = next_te(m, QASM_MBOX_TE_NEW);
    assert_addr(&ev.client, C2);
    ev = next_te(m, QASM_MBOX_TE_RELEASED);
    assert_addr(&ev.client, C2);
    assert_int_equal(ev.public_port, first);
    assert_int_equal(ev.at, 2 * QASM_SEC + 100 * QASM_MS);
    ev = next_te(m, QASM_MBOX_TE_NEW);
    assert_addr(&ev.client, C3);
    assert_int_equal(t_stats(m).fallback_recycled, 1);
    qasm_mbox_del(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_by_default),
        cmocka_unit_test(test_new_migrated_expired),
        cmocka_unit_test(test_adopted),
        cmocka_unit_test(test_refused_and_bound),
        cmocka_unit_test(test_evicted),
        cmocka_unit_test(test_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
