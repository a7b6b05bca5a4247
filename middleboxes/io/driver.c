/*
 * driver.c: the one middlebox driver (see driver.h).
 *
 * Receive path: a readable descriptor gives the backend one batch in the
 * receive ring; the core decides each packet (one call per packet, timed
 * one by one, or one call per batch with --core-batch); FORWARD goes to
 * the backend's deliver, DROP leaves the buffer in the ring, HOLD takes
 * the buffer out of the ring until the core releases the packet. Then the
 * drain: the core's events and releases, the sends, the tracker requests,
 * the core's timer.
 */
#include "middleboxes/io/driver.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "metrics_http.h"
#include "middleboxes/io/mbox_degrade.h"
#include "middleboxes/io/control.h"
#include "middleboxes/io/mbox_timer.h"
#include "middleboxes/io/tracker_link.h"

#define OUTQ 256
#define MAX_DROPS 16
#define RECV_ROUNDS 16
#define EP_EVENTS 64
/* A send run this long from one descriptor makes it a burst's sender: parked. */
#define PARK_MIN_RUN 8
/*
 * processing_ns times one packet in PROC_SAMPLE (two clock reads around
 * its core call): a clock read costs ~25 ns in a kvm guest, as much as the
 * core's fast path, so timing every packet would double what it measures.
 */
#define PROC_SAMPLE 32

enum { WATCH_OFF = 0, WATCH_ON = 1, WATCH_PARKED = 2 };

/* A queued datagram; smsg[i] of the driver is its header, built when it is queued. */
struct outmsg {
    int fd;
    struct sockaddr_storage to;
    struct iovec iov;
    struct qasm_driver_buf *release; /* recycled once sent (held packets) */
};

struct qasm_driver {
    struct ev_loop *loop;
    struct qasm_driver_config cfg;
    const struct qasm_driver_backend_ops *ops;
    void *b; /* the backend */
    struct qasm_mbox *m;
    struct qasm_tlink *tl;
    struct qasm_control *ctl; /* the control socket (NULL: none) */
    qasm_tstamp started;
    ev_timer tick;
    ev_signal sig_term, sig_int, sig_usr1;
    /* The core's timer and the drain cycle. */
    ev_timer timer;
    qasm_tstamp timer_at;
    int draining, drain_again, in_recv;
    struct qasm_driver_watch *cur; /* the descriptor being read */
    /* The backends' descriptors: an epoll set of their own, one libev watcher for it. */
    int ep;
    ev_io ep_io;
    struct epoll_event ev[EP_EVENTS]; /* fetched from ep; an entry is cleared if its watch stops */
    int nev;
    struct qasm_driver_watch **byfd; /* watch of each descriptor (send-side parking) */
    size_t nbyfd;
    struct qasm_driver_watch *parked; /* out of ep until the burst ends */
    ev_idle burst;                    /* active while a burst goes on: reads the parked ones */
    unsigned burst_gen;
    /* Receive ring and pool. */
    struct qasm_driver_buf *slot[QASM_DRIVER_BATCH];
    struct qasm_driver_buf *free_bufs;
    struct qasm_driver_rx rx;
    /* Send queue. */
    struct outmsg out[OUTQ];
    size_t nout;
    struct mmsghdr smsg[OUTQ]; /* smsg[i] sends out[i]: iov and control set once */
    /* The last destination converted (a reply stream goes to one client at a time). */
    struct qasm_addr last_to;
    struct sockaddr_storage last_ss;
    socklen_t last_sslen;
    struct qasm_hist proc; /* per-packet time inside the core, ns (1 packet in PROC_SAMPLE) */
    unsigned proc_left;    /* packets until the next one timed */
    struct qasm_driver_counters c;
    struct qasm_metrics_http *metrics;  /* --metrics (NULL: none) */
    struct qasm_metrics_spec metrics_spec;
    struct qasm_mbox_degrade dg; /* the degraded causes said (mbox_degrade.h) */
};

/* ---- buffers ---- */

static struct qasm_driver_buf *buf_get(struct qasm_driver *d)
{
    struct qasm_driver_buf *b = d->free_bufs;
    if (b) {
        d->free_bufs = b->next;
        return b;
    }
    size_t meta = (d->ops->buf_meta + 15) & ~(size_t)15;
    b = malloc(sizeof(*b) + meta + d->cfg.max_packet);
    if (!b)
        return NULL;
    b->data = (uint8_t *)(b + 1) + meta;
    d->c.bufs_allocated++;
    return b;
}

