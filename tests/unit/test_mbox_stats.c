/* Unit tests for middleboxes/stats: latency histogram quantiles and the JSON stats writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "middleboxes/io/json.h"

/* |got| is within the histogram's resolution (1/16) above |want|, never below. */
static void assert_close(uint64_t got, uint64_t want)
{
    assert_true(got >= want);
    assert_true(got - want <= want / 16 + 1);
}

static void test_hist_empty_is_zero(void **state)
{
    (void)state;
    struct qasm_hist h;
    qasm_hist_init(&h);
    assert_int_equal(qasm_hist_quantile(&h, 0.5, QASM_JSON_HIST_BITS), 0);
    assert_int_equal(qasm_hist_quantile(&h, 0.99, QASM_JSON_HIST_BITS), 0);
    assert_int_equal(h.n, 0);
}

static void test_hist_small_values_are_exact(void **state)
{
    (void)state;
    struct qasm_hist h;
    qasm_hist_init(&h);
    for (uint64_t v = 0; v < 10; v++)
        qasm_hist_add(&h, v);
    assert_int_equal(qasm_hist_quantile(&h, 0.0, QASM_JSON_HIST_BITS), 0);
    assert_int_equal(qasm_hist_quantile(&h, 0.5, QASM_JSON_HIST_BITS), 4);
    assert_int_equal(qasm_hist_quantile(&h, 1.0, QASM_JSON_HIST_BITS), 9);
    assert_int_equal(h.min, 0);
    assert_int_equal(h.max, 9);
    assert_int_equal(h.sum, 45);
}

static void test_hist_quantiles_of_a_uniform_range(void **state)
{
    (void)state;
    struct qasm_hist h;
    qasm_hist_init(&h);
    for (uint64_t v = 1; v <= 10000; v++)
        qasm_hist_add(&h, v);
    assert_int_equal(h.n, 10000);
    assert_close(qasm_hist_quantile(&h, 0.5, QASM_JSON_HIST_BITS), 5000);
    assert_close(qasm_hist_quantile(&h, 0.9, QASM_JSON_HIST_BITS), 9000);
    assert_close(qasm_hist_quantile(&h, 0.99, QASM_JSON_HIST_BITS), 9900);
    /* The top quantile is clamped to the recorded max. */
    assert_int_equal(qasm_hist_quantile(&h, 1.0, QASM_JSON_HIST_BITS), 10000);
    /* Out-of-range q is clamped. */
    assert_int_equal(qasm_hist_quantile(&h, 7.0, QASM_JSON_HIST_BITS), 10000);
    assert_int_equal(qasm_hist_quantile(&h, -1.0, QASM_JSON_HIST_BITS), 1);
}

static void test_hist_large_values_keep_relative_precision(void **state)
{
    (void)state;
    struct qasm_hist h;
    uint64_t vals[] = {1000003, 123456789, 1000000000007ull, UINT64_MAX / 3};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        qasm_hist_init(&h);
        qasm_hist_add(&h, 1);
        qasm_hist_add(&h, vals[i]);
        qasm_hist_add(&h, vals[i]);
        uint64_t q = qasm_hist_quantile(&h, 0.5, QASM_JSON_HIST_BITS);
        assert_true(q >= vals[i] - vals[i] / 16);
        assert_true(q <= vals[i]); /* clamped to max */
    }
    qasm_hist_init(&h);
    qasm_hist_add(&h, UINT64_MAX);
    assert_int_equal(qasm_hist_quantile(&h, 0.5, QASM_JSON_HIST_BITS), UINT64_MAX);
}

static void test_hist_skewed_tail(void **state)
{
    (void)state;
    struct qasm_hist h;
    qasm_hist_init(&h);
    for (int i = 0; i < 990; i++)
        qasm_hist_add(&h, 60);
    for (int i = 0; i < 10; i++)
        qasm_hist_add(&h, 5000);
    assert_close(qasm_hist_quantile(&h, 0.5, QASM_JSON_HIST_BITS), 60);
    assert_close(qasm_hist_quantile(&h, 0.99, QASM_JSON_HIST_BITS), 60);
    assert_close(qasm_hist_quantile(&h, 0.995, QASM_JSON_HIST_BITS), 5000);
}

