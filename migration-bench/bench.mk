# qasm-bench: the experiment runner (migration-bench/bench/), owned by the lead.
# Three layers called one way: core (bench.c, plot.c, proc.c) <- topologies
# (topo.c loopback, topo_netns.c netns) <- experiments (exp_*.c) <- main.c.
BENCH_SRCS := $(wildcard migration-bench/bench/*.c)
PROGS += qasm-bench
qasm-bench_SRCS := $(BENCH_SRCS)
qasm-bench_LIBS = $(JANSSON_LIBS)

INTEG_TESTS += tests/integration/bench_table1_natdos.sh tests/integration/bench_report.sh \
               tests/integration/bench_cli.sh

# The command line parser (pure: no I/O).
UNIT_TESTS += test_bench_opts
test_bench_opts_SRCS := tests/unit/test_bench_opts.c migration-bench/bench/bench_opts.c
test_bench_opts_LIBS = $(CMOCKA_LIBS)
$(O)/obj/tests/unit/test_bench_opts.o: CFLAGS += -Imigration-bench/bench

# qasm-tracker-bench (the tracker beside redis-server; `qasm-bench tracker`
# runs the same code): a thin entry over the bench's tracker experiment
# (tracker_load.c) and processes (proc.c).
PROGS += qasm-tracker-bench
qasm-tracker-bench_SRCS := migration-bench/tracker_bench.c migration-bench/bench/tracker_load.c \
                           migration-bench/bench/proc.c
qasm-tracker-bench_LIBS = $(JANSSON_LIBS)
$(O)/obj/migration-bench/tracker_bench.o: CFLAGS += -Imigration-bench/bench

UNIT_TESTS += test_tracker_load
test_tracker_load_SRCS := tests/unit/test_tracker_load.c migration-bench/bench/tracker_load.c \
                          migration-bench/bench/proc.c
test_tracker_load_LIBS = $(JANSSON_LIBS) $(CMOCKA_LIBS)
$(O)/obj/tests/unit/test_tracker_load.o: CFLAGS += -Imigration-bench/bench

# The figures' scripts, rendered by gnuplot from synthetic result folders.
UNIT_TESTS += test_bench_plots
test_bench_plots_SRCS := tests/unit/test_bench_plots.c migration-bench/bench/plots.c \
                         migration-bench/bench/plot.c migration-bench/bench/bench.c
test_bench_plots_LIBS = $(JANSSON_LIBS) $(CMOCKA_LIBS)
$(O)/obj/tests/unit/test_bench_plots.o: CFLAGS += -Imigration-bench/bench

# The bench's port reservations: a port already given never comes back in a range.
UNIT_TESTS += test_bench_ports
test_bench_ports_SRCS := tests/unit/test_bench_ports.c migration-bench/bench/proc.c
test_bench_ports_LIBS = $(CMOCKA_LIBS)
$(O)/obj/tests/unit/test_bench_ports.o: CFLAGS += -Imigration-bench/bench
