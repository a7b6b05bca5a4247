/*
 * hash.h: a seeded 64-bit hash for table keys (CIDs, 5-tuples). The seed
 * is chosen at random by each table owner so that an attacker cannot aim
 * keys at one bucket.
 */
#ifndef QASM_HASH_H
#define QASM_HASH_H

#include <stddef.h>
#include <stdint.h>

/* qasm_hash hashes |len| bytes at |data| with |seed|. */
uint64_t qasm_hash(const void *data, size_t len, uint64_t seed);

/* qasm_hash_mix is a strong 64-bit finaliser (for integer keys). */
static inline uint64_t qasm_hash_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
