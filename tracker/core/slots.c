/*
 * slots.c: Redis Cluster key slots and redirections (see slots.h).
 */
#include "slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

uint16_t qasm_slot_crc16(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned qasm_slot_key(const void *key, size_t len)
{
    const char *k = key;
    const char *open = memchr(k, '{', len);
    if (open) {
        size_t start = (size_t)(open - k) + 1;
        const char *close = memchr(k + start, '}', len - start);
        if (close && close > k + start)
            return qasm_slot_crc16(k + start, (size_t)(close - (k + start))) & (QASM_SLOTS - 1);
    }
    return qasm_slot_crc16(k, len) & (QASM_SLOTS - 1);
}

int qasm_slot_redirect(struct qasm_slot_redirect *r, const char *err, size_t len)
{
    size_t off;
    if (len >= 6 && memcmp(err, "MOVED ", 6) == 0) {
        r->kind = QASM_SLOT_MOVED;
        off = 6;
    } else if (len >= 4 && memcmp(err, "ASK ", 4) == 0) {
        r->kind = QASM_SLOT_ASK;
        off = 4;
    } else {
        return -ENOENT;
    }
    uint64_t v;
    int n = qasm_parse_u64_prefix(&v, err + off, len - off, QASM_SLOTS - 1);
    if (n < 0)
        return -EINVAL;
    r->slot = (unsigned)v;
    off += (size_t)n;
    if (off >= len || err[off] != ' ')
        return -EINVAL;
    off++;
    /* host:port, the port after the last colon (IPv6 hosts hold colons). */
    const char *hp = err + off;
    size_t hl = len - off;
    const char *colon = NULL;
    for (size_t i = 0; i < hl; i++)
        if (hp[i] == ':')
            colon = hp + i;
    if (colon == NULL)
        return -EINVAL;
    size_t host_len = (size_t)(colon - hp);
    if (host_len >= 2 && hp[0] == '[' && hp[host_len - 1] == ']') {
        hp++;
        host_len -= 2;
    }
    if (host_len == 0 || host_len > QASM_SLOT_HOSTLEN)
        return -EINVAL;
    for (size_t i = 0; i < host_len; i++)
        if (hp[i] == ' ' || hp[i] == '\0')
            return -EINVAL;
    const char *ps = colon + 1;
    size_t pl = (size_t)(err + len - ps);
    n = qasm_parse_u64_prefix(&v, ps, pl, 65535);
    if (n < 0 || (size_t)n != pl || v == 0)
        return -EINVAL;
    memcpy(r->host, hp, host_len);
    r->host[host_len] = '\0';
    r->port = (int)v;
    return 0;
}

void qasm_slotmap_clear(struct qasm_slotmap *m)
{
    for (unsigned i = 0; i < QASM_SLOTS; i++)
        m->node[i] = QASM_SLOT_NONE;
}

int qasm_slotmap_set(struct qasm_slotmap *m, unsigned first, unsigned last, unsigned node)
{
    if (first > last || last >= QASM_SLOTS || node >= QASM_SLOT_NONE)
        return -EINVAL;
    for (unsigned i = first; i <= last; i++)
        m->node[i] = (uint16_t)node;
    return 0;
}

unsigned qasm_slotmap_get(const struct qasm_slotmap *m, unsigned slot)
{
    return slot < QASM_SLOTS ? m->node[slot] : QASM_SLOT_NONE;
}

int qasm_slotmap_covered(const struct qasm_slotmap *m)
{
    for (unsigned i = 0; i < QASM_SLOTS; i++)
        if (m->node[i] == QASM_SLOT_NONE)
            return 0;
    return 1;
}
