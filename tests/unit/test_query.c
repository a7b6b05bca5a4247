/*
 * test_query.c: the tracker's query core (tracker/core/query.h) on a real
 * store core with injected time: waits answered by a later report, wait
 * deadlines, address waits, subscriptions to known and pending
 * connections, pushes in order, final events ending subscriptions,
 * unsubscribe, sessions gone mid-wait, the per-session and tracker-wide
 * limits, and plain queries held for a shared-store lookup.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"
#include "tracker_util.h"

#define T0 (1000 * QASM_SEC)
#define MAXACT 64

struct act {
    enum qasm_query_act_kind kind;
    void *sess;
    uint32_t req_id;
    uint8_t event;
    uint16_t code;
    int budget;
    uint32_t count;
    struct qasm_cid cid;
    struct qasm_proto_conn rec;
};

struct fixture {
    struct qasm_store *st;
    struct qasm_query *q;
    struct qasm_query_sess s1, s2;
    struct act a[MAXACT];
    size_t na;
    int lookup_rv; /* what the fake shared store answers to LOOKUP */
    unsigned lookups;
};

static struct fixture *fx;

static void on_event(void *arg, struct qasm_store_conn *c, uint8_t event)
{
    struct fixture *f = arg;
    qasm_query_store_event(f->q, c, event);
}

static int on_action(void *arg, const struct qasm_query_action *a)
{
    struct fixture *f = arg;
    if (a->kind == QASM_QUERY_LOOKUP) { /* kept apart: asked for every unknown CID */
        f->lookups++;
        return f->lookup_rv;
    }
    assert_true(f->na < MAXACT);
    struct act *r = &f->a[f->na++];
    *r = (struct act){ .kind = a->kind, .sess = a->sess, .req_id = a->req_id,
                       .event = a->event, .code = a->code, .budget = a->budget,
                       .count = a->count };
    if (a->cid)
        r->cid = *a->cid;
    if (a->rec)
        r->rec = *a->rec;
    else if (a->conn)
        qasm_store_record(a->conn, &r->rec);
    return 0;
}

static int setup_limits(void **state, size_t max_subs, size_t max_total)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    struct qasm_store_config sc;
    qasm_store_config_default(&sc);
    sc.ttl = 10 * QASM_SEC;
    sc.close_linger = 2 * QASM_SEC;
    assert_int_equal(qasm_store_new(&f->st, &sc, on_event, f), 0);
    struct qasm_query_config qc = {
        .store = f->st, .seed = 7, .max_wait = QASM_SEC, .store_timeout = 100 * QASM_MS,
        .max_subs = max_subs, .max_subs_total = max_total, .act = on_action, .arg = f,
    };
    assert_int_equal(qasm_query_new(&f->q, &qc), 0);
    qasm_query_sess_init(&f->s1, &f->s1);
    qasm_query_sess_init(&f->s2, &f->s2);
    f->lookup_rv = -ENOTCONN; /* no shared store */
    fx = f;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_limits(state, 100, 1000);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    qasm_query_sess_close(f->q, &f->s1);
    qasm_query_sess_close(f->q, &f->s2);
    assert_int_equal(qasm_query_nwaiting(f->q), 0);
    assert_int_equal(qasm_query_nsubscribers(f->q), 0);
    qasm_query_del(f->q);
    qasm_store_del(f->st);
    free(f);
    return 0;
}

/* Report |type| of connection |odcid| (first client 10.0.0.1:5000) from |client|, signed. */
static void report(uint8_t type, const char *odcid, const char *client, uint32_t seq,
                   const char *dcid, qasm_tstamp now)
{
    struct qasm_proto_report r;
    memset(&r, 0, sizeof(r));
    r.odcid = C(odcid);
    r.client0 = A("10.0.0.1:5000");
    r.client = A(client);
    r.seq = seq;
    if (type == QASM_PROTO_REPORT_OPEN) {
        r.scid = C("c1c2");
        r.server = A("192.0.2.1:443");
    }
    if (dcid) {
        r.dcid.cid = C(dcid);
        r.dcid.seq = seq;
    }
    uint8_t k[QASM_PROTO_SECRET_LEN];
    memset(k, 0x5a, sizeof(k));
    memcpy(r.secret, k, sizeof(k));
    assert_int_equal(qasm_proto_report_sign(type, &r, k), 0);
    assert_true(qasm_store_report(fx->st, type, &r, &r.client, now) >= 0);
}

