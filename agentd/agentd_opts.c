/* agentd_opts.c: qasm-agentd's command line (see agentd_opts.h). */
#include "agentd/agentd_opts.h"

#include <getopt.h>
#include <string.h>

#include "log.h"
#include "parse.h"

static const char usage_text[] =
    "usage: qasm-agentd --tracker HOST:PORT (--cgroup PATH | --all) [options]\n"
    "The eBPF client agent: watches the QUIC client connections of a cgroup v2 (or of\n"
    "the whole host) with cgroup_skb programs and reports each one's O-DCID, DCIDs and\n"
    "client addresses to the tracker, like libqasm-agent.so but for any QUIC client,\n"
    "without LD_PRELOAD or a restart. Needs root (CAP_BPF, CAP_NET_ADMIN).\n"
    "\n"
    "  --tracker HOST:PORT   the tracker's report address (UDP)\n"
    "  --cgroup PATH         watch the sockets of this cgroup v2 directory (and below)\n"
    "  --all                 watch every socket of the host (the cgroup v2 root)\n"
    "  --prereg off|gnutls   gnutls: uprobes on gnutls_aead_cipher_decrypt read the spare DCIDs\n"
    "                        the servers issue (NEW_CONNECTION_ID) and report them before their\n"
    "                        first use, and the server's CONNECTION_CLOSE; one on\n"
    "                        gnutls_aead_cipher_encrypt sees the client's own close\n"
    "                        (ngtcp2 clients on gnutls; default off)\n"
    "  --stats-json FILE     write the counters as JSON every second (with each program's\n"
    "                        run count and run time as the kernel accounts them)\n"
    "  --bpf-stats           turn that accounting on while the daemon runs (BPF_ENABLE_STATS,\n"
    "                        held by the daemon: kernel.bpf_stats_enabled is not touched; it\n"
    "                        costs every BPF program of the host two clock reads per run)\n"
    "  --key FILE            the tracker's shared key (qasm-tracker --key): reports carry a key MAC\n"
    "  --idle T              a connection without packets for T is reported closed (default 30s;\n"
    "                        a CONNECTION_CLOSE in an Initial packet closes it at once)\n"
    "  --refresh T           full-state refresh per connection (default 10s, 0 = never)\n"
    "  --max-conns N         connections tracked at most (default 4096)\n"
    "  --log LEVEL           debug (every report), info, warn, error, off (default info)\n"
    "  -h, --help            this text\n"
    "  --version             print the version and the commit it was built from\n"
    "T: a number with a unit, ns, us, ms, s, m or h; a bare number is seconds.\n"
    "Exit status: 0 after SIGINT/SIGTERM, 1 cannot load or attach the BPF programs,\n"
    "2 bad usage.\n";

const char *qasm_agentd_usage(void)
{
    return usage_text;
}

enum { OPT_TRACKER = 256, OPT_CGROUP, OPT_ALL, OPT_STATS, OPT_KEY, OPT_IDLE, OPT_REFRESH,
       OPT_MAXCONNS, OPT_LOG, OPT_PREREG, OPT_BPF_STATS, OPT_HELP };

static const struct option agentd_longopts[] = {
    QASM_PARSE_OPT_ARG("tracker", OPT_TRACKER),
    QASM_PARSE_OPT_ARG("cgroup", OPT_CGROUP),
    QASM_PARSE_OPT_FLAG("all", OPT_ALL),
    QASM_PARSE_OPT_ARG("stats-json", OPT_STATS),
    QASM_PARSE_OPT_ARG("key", OPT_KEY),
    QASM_PARSE_OPT_ARG("idle", OPT_IDLE),
    QASM_PARSE_OPT_ARG("refresh", OPT_REFRESH),
    QASM_PARSE_OPT_ARG("max-conns", OPT_MAXCONNS),
    QASM_PARSE_OPT_ARG("log", OPT_LOG),
    QASM_PARSE_OPT_ARG("prereg", OPT_PREREG),
    QASM_PARSE_OPT_FLAG("bpf-stats", OPT_BPF_STATS),
    QASM_PARSE_OPT_FLAG("help", OPT_HELP),
    QASM_PARSE_OPT_END,
};

static int duration(qasm_duration *d, const char *flag, const char *s, int zero_ok, char *err,
                    size_t errlen)
{
    if (qasm_duration_parse(d, s) < 0 || (!zero_ok && *d == 0))
        return qasm_parse_usagef(err, errlen, "--%s: expected a %s duration like 10s, got '%s'",
                                 flag, zero_ok ? "" : "positive", s);
    return 0;
}

/* One option; 1 = --help. */
static int agentd_opt(struct qasm_agentd_opts *o, int c, char **argv, char *err, size_t errlen)
{
    char msg[256];

    switch (c) {
    case OPT_TRACKER: o->tracker = optarg; return 0;
    case OPT_CGROUP: o->cgroup = optarg; return 0;
    case OPT_ALL: o->all = 1; return 0;
    case OPT_BPF_STATS: o->bpf_stats = 1; return 0;
    case OPT_STATS: o->stats_json = optarg; return 0;
    case OPT_KEY: o->key = optarg; return 0;
    case OPT_IDLE: return duration(&o->idle, "idle", optarg, 0, err, errlen);
    case OPT_REFRESH: return duration(&o->refresh, "refresh", optarg, 1, err, errlen);
    case OPT_MAXCONNS:
        if (qasm_parse_flag_u64(&o->max_conns, "max-conns", optarg, 1, 1u << 20, msg,
                                sizeof(msg)) < 0)
            return qasm_parse_usagef(err, errlen, "%s", msg);
        return 0;
    case OPT_LOG:
        if (qasm_log_level_parse(optarg) < 0)
            return qasm_parse_usagef(err, errlen, "--log: expected debug, info, warn, error or "
                                     "off, got '%s'", optarg);
        o->log = optarg;
        return 0;
    case OPT_PREREG:
        if (strcmp(optarg, "off") == 0)
            o->prereg = QASM_AGENTD_PREREG_OFF;
        else if (strcmp(optarg, "gnutls") == 0)
            o->prereg = QASM_AGENTD_PREREG_GNUTLS;
        else
            return qasm_parse_usagef(err, errlen, "--prereg: expected off or gnutls, got '%s'",
                                     optarg);
        return 0;
    case OPT_HELP:
    case 'h':
        return 1;
    case ':':
        return qasm_parse_usagef(err, errlen, "option %s needs a value", argv[optind - 1]);
    default:
        return qasm_parse_usagef(err, errlen, "unknown option '%s'", argv[optind - 1]);
    }
}

int qasm_agentd_opts_parse(int argc, char **argv, struct qasm_agentd_opts *o, char *err,
                           size_t errlen)
{
    int c, rv;

    memset(o, 0, sizeof(*o));
    o->idle = 30 * QASM_SEC;
    o->refresh = 10 * QASM_SEC;
    o->max_conns = 4096;
    o->log = "info";
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", agentd_longopts, NULL)) != -1) {
        rv = agentd_opt(o, c, argv, err, errlen);
        if (rv != 0)
            return rv;
    }
    if (optind < argc)
        return qasm_parse_usagef(err, errlen, "unexpected argument '%s'", argv[optind]);
    if (!o->tracker)
        return qasm_parse_usagef(err, errlen, "--tracker HOST:PORT is required");
    if (!o->cgroup == !o->all)
        return qasm_parse_usagef(err, errlen, "exactly one of --cgroup PATH or --all is required");
    return 0;
}
