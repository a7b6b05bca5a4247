/*
 * bytes.h: big-endian reads and writes on byte buffers, and QUIC
 * variable-length integers (RFC 9000 §16). The only place where wire
 * integers are assembled; callers never cast pointers onto packet bytes.
 */
#ifndef QASM_BYTES_H
#define QASM_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t qasm_get16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t qasm_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t qasm_get64(const uint8_t *p)
{
    return (uint64_t)qasm_get32(p) << 32 | qasm_get32(p + 4);
}

static inline uint8_t *qasm_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *qasm_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static inline uint8_t *qasm_put64(uint8_t *p, uint64_t v)
{
    qasm_put32(p, (uint32_t)(v >> 32));
    return qasm_put32(p + 4, (uint32_t)v);
}

/*
 * qasm_varint_get decodes a QUIC variable-length integer from |p| (|len|
 * bytes available) into |*v|. Returns the number of bytes consumed (1, 2,
 * 4 or 8), or 0 if |len| is too short.
 */
static inline size_t qasm_varint_get(uint64_t *v, const uint8_t *p, size_t len)
{
    if (len == 0)
        return 0;
    size_t n = (size_t)1 << (p[0] >> 6);
    if (len < n)
        return 0;
    uint64_t x = p[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        x = x << 8 | p[i];
    *v = x;
    return n;
}

/* qasm_varint_len returns the encoded size of |v| (v < 2^62). */
static inline size_t qasm_varint_len(uint64_t v)
{
    return v < 64 ? 1 : v < 16384 ? 2 : v < 1073741824 ? 4 : 8;
}

/* qasm_varint_put writes |v| (< 2^62) at |p|; returns the end pointer. */
static inline uint8_t *qasm_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = qasm_varint_len(v);
    static const uint8_t prefix[9] = { 0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0 };
    for (size_t i = n; i-- > 0;) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
    p[0] |= prefix[n];
    return p + n;
}

#endif
