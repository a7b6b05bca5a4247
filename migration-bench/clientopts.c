/* clientopts.c: qasm-h3-client options (see clientopts.h). */
#include "clientopts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static const char usage_text[] =
    "Usage: qasm-h3-client [options] URL...\n"
    "HTTP/3 client (ngtcp2 + nghttp3) that migrates its connections on a schedule.\n"
    "URL is https://HOST[:PORT]/PATH; requests cycle through the URLs' paths.\n"
    "  --connect HOST:PORT      send packets to this address (e.g. a middlebox); the URL\n"
    "                           still gives the authority\n"
    "  --connections N          parallel connections (1)\n"
    "  --requests N             requests per connection (1)\n"
    "  --duration T             send requests for T (e.g. 10s) instead of --requests;\n"
    "                           the run ends at T plus at most --grace\n"
    "  --grace T                with --duration: how long requests in flight at its end\n"
    "                           may take to finish (2s); then they are cut (requests_cut,\n"
    "                           not failed) and the connections close\n"
    "  --concurrency C          streams in flight per connection (1)\n"
    "  --size N                 fetch /bytes/N instead of the URL path (k/M/G suffixes)\n"
    "  --interval T             time between request starts on a connection (0)\n"
    "  --migrate-hz F           migrate every 1/F s (0 < F <= 100000; tested up to 1000)\n"
    "  --migrate-every T        migrate every T (e.g. 10ms)\n"
    "  --migrate-every-packets K  migrate after every K packets sent\n"
    "  --migrate-kind port|addr new port on the same IP, or the next --local-addrs IP\n"
    "  --local-addrs A[-B]      local IPv4 addresses for --migrate-kind addr\n"
    "  --rebind                 change the local address without a new DCID (NAT rebinding)\n"
    "  --migrate-ahead N        bind the sockets of the next N migrations early (1-4) and,\n"
    "                           with the client agent preloaded, announce them to the tracker\n"
    "  --json                   print a JSON summary on stdout\n"
    "  --csv FILE               one row per request\n"
    "  --timeline FILE          throughput per 100 ms\n"
    "  --output FILE            write the response bodies to FILE\n"
    "  --verify                 check /bytes/N bodies against the server's pattern\n"
    "  --qlog-dir DIR           write ngtcp2 qlog files into DIR\n"
    "  --handshake-timeout T    fail a connection whose handshake has not completed\n"
    "                           after T (5s): \"handshake timed out\", exit status 1\n"
    "  --idle-timeout T         QUIC idle timeout (30s); also fails a connection whose\n"
    "                           requests get no response data for that long\n"
    "  --initial-rtt T          initial RTT estimate (10ms)\n"
    "  --max-ack-delay T        advertised max_ack_delay (1ms)\n"
    "  --cid-len N              length of the client's connection IDs, 0..20 (0, as\n"
    "                           browsers do; see docs/BENCHMARKS.md before changing it)\n"
    "  --keep-sockets N         old sockets always kept open and read after migrations (16)\n"
    "  --keep-sockets-for T     also keep those replaced less than T ago (500ms; max 1024)\n"
    "  --keep-alive T           send a PING after T without traffic on the current path,\n"
    "                           so a peer stuck on an old path comes back (50ms; 0 = off)\n"
    "  --gso                    send with UDP GSO (captures on this host then show\n"
    "                           multi-packet super-datagrams)\n"
    "  --log-level L            debug|info|warn|error (warn)\n"
    "  -h, --help               this text\n"
    "  --version                print the version and the commit it was built from\n"
    "T: a number with a unit, ns, us, ms, s, m or h (250ms, 1.5s, 5m, 1h);\n"
    "a bare number is seconds.\n"
    "SSLKEYLOGFILE=FILE writes TLS secrets for Wireshark. Exit status 1 when any request\n"
    "failed, 2 on bad usage.\n";

const char *qasm_h3c_usage(void)
{
    return usage_text;
}

