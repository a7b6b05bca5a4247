/*
 * Unit tests for migration-bench/h3guard.c: the datagram guard and the
 * server's stateless routing step (which calls the real, assert-enabled
 * libngtcp2: a missing check aborts this test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "migration-bench/h3guard.h"

/* long_hdr writes a long header (v1 unless |version|) with the given CID lengths. */
static size_t long_hdr(uint8_t *p, uint32_t version, uint8_t dcil, uint8_t scil)
{
    size_t n = 0;
    p[n++] = 0xc0;
    p[n++] = (uint8_t)(version >> 24);
    p[n++] = (uint8_t)(version >> 16);
    p[n++] = (uint8_t)(version >> 8);
    p[n++] = (uint8_t)version;
    p[n++] = dcil;
    memset(p + n, 0xd1, dcil);
    n += dcil;
    p[n++] = scil;
    memset(p + n, 0x5c, scil);
    n += scil;
    return n;
}

static void test_guard_empty(void **state)
{
    (void)state;
    assert_int_equal(qasm_dgram_guard(NULL, 0, 18), QASM_DGRAM_EMPTY);
    assert_string_equal(qasm_dgram_verdict_name(QASM_DGRAM_EMPTY), "empty");
}

static void test_guard_short_header(void **state)
{
    uint8_t p[64] = {0x40};
    (void)state;
    assert_int_equal(qasm_dgram_guard(p, 1, 18), QASM_DGRAM_TRUNCATED);
    assert_int_equal(qasm_dgram_guard(p, 18, 18), QASM_DGRAM_TRUNCATED);
    assert_int_equal(qasm_dgram_guard(p, 19, 18), QASM_DGRAM_OK);
    /* zero-length CIDs (a client with --cid-len 0): one byte is a header */
    assert_int_equal(qasm_dgram_guard(p, 1, 0), QASM_DGRAM_OK);
    /* out-of-range lengths are clamped to 20, never read past the datagram */
    assert_int_equal(qasm_dgram_guard(p, 21, 255), QASM_DGRAM_OK);
    assert_int_equal(qasm_dgram_guard(p, 20, 255), QASM_DGRAM_TRUNCATED);
}

static void test_guard_long_header(void **state)
{
    uint8_t p[600];
    (void)state;
    size_t n = long_hdr(p, 1, 8, 8);
    assert_int_equal(n, 23);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(qasm_dgram_guard(p, i, 18), QASM_DGRAM_TRUNCATED);
    assert_int_equal(qasm_dgram_guard(p, n, 18), QASM_DGRAM_OK);
    /* RFC 8999: unknown versions may carry 255-byte CIDs */
    n = long_hdr(p, 0x1a2a3a4a, 255, 255);
    assert_int_equal(qasm_dgram_guard(p, n - 1, 18), QASM_DGRAM_TRUNCATED);
    assert_int_equal(qasm_dgram_guard(p, n, 18), QASM_DGRAM_OK);
}

static void test_route_empty_and_truncated(void **state)
{
    struct qasm_h3_route r;
    uint8_t p[8] = {0xc0, 0, 0, 0, 1, 20};
    (void)state;
    assert_int_equal(qasm_h3_route(&r, NULL, 0, 18), QASM_H3_ROUTE_DROP);
    assert_int_equal(r.why, QASM_H3_DROP_EMPTY);
    assert_int_equal(qasm_h3_route(&r, p, sizeof(p), 18), QASM_H3_ROUTE_DROP);
    assert_int_equal(r.why, QASM_H3_DROP_TRUNCATED);
    assert_string_equal(qasm_h3_drop_reason_name(r.why), "truncated");
    p[0] = 0x40;
    assert_int_equal(qasm_h3_route(&r, p, 1, 18), QASM_H3_ROUTE_DROP);
    assert_int_equal(r.why, QASM_H3_DROP_TRUNCATED);
}

