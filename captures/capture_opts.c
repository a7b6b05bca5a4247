/* capture_opts.c: qasm-capture's command line (see capture_opts.h). */
#include "capture_opts.h"

#include <getopt.h>
#include <string.h>

#include "parse.h"

static const char usage_text[] =
    "usage: qasm-capture -w OUT.pcap [options]\n"
    "Records packets with libpcap into a pcap file until SIGTERM/SIGINT, --duration or\n"
    "--count, then prints the packets captured and dropped (needs CAP_NET_RAW, e.g. root).\n"
    "\n"
    "  -w, --write FILE       output pcap file (required; '-' for stdout)\n"
    "  -i, --interface IFACE  interface to capture on (default lo)\n"
    "  -f, --filter EXPR      BPF filter (default \"udp\"), e.g.\n"
    "                         \"udp port 4433 or udp port 5000 or udp port 4790\"\n"
    "  --duration T           stop after T (e.g. 10s, 500ms)\n"
    "  --count N              stop after N packets\n"
    "  --snaplen N            bytes kept per packet (default 65535)\n"
    "  --buffer-mb N          kernel capture buffer (default 16)\n"
    "  --json                 print the final counters as one JSON object on stdout\n"
    "  -h, --help             this text\n"
    "  --version              print the version and the commit it was built from\n"
    "T: a number with a unit, ns, us, ms, s, m or h (250ms, 1.5s, 5m, 1h);\n"
    "a bare number is seconds.\n"
    "A line \"qasm-capture: capturing on IFACE\" on stderr says the capture is running.\n"
    "Exit status: 0 ok, 1 capture error, 2 bad usage.\n";

const char *qasm_capture_usage(void)
{
    return usage_text;
}

enum { OPT_DURATION = 256, OPT_COUNT, OPT_SNAPLEN, OPT_BUFFER, OPT_JSON, OPT_HELP };

static const struct option capture_longopts[] = {
    QASM_PARSE_OPT_ARG("write", 'w'),
    QASM_PARSE_OPT_ARG("interface", 'i'),
    QASM_PARSE_OPT_ARG("filter", 'f'),
    QASM_PARSE_OPT_ARG("duration", OPT_DURATION),
    QASM_PARSE_OPT_ARG("count", OPT_COUNT),
    QASM_PARSE_OPT_ARG("snaplen", OPT_SNAPLEN),
    QASM_PARSE_OPT_ARG("buffer-mb", OPT_BUFFER),
    QASM_PARSE_OPT_FLAG("json", OPT_JSON),
    QASM_PARSE_OPT_FLAG("help", OPT_HELP),
    QASM_PARSE_OPT_END,
};

/* The numeric flags: qasm_parse_flag_u64's wording, then " (see --help)". */
static int flag_u64(uint64_t *v, const char *name, const char *s, uint64_t lo, uint64_t hi,
                    char *err, size_t errlen)
{
    char msg[256];
    if (qasm_parse_flag_u64(v, name, s, lo, hi, msg, sizeof(msg)) < 0)
        return qasm_parse_usagef(err, errlen, "%s", msg);
    return 0;
}

/* One option; 1 = --help. */
static int capture_opt(struct qasm_capture_opts *o, int c, char **argv, char *err, size_t errlen)
{
    uint64_t v;
    switch (c) {
    case 'w': o->out = optarg; return 0;
    case 'i': o->iface = optarg; return 0;
    case 'f': o->filter = optarg; return 0;
    case OPT_DURATION:
        if (qasm_duration_parse(&o->duration, optarg) < 0 || o->duration == 0)
            return qasm_parse_usagef(err, errlen, "--duration: expected a positive duration like "
                                    "10s, got '%s'", optarg);
        return 0;
    case OPT_COUNT:
        return flag_u64(&o->count, "count", optarg, 1, UINT64_MAX, err, errlen);
    case OPT_SNAPLEN:
        if (flag_u64(&v, "snaplen", optarg, 64, 262144, err, errlen) < 0)
            return -1;
        o->snaplen = (int)v;
        return 0;
    case OPT_BUFFER:
        if (flag_u64(&v, "buffer-mb", optarg, 1, 1024, err, errlen) < 0)
            return -1;
        o->buffer_mb = (int)v;
        return 0;
    case OPT_JSON: o->json = 1; return 0;
    case OPT_HELP:
    case 'h':
        return 1;
    case ':':
        return qasm_parse_usagef(err, errlen, "option %s needs a value", argv[optind - 1]);
    default:
        return qasm_parse_usagef(err, errlen, "unknown option '%s'", argv[optind - 1]);
    }
}

int qasm_capture_opts_parse(int argc, char **argv, struct qasm_capture_opts *o, char *err,
                            size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->iface = "lo";
    o->filter = "udp";
    o->snaplen = 65535;
    o->buffer_mb = 16;
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0;
    int c, rv;
    while ((c = getopt_long(argc, argv, ":w:i:f:h", capture_longopts, NULL)) != -1) {
        rv = capture_opt(o, c, argv, err, errlen);
        if (rv != 0)
            return rv;
    }
    if (optind < argc)
        return qasm_parse_usagef(err, errlen, "unexpected argument '%s'", argv[optind]);
    if (!o->out)
        return qasm_parse_usagef(err, errlen, "-w OUT.pcap is required");
    return 0;
}
