/*
 * xdp_bench.c: qasm-xdp-bench, the cost per packet of the XDP fast path
 * (middleboxes/xdp/qasm_xdp.bpf.c) by BPF_PROG_TEST_RUN, with N connections
 * in its maps (default 10^6), beside the floor: qasm_xdp_fwd, a bare
 * forwarder that only rewrites the MACs and redirects.
 *
 * Per function (nat, ratelimit, lb) and mode (default, reactive, proactive)
 * one frame of a known flow is run R times (default 10^6) in one call: the
 * steady state of a flow the core has decided, its next hop cached (as
 * qasm-mbox runs it) and bpf_redirect to the outside interface. The rewrite
 * of the measured flows is the identity and their TTL is kept (the
 * configuration's keep_ttl), so every repeat sees the same frame and does
 * the same work as a real rewrite. Every mode runs the same connection's
 * frame: its flow is written anew before each case, its entry keyed as that
 * mode keys it (client 5-tuple in default, O-DCID in the aware modes) in
 * the same slot of `entries`; the write puts the flow at the head of its
 * chain in `flows`, so each mode finds the same 5-tuple at the same place
 * and the ratios measure the mode alone, not where a run's hash seed put two
 * different connections. Three more cases: nat default with the entry keyed
 * by O-DCID (as only the aware modes key them: nat reactive over it is what
 * the aware mode's own checks cost), and what forwarding costs: nat
 * default asking the FIB on every packet (no next-hop cache) and without
 * the FIB (the frame sent back out, XDP_TX). The cases are interleaved
 * within each round (a function's three modes in turn
 * forwards and backwards); each prints the median, min and max over the
 * rounds of the kernel's mean time per run, and the aware/default ratios
 * as the median and quartiles of the per-round ratios: a slow minute of a
 * busy machine moves the cases of its round alike, which a ratio of
 * medians over the whole run does not cancel. The program's size (BPF and
 * JITed bytes, the instructions the verifier processed) is printed too: one
 * program serves every mode, so it does not tell the modes apart.
 *
 * The maps: N connections, each two flows (client -> server, and the
 * return), one entry (connection i in slot i of `entries`, as a fresh
 * qasm-mbox hands them out, and in `slots`); even connections keyed as the default mode keys them
 * (client 5-tuple), odd ones as the aware modes do (O-DCID), with a DCID and
 * an attested client address each. Reactive and proactive differ in when
 * userspace writes DCIDs and attestations, not in what the kernel does with
 * a known flow: both are run to show the noise between equal cases.
 *
 * Root: it runs in a network namespace of its own (unshare), with a veth
 * pair as the outside interface and a permanent neighbour for the FIB.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <jansson.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>

#include "addr.h"
#include "cli.h"
#include "ipudp.h"
#include "parse.h"
#include "middleboxes/io/xdp_io.h"
#include "qasm_xdp.skel.h"

#define PROG "qasm-xdp-bench"
#define MAX_ROUNDS 999

struct opts {
    uint64_t conns, repeat, rounds, payload;
    int fn; /* -1: all */
    const char *json; /* --json FILE, or NULL */
};

static const char *const FN_NAMES[] = {"nat", "ratelimit", "lb"};
static const char *const MODE_NAMES[] = {"default", "reactive", "proactive"};

static void usage(void)
{
    printf("usage: " PROG " [--connections N] [--repeat R] [--rounds K] [--payload BYTES]\n"
           "                      [--function nat|ratelimit|lb|all] [--json FILE]\n"
           "The XDP fast path's cost per packet by BPF_PROG_TEST_RUN (root): a known flow's\n"
           "frame run R times with N connections in the maps, per function and mode\n"
           "(default, reactive, proactive), beside a bare forwarder (MACs + redirect).\n"
           "  --connections N  connections in the maps (default 1000000; 2 flows each)\n"
           "  --repeat R       runs per case and round (default 1000000)\n"
           "  --rounds K       rounds, the cases interleaved (default 21, at most 999)\n"
           "  --payload BYTES  UDP payload of the frame (default 400)\n"
           "  --function F     nat, ratelimit, lb or all (default all)\n"
           "  --json FILE      also write the figures as JSON (qasm-bench's xdp experiment)\n"
           "  --version, -h/--help\n");
}

