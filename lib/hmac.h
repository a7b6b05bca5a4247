/*
 * hmac.h: HMAC-SHA-256 (RFC 2104) for the tracker protocol's report
 * authentication (docs/PROTOCOL.md, "Authentication"), computed by GNU
 * Nettle, the hash library under gnutls: every ngtcp2 client the agent is
 * preloaded into already has it loaded. Pure computation: no allocation,
 * no I/O, no globals.
 */
#ifndef QASM_HMAC_H
#define QASM_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define QASM_SHA256_LEN 32

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
