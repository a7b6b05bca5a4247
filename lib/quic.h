/*
 * quic.h: the QUIC wire image as a middlebox sees it (RFC 8999 invariants,
 * RFC 9000 §17 for v1, RFC 9369 §3.2 for v2, RFC 9312 §3 for what is
 * observable). I/O-free and allocation-free: it reads headers, never
 * decrypts, and never reads outside the datagram it is given.
 *
 * A UDP datagram holds one or more coalesced QUIC packets: long-header
 * packets each carry a Length and may be followed by more packets; a
 * short-header packet always runs to the end of the datagram. Short
 * headers carry no DCID length: the caller supplies it (a middlebox learns
 * it per server from the SCID of the server's long-header packets).
 */
#ifndef QASM_QUIC_H
#define QASM_QUIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cid.h"

#define QASM_QUIC_V1 0x00000001u
#define QASM_QUIC_V2 0x6b3343cfu
/* Smallest UDP payload of a datagram carrying a client Initial (RFC 9000 §14.1). */
#define QASM_QUIC_MIN_INITIAL_DGRAM 1200
/* Length field minimum: 4 bytes of packet number + payload before the 16-byte HP sample. */
#define QASM_QUIC_MIN_PROTECTED 20
#define QASM_QUIC_RETRY_TAG_LEN 16

/* Packet types, independent of the version's bit encoding. */
enum qasm_quic_type {
    QASM_QUIC_INITIAL = 0,
    QASM_QUIC_0RTT = 1,
    QASM_QUIC_HANDSHAKE = 2,
    QASM_QUIC_RETRY = 3,
    QASM_QUIC_VERSION_NEGOTIATION = 4,
    QASM_QUIC_SHORT = 5,          /* 1-RTT */
    QASM_QUIC_UNKNOWN_VERSION = 6 /* long header, version neither v1 nor v2: invariants only */
};

/* Error codes: every malformed input gets its own. */
enum {
    QASM_QUIC_ERR_EMPTY = -1,          /* zero bytes */
    QASM_QUIC_ERR_TRUNCATED = -2,      /* header ends before its fields do */
    QASM_QUIC_ERR_CID_TOO_LONG = -3,   /* CID length > 20 in a v1/v2 packet */
    QASM_QUIC_ERR_LENGTH = -4,         /* Length runs past the end of the datagram */
    QASM_QUIC_ERR_FIXED_BIT = -5,      /* fixed bit (0x40) is 0 in a v1/v2 packet */
    QASM_QUIC_ERR_SMALL_INITIAL = -6,  /* Initial in a datagram under 1200 bytes (when checked) */
    QASM_QUIC_ERR_TOKEN = -7,          /* Initial token length runs past the datagram */
    QASM_QUIC_ERR_TOO_SHORT = -8,      /* protected part too short to hold a packet number + HP sample */
    QASM_QUIC_ERR_VN_LIST = -9,        /* Version Negotiation list empty or not a multiple of 4 */
    QASM_QUIC_ERR_RETRY_TAG = -10,     /* Retry shorter than its 16-byte integrity tag */
    QASM_QUIC_ERR_DCID_LEN_ARG = -11,  /* caller's short-header DCID length > 20 */
    QASM_QUIC_ERR_COALESCED_DCID = -12 /* coalesced packet with a different DCID (RFC 9000 §12.2) */
};

/* Flags for qasm_quic_parse / qasm_quic_iter_init. */
#define QASM_QUIC_F_CHECK_INITIAL_SIZE 0x1u /* a datagram with an Initial must be >= 1200 bytes */
/*
 * Accept a cleared fixed bit in v1/v2 and short headers (hd->fixed_bit
 * tells). Peers that both sent grease_quic_bit (RFC 9287; ngtcp2 does by
 * default) clear it at random after the handshake, and an on-path
 * middlebox cannot see that they negotiated it: it must pass this flag.
 */
#define QASM_QUIC_F_GREASE_OK 0x2u

