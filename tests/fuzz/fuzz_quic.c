/*
 * fuzz_quic: libFuzzer harness for lib/quic. The first input byte picks the
 * short-header DCID length (0..21, 21 exercises the argument check); the
 * rest is one datagram. Checks invariants, not just absence of crashes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "quic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qasm_quic_hdr hd;
    struct qasm_quic_iter it;
    struct qasm_cid dcid;
    size_t total = 0;
    int rv;

    if (size < 1)
        return 0;
    size_t dlen = data[0] % 22;
    data++;
    size--;

    unsigned grease = dlen & 1 ? QASM_QUIC_F_GREASE_OK : 0;
    ssize_t n = qasm_quic_parse(&hd, data, size, dlen, QASM_QUIC_F_CHECK_INITIAL_SIZE | grease);
    if (n >= 0 && ((size_t)n > size || hd.pkt_len != (size_t)n || hd.dcid.len > QASM_CID_MAXLEN))
        abort();
    int d = qasm_quic_dcid_flags(&dcid, data, size, dlen, grease);
    /* The fast path and the full parser agree on the DCID of valid v1/v2 packets. */
    if (n >= 0 && d >= 0 && hd.type != QASM_QUIC_UNKNOWN_VERSION &&
        hd.type != QASM_QUIC_VERSION_NEGOTIATION && !qasm_cid_eq(&dcid, &hd.dcid))
        abort();

    qasm_quic_iter_init(&it, data, size, dlen, grease);
    while ((rv = qasm_quic_iter_next(&it, &hd)) == 1) {
        total += hd.pkt_len;
        if (total > size || hd.pn_offset > hd.pkt_len)
            abort();
    }
    return 0;
}
