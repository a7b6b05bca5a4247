/*
 * Unit tests for the client agent's core (client-agent/agent_state.c) and
 * its qlog scanner (client-agent/agent_qlog.c): synthetic sequences of
 * ngtcp2 observations, as the interposers would feed them. No network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "client-agent/agent_frames.h"
#include "client-agent/agent_qlog.h"
#include "client-agent/agent_state.h"

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

struct fixture {
    struct qasm_agent_conn c;
    struct qasm_agent_evq q;
    struct qasm_cid odcid, scid;
    struct qasm_addr local, remote;
};

static void open_conn(struct fixture *f)
{
    f->odcid = mkcid(0x10, 18);
    f->scid = mkcid(0x20, 18);
    f->local = mkaddr("127.0.0.1:40000");
    f->remote = mkaddr("127.0.0.1:4433");
    qasm_agent_evq_init(&f->q);
    qasm_agent_conn_open(&f->c, &f->odcid, &f->scid, &f->local, &f->remote, 1000, &f->q);
}

static void test_open_emits_open(void **state)
{
    (void)state;
    struct fixture f;
    open_conn(&f);
    assert_int_equal(f.q.n, 1);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_OPEN);
    assert_true(qasm_cid_eq(&f.c.odcid, &f.odcid));
    assert_true(qasm_cid_eq(&f.c.dcid, &f.odcid));
    assert_int_equal(f.c.naddrs, 1);
    assert_non_null(qasm_agent_conn_find_dcid(&f.c, &f.odcid));
}

/* The silent switch to the server's SCID, then ACTIVATE seq 0 for the same CID. */
static void test_handshake_switch_then_activate_seq0(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_cid srv = mkcid(0x70, 18);
    open_conn(&f);

    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &srv, &f.local, &f.remote, 2000, &f.q);
    assert_int_equal(f.q.n, 1);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_true(f.q.ev[0].seq == QASM_AGENT_SEQ_UNKNOWN);
    assert_true(qasm_cid_eq(&f.q.ev[0].cid, &srv));

    /* Polling again with the same values emits nothing. */
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &srv, &f.local, &f.remote, 2100, &f.q);
    assert_int_equal(f.q.n, 0);

    /* ACTIVATE seq 0 teaches the sequence number: one event with seq 0. */
    qasm_agent_conn_activate(&f.c, 0, &srv, 3000, &f.q);
    assert_int_equal(f.q.n, 1);
    assert_int_equal(f.q.ev[0].seq, 0);
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_activate(&f.c, 0, &srv, 3001, &f.q);
    assert_int_equal(f.q.n, 0);
    /* The O-DCID is never retired: it is the key. */
    assert_int_equal(qasm_agent_conn_find_dcid(&f.c, &f.odcid)->state, QASM_AGENT_DCID_ACTIVE);
}

/* ODCID -> Retry SCID -> server SCID: the Retry SCID is retired when left. */
static void test_retry_scid_retired(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_cid retry = mkcid(0x40, 18), srv = mkcid(0x70, 18);
    open_conn(&f);
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &retry, NULL, NULL, 2000, &f.q);
    qasm_agent_conn_observe(&f.c, &srv, NULL, NULL, 2500, &f.q);
    assert_int_equal(f.q.n, 3);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_int_equal(f.q.ev[1].type, QASM_AGENT_EV_DCID_RETIRED);
    assert_true(qasm_cid_eq(&f.q.ev[1].cid, &retry));
    assert_int_equal(f.q.ev[2].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_true(qasm_cid_eq(&f.q.ev[2].cid, &srv));
}

/* keep_left (the eBPF agent): the same silent switches retire nothing. */
static void test_keep_left_retires_nothing(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_cid retry = mkcid(0x40, 18), srv = mkcid(0x70, 18);
    open_conn(&f);
    f.c.keep_left = 1;
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &retry, NULL, NULL, 2000, &f.q);
    qasm_agent_conn_observe(&f.c, &srv, NULL, NULL, 2500, &f.q);
    assert_int_equal(f.q.n, 2);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_int_equal(f.q.ev[1].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_int_equal(qasm_agent_conn_count_dcids(&f.c, QASM_AGENT_DCID_ACTIVE), 3);
    assert_int_equal(qasm_agent_conn_count_dcids(&f.c, QASM_AGENT_DCID_RETIRED), 0);
    /* Back to a DCID used before: known and active, nothing to report. */
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &retry, NULL, NULL, 3000, &f.q);
    assert_int_equal(f.q.n, 0);
}

