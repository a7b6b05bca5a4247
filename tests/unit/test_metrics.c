/*
 * test_metrics.c: lib/metrics, a stats JSON object rendered as Prometheus
 * exposition text: names, counter vs gauge, labeled maps and their total,
 * info labels and escapes, what is left out, and the errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const gauges[] = { "held_now", "tracker.up", "processing_ns.p50", NULL };
static const struct qasm_metrics_object objects[] = {
    { "packets_dropped", NULL, "reason" },
    { "tracker", "tracker_link", NULL },
    { NULL, NULL, NULL },
};
static const struct qasm_metrics_spec spec = {
    .prefix = "qasm_mbox", .source = "qasm-mbox --stats-json", .gauges = gauges,
    .objects = objects, .version = "0.3", .commit = "abc1234",
};

static char *render(const char *json, const struct qasm_metrics_spec *s, int *rv)
{
    char *out = NULL, err[256] = "";
    size_t len = 0;
    *rv = qasm_metrics_render(json, strlen(json), s, &out, &len, err, sizeof(err));
    if (*rv == 0) {
        assert_non_null(out);
        assert_int_equal(strlen(out), len);
        return out;
    }
    out = malloc(strlen(err) + 1);
    assert_non_null(out);
    strcpy(out, err);
    return out;
}

/* |want| appears in |text| as whole lines. */
static void has_lines(const char *text, const char *want)
{
    const char *p = strstr(text, want);
    if (!p)
        fail_msg("missing:\n%s\nin:\n%s", want, text);
    assert_true(p == text || p[-1] == '\n');
    assert_true(p[strlen(want)] == '\n' || p[strlen(want)] == '\0');
}

static void test_counters_and_gauges(void **state)
{
    (void)state;
    int rv;
    char *t = render("{\"mappings_created\": 4, \"held_now\": 2, \"uptime_s\": 1.5}", &spec, &rv);
    assert_int_equal(rv, 0);
    has_lines(t, "# HELP qasm_mbox_mappings_created qasm-mbox --stats-json \"mappings_created\"\n"
                 "# TYPE qasm_mbox_mappings_created counter\n"
                 "qasm_mbox_mappings_created 4");
    has_lines(t, "# TYPE qasm_mbox_held_now gauge\nqasm_mbox_held_now 2");
    /* not listed as a gauge: a counter, its value as written */
    has_lines(t, "# TYPE qasm_mbox_uptime_s counter\nqasm_mbox_uptime_s 1.5");
    free(t);
}

static void test_map_and_total(void **state)
{
    (void)state;
    int rv;
    char *t = render("{\"packets_dropped\": {\"total\": 7, \"table_full\": 5, \"no_socket\": 2}}",
                     &spec, &rv);
    assert_int_equal(rv, 0);
    has_lines(t, "# HELP qasm_mbox_packets_dropped qasm-mbox --stats-json \"packets_dropped\" "
                 "by reason\n# TYPE qasm_mbox_packets_dropped counter\n"
                 "qasm_mbox_packets_dropped{reason=\"table_full\"} 5\n"
                 "qasm_mbox_packets_dropped{reason=\"no_socket\"} 2");
    has_lines(t, "# TYPE qasm_mbox_packets_dropped_total counter\nqasm_mbox_packets_dropped_total 7");
    /* "total" is not a reason */
    assert_null(strstr(t, "reason=\"total\""));
    free(t);
}

static void test_nested_renamed_bool(void **state)
{
    (void)state;
    int rv;
    char *t = render("{\"tracker_pushes\": 3, \"tracker\": {\"up\": true, \"pushes\": 9},"
                     " \"processing_ns\": {\"count\": 10, \"p50\": 800}}", &spec, &rv);
    assert_int_equal(rv, 0);
    has_lines(t, "qasm_mbox_tracker_pushes 3");
    has_lines(t, "# TYPE qasm_mbox_tracker_link_up gauge\nqasm_mbox_tracker_link_up 1");
    has_lines(t, "# TYPE qasm_mbox_tracker_link_pushes counter\nqasm_mbox_tracker_link_pushes 9");
    has_lines(t, "# TYPE qasm_mbox_processing_ns_count counter\nqasm_mbox_processing_ns_count 10");
    has_lines(t, "# TYPE qasm_mbox_processing_ns_p50 gauge\nqasm_mbox_processing_ns_p50 800");
    free(t);
}

