/*
 * test_store.c: the tracker's store core (tracker/core/store.h) with injected
 * time: creation and lookups, trust, TTL and close linger, caps, bounds,
 * events, convergence under loss, duplication and reordering, and the
 * ownership of a connection (reports authenticated with its secret).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "store.h"
#include "tracker_util.h"

#define T0 (1000 * QASM_SEC)

struct events {
    unsigned n[QASM_PROTO_EV_EVICTED + 1];
    unsigned total;
    uint8_t last;
    struct qasm_proto_conn last_rec;
};

static void on_event(void *arg, struct qasm_store_conn *c, uint8_t event)
{
    struct events *ev = arg;
    assert_true(event >= QASM_PROTO_EV_OPENED && event <= QASM_PROTO_EV_EVICTED);
    ev->n[event]++;
    ev->total++;
    ev->last = event;
    qasm_store_record(c, &ev->last_rec);
}

struct fixture {
    struct qasm_store *s;
    struct events ev;
    struct qasm_store_config cfg;
};

static int setup_cfg(void **state, void (*tweak)(struct qasm_store_config *))
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    qasm_store_config_default(&f->cfg);
    f->cfg.ttl = 10 * QASM_SEC;
    f->cfg.close_linger = 2 * QASM_SEC;
    if (tweak)
        tweak(&f->cfg);
    assert_int_equal(qasm_store_new(&f->s, &f->cfg, on_event, &f->ev), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_cfg(state, NULL);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    qasm_store_del(f->s);
    free(f);
    return 0;
}

/* A report of connection (odcid, client0) from |client| with |seq|. */
static struct qasm_proto_report R(const char *odcid, const char *client0, const char *client,
                                  uint32_t seq)
{
    struct qasm_proto_report r;
    memset(&r, 0, sizeof(r));
    r.odcid = C(odcid);
    r.client0 = A(client0);
    r.client = A(client);
    r.seq = seq;
    return r;
}

/* The secret an owner chose for |odcid| (one per O-DCID is enough for these tests). */
static void secret_of(const struct qasm_cid *odcid, uint8_t out[QASM_PROTO_SECRET_LEN])
{
    memset(out, 0x5a, QASM_PROTO_SECRET_LEN);
    memcpy(out, odcid->data, odcid->len < QASM_PROTO_SECRET_LEN ? odcid->len : QASM_PROTO_SECRET_LEN);
}

/* |r| as its owner sends it: signed with the connection's secret. */
static struct qasm_proto_report owned(uint8_t type, const struct qasm_proto_report *r)
{
    struct qasm_proto_report o = *r;
    uint8_t k[QASM_PROTO_SECRET_LEN];
    secret_of(&r->odcid, k);
    if (qasm_proto_is_report(type))
        (void)qasm_proto_report_sign(type, &o, k); /* fails (no MAC) for unencodable fields */
    return o;
}

static int report(struct fixture *f, uint8_t type, const struct qasm_proto_report *r,
                  qasm_tstamp now)
{
    struct qasm_proto_report o = owned(type, r);
    return qasm_store_report(f->s, type, &o, &r->client, now);
}

static int open_conn(struct fixture *f, const char *odcid, const char *client, qasm_tstamp now)
{
    struct qasm_proto_report r = R(odcid, client, client, 1);
    r.scid = C("c1c2");
    r.server = A("192.0.2.1:443");
    return report(f, QASM_PROTO_REPORT_OPEN, &r, now);
}

static int dcid(struct fixture *f, uint8_t type, const char *odcid, const char *client0,
                const char *client, uint32_t seq, const char *cid, uint64_t cseq, qasm_tstamp now)
{
    struct qasm_proto_report r = R(odcid, client0, client, seq);
    r.dcid.cid = C(cid);
    r.dcid.seq = cseq;
    return report(f, type, &r, now);
}

static struct qasm_proto_conn rec_of(struct fixture *f, const char *cid)
{
    struct qasm_cid c = C(cid);
    struct qasm_store_conn *sc = qasm_store_find(f->s, &c, NULL);
    assert_non_null(sc);
    struct qasm_proto_conn rec;
    qasm_store_record(sc, &rec);
    return rec;
}

static void test_open_then_lookup_by_odcid_and_dcid(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_conn(f, "0102030405060708", "10.0.0.1:5000", T0), QASM_STORE_CHANGED);
    assert_int_equal(f->ev.n[QASM_PROTO_EV_OPENED], 1);
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "0102030405060708", "10.0.0.1:5000",
                          "10.0.0.1:5000", 2, "a0a1a2a3a4a5a6a7a8", 0, T0),
                     QASM_STORE_CHANGED);
    assert_int_equal(f->ev.n[QASM_PROTO_EV_DCID_NEW], 1);

    struct qasm_proto_conn rec = rec_of(f, "a0a1a2a3a4a5a6a7a8");
    assert_true(qasm_cid_eq(&rec.odcid, &(struct qasm_cid){ 0 }) == 0);
    struct qasm_cid odcid = C("0102030405060708");
    assert_true(qasm_cid_eq(&rec.odcid, &odcid));
    assert_int_equal(rec.ndcids, 1);
    assert_int_equal(rec.dcid_len, 9);
    assert_int_equal(rec.nclients, 1);
    struct qasm_addr srv = A("192.0.2.1:443"), cl = A("10.0.0.1:5000");
    assert_true(qasm_addr_eq(&rec.server, &srv));
    assert_true(qasm_addr_eq(&rec.clients[0], &cl));
    struct qasm_cid scid = C("c1c2");
    assert_true(qasm_cid_eq(&rec.scid, &scid));
    /* By O-DCID too, and with the server filter. */
    struct qasm_proto_conn rec2 = rec_of(f, "0102030405060708");
    assert_int_equal(rec2.rev, rec.rev);
    struct qasm_addr other = A("192.0.2.2:443");
    struct qasm_cid d = C("a0a1a2a3a4a5a6a7a8");
    assert_non_null(qasm_store_find(f->s, &d, &srv));
    assert_null(qasm_store_find(f->s, &d, &other));
    assert_null(qasm_store_find(f->s, &odcid, &other));
    struct qasm_cid unknown = C("ffff");
    assert_null(qasm_store_find(f->s, &unknown, NULL));
    assert_non_null(qasm_store_get(f->s, &odcid, &cl));
    struct qasm_addr cl2 = A("10.0.0.1:5001");
    assert_null(qasm_store_get(f->s, &odcid, &cl2)); /* the key includes the first client */
    assert_int_equal(qasm_store_count(f->s), 1);
    assert_int_equal(qasm_store_get_stats(f->s)->dcids, 1);
}

