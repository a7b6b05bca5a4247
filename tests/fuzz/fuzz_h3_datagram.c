/*
 * fuzz_h3_datagram: libFuzzer harness for what qasm-h3-server does with a
 * received datagram before any connection state is involved
 * (migration-bench/h3guard.c, as on_datagram in h3server.c calls it): the
 * guard, ngtcp2_pkt_decode_version_cid, the dispatch key, and the stateless
 * answers with lengths derived from the input: Version Negotiation,
 * ngtcp2_accept (conn_accept's first step) and the stateless reset. Also the
 * client's guard. Linked against Debian's libngtcp2, built with assertions:
 * an input that reaches an ngtcp2 assert aborts the run.
 *
 * Input: the first byte picks the server's connection ID length (8..20, as
 * --cid-len allows); the rest is the datagram (possibly empty).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration-bench/h3guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qasm_h3_route r;
    uint8_t out[QASM_H3_VN_MAX];

    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    size_t cid_len = 8 + sel % 13;
    data++;
    size--;
    enum qasm_h3_route_action a = qasm_h3_route(&r, data, size, cid_len);

    /* The client's guard, with its possible CID lengths (0..20). */
    enum qasm_dgram_verdict v = qasm_dgram_guard(data, size, sel % 21);
    if (v >= QASM_DGRAM_VERDICTS || (size == 0) != (v == QASM_DGRAM_EMPTY))
        abort();

    switch (a) {
    case QASM_H3_ROUTE_DROP:
        if (r.why == QASM_H3_DROP_NONE || r.why >= QASM_H3_DROP_REASONS ||
            (size == 0) != (r.why == QASM_H3_DROP_EMPTY))
            abort();
        break;
    case QASM_H3_ROUTE_VN: {
        ngtcp2_ssize n = qasm_h3_write_vn(out, sizeof(out), sel, &r.vc);
        /* Always fits: the answer is never lost to our own buffer. */
        if (n <= 0 || (size_t)n > sizeof(out))
            abort();
        break;
    }
    case QASM_H3_ROUTE_CONN:
        if (size == 0 || r.key.len > QASM_CID_MAXLEN || r.vc.dcidlen != r.key.len ||
            r.vc.dcid < data || r.vc.dcid + r.vc.dcidlen > data + size)
            abort();
        if (r.long_hdr) {
            ngtcp2_pkt_hd hd;
            (void)ngtcp2_accept(&hd, data, size);
        } else {
            uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN] = {0}, rnd[64];
            size_t randlen = qasm_h3_sreset_randlen(size);
            if (randlen > sizeof(rnd) || (randlen && randlen + 1 + sizeof(token) > size))
                abort();
            if (randlen) {
                memset(rnd, 0x5a, randlen);
                ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(out, 128, token, rnd, randlen);
                if (n <= 0 || (size_t)n >= size)
                    abort();
            }
        }
        break;
    default:
        abort();
    }
    return 0;
}
