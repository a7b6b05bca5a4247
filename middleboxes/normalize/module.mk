# qasm-normalize (docs/NORMALIZE.md): the tc-BPF migration normaliser in
# front of the kernel's own NAT / conntrack / load balancing. Built with the
# BPF toolchain the XDP fast path detects (middleboxes/xdp/module.mk:
# XDP_CLANG, XDP_BPFTOOL, BPF_CFLAGS, QASM_XDP); without it the build says
# what it skipped and the tests SKIP.

NZ_BPF_OBJ := $(O)/gen/qasm_normalize.bpf.o
NZ_SKEL    := $(O)/gen/qasm_normalize.skel.h

ifeq ($(QASM_XDP),1)
$(NZ_BPF_OBJ): middleboxes/normalize/qasm_normalize.bpf.c middleboxes/normalize/normalize_maps.h \
               middleboxes/xdp/xdp_maps.h
	@mkdir -p $(@D)
	$(if $(filter 0,$(V)),@echo "  BPF     $@")
	$(Q)$(XDP_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(NZ_SKEL): $(NZ_BPF_OBJ)
	$(if $(filter 0,$(V)),@echo "  SKEL    $@")
	$(Q)$(XDP_BPFTOOL) gen skeleton $< name qasm_normalize >$@.tmp && mv $@.tmp $@

PROGS += qasm-normalize
qasm-normalize_SRCS := middleboxes/normalize/normalize.c middleboxes/normalize/normalize_opts.c \
                       middleboxes/io/tracker_session.c middleboxes/io/json.c \
                       middleboxes/io/bpf_maps.c
qasm-normalize_LIBS = $(LIBEV_LIBS) $(XDP_LIBS)
$(O)/obj/middleboxes/normalize/normalize.o $(O)/obj/tests/unit/test_normalize_prog.o: $(NZ_SKEL)
$(O)/obj/middleboxes/normalize/normalize.o $(O)/obj/tests/unit/test_normalize_prog.o: CFLAGS += -iquote $(O)/gen
$(O)/obj/tests/unit/test_normalize_prog.o: CFLAGS += -DQASM_HAVE_NORMALIZE=1
else
EXTRA_BINS += normalize-skipped
normalize-skipped:
	@echo "  SKIP    qasm-normalize (tc-BPF): missing $(strip $(XDP_MISSING)) (make deps)"
endif

# The programs on crafted frames through BPF_PROG_TEST_RUN (root; SKIP elsewhere).
UNIT_TESTS += test_normalize_prog
test_normalize_prog_SRCS := tests/unit/test_normalize_prog.c middleboxes/io/bpf_maps.c
test_normalize_prog_LIBS = $(CMOCKA_LIBS) $(XDP_LIBS)
INTEG_TESTS += tests/integration/netns_normalize.sh tests/integration/netns_normalize_lb.sh \
	tests/integration/netns_normalize_rates.sh

UNIT_TESTS += test_normalize_opts
test_normalize_opts_SRCS := tests/unit/test_normalize_opts.c middleboxes/normalize/normalize_opts.c
test_normalize_opts_LIBS = $(CMOCKA_LIBS)
