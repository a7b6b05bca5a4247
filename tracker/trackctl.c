/*
 * trackctl.c: qasm-trackctl, the command-line client of qasm-tracker:
 * dump, query, watch, stats over a TCP session, and report (one agent
 * report over UDP, as an agent would send it). Human-readable output by
 * default, --json for scripts (one compact JSON document per line, built
 * with jansson). Protocol: docs/PROTOCOL.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "cid.h"
#include "cli.h"
#include "clock.h"
#include "keyfile.h"
#include "parse.h"
#include "proto.h"
#include "trackctl_opts.h"

#define EXIT_NOTFOUND 1
#define EXIT_USAGE 2
#define EXIT_FAIL 3


static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die_usage(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    qasm_cli_usage_exit("qasm-trackctl", msg);
}

/* ---- output ------------------------------------------------------------- */

static void print_record_text(FILE *f, const struct qasm_proto_conn *c);

static json_t *cid_json(const struct qasm_cid *cid)
{
    char hex[QASM_CID_HEXLEN];
    return json_string(qasm_cid_hex(hex, cid));
}

static json_t *addr_json(const struct qasm_addr *a)
{
    char s[QASM_ADDR_STRLEN];
    return json_string(qasm_addr_format(s, sizeof(s), a));
}

/* A record as scripts read it (docs/TRACKER.md): the keys in this order. */
static json_t *record_json(const struct qasm_proto_conn *c)
{
    json_t *dcids = json_array(), *seqs = json_array(), *clients = json_array();
    for (unsigned i = 0; i < c->ndcids; i++) {
        json_array_append_new(dcids, cid_json(&c->dcids[i].cid));
        json_array_append_new(seqs, json_integer((json_int_t)c->dcids[i].seq));
    }
    for (unsigned i = 0; i < c->nclients; i++)
        json_array_append_new(clients, addr_json(&c->clients[i]));
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:b,s:I}", "odcid", cid_json(&c->odcid),
                     "scid", cid_json(&c->scid), "dcids", dcids, "dcid_seqs", seqs,
                     "clients", clients, "current", addr_json(&c->clients[c->current]),
                     "server", c->server.family ? addr_json(&c->server) : json_null(),
                     "dcid_len", (int)c->dcid_len, "closed", (c->flags & QASM_PROTO_REC_CLOSED) != 0,
                     "rev", (json_int_t)c->rev);
}

/* A DUMP record's age and time to expiry (the tracker sends them when asked). */
static json_t *with_times(json_t *j, const struct qasm_proto_conn *c)
{
    if (j && c->has_times) {
        json_object_set_new(j, "age_s", json_real(c->age_ms / 1e3));
        json_object_set_new(j, "expires_s", json_real(c->expires_ms / 1e3));
    }
    return j;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Print |j| as one compact line and free it (a closed stdout is ignored, as by printf). */
static void print_json(json_t *j)
{
    if (j == NULL) {
        fprintf(stderr, "qasm-trackctl: out of memory\n");
        exit(EXIT_FAIL);
    }
    json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(16)); /* 0.366, not 0.36599999999999999 */
    putchar('\n');
    json_decref(j);
}

/* One element of a JSON array being printed, preceded by a comma unless first. */
static void print_json_item(json_t *j, bool comma)
{
    if (j == NULL) {
        fprintf(stderr, "qasm-trackctl: out of memory\n");
        exit(EXIT_FAIL);
    }
    if (comma)
        putchar(',');
    json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(16)); /* 0.366, not 0.36599999999999999 */
    json_decref(j);
}

/*
 * What watch prints, like conntrack -E -o timestamp: JSON {"time", "event",
 * "connection"}, or the record's text with "[SECONDS.MICROS] EVENT " before
 * each of its lines.
 */
static void print_event(const struct qasm_trackctl_opts *o, const char *event,
                        const struct qasm_proto_conn *c)
{
    double now = wall_now();
    if (o->json) {
        print_json(json_pack("{s:f,s:s,s:o}", "time", now, "event", event, "connection",
                             record_json(c)));
    } else {
        char *buf = NULL, *line, *save = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (f == NULL) {
            fprintf(stderr, "qasm-trackctl: out of memory\n");
            exit(EXIT_FAIL);
        }
        print_record_text(f, c);
        fclose(f);
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            printf("[%.6f] %-8s %s\n", now, event, line);
        free(buf);
    }
    fflush(stdout);
}