void qasm_driver_buf_put(struct qasm_driver *d, struct qasm_driver_buf *b)
{
    b->slot = -1;
    b->next = d->free_bufs;
    d->free_bufs = b;
}

/* ---- parking ----
 *
 * A socket in an epoll set carries the set's entry on its wait queue, so
 * the kernel runs the epoll callback (two interrupt-saving locks) for
 * every datagram queued on it (in the sender's context) and for every
 * datagram it sends (the write-space wake-up when the buffer is freed).
 * During a burst the driver reads the socket again at once anyway, so the
 * socket being read (once a batch came back full) and the sockets sent
 * from (a run of PARK_MIN_RUN or more) leave the set until the burst ends:
 * an idle watcher (the loop polls without sleeping while it is active, so
 * timers and the tracker session are served between rounds) reads every
 * parked socket, and once none of them gives a full batch they go back
 * into the set before the loop may sleep: registered only while the loop
 * may sleep, as with poll(2), but without scanning every socket at each
 * wakeup. Putting one back reports it at once if it is readable (epoll
 * checks on insertion), so nothing is missed; the cost is two epoll_ctl
 * calls per parked socket per burst, and one receive per parked socket
 * per round (a round: up to RECV_ROUNDS batches of each).
 */

static void park(struct qasm_driver *d, struct qasm_driver_watch *w)
{
    if (w->state != WATCH_ON || !d->in_recv)
        return;
    if (epoll_ctl(d->ep, EPOLL_CTL_DEL, w->fd, NULL) == -1)
        return; /* stays registered: nothing lost */
    w->state = WATCH_PARKED;
    d->c.parked++;
    w->park_next = d->parked;
    d->parked = w;
}

static void park_fd(struct qasm_driver *d, int fd)
{
    if (fd >= 0 && (size_t)fd < d->nbyfd && d->byfd[fd])
        park(d, d->byfd[fd]);
}

static int watch_add(struct qasm_driver *d, struct qasm_driver_watch *w)
{
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = w};
    if (epoll_ctl(d->ep, EPOLL_CTL_ADD, w->fd, &e) == -1) {
        qasm_warn("epoll_ctl: cannot watch descriptor %d: %s", w->fd, strerror(errno));
        return -1;
    }
    w->state = WATCH_ON;
    return 0;
}

static void unpark_all(struct qasm_driver *d)
{
    struct qasm_driver_watch *w;
    while ((w = d->parked) != NULL) {
        d->parked = w->park_next;
        if (watch_add(d, w) < 0)
            w->state = WATCH_OFF;
    }
}

/* ---- sending ---- */

void qasm_driver_flush(struct qasm_driver *d)
{
    size_t i = 0;
    while (i < d->nout) {
        size_t j = i;
        while (j < d->nout && d->out[j].fd == d->out[i].fd)
            j++;
        /* out[i..j) leave the same descriptor: one sendmmsg (repeated if partial). */
        if (j - i >= PARK_MIN_RUN)
            park_fd(d, d->out[i].fd);
        size_t k = i;
        while (k < j) {
            int sent = sendmmsg(d->out[k].fd, &d->smsg[k], (unsigned)(j - k), 0);
            if (sent == -1) {
                int err = errno;
                if (err == EINTR)
                    continue;
                /* The first datagram was refused (ICMP error, buffer full): skip it. */
                d->c.tx_errors++;
                qasm_debug("sendmmsg: %s", strerror(err));
                k++;
                continue;
            }
            d->c.tx += (uint64_t)sent;
            k += (size_t)sent;
        }
        i = j;
    }
    for (size_t x = 0; x < d->nout; x++)
        if (d->out[x].release)
            qasm_driver_buf_put(d, d->out[x].release);
    d->nout = 0;
}

/* |to| as a sockaddr into |ss|; its length. The last conversion is kept. */
static socklen_t dest_sockaddr(struct qasm_driver *d, struct sockaddr_storage *ss,
                               const struct qasm_addr *to)
{
    if (!qasm_addr_eq(to, &d->last_to)) {
        d->last_to = *to;
        d->last_sslen = qasm_addr_to_sockaddr(&d->last_ss, to);
    }
    if (d->last_sslen == sizeof(struct sockaddr_in))
        memcpy(ss, &d->last_ss, sizeof(struct sockaddr_in));
    else
        memcpy(ss, &d->last_ss, sizeof(struct sockaddr_in6));
    return d->last_sslen;
}

