/*
 * fuzz_ipudp: libFuzzer harness for lib/ipudp. Parses arbitrary bytes as an
 * IP packet; when valid, rewrites it and checks the result parses again
 * with correct checksums and the new addresses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipudp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qasm_ipudp pu, again;
    uint8_t buf[65536];

    if (size > sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    if (qasm_ipudp_parse(&pu, buf, size, 0) < 0)
        return 0;
    if (pu.payload + pu.payload_len > buf + size)
        abort();
    struct qasm_addr s = pu.flow.dst, d = pu.flow.src;
    s.port ^= 0x5555;
    if (qasm_ipudp_rewrite(buf, &pu, &s, &d) < 0)
        abort();
    /* The IPv4 header checksum may have been wrong on input; the UDP one is now right. */
    int rv = qasm_ipudp_parse(&again, buf, size, QASM_IPUDP_F_VERIFY_CSUM);
    if (rv < 0 && rv != QASM_IPUDP_ERR_CHECKSUM)
        abort();
    if (!qasm_addr_eq(&again.flow.src, &s) || again.payload_len != pu.payload_len)
        abort();
    return 0;
}
