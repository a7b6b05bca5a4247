/* replay_opts.c: qasm-replay's command line (see replay_opts.h). */
#include "replay_opts.h"

#include <getopt.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "parse.h"

static const char usage_text[] =
    "usage: qasm-replay FILE... --function nat|ratelimit|lb --mode default|reactive|proactive\n"
    "                   [options]\n"
    "Replays pcap/pcapng captures through a QASM middlebox core on the capture's own clock\n"
    "and prints what the middlebox did. Agent reports (tracker protocol datagrams) found in\n"
    "the capture feed an embedded tracker, so the aware modes replay faithfully.\n"
    "\n"
    "  --function F            nat, ratelimit or lb (required)\n"
    "  --mode M                default, reactive or proactive (required)\n"
    "  --json                  print one JSON object instead of the text summary\n"
    "  --write OUT.pcap        write the forwarded packets, translated (raw IP link type)\n"
    "  --tracker-events FILE   agent reports as JSON lines (see docs/CAPTURES.md)\n"
    "  --no-capture-reports    ignore the agent reports found in the capture\n"
    "  --trust-any             accept reports whose client IP is not the datagram's source\n"
    "  --pad-truncated         use frames cut by the snap length whose headers were\n"
    "                          captured (missing payload bytes read as zeros)\n"
    "  --tracker-rtt T         round trip between middlebox and tracker (default 0: the\n"
    "                          tracker answers at once)\n"
    "  --server HOST:PORT      a server address (repeatable); default: learned from client\n"
    "                          Initials and REPORT_OPEN\n"
    " function flags (as in qasm-mbox):\n"
    "  --public IP             nat: public IP (default 127.0.0.1, ::1 for IPv6 servers)\n"
    "  --ports LO-HI           nat: public port pool (default 40000-40063)\n"
    "  --udp-timeout T         idle timeout before traffic flowed both ways (default 30s)\n"
    "  --udp-stream-timeout T  idle timeout after (default 120s)\n"
    "  --rate R --burst N      ratelimit: tokens per second and bucket depth (default 5, 5)\n"
    "  --bytes                 ratelimit: count bytes instead of packets\n"
    "  --backend HOST:PORT     lb: a backend (repeatable, at least one)\n"
    "  --hold T                aware modes: the tracker's wait for a held packet (default 2ms)\n"
    "  --hold-ceiling T        longest a held packet waits for the answer (default 100ms)\n"
    "  --hold-max N --hold-per-dcid N --cache-ttl T --query-timeout T --max-entries N --seed N\n"
    "  --fallback-per-conn N   as qasm-mbox (docs/MIDDLEBOXES.md; max-entries default 65536)\n"
    "  -h, --help              this text\n"
    "  --version               print the version and the commit it was built from\n"
    "Exit status: 0 ok, 1 unreadable input (also a read error part-way through a\n"
    "file: the summary covers the packets before it), 2 bad usage.\n";

const char *qasm_replay_usage(void)
{
    return usage_text;
}

enum {
    OPT_FUNCTION = 256, OPT_MODE, OPT_JSON, OPT_WRITE, OPT_EVENTS, OPT_NO_REPORTS,
    OPT_TRUST_ANY, OPT_SERVER, OPT_FN_FLAG, OPT_RTT, OPT_PAD, OPT_HELP
};

static const struct option replay_longopts[] = {
    QASM_PARSE_OPT_ARG("function", OPT_FUNCTION),
    QASM_PARSE_OPT_ARG("mode", OPT_MODE),
    QASM_PARSE_OPT_FLAG("json", OPT_JSON),
    QASM_PARSE_OPT_ARG("write", OPT_WRITE),
    QASM_PARSE_OPT_ARG("tracker-events", OPT_EVENTS),
    QASM_PARSE_OPT_FLAG("no-capture-reports", OPT_NO_REPORTS),
    QASM_PARSE_OPT_FLAG("trust-any", OPT_TRUST_ANY),
    QASM_PARSE_OPT_ARG("server", OPT_SERVER),
    QASM_MBOX_FLAG_OPTIONS(OPT_FN_FLAG),
    QASM_PARSE_OPT_ARG("tracker-rtt", OPT_RTT),
    QASM_PARSE_OPT_FLAG("pad-truncated", OPT_PAD),
    QASM_PARSE_OPT_FLAG("help", OPT_HELP),
    QASM_PARSE_OPT_END,
};

