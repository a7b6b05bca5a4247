/*
 * Unit tests for middleboxes/io/xdp_slots: the slot allocator of the XDP
 * `entries` array: find / hand out / free, the generation on every change
 * (never 0), freed slots reused oldest first, the bound, the high-water mark.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "middleboxes/io/xdp_slots.h"

static struct qasm_xdp_ekey key(uint32_t i)
{
    struct qasm_xdp_ekey k;
    memset(&k, 0, sizeof(k));
    k.kind = QASM_XDP_E_CONN;
    k.len = 8;
    memcpy(k.data, &i, sizeof(i));
    return k;
}

static void test_slots_alloc_find_free(void **state)
{
    (void)state;
    struct qasm_xdp_slots *s;
    assert_int_equal(qasm_xdp_slots_new(&s, 3, 42), 0);
    struct qasm_xdp_ekey a = key(1), b = key(2), c = key(3), d = key(4);
    struct qasm_xdp_ref ra, rb, rc, rd, got;
    assert_int_equal(qasm_xdp_slots_find(s, &a, &got), 0);
    assert_int_equal(qasm_xdp_slots_alloc(s, &a, &ra), 0);
    assert_int_equal(qasm_xdp_slots_alloc(s, &b, &rb), 0);
    assert_int_equal(qasm_xdp_slots_alloc(s, &c, &rc), 0);
    assert_int_equal(ra.slot, 0);
    assert_int_equal(rb.slot, 1);
    assert_int_equal(rc.slot, 2);
    assert_int_not_equal(ra.gen, 0);
    assert_int_equal(qasm_xdp_slots_alloc(s, &d, &rd), -ENOSPC); /* the bound */
    assert_int_equal(qasm_xdp_slots_find(s, &b, &got), 1);
    assert_int_equal(got.slot, rb.slot);
    assert_int_equal(got.gen, rb.gen);
    assert_true(qasm_xdp_slots_live(s, &rb));
    assert_memory_equal(qasm_xdp_slots_key(s, rb.slot), &b, sizeof(b));
    assert_int_equal(qasm_xdp_slots_count(s), 3);
    assert_int_equal(qasm_xdp_slots_high(s), 3);
    /* Freed: a new generation, not live, no key. */
    struct qasm_xdp_ref fb, fa;
    assert_int_equal(qasm_xdp_slots_free(s, &b, &fb), 0);
    assert_int_equal(fb.slot, rb.slot);
    assert_int_not_equal(fb.gen, rb.gen);
    assert_false(qasm_xdp_slots_live(s, &rb));
    assert_false(qasm_xdp_slots_live(s, &fb));
    assert_null(qasm_xdp_slots_key(s, rb.slot));
    assert_int_equal(qasm_xdp_slots_find(s, &b, &got), 0);
    assert_int_equal(qasm_xdp_slots_free(s, &b, &fb), -ENOENT);
    assert_int_equal(qasm_xdp_slots_free(s, &a, &fa), 0);
    /* Reused oldest freed first (b's, then a's), each with a generation of its own. */
    assert_int_equal(qasm_xdp_slots_alloc(s, &d, &rd), 0);
    assert_int_equal(rd.slot, rb.slot);
    assert_int_not_equal(rd.gen, rb.gen);
    assert_int_not_equal(rd.gen, fb.gen);
    assert_false(qasm_xdp_slots_live(s, &rb));
    assert_true(qasm_xdp_slots_live(s, &rd));
    assert_int_equal(qasm_xdp_slots_alloc(s, &b, &got), 0);
    assert_int_equal(got.slot, ra.slot);
    assert_int_equal(qasm_xdp_slots_high(s), 3);
    assert_true(qasm_xdp_slots_memory(s) > 3 * sizeof(struct qasm_xdp_ekey));
    qasm_xdp_slots_del(s);
}

/* Many entries through few slots: the generation moves on every change and never is 0. */
static void test_slots_churn(void **state)
{
    (void)state;
    struct qasm_xdp_slots *s;
    assert_int_equal(qasm_xdp_slots_new(&s, 4, 7), 0);
    uint32_t last[4] = {0};
    for (uint32_t i = 0; i < 10000; i++) {
        struct qasm_xdp_ekey k = key(i);
        struct qasm_xdp_ref r, f;
        assert_int_equal(qasm_xdp_slots_alloc(s, &k, &r), 0);
        assert_true(r.slot < 4);
        assert_int_not_equal(r.gen, 0);
        assert_int_not_equal(r.gen, last[r.slot]);
        assert_int_equal(qasm_xdp_slots_free(s, &k, &f), 0);
        assert_int_not_equal(f.gen, 0);
        assert_int_not_equal(f.gen, r.gen);
        last[r.slot] = f.gen;
    }
    assert_int_equal(qasm_xdp_slots_count(s), 0);
    assert_true(qasm_xdp_slots_high(s) <= 1); /* one in use at a time: one slot ever */
    struct qasm_xdp_slots *z;
    assert_int_equal(qasm_xdp_slots_new(&z, 0, 7), -EINVAL);
    assert_null(z);
    qasm_xdp_slots_del(s);
    qasm_xdp_slots_del(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_alloc_find_free),
        cmocka_unit_test(test_slots_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
