/* Unit tests for migration-bench/bench/bench_opts.c (qasm-bench's command line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bench_opts.h"

static struct bench_opts o;
static char err[256];

#define PARSE(...)                                                                       \
    ({                                                                                   \
        const char *argv_[] = { "qasm-bench", __VA_ARGS__ };                             \
        bench_opts_parse((int)(sizeof(argv_) / sizeof(argv_[0])), (char **)argv_, &o, err, \
                         sizeof(err));                                                   \
    })

static void test_commands(void **state)
{
    (void)state;
    const char *none[] = { "qasm-bench" };
    assert_int_equal(bench_opts_parse(1, (char **)none, &o, err, sizeof(err)), -1);
    assert_int_equal(PARSE("--help"), 0);
    assert_int_equal(o.cmd, BENCH_OPTS_HELP);
    assert_int_equal(PARSE("-h"), 0);
    assert_int_equal(o.cmd, BENCH_OPTS_HELP);
    assert_int_equal(PARSE("list"), 0);
    assert_int_equal(o.cmd, BENCH_OPTS_LIST);
    assert_int_equal(PARSE("report", "results/x"), 0);
    assert_int_equal(o.cmd, BENCH_OPTS_REPORT);
    assert_string_equal(o.report_dir, "results/x");
    assert_int_equal(PARSE("report"), -1);
    assert_non_null(strstr(err, "one result folder"));
    /* report compares several result folders side by side. */
    assert_int_equal(PARSE("report", "a", "b"), 0);
    assert_int_equal(o.nreports, 2);
    assert_string_equal(o.report_dirs[1], "b");
    assert_int_equal(PARSE("frobnicate"), -1);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
}

static void test_run(void **state)
{
    (void)state;
    assert_int_equal(PARSE("run", "--quick", "table1", "--set", "pool=4", "nat-dos", "--out",
                           "/tmp/r", "--capture", "--set", "duration=1"), 0);
    assert_int_equal(o.cmd, BENCH_OPTS_RUN);
    assert_int_equal(o.quick, 1);
    assert_int_equal(o.capture, 1);
    assert_int_equal(o.netns, 0);
    assert_null(o.hop);
    assert_string_equal(o.out, "/tmp/r");
    assert_int_equal(o.nexps, 2);
    assert_string_equal(o.exps[0], "table1");
    assert_string_equal(o.exps[1], "nat-dos");
    assert_int_equal(o.nsets, 2);
    assert_string_equal(o.sets[0], "pool=4");
    assert_string_equal(o.sets[1], "duration=1");
    assert_int_equal(PARSE("run", "all"), 0);
    assert_string_equal(o.out, "results");
    assert_int_equal(o.quick, 0);
    assert_string_equal(o.exps[0], "all");
    assert_int_equal(o.repeat, 0);
    assert_int_equal(o.dry_run, 0);
    assert_int_equal(PARSE("run", "fig7b", "--repeat", "3", "--dry-run"), 0);
    assert_int_equal(o.repeat, 3);
    assert_int_equal(o.dry_run, 1);
    assert_int_equal(PARSE("run", "fig7b", "--repeat", "0"), -1);
    assert_non_null(strstr(err, "--repeat: expected 1 to 1000, got '0'"));
}

static void test_run_errors(void **state)
{
    (void)state;
    assert_int_equal(PARSE("run"), -1);
    assert_non_null(strstr(err, "at least one experiment"));
    assert_int_equal(PARSE("run", "--quick"), -1);
    assert_int_equal(PARSE("run", "table1", "--bogus"), -1);
    assert_non_null(strstr(err, "'--bogus'"));
    assert_int_equal(PARSE("run", "table1", "--out"), -1);
    assert_non_null(strstr(err, "incomplete option '--out'"));
    assert_int_equal(PARSE("run", "table1", "--set", "novalue"), -1);
    assert_non_null(strstr(err, "KEY=VALUE"));
    assert_int_equal(PARSE("run", "table1", "--set", "=1"), -1);
}

static void test_topology(void **state)
{
    (void)state;
    assert_int_equal(PARSE("run", "lb", "--topology", "netns"), 0);
    assert_int_equal(o.netns, 1);
    assert_null(o.hop);
    assert_int_equal(PARSE("run", "lb", "--topology", "loopback"), 0);
    assert_int_equal(o.netns, 0);
    assert_int_equal(PARSE("run", "lb", "--topology", "netns", "--hop", "kernel-nat"), 0);
    assert_string_equal(o.hop, "kernel-nat");
    assert_int_equal(PARSE("run", "lb", "--hop", "qasm", "--topology", "netns"), 0);
    assert_int_equal(PARSE("run", "lb", "--topology", "netns", "--hop", "cmd:my-nat {inside}"), 0);
    assert_string_equal(o.hop, "cmd:my-nat {inside}");
    assert_int_equal(PARSE("run", "lb", "--topology", "mesh"), -1);
    assert_non_null(strstr(err, "expected loopback or netns, got 'mesh'"));
    assert_int_equal(PARSE("run", "lb", "--hop", "qasm"), -1);
    assert_non_null(strstr(err, "--hop needs --topology netns"));
    assert_int_equal(PARSE("run", "lb", "--topology", "netns", "--hop", "cmd:"), -1);
    assert_int_equal(PARSE("run", "lb", "--topology", "netns", "--hop", "pf"), -1);
    assert_non_null(strstr(err, "got 'pf'"));
}

static void test_netns(void **state)
{
    (void)state;
    assert_int_equal(PARSE("netns", "up", "1234"), 0);
    assert_int_equal(o.cmd, BENCH_OPTS_NETNS);
    assert_int_equal(o.netns_up, 1);
    assert_string_equal(o.netns_id, "1234");
    assert_int_equal(PARSE("netns", "down", "t-1.x_2"), 0);
    assert_int_equal(o.netns_up, 0);
    assert_int_equal(PARSE("netns", "up"), -1);
    assert_int_equal(PARSE("netns", "sideways", "1"), -1);
    assert_int_equal(PARSE("netns", "up", "a;rm -rf /"), -1);
    assert_non_null(strstr(err, "ID must be"));
    assert_int_equal(PARSE("netns", "up", ""), -1);
    assert_int_equal(PARSE("netns", "up", "123456789012345678901"), -1);
    assert_int_equal(PARSE("netns", "up", "1", "2"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_run_errors),
        cmocka_unit_test(test_topology),
        cmocka_unit_test(test_netns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
