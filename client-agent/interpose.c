/*
 * interpose.c: the I/O shell of the client agent. Wraps Debian's ngtcp2
 * 0.12.x client API (found with dlsym(RTLD_NEXT)), feeds what it sees into
 * the pure core (agent_state.c) and sends the resulting reports to the
 * tracker as non-blocking UDP datagrams (agent_report.c, lib/proto.h).
 * Design and the ngtcp2 0.12 facts it relies on: docs/CLIENT-AGENT.md.
 *
 * Concurrency: one global mutex guards the connection table, the counters
 * and the socket; it is never held while calling into ngtcp2 or the
 * application. A connection's state is touched by the thread that calls into
 * that connection (ngtcp2 connections are single-threaded); the hot path
 * (every read/write) finds its entry through a thread-local cache validated
 * by a generation counter and compares the current DCID and path without
 * locking. Re-entrancy (libngtcp2 calls its own exported writev_stream and
 * conn_del through the PLT) is harmless: every wrapper tolerates unknown
 * connections and the core dedupes repeated observations.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ngtcp2/ngtcp2.h>

#include "addr.h"
#include "agent_frames.h"
#include "agent_qlog.h"
#include "agent_report.h"
#include "agent_state.h"
#include "clock.h"
#include "degrade.h"
#include "hash.h"
#include "htab.h"
#include "keyfile.h"
#include "log.h"
#include "qasm_agent.h"

#define EXPORT __attribute__((visibility("default")))

/* The ABI this file was compiled for: 0.12.x (soname libngtcp2.so.9). */
#if NGTCP2_VERSION_NUM < 0x000c00 || NGTCP2_VERSION_NUM > 0x000cff
#error "client-agent/interpose.c handles ngtcp2 0.12.x only"
#endif

#define DEFAULT_REFRESH (10 * QASM_SEC)

struct agent_entry {
    ngtcp2_conn *conn;
    struct qasm_agent_conn st;
    ngtcp2_tstamp last_ts;
    /* Raw copies of what was last observed, for the lock-free compare. */
    ngtcp2_cid last_dcid;
    struct sockaddr_storage last_local, last_remote;
    ngtcp2_socklen last_local_len, last_remote_len;
    /* The application's callbacks we replaced (chained when non-NULL). */
    ngtcp2_connection_id_status app_dcid_status;
    ngtcp2_path_validation app_path_validation;
    ngtcp2_recv_stateless_reset app_recv_stateless_reset;
    ngtcp2_qlog_write app_qlog_write;
    ngtcp2_decrypt app_decrypt;
    void *user_data;
    uint8_t hs_done;      /* ACTIVATE seen: the handshake's silent switches are over */
    uint8_t poll_pending; /* a callback fired: compare DCID and path after this call */
    uint32_t ncalls;      /* every 64th call compares anyway (safety net) */
    uint32_t nscan;       /* outside the scan window, 1 decrypted packet in 16 is walked */
    ngtcp2_tstamp scan_until; /* walk every decrypted packet until then (app clock) */
};

/* Real functions. */
static int (*real_client_new)(ngtcp2_conn **, const ngtcp2_cid *, const ngtcp2_cid *,
                              const ngtcp2_path *, uint32_t, int, const ngtcp2_callbacks *, int,
                              const ngtcp2_settings *, int, const ngtcp2_transport_params *,
                              const ngtcp2_mem *, void *);
static int (*real_read_pkt)(ngtcp2_conn *, const ngtcp2_path *, int, const ngtcp2_pkt_info *,
                            const uint8_t *, size_t, ngtcp2_tstamp);
static ngtcp2_ssize (*real_write_pkt)(ngtcp2_conn *, ngtcp2_path *, int, ngtcp2_pkt_info *,
                                      uint8_t *, size_t, ngtcp2_tstamp);
static ngtcp2_ssize (*real_writev_stream)(ngtcp2_conn *, ngtcp2_path *, int, ngtcp2_pkt_info *,
                                          uint8_t *, size_t, ngtcp2_ssize *, uint32_t, int64_t,
                                          const ngtcp2_vec *, size_t, ngtcp2_tstamp);
static ngtcp2_ssize (*real_writev_datagram)(ngtcp2_conn *, ngtcp2_path *, int, ngtcp2_pkt_info *,
                                            uint8_t *, size_t, int *, uint32_t, uint64_t,
                                            const ngtcp2_vec *, size_t, ngtcp2_tstamp);
static ngtcp2_ssize (*real_write_cc)(ngtcp2_conn *, ngtcp2_path *, int, ngtcp2_pkt_info *,
                                     uint8_t *, size_t, const ngtcp2_connection_close_error *,
                                     ngtcp2_tstamp);
static void (*real_del)(ngtcp2_conn *);
static int (*real_imm_migration)(ngtcp2_conn *, const ngtcp2_path *, ngtcp2_tstamp);
static int (*real_migration)(ngtcp2_conn *, const ngtcp2_path *, ngtcp2_tstamp);
static void (*real_set_local_addr)(ngtcp2_conn *, const ngtcp2_addr *);
static int (*real_handle_expiry)(ngtcp2_conn *, ngtcp2_tstamp);

/* Configuration, written once under g_init_lock before g_init_done. */
static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_done;
static atomic_int g_ready; /* set (release) once init is complete: the fast path's check */
static int g_enabled;   /* reports go out */
static int g_interpose; /* wrappers track connections */
/* How spare CIDs are learnt (NEW_CONNECTION_ID frames). */
enum prereg { PREREG_OFF = 0, PREREG_DECRYPT = 1, PREREG_QLOG = 2 };
static enum prereg g_prereg = PREREG_DECRYPT;
static const char *const prereg_names[] = { "off", "decrypt", "qlog" };
static qasm_duration g_refresh = DEFAULT_REFRESH;
/* One connected socket per address family the tracker was given (-1: none). */
enum { FAM_4 = 0, FAM_6 = 1 };
static int g_fds[2] = { -1, -1 };
static char g_tracker[256]; /* QASM_TRACKER, for the log lines */

/* Degraded reporting, said at the default level (lib/degrade.h); under g_lock. */
static struct qasm_degrade g_dg_send;   /* the kernel refuses the reports (tracker unreachable) */
static struct qasm_degrade g_dg_family; /* reports go out over another family than the connection's */

/* State guarded by g_lock. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qasm_htab *g_conns;
static struct qasm_agent_stats g_stats;
static ngtcp2_qlog_write g_app_qlog; /* the one app qlog writer seen, for the fallback */
/* The last application callbacks seen, for a connection we failed to track (ENOMEM). */
static ngtcp2_connection_id_status g_app_dcid_status;
static ngtcp2_path_validation g_app_path_validation;
static ngtcp2_recv_stateless_reset g_app_recv_stateless_reset;
static ngtcp2_decrypt g_app_decrypt;
static int g_app_qlog_many;

static _Atomic uint64_t g_gen = 1;   /* bumped on every insert/remove */
static _Atomic unsigned g_nlive;

/*
 * Thread-locals use the initial-exec model (one %fs-relative load instead of
 * a __tls_get_addr call per access): the agent is loaded at program start
 * (LD_PRELOAD or DT_NEEDED), where static TLS is available.
 */
#define TLS __thread __attribute__((tls_model("initial-exec")))
static TLS ngtcp2_conn *tc_conn;
static TLS struct agent_entry *tc_entry;
static TLS uint64_t tc_gen;
static TLS struct agent_entry *tls_cur;     /* conn inside a wrapped call */
static TLS struct agent_entry *tls_pending; /* inside client_new */
static TLS int tls_in_read;                 /* inside read_pkt */
static TLS uint64_t tls_busy_ns;            /* time this thread spent reporting */

