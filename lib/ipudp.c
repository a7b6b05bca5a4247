#include "ipudp.h"

#include <netinet/in.h>
#include <string.h>

#include "bytes.h"

/* One's-complement sum over |len| bytes, folded later (RFC 1071). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    while (len > 1) {
        sum += qasm_get16(p);
        p += 2;
        len -= 2;
    }
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint16_t udp_checksum(const struct qasm_flow *f, const uint8_t *udp, size_t udp_len)
{
    size_t alen = f->src.family == AF_INET ? 4 : 16;
    uint32_t sum = 0;
    sum = csum_add(sum, f->src.ip, alen);
    sum = csum_add(sum, f->dst.ip, alen);
    sum += QASM_IPPROTO_UDP;
    sum += (uint32_t)udp_len;
    if (alen == 16)
        sum += (uint32_t)(udp_len >> 16);
    /* Checksum field itself counted as zero. */
    sum = csum_add(sum, udp, 6);
    sum = csum_add(sum, udp + 8, udp_len - 8);
    uint16_t c = csum_fold(sum);
    return c == 0 ? 0xffff : c;
}

/* What both versions record: the addresses (source at |addrs|, destination right
 * after it, |alen| bytes each), the header and packet lengths, the TTL. Returns 0. */
static inline int set_ip(struct qasm_ipudp *out, int family, const uint8_t *addrs, size_t alen,
                         size_t hdr_len, size_t total, uint8_t ttl)
{
    out->flow.src.family = out->flow.dst.family = (uint8_t)family;
    memcpy(out->flow.src.ip, addrs, alen);
    memcpy(out->flow.dst.ip, addrs + alen, alen);
    out->ip_hdr_len = hdr_len;
    out->pkt_len = total;
    out->ttl = ttl;
    return 0;
}

static int parse_v4(struct qasm_ipudp *out, const uint8_t *pkt, size_t len)
{
    if (len < 20)
        return QASM_IPUDP_ERR_TRUNCATED;
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    size_t total = qasm_get16(pkt + 2);
    if (ihl < 20 || total < ihl)
        return QASM_IPUDP_ERR_HEADER;
    if (total > len)
        return QASM_IPUDP_ERR_TRUNCATED;
    if (qasm_get16(pkt + 6) & 0x3fff)
        return QASM_IPUDP_ERR_FRAGMENT;
    if (pkt[9] != QASM_IPPROTO_UDP)
        return QASM_IPUDP_ERR_NOT_UDP;
    return set_ip(out, AF_INET, pkt + 12, 4, ihl, total, pkt[8]);
}

static int is_v6_ext(uint8_t nh)
{
    return nh == 0 || nh == 43 || nh == 60 || nh == 51;
}

static int parse_v6(struct qasm_ipudp *out, const uint8_t *pkt, size_t len)
{
    if (len < 40)
        return QASM_IPUDP_ERR_TRUNCATED;
    size_t total = 40 + (size_t)qasm_get16(pkt + 4);
    if (total > len)
        return QASM_IPUDP_ERR_TRUNCATED;
    uint8_t nh = pkt[6];
    size_t off = 40;
    while (is_v6_ext(nh)) {
        if (off + 8 > total)
            return QASM_IPUDP_ERR_TRUNCATED;
        /* AH counts its length in 4-byte units, the others in 8-byte units. */
        size_t elen = nh == 51 ? ((size_t)pkt[off + 1] + 2) * 4 : ((size_t)pkt[off + 1] + 1) * 8;
        nh = pkt[off];
        off += elen;
    }
    if (off > total)
        return QASM_IPUDP_ERR_TRUNCATED;
    if (nh == 44)
        return QASM_IPUDP_ERR_FRAGMENT;
    if (nh != QASM_IPPROTO_UDP)
        return QASM_IPUDP_ERR_NOT_UDP;
    return set_ip(out, AF_INET6, pkt + 8, 16, off, total, pkt[7]);
}

