/*
 * packet_sort.h: the I/O-free decision the packet backend (packet_io.h)
 * takes for each IP packet it reads on one of its two interfaces: give it
 * to the middlebox core, leave it to the kernel (it is for the hop itself),
 * route it unchanged, or drop it (counted by reason). Nothing is modified
 * here; the shell decrements the TTL and rewrites.
 */
#ifndef QASM_MBOX_PACKET_SORT_H
#define QASM_MBOX_PACKET_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "ipudp.h"
#include "mbox.h"

enum qasm_psort_action {
    QASM_PSORT_CORE = 0,            /* UDP for the core: |dir| and |flow| set */
    QASM_PSORT_LOCAL = 1,           /* to one of the hop's addresses: the kernel's */
    QASM_PSORT_ROUTE = 2,           /* forward unchanged, TTL decremented (|total| bytes) */
    QASM_PSORT_DROP_NON_UDP = 3,    /* nat: non-UDP or fragment crossing the hop */
    QASM_PSORT_DROP_OUTSIDE = 4,    /* nat: outside packet to an address not the hop's */
    QASM_PSORT_DROP_MALFORMED = 5,  /* IP header unusable */
    QASM_PSORT_DROP_TTL = 6         /* TTL / hop limit 1 or 0 on a packet to forward */
};

/* The hop as the sorter needs to know it. */
struct qasm_psort_ctx {
    enum qasm_mbox_function function;
    const struct qasm_addr *local;   /* the hop's own addresses (IP only) */
    size_t nlocal;
    /* nat: public address and pool */
    struct qasm_addr nat_public;
    uint16_t port_min, port_max;
    /* lb: the VIP (IP and port) and the backends */
    struct qasm_addr vip;
    const struct qasm_addr *backends;
    size_t nbackends;
};

struct qasm_psort {
    enum qasm_psort_action action;
    int lb_reply;                  /* CORE, lb: a backend's reply; flow.src is the VIP */
    enum qasm_mbox_dir dir;        /* CORE */
    struct qasm_flow flow;         /* CORE: the 5-tuple for the core */
    struct qasm_ipudp pu;          /* CORE: the parsed packet */
    size_t total;                  /* CORE / ROUTE: IP packet length (without link padding) */
};

/*
 * qasm_psort_packet sorts the IP packet |pkt| (|len| bytes, maybe with
 * link-layer padding) of family |family| (what the link layer announced:
 * AF_INET or AF_INET6) read on the inside (|inside| = 1) or outside
 * interface, and fills |out|. Returns out->action.
 */
enum qasm_psort_action qasm_psort_packet(const struct qasm_psort_ctx *ctx, int inside,
                                         int family, const uint8_t *pkt, size_t len,
                                         struct qasm_psort *out);

/* qasm_psort_is_local tells whether |a|'s IP (port ignored) is one of ctx->local. */
int qasm_psort_is_local(const struct qasm_psort_ctx *ctx, const struct qasm_addr *a);

#endif
