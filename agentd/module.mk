# agentd/: qasm-agentd, the eBPF client agent (docs/CLIENT-AGENT.md, "The
# eBPF agent"). Its BPF object and skeleton are built by the shared BPF
# toolchain (mk/bpf.mk: $(O)/gen/NAME.bpf.o from agentd/NAME.bpf.c, its
# skeleton named NAME): without that toolchain qasm-agentd is not built and
# its tests SKIP.

AGENTD_SKEL    := $(O)/gen/qasm_agentd.skel.h

# The pure core (events -> connection state -> reports), unit-tested without BPF.
UNIT_TESTS += test_agentd_track
test_agentd_track_SRCS := tests/unit/test_agentd_track.c agentd/agentd_track.c client-agent/agent_frames.c \
                          client-agent/agent_state.c
test_agentd_track_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_agentd_opts
test_agentd_opts_SRCS := tests/unit/test_agentd_opts.c agentd/agentd_opts.c
test_agentd_opts_LIBS = $(CMOCKA_LIBS)

ifeq ($(QASM_BPF),1)
PROGS += qasm-agentd
qasm-agentd_SRCS := agentd/agentd.c agentd/agentd_opts.c agentd/agentd_track.c client-agent/agent_frames.c \
                    client-agent/agent_state.c client-agent/agent_report.c middleboxes/io/bpf_maps.c
qasm-agentd_LIBS = $(BPF_LIBS) $(LIBEV_LIBS)
$(O)/obj/agentd/agentd.o $(O)/obj/tests/unit/test_agentd_prog.o: $(AGENTD_SKEL)
$(O)/obj/agentd/agentd.o $(O)/obj/tests/unit/test_agentd_prog.o: CFLAGS += -iquote $(O)/gen
$(O)/obj/tests/unit/test_agentd_prog.o: CFLAGS += -DQASM_HAVE_AGENTD=1
else
$(call bpf_skip,qasm-agentd (the eBPF client agent))
endif

# The programs on crafted packets through BPF_PROG_TEST_RUN (root; SKIP elsewhere).
UNIT_TESTS += test_agentd_prog
# (bpf_maps.c, for tests/unit/bpf_fixture.h, needs libbpf: only with the toolchain.)
test_agentd_prog_SRCS := tests/unit/test_agentd_prog.c $(if $(filter 1,$(QASM_BPF)),middleboxes/io/bpf_maps.c)
test_agentd_prog_LIBS = $(CMOCKA_LIBS) $(BPF_LIBS)

INTEG_TESTS += tests/integration/agentd_gtls.sh
