/* Unit tests for lib/parse: integers, sizes, positive reals, flag messages, option rows,
 * addresses given as host names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "addr.h"
#include "parse.h"

static void test_u64_accepts_in_range(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(qasm_parse_u64(&v, "0", 0, 10), 0);
    assert_int_equal(v, 0);
    assert_int_equal(qasm_parse_u64(&v, "10", 0, 10), 0);
    assert_int_equal(v, 10);
    assert_int_equal(qasm_parse_u64(&v, "007", 1, 10), 0);
    assert_int_equal(v, 7);
    assert_int_equal(qasm_parse_u64(&v, "18446744073709551615", 0, UINT64_MAX), 0);
    assert_true(v == UINT64_MAX);
}

static void test_u64_refuses_what_is_not_a_number(void **state)
{
    (void)state;
    static const char *bad[] = { "", "-1", "+1", " 1", "1 ", "0x10", "1.5", "1k", "abc", " -5" };
    uint64_t v = 42;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(qasm_parse_u64(&v, bad[i], 0, UINT64_MAX), -EINVAL);
    assert_int_equal(v, 42); /* untouched */
}

static void test_u64_range_and_overflow(void **state)
{
    (void)state;
    uint64_t v = 42;
    assert_int_equal(qasm_parse_u64(&v, "11", 0, 10), -ERANGE);
    assert_int_equal(qasm_parse_u64(&v, "0", 1, 10), -ERANGE);
    assert_int_equal(qasm_parse_u64(&v, "18446744073709551616", 0, UINT64_MAX), -ERANGE);
    assert_int_equal(qasm_parse_u64(&v, "99999999999999999999999", 0, UINT64_MAX), -ERANGE);
    /* Overflowing digits followed by junk is still "not a number". */
    assert_int_equal(qasm_parse_u64(&v, "99999999999999999999999x", 0, UINT64_MAX), -EINVAL);
    assert_int_equal(v, 42);
}

static void test_u64_prefix(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(qasm_parse_u64_prefix(&v, "3999 host:1", 11, 16383), 4);
    assert_int_equal(v, 3999);
    /* Only |len| characters are read: no NUL needed. */
    assert_int_equal(qasm_parse_u64_prefix(&v, "12345", 2, 100), 2);
    assert_int_equal(v, 12);
    assert_int_equal(qasm_parse_u64_prefix(&v, "16384 x", 7, 16383), -ERANGE);
    assert_int_equal(qasm_parse_u64_prefix(&v, " 1", 2, 100), -EINVAL);
    assert_int_equal(qasm_parse_u64_prefix(&v, "1", 0, 100), -EINVAL);
    assert_int_equal(qasm_parse_u64_prefix(&v, "9", 1, 5), -ERANGE);
}

