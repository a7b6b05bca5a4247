/* experiments.h: the experiment entry points (one per `qasm-bench list` line). */
#ifndef QASM_BENCH_EXPERIMENTS_H
#define QASM_BENCH_EXPERIMENTS_H

#include "bench.h"

int exp_fig7a(struct bench *b);
int exp_fig7b(struct bench *b);
int exp_fig8a(struct bench *b);
int exp_fig8b(struct bench *b);
int exp_fig9(struct bench *b);
int exp_table1(struct bench *b);
int exp_natdos(struct bench *b);
int exp_kernel_nat(struct bench *b);
int exp_lb(struct bench *b);
int exp_sweep(struct bench *b);
int exp_tracker(struct bench *b);
int exp_xdp(struct bench *b);
int exp_latency(struct bench *b, const char *exp, const char *function, const char *title);

#endif
