/*
 * qasm-mbox-bench: per-packet cost of the middlebox cores, without I/O.
 *
 * For each function (nat, ratelimit, lb) and mode (default, reactive,
 * proactive) in the same run, the bench fills one core with N tracked
 * QUIC connections (client Initial, then a first 1-RTT packet), then
 * measures three paths of the paper's fig9:
 *   new     a connection's first packet creates its entry (the Initial);
 *   lookup  steady state: short-header packets of random connections;
 *   update  a connection migrates (new address, new DCID): default mode
 *           makes a new entry; reactive holds the packet, asks the tracker
 *           (answered at once in-process: the network round trip is not
 *           counted) and joins; proactive had the push first and joins.
 * and prints ns per packet, packets/s, instructions per packet (when the
 * kernel lets us count them) and each aware mode's ratio to default.
 * The NAT is limited by its port pool (one port per mapping, 64512 ports),
 * so it runs with at most 30000 connections.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "hash.h"
#include "mbox.h"
#include "mbox_bench_opts.h"
#include "parse.h"

#define CID_LEN 8
#define SHORT_LEN 64
#define NAT_MAX_CONNS QASM_MBENCH_NAT_MAX_CONNS

struct conn {
    uint8_t pkt[SHORT_LEN];  /* 1-RTT packet on the first address */
    struct qasm_addr client, client2;
    uint8_t pkt2[SHORT_LEN]; /* 1-RTT packet after migrating */
    struct qasm_cid odcid, dcid, dcid2;
};

struct result {
    double ns[3];     /* new, lookup (batches), update */
    double ns1;       /* lookup one packet per call */
    double instr[3];  /* per packet, < 0 if unknown */
    uint64_t paths[QASM_MBOX_PATH_MAX];
    size_t mem_conns;
    double bytes_per_conn; /* heap held by the core per connection after the lookups */
};

static int perf_fd = -1;

/* CPU time of this thread: the machine is shared, so wall time would count
 * other processes' slices. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void perf_open(void)
{
    struct perf_event_attr pe;
    memset(&pe, 0, sizeof(pe));
    pe.type = PERF_TYPE_HARDWARE;
    pe.size = sizeof(pe);
    pe.config = PERF_COUNT_HW_INSTRUCTIONS;
    pe.disabled = 1;
    pe.exclude_kernel = 1;
    pe.exclude_hv = 1;
    perf_fd = (int)syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
}

static void perf_start(void)
{
    if (perf_fd >= 0) {
        ioctl(perf_fd, PERF_EVENT_IOC_RESET, 0);
        ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0);
    }
}

static double perf_stop(uint64_t n)
{
    if (perf_fd < 0 || n == 0)
        return -1;
    ioctl(perf_fd, PERF_EVENT_IOC_DISABLE, 0);
    uint64_t count = 0;
    if (read(perf_fd, &count, sizeof(count)) != sizeof(count))
        return -1;
    return (double)count / (double)n;
}

static void make_cid(struct qasm_cid *c, uint64_t x)
{
    uint64_t h = qasm_hash_mix(x + 0x9e3779b97f4a7c15ULL);
    c->len = CID_LEN;
    memcpy(c->data, &h, CID_LEN);
}

static void make_short(uint8_t *p, const struct qasm_cid *dcid)
{
    p[0] = 0x41;
    memcpy(p + 1, dcid->data, dcid->len);
    memset(p + 1 + dcid->len, 0x77, SHORT_LEN - 1 - dcid->len);
}

static void make_addr(struct qasm_addr *a, uint32_t i, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->family = AF_INET;
    a->ip[0] = 10;
    a->ip[1] = (uint8_t)(i >> 16);
    a->ip[2] = (uint8_t)(i >> 8);
    a->ip[3] = (uint8_t)i;
    a->port = port;
}

/* A client Initial (1200 bytes) with |dcid|, written into |buf|. */
static size_t make_initial(uint8_t *buf, const struct qasm_cid *dcid)
{
    size_t off = 0;
    buf[off++] = 0xc3;
    buf[off++] = 0;
    buf[off++] = 0;
    buf[off++] = 0;
    buf[off++] = 1;
    buf[off++] = dcid->len;
    memcpy(buf + off, dcid->data, dcid->len);
    off += dcid->len;
    buf[off++] = CID_LEN; /* client SCID */
    memset(buf + off, 0xcc, CID_LEN);
    off += CID_LEN;
    buf[off++] = 0; /* token */
    size_t rest = 1200 - off - 2;
    buf[off++] = (uint8_t)(0x40 | (rest >> 8));
    buf[off++] = (uint8_t)rest;
    memset(buf + off, 0, rest);
    return off + rest;
}

