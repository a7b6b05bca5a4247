/*
 * driver.h: the one driver of qasm-mbox, around an I/O backend chosen at
 * start (the libev / Redis `ae` backend pattern: one loop, a table of
 * operations per backend).
 *
 * The driver owns everything that does not depend on how packets arrive
 * and leave: the libev loop, the signals (SIGTERM / SIGINT: clean exit,
 * SIGUSR1: stats now), the one-second tick (bounds warning, stats file),
 * the --metrics endpoint (the stats object rendered at each scrape),
 * the tracker link, the core (middleboxes/core/mbox.h) and its cycle:
 * run a received batch through the core, apply the verdicts, drain the
 * core's events (public ports, closed flows) and released packets, flush
 * the sends, pump the tracker requests and re-arm one timer at the core's
 * next deadline. It also keeps the receive ring and the pool of packet
 * buffers (a held packet keeps its buffer until released: no copy) and a
 * send queue for socket backends (sendmmsg, one call per run of
 * datagrams leaving the same descriptor). It serves the control socket
 * qasm-mboxctl reads (middleboxes/io/control.h) from the same loop.
 *
 * A backend (struct qasm_driver_backend_ops) only moves packets: it
 * registers its descriptors (qasm_driver_watch_start), receives one batch
 * when one is readable and turns it into the core's packet views, delivers
 * a FORWARD verdict (rewrite and queue), opens and closes the public ports
 * the core names, and adds its own counters to the stats. Two exist:
 * `relay` (UDP sockets, middleboxes/io/relay.h) and `packet` (AF_PACKET
 * in, raw IP out, middleboxes/io/packet_io.h).
 *
 * The XDP backend is a third table: `open` loads and attaches the BPF
 * program and opens the packet backend's sockets (the slow path: what the
 * program passes up); `deliver` sends through the packet backend and
 * writes the verdict into the BPF maps; `port_close` / `flow_close` /
 * `record` / `tick` keep the maps in step with the core, so the kernel
 * rewrites the packets of known flows itself and only the others reach
 * `recv`. (AF_XDP in place of the AF_PACKET slow path would fit the same
 * table: `recv` from the RX ring, `deliver` onto the TX ring, `flush`.)
 */
#ifndef QASM_MBOX_DRIVER_H
#define QASM_MBOX_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "addr.h"
#include "auth.h"
#include "clock.h"
#include "mbox.h"
#include "middleboxes/io/json.h"
#include "middleboxes/io/mbox_json.h"

/* Datagrams per receive batch (one recvmmsg) and per core batch. */
#define QASM_DRIVER_BATCH 32

struct qasm_driver;
struct qasm_proto_conn;

/* A packet buffer of the driver's pool: max_packet bytes of data, the backend's meta bytes. */
struct qasm_driver_buf {
    struct qasm_driver_buf *next; /* free list */
    uint8_t *data;
    int slot;                     /* index in the receive ring, -1 while the core holds it */
};

/* The backend's meta bytes of |b| (ops->buf_meta of them; e.g. the packet's parse). */
static inline void *qasm_driver_buf_meta(struct qasm_driver_buf *b)
{
    return b + 1;
}

/* A readable descriptor of a backend: embed it, start it with qasm_driver_watch_start. */
struct qasm_driver_watch {
    struct qasm_driver *d;
    int fd;
    int state;                            /* off, in the driver's epoll set, or parked */
    struct qasm_driver_watch *park_next; /* the parked list */
    unsigned gen;                         /* the last burst round that read it */
};

/* One receive batch: the backend's recv fills pkt[] from the ring's buffers. */
struct qasm_driver_rx {
    struct qasm_driver_buf **buf; /* the ring: buf[0..nbuf), each max_packet bytes */
    size_t nbuf;
    size_t max_packet;
    qasm_tstamp now;              /* read once, before the batch */
    struct qasm_mbox_pkt pkt[QASM_DRIVER_BATCH]; /* for the core; opaque = the buffer */
    size_t npkt;
    size_t nread;                 /* buffers the backend filled (nbuf: more may be waiting) */
};

/* Driver counters of the send queue and the pool (backends publish them in their object). */
struct qasm_driver_counters {
    uint64_t tx;             /* datagrams / packets sent through qasm_driver_send */
    uint64_t tx_errors;      /* refused by the kernel */
    uint64_t bufs_allocated; /* buffers allocated (grows with held packets) */
    uint64_t parked;         /* sockets taken out of the epoll set for a burst (driver.c) */
};

