/*
 * agentd.c: qasm-agentd, the eBPF client agent (docs/CLIENT-AGENT.md, "The
 * eBPF agent"). Loads agentd/qasm_agentd.bpf.c through its libbpf skeleton,
 * attaches its cgroup_skb programs to a cgroup v2, reads their events from
 * the BPF ring buffer in a libev loop, feeds them to the pure core
 * (agentd_track.c) and sends the reports it emits to the tracker, encoded
 * like the library agent's (client-agent/agent_report.c).
 *
 * The programs only watch (they pass every packet); if this daemon stops,
 * the links close with it, the programs detach and the clients notice
 * nothing. With --prereg gnutls it also attaches a uprobe pair to
 * gnutls_aead_cipher_decrypt and an entry uprobe to
 * gnutls_aead_cipher_encrypt in the host's libgnutls (the one the dynamic
 * linker finds for "libgnutls.so.30", as for the clients).
 * Live connections are not reported closed at exit: they go on;
 * the tracker's TTL removes them unless a new daemon picks them up.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ev.h>

#include "auth.h"
#include "cli.h"
#include "clock.h"
#include "keyfile.h"
#include "log.h"
#include "agentd/agentd_opts.h"
#include "agentd/agentd_track.h"
#include "client-agent/agent_report.h"
#include "middleboxes/io/bpf_maps.h"
#include "qasm_agentd.skel.h"

#define PROG "qasm-agentd"

struct agentd {
    struct qasm_agentd_opts o;
    struct qasm_agentd *skel;
    struct bpf_link *links[5]; /* cgroup egress, ingress; --prereg: decrypt entry, return, encrypt */
    struct ring_buffer *rb;
    struct qasm_agentd_track *track;
    struct qasm_auth_key key;
    int fd;            /* UDP socket connected to the tracker */
    int fd_family;
    char cgroup[4096]; /* the cgroup v2 directory watched */
    uint64_t reports_sent, send_errors, encode_errors;
    uint64_t warned_errors, warned_full; /* counters already said in a warning */
    int send_errno;                      /* errno of the last failed send */
    int stats_fd;                        /* --bpf-stats: BPF_ENABLE_STATS held, or -1 */
    ev_io rb_w;
    ev_timer tick_w;
    ev_signal sig_w[2];
};

/* ---- reports ---- */

