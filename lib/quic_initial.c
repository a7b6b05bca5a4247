/*
 * quic_initial.c: QUIC v1 Initial packet protection (see quic_initial.h).
 * RFC 9001 §5.2 (keys from the DCID), §5.3 (AEAD_AES_128_GCM), §5.4
 * (header protection with AES-128-ECB on a 16-byte sample).
 */
#include "quic_initial.h"

#include <string.h>

#include <nettle/aes.h>
#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "bytes.h"
#include "quic.h"

/* RFC 9001 §5.2: initial_salt of QUIC version 1. */
static const uint8_t SALT_V1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};

/* HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, SHA-256. */
static void expand_label(const uint8_t secret[SHA256_DIGEST_SIZE], const char *label, uint8_t *out,
                         size_t len)
{
    struct hmac_sha256_ctx h;
    uint8_t info[64];
    size_t ll = strlen(label), n = 0;

    info[n++] = (uint8_t)(len >> 8);
    info[n++] = (uint8_t)len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6), n += 6;
    memcpy(info + n, label, ll), n += ll;
    info[n++] = 0; /* empty context */
    hmac_sha256_set_key(&h, SHA256_DIGEST_SIZE, secret);
    hkdf_expand(&h, (nettle_hash_update_func *)hmac_sha256_update,
                (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE, n, info, len,
                out);
}