static void open_conn(const char *odcid, qasm_tstamp now)
{
    report(QASM_PROTO_REPORT_OPEN, odcid, "10.0.0.1:5000", 1, NULL, now);
}

static void query(struct qasm_query_sess *s, uint32_t id, const char *dcid, uint32_t wait_ms,
                  const char *client, qasm_tstamp now)
{
    struct qasm_proto_query m;
    memset(&m, 0, sizeof(m));
    m.dcid = C(dcid);
    m.wait_ms = wait_ms;
    if (client)
        m.client = A(client);
    qasm_query_query(fx->q, s, id, &m, now);
}

static void subscribe(struct qasm_query_sess *s, uint32_t id, const char *cid, int unsub)
{
    struct qasm_proto_sub m;
    memset(&m, 0, sizeof(m));
    if (cid)
        m.cid = C(cid);
    else
        m.flags = QASM_PROTO_SUB_ALL;
    if (unsub)
        qasm_query_unsubscribe(fx->q, s, id, &m);
    else
        qasm_query_subscribe(fx->q, s, id, &m);
}

static void assert_act(size_t i, enum qasm_query_act_kind kind, void *sess, uint32_t id)
{
    assert_true(i < fx->na);
    assert_int_equal(fx->a[i].kind, kind);
    assert_ptr_equal(fx->a[i].sess, sess);
    assert_int_equal(fx->a[i].req_id, id);
}

static void test_known_cid_answered_at_once(void **state)
{
    struct fixture *f = *state;
    open_conn("0102030405060708", T0);
    query(&f->s1, 1, "0102030405060708", 0, NULL, T0);
    query(&f->s1, 2, "ffff", 0, NULL, T0);
    assert_int_equal(f->na, 2);
    assert_act(0, QASM_QUERY_RECORD, &f->s1, 1);
    assert_true(qasm_cid_eq(&f->a[0].rec.odcid, &(struct qasm_cid){ 8, { 1, 2, 3, 4, 5, 6, 7, 8 } }));
    assert_act(1, QASM_QUERY_NOT_FOUND, &f->s1, 2);
    assert_int_equal(qasm_query_counters(f->q)->queries, 2);
    assert_int_equal(qasm_query_counters(f->q)->queries_found, 1);
    assert_int_equal(qasm_query_counters(f->q)->queries_not_found, 1);
    assert_int_equal(qasm_query_next_deadline(f->q), QASM_TSTAMP_MAX);
}

static void test_wait_answered_by_later_report(void **state)
{
    struct fixture *f = *state;
    open_conn("0102030405060708", T0);
    query(&f->s1, 5, "a0a1a2a3", 500, NULL, T0);
    assert_int_equal(f->na, 0);
    assert_int_equal(qasm_query_nwaiting(f->q), 1);
    assert_int_equal(qasm_query_next_deadline(f->q), T0 + 500 * QASM_MS);
    report(QASM_PROTO_REPORT_DCID_NEW, "0102030405060708", "10.0.0.1:5000", 2, "a0a1a2a3",
           T0 + 10 * QASM_MS);
    assert_int_equal(f->na, 1);
    assert_act(0, QASM_QUERY_RECORD, &f->s1, 5);
    assert_int_equal(f->a[0].rec.ndcids, 1);
    assert_int_equal(qasm_query_nwaiting(f->q), 0);
    assert_int_equal(qasm_query_next_deadline(f->q), QASM_TSTAMP_MAX);
    assert_int_equal(qasm_query_counters(f->q)->waits, 1);
    assert_int_equal(qasm_query_counters(f->q)->waits_found, 1);
    qasm_query_expire(f->q, T0 + QASM_SEC);
    assert_int_equal(f->na, 1);
}

