/* trackctl_opts.c: qasm-trackctl's command line (see trackctl_opts.h). */
#include "trackctl_opts.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

int qasm_trackctl_usage(char *buf, size_t len)
{
    return snprintf(buf, len,
        "usage: qasm-trackctl [--tracker HOST:PORT] [--json] [--timeout DUR] COMMAND [ARGS]\n"
        "Inspect and drive a qasm-tracker (default tracker 127.0.0.1:%d).\n"
        "\n"
        "commands:\n"
        "  dump                       every connection the tracker holds\n"
        "  query DCID_HEX [--server IP:PORT] [--wait DUR] [--client IP:PORT]\n"
        "                             the connection using that DCID (or O-DCID); exit 1 if\n"
        "                             not found (after waiting up to DUR: ns, us, ms, s, m\n"
        "                             or h, at most 1h; a bare number is milliseconds)\n"
        "  watch [O-DCID_HEX] [--count N]\n"
        "                             subscribe (to one connection, or to all) and print\n"
        "                             every push until interrupted or N pushes\n"
        "  stats                      the tracker's counters\n"
        "  keygen FILE                write a new shared key (mode 0600; never overwrites)\n"
        "  report --odcid HEX --client IP:PORT [--server IP:PORT] [--dcid HEX]...\n"
        "         [--client0 IP:PORT] [--scid HEX] [--seq N] [--dcid-seq N]\n"
        "         [--type open|dcid|retire|addr|close|refresh] [--close] [--secret HEX]\n"
        "                             send one agent report over UDP from the client's IP\n"
        "                             (default type: refresh with the given state; --close:\n"
        "                             close); --seq defaults to a clock-based number;\n"
        "                             --secret (32 hex digits) is the connection's secret:\n"
        "                             the report is authenticated with it (open and refresh\n"
        "                             carry it); without it, open and refresh choose a random\n"
        "                             one (printed) and other types go unauthenticated\n"
        "\n"
        "options:\n"
        "  --tracker HOST:PORT        tracker address, IPv4 or [IPv6]\n"
        "  --json                     JSON output (one object; watch: one per line)\n"
        "  --key FILE                 the tracker's shared key: prove it (and check the\n"
        "                             tracker's proof) before any request; report: add a\n"
        "                             key MAC\n"
        "  --timeout DUR              give up waiting for a reply after DUR (default 5s;\n"
        "                             watch waits forever unless given)\n"
        "  -h, --help                 this text\n"
        "  --version                  print the version and the commit it was built from\n"
        "DUR: a number with a unit, ns, us, ms, s, m or h (250ms, 1.5s, 5m, 1h);\n"
        "a bare number is seconds (query --wait: milliseconds).\n"
        "exit status: 0 ok, 1 not found, 2 usage, 3 tracker unreachable or error reply\n",
        QASM_PROTO_DEFAULT_PORT);
}

int qasm_trackctl_parse_type(const char *s)
{
    static const struct {
        const char *name;
        int type;
    } types[] = {
        { "open", QASM_PROTO_REPORT_OPEN },     { "dcid", QASM_PROTO_REPORT_DCID_NEW },
        { "retire", QASM_PROTO_REPORT_DCID_RETIRE }, { "addr", QASM_PROTO_REPORT_ADDR },
        { "close", QASM_PROTO_REPORT_CLOSE },   { "refresh", QASM_PROTO_REPORT_REFRESH },
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(s, types[i].name) == 0)
            return types[i].type;
    return -1;
}