static void print_record_text(FILE *f, const struct qasm_proto_conn *c)
{
    char hex[QASM_CID_HEXLEN], a[QASM_ADDR_STRLEN];
    fprintf(f, "odcid %s", qasm_cid_hex(hex, &c->odcid));
    fprintf(f, " server %s", qasm_addr_format(a, sizeof(a), &c->server));
    fprintf(f, " dcid_len %u rev %u%s", c->dcid_len, c->rev,
            (c->flags & QASM_PROTO_REC_CLOSED) ? " closed" : "");
    if (c->has_times)
        fprintf(f, " age %.1fs expires %.1fs", c->age_ms / 1e3, c->expires_ms / 1e3);
    fputc('\n', f);
    if (c->scid.len)
        fprintf(f, "  scid %s\n", qasm_cid_hex(hex, &c->scid));
    fprintf(f, "  dcids");
    for (unsigned i = 0; i < c->ndcids; i++)
        fprintf(f, " %s(seq %llu)", qasm_cid_hex(hex, &c->dcids[i].cid),
                (unsigned long long)c->dcids[i].seq);
    fprintf(f, "%s\n  clients", c->ndcids ? "" : " -");
    for (unsigned i = 0; i < c->nclients; i++)
        fprintf(f, " %s%s", qasm_addr_format(a, sizeof(a), &c->clients[i]),
                i == c->current ? "(current)" : "");
    fprintf(f, "\n");
}

/* ---- TCP session -------------------------------------------------------- */

struct conn {
    int fd;
    uint8_t buf[2 * QASM_PROTO_MAX_MSG];
    size_t len;
    qasm_duration timeout; /* 0 = wait forever */
};

static int tcp_connect(struct conn *c, const struct qasm_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, a);
    c->fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd == -1)
        return -errno;
    if (connect(c->fd, (struct sockaddr *)&ss, sl) == -1) {
        int e = errno;
        close(c->fd);
        return -e;
    }
    c->len = 0;
    return 0;
}

static int send_msg(struct conn *c, const struct qasm_proto_msg *m)
{
    uint8_t buf[QASM_PROTO_MAX_MSG];
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), m);
    if (n < 0)
        return (int)n;
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = write(c->fd, buf + off, (size_t)n - off);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Receive one message. Returns 0, -ETIMEDOUT, -ECONNRESET (closed), or a decode error. */
static int recv_msg(struct conn *c, struct qasm_proto_msg *m)
{
    for (;;) {
        ssize_t len = qasm_proto_frame(c->buf, c->len);
        if (len < 0)
            return (int)len;
        if (len > 0) {
            int rv = qasm_proto_decode(m, c->buf, (size_t)len);
            memmove(c->buf, c->buf + len, c->len - (size_t)len);
            c->len -= (size_t)len;
            return rv;
        }
        struct pollfd p = { c->fd, POLLIN, 0 };
        int ms = c->timeout ? (int)(c->timeout / QASM_MS) : -1;
        int pr = poll(&p, 1, ms);
        if (pr == -1)
            return -errno; /* -EINTR: a signal (watch stops on it) */
        if (pr == 0)
            return -ETIMEDOUT;
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n == -1 && errno == EINTR)
            return -EINTR;
        if (n <= 0)
            return -ECONNRESET;
        c->len += (size_t)n;
    }
}

/*
 * The key handshake (docs/PROTOCOL.md, "Session authentication"): HELLO,
 * the tracker's CHALLENGE must carry its proof of the key (else this is not
 * our tracker), then AUTH and its OK. Returns 0 or a reason.
 */
