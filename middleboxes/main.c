/*
 * main.c: qasm-mbox, a QUIC-aware (or default) NAT, rate limiter or load
 * balancer over the UDP relay backend. Flags -> core config, relay and
 * tracker link; one libev loop; stats JSON every second, at exit and on
 * SIGUSR1; clean exit on SIGTERM / SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
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
#include "mbox_json.h"
#include "packet_io.h"
#include "parse.h"
#include "relay.h"
#include "json.h"
#include "tracker_link.h"

static const char usage_text[] =
"usage: qasm-mbox nat|ratelimit|lb --mode default|reactive|proactive [options]\n"
"\n"
"A userspace middlebox over UDP on loopback: clients send to --listen, the\n"
"middlebox forwards to --upstream (nat, ratelimit) or to one of the --backend\n"
"addresses (lb). Aware modes (reactive, proactive) key QUIC connections on\n"
"their original DCID through the tracker (--tracker).\n"
"\n"
"common:\n"
"  --mode MODE               default | reactive | proactive (required)\n"
"  --listen HOST:PORT        private side, where clients send (required); port 0:\n"
"                            a free port, shown in the \"listening on\" log line and\n"
"                            as \"listen\" in the stats JSON\n"
"  --upstream HOST:PORT      next hop or server (nat, ratelimit: required)\n"
"  --tracker HOST:PORT       tracker TCP address (aware modes: required)\n"
"  --tracker-key FILE        the tracker's shared key (qasm-tracker --key): prove it, and\n"
"                            trust no tracker that cannot prove it (file mode 0600)\n"
"  --tracker-keepalive DUR   a STATS request after DUR without a request, so the\n"
"                            tracker's --session-idle never closes the session\n"
"                            (default 30s)\n"
"  --udp-timeout DUR         idle timeout of a new entry (default 30s)\n"
"  --udp-stream-timeout DUR  idle timeout once traffic flowed both ways (default 120s)\n"
"  --stats-json FILE         write stats as JSON every second, at exit and on SIGUSR1\n"
"  --stats-entries N         also list up to N state entries in the stats (default 0)\n"
"  --log-level LEVEL         debug | info | warn | error | off (default info)\n"
"  --seed N                  hash seed (default 0 = fixed)\n"
"  --max-datagram BYTES      largest datagram relayed (default 4096; longer: dropped)\n"
"  --max-flows N             ratelimit, lb: upstream sockets at most (default 4096); when\n"
"                            full, a new flow closes the idlest one (upstream_evicted)\n"
"  --core-batch              one core call per receive batch (processing_ns: batch mean)\n"
"  --max-entries N           state entries at most, like nf_conntrack_max (default 65536;\n"
"                            0: none); when full, a new flow evicts the idlest entry not\n"
"                            yet seen both ways (entries_evicted), else it is refused\n"
"                            (table_full)\n"
"  --help                    this text\n"
"packet io (root; a router between two interfaces, see docs/TESTBED.md):\n"
"  --io relay|packet         UDP relay on sockets (default) or IP packets on interfaces\n"
"  --inside IF               packet: private-side interface (clients)\n"
"  --outside IF              packet: public-side interface; the nat's default --public\n"
"                            is its address (no --listen / --upstream with packet io,\n"
"                            except the lb's --listen VIP:PORT)\n"
"nat:\n"
"  --public IP               public address the pool's ports are bound on (default 127.0.0.1)\n"
"  --ports LO-HI             public port pool (default 40000-40063)\n"
"ratelimit:\n"
"  --rate N                  tokens per second per flow (default 5)\n"
"  --burst N                 bucket depth (default 5)\n"
"  --bytes                   a token is a byte of UDP payload, not a packet\n"
"lb:\n"
"  --backend HOST:PORT       a backend (repeat; at least one)\n"
"aware modes:\n"
"  --hold DUR                how long the tracker waits for the agent's report of a held\n"
"                            packet's address (the query's wait, default 2ms)\n"
"  --hold-ceiling DUR        longest a held packet waits for the tracker's answer; a busy\n"
"                            tracker may answer after --hold (default 100ms; <= --hold: a\n"
"                            fixed hold of --hold)\n"
"  --hold-max N              packets held at most, in total (default 4096)\n"
"  --hold-per-dcid N         packets held at most per unknown DCID (default 16)\n"
"  --cache-ttl DUR           how long a tracker answer is trusted (default 120s)\n"
"  --query-timeout DUR       forget an unanswered query after this (default 1s)\n"
"  --fallback-per-conn N     default mappings a known connection may take while the\n"
"                            tracker is away (default 4; beyond, its oldest is freed:\n"
"                            fallback_recycled; 0: no cap)\n"
"\n"
"DUR: 250ms, 2s, 1.5s, 100us, or seconds without a unit.\n";

enum {
    OPT_MODE = 256, OPT_LISTEN, OPT_UPSTREAM, OPT_TRACKER,
    OPT_STATS_JSON, OPT_LOG_LEVEL, OPT_MAX_DATAGRAM, OPT_MAX_FLOWS, OPT_FN_FLAG,
    OPT_STATS_ENTRIES, OPT_CORE_BATCH, OPT_HELP,
    OPT_IO, OPT_INSIDE, OPT_OUTSIDE, OPT_TRACKER_KEY, OPT_TRACKER_KEEPALIVE,
};

static const struct option long_opts[] = {
    {"mode", required_argument, NULL, OPT_MODE},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"upstream", required_argument, NULL, OPT_UPSTREAM},
    {"tracker", required_argument, NULL, OPT_TRACKER},
    {"tracker-key", required_argument, NULL, OPT_TRACKER_KEY},
    {"tracker-keepalive", required_argument, NULL, OPT_TRACKER_KEEPALIVE},
    {"stats-json", required_argument, NULL, OPT_STATS_JSON},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"max-datagram", required_argument, NULL, OPT_MAX_DATAGRAM},
    {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
    QASM_MBOX_FLAG_OPTIONS(OPT_FN_FLAG),
    {"stats-entries", required_argument, NULL, OPT_STATS_ENTRIES},
    {"core-batch", no_argument, NULL, OPT_CORE_BATCH},
    {"help", no_argument, NULL, OPT_HELP},
    {"io", required_argument, NULL, OPT_IO},
    {"inside", required_argument, NULL, OPT_INSIDE},
    {"outside", required_argument, NULL, OPT_OUTSIDE},
    {NULL, 0, NULL, 0},
};

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

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("qasm-mbox: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    uint64_t v;
    char err[256];
    if (qasm_parse_flag_u64(&v, opt, s, min, max, err, sizeof(err)) < 0)
        fail("%s", err);
    return v;
}



static void parse_addr(struct qasm_addr *a, const char *opt, const char *s)
{
    if (qasm_addr_parse(a, s) < 0)
        fail("--%s: expected IP:PORT or [IPv6]:PORT, got '%s'", opt, s);
    if (a->port == 0 && strcmp(opt, "listen") != 0)
        fail("--%s: port 0 is not allowed ('%s')", opt, s);
}


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

int main(int argc, char **argv)
{
    struct app app;
    memset(&app, 0, sizeof(app));
    enum qasm_log_level level = QASM_LOG_INFO;
    qasm_log_init("qasm-mbox", level);

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
    if (argc < 2 || argv[1][0] == '-')
        fail("first argument must be the function: nat, ratelimit or lb");
    enum qasm_mbox_function function;
    if (qasm_mbox_function_parse(&function, argv[1]) < 0)
        fail("unknown function '%s' (nat, ratelimit or lb)", argv[1]);

    /* Collect flags first: the mode decides the core's defaults. */
    const char *mode_s = NULL;
    int have_listen = 0, have_upstream = 0, have_tracker = 0;
    struct qasm_addr listen_a, upstream_a, tracker_a;
    static struct qasm_auth_key tracker_key; /* len 0: none */
    double keepalive = 0; /* --tracker-keepalive: 0 = the session's default */
    struct qasm_relay_config rcfg;
    memset(&rcfg, 0, sizeof(rcfg));
    /* The function's flags, applied after qasm_mbox_config_init. */
    static struct qasm_mbox_flags fl;
    char err[256];
    int io_packet = 0;
    const char *o_inside = NULL, *o_outside = NULL;

    optind = 2;
    opterr = 0;
    int c, idx = -1;
    while ((c = getopt_long(argc, argv, ":", long_opts, &idx)) != -1) {
        switch (c) {
        case OPT_MODE: mode_s = optarg; break;
        case OPT_LISTEN: parse_addr(&listen_a, "listen", optarg); have_listen = 1; break;
        case OPT_UPSTREAM: parse_addr(&upstream_a, "upstream", optarg); have_upstream = 1; break;
        case OPT_TRACKER: parse_addr(&tracker_a, "tracker", optarg); have_tracker = 1; break;
        case OPT_TRACKER_KEY: {
            char kerr[512];
            if (qasm_keyfile_load(&tracker_key, optarg, kerr, sizeof(kerr)) < 0)
                fail("--tracker-key %s", kerr);
            break;
        }
        case OPT_TRACKER_KEEPALIVE: {
            qasm_duration d;
            if (qasm_duration_parse(&d, optarg) < 0 || d < QASM_MS || d > 3600 * QASM_SEC)
                fail("--tracker-keepalive: '%s' is not a duration from 1ms to 1h", optarg);
            keepalive = (double)d / 1e9;
            break;
        }
        case OPT_STATS_JSON: app.stats_path = optarg; break;
        case OPT_LOG_LEVEL: {
            int l = qasm_log_level_parse(optarg);
            if (l < 0)
                fail("--log-level: expected debug, info, warn, error or off, got '%s'", optarg);
            level = (enum qasm_log_level)l;
            break;
        }
        case OPT_MAX_DATAGRAM:
            rcfg.max_datagram = (size_t)parse_u64("max-datagram", optarg, 64, 65535);
            break;
        case OPT_MAX_FLOWS:
            rcfg.max_flows = (size_t)parse_u64("max-flows", optarg, 1, 1000000);
            break;
        case OPT_FN_FLAG:
            if (qasm_mbox_flags_take(&fl, long_opts[idx].name, optarg, err, sizeof(err)) < 0)
                fail("%s", err);
            break;
        case OPT_CORE_BATCH: rcfg.core_batch = 1; break;
        case OPT_STATS_ENTRIES:
            app.stats_entries = (size_t)parse_u64("stats-entries", optarg, 0, 1000000);
            break;
        case OPT_IO:
            if (strcmp(optarg, "packet") != 0 && strcmp(optarg, "relay") != 0)
                fail("--io: expected relay or packet, got '%s'", optarg);
            io_packet = strcmp(optarg, "packet") == 0;
            break;
        case OPT_INSIDE: o_inside = optarg; break;
        case OPT_OUTSIDE: o_outside = optarg; break;
        case ':':
            fail("option %s needs a value", argv[optind - 1]);
        default:
            fail("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        fail("unexpected argument '%s'", argv[optind]);
    if (!mode_s)
        fail("--mode is required (default, reactive or proactive)");
    enum qasm_mbox_mode mode;
    if (qasm_mbox_mode_parse(&mode, mode_s) < 0)
        fail("--mode: expected default, reactive or proactive, got '%s'", mode_s);
    if (io_packet && (!o_inside || !o_outside))
        fail("--io packet needs --inside IF and --outside IF");
    if (!io_packet && (o_inside || o_outside))
        fail("--inside and --outside are only for --io packet");
    if (io_packet && (have_upstream || (have_listen && function != QASM_MBOX_LB)))
        fail("--io packet takes --inside / --outside (and the lb's --listen VIP), not "
             "--listen / --upstream");
    if (io_packet && function == QASM_MBOX_LB && !have_listen)
        fail("--io packet lb needs --listen VIP:PORT (the address clients send to)");
    if (io_packet && have_listen && listen_a.port == 0)
        fail("--listen: port 0 is not allowed with --io packet (the VIP's port)");
    if (!have_listen && !io_packet)
        fail("--listen is required");
    if (function != QASM_MBOX_LB && !have_upstream && !io_packet)
        fail("--upstream is required for %s", qasm_mbox_function_name(function));
    if (function == QASM_MBOX_LB && have_upstream)
        fail("the lb takes --backend (repeatable), not --upstream");
    if (mode != QASM_MBOX_DEFAULT && !have_tracker)
        fail("--tracker HOST:PORT is required in %s mode", mode_s);

    struct qasm_mbox_config *cfg = &app.cfg;
    qasm_mbox_config_init(cfg, function, mode);
    if (qasm_mbox_flags_apply(&fl, cfg, err, sizeof(err)) < 0)
        fail("%s", err);
    if (!fl.public_ip && function == QASM_MBOX_NAT && have_listen && listen_a.family == AF_INET6)
        qasm_addr_parse_ip(&cfg->nat_public, "::1", 0);

    qasm_log_set_level(level);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    if (io_packet) {
        struct qasm_pio_options po;
        memset(&po, 0, sizeof(po));
        po.cfg = *cfg;
        po.have_public = fl.public_ip != NULL;
        po.inside = o_inside;
        po.outside = o_outside;
        po.have_tracker = have_tracker;
        if (have_tracker)
            po.tracker = tracker_a;
        po.tracker_key = &tracker_key;
        po.tracker_keepalive = keepalive;
        po.stats_path = app.stats_path;
        po.stats_entries = app.stats_entries;
        po.max_packet = rcfg.max_datagram;
        po.have_vip = have_listen;
        if (have_listen)
            po.vip = listen_a;
        return qasm_pio_main(&po);
    }
    cfg->flow_events = 1; /* the relay closes each upstream socket with its flow's state */
    int rv = qasm_mbox_new(&app.m, cfg);
    if (rv < 0) {
        fprintf(stderr, "qasm-mbox: invalid configuration for %s/%s: %s\n",
                qasm_mbox_function_name(function), mode_s, strerror(-rv));
        return 2;
    }
    app.loop = EV_DEFAULT;
    app.started = qasm_now();
    rcfg.function = function;
    rcfg.listen = listen_a;
    if (have_upstream)
        rcfg.upstream = upstream_a;
    rcfg.flow_idle = cfg->udp_stream_timeout > cfg->udp_timeout ? cfg->udp_stream_timeout
                                                                : cfg->udp_timeout;
    rv = qasm_relay_new(&app.relay, app.loop, app.m, &rcfg);
    if (rv < 0) {
        char a[QASM_ADDR_STRLEN];
        fprintf(stderr, "qasm-mbox: cannot listen on %s: %s\n",
                qasm_addr_format(a, sizeof(a), &listen_a), strerror(-rv));
        qasm_mbox_del(app.m);
        return 1;
    }
    listen_a = *qasm_relay_listen_addr(app.relay); /* --listen HOST:0: the port picked */
    if (mode != QASM_MBOX_DEFAULT) {
        rv = qasm_tlink_new(&app.tl, app.loop, &tracker_a, &tracker_key, app.m, relay_drain_cb,
                            app.relay);
        if (rv < 0) {
            fprintf(stderr, "qasm-mbox: tracker session: %s\n", strerror(-rv));
            qasm_relay_del(app.relay);
            qasm_mbox_del(app.m);
            return 1;
        }
        qasm_tlink_set_keepalive(app.tl, keepalive);
        qasm_relay_set_tlink(app.relay, app.tl);
    }

    ev_timer_init(&app.tick, tick_cb, 1., 1.);
    app.tick.data = &app;
    ev_timer_start(app.loop, &app.tick);
    ev_signal_init(&app.sig_term, sig_cb, SIGTERM);
    ev_signal_init(&app.sig_int, sig_cb, SIGINT);
    ev_signal_init(&app.sig_usr1, sig_cb, SIGUSR1);
    app.sig_term.data = app.sig_int.data = app.sig_usr1.data = &app;
    ev_signal_start(app.loop, &app.sig_term);
    ev_signal_start(app.loop, &app.sig_int);
    ev_signal_start(app.loop, &app.sig_usr1);

    {
        char l[QASM_ADDR_STRLEN], u[QASM_ADDR_STRLEN];
        if (function == QASM_MBOX_LB)
            qasm_info("lb %s: listening on %s, %zu backend(s), first %s", mode_s,
                      qasm_addr_format(l, sizeof(l), &listen_a), fl.nbackends,
                      qasm_addr_format(u, sizeof(u), &fl.backends[0]));
        else
            qasm_info("%s %s: listening on %s, upstream %s", qasm_mbox_function_name(function),
                      mode_s, qasm_addr_format(l, sizeof(l), &listen_a),
                      qasm_addr_format(u, sizeof(u), &upstream_a));
        if (mode == QASM_MBOX_DEFAULT && have_tracker)
            qasm_info("default mode: --tracker is not used");
    }
    write_stats(&app);
    qasm_relay_drain(app.relay);
    ev_run(app.loop, 0);

    /* Held packets get their default treatment on the way out. */
    if (mode != QASM_MBOX_DEFAULT) {
        qasm_mbox_tracker_state(app.m, 0, qasm_now());
        qasm_relay_set_tlink(app.relay, NULL);
        qasm_relay_drain(app.relay);
    }
    /* Whatever is still held comes back as DROP (shutdown): buffers freed, counted. */
    qasm_mbox_flush(app.m);
    qasm_relay_drain(app.relay);
    write_stats(&app);
    qasm_tlink_del(app.tl);
    qasm_relay_del(app.relay);
    qasm_mbox_del(app.m);
    ev_loop_destroy(app.loop);
    return 0;
}