static const struct option trackctl_lopts[] = {
    QASM_PARSE_OPT_ARG("tracker", 'T'),
    QASM_PARSE_OPT_FLAG("json", 'j'),
    QASM_PARSE_OPT_ARG("timeout", 't'),
    QASM_PARSE_OPT_ARG("count", 'n'),
    QASM_PARSE_OPT_ARG("server", 's'),
    QASM_PARSE_OPT_ARG("wait", 'w'),
    QASM_PARSE_OPT_ARG("odcid", 'o'),
    QASM_PARSE_OPT_ARG("scid", 'S'),
    QASM_PARSE_OPT_ARG("dcid", 'd'),
    QASM_PARSE_OPT_ARG("dcid-seq", 'D'),
    QASM_PARSE_OPT_ARG("client", 'c'),
    QASM_PARSE_OPT_ARG("client0", 'C'),
    QASM_PARSE_OPT_ARG("seq", 'q'),
    QASM_PARSE_OPT_FLAG("close", 'x'),
    QASM_PARSE_OPT_ARG("type", 'y'),
    QASM_PARSE_OPT_ARG("secret", 'K'),
    QASM_PARSE_OPT_ARG("key", 'k'),
    QASM_PARSE_OPT_FLAG("help", 'h'),
    QASM_PARSE_OPT_END,
};

/* die_usage's wording: the message, then " (see --help)". */
#define FAIL(...) return qasm_parse_usagef(err, errlen, __VA_ARGS__)

/* The session options: tracker, output, timeouts, query and watch arguments. 1 = not one. */
static int opt_session(struct qasm_trackctl_opts *o, int ch, const char *a, char *err,
                       size_t errlen)
{
    uint64_t v;
    qasm_duration d;
    switch (ch) {
    case 'T':
        if (qasm_parse_addr(&o->tracker, a, "--tracker", &o->names) < 0)
            FAIL("invalid --tracker '%s' (HOST:PORT, IP:PORT or [IPv6]:PORT)", a);
        return 0;
    case 'j':
        o->json = 1;
        return 0;
    case 't':
        if (qasm_duration_parse(&o->timeout, a) < 0 || o->timeout < QASM_MS)
            FAIL("invalid --timeout '%s'", a);
        o->timeout_set = 1;
        return 0;
    case 'n':
        if (qasm_parse_u64(&v, a, 0, 1000000000) < 0)
            FAIL("invalid --count '%s'", a);
        o->count = (long)v;
        return 0;
    case 's':
        if (qasm_addr_parse(&o->server, a) < 0)
            FAIL("invalid --server '%s'", a);
        return 0;
    case 'w':
        /* A bare number is milliseconds here (as it always was); with a unit, a duration. */
        if (qasm_parse_u64(&v, a, 0, 3600000) == 0) {
            o->wait_ms = (uint32_t)v;
            return 0;
        }
        if (a[0] < '0' || a[0] > '9' || a[strspn(a, "0123456789")] == '\0' ||
            qasm_duration_parse(&d, a) < 0 || d > 3600 * QASM_SEC)
            FAIL("invalid --wait '%s' (milliseconds, or a duration with a unit up to 1h)", a);
        o->wait_ms = (uint32_t)(d / QASM_MS);
        return 0;
    case 'k':
        qasm_parse_files_add(&o->keys, 'k', a);
        return 0;
    }
    return 1;
}

