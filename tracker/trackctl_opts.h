/*
 * trackctl_opts.h: qasm-trackctl's command line (pure: no I/O, no exit; the
 * --key file is named here and loaded by the caller, which prints the usage
 * or the error and exits 2).
 */
#ifndef QASM_TRACKCTL_OPTS_H
#define QASM_TRACKCTL_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "auth.h"
#include "cid.h"
#include "clock.h"
#include "parse.h"
#include "proto.h"

enum qasm_trackctl_cmd {
    QASM_TRACKCTL_DUMP, QASM_TRACKCTL_QUERY, QASM_TRACKCTL_WATCH, QASM_TRACKCTL_STATS,
    QASM_TRACKCTL_REPORT, QASM_TRACKCTL_KEYGEN,
};

struct qasm_trackctl_opts {
    struct qasm_addr tracker;
    int json;
    qasm_duration timeout;
    int timeout_set;
    long count;
    /* query */
    struct qasm_addr server;
    uint32_t wait_ms;
    /* report */
    struct qasm_cid odcid;
    struct qasm_cid scid;
    struct qasm_cid dcids[QASM_PROTO_MAX_DCIDS];
    int ndcids;
    uint64_t dcid_seq0;
    struct qasm_addr client, client0;
    uint32_t seq;
    int seq_set;
    int close;
    int type;
    uint8_t secret[QASM_PROTO_SECRET_LEN];
    int secret_set;
    struct qasm_auth_key key; /* --key: sessions prove it, reports carry a key MAC (the caller loads it) */
    struct qasm_parse_files keys; /* --key FILE, in order (the caller loads them) */
    struct qasm_parse_names names; /* --tracker as a host name, resolved by the caller */
    enum qasm_trackctl_cmd cmd;
    const char *arg;          /* the command's argument (query, watch, keygen), or NULL */
};

/* qasm_trackctl_opts_parse's returns besides 0 and -1. */
#define QASM_TRACKCTL_HELP 1         /* --help: print the usage on stdout, exit 0 */
#define QASM_TRACKCTL_BAD_OPTION (-2) /* getopt's own message in err, then the usage on stderr */

/*
 * qasm_trackctl_opts_parse fills |o| from argv. Returns 0;
 * QASM_TRACKCTL_HELP; QASM_TRACKCTL_BAD_OPTION with getopt's message
 * ("PROG: unrecognized option '--x'") in |err|; or -1 with a message that
 * the caller prints after "qasm-trackctl: " (exit 2 for both).
 */
int qasm_trackctl_opts_parse(int argc, char **argv, struct qasm_trackctl_opts *o, char *err,
                             size_t errlen);

/* qasm_trackctl_usage writes the --help text into |buf|; its length (snprintf's). */
int qasm_trackctl_usage(char *buf, size_t len);

/* qasm_trackctl_parse_type maps open|dcid|retire|addr|close|refresh to a report type; -1 if none. */
int qasm_trackctl_parse_type(const char *s);

#endif
