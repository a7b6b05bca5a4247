/*
 * Unit tests for lib/quic: RFC 9001 Appendix A packets as header vectors,
 * every packet type of v1 and v2, Version Negotiation, unknown and greased
 * versions, coalesced datagrams, and every error code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "quic.h"

#include "hex_util.h"

static void assert_cid_hex(const struct qasm_cid *cid, const char *hex)
{
    char buf[QASM_CID_HEXLEN];
    assert_string_equal(qasm_cid_hex(buf, cid), hex);
}

/* RFC 9001 A.2: the client Initial. Header bytes and first ciphertext bytes
 * are the RFC's; the rest of the 1200-byte datagram is filler (the parser
 * never reads the protected payload). */
static size_t rfc9001_client_initial(uint8_t *buf)
{
    size_t n = unhex(buf, "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
                          "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399");
    memset(buf + n, 0x5a, 1200 - n);
    return 1200;
}

static const char *rfc9001_server_initial =
        "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a"
        "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3"
        "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84"
        "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4"
        "2158407dd074ee";
static const char *rfc9001_retry =
        "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";
static const char *rfc9001_chacha_short = "4cfe4189655e5cd55c41f69080575d7999c25a5bfb";

static void test_quic_rfc9001_client_initial(void **state)
{
    (void)state;
    uint8_t buf[1500];
    struct qasm_quic_hdr hd;
    size_t len = rfc9001_client_initial(buf);
    assert_int_equal(qasm_quic_parse(&hd, buf, len, 0, QASM_QUIC_F_CHECK_INITIAL_SIZE), 1200);
    assert_int_equal(hd.type, QASM_QUIC_INITIAL);
    assert_true(hd.is_long);
    assert_int_equal(hd.version, QASM_QUIC_V1);
    assert_cid_hex(&hd.dcid, "8394c8f03e515708");
    assert_int_equal(hd.scid.len, 0);
    assert_int_equal(hd.token_len, 0);
    assert_null(hd.token);
    assert_int_equal(hd.length, 1182);
    assert_int_equal(hd.pn_offset, 18);
    assert_int_equal(hd.pkt_len, 1200);
    struct qasm_cid d;
    assert_int_equal(qasm_quic_dcid(&d, buf, len, 0), 1);
    assert_cid_hex(&d, "8394c8f03e515708");
    /* The same Initial cut to 1199 bytes: Length no longer fits. */
    assert_int_equal(qasm_quic_parse(&hd, buf, 1199, 0, 0), QASM_QUIC_ERR_LENGTH);
}

static void test_quic_rfc9001_server_initial(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct qasm_quic_hdr hd;
    size_t len = unhex(buf, rfc9001_server_initial);
    assert_int_equal(len, 135);
    assert_int_equal(qasm_quic_parse(&hd, buf, len, 0, 0), 135);
    assert_int_equal(hd.type, QASM_QUIC_INITIAL);
    assert_int_equal(hd.dcid.len, 0);
    assert_cid_hex(&hd.scid, "f067a5502a4262b5");
    assert_int_equal(hd.length, 117);
    assert_int_equal(hd.pn_offset, 18);
    /* A server Initial is small: the 1200-byte rule applies to the datagram. */
    assert_int_equal(qasm_quic_parse(&hd, buf, len, 0, QASM_QUIC_F_CHECK_INITIAL_SIZE),
                     QASM_QUIC_ERR_SMALL_INITIAL);
}

static void test_quic_rfc9001_retry(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct qasm_quic_hdr hd;
    size_t len = unhex(buf, rfc9001_retry);
    assert_int_equal(qasm_quic_parse(&hd, buf, len, 0, 0), 36);
    assert_int_equal(hd.type, QASM_QUIC_RETRY);
    assert_int_equal(hd.dcid.len, 0);
    assert_cid_hex(&hd.scid, "f067a5502a4262b5");
    assert_int_equal(hd.token_len, 5);
    assert_memory_equal(hd.token, "token", 5);
    /* Remove the tag bytes: too short for the integrity tag. */
    assert_int_equal(qasm_quic_parse(&hd, buf, 15 + 5 + 10, 0, 0), QASM_QUIC_ERR_RETRY_TAG);
}

