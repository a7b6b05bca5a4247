# qasm: one non-recursive Makefile. Each folder's module.mk appends to the
# lists below; nothing is built outside $(O).
#
#   make            build everything into build/ (make all: the same; make build: without make deps)
#   make test       unit tests (plain and ASan+UBSan), check-pure, check-size, integration tests
#                   (the docs' examples included), fuzz runs
#   make tests      build the unit tests only; make unit-tests / make integ-tests: run only those
#   make examples   run the examples of README.md and docs/ and check what they print (docs/TESTBED.md)
#   make check-pure the pure cores reference no I/O, clock or event-loop symbol (nm -u)
#   make check-size no function over 120 lines, no main() over 60
#   make install    programs, agent library + header + pkg-config, man pages, completion, dissector, units (PREFIX, DESTDIR; docs/INSTALL.md)
#   make uninstall  removes exactly what make install put there
#   make fuzz       build the libFuzzer targets (clang) into build/fuzz/; make fuzz-run: run each FUZZ_SECONDS
#   make bench      the main job: qasm-bench run --quick all (make bench-full: full parameters)
#   make bench-xdp  the XDP fast path's benchmarks: qasm-bench run --quick xdp (root, BPF; about a minute)
#   make bench-bins only what the benchmarks run: the programs and the agent library
#   make regress    replay the capture corpus through the middlebox cores against the expected results
#   make deps       install the Debian packages the project needs
#   make clean      remove build/ (the O directory); make help: this text
#
# Variables: O (output dir, default build), SAN=1 (sanitizers), V=1 (echo
# commands), NODEPS=1 (skip the package check), FUZZ_SECONDS (per target),
# BPF_CLANG= / BPF_BPFTOOL= (build as without the BPF toolchain, mk/bpf.mk).

O        ?= build
CC       ?= gcc
V        ?= 0
SAN      ?= 0
NODEPS   ?= 0
FUZZ_SECONDS ?= 20

MAKEFLAGS += --no-builtin-rules
.SUFFIXES:
.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

ifeq ($(V),0)
Q := @
else
Q :=
endif

PKGS := libngtcp2 libngtcp2_crypto_gnutls libnghttp3 gnutls libpcap cmocka nettle
# pkg-config is only consulted once the packages are there (make deps runs first).
pc = $(shell pkg-config $(1) $(2) 2>/dev/null)
LIBEV_LIBS   ?= -lev
NGTCP2_LIBS   = $(call pc,--libs,libngtcp2 libngtcp2_crypto_gnutls)
NGTCP2_CFLAGS = $(call pc,--cflags,libngtcp2 libngtcp2_crypto_gnutls)
NGHTTP3_LIBS  = $(call pc,--libs,libnghttp3)
GNUTLS_LIBS   = $(call pc,--libs,gnutls)
PCAP_LIBS     = $(call pc,--libs,libpcap)
CMOCKA_LIBS   = $(call pc,--libs,cmocka)
JANSSON_LIBS  = $(call pc,--libs,jansson)
# The --metrics endpoint (lib/metrics_http.c) of qasm-tracker and qasm-mbox.
MHD_LIBS      = $(call pc,--libs,libmicrohttpd)
# lib/ (libqasm.a) computes report MACs with nettle: every link takes it.
NETTLE_LIBS   = $(call pc,--libs,nettle)

# Include paths: the shared cores (lib/, each component's core/) by bare
# name; anything else by its path from the root ("middleboxes/io/relay.h").
# -iquote: a core header never shadows a system one.
INCLUDES := -iquote . -iquote lib -iquote middleboxes/core -iquote tracker/core

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wformat=2 -Wvla -Wimplicit-fallthrough -Wundef
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -fPIC $(WARN) -MMD -MP $(INCLUDES)
ifeq ($(SAN),1)
CFLAGS_OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS_SAN := -fsanitize=address,undefined
else
CFLAGS_OPT := -O2
LDFLAGS_SAN :=
endif
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS_OPT) $(NGTCP2_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_SAN) $(LDFLAGS)

