/*
 * test_budget.c: the tracker's bounds derived from its memory budget
 * (tracker/core/budget.h): shares, clamps, explicit flags kept, session
 * admission (per IP, room kept for authenticated sessions), backlog
 * thresholds, rate-limited logging.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "budget.h"

#define MiB ((size_t)1 << 20)

static void test_default_budget_is_a_quarter_of_ram(void **state)
{
    (void)state;
    struct qasm_budget l;
    qasm_budget_init(&l);
    assert_int_equal(qasm_budget_derive(&l, (uint64_t)16 << 30), 0);
    assert_int_equal(l.max_memory, (size_t)4 << 30);
    /* A big budget keeps the historical caps. */
    assert_int_equal(l.max_conns, 1000000);
    assert_int_equal(l.max_per_ip, 1024);
    assert_int_equal(l.max_per_prefix, 1000000 / 16);
    /* 1 GiB for sessions of 1 MiB output and 65 KiB else: 962 sessions. */
    assert_int_equal(l.max_sessions, 962);
    assert_int_equal(l.max_sessions_per_ip, 60);
    assert_int_equal(l.reserved_sessions, 240);
    assert_int_equal(l.out_cap, (1024 * MiB) / 962 - QASM_BUDGET_SESSION_COST);
    /* 32 GiB of RAM: 1024 sessions, each up to 2 MiB of output. */
    qasm_budget_init(&l);
    assert_int_equal(qasm_budget_derive(&l, (uint64_t)32 << 30), 0);
    assert_int_equal(l.max_sessions, 1024);
    assert_int_equal(l.max_sessions_per_ip, 64);
    assert_int_equal(l.out_cap, 2 * MiB - QASM_BUDGET_SESSION_COST);
    assert_int_equal(l.max_subs, 1000000);
    /* No RAM figure: 1 GiB; a tiny machine: 64 MiB. */
    qasm_budget_init(&l);
    assert_int_equal(qasm_budget_derive(&l, 0), 0);
    assert_int_equal(l.max_memory, (size_t)1 << 30);
    qasm_budget_init(&l);
    assert_int_equal(qasm_budget_derive(&l, 128 * MiB), 0);
    assert_int_equal(l.max_memory, 64 * MiB);
}

/* Everything stays within its share of the budget. */
static void test_shares_fit_the_budget(void **state)
{
    (void)state;
    size_t budgets[] = { 32 * MiB, 64 * MiB, 256 * MiB, 1024 * MiB, 8192 * MiB };
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        struct qasm_budget l;
        qasm_budget_init(&l);
        l.max_memory = budgets[i];
        assert_int_equal(qasm_budget_derive(&l, 0), 0);
        assert_true(l.out_cap >= QASM_BUDGET_OUT_MIN && l.out_cap <= QASM_BUDGET_OUT_MAX);
        assert_true(l.max_sessions >= 16 && l.max_sessions <= 1024);
        assert_true(l.max_subs_total * QASM_BUDGET_SUB_COST <= budgets[i] / 4);
        assert_true(l.max_subs <= l.max_subs_total);
        assert_true(l.max_conns * QASM_BUDGET_CONN_COST <= budgets[i] / 2 ||
                    l.max_conns == 1024);
        if (budgets[i] >= 256 * MiB) /* above the 16-session floor */
            assert_true(l.max_sessions * (l.out_cap + QASM_BUDGET_SESSION_COST) <=
                        budgets[i] / 4 + l.max_sessions);
        assert_true(l.max_per_prefix >= l.max_per_ip);
        assert_true(l.max_per_prefix < l.max_conns);
        assert_true(l.max_per_prefix > 0);
        assert_true(l.reserved_sessions < l.max_sessions);
    }
}

static void test_explicit_values_win_and_small_budget_fails(void **state)
{
    (void)state;
    struct qasm_budget l;
    qasm_budget_init(&l);
    l.max_memory = 64 * MiB;
    l.max_sessions = 8;
    l.max_conns = 0; /* 0 = no cap, kept */
    l.max_subs = 5;
    assert_int_equal(qasm_budget_derive(&l, 0), 0);
    assert_int_equal(l.max_sessions, 8);
    assert_int_equal(l.max_conns, 0);
    assert_int_equal(l.max_per_prefix, 16 * 1024); /* no global cap: 16 IPs' worth */
    assert_int_equal(l.max_subs, 5);
    assert_int_equal(l.max_sessions_per_ip, 4);
    assert_int_equal(l.reserved_sessions, 2);
    assert_int_equal(l.out_cap, 2 * MiB - QASM_BUDGET_SESSION_COST); /* 16 MiB / 8 */
    qasm_budget_init(&l);
    l.max_memory = 16 * MiB;
    assert_int_equal(qasm_budget_derive(&l, 0), -EINVAL);
}