/* Every error ends the same way: qasm_parse_usagef. */
#define FAIL(...) return qasm_parse_usagef(err, errlen, __VA_ARGS__)

/* One option; 1 = --help. */
static int replay_opt(struct qasm_replay_opts *o, int c, int idx, const char *a, char **argv,
                      char *err, size_t errlen)
{
    struct qasm_replay_config *rc = &o->rc;
    char msg[256];
    switch (c) {
    case OPT_FUNCTION: o->fn_s = a; return 0;
    case OPT_MODE: o->mode_s = a; return 0;
    case OPT_JSON: o->json = 1; return 0;
    case OPT_WRITE: o->write_path = a; return 0;
    case OPT_EVENTS: o->events_path = a; return 0;
    case OPT_NO_REPORTS: rc->capture_reports = 0; return 0;
    case OPT_TRUST_ANY: rc->trust_any = 1; return 0;
    case OPT_SERVER:
        if (rc->nservers == QASM_REPLAY_MAX_SERVERS)
            FAIL("--server: at most %d servers", QASM_REPLAY_MAX_SERVERS);
        if (qasm_addr_parse(&rc->servers[rc->nservers++], a) < 0)
            FAIL("--server: expected HOST:PORT or [V6]:PORT, got '%s'", a);
        return 0;
    case OPT_FN_FLAG:
        if (qasm_mbox_flags_take(&o->fl, replay_longopts[idx].name, a, msg, sizeof(msg)) < 0)
            FAIL("%s", msg);
        return 0;
    case OPT_RTT:
        if (qasm_duration_parse(&rc->tracker_rtt, a) < 0)
            FAIL("--%s: expected a duration like 2ms or 30s, got '%s'", "tracker-rtt", a);
        return 0;
    case OPT_PAD: rc->pad_truncated = 1; return 0;
    case OPT_HELP:
    case 'h':
        return 1;
    case ':': FAIL("option %s needs a value", argv[optind - 1]);
    default: FAIL("unknown option '%s'", argv[optind - 1]);
    }
}

int qasm_replay_opts_parse(int argc, char **argv, struct qasm_replay_opts *o, char *err,
                           size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->rc.capture_reports = 1;
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0;
    int c, idx = -1, rv;
    while ((c = getopt_long(argc, argv, ":h", replay_longopts, &idx)) != -1) {
        rv = replay_opt(o, c, idx, optarg, argv, err, errlen);
        if (rv != 0)
            return rv;
    }
    if (optind >= argc)
        FAIL("no capture file given");
    if (!o->fn_s)
        FAIL("--function is required (nat, ratelimit or lb)");
    if (!o->mode_s)
        FAIL("--mode is required (default, reactive or proactive)");
    enum qasm_mbox_function fn;
    enum qasm_mbox_mode mode;
    if (qasm_mbox_function_parse(&fn, o->fn_s) < 0)
        FAIL("--function: expected nat, ratelimit or lb, got '%s'", o->fn_s);
    if (qasm_mbox_mode_parse(&mode, o->mode_s) < 0)
        FAIL("--mode: expected default, reactive or proactive, got '%s'", o->mode_s);
    struct qasm_mbox_config *cfg = &o->rc.mbox;
    qasm_mbox_config_init(cfg, fn, mode);
    char msg[256];
    if (qasm_mbox_flags_apply(&o->fl, cfg, msg, sizeof(msg)) < 0)
        FAIL("%s", msg);
    /* A NAT in front of IPv6 servers gets an IPv6 public address unless told otherwise. */
    if (fn == QASM_MBOX_NAT && !o->fl.public_ip && o->rc.nservers &&
        o->rc.servers[0].family == AF_INET6)
        qasm_addr_parse_ip(&cfg->nat_public, "::1", 0);
    o->files = argv + optind;
    o->nfiles = argc - optind;
    return 0;
}
