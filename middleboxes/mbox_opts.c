/* mbox_opts.c: qasm-mbox's command line (see mbox_opts.h). */
#include "mbox_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "log.h"
#include "parse.h"

static const char usage_text[] =
"usage: qasm-mbox nat|ratelimit|lb --mode default|reactive|proactive [options]\n"
"\n"
"A userspace middlebox over UDP on loopback: clients send to --listen, the\n"
"middlebox forwards to --upstream (nat, ratelimit) or to one of the --backend\n"
"addresses (lb). Aware modes (reactive, proactive) key QUIC connections on\n"
"their original DCID through the tracker (--tracker).\n"
"\n"
"common:\n"
"  --mode MODE               default | reactive | proactive (required)\n"
"  --listen HOST:PORT        private side, where clients send (required); port 0:\n"
"                            a free port, shown in the \"listening on\" log line and\n"
"                            as \"listen\" in the stats JSON\n"
"  --upstream HOST:PORT      next hop or server (nat, ratelimit: required)\n"
"  --tracker HOST:PORT       tracker TCP address (aware modes: required)\n"
"  --tracker-key FILE        the tracker's shared key (qasm-tracker --key): prove it, and\n"
"                            trust no tracker that cannot prove it (file mode 0600)\n"
"  --tracker-keepalive DUR   a STATS request after DUR without a request, so the\n"
"                            tracker's --session-idle never closes the session\n"
"                            (default 30s)\n"
"  --udp-timeout DUR         idle timeout of a new entry (default 30s)\n"
"  --udp-stream-timeout DUR  idle timeout once traffic flowed both ways (default 120s)\n"
"  --stats-json FILE         write stats as JSON every second, at exit and on SIGUSR1\n"
"  --stats-entries N         also list up to N state entries in the stats (default 0)\n"
"  --metrics HOST:PORT       serve the stats at http://HOST:PORT/metrics in the\n"
"                            Prometheus text format (docs/METRICS.md); port 0: a free one\n"
"  --control PATH|none       control socket for qasm-mboxctl (list, events, stats);\n"
"                            default $RUNTIME_DIRECTORY/control.sock (systemd),\n"
"                            /run/qasm/mbox-FUNCTION.sock as root, else\n"
"                            $XDG_RUNTIME_DIR/qasm/mbox-FUNCTION.sock, else\n"
"                            ./qasm-mbox-FUNCTION.sock (in use: none); none: no socket\n"
"  --log-level LEVEL         debug | info | warn | error | off (default info)\n"
"  --seed N                  hash seed (default 0 = fixed)\n"
"  --max-datagram BYTES      largest datagram relayed (default 4096; longer: dropped)\n"
"  --max-flows N             ratelimit, lb: upstream sockets at most (default 4096); when\n"
"                            full, a new flow closes the idlest one (upstream_evicted)\n"
"  --core-batch              one core call per receive batch (processing_ns: batch mean)\n"
"  --max-entries N           state entries at most, like nf_conntrack_max (default 65536;\n"
"                            0: none); when full, a new flow evicts the idlest entry not\n"
"                            yet seen both ways (entries_evicted), else it is refused\n"
"                            (table_full)\n"
"  -h, --help                this text\n"
"  --version                 print the version and the commit it was built from\n"
"packet io (root; a router between two interfaces, see docs/TESTBED.md):\n"
"  --io relay|packet|xdp     UDP relay on sockets (default) or IP packets on interfaces;\n"
"                            xdp: known flows forwarded by a BPF program in the kernel,\n"
"                            the rest as packet (docs/XDP.md)\n"
"  --inside IF               packet / xdp: private-side interface (clients)\n"
"  --outside IF              packet: public-side interface; the nat's default --public\n"
"                            is its address (no --listen / --upstream with packet io,\n"
"                            except the lb's --listen VIP:PORT)\n"
"  --xdp-generic             xdp: attach in generic (skb) mode, not native (the default,\n"
"                            generic only where the driver refuses native)\n"
"nat:\n"
"  --public IP               public address the pool's ports are bound on (default 127.0.0.1)\n"
"  --ports LO-HI             public port pool (default 40000-40063)\n"
"ratelimit:\n"
"  --rate N                  tokens per second per flow (default 5)\n"
"  --burst N                 bucket depth (default 5)\n"
"  --bytes                   a token is a byte of UDP payload, not a packet\n"
"lb:\n"
"  --backend HOST:PORT       a backend (repeat; at least one)\n"
"aware modes:\n"
"  --hold DUR                how long the tracker waits for the agent's report of a held\n"
"                            packet's address (the query's wait, default 2ms)\n"
"  --hold-ceiling DUR        longest a held packet waits for the tracker's answer; a busy\n"
"                            tracker may answer after --hold (default 100ms; <= --hold: a\n"
"                            fixed hold of --hold)\n"
"  --hold-max N              packets held at most, in total (default 4096)\n"
"  --hold-per-dcid N         packets held at most per unknown DCID (default 16)\n"
"  --cache-ttl DUR           how long a tracker answer is trusted (default 120s)\n"
"  --query-timeout DUR       forget an unanswered query after this (default 1s)\n"
"  --fallback-per-conn N     default mappings a known connection may take while the\n"
"                            tracker is away (default 4; beyond, its oldest is freed:\n"
"                            fallback_recycled; 0: no cap)\n"
"\n"
"DUR: a number with a unit, ns, us, ms, s, m or h (250ms, 1.5s, 5m, 1h);\n"
"a bare number is seconds.\n";

