# migration-bench/: HTTP/3 server and migrating client (ngtcp2 + nghttp3 + gnutls + libev).
# Both link libngtcp2 dynamically so the client agent can be LD_PRELOADed.

H3_COMMON_SRCS := migration-bench/tls.c migration-bench/udp.c migration-bench/quicwrite.c \
                  migration-bench/h3conn.c migration-bench/h3guard.c \
                  migration-bench/content.c
H3_LIBS = $(NGTCP2_LIBS) $(NGHTTP3_LIBS) $(GNUTLS_LIBS) $(LIBEV_LIBS) $(JANSSON_LIBS)

PROGS += qasm-h3-server
qasm-h3-server_SRCS := migration-bench/h3server.c migration-bench/serveropts.c $(H3_COMMON_SRCS)
qasm-h3-server_LIBS = $(H3_LIBS)

PROGS += qasm-h3-client
qasm-h3-client_SRCS := migration-bench/h3client.c migration-bench/clientopts.c \
                       migration-bench/migrate.c $(H3_COMMON_SRCS)
qasm-h3-client_LIBS = $(H3_LIBS)

UNIT_TESTS += test_migrate
test_migrate_SRCS := tests/unit/test_migrate.c migration-bench/migrate.c
test_migrate_LIBS = $(CMOCKA_LIBS)


UNIT_TESTS += test_clientopts
test_clientopts_SRCS := tests/unit/test_clientopts.c migration-bench/clientopts.c \
                        migration-bench/migrate.c migration-bench/content.c
test_clientopts_LIBS = $(CMOCKA_LIBS)

INTEG_TESTS += tests/integration/h3_download.sh tests/integration/h3_migrate.sh \
               tests/integration/h3_interop.sh tests/integration/h3_misroute.sh \
               tests/integration/h3_quicgo.sh
# The client's handshake timeout and --duration bound, the server's --qlog-dir and key log.
INTEG_TESTS += tests/integration/h3_bounds.sh
# Hostile datagrams to every UDP socket of a live server + NAT + agent + client setup.
INTEG_TESTS += tests/integration/hostile_datagrams.sh

# The datagram guard and the server's routing step, against the real libngtcp2
# (Debian's, with asserts: a missing check aborts the test).
UNIT_TESTS += test_h3guard
test_h3guard_SRCS := tests/unit/test_h3guard.c migration-bench/h3guard.c
test_h3guard_LIBS = $(NGTCP2_LIBS) $(CMOCKA_LIBS)

# The server's datagram entry before connection state (guard, routing, stateless
# answers), linked against Debian's libngtcp2 so its asserts are in the loop.
FUZZ_TARGETS += fuzz_h3_datagram
fuzz_h3_datagram_SRCS := tests/fuzz/fuzz_h3_datagram.c migration-bench/h3guard.c
fuzz_h3_datagram_LIBS = $(call pc,--libs,libngtcp2)

# The quic-go HTTP/3 client and server of the interop suite (h3_quicgo.sh):
# Go in GOPATH mode against Debian's golang-github-lucas-clemente-quic-go-dev,
# offline, everything under $(O). Without go or quic-go they are not built
# and the suite reports SKIPPED.
GO ?= go
QUICGO_SRC := /usr/share/gocode/src/github.com/lucas-clemente/quic-go/http3
ifneq ($(and $(shell command -v $(GO) 2>/dev/null),$(wildcard $(QUICGO_SRC))),)
EXTRA_BINS += $(O)/qasm-quicgo-client $(O)/qasm-quicgo-server
endif
$(O)/qasm-quicgo-%: tests/interop/quicgo/%/main.go
	@mkdir -p $(O)/go-cache $(O)/go-path
	$(if $(filter 0,$(V)),@echo "  GO      $@")
	$(Q)GO111MODULE=off GOPATH=$(abspath $(O))/go-path:/usr/share/gocode \
	    GOCACHE=$(abspath $(O))/go-cache GOFLAGS= GOPROXY=off \
	    $(GO) build -o $@ ./tests/interop/quicgo/$*

UNIT_TESTS += test_serveropts
test_serveropts_SRCS := tests/unit/test_serveropts.c migration-bench/serveropts.c
test_serveropts_LIBS = $(CMOCKA_LIBS)
