/*
 * bench_opts.h: qasm-bench's command line, parsed into a config without
 * side effects (no I/O, no lookups: experiment names are resolved by main).
 */
#ifndef QASM_BENCH_OPTS_H
#define QASM_BENCH_OPTS_H

#include <stddef.h>

#define BENCH_OPTS_MAX_SETS 64
#define BENCH_OPTS_MAX_EXPS 64
#define BENCH_OPTS_MAX_REPORTS 16

enum bench_opts_cmd {
    BENCH_OPTS_HELP,
    BENCH_OPTS_LIST,
    BENCH_OPTS_RUN,
    BENCH_OPTS_REPORT,
    BENCH_OPTS_NETNS,           /* netns up|down ID: the testbed alone */
};

struct bench_opts {
    enum bench_opts_cmd cmd;
    int quick, capture;
    int dry_run;                /* run --dry-run: print the effective parameters only */
    int repeat;                 /* --repeat N (0: not given) */
    int netns;                  /* --topology netns */
    const char *hop;            /* --hop SPEC (NULL: qasm) */
    const char *out;            /* --out DIR (default "results") */
    const char *report_dir;     /* report DIR...: the first */
    const char *report_dirs[BENCH_OPTS_MAX_REPORTS];
    int nreports;
    int netns_up;               /* netns up (1) or down (0) */
    const char *netns_id;       /* netns ... ID: [A-Za-z0-9_.-], 1 to 20 characters */
    const char *sets[BENCH_OPTS_MAX_SETS];  /* --set KEY=VALUE, in order */
    int nsets;
    const char *exps[BENCH_OPTS_MAX_EXPS];  /* names as given ("all" included) */
    int nexps;
};

/*
 * bench_opts_parse fills |o| from argv (argv[0] the program). Returns 0, or
 * -1 with a one-line message in |err| (a usage error: exit 2). Strings
 * point into argv.
 */
int bench_opts_parse(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen);

#endif
