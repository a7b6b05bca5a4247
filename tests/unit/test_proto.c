/*
 * test_proto.c: the tracker protocol codec (lib/proto.h): every message
 * type round-trips, the framer finds boundaries, and every malformed input
 * is rejected with its error code (truncation at every length, bad header,
 * bad version, unknown type, oversized lists, bad fields, trailing bytes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "bytes.h"
#include "hmac.h"
#include "proto.h"

static const uint8_t SECRET[QASM_PROTO_SECRET_LEN] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                                                       0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                                       0xcc, 0xdd, 0xee, 0xff };

static void cid(struct qasm_cid *c, const char *hex)
{
    assert_int_equal(qasm_cid_parse(c, hex), 0);
}

static void addr(struct qasm_addr *a, const char *s)
{
    assert_int_equal(qasm_addr_parse(a, s), 0);
}

static void sample_conn(struct qasm_proto_conn *c)
{
    memset(c, 0, sizeof(*c));
    cid(&c->odcid, "0102030405060708");
    cid(&c->scid, "c0c1c2c3");
    addr(&c->server, "[2001:db8::1]:443");
    c->rev = 77;
    c->dcid_len = 8;
    c->flags = QASM_PROTO_REC_CLOSED;
    c->ndcids = 3;
    cid(&c->dcids[0].cid, "a0a1a2a3a4a5a6a7");
    c->dcids[0].seq = 0;
    cid(&c->dcids[1].cid, "b0b1b2b3b4b5b6b7");
    c->dcids[1].seq = 70000;
    cid(&c->dcids[2].cid, "000102030405060708090a0b0c0d0e0f10111213");
    c->dcids[2].seq = (1ULL << 62) - 1;
    c->nclients = 2;
    c->current = 1;
    addr(&c->clients[0], "10.0.0.1:5000");
    addr(&c->clients[1], "[::1]:6000");
}

/* Build one valid message of |type| with every field set. */
static void sample_msg(struct qasm_proto_msg *m, uint8_t type)
{
    qasm_proto_msg_init(m, type, 0xdeadbeef);
    switch (type) {
    case QASM_PROTO_REPORT_OPEN:
    case QASM_PROTO_REPORT_DCID_NEW:
    case QASM_PROTO_REPORT_DCID_RETIRE:
    case QASM_PROTO_REPORT_ADDR:
    case QASM_PROTO_REPORT_CLOSE:
    case QASM_PROTO_REPORT_REFRESH: {
        struct qasm_proto_report *r = &m->u.report;
        cid(&r->odcid, "0102030405060708");
        addr(&r->client0, "10.0.0.1:5000");
        addr(&r->client, "10.0.0.2:5001");
        r->seq = 4000000000u;
        if (type == QASM_PROTO_REPORT_OPEN) {
            cid(&r->scid, "c0c1");
            addr(&r->server, "192.0.2.1:443");
        }
        if (type == QASM_PROTO_REPORT_DCID_NEW || type == QASM_PROTO_REPORT_DCID_RETIRE) {
            cid(&r->dcid.cid, "a0a1a2a3a4a5a6a7");
            r->dcid.seq = 12345;
        }
        if (type == QASM_PROTO_REPORT_REFRESH)
            sample_conn(&r->conn);
        assert_int_equal(qasm_proto_report_sign(type, r, SECRET), 0);
        break;
    }
    case QASM_PROTO_QUERY:
        cid(&m->u.query.dcid, "a0a1a2a3");
        addr(&m->u.query.server, "192.0.2.1:443");
        m->u.query.wait_ms = 2;
        break;
    case QASM_PROTO_SUBSCRIBE:
    case QASM_PROTO_UNSUBSCRIBE:
        m->u.sub.flags = 0;
        cid(&m->u.sub.cid, "0102030405060708");
        break;
    case QASM_PROTO_DUMP:
    case QASM_PROTO_STATS:
        break;
    case QASM_PROTO_RECORD:
        sample_conn(&m->u.conn);
        break;
    case QASM_PROTO_NOT_FOUND:
        cid(&m->u.notfound.cid, "ff");
        break;
    case QASM_PROTO_PUSH:
        m->u.push.event = QASM_PROTO_EV_ADDR;
        sample_conn(&m->u.push.conn);
        break;
    case QASM_PROTO_OK:
        m->u.ok.count = 42;
        break;
    case QASM_PROTO_ERROR:
        m->u.error.code = QASM_PROTO_E_LIMIT;
        strcpy(m->u.error.text, "too many");
        break;
    case QASM_PROTO_HELLO:
    case QASM_PROTO_AUTH:
    case QASM_PROTO_CHALLENGE:
        if (type != QASM_PROTO_AUTH)
            memset(m->u.auth.nonce, 0x4e, sizeof(m->u.auth.nonce));
        if (type != QASM_PROTO_HELLO)
            memset(m->u.auth.proof, 0x50, sizeof(m->u.auth.proof));
        break;
    case QASM_PROTO_STATS_REPLY:
        m->u.stats.n = 2;
        strcpy(m->u.stats.s[0].name, "conns");
        m->u.stats.s[0].value = 1000000;
        strcpy(m->u.stats.s[1].name, "reports.open_2");
        m->u.stats.s[1].value = UINT64_MAX;
        break;
    }
}

