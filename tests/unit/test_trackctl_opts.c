/* Unit tests for tracker/trackctl_opts.c (qasm-trackctl's command line) and
 * qasm_parse_getopt_errf (lib/parse.c), getopt's own messages as text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tracker/trackctl_opts.h"
#include "opts_util.h"

TEST_OPTS_PARSER(qasm_trackctl_opts, qasm_trackctl_opts_parse, 1024)

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse("dump"), 0);
    assert_int_equal(o.cmd, QASM_TRACKCTL_DUMP);
    assert_int_equal(o.tracker.port, 4790);
    assert_int_equal(o.timeout, 5 * QASM_SEC);
    assert_int_equal(o.timeout_set, 0);
    assert_int_equal(o.keys.n, 0);
    assert_int_equal(parse("--tracker [::1]:5 --json --timeout 2s --key k query 0102 --server "
                           "127.0.0.1:1 --wait 100"), 0);
    assert_int_equal(o.cmd, QASM_TRACKCTL_QUERY);
    assert_string_equal(o.arg, "0102");
    assert_int_equal(o.tracker.port, 5);
    assert_int_equal(o.json, 1);
    assert_int_equal(o.timeout, 2 * QASM_SEC);
    assert_int_equal(o.timeout_set, 1);
    assert_int_equal(o.keys.n, 1);
    assert_string_equal(o.keys.path[0], "k");
    assert_int_equal(o.server.port, 1);
    assert_int_equal(o.wait_ms, 100);
    /* a host name is kept for main to resolve, with its port */
    assert_int_equal(parse("--tracker localhost:4791 dump"), 0);
    assert_int_equal(o.names.n, 1);
    assert_string_equal(o.names.flag[0], "--tracker");
    assert_string_equal(o.names.text[0], "localhost:4791");
    assert_ptr_equal(o.names.dst[0], &o.tracker);
    assert_int_equal(o.tracker.port, 4791);
    assert_int_equal(o.tracker.family, 0);
    /* --wait takes the common units; a bare number stays milliseconds */
    assert_int_equal(parse("query 0102 --wait 2s"), 0);
    assert_int_equal(o.wait_ms, 2000);
    assert_int_equal(parse("query 0102 --wait 1.5m"), 0);
    assert_int_equal(o.wait_ms, 90000);
    assert_int_equal(parse("query 0102 --wait 1h"), 0);
    assert_int_equal(o.wait_ms, 3600000);
    assert_int_equal(parse("query 0102 --wait 250ms"), 0);
    assert_int_equal(o.wait_ms, 250);
    assert_int_equal(parse("watch --count 3"), 0);
    assert_int_equal(o.cmd, QASM_TRACKCTL_WATCH);
    assert_null(o.arg);
    assert_int_equal(o.count, 3);
    assert_int_equal(parse("report --odcid 01 --scid 02 --dcid 03 --dcid 04 --dcid-seq 7 "
                           "--client 127.0.0.1:1 --client0 127.0.0.1:2 --seq 9 --close "
                           "--type addr --secret 00112233445566778899aabbccddeeff"), 0);
    assert_int_equal(o.cmd, QASM_TRACKCTL_REPORT);
    assert_int_equal(o.odcid.len, 1);
    assert_int_equal(o.scid.len, 1);
    assert_int_equal(o.ndcids, 2);
    assert_int_equal(o.dcid_seq0, 7);
    assert_int_equal(o.client.port, 1);
    assert_int_equal(o.client0.port, 2);
    assert_int_equal(o.seq, 9);
    assert_int_equal(o.seq_set, 1);
    assert_int_equal(o.close, 1);
    assert_int_equal(o.type, QASM_PROTO_REPORT_ADDR);
    assert_int_equal(o.secret_set, 1);
    assert_int_equal(o.secret[15], 0xff);
    assert_int_equal(parse("keygen f"), 0);
    assert_int_equal(o.cmd, QASM_TRACKCTL_KEYGEN);
    assert_int_equal(parse("stats"), 0);
    assert_int_equal(o.cmd, QASM_TRACKCTL_STATS);
}

static void test_help(void **state)
{
    char buf[4096];
    (void)state;
    assert_int_equal(parse("--help"), QASM_TRACKCTL_HELP);
    assert_int_equal(parse("dump -h"), QASM_TRACKCTL_HELP);
    assert_true(qasm_trackctl_usage(buf, sizeof(buf)) < (int)sizeof(buf));
    assert_non_null(strstr(buf, "default tracker 127.0.0.1:4790"));
}

#define BAD TEST_OPTS_BAD

static void test_bad(void **state)
{
    (void)state;
    BAD("--tracker x dump", -1,
        "invalid --tracker 'x' (HOST:PORT, IP:PORT or [IPv6]:PORT) (see --help)");
    BAD("--timeout 0s dump", -1, "invalid --timeout '0s' (see --help)");
    BAD("--count -1 watch", -1, "invalid --count '-1' (see --help)");
    BAD("--server x", -1, "invalid --server 'x' (see --help)");
    BAD("--wait 3600001", -1, "invalid --wait '3600001' (milliseconds, or a duration with a unit up "
        "to 1h) (see --help)");
    BAD("--odcid ''", -1, "invalid --odcid '''' (hex, 1-20 bytes) (see --help)");
    BAD("--scid xx", -1, "invalid --scid 'xx' (hex, 0-20 bytes) (see --help)");
    BAD("--dcid 0g", -1, "invalid --dcid '0g' (hex, 1-20 bytes) (see --help)");
    BAD("--dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 "
        "--dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 --dcid 01 "
        "--dcid 01", -1, "too many --dcid (at most 16) (see --help)");
    BAD("--dcid-seq x", -1, "invalid --dcid-seq 'x' (see --help)");
    BAD("--client x", -1, "invalid --client 'x' (see --help)");
    BAD("--client0 x", -1, "invalid --client0 'x' (see --help)");
    BAD("--seq 4294967296", -1, "invalid --seq '4294967296' (see --help)");
    BAD("--type x", -1, "invalid --type 'x' (see --help)");
    BAD("--secret 00", -1, "invalid --secret '00' (32 hex digits) (see --help)");
    BAD("", -1, "missing command (see --help)");
    BAD("dance", -1, "unknown command 'dance' (see --help)");
    BAD("dump x", -1, "wrong arguments for 'dump' (see --help)");
    BAD("query", -1, "wrong arguments for 'query' (see --help)");
    BAD("watch a b", -1, "wrong arguments for 'watch' (see --help)");
    BAD("keygen", -1, "wrong arguments for 'keygen' (see --help)");
    /* getopt's own words, as glibc prints them with opterr set */
    BAD("--bogus=1 dump", QASM_TRACKCTL_BAD_OPTION, "prog: unrecognized option '--bogus=1'");
    BAD("-x dump", QASM_TRACKCTL_BAD_OPTION, "prog: invalid option -- 'x'");
    BAD("--json -xh dump", QASM_TRACKCTL_BAD_OPTION, "prog: invalid option -- 'x'");
    BAD("--json=1 dump", QASM_TRACKCTL_BAD_OPTION,
        "prog: option '--json' doesn't allow an argument");
    BAD("dump --tracker", QASM_TRACKCTL_BAD_OPTION,
        "prog: option '--tracker' requires an argument");
    BAD("--cl=1 dump", QASM_TRACKCTL_BAD_OPTION,
        "prog: option '--cl=1' is ambiguous; possibilities: '--client' '--client0' '--close'");
    BAD("--ti 1s --dcid-s", QASM_TRACKCTL_BAD_OPTION,
        "prog: option '--dcid-seq' requires an argument");
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