static void send_report(struct agentd *d, struct qasm_agent_conn *c, const struct qasm_agent_ev *ev)
{
    uint8_t buf[QASM_PROTO_MAX_MSG];
    union {
        char buf[QASM_ADDR_PKTINFO_SPACE];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov;
    struct msghdr mh;
    ssize_t n = qasm_agent_report_encode(buf, sizeof(buf), c, ev, &d->key);

    if (n < 0) {
        d->encode_errors++;
        return;
    }
    iov.iov_base = buf;
    iov.iov_len = (size_t)n;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    /* From the client address the report names (docs/CLIENT-AGENT.md, "Source address"). */
    qasm_addr_set_pktinfo(&mh, cbuf.buf, ev->type == QASM_AGENT_EV_ADDR ? &ev->addr : &c->local,
                          d->fd_family);
    n = sendmsg(d->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && mh.msg_control) {
        /* A source the kernel refuses (EINVAL; ENETUNREACH for an address of
         * another network namespace): without it, the kernel picks. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        n = sendmsg(d->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0) {
        d->send_errors++;
        d->send_errno = errno;
        return;
    }
    d->reports_sent++;
}

static void emit(void *arg, struct qasm_agent_conn *c, const struct qasm_agent_evq *q)
{
    struct agentd *d = arg;

    for (size_t i = 0; i < q->n; i++) {
        const struct qasm_agent_ev *ev = &q->ev[i];
        if (ev->type == QASM_AGENT_EV_OPEN &&
            getrandom(c->secret, sizeof(c->secret), 0) != (ssize_t)sizeof(c->secret))
            qasm_warn("getrandom failed: %s", strerror(errno));
        if (qasm_log_enabled(QASM_LOG_INFO)) {
            char od[QASM_CID_HEXLEN], cid[QASM_CID_HEXLEN], a[QASM_ADDR_STRLEN];
            qasm_info("report %s odcid=%s cid=%s addr=%s", qasm_agent_ev_name(ev->type),
                      qasm_cid_hex(od, &c->odcid), qasm_cid_hex(cid, &ev->cid),
                      qasm_addr_format(a, sizeof(a),
                                       ev->type == QASM_AGENT_EV_ADDR ? &ev->addr : &c->local));
        }
        send_report(d, c, ev);
    }
}

/* Latest packet of |c| the kernel saw: the flow map's last_ns over its local addresses. */
static qasm_tstamp activity(void *arg, const struct qasm_agent_conn *c)
{
    struct agentd *d = arg;
    qasm_tstamp last = 0;

    for (size_t i = 0; i < c->naddrs; i++) {
        struct qasm_agentd_fkey k;
        struct qasm_agentd_flow f;
        memset(&k, 0, sizeof(k));
        k.family = c->addrs[i].family;
        k.lport = c->addrs[i].port;
        k.rport = c->remote.port;
        memcpy(k.lip, c->addrs[i].ip, 16);
        memcpy(k.rip, c->remote.ip, 16);
        if (bpf_map__lookup_elem(d->skel->maps.flows, &k, sizeof(k), &f, sizeof(f), 0) == 0 &&
            f.last_ns > last)
            last = f.last_ns;
    }
    return last;
}

/* ---- counters ---- */

static uint64_t bpf_counter(struct agentd *d, uint32_t c)
{
    static uint64_t v[1024];
    int ncpu = libbpf_num_possible_cpus();
    uint64_t sum = 0;

    if (ncpu <= 0 || ncpu > 1024 ||
        bpf_map__lookup_elem(d->skel->maps.counters, &c, sizeof(c), v,
                             sizeof(v[0]) * (size_t)ncpu, 0) != 0)
        return 0;
    for (int i = 0; i < ncpu; i++)
        sum += v[i];
    return sum;
}

/*
 * Each loaded program's run count and run time as the kernel accounts them
 * (they advance only while someone holds BPF_ENABLE_STATS, as --bpf-stats
 * does, or kernel.bpf_stats_enabled is 1).
 */
static void write_prog_stats(struct agentd *d, FILE *f)
{
    const struct {
        const char *name;
        const struct bpf_program *p;
    } progs[] = {
        { "egress", d->skel->progs.qasm_agentd_egress },
        { "ingress", d->skel->progs.qasm_agentd_ingress },
        { "dec_enter", d->skel->progs.qasm_agentd_dec_enter },
        { "dec_exit", d->skel->progs.qasm_agentd_dec_exit },
        { "enc_enter", d->skel->progs.qasm_agentd_enc_enter },
    };

    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        struct bpf_prog_info info;
        uint32_t len = sizeof(info);
        int fd = bpf_program__fd(progs[i].p);
        memset(&info, 0, sizeof(info));
        if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
            fprintf(f, "\"prog_%s_runs\":%llu,\"prog_%s_run_ns\":%llu,", progs[i].name,
                    (unsigned long long)info.run_cnt, progs[i].name,
                    (unsigned long long)info.run_time_ns);
    }
}

static void write_stats(struct agentd *d)
{
    static const char *names[QASM_AGENTD_C_MAX] = {
        "bpf_packets", "bpf_events", "bpf_ringbuf_full", "bpf_unattributed",
        "bpf_not_quic", "bpf_truncated", "bpf_not_udp", "bpf_flow_full", "bpf_adopted",
        "bpf_plaintexts", "bpf_decrypt_failed", "bpf_plain_skipped", "bpf_initials",
        "bpf_initials_capped", "bpf_plaintexts_out"};
    struct qasm_agentd_track_stats st;
    char tmp[4200];
    FILE *f;

    if (!d->o.stats_json)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->o.stats_json);
    f = fopen(tmp, "w");
    if (!f) {
        qasm_warn("--stats-json %s: %s", tmp, strerror(errno));
        return;
    }
    qasm_agentd_track_get_stats(d->track, &st);
    /* The daemon's own counters after the BPF side's (docs/CLIENT-AGENT.md lists them). */
    const struct {
        const char *name;
        uint64_t v;
    } kv[] = {
        { "events", st.events }, { "opened", st.opened }, { "closed_idle", st.closed_idle },
        { "dcids", st.dcids }, { "addrs", st.addrs }, { "unattributed", st.unattributed },
        { "ambiguous", st.ambiguous }, { "table_full", st.table_full },
        { "evq_dropped", st.evq_dropped }, { "live", st.live }, { "adopted", st.adopted },
        { "adopt_refused", st.adopt_refused }, { "reports_sent", d->reports_sent },
        { "send_errors", d->send_errors }, { "encode_errors", d->encode_errors },
        { "plains", st.plains }, { "plain_newcids", st.plain_newcids }, { "spares", st.spares },
        { "plain_by_pid", st.plain_by_pid }, { "plain_ambiguous", st.plain_ambiguous },
        { "plain_unattributed", st.plain_unattributed }, { "initials", st.initials },
        { "initials_opened", st.initials_opened }, { "initials_unopened", st.initials_unopened },
        { "initials_unattributed", st.initials_unattributed },
        { "closed_initial", st.closed_initial }, { "closed_local", st.closed_local },
        { "closed_peer", st.closed_peer }, { "close_unattributed", st.close_unattributed },
        { "indexed", st.indexed }, { "index_failed", st.index_failed },
    };
    fputc('{', f);
    for (uint32_t i = 0; i < QASM_AGENTD_C_MAX; i++)
        fprintf(f, "\"%s\":%llu,", names[i], (unsigned long long)bpf_counter(d, i));
    write_prog_stats(d, f);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        fprintf(f, "\"%s\":%llu%s", kv[i].name, (unsigned long long)kv[i].v,
                i + 1 < sizeof(kv) / sizeof(kv[0]) ? "," : "}\n");
    if (fclose(f) != 0 || rename(tmp, d->o.stats_json) != 0)
        qasm_warn("--stats-json %s: %s", d->o.stats_json, strerror(errno));
}

/* ---- loop ---- */

static int on_event(void *ctx, void *data, size_t len)
{
    struct agentd *d = ctx;
    struct qasm_agentd_ev ev;

    if (len == sizeof(struct qasm_agentd_initpkt)) {
        static struct qasm_agentd_initpkt ip; /* 1.6 KB: not on the stack */
        memcpy(&ip, data, sizeof(ip));
        qasm_agentd_track_initial(d->track, &ip, ip.ts_ns);
        return 0;
    }
    if (len == sizeof(struct qasm_agentd_plain)) {
        struct qasm_agentd_plain p;
        memcpy(&p, data, sizeof(p));
        qasm_agentd_track_plain(d->track, &p, p.ts_ns);
        return 0;
    }
    if (len < sizeof(ev))
        return 0;
    memcpy(&ev, data, sizeof(ev));
    if (qasm_log_enabled(QASM_LOG_DEBUG))
        qasm_debug("event kind=%u flags=%#x lport=%u rport=%u dcid_len=%u, %.1f us after the packet",
                   ev.kind, ev.flags, ev.flow.lport, ev.flow.rport, ev.dcid_len,
                   (double)(qasm_now() - ev.ts_ns) / 1e3);
    qasm_agentd_track_event(d->track, &ev, ev.ts_ns);
    return 0;
}

static void rb_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct agentd *d = w->data;
    if (ring_buffer__consume(d->rb) < 0)
        qasm_warn("ring buffer: %s", strerror(errno));
}