static void parse(struct opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"connections", 1, 0, 'n'}, {"repeat", 1, 0, 'r'},   {"rounds", 1, 0, 'k'},
        {"payload", 1, 0, 'p'},     {"function", 1, 0, 'f'}, {"json", 1, 0, 'j'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    *o = (struct opts){.conns = 1000000, .repeat = 1000000, .rounds = 21, .payload = 400, .fn = -1};
    char err[256];
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'n':
            rc = qasm_parse_flag_u64(&o->conns, "connections", optarg, 2,
                                     QASM_XDP_MAX_ENTRIES_LIMIT, err, sizeof(err));
            break;
        case 'r':
            rc = qasm_parse_flag_u64(&o->repeat, "repeat", optarg, 1, UINT32_MAX, err, sizeof(err));
            break;
        case 'k':
            rc = qasm_parse_flag_u64(&o->rounds, "rounds", optarg, 1, MAX_ROUNDS, err, sizeof(err));
            break;
        case 'p':
            rc = qasm_parse_flag_u64(&o->payload, "payload", optarg, 16, 1400, err, sizeof(err));
            break;
        case 'f':
            o->fn = -2;
            for (int i = 0; i < 3; i++)
                if (strcmp(optarg, FN_NAMES[i]) == 0)
                    o->fn = i;
            if (strcmp(optarg, "all") == 0)
                o->fn = -1;
            if (o->fn == -2)
                qasm_cli_usage_exitf(PROG, "--function: expected nat, ratelimit, lb or all, "
                                     "got '%s'", optarg);
            break;
        case 'j':
            o->json = optarg;
            break;
        case 'h':
            usage();
            exit(0);
        default:
            rc = qasm_parse_getopt_errf(err, sizeof(err), argc, argv, "h", lo);
        }
        if (rc)
            qasm_cli_usage_exit(PROG, err);
    }
    if (optind < argc)
        qasm_cli_usage_exitf(PROG, "unexpected argument '%s'", argv[optind]);
}

/* ---- the maps: N connections ---- */

static struct qasm_xdp *skel;
static int if_out;
static uint32_t measured_conn; /* the connection every mode's case runs (its frame: fr[1]) */

/* Connection |i|: client 100.64.0.0 + i, port 50000, to the server 10.77.2.2:4433, public
 * 10.78.0.0 + i / 16384 : 40000 + i % 16384. */
