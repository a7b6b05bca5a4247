/* Unit tests for lib/pool: alignment, reuse of put objects, growth across slabs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pool.h"

static void test_pool_get_put_grow(void **state)
{
    (void)state;
    enum { N = 50 };
    struct qasm_pool p;
    void *obj[N];
    qasm_pool_init(&p, 100, 64, 8); /* 100-byte objects in 128-byte slots, 8 per slab */
    assert_int_equal(p.slot, 128);
    for (int i = 0; i < N; i++) {
        obj[i] = qasm_pool_get(&p);
        assert_non_null(obj[i]);
        assert_int_equal((uintptr_t)obj[i] % 64, 0);
        memset(obj[i], i, 100);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(obj[i], obj[j]);
    }
    assert_int_equal(p.nslabs, (N + 7) / 8);
    qasm_pool_put(&p, obj[7]);
    qasm_pool_put(&p, obj[3]);
    assert_ptr_equal(qasm_pool_get(&p), obj[3]); /* last put, first got */
    assert_ptr_equal(qasm_pool_get(&p), obj[7]);
    for (int i = 0; i < N; i++) /* objects never put kept their contents */
        if (i != 3 && i != 7)
            assert_int_equal(((unsigned char *)obj[i])[99], i);
    qasm_pool_fini(&p);
    assert_int_equal(p.nslabs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_get_put_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
