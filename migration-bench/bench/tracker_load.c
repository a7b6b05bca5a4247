/*
 * tracker_load.c: the tracker benchmark (tracker_load.h), run by
 * `qasm-bench tracker` (exp_tracker.c) and by qasm-tracker-bench.
 * It starts qasm-tracker on a free loopback port and measures:
 *   - updates/s: agent reports over UDP (OPEN + DCID_NEW per connection),
 *     flow-controlled so the socket buffer does not overflow;
 *   - bytes per connection after loading N connections (the store's own
 *     accounting, and the tracker's RSS growth);
 *   - queries/s and p50/p99 latency with 1, 16 and 64 queries in flight
 *     on one TCP session;
 *   - report-to-push latency at a subscriber.
 * Then it starts Debian's redis-server on another free loopback port and
 * runs redis-benchmark (SET/GET, one connection, pipeline 1/16/64), plus
 * DEBUG POPULATE for bytes per key, and prints both side by side with the
 * ratio. Processes and ports are the bench's (proc.h): every child is
 * stopped at the end and on every exit path.
 */
#include "tracker_load.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "cid.h"
#include "cli.h"
#include "clock.h"
#include "hist.h"
#include "parse.h"
#include "proto.h"
#include "proc.h"

struct results {
    double updates_per_s;
    long updates_sent, updates_received;
    double tcp_updates_per_s[3];
    double bytes_per_dcid;
    double tracker_cpu_us_per_update; /* tracker's own CPU (user+sys) per UDP update */
    double store_bytes_per_conn, rss_bytes_per_conn;
    long conns_loaded;
    double qps[3], p50_us[3], p99_us[3];
    double push_p50_us, push_p99_us;
    long push_lost;
    /* redis */
    int have_redis;
    double set_rps[3], get_rps[3], get_p50_us[3], get_p99_us[3];
    double redis_bytes_per_key;
    double rset[3][9], rget[3][9], rget50[3][9], rget99[3][9]; /* per round */
    /* Server CPU (user+sys) per operation, µs: [0] tracker, [1] redis; per depth. */
    double cpu_update[2][3], cpu_query[2][3];
};

static const int depths[3] = { 1, 16, 64 };
static struct bench_proc tracker_proc, redis_proc;

/* A broken session or an encoding failure ends the benchmark (its children are stopped at exit). */
static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "qasm-tracker-bench: ");
    fprintf(stderr, "%s%s\n", fmt, arg ? arg : "");
    exit(1);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write to tracker failed", NULL);
        }
        p += w;
        n -= (size_t)w;
    }
}

/* ---- a small framed reader over a blocking TCP socket ------------------- */

struct reader {
    int fd;
    uint8_t buf[1 << 16];
    size_t len, off;
};

/* Opens a TCP session to the tracker on |port| (or dies) and points |r| at it; returns the fd. */
static int session_open(int port, struct reader *r)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        die("connect to tracker", NULL);
    r->fd = fd;
    r->len = r->off = 0;
    return fd;
}

/* Next message into |m|; timeout_ms < 0 waits forever. Returns 0, or -1 on timeout. */
static int read_msg(struct reader *r, struct qasm_proto_msg *m, int timeout_ms)
{
    for (;;) {
        ssize_t n = qasm_proto_frame(r->buf + r->off, r->len - r->off);
        if (n < 0)
            die("bad frame from tracker", NULL);
        if (n > 0) {
            if (qasm_proto_decode(m, r->buf + r->off, (size_t)n) < 0)
                die("undecodable message from tracker", NULL);
            r->off += (size_t)n;
            return 0;
        }
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
        if (timeout_ms >= 0) {
            struct pollfd p = { r->fd, POLLIN, 0 };
            if (poll(&p, 1, timeout_ms) == 0)
                return -1;
        }
        ssize_t got = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
        if (got <= 0)
            die("tracker closed the session", NULL);
        r->len += (size_t)got;
    }
}

static uint64_t get_stat(struct reader *r, const char *name)
{
    uint8_t buf[64];
    struct qasm_proto_msg m;
    qasm_proto_msg_init(&m, QASM_PROTO_STATS, 0xffffffff);
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    write_all(r->fd, buf, (size_t)n);
    do
        read_msg(r, &m, -1);
    while (m.hdr.type != QASM_PROTO_STATS_REPLY);
    for (unsigned i = 0; i < m.u.stats.n; i++)
        if (strcmp(m.u.stats.s[i].name, name) == 0)
            return m.u.stats.s[i].value;
    die("missing stat ", name);
    return 0;
}

