/*
 * plots.h: the experiments' figures as gnuplot scripts (written and
 * rendered by bench_plot into the result folder, next to the CSV they
 * read). Kept apart from the experiments so that a test can render each
 * from a small synthetic CSV and check its axes (tests/unit/test_bench_plots.c).
 */
#ifndef QASM_BENCH_PLOTS_H
#define QASM_BENCH_PLOTS_H

#include "bench.h"

/* table1.png: ports in use and migrations per mode (table1.csv), y from 0. */
int plots_table1(const struct bench *b);
int plots_kernel_nat(const struct bench *b);

/* nat-dos.png: ports in use against the pool per mode (nat-dos.csv), legend outside. */
int plots_natdos(const struct bench *b);

/* EXP.png: the latency CDF per mode (latency-MODE.csv, the first run);
 * EXP-percentiles.png: p50 and p99 per mode, min/median/max over the runs
 * (latency-stats.csv). */
int plots_latency(const struct bench *b, const char *exp, const char *title);

/* fig7b.png: throughput per chain length, one panel per migration period,
 * bars at the median with min/max error bars (fig7b.csv). */
int plots_fig7b(const struct bench *b, const char *period0, const char *period1, int maxn);

/* rate-sweep.png: public ports per connection against the migration rate
 * (log), one line per connection count and mode (rate-sweep.csv);
 * |conns| is the space-separated list of connection counts. */
int plots_sweep(const struct bench *b, const char *conns);

#endif
