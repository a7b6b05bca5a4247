/* Unit tests for middleboxes/mbox_opts.c (qasm-mbox's command line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/log.h"
#include "middleboxes/mbox_opts.h"
#include "opts_util.h"

TEST_OPTS_PARSER(qasm_mbox_opts, qasm_mbox_opts_parse, 512)

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse("nat --mode default --listen 127.0.0.1:0 --upstream 127.0.0.1:2"), 0);
    assert_int_equal(o.function, QASM_MBOX_NAT);
    assert_int_equal(o.mode, QASM_MBOX_DEFAULT);
    assert_int_equal(o.listen.port, 0);
    assert_int_equal(o.upstream.port, 2);
    assert_int_equal(o.log_level, QASM_LOG_INFO);
    assert_int_equal(o.io_packet, 0);
    assert_int_equal(o.tracker_keys.n, 0);
    assert_int_equal(o.names.n, 0);
    /* host names: kept with their port for main to resolve */
    assert_int_equal(parse("nat --mode reactive --listen localhost:0 --upstream up.example:2 "
                           "--tracker [trk]:4"), 0);
    assert_int_equal(o.names.n, 3);
    assert_string_equal(o.names.flag[0], "--listen");
    assert_string_equal(o.names.flag[1], "--upstream");
    assert_string_equal(o.names.text[2], "[trk]:4");
    assert_ptr_equal(o.names.dst[2], &o.tracker);
    assert_int_equal(o.upstream.port, 2);
    assert_int_equal(parse("nat --mode default --listen 127.0.0.1:0 --upstream up.example:0"), -1);
    assert_string_equal(err, "--upstream: port 0 is not allowed ('up.example:0') (see --help)");
    assert_int_equal(parse("lb --mode reactive --listen 127.0.0.1:1 --backend 127.0.0.1:2 "
                           "--backend 127.0.0.1:3 --tracker 127.0.0.1:4 --tracker-key k "
                           "--tracker-keepalive 2s --stats-json s --stats-entries 5 "
                           "--log-level warn --max-datagram 1500 --max-flows 7 --core-batch "
                           "--hold 5ms --seed 3"), 0);
    assert_int_equal(o.function, QASM_MBOX_LB);
    assert_int_equal(o.mode, QASM_MBOX_REACTIVE);
    assert_int_equal(o.fl.nbackends, 2);
    assert_string_equal(o.tracker_keys.path[0], "k");
    assert_true(o.keepalive == 2.0);
    assert_string_equal(o.stats_path, "s");
    assert_int_equal(o.stats_entries, 5);
    assert_int_equal(o.log_level, QASM_LOG_WARN);
    assert_int_equal(o.max_datagram, 1500);
    assert_int_equal(o.max_flows, 7);
    assert_int_equal(o.core_batch, 1);
    assert_int_equal(o.cfg.hold_time, 5 * QASM_MS);
    assert_int_equal(parse("ratelimit --mode default --io packet --inside a --outside b"), 0);
    assert_int_equal(o.io_packet, 1);
    assert_int_equal(o.io_xdp, 0);
    assert_string_equal(o.inside, "a");
    assert_string_equal(o.outside, "b");
    /* xdp: the packet backend's flags, and the fast path */
    assert_int_equal(parse("nat --mode default --io xdp --inside a --outside b"), 0);
    assert_int_equal(o.io_packet, 1);
    assert_int_equal(o.io_xdp, 1);
    assert_int_equal(o.xdp_generic, 0);
    assert_int_equal(parse("nat --mode default --io xdp --inside a --outside b --xdp-generic"), 0);
    assert_int_equal(o.xdp_generic, 1);
    /* an IPv6 NAT without --public takes ::1 */
    assert_int_equal(parse("nat --mode default --listen [::1]:1 --upstream [::1]:2"), 0);
    assert_int_equal(o.cfg.nat_public.family, AF_INET6);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(parse("--help"), 1);
    assert_int_equal(parse("nat --bogus -h"), 1);
    assert_int_equal(parse("bogus --help"), 1);
    assert_non_null(strstr(qasm_mbox_usage(), "usage: qasm-mbox nat|ratelimit|lb"));
    /* the control socket: default path (NULL), a path, none */
    assert_null(o.control_path);
    assert_int_equal(o.control_off, 0);
    assert_int_equal(parse("lb --mode default --listen 127.0.0.1:1 --backend 127.0.0.1:2 "
                           "--control /tmp/lb.sock"), 0);
    assert_string_equal(o.control_path, "/tmp/lb.sock");
    assert_int_equal(parse("lb --mode default --listen 127.0.0.1:1 --backend 127.0.0.1:2 "
                           "--control none"), 0);
    assert_null(o.control_path);
    assert_int_equal(o.control_off, 1);
}

