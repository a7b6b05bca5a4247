# qasm-mbox: the driver (loop, tracker session, stats) with its backends (relay, packet) around the core's MBOX_CORE_SRCS.
# Recursive '=' so MBOX_CORE_SRCS may be appended anywhere in this file.
PROGS += qasm-mbox
qasm-mbox_SRCS = $(MBOX_CORE_SRCS) middleboxes/main.c middleboxes/io/driver.c middleboxes/io/mbox_degrade.c middleboxes/io/relay.c \
                 middleboxes/io/tracker_session.c middleboxes/io/tracker_link.c middleboxes/io/json.c \
                 middleboxes/io/packet_io.c middleboxes/core/packet_sort.c middleboxes/io/mbox_json.c \
                 middleboxes/mbox_opts.c middleboxes/io/control.c middleboxes/io/control_proto.c \
                 middleboxes/io/control_list.c \
                 middleboxes/io/mbox_timer.c
qasm-mbox_LIBS = $(LIBEV_LIBS) $(MHD_LIBS) $(JANSSON_LIBS)

# The anchor of relay-bench.sh: a UDP forwarder with no policy (recvmmsg/sendmmsg by 32).
PROGS += qasm-fwd-bare
qasm-fwd-bare_SRCS := middleboxes/fwd_bare.c

# The I/O-free middlebox cores (NAT, rate limiter, LB, QUIC-aware classification, hold queue).
MBOX_CORE_SRCS := middleboxes/core/mbox.c middleboxes/core/classify.c middleboxes/core/portpool.c \
                  middleboxes/core/bucket.c middleboxes/core/nat.c middleboxes/core/ratelimit.c \
                  middleboxes/core/lb.c middleboxes/core/hold.c middleboxes/core/conn.c middleboxes/core/mbox_flags.c


UNIT_TESTS += test_nat
test_nat_SRCS := tests/unit/test_nat.c $(MBOX_CORE_SRCS)
test_nat_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_ratelimit
test_ratelimit_SRCS := tests/unit/test_ratelimit.c $(MBOX_CORE_SRCS)
test_ratelimit_LIBS = $(CMOCKA_LIBS)

# Integration tests of qasm-mbox (helpers in tests/integration/mbox_lib.sh).
INTEG_TESTS += tests/integration/mbox_nat.sh

UNIT_TESTS += test_lb
test_lb_SRCS := tests/unit/test_lb.c $(MBOX_CORE_SRCS)
test_lb_LIBS = $(CMOCKA_LIBS)
INTEG_TESTS += tests/integration/mbox_ratelimit.sh tests/integration/mbox_lb.sh
# Spoofed one-packet flows against --max-flows: a new client is still served.
INTEG_TESTS += tests/integration/mbox_flood.sh
# A burst both ways through the NAT: parked sockets lose nothing, are watched again after.
INTEG_TESTS += tests/integration/mbox_burst.sh

UNIT_TESTS += test_classify
test_classify_SRCS := tests/unit/test_classify.c $(MBOX_CORE_SRCS)
test_classify_LIBS = $(CMOCKA_LIBS)

FUZZ_TARGETS += fuzz_mbox
fuzz_mbox_SRCS := tests/fuzz/fuzz_mbox.c $(MBOX_CORE_SRCS)

PROGS += qasm-mbox-bench
qasm-mbox-bench_SRCS := middleboxes/bench.c middleboxes/mbox_bench_opts.c $(MBOX_CORE_SRCS)
INTEG_TESTS += tests/integration/mbox_flags.sh tests/integration/mbox_h3.sh
# The tracker race lost on purpose (tracker stopped): held packets wait for the answer.
INTEG_TESTS += tests/integration/mbox_race.sh

UNIT_TESTS += test_mbox_stats
test_mbox_stats_SRCS := tests/unit/test_mbox_stats.c middleboxes/io/json.c
test_mbox_stats_LIBS = $(CMOCKA_LIBS)
INTEG_TESTS += tests/integration/netns_nat.sh tests/integration/netns_bench.sh
UNIT_TESTS += test_packet_sort
test_packet_sort_SRCS := tests/unit/test_packet_sort.c middleboxes/core/packet_sort.c
test_packet_sort_LIBS = $(CMOCKA_LIBS)
FUZZ_TARGETS += fuzz_packet_sort
fuzz_packet_sort_SRCS := tests/fuzz/fuzz_packet_sort.c middleboxes/core/packet_sort.c

UNIT_TESTS += test_mbox_flags
test_mbox_flags_SRCS := tests/unit/test_mbox_flags.c $(MBOX_CORE_SRCS)
test_mbox_flags_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_mbox_opts
test_mbox_opts_SRCS := tests/unit/test_mbox_opts.c middleboxes/mbox_opts.c $(MBOX_CORE_SRCS)
test_mbox_opts_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_mbench_opts
test_mbench_opts_SRCS := tests/unit/test_mbench_opts.c middleboxes/mbox_bench_opts.c $(MBOX_CORE_SRCS)
test_mbench_opts_LIBS = $(CMOCKA_LIBS)

# The live table: table events (new, migrated, adopted, expired, evicted, refused), foreach fields.
UNIT_TESTS += test_mbox_events
test_mbox_events_SRCS := tests/unit/test_mbox_events.c $(MBOX_CORE_SRCS)
test_mbox_events_LIBS = $(CMOCKA_LIBS)

# qasm-mboxctl: conntrack for qasm-mbox (list, events, stats through the control socket).
PROGS += qasm-mboxctl
qasm-mboxctl_SRCS = middleboxes/mboxctl.c middleboxes/mboxctl_opts.c middleboxes/io/control_proto.c \
                    middleboxes/io/json.c $(MBOX_CORE_SRCS)
UNIT_TESTS += test_control
test_control_SRCS = tests/unit/test_control.c middleboxes/mboxctl_opts.c \
                    middleboxes/io/control_proto.c middleboxes/io/control_list.c \
                    middleboxes/io/json.c $(MBOX_CORE_SRCS)
test_control_LIBS = $(CMOCKA_LIBS)
INTEG_TESTS += tests/integration/mboxctl.sh

include middleboxes/xdp/module.mk
include middleboxes/normalize/module.mk
