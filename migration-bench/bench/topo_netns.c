/*
 * topo_netns.c: the netns topology (topo_netns.h): namespaces, veth pairs,
 * the hop in its three forms. Namespace and interface setup uses the `ip`,
 * `nft` and `conntrack` tools.
 */
#include "topo_netns.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPO_NETNS_MAX_ARGS 64
#define C_NET "10.77.1"
#define H_IN_IP "10.77.1.1"
#define H_OUT_IP "10.77.2.1"
#define S_IP "10.77.2.2"
#define TRK_ADDR H_IN_IP ":4790"
#define SRV_PORT 4433
#define POOL_LO 40000
#define LB_VIP H_IN_IP ":443"

static char ns_c[32], ns_h[32], ns_s[32];
static int ns_made;

/* Runs a shell command line (output discarded unless |show|); returns its exit status. */
static int sh(int show, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int sh(int show, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (!show && strlen(cmd) + 16 < sizeof(cmd))
        strcat(cmd, " >/dev/null 2>&1");
    int st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Deletes the namespaces; async-signal-safe (fork + exec only). */
static void ns_delete_all(void)
{
    const char *names[] = { ns_c, ns_h, ns_s };
    if (!ns_made)
        return;
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            char *argv[] = { "ip", "netns", "del", (char *)names[i], NULL };
            execvp("ip", argv);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    ns_made = 0;
}

static void netns_teardown(void)
{
    const char *names[] = { ns_c, ns_h, ns_s };
    if (!ns_made)
        return;
    for (int i = 0; i < 3; i++)
        sh(0, "ip netns pids %s 2>/dev/null | xargs -r kill -9", names[i]);
    ns_delete_all();
}

static void on_signal(int sig)
{
    bench_proc_stop_all();
    ns_delete_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Names the namespaces PREFIX-{c,h,s}-ID. */
static void ns_name(const char *prefix, const char *id)
{
    snprintf(ns_c, sizeof(ns_c), "%s-c-%s", prefix, id);
    snprintf(ns_h, sizeof(ns_h), "%s-h-%s", prefix, id);
    snprintf(ns_s, sizeof(ns_s), "%s-s-%s", prefix, id);
}

/* The IPv6 half (best effort: a host without IPv6 still has the IPv4 testbed). */
static void add_ipv6(void)
{
    const char *all[] = { ns_c, ns_h, ns_s };
    for (int i = 0; i < 3; i++)
        sh(0, "ip netns exec %s sysctl -qw net.ipv6.conf.all.forwarding=0 "
              "net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0", all[i]);
    for (int a = 2; a <= 9; a++)
        sh(0, "ip -n %s addr add fd77:1::%d/64 dev c0 nodad", ns_c, a);
    sh(0, "ip -n %s addr add fd77:1::1/64 dev in0 nodad", ns_h);
    sh(0, "ip -n %s addr add fd77:2::1/64 dev out0 nodad", ns_h);
    sh(0, "ip -n %s addr add fd77:2::2/64 dev s0 nodad", ns_s);
    sh(0, "ip -n %s -6 route add default via fd77:1::1", ns_c);
    sh(0, "ip -n %s -6 route add default via fd77:2::1", ns_s);
}

/*
 * Builds the testbed (the picture in topo_netns.h), IPv4 and IPv6: the
 * client has 8 addresses of each family, both ends route through the hop,
 * which forwards nothing by itself. The one definition of it: the bench's
 * runs and tests/integration/netns_lib.sh (through `qasm-bench netns up`).
 */
static int build_testbed(void)
{
    const char *all[] = { ns_c, ns_h, ns_s };
    int bad = 0;
    bad |= sh(0, "ip netns add %s && ip netns add %s && ip netns add %s", ns_c, ns_h, ns_s);
    bad |= sh(0, "ip link add c0 netns %s type veth peer name in0 netns %s", ns_c, ns_h);
    bad |= sh(0, "ip link add s0 netns %s type veth peer name out0 netns %s", ns_s, ns_h);
    for (int i = 0; i < 3; i++) {
        bad |= sh(0, "ip -n %s link set lo up", all[i]);
        bad |= sh(0, "ip netns exec %s sysctl -qw net.ipv4.ip_forward=0", all[i]);
    }
    for (int a = 2; a <= 9; a++)
        bad |= sh(0, "ip -n %s addr add " C_NET ".%d/24 dev c0", ns_c, a);
    bad |= sh(0, "ip -n %s addr add " H_IN_IP "/24 dev in0 && ip -n %s addr add " H_OUT_IP
                 "/24 dev out0", ns_h, ns_h);
    bad |= sh(0, "ip -n %s addr add " S_IP "/24 dev s0", ns_s);
    bad |= sh(0, "ip -n %s link set c0 up && ip -n %s link set in0 up && "
                 "ip -n %s link set out0 up && ip -n %s link set s0 up", ns_c, ns_h, ns_h, ns_s);
    bad |= sh(0, "ip -n %s route add default via " H_IN_IP, ns_c);
    bad |= sh(0, "ip -n %s route add default via " H_OUT_IP, ns_s);
    if (!bad)
        add_ipv6();
    return bad ? -1 : 0;
}

/* The bench's own testbed, qb-{c,h,s}-PID: deleted at exit and on SIGINT / SIGTERM. */
static int netns_setup(void)
{
    static int handlers;
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    ns_name("qb", pid);
    if (!handlers) {
        atexit(netns_teardown);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        handlers = 1;
    }
    netns_teardown();
    ns_made = 1;
    if (build_testbed() < 0) {
        netns_teardown();
        return bench_fail("cannot build the netns topology (ip netns / veth failed)");
    }
    return 0;
}

int topo_netns_testbed(const char *id, int up)
{
    ns_name("qasm", id);
    ns_made = 1;
    netns_teardown(); /* kills what still runs inside, deletes */
    if (!up)
        return 0;
    ns_made = 1;
    int rv = build_testbed();
    if (rv < 0)
        netns_teardown();
    ns_made = 0; /* outlives this process: `qasm-bench netns down ID` deletes it */
    return rv < 0 ? bench_fail("cannot build the netns testbed (ip netns / veth failed)") : 0;
}

/* Waits until something listens on |port| (UDP, or TCP when |tcp|) inside |ns|. */
static int wait_ns_port(const char *ns, int port, int tcp)
{
    for (int i = 0; i < 100; i++) {
        if (sh(0, "ip netns exec %s ss -H%sn 'sport = :%d' | grep -q .", ns, tcp ? "lt" : "lu",
               port) == 0)
            return 0;
        bench_sleep(0.05);
    }
    return -1;
}

/* Starts argv (after "ip netns exec NS") as |name|; waits for |port| when > 0. */
static int ns_start(struct bench *b, struct bench_proc *p, const char *ns, const char *name,
                    const char *const argv[], int port, int tcp, const char *out)
{
    const char *full[TOPO_NETNS_MAX_ARGS];
    int n = 0;
    full[n++] = "ip";
    full[n++] = "netns";
    full[n++] = "exec";
    full[n++] = ns;
    for (int k = 0; argv[k] && n < TOPO_NETNS_MAX_ARGS - 1; k++)
        full[n++] = argv[k];
    full[n] = NULL;
    int rv = out ? bench_proc_start_out(p, name, b->outdir, (char *const *)full, NULL, out)
                 : bench_proc_start(p, name, b->outdir, (char *const *)full, NULL);
    if (rv < 0)
        return bench_fail("cannot start %s", name);
    if (port > 0 && (wait_ns_port(ns, port, tcp) < 0 || !bench_proc_alive(p))) {
        bench_proc_tail(p, 20);
        return bench_fail("%s did not come up on port %d in %s", name, port, ns);
    }
    return 0;
}

/* Starts tracker and the first server: what every run has. */
static int base_start(struct topo_netns *n, struct bench *b)
{
    char bin[PATH_MAX], bin2[PATH_MAX];
    memset(n, 0, sizeof(*n));
    n->b = b;
    if (netns_setup() < 0)
        return -1;
    const char *targv[] = { bench_bin(b, bin, sizeof(bin), "qasm-tracker"), "--listen", TRK_ADDR,
                            NULL };
    if (ns_start(b, &n->tracker, ns_h, "tracker", targv, 4790, 1, NULL) < 0)
        return -1;
    const char *sargv[] = { bench_bin(b, bin2, sizeof(bin2), "qasm-h3-server"), "--listen",
                            S_IP ":4433", "--idle-timeout", "10s", NULL };
    if (ns_start(b, &n->server[0], ns_s, "server", sargv, SRV_PORT, 0, NULL) < 0)
        return -1;
    n->nservers = 1;
    return 0;
}

/* The qasm hops: --hop qasm-xdp runs qasm-mbox --io xdp, qasm (the default) --io packet. */
static int hop_is_qasm(const char *hop)
{
    return hop == NULL || strcmp(hop, "qasm") == 0 || strcmp(hop, "qasm-xdp") == 0;
}

static const char *hop_io(const char *hop)
{
    return hop != NULL && strcmp(hop, "qasm-xdp") == 0 ? "xdp" : "packet";
}

/*
 * --hop qasm-xdp: the testbed made ready for XDP forwarding over veth
 * (docs/XDP.md, "Forwarding"): the object's pass-only program on the far
 * ends (a veth takes redirected frames only into an XDP program), their TX
 * checksum offload off (the program updates complete checksums), lo's
 * forwarding on in the hop (the program asks the FIB as from lo).
 */
static int xdp_prepare(struct topo_netns *n)
{
    char obj[PATH_MAX];
    bench_bin(n->b, obj, sizeof(obj), "gen/qasm_xdp.bpf.o");
    int bad = sh(0, "ip netns exec %s ip link set dev c0 xdpdrv obj %s program qasm_xdp_pass && "
                    "ip netns exec %s ip link set dev s0 xdpdrv obj %s program qasm_xdp_pass",
                 ns_c, obj, ns_s, obj);
    bad |= sh(0, "ip netns exec %s ethtool -K c0 tx off >/dev/null && "
                 "ip netns exec %s ethtool -K s0 tx off >/dev/null", ns_c, ns_s);
    bad |= sh(0, "ip netns exec %s sysctl -qw net.ipv4.conf.lo.forwarding=1 "
                 "net.ipv6.conf.lo.forwarding=1", ns_h);
    return bad ? bench_fail("--hop qasm-xdp: cannot make the testbed ready for XDP (%s, "
                            "xdpdrv on veth, ethtool)", obj) : 0;
}

/* Starts a qasm-mbox hop (argv[5]: its --io) and waits for its stats file and tracker session. */
static int qasm_hop_start(struct topo_netns *n, const char *name, const char *const argv[])
{
    n->kind = "qasm";
    unlink(n->stats);
    if (ns_start(n->b, &n->hop, ns_h, name, argv, 0, 0, NULL) < 0)
        return -1;
    for (int i = 0; i < 100 && access(n->stats, R_OK) != 0; i++)
        bench_sleep(0.05);
    bench_sleep(0.2); /* tracker session up */
    if (!bench_proc_alive(&n->hop)) {
        bench_proc_tail(&n->hop, 20);
        return bench_fail("qasm-mbox %s --io %s died at start", argv[1], argv[5]);
    }
    n->have_hop = 1;
    return 0;
}

/*
 * Starts `qasm-mbox FUNCTION --mode MODE --io IO` (IO from --hop) on in0 /
 * out0 with the tracker, a 50 ms hold and its stats (FUNCTION-MODE.stats.json),
 * plus the function's own flags |extra|: the one command line of the qasm hops.
 */
static int qasm_fn_start(struct topo_netns *n, const char *function, const char *mode,
                         const char *const extra[])
{
    char bin[PATH_MAX], name[64];
    const char *io = hop_io(n->b->hop);
    if (strcmp(io, "xdp") == 0 && xdp_prepare(n) < 0)
        return -1;
    snprintf(name, sizeof(name), "%.20s-%.20s", function, mode);
    snprintf(n->stats, sizeof(n->stats), "%.3800s/%.60s.stats.json", n->b->outdir, name);
    const char *argv[TOPO_NETNS_MAX_ARGS] = { bench_bin(n->b, bin, sizeof(bin), "qasm-mbox"),
                                              function, "--mode", mode, "--io", io,
                                              "--inside", "in0", "--outside", "out0",
                                              "--tracker", TRK_ADDR, "--hold", "50ms",
                                              "--stats-json", n->stats };
    int k = 16;
    for (int i = 0; extra[i] && k < TOPO_NETNS_MAX_ARGS - 1; i++)
        argv[k++] = extra[i];
    argv[k] = NULL;
    return qasm_hop_start(n, name, argv);
}

static int qasm_nat_start(struct topo_netns *n, const char *mode, int pool, int entries)
{
    char ports[32], ent[16];
    snprintf(ports, sizeof(ports), "%d-%d", POOL_LO, POOL_LO + (pool > 0 ? pool : 1024) - 1);
    snprintf(ent, sizeof(ent), "%d", entries);
    const char *extra[] = { "--ports", ports, "--stats-entries", ent, NULL };
    return qasm_fn_start(n, "nat", mode, extra);
}

/* The normaliser in front of the kernel's NAT: qasm-normalize on in0, up once subscribed. */
static int normalize_start(struct topo_netns *n)
{
    char bin[PATH_MAX];
    snprintf(n->stats, sizeof(n->stats), "%.3800s/normalize.stats.json", n->b->outdir);
    unlink(n->stats);
    /* A hold the loaded machine does not defeat: the push takes well under a
     * millisecond, an expired hold is a conntrack entry of its own. */
    const char *argv[] = { bench_bin(n->b, bin, sizeof(bin), "qasm-normalize"), "--inside", "in0",
                           "--tracker", TRK_ADDR, "--hold", "1s", "--stats-json", n->stats, NULL };
    if (ns_start(n->b, &n->hop, ns_h, "normalize", argv, 0, 0, NULL) < 0)
        return -1;
    n->have_hop = 1;
    for (int i = 0; i < 200 && bench_proc_alive(&n->hop); i++) {
        json_t *st = bench_json_load(n->stats);
        int up = json_is_true(json_object_get(st, "tracker_up"));
        json_decref(st);
        if (up)
            return 0;
        bench_sleep(0.05);
    }
    bench_proc_tail(&n->hop, 20);
    return bench_fail("qasm-normalize did not attach to in0 or reach the tracker");
}

static int kernel_nat_start(struct topo_netns *n, int pool, const char *mode)
{
    char rule[128] = "";
    n->kind = "kernel";
    if (pool > 0)
        snprintf(rule, sizeof(rule),
                 "oifname \\\"out0\\\" meta l4proto udp masquerade to :%d-%d;", POOL_LO,
                 POOL_LO + pool - 1);
    sh(0, "ip netns exec %s conntrack -F", ns_h);
    if (sh(0, "ip netns exec %s sysctl -qw net.ipv4.ip_forward=1", ns_h) != 0 ||
        sh(0, "ip netns exec %s nft \"flush ruleset; add table ip qasm_nat; "
              "add chain ip qasm_nat post { type nat hook postrouting priority srcnat; "
              "policy accept; %s oifname \\\"out0\\\" masquerade; }\"", ns_h, rule) != 0)
        return bench_fail("cannot set up the kernel NAT (nft) in %s", ns_h);
    return strcmp(mode, "normalize") == 0 ? normalize_start(n) : 0;
}

/* cmd:COMMAND with {inside} / {outside} substituted, run under sh -c in the hop. */
static int cmd_hop_start(struct topo_netns *n, const char *hop)
{
    char cmd[1024] = "";
    const char *s = hop + 4;
    n->kind = "cmd";
    while (*s && strlen(cmd) < sizeof(cmd) - 16) {
        if (strncmp(s, "{inside}", 8) == 0) {
            strcat(cmd, "in0");
            s += 8;
        } else if (strncmp(s, "{outside}", 9) == 0) {
            strcat(cmd, "out0");
            s += 9;
        } else {
            size_t l = strlen(cmd);
            cmd[l] = *s++;
            cmd[l + 1] = '\0';
        }
    }
    const char *argv[] = { "sh", "-c", cmd, NULL };
    if (ns_start(n->b, &n->hop, ns_h, "hop-cmd", argv, 0, 0, NULL) < 0)
        return -1;
    bench_sleep(0.5);
    if (!bench_proc_alive(&n->hop)) {
        bench_proc_tail(&n->hop, 20);
        return bench_fail("the hop command exited at once: %s", cmd);
    }
    n->have_hop = 1;
    return 0;
}

int topo_netns_nat_open(struct topo_netns *n, struct bench *b, const char *hop, const char *mode,
                        int pool, int entries)
{
    if (base_start(n, b) < 0)
        return -1;
    if (hop_is_qasm(hop))
        return qasm_nat_start(n, mode, pool, entries);
    if (strcmp(hop, "kernel-nat") == 0)
        return kernel_nat_start(n, pool, mode);
    return cmd_hop_start(n, hop);
}

/* lb: a second backend (10.77.2.2:4434), then qasm-mbox lb with its VIP on the hop's inside address. */
int topo_netns_lb_open(struct topo_netns *n, struct bench *b, const char *hop, const char *mode)
{
    char bin2[PATH_MAX];
    if (hop != NULL && strcmp(hop, "kernel-nat") == 0)
        return bench_fail("lb: --hop kernel-nat is a NAT; use --hop qasm or 'cmd:...'");
    if (base_start(n, b) < 0)
        return -1;
    n->lb = 1;
    const char *sargv[] = { bench_bin(b, bin2, sizeof(bin2), "qasm-h3-server"), "--listen",
                            S_IP ":4434", "--idle-timeout", "10s", NULL };
    if (ns_start(b, &n->server[1], ns_s, "backend1", sargv, 4434, 0, NULL) < 0)
        return -1;
    n->nservers = 2;
    if (hop != NULL && strncmp(hop, "cmd:", 4) == 0)
        return cmd_hop_start(n, hop);
    const char *extra[] = { "--listen", LB_VIP, "--backend", S_IP ":4433", "--backend",
                            S_IP ":4434", NULL };
    return qasm_fn_start(n, "lb", mode, extra);
}

int topo_netns_rl_open(struct topo_netns *n, struct bench *b, const char *hop, const char *mode,
                       const char *const rl[])
{
    if (!hop_is_qasm(hop))
        return bench_fail("%s: --hop %s has no rate limiter the bench can read; use --hop qasm "
                          "or qasm-xdp", b->exp ? b->exp : "ratelimit", hop);
    if (base_start(n, b) < 0)
        return -1;
    return qasm_fn_start(n, "ratelimit", mode, rl);
}

void topo_netns_close(struct topo_netns *n)
{
    if (n->have_hop)
        bench_proc_stop(&n->hop);
    for (int i = n->nservers - 1; i >= 0; i--)
        bench_proc_stop(&n->server[i]);
    bench_proc_stop(&n->tracker);
    netns_teardown();
}

/* A tracker, server or hop that died makes the figures void: say which, in the summary too. */
static void note_dead(struct topo_netns *n, const char *name)
{
    struct bench_proc *all[] = { &n->tracker, &n->server[0], n->have_hop ? &n->hop : NULL,
                                 n->nservers > 1 ? &n->server[1] : NULL };
    for (int i = 0; i < 4; i++) {
        if (all[i] == NULL || bench_proc_alive(all[i]))
            continue;
        bench_proc_tail(all[i], 20);
        bench_fail("%s died during %s (exit status %d): its figures are void, see %s",
                   all[i]->name, name, all[i]->status, all[i]->log);
        json_t *died = json_object_get(n->b->summary, "process_died");
        if (died == NULL)
            json_object_set_new(n->b->summary, "process_died", died = json_array());
        json_array_append_new(died, json_string(all[i]->name));
    }
}

/* Where client |name| writes its JSON summary (its stdout). */
static const char *client_out(const struct topo_netns *n, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%.3800s/%.200s.json", n->b->outdir, name);
    return out;
}

int topo_netns_client_start(struct topo_netns *n, struct bench_proc *p, const char *name,
                            const char *const extra[])
{
    char bin[PATH_MAX], out[PATH_MAX];
    const char *argv[TOPO_NETNS_MAX_ARGS];
    int k = 0;
    argv[k++] = "env";
    argv[k++] = n->b->agent;
    argv[k++] = "QASM_TRACKER=" TRK_ADDR;
    argv[k++] = bench_bin(n->b, bin, sizeof(bin), "qasm-h3-client");
    argv[k++] = "--json";
    if (n->lb) {
        argv[k++] = "--connect";
        argv[k++] = LB_VIP;
    }
    for (int i = 0; extra[i] && k < TOPO_NETNS_MAX_ARGS - 2; i++)
        argv[k++] = extra[i];
    argv[k++] = "https://" S_IP ":4433/";
    argv[k] = NULL;
    return ns_start(n->b, p, ns_c, name, argv, 0, 0, client_out(n, name, out, sizeof(out)));
}

json_t *topo_netns_client_wait(struct topo_netns *n, struct bench_proc *p, const char *name,
                               double timeout_s, int *status)
{
    char out[PATH_MAX];
    if (bench_proc_wait(p, timeout_s) < 0) {
        bench_fail("%s still running after %.0f s: stopped", name, timeout_s);
        bench_proc_stop(p);
    }
    *status = p->status;
    note_dead(n, name);
    json_t *j = bench_json_load(client_out(n, name, out, sizeof(out)));
    if (j == NULL) {
        bench_proc_tail(p, 20);
        bench_fail("%s (exit %d) wrote no JSON summary", name, p->status);
    }
    return j;
}

/* The kernel's table: conntrack -L, one line per entry; the second dport= is the public port. */
static json_t *conntrack_table(struct topo_netns *n, const char *mode)
{
    char cmd[256], line[512], rawname[64], path[PATH_MAX];
    snprintf(cmd, sizeof(cmd),
             "ip netns exec %s conntrack -L -p udp --orig-port-dst %d 2>/dev/null", ns_h,
             SRV_PORT);
    snprintf(rawname, sizeof(rawname), "conntrack-%s.txt", mode);
    FILE *raw = fopen(bench_path(n->b, path, sizeof(path), rawname), "w");
    FILE *f = popen(cmd, "r");
    int entries = 0, nports = 0, ports[4096];
    json_t *list = json_array();
    while (f && fgets(line, sizeof(line), f)) {
        if (raw)
            fputs(line, raw);
        char *src = strstr(line, "src="), *d1 = strstr(line, "dport=");
        char *sp = strstr(line, "sport=");
        char *d2 = d1 ? strstr(d1 + 6, "dport=") : NULL;
        if (!src || !d2 || !sp)
            continue;
        entries++;
        int port = atoi(d2 + 6), seen = 0;
        for (int i = 0; i < nports; i++)
            seen |= ports[i] == port;
        if (!seen && nports < 4096)
            ports[nports++] = port;
        char client[64];
        int sl = (int)strcspn(src + 4, " ");
        snprintf(client, sizeof(client), "%.*s:%d", sl, src + 4, atoi(sp + 6));
        json_array_append_new(list, json_pack("{s:s,s:[s],s:i}", "client", client, "clients", client,
                                              "public_port", port));
    }
    if (f)
        pclose(f);
    if (raw)
        fclose(raw);
    return json_pack("{s:s,s:i,s:i,s:i,s:i,s:o}", "source", "conntrack -L", "mappings", entries,
                     "mappings_created", entries, "ports_in_use", nports, "ports_high_water",
                     nports, "entries", list);
}

json_t *topo_netns_table(struct topo_netns *n, const char *mode)
{
    if (strcmp(n->kind, "qasm") == 0) {
        if (bench_proc_alive(&n->hop)) {
            bench_proc_signal(&n->hop, SIGUSR1);
            bench_sleep(0.15);
        }
        return bench_json_load(n->stats);
    }
    if (strcmp(n->kind, "kernel") == 0)
        return conntrack_table(n, mode);
    return json_object();
}

int topo_netns_modes(const struct bench *b, const char *hop, const char *const **modes)
{
    static const char *const kernel[] = { "kernel", "normalize" };
    static const char *const cmd[] = { "cmd" };
    char bin[PATH_MAX];
    if (hop_is_qasm(hop)) {
        *modes = bench_modes;
        return 3;
    }
    if (strcmp(hop, "kernel-nat") != 0) {
        *modes = cmd;
        return 1;
    }
    /* The normaliser is built only with the BPF toolchain. */
    *modes = kernel;
    return access(bench_bin(b, bin, sizeof(bin), "qasm-normalize"), X_OK) == 0 ? 2 : 1;
}

int topo_netns_check(const char *hop)
{
    if (geteuid() != 0)
        return bench_fail("--topology netns needs root (network namespaces, veth, nftables); "
                          "run as root or drop it for the loopback topology");
    if (sh(0, "command -v ip") != 0)
        return bench_fail("--topology netns needs the 'ip' tool (iproute2)");
    if (hop && strcmp(hop, "kernel-nat") == 0 &&
        (sh(0, "command -v nft") != 0 || sh(0, "command -v conntrack") != 0))
        return bench_fail("--hop kernel-nat needs 'nft' and 'conntrack' (nftables, conntrack "
                          "packages; scripts/deps.sh)");
    if (hop && strcmp(hop, "qasm-xdp") == 0 && sh(0, "command -v ethtool") != 0)
        return bench_fail("--hop qasm-xdp needs 'ethtool' (scripts/deps.sh)");
    return 0;
}