struct qasm_quic_hdr {
    uint8_t first;            /* first byte, still header-protected in its low bits */
    uint8_t is_long;          /* long header form (0x80) */
    uint8_t is_grease;        /* version matches the 0x?a?a?a?a reserved pattern */
    uint8_t fixed_bit;        /* value of 0x40 */
    enum qasm_quic_type type;
    uint32_t version;         /* 0 for Version Negotiation and short headers */
    struct qasm_cid dcid;
    struct qasm_cid scid;     /* long headers only */
    /* Unknown versions may carry CIDs up to 255 bytes: lengths kept here, dcid/scid hold the first 20. */
    uint8_t dcid_len_wire;
    uint8_t scid_len_wire;
    const uint8_t *token;     /* Initial: token (may be NULL/0); Retry: retry token */
    size_t token_len;
    uint64_t length;          /* Length field (Initial/0-RTT/Handshake), else 0 */
    size_t pn_offset;         /* where the protected part starts (the packet number) */
    size_t pkt_len;           /* bytes of this packet in the datagram */
    const uint8_t *versions;  /* Version Negotiation: supported versions, 4 bytes each */
    size_t nversions;
};

/*
 * qasm_quic_parse parses the packet at the start of |data| (|len| bytes to
 * the end of the datagram). |short_dcid_len| is the DCID length to assume
 * for a short header (0..20). Fills |hd| and returns the packet's length
 * in bytes (hd->pkt_len), or a QASM_QUIC_ERR_* code. Flags:
 * QASM_QUIC_F_CHECK_INITIAL_SIZE (against |len|), QASM_QUIC_F_GREASE_OK.
 */
ssize_t qasm_quic_parse(struct qasm_quic_hdr *hd, const uint8_t *data, size_t len,
                        size_t short_dcid_len, unsigned flags);

/*
 * qasm_quic_dcid extracts only the DCID of the first packet of a datagram,
 * the hot path of a middlebox. Returns 1 for a long header, 0 for a short
 * one, or a QASM_QUIC_ERR_* code. Unknown versions' long DCIDs (> 20)
 * give QASM_QUIC_ERR_CID_TOO_LONG. A cleared fixed bit is an error; see
 * qasm_quic_dcid_flags for QASM_QUIC_F_GREASE_OK.
 */
int qasm_quic_dcid(struct qasm_cid *dcid, const uint8_t *data, size_t len, size_t short_dcid_len);

/* qasm_quic_dcid_flags is qasm_quic_dcid honouring QASM_QUIC_F_GREASE_OK. */
int qasm_quic_dcid_flags(struct qasm_cid *dcid, const uint8_t *data, size_t len,
                         size_t short_dcid_len, unsigned flags);

/* Iterator over the coalesced packets of one datagram. */
struct qasm_quic_iter {
    const uint8_t *data;
    size_t len;
    size_t off;
    size_t short_dcid_len;
    unsigned flags;
    int count;
    struct qasm_cid first_dcid;
};

/* qasm_quic_iter_init prepares |it| for the datagram |data|/|len|. */
void qasm_quic_iter_init(struct qasm_quic_iter *it, const uint8_t *data, size_t len,
                         size_t short_dcid_len, unsigned flags);

/*
 * qasm_quic_iter_next parses the next packet into |hd|. Returns 1 when a
 * packet was parsed, 0 at the end of the datagram, or a QASM_QUIC_ERR_*
 * code (the iteration then stops; packets already returned stay valid).
 */
int qasm_quic_iter_next(struct qasm_quic_iter *it, struct qasm_quic_hdr *hd);

/* qasm_quic_is_grease tells whether |version| is a reserved 0x?a?a?a?a version. */
int qasm_quic_is_grease(uint32_t version);

/* qasm_quic_strerror names an error code, or a type name for qasm_quic_type_name. */
const char *qasm_quic_strerror(int err);
const char *qasm_quic_type_name(enum qasm_quic_type type);

#endif
