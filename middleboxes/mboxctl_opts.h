/*
 * mboxctl_opts.h: qasm-mboxctl's command line (pure: no I/O, no exit; the
 * caller prints the usage or the one-line error and exits 2).
 */
#ifndef QASM_MBOXCTL_OPTS_H
#define QASM_MBOXCTL_OPTS_H

#include <stddef.h>

#include "middleboxes/io/control_proto.h"

struct qasm_mboxctl_opts {
    struct qasm_control_req req; /* the command: list, events or stats; --json */
    const char *control;         /* --control PATH (NULL: find the default socket) */
    unsigned long count;         /* events: stop after this many (0: never) */
};

/*
 * qasm_mboxctl_opts_parse fills |o| from argv. Returns 0; 1 for --help / -h
 * (print qasm_mboxctl_usage() on stdout, exit 0); -1 with a one-line
 * message ending in "(see --help)" in |err|.
 */
int qasm_mboxctl_opts_parse(int argc, char **argv, struct qasm_mboxctl_opts *o, char *err,
                            size_t errlen);

/* qasm_mboxctl_usage returns the --help text. */
const char *qasm_mboxctl_usage(void);

#endif