static void test_quic_rfc9001_chacha_short_header(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct qasm_quic_hdr hd;
    size_t len = unhex(buf, rfc9001_chacha_short);
    assert_int_equal(qasm_quic_parse(&hd, buf, len, 0, 0), 21);
    assert_int_equal(hd.type, QASM_QUIC_SHORT);
    assert_false(hd.is_long);
    assert_int_equal(hd.dcid.len, 0);
    assert_int_equal(hd.pn_offset, 1);
    assert_int_equal(hd.version, 0);
    /* With a DCID length of 8 assumed, the same bytes are too short. */
    assert_int_equal(qasm_quic_parse(&hd, buf, len, 8, 0), QASM_QUIC_ERR_TOO_SHORT);
}

/* Builds a long-header packet: type bits, version, CIDs, token (Initial), Length, payload. */
static size_t build_long(uint8_t *buf, uint8_t type_bits, uint32_t version, const char *dcid,
                         const char *scid, size_t token_len, size_t payload)
{
    uint8_t *p = buf;
    uint8_t c[20];
    size_t n;
    *p++ = (uint8_t)(0xc0 | type_bits << 4 | 1);
    p = qasm_put32(p, version);
    n = unhex(c, dcid);
    *p++ = (uint8_t)n;
    memcpy(p, c, n);
    p += n;
    n = unhex(c, scid);
    *p++ = (uint8_t)n;
    memcpy(p, c, n);
    p += n;
    int initial = (version == QASM_QUIC_V2) ? type_bits == 1 : type_bits == 0;
    if (initial) {
        p = qasm_varint_put(p, token_len);
        memset(p, 0x77, token_len);
        p += token_len;
    }
    p = qasm_varint_put(p, payload);
    memset(p, 0xab, payload);
    return (size_t)(p - buf) + payload;
}

static void test_quic_v1_and_v2_types(void **state)
{
    (void)state;
    static const struct {
        uint32_t version;
        uint8_t bits;
        enum qasm_quic_type type;
    } cases[] = {
        { QASM_QUIC_V1, 0, QASM_QUIC_INITIAL },   { QASM_QUIC_V1, 1, QASM_QUIC_0RTT },
        { QASM_QUIC_V1, 2, QASM_QUIC_HANDSHAKE }, { QASM_QUIC_V2, 1, QASM_QUIC_INITIAL },
        { QASM_QUIC_V2, 2, QASM_QUIC_0RTT },      { QASM_QUIC_V2, 3, QASM_QUIC_HANDSHAKE },
    };
    uint8_t buf[2048];
    struct qasm_quic_hdr hd;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = build_long(buf, cases[i].bits, cases[i].version, "0102030405060708090a",
                                "aabbccdd", 3, 40);
        assert_int_equal(qasm_quic_parse(&hd, buf, len, 0, 0), (ssize_t)len);
        assert_int_equal(hd.type, cases[i].type);
        assert_int_equal(hd.version, cases[i].version);
        assert_cid_hex(&hd.dcid, "0102030405060708090a");
        assert_cid_hex(&hd.scid, "aabbccdd");
        assert_int_equal(hd.length, 40);
        assert_int_equal(hd.token_len, cases[i].type == QASM_QUIC_INITIAL ? 3 : 0);
        assert_false(hd.is_grease);
    }
    /* v2 Retry uses type bits 0 (RFC 9369 §3.2). */
    buf[0] = 0xc0;
    qasm_put32(buf + 1, QASM_QUIC_V2);
    buf[5] = 0;
    buf[6] = 4;
    memset(buf + 7, 1, 4);
    memset(buf + 11, 2, 3 + 16);
    assert_int_equal(qasm_quic_parse(&hd, buf, 11 + 19, 0, 0), 30);
    assert_int_equal(hd.type, QASM_QUIC_RETRY);
    assert_int_equal(hd.token_len, 3);
}

