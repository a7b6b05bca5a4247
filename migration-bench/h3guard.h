/*
 * h3guard.h: what qasm-h3-server and qasm-h3-client check on a received UDP
 * datagram before ngtcp2 sees it, and the server's stateless first step
 * (which connection, or a Version Negotiation, or a drop).
 *
 * Why: Debian's libngtcp2 0.12.1 is built with assertions, and its entry
 * points assert on inputs their callers are expected to have rejected
 * (assert is the caller's contract there, error codes are for bad packets).
 * Anything on the network can send an empty UDP datagram; without this
 * check one such datagram aborted the server. See h3guard.c for the list of
 * ngtcp2 preconditions that were checked and which of them the guard
 * enforces.
 */
#ifndef QASM_H3_GUARD_H
#define QASM_H3_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

#include "cid.h"

/* Why a datagram is refused before ngtcp2; QASM_DGRAM_OK lets it through. */
enum qasm_dgram_verdict {
    QASM_DGRAM_OK = 0,
    QASM_DGRAM_EMPTY,     /* zero bytes: not QUIC; ngtcp2_pkt_decode_version_cid asserts */
    QASM_DGRAM_TRUNCATED, /* shorter than the header its first byte announces */
    QASM_DGRAM_VERDICTS   /* number of verdicts, for counter arrays */
};

/*
 * qasm_dgram_guard checks the |len| bytes at |pkt| (NULL allowed when |len|
 * is 0) as the first packet of a QUIC datagram received by an endpoint whose
 * own connection IDs are |short_dcidlen| bytes long (the DCID length of a
 * short header it can receive, 0..20; larger values are treated as 20).
 * Returns QASM_DGRAM_EMPTY for 0 bytes; QASM_DGRAM_TRUNCATED when the
 * invariant header (RFC 8999 §5) does not fit: a long header needs
 * 1 + 4 + 1 + DCID length + 1 + SCID length bytes, a short header
 * 1 + |short_dcidlen|; else QASM_DGRAM_OK. Pure: no I/O, no clock, reads
 * only inside the datagram.
 */
enum qasm_dgram_verdict qasm_dgram_guard(const uint8_t *pkt, size_t len, size_t short_dcidlen);

/* qasm_dgram_verdict_name: "ok", "empty", "truncated" (the JSON counter suffixes). */
const char *qasm_dgram_verdict_name(enum qasm_dgram_verdict v);

/* What the server does with a datagram (qasm_h3_route). */
enum qasm_h3_route_action {
    QASM_H3_ROUTE_DROP = 0, /* refused: |why| says by whom */
    QASM_H3_ROUTE_VN,       /* unsupported version: answer with Version Negotiation */
    QASM_H3_ROUTE_CONN,     /* look |key| up; |long_hdr| tells whether it may open one */
};

/* Why QASM_H3_ROUTE_DROP: the guard's verdicts, then ngtcp2's or ours. */
enum qasm_h3_drop_reason {
    QASM_H3_DROP_NONE = 0,
    QASM_H3_DROP_EMPTY = QASM_DGRAM_EMPTY,
    QASM_H3_DROP_TRUNCATED = QASM_DGRAM_TRUNCATED,
    QASM_H3_DROP_UNDECODABLE, /* ngtcp2_pkt_decode_version_cid refused it */
    QASM_H3_DROP_BAD_CID,     /* DCID longer than 20 bytes (a version we do not speak) */
    QASM_H3_DROP_REASONS
};

struct qasm_h3_route {
    enum qasm_h3_route_action action;
    enum qasm_h3_drop_reason why; /* QASM_H3_DROP_NONE unless action is DROP */
    ngtcp2_version_cid vc;        /* valid for VN and CONN; points into the datagram */
    struct qasm_cid key;          /* CONN: the DCID to dispatch on */
    int long_hdr;                 /* CONN: a long header (may be a new connection's Initial) */
};

/*
 * qasm_h3_route is the server's first, stateless look at a datagram: the
 * guard, then ngtcp2_pkt_decode_version_cid with the server's connection ID
 * length |cid_len| (1..20), then the dispatch key. Fills |r| and returns
 * r->action. |r->vc| points into |pkt| and lives as long as it.
 */
enum qasm_h3_route_action qasm_h3_route(struct qasm_h3_route *r, const uint8_t *pkt, size_t len,
                                        size_t cid_len);

/* qasm_h3_drop_reason_name: "empty", "truncated", "undecodable", "bad_cid". */
const char *qasm_h3_drop_reason_name(enum qasm_h3_drop_reason why);

/*
 * QASM_H3_VN_MAX is the largest Version Negotiation qasm_h3_write_vn writes
 * (both CIDs of 255 bytes, as RFC 8999 allows for unknown versions, one
 * version).
 */
#define QASM_H3_VN_MAX (1 + 4 + 1 + 255 + 1 + 255 + 4)

/*
 * qasm_h3_write_vn writes into |out| (|outlen| bytes, QASM_H3_VN_MAX is
 * always enough) the Version Negotiation answering |vc| (its SCID and DCID
 * swapped, RFC 9000 §17.2.1), offering QUIC v1, with |unused| as the random
 * bits of the first byte. Returns the length or a negative ngtcp2 error.
 */
ngtcp2_ssize qasm_h3_write_vn(uint8_t *out, size_t outlen, uint8_t unused,
                              const ngtcp2_version_cid *vc);

/*
 * qasm_h3_sreset_randlen is the number of unpredictable bytes of the
 * stateless reset answering a |pktlen|-byte packet, or 0 when none may be
 * sent: a reset must be smaller than the packet that triggered it (RFC 9000
 * §10.3.3, against reset loops) yet at least 21 bytes long (§10.3), so
 * packets of 21 bytes or less get none; capped at 41 (a 58-byte reset).
 */
size_t qasm_h3_sreset_randlen(size_t pktlen);

#endif