/* Reporting sections (lock, core, encode, send) are timed: the agent's own cost. */
static inline qasm_tstamp busy_begin(void)
{
    pthread_mutex_lock(&g_lock);
    return qasm_now();
}

static inline void busy_end(qasm_tstamp t0)
{
    uint64_t d = qasm_now() - t0;
    tls_busy_ns += d;
    g_stats.busy_ns += d;
    pthread_mutex_unlock(&g_lock);
}

static int entry_eq(const void *entry, const void *key)
{
    return ((const struct agent_entry *)entry)->conn == *(ngtcp2_conn *const *)key;
}

static uint64_t conn_hash(const ngtcp2_conn *conn)
{
    return qasm_hash_mix((uint64_t)(uintptr_t)conn);
}

/* ------------------------------------------------------------------ init */

static void *must_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p)
        p = dlsym(RTLD_DEFAULT, name);
    return p;
}

static void resolve(void)
{
    *(void **)&real_client_new = must_sym("ngtcp2_conn_client_new_versioned");
    *(void **)&real_read_pkt = must_sym("ngtcp2_conn_read_pkt_versioned");
    *(void **)&real_write_pkt = must_sym("ngtcp2_conn_write_pkt_versioned");
    *(void **)&real_writev_stream = must_sym("ngtcp2_conn_writev_stream_versioned");
    *(void **)&real_writev_datagram = must_sym("ngtcp2_conn_writev_datagram_versioned");
    *(void **)&real_write_cc = must_sym("ngtcp2_conn_write_connection_close_versioned");
    *(void **)&real_del = must_sym("ngtcp2_conn_del");
    *(void **)&real_imm_migration = must_sym("ngtcp2_conn_initiate_immediate_migration");
    *(void **)&real_migration = must_sym("ngtcp2_conn_initiate_migration");
    *(void **)&real_set_local_addr = must_sym("ngtcp2_conn_set_local_addr");
    *(void **)&real_handle_expiry = must_sym("ngtcp2_conn_handle_expiry");
}

static int fam_index(int family)
{
    return family == AF_INET6 ? FAM_6 : FAM_4;
}

/* A connected non-blocking UDP socket to |sa| in g_fds (the first of its family wins). */
static int open_one(const struct sockaddr *sa, socklen_t salen, const char **why)
{
    int i = fam_index(sa->sa_family);
    if (g_fds[i] >= 0)
        return 0;
    int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return -errno;
    }
    if (connect(fd, sa, salen) < 0) {
        int err = errno;
        *why = strerror(err);
        close(fd);
        return -err;
    }
    g_fds[i] = fd;
    return 0;
}

/*
 * One "HOST:PORT" (numeric or a name): a socket per address family it
 * names (a name may resolve to both). A spec that cannot name one peer
 * ("127.0.0.1:", ":::", "127.0.0.1:99999") is refused here with the reason
 * in |why|: connect() would accept some of them and every later report
 * would fail unseen.
 */
static int open_spec(const char *spec, const char **why)
{
    struct qasm_hostport hp;
    struct qasm_addr a;
    struct sockaddr_storage ss;
    int rv;

    if ((rv = qasm_hostport_parse(&hp, spec)) < 0) {
        *why = qasm_hostport_strerror(rv);
        return -EINVAL;
    }
    if (qasm_addr_parse_ip(&a, hp.host, hp.port) == 0) {
        socklen_t sslen = qasm_addr_to_sockaddr(&ss, &a);
        return open_one((struct sockaddr *)&ss, sslen, why);
    }
    char port[8];
    struct addrinfo hints, *res = NULL;
    snprintf(port, sizeof(port), "%u", hp.port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    if ((rv = getaddrinfo(hp.host, port, &hints, &res)) != 0 || !res) {
        *why = rv ? gai_strerror(rv) : "no address";
        return -EINVAL;
    }
    rv = -EINVAL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            rv = open_one(ai->ai_addr, ai->ai_addrlen, why) == 0 ? 0 : rv;
    freeaddrinfo(res);
    return rv;
}

/*
 * QASM_TRACKER: one HOST:PORT or several, comma-separated (IPv6 in
 * brackets): a socket per address family, so that each connection is
 * reported over its own family (a tracker with --trust source compares
 * the report's source with the connection's client address).
 */
static int open_tracker(const char *spec, const char **why)
{
    char buf[sizeof(g_tracker)];
    char *save = NULL;
    if (strlen(spec) >= sizeof(buf)) {
        *why = "too long";
        return -EINVAL;
    }
    memcpy(buf, spec, strlen(spec) + 1);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int rv = open_spec(tok, why);
        if (rv < 0) {
            for (int i = 0; i < 2; i++) {
                if (g_fds[i] >= 0)
                    close(g_fds[i]);
                g_fds[i] = -1;
            }
            return rv;
        }
    }
    if (g_fds[FAM_4] < 0 && g_fds[FAM_6] < 0) {
        *why = "no address";
        return -EINVAL;
    }
    return 0;
}

/* The loaded libngtcp2's version; QASM_AGENT_TEST_NGTCP2_VERSION (hex) overrides it for tests. */
static int loaded_version(void)
{
    const ngtcp2_info *info = ngtcp2_version(0);
    const char *fake = getenv("QASM_AGENT_TEST_NGTCP2_VERSION");

    if (fake && *fake)
        return (int)strtol(fake, NULL, 16);
    return info ? info->version_num : -1;
}

static int abi_ok(void)
{
    int v = loaded_version();
    return v >= 0 && (v & 0xffff00) == (NGTCP2_VERSION_NUM & 0xffff00);
}

/* The tracker's shared key (QASM_TRACKER_KEY; len 0: none), set once by do_init. */
static struct qasm_auth_key g_key;

/* Called with g_init_lock held, once. */
static int do_init(const char *tracker, unsigned flags)
{
    const char *s;
    int lvl = QASM_LOG_WARN;

    g_init_done = 1;
    resolve();
    if ((s = getenv("QASM_AGENT_LOG")) != NULL && qasm_log_level_parse(s) >= 0)
        lvl = qasm_log_level_parse(s);
    qasm_log_init("qasm-agent", (enum qasm_log_level)lvl);
    if ((s = getenv("QASM_AGENT_REFRESH")) != NULL && qasm_duration_parse(&g_refresh, s) < 0)
        g_refresh = DEFAULT_REFRESH;
    g_prereg = (flags & QASM_AGENT_NO_PREREG)     ? PREREG_OFF
               : (flags & QASM_AGENT_PREREG_QLOG) ? PREREG_QLOG
                                                  : PREREG_DECRYPT;
    if ((s = getenv("QASM_AGENT_PREREG")) != NULL) {
        if (strcmp(s, "off") == 0)
            g_prereg = PREREG_OFF;
        else if (strcmp(s, "qlog") == 0)
            g_prereg = PREREG_QLOG;
        else if (strcmp(s, "decrypt") == 0)
            g_prereg = PREREG_DECRYPT;
    }
    g_interpose = !(flags & QASM_AGENT_NO_INTERPOSE);
    if (!tracker || !*tracker) {
        qasm_debug("QASM_TRACKER not set: inert");
        return -EINVAL;
    }
    if ((s = getenv("QASM_TRACKER_KEY")) != NULL && *s) {
        char err[512];
        if (qasm_keyfile_load(&g_key, s, err, sizeof(err)) < 0) {
            /* Reports without the key MAC would be refused by a tracker that wants it. */
            qasm_error("QASM_TRACKER_KEY %s: not reporting", err);
            return -EINVAL;
        }
    }
    if (!abi_ok()) {
        qasm_warn("libngtcp2 version 0x%06x is not the 0.12.x ABI this agent handles: "
                  "passing through", (unsigned)loaded_version());
        return -EPROTONOSUPPORT;
    }
    if (open_tracker(tracker, &s) < 0) {
        qasm_warn("degraded: tracker unreachable: tracker \"%s\": %s: not reporting", tracker, s);
        return -EINVAL;
    }
    if (qasm_htab_new(&g_conns, 64, entry_eq) < 0)
        return -ENOMEM;
    snprintf(g_tracker, sizeof(g_tracker), "%s", tracker);
    qasm_degrade_init(&g_dg_send, QASM_DEGRADE_ENDS_QUIET, 0);
    qasm_degrade_init(&g_dg_family, QASM_DEGRADE_ENDS_QUIET, 0);
    g_enabled = 1;
    qasm_info("reporting to %s (refresh %.1fs, pre-registration %s, interpose %s)", tracker,
              (double)g_refresh / 1e9, prereg_names[g_prereg], g_interpose ? "on" : "off");
    return 0;
}