static void test_wait_deadline_not_found(void **state)
{
    struct fixture *f = *state;
    query(&f->s1, 1, "a0a1", 200, NULL, T0);
    query(&f->s2, 2, "b0b1", 5000, NULL, T0 + QASM_MS); /* cut to max_wait (1 s) */
    query(&f->s1, 3, "c0c1", 200, NULL, T0);
    assert_int_equal(qasm_query_next_deadline(f->q), T0 + 200 * QASM_MS);
    qasm_query_expire(f->q, T0 + 199 * QASM_MS);
    assert_int_equal(f->na, 0);
    qasm_query_expire(f->q, T0 + 200 * QASM_MS);
    assert_int_equal(f->na, 2); /* same deadline: in the order asked */
    assert_act(0, QASM_QUERY_NOT_FOUND, &f->s1, 1);
    assert_true(qasm_cid_eq(&f->a[0].cid, &(struct qasm_cid){ 2, { 0xa0, 0xa1 } }));
    assert_act(1, QASM_QUERY_NOT_FOUND, &f->s1, 3);
    assert_int_equal(qasm_query_next_deadline(f->q), T0 + QASM_MS + QASM_SEC);
    qasm_query_expire(f->q, T0 + 2 * QASM_SEC);
    assert_act(2, QASM_QUERY_NOT_FOUND, &f->s2, 2);
    assert_int_equal(qasm_query_counters(f->q)->waits_timeout, 3);
    assert_int_equal(qasm_query_counters(f->q)->queries_not_found, 3);
    assert_int_equal(qasm_query_nwaiting(f->q), 0);
}

static void test_final_event_does_not_answer_a_wait(void **state)
{
    struct fixture *f = *state;
    open_conn("0102030405060708", T0);
    query(&f->s1, 1, "a0a1a2a3", 500, NULL, T0);
    report(QASM_PROTO_REPORT_CLOSE, "0102030405060708", "10.0.0.1:5000", 2, NULL, T0);
    assert_int_equal(f->na, 0);
    qasm_query_expire(f->q, T0 + 500 * QASM_MS);
    assert_act(0, QASM_QUERY_NOT_FOUND, &f->s1, 1);
}

static void test_address_wait(void **state)
{
    struct fixture *f = *state;
    open_conn("0102030405060708", T0);
    /* Known CID, client not listed yet: held until the address report. */
    query(&f->s1, 1, "0102030405060708", 500, "10.0.0.1:6000", T0);
    /* Unknown CID with a client: an address wait too. */
    query(&f->s2, 2, "d0d1d2d3", 300, "10.0.0.9:1", T0);
    assert_int_equal(f->na, 0);
    assert_int_equal(qasm_query_counters(f->q)->addr_waits, 2);
    report(QASM_PROTO_REPORT_ADDR, "0102030405060708", "10.0.0.1:6000", 2, NULL,
           T0 + 5 * QASM_MS);
    assert_int_equal(f->na, 1);
    assert_act(0, QASM_QUERY_RECORD, &f->s1, 1);
    assert_int_equal(f->a[0].rec.nclients, 2);
    /* Listed now: answered at once. */
    query(&f->s1, 3, "0102030405060708", 500, "10.0.0.1:6000", T0 + 6 * QASM_MS);
    assert_act(1, QASM_QUERY_RECORD, &f->s1, 3);
    /* A DCID the connection takes later, with a client it does not list:
     * at the deadline the answer is what is known (RECORD), not NOT_FOUND. */
    report(QASM_PROTO_REPORT_DCID_NEW, "0102030405060708", "10.0.0.1:6000", 3, "d0d1d2d3",
           T0 + 7 * QASM_MS);
    assert_int_equal(f->na, 2);
    qasm_query_expire(f->q, T0 + 300 * QASM_MS);
    assert_act(2, QASM_QUERY_RECORD, &f->s2, 2);
    assert_int_equal(qasm_query_counters(f->q)->waits_found, 1);
    assert_int_equal(qasm_query_counters(f->q)->waits_timeout, 1);
}