/* One warning per second at most for what was lost: reports not sent, events not read. */
static void warn_losses(struct agentd *d)
{
    uint64_t full = bpf_counter(d, QASM_AGENTD_C_RINGBUF_FULL);

    if (d->send_errors > d->warned_errors)
        qasm_warn("%llu reports not sent to the tracker: %s",
                  (unsigned long long)(d->send_errors - d->warned_errors), strerror(d->send_errno));
    if (full > d->warned_full)
        qasm_warn("%llu events lost: the BPF ring buffer was full",
                  (unsigned long long)(full - d->warned_full));
    d->warned_errors = d->send_errors;
    d->warned_full = full;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct agentd *d = w->data;
    ring_buffer__consume(d->rb); /* events before expiry decisions */
    qasm_agentd_track_tick(d->track, qasm_now());
    warn_losses(d);
    write_stats(d);
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    (void)w;
    ev_break(loop, EVBREAK_ALL);
}

/* ---- setup ---- */

/* The first cgroup v2 mount (the hierarchy's root), for --all. */
static int cgroup2_root(char *out, size_t cap)
{
    FILE *f = setmntent("/proc/self/mounts", "r");
    struct mntent *m;
    int rv = -1;

    while (f && (m = getmntent(f)) != NULL) {
        if (strcmp(m->mnt_type, "cgroup2") == 0) {
            snprintf(out, cap, "%s", m->mnt_dir);
            rv = 0;
            break;
        }
    }
    if (f)
        endmntent(f);
    return rv;
}

