/* Unit tests for lib/addr (addresses, ranges), lib/cid, lib/clock (parsing and printing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "bytes.h"
#include "cid.h"
#include "clock.h"

static void test_addr_parse_and_format_round_trip(void **state)
{
    (void)state;
    static const char *good[] = { "127.0.0.1:4433", "[::1]:443", "[2001:db8::1]:65535", "0.0.0.0:0" };
    char buf[QASM_ADDR_STRLEN];
    struct qasm_addr a;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(qasm_addr_parse(&a, good[i]), 0);
        assert_string_equal(qasm_addr_format(buf, sizeof(buf), &a), good[i]);
    }
    assert_int_equal(qasm_addr_parse(&a, "10.1.2.3:80"), 0);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.port, 80);
    assert_int_equal(a.ip[3], 3);
    assert_int_equal(a.ip[4], 0);
}

static void test_addr_parse_rejects_bad_input(void **state)
{
    (void)state;
    static const char *bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:443",
                                 "[::1]443", "[127.0.0.1]:80", "localhost:80", "1.2.3.4:-1",
                                 "1.2.3.4:80x", "[::1:80" };
    struct qasm_addr a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(qasm_addr_parse(&a, bad[i]), -EINVAL);
}

static void test_hostport_parse(void **state)
{
    (void)state;
    static const struct { const char *in, *host; unsigned port; } good[] = {
        { "127.0.0.1:4433", "127.0.0.1", 4433 }, { "[::1]:443", "::1", 443 },
        { "tracker.example:1", "tracker.example", 1 }, { "localhost:65535", "localhost", 65535 },
    };
    static const struct { const char *in; int err; } bad[] = {
        { ":::", QASM_HOSTPORT_ERR_BRACKETS },
        { "127.0.0.1:99999", QASM_HOSTPORT_ERR_PORT },
        { "127.0.0.1:", QASM_HOSTPORT_ERR_PORT },
        { "127.0.0.1:0", QASM_HOSTPORT_ERR_PORT },
        { "127.0.0.1:80x", QASM_HOSTPORT_ERR_PORT },
        { "127.0.0.1:+80", QASM_HOSTPORT_ERR_PORT },
        { "foo", QASM_HOSTPORT_ERR_NOPORT },
        { "", QASM_HOSTPORT_ERR_NOPORT },
        { "[::1]", QASM_HOSTPORT_ERR_NOPORT },
        { ":443", QASM_HOSTPORT_ERR_NOHOST },
        { "[]:443", QASM_HOSTPORT_ERR_NOHOST },
        { "::1:443", QASM_HOSTPORT_ERR_BRACKETS },
        { "[::1:443", QASM_HOSTPORT_ERR_BRACKETS },
        { "[127.0.0.1]:443", QASM_HOSTPORT_ERR_BRACKETS },
        { "0.0.0.0:443", QASM_HOSTPORT_ERR_ANY },
        { "[::]:443", QASM_HOSTPORT_ERR_ANY },
    };
    struct qasm_hostport hp;
    char longhost[QASM_HOSTPORT_HOSTLEN + 8];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(qasm_hostport_parse(&hp, good[i].in), 0);
        assert_string_equal(hp.host, good[i].host);
        assert_int_equal(hp.port, good[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rv = qasm_hostport_parse(&hp, bad[i].in);
        if (rv != bad[i].err)
            fail_msg("\"%s\": got %d, expected %d", bad[i].in, rv, bad[i].err);
        assert_string_not_equal(qasm_hostport_strerror(rv), "ok");
    }
    memset(longhost, 'a', sizeof(longhost));
    memcpy(longhost + sizeof(longhost) - 4, ":80", 4);
    assert_int_equal(qasm_hostport_parse(&hp, longhost), QASM_HOSTPORT_ERR_LONG);
}

static void test_addr_range(void **state)
{
    struct qasm_addr lo, hi, a;
    char buf[QASM_ADDR_STRLEN];
    (void)state;
    assert_int_equal(qasm_addr_range_parse(&lo, &hi, "127.0.0.2-127.0.0.200"), 0);
    qasm_addr_range_nth(&a, &lo, &hi, 0);
    assert_string_equal(qasm_addr_format_ip(buf, sizeof(buf), &a), "127.0.0.2");
    qasm_addr_range_nth(&a, &lo, &hi, 198);
    assert_string_equal(qasm_addr_format_ip(buf, sizeof(buf), &a), "127.0.0.200");
    qasm_addr_range_nth(&a, &lo, &hi, 199);  /* wraps */
    assert_string_equal(qasm_addr_format_ip(buf, sizeof(buf), &a), "127.0.0.2");
    assert_int_equal(qasm_addr_range_parse(&lo, &hi, "10.0.0.255-10.0.1.1"), 0);
    qasm_addr_range_nth(&a, &lo, &hi, 1);
    assert_string_equal(qasm_addr_format_ip(buf, sizeof(buf), &a), "10.0.1.0");
    assert_int_equal(qasm_addr_range_parse(&lo, &hi, "::1"), 0);
    qasm_addr_range_nth(&a, &lo, &hi, 5);
    assert_string_equal(qasm_addr_format_ip(buf, sizeof(buf), &a), "::1");
    assert_int_not_equal(qasm_addr_range_parse(&lo, &hi, "127.0.0.9-127.0.0.2"), 0);
    assert_int_not_equal(qasm_addr_range_parse(&lo, &hi, "127.0.0.1-::1"), 0);
    assert_int_not_equal(qasm_addr_range_parse(&lo, &hi, "127.0.0.1-"), 0);
    assert_int_not_equal(qasm_addr_range_parse(&lo, &hi, "host"), 0);
}

