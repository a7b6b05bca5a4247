#include "hash.h"

#include <string.h>

/* Multiply-mix over 8-byte words; tail bytes folded into one last word. */
uint64_t qasm_hash(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    uint64_t w;

    while (len >= 8) {
        memcpy(&w, p, 8);
        h = qasm_hash_mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
        p += 8;
        len -= 8;
    }
    w = 0;
    memcpy(&w, p, len);
    return qasm_hash_mix(h ^ w ^ ((uint64_t)len << 56));
}
