/*
 * packet_sort.c: what the packet backend does with one IP packet (see
 * packet_sort.h). The rules, in order:
 *   1. the IP header must hold together (version as announced, header and
 *      total length within the buffer), else DROP_MALFORMED;
 *   2. lb: UDP from the inside to the VIP, or from a backend on the outside
 *      to a non-local address: CORE; other traffic crossing the hop: ROUTE;
 *   3. to one of the hop's addresses: LOCAL, except nat return traffic (UDP
 *      from the outside to the public address on a pool port): CORE;
 *   4. nat: outside packets to other addresses: DROP_OUTSIDE;
 *   5. non-UDP or fragments: nat DROP_NON_UDP, others ROUTE;
 *   6. UDP: CORE (inside: from the client, outside: from the server).
 * Packets to forward (CORE, ROUTE) with a TTL / hop limit of 1 or 0 are
 * DROP_TTL.
 */
#include "packet_sort.h"

#include <string.h>

#include "bytes.h"

static int same_ip_port(const struct qasm_addr *a, const struct qasm_addr *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, n) == 0;
}

static int same_ip(const struct qasm_addr *a, const struct qasm_addr *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && memcmp(a->ip, b->ip, n) == 0;
}

int qasm_psort_is_local(const struct qasm_psort_ctx *ctx, const struct qasm_addr *a)
{
    for (size_t i = 0; i < ctx->nlocal; i++)
        if (same_ip(&ctx->local[i], a))
            return 1;
    return 0;
}

static int is_backend(const struct qasm_psort_ctx *ctx, const struct qasm_addr *a)
{
    for (size_t i = 0; i < ctx->nbackends; i++)
        if (same_ip_port(&ctx->backends[i], a))
            return 1;
    return 0;
}

/* The TTL check of a packet about to be forwarded. */
static enum qasm_psort_action forward(struct qasm_psort *out, enum qasm_psort_action a,
                                      const uint8_t *pkt, int family)
{
    uint8_t ttl = family == AF_INET ? pkt[8] : pkt[7];
    out->action = ttl <= 1 ? QASM_PSORT_DROP_TTL : a;
    return out->action;
}

enum qasm_psort_action qasm_psort_packet(const struct qasm_psort_ctx *ctx, int inside,
                                         int family, const uint8_t *pkt, size_t len,
                                         struct qasm_psort *out)
{
    memset(out, 0, sizeof(*out));
    out->action = QASM_PSORT_DROP_MALFORMED;

    /* 1. the IP header */
    size_t ihl, total;
    struct qasm_addr dst;
    memset(&dst, 0, sizeof(dst));
    if (family == AF_INET) {
        if (len < 20 || (pkt[0] >> 4) != 4)
            return out->action;
        ihl = (size_t)(pkt[0] & 0x0f) * 4;
        total = qasm_get16(pkt + 2);
        dst.family = AF_INET;
        memcpy(dst.ip, pkt + 16, 4);
    } else if (family == AF_INET6) {
        if (len < 40 || (pkt[0] >> 4) != 6)
            return out->action;
        ihl = 40;
        total = 40 + (size_t)qasm_get16(pkt + 4);
        dst.family = AF_INET6;
        memcpy(dst.ip, pkt + 24, 16);
    } else {
        return out->action;
    }
    if (ihl < 20 || total < ihl || total > len)
        return out->action;
    out->total = total;

    int rv = qasm_ipudp_parse(&out->pu, pkt, len, 0);
    int udp = rv == 0;
    int other = rv == QASM_IPUDP_ERR_NOT_UDP || rv == QASM_IPUDP_ERR_FRAGMENT;
    if (!udp && !other)
        return out->action; /* bad extension headers, bad UDP length, ... */
    int local = qasm_psort_is_local(ctx, &dst);
    out->dir = inside ? QASM_MBOX_FROM_CLIENT : QASM_MBOX_FROM_SERVER;

    /* 2. the lb */
    if (ctx->function == QASM_MBOX_LB) {
        if (udp && inside && same_ip_port(&out->pu.flow.dst, &ctx->vip)) {
            out->flow = out->pu.flow;
            return forward(out, QASM_PSORT_CORE, pkt, family);
        }
        if (udp && !inside && !local && is_backend(ctx, &out->pu.flow.src)) {
            out->flow = out->pu.flow;
            out->flow.src = ctx->vip;
            out->lb_reply = 1;
            return forward(out, QASM_PSORT_CORE, pkt, family);
        }
        if (local)
            return out->action = QASM_PSORT_LOCAL;
        return forward(out, QASM_PSORT_ROUTE, pkt, family);
    }

    /* 3. the hop's own traffic, and the nat's return traffic */
    int nat = ctx->function == QASM_MBOX_NAT;
    if (local) {
        if (nat && udp && !inside && same_ip(&dst, &ctx->nat_public) &&
            out->pu.flow.dst.port >= ctx->port_min && out->pu.flow.dst.port <= ctx->port_max) {
            out->flow = out->pu.flow;
            return forward(out, QASM_PSORT_CORE, pkt, family);
        }
        return out->action = QASM_PSORT_LOCAL;
    }
    /* 4. a NAT routes nothing in from the outside */
    if (nat && !inside)
        return out->action = QASM_PSORT_DROP_OUTSIDE;
    /* 5. non-UDP and fragments */
    if (other) {
        if (nat)
            return out->action = QASM_PSORT_DROP_NON_UDP;
        return forward(out, QASM_PSORT_ROUTE, pkt, family);
    }
    /* 6. UDP crossing the hop */
    out->flow = out->pu.flow;
    return forward(out, QASM_PSORT_CORE, pkt, family);
}
