/* exp_common.h: what the experiment files share. */
#ifndef QASM_BENCH_EXP_COMMON_H
#define QASM_BENCH_EXP_COMMON_H

#include <stdio.h>

#include "bench.h"
#include "topo.h"

/* Client summary fields (qasm-h3-client --json). */
double exp_client_num(json_t *j, const char *key);
/* Latency percentile from a client summary ("p50", "p99", "max", "mean"), µs. */
double exp_client_latency(json_t *j, const char *pct);

/* The most runs per point --repeat gives (fig7b, fig8). */
#define EXP_MAX_REPEAT 100

/* exp_repeat is the running experiment's "repeat" parameter, 1..EXP_MAX_REPEAT. */
int exp_repeat(struct bench *b);

/* exp_min_med_max puts the minimum, median and maximum of the non-negative
 * values of |v| into |out| (all -1 when there is none). */
void exp_min_med_max(const double *v, int n, double out[3]);

/* exp_fmt formats a double into a short string buffer ("%.3g"). */
const char *exp_rate_str(char *buf, size_t len, double bps);

/* exp_csv_open opens OUTDIR/NAME for writing and prints |header|. */
FILE *exp_csv_open(struct bench *b, const char *name, const char *header);

/* exp_record stores |j| (borrowed) under results.KEY of the summary. */
void exp_record(struct bench *b, const char *key, json_t *j);

/* exp_nat_chain starts |n| NATs in |mode| chained towards server 0; returns the entry address. */
int exp_nat_chain(struct topo *t, int n, const char *mode, int pool, const char *const extra[],
                  char *entry, size_t entry_len);

/* One run of an experiment in |mode| (the |m|th): 0 measured, 1 not measured, -1 stop. */
typedef int (*exp_mode_fn)(struct bench *b, FILE *csv, const char *mode, int m, void *ctx);

/*
 * exp_each_mode runs |run| once for each mode of the bench's topology
 * (topo_modes: three on loopback, one for some netns hops), then closes
 * |csv|. ok[m] is 1 when mode m and every mode before it were measured.
 * Returns the number of modes (|modes| points at them), or -1 when a run
 * said stop.
 */
int exp_each_mode(struct bench *b, FILE *csv, const char *const **modes, int ok[3],
                  exp_mode_fn run, void *ctx);

#endif
