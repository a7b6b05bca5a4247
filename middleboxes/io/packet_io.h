/*
 * packet_io.h: the packet-level backend of qasm-mbox (`--io packet`): the
 * middlebox acts as a router between two interfaces of its network
 * namespace, on real IPv4 / IPv6 packets, with the kernel's own forwarding
 * off there.
 *
 *   inside IF  --AF_PACKET-->  core (mbox.h)  --raw IP socket-->  outside IF
 *   outside IF --AF_PACKET-->  core           --raw IP socket-->  inside IF
 *
 *  - Frames are read with one AF_PACKET socket per interface (SOCK_DGRAM,
 *    batched recvmmsg); only frames addressed to this host's link address
 *    (PACKET_HOST) are looked at.
 *  - Packets are written with raw IP sockets (IP_HDRINCL): the kernel's
 *    routing table picks the interface and its neighbour tables (ARP / ND)
 *    the link-layer address, so ARP / ND stay with the kernel.
 *  - UDP packets crossing the hop go through the core: addresses and
 *    ports rewritten from the verdict, UDP and IPv4 header checksums
 *    recomputed, TTL / hop limit decremented (TTL 1 or 0: dropped, counted).
 *  - Packets to one of the host's own addresses stay with the kernel
 *    (management traffic such as the tracker session), except, for the NAT,
 *    UDP to the public address on a port of the pool: that is return
 *    traffic and goes to the core. Each public port in use is also bound by
 *    a UDP socket with a drop-all filter so the kernel does not answer
 *    ICMP port unreachable.
 *  - Non-UDP packets and fragments crossing the hop: forwarded unchanged
 *    (TTL decremented) by the rate limiter; dropped and counted by the NAT
 *    (it would leak private addresses).
 *  - The NAT's public address defaults to the outside interface's first
 *    IPv4 address (else its first global IPv6 address).
 *  - Load balancer: UDP from the inside to the VIP (--listen IP:PORT, which
 *    may be one of the hop's own addresses) goes to the core and leaves with
 *    the chosen backend as destination (the client's address is kept, so the
 *    backends must route back through the hop); UDP from a backend to a
 *    client leaves with the VIP as source. Other traffic is routed unchanged.
 *
 * A backend of the driver (middleboxes/io/driver.h): the driver owns the
 * loop, the core, the receive ring and the send queue; this file owns the
 * interfaces, the raw sockets and the rewrite.
 */
#ifndef QASM_MBOX_PACKET_IO_H
#define QASM_MBOX_PACKET_IO_H

#include "addr.h"
#include "ipudp.h"
#include "middleboxes/io/driver.h"

/* The packet backend's settings (qasm_driver_config.backend). */
struct qasm_pio_config {
    const char *inside;  /* private-side interface (clients) */
    const char *outside; /* public-side interface (servers) */
    int have_public;     /* NAT: the core's nat_public was given (--public) */
    int have_vip;        /* lb: the virtual address clients send to (--listen) */
    struct qasm_addr vip;
    const char *io_name; /* "io" in the stats (NULL: "packet"; the XDP backend says "xdp") */
};

/*
 * A buffer's meta bytes (ops->buf_meta): the IP packet's parse as it
 * arrived (deliver rewrites the packet, not this) and its direction (enum
 * qasm_mbox_dir). Public for the XDP backend, which reuses this one.
 */
struct qasm_pio_meta {
    struct qasm_ipudp pu;
    size_t len;
    int dir;
};

/*
 * The packet backend: exit status 1 on a runtime error such as a missing
 * interface or no privileges, 2 on a bad configuration. Stats: "io",
 * "inside", "outside", "public" (NAT), the "packet" object (rx, rx_other,
 * rx_errors, local, to_core, tx, non_udp_forwarded, lb_passthrough,
 * ports_open, port_bind_fail, bufs_allocated) and its drop reasons
 * (ttl_expired, bad_ip, non_udp, outside_transit, oversize, send_error,
 * family_mismatch).
 */
extern const struct qasm_driver_backend_ops qasm_pio_ops;

#endif