static void test_same_odcid_two_clients_are_two_connections(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_conn(f, "0102", "10.0.0.1:5000", T0), QASM_STORE_CHANGED);
    assert_int_equal(open_conn(f, "0102", "10.0.0.2:5000", T0), QASM_STORE_CHANGED);
    assert_int_equal(qasm_store_count(f->s), 2);
}

static void test_trust_source_rejects_other_ip(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_report r = R("0102", "10.0.0.1:5000", "10.0.0.1:5000", 1);
    r.server = A("192.0.2.1:443");
    struct qasm_addr src = A("10.0.0.9:7777");
    r = owned(QASM_PROTO_REPORT_OPEN, &r);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_OPEN, &r, &src, T0), -EACCES);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_OPEN, &r, NULL, T0), -EACCES);
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_trust, 2);
    assert_int_equal(qasm_store_count(f->s), 0);
    /* Same IP, another port (the agent's own socket): accepted. */
    src = A("10.0.0.1:7777");
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_OPEN, &r, &src, T0),
                     QASM_STORE_CHANGED);
}

static void tweak_trust_any(struct qasm_store_config *cfg)
{
    cfg->trust_any = 1;
}

static void test_trust_any_accepts_other_ip(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_report r = R("0102", "10.0.0.1:5000", "10.0.0.1:5000", 1);
    r.server = A("192.0.2.1:443");
    struct qasm_addr src = A("10.0.0.9:7777");
    struct qasm_proto_report o = owned(QASM_PROTO_REPORT_OPEN, &r);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_OPEN, &o, &src, T0),
                     QASM_STORE_CHANGED);
    o = owned(QASM_PROTO_REPORT_ADDR, &r);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &o, NULL, T0),
                     QASM_STORE_UNCHANGED);
    /* Any source, but still only the owner: an unsigned ADDR is refused. */
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &r, NULL, T0), -EPERM);
}

static void test_bad_reports_are_counted(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_report r = R("0102", "10.0.0.1:5000", "10.0.0.1:5000", 1);
    r.odcid.len = 0;
    assert_int_equal(report(f, QASM_PROTO_REPORT_OPEN, &r, T0), -EINVAL);
    r = R("0102", "10.0.0.1:5000", "10.0.0.1:5000", 1);
    assert_int_equal(report(f, QASM_PROTO_QUERY, &r, T0), -EINVAL);
    memset(&r.client0, 0, sizeof(r.client0));
    assert_int_equal(report(f, QASM_PROTO_REPORT_OPEN, &r, T0), -EINVAL);
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_bad, 3);
    assert_int_equal(qasm_store_count(f->s), 0);
}

static void test_ttl_expires_idle_connections_only(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    open_conn(f, "02", "10.0.0.1:2", T0 + 1 * QASM_SEC);
    assert_int_equal(qasm_store_next_deadline(f->s), T0 + 10 * QASM_SEC);
    /* Activity on 01 at T0+5s moves its deadline. */
    struct qasm_proto_report r = R("01", "10.0.0.1:1", "10.0.0.1:1", 2);
    assert_int_equal(report(f, QASM_PROTO_REPORT_ADDR, &r, T0 + 5 * QASM_SEC),
                     QASM_STORE_UNCHANGED);
    assert_int_equal(qasm_store_next_deadline(f->s), T0 + 11 * QASM_SEC);
    assert_int_equal(qasm_store_expire(f->s, T0 + 11 * QASM_SEC - 1), 0);
    assert_int_equal(qasm_store_expire(f->s, T0 + 11 * QASM_SEC), 1);
    assert_int_equal(f->ev.n[QASM_PROTO_EV_EXPIRED], 1);
    struct qasm_cid c1 = C("01"), c2 = C("02");
    assert_non_null(qasm_store_find(f->s, &c1, NULL));
    assert_null(qasm_store_find(f->s, &c2, NULL));
    assert_int_equal(qasm_store_expire(f->s, T0 + 15 * QASM_SEC), 1);
    assert_int_equal(qasm_store_count(f->s), 0);
    assert_int_equal(qasm_store_next_deadline(f->s), QASM_TSTAMP_MAX);
    assert_int_equal(qasm_store_get_stats(f->s)->expired, 2);
    assert_int_equal(qasm_store_get_stats(f->s)->ips, 0);
}

static void test_expiry_removes_dcids(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 2, "aa", 0, T0);
    dcid(f, QASM_PROTO_REPORT_DCID_RETIRE, "01", "10.0.0.1:1", "10.0.0.1:1", 3, "bb", 1, T0);
    assert_int_equal(qasm_store_get_stats(f->s)->dcids, 1);
    assert_int_equal(qasm_store_get_stats(f->s)->tombstones, 1);
    qasm_store_expire(f->s, T0 + 10 * QASM_SEC);
    struct qasm_cid aa = C("aa");
    assert_null(qasm_store_find(f->s, &aa, NULL));
    assert_int_equal(qasm_store_get_stats(f->s)->dcids, 0);
    assert_int_equal(qasm_store_get_stats(f->s)->tombstones, 0);
}