static struct qasm_addr server, backends[4];

/* Heap in use, small chunks and mmapped ones (the big tables). */
static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/*
 * The steady-state loop (its own function, so that `valgrind --tool=callgrind
 * --toggle-collect=bench_lookup` counts its instructions alone). The
 * connection of a packet a few packets ahead is prefetched: a real shell
 * hands the core a datagram it has just received, hot in the cache.
 */
__attribute__((noinline)) static qasm_tstamp
bench_lookup(struct qasm_mbox *m, struct qasm_mbox_pkt *pk, const struct conn *conns,
             const uint32_t *order, size_t npackets, qasm_tstamp now, struct result *res)
{
    struct qasm_mbox_verdict v;
    for (size_t i = 0; i < npackets; i++) {
        if (i + 8 < npackets) {
            __builtin_prefetch(&conns[order[i + 8]]);
            __builtin_prefetch((const char *)&conns[order[i + 8]] + 64);
        }
        const struct conn *c = &conns[order[i]];
        pk->flow.src = c->client;
        pk->data = c->pkt;
        qasm_mbox_process(m, pk, now, &v);
        res->paths[v.path]++;
        now += 100;
    }
    return now;
}

/* The same in batches of BATCH packets, as the relay gets them from recvmmsg. */
#define BATCH 32
__attribute__((noinline)) static qasm_tstamp
bench_lookup_batch(struct qasm_mbox *m, const struct qasm_mbox_pkt *tmpl, const struct conn *conns,
                   const uint32_t *order, size_t npackets, qasm_tstamp now, struct result *res)
{
    struct qasm_mbox_pkt pk[BATCH];
    struct qasm_mbox_verdict v[BATCH];
    for (int j = 0; j < BATCH; j++)
        pk[j] = *tmpl;
    for (size_t i = 0; i < npackets; i += BATCH) {
        size_t n = npackets - i < BATCH ? npackets - i : BATCH;
        for (size_t j = 0; j < n; j++) {
            const struct conn *c = &conns[order[i + j]];
            pk[j].flow.src = c->client;
            pk[j].data = c->pkt;
        }
        if (i + 2 * BATCH <= npackets)
            for (size_t j = 0; j < BATCH; j++) /* the next batch "arrives" into the cache */
                __builtin_prefetch(&conns[order[i + BATCH + j]]);
        qasm_mbox_process_batch(m, pk, n, now, v);
        for (size_t j = 0; j < n; j++)
            res->paths[v[j].path]++;
        now += 100 * n;
    }
    return now;
}

static void drain(struct qasm_mbox *m)
{
    struct qasm_mbox_event ev;
    struct qasm_mbox_req r;
    while (qasm_mbox_next_event(m, &ev))
        ;
    while (qasm_mbox_next_request(m, &r))
        ;
}

/* new: each connection's client Initial (only its DCID patched in a template). */
__attribute__((noinline)) static qasm_tstamp bench_new(struct qasm_mbox *m,
                                                       struct qasm_mbox_pkt *pk,
                                                       const struct conn *conns, size_t nconns,
                                                       qasm_tstamp now, struct result *res)
{
    static uint8_t init[1200];
    struct qasm_mbox_verdict v;
    size_t len = make_initial(init, &conns[0].odcid);
    pk->dir = QASM_MBOX_FROM_CLIENT;
    pk->data = init;
    pk->len = len;
    for (size_t i = 0; i < nconns; i++) {
        const struct conn *c = &conns[i];
        memcpy(init + 6, c->odcid.data, CID_LEN);
        pk->flow.src = c->client;
        qasm_mbox_process(m, pk, now, &v);
        res->paths[v.path]++;
        now += 100;
        if ((i & 255) == 0)
            drain(m);
    }
    return now;
}

