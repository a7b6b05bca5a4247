/*
 * main.c: qasm-mbox, a QUIC-aware (or default) NAT, rate limiter or load
 * balancer over the UDP relay backend. Flags -> core config, relay and
 * tracker link; one libev loop; stats JSON every second, at exit and on
 * SIGUSR1; clean exit on SIGTERM / SIGINT.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <ev.h>

#include "addr.h"
#include "cid.h"
#include "clock.h"
#include "keyfile.h"
#include "log.h"
#include "mbox.h"
#include "mbox_flags.h"
#include "io/mbox_json.h"
#include "mbox_opts.h"
#include "io/packet_io.h"
#include "parse.h"
#include "io/relay.h"
#include "io/json.h"
#include "io/tracker_link.h"

struct app {
    struct ev_loop *loop;
    struct qasm_mbox_config cfg;
    struct qasm_mbox *m;
    struct qasm_relay *relay;
    struct qasm_tlink *tl;
    const char *stats_path;
    size_t stats_entries;
    qasm_tstamp started;
    ev_timer tick;
    ev_signal sig_term;
    ev_signal sig_int;
    ev_signal sig_usr1;
    int stopping;
    /* Counters of evictions / refusals at the last log line (one line a second at most). */
    uint64_t logged_evicted, logged_table_full, logged_recycled, logged_upstream_evicted;
};

/* ---- stats ---- */

static void fill_stats(struct qasm_json *j, void *ud)
{
    struct app *app = ud;
    const struct qasm_relay_counters *rc = qasm_relay_counters(app->relay);
    const struct qasm_mbox_json_drop drops[] = {
        { "oversize", rc->rx_truncated },
        { "no_socket", rc->no_socket },
        { "send_error", rc->tx_errors },
    };

    qasm_json_str(j, "function", qasm_mbox_function_name(app->cfg.function));
    qasm_json_str(j, "mode", qasm_mbox_mode_name(app->cfg.mode));
    {
        char l[QASM_ADDR_STRLEN];
        qasm_json_str(j, "listen", qasm_addr_format(l, sizeof(l), qasm_relay_listen_addr(app->relay)));
    }
    qasm_json_dbl(j, "uptime_s", (double)(qasm_now() - app->started) / 1e9);
    qasm_mbox_json_counters(j, app->m, &app->cfg, drops, sizeof(drops) / sizeof(drops[0]));
    qasm_json_hist(j, "processing_ns", qasm_relay_proc_hist(app->relay));

    qasm_json_obj(j, "relay");
    qasm_json_u64(j, "rx", rc->rx);
    qasm_json_u64(j, "tx", rc->tx);
    qasm_json_u64(j, "rx_errors", rc->rx_errors);
    qasm_json_u64(j, "ports_open", rc->ports_open);
    qasm_json_u64(j, "port_bind_fail", rc->port_bind_fail);
    qasm_json_u64(j, "upstream_sockets", rc->upstream_sockets);
    qasm_json_u64(j, "upstream_created", rc->upstream_created);
    qasm_json_u64(j, "upstream_expired", rc->upstream_expired);
    qasm_json_u64(j, "upstream_closed", rc->upstream_closed);
    qasm_json_u64(j, "upstream_evicted", rc->upstream_evicted);
    qasm_json_u64(j, "max_flows", qasm_relay_max_flows(app->relay));
    qasm_json_u64(j, "bufs_allocated", rc->bufs_allocated);
    qasm_json_close(j);

    qasm_mbox_json_tracker(j, app->tl);
    qasm_mbox_json_entries(j, app->m, app->cfg.function, qasm_now(), app->stats_entries);
}

static void write_stats(struct app *app)
{
    if (!app->stats_path)
        return;
    int rv = qasm_json_write_file(app->stats_path, fill_stats, app);
    if (rv < 0)
        qasm_warn("cannot write %s: %s", app->stats_path, strerror(-rv));
}