static void test_close_is_final_and_lingers(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    struct qasm_proto_report r = R("01", "10.0.0.1:1", "10.0.0.1:1", 5);
    assert_int_equal(report(f, QASM_PROTO_REPORT_CLOSE, &r, T0 + QASM_SEC), QASM_STORE_CHANGED);
    assert_int_equal(f->ev.n[QASM_PROTO_EV_CLOSED], 1);
    struct qasm_proto_conn rec = rec_of(f, "01");
    assert_true(rec.flags & QASM_PROTO_REC_CLOSED);
    /* A late report (reordered, lower seq) does not reopen it. */
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 3,
                          "aa", 0, T0 + QASM_SEC),
                     -ESTALE);
    assert_int_equal(qasm_store_get_stats(f->s)->ignored_closed, 1);
    assert_int_equal(qasm_store_next_deadline(f->s), T0 + 3 * QASM_SEC);
    assert_int_equal(qasm_store_expire(f->s, T0 + 3 * QASM_SEC - 1), 0);
    assert_int_equal(qasm_store_expire(f->s, T0 + 3 * QASM_SEC), 1);
    assert_int_equal(f->ev.n[QASM_PROTO_EV_EXPIRED], 0); /* CLOSED was the last event */
    assert_int_equal(qasm_store_count(f->s), 0);
    /* Closing an unknown connection does nothing. */
    assert_int_equal(report(f, QASM_PROTO_REPORT_CLOSE, &r, T0 + 4 * QASM_SEC),
                     QASM_STORE_UNCHANGED);
    assert_int_equal(qasm_store_count(f->s), 0);
}

static void tweak_caps(struct qasm_store_config *cfg)
{
    cfg->max_conns = 3;
    cfg->max_per_ip = 2;
}

static void test_caps_refuse_new_connections(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_conn(f, "01", "10.0.0.1:1", T0), QASM_STORE_CHANGED);
    assert_int_equal(open_conn(f, "02", "10.0.0.1:2", T0), QASM_STORE_CHANGED);
    assert_int_equal(open_conn(f, "03", "10.0.0.1:3", T0), -EDQUOT);
    assert_int_equal(open_conn(f, "04", "10.0.0.2:1", T0), QASM_STORE_CHANGED);
    assert_int_equal(open_conn(f, "05", "10.0.0.3:1", T0), -ENOSPC);
    /* Existing connections still take reports. */
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 2,
                          "aa", 0, T0),
                     QASM_STORE_CHANGED);
    const struct qasm_store_stats *st = qasm_store_get_stats(f->s);
    assert_int_equal(st->rejected_ip_cap, 1);
    assert_int_equal(st->rejected_full, 1);
    assert_int_equal(st->ips, 2);
    /* Room again after expiry. */
    qasm_store_expire(f->s, T0 + 10 * QASM_SEC);
    assert_int_equal(open_conn(f, "03", "10.0.0.1:3", T0 + 11 * QASM_SEC), QASM_STORE_CHANGED);
}

static void test_dcids_and_clients_are_bounded(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    char hex[8];
    for (unsigned i = 0; i < QASM_PROTO_MAX_DCIDS + 4; i++) {
        snprintf(hex, sizeof(hex), "d0%02x", i);
        dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 2 + i, hex, i, T0);
    }
    struct qasm_proto_conn rec = rec_of(f, "01");
    assert_int_equal(rec.ndcids, QASM_PROTO_MAX_DCIDS);
    assert_int_equal(rec.dcids[0].seq, 4); /* the oldest ones made room */
    assert_int_equal(qasm_store_get_stats(f->s)->dcid_overflow, 4);
    for (unsigned i = 1; i < rec.ndcids; i++)
        assert_true(rec.dcids[i - 1].seq < rec.dcids[i].seq);
    /* Client addresses: 8 at most, the newest kept, the first never dropped. */
    char a[32];
    for (unsigned i = 0; i < QASM_PROTO_MAX_CLIENTS + 3; i++) {
        snprintf(a, sizeof(a), "10.0.0.1:%u", 100 + i);
        struct qasm_proto_report r = R("01", "10.0.0.1:1", a, 100 + i);
        assert_true(report(f, QASM_PROTO_REPORT_ADDR, &r, T0) >= 0);
    }
    rec = rec_of(f, "01");
    assert_int_equal(rec.nclients, QASM_PROTO_MAX_CLIENTS);
    struct qasm_addr first = A("10.0.0.1:1"), last = A("10.0.0.1:110");
    assert_true(qasm_addr_eq(&rec.clients[0], &first));
    assert_true(qasm_addr_eq(&rec.clients[rec.current], &last));
    assert_true(qasm_store_get_stats(f->s)->addr_overflow >= 3);
}

static void test_lost_open_is_healed_by_refresh(void **state)
{
    struct fixture *f = *state;
    /* OPEN lost: a DCID activation cannot create the connection (it carries no secret). */
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 2,
                          "aa", 0, T0),
                     -ENOENT);
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_unknown, 1);
    assert_int_equal(qasm_store_count(f->s), 0);
    /* The agent's next REFRESH carries the secret and the whole state. */
    struct qasm_proto_report r = R("01", "10.0.0.1:1", "10.0.0.1:1", 3);
    r.conn.odcid = r.odcid;
    r.conn.server = A("192.0.2.1:443");
    r.conn.dcids[0].cid = C("aa");
    r.conn.ndcids = 1;
    r.conn.clients[0] = r.client0;
    r.conn.nclients = 1;
    assert_int_equal(report(f, QASM_PROTO_REPORT_REFRESH, &r, T0), QASM_STORE_CHANGED);
    assert_int_equal(f->ev.n[QASM_PROTO_EV_OPENED], 1);
    struct qasm_proto_conn rec = rec_of(f, "aa");
    assert_int_equal(rec.server.port, 443);
    assert_int_equal(rec.ndcids, 1);
    /* A late OPEN of the same owner is accepted (it adds the SCID). */
    assert_int_equal(open_conn(f, "01", "10.0.0.1:1", T0), QASM_STORE_CHANGED);
}

