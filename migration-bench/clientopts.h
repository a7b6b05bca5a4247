/*
 * clientopts.h: command-line options of qasm-h3-client and the small
 * parsers they need (URLs, sizes with k/M/G suffixes, address ranges).
 * Pure: no I/O besides nothing; errors are returned as text.
 */
#ifndef QASM_H3_CLIENTOPTS_H
#define QASM_H3_CLIENTOPTS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "clock.h"
#include "migrate.h"
#include "parse.h"

#define QASM_H3C_MAX_URLS 16
/* --migrate-ahead's bound: the client agent keeps 4 announced paths per connection. */
#define QASM_H3C_MAX_AHEAD 4

struct qasm_url {
    char host[256];   /* without brackets */
    uint16_t port;
    char path[1024];
    char authority[300];
};

enum qasm_mig_kind {
    QASM_MIG_KIND_PORT = 0,  /* new port on the same local IP, new DCID */
    QASM_MIG_KIND_ADDR = 1,  /* next IP of --local-addrs, new DCID */
};

struct qasm_h3c_opts {
    struct qasm_url urls[QASM_H3C_MAX_URLS];
    size_t nurls;
    int have_connect;
    struct qasm_addr connect;        /* --connect */
    struct qasm_parse_names names;   /* --connect as a host name, resolved by the caller */
    unsigned connections;            /* --connections (1) */
    uint64_t requests;               /* --requests per connection (1 unless --duration) */
    qasm_duration duration;          /* --duration (0 = by request count) */
    qasm_duration grace;             /* --grace: requests in flight at --duration's end (2 s) */
    qasm_duration handshake_timeout; /* --handshake-timeout (5 s) */
    unsigned concurrency;            /* --concurrency (1) */
    int have_size;
    uint64_t size;                   /* --size: fetch /bytes/N */
    qasm_duration interval;          /* --interval between request starts */
    enum qasm_mig_mode mig_mode;
    qasm_duration mig_period;        /* --migrate-hz / --migrate-every */
    uint64_t mig_packets;            /* --migrate-every-packets */
    enum qasm_mig_kind mig_kind;     /* --migrate-kind */
    int rebind;                      /* --rebind: set_local_addr, same DCID */
    unsigned mig_ahead;              /* --migrate-ahead: next sockets bound (and announced) early */
    struct qasm_addr local_lo, local_hi;  /* --local-addrs range (IPs; port 0) */
    int have_local_addrs;
    int json;
    const char *csv, *timeline, *output, *qlog_dir;
    int verify;                      /* --verify: check /bytes/N bodies */
    qasm_duration idle_timeout;      /* --idle-timeout (30 s) */
    qasm_duration initial_rtt;       /* --initial-rtt (10 ms) */
    qasm_duration max_ack_delay;     /* --max-ack-delay (1 ms) */
    unsigned cid_len;                /* --cid-len, client SCID length (0) */
    unsigned keep_sockets;           /* --keep-sockets: old paths kept open (16) */
    qasm_duration keep_sockets_for;  /* --keep-sockets-for: and those retired since (500 ms) */
    qasm_duration keep_alive;        /* --keep-alive: PING after this much silence (50 ms) */
    int gso;                         /* --gso: send with UDP GSO */
    const char *log_level;
};

/*
 * qasm_h3c_opts_parse fills |o| from argv. Returns 0; 1 when --help was
 * given (usage printed by the caller); -1 with a one-line message in |err|.
 */
int qasm_h3c_opts_parse(struct qasm_h3c_opts *o, int argc, char **argv, char *err, size_t errlen);

/* qasm_h3c_usage returns the --help text. */
const char *qasm_h3c_usage(void);

/* qasm_url_parse parses "https://host[:port]/path" (host may be "[v6]"). 0 or -EINVAL. */
int qasm_url_parse(struct qasm_url *u, const char *s);

#endif
