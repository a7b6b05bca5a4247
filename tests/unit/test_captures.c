/* Unit tests for the pure parts of captures/: link-layer decapsulation,
 * and the tracker-events parser (the embedded tracker is tracker/core/store.c,
 * tested by test_store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pcap/dlt.h>
#include <string.h>
#include <sys/socket.h>

#include "captures/events.h"
#include "captures/linktype.h"

/* An IPv4 and an IPv6 first byte followed by filler, as the "network layer". */
static const uint8_t ip4[24] = { 0x45, 0, 0, 24, 1, 2, 3, 4 };
static const uint8_t ip6[48] = { 0x60, 0, 0, 0, 0, 8, 17, 64 };

static size_t frame(uint8_t *out, const uint8_t *hdr, size_t hl, const uint8_t *l3, size_t n)
{
    memcpy(out, hdr, hl);
    memcpy(out + hl, l3, n);
    return hl + n;
}

static void expect_decap(int dlt, const uint8_t *f, size_t len, int ver, const uint8_t *want,
                         size_t wantlen)
{
    const uint8_t *ip = NULL;
    size_t iplen = 0;
    assert_int_equal(qasm_link_decap(dlt, f, len, &ip, &iplen), ver);
    assert_ptr_equal(ip, want);
    assert_int_equal(iplen, wantlen);
}

static void test_link_ethernet(void **state)
{
    (void)state;
    uint8_t f[128];
    uint8_t eth[14] = { 0 };
    eth[12] = 0x08;
    size_t n = frame(f, eth, 14, ip4, sizeof(ip4));
    expect_decap(DLT_EN10MB, f, n, 4, f + 14, sizeof(ip4));
    eth[12] = 0x86;
    eth[13] = 0xdd;
    n = frame(f, eth, 14, ip6, sizeof(ip6));
    expect_decap(DLT_EN10MB, f, n, 6, f + 14, sizeof(ip6));
}

static void test_link_ethernet_vlan(void **state)
{
    (void)state;
    uint8_t f[128];
    /* 802.1ad outer tag, 802.1Q inner tag, then IPv4 */
    uint8_t eth[22] = { 0 };
    eth[12] = 0x88, eth[13] = 0xa8, eth[16] = 0x81, eth[17] = 0x00, eth[20] = 0x08;
    size_t n = frame(f, eth, 22, ip4, sizeof(ip4));
    expect_decap(DLT_EN10MB, f, n, 4, f + 22, sizeof(ip4));
    /* a tag cut short */
    const uint8_t *ip;
    size_t iplen;
    assert_int_equal(qasm_link_decap(DLT_EN10MB, f, 17, &ip, &iplen), QASM_LINK_ERR_TRUNCATED);
}

static void test_link_ethernet_errors(void **state)
{
    (void)state;
    uint8_t f[64] = { 0 };
    const uint8_t *ip;
    size_t iplen;
    assert_int_equal(qasm_link_decap(DLT_EN10MB, f, 13, &ip, &iplen), QASM_LINK_ERR_TRUNCATED);
    f[12] = 0x08, f[13] = 0x06; /* ARP */
    assert_int_equal(qasm_link_decap(DLT_EN10MB, f, 42, &ip, &iplen), QASM_LINK_ERR_NOT_IP);
}

static void test_link_sll(void **state)
{
    (void)state;
    uint8_t f[128];
    uint8_t sll[16] = { 0 };
    sll[14] = 0x86, sll[15] = 0xdd;
    size_t n = frame(f, sll, 16, ip6, sizeof(ip6));
    expect_decap(DLT_LINUX_SLL, f, n, 6, f + 16, sizeof(ip6));
    const uint8_t *ip;
    size_t iplen;
    assert_int_equal(qasm_link_decap(DLT_LINUX_SLL, f, 15, &ip, &iplen), QASM_LINK_ERR_TRUNCATED);
}

static void test_link_sll2(void **state)
{
    (void)state;
    uint8_t f[128];
    uint8_t sll2[20] = { 0x08, 0x00 };
    size_t n = frame(f, sll2, 20, ip4, sizeof(ip4));
    expect_decap(276, f, n, 4, f + 20, sizeof(ip4));
    f[0] = 0x88, f[1] = 0xcc; /* LLDP */
    const uint8_t *ip;
    size_t iplen;
    assert_int_equal(qasm_link_decap(276, f, n, &ip, &iplen), QASM_LINK_ERR_NOT_IP);
    assert_int_equal(qasm_link_decap(276, f, 19, &ip, &iplen), QASM_LINK_ERR_TRUNCATED);
}

