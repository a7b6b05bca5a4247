/* Unit tests for lib/htab: insert/find/remove, growth, backward shift under collisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <cmocka.h>

#include "hash.h"
#include "htab.h"

struct item {
    uint64_t key;
    int removed;
};

static int item_eq(const void *entry, const void *key)
{
    return ((const struct item *)entry)->key == *(const uint64_t *)key;
}

static void test_htab_insert_find_remove(void **state)
{
    (void)state;
    struct qasm_htab *h;
    struct item items[100];
    assert_int_equal(qasm_htab_new(&h, 4, item_eq), 0);
    for (uint64_t i = 0; i < 100; i++) {
        items[i].key = i * 7919;
        assert_int_equal(qasm_htab_insert(h, qasm_hash_mix(items[i].key), &items[i]), 0);
    }
    assert_int_equal(qasm_htab_count(h), 100);
    for (uint64_t i = 0; i < 100; i++) {
        uint64_t k = i * 7919;
        assert_ptr_equal(qasm_htab_find(h, qasm_hash_mix(k), &k), &items[i]);
    }
    uint64_t absent = 3;
    assert_null(qasm_htab_find(h, qasm_hash_mix(absent), &absent));
    for (uint64_t i = 0; i < 100; i += 2) {
        uint64_t k = i * 7919;
        assert_ptr_equal(qasm_htab_remove(h, qasm_hash_mix(k), &k), &items[i]);
    }
    assert_int_equal(qasm_htab_count(h), 50);
    for (uint64_t i = 0; i < 100; i++) {
        uint64_t k = i * 7919;
        void *e = qasm_htab_find(h, qasm_hash_mix(k), &k);
        if (i % 2)
            assert_ptr_equal(e, &items[i]);
        else
            assert_null(e);
    }
    qasm_htab_del(h);
}

/* Every key hashes to the same slot: removal must keep the probe run intact. */
static void test_htab_collisions_survive_removal(void **state)
{
    (void)state;
    struct qasm_htab *h;
    struct item items[40];
    assert_int_equal(qasm_htab_new(&h, 64, item_eq), 0);
    for (uint64_t i = 0; i < 40; i++) {
        items[i].key = i;
        assert_int_equal(qasm_htab_insert(h, 42, &items[i]), 0);
    }
    for (uint64_t i = 0; i < 40; i += 3)
        assert_ptr_equal(qasm_htab_remove(h, 42, &i), &items[i]);
    for (uint64_t i = 0; i < 40; i++) {
        void *e = qasm_htab_find(h, 42, &i);
        if (i % 3 == 0)
            assert_null(e);
        else
            assert_ptr_equal(e, &items[i]);
    }
    assert_int_equal(qasm_htab_remove_ptr(h, 42, &items[1]), 0);
    assert_int_equal(qasm_htab_remove_ptr(h, 42, &items[1]), -ENOENT);
    qasm_htab_del(h);
}

/* Random churn against a shadow array; also walks the iterator. */
static void test_htab_churn_matches_shadow(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct qasm_htab *h;
    struct item *items = calloc(N, sizeof(*items));
    char *present = calloc(N, 1);
    assert_non_null(items);
    assert_int_equal(qasm_htab_new(&h, 0, item_eq), 0);
    uint64_t x = 88172645463325252ULL;
    size_t live = 0;
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t i = (size_t)(x % N);
        uint64_t k = i;
        items[i].key = k;
        if (present[i]) {
            assert_ptr_equal(qasm_htab_remove(h, qasm_hash_mix(k) & 0xffff, &k), &items[i]);
            present[i] = 0;
            live--;
        } else {
            assert_int_equal(qasm_htab_insert(h, qasm_hash_mix(k) & 0xffff, &items[i]), 0);
            present[i] = 1;
            live++;
        }
    }
    assert_int_equal(qasm_htab_count(h), live);
    size_t pos = 0, seen = 0;
    struct item *e;
    while ((e = qasm_htab_next(h, &pos)) != NULL) {
        assert_true(present[e->key]);
        seen++;
    }
    assert_int_equal(seen, live);
    assert_true(qasm_htab_memory(h) >= live * 16);
    qasm_htab_del(h);
    free(items);
    free(present);
}

/* The embedded table: inline lookups with the caller's comparison, a hash of 0,
 * colliding hashes, removal by pointer, growth from the smallest size. */
static void test_htab_raw_embedded(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct qasm_htab_raw t;
    struct item *items = calloc(N, sizeof(*items));
    assert_non_null(items);
    assert_int_equal(qasm_htab_raw_init(&t, 0), 0);
    for (uint64_t i = 0; i < N; i++) {
        items[i].key = i;
        /* hash 0 (stored as 1) and only 8 distinct hashes: long probe runs */
        assert_int_equal(qasm_htab_raw_insert(&t, i % 8, &items[i]), 0);
    }
    assert_int_equal(t.count, N);
    for (uint64_t i = 0; i < N; i++) {
        qasm_htab_raw_prefetch(&t, i % 8);
        assert_ptr_equal(qasm_htab_raw_find(&t, i % 8, &i, item_eq), &items[i]);
    }
    uint64_t absent = N + 1;
    assert_null(qasm_htab_raw_find(&t, absent % 8, &absent, item_eq));
    for (uint64_t i = 0; i < N; i += 3)
        assert_int_equal(qasm_htab_raw_remove_ptr(&t, i % 8, &items[i]), 0);
    assert_int_equal(qasm_htab_raw_remove_ptr(&t, 0, &items[0]), -ENOENT);
    for (uint64_t i = 0; i < N; i++)
        assert_ptr_equal(qasm_htab_raw_find(&t, i % 8, &i, item_eq), i % 3 ? &items[i] : NULL);
    qasm_htab_raw_fini(&t);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_htab_insert_find_remove),
        cmocka_unit_test(test_htab_collisions_survive_removal),
        cmocka_unit_test(test_htab_churn_matches_shadow),
        cmocka_unit_test(test_htab_raw_embedded),
    };
    return cmocka_run_group_tests_name("htab", tests, NULL, NULL);
}
