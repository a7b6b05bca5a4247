/*
 * agent_frames.h: finds NEW_CONNECTION_ID frames (RFC 9000 §19.15) in the
 * decrypted payload of a QUIC packet. The agent wraps ngtcp2's decrypt
 * callback and hands it the plaintext: this is how it learns the spare CIDs
 * a server issued (ngtcp2 0.12.1 has no API for them) at the cost of a
 * frame walk per received packet. Pure and bounded by the buffer length.
 */
#ifndef QASM_AGENT_FRAMES_H
#define QASM_AGENT_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "agent_qlog.h" /* struct qasm_agent_newcid */

/*
 * qasm_agent_frames_scan walks the frames in |p| (|len| bytes of packet
 * payload) and stores up to |max| NEW_CONNECTION_ID frames in |out|. It stops
 * at the end, at a frame that runs to the end of the packet (STREAM without
 * length, DATAGRAM without length), at an unknown frame type or at a
 * malformed frame. Returns the number stored.
 */
size_t qasm_agent_frames_scan(const uint8_t *p, size_t len, struct qasm_agent_newcid *out,
                              size_t max);

#endif
