/* Unit tests for middleboxes/mbox_bench_opts.c (qasm-mbox-bench's command line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mbox.h"
#include "middleboxes/mbox_bench_opts.h"
#include "opts_util.h"

TEST_OPTS_PARSER(qasm_mbench_opts, qasm_mbench_opts_parse, 512)

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse(""), 0);
    assert_int_equal(o.nconns, 1000000);
    assert_int_equal(o.npackets, 5000000);
    assert_int_equal(o.nmig, 100000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o.fns[i], 1);
        assert_int_equal(o.modes[i], 1);
    }
    assert_int_equal(parse("--quick"), 0);
    assert_int_equal(o.nconns, 100000);
    assert_int_equal(o.npackets, 1000000);
    assert_int_equal(o.nmig, 20000);
    assert_int_equal(parse("-c 10 -p 20 -m 30 -f lb --function nat -M reactive"), 0);
    assert_int_equal(o.nconns, 10);
    assert_int_equal(o.npackets, 20);
    assert_int_equal(o.nmig, 10); /* at most the connections */
    assert_int_equal(o.fns[QASM_MBOX_LB], 1);
    assert_int_equal(o.fns[QASM_MBOX_NAT], 1);
    assert_int_equal(o.fns[QASM_MBOX_RATELIMIT], 0);
    assert_int_equal(o.modes[QASM_MBOX_REACTIVE], 1);
    assert_int_equal(o.modes[QASM_MBOX_DEFAULT], 0);
    assert_int_equal(parse("-qc5"), 0);
    assert_int_equal(o.nconns, 5);
}

static void test_help(void **state)
{
    char buf[2048];
    (void)state;
    assert_int_equal(parse("--help"), QASM_MBENCH_HELP);
    assert_int_equal(parse("-q -h"), QASM_MBENCH_HELP);
    assert_true(qasm_mbench_usage(buf, sizeof(buf)) < (int)sizeof(buf));
    assert_non_null(strstr(buf, "the NAT at most 30000"));
}

#define BAD TEST_OPTS_BAD

static void test_bad(void **state)
{
    (void)state;
    BAD("--mode eager", -1, "unknown mode 'eager'");
    BAD("--conns 0", -1, "bad number '0'");
    BAD("--packets 100000001", -1, "bad number '100000001'");
    BAD("-m x", -1, "bad number 'x'");
    BAD("--function fw", -1, "unknown function 'fw'");
    BAD("extra", -1, "unexpected argument 'extra'");
    BAD("--bogus", QASM_MBENCH_BAD_OPTION, "prog: unrecognized option '--bogus'");
    BAD("-x", QASM_MBENCH_BAD_OPTION, "prog: invalid option -- 'x'");
    BAD("-qx", QASM_MBENCH_BAD_OPTION, "prog: invalid option -- 'x'");
    BAD("-c", QASM_MBENCH_BAD_OPTION, "prog: option requires an argument -- 'c'");
    BAD("--conns", QASM_MBENCH_BAD_OPTION, "prog: option '--conns' requires an argument");
    BAD("--quick=1", QASM_MBENCH_BAD_OPTION, "prog: option '--quick' doesn't allow an argument");
    BAD("--m 1", QASM_MBENCH_BAD_OPTION,
        "prog: option '--m' is ambiguous; possibilities: '--migrations' '--mode'");
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