/* CPU time (user + system) of |pid| in microseconds, from /proc/PID/stat. */
static double cpu_us(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* After "pid (comm)": state, then fields 4..13, utime is field 14, stime 15. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static long rss_bytes(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

/* ---- synthetic connections ------------------------------------------------ */

static void conn_ids(long i, struct qasm_cid *odcid, struct qasm_cid *dcid, struct qasm_addr *client)
{
    odcid->len = 8;
    qasm_put64(odcid->data, 0x0d00000000000000ULL | (uint64_t)i);
    dcid->len = 8;
    qasm_put64(dcid->data, 0xdc00000000000000ULL | (uint64_t)i * 2654435761ULL % 0xffffffffffffULL);
    memset(client, 0, sizeof(*client));
    client->family = AF_INET;
    client->ip[0] = 10;
    client->ip[1] = (uint8_t)(i >> 16);
    client->ip[2] = (uint8_t)(i >> 8);
    client->ip[3] = (uint8_t)i;
    client->port = (uint16_t)(1024 + (i >> 24));
}

/*
 * Signs report |m| as its connection's agent would (docs/PROTOCOL.md,
 * "Authentication"), with a secret derived from the O-DCID: the benchmark
 * needs no randomness, and the MAC costs the tracker what it costs in use.
 */
static void bench_sign(struct qasm_proto_msg *m)
{
    uint8_t secret[QASM_PROTO_SECRET_LEN];
    const struct qasm_cid *o = &m->u.report.odcid;
    memset(secret, 0x5e, sizeof(secret));
    memcpy(secret, o->data, o->len < sizeof(secret) ? o->len : sizeof(secret));
    if (qasm_proto_report_sign(m->hdr.type, &m->u.report, secret) < 0)
        die("sign report", NULL);
}

static size_t encode_report(uint8_t *buf, long i, int dcid_new, uint32_t seq)
{
    struct qasm_proto_msg m;
    struct qasm_cid dcid;
    qasm_proto_msg_init(&m, dcid_new ? QASM_PROTO_REPORT_DCID_NEW : QASM_PROTO_REPORT_OPEN, 0);
    conn_ids(i, &m.u.report.odcid, &dcid, &m.u.report.client0);
    m.u.report.client = m.u.report.client0;
    m.u.report.seq = seq;
    qasm_addr_parse(&m.u.report.server, "192.0.2.1:443");
    if (dcid_new) {
        m.u.report.dcid.cid = dcid;
        m.u.report.dcid.seq = 0;
    } else {
        m.u.report.scid.len = 8;
        qasm_put64(m.u.report.scid.data, (uint64_t)i);
    }
    bench_sign(&m);
    ssize_t n = qasm_proto_encode(buf, QASM_PROTO_MAX_MSG, &m);
    if (n < 0)
        die("encode report", NULL);
    return (size_t)n;
}

/* ---- phases --------------------------------------------------------------- */

static void phase_updates(const struct tracker_load_cfg *c, int port, struct reader *ctl, struct results *res)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (u < 0 || connect(u, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("udp socket", NULL);
    enum { BATCH = 64, WINDOW = 3000 };
    static uint8_t bufs[BATCH][256];
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    long total = 2 * c->conns, sent = 0;
    uint64_t base = get_stat(ctl, "udp_datagrams");
    long rss0 = rss_bytes(tracker_proc.pid);
    double cpu0 = cpu_us(tracker_proc.pid);
    qasm_tstamp t0 = qasm_now();
    uint64_t received = 0;
    while (sent < total) {
        int n = 0;
        while (n < BATCH && sent + n < total) {
            long k = sent + n;
            /* OPEN for every connection, then DCID_NEW for every connection. */
            long i = k < c->conns ? k : k - c->conns;
            iov[n].iov_base = bufs[n];
            iov[n].iov_len = encode_report(bufs[n], i, k >= c->conns, k < c->conns ? 1 : 2);
            memset(&mm[n], 0, sizeof(mm[n]));
            mm[n].msg_hdr.msg_iov = &iov[n];
            mm[n].msg_hdr.msg_iovlen = 1;
            n++;
        }
        int s = sendmmsg(u, mm, (unsigned)n, 0);
        if (s <= 0)
            die("sendmmsg failed", NULL);
        sent += s;
        /* Flow control: keep at most WINDOW datagrams unread by the tracker. */
        if (sent % 1024 < (long)s || sent == total) {
            for (;;) {
                received = get_stat(ctl, "udp_datagrams") - base;
                if ((long)received + WINDOW >= sent)
                    break;
                struct timespec ts = { 0, 100000 };
                nanosleep(&ts, NULL);
            }
        }
    }
    /* Wait for the tail (or give up after 2 s without progress: losses). */
    qasm_tstamp last_progress = qasm_now();
    uint64_t prev = received;
    while ((long)received < sent && qasm_now() - last_progress < 2 * QASM_SEC) {
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
        received = get_stat(ctl, "udp_datagrams") - base;
        if (received != prev) {
            prev = received;
            last_progress = qasm_now();
        }
    }
    qasm_tstamp t1 = (long)received < sent ? last_progress : qasm_now();
    if ((long)received > 0)
        res->tracker_cpu_us_per_update = (cpu_us(tracker_proc.pid) - cpu0) / (double)received;
    res->updates_sent = sent;
    res->updates_received = (long)received;
    res->updates_per_s = (double)received / ((double)(t1 - t0) / 1e9);
    long conns = (long)get_stat(ctl, "conns");
    res->conns_loaded = conns;
    res->store_bytes_per_conn = conns ? (double)get_stat(ctl, "mem_bytes") / (double)conns : 0;
    long rss1 = rss_bytes(tracker_proc.pid);
    res->rss_bytes_per_conn = conns ? (double)(rss1 - rss0) / (double)conns : 0;
    close(u);
}

/*
 * Updates over a TCP session (reports are accepted there too), |depth|
 * reports per write followed by one small QUERY whose reply marks the batch
 * as applied: each report adds a new DCID to an existing connection (a real
 * change). Returns updates per second.
 */
static double phase_tcp_updates(const struct tracker_load_cfg *c, int port, int depth, long *count)
{
    static uint32_t round;
    static struct reader r;
    int fd = session_open(port, &r);
    long total = c->conns < c->queries ? c->conns : c->queries;
    if (depth == 1)
        total /= 4; /* one round trip each: keep the run short */
    static uint8_t wbuf[65 * 128];
    round++;
    qasm_tstamp t0 = qasm_now();
    for (long k = 0; k < total;) {
        size_t wl = 0;
        for (int j = 0; j < depth && k < total; j++, k++) {
            struct qasm_proto_msg m;
            struct qasm_cid d0;
            qasm_proto_msg_init(&m, QASM_PROTO_REPORT_DCID_NEW, 0);
            conn_ids(k, &m.u.report.odcid, &d0, &m.u.report.client0);
            m.u.report.client = m.u.report.client0;
            m.u.report.seq = 100 + round;
            m.u.report.dcid.cid.len = 8;
            qasm_put64(m.u.report.dcid.cid.data,
                       0xe000000000000000ULL | (uint64_t)round << 40 | (uint64_t)k);
            m.u.report.dcid.seq = round;
            bench_sign(&m);
            ssize_t n = qasm_proto_encode(wbuf + wl, sizeof(wbuf) - wl, &m);
            if (n < 0)
                die("encode report", NULL);
            wl += (size_t)n;
        }
        /* Then one small QUERY whose reply says the batch was applied (reports have
         * no reply): one round trip per |depth| updates, as redis-benchmark -P waits
         * for its |depth| replies. */
        struct qasm_cid none = { 1, { 0 } };
        ssize_t n = qasm_proto_encode_query(wbuf + wl, sizeof(wbuf) - wl, 1, &none, NULL, 0);
        if (n < 0)
            die("encode query", NULL);
        wl += (size_t)n;
        write_all(fd, wbuf, wl);
        struct qasm_proto_msg m;
        read_msg(&r, &m, -1);
    }
    qasm_tstamp t1 = qasm_now();
    close(fd);
    *count = total;
    return (double)total / ((double)(t1 - t0) / 1e9);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double t[16];
    for (int i = 0; i < n; i++)
        t[i] = v[i];
    qsort(t, (size_t)n, sizeof(t[0]), cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile |p| (0..1) of the sorted ns latencies, in us. */
static double pct(const uint64_t *v, long n, double p)
{
    return (double)qasm_hist_sorted_pct(v, (size_t)n, p) / 1e3;
}

static void phase_queries(const struct tracker_load_cfg *c, int port, int depth, double *qps, double *p50,
                          double *p99)
{
    static uint64_t *lat;
    enum { RING = 1024 };
    qasm_tstamp sent_at[RING];
    if (!lat)
        lat = malloc((size_t)c->queries * sizeof(*lat));
    if (!lat)
        die("out of memory", NULL);
    static struct reader r;
    int fd = session_open(port, &r);
    long sent = 0, done = 0, notfound = 0;
    static uint64_t x = 88172645463325252ULL;
    uint8_t wbuf[64 * 64];
    qasm_tstamp t0 = qasm_now();
    /* Like redis-benchmark -P: send |depth| queries in one write, wait for all replies. */
    while (done < c->queries) {
        size_t wl = 0;
        while (sent - done < depth && sent < c->queries) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            long i = (long)(x % (uint64_t)c->conns);
            struct qasm_cid odcid, dcid;
            struct qasm_addr cl;
            conn_ids(i, &odcid, &dcid, &cl);
            ssize_t n = qasm_proto_encode_query(wbuf + wl, sizeof(wbuf) - wl, (uint32_t)sent,
                                                &dcid, NULL, 0);
            if (n < 0)
                die("encode query", NULL);
            wl += (size_t)n;
            sent_at[sent % RING] = qasm_now();
            sent++;
        }
        if (wl)
            write_all(fd, wbuf, wl);
        while (done < sent) {
            struct qasm_proto_msg m;
            read_msg(&r, &m, -1);
            if (m.hdr.type != QASM_PROTO_RECORD)
                notfound++;
            lat[done++] = qasm_now() - sent_at[m.hdr.req_id % RING];
        }
    }
    qasm_tstamp t1 = qasm_now();
    close(fd);
    if (notfound)
        fprintf(stderr, "qasm-tracker-bench: warning: %ld queries not found at depth %d\n",
                notfound, depth);
    *qps = (double)done / ((double)(t1 - t0) / 1e9);
    qsort(lat, (size_t)done, sizeof(*lat), cmp_u64);
    *p50 = pct(lat, done, 0.50);
    *p99 = pct(lat, done, 0.99);
}

static void phase_push(const struct tracker_load_cfg *c, int port, struct results *res)
{
    enum { K = 256 };
    static struct reader r;
    int fd = session_open(port, &r);
    uint8_t buf[QASM_PROTO_MAX_MSG];
    struct qasm_proto_msg m;
    long k = c->conns < K ? c->conns : K;
    for (long i = 0; i < k; i++) {
        struct qasm_cid dcid;
        struct qasm_addr cl;
        qasm_proto_msg_init(&m, QASM_PROTO_SUBSCRIBE, (uint32_t)i);
        conn_ids(i, &m.u.sub.cid, &dcid, &cl);
        ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
        write_all(fd, buf, (size_t)n);
    }
    for (long i = 0; i < k; i++)
        read_msg(&r, &m, -1);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    connect(u, (struct sockaddr *)&sa, sizeof(sa));
    uint64_t *lat = malloc((size_t)c->push_samples * sizeof(*lat));
    long n_ok = 0, lost = 0;
    for (long j = 0; j < c->push_samples; j++) {
        long i = j % k;
        struct qasm_proto_msg rep;
        struct qasm_cid d0;
        qasm_proto_msg_init(&rep, QASM_PROTO_REPORT_DCID_NEW, 0);
        conn_ids(i, &rep.u.report.odcid, &d0, &rep.u.report.client0);
        rep.u.report.client = rep.u.report.client0;
        rep.u.report.seq = (uint32_t)(10 + j);
        rep.u.report.dcid.cid.len = 8;
        qasm_put64(rep.u.report.dcid.cid.data, 0xfe00000000000000ULL | (uint64_t)j);
        rep.u.report.dcid.seq = (uint64_t)(1 + j / k);
        bench_sign(&rep);
        ssize_t n = qasm_proto_encode(buf, sizeof(buf), &rep);
        qasm_tstamp t0 = qasm_now();
        if (send(u, buf, (size_t)n, 0) < 0)
            die("send report", NULL);
        for (;;) {
            if (read_msg(&r, &m, 1000) < 0) {
                lost++;
                break;
            }
            if (m.hdr.type == QASM_PROTO_PUSH && m.hdr.req_id == (uint32_t)i) {
                lat[n_ok++] = qasm_now() - t0;
                break;
            }
        }
    }
    qsort(lat, (size_t)n_ok, sizeof(*lat), cmp_u64);
    res->push_p50_us = pct(lat, n_ok, 0.50);
    res->push_p99_us = pct(lat, n_ok, 0.99);
    res->push_lost = lost;
    free(lat);
    close(u);
    close(fd);
}

/* ---- redis ------------------------------------------------------------------ */

static int redis_cmd(int port, const char *cmd, char *out, size_t outlen)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    write_all(fd, (const uint8_t *)cmd, strlen(cmd));
    size_t len = 0;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 60000) <= 0)
            break;
        ssize_t n = read(fd, out + len, outlen - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        out[len] = '\0';
        /* Simple replies end with CRLF; bulk replies are complete when the length is. */
        if (out[0] == '$') {
            long bl = strtol(out + 1, NULL, 10);
            char *body = strstr(out, "\r\n");
            if (body && (long)(len - (size_t)(body + 2 - out)) >= bl + 2)
                break;
        } else if (len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n') {
            break;
        }
    }
    out[len] = '\0';
    close(fd);
    return (int)len;
}

/* Run redis-benchmark for one test and pipeline depth; fill rps, p50, p99 (µs). */
static int redis_bench(const struct tracker_load_cfg *c, int port, const char *test, int depth, long n,
                       double *rps, double *p50, double *p99)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof(cmd),
             "%s -h 127.0.0.1 -p %d -c 1 -P %d -n %ld -t %s -d 80 -r %ld --csv 2>/dev/null",
             c->redis_benchmark, port, depth, n, test, c->conns);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    int ok = -1;
    while (fgets(line, sizeof(line), f)) {
        /* "SET","123.45","avg","min","p50","p95","p99","max" */
        char name[32];
        double v[7];
        if (sscanf(line, "\"%31[^\"]\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\"", name,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) == 8) {
            *rps = v[0];
            *p50 = v[3] * 1e3;
            *p99 = v[5] * 1e3;
            ok = 0;
        }
    }
    pclose(f);
    return ok;
}