static void test_duplicates_change_nothing(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 2, "aa", 0, T0);
    unsigned before = f->ev.total;
    uint32_t rev = rec_of(f, "01").rev;
    assert_int_equal(open_conn(f, "01", "10.0.0.1:1", T0), QASM_STORE_UNCHANGED);
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 2,
                          "aa", 0, T0),
                     QASM_STORE_UNCHANGED);
    assert_int_equal(f->ev.total, before);
    assert_int_equal(rec_of(f, "01").rev, rev);
    assert_int_equal(qasm_store_get_stats(f->s)->unchanged, 2);
}

static void test_retire_before_new_leaves_dcid_retired(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    /* Reordered: the retirement (seq 4) arrives before the activation (seq 3). */
    dcid(f, QASM_PROTO_REPORT_DCID_RETIRE, "01", "10.0.0.1:1", "10.0.0.1:1", 4, "bb", 1, T0);
    dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 3, "bb", 1, T0);
    struct qasm_proto_conn rec = rec_of(f, "01");
    assert_int_equal(rec.ndcids, 0);
    /* Retiring an active one is an event. */
    dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 5, "cc", 2, T0);
    assert_int_equal(rec_of(f, "01").ndcids, 1);
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_RETIRE, "01", "10.0.0.1:1", "10.0.0.1:1", 6,
                          "cc", 2, T0),
                     QASM_STORE_CHANGED);
    assert_int_equal(f->ev.last, QASM_PROTO_EV_DCID_RETIRE);
    assert_int_equal(rec_of(f, "01").ndcids, 0);
    /* A retired DCID still maps to its connection (late packets). */
    struct qasm_cid cc = C("cc");
    assert_non_null(qasm_store_find(f->s, &cc, NULL));
}

static void test_current_address_follows_highest_seq(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    struct qasm_proto_report r = R("01", "10.0.0.1:1", "10.0.0.1:2", 5);
    assert_int_equal(report(f, QASM_PROTO_REPORT_ADDR, &r, T0), QASM_STORE_CHANGED);
    assert_int_equal(f->ev.last, QASM_PROTO_EV_ADDR);
    /* A stale report from the old address (seq 3) arrives late. */
    dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 3, "aa", 0, T0);
    struct qasm_proto_conn rec = rec_of(f, "01");
    struct qasm_addr now = A("10.0.0.1:2");
    assert_int_equal(rec.nclients, 2);
    assert_true(qasm_addr_eq(&rec.clients[rec.current], &now));
    assert_int_equal(rec.ndcids, 1); /* but its DCID is taken */
}

static void test_refresh_rebuilds_after_restart(void **state)
{
    struct fixture *f = *state;
    struct qasm_proto_report r = R("01", "10.0.0.1:1", "10.0.0.1:2", 50);
    struct qasm_proto_conn *c = &r.conn;
    c->odcid = r.odcid;
    c->scid = C("c1c2");
    c->server = A("192.0.2.1:443");
    c->dcid_len = 2;
    c->ndcids = 2;
    c->dcids[0].cid = C("aaaa");
    c->dcids[0].seq = 3;
    c->dcids[1].cid = C("bbbb");
    c->dcids[1].seq = 4;
    c->nclients = 2;
    c->clients[0] = A("10.0.0.1:1");
    c->clients[1] = A("10.0.0.1:2");
    c->current = 1;
    assert_int_equal(report(f, QASM_PROTO_REPORT_REFRESH, &r, T0), QASM_STORE_CHANGED);
    struct qasm_proto_conn rec = rec_of(f, "bbbb");
    assert_int_equal(rec.ndcids, 2);
    assert_int_equal(rec.nclients, 2);
    assert_int_equal(rec.current, 1);
    assert_int_equal(rec.dcid_len, 2);
    assert_true(qasm_addr_eq(&rec.server, &c->server));
    /* The same refresh again: unchanged. */
    assert_int_equal(report(f, QASM_PROTO_REPORT_REFRESH, &r, T0), QASM_STORE_UNCHANGED);
    /* A newer refresh without aaaa retires it; an older one does not revive it. */
    struct qasm_proto_report r2 = r;
    r2.seq = 60;
    r2.conn.ndcids = 1;
    r2.conn.dcids[0] = c->dcids[1];
    assert_int_equal(report(f, QASM_PROTO_REPORT_REFRESH, &r2, T0), QASM_STORE_CHANGED);
    assert_int_equal(rec_of(f, "bbbb").ndcids, 1);
    assert_int_equal(report(f, QASM_PROTO_REPORT_REFRESH, &r, T0), QASM_STORE_UNCHANGED);
    assert_int_equal(rec_of(f, "bbbb").ndcids, 1);
    /* An older refresh that lists a DCID we never saw adds it without retiring others. */
    struct qasm_proto_report r3 = r;
    r3.seq = 55;
    r3.conn.ndcids = 1;
    r3.conn.dcids[0].cid = C("cccc");
    r3.conn.dcids[0].seq = 5;
    assert_int_equal(report(f, QASM_PROTO_REPORT_REFRESH, &r3, T0), QASM_STORE_CHANGED);
    assert_int_equal(rec_of(f, "bbbb").ndcids, 2);
}

static void test_refresh_with_closed_flag_closes(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    struct qasm_proto_report r = R("01", "10.0.0.1:1", "10.0.0.1:1", 9);
    r.conn.odcid = r.odcid;
    r.conn.nclients = 1;
    r.conn.clients[0] = r.client0;
    r.conn.flags = QASM_PROTO_REC_CLOSED;
    assert_int_equal(report(f, QASM_PROTO_REPORT_REFRESH, &r, T0), QASM_STORE_CHANGED);
    assert_int_equal(f->ev.last, QASM_PROTO_EV_CLOSED);
}

