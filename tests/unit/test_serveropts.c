/* Unit tests for migration-bench/serveropts.c (qasm-h3-server's flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/log.h"
#include "migration-bench/serveropts.h"
#include "opts_util.h"

TEST_OPTS_PARSER(qasm_h3s_opts, qasm_h3s_opts_parse, 256)

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse("--listen 127.0.0.1:4433"), 0);
    assert_int_equal(o.nlisten, 1);
    assert_int_equal(o.listen[0].port, 4433);
    assert_int_equal(o.cid_len, 18);
    assert_int_equal(o.idle_timeout, 30 * QASM_SEC);
    assert_int_equal(o.initial_rtt, 10 * QASM_MS);
    assert_int_equal(o.max_ack_delay, QASM_MS);
    assert_int_equal(o.stateless_reset, 1);
    assert_int_equal(o.json, 1);
    assert_int_equal(o.gso, 0);
    assert_int_equal(o.have_secret, 0);
    assert_int_equal(o.log_level, QASM_LOG_WARN);
    assert_null(o.cert);
    assert_null(o.qlog_dir);
    assert_int_equal(parse("--listen 127.0.0.1:1 --qlog-dir /tmp/q"), 0);
    assert_string_equal(o.qlog_dir, "/tmp/q");
    assert_int_equal(parse("--listen 127.0.0.1:1 --listen [::1]:2 --cert c --key k "
                           "--write-cert wc --write-key wk --cid-len 8 --idle-timeout 5s "
                           "--initial-rtt 1ms --max-ack-delay 0ms --no-stateless-reset --no-json "
                           "--gso --log-level debug --secret "
                           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), 0);
    assert_int_equal(o.nlisten, 2);
    assert_string_equal(o.cert, "c");
    assert_string_equal(o.key, "k");
    assert_string_equal(o.write_cert, "wc");
    assert_string_equal(o.write_key, "wk");
    assert_int_equal(o.cid_len, 8);
    assert_int_equal(o.idle_timeout, 5 * QASM_SEC);
    assert_int_equal(o.initial_rtt, QASM_MS);
    assert_int_equal(o.max_ack_delay, 0);
    assert_int_equal(o.stateless_reset, 0);
    assert_int_equal(o.json, 0);
    assert_int_equal(o.gso, 1);
    assert_int_equal(o.log_level, QASM_LOG_DEBUG);
    assert_int_equal(o.have_secret, 1);
    for (int i = 0; i < QASM_H3S_SECRET_LEN; i++)
        assert_int_equal(o.secret[i], i);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(parse("--help"), 1);
    assert_int_equal(parse("--listen 127.0.0.1:1 --help"), 1);
    assert_int_equal(parse("-h"), 1);
    assert_int_equal(parse("--listen 127.0.0.1:1 -h"), 1);
    assert_non_null(strstr(qasm_h3s_usage(), "  --version"));
    /* a host name is kept for main to resolve */
    assert_int_equal(parse("--listen localhost:4433"), 0);
    assert_int_equal(o.names.n, 1);
    assert_int_equal(o.listen[0].port, 4433);
    assert_non_null(strstr(qasm_h3s_usage(), "Usage: qasm-h3-server --listen"));
}

#define BAD(line, msg) TEST_OPTS_BAD(line, -1, msg)

static void test_bad(void **state)
{
    (void)state;
    BAD("--listen x", "--listen: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got 'x'");
    BAD("--listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 "
        "--listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 "
        "--listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 "
        "--listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 "
        "--listen 127.0.0.1:9", "at most 16 --listen (127.0.0.1:9)");
    BAD("--cid-len 7", "--cid-len: expected 8..20, got '7'");
    BAD("--idle-timeout 0s", "--idle-timeout: expected a duration, got '0s'");
    BAD("--initial-rtt x", "--initial-rtt: expected a duration, got 'x'");
    BAD("--max-ack-delay 16384ms", "--max-ack-delay: expected a duration < 16384ms, got '16384ms'");
    BAD("--log-level loud", "--log-level: expected debug|info|warn|error|off, got 'loud'");
    BAD("--bogus", "unknown or incomplete option '--bogus' (see --help)");
    BAD("--listen", "unknown or incomplete option '--listen' (see --help)");
    BAD("--listen 127.0.0.1:1 extra", "unexpected argument 'extra'");
    BAD("--no-json", "--listen is required (see --help)");
    BAD("--listen 127.0.0.1:1 --cert c", "--cert and --key go together");
    BAD("--listen 127.0.0.1:1 --secret 00", "--secret: expected 64 hex digits, got '00'");
    BAD("--listen 127.0.0.1:1 --secret "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
        "--secret: not hex: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
