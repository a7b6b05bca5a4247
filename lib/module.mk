# lib/: I/O-free cores shared by every binary (into build/libqasm.a); keyfile.c
# alone reads and writes files (the shared key, mode-checked).
LIB_SRCS += lib/hmac.c lib/auth.c lib/keyfile.c lib/addr.c lib/cid.c lib/clock.c lib/hash.c lib/htab.c lib/ring.c lib/pool.c lib/log.c lib/quic.c lib/ipudp.c lib/parse.c lib/hist.c lib/proto.c

UNIT_TESTS += test_lib
test_lib_SRCS := tests/unit/test_addr.c
test_lib_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_htab
test_htab_SRCS := tests/unit/test_htab.c
test_htab_LIBS = $(CMOCKA_LIBS)

# The containers: the queue of fixed-size records and the pool of objects.
UNIT_TESTS += test_ring test_pool
test_ring_SRCS := tests/unit/test_ring.c
test_pool_SRCS := tests/unit/test_pool.c
test_ring_LIBS = $(CMOCKA_LIBS)
test_pool_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_quic
test_quic_SRCS := tests/unit/test_quic.c
test_quic_LIBS = $(CMOCKA_LIBS)

FUZZ_TARGETS += fuzz_quic
fuzz_quic_SRCS := tests/fuzz/fuzz_quic.c

UNIT_TESTS += test_ipudp
test_ipudp_SRCS := tests/unit/test_ipudp.c
test_ipudp_LIBS = $(CMOCKA_LIBS)

FUZZ_TARGETS += fuzz_ipudp
fuzz_ipudp_SRCS := tests/fuzz/fuzz_ipudp.c

UNIT_TESTS += test_parse
test_parse_SRCS := tests/unit/test_parse.c
test_parse_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_histogram
test_histogram_SRCS := tests/unit/test_histogram.c
test_histogram_LIBS = $(CMOCKA_LIBS)
