/*
 * Unit tests for lib/quic_initial: the RFC 9001 Appendix A.1 keys and
 * header-protection mask, a server Initial carrying CONNECTION_CLOSE
 * sealed by an independent implementation (Python's `cryptography`, from
 * the RFC's algorithm) opened here, seal/open round trips, a wrong key,
 * corrupted and truncated packets, and the CONNECTION_CLOSE frame finder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "quic_initial.h"

#include "hex_util.h"

static struct qasm_cid cid_hex(const char *hex)
{
    struct qasm_cid c;
    assert_int_equal(qasm_cid_parse(&c, hex), 0);
    return c;
}

static void assert_hex(const uint8_t *b, size_t n, const char *hex)
{
    uint8_t want[64];
    assert_int_equal(unhex(want, hex), n);
    assert_memory_equal(b, want, n);
}

/* RFC 9001 A.1: the DCID 0x8394c8f03e515708. */
static void rfc9001_keys(void **state)
{
    (void)state;
    struct qasm_cid d = cid_hex("8394c8f03e515708");
    struct qasm_quic_initial_keys k;

    qasm_quic_initial_keys(&k, &d, 0);
    assert_hex(k.key, 16, "1f369613dd76d5467730efcbe3b1a22d");
    assert_hex(k.iv, 12, "fa044b2f42a3fd3b46fb255c");
    assert_hex(k.hp, 16, "9f50449e04a0e810283a1e9933adedd2");
    qasm_quic_initial_keys(&k, &d, 1);
    assert_hex(k.key, 16, "cf3a5331653c364c88f0f379b6067e37");
    assert_hex(k.iv, 12, "0ac1493ca1905853b0bba03e");
    assert_hex(k.hp, 16, "c206b8d9b9f0f37644430b490eeaa314");
}

/*
 * A server Initial (DCID c1c2c3c4c5, SCID 5152535455565758, packet number
 * 1) under the server keys of the RFC's DCID: ACK, an empty CRYPTO,
 * PADDING, CONNECTION_CLOSE(0x178: no_application_protocol, frame type
 * CRYPTO), PADDING. Sealed by Python's cryptography module.
 */
static const char *PY_CLOSE =
    "c80000000105c1c2c3c4c5085152535455565758004036a5714c8c5a482cd0991cd21b50b201120815b5d7bde704"
    "c967c8a8167aee6ccba9185ea6d6114910d367893498c7c4290ff8a2ed5429";

static void open_independent(void **state)
{
    (void)state;
    struct qasm_cid d = cid_hex("8394c8f03e515708");
    struct qasm_quic_initial_keys k;
    uint8_t pkt[128], out[128];
    size_t n = unhex(pkt, PY_CLOSE);
    uint32_t pn = 0;
    uint64_t err = 0;
    int app = -1;

    qasm_quic_initial_keys(&k, &d, 1);
    ssize_t m = qasm_quic_initial_open(&k, pkt, n, out, sizeof(out), &pn);
    assert_int_equal(m, 34);
    assert_int_equal(pn, 1);
    assert_int_equal(qasm_quic_initial_find_close(out, (size_t)m, &err, &app), 1);
    assert_int_equal(err, 0x178);
    assert_int_equal(app, 0);
    /* The client's keys do not open it. */
    qasm_quic_initial_keys(&k, &d, 0);
    assert_int_equal(qasm_quic_initial_open(&k, pkt, n, out, sizeof(out), NULL),
                     QASM_QUIC_INITIAL_ERR_AUTH);
}

static void round_trip(void **state)
{
    (void)state;
    struct qasm_cid d = cid_hex("0102030405060708090a"), s = cid_hex("aabbcc");
    struct qasm_quic_initial_keys k;
    uint8_t payload[1200] = {0x1d, 0x05, 0x00}, pkt[1300], out[1300];
    uint32_t pn = 0;
    uint64_t err = 0;
    int app = 0;

    qasm_quic_initial_keys(&k, &d, 0);
    ssize_t n = qasm_quic_initial_seal(&k, &d, &s, 0x01020304, payload, sizeof(payload), pkt,
                                       sizeof(pkt));
    assert_true(n > 1200);
    /* A coalesced packet after it is not part of it. */
    memset(pkt + n, 0xee, 40);
    assert_int_equal(qasm_quic_initial_open(&k, pkt, (size_t)n + 40, out, sizeof(out), &pn),
                     sizeof(payload));
    assert_int_equal(pn, 0x01020304);
    assert_memory_equal(out, payload, sizeof(payload));
    assert_int_equal(qasm_quic_initial_find_close(out, sizeof(payload), &err, &app), 1);
    assert_int_equal(err, 5);
    assert_int_equal(app, 1);
    /* Too small an output buffer, a flipped bit, a truncated packet. */
    assert_int_equal(qasm_quic_initial_open(&k, pkt, (size_t)n, out, 100, NULL),
                     QASM_QUIC_INITIAL_ERR_SPACE);
    pkt[n - 20] ^= 1;
    assert_int_equal(qasm_quic_initial_open(&k, pkt, (size_t)n, out, sizeof(out), NULL),
                     QASM_QUIC_INITIAL_ERR_AUTH);
    assert_int_equal(qasm_quic_initial_open(&k, pkt, 30, out, sizeof(out), NULL),
                     QASM_QUIC_INITIAL_ERR_PARSE);
    /* A short header is not an Initial. */
    pkt[0] = 0x43;
    assert_int_equal(qasm_quic_initial_open(&k, pkt, (size_t)n, out, sizeof(out), NULL),
                     QASM_QUIC_INITIAL_ERR_PARSE);
    assert_int_equal(qasm_quic_initial_seal(&k, &d, &s, 0, payload, 3, pkt, sizeof(pkt)),
                     QASM_QUIC_INITIAL_ERR_PARSE);
    assert_int_equal(qasm_quic_initial_seal(&k, &d, &s, 0, payload, 100, pkt, 50),
                     QASM_QUIC_INITIAL_ERR_SPACE);
}

static void find_close(void **state)
{
    (void)state;
    uint64_t err = 0;
    int app = 0;
    uint8_t b[64];
    size_t n;

    /* PING, ACK with one extra range, ACK_ECN, CRYPTO, then the close. */
    n = unhex(b, "01" "020a0001020000" "0305000000000000" "0600024142" "1c0a0000");
    assert_int_equal(qasm_quic_initial_find_close(b, n, &err, &app), 1);
    assert_int_equal(err, 10);
    /* A STREAM frame first: not looked past. */
    n = unhex(b, "0800" "1c0a0000");
    assert_int_equal(qasm_quic_initial_find_close(b, n, &err, &app), 0);
    /* Only padding. */
    n = unhex(b, "0000000000");
    assert_int_equal(qasm_quic_initial_find_close(b, n, &err, &app), 0);
    /* Malformed: CRYPTO longer than the payload, ACK cut, close without its code. */
    n = unhex(b, "06000a41");
    assert_int_equal(qasm_quic_initial_find_close(b, n, &err, &app), -1);
    n = unhex(b, "020a");
    assert_int_equal(qasm_quic_initial_find_close(b, n, &err, &app), -1);
    n = unhex(b, "1c");
    assert_int_equal(qasm_quic_initial_find_close(b, n, &err, &app), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc9001_keys),
        cmocka_unit_test(open_independent),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(find_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