/* The queue is full: out first (kept out of qasm_driver_send, which stays a leaf). */
static __attribute__((noinline)) void send_full(struct qasm_driver *d, int fd,
                                                const struct qasm_addr *to, const void *data,
                                                size_t len, struct qasm_driver_buf *release)
{
    qasm_driver_flush(d);
    qasm_driver_send(d, fd, to, data, len, release);
}

void qasm_driver_send(struct qasm_driver *d, int fd, const struct qasm_addr *to,
                      const void *data, size_t len, struct qasm_driver_buf *release)
{
    if (__builtin_expect(d->nout == OUTQ, 0)) {
        send_full(d, fd, to, data, len, release);
        return;
    }
    size_t i = d->nout++;
    struct outmsg *o = &d->out[i];
    struct msghdr *h = &d->smsg[i].msg_hdr;
    o->fd = fd;
    o->iov.iov_base = (void *)(uintptr_t)data;
    o->iov.iov_len = len;
    o->release = release;
    h->msg_namelen = 0;
    h->msg_name = NULL;
    if (to) {
        h->msg_namelen = dest_sockaddr(d, &o->to, to);
        h->msg_name = h->msg_namelen ? &o->to : NULL;
    }
}

/* The headers' fixed part: out[i]'s iovec, no control data. */
static void init_send_queue(struct qasm_driver *d)
{
    for (size_t i = 0; i < OUTQ; i++) {
        struct msghdr *h = &d->smsg[i].msg_hdr;
        h->msg_iov = &d->out[i].iov;
        h->msg_iovlen = 1;
        h->msg_control = NULL;
        h->msg_controllen = 0;
        h->msg_flags = 0;
    }
}

/* ---- the core's queues and timer ---- */

static void drain_events(struct qasm_driver *d)
{
    const struct qasm_driver_backend_ops *ops = d->ops;
    struct qasm_mbox_event ev;
    while (qasm_mbox_next_event(d->m, &ev)) {
        if (ev.type == QASM_MBOX_EV_PORT_OPEN && ops->port_open)
            ops->port_open(d->b, &ev.addr);
        else if (ev.type == QASM_MBOX_EV_PORT_CLOSE && ops->port_close)
            ops->port_close(d->b, &ev.addr);
        else if (ev.type == QASM_MBOX_EV_FLOW_CLOSE && ops->flow_close)
            ops->flow_close(d->b, &ev.addr, &ev.hop);
    }
}

/* A FORWARD / DROP verdict; |release|: the held buffer to recycle (or NULL). */
static void apply(struct qasm_driver *d, const struct qasm_mbox_verdict *v,
                  struct qasm_driver_buf *release, qasm_tstamp now)
{
    if (v->action == QASM_MBOX_FORWARD && d->ops->deliver(d->b, v, release, now) == 0)
        return;
    if (release)
        qasm_driver_buf_put(d, release);
}

static void drain_releases(struct qasm_driver *d, qasm_tstamp now)
{
    struct qasm_mbox_verdict v;
    while (qasm_mbox_next_release(d->m, &v)) {
        drain_events(d);
        apply(d, &v, v.opaque, now);
    }
}

/*
 * Everything the core has queued, then the sends, the tracker requests and
 * the core's timer; |now|: the time (a received batch's: read once for it).
 */
static void drain_at(struct qasm_driver *d, qasm_tstamp now)
{
    if (d->draining) {
        d->drain_again = 1;
        return;
    }
    d->draining = 1;
    for (;;) {
        d->drain_again = 0;
        drain_events(d);
        drain_releases(d, now);
        qasm_control_pump(d->ctl);
        qasm_driver_flush(d);
        if (d->ops->flush)
            d->ops->flush(d->b);
        if (d->tl)
            qasm_tlink_pump(d->tl);
        qasm_mbox_timer_rearm(d->loop, &d->timer, &d->timer_at, d->m, now);
        if (!d->drain_again)
            break;
        now = qasm_now();
    }
    d->draining = 0;
    if (!d->in_recv && d->ops->reap)
        d->ops->reap(d->b);
}

static void drain(struct qasm_driver *d)
{
    drain_at(d, qasm_now());
}