static void init_from_env(void)
{
    pthread_mutex_lock(&g_init_lock);
    if (!g_init_done)
        do_init(getenv("QASM_TRACKER"), 0);
    pthread_mutex_unlock(&g_init_lock);
}

static inline void agent_init(void)
{
    if (__builtin_expect(!atomic_load_explicit(&g_ready, memory_order_acquire), 0)) {
        pthread_once(&g_once, init_from_env);
        atomic_store_explicit(&g_ready, 1, memory_order_release);
    }
}

EXPORT int qasm_agent_init(const char *tracker, unsigned flags)
{
    int rv;

    pthread_mutex_lock(&g_init_lock);
    rv = g_init_done ? -EALREADY : do_init(tracker ? tracker : getenv("QASM_TRACKER"), flags);
    pthread_mutex_unlock(&g_init_lock);
    return rv;
}

EXPORT int qasm_agent_enabled(void)
{
    agent_init();
    return g_enabled;
}

/* ------------------------------------------------------------- reporting */

static void log_event(const struct agent_entry *e, const struct qasm_agent_ev *ev)
{
    char cid[QASM_CID_HEXLEN], addr[QASM_ADDR_STRLEN], odcid[QASM_CID_HEXLEN];

    if (!qasm_log_enabled(QASM_LOG_DEBUG))
        return;
    qasm_cid_hex(odcid, &e->st.odcid);
    switch ((enum qasm_agent_ev_type)ev->type) {
    case QASM_AGENT_EV_OPEN:
        qasm_debug("conn %s open scid=%s local=%s server=%s", odcid,
                   qasm_cid_hex(cid, &e->st.scid),
                   qasm_addr_format(addr, sizeof(addr), &e->st.local),
                   qasm_addr_format((char[QASM_ADDR_STRLEN]){ 0 }, QASM_ADDR_STRLEN,
                                    &e->st.remote));
        break;
    case QASM_AGENT_EV_DCID_ACTIVE:
    case QASM_AGENT_EV_DCID_SPARE:
    case QASM_AGENT_EV_DCID_RETIRED:
        qasm_debug("conn %s %s seq=%lld cid=%s", odcid,
                   qasm_agent_ev_name((enum qasm_agent_ev_type)ev->type),
                   ev->seq == QASM_AGENT_SEQ_UNKNOWN ? -1LL : (long long)ev->seq,
                   qasm_cid_hex(cid, &ev->cid));
        break;
    case QASM_AGENT_EV_ADDR:
        qasm_debug("conn %s addr %s%s", odcid, qasm_addr_format(addr, sizeof(addr), &ev->addr),
                   ev->ahead ? " (ahead)" : "");
        break;
    case QASM_AGENT_EV_CLOSE:
        qasm_debug("conn %s close (%s)", odcid,
                   qasm_agent_close_reason_name((enum qasm_agent_close_reason)ev->reason));
        break;
    case QASM_AGENT_EV_REFRESH:
        qasm_debug("conn %s refresh", odcid);
        break;
    }
}

/*
 * Outgoing reports of one flush, sent with one sendmmsg (a migration's
 * DCID and address reports leave in one system call). Guarded by g_lock.
 */
#define BATCH_MAX (QASM_AGENT_EVQ_LEN + 1)
static uint8_t g_batch_buf[16384];
static size_t g_batch_used;
static struct iovec g_batch_iov[BATCH_MAX];
static struct mmsghdr g_batch_msg[BATCH_MAX];
static union {
    char buf[QASM_ADDR_PKTINFO_SPACE];
    struct cmsghdr align;
} g_batch_cmsg[BATCH_MAX];
static unsigned g_batch_n;
static int g_batch_fam; /* FAM_4 or FAM_6: the socket the batch goes out on */


/*
 * Each report leaves from the client address it names (IP_PKTINFO /
 * IPV6_PKTINFO), so that a tracker with `--trust source` accepts it even
 * when the connection uses another local IP than the route to the tracker
 * (e.g. a migration to 127.0.0.5, or a tracker on loopback). Not possible
 * across families or for an unspecified address: the kernel chooses then.
 */
static void set_source(struct msghdr *mh, unsigned i, const struct qasm_addr *src)
{
    qasm_addr_set_pktinfo(mh, g_batch_cmsg[i].buf, src, g_batch_fam == FAM_6 ? AF_INET6 : AF_INET);
}

/* The kernel refused |n| reports with |err| (ECONNREFUSED: nothing listens there). */
static void send_failed(unsigned n, int err, qasm_tstamp now)
{
    struct qasm_degrade_line l;
    g_stats.send_errors += n;
    if (qasm_degrade_hit(&g_dg_send, n, now, &l))
        qasm_log_degrade(&l, "tracker unreachable", "reports to %s over IPv%d: %s "
                         "(send_errors %llu)", g_tracker, g_batch_fam == FAM_6 ? 6 : 4,
                         strerror(err), (unsigned long long)g_stats.send_errors);
}

/* Causes quiet for 10 s are said to have ended (the agent has no timer: checked per batch). */
static void degrade_poll(qasm_tstamp now)
{
    struct qasm_degrade_line l;
    if (qasm_degrade_poll(&g_dg_send, now, &l))
        qasm_log_degrade(&l, "tracker unreachable", "reports to %s", g_tracker);
    if (qasm_degrade_poll(&g_dg_family, now, &l))
        qasm_log_degrade(&l, "reports over another address family", "reports to %s",
                         g_tracker);
}