static void test_dcid_moves_to_newest_claimant(void **state)
{
    struct fixture *f = *state;
    open_conn(f, "01", "10.0.0.1:1", T0);
    open_conn(f, "02", "10.0.0.2:1", T0);
    dcid(f, QASM_PROTO_REPORT_DCID_NEW, "01", "10.0.0.1:1", "10.0.0.1:1", 2, "aa", 0, T0);
    dcid(f, QASM_PROTO_REPORT_DCID_NEW, "02", "10.0.0.2:1", "10.0.0.2:1", 2, "aa", 0, T0);
    struct qasm_proto_conn rec = rec_of(f, "aa");
    struct qasm_cid o2 = C("02");
    assert_true(qasm_cid_eq(&rec.odcid, &o2));
    assert_int_equal(rec_of(f, "01").ndcids, 0);
    assert_int_equal(qasm_store_get_stats(f->s)->dcid_conflicts, 1);
    assert_int_equal(qasm_store_get_stats(f->s)->dcids, 1);
}

/*
 * Convergence: an agent's history of one connection (activations,
 * retirements, migrations) is delivered shuffled, with duplicates and
 * (optionally) losses followed by a final refresh. The result equals the
 * in-order result.
 */
struct hist {
    uint8_t type;
    struct qasm_proto_report r;
};

static uint64_t rng_state = 0x1234567;

static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static size_t make_history(struct hist *h, struct qasm_proto_conn *final)
{
    size_t n = 0;
    uint32_t seq = 1;
    char cl[32], cid[8];
    snprintf(cl, sizeof(cl), "10.0.0.1:1000");
    h[n].type = QASM_PROTO_REPORT_OPEN;
    h[n].r = R("abcdef", "10.0.0.1:1000", cl, seq++);
    h[n].r.server = A("192.0.2.1:443");
    n++;
    unsigned next_cid = 0;
    int active[64] = { 0 };
    for (unsigned step = 0; step < 12; step++) {
        /* New CID, then retire the previous one, sometimes migrate. */
        snprintf(cid, sizeof(cid), "c%03u", next_cid);
        h[n].type = QASM_PROTO_REPORT_DCID_NEW;
        h[n].r = R("abcdef", "10.0.0.1:1000", cl, seq++);
        h[n].r.dcid.cid = C(cid);
        h[n].r.dcid.seq = next_cid;
        active[next_cid] = 1;
        n++;
        if (next_cid >= 2) {
            snprintf(cid, sizeof(cid), "c%03u", next_cid - 2);
            h[n].type = QASM_PROTO_REPORT_DCID_RETIRE;
            h[n].r = R("abcdef", "10.0.0.1:1000", cl, seq++);
            h[n].r.dcid.cid = C(cid);
            h[n].r.dcid.seq = next_cid - 2;
            active[next_cid - 2] = 0;
            n++;
        }
        if (step % 3 == 2) {
            snprintf(cl, sizeof(cl), "10.0.0.1:%u", 2000 + step);
            h[n].type = QASM_PROTO_REPORT_ADDR;
            h[n].r = R("abcdef", "10.0.0.1:1000", cl, seq++);
            n++;
        }
        next_cid++;
    }
    /* The final refresh, as the agent would send it. */
    memset(final, 0, sizeof(*final));
    final->odcid = C("abcdef");
    final->server = A("192.0.2.1:443");
    for (unsigned i = 0; i < next_cid; i++) {
        if (!active[i])
            continue;
        snprintf(cid, sizeof(cid), "c%03u", i);
        final->dcids[final->ndcids].cid = C(cid);
        final->dcids[final->ndcids].seq = i;
        final->ndcids++;
    }
    final->clients[0] = A("10.0.0.1:1000");
    final->clients[1] = A(cl);
    final->nclients = 2;
    final->current = 1;
    final->dcid_len = 2;
    h[n].type = QASM_PROTO_REPORT_REFRESH;
    h[n].r = R("abcdef", "10.0.0.1:1000", cl, seq++);
    h[n].r.conn = *final;
    n++;
    return n;
}

static void assert_converged(struct fixture *f, const struct qasm_proto_conn *want)
{
    struct qasm_proto_conn rec = rec_of(f, "abcdef");
    assert_int_equal(rec.ndcids, want->ndcids);
    for (unsigned i = 0; i < want->ndcids; i++)
        assert_true(qasm_proto_conn_find_dcid(&rec, &want->dcids[i].cid) >= 0);
    assert_true(qasm_addr_eq(&rec.clients[rec.current], &want->clients[want->current]));
    assert_true(qasm_addr_eq(&rec.server, &want->server));
}

static void test_converges_under_reorder_and_duplication(void **state)
{
    (void)state;
    struct hist h[128], d[512];
    struct qasm_proto_conn want;
    size_t n = make_history(h, &want);
    for (unsigned trial = 0; trial < 50; trial++) {
        void *st;
        setup(&st);
        struct fixture *f = st;
        /* The OPEN first (nothing before it can prove ownership), then every
         * report at least once, some twice, in random order; no refresh. */
        size_t m = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            d[m++] = h[i];
            if (rnd() % 3 == 0)
                d[m++] = h[i];
        }
        for (size_t i = m - 1; i > 1; i--) {
            size_t j = 1 + rnd() % i;
            struct hist t = d[i];
            d[i] = d[j];
            d[j] = t;
        }
        for (size_t i = 0; i < m; i++)
            assert_true(report(f, d[i].type, &d[i].r, T0 + i) >= 0);
        assert_converged(f, &want);
        teardown(&st);
    }
}