static void test_quic_version_negotiation(void **state)
{
    (void)state;
    uint8_t buf[64] = { 0x80 | 0x2a, 0, 0, 0, 0, 4, 1, 2, 3, 4, 2, 9, 9 };
    struct qasm_quic_hdr hd;
    qasm_put32(buf + 13, QASM_QUIC_V1);
    qasm_put32(buf + 17, 0x1a2a3a4a);
    assert_int_equal(qasm_quic_parse(&hd, buf, 21, 0, 0), 21);
    assert_int_equal(hd.type, QASM_QUIC_VERSION_NEGOTIATION);
    assert_int_equal(hd.nversions, 2);
    assert_int_equal(qasm_get32(hd.versions), QASM_QUIC_V1);
    assert_int_equal(hd.scid.len, 2);
    assert_int_equal(qasm_quic_parse(&hd, buf, 13, 0, 0), QASM_QUIC_ERR_VN_LIST);
    assert_int_equal(qasm_quic_parse(&hd, buf, 19, 0, 0), QASM_QUIC_ERR_VN_LIST);
}

static void test_quic_unknown_and_greased_versions(void **state)
{
    (void)state;
    uint8_t buf[600];
    struct qasm_quic_hdr hd;
    /* Greased version, fixed bit clear, 30-byte DCID: legal under the invariants. */
    memset(buf, 0x33, sizeof(buf));
    buf[0] = 0x80;
    qasm_put32(buf + 1, 0x3a4a5a6a);
    buf[5] = 30;
    buf[36] = 0;
    assert_int_equal(qasm_quic_parse(&hd, buf, 100, 0, 0), 100);
    assert_int_equal(hd.type, QASM_QUIC_UNKNOWN_VERSION);
    assert_true(hd.is_grease);
    assert_int_equal(hd.dcid_len_wire, 30);
    assert_int_equal(hd.dcid.len, 20);
    assert_int_equal(hd.pn_offset, 37);
    struct qasm_cid d;
    assert_int_equal(qasm_quic_dcid(&d, buf, 100, 0), QASM_QUIC_ERR_CID_TOO_LONG);
    /* A non-grease unknown version. */
    qasm_put32(buf + 1, 0xff00001d);
    buf[5] = 8;
    buf[14] = 0;
    assert_int_equal(qasm_quic_parse(&hd, buf, 40, 0, 0), 40);
    assert_int_equal(hd.type, QASM_QUIC_UNKNOWN_VERSION);
    assert_false(hd.is_grease);
    assert_true(qasm_quic_is_grease(0x0a0a0a0a));
    assert_false(qasm_quic_is_grease(QASM_QUIC_V1));
    assert_int_equal(qasm_quic_dcid(&d, buf, 40, 0), 1);
    assert_int_equal(d.len, 8);
}

static void test_quic_coalesced_datagram(void **state)
{
    (void)state;
    uint8_t buf[2048];
    struct qasm_quic_hdr hd;
    struct qasm_quic_iter it;
    size_t n = build_long(buf, 0, QASM_QUIC_V1, "1111111111111111", "22", 0, 100);
    n += build_long(buf + n, 2, QASM_QUIC_V1, "1111111111111111", "22", 0, 300);
    buf[n] = 0x41;
    memset(buf + n + 1, 0x11, 8);
    memset(buf + n + 9, 0xcc, 900);
    n += 909;
    qasm_quic_iter_init(&it, buf, n, 8, QASM_QUIC_F_CHECK_INITIAL_SIZE);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 1);
    assert_int_equal(hd.type, QASM_QUIC_INITIAL);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 1);
    assert_int_equal(hd.type, QASM_QUIC_HANDSHAKE);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 1);
    assert_int_equal(hd.type, QASM_QUIC_SHORT);
    assert_cid_hex(&hd.dcid, "1111111111111111");
    assert_int_equal(hd.pkt_len, 909);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 0);
    assert_int_equal(it.count, 3);
}