enum {
    OPT_MODE = 256, OPT_LISTEN, OPT_UPSTREAM, OPT_TRACKER,
    OPT_STATS_JSON, OPT_LOG_LEVEL, OPT_MAX_DATAGRAM, OPT_MAX_FLOWS, OPT_FN_FLAG,
    OPT_STATS_ENTRIES, OPT_CORE_BATCH, OPT_XDP_GENERIC, OPT_HELP,
    OPT_IO, OPT_INSIDE, OPT_OUTSIDE, OPT_TRACKER_KEY, OPT_TRACKER_KEEPALIVE, OPT_METRICS,
    OPT_CONTROL,
};

static const struct option mbox_long_opts[] = {
    QASM_PARSE_OPT_ARG("mode", OPT_MODE),
    QASM_PARSE_OPT_ARG("listen", OPT_LISTEN),
    QASM_PARSE_OPT_ARG("upstream", OPT_UPSTREAM),
    QASM_PARSE_OPT_ARG("tracker", OPT_TRACKER),
    QASM_PARSE_OPT_ARG("tracker-key", OPT_TRACKER_KEY),
    QASM_PARSE_OPT_ARG("tracker-keepalive", OPT_TRACKER_KEEPALIVE),
    QASM_PARSE_OPT_ARG("stats-json", OPT_STATS_JSON),
    QASM_PARSE_OPT_ARG("metrics", OPT_METRICS),
    QASM_PARSE_OPT_ARG("log-level", OPT_LOG_LEVEL),
    QASM_PARSE_OPT_ARG("max-datagram", OPT_MAX_DATAGRAM),
    QASM_PARSE_OPT_ARG("max-flows", OPT_MAX_FLOWS),
    QASM_MBOX_FLAG_OPTIONS(OPT_FN_FLAG),
    QASM_PARSE_OPT_ARG("stats-entries", OPT_STATS_ENTRIES),
    QASM_PARSE_OPT_FLAG("core-batch", OPT_CORE_BATCH),
    QASM_PARSE_OPT_FLAG("xdp-generic", OPT_XDP_GENERIC),
    QASM_PARSE_OPT_FLAG("help", OPT_HELP),
    QASM_PARSE_OPT_ARG("io", OPT_IO),
    QASM_PARSE_OPT_ARG("inside", OPT_INSIDE),
    QASM_PARSE_OPT_ARG("outside", OPT_OUTSIDE),
    QASM_PARSE_OPT_ARG("control", OPT_CONTROL),
    QASM_PARSE_OPT_END,
};

const char *qasm_mbox_usage(void)
{
    return usage_text;
}

/* Every error ends the same way. */
#define FAIL(...) return qasm_parse_usagef(err, errlen, __VA_ARGS__)

static int parse_size(size_t *v, const char *opt, const char *s, uint64_t min, uint64_t max,
                      char *err, size_t errlen)
{
    uint64_t x;
    char msg[256];
    if (qasm_parse_flag_u64(&x, opt, s, min, max, msg, sizeof(msg)) < 0)
        FAIL("%s", msg);
    *v = (size_t)x;
    return 0;
}

