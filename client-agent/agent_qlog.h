/*
 * agent_qlog.h: finds NEW_CONNECTION_ID frames in the qlog JSON text that
 * ngtcp2 0.12.1 writes (lib/ngtcp2_qlog.c, write_new_connection_id_frame):
 *   {"frame_type":"new_connection_id","sequence_number":N,"retire_prior_to":N,
 *    "connection_id_length":N,"connection_id":"HEX",...}
 * ngtcp2 has no other way to tell a client which spare CIDs the server
 * issued (see docs/CLIENT-AGENT.md). Pure: scans a caller's buffer.
 */
#ifndef QASM_AGENT_QLOG_H
#define QASM_AGENT_QLOG_H

#include <stddef.h>
#include <stdint.h>

#include "cid.h"

struct qasm_agent_newcid {
    uint64_t seq;
    uint64_t retire_prior_to;
    struct qasm_cid cid;
};

/*
 * qasm_agent_qlog_scan looks for new_connection_id frames in |data| (|len|
 * bytes, not NUL-terminated) and stores up to |max| of them in |out|.
 * Returns how many were found (and stored); malformed frames are skipped.
 */
size_t qasm_agent_qlog_scan(const void *data, size_t len, struct qasm_agent_newcid *out,
                            size_t max);

#endif
