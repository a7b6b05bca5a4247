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
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pcap/pcap.h>

#include "capture_opts.h"
#include "cli.h"
#include "clock.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
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

/* Opens IFACE with the filter and the output file; exit status on failure (1, or 2 for a bad filter). */
static int capture_open(const struct qasm_capture_opts *o, pcap_t **pp, struct rec *r)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_create(o->iface, err);
    if (!p) {
        fprintf(stderr, "qasm-capture: %s: %s\n", o->iface, err);
        return 1;
    }
    pcap_set_snaplen(p, o->snaplen);
    pcap_set_promisc(p, 0);
    pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, o->buffer_mb * 1024 * 1024);
    int rv = pcap_activate(p);
    if (rv < 0) {
        fprintf(stderr, "qasm-capture: %s: %s\n", o->iface,
                rv == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rv));
        pcap_close(p);
        return 1;
    }
    struct bpf_program prog;
    if (pcap_compile(p, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        fprintf(stderr, "qasm-capture: filter '%s': %s\n", o->filter, pcap_geterr(p));
        pcap_close(p);
        return 2;
    }
    if (pcap_setfilter(p, &prog) < 0) {
        fprintf(stderr, "qasm-capture: filter '%s': %s\n", o->filter, pcap_geterr(p));
        pcap_freecode(&prog);
        pcap_close(p);
        return 1;
    }
    pcap_freecode(&prog);
    r->d = pcap_dump_open(p, o->out);
    if (!r->d) {
        fprintf(stderr, "qasm-capture: %s: %s\n", o->out, pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    if (pcap_setnonblock(p, 1, err) < 0) {
        fprintf(stderr, "qasm-capture: %s\n", err);
        pcap_dump_close(r->d);
        pcap_close(p);
        return 1;
    }
    *pp = p;
    return 0;
}

/* Captures until a signal, --duration or --count; 0, or 1 on a capture error. */
static int capture_loop(const struct qasm_capture_opts *o, pcap_t *p, struct rec *r,
                        qasm_tstamp start)
{
    int fd = pcap_get_selectable_fd(p);
    uint64_t count = o->count;
    while (!stop_flag) {
        if (o->duration && qasm_now() - start >= o->duration)
            break;
        if (count && r->written >= count)
            break;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int pr = poll(&pfd, 1, 100);
        if (pr < 0 && errno != EINTR) {
            perror("qasm-capture: poll");
            return 1;
        }
        int n = pcap_dispatch(p, count ? (int)(count - r->written < 1000 ? count - r->written : 1000)
                                       : -1,
                              on_packet, (u_char *)r);
        if (n == PCAP_ERROR) {
            fprintf(stderr, "qasm-capture: %s\n", pcap_geterr(p));
            return 1;
        }
        if (n > 0)
            pcap_dump_flush(r->d);
    }
    return 0;
}

/* Takes what is already buffered, closes, prints the counters. */
static void capture_finish(const struct qasm_capture_opts *o, pcap_t *p, struct rec *r,
                           qasm_tstamp start)
{
    while (!o->count || r->written < o->count) {
        int n = pcap_dispatch(p, -1, on_packet, (u_char *)r);
        if (n <= 0)
            break;
    }
    struct pcap_stat st;
    memset(&st, 0, sizeof(st));
    pcap_stats(p, &st);
    pcap_dump_close(r->d);
    pcap_close(p);
    double secs = (double)(qasm_now() - start) / 1e9;
    if (o->json) {
        /* duration_s to the millisecond; 15 digits leave no binary tail. */
        json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:f}", "packets_captured", (json_int_t)r->written,
                              "packets_received", (json_int_t)st.ps_recv, "packets_dropped",
                              (json_int_t)st.ps_drop, "packets_if_dropped", (json_int_t)st.ps_ifdrop,
                              "duration_s", round(secs * 1e3) / 1e3);
        json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        putchar('\n');
        json_decref(j);
    } else
        fprintf(stderr,
                "qasm-capture: %" PRIu64 " packets captured, %u dropped by the kernel, %u by the "
                "interface, in %.3f s\n",
                r->written, st.ps_drop, st.ps_ifdrop, secs);
}

int main(int argc, char **argv)
{
    struct qasm_capture_opts o;
    char err[512];
    qasm_cli_front("qasm-capture", argc, argv);
    int rv = qasm_capture_opts_parse(argc, argv, &o, err, sizeof(err));
    if (rv == 1) {
        fputs(qasm_capture_usage(), stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit("qasm-capture", err);

    /* From here on a SIGTERM ends the capture cleanly, even during setup. */
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pcap_t *p;
    struct rec r = { 0 };
    rv = capture_open(&o, &p, &r);
    if (rv != 0)
        return rv;
    const char *link = pcap_datalink_val_to_name(pcap_datalink(p));
    fprintf(stderr, "qasm-capture: capturing on %s (%s), filter '%s', into %s\n", o.iface,
            link ? link : "?", o.filter, o.out);
    qasm_tstamp start = qasm_now();
    int status = capture_loop(&o, p, &r, start);
    capture_finish(&o, p, &r, start);
    return status;
}
