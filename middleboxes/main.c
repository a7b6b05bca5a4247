/*
 * main.c: qasm-mbox, a QUIC-aware (or default) NAT, rate limiter or load
 * balancer. Flags -> the driver's configuration with the chosen I/O
 * backend (the UDP relay, or --io packet); the driver runs the loop
 * (middleboxes/io/driver.h).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "keyfile.h"
#include "log.h"
#include "mbox.h"
#include "mbox_opts.h"
#include "parse.h"
#include "middleboxes/io/driver.h"
#include "cli.h"
#include "middleboxes/io/packet_io.h"
#include "middleboxes/io/relay.h"
#include "middleboxes/io/xdp_io.h"

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The XDP backend's table, or NULL with the reason said when it was not built. */
static const struct qasm_driver_backend_ops *xdp_ops(void)
{
#ifdef QASM_HAVE_XDP
    return &qasm_xdp_ops;
#else
    fprintf(stderr, "qasm-mbox: --io xdp was not built (no clang/bpftool/libbpf-dev at build "
                    "time: make deps, then make); --io packet and the relay work\n");
    return NULL;
#endif
}

/* The backend's settings from the flags: the relay's or the packet backend's. */
static void backend_config(const struct qasm_mbox_opts *o, struct qasm_relay_config *rc,
                           struct qasm_pio_config *pc)
{
    memset(rc, 0, sizeof(*rc));
    memset(pc, 0, sizeof(*pc));
    pc->inside = o->inside;
    pc->outside = o->outside;
    pc->have_public = o->fl.public_ip != NULL;
    pc->have_vip = o->have_listen;
    if (o->have_listen)
        pc->vip = o->listen;
    rc->function = o->function;
    rc->listen = o->listen;
    if (o->have_upstream)
        rc->upstream = o->upstream;
    rc->max_flows = o->max_flows;
    rc->flow_idle = o->cfg.udp_stream_timeout > o->cfg.udp_timeout ? o->cfg.udp_stream_timeout
                                                                   : o->cfg.udp_timeout;
    rc->tracker_unused = o->mode == QASM_MBOX_DEFAULT && o->have_tracker;
}

int main(int argc, char **argv)
{
    static struct qasm_mbox_opts o;           /* the core's config points into it */
    static struct qasm_auth_key tracker_key;  /* len 0: none */
    char err[1024];
    qasm_log_init("qasm-mbox", QASM_LOG_INFO);
    qasm_cli_front("qasm-mbox", argc, argv);
    int rv = qasm_mbox_opts_parse(argc, argv, &o, err, sizeof(err));
    if (rv == 1) {
        fputs(qasm_mbox_usage(), stdout);
        return 0;
    }
    /* The key file is read where the flag was: its error comes before any later one. */
    char kerr[512];
    for (int i = 0; i < o.tracker_keys.n; i++)
        if (qasm_keyfile_load(&tracker_key, o.tracker_keys.path[i], kerr, sizeof(kerr)) < 0) {
            rv = qasm_parse_errf(err, sizeof(err), "--tracker-key %s (see --help)", kerr);
            break;
        }
    if (rv < 0)
        qasm_cli_usage_exit("qasm-mbox", err);
    qasm_cli_resolve_names("qasm-mbox", &o.names);
    qasm_cli_resolve_names("qasm-mbox", &o.fl.names);
    qasm_mbox_opts_addr_defaults(&o);
    qasm_log_set_level((enum qasm_log_level)o.log_level);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    struct qasm_relay_config rc;
    struct qasm_pio_config pc;
    backend_config(&o, &rc, &pc);
    struct qasm_xdp_config xc = {.pio = pc, .generic = o.xdp_generic};
    const struct qasm_driver_backend_ops *ops = o.io_packet ? &qasm_pio_ops : &qasm_relay_ops;
    if (o.io_xdp && !(ops = xdp_ops()))
        return 2;
    struct qasm_driver_config dc = {
        .core = o.cfg,
        .ops = ops,
        .backend = o.io_xdp ? (const void *)&xc : o.io_packet ? (const void *)&pc : (const void *)&rc,
        .tracker = o.have_tracker ? &o.tracker : NULL,
        .tracker_key = &tracker_key,
        .tracker_keepalive = o.keepalive,
        .stats_path = o.stats_path,
        .stats_entries = o.stats_entries,
        .metrics = o.have_metrics ? &o.metrics : NULL,
        .max_packet = o.max_datagram,
        .core_batch = o.core_batch || o.io_packet, /* the packet backend always batches */
        .control_path = o.control_path,
        .control_off = o.control_off,
    };
    return qasm_driver_run(&dc);
}