/* A small explicit global cap: the prefix cap does not undercut 16 IPs; none if not below the global one. */
static void test_prefix_cap_follows_explicit_caps(void **state)
{
    (void)state;
    struct qasm_budget l;
    qasm_budget_init(&l);
    l.max_memory = 64 * MiB;
    l.max_conns = 5;
    l.max_per_ip = 3;
    assert_int_equal(qasm_budget_derive(&l, 0), 0);
    assert_int_equal(l.max_per_prefix, 0); /* none: the global cap is tighter */
    qasm_budget_init(&l);
    l.max_memory = 64 * MiB;
    l.max_conns = 100000;
    l.max_per_ip = 100;
    assert_int_equal(qasm_budget_derive(&l, 0), 0);
    assert_int_equal(l.max_per_prefix, 6250);
    /* No per-IP cap (a benchmark reporting for others): no prefix cap either. */
    qasm_budget_init(&l);
    l.max_memory = 64 * MiB;
    l.max_conns = 2001000;
    l.max_per_ip = 0;
    assert_int_equal(qasm_budget_derive(&l, 0), 0);
    assert_int_equal(l.max_per_prefix, 0);
}

static void test_admission(void **state)
{
    (void)state;
    struct qasm_budget l;
    qasm_budget_init(&l);
    l.max_memory = 64 * MiB;
    l.max_sessions = 8;
    l.max_sessions_per_ip = 3;
    l.reserved_sessions = 2;
    assert_int_equal(qasm_budget_derive(&l, 0), 0);
    assert_int_equal(qasm_budget_admit(&l, 0, 0, 0), QASM_ADMIT_OK);
    assert_int_equal(qasm_budget_admit(&l, 5, 2, 0), QASM_ADMIT_OK);
    assert_int_equal(qasm_budget_admit(&l, 5, 3, 0), QASM_ADMIT_PER_IP);
    /* Full of authenticated sessions: refused. */
    assert_int_equal(qasm_budget_admit(&l, 8, 0, 0), QASM_ADMIT_FULL);
    /* Unauthenticated sessions hold at most 8 - 2: beyond, the oldest goes. */
    assert_int_equal(qasm_budget_admit(&l, 5, 0, 5), QASM_ADMIT_OK);
    assert_int_equal(qasm_budget_admit(&l, 6, 0, 6), QASM_ADMIT_EVICT_UNAUTH);
    /* Full with one unauthenticated: it makes room. */
    assert_int_equal(qasm_budget_admit(&l, 8, 0, 1), QASM_ADMIT_EVICT_UNAUTH);
    /* The per-IP cap first; 0 = none. */
    assert_int_equal(qasm_budget_admit(&l, 8, 3, 1), QASM_ADMIT_PER_IP);
    l.max_sessions_per_ip = 0;
    assert_int_equal(qasm_budget_admit(&l, 7, 100, 0), QASM_ADMIT_OK);
}

static void test_backlog_thresholds(void **state)
{
    (void)state;
    struct qasm_budget l;
    qasm_budget_init(&l);
    l.max_memory = 64 * MiB;
    l.out_cap = 2 * MiB;
    assert_int_equal(qasm_budget_derive(&l, 0), 0);
    assert_false(qasm_budget_backed_up(0));
    assert_false(qasm_budget_backed_up(QASM_BUDGET_OUT_LOW));
    assert_true(qasm_budget_backed_up(QASM_BUDGET_OUT_LOW + 1));
    assert_false(qasm_budget_over_cap(&l, 2 * MiB - 100, 100));
    assert_true(qasm_budget_over_cap(&l, 2 * MiB - 100, 101));
}

static void test_ratelog(void **state)
{
    (void)state;
    struct qasm_ratelog r = { 0, 0 };
    uint64_t quiet = 99;
    assert_int_equal(qasm_ratelog_due(&r, 5 * QASM_SEC, &quiet), 1);
    assert_int_equal(quiet, 0);
    assert_int_equal(qasm_ratelog_due(&r, 5 * QASM_SEC + 1, &quiet), 0);
    assert_int_equal(qasm_ratelog_due(&r, 5 * QASM_SEC + 999 * QASM_MS, &quiet), 0);
    assert_int_equal(qasm_ratelog_due(&r, 6 * QASM_SEC, &quiet), 1);
    assert_int_equal(quiet, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_budget_is_a_quarter_of_ram),
        cmocka_unit_test(test_shares_fit_the_budget),
        cmocka_unit_test(test_explicit_values_win_and_small_budget_fails),
        cmocka_unit_test(test_prefix_cap_follows_explicit_caps),
        cmocka_unit_test(test_admission),
        cmocka_unit_test(test_backlog_thresholds),
        cmocka_unit_test(test_ratelog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
