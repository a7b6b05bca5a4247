/*
 * auth.h: the key shared by the tracker and those it serves (qasm-tracker
 * --key, docs/PROTOCOL.md "Session authentication" and "Key MAC"). Pure
 * computation over a key already loaded (lib/keyfile.h reads it):
 *
 *  - the mutual challenge-response of a TCP session: the client sends a
 *    nonce (HELLO), the tracker answers with its nonce and its proof
 *    (CHALLENGE), the client checks that proof and sends its own (AUTH).
 *    proof = first 16 bytes of HMAC-SHA-256(key, label || role || client
 *    nonce || tracker nonce), role 'T' (tracker) or 'C' (client), so a proof
 *    of one side never passes for the other's (no reflection);
 *  - the key MAC of an agent report: first 16 bytes of
 *    HMAC-SHA-256(key, connection MAC input || connection MAC).
 *
 * No allocation, no I/O, no globals; nonces come from the caller.
 */
#ifndef QASM_AUTH_H
#define QASM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* A key holds 16..256 bytes (a shorter one is guessable; a longer one is a mistake). */
#define QASM_AUTH_KEY_MIN 16
#define QASM_AUTH_KEY_MAX 256

struct qasm_auth_key {
    size_t len; /* 0: no key */
    uint8_t bytes[QASM_AUTH_KEY_MAX];
};

/* Who proves: the tracker (in CHALLENGE) or its client (in AUTH). */
enum qasm_auth_role { QASM_AUTH_TRACKER = 'T', QASM_AUTH_CLIENT = 'C' };

/* qasm_auth_key_set copies |len| bytes into |k|. Returns 0, or -EINVAL outside 16..256. */
int qasm_auth_key_set(struct qasm_auth_key *k, const void *data, size_t len);

/*
 * qasm_auth_proof writes the proof of |role| for the nonces |cn| (client's,
 * from HELLO) and |tn| (tracker's, from CHALLENGE) to |out|.
 */
void qasm_auth_proof(const struct qasm_auth_key *k, enum qasm_auth_role role,
                     const uint8_t cn[QASM_PROTO_NONCE_LEN], const uint8_t tn[QASM_PROTO_NONCE_LEN],
                     uint8_t out[QASM_PROTO_PROOF_LEN]);

/* qasm_auth_proof_ok tells (1/0, constant time) whether |proof| is |role|'s proof. */
int qasm_auth_proof_ok(const struct qasm_auth_key *k, enum qasm_auth_role role,
                       const uint8_t cn[QASM_PROTO_NONCE_LEN],
                       const uint8_t tn[QASM_PROTO_NONCE_LEN],
                       const uint8_t proof[QASM_PROTO_PROOF_LEN]);

/*
 * qasm_auth_report_sign sets r->key_mac (and key_mac_len = 16) for report
 * |r| of |type|. Sign after qasm_proto_report_sign (the key MAC covers the
 * connection MAC). Returns 0 or -EINVAL (a report the encoder would refuse).
 */
int qasm_auth_report_sign(const struct qasm_auth_key *k, uint8_t type,
                          struct qasm_proto_report *r);

/* Results of qasm_auth_report_check. */
enum { QASM_AUTH_NONE = 0, QASM_AUTH_VALID = 1, QASM_AUTH_FORGED = -1 };

/*
 * qasm_auth_report_check tells whether |r| carries a key MAC that verifies
 * under |k|: QASM_AUTH_VALID, QASM_AUTH_NONE (no key MAC), or
 * QASM_AUTH_FORGED (one that does not verify).
 */
int qasm_auth_report_check(const struct qasm_auth_key *k, uint8_t type,
                           const struct qasm_proto_report *r);

#endif
