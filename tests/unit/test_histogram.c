/* Unit tests for lib/hist: the latency histogram and percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "hist.h"

static struct qasm_hist h, h2;

static void test_empty(void **state)
{
    (void)state;
    qasm_hist_init(&h);
    assert_int_equal(qasm_hist_percentile(&h, 50), 0);
    assert_int_equal(h.n, 0);
}

static void test_exact_small_values(void **state)
{
    (void)state;
    qasm_hist_init(&h);
    for (uint64_t v = 1; v <= 50; v++)
        qasm_hist_add(&h, v);
    assert_int_equal(qasm_hist_percentile(&h, 50), 25);
    assert_int_equal(qasm_hist_percentile(&h, 90), 45);
    assert_int_equal(qasm_hist_percentile(&h, 100), 50);
    assert_int_equal(qasm_hist_percentile(&h, 0), 1);
    assert_int_equal(h.max, 50);
    assert_int_equal(h.min, 1);
}

static void test_relative_error(void **state)
{
    (void)state;
    /* 1..100000: every percentile within 3.2 % above the true value */
    qasm_hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        qasm_hist_add(&h, v);
    double ps[] = {1, 10, 50, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double truth = ps[i] / 100.0 * 100000;
        uint64_t got = qasm_hist_percentile(&h, ps[i]);
        assert_true((double)got >= truth - 1);
        assert_true((double)got <= truth * 1.032 + 1);
    }
    assert_int_equal(qasm_hist_percentile(&h, 100), 100000);
}

static void test_large_values_and_max_cap(void **state)
{
    (void)state;
    qasm_hist_init(&h);
    qasm_hist_add(&h, UINT64_MAX);
    qasm_hist_add(&h, 1000000007);
    assert_int_equal(qasm_hist_percentile(&h, 100), UINT64_MAX);
    uint64_t p50 = qasm_hist_percentile(&h, 50);
    assert_true(p50 >= 1000000007 && p50 <= 1032000000);
    qasm_hist_init(&h);
    qasm_hist_add(&h, 1000);
    assert_int_equal(qasm_hist_percentile(&h, 99), 1000);  /* capped by the exact max */
}

static void test_merge(void **state)
{
    (void)state;
    qasm_hist_init(&h);
    qasm_hist_init(&h2);
    for (uint64_t v = 1; v <= 10; v++)
        qasm_hist_add(&h, v);
    for (uint64_t v = 11; v <= 20; v++)
        qasm_hist_add(&h2, v);
    qasm_hist_merge(&h, &h2);
    assert_int_equal(h.n, 20);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 20);
    assert_int_equal(qasm_hist_percentile(&h, 50), 10);
    assert_int_equal(h.sum, 210);
}

/* The same counts read at 32 (full) and 16 buckets per power of two. */
static void test_quantile_precision(void **state)
{
    (void)state;
    qasm_hist_init(&h);
    for (int i = 0; i < 10; i++)
        qasm_hist_add(&h, 1000);
    qasm_hist_add(&h, 5000);
    assert_int_equal(qasm_hist_quantile(&h, 0.5, QASM_HIST_BITS), 1007); /* [992, 1007] */
    assert_int_equal(qasm_hist_quantile(&h, 0.5, 4), 1023);              /* [992, 1023] */
    assert_int_equal(qasm_hist_quantile(&h, 0.5, 99), 1007);             /* out of range: full */
    assert_int_equal(qasm_hist_quantile(&h, 0.0, 4), 1023);              /* the first value's bucket */
    assert_int_equal(qasm_hist_percentile(&h, 0), 1000);                 /* the exact min */
    assert_int_equal(qasm_hist_quantile(&h, 1.0, 4), 5000);              /* capped by the max */
    assert_int_equal(qasm_hist_quantile(&h, 7.0, 4), 5000);
    assert_int_equal(qasm_hist_quantile(&h, -1.0, 4), 1023);
    qasm_hist_init(&h);
    qasm_hist_add(&h, 11);
    qasm_hist_add(&h, 40);
    qasm_hist_add(&h, 40);
    qasm_hist_add(&h, 63);
    assert_int_equal(qasm_hist_quantile(&h, 0.25, 4), 11); /* below 16: exact */
    assert_int_equal(qasm_hist_quantile(&h, 0.5, 4), 41);  /* [40, 41] */
    assert_int_equal(qasm_hist_quantile(&h, 0.5, 5), 40);  /* below 64: exact */
    qasm_hist_init(&h);
    assert_int_equal(qasm_hist_quantile(&h, 0.5, 4), 0);
}

static void test_sorted_pct(void **state)
{
    (void)state;
    const uint64_t v[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    assert_int_equal(qasm_hist_sorted_pct(v, 10, 0.5), 5);  /* v[floor(4.5)] */
    assert_int_equal(qasm_hist_sorted_pct(v, 10, 0.99), 9); /* v[floor(8.91)] */
    assert_int_equal(qasm_hist_sorted_pct(v, 10, 1.0), 10);
    assert_int_equal(qasm_hist_sorted_pct(v, 10, 0.0), 1);
    assert_int_equal(qasm_hist_sorted_pct(v, 1, 0.99), 1);
    assert_int_equal(qasm_hist_sorted_pct(v, 0, 0.5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_exact_small_values),
        cmocka_unit_test(test_relative_error),
        cmocka_unit_test(test_large_values_and_max_cap),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_quantile_precision),
        cmocka_unit_test(test_sorted_pct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
