/* serveropts.c: qasm-h3-server's command line (see serveropts.h). */
#include "serveropts.h"

#include <getopt.h>
#include <string.h>

#include "cid.h"
#include "log.h"
#include "parse.h"

static const char usage_text[] =
    "Usage: qasm-h3-server --listen HOST:PORT [--listen ...] [options]\n"
    "HTTP/3 server: GET /bytes/N, GET /, POST /echo, GET /stats. Prints a JSON summary\n"
    "of its counters on stdout at SIGTERM/SIGINT.\n"
    "  --listen IP:PORT       address to serve (repeatable; [IPv6]:PORT for IPv6)\n"
    "  --cert FILE --key FILE PEM certificate and key (default: self-signed, generated)\n"
    "  --write-cert FILE --write-key FILE  save the generated certificate and key\n"
    "  --cid-len N            length of the server's connection IDs, 8..20 (18)\n"
    "  --idle-timeout T       QUIC idle timeout (30s)\n"
    "  --initial-rtt T        initial RTT estimate (10ms)\n"
    "  --max-ack-delay T      advertised max_ack_delay (1ms)\n"
    "  --secret HEX           stateless-reset secret (32 bytes hex; default random),\n"
    "                         share it between backends to make resets verifiable\n"
    "  --no-stateless-reset   drop short-header packets for unknown DCIDs silently\n"
    "  --no-json              do not print the summary at exit\n"
    "  --gso                  send with UDP GSO (faster; captures on this host then show\n"
    "                         multi-packet super-datagrams)\n"
    "  --qlog-dir DIR         write one ngtcp2 qlog file per connection into DIR,\n"
    "                         server-ODCID.sqlog (the client writes client-N-ODCID.sqlog)\n"
    "  --log-level L          debug|info|warn|error (warn)\n"
    "  -h, --help             this text\n"
    "  --version              print the version and the commit it was built from\n"
    "T: a number with a unit, ns, us, ms, s, m or h (250ms, 1.5s, 5m, 1h);\n"
    "a bare number is seconds.\n"
    "SSLKEYLOGFILE=FILE appends the TLS secrets of every connection to FILE (NSS key log\n"
    "format, for Wireshark: docs/CAPTURES.md).\n";

const char *qasm_h3s_usage(void)
{
    return usage_text;
}

enum {
    O_LISTEN = 256, O_CERT, O_KEY, O_WCERT, O_WKEY, O_CIDLEN, O_IDLE, O_IRTT, O_MAD, O_SECRET,
    O_NORESET, O_NOJSON, O_GSO, O_LOG, O_HELP, O_QLOG,
};

static const struct option h3s_longopts[] = {
    QASM_PARSE_OPT_ARG("listen", O_LISTEN),
    QASM_PARSE_OPT_ARG("cert", O_CERT),
    QASM_PARSE_OPT_ARG("key", O_KEY),
    QASM_PARSE_OPT_ARG("write-cert", O_WCERT),
    QASM_PARSE_OPT_ARG("write-key", O_WKEY),
    QASM_PARSE_OPT_ARG("cid-len", O_CIDLEN),
    QASM_PARSE_OPT_ARG("idle-timeout", O_IDLE),
    QASM_PARSE_OPT_ARG("initial-rtt", O_IRTT),
    QASM_PARSE_OPT_ARG("max-ack-delay", O_MAD),
    QASM_PARSE_OPT_ARG("secret", O_SECRET),
    QASM_PARSE_OPT_FLAG("no-stateless-reset", O_NORESET),
    QASM_PARSE_OPT_FLAG("no-json", O_NOJSON),
    QASM_PARSE_OPT_FLAG("gso", O_GSO),
    QASM_PARSE_OPT_ARG("log-level", O_LOG),
    QASM_PARSE_OPT_ARG("qlog-dir", O_QLOG),
    QASM_PARSE_OPT_FLAG("help", O_HELP),
    QASM_PARSE_OPT_END,
};