/* What the tracker knows of a connection after its migration: both DCIDs and both
 * client addresses, as its agent reported them. */
struct mig_record {
    struct qasm_mbox_record rec;
    struct qasm_cid dcids[2];
    struct qasm_addr clients[2];
};

static void mig_record_init(struct mig_record *r)
{
    memset(r, 0, sizeof(*r));
    r->rec.server = server;
    r->rec.dcid_len = CID_LEN;
    r->rec.dcids = r->dcids;
    r->rec.ndcids = 2;
    r->rec.clients = r->clients;
    r->rec.nclients = 2;
}

static inline const struct qasm_mbox_record *mig_record_of(struct mig_record *r,
                                                           const struct conn *c)
{
    r->rec.odcid = c->odcid;
    r->dcids[0] = c->dcid;
    r->dcids[1] = c->dcid2;
    r->clients[0] = c->client;
    r->clients[1] = c->client2;
    return &r->rec;
}

/* update: the first |nmig| connections of |order| migrate (new address, new DCID); a
 * query is answered at once, in-process, from what the agent would have reported. */
__attribute__((noinline)) static qasm_tstamp
bench_update(struct qasm_mbox *m, struct qasm_mbox_pkt *pk, const struct conn *conns,
             const uint32_t *order, size_t nmig, qasm_tstamp now, struct result *res)
{
    struct qasm_mbox_verdict v;
    struct mig_record mr;
    mig_record_init(&mr);
    for (size_t i = 0; i < nmig; i++) {
        const struct conn *c = &conns[order[i]];
        pk->flow.src = c->client2;
        pk->data = c->pkt2;
        pk->len = SHORT_LEN;
        pk->opaque = (void *)c;
        if (qasm_mbox_process(m, pk, now, &v) == QASM_MBOX_HOLD) {
            struct qasm_mbox_req r;
            while (qasm_mbox_next_request(m, &r))
                if (r.type == QASM_MBOX_REQ_QUERY)
                    qasm_mbox_answer(m, r.id, mig_record_of(&mr, c), now);
            while (qasm_mbox_next_release(m, &v))
                res->paths[v.path]++;
        } else {
            res->paths[v.path]++;
        }
        now += 100;
    }
    return now;
}

/* The server's CID length, from one server Handshake (the core learns it). */
static void teach_cid_len(struct qasm_mbox *m, const struct qasm_mbox_pkt *pk, qasm_tstamp now)
{
    static uint8_t init[1200];
    struct qasm_mbox_verdict v;
    struct qasm_cid scid;
    make_cid(&scid, 424242);
    size_t off = 0;
    init[off++] = 0xe3; /* Handshake */
    init[off++] = 0;
    init[off++] = 0;
    init[off++] = 0;
    init[off++] = 1;
    init[off++] = CID_LEN;
    memset(init + off, 0xcc, CID_LEN);
    off += CID_LEN;
    init[off++] = CID_LEN;
    memcpy(init + off, scid.data, CID_LEN);
    off += CID_LEN;
    init[off++] = 0x40;
    init[off++] = 40;
    memset(init + off, 0, 40);
    struct qasm_mbox_pkt sp = *pk;
    sp.dir = QASM_MBOX_FROM_SERVER;
    sp.flow.src = server;
    make_addr(&sp.flow.dst, 0xffffff, 1);
    sp.data = init;
    sp.len = off + 40;
    qasm_mbox_process(m, &sp, now, &v);
    drain(m);
}