/* The report's options. 1 = not one. */
static int opt_report(struct qasm_trackctl_opts *o, int ch, const char *a, char *err,
                      size_t errlen)
{
    uint64_t v;
    struct qasm_cid k;
    switch (ch) {
    case 'o':
        if (qasm_cid_parse(&o->odcid, a) < 0 || o->odcid.len == 0)
            FAIL("invalid --odcid '%s' (hex, 1-20 bytes)", a);
        return 0;
    case 'S':
        if (qasm_cid_parse(&o->scid, a) < 0)
            FAIL("invalid --scid '%s' (hex, 0-20 bytes)", a);
        return 0;
    case 'd':
        if (o->ndcids == QASM_PROTO_MAX_DCIDS)
            FAIL("too many --dcid (at most 16)%s", "");
        if (qasm_cid_parse(&o->dcids[o->ndcids], a) < 0 || o->dcids[o->ndcids].len == 0)
            FAIL("invalid --dcid '%s' (hex, 1-20 bytes)", a);
        o->ndcids++;
        return 0;
    case 'D':
        if (qasm_parse_u64(&v, a, 0, (1ULL << 62) - 1 - QASM_PROTO_MAX_DCIDS) < 0)
            FAIL("invalid --dcid-seq '%s'", a);
        o->dcid_seq0 = v;
        return 0;
    case 'c':
        if (qasm_addr_parse(&o->client, a) < 0)
            FAIL("invalid --client '%s'", a);
        return 0;
    case 'C':
        if (qasm_addr_parse(&o->client0, a) < 0)
            FAIL("invalid --client0 '%s'", a);
        return 0;
    case 'q':
        if (qasm_parse_u64(&v, a, 0, UINT32_MAX) < 0)
            FAIL("invalid --seq '%s'", a);
        o->seq = (uint32_t)v;
        o->seq_set = 1;
        return 0;
    case 'x':
        o->close = 1;
        return 0;
    case 'y':
        o->type = qasm_trackctl_parse_type(a);
        if (o->type < 0)
            FAIL("invalid --type '%s'", a);
        return 0;
    case 'K':
        if (qasm_cid_parse(&k, a) < 0 || k.len != QASM_PROTO_SECRET_LEN)
            FAIL("invalid --secret '%s' (32 hex digits)", a);
        memcpy(o->secret, k.data, sizeof(o->secret));
        o->secret_set = 1;
        return 0;
    }
    return 1;
}

/* The command and its number of arguments. */
static int parse_command(struct qasm_trackctl_opts *o, int argc, char **argv, char *err,
                         size_t errlen)
{
    static const struct {
        const char *name;
        enum qasm_trackctl_cmd cmd;
        int min, max;  /* arguments */
    } cmds[] = {
        { "dump", QASM_TRACKCTL_DUMP, 0, 0 },     { "query", QASM_TRACKCTL_QUERY, 1, 1 },
        { "watch", QASM_TRACKCTL_WATCH, 0, 1 },   { "stats", QASM_TRACKCTL_STATS, 0, 0 },
        { "report", QASM_TRACKCTL_REPORT, 0, 0 }, { "keygen", QASM_TRACKCTL_KEYGEN, 1, 1 },
    };
    if (optind >= argc)
        return qasm_parse_errf(err, errlen, "missing command (see --help)");
    const char *cmd = argv[optind];
    int nargs = argc - optind - 1;
    o->arg = nargs > 0 ? argv[optind + 1] : NULL;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        if (nargs < cmds[i].min || nargs > cmds[i].max)
            FAIL("wrong arguments for '%s'", cmd);
        o->cmd = cmds[i].cmd;
        return 0;
    }
    FAIL("unknown command '%s'", cmd);
}

int qasm_trackctl_opts_parse(int argc, char **argv, struct qasm_trackctl_opts *o, char *err,
                             size_t errlen)
{
    memset(o, 0, sizeof(*o));
    qasm_addr_parse(&o->tracker, "127.0.0.1:4790");
    o->timeout = 5 * QASM_SEC;
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0; /* getopt's messages come back in err (qasm_parse_getopt_errf) */
    int ch, rv;
    while ((ch = getopt_long(argc, argv, "h", trackctl_lopts, NULL)) != -1) {
        if (ch == 'h')
            return QASM_TRACKCTL_HELP;
        rv = opt_session(o, ch, optarg, err, errlen);
        if (rv == 1)
            rv = opt_report(o, ch, optarg, err, errlen);
        if (rv == 1) {
            qasm_parse_getopt_errf(err, errlen, argc, argv, "h", trackctl_lopts);
            return QASM_TRACKCTL_BAD_OPTION;
        }
        if (rv < 0)
            return rv;
    }
    return parse_command(o, argc, argv, err, errlen);
}