int qasm_url_parse(struct qasm_url *u, const char *s)
{
    const char *p, *hend, *path;
    size_t hl;
    memset(u, 0, sizeof(*u));
    if (strncmp(s, "https://", 8) != 0)
        return -EINVAL;
    p = s + 8;
    path = strchr(p, '/');
    if (!path)
        path = p + strlen(p);
    if (*p == '[') {
        hend = memchr(p, ']', (size_t)(path - p));
        if (!hend)
            return -EINVAL;
        hl = (size_t)(hend - p - 1);
        if (hl == 0 || hl >= sizeof(u->host))
            return -EINVAL;
        memcpy(u->host, p + 1, hl);
        hend++;
    } else {
        hend = memchr(p, ':', (size_t)(path - p));
        if (!hend)
            hend = path;
        hl = (size_t)(hend - p);
        if (hl == 0 || hl >= sizeof(u->host))
            return -EINVAL;
        memcpy(u->host, p, hl);
    }
    u->port = 443;
    if (hend < path) {
        if (*hend != ':' || hend + 1 == path)
            return -EINVAL;
        unsigned long port = 0;
        for (const char *q = hend + 1; q < path; q++) {
            if (*q < '0' || *q > '9')
                return -EINVAL;
            port = port * 10 + (unsigned long)(*q - '0');
            if (port > 65535)
                return -EINVAL;
        }
        if (port == 0)
            return -EINVAL;
        u->port = (uint16_t)port;
    }
    if (strlen(path) >= sizeof(u->path))
        return -EINVAL;
    strcpy(u->path, *path ? path : "/");
    snprintf(u->authority, sizeof(u->authority), "%.*s", (int)(path - p), p);
    return 0;
}

enum {
    OPT_CONNECT = 256, OPT_CONNECTIONS, OPT_REQUESTS, OPT_DURATION, OPT_CONCURRENCY, OPT_SIZE,
    OPT_INTERVAL, OPT_MIG_HZ, OPT_MIG_EVERY, OPT_MIG_PKTS, OPT_MIG_KIND, OPT_LOCAL_ADDRS,
    OPT_REBIND, OPT_MIG_AHEAD, OPT_JSON, OPT_CSV, OPT_TIMELINE, OPT_OUTPUT, OPT_VERIFY, OPT_QLOG, OPT_IDLE,
    OPT_IRTT, OPT_MAD, OPT_CIDLEN, OPT_KEEP, OPT_KEEPFOR, OPT_KEEPALIVE, OPT_GSO, OPT_LOG, OPT_HELP,
    OPT_GRACE, OPT_HS_TIMEOUT,
};

static const struct option h3c_longopts[] = {
    QASM_PARSE_OPT_ARG("connect", OPT_CONNECT),
    QASM_PARSE_OPT_ARG("connections", OPT_CONNECTIONS),
    QASM_PARSE_OPT_ARG("requests", OPT_REQUESTS),
    QASM_PARSE_OPT_ARG("duration", OPT_DURATION),
    QASM_PARSE_OPT_ARG("grace", OPT_GRACE),
    QASM_PARSE_OPT_ARG("concurrency", OPT_CONCURRENCY),
    QASM_PARSE_OPT_ARG("size", OPT_SIZE),
    QASM_PARSE_OPT_ARG("interval", OPT_INTERVAL),
    QASM_PARSE_OPT_ARG("migrate-hz", OPT_MIG_HZ),
    QASM_PARSE_OPT_ARG("migrate-every", OPT_MIG_EVERY),
    QASM_PARSE_OPT_ARG("migrate-every-packets", OPT_MIG_PKTS),
    QASM_PARSE_OPT_ARG("migrate-kind", OPT_MIG_KIND),
    QASM_PARSE_OPT_ARG("local-addrs", OPT_LOCAL_ADDRS),
    QASM_PARSE_OPT_FLAG("rebind", OPT_REBIND),
    QASM_PARSE_OPT_ARG("migrate-ahead", OPT_MIG_AHEAD),
    QASM_PARSE_OPT_FLAG("json", OPT_JSON),
    QASM_PARSE_OPT_ARG("csv", OPT_CSV),
    QASM_PARSE_OPT_ARG("timeline", OPT_TIMELINE),
    QASM_PARSE_OPT_ARG("output", OPT_OUTPUT),
    QASM_PARSE_OPT_FLAG("verify", OPT_VERIFY),
    QASM_PARSE_OPT_ARG("qlog-dir", OPT_QLOG),
    QASM_PARSE_OPT_ARG("idle-timeout", OPT_IDLE),
    QASM_PARSE_OPT_ARG("handshake-timeout", OPT_HS_TIMEOUT),
    QASM_PARSE_OPT_ARG("initial-rtt", OPT_IRTT),
    QASM_PARSE_OPT_ARG("max-ack-delay", OPT_MAD),
    QASM_PARSE_OPT_ARG("cid-len", OPT_CIDLEN),
    QASM_PARSE_OPT_ARG("keep-sockets", OPT_KEEP),
    QASM_PARSE_OPT_ARG("keep-alive", OPT_KEEPALIVE),
    QASM_PARSE_OPT_ARG("keep-sockets-for", OPT_KEEPFOR),
    QASM_PARSE_OPT_FLAG("gso", OPT_GSO),
    QASM_PARSE_OPT_ARG("log-level", OPT_LOG),
    QASM_PARSE_OPT_FLAG("help", OPT_HELP),
    QASM_PARSE_OPT_END,
};

