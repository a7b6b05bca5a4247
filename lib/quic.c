/*
 * quic.c: QUIC header parsing for middleboxes. RFC 8999 (invariants),
 * RFC 9000 §17.2-17.3 (v1 long and short headers), RFC 9369 §3.2 (v2 type
 * bits). Every read is bounds-checked against the datagram.
 */
#include "quic.h"

#include <string.h>

#include "bytes.h"

int qasm_quic_is_grease(uint32_t version)
{
    return (version & 0x0f0f0f0fu) == 0x0a0a0a0au;
}

static int version_known(uint32_t version)
{
    return version == QASM_QUIC_V1 || version == QASM_QUIC_V2;
}

/* Long-header type bits (0x30) to a packet type, per version. */
static enum qasm_quic_type long_type(uint32_t version, uint8_t first)
{
    static const enum qasm_quic_type v1[4] = { QASM_QUIC_INITIAL, QASM_QUIC_0RTT,
                                               QASM_QUIC_HANDSHAKE, QASM_QUIC_RETRY };
    static const enum qasm_quic_type v2[4] = { QASM_QUIC_RETRY, QASM_QUIC_INITIAL, QASM_QUIC_0RTT,
                                               QASM_QUIC_HANDSHAKE };
    unsigned bits = (first >> 4) & 3u;
    return version == QASM_QUIC_V2 ? v2[bits] : v1[bits];
}

/* Reads a length-prefixed CID at data[*off]; |max| bounds the length byte. */
static int read_cid(struct qasm_cid *cid, uint8_t *wire_len, const uint8_t *data, size_t len,
                    size_t *off, size_t max)
{
    if (*off >= len)
        return QASM_QUIC_ERR_TRUNCATED;
    size_t n = data[*off];
    if (n > max)
        return QASM_QUIC_ERR_CID_TOO_LONG;
    if (len - *off - 1 < n)
        return QASM_QUIC_ERR_TRUNCATED;
    *wire_len = (uint8_t)n;
    qasm_cid_set(cid, data + *off + 1, n < QASM_CID_MAXLEN ? n : QASM_CID_MAXLEN);
    *off += 1 + n;
    return 0;
}

static ssize_t parse_payload_length(struct qasm_quic_hdr *hd, const uint8_t *data, size_t len,
                                    size_t off)
{
    size_t n = qasm_varint_get(&hd->length, data + off, len - off);
    if (n == 0)
        return QASM_QUIC_ERR_TRUNCATED;
    off += n;
    hd->pn_offset = off;
    if (hd->length > len - off)
        return QASM_QUIC_ERR_LENGTH;
    if (hd->length < QASM_QUIC_MIN_PROTECTED)
        return QASM_QUIC_ERR_TOO_SHORT;
    hd->pkt_len = off + (size_t)hd->length;
    return (ssize_t)hd->pkt_len;
}

static ssize_t parse_v1v2(struct qasm_quic_hdr *hd, const uint8_t *data, size_t len, size_t off,
                          unsigned flags)
{
    if (!hd->fixed_bit && !(flags & QASM_QUIC_F_GREASE_OK))
        return QASM_QUIC_ERR_FIXED_BIT;
    hd->type = long_type(hd->version, hd->first);
    switch (hd->type) {
    case QASM_QUIC_RETRY:
        if (len - off < QASM_QUIC_RETRY_TAG_LEN)
            return QASM_QUIC_ERR_RETRY_TAG;
        hd->token = data + off;
        hd->token_len = len - off - QASM_QUIC_RETRY_TAG_LEN;
        hd->pkt_len = len;
        return (ssize_t)len;
    case QASM_QUIC_INITIAL: {
        uint64_t tlen;
        size_t n = qasm_varint_get(&tlen, data + off, len - off);
        if (n == 0)
            return QASM_QUIC_ERR_TRUNCATED;
        off += n;
        if (tlen > len - off)
            return QASM_QUIC_ERR_TOKEN;
        hd->token = tlen ? data + off : NULL;
        hd->token_len = (size_t)tlen;
        off += (size_t)tlen;
        return parse_payload_length(hd, data, len, off);
    }
    default:
        return parse_payload_length(hd, data, len, off);
    }
}