# Lists filled by module.mk files.
LIB_SRCS     :=   # into $(O)/libqasm.a, linked by everything
PROGS        :=   # binaries: NAME_SRCS, NAME_LIBS
SHLIBS       :=   # shared objects: NAME_SRCS, NAME_LIBS, NAME_LDFLAGS
UNIT_TESTS   :=   # cmocka binaries: NAME_SRCS, NAME_LIBS (run plain and under ASan)
INTEG_TESTS  :=   # scripts run after the build, each bounded by timeout
FUZZ_TARGETS :=   # libFuzzer harnesses: NAME_SRCS (NAME_LIBS, NAME_CFLAGS); seed corpus tests/fuzz/corpus/NAME
EXTRA_BINS   :=   # other files `build` makes (rules in the module.mk)
EXTRA_OBJS_ALL :=

# $(call unit_test,NAME,SRCS[,LIBS]): registers the cmocka test NAME, built
# from SRCS and linked with cmocka (and LIBS), run plain and under ASan.
define unit_test_rule
UNIT_TESTS += $(1)
$(1)_SRCS := $(2)
$(1)_LIBS = $$(CMOCKA_LIBS) $(3)
endef
unit_test = $(eval $(call unit_test_rule,$(1),$(2),$(3)))

# The BPF toolchain (clang -target bpf, bpftool, libbpf) and its rules, for
# the modules that build BPF programs (mk/bpf.mk).
include mk/bpf.mk
include lib/module.mk
-include tracker/module.mk
-include client-agent/module.mk
-include middleboxes/module.mk
-include agentd/module.mk
-include migration-bench/module.mk
-include migration-bench/bench.mk
-include captures/module.mk
-include tests/module.mk

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))
LIB_OBJS := $(call obj,$(LIB_SRCS))
LIBQASM  := $(O)/libqasm.a

# Template for a program, a test or a shared object.
define link_prog
$(O)/$(1): $(call obj,$($(1)_SRCS)) $(LIBQASM)
	@mkdir -p $$(@D)
	$$(if $(filter 0,$(V)),@echo "  LD      $$@")
	$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIBQASM) $($(1)_LIBS) $$(NETTLE_LIBS) -lm
ALL_OBJS += $(call obj,$($(1)_SRCS))
endef
define link_shlib
$(O)/$(1): $(call obj,$($(1)_SRCS)) $(LIBQASM)
	@mkdir -p $$(@D)
	$$(if $(filter 0,$(V)),@echo "  LD      $$@")
	$(Q)$$(CC) -shared $$(ALL_LDFLAGS) $($(1)_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIBQASM) $($(1)_LIBS) $$(NETTLE_LIBS)
ALL_OBJS += $(call obj,$($(1)_SRCS))
endef

ALL_OBJS := $(LIB_OBJS)
$(foreach p,$(PROGS) $(UNIT_TESTS),$(eval $(call link_prog,$(p))))
$(foreach s,$(SHLIBS),$(eval $(call link_shlib,$(s))))

PROG_BINS  := $(addprefix $(O)/,$(PROGS))
SHLIB_BINS := $(addprefix $(O)/,$(SHLIBS))
TEST_BINS  := $(addprefix $(O)/,$(UNIT_TESTS))

.PHONY: all deps build bench-bins tests test unit-tests integ-tests examples check-pure check-size fuzz fuzz-run bench bench-full bench-xdp clean help

ifeq ($(NODEPS),1)
DEPS :=
else
DEPS := deps
endif

all: $(DEPS)
	$(Q)$(MAKE) --no-print-directory NODEPS=1 build

build: $(PROG_BINS) $(SHLIB_BINS) $(TEST_BINS) $(EXTRA_BINS)

# What the benchmarks run: the programs and the agent library, not the tests.
bench-bins: $(PROG_BINS) $(SHLIB_BINS)

deps:
	$(Q)scripts/deps.sh