static int redis_start(const struct tracker_load_cfg *c)
{
    int port = bench_free_port();
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    char *argv[] = { (char *)c->redis_server, "--port", portstr, "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--daemonize", "no",
                     "--enable-debug-command", "local", "--loglevel", "warning", NULL };
    char out[4096];
    if (port > 0 && bench_proc_start(&redis_proc, "redis", c->logdir, argv, NULL) == 0) {
        for (int i = 0; i < 100; i++) {
            bench_sleep(0.05);
            if (redis_cmd(port, "PING\r\n", out, sizeof(out)) > 0 && strstr(out, "PONG"))
                return port;
        }
        bench_proc_stop(&redis_proc);
    }
    fprintf(stderr, "qasm-tracker-bench: redis-server did not start; skipping Redis\n");
    return -1;
}

/* Bytes per key: FLUSHALL, then N keys with an 80-byte value (about a record). */
static void redis_memory(const struct tracker_load_cfg *c, int port, struct results *res)
{
    char out[8192], cmd[128];
    redis_cmd(port, "FLUSHALL\r\n", out, sizeof(out));
    redis_cmd(port, "INFO memory\r\n", out, sizeof(out));
    char *p = strstr(out, "used_memory:");
    long m0 = p ? atol(p + 12) : 0;
    snprintf(cmd, sizeof(cmd), "DEBUG POPULATE %ld key 80\r\n", c->conns);
    redis_cmd(port, cmd, out, sizeof(out));
    redis_cmd(port, "INFO memory\r\n", out, sizeof(out));
    p = strstr(out, "used_memory:");
    long m1 = p ? atol(p + 12) : 0;
    if (m1 > m0)
        res->redis_bytes_per_key = (double)(m1 - m0) / (double)c->conns;
}