static void drain_cb(void *ud)
{
    drain(ud);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_driver *d = w->data;
    d->timer_at = QASM_TSTAMP_MAX;
    qasm_mbox_expire(d->m, qasm_now());
    drain(d);
}

/* ---- receiving ---- */

/* The core's verdict on packet |k| of the batch (its events are drained already). */
static void finish(struct qasm_driver *d, const struct qasm_mbox_pkt *pkt,
                   struct qasm_mbox_verdict *v, qasm_tstamp now)
{
    struct qasm_driver_buf *b = pkt->opaque;
    if (v->action == QASM_MBOX_HOLD) {
        /* The core keeps the buffer: its slot gets a fresh one. */
        d->slot[b->slot] = NULL;
        b->slot = -1;
        return;
    }
    v->dir = pkt->dir;
    v->data = pkt->data;
    v->len = pkt->len;
    v->opaque = b;
    /* The buffer stays in its slot; it outlives the queued send (flushed before the next recv). */
    apply(d, v, NULL, now);
}

/* One packet through the core, timed into processing_ns. */
static __attribute__((noinline)) void process_timed(struct qasm_driver *d,
                                                    const struct qasm_mbox_pkt *pkt,
                                                    qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    qasm_tstamp t0 = qasm_now();
    qasm_mbox_process(d->m, pkt, now, v);
    qasm_hist_add(&d->proc, qasm_now() - t0);
}

/* The batch through the core; the batch's receive time is every packet's time. */
static void run_core(struct qasm_driver *d, struct qasm_driver_rx *rx)
{
    struct qasm_mbox_verdict v[QASM_DRIVER_BATCH];
    size_t n = rx->npkt;
    qasm_tstamp now = rx->now;
    if (!d->cfg.core_batch) {
        /* One call of the core per packet; one packet in PROC_SAMPLE timed. */
        for (size_t k = 0; k < n; k++) {
            if (__builtin_expect(--d->proc_left == 0, 0)) {
                d->proc_left = PROC_SAMPLE;
                process_timed(d, &rx->pkt[k], now, &v[k]);
            } else {
                qasm_mbox_process(d->m, &rx->pkt[k], now, &v[k]);
            }
        }
    } else {
        /* One core call for the batch (table lookups overlapped); its time is shared out. */
        qasm_tstamp t0 = qasm_now();
        qasm_mbox_process_batch(d->m, rx->pkt, n, now, v);
        qasm_tstamp t1 = qasm_now();
        for (size_t k = 0; k < n; k++)
            qasm_hist_add(&d->proc, (t1 - t0) / (uint64_t)n);
    }
    /*
     * Events first (a port the batch opened must exist before its first
     * send): once for the batch, as nothing below calls the core.
     */
    drain_events(d);
    for (size_t k = 0; k < n; k++)
        finish(d, &rx->pkt[k], &v[k], now);
}

/* One batch from |w| through the core; 1 when it read anything (more may be waiting). */
static int recv_one(struct qasm_driver *d, struct qasm_driver_watch *w)
{
    struct qasm_driver_rx *rx = &d->rx;
    size_t n_ok = 0;
    for (int i = 0; i < QASM_DRIVER_BATCH; i++) {
        if (!d->slot[i]) {
            d->slot[i] = buf_get(d);
            if (!d->slot[i])
                break;
        }
        d->slot[i]->slot = i;
        n_ok = (size_t)i + 1;
    }
    if (n_ok == 0)
        return 0;
    rx->buf = d->slot;
    rx->nbuf = n_ok;
    rx->npkt = 0;
    rx->nread = 0;
    rx->now = qasm_now();
    d->ops->recv(d->b, w, rx);
    if (rx->npkt > 0)
        run_core(d, rx);
    /* Sends point into the ring: out before the next receive. */
    drain_at(d, rx->now);
    return rx->nread > 0;
}

/*
 * Up to RECV_ROUNDS batches per wakeup, until one reads nothing: under
 * load, what arrived while a batch was being forwarded is read at once
 * (one receive that may come back empty instead of an epoll_wait, as in
 * qasm-fwd-bare). Then back to the loop, so the tracker session and the
 * timers wait at most 16 x 32 datagrams (~1 ms here). A full batch parks
 * |w|; 1 when the last batch was full (the burst goes on).
 */
