/*
 * agentd_opts.h: qasm-agentd's command line (pure: no I/O, no exit; the
 * caller prints the usage or the error and exits).
 */
#ifndef QASM_AGENTD_OPTS_H
#define QASM_AGENTD_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"

struct qasm_agentd_opts {
    const char *tracker;    /* --tracker HOST:PORT (required) */
    const char *cgroup;     /* --cgroup PATH (a cgroup v2 directory) */
    int all;                /* --all: the root of the cgroup v2 hierarchy */
    const char *stats_json; /* --stats-json FILE (rewritten every second) */
    const char *key;        /* --key FILE: the tracker's shared key (report key MAC) */
    qasm_duration idle;     /* --idle (30s) */
    qasm_duration refresh;  /* --refresh (10s; 0 = never) */
    uint64_t max_conns;     /* --max-conns (4096) */
    const char *log;        /* --log LEVEL (info) */
    int prereg;             /* --prereg: QASM_AGENTD_PREREG_* */
    int bpf_stats;          /* --bpf-stats: the kernel accounts the programs' run time */
};

enum { QASM_AGENTD_PREREG_OFF = 0, QASM_AGENTD_PREREG_GNUTLS = 1 };

/*
 * qasm_agentd_opts_parse fills |o| from argv. Returns 0; 1 for --help (the
 * caller prints qasm_agentd_usage() on stdout, exit 0); -1 with a one-line
 * message in |err| (the caller prints "qasm-agentd: ERR", exit 2).
 */
int qasm_agentd_opts_parse(int argc, char **argv, struct qasm_agentd_opts *o, char *err,
                           size_t errlen);

/* qasm_agentd_usage returns the --help text. */
const char *qasm_agentd_usage(void);

#endif
