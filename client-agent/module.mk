# client-agent/: libqasm-agent.so, the LD_PRELOAD / linkable ngtcp2 wrapper
# that reports each client connection's CIDs and addresses to the tracker.

UNIT_TESTS += test_agent_state
test_agent_state_SRCS := tests/unit/test_agent_state.c client-agent/agent_state.c \
                         client-agent/agent_qlog.c
test_agent_state_LIBS = $(CMOCKA_LIBS)
