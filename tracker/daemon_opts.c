/* daemon_opts.c: qasm-tracker's command line (see daemon_opts.h). */
#include "daemon_opts.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "parse.h"
#include "proto.h"

int qasm_tracker_usage(char *buf, size_t len)
{
    return snprintf(buf, len,
            "usage: qasm-tracker [options]\n"
            "The QASM tracking agent: agents report QUIC connections over UDP; middleboxes\n"
            "query and subscribe over TCP on the same port (docs/PROTOCOL.md).\n"
            "\n"
            "  --listen HOST:PORT   address to serve, IPv4 or [IPv6] (repeatable, up to %d;\n"
            "                       default 127.0.0.1:%d and [::1] (if the host has IPv6), so\n"
            "                       agents report IPv4 and IPv6 connections over their own\n"
            "                       family; [::]:PORT serves IPv4 too; port 0:\n"
            "                       a free port, the same for UDP and TCP, shown in the\n"
            "                       \"listening on\" log line)\n"
            "  --ttl DUR            idle connections expire after DUR (default 120s)\n"
            "  --close-linger DUR   keep closed connections this long (default 2s)\n"
            "  --max-memory SIZE    the memory budget every default cap below is derived from\n"
            "                       (default a quarter of RAM, at least 64M; K, M, G suffixes;\n"
            "                       at least 32M; docs/TRACKER.md \"Bounds\")\n"
            "  --max-conns N        global connection cap (default: the budget's half / 512 bytes,\n"
            "                       at most 1000000; 0 = none)\n"
            "  --max-per-ip N       connections per reporting client IP (default 1024; 0 = none)\n"
            "  --max-per-prefix N   connections per reporting /24 (IPv4) or /48 (IPv6) (default\n"
            "                       max-conns/16, at least 16 x max-per-ip; none if not below\n"
            "                       max-conns or with --max-per-ip 0; 0 = none)\n"
            "  --at-max-conns evict|refuse\n"
            "                       at the global cap, a new connection evicts the least recently\n"
            "                       reported one of the prefix holding the most, if that holds\n"
            "                       more than the newcomer's (evict, default), or is refused\n"
            "  --trust source|any|mac  source: accept a report only for a client address whose\n"
            "                       IP is the datagram's source IP (default); any: from any\n"
            "                       source; mac: only a report whose key MAC verifies under\n"
            "                       --key, from any source (agents behind NAT, IPv6 <-> IPv4)\n"
            "  --key FILE           shared key (16..256 bytes; the file must not be readable by\n"
            "                       group or other): TCP sessions must prove it before any\n"
            "                       request is answered; a report's key MAC must verify\n"
            "  --allow PREFIX       only peers in IP[/BITS] may open TCP sessions (repeatable,\n"
            "                       up to %d; default: all)\n"
            "  --max-wait DUR       cap on a QUERY's wait (default 1s)\n"
            "  --max-subs N         subscriptions + waits per session (default: a quarter of all,\n"
            "                       which is the budget's quarter / 256 bytes; at most 1000000)\n"
            "  --max-sessions N     concurrent TCP sessions (default: the budget's quarter / 1.06 MiB,\n"
            "                       16 to 1024)\n"
            "  --max-sessions-per-ip N\n"
            "                       TCP sessions per peer IP (default max-sessions/16, 4 to 64;\n"
            "                       0 = none)\n"
            "  --reserved-sessions N\n"
            "                       sessions never taken by unauthenticated ones (default\n"
            "                       max-sessions/4)\n"
            "  --session-idle DUR   close a session without subscriptions or waits that sent no\n"
            "                       request and took no output for DUR (default 120s; 0 = never)\n"
            "  --store SPEC         where the state lives: memory (default, this process),\n"
            "                       redis://HOST:PORT or redis-cluster://HOST:PORT[,HOST:PORT...]\n"
            "                       (trackers on one Redis share their connections; docs/SCALE-OUT.md)\n"
            "  --store-auth FILE    Redis AUTH: the file holds PASSWORD or USER PASSWORD (ACL),\n"
            "                       one line, readable by its owner only\n"
            "  --store-timeout DUR  how long a QUERY without wait, not known here, waits for the\n"
            "                       shared store (default 100ms; then NOT_FOUND)\n"
            "  --metrics HOST:PORT  serve the counters of qasm-trackctl stats at\n"
            "                       http://HOST:PORT/metrics in the Prometheus text format\n"
            "                       (docs/METRICS.md); port 0: a free one, in the log\n"
            "  --log-level LEVEL    debug|info|warn|error|off (default info)\n"
            "  -h, --help           this text\n"
            "  --version            print the version and the commit it was built from\n"
            "Signals: SIGTERM/SIGINT exit cleanly; SIGUSR1 prints counters to stderr.\n"
            "DUR: a number with a unit, ns, us, ms, s, m or h (250ms, 1.5s, 5m, 1h);\n"
            "a bare number is seconds.\n",
            QASM_TRACKER_MAX_LISTEN, QASM_PROTO_DEFAULT_PORT, QASM_ACCESS_MAX_ALLOW);
}

