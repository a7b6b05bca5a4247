/* Unit tests for the token bucket and the rate limiter core, time injected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <cmocka.h>

#include "mbox_util.h"
#include "bucket.h"

#define SRV "192.0.2.1:443"
#define C1 "10.0.0.45:10001"
#define C2 "10.0.0.45:10002"

static void test_bucket_arithmetic(void **state)
{
    (void)state;
    struct qasm_bucket_params bp;
    struct qasm_bucket b;
    assert_int_equal(qasm_bucket_params_init(&bp, 5, 5), 0);
    qasm_bucket_init(&b, &bp, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(qasm_bucket_take(&b, &bp, 1, 0), 1);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 0), 0);
    /* 5 tokens/s: one token every 200 ms, not before */
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 200 * QASM_MS - 1), 0);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 200 * QASM_MS), 1);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 200 * QASM_MS), 0);
    /* a long pause refills only up to the burst */
    for (int i = 0; i < 5; i++)
        assert_int_equal(qasm_bucket_take(&b, &bp, 1, 100 * QASM_SEC), 1);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 100 * QASM_SEC), 0);
    assert_true(qasm_bucket_tokens(&b, &bp, 100 * QASM_SEC + 100 * QASM_MS) > 0.49);
    assert_true(qasm_bucket_tokens(&b, &bp, 100 * QASM_SEC + 100 * QASM_MS) < 0.51);
    /* time going backwards refills nothing */
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 50 * QASM_SEC), 0);

    /* fractional rate: 0.5/s, burst 1 */
    assert_int_equal(qasm_bucket_params_init(&bp, 0.5, 1), 0);
    qasm_bucket_init(&b, &bp, 0);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 0), 1);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, QASM_SEC), 0);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1, 2 * QASM_SEC), 1);

    /* bytes: 1000 B/s, burst 1500 */
    assert_int_equal(qasm_bucket_params_init(&bp, 1000, 1500), 0);
    qasm_bucket_init(&b, &bp, 0);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1200, 0), 1);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1200, 0), 0);
    assert_int_equal(qasm_bucket_take(&b, &bp, 1200, 900 * QASM_MS), 1);
    /* huge cost never passes, no overflow */
    assert_int_equal(qasm_bucket_take(&b, &bp, UINT64_MAX, 1000 * QASM_SEC), 0);

    assert_int_equal(qasm_bucket_params_init(&bp, 0, 5), -EINVAL);
    assert_int_equal(qasm_bucket_params_init(&bp, 5, 0), -EINVAL);
    assert_int_equal(qasm_bucket_params_init(&bp, 5, 1e12), -EINVAL);
}

static struct qasm_mbox *rl_new(enum qasm_mbox_mode mode, int bytes)
{
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, mode);
    cfg.rl_rate = 5;
    cfg.rl_burst = 5;
    cfg.rl_bytes = bytes;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    return m;
}

/* Sends |n| packets at |now| from |src| with |dcid|; returns how many passed. */
static int burst(struct qasm_mbox *m, const struct qasm_cid *dcid, const char *src, int n,
                 qasm_tstamp now)
{
    struct tpkt p;
    struct qasm_mbox_verdict v;
    int passed = 0;
    t_short(&p, dcid, 40);
    for (int i = 0; i < n; i++) {
        enum qasm_mbox_action a = t_send(m, &p, src, SRV, QASM_MBOX_FROM_CLIENT, now, &v);
        assert_int_not_equal(a, QASM_MBOX_HOLD);
        if (a == QASM_MBOX_FORWARD)
            passed++;
        else
            assert_int_equal(v.reason, QASM_MBOX_DROP_RATE_LIMITED);
    }
    return passed;
}

/* Client Initial from C1, server Handshake back teaching the CID length. */
static void rl_handshake(struct qasm_mbox *m)
{
    struct tpkt p;
    struct qasm_mbox_verdict v;
    struct qasm_cid odcid = t_cid(1), ccid = t_cid(9), s1 = t_cid(2);
    t_initial(&p, &odcid, &ccid);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    t_long(&p, 2, &ccid, &s1, 300);
    assert_int_equal(t_send(m, &p, SRV, C1, QASM_MBOX_FROM_SERVER, 0, &v), QASM_MBOX_FORWARD);
}

