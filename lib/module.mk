# lib/: I/O-free cores shared by every binary (into build/libqasm.a); keyfile.c
# alone reads and writes files (the shared key, mode-checked).
LIB_SRCS += lib/hmac.c lib/auth.c lib/keyfile.c lib/addr.c lib/cid.c lib/clock.c lib/hash.c lib/htab.c lib/ring.c lib/pool.c lib/log.c lib/quic.c lib/ipudp.c lib/parse.c lib/hist.c lib/proto.c

$(call unit_test,test_lib,tests/unit/test_addr.c)
$(call unit_test,test_htab,tests/unit/test_htab.c)
# The containers: the queue of fixed-size records and the pool of objects.
$(call unit_test,test_ring,tests/unit/test_ring.c)
$(call unit_test,test_pool,tests/unit/test_pool.c)
$(call unit_test,test_quic,tests/unit/test_quic.c)
$(call unit_test,test_ipudp,tests/unit/test_ipudp.c)
$(call unit_test,test_parse,tests/unit/test_parse.c)
$(call unit_test,test_histogram,tests/unit/test_histogram.c)

FUZZ_TARGETS += fuzz_quic
fuzz_quic_SRCS := tests/fuzz/fuzz_quic.c

FUZZ_TARGETS += fuzz_ipudp
fuzz_ipudp_SRCS := tests/fuzz/fuzz_ipudp.c