static void test_converges_under_loss_with_refresh(void **state)
{
    (void)state;
    struct hist h[128], d[512];
    struct qasm_proto_conn want;
    size_t n = make_history(h, &want);
    for (unsigned trial = 0; trial < 50; trial++) {
        void *st;
        setup(&st);
        struct fixture *f = st;
        /* A third of the reports lost, the rest shuffled, then the refresh. */
        size_t m = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (rnd() % 3 != 0)
                d[m++] = h[i];
        for (size_t i = m; i-- > 1;) {
            size_t j = rnd() % (i + 1);
            struct hist t = d[i];
            d[i] = d[j];
            d[j] = t;
        }
        /* Reports before the OPEN (or with the OPEN lost) wait for the refresh. */
        for (size_t i = 0; i < m; i++) {
            int rv = report(f, d[i].type, &d[i].r, T0 + i);
            assert_true(rv >= 0 || rv == -ENOENT);
        }
        assert_true(report(f, h[n - 1].type, &h[n - 1].r, T0 + m) >= 0);
        assert_converged(f, &want);
        /* Stale reports delivered after the refresh change nothing important. */
        for (size_t i = 0; i + 1 < n; i++)
            if (h[i].type != QASM_PROTO_REPORT_DCID_NEW)
                report(f, h[i].type, &h[i].r, T0 + m + 1);
        assert_converged(f, &want);
        teardown(&st);
    }
}

/*
 * The hijack: an attacker knows the victim's O-DCID and first address (from
 * a dump) and reports from its own IP, so source attestation passes. Every
 * forged report is refused and counted; the victim's record is untouched.
 */
static void test_forged_reports_are_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_conn(f, "0102", "10.0.0.1:5000", T0), QASM_STORE_CHANGED);
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "0102", "10.0.0.1:5000", "10.0.0.1:5000",
                          2, "aabb", 1, T0),
                     QASM_STORE_CHANGED);
    unsigned events = f->ev.total;
    struct qasm_proto_conn before = rec_of(f, "aabb");
    const char *me = "10.0.0.66:4000";
    uint8_t mine[QASM_PROTO_SECRET_LEN];
    memset(mine, 0x66, sizeof(mine));

    /* ADDR naming the attacker's address, without a MAC, then with one under its own secret. */
    struct qasm_proto_report r = R("0102", "10.0.0.1:5000", me, 4294967280u);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &r, &r.client, T0), -EPERM);
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_ADDR, &r, mine), 0);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &r, &r.client, T0), -EPERM);
    /* CLOSE. */
    r = R("0102", "10.0.0.1:5000", me, 4294967281u);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_CLOSE, &r, &r.client, T0), -EPERM);
    /* DCID_RETIRE of the victim's DCID. */
    r = R("0102", "10.0.0.1:5000", me, 4294967282u);
    r.dcid.cid = C("aabb");
    r.dcid.seq = 1;
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_DCID_RETIRE, &r, &r.client, T0),
                     -EPERM);
    /* An authoritative REFRESH (highest seq, no DCID, closed) with the attacker's own secret. */
    r = R("0102", "10.0.0.1:5000", me, 4294967283u);
    r.conn.odcid = r.odcid;
    r.conn.clients[0] = r.client0;
    r.conn.clients[1] = r.client;
    r.conn.nclients = 2;
    r.conn.current = 1;
    r.conn.flags = QASM_PROTO_REC_CLOSED;
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_REFRESH, &r, mine), 0);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_REFRESH, &r, &r.client, T0),
                     -EPERM);
    /* A second OPEN for the same (O-DCID, first address), validly signed with another secret. */
    r = R("0102", "10.0.0.1:5000", me, 1);
    r.server = A("192.0.2.1:443");
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_OPEN, &r, mine), 0);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_OPEN, &r, &r.client, T0), -EPERM);

    const struct qasm_store_stats *st = qasm_store_get_stats(f->s);
    assert_int_equal(st->rejected_unauth, 3);
    assert_int_equal(st->rejected_bad_mac, 1);
    assert_int_equal(st->rejected_owner, 2);
    assert_int_equal(st->closed, 0);
    assert_int_equal(f->ev.total, events); /* nothing pushed */
    struct qasm_proto_conn after = rec_of(f, "aabb");
    assert_int_equal(after.nclients, 1);
    assert_int_equal(after.ndcids, 1);
    assert_int_equal(after.flags, 0);
    assert_int_equal(after.rev, before.rev);
    assert_true(qasm_addr_eq(&after.clients[0], &before.clients[0]));
}

/*
 * A connection the tracker does not hold (lost in a restart, or not opened
 * yet) cannot be claimed from another host than its first client address's,
 * even with a valid MAC under the claimant's own secret.
 */
static void test_unknown_connection_claimed_only_from_its_first_address(void **state)
{
    struct fixture *f = *state;
    uint8_t mine[QASM_PROTO_SECRET_LEN];
    memset(mine, 0x66, sizeof(mine));
    struct qasm_proto_report r = R("0102", "10.0.0.1:5000", "10.0.0.66:4000", 4294967280u);
    r.conn.odcid = r.odcid;
    r.conn.dcids[0].cid = C("aabb");
    r.conn.ndcids = 1;
    r.conn.clients[0] = r.client0;
    r.conn.clients[1] = r.client;
    r.conn.nclients = 2;
    r.conn.current = 1;
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_REFRESH, &r, mine), 0);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_REFRESH, &r, &r.client, T0),
                     -EACCES);
    r = R("0102", "10.0.0.1:5000", "10.0.0.66:4000", 1);
    r.server = A("192.0.2.1:443");
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_OPEN, &r, mine), 0);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_OPEN, &r, &r.client, T0), -EACCES);
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_trust, 2);
    assert_int_equal(qasm_store_count(f->s), 0);
    /* The owner's host then opens it (a new port of the same IP is fine). */
    r = R("0102", "10.0.0.1:5000", "10.0.0.1:5000", 1);
    r.server = A("192.0.2.1:443");
    struct qasm_proto_report o = owned(QASM_PROTO_REPORT_OPEN, &r);
    struct qasm_addr src = A("10.0.0.1:39999");
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_OPEN, &o, &src, T0),
                     QASM_STORE_CHANGED);
}

