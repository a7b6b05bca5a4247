/*
 * test_slots.c: Redis Cluster slot routing (tracker/core/slots.h): CRC16,
 * hash tags, MOVED/ASK parsing, the slot map.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "slots.h"

static unsigned slot_of(const char *k)
{
    return qasm_slot_key(k, strlen(k));
}

static void test_crc16(void **state)
{
    (void)state;
    /* The reference check value of CRC16-XMODEM (Redis cluster spec). */
    assert_int_equal(qasm_slot_crc16("123456789", 9), 0x31c3);
    assert_int_equal(qasm_slot_crc16("", 0), 0);
}

static void test_key_slots(void **state)
{
    (void)state;
    /* Values given by CLUSTER KEYSLOT on redis-server 7.0. */
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of("123456789"), 0x31c3 & 16383);
    /* Hash tags: only what is inside the first {...} counts. */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_equal(slot_of("qc:{0102}:1.2.3.4:5"), slot_of("qs:{0102}:[::1]:7"));
    /* Empty tag: the whole key. */
    assert_int_equal(slot_of("foo{}{bar}"), qasm_slot_crc16("foo{}{bar}", 10) & 16383);
    /* The first '{' opens, the first '}' after it closes. */
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* No closing brace: the whole key. */
    assert_int_equal(slot_of("foo{bar"), qasm_slot_crc16("foo{bar", 7) & 16383);
    for (unsigned i = 0; i < 1000; i++) {
        char k[32];
        int n = snprintf(k, sizeof(k), "key:%u", i);
        assert_true(qasm_slot_key(k, (size_t)n) < QASM_SLOTS);
    }
}

static int redirect(struct qasm_slot_redirect *r, const char *s)
{
    return qasm_slot_redirect(r, s, strlen(s));
}

static void test_redirect(void **state)
{
    (void)state;
    struct qasm_slot_redirect r;
    assert_int_equal(redirect(&r, "MOVED 3999 127.0.0.1:6381"), 0);
    assert_int_equal(r.kind, QASM_SLOT_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);
    assert_int_equal(redirect(&r, "ASK 16383 ::1:7000"), 0);
    assert_int_equal(r.kind, QASM_SLOT_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7000);
    assert_int_equal(redirect(&r, "MOVED 0 [fe80::1]:1"), 0);
    assert_string_equal(r.host, "fe80::1");
    assert_int_equal(r.port, 1);
    /* Other errors. */
    assert_int_equal(redirect(&r, "ERR unknown command"), -ENOENT);
    assert_int_equal(redirect(&r, "MOVEDX 1 a:1"), -ENOENT);
    assert_int_equal(redirect(&r, ""), -ENOENT);
    /* Malformed redirections. */
    assert_int_equal(redirect(&r, "MOVED 16384 127.0.0.1:6381"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED x 127.0.0.1:6381"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED 12 127.0.0.1"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED 12 127.0.0.1:"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED 12 127.0.0.1:0"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED 12 127.0.0.1:65536"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED 12 127.0.0.1:12x"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED 12 :6379"), -EINVAL);
    assert_int_equal(redirect(&r, "MOVED 12"), -EINVAL);
    assert_int_equal(redirect(&r, "ASK 12  a:1"), -EINVAL);
    char longhost[200];
    memset(longhost, 'a', sizeof(longhost));
    memcpy(longhost, "MOVED 1 ", 8);
    memcpy(longhost + sizeof(longhost) - 3, ":1", 2);
    longhost[sizeof(longhost) - 1] = '\0';
    assert_int_equal(redirect(&r, longhost), -EINVAL);
}

static void test_slotmap(void **state)
{
    (void)state;
    static struct qasm_slotmap m;
    qasm_slotmap_clear(&m);
    assert_int_equal(qasm_slotmap_get(&m, 0), QASM_SLOT_NONE);
    assert_false(qasm_slotmap_covered(&m));
    assert_int_equal(qasm_slotmap_set(&m, 0, 5460, 0), 0);
    assert_int_equal(qasm_slotmap_set(&m, 5461, 10922, 1), 0);
    assert_false(qasm_slotmap_covered(&m));
    assert_int_equal(qasm_slotmap_set(&m, 10923, 16383, 2), 0);
    assert_true(qasm_slotmap_covered(&m));
    assert_int_equal(qasm_slotmap_get(&m, 5460), 0);
    assert_int_equal(qasm_slotmap_get(&m, 5461), 1);
    assert_int_equal(qasm_slotmap_get(&m, 16383), 2);
    assert_int_equal(qasm_slotmap_get(&m, 16384), QASM_SLOT_NONE);
    /* A MOVED moves one slot. */
    assert_int_equal(qasm_slotmap_set(&m, 7, 7, 2), 0);
    assert_int_equal(qasm_slotmap_get(&m, 7), 2);
    assert_int_equal(qasm_slotmap_get(&m, 8), 0);
    assert_int_equal(qasm_slotmap_set(&m, 5, 4, 1), -EINVAL);
    assert_int_equal(qasm_slotmap_set(&m, 0, 16384, 1), -EINVAL);
    assert_int_equal(qasm_slotmap_set(&m, 0, 1, QASM_SLOT_NONE), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16),
        cmocka_unit_test(test_key_slots),
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_slotmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
