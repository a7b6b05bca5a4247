/*
 * xdp_hopgen.c: qasm-xdp-hopgen, the traffic generator and counting sink
 * of the hop benchmark (middleboxes/xdp/hop-bench.sh, docs/BENCHMARKS.md).
 *
 * A userspace sender (sendmmsg) on a 2-vCPU machine does not outrun a hop
 * that forwards in XDP, so the frames are made in the kernel: the object's
 * qasm_xdp_gen program is run by BPF_PROG_TEST_RUN with live frames
 * (BPF_F_TEST_XDP_LIVE_FRAMES) as if the frame had arrived on the client's
 * interface; it returns XDP_TX, so each repeat really leaves that
 * interface towards the hop, from the next of --flows source ports. One
 * thread per --threads, each pinned to its CPU. At the far end the
 * object's qasm_xdp_sink program, attached to the server's interface,
 * counts every frame that crossed the hop and drops it: the received rate
 * is counted in the kernel, no receiving process limits it.
 *
 * The two interfaces may sit in network namespaces (--gen-netns,
 * --sink-netns: names under /var/run/netns). After a --warmup, the
 * generated and the received frames are counted over --seconds; one JSON
 * line says both rates. Root.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>

#include "addr.h"
#include "cli.h"
#include "ipudp.h"
#include "parse.h"
#include "middleboxes/xdp/xdp_maps.h"
#include "qasm_xdp.skel.h"

#define PROG "qasm-xdp-hopgen"
#define MAX_THREADS 64

struct opts {
    const char *gen_ns, *gen_if, *sink_ns, *sink_if;
    uint8_t dmac[6];
    struct qasm_addr from, to;
    uint64_t flows, payload, threads;
    int dcid_per_flow, to_ports;
    double seconds, warmup;
};

static void usage(void)
{
    printf("usage: " PROG " --gen-if IF --dst-mac MAC --from IP:PORT --to IP:PORT --sink-if IF\n"
           "                       [--gen-netns NS] [--sink-netns NS] [--flows N] [--payload B]\n"
           "                       [--threads T] [--seconds S] [--warmup S] [--dcid-per-flow]\n"
           "                       [--to-ports]\n"
           "The hop benchmark's generator and sink (root): IPv4 UDP frames made in the kernel\n"
           "(BPF_PROG_TEST_RUN, live frames) leave --gen-if towards the hop; the frames that\n"
           "reach --sink-if are counted and dropped there by XDP. Prints one JSON line.\n"
           "  --gen-if IF      the client's interface the frames leave by\n"
           "  --dst-mac MAC    their destination MAC (the hop's interface)\n"
           "  --from IP:PORT   their source; ports PORT .. PORT+N-1 (--flows N, default 16)\n"
           "  --to IP:PORT     their destination\n"
           "  --to-ports       the flows differ by destination port instead (--to's PORT ..\n"
           "                   PORT+N-1, from --from's one port): a server's replies\n"
           "  --sink-if IF     where they are counted (an XDP program replaces any there)\n"
           "  --gen-netns NS, --sink-netns NS  the interfaces' namespaces (ip netns names)\n"
           "  --payload B      UDP payload bytes (default 64, a QUIC short header first)\n"
           "  --threads T      generating threads, one per CPU (default: the CPUs)\n"
           "  --dcid-per-flow  the short header's 8-byte DCID is c1c2c3c4c5c6 then the flow's\n"
           "                   index (0 .. N-1, 2 bytes big endian), the source port's offset\n"
           "                   from --from's; without it every flow has DCID c1c2c3c4c5c6c7c8\n"
           "  --seconds S      counted time (default 3), after --warmup S (default 1)\n"
           "  --version, -h/--help\n");
}

static void parse_mac(uint8_t mac[6], const char *s)
{
    unsigned v[6];
    char tail;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        qasm_cli_usage_exitf(PROG, "--dst-mac: expected xx:xx:xx:xx:xx:xx, got '%s'", s);
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
}

static void parse_v4(struct qasm_addr *a, const char *flag, const char *s)
{
    if (qasm_addr_parse(a, s) != 0 || a->family != AF_INET)
        qasm_cli_usage_exitf(PROG, "--%s: expected IPv4:PORT, got '%s'", flag, s);
}

static void parse_secs(double *v, const char *flag, const char *s)
{
    if (qasm_parse_positive(v, s, 3600) != 0)
        qasm_cli_usage_exitf(PROG, "--%s: expected seconds in (0, 3600], got '%s'", flag, s);
}

static void parse(struct opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"gen-if", 1, 0, 'g'},  {"dst-mac", 1, 0, 'm'}, {"from", 1, 0, 'f'},
        {"to", 1, 0, 't'},      {"sink-if", 1, 0, 's'}, {"gen-netns", 1, 0, 'G'},
        {"sink-netns", 1, 0, 'S'}, {"flows", 1, 0, 'n'}, {"payload", 1, 0, 'p'},
        {"threads", 1, 0, 'T'}, {"seconds", 1, 0, 'd'}, {"warmup", 1, 0, 'w'},
        {"dcid-per-flow", 0, 0, 'D'}, {"to-ports", 0, 0, 'P'}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    int ncpu = libbpf_num_possible_cpus();
    *o = (struct opts){.flows = 16, .payload = 64, .seconds = 3, .warmup = 1,
                       .threads = ncpu > 0 ? (uint64_t)ncpu : 1};
    int have = 0, c;
    char err[256];
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'g': o->gen_if = optarg, have |= 1; break;
        case 'm': parse_mac(o->dmac, optarg), have |= 2; break;
        case 'f': parse_v4(&o->from, "from", optarg), have |= 4; break;
        case 't': parse_v4(&o->to, "to", optarg), have |= 8; break;
        case 's': o->sink_if = optarg, have |= 16; break;
        case 'G': o->gen_ns = optarg; break;
        case 'S': o->sink_ns = optarg; break;
        case 'n': rc = qasm_parse_flag_u64(&o->flows, "flows", optarg, 1, 65535, err, sizeof(err)); break;
        case 'p': rc = qasm_parse_flag_u64(&o->payload, "payload", optarg, 16, 1400, err, sizeof(err)); break;
        case 'T': rc = qasm_parse_flag_u64(&o->threads, "threads", optarg, 1, MAX_THREADS, err, sizeof(err)); break;
        case 'd': parse_secs(&o->seconds, "seconds", optarg); break;
        case 'w': parse_secs(&o->warmup, "warmup", optarg); break;
        case 'D': o->dcid_per_flow = 1; break;
        case 'P': o->to_ports = 1; break;
        case 'h': usage(); exit(0);
        default: rc = qasm_parse_getopt_errf(err, sizeof(err), argc, argv, "h", lo);
        }
        if (rc)
            qasm_cli_usage_exit(PROG, err);
    }
    if (optind < argc)
        qasm_cli_usage_exitf(PROG, "unexpected argument '%s'", argv[optind]);
    static const char *const need[] = {"--gen-if", "--dst-mac", "--from", "--to", "--sink-if"};
    for (int i = 0; i < 5; i++)
        if (!(have & 1 << i))
            qasm_cli_usage_exitf(PROG, "%s is required", need[i]);
}

static void die(const char *what, int err)
{
    fprintf(stderr, PROG ": %s: %s\n", what, strerror(err));
    exit(1);
}

/* Moves this thread (and the threads it starts) into network namespace |ns| (NULL: stays). */
static void enter_netns(const char *ns)
{
    if (!ns)
        return;
    char path[256];
    snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
        die(path, errno);
    close(fd);
}

