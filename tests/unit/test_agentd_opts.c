/* Unit tests for agentd/agentd_opts.c (qasm-agentd's flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agentd/agentd_opts.h"
#include "opts_util.h"

static struct qasm_agentd_opts o;
static char err[256];

static int parse(const char *line)
{
    static struct test_argv a; /* o points into it */
    char **argv = test_argv_split(&a, line);
    err[0] = 0;
    return qasm_agentd_opts_parse(a.argc, argv, &o, err, sizeof(err));
}

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse("--tracker 127.0.0.1:4790 --all"), 0);
    assert_string_equal(o.tracker, "127.0.0.1:4790");
    assert_int_equal(o.all, 1);
    assert_null(o.cgroup);
    assert_null(o.stats_json);
    assert_null(o.key);
    assert_int_equal(o.idle, 30 * QASM_SEC);
    assert_int_equal(o.refresh, 10 * QASM_SEC);
    assert_int_equal(o.max_conns, 4096);
    assert_string_equal(o.log, "info");
    assert_int_equal(o.prereg, QASM_AGENTD_PREREG_OFF);
    assert_int_equal(o.bpf_stats, 0);
    assert_int_equal(parse("--tracker a:1 --all --bpf-stats"), 0);
    assert_int_equal(o.bpf_stats, 1);
    assert_int_equal(parse("--tracker a:1 --all --prereg gnutls"), 0);
    assert_int_equal(o.prereg, QASM_AGENTD_PREREG_GNUTLS);
    assert_int_equal(parse("--tracker a:1 --all --prereg gnutls --prereg off"), 0);
    assert_int_equal(o.prereg, QASM_AGENTD_PREREG_OFF);
    assert_int_equal(parse("--tracker [::1]:1 --cgroup /sys/fs/cgroup/x --stats-json s.json "
                           "--key k --idle 2s --refresh 0 --max-conns 7 --log debug"), 0);
    assert_string_equal(o.cgroup, "/sys/fs/cgroup/x");
    assert_int_equal(o.all, 0);
    assert_string_equal(o.stats_json, "s.json");
    assert_string_equal(o.key, "k");
    assert_int_equal(o.idle, 2 * QASM_SEC);
    assert_int_equal(o.refresh, 0);
    assert_int_equal(o.max_conns, 7);
    assert_string_equal(o.log, "debug");
    assert_int_equal(parse("-h"), 1);
    assert_int_equal(parse("--tracker x:1 --help"), 1);
}

static void expect_err(const char *line, const char *want)
{
    assert_int_equal(parse(line), -1);
    if (!strstr(err, want))
        fail_msg("'%s': got '%s', want '%s'", line, err, want);
    assert_non_null(strstr(err, "(see --help)"));
}

static void test_bad(void **state)
{
    (void)state;
    expect_err("--all", "--tracker HOST:PORT is required");
    expect_err("--tracker a:1", "exactly one of --cgroup PATH or --all");
    expect_err("--tracker a:1 --all --cgroup /x", "exactly one of --cgroup PATH or --all");
    expect_err("--tracker a:1 --all --idle 0", "--idle: expected a positive duration");
    expect_err("--tracker a:1 --all --idle soon", "--idle");
    expect_err("--tracker a:1 --all --refresh x", "--refresh");
    expect_err("--tracker a:1 --all --max-conns 0", "max-conns");
    expect_err("--tracker a:1 --all --log loud", "--log: expected debug");
    expect_err("--tracker a:1 --all --prereg boringssl", "--prereg: expected off or gnutls");
    expect_err("--tracker a:1 --all --bogus", "unknown option '--bogus'");
    expect_err("--tracker a:1 --all extra", "unexpected argument 'extra'");
    expect_err("--tracker", "option --tracker needs a value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