/* The kernel's ephemeral port range (adoption only opens connections from those ports). */
static void ephemeral_ports(struct qasm_agentd_track_cfg *cfg)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    unsigned lo, hi;

    if (f && fscanf(f, "%u %u", &lo, &hi) == 2 && lo <= hi && hi <= 65535) {
        cfg->eph_lo = (uint16_t)lo;
        cfg->eph_hi = (uint16_t)hi;
    }
    if (f)
        fclose(f);
}

/* The file the dynamic linker maps for |soname| (the one defining |sym|), or -1. */
static int find_lib(const char *soname, const char *sym, char *out, size_t cap)
{
    void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
    void *f = h ? dlsym(h, sym) : NULL;
    Dl_info info;
    int rv = -1;

    if (f && dladdr(f, &info) != 0 && info.dli_fname &&
        (size_t)snprintf(out, cap, "%s", info.dli_fname) < cap)
        rv = 0;
    if (h)
        dlclose(h);
    return rv;
}

/* --prereg gnutls: the decrypt uprobes, scoped to the cgroup (or all with --all). */
static int prereg_setup(struct agentd *d, int cg)
{
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "gnutls_aead_cipher_decrypt");
    char lib[4096];
    uint32_t zero = 0;

    if (find_lib("libgnutls.so.30", uo.func_name, lib, sizeof(lib)) < 0) {
        qasm_error("--prereg gnutls: libgnutls.so.30 not found: %s", dlerror());
        return -1;
    }
    if (!d->o.all && bpf_map__update_elem(d->skel->maps.cgroup_filter, &zero, sizeof(zero), &cg,
                                          sizeof(cg), BPF_ANY) != 0) {
        qasm_error("--prereg gnutls: cgroup filter: %s", strerror(errno));
        return -1;
    }
    d->links[2] = bpf_program__attach_uprobe_opts(d->skel->progs.qasm_agentd_dec_enter, -1, lib,
                                                  0, &uo);
    uo.retprobe = true;
    d->links[3] = d->links[2] ? bpf_program__attach_uprobe_opts(
                                    d->skel->progs.qasm_agentd_dec_exit, -1, lib, 0, &uo)
                              : NULL;
    /* The client's own CONNECTION_CLOSE: an entry probe on the encrypt side. */
    LIBBPF_OPTS(bpf_uprobe_opts, eo, .func_name = "gnutls_aead_cipher_encrypt");
    d->links[4] = d->links[3] ? bpf_program__attach_uprobe_opts(
                                    d->skel->progs.qasm_agentd_enc_enter, -1, lib, 0, &eo)
                              : NULL;
    if (!d->links[2] || !d->links[3] || !d->links[4]) {
        qasm_error("--prereg gnutls: cannot attach uprobes to %s: %s", lib, strerror(errno));
        return -1;
    }
    qasm_info("--prereg gnutls: uprobes on gnutls_aead_cipher_decrypt and "
              "gnutls_aead_cipher_encrypt in %s", lib);
    return 0;
}