static int ifindex_of(const char *name)
{
    int i = (int)if_nametoindex(name);
    if (!i)
        die(name, errno);
    return i;
}

static struct qasm_xdp *skel;

/* The object, its fast path's maps shrunk (only the generator, sink and their maps run). */
static void load(void)
{
    if (!getenv("QASM_XDP_VERBOSE"))
        libbpf_set_print(NULL);
    skel = qasm_xdp__open();
    if (!skel)
        die("cannot open the XDP object", errno);
    struct bpf_map *small[] = {skel->maps.flows, skel->maps.entries, skel->maps.slots,
                               skel->maps.dcids, skel->maps.attested, skel->maps.servers};
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++)
        bpf_map__set_max_entries(small[i], 1);
    int rc = qasm_xdp__load(skel);
    if (rc)
        die("cannot load the XDP object (QASM_XDP_VERBOSE=1 shows libbpf's log)", -rc);
}

/* The generator's configuration: the flows, and the headers of |buf| it writes each time. */
static void configure(const struct opts *o, const uint8_t *buf)
{
    struct qasm_xdp_gen g = {.flows = (uint32_t)o->flows,
                             .port0 = o->to_ports ? o->to.port : o->from.port,
                             .dcid_per_flow = (uint32_t)o->dcid_per_flow,
                             .vary_dst = (uint32_t)o->to_ports};
    memcpy(g.head, buf, QASM_XDP_GEN_HEAD);
    uint32_t zero = 0;
    if (bpf_map__update_elem(skel->maps.gen, &zero, 4, &g, sizeof(g), 0) != 0)
        die("gen map", errno);
}

