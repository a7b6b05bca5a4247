/*
 * h3guard.c: checks on received datagrams before ngtcp2 sees them (see
 * h3guard.h), and the server's stateless routing step.
 *
 * Audit of the ngtcp2 0.12.1 entry points qasm-h3-server, qasm-h3-client
 * and the client agent feed with bytes from the network (Debian builds
 * libngtcp2 with assertions, so a failed assert aborts the process):
 *
 *  - ngtcp2_pkt_decode_version_cid(dest, data, datalen, short_dcidlen)
 *    (lib/ngtcp2_pkt.c): assert(datalen) first thing, before any length
 *    check: an empty datagram aborts. assert(short_dcidlen <= 20) for short
 *    headers: our own configuration (the server's --cid-len is 8..20).
 *    Everything else (truncated long header, CID lengths up to 255 for
 *    unknown versions, unknown version below 1200 bytes) is an error code.
 *    => the guard refuses empty datagrams (this was the crash).
 *  - ngtcp2_accept(dest, pkt, pktlen) (lib/ngtcp2_conn.c): checks
 *    pktlen == 0 itself and returns NGTCP2_ERR_INVALID_ARGUMENT; the long
 *    header decoder it calls checks every length before reading; its only
 *    asserts are internal consistency checks. Safe for any input.
 *  - ngtcp2_conn_read_pkt(conn, path, pi, pkt, pktlen, ts): returns
 *    NGTCP2_ERR_INVALID_ARGUMENT for pktlen == 0 (no assert; its one entry
 *    assert is about the connection's state, a caller bug). qasm-h3-client
 *    used to treat any error but NGTCP2_ERR_DISCARD_PKT as fatal, so one
 *    empty datagram through the NAT ended its transfer; Debian's gtlsclient
 *    still does. Truncated or garbage packets from a known path are
 *    discarded inside (conn_recv_pkt gives NGTCP2_ERR_DISCARD_PKT, read_pkt
 *    then returns 0); from an unknown path a client ignores them (0).
 *  - ngtcp2_pkt_write_version_negotiation: assert(dcidlen < 256 &&
 *    scidlen < 256), true for CID lengths read from one byte; the output
 *    length 1 + 4 + 1 + dcidlen + 1 + scidlen + 4 * versions is checked
 *    against destlen (NGTCP2_ERR_NOBUF): qasm_h3_write_vn sizes for 255-byte
 *    CIDs so a legal Version Negotiation is never lost to a small buffer.
 *  - ngtcp2_pkt_write_stateless_reset: no asserts; refuses randlen < 5 and
 *    small buffers with error codes. The server derives randlen from the
 *    received length (>= 22 bytes, RFC 9000 §10.3.3) in send_stateless_reset.
 *  - The agent's wrapper of ngtcp2_conn_read_pkt_versioned passes every
 *    datagram through unchanged (the real function does not assert on
 *    packet bytes, see above); its decrypt wrapper walks only plaintext that
 *    the AEAD authenticated (fuzzed by fuzz_agent).
 *
 * Besides empty datagrams the guard refuses those whose first header is
 * incomplete (RFC 8999 §5 invariants: the fields every QUIC version has).
 * ngtcp2 would refuse them too (an error code or a silent discard): doing it
 * here makes the drop visible in the counters and keeps them away from code
 * paths whose preconditions we would otherwise have to re-audit.
 * Stateless resets are short-header-shaped and at least 21 bytes long, more
 * than any short header the guard can ask for (1 + 20), so none is refused.
 */
#include "h3guard.h"

#include <string.h>

/* Long header: form bit set; RFC 8999 §5.1 invariants. */
#define FORM_BIT 0x80u