/* Loads and attaches the programs; 0, or -1 after one line saying why. */
static int bpf_setup(struct agentd *d)
{
    int cg;

    qasm_bpf_log_libbpf();
    if (d->o.bpf_stats && (d->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0) {
        qasm_error("--bpf-stats: cannot turn on the kernel's BPF run-time accounting: %s "
                   "(BPF_ENABLE_STATS: kernel 5.8+, CAP_SYS_ADMIN)", strerror(errno));
        return -1;
    }
    d->skel = qasm_agentd__open();
    if (d->skel) {
        d->skel->rodata->prereg_all = (uint8_t)d->o.all;
        /* Without --prereg the uprobes stay unloaded (no uprobe support needed). */
        bpf_program__set_autoload(d->skel->progs.qasm_agentd_dec_enter, d->o.prereg != 0);
        bpf_program__set_autoload(d->skel->progs.qasm_agentd_dec_exit, d->o.prereg != 0);
        bpf_program__set_autoload(d->skel->progs.qasm_agentd_enc_enter, d->o.prereg != 0);
        if (qasm_agentd__load(d->skel) != 0) {
            qasm_agentd__destroy(d->skel);
            d->skel = NULL;
        }
    }
    if (!d->skel) {
        qasm_error("cannot load the BPF programs: %s (needs root: CAP_BPF, CAP_NET_ADMIN; "
                   "a kernel with BPF ring buffers, 5.8+)", strerror(errno));
        return -1;
    }
    cg = open(d->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) {
        qasm_error("cgroup %s: %s", d->cgroup, strerror(errno));
        return -1;
    }
    d->links[0] = bpf_program__attach_cgroup(d->skel->progs.qasm_agentd_egress, cg);
    d->links[1] = d->links[0] ? bpf_program__attach_cgroup(d->skel->progs.qasm_agentd_ingress, cg)
                              : NULL;
    if (!d->links[0] || !d->links[1]) {
        qasm_error("cannot attach to cgroup %s: %s (a cgroup v2 directory?)", d->cgroup,
                   strerror(errno));
        close(cg);
        return -1;
    }
    if (d->o.prereg && prereg_setup(d, cg) < 0) {
        close(cg);
        return -1;
    }
    close(cg);
    d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.events), on_event, d, NULL);
    if (!d->rb) {
        qasm_error("ring buffer: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Tracker socket, key, cgroup path: 0, or -1 after one line (usage problems exit 2 here). */
static int net_setup(struct agentd *d)
{
    struct qasm_addr tr;
    struct sockaddr_storage ss;
    char err[256];
    socklen_t sl;

    if (qasm_cli_resolve(&tr, d->o.tracker, err, sizeof(err)) < 0)
        qasm_cli_usage_exitf(PROG, "--tracker: %s", err);
    if (d->o.key && qasm_keyfile_load(&d->key, d->o.key, err, sizeof(err)) < 0)
        qasm_cli_usage_exitf(PROG, "--key: %s", err);
    if (d->o.all ? cgroup2_root(d->cgroup, sizeof(d->cgroup)) < 0
                 : snprintf(d->cgroup, sizeof(d->cgroup), "%s", d->o.cgroup) < 0) {
        qasm_error("--all: no cgroup v2 hierarchy is mounted");
        return -1;
    }
    sl = qasm_addr_to_sockaddr(&ss, &tr);
    d->fd_family = tr.family;
    d->fd = socket(tr.family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->fd < 0 || connect(d->fd, (struct sockaddr *)&ss, sl) < 0) {
        qasm_error("tracker socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void run(struct agentd *d)
{
    struct ev_loop *loop = EV_DEFAULT;
    int sigs[2] = {SIGINT, SIGTERM};

    ev_io_init(&d->rb_w, rb_cb, ring_buffer__epoll_fd(d->rb), EV_READ);
    d->rb_w.data = d;
    ev_io_start(loop, &d->rb_w);
    ev_timer_init(&d->tick_w, tick_cb, 1.0, 1.0);
    d->tick_w.data = d;
    ev_timer_start(loop, &d->tick_w);
    for (int i = 0; i < 2; i++) {
        ev_signal_init(&d->sig_w[i], sig_cb, sigs[i]);
        ev_signal_start(loop, &d->sig_w[i]);
    }
    qasm_info("watching cgroup %s, reporting to %s", d->cgroup, d->o.tracker);
    write_stats(d);
    ev_run(loop, 0);
    ring_buffer__consume(d->rb);
    write_stats(d);
}

static void teardown(struct agentd *d)
{
    ring_buffer__free(d->rb);
    for (int i = 0; i < 5; i++)
        bpf_link__destroy(d->links[i]);
    qasm_agentd__destroy(d->skel);
    qasm_agentd_track_free(d->track);
    if (d->fd >= 0)
        close(d->fd);
    if (d->stats_fd >= 0)
        close(d->stats_fd);
}

int main(int argc, char **argv)
{
    static struct agentd d = {.fd = -1, .stats_fd = -1};
    char err[256];
    int rv;

    qasm_cli_front(PROG, argc, argv);
    rv = qasm_agentd_opts_parse(argc, argv, &d.o, err, sizeof(err));
    if (rv == 1) {
        fputs(qasm_agentd_usage(), stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit(PROG, err);
    qasm_log_init(PROG, (enum qasm_log_level)qasm_log_level_parse(d.o.log));
    struct qasm_agentd_track_cfg cfg = {.max_conns = d.o.max_conns, .idle = d.o.idle,
                                        .refresh = d.o.refresh, .emit = emit,
                                        .activity = activity, .arg = &d};
    ephemeral_ports(&cfg);
    d.track = qasm_agentd_track_new(&cfg);
    rv = d.track && net_setup(&d) == 0 && bpf_setup(&d) == 0 ? 0 : 1;
    if (rv == 0)
        run(&d);
    teardown(&d);
    return rv;
}
