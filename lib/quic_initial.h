/*
 * quic_initial.h: QUIC v1 Initial packet protection (RFC 9001 §5.2-5.4).
 * Initial packets are encrypted with keys anyone can derive from the DCID
 * of the client's first Initial (or the SCID of a Retry): an observer that
 * saw that DCID can read them. The eBPF client agent uses it to see a
 * CONNECTION_CLOSE sent in an Initial packet (a handshake refused or
 * abandoned); tests use the sealing side to build real Initial packets.
 * Pure: no I/O, no clock, no allocation (nettle for HKDF, AES, GCM).
 */
#ifndef QASM_QUIC_INITIAL_H
#define QASM_QUIC_INITIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cid.h"

#define QASM_QUIC_INITIAL_TAG 16

/* The key, IV and header-protection key of one direction. */
struct qasm_quic_initial_keys {
    uint8_t key[16];
    uint8_t iv[12];
    uint8_t hp[16];
};

enum {
    QASM_QUIC_INITIAL_ERR_PARSE = -1,   /* not a v1 Initial, or truncated */
    QASM_QUIC_INITIAL_ERR_AUTH = -2,    /* the AEAD tag did not verify (other keys) */
    QASM_QUIC_INITIAL_ERR_SPACE = -3,   /* the output buffer is too small */
};

/*
 * qasm_quic_initial_keys derives the Initial keys from |dcid| (the DCID of
 * the client's first Initial, or a Retry's SCID): the client's (|server|
 * 0) or the server's (|server| 1).
 */
void qasm_quic_initial_keys(struct qasm_quic_initial_keys *k, const struct qasm_cid *dcid,
                            int server);

/*
 * qasm_quic_initial_open decrypts the v1 Initial packet at the start of
 * |pkt| (|len| bytes to the end of the datagram) with |k| into |out|
 * (|cap| bytes; the payload is at most len - 20 bytes). Returns the
 * payload length, or a QASM_QUIC_INITIAL_ERR_* code; |pn| gets the packet
 * number (truncated as on the wire) when not NULL. |pkt| is not modified.
 */
ssize_t qasm_quic_initial_open(const struct qasm_quic_initial_keys *k, const uint8_t *pkt,
                               size_t len, uint8_t *out, size_t cap, uint32_t *pn);

/*
 * qasm_quic_initial_seal builds a v1 Initial packet (no token, 4-byte
 * packet number |pn|) from |dcid|, |scid| and |payload| (at least 4 bytes,
 * for the header-protection sample) into |out|. Returns its length, or a
 * QASM_QUIC_INITIAL_ERR_* code.
 */
ssize_t qasm_quic_initial_seal(const struct qasm_quic_initial_keys *k, const struct qasm_cid *dcid,
                               const struct qasm_cid *scid, uint32_t pn, const uint8_t *payload,
                               size_t plen, uint8_t *out, size_t cap);

/*
 * qasm_quic_initial_find_close looks for a CONNECTION_CLOSE frame (0x1c,
 * transport, or 0x1d, application) in the decrypted payload |p|, after
 * any PADDING, PING, ACK and CRYPTO frames (the frames of an Initial, and
 * what a closing packet usually starts with). Returns 1 and sets |error|
 * (the error code) and |app| (1 for 0x1d), 0 when the frames run out or
 * another frame type comes first, or -1 for a malformed frame.
 */
int qasm_quic_initial_find_close(const uint8_t *p, size_t len, uint64_t *error, int *app);

#endif
