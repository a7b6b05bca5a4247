/*
 * serveropts.h: qasm-h3-server's command line (pure: no I/O, no exit; the
 * caller prints the usage or the error and exits 2).
 */
#ifndef QASM_H3_SERVEROPTS_H
#define QASM_H3_SERVEROPTS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "clock.h"
#include "parse.h"

#define QASM_H3S_MAX_LISTEN 16
#define QASM_H3S_SECRET_LEN 32

struct qasm_h3s_opts {
    struct qasm_addr listen[QASM_H3S_MAX_LISTEN];  /* --listen (at least one) */
    size_t nlisten;
    const char *cert, *key;          /* --cert and --key (both or neither) */
    const char *write_cert, *write_key;
    unsigned cid_len;                /* --cid-len (18) */
    qasm_duration idle_timeout;      /* --idle-timeout (30 s) */
    qasm_duration initial_rtt;       /* --initial-rtt (10 ms) */
    qasm_duration max_ack_delay;     /* --max-ack-delay (1 ms) */
    int have_secret;                 /* --secret given (else the caller draws one) */
    uint8_t secret[QASM_H3S_SECRET_LEN];
    int stateless_reset;             /* 0 with --no-stateless-reset */
    int json;                        /* 0 with --no-json */
    int gso;                         /* --gso */
    int log_level;                   /* --log-level (QASM_LOG_WARN) */
    const char *qlog_dir;            /* --qlog-dir: one qlog file per connection (NULL: none) */
    struct qasm_parse_names names;   /* --listen host names, resolved by the caller */
};

/*
 * qasm_h3s_opts_parse fills |o| from argv. Returns 0; 1 for --help (the
 * caller prints qasm_h3s_usage() on stdout, exit 0); -1 with a one-line
 * message in |err| (the caller prints "qasm-h3-server: ERR", exit 2).
 */
int qasm_h3s_opts_parse(int argc, char **argv, struct qasm_h3s_opts *o, char *err, size_t errlen);

/* qasm_h3s_usage returns the --help text. */
const char *qasm_h3s_usage(void);

#endif
