/*
 * test_store_apply.c: replicas in the tracker's store (qasm_store_apply,
 * used by the shared stores of tracker/backend.h): creation, revision
 * order, touches that keep a replica alive, replacement of DCIDs and
 * addresses, close and removal, ownership taken by a local report.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "store.h"
#include "tracker_util.h"

#define T0 (1000 * QASM_SEC)

/* The secret of the connections' owner, as the publishing tracker shares it. */
static const uint8_t OWNER[QASM_PROTO_SECRET_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
                                                      9, 10, 11, 12, 13, 14, 15, 16 };

struct fixture {
    struct qasm_store *s;
    unsigned n[QASM_PROTO_EV_EVICTED + 1];
    unsigned total;
    uint8_t last;
    struct qasm_proto_conn last_rec;
};

static void on_event(void *arg, struct qasm_store_conn *c, uint8_t event)
{
    struct fixture *f = arg;
    assert_true(event >= QASM_PROTO_EV_OPENED && event <= QASM_PROTO_EV_EVICTED);
    f->n[event]++;
    f->total++;
    f->last = event;
    qasm_store_record(c, &f->last_rec);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    struct qasm_store_config cfg;
    qasm_store_config_default(&cfg);
    cfg.ttl = 10 * QASM_SEC;
    cfg.close_linger = 2 * QASM_SEC;
    cfg.max_per_ip = 2;
    assert_int_equal(qasm_store_new(&f->s, &cfg, on_event, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    qasm_store_del(f->s);
    free(f);
    return 0;
}

/* A record as another tracker publishes it. */
static struct qasm_proto_conn rec_of(const char *odcid, const char *client0, uint32_t rev)
{
    struct qasm_proto_conn r;
    memset(&r, 0, sizeof(r));
    r.odcid = C(odcid);
    r.clients[0] = A(client0);
    r.nclients = 1;
    r.server = A("192.0.2.1:443");
    r.rev = rev;
    return r;
}

static void add_dcid(struct qasm_proto_conn *r, const char *hex, uint64_t seq)
{
    r->dcids[r->ndcids].cid = C(hex);
    r->dcids[r->ndcids].seq = seq;
    r->ndcids++;
}

static struct qasm_proto_conn find_rec(struct fixture *f, const char *cid)
{
    struct qasm_cid c = C(cid);
    struct qasm_store_conn *conn = qasm_store_find(f->s, &c, NULL);
    assert_non_null(conn);
    struct qasm_proto_conn r;
    qasm_store_record(conn, &r);
    return r;
}

static void test_apply_creates_replica(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_conn r = rec_of("0102", "10.0.0.1:5000", 7);
    add_dcid(&r, "aabb", 0);
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), QASM_STORE_CHANGED);
    assert_int_equal(f->n[QASM_PROTO_EV_OPENED], 1);
    assert_int_equal(f->last_rec.rev, 7);
    struct qasm_proto_conn got = find_rec(f, "aabb");
    assert_true(qasm_cid_eq(&got.odcid, &r.odcid));
    assert_true(qasm_addr_eq(&got.server, &r.server));
    assert_int_equal(got.ndcids, 1);
    struct qasm_cid o = C("0102");
    struct qasm_addr c0 = A("10.0.0.1:5000");
    struct qasm_store_conn *c = qasm_store_get(f->s, &o, &c0);
    assert_non_null(c);
    assert_true(qasm_store_conn_replica(c));
    /* The synced timestamp is the shell's, 0 at creation. */
    assert_int_equal(*qasm_store_conn_synced(c), 0);
}