static struct qasm_flow conn_flow(uint32_t i, int ret)
{
    char c[64], p[64];
    uint32_t a = (100u << 24 | 64u << 16) + i, q = (10u << 24 | 78u << 16) + i / 16384;
    snprintf(c, sizeof(c), "%u.%u.%u.%u:50000", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
    snprintf(p, sizeof(p), "%u.%u.%u.%u:%u", q >> 24, q >> 16 & 255, q >> 8 & 255, q & 255,
             40000 + i % 16384);
    struct qasm_flow f;
    memset(&f, 0, sizeof(f));
    f.proto = 17;
    if (qasm_addr_parse(&f.src, ret ? "10.77.2.2:4433" : c) != 0 ||
        qasm_addr_parse(&f.dst, ret ? p : "10.77.2.2:4433") != 0)
        abort();
    return f;
}

static struct qasm_cid conn_cid(uint32_t i, uint8_t tag)
{
    struct qasm_cid c = {.len = 8, .data = {tag, 0, 0, 0, (uint8_t)(i >> 24), (uint8_t)(i >> 16),
                                            (uint8_t)(i >> 8), (uint8_t)i}};
    return c;
}

/* The entry key of connection |i|: even, its client 5-tuple; odd, its O-DCID. */
static struct qasm_xdp_ekey conn_ekey(uint32_t i)
{
    struct qasm_flow f = conn_flow(i, 0);
    if (i % 2 == 0)
        return qasm_xdp_ekey_flow(&f.src, &f.dst);
    struct qasm_cid o = conn_cid(i, 0xd0);
    return qasm_xdp_ekey_conn(&o);
}

enum { CHUNK = 8192 };

struct batch {
    int fd;
    size_t ksz, vsz;
    uint32_t n;
    uint8_t *k, *v;
};

static void batch_flush(struct batch *b)
{
    uint32_t n = b->n;
    if (n && bpf_map_update_batch(b->fd, b->k, b->v, &n, NULL) != 0) {
        fprintf(stderr, PROG ": filling the maps: %s (%u of %u written)\n", strerror(errno), n,
                b->n);
        exit(1);
    }
    b->n = 0;
}

static void batch_put(struct batch *b, const void *k, const void *v)
{
    memcpy(b->k + b->n * b->ksz, k, b->ksz);
    memcpy(b->v + b->n * b->vsz, v, b->vsz);
    if (++b->n == CHUNK)
        batch_flush(b);
}

static struct batch batch_of(struct bpf_map *m, size_t ksz, size_t vsz)
{
    struct batch b = {.fd = bpf_map__fd(m), .ksz = ksz, .vsz = vsz};
    b.k = malloc(CHUNK * ksz);
    b.v = malloc(CHUNK * vsz);
    if (!b.k || !b.v)
        abort();
    return b;
}

static void flow_put(struct batch *b, const struct qasm_flow *key, int dir,
                     const struct qasm_flow *to, const struct qasm_xdp_ekey *ek,
                     struct qasm_xdp_ref ref, uint32_t flags)
{
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(key, dir);
    struct qasm_xdp_flow v = qasm_xdp_flow_of(&to->src, &to->dst, ek, ref, flags);
    batch_put(b, &k, &v);
}

/* Fills the maps with |n| connections, connection i's entry in slot i (as qasm-mbox's slot
 * allocator hands them out from a fresh start); the measured ones (|m0|, |m1|) rewrite to
 * themselves. */
static void fill(uint32_t n, uint32_t m0, uint32_t m1)
{
    struct batch fl = batch_of(skel->maps.flows, sizeof(struct qasm_xdp_fkey),
                               sizeof(struct qasm_xdp_flow));
    struct batch en = batch_of(skel->maps.entries, sizeof(uint32_t),
                               sizeof(struct qasm_xdp_entry));
    struct batch sl = batch_of(skel->maps.slots, sizeof(struct qasm_xdp_ekey),
                               sizeof(struct qasm_xdp_ref));
    struct batch dc = batch_of(skel->maps.dcids, sizeof(struct qasm_xdp_cid),
                               sizeof(struct qasm_xdp_ekey));
    struct batch at = batch_of(skel->maps.attested, sizeof(struct qasm_xdp_attest),
                               sizeof(uint64_t));
    for (uint32_t i = 0; i < n; i++) {
        struct qasm_flow out = conn_flow(i, 0), ret = conn_flow(i, 1);
        struct qasm_flow nat = {.src = ret.dst, .dst = out.dst, .proto = 17};
        struct qasm_xdp_ekey ek = conn_ekey(i);
        struct qasm_xdp_ref ref = {.slot = i, .gen = 1};
        int measured = i == m0 || i == m1;
        flow_put(&fl, &out, QASM_XDP_FROM_CLIENT, measured ? &out : &nat, &ek, ref, 0);
        flow_put(&fl, &ret, QASM_XDP_FROM_SERVER, &ret, &ek, ref, QASM_XDP_F_DST_CLIENT);
        struct qasm_xdp_entry e;
        memset(&e, 0, sizeof(e));
        e.family = AF_INET;
        qasm_xdp_addr(&out.src, e.client, &e.client_port);
        qasm_xdp_addr(&ret.dst, e.hop, &e.hop_port);
        e.rl_tat = 0; /* long ago: full (the bench's bucket never runs dry) */
        e.gen = ref.gen;
        batch_put(&en, &i, &e);
        batch_put(&sl, &ek, &ref);
        if (i % 2) {
            struct qasm_cid d = conn_cid(i, 0xc0);
            struct qasm_xdp_cid dk = qasm_xdp_cid_of(&d);
            batch_put(&dc, &dk, &ek);
            struct qasm_xdp_attest ak = qasm_xdp_attest_of(&ek, &out.src);
            uint64_t when = 1;
            batch_put(&at, &ak, &when);
        }
    }
    struct batch *all[] = {&fl, &en, &sl, &dc, &at};
    for (int i = 0; i < 5; i++) {
        batch_flush(all[i]);
        free(all[i]->k);
        free(all[i]->v);
    }
    struct qasm_addr srv;
    qasm_addr_parse(&srv, "10.77.2.2:4433");
    struct qasm_xdp_srv sk = qasm_xdp_srv_of(&srv);
    uint32_t len = 8;
    bpf_map__update_elem(skel->maps.servers, &sk, sizeof(sk), &len, 4, 0);
}

/* ---- the runs ---- */

struct frame {
    uint8_t b[1600];
    uint32_t len;
};

/* Connection |i|'s frame from the client: a QUIC short header to its DCID, |plen| bytes. */
static struct frame conn_frame(uint32_t i, size_t plen)
{
    struct frame fr;
    memset(&fr, 0, sizeof(fr));
    static const uint8_t hdr[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
    memcpy(fr.b, hdr, sizeof(hdr));
    uint8_t pl[1400] = {0x41};
    struct qasm_cid d = conn_cid(i, 0xc0);
    memcpy(pl + 1, d.data, d.len);
    struct qasm_flow f = conn_flow(i, 0);
    ssize_t n = qasm_ipudp_build(fr.b + 14, sizeof(fr.b) - 14, &f.src, &f.dst, pl, plen, 64);
    if (n <= 0)
        abort();
    fr.len = 14 + (uint32_t)n;
    return fr;
}

/* The kernel's mean ns per run of |prog| on |fr| over |repeat| runs; exits unless |act|. */
static uint32_t cost(struct bpf_program *prog, const struct frame *fr, uint32_t repeat, int act)
{
    struct xdp_md ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.data_end = fr->len;
    ctx.ingress_ifindex = 1; /* lo: the inside, and where the FIB is asked from */
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = fr->b, .data_size_in = fr->len, .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = repeat);
    if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o) != 0 || (int)o.retval != act) {
        fprintf(stderr, PROG ": %s: BPF_PROG_TEST_RUN: %s, action %u (want %d)\n",
                bpf_program__name(prog), strerror(errno), o.retval, act);
        exit(1);
    }
    return o.duration;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double mean_of(const uint32_t *v, uint64_t n)
{
    double s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += v[i];
    return s / (double)n;
}