static ssize_t parse_long(struct qasm_quic_hdr *hd, const uint8_t *data, size_t len, unsigned flags)
{
    size_t off = 5;
    int rv;

    if (len < 5)
        return QASM_QUIC_ERR_TRUNCATED;
    hd->version = qasm_get32(data + 1);
    hd->is_grease = (uint8_t)qasm_quic_is_grease(hd->version);
    /* Only v1/v2 bound CIDs to 20 bytes; the invariants allow 255. */
    size_t max = version_known(hd->version) ? QASM_CID_MAXLEN : 255;
    if ((rv = read_cid(&hd->dcid, &hd->dcid_len_wire, data, len, &off, max)) < 0 ||
        (rv = read_cid(&hd->scid, &hd->scid_len_wire, data, len, &off, max)) < 0)
        return rv;
    if (hd->version == 0) {
        size_t rest = len - off;
        hd->type = QASM_QUIC_VERSION_NEGOTIATION;
        if (rest == 0 || rest % 4 != 0)
            return QASM_QUIC_ERR_VN_LIST;
        hd->versions = data + off;
        hd->nversions = rest / 4;
        hd->pkt_len = len;
        return (ssize_t)len;
    }
    if (!version_known(hd->version)) {
        hd->type = QASM_QUIC_UNKNOWN_VERSION;
        hd->pn_offset = off;
        hd->pkt_len = len;
        return (ssize_t)len;
    }
    return parse_v1v2(hd, data, len, off, flags);
}

static ssize_t parse_short(struct qasm_quic_hdr *hd, const uint8_t *data, size_t len,
                           size_t short_dcid_len, unsigned flags)
{
    if (short_dcid_len > QASM_CID_MAXLEN)
        return QASM_QUIC_ERR_DCID_LEN_ARG;
    if (!hd->fixed_bit && !(flags & QASM_QUIC_F_GREASE_OK))
        return QASM_QUIC_ERR_FIXED_BIT;
    if (len < 1 + short_dcid_len)
        return QASM_QUIC_ERR_TRUNCATED;
    hd->type = QASM_QUIC_SHORT;
    hd->dcid_len_wire = (uint8_t)short_dcid_len;
    qasm_cid_set(&hd->dcid, data + 1, short_dcid_len);
    hd->pn_offset = 1 + short_dcid_len;
    if (len - hd->pn_offset < QASM_QUIC_MIN_PROTECTED)
        return QASM_QUIC_ERR_TOO_SHORT;
    hd->pkt_len = len;
    return (ssize_t)len;
}

ssize_t qasm_quic_parse(struct qasm_quic_hdr *hd, const uint8_t *data, size_t len,
                        size_t short_dcid_len, unsigned flags)
{
    ssize_t rv;

    memset(hd, 0, sizeof(*hd));
    if (len == 0)
        return QASM_QUIC_ERR_EMPTY;
    hd->first = data[0];
    hd->is_long = (data[0] & 0x80) != 0;
    hd->fixed_bit = (data[0] & 0x40) != 0;
    rv = hd->is_long ? parse_long(hd, data, len, flags)
                     : parse_short(hd, data, len, short_dcid_len, flags);
    if (rv >= 0 && (flags & QASM_QUIC_F_CHECK_INITIAL_SIZE) && hd->type == QASM_QUIC_INITIAL &&
        len < QASM_QUIC_MIN_INITIAL_DGRAM)
        return QASM_QUIC_ERR_SMALL_INITIAL;
    return rv;
}

int qasm_quic_dcid(struct qasm_cid *dcid, const uint8_t *data, size_t len, size_t short_dcid_len)
{
    return qasm_quic_dcid_flags(dcid, data, len, short_dcid_len, 0);
}

