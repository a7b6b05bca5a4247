/* Unit tests for lib/ring: FIFO order across growth and wrap-around, clear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ring.h"

static void test_ring_fifo_across_growth(void **state)
{
    (void)state;
    struct qasm_ring r;
    qasm_ring_init(&r, sizeof(uint64_t));
    uint64_t in = 0, out = 0, x;
    assert_int_equal(qasm_ring_pop(&r, &x), 0);
    /* push 3, pop 2 repeatedly: the head wraps while the ring grows */
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 3; i++)
            assert_int_equal(qasm_ring_push(&r, &(uint64_t){in++}), 0);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(qasm_ring_pop(&r, &x), 1);
            assert_int_equal(x, out++);
        }
    }
    assert_int_equal(qasm_ring_len(&r), 100);
    while (qasm_ring_pop(&r, &x))
        assert_int_equal(x, out++);
    assert_int_equal(out, in);
    assert_int_equal(qasm_ring_push(&r, &in), 0);
    qasm_ring_clear(&r);
    assert_int_equal(qasm_ring_len(&r), 0);
    assert_int_equal(qasm_ring_pop(&r, &x), 0);
    qasm_ring_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_fifo_across_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