static const uint8_t all_types[] = {
    QASM_PROTO_REPORT_OPEN, QASM_PROTO_REPORT_DCID_NEW, QASM_PROTO_REPORT_DCID_RETIRE,
    QASM_PROTO_REPORT_ADDR, QASM_PROTO_REPORT_CLOSE,    QASM_PROTO_REPORT_REFRESH,
    QASM_PROTO_QUERY,       QASM_PROTO_SUBSCRIBE,       QASM_PROTO_UNSUBSCRIBE,
    QASM_PROTO_DUMP,        QASM_PROTO_STATS,           QASM_PROTO_RECORD,
    QASM_PROTO_NOT_FOUND,   QASM_PROTO_PUSH,            QASM_PROTO_OK,
    QASM_PROTO_ERROR,       QASM_PROTO_STATS_REPLY,     QASM_PROTO_HELLO,
    QASM_PROTO_AUTH,        QASM_PROTO_CHALLENGE,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void assert_body_equal(uint8_t type, const struct qasm_proto_msg *a,
                              const struct qasm_proto_msg *b)
{
    size_t n = 0;
    switch (type) {
    case QASM_PROTO_QUERY: n = sizeof(a->u.query); break;
    case QASM_PROTO_SUBSCRIBE:
    case QASM_PROTO_UNSUBSCRIBE: n = sizeof(a->u.sub); break;
    case QASM_PROTO_RECORD: n = sizeof(a->u.conn); break;
    case QASM_PROTO_NOT_FOUND: n = sizeof(a->u.notfound); break;
    case QASM_PROTO_PUSH: n = sizeof(a->u.push); break;
    case QASM_PROTO_OK: n = sizeof(a->u.ok); break;
    case QASM_PROTO_ERROR: n = sizeof(a->u.error); break;
    case QASM_PROTO_STATS_REPLY: n = sizeof(a->u.stats); break;
    case QASM_PROTO_HELLO:
    case QASM_PROTO_AUTH:
    case QASM_PROTO_CHALLENGE: n = sizeof(a->u.auth); break;
    case QASM_PROTO_DUMP:
    case QASM_PROTO_STATS: n = 0; break;
    default: n = sizeof(a->u.report); break;
    }
    if (n)
        assert_memory_equal(&a->u, &b->u, n);
}

static void test_every_type_round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTYPES; i++) {
        struct qasm_proto_msg m, d;
        uint8_t buf[QASM_PROTO_MAX_MSG];
        sample_msg(&m, all_types[i]);
        ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
        assert_true(n >= QASM_PROTO_HDR_LEN);
        assert_int_equal(qasm_get16(buf + 4), n);
        assert_int_equal(qasm_proto_frame(buf, (size_t)n), n);
        memset(&d, 0xa5, sizeof(d));
        assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
        assert_int_equal(d.hdr.type, all_types[i]);
        assert_int_equal(d.hdr.version, QASM_PROTO_VERSION);
        assert_int_equal(d.hdr.req_id, 0xdeadbeef);
        assert_int_equal(d.hdr.length, n);
        assert_body_equal(all_types[i], &m, &d);
        /* Re-encoding the decoded message gives the same bytes. */
        uint8_t buf2[QASM_PROTO_MAX_MSG];
        assert_int_equal(qasm_proto_encode(buf2, sizeof(buf2), &d), n);
        assert_memory_equal(buf, buf2, (size_t)n);
    }
}