/* ---- output ----------------------------------------------------------------- */

static void row(const char *name, double ours, double theirs, int have, const char *unit,
                int lower_better)
{
    if (have && theirs > 0)
        printf("| %-46s | %12.1f | %12.1f | %6.2fx%s |\n", name, ours, theirs,
               lower_better ? theirs / ours : ours / theirs, "");
    else
        printf("| %-46s | %12.1f | %12s | %7s |\n", name, ours, "-", "-");
    (void)unit;
}

static void print_results(const struct tracker_load_cfg *c, const struct results *r)
{
    printf("\nqasm-tracker vs redis-server, loopback, %ld connections / keys, %ld queries per depth"
           " and round, median of %d rounds\n", c->conns, c->queries, c->reps);
    printf("(ratio: qasm-tracker / Redis for rates; Redis / qasm-tracker for latency and bytes;"
           " > 1 means qasm-tracker is better)\n\n");
    printf("| %-46s | %12s | %12s | %7s |\n", "metric", "qasm-tracker", "redis", "ratio");
    printf("|%s|%s|%s|%s|\n", "------------------------------------------------", "--------------",
           "--------------", "---------");
    row("updates/s, UDP datagrams (agent path)", r->updates_per_s, 0, 0, "/s", 0);
    row("tracker CPU us per UDP update (user+sys)", r->tracker_cpu_us_per_update, 0, 0, "us", 1);
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "updates/s, TCP, %d per write (vs SET -P %d)", depths[i],
                 depths[i]);
        row(name, r->tcp_updates_per_s[i], r->set_rps[i], r->have_redis, "/s", 0);
    }
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "queries/s, %d in flight (vs GET -P %d)", depths[i], depths[i]);
        row(name, r->qps[i], r->get_rps[i], r->have_redis, "/s", 0);
    }
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "p50 query latency us, %d in flight", depths[i]);
        row(name, r->p50_us[i], r->get_p50_us[i], r->have_redis, "us", 1);
        snprintf(name, sizeof(name), "p99 query latency us, %d in flight", depths[i]);
        row(name, r->p99_us[i], r->get_p99_us[i], r->have_redis, "us", 1);
    }
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "server CPU us per update, %d per write", depths[i]);
        row(name, r->cpu_update[0][i], r->cpu_update[1][i], r->have_redis, "us", 1);
    }
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "server CPU us per query, %d in flight", depths[i]);
        row(name, r->cpu_query[0][i], r->cpu_query[1][i], r->have_redis, "us", 1);
    }
    row("report -> push p50 us", r->push_p50_us, 0, 0, "us", 1);
    row("report -> push p99 us", r->push_p99_us, 0, 0, "us", 1);
    row("bytes per connection (store accounting)", r->store_bytes_per_conn,
        r->redis_bytes_per_key, r->have_redis, "B", 1);
    row("bytes per connection (tracker RSS growth)", r->rss_bytes_per_conn,
        r->redis_bytes_per_key, r->have_redis, "B", 1);
    row("bytes per added DCID (store accounting)", r->bytes_per_dcid, 0, 0, "B", 1);
    printf("\nupdates: %ld sent, %ld received by the tracker; connections loaded: %ld;"
           " pushes lost: %ld\n",
           r->updates_sent, r->updates_received, r->conns_loaded, r->push_lost);
    if (r->have_redis)
        printf("redis: redis-benchmark -c 1 -P {1,16,64} -t set,get -d 80 -r %ld; bytes per key from"
               " INFO used_memory after DEBUG POPULATE %ld key 80\n", c->conns, c->conns);
    printf("targets: queries/s >= Redis GET at the same depth; p99 (1 in flight) < 100 us;"
           " <= ~256 B/conn + ~64 B/DCID\n");
}