/* Spares learnt from qlog, then an immediate migration to one of them. */
static void test_spare_then_immediate_migration(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_cid srv = mkcid(0x70, 18), spare[6];
    struct qasm_addr newlocal = mkaddr("127.0.0.1:40001");
    open_conn(&f);
    qasm_agent_conn_observe(&f.c, &srv, NULL, NULL, 2000, &f.q);
    qasm_agent_conn_activate(&f.c, 0, &srv, 2001, &f.q);

    qasm_agent_evq_init(&f.q);
    for (int i = 0; i < 6; i++) {
        spare[i] = mkcid((uint8_t)(0x80 + 16 * i), 18);
        /* Arrival order 6..1, as gtlsserver sends them. */
        assert_int_equal(qasm_agent_conn_learn(&f.c, (uint64_t)(6 - i), &spare[i], 2100, &f.q), 1);
    }
    assert_int_equal(f.q.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(f.q.ev[i].type, QASM_AGENT_EV_DCID_SPARE);
        assert_int_equal(f.q.ev[i].seq, (uint64_t)(6 - i));
    }
    /* A retransmitted NEW_CONNECTION_ID is ignored. */
    qasm_agent_evq_init(&f.q);
    assert_int_equal(qasm_agent_conn_learn(&f.c, 6, &spare[0], 2200, &f.q), 0);
    assert_int_equal(f.q.n, 0);
    assert_int_equal(qasm_agent_conn_count_dcids(&f.c, QASM_AGENT_DCID_SPARE), 6);

    /* ACTIVATE seq 6 inside initiate_immediate_migration, path already new. */
    qasm_agent_conn_activate(&f.c, 6, &spare[0], 3000, &f.q);
    qasm_agent_conn_observe(&f.c, &spare[0], &newlocal, &f.remote, 3000, &f.q);
    assert_int_equal(f.q.n, 2);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_DCID_ACTIVE);
    assert_int_equal(f.q.ev[0].seq, 6);
    assert_int_equal(f.q.ev[1].type, QASM_AGENT_EV_ADDR);
    assert_true(qasm_addr_eq(&f.q.ev[1].addr, &newlocal));
    assert_int_equal(f.c.naddrs, 2);
    assert_int_equal(qasm_agent_conn_count_dcids(&f.c, QASM_AGENT_DCID_SPARE), 5);

    /* DEACTIVATE of the old DCID one PTO later: retired once. */
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_deactivate(&f.c, 0, &srv, 30000, &f.q);
    qasm_agent_conn_deactivate(&f.c, 0, &srv, 30001, &f.q);
    assert_int_equal(f.q.n, 1);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_DCID_RETIRED);
    assert_true(qasm_cid_eq(&f.q.ev[0].cid, &srv));
    /* ...and a late retransmit of its NEW_CONNECTION_ID does not revive it. */
    assert_int_equal(qasm_agent_conn_learn(&f.c, 0, &srv, 30002, &f.q), 0);
    assert_int_equal(f.q.n, 1);
}

/* Non-immediate migration: probe DCID active first, switch seen by polling later. */
static void test_validated_migration_poll(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_cid srv = mkcid(0x70, 18), pv = mkcid(0x90, 18);
    struct qasm_addr newlocal = mkaddr("127.0.0.1:40002");
    open_conn(&f);
    qasm_agent_conn_observe(&f.c, &srv, NULL, NULL, 2000, &f.q);
    qasm_agent_conn_activate(&f.c, 0, &srv, 2000, &f.q);
    qasm_agent_conn_learn(&f.c, 3, &pv, 2001, &f.q);

    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_activate(&f.c, 3, &pv, 3000, &f.q);
    /* Path not switched yet: no ADDR. */
    qasm_agent_conn_observe(&f.c, &srv, &f.local, &f.remote, 3000, &f.q);
    assert_int_equal(f.q.n, 1);
    /* PATH_RESPONSE: DCID and local address switch silently. */
    qasm_agent_conn_observe(&f.c, &pv, &newlocal, &f.remote, 3200, &f.q);
    assert_int_equal(f.q.n, 2);
    assert_int_equal(f.q.ev[1].type, QASM_AGENT_EV_ADDR);
    assert_true(qasm_cid_eq(&f.c.dcid, &pv));
}