/* The configuration of a case: |nh_ttl| the next hop's bound (0: the FIB every packet). */
static void configure(int fn, int aware, int no_fib, uint64_t nh_ttl)
{
    struct qasm_xdp_cfg c;
    memset(&c, 0, sizeof(c));
    c.function = (uint32_t)fn;
    c.aware = (uint32_t)aware;
    c.ifindex_in = 1;
    c.ifindex_out = (uint32_t)if_out;
    c.fib_ifindex = 1;
    c.keep_ttl = 1;
    c.no_fib = (uint32_t)no_fib;
    c.nh_ttl_ns = nh_ttl;
    if (fn == QASM_XDP_RATELIMIT) { /* a bucket that never runs dry: the arithmetic, no drop */
        struct qasm_bucket_params p = {.rate_milli = 1000000000000000ull, /* 1e12/s */
                                       .cap = 10000000000000000000ull};   /* 1e10 */
        qasm_xdp_cfg_rate(&c, &p, 1);
    }
    uint32_t zero = 0;
    if (bpf_map__update_elem(skel->maps.config, &zero, 4, &c, sizeof(c), 0) != 0)
        abort();
}

/* The floor, function x mode (next hop cached), then the extra cases: nat default on the
 * O-DCID-keyed connection the aware modes measure, asking the FIB every packet, without the
 * FIB. */
#define NCASE 13
#define C_ODCID (NCASE - 3)
#define C_FIB (NCASE - 2)
#define C_NOFIB (NCASE - 1)

static const char *const EXTRA_NAMES[] = {"nat default, O-DCID-keyed entry",
                                          "nat default, FIB every packet (no cache)",
                                          "nat default without the FIB (XDP_TX)"};

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*
 * The measured connection's flow from the client, written anew: its entry
 * keyed by O-DCID (|conn|, the aware modes) or by its client 5-tuple (the
 * default mode), in the connection's slot either way. An update of a hash
 * map's element puts it at the head of its bucket's chain: every case finds
 * it at the same place.
 */
