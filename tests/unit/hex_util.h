/* hex_util.h: test vectors written as hex text (RFC 9001's, captures'). */
#ifndef QASM_TEST_HEX_UTIL_H
#define QASM_TEST_HEX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* unhex writes the bytes of the hex text |hex| (pairs of digits) to |out|; returns their count. */
static inline size_t unhex(uint8_t *out, const char *hex)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

#endif
