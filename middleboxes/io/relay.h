/*
 * relay.h: the UDP relay backend of qasm-mbox (loopback, no privileges).
 *
 * It turns datagrams into the core's packet view (struct qasm_mbox_pkt),
 * calls qasm_mbox_process() and applies the verdict; it holds no policy.
 *
 *   clients --> [--listen socket] --core--> upstream / backends
 *
 *  - NAT: every public mapping is a real UDP socket bound to PUBLIC:PORT
 *    (a port of the pool, opened and closed on the core's events), so a
 *    chain of relays on 127.0.0.0/8 behaves like a chain of NATs. Return
 *    traffic arrives on that socket and goes back, from the listen socket,
 *    to the private address the core names.
 *  - rate limiter and LB: one connected upstream socket per (client
 *    address, next hop) pair, so return traffic is matched to its client;
 *    the LB's next hop is the backend the core picked. A socket lives as
 *    long as its flow's state in the core (closed on the core's FLOW_CLOSE
 *    event), at most |flow_idle| without traffic; with |max_flows| open, a
 *    new flow closes the least recently used one.
 *
 * One libev loop, one thread, batched recvmmsg/sendmmsg. Packets the core
 * holds keep their receive buffer until released (zero copy).
 */
#ifndef QASM_MBOX_RELAY_H
#define QASM_MBOX_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "addr.h"
#include "clock.h"
#include "mbox.h"
#include "json.h"

struct qasm_relay;
struct qasm_tlink;

struct qasm_relay_config {
    enum qasm_mbox_function function;
    struct qasm_addr listen;   /* private side: clients send here (the LB's VIP) */
    struct qasm_addr upstream; /* NAT / RL: next hop or server (unused by the LB) */
    size_t max_flows;          /* RL / LB: max upstream sockets (default 4096; when all are
                                  open a new flow closes the idlest); the core must be made
                                  with flow_events set */
    qasm_duration flow_idle;   /* RL / LB: close an upstream socket idle this long */
    size_t max_datagram;       /* receive buffer per datagram (default 4096); longer ones dropped */
    int core_batch;            /* one qasm_mbox_process_batch call per recvmmsg batch */
};

/* Relay-level counters (the core has its own). */
struct qasm_relay_counters {
    uint64_t rx;              /* datagrams received, all sockets */
    uint64_t tx;              /* datagrams sent */
    uint64_t rx_truncated;    /* longer than max_datagram: dropped */
    uint64_t rx_errors;       /* recvmmsg errors (ICMP unreachable and the like) */
    uint64_t tx_errors;       /* datagrams the kernel refused */
    uint64_t no_socket;       /* forwarded by the core but no socket to send from: dropped */
    uint64_t upstream_evicted; /* RL / LB: idlest upstream socket closed for a new flow
                                  (max_flows open) */
    uint64_t upstream_closed; /* RL / LB: upstream socket closed with its core entry */
    uint64_t port_bind_fail;  /* NAT public ports that could not be bound */
    uint64_t ports_open;      /* NAT public sockets open now */
    uint64_t upstream_sockets; /* RL / LB upstream sockets open now */
    uint64_t upstream_created;
    uint64_t upstream_expired;
    uint64_t bufs_allocated;  /* receive buffers allocated (grows with held packets) */
};

/*
 * qasm_relay_new binds the listen socket and prepares the relay on |loop|
 * around the core |mbox| (borrowed). Returns 0, or a negative errno
 * (bind failure: -EADDRINUSE and the like) with *pr = NULL.
 */
int qasm_relay_new(struct qasm_relay **pr, struct ev_loop *loop, struct qasm_mbox *mbox,
                   const struct qasm_relay_config *cfg);

/* qasm_relay_del closes every socket and frees the relay (held packets are dropped). */
void qasm_relay_del(struct qasm_relay *r);

/* qasm_relay_set_tlink attaches the tracker link (NULL: no tracker). */
void qasm_relay_set_tlink(struct qasm_relay *r, struct qasm_tlink *tl);

/*
 * qasm_relay_drain applies everything the core has queued (events,
 * released packets, tracker requests), flushes the sends and re-arms the
 * core's timer. The tracker link calls it after feeding answers / pushes.
 */
void qasm_relay_drain(struct qasm_relay *r);

/* qasm_relay_sweep closes upstream sockets idle for flow_idle (call about once a second). */
void qasm_relay_sweep(struct qasm_relay *r, qasm_tstamp now);

/* qasm_relay_counters returns the relay's counters. */
/* The address the listening socket is bound to (with --listen HOST:0, the port
 * the kernel picked). */
const struct qasm_addr *qasm_relay_listen_addr(const struct qasm_relay *r);
const struct qasm_relay_counters *qasm_relay_counters(const struct qasm_relay *r);

/* qasm_relay_max_flows returns the bound of upstream sockets in force. */
size_t qasm_relay_max_flows(const struct qasm_relay *r);

/* qasm_relay_proc_hist returns the histogram of per-packet core processing time (ns). */
const struct qasm_hist *qasm_relay_proc_hist(const struct qasm_relay *r);

#endif