static const struct option tracker_lopts[] = {
    QASM_PARSE_OPT_ARG("listen", 'l'),
    QASM_PARSE_OPT_ARG("ttl", 't'),
    QASM_PARSE_OPT_ARG("close-linger", 'c'),
    QASM_PARSE_OPT_ARG("max-conns", 'm'),
    QASM_PARSE_OPT_ARG("max-per-ip", 'p'),
    QASM_PARSE_OPT_ARG("trust", 'T'),
    QASM_PARSE_OPT_ARG("key", 'K'),
    QASM_PARSE_OPT_ARG("store-auth", 'a'),
    QASM_PARSE_OPT_ARG("allow", 'A'),
    QASM_PARSE_OPT_ARG("max-wait", 'w'),
    QASM_PARSE_OPT_ARG("max-subs", 's'),
    QASM_PARSE_OPT_ARG("max-sessions", 'S'),
    QASM_PARSE_OPT_ARG("log-level", 'L'),
    QASM_PARSE_OPT_ARG("store", 'R'),
    QASM_PARSE_OPT_ARG("store-timeout", 'r'),
    QASM_PARSE_OPT_ARG("max-memory", 'M'),
    QASM_PARSE_OPT_ARG("max-per-prefix", 'P'),
    QASM_PARSE_OPT_ARG("at-max-conns", 'E'),
    QASM_PARSE_OPT_ARG("max-sessions-per-ip", 'I'),
    QASM_PARSE_OPT_ARG("reserved-sessions", 'V'),
    QASM_PARSE_OPT_ARG("session-idle", 'i'),
    QASM_PARSE_OPT_ARG("metrics", 'x'),
    QASM_PARSE_OPT_FLAG("help", 'h'),
    QASM_PARSE_OPT_END,
};

static int bad_value(char *err, size_t errlen, const char *flag, const char *val)
{
    return qasm_parse_errf(err, errlen, "invalid value for %s: '%s' (see --help)", flag, val);
}