static void write_json(const struct tracker_load_cfg *c, const struct results *r)
{
    static const char *const redis_keys[] = {
        "redis_get_rps", "redis_get_p50_us", "redis_get_p99_us", "redis_set_rps",
        "redis_cpu_us_per_set", "redis_cpu_us_per_get",
    };
    json_t *depths_j = json_array();
    for (int i = 0; i < 3; i++) {
        json_t *d = json_pack("{s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "depth", depths[i],
                          "qps", r->qps[i], "p50_us", r->p50_us[i], "p99_us", r->p99_us[i],
                          "redis_get_rps", r->get_rps[i], "redis_get_p50_us", r->get_p50_us[i],
                          "redis_get_p99_us", r->get_p99_us[i], "redis_set_rps", r->set_rps[i],
                          "tcp_updates_per_s", r->tcp_updates_per_s[i], "cpu_us_per_update",
                          r->cpu_update[0][i], "cpu_us_per_query", r->cpu_query[0][i],
                          "redis_cpu_us_per_set", r->cpu_update[1][i], "redis_cpu_us_per_get",
                          r->cpu_query[1][i]);
        /* Not measured is null, not 0 (no Redis to compare with). */
        for (size_t k = 0; d != NULL && !r->have_redis && k < sizeof(redis_keys) / sizeof(redis_keys[0]); k++)
            json_object_set_new(d, redis_keys[k], json_null());
        json_array_append_new(depths_j, d);
    }
    json_t *j = json_pack("{s:I,s:I,s:f,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:o,s:b,s:f}",
                          "conns", (json_int_t)c->conns, "queries", (json_int_t)c->queries,
                          "updates_per_s", r->updates_per_s, "updates_sent",
                          (json_int_t)r->updates_sent, "updates_received",
                          (json_int_t)r->updates_received, "store_bytes_per_conn",
                          r->store_bytes_per_conn, "rss_bytes_per_conn", r->rss_bytes_per_conn,
                          "bytes_per_dcid", r->bytes_per_dcid, "tracker_cpu_us_per_update",
                          r->tracker_cpu_us_per_update, "push_p50_us", r->push_p50_us,
                          "push_p99_us", r->push_p99_us, "push_lost", (json_int_t)r->push_lost,
                          "depths", depths_j, "redis", r->have_redis, "redis_bytes_per_key",
                          r->redis_bytes_per_key);
    if (j != NULL && !r->have_redis)
        json_object_set_new(j, "redis_bytes_per_key", json_null());
    FILE *f = j != NULL ? qasm_cli_fopen(c->json_path, "w") : NULL;
    int bad = f == NULL || json_dumpf(j, f, JSON_COMPACT) != 0;
    if (f == stdout && fputc('\n', f) == EOF)
        bad = 1;
    if (f != NULL && qasm_cli_fclose(f) != 0)
        bad = 1;
    if (bad)
        fprintf(stderr, "qasm-tracker-bench: cannot write %s\n", c->json_path);
    json_decref(j);
}