static void test_header_layout_is_fixed(void **state)
{
    (void)state;
    struct qasm_cid d;
    uint8_t buf[64];
    cid(&d, "aabb");
    ssize_t n = qasm_proto_encode_query(buf, sizeof(buf), 9, &d, NULL, 2);
    static const uint8_t want[] = { 0x51, 0x54, 0x03, 0x10, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x09, 0x02, 0xaa, 0xbb, 0x00, 0x00, 0x00, 0x00, 0x02 };
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

static void test_frame_needs_whole_message(void **state)
{
    (void)state;
    struct qasm_proto_msg m;
    uint8_t buf[2 * QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_RECORD);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(n > 0);
    for (size_t k = 0; k < (size_t)n; k++)
        assert_int_equal(qasm_proto_frame(buf, k), 0);
    /* Two messages back to back: the framer returns the first one's length. */
    ssize_t n2 = qasm_proto_encode(buf + n, sizeof(buf) - (size_t)n, &m);
    assert_int_equal(qasm_proto_frame(buf, (size_t)(n + n2)), n);
    assert_int_equal(qasm_proto_frame(buf + n, (size_t)n2), n2);
}

static void test_frame_rejects_bad_headers(void **state)
{
    (void)state;
    uint8_t buf[16] = { 0x51, 0x54, 2, QASM_PROTO_DUMP, 0, 12, 0, 0, 0, 0, 0, 1 };
    assert_int_equal(qasm_proto_frame(buf, 12), 12);
    buf[0] = 0x52;
    assert_int_equal(qasm_proto_frame(buf, 1), -EBADMSG);
    buf[0] = 0x51;
    buf[1] = 0x00;
    assert_int_equal(qasm_proto_frame(buf, 2), -EBADMSG);
    buf[1] = 0x54;
    qasm_put16(buf + 4, 11);
    assert_int_equal(qasm_proto_frame(buf, 12), -EBADMSG);
    qasm_put16(buf + 4, QASM_PROTO_MAX_MSG + 1);
    assert_int_equal(qasm_proto_frame(buf, 12), -EBADMSG);
    qasm_put16(buf + 4, 0);
    assert_int_equal(qasm_proto_frame(buf, 6), -EBADMSG);
    /* An unknown version or type is still framed (so it can be skipped). */
    qasm_put16(buf + 4, 12);
    buf[2] = 99;
    buf[3] = 0x7f;
    assert_int_equal(qasm_proto_frame(buf, 12), 12);
}

static void test_decode_header_errors(void **state)
{
    (void)state;
    struct qasm_proto_msg m;
    uint8_t buf[16] = { 0x51, 0x54, 2, QASM_PROTO_DUMP, 0, 12, 0, 0, 0, 0, 0, 7 };
    assert_int_equal(qasm_proto_decode(&m, buf, 12), 0);
    assert_int_equal(m.hdr.req_id, 7);
    assert_int_equal(qasm_proto_decode(&m, buf, 11), -EPROTO);
    assert_int_equal(qasm_proto_decode(&m, buf, 0), -EPROTO);
    assert_int_equal(qasm_proto_decode(&m, buf, 13), -EBADMSG); /* length field != datagram */
    buf[0] = 0;
    assert_int_equal(qasm_proto_decode(&m, buf, 12), -EBADMSG);
    buf[0] = 0x51;
    buf[2] = 4;
    assert_int_equal(qasm_proto_decode(&m, buf, 12), -EPROTONOSUPPORT);
    assert_int_equal(m.hdr.req_id, 7); /* header still readable for the ERROR reply */
    buf[2] = 1; /* version 1 (reports without authentication) is not spoken any more */
    assert_int_equal(qasm_proto_decode(&m, buf, 12), -EPROTONOSUPPORT);
    buf[2] = 3; /* version 3: the same messages, and the handshake */
    assert_int_equal(qasm_proto_decode(&m, buf, 12), 0);
    /* The handshake's types are unknown in version 2. */
    uint8_t hello[28] = { 0x51, 0x54, 2, QASM_PROTO_HELLO, 0, 28, 0, 0, 0, 0, 0, 7 };
    assert_int_equal(qasm_proto_decode(&m, hello, sizeof(hello)), -ENOMSG);
    hello[2] = 3;
    assert_int_equal(qasm_proto_decode(&m, hello, sizeof(hello)), 0);
    hello[3] = QASM_PROTO_AUTH; /* AUTH has the same length: a proof */
    assert_int_equal(qasm_proto_decode(&m, hello, sizeof(hello)), 0);
    hello[3] = QASM_PROTO_CHALLENGE; /* nonce and proof: 16 bytes short */
    assert_int_equal(qasm_proto_decode(&m, hello, sizeof(hello)), -EPROTO);
    buf[2] = 2;
    static const uint8_t unknown[] = { 0x00, 0x07, 0x0f, 0x17, 0x1f, 0x27, 0x80, 0xff };
    for (size_t i = 0; i < sizeof(unknown); i++) {
        buf[3] = unknown[i];
        assert_int_equal(qasm_proto_decode(&m, buf, 12), -ENOMSG);
        assert_int_equal(m.hdr.type, unknown[i]);
    }
}

/* Every truncation of every message type fails to decode. */
static void test_every_truncation_is_rejected(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTYPES; i++) {
        struct qasm_proto_msg m, d;
        uint8_t buf[QASM_PROTO_MAX_MSG], cut[QASM_PROTO_MAX_MSG];
        sample_msg(&m, all_types[i]);
        ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
        assert_true(n > 0);
        for (size_t k = QASM_PROTO_HDR_LEN; k < (size_t)n; k++) {
            memcpy(cut, buf, k);
            qasm_put16(cut + 4, (uint16_t)k);
            int rv = qasm_proto_decode(&d, cut, k);
            if (rv != -EPROTO)
                print_error("type %s cut at %zu: %d\n", qasm_proto_type_name(all_types[i]), k, rv);
            assert_int_equal(rv, -EPROTO);
        }
        /* One trailing byte is rejected too. */
        memcpy(cut, buf, (size_t)n);
        cut[n] = 0;
        qasm_put16(cut + 4, (uint16_t)(n + 1));
        assert_int_equal(qasm_proto_decode(&d, cut, (size_t)n + 1), -EPROTO);
    }
}