static void batch_send(void)
{
    unsigned done = 0;
    int retried = 0;
    int fd = g_fds[g_batch_fam];
    qasm_tstamp now = qasm_now();

    while (done < g_batch_n) {
        int rv = sendmmsg(fd, g_batch_msg + done, g_batch_n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (rv <= 0) {
            /* A source address the kernel refuses: send that one without it. */
            if (errno == EINVAL && !retried && g_batch_msg[done].msg_hdr.msg_control) {
                g_batch_msg[done].msg_hdr.msg_control = NULL;
                g_batch_msg[done].msg_hdr.msg_controllen = 0;
                retried = 1;
                continue;
            }
            send_failed(g_batch_n - done, errno, now);
            break;
        }
        retried = 0;
        g_stats.reports_sent += (unsigned)rv;
        done += (unsigned)rv;
    }
    g_batch_n = 0;
    g_batch_used = 0;
    degrade_poll(now);
}

/*
 * The socket for a connection whose client address is |local|: its own
 * family's; else the other, said once as a degraded cause with the fix: a
 * tracker with --trust source (its default) refuses a report whose source
 * IP is not the connection's client IP.
 */
static int pick_family(const struct qasm_addr *local)
{
    int want = fam_index(local->family ? local->family : AF_INET);
    if (g_fds[want] >= 0)
        return want;
    struct qasm_degrade_line l;
    char a[QASM_ADDR_STRLEN];
    if (qasm_degrade_hit(&g_dg_family, 1, qasm_now(), &l))
        qasm_log_degrade(&l, "reports over another address family",
                         "connection from %s is IPv%d but QASM_TRACKER=%s has no IPv%d address: "
                         "a tracker with --trust source (its default) refuses these reports; "
                         "give both (QASM_TRACKER=127.0.0.1:P,[::1]:P, the tracker listening "
                         "on both), or use a key (QASM_TRACKER_KEY, qasm-tracker --trust mac)",
                         qasm_addr_format(a, sizeof(a), local), want == FAM_6 ? 6 : 4, g_tracker,
                         want == FAM_6 ? 6 : 4);
    return 1 - want;
}

static void send_one(struct agent_entry *e, const struct qasm_agent_ev *ev)
{
    ssize_t n;
    struct msghdr *mh;
    const struct qasm_addr *src = ev->type == QASM_AGENT_EV_ADDR ? &ev->addr : &e->st.local;
    int fam = pick_family(src);

    log_event(e, ev);
    if (g_batch_n && fam != g_batch_fam)
        batch_send();
    if (g_batch_n == BATCH_MAX || sizeof(g_batch_buf) - g_batch_used < QASM_PROTO_MAX_MSG)
        batch_send();
    g_batch_fam = fam;
    n = qasm_agent_report_encode(g_batch_buf + g_batch_used, QASM_PROTO_MAX_MSG, &e->st, ev,
                                 &g_key);
    if (n < 0) {
        g_stats.encode_errors++;
        return;
    }
    g_batch_iov[g_batch_n].iov_base = g_batch_buf + g_batch_used;
    g_batch_iov[g_batch_n].iov_len = (size_t)n;
    memset(&g_batch_msg[g_batch_n], 0, sizeof(g_batch_msg[0]));
    mh = &g_batch_msg[g_batch_n].msg_hdr;
    mh->msg_iov = &g_batch_iov[g_batch_n];
    mh->msg_iovlen = 1;
    set_source(mh, g_batch_n, src);
    g_batch_n++;
    g_batch_used += (size_t)n;
}

/* Sends the queued events of |e|; called with g_lock held. */
static void flush(struct agent_entry *e, struct qasm_agent_evq *q)
{
    for (size_t i = 0; i < q->n; i++) {
        switch ((enum qasm_agent_ev_type)q->ev[i].type) {
        case QASM_AGENT_EV_DCID_ACTIVE:
            g_stats.dcid_changes++;
            break;
        case QASM_AGENT_EV_ADDR:
            g_stats.addr_changes += !q->ev[i].ahead; /* announcements: paths_announced */
            break;
        case QASM_AGENT_EV_DCID_SPARE:
            g_stats.spares_learnt++;
            break;
        case QASM_AGENT_EV_REFRESH:
            g_stats.refreshes++;
            break;
        case QASM_AGENT_EV_CLOSE:
            g_stats.closes++;
            break;
        default:
            break;
        }
        send_one(e, &q->ev[i]);
    }
    if (q->dropped) {
        /* Lost events: the full state repairs the tracker. */
        struct qasm_agent_ev ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = QASM_AGENT_EV_REFRESH;
        g_stats.events_dropped += q->dropped;
        if (!e->st.closed)
            send_one(e, &ev);
    }
    if (g_batch_n)
        batch_send();
    qasm_agent_evq_init(q);
}

/* ----------------------------------------------------------- conn table */

static inline struct agent_entry *entry_get(ngtcp2_conn *conn)
{
    uint64_t gen = atomic_load_explicit(&g_gen, memory_order_acquire);
    struct agent_entry *e;

    if (tc_conn == conn && tc_gen == gen)
        return tc_entry;
    if (atomic_load_explicit(&g_nlive, memory_order_relaxed) == 0) {
        e = NULL;
    } else {
        pthread_mutex_lock(&g_lock);
        e = qasm_htab_find(g_conns, conn_hash(conn), &conn);
        pthread_mutex_unlock(&g_lock);
    }
    tc_conn = conn;
    tc_entry = e;
    tc_gen = gen;
    return e;
}

/* The entry for |conn| inside a callback: the table, or the one being created. */
static struct agent_entry *entry_cb(ngtcp2_conn *conn)
{
    struct agent_entry *e = entry_get(conn);

    if (!e && tls_pending && (tls_pending->conn == NULL || tls_pending->conn == conn))
        e = tls_pending;
    if (!e && tls_cur && tls_cur->conn == conn)
        e = tls_cur;
    return e;
}

static void addr_from_ngtcp2(struct qasm_addr *a, const ngtcp2_addr *na)
{
    memset(a, 0, sizeof(*a));
    if (na->addr && na->addrlen)
        qasm_addr_from_sockaddr(a, (const struct sockaddr *)na->addr, (socklen_t)na->addrlen);
}

static void cid_from_ngtcp2(struct qasm_cid *c, const ngtcp2_cid *nc)
{
    qasm_cid_set(c, nc->data, nc->datalen > QASM_CID_MAXLEN ? QASM_CID_MAXLEN : nc->datalen);
}

static void copy_raw(struct sockaddr_storage *dst, ngtcp2_socklen *dlen, const ngtcp2_addr *a)
{
    size_t n = a->addrlen < sizeof(*dst) ? a->addrlen : sizeof(*dst);
    memcpy(dst, a->addr, n);
    *dlen = (ngtcp2_socklen)n;
}

static int raw_differs(const struct sockaddr_storage *s, ngtcp2_socklen slen, const ngtcp2_addr *a)
{
    if (slen != a->addrlen)
        return 1;
    switch (slen) { /* constant sizes: the compiler inlines these */
    case sizeof(struct sockaddr_in):
        return memcmp(s, a->addr, sizeof(struct sockaddr_in)) != 0;
    case sizeof(struct sockaddr_in6):
        return memcmp(s, a->addr, sizeof(struct sockaddr_in6)) != 0;
    default:
        return slen && memcmp(s, a->addr, slen) != 0;
    }
}

/* Observe the current DCID and path of |e|'s connection; g_lock held. */
static void observe_locked(struct agent_entry *e, struct qasm_agent_evq *q)
{
    const ngtcp2_cid *d = ngtcp2_conn_get_dcid(e->conn);
    const ngtcp2_path *p = ngtcp2_conn_get_path(e->conn);
    struct qasm_cid cid;
    struct qasm_addr local, remote;

    memcpy(&e->last_dcid, d, sizeof(*d)); /* padding included: see cid_differs */
    copy_raw(&e->last_local, &e->last_local_len, &p->local);
    copy_raw(&e->last_remote, &e->last_remote_len, &p->remote);
    cid_from_ngtcp2(&cid, d);
    addr_from_ngtcp2(&local, &p->local);
    addr_from_ngtcp2(&remote, &p->remote);
    qasm_agent_conn_observe(&e->st, &cid, &local, &remote, e->last_ts, q);
}

static int cid_differs(const ngtcp2_cid *a, const ngtcp2_cid *b)
{
    /* Whole-struct compare with a constant size (inlined): trailing bytes are
     * stable between changes, a false positive only costs one slow path. */
    return memcmp(a, b, sizeof(*a)) != 0;
}

/*
 * Servers send NEW_CONNECTION_ID after the handshake and as replacements
 * about one PTO after the client retired a CID (i.e. after a migration).
 * Every decrypted packet is walked during a window after such events (and
 * after a CID was learnt); outside it 1 packet in 16, which keeps the
 * frame walk off most of a long transfer. A CID missed this way is still
 * reported at its ACTIVATE, before the first packet that uses it.
 * Window: 50 ms + 4 PTO (srtt + 4 rttvar + 25 ms max_ack_delay).
 */
static void open_scan_window(struct agent_entry *e)
{
    ngtcp2_conn_stat cs;
    ngtcp2_duration pto, w;

    if (!e->conn || e->scan_until == UINT64_MAX)
        return;
    ngtcp2_conn_get_conn_stat(e->conn, &cs);
    pto = cs.smoothed_rtt + (4 * cs.rttvar > QASM_MS ? 4 * cs.rttvar : QASM_MS) + 25 * QASM_MS;
    w = 50 * QASM_MS + 4 * pto;
    if (e->last_ts + w > e->scan_until)
        e->scan_until = e->last_ts + w;
}

static void poll_slow(struct agent_entry *e, ngtcp2_tstamp ts, int due)
    __attribute__((noinline));

/*
 * The hot path after every wrapped call. Silent DCID/path changes in ngtcp2
 * 0.12.1 happen (1) during the handshake (server SCID, Retry), (2) next to
 * a callback the agent wraps (path_validation SUCCESS/FAILURE, ACTIVATE),
 * (3) in the calls the agent wraps explicitly (migrations, set_local_addr).
 * So after the handshake the DCID and path are compared only when a
 * callback fired, when |force| (compare now), or every 64th call as a
 * safety net; a refresh that is due always goes through. Locking only on a
 * change.
 */
static inline void poll_conn(struct agent_entry *e, ngtcp2_tstamp ts, int force)
{
    int due;

    if (e->st.closed)
        return;
    if (ts) {
        e->last_ts = ts;
        if (e->st.last_refresh == 0)
            e->st.last_refresh = ts;
    }
    due = g_refresh && ts > e->st.last_refresh && ts - e->st.last_refresh >= g_refresh;
    if (!force && e->hs_done && !e->poll_pending && (++e->ncalls & 63) != 0 && !due)
        return;
    poll_slow(e, ts, due);
}

static void poll_slow(struct agent_entry *e, ngtcp2_tstamp ts, int due)
{
    qasm_tstamp t0;
    const ngtcp2_cid *d;
    const ngtcp2_path *p;
    int changed;
    struct qasm_agent_evq q;

    e->poll_pending = 0;
    d = ngtcp2_conn_get_dcid(e->conn);
    p = ngtcp2_conn_get_path(e->conn);
    changed = cid_differs(d, &e->last_dcid) ||
              raw_differs(&e->last_local, e->last_local_len, &p->local) ||
              raw_differs(&e->last_remote, e->last_remote_len, &p->remote);
    if (!changed && !due)
        return;
    qasm_agent_evq_init(&q);
    t0 = busy_begin();
    if (changed)
        observe_locked(e, &q);
    if (due)
        qasm_agent_conn_tick(&e->st, ts, g_refresh, &q);
    flush(e, &q);
    busy_end(t0);
}

static void close_conn(struct agent_entry *e, enum qasm_agent_close_reason reason)
{
    qasm_tstamp t0;
    struct qasm_agent_evq q;

    if (e->st.closed)
        return;
    qasm_agent_evq_init(&q);
    t0 = busy_begin();
    qasm_agent_conn_close(&e->st, reason, e->last_ts, &q);
    flush(e, &q);
    busy_end(t0);
}

static void dcid_status(struct agent_entry *e, int type, uint64_t seq, const ngtcp2_cid *cid)
{
    qasm_tstamp t0;
    struct qasm_agent_evq q;
    struct qasm_cid c;

    if (e->st.closed || !e->conn)
        return;
    cid_from_ngtcp2(&c, cid);
    qasm_agent_evq_init(&q);
    t0 = busy_begin();
    if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE) {
        qasm_agent_conn_activate(&e->st, seq, &c, e->last_ts, &q);
        /* Immediate migration: the path is already the new one here. */
        observe_locked(e, &q);
    } else {
        qasm_agent_conn_deactivate(&e->st, seq, &c, e->last_ts, &q);
    }
    flush(e, &q);
    busy_end(t0);
}