static int run(enum qasm_mbox_function fn, enum qasm_mbox_mode mode, struct conn *conns,
               size_t nconns, const uint32_t *order, size_t npackets, size_t nmig,
               struct result *res)
{
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, fn, mode);
    cfg.nat_port_min = 1024;
    cfg.nat_port_max = 65535;
    cfg.rl_rate = 1e9;
    cfg.rl_burst = 1e9;
    cfg.lb_backends = backends;
    cfg.lb_nbackends = 4;
    cfg.expected_flows = nconns * 2;
    cfg.max_requests = nmig + 16;
    cfg.hold_max = nmig + 16;
    /* Its own bound, not the default 65536: every connection and every default-mode
     * migration (a new entry) fits, so nothing is evicted or refused. */
    cfg.max_entries = 2 * nconns + nmig + 16;
    cfg.seed = 0x1234567;
    struct qasm_mbox *m;
    size_t heap0 = heap_bytes();
    int rv = qasm_mbox_new(&m, &cfg);
    if (rv < 0)
        return rv;
    memset(res, 0, sizeof(*res));
    qasm_tstamp now = QASM_SEC;
    struct qasm_mbox_verdict v;
    struct qasm_mbox_pkt pk;
    memset(&pk, 0, sizeof(pk));
    pk.flow.proto = 17;
    pk.flow.dst = server;

    teach_cid_len(m, &pk, now);

    /* new: every connection's Initial. */
    uint64_t t0 = cpu_ns();
    perf_start();
    now = bench_new(m, &pk, conns, nconns, now, res);
    res->instr[0] = perf_stop(nconns);
    res->ns[0] = (double)(cpu_ns() - t0) / (double)nconns;
    drain(m);
    /* first 1-RTT packet of each (binds the server-chosen DCID), not timed */
    for (size_t i = 0; i < nconns; i++) {
        pk.flow.src = conns[i].client;
        pk.data = conns[i].pkt;
        pk.len = SHORT_LEN;
        qasm_mbox_process(m, &pk, now, &v);
        now += 100;
    }

    /* lookup: steady state over random connections, one by one then in batches. */
    t0 = cpu_ns();
    now = bench_lookup(m, &pk, conns, order, npackets, now, res);
    res->ns1 = (double)(cpu_ns() - t0) / (double)npackets;
    t0 = cpu_ns();
    perf_start();
    now = bench_lookup_batch(m, &pk, conns, order, npackets, now, res);
    res->instr[1] = perf_stop(npackets);
    res->ns[1] = (double)(cpu_ns() - t0) / (double)npackets;

    res->bytes_per_conn = (double)(heap_bytes() - heap0) / (double)nconns;

    /* update: nmig connections migrate. */
    struct mig_record mr;
    mig_record_init(&mr);
    if (mode == QASM_MBOX_PROACTIVE) /* the pushes come before the packets (not timed) */
        for (size_t i = 0; i < nmig; i++)
            qasm_mbox_push(m, mig_record_of(&mr, &conns[order[i]]), now);
    drain(m);
    t0 = cpu_ns();
    perf_start();
    size_t done = nmig;
    now = bench_update(m, &pk, conns, order, nmig, now, res);
    res->instr[2] = perf_stop(done);
    res->ns[2] = done ? (double)(cpu_ns() - t0) / (double)done : 0;
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(m, &st);
    res->mem_conns = (size_t)st.mappings;
    /* sanity: the paths taken are the ones measured */
    uint64_t want_new = nconns + (mode == QASM_MBOX_DEFAULT ? nmig : 0);
    uint64_t want_update = mode == QASM_MBOX_DEFAULT ? 0 : nmig;
    if (res->paths[QASM_MBOX_PATH_NEW] != want_new ||
        res->paths[QASM_MBOX_PATH_UPDATE] != want_update ||
        st.packets_dropped != (fn == QASM_MBOX_NAT)) /* the NAT drops the CID-length lesson */
        fprintf(stderr, "qasm-mbox-bench: %s %s: unexpected paths new=%llu update=%llu "
                        "dropped=%llu\n", qasm_mbox_function_name(fn), qasm_mbox_mode_name(mode),
                (unsigned long long)res->paths[QASM_MBOX_PATH_NEW],
                (unsigned long long)res->paths[QASM_MBOX_PATH_UPDATE],
                (unsigned long long)st.packets_dropped);
    qasm_mbox_del(m);
    return 0;
}



/* One function's connections and packet order, then each mode's run and its row. 0, or -1
 * (said) when a core cannot be set up. */
