/*
 * linktype.h: strip the link-layer header of a captured frame to reach its
 * IP packet. Pure (no libpcap call, no I/O): the link type is the DLT_*
 * value pcap_datalink() returns. Supported: Ethernet (with up to two
 * 802.1Q / 802.1ad tags), Linux cooked capture v1 (SLL) and v2 (SLL2),
 * raw IP (DLT_RAW, LINKTYPE_RAW, DLT_IPV4, DLT_IPV6) and BSD loopback
 * (DLT_NULL in either byte order, DLT_LOOP).
 */
#ifndef QASM_LINKTYPE_H
#define QASM_LINKTYPE_H

#include <stddef.h>
#include <stdint.h>

enum {
    QASM_LINK_ERR_TRUNCATED = -1,   /* frame shorter than its link-layer header */
    QASM_LINK_ERR_NOT_IP = -2,      /* another network protocol (ARP, ...) */
    QASM_LINK_ERR_UNSUPPORTED = -3  /* link type not handled */
};

/*
 * qasm_link_decap finds the IP packet inside the frame |frame| (|caplen|
 * captured bytes) of link type |dlt|. On success returns 4 or 6 (the IP
 * version the link layer announced, or read from the first nibble for raw
 * IP) and sets *ip / *iplen to a view into |frame|; otherwise returns a
 * QASM_LINK_ERR_* code. The IP header itself is not checked here.
 */
int qasm_link_decap(int dlt, const uint8_t *frame, size_t caplen, const uint8_t **ip,
                    size_t *iplen);

/* qasm_link_supported tells whether qasm_link_decap handles |dlt|. */
int qasm_link_supported(int dlt);

/* qasm_link_name names a supported link type ("ethernet", "sll", ...), else "unknown". */
const char *qasm_link_name(int dlt);

/* qasm_link_strerror names a QASM_LINK_ERR_* code. */
const char *qasm_link_strerror(int err);

#endif
