/*
 * daemon_opts.h: qasm-tracker's command line (pure: no I/O, no exit; the
 * --key and --store-auth files are named here and read by the caller, which
 * prints the usage or the error and exits 2).
 */
#ifndef QASM_TRACKER_OPTS_H
#define QASM_TRACKER_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "addr.h"
#include "clock.h"
#include "budget.h"
#include "parse.h"
#include "store.h"

#define QASM_TRACKER_MAX_LISTEN 8

struct qasm_tracker_opts {
    struct qasm_addr listen[QASM_TRACKER_MAX_LISTEN]; /* --listen (default 127.0.0.1:4790 and
                                                         [::1]:4790) */
    int nlisten;
    int listen_default; /* no --listen: the IPv6 loopback is tried, not required */
    struct qasm_store_config cfg;  /* --ttl, --close-linger, then the bounds and trust */
    struct qasm_budget lim;        /* --max-*, --reserved-sessions (AUTO: from the budget) */
    struct qasm_access access;     /* --trust, --allow (the key: the caller loads it) */
    qasm_duration max_wait, session_idle, store_timeout;
    int evict;                     /* --at-max-conns evict (1) | refuse (0) */
    const char *store_spec;        /* --store ("memory") */
    int log_level;                 /* --log-level (QASM_LOG_INFO) */
    struct qasm_parse_files files; /* --key ('K') and --store-auth ('a') files, in order */
    struct qasm_parse_names names; /* --listen / --metrics host names, resolved by the caller */
    int have_metrics;              /* --metrics HOST:PORT: the Prometheus endpoint */
    struct qasm_addr metrics;
};

#define QASM_TRACKER_HELP 1          /* --help: the usage on stdout, exit 0 */
#define QASM_TRACKER_BAD_OPTION (-2) /* getopt's own message in err, then the usage on stderr */

/*
 * qasm_tracker_opts_parse fills |o| from argv. Returns 0; QASM_TRACKER_HELP;
 * QASM_TRACKER_BAD_OPTION with getopt's message in |err|; or -1 with a
 * message the caller prints after "qasm-tracker: " (exit 2 for all errors).
 */
int qasm_tracker_opts_parse(int argc, char **argv, struct qasm_tracker_opts *o, char *err,
                            size_t errlen);

/*
 * qasm_tracker_opts_finish derives the bounds from the memory budget
 * (|phys_mem| bytes of RAM, 0 if unknown) and fills o->cfg with them. 0, or
 * -1 with a message as above.
 */
int qasm_tracker_opts_finish(struct qasm_tracker_opts *o, uint64_t phys_mem, char *err,
                             size_t errlen);

/* qasm_tracker_usage writes the --help text into |buf|; its length (snprintf's). */
int qasm_tracker_usage(char *buf, size_t len);

#endif
