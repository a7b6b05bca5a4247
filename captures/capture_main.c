/*
 * capture_main.c: qasm-capture, a small libpcap recorder for the bench
 * (qasm-bench --capture) and for users: captures on an interface (default
 * lo) with a BPF filter into a pcap file until SIGTERM / SIGINT, --duration
 * or --count, then prints how many packets were captured and dropped.
 *
 *   qasm-capture -w OUT.pcap [-i lo] [-f "udp port 4433 or udp port 4790"]
 *                [--duration T] [--count N] [--snaplen N] [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "clock.h"
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
    "  --help                 this text\n"
    "A line \"qasm-capture: capturing on IFACE\" on stderr says the capture is running.\n"
    "Exit status: 0 ok, 1 capture error, 2 bad usage.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("qasm-capture: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    exit(2);
}

static uint64_t parse_u64(const char *name, const char *s, uint64_t lo, uint64_t hi)
{
    uint64_t v;
    char err[256];
    if (qasm_parse_flag_u64(&v, name, s, lo, hi, err, sizeof(err)) < 0)
        fail("%s", err);
    return v;
}

struct rec {
    pcap_dumper_t *d;
    uint64_t written;
};

static void on_packet(u_char *ud, const struct pcap_pkthdr *h, const u_char *data)
{
    struct rec *r = (struct rec *)ud;
    pcap_dump((u_char *)r->d, h, data);
    r->written++;
}

int main(int argc, char **argv)
{
    enum { OPT_DURATION = 256, OPT_COUNT, OPT_SNAPLEN, OPT_BUFFER, OPT_JSON, OPT_HELP };
    static const struct option opts[] = {
        { "write", required_argument, NULL, 'w' },
        { "interface", required_argument, NULL, 'i' },
        { "filter", required_argument, NULL, 'f' },
        { "duration", required_argument, NULL, OPT_DURATION },
        { "count", required_argument, NULL, OPT_COUNT },
        { "snaplen", required_argument, NULL, OPT_SNAPLEN },
        { "buffer-mb", required_argument, NULL, OPT_BUFFER },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL, *iface = "lo", *filter = "udp";
    qasm_duration duration = 0;
    uint64_t count = 0;
    int snaplen = 65535, buffer_mb = 16, json = 0;

    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":w:i:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': out = optarg; break;
        case 'i': iface = optarg; break;
        case 'f': filter = optarg; break;
        case OPT_DURATION:
            if (qasm_duration_parse(&duration, optarg) < 0 || duration == 0)
                fail("--duration: expected a positive duration like 10s, got '%s'", optarg);
            break;
        case OPT_COUNT: count = parse_u64("count", optarg, 1, UINT64_MAX); break;
        case OPT_SNAPLEN: snaplen = (int)parse_u64("snaplen", optarg, 64, 262144); break;
        case OPT_BUFFER: buffer_mb = (int)parse_u64("buffer-mb", optarg, 1, 1024); break;
        case OPT_JSON: json = 1; break;
        case OPT_HELP:
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case ':':
            fail("option %s needs a value", argv[optind - 1]);
        default:
            fail("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        fail("unexpected argument '%s'", argv[optind]);
    if (!out)
        fail("-w OUT.pcap is required");

    /* From here on a SIGTERM ends the capture cleanly, even during setup. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_create(iface, err);
    if (!p) {
        fprintf(stderr, "qasm-capture: %s: %s\n", iface, err);
        return 1;
    }
    pcap_set_snaplen(p, snaplen);
    pcap_set_promisc(p, 0);
    pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, buffer_mb * 1024 * 1024);
    int rv = pcap_activate(p);
    if (rv < 0) {
        fprintf(stderr, "qasm-capture: %s: %s\n", iface,
                rv == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rv));
        pcap_close(p);
        return 1;
    }
    struct bpf_program prog;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        fprintf(stderr, "qasm-capture: filter '%s': %s\n", filter, pcap_geterr(p));
        pcap_close(p);
        return 2;
    }
    if (pcap_setfilter(p, &prog) < 0) {
        fprintf(stderr, "qasm-capture: filter '%s': %s\n", filter, pcap_geterr(p));
        pcap_freecode(&prog);
        pcap_close(p);
        return 1;
    }
    pcap_freecode(&prog);
    struct rec r = { 0 };
    r.d = pcap_dump_open(p, out);
    if (!r.d) {
        fprintf(stderr, "qasm-capture: %s: %s\n", out, pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    if (pcap_setnonblock(p, 1, err) < 0) {
        fprintf(stderr, "qasm-capture: %s\n", err);
        pcap_dump_close(r.d);
        pcap_close(p);
        return 1;
    }
    int fd = pcap_get_selectable_fd(p);

    const char *link = pcap_datalink_val_to_name(pcap_datalink(p));
    fprintf(stderr, "qasm-capture: capturing on %s (%s), filter '%s', into %s\n", iface,
            link ? link : "?", filter, out);
    qasm_tstamp start = qasm_now();
    int status = 0;
    while (!stop_flag) {
        if (duration && qasm_now() - start >= duration)
            break;
        if (count && r.written >= count)
            break;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int pr = poll(&pfd, 1, 100);
        if (pr < 0 && errno != EINTR) {
            perror("qasm-capture: poll");
            status = 1;
            break;
        }
        int n = pcap_dispatch(p, count ? (int)(count - r.written < 1000 ? count - r.written : 1000)
                                       : -1,
                              on_packet, (u_char *)&r);
        if (n == PCAP_ERROR) {
            fprintf(stderr, "qasm-capture: %s\n", pcap_geterr(p));
            status = 1;
            break;
        }
        if (n > 0)
            pcap_dump_flush(r.d);
    }
    /* take what is already buffered */
    while (!count || r.written < count) {
        int n = pcap_dispatch(p, -1, on_packet, (u_char *)&r);
        if (n <= 0)
            break;
    }
    struct pcap_stat st;
    memset(&st, 0, sizeof(st));
    pcap_stats(p, &st);
    pcap_dump_close(r.d);
    pcap_close(p);
    double secs = (double)(qasm_now() - start) / 1e9;
    if (json)
        printf("{\"captured\":%" PRIu64 ",\"received\":%u,\"dropped\":%u,\"if_dropped\":%u,"
               "\"duration_s\":%.3f}\n",
               r.written, st.ps_recv, st.ps_drop, st.ps_ifdrop, secs);
    else
        fprintf(stderr,
                "qasm-capture: %" PRIu64 " packets captured, %u dropped by the kernel, %u by the "
                "interface, in %.3f s\n",
                r.written, st.ps_drop, st.ps_ifdrop, secs);
    return status;
}
