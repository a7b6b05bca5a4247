/*
 * test_bench_ports.c: the bench's port reservations (migration-bench/bench/
 * proc.c). A port the run was already given (a middlebox's listen port,
 * not bound yet) never comes back inside a later range, and ranges do not
 * overlap each other; a range given back is free again. Uses its own lock
 * directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc.h"

static void test_given_ports_not_reused(void **state)
{
    (void)state;
    char dir[] = "/tmp/qasm-test-bench-ports.XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("QASM_PORT_LOCKDIR", dir, 1);
    enum { RANGES = 20, N = 256 };
    uint16_t single[RANGES], base[RANGES];
    for (int i = 0; i < RANGES; i++) {
        single[i] = bench_free_port();
        base[i] = bench_free_port_range("127.0.0.1", N);
        assert_int_not_equal(single[i], 0);
        assert_int_not_equal(base[i], 0);
    }
    for (int i = 0; i < RANGES; i++) {
        for (int j = 0; j < RANGES; j++) {
            /* no single port inside any range */
            assert_false(single[j] >= base[i] && single[j] < base[i] + N);
            /* ranges disjoint */
            if (i != j)
                assert_true(base[j] + N <= base[i] || base[i] + N <= base[j]);
        }
    }
    /* Given back, a range's reservations are gone (a later range may use them). */
    char lock[128];
    for (int i = 0; i < RANGES; i++)
        bench_release_ports(base[i], N);
    for (int i = 0; i < RANGES; i++) {
        snprintf(lock, sizeof(lock), "%s/%u", dir, (unsigned)base[i]);
        assert_int_not_equal(access(lock, F_OK), 0);
        snprintf(lock, sizeof(lock), "%s/%u", dir, (unsigned)single[i]);
        assert_int_equal(access(lock, F_OK), 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_given_ports_not_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