enum qasm_dgram_verdict qasm_dgram_guard(const uint8_t *pkt, size_t len, size_t short_dcidlen)
{
    if (len == 0)
        return QASM_DGRAM_EMPTY;
    if (pkt[0] & FORM_BIT) {
        /* 1 flags + 4 version + 1 DCID length, then DCID, then 1 SCID length, then SCID. */
        size_t need = 1 + 4 + 1;
        if (len < need)
            return QASM_DGRAM_TRUNCATED;
        need += (size_t)pkt[5] + 1;
        if (len < need)
            return QASM_DGRAM_TRUNCATED;
        need += pkt[need - 1];
        return len < need ? QASM_DGRAM_TRUNCATED : QASM_DGRAM_OK;
    }
    if (short_dcidlen > NGTCP2_MAX_CIDLEN)
        short_dcidlen = NGTCP2_MAX_CIDLEN;
    return len < 1 + short_dcidlen ? QASM_DGRAM_TRUNCATED : QASM_DGRAM_OK;
}

const char *qasm_dgram_verdict_name(enum qasm_dgram_verdict v)
{
    switch (v) {
    case QASM_DGRAM_OK: return "ok";
    case QASM_DGRAM_EMPTY: return "empty";
    case QASM_DGRAM_TRUNCATED: return "truncated";
    default: return "?";
    }
}

const char *qasm_h3_drop_reason_name(enum qasm_h3_drop_reason why)
{
    switch (why) {
    case QASM_H3_DROP_NONE: return "none";
    case QASM_H3_DROP_EMPTY: return "empty";
    case QASM_H3_DROP_TRUNCATED: return "truncated";
    case QASM_H3_DROP_UNDECODABLE: return "undecodable";
    case QASM_H3_DROP_BAD_CID: return "bad_cid";
    default: return "?";
    }
}

static enum qasm_h3_route_action drop(struct qasm_h3_route *r, enum qasm_h3_drop_reason why)
{
    r->action = QASM_H3_ROUTE_DROP;
    r->why = why;
    return r->action;
}

enum qasm_h3_route_action qasm_h3_route(struct qasm_h3_route *r, const uint8_t *pkt, size_t len,
                                        size_t cid_len)
{
    memset(r, 0, sizeof(*r));
    /* The short-header DCID length must satisfy ngtcp2's assert (<= 20). */
    if (cid_len > NGTCP2_MAX_CIDLEN)
        cid_len = NGTCP2_MAX_CIDLEN;
    enum qasm_dgram_verdict v = qasm_dgram_guard(pkt, len, cid_len);
    if (v != QASM_DGRAM_OK)
        return drop(r, (enum qasm_h3_drop_reason)v);
    int rv = ngtcp2_pkt_decode_version_cid(&r->vc, pkt, len, cid_len);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        r->action = QASM_H3_ROUTE_VN;
        return r->action;
    }
    if (rv != 0)
        return drop(r, QASM_H3_DROP_UNDECODABLE);
    if (qasm_cid_set(&r->key, r->vc.dcid, r->vc.dcidlen) != 0)
        return drop(r, QASM_H3_DROP_BAD_CID);
    r->long_hdr = (pkt[0] & FORM_BIT) != 0;
    r->action = QASM_H3_ROUTE_CONN;
    return r->action;
}

ngtcp2_ssize qasm_h3_write_vn(uint8_t *out, size_t outlen, uint8_t unused,
                              const ngtcp2_version_cid *vc)
{
    static const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
    /* Our DCID is the peer's SCID and vice versa. */
    return ngtcp2_pkt_write_version_negotiation(out, outlen, unused, vc->scid, vc->scidlen,
                                                vc->dcid, vc->dcidlen, versions, 1);
}

size_t qasm_h3_sreset_randlen(size_t pktlen)
{
    /* 1 byte shorter than the trigger; 16 of them are the token. */
    if (pktlen < 22)
        return 0;
    size_t randlen = pktlen - 1 - NGTCP2_STATELESS_RESET_TOKENLEN;
    if (randlen > 41)
        randlen = 41;
    return randlen < NGTCP2_MIN_STATELESS_RESET_RANDLEN ? 0 : randlen;
}