#define BAD(line, msg) TEST_OPTS_BAD(line, -1, msg)
#define NAT "nat --mode default --listen 127.0.0.1:1 --upstream 127.0.0.1:2 "

static void test_bad(void **state)
{
    (void)state;
    BAD("", "first argument must be the function: nat, ratelimit or lb (see --help)");
    BAD("--mode default", "option '--mode' before the function: the first argument must be nat, "
        "ratelimit or lb (see --help)");
    BAD("fw", "unknown function 'fw' (nat, ratelimit or lb) (see --help)");
    BAD(NAT "--listen x", "--listen: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got 'x' (see --help)");
    BAD(NAT "--upstream 127.0.0.1:0", "--upstream: port 0 is not allowed ('127.0.0.1:0') (see --help)");
    BAD(NAT "--tracker-keepalive 0s",
        "--tracker-keepalive: '0s' is not a duration from 1ms to 1h (see --help)");
    BAD(NAT "--log-level x",
        "--log-level: expected debug, info, warn, error or off, got 'x' (see --help)");
    BAD(NAT "--max-datagram 63",
        "--max-datagram: expected an integer in 64..65535, got '63' (see --help)");
    BAD(NAT "--max-flows 0", "--max-flows: expected an integer in 1..1000000, got '0' (see --help)");
    BAD(NAT "--stats-entries 1000001",
        "--stats-entries: expected an integer in 0..1000000, got '1000001' (see --help)");
    BAD(NAT "--io tap", "--io: expected relay, packet or xdp, got 'tap' (see --help)");
    BAD(NAT "--control /tmp/0123456789012345678901234567890123456789012345678901234567890123456789"
            "0123456789012345678901234567890123456789",
        "--control: expected a socket path of 1 to 107 bytes or none, got '/tmp/0123456789012345678"
        "9012345678901234567890123456789012345678901234567890123456789012345678901234567890123456"
        "789' (see --help)");
    BAD(NAT "--bogus", "unknown option '--bogus' (see --help)");
    BAD(NAT "--mode", "option --mode needs a value (see --help)");
    BAD(NAT "extra", "unexpected argument 'extra' (see --help)");
    BAD("nat --listen 127.0.0.1:1", "--mode is required (default, reactive or proactive) (see --help)");
    BAD("nat --mode eager", "--mode: expected default, reactive or proactive, got 'eager' (see --help)");
    BAD("nat --mode default --io packet --inside a",
        "--io packet needs --inside IF and --outside IF (see --help)");
    BAD(NAT "--inside a", "--inside and --outside are only for --io packet (see --help)");
    BAD("nat --mode default --io packet --inside a --outside b --xdp-generic",
        "--xdp-generic is only for --io xdp (see --help)");
    BAD("nat --mode default --io packet --inside a --outside b --upstream 127.0.0.1:2",
        "--io packet takes --inside / --outside (and the lb's --listen VIP), not --listen / "
        "--upstream (see --help)");
    BAD("lb --mode default --io packet --inside a --outside b",
        "--io packet lb needs --listen VIP:PORT (the address clients send to) (see --help)");
    BAD("lb --mode default --io packet --inside a --outside b --listen 127.0.0.1:0",
        "--listen: port 0 is not allowed with --io packet (the VIP's port) (see --help)");
    BAD("nat --mode default", "--listen is required (see --help)");
    BAD("ratelimit --mode default --listen 127.0.0.1:1",
        "--upstream is required for ratelimit (see --help)");
    BAD("lb --mode default --listen 127.0.0.1:1 --upstream 127.0.0.1:2",
        "the lb takes --backend (repeatable), not --upstream (see --help)");
    BAD("nat --mode proactive --listen 127.0.0.1:1 --upstream 127.0.0.1:2",
        "--tracker HOST:PORT is required in proactive mode (see --help)");
    BAD(NAT "--rate 5", "--rate, --burst and --bytes are only for the ratelimit (see --help)");
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