int qasm_quic_dcid_flags(struct qasm_cid *dcid, const uint8_t *data, size_t len,
                         size_t short_dcid_len, unsigned flags)
{
    int fixed_ok = (flags & QASM_QUIC_F_GREASE_OK) != 0;
    if (len == 0)
        return QASM_QUIC_ERR_EMPTY;
    if (data[0] & 0x80) {
        if (len < 6)
            return QASM_QUIC_ERR_TRUNCATED;
        uint32_t version = qasm_get32(data + 1);
        if (version_known(version) && !(data[0] & 0x40) && !fixed_ok)
            return QASM_QUIC_ERR_FIXED_BIT;
        size_t n = data[5];
        if (n > QASM_CID_MAXLEN)
            return QASM_QUIC_ERR_CID_TOO_LONG;
        if (len - 6 < n)
            return QASM_QUIC_ERR_TRUNCATED;
        qasm_cid_set(dcid, data + 6, n);
        return 1;
    }
    if (short_dcid_len > QASM_CID_MAXLEN)
        return QASM_QUIC_ERR_DCID_LEN_ARG;
    if (!(data[0] & 0x40) && !fixed_ok)
        return QASM_QUIC_ERR_FIXED_BIT;
    if (len < 1 + short_dcid_len)
        return QASM_QUIC_ERR_TRUNCATED;
    qasm_cid_set(dcid, data + 1, short_dcid_len);
    return 0;
}

void qasm_quic_iter_init(struct qasm_quic_iter *it, const uint8_t *data, size_t len,
                         size_t short_dcid_len, unsigned flags)
{
    memset(it, 0, sizeof(*it));
    it->data = data;
    it->len = len;
    it->short_dcid_len = short_dcid_len;
    it->flags = flags;
}

int qasm_quic_iter_next(struct qasm_quic_iter *it, struct qasm_quic_hdr *hd)
{
    if (it->off >= it->len)
        return it->count == 0 && it->len == 0 ? QASM_QUIC_ERR_EMPTY : 0;
    ssize_t n = qasm_quic_parse(hd, it->data + it->off, it->len - it->off, it->short_dcid_len,
                                it->flags & QASM_QUIC_F_GREASE_OK);
    if (n < 0) {
        it->off = it->len;
        return (int)n;
    }
    if ((it->flags & QASM_QUIC_F_CHECK_INITIAL_SIZE) && hd->type == QASM_QUIC_INITIAL &&
        it->len < QASM_QUIC_MIN_INITIAL_DGRAM) {
        it->off = it->len;
        return QASM_QUIC_ERR_SMALL_INITIAL;
    }
    if (it->count == 0) {
        it->first_dcid = hd->dcid;
    } else if (!qasm_cid_eq(&it->first_dcid, &hd->dcid)) {
        it->off = it->len;
        return QASM_QUIC_ERR_COALESCED_DCID;
    }
    it->off += (size_t)n;
    it->count++;
    return 1;
}

const char *qasm_quic_strerror(int err)
{
    switch (err) {
    case QASM_QUIC_ERR_EMPTY:
        return "empty datagram";
    case QASM_QUIC_ERR_TRUNCATED:
        return "truncated header";
    case QASM_QUIC_ERR_CID_TOO_LONG:
        return "connection ID longer than 20 bytes";
    case QASM_QUIC_ERR_LENGTH:
        return "Length beyond the datagram";
    case QASM_QUIC_ERR_FIXED_BIT:
        return "fixed bit is 0";
    case QASM_QUIC_ERR_SMALL_INITIAL:
        return "Initial in a datagram under 1200 bytes";
    case QASM_QUIC_ERR_TOKEN:
        return "token beyond the datagram";
    case QASM_QUIC_ERR_TOO_SHORT:
        return "packet too short for a packet number and sample";
    case QASM_QUIC_ERR_VN_LIST:
        return "bad Version Negotiation list";
    case QASM_QUIC_ERR_RETRY_TAG:
        return "Retry shorter than its integrity tag";
    case QASM_QUIC_ERR_DCID_LEN_ARG:
        return "short-header DCID length over 20";
    case QASM_QUIC_ERR_COALESCED_DCID:
        return "coalesced packet with another DCID";
    default:
        return err >= 0 ? "ok" : "unknown error";
    }
}

const char *qasm_quic_type_name(enum qasm_quic_type type)
{
    static const char *names[] = { "initial", "0rtt", "handshake", "retry",
                                   "version_negotiation", "1rtt", "unknown_version" };
    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}
