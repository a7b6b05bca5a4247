/* test_normalize_opts.c: qasm-normalize's command line (middleboxes/normalize/normalize_opts.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "middleboxes/normalize/normalize_opts.h"
#include "opts_util.h"

TEST_OPTS_PARSER(qasm_nz_opts, qasm_nz_opts_parse, 256)

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790"), 0);
    assert_string_equal(o.inside, "in0");
    assert_int_equal(o.tracker.port, 4790);
    assert_int_equal(o.mode, QASM_NZ_PROACTIVE);
    assert_int_equal(o.hold, 2 * QASM_MS);
    assert_int_equal(o.max_conns, 65536);
    assert_int_equal(o.cache_bits, 12); /* 4096 slots per CPU */
    assert_null(o.stats_json);
    assert_int_equal(o.hook, QASM_NZ_HOOK_AUTO);
    assert_false(o.bpf_stats);
}

static void test_all(void **state)
{
    (void)state;
    assert_int_equal(parse("--inside eth1 --tracker [::1]:4790 --mode reactive --hold 0 "
                           "--max-conns 1000 --idle 30 --stats-json s.json"), 0);
    assert_int_equal(o.mode, QASM_NZ_REACTIVE);
    assert_int_equal(o.hold, 0);
    assert_int_equal(o.max_conns, 1000);
    assert_true(o.idle == 30);
    assert_string_equal(o.stats_json, "s.json");
    assert_int_equal(parse("--inside in0 --tracker localhost:4790 --hold 500us"), 0);
    assert_int_equal(o.names.n, 1); /* resolved by the program */
    assert_int_equal(o.hold, 500 * QASM_US);
    assert_int_equal(parse("-h"), 0);
    assert_true(o.help);
    assert_int_equal(o.bench_ingress, QASM_NZ_BENCH_OFF);
    /* hop-bench.sh's decomposition (not in --help) */
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --bench-ingress floor"), 0);
    assert_int_equal(o.bench_ingress, QASM_NZ_BENCH_FLOOR);
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --bench-ingress parse"), 0);
    assert_int_equal(o.bench_ingress, QASM_NZ_BENCH_PARSE);
}

static void test_hook(void **state)
{
    (void)state;
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --hook tcx"), 0);
    assert_int_equal(o.hook, QASM_NZ_HOOK_TCX);
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --hook clsact --bpf-stats"), 0);
    assert_int_equal(o.hook, QASM_NZ_HOOK_CLSACT);
    assert_true(o.bpf_stats);
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --hook clsact --hook auto"), 0);
    assert_int_equal(o.hook, QASM_NZ_HOOK_AUTO);
    assert_false(o.bpf_stats);
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --hook xdp", -1,
                  "invalid value for --hook: 'xdp' (see --help)");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --hook", -1,
                  "prog: option '--hook' requires an argument");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --bench-hook tcx", -1,
                  "prog: unrecognized option '--bench-hook'");
}

static void test_flow_cache(void **state)
{
    (void)state;
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --flow-cache 0"), 0);
    assert_int_equal(o.cache_bits, 0);
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --flow-cache 16"), 0);
    assert_int_equal(o.cache_bits, 4);
    assert_int_equal(parse("--inside in0 --tracker 10.0.0.1:4790 --flow-cache 65536"), 0);
    assert_int_equal(o.cache_bits, 16);
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --flow-cache 131072", -1,
                  "--flow-cache: expected an integer in 0..65536, got '131072'");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --flow-cache 1000", -1,
                  "--flow-cache: expected 0 or a power of two from 16, got '1000'");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --flow-cache 8", -1,
                  "--flow-cache: expected 0 or a power of two from 16, got '8'");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --flow-cache -4", -1,
                  "--flow-cache: expected an integer in 0..65536, got '-4'");
}

static void test_errors(void **state)
{
    (void)state;
    TEST_OPTS_BAD("--tracker 10.0.0.1:4790", -1, "--inside IF is required (see --help)");
    TEST_OPTS_BAD("--inside in0", -1, "--tracker HOST:PORT is required (see --help)");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --mode fast", -1,
                  "invalid value for --mode: 'fast' (see --help)");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --hold 11s", -1,
                  "invalid value for --hold: '11s' (see --help)");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --max-conns 0", -1,
                  "--max-conns: expected an integer in 1..1048576, got '0'");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --idle -1", -1,
                  "invalid value for --idle: '-1' (see --help)");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 --bench-ingress all", -1,
                  "invalid value for --bench-ingress: 'all' (see --help)");
    TEST_OPTS_BAD("--inside in0 --tracker 10.0.0.1:4790 extra", -1,
                  "unexpected argument 'extra' (see --help)");
    TEST_OPTS_BAD("--inside in0 --bogus", -1, "prog: unrecognized option '--bogus'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all),
        cmocka_unit_test(test_hook),
        cmocka_unit_test(test_flow_cache),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
