/* Unit tests for middleboxes/mbox_flags: the function flags of qasm-mbox and qasm-replay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mbox_flags.h"

static void test_flags_parse_into_config(void **state)
{
    (void)state;
    static struct qasm_mbox_flags f;
    struct qasm_mbox_config cfg;
    char err[256];
    memset(&f, 0, sizeof(f));
    assert_int_equal(qasm_mbox_flags_take(&f, "ports", "40000-40007", err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_take(&f, "udp-timeout", "5s", err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_take(&f, "hold", "3ms", err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_take(&f, "max-entries", "1000", err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_take(&f, "listen", "x", err, sizeof(err)), 0);
    qasm_mbox_config_init(&cfg, QASM_MBOX_NAT, QASM_MBOX_REACTIVE);
    assert_int_equal(cfg.max_entries, QASM_MBOX_DEFAULT_MAX_ENTRIES);
    assert_int_equal(cfg.fallback_per_conn, QASM_MBOX_DEFAULT_FALLBACK_PER_CONN);
    assert_int_equal(qasm_mbox_flags_take(&f, "fallback-per-conn", "0", err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_apply(&f, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.fallback_per_conn, 0);
    assert_int_equal(cfg.nat_port_min, 40000);
    assert_int_equal(cfg.nat_port_max, 40007);
    assert_true(cfg.udp_timeout == 5 * QASM_SEC);
    assert_true(cfg.hold_time == 3 * QASM_MS);
    assert_int_equal(cfg.max_entries, 1000);
}

static void test_flags_backends_and_rate(void **state)
{
    (void)state;
    static struct qasm_mbox_flags f;
    struct qasm_mbox_config cfg;
    char err[256];
    memset(&f, 0, sizeof(f));
    assert_int_equal(qasm_mbox_flags_take(&f, "backend", "127.0.0.1:1", err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_take(&f, "backend", "[::1]:2", err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_take(&f, "backend", "127.0.0.1:0", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "port 0"));
    assert_int_equal(qasm_mbox_flags_take(&f, "backend", "nohost", err, sizeof(err)), -1);
    /* a host name: its port now, the address when the program resolves f.names */
    assert_int_equal(qasm_mbox_flags_take(&f, "backend", "localhost:3", err, sizeof(err)), 1);
    assert_int_equal(f.nbackends, 3);
    assert_int_equal(f.names.n, 1);
    assert_ptr_equal(f.names.dst[0], &f.backends[2]);
    assert_int_equal(f.backends[2].port, 3);
    f.nbackends = 2;
    f.names.n = 0;
    qasm_mbox_config_init(&cfg, QASM_MBOX_LB, QASM_MBOX_DEFAULT);
    assert_int_equal(qasm_mbox_flags_apply(&f, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.lb_nbackends, 2);
    assert_int_equal(cfg.lb_backends[1].port, 2);
    /* A rate limiter flag on the lb is refused, a missing backend too. */
    assert_int_equal(qasm_mbox_flags_take(&f, "bytes", NULL, err, sizeof(err)), 1);
    assert_int_equal(qasm_mbox_flags_apply(&f, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "only for the ratelimit"));
    memset(&f, 0, sizeof(f));
    assert_int_equal(qasm_mbox_flags_apply(&f, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at least one --backend"));
}

static void test_flags_bad_values(void **state)
{
    (void)state;
    static const char *bad[][3] = {
        { "ports", "9-3", "--ports" },   { "ports", "0-5", "--ports" },
        { "rate", "-1", "--rate" },      { "burst", "abc", "--burst" },
        { "hold", "soon", "--hold" },    { "hold-max", "1e3", "--hold-max" },
        { "seed", "-4", "--seed" },      { "public", "1.2.3", "--public" },
        { "fallback-per-conn", "70000", "--fallback-per-conn" },
        { "max-entries", "many", "--max-entries" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static struct qasm_mbox_flags f;
        struct qasm_mbox_config cfg;
        char err[256] = "";
        memset(&f, 0, sizeof(f));
        assert_int_equal(qasm_mbox_flags_take(&f, bad[i][0], bad[i][1], err, sizeof(err)), 1);
        enum qasm_mbox_function fn = strcmp(bad[i][0], "rate") == 0 || strcmp(bad[i][0], "burst") == 0
                                             ? QASM_MBOX_RATELIMIT
                                             : QASM_MBOX_NAT;
        qasm_mbox_config_init(&cfg, fn, QASM_MBOX_DEFAULT);
        assert_int_equal(qasm_mbox_flags_apply(&f, &cfg, err, sizeof(err)), -1);
        assert_non_null(strstr(err, bad[i][2]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_parse_into_config),
        cmocka_unit_test(test_flags_backends_and_rate),
        cmocka_unit_test(test_flags_bad_values),
    };
    return cmocka_run_group_tests_name("mbox_flags", tests, NULL, NULL);
}
