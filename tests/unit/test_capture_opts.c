/* Unit tests for captures/capture_opts.c (qasm-capture's flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "captures/capture_opts.h"
#include "opts_util.h"

static struct qasm_capture_opts o;
static char err[256];

static int parse(const char *line)
{
    static struct test_argv a;  /* o points into it */
    char **argv = test_argv_split(&a, line);
    err[0] = 0;
    return qasm_capture_opts_parse(a.argc, argv, &o, err, sizeof(err));
}

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse("-w out.pcap"), 0);
    assert_string_equal(o.out, "out.pcap");
    assert_string_equal(o.iface, "lo");
    assert_string_equal(o.filter, "udp");
    assert_int_equal(o.snaplen, 65535);
    assert_int_equal(o.buffer_mb, 16);
    assert_int_equal(o.count, 0);
    assert_int_equal(o.duration, 0);
    assert_int_equal(o.json, 0);
    assert_int_equal(parse("--write - -i eth0 -f tcp --duration 10s --count 5 --snaplen 64 "
                           "--buffer-mb 1024 --json"), 0);
    assert_string_equal(o.out, "-");
    assert_string_equal(o.iface, "eth0");
    assert_string_equal(o.filter, "tcp");
    assert_int_equal(o.duration, 10 * QASM_SEC);
    assert_int_equal(o.count, 5);
    assert_int_equal(o.snaplen, 64);
    assert_int_equal(o.buffer_mb, 1024);
    assert_int_equal(o.json, 1);
    assert_int_equal(parse("--interface=wlan0 --write=x"), 0);
    assert_string_equal(o.iface, "wlan0");
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(parse("--help"), 1);
    assert_int_equal(parse("-h"), 1);
    assert_int_equal(parse("-w x --bogus --help"), -1);
    assert_non_null(strstr(qasm_capture_usage(), "usage: qasm-capture -w OUT.pcap"));
}

static void test_bad(void **state)
{
    (void)state;
    assert_int_equal(parse("-w x --duration 0s"), -1);
    assert_string_equal(err, "--duration: expected a positive duration like 10s, got '0s' "
                             "(see --help)");
    assert_int_equal(parse("-w x --count 0"), -1);
    assert_string_equal(err, "--count: expected an integer in 1..18446744073709551615, got '0' "
                             "(see --help)");
    assert_int_equal(parse("-w x --snaplen 63"), -1);
    assert_string_equal(err, "--snaplen: expected an integer in 64..262144, got '63' (see --help)");
    assert_int_equal(parse("-w x --buffer-mb 1025"), -1);
    assert_string_equal(err, "--buffer-mb: expected an integer in 1..1024, got '1025' "
                             "(see --help)");
    assert_int_equal(parse("-w x --bogus"), -1);
    assert_string_equal(err, "unknown option '--bogus' (see --help)");
    assert_int_equal(parse("-w x --count"), -1);
    assert_string_equal(err, "option --count needs a value (see --help)");
    assert_int_equal(parse("-w"), -1);
    assert_string_equal(err, "option -w needs a value (see --help)");
    assert_int_equal(parse("-w x extra"), -1);
    assert_string_equal(err, "unexpected argument 'extra' (see --help)");
    assert_int_equal(parse("--json"), -1);
    assert_string_equal(err, "-w OUT.pcap is required (see --help)");
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