static void test_link_raw(void **state)
{
    (void)state;
    expect_decap(DLT_RAW, ip4, sizeof(ip4), 4, ip4, sizeof(ip4));
    expect_decap(101, ip6, sizeof(ip6), 6, ip6, sizeof(ip6)); /* LINKTYPE_RAW */
    expect_decap(228, ip4, sizeof(ip4), 4, ip4, sizeof(ip4)); /* DLT_IPV4 */
    const uint8_t bad[4] = { 0x50 };
    const uint8_t *ip;
    size_t iplen;
    assert_int_equal(qasm_link_decap(DLT_RAW, bad, 4, &ip, &iplen), QASM_LINK_ERR_NOT_IP);
    assert_int_equal(qasm_link_decap(DLT_RAW, bad, 0, &ip, &iplen), QASM_LINK_ERR_TRUNCATED);
}

static void test_link_null_and_loop(void **state)
{
    (void)state;
    uint8_t f[128];
    const uint8_t le4[4] = { 2, 0, 0, 0 }, be4[4] = { 0, 0, 0, 2 };
    const uint8_t le6[4] = { 10, 0, 0, 0 }, be30[4] = { 0, 0, 0, 30 }, le24[4] = { 24, 0, 0, 0 };
    size_t n = frame(f, le4, 4, ip4, sizeof(ip4));
    expect_decap(DLT_NULL, f, n, 4, f + 4, sizeof(ip4));
    n = frame(f, be4, 4, ip4, sizeof(ip4));
    expect_decap(DLT_NULL, f, n, 4, f + 4, sizeof(ip4));
    n = frame(f, le6, 4, ip6, sizeof(ip6));
    expect_decap(DLT_NULL, f, n, 6, f + 4, sizeof(ip6));
    n = frame(f, le24, 4, ip6, sizeof(ip6));
    expect_decap(DLT_NULL, f, n, 6, f + 4, sizeof(ip6));
    n = frame(f, be30, 4, ip6, sizeof(ip6));
    expect_decap(108, f, n, 6, f + 4, sizeof(ip6)); /* DLT_LOOP: network order */
    /* family says IPv6 but the packet is IPv4 */
    n = frame(f, le6, 4, ip4, sizeof(ip4));
    const uint8_t *ip;
    size_t iplen;
    assert_int_equal(qasm_link_decap(DLT_NULL, f, n, &ip, &iplen), QASM_LINK_ERR_NOT_IP);
    const uint8_t other[8] = { 7, 0, 0, 0, 0x45 };
    assert_int_equal(qasm_link_decap(DLT_NULL, other, 8, &ip, &iplen), QASM_LINK_ERR_NOT_IP);
    assert_int_equal(qasm_link_decap(DLT_NULL, le4, 3, &ip, &iplen), QASM_LINK_ERR_TRUNCATED);
}

static void test_link_unsupported(void **state)
{
    (void)state;
    const uint8_t *ip;
    size_t iplen;
    assert_int_equal(qasm_link_decap(DLT_IEEE802_11, ip4, sizeof(ip4), &ip, &iplen),
                     QASM_LINK_ERR_UNSUPPORTED);
    assert_false(qasm_link_supported(DLT_IEEE802_11));
    assert_true(qasm_link_supported(DLT_EN10MB));
    assert_true(qasm_link_supported(276));
    assert_string_equal(qasm_link_name(DLT_LINUX_SLL), "sll");
    assert_string_equal(qasm_link_name(12345), "unknown");
}

/* ---- tracker events ---- */

