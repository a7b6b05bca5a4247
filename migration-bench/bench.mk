# qasm-bench: the experiment runner (migration-bench/bench/), owned by the lead.
BENCH_SRCS := $(wildcard migration-bench/bench/*.c)
PROGS += qasm-bench
qasm-bench_SRCS := $(BENCH_SRCS)
qasm-bench_LIBS = $(JANSSON_LIBS)
INTEG_TESTS += tests/integration/bench_table1_natdos.sh