static void test_subscribe_known_and_pending(void **state)
{
    struct fixture *f = *state;
    open_conn("0102030405060708", T0);
    subscribe(&f->s1, 1, "0102030405060708", 0);
    assert_act(0, QASM_QUERY_RECORD, &f->s1, 1);
    /* Pending: OK now, the shared store is asked, bound when the connection opens. */
    subscribe(&f->s2, 2, "1112131415161718", 0);
    assert_act(1, QASM_QUERY_OK, &f->s2, 2);
    assert_int_equal(f->lookups, 1);
    assert_int_equal(qasm_query_nsubscribers(f->q), 2);
    open_conn("1112131415161718", T0 + QASM_MS);
    assert_int_equal(f->na, 3);
    assert_act(2, QASM_QUERY_PUSH, &f->s2, 2);
    assert_int_equal(f->a[2].event, QASM_PROTO_EV_OPENED);
    /* Events of the first connection go to its subscriber, in order. */
    report(QASM_PROTO_REPORT_DCID_NEW, "0102030405060708", "10.0.0.1:5000", 2, "a0a1a2a3",
           T0 + 2 * QASM_MS);
    report(QASM_PROTO_REPORT_ADDR, "0102030405060708", "10.0.0.1:6000", 3, NULL,
           T0 + 3 * QASM_MS);
    assert_int_equal(f->na, 5);
    assert_act(3, QASM_QUERY_PUSH, &f->s1, 1);
    assert_int_equal(f->a[3].event, QASM_PROTO_EV_DCID_NEW);
    assert_act(4, QASM_QUERY_PUSH, &f->s1, 1);
    assert_int_equal(f->a[4].event, QASM_PROTO_EV_ADDR);
    assert_int_equal(qasm_query_counters(f->q)->pushes, 3);
    assert_int_equal(qasm_query_counters(f->q)->subscribes, 2);
}

static void test_final_event_ends_subscriptions(void **state)
{
    struct fixture *f = *state;
    open_conn("0102030405060708", T0);
    subscribe(&f->s1, 1, "0102030405060708", 0);
    subscribe(&f->s2, 2, "0102030405060708", 0);
    subscribe(&f->s2, 3, NULL, 0); /* watch all */
    assert_int_equal(f->na, 3);
    assert_act(2, QASM_QUERY_OK, &f->s2, 3);
    assert_int_equal(qasm_query_nsubscribers(f->q), 3);
    report(QASM_PROTO_REPORT_CLOSE, "0102030405060708", "10.0.0.1:5000", 2, NULL, T0);
    /* The connection's subscribers (latest first), then the watchers. */
    assert_int_equal(f->na, 6);
    assert_act(3, QASM_QUERY_PUSH, &f->s2, 2);
    assert_act(4, QASM_QUERY_PUSH, &f->s1, 1);
    assert_act(5, QASM_QUERY_PUSH, &f->s2, 3);
    for (int i = 3; i < 6; i++)
        assert_int_equal(f->a[i].event, QASM_PROTO_EV_CLOSED);
    assert_int_equal(qasm_query_nsubscribers(f->q), 1); /* the watcher stays */
    assert_int_equal(f->s1.nsubs, 0);
    /* A subscription to a closed connection: its record, no subscription. */
    subscribe(&f->s1, 4, "0102030405060708", 0);
    assert_act(6, QASM_QUERY_RECORD, &f->s1, 4);
    assert_int_equal(f->s1.nsubs, 0);
}

static void test_unsubscribe(void **state)
{
    struct fixture *f = *state;
    open_conn("0102030405060708", T0);
    subscribe(&f->s1, 1, "0102030405060708", 0);
    subscribe(&f->s1, 2, "2122", 0);
    subscribe(&f->s1, 3, NULL, 0);
    f->na = 0;
    subscribe(&f->s1, 4, "0102030405060708", 1);
    assert_act(0, QASM_QUERY_OK, &f->s1, 4);
    assert_int_equal(f->a[0].count, 1);
    subscribe(&f->s1, 5, "2122", 1);
    assert_act(1, QASM_QUERY_OK, &f->s1, 5);
    subscribe(&f->s1, 6, NULL, 1);
    assert_act(2, QASM_QUERY_OK, &f->s1, 6);
    subscribe(&f->s1, 7, "2122", 1);
    assert_act(3, QASM_QUERY_NOT_FOUND, &f->s1, 7);
    assert_int_equal(qasm_query_nsubscribers(f->q), 0);
    report(QASM_PROTO_REPORT_DCID_NEW, "0102030405060708", "10.0.0.1:5000", 2, "a0a1a2a3", T0);
    open_conn("2122", T0);
    assert_int_equal(f->na, 4);
    assert_int_equal(qasm_query_counters(f->q)->unsubscribes, 4);
}

