/*
 * tracker_load.h: the tracker benchmark: qasm-tracker beside redis-server,
 * updates/s, queries/s and latency at 1, 16 and 64 in flight, bytes per
 * connection, report-to-push latency (docs/BENCHMARKS.md, "Tracker"). Run
 * by `qasm-bench tracker` (exp_tracker.c, in a forked child) and by the
 * qasm-tracker-bench binary (its command line is parsed here). Processes
 * and ports come from the bench (proc.h).
 */
#ifndef QASM_BENCH_TRACKER_LOAD_H
#define QASM_BENCH_TRACKER_LOAD_H

#include <stddef.h>

struct tracker_load_cfg {
    const char *tracker_bin;        /* qasm-tracker */
    const char *redis_server;
    const char *redis_benchmark;
    const char *json_path;          /* NULL: no JSON */
    const char *logdir;             /* the children's logs */
    long conns;
    long queries;
    long push_samples;
    int redis;                      /* 0: --no-redis */
    int reps;                       /* 1..9 */
};

/* qasm-tracker-bench --help. */
extern const char tracker_load_usage[];

/* tracker_load_defaults: 100000 connections and queries, 5000 push samples, 3 rounds, Redis. */
void tracker_load_defaults(struct tracker_load_cfg *c);

/*
 * tracker_load_opts_parse fills |c| from qasm-tracker-bench's argv (no I/O).
 * Returns 0, 1 for --help, or -1 with a one-line message in |err| (exit 2).
 * tracker_bin and logdir stay NULL unless given.
 */
int tracker_load_opts_parse(int argc, char **argv, struct tracker_load_cfg *c, char *err,
                            size_t errlen);

/*
 * tracker_load_run measures, prints the table to stdout and writes the JSON.
 * Exits the process (status 1) when the tracker session breaks: run it in a
 * process of its own (bench_proc_fork) where that matters. Returns 0.
 */
int tracker_load_run(const struct tracker_load_cfg *c);

#endif
