/*
 * agent_report.h: turns the agent core's events (agent_state.h) into the
 * tracker protocol's agent reports (lib/proto.h, REPORT_*). Pure: writes
 * into a caller buffer, one message per event (one UDP datagram each).
 */
#ifndef QASM_AGENT_REPORT_H
#define QASM_AGENT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent_state.h"
#include "auth.h"
#include "proto.h"

/*
 * qasm_agent_report_fill fills |m| with the report for |ev| of connection
 * |c| and numbers it (++c->report_seq). A DCID whose sequence number is not
 * known (silent switches) is reported with seq 0, the number of the
 * handshake CID. Returns 0.
 */
int qasm_agent_report_fill(struct qasm_proto_msg *m, struct qasm_agent_conn *c,
                           const struct qasm_agent_ev *ev);

/*
 * qasm_agent_report_encode is qasm_agent_report_fill, then
 * qasm_proto_report_sign with the connection's secret (c->secret: OPEN and
 * REFRESH carry it, every report its MAC), then, with |key| (the tracker's
 * shared key, QASM_TRACKER_KEY; NULL or empty: none), the key MAC
 * (qasm_auth_report_sign), then qasm_proto_encode into |buf| (|cap| bytes;
 * QASM_PROTO_MAX_MSG always suffices). Returns the message length, or a
 * negative error from qasm_proto_encode.
 */
ssize_t qasm_agent_report_encode(uint8_t *buf, size_t cap, struct qasm_agent_conn *c,
                                 const struct qasm_agent_ev *ev,
                                 const struct qasm_auth_key *key);

/*
 * qasm_agent_report_state fills |pc| with the full state of |c| as carried
 * by REPORT_REFRESH: current DCID first, then other active DCIDs, then
 * spares (the O-DCID is not repeated), at most QASM_PROTO_MAX_DCIDS; the
 * first client address, then the most recent others.
 */
void qasm_agent_report_state(struct qasm_proto_conn *pc, const struct qasm_agent_conn *c);

#endif