/* NAT rebinding: address change, same DCID; back to an old address is a change too. */
static void test_rebinding_and_back(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_addr a2 = mkaddr("127.0.0.1:40003");
    open_conn(&f);
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &f.odcid, &a2, NULL, 2000, &f.q);
    qasm_agent_conn_observe(&f.c, &f.odcid, &f.local, NULL, 3000, &f.q);
    assert_int_equal(f.q.n, 2);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_ADDR);
    assert_int_equal(f.q.ev[1].type, QASM_AGENT_EV_ADDR);
    assert_int_equal(f.c.naddrs, 2);
    assert_true(qasm_addr_eq(&f.c.addrs[1], &f.local)); /* most recent last */
}

/* A path announced ahead: ADDR now, the current address unchanged; its use emits ADDR again. */
static void test_announce_ahead(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_addr a2 = mkaddr("127.0.0.1:40005"), a3 = mkaddr("127.0.0.5:40006");
    open_conn(&f);
    qasm_agent_evq_init(&f.q);
    assert_int_equal(qasm_agent_conn_announce(&f.c, &a2, 2000, &f.q), 1);
    assert_int_equal(f.q.n, 1);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_ADDR);
    assert_true(qasm_addr_eq(&f.q.ev[0].addr, &a2));
    assert_int_equal(f.q.ev[0].ahead, 1);
    assert_true(qasm_addr_eq(&f.c.local, &f.local)); /* still the current one */
    assert_int_equal(f.c.nahead, 1);
    assert_int_equal(f.c.naddrs, 2);
    assert_true(qasm_addr_eq(&f.c.addrs[1], &f.local)); /* the current one stays the latest */
    /* Again, or the current address: nothing. */
    assert_int_equal(qasm_agent_conn_announce(&f.c, &a2, 2100, &f.q), 0);
    assert_int_equal(qasm_agent_conn_announce(&f.c, &f.local, 2100, &f.q), 0);
    assert_int_equal(qasm_agent_conn_announce(&f.c, NULL, 2100, &f.q), -EINVAL);
    assert_int_equal(f.q.n, 1);
    /* Another family-compatible address (migration by address) is announced too. */
    assert_int_equal(qasm_agent_conn_announce(&f.c, &a3, 2200, &f.q), 1);
    assert_int_equal(f.c.nahead, 2);
    /* The move to a2: ADDR (the current address at the tracker), no longer waiting;
     * then the next one waiting (a3) is named again, so the tracker keeps it. */
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &f.odcid, &a2, NULL, 3000, &f.q);
    assert_int_equal(f.q.n, 2);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_ADDR);
    assert_int_equal(f.q.ev[0].ahead, 0); /* a change */
    assert_true(qasm_addr_eq(&f.q.ev[0].addr, &a2));
    assert_int_equal(f.q.ev[1].type, QASM_AGENT_EV_ADDR);
    assert_int_equal(f.q.ev[1].ahead, 1);
    assert_true(qasm_addr_eq(&f.q.ev[1].addr, &a3));
    assert_true(qasm_addr_eq(&f.c.local, &a2));
    assert_int_equal(f.c.nahead, 1);
    assert_true(qasm_addr_eq(&f.c.ahead[0], &a3));
    /* A move with nothing waiting: ADDR alone. */
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_observe(&f.c, &f.odcid, &a3, NULL, 3500, &f.q);
    assert_int_equal(f.q.n, 1);
    assert_int_equal(f.c.nahead, 0);
    /* Closed: refused. */
    qasm_agent_conn_close(&f.c, QASM_AGENT_CLOSE_LOCAL, 4000, &f.q);
    assert_int_equal(qasm_agent_conn_announce(&f.c, &f.local, 5000, &f.q), -ESHUTDOWN);
}

/* At most QASM_AGENT_MAX_AHEAD wait; a further one replaces the oldest, counted. */
static void test_announce_bounded(void **state)
{
    (void)state;
    struct fixture f;
    open_conn(&f);
    qasm_agent_evq_init(&f.q);
    for (int i = 0; i < QASM_AGENT_MAX_AHEAD + 3; i++) {
        struct qasm_addr a = f.local;
        a.port = (uint16_t)(41000 + i);
        assert_int_equal(qasm_agent_conn_announce(&f.c, &a, 2000, &f.q), 1);
    }
    assert_int_equal(f.q.n, QASM_AGENT_MAX_AHEAD + 3);
    assert_int_equal(f.c.nahead, QASM_AGENT_MAX_AHEAD);
    assert_int_equal(f.c.ahead_dropped, 3);
    assert_int_equal(f.c.ahead[0].port, 41003);
    assert_int_equal(f.c.ahead[QASM_AGENT_MAX_AHEAD - 1].port, 41000 + QASM_AGENT_MAX_AHEAD + 2);
    assert_true(f.c.naddrs <= QASM_AGENT_MAX_ADDRS);
    assert_true(qasm_addr_eq(&f.c.addrs[f.c.naddrs - 1], &f.local));
}

