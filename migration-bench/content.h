/*
 * content.h: the synthetic body served for GET /bytes/N. Byte i of every
 * body is P[i mod 65521] with P[j] = (7*j + j/256) mod 256, so a client can
 * verify any byte range without a copy of the file, and a test can rebuild
 * it in one line of Python:
 *   bytes((7*(i%65521) + (i%65521)//256) % 256 for i in range(N))
 */
#ifndef QASM_H3_CONTENT_H
#define QASM_H3_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#define QASM_CONTENT_PERIOD 65521u

/*
 * qasm_content_at returns a pointer to the content at offset |off| inside a
 * static table; *avail is set to how many bytes can be read from it
 * contiguously (at least 1).
 */
const uint8_t *qasm_content_at(uint64_t off, size_t *avail);

/* qasm_content_check returns 0 when |len| bytes at |p| equal the content at |off|, else -1. */
int qasm_content_check(const uint8_t *p, uint64_t off, size_t len);

#endif