static const char *handshake(struct conn *c, const struct qasm_trackctl_opts *o)
{
    struct qasm_proto_msg m;
    uint8_t cn[QASM_PROTO_NONCE_LEN];
    if (getrandom(cn, sizeof(cn), 0) != (ssize_t)sizeof(cn))
        return "getrandom failed";
    qasm_proto_msg_init(&m, QASM_PROTO_HELLO, 1);
    memcpy(m.u.auth.nonce, cn, sizeof(cn));
    if (send_msg(c, &m) < 0 || recv_msg(c, &m) < 0)
        return "no answer to HELLO";
    if (m.hdr.type == QASM_PROTO_ERROR)
        return m.u.error.text[0] ? "the tracker refused HELLO (has it a key?)" : "ERROR";
    if (m.hdr.type != QASM_PROTO_CHALLENGE ||
        !qasm_auth_proof_ok(&o->key, QASM_AUTH_TRACKER, cn, m.u.auth.nonce, m.u.auth.proof))
        return "the tracker did not prove the key";
    uint8_t tn[QASM_PROTO_NONCE_LEN];
    memcpy(tn, m.u.auth.nonce, sizeof(tn));
    qasm_proto_msg_init(&m, QASM_PROTO_AUTH, 2);
    qasm_auth_proof(&o->key, QASM_AUTH_CLIENT, cn, tn, m.u.auth.proof);
    if (send_msg(c, &m) < 0 || recv_msg(c, &m) < 0)
        return "no answer to AUTH";
    if (m.hdr.type != QASM_PROTO_OK)
        return "the tracker refused our proof (wrong key)";
    return NULL;
}

static int connect_or_die(struct conn *c, const struct qasm_trackctl_opts *o)
{
    char a[QASM_ADDR_STRLEN];
    c->timeout = o->timeout;
    int rv = tcp_connect(c, &o->tracker);
    if (rv < 0) {
        fprintf(stderr, "qasm-trackctl: cannot connect to %s: %s\n",
                qasm_addr_format(a, sizeof(a), &o->tracker), strerror(-rv));
        exit(EXIT_FAIL);
    }
    const char *why = o->key.len ? handshake(c, o) : NULL;
    if (why) {
        fprintf(stderr, "qasm-trackctl: %s: %s\n", qasm_addr_format(a, sizeof(a), &o->tracker),
                why);
        exit(EXIT_FAIL);
    }
    return 0;
}