/* QUERY's optional trailing client address: round trip, and absent when unset. */
static void test_query_client_address_is_optional(void **state)
{
    (void)state;
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    qasm_proto_msg_init(&m, QASM_PROTO_QUERY, 7);
    assert_int_equal(qasm_cid_parse(&m.u.query.dcid, "aabbccdd"), 0);
    m.u.query.wait_ms = 5;
    ssize_t plain = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(plain > 0);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)plain), 0);
    assert_int_equal(d.u.query.client.family, 0);
    assert_int_equal(qasm_addr_parse(&m.u.query.client, "[2001:db8::5]:4444"), 0);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_int_equal(n, plain + 1 + 2 + 16);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_true(qasm_addr_eq(&d.u.query.client, &m.u.query.client));
    assert_int_equal(d.u.query.wait_ms, 5);
    /* Cut inside the client address: rejected. */
    qasm_put16(buf + 4, (uint16_t)(n - 3));
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n - 3), -EPROTO);
}

/* A DUMP may ask for times; a RECORD then ends with age and expiry (8 bytes), else not. */
static void test_record_times_are_optional(void **state)
{
    (void)state;
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_RECORD);
    ssize_t plain = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)plain), 0);
    assert_int_equal(d.u.conn.has_times, 0);
    m.hdr.flags = QASM_PROTO_HDR_TIMES;
    m.u.conn.age_ms = 12345;
    m.u.conn.expires_ms = 107700;
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_int_equal(n, plain + 8);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_int_equal(d.u.conn.has_times, 1);
    assert_int_equal(d.u.conn.age_ms, 12345);
    assert_int_equal(d.u.conn.expires_ms, 107700);
    assert_true(qasm_cid_eq(&d.u.conn.odcid, &m.u.conn.odcid));
    /* The flag without the times: truncated. */
    qasm_put16(buf + 4, (uint16_t)plain);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)plain), -EPROTO);
    /* Times without the flag: trailing bytes, as an older decoder sees them. */
    qasm_put16(buf + 4, (uint16_t)n);
    qasm_put16(buf + 6, 0);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), -EPROTO);
}

/* Offset of the first body byte of a record inside a RECORD message. */
#define BODY QASM_PROTO_HDR_LEN

static ssize_t encode_record(uint8_t *buf, struct qasm_proto_conn *c)
{
    struct qasm_proto_msg m;
    qasm_proto_msg_init(&m, QASM_PROTO_RECORD, 1);
    m.u.conn = *c;
    return qasm_proto_encode(buf, QASM_PROTO_MAX_MSG, &m);
}

static void test_record_field_errors(void **state)
{
    (void)state;
    struct qasm_proto_conn c;
    struct qasm_proto_msg d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    memset(&c, 0, sizeof(c));
    cid(&c.odcid, "01");
    c.nclients = 1;
    addr(&c.clients[0], "10.0.0.1:1");
    ssize_t n = encode_record(buf, &c);
    /* body: odcid(2) scid(1) server(1) rev(4) dcid_len flags current ndcids nclients addr(7) */
    assert_int_equal(n, BODY + 2 + 1 + 1 + 4 + 4 + 1 + 7);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    const size_t o_odcid = BODY, o_server = BODY + 3, o_dcid_len = BODY + 8;
    const size_t o_current = BODY + 10, o_ndcids = BODY + 11, o_ncl = BODY + 12;
    uint8_t t[QASM_PROTO_MAX_MSG];
#define MUTATE(off, val, want)                                         \
    do {                                                               \
        memcpy(t, buf, (size_t)n);                                     \
        t[off] = (val);                                                \
        assert_int_equal(qasm_proto_decode(&d, t, (size_t)n), (want)); \
    } while (0)
    MUTATE(o_odcid, 21, -EPROTO);          /* CID longer than 20 */
    MUTATE(o_server, 5, -EPROTO);          /* unknown address family */
    MUTATE(o_server, AF_INET, -EPROTO);    /* the wire says 4, not AF_INET */
    MUTATE(o_dcid_len, 21, -EPROTO);
    MUTATE(o_current, 1, -EPROTO);         /* current >= nclients */
    MUTATE(o_ndcids, 17, -E2BIG);          /* over the DCID bound */
    MUTATE(o_ncl, 9, -E2BIG);              /* over the client bound */
    MUTATE(o_ncl, 0, -EPROTO);             /* a record always has its first client */
    MUTATE(o_ncl + 1, 0, -EPROTO);         /* a client address must be set */
    MUTATE(o_ncl + 1, 6, -EPROTO);         /* IPv6 address truncated */
#undef MUTATE
}

