/*
 * cid.h: QUIC connection IDs (RFC 9000 §5.1): 0 to 20 bytes in v1/v2.
 * A qasm_cid is a value type; compare with qasm_cid_eq, print as hex.
 */
#ifndef QASM_CID_H
#define QASM_CID_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define QASM_CID_MAXLEN 20
/* Hex text of the longest CID plus NUL. */
#define QASM_CID_HEXLEN (2 * QASM_CID_MAXLEN + 1)

struct qasm_cid {
    uint8_t len;
    uint8_t data[QASM_CID_MAXLEN];
};

/* qasm_cid_set copies |len| (<= 20) bytes into |cid|; returns 0 or -EINVAL. */
int qasm_cid_set(struct qasm_cid *cid, const uint8_t *data, size_t len);

static inline int qasm_cid_eq(const struct qasm_cid *a, const struct qasm_cid *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* qasm_cid_hex writes |cid| as lowercase hex into |buf| (>= QASM_CID_HEXLEN); returns buf. */
char *qasm_cid_hex(char *buf, const struct qasm_cid *cid);

/*
 * qasm_cid_parse reads hex text (even length, at most 40 digits, an
 * optional "0x" prefix) into |cid|. Returns 0, or -EINVAL.
 */
int qasm_cid_parse(struct qasm_cid *cid, const char *hex);

/*
 * qasm_cid_parse_len reads exactly |n| hex digits at |hex| (no prefix, not
 * NUL-terminated: a field inside a larger text) into |cid|. Returns 0, or
 * -EINVAL (odd count, more than 40 digits, a non-hex character).
 */
int qasm_cid_parse_len(struct qasm_cid *cid, const char *hex, size_t n);

/* qasm_cid_hash hashes the CID bytes and length with |seed|. */
uint64_t qasm_cid_hash(const struct qasm_cid *cid, uint64_t seed);

#endif
