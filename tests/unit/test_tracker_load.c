/* Unit tests for migration-bench/bench/tracker_load.c's command line (qasm-tracker-bench). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tracker_load.h"

static struct tracker_load_cfg c;
static char err[256];

#define PARSE(...)                                                                        \
    ({                                                                                    \
        const char *argv_[] = { "qasm-tracker-bench", __VA_ARGS__ };                      \
        tracker_load_opts_parse((int)(sizeof(argv_) / sizeof(argv_[0])), (char **)argv_, \
                                &c, err, sizeof(err));                                    \
    })

static void test_defaults(void **state)
{
    (void)state;
    const char *none[] = { "qasm-tracker-bench" };
    assert_int_equal(tracker_load_opts_parse(1, (char **)none, &c, err, sizeof(err)), 0);
    assert_int_equal(c.conns, 100000);
    assert_int_equal(c.queries, 100000);
    assert_int_equal(c.push_samples, 5000);
    assert_int_equal(c.reps, 3);
    assert_int_equal(c.redis, 1);
    assert_null(c.tracker_bin);
    assert_null(c.json_path);
    assert_null(c.logdir);
    assert_string_equal(c.redis_server, "/usr/bin/redis-server");
}

static void test_flags(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--help"), 1);
    assert_int_equal(PARSE("--quick", "--json", "/tmp/x.json", "--no-redis"), 0);
    assert_int_equal(c.conns, 20000);
    assert_int_equal(c.queries, 30000);
    assert_int_equal(c.push_samples, 1000);
    assert_int_equal(c.reps, 1);
    assert_int_equal(c.redis, 0);
    assert_string_equal(c.json_path, "/tmp/x.json");
    assert_int_equal(PARSE("--full", "--reps", "2", "--conns", "7", "--tracker-bin", "/t",
                           "--log-dir", "/l", "--redis-benchmark", "/rb"), 0);
    assert_int_equal(c.conns, 7);
    assert_int_equal(c.queries, 200000);
    assert_int_equal(c.reps, 2);
    assert_string_equal(c.tracker_bin, "/t");
    assert_string_equal(c.logdir, "/l");
    assert_string_equal(c.redis_benchmark, "/rb");
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--reps", "10"), -1);
    assert_non_null(strstr(err, "--reps"));
    assert_int_equal(PARSE("--conns", "16000001"), -1);
    assert_int_equal(PARSE("--conns", "0"), -1);
    assert_int_equal(PARSE("--queries", "12x"), -1);
    assert_non_null(strstr(err, "'12x'"));
    assert_int_equal(PARSE("--json"), -1);
    assert_non_null(strstr(err, "missing value for '--json'"));
    assert_int_equal(PARSE("--bogus", "1"), -1);
    assert_non_null(strstr(err, "unknown option '--bogus'"));
    assert_int_equal(PARSE("extra"), -1);
    assert_non_null(strstr(err, "unexpected argument 'extra'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