static void measured_flow(int conn)
{
    struct qasm_flow out = conn_flow(measured_conn, 0);
    struct qasm_xdp_ekey ek = conn ? conn_ekey(measured_conn)
                                   : qasm_xdp_ekey_flow(&out.src, &out.dst);
    struct qasm_xdp_ref ref = {.slot = measured_conn, .gen = 1};
    struct qasm_xdp_fkey k = qasm_xdp_fkey_of(&out, QASM_XDP_FROM_CLIENT);
    struct qasm_xdp_flow v = qasm_xdp_flow_of(&out.src, &out.dst, &ek, ref, 0);
    if (bpf_map__update_elem(skel->maps.flows, &k, sizeof(k), &v, sizeof(v), BPF_ANY) != 0)
        abort();
}

/* One function's three modes, in order |m| (0..2) or reversed: ns[1 + fn * 3 + mode][r]. */
static void measure_fn(const struct opts *o, const struct frame fr[2], int fn, uint64_t r,
                       uint32_t ns[NCASE][MAX_ROUNDS])
{
    for (int i = 0; i < 3; i++) {
        int m = r % 2 ? 2 - i : i; /* ABC CBA: a drift within the round hits each mode alike */
        configure(fn, m > 0, 0, QASM_XDP_NH_TTL_NS);
        measured_flow(m > 0);
        ns[1 + fn * 3 + m][r] = cost(skel->progs.qasm_xdp, &fr[1], (uint32_t)o->repeat,
                                     XDP_REDIRECT);
    }
}

/* Runs every case |o->rounds| times, interleaved; ns[case][round]. */
static void measure(const struct opts *o, const struct frame fr[2], uint32_t ns[NCASE][MAX_ROUNDS])
{
    for (uint64_t r = 0; r < o->rounds; r++) {
        ns[0][r] = cost(skel->progs.qasm_xdp_fwd, &fr[0], (uint32_t)o->repeat, XDP_REDIRECT);
        for (int fn = 0; fn < 3; fn++)
            if (o->fn < 0 || o->fn == fn)
                measure_fn(o, fr, fn, r, ns);
        configure(QASM_XDP_NAT, 0, 0, QASM_XDP_NH_TTL_NS);
        measured_flow(1);
        ns[C_ODCID][r] = cost(skel->progs.qasm_xdp, &fr[1], (uint32_t)o->repeat, XDP_REDIRECT);
        configure(QASM_XDP_NAT, 0, 0, 0);
        ns[C_FIB][r] = cost(skel->progs.qasm_xdp, &fr[0], (uint32_t)o->repeat, XDP_REDIRECT);
        configure(QASM_XDP_NAT, 0, 1, 0);
        ns[C_NOFIB][r] = cost(skel->progs.qasm_xdp, &fr[0], (uint32_t)o->repeat, XDP_TX);
    }
}

/* The quartiles of ns[a][r] / ns[b][r] over the rounds: q[0] lower, q[1] median, q[2] upper. */
static void ratio_quartiles(const struct opts *o, uint32_t ns[NCASE][MAX_ROUNDS], int a, int b,
                            double q[3])
{
    static double v[MAX_ROUNDS];
    uint64_t k = o->rounds;
    for (uint64_t r = 0; r < k; r++)
        v[r] = ns[b][r] ? (double)ns[a][r] / ns[b][r] : 0;
    qsort(v, k, sizeof(double), cmp_dbl);
    q[0] = v[k / 4];
    q[1] = v[k / 2];
    q[2] = v[(3 * k) / 4 < k ? (3 * k) / 4 : k - 1];
}

/*
 * The aware/default ratios of function |fn|: the median and quartiles of the
 * per-round ratios (each round's cases run back to back, so a slow minute
 * moves both), and reactive/proactive, whose work is the same: its spread is
 * what this machine resolves.
 */
