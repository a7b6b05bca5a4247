/*
 * mbox_flags.h: the command-line flags of a middlebox function (NAT pool,
 * timeouts, bucket, backends, hold queue), shared by qasm-mbox and
 * qasm-replay so both accept exactly the same flags with the same errors.
 * Pure: values are collected while the command line is read, then parsed
 * into a qasm_mbox_config once the function and mode are known.
 */
#ifndef QASM_MBOX_FLAGS_H
#define QASM_MBOX_FLAGS_H

#include <getopt.h>
#include <stddef.h>

#include "mbox.h"
#include "parse.h"

/*
 * QASM_MBOX_FLAG_OPTIONS(VAL) expands to the getopt_long entries of the
 * function flags, all returning VAL; the caller then passes the entry's
 * name (long_opts[longindex].name) to qasm_mbox_flags_take.
 */
#define QASM_MBOX_FLAG_OPTIONS(VAL)                                                               \
    { "public", required_argument, NULL, (VAL) }, { "ports", required_argument, NULL, (VAL) },    \
    { "udp-timeout", required_argument, NULL, (VAL) },                                            \
    { "udp-stream-timeout", required_argument, NULL, (VAL) },                                     \
    { "rate", required_argument, NULL, (VAL) }, { "burst", required_argument, NULL, (VAL) },      \
    { "bytes", no_argument, NULL, (VAL) }, { "backend", required_argument, NULL, (VAL) },         \
    { "hold", required_argument, NULL, (VAL) }, { "hold-max", required_argument, NULL, (VAL) },   \
    { "hold-per-dcid", required_argument, NULL, (VAL) },                                          \
    { "hold-ceiling", required_argument, NULL, (VAL) },                                           \
    { "cache-ttl", required_argument, NULL, (VAL) },                                              \
    { "query-timeout", required_argument, NULL, (VAL) },                                          \
    { "max-entries", required_argument, NULL, (VAL) }, { "seed", required_argument, NULL, (VAL) }, \
    { "fallback-per-conn", required_argument, NULL, (VAL) }

struct qasm_mbox_flags {
    const char *public_ip, *ports, *udp_timeout, *udp_stream, *rate, *burst, *hold, *hold_max,
            *hold_per, *hold_ceiling, *cache_ttl, *query_timeout, *max_entries, *seed,
            *fallback_per_conn;
    int bytes;
    struct qasm_addr backends[QASM_MBOX_MAX_BACKENDS];
    size_t nbackends;
    struct qasm_parse_names names;  /* --backend host names: the program resolves them */
};

/*
 * qasm_mbox_flags_take records flag |name| (without "--") with |arg| (NULL
 * for --bytes). Returns 1 when it is a function flag, 0 when it is not, or
 * -1 with a one-line message in |err| (a bad or surplus --backend).
 */
int qasm_mbox_flags_take(struct qasm_mbox_flags *f, const char *name, const char *arg, char *err,
                         size_t errlen);

/*
 * qasm_mbox_flags_apply checks that each flag suits |cfg|'s function and
 * parses the values into |cfg| (already set by qasm_mbox_config_init; the
 * backends stay in |f|, which must outlive |cfg|). Returns 0, or -1 with a
 * one-line message such as "--ports: expected LO-HI ..." in |err|.
 */
int qasm_mbox_flags_apply(const struct qasm_mbox_flags *f, struct qasm_mbox_config *cfg, char *err,
                          size_t errlen);

#endif
