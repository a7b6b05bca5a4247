/*
 * linktype.c: link-layer decapsulation of captured frames (see linktype.h).
 */
#include "linktype.h"

#include <pcap/dlt.h>

#include "bytes.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
/* The pcap file value of raw IP; libpcap normally maps it to DLT_RAW. */
#define LINKTYPE_RAW 101
/* DLT_RAW is 12 on most systems and 14 on OpenBSD; DLT_LOOP 108 (12 on OpenBSD). */
#define DLT_RAW_ALT 14
#define DLT_LOOP_ALT 108

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8

static int by_ethertype(uint16_t et, const uint8_t *p, size_t len, const uint8_t **ip,
                        size_t *iplen)
{
    int ver;

    if (et == ETHERTYPE_IPV4)
        ver = 4;
    else if (et == ETHERTYPE_IPV6)
        ver = 6;
    else
        return QASM_LINK_ERR_NOT_IP;
    *ip = p;
    *iplen = len;
    return ver;
}

static int raw_ip(const uint8_t *p, size_t len, const uint8_t **ip, size_t *iplen)
{
    if (len < 1)
        return QASM_LINK_ERR_TRUNCATED;
    int ver = p[0] >> 4;
    if (ver != 4 && ver != 6)
        return QASM_LINK_ERR_NOT_IP;
    *ip = p;
    *iplen = len;
    return ver;
}

static int ethernet(const uint8_t *p, size_t len, const uint8_t **ip, size_t *iplen)
{
    size_t off = 12;

    if (len < 14)
        return QASM_LINK_ERR_TRUNCATED;
    uint16_t et = qasm_get16(p + off);
    for (int tags = 0; (et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ) && tags < 2; tags++) {
        off += 4;
        if (len < off + 2)
            return QASM_LINK_ERR_TRUNCATED;
        et = qasm_get16(p + off);
    }
    off += 2;
    return by_ethertype(et, p + off, len - off, ip, iplen);
}

/* BSD loopback: a 4-byte address family, host order of the capturing machine (NULL). */
static int loopback(const uint8_t *p, size_t len, int network_order, const uint8_t **ip,
                    size_t *iplen)
{
    if (len < 4)
        return QASM_LINK_ERR_TRUNCATED;
    uint32_t be = qasm_get32(p);
    uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                  (uint32_t)p[3] << 24;
    uint32_t af = network_order ? be : (be < 256 ? be : le);
    switch (af) {
    case 2: /* AF_INET everywhere */
        if (len < 5 || p[4] >> 4 != 4)
            return len < 5 ? QASM_LINK_ERR_TRUNCATED : QASM_LINK_ERR_NOT_IP;
        *ip = p + 4;
        *iplen = len - 4;
        return 4;
    case 10: /* Linux */
    case 24: /* NetBSD, OpenBSD, BSD/OS */
    case 28: /* FreeBSD */
    case 30: /* Darwin */
        if (len < 5 || p[4] >> 4 != 6)
            return len < 5 ? QASM_LINK_ERR_TRUNCATED : QASM_LINK_ERR_NOT_IP;
        *ip = p + 4;
        *iplen = len - 4;
        return 6;
    default:
        return QASM_LINK_ERR_NOT_IP;
    }
}

int qasm_link_decap(int dlt, const uint8_t *frame, size_t caplen, const uint8_t **ip,
                    size_t *iplen)
{
    switch (dlt) {
    case DLT_EN10MB:
        return ethernet(frame, caplen, ip, iplen);
    case DLT_LINUX_SLL:
        /* packet type 2, ARPHRD 2, addr len 2, addr 8, protocol 2 */
        if (caplen < 16)
            return QASM_LINK_ERR_TRUNCATED;
        return by_ethertype(qasm_get16(frame + 14), frame + 16, caplen - 16, ip, iplen);
    case DLT_LINUX_SLL2:
        /* protocol 2, reserved 2, ifindex 4, ARPHRD 2, packet type 1, addr len 1, addr 8 */
        if (caplen < 20)
            return QASM_LINK_ERR_TRUNCATED;
        return by_ethertype(qasm_get16(frame), frame + 20, caplen - 20, ip, iplen);
    case DLT_RAW:
    case DLT_RAW_ALT:
    case LINKTYPE_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return raw_ip(frame, caplen, ip, iplen);
    case DLT_NULL:
        return loopback(frame, caplen, 0, ip, iplen);
    case DLT_LOOP_ALT:
        return loopback(frame, caplen, 1, ip, iplen);
    default:
        return QASM_LINK_ERR_UNSUPPORTED;
    }
}

int qasm_link_supported(int dlt)
{
    return qasm_link_decap(dlt, NULL, 0, &(const uint8_t *){NULL}, &(size_t){0}) !=
           QASM_LINK_ERR_UNSUPPORTED;
}

const char *qasm_link_name(int dlt)
{
    switch (dlt) {
    case DLT_EN10MB:
        return "ethernet";
    case DLT_LINUX_SLL:
        return "sll";
    case DLT_LINUX_SLL2:
        return "sll2";
    case DLT_RAW:
    case DLT_RAW_ALT:
    case LINKTYPE_RAW:
        return "raw";
    case DLT_IPV4:
        return "ipv4";
    case DLT_IPV6:
        return "ipv6";
    case DLT_NULL:
        return "null";
    case DLT_LOOP_ALT:
        return "loop";
    default:
        return "unknown";
    }
}

const char *qasm_link_strerror(int err)
{
    switch (err) {
    case QASM_LINK_ERR_TRUNCATED:
        return "truncated link-layer header";
    case QASM_LINK_ERR_NOT_IP:
        return "not IP";
    case QASM_LINK_ERR_UNSUPPORTED:
        return "unsupported link type";
    default:
        return "ok";
    }
}