static void learn(struct agent_entry *e, uint64_t seq, const struct qasm_cid *cid)
{
    qasm_tstamp t0;
    struct qasm_agent_evq q;

    if (e->st.closed)
        return;
    qasm_agent_evq_init(&q);
    t0 = busy_begin();
    qasm_agent_conn_learn(&e->st, seq, cid, e->last_ts, &q);
    flush(e, &q);
    busy_end(t0);
}

/*
 * The connection's secret (docs/PROTOCOL.md, "Authentication"): 16 random
 * bytes from the kernel, which only this agent and the tracker learn. If
 * the kernel has none to give (it never fails after boot), the reports go
 * out with an all-zero secret, which anyone could guess: said once.
 */
static void conn_secret(uint8_t out[QASM_PROTO_SECRET_LEN])
{
    static int warned;
    size_t got = 0;
    while (got < QASM_PROTO_SECRET_LEN) {
        ssize_t n = getrandom(out + got, QASM_PROTO_SECRET_LEN - got, GRND_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == QASM_PROTO_SECRET_LEN)
        return;
    memset(out, 0, QASM_PROTO_SECRET_LEN);
    if (!warned) {
        warned = 1;
        qasm_warn("agent: no random bytes for connection secrets (%s): reports are forgeable",
                  strerror(errno));
    }
}

/* Inserts |e| (conn set) and reports it opened. */
static int entry_insert(struct agent_entry *e, const struct qasm_cid *odcid,
                        const struct qasm_cid *scid, ngtcp2_tstamp ts)
{
    struct qasm_agent_evq q;
    const ngtcp2_path *p = ngtcp2_conn_get_path(e->conn);
    struct qasm_addr local, remote;
    int rv;

    addr_from_ngtcp2(&local, &p->local);
    addr_from_ngtcp2(&remote, &p->remote);
    e->last_ts = ts;
    memcpy(&e->last_dcid, ngtcp2_conn_get_dcid(e->conn), sizeof(e->last_dcid));
    copy_raw(&e->last_local, &e->last_local_len, &p->local);
    copy_raw(&e->last_remote, &e->last_remote_len, &p->remote);
    qasm_agent_evq_init(&q);
    pthread_mutex_lock(&g_lock);
    rv = qasm_htab_insert(g_conns, conn_hash(e->conn), e);
    if (rv == 0) {
        atomic_fetch_add(&g_gen, 1);
        atomic_fetch_add(&g_nlive, 1);
        g_stats.conns_tracked++;
        g_stats.conns_live++;
        qasm_agent_conn_open(&e->st, odcid, scid, &local, &remote, ts, &q);
        conn_secret(e->st.secret);
        /* The DCID in use may already differ from the O-DCID (explicit tracking late). */
        observe_locked(e, &q);
        flush(e, &q);
    }
    pthread_mutex_unlock(&g_lock);
    return rv;
}

static void entry_remove(struct agent_entry *e)
{
    pthread_mutex_lock(&g_lock);
    if (qasm_htab_remove_ptr(g_conns, conn_hash(e->conn), e) == 0) {
        atomic_fetch_add(&g_gen, 1);
        atomic_fetch_sub(&g_nlive, 1);
        g_stats.conns_live--;
    }
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------------ callbacks */

static int cb_dcid_status(ngtcp2_conn *conn, int type, uint64_t seq, const ngtcp2_cid *cid,
                          const uint8_t *token, void *user_data)
{
    struct agent_entry *e = entry_cb(conn);

    if (!e)
        return g_app_dcid_status ? g_app_dcid_status(conn, type, seq, cid, token, user_data) : 0;
    e->poll_pending = 1;
    if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE && !e->hs_done) {
        e->hs_done = 1;
        e->scan_until = 0; /* the handshake's open-ended window ends: from now on, timed */
    }
    if (e->conn)
        open_scan_window(e);
    dcid_status(e, type, seq, cid);
    return e->app_dcid_status ? e->app_dcid_status(conn, type, seq, cid, token, user_data) : 0;
}

static int cb_path_validation(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
                              ngtcp2_path_validation_result res, void *user_data)
{
    struct agent_entry *e = entry_cb(conn);

    if (!e)
        return g_app_path_validation ? g_app_path_validation(conn, flags, path, res, user_data)
                                     : 0;
    e->poll_pending = 1; /* FAILURE: the fallback switch follows in this call */
    if (e->conn)
        poll_conn(e, 0, 1);
    return e->app_path_validation
               ? e->app_path_validation(conn, flags, path, res, user_data)
               : 0;
}

static int cb_recv_stateless_reset(ngtcp2_conn *conn, const ngtcp2_pkt_stateless_reset *sr,
                                   void *user_data)
{
    struct agent_entry *e = entry_cb(conn);

    if (!e)
        return g_app_recv_stateless_reset ? g_app_recv_stateless_reset(conn, sr, user_data) : 0;
    if (e->conn)
        close_conn(e, QASM_AGENT_CLOSE_RESET);
    return e->app_recv_stateless_reset ? e->app_recv_stateless_reset(conn, sr, user_data) : 0;
}

/* The app's qlog writer when we do not know the connection (qlog gives only user_data). */
static ngtcp2_qlog_write app_qlog_for(void *user_data)
{
    ngtcp2_qlog_write w = NULL;
    size_t pos = 0;
    struct agent_entry *e;

    pthread_mutex_lock(&g_lock);
    if (!g_app_qlog_many) {
        w = g_app_qlog;
    } else {
        while ((e = qasm_htab_next(g_conns, &pos)) != NULL)
            if (e->user_data == user_data && e->app_qlog_write) {
                w = e->app_qlog_write;
                break;
            }
    }
    pthread_mutex_unlock(&g_lock);
    return w;
}

static void cb_qlog_write(void *user_data, uint32_t flags, const void *data, size_t datalen)
{
    struct agent_entry *e = tls_cur ? tls_cur : tls_pending;
    ngtcp2_qlog_write app;

    if (e && tls_in_read && e->conn && datalen &&
        memmem(data, datalen, "new_connection_id", 17) != NULL) {
        struct qasm_agent_newcid nc[16];
        size_t n = qasm_agent_qlog_scan(data, datalen, nc, 16);
        for (size_t i = 0; i < n; i++)
            learn(e, nc[i].seq, &nc[i].cid);
    }
    app = e ? e->app_qlog_write : app_qlog_for(user_data);
    if (app)
        app(user_data, flags, data, datalen);
}

/*
 * Wraps the application's decrypt (ngtcp2_crypto_decrypt_cb for most): after
 * a successful decryption inside read_pkt, the plaintext frames are walked
 * for NEW_CONNECTION_ID. ngtcp2 gives no conn here: tls_cur names it.
 */
static int decrypt_and_scan(struct agent_entry *e, ngtcp2_decrypt app, uint8_t *dest,
                            const ngtcp2_crypto_aead *aead,
                            const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext,
                            size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
                            const uint8_t *aad, size_t aadlen) __attribute__((noinline));

static int decrypt_and_scan(struct agent_entry *e, ngtcp2_decrypt app, uint8_t *dest,
                            const ngtcp2_crypto_aead *aead,
                            const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext,
                            size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
                            const uint8_t *aad, size_t aadlen)
{
    struct qasm_agent_newcid nc[8];
    size_t n;
    int rv = app(dest, aead, aead_ctx, ciphertext, ciphertextlen, nonce, noncelen, aad, aadlen);

    if (rv != 0 || ciphertextlen <= aead->max_overhead)
        return rv;
    n = qasm_agent_frames_scan(dest, ciphertextlen - aead->max_overhead, nc, 8);
    for (size_t i = 0; i < n; i++)
        learn(e, nc[i].seq, &nc[i].cid);
    if (n)
        open_scan_window(e);
    return rv;
}

static int cb_decrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                      const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext,
                      size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
                      const uint8_t *aad, size_t aadlen)
{
    struct agent_entry *e = tls_cur;
    ngtcp2_decrypt app = e && e->app_decrypt ? e->app_decrypt : g_app_decrypt;

    /* Most packets: nothing to look at, a plain tail call. */
    if (!e || !tls_in_read || !e->conn || e->st.closed ||
        (e->last_ts > e->scan_until && (++e->nscan & 15) != 0))
        return app(dest, aead, aead_ctx, ciphertext, ciphertextlen, nonce, noncelen, aad, aadlen);
    return decrypt_and_scan(e, app, dest, aead, aead_ctx, ciphertext, ciphertextlen, nonce,
                            noncelen, aad, aadlen);
}