/* ---- command line ----------------------------------------------------------- */

const char tracker_load_usage[] =
        "usage: qasm-tracker-bench [options]\n"
        "Benchmarks qasm-tracker on loopback beside redis-server (both started here).\n"
        "  --conns N            connections loaded (default 100000; the issue's figure: 1000000)\n"
        "  --queries N          queries per in-flight depth and round (default 100000)\n"
        "  --reps N             rounds; tracker and Redis alternate, medians shown (default 3)\n"
        "  --push-samples N     report->push samples (default 5000)\n"
        "  --quick              --conns 20000 --queries 30000 --push-samples 1000 --reps 1\n"
        "  --full               --conns 1000000 --queries 200000 --reps 5\n"
        "  --no-redis           skip the Redis comparison\n"
        "  --tracker-bin PATH   default: qasm-tracker beside this binary\n"
        "  --redis-server PATH  default /usr/bin/redis-server\n"
        "  --redis-benchmark PATH  default /usr/bin/redis-benchmark\n"
        "  --json FILE          also write the figures as JSON\n"
        "  --log-dir DIR        the tracker's and Redis's logs (default: a new /tmp/qasm-tracker-bench.*)\n"
        "  -h, --help           this text\n"
        "  --version            print the version and the commit it was built from\n";

void tracker_load_defaults(struct tracker_load_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->redis_server = "/usr/bin/redis-server";
    c->redis_benchmark = "/usr/bin/redis-benchmark";
    c->conns = 100000;
    c->queries = 100000;
    c->push_samples = 5000;
    c->redis = 1;
    c->reps = 3;
}

