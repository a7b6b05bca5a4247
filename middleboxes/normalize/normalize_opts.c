/* normalize_opts.c: qasm-normalize's command line (see normalize_opts.h). */
#include "middleboxes/normalize/normalize_opts.h"

#include <getopt.h>
#include <stdint.h>
#include <string.h>

#include "middleboxes/normalize/normalize_maps.h"

const char qasm_nz_usage[] =
    "usage: qasm-normalize --inside IF --tracker HOST:PORT [options]\n"
    "\n"
    "Attaches the tc-BPF migration normaliser (ingress and egress) to the\n"
    "inside interface IF of a Linux router whose own kernel does NAT, conntrack or\n"
    "load balancing: a migrated QUIC connection's packets from an address the\n"
    "tracker attests keep the connection's first address, so the kernel keeps one\n"
    "conntrack entry per connection (docs/NORMALIZE.md). Detaches on exit (on\n"
    "tcx links also when it is killed).\n"
    "\n"
    "  --inside IF            interface towards the clients (required)\n"
    "  --tracker HOST:PORT    the tracker's TCP address (required)\n"
    "  --tracker-key FILE     the tracker's shared key (session authentication)\n"
    "  --mode MODE            proactive (default): subscribes to every connection\n"
    "                         (the tracker pushes each record); reactive: no\n"
    "                         subscription, asks the tracker (a QUERY with a wait)\n"
    "                         about each unknown DCID or unattested address\n"
    "  --hold DURATION        a migrated packet whose DCID or address the tracker\n"
    "                         has not confirmed yet is dropped for at most DURATION\n"
    "                         from the first (the client resends; the answer is on\n"
    "                         its way), then passes unchanged; 0: no hold\n"
    "                         (default 2ms; units ns, us, ms, s)\n"
    "  --max-conns N          connections in the kernel's maps (default 65536)\n"
    "  --flow-cache SLOTS     the flow cache's slots per CPU, each a flow's last\n"
    "                         decision (100 bytes): a power of two from 16 to\n"
    "                         65536, or 0 for none (default 4096)\n"
    "  --idle SECS            a connection without packets or records for SECS\n"
    "                         leaves the maps (default 120)\n"
    "  --hook HOOK            auto (default): tcx links (Linux 6.6+, they go with\n"
    "                         the process), the clsact qdisc when the kernel\n"
    "                         refuses them; tcx: tcx links or exit 1; clsact: tc\n"
    "                         filters (handle 0x9a5d, priority 1) on clsact\n"
    "  --stats-json FILE      counters as JSON, every second, on SIGUSR1 and at exit\n"
    "                         (with the hook and the programs' ids)\n"
    "  --bpf-stats            turn the kernel's BPF run-time accounting on while it\n"
    "                         runs (BPF_ENABLE_STATS, held by the process;\n"
    "                         kernel.bpf_stats_enabled is not touched): the stats\n"
    "                         then give each program's run_cnt and run_time_ns\n"
    "  --log-level LEVEL      debug|info|warn|error|off (default info)\n"
    "  -h, --help             this help; --version: the version\n"
    "\n"
    "Exit: 0 after SIGINT/SIGTERM, 1 when the programs cannot be loaded or\n"
    "attached (said in one line), 2 on a usage error.\n";

enum { O_INSIDE = 256, O_TRACKER, O_KEY, O_MODE, O_MAX, O_IDLE, O_STATS, O_LOG, O_HOLD, O_BENCH, O_HOOK, O_BPF_STATS, O_CACHE };

static int bad(char *err, size_t errlen, const char *flag, const char *val)
{
    return qasm_parse_errf(err, errlen, "invalid value for %s: '%s' (see --help)", flag, val);
}