static void test_close_once_and_quiet_after(void **state)
{
    (void)state;
    struct fixture f;
    struct qasm_cid x = mkcid(0x33, 8);
    open_conn(&f);
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_close(&f.c, QASM_AGENT_CLOSE_LOCAL, 5000, &f.q);
    qasm_agent_conn_close(&f.c, QASM_AGENT_CLOSE_DELETED, 5001, &f.q);
    assert_int_equal(f.q.n, 1);
    assert_int_equal(f.q.ev[0].type, QASM_AGENT_EV_CLOSE);
    assert_int_equal(f.q.ev[0].reason, QASM_AGENT_CLOSE_LOCAL);
    qasm_agent_conn_observe(&f.c, &x, NULL, NULL, 6000, &f.q);
    qasm_agent_conn_activate(&f.c, 1, &x, 6000, &f.q);
    assert_int_equal(qasm_agent_conn_learn(&f.c, 2, &x, 6000, &f.q), 0);
    assert_int_equal(qasm_agent_conn_tick(&f.c, 1000000000, 1, &f.q), 0);
    assert_int_equal(f.q.n, 1);
}

static void test_refresh_interval(void **state)
{
    (void)state;
    struct fixture f;
    open_conn(&f); /* opened at 1000 */
    qasm_agent_evq_init(&f.q);
    assert_int_equal(qasm_agent_conn_tick(&f.c, 1500, 1000, &f.q), 0);
    assert_int_equal(qasm_agent_conn_tick(&f.c, 2000, 1000, &f.q), 1);
    assert_int_equal(qasm_agent_conn_tick(&f.c, 2999, 1000, &f.q), 0);
    assert_int_equal(qasm_agent_conn_tick(&f.c, 3000, 1000, &f.q), 1);
    assert_int_equal(qasm_agent_conn_tick(&f.c, 9000, 0, &f.q), 0); /* disabled */
    assert_int_equal(f.q.n, 2);
    assert_int_equal(f.q.ev[1].type, QASM_AGENT_EV_REFRESH);
}

/* The DCID table is bounded: spares beyond it are refused, actives evict retired/spares. */
static void test_table_bounds(void **state)
{
    (void)state;
    struct fixture f;
    size_t learnt = 0;
    open_conn(&f);
    for (int i = 0; i < 2 * QASM_AGENT_MAX_DCIDS; i++) {
        struct qasm_cid c = mkcid((uint8_t)i, 8);
        qasm_agent_evq_init(&f.q);
        int rv = qasm_agent_conn_learn(&f.c, (uint64_t)i + 1, &c, 100, &f.q);
        if (rv == 1)
            learnt++;
        else
            assert_int_equal(rv, -ENOSPC);
    }
    assert_int_equal(learnt, QASM_AGENT_MAX_DCIDS - 1); /* the O-DCID takes one slot */
    assert_int_equal(f.c.ndcids, QASM_AGENT_MAX_DCIDS);
    /* An activation always finds room (evicts the oldest spare). */
    struct qasm_cid fresh = mkcid(0xee, 9);
    qasm_agent_evq_init(&f.q);
    qasm_agent_conn_activate(&f.c, 999, &fresh, 200, &f.q);
    assert_int_equal(f.q.n, 1);
    assert_non_null(qasm_agent_conn_find_dcid(&f.c, &fresh));
    assert_non_null(qasm_agent_conn_find_dcid(&f.c, &f.odcid));
    assert_int_equal(f.c.ndcids, QASM_AGENT_MAX_DCIDS);
}