static int bench_function(const struct qasm_mbench_opts *o, int fn, struct conn *conns,
                          uint32_t *order)
{
    size_t nconns = o->nconns, npackets = o->npackets;
    size_t n = fn == QASM_MBOX_NAT && nconns > NAT_MAX_CONNS ? NAT_MAX_CONNS : nconns;
    size_t mig = o->nmig < n ? o->nmig : n;
    for (size_t i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        make_addr(&c->client, (uint32_t)i, 4433);
        make_addr(&c->client2, (uint32_t)i, 4434);
        make_cid(&c->odcid, i * 3);
        make_cid(&c->dcid, i * 3 + 1);
        make_cid(&c->dcid2, i * 3 + 2);
        make_short(c->pkt, &c->dcid);
        make_short(c->pkt2, &c->dcid2);
    }
    /* random connection order; the first |mig| entries are distinct (a permutation prefix) */
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < npackets; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order[i] = (uint32_t)(i < n ? i : x % n);
    }
    for (size_t i = 0; i < (npackets < n ? npackets : n); i++) { /* shuffle the prefix */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t j = i + x % ((npackets < n ? npackets : n) - i);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    if (mig > npackets)
        mig = npackets;
    struct result r[3];
    for (int mode = 0; mode < 3; mode++) {
        if (!o->modes[mode])
            continue;
        int rv = run((enum qasm_mbox_function)fn, (enum qasm_mbox_mode)mode, conns, n, order,
                     npackets, mig, &r[mode]);
        if (rv < 0) {
            fprintf(stderr, "qasm-mbox-bench: core setup failed (%d)\n", rv);
            return 1;
        }
        const struct result *d = o->modes[0] ? &r[0] : &r[mode];
        printf("%-9s %-9s %8.1f %9.1f %9.1f %9.1f %7.2f %9.0f %9.0f %8.3f %9.3f %7.0f\n",
               qasm_mbox_function_name((enum qasm_mbox_function)fn),
               qasm_mbox_mode_name((enum qasm_mbox_mode)mode), r[mode].ns[0], r[mode].ns1,
               r[mode].ns[1], r[mode].ns[2], 1e3 / r[mode].ns[1], r[mode].instr[1],
               r[mode].instr[2],
               r[mode].instr[1] > 0 && d->instr[1] > 0 ? r[mode].instr[1] / d->instr[1]
                                                       : r[mode].ns[1] / d->ns[1],
               r[mode].instr[2] > 0 && d->instr[2] > 0 ? r[mode].instr[2] / d->instr[2]
                                                       : r[mode].ns[2] / d->ns[2],
               r[mode].bytes_per_conn);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct qasm_mbench_opts o;
    char err[512], usage[2048];
    qasm_cli_front("qasm-mbox-bench", argc, argv);
    int rv = qasm_mbench_opts_parse(argc, argv, &o, err, sizeof(err));
    qasm_mbench_usage(usage, sizeof(usage));
    if (rv == QASM_MBENCH_HELP) {
        fputs(usage, stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit("qasm-mbox-bench", err);
    qasm_addr_parse(&server, "192.0.2.1:443");
    for (int i = 0; i < 4; i++) {
        char s[32];
        snprintf(s, sizeof(s), "10.255.0.%d:4433", i + 1);
        qasm_addr_parse(&backends[i], s);
    }
    struct conn *conns = calloc(o.nconns, sizeof(*conns));
    uint32_t *order = malloc(o.npackets * sizeof(*order));
    if (conns == NULL || order == NULL) {
        fprintf(stderr, "qasm-mbox-bench: out of memory\n");
        return 1;
    }
    perf_open();
    printf("# qasm-mbox-bench: %zu connections (NAT: %zu), %zu lookups, %zu migrations per mode\n",
           o.nconns, o.nconns < NAT_MAX_CONNS ? o.nconns : (size_t)NAT_MAX_CONNS, o.npackets,
           o.nmig);
    printf("# instructions per packet: %s\n", perf_fd >= 0 ? "counted (perf_event_open)" :
                                                             "not available here");
    printf("%-9s %-9s %8s %9s %9s %9s %7s %9s %9s %8s %9s %7s\n", "function", "mode", "new_ns",
           "lookup1_ns", "lookup_ns", "update_ns", "Mpps", "instr_lk", "instr_upd", "ratio_lk",
           "ratio_upd", "B/conn");
    for (int fn = 0; fn < 3; fn++)
        if (o.fns[fn] && bench_function(&o, fn, conns, order) < 0)
            return 1;
    free(conns);
    free(order);
    return 0;
}