/* One warning a second at most, with what the bounds cost since the last one. */
static void log_bounds(struct app *app)
{
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(app->m, &st);
    const struct qasm_relay_counters *rc = qasm_relay_counters(app->relay);
    uint64_t ev = st.entries_evicted - app->logged_evicted;
    uint64_t tf = st.packets_dropped_by[QASM_MBOX_DROP_TABLE_FULL] - app->logged_table_full;
    uint64_t rcy = st.fallback_recycled - app->logged_recycled;
    uint64_t uev = rc->upstream_evicted - app->logged_upstream_evicted;
    if (ev == 0 && tf == 0 && rcy == 0 && uev == 0)
        return;
    qasm_warn("bounds hit in the last second: %" PRIu64 " entries evicted and %" PRIu64
              " packets refused (table_full) at --max-entries %zu, %" PRIu64
              " fallback mappings recycled (--fallback-per-conn %zu), %" PRIu64
              " upstream sockets evicted (--max-flows %zu)",
              ev, tf, app->cfg.max_entries, rcy, app->cfg.fallback_per_conn, uev,
              qasm_relay_max_flows(app->relay));
    app->logged_evicted = st.entries_evicted;
    app->logged_table_full = st.packets_dropped_by[QASM_MBOX_DROP_TABLE_FULL];
    app->logged_recycled = st.fallback_recycled;
    app->logged_upstream_evicted = rc->upstream_evicted;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct app *app = w->data;
    qasm_relay_sweep(app->relay, qasm_now());
    log_bounds(app);
    write_stats(app);
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct app *app = w->data;
    if (w->signum == SIGUSR1) {
        write_stats(app);
        return;
    }
    qasm_info("signal %d: exiting", w->signum);
    app->stopping = 1;
    ev_break(loop, EVBREAK_ALL);
}

