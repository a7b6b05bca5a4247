/* Unit tests for migration-bench/migrate.c: the migration scheduler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "migration-bench/migrate.h"

#define T0 ((qasm_tstamp)1000 * QASM_SEC)

static void test_period_fires_on_grid(void **state)
{
    struct qasm_migsched s;
    (void)state;
    qasm_migsched_init(&s, QASM_MIG_PERIOD, QASM_MS, 0, 2, T0);
    assert_int_equal(qasm_migsched_due(&s, T0), 0);
    assert_int_equal(qasm_migsched_due(&s, T0 + QASM_MS - 1), 0);
    assert_int_equal(qasm_migsched_next(&s, T0), T0 + QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + QASM_MS), 1);
    qasm_migsched_done(&s, 1, T0 + QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + QASM_MS + 10), 0);
    /* late tick: the grid does not drift */
    assert_int_equal(qasm_migsched_next(&s, T0 + QASM_MS), T0 + 2 * QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + 2 * QASM_MS + 900 * QASM_US), 1);
    qasm_migsched_done(&s, 1, T0 + 2 * QASM_MS + 900 * QASM_US);
    assert_int_equal(qasm_migsched_next(&s, T0 + 2 * QASM_MS + 900 * QASM_US), T0 + 3 * QASM_MS);
    assert_int_equal(s.ok, 2);
    assert_int_equal(s.attempted, 2);
}

static void test_period_1000hz_count(void **state)
{
    struct qasm_migsched s;
    (void)state;
    qasm_migsched_init(&s, QASM_MIG_PERIOD, QASM_MS, 0, 2, T0);
    /* drive with the scheduler's own wake-up times for 10 s */
    qasm_tstamp now = T0;
    while (now < T0 + 10 * QASM_SEC) {
        now = qasm_migsched_next(&s, now);
        if (now > T0 + 10 * QASM_SEC)
            break;
        while (qasm_migsched_due(&s, now))
            qasm_migsched_done(&s, 1, now);
    }
    assert_int_equal(s.ok, 10000);
    assert_int_equal(s.skipped, 0);
}

static void test_backlog_capped_and_skipped(void **state)
{
    struct qasm_migsched s;
    (void)state;
    qasm_migsched_init(&s, QASM_MIG_PERIOD, QASM_MS, 0, 2, T0);
    /* 10 slots pass at once: 2 kept pending, 8 skipped */
    assert_int_equal(qasm_migsched_due(&s, T0 + 10 * QASM_MS), 1);
    assert_int_equal(s.pending, 2);
    assert_int_equal(s.skipped, 8);
    qasm_migsched_done(&s, 1, T0 + 10 * QASM_MS);
    assert_int_equal(qasm_migsched_next(&s, T0 + 10 * QASM_MS), T0 + 10 * QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + 10 * QASM_MS), 1);
    qasm_migsched_done(&s, 1, T0 + 10 * QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + 10 * QASM_MS), 0);
}

static void test_failure_retried_next_tick(void **state)
{
    struct qasm_migsched s;
    (void)state;
    qasm_migsched_init(&s, QASM_MIG_PERIOD, QASM_MS, 0, 2, T0);
    assert_int_equal(qasm_migsched_due(&s, T0 + QASM_MS), 1);
    qasm_migsched_done(&s, 0, T0 + QASM_MS);   /* e.g. CONN_ID_BLOCKED */
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.pending, 1);
    /* held until the next slot, no busy retry */
    assert_int_equal(qasm_migsched_due(&s, T0 + QASM_MS + 500 * QASM_US), 0);
    assert_int_equal(qasm_migsched_next(&s, T0 + QASM_MS + 500 * QASM_US), T0 + 2 * QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + 2 * QASM_MS), 1);
    assert_int_equal(s.pending, 2);
    qasm_migsched_done(&s, 1, T0 + 2 * QASM_MS);
    qasm_migsched_done(&s, 1, T0 + 2 * QASM_MS);
    assert_int_equal(s.ok, 2);
    assert_int_equal(s.attempted, 3);
    assert_int_equal(s.pending, 0);
}