static void test_report_requires_addresses(void **state)
{
    (void)state;
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_REPORT_OPEN);
    memset(&m.u.report.server, 0, sizeof(m.u.report.server));
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    sample_msg(&m, QASM_PROTO_REPORT_ADDR);
    memset(&m.u.report.client, 0, sizeof(m.u.report.client));
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    /* On the wire: an OPEN whose server family byte is 0. */
    sample_msg(&m, QASM_PROTO_REPORT_OPEN);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(n > 0);
    /* The server address is the last 7 bytes (IPv4): make it "none" and shorten. */
    size_t k = (size_t)n - 6;
    buf[k - 1] = 0;
    qasm_put16(buf + 4, (uint16_t)k);
    assert_int_equal(qasm_proto_decode(&d, buf, k), -EPROTO);
}

static void test_push_event_and_text_errors(void **state)
{
    (void)state;
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_PUSH);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    buf[BODY] = 0;
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), -EPROTO);
    buf[BODY] = QASM_PROTO_EV_EVICTED + 1;
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), -EPROTO);
    m.u.push.event = 0;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);

    sample_msg(&m, QASM_PROTO_ERROR);
    n = qasm_proto_encode(buf, sizeof(buf), &m);
    buf[BODY + 3] = 't';
    buf[BODY + 4] = '\0'; /* NUL inside the text */
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), -EPROTO);
    n = qasm_proto_encode(buf, sizeof(buf), &m);
    buf[BODY + 2] = QASM_PROTO_ERR_TEXTLEN + 1; /* text length over the bound */
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), -EPROTO);

    /* encode_error cuts a long text. */
    char longtext[300];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    n = qasm_proto_encode_error(buf, sizeof(buf), 5, QASM_PROTO_E_INTERNAL, longtext);
    assert_int_equal(n, BODY + 3 + QASM_PROTO_ERR_TEXTLEN);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_int_equal(strlen(d.u.error.text), QASM_PROTO_ERR_TEXTLEN);
    assert_int_equal(d.u.error.code, QASM_PROTO_E_INTERNAL);
    assert_int_equal(d.hdr.req_id, 5);
}

static void test_stats_errors(void **state)
{
    (void)state;
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_STATS_REPLY);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    uint8_t t[QASM_PROTO_MAX_MSG];
    memcpy(t, buf, (size_t)n);
    t[BODY] = QASM_PROTO_MAX_STATS + 1;
    assert_int_equal(qasm_proto_decode(&d, t, (size_t)n), -E2BIG);
    memcpy(t, buf, (size_t)n);
    t[BODY + 1] = 0; /* empty name */
    assert_int_equal(qasm_proto_decode(&d, t, (size_t)n), -EPROTO);
    memcpy(t, buf, (size_t)n);
    t[BODY + 1] = QASM_PROTO_STAT_NAMELEN + 1;
    assert_int_equal(qasm_proto_decode(&d, t, (size_t)n), -EPROTO);
    memcpy(t, buf, (size_t)n);
    t[BODY + 2] = 'C'; /* upper case is not allowed */
    assert_int_equal(qasm_proto_decode(&d, t, (size_t)n), -EPROTO);
    /* The full table fits in one message. */
    m.u.stats.n = QASM_PROTO_MAX_STATS;
    for (unsigned i = 0; i < QASM_PROTO_MAX_STATS; i++) {
        memset(m.u.stats.s[i].name, 'a', QASM_PROTO_STAT_NAMELEN);
        m.u.stats.s[i].name[QASM_PROTO_STAT_NAMELEN] = '\0';
        m.u.stats.s[i].value = i;
    }
    n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(n > 0);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_int_equal(d.u.stats.n, QASM_PROTO_MAX_STATS);
    assert_int_equal(d.u.stats.s[63].value, 63);
    m.u.stats.n = QASM_PROTO_MAX_STATS + 1;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    m.u.stats.n = 1;
    strcpy(m.u.stats.s[0].name, "Bad");
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
}