static void test_quic_coalesced_errors(void **state)
{
    (void)state;
    uint8_t buf[2048];
    struct qasm_quic_hdr hd;
    struct qasm_quic_iter it;
    /* Small datagram holding an Initial: refused when asked to check. */
    size_t n = build_long(buf, 0, QASM_QUIC_V1, "01", "02", 0, 50);
    n += build_long(buf + n, 2, QASM_QUIC_V1, "01", "02", 0, 50);
    qasm_quic_iter_init(&it, buf, n, 1, QASM_QUIC_F_CHECK_INITIAL_SIZE);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), QASM_QUIC_ERR_SMALL_INITIAL);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 0);
    /* Without the check both packets come out. */
    qasm_quic_iter_init(&it, buf, n, 1, 0);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 1);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 1);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 0);
    /* Second packet with another DCID. */
    n = build_long(buf, 2, QASM_QUIC_V1, "01", "02", 0, 50);
    n += build_long(buf + n, 2, QASM_QUIC_V1, "03", "02", 0, 50);
    qasm_quic_iter_init(&it, buf, n, 1, 0);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 1);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), QASM_QUIC_ERR_COALESCED_DCID);
    /* Trailing zero padding after a long packet: fixed bit 0. */
    n = build_long(buf, 2, QASM_QUIC_V1, "01", "02", 0, 50);
    memset(buf + n, 0, 30);
    qasm_quic_iter_init(&it, buf, n + 30, 1, 0);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), 1);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), QASM_QUIC_ERR_FIXED_BIT);
    /* Empty datagram. */
    qasm_quic_iter_init(&it, buf, 0, 1, 0);
    assert_int_equal(qasm_quic_iter_next(&it, &hd), QASM_QUIC_ERR_EMPTY);
}

