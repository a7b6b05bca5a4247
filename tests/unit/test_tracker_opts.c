/* Unit tests for tracker/daemon_opts.c (qasm-tracker's command line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/log.h"
#include "tracker/daemon_opts.h"
#include "opts_util.h"

TEST_OPTS_PARSER(qasm_tracker_opts, qasm_tracker_opts_parse, 1024)

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse(""), 0);
    assert_int_equal(o.nlisten, 0);
    assert_int_equal(o.max_wait, QASM_SEC);
    assert_int_equal(o.session_idle, 120 * QASM_SEC);
    assert_int_equal(o.store_timeout, 100 * QASM_MS);
    assert_int_equal(o.evict, 1);
    assert_string_equal(o.store_spec, "memory");
    assert_int_equal(o.log_level, QASM_LOG_INFO);
    assert_int_equal(qasm_tracker_opts_finish(&o, 0, err, sizeof(err)), 0);
    assert_int_equal(o.nlisten, 2); /* both loopbacks */
    assert_int_equal(o.listen[0].port, 4790);
    assert_int_equal(o.listen[0].family, AF_INET);
    assert_int_equal(o.listen[1].port, 4790);
    assert_int_equal(o.listen[1].family, AF_INET6);
    assert_int_equal(o.listen_default, 1);
    assert_int_equal(o.lim.max_memory, (size_t)1 << 30); /* phys_mem unknown: 1 GiB */
    assert_int_equal(o.cfg.max_conns, o.lim.max_conns);

    assert_int_equal(parse("--listen 127.0.0.1:0 --listen [::1]:5 --ttl 5s --close-linger 1s "
                           "--max-conns 10 --max-per-ip 2 --trust mac --key k --store-auth a "
                           "--allow 10.0.0.0/8 --max-wait 2s --max-subs 3 --max-sessions 9 "
                           "--log-level warn --store redis://127.0.0.1:6379 --store-timeout 1s "
                           "--max-memory 128M --max-per-prefix 4 --at-max-conns refuse "
                           "--max-sessions-per-ip 5 --reserved-sessions 1 --session-idle 7s"), 0);
    assert_int_equal(o.nlisten, 2);
    assert_int_equal(o.cfg.ttl, 5 * QASM_SEC);
    assert_int_equal(o.cfg.close_linger, QASM_SEC);
    assert_int_equal(o.lim.max_conns, 10);
    assert_int_equal(o.lim.max_per_ip, 2);
    assert_int_equal(o.access.trust, QASM_TRUST_MAC);
    assert_int_equal(o.files.n, 2);
    assert_string_equal(o.files.path[0], "k");
    assert_int_equal(o.files.kind[0], 'K');
    assert_string_equal(o.files.path[1], "a");
    assert_int_equal(o.files.kind[1], 'a');
    assert_int_equal(o.access.nallow, 1);
    assert_int_equal(o.max_wait, 2 * QASM_SEC);
    assert_int_equal(o.lim.max_subs, 3);
    assert_int_equal(o.lim.max_sessions, 9);
    assert_int_equal(o.log_level, QASM_LOG_WARN);
    assert_string_equal(o.store_spec, "redis://127.0.0.1:6379");
    assert_int_equal(o.store_timeout, QASM_SEC);
    assert_int_equal(o.lim.max_memory, 128 << 20);
    assert_int_equal(o.lim.max_per_prefix, 4);
    assert_int_equal(o.evict, 0);
    assert_int_equal(o.lim.max_sessions_per_ip, 5);
    assert_int_equal(o.lim.reserved_sessions, 1);
    assert_int_equal(o.session_idle, 7 * QASM_SEC);
    assert_int_equal(qasm_tracker_opts_finish(&o, 0, err, sizeof(err)), 0);
    assert_int_equal(o.cfg.evict, 0);
    assert_int_equal(parse("--store-auth a --key k"), 0);
    assert_int_equal(o.files.kind[0], 'a');
    assert_int_equal(o.files.kind[1], 'K');
    assert_int_equal(parse("--key 1 --key 2 --key 3 --key 4 --key 5 --key 6 --key 7 --key 8 "
                           "--key 9 --store-auth 10"), 0);
    assert_int_equal(o.files.n, QASM_PARSE_MAX_FILES);
    assert_string_equal(o.files.path[QASM_PARSE_MAX_FILES - 1], "10");
}

static void test_help(void **state)
{
    char buf[8192];
    (void)state;
    assert_int_equal(parse("--help"), QASM_TRACKER_HELP);
    assert_int_equal(parse("--ttl 1s -h"), QASM_TRACKER_HELP);
    assert_true(qasm_tracker_usage(buf, sizeof(buf)) < (int)sizeof(buf));
    assert_non_null(strstr(buf, "usage: qasm-tracker [options]"));
}

#define BAD TEST_OPTS_BAD
#define BADV(flag, val) BAD(flag " " val, -1, "invalid value for " flag ": '" val "' (see --help)")

static void test_bad(void **state)
{
    (void)state;
    BADV("--listen", "x");
    BADV("--ttl", "0s");
    BADV("--close-linger", "x");
    BADV("--max-conns", "-1");
    BADV("--max-per-ip", "1k");
    BADV("--trust", "all");
    BADV("--allow", "10.0.0.0/99");
    BADV("--max-wait", "x");
    BADV("--max-subs", "x");
    BADV("--max-sessions", "0");
    BADV("--log-level", "x");
    BADV("--store-timeout", "0s");
    BADV("--max-memory", "1k");
    BADV("--max-per-prefix", "x");
    BADV("--at-max-conns", "drop");
    BADV("--max-sessions-per-ip", "x");
    BADV("--reserved-sessions", "x");
    BADV("--session-idle", "x");
    BAD("--listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 "
        "--listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 --listen 127.0.0.1:1 "
        "--listen 127.0.0.1:1", -1, "at most 8 --listen");
    BAD("extra", -1, "unexpected argument 'extra' (see --help)");
    BAD("--trust mac", -1, "--trust mac needs --key FILE");
    BAD("--bogus", QASM_TRACKER_BAD_OPTION, "prog: unrecognized option '--bogus'");
    BAD("--ttl", QASM_TRACKER_BAD_OPTION, "prog: option '--ttl' requires an argument");
    BAD("--help=1", QASM_TRACKER_BAD_OPTION, "prog: option '--help' doesn't allow an argument");
    BAD("-x", QASM_TRACKER_BAD_OPTION, "prog: invalid option -- 'x'");
    assert_int_equal(parse("--reserved-sessions 5 --max-sessions 5"), 0);
    assert_int_equal(qasm_tracker_opts_finish(&o, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "--reserved-sessions must be below --max-sessions (5)");
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