static void test_addr_sockaddr_round_trip(void **state)
{
    (void)state;
    struct qasm_addr a, b;
    struct sockaddr_storage ss;
    assert_int_equal(qasm_addr_parse(&a, "[fe80::2]:1234"), 0);
    socklen_t n = qasm_addr_to_sockaddr(&ss, &a);
    assert_int_equal(n, sizeof(struct sockaddr_in6));
    assert_int_equal(qasm_addr_from_sockaddr(&b, (struct sockaddr *)&ss, n), 0);
    assert_true(qasm_addr_eq(&a, &b));
    assert_int_equal(qasm_addr_parse(&a, "192.0.2.7:9"), 0);
    n = qasm_addr_to_sockaddr(&ss, &a);
    assert_int_equal(((struct sockaddr_in *)&ss)->sin_port, htons(9));
    assert_int_equal(qasm_addr_from_sockaddr(&b, (struct sockaddr *)&ss, n), 0);
    assert_true(qasm_addr_eq(&a, &b));
    struct sockaddr sa = { .sa_family = AF_UNIX };
    assert_int_equal(qasm_addr_from_sockaddr(&b, &sa, sizeof(sa)), -EAFNOSUPPORT);
}

static void test_flow_reverse_and_hash(void **state)
{
    (void)state;
    struct qasm_flow f = { .proto = 17 }, r;
    char buf[160];
    assert_int_equal(qasm_addr_parse(&f.src, "10.0.0.1:5000"), 0);
    assert_int_equal(qasm_addr_parse(&f.dst, "10.0.0.2:443"), 0);
    r = qasm_flow_reverse(&f);
    assert_true(qasm_addr_eq(&r.src, &f.dst));
    assert_false(qasm_flow_eq(&f, &r));
    assert_int_not_equal(qasm_flow_hash(&f, 1), qasm_flow_hash(&r, 1));
    assert_string_equal(qasm_flow_format(buf, sizeof(buf), &f), "udp 10.0.0.1:5000 -> 10.0.0.2:443");
}

