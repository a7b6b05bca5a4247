# qasm-normalize (docs/NORMALIZE.md): the tc-BPF migration normaliser in
# front of the kernel's own NAT / conntrack / load balancing. Its BPF object
# and skeleton are built by the shared BPF toolchain (mk/bpf.mk); without it
# the build says what it skipped and the tests SKIP.

NZ_SKEL    := $(O)/gen/qasm_normalize.skel.h

ifeq ($(QASM_BPF),1)
PROGS += qasm-normalize
qasm-normalize_SRCS := middleboxes/normalize/normalize.c middleboxes/normalize/normalize_opts.c \
                       middleboxes/normalize/nz_hook.c \
                       middleboxes/io/tracker_session.c middleboxes/io/json.c \
                       middleboxes/io/bpf_maps.c
qasm-normalize_LIBS = $(LIBEV_LIBS) $(BPF_LIBS)
$(O)/obj/middleboxes/normalize/normalize.o $(O)/obj/tests/unit/test_normalize_prog.o: $(NZ_SKEL)
$(O)/obj/middleboxes/normalize/normalize.o $(O)/obj/tests/unit/test_normalize_prog.o: CFLAGS += -iquote $(O)/gen
$(O)/obj/tests/unit/test_normalize_prog.o: CFLAGS += -DQASM_HAVE_NORMALIZE=1
# netns_normalize.sh's kernel without tcx links (LD_PRELOAD): --hook auto's fallback.
SHLIBS += libqasm-test-notcx.so
libqasm-test-notcx.so_SRCS := tests/integration/notcx.c
else
$(call bpf_skip,qasm-normalize (tc-BPF))
endif

# The programs on crafted frames through BPF_PROG_TEST_RUN (root; SKIP elsewhere).
UNIT_TESTS += test_normalize_prog
# (bpf_maps.c needs libbpf: only with the toolchain; without, the test is a SKIP stub.)
test_normalize_prog_SRCS := tests/unit/test_normalize_prog.c $(if $(filter 1,$(QASM_BPF)),middleboxes/io/bpf_maps.c)
test_normalize_prog_LIBS = $(CMOCKA_LIBS) $(BPF_LIBS)
INTEG_TESTS += tests/integration/netns_normalize.sh tests/integration/netns_normalize_lb.sh \
	tests/integration/netns_normalize_rates.sh

UNIT_TESTS += test_normalize_opts
test_normalize_opts_SRCS := tests/unit/test_normalize_opts.c middleboxes/normalize/normalize_opts.c
test_normalize_opts_LIBS = $(CMOCKA_LIBS)