int qasm_ipudp_parse(struct qasm_ipudp *out, const uint8_t *pkt, size_t len, unsigned flags)
{
    int rv;

    memset(out, 0, sizeof(*out));
    if (len < 1)
        return QASM_IPUDP_ERR_TRUNCATED;
    switch (pkt[0] >> 4) {
    case 4:
        rv = parse_v4(out, pkt, len);
        break;
    case 6:
        rv = parse_v6(out, pkt, len);
        break;
    default:
        return QASM_IPUDP_ERR_VERSION;
    }
    if (rv < 0)
        return rv;
    const uint8_t *udp = pkt + out->ip_hdr_len;
    size_t avail = out->pkt_len - out->ip_hdr_len;
    if (avail < 8)
        return QASM_IPUDP_ERR_TRUNCATED;
    size_t ulen = qasm_get16(udp + 4);
    if (ulen < 8 || ulen > avail)
        return QASM_IPUDP_ERR_UDP_LENGTH;
    out->flow.proto = QASM_IPPROTO_UDP;
    out->flow.src.port = qasm_get16(udp);
    out->flow.dst.port = qasm_get16(udp + 2);
    out->udp_off = out->ip_hdr_len;
    out->payload = udp + 8;
    out->payload_len = ulen - 8;
    if (flags & QASM_IPUDP_F_VERIFY_CSUM) {
        if (out->flow.src.family == AF_INET && csum_fold(csum_add(0, pkt, out->ip_hdr_len)) != 0)
            return QASM_IPUDP_ERR_CHECKSUM;
        uint16_t c = qasm_get16(udp + 6);
        if ((c != 0 || out->flow.src.family == AF_INET6) && c != udp_checksum(&out->flow, udp, ulen))
            return QASM_IPUDP_ERR_CHECKSUM;
    }
    return 0;
}

void qasm_ipudp_ip4_csum_fix(uint8_t *pkt, size_t ihl)
{
    pkt[10] = pkt[11] = 0;
    qasm_put16(pkt + 10, csum_fold(csum_add(0, pkt, ihl)));
}

int qasm_ipudp_rewrite(uint8_t *pkt, const struct qasm_ipudp *pu, const struct qasm_addr *src,
                       const struct qasm_addr *dst)
{
    struct qasm_flow f = pu->flow;
    uint8_t *udp = pkt + pu->udp_off;

    if (src->family != f.src.family || dst->family != f.dst.family)
        return QASM_IPUDP_ERR_VERSION;
    f.src = *src;
    f.dst = *dst;
    if (f.src.family == AF_INET) {
        memcpy(pkt + 12, src->ip, 4);
        memcpy(pkt + 16, dst->ip, 4);
        qasm_ipudp_ip4_csum_fix(pkt, pu->ip_hdr_len);
    } else {
        memcpy(pkt + 8, src->ip, 16);
        memcpy(pkt + 24, dst->ip, 16);
    }
    qasm_put16(udp, src->port);
    qasm_put16(udp + 2, dst->port);
    size_t ulen = pu->payload_len + 8;
    /* An IPv4 sender may leave the UDP checksum out; keep that choice. */
    if (f.src.family == AF_INET6 || qasm_get16(udp + 6) != 0)
        qasm_put16(udp + 6, udp_checksum(&f, udp, ulen));
    return 0;
}

ssize_t qasm_ipudp_build(uint8_t *buf, size_t cap, const struct qasm_addr *src,
                         const struct qasm_addr *dst, const uint8_t *payload, size_t payload_len,
                         uint8_t ttl)
{
    struct qasm_flow f = { .src = *src, .dst = *dst, .proto = QASM_IPPROTO_UDP };
    size_t hl;

    if (src->family != dst->family || (src->family != AF_INET && src->family != AF_INET6))
        return QASM_IPUDP_ERR_VERSION;
    hl = src->family == AF_INET ? 20 : 40;
    if (payload_len > 65535 - 8 - hl || cap < hl + 8 + payload_len)
        return QASM_IPUDP_ERR_SPACE;
    size_t ulen = 8 + payload_len;
    memset(buf, 0, hl + 8);
    if (src->family == AF_INET) {
        buf[0] = 0x45;
        qasm_put16(buf + 2, (uint16_t)(hl + ulen));
        qasm_put16(buf + 6, 0x4000); /* DF */
        buf[8] = ttl;
        buf[9] = QASM_IPPROTO_UDP;
        memcpy(buf + 12, src->ip, 4);
        memcpy(buf + 16, dst->ip, 4);
        qasm_ipudp_ip4_csum_fix(buf, hl);
    } else {
        buf[0] = 0x60;
        qasm_put16(buf + 4, (uint16_t)ulen);
        buf[6] = QASM_IPPROTO_UDP;
        buf[7] = ttl;
        memcpy(buf + 8, src->ip, 16);
        memcpy(buf + 24, dst->ip, 16);
    }
    uint8_t *udp = buf + hl;
    qasm_put16(udp, src->port);
    qasm_put16(udp + 2, dst->port);
    qasm_put16(udp + 4, (uint16_t)ulen);
    memmove(udp + 8, payload, payload_len);
    qasm_put16(udp + 6, udp_checksum(&f, udp, ulen));
    return (ssize_t)(hl + ulen);
}

const char *qasm_ipudp_strerror(int err)
{
    static const char *names[] = { "ok", "truncated", "not IPv4/IPv6", "bad IP header",
                                    "fragment", "not UDP", "bad UDP length", "bad checksum",
                                    "no space" };
    return err <= 0 && err >= QASM_IPUDP_ERR_SPACE ? names[-err] : "unknown error";
}