static char *slurp(FILE *f)
{
    static char buf[4096];
    rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    return buf;
}

static void test_json_writer_nesting_and_escapes(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct qasm_json j;
    qasm_json_begin(&j, f);
    qasm_json_str(&j, "s", "a\"b\\c\n");
    qasm_json_u64(&j, "u", 18446744073709551615ull);
    qasm_json_obj(&j, "o");
    qasm_json_i64(&j, "i", -5);
    qasm_json_bool(&j, "t", 1);
    qasm_json_close(&j);
    qasm_json_obj(&j, "empty");
    qasm_json_close(&j);
    qasm_json_arr(&j, "a");
    qasm_json_obj(&j, NULL);
    qasm_json_u64(&j, "k", 1);
    qasm_json_close(&j);
    qasm_json_u64(&j, NULL, 2);
    qasm_json_close(&j);
    qasm_json_arr(&j, "none");
    qasm_json_close(&j);
    qasm_json_dbl(&j, "d", 0.5);
    qasm_json_end(&j);
    fflush(f);
    const char *want = "{\n"
                       "  \"s\": \"a\\\"b\\\\c\\u000a\",\n"
                       "  \"u\": 18446744073709551615,\n"
                       "  \"o\": {\n"
                       "    \"i\": -5,\n"
                       "    \"t\": true\n"
                       "  },\n"
                       "  \"empty\": {},\n"
                       "  \"a\": [\n"
                       "    {\n"
                       "      \"k\": 1\n"
                       "    },\n"
                       "    2\n"
                       "  ],\n"
                       "  \"none\": [],\n"
                       "  \"d\": 0.5\n"
                       "}\n";
    assert_string_equal(slurp(f), want);
    fclose(f);
}

static void fill_hist(struct qasm_json *j, void *ud)
{
    qasm_json_hist(j, "h", ud);
}

/* Nothing measured: null statistics (docs/JSON.md), not a 0 that reads as instant. */
static void test_json_hist_empty_is_null(void **state)
{
    (void)state;
    struct qasm_hist h;
    qasm_hist_init(&h);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(qasm_json_to_string(fill_hist, &h, &out, &len), 0);
    assert_non_null(strstr(out, "\"count\": 0,"));
    assert_non_null(strstr(out, "\"p50\": null,"));
    assert_non_null(strstr(out, "\"max\": null"));
    assert_null(strstr(out, ": 0\n"));
    free(out);
    qasm_hist_add(&h, 300);
    assert_int_equal(qasm_json_to_string(fill_hist, &h, &out, &len), 0);
    assert_non_null(strstr(out, "\"min\": 300,"));
    assert_non_null(strstr(out, "\"max\": 300"));
    assert_null(strstr(out, "null"));
    free(out);
}

static void fill_one(struct qasm_json *j, void *ud)
{
    qasm_json_u64(j, "n", *(uint64_t *)ud);
}

static void test_stats_file_is_replaced_atomically(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_mbox_stats.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], tmp[264];
    snprintf(path, sizeof(path), "%s/s.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    uint64_t n = 1;
    assert_int_equal(qasm_json_write_file(path, fill_one, &n), 0);
    n = 2;
    assert_int_equal(qasm_json_write_file(path, fill_one, &n), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_string_equal(slurp(f), "{\n  \"n\": 2\n}\n");
    fclose(f);
    assert_int_equal(access(tmp, F_OK), -1); /* no temporary left behind */
    unlink(path);
    rmdir(dir);
    /* A directory that does not exist: an error, not a crash. */
    assert_true(qasm_json_write_file("/nonexistent-dir/x/s.json", fill_one, &n) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_empty_is_zero),
        cmocka_unit_test(test_hist_small_values_are_exact),
        cmocka_unit_test(test_hist_quantiles_of_a_uniform_range),
        cmocka_unit_test(test_hist_large_values_keep_relative_precision),
        cmocka_unit_test(test_hist_skewed_tail),
        cmocka_unit_test(test_json_writer_nesting_and_escapes),
        cmocka_unit_test(test_json_hist_empty_is_null),
        cmocka_unit_test(test_stats_file_is_replaced_atomically),
    };
    return cmocka_run_group_tests_name("mbox_stats", tests, NULL, NULL);
}
