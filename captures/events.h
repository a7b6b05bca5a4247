/*
 * events.h: agent reports read from a JSON-lines file (qasm-replay
 * --tracker-events), for captures that do not hold the agents' datagrams.
 * One object per line, blank lines and lines starting with '#' ignored:
 *
 *   {"t_ns": 1700000000123456789, "type": "dcid_new", "odcid": "c0ffee...",
 *    "client0": "127.0.0.1:50000", "client": "127.0.0.2:50001", "seq": 3,
 *    "dcid": "aabb...", "cid_seq": 1}
 *
 * Parsed by jansson (a key given twice is refused). t_ns (integer ns,
 * capture clock) or t (seconds, may be fractional); type
 * one of open, dcid_new, dcid_retire, addr, close; odcid, client0 required;
 * client defaults to client0; seq defaults to the line number; open takes
 * scid and server; dcid_new / dcid_retire take dcid and cid_seq. The
 * events are sorted by time (stable) after loading.
 */
#ifndef QASM_EVENTS_H
#define QASM_EVENTS_H

#include <stddef.h>

#include "clock.h"
#include "proto.h"

struct qasm_events;

/*
 * qasm_events_parse_line parses one line into |m| (a REPORT_* message) and
 * |t|. Returns 1 for an event, 0 for a blank or comment line, or -EINVAL
 * with a reason in |err| (|errlen| bytes).
 */
int qasm_events_parse_line(const char *line, qasm_tstamp *t, struct qasm_proto_msg *m, char *err,
                           size_t errlen);

/*
 * qasm_events_load reads the file |path|. Returns 0, or a negative errno
 * with a one-line reason (file and line) in |err|.
 */
int qasm_events_load(struct qasm_events **pe, const char *path, char *err, size_t errlen);

/* qasm_events_get returns event |i| in time order: 0, or -ENOENT past the end. */
int qasm_events_get(const struct qasm_events *e, size_t i, qasm_tstamp *t,
                    const struct qasm_proto_msg **m);

/* qasm_events_del frees |e|. NULL is fine. */
void qasm_events_del(struct qasm_events *e);

#endif