static void fail_reply(const char *what, int rv, const struct qasm_proto_msg *m)
{
    if (rv < 0)
        fprintf(stderr, "qasm-trackctl: %s: %s\n", what,
                rv == -ETIMEDOUT ? "timed out" : rv == -ECONNRESET ? "tracker closed the session"
                                                                   : strerror(-rv));
    else if (m->hdr.type == QASM_PROTO_ERROR)
        fprintf(stderr, "qasm-trackctl: %s: tracker error %u: %s\n", what, m->u.error.code,
                m->u.error.text);
    else
        fprintf(stderr, "qasm-trackctl: %s: unexpected reply %s\n", what,
                qasm_proto_type_name(m->hdr.type));
    exit(EXIT_FAIL);
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_dump(const struct qasm_trackctl_opts *o)
{
    struct conn c;
    struct qasm_proto_msg m;
    connect_or_die(&c, o);
    qasm_proto_msg_init(&m, QASM_PROTO_DUMP, 1);
    m.hdr.flags = QASM_PROTO_HDR_TIMES; /* each record's age and expiry (ignored by old trackers) */
    if (send_msg(&c, &m) < 0)
        fail_reply("dump", -EIO, &m);
    /* Streamed record by record (a dump may hold 10^6 connections): the
     * bytes are those of the whole object printed compact. */
    if (o->json)
        fputs("{\"connections\":[", stdout);
    unsigned n = 0;
    for (;;) {
        int rv = recv_msg(&c, &m);
        if (rv < 0 || (m.hdr.type != QASM_PROTO_RECORD && m.hdr.type != QASM_PROTO_OK))
            fail_reply("dump", rv, &m);
        if (m.hdr.type == QASM_PROTO_OK)
            break;
        if (o->json)
            print_json_item(with_times(record_json(&m.u.conn), &m.u.conn), n > 0);
        else
            print_record_text(stdout, &m.u.conn);
        n++;
    }
    if (o->json)
        printf("],\"count\":%u}\n", n);
    else
        printf("%u connection%s\n", n, n == 1 ? "" : "s");
    close(c.fd);
    return 0;
}

static int cmd_query(const struct qasm_trackctl_opts *o, const char *hex)
{
    struct qasm_cid dcid;
    if (qasm_cid_parse(&dcid, hex) < 0 || dcid.len == 0)
        die_usage("invalid DCID '%s' (hex, 1-20 bytes)", hex);
    struct conn c;
    struct qasm_proto_msg m;
    connect_or_die(&c, o);
    if (o->wait_ms && c.timeout && c.timeout < (qasm_duration)o->wait_ms * QASM_MS + QASM_SEC)
        c.timeout = (qasm_duration)o->wait_ms * QASM_MS + QASM_SEC;
    qasm_proto_msg_init(&m, QASM_PROTO_QUERY, 1);
    m.u.query.dcid = dcid;
    m.u.query.server = o->server;
    m.u.query.wait_ms = o->wait_ms;
    m.u.query.client = o->client;
    if (send_msg(&c, &m) < 0)
        fail_reply("query", -EIO, &m);
    int rv = recv_msg(&c, &m);
    close(c.fd);
    if (rv == 0 && m.hdr.type == QASM_PROTO_RECORD) {
        if (o->json)
            print_json(json_pack("{s:b,s:o}", "found", 1, "connection", record_json(&m.u.conn)));
        else
            print_record_text(stdout, &m.u.conn);
        return 0;
    }
    if (rv == 0 && m.hdr.type == QASM_PROTO_NOT_FOUND) {
        if (o->json)
            print_json(json_pack("{s:b}", "found", 0));
        else
            printf("not found\n");
        return EXIT_NOTFOUND;
    }
    fail_reply("query", rv, &m);
    return EXIT_FAIL;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int cmd_watch(const struct qasm_trackctl_opts *o, const char *hex)
{
    struct qasm_proto_msg m;
    qasm_proto_msg_init(&m, QASM_PROTO_SUBSCRIBE, 1);
    if (hex) {
        if (qasm_cid_parse(&m.u.sub.cid, hex) < 0 || m.u.sub.cid.len == 0)
            die_usage("invalid O-DCID '%s' (hex, 1-20 bytes)", hex);
    } else {
        m.u.sub.flags = QASM_PROTO_SUB_ALL;
    }
    struct conn c;
    connect_or_die(&c, o);
    if (send_msg(&c, &m) < 0)
        fail_reply("watch", -EIO, &m);
    int rv = recv_msg(&c, &m);
    if (rv < 0 || (m.hdr.type != QASM_PROTO_OK && m.hdr.type != QASM_PROTO_RECORD))
        fail_reply("watch", rv, &m);
    fprintf(stderr, "qasm-trackctl: watching %s\n", hex ? hex : "all connections");
    if (m.hdr.type == QASM_PROTO_RECORD) {
        print_event(o, "current", &m.u.conn);
        if (m.u.conn.flags & QASM_PROTO_REC_CLOSED)
            return 0;
    }
    struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: recv_msg sees EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    c.timeout = o->timeout_set ? o->timeout : 0;
    long n = 0;
    while (!stop && (o->count <= 0 || n < o->count)) {
        rv = recv_msg(&c, &m);
        if (rv == -EINTR || stop)
            break;
        if (rv < 0 || m.hdr.type != QASM_PROTO_PUSH)
            fail_reply("watch", rv, &m);
        print_event(o, qasm_proto_event_name(m.u.push.event), &m.u.push.conn);
        n++;
        if (hex && qasm_proto_event_final(m.u.push.event))
            break; /* the subscription is over */
    }
    close(c.fd);
    return 0;
}

/* The tracker's own version from its build_* counters (an older tracker has none: 0). */
static int tracker_version(const struct qasm_proto_stats *st, char *buf, size_t len)
{
    uint64_t ver = 0, commit = 0;
    for (unsigned i = 0; i < st->n; i++) {
        if (strcmp(st->s[i].name, "build_version") == 0)
            ver = st->s[i].value;
        else if (strcmp(st->s[i].name, "build_commit") == 0)
            commit = st->s[i].value;
    }
    if (ver == 0)
        return 0;
    qasm_version_format(buf, len, ver, commit);
    return 1;
}

static int cmd_stats(const struct qasm_trackctl_opts *o)
{
    char ver[64];
    struct conn c;
    struct qasm_proto_msg m;
    connect_or_die(&c, o);
    qasm_proto_msg_init(&m, QASM_PROTO_STATS, 1);
    if (send_msg(&c, &m) < 0)
        fail_reply("stats", -EIO, &m);
    int rv = recv_msg(&c, &m);
    close(c.fd);
    if (rv < 0 || m.hdr.type != QASM_PROTO_STATS_REPLY)
        fail_reply("stats", rv, &m);
    const struct qasm_proto_stats *st = &m.u.stats;
    if (o->json) {
        json_t *j = json_object();
        for (unsigned i = 0; i < st->n; i++)
            json_object_set_new(j, st->s[i].name, json_integer((json_int_t)st->s[i].value));
        json_object_set_new(j, "version", json_string(qasm_version_string()));
        if (tracker_version(st, ver, sizeof(ver)))
            json_object_set_new(j, "tracker_version", json_string(ver));
        print_json(j);
    } else {
        for (unsigned i = 0; i < st->n; i++)
            printf("%-24s %llu\n", st->s[i].name, (unsigned long long)st->s[i].value);
        if (tracker_version(st, ver, sizeof(ver)))
            printf("%-24s %s\n", "tracker_version", ver);
        printf("%-24s %s\n", "version", qasm_version_string());
    }
    return 0;
}

/* The report |o| describes, of |type|, unsigned. */
static void build_report(const struct qasm_trackctl_opts *o, int type, struct qasm_proto_msg *m)
{
    qasm_proto_msg_init(m, (uint8_t)type, 0);
    struct qasm_proto_report *r = &m->u.report;
    *r = (struct qasm_proto_report){
        .odcid = o->odcid, .client0 = o->client0, .client = o->client,
        .seq = o->seq, .scid = o->scid, .server = o->server,
    };
    if (o->ndcids)
        r->dcid = (struct qasm_proto_dcid){ .cid = o->dcids[0], .seq = o->dcid_seq0 };
    if (type != QASM_PROTO_REPORT_REFRESH)
        return;
    struct qasm_proto_conn *c = &r->conn;
    *c = (struct qasm_proto_conn){
        .odcid = o->odcid, .scid = o->scid, .server = o->server,
        .ndcids = (uint8_t)o->ndcids, .clients = { o->client0 }, .nclients = 1,
    };
    for (int i = 0; i < o->ndcids; i++) {
        c->dcids[i] = (struct qasm_proto_dcid){ .cid = o->dcids[i],
                                                .seq = o->dcid_seq0 + (uint64_t)i };
        c->dcid_len = o->dcids[i].len;
    }
    if (!qasm_addr_eq(&o->client, &o->client0)) {
        c->clients[1] = o->client;
        c->nclients = 2;
        c->current = 1;
    }
}

/* Sign |m| (a report of |type|) with the connection's secret and the key; 0 or EXIT_FAIL. */
static int sign_report(struct qasm_trackctl_opts *o, int type, struct qasm_proto_msg *m)
{
    /* The connection's secret: given, or new for a report that creates a connection. */
    int carries = type == QASM_PROTO_REPORT_OPEN || type == QASM_PROTO_REPORT_REFRESH;
    if (!o->secret_set && carries) {
        if (getrandom(o->secret, sizeof(o->secret), 0) != (ssize_t)sizeof(o->secret)) {
            fprintf(stderr, "qasm-trackctl: getrandom: %s\n", strerror(errno));
            return EXIT_FAIL;
        }
        o->secret_set = 1;
    }
    if (o->secret_set && qasm_proto_report_sign((uint8_t)type, &m->u.report, o->secret) < 0) {
        fprintf(stderr, "qasm-trackctl: cannot sign the report\n");
        return EXIT_FAIL;
    }
    if (o->key.len && qasm_auth_report_sign(&o->key, (uint8_t)type, &m->u.report) < 0) {
        fprintf(stderr, "qasm-trackctl: cannot add the key MAC\n");
        return EXIT_FAIL;
    }
    return 0;
}

/* Send the |n| bytes of |buf| to the tracker over UDP, from the client's IP; 0 or EXIT_FAIL. */
static int send_report(const struct qasm_trackctl_opts *o, const uint8_t *buf, size_t n)
{
    int fd = socket(o->tracker.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fprintf(stderr, "qasm-trackctl: socket: %s\n", strerror(errno));
        return EXIT_FAIL;
    }
    /* Send from the client's IP, as the agent on that host would. */
    if (o->client.family == o->tracker.family) {
        struct qasm_addr local = o->client;
        local.port = 0;
        struct sockaddr_storage ls;
        socklen_t ll = qasm_addr_to_sockaddr(&ls, &local);
        if (bind(fd, (struct sockaddr *)&ls, ll) == -1)
            fprintf(stderr, "qasm-trackctl: warning: cannot send from the client IP: %s\n",
                    strerror(errno));
    }
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, &o->tracker);
    if (sendto(fd, buf, n, 0, (struct sockaddr *)&ss, sl) == -1) {
        fprintf(stderr, "qasm-trackctl: sendto: %s\n", strerror(errno));
        close(fd);
        return EXIT_FAIL;
    }
    close(fd);
    return 0;
}

static int cmd_report(struct qasm_trackctl_opts *o)
{
    if (o->odcid.len == 0)
        die_usage("%s needs --odcid", "report");
    if (o->client.family == 0)
        die_usage("%s needs --client", "report");
    if (o->client0.family == 0)
        o->client0 = o->client;
    int type = o->type ? o->type : o->close ? QASM_PROTO_REPORT_CLOSE : QASM_PROTO_REPORT_REFRESH;
    if (type == QASM_PROTO_REPORT_OPEN && o->server.family == 0)
        die_usage("%s needs --server", "report --type open");
    if ((type == QASM_PROTO_REPORT_DCID_NEW || type == QASM_PROTO_REPORT_DCID_RETIRE) &&
        o->ndcids != 1)
        die_usage("%s needs exactly one --dcid", "report --type dcid|retire");
    if (!o->seq_set) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* Increases across invocations (1 ms steps), like an agent's counter would. */
        o->seq = (uint32_t)((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
    }
    struct qasm_proto_msg m;
    build_report(o, type, &m);
    int rv = sign_report(o, type, &m);
    if (rv != 0)
        return rv;
    char shex[2 * QASM_PROTO_SECRET_LEN + 1] = "";
    for (size_t i = 0; o->secret_set && i < sizeof(o->secret); i++)
        snprintf(shex + 2 * i, 3, "%02x", o->secret[i]);
    uint8_t buf[QASM_PROTO_MAX_MSG];
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    if (n < 0) {
        fprintf(stderr, "qasm-trackctl: cannot encode the report: %s\n", strerror((int)-n));
        return EXIT_FAIL;
    }
    if ((rv = send_report(o, buf, (size_t)n)) != 0)
        return rv;
    if (o->json)
        print_json(json_pack("{s:s,s:I,s:I,s:o}", "sent", qasm_proto_type_name((uint8_t)type),
                             "seq", (json_int_t)o->seq, "bytes", (json_int_t)n, "secret",
                             o->secret_set ? json_string(shex) : json_null()));
    else
        printf("sent %s seq %u (%zd bytes) %s%s\n", qasm_proto_type_name((uint8_t)type), o->seq,
               n, o->secret_set ? "secret " : "unauthenticated", shex);
    return 0;
}

static int cmd_keygen(const char *path)
{
    char err[512];
    if (qasm_keyfile_generate(path, err, sizeof(err)) < 0) {
        fprintf(stderr, "qasm-trackctl: keygen %s\n", err);
        return EXIT_FAIL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct qasm_trackctl_opts o;
    char err[1024], usage[4096];
    qasm_cli_front("qasm-trackctl", argc, argv);
    int rv = qasm_trackctl_opts_parse(argc, argv, &o, err, sizeof(err));
    qasm_trackctl_usage(usage, sizeof(usage));
    /* The key file is read where the flag was (the parse stops at the first error or
     * --help): its error comes before anything that follows it. */
    for (int i = 0; i < o.keys.n; i++)
        if (qasm_keyfile_load(&o.key, o.keys.path[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "qasm-trackctl: --key %s\n", err);
            return EXIT_USAGE;
        }
    if (rv == QASM_TRACKCTL_HELP) {
        fputs(usage, stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit("qasm-trackctl", err);
    qasm_cli_resolve_names("qasm-trackctl", &o.names);
    signal(SIGPIPE, SIG_IGN);
    switch (o.cmd) {
    case QASM_TRACKCTL_DUMP: return cmd_dump(&o);
    case QASM_TRACKCTL_QUERY: return cmd_query(&o, o.arg);
    case QASM_TRACKCTL_WATCH: return cmd_watch(&o, o.arg);
    case QASM_TRACKCTL_STATS: return cmd_stats(&o);
    case QASM_TRACKCTL_REPORT: return cmd_report(&o);
    case QASM_TRACKCTL_KEYGEN: return cmd_keygen(o.arg);
    }
    return EXIT_USAGE;
}