static void test_session_gone_mid_wait(void **state)
{
    struct fixture *f = *state;
    query(&f->s1, 1, "a0a1a2a3", 500, NULL, T0);
    query(&f->s1, 2, "b0b1", 500, "10.0.0.1:5000", T0);
    subscribe(&f->s1, 3, "c0c1", 0);
    query(&f->s2, 4, "a0a1a2a3", 500, NULL, T0);
    f->na = 0;
    qasm_query_sess_close(f->q, &f->s1);
    assert_int_equal(f->s1.nsubs, 0);
    assert_int_equal(qasm_query_nwaiting(f->q), 1);
    assert_int_equal(qasm_query_nsubscribers(f->q), 0);
    open_conn("a0a1a2a3", T0 + QASM_MS);
    open_conn("c0c1", T0 + QASM_MS);
    assert_int_equal(f->na, 1); /* only the other session's wait */
    assert_act(0, QASM_QUERY_RECORD, &f->s2, 4);
    qasm_query_expire(f->q, T0 + QASM_SEC);
    assert_int_equal(f->na, 1);
}

static int setup_small(void **state)
{
    return setup_limits(state, 2, 3);
}

static void test_budget(void **state)
{
    struct fixture *f = *state;
    query(&f->s1, 1, "a0a1", 500, NULL, T0);
    subscribe(&f->s1, 2, "b0b1", 0);
    f->na = 0;
    subscribe(&f->s1, 3, "c0c1", 0); /* over the session's 2 */
    assert_act(0, QASM_QUERY_ERROR, &f->s1, 3);
    assert_int_equal(f->a[0].code, QASM_PROTO_E_LIMIT);
    assert_false(f->a[0].budget);
    query(&f->s2, 4, "d0d1", 500, NULL, T0);
    query(&f->s2, 5, "e0e1", 500, NULL, T0); /* over the tracker's 3 */
    assert_act(1, QASM_QUERY_ERROR, &f->s2, 5);
    assert_int_equal(f->a[1].code, QASM_PROTO_E_LIMIT);
    assert_true(f->a[1].budget);
    assert_int_equal(qasm_query_counters(f->q)->limit_errors, 2);
    assert_int_equal(qasm_query_counters(f->q)->subs_refused_budget, 1);
    assert_int_equal(qasm_query_nwaiting(f->q) + qasm_query_nsubscribers(f->q), 3);
}

static void test_plain_query_held_for_shared_store(void **state)
{
    struct fixture *f = *state;
    f->lookup_rv = 0; /* a shared store is asked */
    query(&f->s1, 1, "a0a1", 0, NULL, T0);
    query(&f->s1, 2, "b0b1", 0, NULL, T0);
    assert_int_equal(f->na, 0);
    assert_int_equal(f->lookups, 2);
    assert_int_equal(qasm_query_next_deadline(f->q), T0 + 100 * QASM_MS);
    /* The answer for a0a1: it was applied to the store first. */
    open_conn("a0a1", T0 + QASM_MS);
    assert_act(0, QASM_QUERY_RECORD, &f->s1, 1);
    assert_int_equal(qasm_query_lookup_done(f->q, &(struct qasm_cid){ 2, { 0xa0, 0xa1 } }), 0);
    assert_int_equal(f->na, 1);
    /* Not found: NOT_FOUND when the store says so. */
    assert_int_equal(qasm_query_lookup_done(f->q, &(struct qasm_cid){ 2, { 0xb0, 0xb1 } }), 0);
    assert_act(1, QASM_QUERY_NOT_FOUND, &f->s1, 2);
    /* No answer: NOT_FOUND at the store timeout, not counted as a wait. */
    query(&f->s1, 3, "c0c1", 0, NULL, T0);
    qasm_query_expire(f->q, T0 + 100 * QASM_MS);
    assert_act(2, QASM_QUERY_NOT_FOUND, &f->s1, 3);
    assert_int_equal(qasm_query_counters(f->q)->waits, 0);
    assert_int_equal(qasm_query_counters(f->q)->waits_timeout, 0);
    assert_int_equal(qasm_query_nwaiting(f->q), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_cid_answered_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_answered_by_later_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_deadline_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_event_does_not_answer_a_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_known_and_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_event_ends_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_gone_mid_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_plain_query_held_for_shared_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