/* The MAC covers every field: a valid report with one field changed is refused. */
static void test_tampered_report_is_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_conn(f, "0102", "10.0.0.1:5000", T0), QASM_STORE_CHANGED);
    struct qasm_proto_report r = R("0102", "10.0.0.1:5000", "10.0.0.1:5001", 2);
    struct qasm_proto_report o = owned(QASM_PROTO_REPORT_ADDR, &r);
    struct qasm_proto_report t = o;
    t.client = A("10.0.0.66:5001"); /* another address */
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &t, &t.client, T0), -EPERM);
    t = o;
    t.seq = 4294967280u; /* a higher seq, to make it current for good */
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &t, &t.client, T0), -EPERM);
    /* The same MAC on another type. */
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_CLOSE, &o, &o.client, T0), -EPERM);
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_bad_mac, 3);
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &o, &o.client, T0),
                     QASM_STORE_CHANGED);
}

/*
 * The owner keeps full control: its OPEN resent is idempotent, it migrates
 * to a new IP (the report comes from there), and closes.
 */
static void test_owner_migrates_to_new_ip_and_closes(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_conn(f, "0102", "10.0.0.1:5000", T0), QASM_STORE_CHANGED);
    assert_int_equal(open_conn(f, "0102", "10.0.0.1:5000", T0), QASM_STORE_UNCHANGED);
    struct qasm_proto_report r = R("0102", "10.0.0.1:5000", "10.0.0.2:6000", 2);
    struct qasm_proto_report o = owned(QASM_PROTO_REPORT_ADDR, &r);
    struct qasm_addr src = A("10.0.0.2:9999");
    assert_int_equal(qasm_store_report(f->s, QASM_PROTO_REPORT_ADDR, &o, &src, T0),
                     QASM_STORE_CHANGED);
    struct qasm_proto_conn rec = rec_of(f, "0102");
    assert_int_equal(rec.nclients, 2);
    assert_true(qasm_addr_eq(&rec.clients[rec.current], &r.client));
    /* Its new IP names a DCID, then closes. */
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "0102", "10.0.0.1:5000", "10.0.0.2:6000",
                          3, "ccdd", 2, T0),
                     QASM_STORE_CHANGED);
    r = R("0102", "10.0.0.1:5000", "10.0.0.2:6000", 4);
    assert_int_equal(report(f, QASM_PROTO_REPORT_CLOSE, &r, T0), QASM_STORE_CHANGED);
    const struct qasm_store_stats *st = qasm_store_get_stats(f->s);
    assert_int_equal(st->rejected_unauth + st->rejected_bad_mac + st->rejected_owner, 0);
    assert_int_equal(st->closed, 1);
}

static void tweak_prefix(struct qasm_store_config *cfg)
{
    cfg->max_conns = 6;
    cfg->max_per_ip = 0;
    cfg->max_per_prefix = 4;
    cfg->evict = 1;
}

static int setup_prefix(void **state)
{
    return setup_cfg(state, tweak_prefix);
}

/* A /24 holds at most max_per_prefix; at the global cap a newcomer from a
 * smaller prefix evicts the least recently reported connection of the
 * biggest one (EVICTED); an equal prefix is refused. */
static void test_prefix_cap_and_eviction(void **state)
{
    struct fixture *f = *state;
    char odcid[16], client[32];
    for (int i = 0; i < 5; i++) {
        snprintf(odcid, sizeof(odcid), "1%d", i);
        snprintf(client, sizeof(client), "10.0.0.%d:1", i + 1);
        assert_int_equal(open_conn(f, odcid, client, T0 + i), i < 4 ? QASM_STORE_CHANGED : -EDQUOT);
    }
    assert_int_equal(qasm_store_get_stats(f->s)->rejected_prefix_cap, 1);
    assert_int_equal(open_conn(f, "20", "10.0.1.1:1", T0 + 10), QASM_STORE_CHANGED);
    assert_int_equal(open_conn(f, "21", "10.0.1.1:2", T0 + 11), QASM_STORE_CHANGED);
    /* Full (6). 10.0.0.0/24 holds 4, 10.0.2.0/24 none: its newcomer evicts "10"
     * (the least recently reported of 10.0.0.0/24) after "10" ... unless touched. */
    assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, "10", "10.0.0.1:1", "10.0.0.1:1", 2,
                          "aa", 0, T0 + 20), QASM_STORE_CHANGED);
    assert_int_equal(open_conn(f, "30", "10.0.2.1:1", T0 + 21), QASM_STORE_CHANGED);
    assert_int_equal(f->ev.n[QASM_PROTO_EV_EVICTED], 1);
    struct qasm_cid gone = C("11"), kept = C("10");
    assert_null(qasm_store_find(f->s, &gone, NULL));
    assert_non_null(qasm_store_find(f->s, &kept, NULL));
    /* 10.0.0.0/24: 3, 10.0.1.0/24: 2, 10.0.2.0/24: 1. A second newcomer of
     * 10.0.2.0/24 (2 after) still evicts from the biggest (3). */
    assert_int_equal(open_conn(f, "31", "10.0.2.1:2", T0 + 22), QASM_STORE_CHANGED);
    /* Now 2, 2, 2: a third of 10.0.2.0/24 would make 3 > 2: refused. */
    assert_int_equal(open_conn(f, "32", "10.0.2.1:3", T0 + 23), -ENOSPC);
    const struct qasm_store_stats *st = qasm_store_get_stats(f->s);
    assert_int_equal(st->evicted, 2);
    assert_int_equal(st->rejected_full, 1);
    assert_int_equal(st->conns, 6);
    assert_int_equal(st->prefixes, 3);
    /* Everything expires: the prefix and IP entries go with the connections. */
    qasm_store_expire(f->s, T0 + 100 * QASM_SEC);
    assert_int_equal(st->conns, 0);
    assert_int_equal(st->prefixes, 0);
    assert_int_equal(st->ips, 0);
}

/* A cursor returns every connection that lives throughout the walk, while
 * connections are reported (moved), closed, removed and created between steps. */
