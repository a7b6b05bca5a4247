/* Unit tests for lib/degrade: a line at the start, one per interval with the count, one at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "degrade.h"

#define S QASM_SEC

static void test_degrade_start_ongoing_quiet_end(void **state)
{
    (void)state;
    struct qasm_degrade d;
    struct qasm_degrade_line l;
    qasm_degrade_init(&d, QASM_DEGRADE_ENDS_QUIET, 0);
    assert_int_equal(qasm_degrade_poll(&d, 5 * S, &l), QASM_DEGRADE_NOTHING);
    assert_int_equal(qasm_degrade_hit(&d, 1, 100 * S, &l), QASM_DEGRADE_STARTED);
    assert_int_equal(l.count, 1);
    assert_true(qasm_degrade_active(&d));
    /* 50 more within the interval: silent, counted */
    for (int i = 1; i <= 50; i++)
        assert_int_equal(qasm_degrade_hit(&d, 1, 100 * S + (uint64_t)i * 100 * QASM_MS, &l),
                         QASM_DEGRADE_NOTHING);
    assert_int_equal(qasm_degrade_poll(&d, 109 * S, &l), QASM_DEGRADE_NOTHING);
    /* the interval is over: the next hit says the 51 since the start line */
    assert_int_equal(qasm_degrade_hit(&d, 1, 110 * S, &l), QASM_DEGRADE_ONGOING);
    assert_int_equal(l.count, 51);
    assert_int_equal(l.total, 52);
    assert_int_equal(l.lasted, 10 * S);
    /* one more, then quiet: the poll says it with the pending count ... */
    assert_int_equal(qasm_degrade_hit(&d, 3, 112 * S, &l), QASM_DEGRADE_NOTHING);
    assert_int_equal(qasm_degrade_poll(&d, 120 * S, &l), QASM_DEGRADE_ONGOING);
    assert_int_equal(l.count, 3);
    /* ... and the end comes an interval after the last occurrence */
    assert_int_equal(qasm_degrade_poll(&d, 121 * S, &l), QASM_DEGRADE_NOTHING);
    assert_int_equal(qasm_degrade_poll(&d, 122 * S, &l), QASM_DEGRADE_ENDED);
    assert_int_equal(l.count, 0);
    assert_int_equal(l.total, 55);
    assert_int_equal(l.lasted, 22 * S);
    assert_false(qasm_degrade_active(&d));
    assert_int_equal(qasm_degrade_poll(&d, 200 * S, &l), QASM_DEGRADE_NOTHING);
    /* a new episode starts afresh */
    assert_int_equal(qasm_degrade_hit(&d, 2, 300 * S, &l), QASM_DEGRADE_STARTED);
    assert_int_equal(l.count, 2);
    assert_int_equal(l.total, 2);
}

static void test_degrade_lines_at_most_one_per_interval(void **state)
{
    (void)state;
    struct qasm_degrade d;
    struct qasm_degrade_line l;
    qasm_degrade_init(&d, QASM_DEGRADE_ENDS_QUIET, 2 * S);
    int lines = 0;
    uint64_t said = 0;
    /* 1000 occurrences every 10 ms for 10 s, polled every 100 ms: one line per 2 s */
    for (uint64_t t = 1; t <= 1000; t++) {
        if (qasm_degrade_hit(&d, 1, t * 10 * QASM_MS, &l) != QASM_DEGRADE_NOTHING) {
            lines++;
            said += l.count;
        }
        if (t % 10 == 0 && qasm_degrade_poll(&d, t * 10 * QASM_MS, &l) != QASM_DEGRADE_NOTHING) {
            lines++;
            said += l.count;
        }
    }
    assert_int_equal(lines, 5); /* at 0.01 s, 2.01, 4.01, 6.01, 8.01 */
    assert_int_equal(qasm_degrade_poll(&d, 20 * S, &l), QASM_DEGRADE_ENDED);
    said += l.count;
    assert_int_equal(said, 1000); /* every occurrence is in exactly one line */
    assert_int_equal(l.total, 1000);
}

static void test_degrade_ends_by_caller(void **state)
{
    (void)state;
    struct qasm_degrade d;
    struct qasm_degrade_line l;
    qasm_degrade_init(&d, QASM_DEGRADE_ENDS_CALLER, 0);
    assert_int_equal(qasm_degrade_end(&d, 1 * S, &l), QASM_DEGRADE_NOTHING);
    assert_int_equal(qasm_degrade_hit(&d, 1, 10 * S, &l), QASM_DEGRADE_STARTED);
    /* a state does not end on quiet */
    assert_int_equal(qasm_degrade_poll(&d, 100 * S, &l), QASM_DEGRADE_NOTHING);
    assert_true(qasm_degrade_active(&d));
    assert_int_equal(qasm_degrade_hit(&d, 1, 101 * S, &l), QASM_DEGRADE_ONGOING);
    assert_int_equal(l.count, 1);
    assert_int_equal(qasm_degrade_hit(&d, 1, 102 * S, &l), QASM_DEGRADE_NOTHING);
    assert_int_equal(qasm_degrade_end(&d, 105 * S, &l), QASM_DEGRADE_ENDED);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.total, 3);
    assert_int_equal(l.lasted, 95 * S);
    assert_int_equal(qasm_degrade_end(&d, 106 * S, &l), QASM_DEGRADE_NOTHING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_degrade_start_ongoing_quiet_end),
        cmocka_unit_test(test_degrade_lines_at_most_one_per_interval),
        cmocka_unit_test(test_degrade_ends_by_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
