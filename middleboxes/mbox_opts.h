/*
 * mbox_opts.h: qasm-mbox's command line into the core's configuration and
 * the shell's settings. Pure: no I/O, no exit (the --tracker-key file is
 * named here and loaded by the caller); the caller prints the usage or the
 * error and exits 2.
 */
#ifndef QASM_MBOX_OPTS_H
#define QASM_MBOX_OPTS_H

#include <stddef.h>

#include "addr.h"
#include "mbox.h"
#include "mbox_flags.h"
#include "parse.h"

/* Longest --control path + 1 (a Unix socket's sun_path). */
#define QASM_MBOX_CONTROL_PATH_MAX 108

struct qasm_mbox_opts {
    enum qasm_mbox_function function;  /* argv[1]: nat, ratelimit or lb */
    enum qasm_mbox_mode mode;          /* --mode (required) */
    const char *mode_s;
    int have_listen, have_upstream, have_tracker;
    struct qasm_addr listen, upstream, tracker;
    struct qasm_parse_files tracker_keys; /* --tracker-key FILE, in order (the caller loads) */
    struct qasm_parse_names names;     /* --listen/--upstream/--tracker host names (caller resolves) */
    double keepalive;                  /* --tracker-keepalive in s; 0 = the session's default */
    const char *stats_path;            /* --stats-json */
    int have_metrics;                  /* --metrics */
    struct qasm_addr metrics;          /* --metrics HOST:PORT (Prometheus endpoint) */
    size_t stats_entries;              /* --stats-entries (0) */
    int log_level;                     /* --log-level (QASM_LOG_INFO) */
    size_t max_datagram;               /* --max-datagram (0 = the relay's default) */
    size_t max_flows;                  /* --max-flows (0 = the relay's default) */
    int core_batch;                    /* --core-batch */
    int io_packet;                     /* --io packet (or xdp) */
    int io_xdp;                        /* --io xdp */
    int xdp_generic;                   /* --xdp-generic */
    const char *inside, *outside;      /* --inside, --outside (packet io) */
    const char *control_path;          /* --control PATH (NULL: the default path) */
    int control_off;                   /* --control none */
    struct qasm_mbox_flags fl;         /* the function's flags (holds the backends) */
    struct qasm_mbox_config cfg;       /* the core's configuration, flags applied */
};

/*
 * qasm_mbox_opts_parse fills |o| from argv (argv[1] is the function).
 * Returns 0; 1 when --help or -h is anywhere (the caller prints
 * qasm_mbox_usage() on stdout, exit 0); -1 with a one-line message ending in
 * "(see --help)" in |err| (the caller prints "qasm-mbox: ERR", exit 2).
 * |o->cfg| refers to |o->fl|: keep |o| alive as long as the core.
 */
/*
 * qasm_mbox_opts_addr_defaults sets what depends on the addresses' family
 * (the NAT's public IP is ::1 for an IPv6 --listen): the parse calls it, and
 * the caller again once it has resolved |o->names|.
 */
void qasm_mbox_opts_addr_defaults(struct qasm_mbox_opts *o);

int qasm_mbox_opts_parse(int argc, char **argv, struct qasm_mbox_opts *o, char *err,
                         size_t errlen);

/* qasm_mbox_usage returns the --help text. */
const char *qasm_mbox_usage(void);

#endif
