/* Unit tests for lib/ipudp: parse, build, rewrite with checksums, every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>

#include "bytes.h"
#include "ipudp.h"

/* Independent oracle: the one's-complement sum of the pseudo-header and the
 * whole UDP datagram (checksum included) is 0xffff when the checksum is right. */
static uint16_t oracle_sum(const uint8_t *pkt, const struct qasm_ipudp *pu)
{
    uint32_t sum = 0;
    size_t alen = pu->flow.src.family == AF_INET ? 4 : 16;
    size_t ulen = pu->payload_len + 8;
    const uint8_t *udp = pkt + pu->udp_off;
    for (size_t i = 0; i < alen; i += 2)
        sum += (uint32_t)(pu->flow.src.ip[i] << 8 | pu->flow.src.ip[i + 1]) +
               (uint32_t)(pu->flow.dst.ip[i] << 8 | pu->flow.dst.ip[i + 1]);
    sum += 17 + (uint32_t)ulen;
    for (size_t i = 0; i < ulen; i++)
        sum += i % 2 ? udp[i] : (uint32_t)udp[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static void test_ipudp_ipv4_header_checksum_vector(void **state)
{
    (void)state;
    /* A textbook IPv4 header (checksum 0xb861), with a UDP header appended. */
    uint8_t pkt[28] = { 0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                        0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
                        0x30, 0x39, 0x01, 0xbb, 0x00, 0x08, 0x00, 0x00 };
    struct qasm_ipudp pu;
    /* The classic vector has total length 0x73; ours is 0x1c: recompute the expectation. */
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, sizeof(pkt), 0), 0);
    struct qasm_addr s = pu.flow.src, d = pu.flow.dst;
    assert_int_equal(qasm_ipudp_rewrite(pkt, &pu, &s, &d), 0);
    /* total length 0x73 -> 0x1c lowers the sum by 0x57: 0xb861 + 0x57 = 0xb8b8 */
    assert_int_equal(qasm_get16(pkt + 10), 0xb8b8);
    assert_int_equal(pu.flow.src.port, 12345);
    assert_int_equal(pu.flow.dst.port, 443);
    assert_int_equal(pu.payload_len, 0);
    /* A zero UDP checksum on IPv4 means "none" and stays zero. */
    assert_int_equal(qasm_get16(pkt + 26), 0);
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, sizeof(pkt), QASM_IPUDP_F_VERIFY_CSUM), 0);
}

static void test_ipudp_build_parse_rewrite_v4_v6(void **state)
{
    (void)state;
    static const char *pairs[][4] = {
        { "10.0.0.1:5000", "192.0.2.9:443", "203.0.113.5:40001", "192.0.2.9:443" },
        { "[2001:db8::1]:5000", "[2001:db8::2]:443", "[2001:db8:ffff::7]:40001",
          "[2001:db8::2]:443" },
    };
    uint8_t payload[333], pkt[1500];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    for (size_t k = 0; k < 2; k++) {
        struct qasm_addr s, d, s2, d2;
        struct qasm_ipudp pu;
        assert_int_equal(qasm_addr_parse(&s, pairs[k][0]), 0);
        assert_int_equal(qasm_addr_parse(&d, pairs[k][1]), 0);
        ssize_t n = qasm_ipudp_build(pkt, sizeof(pkt), &s, &d, payload, sizeof(payload), 64);
        assert_int_equal(n, (k ? 40 : 20) + 8 + 333);
        assert_int_equal(qasm_ipudp_parse(&pu, pkt, (size_t)n, QASM_IPUDP_F_VERIFY_CSUM), 0);
        assert_true(qasm_addr_eq(&pu.flow.src, &s));
        assert_true(qasm_addr_eq(&pu.flow.dst, &d));
        assert_int_equal(pu.payload_len, 333);
        assert_memory_equal(pu.payload, payload, 333);
        assert_int_equal(pu.ttl, 64);
        assert_int_equal(oracle_sum(pkt, &pu), 0xffff);
        /* Rewrite the source (NAT outbound) and check again. */
        assert_int_equal(qasm_addr_parse(&s2, pairs[k][2]), 0);
        assert_int_equal(qasm_addr_parse(&d2, pairs[k][3]), 0);
        assert_int_equal(qasm_ipudp_rewrite(pkt, &pu, &s2, &d2), 0);
        assert_int_equal(qasm_ipudp_parse(&pu, pkt, (size_t)n, QASM_IPUDP_F_VERIFY_CSUM), 0);
        assert_true(qasm_addr_eq(&pu.flow.src, &s2));
        assert_int_equal(oracle_sum(pkt, &pu), 0xffff);
        /* Corrupt one payload byte: the checksum catches it. */
        pkt[n - 1] ^= 1;
        assert_int_equal(qasm_ipudp_parse(&pu, pkt, (size_t)n, QASM_IPUDP_F_VERIFY_CSUM),
                         QASM_IPUDP_ERR_CHECKSUM);
        assert_int_equal(qasm_ipudp_parse(&pu, pkt, (size_t)n, 0), 0);
        /* Family mismatch on rewrite and build. */
        struct qasm_addr other;
        assert_int_equal(qasm_addr_parse(&other, k ? "1.2.3.4:5" : "[::1]:5"), 0);
        assert_int_equal(qasm_ipudp_rewrite(pkt, &pu, &other, &d2), QASM_IPUDP_ERR_VERSION);
        assert_int_equal(qasm_ipudp_build(pkt, sizeof(pkt), &other, &d2, payload, 1, 64),
                         QASM_IPUDP_ERR_VERSION);
        assert_int_equal(qasm_ipudp_build(pkt, 30, &s, &d, payload, 100, 64), QASM_IPUDP_ERR_SPACE);
    }
}