static int read_watch(struct qasm_driver *d, struct qasm_driver_watch *w)
{
    int full = 0;
    d->cur = w; /* NULL once |w| is stopped (and maybe freed) */
    for (int round = 0; round < RECV_ROUNDS && d->cur; round++) {
        full = 0;
        if (!recv_one(d, w))
            break;
        full = d->rx.nread == d->rx.nbuf;
        if (d->cur && full)
            park(d, w);
    }
    d->cur = NULL;
    return full;
}

static void end_round(struct qasm_driver *d)
{
    d->in_recv = 0;
    if (d->ops->reap)
        d->ops->reap(d->b);
}

/* The backends' epoll set is readable: each ready descriptor; a burst goes on in burst_cb. */
static void ep_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    struct qasm_driver *d = io->data;
    int n = epoll_wait(d->ep, d->ev, EP_EVENTS, 0), full = 0;
    d->in_recv = 1; /* the core's events may close a socket: its memory stays until reap */
    d->nev = n > 0 ? n : 0;
    for (int i = 0; i < d->nev; i++)
        if (d->ev[i].data.ptr)
            full |= read_watch(d, d->ev[i].data.ptr);
    d->nev = 0;
    if (!ev_is_active(&d->burst)) {
        if (full && d->parked)
            ev_idle_start(loop, &d->burst);
        else
            unpark_all(d);
    }
    end_round(d);
}

/* A round of the burst: each parked socket once; all back in the set when none was full. */
static void burst_cb(struct ev_loop *loop, ev_idle *idle, int revents)
{
    (void)revents;
    struct qasm_driver *d = idle->data;
    unsigned gen = ++d->burst_gen;
    int full = 0;
    d->in_recv = 1;
    for (;;) {
        /* The list changes as sockets are parked or stopped: rescan for one not read yet. */
        struct qasm_driver_watch *w = d->parked;
        while (w && w->gen == gen)
            w = w->park_next;
        if (!w)
            break;
        w->gen = gen;
        full |= read_watch(d, w);
    }
    if (!full) {
        unpark_all(d);
        ev_idle_stop(loop, idle);
    }
    end_round(d);
}

void qasm_driver_watch_start(struct qasm_driver *d, struct qasm_driver_watch *w, int fd)
{
    w->d = d;
    w->fd = fd;
    w->state = WATCH_OFF;
    w->gen = d->burst_gen;
    if ((size_t)fd >= d->nbyfd) {
        size_t n = d->nbyfd ? d->nbyfd : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct qasm_driver_watch **t = realloc(d->byfd, n * sizeof(*t));
        if (t) {
            memset(t + d->nbyfd, 0, (n - d->nbyfd) * sizeof(*t));
            d->byfd = t;
            d->nbyfd = n;
        }
    }
    if ((size_t)fd < d->nbyfd)
        d->byfd[fd] = w;
    watch_add(d, w);
}

void qasm_driver_watch_stop(struct qasm_driver *d, struct qasm_driver_watch *w)
{
    if (d->cur == w)
        d->cur = NULL;
    if (w->state == WATCH_ON) {
        epoll_ctl(d->ep, EPOLL_CTL_DEL, w->fd, NULL);
    } else if (w->state == WATCH_PARKED) {
        struct qasm_driver_watch **p = &d->parked;
        while (*p != w)
            p = &(*p)->park_next;
        *p = w->park_next;
    }
    w->state = WATCH_OFF;
    for (int i = 0; i < d->nev; i++) /* fetched but not read yet: not any more */
        if (d->ev[i].data.ptr == w)
            d->ev[i].data.ptr = NULL;
    if (w->fd >= 0 && (size_t)w->fd < d->nbyfd && d->byfd[w->fd] == w)
        d->byfd[w->fd] = NULL;
}

/* ---- stats, tick, signals ---- */

static void fill_stats(struct qasm_json *j, void *ud)
{
    struct qasm_driver *d = ud;
    const struct qasm_mbox_config *cfg = &d->cfg.core;
    struct qasm_mbox_json_drop drops[MAX_DROPS];
    size_t ndrops = d->ops->stats_drops(d->b, drops, MAX_DROPS);

    qasm_json_str(j, "function", qasm_mbox_function_name(cfg->function));
    qasm_json_str(j, "mode", qasm_mbox_mode_name(cfg->mode));
    d->ops->stats_head(d->b, j);
    qasm_json_dbl(j, "uptime_s", (double)(qasm_now() - d->started) / 1e9);
    qasm_mbox_json_counters(j, d->m, cfg, drops, ndrops);
    qasm_json_hist(j, "processing_ns", &d->proc);
    d->ops->stats(d->b, j);
    qasm_mbox_json_tracker(j, d->tl);
    qasm_mbox_json_entries(j, d->m, cfg->function, qasm_now(), d->cfg.stats_entries);
    qasm_control_json(j, d->ctl);
    qasm_json_str(j, "version", qasm_version_string());
}