/* What the whole command line has said so far (checked after the loop). */
struct h3c_seen {
    int have_requests;
    int have_grace;
    int nmig;  /* schedules given: only one of --migrate-hz/-every/-every-packets */
};

static void h3c_defaults(struct qasm_h3c_opts *o)
{
    *o = (struct qasm_h3c_opts){
        .connections = 1,
        .requests = 1,
        .concurrency = 1,
        .idle_timeout = 30 * QASM_SEC,
        .handshake_timeout = 5 * QASM_SEC,
        .grace = 2 * QASM_SEC,
        .initial_rtt = 10 * QASM_MS,
        .max_ack_delay = 1 * QASM_MS,
        .cid_len = 0,
        .keep_sockets = 16,
        .keep_alive = 50 * QASM_MS,
        .keep_sockets_for = 500 * QASM_MS,
        .log_level = "warn",
    };
}

/* The load options: how many connections, requests, and what to fetch. 1 = not one of them. */
static int h3c_opt_load(struct qasm_h3c_opts *o, struct h3c_seen *seen, int c, const char *a,
                        char *err, size_t errlen)
{
    uint64_t v;
    switch (c) {
    case OPT_CONNECT:
        if (qasm_parse_addr(&o->connect, a, "--connect", &o->names) < 0)
            return qasm_parse_errf(err, errlen,
                                   "--connect: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got "
                                   "'%s'", a);
        o->have_connect = 1;
        return 0;
    case OPT_CONNECTIONS:
        if (qasm_parse_u64(&v, a, 1, 10000) != 0)
            return qasm_parse_errf(err, errlen, "--connections: expected 1..10000, got '%s'", a);
        o->connections = (unsigned)v;
        return 0;
    case OPT_REQUESTS:
        if (qasm_parse_u64(&v, a, 0, UINT64_MAX) != 0)
            return qasm_parse_errf(err, errlen, "--requests: expected a count, got '%s'", a);
        o->requests = v;
        seen->have_requests = 1;
        return 0;
    case OPT_DURATION:
        if (qasm_duration_parse(&o->duration, a) != 0 || o->duration == 0)
            return qasm_parse_errf(err, errlen,
                                   "--duration: expected a duration like 10s, got '%s'", a);
        return 0;
    case OPT_GRACE:
        if (qasm_duration_parse(&o->grace, a) != 0)
            return qasm_parse_errf(err, errlen, "--grace: expected a duration like 2s, got '%s'", a);
        seen->have_grace = 1;
        return 0;
    case OPT_CONCURRENCY:
        if (qasm_parse_u64(&v, a, 1, 1000) != 0)
            return qasm_parse_errf(err, errlen, "--concurrency: expected 1..1000, got '%s'", a);
        o->concurrency = (unsigned)v;
        return 0;
    case OPT_SIZE:
        if (qasm_parse_size(&o->size, a, 0, UINT64_MAX) != 0)
            return qasm_parse_errf(err, errlen,
                                   "--size: expected a byte count like 10M, got '%s'", a);
        o->have_size = 1;
        return 0;
    case OPT_INTERVAL:
        if (qasm_duration_parse(&o->interval, a) != 0)
            return qasm_parse_errf(err, errlen, "--interval: expected a duration, got '%s'", a);
        return 0;
    }
    return 1;
}