static void test_ipudp_every_error(void **state)
{
    (void)state;
    uint8_t pkt[200];
    struct qasm_addr s, d;
    struct qasm_ipudp pu;
    assert_int_equal(qasm_addr_parse(&s, "10.0.0.1:1"), 0);
    assert_int_equal(qasm_addr_parse(&d, "10.0.0.2:2"), 0);
    ssize_t n = qasm_ipudp_build(pkt, sizeof(pkt), &s, &d, (const uint8_t *)"hello", 5, 1);
    assert_int_equal(n, 33);
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 0, 0), QASM_IPUDP_ERR_TRUNCATED);
    for (size_t cut = 1; cut < 28; cut++)
        assert_int_equal(qasm_ipudp_parse(&pu, pkt, cut, 0), QASM_IPUDP_ERR_TRUNCATED);
    /* Trailing link-layer padding is fine. */
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 60, 0), 0);
    assert_int_equal(pu.pkt_len, 33);
    pkt[0] = 0x55;
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 33, 0), QASM_IPUDP_ERR_VERSION);
    pkt[0] = 0x44; /* IHL 16 bytes */
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 33, 0), QASM_IPUDP_ERR_HEADER);
    pkt[0] = 0x45;
    pkt[6] = 0x20; /* more fragments */
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 33, 0), QASM_IPUDP_ERR_FRAGMENT);
    pkt[6] = 0x40;
    pkt[9] = 6;
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 33, 0), QASM_IPUDP_ERR_NOT_UDP);
    pkt[9] = 17;
    pkt[25] = 200; /* UDP length beyond the IP payload */
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 33, 0), QASM_IPUDP_ERR_UDP_LENGTH);
    pkt[25] = 13;
    pkt[11] ^= 0xff;
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, 33, QASM_IPUDP_F_VERIFY_CSUM), QASM_IPUDP_ERR_CHECKSUM);
    /* IPv6 with a hop-by-hop header before UDP, then with a fragment header. */
    assert_int_equal(qasm_addr_parse(&s, "[::1]:1"), 0);
    assert_int_equal(qasm_addr_parse(&d, "[::2]:2"), 0);
    uint8_t v6[200];
    n = qasm_ipudp_build(v6, sizeof(v6), &s, &d, (const uint8_t *)"hi", 2, 9);
    assert_int_equal(n, 50);
    memmove(v6 + 48, v6 + 40, 10);
    memset(v6 + 40, 0, 8);
    v6[40] = 17; /* next header after hop-by-hop */
    v6[6] = 0;
    qasm_put16(v6 + 4, 18);
    assert_int_equal(qasm_ipudp_parse(&pu, v6, 58, QASM_IPUDP_F_VERIFY_CSUM), 0);
    assert_int_equal(pu.ip_hdr_len, 48);
    assert_int_equal(pu.payload_len, 2);
    v6[6] = 44;
    assert_int_equal(qasm_ipudp_parse(&pu, v6, 58, 0), QASM_IPUDP_ERR_FRAGMENT);
    for (int e = QASM_IPUDP_ERR_SPACE; e < 0; e++)
        assert_string_not_equal(qasm_ipudp_strerror(e), "unknown error");
}

/* A TTL decrement (what a router hop does) and a header with options. */
static void test_ipudp_ip4_csum_fix(void **state)
{
    (void)state;
    struct qasm_addr s, d;
    struct qasm_ipudp pu;
    uint8_t payload[21] = { 1, 2, 3 }, pkt[128], opt[128];
    assert_int_equal(qasm_addr_parse(&s, "192.0.2.1:5000"), 0);
    assert_int_equal(qasm_addr_parse(&d, "198.51.100.2:443"), 0);
    ssize_t n = qasm_ipudp_build(pkt, sizeof(pkt), &s, &d, payload, sizeof(payload), 64);
    assert_true(n > 0);
    pkt[8]--;
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, (size_t)n, QASM_IPUDP_F_VERIFY_CSUM),
                     QASM_IPUDP_ERR_CHECKSUM);
    qasm_ipudp_ip4_csum_fix(pkt, 20);
    assert_int_equal(qasm_ipudp_parse(&pu, pkt, (size_t)n, QASM_IPUDP_F_VERIFY_CSUM), 0);
    assert_int_equal(pu.ttl, 63);
    /* The same packet with 4 bytes of NOP options: IHL 6, total length + 4. */
    memcpy(opt, pkt, 20);
    memset(opt + 20, 1, 4);
    memcpy(opt + 24, pkt + 20, (size_t)n - 20);
    opt[0] = 0x46;
    opt[3] = (uint8_t)(opt[3] + 4);
    qasm_ipudp_ip4_csum_fix(opt, 24);
    assert_int_equal(qasm_ipudp_parse(&pu, opt, (size_t)n + 4, QASM_IPUDP_F_VERIFY_CSUM), 0);
    assert_int_equal(pu.payload_len, sizeof(payload));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipudp_ipv4_header_checksum_vector),
        cmocka_unit_test(test_ipudp_build_parse_rewrite_v4_v6),
        cmocka_unit_test(test_ipudp_every_error),
        cmocka_unit_test(test_ipudp_ip4_csum_fix),
    };
    return cmocka_run_group_tests_name("ipudp", tests, NULL, NULL);
}
