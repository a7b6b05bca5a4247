/* Unit tests for captures/replay_opts.c (qasm-replay's command line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "captures/replay_opts.h"
#include "opts_util.h"

TEST_OPTS_PARSER(qasm_replay_opts, qasm_replay_opts_parse, 512)

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse("a.pcap --function nat --mode default"), 0);
    assert_int_equal(o.nfiles, 1);
    assert_string_equal(o.files[0], "a.pcap");
    assert_int_equal(o.rc.mbox.function, QASM_MBOX_NAT);
    assert_int_equal(o.rc.mbox.mode, QASM_MBOX_DEFAULT);
    assert_int_equal(o.rc.capture_reports, 1);
    assert_int_equal(o.json, 0);
    assert_int_equal(parse("--function lb --mode reactive --backend 127.0.0.1:1 --json "
                           "--write w --tracker-events e --no-capture-reports --trust-any "
                           "--server [::1]:4433 --tracker-rtt 2ms --pad-truncated a b"), 0);
    assert_int_equal(o.nfiles, 2);
    assert_int_equal(o.rc.mbox.function, QASM_MBOX_LB);
    assert_int_equal(o.rc.mbox.mode, QASM_MBOX_REACTIVE);
    assert_int_equal(o.fl.nbackends, 1);
    assert_int_equal(o.json, 1);
    assert_string_equal(o.write_path, "w");
    assert_string_equal(o.events_path, "e");
    assert_int_equal(o.rc.capture_reports, 0);
    assert_int_equal(o.rc.trust_any, 1);
    assert_int_equal(o.rc.nservers, 1);
    assert_int_equal(o.rc.tracker_rtt, 2 * QASM_MS);
    assert_int_equal(o.rc.pad_truncated, 1);
    /* a NAT before IPv6 servers takes ::1 */
    assert_int_equal(parse("a --function nat --mode default --server [::1]:1"), 0);
    assert_int_equal(o.rc.mbox.nat_public.family, AF_INET6);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(parse("--help"), 1);
    assert_int_equal(parse("a -h"), 1);
    assert_non_null(strstr(qasm_replay_usage(), "usage: qasm-replay FILE..."));
}

#define BAD(line, msg) TEST_OPTS_BAD(line, -1, msg)
#define OK "a --function nat --mode default "

static void test_bad(void **state)
{
    (void)state;
    BAD(OK "--server x", "--server: expected HOST:PORT or [V6]:PORT, got 'x' (see --help)");
    char line[2048] = OK;
    for (int i = 0; i <= QASM_REPLAY_MAX_SERVERS; i++)
        strcat(line, "--server 127.0.0.1:1 ");
    BAD(line, "--server: at most 64 servers (see --help)");
    BAD(OK "--tracker-rtt x",
        "--tracker-rtt: expected a duration like 2ms or 30s, got 'x' (see --help)");
    BAD(OK "--backend x", "--backend: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got 'x' "
        "(see --help)");
    BAD(OK "--bogus", "unknown option '--bogus' (see --help)");
    BAD(OK "--mode", "option --mode needs a value (see --help)");
    BAD("--function nat --mode default", "no capture file given (see --help)");
    BAD("a --mode default", "--function is required (nat, ratelimit or lb) (see --help)");
    BAD("a --function nat", "--mode is required (default, reactive or proactive) (see --help)");
    BAD("a --function fw --mode default",
        "--function: expected nat, ratelimit or lb, got 'fw' (see --help)");
    BAD("a --function nat --mode x",
        "--mode: expected default, reactive or proactive, got 'x' (see --help)");
    BAD(OK "--rate 5", "--rate, --burst and --bytes are only for the ratelimit (see --help)");
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