/* The frame: Ethernet (the interface's MAC to --dst-mac), IPv4, UDP, a QUIC short header. */
static size_t frame(const struct opts *o, int ifindex, uint8_t *buf, size_t cap)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || !if_indextoname((unsigned)ifindex, ifr.ifr_name) ||
        ioctl(s, SIOCGIFHWADDR, &ifr) != 0)
        die("the generating interface's MAC", errno);
    close(s);
    memcpy(buf, o->dmac, 6);
    memcpy(buf + 6, ifr.ifr_hwaddr.sa_data, 6);
    buf[12] = 0x08, buf[13] = 0x00;
    uint8_t pl[1400] = {0x41, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8};
    ssize_t n = qasm_ipudp_build(buf + 14, cap - 14, &o->from, &o->to, pl, o->payload, 64);
    if (n <= 0)
        die("building the frame", EINVAL);
    return 14 + (size_t)n;
}

struct gen_thread {
    pthread_t t;
    int cpu, ifindex, err;
    uint8_t *frame;
    size_t len;
};

static atomic_int stop;

/* One generating thread: live-frame runs of 2^16 frames until told to stop. */
static void *generate(void *arg)
{
    struct gen_thread *g = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(g->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    struct xdp_md ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.data_end = (uint32_t)g->len;
    ctx.ingress_ifindex = (uint32_t)g->ifindex;
    while (!atomic_load(&stop)) {
        LIBBPF_OPTS(bpf_test_run_opts, ro, .data_in = g->frame, .data_size_in = (uint32_t)g->len,
                    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1 << 16,
                    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
        if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.qasm_xdp_gen), &ro) != 0) {
            g->err = errno;
            break;
        }
    }
    return NULL;
}

/* Slot |k| of gen_count, summed over the CPUs. */
static uint64_t counted(uint32_t k)
{
    uint64_t v[MAX_THREADS * 8], sum = 0;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0 || ncpu > MAX_THREADS * 8 ||
        bpf_map__lookup_elem(skel->maps.gen_count, &k, 4, v, sizeof(uint64_t) * (size_t)ncpu, 0))
        die("reading the counts", errno);
    for (int i = 0; i < ncpu; i++)
        sum += v[i];
    return sum;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Runs the threads: counts after the warmup over the counted time; prints the JSON line. */
static int run(const struct opts *o, int gen_if, uint8_t *buf, size_t len)
{
    static struct gen_thread th[MAX_THREADS];
    int ncpu = libbpf_num_possible_cpus();
    for (uint64_t i = 0; i < o->threads; i++) {
        th[i] = (struct gen_thread){.cpu = (int)i % (ncpu > 0 ? ncpu : 1), .ifindex = gen_if,
                                    .frame = buf, .len = len};
        if (pthread_create(&th[i].t, NULL, generate, &th[i]) != 0)
            die("pthread_create", errno);
    }
    sleep_s(o->warmup);
    uint64_t s0 = counted(QASM_XDP_GEN_SENT), r0 = counted(QASM_XDP_GEN_SUNK);
    double t0 = mono();
    sleep_s(o->seconds);
    uint64_t s1 = counted(QASM_XDP_GEN_SENT), r1 = counted(QASM_XDP_GEN_SUNK);
    double dt = mono() - t0;
    atomic_store(&stop, 1);
    int err = 0;
    for (uint64_t i = 0; i < o->threads; i++) {
        pthread_join(th[i].t, NULL);
        err = err ? err : th[i].err;
    }
    if (err)
        die("BPF_PROG_TEST_RUN with live frames", err);
    printf("{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"seconds\":%.3f,\"sent_pps\":%.0f,"
           "\"received_pps\":%.0f,\"flows\":%" PRIu64 ",\"threads\":%" PRIu64 ",\"frame_bytes\":%zu}\n",
           s1 - s0, r1 - r0, dt, (double)(s1 - s0) / dt, (double)(r1 - r0) / dt, o->flows,
           o->threads, len);
    return 0;
}

int main(int argc, char **argv)
{
    qasm_cli_front(PROG, argc, argv);
    struct opts o;
    parse(&o, argc, argv);
    if (geteuid() != 0) {
        fprintf(stderr, PROG ": needs root (BPF, network namespaces)\n");
        return 1;
    }
    load();
    enter_netns(o.sink_ns);
    int sink_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int sink_if = ifindex_of(o.sink_if);
    int rc = bpf_xdp_attach(sink_if, bpf_program__fd(skel->progs.qasm_xdp_sink),
                            XDP_FLAGS_DRV_MODE, NULL);
    if (rc)
        die("attaching the sink (native XDP)", -rc);
    enter_netns(o.gen_ns);
    int gen_if = ifindex_of(o.gen_if);
    static uint8_t buf[1600];
    size_t len = frame(&o, gen_if, buf, sizeof(buf));
    configure(&o, buf);
    rc = run(&o, gen_if, buf, len);
    if (sink_ns < 0 || setns(sink_ns, CLONE_NEWNET) != 0)
        die("back to the sink's namespace", errno);
    bpf_xdp_detach(sink_if, XDP_FLAGS_DRV_MODE, NULL);
    qasm_xdp__destroy(skel);
    return rc;
}