static void test_evq_overflow_counted(void **state)
{
    (void)state;
    struct fixture f;
    open_conn(&f);
    qasm_agent_evq_init(&f.q);
    for (int i = 0; i < QASM_AGENT_EVQ_LEN + 5; i++) {
        struct qasm_addr a = mkaddr("127.0.0.1:1");
        a.port = (uint16_t)(2000 + i);
        qasm_agent_conn_observe(&f.c, NULL, &a, NULL, 100, &f.q);
    }
    assert_int_equal(f.q.n, QASM_AGENT_EVQ_LEN);
    assert_int_equal(f.q.dropped, 5);
    assert_int_equal(f.c.naddrs, QASM_AGENT_MAX_ADDRS);
}

static void test_qlog_scan(void **state)
{
    (void)state;
    const char *js =
        "{\"time\":1.2,\"name\":\"transport:packet_received\",\"data\":{\"frames\":["
        "{\"frame_type\":\"new_connection_id\",\"sequence_number\":6,\"retire_prior_to\":0,"
        "\"connection_id_length\":18,\"connection_id\":\"0102030405060708090a0b0c0d0e0f1011ab\","
        "\"stateless_reset_token\":{\"data\":\"00112233445566778899aabbccddeeff\"}},"
        "{\"frame_type\":\"ack\"},"
        "{\"frame_type\":\"new_connection_id\",\"sequence_number\":5,\"retire_prior_to\":2,"
        "\"connection_id_length\":4,\"connection_id\":\"DEADBEEF\","
        "\"stateless_reset_token\":{\"data\":\"00\"}},"
        "{\"frame_type\":\"new_connection_id\",\"sequence_number\":x}," /* malformed */
        "{\"frame_type\":\"new_connection_id\",\"sequence_number\":9,\"connection_id\":\"abc\"}"
        "]}}";
    struct qasm_agent_newcid out[8];
    size_t n = qasm_agent_qlog_scan(js, strlen(js), out, 8);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].seq, 6);
    assert_int_equal(out[0].cid.len, 18);
    assert_int_equal(out[0].cid.data[0], 0x01);
    assert_int_equal(out[0].cid.data[17], 0xab);
    assert_int_equal(out[1].seq, 5);
    assert_int_equal(out[1].retire_prior_to, 2);
    assert_int_equal(out[1].cid.len, 4);
    assert_int_equal(out[1].cid.data[0], 0xde);
    /* Truncated buffer: nothing read past the end, the cut frame is skipped. */
    size_t cut = (size_t)(strstr(js, "0102030405") - js) + 6;
    assert_int_equal(qasm_agent_qlog_scan(js, cut, out, 8), 0);
    /* |max| is respected. */
    assert_int_equal(qasm_agent_qlog_scan(js, strlen(js), out, 1), 1);
    assert_int_equal(qasm_agent_qlog_scan("", 0, out, 8), 0);
}

/* Appends a NEW_CONNECTION_ID frame (seq < 64, rpt < 64) to |p|; returns the new end. */
static uint8_t *put_ncid(uint8_t *p, uint8_t seq, uint8_t rpt, uint8_t tag, uint8_t cidlen)
{
    *p++ = 0x18;
    *p++ = seq;
    *p++ = rpt;
    *p++ = cidlen;
    for (uint8_t i = 0; i < cidlen; i++)
        *p++ = (uint8_t)(tag + i);
    memset(p, 0xee, 16); /* stateless reset token */
    return p + 16;
}