/* ------------------------------------------------------------- wrappers */

static inline struct agent_entry *wrapped(ngtcp2_conn *conn)
{
    agent_init();
    return g_enabled && g_interpose ? entry_get(conn) : NULL;
}

/*
 * Before a call into ngtcp2 on |conn|: a wrapped connection's entry becomes
 * tls_cur, so the callbacks ngtcp2 makes inside find it; |*prev| is what
 * call_leave restores. Returns the entry, NULL (tls_cur untouched) if |conn|
 * is not wrapped.
 */
static inline struct agent_entry *call_enter(ngtcp2_conn *conn, struct agent_entry **prev)
{
    struct agent_entry *e = wrapped(conn);
    *prev = tls_cur;
    if (e)
        tls_cur = e;
    return e;
}

/* After the call: restores tls_cur and polls the CIDs and path (wrapped only); returns |rv|. */
static inline ngtcp2_ssize call_leave(struct agent_entry *e, struct agent_entry *prev,
                                       ngtcp2_tstamp ts, ngtcp2_ssize rv)
{
    if (e) {
        tls_cur = prev;
        poll_conn(e, ts, 0);
    }
    return rv;
}

EXPORT int ngtcp2_conn_client_new_versioned(
    ngtcp2_conn **pconn, const ngtcp2_cid *dcid, const ngtcp2_cid *scid, const ngtcp2_path *path,
    uint32_t client_chosen_version, int callbacks_version, const ngtcp2_callbacks *callbacks,
    int settings_version, const ngtcp2_settings *settings, int transport_params_version,
    const ngtcp2_transport_params *params, const ngtcp2_mem *mem, void *user_data)
{
    static int warned;
    ngtcp2_callbacks cb;
    ngtcp2_settings st;
    struct agent_entry *e;
    struct qasm_cid odcid, myscid;
    int rv;

    agent_init();
    if (!g_enabled || !g_interpose || callbacks_version != NGTCP2_CALLBACKS_VERSION_V1 ||
        settings_version != NGTCP2_SETTINGS_VERSION_V1 || !callbacks || !settings ||
        (e = calloc(1, sizeof(*e))) == NULL) {
        if (g_enabled && g_interpose && !warned) {
            warned = 1;
            qasm_warn("client_new: callbacks/settings version %d/%d not handled: untracked",
                      callbacks_version, settings_version);
        }
        return real_client_new(pconn, dcid, scid, path, client_chosen_version, callbacks_version,
                               callbacks, settings_version, settings, transport_params_version,
                               params, mem, user_data);
    }
    cb = *callbacks;
    e->app_dcid_status = cb.dcid_status;
    e->app_path_validation = cb.path_validation;
    e->app_recv_stateless_reset = cb.recv_stateless_reset;
    cb.dcid_status = cb_dcid_status;
    cb.path_validation = cb_path_validation;
    cb.recv_stateless_reset = cb_recv_stateless_reset;
    st = *settings;
    e->user_data = user_data;
    pthread_mutex_lock(&g_lock);
    g_app_dcid_status = e->app_dcid_status;
    g_app_path_validation = e->app_path_validation;
    g_app_recv_stateless_reset = e->app_recv_stateless_reset;
    if (g_prereg == PREREG_DECRYPT && cb.decrypt) {
        e->app_decrypt = cb.decrypt;
        g_app_decrypt = cb.decrypt;
        cb.decrypt = cb_decrypt;
    }
    if (g_prereg == PREREG_QLOG) {
        e->app_qlog_write = st.qlog.write;
        st.qlog.write = cb_qlog_write;
        if (e->app_qlog_write) {
            if (g_app_qlog && g_app_qlog != e->app_qlog_write)
                g_app_qlog_many = 1;
            g_app_qlog = e->app_qlog_write;
        }
    }
    pthread_mutex_unlock(&g_lock);
    tls_pending = e;
    rv = real_client_new(pconn, dcid, scid, path, client_chosen_version, callbacks_version, &cb,
                         settings_version, &st, transport_params_version, params, mem, user_data);
    tls_pending = NULL;
    if (rv != 0) {
        free(e);
        return rv;
    }
    e->conn = *pconn;
    e->scan_until = UINT64_MAX; /* until the handshake completes */
    cid_from_ngtcp2(&odcid, dcid);
    cid_from_ngtcp2(&myscid, scid);
    if (entry_insert(e, &odcid, &myscid, settings->initial_ts) != 0) {
        /* Out of memory: untracked; the callbacks chain through g_app_* (set above). */
        free(e);
    }
    return rv;
}