/* The migration schedule and kind. 1 = not one of them. */
static int h3c_opt_migrate(struct qasm_h3c_opts *o, struct h3c_seen *seen, int c, const char *a,
                           char *err, size_t errlen)
{
    switch (c) {
    case OPT_MIG_HZ: {
        double hz;
        if (qasm_parse_positive(&hz, a, 100000) != 0)
            return qasm_parse_errf(err, errlen,
                                   "--migrate-hz: expected a rate in (0, 100000], got '%s'", a);
        o->mig_mode = QASM_MIG_PERIOD;
        o->mig_period = (qasm_duration)(1e9 / hz + 0.5);
        seen->nmig++;
        return 0;
    }
    case OPT_MIG_EVERY:
        if (qasm_duration_parse(&o->mig_period, a) != 0 || o->mig_period == 0)
            return qasm_parse_errf(err, errlen,
                    "--migrate-every: expected a duration like 10ms, got '%s'", a);
        o->mig_mode = QASM_MIG_PERIOD;
        seen->nmig++;
        return 0;
    case OPT_MIG_PKTS:
        if (qasm_parse_u64(&o->mig_packets, a, 1, UINT64_MAX) != 0)
            return qasm_parse_errf(err, errlen,
                    "--migrate-every-packets: expected a count >= 1, got '%s'", a);
        o->mig_mode = QASM_MIG_PACKETS;
        seen->nmig++;
        return 0;
    case OPT_MIG_KIND:
        if (strcmp(a, "port") == 0)
            o->mig_kind = QASM_MIG_KIND_PORT;
        else if (strcmp(a, "addr") == 0)
            o->mig_kind = QASM_MIG_KIND_ADDR;
        else
            return qasm_parse_errf(err, errlen,
                                   "--migrate-kind: expected port or addr, got '%s'", a);
        return 0;
    case OPT_LOCAL_ADDRS:
        if (qasm_addr_range_parse(&o->local_lo, &o->local_hi, a) != 0)
            return qasm_parse_errf(err, errlen,
                                   "--local-addrs: expected IP or IP-IP, got '%s'", a);
        o->have_local_addrs = 1;
        return 0;
    case OPT_REBIND:
        o->rebind = 1;
        return 0;
    case OPT_MIG_AHEAD: {
        uint64_t n;
        if (qasm_parse_u64(&n, a, 1, QASM_H3C_MAX_AHEAD) != 0)
            return qasm_parse_errf(err, errlen, "--migrate-ahead: expected a count of paths "
                                   "in 1-%d, got '%s'", QASM_H3C_MAX_AHEAD, a);
        o->mig_ahead = (unsigned)n;
        return 0;
    }
    }
    return 1;
}

/* The QUIC transport and socket options. 1 = not one of them. */
static int h3c_opt_transport(struct qasm_h3c_opts *o, int c, const char *a, char *err,
                             size_t errlen)
{
    uint64_t v;
    switch (c) {
    case OPT_IDLE:
        if (qasm_duration_parse(&o->idle_timeout, a) != 0 || o->idle_timeout == 0)
            return qasm_parse_errf(err, errlen, "--idle-timeout: expected a duration, got '%s'", a);
        return 0;
    case OPT_HS_TIMEOUT:
        if (qasm_duration_parse(&o->handshake_timeout, a) != 0 || o->handshake_timeout == 0)
            return qasm_parse_errf(err, errlen,
                                   "--handshake-timeout: expected a duration like 5s, got '%s'", a);
        return 0;
    case OPT_IRTT:
        if (qasm_duration_parse(&o->initial_rtt, a) != 0 || o->initial_rtt == 0)
            return qasm_parse_errf(err, errlen, "--initial-rtt: expected a duration, got '%s'", a);
        return 0;
    case OPT_MAD:
        if (qasm_duration_parse(&o->max_ack_delay, a) != 0 ||
            o->max_ack_delay >= (qasm_duration)16384 * QASM_MS)
            return qasm_parse_errf(err, errlen,
                    "--max-ack-delay: expected a duration < 16384ms, got '%s'", a);
        return 0;
    case OPT_CIDLEN:
        if (qasm_parse_u64(&v, a, 0, 20) != 0)
            return qasm_parse_errf(err, errlen, "--cid-len: expected 0..20, got '%s'", a);
        o->cid_len = (unsigned)v;
        return 0;
    case OPT_KEEP:
        if (qasm_parse_u64(&v, a, 1, 1024) != 0)
            return qasm_parse_errf(err, errlen, "--keep-sockets: expected 1..1024, got '%s'", a);
        o->keep_sockets = (unsigned)v;
        return 0;
    case OPT_KEEPFOR:
        if (qasm_duration_parse(&o->keep_sockets_for, a) != 0)
            return qasm_parse_errf(err, errlen,
                                   "--keep-sockets-for: expected a duration, got '%s'", a);
        return 0;
    case OPT_KEEPALIVE:
        if (qasm_duration_parse(&o->keep_alive, a) != 0)
            return qasm_parse_errf(err, errlen, "--keep-alive: expected a duration, got '%s'", a);
        return 0;
    case OPT_GSO:
        o->gso = 1;
        return 0;
    }
    return 1;
}

