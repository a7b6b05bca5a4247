/*
 * hmac.h: SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), pure
 * computation: no allocation, no I/O, no globals. The tracker protocol
 * authenticates each agent report with a per-connection secret
 * (docs/PROTOCOL.md, "Authentication"); lib/ links no library, so the
 * agent (preloaded into any ngtcp2 client, whatever its TLS stack), the
 * store core, the replay tool and the fuzzers need nothing beyond libc.
 */
#ifndef QASM_HMAC_H
#define QASM_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define QASM_SHA256_LEN 32
#define QASM_SHA256_BLOCK 64

struct qasm_sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t buf[QASM_SHA256_BLOCK];
    size_t nbuf;
};

void qasm_sha256_init(struct qasm_sha256 *ctx);
void qasm_sha256_update(struct qasm_sha256 *ctx, const void *data, size_t len);
void qasm_sha256_final(struct qasm_sha256 *ctx, uint8_t out[QASM_SHA256_LEN]);

/* qasm_hmac_sha256 writes HMAC-SHA-256(key, data) (32 bytes) to |out|. */
void qasm_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                      uint8_t out[QASM_SHA256_LEN]);

/*
 * qasm_memeq_ct compares |n| bytes in time that depends only on |n| (a MAC
 * check must not tell a forger how many leading bytes were right).
 * Returns 1 if equal.
 */
int qasm_memeq_ct(const void *a, const void *b, size_t n);

#endif