/* |flag| ("--listen") is kept with a host name for the caller to resolve. */
static int parse_addr(struct qasm_mbox_opts *o, struct qasm_addr *a, const char *flag,
                      const char *s, char *err, size_t errlen)
{
    int rv = qasm_parse_addr(a, s, flag, &o->names);
    if (rv == -ENOSPC)
        FAIL("%s: at most %d host names ('%s')", flag, QASM_PARSE_MAX_NAMES, s);
    if (rv < 0)
        FAIL("%s: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got '%s'", flag, s);
    if (a->port == 0 && strcmp(flag, "--listen") != 0 && strcmp(flag, "--metrics") != 0)
        FAIL("%s: port 0 is not allowed ('%s')", flag, s);
    return 0;
}

/* The shell's own options (the function's flags go to qasm_mbox_flags_take). */
static int mbox_opt(struct qasm_mbox_opts *o, int c, int idx, const char *a, char **argv,
                    char *err, size_t errlen)
{
    switch (c) {
    case OPT_MODE: o->mode_s = a; return 0;
    case OPT_LISTEN: o->have_listen = 1; return parse_addr(o, &o->listen, "--listen", a, err, errlen);
    case OPT_UPSTREAM:
        o->have_upstream = 1;
        return parse_addr(o, &o->upstream, "--upstream", a, err, errlen);
    case OPT_TRACKER:
        o->have_tracker = 1;
        return parse_addr(o, &o->tracker, "--tracker", a, err, errlen);
    case OPT_TRACKER_KEY: qasm_parse_files_add(&o->tracker_keys, c, a); return 0;
    case OPT_TRACKER_KEEPALIVE: {
        qasm_duration d;
        if (qasm_duration_parse(&d, a) < 0 || d < QASM_MS || d > 3600 * QASM_SEC)
            FAIL("--tracker-keepalive: '%s' is not a duration from 1ms to 1h", a);
        o->keepalive = (double)d / 1e9;
        return 0;
    }
    case OPT_STATS_JSON: o->stats_path = a; return 0;
    case OPT_METRICS:
        o->have_metrics = 1;
        return parse_addr(o, &o->metrics, "--metrics", a, err, errlen);
    case OPT_LOG_LEVEL:
        o->log_level = qasm_log_level_parse(a);
        if (o->log_level < 0)
            FAIL("--log-level: expected debug, info, warn, error or off, got '%s'", a);
        return 0;
    case OPT_MAX_DATAGRAM: return parse_size(&o->max_datagram, "max-datagram", a, 64, 65535,
                                             err, errlen);
    case OPT_MAX_FLOWS: return parse_size(&o->max_flows, "max-flows", a, 1, 1000000, err, errlen);
    case OPT_FN_FLAG: {
        char msg[256];
        if (qasm_mbox_flags_take(&o->fl, mbox_long_opts[idx].name, a, msg, sizeof(msg)) < 0)
            FAIL("%s", msg);
        return 0;
    }
    case OPT_CORE_BATCH: o->core_batch = 1; return 0;
    case OPT_XDP_GENERIC: o->xdp_generic = 1; return 0;
    case OPT_STATS_ENTRIES:
        return parse_size(&o->stats_entries, "stats-entries", a, 0, 1000000, err, errlen);
    case OPT_IO:
        if (strcmp(a, "packet") != 0 && strcmp(a, "relay") != 0 && strcmp(a, "xdp") != 0)
            FAIL("--io: expected relay, packet or xdp, got '%s'", a);
        /* xdp is the packet backend with a kernel fast path in front: the same flags. */
        o->io_xdp = strcmp(a, "xdp") == 0;
        o->io_packet = o->io_xdp || strcmp(a, "packet") == 0;
        return 0;
    case OPT_INSIDE: o->inside = a; return 0;
    case OPT_OUTSIDE: o->outside = a; return 0;
    case OPT_CONTROL:
        if (*a == '\0' || strlen(a) >= QASM_MBOX_CONTROL_PATH_MAX)
            FAIL("--control: expected a socket path of 1 to %d bytes or none, got '%s'",
                 QASM_MBOX_CONTROL_PATH_MAX - 1, a);
        o->control_off = strcmp(a, "none") == 0;
        o->control_path = o->control_off ? NULL : a;
        return 0;
    case ':': FAIL("option %s needs a value", argv[optind - 1]);
    default: FAIL("unknown option '%s'", argv[optind - 1]);
    }
}