static void test_default_bypassed_by_migration(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_new(QASM_MBOX_DEFAULT, 0);
    rl_handshake(m); /* 2 tokens used, 3 left */
    struct qasm_cid s1 = t_cid(2), s2 = t_cid(3);
    assert_int_equal(burst(m, &s1, C1, 10, QASM_MS), 3);
    /* migrating gives a fresh bucket: the limit is bypassed */
    assert_int_equal(burst(m, &s2, C2, 10, 2 * QASM_MS), 5);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.mappings, 2);
    assert_int_equal(st.packets_dropped_by[QASM_MBOX_DROP_RATE_LIMITED], 12);
    qasm_mbox_del(m);
}

static void test_aware_holds_rate_across_migration(void **state)
{
    (void)state;
    for (int mode = QASM_MBOX_REACTIVE; mode <= QASM_MBOX_PROACTIVE; mode++) {
        struct qasm_mbox *m = rl_new((enum qasm_mbox_mode)mode, 0);
        rl_handshake(m);
        struct qasm_cid odcid = t_cid(1), s1 = t_cid(2), s2 = t_cid(3);
        assert_int_equal(burst(m, &s1, C1, 10, QASM_MS), 3);
        struct trec t;
        t_rec(&t, &odcid, SRV);
        t_rec_dcid(&t, &s1);
        t_rec_dcid(&t, &s2);
        t_rec_client(&t, C1);
        t_rec_client(&t, C2);
        struct tpkt p;
        struct qasm_mbox_verdict v;
        struct qasm_mbox_req r;
        if (mode == QASM_MBOX_PROACTIVE) {
            qasm_mbox_push(m, &t.r, QASM_MS);
        } else {
            t_short(&p, &s2, 40);
            assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 2 * QASM_MS, &v),
                             QASM_MBOX_HOLD);
            assert_int_equal(t_req(m, QASM_MBOX_REQ_QUERY, &r), 1);
            qasm_mbox_answer(m, r.id, &t.r, 2 * QASM_MS);
            assert_int_equal(qasm_mbox_next_release(m, &v), 1);
            assert_int_equal(v.action, QASM_MBOX_DROP);
            assert_int_equal(v.reason, QASM_MBOX_DROP_RATE_LIMITED);
        }
        /* same bucket: still empty after migrating */
        assert_int_equal(burst(m, &s2, C2, 10, 2 * QASM_MS), 0);
        /* refills at 5/s for the connection as a whole */
        assert_int_equal(burst(m, &s2, C2, 10, 2 * QASM_MS + 200 * QASM_MS), 1);
        assert_int_equal(t_stats(m).mappings, 1);
        qasm_mbox_del(m);
    }
}

static void test_reverse_traffic_same_bucket(void **state)
{
    (void)state;
    struct qasm_mbox *m = rl_new(QASM_MBOX_DEFAULT, 0);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    for (int i = 0; i < 3; i++)
        assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    for (int i = 0; i < 2; i++)
        assert_int_equal(t_send(m, &p, SRV, C1, QASM_MBOX_FROM_SERVER, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, SRV, C1, QASM_MBOX_FROM_SERVER, 0, &v), QASM_MBOX_DROP);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_DROP);
    assert_int_equal(t_stats(m).mappings, 1);
    /* a server packet with no client flow creates the (reverse-keyed) flow */
    assert_int_equal(t_send(m, &p, SRV, C2, QASM_MBOX_FROM_SERVER, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
    assert_int_equal(t_stats(m).mappings, 2);
    qasm_mbox_del(m);
}

static void test_bytes_mode(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_DEFAULT);
    cfg.rl_rate = 1000;
    cfg.rl_burst = 1000;
    cfg.rl_bytes = 1;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memset(p.buf, 0, 400);
    p.len = 400;
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_DROP);
    p.len = 200;
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_DROP);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 200 * QASM_MS, &v),
                     QASM_MBOX_FORWARD);
    qasm_mbox_del(m);
}