static int opt_fail(char *err, size_t errlen, const char *what, const char *arg)
{
    snprintf(err, errlen, "%s%s%s", what, arg ? arg : "", arg ? "' (see --help)" : "");
    return -1;
}

/* A count flag's value: a whole number in 1..max. */
static int opt_count(const char *flag, const char *s, long max, long *out, char *err, size_t errlen)
{
    uint64_t v;
    if (qasm_parse_u64(&v, s, 1, (uint64_t)max) < 0) {
        snprintf(err, errlen, "invalid %s '%s' (1 to %ld; see --help)", flag, s, max);
        return -1;
    }
    *out = (long)v;
    return 0;
}

/* One option with a value; returns 0, -1 (bad value) or -2 (unknown option). */
static int opt_value(struct tracker_load_cfg *c, const char *a, const char *v, char *err,
                     size_t errlen)
{
    long reps;
    if (strcmp(a, "--conns") == 0)
        return opt_count(a, v, 16000000, &c->conns, err, errlen);
    if (strcmp(a, "--queries") == 0)
        return opt_count(a, v, 1000000000, &c->queries, err, errlen);
    if (strcmp(a, "--push-samples") == 0)
        return opt_count(a, v, 1000000000, &c->push_samples, err, errlen);
    if (strcmp(a, "--reps") == 0) {
        if (opt_count(a, v, 9, &reps, err, errlen) < 0)
            return -1;
        c->reps = (int)reps;
        return 0;
    }
    const char **dst = strcmp(a, "--tracker-bin") == 0       ? &c->tracker_bin
                       : strcmp(a, "--redis-server") == 0    ? &c->redis_server
                       : strcmp(a, "--redis-benchmark") == 0 ? &c->redis_benchmark
                       : strcmp(a, "--json") == 0            ? &c->json_path
                       : strcmp(a, "--log-dir") == 0         ? &c->logdir
                                                             : NULL;
    if (dst == NULL) {
        opt_fail(err, errlen, "unknown option '", a);
        return -2;
    }
    *dst = v;
    return 0;
}