static void test_events_parse(void **state)
{
    (void)state;
    struct qasm_proto_msg m;
    qasm_tstamp t;
    char err[160];
    int rv = qasm_events_parse_line(
        "{\"t_ns\": 1700000000000001000, \"type\": \"dcid_new\", \"odcid\": \"c0ffee\","
        " \"client0\": \"127.0.0.1:5000\", \"client\": \"[::1]:6000\", \"seq\": 7,"
        " \"dcid\": \"aabbccdd\", \"cid_seq\": 3}\n",
        &t, &m, err, sizeof(err));
    assert_int_equal(rv, 1);
    assert_int_equal(t, 1700000000000001000ull);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_DCID_NEW);
    assert_int_equal(m.u.report.odcid.len, 3);
    assert_int_equal(m.u.report.client.family, AF_INET6);
    assert_int_equal(m.u.report.client.port, 6000);
    assert_int_equal(m.u.report.seq, 7);
    assert_int_equal(m.u.report.dcid.cid.len, 4);
    assert_int_equal(m.u.report.dcid.seq, 3);

    rv = qasm_events_parse_line("{\"t\": 1.5, \"type\": \"open\", \"odcid\": \"01\", "
                                "\"client0\": \"10.0.0.1:1\", \"server\": \"10.0.0.2:443\"}",
                                &t, &m, err, sizeof(err));
    assert_int_equal(rv, 1);
    assert_int_equal(t, 1500000000ull);
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_OPEN);
    assert_true(qasm_addr_eq(&m.u.report.client, &m.u.report.client0));
    assert_int_equal(m.u.report.server.port, 443);

    /* seq and cid_seq are optional (seq then defaults to the line number, at load). */
    rv = qasm_events_parse_line("{\"t_ns\": 5000000000, \"type\": \"dcid_retire\", "
                                "\"odcid\": \"01\", \"client0\": \"10.0.0.1:1\", \"dcid\": \"02\"}",
                                &t, &m, err, sizeof(err));
    assert_int_equal(rv, 1);
    assert_int_equal(m.u.report.seq, 0);
    assert_int_equal(m.u.report.dcid.seq, 0);

    assert_int_equal(qasm_events_parse_line("   \n", &t, &m, err, sizeof(err)), 0);
    assert_int_equal(qasm_events_parse_line("# comment", &t, &m, err, sizeof(err)), 0);
}

static void test_events_errors(void **state)
{
    (void)state;
    struct qasm_proto_msg m;
    qasm_tstamp t;
    char err[160];
    static const char *bad[] = {
        "not json",
        "{\"t\": 1, \"type\": \"open\"",                                         /* unterminated */
        "{\"type\": \"addr\", \"odcid\": \"01\", \"client0\": \"1.2.3.4:5\"}",   /* no time */
        "{\"t\": 1, \"type\": \"teleport\", \"odcid\": \"01\", \"client0\": \"1.2.3.4:5\"}",
        "{\"t\": 1, \"type\": \"addr\", \"odcid\": \"zz\", \"client0\": \"1.2.3.4:5\"}",
        "{\"t\": 1, \"type\": \"addr\", \"odcid\": \"01\", \"client0\": \"1.2.3.4\"}",
        /* open without a server */
        "{\"t\": 1, \"type\": \"open\", \"odcid\": \"01\", \"client0\": \"1.2.3.4:5\"}",
        "{\"t\": 1, \"type\": \"dcid_new\", \"odcid\": \"01\", \"client0\": \"1.2.3.4:5\"}",
        "{\"t\": -1, \"type\": \"addr\", \"odcid\": \"01\", \"client0\": \"1.2.3.4:5\"}",
        "{\"t\": 1, \"type\": \"addr\", \"odcid\": \"01\", \"client0\": \"1.2.3.4:5\","
        " \"seq\": \"x\"}",
        "{\"t\": 1, \"type\": \"addr\", \"odcid\": \"01\", \"client0\": \"1.2.3.4:5\"} trailing",
        "{\"t\": 1, \"x\": [1], \"type\": \"addr\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(qasm_events_parse_line(bad[i], &t, &m, err, sizeof(err)), -EINVAL);
        assert_true(err[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_ethernet),
        cmocka_unit_test(test_link_ethernet_vlan),
        cmocka_unit_test(test_link_ethernet_errors),
        cmocka_unit_test(test_link_sll),
        cmocka_unit_test(test_link_sll2),
        cmocka_unit_test(test_link_raw),
        cmocka_unit_test(test_link_null_and_loop),
        cmocka_unit_test(test_link_unsupported),
        cmocka_unit_test(test_events_parse),
        cmocka_unit_test(test_events_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
