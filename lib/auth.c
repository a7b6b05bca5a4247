#include "auth.h"

#include <errno.h>
#include <string.h>

#include "hmac.h"

/* Domain separation: these inputs never start like a report's MAC input (version byte 2). */
static const char proof_label[] = "qasm-tracker session key proof";

int qasm_auth_key_set(struct qasm_auth_key *k, const void *data, size_t len)
{
    if (len < QASM_AUTH_KEY_MIN || len > QASM_AUTH_KEY_MAX)
        return -EINVAL;
    memset(k, 0, sizeof(*k));
    memcpy(k->bytes, data, len);
    k->len = len;
    return 0;
}

void qasm_auth_proof(const struct qasm_auth_key *k, enum qasm_auth_role role,
                     const uint8_t cn[QASM_PROTO_NONCE_LEN], const uint8_t tn[QASM_PROTO_NONCE_LEN],
                     uint8_t out[QASM_PROTO_PROOF_LEN])
{
    uint8_t in[sizeof(proof_label) + 2 * QASM_PROTO_NONCE_LEN], full[QASM_SHA256_LEN];
    size_t n = sizeof(proof_label) - 1;
    memcpy(in, proof_label, n);
    in[n++] = (uint8_t)role;
    memcpy(in + n, cn, QASM_PROTO_NONCE_LEN);
    n += QASM_PROTO_NONCE_LEN;
    memcpy(in + n, tn, QASM_PROTO_NONCE_LEN);
    n += QASM_PROTO_NONCE_LEN;
    qasm_hmac_sha256(k->bytes, k->len, in, n, full);
    memcpy(out, full, QASM_PROTO_PROOF_LEN);
}

int qasm_auth_proof_ok(const struct qasm_auth_key *k, enum qasm_auth_role role,
                       const uint8_t cn[QASM_PROTO_NONCE_LEN],
                       const uint8_t tn[QASM_PROTO_NONCE_LEN],
                       const uint8_t proof[QASM_PROTO_PROOF_LEN])
{
    uint8_t want[QASM_PROTO_PROOF_LEN];
    if (k->len == 0)
        return 0;
    qasm_auth_proof(k, role, cn, tn, want);
    return qasm_memeq_ct(want, proof, sizeof(want));
}

static int report_key_mac(const struct qasm_auth_key *k, uint8_t type,
                          const struct qasm_proto_report *r, uint8_t out[QASM_PROTO_MAC_LEN])
{
    uint8_t in[QASM_PROTO_MAX_MSG + QASM_PROTO_MAC_LEN], full[QASM_SHA256_LEN];
    ssize_t n = qasm_proto_report_auth_input(in, QASM_PROTO_MAX_MSG, type, r);
    if (n < 0)
        return -EINVAL;
    memcpy(in + n, r->mac, QASM_PROTO_MAC_LEN);
    qasm_hmac_sha256(k->bytes, k->len, in, (size_t)n + QASM_PROTO_MAC_LEN, full);
    memcpy(out, full, QASM_PROTO_MAC_LEN);
    return 0;
}

int qasm_auth_report_sign(const struct qasm_auth_key *k, uint8_t type,
                          struct qasm_proto_report *r)
{
    if (k->len == 0 || report_key_mac(k, type, r, r->key_mac) < 0)
        return -EINVAL;
    r->key_mac_len = QASM_PROTO_MAC_LEN;
    return 0;
}

int qasm_auth_report_check(const struct qasm_auth_key *k, uint8_t type,
                           const struct qasm_proto_report *r)
{
    uint8_t want[QASM_PROTO_MAC_LEN];
    if (r->key_mac_len == 0)
        return QASM_AUTH_NONE;
    if (k->len == 0 || r->key_mac_len != QASM_PROTO_MAC_LEN ||
        report_key_mac(k, type, r, want) < 0)
        return QASM_AUTH_FORGED;
    return qasm_memeq_ct(want, r->key_mac, sizeof(want)) ? QASM_AUTH_VALID : QASM_AUTH_FORGED;
}