$(LIBQASM): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(if $(filter 0,$(V)),@echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The compile command is stamped so a change of flags rebuilds everything.
FLAGS_STAMP := $(O)/.flags
FLAGS_NOW = $(CC) $(ALL_CFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@
FORCE:

$(O)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(if $(filter 0,$(V)),@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

tests: $(TEST_BINS)

# The pure cores: codecs, tables and decisions that take time as a parameter
# and do no I/O, so they are unit-tested and fuzzed without sockets or clocks.
# lib/ but keyfile.c (reads the key file), clock.c (reads the clock), log.c
# (stderr), cli.c (the programs' front end) and metrics_http.c (the --metrics
# HTTP endpoint); middleboxes/core/ (MBOX_CORE_SRCS, the packet sorter) and the
# stats JSON writer into a buffer; tracker/core/ (store, budget, access rules,
# query core, sessions, STATS, Redis Cluster slot routing); the client's
# migration schedule, options and content pattern, the server's datagram
# guard; the agent's state, report, frame and qlog parsers; the captures' link
# types and replay engine; every option parser. The rest are shells around
# them: main()s, the libev loops (tracker/daemon.c, middleboxes/io/driver.c and
# its backends relay.c and packet_io.c, mbox_timer.c, h3*.c), files and
# sockets (json.c, redis.c, events.c, tracker_session.c, tracker_link.c,
# interpose.c, the bench runner). scripts/check-pure.sh holds the allow list.
PURE_SRCS := $(filter-out lib/keyfile.c lib/clock.c lib/log.c lib/cli.c lib/metrics_http.c,$(LIB_SRCS)) \
             $(MBOX_CORE_SRCS) middleboxes/core/packet_sort.c middleboxes/io/mbox_json.c middleboxes/mbox_opts.c \
             middleboxes/mbox_bench_opts.c middleboxes/normalize/normalize_opts.c \
             tracker/core/store.c tracker/core/budget.c tracker/core/access.c tracker/core/query.c \
             tracker/core/slots.c tracker/core/sessions.c tracker/core/stats.c tracker/trackctl_opts.c tracker/daemon_opts.c migration-bench/migrate.c migration-bench/clientopts.c \
             migration-bench/content.c migration-bench/h3guard.c migration-bench/serveropts.c \
             client-agent/agent_state.c client-agent/agent_report.c \
             client-agent/agent_frames.c client-agent/agent_qlog.c \
             agentd/agentd_track.c agentd/agentd_opts.c \
             captures/linktype.c captures/replay.c captures/capture_opts.c captures/replay_opts.c \
             migration-bench/bench/bench_opts.c
PURE_OBJS = $(call obj,$(PURE_SRCS))

check-pure: $(PURE_OBJS)
	$(Q)scripts/check-pure.sh $(PURE_OBJS)

# No function outside tests/ over 120 lines, no main() over 60 (the limits
# the code is kept to; scripts/check-size.sh says how a function is found).
check-size:
	$(Q)scripts/check-size.sh

# Unit tests plain, then the same suites built with ASan+UBSan, then the
# integration scripts, then the fuzz targets for FUZZ_SECONDS each.
test: $(DEPS)
	$(Q)rm -f $(O)/test-results.txt
	$(Q)$(MAKE) --no-print-directory NODEPS=1 build
	-$(Q)scripts/run-tests.sh $(O)/test-results.txt unit $(TEST_BINS)
	-$(Q)$(MAKE) --no-print-directory NODEPS=1 check-pure && echo "PASS pure check-pure 0 0" >> $(O)/test-results.txt || \
	    echo "FAIL pure check-pure 0 0" >> $(O)/test-results.txt
	-$(Q)scripts/check-size.sh && echo "PASS pure check-size 0 0" >> $(O)/test-results.txt || \
	    echo "FAIL pure check-size 0 0" >> $(O)/test-results.txt
	-$(Q)$(MAKE) --no-print-directory NODEPS=1 O=$(O)/asan SAN=1 tests && \
	    scripts/run-tests.sh $(O)/test-results.txt asan $(addprefix $(O)/asan/,$(UNIT_TESTS)) || \
	    echo "FAIL asan-build" >> $(O)/test-results.txt
	-$(Q)QASM_BUILD=$(O) scripts/run-tests.sh $(O)/test-results.txt integ $(INTEG_TESTS)
	-$(Q)$(MAKE) --no-print-directory NODEPS=1 fuzz-run || echo "FAIL fuzz-build" >> $(O)/test-results.txt
	$(Q)scripts/test-summary.sh $(O)/test-results.txt

unit-tests: tests
	$(Q)scripts/run-tests.sh /dev/null unit $(TEST_BINS)

integ-tests: build
	$(Q)QASM_BUILD=$(O) scripts/run-tests.sh /dev/null integ $(INTEG_TESTS)

# The examples of README.md and docs/*.md (scripts/docs-examples.py; also an integration test).
examples: build
	$(Q)QASM_BUILD=$(O) tests/integration/docs_examples.sh

# libFuzzer harnesses, built with clang into build/fuzz/ (own objects: ASan + fuzzer coverage).
FUZZ_O := $(O)/fuzz
# -iquote $(O)/gen: lib/cli.c includes the generated qasm_version.h.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(INCLUDES) -iquote $(O)/gen -fsanitize=fuzzer,address,undefined $(NGTCP2_CFLAGS)
FUZZ_BINS := $(addprefix $(FUZZ_O)/,$(FUZZ_TARGETS))
# lib/ as sources, but the --metrics modules (they need jansson, libmicrohttpd, libev).
FUZZ_LIB_SRCS := $(filter-out lib/metrics.c lib/metrics_http.c,$(LIB_SRCS))
define link_fuzz
$(FUZZ_O)/$(1): $($(1)_SRCS) $(FUZZ_LIB_SRCS) $(QASM_VERSION_H)
	@mkdir -p $$(@D)
	$$(if $(filter 0,$(V)),@echo "  FUZZ    $$@")
	$(Q)clang $(FUZZ_CFLAGS) $($(1)_CFLAGS) -o $$@ $($(1)_SRCS) $(FUZZ_LIB_SRCS) $($(1)_LIBS) $$(NETTLE_LIBS) -lm
endef
$(foreach f,$(FUZZ_TARGETS),$(eval $(call link_fuzz,$(f))))

fuzz: $(DEPS)
	$(Q)$(MAKE) --no-print-directory NODEPS=1 $(FUZZ_BINS)

fuzz-run: $(FUZZ_BINS)
	$(Q)for f in $(FUZZ_TARGETS); do \
	    scripts/run-fuzz.sh $(FUZZ_O)/$$f tests/fuzz/corpus/$$f $(FUZZ_SECONDS) $(O)/test-results.txt; \
	done

# The main job: every experiment of the paper, quick parameters (about 10 minutes
# on 2 cores); bench-full runs the paper's full parameters.
bench: $(DEPS)
	$(Q)$(MAKE) --no-print-directory NODEPS=1 bench-bins
	$(Q)$(O)/qasm-bench run --quick all --out results

bench-full: $(DEPS)
	$(Q)$(MAKE) --no-print-directory NODEPS=1 bench-bins
	$(Q)$(O)/qasm-bench run all --out results

# Not in `all`: about a minute with --quick, root and the BPF toolchain (docs/XDP.md).
bench-xdp: $(DEPS)
	$(Q)$(MAKE) --no-print-directory NODEPS=1 bench-bins
	$(Q)$(O)/qasm-bench run --quick xdp --out results

clean:
	rm -rf $(O)

help:
	@sed -n '1,/^$$/p' Makefile

-include $(ALL_OBJS:.o=.d)

# make install / make uninstall (PREFIX, DESTDIR): packaging/install.mk, docs/INSTALL.md.
include packaging/install.mk