static void test_encode_checks_bounds(void **state)
{
    (void)state;
    struct qasm_proto_msg m;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_RECORD);
    m.u.conn.ndcids = QASM_PROTO_MAX_DCIDS + 1;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    sample_msg(&m, QASM_PROTO_RECORD);
    m.u.conn.nclients = QASM_PROTO_MAX_CLIENTS + 1;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    sample_msg(&m, QASM_PROTO_RECORD);
    m.u.conn.current = m.u.conn.nclients;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    sample_msg(&m, QASM_PROTO_RECORD);
    m.u.conn.dcids[1].cid.len = 21;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    sample_msg(&m, QASM_PROTO_RECORD);
    m.u.conn.dcids[1].seq = 1ULL << 62; /* not a varint */
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    sample_msg(&m, QASM_PROTO_RECORD);
    m.u.conn.server.family = 99;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
    qasm_proto_msg_init(&m, 0x7f, 1);
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);

    /* The largest record (16 DCIDs of 20 bytes, 8 IPv6 clients) fits, and every short buffer fails. */
    sample_msg(&m, QASM_PROTO_PUSH);
    struct qasm_proto_conn *c = &m.u.push.conn;
    c->ndcids = QASM_PROTO_MAX_DCIDS;
    for (unsigned i = 0; i < QASM_PROTO_MAX_DCIDS; i++) {
        c->dcids[i].cid.len = 20;
        memset(c->dcids[i].cid.data, (int)i, 20);
        c->dcids[i].seq = (1ULL << 62) - 1;
    }
    c->nclients = QASM_PROTO_MAX_CLIENTS;
    for (unsigned i = 0; i < QASM_PROTO_MAX_CLIENTS; i++)
        addr(&c->clients[i], "[2001:db8::ffff]:65535");
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(n > 0 && n < 1200); /* one report fits any path's MTU */
    for (size_t cap = 0; cap < (size_t)n; cap++)
        assert_int_equal(qasm_proto_encode(buf, cap, &m), -ENOBUFS);
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), n);
    struct qasm_proto_msg d;
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_memory_equal(&d.u.push, &m.u.push, sizeof(m.u.push));
}

/* RFC 4231 test cases 1, 2 and 6: our use of the library (key length, output length). */
static void test_hmac_sha256_vectors(void **state)
{
    (void)state;
    uint8_t out[QASM_SHA256_LEN], key[131];
    static const uint8_t tc1[] = { 0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf,
                                   0xce, 0xaf, 0x0b, 0xf1, 0x2b, 0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83,
                                   0x3d, 0xa7, 0x26, 0xe9, 0x37, 0x6c, 0x2e, 0x32, 0xcf, 0xf7 };
    memset(key, 0x0b, 20);
    qasm_hmac_sha256(key, 20, "Hi There", 8, out);
    assert_memory_equal(out, tc1, sizeof(tc1));
    static const uint8_t tc2[] = { 0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                   0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                   0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43 };
    const char *d2 = "what do ya want for nothing?";
    qasm_hmac_sha256("Jefe", 4, d2, strlen(d2), out);
    assert_memory_equal(out, tc2, sizeof(tc2));
    static const uint8_t tc6[] = { 0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26,
                                   0xaa, 0xcb, 0xf5, 0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28,
                                   0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54 };
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key, 0xaa, sizeof(key));
    qasm_hmac_sha256(key, sizeof(key), d6, strlen(d6), out);
    assert_memory_equal(out, tc6, sizeof(tc6));
    assert_true(qasm_memeq_ct(tc2, tc2, sizeof(tc2)));
    assert_false(qasm_memeq_ct(tc2, tc1, sizeof(tc2)));
}