/*
 * Every datagram goes to the real function unchanged, hostile ones included:
 * in ngtcp2 0.12.1 read_pkt asserts nothing about the packet bytes (an empty
 * datagram gives NGTCP2_ERR_INVALID_ARGUMENT, truncated or foreign packets are
 * discarded inside), so the application gets exactly the return value it
 * would get without the agent. Its one assert is on the connection's state
 * (a caller bug), not on input. Checked with tests/integration/hostile_datagrams.sh.
 */
EXPORT int ngtcp2_conn_read_pkt_versioned(ngtcp2_conn *conn, const ngtcp2_path *path,
                                          int pkt_info_version, const ngtcp2_pkt_info *pi,
                                          const uint8_t *pkt, size_t pktlen, ngtcp2_tstamp ts)
{
    struct agent_entry *e = wrapped(conn), *prev;
    int rv, prev_read;

    if (!e)
        return real_read_pkt(conn, path, pkt_info_version, pi, pkt, pktlen, ts);
    e->last_ts = ts;
    prev = tls_cur;
    prev_read = tls_in_read;
    tls_cur = e;
    tls_in_read = 1;
    rv = real_read_pkt(conn, path, pkt_info_version, pi, pkt, pktlen, ts);
    tls_cur = prev;
    tls_in_read = prev_read;
    poll_conn(e, ts, 0);
    if (rv == NGTCP2_ERR_DRAINING)
        close_conn(e, QASM_AGENT_CLOSE_DRAINING);
    return rv;
}

EXPORT ngtcp2_ssize ngtcp2_conn_write_pkt_versioned(ngtcp2_conn *conn, ngtcp2_path *path,
                                                    int pkt_info_version, ngtcp2_pkt_info *pi,
                                                    uint8_t *dest, size_t destlen,
                                                    ngtcp2_tstamp ts)
{
    struct agent_entry *prev, *e = call_enter(conn, &prev);
    return call_leave(e, prev, ts,
                       real_write_pkt(conn, path, pkt_info_version, pi, dest, destlen, ts));
}

EXPORT ngtcp2_ssize ngtcp2_conn_writev_stream_versioned(
    ngtcp2_conn *conn, ngtcp2_path *path, int pkt_info_version, ngtcp2_pkt_info *pi,
    uint8_t *dest, size_t destlen, ngtcp2_ssize *pdatalen, uint32_t flags, int64_t stream_id,
    const ngtcp2_vec *datav, size_t datavcnt, ngtcp2_tstamp ts)
{
    struct agent_entry *prev, *e = call_enter(conn, &prev);
    return call_leave(e, prev, ts,
                       real_writev_stream(conn, path, pkt_info_version, pi, dest, destlen,
                                          pdatalen, flags, stream_id, datav, datavcnt, ts));
}

EXPORT ngtcp2_ssize ngtcp2_conn_writev_datagram_versioned(
    ngtcp2_conn *conn, ngtcp2_path *path, int pkt_info_version, ngtcp2_pkt_info *pi,
    uint8_t *dest, size_t destlen, int *paccepted, uint32_t flags, uint64_t dgram_id,
    const ngtcp2_vec *datav, size_t datavcnt, ngtcp2_tstamp ts)
{
    struct agent_entry *prev, *e = call_enter(conn, &prev);
    return call_leave(e, prev, ts,
                       real_writev_datagram(conn, path, pkt_info_version, pi, dest, destlen,
                                            paccepted, flags, dgram_id, datav, datavcnt, ts));
}

EXPORT ngtcp2_ssize ngtcp2_conn_write_connection_close_versioned(
    ngtcp2_conn *conn, ngtcp2_path *path, int pkt_info_version, ngtcp2_pkt_info *pi,
    uint8_t *dest, size_t destlen, const ngtcp2_connection_close_error *ccerr, ngtcp2_tstamp ts)
{
    struct agent_entry *prev, *e = call_enter(conn, &prev);
    ngtcp2_ssize rv = real_write_cc(conn, path, pkt_info_version, pi, dest, destlen, ccerr, ts);

    if (!e)
        return rv;
    tls_cur = prev;
    e->last_ts = ts;
    if (rv >= 0)
        close_conn(e, ccerr && ccerr->type ==
                                   NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT_IDLE_CLOSE
                          ? QASM_AGENT_CLOSE_IDLE
                          : QASM_AGENT_CLOSE_LOCAL);
    return rv;
}

EXPORT int ngtcp2_conn_handle_expiry(ngtcp2_conn *conn, ngtcp2_tstamp ts)
{
    struct agent_entry *prev, *e = call_enter(conn, &prev);
    int rv = (int)call_leave(e, prev, ts, real_handle_expiry(conn, ts));

    if (e && rv == NGTCP2_ERR_IDLE_CLOSE)
        close_conn(e, QASM_AGENT_CLOSE_IDLE);
    return rv;
}

/* A migration through |fn| (one of the two real initiate functions), timed for the stats. */
static int migrate(ngtcp2_conn *conn, const ngtcp2_path *path, ngtcp2_tstamp ts,
                   int (*fn)(ngtcp2_conn *, const ngtcp2_path *, ngtcp2_tstamp))
{
    struct agent_entry *prev, *e = wrapped(conn);

    if (!e)
        return fn(conn, path, ts);
    e->last_ts = ts;
    uint64_t b0 = tls_busy_ns;
    prev = tls_cur;
    tls_cur = e;
    int rv = fn(conn, path, ts);
    tls_cur = prev;
    poll_conn(e, ts, 1);
    if (rv == 0) {
        pthread_mutex_lock(&g_lock);
        g_stats.migrations++;
        g_stats.migration_ns += tls_busy_ns - b0;
        pthread_mutex_unlock(&g_lock);
    }
    return rv;
}