static void test_route_short_and_initial(void **state)
{
    struct qasm_h3_route r;
    uint8_t p[1300];
    (void)state;
    memset(p, 0xab, sizeof(p));
    p[0] = 0x41;
    assert_int_equal(qasm_h3_route(&r, p, 19, 18), QASM_H3_ROUTE_CONN);
    assert_int_equal(r.long_hdr, 0);
    assert_int_equal(r.key.len, 18);
    assert_memory_equal(r.key.data, p + 1, 18);
    size_t n = long_hdr(p, 1, 8, 4);
    assert_int_equal(qasm_h3_route(&r, p, n, 18), QASM_H3_ROUTE_CONN);
    assert_int_equal(r.long_hdr, 1);
    assert_int_equal(r.key.len, 8);
    /* a v1 CID longer than 20 bytes: ngtcp2 refuses it */
    n = long_hdr(p, 1, 21, 0);
    assert_int_equal(qasm_h3_route(&r, p, n, 18), QASM_H3_ROUTE_DROP);
    assert_int_equal(r.why, QASM_H3_DROP_UNDECODABLE);
}

static void test_route_version_negotiation(void **state)
{
    struct qasm_h3_route r;
    uint8_t p[1300], out[QASM_H3_VN_MAX];
    (void)state;
    memset(p, 0, sizeof(p));
    size_t n = long_hdr(p, 0x1a2a3a4a, 255, 255);
    /* an unknown version in a small datagram: no answer (RFC 9000 §6.1) */
    assert_int_equal(qasm_h3_route(&r, p, n, 18), QASM_H3_ROUTE_DROP);
    assert_int_equal(r.why, QASM_H3_DROP_UNDECODABLE);
    assert_int_equal(qasm_h3_route(&r, p, sizeof(p), 18), QASM_H3_ROUTE_VN);
    ngtcp2_ssize w = qasm_h3_write_vn(out, sizeof(out), 0x3f, &r.vc);
    assert_int_equal(w, QASM_H3_VN_MAX);
    assert_int_equal(out[5], 255); /* our DCID = their SCID */
    assert_int_equal(out[6], 0x5c);
    assert_int_equal(out[6 + 255 + 1], 0xd1);
    assert_int_equal(qasm_h3_write_vn(out, 256, 0, &r.vc), NGTCP2_ERR_NOBUF);
    /* unknown version with a 21-byte DCID (legal for it): VN, not a drop */
    (void)long_hdr(p, 0x1a2a3a4a, 21, 0);
    assert_int_equal(qasm_h3_route(&r, p, sizeof(p), 18), QASM_H3_ROUTE_VN);
    /* a Version Negotiation sent to the server, 21-byte DCID: no key for it */
    n = long_hdr(p, 0, 21, 0);
    assert_int_equal(qasm_h3_route(&r, p, n, 18), QASM_H3_ROUTE_DROP);
    assert_int_equal(r.why, QASM_H3_DROP_BAD_CID);
}

static void test_sreset_randlen(void **state)
{
    (void)state;
    /* 21 bytes or less: no reset (it must be shorter, and >= 21 itself) */
    assert_int_equal(qasm_h3_sreset_randlen(0), 0);
    assert_int_equal(qasm_h3_sreset_randlen(21), 0);
    /* 22 bytes: a 21-byte reset, 5 unpredictable bytes + 16 of token */
    assert_int_equal(qasm_h3_sreset_randlen(22), 5);
    assert_int_equal(qasm_h3_sreset_randlen(40), 23);
    assert_int_equal(qasm_h3_sreset_randlen(65507), 41);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guard_empty),
        cmocka_unit_test(test_guard_short_header),
        cmocka_unit_test(test_guard_long_header),
        cmocka_unit_test(test_route_empty_and_truncated),
        cmocka_unit_test(test_route_short_and_initial),
        cmocka_unit_test(test_route_version_negotiation),
        cmocka_unit_test(test_sreset_randlen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