static void test_cursor_survives_changes(void **state)
{
    struct fixture *f = *state;
    char odcid[16];
    for (int i = 0; i < 10; i++) {
        snprintf(odcid, sizeof(odcid), "%02x", 0x40 + i);
        assert_int_equal(open_conn(f, odcid, "10.0.0.1:1", T0), QASM_STORE_CHANGED);
    }
    struct qasm_store_cursor k;
    qasm_store_cursor_open(f->s, &k);
    unsigned seen[10] = { 0 };
    unsigned steps = 0;
    struct qasm_store_conn *c;
    while ((c = qasm_store_cursor_next(f->s, &k)) != NULL) {
        const struct qasm_cid *o = qasm_store_conn_odcid(c);
        if (o->len == 1 && o->data[0] >= 0x40 && o->data[0] < 0x4a)
            seen[o->data[0] - 0x40]++;
        steps++;
        assert_true(steps < 100);
        if (steps == 2) {
            /* Report the next three (they move to the tail), close one, drop one. */
            for (int i = 2; i < 5; i++) {
                snprintf(odcid, sizeof(odcid), "%02x", 0x40 + i);
                assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, odcid, "10.0.0.1:1",
                                      "10.0.0.1:1", 2, odcid[1] == '2' ? "b2" : odcid[1] == '3' ? "b3" : "b4",
                                      0, T0 + 1), QASM_STORE_CHANGED);
            }
            struct qasm_proto_report r = R("45", "10.0.0.1:1", "10.0.0.1:1", 3);
            assert_int_equal(report(f, QASM_PROTO_REPORT_CLOSE, &r, T0 + 1), QASM_STORE_CHANGED);
            assert_int_equal(open_conn(f, "99", "10.0.0.1:2", T0 + 1), QASM_STORE_CHANGED);
        }
    }
    qasm_store_cursor_close(f->s, &k);
    qasm_store_cursor_close(f->s, &k); /* idempotent */
    for (int i = 0; i < 10; i++)
        assert_true(seen[i] >= 1);
    /* Removal of a connection the cursor stands on: it steps over it. */
    qasm_store_cursor_open(f->s, &k);
    c = qasm_store_cursor_next(f->s, &k);
    assert_non_null(c);
    qasm_store_expire(f->s, T0 + 100 * QASM_SEC); /* everything goes */
    assert_null(qasm_store_cursor_next(f->s, &k));
    qasm_store_cursor_close(f->s, &k);
}

static void test_memory_per_connection_is_bounded(void **state)
{
    struct fixture *f = *state;
    size_t empty = qasm_store_memory(f->s);
    enum { N = 20000 };
    char odcid[24], d1[24], cl[32];
    for (unsigned i = 0; i < N; i++) {
        snprintf(odcid, sizeof(odcid), "%08x%08x", i, i * 7u);
        snprintf(d1, sizeof(d1), "%08x%08x", i, i * 13u + 1);
        snprintf(cl, sizeof(cl), "10.%u.%u.%u:443", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_int_equal(open_conn(f, odcid, cl, T0), QASM_STORE_CHANGED);
        assert_int_equal(dcid(f, QASM_PROTO_REPORT_DCID_NEW, odcid, cl, cl, 2, d1, 0, T0),
                         QASM_STORE_CHANGED);
    }
    size_t per = (qasm_store_memory(f->s) - empty) / N;
    print_message("store bytes per connection (1 DCID): %zu\n", per);
    assert_true(per <= 256 + 64 + 64); /* budget: ~256 per connection + ~64 per DCID */
    assert_int_equal(qasm_store_get_stats(f->s)->conns, N);
    /* Everything expires; iteration sees every connection once before. */
    size_t pos = 0, seen = 0;
    while (qasm_store_next(f->s, &pos))
        seen++;
    assert_int_equal(seen, N);
    assert_int_equal(qasm_store_expire(f->s, T0 + f->cfg.ttl), N);
    assert_int_equal(qasm_store_count(f->s), 0);
}

static int setup_any(void **state)
{
    return setup_cfg(state, tweak_trust_any);
}

static int setup_caps(void **state)
{
    return setup_cfg(state, tweak_caps);
}

static void test_expire_tick(void **state)
{
    (void)state;
    struct qasm_store_config cfg;
    qasm_store_config_default(&cfg);
    cfg.ttl = 120 * QASM_SEC;
    cfg.close_linger = 2 * QASM_SEC;
    assert_int_equal(qasm_store_expire_tick(&cfg), 250 * QASM_MS); /* linger / 8 */
    cfg.close_linger = 0;
    assert_int_equal(qasm_store_expire_tick(&cfg), QASM_SEC); /* ttl / 8, at most 1 s */
    cfg.ttl = 40 * QASM_MS;
    assert_int_equal(qasm_store_expire_tick(&cfg), 10 * QASM_MS); /* at least 10 ms */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expire_tick),
        cmocka_unit_test_setup_teardown(test_open_then_lookup_by_odcid_and_dcid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_odcid_two_clients_are_two_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trust_source_rejects_other_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_any_accepts_other_ip, setup_any, teardown),
        cmocka_unit_test_setup_teardown(test_bad_reports_are_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expires_idle_connections_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_removes_dcids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_is_final_and_lingers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps_refuse_new_connections, setup_caps, teardown),
        cmocka_unit_test_setup_teardown(test_dcids_and_clients_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_open_is_healed_by_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire_before_new_leaves_dcid_retired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_current_address_follows_highest_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_rebuilds_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_with_closed_flag_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dcid_moves_to_newest_claimant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_reports_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_report_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_connection_claimed_only_from_its_first_address,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_migrates_to_new_ip_and_closes, setup,
                                        teardown),
        cmocka_unit_test(test_converges_under_reorder_and_duplication),
        cmocka_unit_test(test_converges_under_loss_with_refresh),
        cmocka_unit_test_setup_teardown(test_memory_per_connection_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_cap_and_eviction, setup_prefix, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_survives_changes, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