static void report_ratios(const struct opts *o, uint32_t ns[NCASE][MAX_ROUNDS], int fn,
                          json_t *ratios)
{
    int d = 1 + fn * 3;
    double re[3], pro[3], eq[3];
    ratio_quartiles(o, ns, d + 1, d, re);
    ratio_quartiles(o, ns, d + 2, d, pro);
    ratio_quartiles(o, ns, d + 1, d + 2, eq);
    printf("%-40s reactive/default %.3f [%.3f-%.3f], proactive/default %.3f [%.3f-%.3f], "
           "reactive/proactive %.3f [%.3f-%.3f] (per-round ratios: median [quartiles])\n", "",
           re[1], re[0], re[2], pro[1], pro[0], pro[2], eq[1], eq[0], eq[2]);
    /* Each ratio as [lower quartile, median, upper quartile]. */
    json_object_set_new(ratios, FN_NAMES[fn],
                        json_pack("{s:[fff],s:[fff],s:[fff]}", "reactive_default", re[0], re[1],
                                  re[2], "proactive_default", pro[0], pro[1], pro[2],
                                  "reactive_proactive", eq[0], eq[1], eq[2]));
}

/* Prints the table; |cases| and |ratios| get the same figures (JSON). */
static void report(const struct opts *o, uint32_t ns[NCASE][MAX_ROUNDS], json_t *cases,
                   json_t *ratios)
{
    static uint32_t v[MAX_ROUNDS];
    printf("%-40s %8s %6s %6s %8s\n", "case", "median", "min", "max", "mean");
    for (int c = 0; c < NCASE; c++) {
        int fn = (c - 1) / 3, m = (c - 1) % 3, fib = c > 0 && c < C_ODCID;
        if (fib && o->fn >= 0 && o->fn != fn)
            continue;
        char name[64];
        if (fib)
            snprintf(name, sizeof(name), "%s %s", FN_NAMES[fn], MODE_NAMES[m]);
        else
            snprintf(name, sizeof(name), "%s", c ? EXTRA_NAMES[c - C_ODCID] : "floor (bare forwarder)");
        memcpy(v, ns[c], o->rounds * sizeof(uint32_t));
        qsort(v, o->rounds, sizeof(uint32_t), cmp_u32);
        printf("%-40s %5u ns %6u %6u %8.1f\n", name, v[o->rounds / 2], v[0], v[o->rounds - 1],
               mean_of(ns[c], o->rounds));
        json_array_append_new(cases, json_pack("{s:s,s:i,s:i,s:i,s:f}", "case", name, "median_ns",
                                               (json_int_t)v[o->rounds / 2], "min_ns",
                                               (json_int_t)v[0], "max_ns",
                                               (json_int_t)v[o->rounds - 1], "mean_ns",
                                               mean_of(ns[c], o->rounds)));
        if (fib && m == 2)
            report_ratios(o, ns, fn, ratios);
        if (c == C_ODCID && (o->fn < 0 || o->fn == QASM_XDP_NAT)) {
            double q[3];
            ratio_quartiles(o, ns, 2, C_ODCID, q); /* nat reactive on the same connection */
            printf("%-40s nat reactive / this %.3f [%.3f-%.3f]: the aware mode's own checks\n", "",
                   q[1], q[0], q[2]);
        }
    }
}

/* ---- setup ---- */

/* The namespace: lo (inside, FIB asked from it), qxb0 (outside) with the server's neighbour. */
static void prepare(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, PROG ": needs root (BPF_PROG_TEST_RUN, a network namespace)\n");
        exit(1);
    }
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, PROG ": unshare(CLONE_NEWNET): %s\n", strerror(errno));
        exit(1);
    }
    if (system("ip link set lo up && ip link add qxb0 type veth peer name qxb1 && "
               "ip link set qxb0 address 02:00:00:00:00:11 && ip link set qxb0 up && "
               "ip link set qxb1 up && ip addr add 10.77.2.1/24 dev qxb0 && "
               "ip neigh replace 10.77.2.2 lladdr 02:00:00:00:00:22 dev qxb0 nud permanent && "
               "sysctl -qw net.ipv4.conf.lo.forwarding=1") != 0) {
        fprintf(stderr, PROG ": cannot set up the namespace's veth pair (ip link)\n");
        exit(1);
    }
    if_out = (int)if_nametoindex("qxb0");
}