static void test_apply_orders_by_rev(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_conn r = rec_of("0102", "10.0.0.1:5000", 5);
    add_dcid(&r, "aabb", 0);
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), QASM_STORE_CHANGED);
    /* Rev 6: aabb retired, ccdd new, a new current address. */
    struct qasm_proto_conn r6 = rec_of("0102", "10.0.0.1:5000", 6);
    add_dcid(&r6, "ccdd", 1);
    r6.clients[1] = A("10.0.0.2:6000");
    r6.nclients = 2;
    r6.current = 1;
    assert_int_equal(qasm_store_apply(f->s, &r6, OWNER, QASM_PROTO_EV_DCID_NEW, T0 + 1),
                     QASM_STORE_CHANGED);
    assert_int_equal(f->last, QASM_PROTO_EV_DCID_NEW);
    struct qasm_proto_conn got = find_rec(f, "ccdd");
    assert_int_equal(got.rev, 6);
    assert_int_equal(got.ndcids, 1);
    assert_int_equal(got.nclients, 2);
    assert_int_equal(got.current, 1);
    struct qasm_cid old = C("aabb");
    struct qasm_store_conn *c = qasm_store_find(f->s, &old, NULL);
    if (c) { /* a retired DCID still names its connection, but is not active */
        struct qasm_proto_conn rr;
        qasm_store_record(c, &rr);
        assert_int_equal(qasm_proto_conn_find_dcid(&rr, &old), -1);
    }
    /* A late rev 5 (reordered message) changes nothing. */
    unsigned before = f->total;
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0 + 2),
                     QASM_STORE_UNCHANGED);
    assert_int_equal(f->total, before);
    got = find_rec(f, "ccdd");
    assert_int_equal(got.rev, 6);
    assert_int_equal(got.ndcids, 1);
    /* A gap (rev 9 after 6): the whole record heals the missed updates. */
    struct qasm_proto_conn r9 = rec_of("0102", "10.0.0.1:5000", 9);
    add_dcid(&r9, "ccdd", 1);
    add_dcid(&r9, "eeff", 2);
    r9.clients[1] = A("10.0.0.2:6000");
    r9.nclients = 2;
    r9.current = 0;
    assert_int_equal(qasm_store_apply(f->s, &r9, OWNER, QASM_PROTO_EV_REFRESH, T0 + 3),
                     QASM_STORE_CHANGED);
    got = find_rec(f, "eeff");
    assert_int_equal(got.rev, 9);
    assert_int_equal(got.ndcids, 2);
    assert_int_equal(got.current, 0);
}

static void test_touch_keeps_replica_alive(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_conn r = rec_of("0102", "10.0.0.1:5000", 3);
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), QASM_STORE_CHANGED);
    /* Same rev 8 s later: a touch, no event, the idle timer restarts. */
    unsigned before = f->total;
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0 + 8 * QASM_SEC),
                     QASM_STORE_UNCHANGED);
    assert_int_equal(f->total, before);
    assert_int_equal(qasm_store_expire(f->s, T0 + 12 * QASM_SEC), 0);
    assert_int_equal(qasm_store_count(f->s), 1);
    assert_int_equal(qasm_store_expire(f->s, T0 + 18 * QASM_SEC), 1);
    assert_int_equal(f->n[QASM_PROTO_EV_EXPIRED], 1);
    assert_int_equal(qasm_store_count(f->s), 0);
}