static void test_frames_scan(void **state)
{
    (void)state;
    uint8_t pkt[512], *p = pkt;
    struct qasm_agent_newcid out[8];

    /* ACK (largest 0x4123 as a 2-byte varint, 1 extra range), then ACK_ECN. */
    *p++ = 0x02; *p++ = 0x41; *p++ = 0x23; *p++ = 5; *p++ = 1; *p++ = 3; *p++ = 1; *p++ = 2;
    *p++ = 0x03; *p++ = 1; *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 7; *p++ = 8; *p++ = 9;
    /* CRYPTO offset 0 length 3. */
    *p++ = 0x06; *p++ = 0; *p++ = 3; *p++ = 'a'; *p++ = 'b'; *p++ = 'c';
    p = put_ncid(p, 6, 0, 0xa0, 18);
    /* STREAM with OFF and LEN bits: id 0, offset 0x10, length 4. */
    *p++ = 0x0e; *p++ = 0; *p++ = 0x10; *p++ = 4; memset(p, 0x18, 4); p += 4;
    *p++ = 0x10; *p++ = 0x80; *p++ = 0; *p++ = 0; *p++ = 1;  /* MAX_DATA, 4-byte varint */
    p = put_ncid(p, 5, 1, 0xb0, 8);
    *p++ = 0x1a; memset(p, 0x18, 8); p += 8;                  /* PATH_CHALLENGE */
    *p++ = 0x01;                                              /* PING */
    *p++ = 0x00; *p++ = 0x00;                                 /* PADDING */
    size_t n = qasm_agent_frames_scan(pkt, (size_t)(p - pkt), out, 8);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].seq, 6);
    assert_int_equal(out[0].cid.len, 18);
    assert_int_equal(out[0].cid.data[0], 0xa0);
    assert_int_equal(out[1].seq, 5);
    assert_int_equal(out[1].retire_prior_to, 1);
    assert_int_equal(out[1].cid.len, 8);
    assert_int_equal(out[1].cid.data[7], 0xb7);
    /* |max| is respected. */
    assert_int_equal(qasm_agent_frames_scan(pkt, (size_t)(p - pkt), out, 1), 1);
    /* Every truncation finds at most the complete frames before the cut. */
    for (size_t cut = 0; cut < (size_t)(p - pkt); cut++)
        assert_true(qasm_agent_frames_scan(pkt, cut, out, 8) <= 2);

    /* Long PADDING runs (padded PATH_CHALLENGE packets) are skipped, frames after them found. */
    memset(pkt, 0, sizeof(pkt));
    p = pkt + 3;
    *p++ = 0x1a; memset(p, 0x18, 8); p += 8;
    p = pkt + 301;
    p = put_ncid(p, 4, 0, 0xc0, 12);
    assert_int_equal(qasm_agent_frames_scan(pkt, sizeof(pkt), out, 8), 1);
    assert_int_equal(out[0].seq, 4);
    assert_int_equal(out[0].cid.data[0], 0xc0);
    assert_int_equal(qasm_agent_frames_scan(pkt, 305, out, 8), 0); /* cut inside the frame */

    /* A STREAM frame without length hides what follows (it runs to the end). */
    p = pkt;
    *p++ = 0x08; *p++ = 4; memset(p, 0x18, 40); p += 40;
    assert_int_equal(qasm_agent_frames_scan(pkt, (size_t)(p - pkt), out, 8), 0);

    /* Unknown frame type stops the walk; bad CID lengths are rejected. */
    p = pkt;
    p = put_ncid(p, 1, 0, 0x10, 4);
    *p++ = 0x21;
    p = put_ncid(p, 2, 0, 0x20, 4);
    assert_int_equal(qasm_agent_frames_scan(pkt, (size_t)(p - pkt), out, 8), 1);
    p = pkt;
    p = put_ncid(p, 3, 0, 0x10, 0);
    assert_int_equal(qasm_agent_frames_scan(pkt, (size_t)(p - pkt), out, 8), 0);
    pkt[0] = 0x18; pkt[1] = 1; pkt[2] = 0; pkt[3] = 21;
    assert_int_equal(qasm_agent_frames_scan(pkt, 4 + 21 + 16, out, 8), 0);
    /* CONNECTION_CLOSE with a reason, then a NEW_CONNECTION_ID. */
    p = pkt;
    *p++ = 0x1c; *p++ = 1; *p++ = 0; *p++ = 2; *p++ = 'h'; *p++ = 'i';
    *p++ = 0x1d; *p++ = 0; *p++ = 0;
    p = put_ncid(p, 9, 0, 0x30, 20);
    assert_int_equal(qasm_agent_frames_scan(pkt, (size_t)(p - pkt), out, 8), 1);
    assert_int_equal(out[0].cid.len, 20);
    assert_int_equal(qasm_agent_frames_scan(pkt, 0, out, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_emits_open),
        cmocka_unit_test(test_handshake_switch_then_activate_seq0),
        cmocka_unit_test(test_retry_scid_retired),
        cmocka_unit_test(test_keep_left_retires_nothing),
        cmocka_unit_test(test_spare_then_immediate_migration),
        cmocka_unit_test(test_validated_migration_poll),
        cmocka_unit_test(test_rebinding_and_back),
        cmocka_unit_test(test_announce_ahead),
        cmocka_unit_test(test_announce_bounded),
        cmocka_unit_test(test_close_once_and_quiet_after),
        cmocka_unit_test(test_refresh_interval),
        cmocka_unit_test(test_table_bounds),
        cmocka_unit_test(test_evq_overflow_counted),
        cmocka_unit_test(test_qlog_scan),
        cmocka_unit_test(test_frames_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