static void load(uint32_t n)
{
    if (!getenv("QASM_XDP_VERBOSE"))
        libbpf_set_print(NULL);
    skel = qasm_xdp__open();
    int rc = skel ? 0 : -errno;
    rc = rc ? rc : bpf_map__set_max_entries(skel->maps.entries, n);
    rc = rc ? rc : bpf_map__set_max_entries(skel->maps.slots, n);
    rc = rc ? rc : bpf_map__set_max_entries(skel->maps.flows, 2 * n);
    rc = rc ? rc : bpf_map__set_max_entries(skel->maps.dcids, n);
    rc = rc ? rc : bpf_map__set_max_entries(skel->maps.attested, n);
    rc = rc ? rc : qasm_xdp__load(skel);
    if (rc) {
        fprintf(stderr, PROG ": cannot load the XDP program: %s (QASM_XDP_VERBOSE=1 shows "
                "libbpf's log)\n", strerror(-rc));
        exit(1);
    }
    struct qasm_xdp_fwd fw = {.ifindex = (uint32_t)if_out,
                              .dmac = {2, 0, 0, 0, 0, 0x22},
                              .smac = {2, 0, 0, 0, 0, 0x11}};
    uint32_t zero = 0;
    bpf_map__update_elem(skel->maps.fwd, &zero, 4, &fw, sizeof(fw), 0);
}

/* The program's size: translated and JITed bytes, instructions the verifier processed. */
static void prog_size(struct bpf_program *p)
{
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) != 0)
        return;
    printf("%s: %u BPF instructions, %u bytes JITed, %u instructions verified\n",
           bpf_program__name(p), info.xlated_prog_len / 8, info.jited_prog_len,
           info.verified_insns);
}

static double loadavg(void);

/* kernel.bpf_stats_enabled: on, every run also pays for its own statistics (~40 ns here). */
static int bpf_stats_on(void)
{
    int v = -1;
    FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
    if (f && fscanf(f, "%d", &v) != 1)
        v = -1;
    if (f)
        fclose(f);
    return v;
}

/* --json FILE: the run's parameters, every case's figures and the ratios; 0, or 1 (said). */
static int write_json(const struct opts *o, uint32_t n, double load0, json_t *cases,
                      json_t *ratios)
{
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:i,s:f,s:f,s:i,s:o,s:o}", "connections", (json_int_t)n,
                          "repeat", (json_int_t)o->repeat, "rounds", (json_int_t)o->rounds,
                          "payload", (json_int_t)o->payload, "cpus", libbpf_num_possible_cpus(),
                          "load_start", load0, "load_end", loadavg(), "bpf_stats_enabled",
                          bpf_stats_on(), "cases", cases, "ratios",
                          ratios);
    int rc = 0;
    if (o->json && (j == NULL || json_dump_file(j, o->json, JSON_INDENT(2)) != 0)) {
        fprintf(stderr, PROG ": --json: cannot write %s\n", o->json);
        rc = 1;
    }
    json_decref(j);
    return rc;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1)
        l = -1;
    if (f)
        fclose(f);
    return l;
}

int main(int argc, char **argv)
{
    qasm_cli_front(PROG, argc, argv);
    struct opts o;
    parse(&o, argc, argv);
    prepare();
    uint32_t n = (uint32_t)o.conns, m0 = n / 2 & ~1u, m1 = m0 + 1;
    measured_conn = m1;
    load(n);
    fill(n, m0, m1);
    struct frame fr[2] = {conn_frame(m0, o.payload), conn_frame(m1, o.payload)};
    static uint32_t ns[NCASE][MAX_ROUNDS];
    printf("%s: %u connections in the maps (%u flows), BPF_PROG_TEST_RUN x %" PRIu64
           " per case and round, %" PRIu64 "-byte payload, %" PRIu64 " rounds, %d CPUs, "
           "load %.2f at start\n", PROG, n, 2 * n, o.repeat, o.payload, o.rounds,
           libbpf_num_possible_cpus(), loadavg());
    prog_size(skel->progs.qasm_xdp);
    prog_size(skel->progs.qasm_xdp_fwd);
    if (bpf_stats_on() == 1)
        printf("kernel.bpf_stats_enabled is 1: every run also pays for its own statistics\n");
    double load0 = loadavg();
    measure(&o, fr, ns);
    json_t *cases = json_array(), *ratios = json_object();
    report(&o, ns, cases, ratios);
    printf("load %.2f at end; ns per packet: the kernel's mean time per run (next-hop cache "
           "and bpf_redirect included)\n", loadavg());
    int rc = write_json(&o, n, load0, cases, ratios);
    qasm_xdp__destroy(skel);
    return rc;
}
