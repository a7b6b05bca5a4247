/*
 * fuzz_agent: libFuzzer harness for the client agent's parsers of untrusted
 * bytes: the frame walker (decrypted packet payloads, client-agent/
 * agent_frames.c) and the qlog scanner (client-agent/agent_qlog.c). The
 * first byte picks the parser. Checks invariants, not just absence of
 * crashes: every CID found is 1..20 bytes (frames) or 0..20 (qlog), and the
 * output bound is respected.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "client-agent/agent_frames.h"
#include "client-agent/agent_qlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qasm_agent_newcid out[9];
    size_t n;

    if (size < 1)
        return 0;
    out[8].seq = 0xfeedface; /* canary past the bound given */
    if (data[0] & 1) {
        n = qasm_agent_frames_scan(data + 1, size - 1, out, 8);
        for (size_t i = 0; i < n; i++)
            if (out[i].cid.len < 1 || out[i].cid.len > 20)
                abort();
    } else {
        n = qasm_agent_qlog_scan(data + 1, size - 1, out, 8);
        for (size_t i = 0; i < n; i++)
            if (out[i].cid.len > 20)
                abort();
    }
    if (n > 8 || out[8].seq != 0xfeedface)
        abort();
    return 0;
}
