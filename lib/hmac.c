/*
 * hmac.c: SHA-256 and HMAC-SHA-256 (see hmac.h), written from FIPS 180-4
 * and RFC 2104; checked against the RFC 4231 test vectors in
 * tests/unit/test_proto.c.
 */
#include "hmac.h"

#include <string.h>

#include "bytes.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void block(struct qasm_sha256 *ctx, const uint8_t *p)
{
    uint32_t w[64];
    for (unsigned i = 0; i < 16; i++)
        w[i] = qasm_get32(p + 4 * i);
    for (unsigned i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = ctx->h[0], b = ctx->h[1], c = ctx->h[2], d = ctx->h[3];
    uint32_t e = ctx->h[4], f = ctx->h[5], g = ctx->h[6], h = ctx->h[7];
    for (unsigned i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    ctx->h[0] += a;
    ctx->h[1] += b;
    ctx->h[2] += c;
    ctx->h[3] += d;
    ctx->h[4] += e;
    ctx->h[5] += f;
    ctx->h[6] += g;
    ctx->h[7] += h;
}

void qasm_sha256_init(struct qasm_sha256 *ctx)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(ctx->h, iv, sizeof(iv));
    ctx->total = 0;
    ctx->nbuf = 0;
}

void qasm_sha256_update(struct qasm_sha256 *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    ctx->total += len;
    if (ctx->nbuf) {
        size_t n = QASM_SHA256_BLOCK - ctx->nbuf;
        if (n > len)
            n = len;
        memcpy(ctx->buf + ctx->nbuf, p, n);
        ctx->nbuf += n;
        p += n;
        len -= n;
        if (ctx->nbuf < QASM_SHA256_BLOCK)
            return;
        block(ctx, ctx->buf);
        ctx->nbuf = 0;
    }
    for (; len >= QASM_SHA256_BLOCK; p += QASM_SHA256_BLOCK, len -= QASM_SHA256_BLOCK)
        block(ctx, p);
    if (len) {
        memcpy(ctx->buf, p, len);
        ctx->nbuf = len;
    }
}

void qasm_sha256_final(struct qasm_sha256 *ctx, uint8_t out[QASM_SHA256_LEN])
{
    uint64_t bits = ctx->total * 8;
    uint8_t pad[QASM_SHA256_BLOCK + 8];
    /* 0x80, zeros up to 56 mod 64, then the length in bits. */
    size_t npad = (ctx->nbuf < 56 ? 56 : 120) - ctx->nbuf;
    memset(pad, 0, sizeof(pad));
    pad[0] = 0x80;
    qasm_put64(pad + npad, bits);
    qasm_sha256_update(ctx, pad, npad + 8);
    for (unsigned i = 0; i < 8; i++)
        qasm_put32(out + 4 * i, ctx->h[i]);
    memset(ctx, 0, sizeof(*ctx));
}

void qasm_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                      uint8_t out[QASM_SHA256_LEN])
{
    uint8_t k[QASM_SHA256_BLOCK], pad[QASM_SHA256_BLOCK], inner[QASM_SHA256_LEN];
    struct qasm_sha256 ctx;
    memset(k, 0, sizeof(k));
    if (keylen > QASM_SHA256_BLOCK) {
        qasm_sha256_init(&ctx);
        qasm_sha256_update(&ctx, key, keylen);
        qasm_sha256_final(&ctx, k);
    } else if (keylen) {
        memcpy(k, key, keylen);
    }
    for (unsigned i = 0; i < sizeof(k); i++)
        pad[i] = k[i] ^ 0x36;
    qasm_sha256_init(&ctx);
    qasm_sha256_update(&ctx, pad, sizeof(pad));
    qasm_sha256_update(&ctx, data, len);
    qasm_sha256_final(&ctx, inner);
    for (unsigned i = 0; i < sizeof(k); i++)
        pad[i] = k[i] ^ 0x5c;
    qasm_sha256_init(&ctx);
    qasm_sha256_update(&ctx, pad, sizeof(pad));
    qasm_sha256_update(&ctx, inner, sizeof(inner));
    qasm_sha256_final(&ctx, out);
    memset(k, 0, sizeof(k));
    memset(pad, 0, sizeof(pad));
}

int qasm_memeq_ct(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}
