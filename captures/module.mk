# captures/: record (qasm-capture), replay (qasm-replay) and regression-test
# middleboxes on pcap files; the corpus lives in captures/corpus/.

# The replay embeds the tracker's own cores: its store and its query rules (tracker/core/).
CAPTURE_CORE_SRCS := captures/linktype.c captures/replay.c captures/events.c tracker/core/store.c \
                     tracker/core/query.c


PROGS += qasm-replay
qasm-replay_SRCS = captures/replay_main.c captures/replay_opts.c $(CAPTURE_CORE_SRCS) $(MBOX_CORE_SRCS)
qasm-replay_LIBS = $(PCAP_LIBS) $(JANSSON_LIBS)

PROGS += qasm-capture
qasm-capture_SRCS := captures/capture_main.c captures/capture_opts.c
qasm-capture_LIBS = $(PCAP_LIBS) $(JANSSON_LIBS)

# Deterministic synthetic captures for the corpus (captures/regen-corpus.sh).
PROGS += qasm-corpus-gen
qasm-corpus-gen_SRCS := captures/corpus_gen.c
qasm-corpus-gen_LIBS = $(PCAP_LIBS) $(JANSSON_LIBS)

UNIT_TESTS += test_captures
test_captures_SRCS := tests/unit/test_captures.c captures/linktype.c captures/events.c
test_captures_LIBS = $(CMOCKA_LIBS) $(JANSSON_LIBS)

INTEG_TESTS += captures/regress.sh captures/test-dissector.sh captures/test-capture.sh \
               captures/test-replay-input.sh

.PHONY: regress
regress: $(O)/qasm-replay
	$(Q)QASM_BUILD=$(O) captures/regress.sh

FUZZ_TARGETS += fuzz_replay
fuzz_replay_SRCS := tests/fuzz/fuzz_replay.c $(CAPTURE_CORE_SRCS) $(MBOX_CORE_SRCS)
fuzz_replay_LIBS = $(JANSSON_LIBS)

UNIT_TESTS += test_replay
test_replay_SRCS = tests/unit/test_replay.c $(CAPTURE_CORE_SRCS) $(MBOX_CORE_SRCS)
test_replay_LIBS = $(CMOCKA_LIBS) $(JANSSON_LIBS)

UNIT_TESTS += test_capture_opts
test_capture_opts_SRCS := tests/unit/test_capture_opts.c captures/capture_opts.c
test_capture_opts_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_replay_opts
test_replay_opts_SRCS = tests/unit/test_replay_opts.c captures/replay_opts.c $(MBOX_CORE_SRCS)
test_replay_opts_LIBS = $(CMOCKA_LIBS)