/* Every report type: the MAC survives the wire and covers every field. */
static void test_report_mac_sign_and_verify(void **state)
{
    (void)state;
    uint8_t other[QASM_PROTO_SECRET_LEN];
    memset(other, 0x42, sizeof(other));
    for (uint8_t type = QASM_PROTO_REPORT_OPEN; type <= QASM_PROTO_REPORT_REFRESH; type++) {
        struct qasm_proto_msg m, d;
        uint8_t buf[QASM_PROTO_MAX_MSG];
        sample_msg(&m, type);
        assert_true(qasm_proto_report_has_mac(&m.u.report));
        int carries = type == QASM_PROTO_REPORT_OPEN || type == QASM_PROTO_REPORT_REFRESH;
        if (carries)
            assert_memory_equal(m.u.report.secret, SECRET, sizeof(SECRET));
        ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
        assert_true(n > 0);
        /* The tail: the MAC, then an empty key MAC. */
        assert_memory_equal(buf + n - 1 - QASM_PROTO_MAC_LEN, m.u.report.mac, QASM_PROTO_MAC_LEN);
        assert_int_equal(buf[n - 1], 0);
        assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
        assert_true(qasm_proto_report_verify(type, &d.u.report, SECRET));
        assert_false(qasm_proto_report_verify(type, &d.u.report, other));
        /* The same MAC does not verify as another type. */
        uint8_t t2 = type == QASM_PROTO_REPORT_ADDR ? QASM_PROTO_REPORT_CLOSE : QASM_PROTO_REPORT_ADDR;
        assert_false(qasm_proto_report_verify(t2, &d.u.report, SECRET));
        /* Any changed field breaks it: seq, client, O-DCID, the secret carried. */
        struct qasm_proto_report r = d.u.report;
        r.seq++;
        assert_false(qasm_proto_report_verify(type, &r, SECRET));
        r = d.u.report;
        r.client.port++;
        assert_false(qasm_proto_report_verify(type, &r, SECRET));
        r = d.u.report;
        r.odcid.data[0] ^= 1;
        assert_false(qasm_proto_report_verify(type, &r, SECRET));
        if (carries) {
            r = d.u.report;
            r.secret[0] ^= 1;
            assert_false(qasm_proto_report_verify(type, &r, SECRET));
        }
        /* The header's req_id and flags are not covered: they mean nothing for a report. */
        qasm_put32(buf + 8, 77);
        assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
        assert_true(qasm_proto_report_verify(type, &d.u.report, SECRET));
        /* Without a MAC: decodes, does not verify. */
        memset(m.u.report.mac, 0, QASM_PROTO_MAC_LEN);
        assert_false(qasm_proto_report_has_mac(&m.u.report));
        assert_false(qasm_proto_report_verify(type, &m.u.report, SECRET));
    }
}

/* The reserved key MAC: length 0 or 16, anything else is malformed. */
static void test_report_key_mac_field(void **state)
{
    (void)state;
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_REPORT_ADDR);
    m.u.report.key_mac_len = QASM_PROTO_MAC_LEN;
    memset(m.u.report.key_mac, 0xab, QASM_PROTO_MAC_LEN);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(n > 0);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_int_equal(d.u.report.key_mac_len, QASM_PROTO_MAC_LEN);
    assert_memory_equal(d.u.report.key_mac, m.u.report.key_mac, QASM_PROTO_MAC_LEN);
    assert_true(qasm_proto_report_verify(QASM_PROTO_REPORT_ADDR, &d.u.report, SECRET));
    buf[n - 1 - QASM_PROTO_MAC_LEN] = 5; /* a length that is neither 0 nor 16 */
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), -EPROTO);
    m.u.report.key_mac_len = 5;
    assert_int_equal(qasm_proto_encode(buf, sizeof(buf), &m), -EINVAL);
}

/* The wire image of an OPEN (docs/PROTOCOL.md, "Example"). */
static void test_open_wire_layout(void **state)
{
    (void)state;
    struct qasm_proto_msg m;
    uint8_t buf[128];
    qasm_proto_msg_init(&m, QASM_PROTO_REPORT_OPEN, 0);
    struct qasm_proto_report *r = &m.u.report;
    cid(&r->odcid, "0102");
    addr(&r->client0, "10.0.0.1:5000");
    r->client = r->client0;
    r->seq = 1;
    cid(&r->scid, "c0");
    addr(&r->server, "192.0.2.1:443");
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_OPEN, r, SECRET), 0);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    static const uint8_t head[] = {
        0x51, 0x54, 0x03, 0x01, 0x00, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header, 75 */
        0x02, 0x01, 0x02,                                                       /* odcid */
        0x04, 0x13, 0x88, 10, 0, 0, 1, 0x04, 0x13, 0x88, 10, 0, 0, 1,            /* client0, client */
        0x00, 0x00, 0x00, 0x01,                                                 /* seq */
        0x01, 0xc0, 0x04, 0x01, 0xbb, 192, 0, 2, 1,                             /* scid, server */
    };
    assert_int_equal(n, sizeof(head) + QASM_PROTO_SECRET_LEN + QASM_PROTO_MAC_LEN + 1);
    assert_memory_equal(buf, head, sizeof(head));
    assert_memory_equal(buf + sizeof(head), SECRET, QASM_PROTO_SECRET_LEN);
    /* The MAC: HMAC-SHA-256(secret, version, type, body up to the MAC), first 16 bytes. */
    uint8_t in[128], full[QASM_SHA256_LEN];
    in[0] = 2;
    in[1] = QASM_PROTO_REPORT_OPEN;
    memcpy(in + 2, buf + QASM_PROTO_HDR_LEN, (size_t)n - QASM_PROTO_HDR_LEN - QASM_PROTO_MAC_LEN - 1);
    qasm_hmac_sha256(SECRET, sizeof(SECRET), in, (size_t)n - QASM_PROTO_HDR_LEN - QASM_PROTO_MAC_LEN + 1,
                     full);
    assert_memory_equal(buf + n - 1 - QASM_PROTO_MAC_LEN, full, QASM_PROTO_MAC_LEN);
    assert_int_equal(buf[n - 1], 0);
}

