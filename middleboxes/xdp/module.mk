# The XDP fast path of qasm-mbox (`--io xdp`, docs/XDP.md): the BPF program
# middleboxes/xdp/qasm_xdp.bpf.c and its libbpf skeleton, built by the shared
# BPF toolchain (mk/bpf.mk), and the backend middleboxes/io/xdp_io.c.
# Without the toolchain everything else is built, the build says what it
# skipped, and `--io xdp` says it was not built (exit 2).

XDP_SKEL := $(O)/gen/qasm_xdp.skel.h

ifeq ($(QASM_BPF),1)
qasm-mbox_SRCS += middleboxes/io/xdp_io.c middleboxes/io/xdp_slots.c middleboxes/io/bpf_maps.c
qasm-mbox_LIBS += $(BPF_LIBS)
$(O)/obj/middleboxes/io/xdp_io.o $(O)/obj/tests/unit/test_xdp_prog.o: $(XDP_SKEL)
$(O)/obj/middleboxes/io/xdp_io.o $(O)/obj/tests/unit/test_xdp_prog.o: CFLAGS += -iquote $(O)/gen
$(O)/obj/middleboxes/main.o $(O)/obj/tests/unit/test_xdp_prog.o: CFLAGS += -DQASM_HAVE_XDP=1
# The rate limiter's compare-and-swap (BPF_CMPXCHG) is an ISA v3 instruction (kernel >= 5.12).
$(O)/gen/qasm_xdp.bpf.o: BPF_CFLAGS += -mcpu=v3

# The cost per packet by BPF_PROG_TEST_RUN with 10^6 connections (docs/BENCHMARKS.md).
PROGS += qasm-xdp-bench
qasm-xdp-bench_SRCS := middleboxes/xdp/xdp_bench.c
qasm-xdp-bench_LIBS = $(BPF_LIBS) $(JANSSON_LIBS)
$(O)/obj/middleboxes/xdp/xdp_bench.o: $(XDP_SKEL)
$(O)/obj/middleboxes/xdp/xdp_bench.o: CFLAGS += -iquote $(O)/gen

# The hop benchmark's generator (live frames) and counting sink (middleboxes/xdp/hop-bench.sh).
PROGS += qasm-xdp-hopgen
qasm-xdp-hopgen_SRCS := middleboxes/xdp/xdp_hopgen.c
qasm-xdp-hopgen_LIBS = $(BPF_LIBS) -lpthread
$(O)/obj/middleboxes/xdp/xdp_hopgen.o: $(XDP_SKEL)
$(O)/obj/middleboxes/xdp/xdp_hopgen.o: CFLAGS += -iquote $(O)/gen
else
$(call bpf_skip,--io xdp (the XDP fast path), qasm-xdp-bench and qasm-xdp-hopgen)
endif

# The slot allocator of the `entries` array (no BPF needed: built and run everywhere).
$(call unit_test,test_xdp_slots,tests/unit/test_xdp_slots.c middleboxes/io/xdp_slots.c)

# The program's fixtures through BPF_PROG_TEST_RUN (root; SKIP elsewhere).
UNIT_TESTS += test_xdp_prog
# With the core's bucket: the test compares the program's with it, decision by decision.
# (bpf_maps.c, for tests/unit/bpf_fixture.h, needs libbpf: only with the toolchain.)
test_xdp_prog_SRCS := tests/unit/test_xdp_prog.c middleboxes/core/bucket.c middleboxes/io/xdp_slots.c \
                      $(if $(filter 1,$(QASM_BPF)),middleboxes/io/bpf_maps.c)
test_xdp_prog_LIBS = $(CMOCKA_LIBS) $(BPF_LIBS)
INTEG_TESTS += tests/integration/netns_xdp.sh
# How many migrated packets race the tracker's push to the slow path, at 10 and 100 Hz (figures).
INTEG_TESTS += tests/integration/netns_xdp_race.sh
# qasm-xdp-bench runs (small): a smoke test of the benchmark, not of its figures.
INTEG_TESTS += tests/integration/xdp_bench.sh
# qasm-xdp-hopgen on the netns testbed: a smoke test of the hop benchmark's generator and sink.
INTEG_TESTS += tests/integration/xdp_hopgen.sh
# qasm-bench run xdp, small: its rows, CSVs and summary (root, BPF; a smoke test).
INTEG_TESTS += tests/integration/bench_xdp.sh
