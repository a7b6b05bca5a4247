# agentd/: qasm-agentd, the eBPF client agent (docs/CLIENT-AGENT.md, "The
# eBPF agent"). Its BPF object and skeleton reuse the BPF toolchain that
# middleboxes/xdp/module.mk detects (XDP_CLANG, XDP_BPFTOOL, XDP_LIBBPF,
# BPF_CFLAGS; this file is included after it): without that toolchain
# qasm-agentd is not built and its tests SKIP.
#
# The generic rule below ($(O)/gen/NAME.bpf.o from agentd/NAME.bpf.c, its
# skeleton named NAME) is meant to become the project's one BPF rule once
# the XDP backend moves to it.

AGENTD_BPF_OBJ := $(O)/gen/qasm_agentd.bpf.o
AGENTD_SKEL    := $(O)/gen/qasm_agentd.skel.h

# The pure core (events -> connection state -> reports), unit-tested without BPF.
UNIT_TESTS += test_agentd_track
test_agentd_track_SRCS := tests/unit/test_agentd_track.c agentd/agentd_track.c client-agent/agent_frames.c \
                          client-agent/agent_state.c
test_agentd_track_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_agentd_opts
test_agentd_opts_SRCS := tests/unit/test_agentd_opts.c agentd/agentd_opts.c
test_agentd_opts_LIBS = $(CMOCKA_LIBS)

ifeq ($(QASM_XDP),1)
$(O)/gen/%.bpf.o: agentd/%.bpf.c agentd/agentd_ev.h
	@mkdir -p $(@D)
	$(if $(filter 0,$(V)),@echo "  BPF     $@")
	$(Q)$(XDP_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(O)/gen/%.skel.h: $(O)/gen/%.bpf.o
	$(if $(filter 0,$(V)),@echo "  SKEL    $@")
	$(Q)$(XDP_BPFTOOL) gen skeleton $< name $* >$@.tmp && mv $@.tmp $@

PROGS += qasm-agentd
qasm-agentd_SRCS := agentd/agentd.c agentd/agentd_opts.c agentd/agentd_track.c client-agent/agent_frames.c \
                    client-agent/agent_state.c client-agent/agent_report.c
qasm-agentd_LIBS = $(XDP_LIBS) $(LIBEV_LIBS)
.SECONDARY: $(AGENTD_BPF_OBJ)
$(O)/obj/agentd/agentd.o $(O)/obj/tests/unit/test_agentd_prog.o: $(AGENTD_SKEL)
$(O)/obj/agentd/agentd.o $(O)/obj/tests/unit/test_agentd_prog.o: CFLAGS += -iquote $(O)/gen
$(O)/obj/tests/unit/test_agentd_prog.o: CFLAGS += -DQASM_HAVE_AGENTD=1
else
EXTRA_BINS += agentd-skipped
agentd-skipped:
	@echo "  SKIP    qasm-agentd (the eBPF client agent): missing $(strip $(XDP_MISSING)) (make deps)"
endif

# The programs on crafted packets through BPF_PROG_TEST_RUN (root; SKIP elsewhere).
UNIT_TESTS += test_agentd_prog
test_agentd_prog_SRCS := tests/unit/test_agentd_prog.c
test_agentd_prog_LIBS = $(CMOCKA_LIBS) $(XDP_LIBS)

INTEG_TESTS += tests/integration/agentd_gtls.sh