static void test_varint_truncated_in_record(void **state)
{
    (void)state;
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    sample_msg(&m, QASM_PROTO_REPORT_DCID_NEW);
    m.u.report.dcid.seq = (1ULL << 62) - 1; /* 8-byte varint at the end of the body */
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    size_t tail = QASM_PROTO_MAC_LEN + 1; /* MAC, empty key MAC */
    assert_int_equal(buf[(size_t)n - tail - 8] >> 6, 3);
    qasm_put16(buf + 4, (uint16_t)((size_t)n - tail - 1));
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n - tail - 1), -EPROTO);
    qasm_put16(buf + 4, (uint16_t)n);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_int_equal(d.u.report.dcid.seq, (1ULL << 62) - 1);
}

static void test_helpers(void **state)
{
    (void)state;
    struct qasm_proto_conn c;
    struct qasm_cid x;
    sample_conn(&c);
    cid(&x, "b0b1b2b3b4b5b6b7");
    assert_int_equal(qasm_proto_conn_find_dcid(&c, &x), 1);
    cid(&x, "0102030405060708"); /* the O-DCID is not in the list */
    assert_int_equal(qasm_proto_conn_find_dcid(&c, &x), -1);
    assert_string_equal(qasm_proto_type_name(QASM_PROTO_QUERY), "QUERY");
    assert_string_equal(qasm_proto_type_name(0x99), "?");
    assert_string_equal(qasm_proto_event_name(QASM_PROTO_EV_DCID_NEW), "dcid_new");
    assert_string_equal(qasm_proto_event_name(0), "?");
    for (unsigned t = 0; t < 256; t++)
        assert_int_equal(qasm_proto_is_report((uint8_t)t), t >= 1 && t <= 6);
    /* Closed is a last push; only expired and evicted remove the connection. */
    for (uint8_t e = QASM_PROTO_EV_OPENED; e <= QASM_PROTO_EV_EVICTED; e++) {
        assert_int_equal(qasm_proto_event_final(e), e >= QASM_PROTO_EV_CLOSED);
        assert_int_equal(qasm_proto_event_removes(e), e >= QASM_PROTO_EV_EXPIRED);
    }
}

static void test_stats_add(void **state)
{
    (void)state;
    static struct qasm_proto_stats st;
    memset(&st, 0, sizeof(st));
    qasm_proto_stats_add(&st, "a_name_longer_than_thirty_one_characters", 7);
    assert_int_equal(st.n, 1);
    assert_int_equal(strlen(st.s[0].name), QASM_PROTO_STAT_NAMELEN);
    assert_int_equal(st.s[0].value, 7);
    for (unsigned i = 1; i < QASM_PROTO_MAX_STATS + 5; i++)
        qasm_proto_stats_add(&st, "x", i);
    assert_int_equal(st.n, QASM_PROTO_MAX_STATS); /* full: the rest is dropped */
    assert_int_equal(st.s[QASM_PROTO_MAX_STATS - 1].value, QASM_PROTO_MAX_STATS - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_header_layout_is_fixed),
        cmocka_unit_test(test_frame_needs_whole_message),
        cmocka_unit_test(test_frame_rejects_bad_headers),
        cmocka_unit_test(test_decode_header_errors),
        cmocka_unit_test(test_every_truncation_is_rejected),
        cmocka_unit_test(test_query_client_address_is_optional),
        cmocka_unit_test(test_record_times_are_optional),
        cmocka_unit_test(test_record_field_errors),
        cmocka_unit_test(test_report_requires_addresses),
        cmocka_unit_test(test_push_event_and_text_errors),
        cmocka_unit_test(test_stats_errors),
        cmocka_unit_test(test_encode_checks_bounds),
        cmocka_unit_test(test_varint_truncated_in_record),
        cmocka_unit_test(test_hmac_sha256_vectors),
        cmocka_unit_test(test_report_mac_sign_and_verify),
        cmocka_unit_test(test_report_key_mac_field),
        cmocka_unit_test(test_open_wire_layout),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_stats_add),
    };
    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