static void relay_drain_cb(void *ud)
{
    qasm_relay_drain(ud);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* --io packet: the core's configuration and the shell's settings to qasm_pio_main. */
static int run_packet_io(const struct qasm_mbox_opts *o, const struct qasm_auth_key *key)
{
    struct qasm_pio_options po;
    memset(&po, 0, sizeof(po));
    po.cfg = o->cfg;
    po.have_public = o->fl.public_ip != NULL;
    po.inside = o->inside;
    po.outside = o->outside;
    po.have_tracker = o->have_tracker;
    if (o->have_tracker)
        po.tracker = o->tracker;
    po.tracker_key = key;
    po.tracker_keepalive = o->keepalive;
    po.stats_path = o->stats_path;
    po.stats_entries = o->stats_entries;
    po.max_packet = o->max_datagram;
    po.have_vip = o->have_listen;
    if (o->have_listen)
        po.vip = o->listen;
    return qasm_pio_main(&po);
}

/* The core, the relay and (aware modes) the tracker link; 0, or the exit status. */
static int relay_setup(struct app *app, struct qasm_mbox_opts *o, const struct qasm_auth_key *key)
{
    struct qasm_mbox_config *cfg = &app->cfg;
    *cfg = o->cfg;
    cfg->flow_events = 1; /* the relay closes each upstream socket with its flow's state */
    int rv = qasm_mbox_new(&app->m, cfg);
    if (rv < 0) {
        fprintf(stderr, "qasm-mbox: invalid configuration for %s/%s: %s\n",
                qasm_mbox_function_name(o->function), o->mode_s, strerror(-rv));
        return 2;
    }
    app->loop = EV_DEFAULT;
    app->started = qasm_now();
    struct qasm_relay_config rcfg;
    memset(&rcfg, 0, sizeof(rcfg));
    rcfg.max_datagram = o->max_datagram;
    rcfg.max_flows = o->max_flows;
    rcfg.core_batch = o->core_batch;
    rcfg.function = o->function;
    rcfg.listen = o->listen;
    if (o->have_upstream)
        rcfg.upstream = o->upstream;
    rcfg.flow_idle = cfg->udp_stream_timeout > cfg->udp_timeout ? cfg->udp_stream_timeout
                                                                : cfg->udp_timeout;
    rv = qasm_relay_new(&app->relay, app->loop, app->m, &rcfg);
    if (rv < 0) {
        char a[QASM_ADDR_STRLEN];
        fprintf(stderr, "qasm-mbox: cannot listen on %s: %s\n",
                qasm_addr_format(a, sizeof(a), &o->listen), strerror(-rv));
        qasm_mbox_del(app->m);
        return 1;
    }
    o->listen = *qasm_relay_listen_addr(app->relay); /* --listen HOST:0: the port picked */
    if (o->mode != QASM_MBOX_DEFAULT) {
        rv = qasm_tlink_new(&app->tl, app->loop, &o->tracker, key, app->m, relay_drain_cb,
                            app->relay);
        if (rv < 0) {
            fprintf(stderr, "qasm-mbox: tracker session: %s\n", strerror(-rv));
            qasm_relay_del(app->relay);
            qasm_mbox_del(app->m);
            return 1;
        }
        qasm_tlink_set_keepalive(app->tl, o->keepalive);
        qasm_relay_set_tlink(app->relay, app->tl);
    }
    return 0;
}

/* The stats tick and the signals, then the "listening on" line. */
static void relay_start(struct app *app, const struct qasm_mbox_opts *o)
{
    ev_timer_init(&app->tick, tick_cb, 1., 1.);
    app->tick.data = app;
    ev_timer_start(app->loop, &app->tick);
    ev_signal_init(&app->sig_term, sig_cb, SIGTERM);
    ev_signal_init(&app->sig_int, sig_cb, SIGINT);
    ev_signal_init(&app->sig_usr1, sig_cb, SIGUSR1);
    app->sig_term.data = app->sig_int.data = app->sig_usr1.data = app;
    ev_signal_start(app->loop, &app->sig_term);
    ev_signal_start(app->loop, &app->sig_int);
    ev_signal_start(app->loop, &app->sig_usr1);

    char l[QASM_ADDR_STRLEN], u[QASM_ADDR_STRLEN];
    if (o->function == QASM_MBOX_LB)
        qasm_info("lb %s: listening on %s, %zu backend(s), first %s", o->mode_s,
                  qasm_addr_format(l, sizeof(l), &o->listen), o->fl.nbackends,
                  qasm_addr_format(u, sizeof(u), &o->fl.backends[0]));
    else
        qasm_info("%s %s: listening on %s, upstream %s", qasm_mbox_function_name(o->function),
                  o->mode_s, qasm_addr_format(l, sizeof(l), &o->listen),
                  qasm_addr_format(u, sizeof(u), &o->upstream));
    if (o->mode == QASM_MBOX_DEFAULT && o->have_tracker)
        qasm_info("default mode: --tracker is not used");
}

/* After the loop: held packets get their default treatment, then everything is freed. */
static void relay_shutdown(struct app *app, const struct qasm_mbox_opts *o)
{
    if (o->mode != QASM_MBOX_DEFAULT) {
        qasm_mbox_tracker_state(app->m, 0, qasm_now());
        qasm_relay_set_tlink(app->relay, NULL);
        qasm_relay_drain(app->relay);
    }
    /* Whatever is still held comes back as DROP (shutdown): buffers freed, counted. */
    qasm_mbox_flush(app->m);
    qasm_relay_drain(app->relay);
    write_stats(app);
    qasm_tlink_del(app->tl);
    qasm_relay_del(app->relay);
    qasm_mbox_del(app->m);
    ev_loop_destroy(app->loop);
}

int main(int argc, char **argv)
{
    static struct app app;
    static struct qasm_mbox_opts o;           /* the core's config points into it */
    static struct qasm_auth_key tracker_key;  /* len 0: none */
    char err[1024];
    qasm_log_init("qasm-mbox", QASM_LOG_INFO);
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
    if (rv < 0) {
        fprintf(stderr, "qasm-mbox: %s\n", err);
        return 2;
    }
    qasm_log_set_level((enum qasm_log_level)o.log_level);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (o.io_packet)
        return run_packet_io(&o, &tracker_key);
    app.stats_path = o.stats_path;
    app.stats_entries = o.stats_entries;
    rv = relay_setup(&app, &o, &tracker_key);
    if (rv != 0)
        return rv;
    relay_start(&app, &o);
    write_stats(&app);
    qasm_relay_drain(app.relay);
    ev_run(app.loop, 0);
    relay_shutdown(&app, &o);
    return 0;
}