/* Client |c| sends "ping", the server answers: an assured flow. */
static void rl_assured(struct qasm_mbox *m, const char *c, qasm_tstamp now)
{
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    assert_int_equal(t_send(m, &p, c, SRV, QASM_MBOX_FROM_CLIENT, now, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, SRV, c, QASM_MBOX_FROM_SERVER, now, &v), QASM_MBOX_FORWARD);
}

/* At max_entries with every entry assured, a new flow is refused (table_full). */
static void test_table_full(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_REACTIVE);
    cfg.max_entries = 2;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    rl_assured(m, C1, 0);
    rl_assured(m, C2, 0);
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    assert_int_equal(t_send(m, &p, "10.0.0.9:9", SRV, QASM_MBOX_FROM_CLIENT, 0, &v),
                     QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_TABLE_FULL);
    struct qasm_cid o = t_cid(1), c = t_cid(9);
    t_initial(&p, &o, &c);
    assert_int_equal(t_send(m, &p, "10.0.0.9:9", SRV, QASM_MBOX_FROM_CLIENT, 0, &v),
                     QASM_MBOX_DROP);
    assert_int_equal(v.reason, QASM_MBOX_DROP_TABLE_FULL);
    assert_string_equal(qasm_mbox_drop_name(v.reason), "table_full");
    assert_int_equal(t_stats(m).entries_evicted, 0);
    qasm_mbox_expire(m, 121 * QASM_SEC); /* room again */
    assert_int_equal(t_send(m, &p, "10.0.0.9:9", SRV, QASM_MBOX_FROM_CLIENT, 121 * QASM_SEC, &v),
                     QASM_MBOX_FORWARD);
    qasm_mbox_del(m);
}

/* At max_entries a new flow evicts the idlest unassured entry, never an assured one. */
static void test_table_full_evicts_unassured(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_DEFAULT);
    cfg.max_entries = 3;
    cfg.flow_events = 1;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    rl_assured(m, C1, 0);
    assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 1, &v), QASM_MBOX_FORWARD);
    assert_int_equal(t_send(m, &p, "10.0.0.9:9", SRV, QASM_MBOX_FROM_CLIENT, 2, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(t_count_events(m, QASM_MBOX_EV_FLOW_CLOSE), 0);
    /* full: the newcomer takes C2's place (idlest unassured), C1 stays */
    assert_int_equal(t_send(m, &p, "10.0.0.10:10", SRV, QASM_MBOX_FROM_CLIENT, 3, &v),
                     QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
    struct qasm_mbox_event ev;
    assert_int_equal(qasm_mbox_next_event(m, &ev), 1);
    assert_int_equal(ev.type, QASM_MBOX_EV_FLOW_CLOSE);
    struct qasm_addr c2 = t_addr(C2), srv = t_addr(SRV);
    assert_true(qasm_addr_eq(&ev.addr, &c2));
    assert_true(qasm_addr_eq(&ev.hop, &srv));
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 4, &v), QASM_MBOX_FORWARD);
    assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
    struct qasm_mbox_stats st = t_stats(m);
    assert_int_equal(st.entries_evicted, 1);
    assert_int_equal(st.mappings, 3);
    qasm_mbox_del(m);
}

