/*
 * capture_opts.h: qasm-capture's command line (pure: no I/O, no exit; the
 * caller prints the usage or the error and exits).
 */
#ifndef QASM_CAPTURE_OPTS_H
#define QASM_CAPTURE_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"

struct qasm_capture_opts {
    const char *out;        /* -w, --write (required; "-" = stdout) */
    const char *iface;      /* -i, --interface ("lo") */
    const char *filter;     /* -f, --filter ("udp") */
    qasm_duration duration; /* --duration (0 = until a signal) */
    uint64_t count;         /* --count (0 = unbounded) */
    int snaplen;            /* --snaplen (65535) */
    int buffer_mb;          /* --buffer-mb (16) */
    int json;               /* --json */
};

/*
 * qasm_capture_opts_parse fills |o| from argv. Returns 0; 1 for --help (the
 * caller prints qasm_capture_usage() on stdout, exit 0); -1 with a one-line
 * message in |err| (the caller prints "qasm-capture: ERR", exit 2).
 */
int qasm_capture_opts_parse(int argc, char **argv, struct qasm_capture_opts *o, char *err,
                            size_t errlen);

/* qasm_capture_usage returns the --help text. */
const char *qasm_capture_usage(void);

#endif