static int parse_count(size_t *out, const char *s)
{
    uint64_t v;
    if (qasm_parse_u64(&v, s, 0, SIZE_MAX) < 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_bytes(size_t *out, const char *s)
{
    uint64_t v;
    if (qasm_parse_size(&v, s, 0, SIZE_MAX) < 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* The bounds (--max-*, --reserved-sessions); 1 = not one. */
static int opt_bound(struct qasm_tracker_opts *o, int c, const char *a, char *err, size_t errlen)
{
    struct qasm_budget *l = &o->lim;
    static const struct {
        int c;
        const char *flag;
        size_t off;
    } counts[] = {
        { 'm', "--max-conns", offsetof(struct qasm_budget, max_conns) },
        { 'p', "--max-per-ip", offsetof(struct qasm_budget, max_per_ip) },
        { 's', "--max-subs", offsetof(struct qasm_budget, max_subs) },
        { 'S', "--max-sessions", offsetof(struct qasm_budget, max_sessions) },
        { 'P', "--max-per-prefix", offsetof(struct qasm_budget, max_per_prefix) },
        { 'I', "--max-sessions-per-ip", offsetof(struct qasm_budget, max_sessions_per_ip) },
        { 'V', "--reserved-sessions", offsetof(struct qasm_budget, reserved_sessions) },
    };
    if (c == 'M') {
        if (parse_bytes(&l->max_memory, a) < 0 || l->max_memory < QASM_BUDGET_MIN_MEMORY)
            return bad_value(err, errlen, "--max-memory", a);
        return 0;
    }
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        if (counts[i].c != c)
            continue;
        size_t *v = (size_t *)(void *)((char *)l + counts[i].off);
        if (parse_count(v, a) < 0 || (c == 'S' && *v == 0))
            return bad_value(err, errlen, counts[i].flag, a);
        return 0;
    }
    return 1;
}

/* Durations; 1 = not one. */
static int opt_time(struct qasm_tracker_opts *o, int c, const char *a, char *err, size_t errlen)
{
    switch (c) {
    case 't':
        if (qasm_duration_parse(&o->cfg.ttl, a) < 0 || o->cfg.ttl == 0)
            return bad_value(err, errlen, "--ttl", a);
        return 0;
    case 'c':
        if (qasm_duration_parse(&o->cfg.close_linger, a) < 0)
            return bad_value(err, errlen, "--close-linger", a);
        return 0;
    case 'w':
        if (qasm_duration_parse(&o->max_wait, a) < 0)
            return bad_value(err, errlen, "--max-wait", a);
        return 0;
    case 'i':
        if (qasm_duration_parse(&o->session_idle, a) < 0)
            return bad_value(err, errlen, "--session-idle", a);
        return 0;
    case 'r':
        if (qasm_duration_parse(&o->store_timeout, a) < 0 || o->store_timeout == 0)
            return bad_value(err, errlen, "--store-timeout", a);
        return 0;
    }
    return 1;
}

/* Addresses, access, store and log; 1 = not one. */
static int opt_other(struct qasm_tracker_opts *o, int c, const char *a, char *err, size_t errlen)
{
    switch (c) {
    case 'l':
        if (o->nlisten == QASM_TRACKER_MAX_LISTEN)
            return qasm_parse_errf(err, errlen, "at most %d --listen", QASM_TRACKER_MAX_LISTEN);
        if (qasm_parse_addr(&o->listen[o->nlisten], a, "--listen", &o->names) < 0)
            return bad_value(err, errlen, "--listen", a);
        o->nlisten++;
        return 0;
    case 'x':
        if (qasm_parse_addr(&o->metrics, a, "--metrics", &o->names) < 0)
            return bad_value(err, errlen, "--metrics", a);
        o->have_metrics = 1;
        return 0;
    case 'T':
        if (strcmp(a, "source") == 0)
            o->access.trust = QASM_TRUST_SOURCE;
        else if (strcmp(a, "any") == 0)
            o->access.trust = QASM_TRUST_ANY;
        else if (strcmp(a, "mac") == 0)
            o->access.trust = QASM_TRUST_MAC;
        else
            return bad_value(err, errlen, "--trust", a);
        return 0;
    case 'K':
    case 'a':
        qasm_parse_files_add(&o->files, c, a);
        return 0;
    case 'A':
        if (qasm_access_allow_add(&o->access, a) < 0)
            return bad_value(err, errlen, "--allow", a);
        return 0;
    case 'R': o->store_spec = a; return 0;
    case 'E':
        if (strcmp(a, "evict") == 0)
            o->evict = 1;
        else if (strcmp(a, "refuse") == 0)
            o->evict = 0;
        else
            return bad_value(err, errlen, "--at-max-conns", a);
        return 0;
    case 'L':
        o->log_level = qasm_log_level_parse(a);
        if (o->log_level < 0)
            return bad_value(err, errlen, "--log-level", a);
        return 0;
    }
    return 1;
}

int qasm_tracker_opts_parse(int argc, char **argv, struct qasm_tracker_opts *o, char *err,
                            size_t errlen)
{
    memset(o, 0, sizeof(*o));
    qasm_store_config_default(&o->cfg);
    qasm_budget_init(&o->lim);
    o->max_wait = QASM_SEC;
    o->session_idle = 120 * QASM_SEC;
    o->store_timeout = 100 * QASM_MS;
    o->evict = 1;
    o->store_spec = "memory";
    o->log_level = QASM_LOG_INFO;
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0; /* getopt's messages come back in err (qasm_parse_getopt_errf) */
    int c, rv;
    while ((c = getopt_long(argc, argv, "h", tracker_lopts, NULL)) != -1) {
        if (c == 'h')
            return QASM_TRACKER_HELP;
        rv = opt_bound(o, c, optarg, err, errlen);
        if (rv == 1)
            rv = opt_time(o, c, optarg, err, errlen);
        if (rv == 1)
            rv = opt_other(o, c, optarg, err, errlen);
        if (rv == 1) {
            qasm_parse_getopt_errf(err, errlen, argc, argv, "h", tracker_lopts);
            return QASM_TRACKER_BAD_OPTION;
        }
        if (rv < 0)
            return rv;
    }
    if (optind < argc)
        return qasm_parse_errf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    int have_key = 0;
    for (int i = 0; i < o->files.n; i++)
        have_key |= o->files.kind[i] == 'K';
    if (o->access.trust == QASM_TRUST_MAC && !have_key)
        return qasm_parse_errf(err, errlen, "--trust mac needs --key FILE");
    return 0;
}

int qasm_tracker_opts_finish(struct qasm_tracker_opts *o, uint64_t phys_mem, char *err,
                             size_t errlen)
{
    o->cfg.trust_any = qasm_access_store_trust_any(&o->access);
    if (qasm_budget_derive(&o->lim, phys_mem) < 0)
        return qasm_parse_errf(err, errlen, "--max-memory below %zu bytes",
                               (size_t)QASM_BUDGET_MIN_MEMORY);
    if (o->lim.reserved_sessions >= o->lim.max_sessions)
        return qasm_parse_errf(err, errlen,
                               "--reserved-sessions must be below --max-sessions (%zu)",
                               o->lim.max_sessions);
    o->cfg.max_conns = o->lim.max_conns;
    o->cfg.max_per_ip = o->lim.max_per_ip;
    o->cfg.max_per_prefix = o->lim.max_per_prefix;
    o->cfg.evict = o->evict;
    if (o->nlisten == 0) {
        /* Both loopbacks: an agent reports each connection over its own family
         * (QASM_TRACKER=localhost:4790 or both addresses), which --trust source needs. */
        qasm_addr_parse(&o->listen[0], "127.0.0.1:4790");
        qasm_addr_parse(&o->listen[1], "[::1]:4790");
        o->nlisten = 2;
        o->listen_default = 1;
    }
    return 0;
}
