/*
 * fuzz_quic_initial: libFuzzer harness for lib/quic_initial (what
 * qasm-agentd runs on every Initial packet its programs hand up, wire
 * bytes). Input: one byte (bit 7: the server's keys; bits 0..4: the DCID
 * length, at most 20), the DCID the keys derive from, then one datagram.
 * Checks the payload bounds and the frame finder on both the decrypted
 * payload and the raw bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quic_initial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qasm_quic_initial_keys k;
    struct qasm_cid dcid;
    uint8_t out[2048];
    uint64_t err;
    int app;

    if (size < 1)
        return 0;
    size_t dl = data[0] & 0x1f;
    if (dl > 20 || size < 1 + dl)
        return 0;
    if (qasm_cid_set(&dcid, data + 1, dl) < 0)
        abort();
    qasm_quic_initial_keys(&k, &dcid, data[0] >> 7);
    data += 1 + dl;
    size -= 1 + dl;
    ssize_t n = qasm_quic_initial_open(&k, data, size, out, sizeof(out), NULL);
    if (n >= 0) {
        if ((size_t)n + 20 > size || (size_t)n > sizeof(out))
            abort();
        qasm_quic_initial_find_close(out, (size_t)n, &err, &app);
    } else if (n != QASM_QUIC_INITIAL_ERR_PARSE && n != QASM_QUIC_INITIAL_ERR_AUTH &&
               n != QASM_QUIC_INITIAL_ERR_SPACE) {
        abort();
    }
    int c = qasm_quic_initial_find_close(data, size, &err, &app);
    if (c < -1 || c > 1 || (c == 1 && app != 0 && app != 1))
        abort();
    return 0;
}
