/*
 * mboxctl_opts.c: qasm-mboxctl's command line (see mboxctl_opts.h).
 */
#include "middleboxes/mboxctl_opts.h"

#include <getopt.h>
#include <string.h>

#include "parse.h"

static const char usage_text[] =
"usage: qasm-mboxctl list|events|stats [--json] [--control PATH] [--count N]\n"
"\n"
"Reads a running qasm-mbox through its control socket, like conntrack reads\n"
"the kernel's connection table.\n"
"\n"
"commands:\n"
"  list                      the live table, one line per entry (like conntrack -L):\n"
"                            O-DCID (quic) or 5-tuple (udp), client and server, every\n"
"                            client address, public port / tokens / backend, age, time\n"
"                            to expiry, packets client->server/server->client\n"
"  events                    new, migrated, adopted, expired, evicted, refused and\n"
"                            released entries as they happen, one timestamped line each\n"
"                            (like conntrack -E -o timestamp), until interrupted\n"
"  stats                     the middlebox's counters: the object --stats-json writes\n"
"\n"
"options:\n"
"  --json                    list: one JSON document; events: one JSON object per line\n"
"                            (stats is always JSON)\n"
"  --control PATH            the middlebox's socket (qasm-mbox --control); default: the\n"
"                            only one of /run/qasm/mbox-*.sock and\n"
"                            /run/qasm-mbox-*/control.sock (root), else of\n"
"                            $XDG_RUNTIME_DIR/qasm/mbox-*.sock, else ./qasm-mbox-*.sock\n"
"  --count N                 events: exit after N events\n"
"  -h, --help                this text\n"
"  --version                 print the version and the commit it was built from\n"
"\n"
"Exit status: 0, 1 when the middlebox cannot be reached or refuses, 2 for a usage error.\n";

const char *qasm_mboxctl_usage(void)
{
    return usage_text;
}

enum { OPT_JSON = 256, OPT_CONTROL, OPT_COUNT };

static const struct option lopts[] = {
    QASM_PARSE_OPT_FLAG("json", OPT_JSON),
    QASM_PARSE_OPT_ARG("control", OPT_CONTROL),
    QASM_PARSE_OPT_ARG("count", OPT_COUNT),
    QASM_PARSE_OPT_FLAG("help", 'h'),
    QASM_PARSE_OPT_END,
};

static int command(struct qasm_mboxctl_opts *o, const char *s, char *err, size_t errlen)
{
    static const char *const names[] = {"list", "events", "stats"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0) {
            o->req.verb = (enum qasm_control_verb)i;
            return 0;
        }
    return qasm_parse_usagef(err, errlen, "unknown command '%s' (list, events or stats)", s);
}

int qasm_mboxctl_opts_parse(int argc, char **argv, struct qasm_mboxctl_opts *o, char *err,
                            size_t errlen)
{
    memset(o, 0, sizeof(*o));
    optind = 0;
    opterr = 0;
    int ch;
    uint64_t n;
    char msg[160];
    while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (ch) {
        case 'h': return 1;
        case OPT_JSON: o->req.json = 1; break;
        case OPT_CONTROL:
            if (*optarg == '\0' || strlen(optarg) > 107)
                return qasm_parse_usagef(err, errlen,
                                         "--control: expected a socket path of 1 to 107 bytes");
            o->control = optarg;
            break;
        case OPT_COUNT:
            if (qasm_parse_flag_u64(&n, "count", optarg, 1, 1000000000, msg, sizeof(msg)) < 0)
                return qasm_parse_usagef(err, errlen, "%s", msg);
            o->count = (unsigned long)n;
            break;
        default:
            qasm_parse_getopt_errf(msg, sizeof(msg), argc, argv, "h", lopts);
            return qasm_parse_usagef(err, errlen, "%s", msg);
        }
    }
    if (optind >= argc)
        return qasm_parse_usagef(err, errlen, "a command is needed: list, events or stats");
    if (command(o, argv[optind], err, errlen) < 0)
        return -1;
    if (optind + 1 < argc)
        return qasm_parse_usagef(err, errlen, "%s: unexpected '%s'", argv[optind],
                                 argv[optind + 1]);
    if (o->count && o->req.verb != QASM_CONTROL_EVENTS)
        return qasm_parse_usagef(err, errlen, "--count goes with events only");
    if (o->req.verb == QASM_CONTROL_STATS)
        o->req.json = 1;
    return 0;
}