/* The checks across flags: which flags go together for this function, mode and io. */
static int mbox_check(const struct qasm_mbox_opts *o, char *err, size_t errlen)
{
    int lb = o->function == QASM_MBOX_LB;
    if (o->io_packet && (!o->inside || !o->outside))
        FAIL("--io packet needs --inside IF and --outside IF");
    if (o->xdp_generic && !o->io_xdp)
        FAIL("--xdp-generic is only for --io xdp");
    if (!o->io_packet && (o->inside || o->outside))
        FAIL("--inside and --outside are only for --io packet");
    if (o->io_packet && (o->have_upstream || (o->have_listen && !lb)))
        FAIL("--io packet takes --inside / --outside (and the lb's --listen VIP), not "
             "--listen / --upstream");
    if (o->io_packet && lb && !o->have_listen)
        FAIL("--io packet lb needs --listen VIP:PORT (the address clients send to)");
    if (o->io_packet && o->have_listen && o->listen.port == 0)
        FAIL("--listen: port 0 is not allowed with --io packet (the VIP's port)");
    if (!o->have_listen && !o->io_packet)
        FAIL("--listen is required");
    if (!lb && !o->have_upstream && !o->io_packet)
        FAIL("--upstream is required for %s", qasm_mbox_function_name(o->function));
    if (lb && o->have_upstream)
        FAIL("the lb takes --backend (repeatable), not --upstream");
    if (o->mode != QASM_MBOX_DEFAULT && !o->have_tracker)
        FAIL("--tracker HOST:PORT is required in %s mode", o->mode_s);
    return 0;
}

int qasm_mbox_opts_parse(int argc, char **argv, struct qasm_mbox_opts *o, char *err,
                         size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->log_level = QASM_LOG_INFO;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    if (argc < 2)
        FAIL("first argument must be the function: nat, ratelimit or lb");
    if (argv[1][0] == '-')
        FAIL("option '%s' before the function: the first argument must be nat, ratelimit or lb",
             argv[1]);
    if (qasm_mbox_function_parse(&o->function, argv[1]) < 0)
        FAIL("unknown function '%s' (nat, ratelimit or lb)", argv[1]);

    /* Collect flags first: the mode decides the core's defaults. */
    /* The flags follow the function: getopt reads argv[1..] as its own argv, from
     * optind 0, not 1, so glibc forgets a previous parse (the tests parse many times). */
    char **fargv = argv + 1;
    int fargc = argc - 1;
    optind = 0;
    opterr = 0;
    int c, idx = -1, rv;
    while ((c = getopt_long(fargc, fargv, ":", mbox_long_opts, &idx)) != -1) {
        rv = mbox_opt(o, c, idx, optarg, fargv, err, errlen);
        if (rv < 0)
            return rv;
    }
    if (optind < fargc)
        FAIL("unexpected argument '%s'", fargv[optind]);
    if (!o->mode_s)
        FAIL("--mode is required (default, reactive or proactive)");
    if (qasm_mbox_mode_parse(&o->mode, o->mode_s) < 0)
        FAIL("--mode: expected default, reactive or proactive, got '%s'", o->mode_s);
    if (mbox_check(o, err, errlen) < 0)
        return -1;
    qasm_mbox_config_init(&o->cfg, o->function, o->mode);
    char msg[256];
    if (qasm_mbox_flags_apply(&o->fl, &o->cfg, msg, sizeof(msg)) < 0)
        FAIL("%s", msg);
    qasm_mbox_opts_addr_defaults(o);
    return 0;
}

void qasm_mbox_opts_addr_defaults(struct qasm_mbox_opts *o)
{
    if (!o->fl.public_ip && o->function == QASM_MBOX_NAT && o->have_listen &&
        o->listen.family == AF_INET6)
        qasm_addr_parse_ip(&o->cfg.nat_public, "::1", 0);
}