static void test_info_and_build(void **state)
{
    (void)state;
    int rv;
    char *t = render("{\"function\": \"nat\", \"mode\": \"re\\\"act\\\\ive\", "
                     "\"version\": \"0.3 (abc1234)\", \"listen\": \"[::1]:5000\"}", &spec, &rv);
    assert_int_equal(rv, 0);
    has_lines(t, "# TYPE qasm_build_info gauge\n"
                 "qasm_build_info{version=\"0.3\",commit=\"abc1234\"} 1");
    has_lines(t, "# TYPE qasm_mbox_info gauge\n"
                 "qasm_mbox_info{function=\"nat\",mode=\"re\\\"act\\\\ive\",listen=\"[::1]:5000\"} 1");
    /* the version string itself is not a label of qasm_mbox_info */
    assert_null(strstr(t, "version=\"0.3 (abc1234)\""));
    free(t);
}

static void test_left_out(void **state)
{
    (void)state;
    int rv;
    char *t = render("{\"a\": null, \"entries\": [{\"x\": 1}], \"b\": {\"s\": \"str\"}, \"c\": 0}",
                     &spec, &rv);
    assert_int_equal(rv, 0);
    assert_null(strstr(t, "qasm_mbox_a"));
    assert_null(strstr(t, "entries"));
    assert_null(strstr(t, "qasm_mbox_b"));
    has_lines(t, "qasm_mbox_c 0");
    free(t);
    /* past INT64_MAX (the middlebox writes uint64): kept, as a real */
    t = render("{\"big\": 18446744073709551615, \"c\": 1}", &spec, &rv);
    assert_int_equal(rv, 0);
    has_lines(t, "qasm_mbox_big 1.84467440737096e+19");
    has_lines(t, "qasm_mbox_c 1");
    /* a name with characters outside [a-zA-Z0-9_] */
    free(t);
    t = render("{\"hold-us\": {\"2048\": 5}}", &spec, &rv);
    assert_int_equal(rv, 0);
    has_lines(t, "qasm_mbox_hold_us_2048 5");
    free(t);
}

static void test_no_build_info_and_empty(void **state)
{
    (void)state;
    struct qasm_metrics_spec s = { .prefix = "qasm_tracker", .source = "qasm-trackctl stats" };
    int rv;
    char *t = render("{}", &s, &rv);
    assert_int_equal(rv, 0);
    assert_string_equal(t, "");
    free(t);
    t = render("{\"conns\": 3}", &s, &rv);
    assert_int_equal(rv, 0);
    assert_string_equal(t, "# HELP qasm_tracker_conns qasm-trackctl stats \"conns\"\n"
                           "# TYPE qasm_tracker_conns counter\nqasm_tracker_conns 3\n");
    free(t);
}

static void test_errors(void **state)
{
    (void)state;
    int rv;
    char *t = render("[1, 2]", &spec, &rv);
    assert_int_equal(rv, -EINVAL);
    assert_non_null(strstr(t, "not a JSON object"));
    free(t);
    t = render("{\"conns\": ", &spec, &rv);
    assert_int_equal(rv, -EINVAL);
    free(t);
    /* "tracker": {"pushes"} would be qasm_mbox_tracker_pushes, as the top-level key is */
    struct qasm_metrics_spec s = spec;
    s.objects = NULL;
    t = render("{\"tracker_pushes\": 3, \"tracker\": {\"pushes\": 9}}", &s, &rv);
    assert_int_equal(rv, -EINVAL);
    assert_string_equal(t, "two values would be the metric qasm_mbox_tracker_pushes");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_gauges),
        cmocka_unit_test(test_map_and_total),
        cmocka_unit_test(test_nested_renamed_bool),
        cmocka_unit_test(test_info_and_build),
        cmocka_unit_test(test_left_out),
        cmocka_unit_test(test_no_build_info_and_empty),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
