/*
 * ipudp.h: raw IPv4 (RFC 791) and IPv6 (RFC 8200) packets carrying UDP
 * (RFC 768): parse to a 5-tuple and payload view, rewrite addresses and
 * ports in place with checksums recomputed, and build new packets. Used by
 * the pcap replay tool and the packet-level middlebox backend. I/O-free.
 */
#ifndef QASM_IPUDP_H
#define QASM_IPUDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

#define QASM_IPPROTO_UDP 17

enum {
    QASM_IPUDP_ERR_TRUNCATED = -1,  /* shorter than its headers say */
    QASM_IPUDP_ERR_VERSION = -2,    /* neither IPv4 nor IPv6 */
    QASM_IPUDP_ERR_HEADER = -3,     /* bad IPv4 IHL or total length, bad IPv6 payload length */
    QASM_IPUDP_ERR_FRAGMENT = -4,   /* a fragment (IPv4 MF/offset, IPv6 fragment header) */
    QASM_IPUDP_ERR_NOT_UDP = -5,    /* another transport protocol */
    QASM_IPUDP_ERR_UDP_LENGTH = -6, /* UDP length disagrees with the IP payload */
    QASM_IPUDP_ERR_CHECKSUM = -7,   /* checksum wrong (only when asked to verify) */
    QASM_IPUDP_ERR_SPACE = -8       /* output buffer too small */
};

#define QASM_IPUDP_F_VERIFY_CSUM 0x1u

/* A parsed packet: views into the caller's buffer. */
struct qasm_ipudp {
    struct qasm_flow flow;    /* src/dst addresses and ports, proto 17 */
    size_t ip_hdr_len;        /* IPv4 header or IPv6 header + extension headers */
    size_t udp_off;           /* offset of the UDP header */
    const uint8_t *payload;   /* UDP payload */
    size_t payload_len;
    size_t pkt_len;           /* IP total length (the buffer may hold trailing padding) */
    uint8_t ttl;              /* TTL / hop limit */
};

/*
 * qasm_ipudp_parse parses the IP packet at |pkt| (|len| bytes, may include
 * link-layer padding after it). Returns 0, or a QASM_IPUDP_ERR_* code.
 * With QASM_IPUDP_F_VERIFY_CSUM, the IPv4 header checksum and a non-zero
 * UDP checksum (always for IPv6) are verified.
 */
int qasm_ipudp_parse(struct qasm_ipudp *out, const uint8_t *pkt, size_t len, unsigned flags);

/*
 * qasm_ipudp_rewrite replaces the source and destination address and port
 * of the parsed packet |pu| inside |pkt| (same family as before) and fixes
 * the IPv4 header checksum and the UDP checksum. Returns 0, or
 * QASM_IPUDP_ERR_VERSION when a new address is of another family.
 */
int qasm_ipudp_rewrite(uint8_t *pkt, const struct qasm_ipudp *pu, const struct qasm_addr *src,
                       const struct qasm_addr *dst);

/*
 * qasm_ipudp_build writes an IP+UDP packet from |src| to |dst| (same
 * family) carrying |payload| into |buf| (|cap| bytes), with checksums.
 * Returns the packet length, or a QASM_IPUDP_ERR_* code.
 */
ssize_t qasm_ipudp_build(uint8_t *buf, size_t cap, const struct qasm_addr *src,
                         const struct qasm_addr *dst, const uint8_t *payload, size_t payload_len,
                         uint8_t ttl);

/*
 * qasm_ipudp_ip4_csum_fix recomputes, in place, the header checksum of the
 * IPv4 packet at |pkt| whose header is |ihl| bytes (after a TTL or address
 * change).
 */
void qasm_ipudp_ip4_csum_fix(uint8_t *pkt, size_t ihl);

/* qasm_ipudp_strerror names an error code. */
const char *qasm_ipudp_strerror(int err);

#endif
