/*
 * relay.h: the UDP relay backend of qasm-mbox (loopback, no privileges).
 *
 * It turns datagrams into the core's packet view (struct qasm_mbox_pkt)
 * and sends the verdicts from the right socket; it holds no policy.
 *
 *   clients --> [--listen socket] --core--> upstream / backends
 *
 *  - NAT: every public mapping is a real UDP socket bound to PUBLIC:PORT
 *    (a port of the pool, opened and closed on the core's events), so a
 *    chain of relays on 127.0.0.0/8 behaves like a chain of NATs. Return
 *    traffic arrives on that socket and goes back, from the listen socket,
 *    to the private address the core names. The socket is connected to the
 *    upstream (the one address its datagrams go to, the only one the core
 *    takes replies from): no route lookup per datagram.
 *  - rate limiter and LB: one connected upstream socket per (client
 *    address, next hop) pair, so return traffic is matched to its client;
 *    the LB's next hop is the backend the core picked. A socket lives as
 *    long as its flow's state in the core (closed on the core's FLOW_CLOSE
 *    event), at most |flow_idle| without traffic; with |max_flows| open, a
 *    new flow closes the least recently used one.
 *
 * A backend of the driver (middleboxes/io/driver.h): the driver owns the
 * loop, the core, the receive ring and the send queue (batched
 * recvmmsg/sendmmsg); this file owns the sockets.
 */
#ifndef QASM_MBOX_RELAY_H
#define QASM_MBOX_RELAY_H

#include <stddef.h>

#include "addr.h"
#include "clock.h"
#include "mbox.h"
#include "middleboxes/io/driver.h"

/* The relay's settings (qasm_driver_config.backend). */
struct qasm_relay_config {
    enum qasm_mbox_function function;
    struct qasm_addr listen;   /* private side: clients send here (the LB's VIP); port 0: any */
    struct qasm_addr upstream; /* NAT / RL: next hop or server (unused by the LB) */
    size_t max_flows;          /* RL / LB: max upstream sockets (default 4096; when all are
                                  open a new flow closes the idlest) */
    qasm_duration flow_idle;   /* RL / LB: close an upstream socket idle this long */
    int tracker_unused;        /* default mode with --tracker: say it is not used */
};

/*
 * The relay backend: NAT public ports and RL / LB upstream sockets opened
 * on the core's events (it sets the core's flow_events), verdicts sent
 * from the right socket, "listen" and the "relay" object in the stats
 * (rx, tx, rx_errors, ports_open, port_bind_fail, upstream_sockets,
 * upstream_created, upstream_expired, upstream_closed, upstream_evicted,
 * max_flows, bufs_allocated, sockets_parked), drops "oversize", "no_socket", "send_error".
 */
extern const struct qasm_driver_backend_ops qasm_relay_ops;

#endif
