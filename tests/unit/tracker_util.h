/*
 * tracker_util.h: helpers of the tracker's core tests (store, query): a CID
 * from hex and an address from text, failing the test on a bad literal.
 * Include after <cmocka.h>.
 */
#ifndef QASM_TEST_TRACKER_UTIL_H
#define QASM_TEST_TRACKER_UTIL_H

#include "addr.h"
#include "cid.h"

static inline struct qasm_cid C(const char *hex)
{
    struct qasm_cid c;
    assert_int_equal(qasm_cid_parse(&c, hex), 0);
    return c;
}

static inline struct qasm_addr A(const char *s)
{
    struct qasm_addr a;
    assert_int_equal(qasm_addr_parse(&a, s), 0);
    return a;
}

#endif
