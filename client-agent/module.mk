# client-agent/: libqasm-agent.so, the LD_PRELOAD / linkable ngtcp2 wrapper
# that reports each client connection's CIDs and addresses to the tracker.

UNIT_TESTS += test_agent_state
test_agent_state_SRCS := tests/unit/test_agent_state.c client-agent/agent_state.c \
                         client-agent/agent_qlog.c client-agent/agent_frames.c
test_agent_state_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_agent_report
test_agent_report_SRCS := tests/unit/test_agent_report.c client-agent/agent_report.c \
                          client-agent/agent_state.c
test_agent_report_LIBS = $(CMOCKA_LIBS)

# A program linking the agent (before libngtcp2) and using qasm_agent.h.
UNIT_TESTS += test_agent_api
test_agent_api_SRCS := tests/unit/test_agent_api.c
test_agent_api_LIBS = -L$(O) -lqasm-agent -Wl,-rpath,$(abspath $(O)) $(NGTCP2_LIBS) $(CMOCKA_LIBS)
$(O)/test_agent_api: $(O)/libqasm-agent.so $(O)/libqasm-agent.so.1

# The agent: hidden visibility, only the ngtcp2 wrappers and qasm_agent_* exported
# (client-agent/agent.map); libqasm.a's symbols stay private (--exclude-libs).
SHLIBS += libqasm-agent.so
libqasm-agent.so_SRCS := client-agent/interpose.c client-agent/agent_state.c \
                         client-agent/agent_qlog.c client-agent/agent_report.c \
                         client-agent/agent_frames.c
libqasm-agent.so_LIBS = $(call pc,--libs,libngtcp2) -ldl -lpthread
# SONAME libqasm-agent.so.1: its number changes only when the ABI breaks (docs/CLIENT-AGENT.md
# "ABI and SONAME"); the build tree gets the soname link programs linked here load.
libqasm-agent.so_LDFLAGS := -Wl,--version-script=client-agent/agent.map -Wl,--exclude-libs,ALL \
                            -Wl,-z,defs -Wl,-soname,libqasm-agent.so.1
$(O)/obj/client-agent/%.o: CFLAGS += -fvisibility=hidden
$(O)/libqasm-agent.so: client-agent/agent.map
$(O)/libqasm-agent.so.1: $(O)/libqasm-agent.so
	$(Q)ln -sf libqasm-agent.so $@
EXTRA_BINS += $(O)/libqasm-agent.so.1

INTEG_TESTS += tests/integration/agent_gtls.sh
INTEG_TESTS += tests/integration/agent_h3_100hz.sh
INTEG_TESTS += tests/integration/agent_refresh.sh

FUZZ_TARGETS += fuzz_agent
fuzz_agent_SRCS := tests/fuzz/fuzz_agent.c client-agent/agent_frames.c client-agent/agent_qlog.c