static void test_quic_every_error_code(void **state)
{
    (void)state;
    uint8_t buf[2048] = { 0 };
    struct qasm_quic_hdr hd;
    struct qasm_cid d;
    size_t n;

    assert_int_equal(qasm_quic_parse(&hd, buf, 0, 0, 0), QASM_QUIC_ERR_EMPTY);
    assert_int_equal(qasm_quic_dcid(&d, buf, 0, 0), QASM_QUIC_ERR_EMPTY);

    /* Truncated at every byte of a Handshake header. */
    n = build_long(buf, 2, QASM_QUIC_V1, "0102030405060708", "0a0b", 0, 64);
    size_t hdr_end = 1 + 4 + 1 + 8 + 1 + 2 + 2; /* Length 64 takes two varint bytes */
    for (size_t cut = 1; cut < hdr_end; cut++)
        assert_int_equal(qasm_quic_parse(&hd, buf, cut, 0, 0), QASM_QUIC_ERR_TRUNCATED);
    assert_int_equal(qasm_quic_dcid(&d, buf, 10, 0), QASM_QUIC_ERR_TRUNCATED);
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, 0), (ssize_t)n);
    /* Length beyond the datagram. */
    assert_int_equal(qasm_quic_parse(&hd, buf, n - 1, 0, 0), QASM_QUIC_ERR_LENGTH);
    /* CID length 21. */
    buf[5] = 21;
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, 0), QASM_QUIC_ERR_CID_TOO_LONG);
    assert_int_equal(qasm_quic_dcid(&d, buf, n, 0), QASM_QUIC_ERR_CID_TOO_LONG);
    buf[5] = 8;
    buf[14] = 200; /* SCID length */
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, 0), QASM_QUIC_ERR_CID_TOO_LONG);
    buf[14] = 2;
    /* Fixed bit clear. */
    buf[0] &= (uint8_t)~0x40;
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, 0), QASM_QUIC_ERR_FIXED_BIT);
    assert_int_equal(qasm_quic_dcid(&d, buf, n, 0), QASM_QUIC_ERR_FIXED_BIT);
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, QASM_QUIC_F_GREASE_OK), (ssize_t)n);
    assert_int_equal(hd.type, QASM_QUIC_HANDSHAKE);
    assert_int_equal(qasm_quic_dcid_flags(&d, buf, n, 0, QASM_QUIC_F_GREASE_OK), 1);
    buf[0] |= 0x40;
    /* Length too small for pn + HP sample. */
    n = build_long(buf, 2, QASM_QUIC_V1, "01", "02", 0, 19);
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, 0), QASM_QUIC_ERR_TOO_SHORT);
    /* Initial whose token runs past the datagram. */
    n = build_long(buf, 0, QASM_QUIC_V1, "01", "02", 10, 30);
    buf[9] = 0x3f; /* token length 63 */
    assert_int_equal(qasm_quic_parse(&hd, buf, 40, 0, 0), QASM_QUIC_ERR_TOKEN);
    /* Initial under 1200 bytes with the check on. */
    n = build_long(buf, 0, QASM_QUIC_V1, "01", "02", 0, 1000);
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, QASM_QUIC_F_CHECK_INITIAL_SIZE),
                     QASM_QUIC_ERR_SMALL_INITIAL);
    assert_int_equal(qasm_quic_parse(&hd, buf, n, 0, 0), (ssize_t)n);
    /* Short header: bad DCID length argument, fixed bit, truncation, too short. */
    memset(buf, 0x42, 64);
    buf[0] = 0x41;
    assert_int_equal(qasm_quic_parse(&hd, buf, 64, 21, 0), QASM_QUIC_ERR_DCID_LEN_ARG);
    assert_int_equal(qasm_quic_dcid(&d, buf, 64, 21), QASM_QUIC_ERR_DCID_LEN_ARG);
    assert_int_equal(qasm_quic_parse(&hd, buf, 5, 8, 0), QASM_QUIC_ERR_TRUNCATED);
    assert_int_equal(qasm_quic_dcid(&d, buf, 5, 8), QASM_QUIC_ERR_TRUNCATED);
    assert_int_equal(qasm_quic_parse(&hd, buf, 28, 8, 0), QASM_QUIC_ERR_TOO_SHORT);
    assert_int_equal(qasm_quic_parse(&hd, buf, 29, 8, 0), 29);
    assert_int_equal(qasm_quic_dcid(&d, buf, 9, 8), 0);
    buf[0] = 0x01;
    assert_int_equal(qasm_quic_parse(&hd, buf, 64, 8, 0), QASM_QUIC_ERR_FIXED_BIT);
    /* RFC 9287: a greased (cleared) fixed bit is accepted on request. */
    assert_int_equal(qasm_quic_parse(&hd, buf, 64, 8, QASM_QUIC_F_GREASE_OK), 64);
    assert_int_equal(hd.type, QASM_QUIC_SHORT);
    assert_false(hd.fixed_bit);
    assert_int_equal(qasm_quic_dcid_flags(&d, buf, 64, 8, QASM_QUIC_F_GREASE_OK), 0);
    assert_int_equal(d.len, 8);
    /* Every code has a distinct name. */
    for (int e = QASM_QUIC_ERR_COALESCED_DCID; e <= QASM_QUIC_ERR_EMPTY; e++) {
        assert_string_not_equal(qasm_quic_strerror(e), "unknown error");
        for (int f = e + 1; f <= QASM_QUIC_ERR_EMPTY; f++)
            assert_string_not_equal(qasm_quic_strerror(e), qasm_quic_strerror(f));
    }
    assert_string_equal(qasm_quic_type_name(QASM_QUIC_SHORT), "1rtt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quic_rfc9001_client_initial),
        cmocka_unit_test(test_quic_rfc9001_server_initial),
        cmocka_unit_test(test_quic_rfc9001_retry),
        cmocka_unit_test(test_quic_rfc9001_chacha_short_header),
        cmocka_unit_test(test_quic_v1_and_v2_types),
        cmocka_unit_test(test_quic_version_negotiation),
        cmocka_unit_test(test_quic_unknown_and_greased_versions),
        cmocka_unit_test(test_quic_coalesced_datagram),
        cmocka_unit_test(test_quic_coalesced_errors),
        cmocka_unit_test(test_quic_every_error_code),
    };
    return cmocka_run_group_tests_name("quic", tests, NULL, NULL);
}