/* One option; 1 = --help. |*secret_hex| is checked after the loop. */
static int h3s_opt(struct qasm_h3s_opts *o, int c, const char *a, const char **secret_hex,
                   char **argv, char *err, size_t errlen)
{
    uint64_t v;
    switch (c) {
    case O_LISTEN:
        if (o->nlisten == QASM_H3S_MAX_LISTEN)
            return qasm_parse_errf(err, errlen, "at most 16 --listen (%s)", a);
        if (qasm_parse_addr(&o->listen[o->nlisten], a, "--listen", &o->names) < 0)
            return qasm_parse_errf(err, errlen,
                                   "--listen: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got '%s'",
                                   a);
        o->nlisten++;
        return 0;
    case O_CERT: o->cert = a; return 0;
    case O_KEY: o->key = a; return 0;
    case O_WCERT: o->write_cert = a; return 0;
    case O_WKEY: o->write_key = a; return 0;
    case O_CIDLEN:
        if (qasm_parse_u64(&v, a, 8, 20) < 0)
            return qasm_parse_errf(err, errlen, "--cid-len: expected 8..20, got '%s'", a);
        o->cid_len = (unsigned)v;
        return 0;
    case O_IDLE:
        if (qasm_duration_parse(&o->idle_timeout, a) != 0 || o->idle_timeout == 0)
            return qasm_parse_errf(err, errlen, "--idle-timeout: expected a duration, got '%s'", a);
        return 0;
    case O_IRTT:
        if (qasm_duration_parse(&o->initial_rtt, a) != 0 || o->initial_rtt == 0)
            return qasm_parse_errf(err, errlen, "--initial-rtt: expected a duration, got '%s'", a);
        return 0;
    case O_MAD:
        if (qasm_duration_parse(&o->max_ack_delay, a) != 0 ||
            o->max_ack_delay >= (qasm_duration)16384 * QASM_MS)
            return qasm_parse_errf(err, errlen,
                                   "--max-ack-delay: expected a duration < 16384ms, got '%s'", a);
        return 0;
    case O_SECRET: *secret_hex = a; return 0;
    case O_NORESET: o->stateless_reset = 0; return 0;
    case O_NOJSON: o->json = 0; return 0;
    case O_GSO: o->gso = 1; return 0;
    case O_QLOG: o->qlog_dir = a; return 0;
    case O_LOG:
        if ((o->log_level = qasm_log_level_parse(a)) < 0)
            return qasm_parse_errf(err, errlen,
                                   "--log-level: expected debug|info|warn|error|off, got '%s'", a);
        return 0;
    case 'h':
    case O_HELP: return 1;
    default:
        return qasm_parse_errf(err, errlen, "unknown or incomplete option '%s' (see --help)",
                               argv[optind - 1]);
    }
}

/* --secret: 64 hex digits, read as two halves (the CID hex parser takes up to 20 bytes). */
static int h3s_secret(struct qasm_h3s_opts *o, const char *hex, char *err, size_t errlen)
{
    struct qasm_cid tmp;
    char half[41];
    if (strlen(hex) != 2 * QASM_H3S_SECRET_LEN)
        return qasm_parse_errf(err, errlen, "--secret: expected 64 hex digits, got '%s'", hex);
    for (int i = 0; i < 2; i++) {
        memcpy(half, hex + 32 * i, 32);
        half[32] = '\0';
        if (qasm_cid_parse(&tmp, half) != 0)
            return qasm_parse_errf(err, errlen, "--secret: not hex: '%s'", hex);
        memcpy(o->secret + 16 * i, tmp.data, 16);
    }
    o->have_secret = 1;
    return 0;
}

int qasm_h3s_opts_parse(int argc, char **argv, struct qasm_h3s_opts *o, char *err, size_t errlen)
{
    const char *secret_hex = NULL;
    int c, rv;

    memset(o, 0, sizeof(*o));
    o->cid_len = 18;
    o->idle_timeout = 30 * QASM_SEC;
    o->initial_rtt = 10 * QASM_MS;
    o->max_ack_delay = 1 * QASM_MS;
    o->stateless_reset = 1;
    o->json = 1;
    o->log_level = QASM_LOG_WARN;
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", h3s_longopts, NULL)) != -1) {
        rv = h3s_opt(o, c, optarg, &secret_hex, argv, err, errlen);
        if (rv != 0)
            return rv;
    }
    if (optind < argc)
        return qasm_parse_errf(err, errlen, "unexpected argument '%s'", argv[optind]);
    if (o->nlisten == 0)
        return qasm_parse_errf(err, errlen, "--listen is required (see --help)");
    if ((o->cert == NULL) != (o->key == NULL))
        return qasm_parse_errf(err, errlen, "--cert and --key go together");
    if (secret_hex)
        return h3s_secret(o, secret_hex, err, errlen);
    return 0;
}