/* A due migration put off (its path not ready): not an attempt, retried at the time given. */
static void test_defer(void **state)
{
    struct qasm_migsched s;
    (void)state;
    qasm_migsched_init(&s, QASM_MIG_PERIOD, 10 * QASM_MS, 0, 8, T0);
    assert_int_equal(qasm_migsched_due(&s, T0 + 10 * QASM_MS), 1);
    qasm_migsched_defer(&s, T0 + 13 * QASM_MS);
    assert_int_equal(s.deferred, 1);
    assert_int_equal(s.attempted, 0);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.pending, 1);
    assert_int_equal(qasm_migsched_due(&s, T0 + 12 * QASM_MS), 0);
    assert_int_equal(qasm_migsched_next(&s, T0 + 12 * QASM_MS), T0 + 13 * QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + 13 * QASM_MS), 1);
    qasm_migsched_done(&s, 1, T0 + 13 * QASM_MS);
    assert_int_equal(s.pending, 0);
    /* Put off past the next slot: that slot's migration waits too (next = the deferral's end). */
    assert_int_equal(qasm_migsched_due(&s, T0 + 20 * QASM_MS), 1);
    qasm_migsched_defer(&s, T0 + 35 * QASM_MS);
    assert_int_equal(qasm_migsched_next(&s, T0 + 21 * QASM_MS), T0 + 30 * QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + 30 * QASM_MS), 0);
    assert_int_equal(s.pending, 2);
    assert_int_equal(qasm_migsched_next(&s, T0 + 30 * QASM_MS), T0 + 35 * QASM_MS);
    assert_int_equal(qasm_migsched_due(&s, T0 + 35 * QASM_MS), 1);
}

static void test_packets_mode(void **state)
{
    struct qasm_migsched s;
    (void)state;
    qasm_migsched_init(&s, QASM_MIG_PACKETS, 0, 10, 1, T0);
    for (int i = 0; i < 9; i++)
        qasm_migsched_on_packet(&s);
    assert_int_equal(qasm_migsched_due(&s, T0), 0);
    assert_int_equal(qasm_migsched_next(&s, T0), QASM_TSTAMP_MAX);
    qasm_migsched_on_packet(&s);
    assert_int_equal(qasm_migsched_due(&s, T0), 1);
    qasm_migsched_done(&s, 0, T0);
    assert_int_equal(qasm_migsched_due(&s, T0), 0);  /* held until a packet */
    qasm_migsched_on_packet(&s);
    assert_int_equal(qasm_migsched_due(&s, T0), 1);
    qasm_migsched_done(&s, 1, T0);
    assert_int_equal(s.ok, 1);
    assert_int_equal(s.failed, 1);
}

static void test_none_never_fires(void **state)
{
    struct qasm_migsched s;
    (void)state;
    qasm_migsched_init(&s, QASM_MIG_NONE, QASM_MS, 0, 2, T0);
    assert_int_equal(qasm_migsched_due(&s, T0 + QASM_SEC), 0);
    qasm_migsched_init(&s, QASM_MIG_PERIOD, 0, 0, 2, T0);  /* period 0 = off */
    assert_int_equal(qasm_migsched_due(&s, T0 + QASM_SEC), 0);
    assert_int_equal(qasm_migsched_next(&s, T0), QASM_TSTAMP_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_period_fires_on_grid),
        cmocka_unit_test(test_period_1000hz_count),
        cmocka_unit_test(test_backlog_capped_and_skipped),
        cmocka_unit_test(test_failure_retried_next_tick),
        cmocka_unit_test(test_defer),
        cmocka_unit_test(test_packets_mode),
        cmocka_unit_test(test_none_never_fires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