/* The output options. 1 = not one of them. */
static int h3c_opt_output(struct qasm_h3c_opts *o, int c, const char *a)
{
    switch (c) {
    case OPT_JSON: o->json = 1; return 0;
    case OPT_CSV: o->csv = a; return 0;
    case OPT_TIMELINE: o->timeline = a; return 0;
    case OPT_OUTPUT: o->output = a; return 0;
    case OPT_VERIFY: o->verify = 1; return 0;
    case OPT_QLOG: o->qlog_dir = a; return 0;
    case OPT_LOG: o->log_level = a; return 0;
    }
    return 1;
}

/* The checks across options, then the URLs (argv[first..argc)). */
static int h3c_finish(struct qasm_h3c_opts *o, const struct h3c_seen *seen, int first, int argc,
                      char **argv, char *err, size_t errlen)
{
    if (seen->nmig > 1)
        return qasm_parse_errf(err, errlen,
                "use only one of --migrate-hz, --migrate-every, --migrate-every-packets");
    if (o->rebind && o->mig_mode == QASM_MIG_NONE)
        return qasm_parse_errf(err, errlen,
                               "--rebind needs a schedule (--migrate-hz/-every/-every-packets)");
    if (o->mig_ahead && o->mig_mode == QASM_MIG_NONE)
        return qasm_parse_errf(err, errlen, "--migrate-ahead needs a schedule "
                               "(--migrate-hz/-every/-every-packets)");
    if (o->mig_kind == QASM_MIG_KIND_ADDR && !o->have_local_addrs)
        return qasm_parse_errf(err, errlen, "--migrate-kind addr needs --local-addrs");
    if (o->duration && seen->have_requests)
        return qasm_parse_errf(err, errlen, "use either --requests or --duration");
    if (seen->have_grace && !o->duration)
        return qasm_parse_errf(err, errlen, "--grace needs --duration");
    if (first >= argc)
        return qasm_parse_errf(err, errlen, "no URL given (see --help)");
    for (int i = first; i < argc; i++) {
        if (o->nurls == QASM_H3C_MAX_URLS)
            return qasm_parse_errf(err, errlen, "at most %d URLs", QASM_H3C_MAX_URLS);
        if (qasm_url_parse(&o->urls[o->nurls], argv[i]) != 0)
            return qasm_parse_errf(err, errlen,
                                   "bad URL '%s' (expected https://HOST[:PORT]/PATH)", argv[i]);
        o->nurls++;
    }
    if (o->have_local_addrs && o->have_connect && o->local_lo.family != o->connect.family)
        return qasm_parse_errf(err, errlen,
                               "--local-addrs and --connect are of different address families");
    return 0;
}

int qasm_h3c_opts_parse(struct qasm_h3c_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    struct h3c_seen seen = { 0, 0, 0 };
    int c, rv;

    h3c_defaults(o);
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", h3c_longopts, NULL)) != -1) {
        const char *a = optarg;
        if (c == OPT_HELP || c == 'h')
            return 1;
        rv = h3c_opt_load(o, &seen, c, a, err, errlen);
        if (rv == 1)
            rv = h3c_opt_migrate(o, &seen, c, a, err, errlen);
        if (rv == 1)
            rv = h3c_opt_transport(o, c, a, err, errlen);
        if (rv == 1)
            rv = h3c_opt_output(o, c, a);
        if (rv == 1)
            return qasm_parse_errf(err, errlen, "unknown or incomplete option '%s' (see --help)",
                                   argv[optind - 1]);
        if (rv < 0)
            return rv;
    }
    return h3c_finish(o, &seen, optind, argc, argv, err, errlen);
}
