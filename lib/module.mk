# lib/: I/O-free cores shared by every binary (into build/libqasm.a); keyfile.c
# alone reads and writes files (the shared key, mode-checked); cli.c is the
# programs' front end (--version, usage errors, "-", host names); metrics.c
# renders a stats JSON object as Prometheus text (pure), metrics_http.c serves
# it (libmicrohttpd in the libev loop: link $(MHD_LIBS) $(JANSSON_LIBS) $(LIBEV_LIBS)).
LIB_SRCS += lib/hmac.c lib/auth.c lib/keyfile.c lib/addr.c lib/cid.c lib/clock.c lib/hash.c lib/htab.c lib/ring.c lib/pool.c lib/log.c lib/quic.c lib/quic_initial.c lib/ipudp.c lib/parse.c lib/hist.c lib/proto.c lib/cli.c \
            lib/degrade.c lib/metrics.c lib/metrics_http.c

$(call unit_test,test_lib,tests/unit/test_addr.c)
$(call unit_test,test_htab,tests/unit/test_htab.c)
# The containers: the queue of fixed-size records and the pool of objects.
$(call unit_test,test_ring,tests/unit/test_ring.c)
$(call unit_test,test_pool,tests/unit/test_pool.c)
$(call unit_test,test_quic,tests/unit/test_quic.c)
# Initial packet protection (RFC 9001 keys, an independently sealed packet, round trips).
$(call unit_test,test_quic_initial,tests/unit/test_quic_initial.c)
$(call unit_test,test_ipudp,tests/unit/test_ipudp.c)
$(call unit_test,test_parse,tests/unit/test_parse.c)
# The front end: --version text, "-", host names, the one-line usage error.
$(call unit_test,test_cli,tests/unit/test_cli.c)
$(call unit_test,test_histogram,tests/unit/test_histogram.c)
# The Prometheus rendering of a stats object (JSON text in, exposition text out).
$(call unit_test,test_metrics,tests/unit/test_metrics.c,$$(JANSSON_LIBS))
# When a degraded cause is said: start, one line per interval, end (fake time).
$(call unit_test,test_degrade,tests/unit/test_degrade.c)
# Every program's degraded causes provoked and their lines checked (start,
# count lines 10 s apart, end); the IPv6 client / IPv4 tracker case end to end.
INTEG_TESTS += tests/integration/degrade_logs.sh tests/integration/degrade_ipv6.sh

FUZZ_TARGETS += fuzz_quic
fuzz_quic_SRCS := tests/fuzz/fuzz_quic.c
# Initial packets from the wire, decrypted by qasm-agentd.
FUZZ_TARGETS += fuzz_quic_initial
fuzz_quic_initial_SRCS := tests/fuzz/fuzz_quic_initial.c

FUZZ_TARGETS += fuzz_ipudp
fuzz_ipudp_SRCS := tests/fuzz/fuzz_ipudp.c

# The version and commit every program's --version prints (and summary.json,
# the stats JSONs record): generated at every build, rewritten only when it
# changes (git describe; "unknown" outside a git tree). QASM_VERSION is
# packaging/install.mk's.
QASM_VERSION_H := $(O)/gen/qasm_version.h
$(QASM_VERSION_H): FORCE
	@mkdir -p $(@D)
	@c=$$(git describe --always --dirty 2>/dev/null || echo unknown); \
	printf '#define QASM_VERSION_TEXT "%s"\n#define QASM_COMMIT_TEXT "%s"\n' \
	    '$(or $(QASM_VERSION),unknown)' "$$c" >$@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(O)/obj/lib/cli.o: $(QASM_VERSION_H)
$(O)/obj/lib/cli.o: CFLAGS += -iquote $(O)/gen

# The --metrics endpoints of qasm-tracker and qasm-mbox read with curl, against their stats JSON.
INTEG_TESTS += tests/integration/metrics.sh