EXPORT int ngtcp2_conn_initiate_immediate_migration(ngtcp2_conn *conn, const ngtcp2_path *path,
                                                    ngtcp2_tstamp ts)
{
    return migrate(conn, path, ts, real_imm_migration);
}

EXPORT int ngtcp2_conn_initiate_migration(ngtcp2_conn *conn, const ngtcp2_path *path,
                                          ngtcp2_tstamp ts)
{
    return migrate(conn, path, ts, real_migration);
}

EXPORT void ngtcp2_conn_set_local_addr(ngtcp2_conn *conn, const ngtcp2_addr *addr)
{
    struct agent_entry *e = wrapped(conn);

    real_set_local_addr(conn, addr);
    if (e)
        poll_conn(e, 0, 1);
}

EXPORT void ngtcp2_conn_del(ngtcp2_conn *conn)
{
    struct agent_entry *e = conn ? wrapped(conn) : NULL, *prev;

    if (!e) {
        real_del(conn);
        return;
    }
    close_conn(e, QASM_AGENT_CLOSE_DELETED);
    /* Keep the entry findable while ngtcp2 flushes qlog and frees. */
    prev = tls_cur;
    tls_cur = e;
    real_del(conn);
    tls_cur = prev;
    entry_remove(e);
    free(e);
}

/* ---------------------------------------------------------- explicit API */

static struct agent_entry *explicit_entry(ngtcp2_conn *conn)
{
    agent_init();
    return g_enabled && conn ? entry_get(conn) : NULL;
}

EXPORT int qasm_agent_track(ngtcp2_conn *conn)
{
    struct agent_entry *e;
    struct qasm_cid odcid, scid;
    ngtcp2_cid scids[8];
    size_t n;

    agent_init();
    if (!g_enabled)
        return -ENOTCONN;
    if (!conn || ngtcp2_conn_is_server(conn))
        return -EINVAL;
    if (entry_get(conn))
        return 0;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->conn = conn;
    cid_from_ngtcp2(&odcid, ngtcp2_conn_get_client_initial_dcid(conn));
    memset(&scid, 0, sizeof(scid));
    n = ngtcp2_conn_get_num_scid(conn);
    if (n > 0 && n <= 8 && ngtcp2_conn_get_scid(conn, scids) > 0)
        cid_from_ngtcp2(&scid, &scids[0]);
    if (entry_insert(e, &odcid, &scid, 0) != 0) {
        free(e);
        return -ENOMEM;
    }
    return 0;
}

EXPORT void qasm_agent_poll(ngtcp2_conn *conn, uint64_t ts)
{
    struct agent_entry *e = explicit_entry(conn);

    if (e)
        poll_conn(e, ts, 1);
}

EXPORT void qasm_agent_dcid_status(ngtcp2_conn *conn, int type, uint64_t seq,
                                   const ngtcp2_cid *cid)
{
    struct agent_entry *e = explicit_entry(conn);

    if (e && cid)
        dcid_status(e, type, seq, cid);
}

EXPORT void qasm_agent_learn_cid(ngtcp2_conn *conn, uint64_t seq, const ngtcp2_cid *cid)
{
    struct agent_entry *e = explicit_entry(conn);
    struct qasm_cid c;

    if (e && cid) {
        cid_from_ngtcp2(&c, cid);
        learn(e, seq, &c);
    }
}

EXPORT int qasm_agent_announce_path(ngtcp2_conn *conn, const struct sockaddr *local,
                                    socklen_t locallen)
{
    struct agent_entry *e;
    struct qasm_agent_evq q;
    struct qasm_addr a;
    int rv;

    agent_init();
    if (!g_enabled)
        return -ENOTCONN;
    if (!local || qasm_addr_from_sockaddr(&a, local, locallen) != 0 || !a.family)
        return -EINVAL;
    if (!conn || (e = entry_get(conn)) == NULL)
        return -ENOENT;
    qasm_agent_evq_init(&q);
    qasm_tstamp t0 = busy_begin();
    uint32_t dropped = e->st.ahead_dropped;
    rv = qasm_agent_conn_announce(&e->st, &a, e->last_ts, &q);
    if (rv > 0) {
        g_stats.paths_announced++;
        g_stats.paths_replaced += e->st.ahead_dropped - dropped;
    }
    flush(e, &q);
    busy_end(t0);
    return rv < 0 ? rv : 0;
}

EXPORT void qasm_agent_close(ngtcp2_conn *conn, int reason)
{
    struct agent_entry *e = explicit_entry(conn);

    if (e && reason >= QASM_AGENT_CLOSED_LOCAL && reason <= QASM_AGENT_CLOSED_RESET)
        close_conn(e, (enum qasm_agent_close_reason)reason);
}

EXPORT void qasm_agent_untrack(ngtcp2_conn *conn)
{
    struct agent_entry *e = explicit_entry(conn);

    if (!e)
        return;
    close_conn(e, QASM_AGENT_CLOSE_DELETED);
    entry_remove(e);
    if (tls_cur == e)
        tls_cur = NULL;
    free(e);
}

EXPORT size_t qasm_agent_get_stats_sized(struct qasm_agent_stats *st, size_t size)
{
    if (size > sizeof(*st))
        size = sizeof(*st);
    pthread_mutex_lock(&g_lock);
    memcpy(st, &g_stats, size);
    pthread_mutex_unlock(&g_lock);
    return sizeof(*st);
}

/* The first API took no size: binaries built then know the counters up to
 * busy_ns. */
EXPORT void(qasm_agent_get_stats)(struct qasm_agent_stats *st)
{
    qasm_agent_get_stats_sized(st, offsetof(struct qasm_agent_stats, paths_announced));
}

/* At exit: connections still alive are reported closed. */
__attribute__((destructor)) static void agent_fini(void)
{
    struct agent_entry *e;
    size_t pos = 0;

    if (!g_enabled)
        return;
    pthread_mutex_lock(&g_lock);
    while ((e = qasm_htab_next(g_conns, &pos)) != NULL) {
        struct qasm_agent_evq q;
        qasm_agent_evq_init(&q);
        qasm_agent_conn_close(&e->st, QASM_AGENT_CLOSE_EXIT, e->last_ts, &q);
        flush(e, &q);
    }
    qasm_info("exit: %llu conns, %llu reports sent, %llu send errors, %llu DCID activations, "
              "%llu address changes, %llu spares pre-registered, %llu events dropped, "
              "%llu migrations, %.2f us/migration in-call, %.1f us reporting in total, "
              "%llu paths announced ahead (%llu replaced before use)",
              (unsigned long long)g_stats.conns_tracked, (unsigned long long)g_stats.reports_sent,
              (unsigned long long)g_stats.send_errors, (unsigned long long)g_stats.dcid_changes,
              (unsigned long long)g_stats.addr_changes,
              (unsigned long long)g_stats.spares_learnt,
              (unsigned long long)g_stats.events_dropped,
              (unsigned long long)g_stats.migrations,
              g_stats.migrations ? (double)g_stats.migration_ns / 1e3 / (double)g_stats.migrations
                                 : 0.0,
              (double)g_stats.busy_ns / 1e3, (unsigned long long)g_stats.paths_announced,
              (unsigned long long)g_stats.paths_replaced);
    pthread_mutex_unlock(&g_lock);
}