static int one(struct qasm_nz_opts *o, int c, const char *a, char *err, size_t errlen)
{
    uint64_t u;
    switch (c) {
    case O_INSIDE: o->inside = a; return 0;
    case O_TRACKER:
        return qasm_parse_addr(&o->tracker, a, "--tracker", &o->names) < 0
                       ? bad(err, errlen, "--tracker", a) : 0;
    case O_KEY: o->key_file = a; return 0;
    case O_MODE:
        if (strcmp(a, "proactive") == 0)
            o->mode = QASM_NZ_PROACTIVE;
        else if (strcmp(a, "reactive") == 0)
            o->mode = QASM_NZ_REACTIVE;
        else
            return bad(err, errlen, "--mode", a);
        return 0;
    case O_MAX:
        if (qasm_parse_flag_u64(&u, "max-conns", a, 1, QASM_NZ_MAX_CONNS_LIMIT, err, errlen) < 0)
            return -1;
        o->max_conns = (unsigned)u;
        return 0;
    case O_CACHE:
        if (qasm_parse_flag_u64(&u, "flow-cache", a, 0, 1u << QASM_NZ_CACHE_BITS_MAX, err, errlen) < 0)
            return -1;
        if ((u & (u - 1)) || (u && u < 1u << QASM_NZ_CACHE_BITS_MIN))
            return qasm_parse_errf(err, errlen,
                                   "--flow-cache: expected 0 or a power of two from 16, got '%s'", a);
        o->cache_bits = u ? (unsigned)__builtin_ctzll(u) : 0;
        return 0;
    case O_IDLE:
        return qasm_parse_positive(&o->idle, a, 86400) < 0 ? bad(err, errlen, "--idle", a) : 0;
    case O_HOLD:
        return qasm_duration_parse(&o->hold, a) < 0 || o->hold > 10 * QASM_SEC
                       ? bad(err, errlen, "--hold", a) : 0;
    case O_BENCH: /* hop-bench.sh's decomposition of the cost (docs/NORMALIZE.md) */
        if (strcmp(a, "floor") == 0)
            o->bench_ingress = QASM_NZ_BENCH_FLOOR;
        else if (strcmp(a, "parse") == 0)
            o->bench_ingress = QASM_NZ_BENCH_PARSE;
        else
            return bad(err, errlen, "--bench-ingress", a);
        return 0;
    case O_HOOK:
        if (strcmp(a, "auto") == 0)
            o->hook = QASM_NZ_HOOK_AUTO;
        else if (strcmp(a, "tcx") == 0)
            o->hook = QASM_NZ_HOOK_TCX;
        else if (strcmp(a, "clsact") == 0)
            o->hook = QASM_NZ_HOOK_CLSACT;
        else
            return bad(err, errlen, "--hook", a);
        return 0;
    case O_BPF_STATS: o->bpf_stats = 1; return 0;
    case O_STATS: o->stats_json = a; return 0;
    case O_LOG: o->log_level = a; return 0;
    case 'h': o->help = 1; return 0;
    default: return -1;
    }
}

int qasm_nz_opts_parse(int argc, char **argv, struct qasm_nz_opts *o, char *err, size_t errlen)
{
    static const struct option lo[] = {
        QASM_PARSE_OPT_ARG("inside", O_INSIDE),   QASM_PARSE_OPT_ARG("tracker", O_TRACKER),
        QASM_PARSE_OPT_ARG("tracker-key", O_KEY), QASM_PARSE_OPT_ARG("mode", O_MODE),
        QASM_PARSE_OPT_ARG("max-conns", O_MAX),   QASM_PARSE_OPT_ARG("idle", O_IDLE),
        QASM_PARSE_OPT_ARG("stats-json", O_STATS), QASM_PARSE_OPT_ARG("log-level", O_LOG),
        QASM_PARSE_OPT_ARG("hold", O_HOLD),       QASM_PARSE_OPT_ARG("bench-ingress", O_BENCH),
        QASM_PARSE_OPT_ARG("hook", O_HOOK),       QASM_PARSE_OPT_FLAG("bpf-stats", O_BPF_STATS),
        QASM_PARSE_OPT_ARG("flow-cache", O_CACHE), QASM_PARSE_OPT_FLAG("help", 'h'),
        QASM_PARSE_OPT_END};
    memset(o, 0, sizeof(*o));
    o->max_conns = QASM_NZ_MAX_CONNS;
    o->cache_bits = QASM_NZ_CACHE_BITS_DEFAULT;
    o->idle = 120;
    o->hold = 2 * QASM_MS;
    o->log_level = "info";
    opterr = 0;
    optind = 0; /* 0: glibc reinitialises (a second parse in the tests) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == '?')
            return qasm_parse_getopt_errf(err, errlen, argc, argv, "h", lo);
        if (one(o, c, optarg, err, errlen) < 0)
            return -1;
    }
    if (o->help)
        return 0;
    if (optind < argc)
        return qasm_parse_errf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!o->inside)
        return qasm_parse_errf(err, errlen, "--inside IF is required (see --help)");
    if (!o->tracker.family && o->names.n == 0)
        return qasm_parse_errf(err, errlen, "--tracker HOST:PORT is required (see --help)");
    return 0;
}