static void test_size_suffixes(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(qasm_parse_size(&v, "1500", 0, UINT64_MAX), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(qasm_parse_size(&v, "64k", 0, UINT64_MAX), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(qasm_parse_size(&v, "10M", 0, UINT64_MAX), 0);
    assert_int_equal(v, 10 << 20);
    assert_int_equal(qasm_parse_size(&v, "1g", 0, UINT64_MAX), 0);
    assert_int_equal(v, 1 << 30);
    assert_int_equal(qasm_parse_size(&v, "17179869183G", 0, UINT64_MAX), 0);
    assert_true(v == (UINT64_MAX >> 30) << 30);
}

static void test_size_refuses(void **state)
{
    (void)state;
    uint64_t v = 42;
    static const char *bad[] = { "", "-1", "K", "10X", "10MB", "1 K", " 1", "1.5M" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(qasm_parse_size(&v, bad[i], 0, UINT64_MAX), -EINVAL);
    assert_int_equal(qasm_parse_size(&v, "17179869184G", 0, UINT64_MAX), -ERANGE);
    assert_int_equal(qasm_parse_size(&v, "99999999999999999999G", 0, UINT64_MAX), -ERANGE);
    assert_int_equal(qasm_parse_size(&v, "2K", 0, 2047), -ERANGE);
    assert_int_equal(qasm_parse_size(&v, "0", 1, 10), -ERANGE);
    assert_int_equal(v, 42);
}

static void test_positive(void **state)
{
    (void)state;
    double d = 0;
    assert_int_equal(qasm_parse_positive(&d, "2.5", 10), 0);
    assert_true(d == 2.5);
    assert_int_equal(qasm_parse_positive(&d, "1e3", 1e15), 0);
    assert_true(d == 1000);
    assert_int_equal(qasm_parse_positive(&d, "", 10), -EINVAL);
    assert_int_equal(qasm_parse_positive(&d, "2x", 10), -EINVAL);
    assert_int_equal(qasm_parse_positive(&d, "1e999", 1e300), -EINVAL);
    assert_int_equal(qasm_parse_positive(&d, "0", 10), -ERANGE);
    assert_int_equal(qasm_parse_positive(&d, "-1", 10), -ERANGE);
    assert_int_equal(qasm_parse_positive(&d, "nan", 10), -ERANGE);
    assert_int_equal(qasm_parse_positive(&d, "inf", 1e300), -ERANGE);
    assert_int_equal(qasm_parse_positive(&d, "11", 10), -ERANGE);
    assert_true(d == 1000);
    errno = 7;
    assert_int_equal(qasm_parse_positive(&d, "1e999", 1e300), -EINVAL);
    assert_int_equal(errno, 7); /* left as found */
}

static void test_flag_message(void **state)
{
    (void)state;
    uint64_t v = 0;
    char err[128] = "";
    assert_int_equal(qasm_parse_flag_u64(&v, "workers", "3", 1, 64, err, sizeof(err)), 0);
    assert_int_equal(v, 3);
    assert_string_equal(err, "");
    assert_int_equal(qasm_parse_flag_u64(&v, "workers", "65", 1, 64, err, sizeof(err)), -ERANGE);
    assert_string_equal(err, "--workers: expected an integer in 1..64, got '65'");
    assert_int_equal(qasm_parse_flag_u64(&v, "workers", "x", 1, 64, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "--workers: expected an integer in 1..64, got 'x'");
    char small[8];
    assert_int_equal(qasm_parse_errf(small, sizeof(small), "--%s: bad", "workers"), -1);
    assert_string_equal(small, "--worke"); /* truncated, terminated */
    assert_int_equal(qasm_parse_usagef(err, sizeof(err), "invalid --%s '%s'", "count", "x"), -1);
    assert_string_equal(err, "invalid --count 'x' (see --help)");
}

static void test_help_message(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(qasm_parse_usagef(err, sizeof(err), "--%s: expected %d", "rate", 5), -1);
    assert_string_equal(err, "--rate: expected 5 (see --help)");
    char longmsg[600];
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    char big[600];
    qasm_parse_usagef(big, sizeof(big), "%s", longmsg);
    assert_int_equal(strlen(big), 447 + strlen(" (see --help)")); /* message cut first */
    char small[8];
    qasm_parse_usagef(small, sizeof(small), "bad");
    assert_string_equal(small, "bad (se");
}

static void test_option_rows(void **state)
{
    (void)state;
    static const struct option lo[] = {
        QASM_PARSE_OPT_ARG("rate", 300),
        QASM_PARSE_OPT_FLAG("json", 'j'),
        QASM_PARSE_OPT_END,
    };
    assert_string_equal(lo[0].name, "rate");
    assert_int_equal(lo[0].has_arg, required_argument);
    assert_null(lo[0].flag);
    assert_int_equal(lo[0].val, 300);
    assert_int_equal(lo[1].has_arg, no_argument);
    assert_int_equal(lo[1].val, 'j');
    assert_null(lo[2].name);
    char a0[] = "prog", a1[] = "--rate=7", a2[] = "-j", a3[] = "--json";
    char *argv[] = { a0, a1, a2, a3, NULL };
    optind = 0;
    opterr = 0;
    assert_int_equal(getopt_long(4, argv, "j", lo, NULL), 300);
    assert_string_equal(optarg, "7");
    assert_int_equal(getopt_long(4, argv, "j", lo, NULL), 'j');
    assert_int_equal(getopt_long(4, argv, "j", lo, NULL), 'j');
    assert_int_equal(getopt_long(4, argv, "j", lo, NULL), -1);
}

static void test_addr_names(void **state)
{
    (void)state;
    struct qasm_parse_names n = { .n = 0 };
    struct qasm_addr a, b, c;
    assert_int_equal(qasm_parse_addr(&a, "127.0.0.1:5", "--x", &n), 0);
    assert_int_equal(a.port, 5);
    assert_int_equal(n.n, 0);
    assert_int_equal(qasm_parse_addr(&b, "localhost:5000", "--listen", &n), 1);
    assert_int_equal(b.port, 5000);
    assert_int_equal(b.family, 0);
    assert_int_equal(qasm_parse_addr(&c, "[tracker.example]:0", "--tracker", &n), 1);
    assert_int_equal(n.n, 2);
    assert_string_equal(n.flag[0], "--listen");
    assert_string_equal(n.text[0], "localhost:5000");
    assert_ptr_equal(n.dst[0], &b);
    assert_ptr_equal(n.dst[1], &c);
    /* neither an address nor a name */
    assert_int_equal(qasm_parse_addr(&a, "x", "--x", &n), -EINVAL);
    assert_int_equal(qasm_parse_addr(&a, "localhost", "--x", &n), -EINVAL);
    assert_int_equal(qasm_parse_addr(&a, "localhost:65536", "--x", &n), -EINVAL);
    assert_int_equal(qasm_parse_addr(&a, "local host:1", "--x", &n), -EINVAL);
    assert_int_equal(qasm_parse_addr(&a, "1.2.3:1", "--x", &n), -EINVAL);
    assert_int_equal(qasm_parse_addr(&a, "localhost:1", "--x", NULL), -EINVAL);
    assert_int_equal(n.n, 2);
    n.n = QASM_PARSE_MAX_NAMES;
    assert_int_equal(qasm_parse_addr(&a, "localhost:1", "--x", &n), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_accepts_in_range),
        cmocka_unit_test(test_u64_refuses_what_is_not_a_number),
        cmocka_unit_test(test_u64_range_and_overflow),
        cmocka_unit_test(test_u64_prefix),
        cmocka_unit_test(test_size_suffixes),
        cmocka_unit_test(test_size_refuses),
        cmocka_unit_test(test_positive),
        cmocka_unit_test(test_flag_message),
        cmocka_unit_test(test_help_message),
        cmocka_unit_test(test_option_rows),
        cmocka_unit_test(test_addr_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