static void test_close_and_remove(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_conn r = rec_of("0102", "10.0.0.1:5000", 1);
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), QASM_STORE_CHANGED);
    r.rev = 2;
    r.flags = QASM_PROTO_REC_CLOSED;
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_CLOSED, T0), QASM_STORE_CHANGED);
    assert_int_equal(f->last, QASM_PROTO_EV_CLOSED);
    assert_int_equal(f->last_rec.rev, 2);
    assert_true(f->last_rec.flags & QASM_PROTO_REC_CLOSED);
    r.rev = 3;
    r.flags = 0;
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), -ESTALE);
    /* A closed or gone record that is not held creates nothing. */
    struct qasm_proto_conn g = rec_of("0304", "10.0.0.1:5001", 4);
    g.flags = QASM_PROTO_REC_CLOSED;
    assert_int_equal(qasm_store_apply(f->s, &g, OWNER, QASM_PROTO_EV_CLOSED, T0), QASM_STORE_UNCHANGED);
    g.flags = 0;
    assert_int_equal(qasm_store_apply(f->s, &g, OWNER, QASM_PROTO_EV_EXPIRED, T0), QASM_STORE_UNCHANGED);
    assert_int_equal(qasm_store_count(f->s), 1);
    /* EXPIRED at the owner removes the replica, whatever its rev. */
    struct qasm_proto_conn e = rec_of("0506", "10.0.0.1:5002", 5);
    add_dcid(&e, "5506", 0);
    assert_int_equal(qasm_store_apply(f->s, &e, OWNER, QASM_PROTO_EV_REFRESH, T0), QASM_STORE_CHANGED);
    e.rev = 5;
    assert_int_equal(qasm_store_apply(f->s, &e, OWNER, QASM_PROTO_EV_EXPIRED, T0), QASM_STORE_CHANGED);
    assert_int_equal(f->last, QASM_PROTO_EV_EXPIRED);
    struct qasm_cid gone = C("5506");
    assert_null(qasm_store_find(f->s, &gone, NULL));
}

static void test_local_report_takes_ownership(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_conn r = rec_of("0102", "10.0.0.1:5000", 4);
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), QASM_STORE_CHANGED);
    struct qasm_cid o = C("0102");
    struct qasm_addr c0 = A("10.0.0.1:5000");
    struct qasm_store_conn *c = qasm_store_get(f->s, &o, &c0);
    assert_true(qasm_store_conn_replica(c));
    struct qasm_proto_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.odcid = o;
    rep.client0 = c0;
    rep.client = c0;
    rep.seq = 1;
    rep.dcid.cid = C("1234");
    /* Only with the owner's secret, which the publisher shared. */
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_DCID_NEW, &rep, &c0, T0 + 1),
                     -EPERM);
    assert_true(qasm_store_conn_replica(c));
    uint8_t other[QASM_PROTO_SECRET_LEN] = { 0 };
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_DCID_NEW, &rep, other), 0);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_DCID_NEW, &rep, &c0, T0 + 1),
                     -EPERM);
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_unauth, 1);
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_bad_mac, 1);
    assert_memory_equal(qasm_store_conn_secret(c), OWNER, QASM_PROTO_SECRET_LEN);
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_DCID_NEW, &rep, OWNER), 0);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_DCID_NEW, &rep, &c0, T0 + 1),
                     QASM_STORE_CHANGED);
    assert_false(qasm_store_conn_replica(c));
    assert_int_equal(f->last_rec.rev, 5); /* continues from the replica's rev */
    /* set_rev only raises. */
    qasm_store_conn_set_rev(c, 3);
    struct qasm_proto_conn got;
    qasm_store_record(c, &got);
    assert_int_equal(got.rev, 5);
    qasm_store_conn_set_rev(c, 40);
    qasm_store_record(c, &got);
    assert_int_equal(got.rev, 40);
}

static void test_apply_rejects_bad_records_and_caps(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_conn r = rec_of("0102", "10.0.0.1:5000", 1);
    r.odcid.len = 0;
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), -EINVAL);
    r = rec_of("0102", "10.0.0.1:5000", 1);
    r.nclients = 0;
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), -EINVAL);
    r = rec_of("0102", "10.0.0.1:5000", 1);
    r.current = 1;
    assert_int_equal(qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0), -EINVAL);
    assert_int_equal(f->total, 0);
    /* The per-IP cap (2) still applies to replicas. */
    const char *odcids[] = { "01", "02", "03" };
    for (int i = 0; i < 3; i++) {
        r = rec_of(odcids[i], "10.0.0.9:5000", 1);
        int rv = qasm_store_apply(f->s, &r, OWNER, QASM_PROTO_EV_REFRESH, T0);
        assert_int_equal(rv, i < 2 ? QASM_STORE_CHANGED : -EDQUOT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_creates_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_orders_by_rev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_keeps_replica_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_report_takes_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_rejects_bad_records_and_caps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
