/*
 * mbox_bench_opts.h: qasm-mbox-bench's command line (pure: no I/O, no exit;
 * the caller prints the usage or the error and exits 2).
 */
#ifndef QASM_MBENCH_OPTS_H
#define QASM_MBENCH_OPTS_H

#include <stddef.h>

#define QASM_MBENCH_NAT_MAX_CONNS 30000  /* the NAT's port pool bounds its connections */

struct qasm_mbench_opts {
    size_t nconns, npackets, nmig;  /* --conns, --packets, --migrations (nmig <= nconns) */
    int fns[3];                     /* by enum qasm_mbox_function: run it (--function, default all) */
    int modes[3];                   /* by enum qasm_mbox_mode: run it (--mode, default all) */
};

#define QASM_MBENCH_HELP 1          /* --help: the usage on stdout, exit 0 */
#define QASM_MBENCH_BAD_OPTION (-2) /* getopt's own message in err, then the usage on stderr */

/*
 * qasm_mbench_opts_parse fills |o| from argv. Returns 0; QASM_MBENCH_HELP;
 * QASM_MBENCH_BAD_OPTION with getopt's message in |err|; or -1 with a
 * message the caller prints after "qasm-mbox-bench: " (exit 2 for both).
 */
int qasm_mbench_opts_parse(int argc, char **argv, struct qasm_mbench_opts *o, char *err,
                           size_t errlen);

/* qasm_mbench_usage writes the --help text into |buf|; its length (snprintf's). */
int qasm_mbench_usage(char *buf, size_t len);

#endif