/* Heap in use (small chunks and mmapped tables). */
static size_t heap_now(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/*
 * The table is bounded by default (like nf_conntrack_max): a flood of
 * spoofed one-packet flows larger than the bound leaves the table at the
 * bound, an established flow keeps its bucket, and a new client is served.
 */
static void test_default_bound_spoofed_flood(void **state)
{
    (void)state;
    for (int mode = QASM_MBOX_DEFAULT; mode <= QASM_MBOX_REACTIVE; mode++) {
        struct qasm_mbox_config cfg;
        qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, (enum qasm_mbox_mode)mode);
        size_t bound = cfg.max_entries;
        printf("figure: ratelimit %s default max_entries=%zu\n",
               qasm_mbox_mode_name((enum qasm_mbox_mode)mode), bound);
        size_t heap0 = heap_now();
        struct qasm_mbox *m;
        assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
        rl_assured(m, C1, 0);
        size_t n = (bound ? bound : 65536) + 1000;
        size_t fwd = t_flood(m, n, SRV, QASM_SEC);
        struct qasm_mbox_stats st = t_stats(m);
        printf("figure: ratelimit %s flood of %zu spoofed flows: forwarded=%zu entries=%" PRIu64
               " bytes_per_entry=%.0f\n",
               qasm_mbox_mode_name((enum qasm_mbox_mode)mode), n, fwd, st.mappings,
               (double)(heap_now() - heap0) / (double)st.mappings);
        assert_true(bound > 0);
        assert_true(st.mappings <= bound);
        assert_int_equal(st.entries_evicted, n + 1 - bound);
        struct tpkt p;
        struct qasm_mbox_verdict v;
        memcpy(p.buf, "ping", 4);
        p.len = 4;
        /* the established flow kept its bucket */
        assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 2 * QASM_SEC, &v),
                         QASM_MBOX_FORWARD);
        assert_int_equal(v.path, QASM_MBOX_PATH_LOOKUP);
        /* and a new client is served */
        assert_int_equal(t_send(m, &p, C2, SRV, QASM_MBOX_FROM_CLIENT, 2 * QASM_SEC, &v),
                         QASM_MBOX_FORWARD);
        assert_int_equal(v.path, QASM_MBOX_PATH_NEW);
        qasm_mbox_del(m);
    }
}

/* With flow_events, an expired flow tells the shell to close its upstream socket. */
static void test_flow_close_on_expiry(void **state)
{
    (void)state;
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_DEFAULT);
    cfg.flow_events = 1;
    struct qasm_mbox *m;
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    rl_assured(m, C2, 0);
    qasm_mbox_expire(m, 30 * QASM_SEC - 1);
    assert_int_equal(t_count_events(m, QASM_MBOX_EV_FLOW_CLOSE), 0);
    qasm_mbox_expire(m, 31 * QASM_SEC); /* C1 never answered: 30 s */
    struct qasm_mbox_event ev;
    assert_int_equal(qasm_mbox_next_event(m, &ev), 1);
    struct qasm_addr c1 = t_addr(C1), c2 = t_addr(C2), srv = t_addr(SRV);
    assert_int_equal(ev.type, QASM_MBOX_EV_FLOW_CLOSE);
    assert_true(qasm_addr_eq(&ev.addr, &c1) && qasm_addr_eq(&ev.hop, &srv));
    assert_int_equal(qasm_mbox_next_event(m, &ev), 0);
    qasm_mbox_expire(m, 121 * QASM_SEC); /* C2 after the stream timeout */
    assert_int_equal(qasm_mbox_next_event(m, &ev), 1);
    assert_true(qasm_addr_eq(&ev.addr, &c2) && qasm_addr_eq(&ev.hop, &srv));
    qasm_mbox_del(m);
    /* without flow_events (the default), no such event */
    qasm_mbox_config_init(&cfg, QASM_MBOX_RATELIMIT, QASM_MBOX_DEFAULT);
    assert_int_equal(qasm_mbox_new(&m, &cfg), 0);
    assert_int_equal(t_send(m, &p, C1, SRV, QASM_MBOX_FROM_CLIENT, 0, &v), QASM_MBOX_FORWARD);
    qasm_mbox_expire(m, 31 * QASM_SEC);
    assert_int_equal(qasm_mbox_next_event(m, &ev), 0);
    qasm_mbox_del(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_arithmetic),
        cmocka_unit_test(test_default_bypassed_by_migration),
        cmocka_unit_test(test_aware_holds_rate_across_migration),
        cmocka_unit_test(test_reverse_traffic_same_bucket),
        cmocka_unit_test(test_bytes_mode),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_table_full_evicts_unassured),
        cmocka_unit_test(test_default_bound_spoofed_flood),
        cmocka_unit_test(test_flow_close_on_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