static void test_cid_hex_round_trip(void **state)
{
    (void)state;
    struct qasm_cid c, d;
    char hex[QASM_CID_HEXLEN];
    assert_int_equal(qasm_cid_parse(&c, "8394c8f03e515708"), 0);
    assert_int_equal(c.len, 8);
    assert_string_equal(qasm_cid_hex(hex, &c), "8394c8f03e515708");
    assert_int_equal(qasm_cid_parse(&d, "0x8394C8F03E515708"), 0);
    assert_true(qasm_cid_eq(&c, &d));
    assert_int_equal(qasm_cid_parse(&d, ""), 0);
    assert_int_equal(d.len, 0);
    assert_int_equal(qasm_cid_parse(&d, "abc"), -EINVAL);
    assert_int_equal(qasm_cid_parse(&d, "zz"), -EINVAL);
    assert_int_equal(qasm_cid_parse(&d, "000102030405060708090a0b0c0d0e0f1011121314"), -EINVAL);
    /* A field inside a larger text: exactly n digits, what follows is not read. */
    assert_int_equal(qasm_cid_parse_len(&d, "8394c8f03e515708\",", 16), 0);
    assert_true(qasm_cid_eq(&c, &d));
    assert_int_equal(qasm_cid_parse_len(&d, "0x83", 4), -EINVAL); /* no prefix here */
    assert_int_equal(qasm_cid_parse_len(&d, "839", 3), -EINVAL);
    assert_int_equal(qasm_cid_parse_len(&d, "\"", 0), 0);
    assert_int_equal(d.len, 0);
    uint8_t raw[21] = { 0 };
    assert_int_equal(qasm_cid_set(&d, raw, 21), -EINVAL);
    assert_int_equal(qasm_cid_set(&d, raw, 20), 0);
}

static void test_varint_round_trip(void **state)
{
    (void)state;
    static const uint64_t vals[] = { 0, 63, 64, 16383, 16384, 1073741823, 1073741824, 4611686018427387903ULL };
    uint8_t buf[8];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint64_t v;
        uint8_t *end = qasm_varint_put(buf, vals[i]);
        size_t n = (size_t)(end - buf);
        assert_int_equal(n, qasm_varint_len(vals[i]));
        assert_int_equal(qasm_varint_get(&v, buf, n), n);
        assert_true(v == vals[i]);
        assert_int_equal(qasm_varint_get(&v, buf, n - 1), 0);
    }
    /* RFC 9000 §A.1 example: 0x9d7f3e7d = 494878333 */
    uint8_t ex[] = { 0x9d, 0x7f, 0x3e, 0x7d };
    uint64_t v;
    assert_int_equal(qasm_varint_get(&v, ex, 4), 4);
    assert_true(v == 494878333);
}

static void test_duration_parse(void **state)
{
    (void)state;
    qasm_duration d;
    assert_int_equal(qasm_duration_parse(&d, "2ms"), 0);
    assert_true(d == 2 * QASM_MS);
    assert_int_equal(qasm_duration_parse(&d, "1.5s"), 0);
    assert_true(d == 1500 * QASM_MS);
    assert_int_equal(qasm_duration_parse(&d, "30"), 0);
    assert_true(d == 30 * QASM_SEC);
    assert_int_equal(qasm_duration_parse(&d, "100us"), 0);
    assert_true(d == 100 * QASM_US);
    assert_int_equal(qasm_duration_parse(&d, "5m"), 0);
    assert_true(d == 300 * QASM_SEC);
    assert_int_equal(qasm_duration_parse(&d, "1h"), 0);
    assert_true(d == 3600 * QASM_SEC);
    assert_int_equal(qasm_duration_parse(&d, "1.5h"), 0);
    assert_true(d == 5400 * QASM_SEC);
    assert_int_equal(qasm_duration_parse(&d, "7ns"), 0);
    assert_true(d == 7 * QASM_NS);
    assert_int_equal(qasm_duration_parse(&d, "1hr"), -EINVAL);
    assert_int_equal(qasm_duration_parse(&d, "fast"), -EINVAL);
    assert_int_equal(qasm_duration_parse(&d, "-1s"), -EINVAL);
    assert_int_equal(qasm_duration_parse(&d, "5parsecs"), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_and_format_round_trip),
        cmocka_unit_test(test_addr_parse_rejects_bad_input),
        cmocka_unit_test(test_hostport_parse),
        cmocka_unit_test(test_addr_range),
        cmocka_unit_test(test_addr_sockaddr_round_trip),
        cmocka_unit_test(test_flow_reverse_and_hash),
        cmocka_unit_test(test_cid_hex_round_trip),
        cmocka_unit_test(test_varint_round_trip),
        cmocka_unit_test(test_duration_parse),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