struct qasm_driver_backend_ops {
    const char *name;
    size_t buf_meta; /* meta bytes per buffer */
    /*
     * Before the core exists: check the backend's settings |bcfg| and
     * complete the core's configuration (e.g. the NAT's public address).
     * 0, or the exit status with the reason said on stderr.
     */
    int (*prepare)(const void *bcfg, struct qasm_mbox_config *core);
    /* Opens sockets / interfaces, logs the start line. 0 and *pb, or the exit status (said). */
    int (*open)(struct qasm_driver *d, const void *bcfg, void **pb);
    /* Closes and frees everything open made (NULL is fine). */
    void (*close)(void *b);
    /* |w| is readable: receive one batch into |rx|, queue what does not go to the core. */
    void (*recv)(void *b, struct qasm_driver_watch *w, struct qasm_driver_rx *rx);
    /*
     * A FORWARD verdict on the packet v->data / v->len in buffer v->opaque:
     * rewrite and queue it. |release|: the buffer to recycle once sent (a
     * held packet), else NULL (the buffer stays in the ring). 0, or a
     * negative code when it was not sent (the driver recycles |release|).
     */
    int (*deliver)(void *b, const struct qasm_mbox_verdict *v, struct qasm_driver_buf *release,
                   qasm_tstamp now);
    /* Optional: send what deliver queued outside qasm_driver_send (a TX ring). */
    void (*flush)(void *b);
    /* The core's events (optional each): a NAT public port, a flow's state gone. */
    void (*port_open)(void *b, const struct qasm_addr *a);
    void (*port_close)(void *b, const struct qasm_addr *a);
    void (*flow_close)(void *b, const struct qasm_addr *client, const struct qasm_addr *hop);
    /* Optional: a connection record from the tracker, after the core got it (answers:
     * event 0; pushes: their event). */
    void (*record)(void *b, uint8_t event, const struct qasm_proto_conn *conn);
    /* Optional: once a second (idle sweeps, address refresh). */
    void (*tick)(void *b, qasm_tstamp now);
    /* Optional: no receive is running: free what was closed while one was. */
    void (*reap)(void *b);
    /* Optional: the backend's own bound, for the warning line (1: it has one). */
    int (*bounds)(void *b, uint64_t *evicted, size_t *limit);
    /* Stats: keys after "mode", drop reasons (at most |max|), the backend's object. */
    void (*stats_head)(void *b, struct qasm_json *j);
    size_t (*stats_drops)(void *b, struct qasm_mbox_json_drop *out, size_t max);
    void (*stats)(void *b, struct qasm_json *j);
};

struct qasm_driver_config {
    struct qasm_mbox_config core;            /* the core's configuration, flags applied */
    const struct qasm_driver_backend_ops *ops;
    const void *backend;                     /* the backend's settings */
    const struct qasm_addr *tracker;         /* aware modes: the tracker (NULL: none) */
    const struct qasm_auth_key *tracker_key; /* --tracker-key (NULL: none) */
    double tracker_keepalive;                /* seconds (0: the session's default) */
    const char *stats_path;                  /* --stats-json (NULL: none) */
    size_t stats_entries;                    /* --stats-entries */
    const struct qasm_addr *metrics;         /* --metrics: the Prometheus endpoint (NULL: none) */
    size_t max_packet;                       /* buffer size (default 4096) */
    int core_batch;                          /* one core call per batch, else one per packet */
    const char *control_path;                /* --control PATH (NULL: the default path) */
    int control_off;                         /* --control none */
};

/*
 * qasm_driver_run builds the core and the backend, runs the loop until
 * SIGTERM / SIGINT, then gives held packets their default treatment,
 * writes the stats a last time and frees everything. Returns the process
 * exit status (0; 1 runtime error such as a bind failure; 2 bad configuration).
 */
int qasm_driver_run(const struct qasm_driver_config *cfg);

/* For backends: the loop, the core's configuration, the driver's counters. */
struct ev_loop *qasm_driver_loop(const struct qasm_driver *d);
const struct qasm_mbox_config *qasm_driver_core_config(const struct qasm_driver *d);
const struct qasm_driver_counters *qasm_driver_counters(const struct qasm_driver *d);

/* The core (a fast path tells it about traffic it forwarded: qasm_mbox_touch). */
struct qasm_mbox *qasm_driver_mbox(const struct qasm_driver *d);

/*
 * Watches |fd| for reading: ops->recv gets |w| when it is readable. The
 * descriptors sit in the driver's own epoll set (one libev watcher for the
 * set); during a burst, the ones being read and sent from are taken out of
 * it until the burst ends (see driver.c, "parking").
 */
void qasm_driver_watch_start(struct qasm_driver *d, struct qasm_driver_watch *w, int fd);
void qasm_driver_watch_stop(struct qasm_driver *d, struct qasm_driver_watch *w);

/*
 * Queues |len| bytes at |data| on |fd|, to |to| (NULL: a connected
 * socket); |release| is recycled once sent (or NULL). Flushed at the end
 * of each batch, and when the queue is full.
 */
void qasm_driver_send(struct qasm_driver *d, int fd, const struct qasm_addr *to,
                      const void *data, size_t len, struct qasm_driver_buf *release);

/* Sends everything queued now (before a socket that has sends queued is closed). */
void qasm_driver_flush(struct qasm_driver *d);

/* Gives a buffer back to the pool. */
void qasm_driver_buf_put(struct qasm_driver *d, struct qasm_driver_buf *b);

#endif
