/*
 * normalize_opts.h: qasm-normalize's command line (pure: no I/O, no exit;
 * the caller prints the usage or the one-line error and exits 2, resolves
 * the tracker's host name and loads the --tracker-key file).
 */
#ifndef QASM_NORMALIZE_OPTS_H
#define QASM_NORMALIZE_OPTS_H

#include <stddef.h>

#include "addr.h"
#include "clock.h"
#include "parse.h"

enum qasm_nz_mode { QASM_NZ_PROACTIVE = 0, QASM_NZ_REACTIVE = 1 };

/* The ingress program (hop-bench.sh's decomposition only, not in --help): the normaliser, or
 * in its place one that passes everything (the hook's floor), or one that only parses. */
enum qasm_nz_bench { QASM_NZ_BENCH_OFF = 0, QASM_NZ_BENCH_FLOOR = 1, QASM_NZ_BENCH_PARSE = 2 };

/* --hook: tcx links where the kernel has them (auto), only them, or the clsact qdisc. */
enum qasm_nz_hook_kind { QASM_NZ_HOOK_AUTO = 0, QASM_NZ_HOOK_TCX = 1, QASM_NZ_HOOK_CLSACT = 2 };

struct qasm_nz_opts {
    const char *inside;      /* --inside IF (required) */
    struct qasm_addr tracker; /* --tracker HOST:PORT (required) */
    int mode;                /* enum qasm_nz_mode */
    const char *stats_json;  /* --stats-json FILE: written every second and at exit */
    const char *key_file;    /* --tracker-key FILE */
    unsigned max_conns;      /* --max-conns N: bound of the connection map (the others follow) */
    unsigned cache_bits;     /* --flow-cache SLOTS: log2 of the flow cache's slots per CPU, 0: none */
    double idle;             /* --idle SECS: a connection without packets nor records is removed */
    qasm_duration hold;      /* --hold: how long a known connection's unattested packets wait */
    const char *log_level;
    int bench_ingress;       /* hidden --bench-ingress floor|parse: enum qasm_nz_bench */
    int hook;                /* --hook auto|tcx|clsact: enum qasm_nz_hook_kind */
    int bpf_stats;           /* --bpf-stats: holds the kernel's run-time accounting while it runs */
    int help;
    struct qasm_parse_names names; /* host names to resolve */
};

/* The --help text. */
extern const char qasm_nz_usage[];

/*
 * qasm_nz_opts_parse fills |o| from argv. 0, or -1 with a one-line
 * message in |err| (a usage error: exit 2).
 */
int qasm_nz_opts_parse(int argc, char **argv, struct qasm_nz_opts *o, char *err, size_t errlen);

#endif