static void write_stats(struct qasm_driver *d)
{
    if (!d->cfg.stats_path)
        return;
    int rv = qasm_json_write_file(d->cfg.stats_path, fill_stats, d);
    if (rv < 0)
        qasm_warn("cannot write %s: %s", d->cfg.stats_path, strerror(-rv));
}

/* --metrics: each scrape renders the stats object as it is now (in the loop thread). */
static int metrics_json(void *ud, char **json, size_t *len)
{
    return qasm_json_to_string(fill_stats, ud, json, len);
}

/* 0, or 1 (the reason said) when the endpoint cannot listen. */
static int start_metrics(struct qasm_driver *d)
{
    char err[256];
    if (!d->cfg.metrics)
        return 0;
    d->metrics_spec = qasm_mbox_json_metrics;
    d->metrics_spec.version = qasm_version();
    d->metrics_spec.commit = qasm_version_commit();
    if (qasm_metrics_http_new(&d->metrics, d->loop, d->cfg.metrics, &d->metrics_spec,
                              metrics_json, d, err, sizeof(err)) < 0) {
        fprintf(stderr, "qasm-mbox: --metrics %s\n", err);
        return 1;
    }
    return 0;
}

/* The degraded causes the core's counters show (middleboxes/io/mbox_degrade.h). */
static void log_degraded(struct qasm_driver *d)
{
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(d->m, &st);
    uint64_t bev = 0;
    size_t blimit = 0;
    if (d->ops->bounds)
        d->ops->bounds(d->b, &bev, &blimit);
    qasm_mbox_degrade_tick(&d->dg, &st, &d->cfg.core, bev, blimit, qasm_now());
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_driver *d = w->data;
    if (d->ops->tick)
        d->ops->tick(d->b, qasm_now());
    log_degraded(d);
    write_stats(d);
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct qasm_driver *d = w->data;
    if (w->signum == SIGUSR1) {
        write_stats(d);
        return;
    }
    qasm_info("signal %d: exiting", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void start_watchers(struct qasm_driver *d)
{
    qasm_mbox_degrade_init(&d->dg);
    ev_timer_init(&d->tick, tick_cb, 1., 1.);
    d->tick.data = d;
    ev_timer_start(d->loop, &d->tick);
    ev_signal_init(&d->sig_term, sig_cb, SIGTERM);
    ev_signal_init(&d->sig_int, sig_cb, SIGINT);
    ev_signal_init(&d->sig_usr1, sig_cb, SIGUSR1);
    d->sig_term.data = d->sig_int.data = d->sig_usr1.data = d;
    ev_signal_start(d->loop, &d->sig_term);
    ev_signal_start(d->loop, &d->sig_int);
    ev_signal_start(d->loop, &d->sig_usr1);
}

/* ---- setup ---- */

/* The control socket (unless --control none); 0, or the exit status (said). */
static int control_open(struct qasm_driver *d)
{
    if (d->cfg.control_off)
        return 0;
    const struct qasm_control_config cc = {.path = d->cfg.control_path, .m = d->m,
                                           .core = &d->cfg.core, .stats = fill_stats,
                                           .stats_ud = d};
    return qasm_control_new(&d->ctl, d->loop, &cc) < 0 ? 1 : 0;
}

/* The core, the backend and (aware modes) the tracker link; 0, or the exit status (said). */
static int setup(struct qasm_driver *d)
{
    struct qasm_mbox_config *cfg = &d->cfg.core;
    int rv = d->ops->prepare ? d->ops->prepare(d->cfg.backend, cfg) : 0;
    if (rv != 0)
        return rv;
    rv = qasm_mbox_new(&d->m, cfg);
    if (rv < 0) {
        fprintf(stderr, "qasm-mbox: invalid configuration for %s/%s: %s\n",
                qasm_mbox_function_name(cfg->function), qasm_mbox_mode_name(cfg->mode),
                strerror(-rv));
        return 2;
    }
    d->loop = EV_DEFAULT;
    d->started = qasm_now();
    d->ep = epoll_create1(EPOLL_CLOEXEC);
    if (d->ep == -1) {
        fprintf(stderr, "qasm-mbox: epoll_create1: %s\n", strerror(errno));
        return 1;
    }
    ev_io_init(&d->ep_io, ep_cb, d->ep, EV_READ);
    d->ep_io.data = d;
    ev_io_start(d->loop, &d->ep_io);
    ev_idle_init(&d->burst, burst_cb);
    /* Highest priority: a round at every loop iteration, even with other watchers pending. */
    ev_set_priority(&d->burst, EV_MAXPRI);
    d->burst.data = d;
    rv = d->ops->open(d, d->cfg.backend, &d->b);
    if (rv == 0)
        rv = control_open(d);
    if (rv != 0 || (rv = start_metrics(d)) != 0)
        return rv;
    if (cfg->mode != QASM_MBOX_DEFAULT && d->cfg.tracker) {
        rv = qasm_tlink_new(&d->tl, d->loop, d->cfg.tracker, d->cfg.tracker_key, d->m,
                            drain_cb, d);
        if (rv < 0) {
            fprintf(stderr, "qasm-mbox: tracker session: %s\n", strerror(-rv));
            return 1;
        }
        qasm_tlink_set_keepalive(d->tl, d->cfg.tracker_keepalive);
        if (d->ops->record)
            qasm_tlink_on_record(d->tl, d->ops->record, d->b);
    }
    return 0;
}

/* After the loop: held packets get their default treatment, then everything is freed. */
static void shutdown_all(struct qasm_driver *d)
{
    if (d->tl) {
        qasm_mbox_tracker_state(d->m, 0, qasm_now());
        struct qasm_tlink *tl = d->tl;
        d->tl = NULL; /* nothing more to send */
        drain(d);
        d->tl = tl;
    }
    /* Whatever is still held comes back as DROP (shutdown): buffers freed, counted. */
    qasm_mbox_flush(d->m);
    drain(d);
    write_stats(d);
}

static void free_all(struct qasm_driver *d)
{
    qasm_metrics_http_del(d->metrics);
    qasm_tlink_del(d->tl);
    qasm_control_del(d->ctl);
    if (d->b)
        d->ops->close(d->b);
    if (d->loop)
        ev_timer_stop(d->loop, &d->timer);
    if (d->ep != -1) {
        ev_idle_stop(d->loop, &d->burst);
        ev_io_stop(d->loop, &d->ep_io);
        close(d->ep);
    }
    free(d->byfd);
    for (int i = 0; i < QASM_DRIVER_BATCH; i++)
        free(d->slot[i]);
    while (d->free_bufs) {
        struct qasm_driver_buf *b = d->free_bufs;
        d->free_bufs = b->next;
        free(b);
    }
    qasm_mbox_del(d->m);
    if (d->loop)
        ev_loop_destroy(d->loop);
    free(d);
}

int qasm_driver_run(const struct qasm_driver_config *cfg)
{
    struct qasm_driver *d = calloc(1, sizeof(*d));
    if (!d)
        return 1;
    d->cfg = *cfg;
    d->ops = cfg->ops;
    if (d->cfg.max_packet == 0)
        d->cfg.max_packet = 4096;
    d->rx.max_packet = d->cfg.max_packet;
    d->timer_at = QASM_TSTAMP_MAX;
    d->ep = -1;
    qasm_hist_init(&d->proc);
    d->proc_left = 1; /* the first packet is timed */
    init_send_queue(d);
    ev_timer_init(&d->timer, timer_cb, 0., 0.);
    d->timer.data = d;
    int status = setup(d);
    if (status == 0) {
        start_watchers(d);
        write_stats(d);
        drain(d);
        ev_run(d->loop, 0);
        shutdown_all(d);
    }
    free_all(d);
    return status;
}

struct ev_loop *qasm_driver_loop(const struct qasm_driver *d)
{
    return d->loop;
}

const struct qasm_mbox_config *qasm_driver_core_config(const struct qasm_driver *d)
{
    return &d->cfg.core;
}

struct qasm_mbox *qasm_driver_mbox(const struct qasm_driver *d)
{
    return d->m;
}

const struct qasm_driver_counters *qasm_driver_counters(const struct qasm_driver *d)
{
    return &d->c;
}