void qasm_quic_initial_keys(struct qasm_quic_initial_keys *k, const struct qasm_cid *dcid,
                            int server)
{
    struct hmac_sha256_ctx h;
    uint8_t prk[SHA256_DIGEST_SIZE], secret[SHA256_DIGEST_SIZE];

    hmac_sha256_set_key(&h, sizeof(SALT_V1), SALT_V1);
    hkdf_extract(&h, (nettle_hash_update_func *)hmac_sha256_update,
                 (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE, dcid->len,
                 dcid->data, prk);
    expand_label(prk, server ? "server in" : "client in", secret, sizeof(secret));
    expand_label(secret, "quic key", k->key, sizeof(k->key));
    expand_label(secret, "quic iv", k->iv, sizeof(k->iv));
    expand_label(secret, "quic hp", k->hp, sizeof(k->hp));
}

/* The header-protection mask for the sample at |sample|. */
static void hp_mask(const struct qasm_quic_initial_keys *k, const uint8_t *sample, uint8_t mask[16])
{
    struct aes128_ctx a;

    aes128_set_encrypt_key(&a, k->hp);
    aes128_encrypt(&a, AES_BLOCK_SIZE, mask, sample);
}

static void nonce_of(const struct qasm_quic_initial_keys *k, uint32_t pn, uint8_t nonce[12])
{
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 4; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
}

ssize_t qasm_quic_initial_open(const struct qasm_quic_initial_keys *k, const uint8_t *pkt,
                               size_t len, uint8_t *out, size_t cap, uint32_t *pn)
{
    struct qasm_quic_hdr hd;
    struct gcm_aes128_ctx g;
    uint8_t hdr[96], mask[16], nonce[12], tag[QASM_QUIC_INITIAL_TAG];
    ssize_t n = qasm_quic_parse(&hd, pkt, len, 0, QASM_QUIC_F_GREASE_OK);
    size_t pnl, off, clen;
    uint32_t v = 0;

    if (n < 0 || hd.type != QASM_QUIC_INITIAL || hd.version != 1 ||
        hd.pn_offset + 4 + 16 > (size_t)n || hd.pn_offset + 4 > sizeof(hdr))
        return QASM_QUIC_INITIAL_ERR_PARSE;
    hp_mask(k, pkt + hd.pn_offset + 4, mask);
    memcpy(hdr, pkt, hd.pn_offset + 4);
    hdr[0] ^= mask[0] & 0x0f;
    pnl = (size_t)(hdr[0] & 3) + 1;
    for (size_t i = 0; i < pnl; i++) {
        hdr[hd.pn_offset + i] ^= mask[1 + i];
        v = v << 8 | hdr[hd.pn_offset + i];
    }
    off = hd.pn_offset + pnl;
    if ((size_t)n < off + QASM_QUIC_INITIAL_TAG)
        return QASM_QUIC_INITIAL_ERR_PARSE;
    clen = (size_t)n - off - QASM_QUIC_INITIAL_TAG;
    if (clen > cap)
        return QASM_QUIC_INITIAL_ERR_SPACE;
    nonce_of(k, v, nonce);
    gcm_aes128_set_key(&g, k->key);
    gcm_aes128_set_iv(&g, sizeof(nonce), nonce);
    gcm_aes128_update(&g, off, hdr);
    gcm_aes128_decrypt(&g, clen, out, pkt + off);
    gcm_aes128_digest(&g, sizeof(tag), tag);
    if (!memeql_sec(tag, pkt + off + clen, sizeof(tag)))
        return QASM_QUIC_INITIAL_ERR_AUTH;
    if (pn)
        *pn = v;
    return (ssize_t)clen;
}

ssize_t qasm_quic_initial_seal(const struct qasm_quic_initial_keys *k, const struct qasm_cid *dcid,
                               const struct qasm_cid *scid, uint32_t pn, const uint8_t *payload,
                               size_t plen, uint8_t *out, size_t cap)
{
    struct gcm_aes128_ctx g;
    uint8_t nonce[12], mask[16];
    size_t rest = 4 + plen + QASM_QUIC_INITIAL_TAG, n = 0, pno;

    if (plen < 4 || rest >= 16384 || 7 + dcid->len + scid->len + 1 + 2 + rest > cap)
        return plen < 4 || rest >= 16384 ? QASM_QUIC_INITIAL_ERR_PARSE : QASM_QUIC_INITIAL_ERR_SPACE;
    out[n++] = 0xc3; /* long header, fixed bit, Initial, 4-byte packet number */
    qasm_put32(out + n, 1), n += 4;
    out[n++] = dcid->len;
    memcpy(out + n, dcid->data, dcid->len), n += dcid->len;
    out[n++] = scid->len;
    memcpy(out + n, scid->data, scid->len), n += scid->len;
    out[n++] = 0; /* no token */
    out[n++] = (uint8_t)(0x40 | (rest >> 8)); /* Length, 2-byte varint */
    out[n++] = (uint8_t)rest;
    pno = n;
    qasm_put32(out + n, pn), n += 4;
    nonce_of(k, pn, nonce);
    gcm_aes128_set_key(&g, k->key);
    gcm_aes128_set_iv(&g, sizeof(nonce), nonce);
    gcm_aes128_update(&g, n, out);
    gcm_aes128_encrypt(&g, plen, out + n, payload);
    gcm_aes128_digest(&g, QASM_QUIC_INITIAL_TAG, out + n + plen);
    hp_mask(k, out + pno + 4, mask);
    out[0] ^= mask[0] & 0x0f;
    for (size_t i = 0; i < 4; i++)
        out[pno + i] ^= mask[1 + i];
    return (ssize_t)(n + plen + QASM_QUIC_INITIAL_TAG);
}

/* Skips the varints of an ACK frame (RFC 9000 §19.3) after its type; 0 if malformed. */
static size_t skip_ack(const uint8_t *p, size_t len, int ecn)
{
    uint64_t v, ranges;
    size_t o = 0, m;

    for (int i = 0; i < 3; i++) { /* largest, delay, range count */
        if ((m = qasm_varint_get(&v, p + o, len - o)) == 0)
            return 0;
        o += m;
        ranges = v;
    }
    if (ranges > len) /* each range takes at least 2 bytes */
        return 0;
    for (uint64_t i = 0; i < 2 * ranges + 1 + (ecn ? 3 : 0); i++) {
        if ((m = qasm_varint_get(&v, p + o, len - o)) == 0)
            return 0;
        o += m;
    }
    return o;
}

int qasm_quic_initial_find_close(const uint8_t *p, size_t len, uint64_t *error, int *app)
{
    size_t o = 0, m;
    uint64_t v, off, n;

    while (o < len) {
        uint8_t t = p[o++];
        if (t == 0x00 || t == 0x01) /* PADDING, PING */
            continue;
        if (t == 0x02 || t == 0x03) {
            if ((m = skip_ack(p + o, len - o, t == 0x03)) == 0)
                return -1;
            o += m;
        } else if (t == 0x06) { /* CRYPTO: offset, length, data */
            if ((m = qasm_varint_get(&off, p + o, len - o)) == 0)
                return -1;
            o += m;
            if ((m = qasm_varint_get(&n, p + o, len - o)) == 0 || n > len - o - m)
                return -1;
            o += m + (size_t)n;
        } else if (t == 0x1c || t == 0x1d) {
            if (qasm_varint_get(&v, p + o, len - o) == 0)
                return -1;
            *error = v;
            *app = t == 0x1d;
            return 1;
        } else {
            return 0;
        }
    }
    return 0;
}