int tracker_load_opts_parse(int argc, char **argv, struct tracker_load_cfg *c, char *err,
                            size_t errlen)
{
    tracker_load_defaults(c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        if (strcmp(a, "--quick") == 0) {
            c->conns = 20000, c->queries = 30000, c->push_samples = 1000, c->reps = 1;
        } else if (strcmp(a, "--full") == 0) {
            c->conns = 1000000, c->queries = 200000, c->reps = 5;
        } else if (strcmp(a, "--no-redis") == 0) {
            c->redis = 0;
        } else if (a[0] != '-') {
            return opt_fail(err, errlen, "unexpected argument '", a);
        } else if (i + 1 == argc) {
            struct tracker_load_cfg scratch = *c;  /* an unknown flag is named as such */
            if (opt_value(&scratch, a, "1", err, errlen) == -2)
                return -1;
            return opt_fail(err, errlen, "missing value for '", a);
        } else if (opt_value(c, a, argv[++i], err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- the run ---------------------------------------------------------------- */

/* Starts the tracker on a free reserved port and opens the control session; returns the port. */
static int tracker_start(const struct tracker_load_cfg *c, struct reader *ctl)
{
    char listen[64], maxc[32];
    int port = bench_free_port();
    if (port <= 0)
        die("no free port", NULL);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(maxc, sizeof(maxc), "%ld", 2 * c->conns + 1000);
    char *targv[] = { (char *)c->tracker_bin, "--listen", listen, "--trust", "any",
                      "--max-per-ip", "0", "--max-conns", maxc, "--ttl", "3600s",
                      "--log-level", "warn", NULL };
    if (bench_proc_start(&tracker_proc, "tracker", c->logdir, targv, NULL) < 0)
        die("cannot start ", c->tracker_bin);
    ctl->fd = -1;
    for (int i = 0; i < 100 && ctl->fd < 0; i++) {
        bench_sleep(0.02);
        ctl->fd = tcp_connect(port);
    }
    if (ctl->fd < 0)
        die("tracker did not start", NULL);
    fprintf(stderr, "qasm-tracker-bench: tracker on %s; loading %ld connections...\n", listen,
            c->conns);
    return port;
}

/*
 * The rounds: tracker and Redis alternate (same depth back to back) |reps|
 * times, for a shared machine; medians are reported.
 */
static void rounds(const struct tracker_load_cfg *c, int port, int rport, struct results *res)
{
    enum { MAXREPS = 9 };
    double v[12][MAXREPS];
    double cpu[4][3] = { { 0 } }; /* tracker upd, tracker query, redis set, redis get: µs */
    long ops[4][3] = { { 0 } };
    for (int rep = 0; rep < c->reps; rep++) {
        fprintf(stderr, "qasm-tracker-bench: round %d/%d: updates over TCP and queries at 1, 16, "
                        "64 in flight%s...\n", rep + 1, c->reps, res->have_redis ? ", Redis SET/GET" : "");
        for (int di = 0; di < 3; di++) {
            long n;
            double t0 = cpu_us(tracker_proc.pid);
            v[di][rep] = phase_tcp_updates(c, port, depths[di], &n);
            double t1 = cpu_us(tracker_proc.pid);
            phase_queries(c, port, depths[di], &v[3 + di][rep], &v[6 + di][rep], &v[9 + di][rep]);
            double t2 = cpu_us(tracker_proc.pid);
            cpu[0][di] += t1 - t0;
            ops[0][di] += n;
            cpu[1][di] += t2 - t1;
            ops[1][di] += c->queries;
            if (res->have_redis) {
                double p50, p99;
                long nset = c->conns < c->queries ? c->conns : c->queries;
                if (depths[di] == 1)
                    nset /= 4;
                double r0 = cpu_us(redis_proc.pid);
                redis_bench(c, rport, "set", depths[di], nset, &res->rset[di][rep], &p50, &p99);
                double r1 = cpu_us(redis_proc.pid);
                redis_bench(c, rport, "get", depths[di], c->queries, &res->rget[di][rep],
                            &res->rget50[di][rep], &res->rget99[di][rep]);
                double r2 = cpu_us(redis_proc.pid);
                cpu[2][di] += r1 - r0;
                ops[2][di] += nset;
                cpu[3][di] += r2 - r1;
                ops[3][di] += c->queries;
            }
        }
    }
    for (int di = 0; di < 3; di++) {
        res->cpu_update[0][di] = ops[0][di] ? cpu[0][di] / (double)ops[0][di] : 0;
        res->cpu_query[0][di] = ops[1][di] ? cpu[1][di] / (double)ops[1][di] : 0;
        res->cpu_update[1][di] = ops[2][di] ? cpu[2][di] / (double)ops[2][di] : 0;
        res->cpu_query[1][di] = ops[3][di] ? cpu[3][di] / (double)ops[3][di] : 0;
        res->tcp_updates_per_s[di] = median(v[di], c->reps);
        res->qps[di] = median(v[3 + di], c->reps);
        res->p50_us[di] = median(v[6 + di], c->reps);
        res->p99_us[di] = median(v[9 + di], c->reps);
        if (res->have_redis) {
            res->set_rps[di] = median(res->rset[di], c->reps);
            res->get_rps[di] = median(res->rget[di], c->reps);
            res->get_p50_us[di] = median(res->rget50[di], c->reps);
            res->get_p99_us[di] = median(res->rget99[di], c->reps);
        }
    }
}

int tracker_load_run(const struct tracker_load_cfg *cfg)
{
    static struct results res;
    static struct reader ctl;
    struct tracker_load_cfg cc = *cfg, *c = &cc;
    memset(&res, 0, sizeof(res));
    if (access(c->tracker_bin, X_OK) != 0)
        die("tracker binary not found: ", c->tracker_bin);
    if (c->redis && (access(c->redis_server, X_OK) != 0 || access(c->redis_benchmark, X_OK) != 0)) {
        fprintf(stderr, "qasm-tracker-bench: redis-server/redis-benchmark not found; "
                        "install redis-server and redis-tools, or use --no-redis\n");
        c->redis = 0;
    }
    int port = tracker_start(c, &ctl);
    phase_updates(c, port, &ctl, &res);
    fprintf(stderr, "qasm-tracker-bench: report -> push...\n");
    phase_push(c, port, &res);
    int rport = -1;
    if (c->redis) {
        rport = redis_start(c);
        res.have_redis = rport > 0;
        if (rport > 0) {
            /* Load the keyspace the GETs will hit (not measured). */
            double rps, p50, p99;
            redis_bench(c, rport, "set", 64, c->conns, &rps, &p50, &p99);
        }
    }
    uint64_t mem0 = get_stat(&ctl, "mem_bytes"), dcids0 = get_stat(&ctl, "dcids");
    rounds(c, port, rport, &res);
    uint64_t mem1 = get_stat(&ctl, "mem_bytes"), dcids1 = get_stat(&ctl, "dcids");
    if (dcids1 > dcids0)
        res.bytes_per_dcid = (double)(mem1 - mem0) / (double)(dcids1 - dcids0);
    close(ctl.fd);
    bench_proc_stop(&tracker_proc);
    if (res.have_redis)
        redis_memory(c, rport, &res);
    bench_proc_stop(&redis_proc);
    print_results(c, &res);
    if (c->json_path)
        write_json(c, &res);
    return 0;
}
